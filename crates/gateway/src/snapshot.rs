//! The immutable, compiled view of what is live: host → group, (stage, method, path) → API,
//! domain → certificate. Built off the request path from the store's [`LiveConfig`] and
//! swapped in atomically; requests only ever read it.

use crate::auth::{AppCodeMode, AuthPolicy, Credentials, JwtPlugin};
use crate::backend_sign::BackendSigner;
use crate::breaker::{Breaker, BreakerConfig};
use crate::cache::CachePolicy;
use crate::cors::Cors;
use crate::openid::{OpenIdKeys, OpenIdPolicy};
use crate::params::ParamPlan;
use crate::plugin_phase::{AccessControl, ErrorMapping, RouteBackend, Routing, Transformer};
use crate::request_metrics::ApiMetrics;
use crate::router::{MethodMatch, PatternSegment, Router};
use crate::traffic::{TrafficDoc, TrafficPolicy};
use crate::GatewayConfig;
use ahash::AHashMap;
use apigw_model::backend_address::BackendPolicy;
use apigw_model::params::Parameters;
use apigw_model::service::{resolve, Resolved, Targets, Unresolved};
use apigw_model::{Deployment, PathPattern, Plugin, Segment, Stage};
use apigw_store::LiveConfig;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, Method, StatusCode};
use rustls::sign::CertifiedKey;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Where a host name leads.
#[derive(Debug, Clone, Copy)]
pub struct HostEntry {
    pub group: usize,
    /// A domain bound to one stage forces it (and `X-Ca-Stage` is ignored).
    pub bind_stage: Option<Stage>,
    /// The group's default sub-domain (daily quota, `T429ID`).
    pub default_domain: bool,
    /// WebSocket upgrades taken on this host (always on a default sub-domain).
    pub web_socket: apigw_model::WebSocketStatus,
}

pub struct GroupRoutes {
    pub group_id: Arc<str>,
    pub group_name: Arc<str>,
    /// The group's QPS cap (`TrafficLimit`, `T429GR`).
    pub traffic_limit: Option<u32>,
    /// Shared with the previous snapshot when nothing in that group and stage changed.
    stages: [Arc<Router<Arc<CompiledApi>>>; 3],
    /// How many deployed APIs each stage's router was built from (some may not be served).
    deployed: [usize; 3],
}

impl GroupRoutes {
    pub fn router(&self, stage: Stage) -> &Router<Arc<CompiledApi>> {
        &self.stages[stage.index()]
    }
}

/// An API as deployed in one stage, ready to serve.
#[derive(Debug)]
pub struct CompiledApi {
    pub api_id: Box<str>,
    pub api_name: Box<str>,
    pub group_id: Arc<str>,
    pub stage: Stage,
    pub version: Box<str>,
    pub allow_http: bool,
    pub allow_https: bool,
    /// WebSocket upgrades taken: (plain, TLS), from `RequestProtocol`.
    pub allow_ws: (bool, bool),
    pub auth: AuthPolicy,
    /// A bound plugin whose document cannot run: the API answers this error instead of
    /// running without it (fail closed).
    pub plugin_fault: Option<PluginFault>,
    /// A bound `ipControl` plugin.
    pub ip_control: Option<Arc<crate::ipcontrol::IpControl>>,
    /// Parameter validation and mapping; `None` when the API forwards everything as is.
    pub params: Option<ParamPlan>,
    /// A bound `backendSignature` plugin.
    pub backend_signer: Option<Arc<BackendSigner>>,
    /// A bound `trafficControl` plugin.
    pub traffic: Option<TrafficPolicy>,
    /// A bound `cors` plugin.
    pub cors: Option<Arc<Cors>>,
    /// A bound `caching` plugin.
    pub cache: Option<Arc<CachePolicy>>,
    /// `<ApiId>/<Stage>`: names this API's counters and cache entries.
    pub scope: Arc<str>,
    /// A bound `accessControl` plugin.
    pub access_control: Option<Arc<AccessControl>>,
    /// A bound `routing` plugin, with each route's backend compiled.
    pub routing: Option<Arc<CompiledRouting>>,
    /// A bound `transformer` plugin.
    pub transformer: Option<Arc<Transformer>>,
    /// A bound `errorMapping` plugin.
    pub error_mapping: Option<Arc<ErrorMapping>>,
    /// The names of the request path's `[param]`s, in capture order.
    pub path_params: Box<[Box<str>]>,
    /// The circuit breaker (a bound `circuitBreaker` plugin's, or the default one).
    pub breaker: Arc<Breaker>,
    /// The breaker's `type: http` downgrade backend, called while it is open.
    pub downgrade: Option<HttpBackend>,
    pub backend: Backend,
    /// The API belongs to the root account: its backends may be loopback or private.
    pub root: bool,
    /// Its series on `/metrics` (kept across recompiles of the same API and stage).
    pub metrics: Arc<ApiMetrics>,
}

/// A `routing` plugin with the backend of each route ready to call.
#[derive(Debug)]
pub struct CompiledRouting {
    pub doc: Arc<Routing>,
    /// Per route, in the document's order.
    pub routes: Vec<RouteTarget>,
}

/// Where a chosen route sends the request.
#[derive(Debug)]
pub struct RouteTarget {
    /// `X-Ca-Routing-Name`.
    pub name: HeaderValue,
    pub backend: Backend,
    /// Constant parameters: headers, and query pairs.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub query: Vec<(String, String)>,
}

/// Why an API fails closed: a bound plugin whose document cannot run; the error it answers.
#[derive(Debug)]
pub struct PluginFault {
    pub code: &'static apigw_model::codes::ErrorCode,
    pub message: Box<str>,
}

#[derive(Debug)]
pub enum Backend {
    Http(HttpBackend),
    Mock(MockResponse),
    /// The stored definition could not be compiled: answers `X500AM`.
    Broken(String),
    /// The backend address names an address this API may not reach (the operator's policy,
    /// checked again here in case it reached the data plane): answers `D504IL`.
    Refused {
        host: Box<str>,
        ip: Box<str>,
    },
    /// The backend is a VPC access that does not exist (`X504VE`) or a backend service
    /// without a model for the stage (`I404SR`, with the reason).
    Unavailable {
        code: &'static apigw_model::codes::ErrorCode,
        reason: Box<str>,
    },
}

