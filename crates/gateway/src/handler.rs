//! The request pipeline. Phases run in the order CloudAPI documents (plugins.md §13):
//! parse limits → domain, stage, route → protocol → authentication → backend or mock →
//! response contract (request id, debug info, gzip, access log).

use crate::auth::{self, Credentials};
use crate::backend;
use crate::body::{ClientBodyError, GwBody, Upload, UploadProgress};
use crate::breaker::{Admit, Breaker, Outcome};
use crate::compress;
use crate::cors::Cors;
use crate::grpc;
use crate::metrics::ThrottleLevel;
use crate::otlp::phase as otlp_phase;
use crate::params::{Mapped, ParamPlan, PathValue, RequestView, SystemValues};
use crate::path_guard;
use crate::plugin_phase::{self, RequestVars, ResponseVars, SystemVars};
use crate::request_id::new_request_id;
use crate::router::{split_path, Captures};
use crate::snapshot::RouteTarget;
use crate::snapshot::{
    Backend, BackendPath, CompiledApi, ContentTypePolicy, HttpBackend, MockResponse, PathPart,
};
use crate::tls::TlsName;
use crate::traffic::{CounterKey, Dimension, Throttled, Unit};
use crate::websocket;
use crate::Shared;
use apigw_model::codes;
use apigw_model::params::{RequestMode, SystemParam};
use apigw_model::{AuthType, Stage};
use bytes::Bytes;
use futures_util::FutureExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub static X_CA_REQUEST_ID: HeaderName = HeaderName::from_static("x-ca-request-id");
use crate::reject::{header_text, BackendFailure, Cause};
pub use crate::reject::{Reject, X_CA_ERROR_CODE, X_CA_ERROR_MESSAGE};
pub static X_CA_STAGE: HeaderName = HeaderName::from_static("x-ca-stage");
pub static X_CA_REQUEST_MODE: HeaderName = HeaderName::from_static("x-ca-request-mode");
pub static X_CA_DEBUG_INFO: HeaderName = HeaderName::from_static("x-ca-debug-info");
pub static X_CA_VIA: HeaderName = HeaderName::from_static("x-ca-via");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_CA_ROUTING_NAME: HeaderName = HeaderName::from_static("x-ca-routing-name");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
static CONTENT_MD5: HeaderName = HeaderName::from_static("content-md5");
static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Methods CloudAPI APIs can declare; anything else is `I405UM`.
const METHODS: [Method; 9] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::HEAD,
    Method::PATCH,
    Method::OPTIONS,
    Method::TRACE,
    Method::CONNECT,
];

/// The connection a request arrived on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
    /// Over TLS: the SNI and the certificate it selected (a request for another host that
    /// certificate does not cover is misdirected, `I421MR`).
    pub tls_name: Option<TlsName>,
    /// The peer's IP as a header value, made once per connection (`X-Forwarded-For`).
    pub peer_ip: HeaderValue,
}

impl ConnInfo {
    /// A cleartext connection.
    pub fn new(peer: SocketAddr, tls: bool) -> ConnInfo {
        let peer_ip = HeaderValue::from_str(&peer.ip().to_string())
            .expect("an IP address is a valid header value");
        ConnInfo {
            peer,
            tls,
            tls_name: None,
            peer_ip,
        }
    }

    /// A TLS connection opened for `name`.
    pub fn tls(peer: SocketAddr, name: Option<TlsName>) -> ConnInfo {
        ConnInfo {
            tls_name: name,
            ..ConnInfo::new(peer, true)
        }
    }
}

/// What the access log records about a request.
#[derive(Default)]
struct Trace {
    group: Option<Arc<str>>,
    api: Option<Arc<CompiledApi>>,
    stage: Option<Stage>,
    app_id: Option<i64>,
    error: Option<&'static str>,
    service_latency: Option<Duration>,
    /// The request's span, when traces are exported (`otlp.rs`).
    span: Option<Box<crate::otlp::RequestSpan>>,
}

impl Trace {
    /// Marks the end of a phase on the span (nothing when traces are off).
    fn phase(&mut self, name: &'static str) {
        if let Some(span) = &mut self.span {
            span.phase(name);
        }
    }
}

/// One worker's request handler: the shared snapshot plus this worker's backend pool.
pub struct Worker {
    pub shared: Arc<Shared>,
    /// The backend pools for the root account's APIs.
    pub client: backend::Pool,
    /// The backend pools for other accounts' APIs: their host names may not resolve to
    /// loopback or private addresses unless the operator allows them.
    tenant_client: backend::Pool,
    /// This node's id as an `X-Ca-Via` value.
    node_via: HeaderValue,
    /// Requests in flight on this worker, and this worker's share of `max_in_flight`
    /// (0: no limit).
    in_flight: AtomicUsize,
    max_in_flight: usize,
    /// Set when the shutdown deadline passed: requests in flight (and any new one) are
    /// answered `X503SD` at once; `deadline` wakes those waiting.
    past_deadline: AtomicBool,
    deadline: Notify,
}

impl Worker {
    pub fn new(shared: Arc<Shared>) -> Worker {
        let node_via =
            HeaderValue::from_str(&shared.node_id).expect("a hex id is a valid header value");
        let client = backend::Pool::new(shared.config.backend_policy.clone(), true);
        let tenant_client = backend::Pool::new(shared.config.backend_policy.clone(), false);
        let workers = shared.config.workers().max(1);
        let max_in_flight = shared.config.max_in_flight.div_ceil(workers);
        Worker {
            shared,
            client,
            tenant_client,
            node_via,
            in_flight: AtomicUsize::new(0),
            max_in_flight,
            past_deadline: AtomicBool::new(false),
            deadline: Notify::new(),
        }
    }

    /// Serves one request; never fails: every failure becomes a documented error response,
    /// a panic inside the pipeline included (`X500ER`, and the worker keeps serving).
    pub async fn handle(&self, req: Request<Incoming>, conn: &ConnInfo) -> Response<GwBody> {
        let start = Instant::now();
        let request_id = new_request_id();
        let debug = req
            .headers()
            .get(&X_CA_REQUEST_MODE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"debug"));
        let gzip_ok = compress::client_accepts_gzip(req.headers());
        let grpc_call = grpc::is_call(req.version(), req.headers());
        let head_request = req.method() == Method::HEAD;
        // hyper takes the body's exact size from `Content-Length`.
        let request_bytes = http_body::Body::size_hint(req.body()).exact();
        // The answer speaks the client connection's version, never the backend's: hyper writes
        // a response marked HTTP/1.0 as HTTP/1.0 and closes the connection after it. Marked
        // HTTP/1.1, hyper writes it in the connection's version itself (HTTP/1.0 to an HTTP/1.0
        // client, with `Connection: keep-alive` when that client asked for it).
        let version = match req.version() {
            Version::HTTP_2 => Version::HTTP_2,
            _ => Version::HTTP_11,
        };
        let origin = req.headers().get(header::ORIGIN).cloned();
        let log_target = self
            .shared
            .access_log
            .get()
            .map(|log| (log, req.method().clone(), req.uri().path().to_string()));
        let mut trace = Trace::default();
        if let Some(tracing) = self.shared.tracing.get() {
            trace.span = Some(Box::new(tracing.request(&req, conn.tls, conn.peer.ip())));
        }

        let mut shutting_down = false;
        let served = match self.admit() {
            Some(_in_flight) => {
                // Boxed once here: the wrappers below (and hyper, which moves this request's
                // future into its dispatcher) then move a pointer, not the pipeline's state.
                let serving =
                    AssertUnwindSafe(Box::pin(self.serve(req, conn, &request_id, &mut trace)));
                match self.before_deadline(serving.catch_unwind()).await {
                    Some(Ok(served)) => served,
                    Some(Err(panic)) => Err(internal_error(&request_id, &*panic)),
                    None => {
                        shutting_down = true;
                        Err(Reject::new(&codes::X503SD, &[]).because(Cause::Gateway))
                    }
                }
            }
            None => Err(Reject::new(&codes::X503BZ, &[]).because(Cause::Gateway)),
        };
        let served = match served {
            Ok(resp) if gzip_ok && !head_request => maybe_gzip(resp).await,
            other => other,
        };
        let mut resp = served.unwrap_or_else(|reject| {
            trace.error = Some(reject.code.code);
            reject.into_response()
        });
        if let (Some(origin), Some(api)) = (&origin, &trace.api) {
            decorate_cors(api, origin, resp.headers_mut());
        }
        *resp.version_mut() = version;
        let headers = resp.headers_mut();
        if shutting_down && version != Version::HTTP_2 {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        headers.insert(&X_CA_REQUEST_ID, request_id.clone());
        let total = start.elapsed();
        if debug {
            let info = format!(
                "{{\"ServiceLatency\":{},\"TotalLatency\":{}}}",
                trace.service_latency.unwrap_or_default().as_millis(),
                total.as_millis()
            );
            headers.insert(&X_CA_DEBUG_INFO, header_text(&info));
        }
        if self.shared.config.metrics {
            self.record(&trace, &resp, total, request_bytes, head_request);
        }
        if let Some(span) = trace.span.take() {
            end_span(*span, &mut trace, &resp, &request_id);
        }
        if let Some((log, method, path)) = log_target {
            if trace.error.is_none() {
                trace.error = answered_code(&resp);
            }
            // Handed to the writer thread; formatted and written there.
            log.log(crate::access_log::Entry {
                time: std::time::SystemTime::now(),
                request_id,
                client_ip: conn.peer.ip(),
                method,
                path,
                group: trace.group,
                api: trace.api,
                stage: trace.stage,
                app_id: trace.app_id,
                status: resp.status().as_u16(),
                latency: total,
                service_latency: trace.service_latency,
                error_code: trace.error.unwrap_or(""),
                tls: conn.tls,
            });
        }
        if grpc_call && is_refusal(&resp) {
            // Counted and logged with its HTTP status; the gRPC client reads `grpc-status`.
            let message = resp.headers().get(&X_CA_ERROR_MESSAGE).cloned();
            resp = grpc::refusal(resp, message.as_ref());
        }
        resp
    }

