//! Body types of the data plane, without boxing.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body that is streamed from a peer, or held in memory.
#[derive(Debug)]
pub enum GwBody {
    Stream(Incoming),
    Full(Option<Bytes>),
    /// A client's request body on its way to the backend, with its own idle timeout.
    Upload(Box<Upload>),
    /// A body compressed with gzip as it flows.
    Gzip(Box<GzipStream>),
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
            GwBody::Upload(u) => Pin::new(&mut **u).poll_frame(cx),
            GwBody::Gzip(g) => Pin::new(&mut **g).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GwBody::Stream(inc) => inc.is_end_stream(),
            GwBody::Full(b) => b.is_none(),
            GwBody::Upload(u) => u.inner.is_end_stream(),
            GwBody::Gzip(g) => g.finished,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GwBody::Stream(inc) => inc.size_hint(),
            GwBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            GwBody::Upload(u) => u.inner.size_hint(),
            GwBody::Gzip(_) => SizeHint::default(),
        }
    }
}

/// Why a client's request body could not be read: the client's fault, never the backend's.
#[derive(Debug)]
pub enum ClientBodyError {
    /// No data for this long while more was due.
    Idle(Duration),
    /// The connection broke or the body was malformed.
    Read(String),
}

impl std::fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientBodyError::Idle(d) => {
                write!(f, "the client sent no body data for {} ms", d.as_millis())
            }
            ClientBodyError::Read(e) => write!(f, "reading the client's body failed: {e}"),
        }
    }
}

impl std::error::Error for ClientBodyError {}

/// Where an upload stands, shared with the call that sends it.
#[derive(Debug, Default)]
pub struct UploadProgress {
    state: std::sync::Mutex<UploadState>,
}

#[derive(Debug, Default, Clone, Copy)]
struct UploadState {
    /// When the last byte was read.
    done_at: Option<Instant>,
    /// Waiting for the client (it owes data) since then.
    waiting_since: Option<Instant>,
}

impl UploadProgress {
    fn update(&self, f: impl FnOnce(&mut UploadState)) {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn get(&self) -> UploadState {
        *self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the whole body was read, if it was.
    pub fn done_at(&self) -> Option<Instant> {
        self.get().done_at
    }

    /// True while the body is waiting for the client (rather than for the backend to take it).
    pub fn waiting_on_client(&self) -> bool {
        self.get().waiting_since.is_some()
    }
}

/// A client's request body with an idle timeout: no data for `idle` while more is due fails the
/// body with [`ClientBodyError::Idle`].
#[derive(Debug)]
pub struct Upload {
    inner: Incoming,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    progress: std::sync::Arc<UploadProgress>,
}

impl Upload {
    pub fn new(inner: Incoming, idle: Duration) -> (Upload, std::sync::Arc<UploadProgress>) {
        let progress = std::sync::Arc::<UploadProgress>::default();
        let upload = Upload {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            progress: progress.clone(),
        };
        (upload, progress)
    }
}

impl Body for Upload {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let now = Instant::now();
                this.timer
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(now + this.idle));
                this.progress.update(|s| s.waiting_since = None);
                if this.inner.is_end_stream() {
                    this.progress.update(|s| s.done_at = Some(now));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(Box::new(ClientBodyError::Read(e.to_string())))))
            }
            Poll::Ready(None) => {
                this.progress.update(|s| {
                    s.waiting_since = None;
                    s.done_at.get_or_insert_with(Instant::now);
                });
                Poll::Ready(None)
            }
            Poll::Pending => {
                this.progress
                    .update(|s| _ = s.waiting_since.get_or_insert_with(Instant::now));
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(Box::new(ClientBodyError::Idle(this.idle)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Compresses a body with gzip frame by frame: memory stays bounded by the compressor's window
/// and one frame's output, whatever the body's size.
pub struct GzipStream {
    inner: GwBody,
    /// Bytes already read from `inner`, compressed first.
    prefix: Option<Bytes>,
    encoder: flate2::write::GzEncoder<Vec<u8>>,
    finished: bool,
}

impl std::fmt::Debug for GzipStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzipStream").finish_non_exhaustive()
    }
}

impl GzipStream {
    /// `prefix` (already read from `inner`), then the rest of `inner`, compressed.
    pub fn new(prefix: Bytes, inner: GwBody) -> GzipStream {
        GzipStream {
            inner,
            prefix: (!prefix.is_empty()).then_some(prefix),
            encoder: flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(4)),
            finished: false,
        }
    }

    /// Compresses `data`; the output produced so far, if any.
    fn compress(&mut self, data: &[u8]) -> Option<Bytes> {
        use std::io::Write;
        self.encoder
            .write_all(data)
            .expect("writing to a Vec cannot fail");
        self.take()
    }

    fn take(&mut self) -> Option<Bytes> {
        let out = std::mem::take(self.encoder.get_mut());
        (!out.is_empty()).then(|| Bytes::from(out))
    }
}

impl Body for GzipStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        if let Some(prefix) = this.prefix.take() {
            if let Some(out) = this.compress(&prefix) {
                return Poll::Ready(Some(Ok(Frame::data(out))));
            }
        }
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers are not forwarded through a compressed body.
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if let Some(out) = this.compress(&data) {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                }
                Poll::Ready(None) => {
                    this.finished = true;
                    this.encoder
                        .try_finish()
                        .expect("writing to a Vec cannot fail");
                    return Poll::Ready(this.take().map(|b| Ok(Frame::data(b))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn gzip_stream_compresses_the_prefix_then_the_rest() {
        use std::io::Read;
        let data = b"hello ".repeat(1000);
        let zipped = GzipStream::new(
            Bytes::from_static(b"prefix "),
            GwBody::full(Bytes::from(data.clone())),
        );
        let z = zipped.collect().await.unwrap().to_bytes();
        assert!(z.len() < data.len() / 10);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, [&b"prefix "[..], &data].concat());
    }
}
