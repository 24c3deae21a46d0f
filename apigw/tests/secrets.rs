//! Secrets at rest against the real binary: with `APIGW_MASTER_KEY` no AccessKey secret, app
//! secret, AppCode, TLS private key or plugin secret is in the data directory, and everything
//! still works after a restart; a plain data directory is sealed when the gateway starts with
//! a key; a wrong or missing key is refused with the key id; rotation with
//! `APIGW_MASTER_KEY_PREVIOUS`; and the same sealing on a cluster's PostgreSQL store (no
//! secret in any row of the database).

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};
use sha2::Digest;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{admin_call, cli_env, Gateway, BIN};

const AK: (&str, &str) = ("sealed-root-id", "RootSecretNeverOnDisk-0001");
const YAML_SECRET: &str = "YamlAppSecret-NeverOnDisk-17";
const YAML_CODE: &str = "YamlAppCodeNeverOnDisk17";
const APP_SECRET: &str = "MgmtAppSecret-NeverOnDisk-42";
const NEW_APP_SECRET: &str = "MgmtAppSecret-Rotated-Never-43";
const APP_CODE: &str = "MgmtAppCodeNeverOnDisk42";
const PLUGIN_SECRET: &str = "PluginSecretNeverOnDisk-99";
const SECURE_HOST: &str = "secure.example.com";

const YAML: &str = r#"
Groups:
  - GroupName: sealed
    Domains: [{DomainName: localhost}, {DomainName: 127.0.0.1}]
    Apis:
      - ApiName: sealed_api
        AuthType: APP
        RequestConfig: {RequestProtocol: "HTTP,HTTPS", RequestHttpMethod: GET, RequestPath: /sealed}
        ServiceConfig: {Mock: "TRUE", MockResult: "sealed ok"}
        DeployTo: [RELEASE]
Apps:
  - AppName: yaml_app
    Keys: [{AppKey: yaml-key, AppSecret: "YamlAppSecret-NeverOnDisk-17"}]
    AppCodes: [YamlAppCodeNeverOnDisk17]
    Authorizations:
      - {GroupName: sealed, ApiName: sealed_api, Stages: [RELEASE]}
"#;

/// A master key as 64 hex digits, different per seed.
fn key_hex(seed: u8) -> String {
    (0..32u8)
        .map(|i| format!("{:02x}", seed.wrapping_mul(97).wrapping_add(i * 7)))
        .collect()
}

/// The id apigw gives a key: the first 8 hex digits of its SHA-256.
fn key_id(hex: &str) -> String {
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    sha2::Sha256::digest(&bytes)
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn root_env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
        ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
    ];
    env.extend_from_slice(extra);
    env
}

/// Applies [`YAML`] from a file outside the data directory (which must hold no plain secret).
fn apply(dir: &Path, env: &[(&str, &str)]) {
    let elsewhere = tempfile::tempdir().unwrap();
    let file = elsewhere.path().join("gateway.yaml");
    std::fs::write(&file, YAML).unwrap();
    let (ok, out) = cli_env(dir, &["apply", "-f", file.to_str().unwrap()], env);
    assert!(ok, "{out}");
}

/// The secrets among `secrets` found in any file of the data directory.
fn plain_in<'a>(dir: &Path, secrets: &[&'a str]) -> Vec<&'a str> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    secrets
        .iter()
        .copied()
        .filter(|s| bytes.windows(s.len()).any(|w| w == s.as_bytes()))
        .collect()
}

/// `apigw call` on the gateway's `/sealed` with an AppKey and secret, or an AppCode.
fn call(gw: &Gateway, auth: &[(&str, &str)]) -> String {
    let out = Command::new(BIN)
        .args([
            "call",
            "--url",
            &format!("http://127.0.0.1:{}", gw.http.port()),
            "/sealed",
        ])
        .env_remove("APIGW_APP_KEY")
        .env_remove("APIGW_APP_SECRET")
        .env_remove("APIGW_APP_CODE")
        .envs(auth.iter().copied())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_signed_calls_work(gw: &Gateway, app_secrets: &[&str]) {
    let out = call(
        gw,
        &[
            ("APIGW_APP_KEY", "yaml-key"),
            ("APIGW_APP_SECRET", YAML_SECRET),
        ],
    );
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("sealed ok"), "{out}");
    let out = call(gw, &[("APIGW_APP_CODE", YAML_CODE)]);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    for secret in app_secrets {
        let out = call(
            gw,
            &[("APIGW_APP_KEY", "mgmt-key"), ("APIGW_APP_SECRET", secret)],
        );
        assert!(out.starts_with("HTTP/1.1 200"), "{secret}: {out}");
    }
    let out = call(
        gw,
        &[
            ("APIGW_APP_KEY", "yaml-key"),
            ("APIGW_APP_SECRET", "wrong-secret-0000"),
        ],
    );
    assert!(out.contains("A403IS"), "a wrong secret is refused: {out}");
}

