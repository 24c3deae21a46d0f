//! The cluster store: every node of a cluster keeps its configuration in one PostgreSQL
//! database (`apigw serve --store postgres://…`).
//!
//! The same tables and documents as the embedded store (`migrations/postgres/`), the same SQL
//! for every read and write (`sql.rs`). What a cluster adds:
//! - **Writers are serialised by the database.** A write transaction starts by locking the
//!   generation row (`SELECT … FOR UPDATE`), so commits are applied one at a time and a
//!   conditional commit's `if_generation` check cannot pass on two nodes at once; and the
//!   control plane holds a session advisory lock ([`crate::Store::lock_writes`]) while it checks a
//!   change and writes it, so uniqueness checks (group names, paths, domains) hold across
//!   nodes, not only within one.
//! - **Changes are pushed.** A write sends `NOTIFY apigw_config, '<generation>'` in its
//!   transaction; every node LISTENs on a connection of its own ([`crate::Store::listen`]) and wakes
//!   its reloader at once; it connects and listens again after a failure, and the reloader's
//!   polling stays as the fallback.
//! - **Durable on return**: a write returns after COMMIT; a server whose `synchronous_commit`
//!   is `off` gets it turned on for apigw's write transactions.
//! - **Secrets at rest** are sealed as in the embedded store (the shared document layer,
//!   `sql.rs`): every node needs the same master keys. A node that connects with keys in which
//!   some stored secret is not (plain, or sealed with the previous key) reseals them at connect
//!   time, in one transaction that holds the writers' lock (the advisory lock and the
//!   generation row), so nodes starting together reseal once: the first does it, the others
//!   find nothing left to do. The database keeps no free-page copies a reader of its files
//!   could be handed (old row versions are vacuumed by PostgreSQL itself).
//!
//! Connections come from a small pool (deadpool-postgres over tokio-postgres). The URL is the
//! usual libpq one (`postgres://user:password@host:port/db?options`); the password is never
//! repeated in messages. Connections are not encrypted (`sslmode=require` is refused): run the
//! database on the nodes' private network or over loopback.

use crate::backend::Backend;
use crate::online::Merge;
use crate::secrets::{Resealed, SecretBox, Secrets};
use crate::sql::{self, Answer, Arg};
use crate::{migrate, Result, StoreError, StoredConfig, Write, WriteLock};
use apigw_model::Deployment;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, IsolationLevel, NoTls};

/// The migrations, oldest first: version `n` is `MIGRATIONS[n - 1]` (see `migrate.rs`).
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_initial.sql"),
    include_str!("../migrations/postgres/0002_api_minutes.sql"),
    include_str!("../migrations/postgres/0003_backends.sql"),
    include_str!("../migrations/postgres/0004_api_minute_details.sql"),
];

/// The channel writes notify and nodes listen on.
pub const CHANNEL: &str = "apigw_config";
/// Bumps the generation and notifies the new one on [`CHANNEL`].
const BUMP_AND_NOTIFY: &str =
    "WITH g AS (UPDATE generation SET value = value + 1 WHERE id = 1 RETURNING value)
     SELECT pg_notify('apigw_config', value::text) FROM g";
/// The advisory lock of the control plane's writers ([`crate::Store::lock_writes`]).
const WRITE_LOCK_KEY: i64 = 0x6170_6967_7701;
/// The advisory lock held while a schema is migrated.
const MIGRATE_LOCK_KEY: i64 = 0x6170_6967_7702;
/// Connections in a node's pool (the listener has one more of its own).
const POOL_SIZE: usize = 8;
/// Longest wait for the writers' lock before a write fails (a node holding it that long is
/// stuck; its connection's end releases it).
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// How often the listening connection is checked (a silent network failure is found then).
const LISTEN_PING: Duration = Duration::from_secs(10);

