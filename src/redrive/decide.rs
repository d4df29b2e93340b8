//! What the engine decides for a request, shared by both transports: the
//! credentials it goes out with (the credentials step), whether a trigger
//! response is a requirement to reauthenticate for and send again, and
//! what to make of the retried response. The transports (the tower
//! future, the reqwest middleware) call these in order and do the sending.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Buf;
use futures_util::FutureExt;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use http_body::Body;
use tower_http::follow_redirect::RequestUri;

use super::credentials::may_carry_token;
use super::flight::{Engine, Limits};
use super::layer::{is_idempotent, Settings};
use super::trigger::{refuses_token, requirement};
use super::{
    Attach, BoxError, Credentials, Origin, Outgoing, ReauthContext, ReauthError, Reauthenticator,
    RedriveBody, RedriveOutcome, User, WaitForCredentials,
};
use crate::deadline::{within, Missed};
use crate::gare::Gare;

/// What a layer's services, their clones and its reqwest middleware share:
/// the settings and the engine, behind the one `Arc` a request holds.
pub(crate) struct Redriver<R> {
    pub(crate) settings: Settings,
    pub(crate) engine: Arc<Engine<R>>,
}

/// Where a request's credentials came from, as far as a reauthentication
/// for it needs to know.
#[derive(Clone, Copy, Default)]
pub(crate) struct Carried {
    /// The generation of the remembered credentials it carried (0: none).
    pub(crate) generation: u64,
    /// Whether the engine keeps this reauthenticator's credentials for it
    /// (the reauthenticator answered [`Attach::Remembered`]).
    pub(crate) remembered: bool,
    /// Whether the reauthenticator put nothing on it ([`Attach::None`]):
    /// an `Authorization` it carries is the caller's own, so a 401 refuses
    /// the caller's credentials, not the reauthenticator's token.
    pub(crate) callers: bool,
}

/// The credentials step's outcome for one request.
pub(crate) enum Step {
    /// Send it as it is.
    Send(Carried),
    /// Put these on it, and send it.
    Put(Credentials),
    /// Put on it what the engine remembers for its user and origin
    /// ([`Redriver::put_remembered`]), and send it.
    PutRemembered,
    /// Get its credentials first, then send it.
    Wait(WaitForCredentials),
    /// Credentials were wanted on it, but it would carry them in the clear.
    Refused(BoxError),
}

/// What the first attempt of a request carried.
pub(crate) struct Sent {
    method: Method,
    uri: Uri,
    authorization: Option<HeaderValue>,
    user: Option<User>,
    carried: Carried,
}

impl Sent {
    /// What a request with these parts carried.
    pub(crate) fn new(
        method: Method,
        uri: Uri,
        headers: &HeaderMap,
        user: Option<User>,
        carried: Carried,
    ) -> Sent {
        Sent {
            method,
            uri,
            authorization: headers.get(AUTHORIZATION).cloned(),
            user,
            carried,
        }
    }

    /// What `request` (as sent, credentials on) carried: taken on the slow
    /// path from the replay copy, so a request that is never redriven
    /// clones nothing for it.
    pub(crate) fn of<B>(request: &http::Request<B>, carried: Carried) -> Sent {
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let user = request.extensions().get::<User>().cloned();
        Sent::new(method, uri, request.headers(), user, carried)
    }
}

/// A token would have gone to a plain-`http` URL of a host that is not
/// loopback: refused (see `GareRedriveLayer::allow_plain_http`).
#[derive(Debug)]
pub(crate) struct InsecureUrl {
    origin: Origin,
}

impl fmt::Display for InsecureUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused to send credentials over plain http to {} (not loopback); use https, or allow_plain_http(true)",
            self.origin
        )
    }
}

impl std::error::Error for InsecureUrl {}

impl<R> Redriver<R> {
    /// Whether `status` sends a response down the slow path.
    #[inline]
    pub(crate) fn triggers(&self, status: StatusCode) -> bool {
        self.settings.triggers.contains(status)
    }

    /// Whether credentials may go on a request to `uri`: not on plain
    /// `http` off loopback, unless the layer allows it.
    fn may_carry_credentials(&self, uri: &Uri) -> bool {
        self.settings.allow_plain_http || may_carry_token(uri)
    }

