//! The login reauthenticator against an in-memory authorization server.
#![cfg(feature = "login")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use sha2::Digest;
use tower::service_fn;
use tower_gare::gare::{self, Gare};
use tower_gare::login::{
    AuthorizationResponse, AuthorizeRequest, CommandLinePrompt, JsonFileTokenStore, Login,
    LoginConfigError, LoginError, LoopbackPrompt, MemoryTokenStore, Prompt, ResourceServers,
    Secret, Token, TokenStore, DEFAULT_NAMESPACE,
};
use tower_gare::redrive::{Credentials, InvalidCredentials, ReauthContext, Reauthenticator};

/// Answers the code it was given with the request it got back.
#[derive(Clone, Default, Debug)]
struct ScriptedPrompt {
    seen: Arc<Mutex<Vec<AuthorizeRequest>>>,
    wrong_state: bool,
    /// Brings no `state` back, as a custom prompt that forgets it would.
    no_state: bool,
}

impl Prompt for ScriptedPrompt {
    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        self.seen.lock().unwrap().push(request.clone());
        let state = if self.wrong_state {
            "forged".to_owned()
        } else {
            request.state().to_owned()
        };
        Ok(AuthorizationResponse {
            code: "the-code".into(),
            state: (!self.no_state).then_some(state),
        })
    }
}

impl ScriptedPrompt {
    fn last(&self) -> AuthorizeRequest {
        self.seen.lock().unwrap().last().cloned().expect("a login")
    }
    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

type Exchanges = Arc<Mutex<Vec<(http::HeaderMap, Vec<(String, String)>)>>>;

/// A token endpoint: checks the PKCE verifier against the challenge the
/// prompt saw, then answers `response` (JSON, or any text).
fn token_endpoint(
    prompt: ScriptedPrompt,
    status: StatusCode,
    response: impl Into<Body>,
    exchanges: Exchanges,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + Sync
       + 'static {
    let response = response.into().0;
    service_fn(move |req: Request<Full<Bytes>>| {
        let prompt = prompt.clone();
        let response = response.clone();
        let exchanges = exchanges.clone();
        async move {
            assert_eq!(req.method(), Method::POST);
            assert_eq!(req.uri().path(), "/v2/oauth2/token");
            let headers = req.headers().clone();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
            let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            let verifier = field("code_verifier").expect("a verifier");
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()));
            assert_eq!(
                Some(challenge.as_str()),
                prompt.last().param("code_challenge"),
                "S256 PKCE"
            );
            assert_eq!(field("code").as_deref(), Some("the-code"));
            assert_eq!(field("grant_type").as_deref(), Some("authorization_code"));
            exchanges.lock().unwrap().push((headers, form));
            let mut out = Response::new(Full::new(response));
            *out.status_mut() = status;
            Ok::<_, Infallible>(out)
        }
    })
}

/// A token endpoint's answer: a JSON document or raw text.
struct Body(Bytes);

impl From<Value> for Body {
    fn from(json: Value) -> Self {
        Body(Bytes::from(json.to_string()))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Body(Bytes::from_static(text.as_bytes()))
    }
}

fn tokens_response() -> Value {
    json!({
        "access_token": "auth-token", "resource_server": "auth.globus.org", "scope": "openid", "expires_in": 172800, "token_type": "Bearer",
        "other_tokens": [
            {"access_token": "transfer-token", "resource_server": "transfer.api.globus.org",
             "scope": "urn:globus:auth:scope:transfer.api.globus.org:all", "expires_in": 172800, "token_type": "Bearer"},
            {"access_token": "groups-token", "resource_server": "groups.api.globus.org",
             "scope": "urn:globus:auth:scope:groups.api.globus.org:all", "expires_in": 172800, "token_type": "Bearer"}
        ]
    })
}

const TRANSFER: &str = "urn:globus:auth:scope:transfer.api.globus.org:all";

/// Transfer's and Groups' whole hosts, mapped to their resource servers.
fn globus_hosts() -> ResourceServers {
    ResourceServers::new()
        .with(
            "https://transfer.api.globus.org/",
            "transfer.api.globus.org",
        )
        .with("https://groups.api.globus.org/", "groups.api.globus.org")
}

fn context(gare: Gare, uri: &'static str) -> ReauthContext {
    ReauthContext::new(
        gare,
        Method::GET,
        Uri::from_static(uri),
        StatusCode::FORBIDDEN,
    )
}

fn gare_of(doc: Value) -> Gare {
    gare::to_gare(&doc).expect("a GARE")
}

struct Setup {
    prompt: ScriptedPrompt,
    exchanges: Exchanges,
}

fn setup() -> Setup {
    Setup {
        prompt: ScriptedPrompt::default(),
        exchanges: Arc::default(),
    }
}

impl Setup {
    fn login(
        &self,
        status: StatusCode,
        response: impl Into<Body>,
    ) -> Login<
        impl tower::Service<
                Request<Full<Bytes>>,
                Response = Response<Full<Bytes>>,
                Error = Infallible,
                Future = impl Send,
            > + Clone
            + Send
            + Sync
            + 'static,
        ScriptedPrompt,
    > {
        Login::builder("client-123")
            .auth_base_url("https://auth.example.org")
            .redirect_uri("https://app.example.org/callback")
            .scopes(["openid", "email"])
            .resource_servers(globus_hosts())
            .prompt(self.prompt.clone())
            .build(token_endpoint(
                self.prompt.clone(),
                status,
                response,
                self.exchanges.clone(),
            ))
            .unwrap()
    }
}

#[tokio::test]
async fn the_authorize_url_carries_the_gare() {
    let s = setup();
    let login = s.login(StatusCode::OK, tokens_response());
    let gare = gare_of(json!({
        "code": "AuthorizationRequired",
        "authorization_parameters": {
            "session_message": "MFA please",
            "session_required_identities": [],
            "session_required_policies": ["p1", "p2"],
            "session_required_single_domain": ["uchicago.edu"],
            "session_required_mfa": true,
            "required_scopes": [format!("{TRANSFER}[*https://auth.globus.org/scopes/c1/data_access]"), "openid"]
        }
    }));
    let creds = login
        .reauthenticate(context(gare, "https://transfer.api.globus.org/v0.10/ls"))
        .await
        .unwrap();
    assert!(format!("{creds:?}").contains("authorization"));
    let request = s.prompt.last();
    assert!(request
        .url()
        .starts_with("https://auth.example.org/v2/oauth2/authorize?"));
    assert_eq!(request.param("client_id"), Some("client-123"));
    assert_eq!(
        request.param("redirect_uri"),
        Some("https://app.example.org/callback")
    );
    assert_eq!(request.param("response_type"), Some("code"));
    assert_eq!(
        request.param("scope"),
        Some("urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/c1/data_access] openid email")
    );
    assert_eq!(request.param("session_required_policies"), Some("p1,p2"));
    assert_eq!(
        request.param("session_required_single_domain"),
        Some("uchicago.edu")
    );
    assert_eq!(request.param("session_required_identities"), None);
    assert_eq!(request.param("session_required_mfa"), Some("true"));
    assert_eq!(request.param("session_message"), Some("MFA please"));
    assert_eq!(request.param("prompt"), Some("login"));
    assert_eq!(request.param("code_challenge_method"), Some("S256"));
    assert!(request.state().len() >= 32);
    // The URL is well-formed: every parameter reads back from it.
    let query = request.url().split_once('?').unwrap().1;
    let parsed: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert!(parsed
        .iter()
        .any(|(k, v)| k == "state" && v == request.state()));
}

