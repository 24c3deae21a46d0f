//! Shared runtime state in Redis, for a cluster of gateway nodes (`APIGW_REDIS_URL`): the
//! replay guard (nonces and JWT `jti`s) and the flow-control counters are one for all nodes,
//! so a nonce used on one node is refused on every other and a limit of 100 admits exactly 100
//! across the cluster.
//!
//! - Nonces: `SET <prefix>n:<sha256(scope, value)> 1 NX PX <ttl>`, one round trip; the keys
//!   expire with their window, so Redis memory is bounded by the traffic of one window.
//! - Counters: one Lua script per limit checked (read, compare, increment, expire at the end
//!   of the window), one round trip, exact under any concurrency.
//! - Circuit breakers: a node whose breaker opens publishes it on `<prefix>breakers`; every
//!   other node opens its breaker of that API for the same time (failures are counted per
//!   node, half-open probes are per node; no round trip on the request path).
//! - Nodes: each node refreshes `<prefix>node:<id>` every [`HEARTBEAT`] (expiring after three)
//!   and counts the others, for the fallback below.
//!
//! Commands go through multiplexed connections (pipelined, reconnecting by themselves), each
//! command bounded by a timeout: the request path uses one connection per worker thread,
//! driven on that worker's own runtime, so a reply wakes no other thread; the heartbeat and the
//! breaker messages use the node's shared one (and so do the first requests of a worker,
//! while its own connection is being made). Faults: when Redis does not answer, nonces fail closed
//! ([`Seen::Unavailable`], `X503NS`) and flow control falls back to a per-node limit (the
//! limit divided by the nodes last counted, at least 1), with a log line when it starts and
//! when Redis is back; nothing needs a restart.

use apigw_gateway::breaker::BreakerBus;
use apigw_gateway::replay::{ReplayGuard, Seen};
use apigw_gateway::traffic::{Counter, CounterKey, Dimension, MemoryCounter, Unit};
use apigw_gateway::Shared;
use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often a node says it is alive (and counts the others).
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// Where and how to reach Redis.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `redis://[user:pass@]host:port[/db]`.
    pub url: String,
    /// Prepended to every key (`APIGW_REDIS_PREFIX`, default `apigw:`), so several gateways
    /// (or tests) can share one Redis.
    pub prefix: String,
    /// This node's id (the one in `X-Ca-Via`).
    pub node_id: String,
    /// The most a command may take before the node treats Redis as unavailable.
    pub timeout: Duration,
}

/// The counting script: KEYS[1] the window's counter, ARGV[1] the limit, ARGV[2] the
/// counter's time to live (ms). Returns 1 when counted (within the limit), 0 when not.
const ACQUIRE: &str = r"
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
if c == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
";

/// Tells the [`RedisState`]s of one process apart (for the per-thread connections).
static NEXT_STATE: AtomicU64 = AtomicU64::new(0);

/// A worker thread's own connection of a state.
enum Local {
    Connecting,
    Ready(ConnectionManager),
}

thread_local! {
    /// This thread's connections, by state id: made on the worker's runtime, so the tasks that
    /// drive them run on this thread (they live as long as the thread).
    static LOCAL: RefCell<HashMap<u64, Local>> = RefCell::new(HashMap::new());
}

/// Replay guard and counters shared through Redis (see the module docs).
pub struct RedisState {
    id: u64,
    settings: Settings,
    client: redis::Client,
    conn: ArcSwapOption<ConnectionManager>,
    acquire: redis::Script,
    /// Nodes alive at the last heartbeat (at least 1: this one).
    nodes: AtomicU64,
    /// Counts on this node alone while Redis does not answer.
    fallback: MemoryCounter,
    /// Redis did not answer the last command (for the log lines on each change).
    degraded: AtomicBool,
    /// Why the last attempt to make the node's connection failed (for [`RedisState::ping`]).
    connect_error: std::sync::Mutex<Option<String>>,
}

