//! What a prompt tells the person before the URL: the service's message,
//! labelled as the service's, then what the login asks for, in words.

use std::io::{self, Write};

use super::sanitize::{server_text, SERVER_LIST_CAP, SERVER_TEXT_CAP, SERVICE_LABEL};
use crate::login::AuthorizeRequest;
use crate::scopes;

/// The line before the list of what a login asks for.
pub(crate) const ASKS_FOR: &str = "This login asks for:";

/// The block of lines around the URL, as the Python SDK's command-line
/// login prints it.
pub(crate) const URL_HEADER: &str = "Please authenticate with Globus here:";
pub(crate) const URL_RULE: &str = "------------------------------------";

/// Scopes every login of an app asks for (the ID token's): they say
/// nothing a person needs to know.
const IDENTITY_SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// The lines that come before the URL, in order: the service's message
/// (labelled, sanitized, on one line, capped), then what is asked for
/// (consent to scopes, a session from a domain, with an identity, meeting
/// policies, MFA, a fresh login), one short line each. Every value in them
/// is the server's, and goes through [`server_text`].
pub(crate) fn story(request: &AuthorizeRequest) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(message) = request.param("session_message") {
        let message = server_text(message, SERVER_TEXT_CAP);
        if !message.is_empty() {
            lines.push(format!("{SERVICE_LABEL} {message}"));
        }
    }
    let asks = asks(request);
    if !asks.is_empty() {
        lines.push(ASKS_FOR.to_owned());
        lines.extend(asks.into_iter().map(|ask| format!("  {ask}")));
    }
    lines
}

