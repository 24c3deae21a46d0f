//! `apigw serve`.

use crate::{admin, demo, DataDir};
use apigw_control::Control;
use apigw_gateway::server::{bind, Server};
use apigw_gateway::{reload, GatewayConfig, Shared};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Hard ceiling for the body limit (CloudAPI dedicated instances allow 32 MB).
const MAX_BODY_CEILING: u64 = 32 * 1024 * 1024;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// A YAML file of these settings by their long names (`listen: 0.0.0.0:8080`); options
    /// and environment variables win over it (docs/configuration.md, "Node settings file").
    #[arg(long, env = "APIGW_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    #[command(flatten)]
    data: DataDir,
    /// Data plane (HTTP) address.
    #[arg(long, env = "APIGW_LISTEN", default_value = "0.0.0.0:8080")]
    listen: String,
    /// Data plane (HTTPS) address, or `off`.
    #[arg(long, env = "APIGW_TLS_LISTEN", default_value = "0.0.0.0:8443")]
    tls_listen: String,
    /// Admin address (health now; the management OpenAPI at `/`).
    #[arg(long, env = "APIGW_ADMIN_LISTEN", default_value = "127.0.0.1:9080")]
    admin_listen: String,
    /// Default sub-domains are `<GroupId>.<base domain>`; the default resolves to loopback.
    #[arg(long, env = "APIGW_BASE_DOMAIN", default_value = "apigw.localhost")]
    base_domain: String,
    /// Data plane worker threads (0 = one per CPU).
    #[arg(long, env = "APIGW_WORKER_THREADS", default_value_t = 0)]
    worker_threads: usize,
    /// Access log: `stdout` (one JSON line per request) or `off`.
    #[arg(long, env = "APIGW_ACCESS_LOG", default_value = "stdout", value_parser = ["stdout", "off"])]
    access_log: String,
    /// Write the access log to this file instead of stdout (rotated by size); `--access-log
    /// off` still turns it off.
    #[arg(long, env = "APIGW_ACCESS_LOG_FILE")]
    access_log_file: Option<std::path::PathBuf>,
    /// Size in bytes past which the access-log file is rotated (`<file>` → `<file>.1`).
    #[arg(long, env = "APIGW_ACCESS_LOG_MAX_BYTES", default_value_t = 100 * 1024 * 1024)]
    access_log_max_bytes: u64,
    /// Rotated access-log files kept (`<file>.1` … `<file>.N`; 0: none).
    #[arg(long, env = "APIGW_ACCESS_LOG_KEEP", default_value_t = 5)]
    access_log_keep: usize,
    /// Log filter for everything else (tracing `EnvFilter` syntax).
    #[arg(long, env = "APIGW_LOG", default_value = "info")]
    log: String,
    /// Largest request body in bytes (`I413RL`), at most 32 MiB.
    #[arg(long, env = "APIGW_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    max_body_bytes: u64,
    /// Longest request target in bytes (`I413UL`).
    #[arg(long, env = "APIGW_MAX_URL_BYTES", default_value_t = 128 * 1024)]
    max_url_bytes: usize,
    /// Largest header section in bytes (`I400HD`).
    #[arg(long, env = "APIGW_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    max_header_bytes: usize,
    /// Seconds shutdown waits for in-flight requests.
    #[arg(long, env = "APIGW_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    shutdown_timeout: u64,
    /// How often (ms) the store is checked for changes made by other processes (default 100;
    /// 1000 with a PostgreSQL store, whose changes are pushed to every node at once).
    #[arg(long, env = "APIGW_RELOAD_POLL_MS")]
    reload_poll_ms: Option<u64>,
    /// Peers allowed to set the client IP through `X-Forwarded-For` for `ipControl` plugins with
    /// `resource: XFF:<index>` (comma-separated IPs or CIDR blocks; none by default).
    #[arg(long, env = "APIGW_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,
    /// Most nonces and JWT `jti`s remembered for anti-replay (memory stays bounded).
    #[arg(long, env = "APIGW_REPLAY_CAPACITY", default_value_t = 1_000_000)]
    replay_capacity: usize,
    /// Requests per second this node serves in all (429 `T429IN` beyond); 0 = no cap.
    #[arg(long, env = "APIGW_INSTANCE_QPS", default_value_t = 0)]
    instance_qps: u64,
    /// Requests per day through each group's default sub-domain (429 `T429ID`); 0 = no cap.
    #[arg(long, env = "APIGW_DEFAULT_DOMAIN_DAILY_QUOTA", default_value_t = 1000)]
    default_domain_daily_quota: u64,
    /// Bytes of responses the `caching` plugin may keep in memory, all APIs together.
    #[arg(long, env = "APIGW_CACHE_CAPACITY_BYTES", default_value_t = 64 * 1024 * 1024)]
    cache_capacity_bytes: usize,
    /// Longest time (ms) a new connection may stay without sending a byte before it is closed.
    #[arg(long, env = "APIGW_FIRST_BYTE_TIMEOUT_MS", default_value_t = 10_000)]
    first_byte_timeout_ms: u64,
    /// Open connections on this node beyond which new ones are closed at once; 0 = no cap.
    #[arg(long, env = "APIGW_MAX_CONNECTIONS", default_value_t = 50_000)]
    max_connections: usize,
    /// Longest time (ms) a client may leave its request body without data while more is due
    /// (`I400BD`; the client's fault: never counted against the backend or its breaker).
    #[arg(long, env = "APIGW_CLIENT_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    client_body_timeout_ms: u64,
    /// Longest time (ms) the gateway works on a request before its backend is called:
    /// reading the client's body, authentication, parameters, plugins (`X504TO` beyond).
    #[arg(long, env = "APIGW_GATEWAY_TIMEOUT_MS", default_value_t = 30_000)]
    gateway_timeout_ms: u64,
    /// Requests in flight on this node beyond which new ones are answered `X503BZ` at once
    /// (each worker thread takes an equal share); 0 = no limit.
    #[arg(long, env = "APIGW_MAX_IN_FLIGHT", default_value_t = 10_000)]
    max_in_flight: usize,
    /// Per-request metrics on `/metrics` (requests, durations, bytes per API): `on` or `off`
    /// (the request path then skips that recording; the other metrics stay).
    #[arg(long, env = "APIGW_METRICS", default_value = "on", value_parser = ["on", "off"])]
    metrics: String,
    /// How often (ms) this node writes its per-minute monitoring counts to the store, where
    /// the other nodes of a cluster read them (and a restart finds them).
    #[arg(long, env = "APIGW_MONITOR_WRITE_MS", default_value_t = 10_000)]
    monitor_write_ms: u64,
    /// Export a span of each request over OTLP/HTTP to this collector (its base URL,
    /// `http://collector:4318`; spans go to `<URL>/v1/traces`). Unset: traces are on only when
    /// the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is
    /// set; `off`: off whatever they say.
    #[arg(long, env = "APIGW_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// The `service.name` of the exported spans.
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = "apigw")]
    otlp_service_name: String,
    /// Longest time (ms) one export to the OTLP collector may take; past it, the batch's spans
    /// are dropped and counted.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TIMEOUT", default_value_t = 10_000)]
    otlp_timeout_ms: u64,
    /// Redis for state shared by the nodes of a cluster: nonces and JWT `jti`s, flow-control
    /// counters (`redis://[user:pass@]host:port[/db]`); without it each node keeps its own.
    #[arg(long = "redis", env = "APIGW_REDIS_URL")]
    redis_url: Option<String>,
    /// Prefix of every key this gateway writes in Redis.
    #[arg(long, env = "APIGW_REDIS_PREFIX", default_value = "apigw:")]
    redis_prefix: String,
    /// Longest time (ms) a Redis command may take before the node treats Redis as down.
    #[arg(long, env = "APIGW_REDIS_TIMEOUT_MS", default_value_t = 250)]
    redis_timeout_ms: u64,
    /// Seed a demo group on `localhost` and start the demo backend.
    #[arg(long)]
    demo: bool,
    /// Address of the demo backend started by `--demo`.
    #[arg(
        long,
        env = "APIGW_DEMO_BACKEND_LISTEN",
        default_value = "127.0.0.1:9081"
    )]
    demo_backend_listen: String,
}

