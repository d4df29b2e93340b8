//! The two transports every scenario of a token's life runs through, over
//! real sockets: `Login::layer()` on a hyper-util client (tower), and
//! `Login::middleware()` on a reqwest client, each with a login built on
//! that transport's own client (a reqwest program carries no hyper).
//!
//! A scenario is written once, generic over [`Transport`], and
//! [`both_transports!`] makes a test of it for each. A scenario that checks
//! what went over the wire builds its client with
//! [`Transport::client_tapped`]: a [`Tap`] below the login sees each request
//! as sent (its token on it) and the status that came back, on either
//! transport.

#![cfg(all(feature = "login", feature = "reqwest"))]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
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

/// One request a client sent below its login (a retry is one more), as it
/// went to the wire, and the status that came back.
#[allow(dead_code)] // by the binaries that tap no client
#[derive(Clone, Debug)]
pub struct Tapped {
    pub method: Method,
    pub uri: Uri,
    /// With the login's `Authorization` on.
    pub headers: HeaderMap,
    pub body: Bytes,
    pub status: StatusCode,
}

/// What sees every request a [`Transport::client_tapped`] client sends
/// below its login, once its answer's status is in.
pub type Tap = Arc<dyn Fn(Tapped) + Send + Sync>;

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
    /// The same, with `tap` below the login: it sees each request as sent
    /// (every try) and the status it got.
    #[allow(dead_code)] // by the binaries that tap no client
    fn client_tapped<C: TokenClient, P: Prompt, T: TokenStore>(
        login: &Login<C, P, T>,
        server: SocketAddr,
        tap: Tap,
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
        tower_client(service, server)
    }

    fn client_tapped<C: TokenClient, P: Prompt, T: TokenStore>(
        login: &Login<C, P, T>,
        server: SocketAddr,
        tap: Tap,
    ) -> Client {
        let service = ServiceBuilder::new().layer(login.layer()).service(Tapping {
            inner: Self::http(server),
            tap,
        });
        tower_client(service, server)
    }
}

/// A [`Client`] that sends through `service`.
fn tower_client<S, B>(service: S, server: SocketAddr) -> Client
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    Client {
        base: format!("http://{server}"),
        send: Arc::new(move |request| {
            let service = service.clone();
            Box::pin(async move {
                let response = service.oneshot(request).await.map_err(Into::into)?;
                let (parts, body) = response.into_parts();
                let body = body.collect().await.map_err(Into::into)?.to_bytes();
                Ok(Response::from_parts(parts, body))
            })
        }),
    }
}

/// The tower transport's hyper-util client under the login, each request
/// it sends shown to a [`Tap`].
#[derive(Clone)]
struct Tapping {
    inner: Hyper,
    tap: Tap,
}

impl Service<Request<Full<Bytes>>> for Tapping {
    type Response = Response<hyper::body::Incoming>;
    type Error = hyper_util::client::legacy::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let inner = self.inner.clone();
        let tap = Arc::clone(&self.tap);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.unwrap_or_else(|never| match never {});
            let body = body.to_bytes();
            let (method, uri, headers) = (
                parts.method.clone(),
                parts.uri.clone(),
                parts.headers.clone(),
            );
            let response = inner
                .oneshot(Request::from_parts(parts, Full::new(body.clone())))
                .await?;
            tap(Tapped {
                method,
                uri,
                headers,
                body,
                status: response.status(),
            });
            Ok(response)
        })
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
        reqwest_middleware_client(client, server)
    }

    fn client_tapped<C: TokenClient, P: Prompt, T: TokenStore>(
        login: &Login<C, P, T>,
        server: SocketAddr,
        tap: Tap,
    ) -> Client {
        let client = reqwest_middleware::ClientBuilder::new(reqwest_client(server))
            .with(login.middleware())
            .with(TapMiddleware(tap))
            .build();
        reqwest_middleware_client(client, server)
    }
}

/// A [`Client`] that sends through `client`.
fn reqwest_middleware_client(
    client: reqwest_middleware::ClientWithMiddleware,
    server: SocketAddr,
) -> Client {
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
                    Err(reqwest_middleware::Error::Reqwest(error)) => return Err(Box::new(error)),
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

/// A middleware after the login's, showing each request it sends to a
/// [`Tap`].
struct TapMiddleware(Tap);

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for TapMiddleware {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let method = request.method().clone();
        let uri = request
            .url()
            .as_str()
            .parse()
            .expect("a reqwest URL is a URI");
        let headers = request.headers().clone();
        let body = request
            .body()
            .and_then(reqwest::Body::as_bytes)
            .map(Bytes::copy_from_slice)
            .unwrap_or_default();
        let response = next.run(request, extensions).await?;
        (self.0)(Tapped {
            method,
            uri,
            headers,
            body,
            status: response.status(),
        });
        Ok(response)
    }
}

/// A test per transport for each scenario named: `name::<Tower>()` and
/// `name::<Reqwest>()`, in modules `via_tower` and `via_reqwest`. Attributes
/// before a name go on both its tests:
/// `both_transports!(#[cfg_attr(fauxbus_missing, ignore = "...")] name, ...)`.
#[allow(unused_macros)]
macro_rules! both_transports {
    ($($(#[$attr:meta])* $scenario:ident),* $(,)?) => {
        mod via_tower {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$attr])*
                async fn $scenario() {
                    super::$scenario::<crate::transport::Tower>().await
                }
            )*
        }
        mod via_reqwest {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$attr])*
                async fn $scenario() {
                    super::$scenario::<crate::transport::Reqwest>().await
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use both_transports;