    /// Counts an answered request in its API's series (or the unmatched one): a few relaxed
    /// atomic additions on handles the compiled API holds.
    fn record(
        &self,
        trace: &Trace,
        resp: &Response<GwBody>,
        total: Duration,
        request_bytes: Option<u64>,
        head_request: bool,
    ) {
        use http_body::Body as _;
        let series = match &trace.api {
            Some(api) => api.metrics.series(),
            None => &self.shared.metrics.unmatched,
        };
        series.record(&crate::request_metrics::Observed {
            status: resp.status().as_u16(),
            code: trace.error,
            total,
            backend: trace.service_latency,
            request_bytes,
            response_bytes: if head_request {
                None
            } else {
                resp.body().size_hint().exact()
            },
        });
    }

    /// Closes this worker's plain-HTTP backend connections unused for
    /// [`crate::h1pool::IDLE_TIMEOUT`] (the server calls it every few seconds).
    pub fn sweep_idle(&self) {
        self.client.h1.sweep();
        self.tenant_client.h1.sweep();
    }

    /// Requests in flight on this worker now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The shutdown deadline passed: every request in flight on this worker, and any that
    /// still comes, is answered `X503SD` now.
    pub fn deadline_passed(&self) {
        self.past_deadline.store(true, Ordering::Relaxed);
        self.deadline.notify_waiters();
    }

    /// `work`'s output, or `None` when the shutdown deadline passes first (`work` is dropped:
    /// a backend call in progress is abandoned). Costs nothing while `work` completes
    /// without waiting: a waiter is registered only when it is pending.
    async fn before_deadline<F: std::future::Future>(&self, work: F) -> Option<F::Output> {
        // Created before the flag is read, so a notification between the two is not missed.
        let deadline = self.deadline.notified();
        if self.past_deadline.load(Ordering::Relaxed) {
            return None;
        }
        tokio::select! {
            biased;
            out = work => Some(out),
            _ = deadline => None,
        }
    }