/// True when `s` names a PostgreSQL store (`postgres://` or `postgresql://`).
pub fn is_postgres_url(s: &str) -> bool {
    let s = s.trim_start().to_ascii_lowercase();
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// PostgreSQL-backed [`crate::Store`]. Cheap to clone.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    config: tokio_postgres::Config,
    /// Where the store is, for messages (never the password).
    location: Arc<str>,
    /// The online deployments of the last load (see `online.rs`); held during a load, so this
    /// node's loads run one at a time.
    online: Arc<tokio::sync::Mutex<Vec<Arc<Deployment>>>>,
    /// The server's `synchronous_commit` is `off`: write transactions turn it on.
    force_sync: bool,
    /// Seals the secret fields of what is written, opens those of what is read (`sql.rs`).
    secrets: Arc<Secrets>,
    /// What connecting did to the stored secrets.
    resealed: Resealed,
}

/// The error with its causes (tokio-postgres shows the cause, e.g. the server's message, only
/// there).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

fn pg(e: impl std::error::Error) -> StoreError {
    StoreError::Unavailable(chain(&e))
}

/// A pool's error: the database's own when there is one.
fn pool_error(e: deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => chain(&e),
        other => chain(&other),
    }
}

/// Statement parameters as tokio-postgres takes them.
fn params(args: &[Arg]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter()
        .map(|a| match a {
            Arg::Text(s) => s as &(dyn ToSql + Sync),
            Arg::Int(i) => i as &(dyn ToSql + Sync),
        })
        .collect()
}

/// `PostgreSQL database `db` on host:port`.
fn describe(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(dir) => format!("{}", dir.display()),
            }
        })
        .collect();
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    let on = if hosts.is_empty() {
        "localhost".to_string()
    } else {
        hosts.join(",")
    };
    format!("PostgreSQL database `{db}` on {on}")
}

impl PostgresStore {
    /// Connects without a master key: secrets are stored plain, and a database that holds
    /// sealed secrets is refused ([`StoreError::MasterKey`]). See
    /// [`PostgresStore::connect_with`].
    pub async fn connect(url: &str) -> Result<PostgresStore> {
        PostgresStore::connect_with(url, SecretBox::plaintext()).await
    }

