//! A real [`Reauthenticator`](crate::redrive::Reauthenticator): OAuth2
//! authorization code with PKCE, shaped by the GARE.
//!
//! ```no_run
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use tower::ServiceBuilder;
//! use tower_gare::login::{JsonFileTokenStore, Login, LoopbackPrompt};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // One client for the token exchange, the same kind for the API calls.
//! let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
//! let login = Login::builder(std::env::var("GLOBUS_CLIENT_ID")?)
//!     .scopes(["openid", "urn:globus:auth:scope:transfer.api.globus.org:all"])
//!     .prompt(LoopbackPrompt::bind(0)?)
//!     .token_store(JsonFileTokenStore::new("tokens.json"))
//!     .build(http.clone())?;
//! // One layer: each request gets its resource server's token (held,
//! // refreshed, or from a login), and GAREs and refused tokens are
//! // answered with one login and one retry.
//! let client = ServiceBuilder::new().layer(login.layer()).service(http);
//! # let _ = client; Ok(()) }
//! ```
//!
//! What a login sends, from the GARE:
//! - `scope`: the GARE's `required_scopes` merged with the login's own
//!   scopes (bracket-aware, no duplicates, see [`scopes`](crate::scopes));
//! - `session_required_identities`, `session_required_single_domain`,
//!   `session_required_policies` (comma-joined; empty lists left out),
//!   `session_required_mfa=true`, `session_message`;
//! - `prompt`: the GARE's, or `login` when it has session requirements;
//! - from a `WWW-Authenticate` challenge: `acr_values`, `max_age`, `claims`.
//!
//! Every secret a login handles (the client secret, the authorization
//! code, the PKCE verifier, the access tokens) is kept in a [`Secret`],
//! whose `Debug` never shows it; [`LoginError`]'s messages hold none.
//!
//! Globus Auth is found as the Python SDK finds it ([`environment`]):
//! `GLOBUS_SDK_ENVIRONMENT` picks the environment and
//! `GLOBUS_SDK_SERVICE_URL_AUTH` overrides the URL.

mod app;
mod builder;
pub mod environment;
mod error;
mod prompts;
mod resource;
mod secret;
mod tokens;
mod wire;

pub use app::{Login, LoginLayer};
pub use builder::{LoginBuilder, LoginConfigError, DEFAULT_REFRESH_MARGIN};
pub use error::LoginError;
pub use prompts::{AuthorizationResponse, CommandLinePrompt, LoopbackPrompt, NeverPrompt, Prompt};
pub use resource::ResourceServers;
pub use secret::Secret;
pub use tokens::{
    JsonFileTokenStore, MemoryTokenStore, StoreWarning, Token, TokenFileError, TokenStore,
    DEFAULT_NAMESPACE,
};
#[doc(hidden)]
pub use wire::__private;
pub use wire::{AuthorizeRequest, IntoTokenClient, RefreshTokens, TokenClient, ViaTower};
#[cfg(feature = "reqwest")]
pub use wire::{ReqwestClient, ViaReqwest};
