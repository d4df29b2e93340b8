//! The response future. It waits for the request's credentials when the
//! credentials step said to (and only then makes the inner service ready
//! and sends it); hands back at once, with no allocation, a response whose
//! status is not a trigger; and drives the slow path of a trigger: decide,
//! send again, read the retried response, as tower's `Retry` future does.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Buf;
use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::decide::{Carried, Decision, Redriver, Sent};
use super::{ErrorMode, Reauthenticator, RedriveBody, ReplayPolicy, WaitForCredentials};

/// The request as sent, kept for the slow path.
// The common case is the large one: boxing it would allocate on every
// request, to spare a few bytes on the rare one.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Kept<B> {
    /// The request's head, and a replay handle of its body: the request
    /// again, put together only if it is sent again.
    Replayable(Head, B),
    /// The body cannot be sent twice: what the request carried, for the
    /// reauthenticator and the GARE handed back.
    Once(Box<Sent>),
}

/// A request's head, cloned before it is sent: what a replay needs besides
/// the body. Kept as fields, not as a `Request`, so a request that is never
/// sent again builds no second one (the one cost the pass-through path
/// cannot skip is cloning these).
pub(crate) struct Head {
    method: http::Method,
    uri: http::Uri,
    version: http::Version,
    headers: http::HeaderMap,
    extensions: http::Extensions,
}

impl Head {
    fn of<B>(request: &Request<B>) -> Head {
        Head {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
            extensions: request.extensions().clone(),
        }
    }

    fn into_request<B>(self, body: B) -> Request<B> {
        let mut request = Request::new(body);
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers;
        *request.extensions_mut() = self.extensions;
        request
    }
}

/// What a request keeps for the slow path: the service that sent it (to
/// send it again), the shared state, what it carried, and its copy.
pub(crate) struct Pending<S, R, B> {
    service: S,
    redriver: Arc<Redriver<R>>,
    carried: Carried,
    kept: Kept<B>,
    /// The replay policy's check, right before the retry, that the handle
    /// still holds the whole body (and will when it is sent).
    can_replay: fn(&B) -> bool,
}

impl<S, R, B> Pending<S, R, B> {
    /// Keeps what `request` needs for a retry (its head and a replay handle
    /// of its body, if `policy` gives one), and sends it on `service`.
    fn send<P>(
        mut service: S,
        redriver: Arc<Redriver<R>>,
        policy: &P,
        carried: Carried,
        request: Request<B>,
    ) -> (S::Future, Self)
    where
        S: Service<Request<B>>,
        P: ReplayPolicy<B>,
    {
        let cap = redriver.settings.replay_cap;
        let kept = match policy.replay_handle(request.body(), cap) {
            Some(body) => Kept::Replayable(Head::of(&request), body),
            // No copy to read it from later: what was sent is kept now.
            None => Kept::Once(Box::new(Sent::of(&request, carried))),
        };
        let future = service.call(request);
        let pending = Pending {
            service,
            redriver,
            carried,
            kept,
            can_replay: P::can_replay,
        };
        (future, pending)
    }
}

/// The slow path of a trigger-status response: decide, send again, read
/// the retried response. One retry, ever.
async fn slow_path<S, R, B, ResBody>(
    pending: Pending<S, R, B>,
    response: Response<ResBody>,
) -> Result<Response<RedriveBody<ResBody>>, S::Error>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Body,
    ResBody::Data: Buf,
    R: Reauthenticator,
{
    let Pending {
        mut service,
        redriver,
        carried,
        kept,
        can_replay,
    } = pending;
    let (sent, replay) = match kept {
        Kept::Replayable(head, body) => {
            let request = head.into_request(body);
            (Sent::of(&request, carried), Some(request))
        }
        Kept::Once(sent) => (*sent, None),
    };
    // Each stage boxed: a request waiting on its retry holds what that
    // stage needs, not the first answer, its GARE and context all the way.
    let decided = Box::pin(Arc::clone(&redriver).decide(sent, replay.is_some(), response));
    let retry = match decided.await {
        Decision::Return(response) => return Ok(response),
        Decision::Retry(retry) => retry,
    };
    // A login can take minutes, and a streaming body can outgrow its
    // recording meanwhile: look again before giving up the first answer.
    // From this look on, the first attempt's upload no longer records.
    let mut replay = match replay {
        Some(replay) if can_replay(replay.body()) => replay,
        _ => return Ok(retry.not_replayable()),
    };
    let after = retry.send(replay.headers_mut());
    // The retry waits for readiness like any request.
    poll_fn(|cx| service.poll_ready(cx)).await?;
    let retried = service.call(replay).await?;
    Ok(Box::pin(redriver.after_retry(retried, after)).await)
}

type SlowPath<ResBody, E> =
    Pin<Box<dyn Future<Output = Result<Response<RedriveBody<ResBody>>, E>> + Send>>;