#[derive(Debug)]
pub struct HttpBackend {
    pub scheme: Scheme,
    pub authority: Authority,
    /// The `Host` header sent to the backend.
    pub host: HeaderValue,
    /// `h2c://`: HTTP/2 with prior knowledge over plain TCP (the scheme is then `http`).
    pub h2c: bool,
    pub path: BackendPath,
    pub method: Option<Method>,
    pub timeout: Duration,
    /// `ContentTypeCatagory`.
    pub content_type: ContentTypePolicy,
}

/// The backend request's `Content-Type`.
#[derive(Debug)]
pub enum ContentTypePolicy {
    /// The client's, or the form type for a body the gateway builds (`DEFAULT`, `CLIENT`).
    Client,
    /// Always this value (`CUSTOM` with `ContentTypeValue`).
    Custom(HeaderValue),
}

#[derive(Debug)]
pub enum BackendPath {
    /// No `ServicePath`: the request path as received.
    SameAsRequest,
    /// `ServicePath` with literal text and captured `[param]`s (capture index); for prefix
    /// routes the unmatched rest of the request path is appended.
    Template {
        parts: Vec<PathPart>,
        append_rest: bool,
    },
}

#[derive(Debug, Clone)]
pub enum PathPart {
    Text(Box<str>),
    Capture(usize),
    /// A backend PATH parameter filled by the parameter phase.
    Named(Box<str>),
}

#[derive(Debug)]
pub struct MockResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub type CertMap = AHashMap<Box<str>, Arc<CertifiedKey>>;

pub struct Snapshot {
    pub generation: u64,
    hosts: AHashMap<Box<str>, HostEntry>,
    /// `api.example.com` for a bound `*.api.example.com`.
    wildcards: AHashMap<Box<str>, HostEntry>,
    pub groups: Vec<GroupRoutes>,
    pub certs: CertMap,
    /// Enabled apps by AppKey and AppCode.
    pub credentials: Arc<Credentials>,
    /// Problems met while compiling (logged by the reloader).
    pub warnings: Vec<String>,
    /// Every deployed API by (API id, stage), with what it was compiled from.
    apis: AHashMap<Arc<str>, [Option<Arc<CompiledEntry>>; 3]>,
    /// Parsed plugin documents by plugin id.
    plugins: AHashMap<Box<str>, Arc<ParsedPlugin>>,
    /// The public keys of the IDTOKEN (OpenID Connect) APIs, per group and stage.
    openid_keys: crate::openid::KeyMap,
}

impl Snapshot {
    pub fn empty() -> Snapshot {
        Snapshot {
            generation: 0,
            hosts: AHashMap::new(),
            wildcards: AHashMap::new(),
            groups: Vec::new(),
            certs: AHashMap::new(),
            credentials: Arc::default(),
            warnings: Vec::new(),
            apis: AHashMap::new(),
            plugins: AHashMap::new(),
            openid_keys: AHashMap::new(),
        }
    }

    /// The circuit breaker of an API deployed in a stage (`scope` is `<ApiId>/<Stage>`).
    pub fn breaker(&self, scope: &str) -> Option<Arc<crate::breaker::Breaker>> {
        let (api_id, stage) = scope.rsplit_once('/')?;
        let stage = apigw_model::Stage::parse(stage.as_bytes())?;
        let entry = self.apis.get(api_id)?[stage.index()].as_ref()?;
        let (api, _) = entry.compiled.as_ref().ok()?;
        Some(api.breaker.clone())
    }

    /// The group (and forced stage) serving `host` (lower-case, without port).
    pub fn host(&self, host: &str) -> Option<HostEntry> {
        if let Some(e) = self.hosts.get(host) {
            return Some(*e);
        }
        let (_, parent) = host.split_once('.')?;
        self.wildcards.get(parent).copied()
    }

    /// The certificate for an SNI name: exact, then wildcard.
    pub fn cert(&self, sni: &str) -> Option<Arc<CertifiedKey>> {
        if let Some(c) = self.certs.get(sni) {
            return Some(c.clone());
        }
        let (_, parent) = sni.split_once('.')?;
        self.certs.get(format!("*.{parent}").as_str()).cloned()
    }

    /// Every deployed API (in each stage) that compiled, routed or not.
    pub fn compiled_apis(&self) -> impl Iterator<Item = &Arc<CompiledApi>> {
        self.apis
            .values()
            .flatten()
            .flatten()
            .filter_map(|e| e.compiled.as_ref().ok().map(|(api, _)| api))
    }

    pub fn api_count(&self) -> usize {
        self.groups
            .iter()
            .map(|g| Stage::ALL.iter().map(|s| g.router(*s).len()).sum::<usize>())
            .sum()
    }

    /// Compiles the live configuration. Never fails: what cannot be compiled is reported in
    /// `warnings` (and an API whose stored definition is unusable answers `X500AM`).
    pub fn compile(live: &LiveConfig, config: &GatewayConfig) -> Snapshot {
        Snapshot::recompile(&Snapshot::empty(), live, config)
    }

