//! The one slow path, for both transports: read a trigger-status response,
//! decide, get credentials, send the request again through the transport's
//! own "send it again", and hand back what came of it.

use std::future::Future;
use std::sync::Arc;

use bytes::Buf;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use http_body::Body;
use tower_http::follow_redirect::RequestUri;

use super::engine::{Engine, Limits};
use super::inspect::{refuses_token, requirement};
use super::origin::may_carry_token;
use super::settings::{is_idempotent, Settings};
use super::{
    Credentials, Origin, ReauthContext, ReauthError, Reauthenticator, RedriveBody, RedriveOutcome,
    User,
};
use crate::gare::Gare;

/// What a layer's services, their clones and its reqwest middleware share:
/// the settings and the engine, behind the one `Arc` a request holds.
pub(crate) struct Redriver<R> {
    pub(crate) settings: Settings,
    pub(crate) engine: Arc<Engine<R>>,
}

/// The `Authorization` a layer inside this one put on the request (a
/// [`Login`](crate::login::Login)'s attaching layer), told back in the
/// response's extensions: this layer saw the request before it had one.
#[derive(Clone)]
pub(crate) struct SentAuthorization(pub(crate) HeaderValue);

/// What the first attempt of a request carried.
pub(crate) struct Sent {
    method: Method,
    uri: Uri,
    authorization: Option<HeaderValue>,
    user: Option<User>,
    /// The generation of the remembered credentials it carried (0: none).
    generation: u64,
}

impl Sent {
    /// What a request with these parts carried.
    pub(crate) fn new(
        method: Method,
        uri: Uri,
        headers: &HeaderMap,
        user: Option<User>,
        generation: u64,
    ) -> Sent {
        Sent {
            method,
            uri,
            authorization: headers.get(AUTHORIZATION).cloned(),
            user,
            generation,
        }
    }

    /// What `request` (as sent, remembered credentials on) carried: taken
    /// on the slow path from the replay copy, so a request that is never
    /// redriven clones nothing for it.
    pub(crate) fn of<B>(request: &http::Request<B>, generation: u64) -> Sent {
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let user = request.extensions().get::<User>().cloned();
        Sent::new(method, uri, request.headers(), user, generation)
    }
}

impl<R> Redriver<R> {
    /// Whether `status` sends a response down the slow path.
    #[inline]
    pub(crate) fn triggers(&self, status: StatusCode) -> bool {
        self.settings.triggers.contains(status)
    }
}

impl<R> Redriver<R> {
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
    /// Puts the credentials remembered for `user`'s requests to `uri` on
    /// `headers` (a request about to be sent), and notes what it carries.
    /// Returns the generation of the credentials put on (0: none).
    pub(crate) fn prepare(&self, user: Option<&User>, uri: &Uri, headers: &mut HeaderMap) -> u64 {
        if self.may_carry_credentials(uri) {
            self.engine.apply_remembered(user, uri, headers)
        } else {
            0
        }
    }

    /// [`prepare`](Redriver::prepare) for a tower request: one atomic load,
    /// and nothing cloned or moved, while nothing is remembered.
    #[inline]
    pub(crate) fn prepare_request<B>(&self, request: &mut http::Request<B>) -> u64 {
        if !self.engine.remembers_any() {
            return 0;
        }
        let uri = request.uri().clone();
        let user = request.extensions().get::<User>().cloned();
        self.prepare(user.as_ref(), &uri, request.headers_mut())
    }

    /// The slow path. `response` has a trigger status; `replay` is the
    /// request to send again (`None`: it cannot be); `start_replay` asks,
    /// right before it is sent, whether it still can, and makes sure it
    /// still can when sent (see [`Replayable::start_replay`](super::Replayable::start_replay));
    /// `resend` sends it with the new credentials. One retry, ever: the
    /// retried response goes back whatever it is, its own requirement
    /// attached.
    pub(crate) fn redrive<Req, B, E, Fut>(
        self: &Arc<Self>,
        sent: Sent,
        replay: Option<Req>,
        start_replay: impl FnOnce(&Req) -> bool,
        response: Response<B>,
        resend: impl FnOnce(Req, Credentials) -> Fut,
    ) -> impl Future<Output = Result<Response<RedriveBody<B>>, E>>
    where
        B: Body,
        B::Data: Buf,
        Fut: Future<Output = Result<Response<B>, E>>,
    {
        // Each stage boxed, the first at once with what it is given: a
        // request waiting on its retry holds what that stage needs, not the
        // first answer, its GARE and context all the way (a thousand
        // waiting requests hold a thousand of them).
        let decided = Box::pin(Arc::clone(self).decide(sent, replay, start_replay, response));
        let this = Arc::clone(self);
        async move {
            let (replay, credentials, retry) = match decided.await {
                Decision::Return(response) => return Ok(response),
                Decision::Retry(replay, credentials, retry) => (replay, credentials, retry),
            };
            let sent_with_token = credentials.header_value(&AUTHORIZATION).is_some();
            let retried = Box::pin(resend(replay, credentials)).await?;
            Ok(Box::pin(this.after_retry(retried, sent_with_token, retry)).await)
        }
    }

