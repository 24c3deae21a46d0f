//! What `apigw serve` prints, run as a real process: stdout is JSON lines only (what a log
//! shipper reads), people's text goes to stderr, a generated root AccessKey never reaches the
//! log, and the access log can go to a file rotated by size.

mod support;

use serde_json::Value;
use support::own_postgres::OwnPostgres;
use support::{admin_call, get, listening, Gateway};

/// Every line parsed as a JSON object (panics naming the first that is not).
fn json_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a JSON line on stdout ({e}): {l:?}"));
            assert!(v.is_object(), "not a JSON object on stdout: {l:?}");
            v
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_carries_json_lines_only_and_people_read_stderr() {
    let gw = Gateway::start_with_args(
        tempfile::tempdir().unwrap(),
        &[("APIGW_LOG", "info"), ("APIGW_ACCESS_LOG", "stdout")],
        &["--demo", "--demo-backend-listen", "127.0.0.1:0"],
    );
    let (http, https, admin) = (gw.http, gw.https, gw.admin);
    let r = get(http, "localhost", "/hello").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let request_id = r.header("x-ca-request-id").unwrap().to_string();

    let (status, stdout, stderr) = gw.finish();
    assert!(status.success(), "{status:?}");
    let lines = json_lines(&stdout);
    // Where it listens: one JSON line with the addresses as fields.
    let said: Vec<_> = stdout.iter().filter_map(|l| listening(l)).collect();
    assert_eq!(said, [(http, Some(https), admin)], "{stdout:#?}");
    let serving = lines
        .iter()
        .find(|v| v["target"] == "apigw::listening")
        .unwrap();
    assert_eq!(serving["message"], "serving", "{serving}");
    assert_eq!(serving["level"], "INFO", "{serving}");
    // The request's access-log line, with its request id.
    let access: Vec<_> = lines
        .iter()
        .filter(|v| v["target"] == "apigw::access")
        .collect();
    assert_eq!(access.len(), 1, "{stdout:#?}");
    assert_eq!(
        access[0]["request_id"],
        request_id.as_str(),
        "{}",
        access[0]
    );
    assert_eq!(access[0]["path"], "/hello", "{}", access[0]);
    assert_eq!(access[0]["status"], 200, "{}", access[0]);
    // What people read is on stderr: the banner, the demo's hints, the root AccessKey.
    let stderr = stderr.join("\n");
    assert!(
        stderr.contains(&format!(" serving: data plane http://{http}")),
        "{stderr}"
    );
    assert!(stderr.contains("demo ready; try:"), "{stderr}");
    assert!(stderr.contains("root AccessKey created"), "{stderr}");
    let stdout = stdout.join("\n");
    for human in [
        "demo ready",
        "curl -i",
        "root AccessKey created",
        " serving: ",
    ] {
        assert!(!stdout.contains(human), "{human:?} on stdout:\n{stdout}");
    }
}

/// The pair `<data dir>/root-access-key.json` holds, after checking the file's mode.
fn root_key_file(dir: &std::path::Path) -> (String, String) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("root-access-key.json");
    let mode = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{}: mode {:o}", path.display(), mode);
    let key: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    (
        key["AccessKeyId"].as_str().unwrap().to_string(),
        key["AccessKeySecret"].as_str().unwrap().to_string(),
    )
}

