//! Tokens, as Globus Auth's token responses give them.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::login::Secret;

/// The tokens one login (or refresh) gave for one resource server, with
/// what the Python SDK's `TokenStorageData` keeps beside them, so a token
/// file is shared with it field for field.
///
/// The access and refresh tokens are [`Secret`]s, read through
/// [`access_token`](Token::access_token) and
/// [`refresh_token`](Token::refresh_token); `Debug` shows neither, and
/// shows only the names of the `extra` fields, whose values a server chose.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_gare::login::Token;
///
/// let in_an_hour = SystemTime::now() + Duration::from_secs(3600);
/// let token = Token::new("transfer.api.globus.org", "s3cret", "urn:x", Some(in_an_hour))
///     .with_refresh_token("r3fresh")
///     .with_identity_id("ae341a98-d274-11e5-b888-dbae3a8ba545");
/// assert_eq!(token.access_token(), "s3cret");
/// assert_eq!(token.refresh_token(), Some("r3fresh"));
/// assert_eq!(token.token_type, "Bearer");
/// let debug = format!("{token:?}");
/// assert!(!debug.contains("s3cret") && !debug.contains("r3fresh"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The service the token is for (`transfer.api.globus.org`, ...).
    pub resource_server: String,
    /// Whom the token acts for: the `sub` of the login's ID token (Globus:
    /// the primary identity's ID), when the login said.
    pub identity_id: Option<String>,
    /// The scopes granted, space-separated as the server sent them.
    pub scope: String,
    /// When the access token expires; `None` means "the server did not say".
    pub expires_at: Option<SystemTime>,
    /// How the access token is presented: `Bearer` unless the server said
    /// otherwise.
    pub token_type: String,
    /// Fields of a token file's entry that are none of the above, kept so
    /// that writing the token back loses nothing (the Python SDK's
    /// `TokenStorageData.extra`).
    pub extra: Map<String, Value>,
    access_token: Secret,
    refresh_token: Option<Secret>,
}

/// Tokens are not used in their last 30 seconds: a request made with one
/// must still reach the server before it expires.
#[cfg(test)]
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

impl Token {
    /// A `Bearer` token with no refresh token, identity or extra fields;
    /// `expires_at` `None` means "the server did not say".
    ///
    /// ```
    /// use tower_gare::login::Token;
    ///
    /// let token = Token::new("groups.api.globus.org", "t", "urn:g", None);
    /// assert_eq!((token.resource_server.as_str(), token.scope.as_str()), ("groups.api.globus.org", "urn:g"));
    /// assert!(token.refresh_token().is_none() && token.identity_id.is_none() && token.extra.is_empty());
    /// ```
    pub fn new(
        resource_server: impl Into<String>,
        access_token: impl Into<String>,
        scope: impl Into<String>,
        expires_at: Option<SystemTime>,
    ) -> Self {
        Token {
            resource_server: resource_server.into(),
            identity_id: None,
            scope: scope.into(),
            expires_at,
            token_type: "Bearer".to_owned(),
            extra: Map::new(),
            access_token: Secret::new(access_token),
            refresh_token: None,
        }
    }

    /// The same token with a refresh token.
    ///
    /// ```
    /// use tower_gare::login::Token;
    ///
    /// let token = Token::new("rs", "t", "s", None).with_refresh_token("r");
    /// assert_eq!(token.refresh_token(), Some("r"));
    /// ```
    #[must_use]
    pub fn with_refresh_token(mut self, refresh_token: impl Into<Secret>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }

    /// The same token, acting for the identity `identity_id`.
    ///
    /// ```
    /// use tower_gare::login::Token;
    ///
    /// let token = Token::new("rs", "t", "s", None).with_identity_id("id-1");
    /// assert_eq!(token.identity_id.as_deref(), Some("id-1"));
    /// ```
    #[must_use]
    pub fn with_identity_id(mut self, identity_id: impl Into<String>) -> Self {
        self.identity_id = Some(identity_id.into());
        self
    }

