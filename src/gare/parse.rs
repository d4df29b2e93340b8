//! Reading one document as a GARE: the canonical format, then each legacy
//! shape in the reference SDK's order, all in this file.
//!
//! A document is owned and its values are moved into the GARE, never
//! copied: this runs on every error body, and copying made it half again
//! slower. So a shape that does not match must give the document back
//! whole for the next one: an `authorization_parameters` object is split
//! once into its seven known fields, as they came, and the rest
//! ([`Fields`]); the canonical rules and then the legacy ones judge those
//! seven values, and the first that accepts them builds the parameters by
//! moving them. Other shapes read a field or two at the top level.
//!
//! The reference SDK treats a JSON `null` exactly like a missing key for
//! every optional field, and so does every reader here.

use serde_json::{Map, Value};

use super::{AuthorizationParameters, Gare, ValidationError};

const CONSENT_REQUIRED: &str = "ConsentRequired";
const DEFAULT_CODE: &str = "AuthorizationRequired";

type Doc = Map<String, Value>;

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
    let doc = doc.as_object().filter(|doc| marked(doc))?;
    document(doc.clone()).ok()
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
    to_gare(doc).is_some()
}

/// Whether `doc` has one of the markers every shape needs: an
/// `authorization_parameters` object, `code: "ConsentRequired"`, an `error`.
/// A document without any is turned away after three lookups.
pub(super) fn marked(doc: &Doc) -> bool {
    matches!(doc.get("authorization_parameters"), Some(Value::Object(_)))
        || is_consent_required(doc)
        || doc.contains_key("error")
}

/// The GARE in `doc`, whichever known shape it has, or `doc` back as it
/// came.
pub(super) fn document(mut doc: Doc) -> Result<Gare, Doc> {
    // The reference SDK's order.
    let shapes: [fn(Doc) -> Result<Gare, Doc>; 4] = [
        with_parameters,
        transfer_consent,
        action_provider_consent,
        dependent_consent,
    ];
    for read in shapes {
        doc = match read(doc) {
            Ok(gare) => return Ok(gare),
            Err(doc) => doc,
        };
    }
    Err(doc)
}

/// Strict: the canonical format only. `Err` names the first wrong field in
/// the reference SDK's order, so its message matches the SDK's.
pub(super) fn canonical(mut doc: Doc) -> Result<Gare, ValidationError> {
    if !matches!(present(&doc, "code"), Some(Value::String(_))) {
        return Err(ValidationError::new("code", "a string"));
    }
    let Some(Value::Object(params)) = doc.remove("authorization_parameters") else {
        return Err(ValidationError::new(
            "authorization_parameters",
            "an object",
        ));
    };
    let fields = Fields::split(params);
    fields.check(Rules::Canonical)?;
    Ok(with(doc, fields, Rules::Canonical))
}

/// The canonical format, else the legacy "bare `authorization_parameters`":
/// `code` optional (a Python-falsy code means `AuthorizationRequired`),
/// policies and domains may be comma-separated strings, `prompt` may only
/// be `login`. Both judge the same split of the parameters.
fn with_parameters(mut doc: Doc) -> Result<Gare, Doc> {
    let code_is_string = matches!(present(&doc, "code"), Some(Value::String(_)));
    if !code_is_string && !is_falsy(doc.get("code")) {
        return Err(doc);
    }
    let Some(Value::Object(params)) = doc.get_mut("authorization_parameters") else {
        return Err(doc);
    };
    // An empty object stands in its place until the parameters are known
    // to be good, and takes them back if they are not.
    let fields = Fields::split(std::mem::take(params));
    let rules = if code_is_string && fields.check(Rules::Canonical).is_ok() {
        Rules::Canonical
    } else if fields.check(Rules::Legacy).is_ok() {
        Rules::Legacy
    } else {
        if let Some(params) = doc.get_mut("authorization_parameters") {
            *params = Value::Object(fields.join());
        }
        return Err(doc);
    };
    doc.remove("authorization_parameters");
    Ok(with(doc, fields, rules))
}

