//! A challenge's requirement as a [`Gare`], so the rest of the crate has one model.

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{Map, Value};

use super::parse::RawChallenge;
use super::Challenge;
use crate::gare::{AuthorizationParameters, Gare};
use crate::scopes;

/// The error codes that say what a new token needs.
const REQUIREMENTS: [&str; 3] = [
    "insufficient_scope",
    "insufficient_user_authentication",
    "insufficient_claims",
];

/// Parameters turned into typed fields; every other one is kept in `extra`.
const CONSUMED: [&str; 4] = ["error", "scope", "claims", "error_description"];

/// The requirement a Bearer or DPoP challenge carries, or `None`: no error
/// code, another error (`invalid_token` says "log in again", not "log in
/// differently"), or another scheme.
///
/// ```
/// use tower_gare::challenge::{parse, to_gare};
///
/// let challenges = parse(br#"Bearer error="insufficient_scope", scope="read""#);
/// assert_eq!(to_gare(&challenges[0]).unwrap().code, "insufficient_scope");
/// assert!(to_gare(&parse(br#"Bearer error="invalid_token""#)[0]).is_none());
/// ```
pub fn to_gare(challenge: &Challenge) -> Option<Gare> {
    raw_to_gare(&RawChallenge::from(challenge))
}

pub(crate) fn raw_to_gare(challenge: &RawChallenge<'_>) -> Option<Gare> {
    if !(challenge.is_scheme("Bearer") || challenge.is_scheme("DPoP")) {
        return None;
    }
    let error = challenge.param("error")?;
    let code = REQUIREMENTS
        .iter()
        .find(|r| r.eq_ignore_ascii_case(error.trim()))?;

    let mut params = AuthorizationParameters {
        session_message: challenge
            .param("error_description")
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        required_scopes: challenge
            .param("scope")
            .map(split_scopes)
            .filter(|s| !s.is_empty()),
        ..Default::default()
    };
    let mut extra = Map::new();
    for (name, value) in &challenge.params {
        // Names are case-insensitive: compare first, allocate the lowercase
        // key only for what is kept.
        if CONSUMED.iter().any(|c| c.eq_ignore_ascii_case(name)) {
            continue;
        }
        let name = name.to_ascii_lowercase();
        if extra.contains_key(&name) {
            continue;
        }
        let value: &str = value;
        let value = match name.as_str() {
            "max_age" => value
                .trim()
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(value)),
            _ => Value::from(value),
        };
        extra.insert(name, value);
    }
    if let Some(claims) = challenge.param("claims") {
        extra.insert("claims".to_owned(), decode_claims(claims));
    }
    // RFC 9470: max_age=0 asks for an authentication made just now.
    if extra.get("max_age").and_then(Value::as_u64) == Some(0) {
        params.prompt = Some("login".to_owned());
    }
    let mut gare = Gare::new(*code, params);
    gare.extra = extra;
    Some(gare)
}

/// `scope="..."` split into scopes; Globus scopes hold spaces inside
/// brackets, so the scopes parser splits, and plain whitespace splitting is
/// the fallback for a string it rejects.
fn split_scopes(scope: &str) -> Vec<String> {
    if !scope.contains(['[', ']', '*']) {
        return scope.split_whitespace().map(str::to_owned).collect();
    }
    match scopes::parse(scope) {
        Ok(parsed) => parsed.iter().map(ToString::to_string).collect(),
        Err(_) => scope.split_whitespace().map(str::to_owned).collect(),
    }
}

/// A claims challenge's `claims`: base64 (standard or URL-safe, padded or
/// not) of a JSON object; or the JSON itself. Undecodable claims are kept as
/// the string that came.
fn decode_claims(raw: &str) -> Value {
    let trimmed = raw.trim().trim_end_matches('=');
    let decoded = STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .or_else(|| serde_json::from_str::<Value>(raw).ok());
    match decoded {
        Some(value) if value.is_object() => value,
        _ => Value::from(raw),
    }
}
