//! Request bodies the layer can send twice: the [`Replayable`] trait, the
//! policies that say how a service gets a second copy of a body, and
//! [`ReplayBody`], a streaming body that records what it sends.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Empty, Full};

use super::BoxError;

/// A request body the layer can send again.
///
/// Before the first send, the layer asks for a [`replay_handle`]: a second
/// body that will produce the same bytes. Bodies that clone cheaply are their
/// own handles. Streaming bodies become replayable by wrapping them in
/// [`ReplayBody`](super::ReplayBody), which records what is sent up to the
/// cap the handle is taken with (the layer's
/// [`replay_cap`](super::GareRedriveLayer::replay_cap)). A body with no
/// handle is sent once; on a GARE the caller gets the original response with
/// the GARE attached.
///
/// `Full<Bytes>`, `Bytes` and `Empty` clone in constant time. `String` and
/// `Vec<u8>` are replayable too, but each request copies them: prefer
/// `Full<Bytes>` for large bodies. A body type from another crate needs no
/// impl: give the layer a function that clones it with
/// [`GareRedriveLayer::clone_body_fn`](super::GareRedriveLayer::clone_body_fn).
///
/// [`replay_handle`]: Replayable::replay_handle
///
/// ```
/// use tower_gare::redrive::Replayable;
///
/// let body = String::from("{\"label\": \"x\"}");
/// let again = body.replay_handle(0).unwrap();
/// assert!(again.can_replay());
/// assert_eq!(again, body);
/// ```
pub trait Replayable: Sized {
    /// A body that will produce this body's bytes again, taken before this
    /// one is sent; `None` if it cannot. A body that records what it sends
    /// keeps at most `cap` bytes; one that clones ignores `cap`.
    fn replay_handle(&self, cap: usize) -> Option<Self>;

    /// Whether the handle can still produce the whole body (a recording
    /// body says no once the body outgrew its cap).
    fn can_replay(&self) -> bool {
        true
    }

    /// Asked once, right before the layer sends the handle: whether it can
    /// still produce the whole body, and if so, that it still can when it
    /// is polled. Until then the retry may wait for the service to be ready
    /// while the first attempt's upload goes on; a recording body
    /// ([`ReplayBody`](super::ReplayBody)) therefore supersedes every older
    /// copy here, so none of them reads or records any more (polled again,
    /// they fail). By default, [`can_replay`](Replayable::can_replay).
    fn start_replay(&self) -> bool {
        self.can_replay()
    }
}

macro_rules! replayable_by_clone {
    ($($ty:ty),* $(,)?) => {$(
        impl Replayable for $ty {
            fn replay_handle(&self, _cap: usize) -> Option<Self> {
                Some(self.clone())
            }
        }
    )*};
}

replayable_by_clone!(String, Bytes, Vec<u8>, (), &'static str, &'static [u8]);

impl<D: Clone> Replayable for Full<D> {
    fn replay_handle(&self, _cap: usize) -> Option<Self> {
        Some(self.clone())
    }
}

impl<D> Replayable for Empty<D> {
    fn replay_handle(&self, _cap: usize) -> Option<Self> {
        Some(Empty::new())
    }
}

/// Bodies that can be sent only once: usable with the layer, never retried
/// (on a GARE the caller gets the response with the GARE attached and
/// `RedriveOutcome::NotReplayable`). Wrap them in
/// [`ReplayBody`](super::ReplayBody) to make them replayable.
macro_rules! sent_once {
    ($(<$($g:ident),*> $ty:ty),* $(,)?) => {$(
        impl<$($g),*> Replayable for $ty {
            fn replay_handle(&self, _cap: usize) -> Option<Self> {
                None
            }
        }
    )*};
}

sent_once!(
    <D, E> http_body_util::combinators::BoxBody<D, E>,
    <D, E> http_body_util::combinators::UnsyncBoxBody<D, E>,
    <S> http_body_util::StreamBody<S>,
);

