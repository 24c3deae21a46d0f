//! apigw's data plane.
//!
//! listener → [`handler`] (parse limits → route on the current [`Snapshot`] → protocol →
//! authentication → backend or mock → response contract) → client.
//!
//! Architecture invariants:
//! - The request path never awaits the store and takes no lock: it reads the current
//!   [`Snapshot`] through one `ArcSwap` load; deploys swap a new one in atomically.
//! - Every response carries `X-Ca-Request-Id`; every gateway-made error carries
//!   `X-Ca-Error-Code`/`X-Ca-Error-Message` from the one table in `apigw_model::codes`.
//! - Each worker thread runs its own single-threaded runtime and backend connection pool
//!   (thread per core, like nginx workers); they share only the snapshot.
#![forbid(unsafe_code)]

pub mod access_log;
pub mod auth;
pub mod backend;
pub mod backend_sign;
pub mod body;
pub mod breaker;
pub mod cache;
pub mod canned;
pub mod compress;
pub mod cors;
pub mod grpc;
pub mod h1pool;
pub mod handler;
pub mod ipcontrol;
pub mod metrics;
pub mod minutes;
pub mod openid;
pub mod otlp;
pub mod params;
pub mod path_guard;
pub mod plugin_phase;
pub mod reject;
pub mod reload;
pub mod replay;
pub mod request_id;
pub mod request_metrics;
pub mod router;
pub mod server;
pub mod snapshot;
pub mod tls;
pub mod traffic;
pub mod websocket;

use arc_swap::ArcSwap;
use snapshot::Snapshot;
use std::sync::Arc;
use std::time::Duration;

/// Data-plane settings (the binary fills them from flags and environment).
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Default sub-domains are `<GroupId>.<base_domain>`.
    pub base_domain: String,
    /// Largest request body (`I413RL`).
    pub max_body_bytes: u64,
    /// Longest request target, path and query (`I413UL`).
    pub max_url_bytes: usize,
    /// Largest header section, names and values (`I400HD`).
    pub max_header_bytes: usize,
    /// Time a client has to send its request headers.
    pub header_read_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Worker threads (each with its own runtime); 0 = one per CPU.
    pub worker_threads: usize,
    /// Most nonces and `jti`s the in-memory replay guard remembers.
    pub replay_capacity: usize,
    /// Peers whose `X-Forwarded-For` an `ipControl` plugin with `resource: XFF:<i>` may read.
    pub trusted_proxies: Vec<ipcontrol::Block>,
    /// Requests per second this node serves in all (`T429IN` beyond); 0 = no cap.
    pub instance_qps: u64,
    /// Requests per day through a group's default sub-domain (`T429ID` beyond); 0 = no cap.
    pub default_domain_daily_quota: u64,
    /// Bytes the `caching` plugin may keep in memory, all APIs together.
    pub cache_capacity_bytes: usize,
    /// How long a new connection may stay without sending a byte before it is closed.
    pub first_byte_timeout: Duration,
    /// Open connections on this node beyond which new ones are closed at once; 0 = no cap.
    pub max_connections: usize,
    /// The longest a client may leave its request body without data while more is due
    /// (`I400BD`; the client's fault, never counted against the backend).
    pub client_body_timeout: Duration,
    /// The longest the gateway works on a request before calling its backend (`X504TO`).
    pub gateway_timeout: Duration,
    /// Requests in flight on this node beyond which new ones are shed (`X503BZ`); 0 = no
    /// limit. Each worker takes an equal share.
    pub max_in_flight: usize,
    /// Count each request in the per-API series of `/metrics` (`APIGW_METRICS`; on by
    /// default). Off, the request path skips that recording; the event counters stay.
    pub metrics: bool,
    /// Addresses no backend host name may resolve to (`D504IL`).
    pub backend_policy: Arc<apigw_model::backend_address::BackendPolicy>,
    /// Test builds only: a request to this path panics inside the pipeline (`X500ER`).
    pub panic_path: Option<String>,
}

impl GatewayConfig {
    /// The number of worker threads that will run.
    pub fn workers(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            base_domain: "apigw.localhost".into(),
            max_body_bytes: 8 * 1024 * 1024,
            max_url_bytes: 128 * 1024,
            max_header_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
            worker_threads: 0,
            replay_capacity: 1_000_000,
            trusted_proxies: Vec::new(),
            instance_qps: 0,
            default_domain_daily_quota: 1000,
            cache_capacity_bytes: 64 * 1024 * 1024,
            first_byte_timeout: Duration::from_secs(10),
            max_connections: 50_000,
            client_body_timeout: Duration::from_secs(10),
            gateway_timeout: Duration::from_secs(30),
            max_in_flight: 10_000,
            metrics: true,
            panic_path: None,
            backend_policy: Arc::default(),
        }
    }
}

