//! The embedded store: one SQLite file in the data directory (WAL, synchronous=FULL).
//!
//! Entities are stored as their JSON documents with the columns needed to find them, so the
//! schema stays small and every field of the model survives a round trip.

use crate::secrets::{Reseal, SecretBox, SecretFields};
use crate::{LiveConfig, Result, Store, StoreError, StoredConfig, Write};
use apigw_model::{
    AccessKey, ApiDefinition, App, Authorization, Deployment, Domain, Group, Plugin, PluginBinding,
    Stage,
};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
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

/// SQLite-backed [`Store`]. Cheap to clone; calls run on tokio's blocking pool.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// The online deployments of the last [`Store::load_live`], by (API, stage, version): a
    /// history version is immutable, so only the rows that changed are read and parsed again.
    online: Arc<DeploymentCache>,
    /// Seals the secret fields of what is written, opens those of what is read.
    secrets: Arc<SecretBox>,
    /// The secrets the last [`Store::load_live`] opened, by stored form: a sealed value always
    /// opens to the same text, so a reload decrypts only the values it did not see last time.
    opened: Arc<OpenedCache>,
    /// What opening the store did to the stored secrets.
    resealed: Resealed,
}

/// What [`SqliteStore::open_with`] rewrote so that every stored secret is in the form the
/// master key given writes (counted in values, e.g. one app with two secrets counts two).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Plain values now sealed with the current key.
    pub sealed: usize,
    /// Values sealed with the previous key now sealed with the current one.
    pub rekeyed: usize,
    /// Values sealed with the previous key now stored plain (no current key is set).
    pub unsealed: usize,
}

impl Resealed {
    pub fn is_empty(&self) -> bool {
        *self == Resealed::default()
    }
}

/// The online deployments of the last read, in (API, stage) order.
type DeploymentCache = Mutex<Vec<Arc<Deployment>>>;

/// Opened secrets by their sealed form.
type OpenedCache = Mutex<HashMap<String, String>>;

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
    /// sealed with the previous key sealed again), then the file is rebuilt (`VACUUM`) so that
    /// no plain copy stays in its free pages or its write-ahead log ([`SqliteStore::resealed`]
    /// says what was done). A secret sealed with a key `secrets` does not hold refuses the
    /// store ([`StoreError::MasterKey`], naming the key id) and changes nothing.
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
        let conn = Connection::open(&path).map_err(unusable)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(unusable)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unusable)?;
        // A page cache large enough that reloads of a large configuration read from memory.
        conn.pragma_update(None, "cache_size", -65536)
            .map_err(unusable)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(unusable)?;
        conn.execute_batch(SCHEMA).map_err(unusable)?;
        // `-wal` and `-shm` left by an earlier process keep their mode: narrow them too.
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            restrict(Path::new(&side), PRIVATE_FILE).map_err(|e| {
                StoreError::Unavailable(format!("cannot use {}: {e}", path.display()))
            })?;
        }
        let mut conn = conn;
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
            secrets: Arc::new(secrets),
            opened: Arc::default(),
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
        self.secrets.key_id()
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

    /// Runs `batch` in one write transaction that bumps the generation once. The answer of
    /// each write: true when it changed a row (see [`exec`]).
    async fn write(&self, batch: Vec<Write>, if_generation: Option<u64>) -> Result<Vec<bool>> {
        let secrets = self.secrets.clone();
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
            let out = batch
                .iter()
                .map(|w| exec(&tx, w, &secrets))
                .collect::<Result<Vec<bool>>>()?;
            tx.execute("UPDATE generation SET value = value + 1 WHERE id = 1", [])
                .map_err(db)?;
            tx.commit().map_err(db)?;
            Ok(out)
        })
        .await
    }

    /// One write in its own transaction.
    async fn write_one(&self, w: Write) -> Result<bool> {
        Ok(self.write(vec![w], None).await?[0])
    }
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