    /// Counts the request in flight on this worker, or `None` past the worker's share of
    /// `max_in_flight` (shed with `X503BZ`).
    fn admit(&self) -> Option<InFlight<'_>> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        let guard = InFlight(&self.in_flight);
        (self.max_in_flight == 0 || now <= self.max_in_flight).then_some(guard)
    }

    /// The pipeline, phase by phase in the order of plugins.md §13, then the response phase.
    async fn serve(
        &self,
        req: Request<Incoming>,
        conn: &ConnInfo,
        request_id: &HeaderValue,
        trace: &mut Trace,
    ) -> Result<Response<GwBody>, Reject> {
        // 1-2. Parse limits; domain → group → stage → API; CORS preflights answered here.
        let mut ctx = match self.route(req, conn, request_id, trace)? {
            Routed::Answered(resp) => return Ok(resp),
            Routed::Api(ctx) => *ctx,
        };
        trace.phase(otlp_phase::ROUTE);
        let deadline = tokio::time::Instant::now() + self.shared.config.gateway_timeout;
        let before_backend =
            tokio::time::timeout_at(deadline, self.request_phases(&mut ctx, trace));
        let result = match before_backend.await {
            Err(_) => Err(Reject::new(&codes::X504TO, &[]).because(Cause::Gateway)),
            Ok(Err(stop)) => Err(stop),
            Ok(Ok(Some(answer))) => Ok(answer),
            // 10-11. Circuit breaker, request transformer, backend signature, the backend.
            Ok(Ok(None)) => {
                let answer = self.call_upstream(&mut ctx, trace).await;
                trace.phase(otlp_phase::CALL_UPSTREAM);
                answer
            }
        };
        // The gateway's code stays the request's code whatever errorMapping answers instead.
        if let Err(reject) = &result {
            trace.error = Some(reject.code.code);
        }
        // 12. errorMapping, response transformer, cache store.
        self.response_phase(&ctx, result).await
    }

    /// Phases 1-9: everything the gateway decides before the backend is called. `Some` is a
    /// final answer (a cache hit, a denial with its own body).
    async fn request_phases(
        &self,
        ctx: &mut Ctx<'_>,
        trace: &mut Trace,
    ) -> Result<Option<Response<GwBody>>, Reject> {
        #[cfg(debug_assertions)]
        if self.shared.config.panic_path.as_deref() == Some(ctx.parts.uri.path()) {
            panic!("panic injected for {}", ctx.parts.uri.path());
        }
        self.access_checks(ctx).await?; // 1. protocol, loop, default-domain/group/instance limits
        self.ip_control(ctx, None)?; // 3. ipControl, app-less items
        self.authenticate(ctx, trace).await?; // 4. APP / AppCode / jwtAuth, grants, app IP items
        trace.phase(otlp_phase::AUTHENTICATE);
        self.parameters(ctx).await?; // 5. declared parameters, validated and mapped
        trace.phase(otlp_phase::PARAMETERS);
        if let Some(denied) = self.access_control(ctx) {
            trace.error = Some(codes::A403AC.code);
            return Ok(Some(denied)); // 6. accessControl
        }
        self.traffic_control(ctx).await?; // 7. trafficControl
        if let Some(hit) = self.cache_lookup(ctx)? {
            return Ok(Some(hit)); // 8. caching lookup
        }
        self.routing(ctx); // 9. routing
        Ok(None)
    }

    /// Parse limits, then host → group → stage → method and path → API, one snapshot read with
    /// no lock and no await. A CORS preflight the gateway answers itself ends here.
    fn route<'r>(
        &self,
        req: Request<Incoming>,
        conn: &'r ConnInfo,
        request_id: &'r HeaderValue,
        trace: &mut Trace,
    ) -> Result<Routed<'r>, Reject> {
        check_limits(&req, &self.shared.config)?;
        let wants_web_socket = websocket::requested(req.method(), req.version(), req.headers());
        let (api, credentials, captures, rest_from, limits) = {
            let snap = self.shared.snapshot.load();
            let host = request_host(req.uri(), req.headers())?;
            if let Some(name) = &conn.tls_name {
                if name.misdirected(&host) {
                    return Err(Reject::new(&codes::I421MR, &[&host]));
                }
            }
            let entry = snap
                .host(&host)
                .ok_or_else(|| Reject::new(&codes::I404DO, &[&host]))?;
            let group = &snap.groups[entry.group];
            trace.group = Some(group.group_id.clone());
            if wants_web_socket && !entry.web_socket.allows(conn.tls) {
                return Err(Reject::new(&codes::I403PT, &["WebSocket"]));
            }
            let limits = GroupLimits {
                group_id: group.group_id.clone(),
                qps: group.traffic_limit,
                default_domain: entry.default_domain.then(|| host.to_string()),
            };
            let stage = match entry.bind_stage {
                Some(s) => s,
                None => match req.headers().get(&X_CA_STAGE) {
                    None => Stage::Release,
                    Some(v) => Stage::parse(v.as_bytes())
                        .ok_or_else(|| Reject::new(&codes::I400SG, &[]))?,
                },
            };
            trace.stage = Some(stage);
            let path = req.uri().path();
            let segments = split_path(path);
            let router = group.router(stage);
            let Some(found) = router.find(req.method(), &segments) else {
                if let Some(preflight) = Preflight::of(&req) {
                    return preflight
                        .answer(router, &segments, path)
                        .map(Routed::Answered);
                }
                let reason = format!("with `{} {}` in stage `{}`", req.method(), path, stage);
                return Err(Reject::new(&codes::I404NF, &[&reason]));
            };
            // An API with a `cors` plugin (an `ANY` API, say) leaves preflights to the plugin.
            if found.value.cors.is_some() {
                if let Some(preflight) = Preflight::of(&req) {
                    return preflight
                        .answer(router, &segments, path)
                        .map(Routed::Answered);
                }
            }
            let api = found.value.clone();
            let needs_auth = api.auth.auth != AuthType::Anonymous || api.auth.jwt.is_some();
            let credentials = needs_auth.then(|| snap.credentials.clone());
            (api, credentials, found.captures, found.rest_from, limits)
        };
        trace.api = Some(api.clone());
        let (mut parts, incoming) = req.into_parts();
        let upgrade = wants_web_socket
            .then(|| websocket::take(&mut parts))
            .flatten();
        Ok(Routed::Api(Box::new(Ctx {
            conn,
            request_id,
            api,
            parts,
            body: ReqBody::Incoming(incoming),
            captures,
            rest_from,
            limits,
            credentials,
            client_ip: None,
            caller: None,
            mapped: None,
            cache_key: None,
            route: None,
            upgrade,
            trace_headers: trace.span.as_ref().map(|s| Box::new(s.outgoing().clone())),
        })))
    }

    /// A bound plugin that cannot run (fail closed), the protocol restriction, loop detection,
    /// and the default sub-domain's, the instance's and the group's limits.
    async fn access_checks(&self, ctx: &Ctx<'_>) -> Result<(), Reject> {
        let api = &ctx.api;
        if let Some(f) = &api.plugin_fault {
            return Err(Reject::with_message(f.code, f.message.to_string()));
        }
        check_protocol(api, ctx.conn.tls, ctx.upgrade.is_some())?;
        if ctx
            .parts
            .headers
            .get_all(&X_CA_VIA)
            .iter()
            .any(|v| contains_token(v.as_bytes(), self.shared.node_id.as_bytes()))
        {
            return Err(Reject::new(&codes::I508LD, &[]));
        }
        self.check_group_limits(&ctx.limits).await
    }

    /// The `ipControl` plugin: its app-less items before authentication (`app` `None`), the
    /// items bound to the authenticated app after it.
    fn ip_control(&self, ctx: &mut Ctx<'_>, app: Option<i64>) -> Result<(), Reject> {
        let Some(c) = &ctx.api.ip_control else {
            return Ok(());
        };
        let ip = *ctx.client_ip.get_or_insert_with(|| {
            crate::ipcontrol::client_ip(
                c.source,
                ctx.conn.peer.ip(),
                ctx.parts.headers.get(&X_FORWARDED_FOR),
                &self.shared.config.trusted_proxies,
            )
        });
        let admitted = match app {
            None => c.admits(ip),
            Some(app) => c.admits_app(app, ip),
        };
        if admitted {
            Ok(())
        } else {
            Err(Reject::new(&codes::A403IP, &[]))
        }
    }

    /// APP signature, AppCode or jwtAuth, the app's grant, then the app's IP items.
    async fn authenticate(&self, ctx: &mut Ctx<'_>, trace: &mut Trace) -> Result<(), Reject> {
        let Some(credentials) = ctx.credentials.take() else {
            return Ok(());
        };
        let api = ctx.api.clone();
        if auth::needs_body(&api.auth, &ctx.parts.headers) {
            self.buffer_body(&mut ctx.body).await?;
        }
        let buffered = match &ctx.body {
            ReqBody::Buffered(b) => Some(b),
            ReqBody::Incoming(_) => None,
        };
        let request = auth::Request {
            parts: &mut ctx.parts,
            body: buffered,
            now_ms: now_ms(),
        };
        let caller = Box::pin(auth::authenticate(
            &api.auth,
            &credentials,
            self.shared.replay.as_ref(),
            request,
        ))
        .await?;
        let app = caller.app.as_ref().map(|a| a.app_id);
        trace.app_id = app;
        ctx.caller = Some(caller);
        if let Some(app) = app {
            self.ip_control(ctx, Some(app))?;
        }
        Ok(())
    }

    /// The `accessControl` plugin; `Some` is the denial to answer.
    fn access_control(&self, ctx: &Ctx<'_>) -> Option<Response<GwBody>> {
        let policy = ctx.api.access_control.as_ref()?;
        let segments = split_path(ctx.parts.uri.path());
        let path_params = ctx.path_params(&segments);
        let vars = self.request_vars(ctx, &path_params);
        plugin_phase::access_control(policy, &vars)
            .err()
            .map(|denied| denied.into_response())
    }

    /// The `trafficControl` plugin: app → account → API (`T429PR`, `T429PA`).
    async fn traffic_control(&self, ctx: &Ctx<'_>) -> Result<(), Reject> {
        let Some(policy) = &ctx.api.traffic else {
            return Ok(());
        };
        let app = ctx
            .caller
            .as_ref()
            .and_then(|c| c.app.as_ref())
            .map(|a| (a.app_id, a.owner_id));
        policy
            .admit(self.shared.counter.as_ref(), app, now_ms())
            .await
            .map_err(|t| {
                let (code, level) = match t {
                    Throttled::Api => (&codes::T429PA, ThrottleLevel::Api),
                    Throttled::App => (&codes::T429PR, ThrottleLevel::App),
                    Throttled::User => (&codes::T429PR, ThrottleLevel::User),
                };
                self.shared.metrics.count_throttled(level);
                Reject::new(code, &[])
            })
    }

    /// The `routing` plugin: the first route whose condition holds replaces the backend.
    fn routing(&self, ctx: &mut Ctx<'_>) {
        let Some(routing) = ctx.api.routing.clone() else {
            return;
        };
        let segments = split_path(ctx.parts.uri.path());
        let path_params = ctx.path_params(&segments);
        let vars = self.request_vars(ctx, &path_params);
        let chosen = routing
            .doc
            .select(&vars)
            .and_then(|r| routing.doc.routes.iter().position(|x| std::ptr::eq(x, r)));
        ctx.route = chosen;
    }

    /// The variables request-phase plugin expressions read.
    fn request_vars<'a>(
        &'a self,
        ctx: &'a Ctx<'_>,
        path_params: &'a [(&'a str, &'a str)],
    ) -> RequestVars<'a> {
        let form = match &ctx.body {
            ReqBody::Buffered(b) if apigw_signature::is_form_content_type(&ctx.parts.headers) => {
                Some(&b[..])
            }
            _ => None,
        };
        RequestVars {
            method: &ctx.parts.method,
            path: ctx.parts.uri.path(),
            query: ctx.parts.uri.query(),
            headers: &ctx.parts.headers,
            form,
            path_params,
            system: self.system_vars(ctx),
            claims: ctx.caller.as_ref().and_then(|c| c.claims.as_deref()),
        }
    }

    fn system_vars<'a>(&'a self, ctx: &'a Ctx<'_>) -> SystemVars<'a> {
        let caller = ctx.caller.as_ref();
        SystemVars {
            app_id: caller.and_then(|c| c.app.as_ref()).map(|a| a.app_id),
            app_key: caller.and_then(|c| c.app_key.as_deref()),
            client_ip: ctx.conn.peer.ip(),
            domain: ctx
                .limits
                .default_domain
                .as_deref()
                .or_else(|| ctx.parts.uri.host())
                .or_else(|| {
                    ctx.parts
                        .headers
                        .get(header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .map(strip_port)
                })
                .unwrap_or(""),
            stage: ctx.api.stage.as_str(),
            api_name: &ctx.api.api_name,
            request_id: ctx.request_id.to_str().unwrap_or(""),
            https: ctx.conn.tls,
            user_agent: ctx
                .parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
            node_id: &self.shared.node_id,
        }
    }

    /// The backend path and query for `b`: its path template filled from the request's
    /// captures (or the mapped PATH parameters), the query as received or as mapped, less a
    /// query AppCode, plus the claims jwtAuth forwards in the query. `I400PA` when path text
    /// would leave the API (`path_guard`).
    fn target_for(&self, ctx: &Ctx<'_>, b: &HttpBackend) -> Result<String, Reject> {
        let path = ctx.parts.uri.path();
        let segments = split_path(path);
        let mut target = match &ctx.mapped {
            Some(m) => {
                let query = m.query_string();
                let query = (!query.is_empty()).then_some(query.as_str());
                backend_target(
                    b,
                    path,
                    query,
                    &segments,
                    &ctx.captures,
                    ctx.rest_from,
                    &m.path,
                )?
            }
            None => backend_target(
                b,
                path,
                ctx.parts.uri.query(),
                &segments,
                &ctx.captures,
                ctx.rest_from,
                &[],
            )?,
        };
        if let Some(c) = &ctx.caller {
            if c.strip_app_code_query {
                strip_query_param(&mut target, "AppCode");
            }
            append_query(&mut target, &c.extra_query);
        }
        Ok(target)
    }

    /// Phases 10-11: the circuit breaker (or its downgrade), then the backend the routing
    /// plugin chose or the API's own (mock or HTTP).
    async fn call_upstream(
        &self,
        ctx: &mut Ctx<'_>,
        trace: &mut Trace,
    ) -> Result<Response<GwBody>, Reject> {
        let api = ctx.api.clone();
        let route = ctx
            .route
            .and_then(|i| api.routing.as_ref().map(|r| &r.routes[i]));
        let backend = route.map_or(&api.backend, |r| &r.backend);
        let backend = match backend {
            Backend::Broken(_) => return Err(Reject::new(&codes::X500AM, &[])),
            Backend::Refused { host, ip } => return Err(Reject::new(&codes::D504IL, &[host, ip])),
            Backend::Unavailable { code, reason } => return Err(Reject::new(code, &[reason])),
            Backend::Mock(mock) => return Ok(mock_response(mock)),
            Backend::Http(b) => b,
        };
        let started = Instant::now();
        let admitted = api.breaker.admit(started);
        if matches!(admitted, Admit::Open | Admit::Busy) {
            // The same request to the downgrade backend, or a refusal.
            return match &api.downgrade {
                Some(dg) => Box::pin(self.call_backend(ctx, dg, route)).await,
                None => breaker_refusal(&api.breaker, admitted, started),
            };
        }
        // Boxed: keeps the per-request future small (hyper moves it around).
        let result = Box::pin(self.call_backend(ctx, backend, route)).await;
        let latency = started.elapsed();
        trace.service_latency = Some(latency);
        let outcome = Outcome {
            timed_out: matches!(&result, Err(r) if r.backend_failure().is_some()),
            status: result.as_ref().ok().map(|r| r.status().as_u16()),
            latency,
        };
        // The common case (closed, call fine) records nothing: skip the clock too.
        if (admitted != Admit::Pass || api.breaker.config().is_failure(&outcome))
            && api.breaker.record(admitted, &outcome, Instant::now())
        {
            let open_for = api.breaker.config().open_timeout();
            self.shared.breaker_bus.opened(&api.scope, open_for);
        }
        result
    }

    /// Phase 12: the `errorMapping` plugin, the response rules of the `transformer` plugin,
    /// then the `caching` plugin stores a cacheable answer.
    async fn response_phase(
        &self,
        ctx: &Ctx<'_>,
        result: Result<Response<GwBody>, Reject>,
    ) -> Result<Response<GwBody>, Reject> {
        let api = &ctx.api;
        if api.error_mapping.is_none() && api.transformer.is_none() {
            return match (result, &ctx.cache_key) {
                (Ok(resp), Some(key)) => self.cache_store(api, key.clone(), resp).await,
                (result, _) => result,
            };
        }
        let mut resp = result.unwrap_or_else(Reject::into_response);
        let error_code = resp
            .headers()
            .get(&X_CA_ERROR_CODE)
            .and_then(|v| {
                codes::ALL
                    .iter()
                    .find(|c| c.code.as_bytes() == v.as_bytes())
            })
            .map(|c| c.code);
        let reads_body = api
            .error_mapping
            .as_ref()
            .is_some_and(|m| plugin_phase::reads_body(&m.parameters))
            || api
                .transformer
                .as_ref()
                .is_some_and(|t| plugin_phase::reads_body(&t.parameters));
        let body_json = if reads_body {
            let (parts, body_json, buffered) = read_json_body(resp).await;
            resp = Response::from_parts(parts, buffered);
            body_json
        } else {
            None
        };
        let system = self.system_vars(ctx);
        let claims = ctx.caller.as_ref().and_then(|c| c.claims.as_deref());
        let mapped = {
            let vars = ResponseVars {
                status: resp.status(),
                error_code,
                headers: resp.headers(),
                body: body_json.as_ref(),
                system: &system,
                claims,
            };
            let mapped = api.error_mapping.as_ref().and_then(|m| m.apply(&vars));
            let ops = api.transformer.as_ref().map(|t| t.response_ops(&vars));
            (mapped, ops)
        };
        let (status_mapped, ops) = mapped;
        if let Some((status, message)) = status_mapped {
            if let Ok(s) = StatusCode::from_u16(status) {
                *resp.status_mut() = s;
            }
            resp.headers_mut()
                .insert(&X_CA_ERROR_MESSAGE, header_text(&message));
        }
        if let Some(ops) = ops {
            let (mut parts, body) = resp.into_parts();
            plugin_phase::transform_response(ops, &mut parts.status, &mut parts.headers);
            resp = Response::from_parts(parts, body);
        }
        match &ctx.cache_key {
            Some(key) => self.cache_store(api, key.clone(), resp).await,
            None => Ok(resp),
        }
    }

    /// The `caching` plugin before the backend: a stored response (`X-Ca-Caching: true`),
    /// `I404CH` for `only-if-cached` without one, or the key to store the answer under.
    fn cache_lookup(&self, ctx: &mut Ctx<'_>) -> Result<Option<Response<GwBody>>, Reject> {
        let api = ctx.api.clone();
        let (Some(policy), Backend::Http(own)) = (&api.cache, &api.backend) else {
            return Ok(None);
        };
        let parts = &ctx.parts;
        // Only GET, never through the default sub-domain, never an upgrade.
        if parts.method != Method::GET
            || ctx.limits.default_domain.is_some()
            || ctx.upgrade.is_some()
        {
            return Ok(None);
        }
        let app_id = ctx
            .caller
            .as_ref()
            .and_then(|c| c.app.as_ref())
            .map(|a| a.app_id);
        let target = self.target_for(ctx, own)?;
        let query = target.split_once('?').map(|(_, q)| q);
        let key = policy.key(&api.scope, parts.uri.path(), query, &parts.headers, app_id);
        let client = if policy.client_may_steer(app_id) {
            parts
                .headers
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase()
        } else {
            String::new()
        };
        let no_cache = client.contains("no-cache");
        if !no_cache {
            if let Some(entry) = self.shared.cache.get(&key, Instant::now()) {
                self.shared.metrics.cache_hits.inc();
                let mut resp = fixed_response(entry.status, &entry.headers, &entry.body);
                resp.headers_mut()
                    .insert(&crate::cache::X_CA_CACHING, crate::cache::hit_marker());
                return Ok(Some(resp));
            }
        }
        self.shared.metrics.cache_misses.inc();
        if client.contains("only-if-cached") {
            return Err(Reject::new(&codes::I404CH, &[]));
        }
        ctx.cache_key = Some(key);
        Ok(None)
    }

    /// Keeps a cacheable backend answer (200, allowed by its `Cache-Control`, with a length
    /// within the per-entry bound) and returns it.
    async fn cache_store(
        &self,
        api: &CompiledApi,
        key: String,
        resp: Response<GwBody>,
    ) -> Result<Response<GwBody>, Reject> {
        use http_body::Body as _;
        let Some(policy) = &api.cache else {
            return Ok(resp);
        };
        let Some(ttl) = policy.ttl_for(resp.status(), resp.headers()) else {
            return Ok(resp);
        };
        let max = crate::cache::max_entry(self.shared.config.cache_capacity_bytes) as u64;
        if resp.body().size_hint().exact().is_none_or(|n| n > max) {
            return Ok(resp);
        }
        let (parts, body) = resp.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| Reject::new(&codes::D504CO, &[&format!("reading the response: {e}")]))?
            .to_bytes();
        let stored = policy.stored_headers(&parts.headers);
        self.shared.cache.put(
            key,
            parts.status,
            stored,
            bytes.clone(),
            ttl,
            Instant::now(),
        );
        Ok(Response::from_parts(parts, GwBody::full(bytes)))
    }

    /// The default sub-domain's daily quota (`T429ID`), the instance and group QPS caps
    /// (`T429IN`, `T429GR`).
    async fn check_group_limits(&self, limits: &GroupLimits) -> Result<(), Reject> {
        let config = &self.shared.config;
        if limits.default_domain.is_none() && config.instance_qps == 0 && limits.qps.is_none() {
            return Ok(());
        }
        let counter = self.shared.counter.as_ref();
        let now = now_ms();
        let key = |dimension| CounterKey {
            scope: limits.group_id.clone(),
            dimension,
            id: 0,
        };
        if let Some(host) = &limits.default_domain {
            let quota = config.default_domain_daily_quota;
            if quota > 0
                && !counter
                    .acquire(&key(Dimension::DefaultDomain), quota, Unit::Day, now)
                    .await
            {
                self.shared
                    .metrics
                    .count_throttled(ThrottleLevel::DefaultDomain);
                return Err(Reject::new(&codes::T429ID, &[host, &quota.to_string()]));
            }
        }
        if config.instance_qps > 0 {
            let instance = CounterKey {
                scope: INSTANCE_SCOPE.with(|s| s.clone()),
                dimension: Dimension::Instance,
                id: 0,
            };
            if !counter
                .acquire(&instance, config.instance_qps, Unit::Second, now)
                .await
            {
                self.shared.metrics.count_throttled(ThrottleLevel::Instance);
                return Err(Reject::new(&codes::T429IN, &[]));
            }
        }
        if let Some(qps) = limits.qps {
            if !counter
                .acquire(&key(Dimension::Group), u64::from(qps), Unit::Second, now)
                .await
            {
                self.shared.metrics.count_throttled(ThrottleLevel::Group);
                return Err(Reject::new(&codes::T429GR, &[]));
            }
        }
        Ok(())
    }

    /// The parameter phase: reads the body when the plan needs it, then validates and maps.
    async fn parameters(&self, ctx: &mut Ctx<'_>) -> Result<(), Reject> {
        let api = ctx.api.clone();
        let Some(plan) = &api.params else {
            return Ok(());
        };
        let parts = &ctx.parts;
        let conn = ctx.conn;
        let body = &mut ctx.body;
        let caller = ctx.caller.as_ref();
        let path_str = parts.uri.path();
        let segments = split_path(path_str);
        let captures = &ctx.captures;
        let is_form = apigw_signature::is_form_content_type(&parts.headers);
        if plan.reads_form() && is_multipart(&parts.headers) {
            return Err(Reject::new(
                &codes::I400CT,
                &["multipart/form-data is not supported; send application/x-www-form-urlencoded"],
            ));
        }
        let reads_form = plan.reads_form() && is_form;
        if reads_form || plan.reads_stream() {
            buffer_body(body, &self.shared.config).await?;
        }
        let bytes = match &*body {
            ReqBody::Buffered(b) => Some(&b[..]),
            ReqBody::Incoming(_) => None,
        };
        let path: Vec<(&str, &str)> = plan
            .path_names()
            .iter()
            .zip(captures.iter())
            .filter_map(|(n, &i)| segments.get(i as usize).map(|seg| (&**n, *seg)))
            .collect();
        let view = RequestView {
            path: &path,
            query: parts.uri.query(),
            headers: &parts.headers,
            form: bytes.filter(|_| reads_form),
            stream: bytes.filter(|_| plan.reads_stream()),
        };
        // System values that cost something are computed only when the API sends them.
        let host = if plan.uses(SystemParam::CaDomain) {
            request_host(&parts.uri, &parts.headers).unwrap_or(Cow::Borrowed(""))
        } else {
            Cow::Borrowed("")
        };
        let ip = if plan.uses(SystemParam::CaClientIp) {
            crate::ipcontrol::client_ip(
                crate::ipcontrol::Source::Xff(-1),
                conn.peer.ip(),
                parts.headers.get(&X_FORWARDED_FOR),
                &self.shared.config.trusted_proxies,
            )
            .to_string()
        } else {
            String::new()
        };
        let time = if plan.uses(SystemParam::CaRequestHandleTime) {
            apigw_signature::mgmt::format_timestamp(now_ms() / 1000)
        } else {
            String::new()
        };
        let app = caller.and_then(|c| c.app.as_deref());
        let sys = SystemValues {
            client_ip: &ip,
            domain: &host,
            handle_time: &time,
            app_id: app.map(|a| a.app_id),
            app_key: caller.and_then(|c| c.app_key.as_deref()),
            app_extend: app.map(|a| &*a.extend),
            request_id: ctx.request_id.to_str().unwrap_or(""),
            https: conn.tls,
            api_name: &api.api_name,
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
            stage: api.stage.as_str(),
            instance_id: &self.shared.node_id,
        };
        let mut m = plan.apply(&view, &sys)?;
        if reads_form && m.form.is_none() {
            // Every field was declared and mapped elsewhere: the backend gets an empty form.
            m.form = Some(Vec::new());
        }
        ctx.mapped = Some(m);
        Ok(())
    }

    /// Reads the request body into memory (up to the body limit), once.
    async fn buffer_body(&self, body: &mut ReqBody) -> Result<(), Reject> {
        buffer_body(body, &self.shared.config).await
    }

    /// The request transformer, the backend signature, then the call (`D504*` on failure).
    async fn call_backend(
        &self,
        ctx: &mut Ctx<'_>,
        backend: &HttpBackend,
        route: Option<&RouteTarget>,
    ) -> Result<Response<GwBody>, Reject> {
        let api = ctx.api.clone();
        let conn = ctx.conn;
        let request_id = ctx.request_id;
        let mut target = self.target_for(ctx, backend)?;
        let method = backend.method.clone().unwrap_or(ctx.parts.method.clone());
        let headers = std::mem::take(&mut ctx.parts.headers);
        let mut headers = match &api.params {
            Some(plan) if plan.mode != RequestMode::Passthrough => mapping_headers(headers, plan),
            _ => headers,
        };
        let mut body = std::mem::replace(&mut ctx.body, ReqBody::Buffered(Bytes::new()));
        let mut signed = Vec::new();
        let mut form_body = None;
        let mut form_fields: Option<Vec<(String, String)>> = None;
        if let Some(m) = ctx.mapped.take() {
            for (name, value) in m.headers {
                headers.insert(name.clone(), value);
                signed.push(name);
            }
            if let Some(form) = m.form {
                form_fields = Some(form.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
            }
        }
        if let Some(c) = ctx.caller.as_mut() {
            for (name, value) in std::mem::take(&mut c.extra_headers) {
                headers.insert(name, value);
            }
        }
        if let Some(r) = route {
            headers.insert(&X_CA_ROUTING_NAME, r.name.clone());
            for (name, value) in &r.headers {
                headers.insert(name.clone(), value.clone());
            }
            append_query(&mut target, &r.query);
        }
        if let Some(t) = &api.transformer {
            let segments = split_path(ctx.parts.uri.path());
            let path_params = ctx.path_params(&segments);
            let ops = t.request_ops(&self.request_vars(ctx, &path_params));
            if !ops.is_empty() {
                if form_fields.is_none() && ops_touch_form(&ops) {
                    form_fields = read_form_fields(&mut body, &headers, self).await?;
                }
                plugin_phase::transform_request(
                    ops,
                    plugin_phase::Outbound {
                        headers: &mut headers,
                        target: &mut target,
                        form: form_fields.as_mut(),
                    },
                )?;
            }
        }
        if let Some(form) = form_fields {
            let encoded = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter())
                .finish();
            headers.remove(header::CONTENT_LENGTH);
            headers.remove(&CONTENT_MD5);
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
            );
            let bytes = Bytes::from(encoded);
            form_body = Some(bytes.clone());
            body = ReqBody::Buffered(bytes);
        }
        if let ContentTypePolicy::Custom(ct) = &backend.content_type {
            headers.insert(header::CONTENT_TYPE, ct.clone());
        }
        if let Some(signer) = &api.backend_signer {
            let is_form = form_body.is_some() || apigw_signature::is_form_content_type(&headers);
            if method == Method::POST || method == Method::PUT {
                self.buffer_body(&mut body).await?;
            }
            let bytes = match &body {
                ReqBody::Buffered(b) => b.clone(),
                ReqBody::Incoming(_) => Bytes::new(),
            };
            let (path, query) = match target.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (target.as_str(), None),
            };
            let req = crate::backend_sign::Outbound {
                method: method.as_str(),
                path,
                query,
                signed: &signed,
                form: is_form.then_some(&bytes[..]),
                body: &bytes,
            };
            signer.sign(&req, &mut headers);
        }
        let mut upload = None;
        let body = match body {
            ReqBody::Buffered(bytes) => GwBody::full(bytes),
            ReqBody::Incoming(incoming) => {
                let config = &self.shared.config;
                let (body, progress) = request_body(
                    &headers,
                    incoming,
                    config.max_body_bytes,
                    config.client_body_timeout,
                )
                .await?;
                upload = progress;
                body
            }
        };
        let path_and_query = PathAndQuery::try_from(target)
            .map_err(|e| Reject::new(&codes::I400RU, &[&e.to_string()]))?;
        let lean = backend::Pool::lean(backend, ctx.upgrade.is_some());
        let uri = if lean {
            // The lean pool writes HTTP/1.1 itself: the target in origin form (`/path?query`).
            Uri::from(path_and_query)
        } else {
            let mut uri = http::uri::Parts::default();
            uri.scheme = Some(backend.scheme.clone());
            uri.authority = Some(backend.authority.clone());
            uri.path_and_query = Some(path_and_query);
            Uri::from_parts(uri).map_err(|e| Reject::new(&codes::I400RU, &[&e.to_string()]))?
        };

        let te_trailers = asks_for_trailers(&headers);
        if let Some(trace_headers) = &ctx.trace_headers {
            propagate(&mut headers, trace_headers);
        }
        strip_hop_headers(&mut headers);
        if te_trailers {
            // gRPC's `te: trailers` (the one TE value HTTP/2 carries) goes on to the backend.
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
        if let Some(upgrade) = ctx.upgrade.as_ref().filter(|_| !backend.h2c) {
            upgrade.forward(&mut headers);
        }
        headers.insert(header::HOST, backend.host.clone());
        headers.insert(&X_CA_REQUEST_ID, request_id.clone());
        append_forwarded_for(&mut headers, conn);
        headers.insert(
            &X_FORWARDED_PROTO,
            HeaderValue::from_static(if conn.tls { "https" } else { "http" }),
        );
        append_via(&mut headers, &self.node_via);

        let mut out = Request::new(body);
        *out.method_mut() = method;
        *out.uri_mut() = uri;
        *out.version_mut() = if backend.h2c {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        };
        *out.headers_mut() = headers;

        let resp = match self.exchange(out, backend, upload, api.root, lean).await {
            Err(reject) => return Err(reject),
            Ok(Err(e)) => return Err(backend::classify(&*e, backend)),
            Ok(Ok(resp)) => resp,
        };
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            return self.switch_protocols(ctx, resp);
        }
        let (mut parts, body) = resp.into_parts();
        strip_hop_headers(&mut parts.headers);
        Ok(Response::from_parts(parts, GwBody::Stream(body)))
    }

    /// The backend answered `101`: the client's connection and the backend's become one
    /// WebSocket stream. A `101` the client did not ask for is a broken backend (`D504CO`).
    fn switch_protocols(
        &self,
        ctx: &mut Ctx<'_>,
        mut resp: Response<Incoming>,
    ) -> Result<Response<GwBody>, Reject> {
        let Some(upgrade) = ctx.upgrade.take() else {
            let reason = "the backend switched protocols unasked";
            return Err(Reject::new(&codes::D504CO, &[reason])
                .because(Cause::Backend(BackendFailure::Connect)));
        };
        let protocol = resp.headers().get(header::UPGRADE).cloned();
        upgrade.join(&mut resp, self.shared.clone());
        let (mut parts, _) = resp.into_parts();
        strip_hop_headers(&mut parts.headers);
        websocket::restore_switch(&mut parts.headers, protocol);
        Ok(Response::from_parts(parts, GwBody::empty()))
    }
}

