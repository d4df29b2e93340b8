//! The command-line prompt: print the URL, read the code.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io::{self, BufRead, IsTerminal, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::story::{write_story, write_url};
use crate::deadline::{within, Missed};
use crate::login::{AuthorizationResponse, AuthorizeRequest, LoginError, Prompt, Secret};

/// Where the person pastes the code: the prompt's last words, on the line
/// they type on.
pub(crate) const CODE_PROMPT: &str = "Enter the resulting Authorization Code here: ";

type Input = Arc<Mutex<Option<Box<dyn BufRead + Send>>>>;
type Output = Arc<Mutex<Option<Box<dyn Write + Send>>>>;
/// The line a reading thread will send: what was typed, or the error.
type Line = oneshot::Receiver<io::Result<String>>;

/// Prints the session message and the authorize URL, then reads the code
/// the user pastes (or the whole redirect URL, whose `state` is then
/// checked), like the Python SDK's command-line login flow manager.
///
/// It writes to standard error and reads standard input, unless given
/// other streams with [`with_io`](CommandLinePrompt::with_io). What it
/// shows, in this order:
///
/// ```text
/// Message from the service: Access to this group requires MFA.
/// This login asks for:
///   consent to: urn:globus:auth:scope:groups.api.globus.org:all
///   a session from: example.org
///   multi-factor authentication (MFA)
/// Please authenticate with Globus here:
/// ------------------------------------
/// https://auth.globus.org/v2/oauth2/authorize?client_id=…
/// ------------------------------------
/// Enter the resulting Authorization Code here:
/// ```
///
/// The session message is the service's, not this program's: it is
/// printed after `Message from the service:`, sanitized, on one line (runs
/// of blank space collapsed) and cut at 300 characters. What is asked for
/// comes from the authorize request (its scopes but the ID token's,
/// `session_required_single_domain`, `_identities`, `_policies`, `_mfa`,
/// and `prompt=login` alone as "a fresh login"), each value sanitized
/// and capped, one line each; a line that would be empty is left out. The
/// URL is alone on its line. When the answer was not echoed (standard
/// input is not a terminal, or the input came from `with_io`), a line
/// break follows it, so what is printed next starts a line of its own.
///
/// A login waits for the person as long as it takes, as the Python SDK's
/// does, unless given a [`timeout`](CommandLinePrompt::timeout), past which
/// it fails with [`LoginError::Timeout`]. A blocking read of a terminal
/// cannot be called back: a login that timed out (or was dropped, by a
/// timeout around it) leaves its read pending on its thread. The next
/// login of this prompt takes that read over, so the line typed after its
/// own prompt answers it; a line typed while no login was waiting is
/// dropped, not taken as the next login's code.
///
/// A login whose user pastes `the-code`, against a stand-in token endpoint
/// that gives a token for that code only:
///
/// ```
/// use std::convert::Infallible;
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use tower_gare::login::{CommandLinePrompt, Login, ResourceServers};
/// use tower_gare::redrive::Credentials;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let token_endpoint = tower::service_fn(|request: http::Request<Full<Bytes>>| async move {
///     let form = request.into_body().collect().await?.to_bytes();
///     let pasted = form_urlencoded::parse(&form).any(|(k, v)| k == "code" && v == "the-code");
///     let answer = if pasted {
///         r#"{"access_token": "t0k3n", "resource_server": "transfer.api.globus.org"}"#
///     } else {
///         r#"{"error": "invalid_grant"}"#
///     };
///     Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(answer))))
/// });
/// let typed = std::io::Cursor::new(b"  the-code\n".to_vec());
/// let login = Login::builder("my-client-id")
///     .auth_base_url("https://auth.example.org")
///     .scopes(["urn:globus:auth:scope:transfer.api.globus.org:all"])
///     .resource_servers(ResourceServers::new().with("https://transfer.api.globus.org/", "transfer.api.globus.org"))
///     .prompt(CommandLinePrompt::with_io(typed, std::io::sink()))
///     .build(token_endpoint)?;
/// let uri = http::Uri::from_static("https://transfer.api.globus.org/v0.10/task_list");
/// let credentials = login.credentials_for(&uri).await?;
/// assert_eq!(credentials, Credentials::bearer("t0k3n")?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CommandLinePrompt {
    input: Input,
    output: Output,
    /// A read a login left pending (it timed out, or was dropped): the next
    /// login takes it over.
    pending: Arc<Mutex<Option<Line>>>,
    /// One login at a time: two prompts on one terminal would interleave.
    turn: Arc<tokio::sync::Mutex<()>>,
    timeout: Option<Duration>,
    /// Input given by [`with_io`](CommandLinePrompt::with_io), not echoed.
    given_input: bool,
}

