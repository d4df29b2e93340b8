//! GAREs in HTTP error bodies: the root document and its `errors` array.
//!
//! A body is parsed to JSON once (see `parse_object`), and each document in
//! it is handed to [`parse::document`], which moves its values into the GARE.

use std::sync::OnceLock;

use memchr::memmem::Finder;
use serde_json::{Map, Value};

use super::{parse, python_json, Gare};

/// Strings one of which every GARE body holds, literally when the body has
/// no escapes: a body with none of them and no backslash is not parsed at all.
/// The searchers are built once: building one costs more than a short search.
fn markers() -> &'static [Finder<'static>; 3] {
    static MARKERS: OnceLock<[Finder<'static>; 3]> = OnceLock::new();
    MARKERS.get_or_init(|| {
        [
            Finder::new("authorization_parameters"),
            Finder::new("ConsentRequired"),
            Finder::new("dependent_consent_required"),
        ]
    })
}

/// The body as a JSON object, or `None` when it cannot hold a GARE.
///
/// Invalid UTF-8 is read the way the reference SDK reads it (`requests`
/// decodes with replacement characters), so a stray byte in a message does
/// not hide the GARE around it; so are the things Python's `json` accepts
/// and serde_json does not (see `python_json`).
fn parse_object(body: &[u8]) -> Option<Map<String, Value>> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    if body[start] != b'{' {
        return None;
    }
    if memchr::memchr(b'\\', body).is_none()
        && !markers().iter().any(|marker| marker.find(body).is_some())
    {
        return None;
    }
    let parsed = match serde_json::from_slice::<Value>(body) {
        Ok(value) => value,
        // The slow path, for bodies Python reads and serde_json does not.
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let parsed = serde_json::from_str::<Value>(&text).ok();
            match parsed {
                Some(value) => value,
                None => serde_json::from_str(&python_json::to_strict_json(&text)?).ok()?,
            }
        }
    };
    match parsed {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The subdocuments the reference SDK reads from `errors`: its items when it
/// is a list of objects (possibly empty), otherwise none ("the root stands
/// for itself").
fn subdocuments(root: &Map<String, Value>) -> Option<&Vec<Value>> {
    match root.get("errors") {
        Some(Value::Array(items)) if items.iter().all(Value::is_object) => Some(items),
        _ => None,
    }
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
    let root = parse_object(body)?;
    let mut root = match parse::document(root) {
        Ok(gare) => return Some(gare),
        Err(root) => root,
    };
    subdocuments(&root)?;
    let Some(Value::Array(docs)) = root.remove("errors") else {
        return None;
    };
    docs.into_iter().find_map(|doc| match doc {
        Value::Object(doc) => parse::document(doc).ok(),
        _ => None,
    })
}

/// Every GARE in an error body: each object of its `errors` list, then the
/// root document if the body has an `errors` key (without one, the root alone).
/// Where `errors` is not a list of objects the root stands for itself and is
/// counted once (the SDK counts it twice).
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
    let Some(root) = parse_object(body) else {
        return Vec::new();
    };
    // Each of `errors` is copied: the root's GARE, if any, keeps them all.
    let mut gares: Vec<Gare> = subdocuments(&root)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .filter(|doc| parse::marked(doc))
        .filter_map(|doc| parse::document(doc.clone()).ok())
        .collect();
    gares.extend(parse::document(root).ok());
    gares
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
    from_body(body).is_some()
}
