//! `/metrics` over real sockets: known traffic through the real binary — successes, backend
//! errors, gateway error codes, flow control at three levels, the response cache, a circuit
//! breaker that opens, a slow backend — then the exact counts per label set, the histogram
//! buckets the slow request landed in, and the series of an abolished API leaving.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use support::{eventually, get, raw, send, Gateway};

/// One API of the `shop` group (RELEASE), proxied to `backend` with the path as received.
fn api(name: &str, method: &str, path: &str, auth: &str, backend: SocketAddr) -> String {
    format!(
        r#"
      - ApiName: {name}
        AuthType: {auth}
        RequestConfig: {{RequestHttpMethod: {method}, RequestPath: "{path}"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServiceTimeout: 5000}}
        DeployTo: [RELEASE]"#
    )
}

fn config(backend: SocketAddr) -> String {
    let apis = [
        api("echo", "POST", "/echo", "ANONYMOUS", backend),
        api("slow", "GET", "/slow/300", "ANONYMOUS", backend),
        api("failing", "GET", "/status/503", "ANONYMOUS", backend),
        api("signed", "GET", "/signed", "APP", backend),
        api("limited", "GET", "/limited", "ANONYMOUS", backend),
        api("per_app", "GET", "/per-app", "APP", backend),
        api("cached", "GET", "/cached", "ANONYMOUS", backend),
    ]
    .concat();
    format!(
        r#"
Groups:
  - GroupName: shop
    Domains: [{{DomainName: localhost}}]
    Apis:{apis}
Apps:
  - AppName: caller
    AppCodes: [callercode000001]
    Authorizations: [{{GroupName: shop, ApiName: per_app, Stages: [RELEASE]}}]
Plugins:
  - PluginName: two_a_day
    PluginType: trafficControl
    PluginData: "unit: DAY\napiDefault: 2\n"
    AttachTo: [{{GroupName: shop, ApiName: limited, Stages: [RELEASE]}}]
  - PluginName: one_per_app_a_day
    PluginType: trafficControl
    PluginData: "unit: DAY\napiDefault: 100\nappDefault: 1\n"
    AttachTo: [{{GroupName: shop, ApiName: per_app, Stages: [RELEASE]}}]
  - PluginName: open_at_first_error
    PluginType: circuitBreaker
    PluginData: "errorThreshold: 1\nwindowInSeconds: 60\nopenTimeoutSeconds: 300\nerrorCondition: '$StatusCode >= 500'\n"
    AttachTo: [{{GroupName: shop, ApiName: failing, Stages: [RELEASE]}}]
  - PluginName: keep_five_minutes
    PluginType: caching
    PluginData: "duration: 300\n"
    AttachTo: [{{GroupName: shop, ApiName: cached, Stages: [RELEASE]}}]
"#
    )
}

/// One scrape of `/metrics`: every sample, by name and label set.
struct Scrape {
    text: String,
    samples: BTreeMap<(String, BTreeMap<String, String>), f64>,
}

fn scrape(admin: SocketAddr) -> Scrape {
    let answer = raw(
        admin,
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let text = answer[answer.find("\r\n\r\n").unwrap() + 4..].to_string();
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap();
                let labels = body
                    .split("\",")
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").unwrap();
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (name, labels)
            }
        };
        let value = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap(),
        };
        let fresh = samples.insert((name.to_string(), labels), value);
        assert!(fresh.is_none(), "{line} appears twice in:\n{text}");
    }
    Scrape { text, samples }
}

impl Scrape {
    /// The sample with exactly these labels (panics when there is none).
    fn get<K: AsRef<str>, V: AsRef<str>>(&self, name: &str, labels: &[(K, V)]) -> f64 {
        self.find(name, labels)
            .unwrap_or_else(|| panic!("no {name} {} in:\n{}", show(labels), self.text))
    }

    /// The sample of an unlabelled metric.
    fn value(&self, name: &str) -> f64 {
        self.get::<&str, &str>(name, &[])
    }

