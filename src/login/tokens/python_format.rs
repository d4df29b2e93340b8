//! The token file of the Python SDK's `JSONTokenStorage`, as globus-sdk
//! 4.10.0 reads and writes it (`globus_sdk/token_storage/json.py`, its
//! entries `TokenStorageData` in `token_data.py`, their `to_dict` and
//! `from_dict` in `globus_sdk/_internal/serializable.py`):
//!
//! ```json
//! {"data": {"DEFAULT": {"transfer.api.globus.org": {
//!      "resource_server": "transfer.api.globus.org", "identity_id": "…",
//!      "scope": "…", "access_token": "…", "refresh_token": "…",
//!      "expires_at_seconds": 1700000000, "token_type": "Bearer"}}},
//!  "format_version": "2.0", "globus-sdk.version": "4.10.0"}
//! ```
//!
//! What the SDK does, and what is done here:
//! - `format_version` must be `"1.0"` or `"2.0"`; any other value (or
//!   none) makes the file unreadable. A 1.0 file keeps its tokens under
//!   `by_rs`, without namespaces: they are read as namespace `DEFAULT`, and
//!   the file is written back as 2.0 with only the three keys above, as the
//!   SDK migrates it.
//! - `data` must be an object (here, each namespace in it too). Top-level
//!   keys the SDK does not know are kept, as it keeps them.
//! - `globus-sdk.version` must be a string for the SDK to read the file. It
//!   is kept as found; a file without one gets `"4.10.0"`, the release
//!   whose format this is (the SDK writes its own version there and only
//!   checks that it is a string).
//! - An entry's fields: `resource_server`, `scope`, `access_token` strings;
//!   `identity_id`, `refresh_token`, `token_type` strings or absent (the
//!   SDK leaves out what is `None`); `expires_at_seconds` an integer. Every
//!   other field is `extra`. The SDK reads them into `extra` but never
//!   writes `extra` back (`to_dict()` without `include_extra`); here they
//!   are written back beside the fields, so nothing read is lost.
//! - The SDK requires `expires_at_seconds`. A token whose server gave no
//!   lifetime is written with [`NO_EXPIRY_SECONDS`] (the last day a Python
//!   `datetime` holds, so the SDK sees a token that does not expire) and
//!   read back as `None`. An entry without `expires_at_seconds`, or with
//!   `null`, is read as `None` too.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::login::Token;

/// The format written.
const FORMAT_VERSION: &str = "2.0";
/// Where the SDK records which of its versions wrote the file.
const SDK_VERSION_KEY: &str = "globus-sdk.version";
/// The SDK release whose format is written, for a file that names none.
const SDK_VERSION: &str = "4.10.0";
/// `expires_at_seconds` of a token whose server gave no lifetime:
/// 9999-12-31T00:00:00Z, which Python's `datetime.fromtimestamp` takes in
/// every time zone.
pub(super) const NO_EXPIRY_SECONDS: i64 = 253_402_214_400;

/// The fields of an entry that are not `extra`.
const FIELDS: [&str; 7] = [
    "resource_server",
    "identity_id",
    "scope",
    "access_token",
    "refresh_token",
    "expires_at_seconds",
    "token_type",
];

