//! Listeners and workers. Each worker thread runs a single-threaded runtime that accepts on
//! the shared listening sockets and owns its backend connection pool; shutdown stops accepting,
//! lets in-flight requests finish until the deadline (`shutdown_timeout`), answers those still
//! in flight then `X503SD`, and closes what is left [`FLUSH`] later.

use crate::canned::Rewrite;
use crate::handler::{ConnInfo, Worker};
use crate::tls::TlsName;
use crate::Shared;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long connections get, once the shutdown deadline passed, to write the `X503SD`
/// answers of their requests in flight before they are closed.
pub const FLUSH: Duration = Duration::from_secs(1);

/// Binds a listening socket, with a one-line error naming what it was for.
pub fn bind(addr: &str, what: &str) -> Result<std::net::TcpListener, String> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| format!("cannot listen on {addr} ({what}): {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {addr} ({what}): {e}"))?;
    Ok(listener)
}

/// Running workers.
pub struct Server {
    threads: Vec<std::thread::JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
}

impl Server {
    /// Starts the workers on already-bound listeners.
    pub fn start(
        shared: Arc<Shared>,
        plain: std::net::TcpListener,
        tls: Option<std::net::TcpListener>,
    ) -> std::io::Result<Server> {
        let workers = match shared.config.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (shutdown, rx) = watch::channel(false);
        let acceptor = tls
            .as_ref()
            .map(|_| tokio_rustls::TlsAcceptor::from(crate::tls::server_config(shared.clone())));
        let mut threads = Vec::with_capacity(workers);
        for i in 0..workers {
            let plain = plain.try_clone()?;
            let tls = tls.as_ref().map(|l| l.try_clone()).transpose()?;
            let (shared, rx, acceptor) = (shared.clone(), rx.clone(), acceptor.clone());
            let handle = std::thread::Builder::new()
                .name(format!("apigw-worker-{i}"))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a tokio runtime");
                    rt.block_on(run_worker(
                        shared,
                        plain,
                        tls.map(|l| (l, acceptor.expect("acceptor with listener"))),
                        rx,
                    ));
                })?;
            threads.push(handle);
        }
        Ok(Server { threads, shutdown })
    }

    /// Stops accepting, waits for in-flight requests (bounded), and joins the workers.
    pub fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

async fn run_worker(
    shared: Arc<Shared>,
    plain: std::net::TcpListener,
    tls: Option<(std::net::TcpListener, tokio_rustls::TlsAcceptor)>,
    mut shutdown: watch::Receiver<bool>,
) {
    let worker = Arc::new(Worker::new(shared.clone()));
    let plain = TcpListener::from_std(plain).expect("registering the listener");
    let (tls_listener, acceptor) = match tls {
        Some((l, a)) => (
            Some(TcpListener::from_std(l).expect("registering the listener")),
            Some(a),
        ),
        None => (None, None),
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // A client may shut down its sending side once its request is out (`shutdown(SHUT_WR)`)
        // and still read the answer; without this, hyper drops the connection at that EOF.
        .half_close(true)
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_read_timeout)
        .max_buf_size(
            (shared.config.max_url_bytes + shared.config.max_header_bytes + 16 * 1024).max(8192),
        )
        .max_headers(512);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut backoff = Backoff::default();
    let sweeper = tokio::spawn(sweep_idle(Arc::downgrade(&worker)));

    loop {
        let failed = tokio::select! {
            accepted = plain.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff.reset();
                    serve(&builder, &graceful, &worker, None, stream, peer);
                    None
                }
                Err(e) => Some(e),
            },
            accepted = accept_opt(tls_listener.as_ref()) => match (accepted, acceptor.as_ref()) {
                (Ok((stream, peer)), Some(acceptor)) => {
                    backoff.reset();
                    serve(&builder, &graceful, &worker, Some(acceptor), stream, peer);
                    None
                }
                (Ok(_), None) => None,
                (Err(e), _) => Some(e),
            },
            _ = shutdown.changed() => break,
        };
        if let Some(e) = failed {
            if let Some(pause) = backoff.failed_accept("", &e, &shared.metrics) {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => break,
                }
            }
        }
    }
    drop(plain);
    drop(tls_listener);
    sweeper.abort();
    // Idle connections close now, busy ones once their request is answered (HTTP/1 without
    // keep-alive, HTTP/2 after GOAWAY).
    let drain = graceful.shutdown();
    tokio::pin!(drain);
    if tokio::time::timeout(shared.config.shutdown_timeout, &mut drain)
        .await
        .is_err()
    {
        let in_flight = worker.in_flight();
        tracing::warn!(
            "shutdown: {in_flight} requests still in flight after {:?}; answering them 503 X503SD",
            shared.config.shutdown_timeout
        );
        worker.deadline_passed();
        if tokio::time::timeout(FLUSH, drain).await.is_err() {
            tracing::warn!(
                "shutdown: connections still open {} ms after the deadline are closed",
                FLUSH.as_millis()
            );
        }
    }
}