/// Rewrites, in one transaction, every stored secret that is not in the form `secrets` writes
/// (see [`SqliteStore::open_with`]). Opens every value before writing any: one sealed with an
/// unknown key, or altered, refuses the whole store and nothing is written.
fn reseal(conn: &mut Connection, secrets: &SecretBox) -> Result<Resealed> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)?;
    let mut done = Resealed::default();
    reseal_table::<AccessKey>(&tx, secrets, "access_keys", &mut done)?;
    reseal_table::<App>(&tx, secrets, "apps", &mut done)?;
    reseal_table::<Domain>(&tx, secrets, "domains", &mut done)?;
    reseal_table::<Plugin>(&tx, secrets, "plugins", &mut done)?;
    tx.commit().map_err(db)?;
    Ok(done)
}

fn reseal_table<T: SecretFields + Serialize + DeserializeOwned>(
    tx: &Transaction<'_>,
    secrets: &SecretBox,
    table: &str,
    done: &mut Resealed,
) -> Result<()> {
    let rows: Vec<(i64, String)> = {
        let mut stmt = tx
            .prepare(&format!("SELECT rowid, doc FROM {table}"))
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)?
    };
    for (rowid, doc) in rows {
        let mut value: T = from_doc(&doc)?;
        let mut changed = false;
        for field in value.secret_fields() {
            // Every value is opened, so an altered one refuses the store now rather than at
            // the first read.
            let plain = secrets.open(field)?;
            match secrets.reseal(field)? {
                Reseal::Keep => continue,
                Reseal::Seal => done.sealed += 1,
                Reseal::Rekey if secrets.key_id().is_some() => done.rekeyed += 1,
                Reseal::Rekey => done.unsealed += 1,
            }
            *field = secrets.seal(&plain);
            changed = true;
        }
        if changed {
            tx.execute(
                &format!("UPDATE {table} SET doc = ?1 WHERE rowid = ?2"),
                params![to_doc(&value)?, rowid],
            )
            .map_err(db)?;
        }
    }
    Ok(())
}

/// Runs a prepared (cached) statement; the number of rows it changed.
fn run_sql(tx: &Transaction<'_>, sql: &str, args: impl rusqlite::Params) -> Result<usize> {
    tx.prepare_cached(sql)
        .map_err(db)?
        .execute(args)
        .map_err(db)
}

