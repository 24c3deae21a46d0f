//! `apply` is checked whole against what is stored and written as one batch: a refused file
//! leaves every row of every table as it was. Real files, a real SQLite store.

use apigw_control::apply::{apply, GatewayFile};
use apigw_control::Control;
use apigw_store::SqliteStore;
use std::path::Path;
use std::sync::Arc;

fn control() -> (tempfile::TempDir, Control) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    (dir, Control::new(Arc::new(store)))
}

/// Every row of every table (after a WAL checkpoint, read through a second connection).
fn dump(dir: &Path) -> String {
    let conn = rusqlite::Connection::open(dir.join("apigw.db")).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(FULL);").unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = String::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {t}")).unwrap();
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| v.join("|"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        out.push_str(&format!("[{t}] {} rows\n{}\n", rows.len(), rows.join("\n")));
    }
    out
}

const STORED: &str = r#"
Groups:
  - GroupName: shop
    Domains: [{DomainName: shop.example.com}]
    Apis:
      - ApiName: get_item
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: "/items/[id]"}
        ServiceConfig: {ServiceAddress: "http://127.0.0.1:9", ServiceTimeout: 500}
        DeployTo: [RELEASE]
      - ApiName: moved
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /old}
        ServiceConfig: {Mock: "TRUE", MockResult: old}
        DeployTo: [RELEASE]
Apps:
  - AppName: client_one
    Keys: [{AppKey: key-one, AppSecret: secret-one-0000}]
    AppCodes: [code-one-00000000]
    Authorizations:
      - {GroupName: shop, ApiName: get_item, Stages: [RELEASE]}
Plugins:
  - PluginName: office_only
    PluginType: ipControl
    PluginData: "type: ALLOW\nitems:\n  - blocks: [10.0.0.0/8]\n"
    AttachTo:
      - {GroupName: shop, ApiName: get_item, Stages: [RELEASE]}
"#;

/// A group the refused files create first: the old apply wrote it before failing.
const FRESH_GROUP: &str = r#"
  - GroupName: fresh
    Domains: [{DomainName: fresh.example.com}]
    Apis:
      - ApiName: fresh_api
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /fresh}
        ServiceConfig: {Mock: "TRUE", MockResult: fresh}
        DeployTo: [RELEASE, TEST]
"#;

/// A store holding STORED, where `moved`'s draft has left the path it is live on.
async fn stored() -> (tempfile::TempDir, Control) {
    let (dir, control) = control();
    apply(&control, &GatewayFile::parse(STORED).unwrap())
        .await
        .unwrap();
    let moved = STORED.replace(
        "RequestPath: /old}\n        ServiceConfig: {Mock: \"TRUE\", MockResult: old}\n        DeployTo: [RELEASE]",
        "RequestPath: /new}\n        ServiceConfig: {Mock: \"TRUE\", MockResult: old}",
    );
    assert_ne!(moved, STORED);
    let report = apply(&control, &GatewayFile::parse(&moved).unwrap())
        .await
        .unwrap();
    assert_eq!(report, vec!["updated API shop/moved".to_string()]);
    (dir, control)
}

/// Applies `yaml` to the stored state; it must be refused with `code` (and a message holding
/// `names`) and leave every table as it was.
async fn refused(yaml: &str, code: &str, names: &str) {
    let (dir, control) = stored().await;
    let before = dump(dir.path());
    let generation = control.store().generation().await.unwrap();
    let err = apply(&control, &GatewayFile::parse(yaml).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), code, "{err}");
    assert!(err.to_string().contains(names), "{err}");
    assert_eq!(dump(dir.path()), before, "{code}: the store changed");
    assert_eq!(control.store().generation().await.unwrap(), generation);
}

#[tokio::test]
async fn a_domain_bound_to_a_stored_group_is_refused_and_nothing_is_written() {
    let yaml = format!(
        "Groups:{FRESH_GROUP}  - GroupName: other\n    Domains: [{{DomainName: shop.example.com}}]\n"
    );
    refused(
        &yaml,
        "RepeatedDomain",
        "group `other`: domain `shop.example.com`",
    )
    .await;
}

#[tokio::test]
async fn an_app_key_of_a_stored_app_is_refused_and_nothing_is_written() {
    let yaml = format!(
        "Groups:{FRESH_GROUP}Apps:\n  - AppName: client_two\n    Keys: [{{AppKey: key-one, AppSecret: another-secret-00}}]\n"
    );
    refused(&yaml, "RepeatedAppKey", "app `client_two`").await;
}

#[tokio::test]
async fn a_path_conflicting_with_a_stored_api_is_refused_and_nothing_is_written() {
    let yaml = format!(
        r#"Groups:{FRESH_GROUP}  - GroupName: shop
    Apis:
      - ApiName: item_too
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: ANY, RequestPath: "/items/special"}}
        ServiceConfig: {{Mock: "TRUE", MockResult: x}}
