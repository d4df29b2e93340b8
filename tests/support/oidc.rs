//! node-oidc-provider (`tests/oidc/server.mjs`, npm `oidc-provider` 9.13.3),
//! a real OAuth 2.0 / OpenID Connect server, as a test fixture: started from
//! `tests/oidc/node_modules` on a free loopback port, signed into by a
//! headless browser, stopped when dropped. State is in memory: every server
//! starts with no tokens.
//!
//! Without `node` or `tests/oidc/node_modules`, [`OidcServer::start`] prints
//! a `SKIPPED` line and returns `None`, unless `REQUIRE_OIDC=1`, under which
//! it panics. `NODE` names the node binary (default: `node` on `PATH`).
//!
//! Only always-present dev-dependencies are used (hyper's client through
//! hyper-util, no `form_urlencoded`), so this compiles under every feature
//! set.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use serde_json::Value;

/// The public client: no secret, PKCE S256 required, `client_id` in the
/// form at `/token`; grants authorization_code and refresh_token.
pub const NATIVE_CLIENT_ID: &str = "native-app";
/// The confidential client, HTTP Basic at `/token`; grants
/// authorization_code, refresh_token and client_credentials.
pub const SERVICE_CLIENT_ID: &str = "service-client";
pub const SERVICE_CLIENT_SECRET: &str = "service-secret";
/// The one resource server: every access token's `aud`.
pub const RESOURCE: &str = "https://api.example.test";
/// The scopes the server knows. A refresh token is issued only with
/// `offline_access`; a token response's `scope` names the API scopes only.
pub const SCOPES: [&str; 4] = ["openid", "offline_access", "files:read", "files:write"];
/// Both clients' redirect URI unless [`OidcConfig::redirect_uri`] says
/// otherwise (exact match).
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";
/// The account the default [`Browser`] signs in as (the ID token's `sub`).
pub const ACCOUNT: &str = "alice";
/// How long [`OidcServer::start`] waits for the ready line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one HTTP exchange with the server may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

pub type Http = Client<HttpConnector, Full<Bytes>>;

pub fn http() -> Http {
    Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// What a server is started with.
#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// Access token lifetime, seconds (`ACCESS_TTL`).
    pub access_ttl: u64,
    /// The clients' registered redirect URI (`REDIRECT_URI`).
    pub redirect_uri: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            access_ttl: 5,
            redirect_uri: DEFAULT_REDIRECT_URI.to_owned(),
        }
    }
}

impl OidcConfig {
    pub fn access_ttl(mut self, seconds: u64) -> Self {
        self.access_ttl = seconds;
        self
    }

    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = uri.into();
        self
    }
}

/// A running `server.mjs`; killed when dropped.
pub struct OidcServer {
    child: Child,
    /// `http://127.0.0.1:PORT`, no trailing slash; also the `iss`.
    pub issuer: String,
    pub access_ttl: u64,
    pub redirect_uri: String,
    /// How long the server took to print its ready line.
    pub startup: Duration,
    log: Arc<Mutex<String>>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

fn node() -> String {
    std::env::var("NODE").unwrap_or_else(|_| "node".to_owned())
}

/// Why the server cannot run here, if it cannot.
fn missing() -> Option<String> {
    let node = node();
    let works = Command::new(&node)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !works {
        return Some(format!(
            "`{node} --version` failed: node is not installed (set NODE=/path/to/node)"
        ));
    }
    let modules = dir().join("node_modules");
    if !modules.join("oidc-provider/package.json").is_file() {
        return Some(format!(
            "{} has no oidc-provider (run `npm ci --no-audit --no-fund` in {})",
            modules.display(),
            dir().display()
        ));
    }
    None
}

fn collect(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<String>>,
    ready: Option<std::sync::mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        let mut ready = ready;
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(issuer) = line.split_once("listening on ").map(|(_, url)| url.trim()) {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(issuer.to_owned());
                }
            }
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
}

