//! The loopback prompt: an HTTP listener on every loopback address
//! `localhost` stands for, for the redirect.

use std::convert::Infallible;
use std::ffi::OsString;
use std::fmt;
use std::future::{poll_fn, Future};
use std::io::{self, Write};
#[cfg(test)]
use std::net::TcpListener as StdListener;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
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
use tokio::net::{TcpListener, TcpSocket};

use super::story::{write_story, write_url};
use crate::deadline::{within, Missed};
use crate::login::{AuthorizationResponse, AuthorizeRequest, LoginError, Prompt};

type OnUrl = Arc<dyn Fn(&AuthorizeRequest) + Send + Sync>;
type Opener = Arc<dyn Fn(&str) -> io::Result<()> + Send + Sync>;
type Output = Arc<Mutex<Option<Box<dyn Write + Send>>>>;
/// Reads one environment variable: `std::env::var_os`, or a test's.
type Env = Arc<dyn Fn(&str) -> Option<OsString> + Send + Sync>;
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

/// How many connections may wait to be accepted while a login listens
/// (std's own backlog for its listeners).
const BACKLOG: u32 = 128;

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
/// The port is held from [`bind`](Self::bind) on, but listened on only
/// while a login waits: between logins a connection to it is refused, so
/// no local process can tie up the listener (or queue connections for the
/// next login) while there is no login to serve.
///
/// Redirects that do not carry this login's `state` are turned away and
/// the listener keeps waiting; connections are served side by side (up to
/// 16 at once, each for at most 10 seconds), so an idle or stray
/// connection delays nothing, and an error accepting one does not end the
/// login. One login at a time per prompt; each waits at most the timeout
/// (default 5 minutes).
///
/// # What the person sees
///
/// On standard error (or the writer given to [`output`](Self::output)),
/// in this order: the service's message, labelled as the service's; what
/// the login asks for, in words; the URL alone on its line; then whether
/// a browser was opened, and that the login is waited for:
///
/// ```text
/// Message from the service: Access to this group requires MFA.
/// This login asks for:
///   consent to: urn:globus:auth:scope:groups.api.globus.org:all
///   multi-factor authentication (MFA)
/// Please authenticate with Globus here:
/// ------------------------------------
/// https://auth.globus.org/v2/oauth2/authorize?client_id=…
/// ------------------------------------
/// Opening it in your browser (if none opens, copy the URL into one).
/// Waiting for the login in your browser… (Ctrl-C to cancel)
/// ```
///
/// # The browser
///
/// The URL is opened in the person's browser: the commands the `BROWSER`
/// environment variable names, as Python's `webbrowser` reads it (several
/// separated by `:`, `;` on Windows; `%s` stands for the URL, which is
/// added at the end otherwise), text-only browsers (lynx, w3m, links,
/// elinks, www-browser) skipped as the Python SDK skips them; else the
/// system's way of opening a URL, through the [`open`](https://docs.rs/open)
/// crate (`xdg-open` and its kin, `open` on macOS, `start` on Windows, the
/// Windows browser from WSL). The URL is printed all the same.
///
/// No browser is opened, and the person is told what to do instead, when
/// the session is remote (`SSH_CONNECTION`, `SSH_CLIENT` or `SSH_TTY` is
/// set: a browser would open on the remote machine, if anywhere, and the
/// redirect goes to *this* machine's localhost), or, on Linux and the
/// BSDs, when there is no display (neither `DISPLAY` nor `WAYLAND_DISPLAY`,
/// outside WSL). [`opener`](Self::opener) replaces how the URL is opened;
/// [`open_browser(false)`](Self::open_browser) prints without opening;
/// [`on_url`](Self::on_url) replaces both.
///
/// # Ctrl-C
///
/// While it waits, Ctrl-C cancels the login: it fails with
/// [`LoginError::Cancelled`], its listening and its connections end, and
/// the prompt can serve the next login. This listens with
/// `tokio::signal::ctrl_c`, so needs a runtime with I/O; tokio keeps its
/// handler for the rest of the process once it is installed (the first
/// login that waits), after which Ctrl-C no longer ends the process by
/// itself. A program that handles signals itself turns it off with
/// [`cancel_on_ctrl_c(false)`](Self::cancel_on_ctrl_c) (and ends the
/// login by dropping it).
///
/// ```
/// use std::time::Duration;
/// use tower_gare::login::LoopbackPrompt;
///
/// // Port 0: any free port (a fixed one, such as 8765, for a client
/// // registered with that port).
/// let prompt = LoopbackPrompt::bind(0)?
///     .timeout(Duration::from_secs(120))
///     .opener(|url| {
///         eprintln!("(a kiosk's own way of showing {url})");
///         Ok(())
///     });
/// let port = prompt.local_addr()?.port();
/// assert_eq!(prompt.redirect_uri(), format!("http://localhost:{port}"));
/// assert!(prompt.local_addrs().iter().all(|a| a.port() == port && a.ip().is_loopback()));
/// // A client registered with another loopback redirect URI:
/// let prompt = prompt.redirect_to("127.0.0.1", "/callback")?;
/// assert_eq!(prompt.redirect_uri(), format!("http://127.0.0.1:{port}/callback"));
/// # Ok::<_, std::io::Error>(())
/// ```
pub struct LoopbackPrompt {
    /// 127.0.0.1 first, then ::1 and any other loopback address, one port.
    addrs: Vec<SocketAddr>,
    /// What holds the port at each of `addrs` (in that order) while no
    /// login listens: a socket bound there, not listening. `None` while a
    /// login listens in its place, or where holding it again after a login
    /// failed (the next login tries again, and fails if it cannot).
    held: Mutex<Vec<Option<TcpSocket>>>,
    port: u16,
    redirect_uri: String,
    path: String,
    timeout: Duration,
    on_url: Option<OnUrl>,
    /// How the URL is opened; `None`: [`open_in_browser`].
    opener: Option<Opener>,
    open_browser: bool,
    cancel: Cancel,
    output: Output,
    env: Env,
    one_at_a_time: tokio::sync::Mutex<()>,
}

