//! The operator CLI against the real binary: `diff` and its exit codes, `apply --prune`,
//! `--output json` parsed back, `apply`/`diff`/`export` through the management API of a running
//! gateway (`--endpoint`), and an `https://` endpoint through a TLS-terminating proxy.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use support::Gateway;

const AK: (&str, &str) = ("cli-root-id", "cli-root-secret-0001");
const ENV: [(&str, &str); 2] = [
    ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
    ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
];

/// Runs `apigw args` with the root AccessKey in the environment (and nothing else that picks
/// a key): (exit code, stdout, stderr).
fn apigw(args: &[&str]) -> (i32, String, String) {
    apigw_env(args, &ENV)
}

fn apigw_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(support::BIN)
        .args(args)
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .env_remove("APIGW_ADMIN_ENDPOINT")
        .env_remove("APIGW_ADMIN_CA_FILE")
        .env_remove("APIGW_ROOT_ACCESS_KEY_ID")
        .env_remove("APIGW_ROOT_ACCESS_KEY_SECRET")
        .env("HOME", home.path())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not one JSON document ({e}): {text}"))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn mock_api(name: &str, path: &str, result: &str, deploy: &str) -> String {
    format!(
        r#"
      - ApiName: {name}
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "{path}"}}
        ServiceConfig: {{Mock: "TRUE", MockResult: "{result}"}}
        DeployTo: {deploy}"#
    )
}

/// `shop` with `a` (live in RELEASE) and `b` (a draft), `other` with `c` (a draft), an app
/// granted on `shop/api_b` and a plugin attached to `shop/api_b` in TEST (where `b` is not live).
fn first_file() -> String {
    format!(
        r#"
Groups:
  - GroupName: shop
    Apis:{a}{b}
  - GroupName: other
    Apis:{c}
Apps:
  - AppName: shop_app
    Authorizations: [{{GroupName: shop, ApiName: api_b, Stages: [RELEASE]}}]
Plugins:
  - PluginName: shop_cors
    PluginType: cors
    PluginData: '{{"allowOrigins": "*"}}'
    AttachTo: [{{GroupName: shop, ApiName: api_b, Stages: [TEST]}}]
"#,
        a = mock_api("api_a", "/a", "from a", "[RELEASE]"),
        b = mock_api("api_b", "/b", "from b", "[]"),
        c = mock_api("api_c", "/c", "from c", "[]"),
    )
}

/// The diff's lines (stdout), asserting its exit code.
fn diff(dir: &Path, file: &str, extra: &[&str], code: i32) -> String {
    let d = dir.to_str().unwrap();
    let mut args = vec!["diff", "-f", file, "--data-dir", d];
    args.extend_from_slice(extra);
    let (rc, out, err) = apigw(&args);
    assert_eq!(rc, code, "diff {extra:?}: {out}{err}");
    out
}