/// The GARE of a document whose parameters passed `rules`: its code, the
/// parameters, and every other field as extra.
fn with(mut doc: Doc, fields: Fields, rules: Rules) -> Gare {
    let code = match (doc.remove("code"), rules) {
        (Some(Value::String(code)), Rules::Canonical) => code,
        (Some(Value::String(code)), Rules::Legacy) if !code.is_empty() => code,
        _ => DEFAULT_CODE.to_owned(),
    };
    Gare {
        code,
        authorization_parameters: fields.build(rules),
        extra: doc,
    }
}

/// Transfer's `{"code": "ConsentRequired", "required_scopes": [...]}`, with
/// `message` as the session message (and kept among the extras, as in the SDK).
fn transfer_consent(mut doc: Doc) -> Result<Gare, Doc> {
    let fits = is_consent_required(&doc)
        && doc.get("required_scopes").is_some_and(is_str_list)
        && is_opt_str(&doc, "message");
    if !fits {
        return Err(doc);
    }
    doc.remove("code");
    let required_scopes = take_str_list(doc.remove("required_scopes"));
    let session_message = present(&doc, "message").and_then(string);
    Ok(Gare {
        code: CONSENT_REQUIRED.to_owned(),
        authorization_parameters: AuthorizationParameters {
            session_message,
            required_scopes,
            ..Default::default()
        },
        extra: doc,
    })
}

/// Action providers' `{"code": "ConsentRequired", "required_scope": "..."}`,
/// with `description` as the session message.
fn action_provider_consent(mut doc: Doc) -> Result<Gare, Doc> {
    let fits = is_consent_required(&doc)
        && matches!(doc.get("required_scope"), Some(Value::String(_)))
        && is_opt_str(&doc, "description");
    if !fits {
        return Err(doc);
    }
    doc.remove("code");
    let scope = take_string(doc.remove("required_scope")).unwrap_or_default();
    // The SDK keeps a non-object `authorization_parameters` as its "extra";
    // only an object can be one here, so anything else is dropped.
    let params_extra = match doc.remove("authorization_parameters") {
        Some(Value::Object(params)) => params,
        _ => Map::new(),
    };
    let session_message = present(&doc, "description").and_then(string);
    Ok(Gare {
        code: CONSENT_REQUIRED.to_owned(),
        authorization_parameters: AuthorizationParameters {
            session_message,
            required_scopes: Some(vec![scope]),
            extra: params_extra,
            ..Default::default()
        },
        extra: doc,
    })
}

/// Globus Auth's `{"error": "dependent_consent_required", "errors": [{"unapproved_scopes": [...]}]}`.
/// Only the first of `errors` counts, and no other field is kept (as in the SDK).
fn dependent_consent(doc: Doc) -> Result<Gare, Doc> {
    match unapproved_scopes(&doc) {
        Some(scopes) => Ok(Gare::new(
            CONSENT_REQUIRED,
            AuthorizationParameters {
                required_scopes: Some(scopes),
                ..Default::default()
            },
        )),
        None => Err(doc),
    }
}

/// The first error's `unapproved_scopes` (none: empty) of a dependent
/// consent error, or `None` when `doc` is not one.
fn unapproved_scopes(doc: &Doc) -> Option<Vec<String>> {
    if !matches!(doc.get("error"), Some(Value::String(e)) if e == "dependent_consent_required") {
        return None;
    }
    let first = doc.get("errors")?.as_array()?.first()?.as_object()?;
    match first.get("unapproved_scopes") {
        None => Some(Vec::new()),
        Some(value) => str_list(value),
    }
}

/// Which format's rules a parameters object is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rules {
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
const MESSAGE: usize = 0;
const IDENTITIES: usize = 1;
const POLICIES: usize = 2;
const DOMAINS: usize = 3;
const MFA: usize = 4;
const SCOPES: usize = 5;
const PROMPT: usize = 6;

/// An `authorization_parameters` object split in two: the known fields by
/// their index in [`FIELDS`] (key and value as they came), and every other
/// field.
struct Fields {
    known: [Option<(String, Value)>; 7],
    extra: Doc,
}

impl Fields {
    /// Takes the known fields out of `params` (a few lookups, no new map:
    /// what is left is the extra).
    fn split(mut params: Doc) -> Self {
        let known = FIELDS.map(|field| params.remove_entry(field));
        Fields {
            known,
            extra: params,
        }
    }

