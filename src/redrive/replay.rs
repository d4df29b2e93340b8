//! Request bodies the layer can send twice: the [`Replayable`] trait, and
//! the policies that say how a service gets a second copy of a body.

use bytes::Bytes;
use http_body_util::{Empty, Full};

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