/// Runs `apigw serve` on `dir`, expecting it to refuse to start; its stderr.
fn serve_refused(dir: &Path, env: &[(&str, &str)]) -> String {
    let mut child = support::serve_command(dir)
        .env("APIGW_LOG", "warn")
        .env("APIGW_ACCESS_LOG", "off")
        .env_remove("APIGW_MASTER_KEY")
        .env_remove("APIGW_MASTER_KEY_FILE")
        .env_remove("APIGW_MASTER_KEY_PREVIOUS")
        .env_remove("APIGW_MASTER_KEY_PREVIOUS_FILE")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("apigw serve started although it should have refused to");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    stderr
}

/// Starts `apigw serve` on `dir` (log level info) and stops it once it serves: the lines it
/// printed on stdout before the one saying where it listens.
fn startup_lines(dir: &Path, env: &[(&str, &str)]) -> Vec<String> {
    use std::io::BufRead;
    let mut child = support::serve_command(dir)
        .env("APIGW_LOG", "info")
        .env("APIGW_ACCESS_LOG", "off")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if support::listening(&line).is_some() {
            break;
        }
        lines.push(line);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    lines
}

/// A self-signed certificate for `name`: (DER, PEM, private key PEM).
fn self_signed(name: &str) -> (CertificateDer<'static>, String, String) {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    (
        ck.cert.der().clone(),
        ck.cert.pem(),
        ck.signing_key.serialize_pem(),
    )
}

/// The first line of a PEM block's base64 body: what identifies the key in the file's bytes
/// (a JSON document writes the line breaks as `\n`).
fn pem_body(pem: &str) -> String {
    let line = pem.lines().find(|l| !l.starts_with("-----")).unwrap();
    assert!(line.len() >= 40, "{pem}");
    line.to_string()
}

/// A TLS handshake with SNI `name` trusting only `root`, then `GET /sealed`: the status.
async fn https_status(addr: SocketAddr, name: &str, root: &CertificateDer<'static>) -> u16 {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let tls = tokio::time::timeout(Duration::from_secs(5), connector.connect(server_name, tcp))
        .await
        .expect("TLS handshake timed out")
        .expect("TLS handshake with the stored certificate and key");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::builder()
        .uri("/sealed")
        .header("host", name)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    support::read(resp).await.status.as_u16()
}

async fn ok(
    gw: &Gateway,
    key: (&str, &str),
    action: &str,
    params: &[(&str, &str)],
) -> serde_json::Value {
    let (status, body) = admin_call(gw.admin, key, action, params).await;
    assert_eq!(status, 200, "{action}: {body}");
    body
}

