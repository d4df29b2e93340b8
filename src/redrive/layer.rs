//! The tower `Layer` and its settings, shared by every service it makes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use tower_layer::Layer;

use super::decide::Redriver;
use super::flight::Engine;
use super::{CloneBodyFn, GareRedrive, Reauthenticator, ReplayableBodies};

/// Wraps services with [`GareRedrive`]: on a GARE, reauthenticate and retry once.
///
/// Every service this layer makes, and every clone of them, shares one
/// engine: one credential memory and one reauthentication at a time per
/// set of requirements.
///
/// ```
/// use http::{Request, Response, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_gare::gare::{AuthorizationParameters, Gare};
/// use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext, RedriveOutcome};
///
/// let layer = GareRedriveLayer::new(|_cx: ReauthContext| async { Credentials::bearer("new-token") })
///     .trigger_statuses([StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN])
///     .response_cap(16 * 1024)
///     .replay_cap(1024 * 1024);
/// let settings = format!("{layer:?}");
/// assert!(settings.contains("triggers: {401, 403}"), "{settings}");
/// assert!(settings.contains("response_cap: 16384"), "{settings}");
/// assert!(settings.contains("replay_cap: 1048576"), "{settings}");
///
/// // A server that wants `new-token`: a consent GARE without it, on a 502
/// // for `/502` and on a 403 for any other path.
/// let service = ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|req: Request<String>| async move {
///         if req.headers().get("authorization").is_some_and(|v| v == "Bearer new-token") {
///             return Ok::<_, std::convert::Infallible>(Response::new(String::from("ok")));
///         }
///         let gare = Gare::new("ConsentRequired", AuthorizationParameters {
///             required_scopes: Some(vec!["transfer:all".into()]),
///             ..Default::default()
///         });
///         let status = match req.uri().path() {
///             "/502" => StatusCode::BAD_GATEWAY,
///             _ => StatusCode::FORBIDDEN,
///         };
///         Ok(gare.to_response_with_status(status))
///     });
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let get = |path: &str| Request::get(path).body(String::new()).unwrap();
/// // 502 is not one of this layer's triggers: the GARE comes back unread.
/// let response = service.clone().oneshot(get("/502")).await.unwrap();
/// assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
/// assert!(RedriveOutcome::of(&response).is_none());
/// // 403 is: new credentials, and the request sent again.
/// let response = service.oneshot(get("/files")).await.unwrap();
/// assert_eq!(response.status(), StatusCode::OK);
/// assert!(matches!(RedriveOutcome::of(&response), Some(RedriveOutcome::Redriven)));
/// # });
/// ```
pub struct GareRedriveLayer<R, P = ReplayableBodies, M = InnerErrors> {
    engine: Arc<Engine<R>>,
    settings: Settings,
    policy: P,
    mode: M,
}

impl<R: Reauthenticator> GareRedriveLayer<R> {
    /// A layer that calls `reauthenticator` when a response is a GARE. Triggers
    /// 401, 403 and 502; reads at most 64 KiB of a response body; records at
    /// most 64 KiB of a streaming request body for the replay.
    pub fn new(reauthenticator: R) -> Self {
        GareRedriveLayer {
            engine: Arc::new(Engine::new(reauthenticator)),
            settings: Settings::default(),
            policy: ReplayableBodies,
            mode: InnerErrors,
        }
    }
}

