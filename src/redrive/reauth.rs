//! The reauthenticator: what the engine asks for each request's
//! credentials before it is sent ([`Reauthenticator::credentials`]) and for
//! new ones when a response asks for more ([`Reauthenticator::reauthenticate`]);
//! what it is told ([`ReauthContext`], [`Outgoing`], [`User`]) and how it
//! fails ([`ReauthError`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

use super::{Credentials, Origin};
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

    /// The credentials step: what goes on `request` before it is sent.
    /// The engine asks this of every request, and makes the inner service
    /// ready only once the answer is in hand, so a request waiting for a
    /// login holds none of its capacity.
    ///
    /// The default, [`Attach::Remembered`], is for a reauthenticator that
    /// keeps no tokens (a closure): the engine remembers what
    /// [`reauthenticate`](Reauthenticator::reauthenticate) returned, per
    /// user, origin and path prefix, and puts it on later requests. A
    /// reauthenticator that keeps its own tokens (a
    /// [`Login`](crate::login::Login)) answers from them: ready, wait for a
    /// refresh or a login, or none (the request goes as the caller made it).
    ///
    /// ```
    /// use http::{HeaderMap, Method, Uri};
    /// use tower_gare::redrive::{Attach, Credentials, Outgoing, ReauthContext, Reauthenticator};
    ///
    /// struct ApiKey;
    /// impl Reauthenticator for ApiKey {
    ///     type Error = std::convert::Infallible;
    ///     async fn reauthenticate(&self, _cx: ReauthContext) -> Result<Credentials, Self::Error> {
    ///         Ok(Credentials::bearer("k-2").unwrap())
    ///     }
    ///     fn credentials(&self, request: &Outgoing<'_>) -> Attach {
    ///         match request.uri().host() {
    ///             Some("api.example.org") => Attach::Ready(Credentials::bearer("k-1").unwrap()),
    ///             _ => Attach::None,
    ///         }
    ///     }
    /// }
    ///
    /// let (method, headers) = (Method::GET, HeaderMap::new());
    /// let uri = Uri::from_static("https://api.example.org/x");
    /// assert!(matches!(ApiKey.credentials(&Outgoing::new(&method, &uri, &headers)), Attach::Ready(_)));
    /// let elsewhere = Uri::from_static("https://other.example.org/x");
    /// assert!(matches!(ApiKey.credentials(&Outgoing::new(&method, &elsewhere, &headers)), Attach::None));
    /// ```
    fn credentials(&self, request: &Outgoing<'_>) -> Attach {
        let _ = request;
        Attach::Remembered
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

    /// Whether this reauthenticator answers for requests to `uri` at all
    /// (default: every request). A GARE or a 401 from a request it does
    /// not serve is handed back as it came, with
    /// [`RedriveOutcome::Unmapped`](super::RedriveOutcome::Unmapped):
    /// [`reauthenticate`](Reauthenticator::reauthenticate) is not called.
    /// A [`Login`](crate::login::Login) serves the requests it maps to a
    /// resource server, and no other: a URL taken from an API response
    /// gets no login and no token.
    ///
    /// ```
    /// use http::Uri;
    /// use tower_gare::redrive::{Credentials, ReauthContext, Reauthenticator};
    ///
    /// struct OneApi;
    /// impl Reauthenticator for OneApi {
    ///     type Error = std::convert::Infallible;
    ///     async fn reauthenticate(&self, _cx: ReauthContext) -> Result<Credentials, Self::Error> {
    ///         Ok(Credentials::bearer("t").unwrap())
    ///     }
    ///     fn serves(&self, uri: &Uri) -> bool {
    ///         uri.host() == Some("api.example.org")
    ///     }
    /// }
    /// assert!(OneApi.serves(&Uri::from_static("https://api.example.org/x")));
    /// assert!(!OneApi.serves(&Uri::from_static("https://elsewhere.example.org/x")));
    /// ```
    fn serves(&self, uri: &Uri) -> bool {
        let _ = uri;
        true
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

/// The answer of the credentials step ([`Reauthenticator::credentials`]).
///
/// ```
/// use tower_gare::redrive::{Attach, Credentials};
///
/// let ready = Attach::Ready(Credentials::bearer("t").unwrap());
/// assert!(format!("{ready:?}").starts_with("Ready"));
/// // A refresh or a login to wait for: a future, boxed (this is the rare path).
/// let wait = Attach::Wait(Box::pin(async { Ok(Credentials::bearer("new").unwrap()) }));
/// assert_eq!(format!("{wait:?}"), "Wait(..)");
/// ```
pub enum Attach {
    /// Put these on the request, now.
    Ready(Credentials),
    /// Wait for these (a refresh, a stored token, a login), then send. The
    /// inner service is made ready only after. An error fails the request
    /// through a layer that [boxes errors](super::GareRedriveLayer::box_errors)
    /// (a [`Login`](crate::login::Login)'s); through one that keeps the
    /// inner service's error type, the request goes as the caller made it.
    Wait(WaitForCredentials),
    /// Send the request as the caller made it. Any `Authorization` on it
    /// is the caller's own: a plain 401 to it refuses the caller's
    /// credentials, not the reauthenticator's, and is handed back as it
    /// came (a GARE is still reauthenticated for).
    None,
    /// What the engine remembered of this reauthenticator's credentials
    /// for the request's user, origin and path prefix, if anything (the
    /// default, for reauthenticators that keep no tokens).
    Remembered,
}

/// Credentials to wait for: [`Attach::Wait`]'s future.
pub type WaitForCredentials =
    Pin<Box<dyn Future<Output = Result<Credentials, BoxError>> + Send + 'static>>;

impl fmt::Debug for Attach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attach::Ready(credentials) => f.debug_tuple("Ready").field(credentials).finish(),
            Attach::Wait(_) => f.write_str("Wait(..)"),
            Attach::None => f.write_str("None"),
            Attach::Remembered => f.write_str("Remembered"),
        }
    }
}