impl RedisState {
    /// Checks the URL, then connects in the background: the node serves at once (with the
    /// fault behaviour until Redis answers) and keeps its heartbeat from then on.
    pub fn start(settings: Settings) -> Result<Arc<RedisState>, String> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| format!("APIGW_REDIS_URL `{}`: {e}", redacted(&settings.url)))?;
        let state = Arc::new(RedisState {
            id: NEXT_STATE.fetch_add(1, Ordering::Relaxed),
            settings,
            client: client.clone(),
            conn: ArcSwapOption::empty(),
            acquire: redis::Script::new(ACQUIRE),
            nodes: AtomicU64::new(1),
            fallback: MemoryCounter::new(),
            degraded: AtomicBool::new(false),
            connect_error: std::sync::Mutex::new(None),
        });
        tokio::spawn(keep_alive(Arc::downgrade(&state), client));
        Ok(state)
    }

    /// Waits (up to `within`) for the first connection; false if there is none yet.
    pub async fn connected(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.conn.load().is_some() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.conn.load().is_some()
    }

    /// Whether Redis answers now: one `PING` on the node's connection within `within`. The
    /// error says why not, without the URL's password (for a readiness check).
    pub async fn ping(&self, within: Duration) -> Result<(), String> {
        let Some(conn) = self.conn.load_full() else {
            let why = self
                .connect_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_else(|| "connecting".into());
            return Err(format!(
                "not connected to {}: {}",
                redacted(&self.settings.url),
                self.scrub(&why)
            ));
        };
        let mut c = (*conn).clone();
        match tokio::time::timeout(within, redis::cmd("PING").query_async::<String>(&mut c)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!(
                "{}: {}",
                redacted(&self.settings.url),
                self.scrub(&e.to_string())
            )),
            Err(_) => Err(format!(
                "{}: no answer within {} ms",
                redacted(&self.settings.url),
                within.as_millis()
            )),
        }
    }

    /// `text` with the URL's password (if any) hidden.
    fn scrub(&self, text: &str) -> String {
        match password(&self.settings.url) {
            Some(p) if !p.is_empty() => text.replace(p, "***"),
            _ => text.to_string(),
        }
    }

    /// Opens this node's breakers when another node's open (see the module docs), for as
    /// long as `shared` lives; resubscribes after a lost connection.
    pub fn follow_breakers(self: &Arc<Self>, shared: Arc<Shared>) {
        let state = Arc::downgrade(self);
        let shared = Arc::downgrade(&shared);
        tokio::spawn(async move {
            loop {
                let Some(s) = state.upgrade() else { return };
                let channel = s.key("breakers");
                let me = s.settings.node_id.clone();
                let client = s.client.clone();
                drop(s);
                if let Ok(mut pubsub) = client.get_async_pubsub().await {
                    if pubsub.subscribe(&channel).await.is_ok() {
                        let mut messages = pubsub.on_message();
                        while let Some(m) = messages.next().await {
                            let Some(shared) = shared.upgrade() else {
                                return;
                            };
                            let payload: String = m.get_payload().unwrap_or_default();
                            open_from(&shared, &me, &payload);
                        }
                    }
                }
                tokio::time::sleep(HEARTBEAT).await;
            }
        });
    }

    /// Nodes alive at the last heartbeat.
    pub fn nodes(&self) -> u64 {
        self.nodes.load(Ordering::Relaxed)
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.settings.prefix)
    }

    fn connection_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(self.settings.timeout)
            .set_response_timeout(self.settings.timeout)
            .set_number_of_retries(1)
    }

    /// The calling worker thread's own connection, once made. On a worker (a current-thread
    /// runtime) without one yet, starts making it there and answers `None` meanwhile; never
    /// before the node's shared connection exists (Redis answered once).
    fn thread_connection(&self) -> Option<ConnectionManager> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        if runtime.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread {
            return None;
        }
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            match local.get(&self.id) {
                Some(Local::Ready(c)) => return Some(c.clone()),
                Some(Local::Connecting) => return None,
                None if self.conn.load().is_none() => return None,
                None => {}
            }
            local.insert(self.id, Local::Connecting);
            let (id, client, config) = (self.id, self.client.clone(), self.connection_config());
            runtime.spawn(async move {
                let made = ConnectionManager::new_with_config(client, config).await;
                LOCAL.with(|local| {
                    let mut local = local.borrow_mut();
                    match made {
                        Ok(c) => local.insert(id, Local::Ready(c)),
                        Err(_) => local.remove(&id),
                    }
                });
            });
            None
        })
    }

    /// Runs one command or script within the timeout, on this worker's connection or the
    /// node's; `None` when Redis did not answer.
    async fn run<T, F, Fut>(&self, what: &'static str, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = match self.thread_connection() {
            Some(c) => c,
            None => match self.conn.load_full() {
                Some(c) => (*c).clone(),
                None => {
                    self.note(what, "not connected");
                    return None;
                }
            },
        };
        match tokio::time::timeout(self.settings.timeout, call(conn)).await {
            Ok(Ok(v)) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("redis answers again: shared nonces and counters resumed");
                }
                Some(v)
            }
            Ok(Err(e)) => {
                self.note(what, &e.to_string());
                None
            }
            Err(_) => {
                self.note(what, "timed out");
                None
            }
        }
    }

    /// Logs the first failure of a run of them.
    fn note(&self, what: &str, why: &str) {
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "redis unavailable ({what}: {why}): nonces are refused (X503NS) and flow control counts per node (limit / {} nodes) until it answers",
                self.nodes()
            );
        }
    }

    async fn heartbeat(&self) {
        let me = self.key(&format!("node:{}", self.settings.node_id));
        let ttl = (HEARTBEAT * 3).as_millis() as u64;
        let pattern = self.key("node:*");
        let counted = self
            .run("heartbeat", |mut c| async move {
                redis::cmd("SET")
                    .arg(&me)
                    .arg(1)
                    .arg("PX")
                    .arg(ttl)
                    .query_async::<()>(&mut c)
                    .await?;
                let mut cursor = 0u64;
                let mut nodes = 0u64;
                loop {
                    let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut c)
                        .await?;
                    nodes += keys.len() as u64;
                    if next == 0 {
                        return Ok(nodes);
                    }
                    cursor = next;
                }
            })
            .await;
        if let Some(n) = counted {
            self.nodes.store(n.max(1), Ordering::Relaxed);
        }
    }
}