    fn find<K: AsRef<str>, V: AsRef<str>>(&self, name: &str, labels: &[(K, V)]) -> Option<f64> {
        let key = (
            name.to_string(),
            labels
                .iter()
                .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string()))
                .collect(),
        );
        self.samples.get(&key).copied()
    }

    /// Every sample of `name` that has the label `key` = `value`.
    fn with_label(&self, name: &str, key: &str, value: &str) -> Vec<f64> {
        self.samples
            .iter()
            .filter(|((n, l), _)| n == name && l.get(key).map(String::as_str) == Some(value))
            .map(|(_, v)| *v)
            .collect()
    }

    /// Every sample named `name`.
    fn named(&self, name: &str) -> usize {
        self.samples.keys().filter(|(n, _)| n == name).count()
    }
}

fn show<K: AsRef<str>, V: AsRef<str>>(labels: &[(K, V)]) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", k.as_ref(), v.as_ref()))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_is_counted_once_by_api_status_class_and_code() {
    let backend = support::backend().await;
    let gw = Gateway::start_with_env(
        &config(backend),
        &[("APIGW_DEFAULT_DOMAIN_DAILY_QUOTA", "1")],
    );
    let (group, apis) = support::api_ids(&gw, "shop");
    let id = |name: &str| apis[name].as_str();
    let at = |name: &'static str| {
        let (group, api) = (group.clone(), apis[name].clone());
        move |extra: &[(&'static str, &'static str)]| {
            let mut l = vec![
                ("group".to_string(), group.clone()),
                ("api".to_string(), api.clone()),
                ("stage".to_string(), "RELEASE".to_string()),
            ];
            l.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            l
        }
    };

    // Before any request: no request series, every throttle level at 0.
    let before = scrape(gw.admin);
    assert_eq!(before.named("apigw_requests_total"), 0);
    for level in ["api", "user", "app", "group", "instance", "default_domain"] {
        assert_eq!(
            before.get("apigw_throttled_total", &[("level", level)]),
            0.0
        );
    }

    // (The limits below are per UTC day: only a run across midnight could see a window end.)
    // Five successes, each declaring a 5-byte body; the answers' bodies are counted.
    let mut echoed = 0;
    for _ in 0..5 {
        let r = send(gw.http, "POST", "localhost", "/echo", &[], b"hello").await;
        assert_eq!(r.status, 200);
        echoed += r.body.len();
    }
    // Through the group's default sub-domain: one passes, the next is over the daily quota.
    let sub = format!("{group}.apigw.localhost");
    let r = send(gw.http, "POST", &sub, "/echo", &[], b"hello").await;
    assert_eq!(r.status, 200);
    echoed += r.body.len();
    let r = send(gw.http, "POST", &sub, "/echo", &[], b"hello").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, Some("T429ID")));
    // A slow backend (300 ms).
    let r = get(gw.http, "localhost", "/slow/300").await;
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "slow done"));
    // A backend 503 opens the breaker (threshold 1); the next call is refused by it.
    let r = get(gw.http, "localhost", "/status/503").await;
    assert_eq!((r.status.as_u16(), r.code()), (503, None));
    let r = get(gw.http, "localhost", "/status/503").await;
    assert_eq!((r.status.as_u16(), r.code()), (503, Some("D503CB")));
    // An APP API called without credentials.
    let r = get(gw.http, "localhost", "/signed").await;
    assert_eq!((r.status.as_u16(), r.code()), (400, Some("A400MA")));
    // The API's own limit: 2 a day.
    for _ in 0..2 {
        assert_eq!(get(gw.http, "localhost", "/limited").await.status, 200);
    }
    let r = get(gw.http, "localhost", "/limited").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, Some("T429PA")));
    // The app's limit: 1 a day.
    let appcode = [("Authorization", "APPCODE callercode000001")];
    let r = send(gw.http, "GET", "localhost", "/per-app", &appcode, b"").await;
    assert_eq!(r.status, 200);
    let r = send(gw.http, "GET", "localhost", "/per-app", &appcode, b"").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, Some("T429PR")));
    // A miss, then a hit.
    let first = get(gw.http, "localhost", "/cached").await;
    assert_eq!(
        (first.status.as_u16(), first.header("x-ca-caching")),
        (200, None)
    );
    let second = get(gw.http, "localhost", "/cached").await;
    assert_eq!(second.header("x-ca-caching"), Some("true"));
    // No API: an unknown path twice, an unknown host once.
    for _ in 0..2 {
        assert_eq!(
            get(gw.http, "localhost", "/nowhere").await.code(),
            Some("I404NF")
        );
    }
    assert_eq!(
        get(gw.http, "unknown.example.com", "/echo").await.code(),
        Some("I404DO")
    );
    // Not even HTTP: the parser's own answer, rewritten to the contract, counts too.
    let answer = raw(gw.http, b"GARBAGE\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("x-ca-error-code: I400RU\r\n"), "{answer}");

    let m = scrape(gw.admin);
    let requests = |name: &'static str, class: &'static str, code: &'static str| {
        m.get(
            "apigw_requests_total",
            &at(name)(&[("status_class", class), ("code", code)]),
        )
    };
    assert_eq!(requests("echo", "2xx", ""), 6.0);
    assert_eq!(requests("echo", "4xx", "T429ID"), 1.0);
    assert_eq!(requests("slow", "2xx", ""), 1.0);
    assert_eq!(requests("failing", "5xx", ""), 1.0);
    assert_eq!(requests("failing", "5xx", "D503CB"), 1.0);
    assert_eq!(requests("signed", "4xx", "A400MA"), 1.0);
    assert_eq!(requests("limited", "2xx", ""), 2.0);
    assert_eq!(requests("limited", "4xx", "T429PA"), 1.0);
    assert_eq!(requests("per_app", "2xx", ""), 1.0);
    assert_eq!(requests("per_app", "4xx", "T429PR"), 1.0);
    assert_eq!(requests("cached", "2xx", ""), 2.0);
    let unmatched = |class, code| {
        m.get(
            "apigw_requests_total",
            &[
                ("group", ""),
                ("api", ""),
                ("stage", ""),
                ("status_class", class),
                ("code", code),
            ],
        )
    };
    assert_eq!(unmatched("4xx", "I404NF"), 2.0);
    assert_eq!(unmatched("4xx", "I404DO"), 1.0);
    assert_eq!(unmatched("4xx", "I400RU"), 1.0);
    // Nothing else was counted: 22 requests in all, on exactly these 14 series.
    assert_eq!(m.named("apigw_requests_total"), 14);
    let total: f64 = m
        .samples
        .iter()
        .filter(|((n, _), _)| n == "apigw_requests_total")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(total, 22.0);

    // The slow request: over 250 ms at the backend and in all, within 500 ms at the backend.
    let slow = |extra: &[(&'static str, &'static str)]| at("slow")(extra);
    let backend_bucket = |le| {
        m.get(
            "apigw_backend_duration_seconds_bucket",
            &slow(&[("le", le)]),
        )
    };
    assert_eq!(backend_bucket("0.25"), 0.0);
    assert_eq!(backend_bucket("0.5"), 1.0);
    assert_eq!(backend_bucket("+Inf"), 1.0);
    let whole_bucket = |le| {
        m.get(
            "apigw_request_duration_seconds_bucket",
            &slow(&[("le", le)]),
        )
    };
    assert_eq!(whole_bucket("0.25"), 0.0);
    assert_eq!(whole_bucket("+Inf"), 1.0);
    assert!(m.get("apigw_backend_duration_seconds_sum", &slow(&[])) >= 0.3);
    // Every request has a duration; only those that called a backend have a backend one.
    let count =
        |family: &str, name: &'static str| m.find(&format!("{family}_count"), &at(name)(&[]));
    assert_eq!(count("apigw_request_duration_seconds", "echo"), Some(7.0));
    assert_eq!(count("apigw_backend_duration_seconds", "echo"), Some(6.0));
    assert_eq!(
        count("apigw_backend_duration_seconds", "failing"),
        Some(1.0)
    );
    assert_eq!(count("apigw_backend_duration_seconds", "cached"), Some(1.0));
    assert_eq!(count("apigw_request_duration_seconds", "signed"), Some(1.0));
    assert_eq!(count("apigw_backend_duration_seconds", "signed"), None);
    // (The parser's answer has no duration: it is counted, never timed.)
    let no_api = [("group", ""), ("api", ""), ("stage", "")];
    assert_eq!(m.get("apigw_request_duration_seconds_count", &no_api), 3.0);

    // Bytes: declared request bodies (the refused one too), response bodies of known length.
    let echo = at("echo")(&[]);
    assert_eq!(m.get("apigw_request_bytes_total", &echo), 35.0);
    assert_eq!(m.get("apigw_response_bytes_total", &echo), echoed as f64);
    assert_eq!(
        m.get("apigw_response_bytes_total", &at("slow")(&[])),
        "slow done".len() as f64
    );

    // Flow control by level.
    for (level, n) in [
        ("api", 1.0),
        ("user", 0.0),
        ("app", 1.0),
        ("group", 0.0),
        ("instance", 0.0),
        ("default_domain", 1.0),
    ] {
        assert_eq!(
            m.get("apigw_throttled_total", &[("level", level)]),
            n,
            "{level}"
        );
    }
    // The cache, the breakers, the replay guard, the configuration.
    assert_eq!(m.value("apigw_cache_hits_total"), 1.0);
    assert_eq!(m.value("apigw_cache_misses_total"), 1.0);
    assert!(m.value("apigw_cache_bytes") > first.body.len() as f64);
    let breaker = |name: &str| {
        m.get(
            "apigw_circuit_breaker_state",
            &[("api", id(name)), ("stage", "RELEASE")],
        )
    };
    assert_eq!(breaker("failing"), 1.0);
    assert_eq!(breaker("echo"), 0.0);
    assert_eq!(m.named("apigw_circuit_breaker_state"), 7);
    assert_eq!(m.value("apigw_replay_entries"), 0.0);
    assert_eq!(m.value("apigw_replay_evictions_total"), 0.0);
    assert_eq!(m.value("apigw_config_reload_failures_total"), 0.0);
    let health = get(gw.admin, "localhost", "/healthz").await.json();
    assert_eq!(
        m.value("apigw_config_generation"),
        health["Generation"].as_f64().unwrap()
    );
    // No raw path, client address or credential is a label.
    for needle in [
        "/echo",
        "/nowhere",
        "127.0.0.1",
        "callercode",
        "unknown.example.com",
    ] {
        assert!(!m.text.contains(needle), "{needle} in:\n{}", m.text);
    }

    // An abolished API's series leave with it.
    let (ok, out) = gw.cli(&["abolish", "shop", "slow", "RELEASE"]);
    assert!(ok, "{out}");
    let slow_id = id("slow").to_string();
    eventually(|| {
        let slow_id = slow_id.clone();
        async move {
            scrape(gw.admin)
                .with_label("apigw_circuit_breaker_state", "api", &slow_id)
                .is_empty()
        }
    })
    .await;
    let after = scrape(gw.admin);
    assert!(after
        .with_label("apigw_requests_total", "api", &slow_id)
        .is_empty());
    assert!(after
        .with_label("apigw_request_duration_seconds_count", "api", &slow_id)
        .is_empty());
    assert_eq!(after.named("apigw_circuit_breaker_state"), 6);
    // The others keep their counts.
    assert_eq!(
        after.get(
            "apigw_requests_total",
            &at("echo")(&[("status_class", "2xx"), ("code", "")])
        ),
        6.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apigw_metrics_off_skips_the_per_request_series_only() {
    let backend = support::backend().await;
    let gw = Gateway::start_with_env(&config(backend), &[("APIGW_METRICS", "off")]);
    for _ in 0..3 {
        let r = send(gw.http, "POST", "localhost", "/echo", &[], b"hello").await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        get(gw.http, "localhost", "/nowhere").await.code(),
        Some("I404NF")
    );
    for _ in 0..2 {
        assert_eq!(get(gw.http, "localhost", "/limited").await.status, 200);
    }
    let r = get(gw.http, "localhost", "/limited").await;
    assert_eq!(r.code(), Some("T429PA"));
    assert!(raw(gw.http, b"GARBAGE\r\n\r\n").starts_with("HTTP/1.1 400 "));

    let m = scrape(gw.admin);
    for family in [
        "apigw_requests_total",
        "apigw_request_duration_seconds_count",
        "apigw_backend_duration_seconds_count",
        "apigw_request_bytes_total",
        "apigw_response_bytes_total",
    ] {
        assert_eq!(m.named(family), 0, "{family}");
    }
    assert!(m.text.contains("# TYPE apigw_requests_total counter"));
    // The event counters and the scrape-time gauges are still there.
    assert_eq!(m.get("apigw_throttled_total", &[("level", "api")]), 1.0);
    assert_eq!(m.named("apigw_circuit_breaker_state"), 7);
    assert_eq!(m.named("apigw_connections_open"), 1);
}