    /// Connects to the database of `url` and brings its schema to this binary's version.
    /// Fails with a readable message (without the password) when the URL is not valid, the
    /// server cannot be reached or refuses the login, or the schema is newer than this binary.
    ///
    /// Secrets are sealed with `secrets`' current key, if any. Every stored secret not in that
    /// form is rewritten at once, in one transaction under the writers' lock (see the module
    /// documentation; [`PostgresStore::resealed`] says what this node did). A secret sealed
    /// with a key `secrets` does not hold refuses the store ([`StoreError::MasterKey`], naming
    /// the key id) and changes nothing.
    pub async fn connect_with(url: &str, secrets: SecretBox) -> Result<PostgresStore> {
        let mut config: tokio_postgres::Config = url.trim().parse().map_err(|e| {
            StoreError::Unavailable(format!(
                "the store URL is not a valid PostgreSQL URL: {}",
                chain(&e)
            ))
        })?;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(StoreError::Unavailable(
                "sslmode=require: this apigw connects to PostgreSQL without TLS; run the database on a private network or over loopback".into(),
            ));
        }
        if config.get_application_name().is_none() {
            config.application_name("apigw");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        // Dead peers are found within a minute or so, not the system's two hours.
        config.keepalives_idle(Duration::from_secs(30));
        let location: Arc<str> = describe(&config).into();
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(15)))
            .build()
            .map_err(pg)?;
        let unreachable =
            |e: String| StoreError::Unavailable(format!("cannot use the {location}: {e}"));
        let mut client = pool.get().await.map_err(|e| unreachable(pool_error(e)))?;
        migrate_schema(&mut client, MIGRATIONS)
            .await
            .map_err(|e| match e {
                StoreError::Unavailable(e) => unreachable(e),
                other => other,
            })?;
        let sync: String = client
            .query_one("SELECT current_setting('synchronous_commit')", &[])
            .await
            .map_err(|e| unreachable(chain(&e)))?
            .get(0);
        let force_sync = sync == "off";
        if force_sync {
            tracing::warn!(target: "apigw::config", "the {location} has synchronous_commit = off; apigw's writes turn it on so that each is durable when it returns");
        }
        let resealed = reseal(&mut client, &secrets, force_sync)
            .await
            .map_err(|e| match e {
                StoreError::Unavailable(e) => unreachable(e),
                other => other,
            })?;
        drop(client);
        Ok(PostgresStore {
            pool,
            config,
            location: location.clone(),
            online: Arc::default(),
            force_sync,
            secrets: Arc::new(Secrets::new(secrets)),
            resealed,
        })
    }

    /// What connecting rewrote (nothing when another node had done it).
    pub fn resealed(&self) -> Resealed {
        self.resealed
    }

    /// The id of the master key secrets are sealed with; `None`: they are stored plain.
    pub fn key_id(&self) -> Option<&str> {
        self.secrets.keys.key_id()
    }

    /// Where the store is, without credentials: "PostgreSQL database `db` on host:port".
    pub fn location(&self) -> &str {
        &self.location
    }

    async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot use the {}: {}",
                self.location,
                pool_error(e)
            ))
        })
    }

    /// Connects, LISTENs, wakes `wake` (changes may have been missed while not listening),
    /// then wakes it on every notification until the connection fails or `stop` turns true.
    async fn listen_once(&self, wake: &Notify, stop: &mut watch::Receiver<bool>) -> Result<()> {
        let (client, mut connection) = self.config.connect(NoTls).await.map_err(pg)?;
        // Drives the connection: notifications arrive here. Ends with the connection.
        let notifications = async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(_))) => wake.notify_one(),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return pg(e),
                    None => return StoreError::Unavailable("the connection closed".into()),
                }
            }
        };
        tokio::pin!(notifications);
        let work = async {
            client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await
                .map_err(pg)?;
            wake.notify_one();
            tracing::info!(target: "apigw::config", "listening for changes on the {}", self.location);
            loop {
                tokio::time::sleep(LISTEN_PING).await;
                match tokio::time::timeout(LISTEN_PING, client.batch_execute("")).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(pg(e)),
                    Err(_) => {
                        return Err(StoreError::Unavailable(format!(
                            "no answer within {LISTEN_PING:?}"
                        )))
                    }
                }
            }
        };
        tokio::select! {
            r = work => r,
            e = &mut notifications => Err(e),
            _ = stop.wait_for(|s| *s) => Ok(()),
        }
    }
}

/// Brings the schema to the newest version of `migrations`, in one transaction, under an
/// advisory lock so that nodes starting together migrate once.
async fn migrate_schema(client: &mut Object, migrations: &[&str]) -> Result<()> {
    let tx = client.transaction().await.map_err(pg)?;
    tx.batch_execute(&format!(
        "SET LOCAL client_min_messages TO warning;
         SELECT pg_advisory_xact_lock({MIGRATE_LOCK_KEY});
         CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);"
    ))
    .await
    .map_err(pg)?;
    let found: i64 = tx
        .query_opt("SELECT version FROM schema_version WHERE id = 1", &[])
        .await
        .map_err(pg)?
        .map_or(0, |r| i64::from(r.get::<_, i32>(0)));
    let pending = migrate::pending(found, migrations)?;
    if pending.is_empty() {
        return Ok(());
    }
    for sql in &migrations[pending.clone()] {
        tx.batch_execute(sql).await.map_err(pg)?;
    }
    tx.execute(
        "INSERT INTO schema_version (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = $1",
        &[&(pending.end as i32)],
    )
    .await
    .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    tracing::info!(target: "apigw::config", from = found, to = pending.end, "store schema upgraded");
    Ok(())
}

/// The rows of [`sql::RESEAL_DOCS`], read in `tx`.
async fn reseal_docs(tx: &tokio_postgres::Transaction<'_>) -> Result<[Vec<String>; 4]> {
    let mut out: [Vec<String>; 4] = Default::default();
    for (q, rows) in sql::RESEAL_DOCS.iter().zip(out.iter_mut()) {
        *rows = tx
            .query(*q, &[])
            .await
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect();
    }
    Ok(out)
}

