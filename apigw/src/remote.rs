//! A management API client for the CLI: the admin endpoint (`host:port`, `http://` or
//! `https://`), V3-signed calls (like the Tea SDK) with an AccessKey found as `apigw admin`
//! finds it, TLS with the web PKI roots or the certificates of `--ca-file`.

use crate::admin_cli::{credentials, Credentials, KeyArgs};
use apigw_signature::mgmt::{format_timestamp, sign_v3_form};
use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long the CLI waits for one answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(120);

/// The options of the commands that work on a running gateway through its management API
/// (`apply`, `diff`, `export`).
#[derive(clap::Args, Clone)]
pub struct RemoteArgs {
    /// Work through the management API of a running gateway (any node of a cluster) at this
    /// admin endpoint instead of on the store: `host:port`, `http://host:port` or
    /// `https://host[:port]`. Signed with the AccessKey `apigw admin` would use.
    #[arg(long, value_name = "ENDPOINT")]
    pub endpoint: Option<String>,
    #[command(flatten)]
    pub key: KeyArgs,
    /// With an `https://` endpoint: trust the certificates in this PEM file (a private CA)
    /// instead of the web PKI roots.
    #[arg(long, env = "APIGW_ADMIN_CA_FILE", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
}

/// Where an admin endpoint is.
#[derive(Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub https: bool,
    /// `host[:port]`, as sent in the `host` header (which the V3 signature covers).
    pub host: String,
}

impl Endpoint {
    /// `host:port`, `http://host:port[/]` or `https://host[:port][/]`.
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let (https, rest) = match text.split_once("://") {
            None => (false, text),
            Some(("http", rest)) => (false, rest),
            Some(("https", rest)) => (true, rest),
            Some((scheme, _)) => {
                return Err(format!(
                    "--endpoint `{text}`: the scheme {scheme}:// is not http:// or https://"
                ))
            }
        };
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(format!(
                "--endpoint `{text}`: give host:port (a path is not allowed)"
            ));
        }
        Ok(Endpoint {
            https,
            host: host.to_string(),
        })
    }
}

/// A signed call's answer.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// `Code: Message` of an error answer (or the body as text).
    pub fn error(&self) -> String {
        let v = self.json();
        match (v["Code"].as_str(), v["Message"].as_str()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            _ => format!(
                "HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            ),
        }
    }
}

/// A client of one admin endpoint, with the AccessKey it signs with.
pub struct Remote {
    pub endpoint: Endpoint,
    pub key: Credentials,
    ca_file: Option<PathBuf>,
}

impl Remote {
    pub fn new(endpoint: &str, key: &KeyArgs, ca_file: Option<&Path>) -> Result<Remote, String> {
        let endpoint = Endpoint::parse(endpoint)?;
        if ca_file.is_some() && !endpoint.https {
            return Err("--ca-file is for https:// endpoints".into());
        }
        Ok(Remote {
            endpoint,
            key: credentials(key, &|name| std::env::var(name).ok())?,
            ca_file: ca_file.map(Path::to_path_buf),
        })
    }

    /// Signs and sends one call: `query` in the query string, `form` as a form body.
    /// An `Err` when no answer came (connection, TLS, timeout); any HTTP answer is `Ok`.
    pub fn call(
        &self,
        action: &str,
        query: &[(String, String)],
        form: &[(String, String)],
    ) -> Result<Answer, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let host = &self.endpoint.host;
        let call = sign_v3_form(
            &self.key.id,
            &self.key.secret,
            host,
            action,
            "2016-07-14",
            query,
            form,
            &format_timestamp(now),
            &nonce,
        );
        let scheme = if self.endpoint.https { "https" } else { "http" };
        let uri: Uri = format!("{scheme}://{host}{}", call.path_and_query)
            .parse()
            .map_err(|e| format!("--endpoint: {e}"))?;
        let mut req = Request::new(Full::new(Bytes::from(call.body.clone())));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = uri;
        for (k, v) in &call.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?;
            let value = http::HeaderValue::from_str(v).map_err(|e| e.to_string())?;
            req.headers_mut().insert(name, value);
        }
        let tls = tls_config(self.ca_file.as_deref())?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let answer = rt.block_on(async {
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .build();
            let client = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(https);
            let resp = tokio::time::timeout(ANSWER_WITHIN, client.request(req))
                .await
                .map_err(|_| format!("no answer within {} s", ANSWER_WITHIN.as_secs()))?
                .map_err(|e| format!("cannot reach {scheme}://{host}: {}", chain(&e)))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>(Answer { status, body })
        })?;
        let text = String::from_utf8_lossy(&answer.body);
        if text.contains("SignatureDoesNotMatch") || text.contains("InvalidAccessKeyId") {
            eprintln!(
                "signed with the AccessKey {} from {}",
                self.key.id, self.key.source
            );
        }
        if text.contains("SignatureDoesNotMatch") {
            eprintln!(
                "client string to sign: {}",
                call.string_to_sign.replace('\n', "\\n")
            );
        }
        Ok(answer)
    }
}

/// An error with its sources (hyper's own message hides the TLS reason).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// TLS for `https://` endpoints: the web PKI roots, or only the certificates of `ca_file`.
fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let shown = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("--ca-file: cannot read {shown}: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("--ca-file: {shown}: {e}"))?;
            if certs.is_empty() {
                return Err(format!("--ca-file: no PEM certificate in {shown}"));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("--ca-file: {shown}: {e}"))?;
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_host_and_port_http_or_https() {
        let e = |t: &str| Endpoint::parse(t).map(|e| (e.https, e.host));
        assert_eq!(
            e("127.0.0.1:9080").unwrap(),
            (false, "127.0.0.1:9080".into())
        );
        assert_eq!(
            e("http://gw.internal:9080/").unwrap(),
            (false, "gw.internal:9080".into())
        );
        assert_eq!(
            e("https://gw.internal").unwrap(),
            (true, "gw.internal".into())
        );
        assert!(e("ftp://gw").unwrap_err().contains("ftp://"));
        assert!(e("https://gw/admin").unwrap_err().contains("path"));
        assert!(e("https://").is_err());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), "not a certificate\n").unwrap();
        let e = tls_config(Some(f.path())).unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
        assert!(tls_config(Some(Path::new("/nonexistent.pem")))
            .unwrap_err()
            .contains("cannot read"));
        assert!(tls_config(None).is_ok());
    }
}
