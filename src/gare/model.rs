//! The GARE model: the canonical document as Rust types.

use serde_json::{Map, Value};

use super::{parse, ValidationError};

/// A Globus Auth Requirements Error: what a service needs before it will
/// answer, and a code saying why.
///
/// ```
/// use serde_json::json;
/// use tower_gare::gare::Gare;
///
/// let gare = Gare::from_value(&json!({
///     "code": "ConsentRequired",
///     "authorization_parameters": {"required_scopes": ["urn:globus:auth:scope:transfer.api.globus.org:all"]},
///     "request_id": "abc123",
/// }))
/// .unwrap();
/// assert_eq!(gare.code, "ConsentRequired");
/// assert_eq!(gare.extra["request_id"], "abc123");
/// assert_eq!(gare.to_value(true)["request_id"], "abc123");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gare {
    /// Why authorization is needed (`ConsentRequired`, `AuthorizationRequired`, ...).
    pub code: String,
    /// What a new login must satisfy.
    pub authorization_parameters: AuthorizationParameters,
    /// Every other top-level field of the document, kept as it came.
    pub extra: Map<String, Value>,
}

/// The parameters a login must satisfy for the request to succeed.
///
/// Unset fields are `None`; an empty list or `false` is a value, and is kept.
///
/// ```
/// use tower_gare::gare::AuthorizationParameters;
///
/// let params = AuthorizationParameters {
///     session_required_mfa: Some(true),
///     ..Default::default()
/// };
/// assert_eq!(params.to_value(false), serde_json::json!({"session_required_mfa": true}));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationParameters {
    /// A message for the user. Untrusted text from the server.
    pub session_message: Option<String>,
    /// Identities (ids) one of which the session must include.
    pub session_required_identities: Option<Vec<String>>,
    /// Authentication policies (ids) the session must satisfy.
    pub session_required_policies: Option<Vec<String>>,
    /// Domains the session must hold an identity from.
    pub session_required_single_domain: Option<Vec<String>>,
    /// Whether the session must have used multi-factor authentication.
    pub session_required_mfa: Option<bool>,
    /// Scopes the user must consent to.
    pub required_scopes: Option<Vec<String>>,
    /// The OIDC `prompt` value (Globus Auth knows `login` and `none`).
    pub prompt: Option<String>,
    /// Every other field, kept as it came.
    pub extra: Map<String, Value>,
}

impl AuthorizationParameters {
    /// The parameters as a JSON object. Unset fields are left out; with
    /// `include_extra`, extra fields are added, except where a canonical field
    /// of the same name is set (the canonical value wins).
    pub fn to_value(&self, include_extra: bool) -> Value {
        let mut out = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                out.insert(key.to_owned(), value);
            }
        };
        let strings = |list: &Option<Vec<String>>| list.as_ref().map(|l| Value::from(l.clone()));
        put(
            "session_message",
            self.session_message.clone().map(Value::String),
        );
        put(
            "session_required_identities",
            strings(&self.session_required_identities),
        );
        put(
            "session_required_policies",
            strings(&self.session_required_policies),
        );
        put(
            "session_required_single_domain",
            strings(&self.session_required_single_domain),
        );
        put(
            "session_required_mfa",
            self.session_required_mfa.map(Value::Bool),
        );
        put("required_scopes", strings(&self.required_scopes));
        put("prompt", self.prompt.clone().map(Value::String));
        if include_extra {
            merge_extra(&mut out, &self.extra);
        }
        Value::Object(out)
    }

    /// True when the parameters ask for more than consent: a session
    /// requirement (identities, policies, domains, MFA) that only a fresh
    /// login can meet.
    ///
    /// ```
    /// use tower_gare::gare::AuthorizationParameters;
    ///
    /// let mut params = AuthorizationParameters::default();
    /// assert!(!params.has_session_requirements());
    /// params.session_required_mfa = Some(true);
    /// assert!(params.has_session_requirements());
    /// ```
    pub fn has_session_requirements(&self) -> bool {
        let nonempty = |list: &Option<Vec<String>>| list.as_ref().is_some_and(|l| !l.is_empty());
        nonempty(&self.session_required_identities)
            || nonempty(&self.session_required_policies)
            || nonempty(&self.session_required_single_domain)
            || self.session_required_mfa == Some(true)
    }
}