impl OidcServer {
    /// A fresh server with the defaults (`ACCESS_TTL` 5 s, the default
    /// redirect URI), or `None` after a `SKIPPED {test}: ...` line on stderr
    /// when node or `tests/oidc/node_modules` is missing; with
    /// `REQUIRE_OIDC=1` that fails the test instead.
    pub fn start(test: &str) -> Option<OidcServer> {
        Self::start_with(test, OidcConfig::default())
    }

    pub fn start_with(test: &str, config: OidcConfig) -> Option<OidcServer> {
        if let Some(why) = missing() {
            if std::env::var("REQUIRE_OIDC").is_ok_and(|v| v == "1") {
                panic!("REQUIRE_OIDC=1 but the OAuth2 test server cannot run: {why}");
            }
            eprintln!("SKIPPED {test}: {why}");
            return None;
        }
        let began = Instant::now();
        // Port 0: the server binds a free port and names it in its ready
        // line, so no port is guessed and none can be taken in between.
        let mut child = Command::new(node())
            .arg(dir().join("server.mjs"))
            .arg("0")
            .current_dir(dir())
            .env("ACCESS_TTL", config.access_ttl.to_string())
            .env("REDIRECT_URI", &config.redirect_uri)
            // The server exits when this pipe closes, so a test process
            // killed before its Drop runs leaves no server behind.
            .env("OIDC_EXIT_WITH_STDIN", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} {}: {e}",
                    node(),
                    dir().join("server.mjs").display()
                )
            });
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        collect(child.stdout.take().unwrap(), log.clone(), Some(tx));
        collect(child.stderr.take().unwrap(), log.clone(), None);
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(issuer) => Some(OidcServer {
                child,
                issuer,
                access_ttl: config.access_ttl,
                redirect_uri: config.redirect_uri,
                startup: began.elapsed(),
                log,
            }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                // Let the readers take what is left.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "the OAuth2 test server did not print its ready line within {START_TIMEOUT:?} ({status:?}); its output:\n{}",
                    log.lock().unwrap()
                );
            }
        }
    }

    /// `issuer` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Everything the server printed so far (warnings, errors).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Signs in as [`ACCOUNT`] with a fresh [`Browser`] and returns the final
    /// redirect (`<redirect_uri>?code=...&state=...&iss=...`).
    pub async fn login(&self, authorize_url: &str) -> String {
        Browser::new().login(authorize_url).await
    }

    /// A form POST to `path`, with HTTP Basic when `basic` is given; the
    /// status and the body as JSON (a non-JSON body comes back as a string).
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (StatusCode, Value) {
        let mut request = Request::post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json");
        if let Some((id, secret)) = basic {
            let credentials =
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            request = request.header("authorization", format!("Basic {credentials}"));
        }
        let request = request
            .body(Full::new(Bytes::from(form_encode(form))))
            .unwrap();
        let (status, _, body) = send(&http(), request).await;
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        (status, value)
    }

    /// RFC 7662 introspection of any token, as the resource server would:
    /// `{"active": true, "aud", "scope", "exp", "client_id", "sub"?, ...}`
    /// or `{"active": false}` once expired or revoked.
    ///
    /// It asks as `service-client` (HTTP Basic): the server tells a public
    /// client about its own tokens only, so asking as `native-app` would
    /// call every client-credentials token inactive.
    pub async fn introspect(&self, token: &str) -> Value {
        let (status, body) = self
            .post_form(
                "/token/introspection",
                &[("token", token)],
                Some((SERVICE_CLIENT_ID, SERVICE_CLIENT_SECRET)),
            )
            .await;
        assert_eq!(status, 200, "introspection: {body}");
        body
    }

    /// Whether [`introspect`](Self::introspect) says `active: true`.
    pub async fn is_active(&self, token: &str) -> bool {
        self.introspect(token).await["active"] == Value::Bool(true)
    }

    /// RFC 7009 revocation out of band, as `client_id` (a public client:
    /// `native-app`; `service-client` authenticates with its secret). The
    /// server revokes only a client's own tokens, and revoking either token
    /// of a login also revokes the other tokens of that grant.
    pub async fn revoke(&self, token: &str, client_id: &str) -> StatusCode {
        let (status, _) = if client_id == SERVICE_CLIENT_ID {
            self.post_form(
                "/token/revocation",
                &[("token", token)],
                Some((SERVICE_CLIENT_ID, SERVICE_CLIENT_SECRET)),
            )
            .await
        } else {
            self.post_form(
                "/token/revocation",
                &[("token", token), ("client_id", client_id)],
                None,
            )
            .await
        };
        status
    }
}