type Waiting<F, S, R, B, E> =
    Pin<Box<dyn Future<Output = Result<(F, Pending<S, R, B>), E>> + Send>>;

pin_project! {
    /// The future [`GareRedrive`](super::GareRedrive) returns.
    ///
    /// A response whose status is not a trigger is handed back as soon as it
    /// arrives, with no allocation; only trigger statuses take the slow path
    /// (read the body, maybe reauthenticate and retry).
    pub struct ResponseFuture<S, R, B, ResBody, M>
    where
        S: Service<Request<B>>,
        ResBody: Body,
        M: ErrorMode<S::Error>,
    {
        #[pin]
        state: State<S, R, B, ResBody, M>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, R, B, ResBody, M>
    where
        S: Service<Request<B>>,
        ResBody: Body,
        M: ErrorMode<S::Error>,
    {
        Credentials {
            future: Waiting<S::Future, S, R, B, M::Error>,
        },
        First {
            #[pin]
            future: S::Future,
            pending: Option<Pending<S, R, B>>,
        },
        Slow {
            future: SlowPath<ResBody, S::Error>,
        },
        Failed {
            error: Option<M::Error>,
        },
    }
}

impl<S, R, B, ResBody, M> ResponseFuture<S, R, B, ResBody, M>
where
    S: Service<Request<B>>,
    ResBody: Body,
    M: ErrorMode<S::Error>,
{
    /// Sends `request` on `ready` now.
    pub(crate) fn send<P: ReplayPolicy<B>>(
        ready: S,
        redriver: Arc<Redriver<R>>,
        policy: &P,
        carried: Carried,
        request: Request<B>,
    ) -> Self {
        let (future, pending) = Pending::send(ready, redriver, policy, carried, request);
        ResponseFuture {
            state: State::First {
                future,
                pending: Some(pending),
            },
        }
    }

    /// Waits for `credentials`, then makes `service` ready and sends.
    pub(crate) fn wait<P>(
        credentials: WaitForCredentials,
        mut service: S,
        redriver: Arc<Redriver<R>>,
        policy: P,
        mut request: Request<B>,
    ) -> Self
    where
        S: Send + 'static,
        S::Future: Send + 'static,
        R: Reauthenticator,
        B: Send + 'static,
        P: ReplayPolicy<B> + Send + 'static,
        M::Error: Send + 'static,
    {
        let future = Box::pin(async move {
            match credentials.await {
                Ok(credentials) => credentials.apply_to(request.headers_mut()),
                Err(error) => {
                    // A mode that can fail the request does; the other
                    // sends it as the caller made it.
                    if let Some(error) = M::step(error) {
                        return Err(error);
                    }
                }
            }
            poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(M::inner)?;
            let carried = Carried::default();
            Ok(Pending::send(service, redriver, &policy, carried, request))
        });
        ResponseFuture {
            state: State::Credentials { future },
        }
    }

    /// Fails with `error` when polled.
    pub(crate) fn failed(error: M::Error) -> Self {
        ResponseFuture {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl<S, R, B, ResBody, M> Future for ResponseFuture<S, R, B, ResBody, M>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Buf + Send,
    ResBody::Error: Send,
    R: Reauthenticator,
    M: ErrorMode<S::Error>,
{
    type Output = Result<Response<RedriveBody<ResBody>>, M::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Credentials { future } => {
                    let (future, pending) = ready!(future.as_mut().poll(cx))?;
                    let pending = Some(pending);
                    this.state.set(State::First { future, pending });
                }
                StateProj::First { future, pending } => {
                    let response = ready!(future.poll(cx)).map_err(M::inner)?;
                    let triggered = pending
                        .as_ref()
                        .is_some_and(|pending| pending.redriver.triggers(response.status()));
                    let pending = match pending.take() {
                        Some(pending) if triggered => pending,
                        _ => return Poll::Ready(Ok(response.map(RedriveBody::new))),
                    };
                    let slow: SlowPath<ResBody, S::Error> = Box::pin(slow_path(pending, response));
                    this.state.set(State::Slow { future: slow });
                }
                StateProj::Slow { future } => {
                    return future.as_mut().poll(cx).map_err(M::inner);
                }
                StateProj::Failed { error } => {
                    let error = error
                        .take()
                        .expect("ResponseFuture polled after it finished");
                    return Poll::Ready(Err(error));
                }
            }
        }
    }
}

impl<S, R, B, ResBody, M> fmt::Debug for ResponseFuture<S, R, B, ResBody, M>
where
    S: Service<Request<B>>,
    ResBody: Body,
    M: ErrorMode<S::Error>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Credentials { .. } => "getting the request's credentials",
            State::First { .. } => "awaiting the response",
            State::Slow { .. } => "reading, reauthenticating or retrying",
            State::Failed { .. } => "failed",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
