//! Token responses: what a token endpoint answers to a code exchange, a
//! refresh or a client-credentials grant (RFC 6749 §5.1 and §5.2), in the
//! shapes real servers send.
//!
//! - Globus Auth names each token's `resource_server` and adds one entry per
//!   other resource server in `other_tokens`.
//! - A plain OAuth2 / OpenID Connect server sends neither: its one token
//!   comes back with an empty [`Token::resource_server`], for the caller
//!   (who knows which API it asked for) to fill in.
//! - `expires_in` comes as a number, a float (`3600.0`) or a string
//!   (`"3600"`); all are read. A lifetime that makes no sense gives a token
//!   that is already expired, never one that lives forever.

use std::time::{Duration, SystemTime};

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use http::StatusCode;
use serde_json::{Map, Value};

use crate::login::{LoginError, Token};

/// What a token endpoint granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// The tokens: the top-level one first, then each of Globus's
    /// `other_tokens` in order. A token whose entry named no
    /// `resource_server` (any server but Globus Auth) has an empty one: the
    /// caller fills it in.
    pub tokens: Vec<Token>,
    /// The `sub` of the `id_token`, when the response has one (a login that
    /// asked for `openid`). Globus puts the identity id there.
    pub id_token_subject: Option<String>,
}

/// The longest lifetime taken at its word: a hundred years. Anything
/// longer is a unit mistake or garbage, and taken as "already expired" (the
/// same as a lifetime the clock cannot even hold), never as "eternal".
const MAX_LIFETIME: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Why a response is not a token response, for [`LoginError::InvalidResponse`].
mod reason {
    pub(super) const NOT_AN_OBJECT: &str = "not a JSON object";
    pub(super) const ERROR_STATUS: &str = "an error status without an OAuth2 error";
    pub(super) const NO_ACCESS_TOKEN: &str = "no access_token";
    pub(super) const EMPTY_ACCESS_TOKEN: &str = "an empty access_token";
    pub(super) const RESOURCE_SERVER: &str = "a resource_server that is not a string";
    pub(super) const REFRESH_TOKEN: &str = "a refresh_token that is not a string";
    pub(super) const TOKEN_TYPE: &str = "a token_type other than Bearer";
    pub(super) const OTHER_TOKENS: &str = "other_tokens is not a list";
    pub(super) const OTHER_NOT_AN_OBJECT: &str = "an other_tokens entry is not an object";
    pub(super) const OTHER_NO_ACCESS_TOKEN: &str = "an other_tokens entry has no access_token";
    pub(super) const OTHER_EMPTY_ACCESS_TOKEN: &str =
        "an other_tokens entry has an empty access_token";
    pub(super) const OTHER_RESOURCE_SERVER: &str =
        "an other_tokens entry has a resource_server that is not a string";
    pub(super) const OTHER_REFRESH_TOKEN: &str =
        "an other_tokens entry has a refresh_token that is not a string";
    pub(super) const OTHER_TOKEN_TYPE: &str =
        "an other_tokens entry has a token_type other than Bearer";
}

/// What one token entry gets wrong.
enum Flaw {
    NoAccessToken,
    EmptyAccessToken,
    ResourceServer,
    RefreshToken,
    TokenType,
}

impl Flaw {
    fn reason(self, top_level: bool) -> &'static str {
        use reason::*;
        match (self, top_level) {
            (Flaw::NoAccessToken, true) => NO_ACCESS_TOKEN,
            (Flaw::EmptyAccessToken, true) => EMPTY_ACCESS_TOKEN,
            (Flaw::ResourceServer, true) => RESOURCE_SERVER,
            (Flaw::RefreshToken, true) => REFRESH_TOKEN,
            (Flaw::TokenType, true) => TOKEN_TYPE,
            (Flaw::NoAccessToken, false) => OTHER_NO_ACCESS_TOKEN,
            (Flaw::EmptyAccessToken, false) => OTHER_EMPTY_ACCESS_TOKEN,
            (Flaw::ResourceServer, false) => OTHER_RESOURCE_SERVER,
            (Flaw::RefreshToken, false) => OTHER_REFRESH_TOKEN,
            (Flaw::TokenType, false) => OTHER_TOKEN_TYPE,
        }
    }
}

