//! Test harness: runs the real `apigw` binary on ephemeral ports against a real backend
//! server started by the test, and talks to both over real sockets.
#![allow(dead_code)]

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub mod own_postgres;

pub const BIN: &str = env!("CARGO_BIN_EXE_apigw");

/// A TCP port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `apigw serve`.
pub struct Gateway {
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    /// Every line the process printed on stdout after the line saying where it listens
    /// (JSON log lines: the access log, ...).
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Every line it printed on stderr (each also written on the test's stderr, which the test
    /// harness shows when the test fails).
    pub stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Every line it printed on stdout up to that line (included).
    pub startup: Vec<String>,
    /// The threads reading its output (done once it exits).
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// The addresses in the line `apigw serve` writes on stdout once it serves, a JSON log line
/// with target `apigw::listening`: (http, https (`None` when off), admin); `None` for any other
/// line.
pub fn listening(line: &str) -> Option<(SocketAddr, Option<SocketAddr>, SocketAddr)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["target"] != "apigw::listening" {
        return None;
    }
    let addr = |k: &str| v[k].as_str().and_then(|a| a.parse().ok());
    Some((addr("http")?, addr("https"), addr("admin")?))
}

impl Gateway {
    /// Applies `yaml` to a fresh data directory and starts the gateway on it.
    pub fn start(yaml: &str) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        if !yaml.is_empty() {
            apply(dir.path(), yaml).expect("apply");
        }
        Gateway::start_in(dir)
    }

    /// Starts the gateway on an existing data directory.
    pub fn start_in(dir: tempfile::TempDir) -> Gateway {
        Gateway::start_in_with_env(dir, &[])
    }

    /// Starts the gateway on an existing data directory with extra environment.
    pub fn start_in_with_env(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Gateway {
        Gateway::start_with_args(dir, env, &[])
    }

    /// Starts `apigw serve` with extra environment and extra arguments (e.g. `--demo`).
    pub fn start_with_args(dir: tempfile::TempDir, env: &[(&str, &str)], args: &[&str]) -> Gateway {
        Gateway::start_with_nofile(dir, env, args, None)
    }

    /// Like [`Gateway::start_with_args`]; with `nofile`, the process starts with that soft and
    /// hard limit on open files (`RLIMIT_NOFILE`).
    pub fn start_with_nofile(
        dir: tempfile::TempDir,
        env: &[(&str, &str)],
        args: &[&str],
        nofile: Option<(u64, u64)>,
    ) -> Gateway {
        let mut gw = Gateway::spawn(dir.path(), env, args, nofile);
        gw.dir = dir;
        gw
    }

    /// Stops the process (SIGTERM) and waits for it and for the end of its output: (exit
    /// status, every line on stdout from the first, every line on stderr).
    pub fn finish(mut self) -> (std::process::ExitStatus, Vec<String>, Vec<String>) {
        let status = self.terminate();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        let mut stdout = std::mem::take(&mut self.startup);
        stdout.extend(self.stdout.lock().unwrap().drain(..));
        let stderr = self.stderr.lock().unwrap().clone();
        (status, stdout, stderr)
    }

    /// Another node on a data directory a first gateway owns (its `dir` is an empty one of
    /// its own: run `cli`/`apply` on the first).
    #[allow(dead_code)]
    pub fn start_node(data_dir: &Path, env: &[(&str, &str)]) -> Gateway {
        Gateway::spawn(data_dir, env, &[], None)
    }

    fn spawn(
        data_dir: &Path,
        env: &[(&str, &str)],
        args: &[&str],
        nofile: Option<(u64, u64)>,
    ) -> Gateway {
        let mut command = Command::new(BIN);
        if let Some((soft, hard)) = nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: only setrlimit (async-signal-safe) runs between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: soft as libc::rlim_t,
                        rlim_max: hard as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = with_serve_args(&mut command, data_dir)
            .args(args)
            .env("APIGW_RELOAD_POLL_MS", "50")
            .env("APIGW_WORKER_THREADS", "2")
            .env("APIGW_SHUTDOWN_TIMEOUT", "10")
            .env("APIGW_LOG", "warn")
            .env("APIGW_ACCESS_LOG", "off")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start apigw");
        // `echo`: each line also on the test's stderr (captured by the test harness: shown
        // with a failing test; the reading thread inherits the capture).
        let collect = |lines: Box<dyn Iterator<Item = std::io::Result<String>> + Send>,
                       echo: bool| {
            let all = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let sink = all.clone();
            let reader = std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    if echo {
                        eprintln!("apigw: {line}");
                    }
                    sink.lock().unwrap().push(line);
                }
            });
            (all, reader)
        };
        // Read from the start, so that stderr never fills its pipe.
        let stderr_lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (stderr, stderr_reader) = collect(Box::new(stderr_lines), true);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut startup = Vec::new();
        let (http, https, admin) = loop {
            let Some(line) = lines.next().map(Result::unwrap) else {
                let status = child.wait().unwrap();
                stderr_reader.join().unwrap();
                panic!(
                    "apigw exited before serving ({status}); stderr:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            };
            if let Some(addrs) = listening(&line) {
                startup.push(line);
                break addrs;
            }
            startup.push(line);
        };
        let (stdout, stdout_reader) = collect(Box::new(lines), false);
        let readers = vec![stderr_reader, stdout_reader];
        Gateway {
            http,
            https: https.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            admin,
            dir: tempfile::tempdir().unwrap(),
            child: Some(child),
            stdout,
            stderr,
            startup,
            readers,
        }
    }

    /// Starts a node of a cluster: `apigw serve` with its configuration in the PostgreSQL
    /// database at `store_url` (`APIGW_STORE_URL`), and extra environment.
    pub fn start_cluster_node(store_url: &str, env: &[(&str, &str)]) -> Gateway {
        let mut all = vec![("APIGW_STORE_URL", store_url)];
        all.extend_from_slice(env);
        Gateway::start_in_with_env(tempfile::tempdir().unwrap(), &all)
    }

    /// Runs an `apigw` command on this gateway's data directory.
    pub fn cli(&self, args: &[&str]) -> (bool, String) {
        cli(self.dir.path(), args)
    }

    /// Applies more configuration while the gateway runs.
    pub fn apply(&self, yaml: &str) {
        apply(self.dir.path(), yaml).expect("apply");
    }

    /// Sends SIGTERM and waits for the process; returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap()
    }

    /// Stops the process and hands back its data directory.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.terminate();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `apigw serve` on `data_dir` with every listener on an ephemeral loopback port.
