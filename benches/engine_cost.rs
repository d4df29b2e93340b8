//! What the one engine costs on a request it does not act on, side by side
//! with its peers in one run (issue 17's targets):
//!
//! - `pass_through`: a GET with five headers to a ready 200 service: bare,
//!   through `HeadCopy` (the least any layer that can send a request again
//!   must do: keep a copy of the request head until the answer is in), and
//!   through `GareRedriveLayer` with a closure. Target: the layer's overhead
//!   at most 1.15x `HeadCopy`'s.
//! - `login_layer`: the same GET, bare, through tower-http's
//!   `FollowRedirect`, and through `Login::layer()` with the token held.
//!   Target: the login's overhead at most `FollowRedirect`'s.
//! - `login_middleware`: a reqwest-middleware client whose last middleware
//!   answers 200 itself (no network, so only the middleware is measured):
//!   with a middleware that inserts a fixed `Authorization` header, and with
//!   `Login::middleware()` with the token held. Target: at most 1.1x.
//!
//! Run: `cargo bench --bench engine_cost`. The ratios are printed at the end.

use std::hint::black_box;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use futures_util::FutureExt;
use http::{Request, Response};
use http_body_util::Full;
use tower::{Layer, Service};
use tower_gare::login::{
    IntoTokenClient, Login, MemoryTokenStore, NeverPrompt, ResourceServers, Token, TokenStore,
};
use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext};
use tower_http::follow_redirect::FollowRedirectLayer;

#[path = "../tests/support/ok200.rs"]
mod ok200;
use ok200::Ok200;

/// Medians, by bench id, for the ratios printed at the end.
static MEDIANS: Mutex<Vec<(String, f64)>> = Mutex::new(Vec::new());

fn five_headers() -> Request<String> {
    Request::get("https://api.test/x")
        .header("accept", "application/json")
        .header("user-agent", "tower-gare-bench/0.1")
        .header("x-request-id", "0f1e2d3c")
        .header("accept-encoding", "identity")
        .header("x-globus-client-info", "product=bench")
        .body(String::new())
        .unwrap()
}

fn call_now<S: Service<Request<String>>>(service: &mut S, request: Request<String>) -> S::Response
where
    S::Error: std::fmt::Debug,
{
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .now_or_never()
        .expect("ready")
        .unwrap();
    service
        .call(request)
        .now_or_never()
        .expect("answered at once")
        .unwrap()
}

/// The least a layer that can send a request again must do: keep a copy of
/// the request head (method, URI, version, headers) until the answer is in.
#[derive(Clone)]
struct HeadCopy<S>(S);

impl<S: Service<Request<String>>> Service<Request<String>> for HeadCopy<S>
where
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = KeepHead<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let head = (
            request.method().clone(),
            request.uri().clone(),
            request.version(),
            request.headers().clone(),
        );
        KeepHead {
            future: self.0.call(request),
            head: Some(head),
        }
    }
}

struct KeepHead<F> {
    future: F,
    head: Option<(http::Method, http::Uri, http::Version, http::HeaderMap)>,
}

impl<F: std::future::Future + Unpin> std::future::Future for KeepHead<F> {
    type Output = F::Output;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let output = std::pin::Pin::new(&mut self.future).poll(cx);
        if output.is_ready() {
            black_box(self.head.take());
        }
        output
    }
}

/// Benches each side with criterion, then measures them again, interleaved
/// (round by round, so the machine's drift falls on every side alike), for
/// the ratio table: the median of 15 rounds of 20,000 calls each. The
/// requests are built before each round is timed.
fn compare<T>(
    c: &mut Criterion,
    group: &str,
    make: impl Fn() -> T + Copy,
    sides: &mut [(&str, &mut dyn FnMut(T))],
) {
    let mut g = c.benchmark_group(group);
    for (name, f) in sides.iter_mut() {
        g.bench_function(*name, |b| {
            b.iter_batched(make, &mut *f, BatchSize::SmallInput)
        });
    }
    g.finish();
    const CALLS: usize = 20_000;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); sides.len()];
    for _ in 0..15 {
        for (i, (_, f)) in sides.iter_mut().enumerate() {
            let inputs: Vec<T> = (0..CALLS).map(|_| make()).collect();
            let start = std::time::Instant::now();
            for input in inputs {
                f(input);
            }
            times[i].push(start.elapsed().as_nanos() as f64 / CALLS as f64);
        }
    }
    for ((name, _), mut t) in sides.iter().zip(times) {
        t.sort_by(f64::total_cmp);
        MEDIANS
            .lock()
            .unwrap()
            .push((format!("{group}/{name}"), t[t.len() / 2]));
    }
}

fn median(id: &str) -> f64 {
    MEDIANS
        .lock()
        .unwrap()
        .iter()
        .find(|(name, _)| name == id)
        .map(|(_, t)| *t)
        .unwrap_or(f64::NAN)
}

