//! The redrive layer against in-memory services: each step of the contract.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
use tower_gare::gare::Gare;
use tower_gare::testing::{gares, RecordingReauthenticator, ScriptedService};

use crate::common::reply;
use crate::support::*;
use tower_gare::redrive::{
    Credentials, GareRedriveLayer, ReauthContext, RedriveOutcome, ReplayBody, Replayable,
};

/// A server that wants `TOKEN`: a consent GARE without it, the request's
/// body echoed back with it. Counts its calls.
fn consent_server(
    hits: Arc<AtomicUsize>,
) -> impl Service<
    Request<String>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send {
    service_fn(move |req: Request<String>| {
        hits.fetch_add(1, Ordering::SeqCst);
        let ok = authorized(&req, TOKEN);
        async move {
            Ok::<_, Infallible>(if ok {
                reply(StatusCode::OK, req.into_body())
            } else {
                reply(StatusCode::FORBIDDEN, CONSENT_GARE)
            })
        }
    })
}

/// The GARE `CONSENT_GARE` holds, as the scripted services send it.
fn consent() -> Gare {
    gares::consent_required(&["urn:globus:auth:scope:transfer.api.globus.org:all"])
}

#[tokio::test]
async fn other_statuses_pass_through_unread_and_unmarked() {
    let created = Response::builder()
        .status(StatusCode::CREATED)
        .header("x-id", "7")
        .body(String::from("created"))
        .unwrap();
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone())
        .layer_service(ScriptedService::new().respond(created));
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-id"], "7");
    assert!(RedriveOutcome::of(&response).is_none());
    assert_eq!(body_bytes(response.into_body()).await, "created");
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn a_trigger_status_that_is_not_a_gare_comes_back_byte_for_byte() {
    let body = "{\"code\": \"PermissionDenied\", \"message\": \"no\"}\n";
    let forbidden = Response::builder()
        .status(StatusCode::FORBIDDEN)
        .header("x-request-id", "abc")
        .body(body.to_owned())
        .unwrap();
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone())
        .layer_service(ScriptedService::new().respond(forbidden));
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["x-request-id"], "abc");
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::NoGare)
    ));
    assert!(response.extensions().get::<Gare>().is_none());
    assert_eq!(body_bytes(response.into_body()).await, body);
    assert_eq!(recorder.calls(), 0);
}

type Chunk = Result<http_body::Frame<Bytes>, std::io::Error>;
type Chunks = Vec<Chunk>;
type Chunked = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Chunk>>>;

fn chunked(chunks: Chunks) -> Chunked {
    StreamBody::new(futures_util::stream::iter(chunks))
}

#[tokio::test]
async fn a_body_over_the_cap_passes_through_whole_in_its_chunks() {
    // A GARE, but longer than the cap: it is not parsed, and every byte (the
    // part read for inspection and the rest) reaches the caller.
    let padded = format!(
        "{}, \"pad\": \"{}\"}}",
        &CONSENT_GARE[..CONSENT_GARE.len() - 1],
        "x".repeat(300)
    );
    let bytes = Bytes::from(padded.clone());
    let inner = service_fn(move |_req: Request<String>| {
        let bytes = bytes.clone();
        async move {
            let chunks: Chunks = bytes
                .chunks(50)
                .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            let mut response = Response::new(chunked(chunks));
            *response.status_mut() = StatusCode::FORBIDDEN;
            Ok::<_, Infallible>(response)
        }
    });
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone())
        .response_cap(100)
        .layer_service(inner);
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::BodyOverCap)
    ));
    assert_eq!(body_bytes(response.into_body()).await, padded);
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn a_declared_length_over_the_cap_is_not_read_at_all() {
    let inner = service_fn(|_req: Request<String>| async {
        let mut response = reply(StatusCode::FORBIDDEN, CONSENT_GARE);
        response
            .headers_mut()
            .insert(http::header::CONTENT_LENGTH, CONSENT_GARE.len().into());
        Ok::<_, Infallible>(response)
    });
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone())
        .response_cap(10)
        .layer_service(inner);
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::BodyOverCap)
    ));
    assert_eq!(body_bytes(response.into_body()).await, CONSENT_GARE);
}

