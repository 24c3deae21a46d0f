//! Requests that hyper's HTTP/1 parser refuses before the gateway's service runs still get the
//! error contract (`X-Ca-Request-Id`, `X-Ca-Error-Code`, `X-Ca-Error-Message`, documented
//! status), and ordinary traffic through the rewriting connection wrapper is untouched.
//! Everything goes over raw TCP so that the exact bytes on the wire are checked.

mod support;

use apigw_model::codes::{self, ErrorCode};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use support::{raw, Gateway};

const CONFIG: &str = r#"
Groups:
  - GroupName: shop
    Domains:
      - DomainName: localhost
    Apis:
      - ApiName: user_me
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /users/me}
        ServiceConfig: {Mock: "TRUE", MockResult: me}
        DeployTo: [RELEASE]
"#;

/// One HTTP/1 response as read off the wire.
#[derive(Debug)]
struct Answer {
    version: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The documented status, code and message of `code`, and a well-formed request id.
    fn assert_contract(&self, code: &ErrorCode, values: &[&str]) {
        assert_eq!(self.status, code.status, "{self:?}");
        assert_eq!(self.header("x-ca-error-code"), Some(code.code), "{self:?}");
        assert_eq!(
            self.header("x-ca-error-message"),
            Some(code.message(values).as_str()),
            "{self:?}"
        );
        assert_request_id(self.header("x-ca-request-id"));
    }
}

/// An upper-case version-4 UUID.
fn assert_request_id(id: Option<&str>) {
    let id = id.expect("an X-Ca-Request-Id header");
    let b = id.as_bytes();
    assert_eq!(b.len(), 36, "{id}");
    assert_eq!(b[14], b'4', "{id}");
    for (i, c) in b.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            assert_eq!(*c, b'-', "{id}");
        } else {
            assert!(c.is_ascii_digit() || (b'A'..=b'F').contains(c), "{id}");
        }
    }
}

/// Splits `bytes` into one response and what follows it (bodies by `content-length` only).
fn parse(bytes: &[u8]) -> (Answer, &[u8]) {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(bytes)))
        + 4;
    let head = std::str::from_utf8(&bytes[..end]).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap().to_string();
    let status = parts.next().unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let rest = &bytes[end..];
    assert!(rest.len() >= len, "body cut short: {head}");
    let answer = Answer {
        version,
        status,
        headers,
        body: rest[..len].to_vec(),
    };
    (answer, &rest[len..])
}

/// The single response to `request` on a fresh connection (which the gateway then closes).
fn only_answer(addr: SocketAddr, request: &[u8]) -> Answer {
    let bytes = raw(addr, request);
    let (answer, rest) = parse(bytes.as_bytes());
    assert!(rest.is_empty(), "trailing bytes after {answer:?}: {rest:?}");
    answer
}

