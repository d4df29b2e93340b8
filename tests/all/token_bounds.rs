//! Tokens only where they belong, over real sockets on both transports:
//! requests no rule maps get nothing; users never share a namespace; fresh
//! tokens survive a failed write; a failed login is not repeated for its
//! waiters; short-lived tokens serve half their life; one person's prompt
//! holds up no one else; a refused GARE scope spoils no later login; logout
//! waits for what is in flight; only a Bearer 401 on the login's own token
//! is a refusal; a rotated refresh token is read again from the store.
#![cfg(all(feature = "login", feature = "reqwest"))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tokio::sync::Notify;
use tower_gare::gare::Gare;
use tower_gare::login::{
    AuthorizationResponse, AuthorizeRequest, Login, LoginConfigError, LoginError, MemoryTokenStore,
    Prompt, ResourceServers, Token, TokenStore, DEFAULT_NAMESPACE,
};
use tower_gare::redrive::{RedriveOutcome, User};

use crate::login_life::{builder, get, login_with, refreshing, send, Person, World};
use crate::transport::{both_transports, Tapped, Transport};

/// What went over the wire below the login, in order.
fn tap() -> (crate::transport::Tap, Arc<Mutex<Vec<Tapped>>>) {
    let seen: Arc<Mutex<Vec<Tapped>>> = Arc::default();
    let sink = Arc::clone(&seen);
    (
        Arc::new(move |tapped: Tapped| sink.lock().unwrap().push(tapped)),
        seen,
    )
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
}

/// Requests to a path no rule covers (on a mapped origin, and under a
/// rule's path without its segment boundary) go as the caller made them:
/// no token, no login; their 401 and GARE come back whole, saying so.
async fn an_unmapped_request_gets_no_token_and_starts_no_login<X: Transport>() {
    let world = World::start().await;
    // `/c/gare` answers a GARE whatever the request carries.
    world.state().front = Some(Arc::new(|request: &mut Request<Full<Bytes>>| {
        (request.uri().path() == "/c/gare").then(|| {
            let gare = json!({"code": "ConsentRequired", "authorization_parameters": {"required_scopes": ["c:x"]}});
            json_response(StatusCode::FORBIDDEN, gare)
        })
    }));
    let person = Person::new(&world);
    let login = Login::builder("client")
        .auth_base_url(world.base())
        // A rule with no trailing slash: `/a` covers `/a/...`, not `/ab`.
        .resource_servers(ResourceServers::new().with(&format!("{}/a", world.base()), "a"))
        .scope_requirements("a", ["a:read"])
        .prompt(person.clone())
        .build(X::http(world.addr))
        .unwrap();
    let (tap, seen) = tap();
    let client = X::client_tapped(&login, world.addr, tap);
    for path in ["/c/read", "/ab/read"] {
        let response = client.clone().oneshot(get(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            matches!(
                RedriveOutcome::of(&response),
                Some(RedriveOutcome::Unmapped)
            ),
            "{path}: {:?}",
            RedriveOutcome::of(&response)
        );
        assert_eq!(
            response.body(),
            &Bytes::from(json!({"code": "AuthenticationFailed"}).to_string()),
            "{path}: the body as it came"
        );
    }
    let response = client.clone().oneshot(get("/c/gare")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::Unmapped)
    ));
    assert!(
        response.extensions().get::<Gare>().is_some(),
        "GARE attached"
    );
    assert_eq!(person.logins(), 0, "no login for an unmapped host");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3, "each sent once");
        assert!(
            seen.iter()
                .all(|t| !t.headers.contains_key("authorization")),
            "no token went to an unmapped URL"
        );
        let state = world.state();
        assert_eq!((state.code_exchanges, state.refreshes), (0, 0));
    }

    // The mapped path still gets its token.
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    assert_eq!(person.logins(), 1);
}

#[test]
fn a_resource_server_rule_that_does_not_parse_fails_the_build() {
    for bad in ["http://[::1", "/relative/path", "not a url"] {
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        let built = Login::builder("client")
            .auth_base_url("https://auth.example.org")
            .resource_servers(ResourceServers::new().with(bad, "x"))
            .build(http);
        match built {
            Err(LoginConfigError::InvalidResourceServerRule { url_prefix }) => {
                assert_eq!(url_prefix, bad)
            }
            other => panic!("{bad}: {:?}", other.map(|_| ())),
        }
    }
}