#[tokio::test]
async fn a_body_error_while_reading_still_reaches_the_caller_after_the_bytes_read() {
    let inner = service_fn(|_req: Request<String>| async {
        let chunks: Chunks = vec![
            Ok(http_body::Frame::data(Bytes::from_static(b"{\"code\": "))),
            Err(std::io::Error::other("connection reset")),
        ];
        let mut response = Response::new(chunked(chunks));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        Ok::<_, Infallible>(response)
    });
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone()).layer_service(inner);
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::BodyError)
    ));
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "{\"code\": ");
    let err = body.frame().await.unwrap().unwrap_err();
    assert_eq!(err.to_string(), "connection reset");
}

#[tokio::test]
async fn a_gare_is_redriven_once_with_the_new_credentials() {
    let hits = Arc::new(AtomicUsize::new(0));
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service =
        GareRedriveLayer::new(recorder.clone()).layer_service(consent_server(hits.clone()));
    let mut request = Request::new(String::from("{\"DATA_TYPE\": \"transfer\"}"));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = "https://transfer.api.example.org/v0.10/transfer?x=1"
        .parse()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", "Bearer stale".parse().unwrap());
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::Redriven)
    ));
    assert_eq!(
        body_bytes(response.into_body()).await,
        "{\"DATA_TYPE\": \"transfer\"}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(recorder.calls(), 1);
    let cx = recorder.contexts()[0].clone();
    assert_eq!(cx.method(), Method::POST);
    assert_eq!(
        cx.uri(),
        "https://transfer.api.example.org/v0.10/transfer?x=1"
    );
    assert_eq!(
        cx.origin().to_string(),
        "https://transfer.api.example.org:443"
    );
    assert_eq!(cx.status(), StatusCode::FORBIDDEN);
    assert_eq!(cx.gare().code, "ConsentRequired");
    assert_eq!(
        cx.gare()
            .authorization_parameters
            .required_scopes
            .as_deref(),
        Some(&["urn:globus:auth:scope:transfer.api.globus.org:all".to_string()][..])
    );
}

#[tokio::test]
async fn a_server_that_answers_gares_forever_gets_exactly_one_retry() {
    // The reauthenticator's token is not the one the service wants.
    let api = ScriptedService::new().gare_until_authorized(
        StatusCode::FORBIDDEN,
        consent(),
        "a-token-nobody-gets",
    );
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone()).layer_service(api.clone());
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(api.requests().len(), 2);
    assert_eq!(
        api.requests()[1].authorization(),
        Some("Bearer fresh-token-123")
    );
    assert_eq!(recorder.calls(), 1);
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::Redriven)
    ));
    // The retried response's own GARE is attached, and its body is intact.
    assert_eq!(response.extensions().get::<Gare>(), Some(&consent()));
    assert_eq!(
        body_bytes(response.into_body()).await,
        consent().to_response().into_body()
    );
}

/// A body that cannot be sent twice.
struct OneShot;

impl Replayable for OneShot {
    fn replay_handle(&self, _cap: usize) -> Option<Self> {
        None
    }
}

#[tokio::test]
async fn a_request_that_cannot_be_replayed_gets_the_original_response_with_the_gare() {
    let api = ScriptedService::new().gare_until_authorized(StatusCode::FORBIDDEN, consent(), TOKEN);
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone()).layer_service(api.clone());
    let response = service.oneshot(Request::new(OneShot)).await.unwrap();
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::NotReplayable)
    ));
    assert_eq!(response.extensions().get::<Gare>(), Some(&consent()));
    assert_eq!(
        body_bytes(response.into_body()).await,
        consent().to_response().into_body()
    );
    assert_eq!(api.requests().len(), 1);
    assert_eq!(
        recorder.calls(),
        0,
        "no login for a request that cannot be retried"
    );
}

#[derive(Debug)]
struct LoginRefused;

impl std::fmt::Display for LoginRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the user declined")
    }
}

impl std::error::Error for LoginRefused {}

