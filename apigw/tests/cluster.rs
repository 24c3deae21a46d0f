//! A cluster: real `apigw serve` processes on different ports sharing one PostgreSQL database
//! (a database of their own per test, dropped at the end). A change made through any node is
//! live on that node when the call returns and on every other node within 1 s, pushed by
//! LISTEN/NOTIFY: the nodes' polling is turned off (one minute) so that only the push can
//! make it in time. Writers on different nodes never break what the control plane checks.
//! Also here: what `apigw serve` does with a store whose schema is older (upgraded) or newer
//! (refused) than the binary's.

mod support;

use apigw_store::TestDatabase;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::own_postgres::OwnPostgres;
use support::{admin_call, cli_store, eventually, get, Gateway};

const AK: (&str, &str) = ("clusterid", "cluster-secret-0001");
const HOST: &str = "cluster.example.com";

fn node(db: &TestDatabase) -> Gateway {
    node_on(db.url())
}

fn node_on(store_url: &str) -> Gateway {
    node_with(store_url, &[])
}

fn node_with(store_url: &str, extra: &[(&str, &str)]) -> Gateway {
    let mut env = vec![
        ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
        ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
        ("APIGW_RELOAD_POLL_MS", "60000"),
        ("APIGW_DEFAULT_DOMAIN_DAILY_QUOTA", "0"),
    ];
    env.extend_from_slice(extra);
    Gateway::start_cluster_node(store_url, &env)
}

