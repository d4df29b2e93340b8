//! What a `Login`'s tokens cost on the requests that carry them (issue 12):
//!
//! 1. in memory: the attaching layer's cost per request, against tower-http
//!    `FollowRedirect`'s on the same request with five headers, in one run;
//! 2. over loopback: a client with `Login::layer` (a held token attached)
//!    against a bare client whose requests carry the same token by hand, A/B;
//! 3. 1,000 concurrent requests that meet one expired token: how many
//!    refreshes, and the last response's time against the refresh's own.
//!
//! Rounds alternate the sides so drift on a shared machine hits both alike;
//! figures are medians. Run: `cargo bench --bench token_life`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_gare::login::{
    Login, MemoryTokenStore, NeverPrompt, ResourceServers, Token, TokenStore, DEFAULT_NAMESPACE,
};
use tower_http::follow_redirect::FollowRedirectLayer;

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../tests/support/ok200.rs"]
mod ok200;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// A store holding a valid token `t` for `rs`, so the layer attaches it
/// without any login.
fn store_with_token() -> MemoryTokenStore {
    let store = MemoryTokenStore::default();
    let expires = Some(SystemTime::now() + Duration::from_secs(48 * 3600));
    store
        .put(DEFAULT_NAMESPACE, &[Token::new("rs", "t", "s", expires)])
        .unwrap();
    store
}

/// A login that never reaches a token endpoint (its token is stored).
fn login_with<C: tower_gare::login::TokenClient>(
    client: C,
    prefix: &str,
    store: MemoryTokenStore,
) -> Login<C, NeverPrompt, MemoryTokenStore> {
    Login::builder("bench-client")
        .auth_base_url("http://127.0.0.1:9/")
        .resource_servers(ResourceServers::new().with(prefix, "rs"))
        .prompt(NeverPrompt)
        .token_store(store)
        .build(client)
        .unwrap()
}

fn five_headers(uri: &str) -> Request<String> {
    Request::get(uri)
        .header("accept", "application/json")
        .header("user-agent", "tower-gare-bench/0.1")
        .header("x-request-id", "0f1e2d3c")
        .header("accept-encoding", "identity")
        .header("x-globus-client-info", "product=bench")
        .body(String::new())
        .unwrap()
}

