//! fauxbus, the wire-level fake of Globus (`pip install fauxbus==0.4.0`), as
//! a test fixture: started on a free loopback port, signed into headlessly,
//! stopped when dropped; and [`Wire`], a client that records what went over
//! the wire to it.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use serde_json::{json, Value};
use tower_gare::login::{AuthorizationResponse, AuthorizeRequest, LoginError, Prompt, TokenClient};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub const ACCOUNT: &str = "b0c0a0d0-0000-4000-8000-00000000a11c";
pub const CLIENT_ID: &str = "c11e0700-0000-4000-8000-0000000c11e0";
pub const CLIENT_SECRET: &str = "fauxbus-test-secret";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";
pub const GROUPS_SCOPE: &str =
    "urn:globus:auth:scope:groups.api.globus.org:view_my_groups_and_memberships";
pub const TRANSFER_SCOPE: &str = "urn:globus:auth:scope:transfer.api.globus.org:all";

pub type Http = Client<HttpConnector, Full<Bytes>>;

pub fn http() -> Http {
    super::client()
}

pub struct Fauxbus {
    child: Child,
    pub base: String,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fauxbus `build.rs` found (`FAUXBUS`, `PATH`, or
/// `target/ci-venv/bin/fauxbus`). When it found none, the tests that use
/// this fixture are compiled `ignore`d (`cfg(fauxbus_missing)`), so they
/// reach here only when run with `--ignored`.
fn binary() -> &'static str {
    option_env!("TOWER_GARE_FAUXBUS").unwrap_or_else(|| {
        panic!("fauxbus was not found when the tests were built (pip install fauxbus==0.4.0; set FAUXBUS=/path/to/fauxbus)")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Fauxbus {
    /// A fresh fauxbus on a free port of 127.0.0.1, with
    /// `tests/data/fauxbus_seed.json`.
    pub fn start() -> Fauxbus {
        Fauxbus::start_with(|_seed, _base| {})
    }

    /// The same, with the seed changed by `edit` first; it gets the base
    /// URL (`http://127.0.0.1:PORT`), which redirect URIs must name.
    pub fn start_with(edit: impl Fn(&mut Value, &str)) -> Fauxbus {
        let bin = binary();
        let dir = std::env::temp_dir().join(format!(
            "tower-gare-fauxbus-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = TempDir(dir);
        for _attempt in 0..5 {
            let port = free_port();
            let base = format!("http://127.0.0.1:{port}");
            let mut seed: Value =
                serde_json::from_str(include_str!("../data/fauxbus_seed.json")).unwrap();
            seed["oidc"]["issuer"] = json!(base);
            edit(&mut seed, &base);
            let seed_path = dir.0.join("seed.json");
            std::fs::write(&seed_path, seed.to_string()).unwrap();
            let mut child = Command::new(bin)
                .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
                .arg("--seed")
                .arg(&seed_path)
                .args(["--issuer", &base, "--require-issued-tokens"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
            let stderr = child.stderr.take().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.contains("listening on") {
                        let _ = tx.send(());
                    }
                }
            });
            if rx.recv_timeout(Duration::from_secs(20)).is_ok() {
                return Fauxbus {
                    child,
                    base,
                    _dir: dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("fauxbus did not start");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Where it listens.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.base
            .trim_start_matches("http://")
            .parse()
            .expect("fauxbus's address")
    }

    /// Arms a failure rule (see fauxbus's README).
    pub async fn arm(&self, rule: Value) {
        let response = post_json(&http(), &self.url("/_fauxbus/failures"), &rule, None).await;
        assert!(response.0.is_success(), "arming {rule}: {:?}", response);
    }

    /// Moves fauxbus's clock `seconds` on: its tokens age, the client's
    /// clock does not move.
    pub async fn tick(&self, seconds: u64) {
        let response = post_json(
            &http(),
            &self.url("/_fauxbus/tick"),
            &json!({ "seconds": seconds }),
            None,
        )
        .await;
        assert!(response.0.is_success(), "tick: {:?}", response);
    }

    /// A GET of `path` straight to fauxbus (no layers) with `token`: its
    /// status, to ask fauxbus what it thinks of a token.
    pub async fn status_with(&self, path: &str, token: &str) -> StatusCode {
        let request = Request::get(self.url(path))
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        send(&http(), request).await.0
    }
}

impl Drop for Fauxbus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn send(http: &Http, request: Request<Full<Bytes>>) -> (StatusCode, http::HeaderMap, Bytes) {
    let response = http.request(request).await.expect("fauxbus answers");
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

async fn post_json(
    http: &Http,
    url: &str,
    doc: &Value,
    cookie: Option<&str>,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let mut request = Request::post(url).header("content-type", "application/json");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    send(
        http,
        request
            .body(Full::new(Bytes::from(doc.to_string())))
            .unwrap(),
    )
    .await
}

/// Signs in as `ACCOUNT` without a browser, and records every authorize URL.
#[derive(Clone)]
pub struct HeadlessPrompt {
    pub base: String,
    pub urls: Arc<Mutex<Vec<String>>>,
    /// Replace the code before handing it back (to provoke `invalid_grant`).
    pub bad_code: bool,
}

impl HeadlessPrompt {
    pub fn new(fauxbus: &Fauxbus) -> Self {
        HeadlessPrompt {
            base: fauxbus.base.clone(),
            urls: Arc::default(),
            bad_code: false,
        }
    }

    pub fn last_url(&self) -> String {
        self.urls
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a login happened")
    }

    pub fn logins(&self) -> usize {
        self.urls.lock().unwrap().len()
    }
}

fn location(headers: &http::HeaderMap) -> String {
    headers
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap()
        .to_owned()
}

impl Prompt for HeadlessPrompt {
    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        self.urls.lock().unwrap().push(request.url().to_owned());
        let next = sign_in(&self.base, request.url()).await;
        assert!(
            next.starts_with(request.redirect_uri()),
            "redirected to {next}"
        );
        let query = next.split_once('?').map(|(_, q)| q).unwrap_or("");
        let mut answer = AuthorizationResponse::from_query(query)?;
        if self.bad_code {
            answer.code = "not-a-code-fauxbus-issued".into();
        }
        Ok(answer)
    }
}

/// Signs in to fauxbus at `base` as `ACCOUNT` and follows `authorize_url`
/// as a browser would, through the login page when it asks for one
/// (`prompt=login`): the URL fauxbus sends the browser back to, with
/// `code` and `state`.
pub async fn sign_in(base: &str, authorize_url: &str) -> String {
    let http = http();
    let (status, headers, body) = post_json(
        &http,
        &format!("{base}/_fauxbus/auth/session"),
        &json!({"account": ACCOUNT}),
        None,
    )
    .await;
    assert_eq!(status, 200, "session: {body:?}");
    let cookie = headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let authorize = Request::get(authorize_url)
        .header("cookie", &cookie)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, headers, body) = send(&http, authorize).await;
    assert_eq!(status, 302, "authorize: {body:?}");
    let mut next = location(&headers);
    if next.starts_with("/_fauxbus/auth/login") {
        // prompt=login: complete the login page.
        let id = next
            .split_once("request=")
            .unwrap()
            .1
            .split('&')
            .next()
            .unwrap()
            .to_owned();
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("request", &id)
            .append_pair("account", ACCOUNT)
            .finish();
        let login = Request::post(format!("{base}/_fauxbus/auth/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", &cookie)
            .body(Full::new(Bytes::from(form)))
            .unwrap();
        let (status, headers, body) = send(&http, login).await;
        assert_eq!(status, 302, "login page: {body:?}");
        next = location(&headers);
    }
    next
}

/// One request a [`Wire`] sent, and fauxbus's status for it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub path: String,
    /// The bearer token it carried, if any.
    pub bearer: Option<String>,
    /// A token request's `grant_type`.
    pub grant_type: Option<String>,
    pub status: StatusCode,
}

/// A login's token client that records every request it sends (each grant
/// it asked for), sending over `H` (the transport's own client); and, as a
/// [`Tap`](crate::transport::Tap) below the login, what each API request
/// carried (the attaching layer's token) and got.
#[derive(Clone)]
pub struct Wire<H> {
    http: H,
    sent: Arc<Mutex<Vec<Sent>>>,
}

impl<H: TokenClient> Wire<H> {
    /// A recorder that sends over `http`.
    pub fn over(http: H) -> Self {
        Wire {
            http,
            sent: Arc::default(),
        }
    }
}

impl<H> Wire<H> {
    /// Everything sent so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    /// The token requests sent so far, by grant type.
    pub fn grants(&self) -> Vec<String> {
        self.sent()
            .into_iter()
            .filter_map(|sent| sent.grant_type)
            .collect()
    }

    /// What records the requests a client sends below its login
    /// (`Transport::client_tapped`), beside the token requests.
    #[cfg(feature = "reqwest")]
    pub fn tap(&self) -> crate::transport::Tap {
        let sent = Arc::clone(&self.sent);
        Arc::new(move |tapped: crate::transport::Tapped| {
            let sent_one = Sent::of(
                tapped.uri.path(),
                &tapped.headers,
                &tapped.body,
                tapped.status,
            );
            sent.lock().unwrap().push(sent_one);
        })
    }
}

impl Sent {
    fn of(path: &str, headers: &http::HeaderMap, body: &[u8], status: StatusCode) -> Sent {
        let bearer = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let grant_type = (path == "/v2/oauth2/token")
            .then(|| {
                form_urlencoded::parse(body)
                    .find(|(k, _)| k == "grant_type")
                    .map(|(_, v)| v.into_owned())
            })
            .flatten();
        Sent {
            path: path.to_owned(),
            bearer,
            grant_type,
            status,
        }
    }
}

impl<H: TokenClient> tower::Service<Request<Full<Bytes>>> for Wire<H> {
    type Response = Response<H::Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let (path, headers) = (parts.uri.path().to_owned(), parts.headers.clone());
            let response = this
                .http
                .send(Request::from_parts(parts, Full::new(body.clone())))
                .await?;
            let sent = Sent::of(&path, &headers, &body, response.status());
            this.sent.lock().unwrap().push(sent);
            Ok(response)
        })
    }
}