impl Drop for OidcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn send(http: &Http, request: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, Bytes) {
    let what = format!("{} {}", request.method(), request.uri());
    let exchange = async {
        let response = http
            .request(request)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{what}: body: {e}"))
            .to_bytes();
        (parts.status, parts.headers, body)
    };
    tokio::time::timeout(HTTP_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {HTTP_TIMEOUT:?}"))
}

/// `application/x-www-form-urlencoded`.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn encode(out: &mut String, s: &str) {
        for &b in s.as_bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode(&mut out, name);
        out.push('=');
        encode(&mut out, value);
    }
    out
}

fn form_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(high), Some(low)) => {
                out.push(high << 4 | low);
                i += 2;
            }
            (b, _, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded value of `name` in `url`'s query, if present.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or("");
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(k) == name).then(|| form_decode(v))
    })
}

/// `scheme://authority` of an absolute URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

/// The path of an absolute URL, without query.
fn path(url: &str) -> &str {
    let rest = &url[origin(url).len()..];
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    match &rest[..end] {
        "" => "/",
        p => p,
    }
}

struct Cookie {
    name: String,
    value: String,
    path: String,
}

/// A headless browser for the server's development login and consent pages:
/// a cookie jar (names, values and paths), redirects followed by hand. Its
/// session cookie survives between logins, as a real browser's would, so a
/// second login may skip the login page or, without `prompt=consent`, every
/// page.
pub struct Browser {
    account: String,
    http: Http,
    jar: Mutex<Vec<Cookie>>,
    authorize_urls: Mutex<Vec<String>>,
    pages: Mutex<Vec<String>>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

enum Choice {
    Accept,
    Deny,
}

impl Browser {
    /// A browser that signs in as [`ACCOUNT`].
    pub fn new() -> Self {
        Self::as_account(ACCOUNT)
    }

    /// A browser that signs in as `account` (any name: it becomes `sub`).
    pub fn as_account(account: &str) -> Self {
        Browser {
            account: account.to_owned(),
            http: http(),
            jar: Mutex::default(),
            authorize_urls: Mutex::default(),
            pages: Mutex::default(),
        }
    }

    /// Follows `authorize_url` (`GET /auth?...`), fills the login page with
    /// this browser's account and any password, accepts the consent page,
    /// and returns the redirect to the client: `<redirect_uri>?code&state&iss`,
    /// or `?error=...` when the server refuses there. Panics on anything
    /// else (an error page, say for an unregistered redirect URI).
    pub async fn login(&self, authorize_url: &str) -> String {
        self.walk(authorize_url, Choice::Accept).await
    }

    /// As [`login`](Self::login), but aborts at the first page, as a user
    /// who declines: the redirect carries `error=access_denied`.
    pub async fn deny(&self, authorize_url: &str) -> String {
        self.walk(authorize_url, Choice::Deny).await
    }

    /// How many logins this browser was sent through.
    pub fn logins(&self) -> usize {
        self.authorize_urls.lock().unwrap().len()
    }

    /// The authorize URLs it was sent to, oldest first.
    pub fn authorize_urls(&self) -> Vec<String> {
        self.authorize_urls.lock().unwrap().clone()
    }

    /// The interaction pages it met, oldest first: `"login"` or `"consent"`.
    pub fn pages(&self) -> Vec<String> {
        self.pages.lock().unwrap().clone()
    }

    fn cookie_header(&self, url: &str) -> Option<String> {
        let request_path = path(url);
        let jar = self.jar.lock().unwrap();
        let cookies: Vec<String> = jar
            .iter()
            .filter(|c| {
                request_path == c.path
                    || (request_path.starts_with(&c.path)
                        && (c.path.ends_with('/')
                            || request_path.as_bytes().get(c.path.len()) == Some(&b'/')))
            })
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!cookies.is_empty()).then(|| cookies.join("; "))
    }

