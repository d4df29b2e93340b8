//! The layer over real sockets: a hyper server on 127.0.0.1, a hyper-util client.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use tower::{ServiceBuilder, ServiceExt};
use tower_gare::gare::Gare;
use tower_gare::redrive::{GareRedriveLayer, RedriveOutcome, ReplayBody};
use tower_gare::testing::RecordingReauthenticator;

use crate::common::{reply, serve};
use crate::support::*;

/// A resource server: without `TOKEN`, a consent GARE (after reading the
/// body, so the connection stays usable); with it, the body's SHA-256.
async fn resource_server(hits: Arc<AtomicUsize>) -> std::net::SocketAddr {
    serve(move |req: Request<Incoming>| {
        hits.fetch_add(1, Ordering::SeqCst);
        async move {
            let ok = authorized(&req, TOKEN);
            let body = req.into_body().collect().await.unwrap().to_bytes();
            if ok {
                reply(StatusCode::OK, sha256(&body))
            } else {
                reply(StatusCode::FORBIDDEN, CONSENT_GARE)
            }
        }
    })
    .await
}

#[tokio::test]
async fn get_and_a_one_mib_post_are_redriven_over_http() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = resource_server(hits.clone()).await;
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = ServiceBuilder::new()
        .layer(GareRedriveLayer::new(recorder.clone()))
        .service(client::<Full<Bytes>>());

    let get = Request::get(format!("http://{addr}/v0.10/endpoint_search"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = service.clone().oneshot(get).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        RedriveOutcome::of(&response).map(|o| format!("{o:?}")),
        Some("Redriven".into())
    );
    assert_eq!(body_bytes(response.into_body()).await, sha256(b""));

    // Remembered now: a 1 MiB POST goes through at once...
    let payload = Bytes::from(
        (0..1024 * 1024)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let post = Request::post(format!("http://{addr}/v0.10/transfer"))
        .body(Full::new(payload.clone()))
        .unwrap();
    let response = service.clone().oneshot(post).await.unwrap();
    assert_eq!(body_bytes(response.into_body()).await, sha256(&payload));
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(recorder.calls(), 1);

    // ...and on a fresh layer it is redriven, body and all.
    let fresh = GareRedriveLayer::new(recorder.clone()).layer_service(client::<Full<Bytes>>());
    let post = Request::builder()
        .method(Method::POST)
        .uri(format!("http://{addr}/v0.10/transfer"))
        .body(Full::new(payload.clone()))
        .unwrap();
    let response = fresh.oneshot(post).await.unwrap();
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::Redriven)
    ));
    assert_eq!(body_bytes(response.into_body()).await, sha256(&payload));
    assert_eq!(hits.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_403_that_is_not_a_gare_passes_through_byte_identical() {
    let html = "<!doctype html><title>403</title><p>Forbidden by the proxy</p>\n";
    let addr = serve(move |_req| async move {
        let mut response = reply(StatusCode::FORBIDDEN, html);
        response
            .headers_mut()
            .insert("content-type", "text/html".parse().unwrap());
        response
            .headers_mut()
            .insert("x-proxy", "edge-1".parse().unwrap());
        response
    })
    .await;
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone()).layer_service(client::<Empty<Bytes>>());
    let response = service
        .oneshot(
            Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["x-proxy"], "edge-1");
    assert_eq!(
        response.headers()["content-length"],
        html.len().to_string().as_str()
    );
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::NoGare)
    ));
    assert_eq!(body_bytes(response.into_body()).await, html);
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn a_server_that_answers_gares_forever_is_retried_exactly_once() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = serve(move |_req| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { reply(StatusCode::UNAUTHORIZED, CONSENT_GARE) }
    })
    .await;
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone()).layer_service(client::<Empty<Bytes>>());
    let response = service
        .oneshot(
            Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.extensions().get::<Gare>().is_some());
    assert_eq!(body_bytes(response.into_body()).await, CONSENT_GARE);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(recorder.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_over_http_share_one_login() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = resource_server(hits.clone()).await;
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone().with_delay(Duration::from_millis(100)))
        .layer_service(client::<Full<Bytes>>());
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let service = service.clone();
            let uri = format!("http://{addr}/item/{i}");
            tokio::spawn(async move {
                let body = Bytes::from(format!("payload {i}"));
                let response = service
                    .oneshot(Request::post(uri).body(Full::new(body.clone())).unwrap())
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                let retried = RedriveOutcome::of(&response).is_some();
                assert_eq!(body_bytes(response.into_body()).await, sha256(&body));
                retried
            })
        })
        .collect();
    let mut retried = 0;
    for task in tasks {
        retried += usize::from(task.await.unwrap());
    }
    assert_eq!(recorder.calls(), 1);
    // Requests sent after the login finished carried its credentials and
    // needed no retry; every other one was retried exactly once.
    assert!(retried > 0);
    assert_eq!(hits.load(Ordering::SeqCst), 1000 + retried);
}