/// Creates through the management API: an app with a chosen secret and AppCode (then resets
/// the secret, so the previous one is kept for its grace period), its grant, a domain with a
/// certificate, a `backendSignature` plugin. Returns the certificate and its key PEM.
async fn create_secrets(gw: &Gateway) -> (CertificateDer<'static>, String) {
    let apis = ok(gw, AK, "DescribeApis", &[("ApiName", "sealed_api")]).await;
    let api = &apis["ApiSummarys"]["ApiSummary"][0];
    let (api_id, group_id) = (
        api["ApiId"].as_str().unwrap().to_string(),
        api["GroupId"].as_str().unwrap().to_string(),
    );
    let app = ok(
        gw,
        AK,
        "CreateApp",
        &[
            ("AppName", "mgmt_app"),
            ("AppKey", "mgmt-key"),
            ("AppSecret", APP_SECRET),
            ("AppCode", APP_CODE),
        ],
    )
    .await;
    let app_id = app["AppId"].as_i64().unwrap().to_string();
    ok(
        gw,
        AK,
        "SetAppsAuthorities",
        &[
            ("ApiId", &api_id),
            ("StageName", "RELEASE"),
            ("AppIds", &app_id),
        ],
    )
    .await;
    ok(
        gw,
        AK,
        "ResetAppSecret",
        &[("AppKey", "mgmt-key"), ("NewAppSecret", NEW_APP_SECRET)],
    )
    .await;
    let (der, pem, key) = self_signed(SECURE_HOST);
    ok(
        gw,
        AK,
        "SetDomain",
        &[("GroupId", &group_id), ("DomainName", SECURE_HOST)],
    )
    .await;
    ok(
        gw,
        AK,
        "SetDomainCertificate",
        &[
            ("GroupId", &group_id),
            ("DomainName", SECURE_HOST),
            ("CertificateName", "secure"),
            ("CertificateBody", &pem),
            ("CertificatePrivateKey", &key),
        ],
    )
    .await;
    let data = format!("type: APIGW_BACKEND\nkey: sign-key\nsecret: {PLUGIN_SECRET}\n");
    ok(
        gw,
        AK,
        "CreatePlugin",
        &[
            ("PluginName", "sign_backend"),
            ("PluginType", "backendSignature"),
            ("PluginData", &data),
        ],
    )
    .await;
    (der, key)
}

