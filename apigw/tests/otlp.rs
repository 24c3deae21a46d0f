//! Traces over OTLP, with a real collector in the test process: an HTTP server taking
//! `POST /v1/traces` and decoding the protobuf with the protocol's own messages
//! (`opentelemetry-proto`). The real binary serves requests with known `traceparent`s; the
//! test reads the spans it exported and the `traceparent` the backend received.

mod support;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use prost::Message;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{backend, get_api_yaml, send, Gateway, Resp};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A span as received, with the resource it came under.
#[derive(Debug, Clone)]
struct Received {
    span: Span,
    resource: BTreeMap<String, String>,
}

impl Received {
    fn attr(&self, key: &str) -> Option<String> {
        attrs(&self.span.attributes).remove(key)
    }
    fn events(&self) -> Vec<&str> {
        self.span.events.iter().map(|e| e.name.as_str()).collect()
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v: &AnyValue| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

/// The collector: every span of every `POST /v1/traces`, and the paths it was asked for.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
    posts: Arc<Mutex<Vec<String>>>,
}

impl Collector {
    async fn start() -> (Collector, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let collector = Collector::default();
        let shared = collector.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let c = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let c = c.clone();
                        async move { c.take(req).await }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (collector, addr)
    }

    async fn take(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        self.posts
            .lock()
            .unwrap()
            .push(format!("{} {}", req.method(), req.uri().path()));
        let content_type = req.headers().get("content-type").cloned();
        let body = req.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            content_type.as_ref().map(|v| v.to_str().unwrap()),
            Some("application/x-protobuf")
        );
        let export = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
        let mut spans = self.spans.lock().unwrap();
        for rs in export.resource_spans {
            let resource = attrs(&rs.resource.map(|r| r.attributes).unwrap_or_default());
            for ss in rs.scope_spans {
                for span in ss.spans {
                    spans.push(Received {
                        span,
                        resource: resource.clone(),
                    });
                }
            }
        }
        Ok(Response::builder()
            .header("content-type", "application/x-protobuf")
            .body(Full::new(Bytes::new()))
            .unwrap())
    }

