//! The Python SDK user guide's `ls_with_session_handling.py`, in Rust:
//! lists a folder of a Transfer collection, logging in as the person must
//! on the way. Python catches the session error and logs in again by
//! hand; here `login.layer()` does: a GARE (Transfer's 403
//! `ConsentRequired`, or its 502 `ExternalError.DirListingFailed.LoginFailed`
//! with `session_required_single_domain`) brings one login with exactly
//! those requirements (a session one with `prompt=login`), then the same
//! `ls` once more.
//!
//! ```sh
//! GLOBUS_CLIENT_ID=<native app client id> COLLECTION_ID=<collection id> \
//!     cargo run --example ls_with_session_handling --features rustls -- /~/
//! ```
//!
//! - The client is `GLOBUS_CLIENT_ID`, a native app's (register one at
//!   <https://app.globus.org/settings/developers>); the collection is
//!   `COLLECTION_ID`, a mapped collection whose `data_access` scope Transfer
//!   wants consent for; the one argument is the path (default `/~/`).
//! - The app is `ls-session`, as in the guide: the tokens live in
//!   `GlobusApp`'s token file for it (`~/.globus/app/<client id>/ls-session/tokens.json`),
//!   so this program and the guide's Python share one login.
//! - The login is at the command line: its URL on stderr, the code Globus
//!   Auth's page shows read from stdin.
//! - `GLOBUS_SDK_ENVIRONMENT` and `GLOBUS_SDK_SERVICE_URL_AUTH` /
//!   `_TRANSFER` choose the services, as in the Python SDK.
//! - stdout gets the names, one a line, a `/` after a folder's. Exit
//!   codes (those of `globus_api`): 0 on success, 1 on an HTTP error
//!   status, 2 on a usage error, 3 on a login error.

use std::io::Write;
use std::process::ExitCode;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};
use tower_gare::gare::Gare;
use tower_gare::globus::Service;
use tower_gare::https;
use tower_gare::login::{Login, LoginError};
use tower_gare::redrive::RedriveOutcome;

/// The guide's app name: the folder of the token file.
const APP_NAME: &str = "ls-session";

/// A usage error: said on stderr, exit code 2.
fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("ls_with_session_handling: {message}");
    eprintln!("usage: GLOBUS_CLIENT_ID=<client id> COLLECTION_ID=<collection id> ls_with_session_handling [PATH]");
    ExitCode::from(2)
}

/// A login error: said on stderr with its causes, exit code 3.
fn login_failed(error: &(dyn std::error::Error + 'static)) -> ExitCode {
    eprintln!("ls_with_session_handling: login failed: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
    ExitCode::from(3)
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return usage(format!("cannot start the runtime: {error}")),
    };
    runtime.block_on(run())
}

async fn run() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "/~/".to_owned());
    if args.next().is_some() {
        return usage("one PATH at most");
    }
    if path == "-h" || path == "--help" {
        println!("usage: GLOBUS_CLIENT_ID=<client id> COLLECTION_ID=<collection id> ls_with_session_handling [PATH]");
        return ExitCode::SUCCESS;
    }
    let Ok(client_id) = std::env::var("GLOBUS_CLIENT_ID") else {
        return usage("set GLOBUS_CLIENT_ID to the app's client id");
    };
    let Ok(collection) = std::env::var("COLLECTION_ID") else {
        return usage("set COLLECTION_ID to the collection's id");
    };
    let transfer = match Service::TRANSFER.base_url() {
        Ok(url) => url,
        Err(error) => return usage(error),
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("path", &path)
        .finish();
    let url = format!(
        "{}/v0.10/operation/endpoint/{collection}/ls?{query}",
        transfer.trim_end_matches('/')
    );
    let uri: Uri = match url.parse() {
        Ok(uri) => uri,
        Err(error) => return usage(format!("bad Transfer URL {url:?}: {error}")),
    };

    let http = match https::client() {
        Ok(http) => http,
        Err(error) => {
            eprintln!("ls_with_session_handling: no TLS: {error}");
            return ExitCode::from(1);
        }
    };
    // `UserApp("ls-session", client_id=...)`: GlobusApp's token file for
    // the app name, the command-line prompt, and `openid` on every login
    // (the ID token names whose tokens the file holds; a login as someone
    // else is refused, as `GlobusApp` refuses it). Globus Auth and
    // Transfer are the environment's (`GLOBUS_SDK_SERVICE_URL_*`).
    let login = match Login::globus_app(APP_NAME, client_id) {
        Ok(builder) => builder.build(http.clone()),
        Err(error) => return usage(format!("no token file: {error}")),
    };
    let login = match login {
        Ok(login) => login,
        Err(error) => return usage(error),
    };
    // Transfer's `all` with the collection's `data_access` under it, as
    // `TransferClient.add_app_data_access_scope(collection)`: a mapped
    // collection wants that consent before it lists anything. The id goes
    // into the scope and the URL: it must be a UUID.
    if let Err(error) = login.add_data_access_scope(&collection) {
        return usage(format!("COLLECTION_ID: {error}"));
    }

    // The layer attaches the Transfer token (stored, or from a first
    // login), and answers a GARE with one login and one retry: the
    // guide's `except TransferAPIError` branch.
    let client = ServiceBuilder::new().layer(login.layer()).service(http);
    let request = match Request::get(uri).body(Full::new(Bytes::new())) {
        Ok(request) => request,
        Err(error) => return usage(error),
    };
    let response = match client.oneshot(request).await {
        Ok(response) => response,
        Err(error) => {
            // The first login (no token to attach yet) fails here.
            if let Some(login_error) = error.downcast_ref::<LoginError>() {
                return login_failed(login_error);
            }
            eprintln!("ls_with_session_handling: the request failed: {error}");
            return ExitCode::from(1);
        }
    };

    let status = response.status();
    let outcome = RedriveOutcome::of(&response).cloned();
    let gare = response.extensions().get::<Gare>().cloned();
    let body = match response.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            eprintln!("ls_with_session_handling: reading the response failed: {error}");
            return ExitCode::from(1);
        }
    };
    // A login the GARE asked for failed: the GARE's response comes back
    // with the error beside it.
    if let Some(RedriveOutcome::ReauthFailed(error)) = &outcome {
        return login_failed(error);
    }
    if !status.is_success() {
        eprintln!(
            "ls_with_session_handling: Transfer answered {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        if let Some(gare) = gare {
            eprintln!("still required: {}", gare.to_value(false));
        }
        eprintln!("{}", String::from_utf8_lossy(&body).trim_end());
        return ExitCode::from(1);
    }

    let listing: Value = match serde_json::from_slice(&body) {
        Ok(listing) => listing,
        Err(error) => {
            eprintln!("ls_with_session_handling: Transfer's answer is not JSON: {error}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for entry in listing["DATA"].as_array().into_iter().flatten() {
        let Some(name) = entry["name"].as_str() else {
            continue;
        };
        let slash = if entry["type"] == "dir" { "/" } else { "" };
        // A closed stdout (`| head`) ends the listing, not the program.
        if writeln!(out, "{name}{slash}").is_err() {
            break;
        }
    }
    let _ = out.flush();
    ExitCode::SUCCESS
}
