//! The response body the layer hands back.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The body of every response the layer returns.
    ///
    /// For a response the layer did not look into, it is the inner body,
    /// streamed as it comes. For one it read (a trigger status), it yields
    /// the frames it read, exactly as they came, then the rest of the stream,
    /// then the stream's error if it failed: the bytes are the server's, byte
    /// for byte, whatever the layer decided.
    ///
    pub struct RedriveBody<B: Body> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B: Body> {
        Stream { #[pin] body: B },
        Read {
            frames: VecDeque<Frame<Bytes>>,
            rest: Option<Pin<Box<B>>>,
            error: Option<B::Error>,
        },
    }
}

impl<B: Body> RedriveBody<B> {
    /// The inner body, streamed untouched.
    pub(crate) fn new(body: B) -> Self {
        RedriveBody {
            kind: Kind::Stream { body },
        }
    }

    /// Frames already read, then the rest of `rest`, then `error`.
    pub(crate) fn read(
        frames: VecDeque<Frame<Bytes>>,
        rest: Option<Pin<Box<B>>>,
        error: Option<B::Error>,
    ) -> Self {
        RedriveBody {
            kind: Kind::Read {
                frames,
                rest,
                error,
            },
        }
    }
}

/// An empty body: what layers such as tower-http's `Timeout` put in the
/// responses they make up.
impl<B: Body> Default for RedriveBody<B> {
    fn default() -> Self {
        RedriveBody::read(VecDeque::new(), None, None)
    }
}

fn to_bytes<D: Buf>(frame: Frame<D>) -> Frame<Bytes> {
    frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
}

impl<B> Body for RedriveBody<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Stream { body } => body
                .poll_frame(cx)
                .map(|frame| frame.map(|result| result.map(to_bytes))),
            KindProj::Read {
                frames,
                rest,
                error,
            } => {
                if let Some(frame) = frames.pop_front() {
                    return Poll::Ready(Some(Ok(frame)));
                }
                if let Some(error) = error.take() {
                    return Poll::Ready(Some(Err(error)));
                }
                let Some(body) = rest.as_mut() else {
                    return Poll::Ready(None);
                };
                let polled = body
                    .as_mut()
                    .poll_frame(cx)
                    .map(|frame| frame.map(|result| result.map(to_bytes)));
                if let Poll::Ready(None) = polled {
                    *rest = None;
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Stream { body } => body.is_end_stream(),
            Kind::Read {
                frames,
                rest,
                error,
            } => {
                frames.is_empty()
                    && error.is_none()
                    && rest.as_ref().is_none_or(|b| b.is_end_stream())
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Stream { body } => body.size_hint(),
            Kind::Read { frames, rest, .. } => {
                let read: u64 = frames
                    .iter()
                    .filter_map(Frame::data_ref)
                    .map(|d| d.len() as u64)
                    .sum();
                let rest = rest
                    .as_ref()
                    .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint());
                let mut hint = SizeHint::new();
                hint.set_lower(read.saturating_add(rest.lower()));
                if let Some(upper) = rest.upper().and_then(|upper| upper.checked_add(read)) {
                    if upper >= hint.lower() {
                        hint.set_upper(upper);
                    }
                }
                hint
            }
        }
    }
}

impl<B: Body> fmt::Debug for RedriveBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Stream { .. } => f.write_str("RedriveBody::Stream"),
            Kind::Read { frames, rest, .. } => f
                .debug_struct("RedriveBody::Read")
                .field("frames", &frames.len())
                .field("more", &rest.is_some())
                .finish(),
        }
    }
}