/// Reads a token endpoint's answer: the tokens, or the error it stands for.
///
/// - A body with an OAuth2 `error` is [`LoginError::Refused`] (whatever the
///   status); any other error status is [`LoginError::InvalidResponse`].
/// - Bodies that are not JSON are [`LoginError::InvalidJson`] (`NaN` and
///   `1e400` included: the answer is refused rather than guessed at).
/// - `now` is when the answer arrived: lifetimes count from it.
pub fn parse_token_response(
    status: StatusCode,
    body: &[u8],
    now: SystemTime,
) -> Result<TokenResponse, LoginError> {
    let invalid = |reason: &'static str| LoginError::InvalidResponse { status, reason };
    let doc: Value = serde_json::from_slice(body)
        .map_err(|source| LoginError::InvalidJson { status, source })?;
    let doc = doc
        .as_object()
        .ok_or_else(|| invalid(reason::NOT_AN_OBJECT))?;
    if let Some(refused) = oauth2_error(doc) {
        return Err(refused);
    }
    if !status.is_success() {
        return Err(invalid(reason::ERROR_STATUS));
    }
    let id_token_subject = match doc.get("id_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(jwt)) => Some(id_token_subject(jwt)?),
        Some(_) => {
            return Err(LoginError::InvalidIdToken {
                reason: "it is not a string",
                source: None,
            })
        }
    };
    let identity = id_token_subject.as_deref();
    let mut tokens =
        vec![one_token(doc, now, identity).map_err(|flaw| invalid(flaw.reason(true)))?];
    match doc.get("other_tokens") {
        None | Some(Value::Null) => {}
        Some(Value::Array(others)) => {
            for other in others {
                let other = other
                    .as_object()
                    .ok_or_else(|| invalid(reason::OTHER_NOT_AN_OBJECT))?;
                tokens.push(
                    one_token(other, now, identity).map_err(|flaw| invalid(flaw.reason(false)))?,
                );
            }
        }
        Some(_) => return Err(invalid(reason::OTHER_TOKENS)),
    }
    Ok(TokenResponse {
        tokens,
        id_token_subject,
    })
}

/// The OAuth2 error (RFC 6749 §5.2) a body stands for, if it holds one.
pub(crate) fn oauth2_error(doc: &Map<String, Value>) -> Option<LoginError> {
    let error = doc.get("error").and_then(Value::as_str)?;
    Some(LoginError::Refused {
        error: error.to_owned(),
        description: doc
            .get("error_description")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn one_token(
    doc: &Map<String, Value>,
    now: SystemTime,
    identity: Option<&str>,
) -> Result<Token, Flaw> {
    let access_token = match doc.get("access_token") {
        Some(Value::String(token)) if token.is_empty() => return Err(Flaw::EmptyAccessToken),
        Some(Value::String(token)) => token,
        _ => return Err(Flaw::NoAccessToken),
    };
    let resource_server = optional_text(doc, "resource_server").ok_or(Flaw::ResourceServer)?;
    let refresh_token = optional_text(doc, "refresh_token")
        .ok_or(Flaw::RefreshToken)?
        .filter(|token| !token.is_empty());
    // Only bearer tokens are sent (RFC 6750); a token of another type
    // (DPoP, MAC) sent as one would be refused, or worse, accepted by a
    // server that should not. Its absence is tolerated: Globus's
    // `other_tokens` entries have it, but not every server does.
    let token_type = optional_text(doc, "token_type").ok_or(Flaw::TokenType)?;
    if token_type.is_some_and(|kind| !kind.eq_ignore_ascii_case("bearer")) {
        return Err(Flaw::TokenType);
    }
    // RFC 6749 §5.1: a response without `scope` granted what was asked for;
    // an empty scope says "the server did not say".
    let scope = doc.get("scope").and_then(Value::as_str).unwrap_or_default();
    let expires_at = doc
        .get("expires_in")
        .and_then(|value| expires_at(value, now));
    let mut token = Token::new(
        resource_server.unwrap_or_default(),
        access_token.as_str(),
        scope,
        expires_at,
    );
    if let Some(refresh_token) = refresh_token {
        token = token.with_refresh_token(refresh_token);
    }
    // Globus's ID token names the identity every token of the login acts for.
    token.identity_id = identity.map(str::to_owned);
    if let Some(token_type) = token_type {
        token.token_type = token_type.to_owned();
    }
    Ok(token)
}

/// A string field: `Some(None)` when absent or null, `None` when it holds
/// something else.
fn optional_text<'a>(doc: &'a Map<String, Value>, key: &str) -> Option<Option<&'a str>> {
    match doc.get(key) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(text)) => Some(Some(text)),
        Some(_) => None,
    }
}

