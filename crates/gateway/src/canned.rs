//! The error contract for requests that hyper's HTTP/1 parser refuses on its own.
//!
//! When a request cannot be parsed, hyper answers before any service runs, with a canned head
//! that carries none of the gateway's headers (hyper 1.x, `proto/h1/role.rs` `Server::on_error`
//! and `encode`, `proto/h1/conn.rs` `on_parse_error`/`enforce_version`):
//!
//! ```text
//! HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: <IMF-fixdate>\r\n\r\n
//! ```
//!
//! with `400 Bad Request` (malformed request line, method, header, version), `414 URI Too Long`
//! (a request target over the `http` crate's 65,534 bytes) or `431 Request Header Fields Too
//! Large` (more than `max_headers` fields, or a head over `max_buf_size`). After an HTTP/1.0
//! exchange on the connection the head is `HTTP/1.0 ...` and has no `connection: close`
//! (HTTP/1.0 closes by default). hyper 1.x never writes a `505`; it is recognised all the same.
//!
//! [`Rewrite`] wraps a client connection and replaces exactly such a head, written on its own,
//! with the gateway's documented error (`X-Ca-Request-Id`, `X-Ca-Error-Code`,
//! `X-Ca-Error-Message`, the table's status). The recogniser accepts only hyper's shape: one of
//! the four status lines, then nothing but `connection: close`, `content-length: 0` and `date`,
//! so the gateway's own short errors (which always carry `x-ca-request-id`) never match. Every
//! other write passes straight through: the check looks at the length and a few leading bytes
//! first, and neither copies nor allocates.

use crate::request_id::new_request_id;
use apigw_model::codes::{self, ErrorCode};
use http::StatusCode;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// hyper's canned heads are about 125 bytes; a write this long is never one.
const MAX_CANNED: usize = 512;

/// The shortest write that can be a canned head: `HTTP/1.1 400 Bad Request\r\n` plus the final
/// empty line.
const MIN_CANNED: usize = 28;

/// Why hyper refused the request, as told by its canned status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `400 Bad Request`: a malformed request line, method, header or version.
    Malformed,
    /// `414 URI Too Long`: a request target over the `http` crate's limit.
    UriTooLong,
    /// `431 Request Header Fields Too Large`: too many header fields, or a head too large.
    TooManyHeaders,
    /// `505 HTTP Version Not Supported`.
    Version,
}

/// The canned status lines hyper can write, after `HTTP/1.x `.
const REFUSALS: [(StatusCode, Refusal); 4] = [
    (StatusCode::BAD_REQUEST, Refusal::Malformed),
    (StatusCode::URI_TOO_LONG, Refusal::UriTooLong),
    (
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        Refusal::TooManyHeaders,
    ),
    (StatusCode::HTTP_VERSION_NOT_SUPPORTED, Refusal::Version),
];

impl Refusal {
    /// The row of the error table, and its message values.
    pub fn error(self) -> (&'static ErrorCode, &'static [&'static str]) {
        match self {
            Refusal::UriTooLong => (&codes::I413UL, &[]),
            Refusal::TooManyHeaders => (
                &codes::I400HD,
                &["*", "too many or too large header fields"],
            ),
            Refusal::Malformed => (&codes::I400RU, &["malformed HTTP request"]),
            Refusal::Version => (&codes::I400RU, &["unsupported HTTP version"]),
        }
    }
}

/// A canned hyper head, recognised.
#[derive(Debug, PartialEq, Eq)]
pub struct Canned<'a> {
    pub refusal: Refusal,
    /// `HTTP/1.0`: the client spoke HTTP/1.0 earlier on this connection.
    pub http10: bool,
    /// The value of hyper's `date` header, kept in the replacement.
    pub date: Option<&'a [u8]>,
}

