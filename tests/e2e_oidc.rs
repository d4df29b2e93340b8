//! A token's whole life through `Login::layer`, end to end against a real
//! OAuth 2.0 / OpenID Connect server that issues refresh tokens:
//! node-oidc-provider (`tests/oidc/`, started per test by
//! `tests/support/oidc.rs`, with access tokens that live seconds), a
//! resource server on loopback that checks every bearer token by RFC 7662
//! introspection, and a hyper-util client over real sockets. The person at
//! the prompt is the fixture's headless browser.
//!
//! Each runs twice, once per transport (`transport.rs`): `Login::layer()`
//! on a hyper-util client, and `Login::middleware()` on a reqwest client
//! whose login exchanges its tokens over reqwest too.
//!
//! These are the real-server twins of `tests/login_life.rs`: refresh before
//! expiry, a refused token refreshed and the request retried, rotation,
//! logout that revokes, client credentials, and `invalid_grant` on a
//! refresh (a login, or with no one to prompt, `LoginRequired`).
//!
//! Without node or `tests/oidc/node_modules` every test prints SKIPPED and
//! passes, unless `REQUIRE_OIDC=1`, under which they fail. Run:
//! `REQUIRE_OIDC=1 cargo test --all-features --test e2e_oidc`.
#![cfg(all(feature = "login", feature = "reqwest"))]

#[path = "support/oidc.rs"]
mod oidc;

#[path = "../examples/common/mod.rs"]
mod common;

#[path = "all/transport.rs"]
mod transport;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use oidc::{
    Browser, OidcConfig, OidcServer, NATIVE_CLIENT_ID, RESOURCE, SERVICE_CLIENT_ID,
    SERVICE_CLIENT_SECRET,
};
use serde_json::Value;
use tower::Service;
use tower_gare::login::{
    AuthorizationResponse, AuthorizeRequest, Login, LoginBuilder, LoginError, MemoryTokenStore,
    NeverPrompt, Prompt, RefreshTokens, ResourceServers, Token, TokenClient, TokenStore,
    DEFAULT_NAMESPACE,
};
use tower_gare::redrive::RedriveOutcome;
use transport::{both_transports, Client, Transport};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The scope every login here asks for on the resource server's behalf.
const API_SCOPE: &str = "files:read";
/// The longest one request through the layer may take (a login included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// The resource server

/// What the resource server answered, request by request: the bearer token
/// it was sent and the status it answered.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, StatusCode)>>>);

impl Seen {
    fn all(&self) -> Vec<(String, StatusCode)> {
        self.0.lock().unwrap().clone()
    }

    fn last(&self, n: usize) -> Vec<(String, StatusCode)> {
        let all = self.all();
        all[all.len().saturating_sub(n)..].to_vec()
    }

    fn refusals(&self) -> usize {
        self.all()
            .iter()
            .filter(|(_, status)| *status == StatusCode::UNAUTHORIZED)
            .count()
    }
}

/// A resource server on loopback, as a real one checks an opaque token:
/// RFC 7662 introspection at the authorization server for every request.
/// An active token for [`RESOURCE`] gets 200 and the introspection's
/// `sub`/`client_id`; any other gets 401 with RFC 6750's
/// `WWW-Authenticate: Bearer error="invalid_token"`. Returns its base URL.
async fn resource_server(server: Arc<OidcServer>, seen: Seen) -> String {
    let addr = common::serve(move |request| {
        let server = Arc::clone(&server);
        let seen = seen.clone();
        async move {
            let Some(token) = common::bearer(&request) else {
                let mut response = common::reply(StatusCode::UNAUTHORIZED, "{}");
                response.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer"),
                );
                return response;
            };
            let introspection = server.introspect(&token).await;
            let active =
                introspection["active"] == Value::Bool(true) && introspection["aud"] == RESOURCE;
            let status = if active {
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            };
            seen.0.lock().unwrap().push((token, status));
            if active {
                let body = serde_json::json!({
                    "sub": introspection["sub"],
                    "client_id": introspection["client_id"],
                });
                return common::reply(status, body.to_string());
            }
            let mut response = common::reply(status, r#"{"error":"invalid_token"}"#);
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
            response
        }
    })
    .await;
    format!("http://{addr}")
}