/// Runs a node with no root key in its environment (in `dir`, with `env`) and checks what
/// becomes of the key it generates: the file holds a working pair, stderr shows it once and
/// says where the file is, stdout (the log) has no trace of it.
async fn generated_root_key_is_kept_and_never_logged(dir: tempfile::TempDir, env: &[(&str, &str)]) {
    let data_dir = dir.path().to_path_buf();
    let mut all = vec![("APIGW_LOG", "info"), ("APIGW_ACCESS_LOG", "stdout")];
    all.extend_from_slice(env);
    let gw = Gateway::start_with_args(dir, &all, &[]);
    let (id, secret) = root_key_file(&data_dir);
    assert!(id.starts_with("LTAI"), "{id}");
    assert!(secret.len() >= 16, "{secret}");
    let (status, body) = admin_call(gw.admin, (&id, &secret), "DescribeApiGroups", &[]).await;
    assert_eq!(status, 200, "{body}");

    let (_, stdout, stderr) = gw.finish();
    json_lines(&stdout);
    let stdout = stdout.join("\n");
    assert!(
        !stdout.contains(&secret),
        "the secret is in the log:\n{stdout}"
    );
    assert!(
        !stdout.contains(&id),
        "the AccessKeyId is in the log:\n{stdout}"
    );
    let shown: Vec<_> = stderr.iter().filter(|l| l.contains(&secret)).collect();
    assert_eq!(shown.len(), 1, "{stderr:#?}");
    assert!(shown[0].contains(&id), "{}", shown[0]);
    let file = data_dir.join("root-access-key.json");
    assert!(
        shown[0].contains(&file.display().to_string()),
        "the line does not say where the file is: {}",
        shown[0]
    );
    assert_eq!(stderr.join("\n").matches(&secret).count(), 1, "{stderr:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_root_key_is_shown_once_on_stderr_and_kept_in_a_private_file() {
    generated_root_key_is_kept_and_never_logged(tempfile::tempdir().unwrap(), &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_keeps_a_generated_root_key_in_its_data_directory() {
    let pg = OwnPostgres::start();
    let url = pg.url();
    generated_root_key_is_kept_and_never_logged(
        tempfile::tempdir().unwrap(),
        &[("APIGW_STORE_URL", &url)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_file_rotates_by_size_and_keeps_that_many() {
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("access.log");
    let gw = Gateway::start_with_args(
        tempfile::tempdir().unwrap(),
        &[
            ("APIGW_ACCESS_LOG", "stdout"),
            ("APIGW_ACCESS_LOG_FILE", file.to_str().unwrap()),
            ("APIGW_ACCESS_LOG_MAX_BYTES", "2000"),
            ("APIGW_ACCESS_LOG_KEEP", "3"),
        ],
        &[],
    );
    // Each line is a few hundred bytes: 60 requests fill many files of 2000 bytes.
    let mut ids = Vec::new();
    for i in 0..60 {
        let r = get(gw.http, "localhost", &format!("/nowhere/{i}")).await;
        assert_eq!(r.status, 404, "{}", r.text());
        ids.push(r.header("x-ca-request-id").unwrap().to_string());
    }
    let metrics = get(gw.admin, "localhost", "/metrics").await.text();
    assert!(
        metrics
            .lines()
            .any(|l| l == "# TYPE apigw_access_log_dropped_total counter"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "apigw_access_log_dropped_total 0"),
        "{metrics}"
    );
    let (status, stdout, _) = gw.finish();
    assert!(status.success(), "{status:?}");
    // Not on stdout: in the file.
    let on_stdout = json_lines(&stdout);
    assert!(
        on_stdout.iter().all(|v| v["target"] != "apigw::access"),
        "{stdout:#?}"
    );

    let mut names: Vec<String> = std::fs::read_dir(logs.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["access.log", "access.log.1", "access.log.2", "access.log.3"]
    );
    // Oldest first: .3, .2, .1, then the current file.
    let mut logged = Vec::new();
    for name in ["access.log.3", "access.log.2", "access.log.1", "access.log"] {
        let text = std::fs::read_to_string(logs.path().join(name)).unwrap();
        assert!(text.len() <= 2000, "{name}: {} bytes", text.len());
        assert!(!text.is_empty(), "{name} is empty");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {line}"));
            assert_eq!(v["target"], "apigw::access", "{line}");
            assert_eq!(v["status"], 404, "{line}");
            logged.push(v["request_id"].as_str().unwrap().to_string());
        }
    }
    // The files kept hold the newest requests, in order, none missing.
    assert!(logged.len() >= 4, "{logged:?}");
    assert!(
        logged.len() < ids.len(),
        "nothing was rotated away: {logged:?}"
    );
    assert_eq!(logged, ids[ids.len() - logged.len()..], "{logged:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_off_writes_no_file() {
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("access.log");
    let gw = Gateway::start_with_args(
        tempfile::tempdir().unwrap(),
        &[
            ("APIGW_ACCESS_LOG", "off"),
            ("APIGW_ACCESS_LOG_FILE", file.to_str().unwrap()),
        ],
        &[],
    );
    let r = get(gw.http, "localhost", "/nowhere").await;
    assert_eq!(r.status, 404, "{}", r.text());
    let (status, stdout, _) = gw.finish();
    assert!(status.success(), "{status:?}");
    assert!(!file.exists());
    assert!(json_lines(&stdout)
        .iter()
        .all(|v| v["target"] != "apigw::access"));
}
