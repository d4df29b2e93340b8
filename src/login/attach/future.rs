//! The attaching service's future: the inner service's own future when a
//! token was at hand, a boxed one when it had to be fetched first.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{HeaderValue, Response, Uri};
use pin_project_lite::pin_project;

use crate::redrive::{BoxError, Origin, SentAuthorization};

type Waiting<B> = Pin<Box<dyn Future<Output = Result<Response<B>, BoxError>> + Send>>;

/// Tells the redrive layer outside which `Authorization` the request went
/// out with (it saw the request before this layer put one on), when the
/// response may be a refusal of it: error statuses only, so a success costs
/// nothing.
pub(crate) fn tell_sent<B>(mut response: Response<B>, sent: Option<HeaderValue>) -> Response<B> {
    let status = response.status();
    if let Some(sent) = sent.filter(|_| status.is_client_error() || status.is_server_error()) {
        response.extensions_mut().insert(SentAuthorization(sent));
    }
    response
}

pin_project! {
    /// The future [`AttachTokens`](super::AttachTokens) returns.
    pub struct AttachFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Sent { #[pin] future: F, sent: Option<HeaderValue> },
        Waiting { future: Waiting<B> },
        Failed { error: Option<BoxError> },
    }
}

impl<F, B> AttachFuture<F, B> {
    /// The request went out as the caller made it.
    pub(crate) fn sent(future: F) -> Self {
        AttachFuture {
            state: State::Sent { future, sent: None },
        }
    }

    /// The request went out with this layer's `Authorization`.
    pub(crate) fn attached(future: F, sent: Option<HeaderValue>) -> Self {
        AttachFuture {
            state: State::Sent { future, sent },
        }
    }

    pub(crate) fn waiting(
        future: impl Future<Output = Result<Response<B>, BoxError>> + Send + 'static,
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

impl<F, B, E> Future for AttachFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Sent { future, sent } => {
                let response = ready!(future.poll(cx)).map_err(Into::into)?;
                Poll::Ready(Ok(tell_sent(response, sent.take())))
            }
            StateProj::Waiting { future } => future.as_mut().poll(cx),
            StateProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "AttachFuture polled after it finished".into()))),
        }
    }
}

impl<F, B> fmt::Debug for AttachFuture<F, B> {
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