#[tokio::test]
async fn a_failed_reauthentication_gives_back_the_original_response() {
    let hits = Arc::new(AtomicUsize::new(0));
    let service =
        GareRedriveLayer::new(|_cx: ReauthContext| async { Err::<Credentials, _>(LoginRefused) })
            .layer_service(consent_server(hits.clone()));
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    match RedriveOutcome::of(&response) {
        Some(RedriveOutcome::ReauthFailed(error)) => {
            assert_eq!(error.inner().to_string(), "the user declined");
        }
        other => panic!("unexpected outcome {other:?}"),
    }
    assert!(response.extensions().get::<Gare>().is_some());
    assert_eq!(body_bytes(response.into_body()).await, CONSENT_GARE);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_reauthenticator_is_a_failure_for_every_waiter_not_a_panic() {
    let hits = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let layer = GareRedriveLayer::new(move |_cx: ReauthContext| {
        counter.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if true {
                panic!("reauthenticator bug");
            }
            Credentials::bearer("never")
        }
    });
    let service = layer.layer_service(consent_server(hits.clone()));
    let requests = (0..10).map(|_| service.clone().oneshot(Request::new(String::new())));
    let responses = futures_util::future::join_all(requests).await;
    for response in responses {
        let response = response.unwrap();
        assert!(matches!(
            RedriveOutcome::of(&response),
            Some(RedriveOutcome::ReauthFailed(_))
        ));
        assert_eq!(body_bytes(response.into_body()).await, CONSENT_GARE);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Right after, the same requirements are quiet: the same failure, and
    // the reauthenticator is not called again.
    let response = service
        .clone()
        .oneshot(Request::new(String::new()))
        .await
        .unwrap();
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::ReauthFailed(_))
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The layer is still usable: after the quiet period (10 s), the next
    // GARE starts a new reauthentication.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let response = service
        .clone()
        .oneshot(Request::new(String::new()))
        .await
        .unwrap();
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::ReauthFailed(_))
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_reauthenticator_under_a_timeout_strands_nobody() {
    let hits = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let layer = GareRedriveLayer::new(move |_cx: ReauthContext| {
        // The first login hangs forever; later ones succeed.
        let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                std::future::pending::<()>().await;
            }
            Credentials::bearer(TOKEN)
        }
    });
    let service = ServiceBuilder::new()
        .timeout(Duration::from_secs(5))
        .layer(layer)
        .service(consent_server(hits.clone()));
    let requests = (0..5).map(|_| service.clone().oneshot(Request::new(String::new())));
    for result in futures_util::future::join_all(requests).await {
        assert!(result.unwrap_err().is::<tower::timeout::error::Elapsed>());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Every waiter is gone, so the hung login was dropped: a new request
    // starts a fresh one instead of joining it.
    let response = service
        .clone()
        .oneshot(Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_gares_share_one_reauthentication() {
    let hits = Arc::new(AtomicUsize::new(0));
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone().with_delay(Duration::from_millis(100)))
        .layer_service(consent_server(hits.clone()));
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let service = service.clone();
            tokio::spawn(async move {
                let response = service
                    .oneshot(Request::new(format!("request {i}")))
                    .await
                    .unwrap();
                let status = response.status();
                let outcome = RedriveOutcome::of(&response).cloned();
                let body = body_bytes(response.into_body()).await;
                (status, outcome, body, i)
            })
        })
        .collect();
    let mut redriven = 0;
    for task in tasks {
        let (status, outcome, body, i) = task.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, format!("request {i}"));
        match outcome {
            Some(RedriveOutcome::Redriven) => redriven += 1,
            Some(RedriveOutcome::Coalesced) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(recorder.calls(), 1);
    assert_eq!(
        redriven, 1,
        "one request started the login; the rest joined it"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2000);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_request_that_started_the_login_strands_nobody() {
    let hits = Arc::new(AtomicUsize::new(0));
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone().with_delay(Duration::from_millis(100)))
        .layer_service(consent_server(hits.clone()));
    let first = tokio::spawn(service.clone().oneshot(Request::new(String::from("first"))));
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(recorder.calls(), 1, "the first request started the login");
    let second = tokio::spawn(
        service
            .clone()
            .oneshot(Request::new(String::from("second"))),
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
    first.abort();
    let response = second.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::Coalesced)
    ));
    assert_eq!(body_bytes(response.into_body()).await, "second");
    assert_eq!(recorder.calls(), 1);
}