// ---------------------------------------------------------------------------
// The login's HTTP client, recorded

/// One request the login made to the authorization server.
#[derive(Clone, Debug)]
struct Call {
    /// `/token` or `/token/revocation`.
    path: String,
    /// The `grant_type` of a token request.
    grant_type: Option<String>,
    /// The `token` of a revocation.
    token: Option<String>,
    /// Whether the client authenticated with HTTP Basic.
    basic: bool,
    status: StatusCode,
    /// The OAuth2 `error` of a refusal.
    error: Option<String>,
}

/// The client a `Login` exchanges codes and refreshes over: a hyper-util
/// client that records every call and its answer.
#[derive(Clone)]
struct Recorder<H> {
    http: H,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl<H: TokenClient> Recorder<H> {
    /// A recorder that sends over the transport's own client.
    fn new<X: Transport<Http = H>>() -> Self {
        Recorder {
            http: X::http(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            calls: Arc::default(),
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The `grant_type` and status of every token request (revocations left out).
    fn grants(&self) -> Vec<(String, StatusCode)> {
        self.calls()
            .into_iter()
            .filter_map(|call| call.grant_type.map(|grant| (grant, call.status)))
            .collect()
    }
}

impl<H: TokenClient> Service<Request<Full<Bytes>>> for Recorder<H> {
    type Response = Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
            let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            let basic = parts
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("Basic "));
            let mut call = Call {
                path: parts.uri.path().to_owned(),
                grant_type: field("grant_type"),
                token: field("token"),
                basic,
                status: StatusCode::OK,
                error: None,
            };
            let response = this
                .http
                .send(Request::from_parts(parts, Full::new(body)))
                .await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(Into::into)?.to_bytes();
            call.status = parts.status;
            call.error = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|doc| doc["error"].as_str().map(str::to_owned));
            this.calls.lock().unwrap().push(call);
            Ok(Response::from_parts(parts, Full::new(body)))
        })
    }
}

// ---------------------------------------------------------------------------
// The person at the prompt

/// A prompt that hands the authorize URL to the fixture's headless browser
/// (which signs in and consents) and reads the redirect it comes back with,
/// counting the logins it was asked for.
#[derive(Clone)]
struct BrowserPrompt {
    browser: Arc<Browser>,
    asked: Arc<Mutex<Vec<AuthorizeRequest>>>,
}

impl BrowserPrompt {
    fn new() -> Self {
        BrowserPrompt {
            browser: Arc::new(Browser::new()),
            asked: Arc::default(),
        }
    }

    fn logins(&self) -> usize {
        self.asked.lock().unwrap().len()
    }
}

impl Prompt for BrowserPrompt {
    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        self.asked.lock().unwrap().push(request.clone());
        let redirect = self.browser.login(request.url()).await;
        let query = redirect.split_once('?').map_or("", |(_, query)| query);
        AuthorizationResponse::from_query(query)
    }
}

// ---------------------------------------------------------------------------
// Set-up

/// A fresh authorization server, and a resource server that checks its tokens.
struct World {
    server: Arc<OidcServer>,
    /// The resource server's base URL.
    api: String,
    seen: Seen,
}

impl World {
    /// `None` (after a SKIPPED line) when node or the server's
    /// `node_modules` is missing, unless `REQUIRE_OIDC=1`.
    async fn start<X: Transport>(test: &str, access_ttl: u64) -> Option<World> {
        let server = Arc::new(OidcServer::start_with(
            &format!("{test}-{}", X::NAME),
            OidcConfig::default().access_ttl(access_ttl),
        )?);
        let seen = Seen::default();
        let api = resource_server(Arc::clone(&server), seen.clone()).await;
        Some(World { server, api, seen })
    }

    fn url(&self) -> String {
        format!("{}/files", self.api)
    }

    /// The resource server's address.
    fn api_addr(&self) -> std::net::SocketAddr {
        self.api
            .trim_start_matches("http://")
            .parse()
            .expect("the resource server's address")
    }

