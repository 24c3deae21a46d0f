//! The floor of a proxy built on hyper, for the load benchmark (bench/run.sh, target
//! `hyper-floor`): HTTP/1 server to pooled HTTP/1 client, the request forwarded as it came (the
//! `Host` set to the backend's) and the answer streamed back, with no gateway work at all. One
//! thread (a current-thread runtime), like apigw with one worker. Not part of the product.
//!
//! ```sh
//! cargo run --release --example hyper_proxy -- 127.0.0.1:18110 127.0.0.1:18081
//! ```

use http_body_util::{combinators::BoxBody, BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use tokio::net::TcpListener;

type Backend = Client<HttpConnector, Incoming>;

fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18110".to_string());
    let backend = args.next().unwrap_or_else(|| "127.0.0.1:18081".to_string());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(serve(&listen, backend));
}

async fn serve(listen: &str, backend: String) {
    let listener = match TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("hyper_proxy: cannot listen on {listen}: {e}");
            std::process::exit(2);
        }
    };
    eprintln!("hyper_proxy: listening on {listen}, proxying to {backend}");
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Backend = Client::builder(TokioExecutor::new()).build(connector);
    let host = hyper::header::HeaderValue::from_str(&backend).expect("a host:port");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (client, backend, host) = (client.clone(), backend.clone(), host.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| forward(client.clone(), &backend, host.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn forward(
    client: Backend,
    backend: &str,
    host: hyper::header::HeaderValue,
    mut req: Request<Incoming>,
) -> impl std::future::Future<Output = Result<Response<BoxBody<Bytes, hyper::Error>>, Infallible>> {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let uri = format!("http://{backend}{path}").parse().expect("a URI");
    *req.uri_mut() = uri;
    req.headers_mut().insert(hyper::header::HOST, host);
    async move {
        Ok(match client.request(req).await {
            Ok(resp) => resp.map(BodyExt::boxed),
            Err(e) => {
                eprintln!("hyper_proxy: {e}");
                let empty = Empty::new().map_err(|never| match never {}).boxed();
                let mut resp = Response::new(empty);
                *resp.status_mut() = hyper::StatusCode::BAD_GATEWAY;
                resp
            }
        })
    }
}