    /// The span of the request with this id (waits up to 5 s for it).
    async fn span_of(&self, request_id: &str) -> Received {
        for _ in 0..100 {
            let found = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .find(|s| s.attr("apigw.request_id").as_deref() == Some(request_id))
                .cloned();
            if let Some(span) = found {
                return span;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no span for request {request_id}; received: {:#?}",
            self.spans.lock().unwrap()
        );
    }
}

fn config(backend: SocketAddr) -> String {
    let apis = [
        get_api_yaml("echo", "/echo", "ANONYMOUS", backend),
        get_api_yaml("failing", "/status/503", "ANONYMOUS", backend),
    ]
    .concat();
    format!(
        "Groups:\n  - GroupName: shop\n    Domains: [{{DomainName: localhost}}]\n    Apis:{apis}\n"
    )
}

async fn get_with(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Resp {
    send(gw.http, "GET", "localhost", path, headers, b"").await
}

/// The `traceparent` and `tracestate` the backend received (the echo API answers them).
fn backend_trace_headers(r: &Resp) -> (String, Option<String>) {
    assert_eq!(r.status, 200, "{}", r.text());
    let headers = &r.json()["headers"];
    let parent = headers["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("the backend got no traceparent: {}", r.text()))
        .to_string();
    (parent, headers["tracestate"].as_str().map(str::to_string))
}

/// `00-<trace id>-<parent id>-<flags>`, split.
fn parse_traceparent(v: &str) -> (String, String, String) {
    let parts: Vec<&str> = v.split('-').collect();
    assert_eq!(parts.len(), 4, "{v}");
    assert_eq!(parts[0], "00", "{v}");
    assert_eq!(parts[1].len(), 32, "{v}");
    assert_eq!(parts[2].len(), 16, "{v}");
    (parts[1].into(), parts[2].into(), parts[3].into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The admin listener's `/metrics` text.
async fn metrics(admin: SocketAddr) -> String {
    let r = support::get(admin, "localhost", "/metrics").await;
    assert_eq!(r.status, 200);
    r.text()
}

fn request_id(r: &Resp) -> String {
    r.header("x-ca-request-id").unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_a_span_in_the_callers_trace_and_the_backends_parent() {
    let (collector, at) = Collector::start().await;
    let gw = Gateway::start_with_env(
        &config(backend().await),
        &[("APIGW_OTLP_ENDPOINT", &format!("http://{at}"))],
    );
    let (group, apis) = support::api_ids(&gw, "shop");

    // A caller in a trace: the span is its child, and the backend's parent.
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let r = get_with(
        &gw,
        "/echo",
        &[("traceparent", &traceparent), ("tracestate", "vendor=abc")],
    )
    .await;
    let (to_backend, state) = backend_trace_headers(&r);
    let (trace_id, parent_id, flags) = parse_traceparent(&to_backend);
    assert_eq!(trace_id, CALLER_TRACE, "{to_backend}");
    assert_ne!(
        parent_id, CALLER_SPAN,
        "the backend's parent is the gateway's span"
    );
    assert_eq!(flags, "01");
    assert_eq!(state.as_deref(), Some("vendor=abc"));

    let id = request_id(&r);
    let s = collector.span_of(&id).await;
    assert_eq!(s.span.name, "echo");
    assert_eq!(s.span.kind, SpanKind::Server as i32);
    assert_eq!(hex(&s.span.trace_id), CALLER_TRACE);
    assert_eq!(hex(&s.span.parent_span_id), CALLER_SPAN);
    assert_eq!(
        hex(&s.span.span_id),
        parent_id,
        "the span the backend was told of"
    );
    assert_eq!(s.span.trace_state, "vendor=abc");
    let a = attrs(&s.span.attributes);
    assert_eq!(a["apigw.request_id"], id);
    assert_eq!(a["apigw.group_id"], group);
    assert_eq!(a["apigw.api_id"], apis["echo"]);
    assert_eq!(a["apigw.api_name"], "echo");
    assert_eq!(a["apigw.stage"], "RELEASE");
    assert_eq!(a["http.request.method"], "GET");
    assert_eq!(a["url.path"], "/echo");
    assert_eq!(a["http.response.status_code"], "200");
    assert!(!a.contains_key("apigw.error_code"), "{a:?}");
    assert_eq!(
        s.events(),
        [
            "route",
            "authenticate",
            "parameters",
            "call_upstream",
            "response"
        ]
    );
    let times: Vec<u64> = s.span.events.iter().map(|e| e.time_unix_nano).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(s.span.start_time_unix_nano <= times[0]);
    assert!(times[4] <= s.span.end_time_unix_nano);
    let status = s.span.status.clone().unwrap_or_default();
    assert_eq!(status.code, StatusCode::Unset as i32);
    assert_eq!(s.resource["service.name"], "apigw");

    // No traceparent: a trace of its own, the backend told of it.
    let r = get_with(&gw, "/echo", &[]).await;
    let (to_backend, state) = backend_trace_headers(&r);
    let (trace_id, parent_id, _) = parse_traceparent(&to_backend);
    assert_eq!(state, None);
    let s = collector.span_of(&request_id(&r)).await;
    assert_eq!(hex(&s.span.trace_id), trace_id);
    assert_ne!(trace_id, CALLER_TRACE);
    assert!(
        s.span.parent_span_id.is_empty(),
        "{:?}",
        s.span.parent_span_id
    );
    assert_eq!(hex(&s.span.span_id), parent_id);

    // An invalid traceparent is ignored, never an error: a new trace.
    let r = get_with(
        &gw,
        "/echo",
        &[
            ("traceparent", "00-not-a-trace-01"),
            ("tracestate", "vendor=abc"),
        ],
    )
    .await;
    let (to_backend, _) = backend_trace_headers(&r);
    let (trace_id, parent_id, _) = parse_traceparent(&to_backend);
    let s = collector.span_of(&request_id(&r)).await;
    assert_eq!(hex(&s.span.trace_id), trace_id);
    assert!(s.span.parent_span_id.is_empty());
    assert_eq!(hex(&s.span.span_id), parent_id);
    assert_ne!(trace_id, "0".repeat(32));

    // A caller that does not sample: no span is exported, and the backend still gets the
    // trace (the caller's trace id, not sampled, a parent of the gateway's).
    let unsampled = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-00");
    let r = get_with(&gw, "/echo", &[("traceparent", &unsampled)]).await;
    let (to_backend, _) = backend_trace_headers(&r);
    let (trace_id, parent_id, flags) = parse_traceparent(&to_backend);
    assert_eq!((trace_id.as_str(), flags.as_str()), (CALLER_TRACE, "00"));
    assert_ne!(parent_id, CALLER_SPAN);
    let not_exported = request_id(&r);

    // A backend's 5xx: status error.
    let r = get_with(&gw, "/status/503", &[]).await;
    assert_eq!(r.status, 503);
    let s = collector.span_of(&request_id(&r)).await;
    assert_eq!(s.span.name, "failing");
    assert_eq!(s.attr("http.response.status_code").as_deref(), Some("503"));
    assert_eq!(s.span.status.unwrap().code, StatusCode::Error as i32);

    // A request the gateway refuses: its code; named by its method, no API matched.
    let r = get_with(&gw, "/nowhere", &[("traceparent", &traceparent)]).await;
    assert_eq!(r.code(), Some("I404NF"));
    let s = collector.span_of(&request_id(&r)).await;
    assert_eq!(s.span.name, "GET");
    assert_eq!(s.attr("apigw.error_code").as_deref(), Some("I404NF"));
    assert_eq!(s.attr("apigw.group_id").as_deref(), Some(group.as_str()));
    assert_eq!(s.attr("apigw.api_id"), None);
    assert_eq!(s.events(), ["response"]);
    assert_eq!(hex(&s.span.trace_id), CALLER_TRACE);
    assert_eq!(
        s.span.status.unwrap_or_default().code,
        StatusCode::Unset as i32
    );

    // Spans leave in the order they end: the one not sampled would be there by now.
    assert!(
        !collector
            .spans
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.attr("apigw.request_id").as_deref() == Some(not_exported.as_str())),
        "a span the caller did not sample was exported"
    );
    let posts = collector.posts.lock().unwrap().clone();
    assert!(posts.iter().all(|p| p == "POST /v1/traces"), "{posts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_are_off_by_default_and_the_callers_traceparent_reaches_the_backend_unchanged() {
    let gw = Gateway::start(&config(backend().await));
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    for _ in 0..3 {
        let r = get_with(
            &gw,
            "/echo",
            &[("traceparent", &traceparent), ("tracestate", "vendor=abc")],
        )
        .await;
        let (to_backend, state) = backend_trace_headers(&r);
        assert_eq!(to_backend, traceparent);
        assert_eq!(state.as_deref(), Some("vendor=abc"));
    }
    // Past the exporter's poll: nothing was exported, nor tried and dropped.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let metrics = metrics(gw.admin).await;
    for line in [
        "apigw_otlp_spans_exported_total 0",
        "apigw_otlp_spans_dropped_total{reason=\"queue_full\"} 0",
        "apigw_otlp_spans_dropped_total{reason=\"export_failed\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_variables_and_the_settings_file_turn_traces_on() {
    let yaml = config(backend().await);
    // OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME.
    let (collector, at) = Collector::start().await;
    let gw = Gateway::start_with_env(
        &yaml,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{at}")),
            ("OTEL_SERVICE_NAME", "edge"),
        ],
    );
    let r = get_with(&gw, "/echo", &[]).await;
    let s = collector.span_of(&request_id(&r)).await;
    assert_eq!(s.resource["service.name"], "edge");
    assert_eq!(s.span.name, "echo");

    // `otlp-endpoint` in `serve --config`.
    let (collector, at) = Collector::start().await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("otlp-endpoint: http://{at}\n")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    support::apply(dir.path(), &yaml).expect("apply");
    let gw = Gateway::start_with_args(dir, &[], &["--config", file.path().to_str().unwrap()]);
    let r = get_with(&gw, "/echo", &[]).await;
    let s = collector.span_of(&request_id(&r)).await;
    assert_eq!(s.resource["service.name"], "apigw");

    // `off` wins over the standard variable.
    let (collector, at) = Collector::start().await;
    let gw = Gateway::start_with_env(
        &yaml,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{at}")),
            ("APIGW_OTLP_ENDPOINT", "off"),
        ],
    );
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let r = get_with(&gw, "/echo", &[("traceparent", &traceparent)]).await;
    assert_eq!(backend_trace_headers(&r).0, traceparent);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(collector.posts.lock().unwrap().is_empty());
}

/// A listener that accepts connections and never answers: an export waits on it until its
/// timeout.
async fn silent_collector() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_down_or_silent_never_slows_a_request_and_its_spans_are_counted_as_dropped() {
    let yaml = config(backend().await);
    // Nothing listens: each batch fails at once.
    let down = support::free_port();
    let gw = Gateway::start_with_env(
        &yaml,
        &[("APIGW_OTLP_ENDPOINT", &format!("http://127.0.0.1:{down}"))],
    );
    for _ in 0..20 {
        assert_eq!(get_with(&gw, "/echo", &[]).await.status, 200);
    }
    support::eventually(|| async {
        let m = metrics(gw.admin).await;
        m.lines()
            .any(|l| l == "apigw_otlp_spans_dropped_total{reason=\"export_failed\"} 20")
    })
    .await;

    // A collector that never answers: the exporter waits (up to its 2 s timeout); requests
    // do not.
    let (silent, _task) = silent_collector().await;
    let gw = Gateway::start_with_env(
        &yaml,
        &[
            ("APIGW_OTLP_ENDPOINT", &format!("http://{silent}")),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ],
    );
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut sent = 0;
    // Requests keep coming while the first export hangs.
    while started.elapsed() < Duration::from_millis(1500) {
        let t = Instant::now();
        assert_eq!(get_with(&gw, "/echo", &[]).await.status, 200);
        slowest = slowest.max(t.elapsed());
        sent += 1;
    }
    assert!(
        slowest < Duration::from_millis(500),
        "slowest request {slowest:?}"
    );
    // Past the timeout, the batches the collector never took count as dropped.
    let mut dropped = 0;
    for _ in 0..100 {
        let m = metrics(gw.admin).await;
        dropped = m
            .lines()
            .find_map(|l| {
                l.strip_prefix("apigw_otlp_spans_dropped_total{reason=\"export_failed\"} ")
            })
            .map_or(0, |v| v.parse::<u64>().unwrap());
        if dropped > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        dropped > 0 && dropped <= sent,
        "dropped {dropped} of {sent}"
    );
}

#[test]
fn an_endpoint_that_is_not_an_http_url_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = support::serve_command(dir.path())
        .args(["--otlp-endpoint", "collector:4318"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the OTLP endpoint `collector:4318` must be an http:// or https:// URL"),
        "{stderr}"
    );
}
