//! The credentials step of `Login::layer()`: a request that waits for its
//! token (a login, a slow token store) holds none of the inner service's
//! capacity, and blocks no async worker.
#![cfg(feature = "login")]

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tokio::sync::Notify;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
use tower_gare::login::{
    AuthorizationResponse, AuthorizeRequest, Login, LoginError, MemoryTokenStore, NeverPrompt,
    Prompt, ResourceServers, Token, TokenStore, DEFAULT_NAMESPACE,
};
use tower_gare::redrive::User;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A login whose token endpoint is never reached (every token it needs is
/// stored, or its prompt never answers).
fn login<P: Prompt, T: TokenStore>(
    prompt: P,
    store: T,
) -> Login<impl tower_gare::login::TokenClient, P, T> {
    let no_token_endpoint = service_fn(|_req: Request<Full<Bytes>>| async {
        Err::<Response<Full<Bytes>>, BoxError>("no token endpoint here".into())
    });
    Login::builder("client")
        .auth_base_url("http://127.0.0.1:9/")
        .resource_servers(ResourceServers::new().with("https://api.test/", "rs"))
        .scope_requirements("rs", ["rs:all"])
        .prompt(prompt)
        .token_store(store)
        .build(no_token_endpoint)
        .unwrap()
}

fn valid_token() -> Token {
    let expires = Some(SystemTime::now() + Duration::from_secs(3600));
    Token::new("rs", "t", "rs:all", expires)
}

/// An API that answers 200 to the token `t`, 401 to anything else.
fn api() -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = BoxError,
    Future = impl Send,
> + Clone
       + Send {
    service_fn(|req: Request<Full<Bytes>>| async move {
        let ok = req
            .headers()
            .get("authorization")
            .is_some_and(|v| v == "Bearer t");
        let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
        if !ok {
            *response.status_mut() = StatusCode::UNAUTHORIZED;
        }
        Ok::<_, BoxError>(response)
    })
}

fn get(user: &str) -> Request<Full<Bytes>> {
    let mut request = Request::get("https://api.test/x")
        .body(Full::default())
        .unwrap();
    request.extensions_mut().insert(User::new(user));
    request
}

/// A person who opens the login page and does not come back until told.
#[derive(Clone, Debug, Default)]
struct Away {
    entered: Arc<Notify>,
    back: Arc<Notify>,
}

impl Prompt for Away {
    async fn authorize(
        &self,
        _request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        self.entered.notify_one();
        self.back.notified().await;
        Err(LoginError::Cancelled)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_for_a_login_holds_no_capacity_of_the_inner_service() {
    let store = MemoryTokenStore::default();
    store
        .put(&User::new("bob").namespace(), &[valid_token()])
        .unwrap();
    let away = Away::default();
    let login = login(away.clone(), store);
    // One request at a time inside the layer.
    let client = ServiceBuilder::new()
        .layer(login.layer())
        .concurrency_limit(1)
        .service(api());

    let alice = tokio::spawn(client.clone().oneshot(get("alice")));
    tokio::time::timeout(Duration::from_secs(20), away.entered.notified())
        .await
        .expect("Alice's login reached her prompt");
    // Alice's login is at its prompt; Bob's token is stored: his request
    // goes through, with the one slot free.
    let bob = tokio::time::timeout(Duration::from_secs(20), client.clone().oneshot(get("bob")))
        .await
        .expect("Bob's request waited behind Alice's login")
        .unwrap();
    assert_eq!(bob.status(), StatusCode::OK);
    assert!(!alice.is_finished(), "Alice is still at her prompt");
    away.back.notify_one();
    let error = tokio::time::timeout(Duration::from_secs(20), alice)
        .await
        .expect("Alice's request ends when she comes back")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            error.downcast_ref::<LoginError>(),
            Some(LoginError::Cancelled)
        ),
        "{error}"
    );
}

/// A token store that takes `delay` for every read, blocking its thread
/// (a file on a slow disk, a lock another process holds).
#[derive(Debug)]
struct Slow {
    inner: MemoryTokenStore,
    delay: Duration,
    reads: Arc<std::sync::atomic::AtomicUsize>,
}

impl TokenStore for Slow {
    fn get(&self, namespace: &str, resource_server: &str) -> io::Result<Option<Token>> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(self.delay);
        self.inner.get(namespace, resource_server)
    }
    fn get_all(&self, namespace: &str) -> io::Result<Vec<Token>> {
        std::thread::sleep(self.delay);
        self.inner.get_all(namespace)
    }
    fn put(&self, namespace: &str, tokens: &[Token]) -> io::Result<()> {
        self.inner.put(namespace, tokens)
    }
    fn remove(&self, namespace: &str, resource_server: &str) -> io::Result<()> {
        self.inner.remove(namespace, resource_server)
    }
}