/// A user whose id is the program's default namespace gets their own
/// login, and the program's tokens stay as they were.
async fn a_user_named_default_never_reads_the_programs_tokens<X: Transport>() {
    let world = World::start().await;
    let (login, person) = login_with::<X, _>(&world, MemoryTokenStore::default());
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    let programs = login.token_store().get_all(DEFAULT_NAMESPACE).unwrap();
    assert!(!programs.is_empty());
    let mut request = get("/a/read");
    request
        .extensions_mut()
        .insert(User::new(DEFAULT_NAMESPACE));
    assert_eq!(send(&client, request).await.0, StatusCode::OK);
    assert_eq!(person.logins(), 2, "the user's own login");
    assert_eq!(
        login.token_store().get_all(DEFAULT_NAMESPACE).unwrap(),
        programs
    );
    let theirs = User::new(DEFAULT_NAMESPACE).namespace();
    assert!(login.token_store().get(&theirs, "a").unwrap().is_some());
}

/// A store whose writes fail while `failing` is set.
#[derive(Debug, Default)]
struct FlakyStore {
    inner: MemoryTokenStore,
    failing: AtomicBool,
}

impl TokenStore for FlakyStore {
    fn get(&self, namespace: &str, resource_server: &str) -> std::io::Result<Option<Token>> {
        self.inner.get(namespace, resource_server)
    }
    fn get_all(&self, namespace: &str) -> std::io::Result<Vec<Token>> {
        self.inner.get_all(namespace)
    }
    fn put(&self, namespace: &str, tokens: &[Token]) -> std::io::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("disk full"));
        }
        self.inner.put(namespace, tokens)
    }
    fn remove(&self, namespace: &str, resource_server: &str) -> std::io::Result<()> {
        self.inner.remove(namespace, resource_server)
    }
}

/// A refresh that rotates the refresh token, whose write fails: the new
/// tokens serve from memory (not the older stored ones), the person is
/// told, and the next refresh uses the new refresh token: no login.
async fn a_failed_store_write_keeps_the_fresh_tokens_and_warns<X: Transport>() {
    let world = World::start().await;
    let store = Arc::new(FlakyStore::default());
    let person = Person::new(&world);
    let login = refreshing(&world)
        .prompt(person.clone())
        .token_store(Arc::clone(&store))
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    store.failing.store(true, Ordering::SeqCst);
    for round in 1..=2 {
        world.expire_all_access();
        let (status, outcome) = send(&client, get("/a/read")).await;
        assert_eq!(status, StatusCode::OK, "round {round}");
        assert!(matches!(outcome, Some(RedriveOutcome::Redriven)));
        assert_eq!(world.state().refreshes, round);
    }
    assert_eq!(person.logins(), 1, "no login: the rotated token was kept");
    let notices = person.notices.lock().unwrap();
    assert!(
        notices.iter().any(|n| n.contains("could not be stored")),
        "{notices:?}"
    );
    assert!(
        !notices
            .iter()
            .any(|n| n.contains("at-a-") || n.contains("rt-a-")),
        "no token in a notice: {notices:?}"
    );
}

/// Tokens whose write failed serve from memory; a logout revokes them too
/// (the store never had them), and forgets them.
async fn logout_revokes_the_held_tokens_the_store_never_got<X: Transport>() {
    let world = World::start().await;
    let store = Arc::new(FlakyStore::default());
    store.failing.store(true, Ordering::SeqCst);
    let person = Person::new(&world);
    let login = refreshing(&world)
        .prompt(person.clone())
        .token_store(Arc::clone(&store))
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    assert!(store.get_all(DEFAULT_NAMESPACE).unwrap().is_empty());
    login.logout().await.unwrap();
    {
        let state = world.state();
        assert!(state.access.is_empty(), "every access token revoked");
        assert!(state.refresh.is_empty(), "every refresh token revoked");
    }
    // Forgotten: the next request logs in again.
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    assert_eq!(person.logins(), 2);
}

