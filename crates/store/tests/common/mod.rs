//! What the store tests share: fixtures, and the two stores behind one harness so that each
//! conformance test runs the same body against SQLite and PostgreSQL (`on_both!`).
#![allow(dead_code)]

use apigw_model::{ApiDefinition, Deployment, Group, Stage};
use apigw_store::{
    PostgresStore, Resealed, SecretBox, SqliteStore, Store, StoreError, TestDatabase,
};
use std::sync::Arc;

pub fn group(id: &str) -> Group {
    serde_json::from_value(serde_json::json!({"GroupId": id, "GroupName": format!("group_{id}")}))
        .unwrap()
}

pub fn api(id: &str, group_id: &str, path: &str) -> ApiDefinition {
    serde_json::from_value(serde_json::json!({
        "ApiId": id, "GroupId": group_id, "ApiName": format!("api_{id}"), "AuthType": "ANONYMOUS",
        "RequestConfig": {"RequestHttpMethod": "GET", "RequestPath": path},
        "ServiceConfig": {"Mock": "TRUE", "MockResult": "hi"},
        "RequestParameters": [{"ApiParameterName": "x"}]
    }))
    .unwrap()
}

pub fn deployment(api: &ApiDefinition, stage: Stage, version: &str) -> Deployment {
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

/// One store under test, with what it lives in (removed when dropped).
pub enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

impl Backend {
    pub fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    pub fn postgres() -> Backend {
        Backend::Postgres(TestDatabase::create())
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Backend::Postgres(_))
    }

    /// A new handle on the store, as another process (or node) would open it.
    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(dir) => Arc::new(SqliteStore::open(dir.path()).unwrap()),
            Backend::Postgres(db) => Arc::new(PostgresStore::connect(db.url()).await.unwrap()),
        }
    }

    /// A new handle on the store opened with master keys: the store, what opening it
    /// resealed, and the id of the key it seals with.
    pub async fn open_with(&self, keys: SecretBox) -> Result<Keyed, StoreError> {
        Ok(match self {
            Backend::Sqlite(dir) => {
                let s = SqliteStore::open_with(dir.path(), keys)?;
                Keyed {
                    resealed: s.resealed(),
                    key_id: s.key_id().map(str::to_string),
                    store: Arc::new(s),
                }
            }
            Backend::Postgres(db) => {
                let s = PostgresStore::connect_with(db.url(), keys).await?;
                Keyed {
                    resealed: s.resealed(),
                    key_id: s.key_id().map(str::to_string),
                    store: Arc::new(s),
                }
            }
        })
    }

    /// What a copy of the store holds: every byte of every file of the data directory
    /// (SQLite: free pages and the write-ahead log included), or every row of every table
    /// (PostgreSQL).
    pub async fn raw(&self) -> Vec<u8> {
        match self {
            Backend::Sqlite(dir) => {
                let mut out = Vec::new();
                for entry in std::fs::read_dir(dir.path()).unwrap() {
                    out.extend(std::fs::read(entry.unwrap().path()).unwrap());
                }
                out
            }
            Backend::Postgres(_) => self.dump().await.into_bytes(),
        }
    }

    /// The stored documents of `table`, as they are in the database.
    pub async fn docs(&self, table: &str) -> Vec<String> {
        let sql = format!("SELECT doc FROM {table}");
        match self {
            Backend::Sqlite(dir) => rusqlite::Connection::open(dir.path().join("apigw.db"))
                .unwrap()
                .prepare(&sql)
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap(),
            Backend::Postgres(db) => pg(db.url())
                .await
                .query(&sql, &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect(),
        }
    }

    /// Sets the document of every row of `table` to `doc`, outside apigw.
    pub async fn set_docs(&self, table: &str, doc: &str) {
        match self {
            Backend::Sqlite(dir) => {
                rusqlite::Connection::open(dir.path().join("apigw.db"))
                    .unwrap()
                    .execute(&format!("UPDATE {table} SET doc = ?1"), [doc])
                    .unwrap();
            }
            Backend::Postgres(db) => {
                pg(db.url())
                    .await
                    .execute(&format!("UPDATE {table} SET doc = $1"), &[&doc])
                    .await
                    .unwrap();
            }
        }
    }

    /// Runs raw SQL on the store's database, outside apigw (the SQL for SQLite, or for
    /// PostgreSQL).
    pub async fn execute(&self, sqlite: &str, postgres: &str) {
        match self {
            Backend::Sqlite(dir) => rusqlite::Connection::open(dir.path().join("apigw.db"))
                .unwrap()
                .execute_batch(sqlite)
                .unwrap(),
            Backend::Postgres(db) => pg(db.url()).await.batch_execute(postgres).await.unwrap(),
        }
    }

    /// Every row of every table, in a fixed order.
    pub async fn dump(&self) -> String {
        match self {
            Backend::Sqlite(dir) => sqlite_dump(dir.path()),
            Backend::Postgres(db) => {
                let client = pg(db.url()).await;
                let tables: Vec<String> = client
                    .query(
                        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
                        &[],
                    )
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let mut out = String::new();
                for t in tables {
                    let mut rows: Vec<String> = client
                        .query(&format!("SELECT x::text FROM {t} x"), &[])
                        .await
                        .unwrap()
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    rows.sort();
                    out.push_str(&format!("[{t}]\n{}\n", rows.join("\n")));
                }
                out
            }
        }
    }
}

/// A store opened with master keys ([`Backend::open_with`]).
pub struct Keyed {
    pub store: Arc<dyn Store>,
    pub resealed: Resealed,
    pub key_id: Option<String>,
}

/// A plain connection to a test database.
pub async fn pg(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

fn sqlite_dump(dir: &std::path::Path) -> String {
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

/// Runs each named `async fn name(backend: Backend)` of the file as two tests,
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::sqlite()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::postgres()).await
                }
            )*
        }
    };
}
