//! The layer on a hyper-util legacy client, with a closure reauthenticator.
//!
//! A local server answers a consent GARE until it sees the right token; the
//! closure plays the login (a real program would use `tower_gare::login`).
//! Run: `cargo run --example hyper_client`.

mod common;

use bytes::Bytes;
use common::{bearer, gare_reply, reply, serve};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};
use tower_gare::gare::{AuthorizationParameters, Gare};
use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext, RedriveOutcome};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr = serve(|req| async move {
        if bearer(&req).as_deref() == Some("with-transfer-consent") {
            return reply(StatusCode::OK, r#"{"DATA": [{"name": "results.csv"}]}"#);
        }
        let gare = Gare::new(
            "ConsentRequired",
            AuthorizationParameters {
                required_scopes: Some(vec![
                    "urn:globus:auth:scope:transfer.api.globus.org:all".into()
                ]),
                ..Default::default()
            },
        );
        gare_reply(&gare, StatusCode::FORBIDDEN)
    })
    .await;

    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let reauthenticate = |cx: ReauthContext| async move {
        println!(
            "reauthenticating for {} with {:?}",
            cx.origin(),
            cx.gare().authorization_parameters.required_scopes
        );
        Credentials::bearer("with-transfer-consent")
    };
    let client = GareRedriveLayer::new(reauthenticate).layer(client);

    let request = Request::get(format!("http://{addr}/v0.10/operation/endpoint/abc/ls"))
        .header("authorization", "Bearer without-consent")
        .body(Full::new(Bytes::new()))?;
    let response = client.oneshot(request).await?;
    println!(
        "status: {}, outcome: {:?}",
        response.status(),
        response.extensions().get::<RedriveOutcome>()
    );
    assert_eq!(response.status(), StatusCode::OK);
    println!(
        "{}",
        String::from_utf8_lossy(&response.into_body().collect().await?.to_bytes())
    );
    Ok(())
}
