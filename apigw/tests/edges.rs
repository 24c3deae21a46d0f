//! Edges of the process and the wire: file modes of the data directory, ambiguous `Host`,
//! misdirected TLS requests, the HTTP version of the answer, half-closed clients, file
//! descriptor limits, requests in flight at the shutdown deadline, the connection metrics.

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{raw, read, Gateway, Resp};

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

/// The status line and the value of `header` (case-insensitive) of a raw HTTP/1 answer.
fn status_and(answer: &str, header: &str) -> (String, Option<String>) {
    let mut lines = answer.split("\r\n");
    let status = lines.next().unwrap_or_default().to_string();
    let value = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(header))
        .map(|(_, v)| v.trim().to_string());
    (status, value)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The data directory holds secrets in plain text: the running gateway narrows a directory
/// and database left world-readable to 0700 and 0600, and writes `serving.json` 0600.
#[test]
fn serve_keeps_the_data_directory_and_its_files_private() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = dir.path().join("apigw.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();

    let gw = Gateway::start_in(dir);
    let data = gw.dir.path();
    assert_eq!(mode(data), 0o700);
    let serving = data.join("serving.json");
    for _ in 0..100 {
        if serving.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for name in ["apigw.db", "apigw.db-wal", "apigw.db-shm", "serving.json"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    // Nothing else in the directory is readable by others either.
    for entry in std::fs::read_dir(data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path) & 0o077, 0, "{}", path.display());
    }
}

/// A CLI command narrows a world-readable data directory too, and says so on stderr.
#[test]
fn a_cli_command_narrows_the_data_directory_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    support::apply(dir.path(), CONFIG).expect("apply");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = dir.path().join("apigw.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, out) = support::cli(dir.path(), &["apis"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("apigw.db had mode 0644; changed to 0600"),
        "{out}"
    );
    assert!(out.contains("had mode 0755; changed to 0700"), "{out}");
    assert_eq!(mode(dir.path()), 0o700);
    assert_eq!(mode(&db), 0o600);
    // Once narrowed, nothing more is said.
    let (ok, out) = support::cli(dir.path(), &["apis"]);
    assert!(ok && !out.contains("had mode"), "{out}");
}

/// Two `Host` headers, or a `Host` naming another host than an absolute-form target, are
/// ambiguous: 400 `I400HD`, whichever host the gateway would have picked.
#[test]
fn an_ambiguous_host_is_refused_400_i400hd() {
    let gw = Gateway::start(CONFIG);
    let refused = [
        (
            "GET /users/me HTTP/1.1\r\nHost: localhost\r\nHost: other.example\r\nConnection: close\r\n\r\n",
            "Invalid Header `Host` appears more than once",
        ),
        (
            "GET /users/me HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "Invalid Header `Host` appears more than once",
        ),
        (
            "GET http://localhost/users/me HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
            "Invalid Header `Host` does not match the request target",
        ),
        (
            "GET http://other.example/users/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "Invalid Header `Host` does not match the request target",
        ),
    ];
    for (request, message) in refused {
        let answer = raw(gw.http, request.as_bytes());
        let (status, code) = status_and(&answer, "x-ca-error-code");
        assert!(status.starts_with("HTTP/1.1 400 "), "{request}: {answer}");
        assert_eq!(code.as_deref(), Some("I400HD"), "{request}: {answer}");
        let (_, got) = status_and(&answer, "x-ca-error-message");
        assert_eq!(got.as_deref(), Some(message), "{request}: {answer}");
        assert!(
            status_and(&answer, "x-ca-request-id").1.is_some(),
            "{answer}"
        );
    }
    // One host, however it is spelled, is served.
    let served = [
        "GET /users/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "GET http://localhost/users/me HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET http://localhost:1234/users/me HTTP/1.1\r\nHost: LocalHost:1234\r\nConnection: close\r\n\r\n",
    ];
    for request in served {
        let answer = raw(gw.http, request.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 200 "), "{request}: {answer}");
        assert!(answer.ends_with("me"), "{request}: {answer}");
    }
}

/// A backend that answers every request in HTTP/1.0 (`Content-Length`, then close).
fn http10_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let _ = stream
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\nold one");
            });
        }
    });
    addr
}

fn proxy_config(backend: SocketAddr) -> String {
    format!(
        r#"
Groups:
  - GroupName: shop
    Domains:
      - DomainName: localhost
    Apis:{}
"#,
        support::get_api_yaml("old_backend", "/old", "ANONYMOUS", backend)
    )
}