#[tokio::test]
async fn a_gare_prompt_is_kept_and_mfa_false_is_left_out() {
    let s = setup();
    let login = s.login(StatusCode::OK, tokens_response());
    let gare = gare_of(
        json!({"code": "X", "authorization_parameters": {"prompt": "none", "session_required_mfa": false, "required_scopes": [TRANSFER]}}),
    );
    login
        .reauthenticate(context(gare, "https://transfer.api.globus.org/v0.10/"))
        .await
        .unwrap();
    let request = s.prompt.last();
    assert_eq!(request.param("prompt"), Some("none"));
    assert_eq!(request.param("session_required_mfa"), None);
    assert_eq!(request.param("session_message"), None);
}

#[tokio::test]
async fn state_is_random_and_checked() {
    let mut s = setup();
    s.prompt.wrong_state = true;
    let login = s.login(StatusCode::OK, tokens_response());
    let gare = gare_of(json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]}));
    let err = login
        .reauthenticate(context(
            gare.clone(),
            "https://transfer.api.globus.org/v0.10/",
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::StateMismatch), "{err}");
    assert!(
        s.exchanges.lock().unwrap().is_empty(),
        "no code exchanged on a forged redirect"
    );
    let again = login
        .reauthenticate(context(gare, "https://transfer.api.globus.org/v0.10/"))
        .await
        .unwrap_err();
    assert!(matches!(again, LoginError::StateMismatch), "{again}");
    assert!(s.exchanges.lock().unwrap().is_empty());
    let seen = s.prompt.seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "each reauthentication is a login of its own");
    assert_ne!(seen[0].state(), seen[1].state());
    assert_ne!(
        seen[0].param("code_challenge"),
        seen[1].param("code_challenge")
    );
}

#[tokio::test]
async fn a_prompt_that_brings_no_state_back_fails_closed() {
    let mut s = setup();
    s.prompt.no_state = true;
    let login = s.login(StatusCode::OK, tokens_response());
    let gare = gare_of(json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]}));
    let err = login
        .reauthenticate(context(gare, "https://transfer.api.globus.org/v0.10/"))
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::StateMismatch), "{err}");
    assert!(
        s.exchanges.lock().unwrap().is_empty(),
        "no code exchanged without the login's state"
    );
}

/// A login through the command-line prompt, whose person types `typed`,
/// against a token endpoint that gives tokens for any code; the codes it
/// was asked to exchange.
async fn command_line_login(typed: &str) -> (Result<Credentials, LoginError>, Vec<String>) {
    let codes: Arc<Mutex<Vec<String>>> = Arc::default();
    let endpoint = service_fn({
        let codes = Arc::clone(&codes);
        move |req: Request<Full<Bytes>>| {
            let codes = Arc::clone(&codes);
            async move {
                let body = req.into_body().collect().await.unwrap().to_bytes();
                codes.lock().unwrap().extend(
                    form_urlencoded::parse(&body)
                        .filter(|(k, _)| k == "code")
                        .map(|(_, v)| v.into_owned()),
                );
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                    tokens_response().to_string(),
                ))))
            }
        }
    });
    let login = Login::builder("client-123")
        .auth_base_url("https://auth.example.org")
        .scopes(["openid"])
        .resource_servers(globus_hosts())
        .prompt(CommandLinePrompt::with_io(
            std::io::Cursor::new(typed.as_bytes().to_vec()),
            std::io::sink(),
        ))
        .build(endpoint)
        .unwrap();
    let gare = gare_of(json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]}));
    let result = login
        .reauthenticate(context(gare, "https://transfer.api.globus.org/v0.10/"))
        .await;
    let codes = codes.lock().unwrap().clone();
    (result, codes)
}

#[tokio::test]
async fn the_command_line_takes_a_bare_code_but_no_redirect_of_another_login() {
    // Typed from Globus Auth's code page: no state to check, as the
    // command line says (`takes_bare_code`).
    let (result, codes) = command_line_login("pasted-code\n").await;
    assert_eq!(
        result.unwrap(),
        Credentials::bearer("transfer-token").unwrap()
    );
    assert_eq!(codes, ["pasted-code"]);
    // A whole redirect URL pasted: its state is checked.
    for pasted in [
        "https://app.example.org/callback?code=stolen&state=another-login\n",
        "https://app.example.org/callback?code=stolen\n",
    ] {
        let (result, codes) = command_line_login(pasted).await;
        let err = result.unwrap_err();
        assert!(matches!(err, LoginError::StateMismatch), "{pasted}: {err}");
        assert!(codes.is_empty(), "{pasted}: no code exchanged");
    }
}

#[tokio::test]
async fn the_token_of_the_requests_resource_server_is_returned() {
    let s = setup();
    let login = s.login(StatusCode::OK, tokens_response());
    let gare = gare_of(json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]}));
    let creds = login
        .reauthenticate(context(
            gare,
            "https://transfer.api.globus.org/v0.10/task_list",
        ))
        .await
        .unwrap();
    assert_eq!(creds, Credentials::bearer("transfer-token").unwrap());
    // A native client: no Basic, its id in the form.
    let exchanges = s.exchanges.lock().unwrap();
    let (headers, form) = &exchanges[0];
    assert!(headers.get("authorization").is_none());
    assert!(form
        .iter()
        .any(|(k, v)| k == "client_id" && v == "client-123"));
    assert!(form
        .iter()
        .any(|(k, v)| k == "redirect_uri" && v == "https://app.example.org/callback"));
    // Every token was stored.
    let stored = login
        .token_store()
        .get(DEFAULT_NAMESPACE, "groups.api.globus.org")
        .unwrap()
        .unwrap();
    assert_eq!(stored.access_token(), "groups-token");
    assert!(stored.expires_at.unwrap() > SystemTime::now() + Duration::from_secs(100_000));
}

