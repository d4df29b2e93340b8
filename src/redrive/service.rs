//! The tower `Service`.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::future::{Head, Kept, Pending};
use super::redriver::{Redriver, Sent};
use super::{
    GareRedriveLayer, Reauthenticator, RedriveBody, ReplayPolicy, ReplayableBodies, ResponseFuture,
};

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
pub struct GareRedrive<S, R, P = ReplayableBodies> {
    inner: S,
    redriver: Arc<Redriver<R>>,
    policy: P,
}

impl<S, R: Reauthenticator> GareRedrive<S, R> {
    /// `inner` with the layer's defaults; see [`GareRedriveLayer`] for settings.
    pub fn new(inner: S, reauthenticator: R) -> Self {
        use tower_layer::Layer;
        GareRedriveLayer::new(reauthenticator).layer(inner)
    }
}

impl<S, R, P> GareRedrive<S, R, P> {
    pub(crate) fn from_parts(inner: S, redriver: Arc<Redriver<R>>, policy: P) -> Self {
        GareRedrive {
            inner,
            redriver,
            policy,
        }
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

impl<S: Clone, R, P: Clone> Clone for GareRedrive<S, R, P> {
    fn clone(&self) -> Self {
        GareRedrive {
            inner: self.inner.clone(),
            redriver: Arc::clone(&self.redriver),
            policy: self.policy.clone(),
        }
    }
}

impl<S: fmt::Debug, R, P: fmt::Debug> fmt::Debug for GareRedrive<S, R, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GareRedrive")
            .field("inner", &self.inner)
            .field("settings", &self.redriver.settings)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, R, P, B, ResBody> Service<Request<B>> for GareRedrive<S, R, P>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    P: ReplayPolicy<B>,
    B: Send + 'static,
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
        let generation = self.redriver.prepare_request(&mut request);
        let cap = self.redriver.settings.replay_cap;
        let kept = match self.policy.replay_handle(request.body(), cap) {
            Some(body) => Kept::Replayable(Head::of(&request), body),
            // No copy to read it from later: what was sent is kept now.
            None => Kept::Once(Box::new(Sent::of(&request, generation))),
        };
        // The service that was made ready is the one called; it then waits
        // in the future for a retry, and a fresh clone takes its place here.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let future = ready.call(request);
        ResponseFuture::new(
            future,
            Pending {
                service: ready,
                redriver: Arc::clone(&self.redriver),
                generation,
                kept,
                can_replay: P::can_replay,
            },
        )
    }
}
