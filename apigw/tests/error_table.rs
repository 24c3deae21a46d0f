//! Error codes of `apigw_model::codes` that no other test asserted, each triggered over real
//! sockets against the real binary with the smallest configuration that produces it.
//! (The audit of the whole table is `docs/error-codes.md`; the guard that keeps it honest is
//! `crates/model/tests/honest_table.rs`.)

mod support;

use apigw_model::Stage;
use apigw_store::{SqliteStore, Store};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use support::{backend, get, raw, send, Gateway};

/// One group on `localhost` with one API per code; `extra` is appended to the file (plugins).
fn config(backend: SocketAddr, extra: &str) -> String {
    let http = |name: &str, path: &str, service: &str| {
        format!(
            r#"
      - ApiName: {name}
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: ANY, RequestPath: "{path}"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "{service}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]"#
        )
    };
    format!(
        r#"
Groups:
  - GroupName: table
    Domains: [{{DomainName: localhost}}]
    Apis:{}{}{}{}{}
      - ApiName: open_id
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /openid}}
        ServiceConfig: {{Mock: "TRUE", MockResult: never}}
        DeployTo: [RELEASE]
{extra}"#,
        http("pass", "/pass/*", "/*"),
        http("breaker", "/breaker/*", "/*"),
        http("ip_guarded", "/ip", "/ip"),
        http("jwt_guarded", "/jwt", "/jwt"),
        http("corrupt", "/corrupt", "/corrupt"),
    )
}