    /// The first known field (in the SDK's order) that breaks `rules`.
    fn check(&self, rules: Rules) -> Result<(), ValidationError> {
        for (index, field) in self.known.iter().enumerate() {
            let Some((_, value)) = field else { continue };
            if let Some(expected) = violation(index, value, rules) {
                return Err(ValidationError::new(FIELDS[index], expected));
            }
        }
        Ok(())
    }

    /// The parameters, from fields that passed [`Fields::check`] under the
    /// same rules, by moving their values.
    fn build(self, rules: Rules) -> AuthorizationParameters {
        let legacy = rules == Rules::Legacy;
        let mut out = AuthorizationParameters {
            extra: self.extra,
            ..Default::default()
        };
        let [message, identities, policies, domains, mfa, scopes, prompt] =
            self.known.map(|field| field.map(|(_, value)| value));
        out.session_message = take_string(message);
        out.session_required_identities = take_str_list(identities);
        out.session_required_policies = take_str_list_or_commas(policies);
        out.session_required_single_domain = take_str_list_or_commas(domains);
        out.session_required_mfa = mfa.as_ref().and_then(Value::as_bool);
        out.prompt = take_string(prompt);
        match scopes {
            // Better than the reference SDK, which files a legacy
            // `required_scopes` under `extra` and so logs in without them:
            // a valid list is typed; anything else (null too) stays where
            // the SDK puts it.
            Some(value) if legacy && !is_str_list(&value) => {
                out.extra.insert(FIELDS[SCOPES].to_owned(), value);
            }
            scopes => out.required_scopes = take_str_list(scopes),
        }
        out
    }

    /// The object back as it came.
    fn join(self) -> Doc {
        let mut params = self.extra;
        params.extend(self.known.into_iter().flatten());
        params
    }
}

/// What `value` must be for field `FIELDS[index]` under `rules`, or `None`
/// if it is.
fn violation(index: usize, value: &Value, rules: Rules) -> Option<&'static str> {
    let legacy = rules == Rules::Legacy;
    if value.is_null() {
        return None;
    }
    let (ok, expected) = match index {
        MESSAGE => (value.is_string(), "a string or null"),
        PROMPT if legacy => (value == "login", "'login' or null"),
        PROMPT => (value.is_string(), "a string or null"),
        MFA => (value.is_boolean(), "a bool or null"),
        POLICIES | DOMAINS if legacy => (
            value.is_string() || is_str_list(value),
            "a list of strings or a comma-delimited string or null",
        ),
        SCOPES if legacy => (true, ""),
        IDENTITIES | POLICIES | DOMAINS | SCOPES => {
            (is_str_list(value), "a list of strings or null")
        }
        _ => (true, ""),
    };
    (!ok).then_some(expected)
}

fn is_consent_required(doc: &Doc) -> bool {
    matches!(doc.get("code"), Some(Value::String(code)) if code == CONSENT_REQUIRED)
}

/// The value under `key`, with `null` read as absent.
fn present<'a>(doc: &'a Doc, key: &str) -> Option<&'a Value> {
    doc.get(key).filter(|value| !value.is_null())
}

/// Whether `key` is absent, null or a string.
fn is_opt_str(doc: &Doc, key: &str) -> bool {
    present(doc, key).is_none_or(Value::is_string)
}

fn is_str_list(value: &Value) -> bool {
    matches!(value, Value::Array(items) if items.iter().all(Value::is_string))
}

fn string(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

fn str_list(value: &Value) -> Option<Vec<String>> {
    value.as_array()?.iter().map(string).collect()
}

/// Moves a string out; anything else (already rejected by a check) is `None`.
fn take_string(value: Option<Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Moves a list of strings out. Only called on a value that passed a check.
fn take_str_list(value: Option<Value>) -> Option<Vec<String>> {
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
fn take_str_list_or_commas(value: Option<Value>) -> Option<Vec<String>> {
    match value {
        Some(Value::String(s)) => Some(s.split(',').map(str::to_owned).collect()),
        other => take_str_list(other),
    }
}

/// Python's truthiness, which decides whether a legacy `code` falls back to
/// its default (`code or "AuthorizationRequired"`).
fn is_falsy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => !b,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Object(map)) => map.is_empty(),
    }
}
