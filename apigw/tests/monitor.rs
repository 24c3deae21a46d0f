//! The monitoring actions over real sockets: known traffic through the real binary —
//! successes, three backend error statuses, a throttled request, a slow backend — then the
//! exact per-minute series through the official SDKs (`DescribeApiQpsData`,
//! `DescribeApiLatencyData`, `DescribeApiTrafficData` with the Tea SDK, `DescribeApiErrorData`
//! with the legacy one), the documented errors, the series after a restart; and a cluster of
//! two nodes on one PostgreSQL database, where one node's answer holds both nodes' traffic,
//! also once the other node is down.

mod support;

use apigw_store::TestDatabase;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{admin_call, eventually, get, mgmt_call, send, Gateway};

const AK: (&str, &str) = ("monitorid", "monitor-secret-0001");
/// Successful echo requests sent (besides the slow one).
const ECHOES: u64 = 3;

fn config(backend: std::net::SocketAddr) -> String {
    // Allows exactly the requests before the throttled one: echoes, slow, three errors.
    let allowed = ECHOES + 4;
    format!(
        r#"
Groups:
  - GroupName: watched
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: through
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: ANY, RequestPath: "/api/*"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "/*", ServiceTimeout: 5000}}
        DeployTo: [RELEASE]
      - ApiName: quiet
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/quiet"}}
        ServiceConfig: {{Mock: "TRUE", MockResult: quiet}}
        DeployTo: [RELEASE]
Plugins:
  - PluginName: enough_for_the_test
    PluginType: trafficControl
    PluginData: "unit: DAY\napiDefault: {allowed}\n"
    AttachTo: [{{GroupName: watched, ApiName: through, Stages: [RELEASE]}}]
