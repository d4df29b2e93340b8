//! A `Login`'s whole token life on a reqwest client: `login.middleware()`
//! (features `login` and `reqwest`). The login's own token requests go
//! over reqwest too: a reqwest program needs no hyper.
//!
//! The login is a service's own (client credentials, no person): the first
//! request gets a token for the flow's scope; a GARE for another scope
//! brings one more grant and one retry. A request whose body reqwest can
//! clone (bytes, a string) is redriven; a streaming body cannot be sent
//! twice, so it comes back with the GARE attached and
//! `RedriveOutcome::NotReplayable`.
//!
//! Run: `cargo run --example reqwest_middleware --features reqwest`.

mod common;

use common::{bearer, client_credentials_grant, gare_reply, reply, serve};
use http::StatusCode;
use reqwest_middleware::ClientBuilder;
use tower_gare::gare::Gare;
use tower_gare::login::{Login, ResourceServers};
use tower_gare::redrive::RedriveOutcome;

const FLOWS: &str = "flows.globus.org";
const RUN_SCOPE: &str = "https://auth.globus.org/scopes/flow-1/flow_flow_1_user";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Globus Auth's token endpoint, and a flow that wants its own scope to run.
    let addr = serve(|req| async move {
        if req.uri().path() == "/v2/oauth2/token" {
            return client_credentials_grant(req, FLOWS).await;
        }
        if bearer(&req).is_some_and(|token| token.contains("flow_flow_1_user")) {
            return reply(StatusCode::CREATED, r#"{"run_id": "r-1"}"#);
        }
        let gare = tower_gare::gare::to_gare(&serde_json::json!({
            "code": "ConsentRequired",
            "required_scope": RUN_SCOPE,
            "description": "Missing required consent"
        }))
        .unwrap();
        gare_reply(&gare, StatusCode::FORBIDDEN)
    })
    .await;

    let login = Login::builder("service-client-id")
        .client_secret("service-client-secret")
        .client_credentials()
        .auth_base_url(format!("http://{addr}/"))
        .resource_servers(ResourceServers::new().with(&format!("http://{addr}/flows/"), FLOWS))
        .scope_requirements(FLOWS, ["https://auth.globus.org/scopes/flows/view_flows"])
        .build(reqwest::Client::new())?;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(login.middleware())
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

    // Another flow's scope is not asked for yet, and a body reqwest cannot clone.
    let stream = reqwest::Body::wrap(http_body_util::Full::new(bytes::Bytes::from("streamed")));
    let response = client
        .post(format!("http://{addr}/flows/flow-2/run"))
        .body(stream)
        .send()
        .await?;
    println!(
        "streaming body: {} ({:?}, GARE attached: {})",
        response.status(),
        response.extensions().get::<RedriveOutcome>(),
        response.extensions().get::<Gare>().is_some()
    );
    Ok(())
}
