//! The slow path: read a trigger-status body, and on a GARE get credentials
//! and send the request again, once.

use std::future::poll_fn;
use std::sync::Arc;

use bytes::Buf;
use http::{Extensions, HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use tower_service::Service;

use super::config::{Config, Setup};
use super::engine::{Role, Ticket};
use super::inspect::{inspect, Verdict};
use super::{ReauthContext, Reauthenticator, RedriveBody, RedriveOutcome, Replayable};
use crate::challenge;
use crate::gare::Gare;

/// What is kept of a request to send it again.
pub(crate) struct ReplayRequest<B> {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: Extensions,
    body: Option<B>,
    /// The generation of the remembered credentials it was sent with (0: none).
    sent_generation: u64,
}

impl<B> ReplayRequest<B> {
    pub(crate) fn of(request: &Request<B>, body: Option<B>, sent_generation: u64) -> Self {
        ReplayRequest {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
            extensions: request.extensions().clone(),
            body,
            sent_generation,
        }
    }
}

/// Everything the slow path needs: the service that sent the request (to
/// send it again), the engine, the settings, and the request to replay.
pub(crate) struct Retry<S, R, B> {
    pub(crate) service: S,
    pub(crate) setup: Arc<Setup<R>>,
    pub(crate) replay: ReplayRequest<B>,
}

/// Hands the response back with what the layer found and did.
fn finish<B>(
    mut response: Response<B>,
    gare: Option<Gare>,
    outcome: RedriveOutcome,
) -> Response<B> {
    if let Some(gare) = gare {
        response.extensions_mut().insert(gare);
    }
    response.extensions_mut().insert(outcome);
    response
}

impl<S, R, B> Retry<S, R, B> {
    pub(crate) fn triggers(&self, status: StatusCode) -> bool {
        self.setup.config.triggers(status)
    }
}

/// The response's requirement: the body GARE, the header challenge's, or
/// both merged; or why there is none.
fn requirement_of(
    config: &Config,
    headers: &HeaderMap,
    verdict: Verdict,
) -> Result<Gare, RedriveOutcome> {
    let header = if config.header_challenges {
        challenge::from_headers(headers)
    } else {
        None
    };
    match (verdict, header) {
        (Verdict::Gare(body), Some(header)) => Ok(challenge::merge(body, header)),
        (Verdict::Gare(body), None) => Ok(body),
        (Verdict::Not(_), Some(header)) => Ok(header),
        (Verdict::Not(outcome), None) => Err(outcome),
    }
}

impl<S, R, B, ResBody> Retry<S, R, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    B: Replayable,
    ResBody: Body,
    ResBody::Data: Buf,
    R: Reauthenticator,
{
    pub(crate) async fn after_trigger(
        mut self,
        response: Response<ResBody>,
    ) -> Result<Response<RedriveBody<ResBody>>, S::Error> {
        let (parts, body) = response.into_parts();
        let (body, verdict) = inspect(&parts.headers, body, self.setup.config.response_cap).await;
        let requirement = requirement_of(&self.setup.config, &parts.headers, verdict);
        let original = Response::from_parts(parts, body);
        let gare = match requirement {
            Ok(gare) => gare,
            Err(outcome) => {
                trace_decision(&self.replay.uri, "not redriven", &outcome);
                return Ok(finish(original, None, outcome));
            }
        };
        let replay = self.replay;
        let Some(body) = replay.body.filter(Replayable::can_replay) else {
            let outcome = RedriveOutcome::NotReplayable;
            trace_decision(&replay.uri, "GARE, not redriven", &outcome);
            return Ok(finish(original, Some(gare), outcome));
        };

        let cx = ReauthContext::new(
            gare.clone(),
            replay.method.clone(),
            replay.uri.clone(),
            original.status(),
        )
        .with_sent_authorization(replay.headers.get(http::header::AUTHORIZATION).cloned());
        let (credentials, outcome) = match self.setup.engine.ticket(cx, replay.sent_generation) {
            Ticket::Ready(credentials) => (Ok(credentials), RedriveOutcome::Coalesced),
            Ticket::Wait(flight, Role::Started) => (flight.await, RedriveOutcome::Redriven),
            Ticket::Wait(flight, Role::Joined) => (flight.await, RedriveOutcome::Coalesced),
        };
        let credentials = match credentials {
            Ok(credentials) => credentials,
            Err(error) => {
                let outcome = RedriveOutcome::ReauthFailed(error);
                trace_decision(&replay.uri, "GARE, not redriven", &outcome);
                return Ok(finish(original, Some(gare), outcome));
            }
        };
        drop(original);

        let mut request = Request::new(body);
        *request.method_mut() = replay.method;
        *request.uri_mut() = replay.uri;
        *request.version_mut() = replay.version;
        *request.headers_mut() = replay.headers;
        *request.extensions_mut() = replay.extensions;
        credentials.apply_to(request.headers_mut());
        trace_decision(request.uri(), "retrying", &outcome);

        // The retry waits for readiness like any request.
        poll_fn(|cx| self.service.poll_ready(cx)).await?;
        let response = self.service.call(request).await?;

        // One retry, ever: the retried response goes back whatever it is,
        // with its own GARE, if any, attached.
        let (parts, body) = response.into_parts();
        if !self.setup.config.triggers(parts.status) {
            return Ok(finish(
                Response::from_parts(parts, RedriveBody::new(body)),
                None,
                outcome,
            ));
        }
        let (body, verdict) = inspect(&parts.headers, body, self.setup.config.response_cap).await;
        let gare = requirement_of(&self.setup.config, &parts.headers, verdict).ok();
        Ok(finish(Response::from_parts(parts, body), gare, outcome))
    }
}

#[cfg(feature = "tracing")]
fn trace_decision(uri: &Uri, decision: &str, outcome: &RedriveOutcome) {
    // The origin and path only: a query string can carry secrets.
    tracing::debug!(
        origin = %super::Origin::from_uri(uri),
        path = uri.path(),
        decision,
        outcome = ?outcome,
        "tower-gare"
    );
}

#[cfg(not(feature = "tracing"))]
fn trace_decision(_uri: &Uri, _decision: &str, _outcome: &RedriveOutcome) {}
