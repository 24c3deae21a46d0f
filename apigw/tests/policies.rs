//! The `cors` and `circuitBreaker` plugins over real sockets: preflights answered by the
//! gateway (`I404CO`, `A403CO`), CORS headers on actual responses, and breakers opened by a
//! real slow or failing backend (`D503CB`, downgrade backend, half-open probe).

mod support;

use std::net::SocketAddr;
use std::time::Duration;
use support::{send, Gateway, Resp};

fn config(backend: SocketAddr) -> String {
    let api = |name: &str, method: &str, path: &str, service: &str, timeout: u32| {
        format!(
            r#"
      - ApiName: {name}
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: {method}, RequestPath: "{path}"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "{service}", ServiceTimeout: {timeout}}}
        DeployTo: [RELEASE]"#
        )
    };
    format!(
        r#"
Groups:
  - GroupName: policies
    Domains: [{{DomainName: localhost}}]
    Apis:{}{}{}{}{}{}{}
      - ApiName: primary_down
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/standby/[x]"}}
        ServiceConfig: {{ServiceAddress: "http://127.0.0.1:9", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
Plugins:
  - PluginName: standby_breaker
    PluginType: circuitBreaker
    PluginData: '{{"timeoutThreshold": 2, "windowInSeconds": 10, "openTimeoutSeconds": 15, "downgradeBackend": {{"type": "http", "address": "http://{backend}", "timeout": 2000}}}}'
    AttachTo: [{{GroupName: policies, ApiName: primary_down, Stages: [RELEASE]}}]
  - PluginName: short_cache
    PluginType: caching
    PluginData: "duration: 2\nvaryByParameters: [v]\nclientCacheControl: {{mode: all}}\n"
    AttachTo: [{{GroupName: policies, ApiName: cached, Stages: [RELEASE]}}]
  - PluginName: web_cors
    PluginType: cors
    PluginData: "allowOrigins: https://app.example.com,*.trusted.com\nallowCredentials: true\nmaxAge: 600\nexposeHeaders: X-Ca-Request-Id,X-Ca-Error-Code\n"
    AttachTo:
      - {{GroupName: policies, ApiName: cors_api, Stages: [RELEASE]}}
      - {{GroupName: policies, ApiName: any_cors, Stages: [RELEASE]}}
  - PluginName: timeouts_breaker
    PluginType: circuitBreaker
    PluginData: "timeoutThreshold: 3\nwindowInSeconds: 10\nopenTimeoutSeconds: 15\n"
    AttachTo: [{{GroupName: policies, ApiName: slow, Stages: [RELEASE]}}]
  - PluginName: errors_breaker
    PluginType: circuitBreaker
    PluginData: '{{"errorThreshold": 2, "windowInSeconds": 10, "openTimeoutSeconds": 15, "errorCondition": "$StatusCode >= 500", "downgradeBackend": {{"type": "mock", "statusCode": 418, "body": "fallback", "headers": {{"X-Fallback": "yes"}}}}}}'
    AttachTo: [{{GroupName: policies, ApiName: failing, Stages: [RELEASE]}}]
"#,
        api("cors_api", "GET", "/c/[id]", "/c/[id]", 3000),
        api("plain", "POST", "/plain", "/plain", 3000),
        api("slow", "GET", "/slow/[ms]", "/slow/[ms]", 200),
        api("failing", "GET", "/status/[code]", "/status/[code]", 3000),
        api("healthy", "GET", "/ok/[x]", "/ok/[x]", 3000),
        api("cached", "GET", "/cached/[id]", "/cached/[id]", 3000),
        api("any_cors", "ANY", "/any/[id]", "/any/[id]", 3000),
    )
}

async fn options(gw: &Gateway, path: &str, origin: &str, method: &str) -> Resp {
    let hs = [
        ("Origin", origin),
        ("Access-Control-Request-Method", method),
        ("Access-Control-Request-Headers", "X-Ca-Key, Content-Type"),
    ];
    send(gw.http, "OPTIONS", "localhost", path, &hs, b"").await
}

#[tokio::test]
async fn cors_preflights_and_responses() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));

    let r = options(&gw, "/c/1", "https://app.example.com", "GET").await;
    assert_eq!(r.status, 200, "{:?}", r.message());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("GET"));
    assert!(r.header("x-ca-request-id").is_some());
    let r = options(&gw, "/c/1", "https://deep.api.trusted.com", "GET").await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://deep.api.trusted.com")
    );

    let r = options(&gw, "/c/1", "https://evil.example.net", "GET").await;
    assert_eq!((r.status.as_u16(), r.code()), (403, Some("A403CO")));
    assert_eq!(
        r.message(),
        Some("Cross origin resource forbidden https://evil.example.net")
    );
    let r = options(&gw, "/nowhere", "https://app.example.com", "GET").await;
    assert_eq!((r.status.as_u16(), r.code()), (404, Some("I404CO")));
    assert_eq!(
        r.message(),
        Some("Cross origin resource not found GET - /nowhere")
    );
    let r = options(&gw, "/c/1", "https://app.example.com", "DELETE").await;
    assert_eq!(r.code(), Some("I404CO"), "no DELETE API on that path");
    // Without a cors plugin the gateway answers preflights permissively.
    let r = options(&gw, "/plain", "https://anyone.example.org", "POST").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // An ANY API with the plugin: preflights go to the plugin, not to the backend.
    let r = options(&gw, "/any/1", "https://app.example.com", "PUT").await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(r.body.is_empty(), "answered by the gateway: {}", r.text());
    let r = options(&gw, "/any/1", "https://evil.example.net", "PUT").await;
    assert_eq!(r.code(), Some("A403CO"));
    // A plain OPTIONS without the preflight headers is an ordinary (unrouted) request.
    let r = send(gw.http, "OPTIONS", "localhost", "/c/1", &[], b"").await;
    assert_eq!(r.code(), Some("I404NF"));

    // Actual requests: headers for allowed origins only, on errors too.
    let ok = [("Origin", "https://app.example.com")];
    let r = send(gw.http, "GET", "localhost", "/c/7", &ok, b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("X-Ca-Request-Id,X-Ca-Error-Code")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let bad = [("Origin", "https://evil.example.net")];
    let r = send(gw.http, "GET", "localhost", "/c/7", &bad, b"").await;
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakers_open_on_timeouts_and_errors_and_close_after_a_probe() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));
    let get = |path: &'static str| support::get(gw.http, "localhost", path);

    // Error-condition mode with a downgrade backend: two 503s open it.
    for _ in 0..2 {
        let r = get("/status/503").await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (503, None),
            "backend errors pass through"
        );
    }
    let r = get("/status/200").await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (418, "fallback".to_string()),
        "downgrade while open"
    );
    assert_eq!(r.header("x-fallback"), Some("yes"));

    // Timeout mode: three timeouts open it; then every call is refused without reaching the
    // backend, fast ones included.
    for _ in 0..3 {
        let r = get("/slow/1000").await;
        assert_eq!(r.code(), Some("D504TO"));
    }
    let started = std::time::Instant::now();
    let r = get("/slow/1").await;
    assert_eq!((r.status.as_u16(), r.code()), (503, Some("D503CB")));
    assert!(
        r.message()
            .unwrap()
            .starts_with("Backend circuit breaker open, retry in "),
        "{:?}",
        r.message()
    );
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "refused without calling the backend"
    );
    // Other APIs are not affected.
    assert_eq!(get("/ok/1").await.status, 200);

    // After openTimeoutSeconds (15) one probe passes; its success closes the breaker.
    tokio::time::sleep(Duration::from_millis(15_300)).await;
    let r = get("/slow/1").await;
    assert_eq!(r.status, 200, "{:?}", r.code());
    assert_eq!(get("/slow/1").await.status, 200, "closed again");
    let r = get("/status/200").await;
    assert_eq!(
        r.status,
        200,
        "the probe closed the error breaker too: {}",
        r.text()
    );
}