/// Runs `apigw account create` and returns the new key.
fn create_account(dir: &Path, env: &[(&str, &str)]) -> (String, String) {
    let (ok, out) = cli_env(dir, &["account", "create"], env);
    assert!(ok, "{out}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().next().unwrap().to_string())
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    (field("AccessKeyId "), field("AccessKeySecret "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_master_key_the_data_directory_holds_no_secret_and_everything_works() {
    let key = key_hex(1);
    let with_key = [("APIGW_MASTER_KEY", key.as_str())];
    let dir = tempfile::tempdir().unwrap();
    apply(dir.path(), &with_key);
    let gw = Gateway::start_in_with_env(dir, &root_env(&with_key));
    let account = create_account(gw.dir.path(), &with_key);
    let account = (account.0.as_str(), account.1.as_str());
    let (cert, private_key) = create_secrets(&gw).await;
    assert_signed_calls_work(&gw, &[NEW_APP_SECRET, APP_SECRET]);
    ok(&gw, account, "DescribeApiGroups", &[]).await;
    let secrets = [
        AK.1,
        account.1,
        YAML_SECRET,
        YAML_CODE,
        APP_SECRET,
        NEW_APP_SECRET,
        APP_CODE,
        &pem_body(&private_key),
        PLUGIN_SECRET,
    ];
    // Not even while it runs (database, write-ahead log).
    assert_eq!(plain_in(gw.dir.path(), &secrets), Vec::<&str>::new());
    let dir = gw.stop();
    assert_eq!(plain_in(dir.path(), &secrets), Vec::<&str>::new());
    let raw =
        String::from_utf8_lossy(&std::fs::read(dir.path().join("apigw.db")).unwrap()).into_owned();
    assert!(raw.contains(&format!("enc:v1:{}:", key_id(&key))));

    // Restarted with the key: the secrets open (signatures, AppCodes, AccessKeys, TLS).
    let gw = Gateway::start_in_with_env(dir, &root_env(&with_key));
    assert_signed_calls_work(&gw, &[NEW_APP_SECRET, APP_SECRET]);
    ok(&gw, account, "DescribeApiGroups", &[]).await;
    let plugins = ok(&gw, AK, "DescribePlugins", &[]).await;
    assert!(
        plugins.to_string().contains(PLUGIN_SECRET),
        "DescribePlugins returns the document as written: {plugins}"
    );
    assert_eq!(https_status(gw.https, SECURE_HOST, &cert).await, 400);
    let dir = gw.stop();

    // Another key, or none: refused with the id of the key that sealed them.
    let other = key_hex(2);
    for env in [vec![("APIGW_MASTER_KEY", other.as_str())], vec![]] {
        let err = serve_refused(dir.path(), &root_env(&env));
        assert!(err.contains(&key_id(&key)), "{err}");
        assert!(err.contains("APIGW_MASTER_KEY"), "{err}");
    }
    // So are the CLI commands that open the store; with the key they work.
    let (ok_, out) = cli_env(dir.path(), &["apis"], &[]);
    assert!(!ok_ && out.contains(&key_id(&key)), "{out}");
    let (ok_, out) = cli_env(dir.path(), &["apis"], &with_key);
    assert!(ok_ && out.contains("sealed_api"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_data_directory_is_sealed_when_the_gateway_starts_with_a_key() {
    let dir = tempfile::tempdir().unwrap();
    apply(dir.path(), &[]);
    let lines = startup_lines(dir.path(), &root_env(&[])).join("\n");
    assert!(
        lines.contains("stored unencrypted") && lines.contains("APIGW_MASTER_KEY"),
        "{lines}"
    );
    let gw = Gateway::start_in_with_env(dir, &root_env(&[]));
    assert_signed_calls_work(&gw, &[]);
    let dir = gw.stop();
    let secrets = [AK.1, YAML_SECRET, YAML_CODE];
    assert_eq!(
        plain_in(dir.path(), &secrets),
        secrets.to_vec(),
        "without a key secrets are plain, as before"
    );

    let key = key_hex(3);
    let with_key = [("APIGW_MASTER_KEY", key.as_str())];
    let lines = startup_lines(dir.path(), &root_env(&with_key)).join("\n");
    let id = key_id(&key);
    assert!(
        lines.contains(&format!(
            "sealed 3 plain secret(s) in the store with master key id {id}"
        )),
        "{lines}"
    );
    assert!(
        lines.contains(&format!(
            "sealed (XChaCha20-Poly1305) with master key id {id}"
        )),
        "{lines}"
    );
    assert_eq!(plain_in(dir.path(), &secrets), Vec::<&str>::new());
    let gw = Gateway::start_in_with_env(dir, &root_env(&with_key));
    assert_signed_calls_work(&gw, &[]);
    assert_eq!(plain_in(gw.dir.path(), &secrets), Vec::<&str>::new());
    let dir = gw.stop();
    assert_eq!(plain_in(dir.path(), &secrets), Vec::<&str>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_master_key_with_the_previous_one() {
    let (old, new) = (key_hex(4), key_hex(5));
    let dir = tempfile::tempdir().unwrap();
    apply(dir.path(), &[("APIGW_MASTER_KEY", old.as_str())]);

    // The new key from a file, the old one as the previous key.
    let keys = tempfile::tempdir().unwrap();
    let file = keys.path().join("master.key");
    std::fs::write(&file, format!("{new}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let rotate = [
        ("APIGW_MASTER_KEY_FILE", file.to_str().unwrap()),
        ("APIGW_MASTER_KEY_PREVIOUS", old.as_str()),
    ];
    let gw = Gateway::start_in_with_env(dir, &root_env(&rotate));
    assert_signed_calls_work(&gw, &[]);
    let dir = gw.stop();
    let raw =
        String::from_utf8_lossy(&std::fs::read(dir.path().join("apigw.db")).unwrap()).into_owned();
    assert!(!raw.contains(&format!("enc:v1:{}:", key_id(&old))));
    assert!(raw.contains(&format!("enc:v1:{}:", key_id(&new))));

    // The old key alone is refused now, naming the new key's id.
    let err = serve_refused(dir.path(), &root_env(&[("APIGW_MASTER_KEY", old.as_str())]));
    assert!(err.contains(&key_id(&new)), "{err}");
    assert!(err.contains("APIGW_MASTER_KEY_PREVIOUS"), "{err}");
    // The new key alone is enough.
    let gw = Gateway::start_in_with_env(dir, &root_env(&[("APIGW_MASTER_KEY", new.as_str())]));
    assert_signed_calls_work(&gw, &[]);
    let dir = gw.stop();

    // A key file others may read is used, with a warning.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok_, out) = cli_env(
        dir.path(),
        &["apis"],
        &[("APIGW_MASTER_KEY_FILE", file.to_str().unwrap())],
    );
    assert!(ok_ && out.contains("sealed_api"), "{out}");
    assert!(
        out.contains("warning: APIGW_MASTER_KEY_FILE") && out.contains("mode 0644"),
        "{out}"
    );

    // Keys that are not keys are refused before anything is opened.
    let file_str = file.to_str().unwrap();
    let b64_of_16_bytes = "AAECAwQFBgcICQoLDA0ODw==";
    for (env, says) in [
        (
            vec![("APIGW_MASTER_KEY", "not-a-key")],
            "APIGW_MASTER_KEY must be 32 bytes",
        ),
        (
            vec![("APIGW_MASTER_KEY", b64_of_16_bytes)],
            "must be 32 bytes",
        ),
        (vec![("APIGW_MASTER_KEY", "")], "APIGW_MASTER_KEY is empty"),
        (
            vec![
                ("APIGW_MASTER_KEY", new.as_str()),
                ("APIGW_MASTER_KEY_FILE", file_str),
            ],
            "not both",
        ),
        (
            vec![("APIGW_MASTER_KEY_FILE", "/nonexistent/master.key")],
            "cannot read /nonexistent/master.key",
        ),
        (
            vec![
                ("APIGW_MASTER_KEY", new.as_str()),
                ("APIGW_MASTER_KEY_PREVIOUS", "short"),
            ],
            "APIGW_MASTER_KEY_PREVIOUS must be 32 bytes",
        ),
    ] {
        let err = serve_refused(dir.path(), &root_env(&env));
        assert!(err.contains(says), "{env:?}: {err}");
        assert!(!err.contains(&new), "the key is never printed: {err}");
    }
}

/// Every row of every table of the database at `url`, as text.
async fn database_rows(url: &str) -> String {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tables.iter().any(|t| t == "apps"), "{tables:?}");
    let mut out = String::new();
    for t in tables {
        for row in client
            .query(&format!("SELECT x::text FROM {t} x"), &[])
            .await
            .unwrap()
        {
            out.push_str(row.get::<_, &str>(0));
            out.push('\n');
        }
    }
    out
}

/// The PostgreSQL store of a cluster seals the same secrets: with `APIGW_MASTER_KEY` on the CLI
/// and on two nodes, no secret is in any row of the database, and signed calls, AppCodes,
/// AccessKeys and TLS work on both nodes; a node without the key is refused, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_on_postgresql_keeps_no_plain_secret_in_the_database() {
    let db = apigw_store::TestDatabase::create();
    let key = key_hex(6);
    let with_key = [("APIGW_MASTER_KEY", key.as_str())];
    let mut store_env = with_key.to_vec();
    store_env.push(("APIGW_STORE_URL", db.url()));
    let elsewhere = tempfile::tempdir().unwrap();
    apply(elsewhere.path(), &store_env);
    let a = Gateway::start_cluster_node(db.url(), &root_env(&with_key));
    let (cert, private_key) = create_secrets(&a).await;
    let b = Gateway::start_cluster_node(db.url(), &root_env(&with_key));
    for gw in [&a, &b] {
        assert_signed_calls_work(gw, &[NEW_APP_SECRET, APP_SECRET]);
        ok(gw, AK, "DescribeApiGroups", &[]).await;
        assert_eq!(https_status(gw.https, SECURE_HOST, &cert).await, 400);
    }
    let rows = database_rows(db.url()).await;
    let secrets = [
        AK.1,
        YAML_SECRET,
        YAML_CODE,
        APP_SECRET,
        NEW_APP_SECRET,
        APP_CODE,
        &pem_body(&private_key),
        PLUGIN_SECRET,
    ];
    let plain: Vec<&str> = secrets
        .iter()
        .copied()
        .filter(|s| rows.contains(s))
        .collect();
    assert_eq!(plain, Vec::<&str>::new());
    assert!(rows.contains(&format!("enc:v1:{}:", key_id(&key))));
    assert!(rows.contains("yaml-key"), "identifiers stay plain");

    // A node without the key (or with another one) is refused, naming the key that sealed them.
    let other = key_hex(7);
    for env in [vec![("APIGW_MASTER_KEY", other.as_str())], vec![]] {
        let mut env = root_env(&env);
        env.push(("APIGW_STORE_URL", db.url()));
        let err = serve_refused(elsewhere.path(), &env);
        assert!(err.contains(&key_id(&key)), "{err}");
        assert!(err.contains("APIGW_STORE_URL"), "{err}");
    }
}
