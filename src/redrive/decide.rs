//! The engine's decisions about a response, independent of the transport:
//! the tower service and the reqwest middleware both call these, so neither
//! copies the other's logic.

use std::sync::Arc;

use bytes::Buf;
use http::{HeaderMap, HeaderValue, Method, Response, Uri};
use http_body::Body;

use super::config::Config;
use super::engine::{Engine, Role, Ticket};
use super::inspect::{inspect, Verdict};
use super::{Credentials, ReauthContext, Reauthenticator, RedriveBody, RedriveOutcome};
use crate::challenge;
use crate::gare::Gare;

/// What is known of the request that got a trigger-status response.
pub(crate) struct Sent<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) authorization: Option<&'a HeaderValue>,
    /// The generation of the remembered credentials it carried (0: none).
    pub(crate) generation: u64,
}

/// What to do with a trigger-status response.
pub(crate) enum Decision<B: Body, Replay> {
    /// Hand the response back (its body as read) with these extensions.
    Return { response: Response<RedriveBody<B>> },
    /// Send `replay` again with these credentials.
    Retry {
        credentials: Credentials,
        outcome: RedriveOutcome,
        replay: Replay,
    },
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

/// Hands the response back with what the layer found and did.
pub(crate) fn finish<B>(
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

/// Reads a trigger-status response and decides: hand it back, or get
/// credentials (reauthenticating once for every request with the same
/// requirements) and retry with `replay`, what is needed to send the
/// request again (`None`: it cannot be).
pub(crate) async fn decide<R, B, Replay>(
    engine: &Arc<Engine<R>>,
    config: &Config,
    sent: Sent<'_>,
    replay: Option<Replay>,
    still_replayable: impl Fn(&Replay) -> bool,
    response: Response<B>,
) -> Decision<B, Replay>
where
    R: Reauthenticator,
    B: Body,
    B::Data: Buf,
{
    let (parts, body) = response.into_parts();
    let (body, verdict) = inspect(&parts.headers, body, config.response_cap).await;
    let requirement = requirement_of(config, &parts.headers, verdict);
    let original = Response::from_parts(parts, body);
    let give_back = |original, gare, outcome: RedriveOutcome| {
        trace_decision(sent.uri, "not redriven", &outcome);
        Decision::Return {
            response: finish(original, gare, outcome),
        }
    };
    let gare = match requirement {
        Ok(gare) => gare,
        Err(outcome) => return give_back(original, None, outcome),
    };
    let Some(replay) = replay else {
        return give_back(original, Some(gare), RedriveOutcome::NotReplayable);
    };
    let cx = ReauthContext::new(
        gare.clone(),
        sent.method.clone(),
        sent.uri.clone(),
        original.status(),
    )
    .with_sent_authorization(sent.authorization.cloned());
    let (credentials, outcome) = match engine.ticket(cx, sent.generation, config.reauth_timeout) {
        Ticket::Ready(credentials) => (Ok(credentials), RedriveOutcome::Coalesced),
        Ticket::Wait(flight, Role::Started) => (flight.await, RedriveOutcome::Redriven),
        Ticket::Wait(flight, Role::Joined) => (flight.await, RedriveOutcome::Coalesced),
    };
    match credentials {
        // A login can take minutes, and a streaming body can outgrow its
        // recording meanwhile: look again before giving up the original.
        Ok(_) if !still_replayable(&replay) => {
            give_back(original, Some(gare), RedriveOutcome::NotReplayable)
        }
        Ok(credentials) => {
            trace_decision(sent.uri, "retrying", &outcome);
            Decision::Retry {
                credentials,
                outcome,
                replay,
            }
        }
        Err(error) => give_back(original, Some(gare), RedriveOutcome::ReauthFailed(error)),
    }
}

/// The retried response, handed back whatever it is (one retry, ever),
/// with its own requirement attached if it has one.
pub(crate) async fn after_retry<B>(
    config: &Config,
    response: Response<B>,
    outcome: RedriveOutcome,
) -> Response<RedriveBody<B>>
where
    B: Body,
    B::Data: Buf,
{
    let (parts, body) = response.into_parts();
    if !config.triggers(parts.status) {
        return finish(
            Response::from_parts(parts, RedriveBody::new(body)),
            None,
            outcome,
        );
    }
    let (body, verdict) = inspect(&parts.headers, body, config.response_cap).await;
    let gare = requirement_of(config, &parts.headers, verdict).ok();
    finish(Response::from_parts(parts, body), gare, outcome)
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
