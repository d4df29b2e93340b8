//! Ready-made GAREs and responses for the common cases.

use http::{header, HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::gare::{AuthorizationParameters, Gare};

fn with(code: &str, params: AuthorizationParameters) -> Gare {
    Gare::new(code, params)
}

/// `ConsentRequired` for `scopes` (what Transfer sends for a collection's
/// `data_access` consent).
///
/// ```
/// let gare = tower_gare::testing::gares::consent_required(&["a", "b"]);
/// assert_eq!(gare.authorization_parameters.required_scopes.unwrap(), ["a", "b"]);
/// ```
pub fn consent_required(scopes: &[&str]) -> Gare {
    with(
        "ConsentRequired",
        AuthorizationParameters {
            session_message: Some("Missing required consent".into()),
            required_scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        },
    )
}

/// A session that must have used multi-factor authentication.
pub fn mfa_required() -> Gare {
    with(
        "AuthorizationRequired",
        AuthorizationParameters {
            session_message: Some("This resource requires multi-factor authentication".into()),
            session_required_mfa: Some(true),
            ..Default::default()
        },
    )
}

/// A session with an identity from one of `domains`.
pub fn single_domain_required(domains: &[&str]) -> Gare {
    with(
        "AuthorizationRequired",
        AuthorizationParameters {
            session_message: Some("Log in with an identity from an allowed domain".into()),
            session_required_single_domain: Some(domains.iter().map(|d| d.to_string()).collect()),
            ..Default::default()
        },
    )
}

/// A session satisfying authentication `policies` (ids).
pub fn policy_required(policies: &[&str]) -> Gare {
    with(
        "AuthorizationRequired",
        AuthorizationParameters {
            session_message: Some("A high-assurance policy applies".into()),
            session_required_policies: Some(policies.iter().map(|p| p.to_string()).collect()),
            ..Default::default()
        },
    )
}

/// Transfer's `ls` failure on a restricted collection, a GARE on a 502.
///
/// ```
/// let response = tower_gare::testing::gares::transfer_login_failed_502();
/// assert_eq!(response.status(), 502);
/// let gare = tower_gare::gare::from_body(response.body().as_bytes()).unwrap();
/// assert_eq!(gare.code, "ExternalError.DirListingFailed.LoginFailed");
/// ```
pub fn transfer_login_failed_502() -> Response<String> {
    let body = json!({
        "code": "ExternalError.DirListingFailed.LoginFailed",
        "message": "Command Failed: Error (login)\nEndpoint: restricted-collection\nMessage: Login Failed\n530-GridFTP-Message: None of your authenticated identities are from domains allowed by resource policies",
        "request_id": "7U5dNqzDn",
        "resource": "/operation/endpoint/2a0d28b8-d2a3-4143-9f76-93ab09497b85/ls",
        "authorization_parameters": {"session_required_single_domain": ["uchicago.edu"]}
    });
    json_response(StatusCode::BAD_GATEWAY, body.to_string())
}

/// A 401 with an RFC 9470 step-up challenge and an empty body.
///
/// ```
/// let response = tower_gare::testing::gares::step_up_401("urn:mfa", Some(0));
/// let gare = tower_gare::challenge::from_headers(response.headers()).unwrap();
/// assert_eq!(gare.acr_values(), Some("urn:mfa"));
/// ```
pub fn step_up_401(acr_values: &str, max_age: Option<u64>) -> Response<String> {
    let mut value =
        format!(r#"Bearer error="insufficient_user_authentication", acr_values="{acr_values}""#);
    if let Some(max_age) = max_age {
        value.push_str(&format!(", max_age={max_age}"));
    }
    let mut response = Response::new(String::new());
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// A JSON response with `status` (the scripted service's answers).
pub(crate) fn json_response(status: StatusCode, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