impl Default for CommandLinePrompt {
    fn default() -> Self {
        CommandLinePrompt {
            input: Arc::new(Mutex::new(None)),
            output: Arc::new(Mutex::new(None)),
            pending: Arc::default(),
            turn: Arc::default(),
            timeout: None,
            given_input: false,
        }
    }
}

impl CommandLinePrompt {
    /// Standard input and standard error.
    pub fn new() -> Self {
        Self::default()
    }

    /// Other streams: for tests, or a terminal other than the process's.
    pub fn with_io(
        input: impl BufRead + Send + 'static,
        output: impl Write + Send + 'static,
    ) -> Self {
        CommandLinePrompt {
            input: Arc::new(Mutex::new(Some(Box::new(input)))),
            output: Arc::new(Mutex::new(Some(Box::new(output)))),
            given_input: true,
            ..Self::default()
        }
    }

    /// How long a login may wait for the person (default: no limit, as in
    /// the Python SDK), after which it fails with [`LoginError::Timeout`].
    /// Keeping it needs a tokio runtime with timers; without one the login
    /// fails with [`LoginError::NoTimer`] before anything is printed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_gare::login::CommandLinePrompt;
    ///
    /// let prompt = CommandLinePrompt::new().timeout(Duration::from_secs(600));
    /// # let _ = prompt;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A read of the next line: the one a login left pending, when no line
    /// came to it since; otherwise a new read on a thread of its own (reading
    /// a terminal blocks, and the runtime's workers keep serving meanwhile).
    fn next_line(&self) -> PendingLine<'_> {
        let left = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let line = match left {
            Some(mut line) => match line.try_recv() {
                // Nothing typed since that login gave up: this login's
                // answer is the line still to come.
                Err(oneshot::error::TryRecvError::Empty) => Some(line),
                // Typed while no login was waiting (an answer to a prompt
                // that is gone): dropped.
                Ok(_) | Err(oneshot::error::TryRecvError::Closed) => None,
            },
            None => None,
        };
        let line = line.unwrap_or_else(|| {
            let (tx, rx) = oneshot::channel();
            let input = Arc::clone(&self.input);
            std::thread::spawn(move || {
                let mut input = input.lock().unwrap_or_else(|p| p.into_inner());
                let mut line = String::new();
                let read = match input.as_mut() {
                    Some(input) => input.read_line(&mut line),
                    None => io::stdin().lock().read_line(&mut line),
                };
                let _ = tx.send(read.map(|_| line));
            });
            rx
        });
        PendingLine {
            slot: &self.pending,
            line: Some(line),
        }
    }

    /// Whether what the person types is shown as they type it: the
    /// process's standard input, when it is a terminal.
    fn input_echoed(&self) -> bool {
        !self.given_input && io::stdin().is_terminal()
    }

    fn write(&self, show: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
        let mut output = self.output.lock().unwrap_or_else(|p| p.into_inner());
        match output.as_mut() {
            Some(output) => show(output),
            None => show(&mut io::stderr().lock()),
        }
    }

    async fn converse(&self, request: &AuthorizeRequest) -> Result<String, LoginError> {
        let mut line = self.next_line();
        self.write(|out| write_prompt(out, request))
            .map_err(|e| LoginError::Prompt(e.into()))?;
        let typed = line
            .recv()
            .await
            .map_err(|e| LoginError::Prompt(e.into()))?;
        // A terminal echoes the line typed, and its newline; input from
        // anywhere else (a pipe, a file, a stream given to `with_io`) is
        // not shown, and what comes next would go on the prompt's line.
        if !self.input_echoed() {
            let _ = self.write(|out| {
                writeln!(out)?;
                out.flush()
            });
        }
        Ok(typed.trim().to_owned())
    }
}

/// A line being read. Dropped before the line came (the login timed out, or
/// was dropped), it is left for the next login.
struct PendingLine<'a> {
    slot: &'a Mutex<Option<Line>>,
    line: Option<Line>,
}

impl PendingLine<'_> {
    async fn recv(&mut self) -> io::Result<String> {
        let got = match self.line.as_mut() {
            Some(line) => poll_fn(|cx| Pin::new(&mut *line).poll(cx)).await,
            None => return Err(io::Error::other("the line was read already")),
        };
        self.line = None;
        got.unwrap_or_else(|_| {
            Err(io::Error::other(
                "the prompt's thread stopped before an answer",
            ))
        })
    }
}

impl Drop for PendingLine<'_> {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(line);
        }
    }
}

impl fmt::Debug for CommandLinePrompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandLinePrompt")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The question: what the login is for ([`story`](super::story::story)),
/// the URL alone on its line, then where to paste the code.
fn write_prompt(out: &mut dyn Write, request: &AuthorizeRequest) -> io::Result<()> {
    write_story(out, request)?;
    write_url(out, request)?;
    write!(out, "{CODE_PROMPT}")?;
    out.flush()
}

