//! A token's whole life through `Login::layer`, against an in-memory
//! authorization server and two resource servers on one origin: the first
//! request, scope requirements that last, refresh and rotation, refused
//! tokens, client credentials, logout, identities, users, plain HTTP.
#![cfg(all(feature = "login", feature = "reqwest"))]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::tower::{Service, ServiceExt};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower_gare::gare::Gare;
use tower_gare::login::{
    AuthorizationResponse, AuthorizeRequest, JsonFileTokenStore, Login, LoginError,
    MemoryTokenStore, NeverPrompt, Prompt, RefreshTokens, ResourceServers, TokenStore,
    DEFAULT_NAMESPACE,
};
use tower_gare::redrive::{RedriveOutcome, User};

use crate::transport::{both_transports, Client, Transport};

/// The resource server of a scope: `a:read` is `a`'s.
fn resource_server_of(scope: &str) -> &str {
    scope.split(':').next().unwrap_or(scope)
}

#[derive(Clone)]
pub(crate) struct Issued {
    pub(crate) resource_server: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) identity: String,
    pub(crate) live: bool,
}

/// The authorization server and both resource servers.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) next: u64,
    pub(crate) codes: HashMap<String, (Vec<String>, bool)>,
    pub(crate) access: HashMap<String, Issued>,
    pub(crate) refresh: HashMap<String, Issued>,
    /// Seconds each access token lives.
    pub(crate) ttl: u64,
    pub(crate) identity: String,
    pub(crate) code_exchanges: usize,
    pub(crate) refreshes: usize,
    pub(crate) client_credentials: Vec<String>,
    pub(crate) revoked: Vec<String>,
    pub(crate) authorize_scopes: Vec<String>,
    pub(crate) api_calls: usize,
    /// GAREs leave out the scope they need (as Flows leaves out a flow's own).
    pub(crate) gares_miss_scope: bool,
    /// Answers a request before the world does, when it gives an answer
    /// (and may rewrite the request it lets through).
    pub(crate) front: Option<Front>,
}

pub(crate) type Front =
    Arc<dyn Fn(&mut Request<Full<Bytes>>) -> Option<Response<Full<Bytes>>> + Send + Sync>;

#[derive(Clone)]
pub(crate) struct World {
    pub(crate) shared: Arc<Mutex<State>>,
    /// Where it serves, on 127.0.0.1: its authorization server and its
    /// resource servers `a` and `b` (under `/a/` and `/b/`).
    pub(crate) addr: std::net::SocketAddr,
}

impl World {
    /// A world serving on a free port of 127.0.0.1.
    pub(crate) async fn start() -> Self {
        let shared = Arc::new(Mutex::new(State {
            ttl: 3600,
            identity: "alice-id".into(),
            ..State::default()
        }));
        let serving = shared.clone();
        let addr = crate::common::serve(move |request: Request<hyper::body::Incoming>| {
            let world = World {
                shared: serving.clone(),
                addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            };
            async move {
                let (parts, body) = request.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let request = Request::from_parts(parts, Full::new(body));
                world
                    .oneshot(request)
                    .await
                    .unwrap_or_else(|never| match never {})
            }
        })
        .await;
        World { shared, addr }
    }

