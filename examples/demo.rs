//! The ten-minute tour: `cargo run --example demo`.
//!
//! Starts, on 127.0.0.1, a small authorization server (authorize + token
//! endpoints, approving every login at once) and a resource server that
//! protects its routes with Globus-style requirements. Then drives a
//! hyper-util client with the real `Login`'s layers (`GareRedriveLayer`
//! around the layer that attaches its tokens)
//! reauthenticator (a loopback prompt; the "browser" is a few lines that
//! follow the authorize URL) through four stories:
//!
//! 1. a 403 `ConsentRequired` GARE: login with the GARE's scope, retry, 200;
//! 2. a session requirement (MFA): login with `prompt=login`, retry, 200;
//! 3. 20 concurrent requests that all need a new consent: one login;
//! 4. a 403 that is not a GARE: handed back untouched.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{bearer, gare_reply, reply, serve};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tower::ServiceExt;
use tower_gare::gare::{AuthorizationParameters, Gare};
use tower_gare::login::{Login, LoopbackPrompt, ResourceServers};
use tower_gare::redrive::RedriveOutcome;

/// What the authorization server knows: codes waiting to be exchanged, and
/// the tokens it issued (their scopes, and whether the login used MFA).
#[derive(Default)]
struct Issuer {
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, Grant>,
    logins: usize,
}

#[derive(Clone)]
struct Grant {
    scopes: Vec<String>,
    mfa: bool,
}

type Shared = Arc<Mutex<Issuer>>;

fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