impl<R: Reauthenticator, P, M> GareRedriveLayer<R, P, M> {
    /// The statuses whose bodies are read for a GARE (default 401, 403, 502).
    /// Responses with any other status pass through unread.
    pub fn trigger_statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.settings.triggers = statuses.into_iter().collect();
        self
    }

    /// The trigger statuses after which a request is sent again whatever
    /// its method (default 401 and 403). After any other trigger status
    /// (502 by default) only idempotent methods are: GET, HEAD, OPTIONS,
    /// PUT, DELETE. A 401 or 403 is a refusal before anything was done;
    /// a 502 may come after the server acted on a POST, and sending it
    /// again could act twice. A request not sent again for this gets the
    /// original response, GARE attached, and
    /// [`RedriveOutcome::NotIdempotent`](super::RedriveOutcome::NotIdempotent);
    /// no reauthentication starts for it.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response, StatusCode};
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower_gare::gare::{AuthorizationParameters, Gare};
    /// use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext, RedriveOutcome};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// // A 502 GARE (as Transfer's `LoginFailed`) until the token comes.
    /// let server = service_fn(|req: Request<String>| async move {
    ///     if req.headers().contains_key("authorization") {
    ///         return Ok::<_, Infallible>(Response::new(String::from("created")));
    ///     }
    ///     let gare = Gare::new("ConsentRequired", AuthorizationParameters::default());
    ///     Ok(gare.to_response_with_status(StatusCode::BAD_GATEWAY))
    /// });
    /// let reauth = |_cx: ReauthContext| async { Credentials::bearer("t") };
    /// let post = || Request::post("https://api.example.org/").body(String::new()).unwrap();
    ///
    /// let client = GareRedriveLayer::new(reauth).layer(server);
    /// let response = client.oneshot(post()).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    /// assert!(matches!(RedriveOutcome::of(&response), Some(RedriveOutcome::NotIdempotent)));
    ///
    /// // This API's POSTs are safe to send twice: retry them after a 502 too.
    /// let layer = GareRedriveLayer::new(reauth).retry_any_method_on([
    ///     StatusCode::UNAUTHORIZED,
    ///     StatusCode::FORBIDDEN,
    ///     StatusCode::BAD_GATEWAY,
    /// ]);
    /// let response = layer.layer(server).oneshot(post()).await.unwrap();
    /// assert!(matches!(RedriveOutcome::of(&response), Some(RedriveOutcome::Redriven)));
    /// # });
    /// ```
    pub fn retry_any_method_on(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.settings.any_method = statuses.into_iter().collect();
        self
    }

    /// The most bytes of a trigger-status body read to look for a GARE
    /// (default 64 KiB). A larger body passes through whole, unparsed.
    pub fn response_cap(mut self, bytes: usize) -> Self {
        self.settings.response_cap = bytes;
        self
    }

    /// The longest reading a trigger-status body may take (default 10 s).
    /// Past it the response goes back as it is, not inspected, with
    /// [`RedriveOutcome::BodyTooSlow`](super::RedriveOutcome::BodyTooSlow):
    /// what was read, then the rest of the stream as it comes. A server
    /// that trickles its 502 never holds the caller's response back longer.
    ///
    /// The deadline needs a tokio runtime with timers; on one without, a
    /// body that is not all there at once is passed through the same way,
    /// with [`RedriveOutcome::NoTimer`](super::RedriveOutcome::NoTimer).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext};
    ///
    /// let layer = GareRedriveLayer::new(|_cx: ReauthContext| async { Credentials::bearer("t") })
    ///     .response_read_timeout(Duration::from_secs(2));
    /// assert!(format!("{layer:?}").contains("response_read_timeout: 2s"));
    /// ```
    pub fn response_read_timeout(mut self, limit: std::time::Duration) -> Self {
        self.settings.response_read_timeout = limit;
        self
    }

    /// The most bytes of a streaming request body
    /// ([`ReplayBody`](super::ReplayBody)) recorded for the replay (default
    /// 64 KiB). Bodies that clone cheaply are replayed whatever their size.
    pub fn replay_cap(mut self, bytes: usize) -> Self {
        self.settings.replay_cap = bytes;
        self
    }

    /// Whether `WWW-Authenticate` challenges (`insufficient_scope`, step-up,
    /// claims) count as requirements too (default: yes). The body GARE is
    /// read first; when both are present they are merged (see
    /// [`challenge::merge`](crate::challenge::merge)).
    pub fn header_challenges(mut self, enabled: bool) -> Self {
        self.settings.header_challenges = enabled;
        self
    }

    /// Whether a plain 401 on a request sent with a token (RFC 6750
    /// `invalid_token`, Globus `AuthenticationFailed`, or no challenge: the
    /// token expired or was revoked) is answered like a GARE: one
    /// reauthentication (a [`Login`](crate::login::Login) refreshes the
    /// token, or logs in if it has no refresh token) and one retry.
    /// Default: yes. The reauthenticator sees
    /// [`ReauthContext::is_token_rejected`](super::ReauthContext::is_token_rejected).
    ///
    /// ```
    /// use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext};
    ///
    /// let layer = GareRedriveLayer::new(|_cx: ReauthContext| async { Credentials::bearer("t") })
    ///     .rejected_tokens(false);
    /// assert!(format!("{layer:?}").contains("rejected_tokens: false"));
    /// ```
    pub fn rejected_tokens(mut self, enabled: bool) -> Self {
        self.settings.rejected_tokens = enabled;
        self
    }

    /// The longest a reauthentication may take (default: no limit). Past
    /// it, every request waiting on it gets its original response with
    /// `RedriveOutcome::ReauthFailed`, and the next GARE starts a new one.
    /// Without a limit, a reauthenticator that never finishes holds every
    /// request with the same requirements until their callers give up
    /// (a `tower::timeout` outside this layer).
    ///
    /// The limit needs a tokio runtime with timers: on one without, every
    /// reauthentication fails at once with `ReauthFailed` (an error that
    /// says so), where `tokio::time::timeout` would panic.
    pub fn reauth_timeout(mut self, limit: std::time::Duration) -> Self {
        self.settings.reauth_timeout = Some(limit);
        self
    }

    /// How long requirements stay quiet after a reauthentication for them
    /// failed, was cancelled, or did not help (its retry met the same
    /// requirements again: a server that answers every request with a
    /// GARE). Default: 10 s; zero turns it off. Meanwhile a request that
    /// meets them gets its original response with
    /// [`RedriveOutcome::ReauthFailed`](super::RedriveOutcome::ReauthFailed)
    /// carrying that same error, and the reauthenticator is not called: no
    /// storm of logins (each showing text the server chose) and no prompt
    /// asked again the moment the person cancelled it. Requirements are
    /// those of the single flight: the same user, origin and normalized
    /// GARE. At most 1,024 of them are kept quiet at once (those whose
    /// period is over go first, then the oldest).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext};
    ///
    /// let layer = GareRedriveLayer::new(|_cx: ReauthContext| async { Credentials::bearer("t") })
    ///     .reauth_quiet_period(Duration::from_secs(60));
    /// assert!(format!("{layer:?}").contains("reauth_quiet_period: 60s"));
    /// ```
    pub fn reauth_quiet_period(mut self, period: std::time::Duration) -> Self {
        self.settings.reauth_quiet_period = period;
        self
    }

    /// Whether credentials may go on plain-`http` requests to hosts that
    /// are not loopback (default: no). By default the layer puts none
    /// there: neither remembered ones nor a retry's. A GARE on such a
    /// request is not reauthenticated for: the caller gets the original
    /// response, GARE attached, with
    /// [`RedriveOutcome::PlainHttp`](super::RedriveOutcome::PlainHttp).
    /// `https`, and `http` to `localhost`, 127.0.0.0/8 or `::1`, are always
    /// fine. This is the one plain-http setting: it covers the
    /// credentials step too (a [`Login`](crate::login::Login)'s tokens;
    /// [`Login::layer`](crate::login::Login::layer) sets it from
    /// `LoginBuilder::allow_plain_http`).
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower_gare::gare::{AuthorizationParameters, Gare};
    /// use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext, RedriveOutcome};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let server = service_fn(|req: Request<String>| async move {
    ///     Ok::<_, Infallible>(match req.headers().get("authorization") {
    ///         Some(_) => Response::new(String::from("ok")),
    ///         None => Gare::new("ConsentRequired", AuthorizationParameters::default()).to_response(),
    ///     })
    /// });
    /// let reauth = |_cx: ReauthContext| async { Credentials::bearer("t") };
    /// let plain = || Request::get("http://api.example.org/").body(String::new()).unwrap();
    ///
    /// let client = GareRedriveLayer::new(reauth).layer(server);
    /// let response = client.oneshot(plain()).await.unwrap();
    /// assert!(matches!(RedriveOutcome::of(&response), Some(RedriveOutcome::PlainHttp)));
    ///
    /// let client = GareRedriveLayer::new(reauth).allow_plain_http(true).layer(server);
    /// let response = client.oneshot(plain()).await.unwrap();
    /// assert_eq!(response.status(), 200);
    /// # });
    /// ```
    pub fn allow_plain_http(mut self, allow: bool) -> Self {
        self.settings.allow_plain_http = allow;
        self
    }

    /// Sends request bodies again by cloning them with `clone_body` (or not
    /// at all, where it gives `None`), in place of their
    /// [`Replayable`](super::Replayable) impl: for body types from other
    /// crates, as tower-http's `FollowRedirect` takes `clone_body_fn`.
    ///
    /// ```
    /// use http_body_util::combinators::BoxBody;
    /// use bytes::Bytes;
    /// use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext};
    ///
    /// // A boxed body cannot be cloned: such requests are sent once, and on a
    /// // GARE the caller gets the response with `RedriveOutcome::NotReplayable`.
    /// let layer = GareRedriveLayer::new(|_cx: ReauthContext| async { Credentials::bearer("t") })
    ///     .clone_body_fn(|_body: &BoxBody<Bytes, std::convert::Infallible>| None);
    /// # let _ = layer;
    /// ```
    pub fn clone_body_fn<F, B>(self, clone_body: F) -> GareRedriveLayer<R, CloneBodyFn<F>, M>
    where
        F: Fn(&B) -> Option<B> + Clone,
    {
        GareRedriveLayer {
            engine: self.engine,
            settings: self.settings,
            policy: CloneBodyFn(clone_body),
            mode: self.mode,
        }
    }

    /// Services whose error is a `Box<dyn Error + Send + Sync>`: the inner service's error, or the
    /// credentials step's when a request could not get its credentials (a
    /// [`Login`](crate::login::Login) that needed a login and could not
    /// have one, a token that would go over plain http). What
    /// [`Login::layer`](crate::login::Login::layer) makes. By default the
    /// services keep the inner service's error type, and a request whose
    /// credentials step failed goes as the caller made it.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower_gare::redrive::{Attach, Credentials, Outgoing, ReauthContext, Reauthenticator};
    /// use tower_gare::redrive::GareRedriveLayer;
    ///
    /// struct NoToken;
    /// impl Reauthenticator for NoToken {
    ///     type Error = Infallible;
    ///     async fn reauthenticate(&self, _cx: ReauthContext) -> Result<Credentials, Infallible> {
    ///         Ok(Credentials::bearer("t").unwrap())
    ///     }
    ///     fn credentials(&self, _request: &Outgoing<'_>) -> Attach {
    ///         Attach::Wait(Box::pin(async { Err("no token to be had".into()) }))
    ///     }
    /// }
    /// let server = service_fn(|_req: Request<String>| async { Ok::<_, Infallible>(Response::new(String::new())) });
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let client = GareRedriveLayer::new(NoToken).box_errors().layer(server);
    /// let error = client.oneshot(Request::new(String::new())).await.unwrap_err();
    /// assert_eq!(error.to_string(), "no token to be had");
    /// # });
    /// ```
    pub fn box_errors(self) -> GareRedriveLayer<R, P, BoxErrors> {
        GareRedriveLayer {
            engine: self.engine,
            settings: self.settings,
            policy: self.policy,
            mode: BoxErrors,
        }
    }

    /// Forgets every credential learned so far; later requests go out as
    /// their callers made them.
    pub fn forget_credentials(&self) {
        self.engine.forget_all();
    }

    /// How many credentials the layer remembers now: at most one per user,
    /// origin and path prefix, and never more than 1,024 (the oldest go).
    pub fn remembered_credentials(&self) -> usize {
        self.engine.remembered()
    }
}

