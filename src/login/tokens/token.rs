//! Tokens, as Globus Auth's token responses give them.

use std::time::{Duration, SystemTime};

use crate::login::Secret;

/// An access token for one resource server. `Debug` never shows the token
/// (it is a [`Secret`]).
///
/// ```
/// use tower_gare::login::Token;
///
/// let token = Token::new("transfer.api.globus.org", "s3cret", "urn:x", None);
/// assert_eq!(token.access_token(), "s3cret");
/// assert!(!format!("{token:?}").contains("s3cret"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The service the token is for (`transfer.api.globus.org`, ...).
    pub resource_server: String,
    /// The scopes granted, space-separated as the server sent them.
    pub scope: String,
    /// When it expires, if the server said.
    pub expires_at: Option<SystemTime>,
    access_token: Secret,
}

/// Tokens are not used in their last 30 seconds: a request made with one
/// must still reach the server before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

impl Token {
    /// A token; `expires_at` `None` means "the server did not say".
    pub fn new(
        resource_server: impl Into<String>,
        access_token: impl Into<String>,
        scope: impl Into<String>,
        expires_at: Option<SystemTime>,
    ) -> Self {
        Token {
            resource_server: resource_server.into(),
            access_token: Secret::new(access_token),
            scope: scope.into(),
            expires_at,
        }
    }

    /// The secret itself. For building credentials; never log it.
    pub fn access_token(&self) -> &str {
        self.access_token.secret()
    }

    /// Whether the token is expired (or will be within 30 seconds) at `now`.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tower_gare::login::Token;
    ///
    /// let now = SystemTime::now();
    /// assert!(Token::new("rs", "t", "s", Some(now + Duration::from_secs(10))).is_expired(now));
    /// assert!(!Token::new("rs", "t", "s", Some(now + Duration::from_secs(3600))).is_expired(now));
    /// assert!(!Token::new("rs", "t", "s", None).is_expired(now));
    /// ```
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now + EXPIRY_MARGIN)
    }

    /// Whether every scope in `scopes` was granted with this token
    /// (compared by name; dependent scopes in brackets are not listed in a
    /// token's `scope`).
    pub fn grants(&self, scopes: &[String]) -> bool {
        scope_names(scopes)
            .iter()
            .all(|name| self.scope.split_whitespace().any(|granted| granted == name))
    }
}

/// The top-level scope names in `scopes` (each entry may hold several, with
/// dependencies in brackets): `["a[b c] d"]` → `["a", "d"]`.
pub(crate) fn scope_names(scopes: &[String]) -> Vec<String> {
    scopes
        .iter()
        .flat_map(|entry| match crate::scopes::parse(entry) {
            Ok(parsed) => parsed
                .into_iter()
                .map(|scope| scope.name)
                .collect::<Vec<_>>(),
            Err(_) => entry.split_whitespace().map(str::to_owned).collect(),
        })
        .collect()
}