/// An HTTP/1.0 backend does not make the gateway answer an HTTP/1.1 client in HTTP/1.0: the
/// answer is in the client connection's version.
#[test]
fn the_answer_speaks_the_clients_http_version_not_the_backends() {
    let gw = Gateway::start(&proxy_config(http10_backend()));
    let answer = raw(
        gw.http,
        b"GET /old HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nold one"), "{answer}");
    // Kept alive in HTTP/1.1: a second request on the same connection is answered too.
    let mut s = TcpStream::connect(gw.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /old HTTP/1.1\r\nHost: localhost\r\n\r\nGET /old HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert_eq!(out.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{out}");
    assert!(!out.contains("HTTP/1.0"), "{out}");
    // An HTTP/1.0 client still gets HTTP/1.0.
    let answer = raw(gw.http, b"GET /old HTTP/1.0\r\nHost: localhost\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.0 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("old one"), "{answer}");
    // And keeps its connection when it asks to (the backend's HTTP/1.0 does not close it).
    let mut s = TcpStream::connect(gw.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /old HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\nGET /old HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert_eq!(out.matches("HTTP/1.0 200 OK\r\n").count(), 2, "{out}");
    assert!(
        out.to_ascii_lowercase().contains("connection: keep-alive"),
        "{out}"
    );
}

/// Sends `request`, closes the sending side, and reads everything the gateway answers.
fn send_then_half_close(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A client that sends a whole request and then shuts down its sending side still reads the
/// whole answer, also when the backend takes a while.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_half_closes_after_its_request_gets_the_answer() {
    let backend = support::backend().await;
    let mut config = proxy_config(backend);
    config.push_str(&support::get_api_yaml(
        "slow_one",
        "/slow/300",
        "ANONYMOUS",
        backend,
    ));
    config.push('\n');
    let gw = Gateway::start(&config);
    let http = gw.http;
    let cases: [(&[u8], &str); 3] = [
        (
            b"GET /slow/300 HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "slow done",
        ),
        (
            b"GET /slow/300 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            "slow done",
        ),
        (
            b"POST /users/me HTTP/1.1\r\nHost: nowhere.example\r\nContent-Length: 5\r\n\r\nhello",
            "",
        ),
    ];
    for (request, body) in cases {
        let answer = tokio::task::spawn_blocking(move || send_then_half_close(http, request))
            .await
            .unwrap();
        if body.is_empty() {
            // An error answer (no such domain) is complete too.
            assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
            let (_, len) = status_and(&answer, "content-length");
            let len: usize = len.expect("a Content-Length").parse().unwrap();
            let start = answer.find("\r\n\r\n").unwrap() + 4;
            assert_eq!(answer.len() - start, len, "{answer}");
        } else {
            assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
            assert!(answer.ends_with(body), "{answer}");
        }
    }
}

/// This process's hard limit on open files.
fn own_hard_nofile() -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid pointer.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit.rlim_max
}

/// The soft and hard "Max open files" of a running process.
fn nofile_of(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("{limits}"));
    let mut values = line["Max open files".len()..].split_whitespace();
    let mut next = || values.next().unwrap().parse::<u64>().unwrap();
    (next(), next())
}

/// The gateway raises its soft limit on open files to the hard limit at start-up.
#[test]
fn serve_raises_the_open_files_soft_limit_to_the_hard_limit() {
    let hard = own_hard_nofile().min(4096);
    assert!(
        hard > 256,
        "the test needs a hard limit above 256, not {hard}"
    );
    let gw = Gateway::start_with_nofile(tempfile::tempdir().unwrap(), &[], &[], Some((256, hard)));
    let pid = gw.child.as_ref().unwrap().id();
    assert_eq!(nofile_of(pid), (hard, hard));
}

/// Out of file descriptors (`EMFILE`), the accept loop logs and backs off (10 ms doubling to
/// 1 s) instead of spinning, and serves again once descriptors are free.
#[test]
fn accept_errors_back_off_and_serving_resumes() {
    let dir = tempfile::tempdir().unwrap();
    support::apply(dir.path(), CONFIG).expect("apply");
    let gw = Gateway::start_with_nofile(dir, &[], &[], Some((64, 64)));
    let pid = gw.child.as_ref().unwrap().id();
    assert_eq!(nofile_of(pid), (64, 64));
    let hog: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(gw.http).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let failures = || {
        gw.stdout
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("accepting a connection failed"))
            .count()
    };
    let n = failures();
    // Two workers, each logging once per pause: 10, 20, 40, … ms: a handful, not thousands.
    assert!(
        n >= 1,
        "no accept failure logged: {:?}",
        gw.stdout.lock().unwrap()
    );
    assert!(n <= 40, "{n} accept failures logged in 1.5 s: spinning?");
    assert!(
        gw.stdout
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("Too many open files")),
        "{:?}",
        gw.stdout.lock().unwrap()
    );
    drop(hog);
    let request = b"GET /users/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let mut answer = String::new();
    for _ in 0..50 {
        answer = raw(gw.http, request);
        if answer.starts_with("HTTP/1.1 200 ") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.ends_with("me"), "{answer}");
    // The failures were counted; the admin listener answers again too.
    let counted = metric(gw.admin, "apigw_accept_errors_total");
    assert!(
        counted >= 1.0 && counted >= n as f64,
        "{counted} accept errors counted, {n} logged"
    );
}