pub fn run(args: ServeArgs) -> Result<(), String> {
    if args.max_body_bytes > MAX_BODY_CEILING {
        return Err(format!(
            "--max-body-bytes may be at most {MAX_BODY_CEILING}"
        ));
    }
    init_logging(&args)?;
    if let Some(file) = &args.config {
        tracing::info!(target: "apigw::config", file = %file.display(), "node settings read from the file (options and environment variables win over it)");
    }
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("apigw-control")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let cluster = matches!(
        args.data.location()?,
        crate::location::Location::Postgres(_)
    );
    let crate::local::OpenStore {
        store,
        place,
        key_id,
    } = rt.block_on(crate::local::open_store(&args.data))?;
    match key_id {
        Some(id) => tracing::info!(
            target: "apigw::config",
            "secrets in the store are sealed (XChaCha20-Poly1305) with master key id {id}"
        ),
        None => tracing::warn!(
            target: "apigw::config",
            "secrets in the store (AccessKey secrets, app secrets, AppCodes, TLS private keys, plugin documents) are stored unencrypted; set APIGW_MASTER_KEY or APIGW_MASTER_KEY_FILE to seal them"
        ),
    }
    let poll = Duration::from_millis(
        args.reload_poll_ms
            .unwrap_or(if cluster { 1000 } else { 100 })
            .max(10),
    );
    let plain = bind(&args.listen, "data plane")?;
    let tls = match args.tls_listen.as_str() {
        "off" | "" => None,
        addr => Some(bind(addr, "data plane, HTTPS")?),
    };
    let admin_listener = bind(&args.admin_listen, "admin")?;
    let demo_listener = if args.demo {
        Some(bind(&args.demo_backend_listen, "demo backend")?)
    } else {
        None
    };

    let own: Vec<std::net::SocketAddr> = [Some(&plain), tls.as_ref(), Some(&admin_listener)]
        .into_iter()
        .flatten()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let backend_policy = crate::local::backend_policy(own)?;
    let config = GatewayConfig {
        backend_policy: Arc::new(backend_policy.clone()),
        base_domain: args.base_domain.clone(),
        max_body_bytes: args.max_body_bytes,
        max_url_bytes: args.max_url_bytes,
        max_header_bytes: args.max_header_bytes,
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        worker_threads: args.worker_threads,
        replay_capacity: args.replay_capacity,
        instance_qps: args.instance_qps,
        default_domain_daily_quota: args.default_domain_daily_quota,
        cache_capacity_bytes: args.cache_capacity_bytes,
        first_byte_timeout: Duration::from_millis(args.first_byte_timeout_ms.max(1)),
        max_connections: args.max_connections,
        client_body_timeout: Duration::from_millis(args.client_body_timeout_ms.max(1)),
        gateway_timeout: Duration::from_millis(args.gateway_timeout_ms.max(1)),
        max_in_flight: args.max_in_flight,
        metrics: args.metrics == "on",
        // Debug (test) builds only: a path whose requests panic, to test `X500ER`.
        panic_path: if cfg!(debug_assertions) {
            std::env::var("APIGW_TEST_PANIC_PATH").ok()
        } else {
            None
        },
        trusted_proxies: args
            .trusted_proxies
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(apigw_gateway::ipcontrol::Block::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("--trusted-proxies: {e}"))?,
        ..GatewayConfig::default()
    };
    let (shared, redis) = match &args.redis_url {
        None => (Shared::new(config), None),
        Some(url) => {
            let settings = apigw_redis_state::Settings {
                url: url.clone(),
                prefix: args.redis_prefix.clone(),
                node_id: format!("{:016x}", fastrand::u64(..)),
                timeout: Duration::from_millis(args.redis_timeout_ms.max(1)),
            };
            let state = rt.block_on(async { apigw_redis_state::RedisState::start(settings) })?;
            if !rt.block_on(state.connected(Duration::from_secs(2))) {
                tracing::warn!(
                    "redis does not answer yet: serving, and connecting in the background"
                );
            }
            let shared = Shared::with_state(config, state.clone(), state.clone(), state.clone());
            rt.block_on(async { state.follow_breakers(shared.clone()) });
            (shared, Some(state))
        }
    };
    if args.access_log != "off" {
        let sink = match &args.access_log_file {
            None => apigw_gateway::access_log::Sink::Stdout,
            Some(path) => apigw_gateway::access_log::Sink::File {
                path: path.clone(),
                max_bytes: args.access_log_max_bytes,
                keep: args.access_log_keep,
            },
        };
        shared
            .start_access_log(sink)
            .map_err(|e| match &args.access_log_file {
                Some(path) => format!("--access-log-file {}: {e}", path.display()),
                None => format!("access log: {e}"),
            })?;
    }
    if let Some(settings) = otlp_settings(&args, &shared.node_id) {
        shared.start_tracing(&settings)?;
        tracing::info!(
            target: "apigw::config",
            endpoint = settings.endpoint.as_deref().map_or("from OTEL_EXPORTER_OTLP_*", |e| e),
            service = %args.otlp_service_name,
            "traces exported over OTLP"
        );
    }
    let control = Control::new(store.clone())
        .with_secret_grace(crate::local::secret_grace()?)
        .with_group_limit(crate::local::group_limit()?)
        .with_backend_policy(backend_policy);

    rt.block_on(async {
        let local =
            |l: &std::net::TcpListener| l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let demo_lines = match demo_listener {
            Some(l) => {
                let backend = local(&l);
                demo::start_backend(l).map_err(|e| e.to_string())?;
                demo::seed(&control, &backend).await?;
                Some(demo::curl_lines(
                    &local(&plain),
                    tls.as_ref().map(local).as_deref(),
                ))
            }
            None => None,
        };
        reload::load(store.as_ref(), &shared)
            .await
            .map_err(|e| e.to_string())?;

        let data_addr = plain.local_addr().map_err(|e| e.to_string())?;
        let (http_addr, https_addr, admin_addr) = (
            local(&plain),
            tls.as_ref().map(local).unwrap_or_default(),
            local(&admin_listener),
        );
        let server = Server::start(shared.clone(), plain, tls).map_err(|e| e.to_string())?;
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(reload::watch(
            store.clone(),
            shared.clone(),
            control.changed(),
            poll,
            stop_rx.clone(),
        ));
        // Changes made through other nodes wake the reloader at once (PostgreSQL: LISTEN).
        tokio::spawn({
            let (store, wake, stop) = (store.clone(), control.changed(), stop_rx.clone());
            async move { store.listen(wake, stop).await }
        });
        if !cluster {
            // CLI writes on this data directory wait until this process serves them.
            tokio::spawn(crate::serving::record(
                args.data.data_dir.clone(),
                shared.live_generation(),
                stop_rx.clone(),
            ));
        }
        // From now on a write returns once this node serves it.
        let control = control.with_live(shared.live_generation());
        let monitor = Arc::new(crate::monitor::NodeMonitor {
            shared: shared.clone(),
            store: store.clone(),
            node: format!("{:016x}", fastrand::u64(..)),
        });
        tokio::spawn(crate::monitor::write_minutes(
            monitor.clone(),
            Duration::from_millis(args.monitor_write_ms.max(10)),
            stop_rx.clone(),
        ));
        let mgmt = Arc::new(
            apigw_mgmt::Management::new(control.clone(), local(&admin_listener))
                .with_monitor(monitor),
        );
        let root = root_key_from_env()?;
        let generated = mgmt.ensure_root_key(root).await.map_err(|e| format!("{}: {}", e.code, e.message))?;
        let readiness = Arc::new(admin::Readiness {
            store: store.clone(),
            redis,
        });
        admin::start(admin_listener, shared.clone(), mgmt, readiness, data_addr, stop_rx)
            .map_err(|e| e.to_string())?;
        // Before the line saying it serves: whoever waits for that line finds the file.
        if let Some(key) = generated {
            root_key_created(&args.data.data_dir, &key);
        }
        // stdout carries JSON lines only: where it listens is one of them (always written,
        // whatever --log says); the same for a person, and everything else, on stderr.
        tracing::info!(
            target: LISTENING,
            version = env!("CARGO_PKG_VERSION"),
            http = %http_addr,
            https = %https_addr,
            admin = %admin_addr,
            data = %place,
            "serving"
        );
        eprintln!(
            "apigw {} serving: data plane http://{http_addr}{}, admin http://{admin_addr}, data in {place}",
            env!("CARGO_PKG_VERSION"),
            if https_addr.is_empty() {
                String::new()
            } else {
                format!(" and https://{https_addr}")
            },
        );
        if let Some(lines) = demo_lines {
            eprintln!("{lines}");
        }
        wait_for_signal().await;
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        let _ = stop_tx.send(true);
        let drained = shared.clone();
        tokio::task::spawn_blocking(move || {
            server.shutdown();
            // The access-log lines of the last requests.
            if let Some(log) = drained.access_log.get() {
                log.flush(Duration::from_secs(5));
            }
            // The spans of the last requests.
            if let Some(traces) = drained.tracing.get() {
                traces.flush(Duration::from_secs(5));
            }
        })
        .await
        .map_err(|e| e.to_string())?;
        tracing::info!("stopped");
        Ok::<(), String>(())
    })
}