#[tokio::test]
async fn credentials_are_remembered_for_the_origin_and_never_sent_elsewhere() {
    type Seen = std::sync::Mutex<Vec<(String, Option<String>)>>;
    let seen: Arc<Seen> = Arc::default();
    let log = seen.clone();
    let inner = service_fn(move |req: Request<String>| {
        let auth = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        log.lock().unwrap().push((req.uri().to_string(), auth));
        let ok = authorized(&req, TOKEN) || req.uri().host() == Some("other.example.org");
        async move {
            Ok::<_, Infallible>(if ok {
                reply(StatusCode::OK, "ok")
            } else {
                reply(StatusCode::FORBIDDEN, CONSENT_GARE)
            })
        }
    });
    let recorder = RecordingReauthenticator::returning(TOKEN);
    // Plain http allowed: this test is about origins (`/d` is another
    // scheme); hardening.rs proves the plain-http rule.
    let layer = GareRedriveLayer::new(recorder.clone()).allow_plain_http(true);
    let service = layer.layer_service(inner.clone());
    // A second service from the same layer shares the memory.
    let sibling = layer.layer_service(inner);
    let get = |uri: &str| {
        let mut request = Request::new(String::new());
        *request.uri_mut() = uri.parse().unwrap();
        request
            .headers_mut()
            .insert("authorization", "Bearer caller-token".parse().unwrap());
        request
    };
    let response = service
        .clone()
        .oneshot(get("https://api.example.org/a"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = sibling
        .clone()
        .oneshot(get("https://API.example.org:443/b"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        RedriveOutcome::of(&response).is_none(),
        "sent with the remembered credentials at once"
    );
    let response = service
        .clone()
        .oneshot(get("https://other.example.org/c"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = service
        .clone()
        .oneshot(get("http://api.example.org/d"))
        .await
        .unwrap();
    assert!(
        matches!(
            RedriveOutcome::of(&response),
            Some(RedriveOutcome::Redriven)
        ),
        "another scheme is another origin, and got its own login"
    );
    let response = service
        .clone()
        .oneshot(get("https://api.example.org:8443/e"))
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "another port is another origin, and got its own login"
    );
    assert_eq!(recorder.calls(), 3);

    let fresh = format!("Bearer {TOKEN}");
    {
        let seen = seen.lock().unwrap();
        for (uri, auth) in seen.iter() {
            if uri.contains("other.example.org") {
                assert_eq!(auth.as_deref(), Some("Bearer caller-token"), "{uri}");
            }
        }
        for path in ["/d", "/e"] {
            let first = seen.iter().find(|(u, _)| u.ends_with(path)).unwrap();
            assert_eq!(
                first.1.as_deref(),
                Some("Bearer caller-token"),
                "{path}: not the other origin's token"
            );
        }
        let to_b: Vec<_> = seen.iter().filter(|(u, _)| u.ends_with("/b")).collect();
        assert_eq!(to_b.len(), 1);
        assert_eq!(to_b[0].1.as_deref(), Some(fresh.as_str()));
    }
    layer.forget_credentials();
    let response = service
        .clone()
        .oneshot(get("https://api.example.org/f"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        matches!(
            RedriveOutcome::of(&response),
            Some(RedriveOutcome::Redriven)
        ),
        "forgotten: a new login"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_sent_with_replaced_credentials_retries_without_a_new_login() {
    // The server is slow, so a second request is sent with the stale token
    // while the first request's login runs and finishes.
    let inner = service_fn(|req: Request<String>| {
        let ok = authorized(&req, TOKEN);
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, Infallible>(if ok {
                reply(StatusCode::OK, "ok")
            } else {
                reply(StatusCode::FORBIDDEN, CONSENT_GARE)
            })
        }
    });
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone().with_delay(Duration::from_millis(10)))
        .layer_service(inner);
    let first = tokio::spawn(service.clone().oneshot(Request::new(String::new())));
    // Sent while the first is in flight: no credentials remembered yet.
    tokio::time::sleep(Duration::from_millis(45)).await;
    let second = tokio::spawn(service.clone().oneshot(Request::new(String::new())));
    let first = first.await.unwrap().unwrap();
    assert!(matches!(
        RedriveOutcome::of(&first),
        Some(RedriveOutcome::Redriven)
    ));
    // The first login finished at ~60 ms; the second request's GARE arrives at ~95 ms.
    let second = second.await.unwrap().unwrap();
    assert_eq!(second.status(), 200);
    assert!(matches!(
        RedriveOutcome::of(&second),
        Some(RedriveOutcome::Coalesced)
    ));
    assert_eq!(recorder.calls(), 1);
}

#[tokio::test]
async fn the_inner_error_passes_through_unchanged() {
    #[derive(Debug, PartialEq)]
    struct Refused(u8);
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let inner = service_fn(move |_req: Request<String>| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Ok(reply(StatusCode::UNAUTHORIZED, CONSENT_GARE))
            } else {
                Err(Refused(7))
            }
        }
    });
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone()).layer_service(inner);
    // The retry's error is the inner service's own, unwrapped.
    let err = service
        .clone()
        .oneshot(Request::new(String::new()))
        .await
        .unwrap_err();
    assert_eq!(err, Refused(7));
    let err = service
        .oneshot(Request::new(String::new()))
        .await
        .unwrap_err();
    assert_eq!(err, Refused(7));
}

#[tokio::test]
async fn readiness_is_honoured_for_the_call_and_the_retry() {
    let (mock, mut handle) = tower_test::mock::pair::<Request<String>, Response<Full<Bytes>>>();
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let mut service = GareRedriveLayer::new(recorder.clone()).layer_service(mock);

    handle.allow(0);
    let mut ready = tokio_test_ready(&mut service);
    assert!(
        ready.as_mut().poll_once().is_pending(),
        "not ready while the inner is not"
    );
    handle.allow(1);
    ready.await;
    let call = tokio::spawn(service.call(Request::new(String::from("body"))));
    let (request, send) = handle.next_request().await.unwrap();
    assert_eq!(request.body(), "body");
    send.send_response(reply(StatusCode::FORBIDDEN, CONSENT_GARE));

    // The retry waits until the inner service is ready again.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!call.is_finished(), "the retry must wait for readiness");
    handle.allow(1);
    let (request, send) = handle.next_request().await.unwrap();
    assert_eq!(
        request.headers()["authorization"],
        format!("Bearer {TOKEN}").as_str()
    );
    assert_eq!(request.body(), "body");
    send.send_response(reply(StatusCode::OK, "done"));
    let response = call.await.unwrap().unwrap();
    assert_eq!(body_bytes(response.into_body()).await, "done");
}

/// `poll_ready` as a future that can be polled once by hand.
fn tokio_test_ready<S: Service<Request<String>>>(service: &mut S) -> PollOnce<'_, S> {
    PollOnce { service }
}

