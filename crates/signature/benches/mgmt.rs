//! Management API signatures: `parse` + `verify` of a Tea-SDK-like `CreateApi` call (V3, 7 query
//! parameters, a form body) and of the same call signed with V1.

use std::hint::black_box;

use apigw_signature::mgmt::{self, MgmtRequest, SignedCall};
use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderName, HeaderValue};

const SECRET: &str = "testsecret";

fn params() -> Vec<(String, String)> {
    [
        ("GroupId", "abcdef0123456789abcdef0123456789"),
        ("ApiName", "get_user"),
        ("Visibility", "PRIVATE"),
        ("AuthType", "APP"),
        ("Description", "a b&c=d/é~*"),
        ("RequestConfig", r#"{"RequestProtocol":"HTTP","RequestHttpMethod":"GET","RequestPath":"/users/[userId]","RequestMode":"MAPPING"}"#),
        ("ServiceConfig", r#"{"ServiceProtocol":"HTTP","ServiceAddress":"http://127.0.0.1:9000","ServicePath":"/u/[userId]","ServiceHttpMethod":"GET","ServiceTimeout":10000}"#),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

fn headers(call: &SignedCall) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in &call.headers {
        h.append(
            HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn bench(c: &mut Criterion, name: &str, call: &SignedCall) {
    let h = headers(call);
    let (path, query) = call
        .path_and_query
        .split_once('?')
        .unwrap_or((&call.path_and_query, ""));
    let req = MgmtRequest {
        method: call.method,
        path,
        query: Some(query),
        headers: &h,
        body: &call.body,
    };
    mgmt::parse(&req).unwrap().verify(SECRET).unwrap();
    c.bench_function(name, |b| {
        b.iter(|| {
            let parsed = mgmt::parse(black_box(&req)).unwrap();
            parsed.verify(black_box(SECRET)).unwrap();
        })
    });
}

fn benches(c: &mut Criterion) {
    let form = vec![(
        "RequestParameters".to_owned(),
        r#"[{"ApiParameterName":"userId","Location":"PATH","ParameterType":"String","Required":"REQUIRED"}]"#.to_owned(),
    )];
    let (now, nonce) = ("2024-05-01T12:00:00Z", "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b");
    let v3 = mgmt::sign_v3_form(
        "testid",
        SECRET,
        "127.0.0.1:18080",
        "CreateApi",
        "2016-07-14",
        &params(),
        &form,
        now,
        nonce,
    );
    bench(c, "mgmt_v3_parse_verify", &v3);
    let mut all = params();
    all.extend(form);
    let v1 = mgmt::sign_v1(
        "testid",
        SECRET,
        "127.0.0.1:18080",
        "CreateApi",
        "2016-07-14",
        &all,
        now,
        nonce,
    );
    bench(c, "mgmt_v1_parse_verify", &v1);
}

criterion_group!(mgmt_benches, benches);
criterion_main!(mgmt_benches);