/// A request about to be sent, as the credentials step sees it: method,
/// URI, headers (to leave alone a request that carries its own
/// `Authorization`), and whose it is.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    user: Option<&'a User>,
}

impl<'a> Outgoing<'a> {
    /// A request with these parts, made for the program's own user.
    ///
    /// ```
    /// use http::{HeaderMap, Method, Uri};
    /// use tower_gare::redrive::{Outgoing, User};
    ///
    /// let (method, headers) = (Method::GET, HeaderMap::new());
    /// let uri = Uri::from_static("https://transfer.api.globus.org/v0.10/task_list");
    /// let alice = User::new("alice");
    /// let request = Outgoing::new(&method, &uri, &headers).for_user(Some(&alice));
    /// assert_eq!(request.user().map(User::id), Some("alice"));
    /// assert_eq!(request.uri().path(), "/v0.10/task_list");
    /// ```
    pub fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        Outgoing {
            method,
            uri,
            headers,
            user: None,
        }
    }

    /// The same request, made for `user` (`None`: the program's own).
    pub fn for_user(mut self, user: Option<&'a User>) -> Self {
        self.user = user;
        self
    }

    /// The method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The headers, as the caller set them.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// Whose request it is: the [`User`] in its extensions, if any.
    pub fn user(&self) -> Option<&'a User> {
        self.user
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
/// Whose request this is, put in the request's extensions by a program that
/// acts for many people (a science gateway calling Globus for each person
/// signed in to it). Credentials, refreshes and logins are kept apart per
/// user: no user's token ever serves another user's request. A request
/// without one is the program's own (one user, as a command-line tool).
///
/// ```
/// use tower_gare::redrive::User;
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(User::new("alice@example.org"));
/// assert_eq!(request.extensions().get::<User>().unwrap().id(), "alice@example.org");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct User(Arc<str>);

impl User {
    /// The user with this id: any string that names one person to the
    /// program (a session's subject, an account id). A
    /// [`Login`](crate::login::Login) keeps their tokens under
    /// [`namespace`](User::namespace).
    pub fn new(id: impl AsRef<str>) -> Self {
        User(Arc::from(id.as_ref()))
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.0
    }

    /// The token store namespace a [`Login`](crate::login::Login) keeps
    /// this user's tokens under: `user:` and the id. The prefix keeps every
    /// user apart from the program's own tokens (the Python SDK's
    /// `DEFAULT` namespace), and two ids never share a namespace.
    ///
    /// ```
    /// use tower_gare::redrive::User;
    ///
    /// assert_eq!(User::new("alice").namespace(), "user:alice");
    /// assert_ne!(User::new("DEFAULT").namespace(), "DEFAULT");
    /// ```
    pub fn namespace(&self) -> String {
        format!("user:{}", self.id())
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("User").field(&self.id()).finish()
    }
}

/// Why a reauthentication failed, shared by every request that waited on it.
#[derive(Clone)]
pub struct ReauthError {
    source: Arc<dyn std::error::Error + Send + Sync>,
}

impl ReauthError {
    pub(crate) fn new(source: Box<dyn std::error::Error + Send + Sync>) -> Self {
        ReauthError {
            source: Arc::from(source),
        }
    }

    pub(crate) fn panicked() -> Self {
        ReauthError::new("the reauthenticator panicked".into())
    }

    pub(crate) fn timed_out(limit: std::time::Duration) -> Self {
        ReauthError::new(format!("the reauthenticator did not finish within {limit:?}").into())
    }

    pub(crate) fn no_timer(limit: std::time::Duration) -> Self {
        ReauthError::new(
            format!(
                "no tokio runtime with timers is running to keep the reauth_timeout \
                 ({limit:?}): build the runtime with enable_time()"
            )
            .into(),
        )
    }

    pub(crate) fn did_not_help() -> Self {
        ReauthError::new(
            "the reauthentication did not help: its retry met the same requirements again".into(),
        )
    }

    /// The reauthenticator's own error.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }
}

impl fmt::Debug for ReauthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReauthError").field(&self.source).finish()
    }
}

impl fmt::Display for ReauthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reauthentication failed: {}", self.source)
    }
}

impl std::error::Error for ReauthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}
