//! `Login`: the reauthenticator that runs an OAuth2 authorization-code login.

use std::fmt;
use std::future::Future;
use std::time::SystemTime;

use http::Uri;

use super::environment::{self, UnknownEnvironment};
use super::wire::{AuthorizeRequest, RefreshTokens, TokenEndpoint};

use super::tokens::scope_names;
use super::{
    CommandLinePrompt, LoginError, MemoryTokenStore, Prompt, ResourceServers, Secret, Token,
    TokenClient, TokenStore,
};
use crate::redrive::{Credentials, ReauthContext, Reauthenticator};
use crate::scopes;

/// A [`Reauthenticator`] that logs the user in: authorization code with
/// PKCE, shaped by the GARE (its scopes, its session requirements), against
/// Globus Auth or any compatible server.
///
/// It tries a stored token first (unexpired, with the scopes the GARE
/// wants, and not the one the request was just refused with); otherwise it
/// builds the authorize URL, has the [`Prompt`] show it, checks the `state`,
/// exchanges the code over `client` (any tower HTTP service), stores the
/// tokens, and returns the token of the resource server the request goes to.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tower_gare::login::{Login, LoginConfigError, LoopbackPrompt};
/// use tower_gare::redrive::GareRedriveLayer;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
/// let prompt = LoopbackPrompt::bind(0)?;
/// let port = prompt.local_addr()?.port();
/// let login = Login::builder("my-native-client-id")
///     .auth_base_url("https://auth.globus.org")
///     .scopes(["openid", "urn:globus:auth:scope:transfer.api.globus.org:all"])
///     .prompt(prompt)
///     .build(http.clone())?;
/// // The authorization server sends the user back to the prompt's listener.
/// assert_eq!(login.redirect_uri(), format!("http://localhost:{port}"));
/// let layer = GareRedriveLayer::new(login);
///
/// // A redirect URI the prompt does not listen on is refused up front.
/// let elsewhere = Login::builder("my-native-client-id")
///     .auth_base_url("https://auth.globus.org")
///     .redirect_uri("https://app.example.org/callback")
///     .prompt(LoopbackPrompt::bind(0)?)
///     .build(http);
/// assert!(matches!(elsewhere, Err(LoginConfigError::RedirectUriMismatch { .. })));
/// # let _ = layer; Ok(()) }
/// ```
pub struct Login<C, P = CommandLinePrompt, T = MemoryTokenStore> {
    client: C,
    prompt: P,
    store: T,
    client_id: String,
    client_secret: Option<Secret>,
    authorize_url: String,
    token_url: Uri,
    redirect_uri: String,
    scopes: Vec<String>,
    resource_servers: ResourceServers,
}

/// Settings for a [`Login`]; from [`Login::builder`]. `Debug` never shows
/// the client secret.
#[derive(Debug)]
pub struct LoginBuilder<P = CommandLinePrompt, T = MemoryTokenStore> {
    prompt: P,
    store: T,
    client_id: String,
    client_secret: Option<Secret>,
    auth_base_url: Option<String>,
    redirect_uri: Option<String>,
    scopes: Vec<String>,
    resource_servers: Option<ResourceServers>,
}

/// A login's settings that cannot work, from [`LoginBuilder::build`].
#[derive(Debug)]
#[non_exhaustive]
pub enum LoginConfigError {
    /// No auth base URL was set and `GLOBUS_SDK_ENVIRONMENT` names an
    /// environment the SDK does not know.
    Environment(UnknownEnvironment),
    /// The auth base URL does not make a valid token endpoint URL.
    InvalidAuthUrl {
        /// The base URL, as set or found.
        url: String,
        /// Why the token endpoint URL built on it does not parse.
        source: http::uri::InvalidUri,
    },
    /// The redirect URI set with [`LoginBuilder::redirect_uri`] is not the
    /// one the prompt listens on: the authorization server would send the
    /// user where no one waits.
    RedirectUriMismatch {
        /// The redirect URI that was set.
        configured: String,
        /// The one the prompt listens on.
        prompt: String,
    },
}

impl fmt::Display for LoginConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginConfigError::Environment(_) => {
                f.write_str("login settings: no Globus Auth URL for the environment")
            }
            LoginConfigError::InvalidAuthUrl { url, .. } => {
                write!(f, "login settings: the auth base URL {url:?} does not parse")
            }
            LoginConfigError::RedirectUriMismatch { configured, prompt } => write!(
                f,
                "login settings: the redirect URI {configured:?} is not the one the prompt listens on ({prompt:?})"
            ),
        }
    }
}