pub fn serve_command(data_dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    with_serve_args(&mut command, data_dir);
    command
}

fn with_serve_args<'a>(command: &'a mut Command, data_dir: &Path) -> &'a mut Command {
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
}

pub fn cli(dir: &Path, args: &[&str]) -> (bool, String) {
    cli_env(dir, args, &[])
}

/// Runs an `apigw` command on a data directory with extra environment.
pub fn cli_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs an `apigw` command on the cluster store at `store_url` (`--store`).
pub fn cli_store(store_url: &str, args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut all = args.to_vec();
    all.extend(["--store", store_url]);
    cli(dir.path(), &all)
}

pub fn apply(dir: &Path, yaml: &str) -> Result<String, String> {
    let file: PathBuf = dir.join(format!("gateway-{}.yaml", fastrand_name()));
    std::fs::write(&file, yaml).unwrap();
    let (ok, text) = cli(dir, &["apply", "-f", file.to_str().unwrap()]);
    if ok {
        Ok(text)
    } else {
        Err(text)
    }
}

fn fastrand_name() -> u64 {
    fastrand::u64(..)
}

/// A response read fully.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
    pub fn code(&self) -> Option<&str> {
        self.header("x-ca-error-code")
    }
    pub fn message(&self) -> Option<&str> {
        self.header("x-ca-error-message")
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Sends a request to `addr` with the given Host header.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::copy_from_slice(body))).unwrap())
        .await
        .expect("request");
    read(resp).await
}

pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Resp {
    send(addr, "GET", host, path, &[], b"").await
}

pub async fn read(resp: Response<Incoming>) -> Resp {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// Writes raw bytes on a new connection and returns everything the server answered.
pub fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Polls until `check` holds (the gateway reloads changes made by other processes).
pub async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 5 s");
}

/// A backend server on an ephemeral port. Paths:
/// - `/slow/<ms>`: answers "slow done" after that many milliseconds;
/// - `/status/<code>`: answers that status with body `backend says <code>`;
/// - `/big/<n>?ct=<type>`: `n` bytes of `a` with that Content-Type;
/// - `/chunked/<n>?ct=<type>`: the same, streamed without Content-Length;
/// - anything else: a JSON echo of method, path, query, headers and body.
pub async fn backend() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service_fn(backend_handler))
                    .await;
            });
        }
    });
    addr
}

type BackendBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn backend_handler(req: Request<Incoming>) -> Result<Response<BackendBody>, Infallible> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let ct = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("ct="))
        .unwrap_or("text/plain")
        .replace("%2F", "/");
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (first, arg) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let full = |status: u16, ct: &str, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .header("content-type", ct)
            .body(Full::new(Bytes::from(body)).boxed())
            .unwrap()
    };
    Ok(match first {
        "slow" => {
            tokio::time::sleep(Duration::from_millis(arg.parse().unwrap_or(1000))).await;
            full(200, "text/plain", b"slow done".to_vec())
        }
        "status" => {
            let mut r = full(
                arg.parse().unwrap_or(500),
                "text/plain",
                format!("backend says {arg}").into_bytes(),
            );
            r.headers_mut().insert("x-backend", "yes".parse().unwrap());
            r
        }
        "big" => full(200, &ct, vec![b'a'; arg.parse().unwrap_or(0)]),
        "chunked" => {
            let n: usize = arg.parse().unwrap_or(0);
            let chunks: Vec<Result<Frame<Bytes>, Infallible>> = vec![b'a'; n]
                .chunks(1000)
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            let body = StreamBody::new(futures_util::stream::iter(chunks));
            Response::builder()
                .header("content-type", ct)
                .body(BodyExt::boxed(body))
                .unwrap()
        }
        _ => {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let headers: serde_json::Map<String, serde_json::Value> = parts
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect();
            let json = serde_json::json!({
                "method": parts.method.as_str(), "path": parts.uri.path(), "query": parts.uri.query().unwrap_or(""),
                "headers": headers, "body": String::from_utf8_lossy(&body),
                "body_b64": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &body),
            });
            full(200, "application/json", json.to_string().into_bytes())
        }
    })
}

impl Gateway {
    /// Like [`Gateway::start`], with extra environment for `apigw serve`.
    pub fn start_with_env(yaml: &str, env: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        apply(dir.path(), yaml).expect("apply");
        Gateway::start_in_with_env(dir, env)
    }
}

/// The repository root (the tests run in `apigw/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Signs with the independent reference implementation `sdk/reference_sign.py` (written from
/// the spec, not from our code). Returns (StringToSign, signature).
pub fn reference_sign(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(&str, &str)],
    form: Option<&str>,
    secret: &str,
    variants: &[&str],
) -> (String, String) {
    let input = serde_json::json!({
        "method": method, "path": path, "query": query,
        "headers": headers.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>(),
        "form": form, "secret": secret, "variants": variants,
    });
    let out = run_json(
        Command::new("python3").arg(repo_root().join("sdk/reference_sign.py")),
        &input,
    );
    (
        out["string_to_sign"].as_str().unwrap().to_string(),
        out["signature"].as_str().unwrap().to_string(),
    )
}

/// Runs a program with one JSON object on stdin and parses the JSON it prints.
pub fn run_json(cmd: &mut Command, input: &serde_json::Value) -> serde_json::Value {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .spawn()
        .expect("start program");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd.get_program(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Installs the official SDKs (`sdk/setup.sh`, idempotent) once per test process.
pub fn official_sdks() -> PathBuf {
    static READY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = repo_root().join("target/sdk");
            let status = Command::new("bash")
                .arg(repo_root().join("sdk/setup.sh"))
                .env("APIGW_SDK_DIR", &dir)
                .status()
                .expect("run sdk/setup.sh");
            assert!(status.success(), "sdk/setup.sh failed");
            dir
        })
        .clone()
}

/// Sends one request through an official SDK driver (`py` or `node`); returns its JSON report
/// `{status, headers, body}`.
pub fn sdk_call(driver: &str, input: serde_json::Value) -> serde_json::Value {
    let dir = official_sdks();
    let mut cmd = match driver {
        "py" => {
            let mut c = Command::new(dir.join("py/bin/python"));
            c.arg(repo_root().join("sdk/py_call.py"));
            c
        }
        "node" => {
            let mut c = Command::new("node");
            c.arg(repo_root().join("sdk/node_call.js"));
            c
        }
        other => panic!("no driver {other}"),
    };
    cmd.env("APIGW_SDK_DIR", &dir);
    run_json(&mut cmd, &input)
}

/// Milliseconds since the epoch, as `X-Ca-Timestamp` wants them.
/// `GET host path` signed for the app `key`/`secret` like the SDKs (HmacSHA256, the key, a
/// timestamp and `nonce` signed).
pub async fn signed_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
    (key, secret): (&str, &str),
    nonce: &str,
) -> Resp {
    let timestamp = now_ms();
    let headers = [
        ("X-Ca-Key", key),
        ("X-Ca-Timestamp", timestamp.as_str()),
        ("X-Ca-Nonce", nonce),
        (
            "X-Ca-Signature-Headers",
            "X-Ca-Key,X-Ca-Nonce,X-Ca-Timestamp",
        ),
    ];
    let (_, signature) = reference_sign("GET", path, None, &headers, None, secret, &[]);
    let mut all = headers.to_vec();
    all.push(("X-Ca-Signature", signature.as_str()));
    send(addr, "GET", host, path, &all, b"").await
}