/// A token file whose shape was checked: a root object whose `data` is an
/// object of namespaces, each an object of entries. Everything else in it
/// is kept as it was read. Its `Debug` shows the keys only: the document
/// holds the tokens themselves.
pub(super) struct Document {
    root: Map<String, Value>,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document")
            .field("keys", &self.root.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Document {
    /// What the SDK starts from when there is no file.
    pub(super) fn empty() -> Self {
        let mut root = Map::new();
        root.insert("data".to_owned(), Value::Object(Map::new()));
        root.insert("format_version".to_owned(), FORMAT_VERSION.into());
        root.insert(SDK_VERSION_KEY.to_owned(), SDK_VERSION.into());
        Document { root }
    }

    /// The file's contents, or why they cannot be used.
    pub(super) fn parse(bytes: &[u8]) -> Result<Self, Unusable> {
        Self::parse_known(bytes).map_err(Unusable::Corrupt)?
    }

    /// `parse`: `Err` for a file that is not a token file of a version
    /// known here (corrupt), `Ok(Err)` for one of another version.
    fn parse_known(bytes: &[u8]) -> Result<Result<Self, Unusable>, String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(mut root) = doc else {
            return Err("the root is not a JSON object".to_owned());
        };
        match root.get("format_version") {
            Some(Value::String(v)) if v == "2.0" => {}
            Some(Value::String(v)) if v == "1.0" => {
                let by_rs = root
                    .remove("by_rs")
                    .ok_or("format_version 1.0 without 'by_rs'")?;
                let mut data = Map::new();
                data.insert(crate::login::DEFAULT_NAMESPACE.to_owned(), by_rs);
                root = Document::empty().root;
                root.insert("data".to_owned(), Value::Object(data));
            }
            None | Some(Value::Null) => return Err("no format_version".to_owned()),
            // A token file, of a format not known here: not corrupt, and
            // not this crate's to change.
            Some(other) => return Ok(Err(Unusable::UnknownFormat(describe_version(other)))),
        }
        let Some(Value::Object(data)) = root.get("data") else {
            return Err("'data' is not a JSON object".to_owned());
        };
        if let Some((namespace, _)) = data.iter().find(|(_, v)| !v.is_object()) {
            return Err(format!("namespace {namespace:?} is not a JSON object"));
        }
        if !root.get(SDK_VERSION_KEY).is_some_and(Value::is_string) {
            root.insert(SDK_VERSION_KEY.to_owned(), SDK_VERSION.into());
        }
        Ok(Ok(Document { root }))
    }

    /// The file's new contents.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        // A map of strings to JSON values always serializes.
        serde_json::to_vec(&self.root).unwrap_or_default()
    }

    fn data(&self) -> &Map<String, Value> {
        match self.root.get("data") {
            Some(Value::Object(data)) => data,
            _ => unreachable!("checked by parse and set by empty"),
        }
    }

    fn data_mut(&mut self) -> &mut Map<String, Value> {
        match self.root.get_mut("data") {
            Some(Value::Object(data)) => data,
            _ => unreachable!("checked by parse and set by empty"),
        }
    }

    fn namespace(&self, namespace: &str) -> Option<&Map<String, Value>> {
        self.data().get(namespace).and_then(Value::as_object)
    }

    /// The entry filed under `resource_server` in `namespace`, read.
    pub(super) fn token(
        &self,
        namespace: &str,
        resource_server: &str,
    ) -> Option<Result<Token, String>> {
        let entry = self.namespace(namespace)?.get(resource_server)?;
        Some(token_from_entry(resource_server, entry))
    }

    /// Every entry in `namespace`, read, by resource server.
    pub(super) fn tokens(&self, namespace: &str) -> Vec<(String, Result<Token, String>)> {
        self.namespace(namespace)
            .into_iter()
            .flatten()
            .map(|(rs, entry)| (rs.clone(), token_from_entry(rs, entry)))
            .collect()
    }

    /// Files each token under its resource server in `namespace`.
    pub(super) fn put(&mut self, namespace: &str, tokens: &[Token]) {
        let entries = self
            .data_mut()
            .entry(namespace)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(entries) = entries {
            for token in tokens {
                entries.insert(token.resource_server.clone(), entry_from_token(token));
            }
        }
    }

    /// Removes the entry of `resource_server` in `namespace`; whether there
    /// was one.
    pub(super) fn remove(&mut self, namespace: &str, resource_server: &str) -> bool {
        match self.data_mut().get_mut(namespace) {
            Some(Value::Object(entries)) => entries.remove(resource_server).is_some(),
            _ => false,
        }
    }
}

/// Why a file's contents cannot be used as a token file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unusable {
    /// Not a token file (not JSON, not its shape): what is wrong. It may be
    /// moved aside.
    Corrupt(String),
    /// A token file of a `format_version` not known here (a newer SDK's),
    /// as [`describe_version`] shows it. It must be left as it is: its
    /// writer still uses it.
    UnknownFormat(String),
}