    /// Compiles the live configuration reusing what `previous` compiled from the same inputs:
    /// a plugin whose document did not change is not parsed again, and an API whose
    /// deployment, bindings, grants and group (and, for an APPOPENID BUSINESS API, the keys of
    /// its group's IDTOKEN APIs in that stage) did not change keeps its compiled form, so a
    /// change costs what it changes: only the routing tables of a group and stage where an
    /// API changed are rebuilt. A circuit breaker (and its state) is kept while its
    /// configuration is the same.
    pub fn recompile(previous: &Snapshot, live: &LiveConfig, config: &GatewayConfig) -> Snapshot {
        let mut snap = Snapshot::empty();
        snap.generation = live.generation;
        let mut group_index = AHashMap::new();
        let mut base_paths = Vec::new();
        for g in &live.groups {
            group_index.insert(g.group_id.as_str(), snap.groups.len());
            let entry = HostEntry {
                group: snap.groups.len(),
                bind_stage: None,
                default_domain: true,
                web_socket: apigw_model::WebSocketStatus::OPEN,
            };
            snap.hosts.insert(
                g.sub_domain(&config.base_domain)
                    .to_ascii_lowercase()
                    .into(),
                entry,
            );
            base_paths.push(Arc::<str>::from(g.base_path.trim_end_matches('/')));
            snap.groups.push(GroupRoutes {
                group_id: g.group_id.as_str().into(),
                group_name: g.group_name.as_str().into(),
                traffic_limit: g.traffic_limit.filter(|l| *l > 0),
                stages: Default::default(),
                deployed: [0; 3],
            });
        }
        for d in &live.domains {
            let Some(&group) = group_index.get(d.group_id.as_str()) else {
                continue;
            };
            let entry = HostEntry {
                group,
                bind_stage: d.bind_stage_name,
                default_domain: false,
                web_socket: d.web_socket,
            };
            match d.domain_name.strip_prefix("*.") {
                Some(parent) => snap.wildcards.insert(parent.into(), entry),
                None => snap.hosts.insert(d.domain_name.as_str().into(), entry),
            };
            if let Some(c) = &d.certificate {
                match certified_key(&c.certificate_body, &c.certificate_private_key) {
                    Ok(key) => {
                        snap.certs
                            .insert(d.domain_name.as_str().into(), Arc::new(key));
                    }
                    Err(e) => snap.warnings.push(format!(
                        "domain {}: certificate not usable: {e}",
                        d.domain_name
                    )),
                }
            }
        }
        snap.credentials = Arc::new(Credentials::compile(&live.apps));
        snap.plugins = parse_plugins(&previous.plugins, &live.plugins);
        for p in snap.plugins.values() {
            if let Err(e) = &p.parsed {
                snap.warnings.push(format!(
                    "plugin {} ({}): {e}; the APIs it is bound to answer {} until it is fixed",
                    p.name,
                    p.id,
                    p.fault_code().code
                ));
            }
        }
        let extras = StageExtras::compile(live, &snap.plugins);
        snap.openid_keys = OpenIdKeys::collect(&live.deployments, &previous.openid_keys);
        for keys in snap.openid_keys.values() {
            snap.warnings.extend(keys.warnings.iter().cloned());
        }
        let variables = stage_variables(live);
        let default_breaker = Arc::new(BreakerConfig::default_config());
        let no_grants = AHashMap::new();
        // Per group and stage: the entries to route, and whether any differs from before.
        let mut routes: Vec<[(Vec<Arc<CompiledEntry>>, bool); 3]> =
            (0..snap.groups.len()).map(|_| Default::default()).collect();
        for dep in &live.deployments {
            let Some(&gi) = group_index.get(dep.group_id.as_str()) else {
                continue;
            };
            let stage = dep.stage_name.index();
            let (id, old) = match previous.apis.get_key_value(dep.api_id.as_str()) {
                Some((id, stages)) => (id.clone(), stages[stage].as_ref()),
                None => (Arc::from(dep.api_id.as_str()), None),
            };
            let key = (dep.api_id.as_str(), dep.stage_name);
            let bound = extras.bound.get(&key).cloned().unwrap_or_default();
            let breaker_config = bound.breaker.as_ref().map(|(_, c)| c.clone());
            let breaker = match old {
                Some(o)
                    if same(
                        &o.inputs.bound.breaker.as_ref().map(|(_, c)| c.clone()),
                        &breaker_config,
                    ) =>
                {
                    o.inputs.breaker.clone()
                }
                _ => Arc::new(Breaker::new(
                    breaker_config.unwrap_or_else(|| default_breaker.clone()),
                )),
            };
            // The API's series go on counting in its next compiled form.
            let metrics = match old {
                Some(o) if o.inputs.deployment.group_id == dep.group_id => o.inputs.metrics.clone(),
                _ => Arc::default(),
            };
            let owner = live.groups[gi].owner_id;
            let inputs = ApiInputs {
                target: resolve_target(live, &variables, dep, owner),
                metrics,
                deployment: dep.clone(),
                base_path: base_paths[gi].clone(),
                grants: extras.grants.get(&key).unwrap_or(&no_grants).clone(),
                bound,
                breaker,
                openid: OpenIdKeys::for_api(&snap.openid_keys, dep),
                root: live.groups[gi].owner_id == apigw_model::account::ROOT_ACCOUNT_ID,
            };
            let (entries, changed) = &mut routes[gi][stage];
            let entry = match old {
                Some(o) if o.inputs == inputs => o.clone(),
                _ => {
                    *changed = true;
                    Arc::new(CompiledEntry::compile(
                        inputs,
                        &snap.groups[gi].group_id,
                        &config.backend_policy,
                    ))
                }
            };
            entries.push(entry.clone());
            snap.apis.entry(id).or_default()[stage] = Some(entry);
        }
        let previous_groups: AHashMap<&str, &GroupRoutes> =
            previous.groups.iter().map(|g| (&*g.group_id, g)).collect();
        for (gi, stages) in routes.into_iter().enumerate() {
            let group = &mut snap.groups[gi];
            let before = previous_groups.get(&*group.group_id).copied();
            for (si, (entries, changed)) in stages.into_iter().enumerate() {
                group.deployed[si] = entries.len();
                match before {
                    Some(b) if !changed && b.deployed[si] == entries.len() => {
                        group.stages[si] = b.stages[si].clone();
                    }
                    _ => {
                        let mut router = Router::default();
                        for e in &entries {
                            if let Err(w) = e.route_into(&mut router) {
                                snap.warnings.push(w);
                            }
                        }
                        group.stages[si] = Arc::new(router);
                    }
                }
            }
        }
        snap
    }
}

