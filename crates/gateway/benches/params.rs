//! The parameter phase for an API with 10 declared parameters (path, query, header; Int,
//! Long, Double, Boolean, enum, length, regular expression), each mapped to a backend name and
//! location, plus one constant and two system parameters: validation and mapping of one
//! request. Target: under 3 µs.

use apigw_gateway::params::{ParamPlan, RequestView, SystemValues};
use apigw_model::params::Parameters;
use apigw_model::{ApiDefinition, PathPattern};
use criterion::{criterion_group, criterion_main, Criterion};
use http::header::{HeaderMap, HeaderValue};
use serde_json::json;
use std::hint::black_box;

fn plan() -> ParamPlan {
    let p = |name: &str, loc: &str, ty: &str, extra: serde_json::Value| {
        let mut v = json!({"ApiParameterName": name, "Location": loc, "ParameterType": ty,
                           "Required": "REQUIRED"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let request = vec![
        p(
            "userId",
            "PATH",
            "Int",
            json!({"MinValue": 1, "MaxValue": 100000}),
        ),
        p("orderId", "PATH", "Long", json!({})),
        p("q", "QUERY", "String", json!({"MaxLength": 20})),
        p(
            "page",
            "QUERY",
            "Int",
            json!({"MinValue": 1, "MaxValue": 1000}),
        ),
        p(
            "size",
            "QUERY",
            "Int",
            json!({"Required": "OPTIONAL", "DefaultValue": "20"}),
        ),
        p("sort", "QUERY", "String", json!({"EnumValue": "asc,desc"})),
        p("price", "QUERY", "Double", json!({"MinValue": 0})),
        p("verbose", "QUERY", "Boolean", json!({})),
        p(
            "X-Trace",
            "HEAD",
            "String",
            json!({"RegularExpression": "[0-9a-f]{16}"}),
        ),
        p(
            "X-Tenant",
            "HEAD",
            "String",
            json!({"MinLength": 2, "MaxLength": 32}),
        ),
    ];
    let service: Vec<_> = [
        ("uid", "PATH"),
        ("oid", "PATH"),
        ("keyword", "QUERY"),
        ("p", "QUERY"),
        ("X-Size", "HEAD"),
        ("order", "QUERY"),
        ("X-Price", "HEAD"),
        ("v", "QUERY"),
        ("trace", "QUERY"),
        ("X-Tenant-Id", "HEAD"),
    ]
    .iter()
    .map(|(n, l)| json!({"ServiceParameterName": n, "Location": l, "ParameterType": "STRING"}))
    .collect();
    let map: Vec<_> = request
        .iter()
        .zip(&service)
        .map(|(r, s)| {
            json!({"RequestParameterName": r["ApiParameterName"],
                   "ServiceParameterName": s["ServiceParameterName"]})
        })
        .collect();
    let def: ApiDefinition = serde_json::from_value(json!({
        "ApiName": "bench", "AuthType": "ANONYMOUS",
        "RequestConfig": {"RequestHttpMethod": "GET",
                          "RequestPath": "/users/[userId]/orders/[orderId]", "RequestMode": "MAPPING"},
        "ServiceConfig": {"ServiceAddress": "http://127.0.0.1:9000",
                          "ServicePath": "/u/[uid]/o/[oid]"},
        "RequestParameters": request, "ServiceParameters": service, "ServiceParametersMap": map,
        "ConstantParameters": [{"ServiceParameterName": "X-Env", "ConstantValue": "prod", "Location": "HEAD"}],
        "SystemParameters": [
            {"ParameterName": "CaClientIp", "ServiceParameterName": "X-Real-IP", "Location": "HEAD"},
            {"ParameterName": "CaRequestId", "ServiceParameterName": "X-Rid", "Location": "HEAD"}]
    }))
    .unwrap();
    let path = PathPattern::parse(&def.request_config.request_path, false).unwrap();
    let params = Parameters::of(&def, &path).unwrap();
    ParamPlan::compile(&params, &path).unwrap().unwrap()
}

fn bench(c: &mut Criterion) {
    let plan = plan();
    let mut headers = HeaderMap::new();
    headers.insert("x-trace", HeaderValue::from_static("0123456789abcdef"));
    headers.insert("x-tenant", HeaderValue::from_static("acme"));
    headers.insert("accept", HeaderValue::from_static("application/json"));
    headers.insert("user-agent", HeaderValue::from_static("bench/1.0"));
    let path = [("userId", "4242"), ("orderId", "9007199254740993")];
    let query = "q=%E6%89%8B%E6%9C%BA+case&page=3&sort=desc&price=19.99&verbose=true&junk=1";
    let sys = SystemValues {
        client_ip: "203.0.113.7",
        domain: "api.example.com",
        handle_time: "2026-11-25T08:00:00Z",
        app_id: Some(1234567890),
        app_key: Some("203752305"),
        app_extend: None,
        request_id: "CCE4DEE6-26EF-46CB-B5EB-327A9FE20ED1",
        https: false,
        api_name: "bench",
        user_agent: "bench/1.0",
        stage: "RELEASE",
        instance_id: "node",
    };
    let view = RequestView {
        path: &path,
        query: Some(query),
        headers: &headers,
        form: None,
        stream: None,
    };
    let mapped = plan.apply(&view, &sys).unwrap();
    assert_eq!(mapped.query.len(), 5);
    assert_eq!(mapped.headers.len(), 6);
    c.bench_function("params/validate_and_map_10", |b| {
        b.iter(|| {
            let m = plan.apply(black_box(&view), black_box(&sys)).unwrap();
            black_box(m.query_string());
            m
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
