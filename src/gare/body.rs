//! GAREs in HTTP error bodies: the root document and its `errors` array.

use std::sync::OnceLock;

use memchr::memmem::Finder;
use serde_json::{Map, Value};

use super::python_json;
use super::shape::Shape;
use super::Gare;

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
pub(super) fn parse_object(body: &[u8]) -> Option<Map<String, Value>> {
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
/// is a list of objects (possibly empty), otherwise `None`, meaning "the root
/// stands for itself".
fn subdocuments(root: &Map<String, Value>) -> Option<&Vec<Value>> {
    match root.get("errors") {
        Some(Value::Array(items)) if items.iter().all(Value::is_object) => Some(items),
        _ => None,
    }
}

/// The first GARE: the root document, then each subdocument.
pub(super) fn first(mut root: Map<String, Value>) -> Option<Gare> {
    if let Some(shape) = Shape::of(&root) {
        return Some(shape.build(root));
    }
    let (index, shape) = subdocuments(&root)?
        .iter()
        .enumerate()
        .find_map(|(i, doc)| Some((i, Shape::of(doc.as_object()?)?)))?;
    match root.remove("errors") {
        Some(Value::Array(mut items)) => match items.swap_remove(index) {
            Value::Object(doc) => Some(shape.build(doc)),
            _ => None,
        },
        _ => None,
    }
}

/// Every GARE: each subdocument, then the root when it has an `errors` key.
/// Where `errors` is not a list of objects the root stands for itself and is
/// counted once (the SDK counts it twice).
pub(super) fn all(root: Map<String, Value>) -> Vec<Gare> {
    let mut out = Vec::new();
    for doc in subdocuments(&root).into_iter().flatten() {
        if let Some(shape) = doc.as_object().and_then(Shape::of) {
            out.push(shape.build(doc.as_object().cloned().unwrap_or_default()));
        }
    }
    if let Some(shape) = Shape::of(&root) {
        out.push(shape.build(root));
    }
    out
}

/// Whether any GARE is in the body, without building one.
pub(super) fn any(root: &Map<String, Value>) -> bool {
    Shape::of(root).is_some()
        || subdocuments(root).is_some_and(|docs| {
            docs.iter()
                .filter_map(Value::as_object)
                .any(|doc| Shape::of(doc).is_some())
        })
}