/// The one implementation of every write. True when it changed a row (a delete that found
/// something, an abolish of an online deployment, a switch to an existing version; puts are
/// always true).
fn exec(tx: &Transaction<'_>, w: &Write, secrets: &SecretBox) -> Result<bool> {
    match w {
        Write::PutGroup(g) => {
            run_sql(
                tx,
                "INSERT INTO groups (group_id, doc) VALUES (?1, ?2) ON CONFLICT (group_id) DO UPDATE SET doc = ?2",
                params![g.group_id, to_doc(g)?],
            )?;
            Ok(true)
        }
        Write::DeleteGroup(id) => {
            for sql in [
                "DELETE FROM authorizations WHERE group_id = ?1",
                "DELETE FROM plugin_bindings WHERE group_id = ?1",
                "DELETE FROM deployments WHERE group_id = ?1",
                "DELETE FROM apis WHERE group_id = ?1",
                "DELETE FROM domains WHERE group_id = ?1",
            ] {
                run_sql(tx, sql, [id])?;
            }
            Ok(run_sql(tx, "DELETE FROM groups WHERE group_id = ?1", [id])? > 0)
        }
        Write::PutDomain(d) => {
            run_sql(
                tx,
                "INSERT INTO domains (domain_name, group_id, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT (domain_name) DO UPDATE SET group_id = ?2, doc = ?3",
                params![d.domain_name, d.group_id, to_doc(&secrets.seal_doc(d))?],
            )?;
            Ok(true)
        }
        Write::DeleteDomain(name) => {
            Ok(run_sql(tx, "DELETE FROM domains WHERE domain_name = ?1", [name])? > 0)
        }
        Write::PutApi(a) => {
            run_sql(
                tx,
                "INSERT INTO apis (api_id, group_id, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT (api_id) DO UPDATE SET group_id = ?2, doc = ?3",
                params![a.api_id, a.group_id, to_doc(a)?],
            )?;
            Ok(true)
        }
        Write::DeleteApi(id) => {
            for sql in [
                "DELETE FROM deployments WHERE api_id = ?1",
                "DELETE FROM authorizations WHERE api_id = ?1",
                "DELETE FROM plugin_bindings WHERE api_id = ?1",
            ] {
                run_sql(tx, sql, [id])?;
            }
            Ok(run_sql(tx, "DELETE FROM apis WHERE api_id = ?1", [id])? > 0)
        }
        Write::Deploy(d) => {
            let stage = d.stage_name.as_str();
            run_sql(
                tx,
                "UPDATE deployments SET online = 0 WHERE api_id = ?1 AND stage = ?2",
                params![d.api_id, stage],
            )?;
            run_sql(
                tx,
                "INSERT INTO deployments (api_id, stage, version, group_id, online, doc) VALUES (?1, ?2, ?3, ?4, 1, ?5)
                 ON CONFLICT (api_id, stage, version) DO UPDATE SET online = 1, doc = ?5",
                params![d.api_id, stage, d.history_version, d.group_id, to_doc(d)?],
            )?;
            Ok(true)
        }
        Write::Abolish { api_id, stage } => Ok(run_sql(
            tx,
            "UPDATE deployments SET online = 0 WHERE api_id = ?1 AND stage = ?2 AND online = 1",
            params![api_id, stage.as_str()],
        )? > 0),
        Write::SwitchVersion {
            api_id,
            stage,
            version,
        } => {
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM deployments WHERE api_id = ?1 AND stage = ?2 AND version = ?3",
                    params![api_id, stage.as_str(), version],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            if exists.is_none() {
                return Ok(false);
            }
            run_sql(
                tx,
                "UPDATE deployments SET online = (version = ?3) WHERE api_id = ?1 AND stage = ?2",
                params![api_id, stage.as_str(), version],
            )?;
            Ok(true)
        }
        Write::PutApp(a) => {
            run_sql(
                tx,
                "INSERT INTO apps (app_id, doc) VALUES (?1, ?2) ON CONFLICT (app_id) DO UPDATE SET doc = ?2",
                params![a.app_id, to_doc(&secrets.seal_doc(a))?],
            )?;
            Ok(true)
        }
        Write::DeleteApp(id) => {
            run_sql(tx, "DELETE FROM authorizations WHERE app_id = ?1", [id])?;
            Ok(run_sql(tx, "DELETE FROM apps WHERE app_id = ?1", [id])? > 0)
        }
        Write::PutAuthorization(g) => {
            run_sql(
                tx,
                "INSERT INTO authorizations (app_id, api_id, stage, group_id, doc) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (app_id, api_id, stage) DO UPDATE SET group_id = ?4, doc = ?5",
                params![g.app_id, g.api_id, g.stage_name.as_str(), g.group_id, to_doc(g)?],
            )?;
            Ok(true)
        }
        Write::DeleteAuthorization {
            app_id,
            api_id,
            stage,
        } => Ok(run_sql(
            tx,
            "DELETE FROM authorizations WHERE app_id = ?1 AND api_id = ?2 AND stage = ?3",
            params![app_id, api_id, stage.as_str()],
        )? > 0),
        Write::PutPlugin(p) => {
            run_sql(
                tx,
                "INSERT INTO plugins (plugin_id, doc) VALUES (?1, ?2) ON CONFLICT (plugin_id) DO UPDATE SET doc = ?2",
                params![p.plugin_id, to_doc(&secrets.seal_doc(p))?],
            )?;
            Ok(true)
        }
        Write::DeletePlugin(id) => {
            run_sql(tx, "DELETE FROM plugin_bindings WHERE plugin_id = ?1", [id])?;
            Ok(run_sql(tx, "DELETE FROM plugins WHERE plugin_id = ?1", [id])? > 0)
        }
        Write::BindPlugin {
            binding: b,
            replaces,
        } => {
            let stage = b.stage_name.as_str();
            for old in replaces {
                run_sql(
                    tx,
                    "DELETE FROM plugin_bindings WHERE plugin_id = ?1 AND api_id = ?2 AND stage = ?3",
                    params![old, b.api_id, stage],
                )?;
            }
            run_sql(
                tx,
                "INSERT INTO plugin_bindings (plugin_id, api_id, stage, group_id, doc) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (plugin_id, api_id, stage) DO UPDATE SET group_id = ?4, doc = ?5",
                params![b.plugin_id, b.api_id, stage, b.group_id, to_doc(b)?],
            )?;
            Ok(true)
        }
        Write::UnbindPlugin {
            plugin_id,
            api_id,
            stage,
        } => Ok(run_sql(
            tx,
            "DELETE FROM plugin_bindings WHERE plugin_id = ?1 AND api_id = ?2 AND stage = ?3",
            params![plugin_id, api_id, stage.as_str()],
        )? > 0),
        Write::PutAccessKey(k) => {
            run_sql(
                tx,
                "INSERT INTO access_keys (access_key_id, doc) VALUES (?1, ?2)
                 ON CONFLICT (access_key_id) DO UPDATE SET doc = ?2",
                params![k.access_key_id, to_doc(&secrets.seal_doc(k))?],
            )?;
            Ok(true)
        }
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn to_doc<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_doc<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn query_docs<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let rows = stmt
        .query_map(args, |r| r.get::<_, String>(0))
        .map_err(db)?;
    rows.map(|r| from_doc(&r.map_err(db)?)).collect()
}

/// Like [`query_docs`] for documents with secret fields: opens them.
fn query_sealed<T: DeserializeOwned + SecretFields>(
    conn: &Connection,
    secrets: &SecretBox,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<T>> {
    let mut docs: Vec<T> = query_docs(conn, sql, args)?;
    for d in &mut docs {
        secrets.open_doc(d)?;
    }
    Ok(docs)
}

fn query_deployments(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Deployment>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let rows = stmt
        .query_map(args, |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))
        .map_err(db)?;
    rows.map(|r| {
        let (doc, online) = r.map_err(db)?;
        let mut d: Deployment = from_doc(&doc)?;
        d.online = online;
        Ok(d)
    })
    .collect()
}

/// The online deployments, in (API, stage) order, parsing only those not in `cache` (the
/// previous answer, in the same order), which then holds exactly the ones returned. The rows'
/// keys are compared in place, without copying them, by walking both lists in order.
fn online_deployments(conn: &Connection, cache: &DeploymentCache) -> Result<Vec<Arc<Deployment>>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT api_id, stage, version FROM deployments WHERE online = 1 ORDER BY api_id, stage",
        )
        .map_err(db)?;
    let mut rows = stmt.query([]).map_err(db)?;
    let mut guard = cache.lock().unwrap_or_else(|e| e.into_inner());
    let old = std::mem::take(&mut *guard);
    let mut old = old.into_iter().peekable();
    let mut out = Vec::with_capacity(old.len());
    while let Some(row) = rows.next().map_err(db)? {
        let text = |i| row.get_ref(i).and_then(|v| v.as_str().map_err(Into::into));
        let (api, stage, version) = (
            text(0).map_err(db)?,
            text(1).map_err(db)?,
            text(2).map_err(db)?,
        );
        // Skip cached deployments that sort before this row (no longer online).
        while old
            .peek()
            .is_some_and(|d| (d.api_id.as_str(), d.stage_name.as_str()) < (api, stage))
        {
            old.next();
        }
        let cached = old.next_if(|d| {
            d.api_id == api && d.stage_name.as_str() == stage && d.history_version == version
        });
        let d = match cached {
            Some(d) => d,
            None => {
                let doc: String = conn
                    .prepare_cached(
                        "SELECT doc FROM deployments WHERE api_id = ?1 AND stage = ?2 AND version = ?3",
                    )
                    .map_err(db)?
                    .query_row(params![api, stage, version], |r| r.get(0))
                    .map_err(db)?;
                let mut d: Deployment = from_doc(&doc)?;
                d.online = true;
                Arc::new(d)
            }
        };
        out.push(d);
    }
    *guard = out.clone();
    Ok(out)
}