/// Every 10 s, closes the worker's backend connections left unused too long (until the
/// worker is gone).
async fn sweep_idle(worker: std::sync::Weak<Worker>) {
    let mut every = tokio::time::interval(Duration::from_secs(10));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match worker.upgrade() {
            Some(worker) => worker.sweep_idle(),
            None => return,
        }
    }
}

/// The pause after a failed `accept`: 10 ms, doubling up to 1 s while accepting keeps
/// failing (e.g. `EMFILE`, out of file descriptors: the pending connection stays in the
/// backlog, so accepting again at once would spin).
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            next: Backoff::FIRST,
        }
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    pub fn reset(&mut self) {
        self.next = Backoff::FIRST;
    }

    /// How long to wait after `e`; `None` for the errors of one connection that went away
    /// before it was accepted (accept the next one at once).
    pub fn after(&mut self, e: &std::io::Error) -> Option<Duration> {
        use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
        if matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted) {
            return None;
        }
        let pause = self.next;
        self.next = (self.next * 2).min(Backoff::MAX);
        Some(pause)
    }

    /// An accept failed with `e` (`what` prefixes the log line, e.g. `"admin: "`): counts it
    /// (`apigw_accept_errors_total`) and says how long to pause, with a log line when it
    /// pauses (see [`Backoff::after`]).
    pub fn failed_accept(
        &mut self,
        what: &str,
        e: &std::io::Error,
        metrics: &crate::metrics::Metrics,
    ) -> Option<Duration> {
        metrics.accept_errors.inc();
        let pause = self.after(e)?;
        tracing::warn!(
            "{what}accepting a connection failed: {e}; accepting again in {} ms",
            pause.as_millis()
        );
        Some(pause)
    }
}

async fn accept_opt(l: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Serves one accepted connection in its own task; with `tls`, after the TLS handshake
/// (bounded to 10 s).
fn serve(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    worker: &Arc<Worker>,
    tls: Option<&tokio_rustls::TlsAcceptor>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    // Past the node's connection cap the connection is closed at once, before any work.
    let Some(open) = OpenConnection::admit(&worker.shared) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let first_byte = worker.shared.config.first_byte_timeout;
    let (builder, watcher, worker, tls) = (
        builder.clone(),
        graceful.watcher(),
        worker.clone(),
        tls.cloned(),
    );
    tokio::spawn(async move {
        let _open = open;
        // A connection that sends nothing is closed after the first-byte timeout.
        let mut probe = [0u8; 1];
        match tokio::time::timeout(first_byte, stream.peek(&mut probe)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return,
            Err(_) => {
                worker.shared.metrics.first_byte_timeouts.inc();
                return;
            }
        }
        // hyper's own parse-error answers are counted too (as requests that matched no API).
        let counted = || {
            let shared = &worker.shared;
            shared.config.metrics.then(|| shared.clone())
        };
        let svc = |info: ConnInfo| {
            let (worker, info) = (worker.clone(), Arc::new(info));
            service_fn(move |req| {
                let (worker, info) = (worker.clone(), info.clone());
                async move { Ok::<_, Infallible>(worker.handle(req, &info).await) }
            })
        };
        match tls {
            None => {
                let svc = svc(ConnInfo::new(peer, false));
                let io = Rewrite::new(stream).counted_in(counted());
                let _ = watcher
                    .watch(builder.serve_connection_with_upgrades(TokioIo::new(io), svc))
                    .await;
            }
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                if let Ok(Ok(stream)) = handshake.await {
                    let name = TlsName::of(stream.get_ref().1, &worker.shared);
                    let svc = svc(ConnInfo::tls(peer, name));
                    let io = Rewrite::new(stream).counted_in(counted());
                    let _ = watcher
                        .watch(builder.serve_connection_with_upgrades(TokioIo::new(io), svc))
                        .await;
                }
            }
        }
    });
}

/// A connection counted against the node's cap (`max_connections`) while it is open.
struct OpenConnection(Arc<Shared>);

impl OpenConnection {
    fn admit(shared: &Arc<Shared>) -> Option<OpenConnection> {
        let open = shared.metrics.connections_open.inc() + 1;
        let guard = OpenConnection(shared.clone());
        let cap = shared.config.max_connections;
        if cap == 0 || usize::try_from(open).is_ok_and(|open| open <= cap) {
            Some(guard)
        } else {
            shared.metrics.connections_shed.inc();
            None
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.metrics.connections_open.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_back_off_10_ms_doubling_to_1_s() {
        let mut b = Backoff::default();
        let emfile = std::io::Error::from_raw_os_error(24);
        let pauses: Vec<u128> = (0..9)
            .map(|_| b.after(&emfile).unwrap().as_millis())
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        let aborted = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
        assert_eq!(b.after(&aborted), None);
        b.reset();
        assert_eq!(b.after(&emfile), Some(Duration::from_millis(10)));
    }
}
