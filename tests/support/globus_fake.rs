//! A small Globus of the suite's own, on loopback: Globus Auth (the
//! authorize page, as a person signs in there, and the token endpoint) and
//! Transfer's `ls`, for `examples/ls_with_session_handling.rs` run as a
//! user runs it.
//!
//! Its state decides every answer, as Globus's does: the person's consents
//! (the dependent scopes granted under Transfer's `all`), the browser
//! session (which domains the person has signed in from), and what each
//! token it issued was granted. So an `ls` answers what Transfer would:
//! 401 for a token it never issued, 404 for a collection it does not
//! know, 403 `ConsentRequired` when the token lacks the collection's
//! `data_access` consent, 502 `ExternalError.DirListingFailed.LoginFailed`
//! when the collection wants a session from a domain the token's session
//! is not from, else the listing.
//!
//! fauxbus (`support::fauxbus`) plays Globus too, as a separate Python
//! program; this fake lives in the test process, so the state that decides
//! Transfer's answers (consents, the session's domains) is the test's to
//! set up and to read back.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{bearer, reply, serve};

/// Transfer's resource server and its scope.
pub const TRANSFER: &str = "transfer.api.globus.org";
pub const TRANSFER_ALL: &str = "urn:globus:auth:scope:transfer.api.globus.org:all";
/// How long the tokens live: Globus's two days.
pub const LIFETIME_SECONDS: u64 = 172_800;

/// A collection's `data_access` scope, the dependency of Transfer's `all`
/// a mapped collection wants consent for.
pub fn data_access(collection: &str) -> String {
    format!("https://auth.globus.org/scopes/{collection}/data_access")
}