"#
    );
    refused(
        &yaml,
        "RepeatedPath",
        "group `shop`, API `item_too`: Path conflict: ANY /items/special collides with GET /items/[id] of API `get_item`",
    )
    .await;
}

#[tokio::test]
async fn a_deploy_conflicting_with_what_is_live_is_refused_and_nothing_is_written() {
    // `moved`'s draft is on /new, but /old is what RELEASE serves.
    let yaml = format!(
        r#"Groups:{FRESH_GROUP}  - GroupName: shop
    Apis:
      - ApiName: takes_old
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /old}}
        ServiceConfig: {{Mock: "TRUE", MockResult: x}}
        DeployTo: [RELEASE]
"#
    );
    refused(
        &yaml,
        "RepeatedPath",
        "group `shop`, API `takes_old`: in RELEASE: Path conflict",
    )
    .await;
}

#[tokio::test]
async fn a_grant_to_a_missing_api_is_refused_and_nothing_is_written() {
    let yaml = format!(
        r#"Groups:{FRESH_GROUP}Apps:
  - AppName: client_two
    Authorizations:
      - {{GroupName: fresh, ApiName: fresh_api, Stages: [RELEASE]}}
      - {{GroupName: shop, ApiName: no_such_api, Stages: [RELEASE]}}
"#
    );
    refused(
        &yaml,
        "NotFoundApi",
        "app `client_two`: group `shop` has no API named `no_such_api`",
    )
    .await;
}

#[tokio::test]
async fn a_plugin_attached_to_a_missing_api_is_refused_and_nothing_is_written() {
    let yaml = format!(
        r#"Groups:{FRESH_GROUP}Plugins:
  - PluginName: office_only
    PluginType: ipControl
    PluginData: "type: REFUSE\nitems:\n  - blocks: [10.0.0.0/8]\n"
    AttachTo:
      - {{GroupName: fresh, ApiName: fresh_api, Stages: [RELEASE]}}
      - {{GroupName: nowhere, ApiName: get_item, Stages: [RELEASE]}}
"#
    );
    refused(
        &yaml,
        "NotFoundApiGroup",
        "plugin `office_only`: no group named `nowhere`",
    )
    .await;
    let yaml = yaml.replace(
        "{GroupName: nowhere, ApiName: get_item",
        "{GroupName: shop, ApiName: gone",
    );
    refused(
        &yaml,
        "NotFoundApi",
        "plugin `office_only`: group `shop` has no API named `gone`",
    )
    .await;
}

#[tokio::test]
async fn a_good_file_applied_again_changes_nothing() {
    let (dir, control) = control();
    let yaml = STORED.replace(
        "Apps:\n",
        &format!("{}Apps:\n", FRESH_GROUP.trim_start_matches('\n')),
    );
    let file = GatewayFile::parse(&yaml).unwrap();
    let first = apply(&control, &file).await.unwrap();
    assert!(
        first
            .iter()
            .any(|l| l.starts_with("created plugin office_only")),
        "{first:?}"
    );
    assert_eq!(
        first.iter().filter(|l| l.starts_with("deployed ")).count(),
        4,
        "{first:?}"
    );
    let before = dump(dir.path());
    let generation = control.store().generation().await.unwrap();
    let again = apply(&control, &file).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(control.store().generation().await.unwrap(), generation);
    assert_eq!(dump(dir.path()), before);
}

#[tokio::test]
async fn two_apis_may_swap_paths_in_one_apply() {
    let (_dir, control) = control();
    let yaml = r#"
Groups:
  - GroupName: swapping
    Apis:
      - ApiName: first
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /a}
        ServiceConfig: {Mock: "TRUE", MockResult: first}
        DeployTo: [RELEASE]
      - ApiName: second
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /b}
        ServiceConfig: {Mock: "TRUE", MockResult: second}
        DeployTo: [RELEASE]
"#;
    apply(&control, &GatewayFile::parse(yaml).unwrap())
        .await
        .unwrap();
    let swapped = yaml
        .replace("RequestPath: /a}", "RequestPath: /tmp}")
        .replace("RequestPath: /b}", "RequestPath: /a}")
        .replace("RequestPath: /tmp}", "RequestPath: /b}");
    let report = apply(&control, &GatewayFile::parse(&swapped).unwrap())
        .await
        .unwrap();
    assert_eq!(report.len(), 4, "{report:?}");
    let mut live: Vec<(String, String)> = control
        .store()
        .load_live()
        .await
        .unwrap()
        .deployments
        .into_iter()
        .map(|d| {
            (
                d.definition.api_name.clone(),
                d.definition.request_config.request_path.clone(),
            )
        })
        .collect();
    live.sort();
    assert_eq!(
        live,
        vec![
            ("first".to_string(), "/b".to_string()),
            ("second".to_string(), "/a".to_string())
        ]
    );
}