/// What one API in one stage is compiled from. Equal inputs (the same objects: deployment,
/// plugins, breaker; equal grants and base path) compile to the same API.
#[derive(Clone)]
struct ApiInputs {
    deployment: Arc<Deployment>,
    base_path: Arc<str>,
    grants: AHashMap<i64, Option<i64>>,
    bound: Bound,
    breaker: Arc<Breaker>,
    /// An APPOPENID BUSINESS API's group keys (`None` for every other API).
    openid: Option<Arc<OpenIdKeys>>,
    /// The API's group belongs to the root account.
    root: bool,
    /// Where its backend resolves (VPC access, backend service, stage variables); `None` for
    /// a literal `ServiceAddress`.
    target: Option<Result<Resolved, Unresolved>>,
    /// The API's series on `/metrics`: carried over, never part of the comparison.
    metrics: Arc<ApiMetrics>,
}

impl PartialEq for ApiInputs {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.deployment, &other.deployment)
            && Arc::ptr_eq(&self.breaker, &other.breaker)
            && self.base_path == other.base_path
            && self.grants == other.grants
            && self.bound == other.bound
            && self.openid == other.openid
            && self.root == other.root
            && self.target == other.target
    }
}

/// An API's compiled form (or why it has none) and how it is routed.
struct CompiledEntry {
    inputs: ApiInputs,
    compiled: Result<(Arc<CompiledApi>, Arc<RouteKey>), String>,
}

/// Method and full path pattern (base path included) of a deployed API.
struct RouteKey {
    method: MethodMatch,
    /// Literal segments, `None` for a `[param]`.
    segments: Vec<Option<Box<str>>>,
    prefix: bool,
    /// `API name (id) in STAGE`, for messages.
    name: String,
}

impl CompiledEntry {
    fn compile(inputs: ApiInputs, group_id: &Arc<str>, policy: &BackendPolicy) -> CompiledEntry {
        let compiled = compile_api(&inputs, group_id, policy).map(|(a, r)| (a, Arc::new(r)));
        CompiledEntry { inputs, compiled }
    }

    fn route_into(&self, router: &mut Router<Arc<CompiledApi>>) -> Result<(), String> {
        let (api, route) = self.compiled.as_ref().map_err(|e| e.clone())?;
        let segments = route.segments.iter().map(|s| match s {
            Some(l) => PatternSegment::Literal(l),
            None => PatternSegment::Param,
        });
        router
            .insert(route.method.clone(), segments, route.prefix, api.clone())
            .map_err(|_| {
                format!(
                    "{}: same method and path as another deployed API; not served",
                    route.name
                )
            })
    }
}

/// A plugin document as parsed for this snapshot (kept while the document is unchanged).
pub struct ParsedPlugin {
    pub id: Box<str>,
    pub name: Box<str>,
    plugin_type: Box<str>,
    data: Box<str>,
    parsed: Result<PluginRuntime, String>,
}

impl ParsedPlugin {
    /// The answer of the APIs it is bound to while its document cannot run.
    fn fault(&self) -> PluginFault {
        let reason = self.parsed.as_ref().err().map(String::as_str).unwrap_or("");
        let code = self.fault_code();
        let message = if &*self.plugin_type == "jwtAuth" {
            code.message(&[&format!("{} ({reason})", self.name)])
        } else {
            code.message(&[&self.name, reason])
        };
        PluginFault {
            code,
            message: message.into(),
        }
    }

    /// The code the APIs it is bound to answer while its document cannot run.
    fn fault_code(&self) -> &'static apigw_model::codes::ErrorCode {
        if &*self.plugin_type == "jwtAuth" {
            &apigw_model::codes::I400JP
        } else {
            &apigw_model::codes::X400PM
        }
    }
}

/// A parsed plugin, ready to hand to the APIs it is bound to.
#[derive(Clone)]
enum PluginRuntime {
    Jwt(Arc<JwtPlugin>),
    Ip(Arc<crate::ipcontrol::IpControl>),
    Signer(Arc<BackendSigner>),
    Traffic(Arc<TrafficDoc>),
    Cors(Arc<Cors>),
    Caching(Arc<CachePolicy>),
    Breaker(Arc<str>, Arc<BreakerConfig>),
    Routing(Arc<Routing>),
    ErrorMapping(Arc<ErrorMapping>),
    AccessControl(Arc<AccessControl>),
    Transformer(Arc<Transformer>),
}

/// Parses a plugin with the one parser the control plane checked it with.
fn parse_plugin(p: &Plugin) -> Result<PluginRuntime, String> {
    use apigw_plugin::PluginDoc;
    let data = p.plugin_data.as_str();
    let doc = apigw_plugin::parse(&p.plugin_type, data).map_err(|e| e.to_string())?;
    Ok(match doc {
        PluginDoc::JwtAuth(config) => PluginRuntime::Jwt(Arc::new(JwtPlugin {
            plugin_id: p.plugin_id.as_str().into(),
            config,
        })),
        PluginDoc::IpControl(d) => PluginRuntime::Ip(Arc::new(d)),
        PluginDoc::TrafficControl(d) => PluginRuntime::Traffic(Arc::new(d)),
        PluginDoc::Cors(d) => PluginRuntime::Cors(Arc::new(d)),
        PluginDoc::Caching(d) => PluginRuntime::Caching(Arc::new(d)),
        PluginDoc::CircuitBreaker(d) => PluginRuntime::Breaker(data.into(), Arc::new(d)),
        PluginDoc::BackendSignature(_) => {
            PluginRuntime::Signer(Arc::new(BackendSigner::parse(data)?))
        }
        PluginDoc::Routing(d) => PluginRuntime::Routing(Arc::new(d)),
        PluginDoc::ErrorMapping(d) => PluginRuntime::ErrorMapping(Arc::new(d)),
        PluginDoc::AccessControl(d) => PluginRuntime::AccessControl(Arc::new(d)),
        PluginDoc::Transformer(d) => PluginRuntime::Transformer(Arc::new(d)),
    })
}