/// Reads exactly one response from a kept-alive connection.
fn read_answer(s: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .split("\r\n")
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                let (answer, rest) = parse(&buf);
                assert!(rest.is_empty(), "unexpected bytes after {answer:?}");
                return answer;
            }
        }
        let n = s.read(&mut chunk).expect("reading a response");
        assert!(n > 0, "connection closed mid-response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn requests_the_parser_refuses_get_the_error_contract() {
    let gw = Gateway::start(CONFIG);

    // A request target of 70 KiB: more than the `http` crate's URI limit (64 KiB), so hyper
    // refuses it (canned 414) before the gateway's own `--max-url-bytes` check could.
    let long = format!(
        "GET /users/{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let a = only_answer(gw.http, long.as_bytes());
    a.assert_contract(&codes::I413UL, &[]);
    assert_eq!(a.header("content-length"), Some("0"));
    assert_eq!(a.header("connection"), Some("close"));
    assert!(a.body.is_empty());

    // 600 header fields, over the parser's limit of 512 (canned 431).
    let mut many = String::from("GET /users/me HTTP/1.1\r\nHost: localhost\r\n");
    for i in 0..600 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    only_answer(gw.http, many.as_bytes()).assert_contract(
        &codes::I400HD,
        &["*", "too many or too large header fields"],
    );

    // Not HTTP at all (canned 400).
    only_answer(gw.http, b"GARBAGE\r\n\r\n")
        .assert_contract(&codes::I400RU, &["malformed HTTP request"]);

    // A request line with an unknown HTTP version (hyper answers 400 too, not 505).
    only_answer(
        gw.http,
        b"GET /users/me HTTP/2.5\r\nHost: localhost\r\n\r\n",
    )
    .assert_contract(&codes::I400RU, &["malformed HTTP request"]);

    // An ordinary request on a fresh connection is untouched.
    let ok = only_answer(
        gw.http,
        b"GET /users/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((ok.status, ok.body.as_slice()), (200, &b"me"[..]), "{ok:?}");
    assert_eq!(ok.header("x-ca-error-code"), None);
    assert_request_id(ok.header("x-ca-request-id"));
}

#[test]
fn a_kept_alive_connection_serves_request_after_request() {
    let gw = Gateway::start(CONFIG);
    let mut s = TcpStream::connect(gw.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        s.write_all(b"GET /users/me HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let a = read_answer(&mut s);
        assert_eq!((a.status, a.body.as_slice()), (200, &b"me"[..]), "{a:?}");
        assert_eq!(a.header("connection"), None, "{a:?}");
        assert_request_id(a.header("x-ca-request-id"));
        ids.push(a.header("x-ca-request-id").unwrap().to_string());
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "request ids must differ: {ids:?}");

    // The same connection then sends garbage: the refusal follows the earlier answers.
    s.write_all(b"GARBAGE\r\n\r\n").unwrap();
    read_answer(&mut s).assert_contract(&codes::I400RU, &["malformed HTTP request"]);
}

/// The gateway's own short 400s on a closing connection look much like hyper's canned 400
/// (`content-length: 0`, `connection: close`); they must keep their own code and request id.
#[test]
fn the_gateways_own_400s_are_not_mistaken_for_parser_refusals() {
    let gw = Gateway::start(CONFIG);
    let a = only_answer(
        gw.http,
        b"GET /users/me HTTP/1.1\r\nHost: localhost\r\nX-Ca-Stage: NOPE\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(a.header("connection"), Some("close"), "{a:?}");
    a.assert_contract(&codes::I400SG, &[]);
}

/// After an HTTP/1.0 keep-alive exchange hyper answers in HTTP/1.0, and its canned head then
/// has no `connection: close` (HTTP/1.0 closes by default); it must be rewritten all the same.
#[test]
fn refusals_after_an_http_1_0_exchange_get_the_contract_too() {
    let gw = Gateway::start(CONFIG);
    let mut s = TcpStream::connect(gw.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /users/me HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let first = read_answer(&mut s);
    assert_eq!((first.status, first.body.as_slice()), (200, &b"me"[..]));
    assert_eq!(first.version, "HTTP/1.0");
    s.write_all(b"GARBAGE\r\n\r\n").unwrap();
    let a = read_answer(&mut s);
    a.assert_contract(&codes::I400RU, &["malformed HTTP request"]);
}

/// The TLS listener's connections go through the same rewriting.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_over_tls_get_the_contract_too() {
    use rustls_pki_types::ServerName;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let ck = rcgen::generate_simple_self_signed(vec!["tls.example.com".to_string()]).unwrap();
    let yaml = format!(
        r#"
Groups:
  - GroupName: secure
    Domains:
      - DomainName: tls.example.com
        Certificate: {{CertificateName: c, CertificateBody: {body}, CertificatePrivateKey: {key}}}
    Apis:
      - ApiName: hello
        AuthType: ANONYMOUS
        RequestConfig: {{RequestProtocol: "HTTP,HTTPS", RequestHttpMethod: GET, RequestPath: /hello}}
        ServiceConfig: {{Mock: "TRUE", MockResult: hello}}
        DeployTo: [RELEASE]
"#,
        body = serde_json::to_string(&ck.cert.pem()).unwrap(),
        key = serde_json::to_string(&ck.signing_key.serialize_pem()).unwrap(),
    );
    let gw = Gateway::start(&yaml);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));

    let exchange = |request: &'static [u8]| {
        let connector = connector.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(gw.https).await.unwrap();
            let name = ServerName::try_from("tls.example.com").unwrap();
            let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
            tls.write_all(request).await.unwrap();
            let mut out = Vec::new();
            let read = tls.read_to_end(&mut out);
            let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
            out
        }
    };
    let out = exchange(b"GARBAGE\r\n\r\n").await;
    let (a, rest) = parse(&out);
    assert!(rest.is_empty(), "{rest:?}");
    a.assert_contract(&codes::I400RU, &["malformed HTTP request"]);

    let out =
        exchange(b"GET /hello HTTP/1.1\r\nHost: tls.example.com\r\nConnection: close\r\n\r\n")
            .await;
    let (ok, _) = parse(&out);
    assert_eq!(
        (ok.status, ok.body.as_slice()),
        (200, &b"hello"[..]),
        "{ok:?}"
    );
    assert_request_id(ok.header("x-ca-request-id"));
}
