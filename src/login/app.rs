//! `Login`: the one object a program holds for its tokens' whole life. It
//! keeps scope requirements per resource server and tokens per user and
//! resource server; it refreshes, logs in, logs out. It is the engine's
//! reauthenticator: the credentials step asks it for each request's token,
//! and a GARE or a refused token asks it for new ones.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use http::header::AUTHORIZATION;
use http::Uri;

use super::tokens::{scope_names, DEFAULT_NAMESPACE};
use super::wire::{AuthorizeRequest, RefreshTokens, TokenEndpoint, TokenResponse};
use super::{LoginError, Prompt, ResourceServers, Token, TokenClient, TokenStore};
use crate::gare::Gare;
use crate::redrive::{
    Attach, BoxErrors, Credentials, GareRedriveLayer, Outgoing, ReauthContext, Reauthenticator,
    ReplayableBodies, User,
};
use crate::scopes;
use crate::sync::lock;

/// How long a login waits before it prompts, so GAREs that arrived together
/// add their requirements to the one login.
const GATHER: Duration = Duration::from_millis(50);

/// The same, in turns of the scheduler, on a runtime without timers.
const GATHER_YIELDS: usize = 8;

/// How a login gets tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    /// A person logs in (authorization code with PKCE).
    AuthorizationCode,
    /// The client acts as itself (a confidential client, no person).
    ClientCredentials,
}

/// A token in memory, with the header made from it once.
#[derive(Clone)]
struct Held {
    token: Token,
    credentials: Credentials,
    /// How long it was issued for, when it came from the server (not from
    /// the store): the refresh margin is at most half of it.
    lifetime: Option<Duration>,
}

/// How long before it expires a token is refreshed: the login's margin,
/// but never more than half the token's lifetime, so a token issued for
/// less than the margin still serves the requests of its first half.
fn margin_for(margin: Duration, lifetime: Option<Duration>) -> Duration {
    lifetime.map_or(margin, |lifetime| margin.min(lifetime / 2))
}

/// Whether `stored` (from the token store) is newer than `held` (in
/// memory): it expires later. A held token that the store has not caught
/// up with (its write failed) wins over the older one stored; one another
/// process refreshed since (rotation included) replaces it.
fn stored_is_newer(stored: &Token, held: Option<&Token>) -> bool {
    held.is_none_or(|held| held != stored && stored.expires_at > held.expires_at)
}

/// A login that failed or was cancelled, kept for the quiet period: the
/// requests that waited for it (and those that come soon after) share its
/// error instead of prompting again.
struct Failed {
    at: tokio::time::Instant,
    echo: super::error::Echo,
}

/// How long a failed login is kept: its waiters look as soon as it lets
/// go of their turn, so this only bounds the memory it takes.
const FAILED_LOGIN_KEPT: Duration = Duration::from_secs(10);

/// A function that may change a GARE before any login, seeing the request.
#[derive(Clone)]
pub(crate) struct AmendGare(pub(crate) Arc<AmendFn>);

type AmendFn = dyn Fn(&ReauthContext, &mut Gare) + Send + Sync;

impl fmt::Debug for AmendGare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AmendGare(..)")
    }
}

/// A GARE, registered while its request waits for a login; gone when the
/// request is done with the login (or dropped). A login asks for the
/// scopes and sessions of every GARE of its user that waits with it.
struct WaitingGare<'a, C, P, T> {
    inner: &'a Inner<C, P, T>,
    id: u64,
}

impl<'a, C, P, T> WaitingGare<'a, C, P, T> {
    fn new(inner: &'a Inner<C, P, T>, user: Option<&User>, gare: &Gare) -> Self {
        let id = inner
            .next_wait
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        lock(&inner.waiting_gares).push((id, user.cloned(), gare.clone()));
        WaitingGare { inner, id }
    }
}

impl<C, P, T> Drop for WaitingGare<'_, C, P, T> {
    fn drop(&mut self) {
        lock(&self.inner.waiting_gares).retain(|(id, _, _)| *id != self.id);
    }
}

/// The last login that finished: when, for whom, with what session.
struct LastLogin {
    finished: tokio::time::Instant,
    user: Option<User>,
    /// What the login asked of the session (its scopes aside).
    session: crate::gare::AuthorizationParameters,
}

/// Adds `scopes` to `resource_server`'s requirements, each once: what the
/// builder sets up front and what every GARE adds later.
pub(crate) fn add_requirements<I, S>(
    requirements: &mut BTreeMap<String, Vec<String>>,
    resource_server: &str,
    scopes: I,
) where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let list = requirements.entry(resource_server.to_owned()).or_default();
    for scope in scopes {
        let scope = scope.into();
        if !list.contains(&scope) {
            list.push(scope);
        }
    }
}

/// Whose turn it is to refresh or log in, for one user and resource server.
type Turn = Arc<tokio::sync::Mutex<()>>;

/// The turn kept in `turns` for `key`, made if there is none: what the
/// refreshes and logins of one user and resource server, and the prompts
/// of one user, take turns on.
fn take_turn<K: Eq + std::hash::Hash>(turns: &Mutex<HashMap<K, Turn>>, key: K) -> Turn {
    let mut turns = lock(turns);
    // Locks nobody holds or waits on are dead weight.
    turns.retain(|_, turn| Arc::strong_count(turn) > 1);
    Arc::clone(turns.entry(key).or_default())
}

/// The layer [`Login::layer`] makes: the redrive layer with the login as
/// its reauthenticator, whose services' errors are boxed (the inner
/// service's, or a [`LoginError`] when a request could not get its token).
pub type LoginLayer<C, P, T> = GareRedriveLayer<Login<C, P, T>, ReplayableBodies, BoxErrors>;

