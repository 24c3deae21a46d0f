//! WebSocket load client for the load benchmark (bench/run.sh, `PROTOCOLS=ws`): opens
//! `--connections` WebSockets; each sends a binary message of `--size` bytes and waits for
//! its echo, in a loop, for `--warmup` seconds (not counted) and then `--duration` seconds.
//! Prints one line:
//!
//! ```text
//! ws_load messages_per_sec=41234.5 p50_ms=0.712 p99_ms=1.204 messages=412345 errors=0 connections=32 size=64 duration_s=10
//! ```
//!
//! `messages` counts round trips (a message sent and its echo received, checked byte for byte)
//! that started after the warm-up and ended before the end; `p50_ms`/`p99_ms` are their
//! latencies. `errors`: connections that failed or got a wrong echo during the run (each such
//! connection stops). Opening a connection fails the run (exit 1, with the server's answer).
//!
//! ```sh
//! cargo run --release --example ws_load -- --url ws://127.0.0.1:18105/ws --host localhost
//! ```

use bytes::Bytes;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

#[derive(Parser)]
struct Args {
    /// ws:// URL to connect to.
    #[arg(long)]
    url: String,
    /// Host header to send instead of the URL's host and port.
    #[arg(long)]
    host: Option<String>,
    /// Connections, each with one message in flight.
    #[arg(short, long, default_value_t = 32)]
    connections: usize,
    /// Message size in bytes.
    #[arg(short, long, default_value_t = 64)]
    size: usize,
    /// Measured seconds.
    #[arg(short, long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the measured ones, not counted.
    #[arg(short, long, default_value_t = 2.0)]
    warmup: f64,
    /// Runtime threads (1 = a current-thread runtime, like `wrk -t1`).
    #[arg(short, long, default_value_t = 1)]
    threads: usize,
}

type Ws = WebSocketStream<TcpStream>;

/// What one connection measured.
#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    errors: u64,
}

fn main() {
    let args = Args::parse();
    let runtime = match args.threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .expect("a tokio runtime");
    match runtime.block_on(run(&args)) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("ws_load: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(args: &Args) -> Result<String, String> {
    let mut sockets = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        sockets.push(open(args).await?);
    }
    let payload = Bytes::from(vec![b'x'; args.size]);
    let measure_from = Instant::now() + Duration::from_secs_f64(args.warmup);
    let until = measure_from + Duration::from_secs_f64(args.duration);
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|ws| tokio::spawn(drive(ws, payload.clone(), measure_from, until)))
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let tally = task
            .await
            .map_err(|e| format!("a connection task failed: {e}"))?;
        latencies.extend(tally.latencies_ns);
        errors += tally.errors;
    }
    latencies.sort_unstable();
    Ok(format!(
        "ws_load messages_per_sec={:.1} p50_ms={:.3} p99_ms={:.3} messages={} errors={errors} connections={} size={} duration_s={}",
        latencies.len() as f64 / args.duration,
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
        latencies.len(),
        args.connections,
        args.size,
        args.duration,
    ))
}

/// Connects and upgrades one WebSocket; a refusal names the status and `X-Ca-Error-Code`.
async fn open(args: &Args) -> Result<Ws, String> {
    let mut req = args
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("bad --url {}: {e}", args.url))?;
    let uri = req.uri().clone();
    let host = uri.host().ok_or("--url has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    if let Some(h) = &args.host {
        let value = h.parse().map_err(|_| format!("bad --host {h}"))?;
        req.headers_mut().insert(http::header::HOST, value);
    }
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connect {host}:{port}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    match tokio_tungstenite::client_async(req, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(resp)) => {
            let code = resp.headers().get("x-ca-error-code");
            Err(format!(
                "upgrade refused: HTTP {} X-Ca-Error-Code {code:?}",
                resp.status()
            ))
        }
        Err(e) => Err(format!("upgrade failed: {e}")),
    }
}

/// One connection's closed loop: a message, its echo, the next message, until `until`.
async fn drive(mut ws: Ws, payload: Bytes, measure_from: Instant, until: Instant) -> Tally {
    let mut tally = Tally::default();
    loop {
        let sent = Instant::now();
        if sent >= until {
            break;
        }
        if ws.send(Message::Binary(payload.clone())).await.is_err() {
            tally.errors += 1;
            return tally;
        }
        match next_data(&mut ws).await {
            Some(Message::Binary(echo)) if echo == payload => {}
            _ => {
                tally.errors += 1;
                return tally;
            }
        }
        let done = Instant::now();
        if sent >= measure_from && done <= until {
            tally.latencies_ns.push((done - sent).as_nanos() as u64);
        }
    }
    let _ = ws.close(None).await;
    tally
}

/// The next text or binary message (pings and pongs skipped); None when the stream ends.
async fn next_data(ws: &mut Ws) -> Option<Message> {
    loop {
        match ws.next().await? {
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(msg) => return Some(msg),
            Err(_) => return None,
        }
    }
}

/// The `p` quantile (nearest rank) of sorted nanoseconds, in milliseconds; 0 when empty.
fn percentile_ms(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted_ns.len() as f64).ceil() as usize).clamp(1, sorted_ns.len());
    sorted_ns[rank - 1] as f64 / 1e6
}
