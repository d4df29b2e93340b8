//! What can go wrong in a login, each a variant a program can act on.

use std::fmt;

use super::sanitize_for_terminal;
use crate::redrive::BoxError;

/// A login that did not produce credentials. Messages never hold a secret
/// (no token, code, verifier or client secret).
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
    InvalidScope(String),
    /// The token endpoint answered something that is not a token response.
    InvalidResponse {
        /// The HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
    /// The HTTP client failed to reach the token endpoint.
    Transport(BoxError),
    /// The prompt failed (no terminal, the loopback port could not be used, ...).
    Prompt(String),
    /// The token store failed.
    Store(std::io::Error),
    /// The user gave no code.
    Cancelled,
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Server text: sanitized, as a program may print it on a terminal.
            LoginError::Refused {
                error,
                description: Some(description),
            } => write!(
                f,
                "the authorization server refused: {}: {}",
                sanitize_for_terminal(error),
                sanitize_for_terminal(description)
            ),
            LoginError::Refused { error, .. } => write!(
                f,
                "the authorization server refused: {}",
                sanitize_for_terminal(error)
            ),
            LoginError::StateMismatch => f.write_str(
                "the login's redirect carried no state, or another than the one sent; it was ignored",
            ),
            LoginError::Timeout => f.write_str("the login was not completed in time"),
            LoginError::MissingToken { resource_server } => {
                write!(f, "the token response holds no token for {resource_server}")
            }
            LoginError::MissingScope { scopes } => {
                write!(
                    f,
                    "the login did not grant required scopes: {}",
                    scopes.join(" ")
                )
            }
            LoginError::InvalidScope(reason) => write!(f, "a scope string is malformed: {reason}"),
            LoginError::NoScopes => f.write_str(
                "no scopes to request: the GARE names none and the login has none configured",
            ),
            LoginError::InvalidResponse { status, reason } => {
                write!(
                    f,
                    "the token endpoint answered {status} with no usable token response: {reason}"
                )
            }
            LoginError::Transport(error) => {
                write!(f, "the token endpoint could not be reached: {error}")
            }
            LoginError::Prompt(reason) => write!(f, "the login prompt failed: {reason}"),
            LoginError::Store(error) => write!(f, "the token store failed: {error}"),
            LoginError::Cancelled => {
                f.write_str("the login was cancelled: no authorization code was given")
            }
        }
    }
}

impl std::error::Error for LoginError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoginError::Transport(error) => Some(&**error),
            LoginError::Store(error) => Some(error),
            _ => None,
        }
    }
}
