//! The token file shared with the Python SDK, both ways, against the real
//! `globus-sdk` (4.10.0 in CI): what Rust writes, its `JSONTokenStorage`
//! reads field for field, and what it writes (with `store_token_response`,
//! as `GlobusApp` does, and `store_token_data_by_resource_server`), Rust
//! reads; a format 1.0 file of its legacy adapter is read and migrated; and
//! `JsonFileTokenStore::default_path_in` is `GlobusApp`'s path.
//!
//! The Python is `GLOBUS_SDK_PYTHON` (an interpreter that imports
//! `globus_sdk`), else `target/ci-venv/bin/python` if it does. Without one
//! the tests print `SKIPPED` (on the terminal, past the test harness's
//! capture) and pass, unless `REQUIRE_FAUXBUS=1` (CI), under which they
//! fail.
#![cfg(feature = "login")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tower_gare::login::{JsonFileTokenStore, Token, TokenStore, DEFAULT_NAMESPACE};

/// The Python with the SDK, or `None` after a visible `SKIPPED` line.
pub(crate) fn sdk_python(test: &str) -> Option<PathBuf> {
    let imports_sdk = |python: &Path| {
        Command::new(python)
            .args(["-c", "import globus_sdk"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/python");
    let found = match std::env::var_os("GLOBUS_SDK_PYTHON") {
        Some(python) => Some(PathBuf::from(python)).filter(|p| imports_sdk(p)),
        None => Some(venv).filter(|p| imports_sdk(p)),
    };
    if found.is_none() {
        let why = "no Python with globus_sdk (set GLOBUS_SDK_PYTHON, or \
                   `python3 -m venv target/ci-venv && target/ci-venv/bin/pip install globus-sdk==4.10.0`)";
        if std::env::var("REQUIRE_FAUXBUS").as_deref() == Ok("1") {
            panic!("{test}: {why}, and REQUIRE_FAUXBUS=1");
        }
        // Straight to the terminal: the harness captures `eprintln!`.
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    }
    found
}

/// Runs `script` with `input` as JSON on stdin; its stdout, as JSON.
pub(crate) fn python(python: &Path, script: &str, input: &Value) -> Value {
    run_python(Command::new(python), script, input)
}

fn run_python(mut command: Command, script: &str, input: &Value) -> Value {
    let mut child = command
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Python script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The SDK's version, shown once per test so a log says what was tested.
pub(crate) fn show_version(py: &Path, test: &str) {
    let v = python(
        py,
        "import globus_sdk, json; print(json.dumps(globus_sdk.__version__))",
        &json!(null),
    );
    let _ = writeln!(std::io::stderr(), "{test}: globus-sdk {v}");
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tower-gare-py-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// Every token the SDK reads in each namespace named on stdin, as
/// `to_dict()` plus `extra`, and what `datetime` makes of its expiry.
const READ: &str = r#"
import datetime, json, sys
from globus_sdk.token_storage import JSONTokenStorage
args = json.load(sys.stdin)
out = {}
for ns in args["namespaces"]:
    storage = JSONTokenStorage(args["path"], namespace=ns)
    out[ns] = {}
    for rs, td in storage.get_token_data_by_resource_server().items():
        d = td.to_dict()
        d["extra"] = td.extra
        d["expiry_year"] = datetime.datetime.fromtimestamp(td.expires_at_seconds).year
        out[ns][rs] = d
print(json.dumps(out))
"#;

#[test]
fn rust_writes_and_the_python_sdk_reads_every_field() {
    const TEST: &str = "rust_writes_and_the_python_sdk_reads_every_field";
    let Some(py) = sdk_python(TEST) else { return };
    show_version(&py, TEST);
    let dir = temp_dir("rust-writes");
    let path = dir.join("app").join("tokens.json");
    let store = JsonFileTokenStore::new(&path);
    let extra = json!({"issuer": "https://auth.globus.org", "nested": {"list": [1, "two", null]}});
    let full = Token::new(
        "transfer.api.globus.org",
        "at-1",
        "urn:a urn:b",
        Some(at(1_800_000_000)),
    )
    .with_refresh_token("rt-1")
    .with_identity_id("ae341a98-d274-11e5-b888-dbae3a8ba545")
    .with_extra(extra.as_object().unwrap().clone());
    let minimal = Token::new("groups.api.globus.org", "at-2", "urn:g", None);
    let alices = Token::new(
        "transfer.api.globus.org",
        "at-alice",
        "urn:a",
        Some(at(1_700_000_000)),
    )
    .with_token_type("DPoP");
    store
        .put(DEFAULT_NAMESPACE, &[full.clone(), minimal.clone()])
        .unwrap();
    store.put("alice", std::slice::from_ref(&alices)).unwrap();

    let read = python(
        &py,
        READ,
        &json!({"path": path, "namespaces": ["DEFAULT", "alice", "nobody"]}),
    );
    assert_eq!(
        read["DEFAULT"]["transfer.api.globus.org"],
        json!({
            "resource_server": "transfer.api.globus.org",
            "identity_id": "ae341a98-d274-11e5-b888-dbae3a8ba545",
            "scope": "urn:a urn:b",
            "access_token": "at-1",
            "refresh_token": "rt-1",
            "expires_at_seconds": 1_800_000_000,
            "token_type": "Bearer",
            "extra": extra,
            "expiry_year": 2027,
        })
    );
    // No lifetime from the server: a token the SDK sees as not expiring,
    // whose expiry its `datetime` still takes.
    assert_eq!(
        read["DEFAULT"]["groups.api.globus.org"],
        json!({
            "resource_server": "groups.api.globus.org",
            "scope": "urn:g",
            "access_token": "at-2",
            "expires_at_seconds": 253_402_214_400_i64,
            "token_type": "Bearer",
            "extra": {},
            "expiry_year": 9999,
        })
    );
    assert_eq!(
        read["alice"]["transfer.api.globus.org"]["access_token"],
        "at-alice"
    );
    assert_eq!(
        read["alice"]["transfer.api.globus.org"]["token_type"],
        "DPoP"
    );
    assert_eq!(read["nobody"], json!({}));

    // The SDK then stores a token of its own: what Rust wrote is still
    // there, every field of it (the SDK writes back the entries it did not
    // replace as it read them).
    python(
        &py,
        r#"
import json, sys
from globus_sdk.token_storage import JSONTokenStorage, TokenStorageData
args = json.load(sys.stdin)
JSONTokenStorage(args["path"]).store_token_data_by_resource_server({
    "search.api.globus.org": TokenStorageData(
        "search.api.globus.org", None, "urn:s", "at-py", None, 1_900_000_000, "Bearer"),
})
print("null")
"#,
        &json!({"path": path}),
    );
    let again = JsonFileTokenStore::new(&path);
    assert_eq!(
        again
            .get(DEFAULT_NAMESPACE, "transfer.api.globus.org")
            .unwrap(),
        Some(full)
    );
    assert_eq!(
        again
            .get(DEFAULT_NAMESPACE, "groups.api.globus.org")
            .unwrap(),
        Some(minimal)
    );
    assert_eq!(
        again.get("alice", "transfer.api.globus.org").unwrap(),
        Some(alices)
    );
    let search = again
        .get(DEFAULT_NAMESPACE, "search.api.globus.org")
        .unwrap()
        .unwrap();
    assert_eq!(
        (search.access_token(), search.expires_at),
        ("at-py", Some(at(1_900_000_000)))
    );
    assert!(again.take_warnings().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_python_sdk_writes_and_rust_reads_every_field() {
    const TEST: &str = "the_python_sdk_writes_and_rust_reads_every_field";
    let Some(py) = sdk_python(TEST) else { return };
    show_version(&py, TEST);
    let dir = temp_dir("python-writes");
    let path = dir.join("tokens.json");
    // As GlobusApp stores a login: `store_token_response` of a token
    // response (two resource servers, a refresh token on one); and, for a
    // second person, `store_token_data_by_resource_server` with every field.
    let written = python(
        &py,
        r#"
import json, sys, requests, globus_sdk
from globus_sdk.token_storage import JSONTokenStorage, TokenStorageData
args = json.load(sys.stdin)
client = globus_sdk.NativeAppAuthClient("6e8c9d3e-0000-4000-8000-000000000000")
body = {"access_token": "at-auth", "scope": "openid profile", "resource_server": "auth.globus.org",
        "expires_in": 172800, "token_type": "Bearer", "refresh_token": "rt-auth",
        "other_tokens": [{"access_token": "at-transfer", "scope": "urn:t", "expires_in": 3600,
                          "resource_server": "transfer.api.globus.org", "token_type": "Bearer"}]}
response = requests.Response()
response.status_code = 200
response._content = json.dumps(body).encode()
response.headers["Content-Type"] = "application/json"
JSONTokenStorage(args["path"]).store_token_response(globus_sdk.OAuthTokenResponse(response, client))
JSONTokenStorage(args["path"], namespace="bob").store_token_data_by_resource_server({
    "flows.globus.org": TokenStorageData(
        resource_server="flows.globus.org", identity_id="b0b", scope="urn:f",
        access_token="at-bob", refresh_token="rt-bob", expires_at_seconds=1_750_000_000,
        token_type=None, extra={"dropped_by_the_sdk": 1}),
})
print(open(args["path"]).read())
"#,
        &json!({"path": path}),
    );
    let store = JsonFileTokenStore::new(&path);
    let auth = store
        .get(DEFAULT_NAMESPACE, "auth.globus.org")
        .unwrap()
        .unwrap();
    let file_auth = &written["data"]["DEFAULT"]["auth.globus.org"];
    assert_eq!(auth.access_token(), "at-auth");
    assert_eq!(auth.refresh_token(), Some("rt-auth"));
    assert_eq!(auth.scope, "openid profile");
    assert_eq!(auth.token_type, "Bearer");
    assert_eq!(auth.identity_id, None, "no id_token in the response");
    assert_eq!(
        auth.expires_at,
        Some(at(file_auth["expires_at_seconds"].as_u64().unwrap()))
    );
    let transfer = store
        .get(DEFAULT_NAMESPACE, "transfer.api.globus.org")
        .unwrap()
        .unwrap();
    assert_eq!(
        (transfer.access_token(), transfer.refresh_token()),
        ("at-transfer", None)
    );
    assert_eq!(store.get_all(DEFAULT_NAMESPACE).unwrap().len(), 2);

    let bob = store.get("bob", "flows.globus.org").unwrap().unwrap();
    assert_eq!(
        (
            bob.access_token(),
            bob.refresh_token(),
            bob.identity_id.as_deref(),
            bob.scope.as_str()
        ),
        ("at-bob", Some("rt-bob"), Some("b0b"), "urn:f")
    );
    assert_eq!(bob.expires_at, Some(at(1_750_000_000)));
    assert_eq!(
        bob.token_type, "Bearer",
        "the SDK's None token_type reads as Bearer"
    );
    // The SDK writes `to_dict()` without its extras: they never reach the
    // file, so there are none to read.
    assert!(written["data"]["bob"]["flows.globus.org"]
        .get("dropped_by_the_sdk")
        .is_none());
    assert!(bob.extra.is_empty());
    assert!(store
        .get(DEFAULT_NAMESPACE, "flows.globus.org")
        .unwrap()
        .is_none());
    assert!(store.take_warnings().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_format_1_file_of_the_sdk_is_read_and_migrated_as_the_sdk_does() {
    const TEST: &str = "a_format_1_file_of_the_sdk_is_read_and_migrated_as_the_sdk_does";
    let Some(py) = sdk_python(TEST) else { return };
    let dir = temp_dir("format-1");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokens.json");
    // The SDK's legacy `SimpleJSONFileAdapter` writes format 1.0.
    let written = python(
        &py,
        r#"
import json, sys, requests, globus_sdk
from globus_sdk.token_storage.legacy import SimpleJSONFileAdapter
args = json.load(sys.stdin)
client = globus_sdk.NativeAppAuthClient("6e8c9d3e-0000-4000-8000-000000000000")
body = {"access_token": "at-v1", "scope": "urn:t", "resource_server": "transfer.api.globus.org",
        "expires_in": 3600, "token_type": "Bearer", "refresh_token": "rt-v1", "other_tokens": []}
response = requests.Response()
response.status_code = 200
response._content = json.dumps(body).encode()
response.headers["Content-Type"] = "application/json"
SimpleJSONFileAdapter(args["path"]).store(globus_sdk.OAuthTokenResponse(response, client))
print(open(args["path"]).read())
"#,
        &json!({"path": path}),
    );
    assert_eq!(written["format_version"], "1.0");
    let store = JsonFileTokenStore::new(&path);
    let v1 = store
        .get(DEFAULT_NAMESPACE, "transfer.api.globus.org")
        .unwrap()
        .unwrap();
    assert_eq!(
        (v1.access_token(), v1.refresh_token()),
        ("at-v1", Some("rt-v1"))
    );

    store
        .put(
            DEFAULT_NAMESPACE,
            &[Token::new("groups.api.globus.org", "at-g", "urn:g", None)],
        )
        .unwrap();
    let migrated: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(migrated["format_version"], "2.0");
    assert!(migrated.get("by_rs").is_none());
    let read = python(&py, READ, &json!({"path": path, "namespaces": ["DEFAULT"]}));
    assert_eq!(
        read["DEFAULT"]["transfer.api.globus.org"]["refresh_token"],
        "rt-v1"
    );
    assert_eq!(
        read["DEFAULT"]["groups.api.globus.org"]["access_token"],
        "at-g"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_default_path_is_globus_apps() {
    const TEST: &str = "the_default_path_is_globus_apps";
    let Some(py) = sdk_python(TEST) else { return };
    let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else {
        let _ = writeln!(std::io::stderr(), "SKIPPED {TEST}: HOME is not set");
        return;
    };
    let cases = json!([
        [
            "6e8c9d3e-0000-4000-8000-000000000000",
            "tower-gare",
            "production"
        ],
        ["cid", "My App", "sandbox"],
        ["cid", "a.b c", "preview"],
        ["cid", "x<>:\"/\\|?*y", "test"],
        ["cid", "ÉCOLE Zürich", "production"],
        ["cid", "tab\there\u{200b}", "integration"],
        ["cid", "日本語", "staging"],
        ["cid", "con1", ""],
    ]);
    // The SDK under a home of its own (`for_globus_app` creates the
    // folders); both paths are compared below their homes.
    let python_home = temp_dir("home");
    let mut command = Command::new(&py);
    command.env("HOME", &python_home);
    let paths = run_python(
        command,
        r#"
import json, sys
from globus_sdk import GlobusAppConfig
from globus_sdk.token_storage import JSONTokenStorage
out = []
for client_id, app_name, environment in json.load(sys.stdin):
    config = GlobusAppConfig(environment=environment)
    out.append(JSONTokenStorage.for_globus_app(client_id, app_name, config, "DEFAULT").filepath)
print(json.dumps(out))
"#,
        &cases,
    );
    for (case, python_path) in cases
        .as_array()
        .unwrap()
        .iter()
        .zip(paths.as_array().unwrap())
    {
        let [client_id, app_name, environment] = [0, 1, 2].map(|i| case[i].as_str().unwrap());
        let ours = JsonFileTokenStore::default_path_in(client_id, app_name, environment).unwrap();
        let theirs = Path::new(python_path.as_str().unwrap());
        assert_eq!(
            ours.strip_prefix(&home).unwrap(),
            theirs.strip_prefix(&python_home).unwrap(),
            "{case}"
        );
    }
    std::fs::remove_dir_all(&python_home).unwrap();
}
