//! The web console on the admin listener: the files under `console/` (embedded in the binary,
//! served at `/console` with a strict Content-Security-Policy) and the debug relay
//! `POST /console/relay`, which forwards one already-signed request to this node's own plain
//! data listener and answers what came back (docs/console.md).
//!
//! The relay is no open proxy: it takes only a management call signed with V3 (whose
//! `x-acs-content-sha256` covers the request it carries) for the action `ConsoleRelay`, checked
//! like every management call (AccessKey, timestamp window, nonce), and it sends only an
//! origin-form path to one fixed address, the node's data listener.

use apigw_mgmt::{ApiError, Management};
use apigw_signature::mgmt::Scheme;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Where the console lives on the admin listener.
pub const PREFIX: &str = "/console";
/// The relay's path and the action its signature names.
pub const RELAY_PATH: &str = "/console/relay";
pub const RELAY_ACTION: &str = "ConsoleRelay";

/// The longest a relayed call may take, and the most of its answer passed back.
const RELAY_TIMEOUT: Duration = Duration::from_secs(30);
const RELAY_MAX_ANSWER: usize = 8 * 1024 * 1024;

/// Scripts and styles from this origin only, no inline code, calls to this origin only, no
/// framing: the page loads nothing from the internet.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($path:literal, $type:expr) => {
        (
            concat!("/console/", $path),
            $type,
            include_bytes!(concat!("../../console/", $path)) as &[u8],
        )
    };
}

/// (path, content type, bytes) of every file of the console.
const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("index.html", HTML),
    asset!("console.css", CSS),
    asset!("js/apis.js", JS),
    asset!("js/apps.js", JS),
    asset!("js/charts.js", JS),
    asset!("js/crypto.js", JS),
    asset!("js/debug.js", JS),
    asset!("js/groups.js", JS),
    asset!("js/main.js", JS),
    asset!("js/mgmt.js", JS),
    asset!("js/plugins.js", JS),
    asset!("js/ui.js", JS),
    asset!("js/versions.js", JS),
];

/// `GET|HEAD /console…`: the file, or 404 (405 for another method).
pub fn asset(method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "the console's files take GET",
        );
    }
    let path = match path {
        "/console" | "/console/" => "/console/index.html",
        other => other,
    };
    let Some((_, content_type, bytes)) = ASSETS.iter().find(|(p, _, _)| *p == path) else {
        return plain(StatusCode::NOT_FOUND, "no such console file");
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(bytes)));
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    secure(resp)
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    secure(resp)
}

fn secure(mut resp: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        http::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        http::header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    );
    resp
}

/// The request the console asks the relay to send, already signed for the data plane.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Relayed {
    method: String,
    /// Origin form: `/path?query`.
    path: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: String,
}

/// The address the relay sends to: the data listener, on loopback when it listens on all
/// addresses.
pub fn relay_target(data: SocketAddr) -> SocketAddr {
    match data.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, data.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, data.port()).into(),
        _ => data,
    }
}

