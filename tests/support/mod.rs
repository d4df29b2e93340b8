//! Scaffolding the test modules share. The loopback server and the response
//! builders are the examples' own (`crate::common`); the reauthenticator and
//! scripted services are the crate's `testing` helpers.
//!
//! `counting.rs` and `ok200.rs`, beside this file, are not modules of the
//! suite: `tests/memory.rs` and the benches include them with `#[path]`.

#[cfg(feature = "login")]
pub mod fauxbus;
#[cfg(feature = "rustls")]
pub mod globus_fake;
#[cfg(feature = "login")]
pub mod oidc;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::common::{reply, serve};

/// A consent GARE as Transfer sends it, byte for byte.
pub const CONSENT_GARE: &str = r#"{"code": "ConsentRequired", "authorization_parameters": {"session_message": "needs consent", "required_scopes": ["urn:globus:auth:scope:transfer.api.globus.org:all"]}, "request_id": "r1"}"#;

/// The token the test servers want and the test reauthenticators give.
pub const TOKEN: &str = "fresh-token-123";

/// Whether `req` carries `Authorization: Bearer <token>`.
pub fn authorized<B>(req: &Request<B>, token: &str) -> bool {
    crate::common::bearer(req).as_deref() == Some(token)
}

/// A body's bytes, all of them.
pub async fn body_bytes<B>(body: B) -> Bytes
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    body.collect().await.unwrap().to_bytes()
}

/// A plain-HTTP hyper-util client for request bodies of type `B`.
pub fn client<B>() -> Client<HttpConnector, B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Client::builder(TokioExecutor::new()).build_http()
}

/// SHA-256 of `bytes`, in hex: what the loopback servers answer to prove
/// they got a body whole.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Two loopback servers for the cross-origin guard, as [`redirecting`]
/// starts them.
pub struct Redirecting {
    /// `/elsewhere` redirects to `b`; `/here` redirects to `a`'s own
    /// `/protected`, which answers a consent GARE until it gets `TOKEN`.
    pub a: SocketAddr,
    /// Answers every request with a consent GARE.
    pub b: SocketAddr,
    /// How many requests `b` got.
    pub b_hits: Arc<AtomicUsize>,
}

/// Starts the servers of [`Redirecting`], redirecting with `status`
/// (302, 307, ...).
pub async fn redirecting(status: StatusCode) -> Redirecting {
    let b_hits = Arc::new(AtomicUsize::new(0));
    let counter = b_hits.clone();
    let b = serve(move |_req| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { reply(StatusCode::FORBIDDEN, CONSENT_GARE) }
    })
    .await;
    let a = serve(move |req: Request<Incoming>| async move {
        let location = match req.uri().path() {
            "/elsewhere" => format!("http://{b}/moved"),
            "/here" => "/protected".to_owned(),
            _ if authorized(&req, TOKEN) => return reply(StatusCode::OK, "protected"),
            _ => return reply(StatusCode::FORBIDDEN, CONSENT_GARE),
        };
        let mut response = reply(status, "");
        response
            .headers_mut()
            .insert(http::header::LOCATION, location.parse().unwrap());
        response
    })
    .await;
    Redirecting { a, b, b_hits }
}

/// What a running example says: its stdout, read whole on a thread (join
/// it once the example exits), and its stderr, line by line as it comes
/// (a test answers the login it asks for while it runs).
#[cfg(feature = "login")]
pub fn watch(
    child: &mut std::process::Child,
) -> (
    std::thread::JoinHandle<String>,
    std::sync::mpsc::Receiver<String>,
) {
    use std::io::{BufRead, Read};
    let mut stdout = child.stdout.take().expect("stdout piped");
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    (stdout, lines)
}

/// An example's binary, run as a user runs it: the one beside this test
/// binary (`<target>/<profile>/examples/`) when it is newer than every
/// source it is built from; else built once per test run, with this test
/// binary's features (`cargo test --test all` builds no example).
#[cfg(feature = "login")]
pub fn example_binary(name: &str) -> std::path::PathBuf {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;
    static BINARIES: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    // Held while building: two tests that want one example build it once.
    let mut binaries = BINARIES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = binaries.get_or_insert_with(HashMap::new).get(name) {
        return path.clone();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().unwrap();
    // <target>/<profile>/deps/all-<hash>
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let beside = profile
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let sources = [
        root.join("src"),
        root.join("examples").join(format!("{name}.rs")),
        root.join("examples/common"),
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
    ];
    let built = std::fs::metadata(&beside).and_then(|m| m.modified());
    let path = if built.is_ok_and(|built| sources.iter().all(|s| newest(s) <= built)) {
        beside
    } else {
        let features: Vec<&str> = [
            ("login", cfg!(feature = "login")),
            ("reqwest", cfg!(feature = "reqwest")),
            ("rustls", cfg!(feature = "rustls")),
            ("testing", cfg!(feature = "testing")),
            ("tracing", cfg!(feature = "tracing")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        let mut cargo = std::process::Command::new(env!("CARGO"));
        cargo.current_dir(root).args([
            "build",
            "--example",
            name,
            "--message-format=json-render-diagnostics",
            "--no-default-features",
            "--features",
            &features.join(","),
        ]);
        if profile.file_name().is_some_and(|p| p == "release") {
            cargo.arg("--release");
        }
        let output = cargo.output().unwrap();
        assert!(
            output.status.success(),
            "cargo build --example {name} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo names the example's executable")
    };
    binaries
        .get_or_insert_with(HashMap::new)
        .insert(name.to_owned(), path.clone());
    path
}

/// When `path` (a file, or everything under a folder) last changed.
#[cfg(feature = "login")]
fn newest(path: &std::path::Path) -> std::time::SystemTime {
    use std::time::SystemTime;
    let Ok(meta) = std::fs::metadata(path) else {
        return SystemTime::UNIX_EPOCH;
    };
    let own = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    if !meta.is_dir() {
        return own;
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| newest(&entry.path()))
        .fold(own, SystemTime::max)
}
