//! Tokens, as Globus Auth's token responses give them.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use serde_json::{Map, Value};

use crate::login::{LoginError, Secret};

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

/// What a token entry lacks.
enum Lacks {
    AccessToken,
    ResourceServer,
}

fn one_token(doc: &Map<String, Value>, now: SystemTime) -> Result<Token, Lacks> {
    let text = |key: &str| doc.get(key).and_then(Value::as_str);
    let access_token = text("access_token").ok_or(Lacks::AccessToken)?;
    let resource_server = text("resource_server").ok_or(Lacks::ResourceServer)?;
    let expires_at = doc
        .get("expires_in")
        .and_then(Value::as_u64)
        // A lifetime past what the clock can hold is "no expiry".
        .and_then(|seconds| now.checked_add(Duration::from_secs(seconds)));
    Ok(Token::new(
        resource_server,
        access_token,
        text("scope").unwrap_or_default(),
        expires_at,
    ))
}

/// The tokens of a Globus token response: the top-level one and each of
/// `other_tokens`.
pub(crate) fn parse_token_response(
    status: StatusCode,
    body: &[u8],
    now: SystemTime,
) -> Result<Vec<Token>, LoginError> {
    let invalid = |reason: &'static str| LoginError::InvalidResponse { status, reason };
    let doc: Value = serde_json::from_slice(body)
        .map_err(|source| LoginError::InvalidJson { status, source })?;
    let doc = doc
        .as_object()
        .ok_or_else(|| invalid("not a JSON object"))?;
    if let Some(error) = doc.get("error").and_then(Value::as_str) {
        return Err(LoginError::Refused {
            error: error.to_owned(),
            description: doc
                .get("error_description")
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    }
    if !status.is_success() {
        return Err(invalid("an error status without an OAuth2 error"));
    }
    let mut tokens = vec![one_token(doc, now).map_err(|lacks| {
        invalid(match lacks {
            Lacks::AccessToken => "no access_token",
            Lacks::ResourceServer => "no resource_server",
        })
    })?];
    if let Some(others) = doc.get("other_tokens").and_then(Value::as_array) {
        for other in others {
            let other = other
                .as_object()
                .ok_or_else(|| invalid("an other_tokens entry is not an object"))?;
            tokens.push(one_token(other, now).map_err(|lacks| {
                invalid(match lacks {
                    Lacks::AccessToken => "an other_tokens entry has no access_token",
                    Lacks::ResourceServer => "an other_tokens entry has no resource_server",
                })
            })?);
        }
    }
    Ok(tokens)
}