fn read_generation(conn: &Connection) -> Result<u64> {
    conn.query_row("SELECT value FROM generation WHERE id = 1", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|v| v as u64)
    .map_err(db)
}

/// Opens the secret fields of documents read for [`read_live`], reusing what the previous
/// read opened (`last`) and recording what this one opened (`now`).
struct Opener<'a> {
    secrets: &'a SecretBox,
    last: HashMap<String, String>,
    now: HashMap<String, String>,
}

impl Opener<'_> {
    fn docs<T: DeserializeOwned + SecretFields>(
        &mut self,
        conn: &Connection,
        sql: &str,
    ) -> Result<Vec<T>> {
        let mut docs: Vec<T> = query_docs(conn, sql, [])?;
        for d in &mut docs {
            for field in d.secret_fields() {
                if !SecretBox::is_sealed(field) {
                    self.secrets.open_field(field)?;
                    continue;
                }
                let plain = match self.last.remove(field.as_str()) {
                    Some(p) => p,
                    None => self.secrets.open(field)?,
                };
                let sealed = std::mem::replace(field, plain.clone());
                self.now.insert(sealed, plain);
            }
        }
        Ok(docs)
    }
}

fn read_live(
    tx: &Transaction<'_>,
    cache: &DeploymentCache,
    secrets: &SecretBox,
    opened: &OpenedCache,
) -> Result<LiveConfig> {
    let mut guard = opened.lock().unwrap_or_else(|e| e.into_inner());
    let mut opener = Opener {
        secrets,
        now: HashMap::with_capacity(guard.len()),
        last: std::mem::take(&mut *guard),
    };
    let live = LiveConfig {
        generation: read_generation(tx)?,
        groups: query_docs(tx, "SELECT doc FROM groups ORDER BY group_id", [])?,
        domains: opener.docs(tx, "SELECT doc FROM domains ORDER BY domain_name")?,
        deployments: online_deployments(tx, cache)?,
        apps: opener.docs(tx, "SELECT doc FROM apps ORDER BY app_id")?,
        authorizations: query_docs(
            tx,
            "SELECT doc FROM authorizations ORDER BY app_id, api_id, stage",
            [],
        )?,
        plugins: opener.docs(tx, "SELECT doc FROM plugins ORDER BY plugin_id")?,
        plugin_bindings: query_docs(
            tx,
            "SELECT doc FROM plugin_bindings ORDER BY api_id, stage, plugin_id",
            [],
        )?,
    };
    *guard = opener.now;
    Ok(live)
}