impl Worker {
    /// Sends the request through the lean HTTP/1.1 pool (`lean`: its URI in origin form) or the
    /// general client; `D504TO` when the backend takes longer than `timeout` to answer.
    /// While the client is still sending the body, the time is the client's (its body has its
    /// own idle timeout, `I400BD`, never counted against the backend): the timeout counts from
    /// the end of the upload, or from when the backend stopped taking the body.
    async fn exchange(
        &self,
        out: Request<GwBody>,
        backend: &HttpBackend,
        upload: Option<Arc<UploadProgress>>,
        root: bool,
        lean: bool,
    ) -> Result<Result<Response<Incoming>, BackendError>, Reject> {
        let pool = if root {
            &self.client
        } else {
            &self.tenant_client
        };
        if lean {
            let sent = pool.h1.send(out, backend);
            return self.bounded(sent, backend.timeout, upload).await;
        }
        let sent = pool.for_backend(backend).request(out);
        self.bounded(sent, backend.timeout, upload).await
    }

    /// `call`'s answer, or `D504TO` when the backend takes longer than `timeout` (counted from
    /// the end of the upload when the client streams its body, see [`Worker::exchange`]).
    async fn bounded<E: std::error::Error + Send + Sync + 'static>(
        &self,
        call: impl std::future::Future<Output = Result<Response<Incoming>, E>>,
        timeout: Duration,
        upload: Option<Arc<UploadProgress>>,
    ) -> Result<Result<Response<Incoming>, BackendError>, Reject> {
        let timed_out =
            || Reject::new(&codes::D504TO, &[]).because(Cause::Backend(BackendFailure::Timeout));
        let request = async move { call.await.map_err(|e| Box::new(e) as BackendError) };
        let Some(upload) = upload else {
            return tokio::time::timeout(timeout, request)
                .await
                .map_err(|_| timed_out());
        };
        tokio::pin!(request);
        let mut deadline = Instant::now() + timeout;
        loop {
            tokio::select! {
                answer = &mut request => return Ok(answer),
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    deadline = match upload.done_at() {
                        Some(done) if done + timeout <= now => return Err(timed_out()),
                        Some(done) => done + timeout,
                        // The client owes data: its idle timeout decides.
                        None if upload.waiting_on_client() => now + timeout,
                        // The backend is not taking the body.
                        None => return Err(timed_out()),
                    };
                }
            }
        }
    }
}

