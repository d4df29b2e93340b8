//! A tiny HTTP server on 127.0.0.1, and the responses it sends: the one
//! loopback server of the examples, the tests (`tests/all`, `tests/memory.rs`)
//! and the benches, which include this file with `#[path]`.
//!
//! Each of those programs uses some of these helpers, none uses all: hence
//! the `allow` (one file compiled into a dozen binaries, not a copy per binary).
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// Serves `handler` on a free port of 127.0.0.1 until the runtime ends.
///
/// Any response body will do: [`reply`]'s `Full<Bytes>`, or a stream for a
/// large or slow body.
pub async fn serve<F, Fut, B>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("an address");
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let response = handler(req);
                    async move { Ok::<_, Infallible>(response.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A response with `status` and a JSON (or any) body, marked
/// `application/json`.
pub fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// A `Gare::to_response()` with a `Full<Bytes>` body.
pub fn gare_reply(gare: &tower_gare::gare::Gare, status: StatusCode) -> Response<Full<Bytes>> {
    gare.to_response_with_status(status)
        .map(|body| Full::new(Bytes::from(body)))
}

/// The bearer token of a request, if any.
pub fn bearer<B>(req: &Request<B>) -> Option<String> {
    req.headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}
