//! Body types of the data plane, without boxing.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::task::{Context, Poll};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body that is streamed from a peer, or held in memory.
#[derive(Debug)]
pub enum GwBody {
    Stream(Incoming),
    Full(Option<Bytes>),
}

impl GwBody {
    pub fn empty() -> GwBody {
        GwBody::Full(None)
    }
    pub fn full(b: Bytes) -> GwBody {
        if b.is_empty() {
            GwBody::Full(None)
        } else {
            GwBody::Full(Some(b))
        }
    }
}

impl Body for GwBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            GwBody::Stream(inc) => Pin::new(inc).poll_frame(cx).map_err(Into::into),
            GwBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GwBody::Stream(inc) => inc.is_end_stream(),
            GwBody::Full(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GwBody::Stream(inc) => inc.size_hint(),
            GwBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}
