//! The tower `Service`.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::config::Setup;
use super::drive::{ReplayRequest, Retry};
use super::{GareRedriveLayer, Reauthenticator, RedriveBody, Replayable, ResponseFuture};

/// A service that answers GAREs by reauthenticating and retrying once.
/// Made by [`GareRedriveLayer`].
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use tower::{service_fn, ServiceExt};
/// use tower_gare::redrive::{Credentials, GareRedrive, ReauthContext};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let inner = service_fn(|req: Request<String>| async move {
///     let authorized = req.headers().get("authorization").is_some_and(|v| v == "Bearer fresh");
///     let response = if authorized {
///         Response::new(String::from("the listing"))
///     } else {
///         tower_gare::gare::from_body(br#"{"code":"ConsentRequired","required_scopes":["s"]}"#)
///             .unwrap()
///             .to_response()
///     };
///     Ok::<_, Infallible>(response)
/// });
/// let service = GareRedrive::new(inner, |_cx: ReauthContext| async { Credentials::bearer("fresh") });
/// let response = service.oneshot(Request::new(String::new())).await.unwrap();
/// assert_eq!(response.status(), 200);
/// # });
/// ```
pub struct GareRedrive<S, R> {
    inner: S,
    setup: Arc<Setup<R>>,
}

impl<S, R: Reauthenticator> GareRedrive<S, R> {
    /// `inner` with the layer's defaults; see [`GareRedriveLayer`] for settings.
    pub fn new(inner: S, reauthenticator: R) -> Self {
        use tower_layer::Layer;
        GareRedriveLayer::new(reauthenticator).layer(inner)
    }
}

impl<S, R> GareRedrive<S, R> {
    pub(crate) fn from_parts(inner: S, setup: Arc<Setup<R>>) -> Self {
        GareRedrive { inner, setup }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, R> Clone for GareRedrive<S, R> {
    fn clone(&self) -> Self {
        GareRedrive {
            inner: self.inner.clone(),
            setup: Arc::clone(&self.setup),
        }
    }
}

impl<S: fmt::Debug, R> fmt::Debug for GareRedrive<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GareRedrive")
            .field("inner", &self.inner)
            .field("config", &self.setup.config)
            .finish_non_exhaustive()
    }
}

impl<S, R, B, ResBody> Service<Request<B>> for GareRedrive<S, R>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Replayable + Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Buf + Send,
    ResBody::Error: Send,
    R: Reauthenticator,
{
    type Response = Response<RedriveBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, R, B, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let engine = &self.setup.engine;
        let sent_generation = if engine.remembers_any() {
            let (mut parts, body) = request.into_parts();
            let generation = engine.apply_remembered(&parts.uri, &mut parts.headers);
            request = Request::from_parts(parts, body);
            generation
        } else {
            0
        };
        request
            .body_mut()
            .set_replay_cap(self.setup.config.replay_cap);
        let replay_body = request.body().replay_handle();
        // The service that was made ready is the one called; it then waits
        // in the future for a retry, and a fresh clone takes its place here.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let replay = ReplayRequest::of(&request, replay_body, sent_generation);
        let future = ready.call(request);
        let retry = Retry {
            service: ready,
            setup: Arc::clone(&self.setup),
            replay,
        };
        ResponseFuture::new(future, retry)
    }
}
