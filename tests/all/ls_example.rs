//! `examples/ls_with_session_handling.rs` run as a user runs it: the real
//! binary, in a process of its own, against a Globus of the suite's own on
//! loopback (`support::globus_fake`), with the test as the person: it reads
//! each authorize URL from the example's stderr, signs in at the fake as
//! the URL asks, and pastes the code on the example's stdin.
//!
//! What a person sees, in order: a first login (no tokens yet), whose
//! Transfer token has the collection's `data_access` consent; Transfer's
//! 502 `ExternalError.DirListingFailed.LoginFailed` asking for a session
//! from `uni.edu`; exactly one more login, with `prompt=login` and that
//! domain; then the names. A second run logs in no more (the tokens are in
//! `GlobusApp`'s token file for `ls-session`, which the Python SDK reads);
//! another collection brings Transfer's 403 `ConsentRequired` and one login
//! for its consent. A bad code is exit code 3, an HTTP error 1, a usage
//! error 2.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::Value;

use crate::e2e_fauxbus::{python_reads, sdk_python};
use crate::support::example_binary;
use crate::support::globus_fake::{data_access, Collection, GlobusFake, TRANSFER, TRANSFER_ALL};

const CLIENT_ID: &str = "15e55100-0000-4000-8000-00000000c1d0";
const ACCOUNT: &str = "a11ce000-0000-4000-8000-00000000a11c";
/// A mapped collection that wants a session from `uni.edu`.
const UNI: &str = "c0110000-0000-4000-8000-000000000001";
/// A mapped collection with no session policy.
const PLAIN: &str = "c0110000-0000-4000-8000-000000000002";
/// A collection the fake does not know.
const UNKNOWN: &str = "c0110000-0000-4000-8000-0000000000ff";

fn fake() -> GlobusFake {
    GlobusFake::start(
        CLIENT_ID,
        ACCOUNT,
        &[
            (
                UNI,
                Collection {
                    domain: Some("uni.edu".into()),
                    entries: vec![
                        ("docs".into(), "dir"),
                        ("notes.txt".into(), "file"),
                        ("results".into(), "dir"),
                    ],
                },
            ),
            (
                PLAIN,
                Collection {
                    domain: None,
                    entries: vec![("data.csv".into(), "file"), ("raw".into(), "dir")],
                },
            ),
        ],
    )
}

/// The scope the example asks Transfer's token for: Python's
/// `TransferClient.add_app_data_access_scope(collection)`.
fn transfer_scope(collection: &str) -> String {
    format!("{TRANSFER_ALL}[*{}]", data_access(collection))
}

/// What the person does with each authorize URL.
#[derive(Clone, Copy)]
enum Person {
    /// Signs in at the fake as the URL asks and pastes the code.
    Approves,
    /// Pastes this instead of a code.
    Pastes(&'static str),
    /// Is not there: the example's stdin is closed.
    Away,
}

/// One run: exit code, stdout, stderr, and the authorize URLs it printed.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    logins: Vec<String>,
}

/// A fresh HOME, mode 0700 (the token store refuses folders others may
/// write), removed at the end.
struct Home(PathBuf);

impl Home {
    fn new(test: &str) -> Home {
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tower-gare-ls-{test}-{}-{}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        Home(path)
    }

