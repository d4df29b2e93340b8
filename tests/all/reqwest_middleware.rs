//! The engine as a reqwest-middleware, against a hyper server on 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tower_gare::gare::Gare;
use tower_gare::redrive::{GareRedriveLayer, RedriveOutcome};
use tower_gare::reqwest::GareRedriveMiddleware;
use tower_gare::testing::RecordingReauthenticator;

use crate::common::{reply, serve};
use crate::support::*;

async fn server(hits: Arc<AtomicUsize>) -> std::net::SocketAddr {
    serve(move |req: Request<Incoming>| {
        hits.fetch_add(1, Ordering::SeqCst);
        async move {
            let ok = authorized(&req, TOKEN);
            let body = req.into_body().collect().await.unwrap().to_bytes();
            if req_is_plain_403(&body) {
                return reply(StatusCode::FORBIDDEN, "plain forbidden");
            }
            if ok {
                reply(StatusCode::OK, sha256(&body))
            } else {
                reply(StatusCode::FORBIDDEN, CONSENT_GARE)
            }
        }
    })
    .await
}

fn req_is_plain_403(body: &[u8]) -> bool {
    body == b"please-403"
}

#[tokio::test]
async fn a_cloneable_body_is_redriven_and_remembered() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = server(hits.clone()).await;
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(GareRedriveMiddleware::new(recorder.clone()))
        .build();
    let response = client
        .post(format!("http://{addr}/submit"))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.url().as_str(), format!("http://{addr}/submit"));
    assert!(matches!(
        response.extensions().get(),
        Some(RedriveOutcome::Redriven)
    ));
    assert_eq!(response.text().await.unwrap(), sha256(b"payload"));
    // Remembered for the origin: no GARE the second time.
    let response = client
        .post(format!("http://{addr}/again"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.extensions().get::<RedriveOutcome>().is_none());
    assert_eq!(recorder.calls(), 1);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_streaming_body_is_sent_once_and_the_gare_attached() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = server(hits.clone()).await;
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(GareRedriveMiddleware::new(recorder.clone()))
        .build();
    let stream = reqwest::Body::wrap(http_body_util::Full::new(bytes::Bytes::from("streamed")));
    let response = client
        .post(format!("http://{addr}/upload"))
        .body(stream)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(matches!(
        response.extensions().get(),
        Some(RedriveOutcome::NotReplayable)
    ));
    assert_eq!(
        response.extensions().get::<Gare>().unwrap().code,
        "ConsentRequired"
    );
    assert_eq!(response.text().await.unwrap(), CONSENT_GARE);
    assert_eq!(recorder.calls(), 0);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_403_that_is_not_a_gare_passes_through() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = server(hits.clone()).await;
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(GareRedriveMiddleware::new(recorder.clone()))
        .build();
    let response = client
        .post(format!("http://{addr}/x"))
        .body("please-403")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(matches!(
        response.extensions().get(),
        Some(RedriveOutcome::NoGare)
    ));
    assert_eq!(response.text().await.unwrap(), "plain forbidden");
}

#[tokio::test]
async fn a_layer_and_a_middleware_share_one_engine() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = server(hits.clone()).await;
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let layer = GareRedriveLayer::new(recorder.clone());
    let tower_client = tower::Layer::layer(&layer, client::<http_body_util::Full<bytes::Bytes>>());
    let response = tower::ServiceExt::oneshot(
        tower_client,
        Request::get(format!("http://{addr}/a"))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(GareRedriveMiddleware::from_layer(&layer))
        .build();
    let response = client.get(format!("http://{addr}/b")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.extensions().get::<RedriveOutcome>().is_none(),
        "the tower login's token was used"
    );
    assert_eq!(recorder.calls(), 1);
}

#[tokio::test]
async fn a_gare_from_another_origin_reached_through_a_redirect_is_not_logged_in_for() {
    for status in [StatusCode::FOUND, StatusCode::TEMPORARY_REDIRECT] {
        let servers = redirecting(status).await;
        let recorder = RecordingReauthenticator::returning(TOKEN);
        // reqwest follows redirects by default.
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(GareRedriveMiddleware::new(recorder.clone()))
            .build();
        let response = client
            .get(format!("http://{}/elsewhere", servers.a))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{status}");
        assert_eq!(
            response.url().as_str(),
            format!("http://{}/moved", servers.b)
        );
        assert!(
            matches!(
                response.extensions().get(),
                Some(RedriveOutcome::OtherOrigin)
            ),
            "{status}: {:?}",
            response.extensions().get::<RedriveOutcome>()
        );
        assert_eq!(
            response.extensions().get::<Gare>().unwrap().code,
            "ConsentRequired"
        );
        assert_eq!(response.text().await.unwrap(), CONSENT_GARE);
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
        let response = client
            .get(format!("http://{}/here", servers.a))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{status}");
        assert!(matches!(
            response.extensions().get(),
            Some(RedriveOutcome::Redriven)
        ));
        assert_eq!(recorder.calls(), 1);
    }
}

#[test]
fn the_middleware_shows_its_settings_and_no_secret() {
    let layer = GareRedriveLayer::new(RecordingReauthenticator::returning("s3cr3t-t0ken"))
        .response_cap(16 * 1024)
        .reauth_quiet_period(std::time::Duration::from_secs(60));
    let middleware = GareRedriveMiddleware::from_layer(&layer);
    let shown = format!("{middleware:?}");
    assert!(shown.starts_with("GareRedriveMiddleware"), "{shown}");
    assert!(shown.contains("response_cap: 16384"), "{shown}");
    assert!(shown.contains("reauth_quiet_period: 60s"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
}
