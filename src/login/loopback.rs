//! The loopback prompt: a one-shot HTTP listener on 127.0.0.1 for the redirect.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use super::{AuthorizationResponse, AuthorizeRequest, LoginError, Prompt};

type OnUrl = Arc<dyn Fn(&AuthorizeRequest) + Send + Sync>;

/// Listens on 127.0.0.1 for the authorization server's redirect, like the
/// Python SDK's local-server login flow manager: the user opens the URL,
/// logs in, and the browser comes back to this listener with the code.
///
/// Redirects that do not carry this login's `state` are turned away and
/// the listener keeps waiting, so a stray or forged request cannot end a
/// login. One login at a time per prompt; each waits at most the timeout
/// (default 5 minutes).
///
/// ```no_run
/// use std::time::Duration;
/// use tower_gare::login::LoopbackPrompt;
///
/// let prompt = LoopbackPrompt::bind(8765)?
///     .timeout(Duration::from_secs(120))
///     .on_url(|request| println!("Open {} in a browser", request.url()));
/// assert_eq!(prompt.redirect_uri(), "http://127.0.0.1:8765/callback");
/// # Ok::<_, std::io::Error>(())
/// ```
pub struct LoopbackPrompt {
    listener: StdListener,
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
            redirect_uri: format!("http://127.0.0.1:{port}/callback"),
            path: "/callback".to_owned(),
            timeout: Duration::from_secs(300),
            on_url: None,
            one_at_a_time: tokio::sync::Mutex::new(()),
        })
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

impl LoopbackPrompt {
    async fn wait_for_redirect(&self, state: &str) -> Result<AuthorizationResponse, LoginError> {
        let listener = self
            .listener
            .try_clone()
            .and_then(tokio::net::TcpListener::from_std)
            .map_err(|e| LoginError::Prompt(format!("loopback listener: {e}")))?;
        let answer: Arc<Mutex<Option<Result<AuthorizationResponse, LoginError>>>> = Arc::default();
        loop {
            let (stream, _) = listener
                .accept()
                .await
                .map_err(|e| LoginError::Prompt(format!("loopback listener: {e}")))?;
            let slot = Arc::clone(&answer);
            let path = self.path.clone();
            let state = state.to_owned();
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let response = if req.uri().path() != path {
                    page(StatusCode::NOT_FOUND, "Not found.\n")
                } else {
                    let result = AuthorizationResponse::from_query(req.uri().query().unwrap_or(""));
                    let ours = match &result {
                        Ok(answer) => answer.state.as_deref() == Some(state.as_str()),
                        // An error redirect carries our state too, if it is ours.
                        Err(_) => {
                            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                                .any(|(k, v)| k == "state" && v == state.as_str())
                        }
                    };
                    if !ours {
                        page(
                            StatusCode::BAD_REQUEST,
                            "This is not the login this program is waiting for.\n",
                        )
                    } else {
                        let ok = result.is_ok();
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
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
                };
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            // A client that opens a connection and says nothing must not
            // hold the listener: each connection gets a few seconds.
            let _ = tokio::time::timeout(Duration::from_secs(10), connection).await;
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
