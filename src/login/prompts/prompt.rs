//! How the user is shown the authorize URL and how the code comes back.

use std::future::Future;

use crate::login::{AuthorizeRequest, LoginError, Secret};

/// What came back from the authorization server: a code, and the state if
/// the prompt saw it (a pasted code has none). `Debug` never shows the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    /// The authorization code: a short-lived secret.
    pub code: Secret,
    /// The `state` the redirect carried. `None` only when the prompt never
    /// saw a redirect (a code the user typed from Globus Auth's code page),
    /// and accepted only from a prompt that says it takes such codes
    /// ([`Prompt::takes_bare_code`]): from any other, the login fails with
    /// [`LoginError::StateMismatch`] and the code is not exchanged.
    pub state: Option<String>,
}

impl AuthorizationResponse {
    /// Reads a redirect's query string: `code` and `state`, or the server's
    /// `error` and `error_description`. A redirect without `state` is not
    /// an answer to any login of this crate's ([`LoginError::StateMismatch`]).
    ///
    /// ```
    /// use tower_gare::login::{AuthorizationResponse, LoginError};
    ///
    /// let ok = AuthorizationResponse::from_query("code=abc&state=xyz").unwrap();
    /// assert_eq!((ok.code.secret(), ok.state.as_deref()), ("abc", Some("xyz")));
    /// assert!(!format!("{ok:?}").contains("abc"));
    /// let refused = AuthorizationResponse::from_query("error=access_denied&error_description=no+thanks");
    /// assert!(matches!(refused, Err(LoginError::Refused { error, .. }) if error == "access_denied"));
    /// let forged = AuthorizationResponse::from_query("code=abc");
    /// assert!(matches!(forged, Err(LoginError::StateMismatch)));
    /// ```
    pub fn from_query(query: &str) -> Result<AuthorizationResponse, LoginError> {
        let mut code = None;
        let mut state = None;
        let mut error = None;
        let mut description = None;
        for (key, value) in form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            match &*key {
                "code" => code = Some(value.into_owned()),
                "state" => state = Some(value.into_owned()),
                "error" => error = Some(value.into_owned()),
                "error_description" => description = Some(value.into_owned()),
                _ => {}
            }
        }
        if let Some(error) = error {
            return Err(LoginError::Refused { error, description });
        }
        match (code.filter(|c| !c.is_empty()), state) {
            (Some(code), Some(state)) => Ok(AuthorizationResponse {
                code: Secret::new(code),
                state: Some(state),
            }),
            (Some(_), None) => Err(LoginError::StateMismatch),
            (None, _) => Err(LoginError::Cancelled),
        }
    }
}

/// Shows the user an authorize request and brings back the code:
/// [`CommandLinePrompt`](crate::login::CommandLinePrompt) (paste the code),
/// [`LoopbackPrompt`](crate::login::LoopbackPrompt) (a redirect to localhost), or
/// your own (a GUI, a headless test).
pub trait Prompt: Send + Sync + 'static {
    /// The redirect URI this prompt listens on, if it decides it (a loopback
    /// prompt does); otherwise the login's configured one is used.
    fn redirect_uri(&self) -> Option<String> {
        None
    }

    /// Whether this prompt's answers may come without a `state`: a code
    /// the person typed from Globus Auth's code page (the command line)
    /// has none. Any other answer without the login's own `state` is
    /// refused, so a prompt that forgets to bring it back fails closed.
    /// Default: no.
    fn takes_bare_code(&self) -> bool {
        false
    }

    /// Tells the person something they should know that is not a login:
    /// a token file that could not be read was moved aside, say. Default:
    /// nothing (a prompt with no person); the command line prints it.
    fn notice(&self, text: &str) {
        let _ = text;
    }

    /// Shows `request` to the user and waits for the authorization server's answer.
    fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> impl Future<Output = Result<AuthorizationResponse, LoginError>> + Send;
}