/// Parses every plugin, reusing the previous snapshot's result for unchanged documents.
fn parse_plugins(
    previous: &AHashMap<Box<str>, Arc<ParsedPlugin>>,
    plugins: &[Plugin],
) -> AHashMap<Box<str>, Arc<ParsedPlugin>> {
    plugins
        .iter()
        .map(|p| {
            let parsed = match previous.get(p.plugin_id.as_str()) {
                Some(old)
                    if *old.data == *p.plugin_data
                        && *old.plugin_type == *p.plugin_type
                        && *old.name == *p.plugin_name =>
                {
                    old.clone()
                }
                _ => Arc::new(ParsedPlugin {
                    id: p.plugin_id.as_str().into(),
                    name: p.plugin_name.as_str().into(),
                    plugin_type: p.plugin_type.as_str().into(),
                    data: p.plugin_data.as_str().into(),
                    parsed: parse_plugin(p),
                }),
            };
            (p.plugin_id.as_str().into(), parsed)
        })
        .collect()
}

/// The plugins bound to one API in one stage. A bound plugin whose document cannot run makes
/// the API fail closed (`fault`) rather than run without it.
#[derive(Clone, Default)]
struct Bound {
    jwt: Option<Arc<JwtPlugin>>,
    ip: Option<Arc<crate::ipcontrol::IpControl>>,
    signer: Option<Arc<BackendSigner>>,
    traffic: Option<Arc<TrafficDoc>>,
    cors: Option<Arc<Cors>>,
    caching: Option<Arc<CachePolicy>>,
    breaker: Option<(Arc<str>, Arc<BreakerConfig>)>,
    routing: Option<Arc<Routing>>,
    error_mapping: Option<Arc<ErrorMapping>>,
    access_control: Option<Arc<AccessControl>>,
    transformer: Option<Arc<Transformer>>,
    fault: Option<Arc<ParsedPlugin>>,
}

fn same<T: ?Sized>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

impl PartialEq for Bound {
    fn eq(&self, o: &Self) -> bool {
        same(&self.jwt, &o.jwt)
            && same(&self.ip, &o.ip)
            && same(&self.signer, &o.signer)
            && same(&self.traffic, &o.traffic)
            && same(&self.cors, &o.cors)
            && same(&self.caching, &o.caching)
            && same(
                &self.breaker.as_ref().map(|b| b.1.clone()),
                &o.breaker.as_ref().map(|b| b.1.clone()),
            )
            && same(&self.routing, &o.routing)
            && same(&self.error_mapping, &o.error_mapping)
            && same(&self.access_control, &o.access_control)
            && same(&self.transformer, &o.transformer)
            && same(&self.fault, &o.fault)
    }
}

impl Bound {
    fn add(&mut self, plugin: &Arc<ParsedPlugin>) {
        match &plugin.parsed {
            Err(_) => self.fault = Some(plugin.clone()),
            Ok(PluginRuntime::Jwt(p)) => self.jwt = Some(p.clone()),
            Ok(PluginRuntime::Ip(p)) => self.ip = Some(p.clone()),
            Ok(PluginRuntime::Signer(p)) => self.signer = Some(p.clone()),
            Ok(PluginRuntime::Traffic(p)) => self.traffic = Some(p.clone()),
            Ok(PluginRuntime::Cors(p)) => self.cors = Some(p.clone()),
            Ok(PluginRuntime::Caching(p)) => self.caching = Some(p.clone()),
            Ok(PluginRuntime::Breaker(doc, c)) => self.breaker = Some((doc.clone(), c.clone())),
            Ok(PluginRuntime::Routing(p)) => self.routing = Some(p.clone()),
            Ok(PluginRuntime::ErrorMapping(p)) => self.error_mapping = Some(p.clone()),
            Ok(PluginRuntime::AccessControl(p)) => self.access_control = Some(p.clone()),
            Ok(PluginRuntime::Transformer(p)) => self.transformer = Some(p.clone()),
        }
    }
}

/// What is bound to an API per stage outside its deployed definition: grants and plugins.
#[derive(Default)]
struct StageExtras<'a> {
    grants: AHashMap<(&'a str, Stage), AHashMap<i64, Option<i64>>>,
    bound: AHashMap<(&'a str, Stage), Bound>,
}

impl<'a> StageExtras<'a> {
    fn compile(
        live: &'a LiveConfig,
        plugins: &AHashMap<Box<str>, Arc<ParsedPlugin>>,
    ) -> StageExtras<'a> {
        let mut x = StageExtras::default();
        for g in &live.authorizations {
            x.grants
                .entry((g.api_id.as_str(), g.stage_name))
                .or_default()
                .insert(g.app_id, g.expires_at_ms());
        }
        for b in &live.plugin_bindings {
            if let Some(p) = plugins.get(b.plugin_id.as_str()) {
                x.bound
                    .entry((b.api_id.as_str(), b.stage_name))
                    .or_default()
                    .add(p);
            }
        }
        x
    }
}

