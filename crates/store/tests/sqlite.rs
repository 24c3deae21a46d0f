//! The SQLite store against a real database file.

use apigw_model::{ApiDefinition, Deployment, Domain, Group, Stage};
use apigw_store::{SqliteStore, Store};
use serde_json::json;

fn group(id: &str) -> Group {
    serde_json::from_value(json!({"GroupId": id, "GroupName": format!("group_{id}")})).unwrap()
}

fn api(id: &str, group: &str, path: &str) -> ApiDefinition {
    serde_json::from_value(json!({
        "ApiId": id, "GroupId": group, "ApiName": format!("api_{id}"), "AuthType": "ANONYMOUS",
        "RequestConfig": {"RequestHttpMethod": "GET", "RequestPath": path},
        "ServiceConfig": {"Mock": "TRUE", "MockResult": "hi"},
        "RequestParameters": [{"ApiParameterName": "x"}]
    }))
    .unwrap()
}

fn deployment(api: &ApiDefinition, stage: Stage, version: &str) -> Deployment {
    Deployment {
        api_id: api.api_id.clone(),
        group_id: api.group_id.clone(),
        stage_name: stage,
        history_version: version.into(),
        description: String::new(),
        deployed_time: "2026-11-25T00:00:00Z".into(),
        online: false,
        definition: api.clone(),
    }
}

#[tokio::test]
async fn round_trips_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        store.put_group(&group("g1")).await.unwrap();
        let d = Domain {
            domain_name: "localhost".into(),
            group_id: "g1".into(),
            bind_stage_name: None,
            certificate: None,
        };
        store.put_domain(&d).await.unwrap();
        store.put_api(&api("a1", "g1", "/x")).await.unwrap();
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        store.get_group("g1").await.unwrap().unwrap().group_name,
        "group_g1"
    );
    assert_eq!(store.list_domains().await.unwrap().len(), 1);
    let back = store.get_api("a1").await.unwrap().unwrap();
    assert_eq!(back, api("a1", "g1", "/x"));
    assert!(back.extra.contains_key("RequestParameters"));
}

#[tokio::test]
async fn every_write_bumps_the_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let g0 = store.generation().await.unwrap();
    store.put_group(&group("g1")).await.unwrap();
    let g1 = store.generation().await.unwrap();
    assert!(g1 > g0);
    store.put_api(&api("a1", "g1", "/x")).await.unwrap();
    assert!(store.generation().await.unwrap() > g1);
    // A second handle on the same file (another process) sees the change.
    let other = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        other.generation().await.unwrap(),
        store.generation().await.unwrap()
    );
}

#[tokio::test]
async fn deploy_abolish_and_switch_keep_one_online_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.put_group(&group("g1")).await.unwrap();
    let v1 = api("a1", "g1", "/v1");
    let v2 = api("a1", "g1", "/v2");
    store
        .deploy(&deployment(&v1, Stage::Release, "20261125000000001"))
        .await
        .unwrap();
    store
        .deploy(&deployment(&v2, Stage::Release, "20261125000000002"))
        .await
        .unwrap();
    store
        .deploy(&deployment(&v1, Stage::Test, "20261125000000003"))
        .await
        .unwrap();

    let live = store.load_live().await.unwrap();
    assert_eq!(live.deployments.len(), 2);
    let release = live
        .deployments
        .iter()
        .find(|d| d.stage_name == Stage::Release)
        .unwrap();
    assert_eq!(release.definition.request_config.request_path, "/v2");
    assert!(release.online);

    let history = store.history("a1", Some(Stage::Release)).await.unwrap();
    assert_eq!(
        history.iter().map(|d| d.online).collect::<Vec<_>>(),
        vec![true, false]
    );

    assert!(store
        .switch_version("a1", Stage::Release, "20261125000000001")
        .await
        .unwrap());
    assert!(!store
        .switch_version("a1", Stage::Release, "19990101000000000")
        .await
        .unwrap());
    let live = store.load_live().await.unwrap();
    let release = live
        .deployments
        .iter()
        .find(|d| d.stage_name == Stage::Release)
        .unwrap();
    assert_eq!(release.definition.request_config.request_path, "/v1");

    assert!(store.abolish("a1", Stage::Release).await.unwrap());
    assert!(!store.abolish("a1", Stage::Release).await.unwrap());
    let live = store.load_live().await.unwrap();
    assert_eq!(live.deployments.len(), 1);
    assert_eq!(live.deployments[0].stage_name, Stage::Test);
    assert_eq!(store.history("a1", None).await.unwrap().len(), 3);

    assert!(store.delete_group("g1").await.unwrap());
    assert!(store.load_live().await.unwrap().deployments.is_empty());
    assert!(store.history("a1", None).await.unwrap().is_empty());
}

#[test]
fn unusable_data_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = SqliteStore::open(&file)
        .err()
        .expect("a file is not a data directory");
    assert!(
        err.to_string().contains("cannot create data directory"),
        "{err}"
    );
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[tokio::test]
async fn a_new_data_directory_is_private_and_so_are_its_database_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested").join("data");
    let store = SqliteStore::open(&dir).unwrap();
    // A write makes sure the -wal and -shm files exist.
    store.put_group(&group("g1")).await.unwrap();
    assert_eq!(mode(&dir), 0o700);
    for name in ["apigw.db", "apigw.db-wal", "apigw.db-shm"] {
        let file = dir.join(name);
        assert!(file.exists(), "{name}");
        assert_eq!(mode(&file), 0o600, "{name}");
    }
}

#[tokio::test]
async fn opening_narrows_a_wider_existing_directory_and_files() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    {
        let store = SqliteStore::open(&dir).unwrap();
        store.put_group(&group("g1")).await.unwrap();
    }
    // As an earlier version left them: 0755 and 0644 (the -wal and -shm too when present).
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let files = ["apigw.db", "apigw.db-wal", "apigw.db-shm"];
    for name in files {
        let file = dir.join(name);
        if !file.exists() {
            // SQLite removes -wal/-shm on the last close; leave one as a crash would.
            std::fs::write(&file, b"").unwrap();
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let store = SqliteStore::open(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    for name in files {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    // Still a working store.
    assert_eq!(store.list_groups().await.unwrap().len(), 1);
}
