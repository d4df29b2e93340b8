//! `authorization_parameters`: checked and built in one pass over its keys.
//!
//! The canonical format and the legacy "bare authorization_parameters"
//! variant share the field names but not all the rules; [`Rules`] says which
//! apply. One pass over the (usually tiny) object costs less than a lookup
//! per known field, which matters: this runs on every error body.

use serde_json::{Map, Value};

use super::fields::{is_str_list, take_str_list, take_str_list_or_commasep, take_string};
use super::{AuthorizationParameters, ValidationError};

/// Which format's rules a parameters object is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rules {
    Canonical,
    /// Policies and domains may be comma-separated strings, `prompt` may only
    /// be `login`, and `required_scopes` is not a field (kept typed when valid).
    Legacy,
}

/// The known fields, in the reference SDK's order, which decides which error
/// is reported when several fields are wrong.
const FIELDS: [&str; 7] = [
    "session_message",
    "session_required_identities",
    "session_required_policies",
    "session_required_single_domain",
    "session_required_mfa",
    "required_scopes",
    "prompt",
];

/// What `value` must be for field `field` under `rules`, or `None` if it is.
fn violation(field: &str, value: &Value, rules: Rules) -> Option<&'static str> {
    use Rules::{Canonical, Legacy};
    if value.is_null() {
        return None;
    }
    let (ok, expected) = match (field, rules) {
        ("session_message", _) | ("prompt", Canonical) => (value.is_string(), "a string or null"),
        ("session_required_mfa", _) => (value.is_boolean(), "a bool or null"),
        ("prompt", Legacy) => (value == "login", "'login' or null"),
        ("session_required_policies" | "session_required_single_domain", Legacy) => (
            value.is_string() || is_str_list(value),
            "a list of strings or a comma-delimited string or null",
        ),
        ("required_scopes", Legacy) => (true, ""),
        _ => (is_str_list(value), "a list of strings or null"),
    };
    (!ok).then_some(expected)
}

/// Checks every known field; reports the first wrong one in SDK order.
pub(super) fn check(params: &Map<String, Value>, rules: Rules) -> Result<(), ValidationError> {
    let mut first: Option<(usize, &'static str)> = None;
    for (key, value) in params {
        let Some(index) = FIELDS.iter().position(|f| f == key) else {
            continue;
        };
        if let Some(expected) = violation(key, value, rules) {
            if first.is_none_or(|(i, _)| index < i) {
                first = Some((index, expected));
            }
        }
    }
    match first {
        Some((index, expected)) => Err(ValidationError::new(FIELDS[index], expected)),
        None => Ok(()),
    }
}

/// Builds parameters that passed [`check`] under the same rules, moving values.
pub(super) fn build(params: Map<String, Value>, rules: Rules) -> AuthorizationParameters {
    let mut out = AuthorizationParameters::default();
    for (key, value) in params {
        let legacy = rules == Rules::Legacy;
        match key.as_str() {
            "session_message" => out.session_message = take_string(Some(value)),
            "session_required_identities" => {
                out.session_required_identities = take_str_list(Some(value));
            }
            "session_required_policies" if legacy => {
                out.session_required_policies = take_str_list_or_commasep(Some(value));
            }
            "session_required_policies" => {
                out.session_required_policies = take_str_list(Some(value));
            }
            "session_required_single_domain" if legacy => {
                out.session_required_single_domain = take_str_list_or_commasep(Some(value));
            }
            "session_required_single_domain" => {
                out.session_required_single_domain = take_str_list(Some(value));
            }
            "session_required_mfa" => out.session_required_mfa = value.as_bool(),
            // Better than the reference SDK, which files a legacy
            // `required_scopes` under `extra` and so logs in without them: a
            // valid list is typed; anything else stays where the SDK puts it.
            "required_scopes" if !legacy || is_str_list(&value) => {
                out.required_scopes = take_str_list(Some(value));
            }
            "prompt" => out.prompt = take_string(Some(value)),
            _ => {
                out.extra.insert(key, value);
            }
        }
    }
    out
}
