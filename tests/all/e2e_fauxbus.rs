//! End to end against fauxbus, a wire-level fake of Globus Auth, Groups and
//! Transfer: a hyper-util client under `Login::layer` (the redrive layer
//! around the layer that attaches the login's tokens), over real sockets.
//!
//! `build.rs` finds fauxbus (`FAUXBUS`, `PATH`, or `target/ci-venv/bin`).
//! Without it these tests are compiled `ignore`d, so `cargo test` counts
//! them as ignored, not passed; under `REQUIRE_FAUXBUS=1` (as `.ci/run`
//! sets) a missing fauxbus is a build error.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower::{Layer, ServiceExt};
use tower_gare::gare::Gare;
use tower_gare::login::{Login, LoginError, ResourceServers};
use tower_gare::redrive::RedriveOutcome;

use crate::support::fauxbus::*;

fn login(fauxbus: &Fauxbus, prompt: HeadlessPrompt) -> Login<Http, HeadlessPrompt> {
    Login::builder(CLIENT_ID)
        .client_secret(CLIENT_SECRET)
        .auth_base_url(fauxbus.url("/"))
        .redirect_uri(REDIRECT_URI)
        .scopes(["openid"])
        .resource_servers(
            ResourceServers::new()
                .with(&fauxbus.url("/v2/groups"), "groups.api.globus.org")
                .with(&fauxbus.url("/v0.10/"), "transfer.api.globus.org"),
        )
        .prompt(prompt)
        .build(http())
        .unwrap()
}

