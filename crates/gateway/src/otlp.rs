//! Traces over OTLP (OpenTelemetry), off unless an endpoint is set.
//!
//! Each request is one span of kind server, named by its API (or by its method when no API
//! matched), carrying the request id, group, API, stage, method, status and the gateway's error
//! code; the pipeline's phases are its events. The caller's W3C `traceparent`/`tracestate` make
//! its parent (an invalid one is ignored: the span starts a trace of its own), and the backend
//! gets a `traceparent` whose parent is this span.
//!
//! Export is off the request path: an ended span goes into a bounded channel ([`CAPACITY`])
//! and the request goes on; one exporter thread, looking at the channel every [`POLL`] (never
//! woken by a request), sends what waits in batches (OTLP/HTTP, protobuf) on a runtime of its
//! own. A full channel drops the span, and a batch the collector did not take is dropped too:
//! both are counted (`apigw_otlp_spans_dropped_total{reason}`), a request never waits for the
//! collector.
//!
//! Off, the request path loads the empty tracer slot once when a request starts, then tests the
//! request's own empty span slot (a local `None`) at each mark: no clock is read, nothing is
//! allocated or parsed.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::KeyValue;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;
use prometheus_client::metrics::counter::Counter;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::time::Duration;

/// Spans waiting for the exporter at most; beyond, new ones are dropped (OpenTelemetry's
/// default queue size, `OTEL_BSP_MAX_QUEUE_SIZE`).
pub const CAPACITY: usize = 2048;

/// Spans sent to the collector in one request at most (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`'s
/// default).
pub const MAX_BATCH: usize = 512;

/// How long the exporter sleeps between two looks at the channel: spans reach the collector
/// within this time (plus the export's).
pub const POLL: Duration = Duration::from_millis(200);

/// The pipeline's phases, as span events (each marks the end of the phase of that name in
/// `handler.rs`; a rejected request has the events of the phases it passed).
pub mod phase {
    /// The request matched an API (host → group, stage, method and path).
    pub const ROUTE: &str = "route";
    /// The caller was authenticated (or the API needs no authentication).
    pub const AUTHENTICATE: &str = "authenticate";
    /// The declared parameters were read, checked and mapped.
    pub const PARAMETERS: &str = "parameters";
    /// The backend (or mock) answered, or the call failed.
    pub const CALL_UPSTREAM: &str = "call_upstream";
    /// The answer's head is complete (after the response phase, gzip and the contract's
    /// headers) and handed to the connection; every span has this event, its last.
    pub const RESPONSE: &str = "response";
}

/// Where spans go.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The collector's base URL (`http://host:4318`): spans are posted to `<it>/v1/traces`
    /// (kept as is when it already ends with `/v1/traces`). `None`: the exporter reads the
    /// standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: Option<String>,
    /// `service.name`.
    pub service_name: String,
    /// `service.instance.id`: the node's id.
    pub node_id: String,
    /// How long one export may take; past it, the batch counts as failed.
    pub timeout: Duration,
}

/// Counts of what became of the spans (`apigw_otlp_spans_*`).
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub exported: Counter,
    pub dropped_queue_full: Counter,
    pub dropped_export_failed: Counter,
}

/// The tracer of a node that exports spans.
pub struct Tracing {
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
    queue: SyncSender<Msg>,
}

