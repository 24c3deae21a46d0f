//! `apigw call` against the real gateway, and what the gateway logs about signed calls.

mod support;

use std::process::Command;
use support::{Gateway, BIN};

const SECRET: &str = "call-secret-0001";

fn config(backend: std::net::SocketAddr) -> String {
    format!(
        r#"
Groups:
  - GroupName: calls
    Domains: [{{DomainName: localhost}}, {{DomainName: 127.0.0.1}}]
    Apis:
      - ApiName: echo
        AllowSignatureMethod: HmacSHA1,HmacSHA256
        RequestConfig: {{RequestHttpMethod: ANY, RequestPath: "/echo/[name]"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE, TEST]
Apps:
  - AppName: call_app
    Keys: [{{AppKey: call-key, AppSecret: "{SECRET}"}}]
    AppCodes: [call-code-000001]
    Authorizations:
      - {{GroupName: calls, ApiName: echo, Stages: [RELEASE, TEST]}}
"#
    )
}

fn call(gw: &Gateway, secret: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("call")
        .args(["--url", &format!("http://127.0.0.1:{}", gw.http.port())])
        .args(args)
        .env("APIGW_APP_KEY", "call-key")
        .env("APIGW_APP_SECRET", secret)
        .env_remove("APIGW_APP_CODE")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apigw_call_signs_like_the_sdks() {
    let backend = support::backend().await;
    let gw = Gateway::start_with_env(&config(backend), &[("APIGW_ACCESS_LOG", "stdout")]);

    let (ok, out, err) = call(
        &gw,
        SECRET,
        &["/echo/world", "-q", "q=a b", "-q", "城市=杭州"],
    );
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(
        out.to_ascii_lowercase().contains("x-ca-request-id:"),
        "{out}"
    );
    assert!(out.contains("\"path\":\"/echo/world\""), "{out}");

    let (ok, out, err) = call(
        &gw,
        SECRET,
        &[
            "-X",
            "POST",
            "/echo/form",
            "--form",
            "a=1",
            "--form",
            "b=two words",
            "--stage",
            "test",
            "--sha1",
        ],
    );
    assert!(ok, "{out}{err}");
    let (ok, out, err) = call(&gw, SECRET, &["/echo/json", "--json", r#"{"id":7}"#]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(r#"\"id\":7"#), "{out}");
    let (ok, out, err) = call(
        &gw,
        SECRET,
        &[
            "/echo/hdr",
            "-H",
            "X-Trace: t-1",
            "--sign-header",
            "X-Trace",
        ],
    );
    assert!(ok, "{out}{err}");

    // A wrong secret: exit status 1, the server's and the client's StringToSign side by side.
    let (ok, out, err) = call(&gw, "not-the-secret", &["/echo/wrong"]);
    assert!(!ok);
    assert!(out.contains("A403IS"), "{out}");
    let server = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("server StringToSign: "))
        .expect("server line");
    let client = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("client StringToSign: "))
        .expect("client line");
    assert_eq!(server, client, "same string, different secret");

    // AppCode instead of a signature.
    let out = Command::new(BIN)
        .args([
            "call",
            "--url",
            &format!("http://127.0.0.1:{}", gw.http.port()),
        ])
        .args(["/echo/code", "--app-code", "call-code-000001"])
        .env_remove("APIGW_APP_KEY")
        .env_remove("APIGW_APP_SECRET")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The access log names the app, never its secret.
    support::eventually(|| async { gw.stdout.lock().unwrap().len() >= 6 }).await;
    let logs = gw.stdout.lock().unwrap().join("\n");
    assert!(logs.contains("\"app_id\":"), "{logs}");
    assert!(!logs.contains(SECRET), "the secret leaked into the log");
}