/// A refresh that hands back the very token the server just refused is no
/// answer: a login follows, and the request goes with the new token.
async fn a_refresh_that_returns_the_refused_token_leads_to_a_login<X: Transport>() {
    let world = World::start().await;
    let person = Person::new(&world);
    let login = refreshing(&world)
        .prompt(person.clone())
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    let refused = login
        .token_store()
        .get(DEFAULT_NAMESPACE, "a")
        .unwrap()
        .unwrap()
        .access_token()
        .to_owned();
    world.expire_all_access();
    world.state().front = Some(Arc::new(move |request: &mut Request<Full<Bytes>>| {
        let body = futures_util::FutureExt::now_or_never(request.body_mut().collect())?
            .ok()?
            .to_bytes();
        *request.body_mut() = Full::new(body.clone());
        let refresh =
            form_urlencoded::parse(&body).any(|(k, v)| k == "grant_type" && v == "refresh_token");
        refresh.then(|| {
            json_response(
                StatusCode::OK,
                json!({"access_token": refused, "resource_server": "a", "scope": "a:read",
                       "expires_in": 3600, "token_type": "Bearer", "refresh_token": "rt-same"}),
            )
        })
    }));
    let (status, outcome) = send(&client, get("/a/read")).await;
    assert_eq!(status, StatusCode::OK, "{outcome:?}");
    assert_eq!(person.logins(), 2);
}

/// A token that cannot go in a header is an error and is never stored,
/// so it blocks nothing later.
async fn a_token_that_cannot_go_in_a_header_is_never_stored<X: Transport>() {
    let world = World::start().await;
    let bad = Arc::new(AtomicBool::new(true));
    let answering = Arc::clone(&bad);
    world.state().front = Some(Arc::new(move |request: &mut Request<Full<Bytes>>| {
        (request.uri().path() == "/v2/oauth2/token" && answering.load(Ordering::SeqCst)).then(
            || {
                json_response(
                    StatusCode::OK,
                    json!({"access_token": "bad\ntoken", "resource_server": "a", "scope": "a:read",
                       "expires_in": 3600, "token_type": "Bearer"}),
                )
            },
        )
    }));
    let (login, _person) = login_with::<X, _>(&world, MemoryTokenStore::default());
    let client = X::client(&login, world.addr);
    let error = client.clone().oneshot(get("/a/read")).await.unwrap_err();
    assert!(format!("{error:?}").contains("InvalidToken"), "{error:?}");
    assert!(login
        .token_store()
        .get_all(DEFAULT_NAMESPACE)
        .unwrap()
        .is_empty());
    bad.store(false, Ordering::SeqCst);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
}

/// A prompt that is cancelled after a moment, counting how often it was
/// shown.
#[derive(Clone, Debug, Default)]
struct Cancelling {
    shown: Arc<AtomicUsize>,
}

impl Prompt for Cancelling {
    async fn authorize(
        &self,
        _request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        self.shown.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        Err(LoginError::Cancelled)
    }
}

/// Eight requests meet one cancelled prompt: it is shown once, and all
/// eight fail as cancelled.
async fn a_cancelled_login_is_not_shown_again_to_the_requests_that_waited<X: Transport>() {
    let world = World::start().await;
    let prompt = Cancelling::default();
    let login = builder(&world)
        .scope_requirements("a", ["a:read"])
        .prompt(prompt.clone())
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    let calls = (0..8).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.oneshot(get("/a/read")).await })
    });
    for result in futures_util::future::join_all(calls).await {
        let error = result.unwrap().unwrap_err();
        assert!(format!("{error:?}").contains("Cancelled"), "{error:?}");
    }
    assert_eq!(prompt.shown.load(Ordering::SeqCst), 1);
    // A request that comes after may ask again.
    let _ = client.clone().oneshot(get("/a/read")).await;
    assert_eq!(prompt.shown.load(Ordering::SeqCst), 2);
}

/// A token that lives less than the refresh margin (60 s) is used for
/// half its life: twenty requests on a 30-second token, no refresh.
async fn a_short_lived_token_serves_half_its_life_without_a_refresh<X: Transport>() {
    let world = World::start().await;
    world.state().ttl = 30;
    let person = Person::new(&world);
    let login = refreshing(&world)
        .prompt(person.clone())
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    for _ in 0..20 {
        assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    }
    assert_eq!((world.state().refreshes, person.logins()), (0, 1));
}

