//! The prompt that never asks: for batch jobs, CI and daemons.

use super::sanitize::sanitize_for_terminal;
use crate::login::{AuthorizationResponse, AuthorizeRequest, LoginError, Prompt};
use crate::scopes;

/// A prompt for a program with no person at it (a job on a cluster, CI, a
/// daemon): a login fails at once, with [`LoginError::LoginRequired`], which
/// carries the authorize URL and the Globus CLI commands a person would run
/// to meet the requirements, so the job's log says what to do.
///
/// ```
/// use tower_gare::login::{Login, LoginError, NeverPrompt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let login = Login::builder("client-id")
///     .auth_base_url("https://auth.globus.org")
///     .scope_requirements("transfer.api.globus.org", ["urn:globus:auth:scope:transfer.api.globus.org:all"])
///     .prompt(NeverPrompt)
///     .build(tower::service_fn(|_req: http::Request<http_body_util::Full<bytes::Bytes>>| async {
///         Err::<http::Response<http_body_util::Empty<bytes::Bytes>>, _>("no network in this example")
///     }))?;
/// let uri = http::Uri::from_static("https://transfer.api.globus.org/v0.10/task_list");
/// match login.credentials_for(&uri).await {
///     Err(LoginError::LoginRequired { authorize_url, commands, .. }) => {
///         assert!(authorize_url.starts_with("https://auth.globus.org/v2/oauth2/authorize?"));
///         assert_eq!(commands, ["globus session consent 'urn:globus:auth:scope:transfer.api.globus.org:all'"]);
///     }
///     other => panic!("expected LoginRequired, got {other:?}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NeverPrompt;

impl Prompt for NeverPrompt {
    async fn authorize(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<AuthorizationResponse, LoginError> {
        Err(LoginError::LoginRequired {
            authorize_url: request.url().to_owned(),
            commands: globus_cli_commands(request),
            gare: None,
        })
    }
}

/// Quotes a value for a POSIX shell, as the Globus CLI prints scopes. The
/// values are the server's (scopes, identities, domains, policies) and the
/// commands are printed: control characters and escape sequences go first.
fn quoted(value: &str) -> String {
    format!("'{}'", sanitize_for_terminal(value).replace('\'', r"'\''"))
}

/// What a person would run with the Globus CLI (3.44's syntax, from its
/// `session consent` and `session update` commands) to meet `request`.
pub(crate) fn globus_cli_commands(request: &AuthorizeRequest) -> Vec<String> {
    let list = |name: &str| -> Vec<String> {
        request
            .param(name)
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let scope = request.param("scope").unwrap_or("");
    let scopes: Vec<String> = match scopes::parse(scope) {
        Ok(parsed) => parsed
            .iter()
            .map(|s| scopes::serialize(std::slice::from_ref(s)))
            .filter(|s| !matches!(s.as_str(), "openid" | "profile" | "email"))
            .collect(),
        Err(_) => scope.split_whitespace().map(str::to_owned).collect(),
    };
    let quoted_all = |values: &[String]| values.iter().map(|v| quoted(v)).collect::<Vec<_>>();
    // As the CLI's own hints (`exception_handling/messages.py`): a session
    // requirement is one `session update` with the scopes as `--scope`;
    // identities win over domains; policies go in `--policy`; scopes alone
    // are a `session consent`. The CLI has no option for MFA: only the
    // authorize URL asks for it.
    let identities = list("session_required_identities");
    let domains = list("session_required_single_domain");
    let policies = list("session_required_policies");
    let who = if identities.is_empty() {
        domains
    } else {
        identities
    };
    let with_scopes = || {
        scopes
            .iter()
            .map(|s| format!(" --scope {}", quoted(s)))
            .collect::<String>()
    };
    let mut commands = Vec::new();
    if !who.is_empty() {
        let targets = quoted_all(&who).join(" ");
        commands.push(format!("globus session update {targets}{}", with_scopes()));
    } else if !policies.is_empty() {
        let policies = quoted(&policies.join(","));
        commands.push(format!(
            "globus session update --policy {policies}{}",
            with_scopes()
        ));
    } else if !scopes.is_empty() {
        commands.push(format!(
            "globus session consent {}",
            quoted_all(&scopes).join(" ")
        ));
    }
    commands
}
