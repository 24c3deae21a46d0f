//! gRPC echo backend for the load benchmark (bench/run.sh, `PROTOCOLS=grpc`): plain HTTP/2
//! (h2c, prior knowledge), no protobuf. Any `POST` with `content-type: application/grpc...` on
//! any path gets its length-prefixed message(s) back unchanged, with `grpc-status: 0` in the
//! trailers; a body that is not a sequence of well-formed length-prefixed messages gets
//! `grpc-status: 3` (INVALID_ARGUMENT). Anything else: `415`. One thread (a current-thread
//! runtime), like the benchmark's other backend.
//!
//! ```sh
//! cargo run --release --example grpc_echo -- 127.0.0.1:18102
//! ```

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use tokio::net::TcpListener;

type Frames = stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>;
type Body = StreamBody<Frames>;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18102".to_string());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(serve(&addr));
}

async fn serve(addr: &str) {
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("grpc_echo: cannot listen on {addr}: {e}");
            std::process::exit(2);
        }
    };
    eprintln!("grpc_echo: listening on {addr} (h2c)");
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("grpc_echo: accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service_fn(handle));
            if let Err(e) = conn.await {
                eprintln!("grpc_echo: connection: {e}");
            }
        });
    }
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let grpc = req.method() == Method::POST
        && req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"));
    if !grpc {
        let mut resp = Response::new(frames(vec![Frame::data(Bytes::from_static(
            b"grpc_echo: send a POST with content-type application/grpc\n",
        ))]));
        *resp.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return Ok(resp);
    }
    let (status, body) = match req.into_body().collect().await {
        Ok(collected) => {
            let body = collected.to_bytes();
            if well_formed(&body) {
                ("0", body)
            } else {
                ("3", Bytes::new())
            }
        }
        Err(_) => ("13", Bytes::new()),
    };
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static(status));
    let mut parts = Vec::with_capacity(2);
    if !body.is_empty() {
        parts.push(Frame::data(body));
    }
    parts.push(Frame::trailers(trailers));
    let mut resp = Response::new(frames(parts));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    Ok(resp)
}

fn frames(parts: Vec<Frame<Bytes>>) -> Body {
    let parts: Vec<Result<Frame<Bytes>, Infallible>> = parts.into_iter().map(Ok).collect();
    StreamBody::new(stream::iter(parts))
}

/// A sequence of gRPC messages: each a compressed flag (0 or 1), a 4-byte big-endian length,
/// and that many bytes; at least one.
fn well_formed(mut body: &[u8]) -> bool {
    if body.is_empty() {
        return false;
    }
    while !body.is_empty() {
        if body.len() < 5 || body[0] > 1 {
            return false;
        }
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let Some(rest) = body[5..].get(len..) else {
            return false;
        };
        body = rest;
    }
    true
}