impl std::error::Error for LoginConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoginConfigError::Environment(error) => Some(error),
            LoginConfigError::InvalidAuthUrl { source, .. } => Some(source),
            LoginConfigError::RedirectUriMismatch { .. } => None,
        }
    }
}

impl Login<(), CommandLinePrompt, MemoryTokenStore> {
    /// Settings for a login as the client `client_id` (a native app's id,
    /// or a confidential client's with [`client_secret`](LoginBuilder::client_secret)).
    pub fn builder(client_id: impl Into<String>) -> LoginBuilder {
        LoginBuilder {
            prompt: CommandLinePrompt::new(),
            store: MemoryTokenStore::default(),
            client_id: client_id.into(),
            client_secret: None,
            auth_base_url: None,
            redirect_uri: None,
            scopes: Vec::new(),
            resource_servers: None,
        }
    }
}

impl<P, T> LoginBuilder<P, T> {
    /// The client secret of a confidential client (sent in HTTP Basic).
    pub fn client_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// Globus Auth's base URL (default: the environment's, see
    /// [`environment::service_url`]`("auth")`).
    pub fn auth_base_url(mut self, url: impl Into<String>) -> Self {
        self.auth_base_url = Some(url.into());
        self
    }

    /// The redirect URI registered for the client (default: the prompt's,
    /// else Globus Auth's code page `<auth>/v2/web/auth-code`).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// Scopes every login asks for, merged with each GARE's.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Which resource server a request goes to (default: the Globus services
    /// at their environment URLs, else the host name).
    pub fn resource_servers(mut self, map: ResourceServers) -> Self {
        self.resource_servers = Some(map);
        self
    }

    /// How the user is asked (default: [`CommandLinePrompt`]).
    pub fn prompt<P2: Prompt>(self, prompt: P2) -> LoginBuilder<P2, T> {
        LoginBuilder {
            prompt,
            store: self.store,
            client_id: self.client_id,
            client_secret: self.client_secret,
            auth_base_url: self.auth_base_url,
            redirect_uri: self.redirect_uri,
            scopes: self.scopes,
            resource_servers: self.resource_servers,
        }
    }

    /// Where tokens are kept (default: [`MemoryTokenStore`]).
    pub fn token_store<T2: TokenStore>(self, store: T2) -> LoginBuilder<P, T2> {
        LoginBuilder {
            prompt: self.prompt,
            store,
            client_id: self.client_id,
            client_secret: self.client_secret,
            auth_base_url: self.auth_base_url,
            redirect_uri: self.redirect_uri,
            scopes: self.scopes,
            resource_servers: self.resource_servers,
        }
    }

    /// The login, exchanging codes over `client`. Use a client without the
    /// redrive layer on it.
    pub fn build<C>(self, client: C) -> Result<Login<C, P, T>, LoginConfigError>
    where
        P: Prompt,
    {
        let base = match self.auth_base_url {
            Some(base) => base,
            None => environment::service_url("auth").map_err(LoginConfigError::Environment)?,
        };
        let base = if base.ends_with('/') {
            base
        } else {
            format!("{base}/")
        };
        let token_url: Uri = format!("{base}v2/oauth2/token").parse().map_err(|source| {
            LoginConfigError::InvalidAuthUrl {
                url: base.clone(),
                source,
            }
        })?;
        let redirect_uri = match (self.prompt.redirect_uri(), self.redirect_uri) {
            (Some(listening), Some(set)) if listening != set => {
                return Err(LoginConfigError::RedirectUriMismatch {
                    configured: set,
                    prompt: listening,
                })
            }
            (Some(uri), _) | (None, Some(uri)) => uri,
            (None, None) => format!("{base}v2/web/auth-code"),
        };
        Ok(Login {
            client,
            prompt: self.prompt,
            store: self.store,
            client_id: self.client_id,
            client_secret: self.client_secret,
            authorize_url: format!("{base}v2/oauth2/authorize"),
            token_url,
            redirect_uri,
            scopes: self.scopes,
            resource_servers: self
                .resource_servers
                .unwrap_or_else(ResourceServers::globus),
        })
    }
}

impl<C, P, T> Login<C, P, T> {
    /// The token store.
    pub fn token_store(&self) -> &T {
        &self.store
    }

