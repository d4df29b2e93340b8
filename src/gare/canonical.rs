//! The canonical GARE format: `code` and `authorization_parameters`.

use serde_json::{Map, Value};

use super::fields::{present, take_object, take_string};
use super::params::{self, Rules};
use super::{Gare, ValidationError};

/// Checks a document against the canonical format, field by field in the
/// reference SDK's order, so the first error named is the same.
pub(super) fn check(map: &Map<String, Value>) -> Result<(), ValidationError> {
    if !matches!(present(map, "code"), Some(Value::String(_))) {
        return Err(ValidationError::new("code", "a string"));
    }
    let params = match present(map, "authorization_parameters") {
        Some(Value::Object(params)) => params,
        _ => {
            return Err(ValidationError::new(
                "authorization_parameters",
                "an object",
            ))
        }
    };
    params::check(params, Rules::Canonical)
}

/// Builds a GARE from a document that passed [`check`], moving its values.
pub(super) fn build(mut map: Map<String, Value>) -> Gare {
    let code = take_string(map.remove("code")).unwrap_or_default();
    let authorization_parameters = params::build(
        take_object(map.remove("authorization_parameters")),
        Rules::Canonical,
    );
    Gare {
        code,
        authorization_parameters,
        extra: map,
    }
}