#[tokio::test]
async fn a_confidential_client_authenticates_with_basic() {
    let s = setup();
    let prompt = s.prompt.clone();
    let login = Login::builder("id:with:colons")
        .client_secret("s3cret+/=")
        .auth_base_url("https://auth.example.org/")
        .resource_servers(globus_hosts())
        .scopes([TRANSFER])
        .prompt(prompt.clone())
        .build(token_endpoint(
            prompt,
            StatusCode::OK,
            tokens_response(),
            s.exchanges.clone(),
        ))
        .unwrap();
    assert_eq!(
        login.redirect_uri(),
        "https://auth.example.org/v2/web/auth-code"
    );
    assert!(!format!("{login:?}").contains("s3cret"));
    let gare = gare_of(json!({"code": "ConsentRequired", "required_scope": TRANSFER}));
    login
        .reauthenticate(context(gare, "https://transfer.api.globus.org/v0.10/"))
        .await
        .unwrap();
    let exchanges = s.exchanges.lock().unwrap();
    let (headers, form) = &exchanges[0];
    let basic = base64::engine::general_purpose::STANDARD.encode("id:with:colons:s3cret+/=");
    assert_eq!(headers["authorization"], format!("Basic {basic}").as_str());
    assert!(headers["authorization"].is_sensitive());
    assert!(!form
        .iter()
        .any(|(k, _)| k == "client_id" || k == "client_secret"));
}

#[tokio::test]
async fn errors_a_user_can_act_on() {
    let gare = || gare_of(json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]}));
    let uri = "https://transfer.api.globus.org/v0.10/";

    let s = setup();
    let refused = s.login(
        StatusCode::UNAUTHORIZED,
        json!({"error": "invalid_grant", "error_description": "no such code"}),
    );
    match refused
        .reauthenticate(context(gare(), uri))
        .await
        .unwrap_err()
    {
        LoginError::Refused { error, description } => {
            assert_eq!(error, "invalid_grant");
            assert_eq!(description.as_deref(), Some("no such code"));
        }
        other => panic!("{other:?}"),
    }

    let s = setup();
    let no_transfer = s.login(StatusCode::OK, json!({"access_token": "a", "resource_server": "auth.globus.org", "scope": format!("openid {TRANSFER}"), "other_tokens": []}));
    assert!(matches!(
        no_transfer.reauthenticate(context(gare(), uri)).await.unwrap_err(),
        LoginError::MissingToken { resource_server } if resource_server == "transfer.api.globus.org"
    ));

    let s = setup();
    let no_scope = s.login(StatusCode::OK, json!({"access_token": "t", "resource_server": "transfer.api.globus.org", "scope": "urn:other", "other_tokens": []}));
    assert!(matches!(
        no_scope.reauthenticate(context(gare(), uri)).await.unwrap_err(),
        LoginError::MissingScope { scopes } if scopes == vec![TRANSFER.to_string()]
    ));

    let s = setup();
    let garbage = s.login(StatusCode::OK, json!(["not", "a", "token", "response"]));
    let err = garbage
        .reauthenticate(context(gare(), uri))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LoginError::InvalidResponse {
                status: StatusCode::OK,
                reason: "not a JSON object"
            }
        ),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_none());

    let s = setup();
    let no_json = s.login(StatusCode::BAD_GATEWAY, "<html>Bad Gateway</html>");
    let err = no_json
        .reauthenticate(context(gare(), uri))
        .await
        .unwrap_err();
    let LoginError::InvalidJson { status, source } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*status, StatusCode::BAD_GATEWAY);
    assert!(source.is_syntax(), "{source}");
    let carried = std::error::Error::source(&err).expect("the JSON error is the source");
    assert!(carried.downcast_ref::<serde_json::Error>().is_some());
    assert!(err.to_string().contains("502"), "{err}");

    let s = setup();
    let malformed = s.login(StatusCode::OK, tokens_response());
    let bad_scope = gare_of(json!({"code": "ConsentRequired", "required_scopes": ["a[b"]}));
    let err = malformed
        .reauthenticate(context(bad_scope, uri))
        .await
        .unwrap_err();
    let LoginError::InvalidScope(parse_error) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        *parse_error,
        tower_gare::scopes::parse("a[b").unwrap_err(),
        "the scope parser's own error"
    );
    let carried = std::error::Error::source(&err).expect("the parse error is the source");
    assert_eq!(
        carried.downcast_ref::<tower_gare::scopes::ScopeParseError>(),
        Some(parse_error)
    );
    assert_eq!(
        s.prompt.count(),
        0,
        "no login started for a malformed scope"
    );

    // A person's login asks for `openid` at least; a client acting as
    // itself asks only for what its requirements name.
    let s = setup();
    let nothing = Login::builder("c")
        .auth_base_url("https://auth.example.org/")
        .client_secret("s")
        .client_credentials()
        .resource_servers(ResourceServers::new().with("https://api.example.org/", "example"))
        .prompt(s.prompt.clone())
        .build(token_endpoint(
            s.prompt.clone(),
            StatusCode::OK,
            tokens_response(),
            s.exchanges.clone(),
        ))
        .unwrap();
    let no_scopes = gare_of(json!({"code": "ConsentRequired", "authorization_parameters": {}}));
    assert!(matches!(
        nothing
            .reauthenticate(context(no_scopes, "https://api.example.org/x"))
            .await
            .unwrap_err(),
        LoginError::NoScopes
    ));
    assert_eq!(s.prompt.count(), 0, "no login started without scopes");
}

#[tokio::test]
async fn stored_tokens_are_used_before_a_login() {
    let gare = || gare_of(json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]}));
    let uri = "https://transfer.api.globus.org/v0.10/task_list";
    let s = setup();
    let store = MemoryTokenStore::default();
    store
        .put(
            DEFAULT_NAMESPACE,
            &[Token::new(
                "transfer.api.globus.org",
                "stored-token",
                TRANSFER,
                Some(SystemTime::now() + Duration::from_secs(3600)),
            )],
        )
        .unwrap();
    let login = Login::builder("c")
        .auth_base_url("https://auth.example.org/")
        .resource_servers(globus_hosts())
        .prompt(s.prompt.clone())
        .token_store(store)
        .build(token_endpoint(
            s.prompt.clone(),
            StatusCode::OK,
            tokens_response(),
            s.exchanges.clone(),
        ))
        .unwrap();
    let creds = login.reauthenticate(context(gare(), uri)).await.unwrap();
    assert_eq!(creds, Credentials::bearer("stored-token").unwrap());
    assert_eq!(s.prompt.count(), 0);

    // A session requirement always means a login.
    let session = gare_of(
        json!({"code": "X", "authorization_parameters": {"session_required_mfa": true, "required_scopes": [TRANSFER]}}),
    );
    login.reauthenticate(context(session, uri)).await.unwrap();
    assert_eq!(s.prompt.count(), 1);

    // Expired tokens are not used: a program whose store holds only an
    // expired one logs in. (A token the login holds in memory is newer than
    // what it stored, so this starts a second program on the store.)
    let expired = MemoryTokenStore::default();
    expired
        .put(
            DEFAULT_NAMESPACE,
            &[Token::new(
                "transfer.api.globus.org",
                "old",
                TRANSFER,
                Some(SystemTime::now() - Duration::from_secs(1)),
            )],
        )
        .unwrap();
    let second = Login::builder("c")
        .auth_base_url("https://auth.example.org/")
        .resource_servers(globus_hosts())
        .prompt(s.prompt.clone())
        .token_store(expired)
        .build(token_endpoint(
            s.prompt.clone(),
            StatusCode::OK,
            tokens_response(),
            s.exchanges.clone(),
        ))
        .unwrap();
    let creds = second.reauthenticate(context(gare(), uri)).await.unwrap();
    assert_ne!(creds, Credentials::bearer("old").unwrap());
    assert_eq!(s.prompt.count(), 2);
}

