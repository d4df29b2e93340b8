//! Credentials: the headers a reauthentication produced, the memory that
//! keeps a closure's for later requests (per user, origin and path
//! prefix), and the origins they may go to.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use http::header::{HeaderName, AUTHORIZATION};
use http::{HeaderMap, HeaderValue, Uri};

use super::User;

/// What a reauthentication produced: headers to set on the retried request
/// and on later requests to the same origin (usually one, `Authorization`).
///
/// Values are marked sensitive (HTTP/2 never indexes them) and `Debug` shows
/// header names only, never values.
///
/// ```
/// use tower_gare::redrive::Credentials;
///
/// let creds = Credentials::bearer("s3cret-token").unwrap();
/// assert!(!format!("{creds:?}").contains("s3cret"));
/// assert!(Credentials::bearer("bad\ntoken").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    headers: Arc<[(HeaderName, HeaderValue)]>,
    path_prefix: Option<Arc<str>>,
}

/// A token or header value with bytes that cannot go in an HTTP header
/// (control characters, newlines). The message never shows the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCredentials {
    _private: (),
}

impl fmt::Display for InvalidCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("credentials contain bytes that cannot go in an HTTP header")
    }
}

impl std::error::Error for InvalidCredentials {}

impl Credentials {
    /// `Authorization: Bearer <token>`, marked sensitive.
    ///
    /// ```
    /// use tower_gare::redrive::Credentials;
    ///
    /// let creds = Credentials::bearer("abc").unwrap();
    /// let mut headers = http::HeaderMap::new();
    /// creds.apply_to(&mut headers);
    /// assert_eq!(headers["authorization"], "Bearer abc");
    /// assert!(headers["authorization"].is_sensitive());
    /// ```
    pub fn bearer(token: impl AsRef<str>) -> Result<Credentials, InvalidCredentials> {
        let value = format!("Bearer {}", token.as_ref());
        Credentials::from_headers([(AUTHORIZATION, value.as_str())])
    }

    /// Any headers (a token under another scheme, an API key), each marked
    /// sensitive. They are set on the retry and on every later request to
    /// the same origin, so they must be reusable: a per-request proof (a
    /// DPoP proof is bound to one method and URL) does not belong here.
    ///
    /// ```
    /// use http::header::{HeaderName, AUTHORIZATION};
    /// use tower_gare::redrive::Credentials;
    ///
    /// let creds = Credentials::from_headers([
    ///     (AUTHORIZATION, "Token abc"),
    ///     (HeaderName::from_static("x-api-key"), "k-123"),
    /// ])
    /// .unwrap();
    /// assert_eq!(creds.header_names().count(), 2);
    /// ```
    pub fn from_headers<'a>(
        headers: impl IntoIterator<Item = (HeaderName, &'a str)>,
    ) -> Result<Credentials, InvalidCredentials> {
        let headers = headers
            .into_iter()
            .map(|(name, value)| {
                let mut value = HeaderValue::from_str(value)
                    .map_err(|_| InvalidCredentials { _private: () })?;
                value.set_sensitive(true);
                Ok((name, value))
            })
            .collect::<Result<Arc<[_]>, _>>()?;
        Ok(Credentials {
            headers,
            path_prefix: None,
        })
    }

    /// The same credentials, remembered by the layer only for later
    /// requests whose path starts with `path_prefix` (on the origin they
    /// were obtained for; never another), rather than for the whole origin.
    /// For two resource servers behind one host, as Globus Flows runs each
    /// flow as its own resource server under one host.
    ///
    /// ```
    /// use tower_gare::redrive::Credentials;
    ///
    /// let creds = Credentials::bearer("t").unwrap().for_path_prefix("/flows/1234/");
    /// assert_eq!(creds.path_prefix(), Some("/flows/1234/"));
    /// ```
    pub fn for_path_prefix(mut self, path_prefix: impl AsRef<str>) -> Self {
        self.path_prefix = Some(Arc::from(path_prefix.as_ref()));
        self
    }