/// A failed backend call, classified by [`backend::classify`] from its type.
type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// The gateway's code of an answer the response phase rewrote (errorMapping keeps it in
/// `X-Ca-Error-Code`).
fn answered_code(resp: &Response<GwBody>) -> Option<&'static str> {
    let v = resp.headers().get(&X_CA_ERROR_CODE)?;
    codes::ALL
        .iter()
        .find(|c| c.code.as_bytes() == v.as_bytes())
        .map(|c| c.code)
}

/// Records what the request became on its span and hands the span to the exporter.
fn end_span(
    mut span: crate::otlp::RequestSpan,
    trace: &mut Trace,
    resp: &Response<GwBody>,
    request_id: &HeaderValue,
) {
    span.phase(crate::otlp::phase::RESPONSE);
    if trace.error.is_none() {
        trace.error = answered_code(resp);
    }
    span.end(crate::otlp::Finished {
        request_id,
        status: resp.status().as_u16(),
        error_code: trace.error,
        group_id: trace.group.as_deref(),
        api: trace.api.as_deref(),
        stage: trace.stage.map(|s| s.as_str()),
        app_id: trace.app_id,
    });
}

/// An open (or busy half-open) breaker: the downgrade backend's answer, or `D503CB`/`D503BB`.
fn breaker_refusal(
    breaker: &Breaker,
    admitted: Admit,
    now: Instant,
) -> Result<Response<GwBody>, Reject> {
    if let Some(d) = breaker.config().downgrade() {
        return Ok(fixed_response(d.status, &d.headers, &d.body));
    }
    if admitted == Admit::Busy {
        return Err(Reject::new(&codes::D503BB, &[]));
    }
    let reason = format!("retry in {} s", breaker.open_for(now).max(1));
    Err(Reject::new(&codes::D503CB, &[&reason]))
}