#[tokio::test]
async fn a_stored_token_the_request_was_refused_with_is_not_offered_again() {
    let s = setup();
    let store = MemoryTokenStore::default();
    store
        .put(
            DEFAULT_NAMESPACE,
            &[Token::new(
                "transfer.api.globus.org",
                "stored-token",
                TRANSFER,
                Some(SystemTime::now() + Duration::from_secs(3600)),
            )],
        )
        .unwrap();
    let login = Login::builder("c")
        .auth_base_url("https://auth.example.org/")
        .resource_servers(globus_hosts())
        .prompt(s.prompt.clone())
        .token_store(store)
        .build(token_endpoint(
            s.prompt.clone(),
            StatusCode::OK,
            tokens_response(),
            s.exchanges.clone(),
        ))
        .unwrap();
    // Transfer refuses the stored token (revoked, say) with a GARE and
    // takes only the one a new login gets.
    let sent: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = sent.clone();
    let transfer = service_fn(move |req: Request<Full<Bytes>>| {
        let authorization = req.headers()["authorization"].to_str().unwrap().to_owned();
        seen.lock().unwrap().push(authorization.clone());
        async move {
            let (status, body) = if authorization == "Bearer transfer-token" {
                (StatusCode::OK, "{}".to_owned())
            } else {
                (
                    StatusCode::FORBIDDEN,
                    json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]}).to_string(),
                )
            };
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = status;
            Ok::<_, Infallible>(response)
        }
    });
    let client = tower::Layer::layer(&tower_gare::redrive::GareRedriveLayer::new(login), transfer);
    let request = Request::get("https://transfer.api.globus.org/v0.10/task_list")
        .header("authorization", "Bearer stored-token")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = tower::ServiceExt::oneshot(client, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(matches!(
        tower_gare::redrive::RedriveOutcome::of(&response),
        Some(tower_gare::redrive::RedriveOutcome::Redriven)
    ));
    assert_eq!(s.prompt.count(), 1, "a login, not the stored token again");
    assert_eq!(
        *sent.lock().unwrap(),
        ["Bearer stored-token", "Bearer transfer-token"]
    );
}

#[test]
fn the_token_file_is_private_atomic_and_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("tower-gare-store-{}", std::process::id()));
    let path = dir.join("nested").join("tokens.json");
    let store = JsonFileTokenStore::new(&path);
    assert!(
        store.get(DEFAULT_NAMESPACE, "x").unwrap().is_none(),
        "no file yet: no token, no error"
    );
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    store
        .put(
            DEFAULT_NAMESPACE,
            &[Token::new(
                "transfer.api.globus.org",
                "t1",
                TRANSFER,
                Some(at),
            )],
        )
        .unwrap();
    store
        .put(
            DEFAULT_NAMESPACE,
            &[Token::new("groups.api.globus.org", "g1", "g", None)],
        )
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "the file and its lock, no temporary files: {leftovers:?}"
    );
    let reopened = JsonFileTokenStore::new(&path);
    let token = reopened
        .get(DEFAULT_NAMESPACE, "transfer.api.globus.org")
        .unwrap()
        .unwrap();
    assert_eq!((token.access_token(), token.expires_at), ("t1", Some(at)));
    assert_eq!(
        reopened
            .get(DEFAULT_NAMESPACE, "groups.api.globus.org")
            .unwrap()
            .unwrap()
            .access_token(),
        "g1"
    );
    assert!(!format!("{token:?}").contains("t1"));

    // A file that is not a token file is moved aside, never overwritten.
    std::fs::write(&path, b"{ not json").unwrap();
    assert!(reopened
        .get(DEFAULT_NAMESPACE, "transfer.api.globus.org")
        .unwrap()
        .is_none());
    assert_eq!(reopened.take_warnings().len(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_command_line_prompt_prints_safely_and_reads_the_code() {
    let gare = gare_of(
        json!({"code": "C", "authorization_parameters": {"session_message": "Log in\u{1b}]0;owned\u{7}\nNow", "required_scopes": [TRANSFER]}}),
    );
    let s = setup();
    let login = s.login(StatusCode::OK, tokens_response());
    // Build a real request through the scripted prompt, then show it on a CLI prompt.
    login
        .reauthenticate(context(gare, "https://transfer.api.globus.org/v0.10/"))
        .await
        .unwrap();
    let request = s.prompt.last();

    let output = SharedBuf::default();
    let prompt = CommandLinePrompt::with_io(
        std::io::Cursor::new(b"  the-code \n".to_vec()),
        output.clone(),
    );
    let answer = prompt.authorize(&request).await.unwrap();
    assert_eq!(
        answer,
        AuthorizationResponse {
            code: "the-code".into(),
            state: None
        }
    );
    let printed = output.text();
    assert!(printed.contains("Log in Now"), "{printed:?}");
    // No raw control character anywhere (the URL carries the message
    // percent-encoded), and the message line lost the window-title sequence.
    assert!(
        !printed.chars().any(|c| c.is_control() && c != '\n'),
        "{printed:?}"
    );
    let message_line = printed.lines().find(|l| l.contains("Log in")).unwrap();
    assert!(!message_line.contains("owned"), "{message_line:?}");
    assert!(printed.contains(request.url()));

    let pasted = format!(
        "https://app.example.org/callback?code=pasted&state={}\n",
        request.state()
    );
    let prompt =
        CommandLinePrompt::with_io(std::io::Cursor::new(pasted.into_bytes()), std::io::sink());
    let answer = prompt.authorize(&request).await.unwrap();
    assert_eq!(answer.code.secret(), "pasted");
    assert_eq!(answer.state.as_deref(), Some(request.state()));

    let prompt = CommandLinePrompt::with_io(std::io::Cursor::new(b"\n".to_vec()), std::io::sink());
    assert!(matches!(
        prompt.authorize(&request).await.unwrap_err(),
        LoginError::Cancelled
    ));
}

#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

async fn browser_get(url: &str) -> StatusCode {
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    client.get(url.parse().unwrap()).await.unwrap().status()
}

/// An `on_url` for a loopback prompt, and what tells that it was called:
/// the prompt shows its URL once its login listens (between logins the
/// port is held, not listened on, and a connection to it is refused).
fn on_listening() -> (
    impl Fn(&AuthorizeRequest) + Send + Sync + 'static,
    Arc<tokio::sync::Notify>,
) {
    let listening = Arc::new(tokio::sync::Notify::new());
    let shown = Arc::clone(&listening);
    (move |_: &AuthorizeRequest| shown.notify_one(), listening)
}

/// Waits until the login listens.
async fn listens(listening: &tokio::sync::Notify) {
    tokio::time::timeout(Duration::from_secs(10), listening.notified())
        .await
        .expect("the login listens");
}

#[tokio::test]
async fn the_loopback_prompt_takes_only_its_own_redirect() {
    let (shown, listening) = on_listening();
    let prompt = LoopbackPrompt::bind(0)
        .unwrap()
        .timeout(Duration::from_secs(10))
        .on_url(shown);
    let redirect = prompt.redirect_uri().to_owned();
    assert!(redirect.starts_with("http://localhost:"), "{redirect}");
    let addr = prompt.local_addr().unwrap();
    // A request to show: made by a login through a scripted prompt.
    let s = setup();
    s.login(StatusCode::OK, tokens_response())
        .reauthenticate(context(
            gare_of(json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]})),
            "https://transfer.api.globus.org/v0.10/",
        ))
        .await
        .unwrap();
    // The prompt reads only the request's URL and state; it listens on its
    // own redirect URI.
    let request = s.prompt.last();
    let state = request.state().to_owned();
    let waiting = tokio::spawn(async move { prompt.authorize(&request).await });
    listens(&listening).await;
    // An idle connection (a browser's preconnect, a local process) holds
    // nothing up: connections are served side by side.
    let _idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        browser_get(&format!("http://{addr}/?code=evil&state=not-ours")).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        browser_get(&format!("{redirect}/?code=forged")).await,
        StatusCode::BAD_REQUEST,
        "a redirect without state is not ours"
    );
    assert_eq!(
        browser_get(&format!("http://{addr}/favicon.ico")).await,
        StatusCode::NOT_FOUND
    );
    assert!(
        !waiting.is_finished(),
        "a stray redirect does not end the login"
    );
    assert_eq!(
        browser_get(&format!("http://{addr}/?code=good&state={state}")).await,
        StatusCode::OK
    );
    let answer = waiting.await.unwrap().unwrap();
    assert_eq!(answer.code.secret(), "good");
    assert_eq!(answer.state.as_deref(), Some(state.as_str()));
}