impl Prompt for CommandLinePrompt {
    /// Printed on its own line, on the prompt's output (standard error).
    fn notice(&self, text: &str) {
        let _ = self.write(|out| writeln!(out, "{text}"));
    }

    /// A person pastes the code from Globus Auth's code page, which has no
    /// `state` to bring back.
    fn takes_bare_code(&self) -> bool {
        true
    }

    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        let _turn = self.turn.lock().await;
        let answer = match self.timeout {
            None => self.converse(request).await?,
            Some(limit) => match within(limit, self.converse(request)).await {
                Ok(answer) => answer?,
                Err(Missed::Elapsed) => return Err(LoginError::Timeout),
                Err(Missed::NoTimer) => return Err(LoginError::NoTimer),
            },
        };
        if answer.is_empty() {
            return Err(LoginError::Cancelled);
        }
        // A pasted redirect URL: read its query, and so its state.
        if let Some((_, query)) = answer.split_once('?') {
            return AuthorizationResponse::from_query(query);
        }
        Ok(AuthorizationResponse {
            code: Secret::new(answer),
            state: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, BufRead, Read, Write};
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::super::sanitize::{SERVER_TEXT_CAP, SERVICE_LABEL};
    use super::CommandLinePrompt;
    use crate::gare::{AuthorizationParameters, Gare};
    use crate::login::{AuthorizeRequest, LoginError, Prompt, RefreshTokens};

    /// A terminal's input: each string sent is what the person types; a
    /// read blocks until then, as a terminal's does.
    struct Typed {
        lines: mpsc::Receiver<String>,
        buf: Vec<u8>,
        at: usize,
    }

    impl Read for Typed {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = {
                let have = self.fill_buf()?;
                let n = have.len().min(out.len());
                out[..n].copy_from_slice(&have[..n]);
                n
            };
            self.consume(n);
            Ok(n)
        }
    }

