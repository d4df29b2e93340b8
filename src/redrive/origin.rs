//! The origin (scheme, host, port) that credentials belong to, and whether
//! a request may carry them at all.

use std::fmt;

use http::Uri;

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
        Origin {
            scheme: scheme.to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            port,
        }
    }

    /// Whether `uri` has this origin. Allocates nothing.
    pub fn matches(&self, uri: &Uri) -> bool {
        let (scheme, host, port) = parts(uri);
        self.port == port
            && self.scheme.eq_ignore_ascii_case(scheme)
            && self.host.eq_ignore_ascii_case(host)
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