fn read_latest_versions(tx: &Transaction<'_>) -> Result<Vec<(String, Stage, String)>> {
    let mut stmt = tx
        .prepare("SELECT api_id, stage, MAX(version) FROM deployments GROUP BY api_id, stage")
        .map_err(db)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(db)?;
    rows.map(|r| {
        let (api, stage, version) = r.map_err(db)?;
        let stage = stage.parse().map_err(StoreError::Corrupt)?;
        Ok((api, stage, version))
    })
    .collect()
}

#[async_trait]
impl Store for SqliteStore {
    async fn generation(&self) -> Result<u64> {
        self.run(|c| read_generation(c)).await
    }

    async fn load_live(&self) -> Result<LiveConfig> {
        let (cache, secrets, opened) = (
            self.online.clone(),
            self.secrets.clone(),
            self.opened.clone(),
        );
        self.run(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let live = read_live(&tx, &cache, &secrets, &opened)?;
            tx.commit().map_err(db)?;
            Ok(live)
        })
        .await
    }

    async fn load_all(&self) -> Result<StoredConfig> {
        let (cache, secrets, opened) = (
            self.online.clone(),
            self.secrets.clone(),
            self.opened.clone(),
        );
        self.run(move |conn| {
            let tx = conn.transaction().map_err(db)?;
            let all = StoredConfig {
                live: read_live(&tx, &cache, &secrets, &opened)?,
                apis: query_docs(&tx, "SELECT doc FROM apis ORDER BY group_id, api_id", [])?,
                latest_versions: read_latest_versions(&tx)?,
            };
            tx.commit().map_err(db)?;
            Ok(all)
        })
        .await
    }

    async fn commit(&self, batch: &[Write], if_generation: Option<u64>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write(batch.to_vec(), if_generation).await?;
        Ok(())
    }

    async fn put_group(&self, group: &Group) -> Result<()> {
        self.write_one(Write::PutGroup(group.clone())).await?;
        Ok(())
    }

    async fn get_group(&self, group_id: &str) -> Result<Option<Group>> {
        let id = group_id.to_string();
        self.run(move |c| {
            Ok(query_docs(c, "SELECT doc FROM groups WHERE group_id = ?1", [id])?.pop())
        })
        .await
    }

    async fn list_groups(&self) -> Result<Vec<Group>> {
        self.run(|c| query_docs(c, "SELECT doc FROM groups ORDER BY group_id", []))
            .await
    }

    async fn delete_group(&self, group_id: &str) -> Result<bool> {
        self.write_one(Write::DeleteGroup(group_id.to_string()))
            .await
    }

    async fn put_domain(&self, domain: &Domain) -> Result<()> {
        self.write_one(Write::PutDomain(domain.clone())).await?;
        Ok(())
    }

    async fn delete_domain(&self, domain_name: &str) -> Result<bool> {
        self.write_one(Write::DeleteDomain(domain_name.to_string()))
            .await
    }

    async fn list_domains(&self) -> Result<Vec<Domain>> {
        let secrets = self.secrets.clone();
        self.run(move |c| {
            query_sealed(
                c,
                &secrets,
                "SELECT doc FROM domains ORDER BY domain_name",
                [],
            )
        })
        .await
    }

    async fn put_api(&self, api: &ApiDefinition) -> Result<()> {
        self.write_one(Write::PutApi(api.clone())).await?;
        Ok(())
    }

    async fn get_api(&self, api_id: &str) -> Result<Option<ApiDefinition>> {
        let id = api_id.to_string();
        self.run(move |c| Ok(query_docs(c, "SELECT doc FROM apis WHERE api_id = ?1", [id])?.pop()))
            .await
    }

    async fn list_apis(&self, group_id: &str) -> Result<Vec<ApiDefinition>> {
        let id = group_id.to_string();
        self.run(move |c| {
            query_docs(
                c,
                "SELECT doc FROM apis WHERE group_id = ?1 ORDER BY api_id",
                [id],
            )
        })
        .await
    }

    async fn delete_api(&self, api_id: &str) -> Result<bool> {
        self.write_one(Write::DeleteApi(api_id.to_string())).await
    }

    async fn deploy(&self, deployment: &Deployment) -> Result<()> {
        self.write_one(Write::Deploy(deployment.clone())).await?;
        Ok(())
    }

    async fn abolish(&self, api_id: &str, stage: Stage) -> Result<bool> {
        self.write_one(Write::Abolish {
            api_id: api_id.to_string(),
            stage,
        })
        .await
    }

    async fn switch_version(&self, api_id: &str, stage: Stage, version: &str) -> Result<bool> {
        self.write_one(Write::SwitchVersion {
            api_id: api_id.to_string(),
            stage,
            version: version.to_string(),
        })
        .await
    }

    async fn history(&self, api_id: &str, stage: Option<Stage>) -> Result<Vec<Deployment>> {
        let id = api_id.to_string();
        self.run(move |c| match stage {
            Some(s) => query_deployments(
                c,
                "SELECT doc, online FROM deployments WHERE api_id = ?1 AND stage = ?2 ORDER BY version DESC",
                params![id, s.as_str()],
            ),
            None => query_deployments(
                c,
                "SELECT doc, online FROM deployments WHERE api_id = ?1 ORDER BY version DESC, stage",
                params![id],
            ),
        })
        .await
    }

    async fn latest_version(&self, api_id: &str, stage: Stage) -> Result<Option<String>> {
        let id = api_id.to_string();
        self.run(move |c| {
            c.query_row(
                "SELECT MAX(version) FROM deployments WHERE api_id = ?1 AND stage = ?2",
                params![id, stage.as_str()],
                |r| r.get::<_, Option<String>>(0),
            )
            .map_err(db)
        })
        .await
    }

    async fn put_app(&self, app: &App) -> Result<()> {
        self.write_one(Write::PutApp(app.clone())).await?;
        Ok(())
    }

    async fn get_app(&self, app_id: i64) -> Result<Option<App>> {
        let secrets = self.secrets.clone();
        self.run(move |c| {
            Ok(query_sealed(
                c,
                &secrets,
                "SELECT doc FROM apps WHERE app_id = ?1",
                [app_id],
            )?
            .pop())
        })
        .await
    }

    async fn list_apps(&self) -> Result<Vec<App>> {
        let secrets = self.secrets.clone();
        self.run(move |c| query_sealed(c, &secrets, "SELECT doc FROM apps ORDER BY app_id", []))
            .await
    }

    async fn delete_app(&self, app_id: i64) -> Result<bool> {
        self.write_one(Write::DeleteApp(app_id)).await
    }

    async fn put_authorization(&self, grant: &Authorization) -> Result<()> {
        self.write_one(Write::PutAuthorization(grant.clone()))
            .await?;
        Ok(())
    }

    async fn delete_authorization(&self, app_id: i64, api_id: &str, stage: Stage) -> Result<bool> {
        self.write_one(Write::DeleteAuthorization {
            app_id,
            api_id: api_id.to_string(),
            stage,
        })
        .await
    }

    async fn list_authorizations(&self) -> Result<Vec<Authorization>> {
        self.run(|c| {
            query_docs(
                c,
                "SELECT doc FROM authorizations ORDER BY app_id, api_id, stage",
                [],
            )
        })
        .await
    }

    async fn put_plugin(&self, plugin: &Plugin) -> Result<()> {
        self.write_one(Write::PutPlugin(plugin.clone())).await?;
        Ok(())
    }

    async fn list_plugins(&self) -> Result<Vec<Plugin>> {
        let secrets = self.secrets.clone();
        self.run(move |c| {
            query_sealed(
                c,
                &secrets,
                "SELECT doc FROM plugins ORDER BY plugin_id",
                [],
            )
        })
        .await
    }

    async fn delete_plugin(&self, plugin_id: &str) -> Result<bool> {
        self.write_one(Write::DeletePlugin(plugin_id.to_string()))
            .await
    }

    async fn bind_plugin(&self, binding: &PluginBinding, replaces: &[String]) -> Result<()> {
        self.write_one(Write::BindPlugin {
            binding: binding.clone(),
            replaces: replaces.to_vec(),
        })
        .await?;
        Ok(())
    }

    async fn unbind_plugin(&self, plugin_id: &str, api_id: &str, stage: Stage) -> Result<bool> {
        self.write_one(Write::UnbindPlugin {
            plugin_id: plugin_id.to_string(),
            api_id: api_id.to_string(),
            stage,
        })
        .await
    }

    async fn list_plugin_bindings(&self) -> Result<Vec<PluginBinding>> {
        self.run(|c| {
            query_docs(
                c,
                "SELECT doc FROM plugin_bindings ORDER BY api_id, stage, plugin_id",
                [],
            )
        })
        .await
    }

    async fn put_access_key(&self, key: &AccessKey) -> Result<()> {
        self.write_one(Write::PutAccessKey(key.clone())).await?;
        Ok(())
    }

    async fn list_access_keys(&self) -> Result<Vec<AccessKey>> {
        let secrets = self.secrets.clone();
        self.run(move |c| {
            query_sealed(
                c,
                &secrets,
                "SELECT doc FROM access_keys ORDER BY access_key_id",
                [],
            )
        })
        .await
    }
}
