//! `LoginBuilder`: a login's settings, checked once when it is built.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use http::Uri;

use super::app::{add_requirements, AmendGare, Grant, Inner};
use super::environment::UnknownEnvironment;
use super::wire::{RefreshTokens, TokenEndpoint};
use super::{
    CommandLinePrompt, IntoTokenClient, JsonFileTokenStore, Login, MemoryTokenStore, Prompt,
    ResourceServers, Secret, TokenStore,
};
use crate::gare::Gare;
use crate::redrive::ReauthContext;

/// How long before a token expires it is refreshed (or replaced) by default.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Settings for a [`Login`]; from [`Login::builder`]. `Debug` never shows
/// the client secret.
#[derive(Debug)]
pub struct LoginBuilder<P = CommandLinePrompt, T = MemoryTokenStore> {
    prompt: P,
    store: T,
    settings: Settings,
}

/// What the builder collects besides the prompt and the store.
#[derive(Debug)]
struct Settings {
    client_id: String,
    client_secret: Option<Secret>,
    auth_base_url: Option<String>,
    redirect_uri: Option<String>,
    token_url: Option<String>,
    authorize_url: Option<String>,
    revoke_url: Option<String>,
    scopes: Vec<String>,
    requirements: BTreeMap<String, Vec<String>>,
    resource_servers: Option<ResourceServers>,
    refresh_tokens: RefreshTokens,
    refresh_margin: Duration,
    grant: Grant,
    allow_identity_change: bool,
    allow_plain_http: bool,
    amend_gare: Option<AmendGare>,
    token_timeout: Option<Duration>,
}

/// A login's settings that cannot work, from [`LoginBuilder::build`].
#[derive(Debug)]
#[non_exhaustive]
pub enum LoginConfigError {
    /// Client credentials were asked for, but no client secret was set:
    /// only a confidential client can act as itself.
    NoClientSecret,
    /// A URL the login sends secrets to (the token or revocation endpoint)
    /// is plain `http` to a host that is not loopback: the client secret,
    /// codes and tokens would cross the network in the clear.
    InsecureUrl {
        /// The URL.
        url: String,
    },
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
    /// A [`ResourceServers`] rule whose URL prefix is not an absolute
    /// `http` or `https` URL: its requests would go unmapped, without
    /// their tokens.
    InvalidResourceServerRule {
        /// The prefix, as given.
        url_prefix: String,
    },
}

impl fmt::Display for LoginConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginConfigError::InsecureUrl { url } => write!(
                f,
                "login settings: {url:?} is plain http to a host that is not loopback; use https"
            ),
            LoginConfigError::NoClientSecret => f.write_str(
                "login settings: client credentials need a client secret (a confidential client)",
            ),
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
            LoginConfigError::InvalidResourceServerRule { url_prefix } => write!(
                f,
                "login settings: the resource server rule's URL prefix {url_prefix:?} is not an absolute http or https URL"
            ),
        }
    }
}

impl std::error::Error for LoginConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoginConfigError::Environment(error) => Some(error),
            LoginConfigError::InvalidAuthUrl { source, .. } => Some(source),
            LoginConfigError::RedirectUriMismatch { .. }
            | LoginConfigError::NoClientSecret
            | LoginConfigError::InvalidResourceServerRule { .. }
            | LoginConfigError::InsecureUrl { .. } => None,
        }
    }
}

impl Login<(), CommandLinePrompt, MemoryTokenStore> {
    /// Settings shaped like the Python SDK's `UserApp(app_name,
    /// client_id=...)`: tokens in `GlobusApp`'s token file for that app
    /// name (`~/.globus/app/<client id>/<app name>/tokens.json`, namespace
    /// `DEFAULT`), so the Python version of the program shares its login;
    /// the command-line prompt; `openid` always asked; and each Globus
    /// service's scopes known the first time a request goes to it, as a
    /// Python client registers its scopes with its app. Every builder
    /// setting can still be changed. The error: no home folder to keep the
    /// token file in.
    ///
    /// ```no_run
    /// use tower_gare::login::Login;
    ///
    /// # #[cfg(feature = "rustls")]
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let http = tower_gare::https::client()?;
    /// let login = Login::globus_app("my-app", "<client id>")?.build(http.clone())?;
    /// let transfer = tower::ServiceBuilder::new().layer(login.layer()).service(http);
    /// # let _ = transfer; Ok(()) }
    /// ```
    pub fn globus_app(
        app_name: &str,
        client_id: impl Into<String>,
    ) -> std::io::Result<LoginBuilder<CommandLinePrompt, JsonFileTokenStore>> {
        let client_id = client_id.into();
        let path = JsonFileTokenStore::default_path(&client_id, app_name)?;
        Ok(Login::builder(client_id).token_store(JsonFileTokenStore::new(path)))
    }