#[tokio::test]
async fn get_responses_are_cached_per_parameter_and_expire() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));
    let get = |path: &'static str, headers: &'static [(&'static str, &'static str)]| {
        send(gw.http, "GET", "localhost", path, headers, b"")
    };
    // The echo backend's body holds the request id the gateway sent: a new body = a new call.
    let first = get("/cached/1?v=1", &[]).await;
    assert_eq!(first.status, 200);
    assert!(first.header("x-ca-caching").is_none());
    let hit = get("/cached/1?v=1&other=x", &[]).await;
    assert_eq!(
        hit.header("x-ca-caching"),
        Some("true"),
        "other parameters do not vary"
    );
    assert_eq!(hit.body, first.body);
    assert_eq!(hit.header("content-type"), Some("application/json"));
    assert_ne!(
        hit.header("x-ca-request-id"),
        first.header("x-ca-request-id")
    );
    let other = get("/cached/1?v=2", &[]).await;
    assert!(other.header("x-ca-caching").is_none(), "v varies");
    assert_ne!(other.body, first.body);
    assert!(
        get("/cached/2?v=1", &[])
            .await
            .header("x-ca-caching")
            .is_none(),
        "path varies"
    );

    // The client may steer (mode: all): no-cache refreshes, only-if-cached never calls.
    let fresh = get("/cached/1?v=1", &[("Cache-Control", "no-cache")]).await;
    assert!(fresh.header("x-ca-caching").is_none());
    assert_ne!(fresh.body, first.body);
    let again = get("/cached/1?v=1", &[]).await;
    assert_eq!(again.body, fresh.body, "the refresh was stored");
    let r = get("/cached/9?v=9", &[("Cache-Control", "only-if-cached")]).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, Some("I404CH")));
    assert_eq!(
        r.message(),
        Some("Content not cached, with `Cache-Control:only-if-cached`")
    );

    // Entries expire after `duration`.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let late = get("/cached/1?v=1", &[]).await;
    assert!(late.header("x-ca-caching").is_none());
    assert_ne!(late.body, fresh.body);
}

