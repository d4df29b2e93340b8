//! Request bodies the layer can send twice.

use bytes::Bytes;
use http_body_util::{Empty, Full};

/// A request body the layer can send again.
///
/// Before the first send, the layer asks for a [`replay_handle`]: a second
/// body that will produce the same bytes. Bodies that clone cheaply are their
/// own handles. Streaming bodies become replayable by wrapping them in
/// [`ReplayBody`](super::ReplayBody), which records what is sent up to a cap.
/// A body with no handle is sent once; on a GARE the caller gets the original
/// response with the GARE attached.
///
/// `Full<Bytes>`, `Bytes` and `Empty` clone in constant time. `String` and
/// `Vec<u8>` are replayable too, but each request copies them: prefer
/// `Full<Bytes>` for large bodies.
///
/// [`replay_handle`]: Replayable::replay_handle
///
/// ```
/// use tower_gare::redrive::Replayable;
///
/// let body = String::from("{\"label\": \"x\"}");
/// let again = body.replay_handle().unwrap();
/// assert!(again.can_replay());
/// assert_eq!(again, body);
/// ```
pub trait Replayable: Sized {
    /// A body that will produce this body's bytes again, taken before this
    /// one is sent; `None` if it cannot.
    fn replay_handle(&self) -> Option<Self>;

    /// Whether the handle can still produce the whole body (a recording
    /// body says no once the body outgrew its cap).
    fn can_replay(&self) -> bool {
        true
    }

    /// The layer's replay cap, told to the body before the handle is taken.
    /// Bodies that record what they send (such as
    /// [`ReplayBody`](super::ReplayBody)) record at most this many bytes;
    /// bodies that clone cheaply ignore it.
    fn set_replay_cap(&mut self, cap: usize) {
        let _ = cap;
    }
}

macro_rules! replayable_by_clone {
    ($($ty:ty),* $(,)?) => {$(
        impl Replayable for $ty {
            fn replay_handle(&self) -> Option<Self> {
                Some(self.clone())
            }
        }
    )*};
}

replayable_by_clone!(String, Bytes, Vec<u8>, (), &'static str, &'static [u8]);

impl<D: Clone> Replayable for Full<D> {
    fn replay_handle(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<D> Replayable for Empty<D> {
    fn replay_handle(&self) -> Option<Self> {
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
            fn replay_handle(&self) -> Option<Self> {
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

#[cfg(feature = "login")]
sent_once!(<> hyper::body::Incoming);

impl<B: Replayable> Replayable for Option<B> {
    fn replay_handle(&self) -> Option<Self> {
        match self {
            Some(body) => body.replay_handle().map(Some),
            None => Some(None),
        }
    }

    fn can_replay(&self) -> bool {
        self.as_ref().is_none_or(Replayable::can_replay)
    }
}