impl<B: Replayable> Replayable for Option<B> {
    fn replay_handle(&self, cap: usize) -> Option<Self> {
        match self {
            Some(body) => body.replay_handle(cap).map(Some),
            None => Some(None),
        }
    }

    fn can_replay(&self) -> bool {
        self.as_ref().is_none_or(Replayable::can_replay)
    }

    fn start_replay(&self) -> bool {
        self.as_ref().is_none_or(Replayable::start_replay)
    }
}

/// How a [`GareRedrive`](super::GareRedrive) service gets a second copy of
/// a request body, as tower-http's `FollowRedirect` policies do.
///
/// Two policies come with the crate: [`ReplayableBodies`] (the default: the
/// body's own [`Replayable`] impl) and [`CloneBodyFn`] (a function of yours,
/// for body types from other crates).
pub trait ReplayPolicy<B>: Clone {
    /// A second copy of `body`, taken before it is sent; `None` if it
    /// cannot be had. `cap` is the layer's replay cap.
    fn replay_handle(&self, body: &B, cap: usize) -> Option<B>;

    /// Whether `handle` can still produce the whole body, asked again after
    /// a login (which can take minutes while the first copy streams on),
    /// right before the handle is sent; a yes must hold until it is (see
    /// [`Replayable::start_replay`]).
    fn can_replay(handle: &B) -> bool;
}

/// The default [`ReplayPolicy`]: bodies that implement [`Replayable`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayableBodies;

impl<B: Replayable> ReplayPolicy<B> for ReplayableBodies {
    fn replay_handle(&self, body: &B, cap: usize) -> Option<B> {
        body.replay_handle(cap)
    }

    fn can_replay(handle: &B) -> bool {
        handle.start_replay()
    }
}

/// A [`ReplayPolicy`] from a function that clones a body (or says it
/// cannot): made by
/// [`GareRedriveLayer::clone_body_fn`](super::GareRedriveLayer::clone_body_fn).
#[derive(Clone, Copy)]
pub struct CloneBodyFn<F>(pub(crate) F);

impl<F, B> ReplayPolicy<B> for CloneBodyFn<F>
where
    F: Fn(&B) -> Option<B> + Clone,
{
    fn replay_handle(&self, body: &B, _cap: usize) -> Option<B> {
        (self.0)(body)
    }

    fn can_replay(_handle: &B) -> bool {
        true
    }
}

impl<F> std::fmt::Debug for CloneBodyFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CloneBodyFn")
            .field(&std::any::type_name::<F>())
            .finish()
    }
}
/// The replay cap [`GareRedriveLayer`](super::GareRedriveLayer) uses by default: 64 KiB.
pub const DEFAULT_REPLAY_CAP: usize = 64 * 1024;

/// Wraps a streaming request body so the layer can send it again: the chunks
/// are recorded as they are sent, up to a cap, and the replay yields them and
/// then the rest of the stream.
///
/// The replay is right when the server answered before it read the whole
/// body (the replay sends what was read, then reads on), and it never yields
/// a chunk twice: each copy keeps its own place in one shared recording.
/// Once a replay starts (its first poll, or the layer's last check before
/// sending it: [`start_replay`](Replayable::start_replay)), the copy it
/// replays is superseded: if the old connection still polls it, it gets an
/// error instead of racing the replay for the rest of the stream or pushing
/// the recording past its cap.
/// Once the body outgrows the cap the recording is dropped and the request
/// is not retried (its outcome says `NotReplayable`); a body that says up
/// front it is over the cap is never recorded at all.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, StreamBody};
/// use http_body::Frame;
/// use tower_gare::redrive::{ReplayBody, Replayable};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let chunks = vec![Ok::<_, std::io::Error>(Frame::data(Bytes::from("a"))), Ok(Frame::data(Bytes::from("b")))];
/// let body = ReplayBody::new(StreamBody::new(futures_util::stream::iter(chunks)));
/// let again = body.replay_handle(1024).unwrap();
/// assert_eq!(body.collect().await.unwrap().to_bytes(), "ab");
/// assert!(again.can_replay());
/// assert_eq!(again.collect().await.unwrap().to_bytes(), "ab");
/// # });
/// ```
pub struct ReplayBody<B> {
    shared: Arc<Mutex<Recording<B>>>,
    /// Which copy this is: 0 for the original, then 1, 2, ... per handle.
    copy: u64,
    /// How many chunks of the stream this copy has yielded.
    position: usize,
    trailers_sent: bool,
    size_hint: SizeHint,
}

