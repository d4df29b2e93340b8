//! The GARE model and its parsers.
//!
//! A Globus Auth Requirements Error (GARE) is the JSON a Globus service sends
//! when a request needs more authorization than its token carries: consent to
//! more scopes, a login with MFA, an identity from a given domain, ...
//!
//! ```
//! use tower_gare::gare;
//!
//! // Transfer's legacy ConsentRequired error, as it comes off the wire.
//! let body = br#"{"code": "ConsentRequired", "message": "Missing required data_access consent",
//!                 "required_scopes": ["urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/abc/data_access]"]}"#;
//! let found = gare::from_body(body).expect("a GARE");
//! assert_eq!(found.code, "ConsentRequired");
//! assert_eq!(
//!     found.authorization_parameters.session_message.as_deref(),
//!     Some("Missing required data_access consent"),
//! );
//! assert!(gare::from_body(b"<html>Forbidden</html>").is_none());
//! ```
//!
//! Parsing agrees with the Python `globus-sdk` (4.10.0) on every body it
//! answers, with these differences, each deliberate:
//! - where the SDK raises (a JSON list or string body, `dependent_consent_required`
//!   with an empty `errors`), the answer here is what the SDK intends: that
//!   document is no GARE (and the search goes on to the next of `errors`);
//! - a legacy `authorization_parameters` keeps a valid `required_scopes` as the
//!   typed field (the SDK files it under `extra`, and its redrive loses it);
//! - [`Gare::to_value`] lets a set canonical field win over an extra field of
//!   the same name (the SDK lets the extra overwrite it);
//! - [`all_from_body`] reports a root document once where the SDK can report
//!   it twice;
//! - an action provider's `ConsentRequired` with a non-object
//!   `authorization_parameters` (the SDK keeps that value, whatever it is, as
//!   the parameters' "extra") has empty extra parameters here;
//! - `NaN`, `Infinity` and numbers too large for a float, which Python's
//!   `json` reads, become `null`, and lone surrogate escapes (a truncated
//!   emoji) U+FFFD, which a Rust string can hold;
//! - the body is read whatever its `Content-Type` claims (the SDK reads only
//!   JSON types; Globus sends GAREs only as JSON), and JSON nested deeper than
//!   128 levels is "no GARE" rather than a stack overflow.

mod body;
mod canonical;
mod error;
mod fields;
mod legacy;
mod model;
mod params;
mod python_json;
mod response;
mod shape;

use serde_json::Value;

pub use error::ValidationError;
pub use model::{AuthorizationParameters, Gare};

use shape::Shape;

/// One document as a GARE: the canonical format first, then each legacy
/// variant in the reference SDK's order. No descent into `errors`.
///
/// ```
/// use serde_json::json;
/// use tower_gare::gare::to_gare;
///
/// // A legacy shape: no code, comma-separated policies.
/// let doc = json!({"authorization_parameters": {"session_required_policies": "p1,p2"}});
/// let gare = to_gare(&doc).unwrap();
/// assert_eq!(gare.code, "AuthorizationRequired");
/// assert_eq!(gare.authorization_parameters.session_required_policies, Some(vec!["p1".into(), "p2".into()]));
/// assert!(to_gare(&json!({"errors": [{"code": "X", "authorization_parameters": {}}]})).is_none());
/// ```
pub fn to_gare(doc: &Value) -> Option<Gare> {
    let map = doc.as_object()?;
    Shape::of(map).map(|shape| shape.build(map.clone()))
}

/// Whether [`to_gare`] finds a GARE in this one document.
///
/// ```
/// use serde_json::json;
/// use tower_gare::gare::is_gare;
///
/// assert!(is_gare(&json!({"code": "ConsentRequired", "required_scope": "s"})));
/// assert!(!is_gare(&json!({"code": "ConsentRequired"})));
/// ```
pub fn is_gare(doc: &Value) -> bool {
    doc.as_object().and_then(Shape::of).is_some()
}

/// The GARE in an HTTP error body: the root document first, then each
/// object of its `errors` list. `None` for anything else, including bodies
/// that are not JSON.
///
/// ```
/// use tower_gare::gare::from_body;
///
/// let body = br#"{"errors": [{"code": "NotFound"},
///     {"code": "AuthorizationRequired", "authorization_parameters": {"session_required_mfa": true}}]}"#;
/// assert_eq!(from_body(body).unwrap().authorization_parameters.session_required_mfa, Some(true));
/// assert!(from_body(b"\xff\x00 not json").is_none());
/// ```
pub fn from_body(body: &[u8]) -> Option<Gare> {
    body::first(body::parse_object(body)?)
}

/// Every GARE in an error body: each object of its `errors` list, then the
/// root document if the body has an `errors` key (without one, the root alone).
///
/// ```
/// use tower_gare::gare::all_from_body;
///
/// let body = br#"{"errors": [
///     {"code": "ConsentRequired", "required_scopes": ["a"]},
///     {"code": "ConsentRequired", "required_scopes": ["b"]}]}"#;
/// let scopes: Vec<_> = all_from_body(body)
///     .into_iter()
///     .map(|g| g.authorization_parameters.required_scopes.unwrap())
///     .collect();
/// assert_eq!(scopes, [vec!["a".to_string()], vec!["b".to_string()]]);
/// ```
pub fn all_from_body(body: &[u8]) -> Vec<Gare> {
    body::parse_object(body).map(body::all).unwrap_or_default()
}

/// Whether the body holds any GARE ([`from_body`] would find one).
///
/// ```
/// use tower_gare::gare::has_gares;
///
/// assert!(has_gares(br#"{"error": "dependent_consent_required", "errors": [{"unapproved_scopes": ["s"]}]}"#));
/// assert!(!has_gares(br#"{"code": "PermissionDenied", "message": "no"}"#));
/// ```
pub fn has_gares(body: &[u8]) -> bool {
    body::parse_object(body).is_some_and(|root| body::any(&root))
}