/// Where spans go, or `None` when traces are off: `--otlp-endpoint`, else the standard
/// OpenTelemetry variables (the exporter reads them).
fn otlp_settings(args: &ServeArgs, node_id: &str) -> Option<apigw_gateway::otlp::Settings> {
    let endpoint = match args.otlp_endpoint.as_deref().map(str::trim) {
        Some("off") => return None,
        Some(url) if !url.is_empty() => Some(url.to_string()),
        _ => {
            let standard = [
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ];
            if !standard
                .iter()
                .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()))
            {
                return None;
            }
            None
        }
    };
    Some(apigw_gateway::otlp::Settings {
        endpoint,
        service_name: args.otlp_service_name.clone(),
        timeout: Duration::from_millis(args.otlp_timeout_ms.max(1)),
        node_id: node_id.to_string(),
    })
}

/// The log target of the line that says where the gateway listens (always written).
const LISTENING: &str = "apigw::listening";

/// Where a generated root AccessKey is kept, in the data directory.
const ROOT_KEY_FILE: &str = "root-access-key.json";

/// A root AccessKey was generated: never logged (stdout is for log shippers), shown once on
/// stderr for the person at the terminal, and written to `<data dir>/root-access-key.json`
/// (mode 0600, the directory 0700) for whoever starts the gateway unattended.
fn root_key_created(data_dir: &std::path::Path, key: &apigw_model::AccessKey) {
    let path = data_dir.join(ROOT_KEY_FILE);
    let stored = write_root_key(data_dir, &path, key);
    let place = match &stored {
        Ok(()) => format!("also written to {} (mode 0600)", path.display()),
        Err(e) => format!("NOT written to {}: {e}", path.display()),
    };
    eprintln!(
        "root AccessKey created (shown once here; {place}; set APIGW_ROOT_ACCESS_KEY_ID/APIGW_ROOT_ACCESS_KEY_SECRET to choose your own): AccessKeyId {} AccessKeySecret {}",
        key.access_key_id, key.access_key_secret
    );
    match stored {
        // Neither the id nor the secret: the log is shipped elsewhere.
        Ok(()) => tracing::info!(
            target: "apigw::config",
            "a root AccessKey was created; it is in {}",
            path.display()
        ),
        Err(e) => tracing::warn!(
            target: "apigw::config",
            "a root AccessKey was created and shown once on stderr; it could not be written to {}: {e}",
            path.display()
        ),
    }
}

