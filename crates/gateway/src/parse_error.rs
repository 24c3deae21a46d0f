//! hyper answers some malformed HTTP/1 requests itself, before any service runs: `400 Bad
//! Request` (bad request line or header), `414 URI Too Long` (a request target the `http`
//! crate cannot hold, 64 KiB and more) and `431 Request Header Fields Too Large`. Those canned
//! responses carry none of the gateway's headers. [`Rewrite`] wraps a client connection and
//! replaces exactly such a canned response with the gateway's documented error
//! (`X-Ca-Request-Id`, `X-Ca-Error-Code`, `X-Ca-Error-Message`); everything else passes through
//! untouched.

use crate::request_id::new_request_id;
use apigw_model::codes::{self, ErrorCode};
use http::StatusCode;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest canned response hyper writes (status line, `connection`, `content-length`,
/// `date`).
const MAX_CANNED: usize = 256;

/// A client connection whose canned parse-error responses are rewritten.
pub struct Rewrite<T> {
    inner: T,
    /// A replacement being written, and how much of it is out.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> Rewrite<T> {
    pub fn new(inner: T) -> Rewrite<T> {
        Rewrite {
            inner,
            pending: None,
        }
    }
}

/// The gateway's response for a canned hyper response, or `None` when `buf` is not one.
fn replacement(buf: &[u8]) -> Option<Vec<u8>> {
    if buf.len() > MAX_CANNED || !buf.starts_with(b"HTTP/1.1 4") || !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let (code, values): (&ErrorCode, &[&str]) = if buf.starts_with(b"HTTP/1.1 414 URI Too Long\r\n")
    {
        (&codes::I413UL, &[])
    } else if buf.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n") {
        (
            &codes::I400HD,
            &["*", "too many or too large header fields"],
        )
    } else if buf.starts_with(b"HTTP/1.1 400 Bad Request\r\n") {
        (&codes::I400RU, &["malformed HTTP request"])
    } else {
        return None;
    };
    let lower = buf.to_ascii_lowercase();
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    if !has(b"\r\ncontent-length: 0\r\n") || !has(b"\r\nconnection: close\r\n") {
        return None;
    }
    let status = StatusCode::from_u16(code.status).ok()?;
    let id = new_request_id();
    let head = format!(
        "HTTP/1.1 {} {}\r\nx-ca-request-id: {}\r\nx-ca-error-code: {}\r\nx-ca-error-message: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        id.to_str().unwrap_or(""),
        code.code,
        code.message(values),
    );
    Some(head.into_bytes())
}

impl<T: AsyncWrite + Unpin> Rewrite<T> {
    /// Writes the pending replacement fully, then reports `reported` bytes written.
    fn poll_pending(&mut self, cx: &mut Context<'_>, reported: usize) -> Poll<io::Result<usize>> {
        while let Some((bytes, done)) = self.pending.as_mut() {
            if *done == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(reported))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewrite<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewrite<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            match replacement(buf) {
                Some(bytes) => this.pending = Some((bytes, 0)),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        this.poll_pending(cx, buf.len())
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            let mut non_empty = bufs.iter().filter(|b| !b.is_empty());
            let only = match (non_empty.next(), non_empty.next()) {
                (Some(first), None) => replacement(first),
                _ => None,
            };
            match only {
                Some(bytes) => this.pending = Some((bytes, 0)),
                None => return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
            }
        }
        let total = bufs.iter().map(|b| b.len()).sum();
        this.poll_pending(cx, total)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const CANNED_414: &[u8] =
        b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Wed, 25 Nov 2026 03:56:51 GMT\r\n\r\n";

    #[test]
    fn recognises_only_complete_canned_heads() {
        let r = String::from_utf8(replacement(CANNED_414).unwrap()).unwrap();
        assert!(r.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{r}");
        assert!(
            r.contains("x-ca-error-code: I413UL\r\nx-ca-error-message: Request URL too Large\r\n"),
            "{r}"
        );
        assert!(r.contains("x-ca-request-id: "));
        let bad = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert!(String::from_utf8(replacement(bad).unwrap())
            .unwrap()
            .contains("I400RU"));
        // A normal response, a head with a body, a body chunk that only looks similar.
        assert!(
            replacement(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .is_none()
        );
        assert!(replacement(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"
        )
        .is_none());
        assert!(replacement(
            b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\n\r\nextra"
        )
        .is_none());
        assert!(replacement(&[b'x'; 100]).is_none());
    }

    /// A writer that accepts at most 7 bytes a call and is Pending every other call.
    struct Trickle {
        out: Vec<u8>,
        flip: bool,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.flip = !self.flip;
            if self.flip {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let n = buf.len().min(7);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn partial_and_pending_writes_deliver_the_whole_replacement() {
        let mut w = Rewrite::new(Trickle {
            out: Vec::new(),
            flip: false,
        });
        w.write_all(CANNED_414).await.unwrap();
        let out = String::from_utf8(w.inner.out.clone()).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 413 ") && out.ends_with("connection: close\r\n\r\n"),
            "{out}"
        );
        // Ordinary bytes pass through unchanged.
        let mut w = Rewrite::new(Trickle {
            out: Vec::new(),
            flip: false,
        });
        w.write_all(b"HTTP/1.1 200 OK\r\n\r\nhello").await.unwrap();
        assert_eq!(w.inner.out, b"HTTP/1.1 200 OK\r\n\r\nhello");
    }
}
