//! The wire to the authorization server (`login`'s token endpoint, refresh,
//! revocation, client credentials, the authorize URL's refresh-token ask),
//! end to end against a real OAuth 2.0 / OpenID Connect server:
//! node-oidc-provider (`tests/oidc/`), signed into by the headless browser
//! of `tests/support/oidc.rs`.
//!
//! The functions under test are crate-private (the `Login` object is their
//! public face); this test reaches them through `login::__private`, a
//! `#[doc(hidden)]` module outside semver kept for the crate's own tests and
//! fuzz target. It is its own binary for now, to be folded into `tests/all`.
//!
//! Without node or `tests/oidc/node_modules` these tests print SKIPPED and
//! pass, unless `REQUIRE_OIDC=1`, under which they fail.
#![cfg(feature = "login")]

use crate::support::oidc;

use std::time::{Duration, SystemTime};

use oidc::*;
use tower_gare::gare::{AuthorizationParameters, Gare};
use tower_gare::login::__private::{authorize_request, TokenEndpoint, TokenResponse};
use tower_gare::login::{LoginError, RefreshTokens, Secret};

/// The API scopes asked for; `openid` and `offline_access` come on top.
const API_SCOPES: &str = "files:read files:write";

fn endpoint(server: &OidcServer, client_id: &str, secret: Option<&str>) -> TokenEndpoint {
    TokenEndpoint::new(
        server.url("/token").parse().unwrap(),
        server.url("/token/revocation").parse().unwrap(),
        client_id,
        secret.map(Secret::new),
    )
}

fn public(server: &OidcServer) -> TokenEndpoint {
    endpoint(server, NATIVE_CLIENT_ID, None)
}

fn confidential(server: &OidcServer) -> TokenEndpoint {
    endpoint(server, SERVICE_CLIENT_ID, Some(SERVICE_CLIENT_SECRET))
}

/// Logs in through the crate's authorize URL (asking for refresh tokens
/// the OpenID way) and the headless browser, then exchanges the code.
async fn log_in(server: &OidcServer, endpoint: &TokenEndpoint) -> TokenResponse {
    let gare = Gare::new("login_required", AuthorizationParameters::default());
    let (request, verifier) = authorize_request(
        &server.url("/auth"),
        endpoint.client_id(),
        &server.redirect_uri,
        &format!("openid {API_SCOPES}"),
        &gare,
        &RefreshTokens::offline_access(),
    )
    .unwrap();
    assert_eq!(request.param("prompt"), Some("consent"));
    let redirect = server.login(request.url()).await;
    assert_eq!(
        query_param(&redirect, "state").as_deref(),
        Some(request.state()),
        "{redirect}"
    );
    let code = query_param(&redirect, "code").unwrap_or_else(|| panic!("no code: {redirect}"));
    endpoint
        .exchange_code(&http(), &Secret::new(code), &verifier, &server.redirect_uri)
        .await
        .unwrap()
}

/// The one token of a plain OAuth2 server's response, checked for what
/// every such response holds.
fn the_token(response: &TokenResponse, server: &OidcServer) -> tower_gare::login::Token {
    assert_eq!(response.tokens.len(), 1, "{response:?}");
    let token = response.tokens[0].clone();
    // A plain OAuth2 server names no resource server: left for the caller.
    assert_eq!(token.resource_server, "");
    let ttl = Duration::from_secs(server.access_ttl);
    let expires_at = token.expires_at.expect("expires_in is sent");
    let now = SystemTime::now();
    assert!(
        expires_at > now && expires_at <= now + ttl,
        "{expires_at:?} is not within {ttl:?} of {now:?}"
    );
    token
}