/// Status and lower-cased headers of the first answer in a raw HTTP/1.x exchange.
fn parse_raw(answer: &str) -> (u16, HashMap<String, String>) {
    let head = answer.split("\r\n\r\n").next().unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

fn contract(status: u16, headers: &HashMap<String, String>) -> (u16, Option<&str>, Option<&str>) {
    (
        status,
        headers.get("x-ca-error-code").map(String::as_str),
        headers.get("x-ca-error-message").map(String::as_str),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn request_without_host_is_i400mh() {
    let gw = Gateway::start(&config(backend().await, ""));
    let answer = raw(
        gw.http,
        b"GET /pass/x HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    let (status, headers) = parse_raw(&answer);
    assert_eq!(
        contract(status, &headers),
        (400, Some("I400MH"), Some("Header `Host` is Required")),
        "{answer}"
    );
    assert!(headers.contains_key("x-ca-request-id"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_chunked_body_is_i400bd() {
    let gw = Gateway::start(&config(backend().await, ""));
    // `zz` is not a chunk size: the body cannot be read.
    let answer = raw(
        gw.http,
        b"POST /pass/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    );
    let (status, headers) = parse_raw(&answer);
    let (status, code, message) = contract(status, &headers);
    assert_eq!((status, code), (400, Some("I400BD")), "{answer}");
    let message = message.unwrap();
    assert!(message.starts_with("Invalid Body: "), "{message}");
    assert!(
        message.len() > "Invalid Body: ".len(),
        "a reason: {message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn declared_body_over_the_limit_is_i413rl() {
    let b = backend().await;
    let gw = Gateway::start_with_env(&config(b, ""), &[("APIGW_MAX_BODY_BYTES", "1000")]);
    let r = send(gw.http, "POST", "localhost", "/pass/x", &[], &[b'x'; 1001]).await;
    assert_eq!(
        (r.status.as_u16(), r.code(), r.message()),
        (413, Some("I413RL"), Some("Request body too Large"))
    );
    let r = send(gw.http, "POST", "localhost", "/pass/x", &[], &[b'x'; 1000]).await;
    assert_eq!(
        r.status,
        200,
        "at the limit the body passes: {:?}",
        r.code()
    );
}

/// Plugin documents and a deployed definition that the control plane would refuse, written
/// straight into the store (as an older apigw or a damaged store could hold them): the bound
/// APIs fail closed (`X400PM`, `I400JP`) and the broken definition answers `X500AM`.
#[tokio::test(flavor = "multi_thread")]
async fn stored_documents_the_data_plane_cannot_run() {
    let b = backend().await;
    let plugins = r#"Plugins:
  - PluginName: ip_rules
    PluginType: ipControl
    PluginData: "type: REFUSE\nitems:\n  - blocks: [192.0.2.0/24]\n"
    AttachTo: [{GroupName: table, ApiName: ip_guarded, Stages: [RELEASE]}]
  - PluginName: jwt_rules
    PluginType: jwtAuth
    PluginData: "parameter: Authorization\nparameterLocation: header\njwks:\n  - {kty: oct, kid: k1, alg: HS256, k: c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA}\n"
    AttachTo: [{GroupName: table, ApiName: jwt_guarded, Stages: [RELEASE]}]
"#;
    let dir = tempfile::tempdir().unwrap();
    support::apply(dir.path(), &config(b, plugins)).expect("apply");

    // Before tampering, all three APIs serve.
    let gw = Gateway::start_in(dir);
    for path in ["/ip", "/corrupt"] {
        let r = get(gw.http, "localhost", path).await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.code());
    }
    let dir = gw.stop();

    let store = SqliteStore::open(dir.path()).unwrap();
    for mut p in store.list_plugins().await.unwrap() {
        p.plugin_data = match p.plugin_name.as_str() {
            "ip_rules" => "type: MAYBE\nitems: []\n".into(),
            "jwt_rules" => "parameter: [not, a, name]\n".into(),
            other => panic!("unexpected plugin {other}"),
        };
        store.put_plugin(&p).await.unwrap();
    }
    let group = store.list_groups().await.unwrap().remove(0);
    let api = store
        .list_apis(&group.group_id)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.api_name == "corrupt")
        .unwrap();
    let mut dep = store
        .history(&api.api_id, Some(Stage::Release))
        .await
        .unwrap()
        .remove(0);
    dep.definition.service_config.service_address = Some("no-scheme.localhost:1".into());
    dep.history_version = "29991231235959999".into();
    store.deploy(&dep).await.unwrap();
    drop(store);

    let gw = Gateway::start_in(dir);
    let r = get(gw.http, "localhost", "/ip").await;
    assert_eq!(
        (r.status.as_u16(), r.code(), r.message()),
        (
            400,
            Some("X400PM"),
            Some("Invalid plugin meta ip_rules `type` must be ALLOW or REFUSE")
        )
    );
    let r = get(gw.http, "localhost", "/jwt").await;
    assert_eq!(
        (r.status.as_u16(), r.code(), r.message()),
        (
            400,
            Some("I400JP"),
            Some("Invalid JWT plugin config: jwt_rules (`parameter` must be a string)")
        )
    );
    let r = get(gw.http, "localhost", "/corrupt").await;
    assert_eq!(
        (r.status.as_u16(), r.code(), r.message()),
        (
            500,
            Some("X500AM"),
            Some("Invalid Api Meta, try deploy again or contact us via ticket")
        )
    );
    // The rest of the group still serves.
    assert_eq!(get(gw.http, "localhost", "/pass/x").await.status, 200);
}

/// A half-open breaker admits one probe; a call while the probe is in flight is `D503BB`.
/// (Waits `openTimeoutSeconds`, whose minimum is 15 s.)
#[tokio::test(flavor = "multi_thread")]
async fn call_beside_the_half_open_probe_is_d503bb() {
    let b = backend().await;
    let plugins = r#"Plugins:
  - PluginName: one_error_opens
    PluginType: circuitBreaker
    PluginData: "errorThreshold: 1\nwindowInSeconds: 10\nopenTimeoutSeconds: 15\nerrorCondition: '$StatusCode >= 500'\n"
    AttachTo: [{GroupName: table, ApiName: breaker, Stages: [RELEASE]}]
"#;
    let gw = Gateway::start(&config(b, plugins));
    let r = get(gw.http, "localhost", "/breaker/status/500").await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (500, None),
        "the backend's own 500"
    );
    let r = get(gw.http, "localhost", "/breaker/status/200").await;
    assert_eq!((r.status.as_u16(), r.code()), (503, Some("D503CB")), "open");

    tokio::time::sleep(Duration::from_millis(15_300)).await;
    let addr = gw.http;
    let probe = tokio::spawn(async move { get(addr, "localhost", "/breaker/slow/2500").await });
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r = get(gw.http, "localhost", "/breaker/status/200").await;
    assert_eq!(
        (r.status.as_u16(), r.code(), r.message()),
        (503, Some("D503BB"), Some("Backend circuit breaker busy"))
    );
    let probe = probe.await.unwrap();
    assert_eq!(
        (probe.status.as_u16(), probe.text().as_str()),
        (200, "slow done")
    );
    let r = get(gw.http, "localhost", "/breaker/status/200").await;
    assert_eq!(
        r.status,
        200,
        "the probe closed the breaker: {:?}",
        r.code()
    );
}
