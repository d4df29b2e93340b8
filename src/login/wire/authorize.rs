//! The authorize request: the URL a user visits, shaped by the GARE, with
//! PKCE and a random state.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::gare::Gare;
use crate::login::prompts::sanitize_for_terminal;
use crate::login::{LoginError, Secret};
use crate::scopes;

/// An authorize request for one login: its URL and what the prompt needs.
///
/// Built by [`Login`](crate::login::Login) from the GARE; a [`Prompt`](crate::login::Prompt)
/// shows it to the user.
#[derive(Clone)]
pub struct AuthorizeRequest {
    url: String,
    state: String,
    redirect_uri: String,
    session_message: Option<String>,
    params: Vec<(String, String)>,
}

fn random_url_safe(bytes: usize) -> Result<String, LoginError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| LoginError::Randomness(e.into()))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// Whether a login asks for refresh tokens, and how the server wants to be
/// asked. A refresh token lets a program get new access tokens without the
/// user, until it is revoked: ask only when the program runs for longer
/// than its access tokens live (Globus: 48 hours).
///
/// ```
/// use tower_gare::login::RefreshTokens;
///
/// assert_eq!(RefreshTokens::default(), RefreshTokens::No);
/// assert_eq!(RefreshTokens::offline_access(), RefreshTokens::Scope("offline_access".into()));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshTokens {
    /// Access tokens only (the Python SDK's default:
    /// `GlobusAppConfig.request_refresh_tokens` is off).
    #[default]
    No,
    /// Globus Auth's way: `access_type=offline` in the authorize URL.
    GlobusAccessType,
    /// The OpenID Connect way: a scope added to those asked for, usually
    /// `offline_access` (OpenID Connect Core §11). Such servers give a
    /// refresh token only when the user is asked to consent, so `consent`
    /// is added to the `prompt` (`prompt=consent`, or `login consent` when
    /// the GARE asks for a fresh login).
    Scope(String),
}

impl RefreshTokens {
    /// [`Scope`](Self::Scope)`("offline_access")`, as OpenID Connect servers expect.
    pub fn offline_access() -> Self {
        RefreshTokens::Scope("offline_access".to_owned())
    }
}

/// `prompt` with `consent` in it: OpenID Connect Core §11 has a server
/// grant `offline_access` only when the user is asked to consent
/// (node-oidc-provider drops the scope otherwise). `none` (no page at all)
/// is left as it is: it cannot be combined with another value.
fn with_consent(prompt: Option<String>) -> Option<String> {
    match prompt {
        None => Some("consent".to_owned()),
        Some(prompt)
            if prompt
                .split(' ')
                .any(|value| value == "consent" || value == "none") =>
        {
            Some(prompt)
        }
        Some(prompt) => Some(format!("{prompt} consent")),
    }
}

fn comma_joined(list: &Option<Vec<String>>) -> Option<String> {
    // Globus Auth rejects empty parameters: an empty list is left out.
    list.as_ref().filter(|l| !l.is_empty()).map(|l| l.join(","))
}