    /// Whether a response with no requirement plainly refused the token the
    /// request was sent with (see [`refuses_token`]).
    fn token_refused<B>(&self, sent_with_token: bool, response: &Response<B>) -> bool {
        self.settings.rejected_tokens
            && response.status() == StatusCode::UNAUTHORIZED
            && sent_with_token
            && refuses_token(response.headers())
    }

    /// What a read trigger-status response asks to reauthenticate for, and
    /// the GARE the caller sees with it (none for a refused token: that is
    /// no GARE); or why there is nothing to reauthenticate for.
    fn needed<B>(
        &self,
        found: Result<Gare, RedriveOutcome>,
        sent_with_token: bool,
        response: &Response<B>,
    ) -> Result<(Gare, Option<Gare>), RedriveOutcome> {
        match found {
            Ok(gare) => Ok((gare.clone(), Some(gare))),
            Err(RedriveOutcome::NoGare) if self.token_refused(sent_with_token, response) => {
                Ok((Gare::new("AuthenticationFailed", Default::default()), None))
            }
            Err(outcome) => Err(outcome),
        }
    }

    /// Why a request that met a requirement is not reauthenticated for
    /// and sent again, whatever its body: the requirement is another
    /// origin's; credentials would go in the clear; or the method is not
    /// idempotent and the status says the server may have acted.
    fn not_retried<B>(&self, sent: &Sent, response: &Response<B>) -> Option<RedriveOutcome> {
        if answered_elsewhere(response, &Origin::from_uri(&sent.uri)) {
            return Some(RedriveOutcome::OtherOrigin);
        }
        if !self.may_carry_credentials(&sent.uri) {
            return Some(RedriveOutcome::PlainHttp);
        }
        if !self.settings.any_method.contains(response.status()) && !is_idempotent(&sent.method) {
            return Some(RedriveOutcome::NotIdempotent);
        }
        None
    }

    fn limits(&self) -> Limits {
        Limits {
            timeout: self.settings.reauth_timeout,
            quiet_period: self.settings.reauth_quiet_period,
        }
    }
}

/// Hands a response back with what the layer found and did.
fn finish<B>(
    uri: &Uri,
    mut response: Response<B>,
    gare: Option<Gare>,
    outcome: RedriveOutcome,
) -> Response<B> {
    trace_outcome(uri, &outcome);
    if let Some(gare) = gare {
        response.extensions_mut().insert(gare);
    }
    response.extensions_mut().insert(outcome);
    response
}

/// Whether the response came from another origin than the request was sent
/// to: a redirect was followed (tower-http's `FollowRedirect` and the
/// reqwest adapter say where in a `RequestUri`). That server's requirements
/// are not this origin's to log in for.
fn answered_elsewhere<B>(response: &Response<B>, sent_to: &Origin) -> bool {
    response
        .extensions()
        .get::<RequestUri>()
        .is_some_and(|RequestUri(final_uri)| !sent_to.matches(final_uri))
}

impl<R: Reauthenticator> Redriver<R> {
    /// Whether the reauthenticator answers for `sent`'s URL at all
    /// ([`Reauthenticator::serves`]): asked on the slow path only.
    fn serves(&self, sent: &Sent) -> bool {
        self.engine.reauthenticator().serves(&sent.uri)
    }

    /// The credentials step for a request about to be sent: what the
    /// reauthenticator answers for it. It only reads the request: the
    /// transport puts on what it says (so a request that gets nothing is
    /// not taken apart).
    #[inline]
    pub(crate) fn step(&self, request: Outgoing<'_>) -> Step {
        let uri = request.uri();
        match self.engine.reauthenticator().credentials(&request) {
            // While nothing is remembered, this is one atomic load.
            Attach::Remembered => {
                if self.engine.remembers_any() && self.may_carry_credentials(uri) {
                    Step::PutRemembered
                } else {
                    Step::Send(Carried {
                        remembered: true,
                        ..Carried::default()
                    })
                }
            }
            Attach::None => Step::Send(Carried {
                callers: true,
                ..Carried::default()
            }),
            _ if !self.may_carry_credentials(uri) => Step::Refused(Box::new(InsecureUrl {
                origin: Origin::from_uri(uri),
            })),
            Attach::Ready(credentials) => Step::Put(credentials),
            Attach::Wait(wait) => Step::Wait(self.guarded(wait)),
        }
    }

