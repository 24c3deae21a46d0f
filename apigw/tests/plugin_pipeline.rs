//! The plugins that decide by expression, over real sockets against the real binary:
//! accessControl (`A403AC`), routing (another backend, a mock, `X-Ca-Routing-Name`),
//! errorMapping (status and message from the backend's JSON), transformer (request and
//! response); a bound plugin that cannot run fails closed (`X400PM`); and the gateway's own
//! failures: a panic (`X500ER`), its deadline (`X504TO`) and overload (`X503BZ`).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use support::{get, send, Gateway};

const HOST: &str = "plugins.example.com";

fn api(name: &str, method: &str, path: &str, service_path: &str, backend: SocketAddr) -> String {
    format!(
        r#"
      - ApiName: {name}
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: {method}, RequestPath: "{path}"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "{service_path}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]"#
    )
}

fn config(main: SocketAddr, other: SocketAddr) -> String {
    format!(
        r#"
Groups:
  - GroupName: plugins
    Domains: [{{DomainName: {HOST}}}]
    Apis:{}{}{}{}{}
Plugins:
  - PluginName: only_gold
    PluginType: accessControl
    PluginData: |
      parameters: {{tier: "Header:X-Tier", item: "Parameter:id"}}
      rules:
        - {{name: gold, condition: "$tier = 'gold'", ifTrue: ALLOW}}
        - {{name: no_secret_items, condition: "$item like 'secret%'", ifTrue: DENY}}
        - {{name: teapot, condition: "$tier = 'tea'", ifTrue: DENY, statusCode: 418, errorMessage: "no ${{tier}} here", responseBody: "<no/>"}}
    AttachTo: [{{GroupName: plugins, ApiName: guarded, Stages: [RELEASE]}}]
  - PluginName: by_version
    PluginType: routing
    PluginData: |
      routes:
        - name: OldClient
          condition: "$v < '2.0'"
          backend: {{type: MOCK, statusCode: 426, mockBody: "upgrade please"}}
        - name: Beta
          condition: "$v = 'beta'"
          backend: {{type: HTTP, address: "http://{other}", path: "/beta/[id]"}}
          constant-parameters:
            - {{name: x-route, location: header, value: beta}}
            - {{name: from, location: query, value: routing}}
      parameters: {{v: "Query:v"}}
    AttachTo: [{{GroupName: plugins, ApiName: routed, Stages: [RELEASE]}}]
  - PluginName: map_errors
    PluginType: errorMapping
    PluginData: |
      parameters: {{status: "StatusCode", m: "BodyJsonField:$.method", p: "BodyJsonField:$.path"}}
      errorCondition: "$status = 200 and $m = 'DELETE'"
      errorCode: p
      mappings:
        - {{code: /gone, statusCode: 410, errorMessage: "Gone after ${{m}}"}}
      defaultMapping: {{statusCode: 500, errorMessage: "Unknown ${{p}}"}}
    AttachTo: [{{GroupName: plugins, ApiName: mapped, Stages: [RELEASE]}}]
  - PluginName: rewrite
    PluginType: transformer
    PluginData: |
      parameters: {{status: "StatusCode", user: "Query:user"}}
      requestTransformer:
        - {{action: putRequestParameter, location: header, name: X-User, value: "u-${{user}}", condition: "$user <> null"}}
        - {{action: addRequestParameterIfAbsent, location: query, name: lang, value: en}}
        - {{action: removeRequestParameter, location: query, name: debug}}
      responseTransformer:
        - {{action: putResponseHeader, name: X-Backend-Status, value: "${{status}}"}}
        - {{action: setResponseStatusCode, statusCode: 202, condition: "$status = 200"}}
    AttachTo: [{{GroupName: plugins, ApiName: rewritten, Stages: [RELEASE]}}]
"#,
        api("guarded", "GET", "/guarded/[id]", "/guarded/[id]", main),
        api("routed", "GET", "/routed/[id]", "/main/[id]", main),
        api("mapped", "ANY", "/mapped/[x]", "/[x]", main),
        api("rewritten", "GET", "/rewritten", "/rewritten", main),
        api("slow", "GET", "/slow/[ms]", "/slow/[ms]", main),
    )
}