struct PollOnce<'a, S> {
    service: &'a mut S,
}

impl<S: Service<Request<String>>> PollOnce<'_, S> {
    fn as_mut(&mut self) -> &mut Self {
        self
    }
    fn poll_once(&mut self) -> std::task::Poll<()> {
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        self.service.poll_ready(&mut cx).map(|r| {
            r.ok().expect("ready");
        })
    }
}

impl<S: Service<Request<String>> + Unpin> std::future::Future for PollOnce<'_, S> {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.service.poll_ready(cx).map(|r| {
            r.ok().expect("ready");
        })
    }
}

#[tokio::test]
async fn the_service_made_ready_is_the_one_called() {
    // tower_test's mock panics if `call` comes before `poll_ready` said ready.
    let (mock, mut handle) = tower_test::mock::pair::<Request<String>, Response<Full<Bytes>>>();
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let mut service = GareRedriveLayer::new(recorder.clone()).layer_service(mock);
    handle.allow(2);
    for i in 0..2 {
        service.ready().await.unwrap();
        let call = service.call(Request::new(format!("{i}")));
        let (request, send) = handle.next_request().await.unwrap();
        assert_eq!(request.body(), &format!("{i}"));
        send.send_response(reply(StatusCode::OK, "ok"));
        assert_eq!(call.await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn a_streaming_body_is_replayed_through_the_replay_wrapper() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let inner = service_fn(move |req: Request<ReplayBody<Full<Bytes>>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let ok = authorized(&req, TOKEN);
        async move {
            let body = body_bytes(req.into_body()).await;
            Ok::<_, Infallible>(if ok {
                reply(StatusCode::OK, body)
            } else {
                reply(StatusCode::FORBIDDEN, CONSENT_GARE)
            })
        }
    });
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone()).layer_service(inner);
    let request = Request::new(ReplayBody::new(Full::new(Bytes::from("streamed"))));
    let response = service.clone().oneshot(request).await.unwrap();
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::Redriven)
    ));
    assert_eq!(body_bytes(response.into_body()).await, "streamed");

    // Over the layer's replay cap: not retried.
    let service = GareRedriveLayer::new(recorder.clone())
        .replay_cap(4)
        .layer_service(service.into_inner());
    let request = Request::new(ReplayBody::new(Full::new(Bytes::from("streamed"))));
    let response = service.oneshot(request).await.unwrap();
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::NotReplayable)
    ));
}

