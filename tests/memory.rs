//! Allocation and memory, counted by a global allocator: the pass-through
//! path allocates nothing the bare service does not, and a 50 MiB 403 body
//! streams through without being collected.
//!
//! One test binary of its own, and one test function, so that nothing else
//! allocates while it counts.

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "support/counting.rs"]
mod counting;
#[path = "support/ok200.rs"]
mod ok200;

use std::sync::atomic::Ordering;
use std::task::Context;

use bytes::Bytes;
use common::serve;
use futures_util::FutureExt;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ok200::Ok200;
use sha2::{Digest, Sha256};
use tower::{Layer, Service, ServiceExt};
use tower_gare::redrive::{GareRedriveLayer, RedriveOutcome};
use tower_gare::testing::RecordingReauthenticator;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// Allocations made by `rounds` calls of `service`, after one warm-up call.
fn allocations_of<S>(mut service: S, rounds: usize) -> usize
where
    S: Service<Request<String>>,
    S::Error: std::fmt::Debug,
{
    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut once = |service: &mut S| {
        assert!(service.poll_ready(&mut cx).is_ready());
        let response = service.call(Request::new(String::new())).now_or_never();
        drop(response.expect("ready at once").unwrap());
    };
    once(&mut service);
    let before = counting::ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..rounds {
        once(&mut service);
    }
    counting::ALLOCATIONS.load(Ordering::SeqCst) - before
}

static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];
const BIG: usize = 50 * 1024 * 1024;

#[test]
fn allocation_and_memory() {
    // 1. The pass-through path allocates nothing beyond the bare service.
    let reauth = RecordingReauthenticator::returning("never-needed");
    let layer = GareRedriveLayer::new(reauth.clone());
    let bare = allocations_of(Ok200, 1000);
    let layered = allocations_of(layer.layer(Ok200), 1000);
    assert_eq!(
        layered, bare,
        "bare: {bare} allocations, layered: {layered}"
    );

    // 2. A 50 MiB 403 streams through byte-identical in bounded memory.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let addr = serve(|req: Request<hyper::body::Incoming>| async move {
            let declared = req.uri().path() == "/declared";
            let frames = (0..BIG / CHUNK.len()).map(|_| {
                Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from_static(&CHUNK)))
            });
            let mut response = Response::new(StreamBody::new(futures_util::stream::iter(frames)));
            *response.status_mut() = StatusCode::FORBIDDEN;
            if declared {
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_LENGTH, BIG.into());
            }
            response
        })
        .await;
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let service = layer.layer(client);
        let expected = Sha256::digest(CHUNK.repeat(BIG / CHUNK.len()));
        for path in ["/chunked", "/declared"] {
            let baseline = counting::start_peak();
            let response = service
                .clone()
                .oneshot(
                    Request::get(format!("http://{addr}{path}"))
                        .body(Empty::new())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
            assert!(matches!(
                RedriveOutcome::of(&response),
                Some(RedriveOutcome::BodyOverCap)
            ));
            let mut hasher = Sha256::new();
            let mut body = response.into_body();
            let mut total = 0;
            while let Some(frame) = body.frame().await {
                let data = frame.unwrap().into_data().unwrap();
                total += data.len();
                hasher.update(&data);
            }
            let digest = hasher.finalize();
            assert_eq!(total, BIG, "{path}");
            assert_eq!(digest, expected, "{path}");
            let peak = counting::peak_above(baseline);
            println!(
                "{path}: peak memory above baseline while streaming 50 MiB: {} KiB",
                peak / 1024
            );
            assert!(
                peak < 8 * 1024 * 1024,
                "{path}: peak {peak} bytes: the body was collected, not streamed"
            );
        }
    });
    assert_eq!(reauth.calls(), 0);
}
