//! The `testing` helpers, proved by using them against the layer.
use std::time::Duration;

use http::{Request, StatusCode};
use tower::{Layer, ServiceExt};
use tower_gare::gare::{self, Gare};
use tower_gare::redrive::{GareRedriveLayer, RedriveOutcome};
use tower_gare::testing::{gares, RecordingReauthenticator, ScriptedService};

#[tokio::test]
async fn a_gare_the_first_n_times_then_200() {
    let api = ScriptedService::new().gare_times(1, StatusCode::FORBIDDEN, &gares::mfa_required());
    let reauth = RecordingReauthenticator::returning("t1");
    let client = GareRedriveLayer::new(reauth.clone()).layer(api.clone());
    let response = client.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cx = &reauth.contexts()[0];
    assert_eq!(
        cx.gare().authorization_parameters.session_required_mfa,
        Some(true)
    );
    let requests = api.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].authorization(), None);
    assert_eq!(requests[1].authorization(), Some("Bearer t1"));
}

#[tokio::test]
async fn the_transfer_502_and_a_step_up_401_are_redriven() {
    let api = ScriptedService::new()
        .respond(gares::transfer_login_failed_502())
        .respond(gares::step_up_401("urn:mfa", Some(0)));
    let reauth = RecordingReauthenticator::returning("a").then_return("b");
    let client = GareRedriveLayer::new(reauth.clone()).layer(api.clone());
    let response = client
        .clone()
        .oneshot(Request::new(String::new()))
        .await
        .unwrap();
    // The 502's retry got the 401 challenge: one retry only, so it comes
    // back with its requirement attached.
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.extensions().get::<Gare>().unwrap().acr_values(),
        Some("urn:mfa")
    );
    assert_eq!(
        reauth.contexts()[0].gare().code,
        "ExternalError.DirListingFailed.LoginFailed"
    );
    assert_eq!(
        reauth.contexts()[0]
            .gare()
            .authorization_parameters
            .session_required_single_domain
            .as_deref(),
        Some(&["uchicago.edu".to_string()][..])
    );
    // The script is spent: the next request gets 200 with the new token.
    let response = client.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(api.requests()[2].authorization(), Some("Bearer a"));
}

#[tokio::test]
async fn a_failing_reauthenticator_and_scripted_sequences() {
    let api = ScriptedService::new().gare_until_authorized(
        StatusCode::FORBIDDEN,
        gares::policy_required(&["p1"]),
        "good",
    );
    let reauth = RecordingReauthenticator::failing("declined").then_return("good");
    // No quiet period after the failure: the script's next answer at once.
    let client = GareRedriveLayer::new(reauth.clone())
        .reauth_quiet_period(Duration::ZERO)
        .layer(api.clone());
    let response = client
        .clone()
        .oneshot(Request::new(String::new()))
        .await
        .unwrap();
    match RedriveOutcome::of(&response) {
        Some(RedriveOutcome::ReauthFailed(error)) => {
            assert_eq!(error.inner().to_string(), "declined")
        }
        other => panic!("{other:?}"),
    }
    let response = client.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(reauth.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_with_a_slow_reauthenticator_share_one_call() {
    let api = ScriptedService::new().gare_until_authorized(
        StatusCode::UNAUTHORIZED,
        gares::single_domain_required(&["example.edu"]),
        "t",
    );
    let reauth = RecordingReauthenticator::returning("t").with_delay(Duration::from_millis(100));
    let client = GareRedriveLayer::new(reauth.clone()).layer(api);
    let all = (0..50).map(|_| client.clone().oneshot(Request::new(String::new())));
    for response in futures_util::future::join_all(all).await {
        assert_eq!(response.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(reauth.calls(), 1);
}

#[test]
fn the_ready_made_gares_are_well_formed() {
    for gare in [
        gares::consent_required(&["s"]),
        gares::mfa_required(),
        gares::single_domain_required(&["d"]),
        gares::policy_required(&["p"]),
    ] {
        let response = gare.to_response();
        assert_eq!(
            gare::from_body(response.body().as_bytes()),
            Some(gare.clone())
        );
        let strict: Gare = serde_json::from_str(response.body()).unwrap();
        assert_eq!(strict, gare);
    }
}