    /// Reads the first answer and decides: hand it back, or send the
    /// request again with these credentials (reauthenticating once for
    /// every request with the same requirements).
    async fn decide<Req, B: Body>(
        self: Arc<Self>,
        mut sent: Sent,
        replay: Option<Req>,
        start_replay: impl FnOnce(&Req) -> bool,
        mut response: Response<B>,
    ) -> Decision<Req, B>
    where
        B::Data: Buf,
    {
        let uri = sent.uri.clone();
        let finish =
            |response, gare, outcome| Decision::Return(finish(&uri, response, gare, outcome));
        if let Some(SentAuthorization(inner)) = response.extensions_mut().remove() {
            sent.authorization = Some(inner);
        }
        let (parts, body) = response.into_parts();
        let (body, found) = Box::pin(requirement(&self.settings, &parts.headers, body)).await;
        let original = Response::from_parts(parts, body);
        let (needed, gare) = match self.needed(found, sent.authorization.is_some(), &original) {
            Ok(needed) => needed,
            Err(outcome) => return finish(original, None, outcome),
        };
        if let Some(outcome) = self.not_retried(&sent, &original) {
            return finish(original, gare, outcome);
        }
        let Some(replay) = replay else {
            return finish(original, gare, RedriveOutcome::NotReplayable);
        };
        let mut cx = ReauthContext::new(needed, sent.method, sent.uri, original.status());
        cx.sent_authorization = sent.authorization;
        cx.user = sent.user;
        cx.token_rejected = gare.is_none();
        let requirements = self.engine.key_of(&cx);
        // Enough of the request to ask of the retry's answer whether the
        // reauthentication helped (not the GARE: the answer brings its own).
        let (method, user) = (cx.method.clone(), cx.user.clone());
        let limits = self.limits();
        let flight = self
            .engine
            .credentials_for(cx, requirements.clone(), sent.generation, limits);
        let (credentials, outcome) = Box::pin(flight).await;
        let credentials = match credentials {
            Ok(credentials) => credentials,
            Err(error) => return finish(original, gare, RedriveOutcome::ReauthFailed(error)),
        };
        // A login can take minutes, and a streaming body can outgrow its
        // recording meanwhile: look again before giving up the original.
        // From this look on, the first attempt's upload no longer records.
        if !start_replay(&replay) {
            return finish(original, gare, RedriveOutcome::NotReplayable);
        }
        let retry = Retry {
            method,
            uri,
            user,
            requirements,
            outcome,
        };
        Decision::Retry(replay, credentials, retry)
    }

    /// The retried response, handed back whatever it is (one retry, ever),
    /// its own requirement attached.
    async fn after_retry<B: Body>(
        &self,
        mut retried: Response<B>,
        mut sent_with_token: bool,
        retry: Retry,
    ) -> Response<RedriveBody<B>>
    where
        B::Data: Buf,
    {
        let Retry {
            method,
            uri,
            user,
            requirements,
            outcome,
        } = retry;
        if let Some(SentAuthorization(_)) = retried.extensions_mut().remove() {
            sent_with_token = true;
        }
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
enum Decision<Req, B: Body> {
    /// Hand this back.
    Return(Response<RedriveBody<B>>),
    /// Send the request again with these credentials.
    Retry(Req, Credentials, Retry),
}

/// What the retried response is read with.
struct Retry {
    method: Method,
    uri: Uri,
    user: Option<User>,
    /// The flight key of the first answer's requirements.
    requirements: String,
    outcome: RedriveOutcome,
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