/// When a token with lifetime `expires_in` (counted from `now`) expires:
/// `None` when the server did not say (`null`), the Unix epoch (long
/// expired) when what it said makes no sense.
pub(crate) fn expires_at(expires_in: &Value, now: SystemTime) -> Option<SystemTime> {
    if expires_in.is_null() {
        return None;
    }
    let at = lifetime(expires_in)
        .filter(|lifetime| *lifetime <= MAX_LIFETIME)
        .and_then(|lifetime| now.checked_add(lifetime));
    Some(at.unwrap_or(SystemTime::UNIX_EPOCH))
}

/// `expires_in` as a lifetime, if it is one: a non-negative number of
/// seconds, as a JSON number (integer or float) or a string holding one.
fn lifetime(expires_in: &Value) -> Option<Duration> {
    fn seconds(value: f64) -> Option<Duration> {
        // NaN and the infinities are not lifetimes; nor is anything negative.
        (value.is_finite() && value >= 0.0)
            .then(|| Duration::try_from_secs_f64(value).ok())
            .flatten()
    }
    match expires_in {
        Value::Number(n) => match n.as_u64() {
            Some(whole) => Some(Duration::from_secs(whole)),
            None => n.as_f64().and_then(seconds),
        },
        Value::String(text) => {
            let text = text.trim();
            match text.parse::<u64>() {
                Ok(whole) => Some(Duration::from_secs(whole)),
                // Rust reads "NaN", "inf" and "infinity" as floats: `seconds`
                // turns them away.
                Err(_) => text.parse::<f64>().ok().and_then(seconds),
            }
        }
        _ => None,
    }
}

