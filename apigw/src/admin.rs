//! The admin listener. Today: `GET /healthz`. The management OpenAPI will be served at `/`.

use apigw_gateway::Shared;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::watch;

pub fn start(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.changed() => return,
            };
            let Ok((stream, _)) = accepted else { continue };
            let shared = shared.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(handle(req, &shared)) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(())
}

fn handle(req: Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    let request_id = apigw_gateway::request_id::new_request_id();
    let rid = request_id.to_str().unwrap_or_default();
    let (status, body) = if req.uri().path() == "/healthz" {
        let snap = shared.snapshot.load();
        let body = serde_json::json!({
            "RequestId": rid, "Status": "ok", "Generation": snap.generation, "Apis": snap.api_count(),
        });
        (StatusCode::OK, body)
    } else {
        let body = serde_json::json!({
            "RequestId": rid,
            "Code": "InvalidAction.NotFound",
            "Message": "the management OpenAPI is not available in this version; configure with `apigw apply -f`",
        });
        (StatusCode::NOT_FOUND, body)
    };
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json;charset=utf-8"),
    );
    resp
}
