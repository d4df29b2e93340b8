//! Credentials: the headers a reauthentication produced.

use std::fmt;
use std::sync::Arc;

use http::header::{HeaderName, AUTHORIZATION};
use http::{HeaderMap, HeaderValue};

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