/// `{"AccessKeyId": …, "AccessKeySecret": …}` in a new file of mode 0600, renamed into place;
/// the directory is created `0700` if missing (a cluster node's data directory).
fn write_root_key(
    data_dir: &std::path::Path,
    path: &std::path::Path,
    key: &apigw_model::AccessKey,
) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    apigw_store::create_private_dir(data_dir)?;
    let body = serde_json::json!({
        "AccessKeyId": key.access_key_id,
        "AccessKeySecret": key.access_key_secret,
    });
    let tmp = data_dir.join(format!("{ROOT_KEY_FILE}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(apigw_store::PRIVATE_FILE)
        .open(&tmp)?;
    file.write_all(format!("{body}\n").as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Raises the soft limit on open files (`RLIMIT_NOFILE`) to the hard limit: every client
/// connection, backend connection and database file takes a descriptor, and the usual soft
/// default (1024) is reached long before the machine's capacity. Logs the change; a failure is
/// logged and serving goes on with the limit as it was.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!("cannot read the open files limit: {e}");
        return;
    }
    if limit.rlim_cur >= limit.rlim_max {
        tracing::info!("open files limit: {}", limit.rlim_cur);
        return;
    }
    let soft = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: setrlimit reads one `rlimit` through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!(
            "cannot raise the open files limit from {soft} to {}: {e}",
            limit.rlim_max
        );
        return;
    }
    tracing::info!("open files limit raised from {soft} to {}", limit.rlim_max);
}

/// `APIGW_ROOT_ACCESS_KEY_ID` / `APIGW_ROOT_ACCESS_KEY_SECRET`: both or neither.
fn root_key_from_env() -> Result<Option<(String, String)>, String> {
    let id = std::env::var("APIGW_ROOT_ACCESS_KEY_ID")
        .ok()
        .filter(|v| !v.is_empty());
    let secret = std::env::var("APIGW_ROOT_ACCESS_KEY_SECRET")
        .ok()
        .filter(|v| !v.is_empty());
    match (id, secret) {
        (Some(i), Some(s)) => Ok(Some((i, s))),
        (None, None) => Ok(None),
        _ => Err(
            "set both APIGW_ROOT_ACCESS_KEY_ID and APIGW_ROOT_ACCESS_KEY_SECRET, or neither".into(),
        ),
    }
}

fn init_logging(args: &ServeArgs) -> Result<(), String> {
    // The access log has a writer of its own (`apigw_gateway::access_log`).
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{},{LISTENING}=info", args.log))
        .map_err(|e| format!("--log: {e}"))?;
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .init();
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