    /// The same token, of another type than `Bearer`.
    ///
    /// ```
    /// use tower_gare::login::Token;
    ///
    /// let token = Token::new("rs", "t", "s", None).with_token_type("DPoP");
    /// assert_eq!(token.token_type, "DPoP");
    /// ```
    #[must_use]
    pub fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = token_type.into();
        self
    }

    /// The same token, with `extra` fields kept beside it.
    ///
    /// ```
    /// use serde_json::json;
    /// use tower_gare::login::Token;
    ///
    /// let extra = json!({"issued_by": "tower-gare"}).as_object().unwrap().clone();
    /// let token = Token::new("rs", "t", "s", None).with_extra(extra);
    /// assert_eq!(token.extra["issued_by"], "tower-gare");
    /// ```
    #[must_use]
    pub fn with_extra(mut self, extra: Map<String, Value>) -> Self {
        self.extra = extra;
        self
    }

    /// The access token itself. For building credentials; never log it.
    ///
    /// ```
    /// use tower_gare::login::Token;
    ///
    /// assert_eq!(Token::new("rs", "t", "s", None).access_token(), "t");
    /// ```
    pub fn access_token(&self) -> &str {
        self.access_token.secret()
    }

    /// The refresh token itself, if the login asked for one. For a refresh;
    /// never log it.
    ///
    /// ```
    /// use tower_gare::login::Token;
    ///
    /// assert_eq!(Token::new("rs", "t", "s", None).refresh_token(), None);
    /// ```
    pub fn refresh_token(&self) -> Option<&str> {
        self.refresh_token.as_ref().map(Secret::secret)
    }

    /// Whether the token is expired (or will be within 30 seconds) at
    /// `now`: what the wire's tests ask of a parsed lifetime.
    #[cfg(test)]
    pub(crate) fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_within(now, EXPIRY_MARGIN)
    }

    /// Whether the token expires at or before `now + margin`: time to
    /// refresh it, when `margin` is how early refreshes happen. A token
    /// whose server gave no lifetime never does.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tower_gare::login::Token;
    ///
    /// let now = SystemTime::now();
    /// let token = Token::new("rs", "t", "s", Some(now + Duration::from_secs(90)));
    /// assert!(!token.expires_within(now, Duration::from_secs(60)));
    /// assert!(token.expires_within(now, Duration::from_secs(90)));
    /// assert!(token.expires_within(now + Duration::from_secs(100), Duration::ZERO));
    /// assert!(!Token::new("rs", "t", "s", None).expires_within(now, Duration::MAX));
    /// ```
    pub fn expires_within(&self, now: SystemTime, margin: Duration) -> bool {
        self.expires_at
            .is_some_and(|at| match now.checked_add(margin) {
                Some(deadline) => at <= deadline,
                // Past the end of the clock: every time is before it.
                None => true,
            })
    }

    /// Whether every scope in `scopes` was granted with this token
    /// (compared by name; dependent scopes in brackets are not listed in a
    /// token's `scope`).
    ///
    /// ```
    /// use tower_gare::login::Token;
    ///
    /// let token = Token::new("rs", "t", "urn:a urn:b", None);
    /// assert!(token.grants(&["urn:a[urn:dep]".to_owned()]));
    /// assert!(!token.grants(&["urn:a urn:c".to_owned()]));
    /// ```
    pub fn grants(&self, scopes: &[String]) -> bool {
        scope_names(scopes)
            .iter()
            .all(|name| self.scope.split_whitespace().any(|granted| granted == name))
    }
}

/// Secrets redacted; of `extra`, the field names only (a server may put a
/// token there, an `id_token` say).
impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("resource_server", &self.resource_server)
            .field("identity_id", &self.identity_id)
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .field("token_type", &self.token_type)
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
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
