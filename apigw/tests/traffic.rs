//! Flow control over real sockets: a `trafficControl` plugin under 64 concurrent connections
//! (exactly the limit passes per window), app/user/special limits, and the group, instance and
//! default sub-domain caps, each with its documented code.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{send, Gateway};

const AK: (&str, &str) = ("trafficid", "traffic-secret-0001");

fn config(backend: SocketAddr) -> String {
    let api = |name: &str, path: &str, auth: &str| support::get_api_yaml(name, path, auth, backend);
    format!(
        r#"
Groups:
  - GroupName: limited
    Domains: [{{DomainName: localhost}}]
    Apis:{}{}{}
  - GroupName: small_group
    TrafficLimit: 5
    Domains: [{{DomainName: small.localhost}}]
    Apis:{}
Apps:
  - AppName: plain_app
    AppCodes: [plaincode0000001]
    Authorizations: [{{GroupName: limited, ApiName: per_app, Stages: [RELEASE]}}]
  - AppName: vip_app
    AppCodes: [vipcode000000001]
    Authorizations: [{{GroupName: limited, ApiName: per_app, Stages: [RELEASE]}}]
Plugins:
  - PluginName: hundred_per_second
    PluginType: trafficControl
    PluginData: "unit: SECOND\napiDefault: 100\n"
    AttachTo: [{{GroupName: limited, ApiName: burst, Stages: [RELEASE]}}]
  - PluginName: per_app_minute
    PluginType: trafficControl
    PluginData: '{{"unit": "MINUTE", "apiDefault": 6, "appDefault": 2}}'
    AttachTo: [{{GroupName: limited, ApiName: per_app, Stages: [RELEASE]}}]
"#,
        api("burst", "/burst", "ANONYMOUS"),
        api("per_app", "/per-app", "APP"),
        api("free", "/free", "ANONYMOUS"),
        api("small", "/small", "ANONYMOUS"),
    )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Sleeps until just after the next boundary of a `unit_ms` window.
async fn align(unit_ms: u64) {
    let into = now_ms() % unit_ms;
    tokio::time::sleep(Duration::from_millis(unit_ms - into + 5)).await;
}

/// `per_conn` requests on each of `conns` keep-alive connections at once; the statuses, and
/// whether the burst stayed inside one `unit_ms` window.
async fn burst(
    addr: SocketAddr,
    host: &str,
    path: &str,
    conns: usize,
    per_conn: usize,
    unit_ms: u64,
) -> (Vec<u16>, bool) {
    let start = now_ms();
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let (host, path) = (host.to_string(), path.to_string());
            tokio::spawn(async move {
                let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(1)
                    .build_http();
                let mut statuses = Vec::new();
                for _ in 0..per_conn {
                    let req = http::Request::get(format!("http://{addr}{path}"))
                        .header("host", &host)
                        .body(Empty::new())
                        .unwrap();
                    let resp = client.request(req).await.expect("request");
                    statuses.push(resp.status().as_u16());
                    let _ = resp.into_body().collect().await;
                }
                statuses
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let same_window = start / unit_ms == now_ms() / unit_ms;
    (all, same_window)
}

/// Runs bursts aligned to a window until one fits inside a single window (the machine may be
/// slow); returns its statuses.
async fn burst_in_one_window(
    addr: SocketAddr,
    host: &str,
    path: &str,
    conns: usize,
    per_conn: usize,
    unit_ms: u64,
) -> Vec<u16> {
    for _ in 0..8 {
        align(unit_ms).await;
        let (statuses, same) = burst(addr, host, path, conns, per_conn, unit_ms).await;
        if same {
            return statuses;
        }
    }
    panic!("no burst fitted in one window");
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_connections_get_exactly_the_limit_per_second() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));
    let statuses = burst_in_one_window(gw.http, "localhost", "/burst", 64, 3, 1000).await;
    assert_eq!(statuses.len(), 192);
    assert_eq!(count(&statuses, 200), 100, "exactly the limit passes");
    assert_eq!(count(&statuses, 429), 92);
    // The next window admits again.
    align(1000).await;
    let r = support::get(gw.http, "localhost", "/burst").await;
    assert_eq!(r.status, 200);
    let r = {
        let mut last = None;
        for _ in 0..101 {
            last = Some(support::get(gw.http, "localhost", "/burst").await);
            if last.as_ref().unwrap().status == 429 {
                break;
            }
        }
        last.unwrap()
    };
    assert_eq!(r.code(), Some("T429PA"));
    assert_eq!(r.message(), Some("Throttled by API Flow Control"));
    // An API without the plugin is not limited.
    let (statuses, _) = burst(gw.http, "localhost", "/free", 16, 10, 1000).await;
    assert_eq!(count(&statuses, 200), 160);
}

#[tokio::test]
async fn app_limits_come_before_the_api_limit() {
    let backend = support::backend().await;
    let yaml = config(backend);
    let gw = Gateway::start(&yaml);
    // A minute window: stay clear of its end so that the whole test runs inside one.
    if now_ms() % 60_000 > 50_000 {
        align(60_000).await;
    }
    let call = |code: &'static str| {
        let addr = gw.http;
        async move {
            let auth = format!("APPCODE {code}");
            send(
                addr,
                "GET",
                "localhost",
                "/per-app",
                &[("Authorization", &auth)],
                b"",
            )
            .await
        }
    };
    for _ in 0..2 {
        assert_eq!(call("plaincode0000001").await.status, 200);
    }
    let r = call("plaincode0000001").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, Some("T429PR")));
    assert_eq!(r.message(), Some("Throttled by PLUGIN Flow Control"));
    // The refused request did not use up the API's quota (6): the other app gets its 2, ...
    assert_eq!(call("vipcode000000001").await.status, 200);
    assert_eq!(call("vipcode000000001").await.status, 200);
    assert_eq!(call("vipcode000000001").await.code(), Some("T429PR"));
    // ... then a special limit for vip_app (5) lifts its app limit, up to the API's 6.
    let vip = gw.cli(&["app", "list"]).1;
    let vip_id: String = vip
        .lines()
        .find(|l| l.starts_with("vip_app"))
        .and_then(|l| l.split("AppId ").nth(1))
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_else(|| panic!("no AppId for vip_app in {vip}"));
    let special = yaml.replace(
        r#"'{"unit": "MINUTE", "apiDefault": 6, "appDefault": 2}'"#,
        &format!(
            r#"'{{"unit": "MINUTE", "apiDefault": 6, "appDefault": 2, "specials": [{{"type": "APP", "policies": [{{"key": {vip_id}, "value": 5}}]}}]}}'"#
        ),
    );
    assert_ne!(special, yaml);
    gw.apply(&special);
    support::eventually(|| async { call("vipcode000000001").await.status == 200 }).await;
    assert_eq!(
        call("vipcode000000001").await.status,
        200,
        "4 of the API's 6 used"
    );
    let r = call("vipcode000000001").await;
    assert_eq!(r.code(), Some("T429PA"), "the API default still applies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_and_instance_caps() {
    let backend = support::backend().await;
    let gw = Gateway::start_with_env(&config(backend), &[("APIGW_INSTANCE_QPS", "40")]);
    let statuses = burst_in_one_window(gw.http, "small.localhost", "/small", 10, 2, 1000).await;
    assert_eq!(count(&statuses, 200), 5, "TrafficLimit 5");
    let r = send(gw.http, "GET", "small.localhost", "/small", &[], b"").await;
    if r.status == 429 {
        assert_eq!(r.code(), Some("T429GR"));
        assert_eq!(r.message(), Some("Throttled by GROUP Flow Control"));
    }
    let statuses = burst_in_one_window(gw.http, "localhost", "/free", 20, 3, 1000).await;
    assert_eq!(count(&statuses, 200), 40, "APIGW_INSTANCE_QPS 40");
    let r = {
        let mut last = None;
        for _ in 0..41 {
            last = Some(support::get(gw.http, "localhost", "/free").await);
            if last.as_ref().unwrap().status == 429 {
                break;
            }
        }
        last.unwrap()
    };
    assert_eq!(r.code(), Some("T429IN"));
    assert_eq!(r.message(), Some("Throttled by INSTANCE Flow Control"));
}

