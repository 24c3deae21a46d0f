//! What `apigw serve` prints, run as a real process: stdout is JSON lines only (what a log
//! shipper reads), people's text goes to stderr, a generated root AccessKey never reaches the
//! log.

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
    let gw = Gateway::start_capturing(
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
    let gw = Gateway::start_capturing(dir, &all, &[]);
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