/// Compiles one deployed API; `Err` when its method or path cannot be served at all.
fn compile_api(
    inputs: &ApiInputs,
    group_id: &Arc<str>,
    policy: &BackendPolicy,
) -> Result<(Arc<CompiledApi>, RouteKey), String> {
    let dep = &*inputs.deployment;
    let bound = &inputs.bound;
    let def = &dep.definition;
    let rc = &def.request_config;
    let name = format!(
        "API {} ({}) in {}",
        def.api_name, def.api_id, dep.stage_name
    );
    let pattern = PathPattern::parse(&rc.request_path, rc.escape_path_param)
        .map_err(|e| format!("{name}: {e}"))?;
    let method = match def.method().as_str() {
        "ANY" => MethodMatch::Any,
        m => {
            MethodMatch::One(Method::from_bytes(m.as_bytes()).map_err(|e| format!("{name}: {e}"))?)
        }
    };
    let (allow_http, allow_https) = def.protocols();
    let target = inputs.target.as_ref();
    let address = match target {
        Some(Ok(r)) => Some(r.address.as_str()),
        _ => def.service_config.service_address.as_deref(),
    };
    let (params, mut backend) = match compile_parameters(dep, &pattern) {
        Ok((plan, p)) => match compile_backend(dep, &pattern, &p, target) {
            Ok(b) => (plan, refused(b, address, policy, inputs.root)),
            Err(e) => (None, Backend::Broken(e)),
        },
        Err(e) => (None, Backend::Broken(e)),
    };
    let downgrade = match (&backend, inputs.breaker.config().downgrade()) {
        (Backend::Http(main), Some(d)) => match &d.http {
            Some((address, timeout)) => {
                let dg = downgrade_backend(address, *timeout, main)
                    .map_err(|e| format!("{name}: {e}"))?;
                // A downgrade the API may not reach refuses the API as a whole.
                if let Some(r) = policy.refusal(address, inputs.root) {
                    backend = refusal_backend(r);
                }
                Some(dg)
            }
            None => None,
        },
        _ => None,
    };
    let scope: Arc<str> = format!("{}/{}", def.api_id, dep.stage_name).into();
    let mut plugin_fault = bound.fault.as_ref().map(|p| p.fault());
    let routing = match &bound.routing {
        Some(doc) => match compile_routing(doc, dep, &backend, &pattern, policy, inputs.root) {
            Ok(r) => Some(Arc::new(r)),
            Err(e) => {
                plugin_fault.get_or_insert(PluginFault {
                    code: &apigw_model::codes::X400PM,
                    message: apigw_model::codes::X400PM.message(&["routing", &e]).into(),
                });
                None
            }
        },
        None => None,
    };
    let api = Arc::new(CompiledApi {
        api_id: def.api_id.as_str().into(),
        api_name: def.api_name.as_str().into(),
        group_id: group_id.clone(),
        stage: dep.stage_name,
        version: dep.history_version.as_str().into(),
        allow_http,
        allow_https,
        allow_ws: def.web_socket(),
        auth: auth_policy(dep, inputs),
        plugin_fault,
        access_control: bound.access_control.clone(),
        routing,
        transformer: bound.transformer.clone(),
        error_mapping: bound.error_mapping.clone(),
        path_params: pattern.param_names().map(Into::into).collect(),
        ip_control: bound.ip.clone(),
        params,
        backend_signer: bound.signer.clone(),
        traffic: bound
            .traffic
            .as_ref()
            .map(|d| TrafficPolicy::bind(d, scope.clone())),
        cors: bound.cors.clone(),
        cache: bound.caching.clone(),
        scope,
        breaker: inputs.breaker.clone(),
        downgrade,
        backend,
        root: inputs.root,
        metrics: inputs.metrics.clone(),
    });
    let base = inputs
        .base_path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|l| Some(l.into()));
    let own = pattern.segments.iter().map(|s| match s {
        Segment::Literal(l) => Some(l.as_str().into()),
        Segment::Param(_) => None,
    });
    let route = RouteKey {
        method,
        segments: base.chain(own).collect(),
        prefix: pattern.prefix,
        name,
    };
    Ok((api, route))
}

fn auth_policy(dep: &Deployment, inputs: &ApiInputs) -> AuthPolicy {
    let def = &dep.definition;
    AuthPolicy {
        auth: def.auth_type,
        allow_sha1: def
            .allow_signature_method
            .as_deref()
            .is_some_and(|m| m.split(',').any(|x| x.trim() == "HmacSHA1")),
        force_nonce: def.force_nonce_check,
        app_code: AppCodeMode::parse(def.app_code_auth_type.as_deref()),
        grants: inputs.grants.clone(),
        jwt: inputs.bound.jwt.clone(),
        openid: OpenIdPolicy::compile(dep, inputs.openid.as_deref()),
    }
}

/// Compiles each route's backend: an HTTP route keeps the API's method, path, timeout and
/// Content-Type policy unless it overrides them; a MOCK route answers itself.
fn compile_routing(
    doc: &Arc<Routing>,
    dep: &Deployment,
    own: &Backend,
    request: &PathPattern,
    policy: &BackendPolicy,
    root: bool,
) -> Result<CompiledRouting, String> {
    let params = Parameters::of(&dep.definition, request).map_err(|e| e.to_string())?;
    let mut routes = Vec::with_capacity(doc.routes.len());
    for r in &doc.routes {
        let backend = match &r.backend {
            RouteBackend::Mock { status, body } => Backend::Mock(MockResponse {
                status: StatusCode::from_u16(*status).map_err(|e| e.to_string())?,
                headers: HeaderMap::new(),
                body: Bytes::from(body.clone()),
            }),
            RouteBackend::Http {
                address,
                path,
                timeout_ms,
                method,
            } => {
                let origin = Origin::parse(address)
                    .map_err(|e| format!("route `{}`: address: {e}", r.name))?;
                let main = match own {
                    Backend::Http(b) => Some(b),
                    _ => None,
                };
                let path = match path {
                    Some(p) => compile_service_path(p, request, &params)
                        .map_err(|e| format!("route `{}`: {e}", r.name))?,
                    None => match main.map(|m| &m.path) {
                        Some(BackendPath::Template { parts, append_rest }) => {
                            BackendPath::Template {
                                parts: parts.clone(),
                                append_rest: *append_rest,
                            }
                        }
                        _ => BackendPath::SameAsRequest,
                    },
                };
                let http = Backend::Http(HttpBackend {
                    scheme: origin.scheme,
                    authority: origin.authority,
                    host: origin.host,
                    h2c: origin.h2c,
                    path,
                    method: method
                        .clone()
                        .or_else(|| main.and_then(|m| m.method.clone())),
                    timeout: timeout_ms
                        .map(|t| Duration::from_millis(u64::from(t.clamp(1, 30_000))))
                        .or(main.map(|m| m.timeout))
                        .unwrap_or(Duration::from_secs(10)),
                    content_type: match main.map(|m| &m.content_type) {
                        Some(ContentTypePolicy::Custom(v)) => ContentTypePolicy::Custom(v.clone()),
                        _ => ContentTypePolicy::Client,
                    },
                });
                refused(http, Some(address), policy, root)
            }
        };
        let mut headers = Vec::new();
        let mut query = Vec::new();
        for c in &r.constant_parameters {
            match c.location {
                apigw_plugin::ParamLocation::Query => query.push((c.name.clone(), c.value.clone())),
                _ => headers.push((
                    HeaderName::from_bytes(c.name.as_bytes()).map_err(|e| e.to_string())?,
                    HeaderValue::from_str(&c.value).map_err(|e| e.to_string())?,
                )),
            }
        }
        routes.push(RouteTarget {
            name: HeaderValue::from_str(&r.name).map_err(|e| e.to_string())?,
            backend,
            headers,
            query,
        });
    }
    Ok(CompiledRouting {
        doc: doc.clone(),
        routes,
    })
}

