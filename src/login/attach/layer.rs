//! The attaching layer.

use std::fmt;

use tower_layer::Layer;

use super::AttachTokens;
use crate::login::Login;

/// Puts the [`Login`]'s token for each request's resource server (and
/// [`User`](crate::redrive::User)) on the request, refreshing it (or
/// logging in) first when it has none that is good for the refresh margin.
/// Made by [`Login::attach_layer`]; [`Login::layer`] stacks it inside the
/// redrive layer, which is where it belongs.
///
/// A request that already carries `Authorization` is left as it is. A
/// token is never put on a plain-`http` request to a host that is not
/// loopback, unless [`allow_plain_http`](AttachTokensLayer::allow_plain_http)
/// says so: such a request fails instead.
///
/// ```
/// use tower_gare::login::Login;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let login = Login::builder("client-id").auth_base_url("https://auth.globus.org").build(())?;
/// let layer = login.attach_layer();
/// assert!(format!("{layer:?}").contains("allow_plain_http: false"));
/// # Ok(()) }
/// ```
pub struct AttachTokensLayer<C, P, T> {
    login: Login<C, P, T>,
    allow_plain_http: bool,
}

impl<C, P, T> AttachTokensLayer<C, P, T> {
    pub(crate) fn new(login: Login<C, P, T>) -> Self {
        AttachTokensLayer {
            login,
            allow_plain_http: false,
        }
    }

    /// Whether tokens may go to plain-`http` URLs of hosts that are not
    /// loopback (default: no; loopback is always allowed, for local test
    /// servers).
    pub fn allow_plain_http(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }
}

impl<C, P, T> Clone for AttachTokensLayer<C, P, T> {
    fn clone(&self) -> Self {
        AttachTokensLayer {
            login: self.login.clone(),
            allow_plain_http: self.allow_plain_http,
        }
    }
}

impl<S, C, P, T> Layer<S> for AttachTokensLayer<C, P, T> {
    type Service = AttachTokens<S, C, P, T>;

    fn layer(&self, inner: S) -> Self::Service {
        AttachTokens::new(inner, self.login.clone(), self.allow_plain_http)
    }
}

impl<C, P, T> fmt::Debug for AttachTokensLayer<C, P, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachTokensLayer")
            .field("allow_plain_http", &self.allow_plain_http)
            .finish_non_exhaustive()
    }
}
