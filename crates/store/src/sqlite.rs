//! The embedded store: one SQLite file in the data directory (WAL, synchronous=FULL).
//!
//! Entities are stored as their JSON documents with the columns needed to find them, so the
//! schema stays small and every field of the model survives a round trip. The schema's version
//! is SQLite's `user_version`; a data directory made before versions were recorded has 0 and
//! gets version 1 (its tables are version 1's) when it is opened.

use crate::backend::Backend;
use crate::online::Merge;
use crate::secrets::{Resealed, SecretBox, Secrets};
use crate::sql::{self, Arg};
use crate::{migrate, Result, StoreError, StoredConfig, Write};
use apigw_model::Deployment;
use async_trait::async_trait;
use rusqlite::{params_from_iter, Connection, OptionalExtension, Transaction};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The migrations, oldest first: version `n` is `MIGRATIONS[n - 1]` (see `migrate.rs`).
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_initial.sql"),
    include_str!("../migrations/sqlite/0002_api_minutes.sql"),
    include_str!("../migrations/sqlite/0003_backends.sql"),
    include_str!("../migrations/sqlite/0004_api_minute_details.sql"),
];

/// SQLite-backed [`Store`]. Cheap to clone; calls run on tokio's blocking pool.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// The online deployments of the last [`Store::load_live`], by (API, stage, version): a
    /// history version is immutable, so only the rows that changed are read and parsed again.
    online: Arc<DeploymentCache>,
    /// Seals the secret fields of what is written, opens those of what is read (`sql.rs`).
    secrets: Arc<Secrets>,
    /// What opening the store did to the stored secrets.
    resealed: Resealed,
}

/// The online deployments of the last read, in (API, stage) order.
type DeploymentCache = Mutex<Vec<Arc<Deployment>>>;

impl SqliteStore {
    /// Opens (creating if needed) `<dir>/apigw.db` without a master key: secrets are stored
    /// plain, and a store that holds sealed secrets is refused ([`StoreError::MasterKey`]).
    pub fn open(dir: &Path) -> Result<SqliteStore> {
        SqliteStore::open_with(dir, SecretBox::plaintext())
    }

    /// Opens (creating if needed) `<dir>/apigw.db`. Fails with a readable message when the
    /// directory cannot be created or the file is not a usable database.
    ///
    /// The database holds secrets (AccessKey secrets, app secrets, TLS keys), so the directory
    /// is created `0700` and the database files `0600`; wider modes found on an existing
    /// directory or file are narrowed (with a log line).
    ///
    /// Secrets are sealed with `secrets`' current key, if any. Before anything else, every
    /// stored secret not in that form is rewritten in one transaction (plain ones sealed, those
    /// sealed with the previous key sealed again; [`sql::reseal`]), then the file is rebuilt
    /// (`VACUUM`) so that no plain copy stays in its free pages or its write-ahead log
    /// ([`SqliteStore::resealed`] says what was done). A secret sealed with a key `secrets`
    /// does not hold refuses the store ([`StoreError::MasterKey`], naming the key id) and
    /// changes nothing.
    pub fn open_with(dir: &Path, secrets: SecretBox) -> Result<SqliteStore> {
        create_private_dir(dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("apigw.db");
        // Created here with 0600 (SQLite would use 0644 less the umask); SQLite gives its
        // `-wal` and `-shm` files the database file's mode.
        create_private_file(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot use {}: {e}", path.display())))?;
        let unusable = |e: rusqlite::Error| {
            StoreError::Unavailable(format!("cannot use {}: {e}", path.display()))
        };
        let mut conn = Connection::open(&path).map_err(unusable)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(unusable)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unusable)?;
        // A page cache large enough that reloads of a large configuration read from memory.
        conn.pragma_update(None, "cache_size", -65536)
            .map_err(unusable)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(unusable)?;
        migrate_schema(&mut conn, MIGRATIONS).map_err(|e| match e {
            StoreError::Unavailable(e) => {
                StoreError::Unavailable(format!("cannot use {}: {e}", path.display()))
            }
            other => other,
        })?;
        // `-wal` and `-shm` left by an earlier process keep their mode: narrow them too.
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            restrict(Path::new(&side), PRIVATE_FILE).map_err(|e| {
                StoreError::Unavailable(format!("cannot use {}: {e}", path.display()))
            })?;
        }
        let resealed = reseal(&mut conn, &secrets)?;
        if !resealed.is_empty() {
            // The rewritten rows leave their plain text in free space and in the write-ahead
            // log: rebuild the file and empty the log. The secrets are sealed already; a
            // failure here (another process reading) only leaves the old copies.
            if let Err(e) = conn
                .execute_batch("VACUUM")
                .and_then(|()| conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)"))
            {
                warn_line(&format!(
                    "{}: secrets are sealed, but the file could not be rebuilt ({e}): earlier plain copies may remain in its free pages until the next VACUUM",
                    path.display()
                ));
            }
        }
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
            online: Arc::default(),
            secrets: Arc::new(Secrets::new(secrets)),
            resealed,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What opening the store rewrote.
    pub fn resealed(&self) -> Resealed {
        self.resealed
    }

    /// The id of the master key secrets are sealed with; `None`: they are stored plain.
    pub fn key_id(&self) -> Option<&str> {
        self.secrets.keys.key_id()
    }

    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }
}

