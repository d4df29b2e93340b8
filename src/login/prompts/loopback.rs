//! The loopback prompt: an HTTP listener on 127.0.0.1 for the redirect.

use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use crate::login::{AuthorizationResponse, AuthorizeRequest, LoginError, Prompt};

type OnUrl = Arc<dyn Fn(&AuthorizeRequest) + Send + Sync>;
type Answer = Arc<Mutex<Option<Result<AuthorizationResponse, LoginError>>>>;

/// How long one connection may take: a browser's redirect needs
/// milliseconds; an idle socket is cut off.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Listens on 127.0.0.1 for the authorization server's redirect, like the
/// Python SDK's local-server login flow manager (redirect URI
/// `http://localhost:<port>`, which Globus Auth allows native apps on any
/// port): the user opens the URL, logs in, and the browser comes back here
/// with the code.
///
/// Redirects that do not carry this login's `state` are turned away and
/// the listener keeps waiting; connections are served side by side, so an
/// idle or stray connection delays nothing. One login at a time per prompt;
/// each waits at most the timeout (default 5 minutes).
///
/// ```
/// use std::time::Duration;
/// use tower_gare::login::LoopbackPrompt;
///
/// // Port 0: any free port (a fixed one, such as 8765, for a client
/// // registered with that port).
/// let prompt = LoopbackPrompt::bind(0)?
///     .timeout(Duration::from_secs(120))
///     .on_url(|request| println!("Open {} in a browser", request.url()));
/// let port = prompt.local_addr()?.port();
/// assert_eq!(prompt.redirect_uri(), format!("http://localhost:{port}"));
/// // A client registered with another loopback redirect URI:
/// let prompt = prompt.redirect_to("127.0.0.1", "/callback");
/// assert_eq!(prompt.redirect_uri(), format!("http://127.0.0.1:{port}/callback"));
/// # Ok::<_, std::io::Error>(())
/// ```
pub struct LoopbackPrompt {
    listener: StdListener,
    port: u16,
    redirect_uri: String,
    path: String,
    timeout: Duration,
    on_url: Option<OnUrl>,
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl LoopbackPrompt {
    /// Binds 127.0.0.1:`port` (0 for any free port) now, so the redirect URI
    /// is known before the first login.
    pub fn bind(port: u16) -> io::Result<Self> {
        let listener = StdListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        Ok(LoopbackPrompt {
            listener,
            port,
            redirect_uri: format!("http://localhost:{port}"),
            path: "/".to_owned(),
            timeout: Duration::from_secs(300),
            on_url: None,
            one_at_a_time: tokio::sync::Mutex::new(()),
        })
    }

    /// Another redirect URI on this listener: `http://<host>:<port><path>`,
    /// for a client registered with, say, `http://127.0.0.1:8765/callback`.
    /// `host` must resolve to 127.0.0.1.
    pub fn redirect_to(mut self, host: &str, path: &str) -> Self {
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let shown = if path == "/" { "" } else { path.as_str() };
        self.redirect_uri = format!("http://{host}:{}{shown}", self.port);
        self.path = path;
        self
    }

    /// How long a login may take (default 5 minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What to do with the URL (open a browser, print it somewhere); by
    /// default the sanitized session message and the URL go to standard error.
    pub fn on_url(mut self, show: impl Fn(&AuthorizeRequest) + Send + Sync + 'static) -> Self {
        self.on_url = Some(Arc::new(show));
        self
    }

    /// The redirect URI to register with the authorization server.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl fmt::Debug for LoopbackPrompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackPrompt")
            .field("redirect_uri", &self.redirect_uri)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn page(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The answer to one request on the listener; `answer` is filled when it
/// is this login's redirect.
fn answer_request(
    req: &Request<hyper::body::Incoming>,
    path: &str,
    state: &str,
    answer: &Answer,
) -> Response<Full<Bytes>> {
    if req.uri().path() != path {
        return page(StatusCode::NOT_FOUND, "Not found.\n");
    }
    let query = req.uri().query().unwrap_or("");
    let ours = form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "state" && v == state);
    if !ours {
        return page(
            StatusCode::BAD_REQUEST,
            "This is not the login this program is waiting for.\n",
        );
    }
    let result = AuthorizationResponse::from_query(query);
    let ok = result.is_ok();
    *answer.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
    if ok {
        page(
            StatusCode::OK,
            "Login complete. You may close this window.\n",
        )
    } else {
        page(
            StatusCode::OK,
            "The login was refused. You may close this window.\n",
        )
    }
}

type Connection = Pin<Box<dyn Future<Output = ()> + Send>>;

enum Event {
    Accepted(io::Result<tokio::net::TcpStream>),
    Served,
}

impl LoopbackPrompt {
    async fn wait_for_redirect(&self, state: &str) -> Result<AuthorizationResponse, LoginError> {
        let listener = self
            .listener
            .try_clone()
            .and_then(tokio::net::TcpListener::from_std)
            .map_err(|e| LoginError::Prompt(e.into()))?;
        let answer: Answer = Arc::default();
        let mut connections: FuturesUnordered<Connection> = FuturesUnordered::new();
        loop {
            let event = poll_fn(|cx| {
                if let Poll::Ready(accepted) = listener.poll_accept(cx) {
                    return Poll::Ready(Event::Accepted(accepted.map(|(stream, _)| stream)));
                }
                match connections.poll_next_unpin(cx) {
                    Poll::Ready(Some(())) => Poll::Ready(Event::Served),
                    _ => Poll::Pending,
                }
            })
            .await;
            match event {
                Event::Accepted(Ok(stream)) => {
                    let slot = Arc::clone(&answer);
                    let path = self.path.clone();
                    let state = state.to_owned();
                    let service = hyper::service::service_fn(move |req| {
                        let response = answer_request(&req, &path, &state, &slot);
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream), service);
                    connections.push(Box::pin(async move {
                        let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
                    }));
                }
                Event::Accepted(Err(e)) => return Err(LoginError::Prompt(e.into())),
                Event::Served => {}
            }
            if let Some(result) = answer.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return result;
            }
        }
    }
}

impl Prompt for LoopbackPrompt {
    fn redirect_uri(&self) -> Option<String> {
        Some(self.redirect_uri.clone())
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        let _one = self.one_at_a_time.lock().await;
        match &self.on_url {
            Some(show) => show(request),
            None => {
                if let Some(message) = request.session_message() {
                    eprintln!("{message}");
                }
                eprintln!("Please authenticate with Globus here:\n{}", request.url());
            }
        }
        tokio::time::timeout(self.timeout, self.wait_for_redirect(request.state()))
            .await
            .map_err(|_| LoginError::Timeout)?
    }
}