async fn per_call<S>(service: &mut S, n: usize) -> f64
where
    S: Service<Request<String>>,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    for _ in 0..n {
        service.ready().await.unwrap();
        let response = service
            .call(five_headers("https://api.test/x"))
            .await
            .unwrap();
        std::hint::black_box(response);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

async fn in_memory() {
    let no_token_endpoint = service_fn(|_req: Request<Full<Bytes>>| async {
        Err::<Response<Full<Bytes>>, _>("the token is stored: no token endpoint is called")
    });
    let login = login_with(no_token_endpoint, "https://api.test/", store_with_token());
    let mut bare = ok200::Ok200;
    let mut follow = FollowRedirectLayer::new().layer(ok200::Ok200);
    let mut attach = login.layer().layer(ok200::Ok200);
    // The first request loads the token from the store; then it is held.
    per_call(&mut attach, 1000).await;
    per_call(&mut follow, 1000).await;
    const N: usize = 200_000;
    let (mut b, mut f, mut a) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..9 {
        b.push(per_call(&mut bare, N).await);
        f.push(per_call(&mut follow, N).await);
        a.push(per_call(&mut attach, N).await);
    }
    let (b, f, a) = (median(b), median(f), median(a));
    println!("in memory, a GET with five headers to a ready 200 service, {N} calls x 9 rounds:");
    println!("  bare:                     {b:7.1} ns/call");
    println!(
        "  FollowRedirect:           {f:7.1} ns/call (overhead {:6.1} ns)",
        f - b
    );
    println!(
        "  login.layer() (token held):{a:7.1} ns/call (overhead {:6.1} ns)",
        a - b
    );
    println!(
        "  attach overhead / FollowRedirect overhead: {:.2} (target <= 1)",
        (a - b) / (f - b)
    );
}

async fn loopback() {
    let addr = common::serve(|req: Request<hyper::body::Incoming>| async move {
        if common::bearer(&req).as_deref() == Some("t") {
            common::reply(StatusCode::OK, "{\"DATA\": []}")
        } else {
            common::reply(StatusCode::UNAUTHORIZED, "{}")
        }
    })
    .await;
    let uri: http::Uri = format!("http://{addr}/listing").parse().unwrap();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let login = login_with(
        client.clone(),
        &format!("http://{addr}/"),
        store_with_token(),
    );
    let layered = ServiceBuilder::new()
        .layer(login.layer())
        .service(client.clone());
    let by_hand = || {
        Request::get(uri.clone())
            .header("authorization", "Bearer t")
            .body(Full::default())
            .unwrap()
    };
    let plain = || Request::get(uri.clone()).body(Full::default()).unwrap();
    for _ in 0..500 {
        let r = client.clone().oneshot(by_hand()).await.unwrap();
        assert_eq!(r.status(), 200);
        r.into_body().collect().await.unwrap();
        let r = layered.clone().oneshot(plain()).await.unwrap();
        assert_eq!(r.status(), 200);
        r.into_body().collect().await.unwrap();
    }
    const N: usize = 2000;
    let (mut bare, mut with, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..7 {
        let mut rate = [0.0f64; 2];
        for side in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            let start = Instant::now();
            for _ in 0..N {
                let body = if side == 0 {
                    let r = client.clone().oneshot(by_hand()).await.unwrap();
                    r.into_body().collect().await.unwrap().to_bytes()
                } else {
                    let r = layered.clone().oneshot(plain()).await.unwrap();
                    r.into_body().collect().await.unwrap().to_bytes()
                };
                std::hint::black_box(body);
            }
            rate[side] = N as f64 / start.elapsed().as_secs_f64();
        }
        bare.push(rate[0]);
        with.push(rate[1]);
        ratios.push(rate[1] / rate[0]);
    }
    println!("over loopback, 7 rounds of {N} GETs each side, alternating:");
    println!(
        "  bare client, token set by hand: {:8.0} req/s",
        median(bare)
    );
    println!(
        "  Login::layer, token attached:   {:8.0} req/s",
        median(with)
    );
    println!(
        "  layered / bare:                 {:8.3} (median of per-round ratios; target >= 0.98)",
        median(ratios)
    );
}

async fn thousand_on_an_expired_token() {
    const REFRESH_LATENCY: Duration = Duration::from_millis(50);
    let refreshes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&refreshes);
    // A token endpoint that takes 50 ms to refresh, and an API that takes
    // any token but the expired one.
    let world = service_fn(move |req: Request<Full<Bytes>>| {
        let counter = Arc::clone(&counter);
        async move {
            let response = if req.uri().path() == "/v2/oauth2/token" {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(REFRESH_LATENCY).await;
                let n = counter.load(Ordering::SeqCst);
                let doc = format!(
                    r#"{{"access_token": "fresh-{n}", "refresh_token": "r-{n}", "resource_server": "rs", "scope": "s", "expires_in": 3600}}"#
                );
                Response::new(Full::new(Bytes::from(doc)))
            } else if common::bearer(&req).is_some_and(|t| t != "expired") {
                Response::new(Full::new(Bytes::from_static(b"{}")))
            } else {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::UNAUTHORIZED;
                r
            };
            Ok::<_, Infallible>(response)
        }
    });
    let mut totals = Vec::new();
    let mut counts = Vec::new();
    for _ in 0..5 {
        refreshes.store(0, Ordering::SeqCst);
        let store = MemoryTokenStore::default();
        let expired = Token::new(
            "rs",
            "expired",
            "s",
            Some(SystemTime::now() - Duration::from_secs(1)),
        )
        .with_refresh_token("r-0");
        store.put(DEFAULT_NAMESPACE, &[expired]).unwrap();
        let login = Login::builder("bench-client")
            .auth_base_url("https://auth.test/")
            .resource_servers(ResourceServers::new().with("https://api.test/", "rs"))
            .prompt(NeverPrompt)
            .token_store(store)
            .build(world.clone())
            .unwrap();
        let client = ServiceBuilder::new()
            .layer(login.layer())
            .service(world.clone());
        let start = Instant::now();
        let calls = (0..1000).map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let request = Request::get("https://api.test/x")
                    .body(Full::default())
                    .unwrap();
                client.oneshot(request).await.unwrap().status()
            })
        });
        for status in futures_util::future::join_all(calls).await {
            assert_eq!(status.unwrap(), StatusCode::OK);
        }
        totals.push(start.elapsed().as_secs_f64() / REFRESH_LATENCY.as_secs_f64());
        counts.push(refreshes.load(Ordering::SeqCst));
    }
    println!("1,000 concurrent requests on one expired token (refresh takes {REFRESH_LATENCY:?}), 5 runs:");
    println!("  refreshes per run: {counts:?} (target: exactly 1)");
    println!(
        "  last response / refresh latency: {:.2} (median; target <= 1.5)",
        median(totals)
    );
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--bench` absent: skip.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        in_memory().await;
        loopback().await;
        thousand_on_an_expired_token().await;
    });
}
