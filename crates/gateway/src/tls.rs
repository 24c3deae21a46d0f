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

/// The name a TLS connection was opened for (its SNI, lower-case) and the certificate that
/// name selected when the handshake completed.
#[derive(Debug, Clone)]
pub struct TlsName {
    pub sni: Box<str>,
    pub cert: Option<Arc<CertifiedKey>>,
}

impl TlsName {
    /// The name and certificate of a completed handshake, from the current snapshot (the one
    /// the handshake just read). `None` without SNI: the listener has no default certificate,
    /// so such a handshake never completes.
    pub fn of(conn: &rustls::ServerConnection, shared: &Shared) -> Option<TlsName> {
        let sni = conn.server_name()?.to_ascii_lowercase();
        let cert = shared.snapshot.load().cert(&sni);
        Some(TlsName {
            sni: sni.into(),
            cert,
        })
    }

    /// Whether a request for `host` (lower-case, no port, no trailing dot) is misdirected on
    /// this connection (`I421MR`): it names another host than the SNI and the connection's
    /// certificate does not cover it (its names, a wildcard included, as a client checks them
    /// when it reuses a connection for another host, RFC 9110 §4.3.3).
    pub fn misdirected(&self, host: &str) -> bool {
        if *self.sni == *host {
            return false;
        }
        !self.cert.as_deref().is_some_and(|c| covers(c, host))
    }
}

/// Whether the end-entity certificate of `key` is valid for `host` (a DNS name or an IP).
fn covers(key: &CertifiedKey, host: &str) -> bool {
    use rustls::pki_types::ServerName;
    let (Ok(der), Ok(name)) = (key.end_entity_cert(), ServerName::try_from(host)) else {
        return false;
    };
    match rustls::server::ParsedCertificate::try_from(der) {
        Ok(parsed) => rustls::client::verify_server_name(&parsed, &name).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(names: &[&str]) -> Arc<CertifiedKey> {
        let ck = rcgen::generate_simple_self_signed(
            names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        let der = ck.cert.der().clone();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap();
        let signer = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
        Arc::new(CertifiedKey::new(vec![der], signer))
    }

    #[test]
    fn a_host_is_misdirected_when_the_connections_certificate_does_not_cover_it() {
        let conn = TlsName {
            sni: "a.example.com".into(),
            cert: Some(key(&["a.example.com", "*.shop.example.com"])),
        };
        assert!(!conn.misdirected("a.example.com"));
        assert!(!conn.misdirected("x.shop.example.com"), "wildcard name");
        assert!(conn.misdirected("b.example.com"));
        assert!(
            conn.misdirected("shop.example.com"),
            "a wildcard covers one label"
        );
        assert!(conn.misdirected("a.b.shop.example.com"));
        assert!(conn.misdirected("127.0.0.1"));
        assert!(conn.misdirected("not a name"));
        // Without a certificate (removed since the handshake), only the SNI's own host.
        let bare = TlsName {
            sni: "a.example.com".into(),
            cert: None,
        };
        assert!(!bare.misdirected("a.example.com"));
        assert!(bare.misdirected("x.shop.example.com"));
    }
}