/// What cancels a waiting login.
#[derive(Clone)]
enum Cancel {
    CtrlC,
    Never,
    /// A test's stand-in for Ctrl-C.
    #[cfg(test)]
    Notified(Arc<tokio::sync::Notify>),
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

/// Holds `addr`'s port without listening on it: a socket bound there,
/// so no one else can listen there, and a connection to it is refused.
/// Needs no runtime.
///
/// Bound without `SO_REUSEADDR` where it can be: on Linux, two sockets
/// that both set it may share an address while neither listens, so a hold
/// with it set would let another program's listener (std's and tokio's set
/// it) take the port between logins. The connections of the last login may
/// still hold the port in TIME_WAIT, which only a socket with
/// `SO_REUSEADDR` may bind past (on Unix): then it is set for the bind and
/// cleared after, which is what the sockets binding later look at.
fn hold(addr: SocketAddr) -> io::Result<TcpSocket> {
    let socket = || match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    };
    let held = socket()?;
    let Err(error) = held.bind(addr) else {
        return Ok(held);
    };
    // On Windows `SO_REUSEADDR` would let a socket bind over another that
    // listens: never set there.
    #[cfg(unix)]
    if error.kind() == io::ErrorKind::AddrInUse {
        let held = socket()?;
        held.set_reuseaddr(true)?;
        held.bind(addr)?;
        held.set_reuseaddr(false)?;
        return Ok(held);
    }
    Err(error)
}

/// The port held ([`hold`]) on 127.0.0.1 and [`other_loopbacks`].
fn hold_loopbacks(port: u16) -> io::Result<Vec<(SocketAddr, TcpSocket)>> {
    let attempts = if port == 0 { BIND_ATTEMPTS } else { 1 };
    let mut taken = None;
    'attempt: for _ in 0..attempts {
        let first = hold(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
        let first_addr = first.local_addr()?;
        let port = first_addr.port();
        let mut held = vec![(first_addr, first)];
        for addr in other_loopbacks(port) {
            match hold(addr) {
                Ok(socket) => held.push((addr, socket)),
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
        return Ok(held);
    }
    Err(taken.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

/// Whether `host` names this machine's loopback, as
/// [`redirect_to`](LoopbackPrompt::redirect_to) takes it: its address
/// (`None` for `localhost`, held wherever it resolves by
/// [`bind`](LoopbackPrompt::bind)), and the host as the URI shows it.
/// Addresses are read strictly (std's parser: no `127.1`, no octal), and
/// an IPv4-mapped `::ffff:127.0.0.1` is refused: a browser would take it
/// to 127.0.0.1, but nothing is gained by allowing it.
fn loopback_host(host: &str) -> Option<(Option<IpAddr>, String)> {
    if host.eq_ignore_ascii_case("localhost") {
        return Some((None, host.to_owned()));
    }
    let (ip, shown) = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
    {
        (IpAddr::V6(inner.parse().ok()?), host.to_owned())
    } else if let Ok(v6) = host.parse::<Ipv6Addr>() {
        (IpAddr::V6(v6), format!("[{host}]"))
    } else {
        (IpAddr::V4(host.parse().ok()?), host.to_owned())
    };
    ip.is_loopback().then_some((Some(ip), shown))
}

impl LoopbackPrompt {
    /// Binds `port` (0 for any free port) now, on 127.0.0.1, on ::1 (where
    /// the machine has IPv6) and on any other loopback address `localhost`
    /// resolves to, so the redirect URI is known before the first login. A
    /// port already taken on any of them is an error
    /// ([`AddrInUse`](io::ErrorKind::AddrInUse)); with port 0, another
    /// port is picked.
    ///
    /// The port is held, not listened on, until a login waits (see
    /// [`LoopbackPrompt`]), so this needs no runtime.
    pub fn bind(port: u16) -> io::Result<Self> {
        let (addrs, held): (Vec<_>, Vec<_>) = hold_loopbacks(port)?
            .into_iter()
            .map(|(addr, socket)| (addr, Some(socket)))
            .unzip();
        let port = addrs[0].port();
        Ok(LoopbackPrompt {
            addrs,
            held: Mutex::new(held),
            port,
            redirect_uri: format!("http://localhost:{port}"),
            path: "/".to_owned(),
            timeout: Duration::from_secs(300),
            on_url: None,
            opener: None,
            open_browser: true,
            cancel: Cancel::CtrlC,
            output: Arc::new(Mutex::new(None)),
            env: Arc::new(|name| std::env::var_os(name)),
            one_at_a_time: tokio::sync::Mutex::new(()),
        })
    }

    /// Another redirect URI on this listener: `http://<host>:<port><path>`,
    /// for a client registered with, say, `http://127.0.0.1:8765/callback`.
    /// A `path` without its leading `/` gets one; the root path is shown
    /// without it (`http://localhost:8765`), as the Python SDK does.
    ///
    /// `host` must name this machine's loopback: `localhost` (in any
    /// case), a 127/8 address such as `127.0.0.1`, or `::1` (written
    /// `[::1]` or bare; the URI has it in brackets). It appears in the URI
    /// as given, since authorization servers compare redirect URIs as
    /// strings.
    ///
    /// # Errors
    ///
    /// - [`InvalidInput`](io::ErrorKind::InvalidInput), naming `host`, for
    ///   any other host (a name, an address off the loopback, a host with
    ///   a port): the redirect is plain `http`, so the authorization code
    ///   would cross the network in the clear, to whoever answers there.
    /// - For a loopback address the prompt does not hold its port on yet
    ///   (`127.0.0.2`, say), the port is held there too; where it cannot be
    ///   (`[::1]` on a machine without IPv6, another program listening
    ///   there) the error of that bind, naming `host`: no browser could
    ///   reach the login there, or another program would be handed the
    ///   code.
    ///
    /// ```
    /// use tower_gare::login::LoopbackPrompt;
    ///
    /// let prompt = LoopbackPrompt::bind(0)?.redirect_to("127.0.0.1", "callback")?;
    /// let port = prompt.local_addr()?.port();
    /// assert_eq!(prompt.redirect_uri(), format!("http://127.0.0.1:{port}/callback"));
    ///
    /// // Off this machine, the code would travel in the clear: refused.
    /// let err = prompt.redirect_to("example.org", "/").unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<_, std::io::Error>(())
    /// ```
    pub fn redirect_to(mut self, host: &str, path: &str) -> io::Result<Self> {
        let Some((ip, shown_host)) = loopback_host(host) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "redirect_to: {host:?} is not this machine's loopback (localhost, \
                     127.0.0.1 or [::1]): the authorization code would leave the machine \
                     over plain http"
                ),
            ));
        };
        if let Some(ip) = ip {
            let addr = SocketAddr::new(ip, self.port);
            if !self.addrs.contains(&addr) {
                let socket = hold(addr).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "redirect_to: {host:?}: the prompt cannot hold port {} on {addr} \
                             ({e}), so a browser sent there could not reach the login",
                            self.port
                        ),
                    )
                })?;
                self.addrs.push(addr);
                self.held
                    .get_mut()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Some(socket));
            }
        }
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let shown = if path == "/" { "" } else { path.as_str() };
        self.redirect_uri = format!("http://{shown_host}:{}{shown}", self.port);
        self.path = path;
        Ok(self)
    }

    /// How long a login may take (default 5 minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What to do with the URL instead of showing it and opening it (a
    /// GUI's own window, a log line): `show` gets the request, and the
    /// prompt prints nothing and opens no browser itself; it still waits
    /// for the redirect, and Ctrl-C still cancels it. By default the story
    /// and the URL go to standard error and the URL is opened in a browser
    /// (see [What the person sees](Self#what-the-person-sees)).
    pub fn on_url(mut self, show: impl Fn(&AuthorizeRequest) + Send + Sync + 'static) -> Self {
        self.on_url = Some(Arc::new(show));
        self
    }

    /// How to open the URL in a browser, instead of `BROWSER` and the
    /// system's way (see [The browser](Self#the-browser)); an error is
    /// told to the person, who can still open the URL by hand. Called on a
    /// thread of its own (a browser may take its time to start), only when
    /// a browser is to be opened: not in a remote session nor without a
    /// display.
    ///
    /// ```
    /// use tower_gare::login::LoopbackPrompt;
    ///
    /// // A browser of the app's choosing.
    /// let prompt = LoopbackPrompt::bind(0)?.opener(|url| {
    ///     std::process::Command::new("firefox").arg(url).spawn().map(drop)
    /// });
    /// # let _ = prompt;
    /// # Ok::<_, std::io::Error>(())
    /// ```
    pub fn opener(mut self, open: impl Fn(&str) -> io::Result<()> + Send + Sync + 'static) -> Self {
        self.opener = Some(Arc::new(open));
        self
    }

    /// Whether to open the URL in a browser (default: yes, where there is
    /// a local display). Off, the URL is printed for the person to open.
    pub fn open_browser(mut self, open: bool) -> Self {
        self.open_browser = open;
        self
    }

    /// Whether Ctrl-C cancels a waiting login, with
    /// [`LoginError::Cancelled`] (default: yes). Off for a program that
    /// handles signals itself: see [Ctrl-C](Self#ctrl-c).
    pub fn cancel_on_ctrl_c(mut self, cancel: bool) -> Self {
        self.cancel = if cancel { Cancel::CtrlC } else { Cancel::Never };
        self
    }

    /// Where to write what the person is shown, instead of standard error:
    /// a terminal other than the process's, or a test's buffer.
    pub fn output(mut self, output: impl Write + Send + 'static) -> Self {
        self.output = Arc::new(Mutex::new(Some(Box::new(output))));
        self
    }

    /// Reads the environment through `var` instead of the process's: a
    /// test's remote session or missing display, without changing the
    /// process's environment under tests that run in parallel.
    #[cfg(test)]
    fn environment(
        mut self,
        var: impl Fn(&str) -> Option<OsString> + Send + Sync + 'static,
    ) -> Self {
        self.env = Arc::new(var);
        self
    }

    /// The redirect URI to register with the authorization server.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The IPv4 address listened on, 127.0.0.1 (its port is the redirect's).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addrs[0])
    }

    /// Every address listened on (while a login waits; the port is held
    /// there in between): 127.0.0.1, then ::1 where the machine has IPv6,
    /// any other loopback address `localhost` resolves to, and any that
    /// [`redirect_to`](Self::redirect_to) named; all on one port.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }
}