    /// The path prefix these credentials are remembered for, if narrowed
    /// with [`for_path_prefix`](Credentials::for_path_prefix).
    pub fn path_prefix(&self) -> Option<&str> {
        self.path_prefix.as_deref()
    }

    /// Sets these headers on `headers`, replacing any of the same name.
    pub fn apply_to(&self, headers: &mut HeaderMap) {
        for (name, value) in self.headers.iter() {
            headers.insert(name.clone(), value.clone());
        }
    }

    /// The names of the headers these credentials set.
    pub fn header_names(&self) -> impl Iterator<Item = &HeaderName> {
        self.headers.iter().map(|(name, _)| name)
    }

    /// The value these credentials set for `name`, if any. For the code that
    /// must hand a token on (a token store); never log it.
    pub fn header_value(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("headers", &self.header_names().collect::<Vec<_>>())
            .field("path_prefix", &self.path_prefix)
            .finish_non_exhaustive()
    }
}
/// The most credentials remembered at once: past it, the oldest go.
pub(crate) const MAX_REMEMBERED: usize = 1024;

struct Remembered {
    user: Option<User>,
    origin: Origin,
    /// The path prefix the credentials are for ("" for the whole origin).
    path_prefix: String,
    /// The requirements they were obtained for.
    requirements: String,
    credentials: Credentials,
    generation: u64,
}

impl Remembered {
    fn serves(&self, user: Option<&User>, uri: &Uri) -> bool {
        self.user.as_ref() == user
            && self.origin.matches(uri)
            && uri.path().starts_with(self.path_prefix.as_str())
    }
}

/// Remembered credentials by host (lowercase), so a request looks only at
/// the few of its own host, and nothing while none are remembered.
#[derive(Default)]
pub(crate) struct Memory {
    any: AtomicBool,
    by_host: RwLock<HashMap<String, Vec<Remembered>>>,
    next_generation: AtomicU64,
}

fn host_of(uri: &Uri) -> std::borrow::Cow<'_, str> {
    let host = uri.host().unwrap_or("");
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        host.to_ascii_lowercase().into()
    } else {
        host.into()
    }
}

impl Memory {
    /// Puts the credentials remembered for `user`'s requests to `uri` on
    /// `headers` (the longest path prefix wins) and returns their generation
    /// (0: none). One atomic load while nothing is remembered.
    pub(crate) fn apply(&self, user: Option<&User>, uri: &Uri, headers: &mut HeaderMap) -> u64 {
        if !self.any.load(Ordering::Acquire) {
            return 0;
        }
        let by_host = self.by_host.read().unwrap_or_else(|p| p.into_inner());
        let best = by_host
            .get(host_of(uri).as_ref())
            .into_iter()
            .flatten()
            .filter(|r| r.serves(user, uri))
            .max_by_key(|r| r.path_prefix.len());
        match best {
            Some(entry) => {
                entry.credentials.apply_to(headers);
                entry.generation
            }
            None => 0,
        }
    }