/// A token issued already expired (`expires_in: 0`) is still used for the
/// request it was obtained for: each request refreshes, none logs in.
async fn a_token_issued_expired_serves_the_request_it_was_obtained_for<X: Transport>() {
    let world = World::start().await;
    world.state().ttl = 0;
    let person = Person::new(&world);
    let login = refreshing(&world)
        .prompt(person.clone())
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    for _ in 0..5 {
        assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    }
    assert_eq!(person.logins(), 1);
    assert_eq!(world.state().refreshes, 4);
}

/// A person who keeps the first login waiting until told, and approves
/// every other at once.
#[derive(Clone, Debug)]
struct SlowFirst {
    person: Person,
    calls: Arc<AtomicUsize>,
    entered: Arc<Notify>,
    back: Arc<Notify>,
    /// Whether every login after the first is cancelled.
    then_cancel: bool,
}

impl SlowFirst {
    fn new(world: &World) -> Self {
        SlowFirst {
            person: Person::new(world),
            calls: Arc::default(),
            entered: Arc::default(),
            back: Arc::default(),
            then_cancel: false,
        }
    }
}

impl Prompt for SlowFirst {
    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            self.entered.notify_one();
            self.back.notified().await;
        } else if self.then_cancel {
            return Err(LoginError::Cancelled);
        }
        Ok(self.person.approve(request))
    }
}

fn for_user(path: &str, user: &str) -> Request<Full<Bytes>> {
    let mut request = get(path);
    request.extensions_mut().insert(User::new(user));
    request
}

/// Alice's login waits at her prompt; Bob's goes on meanwhile.
async fn one_persons_pending_login_does_not_hold_up_anothers<X: Transport>() {
    let world = World::start().await;
    let prompt = SlowFirst::new(&world);
    let login = builder(&world)
        .scope_requirements("a", ["a:read"])
        .prompt(prompt.clone())
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    let alice = tokio::spawn(client.clone().oneshot(for_user("/a/read", "alice")));
    tokio::time::timeout(Duration::from_secs(20), prompt.entered.notified())
        .await
        .expect("Alice's login reached her prompt");
    let bob = tokio::time::timeout(
        Duration::from_secs(20),
        client.clone().oneshot(for_user("/a/read", "bob")),
    )
    .await
    .expect("Bob's login waited behind Alice's")
    .unwrap();
    assert_eq!(bob.status(), StatusCode::OK);
    assert!(!alice.is_finished());
    prompt.back.notify_one();
    let alice = alice.await.unwrap().unwrap();
    assert_eq!(alice.status(), StatusCode::OK);
}

/// A person who takes a moment to approve.
#[derive(Clone, Debug)]
struct Slow(Person);

impl Prompt for Slow {
    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        self.0.seen.lock().unwrap().push(request.clone());
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(self.0.approve(request))
    }
}

/// One person, one prompt at a time: two of Alice's requests to two
/// resource servers at once make one login (it asks for both), not two
/// browser tabs.
async fn one_person_is_asked_one_login_at_a_time<X: Transport>() {
    let world = World::start().await;
    let person = Slow(Person::new(&world));
    let login = builder(&world)
        .scope_requirements("a", ["a:read"])
        .scope_requirements("b", ["b:x"])
        .prompt(person.clone())
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    let a = tokio::spawn(client.clone().oneshot(for_user("/a/read", "alice")));
    let b = tokio::spawn(client.clone().oneshot(for_user("/b/x", "alice")));
    for response in [a.await.unwrap().unwrap(), b.await.unwrap().unwrap()] {
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(person.0.logins(), 1);
}

/// A person whose authorization server refuses `a:evil`.
#[derive(Clone, Debug)]
struct RefusesEvil(Person);

impl Prompt for RefusesEvil {
    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        self.0.seen.lock().unwrap().push(request.clone());
        if request.param("scope").unwrap_or("").contains("a:evil") {
            return Err(LoginError::Refused {
                error: "invalid_scope".into(),
                description: None,
            });
        }
        Ok(self.0.approve(request))
    }
}

