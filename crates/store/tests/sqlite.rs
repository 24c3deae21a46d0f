//! What only the SQLite store does: the data directory (its modes, a clear error when it is
//! unusable) and the upgrade of data directories made by earlier versions. The behaviour it
//! shares with PostgreSQL is tested in `conformance.rs`.

mod common;

use apigw_model::Stage;
use apigw_store::{SqliteStore, Store, StoreError};
use common::{api, deployment, group};

/// The schema as apigw created it before schemas had versions (copied from the code of that
/// time, not from the migrations): such a data directory has `user_version` 0.
const UNVERSIONED_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS generation (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT OR IGNORE INTO generation (id, value) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS groups (group_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS domains (domain_name TEXT PRIMARY KEY, group_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apis (api_id TEXT PRIMARY KEY, group_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS apis_group ON apis (group_id);
CREATE TABLE IF NOT EXISTS deployments (
    api_id TEXT NOT NULL, stage TEXT NOT NULL, version TEXT NOT NULL, group_id TEXT NOT NULL,
    online INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (api_id, stage, version));
CREATE INDEX IF NOT EXISTS deployments_online ON deployments (online) WHERE online = 1;
CREATE INDEX IF NOT EXISTS deployments_online_keys ON deployments (api_id, stage, version) WHERE online = 1;
CREATE TABLE IF NOT EXISTS apps (app_id INTEGER PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS authorizations (
    app_id INTEGER NOT NULL, api_id TEXT NOT NULL, stage TEXT NOT NULL, group_id TEXT NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY (app_id, api_id, stage));
CREATE INDEX IF NOT EXISTS authorizations_api ON authorizations (api_id);
CREATE TABLE IF NOT EXISTS plugins (plugin_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plugin_bindings (
    plugin_id TEXT NOT NULL, api_id TEXT NOT NULL, stage TEXT NOT NULL, group_id TEXT NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY (plugin_id, api_id, stage));
CREATE INDEX IF NOT EXISTS plugin_bindings_api ON plugin_bindings (api_id);
CREATE TABLE IF NOT EXISTS access_keys (access_key_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
";

fn user_version(dir: &std::path::Path) -> i64 {
    rusqlite::Connection::open(dir.join("apigw.db"))
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

/// A data directory written before schemas had versions opens, keeps its data, and is at
/// the current version (2) afterwards.
#[tokio::test]
async fn an_unversioned_data_directory_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let a = api("a1", "g1", "/old");
    {
        let conn = rusqlite::Connection::open(dir.path().join("apigw.db")).unwrap();
        conn.execute_batch(UNVERSIONED_SCHEMA).unwrap();
        conn.execute(
            "INSERT INTO groups (group_id, doc) VALUES ('g1', ?1)",
            [json(&group("g1"))],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO apis (api_id, group_id, doc) VALUES ('a1', 'g1', ?1)",
            [json(&a)],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO deployments (api_id, stage, version, group_id, online, doc) VALUES ('a1', 'RELEASE', '1', 'g1', 1, ?1)",
            [json(&deployment(&a, Stage::Release, "1"))],
        )
        .unwrap();
        conn.execute("UPDATE generation SET value = 41", [])
            .unwrap();
    }
    assert_eq!(user_version(dir.path()), 0);

    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(user_version(dir.path()), 4);
    assert_eq!(store.generation().await.unwrap(), 41);
    let live = store.load_live().await.unwrap();
    assert_eq!(live.groups, vec![group("g1")]);
    assert_eq!(live.deployments.len(), 1);
    assert_eq!(live.deployments[0].definition, a);
    store.put_group(&group("g2")).await.unwrap();
    drop(store);
    // Opened again: nothing to do.
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.list_groups().await.unwrap().len(), 2);
    assert_eq!(user_version(dir.path()), 4);
}

/// A data directory written by a newer apigw (schema version 999) is refused, untouched,
/// with both versions in the message.
#[tokio::test]
async fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        store.put_group(&group("g1")).await.unwrap();
    }
    rusqlite::Connection::open(dir.path().join("apigw.db"))
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    let err = SqliteStore::open(dir.path()).err().expect("refused");
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 999,
                supported: 4
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("version 999") && text.contains("version 4"),
        "{text}"
    );
    assert_eq!(user_version(dir.path()), 999);
}

/// The model's JSON, as the store of that time wrote it as `doc`.
fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap()
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
