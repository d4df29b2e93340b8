//! The reauthenticator: what the layer calls to get new credentials.

use std::future::Future;

use http::header::AUTHORIZATION;
use http::{HeaderValue, Method, StatusCode, Uri};

use super::{Credentials, Origin, User};
use crate::gare::Gare;

/// The boxed error type reauthenticators' errors turn into (tower's own).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Gets new credentials that satisfy a GARE: runs a login, asks a token
/// service, or (in tests) returns a scripted token.
///
/// Closures `Fn(ReauthContext) -> impl Future<Output = Result<Credentials, E>>`
/// are reauthenticators:
///
/// ```
/// use http::{Method, StatusCode, Uri};
/// use tower_gare::gare::{AuthorizationParameters, Gare};
/// use tower_gare::redrive::{Credentials, ReauthContext, Reauthenticator};
///
/// let reauthenticator = |cx: ReauthContext| async move {
///     let scopes = cx.gare().authorization_parameters.required_scopes.clone().unwrap_or_default();
///     // ... log in with `scopes` ...
///     Credentials::bearer(format!("token-for-{}", scopes.join("+")))
/// };
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let gare = Gare::new("ConsentRequired", AuthorizationParameters {
///     required_scopes: Some(vec!["a".into(), "b".into()]),
///     ..Default::default()
/// });
/// let cx = ReauthContext::new(gare, Method::GET, Uri::from_static("https://x.org/"), StatusCode::FORBIDDEN);
/// let credentials = reauthenticator.reauthenticate(cx).await.unwrap();
/// assert_eq!(credentials, Credentials::bearer("token-for-a+b").unwrap());
/// # });
/// ```
///
/// The layer calls it at most once for any number of concurrent requests
/// that hit the same requirements at the same origin. A reauthenticator that
/// fails or panics leaves the caller with the original response.
pub trait Reauthenticator: Send + Sync + 'static {
    /// The reauthenticator's error.
    type Error: Into<BoxError>;

    /// New credentials for the request described by `cx`.
    fn reauthenticate(
        &self,
        cx: ReauthContext,
    ) -> impl Future<Output = Result<Credentials, Self::Error>> + Send;

    /// Whether this reauthenticator puts its tokens on requests itself (a
    /// [`Login`](crate::login::Login), through its attaching layer inside
    /// the redrive layer). Then the layer puts the credentials it is given
    /// on the retry only, and remembers none: each request gets its own
    /// resource server's token from the reauthenticator. Default: no, the
    /// layer remembers them (see [`Credentials::for_path_prefix`]).
    fn attaches_credentials(&self) -> bool {
        false
    }

    /// What else requests must share, besides their user, origin and
    /// requirements, to share one reauthentication and its credentials. A
    /// reauthenticator that hands out a different token per resource
    /// server (a [`Login`](crate::login::Login)) names the request's
    /// resource server here, so requests to two resource servers on one
    /// origin, refused at once, never get each other's token. Default:
    /// nothing more.
    fn partition(&self, cx: &ReauthContext) -> Option<String> {
        let _ = cx;
        None
    }
}

impl<F, Fut, E> Reauthenticator for F
where
    F: Fn(ReauthContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Credentials, E>> + Send,
    E: Into<BoxError>,
{
    type Error = E;

    fn reauthenticate(
        &self,
        cx: ReauthContext,
    ) -> impl Future<Output = Result<Credentials, Self::Error>> + Send {
        self(cx)
    }
}

/// What a reauthenticator knows of the request that needs it: the GARE, the
/// request's method, URI and origin, and the status it got. Not the
/// request's headers: they hold credentials ([`was_sent_with`] tells
/// whether they were a given set, without showing them).
///
/// [`was_sent_with`]: ReauthContext::was_sent_with
#[derive(Clone)]
pub struct ReauthContext {
    pub(crate) gare: Gare,
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) origin: Origin,
    pub(crate) status: StatusCode,
    pub(crate) sent_authorization: Option<HeaderValue>,
    pub(crate) user: Option<User>,
    pub(crate) token_rejected: bool,
}

impl std::fmt::Debug for ReauthContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReauthContext")
            .field("gare", &self.gare)
            .field("method", &self.method)
            // The origin and path only: a query or userinfo can carry secrets.
            .field("origin", &self.origin)
            .field("path", &self.uri.path())
            .field("status", &self.status)
            .field("user", &self.user)
            .field("token_rejected", &self.token_rejected)
            .finish_non_exhaustive()
    }
}

impl ReauthContext {
    /// A context, for testing reauthenticators on their own.
    ///
    /// ```
    /// use http::{Method, StatusCode, Uri};
    /// use tower_gare::gare::{AuthorizationParameters, Gare};
    /// use tower_gare::redrive::ReauthContext;
    ///
    /// let cx = ReauthContext::new(
    ///     Gare::new("ConsentRequired", AuthorizationParameters::default()),
    ///     Method::GET,
    ///     Uri::from_static("https://transfer.api.globus.org/v0.10/endpoint_search"),
    ///     StatusCode::FORBIDDEN,
    /// );
    /// assert_eq!(cx.origin().host(), "transfer.api.globus.org");
    /// ```
    pub fn new(gare: Gare, method: Method, uri: Uri, status: StatusCode) -> Self {
        let origin = Origin::from_uri(&uri);
        ReauthContext {
            gare,
            method,
            uri,
            origin,
            status,
            sent_authorization: None,
            user: None,
            token_rejected: false,
        }
    }

    /// The same context, for a request made for `user` (see [`User`]).
    pub fn for_user(mut self, user: User) -> Self {
        self.user = Some(user);
        self
    }

    /// Whose request it was: the [`User`] in its extensions, if any.
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// Whether this is a plain refusal of the token the request carried
    /// (a 401 with RFC 6750 `invalid_token`, Globus `AuthenticationFailed`,
    /// or no challenge at all) rather than a GARE: the token expired or was
    /// revoked, so refreshing it (or logging in again) is what it takes.
    /// The [`gare`](ReauthContext::gare) then has the code
    /// `AuthenticationFailed` and no requirements.
    pub fn is_token_rejected(&self) -> bool {
        self.token_rejected
    }

    /// Whether the refused request carried these credentials' `Authorization`
    /// (so handing them out again would be refused again). A context made
    /// by [`ReauthContext::new`] was sent with none.
    ///
    /// ```
    /// use http::{Method, StatusCode, Uri};
    /// use tower_gare::gare::{AuthorizationParameters, Gare};
    /// use tower_gare::redrive::{Credentials, ReauthContext};
    ///
    /// let cx = ReauthContext::new(
    ///     Gare::new("ConsentRequired", AuthorizationParameters::default()),
    ///     Method::GET,
    ///     Uri::from_static("https://example.org/"),
    ///     StatusCode::FORBIDDEN,
    /// );
    /// assert!(!cx.was_sent_with(&Credentials::bearer("old").unwrap()));
    /// ```
    pub fn was_sent_with(&self, credentials: &Credentials) -> bool {
        match (
            &self.sent_authorization,
            credentials.header_value(&AUTHORIZATION),
        ) {
            (Some(sent), Some(ours)) => sent.as_bytes() == ours.as_bytes(),
            _ => false,
        }
    }

    /// The requirements to satisfy.
    pub fn gare(&self) -> &Gare {
        &self.gare
    }

    /// The method of the request that got the GARE.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URI of the request that got the GARE.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The origin the new credentials will be used for.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The status the GARE came with (401, 403, 502, ...).
    pub fn status(&self) -> StatusCode {
        self.status
    }
}
