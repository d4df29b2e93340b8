//! The streaming replay wrapper: what linkerd2-proxy's `ReplayBody` got wrong
//! (a response before the body was fully sent; a first chunk sent twice).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, StreamBody};
use tokio::sync::mpsc;
use tower_gare::redrive::{ReplayBody, Replayable, DEFAULT_REPLAY_CAP};

const CAP: usize = DEFAULT_REPLAY_CAP;

/// A body fed by hand through a channel.
struct Fed(mpsc::UnboundedReceiver<Result<Frame<Bytes>, std::io::Error>>);

impl Body for Fed {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx)
    }
}

fn fed() -> (
    mpsc::UnboundedSender<Result<Frame<Bytes>, std::io::Error>>,
    Fed,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Fed(rx))
}

fn data(s: &'static str) -> Result<Frame<Bytes>, std::io::Error> {
    Ok(Frame::data(Bytes::from_static(s.as_bytes())))
}

async fn next_data<B: Body<Data = Bytes> + Unpin>(body: &mut B) -> Option<Bytes>
where
    B::Error: std::fmt::Debug,
{
    body.frame().await.map(|f| f.unwrap().into_data().unwrap())
}

#[tokio::test]
async fn a_replay_after_a_partial_send_sends_what_was_read_then_the_rest() {
    let (tx, body) = fed();
    let mut first = ReplayBody::new(body);
    let replay = first.replay_handle(CAP).unwrap();
    tx.send(data("one ")).unwrap();
    tx.send(data("two ")).unwrap();
    assert_eq!(next_data(&mut first).await.unwrap(), "one ");
    assert_eq!(next_data(&mut first).await.unwrap(), "two ");
    // The server answered here; the first copy is dropped mid-stream.
    drop(first);
    tx.send(data("three")).unwrap();
    drop(tx);
    assert!(replay.can_replay());
    let all = replay.collect().await.unwrap().to_bytes();
    assert_eq!(all, "one two three", "every chunk once, in order");
}

#[tokio::test]
async fn once_the_replay_starts_the_original_is_superseded() {
    let (tx, body) = fed();
    let mut first = ReplayBody::new(body);
    let mut replay = first.replay_handle(CAP).unwrap();
    tx.send(data("a")).unwrap();
    assert_eq!(next_data(&mut first).await.unwrap(), "a");
    // The replay catches up from the recording, then reads the stream itself.
    assert_eq!(next_data(&mut replay).await.unwrap(), "a");
    tx.send(data("b")).unwrap();
    // The old connection still polling the original must not race the
    // replay for "b": it gets an error, and "b" goes to the replay alone.
    assert!(first.frame().await.unwrap().is_err());
    assert_eq!(next_data(&mut replay).await.unwrap(), "b");
    drop(tx);
    assert!(replay.frame().await.is_none());
    assert!(replay.is_end_stream());
}

#[tokio::test]
async fn trailers_are_replayed() {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    let frames = vec![data("x"), Ok(Frame::trailers(trailers.clone()))];
    let first = ReplayBody::new(StreamBody::new(futures_util::stream::iter(frames)));
    let replay = first.replay_handle(CAP).unwrap();
    let collected = first.collect().await.unwrap();
    assert_eq!(collected.trailers(), Some(&trailers));
    let collected = replay.collect().await.unwrap();
    assert_eq!(collected.trailers(), Some(&trailers));
    assert_eq!(collected.to_bytes(), "x");
}

#[tokio::test]
async fn a_body_over_the_cap_is_not_replayable_and_its_recording_is_freed() {
    let (tx, body) = fed();
    let mut first = ReplayBody::new(body);
    let replay = first.replay_handle(5).unwrap();
    tx.send(data("1234")).unwrap();
    assert_eq!(next_data(&mut first).await.unwrap(), "1234");
    assert!(replay.can_replay());
    tx.send(data("5678")).unwrap();
    assert_eq!(
        next_data(&mut first).await.unwrap(),
        "5678",
        "the first copy streams on"
    );
    assert!(!replay.can_replay());
    assert!(first.replay_handle(5).is_none());
    // Polled anyway, the stale copy fails rather than sending a partial body.
    let mut replay = replay;
    assert!(replay.frame().await.unwrap().is_err());
}

#[tokio::test]
async fn a_body_known_to_be_over_the_cap_is_never_recorded() {
    let body = http_body_util::Full::new(Bytes::from(vec![0u8; 100]));
    let first = ReplayBody::new(body);
    assert!(first.replay_handle(10).is_none());
    assert!(!first.can_replay());
    assert_eq!(first.size_hint().exact(), Some(100));
    assert_eq!(first.collect().await.unwrap().to_bytes().len(), 100);
}

#[tokio::test]
async fn the_cap_is_the_one_the_handle_is_taken_with_and_the_smallest_stands() {
    let big = || http_body_util::Full::new(Bytes::from(vec![1u8; 100 * 1024]));
    let body = ReplayBody::new(big());
    assert!(body.can_replay(), "no cap until a handle is taken");
    assert!(
        body.replay_handle(CAP).is_none(),
        "100 KiB is over the 64 KiB default"
    );
    let body = ReplayBody::new(big());
    let handle = body.replay_handle(1024 * 1024).unwrap();
    assert!(handle.can_replay(), "a 1 MiB cap holds it");
    assert!(
        body.replay_handle(1024).is_none(),
        "a later, smaller cap applies to the one recording"
    );
    assert!(!handle.can_replay());
}

#[tokio::test]
async fn a_stream_error_is_passed_on_and_ends_replayability() {
    let (tx, body) = fed();
    let mut first = ReplayBody::new(body);
    let replay = first.replay_handle(CAP).unwrap();
    tx.send(data("a")).unwrap();
    tx.send(Err(std::io::Error::other("disk gone"))).unwrap();
    assert_eq!(next_data(&mut first).await.unwrap(), "a");
    let err = first.frame().await.unwrap().unwrap_err();
    assert_eq!(err.to_string(), "disk gone");
    assert!(!replay.can_replay());
}

#[tokio::test]
async fn with_one_copy_left_nothing_is_recorded() {
    let (tx, body) = fed();
    let mut only = ReplayBody::new(body);
    tx.send(data("abc")).unwrap();
    assert_eq!(next_data(&mut only).await.unwrap(), "abc");
    assert!(
        !only.can_replay(),
        "no handle was taken, so nothing was kept"
    );
}