/// A CORS preflight the gateway answers itself: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`, on a path with no `OPTIONS` API or whose API has a `cors`
/// plugin.
struct Preflight<'a> {
    origin: &'a str,
    method: &'a str,
    headers: Option<&'a str>,
}

/// The policy for APIs without a `cors` plugin.
static PERMISSIVE_CORS: std::sync::LazyLock<Cors> = std::sync::LazyLock::new(Cors::permissive);

impl<'a> Preflight<'a> {
    fn of(req: &'a Request<Incoming>) -> Option<Preflight<'a>> {
        if req.method() != Method::OPTIONS {
            return None;
        }
        let h = req.headers();
        Some(Preflight {
            origin: h.get(header::ORIGIN)?.to_str().ok()?,
            method: h
                .get(header::ACCESS_CONTROL_REQUEST_METHOD)?
                .to_str()
                .ok()?,
            headers: h
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .and_then(|v| v.to_str().ok()),
        })
    }

    /// `I404CO` when no API serves the requested method there, `A403CO` for an origin the
    /// policy refuses, else 200 with the policy's headers.
    fn answer(
        &self,
        router: &crate::router::Router<Arc<CompiledApi>>,
        segments: &[&str],
        path: &str,
    ) -> Result<Response<GwBody>, Reject> {
        let method = Method::from_bytes(self.method.trim().as_bytes())
            .map_err(|_| Reject::new(&codes::I404CO, &[self.method, path]))?;
        let found = router
            .find(&method, segments)
            .ok_or_else(|| Reject::new(&codes::I404CO, &[self.method, path]))?;
        let policy = found.value.cors.as_deref().unwrap_or(&PERMISSIVE_CORS);
        if !policy.origin_allowed(self.origin) {
            return Err(Reject::new(&codes::A403CO, &[self.origin]));
        }
        let mut resp = Response::new(GwBody::empty());
        *resp.headers_mut() = policy.preflight_headers(self.origin, self.headers);
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        Ok(resp)
    }
}

/// The CORS headers of an API's `cors` plugin on an actual response to an allowed origin.
fn decorate_cors(api: &CompiledApi, origin: &HeaderValue, headers: &mut HeaderMap) {
    let (Some(cors), Ok(origin)) = (&api.cors, origin.to_str()) else {
        return;
    };
    if cors.origin_allowed(origin) {
        cors.decorate(origin, headers);
    }
}

/// One request on its way through the phases: what routing found, and what each phase adds.
struct Ctx<'r> {
    conn: &'r ConnInfo,
    request_id: &'r HeaderValue,
    api: Arc<CompiledApi>,
    parts: http::request::Parts,
    body: ReqBody,
    /// Segment indexes of the `[param]` captures, and where a prefix route's rest starts.
    captures: Captures,
    rest_from: Option<usize>,
    limits: GroupLimits,
    /// Apps and their keys, for APIs that authenticate.
    credentials: Option<Arc<Credentials>>,
    /// The client IP the `ipControl` plugin judges.
    client_ip: Option<std::net::IpAddr>,
    caller: Option<auth::Caller>,
    /// What the parameter phase mapped.
    mapped: Option<Mapped>,
    /// The `caching` plugin stores the answer under this key.
    cache_key: Option<String>,
    /// The route the `routing` plugin chose (index into the API's compiled routes).
    route: Option<usize>,
    /// A WebSocket upgrade the client asked for, granted if the backend switches protocols.
    upgrade: Option<websocket::ClientUpgrade>,
    /// `traceparent`/`tracestate` naming the request's span as the backend's parent (traces
    /// on).
    trace_headers: Option<Box<HeaderMap>>,
}

impl Ctx<'_> {
    /// The path parameters by front-end name, for plugin expressions.
    fn path_params<'a>(&'a self, segments: &[&'a str]) -> Vec<(&'a str, &'a str)> {
        self.api
            .path_params
            .iter()
            .zip(self.captures.iter())
            .filter_map(|(n, &i)| segments.get(i as usize).map(|v| (&**n, *v)))
            .collect()
    }
}

/// What routing found: an API to run the phases for, or an answer already (a preflight).
enum Routed<'r> {
    Api(Box<Ctx<'r>>),
    Answered(Response<GwBody>),
}

/// A request counted in flight on a worker until dropped.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A panic inside the pipeline: logged with the request id, answered `X500ER`.
fn internal_error(request_id: &HeaderValue, panic: &(dyn std::any::Any + Send)) -> Reject {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(target: "apigw::error", request_id = request_id.to_str().unwrap_or(""), "internal error while serving a request: {what}");
    Reject::new(&codes::X500ER, &[]).because(Cause::Gateway)
}

/// Reads the request body into memory (up to `limit`), once.
async fn buffer_body(body: &mut ReqBody, config: &crate::GatewayConfig) -> Result<(), Reject> {
    if let ReqBody::Incoming(_) = body {
        let taken = std::mem::replace(body, ReqBody::Buffered(Bytes::new()));
        if let ReqBody::Incoming(incoming) = taken {
            let bytes = read_body(incoming, config.max_body_bytes, config.client_body_timeout);
            *body = ReqBody::Buffered(bytes.await?);
        }
    }
    Ok(())
}

/// Largest response body the response phase reads to evaluate `BodyJsonField` variables.
const MAX_JSON_BODY: u64 = 1024 * 1024;

/// The response's body as JSON, when its declared length is at most [`MAX_JSON_BODY`]
/// (otherwise, or when it is not JSON, body fields are null); the body is handed back.
async fn read_json_body(
    resp: Response<GwBody>,
) -> (http::response::Parts, Option<serde_json::Value>, GwBody) {
    use http_body::Body as _;
    let (parts, body) = resp.into_parts();
    let small = body.size_hint().upper().is_some_and(|n| n <= MAX_JSON_BODY);
    if !small {
        return (parts, None, body);
    }
    match body.collect().await {
        Ok(c) => {
            let bytes = c.to_bytes();
            let json = serde_json::from_slice(&bytes).ok();
            (parts, json, GwBody::full(bytes))
        }
        Err(_) => (parts, None, GwBody::empty()),
    }
}

/// True when transformer operations act on form fields.
fn ops_touch_form(ops: &[apigw_plugin::transformer::RequestOp]) -> bool {
    use apigw_plugin::transformer::RequestOp;
    ops.iter().any(|op| {
        let location = match op {
            RequestOp::AddIfAbsent { location, .. }
            | RequestOp::Put { location, .. }
            | RequestOp::Remove { location, .. } => location,
        };
        *location == apigw_plugin::ParamLocation::Form
    })
}

/// The fields of a form body (read into memory), so the transformer can change them; `None`
/// when the body is not a form.
async fn read_form_fields(
    body: &mut ReqBody,
    headers: &HeaderMap,
    worker: &Worker,
) -> Result<Option<Vec<(String, String)>>, Reject> {
    if !apigw_signature::is_form_content_type(headers) {
        return Ok(None);
    }
    worker.buffer_body(body).await?;
    let ReqBody::Buffered(bytes) = &*body else {
        return Ok(None);
    };
    Ok(Some(
        form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    ))
}

/// The flow limits of the group a request reached.
struct GroupLimits {
    group_id: Arc<str>,
    /// `TrafficLimit` (requests per second).
    qps: Option<u32>,
    /// The host name, when the request came through the group's default sub-domain.
    default_domain: Option<String>,
}

thread_local! {
    static INSTANCE_SCOPE: Arc<str> = Arc::from("instance");
}

