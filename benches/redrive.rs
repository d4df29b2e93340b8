//! The layer's cost, side by side with the bare service in one run.
//!
//! - `passthrough`: a 200 from a ready in-memory service, bare and layered
//!   (target: layered at most 3% over bare).
//! - `redrive`: 403 GARE → reauthenticate (instant) → retry → 200, against
//!   the same two calls made by hand on the bare service: the difference is
//!   what the redrive itself costs.
//! - `loopback`: GETs through a hyper-util client to a hyper server on
//!   127.0.0.1, bare and layered (for a drift-free ratio, and the redrive
//!   over sockets, see `benches/loopback_ab.rs`).
//! - `concurrency`: 1,000 concurrent requests that all get a GARE, with a
//!   reauthenticator that takes 100 ms: time to the last response.
//!
//! Run: `cargo bench --bench redrive`.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use futures_util::FutureExt;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, Service, ServiceExt};
use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext};

#[path = "../examples/common/mod.rs"]
mod common;
use common::{reply, serve};
#[path = "../tests/support/ok200.rs"]
mod ok200;
use ok200::Ok200;

const GARE: &str = r#"{"code": "ConsentRequired", "authorization_parameters": {"required_scopes": ["urn:globus:auth:scope:transfer.api.globus.org:all"]}}"#;

/// Answers 200 to `Bearer t`, a consent GARE to anything else. Ready at once.
#[derive(Clone)]
struct Resource;

impl Service<Request<String>> for Resource {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<String>, Infallible>>;
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Request<String>) -> Self::Future {
        let ok = req
            .headers()
            .get("authorization")
            .is_some_and(|v| v == "Bearer t");
        std::future::ready(Ok(if ok {
            Response::new(String::new())
        } else {
            let mut response = Response::new(String::from(GARE));
            *response.status_mut() = StatusCode::FORBIDDEN;
            response
        }))
    }
}

fn instant_login() -> GareRedriveLayer<impl tower_gare::redrive::Reauthenticator> {
    GareRedriveLayer::new(|_cx: ReauthContext| async { Credentials::bearer("t") })
}

fn call_now<S>(service: &mut S, request: Request<String>) -> S::Response
where
    S: Service<Request<String>>,
    S::Error: std::fmt::Debug,
{
    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(service.poll_ready(&mut cx).is_ready());
    service
        .call(request)
        .now_or_never()
        .expect("ready")
        .unwrap()
}

fn authorized() -> Request<String> {
    let mut request = Request::new(String::new());
    request
        .headers_mut()
        .insert("authorization", "Bearer t".parse().unwrap());
    request
}

fn passthrough(c: &mut Criterion) {
    let mut group = c.benchmark_group("passthrough");
    let mut bare = Resource;
    group.bench_function("bare", |b| {
        b.iter(|| black_box(call_now(&mut bare, black_box(Request::new(String::new())))))
    });
    // A 403 that is not ours would be read; a 200 is not: use the 200 path
    // with no credentials remembered.
    let mut layered = instant_login().layer(Ok200);
    let mut bare200 = Ok200;
    group.bench_function("bare_200", |b| {
        b.iter(|| {
            black_box(call_now(
                &mut bare200,
                black_box(Request::new(String::new())),
            ))
        })
    });
    group.bench_function("layered_200", |b| {
        b.iter(|| {
            black_box(call_now(
                &mut layered,
                black_box(Request::new(String::new())),
            ))
        })
    });
    group.finish();
}

fn redrive(c: &mut Criterion) {
    let mut group = c.benchmark_group("redrive");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    group.bench_function("bare_403_then_200_by_hand", |b| {
        let mut bare = Resource;
        b.iter(|| {
            let first = call_now(&mut bare, Request::new(String::new()));
            assert_eq!(first.status(), 403);
            black_box(tower_gare::gare::from_body(first.body().as_bytes()));
            black_box(call_now(&mut bare, authorized()))
        })
    });
    group.bench_function("layered_403_reauth_retry_200", |b| {
        b.iter_batched(
            // A fresh layer each time, so nothing is remembered.
            || instant_login().layer(Resource),
            |service| {
                let response = runtime
                    .block_on(service.oneshot(Request::new(String::new())))
                    .unwrap();
                assert_eq!(response.status(), 200);
                black_box(response)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn loopback(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(serve(|_req| async {
        reply(StatusCode::OK, "{\"DATA\": []}")
    }));
    let uri: http::Uri = format!("http://{addr}/v0.10/endpoint_search")
        .parse()
        .unwrap();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let layered = instant_login().layer(client.clone());
    let mut group = c.benchmark_group("loopback");
    group.bench_function("bare", |b| {
        b.to_async(&runtime).iter(|| {
            let request = Request::get(uri.clone()).body(Empty::new()).unwrap();
            let client = client.clone();
            async move {
                let response = client.oneshot(request).await.unwrap();
                black_box(response.into_body().collect().await.unwrap())
            }
        })
    });
    group.bench_function("layered", |b| {
        b.to_async(&runtime).iter(|| {
            let request = Request::get(uri.clone()).body(Empty::new()).unwrap();
            let layered = layered.clone();
            async move {
                let response = layered.oneshot(request).await.unwrap();
                black_box(response.into_body().collect().await.unwrap())
            }
        })
    });
    group.finish();
}

fn concurrency(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("concurrency");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("1000_gares_100ms_reauth", |b| {
        b.to_async(&runtime).iter_batched(
            || {
                let calls = Arc::new(AtomicUsize::new(0));
                let counter = calls.clone();
                let layer = GareRedriveLayer::new(move |_cx: ReauthContext| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Credentials::bearer("t")
                    }
                });
                (layer.layer(Resource), calls)
            },
            |(service, calls)| async move {
                let tasks: Vec<_> = (0..1000)
                    .map(|_| tokio::spawn(service.clone().oneshot(Request::new(String::new()))))
                    .collect();
                for task in tasks {
                    assert_eq!(task.await.unwrap().unwrap().status(), 200);
                }
                assert_eq!(
                    calls.load(Ordering::SeqCst),
                    1,
                    "exactly one reauthentication"
                );
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, passthrough, redrive, loopback, concurrency);
criterion_main!(benches);
