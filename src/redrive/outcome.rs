//! What the layer did with a response, put in the response's extensions.

use super::ReauthError;

/// What the layer did. Every response whose status is a trigger (and every
/// retried response) carries one in its extensions; responses with other
/// statuses pass through untouched and carry none.
///
/// ```
/// use tower_gare::redrive::RedriveOutcome;
///
/// fn report<B>(response: &http::Response<B>) -> &'static str {
///     match RedriveOutcome::of(response) {
///         Some(RedriveOutcome::Redriven) => "reauthenticated and retried",
///         Some(RedriveOutcome::ReauthFailed(_)) => "login failed; original response",
///         Some(_) => "looked at, left alone",
///         None => "not a trigger status",
///     }
/// }
/// let mut response = http::Response::new(());
/// assert_eq!(report(&response), "not a trigger status");
/// response.extensions_mut().insert(RedriveOutcome::Redriven);
/// assert_eq!(report(&response), "reauthenticated and retried");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RedriveOutcome {
    /// A trigger status whose body is not a GARE. The body is the server's,
    /// byte for byte.
    NoGare,
    /// A trigger status whose body was larger than the buffer cap: passed
    /// through whole, not inspected.
    BodyOverCap,
    /// The body failed while it was being read for inspection; the caller
    /// gets what was read, then the error.
    BodyError,
    /// A trigger status whose body did not arrive within the read deadline
    /// ([`response_read_timeout`](super::GareRedriveLayer::response_read_timeout),
    /// 10 s by default): passed through as it is, not inspected. The caller
    /// gets what was read, then the rest of the stream as it comes.
    BodyTooSlow,
    /// A trigger status whose body was not all there at once, on a runtime
    /// with no timer to keep the read deadline with (a tokio runtime built
    /// without `enable_time`): passed through as it is, not inspected, as
    /// with [`BodyTooSlow`](RedriveOutcome::BodyTooSlow). Build the runtime
    /// with `enable_time()` (or `enable_all()`) for the layer to read it.
    NoTimer,
    /// A GARE; this request reauthenticated and this is the retried response.
    Redriven,
    /// A GARE; another request's reauthentication for the same requirements
    /// (running, or already finished) supplied the credentials, and this is
    /// the retried response.
    Coalesced,
    /// A GARE, but the request body could not be sent again (not replayable,
    /// or over the replay cap): the original response, GARE attached.
    NotReplayable,
    /// A GARE on a status after which only idempotent methods (GET, HEAD,
    /// OPTIONS, PUT, DELETE) are sent again, and the request's method is
    /// not one: a 502 may come after the server acted on a POST. Not
    /// reauthenticated, not retried: the original response, GARE attached.
    /// See [`retry_any_method_on`](super::GareRedriveLayer::retry_any_method_on).
    NotIdempotent,
    /// A GARE on a plain-`http` request to a host that is not loopback:
    /// credentials are not sent in the clear, so it is not reauthenticated
    /// for or retried. The original response, GARE attached. See
    /// [`allow_plain_http`](super::GareRedriveLayer::allow_plain_http).
    PlainHttp,
    /// A GARE, but reauthentication failed (an error, a panic in the
    /// reauthenticator, a missed `reauth_timeout`), or one for the same
    /// requirements failed or did not help (its retry met them again) within
    /// the [quiet period](super::GareRedriveLayer::reauth_quiet_period): the
    /// original response, GARE attached. In the quiet period the error is
    /// that earlier one, and the reauthenticator is not called.
    ReauthFailed(ReauthError),
    /// A GARE, or a 401, from a request the reauthenticator does not
    /// answer for ([`Reauthenticator::serves`](super::Reauthenticator::serves)
    /// is false: for a [`Login`](crate::login::Login), no rule maps its URL
    /// to a resource server). It went without a token, and nothing is
    /// logged in for: the response as it came, GARE (if any) attached.
    Unmapped,
    /// A GARE from another origin than the request was sent to (a redirect
    /// was followed): not this origin's to log in for. The response, GARE
    /// attached.
    OtherOrigin,
}

impl RedriveOutcome {
    /// What the layer did with `response`, if it looked at it.
    pub fn of<B>(response: &http::Response<B>) -> Option<&RedriveOutcome> {
        response.extensions().get()
    }
}