/// Three nodes started together on a new database (they create its schema once).
fn three_nodes(db: &TestDatabase) -> Vec<Gateway> {
    std::thread::scope(|s| {
        let starting: Vec<_> = (0..3).map(|_| s.spawn(|| node(db))).collect();
        starting.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

async fn call(gw: &Gateway, action: &str, params: &[(&str, &str)]) -> Value {
    let (status, body) = admin_call(gw.admin, AK, action, params).await;
    assert_eq!(status, 200, "{action}: {body}");
    body
}

/// A group on [`HOST`] with a mock API `/live` answering `v0`, deployed; (GroupId, ApiId).
async fn setup(gw: &Gateway) -> (String, String) {
    let g = call(gw, "CreateApiGroup", &[("GroupName", "cluster_group")]).await;
    let gid = g["GroupId"].as_str().unwrap().to_string();
    call(gw, "SetDomain", &[("GroupId", &gid), ("DomainName", HOST)]).await;
    let rc = json!({"RequestHttpMethod": "GET", "RequestPath": "/live"}).to_string();
    let sc = json!({"Mock": "TRUE", "MockResult": "v0"}).to_string();
    let api = call(
        gw,
        "CreateApi",
        &[
            ("GroupId", &gid),
            ("ApiName", "live_api"),
            ("Visibility", "PRIVATE"),
            ("AuthType", "ANONYMOUS"),
            ("RequestConfig", &rc),
            ("ServiceConfig", &sc),
        ],
    )
    .await;
    let api_id = api["ApiId"].as_str().unwrap().to_string();
    deploy(gw, &gid, &api_id, "v0").await;
    (gid, api_id)
}

/// ModifyApi (the mock answers `body`) and DeployApi through `gw`.
async fn deploy(gw: &Gateway, gid: &str, api_id: &str, body: &str) {
    modify(gw, gid, api_id, body).await;
    deploy_draft(gw, api_id, body).await;
}

/// ModifyApi: the draft's mock answers `body`.
async fn modify(gw: &Gateway, gid: &str, api_id: &str, body: &str) {
    let rc = json!({"RequestHttpMethod": "GET", "RequestPath": "/live"}).to_string();
    let sc = json!({"Mock": "TRUE", "MockResult": body}).to_string();
    call(
        gw,
        "ModifyApi",
        &[
            ("GroupId", gid),
            ("ApiId", api_id),
            ("ApiName", "live_api"),
            ("AuthType", "ANONYMOUS"),
            ("RequestConfig", &rc),
            ("ServiceConfig", &sc),
        ],
    )
    .await;
}

/// DeployApi: the draft goes live in RELEASE.
async fn deploy_draft(gw: &Gateway, api_id: &str, body: &str) {
    call(
        gw,
        "DeployApi",
        &[
            ("ApiId", api_id),
            ("StageName", "RELEASE"),
            ("Description", body),
        ],
    )
    .await;
}

/// A declarative file: group `<name>_group` on [`HOST`] with a mock API `/live` answering
/// `body`, deployed.
fn live_yaml(name: &str, body: &str) -> String {
    format!(
        r#"
Groups:
  - GroupName: {name}_group
    Domains: [{{DomainName: {HOST}}}]
    Apis:
      - ApiName: {name}_api
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/live"}}
        ServiceConfig: {{Mock: "TRUE", MockResult: "{body}"}}
        DeployTo: [RELEASE]
"#
    )
}

/// What `/live` answers on a node: the mock body, or the error code.
async fn answer(addr: SocketAddr) -> String {
    let r = get(addr, HOST, "/live").await;
    match r.code() {
        Some(code) => code.to_string(),
        None => r.text(),
    }
}

/// Polls `addr` until it answers `want`; the time it took from `since`, or None after `limit`.
async fn live_after(
    addr: SocketAddr,
    want: &str,
    since: Instant,
    limit: Duration,
) -> Option<Duration> {
    loop {
        if answer(addr).await == want {
            return Some(since.elapsed());
        }
        if since.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Deploys `rounds` times, each through the next node in turn; after each, the node that
/// took the call must answer the new version at once, and the others are polled until they
/// do. Returns, per deploy and other node, (time from the call's start, time from its return)
/// to live, and the stale answers of the node that took the call.
async fn measure(
    nodes: &[Gateway],
    rounds: usize,
    limit: Duration,
) -> (Vec<(Duration, Duration)>, Vec<String>) {
    let (gid, api_id) = setup(&nodes[0]).await;
    // Every node serves v0 before the rounds start.
    for n in nodes {
        assert!(
            live_after(n.http, "v0", Instant::now(), Duration::from_secs(5))
                .await
                .is_some(),
            "v0 live on every node"
        );
    }
    let mut times = Vec::new();
    let mut stale = Vec::new();
    for i in 1..=rounds {
        let body = format!("v{i}");
        let via = &nodes[i % nodes.len()];
        modify(via, &gid, &api_id, &body).await;
        let start = Instant::now();
        deploy_draft(via, &api_id, &body).await;
        let returned = Instant::now();
        let got = answer(via.http).await;
        if got != body {
            stale.push(format!("deploy {i} through {}: {got}", via.admin));
        }
        let others: Vec<_> = nodes.iter().filter(|n| n.http != via.http).collect();
        let waits = others
            .iter()
            .map(|n| live_after(n.http, &body, start, limit));
        for (n, t) in others
            .iter()
            .zip(futures_util::future::join_all(waits).await)
        {
            let t =
                t.unwrap_or_else(|| panic!("deploy {i}: not live on {} within {limit:?}", n.http));
            times.push((t, t.saturating_sub(returned - start)));
        }
    }
    (times, stale)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(times: &[Duration]) -> String {
    let mut t = times.to_vec();
    t.sort();
    format!(
        "p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        percentile(&t, 0.5).as_secs_f64() * 1e3,
        percentile(&t, 0.9).as_secs_f64() * 1e3,
        t[t.len() - 1].as_secs_f64() * 1e3
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_through_any_node_is_live_there_at_once_and_on_the_others_within_1s() {
    let db = TestDatabase::create();
    let nodes = three_nodes(&db);
    let (times, stale) = measure(&nodes, 12, Duration::from_secs(1)).await;
    assert!(
        stale.is_empty(),
        "stale on the node that took the call: {stale:?}"
    );
    let from_start: Vec<Duration> = times.iter().map(|t| t.0).collect();
    assert!(
        from_start.iter().all(|t| *t < Duration::from_secs(1)),
        "{}",
        summary(&from_start)
    );
    eprintln!("time to live on the other nodes: {}", summary(&from_start));
}

/// The figures of docs/operations.md: 100 deploys with three nodes (`bench/cluster-live.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by bench/cluster-live.sh"]
async fn cluster_time_to_live_over_100_deploys() {
    let rounds: usize = std::env::var("CLUSTER_DEPLOYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let db = TestDatabase::create();
    let nodes = three_nodes(&db);
    let (times, stale) = measure(&nodes, rounds, Duration::from_secs(5)).await;
    let from_start: Vec<Duration> = times.iter().map(|t| t.0).collect();
    let from_return: Vec<Duration> = times.iter().map(|t| t.1).collect();
    println!(
        "{rounds} deploys, 3 nodes, {} measurements (deploy through each node in turn, the 2 others polled)",
        times.len()
    );
    println!("from the DeployApi call: {}", summary(&from_start));
    println!("from its return:         {}", summary(&from_return));
    println!(
        "stale answers on the node that took the call: {}",
        stale.len()
    );
    assert!(stale.is_empty(), "{stale:?}");
}

/// The scale figures of docs/operations.md (`bench/cluster-10k.sh`): 10,000 APIs (100 groups
/// of 100, `bench/gen-apis.sh`) applied to the cluster store, then three nodes started one after
/// the other (each timed from spawn to its listeners answering, the configuration loaded),
/// `CLUSTER_DEPLOYS` deploys measured as in `cluster_time_to_live_over_100_deploys`, and each
/// node's resident memory before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by bench/cluster-10k.sh"]
async fn cluster_with_10000_apis() {
    let rounds: usize = std::env::var("CLUSTER_DEPLOYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let db = TestDatabase::create();
    let file = tempfile::NamedTempFile::new().unwrap();
    let generated = std::process::Command::new(support::repo_root().join("bench/gen-apis.sh"))
        .stdout(file.reopen().unwrap())
        .status()
        .unwrap();
    assert!(generated.success());
    let started = Instant::now();
    let applied = std::process::Command::new(support::BIN)
        .args(["apply", "-f"])
        .arg(file.path())
        .args(["--store", db.url()])
        .env("APIGW_MAX_GROUPS", "200")
        .output()
        .unwrap();
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    println!(
        "apply of 10,000 APIs to the cluster store: {:?}",
        started.elapsed()
    );

    let mut nodes = Vec::new();
    for i in 0..3 {
        let spawned = Instant::now();
        // One group more than the file's 100, for the API the deploys change.
        nodes.push(node_with(db.url(), &[("APIGW_MAX_GROUPS", "200")]));
        println!(
            "node {i} started (10,000 APIs live) in {:?}",
            spawned.elapsed()
        );
    }
    for (i, n) in nodes.iter().enumerate() {
        println!("node {i} RSS after start: {} MB", rss_mb(n));
    }
    let (times, stale) = measure(&nodes, rounds, Duration::from_secs(5)).await;
    let from_start: Vec<Duration> = times.iter().map(|t| t.0).collect();
    println!(
        "{rounds} deploys, time to live on the 2 other nodes from the DeployApi call: {}",
        summary(&from_start)
    );
    println!(
        "stale answers on the node that took the call: {}",
        stale.len()
    );
    for (i, n) in nodes.iter().enumerate() {
        println!("node {i} RSS after the deploys: {} MB", rss_mb(n));
    }
    assert!(stale.is_empty(), "{stale:?}");
}

/// A node's resident memory in MB (`VmRSS`).
fn rss_mb(gw: &Gateway) -> f64 {
    let pid = gw.child.as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    (kb / 1024.0 * 10.0).round() / 10.0
}

/// Two nodes create groups of the same name at the same time: exactly one of each pair is
/// created, the other call is refused (`RepeatedGroupName`), every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_nodes_never_break_uniqueness() {
    let db = TestDatabase::create();
    let nodes = three_nodes(&db);
    let (a, b) = (&nodes[0], &nodes[1]);
    for round in 0..15 {
        let name = format!("same_name_{round}");
        let params = [("GroupName", name.as_str())];
        let ((sa, ba), (sb, bb)) = tokio::join!(
            admin_call(a.admin, AK, "CreateApiGroup", &params),
            admin_call(b.admin, AK, "CreateApiGroup", &params),
        );
        let created = [sa, sb].iter().filter(|s| **s == 200).count();
        assert_eq!(created, 1, "round {round}: {sa} {ba} / {sb} {bb}");
        let refused = if sa == 200 { &bb } else { &ba };
        assert_eq!(refused["Code"], "RepeatedGroupName", "{refused}");
    }
    // One of each name, seen alike by every node.
    for n in &nodes {
        let list = call(n, "DescribeApiGroups", &[("PageSize", "50")]).await;
        let groups = list["ApiGroupAttributes"]["ApiGroupAttribute"]
            .as_array()
            .unwrap();
        assert_eq!(groups.len(), 15, "{list}");
    }
}

/// The CLI writes to the cluster's database (`--store`): every node serves the change
/// within 1 s, without a data directory in common.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_apply_on_the_cluster_store_is_live_on_every_node() {
    let db = TestDatabase::create();
    let nodes = three_nodes(&db);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gw.yaml");
    std::fs::write(&file, live_yaml("cli", "from the cli")).unwrap();
    let start = Instant::now();
    let (ok, out) = cli_store(db.url(), &["apply", "-f", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    for n in &nodes {
        let t = live_after(n.http, "from the cli", start, Duration::from_secs(5)).await;
        assert!(t.is_some_and(|t| t < Duration::from_secs(2)), "{t:?}");
    }
    let (ok, out) = cli_store(db.url(), &["apis"]);
    assert!(ok && out.contains("cli_api"), "{out}");
}

/// Runs `apigw serve` that must fail at start: (exit success, everything it printed).
fn serve_fails(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut child = std::process::Command::new(support::BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-listen", "off"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("apigw serve did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A store that cannot be used stops `apigw serve` at start with a clear message and a
/// non-zero exit: unreachable, not a PostgreSQL URL, a schema newer than the binary (in
/// PostgreSQL and in a data directory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_store_it_cannot_use() {
    let (ok, out) = serve_fails(
        &["--store", "postgres://apigw:hunter2@127.0.0.1:1/apigw"],
        &[],
    );
    assert!(!ok);
    assert!(
        out.contains("127.0.0.1:1") && !out.contains("hunter2"),
        "{out}"
    );
    let (ok, out) = serve_fails(&[], &[("APIGW_STORE_URL", "mysql://127.0.0.1/apigw")]);
    assert!(!ok);
    assert!(out.contains("postgres://"), "{out}");

    let db = TestDatabase::create();
    drop(node(&db));
    let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("UPDATE schema_version SET version = 999")
        .await
        .unwrap();
    let (ok, out) = serve_fails(&["--store", db.url()], &[]);
    assert!(!ok);
    assert!(
        out.contains("version 999") && out.contains("version 4"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    rusqlite::Connection::open(dir.path().join("apigw.db"))
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    let (ok, out) = serve_fails(&["--data-dir", dir.path().to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(
        out.contains("version 999") && out.contains("version 4"),
        "{out}"
    );
}

/// A data directory made before schemas had versions (`user_version` 0; its tables are
/// version 1's) is upgraded in place by `apigw serve` (to the newest version, 4) and served as
/// it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_upgrades_an_unversioned_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    support::apply(dir.path(), &live_yaml("old", "kept")).unwrap();
    let db = dir.path().join("apigw.db");
    let version = |v: Option<i64>| {
        let conn = rusqlite::Connection::open(&db).unwrap();
        if let Some(v) = v {
            conn.pragma_update(None, "user_version", v).unwrap();
        }
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
            .unwrap()
    };
    assert_eq!(version(Some(0)), 0);
    let gw = Gateway::start_in(dir);
    assert_eq!(answer(gw.http).await, "kept");
    assert_eq!(version(None), 4);
}

/// PostgreSQL stops (as in a crash) and starts again: the nodes keep serving the last
/// configuration, management calls answer `503 ServiceUnavailable` meanwhile, and once it is
/// back a change is accepted and live on both nodes again (the push reconnects: the nodes'
/// polling is off). What was acknowledged before the crash is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_postgresql_stops_nodes_serve_the_last_configuration_and_catch_up() {
    let mut pg = OwnPostgres::start();
    let url = pg.url();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| node_on(&url));
        let b = s.spawn(|| node_on(&url));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (gid, api_id) = setup(&a).await;
    deploy(&a, &gid, &api_id, "v1").await;
    eventually(|| async { answer(b.http).await == "v1" }).await;

    pg.stop();
    for n in [&a, &b] {
        for _ in 0..20 {
            assert_eq!(
                answer(n.http).await,
                "v1",
                "{} while the store is down",
                n.http
            );
        }
        let (status, body) = admin_call(n.admin, AK, "DescribeApiGroups", &[]).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["Code"], "ServiceUnavailable", "{body}");
        let (status, body) = admin_call(
            n.admin,
            AK,
            "DeployApi",
            &[("ApiId", &api_id), ("StageName", "RELEASE")],
        )
        .await;
        assert_eq!(status, 503, "{body}");
        assert!(
            body["Message"].as_str().unwrap().contains("store"),
            "{body}"
        );
    }

    pg.restart();
    // The first calls after the restart may still meet a connection the crash cut.
    eventually(|| async { admin_call(b.admin, AK, "DescribeApiGroups", &[]).await.0 == 200 }).await;
    deploy(&b, &gid, &api_id, "v2").await;
    assert_eq!(answer(b.http).await, "v2", "the node that took the deploy");
    eventually(|| async { answer(a.http).await == "v2" }).await;

    // Acknowledged, then the store crashes at once: still there when it is back.
    deploy(&a, &gid, &api_id, "v3").await;
    pg.stop();
    pg.restart();
    let fresh = node_on(&url);
    assert_eq!(
        answer(fresh.http).await,
        "v3",
        "a node started after the crash"
    );
}
