//! A check of the test fixture `tests/support/oidc.rs` against the real
//! OAuth 2.0 server (node-oidc-provider, `tests/oidc/`), with no crate code:
//! an authorization code login with PKCE by hand, the headless browser, the
//! code exchange, refresh, introspection. To be folded into the end-to-end
//! tests.
//!
//! Without node or `tests/oidc/node_modules` these tests print SKIPPED and
//! pass, unless `REQUIRE_OIDC=1`, under which they fail.

use crate::support::oidc;

use base64::Engine as _;
use oidc::*;
use serde_json::Value;
use sha2::Digest as _;

fn pkce(seed: &str) -> (String, String) {
    // 43 unreserved characters, as RFC 7636 asks.
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(format!("verifier {seed}").as_bytes()));
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_url(server: &OidcServer, scope: &str, state: &str, challenge: &str) -> String {
    let query = form_encode(&[
        ("client_id", NATIVE_CLIENT_ID),
        ("redirect_uri", &server.redirect_uri),
        ("response_type", "code"),
        ("scope", scope),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("prompt", "consent"),
    ]);
    server.url(&format!("/auth?{query}"))
}

/// Logs in through `browser` and exchanges the code: the token response.
async fn log_in(server: &OidcServer, browser: &Browser, scope: &str) -> Value {
    let (verifier, challenge) = pkce(scope);
    let redirect = browser
        .login(&authorize_url(server, scope, "state-123", &challenge))
        .await;
    assert!(
        redirect.starts_with(&format!("{}?", server.redirect_uri)),
        "{redirect}"
    );
    assert_eq!(
        query_param(&redirect, "state").as_deref(),
        Some("state-123")
    );
    assert_eq!(
        query_param(&redirect, "iss").as_deref(),
        Some(server.issuer.as_str())
    );
    let code = query_param(&redirect, "code").expect("a code");
    let (status, tokens) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &server.redirect_uri),
                ("client_id", NATIVE_CLIENT_ID),
                ("code_verifier", &verifier),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

#[tokio::test]
async fn a_headless_login_yields_tokens_the_server_calls_active() {
    let Some(server) = OidcServer::start_with(
        "a_headless_login_yields_tokens_the_server_calls_active",
        OidcConfig::default().access_ttl(2),
    ) else {
        return;
    };
    eprintln!("server {} ready in {:?}", server.issuer, server.startup);
    let browser = Browser::new();
    let tokens = log_in(&server, &browser, "openid offline_access files:read").await;
    assert_eq!(browser.pages(), ["login", "consent"]);
    assert_eq!(tokens["scope"], "files:read");
    assert_eq!(tokens["expires_in"], 2);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("offline_access gives a refresh token");

    let info = server.introspect(access).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["aud"], RESOURCE);
    assert_eq!(info["sub"], ACCOUNT);
    assert_eq!(info["client_id"], NATIVE_CLIENT_ID);

    // Refresh rotates the refresh token.
    let refresh_with = |token: String| {
        let server = &server;
        async move {
            server
                .post_form(
                    "/token",
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &token),
                        ("client_id", NATIVE_CLIENT_ID),
                    ],
                    None,
                )
                .await
        }
    };
    let (status, new) = refresh_with(refresh.to_owned()).await;
    assert_eq!(status, 200, "{new}");
    assert_ne!(new["refresh_token"], tokens["refresh_token"]);

    // Expiry, as a resource server sees it; the refresh token outlives it.
    let new_access = new["access_token"].as_str().unwrap();
    assert!(server.is_active(new_access).await);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(
        server.introspect(new_access).await,
        serde_json::json!({"active": false})
    );
    let (status, newer) = refresh_with(new["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(status, 200, "{newer}");
    let newer_access = newer["access_token"].as_str().unwrap();
    let newer_refresh = newer["refresh_token"].as_str().unwrap();
    assert!(server.is_active(newer_access).await);
    assert!(server.is_active(newer_refresh).await);

    // A rotated-out refresh token used again is refused, and that reuse
    // revokes the whole grant: the current tokens stop working too.
    let (status, error) = refresh_with(refresh.to_owned()).await;
    assert_eq!(
        (status.as_u16(), &error["error"]),
        (400, &Value::from("invalid_grant")),
        "{error}"
    );
    assert!(!server.is_active(newer_access).await);
    assert!(!server.is_active(newer_refresh).await);
    let (status, error) = refresh_with(newer_refresh.to_owned()).await;
    assert_eq!(
        (status.as_u16(), &error["error"]),
        (400, &Value::from("invalid_grant"))
    );

    // A second login in the same browser skips the login page.
    log_in(&server, &browser, "openid files:write").await;
    assert_eq!(browser.pages(), ["login", "consent", "consent"]);
    assert_eq!(browser.logins(), 2);
}

#[tokio::test]
async fn client_credentials_revocation_and_denial() {
    let Some(server) = OidcServer::start("client_credentials_revocation_and_denial") else {
        return;
    };
    let (status, tokens) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "files:read"),
            ],
            Some((SERVICE_CLIENT_ID, SERVICE_CLIENT_SECRET)),
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens.get("refresh_token").is_none());
    let access = tokens["access_token"].as_str().unwrap();
    let info = server.introspect(access).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], SERVICE_CLIENT_ID);
    assert!(info.get("sub").is_none(), "{info}");
    // A public client is told about, and may revoke, its own tokens only.
    let (status, body) = server
        .post_form(
            "/token/introspection",
            &[("token", access), ("client_id", NATIVE_CLIENT_ID)],
            None,
        )
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (200, serde_json::json!({"active": false}))
    );
    assert_eq!(server.revoke(access, NATIVE_CLIENT_ID).await, 200);
    assert!(server.is_active(access).await);
    assert_eq!(server.revoke(access, SERVICE_CLIENT_ID).await, 200);
    assert!(!server.is_active(access).await);

    let (status, error) = server
        .post_form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "files:read"),
            ],
            Some((SERVICE_CLIENT_ID, "wrong")),
        )
        .await;
    assert_eq!(
        (status.as_u16(), &error["error"]),
        (401, &Value::from("invalid_client"))
    );

    // Revoking the access token of a login also revokes its refresh token.
    let tokens = log_in(
        &server,
        &Browser::as_account("bob"),
        "openid offline_access files:read",
    )
    .await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(server.introspect(access).await["sub"], "bob");
    assert!(server.is_active(refresh).await);
    assert_eq!(server.revoke(access, NATIVE_CLIENT_ID).await, 200);
    assert!(!server.is_active(access).await);
    assert!(!server.is_active(refresh).await);

    // ... and revoking the refresh token revokes the access token.
    let tokens = log_in(&server, &Browser::new(), "openid offline_access files:read").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(server.revoke(refresh, NATIVE_CLIENT_ID).await, 200);
    assert!(!server.is_active(refresh).await);
    assert!(!server.is_active(access).await);

    // A user who declines.
    let (_, challenge) = pkce("deny");
    let redirect = Browser::new()
        .deny(&authorize_url(
            &server,
            "openid files:read",
            "s",
            &challenge,
        ))
        .await;
    assert_eq!(
        query_param(&redirect, "error").as_deref(),
        Some("access_denied"),
        "{redirect}"
    );
    assert_eq!(query_param(&redirect, "state").as_deref(), Some("s"));
}