"#
    )
}

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
        ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
        ("APIGW_MONITOR_WRITE_MS", "200"),
    ]
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The current minute's start, after waiting out a minute's last 10 seconds (so that a few
/// seconds of traffic all land in the minute returned).
async fn fresh_minute() -> i64 {
    let now = now_secs();
    if now % 60 >= 50 {
        tokio::time::sleep(Duration::from_secs((61 - now % 60) as u64)).await;
    }
    now_secs() / 60 * 60
}

fn utc(secs: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .unwrap()
        .format(&fmt)
        .unwrap()
}

/// A successful SDK answer's body.
fn ok(out: Value, what: &str) -> Value {
    assert_eq!(out["ok"], true, "{what}: {out}");
    if let Some(unknown) = out["unknown_fields"].as_array() {
        assert!(
            unknown.is_empty(),
            "{what}: members the SDK does not know: {unknown:?}"
        );
    }
    out["body"].clone()
}

/// `{Member: {MonitorItem: [...]}}` as (ItemTime, ItemValue) pairs.
fn series(body: &Value, member: &str) -> Vec<(String, String)> {
    body[member]["MonitorItem"]
        .as_array()
        .unwrap_or_else(|| panic!("no {member} in {body}"))
        .iter()
        .map(|i| {
            (
                i["ItemTime"].as_str().unwrap().to_string(),
                i["ItemValue"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The series expected over three minutes ending with `minute`: zeros, then `last`.
fn three(minute: i64, last: u64) -> Vec<(String, String)> {
    vec![
        (utc(minute - 120), "0".into()),
        (utc(minute - 60), "0".into()),
        (utc(minute), last.to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_traffic_gives_exact_series_through_the_official_sdks() {
    let backend = support::backend().await;
    let dir = tempfile::tempdir().unwrap();
    support::apply(dir.path(), &config(backend)).expect("apply");
    let gw = Gateway::start_in_with_env(dir, &env());
    let (gid, apis) = support::api_ids(&gw, "watched");
    let api = apis["through"].clone();

    let minute = fresh_minute().await;
    let mut uploads = 0u64;
    let mut downloads = 0u64;
    for i in 0..ECHOES {
        let body = format!("hello number {i}");
        let r = send(
            gw.http,
            "POST",
            "localhost",
            "/api/echo",
            &[],
            body.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        uploads += body.len() as u64;
        downloads += r.body.len() as u64;
    }
    let slow = get(gw.http, "localhost", "/api/slow/300").await;
    assert_eq!(slow.text(), "slow done");
    downloads += slow.body.len() as u64;
    for status in [404u16, 500, 503] {
        let r = get(gw.http, "localhost", &format!("/api/status/{status}")).await;
        assert_eq!(r.status.as_u16(), status);
        downloads += r.body.len() as u64;
    }
    let throttled = get(gw.http, "localhost", "/api/echo").await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.code(), Some("T429PA"));
    downloads += throttled.body.len() as u64;
    assert_eq!(now_secs() / 60 * 60, minute, "the traffic took too long");

    let window = json!({
        "GroupId": gid, "ApiId": api, "StageName": "RELEASE",
        "StartTime": utc(minute - 120), "EndTime": utc(minute + 60),
    });
    let tea = |action: &str, params: &Value| {
        ok(
            mgmt_call(gw.admin, AK, "tea", action, params.clone()),
            action,
        )
    };
    let qps = tea("DescribeApiQpsData", &window);
    assert_eq!(series(&qps, "CallSuccesses"), three(minute, ECHOES + 1));
    assert_eq!(series(&qps, "CallFails"), three(minute, 4));

    let errors = ok(
        mgmt_call(
            gw.admin,
            AK,
            "legacy",
            "DescribeApiErrorData",
            json!({"GroupId": gid, "ApiId": api, "StartTime": utc(minute - 120), "EndTime": utc(minute + 60)}),
        ),
        "DescribeApiErrorData",
    );
    assert_eq!(series(&errors, "ClientErrors"), three(minute, 2)); // 404, 429
    assert_eq!(series(&errors, "ServerErrors"), three(minute, 2)); // 500, 503

    let traffic = tea("DescribeApiTrafficData", &window);
    assert_eq!(series(&traffic, "CallUploads"), three(minute, uploads));
    assert_eq!(series(&traffic, "CallDownloads"), three(minute, downloads));

    let latency = series(&tea("DescribeApiLatencyData", &window), "CallLatencys");
    assert_eq!(latency[..2], three(minute, 0)[..2]);
    assert_eq!(latency[2].0, utc(minute));
    // The slow request's 300 ms shared by all: at least that, and not much more.
    let requests = ECHOES + 5;
    let average: u64 = latency[2].1.parse().unwrap();
    assert!(
        (300 / requests..300 / requests + 60).contains(&average),
        "average {average} ms over {requests} requests"
    );

    // Another stage, another API: zeros. A window inside one minute: that minute.
    let test_stage = json!({"ApiId": api, "StageName": "TEST", "StartTime": utc(minute - 120), "EndTime": utc(minute + 60)});
    let qps = tea("DescribeApiQpsData", &test_stage);
    assert_eq!(series(&qps, "CallSuccesses"), three(minute, 0));
    let quiet = json!({"ApiId": apis["quiet"], "StartTime": utc(minute - 120), "EndTime": utc(minute + 60)});
    assert_eq!(
        series(&tea("DescribeApiQpsData", &quiet), "CallFails"),
        three(minute, 0)
    );
    let inside = json!({"ApiId": api, "StartTime": utc(minute + 10), "EndTime": utc(minute + 20)});
    assert_eq!(
        series(&tea("DescribeApiQpsData", &inside), "CallSuccesses"),
        vec![(utc(minute), (ECHOES + 1).to_string())]
    );

    // The documented errors.
    let legacy_error = |params: Value| {
        let out = mgmt_call(gw.admin, AK, "legacy", "DescribeApiQpsData", params);
        assert_eq!(out["ok"], false, "{out}");
        assert_eq!(out["status"], 400, "{out}");
        out["code"].as_str().unwrap().to_string()
    };
    let (start, end) = (utc(minute - 120), utc(minute + 60));
    assert_eq!(
        legacy_error(json!({"StartTime": start, "EndTime": end})),
        "MissingApiId"
    );
    assert_eq!(
        legacy_error(json!({"ApiId": api, "EndTime": end})),
        "MissingStartTime"
    );
    assert_eq!(
        legacy_error(json!({"ApiId": api, "StartTime": "2024-01-01 10:00:00", "EndTime": end})),
        "InvalidFormatStartTime"
    );
    assert_eq!(
        legacy_error(json!({"ApiId": api, "StartTime": end, "EndTime": start})),
        "InvalidEndTime"
    );
    assert_eq!(
        legacy_error(
            json!({"ApiId": api, "StageName": "PROD", "StartTime": start, "EndTime": end})
        ),
        "InvalidStageName"
    );
    assert_eq!(
        legacy_error(json!({"ApiId": "0123456789abcdef", "StartTime": start, "EndTime": end})),
        "NotFoundApi"
    );
    assert_eq!(
        legacy_error(
            json!({"GroupId": "another-group", "ApiId": api, "StartTime": start, "EndTime": end})
        ),
        "NotFoundApi"
    );

    // Written to the store (every 200 ms here): the next run of this data directory answers
    // the same series, from rows an earlier process wrote.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let dir = gw.stop();
    let gw = Gateway::start_in_with_env(dir, &env());
    let qps = ok(
        mgmt_call(gw.admin, AK, "tea", "DescribeApiQpsData", window.clone()),
        "DescribeApiQpsData after a restart",
    );
    assert_eq!(series(&qps, "CallSuccesses"), three(minute, ECHOES + 1));
    assert_eq!(series(&qps, "CallFails"), three(minute, 4));
}

async fn call(gw: &Gateway, action: &str, params: &[(&str, &str)]) -> Value {
    let (status, body) = admin_call(gw.admin, AK, action, params).await;
    assert_eq!(status, 200, "{action}: {body}");
    body
}

/// CallSuccesses of `api` in `minute`, as `gw` answers.
async fn successes(gw: &Gateway, api: &str, minute: i64) -> String {
    let body = call(
        gw,
        "DescribeApiQpsData",
        &[
            ("ApiId", api),
            ("StartTime", &utc(minute)),
            ("EndTime", &utc(minute + 60)),
        ],
    )
    .await;
    let items = series(&body, "CallSuccesses");
    assert_eq!(items.len(), 1, "{body}");
    items[0].1.clone()
}

/// A mock API `/<name>` answering `<name>`, deployed to RELEASE through `gw`; its id.
async fn mock_api(gw: &Gateway, gid: &str, name: &str) -> String {
    let rc = json!({"RequestHttpMethod": "GET", "RequestPath": format!("/{name}")}).to_string();
    let sc = json!({"Mock": "TRUE", "MockResult": name}).to_string();
    let api = call(
        gw,
        "CreateApi",
        &[
            ("GroupId", gid),
            ("ApiName", name),
            ("Visibility", "PRIVATE"),
            ("AuthType", "ANONYMOUS"),
            ("RequestConfig", &rc),
            ("ServiceConfig", &sc),
        ],
    )
    .await;
    let api = api["ApiId"].as_str().unwrap().to_string();
    call(
        gw,
        "DeployApi",
        &[
            ("ApiId", &api),
            ("StageName", "RELEASE"),
            ("Description", "v1"),
        ],
    )
    .await;
    api
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_answers_with_every_nodes_traffic() {
    let db = TestDatabase::create();
    let mut env = env();
    env.push(("APIGW_DEFAULT_DOMAIN_DAILY_QUOTA", "0"));
    let nodes: Vec<Gateway> = std::thread::scope(|s| {
        let starting: Vec<_> = (0..2)
            .map(|_| s.spawn(|| Gateway::start_cluster_node(db.url(), &env)))
            .collect();
        starting.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (a, b) = (&nodes[0], &nodes[1]);
    let group = call(a, "CreateApiGroup", &[("GroupName", "watched")]).await;
    let gid = group["GroupId"].as_str().unwrap().to_string();
    call(
        a,
        "SetDomain",
        &[("GroupId", &gid), ("DomainName", "localhost")],
    )
    .await;
    let api = mock_api(a, &gid, "live").await;
    // Deployed after `live`: once node b serves it, it serves `live` too (uncounted there).
    mock_api(a, &gid, "ready").await;
    eventually(|| async { get(b.http, "localhost", "/ready").await.text() == "ready" }).await;

    let minute = fresh_minute().await;
    for _ in 0..2 {
        assert_eq!(get(a.http, "localhost", "/live").await.text(), "live");
    }
    for _ in 0..3 {
        assert_eq!(get(b.http, "localhost", "/live").await.text(), "live");
    }
    // Node a: its own 2 at once, node b's 3 once b wrote them (every 200 ms); the same the
    // other way round.
    eventually(|| async { successes(a, &api, minute).await == "5" }).await;
    eventually(|| async { successes(b, &api, minute).await == "5" }).await;
    assert_eq!(now_secs() / 60 * 60, minute, "the traffic took too long");

    // Node b down: node a still answers, with what b wrote.
    let mut nodes = nodes;
    let b = nodes.pop().unwrap();
    drop(b);
    let a = &nodes[0];
    assert_eq!(get(a.http, "localhost", "/live").await.text(), "live");
    assert_eq!(successes(a, &api, minute).await, "6");
}