/// Connects (retrying), then beats until the state is dropped.
async fn keep_alive(state: std::sync::Weak<RedisState>, client: redis::Client) {
    loop {
        let Some(s) = state.upgrade() else { return };
        if s.conn.load().is_none() {
            match ConnectionManager::new_with_config(client.clone(), s.connection_config()).await {
                Ok(conn) => {
                    s.conn.store(Some(Arc::new(conn)));
                    *s.connect_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    tracing::info!("redis connected: nonces and counters are shared");
                }
                Err(e) => {
                    let why = e.to_string();
                    s.note("connect", &why);
                    *s.connect_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                }
            }
        }
        if s.conn.load().is_some() {
            s.heartbeat().await;
        }
        drop(s);
        tokio::time::sleep(HEARTBEAT).await;
    }
}

/// Applies `<node> <scope> <open ms>` from another node: opens the breaker of that API here.
fn open_from(shared: &Shared, me: &str, payload: &str) {
    let mut parts = payload.splitn(3, ' ');
    let (Some(node), Some(scope), Some(ms)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let Ok(ms) = ms.parse::<u64>() else { return };
    if node == me {
        return;
    }
    if let Some(breaker) = shared.snapshot.load().breaker(scope) {
        breaker.open_until(std::time::Instant::now() + Duration::from_millis(ms));
        tracing::info!("circuit breaker of {scope} opened by node {node} for {ms} ms");
    }
}

impl BreakerBus for RedisState {
    fn opened(&self, scope: &str, open_for: Duration) {
        let Some(conn) = self.conn.load_full() else {
            return;
        };
        let channel = self.key("breakers");
        let message = format!("{} {scope} {}", self.settings.node_id, open_for.as_millis());
        let timeout = self.settings.timeout;
        tokio::spawn(async move {
            let mut c = (*conn).clone();
            let mut publish = redis::cmd("PUBLISH");
            publish.arg(channel).arg(message);
            let _ = tokio::time::timeout(timeout, publish.query_async::<i64>(&mut c)).await;
        });
    }
}

/// A URL with its password hidden, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// The password of a `redis://user:password@host` URL.
fn password(url: &str) -> Option<&str> {
    let (scheme, at) = (url.find("://")?, url.rfind('@')?);
    let userinfo = url.get(scheme + 3..at)?;
    userinfo.split_once(':').map(|(_, p)| p)
}

fn digest(scope: &str, value: &str) -> String {
    let mut h = Sha256::new();
    h.update(scope.as_bytes());
    h.update([0]);
    h.update(value.as_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for b in &h.finalize()[..16] {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

#[async_trait]
impl ReplayGuard for RedisState {
    async fn check(&self, scope: &str, value: &str, ttl: Duration) -> Seen {
        let key = format!("{}n:{}", self.settings.prefix, digest(scope, value));
        let ttl = ttl.as_millis().max(1) as u64;
        let set = self
            .run("nonce", |mut c| async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl)
                    .query_async::<Option<String>>(&mut c)
                    .await
            })
            .await;
        match set {
            Some(Some(_)) => Seen::First,
            Some(None) => Seen::Again,
            None => Seen::Unavailable,
        }
    }
}

fn dimension(d: Dimension) -> &'static str {
    match d {
        Dimension::Api => "api",
        Dimension::User => "user",
        Dimension::App => "app",
        Dimension::Group => "group",
        Dimension::Instance => "instance",
        Dimension::DefaultDomain => "domain",
    }
}

#[async_trait]
impl Counter for RedisState {
    async fn acquire(&self, key: &CounterKey, limit: u64, unit: Unit, now_ms: i64) -> bool {
        let window = unit.millis();
        let index = now_ms.div_euclid(window);
        let name = format!(
            "{}c:{}:{}:{}:{}:{index}",
            self.settings.prefix,
            key.scope,
            dimension(key.dimension),
            key.id,
            window
        );
        // The counter outlives its window a little, for clocks that disagree.
        let ttl = (index + 1) * window - now_ms + 5_000;
        let script = &self.acquire;
        let counted = self
            .run("counter", |mut c| async move {
                script
                    .key(&name)
                    .arg(limit)
                    .arg(ttl)
                    .invoke_async::<i64>(&mut c)
                    .await
            })
            .await;
        match counted {
            Some(n) => n == 1,
            None => {
                let share = (limit / self.nodes()).max(1);
                self.fallback.acquire(key, share, unit, now_ms).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_in_messages() {
        assert_eq!(
            redacted("redis://u:secret@h:6379/0"),
            "redis://***@h:6379/0"
        );
        assert_eq!(redacted("redis://h:6379"), "redis://h:6379");
        assert_eq!(password("redis://u:secret@h:6379/0"), Some("secret"));
        assert_eq!(password("redis://:secret@h"), Some("secret"));
        assert_eq!(password("redis://u@h"), None);
        assert_eq!(password("redis://h:6379"), None);
    }

    #[test]
    fn nonce_keys_do_not_depend_on_where_the_scope_ends() {
        assert_ne!(digest("ab", "c"), digest("a", "bc"));
        assert_eq!(digest("a", "b").len(), 32);
    }
}
