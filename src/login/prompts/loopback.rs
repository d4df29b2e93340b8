//! The loopback prompt: an HTTP listener on every loopback address
//! `localhost` stands for, for the redirect.

use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, FuturesUnordered, Stream, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::sanitize::{server_text, SERVER_TEXT_CAP, SERVICE_LABEL};
use crate::deadline::{within, Missed};
use crate::login::{AuthorizationResponse, AuthorizeRequest, LoginError, Prompt};

type OnUrl = Arc<dyn Fn(&AuthorizeRequest) + Send + Sync>;
type Answer = Arc<Mutex<Option<Result<AuthorizationResponse, LoginError>>>>;

/// How long one connection may take: a browser's redirect needs
/// milliseconds; an idle socket is cut off.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// How many connections are served at once. More wait in the listen
/// backlog until one ends (each within [`CONNECTION_TIMEOUT`]): a local
/// process that opens connections by the thousand costs the login at most
/// that many sockets and tasks, and the browser's redirect is taken when
/// its turn comes.
const MAX_CONNECTIONS: usize = 16;

/// The first pause after an accept error that is not about one connection
/// (descriptors or memory exhausted), doubled after each such error up to
/// [`MAX_BACKOFF`]: the listener is tried again, the login goes on.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How many ports to try, when the system picks one (port 0), before
/// giving up on finding one free on every loopback address.
const BIND_ATTEMPTS: usize = 16;

/// Listens on the loopback addresses for the authorization server's
/// redirect, like the Python SDK's local-server login flow manager
/// (redirect URI `http://localhost:<port>`, which Globus Auth allows
/// native apps on any port): the user opens the URL, logs in, and the
/// browser comes back here with the code.
///
/// `localhost` is both 127.0.0.1 and ::1 to a browser (some try ::1
/// first), so the port is held on both, and on any other loopback address
/// the system resolves `localhost` to: no other local user can listen on
/// the redirect's port at an address the browser may pick and be handed
/// the code and the state (RFC 8252 §8.3). A machine without IPv6 has no
/// ::1 for anyone; there the port is held on 127.0.0.1 alone.
///
/// Redirects that do not carry this login's `state` are turned away and
/// the listener keeps waiting; connections are served side by side (up to
/// 16 at once, each for at most 10 seconds), so an idle or stray
/// connection delays nothing, and an error accepting one does not end the
/// login. One login at a time per prompt; each waits at most the timeout
/// (default 5 minutes).
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
/// assert!(prompt.local_addrs().iter().all(|a| a.port() == port && a.ip().is_loopback()));
/// // A client registered with another loopback redirect URI:
/// let prompt = prompt.redirect_to("127.0.0.1", "/callback");
/// assert_eq!(prompt.redirect_uri(), format!("http://127.0.0.1:{port}/callback"));
/// # Ok::<_, std::io::Error>(())
/// ```
pub struct LoopbackPrompt {
    /// 127.0.0.1 first, then ::1 and any other loopback address, one port.
    listeners: Vec<StdListener>,
    port: u16,
    redirect_uri: String,
    path: String,
    timeout: Duration,
    on_url: Option<OnUrl>,
    one_at_a_time: tokio::sync::Mutex<()>,
}

/// The loopback addresses besides 127.0.0.1 that `localhost` stands for:
/// ::1, which browsers use for `localhost` whatever the system's resolver
/// says, and any other loopback address the resolver gives (a hosts file
/// may say 127.0.1.1). Addresses that are not loopback are left out: a
/// listener there would face the network.
fn other_loopbacks(port: u16) -> Vec<SocketAddr> {
    let mut addrs = vec![SocketAddr::from((Ipv6Addr::LOCALHOST, port))];
    if let Ok(resolved) = ("localhost", port).to_socket_addrs() {
        for addr in resolved {
            let own = addr.ip() == IpAddr::V4(Ipv4Addr::LOCALHOST) || addrs.contains(&addr);
            if addr.ip().is_loopback() && !own {
                addrs.push(addr);
            }
        }
    }
    addrs
}