/// What a login is asked for a request: any valid token of its resource
/// server, one other than a refused one, or one that meets a GARE.
enum Need<'a> {
    Valid,
    NotThis(&'a ReauthContext),
    Gare(&'a ReauthContext),
}

pub(crate) struct Inner<C, P, T> {
    pub(crate) client: C,
    pub(crate) prompt: P,
    pub(crate) store: T,
    pub(crate) endpoint: TokenEndpoint,
    pub(crate) authorize_url: String,
    pub(crate) redirect_uri: String,
    /// Scopes every login asks for (`openid`, ...), whatever the resource server.
    pub(crate) base_scopes: Vec<String>,
    pub(crate) requirements: Mutex<BTreeMap<String, Vec<String>>>,
    pub(crate) resource_servers: ResourceServers,
    pub(crate) refresh_tokens: RefreshTokens,
    pub(crate) refresh_margin: Duration,
    pub(crate) grant: Grant,
    pub(crate) allow_identity_change: bool,
    /// Whether tokens may go on plain-`http` requests off loopback.
    pub(crate) allow_plain_http: bool,
    /// Changes a GARE before any login (see `LoginBuilder::amend_gare`).
    pub(crate) amend_gare: Option<AmendGare>,
    /// Tokens by user, then resource server: what the credentials step reads.
    held: RwLock<HashMap<Option<User>, HashMap<String, Held>>>,
    /// One refresh or login at a time per user and resource server.
    getting: Mutex<HashMap<(Option<User>, String), Turn>>,
    /// One interactive login at a time per user: one person, one browser.
    prompting: Mutex<HashMap<Option<User>, Turn>>,
    /// The last failed login per user and resource server.
    failed: Mutex<HashMap<(Option<User>, String), Failed>>,
    last_login: Mutex<Option<LastLogin>>,
    /// The GAREs waiting for a login, by request: a login asks for the
    /// scopes and sessions of all of its user's that arrived together.
    waiting_gares: Mutex<Vec<(u64, Option<User>, Gare)>>,
    next_wait: std::sync::atomic::AtomicU64,
}

/// The engine's [`Reauthenticator`] and the source of every token a program
/// sends: a cheap handle (clones share everything).
///
/// It keeps, per resource server, the scopes it must ask for (set up front
/// with [`LoginBuilder::scope_requirements`](super::LoginBuilder::scope_requirements),
/// and grown by every GARE's `required_scopes`), and per user and resource
/// server the tokens it got (in its [`TokenStore`], and in memory). Its
/// [`layer`](Login::layer) (tower) and `middleware` (reqwest) run one
/// engine: the credentials step asks it for each request's token (held, or
/// stored, refreshed, or from a login), and on a GARE or a refused token
/// the engine asks it for new ones: a stored token that fits, a refresh, or
/// a login that asks for every requirement at once.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tower_gare::login::{Login, LoginConfigError, LoopbackPrompt};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
/// let prompt = LoopbackPrompt::bind(0)?;
/// let port = prompt.local_addr()?.port();
/// let login = Login::builder("my-native-client-id")
///     .auth_base_url("https://auth.globus.org")
///     .scope_requirements("transfer.api.globus.org", ["urn:globus:auth:scope:transfer.api.globus.org:all"])
///     .prompt(prompt)
///     .build(http.clone())?;
/// // The authorization server sends the user back to the prompt's listener.
/// assert_eq!(login.redirect_uri(), format!("http://localhost:{port}"));
/// assert_eq!(
///     login.scope_requirements("transfer.api.globus.org"),
///     ["urn:globus:auth:scope:transfer.api.globus.org:all"]
/// );
/// // One layer: each request's token, and a GARE's login and retry.
/// let client = tower::ServiceBuilder::new().layer(login.layer()).service(http.clone());
///
/// // A redirect URI the prompt does not listen on is refused up front.
/// let elsewhere = Login::builder("my-native-client-id")
///     .auth_base_url("https://auth.globus.org")
///     .redirect_uri("https://app.example.org/callback")
///     .prompt(LoopbackPrompt::bind(0)?)
///     .build(http);
/// assert!(matches!(elsewhere, Err(LoginConfigError::RedirectUriMismatch { .. })));
/// # let _ = client; Ok(()) }
/// ```
pub struct Login<C, P = super::CommandLinePrompt, T = super::MemoryTokenStore> {
    pub(crate) inner: Arc<Inner<C, P, T>>,
}

impl<C, P, T> Clone for Login<C, P, T> {
    fn clone(&self) -> Self {
        Login {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// The token store's namespace for `user`: the Python SDK's `DEFAULT` for
/// the program's own requests, [`User::namespace`] for a user's (never
/// `DEFAULT`, never another user's).
fn namespace(user: Option<&User>) -> String {
    user.map_or_else(|| DEFAULT_NAMESPACE.to_owned(), User::namespace)
}

/// The error for a request to `uri` that no rule maps: its URL without the
/// query (which may hold what is no one's business).
fn unmapped(uri: &Uri) -> LoginError {
    let url = match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}{}", uri.path()),
        _ => uri.path().to_owned(),
    };
    LoginError::Unmapped { url }
}

/// The host of `uri` when it could name a resource server: over https on
/// the default port, lowercase.
fn named_host(uri: &Uri) -> Option<std::borrow::Cow<'_, str>> {
    let default_port = uri.port_u16().is_none_or(|port| port == 443);
    if uri.scheme_str() != Some("https") || !default_port {
        return None;
    }
    let host = uri.host()?;
    Some(if host.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(host.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(host)
    })
}

impl<C, P, T> Inner<C, P, T> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client: C,
        prompt: P,
        store: T,
        endpoint: TokenEndpoint,
        authorize_url: String,
        redirect_uri: String,
        base_scopes: Vec<String>,
        requirements: BTreeMap<String, Vec<String>>,
        resource_servers: ResourceServers,
        refresh_tokens: RefreshTokens,
        refresh_margin: Duration,
        grant: Grant,
        allow_identity_change: bool,
    ) -> Self {
        Inner {
            client,
            prompt,
            store,
            endpoint,
            authorize_url,
            redirect_uri,
            base_scopes,
            requirements: Mutex::new(requirements),
            resource_servers,
            refresh_tokens,
            refresh_margin,
            grant,
            allow_identity_change,
            allow_plain_http: false,
            amend_gare: None,
            held: RwLock::new(HashMap::new()),
            getting: Mutex::new(HashMap::new()),
            prompting: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            last_login: Mutex::new(None),
            waiting_gares: Mutex::new(Vec::new()),
            next_wait: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl<C, P, T> Login<C, P, T> {
    /// The token store.
    pub fn token_store(&self) -> &T {
        &self.inner.store
    }

    /// The redirect URI logins use.
    pub fn redirect_uri(&self) -> &str {
        &self.inner.redirect_uri
    }

    /// The resource server a request to `uri` goes to: that of the
    /// [`ResourceServers`] rule that covers it, else its host when it is
    /// https on the default port and names a resource server this login
    /// has scope requirements for. `None`: the request is unmapped, and
    /// the login's layer sends it as the caller made it (no token, no
    /// refresh, no login).
    ///
    /// ```
    /// use http::Uri;
    /// use tower_gare::login::{Login, ResourceServers};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
    /// #     .build_http::<http_body_util::Full<bytes::Bytes>>();
    /// let login = Login::builder("client-id")
    ///     .auth_base_url("https://auth.example.org")
    ///     .resource_servers(ResourceServers::new().with("https://api.example.org/flows", "flows"))
    ///     .scope_requirements("files.example.org", ["files:read"])
    ///     .build(http)?;
    /// let of = |url: &'static str| login.resource_server_for(&Uri::from_static(url));
    /// assert_eq!(of("https://api.example.org/flows/run").as_deref(), Some("flows"));
    /// assert_eq!(of("https://api.example.org/flowsevil"), None);
    /// assert_eq!(of("https://files.example.org/a.txt").as_deref(), Some("files.example.org"));
    /// assert_eq!(of("http://files.example.org/a.txt"), None);
    /// assert_eq!(of("https://files.example.org:8443/a.txt"), None);
    /// assert_eq!(of("https://elsewhere.example.org/"), None);
    /// # Ok(()) }
    /// ```
    pub fn resource_server_for(&self, uri: &Uri) -> Option<String> {
        self.resource_server_of(uri)
            .map(std::borrow::Cow::into_owned)
    }

    /// The same, borrowed when a rule names it (no allocation per request).
    pub(crate) fn resource_server_of(&self, uri: &Uri) -> Option<std::borrow::Cow<'_, str>> {
        if let Some(rule) = self.inner.resource_servers.rule_for(uri) {
            return Some(std::borrow::Cow::Borrowed(rule));
        }
        let host = named_host(uri)?;
        let named = lock(&self.inner.requirements).contains_key(host.as_ref());
        named.then(|| std::borrow::Cow::Owned(host.into_owned()))
    }

    /// The one layer a tower client needs: every request gets its
    /// resource server's token (held, refreshed before it expires, or from
    /// a login), and a GARE or a refused token is answered with new tokens
    /// and one retry. Its services' errors are boxed: the inner service's,
    /// or a [`LoginError`] when a request could not get its token (no
    /// prompt to log in with, a token that would go over plain http).
    /// Settings of the redrive layer (`reauth_timeout`, ...) can be added
    /// to what it returns.
    pub fn layer(&self) -> LoginLayer<C, P, T>
    where
        Login<C, P, T>: Reauthenticator,
    {
        GareRedriveLayer::new(self.clone())
            .box_errors()
            .allow_plain_http(self.inner.allow_plain_http)
    }

    /// The same as [`layer`](Login::layer), as a `reqwest_middleware`
    /// middleware (feature `reqwest`): the first request authorized,
    /// refresh before expiry, a refused token refreshed and retried, a
    /// GARE logged in for and retried, tokens per resource server and per
    /// [`User`]. A request that cannot get its token fails with a
    /// `reqwest_middleware::Error::Middleware` holding the [`LoginError`].
    #[cfg(feature = "reqwest")]
    pub fn middleware(&self) -> crate::reqwest::GareRedriveMiddleware<Login<C, P, T>>
    where
        Login<C, P, T>: Reauthenticator,
    {
        crate::reqwest::GareRedriveMiddleware::from_layer(&self.layer())
    }

    /// The scopes a login asks for on `resource_server`'s behalf: those set
    /// up front and every GARE's since.
    pub fn scope_requirements(&self, resource_server: &str) -> Vec<String> {
        lock(&self.inner.requirements)
            .get(resource_server)
            .cloned()
            .unwrap_or_default()
    }

    /// Adds `scopes` to what a login asks for on `resource_server`'s behalf,
    /// as the Python SDK's `GlobusApp.add_scope_requirements` does. The next
    /// login asks for them; tokens already held stay until then.
    pub fn add_scope_requirements<I, S>(&self, resource_server: &str, scopes: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        add_requirements(&mut lock(&self.inner.requirements), resource_server, scopes);
    }

    /// Adds a Globus Connect Server collection's `data_access` scope under
    /// Transfer's `all` to Transfer's requirements, as the Python SDK's
    /// `TransferClient.add_app_data_access_scope` does: the next login asks
    /// for the consent that lets Transfer reach the collection for the
    /// user. The error: `collection_id` is not a UUID.
    ///
    /// ```
    /// use tower_gare::login::Login;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
    /// #     .build_http::<http_body_util::Full<bytes::Bytes>>();
    /// let login = Login::builder("client-id").build(http)?;
    /// login.add_data_access_scope("6c54cade-bde5-45c1-bdea-f4bd71dba2cc")?;
    /// assert_eq!(
    ///     login.scope_requirements("transfer.api.globus.org"),
    ///     ["urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/6c54cade-bde5-45c1-bdea-f4bd71dba2cc/data_access]"]
    /// );
    /// # Ok(()) }
    /// ```
    pub fn add_data_access_scope(
        &self,
        collection_id: &str,
    ) -> Result<(), crate::globus::InvalidId> {
        let scope = crate::globus::transfer_data_access([collection_id])?;
        let transfer = crate::globus::Service::TRANSFER.resource_server();
        // A login merges it with Transfer's other scopes, bracket-aware:
        // one `all`, every collection's `data_access` under it.
        let mut requirements = lock(&self.inner.requirements);
        add_requirements(&mut requirements, transfer, [String::from(scope)]);
        Ok(())
    }

    /// Registers a Globus service's default scopes as its requirements the
    /// first time a request goes to it with none, as a Python client
    /// registers its scopes with its app.
    fn know_service(&self, resource_server: &str) {
        let Some(service) = crate::globus::Service::ALL
            .into_iter()
            .find(|service| service.resource_server() == resource_server)
        else {
            return;
        };
        let mut requirements = lock(&self.inner.requirements);
        if !requirements.contains_key(resource_server) {
            let scopes = service.default_scopes().into_iter().map(String::from);
            add_requirements(&mut requirements, resource_server, scopes);
        }
    }

    /// The token held in memory for `user` and `resource_server` that is
    /// good for at least the refresh margin: what the credentials step puts
    /// on a request without waiting.
    pub(crate) fn held_credentials(
        &self,
        user: Option<&User>,
        resource_server: &str,
    ) -> Option<Credentials> {
        let held = self.inner.held.read().unwrap_or_else(|p| p.into_inner());
        let entry = held.get(&user.cloned())?.get(resource_server)?;
        let margin = margin_for(self.inner.refresh_margin, entry.lifetime);
        let fresh = !entry.token.expires_within(SystemTime::now(), margin);
        fresh.then(|| entry.credentials.clone())
    }

    /// Holds `tokens` in memory for `user`. Each is checked first: a token
    /// that cannot go in a header is an error, and none is held. `issued`:
    /// they come from the server now (their lifetime is known).
    fn hold(&self, user: Option<&User>, tokens: &[Token], issued: bool) -> Result<(), LoginError> {
        let now = SystemTime::now();
        let checked = tokens
            .iter()
            .map(|token| {
                let credentials =
                    Credentials::bearer(token.access_token()).map_err(LoginError::InvalidToken)?;
                let lifetime = token
                    .expires_at
                    .filter(|_| issued)
                    .map(|at| at.duration_since(now).unwrap_or_default());
                Ok(Held {
                    token: token.clone(),
                    credentials,
                    lifetime,
                })
            })
            .collect::<Result<Vec<_>, LoginError>>()?;
        let mut held = self.inner.held.write().unwrap_or_else(|p| p.into_inner());
        let mine = held.entry(user.cloned()).or_default();
        for entry in checked {
            mine.insert(entry.token.resource_server.clone(), entry);
        }
        Ok(())
    }

    /// The tokens held for `user`.
    fn held_tokens(&self, user: Option<&User>) -> Vec<Token> {
        let held = self.inner.held.read().unwrap_or_else(|p| p.into_inner());
        held.get(&user.cloned())
            .map(|mine| mine.values().map(|entry| entry.token.clone()).collect())
            .unwrap_or_default()
    }

    fn forget(&self, user: Option<&User>) {
        let mut held = self.inner.held.write().unwrap_or_else(|p| p.into_inner());
        held.remove(&user.cloned());
    }

    /// The lock that makes refreshes and logins for one user and resource
    /// server take turns.
    fn turn(&self, user: Option<&User>, resource_server: &str) -> Turn {
        let key = (user.cloned(), resource_server.to_owned());
        take_turn(&self.inner.getting, key)
    }

    /// The turns of every refresh or login of `user` now running or
    /// waiting, in one order: what a logout waits for.
    fn user_turns(&self, user: Option<&User>) -> Vec<Turn> {
        let getting = lock(&self.inner.getting);
        let mut mine: Vec<_> = getting
            .iter()
            .filter(|((who, _), _)| who.as_ref() == user)
            .collect();
        mine.sort_by(|a, b| a.0 .1.cmp(&b.0 .1));
        mine.into_iter().map(|(_, turn)| Arc::clone(turn)).collect()
    }

    /// `user`'s turn to prompt: one login at a time per person.
    fn prompt_turn(&self, user: Option<&User>) -> Turn {
        take_turn(&self.inner.prompting, user.cloned())
    }

    /// The error of a login for `user` and `resource_server` that failed
    /// after `arrived`, while this request waited for it: shared, so a
    /// cancelled prompt is not shown again to every request that waited
    /// on it. A request that comes after may try again.
    fn failed_while_waiting(
        &self,
        user: Option<&User>,
        resource_server: &str,
        arrived: tokio::time::Instant,
    ) -> Option<LoginError> {
        let mut failed = lock(&self.inner.failed);
        let now = tokio::time::Instant::now();
        failed.retain(|_, f| f.at + FAILED_LOGIN_KEPT > now);
        let f = failed.get(&(user.cloned(), resource_server.to_owned()))?;
        (f.at >= arrived).then(|| f.echo.error(resource_server))
    }
}

impl<C, P, T> Login<C, P, T>
where
    C: TokenClient,
    P: Prompt,
    T: TokenStore,
{
    /// The current token for `user`'s requests to `resource_server`: held,
    /// stored, refreshed, or from a login for the resource server's scope
    /// requirements. What the credentials step waits on when none is held.
    pub(crate) async fn credentials(
        &self,
        user: Option<&User>,
        resource_server: &str,
    ) -> Result<Credentials, LoginError> {
        let token = self.token(user, resource_server, Need::Valid).await?;
        Credentials::bearer(token.access_token()).map_err(LoginError::InvalidToken)
    }

    /// Credentials for a request to `uri` before any GARE: a stored token
    /// of its resource server, a refresh, or a login for its scope
    /// requirements. [`Login::layer`] and `Login::middleware` do this for
    /// every request; this is for code that sends requests some other way
    /// (a WebSocket handshake, a subprocess's environment). A URL the login
    /// does not map ([`resource_server_for`](Login::resource_server_for))
    /// is [`LoginError::Unmapped`].
    pub async fn credentials_for(&self, uri: &Uri) -> Result<Credentials, LoginError> {
        let Some(resource_server) = self.resource_server_for(uri) else {
            return Err(unmapped(uri));
        };
        self.credentials(None, &resource_server).await
    }

    /// Logs the program's own user out: waits for a refresh or login of
    /// theirs in flight, then revokes every token (access and refresh, RFC
    /// 7009), stored or held, removes them from the store, and forgets
    /// them. Every token is tried; the first error is returned after.
    pub async fn logout(&self) -> Result<(), LoginError> {
        self.logout_user(None).await
    }

    /// Logs `user` out (see [`logout`](Login::logout)); `None` is the
    /// program's own user.
    pub async fn logout_user(&self, user: Option<&User>) -> Result<(), LoginError> {
        // A refresh or login that finishes after the logout would put its
        // tokens back: wait for those in flight, and revoke what they got.
        let turns = self.user_turns(user);
        let mut taken = Vec::with_capacity(turns.len());
        for turn in &turns {
            taken.push(turn.lock().await);
        }
        let namespace = namespace(user);
        let ns = namespace.clone();
        let mut tokens = self
            .store_io(move |store| store.get_all(&ns))
            .await
            .map_err(LoginError::Store)?;
        // Held tokens the store never got (its write failed) are revoked too.
        for held in self.held_tokens(user) {
            if !tokens.contains(&held) {
                tokens.push(held);
            }
        }
        self.forget(user);
        let mut first_error = None;
        let mut revoked: Vec<&str> = Vec::new();
        for token in &tokens {
            let secrets = [Some(token.access_token()), token.refresh_token()];
            for secret in secrets.into_iter().flatten() {
                if revoked.contains(&secret) {
                    continue;
                }
                revoked.push(secret);
                if let Err(error) = self.inner.endpoint.revoke(&self.inner.client, secret).await {
                    first_error.get_or_insert(error);
                }
            }
        }
        let mut removed: Vec<&str> = Vec::new();
        for token in &tokens {
            if removed.contains(&token.resource_server.as_str()) {
                continue;
            }
            removed.push(&token.resource_server);
            let (ns, resource_server) = (namespace.clone(), token.resource_server.clone());
            let removal = self.store_io(move |store| store.remove(&ns, &resource_server));
            if let Err(error) = removal.await {
                first_error.get_or_insert(LoginError::Store(error));
            }
        }
        drop(taken);
        first_error.map_or(Ok(()), Err)
    }

    async fn token(
        &self,
        user: Option<&User>,
        resource_server: &str,
        need: Need<'_>,
    ) -> Result<Token, LoginError> {
        let required = match &need {
            Need::Gare(cx) => {
                let required = cx.gare().authorization_parameters.required_scopes.clone();
                let required = required.unwrap_or_default();
                // A malformed scope from a server fails this request only.
                scopes::merge_strings(required.iter().map(String::as_str))
                    .map_err(LoginError::InvalidScope)?;
                Some(required)
            }
            _ => None,
        };
        let token = self.token_for(user, resource_server, &need).await?;
        // A GARE's scopes join its own resource server's requirements only
        // once a token grants them: one the authorization server refuses
        // never spoils later logins.
        if let Some(required) = required {
            self.add_scope_requirements(resource_server, required);
        }
        Ok(token)
    }

    async fn token_for(
        &self,
        user: Option<&User>,
        resource_server: &str,
        need: &Need<'_>,
    ) -> Result<Token, LoginError> {
        self.know_service(resource_server);
        // A login that finishes after this moment was started for requests
        // that arrived with this one, or after it.
        let arrived = tokio::time::Instant::now();
        // A login asks for what every GARE waiting with this one needs.
        let _waiting = match need {
            Need::Gare(cx) => Some(WaitingGare::new(&self.inner, user, cx.gare())),
            _ => None,
        };
        // Requests waiting on one refresh or login share its result: each
        // looks again once it has its turn.
        let turn = self.turn(user, resource_server);
        let _turn = turn.lock().await;
        let (usable, latest) = self.usable(user, resource_server, need).await?;
        if let Some(token) = usable {
            return Ok(token);
        }
        // A refresh renews a token; it adds no scope a GARE asks for.
        let refreshable = latest
            .filter(|_| !matches!(need, Need::Gare(_)))
            .filter(|t| t.refresh_token().is_some());
        if let Some(token) = refreshable {
            match self.refresh(user, &token).await {
                // Just issued: used for this request whatever its
                // `expires_in` says.
                Ok(token) if self.fits(&token, need) => return Ok(token),
                Ok(_) => {}
                // A refused refresh token (`invalid_grant`: revoked,
                // rotated away, expired): another process sharing the
                // store may have refreshed first; else a login.
                Err(LoginError::Refused { .. }) => {
                    let (usable, latest) = self.usable(user, resource_server, need).await?;
                    if let Some(token) = usable {
                        return Ok(token);
                    }
                    // What the other process just got serves this request
                    // even inside the margin: it refreshes it next time.
                    let theirs = latest.filter(|t| *t != token);
                    if let Some(token) = theirs.filter(|t| self.will_do(t, need, Duration::ZERO)) {
                        return Ok(token);
                    }
                }
                Err(error) => return Err(error),
            }
        }
        if let Some(error) = self.failed_while_waiting(user, resource_server, arrived) {
            return Err(error);
        }
        let gare = match need {
            Need::Gare(cx) => cx.gare().clone(),
            _ => Gare::new("LoginRequired", Default::default()),
        };
        // One person, one prompt at a time: a login for another resource
        // server may have just brought what this one needs.
        let prompt_turn = match self.inner.grant {
            Grant::AuthorizationCode => Some(self.prompt_turn(user)),
            Grant::ClientCredentials => None,
        };
        let _prompting = match &prompt_turn {
            Some(turn) => Some(self.gathered(turn).await),
            None => None,
        };
        if let Some(token) = self.usable(user, resource_server, need).await?.0 {
            return Ok(token);
        }
        // A session requirement asks for a fresh login, which no stored
        // token stands for; but one that finished while this request waited
        // for its turn met it, and asked for every resource server's scopes.
        if let Some(token) = self.met_while_waiting(user, resource_server, &gare, arrived) {
            return Ok(token);
        }
        let tokens = match self.log_in(user, resource_server, &gare).await {
            Ok(tokens) => tokens,
            Err(error) => return Err(self.login_failed(user, resource_server, error)),
        };
        let token = tokens
            .into_iter()
            .find(|t| t.resource_server == resource_server)
            .ok_or_else(|| LoginError::MissingToken {
                resource_server: resource_server.to_owned(),
            })?;
        Ok(token)
    }

    /// Keeps a person's failed login a moment, so the requests that waited
    /// for it share its error; hands the error back.
    fn login_failed(
        &self,
        user: Option<&User>,
        resource_server: &str,
        error: LoginError,
    ) -> LoginError {
        if self.inner.grant == Grant::AuthorizationCode {
            let key = (user.cloned(), resource_server.to_owned());
            let echo = super::error::Echo::of(&error);
            let at = tokio::time::Instant::now();
            lock(&self.inner.failed).insert(key, Failed { at, echo });
        }
        error
    }

    /// `turn`, taken after the requests that arrived together have added
    /// their requirements (scopes, sessions): one login then asks for all.
    /// A person waits for a login anyway: the short gathering (`GATHER`,
    /// or a few turns of the scheduler on a runtime without timers) goes
    /// unnoticed.
    async fn gathered<'t>(&self, turn: &'t Turn) -> tokio::sync::MutexGuard<'t, ()> {
        let gathered = crate::deadline::within(GATHER, std::future::pending::<()>()).await;
        if gathered.is_err_and(|missed| matches!(missed, crate::deadline::Missed::NoTimer)) {
            for _ in 0..GATHER_YIELDS {
                tokio::task::yield_now().await;
            }
        }
        turn.lock().await
    }

    /// Runs `io` on the token store off the async workers: a store's
    /// methods may block (a file, its lock, a fsync), so they go to tokio's
    /// blocking pool, and no other task waits on them. A store that never
    /// blocks ([`TokenStore::blocks`]) is called in place.
    async fn store_io<X: Send + 'static>(
        &self,
        io: impl FnOnce(&T) -> std::io::Result<X> + Send + 'static,
    ) -> std::io::Result<X> {
        let runtime = tokio::runtime::Handle::try_current();
        let runtime = match runtime {
            Ok(runtime) if self.inner.store.blocks() => runtime,
            _ => return io(&self.inner.store),
        };
        let inner = Arc::clone(&self.inner);
        // Once started it finishes, even if the request that wanted it is
        // dropped: a write of fresh tokens is never cut off halfway.
        match runtime.spawn_blocking(move || io(&inner.store)).await {
            Ok(result) => result,
            Err(error) => Err(std::io::Error::other(format!(
                "the token store's call did not finish: {error}"
            ))),
        }
    }

    /// Tells the person what the store recovered from (a corrupt token
    /// file moved aside): nothing is lost silently.
    fn report_store_warnings(&self) {
        for warning in self.inner.store.take_warnings() {
            self.warn(&warning.to_string());
        }
    }

    /// A warning, through tracing and the prompt's `notice`.
    fn warn(&self, warning: &str) {
        #[cfg(feature = "tracing")]
        tracing::warn!(%warning, "tower-gare: token store");
        self.inner.prompt.notice(&format!("tower-gare: {warning}"));
    }

    /// A token for `user` and `resource_server` that serves `need`: the
    /// one held in memory, else the store's (another process, or a Python
    /// tool sharing the token file, may have logged in or refreshed since).
    /// With it, the latest token known, to refresh when none serves.
    async fn usable(
        &self,
        user: Option<&User>,
        resource_server: &str,
        need: &Need<'_>,
    ) -> Result<(Option<Token>, Option<Token>), LoginError> {
        let held = {
            let held = self.inner.held.read().unwrap_or_else(|p| p.into_inner());
            held.get(&user.cloned())
                .and_then(|mine| mine.get(resource_server))
                .map(|entry| {
                    let margin = margin_for(self.inner.refresh_margin, entry.lifetime);
                    (entry.token.clone(), margin)
                })
        };
        if let Some((token, _)) = held
            .as_ref()
            .filter(|(t, margin)| self.will_do(t, need, *margin))
        {
            return Ok((Some(token.clone()), Some(token.clone())));
        }
        let held = held.map(|(token, _)| token);
        let (ns, rs) = (namespace(user), resource_server.to_owned());
        let stored = self
            .store_io(move |store| store.get(&ns, &rs))
            .await
            .map_err(LoginError::Store);
        self.report_store_warnings();
        let stored = stored?.filter(|stored| stored_is_newer(stored, held.as_ref()));
        let Some(stored) = stored else {
            return Ok((None, held));
        };
        self.hold(user, std::slice::from_ref(&stored), false)?;
        let margin = self.inner.refresh_margin;
        let usable = self.will_do(&stored, need, margin).then(|| stored.clone());
        Ok((usable, Some(stored)))
    }

    /// Whether `token` serves `need` without a refresh or a login, with
    /// at least `margin` of its life left.
    fn will_do(&self, token: &Token, need: &Need<'_>, margin: Duration) -> bool {
        !token.expires_within(SystemTime::now(), margin) && self.fits(token, need)
    }

    /// Whether `token` serves `need`, whatever its expiry: not the refused
    /// one, and granting what a GARE requires.
    fn fits(&self, token: &Token, need: &Need<'_>) -> bool {
        let not_refused = |cx: &ReauthContext| {
            !Credentials::bearer(token.access_token()).is_ok_and(|c| cx.was_sent_with(&c))
        };
        match need {
            Need::Valid => true,
            Need::NotThis(cx) => not_refused(cx),
            Need::Gare(cx) => {
                let params = &cx.gare().authorization_parameters;
                // Session requirements and prompts ask for a fresh login,
                // which no stored token can stand for.
                let required = params.required_scopes.clone().unwrap_or_default();
                !params.has_session_requirements()
                    && params.prompt.is_none()
                    && token.grants(&required)
                    && not_refused(cx)
            }
        }
    }

    async fn refresh(&self, user: Option<&User>, token: &Token) -> Result<Token, LoginError> {
        let Some(refresh_token) = token.refresh_token() else {
            return Err(LoginError::MissingToken {
                resource_server: token.resource_server.clone(),
            });
        };
        let response = self
            .inner
            .endpoint
            .refresh(&self.inner.client, refresh_token)
            .await?;
        let mut tokens = self.adopt(response, &token.resource_server, Some(token));
        self.keep(user, &tokens).await?;
        let position = tokens
            .iter()
            .position(|t| t.resource_server == token.resource_server)
            .ok_or_else(|| LoginError::MissingToken {
                resource_server: token.resource_server.clone(),
            })?;
        Ok(tokens.swap_remove(position))
    }

    /// The tokens of a response, completed: a plain OAuth2 server names no
    /// resource server (the one asked for is meant), and a refresh that
    /// does not rotate the refresh token keeps the old one.
    fn adopt(
        &self,
        response: TokenResponse,
        resource_server: &str,
        refreshed: Option<&Token>,
    ) -> Vec<Token> {
        let identity = response.id_token_subject.clone();
        response
            .tokens
            .into_iter()
            .map(|mut token| {
                if token.resource_server.is_empty() {
                    token.resource_server = resource_server.to_owned();
                }
                if token.identity_id.is_none() {
                    token.identity_id = identity
                        .clone()
                        .or_else(|| refreshed.and_then(|t| t.identity_id.clone()));
                }
                match (
                    token.refresh_token(),
                    refreshed.and_then(Token::refresh_token),
                ) {
                    (None, Some(old))
                        if refreshed
                            .is_some_and(|r| r.resource_server == token.resource_server) =>
                    {
                        token.with_refresh_token(old.to_owned())
                    }
                    _ => token,
                }
            })
            .collect()
    }

    /// Keeps fresh `tokens` for `user`: checked (a token that cannot go in
    /// a header is an error, and nothing is kept), then held in memory,
    /// then stored. A failed write is a warning: the tokens serve from
    /// memory, so a rotated refresh token is not lost with it.
    async fn keep(&self, user: Option<&User>, tokens: &[Token]) -> Result<(), LoginError> {
        self.hold(user, tokens, true)?;
        let (ns, owned) = (namespace(user), tokens.to_vec());
        let stored = self.store_io(move |store| store.put(&ns, &owned)).await;
        self.report_store_warnings();
        if let Err(error) = stored {
            self.warn(&format!(
                "the new tokens could not be stored ({error}); they are kept in memory for now"
            ));
        }
        Ok(())
    }

    /// Every scope a login for `user` should ask for: the base scopes,
    /// every resource server's requirements, the GARE's and those of the
    /// GAREs of `user` that wait with it, merged bracket-aware, so one
    /// consent covers all and consents never ping-pong.
    fn scope_to_ask(&self, user: Option<&User>, gare: &Gare) -> Result<String, LoginError> {
        let requirements = lock(&self.inner.requirements).clone();
        let required_by = |gare: &Gare| {
            let params = &gare.authorization_parameters;
            params.required_scopes.clone().unwrap_or_default()
        };
        let mut required = required_by(gare);
        for (_, _, waiting) in lock(&self.inner.waiting_gares)
            .iter()
            .filter(|(_, u, _)| u.as_ref() == user)
        {
            required.extend(required_by(waiting));
        }
        let all = required
            .iter()
            .chain(requirements.values().flatten())
            .chain(&self.inner.base_scopes)
            .map(String::as_str);
        scopes::merge_strings(all).map_err(LoginError::InvalidScope)
    }

    /// The token for `resource_server` from a login for `user` that
    /// finished after `since` with the same session requirements as `gare`,
    /// if it grants the scopes `gare` requires.
    fn met_while_waiting(
        &self,
        user: Option<&User>,
        resource_server: &str,
        gare: &Gare,
        since: tokio::time::Instant,
    ) -> Option<Token> {
        let wanted = &gare.authorization_parameters;
        let met = lock(&self.inner.last_login).as_ref().is_some_and(|last| {
            last.finished >= since
                && last.user.as_ref() == user
                && last.session.covers_session(wanted)
        });
        if !met {
            return None;
        }
        let held = self.inner.held.read().unwrap_or_else(|p| p.into_inner());
        let token = held
            .get(&user.cloned())?
            .get(resource_server)?
            .token
            .clone();
        let required = gare
            .authorization_parameters
            .required_scopes
            .clone()
            .unwrap_or_default();
        token.grants(&required).then_some(token)
    }

    /// `gare`, with the session requirements of every GARE of `user` that
    /// waits for a login now: GAREs that arrived together are met by one
    /// login (identities, domains and policies together, MFA if any asks).
    fn with_waiting_sessions(&self, user: Option<&User>, gare: &Gare) -> Gare {
        let mut merged = gare.clone();
        let waiting = lock(&self.inner.waiting_gares);
        for (_, _, other) in waiting.iter().filter(|(_, u, _)| u.as_ref() == user) {
            let params = &mut merged.authorization_parameters;
            params.merge_session(&other.authorization_parameters);
        }
        merged
    }

    /// A login for every requirement, shaped by `gare`: a person at the
    /// prompt (one at a time), or the client as itself.
    async fn log_in(
        &self,
        user: Option<&User>,
        resource_server: &str,
        gare: &Gare,
    ) -> Result<Vec<Token>, LoginError> {
        let scope = self.scope_to_ask(user, gare)?;
        if scope.is_empty() {
            return Err(LoginError::NoScopes);
        }
        // What the login asks of the session: this GARE's, and those of the
        // GAREs that wait with it.
        let session = match self.inner.grant {
            Grant::AuthorizationCode => self.with_waiting_sessions(user, gare),
            Grant::ClientCredentials => gare.clone(),
        };
        let response = match self.inner.grant {
            Grant::ClientCredentials => {
                let params = &gare.authorization_parameters;
                if params.has_session_requirements() {
                    return Err(LoginError::NeedsPerson {
                        gare: Box::new(gare.clone()),
                    });
                }
                self.inner
                    .endpoint
                    .client_credentials(&self.inner.client, &scope)
                    .await?
            }
            Grant::AuthorizationCode => self.authorization_code(&scope, &session).await?,
        };
        let tokens = self.adopt(response, resource_server, None);
        self.check_identity(user, &tokens).await?;
        self.keep(user, &tokens).await?;
        // A login went through: earlier failures of this person's no
        // longer answer for them.
        lock(&self.inner.failed).retain(|(who, _), _| who.as_ref() != user);
        *lock(&self.inner.last_login) = Some(LastLogin {
            finished: tokio::time::Instant::now(),
            user: user.cloned(),
            session: session.authorization_parameters.clone(),
        });
        let required = gare
            .authorization_parameters
            .required_scopes
            .clone()
            .unwrap_or_default();
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
        Ok(tokens)
    }

    async fn authorization_code(
        &self,
        scope: &str,
        gare: &Gare,
    ) -> Result<TokenResponse, LoginError> {
        let inner = &self.inner;
        let (request, verifier) = AuthorizeRequest::build(
            &inner.authorize_url,
            inner.endpoint.client_id(),
            &inner.redirect_uri,
            scope,
            gare,
            &inner.refresh_tokens,
        )?;
        let answer = inner
            .prompt
            .authorize(&request)
            .await
            .map_err(|error| match error {
                // What the login was for goes with what a person would run.
                LoginError::LoginRequired {
                    authorize_url,
                    commands,
                    gare: None,
                } => LoginError::LoginRequired {
                    authorize_url,
                    commands,
                    gare: Some(Box::new(gare.clone())),
                },
                other => other,
            })?;
        // A prompt that saw a redirect must bring its state back; only one
        // that takes a bare code (typed from Globus Auth's code page) may not.
        let state_ok = match answer.state.as_deref() {
            Some(state) => state == request.state(),
            None => inner.prompt.takes_bare_code(),
        };
        if !state_ok {
            return Err(LoginError::StateMismatch);
        }
        inner
            .endpoint
            .exchange_code(&inner.client, &answer.code, &verifier, &inner.redirect_uri)
            .await
    }

    /// A login as another identity than the stored tokens' is refused, and
    /// the stored tokens are left as they are (the Python SDK's
    /// `IdentityMismatchError`).
    async fn check_identity(
        &self,
        user: Option<&User>,
        tokens: &[Token],
    ) -> Result<(), LoginError> {
        if self.inner.allow_identity_change {
            return Ok(());
        }
        let Some(new) = tokens.iter().find_map(|t| t.identity_id.clone()) else {
            return Ok(());
        };
        let ns = namespace(user);
        let stored = self
            .store_io(move |store| store.get_all(&ns))
            .await
            .map_err(LoginError::Store)?;
        match stored.iter().find_map(|t| t.identity_id.clone()) {
            Some(old) if old != new => Err(LoginError::IdentityMismatch {
                stored: old,
                logged_in: new,
            }),
            _ => Ok(()),
        }
    }
}

