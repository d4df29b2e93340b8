//! The response future: a fast path that only checks the status, and a
//! boxed slow path for responses that may be GAREs.

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

use super::redriver::{Redriver, Sent, SentAuthorization};
use super::{Credentials, Reauthenticator, RedriveBody};

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
    pub(crate) fn of<B>(request: &Request<B>) -> Head {
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
    pub(crate) service: S,
    pub(crate) redriver: Arc<Redriver<R>>,
    /// The generation of the remembered credentials it carried (0: none).
    pub(crate) generation: u64,
    pub(crate) kept: Kept<B>,
    /// The replay policy's check, right before the retry, that the handle
    /// still holds the whole body (and will when it is sent).
    pub(crate) can_replay: fn(&B) -> bool,
}

impl<S, R, B, ResBody> Pending<S, R, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Body,
    ResBody::Data: Buf,
    R: Reauthenticator,
{
    fn redrive(
        self,
        response: Response<ResBody>,
    ) -> impl Future<Output = Result<Response<RedriveBody<ResBody>>, S::Error>> {
        let Pending {
            mut service,
            redriver,
            generation,
            kept,
            can_replay,
        } = self;
        let (sent, replay) = match kept {
            Kept::Replayable(head, body) => {
                let request = head.into_request(body);
                (Sent::of(&request, generation), Some(request))
            }
            Kept::Once(sent) => (*sent, None),
        };
        let resend = move |mut request: Request<B>, credentials: Credentials| async move {
            credentials.apply_to(request.headers_mut());
            // The retry waits for readiness like any request.
            poll_fn(|cx| service.poll_ready(cx)).await?;
            service.call(request).await
        };
        let start_replay = move |request: &Request<B>| can_replay(request.body());
        redriver.redrive(sent, replay, start_replay, response, resend)
    }
}

type SlowPath<ResBody, E> =
    Pin<Box<dyn Future<Output = Result<Response<RedriveBody<ResBody>>, E>> + Send>>;

pin_project! {
    /// The future [`GareRedrive`](super::GareRedrive) returns.
    ///
    /// A response whose status is not a trigger is handed back as soon as it
    /// arrives, with no allocation; only trigger statuses take the slow path
    /// (read the body, maybe reauthenticate and retry).
    pub struct ResponseFuture<S, R, B, ResBody>
    where
        S: Service<Request<B>>,
        ResBody: Body,
    {
        #[pin]
        state: State<S, R, B, ResBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, R, B, ResBody>
    where
        S: Service<Request<B>>,
        ResBody: Body,
    {
        First {
            #[pin]
            future: S::Future,
            pending: Option<Pending<S, R, B>>,
        },
        Slow {
            future: SlowPath<ResBody, S::Error>,
        },
    }
}

impl<S, R, B, ResBody> ResponseFuture<S, R, B, ResBody>
where
    S: Service<Request<B>>,
    ResBody: Body,
{
    pub(crate) fn new(future: S::Future, pending: Pending<S, R, B>) -> Self {
        ResponseFuture {
            state: State::First {
                future,
                pending: Some(pending),
            },
        }
    }
}

impl<S, R, B, ResBody> Future for ResponseFuture<S, R, B, ResBody>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Data: Buf + Send,
    ResBody::Error: Send,
    R: Reauthenticator,
{
    type Output = Result<Response<RedriveBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::First { future, pending } => {
                    let response = ready!(future.poll(cx))?;
                    let triggered = pending
                        .as_ref()
                        .is_some_and(|pending| pending.redriver.triggers(response.status()));
                    let pending = match pending.take() {
                        Some(pending) if triggered => pending,
                        _ => {
                            let mut response = response;
                            // What an inner layer told this one is not the caller's.
                            if !response.extensions().is_empty() {
                                response.extensions_mut().remove::<SentAuthorization>();
                            }
                            return Poll::Ready(Ok(response.map(RedriveBody::new)));
                        }
                    };
                    let slow: SlowPath<ResBody, S::Error> = Box::pin(pending.redrive(response));
                    this.state.set(State::Slow { future: slow });
                }
                StateProj::Slow { future } => return future.as_mut().poll(cx),
            }
        }
    }
}

impl<S, R, B, ResBody> fmt::Debug for ResponseFuture<S, R, B, ResBody>
where
    S: Service<Request<B>>,
    ResBody: Body,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::First { .. } => "awaiting the response",
            State::Slow { .. } => "reading, reauthenticating or retrying",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
