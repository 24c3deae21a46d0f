//! Compiling the live configuration into a snapshot, with 100 and 10,000 deployed APIs: from
//! scratch (start-up), and again after one API was redeployed (what a DeployApi costs).

use apigw_gateway::snapshot::Snapshot;
use apigw_gateway::GatewayConfig;
use apigw_model::{ApiDefinition, Deployment, Domain, Group, Stage};
use apigw_store::LiveConfig;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;

fn deployment(i: usize, version: &str) -> Arc<Deployment> {
    let group = format!("g{}", i % 100);
    let def: ApiDefinition = serde_json::from_value(json!({
        "ApiId": format!("api{i}"), "GroupId": group, "ApiName": format!("api_{i}"), "AuthType": "ANONYMOUS",
        "RequestConfig": {"RequestHttpMethod": "GET", "RequestPath": format!("/svc{i}/items/[id]")},
        "ServiceConfig": {"ServiceAddress": "http://127.0.0.1:9000", "ServicePath": "/v1/items/[id]", "ServiceTimeout": 1000}
    }))
    .unwrap();
    Arc::new(Deployment {
        api_id: def.api_id.clone(),
        group_id: group,
        stage_name: Stage::Release,
        history_version: version.into(),
        description: String::new(),
        deployed_time: String::new(),
        online: true,
        definition: def,
    })
}

fn live(apis: usize) -> LiveConfig {
    let groups = (0..100.min(apis))
        .map(|g| {
            serde_json::from_value::<Group>(
                json!({"GroupId": format!("g{g}"), "GroupName": format!("group_{g}")}),
            )
            .unwrap()
        })
        .collect();
    let domains = (0..100.min(apis))
        .map(|g| Domain {
            domain_name: format!("api{g}.example.com"),
            group_id: format!("g{g}"),
            bind_stage_name: None,
            certificate: None,
            web_socket: Default::default(),
        })
        .collect();
    LiveConfig {
        generation: 1,
        groups,
        domains,
        deployments: (0..apis)
            .map(|i| deployment(i, "20261125000000000"))
            .collect(),
        ..LiveConfig::default()
    }
}

fn bench(c: &mut Criterion) {
    let config = GatewayConfig::default();
    let mut g = c.benchmark_group("snapshot_compile");
    g.sample_size(10);
    for n in [100, 10_000] {
        let before = live(n);
        g.bench_with_input(BenchmarkId::new("from_scratch", n), &before, |b, live| {
            b.iter(|| black_box(Snapshot::compile(live, &config)))
        });
        let previous = Snapshot::compile(&before, &config);
        let mut after = before.clone();
        after.generation = 2;
        after.deployments[n / 2] = deployment(n / 2, "20261125000000001");
        g.bench_with_input(BenchmarkId::new("one_redeployed", n), &after, |b, live| {
            b.iter(|| black_box(Snapshot::recompile(&previous, live, &config)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
