//! What can go wrong in a login, each a variant a program can act on.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use super::prompts::{server_text, SERVER_LIST_CAP, SERVER_TEXT_CAP};
use crate::redrive::InvalidCredentials;
use crate::scopes::ScopeParseError;

/// A login that did not produce credentials. Each variant stands for one
/// failure; those caused by another error carry it as their
/// [`source`](std::error::Error::source), and their message does not repeat
/// it. Messages never hold a secret (no token, code, verifier or client
/// secret), and text the server chose is made safe for a terminal: no
/// control characters or escape sequences, blank runs collapsed, and cut
/// (with `…`) at 300 characters, 1000 for a list; the variants' fields
/// hold it as it came.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoginError {
    /// The authorization server refused: its OAuth2 `error` code
    /// (`invalid_grant`, `access_denied`, ...) and `error_description`.
    Refused {
        /// The OAuth2 error code.
        error: String,
        /// The server's explanation, if it gave one.
        description: Option<String>,
    },
    /// The `state` that came back is not the one sent: the redirect is not
    /// an answer to this login (a forged or stale redirect).
    StateMismatch,
    /// The user did not finish the login in time.
    Timeout,
    /// The person cancelled the login: gave no code, or pressed Ctrl-C.
    Cancelled,
    /// The token response holds no token for the resource server the
    /// request goes to.
    MissingToken {
        /// The resource server whose token is missing.
        resource_server: String,
    },
    /// The tokens granted lack scopes the GARE required.
    MissingScope {
        /// The required scopes that were not granted.
        scopes: Vec<String>,
    },
    /// Nothing to ask for: the GARE names no scope and the login has none configured.
    NoScopes,
    /// A scope string (from the GARE or the settings) is malformed.
    InvalidScope(ScopeParseError),
    /// The token endpoint's answer is not JSON.
    InvalidJson {
        /// The HTTP status it came with.
        status: StatusCode,
        /// Why it does not parse.
        source: serde_json::Error,
    },
    /// The token endpoint's answer is JSON, but not a token response.
    InvalidResponse {
        /// The HTTP status it came with.
        status: StatusCode,
        /// What is missing or wrong in it.
        reason: &'static str,
    },
    /// The token endpoint issued an access token that cannot go in an HTTP
    /// header (control characters, newlines).
    InvalidToken(InvalidCredentials),
    /// The HTTP client failed to reach the token endpoint, or to read its answer.
    Transport(Box<dyn std::error::Error + Send + Sync>),
    /// The prompt failed (no terminal, the loopback port could not be
    /// used, ...): the error of the prompt that failed.
    Prompt(Box<dyn std::error::Error + Send + Sync>),
    /// The system gave no randomness for the PKCE verifier and the `state`.
    Randomness(std::io::Error),
    /// The token store failed.
    Store(std::io::Error),
    /// The token or revocation endpoint did not answer (headers and body)
    /// within the time allowed.
    EndpointTimeout {
        /// The time allowed.
        limit: Duration,
    },
    /// A deadline was to be kept, but no tokio runtime with timers is
    /// running: build the runtime with `enable_time` (or `enable_all`).
    NoTimer,
    /// Client credentials were asked for by a public client: only a client
    /// with a secret can get tokens as itself.
    NoClientSecret,
    /// The token response's `id_token` cannot be read: not a JWT, or its
    /// payload is not JSON with a string `sub`.
    InvalidIdToken {
        /// What is wrong with it.
        reason: &'static str,
        /// The decoding error, when there was one.
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The revocation endpoint answered an error status with no OAuth2
    /// error in its body.
    RevocationFailed {
        /// The HTTP status.
        status: StatusCode,
    },
    /// A GARE that only a person can meet (session requirements: an
    /// identity, a domain, a policy, MFA) reached a login that acts as the
    /// client itself, with no person.
    NeedsPerson {
        /// The GARE.
        gare: Box<crate::gare::Gare>,
    },
    /// A login is needed and the prompt may not ask anyone
    /// ([`NeverPrompt`](crate::login::NeverPrompt)): what a person would do.
    LoginRequired {
        /// The authorize URL a person would open.
        authorize_url: String,
        /// The Globus CLI commands that would meet the requirements (none
        /// for MFA alone: the CLI has no option for it).
        commands: Vec<String>,
        /// The GARE the login was for (none for a program's first login).
        gare: Option<Box<crate::gare::Gare>>,
    },
    /// The login was as another identity than the stored tokens': the
    /// stored tokens were left as they are (log out first to switch).
    IdentityMismatch {
        /// The identity of the stored tokens.
        stored: String,
        /// The identity that logged in.
        logged_in: String,
    },
    /// A login for this user and resource server failed (refused, timed
    /// out, the wrong identity, ...) while this request waited for it: it
    /// is not tried again for every waiting request. (A cancelled login,
    /// or one that needed a prompt it could not show, is
    /// [`Cancelled`](LoginError::Cancelled) or
    /// [`LoginRequired`](LoginError::LoginRequired) for them too.)
    LoginFailed {
        /// The resource server the login was for.
        resource_server: String,
        /// Why it failed: that login's error message.
        reason: String,
    },
    /// The request's URL is not mapped to a resource server: no rule of
    /// the login's [`ResourceServers`](crate::login::ResourceServers)
    /// covers it, and its host names no resource server with scope
    /// requirements. No token goes there.
    Unmapped {
        /// The URL, without its query.
        url: String,
    },
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Server text: sanitized and capped, as a program may print it
            // on a terminal.
            LoginError::Refused {
                error,
                description: Some(description),
            } => write!(
                f,
                "the authorization server refused: {}: {}",
                server_text(error, SERVER_TEXT_CAP),
                server_text(description, SERVER_TEXT_CAP)
            ),
            LoginError::Refused { error, .. } => write!(
                f,
                "the authorization server refused: {}",
                server_text(error, SERVER_TEXT_CAP)
            ),
            LoginError::StateMismatch => f.write_str(
                "the login's redirect carried no state, or another than the one sent; it was ignored",
            ),
            LoginError::Timeout => f.write_str("the login was not completed in time"),
            LoginError::Cancelled => {
                f.write_str("the login was cancelled")
            }
            LoginError::MissingToken { resource_server } => write!(
                f,
                "the token response holds no token for {}",
                server_text(resource_server, SERVER_TEXT_CAP)
            ),
            // Scope names come from the GARE: server text too.
            LoginError::MissingScope { scopes } => write!(
                f,
                "the login did not grant scopes the service required: {}",
                server_text(&scopes.join(" "), SERVER_LIST_CAP)
            ),
            LoginError::NoScopes => f.write_str(
                "no scopes to request: the GARE names none and the login has none configured",
            ),
            LoginError::InvalidScope(_) => f.write_str("a scope string is malformed"),
            LoginError::InvalidJson { status, .. } => write!(
                f,
                "the token endpoint answered {status} with a body that is not JSON"
            ),
            LoginError::InvalidResponse { status, reason } => write!(
                f,
                "the token endpoint answered {status} with no usable token response: {reason}"
            ),
            LoginError::InvalidToken(_) => f.write_str(
                "the token endpoint issued an access token that cannot go in an HTTP header",
            ),
            LoginError::Transport(_) => f.write_str("the token endpoint could not be reached"),
            LoginError::Prompt(_) => f.write_str("the login prompt failed"),
            LoginError::Randomness(_) => {
                f.write_str("no randomness for the login's PKCE verifier and state")
            }
            LoginError::Store(_) => f.write_str("the token store failed"),
            LoginError::EndpointTimeout { limit } => write!(
                f,
                "the authorization server did not answer within {limit:?}"
            ),
            LoginError::NoTimer => f.write_str(
                "no tokio runtime with timers is running to keep the login's deadline \
                 (build the runtime with enable_time or enable_all)",
            ),
            LoginError::NoClientSecret => f.write_str(
                "client credentials need a confidential client: this client has no secret",
            ),
            LoginError::InvalidIdToken { reason, .. } => {
                write!(f, "the token response's id_token cannot be read: {reason}")
            }
            LoginError::RevocationFailed { status } => write!(
                f,
                "the revocation endpoint answered {status} with no OAuth2 error"
            ),
            LoginError::NeedsPerson { gare } => write!(
                f,
                "the service requires a person to log in ({}): client credentials cannot meet it",
                server_text(&gare.code, SERVER_TEXT_CAP)
            ),
            LoginError::LoginRequired {
                authorize_url,
                commands,
                ..
            } => {
                write!(f, "a login is needed and this program may not prompt; a person can log in at {authorize_url}")?;
                if !commands.is_empty() {
                    // Scopes and identities are the server's.
                    let commands = server_text(&commands.join(" && "), SERVER_LIST_CAP);
                    write!(f, " or run: {commands}")?;
                }
                if authorize_url.contains("session_required_mfa=true") {
                    write!(f, " (with multi-factor authentication, which only the URL asks for)")?;
                }
                Ok(())
            }
            LoginError::IdentityMismatch { stored, logged_in } => write!(
                f,
                "logged in as {}, but the stored tokens are {}'s; they were kept (log out first to switch)",
                server_text(logged_in, SERVER_TEXT_CAP),
                server_text(stored, SERVER_TEXT_CAP)
            ),
            LoginError::LoginFailed {
                resource_server,
                reason,
            } => write!(
                f,
                "the login this request waited for ({}) failed: {reason}",
                server_text(resource_server, SERVER_TEXT_CAP)
            ),
            LoginError::Unmapped { url } => write!(
                f,
                "no resource server is mapped for {} (add a ResourceServers rule, or scope requirements for its host)",
                server_text(url, SERVER_TEXT_CAP)
            ),
        }
    }
}

