//! The tower `Service`: `call` runs the credentials step, then sends the
//! request (or leaves the sending to the future, once its credentials are
//! in hand).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::decide::{Carried, Redriver, Step};
use super::{
    ErrorMode, GareRedriveLayer, InnerErrors, Outgoing, Reauthenticator, RedriveBody, ReplayPolicy,
    ReplayableBodies, ResponseFuture, User,
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
pub struct GareRedrive<S, R, P = ReplayableBodies, M = InnerErrors> {
    inner: S,
    redriver: Arc<Redriver<R>>,
    policy: P,
    mode: PhantomData<fn() -> M>,
}

impl<S, R: Reauthenticator> GareRedrive<S, R> {
    /// `inner` with the layer's defaults; see [`GareRedriveLayer`] for settings.
    pub fn new(inner: S, reauthenticator: R) -> Self {
        use tower_layer::Layer;
        GareRedriveLayer::new(reauthenticator).layer(inner)
    }
}

impl<S, R, P, M> GareRedrive<S, R, P, M> {
    pub(crate) fn from_parts(inner: S, redriver: Arc<Redriver<R>>, policy: P) -> Self {
        GareRedrive {
            inner,
            redriver,
            policy,
            mode: PhantomData,
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

impl<S: Clone, R, P: Clone, M> Clone for GareRedrive<S, R, P, M> {
    fn clone(&self) -> Self {
        GareRedrive {
            inner: self.inner.clone(),
            redriver: Arc::clone(&self.redriver),
            policy: self.policy.clone(),
            mode: PhantomData,
        }
    }
}

impl<S: fmt::Debug, R, P: fmt::Debug, M> fmt::Debug for GareRedrive<S, R, P, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GareRedrive")
            .field("inner", &self.inner)
            .field("settings", &self.redriver.settings)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, R, P, M, B, ResBody> Service<Request<B>> for GareRedrive<S, R, P, M>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    P: ReplayPolicy<B> + Send + 'static,
    M: ErrorMode<S::Error>,
    M::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Buf + Send,
    ResBody::Error: Send,
    R: Reauthenticator,
{
    type Response = Response<RedriveBody<ResBody>>;
    type Error = M::Error;
    type Future = ResponseFuture<S, R, B, ResBody, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(M::inner)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The credentials step: what this request goes out with.
        let step = {
            let user = request.extensions().get::<User>();
            let head = Outgoing::new(request.method(), request.uri(), request.headers());
            self.redriver.step(head.for_user(user))
        };
        let carried = match step {
            Step::Send(carried) => carried,
            Step::Put(credentials) => {
                credentials.apply_to(request.headers_mut());
                Carried::default()
            }
            Step::PutRemembered => {
                let (uri, user) = (request.uri().clone(), request.extensions().get().cloned());
                let headers = request.headers_mut();
                self.redriver.put_remembered(user.as_ref(), &uri, headers)
            }
            // The readiness is given back at once (the ready service is
            // dropped): a request that waits for a login holds none of the
            // inner service's capacity, and makes a clone ready once its
            // credentials are in hand.
            Step::Wait(wait) => {
                let clone = self.inner.clone();
                drop(std::mem::replace(&mut self.inner, clone));
                let (service, redriver) = (self.inner.clone(), Arc::clone(&self.redriver));
                let policy = self.policy.clone();
                return ResponseFuture::wait(wait, service, redriver, policy, request);
            }
            Step::Refused(error) => match M::step(error) {
                Some(error) => return ResponseFuture::failed(error),
                // This mode cannot fail the request: it goes as it was made.
                None => Carried::default(),
            },
        };
        // The service that was made ready is the one called; it then waits
        // in the future for a retry, and a fresh clone takes its place here.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let redriver = Arc::clone(&self.redriver);
        ResponseFuture::send(ready, redriver, &self.policy, carried, request)
    }
}
