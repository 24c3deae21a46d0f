//! The gateway as a process over real sockets: TLS with SNI, HTTP/2 (TLS and cleartext),
//! protocol restrictions, graceful shutdown, restarts, operational errors, the admin listener.

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::{CertificateDer, ServerName};
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{eventually, get, read, Gateway, Resp, BIN};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A self-signed certificate for one name: its DER, PEM and private key PEM.
struct TestCert {
    der: CertificateDer<'static>,
    pem: String,
    key_pem: String,
}

fn self_signed(name: &str) -> TestCert {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    TestCert {
        der: ck.cert.der().clone(),
        pem: ck.cert.pem(),
        key_pem: ck.signing_key.serialize_pem(),
    }
}

/// YAML double-quoted scalar (JSON strings are valid YAML).
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Group `tls_shop` on `a.example.com` (inline certificate), `b.example.com` (certificate files
/// relative to the YAML file) and `localhost`, with APIs that differ by `RequestProtocol`.
fn tls_config(a: &TestCert) -> String {
    format!(
        r#"
Groups:
  - GroupName: tls_shop
    Domains:
      - DomainName: a.example.com
        Certificate: {{CertificateName: a-cert, CertificateBody: {a_body}, CertificatePrivateKey: {a_key}}}
      - DomainName: b.example.com
        Certificate: {{CertificateName: b-cert, CertificateBodyFile: certs/b.pem, CertificatePrivateKeyFile: certs/b.key}}
      - DomainName: localhost
    Apis:
      - ApiName: hello
        AuthType: ANONYMOUS
        RequestConfig: {{RequestProtocol: "HTTP,HTTPS", RequestHttpMethod: GET, RequestPath: /hello}}
        ServiceConfig: {{Mock: "TRUE", MockResult: "hello from the mock"}}
        DeployTo: [RELEASE]
      - ApiName: http_only
        AuthType: ANONYMOUS
        RequestConfig: {{RequestProtocol: HTTP, RequestHttpMethod: GET, RequestPath: /plain-only}}
        ServiceConfig: {{Mock: "TRUE", MockResult: "plain only"}}
        DeployTo: [RELEASE]
      - ApiName: https_only
        AuthType: ANONYMOUS
        RequestConfig: {{RequestProtocol: HTTPS, RequestHttpMethod: GET, RequestPath: /tls-only}}
        ServiceConfig: {{Mock: "TRUE", MockResult: "tls only"}}
        DeployTo: [RELEASE]
"#,
        a_body = yaml_str(&a.pem),
        a_key = yaml_str(&a.key_pem),
    )
}

/// Starts a gateway serving [`tls_config`]; returns it with the two certificates.
fn tls_gateway() -> (Gateway, TestCert, TestCert) {
    let a = self_signed("a.example.com");
    let b = self_signed("b.example.com");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    std::fs::write(dir.path().join("certs/b.pem"), &b.pem).unwrap();
    std::fs::write(dir.path().join("certs/b.key"), &b.key_pem).unwrap();
    // The YAML file is written into `dir`, so `certs/b.pem` resolves relative to it.
    support::apply(dir.path(), &tls_config(&a)).expect("apply");
    (Gateway::start_in(dir), a, b)
}

/// A TLS connection to `addr` with SNI `name`, trusting exactly `roots`, offering `alpn`.
async fn tls_connect(
    addr: SocketAddr,
    name: &str,
    roots: &[&CertificateDer<'static>],
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
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
    let tcp = TcpStream::connect(addr).await?;
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), connector.connect(server_name, tcp))
        .await
        .map_err(|_| std::io::Error::other("TLS handshake timed out"))?
}

/// One HTTP/1.1 GET over an established connection.
async fn h1_get<S>(stream: S, host: &str, path: &str) -> Resp
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(conn);
    let req = Request::builder()
        .method("GET")
        .uri(path)
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    read(sender.send_request(req).await.expect("HTTP/1.1 request")).await
}

/// One HTTP/2 GET (`uri` absolute: its authority is the `:authority` pseudo-header).
async fn h2_get<S>(stream: S, uri: &str) -> Resp
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    let req = Request::builder()
        .method("GET")
        .uri(uri)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.expect("HTTP/2 request");
    assert_eq!(resp.version(), http::Version::HTTP_2);
    read(resp).await
}