    /// Settings for a login as the client `client_id` (a native app's id,
    /// or a confidential client's with [`client_secret`](LoginBuilder::client_secret)).
    pub fn builder(client_id: impl Into<String>) -> LoginBuilder {
        LoginBuilder {
            prompt: CommandLinePrompt::new(),
            store: MemoryTokenStore::default(),
            settings: Settings {
                client_id: client_id.into(),
                client_secret: None,
                auth_base_url: None,
                redirect_uri: None,
                token_url: None,
                authorize_url: None,
                revoke_url: None,
                scopes: Vec::new(),
                requirements: BTreeMap::new(),
                resource_servers: None,
                refresh_tokens: RefreshTokens::No,
                refresh_margin: DEFAULT_REFRESH_MARGIN,
                grant: Grant::AuthorizationCode,
                allow_identity_change: false,
                allow_plain_http: false,
                amend_gare: None,
                token_timeout: None,
            },
        }
    }
}

impl<P, T> LoginBuilder<P, T> {
    /// The client secret of a confidential client (sent in HTTP Basic).
    pub fn client_secret(mut self, secret: impl Into<Secret>) -> Self {
        self.settings.client_secret = Some(secret.into());
        self
    }

    /// Globus Auth's base URL (default: the environment's, see
    /// [`Service::AUTH`](crate::globus::Service::AUTH)'s
    /// [`base_url`](crate::globus::Service::base_url)).
    pub fn auth_base_url(mut self, url: impl Into<String>) -> Self {
        self.settings.auth_base_url = Some(url.into());
        self
    }