    fn store_cookies(&self, url: &str, headers: &HeaderMap) {
        let mut jar = self.jar.lock().unwrap();
        for header in headers.get_all("set-cookie") {
            let Ok(header) = header.to_str() else {
                continue;
            };
            let mut parts = header.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
            let mut cookie_path = None;
            let mut expired = value.is_empty();
            for attribute in parts {
                let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
                let (key, val) = (key.trim().to_ascii_lowercase(), val.trim());
                match key.as_str() {
                    "path" if val.starts_with('/') => cookie_path = Some(val.to_owned()),
                    "max-age" => expired |= val.parse::<i64>().is_ok_and(|s| s <= 0),
                    "expires" => expired |= val.contains("1970"),
                    _ => {}
                }
            }
            // RFC 6265's default path: the request path up to its last '/'.
            let cookie_path = cookie_path.unwrap_or_else(|| {
                let p = path(url);
                match p.rfind('/') {
                    Some(0) | None => "/".to_owned(),
                    Some(i) => p[..i].to_owned(),
                }
            });
            jar.retain(|c| !(c.name == name && c.path == cookie_path));
            if !expired {
                jar.push(Cookie {
                    name,
                    value,
                    path: cookie_path,
                });
            }
        }
    }

    async fn visit(
        &self,
        method: Method,
        url: &str,
        form: Option<String>,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let mut request = Request::builder().method(method).uri(url);
        if let Some(cookie) = self.cookie_header(url) {
            request = request.header("cookie", cookie);
        }
        let body = match form {
            Some(form) => {
                request = request.header("content-type", "application/x-www-form-urlencoded");
                Bytes::from(form)
            }
            None => Bytes::new(),
        };
        let request = request.body(Full::new(body)).unwrap();
        let answer = send(&self.http, request).await;
        self.store_cookies(url, &answer.1);
        answer
    }

    async fn walk(&self, authorize_url: &str, choice: Choice) -> String {
        self.authorize_urls
            .lock()
            .unwrap()
            .push(authorize_url.to_owned());
        let issuer = origin(authorize_url).to_owned();
        let redirect_uri = query_param(authorize_url, "redirect_uri");
        let (mut method, mut url, mut form) = (Method::GET, authorize_url.to_owned(), None);
        for _step in 0..20 {
            let (status, headers, body) = self.visit(method.clone(), &url, form.take()).await;
            if status.is_redirection() {
                let location = headers
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or_else(|| panic!("{method} {url}: {status} without a Location"));
                let next = if location.starts_with('/') {
                    format!("{issuer}{location}")
                } else {
                    location.to_owned()
                };
                let to_client = redirect_uri.as_deref().is_some_and(|r| next.starts_with(r))
                    || origin(&next) != issuer;
                if to_client {
                    return next;
                }
                (method, url) = (Method::GET, next);
                continue;
            }
            let page = String::from_utf8_lossy(&body);
            let on_interaction = path(&url).starts_with("/interaction/");
            if status != StatusCode::OK || !on_interaction {
                panic!("the login stopped at {status} from {method} {url}:\n{page}");
            }
            let prompt = if page.contains(r#"name="prompt" value="login""#) {
                "login"
            } else if page.contains(r#"name="prompt" value="consent""#) {
                "consent"
            } else {
                panic!("{url}: neither a login nor a consent page:\n{page}");
            };
            self.pages.lock().unwrap().push(prompt.to_owned());
            match choice {
                Choice::Deny => {
                    (method, url) = (Method::GET, format!("{}/abort", url.trim_end_matches('/')));
                }
                Choice::Accept if prompt == "login" => {
                    method = Method::POST;
                    form = Some(form_encode(&[
                        ("prompt", "login"),
                        ("login", &self.account),
                        ("password", "any"),
                    ]));
                }
                Choice::Accept => {
                    method = Method::POST;
                    form = Some(form_encode(&[("prompt", "consent")]));
                }
            }
        }
        panic!("the login from {authorize_url} took more than 20 steps");
    }
}
