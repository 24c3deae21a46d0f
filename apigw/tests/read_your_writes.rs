//! A write is live when it returns: a caller that deploys (abolishes, switches, grants…) and
//! then calls the API at once never sees the old configuration. The gateway's own polling is
//! turned off (one minute) so only the read-your-writes path can make a change live in time.

mod support;

use serde_json::{json, Value};
use support::{admin_call, get, mgmt_call, Gateway};

const AK: (&str, &str) = ("rywid", "ryw-secret-0001");
const HOST: &str = "ryw.example.com";

fn start() -> Gateway {
    Gateway::start_in_with_env(
        tempfile::tempdir().unwrap(),
        &[
            ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
            ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
            ("APIGW_RELOAD_POLL_MS", "60000"),
        ],
    )
}

async fn call(gw: &Gateway, action: &str, params: &[(&str, &str)]) -> Value {
    let (status, body) = admin_call(gw.admin, AK, action, params).await;
    assert_eq!(status, 200, "{action}: {body}");
    body
}

/// A group on [`HOST`] with `extra` mock APIs deployed (so each change recompiles a real
/// configuration), and one mock API `/ryw` answering `v0`; (GroupId, ApiId).
async fn setup(gw: &Gateway, extra: usize) -> (String, String) {
    let g = call(gw, "CreateApiGroup", &[("GroupName", "ryw_group")]).await;
    let gid = g["GroupId"].as_str().unwrap().to_string();
    call(gw, "SetDomain", &[("GroupId", &gid), ("DomainName", HOST)]).await;
    for i in 0..extra {
        let id = create_mock(gw, &gid, &format!("extra_{i}"), &format!("/extra/{i}"), "x").await;
        deploy(gw, &id).await;
    }
    let id = create_mock(gw, &gid, "ryw_api", "/ryw", "v0").await;
    (gid, id)
}

async fn create_mock(gw: &Gateway, gid: &str, name: &str, path: &str, result: &str) -> String {
    let rc = json!({"RequestHttpMethod": "GET", "RequestPath": path}).to_string();
    let sc = json!({"Mock": "TRUE", "MockResult": result}).to_string();
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
    api["ApiId"].as_str().unwrap().to_string()
}

async fn modify_mock(gw: &Gateway, gid: &str, api_id: &str, result: &str) {
    let rc = json!({"RequestHttpMethod": "GET", "RequestPath": "/ryw"}).to_string();
    let sc = json!({"Mock": "TRUE", "MockResult": result}).to_string();
    call(
        gw,
        "ModifyApi",
        &[
            ("GroupId", gid),
            ("ApiId", api_id),
            ("ApiName", "ryw_api"),
            ("AuthType", "ANONYMOUS"),
            ("RequestConfig", &rc),
            ("ServiceConfig", &sc),
        ],
    )
    .await;
}

async fn deploy(gw: &Gateway, api_id: &str) {
    call(
        gw,
        "DeployApi",
        &[
            ("ApiId", api_id),
            ("StageName", "RELEASE"),
            ("Description", "d"),
        ],
    )
    .await;
}