/// A GARE's scope the authorization server refuses fails its own request
/// only: it never joins the requirements, and later logins go through.
async fn a_gare_scope_the_server_refuses_spoils_no_later_login<X: Transport>() {
    let world = World::start().await;
    let person = RefusesEvil(Person::new(&world));
    let login = builder(&world)
        .scope_requirements("a", ["a:read"])
        .scope_requirements("b", ["b:x"])
        .prompt(person.clone())
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    let (status, outcome) = send(&client, get("/a/evil")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        matches!(outcome, Some(RedriveOutcome::ReauthFailed(_))),
        "{outcome:?}"
    );
    assert_eq!(login.scope_requirements("a"), ["a:read"]);
    // Another resource server's GARE: a login without the refused scope.
    let (status, outcome) = send(&client, get("/b/y")).await;
    assert_eq!(status, StatusCode::OK, "{outcome:?}");
    let logins = person.0.logins();
    assert!(!person.0.asked(logins - 1).contains(&"a:evil".to_owned()));
    assert_eq!(login.scope_requirements("b"), ["b:x", "b:y"]);
    assert_eq!(login.scope_requirements("a"), ["a:read"]);
}

/// A logout while a login waits at the prompt waits for it, then revokes
/// and removes what it brought: nothing is left in the store.
async fn logout_waits_for_a_login_in_flight_and_revokes_what_it_got<X: Transport>() {
    let world = World::start().await;
    // The request may meet its token revoked and want another login: the
    // person says no, so only the first login's tokens are in play.
    let prompt = SlowFirst {
        then_cancel: true,
        ..SlowFirst::new(&world)
    };
    let login = refreshing(&world)
        .prompt(prompt.clone())
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    let request = tokio::spawn(client.clone().oneshot(get("/a/read")));
    tokio::time::timeout(Duration::from_secs(20), prompt.entered.notified())
        .await
        .expect("the login reached the prompt");
    let out = login.clone();
    let logout = tokio::spawn(async move { out.logout().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!logout.is_finished(), "the logout waits for the login");
    prompt.back.notify_one();
    let _ = request.await.unwrap();
    logout.await.unwrap().unwrap();
    let left = login.token_store().get_all(DEFAULT_NAMESPACE).unwrap();
    assert!(left.is_empty(), "{left:?}");
    let state = world.state();
    assert!(
        state.revoked.iter().any(|t| t.starts_with("rt-a-")),
        "{:?}",
        state.revoked
    );
    assert!(state.refresh.is_empty(), "no refresh token left alive");
}

/// A 401 with a `Basic` challenge refuses no token: a request the caller
/// sent with its own Basic credentials comes back as it came (no login,
/// no bearer token in its place), and neither does the login's token
/// get refreshed for it.
async fn a_basic_challenge_is_not_a_refused_token<X: Transport>() {
    let world = World::start().await;
    world.state().front = Some(Arc::new(|request: &mut Request<Full<Bytes>>| {
        (request.uri().path() == "/a/basic").then(|| {
            let mut response = json_response(StatusCode::UNAUTHORIZED, json!({}));
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static(r#"Basic realm="x""#),
            );
            response
        })
    }));
    let person = Person::new(&world);
    let login = refreshing(&world)
        .prompt(person.clone())
        .build(X::http(world.addr))
        .unwrap();
    let (tap, seen) = tap();
    let client = X::client_tapped(&login, world.addr, tap);
    let mut request = get("/a/basic");
    request.headers_mut().insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_static("Basic dXNlcjpwYXNz"),
    );
    let (status, _) = send(&client, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(person.logins(), 0, "no login for a Basic challenge");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "not sent again");
        assert_eq!(seen[0].headers["authorization"], "Basic dXNlcjpwYXNz");
    }
    // With the login's token on it: not refreshed, not retried.
    let (status, _) = send(&client, get("/a/basic")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!((person.logins(), world.state().refreshes), (1, 0));
    assert_eq!(seen.lock().unwrap().len(), 2, "sent once");
}

