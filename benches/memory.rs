//! Peak memory of 1,000 in-flight redrives with 4 KiB request bodies,
//! against the bare service holding the same 1,000 requests. Counted by a
//! global allocator (live bytes, peak), in one run.
//!
//! Run: `cargo bench --bench memory`. Target: under 16 MiB above the bare client.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{service_fn, Layer, ServiceExt};
use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext};

#[path = "../tests/support/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

const REQUESTS: usize = 1000;
const BODY: usize = 4096;
const GARE: &str = r#"{"code": "ConsentRequired", "authorization_parameters": {"required_scopes": ["urn:globus:auth:scope:transfer.api.globus.org:all"]}}"#;

/// A service that holds each request 100 ms (so all 1,000 are in flight at
/// once), then answers: a GARE without `Bearer t`, 200 with it.
fn server() -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    service_fn(|req: Request<Full<Bytes>>| async move {
        let ok = req
            .headers()
            .get("authorization")
            .is_some_and(|v| v == "Bearer t");
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(req);
        Ok::<_, Infallible>(if ok {
            Response::new(Full::new(Bytes::from_static(b"{}")))
        } else {
            let mut response = Response::new(Full::new(Bytes::from_static(GARE.as_bytes())));
            *response.status_mut() = StatusCode::FORBIDDEN;
            response
        })
    })
}

fn requests() -> Vec<Request<Full<Bytes>>> {
    (0..REQUESTS)
        .map(|i| {
            let mut body = vec![0u8; BODY];
            body[0] = i as u8;
            Request::post("https://files.example.org/upload")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        })
        .collect()
}

/// Peak live bytes above the level before the requests were built.
async fn peak_of<S, B>(service: S) -> usize
where
    S: tower::Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: std::fmt::Debug + Send,
    B: Send + 'static,
{
    let baseline = counting::start_peak();
    let tasks: Vec<_> = requests()
        .into_iter()
        .map(|request| tokio::spawn(service.clone().oneshot(request)))
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    counting::peak_above(baseline)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Warm the runtime up so its own first allocations count for neither.
        let _ = peak_of(instant_login().layer(server())).await;

        let authorized = tower::ServiceBuilder::new()
            .map_request(|mut r: Request<Full<Bytes>>| {
                r.headers_mut()
                    .insert("authorization", "Bearer t".parse().unwrap());
                r
            })
            .service(server());
        let bare_peak = peak_of(authorized).await;

        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let layer = GareRedriveLayer::new(move |_cx: ReauthContext| {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Credentials::bearer("t")
            }
        });
        let layered_peak = peak_of(layer.layer(server())).await;

        let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
        println!("1,000 in-flight requests with 4 KiB bodies (peak live heap above the start):");
        println!(
            "  bare service, authorized at once:      {:7.2} MiB",
            mib(bare_peak)
        );
        println!(
            "  through the layer, all redriven:       {:7.2} MiB ({} reauthentication)",
            mib(layered_peak),
            calls.load(Ordering::SeqCst)
        );
        println!(
            "  difference:                            {:7.2} MiB (target: under 16 MiB)",
            mib(layered_peak.saturating_sub(bare_peak))
        );
    });
}

fn instant_login() -> GareRedriveLayer<impl tower_gare::redrive::Reauthenticator> {
    GareRedriveLayer::new(|_cx: ReauthContext| async { Credentials::bearer("t") })
}