#[tokio::test]
async fn the_loopback_prompt_times_out_and_reports_refusals() {
    let s = setup();
    s.login(StatusCode::OK, tokens_response())
        .reauthenticate(context(
            gare_of(json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]})),
            "https://transfer.api.globus.org/v0.10/",
        ))
        .await
        .unwrap();
    let request = s.prompt.last();

    let prompt = LoopbackPrompt::bind(0)
        .unwrap()
        .timeout(Duration::from_millis(200))
        .on_url(|_| {});
    assert!(matches!(
        prompt.authorize(&request).await.unwrap_err(),
        LoginError::Timeout
    ));

    let (shown, listening) = on_listening();
    let prompt = LoopbackPrompt::bind(0)
        .unwrap()
        .timeout(Duration::from_secs(10))
        .on_url(shown);
    let redirect = prompt.redirect_uri().to_owned();
    let state = request.state().to_owned();
    let waiting = tokio::spawn(async move { prompt.authorize(&request).await });
    listens(&listening).await;
    browser_get(&format!(
        "{redirect}?error=access_denied&error_description=User+declined&state={state}"
    ))
    .await;
    match waiting.await.unwrap().unwrap_err() {
        LoginError::Refused { error, description } => {
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("User declined"));
        }
        other => panic!("{other:?}"),
    }
}

/// What a terminal would show as more than one line, or with an escape.
fn shows_badly(text: &str) -> Option<char> {
    text.chars().find(|c| c.is_control())
}

#[test]
fn server_text_in_error_messages_is_sanitized_collapsed_and_capped() {
    // A scope name the GARE chose: an escape sequence, padding to a
    // terminal's width, then 64 KiB.
    let hostile = format!(
        "urn:x\u{1b}]0;owned\u{7}{}log in at https://evil.example{}",
        " ".repeat(200),
        "y".repeat(64 * 1024)
    );
    let errors = [
        LoginError::MissingScope {
            scopes: vec![hostile.clone(), TRANSFER.into()],
        },
        LoginError::Refused {
            error: hostile.clone(),
            description: Some(hostile.clone()),
        },
        LoginError::MissingToken {
            resource_server: hostile.clone(),
        },
        LoginError::IdentityMismatch {
            stored: hostile.clone(),
            logged_in: hostile.clone(),
        },
        LoginError::LoginRequired {
            authorize_url: "https://auth.example.org/v2/oauth2/authorize?x=1".into(),
            commands: vec![format!("globus session consent '{hostile}'")],
            gare: None,
        },
    ];
    for err in errors {
        let text = err.to_string();
        assert_eq!(shows_badly(&text), None, "{text:?}");
        assert!(!text.contains("owned"), "{text:?}");
        assert!(!text.contains("  "), "blank runs collapsed: {text:?}");
        assert!(text.contains('…'), "cut: {text:?}");
        assert!(
            text.chars().count() < 1200,
            "{} characters",
            text.chars().count()
        );
    }
    let missing = LoginError::MissingScope {
        scopes: vec![hostile],
    }
    .to_string();
    assert!(
        missing.starts_with("the login did not grant scopes the service required: urn:x log in at"),
        "{missing}"
    );
}

