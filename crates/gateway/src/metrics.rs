//! The node's metrics, served in the Prometheus text format on the admin listener
//! (`GET /metrics`). Each metric is an atomic the data plane bumps where the event happens;
//! the registry is read only when scraped.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};
use std::sync::Mutex;

/// The `Content-Type` of [`Metrics::encode`]'s text (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The registry and the metrics of the data plane. Another part of the gateway adds its own
/// with [`Metrics::register`].
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Requests that matched no API (`group`, `api`, `stage` empty); each API's own series
    /// hangs on its compiled form (`request_metrics`).
    pub unmatched: crate::request_metrics::RequestSeries,
    /// Requests refused by flow control, by [`ThrottleLevel`] ([`Metrics::count_throttled`]).
    throttled: [Counter; 6],
    /// Requests the `caching` plugin answered from the cache, and those it could not.
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    /// Refreshes of the configuration that failed (the last one is served meanwhile).
    pub config_reload_failures: Counter,
    /// `accept` calls that failed on any listener, the admin one included (out of file
    /// descriptors, ...).
    pub accept_errors: Counter,
    /// Client connections open now (all listeners, all workers).
    pub connections_open: Gauge,
    /// Connections closed at accept because `max_connections` were open.
    pub connections_shed: Counter,
    /// Connections closed because they sent no byte within `first_byte_timeout`.
    pub first_byte_timeouts: Counter,
    /// Access-log lines dropped because the writer's channel was full.
    pub access_log_dropped: Counter,
    /// WebSocket streams open now, and all those opened ([`Metrics::web_socket_opened`]).
    pub web_sockets_open: Gauge,
    pub web_sockets: Counter,
    /// Spans sent to the OTLP collector, and those dropped (`crate::otlp`).
    pub otlp: crate::otlp::Counters,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let (throttle_family, throttled) = throttle_series();
        let (otlp_dropped, otlp) = otlp_series();
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            unmatched: crate::request_metrics::RequestSeries::unmatched(),
            throttled,
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            config_reload_failures: Counter::default(),
            accept_errors: Counter::default(),
            connections_open: Gauge::default(),
            connections_shed: Counter::default(),
            first_byte_timeouts: Counter::default(),
            access_log_dropped: Counter::default(),
            web_sockets_open: Gauge::default(),
            web_sockets: Counter::default(),
            otlp,
        };
        // Counters are written with the `_total` suffix.
        m.register_events(throttle_family);
        m.register(
            "apigw_accept_errors",
            "Failed accepts of connections on any listener (e.g. out of file descriptors)",
            m.accept_errors.clone(),
        );
        m.register(
            "apigw_connections_open",
            "Client connections open on this node",
            m.connections_open.clone(),
        );
        m.register(
            "apigw_connections_shed",
            "Client connections closed at accept because APIGW_MAX_CONNECTIONS were open",
            m.connections_shed.clone(),
        );
        m.register(
            "apigw_first_byte_timeouts",
            "Client connections closed because they sent nothing within APIGW_FIRST_BYTE_TIMEOUT_MS",
            m.first_byte_timeouts.clone(),
        );
        m.register(
            "apigw_access_log_dropped",
            "Access-log lines dropped because the log writer fell behind (its queue was full); requests never wait for the log",
            m.access_log_dropped.clone(),
        );
        m.register(
            "apigw_web_sockets_open",
            "WebSocket streams between a client and a backend open on this node",
            m.web_sockets_open.clone(),
        );
        m.register(
            "apigw_web_sockets",
            "WebSocket streams opened on this node",
            m.web_sockets.clone(),
        );
        m.register_otlp(otlp_dropped);
        m
    }
}

/// A WebSocket stream counted open while it lives.
pub struct OpenWebSocket(Gauge);

