//! The two transports every scenario of a token's life runs through, over
//! real sockets: `Login::layer()` on a hyper-util client (tower), and
//! `Login::middleware()` on a reqwest client, each with a login built on
//! that transport's own client (a reqwest program carries no hyper).
//!
//! A scenario is written once, generic over [`Transport`], and
//! [`both_transports!`] makes a test of it for each.

#![cfg(all(feature = "login", feature = "reqwest"))]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_gare::login::{Login, LoginError, Prompt, ReqwestClient, TokenClient, TokenStore};
use tower_gare::redrive::User;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Resolves every host name to the test server, so a request to a host
/// that is not loopback (`http://api.example.org`) reaches it too.
#[derive(Clone, Debug)]
pub struct ToServer(SocketAddr);

impl Service<Name> for ToServer {
    type Response = std::iter::Once<SocketAddr>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _name: Name) -> Self::Future {
        std::future::ready(Ok(std::iter::once(self.0)))
    }
}

/// The hyper-util client of the tower transport.
pub type Hyper = HyperClient<HttpConnector<ToServer>, Full<Bytes>>;

type Sending = Pin<Box<dyn Future<Output = Result<Response<Bytes>, BoxError>> + Send>>;

/// A client with a login's whole token life on it, whichever transport:
/// it sends `http::Request`s and gives back the whole response, its body
/// read, its extensions (the `RedriveOutcome`, the GARE) kept.
#[derive(Clone)]
pub struct Client {
    base: String,
    send: Arc<dyn Fn(Request<Full<Bytes>>) -> Sending + Send + Sync>,
}

impl Client {
    /// Sends `request`; a URI with no scheme and host goes to the server.
    pub async fn oneshot(
        self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<Bytes>, BoxError> {
        if request.uri().scheme().is_none() {
            let full = format!("{}{}", self.base, request.uri());
            *request.uri_mut() = full.parse().expect("a URI on the test server");
        }
        (self.send)(request).await
    }
}

/// One of the two ways a program sends its requests.
pub trait Transport: Send + Sync + 'static {
    /// The HTTP client the login exchanges its codes and tokens over.
    type Http: TokenClient;
    /// Its name, to tell the two runs of a scenario apart.
    #[allow(dead_code)] // by the end-to-end tests of their own binary
    const NAME: &'static str;
    /// A client for the login, whose every host resolves to `server`.
    fn http(server: SocketAddr) -> Self::Http;
    /// A client with `login` on it, to `server`.
    fn client<C: TokenClient, P: Prompt, T: TokenStore>(
        login: &Login<C, P, T>,
        server: SocketAddr,
    ) -> Client;
}

/// `Login::layer()` on a hyper-util client.
pub struct Tower;

/// `Login::middleware()` on a reqwest client.
pub struct Reqwest;

impl Transport for Tower {
    type Http = Hyper;
    const NAME: &'static str = "tower";

    fn http(server: SocketAddr) -> Hyper {
        let connector = HttpConnector::new_with_resolver(ToServer(server));
        HyperClient::builder(TokioExecutor::new()).build(connector)
    }

    fn client<C: TokenClient, P: Prompt, T: TokenStore>(
        login: &Login<C, P, T>,
        server: SocketAddr,
    ) -> Client {
        let service = ServiceBuilder::new()
            .layer(login.layer())
            .service(Self::http(server));
        Client {
            base: format!("http://{server}"),
            send: Arc::new(move |request| {
                let service = service.clone();
                Box::pin(async move {
                    let response = service.oneshot(request).await?;
                    let (parts, body) = response.into_parts();
                    let body = body.collect().await?.to_bytes();
                    Ok(Response::from_parts(parts, body))
                })
            }),
        }
    }
}

fn reqwest_client(server: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .resolve("api.example.org", server)
        .build()
        .expect("a reqwest client")
}

impl Transport for Reqwest {
    type Http = ReqwestClient;
    const NAME: &'static str = "reqwest";

    fn http(server: SocketAddr) -> ReqwestClient {
        use tower_gare::login::IntoTokenClient;
        reqwest_client(server).into_token_client()
    }

    fn client<C: TokenClient, P: Prompt, T: TokenStore>(
        login: &Login<C, P, T>,
        server: SocketAddr,
    ) -> Client {
        let client = reqwest_middleware::ClientBuilder::new(reqwest_client(server))
            .with(login.middleware())
            .build();
        Client {
            base: format!("http://{server}"),
            send: Arc::new(move |request| {
                let client = client.clone();
                Box::pin(async move {
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await?.to_bytes();
                    let url = parts.uri.to_string();
                    let mut builder = client
                        .request(parts.method, url)
                        .headers(parts.headers)
                        .body(body);
                    if let Some(user) = parts.extensions.get::<User>() {
                        builder = builder.with_extension(user.clone());
                    }
                    let mut response = match builder.send().await {
                        Ok(response) => response,
                        // A `LoginError` comes as itself, as from the
                        // tower client (anyhow's `downcast`).
                        Err(reqwest_middleware::Error::Middleware(error)) => {
                            return Err(match error.downcast::<LoginError>() {
                                Ok(login) => Box::new(login),
                                Err(other) => BoxError::from(other),
                            })
                        }
                        Err(reqwest_middleware::Error::Reqwest(error)) => {
                            return Err(Box::new(error))
                        }
                    };
                    let mut out = Response::new(Bytes::new());
                    *out.status_mut() = response.status();
                    *out.headers_mut() = response.headers().clone();
                    *out.extensions_mut() = std::mem::take(response.extensions_mut());
                    *out.body_mut() = response.bytes().await?;
                    Ok(out)
                })
            }),
        }
    }
}

/// A test per transport for each scenario named: `name::<Tower>()` and
/// `name::<Reqwest>()`, in modules `via_tower` and `via_reqwest`.
#[allow(unused_macros)]
macro_rules! both_transports {
    ($($scenario:ident),* $(,)?) => {
        mod via_tower {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario::<crate::transport::Tower>().await
                }
            )*
        }
        mod via_reqwest {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario::<crate::transport::Reqwest>().await
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use both_transports;