    /// A login as `client_id` at this server (whose endpoints are not
    /// Globus Auth's paths), for the resource server's scope.
    fn login(&self, client_id: &str) -> LoginBuilder {
        let server = &self.server;
        Login::builder(client_id)
            .auth_base_url(&server.issuer)
            .token_url(server.url("/token"))
            .authorize_url(server.url("/auth"))
            .revoke_url(server.url("/token/revocation"))
            .redirect_uri(&server.redirect_uri)
            .resource_servers(ResourceServers::new().with(&format!("{}/", self.api), RESOURCE))
            .scope_requirements(RESOURCE, [API_SCOPE])
    }

    /// A person's login (the native app, PKCE) that asks for refresh tokens
    /// the OpenID way and refreshes `margin` before expiry.
    fn person(&self, margin: Duration) -> LoginBuilder {
        self.login(NATIVE_CLIENT_ID)
            .scopes(["openid"])
            .refresh_tokens(RefreshTokens::offline_access())
            .refresh_margin(margin)
    }

    /// Waits until the server calls `token` inactive (expired).
    async fn until_inactive(&self, token: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.server.is_active(token).await {
            assert!(Instant::now() < deadline, "the token never expired");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A refresh at the token endpoint out of band, as the native app:
    /// the status and the OAuth2 error, if any.
    async fn refresh_by_hand(&self, refresh_token: &str) -> (StatusCode, Option<String>) {
        let (status, body) = self
            .server
            .post_form(
                "/token",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                    ("client_id", NATIVE_CLIENT_ID),
                ],
                None,
            )
            .await;
        (status, body["error"].as_str().map(str::to_owned))
    }
}

/// What came back for one request through the layer.
struct Answer {
    status: StatusCode,
    outcome: Option<RedriveOutcome>,
    body: Value,
}

/// A GET to `url` through `client`: the answer, or the error the client
/// failed with.
async fn get(client: &Client, url: &str) -> Result<Answer, BoxError> {
    let request = Request::get(url).body(Full::default()).unwrap();
    let exchange = async {
        let response = client.clone().oneshot(request).await?;
        let status = response.status();
        let outcome = RedriveOutcome::of(&response).cloned();
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            outcome,
            body,
        })
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("GET {url}: no answer within {REQUEST_TIMEOUT:?}"))
}

/// A GET that must succeed with 200.
async fn get_ok(client: &Client, url: &str) -> Answer {
    let answer = get(client, url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "GET {url}: {:?} {}",
        answer.outcome,
        answer.body
    );
    answer
}

fn stored(store: &MemoryTokenStore) -> Token {
    store
        .get(DEFAULT_NAMESPACE, RESOURCE)
        .unwrap()
        .expect("a stored token for the resource server")
}

// ---------------------------------------------------------------------------
// The tests

async fn a_token_is_refreshed_before_it_expires<X: Transport>() {
    // Tokens live 5 s and are refreshed 2 s before (the margin is at most
    // half a token's life): a 3 s window in which the first token serves,
    // then a refresh well before it expires.
    let Some(world) = World::start::<X>("a_token_is_refreshed_before_it_expires", 5).await else {
        return;
    };
    let margin = Duration::from_secs(2);
    let prompt = BrowserPrompt::new();
    let store = Arc::new(MemoryTokenStore::default());
    let recorder = Recorder::new::<X>();
    let login = world
        .person(margin)
        .prompt(prompt.clone())
        .token_store(Arc::clone(&store))
        .build(recorder.clone())
        .unwrap();
    let client = X::client(&login, world.api_addr());

    // The first request: a login, and the token is on it from the start.
    let first = get_ok(&client, &world.url()).await;
    assert!(first.outcome.is_none(), "no 401, no retry");
    assert_eq!(first.body["sub"], oidc::ACCOUNT);
    let token = stored(&store);
    assert!(token.refresh_token().is_some(), "offline_access asked for");
    let expires_at = token.expires_at.expect("expires_in is sent");
    assert_eq!(prompt.logins(), 1);

    // While it is good for more than the margin, it serves as it is.
    assert!(
        !token.expires_within(SystemTime::now(), margin),
        "the login took more than {:?}",
        Duration::from_secs(5) - margin
    );
    get_ok(&client, &world.url()).await;
    assert_eq!(world.seen.last(1)[0].0, token.access_token());

    // Past expiry minus the margin (real time), still before expiry.
    let due = expires_at - margin + Duration::from_millis(300);
    if let Ok(wait) = due.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    let answer = get_ok(&client, &world.url()).await;
    let sent_at = SystemTime::now();
    assert!(answer.outcome.is_none(), "no 401, no retry");
    let refreshed = stored(&store);
    let (sent, status) = world.seen.last(1)[0].clone();
    assert_eq!(
        (sent.as_str(), status),
        (refreshed.access_token(), StatusCode::OK)
    );
    assert_ne!(
        refreshed.access_token(),
        token.access_token(),
        "a new token"
    );
    // Refreshed before the old token expired, on either clock.
    assert!(sent_at < expires_at, "the refresh came too late");
    assert!(world.server.is_active(token.access_token()).await);
    assert_eq!(
        world.seen.refusals(),
        0,
        "the resource server refused nothing: {:?}",
        world.seen.all()
    );
    assert_eq!(prompt.logins(), 1, "no login");
    assert_eq!(
        recorder.grants(),
        [
            ("authorization_code".to_owned(), StatusCode::OK),
            ("refresh_token".to_owned(), StatusCode::OK)
        ]
    );
}