#[tokio::test]
async fn an_open_breaker_sends_the_request_to_the_downgrade_backend() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));
    // The primary refuses connections: two failures open the breaker.
    for _ in 0..2 {
        let r = support::get(gw.http, "localhost", "/standby/a?q=1").await;
        assert_eq!(r.code(), Some("D504CO"));
    }
    // Now the same request (path and query) goes to the standby backend.
    let r = support::get(gw.http, "localhost", "/standby/a?q=1").await;
    assert_eq!(r.status, 200, "{:?} {:?}", r.code(), r.message());
    let e = r.json();
    assert_eq!(
        (e["path"].as_str(), e["query"].as_str()),
        (Some("/standby/a"), Some("q=1"))
    );
}

/// A bad plugin document in the declarative file is refused before anything is written.
#[test]
fn a_bad_plugin_document_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
Groups:
  - GroupName: untouched
    Domains: [{DomainName: localhost}]
Plugins:
  - PluginName: bad_breaker
    PluginType: circuitBreaker
    PluginData: "timeoutThreshold: 3\nwindowInSeconds: 5\nopenTimeoutSeconds: 15\n"
"#;
    let err = support::apply(dir.path(), yaml).unwrap_err();
    assert!(err.contains("InvalidPluginData"), "{err}");
    assert!(
        err.contains("plugin `bad_breaker`") && err.contains("windowInSeconds"),
        "{err}"
    );
    let (ok, exported) = support::cli(dir.path(), &["export"]);
    assert!(ok, "{exported}");
    assert!(
        !exported.contains("untouched"),
        "nothing was written: {exported}"
    );
}
