//! `https::client()` (feature `rustls`), over real sockets: it carries a
//! login's requests over plain HTTP to loopback, and a TLS handshake that
//! fails (a server that does not speak TLS) is an error, never a panic.
#![cfg(feature = "rustls")]

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;

#[tokio::test]
async fn the_ready_made_client_sends_and_a_failed_handshake_is_an_error() {
    let addr = crate::common::serve(|request: Request<hyper::body::Incoming>| async move {
        let _ = request;
        Response::new(Full::new(Bytes::from_static(b"hello")))
    })
    .await;
    let client = tower_gare::https::client().unwrap();
    let request = Request::get(format!("http://{addr}/"))
        .body(Full::default())
        .unwrap();
    let response = client.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, Bytes::from_static(b"hello"));

    // The same server over https: it answers a ClientHello with HTTP.
    let request = Request::get(format!("https://localhost:{}/", addr.port()))
        .body(Full::default())
        .unwrap();
    let error = client.oneshot(request).await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
}