async fn a_refused_token_is_refreshed_once_and_the_request_retried<X: Transport>() {
    // Access tokens live 1 s on the server.
    let Some(world) = World::start::<X>(
        "a_refused_token_is_refreshed_once_and_the_request_retried",
        1,
    )
    .await
    else {
        return;
    };
    let store = Arc::new(MemoryTokenStore::default());
    let first_prompt = BrowserPrompt::new();
    let first = world
        .person(Duration::ZERO)
        .prompt(first_prompt.clone())
        .token_store(Arc::clone(&store))
        .build(Recorder::new::<X>())
        .unwrap();
    let client = X::client(&first, world.api_addr());
    get_ok(&client, &world.url()).await;
    let token = stored(&store);

    // The token file says an hour is left (written under another clock,
    // say), so the client still thinks the token good; on the server it
    // expired. (Revoking it by hand would not do: this server revokes the
    // whole grant with it, refresh token included.)
    let mut believed = token.clone();
    believed.expires_at = Some(SystemTime::now() + Duration::from_secs(3600));
    store.put(DEFAULT_NAMESPACE, &[believed]).unwrap();
    world.until_inactive(token.access_token()).await;

    // The next program run with that file (the default 60 s margin).
    let prompt = BrowserPrompt::new();
    let recorder = Recorder::new::<X>();
    let login = world
        .person(tower_gare::login::DEFAULT_REFRESH_MARGIN)
        .prompt(prompt.clone())
        .token_store(Arc::clone(&store))
        .build(recorder.clone())
        .unwrap();
    let client = X::client(&login, world.api_addr());
    let answer = get_ok(&client, &world.url()).await;
    assert!(
        matches!(answer.outcome, Some(RedriveOutcome::Redriven)),
        "{:?}",
        answer.outcome
    );
    let refreshed = stored(&store);
    assert_ne!(refreshed.access_token(), token.access_token());
    assert_ne!(refreshed.refresh_token(), token.refresh_token());
    // The refused request, then the retry with the refreshed token.
    assert_eq!(
        world.seen.last(2),
        [
            (token.access_token().to_owned(), StatusCode::UNAUTHORIZED),
            (refreshed.access_token().to_owned(), StatusCode::OK),
        ]
    );
    assert_eq!(
        recorder.grants(),
        [("refresh_token".to_owned(), StatusCode::OK)],
        "one refresh"
    );
    assert_eq!((prompt.logins(), first_prompt.logins()), (0, 1), "no login");
}