/// `POST /console/relay`: `{Status, Headers: [[name, value]], Body, Millis}`, or a
/// management error.
pub async fn relay(
    mgmt: &Management,
    target: SocketAddr,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Map<String, Value>, ApiError> {
    if parts.method != Method::POST {
        return Err(ApiError::new(
            405,
            "UnsupportedHTTPMethod",
            "the relay takes POST",
        ));
    }
    let signed = mgmt
        .authenticate(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            body,
        )
        .await?;
    if signed.parsed.scheme != Scheme::V3 {
        return Err(ApiError::new(
            400,
            "IncompleteSignature",
            "the relay takes the V3 signature (ACS3-HMAC-SHA256): its x-acs-content-sha256 covers the request relayed",
        ));
    }
    if signed.parsed.action != RELAY_ACTION {
        return Err(ApiError::new(
            400,
            "InvalidAction.NotFound",
            format!("{RELAY_PATH} takes the action {RELAY_ACTION}"),
        ));
    }
    let relayed: Relayed =
        serde_json::from_slice(body).map_err(|e| ApiError::invalid_format("RelayRequest", e))?;
    let request = build(relayed, target)?;
    let started = Instant::now();
    let answer = tokio::time::timeout(RELAY_TIMEOUT, send(target, request))
        .await
        .map_err(|_| {
            ApiError::new(
                504,
                "RelayTimeout",
                format!(
                    "the data plane did not answer within {} s",
                    RELAY_TIMEOUT.as_secs()
                ),
            )
        })??;
    let (parts, body) = answer;
    let headers: Vec<Value> = parts
        .headers
        .iter()
        .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    let doc = json!({
        "Status": parts.status.as_u16(),
        "Headers": headers,
        "Body": String::from_utf8_lossy(&body),
        "Millis": started.elapsed().as_millis() as u64,
    });
    Ok(match doc {
        Value::Object(m) => m,
        _ => Map::new(),
    })
}

fn build(r: Relayed, target: SocketAddr) -> Result<Request<Full<Bytes>>, ApiError> {
    let method = Method::from_bytes(r.method.as_bytes())
        .map_err(|_| ApiError::invalid("Method", format!("`{}` is not a method", r.method)))?;
    if !r.path.starts_with('/') || r.path.starts_with("//") {
        return Err(ApiError::invalid(
            "Path",
            "an origin-form path (`/…`): the relay sends only to this node's data listener",
        ));
    }
    let uri: http::Uri = r
        .path
        .parse()
        .map_err(|e| ApiError::invalid("Path", format!("{e}")))?;
    let mut req = Request::builder().method(method).uri(uri);
    let mut has_host = false;
    for (name, value) in &r.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ApiError::invalid("Headers", format!("`{name}` is not a header name")))?;
        // The relay frames the message itself.
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection" | "upgrade"
        ) {
            continue;
        }
        let value = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
            ApiError::invalid("Headers", format!("the value of `{name}` is not valid"))
        })?;
        has_host |= name == http::header::HOST;
        req = req.header(name, value);
    }
    if !has_host {
        req = req.header(http::header::HOST, target.to_string());
    }
    req.body(Full::new(Bytes::from(r.body)))
        .map_err(|e| ApiError::invalid("RelayRequest", e))
}

async fn send(
    target: SocketAddr,
    req: Request<Full<Bytes>>,
) -> Result<(http::response::Parts, Bytes), ApiError> {
    let failed = |e: &dyn std::fmt::Display| {
        ApiError::new(
            502,
            "RelayFailed",
            format!("the data listener {target}: {e}"),
        )
    };
    let stream = tokio::net::TcpStream::connect(target)
        .await
        .map_err(|e| failed(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(&e))?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| failed(&e))?;
    let (parts, body) = resp.into_parts();
    let body = Limited::new(body, RELAY_MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| failed(&e))?
        .to_bytes();
    Ok((parts, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `console/` (but the end-to-end tests) is embedded, and nothing else.
    #[test]
    fn every_console_file_is_served() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../console");
        let mut on_disk = Vec::new();
        for dir in ["", "js"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    let name = path.file_name().unwrap().to_str().unwrap().to_string();
                    on_disk.push(if dir.is_empty() {
                        format!("/console/{name}")
                    } else {
                        format!("/console/{dir}/{name}")
                    });
                }
            }
        }
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|(p, _, _)| p.to_string()).collect();
        served.sort();
        assert_eq!(on_disk, served);
    }

    #[test]
    fn the_relay_sends_to_loopback_for_a_wildcard_listener() {
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(relay_target(any), "127.0.0.1:8080".parse().unwrap());
        let any6: SocketAddr = "[::]:8080".parse().unwrap();
        assert_eq!(relay_target(any6), "[::1]:8080".parse().unwrap());
        let one: SocketAddr = "10.1.2.3:80".parse().unwrap();
        assert_eq!(relay_target(one), one);
    }

    #[test]
    fn the_relay_takes_only_an_origin_form_path() {
        let target: SocketAddr = "127.0.0.1:1".parse().unwrap();
        for path in ["http://example.com/", "//example.com/x", "example.com", ""] {
            let r = Relayed {
                method: "GET".into(),
                path: path.into(),
                headers: vec![],
                body: String::new(),
            };
            let e = build(r, target).unwrap_err();
            assert_eq!(e.code, "InvalidPath", "{path}");
        }
    }
}
