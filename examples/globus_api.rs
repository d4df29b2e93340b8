//! The Globus CLI's `globus api`, in Rust: one request to a Globus service,
//! with the tokens it needs attached, refreshed, and kept in the token file
//! the Python SDK's `GlobusApp` uses, and any GARE met by a login and one
//! retry.
//!
//! ```sh
//! GLOBUS_CLIENT_ID=<client id> cargo run --example globus_api -- groups GET /v2/groups/my_groups
//! GLOBUS_CLIENT_ID=<client id> cargo run --example globus_api -- --logout
//! ```
//!
//! - `SERVICE` is `auth`, `groups`, `transfer`, `search`, `flows`, `timers`
//!   or `compute`; its base URL comes from `GLOBUS_SDK_ENVIRONMENT` and
//!   `GLOBUS_SDK_SERVICE_URL_<SERVICE>`, as in the Python SDK.
//! - The client is `GLOBUS_CLIENT_ID`, with `GLOBUS_CLIENT_SECRET` for a
//!   confidential client (which then authenticates with HTTP Basic).
//! - stdout gets the response body; stderr the status and what the redrive
//!   layer did. Exit codes: 0 on 2xx, 1 on an HTTP error status, 2 on a
//!   usage error, 3 on a login error.

use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use clap::{Arg, ArgAction, ArgMatches, Command};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt};
use tower_gare::gare::Gare;
use tower_gare::globus::Service;
use tower_gare::login::{
    CommandLinePrompt, JsonFileTokenStore, Login, LoginError, LoopbackPrompt, NeverPrompt, Prompt,
    RefreshTokens, ResourceServers,
};
use tower_gare::redrive::RedriveOutcome;
use tower_gare::scopes::Scope;

/// The app name in the default token file's path.
const APP_NAME: &str = "tower-gare";

/// The scopes the Globus CLI asks for on a service's behalf (globus-cli
/// 3.44's `CLI_SCOPE_REQUIREMENTS`, without dependent scopes): the Python
/// SDK's defaults, except that `globus api` may call any of Groups' and
/// Search's endpoints, so it asks for their `all`.
fn cli_scopes(service: Service) -> Vec<Scope> {
    match service {
        // A name of our own: `scope` refuses only malformed ones.
        Service::GROUPS | Service::SEARCH => service.scope("all").into_iter().collect(),
        _ => service.default_scopes(),
    }
}

fn command() -> Command {
    Command::new("globus_api")
        .about("One request to a Globus service, with its tokens, as `globus api` does")
        .arg(Arg::new("SERVICE").required_unless_present("logout"))
        .arg(Arg::new("METHOD").required_unless_present("logout"))
        .arg(Arg::new("PATH").required_unless_present("logout"))
        .arg(
            Arg::new("query-param")
                .short('Q')
                .long("query-param")
                .value_name("KEY=VALUE")
                .action(ArgAction::Append),
        )
        .arg(
            Arg::new("header")
                .short('H')
                .long("header")
                .value_name("'Key: Value'")
                .action(ArgAction::Append),
        )
        .arg(Arg::new("body").long("body").value_name("TEXT"))
        .arg(
            Arg::new("scope-string")
                .long("scope-string")
                .value_name("SCOPE")
                .action(ArgAction::Append),
        )
        .arg(Arg::new("token-file").long("token-file").value_name("PATH"))
        .arg(
            Arg::new("refresh-tokens")
                .long("refresh-tokens")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("client-credentials")
                .long("client-credentials")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("local-server")
                .long("local-server")
                .action(ArgAction::SetTrue)
                .conflicts_with("no-login"),
        )
        .arg(
            Arg::new("no-login")
                .long("no-login")
                .action(ArgAction::SetTrue),
        )
        .arg(Arg::new("logout").long("logout").action(ArgAction::SetTrue))
}

/// A usage error: said on stderr, exit code 2.
fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("globus_api: {message}");
    ExitCode::from(2)
}

