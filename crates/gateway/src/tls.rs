//! The TLS side of the data plane: each bound domain's certificate, chosen by SNI from the
//! live snapshot (so a new certificate takes effect with the next handshake, no restart).

use crate::Shared;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::sync::Arc;

/// Server configuration for the TLS listener: SNI resolution, HTTP/2 and HTTP/1.1 by ALPN.
pub fn server_config(shared: Arc<Shared>) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { shared }));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(cfg)
}

struct SniResolver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SniResolver")
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?;
        self.shared.snapshot.load().cert(&name.to_ascii_lowercase())
    }
}