impl fmt::Debug for LoopbackPrompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackPrompt")
            .field("redirect_uri", &self.redirect_uri)
            .field("local_addrs", &self.local_addrs())
            .field("timeout", &self.timeout)
            .field("open_browser", &self.open_browser)
            .field("cancel_on_ctrl_c", &!matches!(self.cancel, Cancel::Never))
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

/// Where the login runs, as far as opening a browser goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seat {
    /// A browser can be opened here.
    Local,
    /// Over SSH: a browser would open on the remote machine if anywhere,
    /// and the redirect goes to the remote machine's localhost.
    Remote,
    /// No display to open a browser on (Linux and the BSDs).
    NoDisplay,
}

/// Whether a browser needs a display server here: on Linux and the BSDs
/// (X11 or Wayland), not on macOS, Windows, Android or iOS.
const NEEDS_DISPLAY: bool = cfg!(all(
    unix,
    not(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "android",
        target_os = "haiku"
    ))
));

/// Where the login runs, from the environment (`var` reads a variable).
fn seat(var: &dyn Fn(&str) -> Option<OsString>, needs_display: bool) -> Seat {
    let set = |name: &str| var(name).is_some_and(|value| !value.is_empty());
    if ["SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"]
        .into_iter()
        .any(set)
    {
        return Seat::Remote;
    }
    // WSL opens the Windows browser, display or not.
    let display = ["DISPLAY", "WAYLAND_DISPLAY", "WSL_DISTRO_NAME"]
        .into_iter()
        .any(set);
    if needs_display && !display {
        return Seat::NoDisplay;
    }
    Seat::Local
}

/// What separates the commands in `BROWSER`, as in Python's `webbrowser`
/// (`os.pathsep`).
const BROWSER_SEPARATOR: char = if cfg!(windows) { ';' } else { ':' };

/// Browsers that take over the terminal and cannot do a Globus login: the
/// Python SDK's deny list.
const TEXT_BROWSERS: [&str; 5] = ["lynx", "www-browser", "links", "elinks", "w3m"];

/// The commands `BROWSER` names, each as its words with the URL in place
/// of `%s` (or last, when no word has `%s`), in order, without the
/// text-only browsers.
fn browser_commands(browser: &str, url: &str) -> Vec<Vec<String>> {
    browser
        .split(BROWSER_SEPARATOR)
        .filter_map(|entry| {
            let mut words: Vec<String> = entry.split_whitespace().map(str::to_owned).collect();
            let program = std::path::Path::new(words.first()?)
                .file_stem()
                .and_then(|stem| stem.to_str())
                .unwrap_or("");
            if TEXT_BROWSERS.contains(&program) {
                return None;
            }
            let mut has_url = false;
            for word in &mut words[1..] {
                if word.contains("%s") {
                    *word = word.replace("%s", url);
                    has_url = true;
                }
            }
            if !has_url {
                words.push(url.to_owned());
            }
            Some(words)
        })
        .collect()
}