#[test]
fn secrets_never_reach_debug() {
    let creds = Credentials::bearer("s3cr3t-t0ken").unwrap();
    assert!(!format!("{creds:?}").contains("s3cr3t"));
    let layer =
        GareRedriveLayer::new(|_cx: ReauthContext| async { Credentials::bearer("s3cr3t-t0ken") });
    assert!(!format!("{layer:?}").contains("s3cr3t"));
    let mut headers = http::HeaderMap::new();
    creds.apply_to(&mut headers);
    assert!(
        !format!("{headers:?}").contains("s3cr3t"),
        "marked sensitive"
    );
    let err = Credentials::bearer("s3cr3t\r\nx: y").unwrap_err();
    assert!(!err.to_string().contains("s3cr3t"));
    assert!(!format!("{err:?}").contains("s3cr3t"));
}

#[test]
fn the_service_and_its_future_are_send_and_clone() {
    fn send<T: Send>(_: &T) {}
    fn clone<T: Clone>(_: &T) {}
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let mut service =
        GareRedriveLayer::new(recorder.clone()).layer_service(consent_server(Arc::default()));
    send(&service);
    clone(&service);
    let future = service.call(Request::new(String::new()));
    send(&future);
}

/// `layer.layer(inner)`, spelled so the tests read in order.
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

