//! A client cannot open a circuit breaker: a request body that stalls is the client's fault
//! (`I400BD` after `APIGW_CLIENT_BODY_TIMEOUT_MS` without data), never a backend timeout, and
//! the backend's `ServiceTimeout` counts from the end of the upload.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use support::{send, Gateway};

const HOST: &str = "slow.example.com";

fn config(backend: SocketAddr) -> String {
    format!(
        r#"
Groups:
  - GroupName: uploads
    Domains: [{{DomainName: {HOST}}}]
    Apis:
      - ApiName: upload
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: POST, RequestPath: /upload}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: /upload, ServiceTimeout: 500}}
        DeployTo: [RELEASE]
      - ApiName: slow_backend
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: POST, RequestPath: /slow}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: /slow/2000, ServiceTimeout: 500}}
        DeployTo: [RELEASE]
Plugins:
  - PluginName: tight_breaker
    PluginType: circuitBreaker
    PluginData: "timeoutThreshold: 3\nwindowInSeconds: 30\nopenTimeoutSeconds: 30\n"
    AttachTo: [{{GroupName: uploads, ApiName: upload, Stages: [RELEASE]}}]
"#
    )
}

/// Sends the head and 10 of 100 announced body bytes, stalls, then reads the answer.
fn stalled_upload(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n0123456789"
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).to_string()
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_the_clients_fault_and_never_opens_the_breaker() {
    let backend = support::backend().await;
    let gw = Gateway::start_with_env(&config(backend), &[("APIGW_CLIENT_BODY_TIMEOUT_MS", "300")]);
    let addr = gw.http;
    // More stalled uploads than the breaker's threshold, longer than the ServiceTimeout.
    let stalled: Vec<_> = (0..5)
        .map(|_| tokio::task::spawn_blocking(move || stalled_upload(addr)))
        .collect();
    for s in stalled {
        let answer = s.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert_eq!(
            header(&answer, "x-ca-error-code"),
            Some("I400BD"),
            "{answer}"
        );
        assert!(
            header(&answer, "x-ca-error-message")
                .is_some_and(|m| m.contains("no body data for 300 ms")),
            "{answer}"
        );
    }
    // The breaker is still closed: a whole upload reaches the backend.
    let body = vec![b'x'; 100];
    let ok = send(
        gw.http,
        "POST",
        HOST,
        "/upload",
        &[("content-type", "application/octet-stream")],
        &body,
    )
    .await;
    assert_eq!(ok.status, 200, "{:?} {:?}", ok.code(), ok.message());
    assert_eq!(ok.json()["body"].as_str().unwrap().len(), 100);
}

/// A backend slower than its `ServiceTimeout` after a whole upload is still `D504TO`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_backend_after_the_upload_is_still_a_backend_timeout() {
    let backend = support::backend().await;
    let gw = Gateway::start_with_env(&config(backend), &[("APIGW_CLIENT_BODY_TIMEOUT_MS", "300")]);
    let r = send(
        gw.http,
        "POST",
        HOST,
        "/slow",
        &[("content-type", "application/octet-stream")],
        b"0123456789",
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (504, Some("D504TO")));
}