struct Recording<B> {
    body: Option<Pin<Box<B>>>,
    /// Every chunk read from `body` so far, unless `dropped`.
    chunks: Vec<Bytes>,
    /// How many chunks were read from `body`, recorded or not.
    read: usize,
    recorded_bytes: usize,
    /// The smallest cap a handle was taken with.
    cap: usize,
    /// The recording outgrew the cap (or no copy is left to replay it).
    dropped: bool,
    /// The stream failed; its error went to the copy that read it.
    failed: bool,
    trailers: Option<HeaderMap>,
    ended: bool,
    /// Copies waiting on `body`; woken whenever any copy reads from it.
    waiting: Vec<Waker>,
    /// The id the next handle gets.
    next_copy: u64,
    /// The newest copy that has been polled; older ones are superseded.
    active: u64,
}

impl<B> ReplayBody<B> {
    /// Wraps `body`. It records what it sends from the first
    /// [`replay_handle`](Replayable::replay_handle) on, up to that call's
    /// cap (the layer's replay cap, when the layer takes the handle).
    pub fn new(body: B) -> Self
    where
        B: Body,
    {
        ReplayBody {
            size_hint: body.size_hint(),
            shared: Arc::new(Mutex::new(Recording {
                body: Some(Box::pin(body)),
                chunks: Vec::new(),
                read: 0,
                recorded_bytes: 0,
                cap: usize::MAX,
                dropped: false,
                failed: false,
                trailers: None,
                ended: false,
                waiting: Vec::new(),
                next_copy: 1,
                active: 0,
            })),
            copy: 0,
            position: 0,
            trailers_sent: false,
        }
    }

    fn recording(&self) -> MutexGuard<'_, Recording<B>> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether a body of this size cannot fit in `cap`.
fn over(size_hint: &SizeHint, cap: usize) -> bool {
    usize::try_from(size_hint.lower()).map_or(true, |lower| lower > cap)
}

impl<B> Recording<B> {
    fn record(&mut self, chunk: &Bytes, copies: usize) {
        self.read += 1;
        if self.dropped {
            return;
        }
        if copies == 1 || self.recorded_bytes + chunk.len() > self.cap {
            // Over the cap, or nobody left to replay: free the recording.
            self.dropped = true;
            self.chunks = Vec::new();
            return;
        }
        self.recorded_bytes += chunk.len();
        self.chunks.push(chunk.clone());
    }

    fn wake_waiting(&mut self) {
        for waker in self.waiting.drain(..) {
            waker.wake();
        }
    }
}

/// A replay copy was polled after its recording was dropped.
#[derive(Debug)]
struct RecordingDropped;

impl fmt::Display for RecordingDropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request body can no longer be replayed: it outgrew the replay cap or failed")
    }
}

impl std::error::Error for RecordingDropped {}

/// A copy was polled after a newer copy (its replay) started.
#[derive(Debug)]
struct Superseded;

impl fmt::Display for Superseded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request body superseded: the request is being sent again")
    }
}

impl std::error::Error for Superseded {}