/// Brings the schema to the newest version of `migrations`, in one transaction (another
/// process opening the same file waits for it).
fn migrate_schema(conn: &mut Connection, migrations: &[&str]) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db)?;
    let pending = migrate::pending(found, migrations)?;
    if pending.is_empty() {
        return Ok(());
    }
    for sql in &migrations[pending.clone()] {
        tx.execute_batch(sql).map_err(db)?;
    }
    tx.pragma_update(None, "user_version", pending.end as i64)
        .map_err(db)?;
    tx.commit().map_err(db)?;
    tracing::info!(target: "apigw::config", from = found, to = pending.end, "store schema upgraded");
    Ok(())
}

/// Rewrites, in one transaction, every stored secret that is not in the form `secrets` writes
/// (see [`SqliteStore::open_with`]). The immediate transaction keeps other processes' writes
/// out meanwhile.
fn reseal(conn: &mut Connection, secrets: &SecretBox) -> Result<Resealed> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)?;
    let [a, b, c, d] = sql::RESEAL_DOCS.map(|q| docs(&tx, q, &[]));
    let (steps, done) = sql::reseal([a?, b?, c?, d?], secrets)?;
    if steps.is_empty() {
        return Ok(done);
    }
    for step in &steps {
        run_sql(&tx, step)?;
    }
    tx.commit().map_err(db)?;
    Ok(done)
}

/// Mode of the data directory: the owner only.
pub const PRIVATE_DIR: u32 = 0o700;
/// Mode of the files in the data directory: the owner may read and write.
pub const PRIVATE_FILE: u32 = 0o600;

/// Creates `dir` (and missing parents) with mode `0700`, or narrows an existing one to it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.is_dir() {
        // Parents get the usual mode; the data directory itself is private from the start.
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::DirBuilder::new().mode(PRIVATE_DIR).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    restrict(dir, PRIVATE_DIR)
}

/// Creates `path` empty with mode `0600` when it does not exist, or narrows it to `0600`.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    restrict(path, PRIVATE_FILE)
}

/// Sets `path`'s permission bits to `mode` when it grants more (to group or others, or more to
/// the owner), with a log line; a missing file is left alone. A file this user may not change
/// (another owner) is left as it is, with a log line.
pub fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let now = meta.permissions().mode() & 0o7777;
    if now & !mode == 0 {
        return Ok(());
    }
    let line = match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        Ok(()) => format!(
            "{} had mode {now:04o}; changed to {mode:04o} (it holds secrets)",
            path.display()
        ),
        // Not the owner (e.g. a mounted volume): serve all the same, and say so.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => format!(
            "{} has mode {now:04o} and cannot be changed to {mode:04o} ({e}); it holds secrets",
            path.display()
        ),
        Err(e) => return Err(e),
    };
    warn_line(&line);
    Ok(())
}