async fn start() -> Gateway {
    let main = support::backend().await;
    let other = support::backend().await;
    Gateway::start(&config(main, other))
}

fn with(name: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![(name, value)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_control_rules_allow_and_deny() {
    let gw = start().await;
    let r = send(
        gw.http,
        "GET",
        HOST,
        "/guarded/secret-1",
        &with("x-tier", "gold"),
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "gold is allowed first");
    let r = get(gw.http, HOST, "/guarded/secret-1").await;
    assert_eq!((r.status.as_u16(), r.code()), (403, Some("A403AC")));
    assert_eq!(
        r.message(),
        Some("Access Control Forbidden by no_secret_items")
    );
    let r = send(
        gw.http,
        "GET",
        HOST,
        "/guarded/7",
        &with("x-tier", "tea"),
        b"",
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (418, Some("A403AC")));
    assert_eq!(r.message(), Some("no tea here"));
    assert_eq!(r.text(), "<no/>");
    let r = get(gw.http, HOST, "/guarded/7").await;
    assert_eq!(r.status, 200, "no rule decided: allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_picks_a_mock_another_backend_or_the_api_own() {
    let gw = start().await;
    let r = get(gw.http, HOST, "/routed/5?v=1.9").await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (426, "upgrade please".to_string())
    );

    let r = get(gw.http, HOST, "/routed/5?v=beta").await;
    assert_eq!(r.status, 200);
    let echo = r.json();
    assert_eq!(echo["path"], "/beta/5");
    assert_eq!(echo["headers"]["x-ca-routing-name"], "Beta");
    assert_eq!(echo["headers"]["x-route"], "beta");
    assert_eq!(echo["query"], "v=beta&from=routing");

    let r = get(gw.http, HOST, "/routed/5?v=3").await;
    let echo = r.json();
    assert_eq!(echo["path"], "/main/5");
    assert!(echo["headers"].get("x-ca-routing-name").is_none(), "{echo}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_mapping_reads_the_backend_json() {
    let gw = start().await;
    let r = send(gw.http, "DELETE", HOST, "/mapped/gone", &[], b"").await;
    assert_eq!(r.status, 410);
    assert_eq!(r.message(), Some("Gone after DELETE"));
    assert_eq!(r.code(), None, "errorMapping adds no X-Ca-Error-Code");
    assert_eq!(r.json()["path"], "/gone", "the body is unchanged");
    let r = send(gw.http, "DELETE", HOST, "/mapped/other", &[], b"").await;
    assert_eq!(
        (r.status.as_u16(), r.message()),
        (500, Some("Unknown /other"))
    );
    let r = get(gw.http, HOST, "/mapped/gone").await;
    assert_eq!((r.status.as_u16(), r.message()), (200, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transformer_rewrites_the_backend_request_and_the_response() {
    let gw = start().await;
    let r = get(gw.http, HOST, "/rewritten?user=ann&debug=1").await;
    assert_eq!(r.status, 202);
    assert_eq!(r.header("x-backend-status"), Some("200"));
    let echo = r.json();
    assert_eq!(echo["headers"]["x-user"], "u-ann");
    assert_eq!(echo["query"], "user=ann&lang=en");
    let r = get(gw.http, HOST, "/rewritten?lang=fr").await;
    let echo = r.json();
    assert!(echo["headers"].get("x-user").is_none(), "{echo}");
    assert_eq!(echo["query"], "lang=fr");
}

/// A stored plugin that no longer compiles (here: a type this gateway does not run, written
/// into the store behind the control plane's back) makes its APIs fail closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_cannot_run_fails_closed() {
    let gw = start().await;
    assert_eq!(get(gw.http, HOST, "/rewritten").await.status, 202);
    let dir = gw.stop();
    let db = rusqlite::Connection::open(dir.path().join("apigw.db")).unwrap();
    let doc: String = db
        .query_row(
            "SELECT doc FROM plugins WHERE doc LIKE '%\"rewrite\"%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let broken = doc.replace("\"transformer\"", "\"basicAuth\"");
    assert_ne!(doc, broken);
    db.execute(
        "UPDATE plugins SET doc = ?1 WHERE doc = ?2",
        [&broken, &doc],
    )
    .unwrap();
    db.execute("UPDATE generation SET value = value + 1", [])
        .unwrap();
    drop(db);
    let gw = Gateway::start_in(dir);
    let r = get(gw.http, HOST, "/rewritten").await;
    assert_eq!((r.status.as_u16(), r.code()), (400, Some("X400PM")));
    assert!(
        r.message().unwrap().contains("rewrite") && r.message().unwrap().contains("basicAuth"),
        "{:?}",
        r.message()
    );
    // Other APIs are untouched.
    assert_eq!(get(gw.http, HOST, "/guarded/1").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_answers_x500er_and_the_worker_keeps_serving() {
    let main = support::backend().await;
    let other = support::backend().await;
    let gw = Gateway::start_with_env(
        &config(main, other),
        &[
            ("APIGW_TEST_PANIC_PATH", "/guarded/boom"),
            ("APIGW_WORKER_THREADS", "1"),
        ],
    );
    for _ in 0..3 {
        let r = get(gw.http, HOST, "/guarded/boom").await;
        assert_eq!((r.status.as_u16(), r.code()), (500, Some("X500ER")));
        assert!(r.header("x-ca-request-id").is_some());
        assert_eq!(get(gw.http, HOST, "/guarded/1").await.status, 200);
    }
}

/// A client that sends its headers and then stalls its body: the gateway's own deadline
/// (reading the body the parameter phase needs) answers `X504TO`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_work_past_its_deadline_answers_x504to() {
    let main = support::backend().await;
    let yaml = format!(
        r#"
Groups:
  - GroupName: deadline
    Domains: [{{DomainName: {HOST}}}]
    Apis:
      - ApiName: form_api
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: POST, RequestPath: /form, BodyFormat: FORM}}
        ServiceConfig: {{ServiceAddress: "http://{main}", ServicePath: /form, ServiceTimeout: 3000}}
        RequestParameters:
          - {{ApiParameterName: name, Location: BODY, ParameterType: String, Required: REQUIRED}}
        ServiceParameters:
          - {{ServiceParameterName: name, Location: BODY, ParameterType: STRING}}
        ServiceParametersMap:
          - {{ServiceParameterName: name, RequestParameterName: name}}
        DeployTo: [RELEASE]
"#
    );
    let gw = Gateway::start_with_env(&yaml, &[("APIGW_GATEWAY_TIMEOUT_MS", "300")]);
    let addr = gw.http;
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let head = format!(
            "POST /form HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 8\r\n\r\nname"
        );
        s.write_all(head.as_bytes()).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    let code = answer.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("x-ca-error-code")
            .then(|| value.trim().to_string())
    });
    assert_eq!(code.as_deref(), Some("X504TO"), "{answer}");
    let ok = send(
        gw.http,
        "POST",
        HOST,
        "/form",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"name=ann",
    )
    .await;
    assert_eq!(ok.status, 200);
}

/// Past `APIGW_MAX_IN_FLIGHT` requests in flight, new ones are shed at once with `X503BZ`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_shed_with_x503bz() {
    let main = support::backend().await;
    let other = support::backend().await;
    let gw = Gateway::start_with_env(
        &config(main, other),
        &[("APIGW_MAX_IN_FLIGHT", "1"), ("APIGW_WORKER_THREADS", "1")],
    );
    let addr = gw.http;
    let slow = tokio::spawn(async move { get(addr, HOST, "/slow/1500").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = get(gw.http, HOST, "/guarded/1").await;
    assert_eq!((r.status.as_u16(), r.code()), (503, Some("X503BZ")));
    assert_eq!(slow.await.unwrap().status, 200);
    assert_eq!(get(gw.http, HOST, "/guarded/1").await.status, 200);
}
