//! Issue 13, the redrive layer's part: what a hostile server, a slow peer
//! and a broken runtime can do. Items 1, 2 and 3 over real sockets (a hyper
//! server on 127.0.0.1, a hyper-util client); time only on a paused clock.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::mpsc;
use tower::{Layer, Service, ServiceExt};
use tower_gare::gare::Gare;
use tower_gare::redrive::{
    Credentials, GareRedriveLayer, ReauthContext, Reauthenticator, RedriveOutcome, ReplayBody,
};

use crate::common::{reply, serve};
use crate::support::{authorized, body_bytes, client, CONSENT_GARE, TOKEN};

/// Another requirement than `CONSENT_GARE`'s: another scope.
const OTHER_GARE: &str = r#"{"code": "ConsentRequired", "authorization_parameters": {"required_scopes": ["urn:globus:auth:scope:groups.api.globus.org:all"]}}"#;

/// A reauthenticator that gives `TOKEN` and counts its calls.
fn counting(calls: &Arc<AtomicUsize>) -> impl Reauthenticator {
    let calls = calls.clone();
    move |_cx: ReauthContext| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Credentials::bearer(TOKEN) }
    }
}

/// A reauthenticator that fails (the person cancelled) and counts its calls.
fn declining(calls: &Arc<AtomicUsize>) -> impl Reauthenticator {
    let calls = calls.clone();
    move |_cx: ReauthContext| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Err::<Credentials, _>(std::io::Error::other("the person cancelled the login")) }
    }
}

fn outcome<B>(response: &Response<B>) -> String {
    format!("{:?}", RedriveOutcome::of(response))
}

fn request(method: Method, uri: String) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(Bytes::from_static(b"{\"DATA\": []}")))
        .unwrap()
}

/// Answers every request with a GARE, whatever it carries: `OTHER_GARE`
/// on `/other`, `CONSENT_GARE` elsewhere. Counts them.
async fn gare_every_time(hits: Arc<AtomicUsize>) -> std::net::SocketAddr {
    serve(move |req: Request<Incoming>| {
        hits.fetch_add(1, Ordering::SeqCst);
        async move {
            match req.uri().path() {
                "/other" => reply(StatusCode::FORBIDDEN, OTHER_GARE),
                _ => reply(StatusCode::FORBIDDEN, CONSENT_GARE),
            }
        }
    })
    .await
}

fn reauth_error<B>(response: &Response<B>) -> String {
    match RedriveOutcome::of(response) {
        Some(RedriveOutcome::ReauthFailed(error)) => error.inner().to_string(),
        other => panic!("expected ReauthFailed, got {other:?}"),
    }
}

/// A body fed by hand through a channel.
struct Fed(mpsc::UnboundedReceiver<Result<Frame<Bytes>, std::io::Error>>);

impl Body for Fed {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx)
    }
}

type Feed = mpsc::UnboundedSender<Result<Frame<Bytes>, std::io::Error>>;

fn fed() -> (Feed, Fed) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Fed(rx))
}

fn chunk(s: &str) -> Result<Frame<Bytes>, std::io::Error> {
    Ok(Frame::data(Bytes::copy_from_slice(s.as_bytes())))
}

// Item 1 ----------------------------------------------------------------

