//! The same engine as a `reqwest_middleware::Middleware` (feature `reqwest`).
//!
//! A request whose body reqwest can clone (bytes, a string) is redriven; a
//! streaming body cannot be sent twice, so it comes back with the GARE
//! attached and `RedriveOutcome::NotReplayable`.
//! Run: `cargo run --example reqwest_middleware --features reqwest`.

mod common;

use common::{bearer, gare_reply, reply, serve};
use http::StatusCode;
use reqwest_middleware::ClientBuilder;
use tower_gare::gare::Gare;
use tower_gare::redrive::{Credentials, ReauthContext, RedriveOutcome};
use tower_gare::reqwest::GareRedriveMiddleware;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr = serve(|req| async move {
        if bearer(&req).as_deref() == Some("flows-token") {
            return reply(StatusCode::CREATED, r#"{"run_id": "r-1"}"#);
        }
        let gare = tower_gare::gare::to_gare(&serde_json::json!({
            "code": "ConsentRequired",
            "required_scope": "https://auth.globus.org/scopes/flow-1/flow_flow_1_user",
            "description": "Missing required consent"
        }))
        .unwrap();
        gare_reply(&gare, StatusCode::FORBIDDEN)
    })
    .await;

    let client = ClientBuilder::new(reqwest::Client::new())
        .with(GareRedriveMiddleware::new(|cx: ReauthContext| async move {
            println!(
                "consent needed: {:?}",
                cx.gare().authorization_parameters.required_scopes
            );
            Credentials::bearer("flows-token")
        }))
        .build();

    let response = client
        .post(format!("http://{addr}/flows/flow-1/run"))
        .body(r#"{"body": {}}"#)
        .send()
        .await?;
    println!(
        "cloneable body: {} ({:?})",
        response.status(),
        response.extensions().get::<RedriveOutcome>()
    );
    assert_eq!(response.status(), StatusCode::CREATED);

    // A fresh client: nothing remembered, and a body reqwest cannot clone.
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(GareRedriveMiddleware::new(|_cx: ReauthContext| async {
            Credentials::bearer("flows-token")
        }))
        .build();
    let stream = reqwest::Body::wrap(http_body_util::Full::new(bytes::Bytes::from("streamed")));
    let response = client
        .post(format!("http://{addr}/flows/flow-1/run"))
        .body(stream)
        .send()
        .await?;
    println!(
        "streaming body: {} ({:?}, GARE attached: {})",
        response.status(),
        response.extensions().get::<RedriveOutcome>(),
        response.extensions().get::<Gare>().is_some()
    );
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    Ok(())
}