/// Whether this machine has an IPv6 loopback at all.
fn has_ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[tokio::test]
async fn the_loopback_prompt_holds_its_port_on_every_loopback_address() {
    let s = setup();
    s.login(StatusCode::OK, tokens_response())
        .reauthenticate(context(
            gare_of(json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]})),
            "https://transfer.api.globus.org/v0.10/",
        ))
        .await
        .unwrap();
    let request = s.prompt.last();
    let state = request.state().to_owned();

    let (shown, listening) = on_listening();
    let prompt = LoopbackPrompt::bind(0)
        .unwrap()
        .timeout(Duration::from_secs(10))
        .on_url(shown);
    let port = prompt.local_addr().unwrap().port();
    assert_eq!(prompt.redirect_uri(), format!("http://localhost:{port}"));
    let ipv6 = has_ipv6_loopback();
    let mut held = vec![format!("127.0.0.1:{port}")];
    if ipv6 {
        held.push(format!("[::1]:{port}"));
    } else {
        eprintln!("this machine has no IPv6 loopback: only 127.0.0.1 is checked");
    }
    let addrs: Vec<String> = prompt
        .local_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    for addr in &held {
        assert!(addrs.contains(addr), "{addr} not in {addrs:?}");
    }
    // Another local user cannot listen on the redirect's port where a
    // browser may take `localhost` to (nor, on Linux, on a wildcard
    // address that covers them).
    let mut squats = held.clone();
    if cfg!(target_os = "linux") {
        squats.push(format!("0.0.0.0:{port}"));
        if ipv6 {
            squats.push(format!("[::]:{port}"));
        }
    }
    for addr in &squats {
        match std::net::TcpListener::bind(addr.as_str()) {
            Ok(_) => panic!("another listener took {addr}: the redirect could go there"),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{addr}: {e}"),
        }
    }
    if !ipv6 {
        return;
    }
    // A browser that takes `localhost` to ::1 reaches this login.
    let waiting = tokio::spawn(async move { prompt.authorize(&request).await });
    listens(&listening).await;
    assert_eq!(
        browser_get(&format!(
            "http://[::1]:{port}/?code=over-ipv6&state={state}"
        ))
        .await,
        StatusCode::OK
    );
    let answer = waiting.await.unwrap().unwrap();
    assert_eq!(answer.code.secret(), "over-ipv6");
    assert_eq!(answer.state.as_deref(), Some(state.as_str()));
}

#[test]
fn a_loopback_port_someone_holds_on_ipv6_is_not_used() {
    if !has_ipv6_loopback() {
        eprintln!("this machine has no IPv6 loopback: nothing to hold there");
        return;
    }
    // Another local user listens on [::1]:PORT first.
    let squatter = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    let err = LoopbackPrompt::bind(port).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    // 127.0.0.1:PORT was let go again.
    drop(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
}

#[test]
fn service_urls_follow_the_environment_variables() {
    // A service name no other test reads, so setting its variable is safe.
    std::env::set_var(
        "GLOBUS_SDK_SERVICE_URL_TOWERGARETEST",
        "http://127.0.0.1:9999/",
    );
    assert_eq!(
        tower_gare::login::environment::service_url("towergaretest").unwrap(),
        "http://127.0.0.1:9999/"
    );
    assert_eq!(
        tower_gare::login::environment::service_url_in("groups", "staging").unwrap(),
        "https://groups.api.staging.globuscs.info/"
    );
}

#[tokio::test]
async fn credentials_for_a_first_request_log_in_once_then_come_from_the_store() {
    let s = setup();
    let login = s.login(StatusCode::OK, tokens_response());
    let uri = Uri::from_static("https://transfer.api.globus.org/v0.10/task_list");
    let first = login.credentials_for(&uri).await.unwrap();
    assert_eq!(first, Credentials::bearer("transfer-token").unwrap());
    // Transfer's scope, known at its first request, as a Python client
    // registers its own with its app.
    assert_eq!(
        s.prompt.last().param("scope"),
        Some("urn:globus:auth:scope:transfer.api.globus.org:all openid email")
    );
    let again = login.credentials_for(&uri).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(s.prompt.count(), 1);
}

/// The value of `name` as the URL itself carries it (not as the request
/// remembers it): what the authorization server will read.
fn url_param(request: &AuthorizeRequest, name: &str) -> Option<String> {
    let query = request.url().split_once('?')?.1;
    let mut values = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned());
    let value = values.next();
    assert_eq!(values.next(), None, "{name} sent once");
    value
}

fn challenge(value: &'static str) -> Gare {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static(value),
    );
    tower_gare::challenge::from_headers(&headers).expect("a requirement")
}

#[tokio::test]
async fn a_step_up_challenge_reaches_the_authorize_url() {
    let s = setup();
    let login = s.login(StatusCode::OK, tokens_response());
    let gare = challenge(
        r#"Bearer error="insufficient_user_authentication", scope="urn:globus:auth:scope:transfer.api.globus.org:all", acr_values="urn:mace:incommon:iap:silver phr", max_age="300""#,
    );
    login
        .reauthenticate(context(gare, "https://transfer.api.globus.org/v0.10/"))
        .await
        .unwrap();
    let request = s.prompt.last();
    assert_eq!(
        url_param(&request, "acr_values").as_deref(),
        Some("urn:mace:incommon:iap:silver phr")
    );
    assert_eq!(url_param(&request, "max_age").as_deref(), Some("300"));
    assert_eq!(url_param(&request, "claims"), None);
    assert_eq!(
        url_param(&request, "prompt"),
        None,
        "max_age > 0 is not a forced login"
    );
    assert_eq!(request.param("max_age"), Some("300"));

    // max_age=0: authenticated just now, a fresh login.
    let gare = challenge(
        r#"Bearer error="insufficient_user_authentication", scope="urn:globus:auth:scope:transfer.api.globus.org:all", max_age=0"#,
    );
    login
        .reauthenticate(context(gare, "https://transfer.api.globus.org/v0.10/"))
        .await
        .unwrap();
    let request = s.prompt.last();
    assert_eq!(url_param(&request, "max_age").as_deref(), Some("0"));
    assert_eq!(url_param(&request, "prompt").as_deref(), Some("login"));
    assert_eq!(url_param(&request, "acr_values"), None);
}

#[tokio::test]
async fn a_claims_challenge_reaches_the_authorize_url() {
    let s = setup();
    let login = s.login(StatusCode::OK, tokens_response());
    // {"id_token":{"acr":{"essential":true,"value":"urn:mace:incommon:iap:silver"}}}, base64url.
    let gare = challenge(
        r#"Bearer error="insufficient_claims", scope="urn:globus:auth:scope:transfer.api.globus.org:all", claims="eyJpZF90b2tlbiI6eyJhY3IiOnsiZXNzZW50aWFsIjp0cnVlLCJ2YWx1ZSI6InVybjptYWNlOmluY29tbW9uOmlhcDpzaWx2ZXIifX19""#,
    );
    login
        .reauthenticate(context(gare, "https://transfer.api.globus.org/v0.10/"))
        .await
        .unwrap();
    let request = s.prompt.last();
    let claims = url_param(&request, "claims").expect("claims sent");
    // Sent as JSON (OpenID Connect Core 5.5), not base64 as it came.
    assert_eq!(
        serde_json::from_str::<Value>(&claims).unwrap(),
        json!({"id_token": {"acr": {"essential": true, "value": "urn:mace:incommon:iap:silver"}}})
    );
    assert_eq!(url_param(&request, "max_age"), None);
    assert_eq!(url_param(&request, "acr_values"), None);
}