/// A warning: a log line in the gateway, a line on stderr in a CLI command (no log subscriber).
fn warn_line(line: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!(target: "apigw::config", "{line}");
    } else {
        eprintln!("warning: {line}");
    }
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Arg::Text(s) => s.to_sql(),
            Arg::Int(i) => i.to_sql(),
        }
    }
}

/// A statement of `sql.rs` as SQLite writes it (`$1` → `?1`).
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

/// Runs a prepared (cached) statement; the number of rows it changed.
fn run_sql(tx: &Transaction<'_>, step: &sql::Step) -> Result<u64> {
    tx.prepare_cached(&sqlite_sql(step.sql))
        .map_err(db)?
        .execute(params_from_iter(&step.args))
        .map(|n| n as u64)
        .map_err(db)
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Every row of `sql`, each read by `row`.
fn rows<T>(
    conn: &Connection,
    sql: &str,
    args: &[Arg],
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(&sqlite_sql(sql)).map_err(db)?;
    let rows = stmt.query_map(params_from_iter(args), row).map_err(db)?;
    rows.map(|r| r.map_err(db)).collect()
}

fn docs(conn: &Connection, sql: &str, args: &[Arg]) -> Result<Vec<String>> {
    rows(conn, sql, args, |r| r.get(0))
}

fn read_generation(conn: &Connection) -> Result<u64> {
    conn.query_row(sql::GENERATION, [], |r| r.get::<_, i64>(0))
        .map(|v| v as u64)
        .map_err(db)
}

/// The online deployments, parsing only those not in `cache` (see `online.rs`), which then
/// holds exactly the ones returned.
fn online_deployments(conn: &Connection, cache: &DeploymentCache) -> Result<Vec<Arc<Deployment>>> {
    let mut guard = cache.lock().unwrap_or_else(|e| e.into_inner());
    let mut merge = Merge::new(std::mem::take(&mut *guard));
    let mut stmt = conn.prepare_cached(sql::ONLINE_KEYS).map_err(db)?;
    let mut rows = stmt.query([]).map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        let text = |i| row.get_ref(i).and_then(|v| v.as_str().map_err(Into::into));
        merge.row(
            text(0).map_err(db)?,
            text(1).map_err(db)?,
            text(2).map_err(db)?,
        );
    }
    let mut fetch = conn
        .prepare_cached(&sqlite_sql(sql::DEPLOYMENT_DOC))
        .map_err(db)?;
    let docs = merge
        .missing()
        .iter()
        .map(|(api, stage, version)| {
            fetch
                .query_row([api, stage, version], |r| r.get(0))
                .map_err(db)
        })
        .collect::<Result<Vec<String>>>()?;
    let out = merge.finish(docs)?;
    *guard = out.clone();
    Ok(out)
}