/// Another process refreshes (rotating the refresh token) between this
/// one's read of the store and its own refresh: its refresh meets
/// `invalid_grant`, reads the store again, and takes the other's tokens,
/// with no login.
async fn a_rotated_refresh_token_is_read_again_from_the_store_before_a_login<X: Transport>() {
    let world = World::start().await;
    // Tokens that live less than the refresh margin: the other process's,
    // read from the store, are inside it as soon as they are stored.
    world.state().ttl = 30;
    let store = Arc::new(MemoryTokenStore::default());
    let person = Person::new(&world);
    let login = refreshing(&world)
        .prompt(person.clone())
        .token_store(Arc::clone(&store))
        .build(X::http(world.addr))
        .unwrap();
    let client = X::client(&login, world.addr);
    assert_eq!(send(&client, get("/a/read")).await.0, StatusCode::OK);
    // The other process: when this one's refresh comes, it has just
    // refreshed the same token and stored what it got.
    let (other, other_store, raced) = (
        world.clone(),
        Arc::clone(&store),
        Arc::new(AtomicBool::new(false)),
    );
    let racing = Arc::clone(&raced);
    world.state().front = Some(Arc::new(move |request: &mut Request<Full<Bytes>>| {
        if request.uri().path() != "/v2/oauth2/token" || racing.swap(true, Ordering::SeqCst) {
            return None;
        }
        let body = futures_util::FutureExt::now_or_never(request.body_mut().collect())?
            .ok()?
            .to_bytes();
        let old = form_urlencoded::parse(&body)
            .find(|(k, _)| k == "refresh_token")
            .map(|(_, v)| v.into_owned())?;
        let mut state = other.state();
        let issued = state.refresh.remove(&old)?;
        let doc = World::issue(&mut state, &issued.scopes, true);
        let token = Token::new(
            "a",
            doc["access_token"].as_str().unwrap(),
            "a:read",
            Some(std::time::SystemTime::now() + Duration::from_secs(30)),
        )
        .with_refresh_token(doc["refresh_token"].as_str().unwrap());
        other_store.put(DEFAULT_NAMESPACE, &[token]).unwrap();
        // This process's refresh goes on, with the rotated-away token.
        *request.body_mut() = Full::new(body);
        None
    }));
    world.expire_all_access();
    let (status, outcome) = send(&client, get("/a/read")).await;
    assert!(raced.load(Ordering::SeqCst), "the race happened");
    assert_eq!(status, StatusCode::OK, "{outcome:?}");
    assert_eq!(person.logins(), 1, "the other process's tokens, no login");
}

both_transports!(
    an_unmapped_request_gets_no_token_and_starts_no_login,
    a_user_named_default_never_reads_the_programs_tokens,
    a_failed_store_write_keeps_the_fresh_tokens_and_warns,
    a_token_that_cannot_go_in_a_header_is_never_stored,
    a_refresh_that_returns_the_refused_token_leads_to_a_login,
    logout_revokes_the_held_tokens_the_store_never_got,
    a_cancelled_login_is_not_shown_again_to_the_requests_that_waited,
    a_short_lived_token_serves_half_its_life_without_a_refresh,
    a_token_issued_expired_serves_the_request_it_was_obtained_for,
    one_persons_pending_login_does_not_hold_up_anothers,
    one_person_is_asked_one_login_at_a_time,
    a_gare_scope_the_server_refuses_spoils_no_later_login,
    logout_waits_for_a_login_in_flight_and_revokes_what_it_got,
    a_basic_challenge_is_not_a_refused_token,
    a_rotated_refresh_token_is_read_again_from_the_store_before_a_login,
);

/// A URL no rule covers is mapped by its host only over https on the
/// default port, and only when the login has requirements for that host.
#[test]
fn a_host_named_by_the_requirements_is_mapped_over_https_on_its_default_port_only() {
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let login = Login::builder("client")
        .auth_base_url("https://auth.example.org")
        .resource_servers(ResourceServers::new())
        .scope_requirements("files.example.org", ["files:read"])
        .build(http)
        .unwrap();
    for (url, mapped) in [
        ("https://files.example.org/a.txt", true),
        ("https://FILES.example.org:443/a.txt", true),
        ("http://files.example.org/a.txt", false),
        ("https://files.example.org:8443/a.txt", false),
        ("https://other.example.org/a.txt", false),
    ] {
        let uri: http::Uri = url.parse().unwrap();
        let expected = mapped.then(|| "files.example.org".to_owned());
        assert_eq!(login.resource_server_for(&uri), expected, "{url}");
    }
}