/// Opens `url` in the person's browser: the first of `BROWSER`'s commands
/// that starts (`browser` is its value), else the system's way, through
/// the `open` crate. A command from `BROWSER` is started in a process
/// group of its own (Ctrl-C at the terminal is the login's, not the
/// browser's) and reaped on a thread when it ends.
fn open_in_browser(url: &str, browser: Option<OsString>) -> io::Result<()> {
    use std::process::{Command, Stdio};
    let browser = browser
        .and_then(|b| b.into_string().ok())
        .unwrap_or_default();
    for words in browser_commands(&browser, url) {
        let mut command = Command::new(&words[0]);
        command
            .args(&words[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        if let Ok(mut child) = command.spawn() {
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
    }
    open::that_detached(url)
}

/// The lines after the URL: whether a browser is being opened, or why not
/// and what to do instead.
fn seat_note(seat: Seat, redirect_uri: &str, port: u16) -> Vec<String> {
    let instead = "or log in with the command-line prompt instead (it asks you to paste a code).";
    match seat {
        Seat::Local => vec!["Opening it in your browser (if none opens, copy the URL into one).".into()],
        Seat::Remote => vec![
            "No browser was opened: this is a remote session (SSH).".into(),
            format!(
                "Open the URL in a browser on your own machine. The login ends at {redirect_uri} \
                 on this machine: forward its port first (ssh -L {port}:localhost:{port}), {instead}"
            ),
        ],
        Seat::NoDisplay => vec![
            "No browser was opened: there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set).".into(),
            format!(
                "Open the URL in a browser that can reach {redirect_uri} on this machine, where the login ends, {instead}"
            ),
        ],
    }
}

/// Said while the login waits.
const WAITING: &str = "Waiting for the login in your browser…";
const CTRL_C: &str = "(Ctrl-C to cancel)";
/// Said when Ctrl-C cancelled the login.
const CANCELLED: &str = "Login cancelled.";

/// Resolves when the login is to be cancelled; never, when nothing
/// cancels it or Ctrl-C cannot be listened for.
async fn cancelled(cancel: Cancel) {
    match cancel {
        Cancel::CtrlC => {
            if tokio::signal::ctrl_c().await.is_ok() {
                return;
            }
        }
        Cancel::Never => {}
        #[cfg(test)]
        Cancel::Notified(notify) => return notify.notified().await,
    }
    std::future::pending::<()>().await;
}

type Incoming<'a> =
    stream::SelectAll<Pin<Box<dyn Stream<Item = io::Result<tokio::net::TcpStream>> + Send + 'a>>>;

/// One login's listeners, in place of the sockets that hold the port.
/// Dropped (the login answered, failed, timed out or was dropped itself),
/// they stop listening and the port is held again.
struct Listening<'a> {
    prompt: &'a LoopbackPrompt,
    listeners: Vec<TcpListener>,
}

impl Listening<'_> {
    /// The connections on every listener.
    fn incoming(&self) -> Incoming<'_> {
        stream::select_all(self.listeners.iter().map(|listener| {
            Box::pin(stream::unfold(listener, |listener| async move {
                let accepted = listener.accept().await.map(|(stream, _)| stream);
                Some((accepted, listener))
            })) as Pin<Box<dyn Stream<Item = _> + Send + '_>>
        }))
    }
}

impl Drop for Listening<'_> {
    fn drop(&mut self) {
        // Closed first: the port cannot be bound again while they listen.
        self.listeners.clear();
        self.prompt.hold_again();
    }
}

impl LoopbackPrompt {
    fn write(&self, show: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
        let mut output = self.output.lock().unwrap_or_else(|p| p.into_inner());
        let _ = match output.as_mut() {
            Some(output) => show(output),
            None => show(&mut io::stderr().lock()),
        };
    }

    /// Holds the port again where a login listened (or where holding it
    /// failed before). Where it cannot, it stays unheld: the next login
    /// tries again and fails if it cannot either ([`listen`](Self::listen)).
    fn hold_again(&self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for (addr, slot) in self.addrs.iter().zip(held.iter_mut()) {
            if slot.is_none() {
                match hold(*addr) {
                    Ok(socket) => *slot = Some(socket),
                    #[cfg(feature = "tracing")]
                    Err(error) => {
                        tracing::debug!(%error, %addr, "tower-gare: the loopback prompt could not hold its port again")
                    }
                    #[cfg(not(feature = "tracing"))]
                    Err(_) => {}
                }
            }
        }
    }

