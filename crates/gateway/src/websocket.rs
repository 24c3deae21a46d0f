//! WebSocket: an HTTP/1.1 `GET` with `Upgrade: websocket` runs the whole pipeline like any
//! request (authentication, IP control, limits apply to it); the backend gets the upgrade
//! headers, and when it answers `101 Switching Protocols`, the client's connection and the
//! backend's are joined as one two-way byte stream until either side closes.
//!
//! What is taken: the API's `RequestProtocol` lists `WebSocket` (or `WS`/`WSS`), and the host
//! is the group's default sub-domain or a custom domain opened with
//! `SetDomainWebSocketStatus`; otherwise `I403PT`. Other upgrades (`h2c`, ...) are hop-by-hop
//! headers and never forwarded.

use crate::Shared;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// The client's side of an upgrade the gateway may grant: its connection, once hyper hands it
/// over, and the protocol it asked for.
pub struct ClientUpgrade {
    on_upgrade: OnUpgrade,
    protocol: HeaderValue,
}

impl std::fmt::Debug for ClientUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientUpgrade")
            .field("protocol", &self.protocol)
            .finish()
    }
}

/// Whether the request asks for a WebSocket upgrade: HTTP/1.1 `GET` with `Connection: upgrade`
/// and `Upgrade: websocket`.
pub fn requested(method: &Method, version: Version, headers: &HeaderMap) -> bool {
    method == Method::GET
        && version == Version::HTTP_11
        && has_token(headers, &header::CONNECTION, b"upgrade")
        && has_token(headers, &header::UPGRADE, b"websocket")
}

/// Takes the client's upgrade out of a request asking for one.
pub fn take(parts: &mut http::request::Parts) -> Option<ClientUpgrade> {
    let protocol = parts.headers.get(header::UPGRADE)?.clone();
    let on_upgrade = parts.extensions.remove::<OnUpgrade>()?;
    Some(ClientUpgrade {
        on_upgrade,
        protocol,
    })
}

impl ClientUpgrade {
    /// Puts the upgrade back on the backend request, after the hop-by-hop headers went.
    pub fn forward(&self, headers: &mut HeaderMap) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, self.protocol.clone());
    }

    /// The backend switched protocols: joins the two connections in a task of their own (on
    /// this worker's runtime) once hyper hands both over.
    pub fn join(self, backend: &mut Response<Incoming>, shared: Arc<Shared>) {
        let backend_side = hyper::upgrade::on(backend);
        let client_side = self.on_upgrade;
        tokio::spawn(async move {
            let (client, backend) = match tokio::try_join!(client_side, backend_side) {
                Ok(both) => both,
                Err(_) => return,
            };
            let _open = shared.metrics.web_socket_opened();
            let mut client = TokioIo::new(client);
            let mut backend = TokioIo::new(backend);
            // Either side closing (or failing) ends the stream both ways.
            let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
        });
    }
}

/// The response headers of a `101` once the hop-by-hop ones went: the upgrade named again.
pub fn restore_switch(headers: &mut HeaderMap, protocol: Option<HeaderValue>) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(
        header::UPGRADE,
        protocol.unwrap_or(HeaderValue::from_static("websocket")),
    );
}

fn has_token(headers: &HeaderMap, name: &header::HeaderName, token: &[u8]) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_an_http11_get_with_both_headers_asks_for_a_websocket() {
        let both = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
        ]);
        assert!(requested(&Method::GET, Version::HTTP_11, &both));
        assert!(!requested(&Method::POST, Version::HTTP_11, &both));
        assert!(!requested(&Method::GET, Version::HTTP_2, &both));
        let h2c = headers(&[("connection", "upgrade"), ("upgrade", "h2c")]);
        assert!(!requested(&Method::GET, Version::HTTP_11, &h2c));
        let no_connection = headers(&[("upgrade", "websocket")]);
        assert!(!requested(&Method::GET, Version::HTTP_11, &no_connection));
    }
}
