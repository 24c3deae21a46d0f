//! The data plane over real sockets: the real binary, a real backend, a real HTTP client.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use support::{backend, eventually, get, raw, send, Gateway};

/// One group on `localhost` (plus a TEST-bound domain) with routes that overlap on purpose.
fn config(backend: SocketAddr) -> String {
    format!(
        r#"
Groups:
  - GroupName: shop
    Domains:
      - DomainName: localhost
      - DomainName: test.localhost
        BindStageName: TEST
    Apis:
      - ApiName: user_me
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /users/me}}
        ServiceConfig: {{Mock: "TRUE", MockResult: me}}
        DeployTo: [RELEASE]
      - ApiName: user_by_id
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/people/[userId]"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "/internal/user/[userId]", ServiceTimeout: 3000}}
        DeployTo: [RELEASE, TEST]
      - ApiName: users_prefix
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: ANY, RequestPath: "/users/*"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "/fallback/*", ServiceTimeout: 3000}}
        DeployTo: [RELEASE, TEST]
      - ApiName: passthrough
        AuthType: ANONYMOUS
        RequestConfig: {{RequestProtocol: "HTTP,HTTPS", RequestHttpMethod: ANY, RequestPath: "/pass/*"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
      - ApiName: files
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/files/*"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "/*", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
      - ApiName: slow
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/slow/[ms]"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: "/slow/[ms]", ServiceTimeout: 300}}
        DeployTo: [RELEASE]
      - ApiName: dead_backend
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /dead}}
        ServiceConfig: {{ServiceAddress: "http://127.0.0.1:9", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
      - ApiName: unresolvable
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /nodns}}
        ServiceConfig: {{ServiceAddress: "http://no-such-host.invalid", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
      - ApiName: tls_mismatch
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /badtls}}
        ServiceConfig: {{ServiceAddress: "https://{backend}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
      - ApiName: https_only
        AuthType: ANONYMOUS
        RequestConfig: {{RequestProtocol: HTTPS, RequestHttpMethod: GET, RequestPath: /secure}}
        ServiceConfig: {{Mock: "TRUE", MockResult: secure}}
        DeployTo: [RELEASE]
      - ApiName: signed_only
        AuthType: APP
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /signed}}
        ServiceConfig: {{Mock: "TRUE", MockResult: signed}}
        DeployTo: [RELEASE]
      - ApiName: mock_teapot
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: POST, RequestPath: /teapot}}
        ServiceConfig:
          Mock: "TRUE"
          MockStatusCode: 418
          MockResult: "short and stout"
          MockHeaders: [{{HeaderName: X-Pot, HeaderValue: tea}}, {{HeaderName: Content-Type, HeaderValue: text/plain}}]
        DeployTo: [RELEASE]
      - ApiName: mock_big_xml
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /bigxml}}
        ServiceConfig:
          Mock: "TRUE"
          MockResult: "{big_xml}"
          MockHeaders: [{{HeaderName: Content-Type, HeaderValue: text/xml}}]
        DeployTo: [RELEASE]
"#,
        big_xml = "<a>".repeat(2000)
    )
}

async fn setup() -> (SocketAddr, Gateway) {
    let b = backend().await;
    let gw = Gateway::start(&config(b));
    (b, gw)
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_prefers_static_then_param_then_prefix() {
    let (_b, gw) = setup().await;
    let me = get(gw.http, "localhost", "/users/me").await;
    assert_eq!((me.status.as_u16(), me.text().as_str()), (200, "me"));

    let by_id = get(gw.http, "localhost", "/people/42?x=1&x=2").await;
    assert_eq!(by_id.status, 200);
    let echo = by_id.json();
    assert_eq!(echo["path"], "/internal/user/42");
    assert_eq!(echo["query"], "x=1&x=2");

    let rest = get(gw.http, "localhost", "/users/42/orders/7").await;
    assert_eq!(rest.json()["path"], "/fallback/42/orders/7");
    let post = send(gw.http, "POST", "localhost", "/users/me", &[], b"{}").await;
    assert_eq!(
        post.json()["path"],
        "/fallback/me",
        "POST /users/me only matches the ANY prefix route"
    );

    let pass = send(
        gw.http,
        "PUT",
        "localhost",
        "/pass/a/b?q=%E4%B8%AD",
        &[("x-custom", "1")],
        b"body!",
    )
    .await;
    let echo = pass.json();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/pass/a/b");
    assert_eq!(echo["query"], "q=%E4%B8%AD");
    assert_eq!(echo["body"], "body!");
    assert_eq!(echo["headers"]["x-custom"], "1");
    assert_eq!(echo["headers"]["x-forwarded-for"], "127.0.0.1");
}

#[tokio::test(flavor = "multi_thread")]
async fn stages_domains_and_their_errors() {
    let (_b, gw) = setup().await;
    // user_me is only in RELEASE: in TEST the /users/* prefix route answers.
    let test = send(
        gw.http,
        "GET",
        "localhost",
        "/users/me",
        &[("X-Ca-Stage", "test")],
        b"",
    )
    .await;
    assert_eq!(test.json()["path"], "/fallback/me");
    let test = send(
        gw.http,
        "GET",
        "localhost",
        "/people/7",
        &[("X-Ca-Stage", "test")],
        b"",
    )
    .await;
    assert_eq!(test.json()["path"], "/internal/user/7");
    let pre = send(
        gw.http,
        "GET",
        "localhost",
        "/users/me",
        &[("X-Ca-Stage", "PRE")],
        b"",
    )
    .await;
    assert_eq!((pre.status.as_u16(), pre.code()), (404, Some("I404NF")));
    assert!(pre.message().unwrap().starts_with("API not found"));

    let bad = send(
        gw.http,
        "GET",
        "localhost",
        "/users/me",
        &[("X-Ca-Stage", "PROD")],
        b"",
    )
    .await;
    assert_eq!(
        (bad.status.as_u16(), bad.code(), bad.message()),
        (400, Some("I400SG"), Some("Invalid Stage"))
    );

    // A domain bound to TEST forces TEST whatever X-Ca-Stage says.
    let bound = send(
        gw.http,
        "GET",
        "test.localhost",
        "/users/me",
        &[("X-Ca-Stage", "RELEASE")],
        b"",
    )
    .await;
    assert_eq!(bound.json()["path"], "/fallback/me");

    let unknown = get(gw.http, "unknown.example.com", "/users/me").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.code(), Some("I404DO"));
    assert_eq!(
        unknown.message(),
        Some("Invalid Domain `unknown.example.com`")
    );

    // The group's default sub-domain, <GroupId>.apigw.localhost, with a port and upper case.
    let (ok, list) = gw.cli(&["apis"]);
    assert!(ok, "{list}");
    let group_id = list.split(['(', ')']).nth(1).unwrap().to_string();
    let host = format!("{}.APIGW.localhost:8080", group_id);
    assert_eq!(get(gw.http, &host, "/users/me").await.text(), "me");
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_abolish_and_rollback_take_effect_without_restart() {
    let (_b, gw) = setup().await;
    assert_eq!(get(gw.http, "localhost", "/users/me").await.text(), "me");

    // A new draft changes nothing live...
    let modified = config(_b)
        .replace("MockResult: me}", "MockResult: me2}")
        .replace(
            "ServiceConfig: {Mock: \"TRUE\", MockResult: me2}\n        DeployTo: [RELEASE]",
            "ServiceConfig: {Mock: \"TRUE\", MockResult: me2}",
        );
    gw.apply(&modified);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(get(gw.http, "localhost", "/users/me").await.text(), "me");

    // ...until it is deployed.
    let (ok, out) = gw.cli(&["deploy", "shop", "user_me", "RELEASE"]);
    assert!(ok, "{out}");
    eventually(|| async { get(gw.http, "localhost", "/users/me").await.text() == "me2" }).await;

    // Rollback to the first version.
    let (_, history) = gw.cli(&["history", "shop", "user_me"]);
    let first = history
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(
        history.lines().next().unwrap().contains("ONLINE"),
        "{history}"
    );
    let (ok, out) = gw.cli(&["rollback", "shop", "user_me", "RELEASE", &first]);
    assert!(ok, "{out}");
    eventually(|| async { get(gw.http, "localhost", "/users/me").await.text() == "me" }).await;

    // Abolish: the static route is gone, the /users/* prefix route answers instead.
    let (ok, out) = gw.cli(&["abolish", "shop", "user_me", "RELEASE"]);
    assert!(ok, "{out}");
    eventually(|| async { get(gw.http, "localhost", "/users/me").await.status == 200 }).await;
    eventually(|| async {
        let r = get(gw.http, "localhost", "/users/me").await;
        r.headers
            .get("content-type")
            .is_some_and(|v| v == "application/json")
    })
    .await;
    let (ok, out) = gw.cli(&["abolish", "shop", "user_me", "RELEASE"]);
    assert!(!ok && out.contains("NotFoundStage"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_failures_map_to_their_codes() {
    let (_b, gw) = setup().await;
    let slow = get(gw.http, "localhost", "/slow/2000").await;
    assert_eq!((slow.status.as_u16(), slow.code()), (504, Some("D504TO")));
    assert_eq!(slow.message(), Some("Backend service request timeout"));
    let fast = get(gw.http, "localhost", "/slow/10").await;
    assert_eq!(
        (fast.status.as_u16(), fast.text().as_str()),
        (200, "slow done")
    );

    let dead = get(gw.http, "localhost", "/dead").await;
    assert_eq!((dead.status.as_u16(), dead.code()), (504, Some("D504CO")));
    assert!(
        dead.message()
            .unwrap()
            .starts_with("Backend service connect failed `"),
        "{:?}",
        dead.message()
    );

    let dns = get(gw.http, "localhost", "/nodns").await;
    assert_eq!((dns.status.as_u16(), dns.code()), (504, Some("D504RE")));
    assert_eq!(
        dns.message(),
        Some("Backend domain `no-such-host.invalid` resolve failed")
    );

    let tls = get(gw.http, "localhost", "/badtls").await;
    assert_eq!(
        (tls.status.as_u16(), tls.code()),
        (504, Some("D504CS")),
        "{:?}",
        tls.message()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_status_is_passed_through_without_error_code() {
    let b = backend().await;
    let yaml = format!(
        r#"
Groups:
  - GroupName: pass_group
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: status_api
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/status/[code]"}}
        ServiceConfig: {{ServiceAddress: "http://{b}", ServicePath: "/status/[code]", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
"#
    );
    let gw = Gateway::start(&yaml);
    for code in [400u16, 404, 500, 503] {
        let r = get(gw.http, "localhost", &format!("/status/{code}")).await;
        assert_eq!(r.status.as_u16(), code);
        assert_eq!(r.code(), None, "backend errors carry no X-Ca-Error-Code");
        assert_eq!(r.header("x-backend"), Some("yes"));
        assert_eq!(r.text(), format!("backend says {code}"));
        assert!(r.header("x-ca-request-id").is_some());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn protocol_auth_and_mock() {
    let (_b, gw) = setup().await;
    let r = get(gw.http, "localhost", "/secure").await;
    assert_eq!((r.status.as_u16(), r.code()), (403, Some("I403PT")));
    assert_eq!(r.message(), Some("Invalid protocol HTTP unsupported"));

    let r = get(gw.http, "localhost", "/signed").await;
    assert_eq!((r.status.as_u16(), r.code()), (400, Some("A400MA")));
    let r = send(
        gw.http,
        "GET",
        "localhost",
        "/signed",
        &[("X-Ca-Key", "nope")],
        b"",
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.code(), r.message()),
        (400, Some("A400IK"), Some("Invalid AppKey"))
    );

    let r = send(gw.http, "POST", "localhost", "/teapot", &[], b"").await;
    assert_eq!(r.status.as_u16(), 418);
    assert_eq!(r.header("x-pot"), Some("tea"));
    assert_eq!(r.text(), "short and stout");
}

#[tokio::test(flavor = "multi_thread")]
async fn request_limits_have_their_codes() {
    let (_b, gw) = setup().await;
    let r = send(gw.http, "PROPFIND", "localhost", "/pass/x", &[], b"").await;
    assert_eq!((r.status.as_u16(), r.code()), (405, Some("I405UM")));
    assert_eq!(r.message(), Some("Unsupported Method `PROPFIND`"));

    let long = format!("/pass/{}", "a".repeat(60_000));
    let r = send(
        gw.http,
        "GET",
        "localhost",
        &format!("{long}?{}", "b".repeat(5000)),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "60 KB URLs are fine");
    let gw_small = Gateway::start_with_env(&config(_b), &[("APIGW_MAX_URL_BYTES", "1000")]);
    let r = get(
        gw_small.http,
        "localhost",
        &format!("/pass/{}", "a".repeat(1001)),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.code(), r.message()),
        (413, Some("I413UL"), Some("Request URL too Large"))
    );

    let big = "x".repeat(70 * 1024);
    let r = send(
        gw.http,
        "GET",
        "localhost",
        "/pass/x",
        &[("x-big", &big)],
        b"",
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, Some("I400HD")));
    assert!(
        r.message().unwrap().starts_with("Invalid Header `x-big`"),
        "{:?}",
        r.message()
    );

    let r = send(
        gw.http,
        "POST",
        "localhost",
        "/pass/x",
        &[("content-type", "not a type")],
        b"{}",
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, Some("I400CT")));

    let r = send(gw.http, "GET", "localhost", "/pass/%zz", &[], b"").await;
    assert_eq!((r.status.as_u16(), r.code()), (400, Some("I400PA")));

    // Declared body over 8 MB: refused before the backend is called.
    let answer = raw(
        gw.http,
        b"POST /pass/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 9000000\r\nConnection: close\r\n\r\nabc",
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-ca-error-code: i413rl"),
        "{answer}"
    );

    // Chunked body over the limit: counted as it arrives.
    let limited = Gateway::start_with_env(&config(_b), &[("APIGW_MAX_BODY_BYTES", "1000")]);
    let mut req = b"POST /pass/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..3 {
        req.extend_from_slice(b"200\r\n");
        req.extend_from_slice(&[b'z'; 0x200]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(limited.http, &req);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Under the limit, the chunked body reaches the backend whole.
    let r = send(
        limited.http,
        "POST",
        "localhost",
        "/pass/x",
        &[],
        &[b'y'; 900],
    )
    .await;
    assert_eq!(r.json()["body"].as_str().unwrap().len(), 900);
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_only_when_all_three_conditions_hold() {
    let (_b, gw) = setup().await;
    let gz = [("accept-encoding", "gzip, deflate")];
    let cases = [
        ("/files/big/3000?ct=application%2Fjson", &gz[..], true),
        ("/files/chunked/5000?ct=text%2Fplain", &gz[..], true),
        ("/files/big/2048?ct=application%2Fjson", &gz[..], false),
        ("/files/big/3000?ct=text%2Fhtml", &gz[..], false),
        ("/files/big/3000?ct=application%2Fjson", &[][..], false),
        ("/bigxml", &gz[..], true),
    ];
    for (path, headers, compressed) in cases {
        let r = send(gw.http, "GET", "localhost", path, headers, b"").await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.header("content-encoding") == Some("gzip"),
            compressed,
            "{path}"
        );
        let body = if compressed {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&r.body[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            r.body.to_vec()
        };
        let expected = if path == "/bigxml" {
            6000
        } else {
            path.split('/')
                .nth(3)
                .unwrap()
                .split('?')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert_eq!(body.len(), expected, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_has_a_fresh_request_id_that_the_backend_sees() {
    let (_b, gw) = setup().await;
    let mut ids = HashSet::new();
    for path in ["/users/1", "/users/me", "/nowhere", "/users/2", "/dead"] {
        for _ in 0..20 {
            let r = get(gw.http, "localhost", path).await;
            let id = r
                .header("x-ca-request-id")
                .expect("X-Ca-Request-Id on every response")
                .to_string();
            assert_eq!(id.len(), 36);
            assert_eq!(id, id.to_ascii_uppercase());
            if path == "/users/1" {
                assert_eq!(r.json()["headers"]["x-ca-request-id"], id.as_str());
            }
            assert!(ids.insert(id), "request ids repeat");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn debug_mode_reports_latencies() {
    let (_b, gw) = setup().await;
    let r = send(
        gw.http,
        "GET",
        "localhost",
        "/slow/50",
        &[("X-Ca-Request-Mode", "DEBUG")],
        b"",
    )
    .await;
    let info: serde_json::Value =
        serde_json::from_str(r.header("x-ca-debug-info").unwrap()).unwrap();
    assert!(info["ServiceLatency"].as_u64().unwrap() >= 50, "{info}");
    assert!(info["TotalLatency"].as_u64().unwrap() >= info["ServiceLatency"].as_u64().unwrap());
    let plain = get(gw.http, "localhost", "/slow/1").await;
    assert!(plain.header("x-ca-debug-info").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_loops_back_is_detected() {
    let b = backend().await;
    // Start with a placeholder backend, then point the API at the gateway itself.
    let yaml = |target: &str| {
        format!(
            r#"
Groups:
  - GroupName: loop_group
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: loop_api
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /loop}}
        ServiceConfig: {{ServiceAddress: "http://{target}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
"#
        )
    };
    let gw = Gateway::start(&yaml(&b.to_string()));
    // The gateway's own listener is refused outright (it reached the store through the CLI,
    // which does not know the listeners; the data plane fails closed).
    gw.apply(&yaml(&format!("localhost:{}", gw.http.port())));
    let r = get(gw.http, "localhost", "/loop").await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (504, Some("D504IL")),
        "{}",
        r.text()
    );
    // A loop through something else (a TCP relay to the gateway) is detected by `X-Ca-Via`.
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = relay.local_addr().unwrap();
    let gw_addr = gw.http;
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = relay.accept().await {
            tokio::spawn(async move {
                let mut out = tokio::net::TcpStream::connect(gw_addr).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
            });
        }
    });
    gw.apply(&yaml(&format!("localhost:{}", relay_addr.port())));
    let r = get(gw.http, "localhost", "/loop").await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (508, Some("I508LD")),
        "{}",
        r.text()
    );
}
