//! The command-line prompt: print the URL, read the code.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::sync::{Arc, Mutex};

use crate::login::{AuthorizationResponse, AuthorizeRequest, LoginError, Prompt, Secret};

type Io = (Box<dyn BufRead + Send>, Box<dyn Write + Send>);

/// Prints the session message and the authorize URL, then reads the code
/// the user pastes (or the whole redirect URL, whose `state` is then
/// checked), like the Python SDK's command-line login flow manager.
///
/// It writes to standard error and reads standard input, unless given
/// other streams with [`with_io`](CommandLinePrompt::with_io). The session
/// message is untrusted and is printed sanitized. A login abandoned while
/// it waits (a timeout around it) leaves the read pending: the next line
/// typed answers that read, not the next login.
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
///     .resource_servers(ResourceServers::new())
///     .prompt(CommandLinePrompt::with_io(typed, std::io::sink()))
///     .build(token_endpoint)?;
/// let uri = http::Uri::from_static("https://transfer.api.globus.org/v0.10/task_list");
/// let credentials = login.credentials_for(&uri).await?;
/// assert_eq!(credentials, Credentials::bearer("t0k3n")?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CommandLinePrompt {
    io: Arc<Mutex<Option<Io>>>,
}

impl Default for CommandLinePrompt {
    fn default() -> Self {
        CommandLinePrompt {
            io: Arc::new(Mutex::new(None)),
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
            io: Arc::new(Mutex::new(Some((Box::new(input), Box::new(output))))),
        }
    }
}

impl fmt::Debug for CommandLinePrompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandLinePrompt").finish_non_exhaustive()
    }
}

fn converse(io: &mut Option<Io>, request_url: &str, message: Option<String>) -> io::Result<String> {
    let mut line = String::new();
    match io {
        Some((input, output)) => {
            write_prompt(output, request_url, message)?;
            input.read_line(&mut line)?;
        }
        None => {
            write_prompt(&mut io::stderr().lock(), request_url, message)?;
            io::stdin().lock().read_line(&mut line)?;
        }
    }
    Ok(line.trim().to_owned())
}

fn write_prompt(out: &mut dyn Write, url: &str, message: Option<String>) -> io::Result<()> {
    if let Some(message) = message {
        writeln!(out, "{message}")?;
    }
    writeln!(out, "Please authenticate with Globus here:")?;
    writeln!(out, "------------------------------------")?;
    writeln!(out, "{url}")?;
    writeln!(out, "------------------------------------")?;
    write!(out, "Enter the resulting Authorization Code here: ")?;
    out.flush()
}

impl Prompt for CommandLinePrompt {
    /// Printed on its own line, on the prompt's output (standard error).
    fn notice(&self, text: &str) {
        let mut io = self.io.lock().unwrap_or_else(|p| p.into_inner());
        let _ = match io.as_mut() {
            Some((_, output)) => writeln!(output, "{text}"),
            None => writeln!(io::stderr().lock(), "{text}"),
        };
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
        let io = Arc::clone(&self.io);
        let url = request.url().to_owned();
        let message = request.session_message();
        // Reading a terminal blocks: do it on a thread of its own, so the
        // runtime's workers keep serving other requests meanwhile.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut io = io.lock().unwrap_or_else(|p| p.into_inner());
            let _ = tx.send(converse(&mut io, &url, message));
        });
        let answer = rx
            .await
            .map_err(|_| LoginError::Prompt("the prompt's thread stopped before an answer".into()))?
            .map_err(|e| LoginError::Prompt(e.into()))?;
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
