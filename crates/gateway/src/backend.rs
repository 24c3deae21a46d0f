//! The backend HTTP(S) client (pooled, keep-alive) and how its failures map to error codes.

use crate::body::GwBody;
use crate::h1pool::H1Pool;
use crate::reject::{BackendFailure, Cause, Reject};
use crate::snapshot::HttpBackend;
use apigw_model::backend_address::BackendPolicy;
use apigw_model::codes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub type Client =
    hyper_util::client::legacy::Client<HttpsConnector<HttpConnector<Resolver>>, GwBody>;

/// The system resolver, with its failures typed so a failed call can be classified
/// (`D504RE`) by the error's type rather than its text.
/// Also refuses a host name that resolves to an address no backend may have (metadata,
/// unspecified, multicast, the operator's deny list): `D504IL`.
#[derive(Clone)]
pub struct Resolver {
    gai: GaiResolver,
    policy: Arc<BackendPolicy>,
    /// Resolving for the root account's APIs (loopback and private addresses allowed).
    root: bool,
}

/// A backend host name that did not resolve, or resolved to a refused address.
#[derive(Debug)]
pub enum ResolveError {
    Failed(std::io::Error),
    Illegal {
        host: String,
        ip: String,
        why: String,
    },
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::Failed(e) => write!(f, "cannot resolve the backend host: {e}"),
            ResolveError::Illegal { host, why, .. } => {
                write!(
                    f,
                    "backend host `{host}` resolves to a refused address: {why}"
                )
            }
        }
    }
}

impl std::error::Error for ResolveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ResolveError::Failed(e) => Some(e),
            ResolveError::Illegal { .. } => None,
        }
    }
}

impl Resolver {
    /// The system resolver checking what names resolve to against `policy` (`root`: for the
    /// root account's APIs).
    pub fn new(policy: Arc<BackendPolicy>, root: bool) -> Resolver {
        Resolver {
            gai: GaiResolver::new(),
            policy,
            root,
        }
    }
}

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<std::net::SocketAddr>;
    type Error = ResolveError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ResolveError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ResolveError>> {
        self.gai.poll_ready(cx).map_err(ResolveError::Failed)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let host = name.as_str().to_string();
        let resolving = self.gai.call(name);
        let policy = self.policy.clone();
        let root = self.root;
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> =
                resolving.await.map_err(ResolveError::Failed)?.collect();
            for a in &addrs {
                if let Some(why) = policy.refuses_resolved(a.ip(), root) {
                    return Err(ResolveError::Illegal {
                        host,
                        ip: a.ip().to_string(),
                        why,
                    });
                }
            }
            Ok(addrs.into_iter())
        })
    }
}

/// One worker's backend clients for the APIs of the root account or of other accounts: the
/// lean HTTP/1.1 pool for plain `http://` backends ([`H1Pool`]); HTTP/1.1 or HTTP/2 as TLS
/// negotiates it (ALPN) for `https://` backends and for protocol upgrades (WebSocket); HTTP/2
/// with prior knowledge for `h2c://` ones (gRPC without TLS).
pub struct Pool {
    pub h1: H1Pool,
    pub http: Client,
    pub h2c: Client,
}

impl Pool {
    pub fn new(policy: Arc<BackendPolicy>, root: bool) -> Pool {
        Pool {
            h1: H1Pool::new(Resolver::new(policy.clone(), root)),
            http: new_client(policy.clone(), root, false),
            h2c: new_client(policy, root, true),
        }
    }

    /// Whether a request to `backend` goes through the lean HTTP/1.1 pool: a plain `http://`
    /// backend, and no protocol upgrade asked for.
    pub fn lean(backend: &HttpBackend, upgrade: bool) -> bool {
        !upgrade && !backend.h2c && backend.scheme == http::uri::Scheme::HTTP
    }

    /// The client that speaks to `backend`.
    pub fn for_backend(&self, backend: &HttpBackend) -> &Client {
        if backend.h2c {
            &self.h2c
        } else {
            &self.http
        }
    }
}

/// A client for one worker, for the APIs of the root account (`root`) or of other accounts:
/// each checks the addresses a backend host name resolves to against `policy`. Connections
/// are pooled per backend origin and kept alive. `h2c`: HTTP/2 only, with prior knowledge.
pub fn new_client(policy: Arc<BackendPolicy>, root: bool, h2c: bool) -> Client {
    let mut http = HttpConnector::new_with_resolver(Resolver {
        gai: GaiResolver::new(),
        policy,
        root,
    });
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_keepalive(Some(Duration::from_secs(60)));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .http2_only(h2c)
        .build(https)
}

/// Maps a failed backend call to its documented code, by the type of the error found in its
/// source chain: [`ResolveError`] → `D504RE`, a TLS error (`rustls::Error`) on an HTTPS
/// backend → `D504CS`, anything else → `D504CO`.
pub fn classify(err: &(dyn std::error::Error + 'static), backend: &HttpBackend) -> Reject {
    let reason = root_cause(err);
    let mut tls = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        // The client's body failed while it was streamed: the client's fault.
        if let Some(client) = e.downcast_ref::<crate::body::ClientBodyError>() {
            return Reject::new(&codes::I400BD, &[&client.to_string()]);
        }
        match e.downcast_ref::<ResolveError>() {
            Some(ResolveError::Failed(_)) => {
                return Reject::new(&codes::D504RE, &[backend.authority.host()])
                    .because(Cause::Backend(BackendFailure::Resolve))
            }
            // A refusal by policy: not the backend's failure.
            Some(ResolveError::Illegal { host, ip, .. }) => {
                return Reject::new(&codes::D504IL, &[host, ip])
            }
            None => {}
        }
        tls |= is_tls_error(e);
        source = e.source();
    }
    if tls && backend.scheme == http::uri::Scheme::HTTPS {
        return Reject::new(&codes::D504CS, &[&reason])
            .because(Cause::Backend(BackendFailure::Tls));
    }
    Reject::new(&codes::D504CO, &[&reason]).because(Cause::Backend(BackendFailure::Connect))
}

/// A `rustls::Error`, or an I/O error that wraps one (at any depth: the TLS stream wraps it
/// in an I/O error, the connector wraps that in another).
fn is_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.is::<rustls::Error>() {
        return true;
    }
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => is_tls_error(inner),
        None => false,
    }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err.to_string();
    let mut src = err.source();
    while let Some(e) = src {
        last = e.to_string();
        src = e.source();
    }
    last
}
