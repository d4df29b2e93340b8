//! Field checks shared by the canonical format and the legacy variants.
//!
//! The reference SDK treats a JSON `null` exactly like a missing key for every
//! optional field, so every check here does too. Checks borrow; the builders
//! that run after a successful check move values out of an owned map, so a
//! GARE costs no copy of the document it came from.

use serde_json::{Map, Value};

use super::ValidationError;

/// The value under `key`, with `null` read as absent.
pub(super) fn present<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(value) => Some(value),
    }
}

pub(super) fn opt_str<'a>(
    map: &'a Map<String, Value>,
    key: &'static str,
) -> Result<Option<&'a str>, ValidationError> {
    match present(map, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ValidationError::new(key, "a string or null")),
    }
}

pub(super) fn is_str_list(value: &Value) -> bool {
    matches!(value, Value::Array(items) if items.iter().all(Value::is_string))
}

/// Moves a string out; anything else (already rejected by a check) is `None`.
pub(super) fn take_string(value: Option<Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Moves a list of strings out. Only called after `is_str_list` held.
pub(super) fn take_str_list(value: Option<Value>) -> Option<Vec<String>> {
    match value {
        Some(Value::Array(items)) => Some(
            items
                .into_iter()
                .filter_map(|item| take_string(Some(item)))
                .collect(),
        ),
        _ => None,
    }
}

/// A list of strings, or a comma-separated string split as Python's
/// `str.split(",")` does (no trimming; `""` gives `[""]`).
pub(super) fn take_str_list_or_commasep(value: Option<Value>) -> Option<Vec<String>> {
    match value {
        Some(Value::String(s)) => Some(s.split(',').map(str::to_owned).collect()),
        other => take_str_list(other),
    }
}

pub(super) fn take_object(value: Option<Value>) -> Map<String, Value> {
    match value {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Python's truthiness, which decides whether a legacy `code` falls back to
/// its default (`code or "AuthorizationRequired"`).
pub(super) fn is_falsy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => !b,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Object(map)) => map.is_empty(),
    }
}