impl<C, P, T> Reauthenticator for Login<C, P, T>
where
    C: TokenClient,
    P: Prompt,
    T: TokenStore,
{
    type Error = LoginError;

    async fn reauthenticate(&self, mut cx: ReauthContext) -> Result<Credentials, LoginError> {
        if let Some(amend) = &self.inner.amend_gare {
            let mut gare = cx.gare().clone();
            (amend.0)(&cx, &mut gare);
            cx.gare = gare;
        }
        // The engine asks `serves` first; an unmapped request never gets here.
        let Some(resource_server) = self.resource_server_for(cx.uri()) else {
            return Err(unmapped(cx.uri()));
        };
        let need = if cx.is_token_rejected() {
            Need::NotThis(&cx)
        } else {
            Need::Gare(&cx)
        };
        let token = self.token(cx.user(), &resource_server, need).await?;
        Credentials::bearer(token.access_token()).map_err(LoginError::InvalidToken)
    }

    /// The credentials step: the held token of the request's resource
    /// server and user, at once; else a wait for the stored one, a
    /// refresh, or a login. A request that carries its own `Authorization`
    /// goes as the caller made it.
    fn credentials(&self, request: &Outgoing<'_>) -> Attach {
        if request.headers().contains_key(AUTHORIZATION) {
            return Attach::None;
        }
        let user = request.user();
        // An unmapped request goes as the caller made it: no token of any
        // resource server goes to a host no rule names.
        let Some(resource_server) = self.resource_server_of(request.uri()) else {
            return Attach::None;
        };
        if let Some(credentials) = self.held_credentials(user, &resource_server) {
            return Attach::Ready(credentials);
        }
        let (login, user) = (self.clone(), user.cloned());
        let resource_server = resource_server.into_owned();
        Attach::Wait(Box::pin(async move {
            let credentials = login.credentials(user.as_ref(), &resource_server).await;
            credentials.map_err(Into::into)
        }))
    }

    /// Each resource server's token is its own: requests to two resource
    /// servers never share one reauthentication's credentials.
    fn partition(&self, cx: &ReauthContext) -> Option<String> {
        self.resource_server_for(cx.uri())
    }

    /// The requests the login maps to a resource server
    /// ([`resource_server_for`](Login::resource_server_for)); a GARE or a
    /// 401 from any other comes back as it came.
    fn serves(&self, uri: &Uri) -> bool {
        self.resource_server_of(uri).is_some()
    }
}

impl<C, P: fmt::Debug, T: fmt::Debug> fmt::Debug for Login<C, P, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Login")
            .field("endpoint", &inner.endpoint)
            .field("authorize_url", &inner.authorize_url)
            .field("redirect_uri", &inner.redirect_uri)
            .field("base_scopes", &inner.base_scopes)
            .field("requirements", &*lock(&inner.requirements))
            .field("grant", &inner.grant)
            .field("amend_gare", &inner.amend_gare.is_some())
            .field("prompt", &inner.prompt)
            .field("store", &inner.store)
            .finish_non_exhaustive()
    }
}