    /// Credentials for `user`'s requests to `uri`, newer than
    /// `sent_generation` and obtained for the same requirements.
    pub(crate) fn newer(
        &self,
        user: Option<&User>,
        uri: &Uri,
        requirements: &str,
        sent_generation: u64,
    ) -> Option<Credentials> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let by_host = self.by_host.read().unwrap_or_else(|p| p.into_inner());
        by_host
            .get(host_of(uri).as_ref())
            .into_iter()
            .flatten()
            .filter(|r| r.serves(user, uri))
            .max_by_key(|r| r.path_prefix.len())
            .filter(|r| r.generation > sent_generation && r.requirements == requirements)
            .map(|r| r.credentials.clone())
    }

    /// Remembers `credentials` for `user`'s requests to `uri`'s origin under
    /// their path prefix, replacing what was there; the oldest entry goes
    /// when the memory is full.
    pub(crate) fn remember(
        &self,
        user: Option<User>,
        uri: &Uri,
        requirements: String,
        credentials: Credentials,
    ) {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Remembered {
            user,
            origin: Origin::from_uri(uri),
            path_prefix: credentials.path_prefix().unwrap_or("").to_owned(),
            requirements,
            credentials,
            generation,
        };
        let mut by_host = self.by_host.write().unwrap_or_else(|p| p.into_inner());
        let same_host = by_host.entry(host_of(uri).into_owned()).or_default();
        let slot = same_host.iter_mut().find(|r| {
            r.user == entry.user && r.origin == entry.origin && r.path_prefix == entry.path_prefix
        });
        match slot {
            Some(slot) => *slot = entry,
            None => same_host.push(entry),
        }
        let total: usize = by_host.values().map(Vec::len).sum();
        if total > MAX_REMEMBERED {
            evict_oldest(&mut by_host);
        }
        self.any.store(true, Ordering::Release);
    }

    /// Whether any credentials are remembered.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// How many credentials are remembered.
    pub(crate) fn len(&self) -> usize {
        let by_host = self.by_host.read().unwrap_or_else(|p| p.into_inner());
        by_host.values().map(Vec::len).sum()
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        let mut by_host = self.by_host.write().unwrap_or_else(|p| p.into_inner());
        by_host.clear();
        self.any.store(false, Ordering::Release);
    }
}

fn evict_oldest(by_host: &mut HashMap<String, Vec<Remembered>>) {
    let oldest = by_host
        .iter()
        .flat_map(|(host, entries)| entries.iter().map(move |r| (r.generation, host)))
        .min_by_key(|(generation, _)| *generation)
        .map(|(generation, host)| (generation, host.clone()));
    if let Some((generation, host)) = oldest {
        if let Some(entries) = by_host.get_mut(&host) {
            entries.retain(|r| r.generation != generation);
            if entries.is_empty() {
                by_host.remove(&host);
            }
        }
    }
}
/// Scheme, host and port of a request, as RFC 6454 compares them: scheme and
/// host case-insensitively, the port made explicit (`https://a` and
/// `https://a:443` are one origin). Credentials learned for one origin are
/// never sent to another.
///
/// ```
/// use http::Uri;
/// use tower_gare::redrive::Origin;
///
/// let a = Origin::from_uri(&Uri::from_static("https://Transfer.API.globus.org/v0.10/task"));
/// assert_eq!(a.to_string(), "https://transfer.api.globus.org:443");
/// assert!(a.matches(&Uri::from_static("HTTPS://transfer.api.globus.org:443/other")));
/// assert!(!a.matches(&Uri::from_static("http://transfer.api.globus.org/")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
    /// The authority as a URI of this origin most often spells it (`host`
    /// at the scheme's default port, else `host:port`), and with the port
    /// always: what `matches` compares first.
    authorities: [Box<str>; 2],
}

fn default_port(scheme: &str) -> u16 {
    if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        443
    } else if scheme.is_empty() {
        0
    } else {
        80
    }
}

fn parts(uri: &Uri) -> (&str, &str, u16) {
    let scheme = uri.scheme_str().unwrap_or("");
    let host = uri.host().unwrap_or("");
    let port = uri.port_u16().unwrap_or_else(|| default_port(scheme));
    (scheme, host, port)
}

impl Origin {
    /// The origin of `uri`. A relative URI (no scheme, no authority) has the
    /// empty origin, shared by every relative URI: a service that takes them
    /// talks to one server.
    pub fn from_uri(uri: &Uri) -> Origin {
        let (scheme, host, port) = parts(uri);
        let host = host.to_ascii_lowercase();
        let full: Box<str> = format!("{host}:{port}").into();
        let plain = if port == default_port(scheme) {
            host.clone().into()
        } else {
            full.clone()
        };
        Origin {
            scheme: scheme.to_ascii_lowercase(),
            host,
            port,
            authorities: [plain, full],
        }
    }

