//! The layer's settings, shared by its services.

use std::time::Duration;

use http::{Method, StatusCode};

/// The response-buffer cap [`GareRedriveLayer`](super::GareRedriveLayer) uses by default: 64 KiB.
pub const DEFAULT_RESPONSE_CAP: usize = 64 * 1024;

/// A set of HTTP statuses (100 to 999), one bit each: the check on every
/// response is a shift and a mask.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StatusSet([u64; 16]);

impl StatusSet {
    pub(crate) fn insert(&mut self, status: StatusCode) {
        let code = usize::from(status.as_u16());
        self.0[code / 64] |= 1 << (code % 64);
    }

    pub(crate) fn contains(&self, status: StatusCode) -> bool {
        let code = usize::from(status.as_u16());
        self.0[code / 64] & (1 << (code % 64)) != 0
    }
}

impl FromIterator<StatusCode> for StatusSet {
    fn from_iter<I: IntoIterator<Item = StatusCode>>(statuses: I) -> Self {
        let mut set = StatusSet::default();
        for status in statuses {
            set.insert(status);
        }
        set
    }
}

impl std::fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let statuses = (100..1000u16)
            .filter_map(|code| StatusCode::from_u16(code).ok())
            .filter(|status| self.contains(*status))
            .map(|status| status.as_u16());
        f.debug_set().entries(statuses).finish()
    }
}

/// Whether `method` may be sent twice with the effect of once: the methods
/// RFC 9110 calls idempotent, less TRACE (never worth a login).
pub(crate) fn is_idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
}

/// A layer's settings: what its builder methods set.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) triggers: StatusSet,
    /// The trigger statuses after which any method is retried; after the
    /// others, only idempotent ones.
    pub(crate) any_method: StatusSet,
    pub(crate) response_cap: usize,
    /// The longest a trigger-status body may take to read.
    pub(crate) response_read_timeout: Duration,
    pub(crate) replay_cap: usize,
    pub(crate) header_challenges: bool,
    pub(crate) reauth_timeout: Option<Duration>,
    /// How long a failed reauthentication (or one that did not help) keeps
    /// its requirements from starting another.
    pub(crate) reauth_quiet_period: Duration,
    pub(crate) rejected_tokens: bool,
    /// Whether credentials may go on plain-`http` requests off loopback.
    pub(crate) allow_plain_http: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            // Globus sends GAREs on all three: Transfer's
            // ExternalError.DirListingFailed.LoginFailed is a 502.
            triggers: [
                StatusCode::UNAUTHORIZED,
                StatusCode::FORBIDDEN,
                StatusCode::BAD_GATEWAY,
            ]
            .into_iter()
            .collect(),
            // A 401 or 403 is a refusal before anything was done; a 502 may
            // come after the server acted.
            any_method: [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN]
                .into_iter()
                .collect(),
            response_cap: DEFAULT_RESPONSE_CAP,
            response_read_timeout: Duration::from_secs(10),
            replay_cap: super::DEFAULT_REPLAY_CAP,
            header_challenges: true,
            reauth_timeout: None,
            reauth_quiet_period: Duration::from_secs(10),
            rejected_tokens: true,
            allow_plain_http: false,
        }
    }
}
