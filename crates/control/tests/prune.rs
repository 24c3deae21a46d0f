//! `apply --prune`: what the file does not list is deleted in the same batch, never another
//! account's resources, and never something live by omission alone; a refused prune leaves
//! every row as it was. Real files, a real SQLite store.

use apigw_control::apply::{apply_with, ApplyOptions, GatewayFile};
use apigw_control::Control;
use apigw_store::SqliteStore;
use std::sync::Arc;

const PRUNE: ApplyOptions = ApplyOptions {
    prune: true,
    dry_run: false,
};

fn api(name: &str, path: &str, deploy: &str) -> String {
    format!(
        "\n      - ApiName: {name}\n        AuthType: ANONYMOUS\n        RequestConfig: {{RequestHttpMethod: GET, RequestPath: \"{path}\"}}\n        ServiceConfig: {{Mock: \"TRUE\", MockResult: ok}}\n        DeployTo: {deploy}"
    )
}

async fn run(c: &Control, yaml: &str, options: ApplyOptions) -> Result<Vec<String>, String> {
    let file = GatewayFile::parse(yaml).map_err(|e| e.to_string())?;
    apply_with(c, &file, options)
        .await
        .map_err(|e| e.to_string())
}

async fn names(c: &Control) -> Vec<String> {
    let mut out = Vec::new();
    for g in c.store().list_groups().await.unwrap() {
        for a in c.store().list_apis(&g.group_id).await.unwrap() {
            out.push(format!("{}/{}", g.group_name, a.api_name));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn prune_keeps_other_accounts_and_refuses_live_removals() {
    let dir = tempfile::tempdir().unwrap();
    let root = Control::new(Arc::new(SqliteStore::open(dir.path()).unwrap()));
    let tenant = root.as_account(1_000_000_000_000_001);
    let stored = format!(
        "Groups:\n  - GroupName: shop\n    Apis:{}{}\nPlugins:\n  - PluginName: guard\n    PluginType: ipControl\n    PluginData: \"type: REFUSE\\nitems:\\n  - blocks: [10.9.9.9/32]\\n\"\n    AttachTo: [{{GroupName: shop, ApiName: live_api, Stages: [RELEASE]}}]\n",
        api("live_api", "/live", "[RELEASE]"),
        api("draft_api", "/draft", "[]"),
    );
    run(&root, &stored, ApplyOptions::default()).await.unwrap();
    let theirs = format!(
        "Groups:\n  - GroupName: theirs\n    Apis:{}\n",
        api("their_api", "/t", "[]")
    );
    run(&tenant, &theirs, ApplyOptions::default())
        .await
        .unwrap();
    let before = names(&root).await;

    // The plugin attached where `live_api` is live: refused, nothing written.
    let without_plugin = format!(
        "Groups:\n  - GroupName: shop\n    Apis:{}\n",
        api("live_api", "/live", "[RELEASE]")
    );
    let e = run(&root, &without_plugin, PRUNE).await.unwrap_err();
    assert!(
        e.contains("DependencyViolationPlugin") && e.contains("shop/live_api in RELEASE"),
        "{e}"
    );
    assert_eq!(root.plugins().await.unwrap().len(), 1);
    // A grant in the file on an API the prune deletes: refused like any unknown API.
    let grant_on_pruned = format!(
        "{without_plugin}Apps:\n  - AppName: client_app\n    Authorizations: [{{GroupName: shop, ApiName: draft_api, Stages: [RELEASE]}}]\nPlugins:\n  - PluginName: guard\n    PluginType: ipControl\n    PluginData: \"type: REFUSE\\nitems:\\n  - blocks: [10.9.9.9/32]\\n\"\n"
    );
    let e = run(&root, &grant_on_pruned, PRUNE).await.unwrap_err();
    assert!(e.contains("NotFoundApi"), "{e}");
    assert_eq!(names(&root).await, before);
    assert!(root.apps().await.unwrap().is_empty());

    // A dry run reports and writes nothing; then the prune: the tenant's group stays.
    let keep_plugin = format!("{without_plugin}Plugins:\n  - PluginName: guard\n    PluginType: ipControl\n    PluginData: \"type: REFUSE\\nitems:\\n  - blocks: [10.9.9.9/32]\\n\"\n");
    let dry = ApplyOptions {
        prune: true,
        dry_run: true,
    };
    let report = run(&root, &keep_plugin, dry).await.unwrap();
    assert_eq!(report.len(), 1, "{report:?}");
    assert!(
        report[0].starts_with("deleted API shop/draft_api ("),
        "{report:?}"
    );
    assert_eq!(names(&root).await, before);
    assert_eq!(run(&root, &keep_plugin, PRUNE).await.unwrap(), report);
    assert_eq!(names(&root).await, ["shop/live_api", "theirs/their_api"]);
    assert!(run(&root, &keep_plugin, PRUNE).await.unwrap().is_empty());
}