impl Drop for OpenWebSocket {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Which limit refused a request (`apigw_throttled_total{level}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleLevel {
    /// The `trafficControl` plugin's API limit (`T429PA`).
    Api = 0,
    /// Its limit per user, i.e. the app's owner account (`T429PR`).
    User,
    /// Its limit per app (`T429PR`).
    App,
    /// The group's `TrafficLimit` (`T429GR`).
    Group,
    /// The node's `APIGW_INSTANCE_QPS` (`T429IN`).
    Instance,
    /// The daily quota of a group's default sub-domain (`T429ID`).
    DefaultDomain,
}

impl ThrottleLevel {
    pub const ALL: [ThrottleLevel; 6] = [
        ThrottleLevel::Api,
        ThrottleLevel::User,
        ThrottleLevel::App,
        ThrottleLevel::Group,
        ThrottleLevel::Instance,
        ThrottleLevel::DefaultDomain,
    ];

    /// The `level` label.
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottleLevel::Api => "api",
            ThrottleLevel::User => "user",
            ThrottleLevel::App => "app",
            ThrottleLevel::Group => "group",
            ThrottleLevel::Instance => "instance",
            ThrottleLevel::DefaultDomain => "default_domain",
        }
    }
}

/// A counter family with one label (`level`, `reason`).
type CounterFamily = Family<[(&'static str, &'static str); 1], Counter>;

/// The `apigw_throttled_total` family with its six series made, and their handles: a refusal
/// bumps an atomic, never looks a label set up.
fn throttle_series() -> (CounterFamily, [Counter; 6]) {
    let family = CounterFamily::default();
    let handles = ThrottleLevel::ALL.map(|l| family.get_or_create_owned(&[("level", l.as_str())]));
    (family, handles)
}

/// The `apigw_otlp_spans_dropped_total` family with its two series made, and the exporter's
/// counters.
fn otlp_series() -> (CounterFamily, crate::otlp::Counters) {
    let family = CounterFamily::default();
    let counters = crate::otlp::Counters {
        exported: Counter::default(),
        dropped_queue_full: family.get_or_create_owned(&[("reason", "queue_full")]),
        dropped_export_failed: family.get_or_create_owned(&[("reason", "export_failed")]),
    };
    (family, counters)
}

impl Metrics {
    /// Counts a WebSocket stream opened; it counts as open until the guard drops.
    pub fn web_socket_opened(&self) -> OpenWebSocket {
        self.web_sockets.inc();
        self.web_sockets_open.inc();
        OpenWebSocket(self.web_sockets_open.clone())
    }

    /// Counts a request refused by flow control.
    pub fn count_throttled(&self, level: ThrottleLevel) {
        self.throttled[level as usize].inc();
    }

    /// Registers the event counters (the per-request series are read by a collector).
    fn register_events(&self, throttled: CounterFamily) {
        self.register(
            "apigw_throttled",
            "Requests refused by flow control, by the limit that refused them",
            throttled,
        );
        self.register(
            "apigw_cache_hits",
            "Requests the caching plugin answered from the response cache",
            self.cache_hits.clone(),
        );
        self.register(
            "apigw_cache_misses",
            "Cacheable requests the response cache could not answer (no entry, or the client's no-cache)",
            self.cache_misses.clone(),
        );
        self.register(
            "apigw_config_reload_failures",
            "Refreshes of the configuration from the store that failed (the last one stays live)",
            self.config_reload_failures.clone(),
        );
    }

    /// The OTLP exporter's counters (zero while tracing is off).
    fn register_otlp(&self, dropped: CounterFamily) {
        self.register(
            "apigw_otlp_spans_exported",
            "Spans the OTLP collector took",
            self.otlp.exported.clone(),
        );
        self.register(
            "apigw_otlp_spans_dropped",
            "Spans dropped: the exporter's queue was full, or the collector did not take their batch; requests never wait for the collector",
            dropped,
        );
    }

    /// Adds a collector, asked for its metrics at each scrape.
    pub fn register_collector(&self, collector: impl Collector) {
        self.registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .register_collector(Box::new(collector));
    }

    /// Adds a metric to what `/metrics` serves (a counter's name without `_total`).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .register(name, help, metric);
    }

    /// Every metric in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(1024);
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        prometheus_text::encode(&mut out, &registry).expect("writing to a String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_counters_are_served_from_zero_with_each_throttle_level() {
        let m = Metrics::default();
        m.count_throttled(ThrottleLevel::App);
        m.count_throttled(ThrottleLevel::App);
        m.count_throttled(ThrottleLevel::DefaultDomain);
        m.cache_hits.inc();
        let text = m.encode();
        for line in [
            "# TYPE apigw_throttled_total counter",
            "apigw_throttled_total{level=\"api\"} 0",
            "apigw_throttled_total{level=\"user\"} 0",
            "apigw_throttled_total{level=\"app\"} 2",
            "apigw_throttled_total{level=\"group\"} 0",
            "apigw_throttled_total{level=\"instance\"} 0",
            "apigw_throttled_total{level=\"default_domain\"} 1",
            "apigw_cache_hits_total 1",
            "apigw_cache_misses_total 0",
            "apigw_config_reload_failures_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
        }
    }

    #[test]
    fn the_text_names_each_metric_with_its_value() {
        let m = Metrics::default();
        m.accept_errors.inc();
        m.connections_shed.inc_by(3);
        m.connections_open.inc();
        let text = m.encode();
        for line in [
            "# TYPE apigw_accept_errors_total counter",
            "apigw_accept_errors_total 1",
            "# TYPE apigw_connections_open gauge",
            "apigw_connections_open 1",
            "apigw_connections_shed_total 3",
            "apigw_first_byte_timeouts_total 0",
            "# TYPE apigw_access_log_dropped_total counter",
            "apigw_access_log_dropped_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}:\n{text}");
        }
    }
}