async fn auth_server(issuer: Shared) -> std::net::SocketAddr {
    serve(move |req: Request<Incoming>| {
        let issuer = issuer.clone();
        async move {
            match req.uri().path() {
                "/v2/oauth2/authorize" => {
                    let q = query(&req);
                    let mut issuer = issuer.lock().unwrap();
                    issuer.logins += 1;
                    let code = format!("code-{}", issuer.logins);
                    let grant = Grant {
                        scopes: q.get("scope").map(|s| s.split(' ').map(str::to_owned).collect()).unwrap_or_default(),
                        mfa: q.get("session_required_mfa").is_some_and(|v| v == "true"),
                    };
                    issuer.codes.insert(code.clone(), grant);
                    let location = format!(
                        "{}?{}",
                        q["redirect_uri"],
                        form_urlencoded::Serializer::new(String::new())
                            .append_pair("code", &code)
                            .append_pair("state", &q["state"])
                            .finish()
                    );
                    Response::builder()
                        .status(StatusCode::FOUND)
                        .header("location", location)
                        .body(Full::new(Bytes::new()))
                        .unwrap()
                }
                "/v2/oauth2/token" => {
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
                    let mut issuer = issuer.lock().unwrap();
                    let Some(grant) = issuer.codes.remove(&form["code"]) else {
                        return reply(StatusCode::UNAUTHORIZED, r#"{"error": "invalid_grant"}"#);
                    };
                    let token = format!("token-{}", issuer.tokens.len() + 1);
                    issuer.tokens.insert(token.clone(), grant.clone());
                    let scope = grant.scopes.join(" ");
                    reply(
                        StatusCode::OK,
                        json!({
                            "access_token": "auth-token", "resource_server": "auth.demo", "scope": "openid",
                            "expires_in": 3600, "token_type": "Bearer",
                            "other_tokens": [{"access_token": token, "resource_server": "files.demo",
                                              "scope": scope, "expires_in": 3600, "token_type": "Bearer"}]
                        })
                        .to_string(),
                    )
                }
                _ => reply(StatusCode::NOT_FOUND, "{}"),
            }
        }
    })
    .await
}

fn consent(scope: &str) -> Gare {
    Gare::new(
        "ConsentRequired",
        AuthorizationParameters {
            session_message: Some(format!("This needs your consent to {scope}")),
            required_scopes: Some(vec![scope.to_owned()]),
            ..Default::default()
        },
    )
}

async fn resource_server(issuer: Shared) -> std::net::SocketAddr {
    serve(move |req: Request<Incoming>| {
        let grant = bearer(&req).and_then(|t| issuer.lock().unwrap().tokens.get(&t).cloned());
        let has = move |scope: &str| {
            grant
                .as_ref()
                .is_some_and(|g| g.scopes.iter().any(|s| s == scope))
        };
        let mfa = grant_mfa(&req, &issuer);
        let path = req.uri().path().to_owned();
        async move {
            if path == "/listing" {
                if !has("files:read") {
                    return gare_reply(&consent("files:read"), StatusCode::FORBIDDEN);
                }
                return reply(StatusCode::OK, r#"["notes.txt", "data.csv"]"#);
            }
            if path == "/vault" {
                if !mfa {
                    let gare = Gare::new(
                        "AuthorizationRequired",
                        AuthorizationParameters {
                            session_message: Some(
                                "The vault requires multi-factor authentication".into(),
                            ),
                            session_required_mfa: Some(true),
                            required_scopes: Some(vec!["files:read".into()]),
                            ..Default::default()
                        },
                    );
                    return gare_reply(&gare, StatusCode::FORBIDDEN);
                }
                return reply(StatusCode::OK, r#"["secret.key"]"#);
            }
            if path.starts_with("/batch/") {
                if !has("files:write") {
                    return gare_reply(&consent("files:write"), StatusCode::FORBIDDEN);
                }
                return reply(StatusCode::OK, format!(r#"{{"written": "{path}"}}"#));
            }
            reply(
                StatusCode::FORBIDDEN,
                r#"{"code": "PermissionDenied", "message": "admins only"}"#,
            )
        }
    })
    .await
}

fn grant_mfa(req: &Request<Incoming>, issuer: &Shared) -> bool {
    bearer(req)
        .and_then(|t| issuer.lock().unwrap().tokens.get(&t).map(|g| g.mfa))
        .unwrap_or(false)
}

/// Plays the user's browser: follows the authorize URL to the loopback redirect.
fn browser(url: String) {
    tokio::spawn(async move {
        let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let Ok(response) = http.get(url.parse().unwrap()).await else {
            return;
        };
        if let Some(next) = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
        {
            let _ = http.get(next.parse().unwrap()).await;
        }
    });
}

fn short(url: &str) -> String {
    let keep = ["scope", "prompt", "session_required_mfa"];
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let shown: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| keep.contains(&k.as_ref()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "{base}?{} (+ client_id, redirect_uri, state, PKCE)",
        shown.join("&")
    )
}

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let issuer = Shared::default();
    let auth = auth_server(issuer.clone()).await;
    let files = resource_server(issuer.clone()).await;
    println!("authorization server on http://{auth}, resource server on http://{files}\n");

    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let prompt = LoopbackPrompt::bind(0)
        .expect("a loopback port")
        .timeout(Duration::from_secs(10))
        .on_url(|request| {
            if let Some(message) = request.session_message() {
                println!("   login: \"{message}\"");
            }
            println!("   login: {}", short(request.url()));
            browser(request.url().to_owned());
        });
    let login = Login::builder("demo-client")
        .auth_base_url(format!("http://{auth}/"))
        .scopes(["openid"])
        .resource_servers(ResourceServers::new().with(&format!("http://{files}/"), "files.demo"))
        .prompt(prompt)
        .build(http.clone())
        .expect("login settings");
    // Redrive outside, the login's tokens attached inside.
    let client = tower::ServiceBuilder::new()
        .layer(login.layer())
        .service(http);
    let get = |path: String| {
        let client = client.clone();
        async move {
            let response = client
                .oneshot(
                    Request::get(format!("http://{files}{path}"))
                        .body(Full::new(Bytes::new()))
                        .unwrap(),
                )
                .await
                .expect("the resource server answers");
            let status = response.status();
            let outcome = response.extensions().get::<RedriveOutcome>().cloned();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, outcome, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let describe = |outcome: &Option<RedriveOutcome>| match outcome {
        Some(o) => format!("{o:?}"),
        None => "passed straight through".to_owned(),
    };
    let mut ok = true;

    println!("1. GET /listing (no consent yet)");
    let (status, outcome, body) = get("/listing".into()).await;
    println!("   -> {status}, {}: {body}", describe(&outcome));
    ok &= status == StatusCode::OK;
    let (status, outcome, _) = get("/listing".into()).await;
    println!(
        "   again -> {status}, {} (the login's token is attached)\n",
        describe(&outcome)
    );
    ok &= status == StatusCode::OK && outcome.is_none();

    println!("2. GET /vault (needs an MFA session)");
    let (status, outcome, body) = get("/vault".into()).await;
    println!("   -> {status}, {}: {body}\n", describe(&outcome));
    ok &= status == StatusCode::OK;

    println!("3. 20 concurrent GET /batch/N (each needs files:write)");
    let logins_before = issuer.lock().unwrap().logins;
    let results = futures_util::future::join_all((0..20).map(|i| get(format!("/batch/{i}")))).await;
    let succeeded = results
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::OK)
        .count();
    let logins = issuer.lock().unwrap().logins - logins_before;
    println!("   -> {succeeded}/20 answered 200 after {logins} login\n");
    ok &= succeeded == 20 && logins == 1;

    println!("4. GET /admin (a 403 that is not a GARE)");
    let (status, outcome, body) = get("/admin".into()).await;
    println!("   -> {status}, {}: {body}\n", describe(&outcome));
    ok &= status == StatusCode::FORBIDDEN && matches!(outcome, Some(RedriveOutcome::NoGare));

    let total = issuer.lock().unwrap().logins;
    println!("{total} logins in all, {:.2?}", started.elapsed());
    if !ok {
        eprintln!("the demo did not go as it should");
        std::process::exit(1);
    }
}