#[tokio::test(start_paused = true)]
async fn different_step_up_requirements_do_not_share_a_login() {
    let inner = service_fn(|req: Request<String>| async move {
        let acr = if req.uri().path() == "/mfa" {
            "urn:mfa"
        } else {
            "urn:hardware-key"
        };
        let token = format!("token-{acr}");
        Ok::<_, Infallible>(if authorized(&req, &token) {
            reply(StatusCode::OK, "ok")
        } else {
            let mut response = reply(StatusCode::UNAUTHORIZED, "");
            let challenge =
                format!(r#"Bearer error="insufficient_user_authentication", acr_values="{acr}""#);
            response
                .headers_mut()
                .insert("www-authenticate", challenge.parse().unwrap());
            response
        })
    });
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let layer = GareRedriveLayer::new(move |cx: ReauthContext| {
        counter.fetch_add(1, Ordering::SeqCst);
        let token = format!("token-{}", cx.gare().acr_values().unwrap());
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Credentials::bearer(token)
        }
    });
    let service = layer.layer_service(inner);
    let get = |path: &str| {
        let mut request = Request::new(String::new());
        *request.uri_mut() = format!("https://api.example.org{path}").parse().unwrap();
        service.clone().oneshot(request)
    };
    let (mfa, key) = futures_util::future::join(get("/mfa"), get("/key")).await;
    assert_eq!(mfa.unwrap().status(), 200);
    assert_eq!(key.unwrap().status(), 200);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one login per distinct requirement"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reauth_timeout_fails_the_waiters_and_lets_the_next_gare_start_afresh() {
    let hits = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let layer = GareRedriveLayer::new(move |_cx: ReauthContext| {
        let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                std::future::pending::<()>().await;
            }
            Credentials::bearer(TOKEN)
        }
    })
    .reauth_timeout(Duration::from_secs(30));
    let service = layer.layer_service(consent_server(hits.clone()));
    let waiting = (0..3).map(|_| service.clone().oneshot(Request::new(String::new())));
    for response in futures_util::future::join_all(waiting).await {
        let response = response.unwrap();
        match RedriveOutcome::of(&response) {
            Some(RedriveOutcome::ReauthFailed(error)) => {
                assert!(error.to_string().contains("did not finish within"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(body_bytes(response.into_body()).await, CONSENT_GARE);
    }
    // A timed-out login is a failed one: its requirements stay quiet for
    // the quiet period (10 s), then the next GARE starts afresh.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let response = service
        .clone()
        .oneshot(Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn credentials_of_a_login_that_ends_after_forget_are_not_remembered() {
    let hits = Arc::new(AtomicUsize::new(0));
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let layer = GareRedriveLayer::new(recorder.clone().with_delay(Duration::from_millis(100)));
    let service = layer.layer_service(consent_server(hits.clone()));
    let running = tokio::spawn(service.clone().oneshot(Request::new(String::new())));
    tokio::time::sleep(Duration::from_millis(10)).await;
    layer.forget_credentials();
    // The request that started the login still gets its retry...
    assert_eq!(running.await.unwrap().unwrap().status(), 200);
    // ...but the credentials were not kept past the logout.
    let response = service
        .clone()
        .oneshot(Request::new(String::new()))
        .await
        .unwrap();
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::Redriven)
    ));
    assert_eq!(recorder.calls(), 2);
}

#[tokio::test]
async fn only_the_trigger_statuses_set_are_read() {
    // Only 403: a 401 GARE is not looked at, and comes back as sent.
    let api = ScriptedService::new()
        .gare_times(1, StatusCode::UNAUTHORIZED, &consent())
        .gare_times(1, StatusCode::FORBIDDEN, &consent());
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone())
        .trigger_statuses([StatusCode::FORBIDDEN])
        .layer_service(api.clone());
    let response = service
        .clone()
        .oneshot(Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        RedriveOutcome::of(&response).is_none(),
        "not a trigger: unread"
    );
    assert!(response.extensions().get::<Gare>().is_none());
    assert_eq!(
        body_bytes(response.into_body()).await,
        consent().to_response().into_body()
    );
    assert_eq!(recorder.calls(), 0);
    // The 403 still is.
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::Redriven)
    ));
    assert_eq!(recorder.calls(), 1);

    // A status outside the defaults, once set, is read and redriven.
    let api = ScriptedService::new().gare_times(1, StatusCode::BAD_REQUEST, &consent());
    let service = GareRedriveLayer::new(recorder.clone())
        .trigger_statuses([StatusCode::BAD_REQUEST])
        .layer_service(api.clone());
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::Redriven)
    ));
    assert_eq!(api.requests().len(), 2);
    assert_eq!(recorder.calls(), 2);
    // Not by default.
    let api = ScriptedService::new().gare_times(1, StatusCode::BAD_REQUEST, &consent());
    let response = GareRedriveLayer::new(recorder.clone())
        .layer_service(api)
        .oneshot(Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(RedriveOutcome::of(&response).is_none());
    assert_eq!(recorder.calls(), 2);
}

#[tokio::test]
async fn a_gare_inside_errors_is_redriven() {
    // Transfer and Auth put GAREs in an `errors` list beside other errors.
    let body = r#"{"errors": [
        {"code": "PermissionDenied", "message": "not this one"},
        {"code": "ConsentRequired", "authorization_parameters": {
            "session_message": "consent to the collection",
            "required_scopes": ["urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/c1/data_access]"]
        }}
    ]}"#;
    let forbidden = Response::builder()
        .status(StatusCode::FORBIDDEN)
        .body(body.to_owned())
        .unwrap();
    let api = ScriptedService::new().respond(forbidden);
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone()).layer_service(api.clone());
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::Redriven)
    ));
    let cx = &recorder.contexts()[0];
    assert_eq!(cx.gare().code, "ConsentRequired");
    assert_eq!(
        cx.gare().authorization_parameters.required_scopes.as_deref(),
        Some(&["urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/c1/data_access]".to_string()][..])
    );
    let requests = api.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].authorization(), Some("Bearer fresh-token-123"));
}