/// `buf` read as one whole canned hyper head, or `None`.
pub fn recognise(buf: &[u8]) -> Option<Canned<'_>> {
    // Cheap tests first: every body chunk and almost every response head stops here.
    if buf.len() < MIN_CANNED || buf.len() >= MAX_CANNED || !buf.starts_with(b"HTTP/1.") {
        return None;
    }
    let http10 = match &buf[7..9] {
        b"1 " => false,
        b"0 " => true,
        _ => return None,
    };
    let after_version = &buf[9..];
    let (refusal, mut rest) = REFUSALS.iter().find_map(|(status, refusal)| {
        let rest = after_version
            .strip_prefix(status.as_str().as_bytes())?
            .strip_prefix(b" ")?
            .strip_prefix(status.canonical_reason()?.as_bytes())?
            .strip_prefix(b"\r\n")?;
        Some((*refusal, rest))
    })?;
    if !rest.ends_with(b"\r\n\r\n") && rest != b"\r\n" {
        return None;
    }
    // Header lines up to the empty line, which must end the write: only hyper's three, once.
    let (mut length_zero, mut close, mut date) = (false, false, None);
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let (line, next) = (&rest[..eol], &rest[eol + 2..]);
        rest = next;
        if line.is_empty() {
            break;
        }
        if !length_zero && line.eq_ignore_ascii_case(b"content-length: 0") {
            length_zero = true;
        } else if !close && line.eq_ignore_ascii_case(b"connection: close") {
            close = true;
        } else if date.is_none() && line.len() > 6 && line[..6].eq_ignore_ascii_case(b"date: ") {
            date = Some(&line[6..]);
        } else {
            return None;
        }
    }
    // HTTP/1.1 heads always say `connection: close`; HTTP/1.0 ones close without saying so.
    if !rest.is_empty() || !length_zero || !(close || http10) {
        return None;
    }
    Some(Canned {
        refusal,
        http10,
        date,
    })
}