impl<R, P, M> GareRedriveLayer<R, P, M> {
    /// The settings and engine, for a service or middleware this layer makes.
    pub(crate) fn redriver(&self) -> Arc<Redriver<R>> {
        Arc::new(Redriver {
            settings: self.settings.clone(),
            engine: Arc::clone(&self.engine),
        })
    }
}

impl<R, P: Clone, M: Clone> Clone for GareRedriveLayer<R, P, M> {
    fn clone(&self) -> Self {
        GareRedriveLayer {
            engine: Arc::clone(&self.engine),
            settings: self.settings.clone(),
            policy: self.policy.clone(),
            mode: self.mode.clone(),
        }
    }
}

impl<S, R, P: Clone, M: Clone> Layer<S> for GareRedriveLayer<R, P, M> {
    type Service = GareRedrive<S, R, P, M>;

    fn layer(&self, inner: S) -> Self::Service {
        GareRedrive::from_parts(inner, self.redriver(), self.policy.clone())
    }
}

impl<R, P: fmt::Debug, M: fmt::Debug> fmt::Debug for GareRedriveLayer<R, P, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GareRedriveLayer")
            .field("settings", &self.settings)
            .field("policy", &self.policy)
            .field("errors", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Only this crate's error modes.
mod sealed {
    pub trait Sealed {}
}

/// How the services a [`GareRedriveLayer`] makes report errors:
/// [`InnerErrors`] (the default) or [`BoxErrors`].
pub trait ErrorMode<E>: sealed::Sealed + Clone + Send + Sync + 'static {
    /// The services' error type.
    type Error;
    /// The inner service's error, as the services report it.
    fn inner(error: E) -> Self::Error;
    /// A failed credentials step, as the services report it (`None`: they
    /// cannot; the request goes as the caller made it).
    fn step(error: crate::redrive::BoxError) -> Option<Self::Error>;
}