    /// A credentials step's wait, as the engine runs it: the
    /// reauthenticator's code, so a panic in it is an error for its request
    /// (not a panic in the caller's task), and it is bounded by the
    /// `reauth_timeout`, as a reauthentication is.
    fn guarded(&self, wait: WaitForCredentials) -> WaitForCredentials {
        let timeout = self.settings.reauth_timeout;
        Box::pin(async move {
            let run = AssertUnwindSafe(wait).catch_unwind();
            let outcome = match timeout {
                Some(limit) => match within(limit, run).await {
                    Ok(outcome) => outcome,
                    Err(Missed::Elapsed) => return Err(ReauthError::timed_out(limit).into()),
                    Err(Missed::NoTimer) => return Err(ReauthError::no_timer(limit).into()),
                },
                None => run.await,
            };
            outcome.unwrap_or_else(|_panic| Err(ReauthError::panicked().into()))
        })
    }

    /// Puts the credentials remembered for `user`'s requests to `uri` on
    /// `headers` ([`Step::PutRemembered`]).
    pub(crate) fn put_remembered(
        &self,
        user: Option<&User>,
        uri: &Uri,
        headers: &mut HeaderMap,
    ) -> Carried {
        Carried {
            generation: self.engine.apply_remembered(user, uri, headers),
            remembered: true,
            callers: false,
        }
    }

    /// Reads the first answer (a trigger status) and decides: hand it
    /// back, or send the request again with new credentials (one
    /// reauthentication for every request with the same requirements).
    /// `replayable`: whether the transport has a copy to send.
    pub(crate) async fn decide<B: Body>(
        self: Arc<Self>,
        sent: Sent,
        replayable: bool,
        response: Response<B>,
    ) -> Decision<B>
    where
        B::Data: Buf,
    {
        let uri = sent.uri.clone();
        let (parts, body) = response.into_parts();
        let (body, found) = Box::pin(requirement(&self.settings, &parts.headers, body)).await;
        let original = Response::from_parts(parts, body);
        // Only the reauthenticator's own token can be refused: not what the
        // caller put on a request it sent as made.
        let sent_with_token = sent.authorization.is_some() && !sent.carried.callers;
        let (needed, gare) = match self.needed(found, sent_with_token, &original) {
            Ok(needed) => needed,
            Err(RedriveOutcome::NoGare)
                if original.status() == StatusCode::UNAUTHORIZED && !self.serves(&sent) =>
            {
                let outcome = RedriveOutcome::Unmapped;
                return Decision::Return(finish(&uri, original, None, outcome));
            }
            Err(outcome) => return Decision::Return(finish(&uri, original, None, outcome)),
        };
        if !self.serves(&sent) {
            let outcome = RedriveOutcome::Unmapped;
            return Decision::Return(finish(&uri, original, gare, outcome));
        }
        if let Some(outcome) = self.not_retried(&sent, &original) {
            return Decision::Return(finish(&uri, original, gare, outcome));
        }
        if !replayable {
            let outcome = RedriveOutcome::NotReplayable;
            return Decision::Return(finish(&uri, original, gare, outcome));
        }
        let mut cx = ReauthContext::new(needed, sent.method, sent.uri, original.status());
        cx.sent_authorization = sent.authorization;
        cx.user = sent.user;
        cx.token_rejected = gare.is_none();
        let requirements = self.engine.key_of(&cx);
        // Enough of the request to ask of the retry's answer whether the
        // reauthentication helped (not the GARE: the answer brings its own).
        let (method, user) = (cx.method.clone(), cx.user.clone());
        let flight =
            self.engine
                .credentials_for(cx, requirements.clone(), sent.carried, self.limits());
        let (credentials, outcome) = Box::pin(flight).await;
        let credentials = match credentials {
            Ok(credentials) => credentials,
            Err(error) => {
                let outcome = RedriveOutcome::ReauthFailed(error);
                return Decision::Return(finish(&uri, original, gare, outcome));
            }
        };
        Decision::Retry(Box::new(Retry {
            credentials,
            original,
            gare,
            after: AfterRetry {
                method,
                uri,
                user,
                requirements,
                outcome,
                sent_with_token: false,
            },
        }))
    }

