//! The layer's settings, shared by its services.

use std::sync::Arc;

use http::StatusCode;

use super::engine::Engine;

/// The response-buffer cap [`GareRedriveLayer`](super::GareRedriveLayer) uses by default: 64 KiB.
pub const DEFAULT_RESPONSE_CAP: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) triggers: Vec<StatusCode>,
    pub(crate) response_cap: usize,
    pub(crate) replay_cap: usize,
    pub(crate) header_challenges: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            // Globus sends GAREs on all three: Transfer's
            // ExternalError.DirListingFailed.LoginFailed is a 502.
            triggers: vec![
                StatusCode::UNAUTHORIZED,
                StatusCode::FORBIDDEN,
                StatusCode::BAD_GATEWAY,
            ],
            response_cap: DEFAULT_RESPONSE_CAP,
            replay_cap: super::DEFAULT_REPLAY_CAP,
            header_challenges: true,
        }
    }
}

impl Config {
    pub(crate) fn triggers(&self, status: StatusCode) -> bool {
        self.triggers.contains(&status)
    }
}

/// What a service and each of its requests share: the layer's engine and
/// settings, behind one `Arc` so a request costs one reference count.
pub(crate) struct Setup<R> {
    pub(crate) engine: Arc<Engine<R>>,
    pub(crate) config: Config,
}
