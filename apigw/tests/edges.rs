//! Edges of the process and the wire: file modes of the data directory, ambiguous `Host`,
//! the HTTP version of the answer, half-closed clients, file descriptor limits.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
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
