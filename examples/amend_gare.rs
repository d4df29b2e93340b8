//! A GARE that misses a scope, corrected before the login.
//!
//! Globus Flows runs each flow as its own resource server, and a run needs
//! the flow's own scope; a Flows GARE can leave it out, so a program would
//! log in, retry, be refused again, and log in a second time. The Globus
//! CLI patches these GAREs in its own code; here a hook on the login does:
//! it sees each GARE and the request it came on, and adds the flow's scope.
//!
//! Everything runs in memory (a token endpoint and a Flows-like service as
//! tower services; a prompt that approves at once):
//!
//! ```sh
//! cargo run --example amend_gare
//! ```

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_gare::login::{
    AuthorizationResponse, AuthorizeRequest, Login, LoginError, Prompt, ResourceServers,
};
use tower_gare::redrive::RedriveOutcome;

const FLOW: &str = "6f3a2b4c-0000-4000-8000-00000000f10e";
const FLOWS_ALL: &str = "https://auth.globus.org/scopes/eec9b274-0c81-4334-bdc2-54e90e689b9a/all";

fn flow_scope() -> String {
    format!(
        "https://auth.globus.org/scopes/{FLOW}/flow_{}_user",
        FLOW.replace('-', "_")
    )
}

/// Approves every login at once, and says what it was asked for.
#[derive(Debug, Clone, Default)]
struct Approve {
    granted: Arc<Mutex<String>>,
}

impl Prompt for Approve {
    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        let scope = request.param("scope").unwrap_or("").to_owned();
        println!("login asks for: {scope}");
        *self.granted.lock().unwrap() = scope;
        Ok(AuthorizationResponse {
            code: "code".into(),
            state: Some(request.state().to_owned()),
        })
    }
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let prompt = Approve::default();
    let granted = Arc::clone(&prompt.granted);

    // Token endpoint and Flows in one in-memory service. The token is the
    // granted scope string itself, to keep the example short.
    let world = service_fn(move |request: Request<Full<Bytes>>| {
        let granted = Arc::clone(&granted);
        async move {
            let path = request.uri().path().to_owned();
            let token = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned);
            let response = if path == "/v2/oauth2/token" {
                let scope = granted.lock().unwrap().clone();
                reply(
                    StatusCode::OK,
                    json!({
                        "access_token": scope, "scope": scope, "expires_in": 3600,
                        "resource_server": "flows.globus.org", "other_tokens": []
                    }),
                )
            } else if token.is_some_and(|t| t.contains(&flow_scope())) {
                reply(
                    StatusCode::CREATED,
                    json!({"run_id": "r-1", "status": "ACTIVE"}),
                )
            } else {
                // Flows' GARE names the Flows scope, not the flow's own.
                reply(
                    StatusCode::FORBIDDEN,
                    json!({
                        "code": "ConsentRequired",
                        "authorization_parameters": {"required_scopes": [FLOWS_ALL]}
                    }),
                )
            };
            Ok::<_, Infallible>(response)
        }
    });

    let login = Login::builder("example-client")
        .auth_base_url("https://auth.example.org")
        .resource_servers(
            ResourceServers::new().with("https://flows.example.org/", "flows.globus.org"),
        )
        .scope_requirements("flows.globus.org", [FLOWS_ALL])
        .prompt(prompt)
        // The hook: a run of a flow needs the flow's own scope too.
        .amend_gare(|cx, gare| {
            if cx.uri().path().starts_with(&format!("/flows/{FLOW}/run")) {
                let scopes = gare
                    .authorization_parameters
                    .required_scopes
                    .get_or_insert_with(Vec::new);
                if !scopes.contains(&flow_scope()) {
                    scopes.push(flow_scope());
                }
            }
        })
        .build(world.clone())?;

    let client = ServiceBuilder::new().layer(login.layer()).service(world);
    let run = Request::post(format!("https://flows.example.org/flows/{FLOW}/run"))
        .body(Full::new(Bytes::from_static(b"{\"body\": {}}")))?;
    let response = client.oneshot(run).await?;
    let status = response.status();
    let outcome = RedriveOutcome::of(&response).cloned();
    let body = response.into_body().collect().await?.to_bytes();
    println!("{status} {outcome:?} {}", String::from_utf8_lossy(&body));
    assert_eq!(
        status,
        StatusCode::CREATED,
        "one login, with the flow's scope, was enough"
    );
    Ok(())
}