fn pass_through(c: &mut Criterion) {
    let mut bare = Ok200;
    let mut head = HeadCopy(Ok200);
    let reauth = |_cx: ReauthContext| async { Credentials::bearer("t") };
    let mut layered = GareRedriveLayer::new(reauth).layer(Ok200);
    compare(
        c,
        "pass_through",
        five_headers,
        &mut [
            ("bare", &mut |r| drop(black_box(call_now(&mut bare, r)))),
            ("head_copy", &mut |r| {
                drop(black_box(call_now(&mut head, r)))
            }),
            ("gare_redrive", &mut |r| {
                drop(black_box(call_now(&mut layered, r)))
            }),
        ],
    );
}

fn held_token_store() -> MemoryTokenStore {
    let store = MemoryTokenStore::default();
    let expires = Some(SystemTime::now() + Duration::from_secs(48 * 3600));
    let token = Token::new("rs", "t", "s", expires);
    store.put("DEFAULT", &[token]).unwrap();
    store
}

/// A login whose token for `https://api.test/` is stored (and held after
/// the first request), over `client`.
fn held_login<C: IntoTokenClient<Via>, Via>(client: C) -> Login<C::Client, NeverPrompt> {
    Login::builder("bench-client")
        .auth_base_url("http://127.0.0.1:9/")
        .resource_servers(ResourceServers::new().with("https://api.test/", "rs"))
        .prompt(NeverPrompt)
        .token_store(held_token_store())
        .build(client)
        .unwrap()
}

fn login_layer(c: &mut Criterion) {
    let login = held_login(tower::service_fn(|_req: Request<Full<Bytes>>| async {
        Err::<Response<Full<Bytes>>, _>("no token endpoint: the token is held")
    }));
    let mut bare = Ok200;
    let mut follow = FollowRedirectLayer::new().layer(Ok200);
    let mut layered = login.layer().layer(Ok200);
    // The first request reads the token from the store; then it is held.
    call_now(&mut layered, five_headers());
    compare(
        c,
        "login_layer",
        five_headers,
        &mut [
            ("bare", &mut |r| drop(black_box(call_now(&mut bare, r)))),
            ("follow_redirect", &mut |r| {
                drop(black_box(call_now(&mut follow, r)))
            }),
            ("login_layer", &mut |r| {
                drop(black_box(call_now(&mut layered, r)))
            }),
        ],
    );
}

/// The end of a middleware chain that answers 200 itself.
struct Canned;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for Canned {
    async fn handle(
        &self,
        _req: reqwest::Request,
        _extensions: &mut http::Extensions,
        _next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        Ok(reqwest::Response::from(Response::new(reqwest::Body::from(
            Bytes::new(),
        ))))
    }
}

/// A middleware that inserts a fixed `Authorization` header: the peer.
struct FixedHeader(http::HeaderValue);

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for FixedHeader {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        req.headers_mut()
            .insert(http::header::AUTHORIZATION, self.0.clone());
        next.run(req, extensions).await
    }
}

fn request_to(
    client: &reqwest_middleware::ClientWithMiddleware,
) -> reqwest_middleware::RequestBuilder {
    client
        .get("https://api.test/x")
        .header("accept", "application/json")
        .header("user-agent", "tower-gare-bench/0.1")
        .header("x-request-id", "0f1e2d3c")
        .header("accept-encoding", "identity")
        .header("x-globus-client-info", "product=bench")
}

fn send_now(request: reqwest_middleware::RequestBuilder) -> reqwest::Response {
    request
        .send()
        .now_or_never()
        .expect("answered at once")
        .unwrap()
}

fn login_middleware(c: &mut Criterion) {
    let login = held_login(reqwest::Client::new());
    let fixed = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(FixedHeader(http::HeaderValue::from_static("Bearer t")))
        .with(Canned)
        .build();
    let with_login = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(login.middleware())
        .with(Canned)
        .build();
    // The first request reads the token from the store; then it is held.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async { black_box(send_now(request_to(&with_login))) });
    let _entered = runtime.enter();
    compare(
        c,
        "login_middleware",
        || (request_to(&fixed), request_to(&with_login)),
        &mut [
            ("fixed_header", &mut |(r, _)| drop(black_box(send_now(r)))),
            ("login_middleware", &mut |(_, r)| {
                drop(black_box(send_now(r)))
            }),
        ],
    );
}

fn ratios(_c: &mut Criterion) {
    let over = |layer: &str, base: &str| median(layer) - median(base);
    let lines = [
        (
            "pass-through overhead, GareRedriveLayer / HeadCopy (target <= 1.15)",
            over("pass_through/gare_redrive", "pass_through/bare")
                / over("pass_through/head_copy", "pass_through/bare"),
        ),
        (
            "held token overhead, Login::layer / FollowRedirect (target <= 1)",
            over("login_layer/login_layer", "login_layer/bare")
                / over("login_layer/follow_redirect", "login_layer/bare"),
        ),
        (
            "held token, Login::middleware / fixed header, whole send (target <= 1.1)",
            median("login_middleware/login_middleware") / median("login_middleware/fixed_header"),
        ),
    ];
    println!("\nmedians (ns a call):");
    for (name, t) in MEDIANS.lock().unwrap().iter() {
        println!("  {name:40} {t:8.1}");
    }
    println!("ratios, measured in this run:");
    for (what, ratio) in lines {
        println!("  {what}: {ratio:.2}");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = pass_through, login_layer, login_middleware, ratios
}
criterion_main!(benches);