/// True when the server closed the connection (EOF or reset) within `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// A connection that never sends a byte is closed after the first-byte timeout.
#[test]
fn a_silent_connection_is_closed_after_the_first_byte_timeout() {
    let gw = Gateway::start_with_env(CONFIG, &[("APIGW_FIRST_BYTE_TIMEOUT_MS", "300")]);
    let mut silent = TcpStream::connect(gw.http).unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(3)));
    // A connection that speaks is served as usual.
    let answer = raw(
        gw.http,
        b"GET /users/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Past `APIGW_MAX_CONNECTIONS` open connections, a new one is closed at once; once some
/// close, new ones are served again.
#[test]
fn connections_past_the_cap_are_shed() {
    let gw = Gateway::start_with_env(
        CONFIG,
        &[
            ("APIGW_MAX_CONNECTIONS", "4"),
            ("APIGW_FIRST_BYTE_TIMEOUT_MS", "20000"),
        ],
    );
    let held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(gw.http).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = TcpStream::connect(gw.http).unwrap();
    let _ = extra.write_all(b"GET /users/me HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(closed_within(&mut extra, Duration::from_secs(3)));
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let answer = raw(
        gw.http,
        b"GET /users/me HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A self-signed certificate for `names`: its DER, and YAML for a domain's `Certificate`.
fn self_signed(names: &[&str]) -> (CertificateDer<'static>, String) {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let yaml = format!(
        "{{CertificateName: {}, CertificateBody: {}, CertificatePrivateKey: {}}}",
        names[0].replace('*', "star"),
        serde_json::to_string(&ck.cert.pem()).unwrap(),
        serde_json::to_string(&ck.signing_key.serialize_pem()).unwrap(),
    );
    (ck.cert.der().clone(), yaml)
}

/// A TLS connection with SNI `name`, trusting `roots`, offering `alpn`.
async fn tls_connect(
    addr: SocketAddr,
    name: &str,
    roots: &[&CertificateDer<'static>],
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store.add((*r).clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), connector.connect(server_name, tcp))
        .await
        .expect("TLS handshake in time")
        .unwrap_or_else(|e| panic!("TLS handshake for {name}: {e}"))
}

/// One HTTP/1.1 GET of `/hello` with `Host: host` over `stream`.
async fn h1_hello<S>(stream: S, host: &str) -> Resp
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(conn);
    let req = Request::get("/hello")
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    read(sender.send_request(req).await.expect("HTTP/1.1 request")).await
}

/// Over TLS, a request whose `Host` (or HTTP/2 `:authority`) names another host than the
/// connection's SNI, and that the certificate the SNI selected does not cover, is answered
/// 421 `I421MR` — also when that host has a certificate of its own, and before the host is
/// looked up. The same host in another case, with a port or a trailing dot, and a host the
/// connection's (wildcard) certificate covers are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_the_connections_certificate_does_not_cover_is_misdirected_421() {
    let (a, a_yaml) = self_signed(&["a.example.com"]);
    let (b, b_yaml) = self_signed(&["b.example.com"]);
    let (w, w_yaml) = self_signed(&["*.w.example.com"]);
    let config = format!(
        r#"
Groups:
  - GroupName: tls_edges
    Domains:
      - {{DomainName: a.example.com, Certificate: {a_yaml}}}
      - {{DomainName: b.example.com, Certificate: {b_yaml}}}
      - {{DomainName: "*.w.example.com", Certificate: {w_yaml}}}
      - {{DomainName: localhost}}
    Apis:
      - ApiName: hello
        AuthType: ANONYMOUS
        RequestConfig: {{RequestProtocol: "HTTP,HTTPS", RequestHttpMethod: GET, RequestPath: /hello}}
        ServiceConfig: {{Mock: "TRUE", MockResult: hello}}
        DeployTo: [RELEASE]
"#
    );
    let gw = Gateway::start(&config);
    let roots = [&a, &b, &w];
    let cases = [
        ("a.example.com", "a.example.com", None),
        ("a.example.com", "A.Example.COM:443", None),
        ("a.example.com", "a.example.com.", None),
        ("a.example.com", "b.example.com", Some("b.example.com")),
        ("a.example.com", "localhost", Some("localhost")),
        ("a.example.com", "nowhere.example", Some("nowhere.example")),
        ("a.example.com", "x.w.example.com", Some("x.w.example.com")),
        ("b.example.com", "a.example.com:8443", Some("a.example.com")),
        ("x.w.example.com", "x.w.example.com", None),
        ("x.w.example.com", "y.w.example.com", None),
        ("x.w.example.com", "w.example.com", Some("w.example.com")),
        ("x.w.example.com", "a.example.com", Some("a.example.com")),
    ];
    for (sni, host, misdirected) in cases {
        let tls = tls_connect(gw.https, sni, &roots, &[b"http/1.1"]).await;
        let r = h1_hello(tls, host).await;
        match misdirected {
            None => assert_eq!(
                (r.status.as_u16(), r.text().as_str()),
                (200, "hello"),
                "SNI {sni}, Host {host}: {:?}",
                r.code()
            ),
            Some(named) => {
                assert_eq!(
                    (r.status.as_u16(), r.code()),
                    (421, Some("I421MR")),
                    "SNI {sni}, Host {host}"
                );
                let message = format!(
                    "Misdirected Request: `{named}` is not served by this connection's certificate"
                );
                assert_eq!(r.message(), Some(message.as_str()));
                assert!(r.header("x-ca-request-id").is_some());
            }
        }
    }

    // HTTP/2: `:authority` is the host; the connection stays usable after a 421.
    let tls = tls_connect(gw.https, "a.example.com", &roots, &[b"h2"]).await;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    for (uri, status) in [
        ("https://b.example.com/hello", 421),
        ("https://a.example.com/hello", 200),
        ("https://localhost/hello", 421),
    ] {
        let req = Request::get(uri).body(Empty::<Bytes>::new()).unwrap();
        let r = read(sender.send_request(req).await.expect("HTTP/2 request")).await;
        assert_eq!(r.status.as_u16(), status, "{uri}: {:?}", r.code());
        if status == 421 {
            assert_eq!(r.code(), Some("I421MR"), "{uri}");
        }
    }

    // Without TLS there is no certificate to cover anything: every bound host is served.
    for host in ["a.example.com", "b.example.com", "localhost"] {
        let r = support::get(gw.http, host, "/hello").await;
        assert_eq!(r.status.as_u16(), 200, "{host}: {:?}", r.code());
    }
}

/// A backend API `/slow/[ms]` (ServiceTimeout 10 s) next to the mock of [`CONFIG`].
fn slow_config(backend: SocketAddr) -> String {
    format!(
        r#"{CONFIG}
      - ApiName: slow
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/slow/[ms]"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "/slow/[ms]", ServiceTimeout: 10000}}
        DeployTo: [RELEASE]
"#
    )
}

/// Requests still in flight when the shutdown deadline (`APIGW_SHUTDOWN_TIMEOUT`) passes are
/// answered 503 `X503SD` — with `Connection: close` over HTTP/1.1 — before the process exits,
/// instead of losing their connection; the process exits 0 soon after the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_at_the_shutdown_deadline_are_answered_503_x503sd() {
    let backend = support::backend().await;
    let dir = tempfile::tempdir().unwrap();
    support::apply(dir.path(), &slow_config(backend)).expect("apply");
    let mut gw = Gateway::start_in_with_env(dir, &[("APIGW_SHUTDOWN_TIMEOUT", "1")]);
    let http = gw.http;

    // HTTP/1.1, keep-alive asked for.
    let h1 = std::thread::spawn(move || {
        let mut s = TcpStream::connect(http).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /slow/8000 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        (String::from_utf8_lossy(&out).into_owned(), Instant::now())
    });
    // HTTP/2 (cleartext, prior knowledge).
    let tcp = tokio::net::TcpStream::connect(http).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let h2 = tokio::spawn(async move {
        let req = Request::get("http://localhost/slow/8000")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let r = sender.send_request(req).await.map(|r| (r.version(), r));
        match r {
            Ok((version, r)) => Ok((version, read(r).await)),
            Err(e) => Err(e.to_string()),
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!h1.is_finished() && !h2.is_finished());

    let (status, sigterm, exited) = tokio::task::spawn_blocking(move || {
        let sigterm = Instant::now();
        let status = gw.terminate();
        (status, sigterm, Instant::now())
    })
    .await
    .unwrap();
    let (answer, answered) = h1.join().unwrap();
    let (status_line, code) = status_and(&answer, "x-ca-error-code");
    assert!(
        status_line.starts_with("HTTP/1.1 503 "),
        "an answer, not a dropped connection: {answer:?}"
    );
    assert_eq!(code.as_deref(), Some("X503SD"), "{answer}");
    assert_eq!(
        status_and(&answer, "x-ca-error-message").1.as_deref(),
        Some("Service is shutting down")
    );
    assert_eq!(
        status_and(&answer, "connection").1.as_deref(),
        Some("close")
    );
    assert!(status_and(&answer, "x-ca-request-id").1.is_some());
    let (version, r) = h2.await.unwrap().expect("an HTTP/2 answer");
    assert_eq!(version, http::Version::HTTP_2);
    assert_eq!((r.status.as_u16(), r.code()), (503, Some("X503SD")));

    // At the deadline (1 s), not when the backend would have answered (8 s).
    let after = answered - sigterm;
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(3),
        "answered {after:?} after SIGTERM"
    );
    assert!(answered <= exited, "answered before the process exited");
    assert!(
        exited - sigterm < Duration::from_secs(4),
        "exited {:?} after SIGTERM",
        exited - sigterm
    );
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// The value of the sample `name` in the admin listener's `/metrics`.
fn metric(admin: SocketAddr, name: &str) -> f64 {
    let answer = raw(
        admin,
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let (_, ct) = status_and(&answer, "content-type");
    assert_eq!(
        ct.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in:\n{body}"))
        .parse()
        .unwrap()
}

/// Waits until the sample `name` reads `value` (the gateway notices a closed connection a
/// moment after the client closed it).
fn metric_becomes(admin: SocketAddr, name: &str, value: f64) {
    let mut last = f64::NAN;
    for _ in 0..100 {
        last = metric(admin, name);
        if last == value {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{name} is {last}, not {value}");
}

/// `GET /metrics` on the admin listener (no signature) counts open connections, connections
/// shed past `APIGW_MAX_CONNECTIONS` and silent ones closed at `APIGW_FIRST_BYTE_TIMEOUT_MS`,
/// exactly; it is not served on the data plane.
#[test]
fn metrics_count_open_shed_and_silent_connections() {
    let gw = Gateway::start_with_env(
        CONFIG,
        &[
            ("APIGW_MAX_CONNECTIONS", "3"),
            ("APIGW_FIRST_BYTE_TIMEOUT_MS", "400"),
        ],
    );
    let admin = gw.admin;
    for (name, value) in [
        ("apigw_accept_errors_total", 0.0),
        ("apigw_connections_open", 0.0),
        ("apigw_connections_shed_total", 0.0),
        ("apigw_first_byte_timeouts_total", 0.0),
    ] {
        assert_eq!(metric(admin, name), value, "{name}");
    }

    // Three kept-alive connections that were served.
    let request = b"GET /users/me HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(gw.http).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(request).unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200 "));
            s
        })
        .collect();
    assert_eq!(metric(admin, "apigw_connections_open"), 3.0);

    // Two more are shed at accept.
    for _ in 0..2 {
        let mut extra = TcpStream::connect(gw.http).unwrap();
        let _ = extra.write_all(request);
        assert!(closed_within(&mut extra, Duration::from_secs(3)));
    }
    assert_eq!(metric(admin, "apigw_connections_shed_total"), 2.0);
    assert_eq!(metric(admin, "apigw_connections_open"), 3.0);
    assert_eq!(metric(admin, "apigw_first_byte_timeouts_total"), 0.0);

    // Once they close, a silent connection is admitted and closed at the first-byte timeout.
    drop(held);
    metric_becomes(admin, "apigw_connections_open", 0.0);
    let mut silent = TcpStream::connect(gw.http).unwrap();
    metric_becomes(admin, "apigw_connections_open", 1.0);
    assert!(closed_within(&mut silent, Duration::from_secs(3)));
    metric_becomes(admin, "apigw_connections_open", 0.0);
    assert_eq!(metric(admin, "apigw_first_byte_timeouts_total"), 1.0);
    assert_eq!(metric(admin, "apigw_connections_shed_total"), 2.0);
    assert_eq!(metric(admin, "apigw_accept_errors_total"), 0.0);

    // The data plane has no /metrics: it is an unknown path there like any other.
    let answer = raw(
        gw.http,
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
    assert!(!answer.contains("apigw_"), "{answer}");
}
