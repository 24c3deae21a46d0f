//! The `ipControl` plugin over real sockets: refuse and allow lists, per-app items after
//! authentication, and `X-Forwarded-For` honoured only from a trusted proxy.

mod support;

use support::{send, Gateway};

fn config(backend: std::net::SocketAddr) -> String {
    let api = |name: &str, path: &str, auth: &str| support::get_api_yaml(name, path, auth, backend);
    format!(
        r#"
Groups:
  - GroupName: guarded
    Domains: [{{DomainName: localhost}}]
    Apis:{}{}{}{}
Apps:
  - AppName: allowed_app
    AppCodes: [allowedcode00001]
    Authorizations: [{{GroupName: guarded, ApiName: per_app, Stages: [RELEASE]}}]
  - AppName: other_app
    AppCodes: [othercode0000001]
    Authorizations: [{{GroupName: guarded, ApiName: per_app, Stages: [RELEASE]}}]
Plugins:
  - PluginName: refuse_loopback
    PluginType: ipControl
    PluginData: "type: REFUSE\nitems:\n  - blocks: [127.0.0.1/32, '::1']\n"
    AttachTo: [{{GroupName: guarded, ApiName: refused, Stages: [RELEASE]}}]
  - PluginName: allow_office
    PluginType: ipControl
    PluginData: '{{"type": "ALLOW", "items": [{{"blocks": ["10.0.0.0/8"]}}]}}'
    AttachTo: [{{GroupName: guarded, ApiName: office_only, Stages: [RELEASE]}}]
  - PluginName: allow_via_proxy
    PluginType: ipControl
    PluginData: "type: ALLOW\nresource: 'XFF:0'\nitems:\n  - blocks: [203.0.113.0/24]\n"
    AttachTo: [{{GroupName: guarded, ApiName: behind_proxy, Stages: [RELEASE]}}]
"#,
        api("refused", "/refused", "ANONYMOUS"),
        api("office_only", "/office", "ANONYMOUS"),
        api("behind_proxy", "/proxied", "ANONYMOUS"),
        api("per_app", "/per-app", "APP"),
    )
}

#[tokio::test]
async fn ip_lists_are_enforced() {
    let backend = support::backend().await;
    let yaml = config(backend);
    let gw = Gateway::start_with_env(&yaml, &[("APIGW_TRUSTED_PROXIES", "127.0.0.1")]);
    let get = |path: &'static str, headers: Vec<(&'static str, String)>| {
        let gw = &gw;
        async move {
            let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            send(gw.http, "GET", "localhost", path, &hs, b"").await
        }
    };
    let r = get("/refused", vec![]).await;
    assert_eq!((r.status.as_u16(), r.code()), (403, Some("A403IP")));
    assert_eq!(r.message(), Some("Access denied by IP Control Policy"));
    let r = get("/office", vec![]).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (403, Some("A403IP")),
        "127.0.0.1 is not in 10/8"
    );

    // Behind a trusted proxy (127.0.0.1 here), the first X-Forwarded-For entry is the client.
    let r = get(
        "/proxied",
        vec![("X-Forwarded-For", "203.0.113.9, 10.1.1.1".into())],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.message());
    let r = get("/proxied", vec![("X-Forwarded-For", "198.51.100.1".into())]).await;
    assert_eq!(r.code(), Some("A403IP"));
    let r = get("/proxied", vec![]).await;
    assert_eq!(
        r.code(),
        Some("A403IP"),
        "without the header the peer counts"
    );

    // A gateway that trusts no proxy ignores the header.
    drop(gw);
    let gw = Gateway::start(&yaml);
    let r = send(
        gw.http,
        "GET",
        "localhost",
        "/proxied",
        &[("X-Forwarded-For", "203.0.113.9")],
        b"",
    )
    .await;
    assert_eq!(
        r.code(),
        Some("A403IP"),
        "an untrusted peer cannot choose its IP"
    );
}

#[tokio::test]
async fn per_app_items_apply_after_authentication() {
    let backend = support::backend().await;
    let dir = tempfile::tempdir().unwrap();
    support::apply(dir.path(), &config(backend)).unwrap();
    let gw = Gateway::start_in(dir);
    let (ok, out) = gw.cli(&["app", "list"]);
    assert!(ok, "{out}");
    let app_id = out
        .lines()
        .find(|l| l.starts_with("allowed_app"))
        .and_then(|l| l.split("AppId ").nth(1))
        .and_then(|r| r.split(')').next())
        .unwrap()
        .to_string();
    let plugin = format!(
        r#"
Plugins:
  - PluginName: app_from_office
    PluginType: ipControl
    PluginData: '{{"type": "ALLOW", "items": [{{"blocks": ["10.0.0.0/8"], "appId": {app_id}}}]}}'
    AttachTo: [{{GroupName: guarded, ApiName: per_app, Stages: [RELEASE]}}]
"#
    );
    gw.apply(&plugin);
    let call = |code: &'static str| {
        let gw = &gw;
        async move {
            send(
                gw.http,
                "GET",
                "localhost",
                "/per-app",
                &[("Authorization", &format!("APPCODE {code}"))],
                b"",
            )
            .await
        }
    };
    support::eventually(|| async { call("allowedcode00001").await.code() == Some("A403IP") }).await;
    let r = call("othercode0000001").await;
    assert_eq!(
        r.status,
        200,
        "the item restricts only its app: {:?}",
        r.message()
    );
}
