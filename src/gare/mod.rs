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
mod error;
mod model;
mod parse;
mod python_json;
mod requirements;
mod response;

pub use body::{all_from_body, from_body, has_gares};
pub use error::ValidationError;
pub use model::{AuthorizationParameters, Gare};
pub use parse::{is_gare, to_gare};