/// On a current-thread runtime (one worker for every task), a request
/// reading its token from a store that takes 2 s stalls no other task.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_token_store_stalls_no_other_task() {
    let inner = MemoryTokenStore::default();
    inner.put(DEFAULT_NAMESPACE, &[valid_token()]).unwrap();
    let delay = Duration::from_secs(2);
    // No one to prompt: a token that is not found fails fast.
    let reads = Arc::default();
    let store = Slow {
        inner,
        delay,
        reads: Arc::clone(&reads),
    };
    let login = login(NeverPrompt, store);
    let client = ServiceBuilder::new().layer(login.layer()).service(api());

    let started = Instant::now();
    let request = tokio::spawn(
        client.clone().oneshot(
            Request::get("https://api.test/x")
                .body(Full::default())
                .unwrap(),
        ),
    );
    // Another task ticks every 5 ms meanwhile: the longest gap between two
    // ticks is how long the worker was kept from it.
    let mut longest = Duration::ZERO;
    let mut last = Instant::now();
    while !request.is_finished() {
        tokio::time::sleep(Duration::from_millis(5)).await;
        longest = longest.max(last.elapsed());
        last = Instant::now();
    }
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= delay, "the store was read");
    eprintln!("longest stall of the other task: {longest:?} (store read: {delay:?})");
    // Generous for a loaded CI machine; a store read on the worker would
    // stall it for the whole 2 s.
    assert!(longest < Duration::from_millis(500), "stalled {longest:?}");

    // The token is held now: the next request does not touch the store.
    let request = Request::get("https://api.test/x")
        .body(Full::default())
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A held token goes on at once: `call` sends the request to the inner
/// service itself, before its future is polled (no wait, no readiness
/// given back and taken again).
#[tokio::test]
async fn a_held_token_is_attached_in_call_without_waiting() {
    let store = MemoryTokenStore::default();
    store.put(DEFAULT_NAMESPACE, &[valid_token()]).unwrap();
    let login = login(NeverPrompt, store);
    let (mock, mut handle) =
        tower_test::mock::pair::<Request<Full<Bytes>>, Response<Full<Bytes>>>();
    let mut client = tower::Layer::layer(&login.layer(), mock);
    handle.allow(2);
    for round in 0..2 {
        client.ready().await.unwrap();
        let response = client.call(
            Request::get("https://api.test/x")
                .body(Full::default())
                .unwrap(),
        );
        let sent = futures_util::FutureExt::now_or_never(handle.next_request());
        match (round, sent) {
            // The first request reads the store: it waits, and is sent
            // when its future runs.
            (0, None) => {
                let mut response = Box::pin(response);
                assert!(futures_util::FutureExt::now_or_never(&mut response).is_none());
                let (request, reply) = handle.next_request().await.unwrap();
                assert_eq!(request.headers()["authorization"], "Bearer t");
                reply.send_response(Response::new(Full::default()));
                assert_eq!(response.await.unwrap().status(), StatusCode::OK);
            }
            // The token is held now: the request is already sent.
            (1, Some(Some((request, reply)))) => {
                assert_eq!(request.headers()["authorization"], "Bearer t");
                reply.send_response(Response::new(Full::default()));
                assert_eq!(response.await.unwrap().status(), StatusCode::OK);
            }
            (round, sent) => panic!("round {round}: sent in call: {}", sent.is_some()),
        }
    }
}