/// The `sub` claim of an ID token (a JWS compact serialization).
///
/// The signature is not checked, on purpose: the ID token came straight
/// from the token endpoint, in the answer to a request this client made
/// over a connection it opened, so OpenID Connect Core 1.0 §3.1.3.7 (item 6)
/// lets TLS server validation stand in for checking the signature. Only
/// the payload is read.
pub(crate) fn id_token_subject(jwt: &str) -> Result<String, LoginError> {
    // Base64url without padding (RFC 7515), but padding is tolerated.
    const BASE64URL: GeneralPurpose = GeneralPurpose::new(
        &URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let invalid = |reason: &'static str| LoginError::InvalidIdToken {
        reason,
        source: None,
    };
    let mut parts = jwt.split('.');
    let payload = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_header), Some(payload), Some(_signature), None) => payload,
        // Five parts: an encrypted ID token (JWE), which needs a key to read.
        _ => {
            return Err(invalid(
                "it is not a signed JWT (three dot-separated parts)",
            ))
        }
    };
    let payload = BASE64URL
        .decode(payload)
        .map_err(|error| LoginError::InvalidIdToken {
            reason: "its payload is not base64url",
            source: Some(error.into()),
        })?;
    let claims: Value =
        serde_json::from_slice(&payload).map_err(|error| LoginError::InvalidIdToken {
            reason: "its payload is not JSON",
            source: Some(error.into()),
        })?;
    match claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => Ok(sub.clone()),
        _ => Err(invalid("its payload has no sub")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn parse(status: u16, body: &Value) -> Result<TokenResponse, LoginError> {
        parse_token_response(
            StatusCode::from_u16(status).unwrap(),
            body.to_string().as_bytes(),
            now(),
        )
    }

    fn one(body: Value) -> Token {
        let mut response = parse(200, &body).unwrap();
        assert_eq!(response.tokens.len(), 1);
        response.tokens.remove(0)
    }

    fn reason(result: Result<TokenResponse, LoginError>) -> &'static str {
        match result {
            Err(LoginError::InvalidResponse { reason, .. }) => reason,
            other => panic!("{other:?}"),
        }
    }

    /// A JWT with `claims` as its payload and a signature nobody checks.
    pub(crate) fn jwt(claims: &Value) -> String {
        let part =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.c2lnbmF0dXJl",
            part(&json!({"alg": "RS256", "typ": "JWT"})),
            part(claims)
        )
    }

    #[test]
    fn every_shape_of_expires_in_is_read() {
        let hour = Some(now() + Duration::from_secs(3600));
        for shape in [
            json!(3600),
            json!(3600.0),
            json!("3600"),
            json!(" 3600 "),
            json!("3600.0"),
            json!("3.6e3"),
        ] {
            let token = one(json!({"access_token": "t", "expires_in": shape}));
            assert_eq!(token.expires_at, hour, "{shape}");
        }
        let token = one(json!({"access_token": "t", "expires_in": 1.5}));
        assert_eq!(token.expires_at, Some(now() + Duration::from_millis(1500)));
        let token = one(json!({"access_token": "t", "expires_in": 0}));
        assert_eq!(token.expires_at, Some(now()));
        assert!(token.is_expired(now()));
    }

    #[test]
    fn a_missing_lifetime_is_unknown() {
        assert_eq!(one(json!({"access_token": "t"})).expires_at, None);
        let null = one(json!({"access_token": "t", "expires_in": null}));
        assert_eq!(null.expires_at, None);
    }

    #[test]
    fn a_nonsensical_lifetime_is_expired_never_eternal() {
        for shape in [
            json!(-1),
            json!(-3600.5),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1e300),
            json!(f64::MAX),
            json!("-3600"),
            json!("NaN"),
            json!("nan"),
            json!("inf"),
            json!("-Infinity"),
            json!("1e400"),
            json!("18446744073709551616"),
            json!("an hour"),
            json!("3600s"),
            json!(""),
            json!(true),
            json!([3600]),
            json!({"seconds": 3600}),
            // Past a hundred years: a unit mistake, not a lifetime.
            json!(MAX_LIFETIME.as_secs() + 1),
        ] {
            let token = one(json!({"access_token": "t", "expires_in": shape}));
            assert_eq!(
                token.expires_at,
                Some(SystemTime::UNIX_EPOCH),
                "{shape} must give an expired token"
            );
            assert!(token.is_expired(now()), "{shape}");
        }
        let longest = one(json!({"access_token": "t", "expires_in": MAX_LIFETIME.as_secs()}));
        assert_eq!(longest.expires_at, Some(now() + MAX_LIFETIME));
    }

    #[test]
    fn a_lifetime_past_the_clock_is_expired() {
        // A `now` so late that a valid lifetime overflows `SystemTime`.
        let Some(late) = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(i64::MAX as u64))
        else {
            return;
        };
        let doc = json!({"access_token": "t", "expires_in": 3600});
        let token = parse_token_response(StatusCode::OK, doc.to_string().as_bytes(), late)
            .unwrap()
            .tokens
            .remove(0);
        assert_eq!(token.expires_at, Some(SystemTime::UNIX_EPOCH));
    }

    #[test]
    fn json_python_reads_but_serde_does_not_is_refused() {
        for body in [
            r#"{"access_token": "t", "expires_in": NaN}"#,
            r#"{"access_token": "t", "expires_in": 1e400}"#,
            r#"{"access_token": "t", "expires_in": Infinity}"#,
        ] {
            let err = parse_token_response(StatusCode::OK, body.as_bytes(), now()).unwrap_err();
            assert!(
                matches!(
                    err,
                    LoginError::InvalidJson {
                        status: StatusCode::OK,
                        ..
                    }
                ),
                "{body}: {err:?}"
            );
            assert!(std::error::Error::source(&err).is_some());
        }
    }

    #[test]
    fn globus_shapes_give_a_token_per_resource_server() {
        let response = parse(
            200,
            &json!({
                "access_token": "auth-token", "resource_server": "auth.globus.org",
                "scope": "openid", "expires_in": 172800, "token_type": "Bearer", "state": "s",
                "other_tokens": [
                    {"access_token": "transfer-token", "resource_server": "transfer.api.globus.org",
                     "scope": "urn:globus:auth:scope:transfer.api.globus.org:all",
                     "expires_in": 172800, "token_type": "Bearer"},
                    {"access_token": "groups-token", "resource_server": "groups.api.globus.org",
                     "scope": "urn:globus:auth:scope:groups.api.globus.org:all",
                     "expires_in": "172800", "token_type": "Bearer"}
                ]
            }),
        )
        .unwrap();
        let names: Vec<_> = response
            .tokens
            .iter()
            .map(|t| (t.resource_server.as_str(), t.access_token()))
            .collect();
        assert_eq!(
            names,
            [
                ("auth.globus.org", "auth-token"),
                ("transfer.api.globus.org", "transfer-token"),
                ("groups.api.globus.org", "groups-token"),
            ]
        );
        let two_days = Some(now() + Duration::from_secs(172800));
        assert!(response.tokens.iter().all(|t| t.expires_at == two_days));
        assert_eq!(response.id_token_subject, None);
    }

    #[test]
    fn refresh_tokens_identity_and_token_type_are_carried_into_each_token() {
        let identity = "b0c0a0d0-0000-4000-8000-00000000a11c";
        let response = parse(
            200,
            &json!({
                "access_token": "auth-token", "refresh_token": "auth-refresh",
                "resource_server": "auth.globus.org", "token_type": "bearer",
                "id_token": jwt(&json!({"sub": identity})),
                "other_tokens": [
                    {"access_token": "transfer-token", "refresh_token": "transfer-refresh",
                     "resource_server": "transfer.api.globus.org", "token_type": "Bearer"},
                    {"access_token": "groups-token", "refresh_token": "",
                     "resource_server": "groups.api.globus.org"}
                ]
            }),
        )
        .unwrap();
        let refresh: Vec<_> = response.tokens.iter().map(Token::refresh_token).collect();
        assert_eq!(
            refresh,
            [Some("auth-refresh"), Some("transfer-refresh"), None]
        );
        assert!(response
            .tokens
            .iter()
            .all(|t| t.identity_id.as_deref() == Some(identity)));
        let kinds: Vec<_> = response
            .tokens
            .iter()
            .map(|t| t.token_type.as_str())
            .collect();
        assert_eq!(kinds, ["bearer", "Bearer", "Bearer"]);
        // Without an ID token, no identity is claimed.
        let bare = one(json!({"access_token": "a", "refresh_token": "r"}));
        assert_eq!(bare.identity_id, None);
        assert_eq!(bare.refresh_token(), Some("r"));
        assert!(!format!("{bare:?}").contains("\"r\""));
    }

    #[test]
    fn a_plain_oauth2_token_has_no_resource_server() {
        let response = parse(
            200,
            &json!({"access_token": "a", "refresh_token": "r", "expires_in": 5,
                    "scope": "files:read", "token_type": "Bearer",
                    "id_token": jwt(&json!({"sub": "alice", "iss": "http://x"}))}),
        )
        .unwrap();
        assert_eq!(response.tokens.len(), 1);
        assert_eq!(response.tokens[0].resource_server, "");
        assert_eq!(response.tokens[0].scope, "files:read");
        assert_eq!(response.id_token_subject.as_deref(), Some("alice"));
        let lower = one(json!({"access_token": "a", "token_type": "bearer"}));
        assert_eq!(lower.access_token(), "a");
    }

    #[test]
    fn the_id_token_subject_is_read_without_a_signature_check() {
        let globus_identity = "b0c0a0d0-0000-4000-8000-00000000a11c";
        let claims = json!({"sub": globus_identity, "aud": "c", "exp": 1});
        let padded = {
            let jwt = jwt(&claims);
            let payload = jwt.split('.').nth(1).unwrap();
            let pad = "=".repeat((4 - payload.len() % 4) % 4);
            jwt.replacen(payload, &format!("{payload}{pad}"), 1)
        };
        for token in [jwt(&claims), padded] {
            assert_eq!(id_token_subject(&token).unwrap(), globus_identity);
        }
        let cases = [
            ("no-dots".to_owned(), "it is not a signed JWT", false),
            ("a.b.c.d.e".to_owned(), "it is not a signed JWT", false),
            ("a.!!!.c".to_owned(), "its payload is not base64url", true),
            (
                "a.bm90IGpzb24.c".to_owned(),
                "its payload is not JSON",
                true,
            ),
            (jwt(&json!({"iss": "x"})), "its payload has no sub", false),
            (jwt(&json!({"sub": 7})), "its payload has no sub", false),
            (jwt(&json!({"sub": ""})), "its payload has no sub", false),
        ];
        for (token, expected, has_source) in cases {
            match id_token_subject(&token).unwrap_err() {
                err @ LoginError::InvalidIdToken { reason, .. } => {
                    assert!(reason.starts_with(expected), "{token}: {reason}");
                    assert_eq!(std::error::Error::source(&err).is_some(), has_source);
                    assert!(err.to_string().contains(reason));
                }
                other => panic!("{other:?}"),
            }
        }
        // An id_token that is there but unreadable fails the response: the
        // caller may rely on it to tell whose tokens these are.
        let err = parse(200, &json!({"access_token": "a", "id_token": 5})).unwrap_err();
        assert!(matches!(err, LoginError::InvalidIdToken { .. }), "{err:?}");
        let err = parse(200, &json!({"access_token": "a", "id_token": "x.y"})).unwrap_err();
        assert!(matches!(err, LoginError::InvalidIdToken { .. }), "{err:?}");
    }

    #[test]
    fn oauth2_errors_are_refusals_whatever_the_status() {
        for status in [400, 401, 200] {
            let err = parse(
                status,
                &json!({"error": "invalid_grant", "error_description": "grant expired"}),
            )
            .unwrap_err();
            match &err {
                LoginError::Refused { error, description } => {
                    assert_eq!(error, "invalid_grant");
                    assert_eq!(description.as_deref(), Some("grant expired"));
                }
                other => panic!("{other:?}"),
            }
        }
        let bare = parse(401, &json!({"error": "invalid_client"})).unwrap_err();
        assert!(matches!(
            bare,
            LoginError::Refused {
                description: None,
                ..
            }
        ));
    }

    #[test]
    fn server_text_in_messages_is_sanitized() {
        let err = parse(
            400,
            &json!({"error": "bad\u{1b}[2J", "error_description": "line\nbreak\u{1b}]0;title\u{7}"}),
        )
        .unwrap_err();
        let shown = err.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(shown.contains("line break"), "{shown}");
    }

    #[test]
    fn what_is_not_a_token_response_says_why() {
        use reason::*;
        let cases = [
            (json!(["a"]), NOT_AN_OBJECT),
            (json!({"access_token": "a"}), ""),
            (json!({}), NO_ACCESS_TOKEN),
            (json!({"access_token": 5}), NO_ACCESS_TOKEN),
            (json!({"access_token": ""}), EMPTY_ACCESS_TOKEN),
            (
                json!({"access_token": "a", "resource_server": 1}),
                RESOURCE_SERVER,
            ),
            (
                json!({"access_token": "a", "refresh_token": {}}),
                REFRESH_TOKEN,
            ),
            (
                json!({"access_token": "a", "token_type": "DPoP"}),
                TOKEN_TYPE,
            ),
            (json!({"access_token": "a", "token_type": 1}), TOKEN_TYPE),
            (
                json!({"access_token": "a", "other_tokens": {}}),
                OTHER_TOKENS,
            ),
            (
                json!({"access_token": "a", "other_tokens": [1]}),
                OTHER_NOT_AN_OBJECT,
            ),
            (
                json!({"access_token": "a", "other_tokens": [{}]}),
                OTHER_NO_ACCESS_TOKEN,
            ),
            (
                json!({"access_token": "a", "other_tokens": [{"access_token": ""}]}),
                OTHER_EMPTY_ACCESS_TOKEN,
            ),
            (
                json!({"access_token": "a", "other_tokens": [{"access_token": "b", "resource_server": []}]}),
                OTHER_RESOURCE_SERVER,
            ),
            (
                json!({"access_token": "a", "other_tokens": [{"access_token": "b", "refresh_token": 1}]}),
                OTHER_REFRESH_TOKEN,
            ),
            (
                json!({"access_token": "a", "other_tokens": [{"access_token": "b", "token_type": "MAC"}]}),
                OTHER_TOKEN_TYPE,
            ),
        ];
        for (body, expected) in cases {
            if expected.is_empty() {
                assert!(parse(200, &body).is_ok(), "{body}");
            } else {
                assert_eq!(reason(parse(200, &body)), expected, "{body}");
            }
        }
        assert_eq!(
            reason(parse(503, &json!({"access_token": "a"}))),
            ERROR_STATUS
        );
        let err = parse_token_response(StatusCode::BAD_GATEWAY, b"<html>", now()).unwrap_err();
        assert!(matches!(
            err,
            LoginError::InvalidJson {
                status: StatusCode::BAD_GATEWAY,
                ..
            }
        ));
        let err = parse(200, &json!({})).unwrap_err();
        assert!(std::error::Error::source(&err).is_none());
        assert!(err.to_string().contains("no access_token"), "{err}");
    }
}
