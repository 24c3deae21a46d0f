//! `apigw serve --config FILE`: a node's settings in a YAML file; the command line and the
//! environment win over it; an unknown setting is refused before anything starts.

mod support;

use support::{backend, get_api_yaml, send, Gateway};

const BODY: &[u8] = &[b'x'; 200];

/// A gateway with one POST API; `env` and `args` as given, the settings file holding
/// `max-body-bytes: 100` (and a snake_case name).
async fn start(env: &[(&str, &str)], extra: &[&str]) -> (Gateway, tempfile::NamedTempFile) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "max-body-bytes: 100\nshutdown_timeout: 5\ndefault-domain-daily-quota: 0\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let api = get_api_yaml("posted", "/posted", "ANONYMOUS", backend().await)
        .replace("RequestHttpMethod: GET", "RequestHttpMethod: POST");
    let yaml = format!(
        "Groups:\n  - GroupName: settings\n    Domains: [{{DomainName: localhost}}]\n    Apis:{api}\n"
    );
    support::apply(dir.path(), &yaml).expect("apply");
    let mut args = vec!["--config", file.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    (Gateway::start_with_args(dir, env, &args), file)
}

async fn post_status(gw: &Gateway) -> u16 {
    let r = send(gw.http, "POST", "localhost", "/posted", &[], BODY).await;
    r.status.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_file_applies_and_options_and_environment_win() {
    let (from_file, _f1) = start(&[], &[]).await;
    assert_eq!(
        post_status(&from_file).await,
        413,
        "the file's max-body-bytes: 100"
    );
    let (by_env, _f2) = start(&[("APIGW_MAX_BODY_BYTES", "1000")], &[]).await;
    assert_eq!(post_status(&by_env).await, 200, "the environment wins");
    let (by_flag, _f3) = start(&[], &["--max-body-bytes", "1000"]).await;
    assert_eq!(post_status(&by_flag).await, 200, "the option wins");
}

/// Runs `serve` with `--config file`; its exit code and stderr. A server that starts instead
/// of refusing is killed after 20 s (the test then fails rather than hangs).
fn refused(dir: &std::path::Path, file: &std::path::Path) -> (Option<i32>, String) {
    let mut child = support::serve_command(dir)
        .arg("--config")
        .arg(file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unknown_setting_is_refused_before_anything_starts() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "listen: 127.0.0.1:0\nmax-body-byte: 100\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = refused(dir.path(), file.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown setting `max-body-byte`"),
        "{stderr}"
    );
    let listed = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(listed.path(), "log: [a, b]\n").unwrap();
    let (code, stderr) = refused(dir.path(), listed.path());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("must be a single value"), "{stderr}");
}
