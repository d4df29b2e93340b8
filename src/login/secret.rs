//! The one type a login keeps its secrets in.

use std::fmt;

/// A secret string: a client secret, an authorization code, a PKCE
/// verifier, an access token. `Debug` never shows it and there is no
/// `Display`, so a secret cannot reach a log or a trace by accident; the
/// value is read only through [`secret`](Secret::secret), where it is meant
/// to be used.
///
/// ```
/// use tower_gare::login::Secret;
///
/// let secret = Secret::new("s3cret");
/// assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
/// assert_eq!(secret.secret(), "s3cret");
/// assert_eq!(secret, Secret::from("s3cret"));
/// assert_ne!(secret, Secret::from("s3cre7"));
/// ```
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Keeps `value` as a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself. For sending it where it belongs; never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The value itself, taken out of its wrapper.
    pub fn into_secret(self) -> String {
        self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Compares in time that depends on the lengths only, not on where the
/// values first differ.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
    }
}

impl Eq for Secret {}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}