/// `/bad-gateway` answers a 502 GARE (Transfer's `LoginFailed` shape), and
/// `/forbidden` a 403 one, until the request carries `TOKEN`. Counts the
/// requests of each method.
async fn acting_server(seen: Arc<Mutex<Vec<(Method, bool)>>>) -> std::net::SocketAddr {
    serve(move |req: Request<Incoming>| {
        let seen = seen.clone();
        async move {
            let ok = authorized(&req, TOKEN);
            seen.lock().unwrap().push((req.method().clone(), ok));
            let status = match req.uri().path() {
                "/bad-gateway" => StatusCode::BAD_GATEWAY,
                _ => StatusCode::FORBIDDEN,
            };
            req.into_body().collect().await.unwrap();
            if ok {
                reply(StatusCode::OK, "done")
            } else {
                reply(status, CONSENT_GARE)
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_post_that_got_a_502_gare_is_not_sent_again_an_idempotent_method_is() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = acting_server(seen.clone()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = GareRedriveLayer::new(counting(&calls));
    let service = layer.layer(client::<Full<Bytes>>());

    // The server may have acted on the POST before its 502: never twice.
    let post = request(Method::POST, format!("http://{addr}/bad-gateway"));
    let response = service.clone().oneshot(post).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(outcome(&response), "Some(NotIdempotent)");
    assert_eq!(
        response.extensions().get::<Gare>().unwrap().code,
        "ConsentRequired"
    );
    assert_eq!(body_bytes(response.into_body()).await, CONSENT_GARE);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no login for a request not retried"
    );
    assert_eq!(*seen.lock().unwrap(), [(Method::POST, false)]);

    // PUT is idempotent: sent again after the login.
    let put = request(Method::PUT, format!("http://{addr}/bad-gateway"));
    let response = service.clone().oneshot(put).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(outcome(&response), "Some(Redriven)");

    // A 403 is a refusal before anything was done: any method is retried.
    layer.forget_credentials();
    let post = request(Method::POST, format!("http://{addr}/forbidden"));
    let response = service.clone().oneshot(post).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(outcome(&response), "Some(Redriven)");

    // An API whose POSTs are safe twice says so.
    let lenient = GareRedriveLayer::new(counting(&calls))
        .retry_any_method_on([
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::BAD_GATEWAY,
        ])
        .layer(client::<Full<Bytes>>());
    let post = request(Method::POST, format!("http://{addr}/bad-gateway"));
    let response = lenient.oneshot(post).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(outcome(&response), "Some(Redriven)");
    let posts: Vec<bool> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(method, _)| method == Method::POST)
        .map(|(_, ok)| *ok)
        .collect();
    assert_eq!(posts, [false, false, true, false, true]);
}

// Item 2 ----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_server_that_gares_every_request_gets_one_login_per_quiet_period() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = gare_every_time(hits.clone()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let service = GareRedriveLayer::new(counting(&calls)).layer(client::<Full<Bytes>>());
    let get = || request(Method::GET, format!("http://{addr}/task_list"));

    // The login and its retry: the retry met the same requirements.
    let response = service.clone().oneshot(get()).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(outcome(&response), "Some(Redriven)");
    assert!(response.extensions().get::<Gare>().is_some());
    assert_eq!(
        (calls.load(Ordering::SeqCst), hits.load(Ordering::SeqCst)),
        (1, 2)
    );

    // The login did not help: no new one for ten requests in a row.
    for _ in 0..10 {
        let response = service.clone().oneshot(get()).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(reauth_error(&response).contains("did not help"));
        assert_eq!(body_bytes(response.into_body()).await, CONSENT_GARE);
    }
    assert_eq!(
        (calls.load(Ordering::SeqCst), hits.load(Ordering::SeqCst)),
        (1, 12)
    );

    // Once the quiet period (10 s by default) is over, one more.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let response = service.clone().oneshot(get()).await.unwrap();
    assert_eq!(outcome(&response), "Some(Redriven)");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_login_is_not_asked_again_within_the_quiet_period() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = gare_every_time(hits.clone()).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let service = GareRedriveLayer::new(declining(&calls))
        .reauth_quiet_period(Duration::from_secs(30))
        .layer(client::<Full<Bytes>>());
    let get = |path: &str| request(Method::GET, format!("http://{addr}{path}"));

    let response = service.clone().oneshot(get("/a")).await.unwrap();
    let first = reauth_error(&response);
    assert_eq!(first, "the person cancelled the login");
    // The same requirements, from another path of the origin: the same
    // error, the original response, and no prompt.
    tokio::time::sleep(Duration::from_secs(29)).await;
    let response = service.clone().oneshot(get("/b")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(reauth_error(&response), first);
    assert_eq!(body_bytes(response.into_body()).await, CONSENT_GARE);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Other requirements are not held back.
    let response = service.clone().oneshot(get("/other")).await.unwrap();
    assert_eq!(reauth_error(&response), first);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // After the quiet period, the person is asked again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let response = service.clone().oneshot(get("/a")).await.unwrap();
    assert_eq!(reauth_error(&response), first);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(hits.load(Ordering::SeqCst), 4, "no retry was ever sent");
}

// Item 3 ----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_502_whose_body_trickles_goes_back_after_the_read_deadline_whole() {
    // The server sends the head and the GARE's first bytes, then stalls.
    let (feed, body) = fed();
    let (head, tail) = CONSENT_GARE.split_at(20);
    feed.send(chunk(head)).unwrap();
    let body = Arc::new(Mutex::new(Some(body)));
    let addr = serve(move |_req: Request<Incoming>| {
        let body = body.lock().unwrap().take().expect("one request");
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::BAD_GATEWAY;
        async move { response }
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let service = GareRedriveLayer::new(counting(&calls)).layer(client::<Full<Bytes>>());

    // Before the fix this waits for the body forever: a minute is plenty.
    let get = request(Method::GET, format!("http://{addr}/task_list"));
    let response = tokio::time::timeout(Duration::from_secs(60), service.oneshot(get))
        .await
        .expect("the response comes back at the read deadline")
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(outcome(&response), "Some(BodyTooSlow)");
    assert!(response.extensions().get::<Gare>().is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // What was read, then the rest of the stream as it comes.
    feed.send(chunk(tail)).unwrap();
    drop(feed);
    assert_eq!(body_bytes(response.into_body()).await, CONSENT_GARE);
}

#[tokio::test(start_paused = true)]
async fn the_read_deadline_is_settable_and_a_body_in_time_is_read() {
    let (feed, body) = fed();
    let (head, tail) = CONSENT_GARE.split_at(20);
    feed.send(chunk(head)).unwrap();
    let body = Arc::new(Mutex::new(Some(body)));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = serve(move |req: Request<Incoming>| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let ok = authorized(&req, TOKEN);
        let body = if n == 0 {
            body.lock().unwrap().take()
        } else {
            None
        };
        async move {
            match body {
                Some(body) => {
                    let mut response = Response::new(http_body_util::Either::Left(body));
                    *response.status_mut() = StatusCode::BAD_GATEWAY;
                    response
                }
                None if ok => reply(StatusCode::OK, "listing").map(http_body_util::Either::Right),
                None => {
                    reply(StatusCode::BAD_GATEWAY, CONSENT_GARE).map(http_body_util::Either::Right)
                }
            }
        }
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let service = GareRedriveLayer::new(counting(&calls))
        .response_read_timeout(Duration::from_secs(60))
        .layer(client::<Full<Bytes>>());
    let get = request(Method::GET, format!("http://{addr}/task_list"));
    let call = tokio::spawn(service.oneshot(get));
    // The rest comes after 59 s: within the deadline set.
    tokio::time::sleep(Duration::from_secs(59)).await;
    feed.send(chunk(tail)).unwrap();
    drop(feed);
    let response = call.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(outcome(&response), "Some(Redriven)");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// `inner`, reading each response body whole before handing it on (as a
/// client that buffers responses does): the layer needs no timer to read it.
fn buffering<B>(
    inner: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        B,
    >,
) -> impl Service<
    Request<B>,
    Response = Response<Full<Bytes>>,
    Error = Box<dyn std::error::Error + Send + Sync>,
    Future = impl Send,
> + Clone
       + Send
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tower::service_fn(move |req: Request<B>| {
        let inner = inner.clone();
        async move {
            let (parts, body) = inner.request(req).await?.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok(Response::from_parts(parts, Full::new(body)))
        }
    })
}

#[test]
fn a_reauth_timeout_on_a_runtime_without_timers_is_an_error_not_a_panic() {
    // Sockets, but no timers: `tokio::time::timeout` panics on this runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let response = runtime.block_on(async {
        let hits = Arc::new(AtomicUsize::new(0));
        let addr = gare_every_time(hits).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let service = GareRedriveLayer::new(counting(&calls))
            .reauth_timeout(Duration::from_secs(30))
            .layer(buffering(client::<Full<Bytes>>()));
        let get = || request(Method::GET, format!("http://{addr}/task_list"));
        let waiters = (0..3).map(|_| service.clone().oneshot(get()));
        let responses = futures_util::future::join_all(waiters).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "not started without its deadline"
        );
        responses
    });
    for response in response {
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let error = reauth_error(&response);
        assert!(error.contains("timers"), "{error}");
    }
}

// Item 4 ----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn an_upload_going_on_while_the_retry_waits_for_readiness_cannot_spoil_the_replay() {
    let (mock, mut handle) =
        tower_test::mock::pair::<Request<ReplayBody<Fed>>, Response<Full<Bytes>>>();
    let calls = Arc::new(AtomicUsize::new(0));
    // The body is 12 bytes; the replay cap 8.
    let mut service = GareRedriveLayer::new(counting(&calls))
        .replay_cap(8)
        .layer(mock);
    let (feed, body) = fed();
    for part in ["0123", "4567", "89ab"] {
        feed.send(chunk(part)).unwrap();
    }
    drop(feed);
    handle.allow(1);
    service.ready().await.unwrap();
    let upload = Request::post("https://api.example.org/upload")
        .body(ReplayBody::new(body))
        .unwrap();
    let call = tokio::spawn(service.call(upload));

    // The server refuses before reading the body; the layer logs in and
    // decides to replay (nothing recorded yet), then waits: the service is
    // not ready.
    let (first, respond) = handle.next_request().await.unwrap();
    respond.send_response(reply(StatusCode::FORBIDDEN, CONSENT_GARE));
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!call.is_finished(), "the retry waits for readiness");

    // Meanwhile the first attempt's connection goes on uploading.
    let mut old = first.into_body();
    let mut uploaded = Vec::new();
    while let Some(frame) = old.frame().await {
        match frame {
            Ok(frame) => uploaded.push(frame.into_data().unwrap()),
            Err(_) => break,
        }
    }
    assert!(uploaded.is_empty(), "superseded: it read {uploaded:?}");

    // The retry: a transport whose request body fails fails the request.
    handle.allow(1);
    let (retry, respond) = handle.next_request().await.unwrap();
    assert!(authorized(&retry, TOKEN));
    match retry.into_body().collect().await {
        Ok(sent) => respond.send_response(reply(StatusCode::OK, sent.to_bytes())),
        Err(error) => respond.send_error(error),
    }
    let response = call
        .await
        .unwrap()
        .expect("the caller gets a response, never the transport's error");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(outcome(&response), "Some(Redriven)");
    assert_eq!(body_bytes(response.into_body()).await, "0123456789ab");
}

// Item 6 ----------------------------------------------------------------

/// Each request's URI and bearer token, as a server saw them.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A resource server anywhere (in memory): `CONSENT_GARE` until `TOKEN`.
/// Notes the `Authorization` of every request.
fn consent_anywhere(
    seen: Seen,
) -> impl Service<
    Request<String>,
    Response = Response<Full<Bytes>>,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send {
    tower::service_fn(move |req: Request<String>| {
        let token = crate::common::bearer(&req);
        let ok = token.as_deref() == Some(TOKEN);
        seen.lock().unwrap().push((req.uri().to_string(), token));
        async move {
            Ok(if ok {
                reply(StatusCode::OK, "ok")
            } else {
                reply(StatusCode::FORBIDDEN, CONSENT_GARE)
            })
        }
    })
}

fn get(uri: &str) -> Request<String> {
    Request::get(uri).body(String::new()).unwrap()
}

#[tokio::test]
async fn no_credentials_go_over_plain_http_off_loopback_unless_allowed() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let strict = GareRedriveLayer::new(counting(&calls));
    let service = strict.layer(consent_anywhere(seen.clone()));

    // A GARE on plain http to another host: no login, no token in the clear.
    let response = service
        .clone()
        .oneshot(get("http://api.example.org/a"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(outcome(&response), "Some(PlainHttp)");
    assert!(response.extensions().get::<Gare>().is_some());
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // Loopback is this machine: fine by default.
    for uri in [
        "http://127.0.0.1:9/a",
        "http://localhost:9/a",
        "http://[::1]:9/a",
    ] {
        let response = service.clone().oneshot(get(uri)).await.unwrap();
        assert_eq!(outcome(&response), "Some(Redriven)", "{uri}");
    }

    // Allowed explicitly (a clone of the layer, sharing its memory): the
    // retry carries the token, and it is remembered for that origin...
    let lenient = strict.clone().allow_plain_http(true);
    let service_lenient = lenient.layer(consent_anywhere(seen.clone()));
    let response = service_lenient
        .clone()
        .oneshot(get("http://api.example.org/b"))
        .await
        .unwrap();
    assert_eq!(outcome(&response), "Some(Redriven)");
    let response = service_lenient
        .oneshot(get("http://api.example.org/c"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "remembered");
    // ...but the strict layer never puts it on a plain http request.
    let response = service
        .oneshot(get("http://api.example.org/d"))
        .await
        .unwrap();
    assert_eq!(outcome(&response), "Some(PlainHttp)");
    let seen = seen.lock().unwrap();
    let tokens_to = |path: &str| -> Vec<Option<String>> {
        seen.iter()
            .filter(|(uri, _)| uri == &format!("http://api.example.org{path}"))
            .map(|(_, token)| token.clone())
            .collect()
    };
    assert_eq!(tokens_to("/a"), [None]);
    assert_eq!(tokens_to("/b"), [None, Some(TOKEN.to_owned())]);
    assert_eq!(tokens_to("/c"), [Some(TOKEN.to_owned())]);
    assert_eq!(tokens_to("/d"), [None]);
}
