//! The wire to the authorization server: the authorize URL, the token
//! endpoint's grants (code exchange, refresh, client credentials),
//! revocation, token responses, and the HTTP client they go over.

mod authorize;
mod client;
mod endpoint;
mod response;

pub use authorize::{AuthorizeRequest, RefreshTokens};
pub use client::{IntoTokenClient, TokenClient, ViaTower};
#[cfg(feature = "reqwest")]
pub use client::{ReqwestClient, ViaReqwest};
pub(crate) use endpoint::TokenEndpoint;
// For `Login`, which is being moved onto `TokenEndpoint` (unused until then).
#[allow(unused_imports)]
pub(crate) use {
    endpoint::DEFAULT_TIMEOUT,
    response::{parse_token_response, TokenResponse},
};

/// Not public API, and not covered by semver: the wire's crate-private
/// parts, for the crate's own fuzz target (`fuzz/fuzz_targets/token_response.rs`)
/// and end-to-end tests (`tests/wire_oidc.rs`), which are compiled outside
/// the crate and so cannot reach `pub(crate)` items.
#[doc(hidden)]
pub mod __private {
    pub use super::endpoint::{TokenEndpoint, DEFAULT_TIMEOUT};
    pub use super::response::{parse_token_response, TokenResponse};

    use crate::gare::Gare;
    use crate::login::{AuthorizeRequest, LoginError, RefreshTokens, Secret};

    /// [`AuthorizeRequest`]'s crate-private constructor: the request and
    /// its PKCE verifier.
    pub fn authorize_request(
        authorize_endpoint: &str,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
        gare: &Gare,
        refresh_tokens: &RefreshTokens,
    ) -> Result<(AuthorizeRequest, Secret), LoginError> {
        AuthorizeRequest::build(
            authorize_endpoint,
            client_id,
            redirect_uri,
            scope,
            gare,
            refresh_tokens,
        )
    }
}