/// A `format_version` for an error: a string as JSON (cut at 32
/// characters), a number or boolean as it is, anything else only named,
/// since a file that holds tokens could hold anything there.
fn describe_version(version: &Value) -> String {
    const SHOWN: usize = 32;
    match version {
        Value::String(v) if v.chars().count() > SHOWN => {
            let cut: String = v.chars().take(SHOWN).collect();
            format!("{}…", Value::String(cut))
        }
        Value::String(_) | Value::Number(_) | Value::Bool(_) => version.to_string(),
        Value::Array(_) => "an array (not shown)".to_owned(),
        _ => "an object (not shown)".to_owned(),
    }
}

/// An entry as the SDK's `TokenStorageData.from_dict` reads it, or what is
/// wrong with it (in the SDK's words, where it has some).
pub(super) fn token_from_entry(key: &str, entry: &Value) -> Result<Token, String> {
    let entry = entry.as_object().ok_or("not a JSON object")?;
    let string = |name: &str| match entry.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(format!("'{name}' must be a string")),
    };
    let optional = |name: &str| match entry.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("'{name}' must be a string or null")),
    };
    let resource_server = string("resource_server")?;
    if resource_server != key {
        return Err(format!(
            "its 'resource_server' is {resource_server:?}, not the {key:?} it is filed under"
        ));
    }
    let expires_at = match entry.get("expires_at_seconds") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.as_i64().and_then(from_seconds),
        Some(_) => return Err("'expires_at_seconds' must be an int".to_owned()),
    };
    let mut token = Token::new(
        resource_server,
        string("access_token")?,
        string("scope")?,
        expires_at,
    );
    if let Some(refresh_token) = optional("refresh_token")? {
        token = token.with_refresh_token(refresh_token);
    }
    token.identity_id = optional("identity_id")?;
    if let Some(token_type) = optional("token_type")? {
        token.token_type = token_type;
    }
    token.extra = entry
        .iter()
        .filter(|(name, _)| !FIELDS.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    Ok(token)
}

/// An entry as the SDK's `TokenStorageData.to_dict(include_extra=True)`
/// writes it, except that a field wins over an `extra` of the same name.
pub(super) fn entry_from_token(token: &Token) -> Value {
    let mut entry: Map<String, Value> = token
        .extra
        .iter()
        .filter(|(name, _)| !FIELDS.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let mut set = |name: &str, value: Value| {
        entry.insert(name.to_owned(), value);
    };
    set("resource_server", token.resource_server.clone().into());
    if let Some(identity_id) = &token.identity_id {
        set("identity_id", identity_id.clone().into());
    }
    set("scope", token.scope.clone().into());
    set("access_token", token.access_token().into());
    if let Some(refresh_token) = token.refresh_token() {
        set("refresh_token", refresh_token.into());
    }
    set(
        "expires_at_seconds",
        token
            .expires_at
            .map_or(NO_EXPIRY_SECONDS, to_seconds)
            .into(),
    );
    set("token_type", token.token_type.clone().into());
    Value::Object(entry)
}

/// Whole seconds since the epoch, rounded down as the SDK's
/// `int(time.time() + expires_in)` does.
fn to_seconds(at: SystemTime) -> i64 {
    let whole = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => whole(after),
        Err(before) => {
            let before = before.duration();
            -whole(before) - i64::from(before.subsec_nanos() > 0)
        }
    }
}

