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

use super::engine::Engine;
use super::inspect::{refuses_token, requirement};
use super::settings::Settings;
use super::{
    Credentials, Origin, ReauthContext, Reauthenticator, RedriveBody, RedriveOutcome, User,
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

impl<R> Redriver<R> {
    /// Whether `status` sends a response down the slow path.
    #[inline]
    pub(crate) fn triggers(&self, status: StatusCode) -> bool {
        self.settings.triggers.contains(status)
    }
}

impl<R> Redriver<R> {
    /// Whether a response with no requirement plainly refused the token the
    /// request was sent with (see [`refuses_token`]).
    fn token_refused<B>(&self, sent: &Sent, response: &Response<B>) -> bool {
        self.settings.rejected_tokens
            && response.status() == StatusCode::UNAUTHORIZED
            && sent.authorization.is_some()
            && refuses_token(response.headers())
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
    pub(crate) fn prepare(
        &self,
        method: Method,
        uri: Uri,
        user: Option<&User>,
        headers: &mut HeaderMap,
    ) -> Sent {
        let generation = self.engine.apply_remembered(user, &uri, headers);
        Sent {
            method,
            uri,
            authorization: headers.get(AUTHORIZATION).cloned(),
            user: user.cloned(),
            generation,
        }
    }

    /// The slow path. `response` has a trigger status; `replay` is the
    /// request to send again (`None`: it cannot be), `can_replay` asks
    /// whether it still can after the login, and `resend` sends it with the
    /// new credentials. One retry, ever: the retried response goes back
    /// whatever it is, its own requirement attached.
    pub(crate) async fn redrive<Req, B, E, Fut>(
        &self,
        sent: Sent,
        replay: Option<Req>,
        can_replay: impl FnOnce(&Req) -> bool,
        mut response: Response<B>,
        resend: impl FnOnce(Req, Credentials) -> Fut,
    ) -> Result<Response<RedriveBody<B>>, E>
    where
        B: Body,
        B::Data: Buf,
        Fut: Future<Output = Result<Response<B>, E>>,
    {
        let uri = sent.uri.clone();
        let finish = |response, gare, outcome| finish(&uri, response, gare, outcome);
        let mut sent = sent;
        if let Some(SentAuthorization(inner)) = response.extensions_mut().remove() {
            sent.authorization = Some(inner);
        }
        let (parts, body) = response.into_parts();
        let (body, found) = requirement(&self.settings, &parts.headers, body).await;
        let original = Response::from_parts(parts, body);
        // What to reauthenticate for, and the GARE the caller sees (none
        // for a refused token: that is no GARE).
        let (needed, gare) = match found {
            Ok(gare) => (gare.clone(), Some(gare)),
            Err(RedriveOutcome::NoGare) if self.token_refused(&sent, &original) => {
                (Gare::new("AuthenticationFailed", Default::default()), None)
            }
            Err(outcome) => return Ok(finish(original, None, outcome)),
        };
        if answered_elsewhere(&original, &Origin::from_uri(&uri)) {
            return Ok(finish(original, gare, RedriveOutcome::OtherOrigin));
        }
        let Some(replay) = replay else {
            return Ok(finish(original, gare, RedriveOutcome::NotReplayable));
        };
        let mut cx = ReauthContext::new(needed, sent.method, sent.uri, original.status());
        cx.sent_authorization = sent.authorization;
        cx.user = sent.user;
        cx.token_rejected = gare.is_none();
        let timeout = self.settings.reauth_timeout;
        let (credentials, outcome) = self
            .engine
            .credentials_for(cx, sent.generation, timeout)
            .await;
        let credentials = match credentials {
            Ok(credentials) => credentials,
            Err(error) => {
                let outcome = RedriveOutcome::ReauthFailed(error);
                return Ok(finish(original, gare, outcome));
            }
        };
        // A login can take minutes, and a streaming body can outgrow its
        // recording meanwhile: look again before giving up the original.
        if !can_replay(&replay) {
            return Ok(finish(original, gare, RedriveOutcome::NotReplayable));
        }
        drop(original);

        let retried = resend(replay, credentials).await?;
        let mut retried = retried;
        retried.extensions_mut().remove::<SentAuthorization>();
        if !self.triggers(retried.status()) {
            return Ok(finish(retried.map(RedriveBody::new), None, outcome));
        }
        let (parts, body) = retried.into_parts();
        let (body, found) = requirement(&self.settings, &parts.headers, body).await;
        let mut retried = Response::from_parts(parts, body);
        retried.extensions_mut().remove::<SentAuthorization>();
        Ok(finish(retried, found.ok(), outcome))
    }
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