/// `backend`, or [`Backend::Refused`] when its address is one the API may not reach.
fn refused(backend: Backend, address: Option<&str>, policy: &BackendPolicy, root: bool) -> Backend {
    match (&backend, address) {
        (Backend::Http(_), Some(address)) => match policy.refusal(address, root) {
            Some(r) => refusal_backend(r),
            None => backend,
        },
        _ => backend,
    }
}

fn refusal_backend(r: apigw_model::backend_address::Refusal) -> Backend {
    Backend::Refused {
        host: r.host.into(),
        ip: r.ip.to_string().into(),
    }
}

fn compile_parameters(
    dep: &Deployment,
    pattern: &PathPattern,
) -> Result<(Option<ParamPlan>, Parameters), String> {
    let p = Parameters::of(&dep.definition, pattern).map_err(|e| e.to_string())?;
    Ok((ParamPlan::compile(&p, pattern)?, p))
}

/// The stage variables of every group and stage.
fn stage_variables(live: &LiveConfig) -> AHashMap<(&str, Stage), BTreeMap<String, String>> {
    let mut out: AHashMap<(&str, Stage), BTreeMap<String, String>> = AHashMap::new();
    for v in &live.stage_variables {
        out.entry((v.group_id.as_str(), v.stage_name))
            .or_default()
            .insert(v.variable_name.clone(), v.variable_value.clone());
    }
    out
}

/// Where the backend of `dep` resolves now, for a definition whose backend is a VPC access,
/// a backend service or holds stage variables (`None` otherwise): part of what the API is
/// compiled from, so a change of the access, model or variable recompiles it.
fn resolve_target(
    live: &LiveConfig,
    variables: &AHashMap<(&str, Stage), BTreeMap<String, String>>,
    dep: &Deployment,
    owner: i64,
) -> Option<Result<Resolved, Unresolved>> {
    if !apigw_model::service::needs_resolving(&dep.definition) {
        return None;
    }
    let none = BTreeMap::new();
    let targets = Targets {
        vpc_accesses: &live.vpc_accesses,
        backends: &live.backends,
        variables: variables
            .get(&(dep.group_id.as_str(), dep.stage_name))
            .unwrap_or(&none),
    };
    Some(resolve(&dep.definition, owner, dep.stage_name, &targets))
}

/// The backend of an API whose target does not resolve.
fn unresolved(e: &Unresolved) -> Backend {
    use apigw_model::codes;
    match e {
        Unresolved::VpcUnmapped(name) => Backend::Unavailable {
            code: &codes::X504VE,
            reason: name.as_str().into(),
        },
        Unresolved::NoStageRoute(why) => Backend::Unavailable {
            code: &codes::I404SR,
            reason: why.as_str().into(),
        },
        Unresolved::MissingVariable(_) => Backend::Broken(e.to_string()),
    }
}

fn compile_backend(
    dep: &Deployment,
    request: &PathPattern,
    params: &Parameters,
    target: Option<&Result<Resolved, Unresolved>>,
) -> Result<Backend, String> {
    let sc = &dep.definition.service_config;
    if sc.mock {
        return compile_mock(sc);
    }
    let (address, service_path, host) = match target {
        None => (
            sc.service_address.as_deref().ok_or("no ServiceAddress")?,
            sc.service_path.as_deref(),
            None,
        ),
        Some(Err(e)) => return Ok(unresolved(e)),
        Some(Ok(r)) => (r.address.as_str(), r.path.as_deref(), r.host.as_deref()),
    };
    let mut origin = Origin::parse(address).map_err(|e| format!("ServiceAddress: {e}"))?;
    if let Some(host) = host {
        // A VPC access's `VpcTargetHostName`.
        origin.host = HeaderValue::from_str(host).map_err(|e| e.to_string())?;
    }
    let method = match &sc.service_http_method {
        Some(m) if !m.is_empty() => Some(
            Method::from_bytes(apigw_model::api::normalize_method(m).as_bytes())
                .map_err(|e| e.to_string())?,
        ),
        _ => None,
    };
    let path = match service_path {
        None | Some("") => BackendPath::SameAsRequest,
        Some(p) => compile_service_path(p, request, params)?,
    };
    let content_type = match sc.content_type_catagory.as_deref() {
        Some(c) if c.eq_ignore_ascii_case("CUSTOM") => {
            let v = sc.content_type_value.as_deref().unwrap_or("");
            ContentTypePolicy::Custom(
                HeaderValue::from_str(v).map_err(|_| format!("ContentTypeValue `{v}`"))?,
            )
        }
        _ => ContentTypePolicy::Client,
    };
    Ok(Backend::Http(HttpBackend {
        scheme: origin.scheme,
        authority: origin.authority,
        host: origin.host,
        h2c: origin.h2c,
        path,
        method,
        timeout: Duration::from_millis(u64::from(sc.service_timeout.clamp(1, 30_000))),
        content_type,
    }))
}

/// Where a backend is: `http://`, `https://` or `h2c://` (HTTP/2 without TLS) and
/// `host[:port]`.
struct Origin {
    scheme: Scheme,
    authority: Authority,
    host: HeaderValue,
    h2c: bool,
}

impl Origin {
    fn parse(address: &str) -> Result<Origin, String> {
        let address = address.trim_end_matches('/');
        let (address, h2c) = match address.get(..6) {
            Some(s) if s.eq_ignore_ascii_case("h2c://") => {
                (format!("http://{}", &address[6..]), true)
            }
            _ => (address.to_string(), false),
        };
        let uri: http::Uri = address.parse().map_err(|e| format!("{e}"))?;
        let scheme = uri.scheme().cloned().ok_or("no scheme")?;
        let authority = uri.authority().cloned().ok_or("no host")?;
        let host = HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?;
        Ok(Origin {
            scheme,
            authority,
            host,
            h2c,
        })
    }
}