    /// The redirect URI registered for the client (default: the prompt's,
    /// else Globus Auth's code page `<auth>/v2/web/auth-code`).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.settings.redirect_uri = Some(uri.into());
        self
    }

    /// Scopes every login asks for whatever the resource server (`email`,
    /// `profile`, ...), merged with the scope requirements and each GARE's.
    /// A person's login always asks for `openid` as well, as the Python
    /// SDK's `GlobusApp` does: the identity check needs the ID token.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.settings
            .scopes
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Which resource server a request goes to (default: the Globus services
    /// at their environment URLs, [`ResourceServers::globus`]). A request
    /// no rule covers is mapped only when its host, over https on the
    /// default port, names a resource server with scope requirements; any
    /// other passes through untouched (no token, no refresh, no login).
    pub fn resource_servers(mut self, map: ResourceServers) -> Self {
        self.settings.resource_servers = Some(map);
        self
    }

    /// Scopes a login must ask for on `resource_server`'s behalf, as the
    /// Python SDK's `GlobusApp(scope_requirements=...)`: every login asks
    /// for every resource server's, so one consent covers them all. Each
    /// GARE's `required_scopes` adds to them while the program runs.
    pub fn scope_requirements<I, S>(mut self, resource_server: &str, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        add_requirements(&mut self.settings.requirements, resource_server, scopes);
        self
    }

    /// Whether logins ask for refresh tokens (default: no, as the Python
    /// SDK's `GlobusAppConfig.request_refresh_tokens`): Globus Auth's
    /// `access_type=offline`, or an OpenID server's `offline_access` scope.
    pub fn refresh_tokens(mut self, refresh_tokens: RefreshTokens) -> Self {
        self.settings.refresh_tokens = refresh_tokens;
        self
    }

    /// How long before a token expires it is refreshed or replaced
    /// (default [`DEFAULT_REFRESH_MARGIN`], 60 s): a request must still
    /// reach the server before its token expires.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.settings.refresh_margin = margin;
        self
    }

    /// Gets tokens as the client itself (OAuth2 client credentials), with
    /// no person and no prompt: the Python SDK's `ClientApp`. Needs a
    /// [`client_secret`](LoginBuilder::client_secret). A GARE only a person
    /// can meet (session requirements) is then an error,
    /// [`LoginError::NeedsPerson`](super::LoginError::NeedsPerson).
    pub fn client_credentials(mut self) -> Self {
        self.settings.grant = Grant::ClientCredentials;
        self
    }

    /// Whether a login as another identity than the stored tokens' may
    /// replace them (default: no: it is
    /// [`LoginError::IdentityMismatch`](super::LoginError::IdentityMismatch)
    /// and the stored tokens are left as they are).
    pub fn allow_identity_change(mut self, allow: bool) -> Self {
        self.settings.allow_identity_change = allow;
        self
    }

    /// Whether the login's tokens may go on plain-`http` requests to hosts
    /// that are not loopback (default: no; `https`, and `http` to
    /// loopback, are always fine). The one plain-http setting of
    /// [`Login::layer`] and `Login::middleware`: a request that would carry
    /// a token in the clear fails instead, and is not sent.
    ///
    /// ```
    /// use tower_gare::login::Login;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let http: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
    /// #     hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    /// let login = Login::builder("client-id")
    ///     .auth_base_url("https://auth.globus.org")
    ///     .allow_plain_http(true)
    ///     .build(http)?;
    /// assert!(format!("{:?}", login.layer()).contains("allow_plain_http: true"));
    /// # Ok(()) }
    /// ```
    pub fn allow_plain_http(mut self, allow: bool) -> Self {
        self.settings.allow_plain_http = allow;
        self
    }

    /// A function that sees each GARE, and the request it came on, before
    /// any login, and may change it: some services send GAREs that miss a
    /// scope the login needs (Globus Flows leaves out the flow's own scope),
    /// and the user would log in twice. The changed GARE is what the login
    /// asks for and what the scope requirements keep.
    ///
    /// ```
    /// use tower_gare::login::Login;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let http: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
    /// #     hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    /// let login = Login::builder("client-id")
    ///     .auth_base_url("https://auth.globus.org")
    ///     .amend_gare(|cx, gare| {
    ///         if cx.uri().path().ends_with("/run") {
    ///             let scopes = gare.authorization_parameters.required_scopes.get_or_insert_with(Vec::new);
    ///             scopes.push("https://auth.globus.org/scopes/FLOW_ID/flow_FLOW_ID_user".into());
    ///         }
    ///     })
    ///     .build(http)?;
    /// assert!(format!("{login:?}").contains("amend_gare: true"));
    /// # Ok(()) }
    /// ```
    pub fn amend_gare<F>(mut self, amend: F) -> Self
    where
        F: Fn(&ReauthContext, &mut Gare) + Send + Sync + 'static,
    {
        self.settings.amend_gare = Some(AmendGare(std::sync::Arc::new(amend)));
        self
    }

    /// The token endpoint (default `<auth>/v2/oauth2/token`, Globus Auth's
    /// path): set it for an OAuth2 server that keeps it elsewhere (an
    /// OpenID Connect server's `token_endpoint`, such as `<issuer>/token`).
    /// Codes are exchanged, tokens refreshed and client credentials granted
    /// there.
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.settings.token_url = Some(url.into());
        self
    }

    /// The authorization endpoint a person is sent to (default
    /// `<auth>/v2/oauth2/authorize`, Globus Auth's path): set it for an
    /// OAuth2 server that keeps it elsewhere (an OpenID Connect server's
    /// `authorization_endpoint`, such as `<issuer>/auth`).
    pub fn authorize_url(mut self, url: impl Into<String>) -> Self {
        self.settings.authorize_url = Some(url.into());
        self
    }

    /// The token revocation endpoint (default `<auth>/v2/oauth2/token/revoke`).
    pub fn revoke_url(mut self, url: impl Into<String>) -> Self {
        self.settings.revoke_url = Some(url.into());
        self
    }

    /// The longest a request to the token endpoint may take (default 30 s).
    pub fn token_timeout(mut self, limit: Duration) -> Self {
        self.settings.token_timeout = Some(limit);
        self
    }

    /// How the user is asked (default: [`CommandLinePrompt`]).
    pub fn prompt<P2: Prompt>(self, prompt: P2) -> LoginBuilder<P2, T> {
        LoginBuilder {
            prompt,
            store: self.store,
            settings: self.settings,
        }
    }

    /// Where tokens are kept (default: [`MemoryTokenStore`]).
    pub fn token_store<T2: TokenStore>(self, store: T2) -> LoginBuilder<P, T2> {
        LoginBuilder {
            prompt: self.prompt,
            store,
            settings: self.settings,
        }
    }

    /// The login, exchanging codes over `client`. Use a client without the
    /// redrive layer on it.
    pub fn build<C, Via>(self, client: C) -> Result<Login<C::Client, P, T>, LoginConfigError>
    where
        C: IntoTokenClient<Via>,
        P: Prompt,
        T: TokenStore,
    {
        let client = client.into_token_client();
        let mut settings = self.settings;
        let resource_servers = settings
            .resource_servers
            .take()
            .unwrap_or_else(ResourceServers::globus);
        if let Some(url_prefix) = resource_servers.invalid_rules().first() {
            let url_prefix = url_prefix.clone();
            return Err(LoginConfigError::InvalidResourceServerRule { url_prefix });
        }
        // The identity check reads the ID token: a person's login always
        // asks for `openid` (the Python SDK's `GlobusApp` does too). A
        // client acting as itself asks, as `ClientApp` does, only for what
        // its requirements name.
        if settings.grant == Grant::AuthorizationCode
            && !settings.scopes.iter().any(|s| s == "openid")
        {
            settings.scopes.insert(0, "openid".to_owned());
        }
        let base = match settings.auth_base_url {
            Some(base) => base,
            None => crate::globus::Service::AUTH
                .base_url()
                .map_err(LoginConfigError::Environment)?,
        };
        let base = if base.ends_with('/') {
            base
        } else {
            format!("{base}/")
        };
        let parse = |url: String| {
            url.parse::<Uri>()
                .map_err(|source| LoginConfigError::InvalidAuthUrl {
                    url: base.clone(),
                    source,
                })
        };
        // A URL set on its own is named in the error as set.
        let token_url = match settings.token_url {
            Some(url) => url
                .parse::<Uri>()
                .map_err(|source| LoginConfigError::InvalidAuthUrl { url, source })?,
            None => parse(format!("{base}v2/oauth2/token"))?,
        };
        let authorize_url = match settings.authorize_url {
            Some(url) => match url.parse::<Uri>() {
                Ok(_) => url,
                Err(source) => return Err(LoginConfigError::InvalidAuthUrl { url, source }),
            },
            None => format!("{base}v2/oauth2/authorize"),
        };
        let revoke_url = parse(
            settings
                .revoke_url
                .unwrap_or_else(|| format!("{base}v2/oauth2/token/revoke")),
        )?;
        for url in [&token_url, &revoke_url] {
            if !crate::redrive::may_carry_token(url) {
                let url = url.to_string();
                return Err(LoginConfigError::InsecureUrl { url });
            }
        }
        let redirect_uri = match (self.prompt.redirect_uri(), settings.redirect_uri) {
            (Some(listening), Some(set)) if listening != set => {
                return Err(LoginConfigError::RedirectUriMismatch {
                    configured: set,
                    prompt: listening,
                })
            }
            (Some(uri), _) | (None, Some(uri)) => uri,
            (None, None) => format!("{base}v2/web/auth-code"),
        };
        if settings.grant == Grant::ClientCredentials && settings.client_secret.is_none() {
            return Err(LoginConfigError::NoClientSecret);
        }
        let mut endpoint = TokenEndpoint::new(
            token_url,
            revoke_url,
            settings.client_id,
            settings.client_secret,
        );
        if let Some(limit) = settings.token_timeout {
            endpoint = endpoint.timeout(limit);
        }
        let inner = Inner::new(
            client,
            self.prompt,
            self.store,
            endpoint,
            authorize_url,
            redirect_uri,
            settings.scopes,
            settings.requirements,
            resource_servers,
            settings.refresh_tokens,
            settings.refresh_margin,
            settings.grant,
            settings.allow_identity_change,
        );
        let mut inner = inner;
        inner.amend_gare = settings.amend_gare;
        inner.allow_plain_http = settings.allow_plain_http;
        Ok(Login {
            inner: std::sync::Arc::new(inner),
        })
    }
}
