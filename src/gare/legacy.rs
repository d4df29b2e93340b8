//! The legacy shapes Globus services still send, each normalized to a [`Gare`].
//!
//! They are tried in the reference SDK's order after the canonical format
//! fails. Each has a `check` that borrows and a `build` that moves.

use serde_json::{Map, Value};

use super::fields::{
    is_falsy, is_str_list, opt_str, present, take_object, take_str_list, take_string,
};
use super::params::{self, Rules};
use super::{AuthorizationParameters, Gare, ValidationError};

const CONSENT_REQUIRED: &str = "ConsentRequired";
const DEFAULT_CODE: &str = "AuthorizationRequired";

fn is_consent_required(map: &Map<String, Value>) -> bool {
    matches!(map.get("code"), Some(Value::String(code)) if code == CONSENT_REQUIRED)
}

/// Bare `authorization_parameters`: `code` optional (a Python-falsy code
/// means `AuthorizationRequired`), policies and domains may be
/// comma-separated strings, `prompt` may only be `login`.
pub(super) mod parameters {
    use super::*;

    pub(in crate::gare) fn check(map: &Map<String, Value>) -> Result<(), ValidationError> {
        let code = map.get("code");
        if !is_falsy(code) && !matches!(code, Some(Value::String(_))) {
            return Err(ValidationError::new("code", "a string"));
        }
        let Some(Value::Object(params)) = present(map, "authorization_parameters") else {
            return Err(ValidationError::new(
                "authorization_parameters",
                "an object",
            ));
        };
        params::check(params, Rules::Legacy)
    }

    pub(in crate::gare) fn build(mut map: Map<String, Value>) -> Gare {
        let code = match map.remove("code") {
            Some(Value::String(code)) if !code.is_empty() => code,
            _ => DEFAULT_CODE.to_owned(),
        };
        let authorization_parameters = params::build(
            take_object(map.remove("authorization_parameters")),
            Rules::Legacy,
        );
        Gare {
            code,
            authorization_parameters,
            extra: map,
        }
    }
}

/// Transfer's `{"code": "ConsentRequired", "required_scopes": [...]}`, with
/// `message` as the session message.
pub(super) mod transfer_consent {
    use super::*;

    pub(in crate::gare) fn check(map: &Map<String, Value>) -> Result<(), ValidationError> {
        if !is_consent_required(map) {
            return Err(ValidationError::new("code", "the string 'ConsentRequired'"));
        }
        if !map.get("required_scopes").is_some_and(is_str_list) {
            return Err(ValidationError::new("required_scopes", "a list of strings"));
        }
        opt_str(map, "message").map(drop)
    }

    pub(in crate::gare) fn build(mut map: Map<String, Value>) -> Gare {
        map.remove("code");
        let required_scopes = take_str_list(map.remove("required_scopes"));
        let session_message = take_string(present(&map, "message").cloned());
        Gare {
            code: CONSENT_REQUIRED.to_owned(),
            authorization_parameters: AuthorizationParameters {
                session_message,
                required_scopes,
                ..Default::default()
            },
            extra: map,
        }
    }
}

/// Action providers' `{"code": "ConsentRequired", "required_scope": "..."}`,
/// with `description` as the session message.
pub(super) mod action_provider_consent {
    use super::*;

    pub(in crate::gare) fn check(map: &Map<String, Value>) -> Result<(), ValidationError> {
        if !is_consent_required(map) {
            return Err(ValidationError::new("code", "the string 'ConsentRequired'"));
        }
        if !matches!(map.get("required_scope"), Some(Value::String(_))) {
            return Err(ValidationError::new("required_scope", "a string"));
        }
        opt_str(map, "description").map(drop)
    }

    pub(in crate::gare) fn build(mut map: Map<String, Value>) -> Gare {
        map.remove("code");
        let scope = take_string(map.remove("required_scope")).unwrap_or_default();
        // The SDK keeps a non-object `authorization_parameters` as its "extra";
        // only an object can be one here, so anything else is dropped.
        let params_extra = take_object(map.remove("authorization_parameters"));
        let session_message = take_string(present(&map, "description").cloned());
        Gare {
            code: CONSENT_REQUIRED.to_owned(),
            authorization_parameters: AuthorizationParameters {
                session_message,
                required_scopes: Some(vec![scope]),
                extra: params_extra,
                ..Default::default()
            },
            extra: map,
        }
    }
}

/// Globus Auth's `{"error": "dependent_consent_required", "errors": [{"unapproved_scopes": [...]}]}`.
/// Only the first of `errors` counts, and no other field is kept (as in the SDK).
pub(super) mod dependent_consent {
    use super::*;

    fn first_error(map: &Map<String, Value>) -> Option<&Map<String, Value>> {
        map.get("errors")?.as_array()?.first()?.as_object()
    }

    pub(in crate::gare) fn check(map: &Map<String, Value>) -> Result<(), ValidationError> {
        if !matches!(map.get("error"), Some(Value::String(e)) if e == "dependent_consent_required")
        {
            return Err(ValidationError::new(
                "error",
                "the string 'dependent_consent_required'",
            ));
        }
        let Some(first) = first_error(map) else {
            return Err(ValidationError::new(
                "errors",
                "a list of errors with at least one error object",
            ));
        };
        match first.get("unapproved_scopes") {
            None => Ok(()),
            Some(value) if is_str_list(value) => Ok(()),
            Some(_) => Err(ValidationError::new(
                "unapproved_scopes",
                "a list of strings",
            )),
        }
    }

    pub(in crate::gare) fn build(map: Map<String, Value>) -> Gare {
        let scopes = first_error(&map)
            .and_then(|first| take_str_list(first.get("unapproved_scopes").cloned()))
            .unwrap_or_default();
        Gare::new(
            CONSENT_REQUIRED,
            AuthorizationParameters {
                required_scopes: Some(scopes),
                ..Default::default()
            },
        )
    }
}
