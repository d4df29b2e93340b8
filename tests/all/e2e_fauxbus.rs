//! End to end against fauxbus, a wire-level fake of Globus Auth, Groups and
//! Transfer: a client with a login's token life on it, over real sockets,
//! fauxbus run with `--require-issued-tokens` (a token of another resource
//! server gets 403, an expired one 401); and `examples/globus_api.rs` run
//! as a user would, its token file read by the Python SDK.
//!
//! Each scenario runs twice, once per transport (`transport.rs`):
//! `Login::layer()` on a hyper-util client (the redrive layer around the
//! layer that attaches the login's tokens), and `Login::middleware()` on a
//! reqwest client, each login exchanging its codes over that transport's
//! own client. What went over the wire is recorded alike on both: the
//! login's token requests by its client ([`Wire`]), the API requests just
//! below the login (`Transport::client_tapped`, with `Wire::tap`).
//!
//! `build.rs` finds fauxbus (`FAUXBUS`, `PATH`, or `target/ci-venv/bin`).
//! Without it these tests are compiled `ignore`d, so `cargo test` counts
//! them as ignored, not passed; under `REQUIRE_FAUXBUS=1` (as `.ci/run`
//! sets) a missing fauxbus is a build error.

use std::time::SystemTime;

use http::StatusCode;
use serde_json::{json, Value};

use crate::support::fauxbus::*;

const GROUPS: &str = "groups.api.globus.org";
const MY_GROUPS: &str = "/v2/groups/my_groups";
/// fauxbus's token lifetime.
const LIFETIME_SECONDS: u64 = 172_800;

fn has_e2e_users(groups: &Value) -> bool {
    groups
        .as_array()
        .is_some_and(|g| g.iter().any(|g| g["name"] == "e2e-users"))
}

// The scenarios, each a test per transport: `via_tower::name` and
// `via_reqwest::name` (the reqwest transport is feature `reqwest`'s).

#[cfg(feature = "reqwest")]
use scenarios::*;

#[cfg(feature = "reqwest")]
crate::transport::both_transports!(
    #[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
    a_consent_gare_on_groups_logs_in_with_its_scopes_and_the_token_is_kept,
    #[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
    a_session_gare_sends_its_requirements_and_prompt_login,
    #[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
    the_transfer_502_login_failed_gare_is_redriven,
    #[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
    a_bad_code_gives_the_original_403_and_a_clear_error,
    #[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
    other_tokens_one_login_gives_groups_and_transfer_on_one_origin_each_its_own_token,
    #[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
    a_token_fauxbus_expired_is_refused_and_one_login_replaces_it,
    #[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
    tokens_of_two_resource_servers_refused_at_once_are_each_replaced_by_their_own,
    #[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
    one_session_gare_on_two_resource_servers_at_once_retries_each_with_its_own_token,
    #[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
    client_credentials_get_tokens_with_no_prompt_and_a_session_gare_is_a_clear_error,
);

#[cfg(feature = "reqwest")]
mod scenarios {
    use std::time::{Duration, SystemTime};

    use bytes::Bytes;
    use http::{Request, Response, StatusCode};
    use http_body_util::Full;
    use serde_json::{json, Value};
    use tower_gare::gare::Gare;
    use tower_gare::login::{
        Login, LoginBuilder, LoginError, ResourceServers, Token, TokenClient, TokenStore,
        DEFAULT_NAMESPACE,
    };
    use tower_gare::redrive::RedriveOutcome;

    use super::{has_e2e_users, GROUPS, LIFETIME_SECONDS, MY_GROUPS};
    use crate::support::fauxbus::*;
    use crate::transport::{Client, Transport};

    const TRANSFER: &str = "transfer.api.globus.org";
    /// fauxbus's Transfer answers `task_list` without an endpoint filter only
    /// for running tasks.
    const TASK_LIST: &str = "/v0.10/endpoint_manager/task_list?filter_status=ACTIVE";

