//! `GET /healthz` and `GET /readyz` on the admin listener of the real binary: a normal node,
//! a node whose Redis does not answer, and a cluster node whose PostgreSQL stops and starts
//! again.

mod support;

use serde_json::Value;
use support::own_postgres::OwnPostgres;
use support::{eventually, free_port, get, Gateway};

const AK: (&str, &str) = ("healthid", "health-secret-0001");

async fn readyz(gw: &Gateway) -> (u16, Value) {
    let r = get(gw.admin, "localhost", "/readyz").await;
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        r.header("content-type")
    );
    (r.status.as_u16(), r.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_readyz_answer_200_on_a_normal_node() {
    let gw = Gateway::start("");
    let health = get(gw.admin, "localhost", "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.text());
    assert_eq!(health.json()["status"], "ok", "{}", health.text());

    let (status, body) = readyz(&gw).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready", "{body}");
    let checks = body["checks"].as_object().expect("checks");
    assert_eq!(checks["store"]["ok"], true, "{body}");
    assert!(checks["store"]["generation"].is_u64(), "{body}");
    assert_eq!(checks["configuration"]["ok"], true, "{body}");
    assert!(checks["configuration"]["generation"].is_u64(), "{body}");
    // No Redis configured: no Redis check.
    assert!(!checks.contains_key("redis"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_naming_redis_when_redis_does_not_answer() {
    // Nothing listens on that port; the password must not show.
    let url = format!("redis://apigw:redis-pw-0001@127.0.0.1:{}", free_port());
    let gw = Gateway::start_in_with_env(
        tempfile::tempdir().unwrap(),
        &[("APIGW_REDIS_URL", &url), ("APIGW_REDIS_TIMEOUT_MS", "100")],
    );
    // Alive all the same.
    let health = get(gw.admin, "localhost", "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.text());

    let (status, body) = readyz(&gw).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not ready", "{body}");
    let checks = &body["checks"];
    assert_eq!(checks["redis"]["ok"], false, "{body}");
    let error = checks["redis"]["error"].as_str().expect("redis error");
    assert!(error.contains("127.0.0.1"), "{body}");
    assert_eq!(checks["store"]["ok"], true, "{body}");
    assert_eq!(checks["configuration"]["ok"], true, "{body}");
    assert!(!body.to_string().contains("redis-pw-0001"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_naming_the_store_while_postgresql_is_down_and_200_once_it_is_back() {
    let mut pg = OwnPostgres::start();
    // The server trusts every local login; a password in the URL must not show all the same.
    let url = pg.url().replace("postgres@", "postgres:pg-pw-0001@");
    let gw = Gateway::start_cluster_node(
        &url,
        &[
            ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
            ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
        ],
    );
    // Serving what the store holds (the root key written at start is picked up by a reload).
    eventually(|| async {
        let (_, body) = readyz(&gw).await;
        body["checks"]["configuration"]["generation"] == body["checks"]["store"]["generation"]
    })
    .await;
    let (status, body) = readyz(&gw).await;
    assert_eq!(status, 200, "{body}");
    let generation = body["checks"]["configuration"]["generation"].clone();
    assert!(generation.is_u64(), "{body}");
    assert_eq!(generation, body["checks"]["store"]["generation"], "{body}");

    pg.stop();
    let (status, body) = readyz(&gw).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not ready", "{body}");
    let checks = &body["checks"];
    assert_eq!(checks["store"]["ok"], false, "{body}");
    assert!(
        !checks["store"]["error"]
            .as_str()
            .expect("store error")
            .is_empty(),
        "{body}"
    );
    // The node still serves the configuration it loaded.
    assert_eq!(checks["configuration"]["ok"], true, "{body}");
    assert_eq!(checks["configuration"]["generation"], generation, "{body}");
    assert!(!body.to_string().contains("pg-pw-0001"), "{body}");
    // Alive all the same.
    let health = get(gw.admin, "localhost", "/healthz").await;
    assert_eq!(health.status, 200, "{}", health.text());

    pg.restart();
    eventually(|| async { readyz(&gw).await.0 == 200 }).await;
    let (status, body) = readyz(&gw).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["checks"]["store"]["ok"], true, "{body}");
}
