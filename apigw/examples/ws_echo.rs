//! WebSocket echo backend for the load benchmark (bench/run.sh, `PROTOCOLS=ws`): accepts
//! WebSocket upgrades on any path and sends every text and binary message back unchanged.
//! One thread (a current-thread runtime), like the benchmark's other backend.
//!
//! ```sh
//! cargo run --release --example ws_echo -- 127.0.0.1:18101
//! ```

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18101".to_string());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(serve(&addr));
}

async fn serve(addr: &str) {
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("ws_echo: cannot listen on {addr}: {e}");
            std::process::exit(2);
        }
    };
    eprintln!("ws_echo: listening on {addr}");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(echo(stream));
            }
            Err(e) => eprintln!("ws_echo: accept: {e}"),
        }
    }
}

/// One connection: the upgrade, then every data message back until the client closes.
async fn echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut ws = match tokio_tungstenite::accept_async(stream).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("ws_echo: handshake: {e}");
            return;
        }
    };
    while let Some(Ok(msg)) = ws.next().await {
        if msg.is_close() {
            return;
        }
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            return;
        }
    }
}
