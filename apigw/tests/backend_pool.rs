//! The worker's keep-alive connections to plain-HTTP backends (crates/gateway/src/h1pool.rs),
//! seen from a backend that counts the connections it accepts.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::Gateway;

/// An HTTP/1.1 backend answering `hello N` to every request, keeping each connection open for
/// further requests unless `close_after_ms` is set: then it closes a connection that long
/// after each answer (as a backend with a short keep-alive timeout does). Returns its address
/// and the count of connections it accepted.
fn counting_backend(close_after_ms: Option<u64>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            std::thread::spawn(move || serve(stream, n, close_after_ms));
        }
    });
    (addr, accepted)
}

fn serve(stream: TcpStream, n: usize, close_after_ms: Option<u64>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        // The request head (GET: no body).
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let body = format!("hello {n}");
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
        if let Some(ms) = close_after_ms {
            std::thread::sleep(Duration::from_millis(ms));
            return;
        }
    }
}

fn config(backend: SocketAddr) -> String {
    format!(
        "Groups:\n  - GroupName: pool\n    Domains:\n      - DomainName: localhost\n    Apis:{}\n",
        support::get_api_yaml("counted", "/counted", "ANONYMOUS", backend)
    )
}

/// `count` requests one after the other on one keep-alive client connection; the bodies.
fn sequential_gets(gateway: SocketAddr, count: usize, pause: Duration) -> Vec<String> {
    let stream = TcpStream::connect(gateway).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut bodies = Vec::new();
    for _ in 0..count {
        writer
            .write_all(b"GET /counted HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        bodies.push(String::from_utf8(body).unwrap());
        std::thread::sleep(pause);
    }
    bodies
}

/// Requests one after the other reuse one backend connection.
#[test]
fn sequential_requests_reuse_one_backend_connection() {
    let (backend, accepted) = counting_backend(None);
    let dir = tempfile::tempdir().unwrap();
    support::apply(dir.path(), &config(backend)).unwrap();
    let gw = Gateway::start_in_with_env(dir, &[("APIGW_WORKER_THREADS", "1")]);
    let bodies = sequential_gets(gw.http, 20, Duration::ZERO);
    assert_eq!(bodies, vec!["hello 1".to_string(); 20]);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// A backend that closes its idle keep-alive connections: the gateway notices and opens a new
/// connection, and no request fails.
#[test]
fn a_backend_closing_idle_connections_costs_no_request() {
    let (backend, accepted) = counting_backend(Some(20));
    let dir = tempfile::tempdir().unwrap();
    support::apply(dir.path(), &config(backend)).unwrap();
    let gw = Gateway::start_in_with_env(dir, &[("APIGW_WORKER_THREADS", "1")]);
    let bodies = sequential_gets(gw.http, 5, Duration::from_millis(200));
    let expected: Vec<String> = (1..=5).map(|n| format!("hello {n}")).collect();
    assert_eq!(bodies, expected);
    assert_eq!(accepted.load(Ordering::SeqCst), 5);
}