/// Rewrites every stored secret that is not in the form `secrets` writes ([`sql::reseal`]).
///
/// A first look reads without locks: every value is opened then (an unknown key or an altered
/// value refuses the store), and when everything is in form already — the usual start —
/// nothing is locked or written. Otherwise the rewrite runs in one transaction that first
/// takes the writers' advisory lock (as [`crate::Store::lock_writes`] does, so it waits for a
/// control plane checking a change) and the generation row (as every write does), then reads
/// the documents again and rewrites what is still not in form: of two nodes starting at once,
/// the second finds the first one's work done. The generation is not bumped (no configuration
/// changed), so nodes are not made to reload.
async fn reseal(client: &mut Object, secrets: &SecretBox, force_sync: bool) -> Result<Resealed> {
    let tx = read_snapshot(client).await?;
    let (steps, done) = sql::reseal(reseal_docs(&tx).await?, secrets)?;
    tx.commit().await.map_err(pg)?;
    if steps.is_empty() {
        return Ok(done);
    }
    let tx = client.transaction().await.map_err(pg)?;
    if force_sync {
        tx.batch_execute("SET LOCAL synchronous_commit TO on")
            .await
            .map_err(pg)?;
    }
    // Waits at most LOCK_WAIT for the writers' lock (a node holding it that long is stuck).
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout TO '{}s';
         SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY});
         SELECT value FROM generation WHERE id = 1 FOR UPDATE;",
        LOCK_WAIT.as_secs()
    ))
    .await
    .map_err(pg)?;
    // Read again under the lock (read committed: what the nodes before committed).
    let (steps, done) = sql::reseal(reseal_docs(&tx).await?, secrets)?;
    for step in &steps {
        tx.execute(step.sql, &params(&step.args))
            .await
            .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)?;
    Ok(done)
}

/// A read-only transaction that sees one consistent state of the store.
async fn read_snapshot(client: &mut Object) -> Result<deadpool_postgres::Transaction<'_>> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(pg)
}

/// The writers' advisory lock, held on a pooled connection; released when dropped.
struct AdvisoryLock(Option<Object>);

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        let Some(client) = self.0.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let unlock = format!("SELECT pg_advisory_unlock({WRITE_LOCK_KEY})");
                    if client.batch_execute(&unlock).await.is_err() {
                        // Closing the connection releases the lock.
                        drop(Object::take(client));
                    }
                });
            }
            Err(_) => drop(Object::take(client)),
        }
    }
}

