//! One worker's keep-alive connections to plain `http://` backends, spoken HTTP/1.1 with
//! hyper's connection API directly: the common case of the proxy path.
//!
//! Why not the general client (`backend::Client`, hyper-util's pooled client) for these: per
//! request it hashes the origin with SipHash under a lock, races a checkout against a connect,
//! boxes its future, and spawns a task that waits for the connection to be free again before
//! returning it (measured: about 4% of the worker's CPU on the anonymous path; bench/README.md).
//! Here a connection goes back to its origin's list as soon as the answer's head is in, and a
//! request takes the first one that is ready (its previous answer fully read) or opens one.
//! The general client still serves `https://` and `h2c://` backends and protocol upgrades.
//!
//! Failures keep their types for `backend::classify`: a host name that did not resolve or
//! resolved to a refused address ([`ResolveError`]), a refused connection (`io::Error`), an
//! HTTP failure (`hyper::Error`, with the client's body error as its source).

use crate::backend::{ResolveError, Resolver};
use crate::body::GwBody;
use crate::snapshot::HttpBackend;
use http::uri::Authority;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tower_service::Service;

/// A connection unused this long is closed (as the general client's pool does).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// At most this many connections are kept per backend origin; more are closed once free.
const MAX_PER_ORIGIN: usize = 512;

/// Why a call on a pooled connection failed.
#[derive(Debug)]
pub enum H1Error {
    Resolve(ResolveError),
    Connect(std::io::Error),
    Http(hyper::Error),
}

impl std::fmt::Display for H1Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            H1Error::Resolve(e) => e.fmt(f),
            H1Error::Connect(e) => write!(f, "cannot connect to the backend: {e}"),
            H1Error::Http(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for H1Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            H1Error::Resolve(e) => Some(e),
            H1Error::Connect(e) => Some(e),
            H1Error::Http(e) => Some(e),
        }
    }
}

struct Pooled {
    sender: SendRequest<GwBody>,
    /// When it was last handed back.
    since: Instant,
}

/// The connections of one worker, per backend origin.
pub struct H1Pool {
    resolver: Resolver,
    idle: Mutex<HashMap<Authority, Vec<Pooled>, ahash::RandomState>>,
}

impl H1Pool {
    pub fn new(resolver: Resolver) -> H1Pool {
        H1Pool {
            resolver,
            idle: Mutex::new(HashMap::default()),
        }
    }

    /// Sends `req` (its URI in origin form, its `Host` set) to `backend` on a free pooled
    /// connection, or on a new one. A request a pooled connection could not take (closed by
    /// the backend meanwhile) goes to the next one, unsent.
    pub async fn send(
        &self,
        mut req: Request<GwBody>,
        backend: &HttpBackend,
    ) -> Result<Response<Incoming>, H1Error> {
        while let Some(mut sender) = self.checkout(&backend.authority) {
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    self.put_back(&backend.authority, sender);
                    return Ok(resp);
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) => req = unsent,
                    None => return Err(H1Error::Http(e.into_error())),
                },
            }
        }
        let mut sender = self.connect(&backend.authority).await?;
        let resp = sender.send_request(req).await.map_err(H1Error::Http)?;
        self.put_back(&backend.authority, sender);
        Ok(resp)
    }

    /// A pooled connection to `origin` ready for a request; closed and expired ones are
    /// dropped on the way.
    fn checkout(&self, origin: &Authority) -> Option<SendRequest<GwBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(origin)?;
        let now = Instant::now();
        let mut i = list.len();
        while i > 0 {
            i -= 1;
            let p = &list[i];
            if p.sender.is_closed() || now.duration_since(p.since) > IDLE_TIMEOUT {
                list.swap_remove(i);
            } else if p.sender.is_ready() {
                return Some(list.swap_remove(i).sender);
            }
        }
        None
    }

    /// Hands a connection back as soon as its answer's head is in: it is taken again once
    /// that answer is read (`is_ready`).
    fn put_back(&self, origin: &Authority, sender: SendRequest<GwBody>) {
        let pooled = Pooled {
            sender,
            since: Instant::now(),
        };
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // The origin is cloned only for its first connection, not on every request.
        match idle.get_mut(origin) {
            Some(list) if list.len() < MAX_PER_ORIGIN => list.push(pooled),
            Some(_) => {}
            None => {
                idle.insert(origin.clone(), vec![pooled]);
            }
        }
    }

    /// Closes the connections unused for [`IDLE_TIMEOUT`] or closed by their backend (called
    /// every few seconds by the worker).
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|_, list| {
            list.retain(|p| !p.sender.is_closed() && now.duration_since(p.since) <= IDLE_TIMEOUT);
            !list.is_empty()
        });
    }

    /// Connections held now (free or busy), for tests and metrics.
    pub fn len(&self) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new connection to `origin`: each resolved address in turn until one accepts.
    async fn connect(&self, origin: &Authority) -> Result<SendRequest<GwBody>, H1Error> {
        let port = origin.port_u16().unwrap_or(80);
        let host = origin.host().trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                let name = Name::from_str(host).map_err(|e| {
                    H1Error::Resolve(ResolveError::Failed(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        e,
                    )))
                })?;
                let mut resolver = self.resolver.clone();
                resolver
                    .call(name)
                    .await
                    .map_err(H1Error::Resolve)?
                    .map(|a| SocketAddr::new(a.ip(), port))
                    .collect()
            }
        };
        let mut last = None;
        for addr in addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(stream) => return handshake(stream).await,
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or_else(|| std::io::Error::other("the host name has no address"));
        Err(H1Error::Connect(e))
    }
}

/// An HTTP/1.1 connection on `stream`, its I/O driven by a task of its own.
async fn handshake(stream: tokio::net::TcpStream) -> Result<SendRequest<GwBody>, H1Error> {
    let _ = stream.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new().with_time(Duration::from_secs(60));
    let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive);
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(H1Error::Http)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}