/// The services' error is the inner service's, unchanged: the layer adds
/// no error of its own. The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct InnerErrors;

/// The services' error is `Box<dyn Error + Send + Sync>`: the inner
/// service's, or the credentials step's. See
/// [`GareRedriveLayer::box_errors`].
#[derive(Debug, Clone, Copy, Default)]
pub struct BoxErrors;

impl sealed::Sealed for InnerErrors {}
impl sealed::Sealed for BoxErrors {}

impl<E> ErrorMode<E> for InnerErrors {
    type Error = E;
    #[inline]
    fn inner(error: E) -> E {
        error
    }
    fn step(_error: crate::redrive::BoxError) -> Option<E> {
        None
    }
}

impl<E: Into<crate::redrive::BoxError>> ErrorMode<E> for BoxErrors {
    type Error = crate::redrive::BoxError;
    #[inline]
    fn inner(error: E) -> Self::Error {
        error.into()
    }
    fn step(error: crate::redrive::BoxError) -> Option<Self::Error> {
        Some(error)
    }
}
/// The response-buffer cap [`GareRedriveLayer`](super::GareRedriveLayer) uses by default: 64 KiB.
pub const DEFAULT_RESPONSE_CAP: usize = 64 * 1024;

/// A set of HTTP statuses (100 to 999), one bit each: the check on every
/// response is a shift and a mask.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StatusSet([u64; 16]);

