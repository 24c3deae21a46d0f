//! The admin listener: `GET /healthz`, `GET /metrics` (Prometheus text format; unsigned, like
//! `/healthz`: the admin listener is the operator's, on loopback by default), and the
//! management OpenAPI (CloudAPI 2016-07-14) at `/`.

use apigw_gateway::server::Backoff;
use apigw_gateway::Shared;
use apigw_mgmt::Management;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::watch;

/// Largest management request body (CreateApi carries JSON documents; ImportSwagger more).
const MAX_BODY: usize = 8 * 1024 * 1024;

pub fn start(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mgmt: Arc<Management>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    tokio::spawn(async move {
        let mut backoff = Backoff::default();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.changed() => return,
            };
            let stream = match accepted {
                Ok((stream, _)) => {
                    backoff.reset();
                    stream
                }
                Err(e) => {
                    // Out of descriptors the pending connection stays in the backlog: pause
                    // rather than spin, as the data plane does.
                    if let Some(pause) = backoff.failed_accept("admin: ", &e, &shared.metrics) {
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = stop.changed() => return,
                        }
                    }
                    continue;
                }
            };
            let (shared, mgmt) = (shared.clone(), mgmt.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let (shared, mgmt) = (shared.clone(), mgmt.clone());
                    async move { Ok::<_, Infallible>(handle(req, &shared, &mgmt).await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(())
}

async fn handle(
    req: Request<Incoming>,
    shared: &Shared,
    mgmt: &Management,
) -> Response<Full<Bytes>> {
    if req.uri().path() == "/healthz" {
        let snap = shared.snapshot.load();
        let request_id = apigw_gateway::request_id::new_request_id();
        let body = serde_json::json!({
            "RequestId": request_id.to_str().unwrap_or_default(), "Status": "ok",
            "Generation": snap.generation, "Apis": snap.api_count(),
        });
        return json(StatusCode::OK, body.to_string());
    }
    if req.uri().path() == "/metrics" {
        let mut resp = Response::new(Full::new(Bytes::from(shared.metrics.encode())));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(apigw_gateway::metrics::CONTENT_TYPE),
        );
        return resp;
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let body = serde_json::json!({
                "RequestId": apigw_gateway::request_id::new_request_id().to_str().unwrap_or_default(),
                "Code": "InvalidParameter", "Message": format!("cannot read the request body: {e}"),
            });
            return json(StatusCode::BAD_REQUEST, body.to_string());
        }
    };
    let reply = mgmt
        .handle(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            &body,
        )
        .await;
    json(
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        reply.body,
    )
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json;charset=utf-8"),
    );
    resp
}