impl<B> Body for ReplayBody<B>
where
    B: Body,
    B::Data: Buf,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let copies = Arc::strong_count(&this.shared);
        let mut rec = this.shared.lock().unwrap_or_else(|p| p.into_inner());
        match this.copy.cmp(&rec.active) {
            std::cmp::Ordering::Less => return Poll::Ready(Some(Err(Superseded.into()))),
            std::cmp::Ordering::Greater => rec.active = this.copy,
            std::cmp::Ordering::Equal => {}
        }

        if this.position < rec.read {
            // Behind the stream: replay the recording.
            if rec.dropped {
                return Poll::Ready(Some(Err(RecordingDropped.into())));
            }
            let chunk = rec.chunks[this.position].clone();
            this.position += 1;
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if rec.ended {
            if !this.trailers_sent {
                this.trailers_sent = true;
                if let Some(trailers) = rec.trailers.clone() {
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
            }
            return Poll::Ready(None);
        }
        if rec.failed {
            return Poll::Ready(Some(Err(RecordingDropped.into())));
        }
        let Some(body) = rec.body.as_mut() else {
            return Poll::Ready(None);
        };
        match body.as_mut().poll_frame(cx) {
            Poll::Pending => {
                if !rec.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                    rec.waiting.push(cx.waker().clone());
                }
                Poll::Pending
            }
            Poll::Ready(None) => {
                rec.ended = true;
                rec.body = None;
                this.trailers_sent = true;
                rec.wake_waiting();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(error))) => {
                rec.failed = true;
                rec.body = None;
                rec.wake_waiting();
                Poll::Ready(Some(Err(error.into())))
            }
            Poll::Ready(Some(Ok(frame))) => {
                let frame = frame.map_data(|mut data| data.copy_to_bytes(data.remaining()));
                if let Some(chunk) = frame.data_ref() {
                    rec.record(chunk, copies);
                    this.position += 1;
                } else if let Some(trailers) = frame.trailers_ref() {
                    // Trailers end the stream.
                    rec.trailers = Some(trailers.clone());
                    rec.ended = true;
                    rec.body = None;
                    this.trailers_sent = true;
                }
                rec.wake_waiting();
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        let rec = self.recording();
        self.position >= rec.read && rec.ended && (self.trailers_sent || rec.trailers.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        self.size_hint
    }
}

impl<B: Body> Replayable for ReplayBody<B> {
    fn replay_handle(&self, cap: usize) -> Option<Self> {
        let copy = {
            let mut rec = self.recording();
            rec.cap = rec.cap.min(cap);
            if over(&self.size_hint, rec.cap) || rec.recorded_bytes > rec.cap {
                rec.dropped = true;
                rec.chunks = Vec::new();
            }
            if rec.dropped || rec.failed {
                return None;
            }
            rec.next_copy += 1;
            rec.next_copy - 1
        };
        Some(ReplayBody {
            shared: Arc::clone(&self.shared),
            copy,
            position: 0,
            trailers_sent: false,
            size_hint: self.size_hint,
        })
    }

    fn can_replay(&self) -> bool {
        let rec = self.recording();
        !rec.dropped && !rec.failed
    }

    /// Supersedes the older copies as it says yes: the first attempt's
    /// upload, still going while the retry waits for the service to be
    /// ready, reads and records no more (polled again, it fails), so the
    /// recording this answer looked at is the one the replay gets.
    fn start_replay(&self) -> bool {
        let mut rec = self.recording();
        if rec.dropped || rec.failed {
            return false;
        }
        if rec.active < self.copy {
            rec.active = self.copy;
            // An old copy waiting on the stream learns at once it is over.
            rec.wake_waiting();
        }
        true
    }
}

impl<B> Drop for ReplayBody<B> {
    fn drop(&mut self) {
        // The body's waker may be this copy's: another copy waiting on the
        // stream must poll again, or it would never be woken.
        self.recording().wake_waiting();
    }
}

impl<B> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rec = self.recording();
        f.debug_struct("ReplayBody")
            .field("position", &self.position)
            .field("recorded_bytes", &rec.recorded_bytes)
            .field("cap", &rec.cap)
            .field("replayable", &(!rec.dropped && !rec.failed))
            .finish_non_exhaustive()
    }
}