pub fn now_ms() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string()
}

/// A fresh nonce.
pub fn nonce() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// Installs the official management SDKs (`sdk/mgmt-setup.sh`, idempotent) once per process.
pub fn management_sdks() -> PathBuf {
    static READY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = repo_root().join("target/sdk");
            let status = Command::new("bash")
                .arg(repo_root().join("sdk/mgmt-setup.sh"))
                .env("APIGW_SDK_DIR", &dir)
                .status()
                .expect("run sdk/mgmt-setup.sh");
            assert!(status.success(), "sdk/mgmt-setup.sh failed");
            dir
        })
        .clone()
}

/// Calls a management action through an official SDK (`client`: `tea` (V3 signature),
/// `tea-v1`, `legacy` (V1 over GET), `legacy-post`); returns the driver's report:
/// `{ok, status, body}` or `{ok: false, status, code, message, request_id}`.
pub fn mgmt_call(
    admin: SocketAddr,
    key: (&str, &str),
    client: &str,
    action: &str,
    params: serde_json::Value,
) -> serde_json::Value {
    let dir = management_sdks();
    let input = serde_json::json!({
        "endpoint": admin.to_string(), "access_key_id": key.0, "access_key_secret": key.1,
        "client": client, "action": action, "params": params,
    });
    let mut cmd = Command::new(dir.join("mgmt/bin/python"));
    cmd.arg(repo_root().join("sdk/mgmt_call.py"))
        .env("APIGW_SDK_DIR", &dir);
    run_json(&mut cmd, &input)
}

/// Calls a management action with apigw's own V3 signer (for tests that need many calls;
/// SDK compatibility is tested with the official SDKs in `mgmt.rs`). Returns (status, body).
pub async fn admin_call(
    admin: SocketAddr,
    key: (&str, &str),
    action: &str,
    params: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let nonce = format!("{:032x}", fastrand::u128(..));
    admin_call_with(admin, key, action, params, now, &nonce, "2016-07-14").await
}

/// Like [`admin_call`] with a chosen timestamp (seconds), nonce and version.
pub async fn admin_call_with(
    admin: SocketAddr,
    key: (&str, &str),
    action: &str,
    params: &[(&str, &str)],
    timestamp: i64,
    nonce: &str,
    version: &str,
) -> (u16, serde_json::Value) {
    use apigw_signature::mgmt::{format_timestamp, sign_v3};
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let call = sign_v3(
        key.0,
        key.1,
        &admin.to_string(),
        action,
        version,
        &params,
        &format_timestamp(timestamp),
        nonce,
    );
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut req = Request::builder()
        .method(call.method)
        .uri(format!("http://{admin}{}", call.path_and_query));
    for (k, v) in &call.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(call.body))).unwrap())
        .await
        .expect("admin request");
    let r = read(resp).await;
    (r.status.as_u16(), r.json())
}

/// One deployed (RELEASE) `GET` API of the declarative file, proxied to `backend` as is; for
/// building an `Apis:` list.
pub fn get_api_yaml(name: &str, path: &str, auth: &str, backend: SocketAddr) -> String {
    format!(
        r#"
      - ApiName: {name}
        AuthType: {auth}
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "{path}"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]"#
    )
}

/// The id of `group` and the id of each API by name, from `apigw apis`.
pub fn api_ids(gw: &Gateway, group: &str) -> (String, std::collections::BTreeMap<String, String>) {
    let (ok, out) = gw.cli(&["apis"]);
    assert!(ok, "{out}");
    let between = |l: &str| l.split(['(', ')']).nth(1).unwrap().to_string();
    let group = out
        .lines()
        .find(|l| l.starts_with(&format!("group {group} ")))
        .map(between)
        .unwrap_or_else(|| panic!("no group {group} in {out}"));
    let apis = out
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("api "))
        .map(|l| (l.split(' ').next().unwrap().to_string(), between(l)))
        .collect();
    (group, apis)
}

/// (status, code, message) of a management call an SDK driver reports as refused.
pub fn refused_call(out: &serde_json::Value) -> (u64, String, String) {
    assert_eq!(out["ok"], false, "{out}");
    (
        out["status"].as_u64().unwrap_or(0),
        out["code"].as_str().unwrap_or("").to_string(),
        out["message"].as_str().unwrap_or("").to_string(),
    )
}
