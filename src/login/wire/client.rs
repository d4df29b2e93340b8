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

/// What [`LoginBuilder::build`](crate::login::LoginBuilder::build) takes as
/// the login's HTTP client: any [`TokenClient`] (a hyper-util
/// `Client<_, Full<Bytes>>`, any such tower service) or, with feature
/// `reqwest`, a `reqwest::Client`, so a reqwest program needs no second
/// HTTP stack. `Via` tells the two kinds apart; it is inferred.
pub trait IntoTokenClient<Via> {
    /// The token client it becomes.
    type Client: TokenClient;
    /// Makes it the login's token client.
    fn into_token_client(self) -> Self::Client;
}

/// [`IntoTokenClient`]'s mark for a tower service.
#[derive(Debug)]
pub enum ViaTower {}

impl<C: TokenClient> IntoTokenClient<ViaTower> for C {
    type Client = C;
    fn into_token_client(self) -> C {
        self
    }
}

#[cfg(feature = "reqwest")]
pub use self::reqwest_client::{ReqwestClient, ViaReqwest};

#[cfg(feature = "reqwest")]
mod reqwest_client {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use futures_util::FutureExt;
    use http::{Request, Response};
    use http_body_util::{BodyExt, Full};
    use tower_service::Service;

    use super::IntoTokenClient;

    /// [`IntoTokenClient`]'s mark for a `reqwest::Client`.
    #[derive(Debug)]
    pub enum ViaReqwest {}

    /// A `reqwest::Client` as a login's token client (feature `reqwest`):
    /// what [`LoginBuilder::build`](crate::login::LoginBuilder::build)
    /// makes of one.
    ///
    /// ```
    /// use tower_gare::login::Login;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let login = Login::builder("client-id")
    ///     .auth_base_url("https://auth.globus.org")
    ///     .build(reqwest::Client::new())?;
    /// # let _ = login; Ok(()) }
    /// ```
    #[derive(Debug, Clone)]
    pub struct ReqwestClient(reqwest::Client);

    impl IntoTokenClient<ViaReqwest> for reqwest::Client {
        type Client = ReqwestClient;
        fn into_token_client(self) -> ReqwestClient {
            ReqwestClient(self)
        }
    }

    type Sending =
        Pin<Box<dyn Future<Output = Result<Response<reqwest::Body>, reqwest::Error>> + Send>>;

    impl Service<Request<Full<Bytes>>> for ReqwestClient {
        type Response = Response<reqwest::Body>;
        type Error = reqwest::Error;
        type Future = Sending;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
            let client = self.0.clone();
            let (parts, body) = request.into_parts();
            // A `Full` body is all there: collecting it never waits.
            let body = body
                .collect()
                .now_or_never()
                .and_then(Result::ok)
                .map(|collected| collected.to_bytes())
                .unwrap_or_default();
            let request = reqwest::Request::try_from(Request::from_parts(parts, body));
            Box::pin(async move {
                let response = client.execute(request?).await?;
                Ok(Response::from(response))
            })
        }
    }
}