#[tokio::test]
async fn a_body_gare_may_carry_step_up_parameters_in_its_extras() {
    let s = setup();
    let login = s.login(StatusCode::OK, tokens_response());
    let gare = gare_of(json!({
        "code": "AuthenticationRequired",
        "authorization_parameters": {"required_scopes": [TRANSFER]},
        "acr_values": "2", "max_age": 60, "claims": {"userinfo": {"email": null}}
    }));
    login
        .reauthenticate(context(gare, "https://transfer.api.globus.org/v0.10/"))
        .await
        .unwrap();
    let request = s.prompt.last();
    assert_eq!(url_param(&request, "acr_values").as_deref(), Some("2"));
    assert_eq!(url_param(&request, "max_age").as_deref(), Some("60"));
    assert_eq!(
        serde_json::from_str::<Value>(&url_param(&request, "claims").unwrap()).unwrap(),
        json!({"userinfo": {"email": null}})
    );
}

#[test]
fn a_redirect_uri_the_prompt_does_not_listen_on_is_an_error() {
    let prompt = LoopbackPrompt::bind(0).unwrap();
    let listening = prompt.redirect_uri().to_owned();
    let err = Login::builder("c")
        .auth_base_url("https://auth.example.org")
        .redirect_uri("https://app.example.org/callback")
        .prompt(prompt)
        .build(tower::service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }))
        .unwrap_err();
    match &err {
        LoginConfigError::RedirectUriMismatch { configured, prompt } => {
            assert_eq!(configured, "https://app.example.org/callback");
            assert_eq!(prompt, &listening);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("app.example.org/callback"),
        "{err}"
    );

    // The same URI, set explicitly, is fine.
    let prompt = LoopbackPrompt::bind(0).unwrap();
    let listening = prompt.redirect_uri().to_owned();
    let login = Login::builder("c")
        .auth_base_url("https://auth.example.org")
        .redirect_uri(listening.clone())
        .prompt(prompt)
        .build(tower::service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }))
        .unwrap();
    assert_eq!(login.redirect_uri(), listening);
}

#[test]
fn a_bad_auth_url_is_an_error_that_carries_its_cause() {
    let err = Login::builder("c")
        .auth_base_url("https://auth example.org")
        .build(tower::service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }))
        .unwrap_err();
    assert!(
        matches!(&err, LoginConfigError::InvalidAuthUrl { url, .. } if url == "https://auth example.org/"),
        "{err:?}"
    );
    let source = std::error::Error::source(&err).expect("the URI error");
    assert!(source.downcast_ref::<http::uri::InvalidUri>().is_some());
}

#[tokio::test]
async fn a_token_that_cannot_go_in_a_header_is_its_own_error() {
    let s = setup();
    let login = s.login(
        StatusCode::OK,
        json!({"access_token": "bad\ntoken-s3cret", "resource_server": "transfer.api.globus.org", "scope": TRANSFER}),
    );
    let err = login
        .reauthenticate(context(
            gare_of(json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]})),
            "https://transfer.api.globus.org/v0.10/",
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::InvalidToken(_)), "{err:?}");
    let source = std::error::Error::source(&err).expect("the credentials error");
    assert!(source.downcast_ref::<InvalidCredentials>().is_some());
    for shown in [err.to_string(), format!("{err:?}"), source.to_string()] {
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}

#[test]
fn secrets_never_reach_debug() {
    let secret = Secret::new("s3cret-value");
    assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    assert_eq!(secret.secret(), "s3cret-value");

    let builder = Login::builder("c").client_secret("s3cret-value");
    let shown = format!("{builder:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("Secret(<redacted>)"), "{shown}");

    let answer = AuthorizationResponse {
        code: "s3cret-value".into(),
        state: Some("xyz".into()),
    };
    assert!(!format!("{answer:?}").contains("s3cret"));
    assert_eq!(answer.code, Secret::from("s3cret-value".to_owned()));

    let token = Token::new("rs", "s3cret-value", "scope", None);
    assert!(!format!("{token:?}").contains("s3cret"));
    assert_eq!(token.access_token(), "s3cret-value");
}

#[tokio::test]
async fn the_loopback_prompt_listens_where_redirect_to_says() {
    let s = setup();
    s.login(StatusCode::OK, tokens_response())
        .reauthenticate(context(
            gare_of(json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]})),
            "https://transfer.api.globus.org/v0.10/",
        ))
        .await
        .unwrap();
    let request = s.prompt.last();
    let state = request.state().to_owned();

    let prompt = LoopbackPrompt::bind(0).unwrap();
    let port = prompt.local_addr().unwrap().port();
    // The root path is shown without a trailing slash, as the Python SDK does.
    let prompt = prompt.redirect_to("localhost", "/").unwrap();
    assert_eq!(prompt.redirect_uri(), format!("http://localhost:{port}"));
    // A path without its leading slash gets one.
    let (shown, listening) = on_listening();
    let prompt = prompt
        .redirect_to("127.0.0.1", "callback")
        .unwrap()
        .timeout(Duration::from_secs(10))
        .on_url(shown);
    let redirect = prompt.redirect_uri().to_owned();
    assert_eq!(redirect, format!("http://127.0.0.1:{port}/callback"));
    assert_eq!(
        Prompt::redirect_uri(&prompt).as_deref(),
        Some(redirect.as_str()),
        "the URI a login sends is the one shown"
    );

    let waiting = tokio::spawn(async move { prompt.authorize(&request).await });
    listens(&listening).await;
    // The redirect is taken on the path given, and only there.
    assert_eq!(
        browser_get(&format!(
            "http://127.0.0.1:{port}/?code=elsewhere&state={state}"
        ))
        .await,
        StatusCode::NOT_FOUND
    );
    assert!(!waiting.is_finished());
    assert_eq!(
        browser_get(&format!("{redirect}?code=good&state={state}")).await,
        StatusCode::OK
    );
    let answer = waiting.await.unwrap().unwrap();
    assert_eq!(answer.code.secret(), "good");
}

/// The mode of a token file must not depend on the umask of the process
/// that writes it. A umask is process-wide, so the check runs in a child
/// process of this test binary, started by `sh` with `umask 022` (under a
/// umask of 077 even a file created 0644 would come out 0600).
#[cfg(unix)]
#[test]
fn the_token_file_is_0600_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    const CHILD: &str = "TOWER_GARE_TEST_UMASK_CHILD";
    const NAME: &str = "login::the_token_file_is_0600_whatever_the_umask";

    if std::env::var_os(CHILD).is_some() {
        let dir = std::env::temp_dir().join(format!("tower-gare-umask-{}", std::process::id()));
        let path = dir.join("tokens.json");
        let probe = dir.join("probe");
        std::fs::create_dir_all(&dir).unwrap();
        // The umask really is 022 here: a plain new file is 0644.
        std::fs::write(&probe, b"").unwrap();
        let probe_mode = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
        assert_eq!(probe_mode, 0o644, "the child runs under umask 022");
        let store = JsonFileTokenStore::new(&path);
        store
            .put(
                DEFAULT_NAMESPACE,
                &[Token::new("transfer.api.globus.org", "t", TRANSFER, None)],
            )
            .unwrap();
        let first = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        // Replaced (written beside it, renamed): still private.
        store
            .put(
                DEFAULT_NAMESPACE,
                &[Token::new("groups.api.globus.org", "g", "g", None)],
            )
            .unwrap();
        let second = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((first, second), (0o600, 0o600), "{first:o}, {second:o}");
        return;
    }

    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"umask 022 && exec "$0" "$@""#)
        .arg(&exe)
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the child failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran the check:\n{stdout}"
    );
}

