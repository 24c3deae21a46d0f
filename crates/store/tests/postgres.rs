//! What only the PostgreSQL store does: push (LISTEN/NOTIFY), the writers' lock shared by
//! the nodes, schema versions in a database, and clear errors at connect time. The behaviour
//! it shares with SQLite is tested in `conformance.rs`.

mod common;

use apigw_store::{PostgresStore, Store, StoreError, TestDatabase};
use common::{group, pg};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// A write through one node wakes the listener of another at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_node_wakes_the_listener_of_another() {
    let db = TestDatabase::create();
    let writer = PostgresStore::connect(db.url()).await.unwrap();
    let reader: Arc<dyn Store> = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let wake = Arc::new(Notify::new());
    let (stop_tx, stop) = watch::channel(false);
    let listening = tokio::spawn({
        let (reader, wake) = (reader.clone(), wake.clone());
        async move { reader.listen(wake, stop).await }
    });
    // The first wake-up comes once it listens (changes may have been missed before).
    tokio::time::timeout(Duration::from_secs(10), wake.notified())
        .await
        .expect("listening");
    for i in 0..5 {
        let start = Instant::now();
        writer.put_group(&group(&format!("g{i}"))).await.unwrap();
        tokio::time::timeout(Duration::from_secs(1), wake.notified())
            .await
            .expect("notified within 1 s");
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(
            reader.generation().await.unwrap(),
            writer.generation().await.unwrap()
        );
    }
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), listening)
        .await
        .expect("stops")
        .unwrap();
}

/// The listener connects again when its connection is killed, and wakes the reloader then
/// (it may have missed notifications).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reconnects_after_its_connection_is_killed() {
    let db = TestDatabase::create();
    let store: Arc<dyn Store> = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let wake = Arc::new(Notify::new());
    let (_stop_tx, stop) = watch::channel(false);
    tokio::spawn({
        let (store, wake) = (store.clone(), wake.clone());
        async move { store.listen(wake, stop).await }
    });
    tokio::time::timeout(Duration::from_secs(10), wake.notified())
        .await
        .expect("listening");
    let admin = pg(db.url()).await;
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(killed.len(), 1, "one listening connection");
    tokio::time::timeout(Duration::from_secs(10), wake.notified())
        .await
        .expect("listening again");
    store.put_group(&group("after")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(1), wake.notified())
        .await
        .expect("notified after the reconnect");
}

/// The writers' lock is one for all nodes: a second node waits until the first lets go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writers_lock_is_shared_by_the_nodes() {
    let db = TestDatabase::create();
    let a = PostgresStore::connect(db.url()).await.unwrap();
    let b = PostgresStore::connect(db.url()).await.unwrap();
    let held = a.lock_writes().await.unwrap();
    let waiting = tokio::spawn(async move {
        let start = Instant::now();
        let lock = b.lock_writes().await.unwrap();
        (start.elapsed(), lock)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the second node waits");
    drop(held);
    let (waited, _lock) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the second node gets the lock")
        .unwrap();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    // Released for good: the first node takes it again once the second lets go.
    drop(_lock);
    tokio::time::timeout(Duration::from_secs(5), a.lock_writes())
        .await
        .expect("lock again")
        .unwrap();
}

fn schema_version(rows: &[tokio_postgres::Row]) -> i32 {
    rows[0].get(0)
}

/// A new database gets the schema at the current version (2); a second node connecting finds it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_database_gets_the_schema_once() {
    let db = TestDatabase::create();
    let (a, b) = tokio::join!(
        PostgresStore::connect(db.url()),
        PostgresStore::connect(db.url())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    a.put_group(&group("g1")).await.unwrap();
    assert_eq!(b.list_groups().await.unwrap().len(), 1);
    let admin = pg(db.url()).await;
    let rows = admin
        .query("SELECT version FROM schema_version", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(schema_version(&rows), 4);
}

/// A database whose schema a newer apigw wrote (version 999) is refused, untouched, with
/// both versions in the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused_and_left_alone() {
    let db = TestDatabase::create();
    PostgresStore::connect(db.url()).await.unwrap();
    let admin = pg(db.url()).await;
    admin
        .batch_execute("UPDATE schema_version SET version = 999")
        .await
        .unwrap();
    let err = PostgresStore::connect(db.url()).await.unwrap_err();
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
    let rows = admin
        .query("SELECT version FROM schema_version", &[])
        .await
        .unwrap();
    assert_eq!(schema_version(&rows), 999);
}

/// Connection failures say where, never with the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_are_clear_and_hide_the_password() {
    // Nothing listens on port 1.
    let err = PostgresStore::connect("postgres://apigw:hunter2@127.0.0.1:1/apigw")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(err.contains("apigw"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    // A database that does not exist: the server's own words.
    let db = TestDatabase::create();
    let missing = db.url().replace(db.name(), "apigw_no_such_database");
    let err = PostgresStore::connect(&missing)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
    // Not a URL at all.
    let err = PostgresStore::connect("postgres://host:notaport/db")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid PostgreSQL URL"), "{err}");
}