#[tokio::test]
async fn the_default_sub_domain_has_a_daily_quota() {
    let backend = support::backend().await;
    let dir = tempfile::tempdir().unwrap();
    support::apply(dir.path(), &config(backend)).unwrap();
    let gw = Gateway::start_in_with_env(
        dir,
        &[
            ("APIGW_DEFAULT_DOMAIN_DAILY_QUOTA", "3"),
            ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
            ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
        ],
    );
    let (status, groups) = support::admin_call(
        gw.admin,
        AK,
        "DescribeApiGroups",
        &[("GroupName", "limited")],
    )
    .await;
    assert_eq!(status, 200, "{groups}");
    let sub = groups["ApiGroupAttributes"]["ApiGroupAttribute"][0]["SubDomain"]
        .as_str()
        .unwrap_or_else(|| panic!("{groups}"))
        .to_string();
    for _ in 0..3 {
        assert_eq!(support::get(gw.http, &sub, "/free").await.status, 200);
    }
    let r = support::get(gw.http, &sub, "/free").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, Some("T429ID")));
    assert_eq!(
        r.message().unwrap(),
        format!("Throttled by INNER DOMAIN Flow Control, {sub} is a test domain, only 3 requests per day")
    );
    // Custom domains are not counted.
    assert_eq!(
        support::get(gw.http, "localhost", "/free").await.status,
        200
    );
}
