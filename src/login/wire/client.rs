//! The HTTP client a login exchanges codes over.

use std::future::{poll_fn, Future};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower_service::Service;

use crate::redrive::BoxError;

/// An HTTP client a [`Login`](crate::login::Login) sends its token requests over:
/// any cloneable tower service from `Request<Full<Bytes>>` to an HTTP
/// response, such as a hyper-util `Client<_, Full<Bytes>>` (with the TLS
/// connector of your choice). Implemented for every such service.
pub trait TokenClient: Clone + Send + Sync + 'static {
    /// The response body type.
    type Body: Body<Data: Send, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send;

    /// Sends `request`, waiting for the service to be ready first.
    fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> impl Future<Output = Result<Response<Self::Body>, Box<dyn std::error::Error + Send + Sync>>>
           + Send;
}

impl<C, B> TokenClient for C
where
    C: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
    C::Future: Send,
    C::Error: Into<BoxError>,
    B: Body + Send,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Body = B;

    async fn send(&self, request: Request<Full<Bytes>>) -> Result<Response<B>, BoxError> {
        let mut client = self.clone();
        poll_fn(|cx| client.poll_ready(cx))
            .await
            .map_err(Into::into)?;
        client.call(request).await.map_err(Into::into)
    }
}