#[tokio::test]
async fn credentials_are_never_sent_to_a_second_origin() {
    let hits = Arc::new(AtomicUsize::new(0));
    let a = resource_server(hits.clone()).await;
    let seen_by_b: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let log = seen_by_b.clone();
    let b = serve(move |req: Request<Incoming>| {
        let auth = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        log.lock().unwrap().push(auth);
        async { reply(StatusCode::OK, "b") }
    })
    .await;
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone()).layer_service(client::<Empty<Bytes>>());
    let get = |uri: String| {
        Request::get(uri)
            .header("authorization", "Bearer caller-token")
            .body(Empty::new())
            .unwrap()
    };
    for _ in 0..3 {
        let response = service
            .clone()
            .oneshot(get(format!("http://{a}/x")))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let response = service
            .clone()
            .oneshot(get(format!("http://{b}/y")))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(recorder.calls(), 1);
    let seen = seen_by_b.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|auth| auth.as_deref() == Some("Bearer caller-token")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_server_that_answers_before_reading_the_body_gets_the_whole_body_on_the_retry() {
    let addr = serve(|req: Request<Incoming>| async move {
        if authorized(&req, TOKEN) {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            reply(StatusCode::OK, sha256(&body))
        } else {
            // Answer at once, without reading a byte of the body.
            let mut response = reply(StatusCode::FORBIDDEN, CONSENT_GARE);
            response
                .headers_mut()
                .insert("connection", "close".parse().unwrap());
            response
        }
    })
    .await;
    // A streamed body, 256 KiB in 64 chunks, produced slowly.
    let chunks: Vec<Bytes> = (0..64u8).map(|i| Bytes::from(vec![i; 4096])).collect();
    let expected: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, std::io::Error>>(1);
    tokio::spawn(async move {
        for chunk in chunks {
            if tx.send(Ok(http_body::Frame::data(chunk))).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let stream = http_body_util::StreamBody::new(tokio_stream_of(rx));
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone())
        .replay_cap(1024 * 1024)
        .layer_service(client::<ReplayBody<_>>());
    let request = Request::post(format!("http://{addr}/upload"))
        .body(ReplayBody::new(stream))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::Redriven)
    ));
    assert_eq!(body_bytes(response.into_body()).await, sha256(&expected));
}

fn tokio_stream_of<T>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn composes_with_tower_http_layers_above_and_below() {
    use tower_http::set_header::SetRequestHeaderLayer;
    use tower_http::timeout::TimeoutLayer;
    use tower_http::trace::TraceLayer;

    let hits = Arc::new(AtomicUsize::new(0));
    let addr = resource_server(hits.clone()).await;
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let stale = http::HeaderValue::from_static("Bearer stale");
    let service = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(10),
        ))
        // Above the layer, a header that overrides: the layer replaces it.
        .layer(SetRequestHeaderLayer::overriding(
            http::header::AUTHORIZATION,
            stale.clone(),
        ))
        .layer(GareRedriveLayer::new(recorder.clone()))
        // Below, only if absent: the layer's credentials stay.
        .layer(SetRequestHeaderLayer::if_not_present(
            http::header::AUTHORIZATION,
            stale,
        ))
        .layer(TraceLayer::new_for_http())
        // tower's own timeout here: tower-http's needs a `Default` body,
        // which hyper's `Incoming` is not.
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(10)))
        .service(client::<Full<Bytes>>());
    for _ in 0..2 {
        let response = service
            .clone()
            .oneshot(
                Request::get(format!("http://{addr}/"))
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(recorder.calls(), 1);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "one GARE, its retry, one request with remembered credentials"
    );
}

#[tokio::test]
async fn a_gare_from_another_origin_reached_through_follow_redirect_is_not_logged_in_for() {
    use tower_http::follow_redirect::{FollowRedirectLayer, RequestUri};

    for status in [StatusCode::FOUND, StatusCode::TEMPORARY_REDIRECT] {
        let servers = redirecting(status).await;
        let recorder = RecordingReauthenticator::returning(TOKEN);
        // FollowRedirect inside the layer: the layer sees the last response
        // of the chain, and tower-http's `RequestUri` says where it came from.
        let service = ServiceBuilder::new()
            .layer(GareRedriveLayer::new(recorder.clone()))
            .layer(FollowRedirectLayer::new())
            .service(client::<Full<Bytes>>());
        let get = |uri: String| Request::get(uri).body(Full::default()).unwrap();

        let response = service
            .clone()
            .oneshot(get(format!("http://{}/elsewhere", servers.a)))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{status}");
        assert_eq!(
            response.extensions().get::<RequestUri>().unwrap().0,
            format!("http://{}/moved", servers.b).as_str()
        );
        assert!(
            matches!(
                RedriveOutcome::of(&response),
                Some(RedriveOutcome::OtherOrigin)
            ),
            "{status}: {:?}",
            RedriveOutcome::of(&response)
        );
        assert_eq!(
            response.extensions().get::<Gare>().unwrap().code,
            "ConsentRequired"
        );
        assert_eq!(body_bytes(response.into_body()).await, CONSENT_GARE);
        assert_eq!(
            recorder.calls(),
            0,
            "{status}: no login for another origin's requirements"
        );
        assert_eq!(
            servers.b_hits.load(Ordering::SeqCst),
            1,
            "{status}: no retry"
        );

        // A redirect within the origin is the origin's own: redriven.
        let response = service
            .oneshot(get(format!("http://{}/here", servers.a)))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{status}");
        assert!(matches!(
            RedriveOutcome::of(&response),
            Some(RedriveOutcome::Redriven)
        ));
        assert_eq!(body_bytes(response.into_body()).await, "protected");
        assert_eq!(recorder.calls(), 1);
    }
}

trait LayerService<S> {
    type Service;
    fn layer_service(&self, inner: S) -> Self::Service;
}

impl<S, L: tower::Layer<S>> LayerService<S> for L {
    type Service = L::Service;
    fn layer_service(&self, inner: S) -> L::Service {
        self.layer(inner)
    }
}