/// State shared by all workers: settings and the live snapshot.
pub struct Shared {
    pub config: GatewayConfig,
    pub snapshot: ArcSwap<Snapshot>,
    /// Identifies this gateway process in `X-Ca-Via`, for loop detection.
    pub node_id: Box<str>,
    /// Nonces and `jti`s seen (anti-replay).
    pub replay: Arc<dyn replay::ReplayGuard>,
    /// Flow-control counters.
    pub counter: Arc<dyn traffic::Counter>,
    /// Where an opened circuit breaker is told to the other nodes.
    pub breaker_bus: Arc<dyn breaker::BreakerBus>,
    /// Responses kept by the `caching` plugin.
    pub cache: cache::ResponseCache,
    /// The node's metrics (`GET /metrics` on the admin listener); `connections_open` is also
    /// what `max_connections` is checked against.
    pub metrics: metrics::Metrics,
    /// The access log, once started ([`Shared::start_access_log`]); none: requests are not
    /// logged.
    pub access_log: std::sync::OnceLock<access_log::AccessLog>,
    /// Traces over OTLP, once started ([`Shared::start_tracing`]); none: no span is made.
    pub tracing: std::sync::OnceLock<otlp::Tracing>,
    /// The generation of the snapshot being served, for writers that wait until their change
    /// is live ([`Shared::live_generation`]).
    live: tokio::sync::watch::Sender<u64>,
    /// Set by the first [`Shared::publish`]: a configuration read from the store is served.
    loaded: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub fn new(config: GatewayConfig) -> Arc<Shared> {
        let replay = Arc::new(replay::MemoryReplayGuard::new(config.replay_capacity));
        Shared::with_state(
            config,
            replay,
            Arc::new(traffic::MemoryCounter::new()),
            Arc::new(breaker::NoBus),
        )
    }

    /// Like [`Shared::new`], with the replay guard, counters and breaker bus given (e.g.
    /// shared by a cluster through Redis).
    pub fn with_state(
        config: GatewayConfig,
        replay: Arc<dyn replay::ReplayGuard>,
        counter: Arc<dyn traffic::Counter>,
        breaker_bus: Arc<dyn breaker::BreakerBus>,
    ) -> Arc<Shared> {
        Arc::new_cyclic(|this| {
            let metrics = metrics::Metrics::default();
            // What is read from the live state at each scrape: the per-API series, breakers,
            // cache and replay sizes, the generation.
            metrics.register_collector(request_metrics::LiveCollector {
                shared: this.clone(),
            });
            Shared {
                replay,
                counter,
                breaker_bus,
                cache: cache::ResponseCache::new(config.cache_capacity_bytes),
                metrics,
                access_log: std::sync::OnceLock::new(),
                tracing: std::sync::OnceLock::new(),
                config,
                snapshot: ArcSwap::from_pointee(Snapshot::empty()),
                node_id: format!("{:016x}", fastrand::u64(..)).into(),
                live: tokio::sync::watch::Sender::new(0),
                loaded: std::sync::atomic::AtomicBool::new(false),
            }
        })
    }

    /// Follows the generation of the snapshot being served.
    pub fn live_generation(&self) -> tokio::sync::watch::Receiver<u64> {
        self.live.subscribe()
    }

    /// Serves `snapshot` from now on and tells the waiting writers.
    pub fn publish(&self, snapshot: Snapshot) {
        let generation = snapshot.generation;
        self.snapshot.store(Arc::new(snapshot));
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
        self.live.send_replace(generation);
    }

    /// Logs every request from now on, to `sink` (off the request path: see
    /// [`access_log`]). Once per process; a second call changes nothing.
    pub fn start_access_log(&self, sink: access_log::Sink) -> std::io::Result<()> {
        let log = access_log::AccessLog::start(sink, self.metrics.access_log_dropped.clone())?;
        let _ = self.access_log.set(log);
        Ok(())
    }

    /// Makes a span of every request from now on and exports them to the OTLP collector of
    /// `settings` (off the request path: see [`otlp`]). Once per process; a second call
    /// changes nothing.
    pub fn start_tracing(&self, settings: &otlp::Settings) -> Result<(), String> {
        let tracing = otlp::Tracing::start(settings, self.metrics.otlp.clone())?;
        let _ = self.tracing.set(tracing);
        Ok(())
    }

    /// Whether a configuration read from the store is served (until then the snapshot is the
    /// empty one [`Shared::with_state`] starts with).
    pub fn loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }
}
