//! The response future: a fast path that only checks the status, and a
//! boxed slow path for responses that may be GAREs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Buf;
use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::drive::Retry;
use super::{Reauthenticator, RedriveBody, Replayable};

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
            retry: Option<Retry<S, R, B>>,
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
    pub(crate) fn new(future: S::Future, retry: Retry<S, R, B>) -> Self {
        ResponseFuture {
            state: State::First {
                future,
                retry: Some(retry),
            },
        }
    }
}

impl<S, R, B, ResBody> Future for ResponseFuture<S, R, B, ResBody>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Replayable + Send + 'static,
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
                StateProj::First { future, retry } => {
                    let response = ready!(future.poll(cx))?;
                    let triggered = retry
                        .as_ref()
                        .is_some_and(|retry| retry.triggers(response.status()));
                    let retry = match retry.take() {
                        Some(retry) if triggered => retry,
                        _ => return Poll::Ready(Ok(response.map(RedriveBody::new))),
                    };
                    let slow: SlowPath<ResBody, S::Error> = Box::pin(retry.after_trigger(response));
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