#[tokio::test(flavor = "multi_thread")]
async fn https_picks_the_certificate_by_sni() {
    let (gw, a, b) = tls_gateway();
    assert_ne!(a.der, b.der);
    for (name, cert) in [("a.example.com", &a), ("b.example.com", &b)] {
        let tls = tls_connect(gw.https, name, &[&a.der, &b.der], &[b"http/1.1"])
            .await
            .unwrap_or_else(|e| panic!("handshake for {name}: {e}"));
        let (_, conn) = tls.get_ref();
        let presented = conn.peer_certificates().expect("a server certificate");
        assert_eq!(presented[0], cert.der, "certificate presented for {name}");
        assert_eq!(conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        let r = h1_get(tls, name, "/hello").await;
        assert_eq!(r.status, 200, "{name}: {:?} {}", r.code(), r.text());
        assert_eq!(r.text(), "hello from the mock");
        let id = r.header("x-ca-request-id").expect("X-Ca-Request-Id");
        assert_eq!(id.len(), 36, "{id}");
    }

    // Trusting only a's certificate, b's handshake fails verification: the SNI choice is real.
    let err = tls_connect(gw.https, "b.example.com", &[&a.der], &[])
        .await
        .expect_err("b presents its own certificate, not a's");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    // A name without a certificate gets no handshake at all.
    let err = tls_connect(gw.https, "c.example.com", &[&a.der, &b.der], &[])
        .await
        .expect_err("no certificate for c.example.com");
    assert!(
        err.to_string().contains("received fatal alert"),
        "the server refuses the handshake: {err}"
    );
    // The listener is still fine afterwards.
    let tls = tls_connect(gw.https, "a.example.com", &[&a.der], &[])
        .await
        .unwrap();
    assert_eq!(
        h1_get(tls, "a.example.com", "/hello").await.text(),
        "hello from the mock"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_over_tls_and_cleartext() {
    let (gw, a, _b) = tls_gateway();
    let tls = tls_connect(gw.https, "a.example.com", &[&a.der], &[b"h2", b"http/1.1"])
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let r = h2_get(tls, "https://a.example.com/hello").await;
    assert_eq!(r.status, 200, "{:?} {}", r.code(), r.text());
    assert_eq!(r.text(), "hello from the mock");
    assert!(r.header("x-ca-request-id").is_some());

    // The protocol check holds over HTTP/2 too.
    let tls = tls_connect(gw.https, "a.example.com", &[&a.der], &[b"h2"])
        .await
        .unwrap();
    let r = h2_get(tls, "https://a.example.com/plain-only").await;
    assert_eq!((r.status.as_u16(), r.code()), (403, Some("I403PT")));

    // h2c with prior knowledge on the plain port.
    let tcp = TcpStream::connect(gw.http).await.unwrap();
    let r = h2_get(tcp, "http://localhost/hello").await;
    assert_eq!(r.status, 200, "{:?} {}", r.code(), r.text());
    assert_eq!(r.text(), "hello from the mock");
    assert!(r.header("x-ca-request-id").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn request_protocol_is_enforced_over_tls() {
    let (gw, a, _b) = tls_gateway();
    let tls = tls_connect(gw.https, "a.example.com", &[&a.der], &[])
        .await
        .unwrap();
    let r = h1_get(tls, "a.example.com", "/plain-only").await;
    assert_eq!(
        (r.status.as_u16(), r.code(), r.message()),
        (
            403,
            Some("I403PT"),
            Some("Invalid protocol HTTPS unsupported")
        )
    );
    assert!(r.header("x-ca-request-id").is_some());

    let tls = tls_connect(gw.https, "a.example.com", &[&a.der], &[])
        .await
        .unwrap();
    let r = h1_get(tls, "a.example.com", "/tls-only").await;
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "tls only"));

    // And the other way round on the plain port.
    let r = get(gw.http, "a.example.com", "/plain-only").await;
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "plain only"));
    let r = get(gw.http, "a.example.com", "/tls-only").await;
    assert_eq!(
        (r.status.as_u16(), r.code(), r.message()),
        (
            403,
            Some("I403PT"),
            Some("Invalid protocol HTTP unsupported")
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_in_flight_requests_then_exits_cleanly() {
    let b = support::backend().await;
    let yaml = format!(
        r#"
Groups:
  - GroupName: slow_group
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: slow
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/slow/[ms]"}}
        ServiceConfig: {{ServiceAddress: "http://{b}", ServicePath: "/slow/[ms]", ServiceTimeout: 5000}}
        DeployTo: [RELEASE]
"#
    );
    let mut gw = Gateway::start(&yaml);
    let addr = gw.http;
    let started = Instant::now();
    let in_flight = tokio::spawn(async move { get(addr, "localhost", "/slow/1500").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!in_flight.is_finished());

    let (gw, status, stopped_after) = tokio::task::spawn_blocking(move || {
        let status: ExitStatus = gw.terminate();
        let elapsed = started.elapsed();
        (gw, status, elapsed)
    })
    .await
    .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the in-flight request finishes")
        .unwrap();
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (200, "slow done"),
        "{:?}",
        r.code()
    );
    assert!(
        stopped_after >= Duration::from_millis(1400),
        "the process waited for the request: stopped after {stopped_after:?}"
    );
    assert!(status.success(), "{status:?}");
    assert_eq!(status.code(), Some(0));

    let err = TcpStream::connect(gw.http)
        .await
        .expect_err("nothing listens after exit");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_keeps_configuration_and_deployments() {
    let b = support::backend().await;
    let yaml = format!(
        r#"
Groups:
  - GroupName: durable
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: echo
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/echo/[id]"}}
        ServiceConfig: {{ServiceAddress: "http://{b}", ServicePath: "/internal/[id]", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
      - ApiName: later
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /later}}
        ServiceConfig: {{Mock: "TRUE", MockResult: "deployed by hand"}}
"#
    );
    let gw = Gateway::start(&yaml);
    let before = get(gw.http, "localhost", "/echo/7?k=v").await;
    assert_eq!(before.status, 200);
    assert_eq!(before.json()["path"], "/internal/7");
    assert_eq!(before.json()["query"], "k=v");

    // `later` is only a draft in TEST until deployed with the CLI.
    let test = [("X-Ca-Stage", "TEST")];
    let r = support::send(gw.http, "GET", "localhost", "/later", &test, b"").await;
    assert_eq!((r.status.as_u16(), r.code()), (404, Some("I404NF")));
    let (ok, out) = gw.cli(&["deploy", "durable", "later", "TEST"]);
    assert!(ok, "{out}");
    eventually(|| async {
        support::send(gw.http, "GET", "localhost", "/later", &test, b"")
            .await
            .text()
            == "deployed by hand"
    })
    .await;
    let (_, listing_before) = gw.cli(&["apis"]);

    let old_port = gw.http;
    let dir = gw.stop();
    let gw = Gateway::start_in(dir);
    assert_ne!(gw.http, old_port, "a new process on a new port");
    let after = get(gw.http, "localhost", "/echo/7?k=v").await;
    assert_eq!(after.status, 200);
    assert_eq!(after.json()["path"], before.json()["path"]);
    assert_eq!(after.json()["query"], before.json()["query"]);
    let r = support::send(gw.http, "GET", "localhost", "/later", &test, b"").await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (200, "deployed by hand")
    );
    // Still not in RELEASE: the restart did not deploy anything new.
    let r = get(gw.http, "localhost", "/later").await;
    assert_eq!((r.status.as_u16(), r.code()), (404, Some("I404NF")));
    let (_, listing_after) = gw.cli(&["apis"]);
    assert_eq!(listing_after, listing_before);
}

/// Runs `apigw` with `args` (no `--data-dir` added), waiting at most `limit`.
fn run_bin(args: &[&str], limit: Duration) -> (ExitStatus, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("APIGW_LOG", "warn")
        .env("APIGW_ACCESS_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("apigw {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, out, err)
}

fn serve_args<'a>(listen: &'a str, data_dir: &'a Path) -> Vec<&'a str> {
    vec![
        "serve",
        "--listen",
        listen,
        "--tls-listen",
        "off",
        "--admin-listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]
}

#[test]
fn serve_on_a_taken_port_fails_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (status, _out, err) = run_bin(&serve_args(&addr, dir.path()), Duration::from_secs(5));
    assert!(!status.success(), "{status:?}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    let prefix = format!("error: cannot listen on {addr} (data plane):");
    assert!(
        err.starts_with(&prefix),
        "{err:?} should start with {prefix:?}"
    );
    drop(taken);
}

#[test]
fn serve_with_a_file_as_data_dir_fails_with_one_line() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let (status, _out, err) = run_bin(
        &serve_args("127.0.0.1:0", file.path()),
        Duration::from_secs(5),
    );
    assert!(!status.success(), "{status:?}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.starts_with("error: "), "{err:?}");
    assert!(err.contains("data directory"), "{err:?}");
    assert!(
        err.contains(file.path().to_str().unwrap()),
        "names the path: {err:?}"
    );
}

#[test]
fn version_is_the_package_version() {
    let (status, out, _err) = run_bin(&["--version"], Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        out.trim_end(),
        format!("apigw {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn apply_of_an_invalid_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
Groups:
  - GroupName: half_valid
    Domains: [{DomainName: localhost}]
    Apis:
      - ApiName: fine
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /fine}
        ServiceConfig: {Mock: "TRUE", MockResult: fine}
        DeployTo: [RELEASE]
      - ApiName: too_patient
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /patient}
        ServiceConfig: {ServiceAddress: "http://127.0.0.1:9", ServiceTimeout: 40000}
        DeployTo: [RELEASE]
"#;
    let err = support::apply(dir.path(), yaml).expect_err("ServiceTimeout 40000 is refused");
    assert!(err.contains("InvalidServiceTimeout"), "{err}");
    let (ok, listing) = support::cli(dir.path(), &["apis"]);
    assert!(ok, "{listing}");
    assert_eq!(listing.trim(), "", "nothing was stored");

    // The same file without the bad API applies (the error was the API, not the file).
    let fixed = yaml.replace("ServiceTimeout: 40000", "ServiceTimeout: 3000");
    support::apply(dir.path(), &fixed).expect("valid file");
    let (ok, listing) = support::cli(dir.path(), &["apis"]);
    assert!(ok, "{listing}");
    assert!(
        listing.contains("group half_valid") && listing.contains("too_patient"),
        "{listing}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_health_counts_deployed_apis_and_unsigned_management_calls_are_refused() {
    let yaml = r#"
Groups:
  - GroupName: group_one
    Domains: [{DomainName: localhost}]
    Apis:
      - ApiName: both_stages
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /one}
        ServiceConfig: {Mock: "TRUE", MockResult: one}
        DeployTo: [RELEASE, TEST]
      - ApiName: release_only
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /two}
        ServiceConfig: {Mock: "TRUE", MockResult: two}
        DeployTo: [RELEASE]
      - ApiName: draft
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /three}
        ServiceConfig: {Mock: "TRUE", MockResult: three}
  - GroupName: group_two
    Apis:
      - ApiName: pre_only
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /four}
        ServiceConfig: {Mock: "TRUE", MockResult: four}
        DeployTo: [PRE]
"#;
    let gw = Gateway::start(yaml);
    // (both_stages, RELEASE), (both_stages, TEST), (release_only, RELEASE), (pre_only, PRE).
    let health = get(gw.admin, "localhost", "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.text());
    assert!(
        health
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        health.header("content-type")
    );
    let json = health.json();
    assert_eq!(json["Status"], "ok", "{json}");
    assert_eq!(json["Apis"], 4, "{json}");

    let (ok, out) = gw.cli(&["deploy", "group_one", "draft", "PRE"]);
    assert!(ok, "{out}");
    eventually(|| async { get(gw.admin, "localhost", "/healthz").await.json()["Apis"] == 5 }).await;
    let (ok, out) = gw.cli(&["abolish", "group_one", "both_stages", "TEST"]);
    assert!(ok, "{out}");
    eventually(|| async { get(gw.admin, "localhost", "/healthz").await.json()["Apis"] == 4 }).await;

    // Anything else is the management API: an unsigned call is refused, in JSON.
    for path in ["/", "/nope", "/healthz/extra"] {
        let r = get(gw.admin, "localhost", path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        let json = r.json();
        assert_eq!(json["Code"], "MissingAccessKeyId", "{path}: {json}");
        let rid = json["RequestId"].as_str().expect("RequestId");
        assert!(!rid.is_empty(), "{path}: {json}");
    }
}

/// `apigw serve --demo`, as the README's quick start runs it: every API it seeds answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_answers_as_the_readme_says() {
    let gw = support::Gateway::start_with_args(tempfile::tempdir().unwrap(), &[], &["--demo"]);
    let get = |path: &'static str| support::get(gw.http, "localhost", path);
    let r = get("/hello").await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (200, r#"{"message":"Hello from apigw"}"#.to_string())
    );
    let r = get("/echo/world?greeting=hi").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("greeting=hi"), "{}", r.text());
    let r = get("/users/42?fields=full").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.text().to_ascii_lowercase();
    assert!(body.contains("/backend/echo/42"), "{body}");
    assert!(body.contains("x-fields") && body.contains("full"), "{body}");
    assert!(body.contains("x-env") && body.contains("demo"), "{body}");
    let r = get("/users/abc").await;
    assert_eq!((r.status.as_u16(), r.code()), (400, Some("I400IP")));
    let r = get("/users/42?fields=everything").await;
    assert_eq!(r.code(), Some("I400IP"));
    let r = get("/signed/me").await;
    assert_eq!(r.code(), Some("A400MA"));
    let code = [("Authorization", "APPCODE demo-appcode-0001")];
    let r = support::send(gw.http, "GET", "localhost", "/signed/me", &code, b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
}