impl Tracing {
    /// Builds the exporter and starts its thread. An endpoint that is not an `http://` or
    /// `https://` URL is an error.
    pub fn start(settings: &Settings, counters: Counters) -> Result<Tracing, String> {
        let resource = resource(settings);
        let mut exporter = exporter(settings)?;
        opentelemetry_sdk::trace::SpanExporter::set_resource(&mut exporter, &resource);
        let (tx, rx) = sync_channel(CAPACITY);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("OTLP exporter: {e}"))?;
        let endpoint = settings
            .endpoint
            .clone()
            .unwrap_or_else(|| "from OTEL_EXPORTER_OTLP_*".into());
        let exported = counters.exported.clone();
        let failed = counters.dropped_export_failed.clone();
        std::thread::Builder::new()
            .name("apigw-otlp".into())
            .spawn(move || {
                export_all(
                    rx,
                    exporter,
                    runtime,
                    Outcomes {
                        exported,
                        failed,
                        endpoint,
                    },
                )
            })
            .map_err(|e| format!("OTLP exporter: {e}"))?;
        let processor = Queue {
            tx: tx.clone(),
            dropped: counters.dropped_queue_full,
        };
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource)
            .build();
        Ok(Tracing {
            tracer: provider.tracer("apigw"),
            propagator: TraceContextPropagator::new(),
            queue: tx,
        })
    }

    /// Starts the span of a request: its parent is the caller's `traceparent` when that is
    /// valid, else it starts a trace.
    pub fn request<B>(
        &self,
        req: &http::Request<B>,
        tls: bool,
        client: std::net::IpAddr,
    ) -> RequestSpan {
        let parent = self.propagator.extract(&HeaderExtractor(req.headers()));
        let method = req.method().as_str();
        let attributes = vec![
            KeyValue::new("http.request.method", method.to_string()),
            KeyValue::new("url.path", req.uri().path().to_string()),
            KeyValue::new("url.scheme", if tls { "https" } else { "http" }),
            KeyValue::new("client.address", client.to_string()),
        ];
        let span = self
            .tracer
            .span_builder(method.to_string())
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        let mut outgoing = http::HeaderMap::new();
        let context =
            opentelemetry::Context::new().with_remote_span_context(span.span_context().clone());
        self.propagator
            .inject_context(&context, &mut HeaderInjector(&mut outgoing));
        // The propagator writes an empty `tracestate` when there is none.
        if outgoing.get("tracestate").is_some_and(|v| v.is_empty()) {
            outgoing.remove("tracestate");
        }
        RequestSpan { span, outgoing }
    }

    /// Waits (at most `within`) until the spans ended before are sent (or given up); false
    /// when that did not happen in time. For shutdown.
    pub fn flush(&self, within: Duration) -> bool {
        crate::access_log::flush_queue(&self.queue, Msg::Flush, within)
    }
}

/// `service.name`, `service.version`, `service.instance.id` (and `OTEL_RESOURCE_ATTRIBUTES`,
/// which the SDK reads).
fn resource(settings: &Settings) -> Resource {
    Resource::builder()
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", settings.node_id.clone()),
        ])
        .with_service_name(settings.service_name.clone())
        .build()
}

/// The OTLP/HTTP protobuf exporter, on hyper (HTTPS with the webpki roots).
fn exporter(settings: &Settings) -> Result<SpanExporter, String> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("OTLP exporter: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let mut builder = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(settings.timeout)
        .with_http_client(HyperClient::new(connector, settings.timeout, None));
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.with_endpoint(traces_url(endpoint)?);
    }
    builder.build().map_err(|e| format!("OTLP exporter: {e}"))
}

/// The collector's base URL made the traces URL.
pub fn traces_url(endpoint: &str) -> Result<String, String> {
    let uri: http::Uri = endpoint
        .trim()
        .parse()
        .map_err(|e| format!("the OTLP endpoint `{endpoint}` is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(format!(
            "the OTLP endpoint `{endpoint}` must be an http:// or https:// URL (http://collector:4318)"
        ));
    }
    let base = endpoint.trim().trim_end_matches('/');
    Ok(if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    })
}

/// One request's span while it is served.
pub struct RequestSpan {
    span: opentelemetry_sdk::trace::Span,
    /// `traceparent` (and `tracestate`) for the backend: this span as the parent.
    outgoing: http::HeaderMap,
}

/// What the span records when the request is answered.
pub struct Finished<'a> {
    pub request_id: &'a http::HeaderValue,
    pub status: u16,
    pub error_code: Option<&'static str>,
    pub group_id: Option<&'a str>,
    pub api: Option<&'a crate::snapshot::CompiledApi>,
    pub stage: Option<&'a str>,
    pub app_id: Option<i64>,
}

impl RequestSpan {
    /// Marks the end of a phase of the pipeline ([`phase`]).
    pub fn phase(&mut self, name: &'static str) {
        self.span.add_event(name, Vec::new());
    }

    /// The headers that tell the backend its parent is this span.
    pub fn outgoing(&self) -> &http::HeaderMap {
        &self.outgoing
    }