impl Canned<'_> {
    /// The gateway's documented error head for this refusal, with a fresh request id.
    pub fn replacement(&self) -> Vec<u8> {
        let (code, values) = self.refusal.error();
        let status = StatusCode::from_u16(code.status).unwrap_or(StatusCode::BAD_REQUEST);
        let id = new_request_id();
        let message = code.message(values);
        let mut out = Vec::with_capacity(160 + message.len());
        out.extend_from_slice(if self.http10 {
            b"HTTP/1.0 "
        } else {
            b"HTTP/1.1 "
        });
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\nx-ca-request-id: ");
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(b"\r\nx-ca-error-code: ");
        out.extend_from_slice(code.code.as_bytes());
        out.extend_from_slice(b"\r\nx-ca-error-message: ");
        out.extend_from_slice(message.as_bytes());
        out.extend_from_slice(b"\r\ncontent-length: 0\r\nconnection: close\r\n");
        if let Some(date) = self.date {
            out.extend_from_slice(b"date: ");
            out.extend_from_slice(date);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// A replacement being written in place of a canned head.
struct Pending {
    bytes: Vec<u8>,
    written: usize,
    /// The canned head's length: what hyper is told was written, once all of `bytes` is.
    replaces: usize,
}

/// A client connection whose canned parse-error heads are rewritten to the error contract.
/// Reads, flushes and shutdowns go straight to the inner stream.
pub struct Rewrite<T> {
    inner: T,
    pending: Option<Pending>,
    /// Where a rewritten answer is counted (`apigw_requests_total`, no API), if anywhere.
    counted: Option<Arc<crate::Shared>>,
}

impl<T> Rewrite<T> {
    pub fn new(inner: T) -> Rewrite<T> {
        Rewrite {
            inner,
            pending: None,
            counted: None,
        }
    }

    /// Counts each rewritten answer in `shared`'s metrics.
    pub fn counted_in(mut self, shared: Option<Arc<crate::Shared>>) -> Rewrite<T> {
        self.counted = shared;
        self
    }
}

impl<T: AsyncWrite + Unpin> Rewrite<T> {
    /// Starts replacing `head` when it is a canned head; false leaves the write to the caller.
    fn start(&mut self, head: &[u8]) -> bool {
        match recognise(head) {
            Some(canned) => {
                tracing::debug!(refusal = ?canned.refusal, "rewriting hyper's parse-error answer");
                if let Some(shared) = &self.counted {
                    let (code, _) = canned.refusal.error();
                    shared.metrics.unmatched.count(code.status, Some(code.code));
                }
                self.pending = Some(Pending {
                    bytes: canned.replacement(),
                    written: 0,
                    replaces: head.len(),
                });
                true
            }
            None => false,
        }
    }

    /// Writes what is left of the pending replacement.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(p) = self.pending.as_mut() {
            while p.written < p.bytes.len() {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &p.bytes[p.written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                p.written += n;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Finishes the pending replacement, then reports the canned head (at most `offered`
    /// bytes, the head hyper offers again after a `Pending`) as written.
    fn poll_replace(&mut self, cx: &mut Context<'_>, offered: usize) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        let done = self.pending.take().map_or(0, |p| p.replaces);
        Poll::Ready(Ok(done.min(offered)))
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
        if this.pending.is_none() && !this.start(buf) {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        this.poll_replace(cx, buf.len())
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first: &[u8] = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        if this.pending.is_none() && !this.start(first) {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        // Only the first slice is replaced; hyper writes any later ones on its next call.
        this.poll_replace(cx, first.len())
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    const DATE: &str = "Wed, 25 Nov 2026 03:56:51 GMT";

    /// hyper's canned heads, byte for byte as hyper 1.12 writes them (`date` from `DATE`).
    fn hyper_head(status_line: &str, close: bool) -> Vec<u8> {
        let close = if close { "connection: close\r\n" } else { "" };
        format!("{status_line}\r\n{close}content-length: 0\r\ndate: {DATE}\r\n\r\n").into_bytes()
    }

    /// Splits a head into its status line and `(name, value)` pairs; asserts it ends the bytes.
    fn split_head(bytes: &[u8]) -> (String, Vec<(String, String)>) {
        let text = std::str::from_utf8(bytes).unwrap();
        let head = text.strip_suffix("\r\n\r\n").expect("one whole head");
        assert!(!head.contains("\r\n\r\n"), "{text}");
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().to_string();
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_string(), v.to_string())
            })
            .collect();
        (status, headers)
    }

    fn assert_request_id(id: &str) {
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(id.as_bytes()[14], b'4', "{id}");
        assert!(
            id.bytes()
                .all(|c| c == b'-' || c.is_ascii_digit() || (b'A'..=b'F').contains(&c)),
            "{id}"
        );
    }

    /// Asserts that `bytes` is exactly one gateway error head for `code` with `values`.
    fn assert_contract(bytes: &[u8], version: &str, code: &ErrorCode, values: &[&str]) {
        let (status_line, headers) = split_head(bytes);
        let status = StatusCode::from_u16(code.status).unwrap();
        assert_eq!(
            status_line,
            format!(
                "{version} {} {}",
                status.as_str(),
                status.canonical_reason().unwrap()
            )
        );
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "x-ca-request-id",
                "x-ca-error-code",
                "x-ca-error-message",
                "content-length",
                "connection",
                "date"
            ]
        );
        assert_request_id(&headers[0].1);
        assert_eq!(headers[1].1, code.code);
        assert_eq!(headers[2].1, code.message(values));
        assert_eq!(headers[3].1, "0");
        assert_eq!(headers[4].1, "close");
        assert_eq!(headers[5].1, DATE);
    }

    #[test]
    fn hyper_canned_heads_are_recognised() {
        let cases = [
            ("HTTP/1.1 400 Bad Request", Refusal::Malformed),
            ("HTTP/1.1 414 URI Too Long", Refusal::UriTooLong),
            (
                "HTTP/1.1 431 Request Header Fields Too Large",
                Refusal::TooManyHeaders,
            ),
            ("HTTP/1.1 505 HTTP Version Not Supported", Refusal::Version),
        ];
        for (line, refusal) in cases {
            let head = hyper_head(line, true);
            let canned = recognise(&head).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(
                canned,
                Canned {
                    refusal,
                    http10: false,
                    date: Some(DATE.as_bytes())
                }
            );
            // The HTTP/1.0 form, which has no `connection: close`.
            let line10 = line.replace("HTTP/1.1", "HTTP/1.0");
            let head10 = hyper_head(&line10, false);
            let canned = recognise(&head10).expect(&line10);
            assert_eq!((canned.refusal, canned.http10), (refusal, true));
        }
        // Title-case header names (hyper's `title_case_headers`), and no `date` header.
        let title = b"HTTP/1.1 414 URI Too Long\r\nConnection: close\r\nContent-Length: 0\r\nDate: x\r\n\r\n";
        assert_eq!(recognise(title).unwrap().refusal, Refusal::UriTooLong);
        let dateless =
            b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(recognise(dateless).unwrap().date, None);
    }

    #[test]
    fn look_alikes_are_not_recognised() {
        let canned = String::from_utf8(hyper_head("HTTP/1.1 400 Bad Request", true)).unwrap();
        let not = [
            // Other statuses, and the gateway's own short 400s (they carry a request id).
            canned.replace("400 Bad Request", "200 OK"),
            canned.replace("400 Bad Request", "413 Payload Too Large"),
            canned.replace("400 Bad Request", "400 Bad request"),
            canned.replace("400 Bad Request", "400 Bad Request "),
            canned.replace("HTTP/1.1", "HTTP/1.2"),
            canned.replace("HTTP/1.1", "HTTP/2.0"),
            canned.replace(
                "connection: close\r\n",
                "x-ca-request-id: 0F4C6F3A-7F1B-4E2A-9C1D-2B5A8E7D6C10\r\nconnection: close\r\n",
            ),
            canned.replace("content-length: 0", "content-length: 5"),
            canned.replace("connection: close", "connection: keep-alive"),
            // An HTTP/1.1 head without `connection: close`, or without `content-length: 0`.
            canned.replace("connection: close\r\n", ""),
            canned.replace("content-length: 0\r\n", ""),
            // A repeated header, a header without a value, a bare LF.
            canned.replace("connection: close\r\n", "connection: close\r\nconnection: close\r\n"),
            canned.replace("connection: close\r\n", "connection: close\r\nx-a:\r\n"),
            canned.replace("connection: close\r\n", "connection: close\n"),
            // Not a whole head: cut short, or followed by a body or another head.
            canned[..canned.len() - 2].to_string(),
            canned[..40].to_string(),
            format!("{canned}extra"),
            format!("{canned}{canned}"),
            // A body chunk that merely starts like a canned head.
            "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\nHTTP/1.1 400"
                .to_string(),
            "HTTP/1.1 400 Bad Request\r\n is what the server said, content-length: 0\r\n\r\n"
                .to_string(),
            "HTTP/1.1 400 Bad Request\r\n\r\n".to_string(),
            // Too long to be hyper's, though well formed.
            canned.replace(DATE, &"x".repeat(MAX_CANNED)),
            String::new(),
            "HTTP/1.1 400".to_string(),
        ];
        for bytes in not {
            assert_eq!(recognise(bytes.as_bytes()), None, "{bytes:?}");
        }
    }

    #[test]
    fn replacements_follow_the_error_contract() {
        let cases: [(&str, &ErrorCode, &[&str]); 4] = [
            (
                "400 Bad Request",
                &codes::I400RU,
                &["malformed HTTP request"],
            ),
            ("414 URI Too Long", &codes::I413UL, &[]),
            (
                "431 Request Header Fields Too Large",
                &codes::I400HD,
                &["*", "too many or too large header fields"],
            ),
            (
                "505 HTTP Version Not Supported",
                &codes::I400RU,
                &["unsupported HTTP version"],
            ),
        ];
        for (status, code, values) in cases {
            let head = hyper_head(&format!("HTTP/1.1 {status}"), true);
            let out = recognise(&head).unwrap().replacement();
            assert_contract(&out, "HTTP/1.1", code, values);
            let head = hyper_head(&format!("HTTP/1.0 {status}"), false);
            let out = recognise(&head).unwrap().replacement();
            assert_contract(&out, "HTTP/1.0", code, values);
        }
        let head = hyper_head("HTTP/1.1 414 URI Too Long", true);
        let (a, b) = (
            recognise(&head).unwrap().replacement(),
            recognise(&head).unwrap().replacement(),
        );
        assert_ne!(split_head(&a).1[0], split_head(&b).1[0], "fresh ids");
        let message = &split_head(&a).1[2].1;
        assert_eq!(message, "Request URL too Large");
    }

    /// A writer that takes at most `chunk` bytes a call and, with `stall`, is Pending every
    /// other call; it records what it got and how it was called.
    #[derive(Default)]
    struct Trickle {
        out: Vec<u8>,
        chunk: usize,
        stall: bool,
        stalled: bool,
        writes: usize,
        vectored_writes: usize,
        flushes: usize,
        shutdowns: usize,
        fail: bool,
    }

    impl Trickle {
        fn new(chunk: usize, stall: bool) -> Trickle {
            Trickle {
                chunk,
                stall,
                ..Trickle::default()
            }
        }
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            if self.fail {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if self.stall {
                self.stalled = !self.stalled;
                if self.stalled {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
            self.writes += 1;
            let n = buf.len().min(self.chunk);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.vectored_writes += 1;
            let mut n = 0;
            for b in bufs {
                self.out.extend_from_slice(b);
                n += b.len();
            }
            Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.shutdowns += 1;
            Poll::Ready(Ok(()))
        }
    }

    /// Calls `poll_write` with the same `buf` until it is Ready (as hyper does); returns the
    /// result and how many calls were Pending.
    fn write_until_ready(w: &mut Rewrite<Trickle>, buf: &[u8]) -> (io::Result<usize>, usize) {
        let mut cx = Context::from_waker(Waker::noop());
        for pendings in 0..10_000 {
            if let Poll::Ready(r) = Pin::new(&mut *w).poll_write(&mut cx, buf) {
                return (r, pendings);
            }
        }
        panic!("never ready");
    }

    #[test]
    fn partial_and_pending_writes_deliver_the_whole_replacement_once() {
        let head = hyper_head("HTTP/1.1 414 URI Too Long", true);
        let mut w = Rewrite::new(Trickle::new(7, true));
        let (r, pendings) = write_until_ready(&mut w, &head);
        assert_eq!(r.unwrap(), head.len());
        assert!(pendings > 10, "{pendings}");
        assert_contract(&w.inner.out, "HTTP/1.1", &codes::I413UL, &[]);
        assert!(w.pending.is_none());

        // The next write is ordinary again and passes through untouched.
        w.inner.out.clear();
        let (r, _) = write_until_ready(&mut w, b"hello");
        assert_eq!((r.unwrap(), w.inner.out.as_slice()), (5, &b"hello"[..]));
    }

    #[test]
    fn a_flush_finishes_a_pending_replacement_and_the_retry_only_acknowledges_it() {
        let head = hyper_head("HTTP/1.1 400 Bad Request", true);
        let mut w = Rewrite::new(Trickle::new(10, true));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut w).poll_write(&mut cx, &head).is_pending());
        while Pin::new(&mut w).poll_flush(&mut cx).is_pending() {}
        assert_eq!(w.inner.flushes, 1);
        let written = w.inner.out.len();
        let (r, _) = write_until_ready(&mut w, &head);
        assert_eq!(r.unwrap(), head.len());
        assert_eq!(w.inner.out.len(), written, "nothing written twice");
        assert_contract(
            &w.inner.out,
            "HTTP/1.1",
            &codes::I400RU,
            &["malformed HTTP request"],
        );
        while Pin::new(&mut w).poll_shutdown(&mut cx).is_pending() {}
        assert_eq!(w.inner.shutdowns, 1);
    }

    #[test]
    fn vectored_writes_replace_only_a_canned_first_slice() {
        let head = hyper_head("HTTP/1.1 431 Request Header Fields Too Large", true);
        let mut w = Rewrite::new(Trickle::new(1000, false));
        assert!(w.is_write_vectored());
        let mut cx = Context::from_waker(Waker::noop());
        let bufs = [
            IoSlice::new(&[]),
            IoSlice::new(&head),
            IoSlice::new(b"tail"),
        ];
        let r = Pin::new(&mut w).poll_write_vectored(&mut cx, &bufs);
        assert!(matches!(r, Poll::Ready(Ok(n)) if n == head.len()), "{r:?}");
        assert_eq!(w.inner.vectored_writes, 0);
        assert_contract(
            &w.inner.out,
            "HTTP/1.1",
            &codes::I400HD,
            &["*", "too many or too large header fields"],
        );

        // Ordinary slices go to the inner vectored write as they are.
        w.inner.out.clear();
        let normal = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n";
        let bufs = [IoSlice::new(normal), IoSlice::new(b"ok")];
        let r = Pin::new(&mut w).poll_write_vectored(&mut cx, &bufs);
        assert!(
            matches!(r, Poll::Ready(Ok(n)) if n == normal.len() + 2),
            "{r:?}"
        );
        assert_eq!(w.inner.vectored_writes, 1);
        assert_eq!(w.inner.out, [&normal[..], b"ok"].concat());
    }

    #[test]
    fn ordinary_bytes_pass_through_and_errors_surface() {
        let mut w = Rewrite::new(Trickle::new(4, true));
        let body = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n plus body";
        let mut rest = &body[..];
        while !rest.is_empty() {
            let (r, _) = write_until_ready(&mut w, rest);
            rest = &rest[r.unwrap()..];
        }
        assert_eq!(w.inner.out, body);

        let head = hyper_head("HTTP/1.1 400 Bad Request", true);
        let mut w = Rewrite::new(Trickle::new(4, false));
        w.inner.fail = true;
        let (r, _) = write_until_ready(&mut w, &head);
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }

    /// hyper itself, serving HTTP/1 over an in-memory pipe: what it answers to `request`
    /// (after `before`, answered first on the same connection), raw or through [`Rewrite`].
    async fn hyper_answer(before: &[u8], request: &[u8], rewrite: bool, vectored: bool) -> Vec<u8> {
        use bytes::Bytes;
        use http_body_util::Full;
        use hyper_util::rt::{TokioIo, TokioTimer};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let (mut client, server) = tokio::io::duplex(1 << 20);
        let serve = async move {
            let svc = hyper::service::service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                    Bytes::from_static(b"ok"),
                )))
            });
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new()).max_headers(512);
            if vectored {
                b.writev(true);
            }
            let io = Vectored(server, vectored);
            if rewrite {
                let _ = b
                    .serve_connection(TokioIo::new(Rewrite::new(io)), svc)
                    .await;
            } else {
                let _ = b.serve_connection(TokioIo::new(io), svc).await;
            }
        };
        let talk = async move {
            let mut out = Vec::new();
            if !before.is_empty() {
                client.write_all(before).await.unwrap();
                let mut buf = [0u8; 4096];
                while !out.ends_with(b"\r\n\r\nok") {
                    let n = client.read(&mut buf).await.unwrap();
                    assert!(n > 0);
                    out.extend_from_slice(&buf[..n]);
                }
                out.clear();
            }
            client.write_all(request).await.unwrap();
            client.read_to_end(&mut out).await.unwrap();
            out
        };
        tokio::join!(serve, talk).1
    }

    /// An in-memory stream that claims vectored writes (as TCP and TLS streams do), so that
    /// hyper takes its `poll_write_vectored` path.
    struct Vectored(tokio::io::DuplexStream, bool);

    impl AsyncRead for Vectored {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Vectored {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }
        fn is_write_vectored(&self) -> bool {
            self.1
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    /// A request hyper refuses, what it answers on its own (`date` masked), and our error.
    struct Case {
        request: Vec<u8>,
        canned: String,
        code: &'static ErrorCode,
        values: &'static [&'static str],
    }

    fn refused() -> Vec<Case> {
        let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(70 * 1024));
        let mut many = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..600 {
            many.push_str(&format!("x-h{i}: v\r\n"));
        }
        many.push_str("\r\n");
        let h11 = |line: &str| {
            format!(
                "HTTP/1.1 {line}\r\nconnection: close\r\ncontent-length: 0\r\ndate: DATE\r\n\r\n"
            )
        };
        vec![
            Case {
                request: long.into_bytes(),
                canned: h11("414 URI Too Long"),
                code: &codes::I413UL,
                values: &[],
            },
            Case {
                request: many.into_bytes(),
                canned: h11("431 Request Header Fields Too Large"),
                code: &codes::I400HD,
                values: &["*", "too many or too large header fields"],
            },
            Case {
                request: b"GARBAGE\r\n\r\n".to_vec(),
                canned: h11("400 Bad Request"),
                code: &codes::I400RU,
                values: &["malformed HTTP request"],
            },
            // An unknown HTTP version: hyper 1.x answers 400, never 505.
            Case {
                request: b"GET / HTTP/2.5\r\nHost: a\r\n\r\n".to_vec(),
                canned: h11("400 Bad Request"),
                code: &codes::I400RU,
                values: &["malformed HTTP request"],
            },
        ]
    }

    /// `bytes` as text with the value of the `date` header replaced by `date`.
    fn mask_date(bytes: &[u8], date: &str) -> String {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let lines: Vec<String> = text
            .split("\r\n")
            .map(|l| match l.strip_prefix("date: ") {
                Some(_) => format!("date: {date}"),
                None => l.to_string(),
            })
            .collect();
        lines.join("\r\n")
    }

    #[tokio::test]
    async fn hyper_writes_exactly_the_heads_we_recognise() {
        for vectored in [false, true] {
            for case in refused() {
                let raw = hyper_answer(b"", &case.request, false, vectored).await;
                assert_eq!(mask_date(&raw, "DATE"), case.canned);
                assert!(recognise(&raw).is_some());
            }
            // After an HTTP/1.0 keep-alive exchange: HTTP/1.0, and no `connection: close`.
            let before = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
            let raw = hyper_answer(before, b"GARBAGE\r\n\r\n", false, vectored).await;
            assert_eq!(
                mask_date(&raw, "DATE"),
                "HTTP/1.0 400 Bad Request\r\ncontent-length: 0\r\ndate: DATE\r\n\r\n"
            );
            assert!(recognise(&raw).unwrap().http10);
        }
    }

    #[tokio::test]
    async fn hyper_refusals_through_rewrite_carry_the_contract() {
        for vectored in [false, true] {
            for case in refused() {
                let out = hyper_answer(b"", &case.request, true, vectored).await;
                let out = mask_date(&out, DATE);
                assert_contract(out.as_bytes(), "HTTP/1.1", case.code, case.values);
            }
            let before = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
            let out = hyper_answer(before, b"GARBAGE\r\n\r\n", true, vectored).await;
            let out = mask_date(&out, DATE);
            assert_contract(
                out.as_bytes(),
                "HTTP/1.0",
                &codes::I400RU,
                &["malformed HTTP request"],
            );
            // Ordinary answers on a kept-alive connection pass through untouched.
            let out = hyper_answer(
                b"GET / HTTP/1.1\r\n\r\n",
                b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
                true,
                vectored,
            )
            .await;
            assert_eq!(
                mask_date(&out, "DATE"),
                "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\ndate: DATE\r\n\r\nok"
            );
        }
    }
}
