//! The monitoring actions over real sockets: known traffic through the real binary —
//! successes, three backend error statuses, a throttled request, a slow backend — then the
//! exact per-minute series through the official SDKs (`DescribeApiQpsData`,
//! `DescribeApiLatencyData`, `DescribeApiTrafficData` with the Tea SDK, `DescribeApiErrorData`
//! with the legacy one) and apigw's own actions (`DescribeApiCodeData`: the calls by status and
//! by gateway error code; `DescribeApiLatencyPercentiles`: percentiles within the slow
//! request's bucket), the documented errors, the series after a restart; and a cluster of two
//! nodes on one PostgreSQL database, where one node's answer holds both nodes' traffic, also
//! once the other node is down.

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

    // apigw's own actions, signed RPC calls (the SDKs have no model for them).
    let (start, end) = (utc(minute - 120), utc(minute + 60));
    let own_window = [
        ("GroupId", gid.as_str()),
        ("ApiId", api.as_str()),
        ("StageName", "RELEASE"),
        ("StartTime", start.as_str()),
        ("EndTime", end.as_str()),
    ];
    let statuses = [
        ("200", ECHOES + 1),
        ("404", 1),
        ("429", 1),
        ("500", 1),
        ("503", 1),
    ];
    codes_and_percentiles_hold(&gw, &own_window, &statuses, minute).await;

    // Another stage, another API: zeros. A window inside one minute: that minute.
    let test_stage = json!({"ApiId": api, "StageName": "TEST", "StartTime": utc(minute - 120), "EndTime": utc(minute + 60)});
    let qps = tea("DescribeApiQpsData", &test_stage);
    assert_eq!(series(&qps, "CallSuccesses"), three(minute, 0));
    let quiet = json!({"ApiId": apis["quiet"], "StartTime": utc(minute - 120), "EndTime": utc(minute + 60)});
    assert_eq!(
        series(&tea("DescribeApiQpsData", &quiet), "CallFails"),
        three(minute, 0)
    );
    let quiet_window = [
        ("ApiId", apis["quiet"].as_str()),
        ("StartTime", start.as_str()),
        ("EndTime", end.as_str()),
    ];
    let codes = call(&gw, "DescribeApiCodeData", &quiet_window).await;
    assert_eq!(codes["StatusCodes"], json!({"CodeSeries": []}), "{codes}");
    assert_eq!(codes["ErrorCodes"], json!({"CodeSeries": []}), "{codes}");
    let percentiles = call(&gw, "DescribeApiLatencyPercentiles", &quiet_window).await;
    assert_eq!(
        percentiles["Window"],
        json!({"Requests": "0", "P50": "0", "P90": "0", "P99": "0"})
    );
    assert_eq!(series(&percentiles, "P99"), three(minute, 0));
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

    // apigw's own actions answer the same errors.
    let (a, s, e) = (api.as_str(), start.as_str(), end.as_str());
    let refused: [(Vec<(&str, &str)>, &str); 6] = [
        (vec![("StartTime", s), ("EndTime", e)], "MissingApiId"),
        (vec![("ApiId", a), ("EndTime", e)], "MissingStartTime"),
        (
            vec![
                ("ApiId", a),
                ("StartTime", "2024-01-01 10:00:00"),
                ("EndTime", e),
            ],
            "InvalidFormatStartTime",
        ),
        (
            vec![("ApiId", a), ("StartTime", e), ("EndTime", s)],
            "InvalidEndTime",
        ),
        (
            vec![
                ("ApiId", a),
                ("StageName", "PROD"),
                ("StartTime", s),
                ("EndTime", e),
            ],
            "InvalidStageName",
        ),
        (
            vec![
                ("GroupId", "another-group"),
                ("ApiId", a),
                ("StartTime", s),
                ("EndTime", e),
            ],
            "NotFoundApi",
        ),
    ];
    for action in ["DescribeApiCodeData", "DescribeApiLatencyPercentiles"] {
        for (params, code) in &refused {
            let (status, body) = admin_call(gw.admin, AK, action, params).await;
            assert_eq!(
                (status, body["Code"].as_str()),
                (400, Some(*code)),
                "{action}: {body}"
            );
        }
    }

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
    codes_and_percentiles_hold(&gw, &own_window, &statuses, minute).await;
}

/// `DescribeApiCodeData` answers `statuses` and one `T429PA` in `minute` of `window`, and
/// `DescribeApiLatencyPercentiles` puts the slow request at the top percentiles.
async fn codes_and_percentiles_hold(
    gw: &Gateway,
    window: &[(&str, &str)],
    statuses: &[(&str, u64)],
    minute: i64,
) {
    let codes = call(gw, "DescribeApiCodeData", window).await;
    assert_eq!(
        code_series(&codes, "StatusCodes"),
        expected(statuses, minute)
    );
    assert_eq!(
        code_series(&codes, "ErrorCodes"),
        expected(&[("T429PA", 1)], minute)
    );
    let percentiles = call(gw, "DescribeApiLatencyPercentiles", window).await;
    the_slow_request_sets_the_top_percentiles(&percentiles, minute, ECHOES + 5);
}