    /// What every login here shares: the seed's confidential client, fauxbus's
    /// Auth, and which paths are Groups' and which Transfer's (two resource
    /// servers on one origin).
    fn builder(fauxbus: &Fauxbus) -> LoginBuilder {
        Login::builder(CLIENT_ID)
            .client_secret(CLIENT_SECRET)
            .auth_base_url(fauxbus.url("/"))
            .redirect_uri(REDIRECT_URI)
            .resource_servers(
                ResourceServers::new()
                    .with(&fauxbus.url("/v2/groups"), GROUPS)
                    .with(&fauxbus.url("/v0.10/"), TRANSFER),
            )
    }

    /// A person's login for `openid`, exchanging codes over the transport's
    /// own client.
    fn login<X: Transport>(
        fauxbus: &Fauxbus,
        prompt: HeadlessPrompt,
    ) -> Login<X::Http, HeadlessPrompt> {
        builder(fauxbus)
            .scopes(["openid"])
            .prompt(prompt)
            .build(X::http(fauxbus.addr()))
            .unwrap()
    }

    /// A person's login with Groups' and Transfer's scope requirements set up
    /// front, exchanging codes over `wire`.
    fn groups_and_transfer<H: TokenClient>(
        fauxbus: &Fauxbus,
        prompt: HeadlessPrompt,
        wire: &Wire<H>,
    ) -> Login<Wire<H>, HeadlessPrompt> {
        builder(fauxbus)
            .scopes(["openid"])
            .scope_requirements(GROUPS, [GROUPS_SCOPE])
            .scope_requirements(TRANSFER, [TRANSFER_SCOPE])
            .prompt(prompt)
            .build(wire.clone())
            .unwrap()
    }

    /// The token `login` stores for the program's own requests to
    /// `resource_server`.
    fn stored<C, P, T: TokenStore>(login: &Login<C, P, T>, resource_server: &str) -> Token {
        login
            .token_store()
            .get(DEFAULT_NAMESPACE, resource_server)
            .unwrap()
            .unwrap_or_else(|| panic!("no {resource_server} token stored"))
    }

    /// The requests `wire` saw go to the services (not to Auth).
    fn api_requests<H>(wire: &Wire<H>) -> Vec<Sent> {
        wire.sent()
            .into_iter()
            .filter(|sent| !sent.path.starts_with("/v2/oauth2/"))
            .collect()
    }