fn read_all(
    tx: &Transaction<'_>,
    cache: &DeploymentCache,
    secrets: &Secrets,
    all: bool,
) -> Result<StoredConfig> {
    let generation = read_generation(tx)?;
    let [a, b, c, d, e, f, g, h, i] = sql::LIVE_DOCS.map(|q| docs(tx, q, &[]));
    let live = sql::live(
        generation,
        [a?, b?, c?, d?, e?, f?, g?, h?, i?],
        online_deployments(tx, cache)?,
        secrets,
    )?;
    if !all {
        return Ok(StoredConfig {
            live,
            ..StoredConfig::default()
        });
    }
    let latest = rows(tx, sql::LATEST_VERSIONS, &[], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(StoredConfig {
        live,
        apis: sql::from_docs(&docs(tx, sql::ALL_APIS, &[])?)?,
        latest_versions: sql::latest_versions(latest)?,
    })
}

#[async_trait]
impl Backend for SqliteStore {
    async fn generation(&self) -> Result<u64> {
        self.run(|c| read_generation(c)).await
    }

    async fn load(&self, all: bool) -> Result<StoredConfig> {
        let (cache, secrets) = (self.online.clone(), self.secrets.clone());
        self.run(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let out = read_all(&tx, &cache, &secrets, all)?;
            tx.commit().map_err(db)?;
            Ok(out)
        })
        .await
    }

    async fn write(&self, batch: Vec<Write>, if_generation: Option<u64>) -> Result<Vec<bool>> {
        let plans = sql::plans(&batch, &self.secrets.keys)?;
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db)?;
            if let Some(expected) = if_generation {
                let now = read_generation(&tx)?;
                if now != expected {
                    return Err(StoreError::Conflict(format!(
                        "generation {now}, expected {expected}"
                    )));
                }
            }
            let out = sql::run_plans(&plans, |step| run_sql(&tx, step))?;
            tx.execute(sql::BUMP_GENERATION, []).map_err(db)?;
            tx.commit().map_err(db)?;
            Ok(out)
        })
        .await
    }

    async fn docs(&self, sql: &'static str, args: Vec<Arg>) -> Result<Vec<String>> {
        self.run(move |c| docs(c, sql, &args)).await
    }

    async fn deployments(&self, sql: &'static str, args: Vec<Arg>) -> Result<Vec<(String, bool)>> {
        self.run(move |c| rows(c, sql, &args, |r| Ok((r.get(0)?, r.get(1)?))))
            .await
    }

    fn secrets(&self) -> &SecretBox {
        &self.secrets.keys
    }

    async fn execute(&self, steps: Vec<sql::Step>) -> Result<u64> {
        self.run(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db)?;
            let mut changed = 0;
            for step in &steps {
                changed += run_sql(&tx, step)?;
            }
            tx.commit().map_err(db)?;
            Ok(changed)
        })
        .await
    }

    async fn int_rows(
        &self,
        sql: &'static str,
        args: Vec<Arg>,
        columns: usize,
    ) -> Result<Vec<Vec<i64>>> {
        self.run(move |c| {
            rows(c, sql, &args, |r| {
                (0..columns).map(|i| r.get::<_, i64>(i)).collect()
            })
        })
        .await
    }

    async fn text(&self, sql: &'static str, args: Vec<Arg>) -> Result<Option<String>> {
        self.run(move |c| {
            c.prepare_cached(&sqlite_sql(sql))
                .map_err(db)?
                .query_row(params_from_iter(&args), |r| r.get::<_, Option<String>>(0))
                .optional()
                .map(Option::flatten)
                .map_err(db)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A schema at the binary's version gets a later migration once, and records its version.
    #[test]
    fn later_migrations_run_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apigw.db");
        let mut conn = Connection::open(&path).unwrap();
        migrate_schema(&mut conn, MIGRATIONS).unwrap();
        conn.execute("INSERT INTO groups (group_id, doc) VALUES ('g', '{}')", [])
            .unwrap();
        let mut two = MIGRATIONS.to_vec();
        two.push("ALTER TABLE groups ADD COLUMN note TEXT NOT NULL DEFAULT 'two'");
        migrate_schema(&mut conn, &two).unwrap();
        migrate_schema(&mut conn, &two).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        let known = MIGRATIONS.len() as i64;
        assert_eq!(version, known + 1);
        let note: String = conn
            .query_row("SELECT note FROM groups WHERE group_id = 'g'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(note, "two");
        // The binary that knows one version less refuses the file now, and leaves it alone.
        let err = migrate_schema(&mut conn, MIGRATIONS).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found, supported } if found == known + 1 && supported == known)
        );
    }

    /// A migration that fails leaves the schema (and its version) as it was.
    #[test]
    fn a_failing_migration_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("apigw.db")).unwrap();
        migrate_schema(&mut conn, MIGRATIONS).unwrap();
        let mut bad = MIGRATIONS.to_vec();
        bad.push("CREATE TABLE extra (x TEXT); SELECT * FROM no_such_table;");
        assert!(migrate_schema(&mut conn, &bad).is_err());
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let extra: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'extra'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(extra, 0);
    }
}