/// A login with no rules of its own maps every Globus service the Python
/// SDK knows to its resource server (at production's URLs here), so
/// Timers, Compute and Flows requests get their own tokens.
#[test]
fn the_default_rules_name_each_globus_services_resource_server() {
    let moves = |name: &str| {
        name == "GLOBUS_SDK_ENVIRONMENT" || name.starts_with("GLOBUS_SDK_SERVICE_URL_")
    };
    if std::env::vars().any(|(name, _)| moves(&name)) {
        eprintln!("SKIPPED: a GLOBUS_SDK_ variable moves the services; the rules follow it");
        return;
    }
    let map = tower_gare::login::ResourceServers::globus();
    for (url, resource_server) in [
        (
            "https://transfer.api.globus.org/v0.10/task_list",
            "transfer.api.globus.org",
        ),
        (
            "https://groups.api.globus.org/v2/groups/my_groups",
            "groups.api.globus.org",
        ),
        (
            "https://search.api.globus.org/v1/index/x",
            "search.api.globus.org",
        ),
        (
            "https://auth.globus.org/v2/api/identities",
            "auth.globus.org",
        ),
        (
            "https://flows.automate.globus.org/flows/abc/run",
            "flows.globus.org",
        ),
        (
            "https://timer.automate.globus.org/v2/timer",
            "524230d7-ea86-4a52-8312-86065a9e0417",
        ),
        (
            "https://compute.api.globus.org/v3/endpoints",
            "funcx_service",
        ),
    ] {
        let uri: http::Uri = url.parse().unwrap();
        assert_eq!(map.for_uri(&uri).as_deref(), Some(resource_server), "{url}");
    }
    // No rule: unmapped (a login maps it only when its requirements name
    // the host).
    for url in [
        "https://g-1234.data.globus.org/file.txt",
        "https://groups.api.globus.org/v2/groupsevil",
        "https://transfer.api.globus.org/v0.100/x",
    ] {
        let uri: http::Uri = url.parse().unwrap();
        assert_eq!(map.for_uri(&uri), None, "{url}");
    }
}

/// A rule names one origin and a path under it: another origin with the
/// same path, or another path on the origin, is not the rule's.
#[test]
fn a_rule_maps_its_own_origin_and_path_only() {
    let map = tower_gare::login::ResourceServers::new()
        .with("https://api.test/a/", "a")
        .with("https://api.test:8443/b/", "b");
    for (url, resource_server) in [
        ("https://api.test/a/read", Some("a")),
        ("https://API.test:443/a/read", Some("a")),
        ("https://api.test/a", Some("a")),
        ("https://api.test/ab/read", None),
        ("https://evil.test/a/read", None),
        ("http://api.test/a/read", None),
        ("https://api.test:8443/a/read", None),
        ("https://api.test/b/read", None),
        ("https://api.test:8443/b/x", Some("b")),
        ("https://api.test:8443/bx", None),
    ] {
        let uri: http::Uri = url.parse().unwrap();
        assert_eq!(map.for_uri(&uri).as_deref(), resource_server, "{url}");
    }
}

#[test]
fn a_builder_shows_that_it_amends_gares() {
    let builder = Login::builder("client-id").amend_gare(|_cx, _gare| {});
    let shown = format!("{builder:?}");
    assert!(shown.contains("amend_gare: Some(AmendGare(..))"), "{shown}");
}

/// A Globus service's scopes are known the first time a request goes to
/// it, as a Python client registers its scopes with its app: no
/// requirement set up front, and the login asks for Transfer's.
#[tokio::test]
async fn a_globus_services_scopes_are_known_at_its_first_request() {
    let s = setup();
    let login = s.login(StatusCode::OK, tokens_response());
    assert!(login
        .scope_requirements("transfer.api.globus.org")
        .is_empty());
    let uri = Uri::from_static("https://transfer.api.globus.org/v0.10/task_list");
    let credentials = login.credentials_for(&uri).await.unwrap();
    assert_eq!(credentials, Credentials::bearer("transfer-token").unwrap());
    let asked = s.prompt.last().param("scope").unwrap_or("").to_owned();
    assert!(asked.split(' ').any(|s| s == TRANSFER), "{asked}");
    assert_eq!(
        login.scope_requirements("transfer.api.globus.org"),
        [TRANSFER]
    );
}

/// `Login::globus_app` keeps tokens where the Python SDK's `UserApp` of
/// the same app name does, and asks for `openid`.
#[test]
fn a_globus_app_keeps_its_tokens_where_the_python_sdks_user_app_does() {
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let login = Login::globus_app("my-app", "6c54cade-bde5-45c1-bdea-f4bd71dba2cc")
        .unwrap()
        .build(http)
        .unwrap();
    let expected = tower_gare::login::JsonFileTokenStore::default_path(
        "6c54cade-bde5-45c1-bdea-f4bd71dba2cc",
        "my-app",
    )
    .unwrap();
    assert_eq!(login.token_store().path(), expected);
    assert!(
        expected.ends_with(".globus/app/6c54cade-bde5-45c1-bdea-f4bd71dba2cc/my-app/tokens.json")
    );
}

/// `add_data_access_scope` puts a collection's `data_access` under
/// Transfer's `all`, as `TransferClient.add_app_data_access_scope` does,
/// and refuses an id that is not a UUID.
#[test]
fn a_data_access_scope_goes_under_transfers_all() {
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let login = Login::builder("c").build(http).unwrap();
    login
        .add_data_access_scope("6c54cade-bde5-45c1-bdea-f4bd71dba2cc")
        .unwrap();
    assert_eq!(
        login.scope_requirements("transfer.api.globus.org"),
        [format!("{TRANSFER}[*https://auth.globus.org/scopes/6c54cade-bde5-45c1-bdea-f4bd71dba2cc/data_access]")]
    );
    assert!(login.add_data_access_scope("x] evil[").is_err());
    assert_eq!(login.scope_requirements("transfer.api.globus.org").len(), 1);
}
