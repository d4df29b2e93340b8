//! The layer composed with tower-http layers and a generic retry layer.
//!
//! Order matters:
//! - a generic retry (tower's `Retry`, here for 5xx) goes *outside* the GARE
//!   layer: Transfer's 502 `ExternalError.DirListingFailed.LoginFailed` is a
//!   GARE, not a transient failure, and the GARE layer must see it first;
//!   the retry policy then sees the redriven 200 and leaves it alone;
//! - `SetRequestHeaderLayer` that sets `Authorization` goes outside too (the
//!   GARE layer replaces it with the credentials it learned);
//! - `TraceLayer` and a timeout can go either side: inside, per attempt.
//!
//! Run: `cargo run --example service_builder`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{bearer, reply, serve};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::retry::Policy;
use tower::{ServiceBuilder, ServiceExt};
use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext, RedriveOutcome};
use tower_http::set_header::SetRequestHeaderLayer;
use tower_http::trace::TraceLayer;

/// Retries 5xx answers up to twice: the usual transient-failure policy.
#[derive(Clone)]
struct RetryServerErrors(usize);

impl<B, E> Policy<Request<Full<Bytes>>, Response<B>, E> for RetryServerErrors {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _req: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<B>, E>,
    ) -> Option<Self::Future> {
        match result {
            Ok(response) if response.status().is_server_error() && self.0 > 0 => {
                self.0 -= 1;
                Some(std::future::ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        let mut clone = Request::new(req.body().clone());
        *clone.method_mut() = req.method().clone();
        *clone.uri_mut() = req.uri().clone();
        *clone.headers_mut() = req.headers().clone();
        Some(clone)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = serve(move |req| {
        counter.fetch_add(1, Ordering::SeqCst);
        let ok = bearer(&req).as_deref() == Some("restricted-ok");
        async move {
            if ok {
                return reply(StatusCode::OK, r#"{"DATA": []}"#);
            }
            // Transfer's ls on a restricted collection.
            reply(
                StatusCode::BAD_GATEWAY,
                r#"{"code": "ExternalError.DirListingFailed.LoginFailed", "message": "Login Failed",
                    "authorization_parameters": {"session_required_single_domain": ["uchicago.edu"]}}"#,
            )
        }
    })
    .await;

    let login = |cx: ReauthContext| async move {
        println!(
            "login with {:?}",
            cx.gare()
                .authorization_parameters
                .session_required_single_domain
        );
        Credentials::bearer("restricted-ok")
    };
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let service = ServiceBuilder::new()
        .retry(RetryServerErrors(2))
        .layer(SetRequestHeaderLayer::overriding(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer startup-token"),
        ))
        .layer(GareRedriveLayer::new(login))
        .layer(TraceLayer::new_for_http())
        .timeout(Duration::from_secs(10))
        .service(client);

    let response = service
        .oneshot(
            Request::get(format!("http://{addr}/v0.10/operation/endpoint/abc/ls"))
                .body(Full::new(Bytes::new()))?,
        )
        .await?;
    println!(
        "status: {}, outcome: {:?}",
        response.status(),
        response.extensions().get::<RedriveOutcome>()
    );
    // Two requests: the 502 GARE and its redrive. The retry layer never fired.
    println!("requests the server saw: {}", hits.load(Ordering::SeqCst));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    Ok(())
}
