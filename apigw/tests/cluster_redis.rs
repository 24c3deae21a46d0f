//! Several gateway nodes sharing Redis (`APIGW_REDIS_URL`): flow-control counters are exact
//! across nodes, a nonce used on one node is refused on the others, and when Redis stops,
//! nonces fail closed (`X503NS`) and flow control falls back to a per-node share until Redis
//! is back. Real processes, the machine's Redis (each test with its own key prefix, removed at
//! the end) or a redis-server of the test's own for the faults.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{eventually, free_port, get, nonce, signed_get, Gateway, Resp};

const REDIS: &str = "redis://127.0.0.1:6379";
const KEY: &str = "cluster-app-key";
const SECRET: &str = "cluster-app-secret-0001";

fn yaml(backend: std::net::SocketAddr, limit: u64) -> String {
    format!(
        r#"
Groups:
  - GroupName: cluster
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: limited
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /limited}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: /limited, ServiceTimeout: 5000}}
        DeployTo: [RELEASE]
      - ApiName: signed
        AuthType: APP
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /signed}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: /signed, ServiceTimeout: 5000}}
        DeployTo: [RELEASE]
Apps:
  - AppName: cluster_app
    Keys: [{{AppKey: "{KEY}", AppSecret: "{SECRET}"}}]
    Authorizations:
      - {{GroupName: cluster, ApiName: signed, Stages: [RELEASE]}}
Plugins:
  - PluginName: cluster_limit
    PluginType: trafficControl
    PluginData: "unit: DAY\napiDefault: {limit}\n"
    AttachTo: [{{GroupName: cluster, ApiName: limited, Stages: [RELEASE]}}]
"#
    )
}

/// A key prefix of this test's own; its keys are deleted when it is dropped.
struct Prefix {
    url: String,
    prefix: String,
}

impl Prefix {
    fn new(url: &str) -> Prefix {
        Prefix {
            url: url.to_string(),
            prefix: format!("apigw-test-{:016x}:", fastrand::u64(..)),
        }
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let port = self.url.rsplit(':').next().unwrap_or("6379").to_string();
        let keys = Command::new("redis-cli")
            .args([
                "-p",
                &port,
                "--scan",
                "--pattern",
                &format!("{}*", self.prefix),
            ])
            .output();
        if let Ok(out) = keys {
            for key in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new("redis-cli")
                    .args(["-p", &port, "DEL", key])
                    .output();
            }
        }
    }
}

/// Three nodes on one configuration, sharing Redis under `prefix`.
fn nodes(yaml: &str, prefix: &Prefix, count: usize) -> Vec<Gateway> {
    let env = [
        ("APIGW_REDIS_URL", prefix.url.as_str()),
        ("APIGW_REDIS_PREFIX", prefix.prefix.as_str()),
    ];
    let owned = tempfile::tempdir().unwrap();
    support::apply(owned.path(), yaml).expect("apply");
    let dir = owned.path().to_path_buf();
    let mut all = vec![Gateway::start_in_with_env(owned, &env)];
    for _ in 1..count {
        all.push(Gateway::start_node(&dir, &env));
    }
    all
}