/// A GET that carries a token fauxbus never issued, as a program's own
/// stale header would: the attaching layer leaves a request's own
/// `Authorization` alone, so the redrive layer sees fauxbus's answer to it.
async fn get<S, B>(service: &S, url: String) -> Response<B>
where
    S: tower::Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
{
    service
        .clone()
        .oneshot(
            Request::get(url)
                .header("authorization", "Bearer not-issued-here")
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap()
}

async fn json_body<B: http_body::Body>(response: Response<B>) -> Value
where
    B::Error: std::fmt::Debug,
{
    serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
#[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
async fn a_consent_gare_on_groups_logs_in_with_its_scopes_and_the_token_is_kept() {
    let fauxbus = Fauxbus::start();
    let gare = json!({
        "code": "ConsentRequired",
        "authorization_parameters": {
            "session_message": "Groups needs your consent",
            "required_scopes": [GROUPS_SCOPE]
        }
    });
    fauxbus
        .arm(json!({"method": "GET", "path": "/v2/groups/my_groups", "status": 403, "body": gare, "times": 1}))
        .await;
    let prompt = HeadlessPrompt::new(&fauxbus);
    let client = login(&fauxbus, prompt.clone()).layer().layer(http());

    let response = get(&client, fauxbus.url("/v2/groups/my_groups")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(matches!(
        response.extensions().get(),
        Some(RedriveOutcome::Redriven)
    ));
    let groups = json_body(response).await;
    assert!(
        groups
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g["name"] == "e2e-users")),
        "{groups}"
    );

    let url = prompt.last_url();
    let scope = query_param(&url, "scope").unwrap();
    assert_eq!(scope, format!("{GROUPS_SCOPE} openid"));
    assert_eq!(
        query_param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query_param(&url, "code_challenge").map(|c| c.len()),
        Some(43)
    );
    assert_eq!(
        query_param(&url, "prompt"),
        None,
        "consent alone does not force a login"
    );

    // The next request, with no `Authorization` of its own, gets the kept
    // token from the attaching layer at once: no login, no retry.
    let response = client
        .clone()
        .oneshot(
            Request::get(fauxbus.url("/v2/groups/my_groups"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.extensions().get::<RedriveOutcome>().is_none());
    assert_eq!(prompt.logins(), 1);
}

#[tokio::test]
#[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
async fn a_session_gare_sends_its_requirements_and_prompt_login() {
    let fauxbus = Fauxbus::start();
    let gare = json!({
        "code": "AuthorizationRequired",
        "authorization_parameters": {
            "session_message": "This group requires MFA \u{1b}[31mnow\u{1b}[0m",
            "session_required_mfa": true,
            "session_required_single_domain": ["example.org", "example.edu"],
            "session_required_identities": [],
            "required_scopes": [GROUPS_SCOPE]
        }
    });
    fauxbus
        .arm(json!({"method": "GET", "path": "/v2/groups/*", "status": 403, "body": gare, "times": 1}))
        .await;
    let prompt = HeadlessPrompt::new(&fauxbus);
    let client = login(&fauxbus, prompt.clone()).layer().layer(http());
    let response = get(&client, fauxbus.url("/v2/groups/my_groups")).await;
    assert_eq!(response.status(), StatusCode::OK);

    let url = prompt.last_url();
    assert_eq!(query_param(&url, "prompt").as_deref(), Some("login"));
    assert_eq!(
        query_param(&url, "session_required_mfa").as_deref(),
        Some("true")
    );
    assert_eq!(
        query_param(&url, "session_required_single_domain").as_deref(),
        Some("example.org,example.edu")
    );
    assert_eq!(
        query_param(&url, "session_required_identities"),
        None,
        "an empty list is left out"
    );
    assert_eq!(
        query_param(&url, "session_message").as_deref(),
        Some("This group requires MFA \u{1b}[31mnow\u{1b}[0m")
    );
}

#[tokio::test]
#[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
async fn the_transfer_502_login_failed_gare_is_redriven() {
    let fauxbus = Fauxbus::start();
    let gare = json!({
        "code": "ExternalError.DirListingFailed.LoginFailed",
        "message": "Command Failed: Error (login)\nEndpoint: uc-restricted-col\nMessage: Login Failed",
        "request_id": "7U5dNqzDn",
        "resource": "/operation/endpoint/2a0d28b8-d2a3-4143-9f76-93ab09497b85/ls",
        "authorization_parameters": {
            "session_required_identities": [ACCOUNT],
            "required_scopes": [TRANSFER_SCOPE]
        }
    });
    fauxbus
        .arm(json!({"method": "GET", "path": "/v0.10/endpoint_manager/task_list", "status": 502, "body": gare, "times": 1}))
        .await;
    let prompt = HeadlessPrompt::new(&fauxbus);
    let client = login(&fauxbus, prompt.clone()).layer().layer(http());
    let response = get(
        &client,
        fauxbus.url("/v0.10/endpoint_manager/task_list?filter_status=ACTIVE"),
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "retried with a Transfer token"
    );
    assert!(matches!(
        response.extensions().get(),
        Some(RedriveOutcome::Redriven)
    ));
    let listing = json_body(response).await;
    assert_eq!(listing["DATA_TYPE"], "task_list", "{listing}");
    let url = prompt.last_url();
    assert_eq!(
        query_param(&url, "session_required_identities").as_deref(),
        Some(ACCOUNT)
    );
    assert_eq!(query_param(&url, "prompt").as_deref(), Some("login"));
    assert_eq!(prompt.logins(), 1);
}

#[tokio::test]
#[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
async fn a_bad_code_gives_the_original_403_and_a_clear_error() {
    let fauxbus = Fauxbus::start();
    let gare = json!({"code": "ConsentRequired", "authorization_parameters": {"required_scopes": [GROUPS_SCOPE]}});
    fauxbus
        .arm(json!({"method": "GET", "path": "/v2/groups/my_groups", "status": 403, "body": gare, "times": 1}))
        .await;
    let mut prompt = HeadlessPrompt::new(&fauxbus);
    prompt.bad_code = true;
    let client = login(&fauxbus, prompt.clone()).layer().layer(http());
    let response = get(&client, fauxbus.url("/v2/groups/my_groups")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.extensions().get::<Gare>().unwrap().code,
        "ConsentRequired"
    );
    let Some(RedriveOutcome::ReauthFailed(error)) =
        response.extensions().get::<RedriveOutcome>().cloned()
    else {
        panic!("expected a failed reauthentication");
    };
    match error.inner().downcast_ref::<LoginError>() {
        Some(LoginError::Refused { error, description }) => {
            assert_eq!(error, "invalid_grant");
            assert!(description
                .as_deref()
                .is_some_and(|d| d.contains("no such authorization code")));
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("invalid_grant"), "{message}");
    assert!(!message.contains(CLIENT_SECRET));
    assert_eq!(json_body(response).await, gare);
}