impl std::error::Error for LoginError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoginError::InvalidScope(error) => Some(error),
            LoginError::InvalidJson { source, .. } => Some(source),
            LoginError::InvalidToken(error) => Some(error),
            LoginError::Transport(error) | LoginError::Prompt(error) => Some(&**error),
            LoginError::Randomness(error) | LoginError::Store(error) => Some(error),
            LoginError::InvalidIdToken {
                source: Some(error),
                ..
            } => Some(&**error),
            LoginError::Refused { .. }
            | LoginError::StateMismatch
            | LoginError::Timeout
            | LoginError::Cancelled
            | LoginError::MissingToken { .. }
            | LoginError::MissingScope { .. }
            | LoginError::NoScopes
            | LoginError::InvalidResponse { .. }
            | LoginError::EndpointTimeout { .. }
            | LoginError::NoTimer
            | LoginError::NoClientSecret
            | LoginError::InvalidIdToken { source: None, .. }
            | LoginError::RevocationFailed { .. }
            | LoginError::NeedsPerson { .. }
            | LoginError::LoginRequired { .. }
            | LoginError::Unmapped { .. }
            | LoginError::LoginFailed { .. }
            | LoginError::IdentityMismatch { .. } => None,
        }
    }
}

/// What the requests that waited for a failed login are told: the same
/// error where it can be made again, else its message.
#[derive(Clone)]
pub(crate) enum Echo {
    Cancelled,
    LoginRequired {
        authorize_url: String,
        commands: Vec<String>,
        gare: Option<Box<crate::gare::Gare>>,
    },
    Other(String),
}

impl Echo {
    /// The echo of `error`.
    pub(crate) fn of(error: &LoginError) -> Echo {
        match error {
            LoginError::Cancelled => Echo::Cancelled,
            LoginError::LoginRequired {
                authorize_url,
                commands,
                gare,
            } => Echo::LoginRequired {
                authorize_url: authorize_url.clone(),
                commands: commands.clone(),
                gare: gare.clone(),
            },
            other => Echo::Other(other.to_string()),
        }
    }

    /// The error for a request to `resource_server` that waited.
    pub(crate) fn error(&self, resource_server: &str) -> LoginError {
        match self.clone() {
            Echo::Cancelled => LoginError::Cancelled,
            Echo::LoginRequired {
                authorize_url,
                commands,
                gare,
            } => LoginError::LoginRequired {
                authorize_url,
                commands,
                gare,
            },
            Echo::Other(reason) => LoginError::LoginFailed {
                resource_server: resource_server.to_owned(),
                reason,
            },
        }
    }
}