/// A collection of the fake: the domain it wants the person's session
/// from, if any, and its listing (Transfer's `DATA` entries).
#[derive(Clone, Debug)]
pub struct Collection {
    pub domain: Option<String>,
    pub entries: Vec<(String, &'static str)>,
}

/// One approval at the authorize page: its query, by name.
#[derive(Clone, Debug)]
pub struct Authorized {
    pub params: HashMap<String, String>,
}

impl Authorized {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// What a code, and then a token, was granted.
#[derive(Clone, Debug)]
struct Grant {
    scope: String,
    /// Dependent scopes consented under Transfer's `all`, as of the login.
    dependents: BTreeSet<String>,
    /// The domains of the session the login was made in.
    session: BTreeSet<String>,
    challenge: String,
    redirect_uri: String,
}

#[derive(Default)]
struct State {
    client_id: String,
    account: String,
    collections: HashMap<String, Collection>,
    consents: BTreeSet<String>,
    session: BTreeSet<String>,
    codes: HashMap<String, Grant>,
    /// Transfer tokens, and what each grants.
    tokens: HashMap<String, Grant>,
    approvals: Vec<Authorized>,
    /// Every `ls` answered, by status.
    ls: Vec<StatusCode>,
    /// The `path` of every `ls`.
    ls_paths: Vec<String>,
    serial: u64,
}

/// The fake, serving on a runtime of its own (the tests that drive it run
/// a child process and block on it).
pub struct GlobusFake {
    /// `http://127.0.0.1:<port>`, no slash at the end.
    pub base: String,
    state: Arc<Mutex<State>>,
    _runtime: tokio::runtime::Runtime,
}

impl GlobusFake {
    /// Serves Auth and Transfer for `client_id` (a native app: no secret),
    /// whose person is `account`, and the given collections.
    pub fn start(client_id: &str, account: &str, collections: &[(&str, Collection)]) -> Self {
        let state = Arc::new(Mutex::new(State {
            client_id: client_id.to_owned(),
            account: account.to_owned(),
            collections: collections
                .iter()
                .map(|(id, c)| ((*id).to_owned(), c.clone()))
                .collect(),
            ..State::default()
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let served = Arc::clone(&state);
        let addr = runtime.block_on(serve(move |req| answer(Arc::clone(&served), req)));
        GlobusFake {
            base: format!("http://{addr}"),
            state,
            _runtime: runtime,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The person at the authorize page: signs in as the URL asks and
    /// approves, and gets the code Globus Auth's code page shows. A
    /// `prompt=login` with `session_required_single_domain` is a fresh
    /// sign-in with an identity from that domain, which the browser session
    /// keeps from then on; the scope's dependencies are consented to.
    pub fn approve(&self, authorize_url: &str) -> String {
        let query = authorize_url.split_once('?').map_or("", |(_, query)| query);
        let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let mut state = self.state();
        assert_eq!(
            params.get("client_id"),
            Some(&state.client_id),
            "{authorize_url}"
        );
        assert_eq!(params["response_type"], "code", "{authorize_url}");
        assert_eq!(params["code_challenge_method"], "S256", "{authorize_url}");
        let scope = params["scope"].clone();
        let parsed = tower_gare::scopes::parse(&scope).expect("a scope string");
        for top in parsed.iter().filter(|s| s.name == TRANSFER_ALL) {
            for dependency in &top.dependencies {
                state.consents.insert(dependency.name.clone());
            }
        }
        if params.get("prompt").map(String::as_str) == Some("login") {
            if let Some(domains) = params.get("session_required_single_domain") {
                state.session.extend(domains.split(',').map(str::to_owned));
            }
        }
        state.serial += 1;
        let code = format!("fake-code-{}", state.serial);
        let grant = Grant {
            scope,
            dependents: state.consents.clone(),
            session: state.session.clone(),
            challenge: params["code_challenge"].clone(),
            redirect_uri: params["redirect_uri"].clone(),
        };
        state.codes.insert(code.clone(), grant);
        state.approvals.push(Authorized { params });
        code
    }

    /// Every approval at the authorize page, in order.
    pub fn approvals(&self) -> Vec<Authorized> {
        self.state().approvals.clone()
    }

    /// The status of every `ls` answered, in order.
    pub fn ls_statuses(&self) -> Vec<StatusCode> {
        self.state().ls.clone()
    }

    /// The `path` query parameter of every `ls`, in order.
    pub fn ls_paths(&self) -> Vec<String> {
        self.state().ls_paths.clone()
    }

    /// Whether Transfer takes `token` (it issued it).
    pub fn issued(&self, token: &str) -> bool {
        self.state().tokens.contains_key(token)
    }
}

async fn answer(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::POST, "/v2/oauth2/token") => token(&state, req).await,
        (&Method::GET, _) if path.starts_with("/v0.10/operation/endpoint/") => {
            let answer = ls(&state, &req);
            let path = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .find(|(key, _)| key == "path")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default();
            let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
            state.ls.push(answer.status());
            state.ls_paths.push(path);
            answer
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({"code": "NotFound", "message": format!("no route {path}")}).to_string(),
        ),
    }
}

/// Globus Auth's token endpoint, for the authorization code grant of a
/// native app (PKCE, `client_id` in the form).
async fn token(state: &Mutex<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let form = req.into_body().collect().await.unwrap().to_bytes();
    let form: HashMap<String, String> = form_urlencoded::parse(&form).into_owned().collect();
    let field = |name: &str| form.get(name).map_or("", String::as_str);
    let invalid_grant = || {
        reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant"}).to_string(),
        )
    };
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    if field("grant_type") != "authorization_code" || field("client_id") != state.client_id {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client"}).to_string(),
        );
    }
    // A code is good once.
    let Some(grant) = state.codes.remove(field("code")) else {
        return invalid_grant();
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
    if challenge != grant.challenge || field("redirect_uri") != grant.redirect_uri {
        return invalid_grant();
    }
    state.serial += 1;
    let serial = state.serial;
    let names: Vec<String> = tower_gare::scopes::parse(&grant.scope)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    let wants = |name: &str| names.iter().any(|n| n == name);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // As Globus Auth answers: one token per resource server, the first at
    // the top and the others in `other_tokens`, each naming only the
    // top-level scopes it grants (dependencies are consents, not scopes).
    let mut tokens = Vec::new();
    if wants("openid") {
        tokens.push(json!({
            "access_token": format!("auth-token-{serial}"),
            "scope": "openid",
            "resource_server": "auth.globus.org",
            "expires_in": LIFETIME_SECONDS,
            "token_type": "Bearer",
            "state": "_default",
            "refresh_token": null,
        }));
    }
    if wants(TRANSFER_ALL) {
        let access_token = format!("transfer-token-{serial}");
        state.tokens.insert(access_token.clone(), grant.clone());
        tokens.push(json!({
            "access_token": access_token,
            "scope": TRANSFER_ALL,
            "resource_server": TRANSFER,
            "expires_in": LIFETIME_SECONDS,
            "token_type": "Bearer",
            "state": "_default",
            "refresh_token": null,
        }));
    }
    if tokens.is_empty() {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_scope"}).to_string(),
        );
    }
    let mut doc = tokens.remove(0);
    doc["other_tokens"] = Value::Array(tokens);
    if wants("openid") {
        let claims = json!({
            "sub": state.account,
            "aud": state.client_id,
            "iss": "https://auth.globus.org",
            "iat": now,
            "exp": now + LIFETIME_SECONDS,
        });
        // Unsigned in all but form: the crate reads the `sub` of an ID
        // token straight from the token endpoint without checking it.
        doc["id_token"] = Value::String(format!(
            "{}.{}.{}",
            URL_SAFE.encode(br#"{"alg":"RS512","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(b"not-a-signature"),
        ));
    }
    reply(StatusCode::OK, doc.to_string())
}

/// Transfer's `GET /v0.10/operation/endpoint/<id>/ls?path=<path>`.
fn ls(state: &Mutex<State>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let state = state.lock().unwrap_or_else(|p| p.into_inner());
    let path = req.uri().path();
    let resource = path.trim_start_matches("/v0.10");
    let Some(id) = path
        .strip_prefix("/v0.10/operation/endpoint/")
        .and_then(|rest| rest.strip_suffix("/ls"))
    else {
        return reply(StatusCode::NOT_FOUND, r#"{"code": "NotFound"}"#);
    };
    let error = |status: StatusCode, doc: Value| reply(status, doc.to_string());
    let Some(grant) = bearer(req).and_then(|t| state.tokens.get(&t).cloned()) else {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({
                "code": "AuthenticationFailed",
                "message": "Token is not active",
                "request_id": "r-401",
                "resource": resource,
            }),
        );
    };
    let Some(collection) = state.collections.get(id) else {
        return error(
            StatusCode::NOT_FOUND,
            json!({
                "code": "EndpointNotFound",
                "message": format!("No such collection '{id}'"),
                "request_id": "r-404",
                "resource": resource,
            }),
        );
    };
    let dependency = data_access(id);
    if !grant.dependents.contains(&dependency) {
        // Transfer's own shape: `required_scopes` at the top, no
        // `authorization_parameters` (a legacy GARE).
        return error(
            StatusCode::FORBIDDEN,
            json!({
                "code": "ConsentRequired",
                "message": "Missing required data_access consent",
                "request_id": "r-403",
                "resource": resource,
                "required_scopes": [format!("{TRANSFER_ALL}[*{dependency}]")],
            }),
        );
    }
    if let Some(domain) = &collection.domain {
        if !grant.session.contains(domain) {
            return error(
                StatusCode::BAD_GATEWAY,
                json!({
                    "code": "ExternalError.DirListingFailed.LoginFailed",
                    "message": format!(
                        "Command Failed: Error (login)\nEndpoint: {id}\nServer: 127.0.0.1:443\n\
                         Message: Login Failed\n---\nDetails: 530-Login incorrect. : \
                         You must have a session from {domain}\n"
                    ),
                    "request_id": "r-502",
                    "resource": resource,
                    "authorization_parameters": {
                        "session_message": format!("{id} requires a session from {domain}"),
                        "session_required_identities": [],
                        "session_required_single_domain": [domain],
                    },
                }),
            );
        }
    }
    let data: Vec<Value> = collection
        .entries
        .iter()
        .map(|(name, kind)| {
            json!({
                "DATA_TYPE": "file",
                "name": name,
                "type": kind,
                "size": 4096,
                "permissions": "0755",
                "last_modified": "2025-01-01 00:00:00+00:00",
            })
        })
        .collect();
    let query = req.uri().query().unwrap_or("");
    let listed = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "path")
        .map_or_else(|| "/~/".to_owned(), |(_, v)| v.into_owned());
    reply(
        StatusCode::OK,
        json!({
            "DATA_TYPE": "file_list",
            "DATA": data,
            "absolute_path": listed,
            "endpoint": id,
            "path": listed,
            "length": collection.entries.len(),
            "total": collection.entries.len(),
        })
        .to_string(),
    )
}