async fn signed_call(gw: &Gateway, nonce: &str) -> Resp {
    signed_get(gw.http, "localhost", "/signed", (KEY, SECRET), nonce).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counters_are_exact_across_nodes() {
    let backend = support::backend().await;
    let prefix = Prefix::new(REDIS);
    let nodes = nodes(&yaml(backend, 100), &prefix, 3);
    let addrs: Vec<_> = nodes.iter().map(|n| n.http).collect();
    // 64 connections, round robin over the nodes, 300 requests against a limit of 100.
    let mut tasks = Vec::new();
    for c in 0..64 {
        let addrs = addrs.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut i = c;
            while i < 300 {
                let r = get(addrs[i % addrs.len()], "localhost", "/limited").await;
                statuses.push((r.status.as_u16(), r.code().map(str::to_string)));
                i += 64;
            }
            statuses
        }));
    }
    let mut admitted = 0;
    let mut refused = 0;
    for t in tasks {
        for (status, code) in t.await.unwrap() {
            match status {
                200 => admitted += 1,
                429 => {
                    assert_eq!(code.as_deref(), Some("T429PA"), "refused with {code:?}");
                    refused += 1;
                }
                other => panic!("unexpected status {other} ({code:?})"),
            }
        }
    }
    assert_eq!((admitted, refused), (100, 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_used_on_one_node_is_refused_on_the_others() {
    let backend = support::backend().await;
    let prefix = Prefix::new(REDIS);
    let nodes = nodes(&yaml(backend, 100), &prefix, 3);
    for _ in 0..5 {
        let n = nonce();
        let r = signed_call(&nodes[0], &n).await;
        assert_eq!(r.status.as_u16(), 200, "{}", r.text());
        for other in &nodes[1..] {
            let r = signed_call(other, &n).await;
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (403, Some("S403NU")),
                "{}",
                r.text()
            );
        }
    }
}

/// A redis-server of the test's own, on a port of its own.
struct OwnRedis {
    child: Child,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis { child }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_redis_stops_nonces_fail_closed_and_limits_fall_back_per_node() {
    let backend = support::backend().await;
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let prefix = Prefix::new(&format!("redis://127.0.0.1:{port}"));
    let nodes = nodes(&yaml(backend, 10), &prefix, 2);
    // Both nodes have counted each other (heartbeats every 2 s).
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let r = signed_call(&nodes[0], &nonce()).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());

    redis.stop();
    let r = signed_call(&nodes[0], &nonce()).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (503, Some("X503NS")),
        "{}",
        r.text()
    );
    // Flow control: limit 10 / 2 nodes = 5 on each node while Redis is away.
    for node in &nodes {
        let mut admitted = 0;
        for _ in 0..12 {
            let r = get(node.http, "localhost", "/limited").await;
            match r.status.as_u16() {
                200 => admitted += 1,
                429 => assert_eq!(r.code(), Some("T429PA")),
                other => panic!("unexpected {other}: {}", r.text()),
            }
        }
        assert_eq!(admitted, 5, "per-node share while Redis is down");
    }

    // Redis comes back (empty): the nodes recover by themselves.
    let _redis = OwnRedis::start(port);
    for node in &nodes {
        eventually(|| async { signed_call(node, &nonce()).await.status.as_u16() == 200 }).await;
    }
    let n = nonce();
    let r = signed_call(&nodes[1], &n).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    let r = signed_call(&nodes[0], &n).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, Some("S403NU")),
        "shared again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_opened_on_one_node_opens_on_the_others() {
    let backend = support::backend().await;
    let prefix = Prefix::new(REDIS);
    let yaml = format!(
        r#"
Groups:
  - GroupName: breakers
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: flaky
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /flaky}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: /slow/2000, ServiceTimeout: 200}}
        DeployTo: [RELEASE]
Plugins:
  - PluginName: flaky_breaker
    PluginType: circuitBreaker
    PluginData: '{{"timeoutThreshold": 2, "windowInSeconds": 30, "openTimeoutSeconds": 30}}'
    AttachTo: [{{GroupName: breakers, ApiName: flaky, Stages: [RELEASE]}}]
"#
    );
    let nodes = nodes(&yaml, &prefix, 3);
    // Each node subscribes when it starts; give the subscriptions a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..2 {
        let r = get(nodes[0].http, "localhost", "/flaky").await;
        assert_eq!(r.code(), Some("D504TO"), "{}", r.text());
    }
    let r = get(nodes[0].http, "localhost", "/flaky").await;
    assert_eq!(r.code(), Some("D503CB"), "node A opened: {}", r.text());
    // The other nodes never saw a failure: their breakers open from node A's message. The
    // first request each gets is refused (a request that reached the slow backend would be a
    // D504TO of its own).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for node in &nodes[1..] {
        let r = get(node.http, "localhost", "/flaky").await;
        assert_eq!(r.code(), Some("D503CB"), "{}", r.text());
    }
}
