//! The node's metrics, served in the Prometheus text format on the admin listener
//! (`GET /metrics`). Each metric is an atomic the data plane bumps where the event happens;
//! the registry is read only when scraped.

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};
use std::sync::Mutex;

/// The `Content-Type` of [`Metrics::encode`]'s text (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The registry and the metrics of the data plane. Another part of the gateway adds its own
/// with [`Metrics::register`].
pub struct Metrics {
    registry: Mutex<Registry>,
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
}

impl Default for Metrics {
    fn default() -> Metrics {
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            accept_errors: Counter::default(),
            connections_open: Gauge::default(),
            connections_shed: Counter::default(),
            first_byte_timeouts: Counter::default(),
            access_log_dropped: Counter::default(),
        };
        // Counters are written with the `_total` suffix.
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
        m
    }
}

impl Metrics {
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