impl StatusSet {
    pub(crate) fn insert(&mut self, status: StatusCode) {
        let code = usize::from(status.as_u16());
        self.0[code / 64] |= 1 << (code % 64);
    }

    pub(crate) fn contains(&self, status: StatusCode) -> bool {
        let code = usize::from(status.as_u16());
        self.0[code / 64] & (1 << (code % 64)) != 0
    }
}

impl FromIterator<StatusCode> for StatusSet {
    fn from_iter<I: IntoIterator<Item = StatusCode>>(statuses: I) -> Self {
        let mut set = StatusSet::default();
        for status in statuses {
            set.insert(status);
        }
        set
    }
}

impl std::fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let statuses = (100..1000u16)
            .filter_map(|code| StatusCode::from_u16(code).ok())
            .filter(|status| self.contains(*status))
            .map(|status| status.as_u16());
        f.debug_set().entries(statuses).finish()
    }
}

/// Whether `method` may be sent twice with the effect of once: the methods
/// RFC 9110 calls idempotent, less TRACE (never worth a login).
pub(crate) fn is_idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
}

/// A layer's settings: what its builder methods set.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) triggers: StatusSet,
    /// The trigger statuses after which any method is retried; after the
    /// others, only idempotent ones.
    pub(crate) any_method: StatusSet,
    pub(crate) response_cap: usize,
    /// The longest a trigger-status body may take to read.
    pub(crate) response_read_timeout: Duration,
    pub(crate) replay_cap: usize,
    pub(crate) header_challenges: bool,
    pub(crate) reauth_timeout: Option<Duration>,
    /// How long a failed reauthentication (or one that did not help) keeps
    /// its requirements from starting another.
    pub(crate) reauth_quiet_period: Duration,
    pub(crate) rejected_tokens: bool,
    /// Whether credentials may go on plain-`http` requests off loopback.
    pub(crate) allow_plain_http: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            // Globus sends GAREs on all three: Transfer's
            // ExternalError.DirListingFailed.LoginFailed is a 502.
            triggers: [
                StatusCode::UNAUTHORIZED,
                StatusCode::FORBIDDEN,
                StatusCode::BAD_GATEWAY,
            ]
            .into_iter()
            .collect(),
            // A 401 or 403 is a refusal before anything was done; a 502 may
            // come after the server acted.
            any_method: [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN]
                .into_iter()
                .collect(),
            response_cap: DEFAULT_RESPONSE_CAP,
            response_read_timeout: Duration::from_secs(10),
            replay_cap: super::DEFAULT_REPLAY_CAP,
            header_challenges: true,
            reauth_timeout: None,
            reauth_quiet_period: Duration::from_secs(10),
            rejected_tokens: true,
            allow_plain_http: false,
        }
    }
}