#[test]
fn diff_exit_codes_prune_and_json_output_on_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let d = dir.to_str().unwrap();
    let v1 = write(tmp.path(), "v1.yaml", &first_file());
    let (rc, out, err) = apigw(&["apply", "-f", &v1, "--data-dir", d]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("created group other"), "{out}");

    // Unchanged: exit 0, nothing printed; as JSON, Changed is false.
    assert_eq!(diff(&dir, &v1, &[], 0), "");
    assert_eq!(diff(&dir, &v1, &["--prune"], 0), "");
    let doc = json(&diff(&dir, &v1, &["--output", "json"], 0));
    assert_eq!(doc["Changed"], false);
    assert_eq!(doc["Changes"], serde_json::json!([]));

    // `api_b` changed and `other` gone from the file: without --prune only the update shows.
    let v2_text = first_file()
        .replace("RequestPath: \"/b\"", "RequestPath: \"/b2\"")
        .replace(
            &format!(
                "  - GroupName: other\n    Apis:{}",
                mock_api("api_c", "/c", "from c", "[]")
            ),
            "",
        );
    assert!(!v2_text.contains("other"));
    let v2 = write(tmp.path(), "v2.yaml", &v2_text);
    let out = diff(&dir, &v2, &[], 1);
    assert_eq!(out.trim(), "updated API shop/api_b", "{out}");
    let doc = json(&diff(&dir, &v2, &["--prune", "--output", "json"], 1));
    assert_eq!(doc["Changed"], true);
    let lines: Vec<&str> = doc["Changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(lines[0], "updated API shop/api_b", "{lines:?}");
    assert!(
        lines[1].starts_with("deleted API other/api_c ("),
        "{lines:?}"
    );
    assert!(lines[2].starts_with("deleted group other ("), "{lines:?}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    // A diff writes nothing.
    let groups = |dir: &Path| -> Vec<String> {
        let (rc, out, err) = apigw(&[
            "apis",
            "--output",
            "json",
            "--data-dir",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(rc, 0, "{err}");
        json(&out)["Groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["GroupName"].as_str().unwrap().to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    };
    assert_eq!(groups(&dir), ["other", "shop"]);

    let (rc, out, err) = apigw(&["apply", "--prune", "-f", &v2, "--data-dir", d]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("deleted group other"), "{out}");
    assert_eq!(groups(&dir), ["shop"]);
    assert_eq!(diff(&dir, &v2, &["--prune"], 0), "");

    // Dropping the live API `api_a`, the app and the plugin: refused while `a` is live, and the
    // refusal changes nothing.
    let v3_text = format!(
        "Groups:\n  - GroupName: shop\n    Apis:{}\n",
        mock_api("api_b", "/b2", "from b", "[]")
    );
    let v3 = write(tmp.path(), "v3.yaml", &v3_text);
    let (rc, out, err) = apigw(&["apply", "--prune", "-f", &v3, "--data-dir", d]);
    assert_eq!(rc, 1, "{out}{err}");
    assert!(err.contains("DependencyViolationApi"), "{err}");
    assert!(
        err.contains("shop/api_a") && err.contains("RELEASE"),
        "{err}"
    );
    assert!(diff(&dir, &v3, &["--prune"], 2).is_empty());
    let (_, apps, _) = apigw(&["app", "list", "--output", "json", "--data-dir", d]);
    let apps = json(&apps);
    assert_eq!(apps["Apps"][0]["AppName"], "shop_app");
    assert_eq!(apps["Apps"][0]["Authorizations"][0]["StageName"], "RELEASE");

    // The file says so: `api_a` is abolished, then deleted; the app and the plugin go too.
    let v4 = write(
        tmp.path(),
        "v4.yaml",
        &format!("PruneLive: true\n{v3_text}"),
    );
    let (rc, out, err) = apigw(&["apply", "--prune", "-f", &v4, "--data-dir", d]);
    assert_eq!(rc, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "abolished api_a from RELEASE", "{out}");
    assert!(lines[1].starts_with("deleted API shop/api_a ("), "{out}");
    assert!(lines[2].starts_with("deleted app shop_app ("), "{out}");
    assert_eq!(
        lines[3], "detached plugin shop_cors from shop/api_b in TEST",
        "{out}"
    );
    assert!(lines[4].starts_with("deleted plugin shop_cors ("), "{out}");
    assert_eq!(lines.len(), 5, "{out}");
    let (_, apps, _) = apigw(&["app", "list", "--output", "json", "--data-dir", d]);
    assert_eq!(json(&apps)["Apps"], serde_json::json!([]));

    // history and account list as JSON.
    let (rc, out, err) = apigw(&["deploy", "shop", "api_b", "TEST", "--data-dir", d]);
    assert_eq!(rc, 0, "{out}{err}");
    let (rc, out, _) = apigw(&[
        "history",
        "shop",
        "api_b",
        "--output",
        "json",
        "--data-dir",
        d,
    ]);
    assert_eq!(rc, 0);
    let h = json(&out);
    assert_eq!(h["ApiName"], "api_b");
    assert_eq!(h["Deployments"][0]["StageName"], "TEST");
    assert_eq!(h["Deployments"][0]["Status"], "ONLINE");
    let (rc, out, _) = apigw(&["account", "create", "--data-dir", d]);
    assert_eq!(rc, 0);
    let key_id = out.lines().nth(1).unwrap().split(' ').nth(1).unwrap();
    let (_, out, _) = apigw(&["account", "list", "--output", "json", "--data-dir", d]);
    let accounts = json(&out);
    assert_eq!(
        accounts["Accounts"][0]["AccessKeys"][0]["AccessKeyId"],
        key_id
    );
    assert_eq!(accounts["Accounts"][0]["Root"], false);

    // A file that does not parse: exit 2, nothing on stdout.
    let bad = write(
        tmp.path(),
        "bad.yaml",
        "Groups: [{GroupName: shop, Nope: 1}]\n",
    );
    let (rc, out, err) = apigw(&["diff", "-f", &bad, "--data-dir", d]);
    assert_eq!((rc, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("InvalidFormatFile"), "{err}");
}

/// A certificate for `shop.example.com` in files next to the YAML file.
fn shop_file(dir: &Path, result: &str) -> String {
    let ck = rcgen::generate_simple_self_signed(vec!["shop.example.com".to_string()]).unwrap();
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    std::fs::write(dir.join("certs/shop.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("certs/shop.key"), ck.signing_key.serialize_pem()).unwrap();
    let text = format!(
        r#"
Groups:
  - GroupName: remote_shop
    Domains:
      - DomainName: shop.example.com
        Certificate: {{CertificateName: shop, CertificateBodyFile: certs/shop.pem, CertificatePrivateKeyFile: certs/shop.key}}
    Apis:{}
"#,
        mock_api("hello", "/hello", result, "[RELEASE]")
    );
    write(dir, "shop.yaml", &text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_diff_and_export_through_the_management_api() {
    let gw = Gateway::start_in_with_env(tempfile::tempdir().unwrap(), &ENV);
    let endpoint = format!("http://{}", gw.admin);
    let files = tempfile::tempdir().unwrap();
    let file = shop_file(files.path(), "v1");
    let remote = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--endpoint", &endpoint]);
        apigw(&all)
    };
    assert_eq!(remote(&["diff", "-f", &file]).0, 1);
    let (rc, out, err) = remote(&["apply", "-f", &file]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("created group remote_shop"), "{out}");
    assert!(out.contains("deployed hello to RELEASE"), "{out}");
    // Live when the call returns, with the certificate read from the files by the CLI.
    let r = support::get(gw.http, "shop.example.com", "/hello").await;
    assert_eq!(r.text(), "v1");
    let (rc, out, err) = remote(&["diff", "-f", &file]);
    assert_eq!((rc, out.as_str()), (0, ""), "{err}");

    let (rc, out, err) = remote(&["export"]);
    assert_eq!(rc, 0, "{err}");
    let exported: Value = serde_norway::from_str(&out).unwrap();
    assert_eq!(exported["Groups"][0]["GroupName"], "remote_shop");
    let pem = std::fs::read_to_string(files.path().join("certs/shop.pem")).unwrap();
    assert_eq!(
        exported["Groups"][0]["Domains"][0]["Certificate"]["CertificateBody"],
        pem.as_str()
    );
    assert!(err.contains("private keys"), "{err}");
    // The export applies back as no change.
    let back = write(files.path(), "exported.yaml", &out);
    let (rc, out, err) = remote(&["diff", "--prune", "-f", &back]);
    assert_eq!((rc, out.as_str()), (0, ""), "{err}");

    // A change through the API is live at once; a prune of the live API is refused.
    let file = shop_file(files.path(), "v2");
    let (rc, out, err) = remote(&["apply", "-f", &file]);
    assert_eq!(rc, 0, "{out}{err}");
    assert_eq!(
        support::get(gw.http, "shop.example.com", "/hello")
            .await
            .text(),
        "v2"
    );
    let empty = write(files.path(), "empty.yaml", "Groups: []\n");
    let (rc, out, err) = remote(&["apply", "--prune", "-f", &empty]);
    assert_eq!(rc, 1, "{out}{err}");
    assert!(err.contains("DependencyViolationApi"), "{err}");
    let (rc, _, err) = remote(&["diff", "--prune", "-f", &empty]);
    assert_eq!(rc, 2, "{err}");

    // Only the root account may apply or export through the API.
    let (rc, out, _) = apigw(&[
        "account",
        "create",
        "--data-dir",
        gw.dir.path().to_str().unwrap(),
    ]);
    assert_eq!(rc, 0);
    let field = |n: usize| {
        out.lines()
            .nth(n)
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .to_string()
    };
    let (id, secret) = (field(1), field(2));
    let tenant = [
        ("APIGW_ROOT_ACCESS_KEY_ID", id.as_str()),
        ("APIGW_ROOT_ACCESS_KEY_SECRET", secret.as_str()),
    ];
    let (rc, _, err) = apigw_env(&["export", "--endpoint", &endpoint], &tenant);
    assert_eq!(rc, 1);
    assert!(err.contains("ForbiddenConfiguration"), "{err}");
    let (rc, _, err) = apigw_env(&["diff", "-f", &file, "--endpoint", &endpoint], &tenant);
    assert_eq!(rc, 2);
    assert!(err.contains("ForbiddenConfiguration"), "{err}");
}

/// A TLS-terminating proxy in front of `target` (as nginx would be in front of the admin
/// listener), on its own thread and runtime, with a self-signed certificate for `localhost`
/// and `127.0.0.1`. Returns its address and the certificate's PEM.
fn tls_proxy(target: std::net::SocketAddr) -> (std::net::SocketAddr, String) {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let pem = ck.cert.pem();
    let chain = vec![CertificateDer::from(ck.cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut upstream = tokio::net::TcpStream::connect(target).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
    });
    (addr, pem)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoints_through_a_tls_proxy() {
    let gw = Gateway::start_in_with_env(tempfile::tempdir().unwrap(), &ENV);
    let (proxy, pem) = tls_proxy(gw.admin);
    let files = tempfile::tempdir().unwrap();
    let ca = write(files.path(), "ca.pem", &pem);
    let endpoint = format!("https://127.0.0.1:{}", proxy.port());

    let (rc, out, err) = apigw(&[
        "admin",
        "CreateApiGroup",
        "--GroupName",
        "over_tls",
        "--endpoint",
        &endpoint,
        "--ca-file",
        &ca,
    ]);
    assert_eq!(rc, 0, "{out}{err}");
    assert_eq!(json(&out)["GroupName"], "over_tls");
    // The web PKI roots do not know the proxy's certificate.
    let (rc, out, err) = apigw(&["admin", "DescribeApiGroups", "--endpoint", &endpoint]);
    assert_eq!((rc, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("certificate"), "{err}");
    // The name checked is the endpoint's: `localhost` is in the certificate too.
    let by_name = format!("https://localhost:{}", proxy.port());
    let (rc, out, err) = apigw(&[
        "admin",
        "DescribeApiGroups",
        "--endpoint",
        &by_name,
        "--ca-file",
        &ca,
    ]);
    assert_eq!(rc, 0, "{out}{err}");
    let groups = json(&out)["ApiGroupAttributes"]["ApiGroupAttribute"].clone();
    assert_eq!(groups[0]["GroupName"], "over_tls");

    let file = shop_file(files.path(), "tls");
    let tls = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--endpoint", &endpoint, "--ca-file", &ca]);
        apigw(&all)
    };
    let (rc, out, err) = tls(&["apply", "-f", &file]);
    assert_eq!(rc, 0, "{out}{err}");
    assert_eq!(
        support::get(gw.http, "shop.example.com", "/hello")
            .await
            .text(),
        "tls"
    );
    assert_eq!(tls(&["diff", "-f", &file]).0, 0);
    let (rc, out, _) = tls(&["export"]);
    assert_eq!(rc, 0);
    assert!(out.contains("remote_shop"), "{out}");
}