/// A streaming body whose size is not known up front gets a replay handle;
/// if it outgrows the replay cap while it is sent, the look right before
/// the retry finds the copy incomplete: the caller gets the first answer,
/// GARE attached, body intact, and `NotReplayable` (after the
/// reauthentication, which the look comes after).
#[tokio::test]
async fn a_stream_that_outgrew_its_recording_gets_the_first_answer() {
    type Chunks = StreamBody<
        futures_util::stream::Iter<std::vec::IntoIter<Result<http_body::Frame<Bytes>, Infallible>>>,
    >;
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let inner = service_fn(move |req: Request<ReplayBody<Chunks>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            // The server reads the whole upload, then wants consent.
            body_bytes(req.into_body()).await;
            Ok::<_, Infallible>(reply(StatusCode::FORBIDDEN, CONSENT_GARE))
        }
    });
    let recorder = RecordingReauthenticator::returning(TOKEN);
    let service = GareRedriveLayer::new(recorder.clone())
        .replay_cap(8)
        .layer_service(inner);
    let chunks: Vec<Result<http_body::Frame<Bytes>, Infallible>> = ["stream", "ing ", "upload"]
        .into_iter()
        .map(|chunk| Ok(http_body::Frame::data(Bytes::from(chunk))))
        .collect();
    let body = ReplayBody::new(StreamBody::new(futures_util::stream::iter(chunks)));
    let response = service.oneshot(Request::new(body)).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(matches!(
        RedriveOutcome::of(&response),
        Some(RedriveOutcome::NotReplayable)
    ));
    assert!(response.extensions().get::<Gare>().is_some());
    assert_eq!(body_bytes(response.into_body()).await, CONSENT_GARE);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "sent once");
    assert_eq!(recorder.calls(), 1);
}

#[test]
fn the_service_shows_its_inner_service_and_settings_and_no_secret() {
    let layer =
        GareRedriveLayer::new(|_cx: ReauthContext| async { Credentials::bearer("s3cr3t-t0ken") })
            .response_cap(16 * 1024);
    let service = tower::Layer::layer(&layer, ScriptedService::new());
    let shown = format!("{service:?}");
    assert!(shown.starts_with("GareRedrive"), "{shown}");
    assert!(shown.contains("ScriptedService"), "{shown}");
    assert!(shown.contains("response_cap: 16384"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
}

/// A reauthenticator whose credentials step waits on `wait` (a panic, a
/// future that never ends).
struct Waits(fn() -> tower_gare::redrive::WaitForCredentials);

impl tower_gare::redrive::Reauthenticator for Waits {
    type Error = Infallible;
    async fn reauthenticate(&self, _cx: ReauthContext) -> Result<Credentials, Infallible> {
        Ok(Credentials::bearer(TOKEN).unwrap())
    }
    fn credentials(
        &self,
        _request: &tower_gare::redrive::Outgoing<'_>,
    ) -> tower_gare::redrive::Attach {
        tower_gare::redrive::Attach::Wait((self.0)())
    }
}

#[tokio::test]
async fn a_credentials_step_that_panics_fails_its_request_not_the_program() {
    let panics = Waits(|| Box::pin(async { panic!("the user's code") }));
    let ok = ScriptedService::new().respond(Response::new(String::from("ok")));
    let client = GareRedriveLayer::new(panics)
        .box_errors()
        .layer_service(ok.clone());
    let error = client
        .oneshot(Request::new(String::new()))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("panicked"), "{error}");
    assert_eq!(ok.requests().len(), 0, "not sent");

    // A layer that keeps the inner service's errors sends it as it was made.
    let panics = Waits(|| Box::pin(async { panic!("the user's code") }));
    let client = GareRedriveLayer::new(panics).layer_service(ok.clone());
    let response = client.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ok.requests()[0].authorization(), None);
}

#[tokio::test(start_paused = true)]
async fn a_credentials_step_that_never_ends_is_bounded_by_the_reauth_timeout() {
    let hangs = Waits(|| Box::pin(std::future::pending()));
    let ok = ScriptedService::new().respond(Response::new(String::from("ok")));
    let client = GareRedriveLayer::new(hangs)
        .reauth_timeout(Duration::from_secs(30))
        .box_errors()
        .layer_service(ok.clone());
    let error = client
        .oneshot(Request::new(String::new()))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("did not finish within 30s"),
        "{error}"
    );
    assert_eq!(ok.requests().len(), 0);
}