    /// The retried response, handed back whatever it is (one retry, ever),
    /// its own requirement attached.
    pub(crate) async fn after_retry<B: Body>(
        self: Arc<Self>,
        retried: Response<B>,
        after: AfterRetry,
    ) -> Response<RedriveBody<B>>
    where
        B::Data: Buf,
    {
        let AfterRetry {
            method,
            uri,
            user,
            requirements,
            outcome,
            sent_with_token,
        } = after;
        if !self.triggers(retried.status()) {
            return finish(&uri, retried.map(RedriveBody::new), None, outcome);
        }
        let (parts, body) = retried.into_parts();
        let (body, found) = requirement(&self.settings, &parts.headers, body).await;
        let retried = Response::from_parts(parts, body);
        let gare = match self.needed(found, sent_with_token, &retried) {
            Ok((needed, gare)) => {
                // The server wants what it wanted before the login: asking
                // again at once would only prompt again (a server that
                // answers every request with a GARE).
                let mut again = ReauthContext::new(needed, method, uri.clone(), retried.status());
                again.user = user;
                again.token_rejected = gare.is_none();
                if self.engine.key_of(&again) == requirements {
                    let quiet_period = self.settings.reauth_quiet_period;
                    let error = ReauthError::did_not_help();
                    self.engine.keep_quiet(&requirements, error, quiet_period);
                }
                gare
            }
            Err(_) => None,
        };
        finish(&uri, retried, gare, outcome)
    }
}

/// What the first answer decided.
pub(crate) enum Decision<B: Body> {
    /// Hand this back.
    Return(Response<RedriveBody<B>>),
    /// Send the request again (boxed: it holds the first answer too, and
    /// is the rarer way).
    Retry(Box<Retry<B>>),
}

/// A decision to send a request again: its new credentials, and the first
/// answer, kept until the transport knows it can still send the copy (a
/// streaming body may have outgrown its recording during a long login).
pub(crate) struct Retry<B: Body> {
    credentials: Credentials,
    original: Response<RedriveBody<B>>,
    gare: Option<Gare>,
    after: AfterRetry,
}

impl<B: Body> Retry<B> {
    /// The copy cannot be sent after all: the first answer, GARE attached.
    pub(crate) fn not_replayable(self) -> Response<RedriveBody<B>> {
        let outcome = RedriveOutcome::NotReplayable;
        finish(&self.after.uri, self.original, self.gare, outcome)
    }

    /// Go ahead: the first answer is dropped; the credentials go on the
    /// copy (its `headers`), and what the retried response is read with is
    /// kept, with whether the copy carries `Authorization`.
    pub(crate) fn send(self, headers: &mut HeaderMap) -> AfterRetry {
        self.credentials.apply_to(headers);
        let mut after = self.after;
        after.sent_with_token = headers.contains_key(AUTHORIZATION);
        after
    }
}

/// What the retried response is read with.
pub(crate) struct AfterRetry {
    method: Method,
    uri: Uri,
    user: Option<User>,
    /// The flight key of the first answer's requirements.
    requirements: String,
    outcome: RedriveOutcome,
    /// Whether the retry carried `Authorization` (set by [`Retry::send`]).
    sent_with_token: bool,
}

#[cfg(feature = "tracing")]
fn trace_outcome(uri: &Uri, outcome: &RedriveOutcome) {
    // The origin and path only: a query string can carry secrets.
    tracing::debug!(
        origin = %Origin::from_uri(uri),
        path = uri.path(),
        outcome = ?outcome,
        "tower-gare"
    );
}

#[cfg(not(feature = "tracing"))]
fn trace_outcome(_uri: &Uri, _outcome: &RedriveOutcome) {}