    /// A GET with no `Authorization` of its own, as a program sends it: the
    /// attaching layer gives it its resource server's token.
    async fn fetch(client: &Client, url: String) -> Response<Bytes> {
        client
            .clone()
            .oneshot(Request::get(url).body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap()
    }

    /// Fetches My Groups and expects the seed's group in it, with no GARE met
    /// on the way.
    async fn my_groups(client: &Client, fauxbus: &Fauxbus) -> Value {
        let response = fetch(client, fauxbus.url(MY_GROUPS)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.extensions().get::<RedriveOutcome>().is_none());
        json_body(response)
    }

    /// Fetches Transfer's task list, with no GARE met on the way.
    async fn task_list(client: &Client, fauxbus: &Fauxbus) {
        let response = fetch(client, fauxbus.url(TASK_LIST)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.extensions().get::<RedriveOutcome>().is_none());
        let listing = json_body(response);
        assert_eq!(listing["DATA_TYPE"], "task_list", "{listing}");
    }

    /// A GET that carries a token fauxbus never issued, as a program's own
    /// stale header would: the attaching layer leaves a request's own
    /// `Authorization` alone, so the redrive layer sees fauxbus's answer to it.
    async fn get(client: &Client, url: String) -> Response<Bytes> {
        client
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

    fn json_body(response: Response<Bytes>) -> Value {
        serde_json::from_slice(response.body()).unwrap()
    }

    fn query_param(url: &str, name: &str) -> Option<String> {
        let query = url.split_once('?')?.1;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    pub(super) async fn a_consent_gare_on_groups_logs_in_with_its_scopes_and_the_token_is_kept<
        X: Transport,
    >() {
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
        let client = X::client(&login::<X>(&fauxbus, prompt.clone()), fauxbus.addr());

        let response = get(&client, fauxbus.url("/v2/groups/my_groups")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(matches!(
            response.extensions().get(),
            Some(RedriveOutcome::Redriven)
        ));
        let groups = json_body(response);
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
        let response = fetch(&client, fauxbus.url("/v2/groups/my_groups")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.extensions().get::<RedriveOutcome>().is_none());
        assert_eq!(prompt.logins(), 1);
    }

    pub(super) async fn a_session_gare_sends_its_requirements_and_prompt_login<X: Transport>() {
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
        let client = X::client(&login::<X>(&fauxbus, prompt.clone()), fauxbus.addr());
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

    pub(super) async fn the_transfer_502_login_failed_gare_is_redriven<X: Transport>() {
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
        let client = X::client(&login::<X>(&fauxbus, prompt.clone()), fauxbus.addr());
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
        let listing = json_body(response);
        assert_eq!(listing["DATA_TYPE"], "task_list", "{listing}");
        let url = prompt.last_url();
        assert_eq!(
            query_param(&url, "session_required_identities").as_deref(),
            Some(ACCOUNT)
        );
        assert_eq!(query_param(&url, "prompt").as_deref(), Some("login"));
        assert_eq!(prompt.logins(), 1);
    }

    pub(super) async fn a_bad_code_gives_the_original_403_and_a_clear_error<X: Transport>() {
        let fauxbus = Fauxbus::start();
        let gare = json!({"code": "ConsentRequired", "authorization_parameters": {"required_scopes": [GROUPS_SCOPE]}});
        fauxbus
        .arm(json!({"method": "GET", "path": "/v2/groups/my_groups", "status": 403, "body": gare, "times": 1}))
        .await;
        let mut prompt = HeadlessPrompt::new(&fauxbus);
        prompt.bad_code = true;
        let client = X::client(&login::<X>(&fauxbus, prompt.clone()), fauxbus.addr());
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
        assert_eq!(json_body(response), gare);
    }

    pub(super) async fn other_tokens_one_login_gives_groups_and_transfer_on_one_origin_each_its_own_token<
        X: Transport,
    >() {
        let fauxbus = Fauxbus::start();
        let prompt = HeadlessPrompt::new(&fauxbus);
        let wire = Wire::over(X::http(fauxbus.addr()));
        let login = groups_and_transfer(&fauxbus, prompt.clone(), &wire);
        let client = X::client_tapped(&login, fauxbus.addr(), wire.tap());

        for _round in 0..3 {
            let groups = my_groups(&client, &fauxbus).await;
            assert!(has_e2e_users(&groups), "{groups}");
            task_list(&client, &fauxbus).await;
        }

        // One login, for everything: fauxbus answered with Auth's token on top
        // and Groups' and Transfer's in `other_tokens`.
        assert_eq!(prompt.logins(), 1);
        assert_eq!(wire.grants(), ["authorization_code"]);
        let scope = query_param(&prompt.last_url(), "scope").unwrap();
        let mut asked: Vec<&str> = scope.split(' ').collect();
        asked.sort_unstable();
        assert_eq!(asked, ["openid", GROUPS_SCOPE, TRANSFER_SCOPE]);

        // Stored per resource server, each with its own scope, as the person.
        let (groups, transfer) = (stored(&login, GROUPS), stored(&login, TRANSFER));
        assert_eq!(groups.scope, GROUPS_SCOPE);
        assert_eq!(transfer.scope, TRANSFER_SCOPE);
        assert_ne!(groups.access_token(), transfer.access_token());
        for token in [&groups, &transfer] {
            assert_eq!(token.identity_id.as_deref(), Some(ACCOUNT));
            assert!(token.refresh_token().is_none(), "fauxbus issues none");
        }
        assert_eq!(stored(&login, "auth.globus.org").scope, "openid");

        // On the wire: six requests, each with its own resource server's
        // token, none refused, none sent twice.
        let api = api_requests(&wire);
        assert_eq!(api.len(), 6, "{api:#?}");
        for sent in &api {
            let expected = if sent.path.starts_with("/v2/groups/") {
                &groups
            } else {
                &transfer
            };
            assert_eq!(
                sent.bearer.as_deref(),
                Some(expected.access_token()),
                "{sent:?}"
            );
            assert_eq!(sent.status, StatusCode::OK, "{sent:?}");
        }
        // The test could tell a swap: fauxbus refuses each token at the other.
        assert_eq!(
            fauxbus
                .status_with(MY_GROUPS, transfer.access_token())
                .await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            fauxbus.status_with(TASK_LIST, groups.access_token()).await,
            StatusCode::FORBIDDEN
        );
    }

    pub(super) async fn a_token_fauxbus_expired_is_refused_and_one_login_replaces_it<
        X: Transport,
    >() {
        let fauxbus = Fauxbus::start();
        let prompt = HeadlessPrompt::new(&fauxbus);
        let wire = Wire::over(X::http(fauxbus.addr()));
        let login = groups_and_transfer(&fauxbus, prompt.clone(), &wire);
        let client = X::client_tapped(&login, fauxbus.addr(), wire.tap());
        assert!(has_e2e_users(&my_groups(&client, &fauxbus).await));
        assert_eq!(prompt.logins(), 1);
        let (old_groups, old_transfer) = (stored(&login, GROUPS), stored(&login, TRANSFER));

        fauxbus.tick(LIFETIME_SECONDS + 60).await;
        // fauxbus's clock moved, the client's did not: the token still looks
        // good here, and only fauxbus's 401 says otherwise.
        // (`is_expired`'s check: not within 30 s of its expiry.)
        assert!(!old_groups.expires_within(SystemTime::now(), Duration::from_secs(30)));
        assert_eq!(
            fauxbus
                .status_with(MY_GROUPS, old_groups.access_token())
                .await,
            StatusCode::UNAUTHORIZED
        );

        let response = fetch(&client, fauxbus.url(MY_GROUPS)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(matches!(
            response.extensions().get(),
            Some(RedriveOutcome::Redriven)
        ));
        assert!(
            response.extensions().get::<Gare>().is_none(),
            "a 401 is no GARE"
        );
        assert!(has_e2e_users(&json_body(response)));
        // Exactly one more login (no refresh token to try first), and a retry.
        assert_eq!(prompt.logins(), 2);
        assert_eq!(wire.grants(), ["authorization_code", "authorization_code"]);
        let new_groups = stored(&login, GROUPS);
        assert_ne!(new_groups.access_token(), old_groups.access_token());
        let api = api_requests(&wire);
        let sent: Vec<_> = api[1..]
            .iter()
            .map(|s| (s.bearer.as_deref(), s.status))
            .collect();
        assert_eq!(
            sent,
            [
                (Some(old_groups.access_token()), StatusCode::UNAUTHORIZED),
                (Some(new_groups.access_token()), StatusCode::OK),
            ]
        );

        // That login asked for every requirement: Transfer's token is new too,
        // and neither service needs another login.
        assert_ne!(
            stored(&login, TRANSFER).access_token(),
            old_transfer.access_token()
        );
        task_list(&client, &fauxbus).await;
        my_groups(&client, &fauxbus).await;
        assert_eq!(prompt.logins(), 2);
        assert_eq!(api_requests(&wire).len(), 5);
    }

    /// What Groups and Transfer (one origin) meet at the same moment.
    enum AtOnce {
        /// Their tokens, two days old at fauxbus, are refused (plain 401s).
        Expired,
        /// A GARE with the same session requirement and no scopes, as a
        /// policy both services enforce would send.
        SessionGare,
    }

    /// Groups and Transfer meet `what` at once: each request is retried with
    /// its own resource server's token, and succeeds.
    async fn both_at_once<X: Transport>(what: AtOnce) {
        let fauxbus = Fauxbus::start();
        let prompt = HeadlessPrompt::new(&fauxbus);
        let wire = Wire::over(X::http(fauxbus.addr()));
        let login = groups_and_transfer(&fauxbus, prompt.clone(), &wire);
        let client = X::client_tapped(&login, fauxbus.addr(), wire.tap());
        my_groups(&client, &fauxbus).await;
        task_list(&client, &fauxbus).await;
        assert_eq!(prompt.logins(), 1);

        match what {
            AtOnce::Expired => fauxbus.tick(LIFETIME_SECONDS + 60).await,
            AtOnce::SessionGare => {
                let gare = json!({
                    "code": "AuthorizationRequired",
                    "authorization_parameters": {"session_required_mfa": true}
                });
                for path in [MY_GROUPS, "/v0.10/endpoint_manager/task_list"] {
                    fauxbus
                    .arm(json!({"method": "GET", "path": path, "status": 403, "body": gare, "times": 1}))
                    .await;
                }
            }
        }
        let before = api_requests(&wire).len();
        let (groups, transfer) = tokio::join!(
            fetch(&client, fauxbus.url(MY_GROUPS)),
            fetch(&client, fauxbus.url(TASK_LIST)),
        );
        let (groups_token, transfer_token) = (stored(&login, GROUPS), stored(&login, TRANSFER));
        let retries = api_requests(&wire).split_off(before + 2);
        for sent in &retries {
            let own = if sent.path.starts_with("/v2/groups/") {
                &groups_token
            } else {
                &transfer_token
            };
            assert_eq!(
                sent.bearer.as_deref(),
                Some(own.access_token()),
                "each retry carries its own resource server's token: {retries:#?}"
            );
        }
        for response in [&groups, &transfer] {
            assert_eq!(response.status(), StatusCode::OK, "{retries:#?}");
            assert!(matches!(
                RedriveOutcome::of(response),
                Some(RedriveOutcome::Redriven | RedriveOutcome::Coalesced)
            ));
        }
        assert_eq!(retries.len(), 2, "{retries:#?}");
        match what {
            AtOnce::Expired => assert_eq!(prompt.logins(), 2, "one login brings both tokens"),
            // A session requirement asks for a fresh login, which no stored
            // token stands for; the request that waited for its turn finds the
            // one that just met it, for every resource server: one login.
            AtOnce::SessionGare => assert_eq!(prompt.logins(), 2, "one login for both"),
        }
    }

    /// Two resource servers on one origin, their tokens refused at once: each
    /// request is retried with its own resource server's token (the flight key
    /// holds the resource server a `Login` names: `Reauthenticator::partition`).
    pub(super) async fn tokens_of_two_resource_servers_refused_at_once_are_each_replaced_by_their_own<
        X: Transport,
    >() {
        both_at_once::<X>(AtOnce::Expired).await;
    }

    /// As above, for one session requirement met by Groups and Transfer at once.
    pub(super) async fn one_session_gare_on_two_resource_servers_at_once_retries_each_with_its_own_token<
        X: Transport,
    >() {
        both_at_once::<X>(AtOnce::SessionGare).await;
    }

    pub(super) async fn client_credentials_get_tokens_with_no_prompt_and_a_session_gare_is_a_clear_error<
        X: Transport,
    >() {
        let fauxbus = Fauxbus::start();
        let prompt = HeadlessPrompt::new(&fauxbus);
        let wire = Wire::over(X::http(fauxbus.addr()));
        // No `openid`: an ID token describes a person, and there is none
        // (fauxbus answers 501 to it under client credentials).
        let login = builder(&fauxbus)
            .client_credentials()
            .scope_requirements(GROUPS, [GROUPS_SCOPE])
            .scope_requirements(TRANSFER, [TRANSFER_SCOPE])
            .prompt(prompt.clone())
            .build(wire.clone())
            .unwrap();
        let client = X::client_tapped(&login, fauxbus.addr(), wire.tap());

        // The client is in no group: its own My Groups is empty.
        assert_eq!(my_groups(&client, &fauxbus).await, json!([]));
        task_list(&client, &fauxbus).await;
        assert_eq!(my_groups(&client, &fauxbus).await, json!([]));
        assert_eq!(prompt.logins(), 0);
        assert_eq!(wire.grants(), ["client_credentials"], "one grant for both");
        let (groups, transfer) = (stored(&login, GROUPS), stored(&login, TRANSFER));
        assert_eq!(groups.scope, GROUPS_SCOPE);
        assert_eq!(transfer.scope, TRANSFER_SCOPE);
        let api = api_requests(&wire);
        assert_eq!(api.len(), 3);
        assert!(api.iter().all(|s| s.status == StatusCode::OK), "{api:#?}");

        // A GARE only a person can meet: the original 403 and a clear error,
        // no grant, no retry.
        let gare = json!({
            "code": "AuthorizationRequired",
            "authorization_parameters": {
                "session_message": "MFA, please",
                "session_required_mfa": true,
                "required_scopes": [GROUPS_SCOPE]
            }
        });
        fauxbus
        .arm(json!({"method": "GET", "path": MY_GROUPS, "status": 403, "body": gare, "times": 1}))
        .await;
        let response = fetch(&client, fauxbus.url(MY_GROUPS)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let Some(RedriveOutcome::ReauthFailed(error)) = RedriveOutcome::of(&response).cloned()
        else {
            panic!(
                "expected a failed reauthentication: {:?}",
                RedriveOutcome::of(&response)
            );
        };
        assert!(
            matches!(
                error.inner().downcast_ref::<LoginError>(),
                Some(LoginError::NeedsPerson { .. })
            ),
            "{error}"
        );
        assert_eq!(json_body(response), gare);
        assert_eq!(api_requests(&wire).len(), 4, "sent once");
        assert_eq!(wire.grants(), ["client_credentials"]);
        assert_eq!(prompt.logins(), 0);
    }
}

// `examples/globus_api.rs` run as a user would, in a process of its own.

/// The `globus_api` example's binary (see [`example_binary`]).
pub(crate) fn globus_api_binary() -> std::path::PathBuf {
    crate::support::example_binary("globus_api")
}

/// The Python with the SDK (`GLOBUS_SDK_PYTHON`, else
/// `target/ci-venv/bin/python`), or `None` after a visible `SKIPPED` line;
/// under `REQUIRE_FAUXBUS=1` a missing one fails the test.
pub(crate) fn sdk_python(test: &str) -> Option<std::path::PathBuf> {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    let imports_sdk = |python: &Path| {
        std::process::Command::new(python)
            .args(["-c", "import globus_sdk"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let python = std::env::var_os("GLOBUS_SDK_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/python"),
        PathBuf::from,
    );
    if imports_sdk(&python) {
        return Some(python);
    }
    let why = format!(
        "{} does not import globus_sdk (set GLOBUS_SDK_PYTHON, or \
         `python3 -m venv target/ci-venv && target/ci-venv/bin/pip install globus-sdk==4.10.0`)",
        python.display()
    );
    if std::env::var("REQUIRE_FAUXBUS").as_deref() == Ok("1") {
        panic!("{test}: {why}, and REQUIRE_FAUXBUS=1");
    }
    // Straight to the terminal: the harness captures `eprintln!`.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: the Python SDK part: {why}"
    );
    None
}

/// The tokens the Python SDK's `JSONTokenStorage` reads from `path`, in
/// namespace `DEFAULT`, by resource server.
pub(crate) fn python_reads(python: &std::path::Path, path: &std::path::Path) -> Value {
    const READ: &str = r#"
import json, sys
from globus_sdk.token_storage import JSONTokenStorage
storage = JSONTokenStorage(sys.argv[1], namespace="DEFAULT")
print(json.dumps({
    rs: {"scope": t.scope, "identity_id": t.identity_id, "access_token": t.access_token,
         "refresh_token": t.refresh_token, "expires_at_seconds": t.expires_at_seconds}
    for rs, t in storage.get_token_data_by_resource_server().items()
}))
"#;
    let output = std::process::Command::new(python)
        .args(["-c", READ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the SDK could not read {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// One run of `globus_api`: its exit code, stdout, stderr, and how many
/// authorize URLs it printed.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    logins: usize,
}

/// The example, its environment, and the person at its terminal.
struct GlobusApi<'a> {
    fauxbus: &'a Fauxbus,
    home: std::path::PathBuf,
    runtime: tokio::runtime::Runtime,
}

impl GlobusApi<'_> {
    /// Runs `globus_api args`. Each authorize URL it prints alone on a line
    /// of stderr is followed headlessly when `answer` is set, and the
    /// redirect URL written to its stdin whole; otherwise its stdin is
    /// closed, so a prompt would read nothing.
    fn run(&self, args: &[&str], answer: bool) -> Run {
        use std::io::Write;
        use std::process::{Command, Stdio};
        use std::time::{Duration, Instant};

        let base = &self.fauxbus.base;
        let mut child = Command::new(globus_api_binary())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("GLOBUS_CLIENT_ID", CLIENT_ID)
            .env("GLOBUS_CLIENT_SECRET", CLIENT_SECRET)
            .env("GLOBUS_SDK_SERVICE_URL_AUTH", format!("{base}/"))
            .env("GLOBUS_SDK_SERVICE_URL_GROUPS", format!("{base}/"))
            .env("GLOBUS_SDK_SERVICE_URL_TRANSFER", format!("{base}/"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().filter(|_| answer);
        let (stdout, lines) = crate::support::watch(&mut child);

        let authorize = format!("{base}/v2/oauth2/authorize?");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut stderr = String::new();
        let mut logins = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match lines.recv_timeout(left) {
                Ok(line) => line,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("globus_api {args:?} did not finish in 60 s; stderr:\n{stderr}");
                }
            };
            stderr.push_str(&line);
            stderr.push('\n');
            // The prompt's URL, alone on its line (an error that names
            // the URL is not a prompt).
            if line.starts_with(&authorize) {
                logins += 1;
                assert!(!line.trim_end().contains(' '), "the URL alone: {line:?}");
                if let Some(stdin) = stdin.as_mut() {
                    let redirect = self.runtime.block_on(sign_in(base, &line));
                    assert!(
                        redirect.starts_with(&format!("{base}/v2/web/auth-code?")),
                        "{redirect}"
                    );
                    writeln!(stdin, "{redirect}").unwrap();
                    stdin.flush().unwrap();
                }
            }
        }
        let code = child.wait().unwrap().code();
        Run {
            code,
            stdout: stdout.join().unwrap(),
            stderr,
            logins,
        }
    }

    fn token_file(&self) -> std::path::PathBuf {
        self.home
            .join(".globus/app")
            .join(CLIENT_ID)
            .join("tower-gare/tokens.json")
    }
}

#[test]
#[cfg_attr(fauxbus_missing, ignore = "fauxbus not found: see README")]
fn globus_api_logs_in_once_over_two_runs_and_the_python_sdk_reads_its_token_file() {
    const TEST: &str =
        "globus_api_logs_in_once_over_two_runs_and_the_python_sdk_reads_its_token_file";
    // The example's default redirect URI: Globus Auth's code page.
    let fauxbus = Fauxbus::start_with(|seed, base| {
        seed["clients"][CLIENT_ID]["redirect_uris"] = json!([format!("{base}/v2/web/auth-code")]);
    });
    let home = std::env::temp_dir().join(format!(
        "tower-gare-globus-api-{}-{}",
        std::process::id(),
        fauxbus.base.rsplit(':').next().unwrap()
    ));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _remove = Remove(home.clone());
    let api = GlobusApi {
        fauxbus: &fauxbus,
        home,
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    };
    let groups = ["groups", "GET", MY_GROUPS];

    // Usage errors: 2.
    let run = api.run(&["groups"], false);
    assert_eq!(run.code, Some(2), "{run:?}");
    let run = api.run(&["storage", "GET", "/"], false);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("unknown service"), "{run:?}");

    // No tokens and no login allowed: 3, and what to run.
    let run = api.run(&["--no-login", "groups", "GET", MY_GROUPS], false);
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(
        run.stderr.contains("globus session consent")
            && run
                .stderr
                .contains("urn:globus:auth:scope:groups.api.globus.org:all"),
        "{run:?}"
    );

    // The first run logs in at the prompt.
    let run = api.run(&groups, true);
    assert_eq!((run.code, run.logins), (Some(0), 1), "{run:?}");
    let body: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(has_e2e_users(&body), "{run:?}");
    // Piped, the answer is not echoed: the prompt ends its own line, and
    // the status has a line of its own.
    assert!(
        run.stderr
            .lines()
            .any(|l| l == "Enter the resulting Authorization Code here: "),
        "{run:?}"
    );
    assert!(run.stderr.lines().any(|l| l == "200 OK"), "{run:?}");

    // The second does not: the token file has what it needs.
    let run = api.run(&groups, false);
    assert_eq!((run.code, run.logins), (Some(0), 0), "{run:?}");
    assert!(!run.stderr.contains("/v2/oauth2/authorize"), "{run:?}");
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).unwrap(), body);
    assert!(run.stderr.lines().any(|l| l == "200 OK"), "{run:?}");

    // Two days on at fauxbus: the stored token looks good to the program,
    // fauxbus refuses it, and the run logs in once and retries.
    api.runtime.block_on(fauxbus.tick(LIFETIME_SECONDS + 60));
    let run = api.run(&groups, true);
    assert_eq!((run.code, run.logins), (Some(0), 1), "{run:?}");
    assert!(run.stderr.contains("tower-gare: Redriven"), "{run:?}");
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).unwrap(), body);

    // The Python SDK reads the token file: the new Groups token, with its
    // scope and the identity, and one fauxbus takes.
    let file = api.token_file();
    let python = sdk_python(TEST);
    let groups_token = match &python {
        Some(python) => {
            let tokens = python_reads(python, &file);
            let token = &tokens[GROUPS];
            assert_eq!(
                token["scope"], "urn:globus:auth:scope:groups.api.globus.org:all",
                "{tokens}"
            );
            assert_eq!(token["identity_id"], ACCOUNT, "{tokens}");
            assert_eq!(token["refresh_token"], Value::Null, "{tokens}");
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let expires = token["expires_at_seconds"].as_u64().unwrap();
            assert!(
                expires.abs_diff(now + LIFETIME_SECONDS) < 600,
                "{expires} vs {now}"
            );
            assert_eq!(
                tokens["auth.globus.org"]["identity_id"], ACCOUNT,
                "{tokens}"
            );
            token["access_token"].as_str().unwrap().to_owned()
        }
        None => {
            let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            doc["data"]["DEFAULT"][GROUPS]["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(
        api.runtime
            .block_on(fauxbus.status_with(MY_GROUPS, &groups_token)),
        StatusCode::OK
    );

    // Logging out revokes and removes every token.
    let run = api.run(&["--logout"], false);
    assert_eq!(run.code, Some(0), "{run:?}");
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(doc["data"]["DEFAULT"], json!({}), "{doc}");
    if let Some(python) = &python {
        assert_eq!(python_reads(python, &file), json!({}));
    }
    assert_eq!(
        api.runtime
            .block_on(fauxbus.status_with(MY_GROUPS, &groups_token)),
        StatusCode::UNAUTHORIZED,
        "revoked"
    );
    let run = api.run(&["--no-login", "groups", "GET", MY_GROUPS], false);
    assert_eq!(run.code, Some(3), "logged out: {run:?}");
}