/// The listeners on 127.0.0.1 and [`other_loopbacks`], all on one port.
fn bind_loopbacks(port: u16) -> io::Result<Vec<StdListener>> {
    let attempts = if port == 0 { BIND_ATTEMPTS } else { 1 };
    let mut taken = None;
    'attempt: for _ in 0..attempts {
        let first = StdListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
        let port = first.local_addr()?.port();
        let mut listeners = vec![first];
        for addr in other_loopbacks(port) {
            match StdListener::bind(addr) {
                Ok(listener) => listeners.push(listener),
                // Someone listens there already: with a port of the
                // system's choosing, another port; with the caller's, an
                // error (the redirect could reach them).
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                    taken = Some(e);
                    continue 'attempt;
                }
                // The address does not exist here (no IPv6, so no ::1; a
                // resolved address not configured): no one can listen on
                // it, and no browser can connect to it. Go on without it.
                Err(_) => {}
            }
        }
        for listener in &listeners {
            listener.set_nonblocking(true)?;
        }
        return Ok(listeners);
    }
    Err(taken.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

impl LoopbackPrompt {
    /// Binds `port` (0 for any free port) now, on 127.0.0.1, on ::1 (where
    /// the machine has IPv6) and on any other loopback address `localhost`
    /// resolves to, so the redirect URI is known before the first login. A
    /// port already taken on any of them is an error
    /// ([`AddrInUse`](io::ErrorKind::AddrInUse)); with port 0, another
    /// port is picked.
    pub fn bind(port: u16) -> io::Result<Self> {
        let listeners = bind_loopbacks(port)?;
        let port = listeners[0].local_addr()?.port();
        Ok(LoopbackPrompt {
            listeners,
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
    /// `host` must be a loopback address listened on: `localhost`,
    /// `127.0.0.1` or `[::1]`.
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
    /// default the session message (labelled as the service's, sanitized,
    /// capped) and the URL go to standard error.
    pub fn on_url(mut self, show: impl Fn(&AuthorizeRequest) + Send + Sync + 'static) -> Self {
        self.on_url = Some(Arc::new(show));
        self
    }

    /// The redirect URI to register with the authorization server.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The IPv4 address listened on, 127.0.0.1 (its port is the redirect's).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listeners[0].local_addr()
    }

    /// Every address listened on: 127.0.0.1, then ::1 where the machine
    /// has IPv6, and any other loopback address `localhost` resolves to;
    /// all on one port.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }
}

impl fmt::Debug for LoopbackPrompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackPrompt")
            .field("redirect_uri", &self.redirect_uri)
            .field("local_addrs", &self.local_addrs())
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

enum Event<T> {
    Accepted(Option<io::Result<T>>),
    Served,
}

/// What to do after an accept error.
#[derive(Debug, PartialEq, Eq)]
enum AfterError {
    /// The error was one connection's (reset or aborted before it was
    /// accepted, refused by a firewall rule): accept the next at once.
    Next,
    /// The system is short of something (descriptors, memory, buffers):
    /// pause, then accept again.
    Pause,
    /// The listener cannot be used at all.
    Fail,
}

fn after_accept_error(error: &io::Error) -> AfterError {
    use io::ErrorKind::*;
    match error.kind() {
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
        | TimedOut | PermissionDenied | NotConnected | BrokenPipe | HostUnreachable
        | NetworkUnreachable | NetworkDown => AfterError::Next,
        // EINVAL: the socket no longer listens.
        InvalidInput => AfterError::Fail,
        // EMFILE, ENFILE, ENOBUFS, ENOMEM and anything unforeseen: the
        // login's own timeout bounds the retries.
        _ => AfterError::Pause,
    }
}

/// Serves the connections `incoming` brings until one carries this
/// login's redirect (`path`, `state`): at most [`MAX_CONNECTIONS`] at once,
/// each for at most [`CONNECTION_TIMEOUT`]; accept errors are retried
/// ([`after_accept_error`]). Needs a runtime with timers.
async fn serve<S, T>(
    mut incoming: S,
    path: &str,
    state: &str,
) -> Result<AuthorizationResponse, LoginError>
where
    S: Stream<Item = io::Result<T>> + Unpin,
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let answer: Answer = Arc::default();
    let mut connections: FuturesUnordered<Connection> = FuturesUnordered::new();
    let mut pause: Option<Pin<Box<tokio::time::Sleep>>> = None;
    let mut backoff = FIRST_BACKOFF;
    let mut ended = false;
    loop {
        let event = poll_fn(|cx| {
            if let Poll::Ready(Some(())) = connections.poll_next_unpin(cx) {
                return Poll::Ready(Event::Served);
            }
            if pause
                .as_mut()
                .is_some_and(|p| p.as_mut().poll(cx).is_ready())
            {
                pause = None;
            }
            if pause.is_none() && !ended && connections.len() < MAX_CONNECTIONS {
                if let Poll::Ready(next) = incoming.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Accepted(next));
                }
            }
            Poll::Pending
        })
        .await;
        match event {
            Event::Accepted(Some(Ok(stream))) => {
                backoff = FIRST_BACKOFF;
                let slot = Arc::clone(&answer);
                let path = path.to_owned();
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
            Event::Accepted(Some(Err(error))) => {
                #[cfg(feature = "tracing")]
                tracing::debug!(%error, "tower-gare: the loopback prompt could not accept a connection");
                match after_accept_error(&error) {
                    AfterError::Next => {}
                    AfterError::Pause => {
                        pause = Some(Box::pin(tokio::time::sleep(backoff)));
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                    AfterError::Fail => return Err(LoginError::Prompt(error.into())),
                }
            }
            Event::Accepted(None) => ended = true,
            // Looked at once a connection is over: the browser has had the
            // page that says the login is complete.
            Event::Served => {
                if let Some(result) = answer.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    return result;
                }
            }
        }
        if ended && connections.is_empty() {
            return Err(LoginError::Prompt(
                "the loopback listener closed before the redirect came".into(),
            ));
        }
    }
}

impl LoopbackPrompt {
    async fn wait_for_redirect(&self, state: &str) -> Result<AuthorizationResponse, LoginError> {
        let mut listeners = Vec::with_capacity(self.listeners.len());
        for listener in &self.listeners {
            let listener = listener
                .try_clone()
                .map_err(|e| LoginError::Prompt(e.into()))?;
            // Tokio panics on a runtime without I/O: an error instead.
            let listener = catch_unwind(AssertUnwindSafe(|| {
                tokio::net::TcpListener::from_std(listener)
            }))
            .map_err(|_| {
                LoginError::Prompt(
                    "no tokio runtime with I/O is running (build the runtime with enable_io or enable_all)"
                        .into(),
                )
            })?
            .map_err(|e| LoginError::Prompt(e.into()))?;
            listeners.push(listener);
        }
        let incoming = stream::select_all(listeners.into_iter().map(|listener| {
            Box::pin(stream::unfold(listener, |listener| async move {
                let accepted = listener.accept().await.map(|(stream, _)| stream);
                Some((accepted, listener))
            }))
        }));
        serve(incoming, &self.path, state).await
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
        // A deadline that cannot be kept fails the login before anything
        // is shown.
        let shown = async {
            match &self.on_url {
                Some(show) => show(request),
                None => {
                    if let Some(message) = request.param("session_message") {
                        let message = server_text(message, SERVER_TEXT_CAP);
                        if !message.is_empty() {
                            eprintln!("{SERVICE_LABEL} {message}");
                        }
                    }
                    eprintln!("Please authenticate with Globus here:\n{}", request.url());
                }
            }
            self.wait_for_redirect(request.state()).await
        };
        match within(self.timeout, shown).await {
            Ok(answer) => answer,
            Err(Missed::Elapsed) => Err(LoginError::Timeout),
            Err(Missed::NoTimer) => Err(LoginError::NoTimer),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Context;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadBuf};

    use super::*;

    /// A browser on the other end of `client`: one GET, the whole answer.
    async fn get(mut client: DuplexStream, target: &str) -> String {
        let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        client.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        String::from_utf8(answer).unwrap()
    }

    /// 10 minutes of (paused) test time: a login that would hang fails instead.
    async fn soon<T>(what: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(600), what)
            .await
            .expect("finished, not hung")
    }

    #[test]
    fn accept_errors_are_sorted() {
        use io::ErrorKind::*;
        for kind in [
            ConnectionAborted,
            ConnectionReset,
            Interrupted,
            PermissionDenied,
        ] {
            assert_eq!(
                after_accept_error(&kind.into()),
                AfterError::Next,
                "{kind:?}"
            );
        }
        // EMFILE and ENFILE (24 and 23 on Linux and the BSDs), ENOMEM.
        #[cfg(unix)]
        for raw in [24, 23] {
            let error = io::Error::from_raw_os_error(raw);
            assert_eq!(after_accept_error(&error), AfterError::Pause, "{error}");
        }
        assert_eq!(after_accept_error(&OutOfMemory.into()), AfterError::Pause);
        assert_eq!(
            after_accept_error(&io::Error::other("?")),
            AfterError::Pause
        );
        assert_eq!(after_accept_error(&InvalidInput.into()), AfterError::Fail);
    }

    #[tokio::test(start_paused = true)]
    async fn an_accept_error_does_not_end_the_login() {
        let errors = || {
            let mut errors: Vec<io::Error> = vec![
                io::ErrorKind::ConnectionAborted.into(),
                io::ErrorKind::ConnectionReset.into(),
                io::ErrorKind::OutOfMemory.into(),
            ];
            #[cfg(unix)]
            errors.extend([
                io::Error::from_raw_os_error(24),
                io::Error::from_raw_os_error(23),
            ]);
            errors
        };
        // Each error alone, then all of them many times over, before the
        // browser's connection.
        let mut scripts: Vec<Vec<io::Error>> = errors().into_iter().map(|e| vec![e]).collect();
        scripts.push((0..20).flat_map(|_| errors()).collect());
        for script in scripts {
            let (browser, accepted) = tokio::io::duplex(4096);
            let incoming = stream::iter(script.into_iter().map(Err).chain([Ok(accepted)]))
                .chain(stream::pending());
            let browser = tokio::spawn(get(browser, "/?code=the-code&state=s"));
            let answer = soon(serve(incoming, "/", "s")).await.unwrap();
            assert_eq!(answer.code.secret(), "the-code");
            assert!(browser.await.unwrap().starts_with("HTTP/1.1 200"));
        }
    }

    #[tokio::test]
    async fn a_listener_that_no_longer_listens_ends_the_login() {
        let incoming = stream::iter([Err::<DuplexStream, _>(io::Error::from(
            io::ErrorKind::InvalidInput,
        ))])
        .chain(stream::pending());
        let err = soon(serve(incoming, "/", "s")).await.unwrap_err();
        assert!(matches!(err, LoginError::Prompt(_)), "{err:?}");
    }

    /// An accepted connection that counts how many are open at once.
    struct Counted {
        io: DuplexStream,
        open: Arc<AtomicUsize>,
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl AsyncRead for Counted {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.io).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Counted {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.io).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.io).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.io).poll_shutdown(cx)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn connections_beyond_the_cap_wait_and_the_redirect_is_still_taken() {
        const IDLE: usize = 40;
        let open = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        // 40 connections that send nothing (their other ends kept open),
        // then the browser's.
        let mut idle_ends = Vec::new();
        let mut accepted = Vec::new();
        for _ in 0..IDLE {
            let (idle, ours) = tokio::io::duplex(4096);
            idle_ends.push(idle);
            accepted.push(ours);
        }
        let (browser, ours) = tokio::io::duplex(4096);
        accepted.push(ours);
        let incoming = stream::iter(accepted.into_iter().map({
            let (open, most) = (Arc::clone(&open), Arc::clone(&most));
            move |io| {
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                Ok(Counted {
                    io,
                    open: Arc::clone(&open),
                })
            }
        }))
        .chain(stream::pending());
        let browser = tokio::spawn(get(browser, "/?code=the-code&state=s"));
        let began = tokio::time::Instant::now();
        let answer = soon(serve(incoming, "/", "s")).await.unwrap();
        assert_eq!(answer.code.secret(), "the-code");
        assert!(browser.await.unwrap().starts_with("HTTP/1.1 200"));
        assert_eq!(
            most.load(Ordering::SeqCst),
            MAX_CONNECTIONS,
            "never more than the cap at once"
        );
        // The idle ones were cut off 10 s after they came, 16 at a time.
        let waited = began.elapsed();
        let rounds = u32::try_from(IDLE.div_ceil(MAX_CONNECTIONS)).unwrap();
        assert!(waited <= CONNECTION_TIMEOUT * rounds, "{waited:?}");
        drop(idle_ends);
    }
}