/// The headers forwarded in the mapping modes: MAPPING keeps only the standard ones,
/// MAPPING_PASSTHROUGH every undeclared one; both drop the gateway's authentication headers
/// and the declared HEAD parameters (they travel under their mapped names).
fn mapping_headers(headers: HeaderMap, plan: &ParamPlan) -> HeaderMap {
    let keep_all = plan.mode == RequestMode::MappingPassthrough;
    let mut kept = HeaderMap::with_capacity(headers.len());
    let mut last: Option<HeaderName> = None;
    for (name, value) in headers {
        let name = match name {
            Some(n) => {
                last = Some(n.clone());
                n
            }
            None => match &last {
                Some(n) => n.clone(),
                None => continue,
            },
        };
        let keep = (keep_all || crate::params::mapping_keeps_header(&name))
            && !crate::params::is_gateway_auth_header(&name, &value)
            && !plan.declared_headers().any(|d| *d == name);
        if keep {
            kept.append(name, value);
        }
    }
    kept
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes()
            .get(..10)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"multipart/"))
    })
}

/// Parse-stage checks: method, URL size, header size, Content-Type, declared body size.
fn check_limits(req: &Request<Incoming>, config: &crate::GatewayConfig) -> Result<(), Reject> {
    if !METHODS.contains(req.method()) {
        return Err(Reject::new(&codes::I405UM, &[req.method().as_str()]));
    }
    let target_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target_len > config.max_url_bytes {
        return Err(Reject::new(&codes::I413UL, &[]));
    }
    let path = req.uri().path();
    if !path.starts_with('/') || has_bad_escape(path) {
        return Err(Reject::new(&codes::I400PA, &[path]));
    }
    if path_guard::dot_segment(path).is_some() {
        let reason = format!("{path}: dot-segment (. or ..) not allowed");
        return Err(Reject::new(&codes::I400PA, &[&reason]));
    }
    let mut header_bytes = 0;
    for (name, value) in req.headers() {
        header_bytes += name.as_str().len() + value.len() + 4;
        if header_bytes > config.max_header_bytes {
            let why = format!(
                "exceeds the {} bytes allowed for all headers",
                config.max_header_bytes
            );
            return Err(Reject::new(&codes::I400HD, &[name.as_str(), &why]));
        }
    }
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        if !valid_content_type(ct.as_bytes()) {
            return Err(Reject::new(
                &codes::I400CT,
                &[&String::from_utf8_lossy(ct.as_bytes())],
            ));
        }
    }
    if let Some(len) = req.headers().get(header::CONTENT_LENGTH) {
        let len: u64 = std::str::from_utf8(len.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| Reject::new(&codes::I400HD, &["Content-Length", "is not a number"]))?;
        if len > config.max_body_bytes {
            return Err(Reject::new(&codes::I413RL, &[]));
        }
    }
    Ok(())
}

/// `%` not followed by two hex digits.
fn has_bad_escape(path: &str) -> bool {
    let b = path.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b'%'
            && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// `type/subtype` (tokens), optionally followed by `;` parameters.
fn valid_content_type(v: &[u8]) -> bool {
    let media = v.split(|&b| b == b';').next().unwrap_or(b"");
    let media = media.trim_ascii();
    let mut halves = media.splitn(2, |&b| b == b'/');
    let (Some(t), Some(s)) = (halves.next(), halves.next()) else {
        return false;
    };
    let token = |x: &[u8]| {
        !x.is_empty()
            && x.iter()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-*'`|~".contains(b))
    };
    token(t) && token(s)
}

/// The host name the client asked for: the URI authority (HTTP/2, absolute form) or `Host`,
/// without the port, lower-cased.
///
/// An ambiguous host is refused `I400HD` rather than resolved one way (a proxy in front may
/// have resolved it the other way): more than one `Host` header, or a `Host` naming another
/// host than the authority of the request target (absolute form, HTTP/2 `:authority`).
fn request_host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Result<Cow<'a, str>, Reject> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host_header = hosts.next();
    if hosts.next().is_some() {
        return Err(Reject::new(
            &codes::I400HD,
            &["Host", "appears more than once"],
        ));
    }
    let host_header = host_header
        .map(|v| {
            v.to_str()
                .map(strip_port)
                .map_err(|_| Reject::new(&codes::I400HD, &["Host", "is not ASCII"]))
        })
        .transpose()?;
    let raw = match (uri.host(), host_header) {
        (Some(h), Some(named)) if !same_host(h, named) => {
            return Err(Reject::new(
                &codes::I400HD,
                &["Host", "does not match the request target"],
            ));
        }
        (Some(h), _) => h,
        (None, Some(named)) => named,
        (None, None) => return Err(Reject::new(&codes::I400MH, &["Host"])),
    };
    let raw = raw.trim_end_matches('.');
    if raw.bytes().any(|b| b.is_ascii_uppercase()) {
        Ok(Cow::Owned(raw.to_ascii_lowercase()))
    } else {
        Ok(Cow::Borrowed(raw))
    }
}

/// Whether the request target's host (`[…]` around IPv6) and the `Host` header's (port
/// stripped) name the same host: case and a trailing dot aside.
fn same_host(target: &str, named: &str) -> bool {
    let target = target.strip_prefix('[').unwrap_or(target);
    let target = target.strip_suffix(']').unwrap_or(target);
    target
        .trim_end_matches('.')
        .eq_ignore_ascii_case(named.trim_end_matches('.'))
}

fn strip_port(host: &str) -> &str {
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn check_protocol(api: &CompiledApi, tls: bool, web_socket: bool) -> Result<(), Reject> {
    if web_socket {
        let (plain, secure) = api.allow_ws;
        return match if tls { secure } else { plain } {
            true => Ok(()),
            false => Err(Reject::new(&codes::I403PT, &["WebSocket"])),
        };
    }
    match (tls, api.allow_http, api.allow_https) {
        (false, false, _) => Err(Reject::new(&codes::I403PT, &["HTTP"])),
        (true, _, false) => Err(Reject::new(&codes::I403PT, &["HTTPS"])),
        _ => Ok(()),
    }
}

/// The backend path and query for a matched request, in one allocation.
///
/// Every piece of path text that comes from the request passes `path_guard` here, once: the
/// whole path (no `ServicePath`), a capture, a prefix route's rest, a mapped PATH parameter.
/// A dot-segment, an encoded `/` or a `\` in any of them is `I400PA` (docs/operations.md, "Paths").
fn backend_target(
    b: &HttpBackend,
    path: &str,
    query: Option<&str>,
    segments: &[&str],
    captures: &Captures,
    rest_from: Option<usize>,
    named: &[(std::sync::Arc<str>, PathValue)],
) -> Result<String, Reject> {
    let refuse = |why: &str| {
        let reason = format!("{path}: {why} in the path sent to the backend");
        Reject::new(&codes::I400PA, &[&reason])
    };
    let guard = |text: &str| match path_guard::unsafe_text(text) {
        Some(why) => Err(refuse(why)),
        None => Ok(()),
    };
    let mut out = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1) + 32);
    match &b.path {
        BackendPath::SameAsRequest => {
            guard(path)?;
            out.push_str(path);
        }
        BackendPath::Template { parts, append_rest } => {
            for p in parts {
                match p {
                    PathPart::Text(t) => out.push_str(t),
                    PathPart::Capture(i) => {
                        if let Some(&seg) = captures.get(*i) {
                            let seg = segments[seg as usize];
                            guard(seg)?;
                            out.push_str(seg);
                        }
                    }
                    PathPart::Named(n) => match named.iter().find(|(k, _)| **k == **n) {
                        Some((_, PathValue::Raw(v))) => {
                            guard(v)?;
                            out.push_str(v);
                        }
                        Some((_, PathValue::Encoded(v))) => {
                            if path_guard::is_dot_segment(v) {
                                return Err(refuse("a parameter value that is . or .."));
                            }
                            out.push_str(v);
                        }
                        None => {}
                    },
                }
            }
            if *append_rest {
                if let Some(from) = rest_from {
                    for seg in &segments[from..] {
                        guard(seg)?;
                        out.push('/');
                        out.push_str(seg);
                    }
                }
            }
            if out.is_empty() {
                out.push('/');
            }
        }
    }
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

/// The body to send upstream: streamed when its length is declared (already checked against
/// the limit), read fully (up to the limit) when chunked, so that an oversized body is refused
/// before the backend sees any of it.
/// A streamed body gets the client-body idle timeout; its progress tells the backend timeout
/// whose turn it is.
async fn request_body(
    headers: &HeaderMap,
    incoming: Incoming,
    limit: u64,
    idle: Duration,
) -> Result<(GwBody, Option<Arc<UploadProgress>>), Reject> {
    use http_body::Body as _;
    if incoming.is_end_stream() {
        return Ok((GwBody::Stream(incoming), None));
    }
    if headers.contains_key(header::CONTENT_LENGTH) {
        let (upload, progress) = Upload::new(incoming, idle);
        return Ok((GwBody::Upload(Box::new(upload)), Some(progress)));
    }
    Ok((GwBody::full(read_body(incoming, limit, idle).await?), None))
}

/// A request body as it arrived, or read into memory by the authentication phase.
enum ReqBody {
    Incoming(Incoming),
    Buffered(Bytes),
}

/// Reads a whole body, up to `limit` bytes (`I413RL` beyond), the client sending some data
/// at least every `idle` (`I400BD` otherwise).
async fn read_body(incoming: Incoming, limit: u64, idle: Duration) -> Result<Bytes, Reject> {
    let (upload, _) = Upload::new(incoming, idle);
    let collected = Limited::new(upload, limit as usize)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Reject::new(&codes::I413RL, &[])
            } else if let Some(client) = e.downcast_ref::<ClientBodyError>() {
                Reject::new(&codes::I400BD, &[&client.to_string()])
            } else {
                Reject::new(&codes::I400BD, &[&e.to_string()])
            }
        })?;
    Ok(collected.to_bytes())
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Removes every `name=...` pair from the query of a path-and-query string.
fn strip_query_param(target: &mut String, name: &str) {
    let Some(q) = target.find('?') else {
        return;
    };
    let kept: Vec<&str> = target[q + 1..]
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or("");
            form_urlencoded::parse(key.as_bytes())
                .next()
                .is_none_or(|(k, _)| k != name)
        })
        .collect();
    let rebuilt = kept.join("&");
    target.truncate(q);
    if !rebuilt.is_empty() {
        target.push('?');
        target.push_str(&rebuilt);
    }
}