impl AuthorizeRequest {
    /// Builds the request for `gare`, asking for `scope` and for refresh
    /// tokens as `refresh_tokens` says; with it, the PKCE verifier, a secret
    /// until the code is exchanged.
    pub(crate) fn build(
        authorize_endpoint: &str,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
        gare: &Gare,
        refresh_tokens: &RefreshTokens,
    ) -> Result<(AuthorizeRequest, Secret), LoginError> {
        let scope = match refresh_tokens {
            RefreshTokens::Scope(offline) => scopes::merge_strings([scope, offline.as_str()])
                .map_err(LoginError::InvalidScope)?,
            RefreshTokens::No | RefreshTokens::GlobusAccessType => scope.to_owned(),
        };
        // 32 random bytes: a 43-character verifier, the RFC 7636 minimum.
        let verifier = random_url_safe(32)?;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = random_url_safe(24)?;
        let params = &gare.authorization_parameters;

        let mut query: Vec<(String, String)> = vec![
            ("client_id".into(), client_id.into()),
            ("redirect_uri".into(), redirect_uri.into()),
            ("scope".into(), scope),
            ("response_type".into(), "code".into()),
            ("state".into(), state.clone()),
            ("code_challenge".into(), challenge),
            ("code_challenge_method".into(), "S256".into()),
        ];
        if *refresh_tokens == RefreshTokens::GlobusAccessType {
            query.push(("access_type".into(), "offline".into()));
        }
        let mut add = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                query.push((name.to_owned(), value));
            }
        };
        add(
            "session_required_identities",
            comma_joined(&params.session_required_identities),
        );
        add(
            "session_required_single_domain",
            comma_joined(&params.session_required_single_domain),
        );
        add(
            "session_required_policies",
            comma_joined(&params.session_required_policies),
        );
        add(
            "session_required_mfa",
            (params.session_required_mfa == Some(true)).then(|| "true".to_owned()),
        );
        add(
            "session_message",
            params.session_message.clone().filter(|m| !m.is_empty()),
        );
        // A session requirement is met only by a fresh login.
        let prompt = params.prompt.clone().filter(|p| !p.is_empty()).or_else(|| {
            params
                .has_session_requirements()
                .then(|| "login".to_owned())
        });
        let prompt = match refresh_tokens {
            RefreshTokens::Scope(_) => with_consent(prompt),
            RefreshTokens::No | RefreshTokens::GlobusAccessType => prompt,
        };
        add("prompt", prompt);
        // Step-up challenges (RFC 9470) and claims challenges carry these
        // (a body GARE may carry them in its extra fields too).
        add("acr_values", gare.acr_values().map(str::to_owned));
        add("max_age", gare.max_age().map(|age| age.to_string()));
        add("claims", gare.claims().map(Value::to_string));

        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query.iter())
            .finish();
        let separator = if authorize_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let request = AuthorizeRequest {
            url: format!("{authorize_endpoint}{separator}{encoded}"),
            state,
            redirect_uri: redirect_uri.to_owned(),
            session_message: params.session_message.clone(),
            params: query,
        };
        Ok((request, Secret::new(verifier)))
    }

    /// The URL to send the user to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The random `state` the redirect must bring back.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// Where the authorization server will send the user back.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The GARE's session message, safe to print on a terminal: without
    /// control characters or escape sequences, line breaks made spaces (the
    /// server chose it, and printed raw it could rewrite what the terminal
    /// shows).
    ///
    /// Only the message shown is sanitized; [`param`](Self::param)`("session_message")`
    /// gives it as sent.
    pub fn session_message(&self) -> Option<String> {
        self.session_message.as_deref().map(sanitize_for_terminal)
    }

    /// The value of one query parameter of [`url`](Self::url), if sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for AuthorizeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL holds nothing secret (the verifier is not part of the
        // request), but the state of a pending login is best kept out of
        // logs: whoever has it can answer the login with a code of their own.
        f.debug_struct("AuthorizeRequest")
            .field("redirect_uri", &self.redirect_uri)
            .field("scope", &self.param("scope"))
            .field("prompt", &self.param("prompt"))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gare::AuthorizationParameters;

    fn build(scope: &str, refresh_tokens: &RefreshTokens) -> AuthorizeRequest {
        let gare = Gare::new("ConsentRequired", AuthorizationParameters::default());
        AuthorizeRequest::build(
            "https://auth.example.org/v2/oauth2/authorize",
            "client",
            "http://localhost:1",
            scope,
            &gare,
            refresh_tokens,
        )
        .unwrap()
        .0
    }

    /// The query's parameter names, in order.
    fn names(request: &AuthorizeRequest) -> Vec<String> {
        let query = request.url().split_once('?').unwrap().1;
        form_urlencoded::parse(query.as_bytes())
            .map(|(name, _)| name.into_owned())
            .collect()
    }

    const STANDARD_PARAMS: [&str; 7] = [
        "client_id",
        "redirect_uri",
        "scope",
        "response_type",
        "state",
        "code_challenge",
        "code_challenge_method",
    ];

    #[test]
    fn no_refresh_tokens_asks_for_none() {
        let request = build("openid urn:t", &RefreshTokens::No);
        assert_eq!(names(&request), STANDARD_PARAMS);
        assert_eq!(request.param("scope"), Some("openid urn:t"));
        assert_eq!(request.param("access_type"), None);
    }

    #[test]
    fn globus_is_asked_with_access_type_offline() {
        let request = build("openid urn:t", &RefreshTokens::GlobusAccessType);
        assert_eq!(request.param("access_type"), Some("offline"));
        assert_eq!(request.param("scope"), Some("openid urn:t"));
        assert!(request.url().contains("&access_type=offline"));
        let mut expected = STANDARD_PARAMS.to_vec();
        expected.push("access_type");
        assert_eq!(names(&request), expected);
    }

    #[test]
    fn an_openid_server_is_asked_with_a_scope_added_once() {
        let request = build("openid files:read", &RefreshTokens::offline_access());
        assert_eq!(
            request.param("scope"),
            Some("openid files:read offline_access")
        );
        assert_eq!(request.param("access_type"), None);
        let mut expected = STANDARD_PARAMS.to_vec();
        expected.push("prompt");
        assert_eq!(names(&request), expected);
        // Already asked for: not twice.
        let request = build("offline_access openid", &RefreshTokens::offline_access());
        assert_eq!(request.param("scope"), Some("offline_access openid"));
        // Bracketed dependencies survive the merge.
        let request = build("t:all[*d]", &RefreshTokens::Scope("x".into()));
        assert_eq!(request.param("scope"), Some("t:all[*d] x"));
    }

    fn with_prompt(prompt: Option<&str>, refresh_tokens: &RefreshTokens) -> Option<String> {
        let params = AuthorizationParameters {
            prompt: prompt.map(str::to_owned),
            ..Default::default()
        };
        let gare = Gare::new("ConsentRequired", params);
        let (request, _) = AuthorizeRequest::build(
            "https://a/authorize",
            "client",
            "http://localhost:1",
            "openid",
            &gare,
            refresh_tokens,
        )
        .unwrap();
        request.param("prompt").map(str::to_owned)
    }

    #[test]
    fn an_openid_server_is_asked_to_show_consent_for_offline_access() {
        let offline = RefreshTokens::offline_access();
        assert_eq!(with_prompt(None, &offline).as_deref(), Some("consent"));
        assert_eq!(
            with_prompt(Some("login"), &offline).as_deref(),
            Some("login consent")
        );
        assert_eq!(
            with_prompt(Some("consent"), &offline).as_deref(),
            Some("consent")
        );
        assert_eq!(with_prompt(Some("none"), &offline).as_deref(), Some("none"));
        // Globus is asked with access_type, and its prompt is left alone.
        for refresh_tokens in [RefreshTokens::No, RefreshTokens::GlobusAccessType] {
            assert_eq!(with_prompt(None, &refresh_tokens), None);
            assert_eq!(
                with_prompt(Some("login"), &refresh_tokens).as_deref(),
                Some("login")
            );
        }
    }

    #[test]
    fn a_malformed_refresh_scope_is_an_error() {
        let gare = Gare::new("ConsentRequired", AuthorizationParameters::default());
        let err = AuthorizeRequest::build(
            "https://a/authorize",
            "client",
            "http://localhost:1",
            "openid",
            &gare,
            &RefreshTokens::Scope("a[b".into()),
        )
        .unwrap_err();
        assert!(matches!(err, LoginError::InvalidScope(_)), "{err:?}");
    }
}