    /// Its base URL.
    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.lock().unwrap()
    }

    /// Every access token stops working (expired or revoked server-side).
    pub(crate) fn expire_all_access(&self) {
        for issued in self.state().access.values_mut() {
            issued.live = false;
        }
    }

    fn jwt(sub: &str) -> String {
        let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.sig",
            part(json!({"alg": "none"})),
            part(json!({"sub": sub}))
        )
    }

    /// Tokens for `scopes`, one per resource server, Globus-style: the first
    /// at the top, the rest in `other_tokens`.
    pub(crate) fn issue(state: &mut State, scopes: &[String], with_refresh: bool) -> Value {
        let mut by_rs: Vec<(String, Vec<String>)> = Vec::new();
        for scope in scopes {
            let rs = resource_server_of(scope).to_owned();
            match by_rs.iter_mut().find(|(r, _)| *r == rs) {
                Some((_, list)) => list.push(scope.clone()),
                None => by_rs.push((rs, vec![scope.clone()])),
            }
        }
        let identity = state.identity.clone();
        let mut docs: Vec<Value> = by_rs
            .into_iter()
            .map(|(rs, scopes)| {
                state.next += 1;
                let access = format!("at-{rs}-{}", state.next);
                let issued = Issued {
                    resource_server: rs.clone(),
                    scopes: scopes.clone(),
                    identity: identity.clone(),
                    live: true,
                };
                state.access.insert(access.clone(), issued.clone());
                let mut doc = json!({
                    "access_token": access, "resource_server": rs, "scope": scopes.join(" "),
                    "expires_in": state.ttl, "token_type": "Bearer",
                });
                if with_refresh {
                    let refresh = format!("rt-{rs}-{}", state.next);
                    state.refresh.insert(refresh.clone(), issued);
                    doc["refresh_token"] = json!(refresh);
                }
                doc
            })
            .collect();
        let mut top = docs.remove(0);
        top["other_tokens"] = Value::Array(docs);
        top["id_token"] = json!(World::jwt(&identity));
        top
    }

    fn token_endpoint(
        &self,
        headers: &http::HeaderMap,
        form: &[(String, String)],
    ) -> (StatusCode, Value) {
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut state = self.state();
        match field("grant_type").as_deref() {
            Some("authorization_code") => {
                let code = field("code").unwrap_or_default();
                let Some((scopes, offline)) = state.codes.remove(&code) else {
                    return (StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
                };
                state.code_exchanges += 1;
                (StatusCode::OK, World::issue(&mut state, &scopes, offline))
            }
            Some("refresh_token") => {
                let old = field("refresh_token").unwrap_or_default();
                let Some(issued) = state.refresh.remove(&old) else {
                    return (StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
                };
                state.refreshes += 1;
                let scopes = issued.scopes.clone();
                let mut doc = World::issue(&mut state, &scopes, true);
                doc.as_object_mut().unwrap().remove("id_token");
                (StatusCode::OK, doc)
            }
            Some("client_credentials") => {
                let basic = headers
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Basic "))
                    .and_then(|v| STANDARD.decode(v).ok());
                if basic.as_deref() != Some(b"svc:svc-secret".as_slice()) {
                    return (StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
                }
                let scope = field("scope").unwrap_or_default();
                state.client_credentials.push(scope.clone());
                let scopes: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
                state.identity = "svc-id".into();
                let mut doc = World::issue(&mut state, &scopes, false);
                doc.as_object_mut().unwrap().remove("id_token");
                (StatusCode::OK, doc)
            }
            _ => (
                StatusCode::BAD_REQUEST,
                json!({"error": "unsupported_grant_type"}),
            ),
        }
    }

    fn revoke(&self, form: &[(String, String)]) -> (StatusCode, Value) {
        let mut state = self.state();
        if let Some((_, token)) = form.iter().find(|(k, _)| k == "token") {
            state.access.remove(token);
            state.refresh.remove(token);
            state.revoked.push(token.clone());
        }
        (StatusCode::OK, json!({}))
    }

    /// `/a/read` needs `a:read` on a token of `a`, `/b/x` needs `b:x`.
    fn api(&self, path: &str, authorization: Option<&str>) -> Response<Full<Bytes>> {
        let mut state = self.state();
        state.api_calls += 1;
        let mut segments = path.trim_start_matches('/').splitn(2, '/');
        let rs = segments.next().unwrap_or("");
        let needed = format!("{rs}:{}", segments.next().unwrap_or(""));
        let token = authorization.and_then(|v| v.strip_prefix("Bearer "));
        let respond = |status: StatusCode, body: Value, challenge: Option<&str>| {
            let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
            *response.status_mut() = status;
            if let Some(challenge) = challenge {
                response
                    .headers_mut()
                    .insert(http::header::WWW_AUTHENTICATE, challenge.parse().unwrap());
            }
            response
        };
        let Some(issued) = token.and_then(|t| state.access.get(t)) else {
            return respond(
                StatusCode::UNAUTHORIZED,
                json!({"code": "AuthenticationFailed"}),
                None,
            );
        };
        if !issued.live {
            return respond(
                StatusCode::UNAUTHORIZED,
                json!({}),
                Some(r#"Bearer error="invalid_token""#),
            );
        }
        if issued.resource_server != rs {
            return respond(StatusCode::FORBIDDEN, json!({"code": "FORBIDDEN"}), None);
        }
        if !issued.scopes.contains(&needed) {
            let required = if state.gares_miss_scope {
                json!([])
            } else {
                json!([needed])
            };
            let gare = json!({"code": "ConsentRequired", "authorization_parameters": {"required_scopes": required}});
            return respond(StatusCode::FORBIDDEN, gare, None);
        }
        respond(
            StatusCode::OK,
            json!({"ok": path, "identity": issued.identity}),
            None,
        )
    }
}

impl Service<Request<Full<Bytes>>> for World {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Full<Bytes>>) -> Self::Future {
        let front = self.state().front.clone();
        if let Some(answer) = front.and_then(|front| front(&mut request)) {
            return std::future::ready(Ok(answer));
        }
        let world = self.clone();
        let (parts, body) = request.into_parts();
        // The bodies here are `Full`: ready at once.
        let body = futures_util::FutureExt::now_or_never(body.collect())
            .expect("a full body")
            .unwrap()
            .to_bytes();
        let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        let authorization = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let response = match (parts.uri.host(), parts.uri.path()) {
            (_, "/v2/oauth2/token") => {
                let (status, doc) = world.token_endpoint(&parts.headers, &form);
                let mut response = Response::new(Full::new(Bytes::from(doc.to_string())));
                *response.status_mut() = status;
                response
            }
            (_, "/v2/oauth2/token/revoke") => {
                let (status, doc) = world.revoke(&form);
                let mut response = Response::new(Full::new(Bytes::from(doc.to_string())));
                *response.status_mut() = status;
                response
            }
            (_, path) => world.api(path, authorization),
        };
        std::future::ready(Ok(response))
    }
}

/// A person who approves every login at once, and what they were asked.
#[derive(Clone)]
pub(crate) struct Person {
    world: World,
    pub(crate) seen: Arc<Mutex<Vec<AuthorizeRequest>>>,
    /// What the login told the person besides logins (warnings).
    pub(crate) notices: Arc<Mutex<Vec<String>>>,
}

impl Person {
    pub(crate) fn new(world: &World) -> Self {
        Person {
            world: world.clone(),
            seen: Arc::default(),
            notices: Arc::default(),
        }
    }

    pub(crate) fn logins(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
    pub(crate) fn asked(&self, n: usize) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        let mut scopes: Vec<String> = seen[n]
            .param("scope")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        scopes.sort();
        scopes
    }
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Person")
    }
}

impl Prompt for Person {
    fn notice(&self, text: &str) {
        self.notices.lock().unwrap().push(text.to_owned());
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        self.seen.lock().unwrap().push(request.clone());
        Ok(self.approve(request))
    }
}

impl Person {
    /// What the authorization server answers when the person approves
    /// `request`: a code for the scopes it asks.
    pub(crate) fn approve(&self, request: &AuthorizeRequest) -> AuthorizationResponse {
        let scopes: Vec<String> = request
            .param("scope")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let offline = request.param("access_type") == Some("offline");
        let code = {
            let mut state = self.world.state();
            state.next += 1;
            let code = format!("code-{}", state.next);
            state.authorize_scopes = scopes.clone();
            state.codes.insert(code.clone(), (scopes, offline));
            code
        };
        AuthorizationResponse {
            code: code.into(),
            state: Some(request.state().to_owned()),
        }
    }
}

pub(crate) fn resource_servers(world: &World) -> ResourceServers {
    ResourceServers::new()
        .with("https://api.example.org/a/", "a")
        .with(&format!("{}/a/", world.base()), "a")
        .with(&format!("{}/b/", world.base()), "b")
        .with(
            &format!("http://api.example.org:{}/a/", world.addr.port()),
            "a",
        )
}

/// A login on the in-memory world's authorization server, both resource
/// servers mapped.
pub(crate) fn builder(world: &World) -> tower_gare::login::LoginBuilder {
    Login::builder("client")
        .auth_base_url(world.base())
        .resource_servers(resource_servers(world))
}

/// The same, for `a:read` on `a`, with refresh tokens: what the scenarios
/// of a token's refresh, rotation and refusal start from.
pub(crate) fn refreshing(world: &World) -> tower_gare::login::LoginBuilder {
    builder(world)
        .scope_requirements("a", ["a:read"])
        .refresh_tokens(RefreshTokens::GlobusAccessType)
}

pub(crate) fn login_with<X: Transport, T: TokenStore>(
    world: &World,
    store: T,
) -> (Login<X::Http, Person, T>, Person) {
    let person = Person::new(world);
    let login = builder(world)
        .client_secret("secret")
        .scope_requirements("a", ["a:read"])
        .scope_requirements("b", ["b:x"])
        .prompt(person.clone())
        .token_store(store)
        .build(X::http(world.addr))
        .unwrap();
    (login, person)
}

pub(crate) fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::default()).unwrap()
}

