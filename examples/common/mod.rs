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

#[cfg(feature = "login")]
/// A client-credentials token endpoint for `resource_server`, as Globus
/// Auth's `/v2/oauth2/token` answers one: the token's value names the
/// scopes it grants (spaces as `+`), so a server of the example can tell
/// what it may do.
pub async fn client_credentials_grant(
    req: Request<Incoming>,
    resource_server: &str,
) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt;
    let form = req.into_body().collect().await.map(|b| b.to_bytes());
    let form = form.unwrap_or_default();
    let scope = form_urlencoded::parse(&form)
        .find(|(key, _)| key == "scope")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    // The response names the scopes granted, as Globus Auth does: a
    // dependent scope's brackets (`all[*data_access]`) are left out.
    let mut names = String::new();
    let mut depth = 0usize;
    for c in scope.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => names.push(c),
            _ => {}
        }
    }
    let body = serde_json::json!({
        "access_token": format!("granted:{}", scope.replace(' ', "+")),
        "scope": names,
        "resource_server": resource_server,
        "expires_in": 3600,
        "token_type": "Bearer",
    });
    reply(StatusCode::OK, body.to_string())
}