    /// The redirect URI logins use.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }
}

impl<C, P: Prompt, T: TokenStore> Login<C, P, T> {
    /// A stored token that may satisfy the GARE without a login.
    fn stored(
        &self,
        cx: &ReauthContext,
        resource_server: &str,
        required: &[String],
    ) -> Result<Option<Token>, LoginError> {
        let params = &cx.gare().authorization_parameters;
        // Session requirements and prompts ask for a fresh login, which no
        // stored token can stand for.
        if params.has_session_requirements() || params.prompt.is_some() {
            return Ok(None);
        }
        let token = self
            .store
            .get(super::DEFAULT_NAMESPACE, resource_server)
            .map_err(LoginError::Store)?;
        Ok(token.filter(|token| {
            !token.is_expired(SystemTime::now())
                && token.grants(required)
                && !Credentials::bearer(token.access_token()).is_ok_and(|c| cx.was_sent_with(&c))
        }))
    }

    /// Credentials for a request to `uri` before any GARE: a stored token
    /// of its resource server, or a login for the configured scopes. For a
    /// program's first request, which has no token yet (a request without
    /// one gets a plain 401, not a GARE).
    pub async fn credentials_for(&self, uri: &Uri) -> Result<Credentials, LoginError>
    where
        C: TokenClient,
    {
        let gare = crate::gare::Gare::new("LoginRequired", Default::default());
        let cx = ReauthContext::new(
            gare,
            http::Method::GET,
            uri.clone(),
            http::StatusCode::UNAUTHORIZED,
        );
        self.login(cx).await
    }

    async fn login(&self, cx: ReauthContext) -> Result<Credentials, LoginError>
    where
        C: TokenClient,
    {
        let resource_server = self.resource_servers.for_uri(cx.uri());
        let required = cx
            .gare()
            .authorization_parameters
            .required_scopes
            .clone()
            .unwrap_or_default();
        if let Some(token) = self.stored(&cx, &resource_server, &required)? {
            return bearer(&token);
        }

        let scope = scopes::merge_strings(required.iter().chain(&self.scopes).map(String::as_str))
            .map_err(LoginError::InvalidScope)?;
        if scope.is_empty() {
            return Err(LoginError::NoScopes);
        }
        let (request, verifier) = AuthorizeRequest::build(
            &self.authorize_url,
            &self.client_id,
            &self.redirect_uri,
            &scope,
            cx.gare(),
            &RefreshTokens::No,
        )?;

        let answer = self.prompt.authorize(&request).await?;
        if answer
            .state
            .as_deref()
            .is_some_and(|state| state != request.state())
        {
            return Err(LoginError::StateMismatch);
        }
        // Nothing is revoked here: the token URL stands in for the revocation URL.
        let tokens = TokenEndpoint::new(
            self.token_url.clone(),
            self.token_url.clone(),
            self.client_id.clone(),
            self.client_secret.clone(),
        )
        .exchange_code(&self.client, &answer.code, &verifier, &self.redirect_uri)
        .await?
        .tokens;
        self.store
            .put(super::DEFAULT_NAMESPACE, &tokens)
            .map_err(LoginError::Store)?;

        let missing: Vec<String> = scope_names(&required)
            .into_iter()
            .filter(|name| {
                !tokens
                    .iter()
                    .any(|t| t.scope.split_whitespace().any(|granted| granted == name))
            })
            .collect();
        if !missing.is_empty() {
            return Err(LoginError::MissingScope { scopes: missing });
        }
        let token = tokens
            .iter()
            .find(|t| t.resource_server == resource_server)
            .ok_or(LoginError::MissingToken { resource_server })?;
        bearer(token)
    }
}

fn bearer(token: &Token) -> Result<Credentials, LoginError> {
    Credentials::bearer(token.access_token()).map_err(LoginError::InvalidToken)
}

impl<C, P, T> Reauthenticator for Login<C, P, T>
where
    C: TokenClient,
    P: Prompt,
    T: TokenStore,
{
    type Error = LoginError;

    fn reauthenticate(
        &self,
        cx: ReauthContext,
    ) -> impl Future<Output = Result<Credentials, LoginError>> + Send {
        self.login(cx)
    }
}

impl<C, P: fmt::Debug, T: fmt::Debug> fmt::Debug for Login<C, P, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("authorize_url", &self.authorize_url)
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .field("prompt", &self.prompt)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}
