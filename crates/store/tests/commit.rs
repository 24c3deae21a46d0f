//! `Store::commit`: a batch of writes is atomic, against a real SQLite file.

use apigw_model::{ApiDefinition, Deployment, Group, Stage};
use apigw_store::{SqliteStore, Store, StoreError, Write};
use std::path::Path;

fn group(id: &str) -> Group {
    serde_json::from_value(serde_json::json!({"GroupId": id, "GroupName": format!("group_{id}")}))
        .unwrap()
}

fn api(id: &str, group_id: &str) -> ApiDefinition {
    serde_json::from_value(serde_json::json!({
        "ApiId": id, "GroupId": group_id, "ApiName": format!("api_{id}"), "AuthType": "ANONYMOUS",
        "RequestConfig": {"RequestHttpMethod": "GET", "RequestPath": format!("/{id}")},
        "ServiceConfig": {"Mock": "TRUE", "MockResult": "x"}
    }))
    .unwrap()
}

fn deployment(api: &ApiDefinition, version: &str) -> Deployment {
    Deployment {
        api_id: api.api_id.clone(),
        group_id: api.group_id.clone(),
        stage_name: Stage::Release,
        history_version: version.into(),
        description: String::new(),
        deployed_time: String::new(),
        online: true,
        definition: api.clone(),
    }
}

/// Every row of every table, in a fixed order.
fn dump(dir: &Path) -> String {
    let conn = rusqlite::Connection::open(dir.join("apigw.db")).unwrap();
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
        out.push_str(&format!("[{t}]\n{}\n", rows.join("\n")));
    }
    out
}

#[tokio::test]
async fn a_batch_is_written_whole_and_bumps_the_generation_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let a = api("a1", "g1");
    let before = store.generation().await.unwrap();
    store
        .commit(
            &[
                Write::PutGroup(group("g1")),
                Write::PutApi(a.clone()),
                Write::Deploy(deployment(&a, "1")),
                Write::Deploy(deployment(&a, "2")),
            ],
            Some(before),
        )
        .await
        .unwrap();
    assert_eq!(store.generation().await.unwrap(), before + 1);
    let all = store.load_all().await.unwrap();
    assert_eq!(all.live.generation, before + 1);
    assert_eq!(all.apis, vec![a.clone()]);
    assert_eq!(all.live.deployments.len(), 1, "one online version");
    assert_eq!(all.live.deployments[0].history_version, "2");
    assert_eq!(
        all.latest_versions,
        vec![("a1".to_string(), Stage::Release, "2".to_string())]
    );
    // An empty batch writes nothing.
    store.commit(&[], Some(before + 1)).await.unwrap();
    assert_eq!(store.generation().await.unwrap(), before + 1);
}

#[tokio::test]
async fn a_stale_batch_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let read_at = store.generation().await.unwrap();
    store.put_group(&group("g1")).await.unwrap();
    let before = dump(dir.path());
    let err = store
        .commit(&[Write::PutGroup(group("g2"))], Some(read_at))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(dump(dir.path()), before);
}

#[tokio::test]
async fn a_batch_failing_half_way_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.put_group(&group("g1")).await.unwrap();
    store.put_api(&api("a1", "g1")).await.unwrap();
    // A real failure inside SQLite, after earlier writes of the batch have run.
    rusqlite::Connection::open(dir.path().join("apigw.db"))
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON apis WHEN NEW.api_id = 'boom'
             BEGIN SELECT RAISE(ABORT, 'boom refused'); END;",
        )
        .unwrap();
    let before = dump(dir.path());
    let a1 = api("a1", "g1");
    let err = store
        .commit(
            &[
                Write::PutGroup(group("g2")),
                Write::Deploy(deployment(&a1, "1")),
                Write::DeleteApi("a1".into()),
                Write::PutApi(api("boom", "g2")),
                Write::PutApi(api("a3", "g2")),
            ],
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("boom refused"), "{err}");
    assert_eq!(dump(dir.path()), before);
}