async fn a_refresh_rotates_the_refresh_token_and_the_old_one_is_refused<X: Transport>() {
    let Some(world) = World::start::<X>(
        "a_refresh_rotates_the_refresh_token_and_the_old_one_is_refused",
        4,
    )
    .await
    else {
        return;
    };
    let margin = Duration::from_secs(2);
    let prompt = BrowserPrompt::new();
    let store = Arc::new(MemoryTokenStore::default());
    let recorder = Recorder::new::<X>();
    let login = world
        .person(margin)
        .prompt(prompt.clone())
        .token_store(Arc::clone(&store))
        .build(recorder.clone())
        .unwrap();
    let client = X::client(&login, world.api_addr());
    get_ok(&client, &world.url()).await;
    let first = stored(&store);
    let old_refresh = first.refresh_token().expect("a refresh token").to_owned();

    // Due for a refresh: the next request refreshes first.
    let due = first.expires_at.unwrap() - margin + Duration::from_millis(200);
    if let Ok(wait) = due.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    get_ok(&client, &world.url()).await;
    let second = stored(&store);
    let new_refresh = second.refresh_token().expect("rotated: a new one");
    assert_ne!(new_refresh, old_refresh, "the store holds the new one");
    assert_ne!(second.access_token(), first.access_token());
    assert_eq!(second.identity_id.as_deref(), Some(oidc::ACCOUNT));
    assert_eq!(
        recorder.grants(),
        [
            ("authorization_code".to_owned(), StatusCode::OK),
            ("refresh_token".to_owned(), StatusCode::OK)
        ]
    );
    assert_eq!(world.seen.last(1)[0].0, second.access_token());
    assert!(world.server.is_active(second.access_token()).await);

    // Only now the old refresh token, out of band: the server refuses it
    // (and, replayed, revokes the whole grant, so this check comes last).
    let (status, error) = world.refresh_by_hand(&old_refresh).await;
    assert_eq!(
        (status, error.as_deref()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert!(
        !world.server.is_active(second.access_token()).await,
        "the replay revoked the grant"
    );

    // The store's refresh token is refused now too: one login, and on.
    let before = recorder.grants().len();
    get_ok(&client, &world.url()).await;
    assert_eq!(
        recorder.grants()[before..],
        [
            ("refresh_token".to_owned(), StatusCode::BAD_REQUEST),
            ("authorization_code".to_owned(), StatusCode::OK)
        ]
    );
    assert_eq!(prompt.logins(), 2);
}

async fn logout_revokes_the_tokens_and_the_next_request_logs_in_again<X: Transport>() {
    let Some(world) = World::start::<X>(
        "logout_revokes_the_tokens_and_the_next_request_logs_in_again",
        5,
    )
    .await
    else {
        return;
    };
    let prompt = BrowserPrompt::new();
    let store = Arc::new(MemoryTokenStore::default());
    let recorder = Recorder::new::<X>();
    let login = world
        .person(Duration::from_secs(1))
        .prompt(prompt.clone())
        .token_store(Arc::clone(&store))
        .build(recorder.clone())
        .unwrap();
    let client = X::client(&login, world.api_addr());
    get_ok(&client, &world.url()).await;
    let token = stored(&store);
    let refresh = token.refresh_token().unwrap().to_owned();
    assert!(world.server.is_active(token.access_token()).await);

    login.logout().await.unwrap();
    // Both tokens sent to the revocation endpoint, each accepted.
    let mut revoked: Vec<(String, StatusCode)> = recorder
        .calls()
        .into_iter()
        .filter(|call| call.path == "/token/revocation")
        .map(|call| (call.token.unwrap_or_default(), call.status))
        .collect();
    revoked.sort();
    let mut expected = vec![
        (token.access_token().to_owned(), StatusCode::OK),
        (refresh.clone(), StatusCode::OK),
    ];
    expected.sort();
    assert_eq!(revoked, expected);
    // The server agrees: neither token works.
    let introspection = world.server.introspect(token.access_token()).await;
    assert_eq!(introspection["active"], false, "{introspection}");
    let (status, error) = world.refresh_by_hand(&refresh).await;
    assert_eq!(
        (status, error.as_deref()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert!(store.get_all(DEFAULT_NAMESPACE).unwrap().is_empty());

    // The layer forgot them too: the next request logs in again and never
    // carries the revoked token.
    let answer = get_ok(&client, &world.url()).await;
    assert!(answer.outcome.is_none(), "no 401: {:?}", world.seen.all());
    assert_eq!(prompt.logins(), 2);
    let again = stored(&store);
    assert_ne!(again.access_token(), token.access_token());
    assert_eq!(world.seen.last(1)[0].0, again.access_token());
    assert_eq!(world.seen.refusals(), 0);
}

async fn a_client_acts_as_itself_with_no_prompt<X: Transport>() {
    let Some(world) = World::start::<X>("a_client_acts_as_itself_with_no_prompt", 5).await else {
        return;
    };
    let prompt = BrowserPrompt::new();
    let store = Arc::new(MemoryTokenStore::default());
    let recorder = Recorder::new::<X>();
    let login = world
        .login(SERVICE_CLIENT_ID)
        .client_secret(SERVICE_CLIENT_SECRET)
        .client_credentials()
        .refresh_margin(Duration::from_secs(1))
        .prompt(prompt.clone())
        .token_store(Arc::clone(&store))
        .build(recorder.clone())
        .unwrap();
    let client = X::client(&login, world.api_addr());

    let answer = get_ok(&client, &world.url()).await;
    assert!(answer.outcome.is_none());
    assert_eq!(answer.body["client_id"], SERVICE_CLIENT_ID);
    let token = stored(&store);
    assert_eq!(token.scope, API_SCOPE);
    assert_eq!(token.refresh_token(), None, "no refresh token for a client");
    get_ok(&client, &world.url()).await;
    assert_eq!(world.seen.last(1)[0].0, token.access_token(), "kept");
    let calls = recorder.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].grant_type.as_deref(), Some("client_credentials"));
    assert!(calls[0].basic, "the secret goes in HTTP Basic");

    // Its token ended on the server: refused, a new grant, the retry.
    assert_eq!(
        world
            .server
            .revoke(token.access_token(), SERVICE_CLIENT_ID)
            .await,
        StatusCode::OK
    );
    assert!(!world.server.is_active(token.access_token()).await);
    let answer = get_ok(&client, &world.url()).await;
    assert!(
        matches!(answer.outcome, Some(RedriveOutcome::Redriven)),
        "{:?}",
        answer.outcome
    );
    let renewed = stored(&store);
    assert_eq!(
        world.seen.last(2),
        [
            (token.access_token().to_owned(), StatusCode::UNAUTHORIZED),
            (renewed.access_token().to_owned(), StatusCode::OK),
        ]
    );
    assert_eq!(
        recorder.grants(),
        [
            ("client_credentials".to_owned(), StatusCode::OK),
            ("client_credentials".to_owned(), StatusCode::OK)
        ]
    );
    assert_eq!(prompt.logins(), 0, "no person was asked");
}

async fn invalid_grant_on_a_refresh_means_one_login<X: Transport>() {
    let Some(world) = World::start::<X>("invalid_grant_on_a_refresh_means_one_login", 5).await
    else {
        return;
    };
    let prompt = BrowserPrompt::new();
    let store = Arc::new(MemoryTokenStore::default());
    let recorder = Recorder::new::<X>();
    let login = world
        .person(Duration::from_secs(1))
        .prompt(prompt.clone())
        .token_store(Arc::clone(&store))
        .build(recorder.clone())
        .unwrap();
    let client = X::client(&login, world.api_addr());
    get_ok(&client, &world.url()).await;
    let token = stored(&store);

    // The refresh token revoked elsewhere (the user signed the app out in
    // a browser): this server ends the access token with it.
    let refresh = token.refresh_token().unwrap();
    assert_eq!(
        world.server.revoke(refresh, NATIVE_CLIENT_ID).await,
        StatusCode::OK
    );
    assert!(!world.server.is_active(token.access_token()).await);

    let answer = get_ok(&client, &world.url()).await;
    assert!(
        matches!(answer.outcome, Some(RedriveOutcome::Redriven)),
        "{:?}",
        answer.outcome
    );
    assert_eq!(prompt.logins(), 2, "asked once more");
    let renewed = stored(&store);
    assert_eq!(
        world.seen.last(2),
        [
            (token.access_token().to_owned(), StatusCode::UNAUTHORIZED),
            (renewed.access_token().to_owned(), StatusCode::OK),
        ]
    );
    // The refresh was tried, refused with invalid_grant, then the login.
    let calls = recorder.calls();
    let tail: Vec<_> = calls[1..]
        .iter()
        .map(|c| (c.grant_type.as_deref(), c.status, c.error.as_deref()))
        .collect();
    assert_eq!(
        tail,
        [
            (
                Some("refresh_token"),
                StatusCode::BAD_REQUEST,
                Some("invalid_grant")
            ),
            (Some("authorization_code"), StatusCode::OK, None),
        ]
    );
    assert!(renewed.refresh_token().is_some());
    assert_ne!(renewed.refresh_token(), Some(refresh));
}

async fn invalid_grant_with_no_one_to_prompt_is_login_required<X: Transport>() {
    let Some(world) =
        World::start::<X>("invalid_grant_with_no_one_to_prompt_is_login_required", 5).await
    else {
        return;
    };
    // A person logged in once (a token file, say)...
    let store = Arc::new(MemoryTokenStore::default());
    let person = world
        .person(Duration::from_secs(1))
        .prompt(BrowserPrompt::new())
        .token_store(Arc::clone(&store))
        .build(Recorder::new::<X>())
        .unwrap();
    let client = X::client(&person, world.api_addr());
    get_ok(&client, &world.url()).await;
    let token = stored(&store);
    // ...and the refresh token was revoked since.
    assert_eq!(
        world
            .server
            .revoke(token.refresh_token().unwrap(), NATIVE_CLIENT_ID)
            .await,
        StatusCode::OK
    );
    let requests_before = world.seen.all().len();
    let auth = world.server.url("/auth?");

    // A batch job whose token is due for a refresh: the refresh is refused,
    // no one may be prompted, and the request fails saying what to do.
    let recorder = Recorder::new::<X>();
    let job = world
        .person(Duration::from_secs(10))
        .prompt(NeverPrompt)
        .token_store(Arc::clone(&store))
        .build(recorder.clone())
        .unwrap();
    let client = X::client(&job, world.api_addr());
    let error = match get(&client, &world.url()).await {
        Err(error) => error,
        Ok(answer) => panic!("expected LoginRequired, got {}", answer.status),
    };
    let Some(LoginError::LoginRequired {
        authorize_url,
        commands,
        ..
    }) = error.downcast_ref::<LoginError>()
    else {
        panic!("expected LoginRequired, got {error:?}");
    };
    assert!(authorize_url.starts_with(&auth), "{authorize_url}");
    assert!(
        commands.iter().any(|c| c.contains(API_SCOPE)),
        "{commands:?}"
    );
    assert_eq!(
        recorder.grants(),
        [("refresh_token".to_owned(), StatusCode::BAD_REQUEST)]
    );
    assert_eq!(
        world.seen.all().len(),
        requests_before,
        "nothing was sent without a token"
    );

    // A job that still thinks the token good: the resource server refuses
    // it, the refresh is refused, and the 401 comes back with the reason.
    let recorder = Recorder::new::<X>();
    let job = world
        .person(Duration::from_secs(1))
        .prompt(NeverPrompt)
        .token_store(Arc::clone(&store))
        .build(recorder.clone())
        .unwrap();
    let client = X::client(&job, world.api_addr());
    let answer = get(&client, &world.url()).await.unwrap();
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let Some(RedriveOutcome::ReauthFailed(error)) = &answer.outcome else {
        panic!("{:?}", answer.outcome);
    };
    assert!(
        matches!(
            error.inner().downcast_ref(),
            Some(LoginError::LoginRequired { authorize_url, .. }) if authorize_url.starts_with(&auth)
        ),
        "{error:?}"
    );
    assert_eq!(
        recorder.grants(),
        [("refresh_token".to_owned(), StatusCode::BAD_REQUEST)]
    );
    assert_eq!(
        world.seen.last(1),
        [(token.access_token().to_owned(), StatusCode::UNAUTHORIZED)]
    );
}

both_transports!(
    a_token_is_refreshed_before_it_expires,
    a_refused_token_is_refreshed_once_and_the_request_retried,
    a_refresh_rotates_the_refresh_token_and_the_old_one_is_refused,
    logout_revokes_the_tokens_and_the_next_request_logs_in_again,
    a_client_acts_as_itself_with_no_prompt,
    invalid_grant_on_a_refresh_means_one_login,
    invalid_grant_with_no_one_to_prompt_is_login_required,
);
