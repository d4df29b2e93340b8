//! HTTPS without assembling a connector (feature `rustls`): a hyper-util
//! client over rustls, ready for [`LoginBuilder::build`](crate::login::LoginBuilder::build)
//! and [`Login::layer`](crate::login::Login::layer), as the Python SDK's
//! clients come ready to call Globus.

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The client [`client`] makes: hyper-util's, over rustls, sending
/// `Full<Bytes>` bodies (what the login and its layer send).
pub type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A hyper-util client that speaks HTTPS (TLS 1.2 and 1.3, rustls with
/// the *ring* provider, the Mozilla root certificates of `webpki-roots`,
/// as the Python SDK trusts certifi's) and plain HTTP (which the login
/// sends tokens over only to loopback). Clones share one connection pool:
/// make one, give a clone to the login and put its layer on another.
///
/// ```
/// use tower_gare::https;
/// use tower_gare::login::Login;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let http = https::client()?;
/// let login = Login::builder("my-client-id").build(http.clone())?;
/// let client = tower::ServiceBuilder::new().layer(login.layer()).service(http);
/// # let _ = client; Ok(()) }
/// ```
///
/// The *ring* provider is named, not taken from the process: a program
/// whose dependencies also build aws-lc-rs (reqwest's default TLS) has no
/// process-wide default, and rustls would panic looking for one. The error
/// is rustls's, if *ring* offered no protocol version rustls deems safe.
pub fn client() -> Result<HttpsClient, rustls::Error> {
    let provider = rustls::crypto::ring::default_provider();
    let connector = HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}
