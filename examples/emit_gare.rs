//! A service that answers with a GARE built by this crate, and a client
//! with the layer that recovers from it.
//!
//! The server side is plain hyper: `Gare::to_response()` is a well-formed
//! `403 application/json` GARE in one line. Run: `cargo run --example emit_gare`.

mod common;

use bytes::Bytes;
use common::{bearer, serve};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};
use tower_gare::gare::{AuthorizationParameters, Gare};
use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext};

/// The service's own check: this route needs a session with an identity
/// from example.edu.
fn handle(token: Option<String>) -> Response<String> {
    if token.as_deref() == Some("example-edu-session") {
        return Response::new(String::from(r#"{"report": "quarterly"}"#));
    }
    Gare::new(
        "AuthorizationRequired",
        AuthorizationParameters {
            session_message: Some("Log in with your example.edu identity".into()),
            session_required_single_domain: Some(vec!["example.edu".into()]),
            ..Default::default()
        },
    )
    .to_response()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr =
        serve(|req| async move { handle(bearer(&req)).map(|body| Full::new(Bytes::from(body))) })
            .await;

    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let client = GareRedriveLayer::new(|cx: ReauthContext| async move {
        let params = &cx.gare().authorization_parameters;
        println!(
            "the server says: {}",
            params.session_message.as_deref().unwrap_or("")
        );
        println!(
            "logging in with a domain in {:?}",
            params.session_required_single_domain
        );
        Credentials::bearer("example-edu-session")
    })
    .layer(client);

    let response = client
        .oneshot(Request::get(format!("http://{addr}/report")).body(Full::new(Bytes::new()))?)
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    println!(
        "{}",
        String::from_utf8_lossy(&response.into_body().collect().await?.to_bytes())
    );
    Ok(())
}