/// A circuit breaker's HTTP downgrade: another address, the main backend's method and
/// Content-Type policy, its own timeout.
fn downgrade_backend(
    address: &str,
    timeout_ms: u32,
    main: &HttpBackend,
) -> Result<HttpBackend, String> {
    let origin = Origin::parse(address).map_err(|e| format!("downgrade address: {e}"))?;
    let content_type = match &main.content_type {
        ContentTypePolicy::Client => ContentTypePolicy::Client,
        ContentTypePolicy::Custom(v) => ContentTypePolicy::Custom(v.clone()),
    };
    Ok(HttpBackend {
        scheme: origin.scheme,
        authority: origin.authority,
        host: origin.host,
        h2c: origin.h2c,
        path: BackendPath::SameAsRequest,
        method: main.method.clone(),
        timeout: Duration::from_millis(u64::from(timeout_ms.clamp(1, 30_000))),
        content_type,
    })
}

fn compile_service_path(
    path: &str,
    request: &PathPattern,
    params: &Parameters,
) -> Result<BackendPath, String> {
    let pattern = PathPattern::parse(path, false).map_err(|e| format!("ServicePath: {e}"))?;
    let names: Vec<&str> = request.param_names().collect();
    let mut parts = Vec::new();
    let mut text = String::new();
    for seg in &pattern.segments {
        text.push('/');
        match seg {
            Segment::Literal(l) => text.push_str(&encode_path_text(l)),
            Segment::Param(n) => {
                parts.push(PathPart::Text(std::mem::take(&mut text).into()));
                if params.path_source(n) {
                    parts.push(PathPart::Named(n.as_str().into()));
                } else {
                    let i = names
                        .iter()
                        .position(|x| x == n)
                        .ok_or(format!("ServicePath: unknown parameter [{n}]"))?;
                    parts.push(PathPart::Capture(i));
                }
            }
        }
    }
    if pattern.segments.is_empty() && !pattern.prefix {
        text.push('/');
    }
    if !text.is_empty() {
        parts.push(PathPart::Text(text.into()));
    }
    Ok(BackendPath::Template {
        parts,
        append_rest: pattern.prefix,
    })
}

/// Percent-encodes what may not appear raw in a URI path (non-ASCII text, spaces).
fn encode_path_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn compile_mock(sc: &apigw_model::ServiceConfig) -> Result<Backend, String> {
    let status =
        StatusCode::from_u16(sc.mock_status_code.unwrap_or(200)).map_err(|e| e.to_string())?;
    let mut headers = HeaderMap::new();
    for h in &sc.mock_headers {
        let name = HeaderName::from_bytes(h.header_name.as_bytes()).map_err(|e| e.to_string())?;
        let value = HeaderValue::from_str(&h.header_value).map_err(|e| e.to_string())?;
        headers.append(name, value);
    }
    let body = Bytes::from(sc.mock_result.clone().unwrap_or_default());
    Ok(Backend::Mock(MockResponse {
        status,
        headers,
        body,
    }))
}

fn certified_key(cert_pem: &str, key_pem: &str) -> Result<CertifiedKey, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in PEM".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("private key PEM: {e}"))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| e.to_string())?;
    let ck = CertifiedKey::new(certs, signer);
    ck.keys_match()
        .map_err(|e| format!("certificate and key do not match: {e}"))?;
    Ok(ck)
}

#[cfg(test)]
mod tests {
    use super::*;
    use apigw_model::{ApiDefinition, Group};
    use serde_json::json;

    fn deployment(i: usize, version: &str) -> Arc<Deployment> {
        let def: ApiDefinition = serde_json::from_value(json!({
            "ApiId": format!("api{i}"), "GroupId": "g", "ApiName": format!("api_{i}"), "AuthType": "ANONYMOUS",
            "RequestConfig": {"RequestHttpMethod": "GET", "RequestPath": format!("/s{i}")},
            "ServiceConfig": {"ServiceAddress": "http://127.0.0.1:9000"}
        }))
        .unwrap();
        Arc::new(Deployment {
            api_id: def.api_id.clone(),
            group_id: "g".into(),
            stage_name: Stage::Release,
            history_version: version.into(),
            description: String::new(),
            deployed_time: String::new(),
            online: true,
            definition: def,
        })
    }

    fn find(snap: &Snapshot, path: &str) -> Arc<CompiledApi> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        snap.groups[0]
            .router(Stage::Release)
            .find(&Method::GET, &segments)
            .unwrap()
            .value
            .clone()
    }

    #[test]
    fn recompile_reuses_what_did_not_change() {
        let group: Group =
            serde_json::from_value(json!({"GroupId": "g", "GroupName": "group"})).unwrap();
        let mut live = LiveConfig {
            generation: 1,
            groups: vec![group],
            deployments: (0..3).map(|i| deployment(i, "1")).collect(),
            ..LiveConfig::default()
        };
        let config = GatewayConfig::default();
        let first = Snapshot::compile(&live, &config);
        live.generation = 2;
        live.deployments[1] = deployment(1, "2");
        let second = Snapshot::recompile(&first, &live, &config);
        assert!(Arc::ptr_eq(&find(&first, "/s0"), &find(&second, "/s0")));
        assert!(Arc::ptr_eq(&find(&first, "/s2"), &find(&second, "/s2")));
        assert!(!Arc::ptr_eq(&find(&first, "/s1"), &find(&second, "/s1")));
        assert_eq!(&*find(&second, "/s1").version, "2");
        // The breaker (and its state) survives the recompile of a changed API, and so do
        // its metrics.
        assert!(Arc::ptr_eq(
            &find(&first, "/s1").breaker,
            &find(&second, "/s1").breaker
        ));
        assert!(Arc::ptr_eq(
            &find(&first, "/s1").metrics,
            &find(&second, "/s1").metrics
        ));
        assert_eq!(second.compiled_apis().count(), 3);
        // An abolished API's series leave with it.
        live.generation = 3;
        live.deployments.remove(2);
        let third = Snapshot::recompile(&second, &live, &config);
        assert_eq!(third.compiled_apis().count(), 2);
    }
}