/// A login error: said on stderr, exit code 3.
fn login_failed(error: &(dyn std::error::Error + 'static)) -> ExitCode {
    eprintln!("globus_api: login failed: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
    ExitCode::from(3)
}

/// `path` under `base`, as `globus api` joins them: a Transfer path without
/// `/v0.10/` gets it, and a Groups path without `/v2/` gets it.
fn join(base: &str, service: Service, path: &str) -> String {
    let mut path = path.to_owned();
    let prefix = match service {
        Service::TRANSFER if !path.starts_with("/v0.10/") && !path.starts_with("/v2/") => {
            Some("v0.10/")
        }
        Service::GROUPS if !path.starts_with("/v2/") => Some("v2/"),
        _ => None,
    };
    if let Some(prefix) = prefix {
        path = format!("/{prefix}{}", path.trim_start_matches('/'));
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

fn main() -> ExitCode {
    let args = match command().try_get_matches() {
        Ok(args) => args,
        Err(error) if !error.use_stderr() => {
            // --help, --version
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return usage(format!("cannot start the runtime: {error}")),
    };
    runtime.block_on(run(args))
}

async fn run(args: ArgMatches) -> ExitCode {
    let Ok(client_id) = std::env::var("GLOBUS_CLIENT_ID") else {
        return usage("set GLOBUS_CLIENT_ID to the app's client id");
    };
    let client_secret = std::env::var("GLOBUS_CLIENT_SECRET").ok();
    let token_file = match args.get_one::<String>("token-file") {
        Some(path) => PathBuf::from(path),
        None => match JsonFileTokenStore::default_path(&client_id, APP_NAME) {
            Ok(path) => path,
            Err(error) => return usage(format!("no default token file: {error}")),
        },
    };
    let flag = |name: &str| args.get_flag(name);
    let prompt: Box<dyn PromptChoice> = if flag("no-login") {
        Box::new(NeverPrompt)
    } else if flag("local-server") {
        match LoopbackPrompt::bind(0) {
            Ok(prompt) => Box::new(prompt),
            Err(error) => return login_failed(&error),
        }
    } else {
        Box::new(CommandLinePrompt::new())
    };
    prompt
        .run(&args, client_id, client_secret, token_file)
        .await
}

/// The prompt is a type parameter of `Login`: one program path per prompt.
trait PromptChoice {
    fn run<'a>(
        self: Box<Self>,
        args: &'a ArgMatches,
        client_id: String,
        client_secret: Option<String>,
        token_file: PathBuf,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ExitCode> + 'a>>;
}

impl<P: Prompt> PromptChoice for P {
    fn run<'a>(
        self: Box<Self>,
        args: &'a ArgMatches,
        client_id: String,
        client_secret: Option<String>,
        token_file: PathBuf,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ExitCode> + 'a>> {
        Box::pin(with_prompt(
            *self,
            args,
            client_id,
            client_secret,
            token_file,
        ))
    }
}

async fn with_prompt<P: Prompt>(
    prompt: P,
    args: &ArgMatches,
    client_id: String,
    client_secret: Option<String>,
    token_file: PathBuf,
) -> ExitCode {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);

    // `openid` brings an ID token: the identity the tokens are stored under,
    // so a login as someone else is refused (the Python SDK's check).
    let mut builder = Login::builder(client_id)
        .scopes(["openid"])
        .token_store(JsonFileTokenStore::new(token_file))
        .prompt(prompt);
    if let Some(secret) = client_secret {
        builder = builder.client_secret(secret);
    }
    if args.get_flag("client-credentials") {
        builder = builder.client_credentials();
    }
    if args.get_flag("refresh-tokens") {
        builder = builder.refresh_tokens(RefreshTokens::GlobusAccessType);
    }

    if args.get_flag("logout") {
        let login = match builder.build(http) {
            Ok(login) => login,
            Err(error) => return usage(error),
        };
        return match login.logout().await {
            Ok(()) => {
                eprintln!("globus_api: logged out; the stored tokens were revoked and removed");
                ExitCode::SUCCESS
            }
            Err(error) => login_failed(&error),
        };
    }

    let name = args.get_one::<String>("SERVICE").map_or("", String::as_str);
    let Some(service) = Service::named(name) else {
        return usage(format!(
            "unknown service {name:?}: use auth, groups, transfer, search, flows, timers or compute"
        ));
    };
    let resource_server = service.resource_server();
    let extra = args
        .get_many::<String>("scope-string")
        .into_iter()
        .flatten()
        .map(String::as_str);
    builder = builder.scope_requirements(
        resource_server,
        cli_scopes(service)
            .into_iter()
            .map(String::from)
            .chain(extra.map(String::from)),
    );
    let request = match build_request(args, service) {
        Ok(request) => request,
        Err(message) => return usage(message),
    };
    // The request goes to the service named on the command line, whatever
    // its path (services may share a base URL, as on a local fake).
    let uri = request.uri();
    let url = format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("https"),
        uri.authority().map_or("", |a| a.as_str()),
        uri.path()
    );
    builder = builder.resource_servers(ResourceServers::new().with(&url, resource_server));
    let login = match builder.build(http.clone()) {
        Ok(login) => login,
        Err(error) => return usage(error),
    };

    let client = ServiceBuilder::new().layer(login.layer()).service(http);
    let response = match client.oneshot(request).await {
        Ok(response) => response,
        Err(error) => {
            if let Some(login_error) = error.downcast_ref::<LoginError>() {
                return login_failed(login_error);
            }
            eprintln!("globus_api: the request failed: {error}");
            return ExitCode::from(1);
        }
    };

    let status = response.status();
    let outcome = RedriveOutcome::of(&response).cloned();
    let gare = response.extensions().get::<Gare>().cloned();
    eprintln!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    match &outcome {
        Some(RedriveOutcome::ReauthFailed(error)) => {
            eprintln!("tower-gare: the login the response asked for failed: {error}");
        }
        Some(outcome) => eprintln!("tower-gare: {outcome:?}"),
        None => {}
    }
    if let Some(gare) = gare.filter(|_| !status.is_success()) {
        eprintln!("tower-gare: still required: {}", gare.to_value(false));
    }
    let body = match response.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            eprintln!("globus_api: reading the response failed: {error}");
            return ExitCode::from(1);
        }
    };
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&body);
    if !body.ends_with(b"\n") {
        let _ = stdout.write_all(b"\n");
    }
    if let Some(RedriveOutcome::ReauthFailed(_)) = outcome {
        return ExitCode::from(3);
    }
    if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn build_request(args: &ArgMatches, service: Service) -> Result<Request<Full<Bytes>>, String> {
    let base = service.base_url().map_err(|e| e.to_string())?;
    let path = args.get_one::<String>("PATH").map_or("/", String::as_str);
    let mut url = join(&base, service, path);
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for pair in args.get_many::<String>("query-param").into_iter().flatten() {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--query-param {pair:?} is not KEY=VALUE"))?;
        query.append_pair(key, value);
        any = true;
    }
    if any {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query.finish());
    }
    let uri: Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
    let method_name = args
        .get_one::<String>("METHOD")
        .map_or("GET", String::as_str);
    let method = Method::from_bytes(method_name.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("bad method {method_name:?}"))?;
    let body = args.get_one::<String>("body").cloned().unwrap_or_default();
    let json = serde_json::from_str::<serde_json::Value>(&body).is_ok();
    let mut request = Request::builder().method(method).uri(uri);
    if !body.is_empty() && json {
        request = request.header(http::header::CONTENT_TYPE, "application/json");
    }
    let mut request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    for header in args.get_many::<String>("header").into_iter().flatten() {
        let (key, value) = header
            .split_once(':')
            .ok_or_else(|| format!("--header {header:?} is not 'Key: Value'"))?;
        let key = HeaderName::from_bytes(key.trim().as_bytes())
            .map_err(|_| format!("bad header name in {header:?}"))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("bad header value in {header:?}"))?;
        request.headers_mut().insert(key, value);
    }
    Ok(request)
}