    /// Where Python's `UserApp("ls-session", client_id=CLIENT_ID)` keeps
    /// its tokens.
    fn token_file(&self) -> PathBuf {
        self.0
            .join(".globus/app")
            .join(CLIENT_ID)
            .join("ls-session/tokens.json")
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the example with `COLLECTION_ID=collection` (unset when `None`)
/// and `args`, against `fake`, in `home`, with `person` at its terminal.
fn run(
    fake: &GlobusFake,
    home: &Home,
    collection: Option<&str>,
    args: &[&str],
    person: Person,
) -> Run {
    let base = &fake.base;
    let mut command = Command::new(example_binary("ls_with_session_handling"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home.0)
        .env("GLOBUS_CLIENT_ID", CLIENT_ID)
        .env("GLOBUS_SDK_SERVICE_URL_AUTH", format!("{base}/"))
        // Without the slash: Python's `get_service_url` hands on what it
        // is given, and so must the example.
        .env("GLOBUS_SDK_SERVICE_URL_TRANSFER", base)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(collection) = collection {
        command.env("COLLECTION_ID", collection);
    }
    let mut child = command.spawn().unwrap();
    let mut stdin = child
        .stdin
        .take()
        .filter(|_| !matches!(person, Person::Away));
    let (stdout, lines) = crate::support::watch(&mut child);

    let authorize = format!("{base}/v2/oauth2/authorize?");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stderr = String::new();
    let mut logins = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(left) {
            Ok(line) => line,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the example {args:?} did not finish in 60 s; stderr:\n{stderr}");
            }
        };
        stderr.push_str(&line);
        stderr.push('\n');
        // The prompt's URL, alone on its line.
        if line.starts_with(&authorize) {
            assert!(!line.trim_end().contains(' '), "the URL alone: {line:?}");
            logins.push(line.trim_end().to_owned());
            if let Some(stdin) = stdin.as_mut() {
                let code = match person {
                    Person::Approves => fake.approve(&line),
                    Person::Pastes(text) => text.to_owned(),
                    Person::Away => unreachable!(),
                };
                writeln!(stdin, "{code}").unwrap();
                stdin.flush().unwrap();
            }
        }
    }
    let code = child.wait().unwrap().code();
    Run {
        code,
        stdout: stdout.join().unwrap(),
        stderr,
        logins,
    }
}

/// Where the Python guide's `UserApp("ls-session", client_id=CLIENT_ID)`
/// keeps its tokens under `home`, and the Transfer token it finds there.
/// The app's own storage, not its validating wrapper: validating a
/// dependent scope asks Globus Auth for the person's consents.
fn user_app_reads(python: &std::path::Path, home: &Home) -> Value {
    const READ: &str = r#"
import json, sys
import globus_sdk
app = globus_sdk.UserApp("ls-session", client_id=sys.argv[1])
storage = app.token_storage.token_storage
token = storage.get_token_data("transfer.api.globus.org")
print(json.dumps({
    "path": str(storage.filepath),
    "namespace": storage.namespace,
    "access_token": token.access_token if token else None,
}))
"#;
    let output = Command::new(python)
        .args(["-c", READ, CLIENT_ID])
        .env("HOME", &home.0)
        .env_remove("GLOBUS_SDK_ENVIRONMENT")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "UserApp could not read the tokens: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `name` of the query of `url`, decoded.
fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The scopes of an authorize URL, one string each.
fn scopes(url: &str) -> Vec<String> {
    param(url, "scope")
        .unwrap_or_default()
        .split(' ')
        .map(str::to_owned)
        .collect()
}

#[test]
fn ls_logs_in_once_for_the_session_gare_and_then_lists() {
    const TEST: &str = "ls_logs_in_once_for_the_session_gare_and_then_lists";
    let fake = fake();
    let home = Home::new("session");

    // The first run: a login (no tokens yet), Transfer's 502 for the
    // session, one login with prompt=login from uni.edu, the listing.
    let run = run(&fake, &home, Some(UNI), &[], Person::Approves);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stdout, "docs/\nnotes.txt\nresults/\n");
    assert_eq!(run.logins.len(), 2, "{run:#?}");
    assert_eq!(
        fake.ls_statuses(),
        [StatusCode::BAD_GATEWAY, StatusCode::OK],
        "{run:#?}"
    );
    let [first, session] = &run.logins[..] else {
        unreachable!()
    };
    // The first login asks what `UserApp` + `add_app_data_access_scope`
    // ask: the ID token's `openid`, Transfer with the data_access
    // dependency; nothing of the session yet.
    assert!(scopes(first).contains(&"openid".to_owned()), "{first}");
    assert!(scopes(first).contains(&transfer_scope(UNI)), "{first}");
    assert_eq!(param(first, "prompt"), None, "{first}");
    assert_eq!(
        param(first, "session_required_single_domain"),
        None,
        "{first}"
    );
    // The session login: a fresh one, from uni.edu, for the same scopes.
    assert_eq!(
        param(session, "prompt").as_deref(),
        Some("login"),
        "{session}"
    );
    assert_eq!(
        param(session, "session_required_single_domain").as_deref(),
        Some("uni.edu"),
        "{session}"
    );
    assert!(scopes(session).contains(&transfer_scope(UNI)), "{session}");
    // The service's message is shown, as the service's.
    assert!(
        run.stderr.contains(&format!(
            "Message from the service: {UNI} requires a session from uni.edu"
        )),
        "{run:#?}"
    );
    // What the person did at Globus Auth: a plain sign-in, then one from
    // uni.edu, which is what Transfer then found in the token's session.
    let approvals = fake.approvals();
    assert_eq!(approvals.len(), 2);
    assert_eq!(approvals[0].param("session_required_single_domain"), None);
    assert_eq!(
        approvals[1].param("session_required_single_domain"),
        Some("uni.edu")
    );
    if std::env::var_os("LS_EXAMPLE_SHOW").is_some() {
        // What a person sees, for the README.
        let _ = writeln!(std::io::stderr(), "{}", run.stderr);
    }

    // The second run: the token file has what it needs.
    let again = self::run(&fake, &home, Some(UNI), &[], Person::Away);
    assert_eq!(again.code, Some(0), "{again:#?}");
    assert!(again.logins.is_empty(), "{again:#?}");
    assert_eq!(again.stdout, run.stdout);

    // The token file is `GlobusApp`'s for `ls-session`: the Python SDK
    // reads the Transfer token, with its identity, and Transfer takes it.
    let file = home.token_file();
    assert!(file.is_file(), "no token file at {}", file.display());
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let stored = doc["data"]["DEFAULT"][TRANSFER]["access_token"]
        .as_str()
        .expect("a Transfer token in namespace DEFAULT")
        .to_owned();
    assert!(fake.issued(&stored), "{doc}");
    if let Some(python) = sdk_python(TEST) {
        let tokens = python_reads(&python, &file);
        assert_eq!(
            tokens[TRANSFER]["access_token"],
            stored.as_str(),
            "{tokens}"
        );
        assert_eq!(tokens[TRANSFER]["scope"], TRANSFER_ALL, "{tokens}");
        assert_eq!(tokens[TRANSFER]["identity_id"], ACCOUNT, "{tokens}");
        assert_eq!(
            tokens["auth.globus.org"]["identity_id"], ACCOUNT,
            "{tokens}"
        );
        // And the guide's own `UserApp("ls-session", client_id=...)`, in
        // the same HOME, finds this file and this token.
        let found = user_app_reads(&python, &home);
        assert_eq!(found["path"], file.to_str().unwrap(), "{found}");
        assert_eq!(found["namespace"], "DEFAULT", "{found}");
        assert_eq!(found["access_token"], stored.as_str(), "{found}");
    }
}

#[test]
fn ls_of_another_collection_logs_in_once_for_its_consent() {
    let fake = fake();
    let home = Home::new("consent");
    let run = run(&fake, &home, Some(UNI), &[], Person::Approves);
    assert_eq!((run.code, run.logins.len()), (Some(0), 2), "{run:#?}");

    // The stored token has no consent for PLAIN's data_access: Transfer's
    // 403 ConsentRequired, one login that asks for it (no fresh sign-in:
    // it is a consent, not a session), and the listing of the path given.
    let plain = self::run(&fake, &home, Some(PLAIN), &["/projects/"], Person::Approves);
    assert_eq!(plain.code, Some(0), "{plain:#?}");
    assert_eq!(plain.stdout, "data.csv\nraw/\n");
    assert_eq!(plain.logins.len(), 1, "{plain:#?}");
    let consent = &plain.logins[0];
    assert!(
        scopes(consent).contains(&transfer_scope(PLAIN)),
        "{consent}"
    );
    assert_eq!(param(consent, "prompt"), None, "{consent}");
    assert_eq!(
        fake.ls_statuses()[2..],
        [StatusCode::FORBIDDEN, StatusCode::OK],
        "{plain:#?}"
    );
}

#[test]
fn ls_exits_3_when_the_pasted_code_is_bad() {
    let fake = fake();
    let home = Home::new("badcode");
    let run = run(&fake, &home, Some(UNI), &[], Person::Pastes("not-a-code"));
    assert_eq!(run.code, Some(3), "{run:#?}");
    assert_eq!(run.logins.len(), 1, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(run.stderr.contains("login failed"), "{run:#?}");
    assert!(fake.ls_statuses().is_empty(), "no token, no ls");
}

#[test]
fn ls_exits_1_on_an_http_error_and_2_on_a_usage_error() {
    let fake = fake();
    let home = Home::new("errors");

    // No COLLECTION_ID: a usage error, before anything is asked.
    let run = run(&fake, &home, None, &[], Person::Away);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("COLLECTION_ID"), "{run:#?}");
    assert!(run.logins.is_empty());

    // A collection Transfer does not know: 404, exit code 1, Transfer's
    // words on stderr and nothing on stdout.
    let run = self::run(&fake, &home, Some(UNKNOWN), &[], Person::Approves);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.logins.len(), 1, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(run.stderr.contains("404"), "{run:#?}");
    assert!(run.stderr.contains("EndpointNotFound"), "{run:#?}");
    assert_eq!(fake.ls_statuses(), [StatusCode::NOT_FOUND]);
}

/// The path is the one given, and an unset one is the home folder: `ls`
/// asks Transfer for it.
#[test]
fn ls_sends_the_path() {
    let fake = fake();
    let home = Home::new("path");
    let run = run(&fake, &home, Some(PLAIN), &[], Person::Approves);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stdout, "data.csv\nraw/\n");
    assert_eq!(fake.ls_paths(), ["/~/"]);
    let run = self::run(&fake, &home, Some(PLAIN), &["/a b/ü"], Person::Away);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(fake.ls_paths(), ["/~/", "/a b/ü"]);
}
