//! The tower `Layer`.

use std::fmt;
use std::sync::Arc;

use http::StatusCode;
use tower_layer::Layer;

use super::config::{Config, Setup};
use super::engine::Engine;
use super::{GareRedrive, Reauthenticator};

/// Wraps services with [`GareRedrive`]: on a GARE, reauthenticate and retry once.
///
/// Every service this layer makes, and every clone of them, shares one
/// engine: one credential memory and one reauthentication at a time per
/// set of requirements.
///
/// ```
/// use http::StatusCode;
/// use tower::ServiceBuilder;
/// use tower_gare::redrive::{Credentials, GareRedriveLayer, ReauthContext};
///
/// let layer = GareRedriveLayer::new(|_cx: ReauthContext| async { Credentials::bearer("new-token") })
///     .trigger_statuses([StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN])
///     .response_cap(16 * 1024)
///     .replay_cap(1024 * 1024);
/// let service = ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|_req: http::Request<String>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
///     });
/// # let _ = service;
/// ```
pub struct GareRedriveLayer<R> {
    engine: Arc<Engine<R>>,
    config: Arc<Config>,
}

impl<R: Reauthenticator> GareRedriveLayer<R> {
    /// A layer that calls `reauthenticator` when a response is a GARE. Triggers
    /// 401, 403 and 502; reads at most 64 KiB of a response body; records at
    /// most 64 KiB of a streaming request body for the replay.
    pub fn new(reauthenticator: R) -> Self {
        GareRedriveLayer {
            engine: Arc::new(Engine::new(reauthenticator)),
            config: Arc::new(Config::default()),
        }
    }

    /// The statuses whose bodies are read for a GARE (default 401, 403, 502).
    /// Responses with any other status pass through unread.
    pub fn trigger_statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        Arc::make_mut(&mut self.config).triggers = statuses.into_iter().collect();
        self
    }

    /// The most bytes of a trigger-status body read to look for a GARE
    /// (default 64 KiB). A larger body passes through whole, unparsed.
    pub fn response_cap(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.config).response_cap = bytes;
        self
    }

    /// The most bytes of a streaming request body
    /// ([`ReplayBody`](super::ReplayBody)) recorded for the replay (default
    /// 64 KiB). Bodies that clone cheaply are replayed whatever their size.
    pub fn replay_cap(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.config).replay_cap = bytes;
        self
    }

    /// Whether `WWW-Authenticate` challenges (`insufficient_scope`, step-up,
    /// claims) count as requirements too (default: yes). The body GARE is
    /// read first; when both are present they are merged (see
    /// [`challenge::merge`](crate::challenge::merge)).
    pub fn header_challenges(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.config).header_challenges = enabled;
        self
    }

    /// The longest a reauthentication may take (default: no limit). Past
    /// it, every request waiting on it gets its original response with
    /// `RedriveOutcome::ReauthFailed`, and the next GARE starts a new one.
    /// Without a limit, a reauthenticator that never finishes holds every
    /// request with the same requirements until their callers give up
    /// (a `tower::timeout` outside this layer).
    pub fn reauth_timeout(mut self, limit: std::time::Duration) -> Self {
        Arc::make_mut(&mut self.config).reauth_timeout = Some(limit);
        self
    }

    /// Forgets every credential learned so far; later requests go out as
    /// their callers made them.
    pub fn forget_credentials(&self) {
        self.engine.forget_all();
    }
}

impl<R> GareRedriveLayer<R> {
    /// The engine and settings, for the services and middlewares this layer makes.
    pub(crate) fn setup(&self) -> Arc<Setup<R>> {
        Arc::new(Setup {
            engine: Arc::clone(&self.engine),
            config: Config::clone(&self.config),
        })
    }
}

impl<R> Clone for GareRedriveLayer<R> {
    fn clone(&self) -> Self {
        GareRedriveLayer {
            engine: Arc::clone(&self.engine),
            config: Arc::clone(&self.config),
        }
    }
}

impl<S, R> Layer<S> for GareRedriveLayer<R> {
    type Service = GareRedrive<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        GareRedrive::from_parts(inner, self.setup())
    }
}

impl<R> fmt::Debug for GareRedriveLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GareRedriveLayer")
            .field("trigger_statuses", &self.config.triggers)
            .field("response_cap", &self.config.response_cap)
            .field("replay_cap", &self.config.replay_cap)
            .field("header_challenges", &self.config.header_challenges)
            .field("reauth_timeout", &self.config.reauth_timeout)
            .finish_non_exhaustive()
    }
}
