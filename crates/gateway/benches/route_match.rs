//! Route matching on the compiled snapshot: host → group → (stage, method, path) → API,
//! with 100, 1,000 and 10,000 deployed APIs. The cost should not grow with the count.

use apigw_gateway::router::split_path;
use apigw_gateway::snapshot::Snapshot;
use apigw_gateway::GatewayConfig;
use apigw_model::{ApiDefinition, Deployment, Domain, Group, Stage};
use apigw_store::LiveConfig;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http::Method;
use serde_json::json;
use std::hint::black_box;

fn live(apis: usize) -> LiveConfig {
    let group: Group =
        serde_json::from_value(json!({"GroupId": "g1", "GroupName": "bench"})).unwrap();
    let domain = Domain {
        domain_name: "api.example.com".into(),
        group_id: "g1".into(),
        bind_stage_name: None,
        certificate: None,
        web_socket: Default::default(),
    };
    let deployments = (0..apis)
        .map(|i| {
            // A mix of shapes: static, one parameter, two parameters, prefix.
            let path = match i % 4 {
                0 => format!("/svc{i}/items"),
                1 => format!("/svc{i}/items/[id]"),
                2 => format!("/svc{i}/users/[uid]/orders/[oid]"),
                _ => format!("/svc{i}/static/*"),
            };
            let def: ApiDefinition = serde_json::from_value(json!({
                "ApiId": format!("api{i}"), "GroupId": "g1", "ApiName": format!("api_{i}"), "AuthType": "ANONYMOUS",
                "RequestConfig": {"RequestHttpMethod": "GET", "RequestPath": path},
                "ServiceConfig": {"ServiceAddress": "http://127.0.0.1:9000", "ServiceTimeout": 1000}
            }))
            .unwrap();
            std::sync::Arc::new(Deployment {
                api_id: def.api_id.clone(),
                group_id: "g1".into(),
                stage_name: Stage::Release,
                history_version: "20261125000000000".into(),
                description: String::new(),
                deployed_time: String::new(),
                online: true,
                definition: def,
            })
        })
        .collect();
    LiveConfig {
        generation: 1,
        groups: vec![group],
        domains: vec![domain],
        deployments,
        ..LiveConfig::default()
    }
}

fn find(snap: &Snapshot, host: &str, path: &str) -> bool {
    let Some(entry) = snap.host(host) else {
        return false;
    };
    let segments = split_path(path);
    snap.groups[entry.group]
        .router(Stage::Release)
        .find(&Method::GET, &segments)
        .is_some()
}

fn route_match(c: &mut Criterion) {
    let mut g = c.benchmark_group("route_match");
    for n in [100usize, 1_000, 10_000] {
        let snap = Snapshot::compile(&live(n), &GatewayConfig::default());
        assert_eq!(snap.api_count(), n);
        let last = n - 1 - (n - 1) % 4; // a static API near the end
        let paths = [
            ("static", format!("/svc{last}/items")),
            ("one_param", format!("/svc{}/items/12345", last + 1)),
            ("two_params", format!("/svc{}/users/42/orders/7", last + 2)),
            ("prefix", format!("/svc{}/static/css/site.css", last + 3)),
            ("miss", "/nowhere/at/all".to_string()),
        ];
        for (name, path) in &paths {
            assert_eq!(
                find(&snap, "api.example.com", path),
                *name != "miss",
                "{name} {path}"
            );
            g.bench_with_input(BenchmarkId::new(*name, n), path, |b, path| {
                b.iter(|| {
                    find(
                        black_box(&snap),
                        black_box("api.example.com"),
                        black_box(path),
                    )
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, route_match);
criterion_main!(benches);