/// Writes [`story`], a line at a time.
pub(crate) fn write_story(out: &mut dyn Write, request: &AuthorizeRequest) -> io::Result<()> {
    for line in story(request) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The URL alone on its line, between rules under a header: a terminal
/// that wraps it still shows where it starts and ends, and a program
/// reading the output finds it as a line.
pub(crate) fn write_url(out: &mut dyn Write, request: &AuthorizeRequest) -> io::Result<()> {
    writeln!(out, "{URL_HEADER}")?;
    writeln!(out, "{URL_RULE}")?;
    writeln!(out, "{}", request.url())?;
    writeln!(out, "{URL_RULE}")
}

/// A comma-separated parameter's items, sanitized and joined for a
/// terminal, capped at `cap` characters; `None` when it has none.
fn listed(request: &AuthorizeRequest, name: &str, cap: usize) -> Option<String> {
    let items: Vec<&str> = request
        .param(name)?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let shown = server_text(&items.join(", "), cap);
    (!shown.is_empty()).then_some(shown)
}

/// What the login asks for, in words, one item a line.
fn asks(request: &AuthorizeRequest) -> Vec<String> {
    let mut asks = Vec::new();
    let scope = request.param("scope").unwrap_or("");
    let consent: Vec<String> = match scopes::parse(scope) {
        Ok(parsed) => parsed
            .iter()
            .map(|s| scopes::serialize(std::slice::from_ref(s)))
            .collect(),
        Err(_) => scope.split_whitespace().map(str::to_owned).collect(),
    };
    let consent: Vec<String> = consent
        .into_iter()
        .filter(|s| !IDENTITY_SCOPES.contains(&s.as_str()))
        .collect();
    if !consent.is_empty() {
        let scopes = server_text(&consent.join(", "), SERVER_LIST_CAP);
        asks.push(format!("consent to: {scopes}"));
    }
    let session = [
        ("session_required_single_domain", "a session from:"),
        ("session_required_identities", "a session with identity:"),
        ("session_required_policies", "policies:"),
    ];
    let mut any_session = false;
    for (name, words) in session {
        if let Some(values) = listed(request, name, SERVER_TEXT_CAP) {
            asks.push(format!("{words} {values}"));
            any_session = true;
        }
    }
    if request.param("session_required_mfa") == Some("true") {
        asks.push("multi-factor authentication (MFA)".to_owned());
        any_session = true;
    }
    // A session requirement asks for a fresh login already (and says why);
    // alone, the service's `prompt=login` is told too.
    let fresh = request
        .param("prompt")
        .is_some_and(|p| p.split_whitespace().any(|p| p == "login"));
    if fresh && !any_session {
        asks.push("a fresh login".to_owned());
    }
    asks
}

#[cfg(test)]
mod tests {
    use super::story;
    use crate::gare::{AuthorizationParameters, Gare};
    use crate::login::{AuthorizeRequest, RefreshTokens};

    fn request(scope: &str, params: AuthorizationParameters) -> AuthorizeRequest {
        AuthorizeRequest::build(
            "https://auth.example.org/v2/oauth2/authorize",
            "client",
            "https://auth.example.org/v2/web/auth-code",
            scope,
            &Gare::new("AuthenticationFailed", params),
            &RefreshTokens::No,
        )
        .unwrap()
        .0
    }

    #[test]
    fn the_message_then_what_is_asked_in_words() {
        let params = AuthorizationParameters {
            session_message: Some("Groups wants MFA for this group".into()),
            session_required_single_domain: Some(vec!["example.org".into(), "uni.edu".into()]),
            session_required_identities: Some(vec!["b0c0a0d0-0000-4000-8000-00000000a11c".into()]),
            session_required_policies: Some(vec!["p-1".into(), "p-2".into()]),
            session_required_mfa: Some(true),
            ..Default::default()
        };
        let scope = "openid urn:globus:auth:scope:groups.api.globus.org:all \
                     urn:globus:auth:scope:transfer.api.globus.org:all[https://auth.globus.org/scopes/abc/data_access]";
        assert_eq!(
            story(&request(scope, params)),
            [
                "Message from the service: Groups wants MFA for this group",
                "This login asks for:",
                "  consent to: urn:globus:auth:scope:groups.api.globus.org:all, \
                 urn:globus:auth:scope:transfer.api.globus.org:all[https://auth.globus.org/scopes/abc/data_access]",
                "  a session from: example.org, uni.edu",
                "  a session with identity: b0c0a0d0-0000-4000-8000-00000000a11c",
                "  policies: p-1, p-2",
                "  multi-factor authentication (MFA)",
            ]
        );
    }

    #[test]
    fn only_what_is_there_is_told() {
        // The ID token's scopes alone: nothing to tell.
        assert!(story(&request("openid profile email", Default::default())).is_empty());
        // MFA alone: no "fresh login" besides it (the session asks for one).
        let mfa = AuthorizationParameters {
            session_required_mfa: Some(true),
            ..Default::default()
        };
        assert_eq!(
            story(&request("openid", mfa)),
            [
                "This login asks for:",
                "  multi-factor authentication (MFA)"
            ]
        );
        // The service's prompt=login alone is told.
        let again = AuthorizationParameters {
            prompt: Some("login".into()),
            ..Default::default()
        };
        assert_eq!(
            story(&request("openid", again)),
            ["This login asks for:", "  a fresh login"]
        );
    }

    #[test]
    fn the_servers_values_are_sanitized_and_capped() {
        let params = AuthorizationParameters {
            session_message: Some("\u{1b}]0;owned\u{7}Hi\r\nthere".into()),
            session_required_single_domain: Some(vec![format!(
                "evil.org\u{1b}[2J{}",
                "x".repeat(1000)
            )]),
            ..Default::default()
        };
        let lines = story(&request("openid", params));
        assert_eq!(lines[0], "Message from the service: Hi there");
        assert_eq!(lines[1], "This login asks for:");
        let domain = lines[2].strip_prefix("  a session from: ").unwrap();
        assert!(domain.starts_with("evil.orgxxx"), "{domain}");
        assert!(domain.ends_with('…'), "{domain}");
        assert_eq!(domain.chars().count(), super::SERVER_TEXT_CAP);
        assert!(lines.iter().all(|l| !l.chars().any(char::is_control)));
    }
}