#[async_trait]
impl Backend for PostgresStore {
    async fn generation(&self) -> Result<u64> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql::GENERATION).await.map_err(pg)?;
        let row = client.query_one(&stmt, &[]).await.map_err(pg)?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn secrets(&self) -> &SecretBox {
        &self.secrets.keys
    }

    async fn load(&self, all: bool) -> Result<StoredConfig> {
        let mut cache = self.online.lock().await;
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        let docs = |q: &'static str| {
            let tx = &tx;
            async move {
                let stmt = tx.prepare_cached(q).await.map_err(pg)?;
                let rows = tx.query(&stmt, &[]).await.map_err(pg)?;
                Ok::<_, StoreError>(rows.iter().map(|r| r.get::<_, String>(0)).collect())
            }
        };
        let [q0, q1, q2, q3, q4, q5, q6, q7, q8] = sql::LIVE_DOCS;
        // Sent together (tokio-postgres pipelines the queries of one connection).
        let (generation, keys, d0, d1, d2, d3, d4, d5, d6, d7, d8) = tokio::try_join!(
            async {
                let stmt = tx.prepare_cached(sql::GENERATION).await.map_err(pg)?;
                let row = tx.query_one(&stmt, &[]).await.map_err(pg)?;
                Ok::<_, StoreError>(row.get::<_, i64>(0) as u64)
            },
            async {
                let stmt = tx.prepare_cached(sql::ONLINE_KEYS).await.map_err(pg)?;
                tx.query(&stmt, &[]).await.map_err(pg)
            },
            docs(q0),
            docs(q1),
            docs(q2),
            docs(q3),
            docs(q4),
            docs(q5),
            docs(q6),
            docs(q7),
            docs(q8),
        )?;
        let mut merge = Merge::new(std::mem::take(&mut *cache));
        for row in &keys {
            merge.row(row.get(0), row.get(1), row.get(2));
        }
        let fetched = if merge.missing().is_empty() {
            Vec::new()
        } else {
            let column = |i: usize| -> Vec<&str> {
                merge
                    .missing()
                    .iter()
                    .map(|k| [k.0.as_str(), k.1.as_str(), k.2.as_str()][i])
                    .collect()
            };
            let (apis, stages, versions) = (column(0), column(1), column(2));
            let stmt = tx
                .prepare_cached(
                    "SELECT d.doc FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(api_id, stage, version, n)
                     JOIN deployments d ON d.api_id = k.api_id COLLATE \"C\" AND d.stage = k.stage COLLATE \"C\"
                                       AND d.version = k.version COLLATE \"C\"
                     ORDER BY k.n",
                )
                .await
                .map_err(pg)?;
            tx.query(&stmt, &[&apis, &stages, &versions])
                .await
                .map_err(pg)?
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect()
        };
        let deployments = merge.finish(fetched)?;
        let live = sql::live(
            generation,
            [d0, d1, d2, d3, d4, d5, d6, d7, d8],
            deployments.clone(),
            &self.secrets,
        )?;
        let out = if all {
            let (apis, latest) = tokio::try_join!(docs(sql::ALL_APIS), async {
                let stmt = tx.prepare_cached(sql::LATEST_VERSIONS).await.map_err(pg)?;
                let rows = tx.query(&stmt, &[]).await.map_err(pg)?;
                Ok::<_, StoreError>(
                    rows.iter()
                        .map(|r| (r.get(0), r.get(1), r.get(2)))
                        .collect::<Vec<_>>(),
                )
            })?;
            StoredConfig {
                live,
                apis: sql::from_docs(&apis)?,
                latest_versions: sql::latest_versions(latest)?,
            }
        } else {
            StoredConfig {
                live,
                ..StoredConfig::default()
            }
        };
        tx.commit().await.map_err(pg)?;
        *cache = deployments;
        Ok(out)
    }

    async fn write(&self, batch: Vec<Write>, if_generation: Option<u64>) -> Result<Vec<bool>> {
        let plans = sql::plans(&batch, &self.secrets.keys)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        if self.force_sync {
            tx.batch_execute("SET LOCAL synchronous_commit TO on")
                .await
                .map_err(pg)?;
        }
        // Writers queue here, one transaction at a time.
        let now: i64 = tx
            .query_one("SELECT value FROM generation WHERE id = 1 FOR UPDATE", &[])
            .await
            .map_err(pg)?
            .get(0);
        if let Some(expected) = if_generation {
            if now as u64 != expected {
                return Err(StoreError::Conflict(format!(
                    "generation {now}, expected {expected}"
                )));
            }
        }
        let mut out = Vec::with_capacity(plans.len());
        for (steps, answer) in &plans {
            let mut last = 0;
            for step in steps {
                let stmt = tx.prepare_cached(step.sql).await.map_err(pg)?;
                last = tx.execute(&stmt, &params(&step.args)).await.map_err(pg)?;
            }
            out.push(*answer == Answer::Done || last > 0);
        }
        // One statement bumps the generation and queues the notification, sent on COMMIT.
        let bump = tx.prepare_cached(BUMP_AND_NOTIFY).await.map_err(pg)?;
        tx.execute(&bump, &[]).await.map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(out)
    }

    async fn docs(&self, sql: &'static str, args: Vec<Arg>) -> Result<Vec<String>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg)?;
        let rows = client.query(&stmt, &params(&args)).await.map_err(pg)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn deployments(&self, sql: &'static str, args: Vec<Arg>) -> Result<Vec<(String, bool)>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg)?;
        let rows = client.query(&stmt, &params(&args)).await.map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i32>(1) != 0))
            .collect())
    }

    async fn execute(&self, steps: Vec<sql::Step>) -> Result<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let mut changed = 0;
        for step in &steps {
            let stmt = tx.prepare_cached(step.sql).await.map_err(pg)?;
            changed += tx.execute(&stmt, &params(&step.args)).await.map_err(pg)?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(changed)
    }

    async fn int_rows(
        &self,
        sql: &'static str,
        args: Vec<Arg>,
        columns: usize,
    ) -> Result<Vec<Vec<i64>>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg)?;
        let rows = client.query(&stmt, &params(&args)).await.map_err(pg)?;
        rows.iter()
            .map(|r| {
                (0..columns)
                    .map(|i| r.try_get::<_, i64>(i).map_err(pg))
                    .collect()
            })
            .collect()
    }

    async fn text(&self, sql: &'static str, args: Vec<Arg>) -> Result<Option<String>> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg)?;
        let row = client.query_opt(&stmt, &params(&args)).await.map_err(pg)?;
        Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
    }

    async fn lock_writes(&self) -> Result<WriteLock> {
        let client = self.client().await?;
        let lock = format!("SELECT pg_advisory_lock({WRITE_LOCK_KEY})");
        match tokio::time::timeout(LOCK_WAIT, client.batch_execute(&lock)).await {
            Ok(Ok(())) => Ok(WriteLock::holding(AdvisoryLock(Some(client)))),
            Ok(Err(e)) => Err(pg(e)),
            Err(_) => {
                // The request may still be granted later: close that connection.
                drop(Object::take(client));
                Err(StoreError::Unavailable(format!(
                    "another node has held the configuration write lock for {LOCK_WAIT:?}"
                )))
            }
        }
    }

    async fn listen(&self, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        let mut failing = false;
        let mut backoff = Duration::from_millis(100);
        while !*stop.borrow() {
            let started = std::time::Instant::now();
            match self.listen_once(&wake, &mut stop).await {
                Ok(()) => return,
                Err(e) => {
                    if started.elapsed() > LISTEN_PING {
                        // It had been listening: a new failure, retried at once.
                        failing = false;
                        backoff = Duration::from_millis(100);
                    }
                    if !failing {
                        tracing::warn!(target: "apigw::config", "not listening for changes on the {} ({e}); retrying, the reloader polls meanwhile", self.location);
                        failing = true;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            }
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.location)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestDatabase;

    async fn version(store: &PostgresStore) -> i32 {
        let client = store.client().await.unwrap();
        client
            .query_one("SELECT version FROM schema_version", &[])
            .await
            .unwrap()
            .get(0)
    }

    /// A database at the binary's version gets a later migration once, in order; a failing
    /// one changes nothing; the binary that knows one version less then refuses the database.
    #[tokio::test]
    async fn later_migrations_run_once_and_a_failing_one_changes_nothing() {
        let db = TestDatabase::create();
        let store = PostgresStore::connect(db.url()).await.unwrap();
        let known = MIGRATIONS.len() as i32;
        assert_eq!(version(&store).await, known);
        let mut client = store.client().await.unwrap();
        let mut bad = MIGRATIONS.to_vec();
        bad.push("CREATE TABLE extra (x TEXT); SELECT * FROM no_such_table;");
        assert!(migrate_schema(&mut client, &bad).await.is_err());
        assert_eq!(version(&store).await, known);
        let mut two = MIGRATIONS.to_vec();
        two.push("ALTER TABLE groups ADD COLUMN note TEXT NOT NULL DEFAULT 'two'");
        migrate_schema(&mut client, &two).await.unwrap();
        migrate_schema(&mut client, &two).await.unwrap();
        assert_eq!(version(&store).await, known + 1);
        let extra = client
            .query("SELECT 1 FROM pg_tables WHERE tablename = 'extra'", &[])
            .await
            .unwrap();
        assert!(extra.is_empty());
        drop(client);
        let err = PostgresStore::connect(db.url()).await.unwrap_err();
        let (found, supported) = (i64::from(known) + 1, i64::from(known));
        assert!(
            matches!(err, StoreError::SchemaTooNew { found: f, supported: s } if f == found && s == supported)
        );
    }
}
