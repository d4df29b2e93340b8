//! Logs in to the real Globus Auth and lists a Transfer collection, handling
//! GAREs: the Rust take on the Python SDK user guide's
//! `ls_with_session_handling.py`.
//!
//! What it shows: a `Login` (command-line prompt, tokens kept in a file)
//! and its one layer, `login.layer()`, on an HTTPS hyper-util client: the
//! first request gets its token (stored, refreshed, or from a login).
//! When the collection needs consent (`ConsentRequired`, its `data_access`
//! scope) or a session (`session_required_single_domain`, MFA, ...) the
//! layer logs the user in with exactly those requirements and lists again.
//!
//! Run (needs the internet and a native app client id registered at
//! <https://app.globus.org/settings/developers>):
//!
//! ```sh
//! GLOBUS_CLIENT_ID=<native client id> COLLECTION_ID=<collection id> \
//!     cargo run --example globus_login -- /~/
//! ```
//!
//! `GLOBUS_SDK_ENVIRONMENT` and `GLOBUS_SDK_SERVICE_URL_*` work as in the
//! Python SDK.

use std::error::Error;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};
use tower_gare::gare::Gare;
use tower_gare::login::{environment, JsonFileTokenStore, Login};
use tower_gare::redrive::RedriveOutcome;

const TRANSFER_ALL: &str = "urn:globus:auth:scope:transfer.api.globus.org:all";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let (Ok(client_id), Ok(collection)) = (
        std::env::var("GLOBUS_CLIENT_ID"),
        std::env::var("COLLECTION_ID"),
    ) else {
        eprintln!("set GLOBUS_CLIENT_ID (a native app client id) and COLLECTION_ID; see the header of this file");
        std::process::exit(2);
    };
    let path = std::env::args().nth(1).unwrap_or_else(|| "/~/".to_owned());

    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);

    let token_file = std::env::var("HOME")
        .map(|h| format!("{h}/.tower-gare-example-tokens.json"))
        .unwrap_or_else(|_| "tokens.json".into());
    let login = Login::builder(client_id)
        .scopes(["openid", TRANSFER_ALL])
        .token_store(JsonFileTokenStore::new(token_file))
        .build(http.clone())?;

    let transfer = environment::service_url("transfer")?;
    let path_query = form_urlencoded::Serializer::new(String::new())
        .append_pair("path", &path)
        .finish();
    let uri: Uri =
        format!("{transfer}v0.10/operation/endpoint/{collection}/ls?{path_query}").parse()?;

    // The layer gives the request its token (a stored one, or a login),
    // and answers a GARE with one login and one retry.
    let client = login.layer().layer(http);
    let request = Request::get(uri).body(Full::new(Bytes::new()))?;
    let response = client.oneshot(request).await?;
    let status = response.status();
    let outcome = response.extensions().get::<RedriveOutcome>().cloned();
    let gare = response.extensions().get::<Gare>().cloned();
    let body = response.into_body().collect().await?.to_bytes();

    if let Some(outcome) = &outcome {
        eprintln!("tower-gare: {outcome:?}");
    }
    if !status.is_success() {
        eprintln!("ls failed: {status}");
        if let Some(gare) = gare {
            eprintln!("still needs: {}", gare.to_value(false));
        }
        eprintln!("{}", String::from_utf8_lossy(&body));
        std::process::exit(1);
    }
    let listing: serde_json::Value = serde_json::from_slice(&body)?;
    for entry in listing["DATA"].as_array().into_iter().flatten() {
        println!(
            "{:4} {}",
            entry["type"].as_str().unwrap_or("?"),
            entry["name"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}