/// The time `seconds` after the epoch; `None` for "does not expire" (and
/// for a time past what the clock holds, which is as good).
fn from_seconds(seconds: i64) -> Option<SystemTime> {
    if seconds == NO_EXPIRY_SECONDS {
        return None;
    }
    let magnitude = Duration::from_secs(seconds.unsigned_abs());
    if seconds >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        // Long expired; before the clock's first moment is no different.
        Some(UNIX_EPOCH.checked_sub(magnitude).unwrap_or(UNIX_EPOCH))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn every_field_round_trips() {
        let extra = json!({"issuer": "x", "nested": {"a": [1, 2]}, "access_token": "not me"});
        let token = Token::new("rs", "at", "s1 s2", Some(at(1_700_000_000)))
            .with_refresh_token("rt")
            .with_identity_id("id")
            .with_token_type("DPoP")
            .with_extra(extra.as_object().unwrap().clone());
        let entry = entry_from_token(&token);
        assert_eq!(entry["access_token"], "at", "a field wins over an extra");
        assert_eq!(entry["expires_at_seconds"], 1_700_000_000);
        let back = token_from_entry("rs", &entry).unwrap();
        let mut expected = token.clone();
        expected.extra.remove("access_token");
        assert_eq!(back, expected);
    }

    #[test]
    fn none_is_left_out_as_the_sdk_leaves_it_out() {
        let entry = entry_from_token(&Token::new("rs", "at", "s", None));
        let keys: Vec<_> = entry.as_object().unwrap().keys().cloned().collect();
        assert!(!keys.contains(&"identity_id".to_owned()), "{keys:?}");
        assert!(!keys.contains(&"refresh_token".to_owned()), "{keys:?}");
        assert_eq!(entry["expires_at_seconds"], NO_EXPIRY_SECONDS);
        assert_eq!(token_from_entry("rs", &entry).unwrap().expires_at, None);
    }

    #[test]
    fn the_sdk_minimal_entry_reads() {
        // What the SDK writes for TokenStorageData(..., identity_id=None,
        // refresh_token=None, token_type=None).
        let entry = json!({"resource_server": "rs", "scope": "c", "access_token": "AT2", "expires_at_seconds": 5});
        let token = token_from_entry("rs", &entry).unwrap();
        assert_eq!(token.expires_at, Some(at(5)));
        assert_eq!(token.token_type, "Bearer");
        assert!(token.extra.is_empty() && token.refresh_token().is_none());
    }

    #[test]
    fn entries_the_sdk_rejects_are_rejected() {
        let good = json!({"resource_server": "rs", "scope": "s", "access_token": "a", "expires_at_seconds": 1});
        for (field, bad, reason) in [
            (
                "access_token",
                json!(null),
                "'access_token' must be a string",
            ),
            ("scope", json!(3), "'scope' must be a string"),
            (
                "refresh_token",
                json!(1),
                "'refresh_token' must be a string or null",
            ),
            (
                "expires_at_seconds",
                json!(1.5),
                "'expires_at_seconds' must be an int",
            ),
            (
                "expires_at_seconds",
                json!("1"),
                "'expires_at_seconds' must be an int",
            ),
        ] {
            let mut entry = good.clone();
            entry[field] = bad;
            assert_eq!(token_from_entry("rs", &entry).unwrap_err(), reason);
        }
        assert!(token_from_entry("other", &good)
            .unwrap_err()
            .contains("filed under"));
        assert!(token_from_entry("rs", &json!([])).is_err());
    }

    #[test]
    fn seconds_round_down_and_go_before_the_epoch() {
        assert_eq!(to_seconds(at(10) + Duration::from_millis(999)), 10);
        assert_eq!(to_seconds(UNIX_EPOCH - Duration::from_millis(1)), -1);
        assert_eq!(to_seconds(UNIX_EPOCH - Duration::from_secs(2)), -2);
        assert_eq!(from_seconds(-2), Some(UNIX_EPOCH - Duration::from_secs(2)));
        assert_eq!(from_seconds(NO_EXPIRY_SECONDS), None);
    }

    #[test]
    fn file_shapes() {
        let unusable = |text: &str| Document::parse(text.as_bytes()).unwrap_err();
        let reason = |text: &str| match unusable(text) {
            Unusable::Corrupt(reason) => reason,
            other => panic!("{text}: {other:?}"),
        };
        assert!(reason("{ nope").starts_with("not JSON"));
        assert_eq!(reason("[]"), "the root is not a JSON object");
        assert_eq!(reason(r#"{"data": {}}"#), "no format_version");
        assert_eq!(
            reason(r#"{"format_version": null, "data": {}}"#),
            "no format_version"
        );
        // Another version is not corrupt: it is told apart, and shown
        // only as far as it cannot be a token.
        assert_eq!(
            unusable(r#"{"format_version": "3.0", "data": {}}"#),
            Unusable::UnknownFormat("\"3.0\"".to_owned())
        );
        assert_eq!(
            unusable(r#"{"format_version": 2.0, "data": {}}"#),
            Unusable::UnknownFormat("2.0".to_owned())
        );
        assert_eq!(
            unusable(r#"{"format_version": {"t": "secret"}}"#),
            Unusable::UnknownFormat("an object (not shown)".to_owned())
        );
        let long = format!(r#"{{"format_version": "{}"}}"#, "x".repeat(40));
        assert_eq!(
            unusable(&long),
            Unusable::UnknownFormat(format!("\"{}\"…", "x".repeat(32)))
        );
        assert_eq!(
            reason(r#"{"format_version": "2.0", "data": []}"#),
            "'data' is not a JSON object"
        );
        assert_eq!(
            reason(r#"{"format_version": "2.0"}"#),
            "'data' is not a JSON object"
        );
        assert_eq!(
            reason(r#"{"format_version": "2.0", "data": {"x": 1}}"#),
            "namespace \"x\" is not a JSON object"
        );
        assert_eq!(
            reason(r#"{"format_version": "1.0"}"#),
            "format_version 1.0 without 'by_rs'"
        );
        assert_eq!(
            reason(r#"{"format_version": "1.0", "by_rs": 7}"#),
            "namespace \"DEFAULT\" is not a JSON object"
        );
    }

    #[test]
    fn version_1_is_read_as_default_and_written_as_2() {
        let v1 = json!({"format_version": "1.0", "globus-sdk.version": "3.40.0", "by_rs": {
            "rs": {"resource_server": "rs", "scope": "s", "access_token": "a",
                   "refresh_token": null, "token_type": "Bearer", "expires_at_seconds": 9}}});
        let mut doc = Document::parse(v1.to_string().as_bytes()).unwrap();
        assert_eq!(
            doc.token("DEFAULT", "rs").unwrap().unwrap().access_token(),
            "a"
        );
        doc.put("other", &[Token::new("rs2", "b", "s", None)]);
        let written: Value = serde_json::from_slice(&doc.to_bytes()).unwrap();
        assert_eq!(written["format_version"], "2.0");
        assert_eq!(written["globus-sdk.version"], SDK_VERSION);
        assert!(written.get("by_rs").is_none());
        assert_eq!(written["data"]["DEFAULT"]["rs"]["access_token"], "a");
        assert_eq!(written["data"]["other"]["rs2"]["access_token"], "b");
    }

    #[test]
    fn what_is_not_touched_stays_as_it_was() {
        let file = json!({"format_version": "2.0", "globus-sdk.version": "9.9", "someone_else": [1],
            "data": {"theirs": {"rs": {"anything": true}}, "DEFAULT": {"bad": 5, "rs": {"x": 1}}}});
        let mut doc = Document::parse(file.to_string().as_bytes()).unwrap();
        assert!(doc.token("DEFAULT", "bad").unwrap().is_err());
        doc.put("DEFAULT", &[Token::new("rs", "t", "s", None)]);
        assert!(!doc.remove("nobody", "rs"));
        let written: Value = serde_json::from_slice(&doc.to_bytes()).unwrap();
        assert_eq!(written["someone_else"], json!([1]));
        assert_eq!(written["globus-sdk.version"], "9.9");
        assert_eq!(written["data"]["theirs"], file["data"]["theirs"]);
        assert_eq!(written["data"]["DEFAULT"]["bad"], 5);
        assert_eq!(written["data"]["DEFAULT"]["rs"]["access_token"], "t");
        assert!(doc.remove("DEFAULT", "rs"));
        assert!(doc.token("DEFAULT", "rs").is_none());
    }
}
