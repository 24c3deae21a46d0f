//! No path escapes its API (issue 13): dot-segments in the request path and separators hidden
//! in path text copied to the backend are refused with `I400PA`; a query value mapped to a
//! backend PATH parameter is encoded as one segment. Real binary, real sockets, a backend that
//! records every path it receives.

mod support;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use support::{get, raw, Gateway};

type Seen = Arc<Mutex<Vec<String>>>;

/// A backend that records the path of every request and answers it as JSON `{"path": ...}`.
async fn recording_backend() -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Seen::default();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let s = s.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let path = req.uri().path().to_string();
                    s.lock().unwrap().push(path.clone());
                    let body = serde_json::json!({ "path": path }).to_string();
                    async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn config(backend: SocketAddr) -> String {
    format!(
        r#"
Groups:
  - GroupName: traversal
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: pub_prefix
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/pub/*"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "/public/*", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
      - ApiName: files
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/files/[name]"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "/public/[name]", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
      - ApiName: by_query
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /by-query, RequestMode: MAPPING}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "/public/[file]", ServiceTimeout: 3000}}
        RequestParameters:
          - {{ApiParameterName: name, Location: QUERY, ParameterType: String, Required: REQUIRED}}
        ServiceParameters:
          - {{ServiceParameterName: file, Location: PATH, ParameterType: STRING}}
        ServiceParametersMap:
          - {{RequestParameterName: name, ServiceParameterName: file}}
        DeployTo: [RELEASE]
      - ApiName: by_path
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/named/[who]", RequestMode: MAPPING_PASSTHROUGH}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "/public/[file]", ServiceTimeout: 3000}}
        RequestParameters:
          - {{ApiParameterName: who, Location: PATH, ParameterType: String, Required: REQUIRED}}
        ServiceParameters:
          - {{ServiceParameterName: file, Location: PATH, ParameterType: STRING}}
        ServiceParametersMap:
          - {{RequestParameterName: who, ServiceParameterName: file}}
        DeployTo: [RELEASE]
"#
    )
}

/// Status, `X-Ca-Error-Code` and `X-Ca-Error-Message` of a GET sent byte for byte (no client
/// in between that could resolve or re-encode the path).
fn raw_get(addr: SocketAddr, path: &str) -> (u16, Option<String>, Option<String>) {
    let answer = raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let head = answer.split("\r\n\r\n").next().unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let mut code = None;
    let mut message = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "x-ca-error-code" => code = Some(v.trim().to_string()),
                "x-ca-error-message" => message = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    (status, code, message)
}

/// Where a backend that decodes its path before resolving it (the worst case: `%2F` and `\`
/// become separators, `%2e` a dot) ends up: RFC 3986 §5.2.4 on the decoded path.
fn resolved_by_a_decoding_backend(path: &str) -> String {
    let decoded = percent_decode(path).replace('\\', "/");
    let mut out: Vec<&str> = Vec::new();
    for seg in decoded.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The three attacks of the issue and their variants are refused with `I400PA` before the
/// backend sees anything; legitimate paths are still served; nothing the backend saw resolves
/// outside `/public/`, even for a backend that decodes before resolving.
#[tokio::test(flavor = "multi_thread")]
async fn no_request_path_escapes_its_api() {
    let (backend, seen) = recording_backend().await;
    let gw = Gateway::start(&config(backend));

    for (path, why) in [
        // The issue's three attacks.
        ("/pub/../private/s.txt", "dot-segment"),
        ("/pub/..%2fprivate%2fs.txt", "encoded /"),
        ("/files/%2e%2e%2fprivate%2fs.txt", "encoded /"),
        // Variants: encoded dot-segments, upper case, a capture that is `..`, backslashes.
        ("/files/%2e%2e", "dot-segment"),
        ("/files/%2E%2E", "dot-segment"),
        ("/files/..", "dot-segment"),
        ("/pub/%2e%2e/private/s.txt", "dot-segment"),
        ("/pub/a/./b.txt", "dot-segment"),
        ("/pub/a/../../private/s.txt", "dot-segment"),
        ("/pub/..%2Fprivate%2Fs.txt", "encoded /"),
        ("/pub/..%5cprivate%5cs.txt", "encoded backslash"),
        ("/files/..%5Cprivate", "encoded backslash"),
        // A request PATH parameter mapped to a backend PATH parameter, as received.
        ("/named/..%2fprivate%2fs.txt", "encoded /"),
    ] {
        let before = seen.lock().unwrap().len();
        let (status, code, message) = raw_get(gw.http, path);
        assert_eq!((status, code.as_deref()), (400, Some("I400PA")), "{path}");
        let message = message.unwrap();
        assert!(
            message.starts_with("Invalid Request Path") && message.contains(why),
            "{path}: {message}"
        );
        assert_eq!(
            seen.lock().unwrap().len(),
            before,
            "{path} reached the backend"
        );
    }

    // Legitimate requests are served as before.
    for (path, expected) in [
        ("/pub/a/b.txt", "/public/a/b.txt"),
        ("/files/s.txt", "/public/s.txt"),
        ("/files/a%20b.txt", "/public/a%20b.txt"),
        ("/pub/.well-known/x..y", "/public/.well-known/x..y"),
        ("/named/s.txt", "/public/s.txt"),
    ] {
        let r = get(gw.http, "localhost", path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.json()["path"], expected, "{path}");
    }

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 5, "{seen:?}");
    for p in seen.iter() {
        let at = resolved_by_a_decoding_backend(p);
        assert!(at.starts_with("/public/"), "the backend saw {p} (→ {at})");
    }
}

/// A query value mapped to a backend PATH parameter is percent-encoded as one segment: its
/// `/` cannot add a segment; a value that is `.` or `..` as a whole is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_mapped_query_value_is_one_encoded_segment() {
    let (backend, seen) = recording_backend().await;
    let gw = Gateway::start(&config(backend));

    for (query, expected) in [
        ("name=../x", "/public/..%2Fx"),
        ("name=..%2Fprivate%2Fs.txt", "/public/..%2Fprivate%2Fs.txt"),
        ("name=a%20b.txt", "/public/a%20b.txt"),
        ("name=s.txt", "/public/s.txt"),
    ] {
        let r = get(gw.http, "localhost", &format!("/by-query?{query}")).await;
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        assert_eq!(r.json()["path"], expected, "{query}");
    }
    for query in ["name=..", "name=.", "name=%2e%2e"] {
        let before = seen.lock().unwrap().len();
        let (status, code, message) = raw_get(gw.http, &format!("/by-query?{query}"));
        assert_eq!((status, code.as_deref()), (400, Some("I400PA")), "{query}");
        assert!(message.unwrap().contains(". or .."), "{query}");
        assert_eq!(
            seen.lock().unwrap().len(),
            before,
            "{query} reached the backend"
        );
    }
}