fn refused(result: Result<TokenResponse, LoginError>) -> (String, LoginError) {
    match result {
        Err(err @ LoginError::Refused { .. }) => {
            let LoginError::Refused { error, .. } = &err else {
                unreachable!()
            };
            (error.clone(), err)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_code_exchange_then_a_refresh_that_rotates() {
    let Some(server) = OidcServer::start("a_code_exchange_then_a_refresh_that_rotates") else {
        return;
    };
    let endpoint = public(&server);
    let first = log_in(&server, &endpoint).await;
    let token = the_token(&first, &server);
    assert_eq!(first.id_token_subject.as_deref(), Some(ACCOUNT));
    assert_eq!(token.identity_id.as_deref(), Some(ACCOUNT));
    assert_eq!(token.scope, API_SCOPES, "the API scopes only");
    assert_eq!(token.token_type, "Bearer");
    let old_refresh = token
        .refresh_token()
        .expect("offline_access with prompt=consent gives a refresh token")
        .to_owned();
    let introspection = server.introspect(token.access_token()).await;
    assert_eq!(introspection["active"], true, "{introspection}");
    assert_eq!(introspection["aud"], RESOURCE);

    let second = endpoint.refresh(&http(), &old_refresh).await.unwrap();
    let refreshed = the_token(&second, &server);
    assert_ne!(refreshed.access_token(), token.access_token());
    let new_refresh = refreshed.refresh_token().expect("rotated: a new one");
    assert_ne!(new_refresh, old_refresh);
    assert!(server.is_active(refreshed.access_token()).await);
    // The server sends a new ID token on refresh; its subject is the same.
    assert_eq!(second.id_token_subject.as_deref(), Some(ACCOUNT));
    assert_eq!(refreshed.identity_id.as_deref(), Some(ACCOUNT));

    // The old refresh token was rotated out.
    let (error, err) = refused(endpoint.refresh(&http(), &old_refresh).await);
    assert_eq!(error, "invalid_grant", "{err}");
    assert!(err
        .to_string()
        .starts_with("the authorization server refused: invalid_grant"));
}

#[tokio::test]
async fn revocation_ends_a_token() {
    let Some(server) = OidcServer::start("revocation_ends_a_token") else {
        return;
    };
    let endpoint = public(&server);
    let response = log_in(&server, &endpoint).await;
    let token = the_token(&response, &server);
    let refresh = token.refresh_token().unwrap().to_owned();

    assert!(server.is_active(token.access_token()).await);
    endpoint
        .revoke(&http(), token.access_token())
        .await
        .unwrap();
    let introspection = server.introspect(token.access_token()).await;
    assert_eq!(introspection["active"], false, "{introspection}");

    endpoint.revoke(&http(), &refresh).await.unwrap();
    let (error, _) = refused(endpoint.refresh(&http(), &refresh).await);
    assert_eq!(error, "invalid_grant");

    // RFC 7009 §2.2: a token the server no longer knows is revoked again
    // without an error.
    endpoint.revoke(&http(), &refresh).await.unwrap();
    endpoint.revoke(&http(), "never-issued").await.unwrap();
}

#[tokio::test]
async fn a_confidential_client_uses_basic_for_every_grant() {
    let Some(server) = OidcServer::start("a_confidential_client_uses_basic_for_every_grant") else {
        return;
    };
    let endpoint = confidential(&server);
    let response = log_in(&server, &endpoint).await;
    let token = the_token(&response, &server);
    let introspection = server.introspect(token.access_token()).await;
    assert_eq!(introspection["client_id"], SERVICE_CLIENT_ID);
    let refreshed = endpoint
        .refresh(&http(), token.refresh_token().unwrap())
        .await
        .unwrap();
    let refreshed = the_token(&refreshed, &server);
    endpoint
        .revoke(&http(), refreshed.access_token())
        .await
        .unwrap();
    assert!(!server.is_active(refreshed.access_token()).await);
}

#[tokio::test]
async fn client_credentials_give_the_client_its_own_token() {
    let Some(server) = OidcServer::start("client_credentials_give_the_client_its_own_token") else {
        return;
    };
    let response = confidential(&server)
        .client_credentials(&http(), "files:read")
        .await
        .unwrap();
    let token = the_token(&response, &server);
    assert_eq!(token.scope, "files:read");
    assert_eq!(token.refresh_token(), None, "no refresh token for a client");
    assert_eq!(response.id_token_subject, None, "no person, no ID token");
    assert_eq!(token.identity_id, None);
    let introspection = server.introspect(token.access_token()).await;
    assert_eq!(introspection["active"], true, "{introspection}");
    assert_eq!(introspection["client_id"], SERVICE_CLIENT_ID);
    assert!(
        introspection.get("sub").is_none() || introspection["sub"] == SERVICE_CLIENT_ID,
        "{introspection}"
    );

    // A wrong secret is a clear refusal, and the secret is nowhere in it.
    let wrong = endpoint(&server, SERVICE_CLIENT_ID, Some("not-the-secret"));
    let (error, err) = refused(wrong.client_credentials(&http(), "files:read").await);
    assert_eq!(error, "invalid_client");
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("the authorization server refused: invalid_client"),
        "{shown}"
    );
    assert!(!shown.contains("not-the-secret"), "{shown}");

    // A public client cannot act as itself: refused before any request.
    let err = public(&server)
        .client_credentials(&http(), "files:read")
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::NoClientSecret), "{err:?}");
}
