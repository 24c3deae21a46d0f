//! The backend HTTP(S) client (pooled, keep-alive) and how its failures map to error codes.

use crate::body::GwBody;
use crate::handler::Reject;
use crate::snapshot::HttpBackend;
use apigw_model::codes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

pub type Client = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, GwBody>;

/// A client for one worker. Connections are pooled per backend origin and kept alive.
pub fn new_client() -> Client {
    let mut http = HttpConnector::new();
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
        .enable_http1()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(https)
}

/// Maps a failed backend call to its documented code.
pub fn classify(err: &hyper_util::client::legacy::Error, backend: &HttpBackend) -> Reject {
    let reason = root_cause(err);
    let chain = error_chain(err).to_ascii_lowercase();
    if chain.contains("dns error") || chain.contains("failed to lookup address") {
        return Reject::new(&codes::D504RE, &[backend.authority.host()]);
    }
    let tls = chain.contains("tls")
        || chain.contains("certificate")
        || chain.contains("handshake")
        || chain.contains("invalidcontenttype")
        || chain.contains("corrupt message");
    if tls && backend.scheme == http::uri::Scheme::HTTPS {
        return Reject::new(&codes::D504CS, &[&reason]);
    }
    Reject::new(&codes::D504CO, &[&reason])
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut src = err.source();
    while let Some(e) = src {
        out.push_str(": ");
        out.push_str(&format!("{e} {e:?}"));
        src = e.source();
    }
    out
}

fn root_cause(err: &hyper_util::client::legacy::Error) -> String {
    let mut last = err.to_string();
    let mut src = err.source();
    while let Some(e) = src {
        last = e.to_string();
        src = e.source();
    }
    last
}
