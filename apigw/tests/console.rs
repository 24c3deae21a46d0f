//! The web console (`/console` on the admin listener): its files and their headers, the debug
//! relay's refusals, and the whole console driven in a real browser (Debian's chromium, headless,
//! through playwright-core: `console/e2e/run.mjs`), against the real binary.

mod support;

use apigw_signature::mgmt::{format_timestamp, sign_v1};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::Request;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::process::Command;
use support::{read, repo_root, Gateway, Resp};

const AK: (&str, &str) = ("consoleid", "console-secret-0001");

fn start() -> Gateway {
    Gateway::start_in_with_env(
        tempfile::tempdir().unwrap(),
        &[
            ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
            ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
        ],
    )
}

async fn request(
    admin: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Resp {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{admin}{path}"));
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .expect("admin request");
    read(resp).await
}

fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    format_timestamp(secs)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `POST path` signed with V3 as the console signs it (written here from the spec, §4.2):
/// empty query, the body hashed, `content-type`, `host` and the `x-acs-*` headers signed.
async fn v3_post(
    admin: SocketAddr,
    path: &str,
    action: &str,
    secret: &str,
    content_type: &str,
    body: &[u8],
) -> Resp {
    let hashed = hex(&Sha256::digest(body));
    let mut headers = vec![
        ("content-type".to_string(), content_type.to_string()),
        ("host".to_string(), admin.to_string()),
        ("x-acs-action".to_string(), action.to_string()),
        ("x-acs-content-sha256".to_string(), hashed.clone()),
        ("x-acs-date".to_string(), now()),
        ("x-acs-signature-nonce".to_string(), support::nonce()),
        ("x-acs-version".to_string(), "2016-07-14".to_string()),
    ];
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed = names.join(";");
    let lines: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let canonical = format!("POST\n{path}\n\n{lines}\n{signed}\n{hashed}");
    let to_sign = format!(
        "ACS3-HMAC-SHA256\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    let signature = hex(&mac.finalize().into_bytes());
    headers.push((
        "authorization".to_string(),
        format!(
            "ACS3-HMAC-SHA256 Credential={},SignedHeaders={signed},Signature={signature}",
            AK.0
        ),
    ));
    request(admin, "POST", path, &headers, body.to_vec()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_files_come_with_a_strict_policy() {
    let gw = start();
    let page = request(gw.admin, "GET", "/console", &[], vec![]).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(page.text().contains("/console/js/main.js"));

    let script = request(gw.admin, "GET", "/console/js/mgmt.js", &[], vec![]).await;
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(script.text().contains("ACS3-HMAC-SHA256"));
    // No asset from the internet: nothing the page loads names another origin.
    for file in ["/console", "/console/js/main.js", "/console/console.css"] {
        let text = request(gw.admin, "GET", file, &[], vec![]).await.text();
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{file}"
        );
    }

    assert_eq!(
        request(gw.admin, "GET", "/console/nope.js", &[], vec![])
            .await
            .status,
        404
    );
    assert_eq!(
        request(gw.admin, "POST", "/console", &[], vec![])
            .await
            .status,
        405
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_takes_only_v3_signed_relay_calls() {
    let gw = start();
    let host = gw.admin.to_string();
    let body = br#"{"Method":"GET","Path":"/"}"#.to_vec();

    // Unsigned.
    let json = [("content-type".to_string(), "application/json".to_string())];
    let r = request(gw.admin, "POST", "/console/relay", &json, body.clone()).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["Code"].as_str()),
        (400, Some("MissingAccessKeyId"))
    );

    // V1 signs parameters only, never this JSON body.
    let v1 = sign_v1(
        AK.0,
        AK.1,
        &host,
        "ConsoleRelay",
        "2016-07-14",
        &[],
        &now(),
        &support::nonce(),
    );
    let mut headers = v1.headers.clone();
    headers.push(json[0].clone());
    let path = format!(
        "/console/relay{}",
        v1.path_and_query.trim_start_matches('/')
    );
    let r = request(gw.admin, "POST", &path, &headers, body.clone()).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["Code"].as_str()),
        (400, Some("IncompleteSignature"))
    );

    let code = |r: &Resp| {
        (
            r.status.as_u16(),
            r.json()["Code"].as_str().map(str::to_string),
        )
    };
    let refused = |c: &str| (400, Some(c.to_string()));

    // Signed for another action.
    let r = v3_post(
        gw.admin,
        "/console/relay",
        "DescribeApiGroups",
        AK.1,
        "application/json",
        &body,
    )
    .await;
    assert_eq!(code(&r), refused("InvalidAction.NotFound"), "{}", r.text());

    // A wrong secret.
    let r = v3_post(
        gw.admin,
        "/console/relay",
        "ConsoleRelay",
        "not-the-secret",
        "application/json",
        &body,
    )
    .await;
    assert_eq!(code(&r), refused("SignatureDoesNotMatch"));

    // Signed, but what it carries is not the relay's JSON.
    let r = v3_post(
        gw.admin,
        "/console/relay",
        "ConsoleRelay",
        AK.1,
        "application/json",
        b"Method=GET",
    )
    .await;
    assert_eq!(code(&r), refused("InvalidFormatRelayRequest"));

    // Only an origin-form path, to this node's data listener.
    let far = br#"{"Method":"GET","Path":"http://example.com/"}"#;
    let r = v3_post(
        gw.admin,
        "/console/relay",
        "ConsoleRelay",
        AK.1,
        "application/json",
        far,
    )
    .await;
    assert_eq!(code(&r), refused("InvalidPath"));

    // The same signature for the relay: what the data listener answered, as JSON.
    let r = v3_post(
        gw.admin,
        "/console/relay",
        "ConsoleRelay",
        AK.1,
        "application/json",
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    assert_eq!(answer["Status"], 404, "{answer}");
    let headers = answer["Headers"].as_array().unwrap();
    assert!(
        headers
            .iter()
            .any(|h| h[0] == "x-ca-error-code" && h[1] == "I404DO"),
        "{answer}"
    );
}

#[test]
fn the_console_in_a_real_browser() {
    let status = Command::new("bash")
        .arg(repo_root().join("console/e2e/setup.sh"))
        .status()
        .expect("run console/e2e/setup.sh");
    assert!(status.success(), "console/e2e/setup.sh failed");
    let gw = start();
    let shots = repo_root().join("target/console-shots");
    let out = Command::new("node")
        .arg(repo_root().join("console/e2e/run.mjs"))
        .arg(format!("http://{}", gw.admin))
        .arg(format!("http://{}", gw.http))
        .arg(&shots)
        .env("APIGW_CONSOLE_AK_ID", AK.0)
        .env("APIGW_CONSOLE_AK_SECRET", AK.1)
        .output()
        .expect("run node console/e2e/run.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser test failed (screenshots in {}):\n{stdout}\n{stderr}",
        shots.display()
    );
    assert!(stdout.contains("all steps passed"), "{stdout}");
}