    /// Whether `uri` has this origin. Allocates nothing.
    pub fn matches(&self, uri: &Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("");
        if !self.scheme.eq_ignore_ascii_case(scheme) {
            return false;
        }
        // Every request asks this (its resource server, its remembered
        // credentials): the common authority, `host` or `host:port`, is
        // split here at once; one with userinfo or an IPv6 literal goes
        // through `http`'s own parser.
        let authority = uri.authority().map_or("", |a| a.as_str());
        if self
            .authorities
            .iter()
            .any(|a| a.eq_ignore_ascii_case(authority))
        {
            return true;
        }
        if authority.contains('@') || authority.starts_with('[') {
            let (_, host, port) = parts(uri);
            return self.port == port && self.host.eq_ignore_ascii_case(host);
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, "")) => (host, default_port(scheme)),
            Some((host, port)) => match port.parse::<u16>() {
                Ok(port) => (host, port),
                Err(_) => return false,
            },
            None => (authority, default_port(scheme)),
        };
        self.port == port && self.host.eq_ignore_ascii_case(host)
    }

    /// The scheme, lowercase (empty for a relative URI).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host, lowercase (empty for a relative URI).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scheme.is_empty() && self.host.is_empty() {
            return f.write_str("(relative)");
        }
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Whether credentials may travel to `uri`: over TLS (any scheme but plain
/// `http`), or to this machine (`localhost`, 127.0.0.0/8, `::1`), where no
/// one on the network reads them. A relative URI has no scheme: the service
/// decides where it goes, as it does for every other header. The one check
/// for the redrive layer's credentials and a `Login`'s attached tokens.
pub(crate) fn may_carry_token(uri: &Uri) -> bool {
    match uri.scheme_str() {
        Some(scheme) if scheme.eq_ignore_ascii_case("http") => {
            let host = uri.host().unwrap_or("");
            let host = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast split of `Origin::matches` agrees with `http`'s parser.
    #[test]
    fn matching_an_origin_agrees_with_the_uri_parser() {
        let uris = [
            "https://api.test/x",
            "https://API.test:443/x",
            "https://api.test:8443/x",
            "http://api.test/x",
            "http://api.test:80/x",
            "http://api.test:/x",
            "https://user@api.test/x",
            "https://user:pw@api.test:443/x",
            "http://[::1]:8080/x",
            "http://[::1]/x",
            "http://127.0.0.1:9/x",
            "wss://api.test/x",
            "/relative",
        ];
        for a in uris {
            let origin = Origin::from_uri(&a.parse().unwrap());
            for b in uris {
                let uri: Uri = b.parse().unwrap();
                let (scheme, host, port) = parts(&uri);
                let slow = origin.port == port
                    && origin.scheme.eq_ignore_ascii_case(scheme)
                    && origin.host.eq_ignore_ascii_case(host);
                assert_eq!(origin.matches(&uri), slow, "{a} against {b}");
            }
        }
    }

    #[test]
    fn tokens_go_over_tls_or_to_loopback_only() {
        for ok in [
            "https://example.org/",
            "HTTPS://example.org/",
            "http://localhost:8080/",
            "http://LocalHost/",
            "http://127.0.0.1:1/",
            "http://127.255.0.9/",
            "http://[::1]:8080/",
            "/relative",
        ] {
            assert!(may_carry_token(&ok.parse().unwrap()), "{ok}");
        }
        for refused in [
            "http://example.org/",
            "HTTP://example.org/",
            "http://10.0.0.1/",
            "http://128.0.0.1/",
            "http://[::2]/",
            "http://localhost.example.org/",
            "http://0.0.0.0/",
        ] {
            assert!(!may_carry_token(&refused.parse().unwrap()), "{refused}");
        }
    }
}
