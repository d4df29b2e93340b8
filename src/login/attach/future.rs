//! The attaching service's future: the inner service's own future when a
//! token was at hand, a boxed one when it had to be fetched first.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use pin_project_lite::pin_project;

use crate::redrive::{BoxError, Origin};

type Waiting<R> = Pin<Box<dyn Future<Output = Result<R, BoxError>> + Send>>;

pin_project! {
    /// The future [`AttachTokens`](super::AttachTokens) returns.
    pub struct AttachFuture<F, R> {
        #[pin]
        state: State<F, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, R> {
        Sent { #[pin] future: F },
        Waiting { future: Waiting<R> },
        Failed { error: Option<BoxError> },
    }
}

impl<F, R> AttachFuture<F, R> {
    pub(crate) fn sent(future: F) -> Self {
        AttachFuture {
            state: State::Sent { future },
        }
    }

    pub(crate) fn waiting(
        future: impl Future<Output = Result<R, BoxError>> + Send + 'static,
    ) -> Self {
        AttachFuture {
            state: State::Waiting {
                future: Box::pin(future),
            },
        }
    }

    pub(crate) fn failed(error: BoxError) -> Self {
        AttachFuture {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl<F, R, E> Future for AttachFuture<F, R>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Sent { future } => future.poll(cx).map_err(Into::into),
            StateProj::Waiting { future } => future.as_mut().poll(cx),
            StateProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "AttachFuture polled after it finished".into()))),
        }
    }
}

impl<F, R> fmt::Debug for AttachFuture<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Sent { .. } => "sent",
            State::Waiting { .. } => "getting a token",
            State::Failed { .. } => "failed",
        };
        f.debug_struct("AttachFuture")
            .field("state", &state)
            .finish()
    }
}

/// A token would have gone to a plain-`http` URL of a host that is not
/// loopback: refused (see `AttachTokensLayer::allow_plain_http`).
#[derive(Debug)]
pub(crate) struct InsecureUrl {
    origin: Origin,
}

impl InsecureUrl {
    pub(crate) fn of(uri: &Uri) -> Self {
        InsecureUrl {
            origin: Origin::from_uri(uri),
        }
    }
}

impl fmt::Display for InsecureUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused to send a token over plain http to {} (not loopback); use https, or allow_plain_http(true)",
            self.origin
        )
    }
}

impl std::error::Error for InsecureUrl {}
