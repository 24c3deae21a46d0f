//! The admin listener: `GET /healthz` (the process is alive), `GET /readyz` (the node can
//! serve: its store answers, a configuration is loaded, Redis answers in a Redis cluster),
//! `GET /metrics` (Prometheus text format; unsigned, like the health checks: the admin listener
//! is the operator's, on loopback by default), the web console at `/console` with its debug
//! relay (`console.rs`), and the management OpenAPI (CloudAPI 2016-07-14) at `/`.

use apigw_gateway::server::Backoff;
use apigw_gateway::Shared;
use apigw_mgmt::Management;
use apigw_redis_state::RedisState;
use apigw_store::Store;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Largest management request body (CreateApi carries JSON documents; ImportSwagger more).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// The longest `/readyz` waits for the store or Redis to answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What `GET /readyz` checks besides the configuration being loaded.
pub struct Readiness {
    /// The configuration store (its generation is read).
    pub store: Arc<dyn Store>,
    /// Redis, in a cluster that shares its runtime state there (`APIGW_REDIS_URL`).
    pub redis: Option<Arc<RedisState>>,
}

pub fn start(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mgmt: Arc<Management>,
    readiness: Arc<Readiness>,
    data: std::net::SocketAddr,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let relay_target = crate::console::relay_target(data);
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
            let (shared, mgmt, readiness) = (shared.clone(), mgmt.clone(), readiness.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let (shared, mgmt, readiness) =
                        (shared.clone(), mgmt.clone(), readiness.clone());
                    async move {
                        Ok::<_, Infallible>(
                            handle(req, &shared, &mgmt, &readiness, relay_target).await,
                        )
                    }
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
    readiness: &Readiness,
    relay_target: std::net::SocketAddr,
) -> Response<Full<Bytes>> {
    if req.uri().path() == "/healthz" {
        // Alive: this process answers. (`Status`, `Generation`, `Apis`: the fields it had
        // before `status`, kept for the scripts that read them.)
        let snap = shared.snapshot.load();
        let request_id = apigw_gateway::request_id::new_request_id();
        let body = serde_json::json!({
            "status": "ok",
            "RequestId": request_id.to_str().unwrap_or_default(), "Status": "ok",
            "Generation": snap.generation, "Apis": snap.api_count(),
        });
        return json(StatusCode::OK, body.to_string());
    }
    if req.uri().path() == "/readyz" {
        let (status, body) = ready(shared, readiness).await;
        return json(status, body.to_string());
    }
    if req.uri().path() == "/metrics" {
        let mut resp = Response::new(Full::new(Bytes::from(shared.metrics.encode())));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(apigw_gateway::metrics::CONTENT_TYPE),
        );
        return resp;
    }
    let path = req.uri().path();
    let relay = path == crate::console::RELAY_PATH;
    if !relay && (path == crate::console::PREFIX || path.starts_with("/console/")) {
        return crate::console::asset(req.method(), path);
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
    if relay {
        let result = crate::console::relay(mgmt, relay_target, &parts, &body).await;
        let reply = mgmt.reply(result);
        return json(
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            reply.body,
        );
    }
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

/// `/readyz`: 200 `{"status":"ready","checks":{...}}` when every check passes, else 503
/// `{"status":"not ready","checks":{...}}`; each check is `{"ok":true,...}` or
/// `{"ok":false,"error":"..."}` (no credentials: the store's and Redis's messages carry none).
async fn ready(shared: &Shared, readiness: &Readiness) -> (StatusCode, serde_json::Value) {
    use serde_json::json;
    let within = format!("no answer within {} s", CHECK_TIMEOUT.as_secs());
    let store = async {
        match tokio::time::timeout(CHECK_TIMEOUT, readiness.store.generation()).await {
            Ok(Ok(generation)) => json!({"ok": true, "generation": generation}),
            Ok(Err(e)) => json!({"ok": false, "error": e.to_string()}),
            Err(_) => json!({"ok": false, "error": within}),
        }
    };
    let redis = async {
        match &readiness.redis {
            None => None,
            Some(r) => Some(match r.ping(CHECK_TIMEOUT).await {
                Ok(()) => json!({"ok": true}),
                Err(e) => json!({"ok": false, "error": e}),
            }),
        }
    };
    let (store, redis) = tokio::join!(store, redis);
    let configuration = if shared.loaded() {
        let snap = shared.snapshot.load();
        json!({"ok": true, "generation": snap.generation, "apis": snap.api_count()})
    } else {
        json!({"ok": false, "error": "no configuration loaded yet"})
    };
    let mut checks = serde_json::Map::new();
    checks.insert("store".into(), store);
    checks.insert("configuration".into(), configuration);
    if let Some(redis) = redis {
        checks.insert("redis".into(), redis);
    }
    let ok = checks.values().all(|c| c["ok"] == true);
    let (status, word) = if ok {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    (status, json!({"status": word, "checks": checks}))
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