    /// Listens on every address the port is held on, for one login. Where
    /// the port is no longer held (another program took it between
    /// logins), the login fails rather than listen without that address
    /// or on another port: the redirect URI is fixed, and a browser sent
    /// there could reach the other program.
    fn listen(&self) -> Result<Listening<'_>, LoginError> {
        let mut listening = Listening {
            prompt: self,
            listeners: Vec::with_capacity(self.addrs.len()),
        };
        let sockets: Vec<io::Result<TcpSocket>> = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            self.addrs
                .iter()
                .zip(held.iter_mut())
                .map(|(addr, slot)| slot.take().map_or_else(|| hold(*addr), Ok))
                .collect()
        };
        // On an error, `listening` is dropped with what it has: the port is
        // held again everywhere it can be.
        for (addr, socket) in self.addrs.iter().zip(sockets) {
            let lost = |error: io::Error| {
                LoginError::Prompt(Box::new(io::Error::new(
                    error.kind(),
                    format!(
                        "the loopback prompt no longer holds port {} on {addr}, so it cannot \
                         listen for the redirect to {} (did another program take the port \
                         between logins?): {error}",
                        self.port, self.redirect_uri
                    ),
                )))
            };
            let socket = socket.map_err(lost)?;
            // Its connections' TIME_WAIT then lets the port be held again
            // after the login ([`hold`]). No other socket can bind the
            // address while this one listens, `SO_REUSEADDR` or not.
            #[cfg(unix)]
            socket.set_reuseaddr(true).map_err(lost)?;
            // Tokio panics on a runtime without I/O: an error instead (the
            // socket is lost with the panic; dropping `listening` holds
            // the port again).
            let listener = catch_unwind(AssertUnwindSafe(|| socket.listen(BACKLOG)))
                .map_err(|_| {
                    LoginError::Prompt(
                        "no tokio runtime with I/O is running (build the runtime with enable_io or enable_all)"
                            .into(),
                    )
                })?
                .map_err(lost)?;
            listening.listeners.push(listener);
        }
        Ok(listening)
    }

    /// Shows `request` (or hands it to `on_url`) and starts opening the
    /// browser; the answer of the opener, when one was started.
    fn show(
        &self,
        request: &AuthorizeRequest,
    ) -> Option<tokio::sync::oneshot::Receiver<io::Result<()>>> {
        if let Some(show) = &self.on_url {
            show(request);
            return None;
        }
        let seat = self.open_browser.then(|| seat(&*self.env, NEEDS_DISPLAY));
        let ctrl_c = !matches!(self.cancel, Cancel::Never);
        self.write(|out| {
            write_story(out, request)?;
            write_url(out, request)?;
            if let Some(seat) = seat {
                for line in seat_note(seat, &self.redirect_uri, self.port) {
                    writeln!(out, "{line}")?;
                }
            }
            if ctrl_c {
                writeln!(out, "{WAITING} {CTRL_C}")?;
            } else {
                writeln!(out, "{WAITING}")?;
            }
            out.flush()
        });
        if seat != Some(Seat::Local) {
            return None;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let url = request.url().to_owned();
        let opener = self.opener.clone();
        let browser = (self.env)("BROWSER");
        std::thread::spawn(move || {
            let opened = match opener {
                Some(open) => open(&url),
                None => open_in_browser(&url, browser),
            };
            let _ = tx.send(opened);
        });
        Some(rx)
    }

    /// Shows the request, opens the browser and waits for the redirect,
    /// until Ctrl-C (or what stands for it).
    async fn converse(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        // Declared first, dropped last: after `serving`, which borrows it.
        let listening = self.listen()?;
        let incoming = listening.incoming();
        let mut cancelled = std::pin::pin!(cancelled(self.cancel.clone()));
        // Listening for Ctrl-C before the person is told it cancels.
        if poll_fn(|cx| Poll::Ready(cancelled.as_mut().poll(cx).is_ready())).await {
            return Err(LoginError::Cancelled);
        }
        let mut opening = self.show(request);
        let mut serving = std::pin::pin!(serve(incoming, &self.path, request.state()));
        loop {
            enum Next {
                Answer(Result<AuthorizationResponse, LoginError>),
                Cancelled,
                Opened(io::Result<()>),
            }
            let next = poll_fn(|cx| {
                if let Poll::Ready(answer) = serving.as_mut().poll(cx) {
                    return Poll::Ready(Next::Answer(answer));
                }
                if cancelled.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Next::Cancelled);
                }
                if let Some(rx) = opening.as_mut() {
                    if let Poll::Ready(opened) = Pin::new(rx).poll(cx) {
                        // A thread that stopped without a word: nothing to say.
                        return Poll::Ready(Next::Opened(opened.unwrap_or(Ok(()))));
                    }
                }
                Poll::Pending
            })
            .await;
            match next {
                Next::Answer(answer) => return answer,
                Next::Cancelled => {
                    if self.on_url.is_none() {
                        self.write(|out| {
                            writeln!(out)?;
                            writeln!(out, "{CANCELLED}")?;
                            out.flush()
                        });
                    }
                    return Err(LoginError::Cancelled);
                }
                Next::Opened(opened) => {
                    opening = None;
                    if let Err(error) = opened {
                        self.write(|out| {
                            writeln!(
                                out,
                                "Could not open a browser ({error}): copy the URL above into one."
                            )?;
                            out.flush()
                        });
                    }
                }
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
        // A deadline that cannot be kept fails the login before anything
        // is shown.
        match within(self.timeout, self.converse(request)).await {
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
    pub(super) async fn soon<T>(what: impl Future<Output = T>) -> T {
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

    // The browser, the screen and Ctrl-C.

    use crate::gare::{AuthorizationParameters, Gare};
    use crate::login::RefreshTokens;

    /// What the prompt wrote.
    #[derive(Clone, Default)]
    pub(super) struct Screen(Arc<Mutex<Vec<u8>>>);

    impl Write for Screen {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Screen {
        pub(super) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
        async fn wait_for(&self, what: &str) {
            soon(async {
                while !self.text().contains(what) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
        }
    }

    /// An environment of the test's: these variables set, no others.
    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + Send + Sync + 'static {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    /// A desktop: a display, no SSH.
    const DESKTOP: &[(&str, &str)] = &[("DISPLAY", ":0")];

    /// The URLs a fake opener was called with, as they come.
    fn fake_opener(
        result: fn() -> io::Result<()>,
    ) -> (
        impl Fn(&str) -> io::Result<()> + Send + Sync + 'static,
        tokio::sync::mpsc::UnboundedReceiver<String>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let opener = move |url: &str| {
            let _ = tx.send(url.to_owned());
            result()
        };
        (opener, rx)
    }

    /// A prompt on a free port that writes to a screen, with `cancel`
    /// standing for Ctrl-C.
    pub(super) fn prompt(
        vars: &[(&str, &str)],
    ) -> (LoopbackPrompt, Screen, Arc<tokio::sync::Notify>) {
        let screen = Screen::default();
        let ctrl_c = Arc::new(tokio::sync::Notify::new());
        let mut prompt = LoopbackPrompt::bind(0)
            .unwrap()
            .timeout(Duration::from_secs(60))
            .output(screen.clone())
            .environment(env(vars));
        prompt.cancel = Cancel::Notified(Arc::clone(&ctrl_c));
        (prompt, screen, ctrl_c)
    }

    pub(super) fn request(prompt: &LoopbackPrompt) -> AuthorizeRequest {
        let params = AuthorizationParameters {
            session_message: Some("Access to this group requires MFA.".into()),
            session_required_mfa: Some(true),
            ..Default::default()
        };
        AuthorizeRequest::build(
            "https://auth.example.org/v2/oauth2/authorize",
            "client",
            prompt.redirect_uri(),
            "openid urn:globus:auth:scope:groups.api.globus.org:all",
            &Gare::new("AuthorizationRequired", params),
            &RefreshTokens::No,
        )
        .unwrap()
        .0
    }

    /// A browser coming back from the login: the redirect, with `state`.
    pub(super) async fn come_back(prompt_port: u16, state: &str) -> String {
        let mut browser = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, prompt_port))
            .await
            .unwrap();
        let request =
            format!("GET /?code=the-code&state={state} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        browser.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        browser.read_to_end(&mut answer).await.unwrap();
        String::from_utf8(answer).unwrap()
    }

    #[tokio::test]
    async fn the_browser_is_opened_with_the_url_and_the_screen_tells_the_story() {
        let (prompt, screen, _) = prompt(DESKTOP);
        let (opener, mut opened) = fake_opener(|| Ok(()));
        let prompt = Arc::new(prompt.opener(opener));
        let request = request(&prompt);
        let port = prompt.local_addr().unwrap().port();
        let login = tokio::spawn({
            let (prompt, request) = (Arc::clone(&prompt), request.clone());
            async move { prompt.authorize(&request).await }
        });
        // The browser gets the URL, logs in and comes back.
        let url = soon(opened.recv()).await.unwrap();
        assert_eq!(url, request.url());
        assert!(come_back(port, request.state())
            .await
            .starts_with("HTTP/1.1 200"));
        let answer = soon(login).await.unwrap().unwrap();
        assert_eq!(answer.code.secret(), "the-code");
        assert!(opened.try_recv().is_err(), "opened once");
        assert_eq!(
            screen.text(),
            format!(
                "Message from the service: Access to this group requires MFA.\n\
                 This login asks for:\n\
                 \x20 consent to: urn:globus:auth:scope:groups.api.globus.org:all\n\
                 \x20 multi-factor authentication (MFA)\n\
                 Please authenticate with Globus here:\n\
                 ------------------------------------\n\
                 {url}\n\
                 ------------------------------------\n\
                 Opening it in your browser (if none opens, copy the URL into one).\n\
                 Waiting for the login in your browser… (Ctrl-C to cancel)\n"
            )
        );
    }

    #[tokio::test]
    async fn no_browser_over_ssh_or_without_a_display_and_the_url_is_printed() {
        let remote = "No browser was opened: this is a remote session (SSH).";
        let headless = "No browser was opened: there is no display";
        let mut cases = vec![
            (
                vec![
                    ("SSH_CONNECTION", "10.0.0.1 5555 10.0.0.2 22"),
                    ("DISPLAY", ":0"),
                ],
                remote,
            ),
            (vec![("SSH_CLIENT", "10.0.0.1 5555 22")], remote),
            (
                vec![("SSH_TTY", "/dev/pts/3"), ("WAYLAND_DISPLAY", "wayland-0")],
                remote,
            ),
        ];
        if NEEDS_DISPLAY {
            cases.push((vec![("XDG_SESSION_TYPE", "tty")], headless));
        }
        for (vars, said) in cases {
            let (prompt, screen, _) = prompt(&vars);
            let (opener, mut opened) = fake_opener(|| Ok(()));
            let prompt = Arc::new(prompt.opener(opener));
            let request = request(&prompt);
            let port = prompt.local_addr().unwrap().port();
            let login = tokio::spawn({
                let (prompt, request) = (Arc::clone(&prompt), request.clone());
                async move { prompt.authorize(&request).await }
            });
            screen.wait_for("Waiting for the login").await;
            come_back(port, request.state()).await;
            soon(login).await.unwrap().unwrap();
            assert!(opened.try_recv().is_err(), "{vars:?}: no browser opened");
            let text = screen.text();
            let lines: Vec<&str> = text.lines().collect();
            let at = lines
                .iter()
                .position(|l| *l == request.url())
                .expect("the URL alone on a line");
            assert!(lines[at + 2].starts_with(said), "{vars:?}: {text}");
            let port = port.to_string();
            assert!(
                lines[at + 3].contains(&format!("http://localhost:{port}")),
                "{text}"
            );
            assert!(lines[at + 3].contains("command-line prompt"), "{text}");
            if said == remote {
                assert!(
                    lines[at + 3].contains(&format!("ssh -L {port}:localhost:{port}")),
                    "{text}"
                );
            }
            assert_eq!(
                lines[at + 4],
                "Waiting for the login in your browser… (Ctrl-C to cancel)"
            );
        }
    }

    #[test]
    fn where_the_login_runs_is_read_from_the_environment() {
        let seat_of = |vars: &[(&str, &str)], needs_display| seat(&env(vars), needs_display);
        assert_eq!(seat_of(DESKTOP, true), Seat::Local);
        assert_eq!(
            seat_of(&[("WAYLAND_DISPLAY", "wayland-0")], true),
            Seat::Local
        );
        assert_eq!(seat_of(&[("WSL_DISTRO_NAME", "Debian")], true), Seat::Local);
        assert_eq!(seat_of(&[], true), Seat::NoDisplay);
        assert_eq!(
            seat_of(&[("DISPLAY", "")], true),
            Seat::NoDisplay,
            "empty is unset"
        );
        // macOS and Windows need no DISPLAY.
        assert_eq!(seat_of(&[], false), Seat::Local);
        for ssh in ["SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"] {
            assert_eq!(
                seat_of(&[(ssh, "x"), ("DISPLAY", ":0")], true),
                Seat::Remote
            );
            assert_eq!(seat_of(&[(ssh, "x")], false), Seat::Remote);
        }
    }

    #[tokio::test]
    async fn printing_only_or_on_url_opens_no_browser() {
        for on_url in [false, true] {
            let (prompt, screen, _) = prompt(DESKTOP);
            let (opener, mut opened) = fake_opener(|| Ok(()));
            let shown = Arc::new(Mutex::new(Vec::new()));
            let mut prompt = prompt.opener(opener);
            prompt = if on_url {
                let shown = Arc::clone(&shown);
                prompt.on_url(move |request| shown.lock().unwrap().push(request.url().to_owned()))
            } else {
                prompt.open_browser(false)
            };
            let prompt = Arc::new(prompt);
            let request = request(&prompt);
            let port = prompt.local_addr().unwrap().port();
            let login = tokio::spawn({
                let (prompt, request) = (Arc::clone(&prompt), request.clone());
                async move { prompt.authorize(&request).await }
            });
            if on_url {
                soon(async {
                    while shown.lock().unwrap().is_empty() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
                .await;
            } else {
                screen.wait_for("Waiting for the login").await;
            }
            come_back(port, request.state()).await;
            soon(login).await.unwrap().unwrap();
            assert!(
                opened.try_recv().is_err(),
                "on_url {on_url}: nothing opened"
            );
            if on_url {
                assert_eq!(screen.text(), "", "on_url shows it all");
                assert_eq!(*shown.lock().unwrap(), [request.url()]);
            } else {
                let text = screen.text();
                assert!(text.lines().any(|l| l == request.url()), "{text}");
                assert!(!text.contains("browser ("), "{text}");
            }
        }
    }

    #[tokio::test]
    async fn a_browser_that_does_not_open_is_told_and_the_login_goes_on() {
        let (prompt, screen, _) = prompt(DESKTOP);
        let (opener, mut opened) =
            fake_opener(|| Err(io::Error::new(io::ErrorKind::NotFound, "no browser here")));
        let prompt = Arc::new(prompt.opener(opener));
        let request = request(&prompt);
        let port = prompt.local_addr().unwrap().port();
        let login = tokio::spawn({
            let (prompt, request) = (Arc::clone(&prompt), request.clone());
            async move { prompt.authorize(&request).await }
        });
        assert_eq!(soon(opened.recv()).await.unwrap(), request.url());
        screen.wait_for("Could not open a browser").await;
        come_back(port, request.state()).await;
        assert_eq!(
            soon(login).await.unwrap().unwrap().code.secret(),
            "the-code"
        );
        assert!(screen.text().ends_with(
            "Waiting for the login in your browser… (Ctrl-C to cancel)\n\
             Could not open a browser (no browser here): copy the URL above into one.\n"
        ));
    }

    #[tokio::test]
    async fn ctrl_c_cancels_the_login_and_leaves_nothing_behind() {
        let (prompt, screen, ctrl_c) = prompt(&[("SSH_TTY", "/dev/pts/0")]);
        let prompt = Arc::new(prompt);
        let request = request(&prompt);
        let port = prompt.local_addr().unwrap().port();
        let login = tokio::spawn({
            let (prompt, request) = (Arc::clone(&prompt), request.clone());
            async move { prompt.authorize(&request).await }
        });
        screen.wait_for("(Ctrl-C to cancel)").await;
        // A connection the login is serving (it has sent half a request).
        let mut idle = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .unwrap();
        idle.write_all(b"GET /?code=").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        ctrl_c.notify_one();
        let err = soon(login).await.unwrap().unwrap_err();
        assert!(matches!(err, LoginError::Cancelled), "{err:?}");
        assert!(
            screen
                .text()
                .ends_with("(Ctrl-C to cancel)\n\nLogin cancelled.\n"),
            "{}",
            screen.text()
        );
        // The connection was closed with the login.
        let mut rest = Vec::new();
        let read = soon(idle.read_to_end(&mut rest)).await;
        assert!(matches!(read, Ok(0)) || read.is_err(), "{read:?} {rest:?}");

        // The prompt serves the next login.
        let next = tokio::spawn({
            let (prompt, request) = (Arc::clone(&prompt), request.clone());
            async move { prompt.authorize(&request).await }
        });
        // It listens once it says it waits (the port is only held between
        // logins).
        soon(async {
            while screen.text().matches(WAITING).count() < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        come_back(port, request.state()).await;
        assert_eq!(soon(next).await.unwrap().unwrap().code.secret(), "the-code");
        // Dropped, the prompt lets its port go.
        drop(Arc::try_unwrap(prompt).unwrap());
        assert!(StdListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
    }

    #[test]
    fn browser_is_read_as_pythons_webbrowser_reads_it() {
        let url = "https://auth.example.org/authorize?a=b";
        let sep = BROWSER_SEPARATOR;
        assert_eq!(
            browser_commands(
                &format!("firefox{sep}chromium --new-window %s{sep}{sep}lynx{sep}/usr/bin/w3m -v"),
                url
            ),
            [
                vec!["firefox".to_owned(), url.to_owned()],
                vec![
                    "chromium".to_owned(),
                    "--new-window".to_owned(),
                    url.to_owned()
                ],
            ],
            "the URL in place of %s or last; empty entries and text-only browsers left out"
        );
        assert_eq!(
            browser_commands("open -a Safari url=%s", url)[0][3],
            format!("url={url}")
        );
        assert!(browser_commands("", url).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn the_browser_named_by_browser_is_started_with_the_url() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("tower-gare-browser-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let got = dir.join("got");
        let script = dir.join("browser");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}.tmp' && mv '{0}.tmp' '{0}'\n",
                got.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let url = "https://auth.example.org/authorize?state=s&x=1";
        // A text-only browser and one that is not there come first.
        let browser = format!(
            "lynx:{}/not-a-browser:{} --new-tab",
            dir.display(),
            script.display()
        );
        open_in_browser(url, Some(browser.into())).unwrap();
        let began = std::time::Instant::now();
        while !got.exists() {
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "the browser was not started"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            std::fs::read_to_string(&got).unwrap(),
            format!("--new-tab\n{url}\n")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod between_logins {
    //! Issue 18, item 13: the port is held between logins, never listened
    //! on, so no one can tie up the listener while no login waits.

    use super::tests::{come_back, prompt, request, soon, Screen};
    use super::*;

    /// Every address the prompt holds refuses connections.
    pub(super) async fn all_refused(prompt: &LoopbackPrompt, when: &str) {
        for addr in prompt.local_addrs() {
            let got = tokio::net::TcpStream::connect(addr).await.map(drop);
            assert!(
                matches!(&got, Err(e) if e.kind() == io::ErrorKind::ConnectionRefused),
                "{when}: a connection to {addr} was not refused: {got:?}"
            );
        }
    }

    /// No other listener can take the port where the prompt holds it.
    pub(super) fn none_can_take_it(prompt: &LoopbackPrompt, when: &str) {
        for addr in prompt.local_addrs() {
            match StdListener::bind(addr) {
                Ok(_) => panic!("{when}: another listener took {addr}"),
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{when}: {addr}: {e}"),
            }
        }
    }

    /// One login, from its start to the browser's redirect.
    pub(super) async fn log_in(prompt: &Arc<LoopbackPrompt>, screen: &Screen) {
        let request = request(prompt);
        let port = prompt.local_addr().unwrap().port();
        let shown = screen.text().matches(WAITING).count();
        let login = tokio::spawn({
            let (prompt, request) = (Arc::clone(prompt), request.clone());
            async move { prompt.authorize(&request).await }
        });
        // Shown once the login listens.
        soon(async {
            while screen.text().matches(WAITING).count() == shown {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        // While it waits, every address takes connections.
        for addr in prompt.local_addrs() {
            let idle = tokio::net::TcpStream::connect(addr).await;
            assert!(idle.is_ok(), "during a login, {addr}: {idle:?}");
        }
        assert!(come_back(port, request.state())
            .await
            .starts_with("HTTP/1.1 200"));
        let answer = soon(login).await.unwrap().unwrap();
        assert_eq!(answer.code.secret(), "the-code");
    }

    #[tokio::test]
    async fn between_logins_the_port_refuses_connections_and_stays_held() {
        let (prompt, screen, _) = prompt(&[("SSH_TTY", "/dev/pts/0")]);
        let prompt = Arc::new(prompt);
        all_refused(&prompt, "before the first login").await;
        none_can_take_it(&prompt, "before the first login");
        for round in 1..=2 {
            log_in(&prompt, &screen).await;
            // The redirect's connection may linger in TIME_WAIT: the port
            // is held all the same.
            all_refused(&prompt, &format!("after login {round}")).await;
            none_can_take_it(&prompt, &format!("after login {round}"));
        }
        // A login given up (its future dropped) stops listening too.
        let request = request(&prompt);
        let given_up =
            tokio::time::timeout(Duration::from_millis(100), prompt.authorize(&request)).await;
        assert!(given_up.is_err(), "{given_up:?}");
        all_refused(&prompt, "after a login given up").await;
        none_can_take_it(&prompt, "after a login given up");
        log_in(&prompt, &screen).await;
    }

    #[tokio::test]
    async fn a_port_taken_between_logins_fails_the_next_login_and_says_so() {
        let (prompt, screen, _) = prompt(&[("SSH_TTY", "/dev/pts/0")]);
        let prompt = Arc::new(prompt);
        let addr = prompt.local_addr().unwrap();
        // The port on 127.0.0.1 was let go (as when holding it again after
        // a login failed), and another program listens there now.
        prompt.held.lock().unwrap()[0] = None;
        let squatter = StdListener::bind(addr).unwrap();
        let request = request(&prompt);
        let err = soon(prompt.authorize(&request)).await.unwrap_err();
        let LoginError::Prompt(cause) = &err else {
            panic!("{err:?}")
        };
        let said = cause.to_string();
        assert!(
            said.contains(&format!("no longer holds port {} on {addr}", addr.port())),
            "{said}"
        );
        assert!(said.contains(prompt.redirect_uri()), "{said}");
        assert_eq!(
            screen.text(),
            "",
            "nothing is shown: no browser is sent where another program listens"
        );
        // The prompt listens nowhere else meanwhile, nor on another port.
        for other in prompt.local_addrs().into_iter().skip(1) {
            let got = tokio::net::TcpStream::connect(other).await.map(drop);
            assert!(
                matches!(&got, Err(e) if e.kind() == io::ErrorKind::ConnectionRefused),
                "{other}: {got:?}"
            );
        }
        // Once the other program is gone, the next login holds the port
        // again and completes.
        drop(squatter);
        log_in(&prompt, &screen).await;
        all_refused(&prompt, "after the login").await;
        none_can_take_it(&prompt, "after the login");
    }

    #[test]
    fn a_login_on_a_runtime_without_io_fails_and_the_port_stays_held() {
        let (prompt, _screen, _) = prompt(&[("SSH_TTY", "/dev/pts/0")]);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let err = runtime
            .block_on(prompt.authorize(&request(&prompt)))
            .unwrap_err();
        let LoginError::Prompt(cause) = &err else {
            panic!("{err:?}")
        };
        assert!(cause.to_string().contains("enable_io"), "{cause}");
        for addr in prompt.local_addrs() {
            let got = std::net::TcpStream::connect(addr).map(drop);
            assert!(
                matches!(&got, Err(e) if e.kind() == io::ErrorKind::ConnectionRefused),
                "{addr}: {got:?}"
            );
        }
        none_can_take_it(&prompt, "after the failed login");
    }
}

#[cfg(test)]
mod redirect_host {
    //! Issue 18, item 9: the redirect never leaves this machine.

    use super::*;

    #[test]
    fn redirect_to_refuses_a_host_that_is_not_this_machine() {
        for host in [
            "example.org",
            "localhost.example.org",
            "127.0.0.1.nip.io",
            "10.0.0.1",
            "192.168.1.10",
            "0.0.0.0",
            "::",
            "[::]",
            "[::ffff:127.0.0.1]",
            "fe80::1",
            "127.1",
            "localhost:8080",
            "127.0.0.1:80",
            "user@localhost",
            "[::1",
            "",
        ] {
            let prompt = LoopbackPrompt::bind(0).unwrap();
            let err = prompt.redirect_to(host, "/callback").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{host:?}: {err}");
            assert!(err.to_string().contains(&format!("{host:?}")), "{err}");
        }
    }

    #[test]
    fn redirect_to_takes_the_loopback_hosts_the_prompt_listens_on() {
        let prompt = LoopbackPrompt::bind(0).unwrap();
        let port = prompt.port;
        let ipv6 = prompt.local_addrs().iter().any(SocketAddr::is_ipv6);
        let mut prompt = prompt;
        let mut cases = vec![
            ("127.0.0.1", format!("http://127.0.0.1:{port}/callback")),
            ("localhost", format!("http://localhost:{port}/callback")),
            // Registered URIs are compared as strings: the host as given.
            ("LocalHost", format!("http://LocalHost:{port}/callback")),
        ];
        if ipv6 {
            cases.push(("[::1]", format!("http://[::1]:{port}/callback")));
            cases.push(("::1", format!("http://[::1]:{port}/callback")));
        }
        for (host, uri) in cases {
            prompt = prompt.redirect_to(host, "callback").unwrap();
            assert_eq!(prompt.redirect_uri(), uri);
            assert_eq!(prompt.path, "/callback");
        }
        if !ipv6 {
            // No ::1 here: no browser could reach it, so it is refused.
            let err = prompt.redirect_to("[::1]", "/").unwrap_err();
            assert!(err.to_string().contains("\"[::1]\""), "{err}");
        }
    }

    /// Another 127/8 address is held on the prompt's port too, where the
    /// system has it (Linux routes all of 127/8 to the loopback), and
    /// listened on while a login waits.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn redirect_to_another_127_address_holds_the_port_there_too() {
        use super::between_logins::{all_refused, log_in, none_can_take_it};
        let (prompt, screen, _) = super::tests::prompt(&[("SSH_TTY", "/dev/pts/0")]);
        let port = prompt.port;
        let other = SocketAddr::from(([127, 0, 0, 2], port));
        assert!(!prompt.local_addrs().contains(&other));
        let prompt = prompt.redirect_to("127.0.0.2", "/").unwrap();
        assert_eq!(prompt.redirect_uri(), format!("http://127.0.0.2:{port}"));
        assert!(prompt.local_addrs().contains(&other), "{prompt:?}");
        // Held, not listened on, until a login waits; listened on then.
        let prompt = Arc::new(prompt);
        all_refused(&prompt, "before the login").await;
        none_can_take_it(&prompt, "before the login");
        log_in(&prompt, &screen).await;
        all_refused(&prompt, "after the login").await;
        none_can_take_it(&prompt, "after the login");
    }
}