pub(crate) async fn send(
    client: &Client,
    request: Request<Full<Bytes>>,
) -> (StatusCode, Option<RedriveOutcome>) {
    let response = client.clone().oneshot(request).await.unwrap();
    (response.status(), RedriveOutcome::of(&response).cloned())
}

async fn the_first_request_is_authorized_and_a_second_program_logs_in_no_more<X: Transport>() {
    let world = World::start().await;
    let dir = std::env::temp_dir().join(format!("tower-gare-life-{}", std::process::id()));
    let path = dir.join("tokens.json");
    let (login, person) = login_with::<X, _>(&world, JsonFileTokenStore::new(&path));
    let client = X::client(&login, world.addr);
    let (status, outcome) = send(&client, get("/a/read")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        outcome.is_none(),
        "no GARE, no retry: the token was there first"
    );
    assert_eq!(person.logins(), 1);
    // Every resource server's requirements in the one login.
    assert_eq!(person.asked(0), ["a:read", "b:x", "openid"]);

    // The next run of the program: tokens from the file, no login.
    let (login, person) = login_with::<X, _>(&world, JsonFileTokenStore::new(&path));
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/b/x")).await.0, StatusCode::OK);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    assert_eq!(person.logins(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

async fn scope_requirements_last_so_consents_never_ping_pong<X: Transport>() {
    let world = World::start().await;
    let (login, person) = login_with::<X, _>(&world, MemoryTokenStore::default());
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    // A GARE for a:write: one login that asks for it and keeps a:read.
    let (status, outcome) = send(&client, get("/a/write")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(matches!(outcome, Some(RedriveOutcome::Redriven)));
    assert_eq!(person.asked(1), ["a:read", "a:write", "b:x", "openid"]);
    assert_eq!(login.scope_requirements("a"), ["a:read", "a:write"]);
    // Back to a:read, then a:write again: no more logins.
    for path in ["/a/read", "/a/write", "/a/read"] {
        let (status, outcome) = send(&client, get(path)).await;
        assert_eq!(
            (status, outcome.is_none()),
            (StatusCode::OK, true),
            "{path}"
        );
    }
    assert_eq!(person.logins(), 2);
}

async fn two_resource_servers_on_one_origin_alternate_without_a_gare<X: Transport>() {
    let world = World::start().await;
    let (login, person) = login_with::<X, _>(&world, MemoryTokenStore::default());
    let client = X::client(&login, world.addr);
    for path in ["/a/read", "/b/x", "/a/read", "/b/x", "/a/read", "/b/x"] {
        let (status, outcome) = send(&client, get(path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(outcome.is_none(), "{path}: its own token, no GARE");
    }
    assert_eq!(person.logins(), 1);
    assert_eq!(world.state().api_calls, 6);
}

async fn tokens_are_refreshed_before_they_expire_and_rotation_is_kept<X: Transport>() {
    let world = World::start().await;
    // The margin is at most half a token's life: a 2-second token is
    // refreshed once it has less than a second left.
    world.state().ttl = 2;
    let store = Arc::new(MemoryTokenStore::default());
    let person = Person::new(&world);
    let login = refreshing(&world)
        .prompt(person.clone())
        .token_store(Arc::clone(&store))
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    assert_eq!(
        person.seen.lock().unwrap()[0].param("access_type"),
        Some("offline")
    );
    let first = store.get(DEFAULT_NAMESPACE, "a").unwrap().unwrap();
    let first_refresh = first.refresh_token().unwrap().to_owned();

    // The token is within the margin: the next request refreshes first.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    assert_eq!(world.state().refreshes, 1);
    let second = store.get(DEFAULT_NAMESPACE, "a").unwrap().unwrap();
    assert_ne!(second.access_token(), first.access_token());
    assert_ne!(
        second.refresh_token(),
        Some(first_refresh.as_str()),
        "rotated"
    );
    assert!(!world.state().refresh.contains_key(&first_refresh));
    assert_eq!(person.logins(), 1);
}

async fn a_refused_token_is_refreshed_once_and_the_request_retried<X: Transport>() {
    let world = World::start().await;
    let person = Person::new(&world);
    let login = refreshing(&world)
        .prompt(person.clone())
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    world.expire_all_access();
    let (status, outcome) = send(&client, get("/a/read")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(matches!(outcome, Some(RedriveOutcome::Redriven)));
    assert_eq!((world.state().refreshes, person.logins()), (1, 1));

    // The refresh token refused too (revoked): a login, since one may prompt.
    world.expire_all_access();
    world.state().refresh.clear();
    let (status, _) = send(&client, get("/a/read")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(person.logins(), 2);
}

async fn without_a_prompt_a_needed_login_says_what_to_run<X: Transport>() {
    let world = World::start().await;
    let login = builder(&world)
        .scope_requirements("a", ["a:read"])
        .prompt(NeverPrompt)
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    let error = client.oneshot(get("/a/read")).await.unwrap_err();
    let error = error.downcast_ref::<LoginError>().expect("a login error");
    let LoginError::LoginRequired {
        authorize_url,
        commands,
        gare,
    } = error
    else {
        panic!("{error:?}");
    };
    assert!(authorize_url.starts_with(&format!("{}/v2/oauth2/authorize?", world.base())));
    assert_eq!(commands, &["globus session consent 'a:read'"]);
    assert_eq!(
        gare.as_ref().map(|g| g.code.as_str()),
        Some("LoginRequired")
    );
    assert_eq!(
        world.state().api_calls,
        0,
        "nothing was sent without a token"
    );
}

async fn a_thousand_requests_on_one_expired_token_cause_one_refresh<X: Transport>() {
    for server_side in [false, true] {
        let world = World::start().await;
        let person = Person::new(&world);
        let login = refreshing(&world)
            .prompt(person.clone())
            .build(X::http(world.addr))
            .unwrap();
        let client = X::client(&login, world.addr);
        assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
        if server_side {
            // The server refuses the token the client still thinks good.
            world.expire_all_access();
        } else {
            // The client knows it expired: the attaching layer refreshes.
            world.state().ttl = 3600;
            login.add_scope_requirements("a", ["a:read"]);
            let token = login
                .token_store()
                .get(DEFAULT_NAMESPACE, "a")
                .unwrap()
                .unwrap();
            let expired = token.clone();
            let mut expired = expired;
            expired.expires_at = Some(std::time::SystemTime::now() - Duration::from_secs(1));
            // A second program with the expired token in its store.
            let store = MemoryTokenStore::default();
            store.put(DEFAULT_NAMESPACE, &[expired]).unwrap();
            let person2 = Person::new(&world);
            let login2 = builder(&world)
                .prompt(person2.clone())
                .token_store(store)
                .build(X::http(world.addr))
                .unwrap();
            let client2 = X::client(&login2, world.addr);
            let calls = (0..1000).map(|_| {
                let client = client2.clone();
                tokio::spawn(async move { client.oneshot(get("/a/read")).await.unwrap().status() })
            });
            for status in futures_util::future::join_all(calls).await {
                assert_eq!(status.unwrap(), StatusCode::OK);
            }
            assert_eq!(world.state().refreshes, 1);
            assert_eq!(person2.logins(), 0);
            continue;
        }
        let calls = (0..1000).map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.oneshot(get("/a/read")).await.unwrap().status() })
        });
        for status in futures_util::future::join_all(calls).await {
            assert_eq!(status.unwrap(), StatusCode::OK);
        }
        assert_eq!(world.state().refreshes, 1, "server_side={server_side}");
        assert_eq!(person.logins(), 1);
    }
}

async fn a_client_acts_as_itself_and_cannot_meet_a_session_requirement<X: Transport>() {
    let world = World::start().await;
    let login = Login::builder("svc")
        .client_secret("svc-secret")
        .client_credentials()
        .auth_base_url(world.base())
        .resource_servers(resource_servers(&world))
        .scope_requirements("a", ["a:read"])
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    assert_eq!(world.state().client_credentials, ["a:read"]);
    // A GARE for more scopes: another grant, with them.
    assert_eq!(send(&client, get("/a/write")).await.0, StatusCode::OK);
    assert_eq!(world.state().client_credentials.len(), 2);
    assert!(world.state().client_credentials[1].contains("a:write"));

    // A session requirement: a clear error, not a loop.
    let mfa = Gare::new(
        "AuthenticationRequired",
        tower_gare::gare::AuthorizationParameters {
            session_required_mfa: Some(true),
            ..Default::default()
        },
    );
    world.state().front = Some(Arc::new(move |_req| {
        Some(mfa.to_response().map(|body| Full::new(Bytes::from(body))))
    }));
    let response = client.oneshot(get("/a/read")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let Some(RedriveOutcome::ReauthFailed(error)) = RedriveOutcome::of(&response) else {
        panic!("{:?}", RedriveOutcome::of(&response));
    };
    assert!(matches!(
        error.inner().downcast_ref(),
        Some(LoginError::NeedsPerson { .. })
    ));
}

async fn logout_revokes_every_token_and_forgets_them<X: Transport>() {
    let world = World::start().await;
    let (login, person) = login_with::<X, _>(&world, MemoryTokenStore::default());
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    let issued: Vec<String> = world.state().access.keys().cloned().collect();
    login.logout().await.unwrap();
    let mut revoked = world.state().revoked.clone();
    revoked.sort();
    let mut issued = issued;
    issued.sort();
    assert_eq!(revoked, issued);
    assert!(login
        .token_store()
        .get_all(DEFAULT_NAMESPACE)
        .unwrap()
        .is_empty());
    // The layer holds none either: the next request logs in first, and
    // goes once, with the new token (not the revoked one, then again).
    let calls = world.state().api_calls;
    let (status, outcome) = send(&client, get("/a/read")).await;
    assert_eq!((status, outcome.is_none()), (StatusCode::OK, true));
    assert_eq!(world.state().api_calls, calls + 1);
    assert_eq!(person.logins(), 2);
}

async fn a_login_as_another_identity_is_refused_and_the_stored_tokens_kept<X: Transport>() {
    let world = World::start().await;
    let (login, _person) = login_with::<X, _>(&world, MemoryTokenStore::default());
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    let before = login.token_store().get_all(DEFAULT_NAMESPACE).unwrap();
    assert_eq!(before[0].identity_id.as_deref(), Some("alice-id"));
    world.state().identity = "mallory-id".into();
    let response = client.clone().oneshot(get("/a/write")).await.unwrap();
    let Some(RedriveOutcome::ReauthFailed(error)) = RedriveOutcome::of(&response) else {
        panic!("{:?}", RedriveOutcome::of(&response));
    };
    assert!(matches!(
        error.inner().downcast_ref(),
        Some(LoginError::IdentityMismatch { stored, logged_in }) if stored == "alice-id" && logged_in == "mallory-id"
    ));
    assert_eq!(
        login.token_store().get_all(DEFAULT_NAMESPACE).unwrap(),
        before
    );
}

async fn each_users_tokens_are_kept_apart<X: Transport>() {
    let world = World::start().await;
    let (login, person) = login_with::<X, _>(&world, MemoryTokenStore::default());
    let client = X::client(&login, world.addr);
    let for_user = |user: &str, identity: &str| {
        world.state().identity = identity.into();
        let mut request = get("/a/read");
        request.extensions_mut().insert(User::new(user));
        request
    };
    let response = client
        .clone()
        .oneshot(for_user("alice", "alice-id"))
        .await
        .unwrap();
    let body = response.into_body();
    assert!(String::from_utf8_lossy(&body).contains("alice-id"));
    let response = client
        .clone()
        .oneshot(for_user("bob", "bob-id"))
        .await
        .unwrap();
    let body = response.into_body();
    assert!(
        String::from_utf8_lossy(&body).contains("bob-id"),
        "bob's own login, not alice's token"
    );
    // Alice again: her token, no login.
    let response = client
        .clone()
        .oneshot(for_user("alice", "bob-id"))
        .await
        .unwrap();
    let body = response.into_body();
    assert!(String::from_utf8_lossy(&body).contains("alice-id"));
    assert_eq!(person.logins(), 2);
    let store = login.token_store();
    assert_eq!(
        store
            .get(&User::new("alice").namespace(), "a")
            .unwrap()
            .unwrap()
            .identity_id
            .as_deref(),
        Some("alice-id")
    );
    assert_eq!(
        store
            .get(&User::new("bob").namespace(), "a")
            .unwrap()
            .unwrap()
            .identity_id
            .as_deref(),
        Some("bob-id")
    );
    assert!(store.get(DEFAULT_NAMESPACE, "a").unwrap().is_none());
}

async fn no_token_goes_over_plain_http_off_loopback<X: Transport>() {
    let world = World::start().await;
    let (login, person) = login_with::<X, _>(&world, MemoryTokenStore::default());
    let client = X::client(&login, world.addr);
    let plain = Request::get(format!(
        "http://api.example.org:{}/a/read",
        world.addr.port()
    ))
    .body(Full::default())
    .unwrap();
    let error = client.clone().oneshot(plain).await.unwrap_err();
    assert!(error.to_string().contains("plain http"), "{error}");
    assert_eq!((person.logins(), world.state().api_calls), (0, 0));
    // The one plain-http setting, on the login.
    let person = Person::new(&world);
    let allowed = builder(&world)
        .client_secret("secret")
        .scope_requirements("a", ["a:read"])
        .prompt(person.clone())
        .allow_plain_http(true)
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&allowed, world.addr);
    let plain = Request::get(format!(
        "http://api.example.org:{}/a/read",
        world.addr.port()
    ))
    .body(Full::default())
    .unwrap();
    assert!(client.oneshot(plain).await.is_ok());
}

async fn two_gares_for_one_resource_server_at_once_are_one_login<X: Transport>() {
    let world = World::start().await;
    let (login, person) = login_with::<X, _>(&world, MemoryTokenStore::default());
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    let (one, two) = tokio::join!(
        send(&client, get("/a/write")),
        send(&client, get("/a/admin"))
    );
    assert_eq!((one.0, two.0), (StatusCode::OK, StatusCode::OK));
    assert_eq!(person.logins(), 2, "one login for both GAREs");
    assert_eq!(
        person.asked(1),
        ["a:admin", "a:read", "a:write", "b:x", "openid"]
    );
}

async fn a_hook_adds_the_scope_a_gare_left_out_before_the_login<X: Transport>() {
    for amend in [false, true] {
        let world = World::start().await;
        world.state().gares_miss_scope = true;
        let person = Person::new(&world);
        let mut builder = builder(&world)
            .scope_requirements("a", ["a:read"])
            .prompt(person.clone());
        if amend {
            builder = builder.amend_gare(|cx, gare| {
                if cx.uri().path() == "/a/write" {
                    let scopes = gare
                        .authorization_parameters
                        .required_scopes
                        .get_or_insert_with(Vec::new);
                    scopes.push("a:write".into());
                }
            });
        }
        let login = builder.build(X::http(world.addr)).unwrap();
        let client = X::client(&login, world.addr);
        assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
        let (status, outcome) = send(&client, get("/a/write")).await;
        if amend {
            assert_eq!(status, StatusCode::OK);
            assert!(matches!(outcome, Some(RedriveOutcome::Redriven)));
            assert_eq!(person.asked(1), ["a:read", "a:write", "openid"]);
            assert_eq!(login.scope_requirements("a"), ["a:read", "a:write"]);
        } else {
            // Without the hook the login cannot know: the retry is refused again.
            assert_eq!(status, StatusCode::FORBIDDEN);
        }
    }
}

async fn without_a_prompt_a_session_gare_says_which_globus_cli_command_meets_it<X: Transport>() {
    let world = World::start().await;
    let (login, _) = login_with::<X, _>(&world, MemoryTokenStore::default());
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    let never = builder(&world)
        .scope_requirements("a", ["a:read"])
        .prompt(NeverPrompt)
        .build(X::http(world.addr))
        .unwrap();
    let session = |params: Value| {
        let gare = json!({"code": "AuthorizationRequired", "authorization_parameters": params});
        tower_gare::gare::to_gare(&gare).unwrap()
    };
    let uri = http::Uri::from_static("https://api.example.org/a/read");
    let cases = [
        (
            json!({"session_required_single_domain": ["uni.edu"], "required_scopes": ["a:read"]}),
            vec!["globus session update 'uni.edu' --scope 'a:read'".to_owned()],
        ),
        (
            json!({"session_required_identities": ["id-1", "id-2"], "session_required_single_domain": ["uni.edu"]}),
            // The scopes the login asks for are every requirement's.
            vec!["globus session update 'id-1' 'id-2' --scope 'a:read'".to_owned()],
        ),
        (
            json!({"session_required_policies": ["p1", "p2"]}),
            vec!["globus session update --policy 'p1,p2' --scope 'a:read'".to_owned()],
        ),
        // The CLI has no MFA option: the message says only the URL asks.
        (
            json!({"session_required_mfa": true}),
            vec!["globus session consent 'a:read'".to_owned()],
        ),
    ];
    for (params, expected) in cases {
        let gare = session(params);
        let cx = tower_gare::redrive::ReauthContext::new(
            gare.clone(),
            http::Method::GET,
            uri.clone(),
            StatusCode::FORBIDDEN,
        );
        let error = tower_gare::redrive::Reauthenticator::reauthenticate(&never, cx)
            .await
            .unwrap_err();
        let LoginError::LoginRequired {
            commands,
            gare: Some(seen),
            ..
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(commands, &expected);
        assert_eq!(**seen, gare);
        if gare.authorization_parameters.session_required_mfa == Some(true) {
            assert!(error.to_string().contains("multi-factor"), "{error}");
        }
    }
}

async fn two_session_gares_that_arrive_together_are_met_by_one_login<X: Transport>() {
    let world = World::start().await;
    let (login, person) = login_with::<X, _>(&world, MemoryTokenStore::default());
    // `/a/mfa` wants an MFA session, `/a/dom` a session from uni.edu: each
    // answers a GARE until a login asked for its requirement.
    let asked = {
        let person = person.clone();
        move |name: &str, value: &str| {
            person
                .seen
                .lock()
                .unwrap()
                .last()
                .and_then(|r| r.param(name).map(|v| v.split(',').any(|x| x == value)))
                .unwrap_or(false)
        }
    };
    world.state().front = Some(Arc::new(move |req| {
        let path = req.uri().path().to_owned();
        let gare = match path.as_str() {
            "/a/mfa" if !asked("session_required_mfa", "true") => {
                Some(json!({"session_required_mfa": true}))
            }
            "/a/dom" if !asked("session_required_single_domain", "uni.edu") => {
                Some(json!({"session_required_single_domain": ["uni.edu"]}))
            }
            _ => None,
        };
        if let Some(params) = gare {
            let body = json!({"code": "AuthorizationRequired", "authorization_parameters": params});
            let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
            *response.status_mut() = StatusCode::FORBIDDEN;
            return Some(response);
        }
        if path == "/a/mfa" || path == "/a/dom" {
            *req.uri_mut() = "/a/read".parse().unwrap();
        }
        None
    }));
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    let (mfa, dom) = tokio::join!(send(&client, get("/a/mfa")), send(&client, get("/a/dom")));
    assert_eq!((mfa.0, dom.0), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        person.logins(),
        2,
        "one login for both session requirements"
    );
    let last = person.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.param("session_required_mfa"), Some("true"));
    assert_eq!(
        last.param("session_required_single_domain"),
        Some("uni.edu")
    );
}

#[test]
fn secrets_never_go_to_a_plain_http_token_endpoint_off_loopback() {
    let plain = Login::builder("client")
        .client_secret("secret")
        .auth_base_url("http://auth.example.org/")
        .build(<crate::transport::Tower as Transport>::http(
            std::net::SocketAddr::from(([127, 0, 0, 1], 9)),
        ));
    assert!(
        matches!(&plain, Err(tower_gare::login::LoginConfigError::InsecureUrl { url }) if url.starts_with("http://auth.example.org/")),
        "{:?}",
        plain.err()
    );
    let loopback = Login::builder("client")
        .auth_base_url("http://127.0.0.1:9/")
        .build(<crate::transport::Tower as Transport>::http(
            std::net::SocketAddr::from(([127, 0, 0, 1], 9)),
        ));
    assert!(loopback.is_ok());
}

async fn a_malformed_gare_scope_fails_its_request_only<X: Transport>() {
    let world = World::start().await;
    let (login, person) = login_with::<X, _>(&world, MemoryTokenStore::default());
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    let bad = Gare::new(
        "ConsentRequired",
        tower_gare::gare::AuthorizationParameters {
            required_scopes: Some(vec!["a:x[unclosed".into()]),
            ..Default::default()
        },
    );
    let cx = tower_gare::redrive::ReauthContext::new(
        bad,
        http::Method::GET,
        http::Uri::from_static("https://api.example.org/a/x"),
        StatusCode::FORBIDDEN,
    );
    let error = tower_gare::redrive::Reauthenticator::reauthenticate(&login, cx)
        .await
        .unwrap_err();
    assert!(matches!(error, LoginError::InvalidScope(_)), "{error:?}");
    assert_eq!(login.scope_requirements("a"), ["a:read"]);
    // Later logins are not poisoned by it.
    assert_eq!(send(&client, get("/a/write")).await.0, StatusCode::OK);
    assert_eq!(person.logins(), 2);
}

both_transports!(
    the_first_request_is_authorized_and_a_second_program_logs_in_no_more,
    scope_requirements_last_so_consents_never_ping_pong,
    two_resource_servers_on_one_origin_alternate_without_a_gare,
    tokens_are_refreshed_before_they_expire_and_rotation_is_kept,
    a_refused_token_is_refreshed_once_and_the_request_retried,
    without_a_prompt_a_needed_login_says_what_to_run,
    a_thousand_requests_on_one_expired_token_cause_one_refresh,
    a_client_acts_as_itself_and_cannot_meet_a_session_requirement,
    logout_revokes_every_token_and_forgets_them,
    a_login_as_another_identity_is_refused_and_the_stored_tokens_kept,
    each_users_tokens_are_kept_apart,
    no_token_goes_over_plain_http_off_loopback,
    two_gares_for_one_resource_server_at_once_are_one_login,
    a_hook_adds_the_scope_a_gare_left_out_before_the_login,
    without_a_prompt_a_session_gare_says_which_globus_cli_command_meets_it,
    two_session_gares_that_arrive_together_are_met_by_one_login,
    a_malformed_gare_scope_fails_its_request_only,
);
