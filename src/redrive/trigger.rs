//! Reading a trigger-status response, its body up to a cap and within a
//! deadline, for a requirement: a body GARE, a `WWW-Authenticate`
//! challenge, or both merged.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::{pin, Pin};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::FutureExt;
use http::header::CONTENT_LENGTH;
use http::HeaderMap;
use http_body::{Body, Frame};

use super::layer::Settings;
use super::{RedriveBody, RedriveOutcome};
use crate::challenge;
use crate::deadline::{within, Missed};
use crate::gare::{self, Gare};

/// What reading the body found.
enum Verdict {
    Gare(Gare),
    Not(RedriveOutcome),
}

/// Reads a trigger-status response for its requirement: the body GARE, the
/// header challenge's, or both merged; or why there is none. Whatever it
/// finds, the returned body yields exactly the frames the server sent.
pub(crate) async fn requirement<B>(
    settings: &Settings,
    headers: &HeaderMap,
    body: B,
) -> (RedriveBody<B>, Result<Gare, RedriveOutcome>)
where
    B: Body,
    B::Data: Buf,
{
    let (cap, limit) = (settings.response_cap, settings.response_read_timeout);
    let (body, verdict) = read_body(headers, body, cap, limit).await;
    let header = if settings.header_challenges {
        challenge::from_headers(headers)
    } else {
        None
    };
    let found = match (verdict, header) {
        (Verdict::Gare(body), Some(header)) => Ok(challenge::merge(body, header)),
        (Verdict::Gare(body), None) => Ok(body),
        (Verdict::Not(_), Some(header)) => Ok(header),
        (Verdict::Not(outcome), None) => Err(outcome),
    };
    (body, found)
}

/// Whether a 401 that carries no requirement refuses the bearer token the
/// request carried: no challenge at all (Globus's `AuthenticationFailed`
/// comes without one), or only `Bearer` challenges with no error or RFC
/// 6750's `invalid_token`. A `Basic` (or any other scheme's) challenge
/// asks for other credentials than a token: no token would meet it.
pub(crate) fn refuses_token(headers: &HeaderMap) -> bool {
    challenge::parse_all(headers).iter().all(|c| {
        c.scheme().eq_ignore_ascii_case("bearer")
            && c.param("error")
                .is_none_or(|error| error == "invalid_token")
    })
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// How reading a body for inspection ended, within its deadline.
enum Ended<E> {
    /// Every frame is read.
    Whole,
    /// More than the cap was read; the rest is still in the body.
    OverCap,
    /// The body failed.
    Failed(E),
}

/// Reads `body` up to `cap` bytes, within `limit`, and looks for a GARE.
async fn read_body<B>(
    headers: &HeaderMap,
    body: B,
    cap: usize,
    limit: Duration,
) -> (RedriveBody<B>, Verdict)
where
    B: Body,
    B::Data: Buf,
{
    let cap64 = u64::try_from(cap).unwrap_or(u64::MAX);
    // A body that says up front it is too big is not read at all.
    if declared_length(headers).is_some_and(|len| len > cap64) || body.size_hint().lower() > cap64 {
        return (
            RedriveBody::new(body),
            Verdict::Not(RedriveOutcome::BodyOverCap),
        );
    }
    let mut body = Box::pin(body);
    let mut frames: VecDeque<Frame<Bytes>> = VecDeque::new();
    let mut read = 0usize;
    let ended = {
        let mut reading = pin!(read_frames(body.as_mut(), &mut frames, &mut read, cap));
        // A body that is all there (in memory, or already buffered) needs
        // no timer: read it at once, even on a runtime without one.
        match reading.as_mut().now_or_never() {
            Some(ended) => Ok(ended),
            None => within(limit, reading).await,
        }
    };
    let outcome = match ended {
        Ok(Ended::Whole) => None,
        Ok(Ended::OverCap) => Some(RedriveOutcome::BodyOverCap),
        Ok(Ended::Failed(error)) => {
            let body = RedriveBody::read(frames, None, Some(error));
            return (body, Verdict::Not(RedriveOutcome::BodyError));
        }
        // What was read so far, then the rest of the stream as it comes.
        Err(Missed::Elapsed) => Some(RedriveOutcome::BodyTooSlow),
        Err(Missed::NoTimer) => Some(RedriveOutcome::NoTimer),
    };
    if let Some(outcome) = outcome {
        return (
            RedriveBody::read(frames, Some(body), None),
            Verdict::Not(outcome),
        );
    }
    let found = {
        let mut chunks = frames.iter().filter_map(Frame::data_ref);
        match (chunks.next(), chunks.next()) {
            (None, _) => None,
            (Some(only), None) => gare::from_body(only),
            (Some(_), Some(_)) => {
                let mut whole = Vec::with_capacity(read);
                for chunk in frames.iter().filter_map(Frame::data_ref) {
                    whole.extend_from_slice(chunk);
                }
                gare::from_body(&whole)
            }
        }
    };
    let verdict = found.map_or(Verdict::Not(RedriveOutcome::NoGare), Verdict::Gare);
    (RedriveBody::read(frames, None, None), verdict)
}

/// Reads frames of `body` into `frames` until it ends, fails, or more than
/// `cap` bytes were read. Dropped midway (the deadline), it loses nothing:
/// every frame read is in `frames`, and the rest is still in `body`.
async fn read_frames<B>(
    mut body: Pin<&mut B>,
    frames: &mut VecDeque<Frame<Bytes>>,
    read: &mut usize,
    cap: usize,
) -> Ended<B::Error>
where
    B: Body,
    B::Data: Buf,
{
    loop {
        match poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            None => return Ended::Whole,
            Some(Err(error)) => return Ended::Failed(error),
            Some(Ok(frame)) => {
                let frame = frame.map_data(|mut data| data.copy_to_bytes(data.remaining()));
                *read += frame.data_ref().map_or(0, Bytes::len);
                frames.push_back(frame);
                if *read > cap {
                    return Ended::OverCap;
                }
            }
        }
    }
}
