//! `WWW-Authenticate` challenges: RFC 6750 `insufficient_scope`, RFC 9470
//! step-up (`insufficient_user_authentication`), and claims challenges
//! (`insufficient_claims`), normalized into a [`Gare`].
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use tower_gare::challenge;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert(
//!     "www-authenticate",
//!     HeaderValue::from_static(r#"Bearer error="insufficient_user_authentication", acr_values="phr", max_age=0"#),
//! );
//! let gare = challenge::from_headers(&headers).unwrap();
//! assert_eq!(gare.code, "insufficient_user_authentication");
//! assert_eq!(gare.acr_values(), Some("phr"));
//! assert_eq!(gare.max_age(), Some(0));
//! assert_eq!(gare.authorization_parameters.prompt.as_deref(), Some("login"));
//! ```
//!
//! # The mapping
//! - `code`: the challenge's `error` (`insufficient_scope`,
//!   `insufficient_user_authentication` or `insufficient_claims`);
//! - `required_scopes`: `scope`, split with the [`scopes`]
//!   parser (Globus scopes hold spaces inside brackets);
//! - `session_message`: `error_description`;
//! - `extra`: every other parameter (`realm`, `acr_values`, `max_age` as a
//!   number, ...) and `claims` decoded from base64 to its JSON object;
//! - `prompt: "login"` when `max_age` is 0.
//!
//! A challenge without an `error`, with another error, or of a scheme other
//! than Bearer and DPoP carries no requirement.
//!
//! # Body and header together
//! The layer reads the body GARE first and the header second. When both
//! are present the body's GARE is kept and completed from the header: the
//! header's scopes are merged into `required_scopes` (bracket-aware, no
//! duplicates), its session requirements into the body's (its `prompt`
//! fills a missing one), and its extra fields
//! (`acr_values`, `max_age`, `claims`, ...) fill missing extras. See [`merge`].

mod normalize;
mod parse;

pub use normalize::to_gare;
pub use parse::{parse, parse_all, Challenge};

use std::ops::ControlFlow;

use crate::gare::Gare;
use crate::scopes;

/// The requirement in `headers`' `WWW-Authenticate` fields: the first Bearer
/// or DPoP challenge that carries one, as a [`Gare`]. `None` when there is
/// no requirement.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use tower_gare::challenge::from_headers;
///
/// let mut headers = HeaderMap::new();
/// headers.append("www-authenticate", HeaderValue::from_static(r#"Basic realm="x""#));
/// headers.append("www-authenticate", HeaderValue::from_static(r#"Bearer error="insufficient_scope", scope="files:read files:write""#));
/// let gare = from_headers(&headers).unwrap();
/// assert_eq!(gare.authorization_parameters.required_scopes.unwrap(), ["files:read", "files:write"]);
/// ```
pub fn from_headers(headers: &http::HeaderMap) -> Option<Gare> {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        // Every requirement names an `error`: a field without the word
        // cannot hold one, and is not parsed.
        .filter(|value| mentions_error(value.as_bytes()))
        .find_map(|value| {
            parse::visit(value.as_bytes(), |challenge| {
                match normalize::raw_to_gare(&challenge) {
                    Some(gare) => ControlFlow::Break(gare),
                    None => ControlFlow::Continue(()),
                }
            })
        })
}

fn mentions_error(value: &[u8]) -> bool {
    value.windows(5).any(|w| w.eq_ignore_ascii_case(b"error"))
}

/// `body` completed from `header`: scopes merged, session requirements
/// merged as [`AuthorizationParameters::merge_session`](crate::gare::AuthorizationParameters::merge_session) does (the body's
/// prompt stands, a missing one is the header's), a missing message and
/// missing extra fields taken from the header. The body's code stands.
///
/// ```
/// use serde_json::json;
/// use tower_gare::{challenge, gare};
///
/// let body = gare::to_gare(&json!({"code": "ConsentRequired", "required_scopes": ["a"]})).unwrap();
/// let header = challenge::to_gare(&challenge::parse(br#"Bearer error="insufficient_scope", scope="a b", max_age=0"#)[0]).unwrap();
/// let merged = challenge::merge(body, header);
/// assert_eq!(merged.code, "ConsentRequired");
/// assert_eq!(merged.max_age(), Some(0));
/// assert_eq!(merged.authorization_parameters.required_scopes.unwrap(), ["a", "b"]);
/// ```
pub fn merge(mut body: Gare, header: Gare) -> Gare {
    let params = &mut body.authorization_parameters;
    let from_header = header.authorization_parameters;
    // A challenge's requirements are session requirements too (today only
    // `prompt`, from `max_age=0`): one login must meet both sides'.
    params.merge_session(&from_header);
    if let Some(extra_scopes) = from_header.required_scopes {
        let mine = params.required_scopes.take().unwrap_or_default();
        let merged = scopes::merge_strings(mine.iter().chain(&extra_scopes).map(String::as_str));
        params.required_scopes = Some(match merged {
            Ok(joined) => scopes::parse(&joined)
                .map(|parsed| parsed.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            // A malformed scope on either side: keep both lists as they came.
            Err(_) => mine.into_iter().chain(extra_scopes).collect(),
        });
    }
    if params.session_message.is_none() {
        params.session_message = from_header.session_message;
    }
    for (key, value) in header.extra {
        body.extra.entry(key).or_insert(value);
    }
    body
}