/// Appends `name=value` pairs (form-encoded) to the query of a path-and-query string.
fn append_query(target: &mut String, pairs: &[(String, String)]) {
    for (name, value) in pairs {
        target.push(if target.contains('?') { '&' } else { '?' });
        let encoded: String = form_urlencoded::Serializer::new(String::new())
            .append_pair(name, value)
            .finish();
        target.push_str(&encoded);
    }
}

/// Hop-by-hop headers, which are never forwarded.
fn is_hop_header(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TE
        || name == header::TRAILER
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
}

/// A gateway-made answer (its error code set) that is no gRPC answer yet.
fn is_refusal(resp: &Response<GwBody>) -> bool {
    let h = resp.headers();
    h.contains_key(&X_CA_ERROR_CODE) && !h.contains_key("grpc-status")
}

/// Whether the client's `TE` names `trailers` (gRPC sends `te: trailers`).
fn asks_for_trailers(h: &HeaderMap) -> bool {
    h.get_all(header::TE)
        .iter()
        .any(|v| contains_token(v.as_bytes(), b"trailers"))
}

fn strip_hop_headers(h: &mut HeaderMap) {
    // One cheap pass; the removals (which hash every name) only when there is something to do.
    if !h.keys().any(is_hop_header) {
        return;
    }
    if let Some(conn) = h.remove(header::CONNECTION) {
        // Headers named in Connection are hop-by-hop too.
        if let Ok(list) = conn.to_str() {
            for name in list.split(',') {
                if let Ok(n) = HeaderName::from_bytes(name.trim().as_bytes()) {
                    h.remove(n);
                }
            }
        }
    }
    for name in [
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &header::TE,
        &header::TRAILER,
        &header::TRANSFER_ENCODING,
        &header::UPGRADE,
    ] {
        h.remove(name);
    }
}

/// The request's span becomes the backend's parent: the caller's `traceparent` and
/// `tracestate` are replaced.
fn propagate(headers: &mut HeaderMap, trace_headers: &HeaderMap) {
    headers.remove(&TRACESTATE);
    for (name, value) in trace_headers {
        headers.insert(name.clone(), value.clone());
    }
}

fn append_forwarded_for(h: &mut HeaderMap, conn: &ConnInfo) {
    append_to_list(h, &X_FORWARDED_FOR, &conn.peer_ip);
}

fn append_via(h: &mut HeaderMap, node: &HeaderValue) {
    append_to_list(h, &X_CA_VIA, node);
}

/// Adds `value` to a comma-separated list header (set it when absent, without allocating).
fn append_to_list(h: &mut HeaderMap, name: &HeaderName, value: &HeaderValue) {
    match h.get(name) {
        None => {
            h.insert(name, value.clone());
        }
        Some(prev) => {
            let mut joined = prev.as_bytes().to_vec();
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(value.as_bytes());
            if let Ok(v) = HeaderValue::from_bytes(&joined) {
                h.insert(name, v);
            }
        }
    }
}

fn contains_token(list: &[u8], token: &[u8]) -> bool {
    list.split(|&b| b == b',').any(|t| t.trim_ascii() == token)
}

fn mock_response(mock: &MockResponse) -> Response<GwBody> {
    fixed_response(mock.status, &mock.headers, &mock.body)
}

/// A stored answer (mock, downgrade mock, cache entry) as a response.
fn fixed_response(status: StatusCode, headers: &HeaderMap, body: &Bytes) -> Response<GwBody> {
    let mut resp = Response::new(GwBody::full(body.clone()));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers.clone();
    resp
}

/// Compresses the response when the spec's three conditions hold (the client's acceptance was
/// checked by the caller).
async fn maybe_gzip(resp: Response<GwBody>) -> Result<Response<GwBody>, Reject> {
    use http_body::Body as _;
    let no_body = matches!(
        resp.status(),
        StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
    ) || resp.status().is_informational();
    if no_body || !compress::compressible(resp.headers()) {
        return Ok(resp);
    }
    let (mut parts, mut body) = resp.into_parts();
    let prefix = match body.size_hint().exact() {
        Some(len) if len as usize <= compress::MIN_SIZE => {
            return Ok(Response::from_parts(parts, body))
        }
        Some(_) => Bytes::new(),
        // Unknown length: read just enough to know whether it is over the minimum.
        None => {
            let mut head = bytes::BytesMut::new();
            while head.len() <= compress::MIN_SIZE {
                match body.frame().await {
                    None => {
                        parts
                            .headers
                            .insert(header::CONTENT_LENGTH, HeaderValue::from(head.len()));
                        return Ok(Response::from_parts(parts, GwBody::full(head.freeze())));
                    }
                    Some(Err(e)) => {
                        return Err(Reject::new(
                            &codes::D504CO,
                            &[&format!("reading the response: {e}")],
                        )
                        .because(Cause::Backend(BackendFailure::Connect)))
                    }
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            head.extend_from_slice(&data);
                        }
                    }
                }
            }
            head.freeze()
        }
    };
    // Compressed as it flows: the length is not known in advance.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    let zipped = crate::body::GzipStream::new(prefix, body);
    Ok(Response::from_parts(parts, GwBody::Gzip(Box::new(zipped))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(valid_content_type(b"application/json"));
        assert!(valid_content_type(b"text/plain; charset=utf-8"));
        assert!(!valid_content_type(b"json"));
        assert!(!valid_content_type(b"text/"));
        assert!(!valid_content_type(b"a b/c"));
    }

    #[test]
    fn bad_escapes() {
        assert!(!has_bad_escape("/a%20b"));
        assert!(has_bad_escape("/a%2"));
        assert!(has_bad_escape("/a%zz"));
    }

    fn http_backend(parts: Vec<PathPart>, append_rest: bool) -> HttpBackend {
        HttpBackend {
            scheme: http::uri::Scheme::HTTP,
            authority: http::uri::Authority::from_static("127.0.0.1:9"),
            host: HeaderValue::from_static("127.0.0.1:9"),
            h2c: false,
            path: BackendPath::Template { parts, append_rest },
            method: None,
            timeout: Duration::from_secs(1),
            content_type: ContentTypePolicy::Client,
        }
    }

    #[test]
    fn backend_paths_never_carry_a_separator_or_dot_segment_from_the_request() {
        let text = |t: &str| PathPart::Text(t.into());
        // `/pub/*` → `/public/*`: the rest.
        let prefix = http_backend(vec![text("/public")], true);
        let rest = |path: &str| {
            let segments = split_path(path);
            backend_target(
                &prefix,
                path,
                None,
                &segments,
                &Captures::new(),
                Some(1),
                &[],
            )
        };
        assert_eq!(rest("/pub/a/b.txt").unwrap(), "/public/a/b.txt");
        for bad in [
            "/pub/..%2fprivate%2fs.txt",
            "/pub/a/%2e%2e",
            "/pub/a%5cb",
            "/pub/a\\b",
        ] {
            let e = rest(bad).unwrap_err();
            assert_eq!(e.code.code, "I400PA", "{bad}");
        }
        // `/files/[name]` → `/public/[name]`: a capture.
        let capture = http_backend(vec![text("/public/"), PathPart::Capture(0)], false);
        let one = |path: &str| {
            let segments = split_path(path);
            let captures: Captures = [1u16].into_iter().collect();
            backend_target(&capture, path, Some("q=1"), &segments, &captures, None, &[])
        };
        assert_eq!(one("/files/a%20b.txt").unwrap(), "/public/a%20b.txt?q=1");
        assert!(one("/files/%2e%2e%2fprivate%2fs.txt").is_err());
        assert!(one("/files/..").is_err());
        // A mapped PATH parameter: raw request text is checked, an encoded value only for a
        // whole dot-segment (its `/` is `%2F`, one segment by construction).
        let named = http_backend(vec![text("/public/"), PathPart::Named("n".into())], false);
        let mapped = |v: PathValue| {
            backend_target(
                &named,
                "/m",
                None,
                &["m"],
                &Captures::new(),
                None,
                &[("n".into(), v)],
            )
        };
        assert_eq!(
            mapped(PathValue::Encoded("..%2Fx".into())).unwrap(),
            "/public/..%2Fx"
        );
        assert!(mapped(PathValue::Encoded("..".into())).is_err());
        assert!(mapped(PathValue::Encoded(".".into())).is_err());
        assert!(mapped(PathValue::Raw("a%2Fb".into())).is_err());
        assert_eq!(mapped(PathValue::Raw("a.b".into())).unwrap(), "/public/a.b");
        // No ServicePath: the request path itself.
        let same = HttpBackend {
            path: BackendPath::SameAsRequest,
            ..http_backend(vec![], false)
        };
        let whole = |path: &str| {
            backend_target(
                &same,
                path,
                None,
                &split_path(path),
                &Captures::new(),
                None,
                &[],
            )
        };
        assert_eq!(whole("/pass/x.txt").unwrap(), "/pass/x.txt");
        assert!(whole("/pass/..%2Fetc").is_err());
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("localhost:8080"), "localhost");
        assert_eq!(strip_port("localhost"), "localhost");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }

    #[test]
    fn control_characters_never_reach_a_header() {
        assert_eq!(header_text("a\r\nb").to_str().unwrap(), "a  b");
    }
}
