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
    LoginError, LoopbackPrompt, MemoryTokenStore, Prompt, ResourceServers, Token, TokenStore,
};
use tower_gare::redrive::{Credentials, ReauthContext, Reauthenticator};

/// Answers the code it was given with the request it got back.
#[derive(Clone, Default, Debug)]
struct ScriptedPrompt {
    seen: Arc<Mutex<Vec<AuthorizeRequest>>>,
    wrong_state: bool,
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
            state: Some(state),
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
/// prompt saw, then answers `response`.
fn token_endpoint(
    prompt: ScriptedPrompt,
    status: StatusCode,
    response: Value,
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
            let mut out = Response::new(Full::new(Bytes::from(response.to_string())));
            *out.status_mut() = status;
            Ok::<_, Infallible>(out)
        }
    })
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
        response: Value,
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
            .resource_servers(ResourceServers::new())
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
        .reauthenticate(context(gare, "https://transfer.api.globus.org/"))
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
        .reauthenticate(context(gare.clone(), "https://transfer.api.globus.org/"))
        .await
        .unwrap_err();
    assert!(matches!(err, LoginError::StateMismatch), "{err}");
    assert!(
        s.exchanges.lock().unwrap().is_empty(),
        "no code exchanged on a forged redirect"
    );
    let _ = login
        .reauthenticate(context(gare, "https://transfer.api.globus.org/"))
        .await;
    let seen = s.prompt.seen.lock().unwrap();
    assert_ne!(seen[0].state(), seen[1].state());
    assert_ne!(
        seen[0].param("code_challenge"),
        seen[1].param("code_challenge")
    );
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
        .get("groups.api.globus.org")
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
        .resource_servers(ResourceServers::new())
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
        .reauthenticate(context(gare, "https://transfer.api.globus.org/"))
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
    let uri = "https://transfer.api.globus.org/";

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
        matches!(err, LoginError::InvalidResponse { status: 200, .. }),
        "{err}"
    );

    let s = setup();
    let malformed = s.login(StatusCode::OK, tokens_response());
    let bad_scope = gare_of(json!({"code": "ConsentRequired", "required_scopes": ["a[b"]}));
    assert!(matches!(
        malformed
            .reauthenticate(context(bad_scope, uri))
            .await
            .unwrap_err(),
        LoginError::InvalidScope(_)
    ));

    let s = setup();
    let nothing = Login::builder("c")
        .auth_base_url("https://auth.example.org/")
        .prompt(s.prompt.clone())
        .build(token_endpoint(
            s.prompt.clone(),
            StatusCode::OK,
            tokens_response(),
            s.exchanges.clone(),
        ))
        .unwrap();
    let no_scopes = gare_of(json!({"authorization_parameters": {"session_required_mfa": true}}));
    assert!(matches!(
        nothing
            .reauthenticate(context(no_scopes, uri))
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
        .put(&[Token::new(
            "transfer.api.globus.org",
            "stored-token",
            TRANSFER,
            Some(SystemTime::now() + Duration::from_secs(3600)),
        )])
        .unwrap();
    let login = Login::builder("c")
        .auth_base_url("https://auth.example.org/")
        .resource_servers(ResourceServers::new())
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

    // Not the token the request was just refused with.
    let refused_with =
        context(gare(), uri).with_sent_authorization(Some("Bearer stored-token".parse().unwrap()));
    let creds = login.reauthenticate(refused_with).await.unwrap();
    assert_eq!(creds, Credentials::bearer("transfer-token").unwrap());
    assert_eq!(s.prompt.count(), 1);

    // A session requirement always means a login.
    let session = gare_of(
        json!({"code": "X", "authorization_parameters": {"session_required_mfa": true, "required_scopes": [TRANSFER]}}),
    );
    login.reauthenticate(context(session, uri)).await.unwrap();
    assert_eq!(s.prompt.count(), 2);

    // Expired tokens are not used.
    login
        .token_store()
        .put(&[Token::new(
            "transfer.api.globus.org",
            "old",
            TRANSFER,
            Some(SystemTime::now() - Duration::from_secs(1)),
        )])
        .unwrap();
    login.reauthenticate(context(gare(), uri)).await.unwrap();
    assert_eq!(s.prompt.count(), 3);
}

#[test]
fn the_token_file_is_private_atomic_and_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("tower-gare-store-{}", std::process::id()));
    let path = dir.join("nested").join("tokens.json");
    let store = JsonFileTokenStore::new(&path);
    assert!(
        store.get("x").unwrap().is_none(),
        "no file yet: no token, no error"
    );
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    store
        .put(&[Token::new(
            "transfer.api.globus.org",
            "t1",
            TRANSFER,
            Some(at),
        )])
        .unwrap();
    store
        .put(&[Token::new("groups.api.globus.org", "g1", "g", None)])
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
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
    let reopened = JsonFileTokenStore::new(&path);
    let token = reopened.get("transfer.api.globus.org").unwrap().unwrap();
    assert_eq!((token.access_token(), token.expires_at), ("t1", Some(at)));
    assert_eq!(
        reopened
            .get("groups.api.globus.org")
            .unwrap()
            .unwrap()
            .access_token(),
        "g1"
    );
    assert!(!format!("{token:?}").contains("t1"));

    std::fs::write(&path, b"{ not json").unwrap();
    let err = reopened.get("transfer.api.globus.org").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
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
        .reauthenticate(context(gare, "https://transfer.api.globus.org/"))
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
    assert_eq!(answer.code, "pasted");
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

#[tokio::test]
async fn the_loopback_prompt_takes_only_its_own_redirect() {
    let prompt = LoopbackPrompt::bind(0)
        .unwrap()
        .timeout(Duration::from_secs(10))
        .on_url(|_| {});
    let redirect = prompt.redirect_uri().to_owned();
    assert!(redirect.starts_with("http://localhost:"), "{redirect}");
    let addr = prompt.local_addr().unwrap();
    // A request to show: made by a login through a scripted prompt.
    let s = setup();
    s.login(StatusCode::OK, tokens_response())
        .reauthenticate(context(
            gare_of(json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]})),
            "https://transfer.api.globus.org/",
        ))
        .await
        .unwrap();
    // The prompt reads only the request's URL and state; it listens on its
    // own redirect URI.
    let request = s.prompt.last();
    let state = request.state().to_owned();
    let waiting = tokio::spawn(async move { prompt.authorize(&request).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
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
    assert_eq!(answer.code, "good");
    assert_eq!(answer.state.as_deref(), Some(state.as_str()));
}

#[tokio::test]
async fn the_loopback_prompt_times_out_and_reports_refusals() {
    let s = setup();
    s.login(StatusCode::OK, tokens_response())
        .reauthenticate(context(
            gare_of(json!({"code": "ConsentRequired", "required_scopes": [TRANSFER]})),
            "https://transfer.api.globus.org/",
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

    let prompt = LoopbackPrompt::bind(0)
        .unwrap()
        .timeout(Duration::from_secs(10))
        .on_url(|_| {});
    let redirect = prompt.redirect_uri().to_owned();
    let state = request.state().to_owned();
    let waiting = tokio::spawn(async move { prompt.authorize(&request).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
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
    assert_eq!(s.prompt.last().param("scope"), Some("openid email"));
    let again = login.credentials_for(&uri).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(s.prompt.count(), 1);
}