    /// Names the span, adds what the request became, and hands it to the exporter.
    pub fn end(mut self, done: Finished<'_>) {
        let span = &mut self.span;
        if let Some(api) = done.api {
            span.update_name(api.api_name.to_string());
            span.set_attribute(KeyValue::new("apigw.api_id", api.api_id.to_string()));
            span.set_attribute(KeyValue::new("apigw.api_name", api.api_name.to_string()));
        }
        if let Some(group) = done.group_id {
            span.set_attribute(KeyValue::new("apigw.group_id", group.to_string()));
        }
        if let Some(stage) = done.stage {
            span.set_attribute(KeyValue::new("apigw.stage", stage.to_string()));
        }
        if let Some(app) = done.app_id {
            span.set_attribute(KeyValue::new("apigw.app_id", app));
        }
        let request_id = String::from_utf8_lossy(done.request_id.as_bytes()).into_owned();
        span.set_attribute(KeyValue::new("apigw.request_id", request_id));
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(done.status),
        ));
        if let Some(code) = done.error_code {
            span.set_attribute(KeyValue::new("apigw.error_code", code));
        }
        if done.status >= 500 {
            span.set_status(Status::error(done.error_code.unwrap_or("")));
        }
        span.end();
    }
}

// Spans go unboxed (no allocation per request); a flush is rare.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Span(SpanData),
    /// Answered once every span sent before it is exported (or given up).
    Flush(SyncSender<()>),
}

/// The span processor: an ended span goes into the bounded channel, or is dropped and
/// counted. Never blocks.
#[derive(Debug)]
struct Queue {
    tx: SyncSender<Msg>,
    dropped: Counter,
}

impl SpanProcessor for Queue {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if self.tx.try_send(Msg::Span(span)).is_err() {
            self.dropped.inc();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Where the exporter counts and reports.
struct Outcomes {
    exported: Counter,
    failed: Counter,
    endpoint: String,
}

/// The exporter thread: every [`POLL`], takes what waits (up to [`MAX_BATCH`] spans), sends
/// it, answers the flushes; ends once the sending side is gone and everything is sent.
fn export_all(
    rx: Receiver<Msg>,
    exporter: SpanExporter,
    runtime: tokio::runtime::Runtime,
    outcomes: Outcomes,
) {
    let mut failing = false;
    loop {
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let closed = loop {
            match rx.try_recv() {
                Ok(Msg::Span(span)) => batch.push(span),
                Ok(Msg::Flush(done)) => flushes.push(done),
                Err(TryRecvError::Empty) => break false,
                Err(TryRecvError::Disconnected) => break true,
            }
            if batch.len() >= MAX_BATCH {
                break false;
            }
        };
        let full = batch.len() >= MAX_BATCH;
        if !batch.is_empty() {
            let n = batch.len() as u64;
            let sent = runtime.block_on(opentelemetry_sdk::trace::SpanExporter::export(
                &exporter, batch,
            ));
            report(sent, n, &outcomes, &mut failing);
        }
        for done in flushes {
            let _ = done.send(());
        }
        if closed {
            return;
        }
        if !full {
            std::thread::sleep(POLL);
        }
    }
}

/// Counts an export's spans and logs when the collector stops (or starts again) taking them.
fn report(sent: OTelSdkResult, n: u64, outcomes: &Outcomes, failing: &mut bool) {
    match sent {
        Ok(()) => {
            outcomes.exported.inc_by(n);
            if std::mem::replace(failing, false) {
                tracing::info!(endpoint = %outcomes.endpoint, "the OTLP collector takes spans again");
            }
        }
        Err(e) => {
            outcomes.failed.inc_by(n);
            if !std::mem::replace(failing, true) {
                tracing::warn!(endpoint = %outcomes.endpoint, "the OTLP collector does not take spans (they are dropped and counted until it does): {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_the_full_queue_cannot_take_is_dropped_and_counted() {
        let (tx, rx) = sync_channel(1);
        let dropped = Counter::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(Queue {
                tx,
                dropped: dropped.clone(),
            })
            .build();
        let tracer = provider.tracer("test");
        for name in ["kept", "dropped", "dropped too"] {
            tracer.start(name).end();
        }
        assert_eq!(dropped.get(), 2);
        match rx.try_recv() {
            Ok(Msg::Span(span)) => assert_eq!(span.name, "kept"),
            _ => panic!("the first span waits in the queue"),
        }
    }

    #[test]
    fn the_endpoint_is_the_collectors_base_url() {
        let url = |e: &str| traces_url(e).unwrap();
        assert_eq!(url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(url("http://c:4318/v1/traces"), "http://c:4318/v1/traces");
        assert_eq!(url("https://c/otlp"), "https://c/otlp/v1/traces");
        for bad in ["collector:4318", "grpc://c:4317", "/v1/traces", "not a url"] {
            let e = traces_url(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