    impl BufRead for Typed {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            if self.at >= self.buf.len() {
                match self.lines.recv() {
                    Ok(line) => (self.buf, self.at) = (line.into_bytes(), 0),
                    Err(_) => return Ok(&[]),
                }
            }
            Ok(&self.buf[self.at..])
        }
        fn consume(&mut self, n: usize) {
            self.at += n;
        }
    }

    #[derive(Clone, Default)]
    struct Screen(Arc<Mutex<Vec<u8>>>);

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
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
        fn prompts(&self) -> usize {
            self.text().matches("Enter the resulting").count()
        }
        async fn wait_for_prompts(&self, n: usize) {
            while self.prompts() < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    fn terminal() -> (CommandLinePrompt, mpsc::Sender<String>, Screen) {
        let (typing, lines) = mpsc::channel();
        let screen = Screen::default();
        let input = Typed {
            lines,
            buf: Vec::new(),
            at: 0,
        };
        (
            CommandLinePrompt::with_io(input, screen.clone()),
            typing,
            screen,
        )
    }

    fn request(session_message: Option<&str>) -> AuthorizeRequest {
        let params = AuthorizationParameters {
            session_message: session_message.map(str::to_owned),
            ..Default::default()
        };
        AuthorizeRequest::build(
            "https://auth.example.org/v2/oauth2/authorize",
            "client",
            "https://auth.example.org/v2/web/auth-code",
            "openid",
            &Gare::new("ConsentRequired", params),
            &RefreshTokens::No,
        )
        .unwrap()
        .0
    }

    /// At most 10 s of real time for something that must not hang.
    async fn soon<T>(what: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), what)
            .await
            .expect("finished in time, not hung")
    }

    #[tokio::test]
    async fn past_its_deadline_a_login_is_a_timeout_and_the_next_takes_the_read_over() {
        let (prompt, typing, screen) = terminal();
        let prompt = prompt.timeout(Duration::from_millis(100));
        let request = request(None);
        let err = soon(prompt.authorize(&request)).await.unwrap_err();
        assert!(matches!(err, LoginError::Timeout), "{err:?}");
        assert_eq!(screen.prompts(), 1);

        // The first login's read is still pending on its thread; the next
        // login's prompt is shown at once, and the line typed after it is
        // that login's answer.
        let next = tokio::spawn({
            let prompt = prompt.clone();
            async move { prompt.authorize(&request).await }
        });
        soon(screen.wait_for_prompts(2)).await;
        typing.send("code-2\n".into()).unwrap();
        let answer = soon(next).await.unwrap().unwrap();
        assert_eq!(answer.code.secret(), "code-2");
    }

    #[tokio::test]
    async fn a_line_typed_while_no_login_waits_is_not_the_next_logins_code() {
        let (prompt, typing, screen) = terminal();
        let prompt = prompt.timeout(Duration::from_millis(100));
        let request = request(None);
        assert!(matches!(
            soon(prompt.authorize(&request)).await,
            Err(LoginError::Timeout)
        ));
        // The person answers the prompt that is gone.
        typing.send("stale-code\n".into()).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let next = tokio::spawn({
            let prompt = prompt.clone();
            async move { prompt.authorize(&request).await }
        });
        soon(screen.wait_for_prompts(2)).await;
        typing.send("fresh-code\n".into()).unwrap();
        let answer = soon(next).await.unwrap().unwrap();
        assert_eq!(answer.code.secret(), "fresh-code");
    }

    #[tokio::test]
    async fn no_deadline_by_default() {
        let (prompt, typing, screen) = terminal();
        assert!(format!("{prompt:?}").contains("timeout: None"));
        let request = request(None);
        let login = tokio::spawn(async move { prompt.authorize(&request).await });
        soon(screen.wait_for_prompts(1)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!login.is_finished());
        typing.send("late-code\n".into()).unwrap();
        assert_eq!(
            soon(login).await.unwrap().unwrap().code.secret(),
            "late-code"
        );
    }

    #[test]
    fn a_deadline_without_timers_is_an_error_not_a_panic() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (prompt, typing, screen) = terminal();
        // Nothing will be typed: a login that went ahead would end at once
        // (end of input), not hang.
        drop(typing);
        let prompt = prompt.timeout(Duration::from_secs(1));
        let err = runtime
            .block_on(prompt.authorize(&request(None)))
            .unwrap_err();
        assert!(matches!(err, LoginError::NoTimer), "{err:?}");
        assert_eq!(
            screen.text(),
            "",
            "nothing is shown for a login that cannot be kept"
        );
    }

    #[tokio::test]
    async fn the_service_message_is_labelled_on_one_line_and_capped() {
        // A message padded to a terminal's width, line by line, to stand a
        // fake prompt above the real one; then 64 KiB of filler.
        let pad = |line: &str| format!("{line:<160}");
        let hostile = format!(
            "{}{}{}{}",
            pad("Please authenticate with Globus here:"),
            pad("------------------------------------"),
            pad("https://evil.example/login"),
            "x".repeat(64 * 1024)
        );
        let (prompt, typing, screen) = terminal();
        typing.send("code\n".into()).unwrap();
        soon(prompt.authorize(&request(Some(&hostile))))
            .await
            .unwrap();
        let text = screen.text();
        let lines: Vec<&str> = text.lines().collect();
        let message = lines[0];
        assert!(message.starts_with(SERVICE_LABEL), "{message:?}");
        assert!(message.ends_with('…'), "{message:?}");
        let shown = message[SERVICE_LABEL.len()..].trim_start();
        assert_eq!(shown.chars().count(), SERVER_TEXT_CAP);
        assert!(!shown.contains("  "), "blank runs collapsed: {shown:?}");
        assert_eq!(lines[1], "Please authenticate with Globus here:");
        // The real prompt follows the one message line.
        assert_eq!(
            text.matches("Please authenticate with Globus here:")
                .count(),
            2
        );
    }

    #[tokio::test]
    async fn the_screen_tells_the_story_in_order_and_the_answer_ends_its_line() {
        let params = AuthorizationParameters {
            session_message: Some("Access to this group requires MFA.".into()),
            session_required_single_domain: Some(vec!["example.org".into()]),
            session_required_mfa: Some(true),
            ..Default::default()
        };
        let request = AuthorizeRequest::build(
            "https://auth.example.org/v2/oauth2/authorize",
            "client",
            "https://auth.example.org/v2/web/auth-code",
            "openid urn:globus:auth:scope:groups.api.globus.org:all",
            &Gare::new("AuthorizationRequired", params),
            &RefreshTokens::No,
        )
        .unwrap()
        .0;
        let (prompt, typing, screen) = terminal();
        typing.send("the-code\n".into()).unwrap();
        let answer = soon(prompt.authorize(&request)).await.unwrap();
        assert_eq!(answer.code.secret(), "the-code");
        let url = request.url();
        assert_eq!(
            screen.text(),
            format!(
                "Message from the service: Access to this group requires MFA.\n\
                 This login asks for:\n\
                 \x20 consent to: urn:globus:auth:scope:groups.api.globus.org:all\n\
                 \x20 a session from: example.org\n\
                 \x20 multi-factor authentication (MFA)\n\
                 Please authenticate with Globus here:\n\
                 ------------------------------------\n\
                 {url}\n\
                 ------------------------------------\n\
                 Enter the resulting Authorization Code here: \n"
            ),
            "the message, what is asked, the URL alone on its line, the prompt; \
             the answer (not echoed) ends the prompt's line"
        );
    }
}
