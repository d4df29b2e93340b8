//! `Login::layer()` composed with tower-http layers and a generic retry layer.
//!
//! Order matters:
//! - a generic retry (tower's `Retry`, here for 5xx) goes *outside* the
//!   login's layer: Transfer's 502 `ExternalError.DirListingFailed.LoginFailed`
//!   is a GARE, not a transient failure, and the login's layer must see it
//!   first; the retry policy then sees the redriven 200 and leaves it alone;
//! - `SetRequestHeaderLayer` for the program's own headers goes either
//!   side (a request that carries its own `Authorization` is left as it is:
//!   the login puts its tokens only on requests without one);
//! - `TraceLayer` and a timeout can go either side: inside, per attempt.
//!
//! The login here is a service's own (client credentials, no person): its
//! first request gets a token for Transfer's scope, the 502 GARE asks for a
//! collection's `data_access` too, and one more grant brings it.
//!
//! Run: `cargo run --example service_builder`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{bearer, client_credentials_grant, reply, serve};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::retry::Policy;
use tower::{ServiceBuilder, ServiceExt};
use tower_gare::login::{Login, ResourceServers};
use tower_gare::redrive::RedriveOutcome;
use tower_http::set_header::SetRequestHeaderLayer;
use tower_http::trace::TraceLayer;

const TRANSFER: &str = "transfer.api.globus.org";
const TRANSFER_ALL: &str = "urn:globus:auth:scope:transfer.api.globus.org:all";

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
    // Globus Auth's token endpoint, and Transfer's ls on a collection that
    // wants its data_access consent.
    let addr = serve(move |req| {
        let counter = counter.clone();
        async move {
            if req.uri().path() == "/v2/oauth2/token" {
                return client_credentials_grant(req, TRANSFER).await;
            }
            counter.fetch_add(1, Ordering::SeqCst);
            if bearer(&req).is_some_and(|token| token.contains("data_access")) {
                return reply(StatusCode::OK, r#"{"DATA": []}"#);
            }
            reply(
                StatusCode::BAD_GATEWAY,
                r#"{"code": "ExternalError.DirListingFailed.LoginFailed", "message": "Login Failed",
                    "authorization_parameters": {"required_scopes":
                        ["urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/abc/data_access]"]}}"#,
            )
        }
    })
    .await;

    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let login = Login::builder("service-client-id")
        .client_secret("service-client-secret")
        .client_credentials()
        .auth_base_url(format!("http://{addr}/"))
        .resource_servers(ResourceServers::new().with(&format!("http://{addr}/v0.10/"), TRANSFER))
        .scope_requirements(TRANSFER, [TRANSFER_ALL])
        .build(http.clone())?;
    let service = ServiceBuilder::new()
        .retry(RetryServerErrors(2))
        .layer(SetRequestHeaderLayer::overriding(
            http::header::USER_AGENT,
            HeaderValue::from_static("service-builder-example/1.0"),
        ))
        .layer(login.layer())
        .layer(TraceLayer::new_for_http())
        .timeout(Duration::from_secs(10))
        .service(http);

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
    println!("requests Transfer saw: {}", hits.load(Ordering::SeqCst));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    Ok(())
}