/// Adds `extra` to `out` without overwriting a field `out` already holds.
fn merge_extra(out: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (key, value) in extra {
        if !out.contains_key(key) {
            out.insert(key.clone(), value.clone());
        }
    }
}

impl Gare {
    /// A GARE with `code` and parameters, and no extra fields.
    ///
    /// ```
    /// use tower_gare::gare::{AuthorizationParameters, Gare};
    ///
    /// let gare = Gare::new("ConsentRequired", AuthorizationParameters {
    ///     required_scopes: Some(vec!["openid".into()]),
    ///     ..Default::default()
    /// });
    /// assert_eq!(gare.to_value(false)["authorization_parameters"]["required_scopes"][0], "openid");
    /// ```
    pub fn new(code: impl Into<String>, authorization_parameters: AuthorizationParameters) -> Self {
        Self {
            code: code.into(),
            authorization_parameters,
            extra: Map::new(),
        }
    }

    /// Strict: the canonical format only. `Err` names the field that is
    /// wrong and what it must hold. Legacy shapes are for [`to_gare`](super::to_gare).
    ///
    /// ```
    /// use serde_json::json;
    /// use tower_gare::gare::Gare;
    ///
    /// let doc = json!({"code": "X", "authorization_parameters": {"session_required_mfa": "yes"}});
    /// let err = Gare::from_value(&doc).unwrap_err();
    /// assert_eq!(err.to_string(), "'session_required_mfa' must be a bool or null");
    /// ```
    pub fn from_value(doc: &Value) -> Result<Gare, ValidationError> {
        let map = doc
            .as_object()
            .ok_or(ValidationError::new("document", "a JSON object"))?;
        parse::canonical(map.clone())
    }

    /// The GARE as a JSON document, like the reference SDK's
    /// `to_dict(include_extra)`: unset fields are left out; with extras, a set
    /// canonical field wins over an extra field of the same name.
    pub fn to_value(&self, include_extra: bool) -> Value {
        let mut out = Map::new();
        out.insert("code".to_owned(), Value::String(self.code.clone()));
        out.insert(
            "authorization_parameters".to_owned(),
            self.authorization_parameters.to_value(include_extra),
        );
        if include_extra {
            merge_extra(&mut out, &self.extra);
        }
        Value::Object(out)
    }
}

/// Step-up details a `WWW-Authenticate` challenge brings (see
/// [`challenge`](crate::challenge)), kept in `extra` and read here typed.
impl Gare {
    /// The `acr_values` of a step-up challenge (RFC 9470): the
    /// authentication context classes the server wants, space-separated.
    pub fn acr_values(&self) -> Option<&str> {
        self.extra.get("acr_values").and_then(Value::as_str)
    }

    /// The `max_age` of a step-up challenge: the most seconds since the
    /// user's last active authentication the server accepts.
    pub fn max_age(&self) -> Option<u64> {
        match self.extra.get("max_age")? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The decoded `claims` of a claims challenge (a JSON object).
    pub fn claims(&self) -> Option<&Value> {
        self.extra.get("claims").filter(|c| c.is_object())
    }
}

/// Serializes as [`Gare::to_value`]`(true)`.
impl serde::Serialize for Gare {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value(true).serialize(serializer)
    }
}

/// Deserializes strictly, as [`Gare::from_value`].
///
/// ```
/// use tower_gare::gare::Gare;
///
/// let gare: Gare = serde_json::from_str(r#"{"code":"X","authorization_parameters":{}}"#).unwrap();
/// assert_eq!(gare.code, "X");
/// let err = serde_json::from_str::<Gare>(r#"{"code":1,"authorization_parameters":{}}"#).unwrap_err();
/// assert!(err.to_string().contains("'code' must be a string"));
/// ```
impl<'de> serde::Deserialize<'de> for Gare {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let map = match value {
            Value::Object(map) => map,
            _ => return Err(serde::de::Error::custom("a GARE must be a JSON object")),
        };
        parse::canonical(map).map_err(serde::de::Error::custom)
    }
}