/// What `/ryw` answers now: the mock body, or the error code.
async fn answer(gw: &Gateway) -> String {
    let r = get(gw.http, HOST, "/ryw").await;
    match r.code() {
        Some(code) => code.to_string(),
        None => r.text(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_abolish_and_switch_are_live_when_they_return() {
    let gw = start();
    let (gid, api_id) = setup(&gw, 200).await;
    let mut stale = Vec::new();
    let mut versions = Vec::new();
    for i in 1..=1000 {
        let body = format!("v{i}");
        modify_mock(&gw, &gid, &api_id, &body).await;
        deploy(&gw, &api_id).await;
        let got = answer(&gw).await;
        if got != body {
            stale.push(format!("after DeployApi {i}: {got}"));
        }
        if i % 100 == 0 {
            call(
                &gw,
                "AbolishApi",
                &[("ApiId", &api_id), ("StageName", "RELEASE")],
            )
            .await;
            let got = answer(&gw).await;
            if got != "I404NF" {
                stale.push(format!("after AbolishApi {i}: {got}"));
            }
            // Roll back to the version deployed 50 iterations ago.
            let h = call(
                &gw,
                "DescribeHistoryApis",
                &[
                    ("GroupId", &gid),
                    ("ApiName", "ryw_api"),
                    ("StageName", "RELEASE"),
                    ("PageSize", "100"),
                ],
            )
            .await;
            versions.push(h.clone());
            let list = h["ApiHisItems"]["ApiHisItem"].as_array().unwrap();
            let older = list[50]["HistoryVersion"].as_str().unwrap();
            call(
                &gw,
                "SwitchApi",
                &[
                    ("GroupId", &gid),
                    ("ApiId", &api_id),
                    ("StageName", "RELEASE"),
                    ("HistoryVersion", older),
                    ("Description", "rollback"),
                ],
            )
            .await;
            let got = answer(&gw).await;
            let want = format!("v{}", i - 50);
            if got != want {
                stale.push(format!("after SwitchApi {i}: {got}, want {want}"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "{} stale answers, the first: {:?}",
        stale.len(),
        &stale[..stale.len().min(5)]
    );
}

/// The same through the official Tea SDK, the way a CI pipeline does it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_through_the_official_sdk_then_call() {
    let gw = start();
    let (gid, api_id) = setup(&gw, 0).await;
    for i in 1..=10 {
        let body = format!("sdk{i}");
        modify_mock(&gw, &gid, &api_id, &body).await;
        let admin = gw.admin;
        let id = api_id.clone();
        let out = tokio::task::spawn_blocking(move || {
            mgmt_call(
                admin,
                AK,
                "tea",
                "DeployApi",
                json!({"ApiId": id, "StageName": "RELEASE", "Description": "sdk"}),
            )
        })
        .await
        .unwrap();
        assert_eq!(out["ok"], true, "{out}");
        assert_eq!(answer(&gw).await, body);
    }
}

/// Grants and plugin bindings are live when they return too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_and_plugin_bindings_are_live_when_they_return() {
    let gw = start();
    let (gid, api_id) = setup(&gw, 0).await;
    deploy(&gw, &api_id).await;
    assert_eq!(answer(&gw).await, "v0");
    let doc = json!({"type": "REFUSE", "items": [{"blocks": ["127.0.0.1/32"]}]}).to_string();
    let p = call(
        &gw,
        "CreatePlugin",
        &[
            ("PluginName", "ip_refuse"),
            ("PluginType", "ipControl"),
            ("PluginData", &doc),
        ],
    )
    .await;
    let pid = p["PluginId"].as_str().unwrap().to_string();
    for _ in 0..20 {
        call(
            &gw,
            "AttachPlugin",
            &[
                ("PluginId", &pid),
                ("GroupId", &gid),
                ("ApiIds", &api_id),
                ("StageName", "RELEASE"),
            ],
        )
        .await;
        assert_eq!(answer(&gw).await, "A403IP");
        call(
            &gw,
            "DetachPlugin",
            &[
                ("PluginId", &pid),
                ("ApiId", &api_id),
                ("StageName", "RELEASE"),
            ],
        )
        .await;
        assert_eq!(answer(&gw).await, "v0");
    }
}

/// `apigw deploy` / `abolish` on the data directory of a running gateway return once it
/// serves the change (the gateway in another process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_writes_are_live_when_they_return() {
    let gw = Gateway::start_in_with_env(
        tempfile::tempdir().unwrap(),
        &[("APIGW_RELOAD_POLL_MS", "100")],
    );
    gw.apply(&format!(
        r#"
Groups:
  - GroupName: cli_group
    Domains: [{{DomainName: {HOST}}}]
    Apis:
      - ApiName: ryw_api
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /ryw}}
        ServiceConfig: {{Mock: "TRUE", MockResult: v0}}
"#
    ));
    for _ in 0..10 {
        let (ok, out) = gw.cli(&["deploy", "cli_group", "ryw_api", "RELEASE"]);
        assert!(ok, "{out}");
        assert_eq!(answer(&gw).await, "v0");
        let (ok, out) = gw.cli(&["abolish", "cli_group", "ryw_api", "RELEASE"]);
        assert!(ok, "{out}");
        assert_eq!(answer(&gw).await, "I404NF");
    }
}