/// A code's series of `DescribeApiCodeData`: (Code, Total, its (ItemTime, ItemValue) pairs).
type CodeSeries = (String, String, Vec<(String, String)>);

/// A `DescribeApiCodeData` member (`StatusCodes`, `ErrorCodes`) as its series.
fn code_series(body: &Value, member: &str) -> Vec<CodeSeries> {
    let list = body[member]["CodeSeries"]
        .as_array()
        .unwrap_or_else(|| panic!("no {member} in {body}"));
    list.iter()
        .map(|c| {
            (
                c["Code"].as_str().unwrap().to_string(),
                c["Total"].as_str().unwrap().to_string(),
                series(c, "Items"),
            )
        })
        .collect()
}

/// What [`code_series`] gives for `counts` all in `minute`.
fn expected(counts: &[(&str, u64)], minute: i64) -> Vec<CodeSeries> {
    counts
        .iter()
        .map(|(code, n)| (code.to_string(), n.to_string(), three(minute, *n)))
        .collect()
}

/// `DescribeApiLatencyPercentiles` over three minutes ending with `minute`, where `requests`
/// were made, the slowest (the 300 ms one) alone in its bucket: p90 and p99, of the window and
/// of `minute`, fall inside that bucket's bounds; the median in the buckets below.
fn the_slow_request_sets_the_top_percentiles(body: &Value, minute: i64, requests: u64) {
    let ms = |v: &Value| -> f64 { v.as_str().unwrap().parse().unwrap() };
    let window = &body["Window"];
    assert_eq!(window["Requests"], requests.to_string(), "{body}");
    let buckets = body["Buckets"]["LatencyBucket"].as_array().unwrap();
    assert_eq!(buckets.len(), 17, "{body}");
    assert_eq!(buckets[16]["UpperBoundMs"], "+Inf");
    let counts: Vec<u64> = buckets
        .iter()
        .map(|b| b["Count"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), requests, "{body}");
    let top = counts.iter().rposition(|n| *n > 0).unwrap();
    assert_eq!(
        counts[top], 1,
        "the slow request alone in its bucket: {body}"
    );
    let bound = |i: usize| ms(&buckets[i]["UpperBoundMs"]);
    let upper = bound(top);
    assert!(
        upper >= 500.0,
        "a 300 ms request in a bucket up to {upper} ms"
    );
    let lower = bound(top - 1);
    for p in ["P90", "P99"] {
        let v = ms(&window[p]);
        assert!(
            lower < v && v <= upper,
            "{p} {v} not in ({lower}, {upper}]: {body}"
        );
        let per_minute = series(body, p);
        assert_eq!(per_minute[..2], three(minute, 0)[..2]);
        assert_eq!(per_minute[2].1, window[p].as_str().unwrap(), "{body}");
    }
    assert!(ms(&window["P90"]) < ms(&window["P99"]), "{body}");
    let p50 = ms(&window["P50"]);
    assert!(p50 > 0.0 && p50 <= lower, "P50 {p50}: {body}");
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
    // The detail is written with the totals: both nodes' calls by status and their latencies.
    for node in [a, b] {
        assert_eq!(
            status_totals(node, &api, minute).await,
            [("200".into(), "5".into())]
        );
        let percentiles = call(
            node,
            "DescribeApiLatencyPercentiles",
            &[
                ("ApiId", &api),
                ("StartTime", &utc(minute)),
                ("EndTime", &utc(minute + 60)),
            ],
        )
        .await;
        assert_eq!(percentiles["Window"]["Requests"], "5", "{percentiles}");
    }

    // Node b down: node a still answers, with what b wrote.
    let mut nodes = nodes;
    let b = nodes.pop().unwrap();
    drop(b);
    let a = &nodes[0];
    assert_eq!(get(a.http, "localhost", "/live").await.text(), "live");
    assert_eq!(successes(a, &api, minute).await, "6");
    assert_eq!(
        status_totals(a, &api, minute).await,
        [("200".into(), "6".into())]
    );
}

/// `StatusCodes` of `api` in `minute` as `gw` answers: (Code, Total).
async fn status_totals(gw: &Gateway, api: &str, minute: i64) -> Vec<(String, String)> {
    let body = call(
        gw,
        "DescribeApiCodeData",
        &[
            ("ApiId", api),
            ("StartTime", &utc(minute)),
            ("EndTime", &utc(minute + 60)),
        ],
    )
    .await;
    code_series(&body, "StatusCodes")
        .into_iter()
        .map(|(code, total, _)| (code, total))
        .collect()
}
