//! Request parameters over real sockets: validation (`I400MP`/`I400IP`), mapping to backend
//! names and locations in the three request modes, FORM and STREAM bodies, constant and system
//! parameters, and the backend signature checked by a verifier written here from the spec.

mod support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::HashMap;
use std::net::SocketAddr;
use support::{send, Gateway, Resp};

const CONFIG: &str = r#"
Groups:
  - GroupName: params
    Domains: [{DomainName: localhost}]
    Apis:
      - ApiName: typed
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: "/typed/[id]", RequestMode: MAPPING}
        ServiceConfig: {ServiceAddress: "http://BACKEND", ServicePath: "/svc/[uid]", ServiceTimeout: 3000}
        RequestParameters:
          - {ApiParameterName: id, Location: PATH, ParameterType: Int, Required: REQUIRED, MinValue: 1, MaxValue: 1000}
          - {ApiParameterName: q, Location: QUERY, ParameterType: String, Required: OPTIONAL, MinLength: 2, MaxLength: 5}
          - {ApiParameterName: n, Location: QUERY, ParameterType: Long, Required: REQUIRED}
          - {ApiParameterName: f, Location: QUERY, ParameterType: Float, Required: OPTIONAL, MinValue: 0.5, MaxValue: 2.5, DefaultValue: "1.5"}
          - {ApiParameterName: d, Location: QUERY, ParameterType: Double, Required: OPTIONAL}
          - {ApiParameterName: b, Location: QUERY, ParameterType: Boolean, Required: OPTIONAL, DefaultValue: "false"}
          - {ApiParameterName: color, Location: QUERY, ParameterType: String, Required: OPTIONAL, EnumValue: "red,green"}
          - {ApiParameterName: X-Code, Location: HEAD, ParameterType: String, Required: OPTIONAL, RegularExpression: "[A-Z]{3}-\\d+"}
          - {ApiParameterName: tags, Location: QUERY, ParameterType: Array, ArrayItemsType: Int, Required: OPTIONAL}
          - {ApiParameterName: doc, Location: QUERY, ParameterType: String, Required: OPTIONAL, JsonScheme: '{"type":"object","required":["a"],"properties":{"a":{"type":"integer"}}}'}
        ServiceParameters:
          - {ServiceParameterName: uid, Location: PATH, ParameterType: INT}
          - {ServiceParameterName: X-Q, Location: HEAD, ParameterType: STRING}
          - {ServiceParameterName: num, Location: QUERY, ParameterType: LONG}
          - {ServiceParameterName: ff, Location: QUERY, ParameterType: FLOAT}
          - {ServiceParameterName: X-D, Location: HEAD, ParameterType: DOUBLE}
          - {ServiceParameterName: flag, Location: QUERY, ParameterType: BOOLEAN}
          - {ServiceParameterName: color, Location: QUERY, ParameterType: STRING}
          - {ServiceParameterName: code, Location: QUERY, ParameterType: STRING}
          - {ServiceParameterName: tag, Location: QUERY, ParameterType: ARRAY}
          - {ServiceParameterName: X-Doc, Location: HEAD, ParameterType: STRING}
        ServiceParametersMap:
          - {RequestParameterName: id, ServiceParameterName: uid}
          - {RequestParameterName: q, ServiceParameterName: X-Q}
          - {RequestParameterName: n, ServiceParameterName: num}
          - {RequestParameterName: f, ServiceParameterName: ff}
          - {RequestParameterName: d, ServiceParameterName: X-D}
          - {RequestParameterName: b, ServiceParameterName: flag}
          - {RequestParameterName: color, ServiceParameterName: color}
          - {RequestParameterName: X-Code, ServiceParameterName: code}
          - {RequestParameterName: tags, ServiceParameterName: tag}
          - {RequestParameterName: doc, ServiceParameterName: X-Doc}
        DeployTo: [RELEASE]
      - ApiName: mixed
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: "/mixed/[name]", RequestMode: MAPPING_PASSTHROUGH}
        ServiceConfig: {ServiceAddress: "http://BACKEND", ServicePath: "/m/[who]", ServiceTimeout: 3000}
        RequestParameters:
          - {ApiParameterName: name, Location: PATH, ParameterType: String, Required: REQUIRED}
          - {ApiParameterName: id, Location: QUERY, ParameterType: String, Required: REQUIRED}
          - {ApiParameterName: X-Token, Location: HEAD, ParameterType: String, Required: OPTIONAL}
        ServiceParameters:
          - {ServiceParameterName: who, Location: PATH, ParameterType: STRING}
          - {ServiceParameterName: X-Id, Location: HEAD, ParameterType: STRING}
          - {ServiceParameterName: token, Location: QUERY, ParameterType: STRING}
        ServiceParametersMap:
          - {RequestParameterName: name, ServiceParameterName: who}
          - {RequestParameterName: id, ServiceParameterName: X-Id}
          - {RequestParameterName: X-Token, ServiceParameterName: token}
        DeployTo: [RELEASE]
      - ApiName: passthrough
        AuthType: APP
        RequestConfig: {RequestHttpMethod: GET, RequestPath: "/pass/[userId]", RequestMode: PASSTHROUGH}
        ServiceConfig: {ServiceAddress: "http://BACKEND", ServicePath: "/p/[uid]", ServiceTimeout: 3000}
        RequestParameters:
          - {ApiParameterName: userId, Location: PATH, ParameterType: Int, Required: REQUIRED}
        ServiceParameters:
          - {ServiceParameterName: uid, Location: PATH, ParameterType: STRING}
        ServiceParametersMap:
          - {RequestParameterName: userId, ServiceParameterName: uid}
        ConstantParameters:
          - {ServiceParameterName: X-Env, ConstantValue: prod, Location: HEAD}
          - {ServiceParameterName: source, ConstantValue: "网关 gw", Location: QUERY}
        SystemParameters:
          - {ParameterName: CaClientIp, ServiceParameterName: X-Real-IP, Location: HEAD}
          - {ParameterName: CaRequestId, ServiceParameterName: X-Rid, Location: HEAD}
          - {ParameterName: CaAppId, ServiceParameterName: appId, Location: QUERY}
          - {ParameterName: CaApiName, ServiceParameterName: X-Api, Location: HEAD}
          - {ParameterName: CaStage, ServiceParameterName: X-Stage, Location: HEAD}
          - {ParameterName: CaDomain, ServiceParameterName: X-Domain, Location: HEAD}
          - {ParameterName: CaHttpSchema, ServiceParameterName: X-Schema, Location: HEAD}
          - {ParameterName: CaProxy, ServiceParameterName: X-Proxy, Location: HEAD}
          - {ParameterName: CaClientUa, ServiceParameterName: X-Ua, Location: HEAD}
          - {ParameterName: CaRequestHandleTime, ServiceParameterName: X-Time, Location: HEAD}
          - {ParameterName: CaAppExtendInfo, ServiceParameterName: X-Extend, Location: HEAD}
        DeployTo: [RELEASE]
      - ApiName: form
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: POST, RequestPath: /form, RequestMode: MAPPING, BodyFormat: FORM}
        ServiceConfig: {ServiceAddress: "http://BACKEND", ServicePath: /f, ServiceTimeout: 3000}
        RequestParameters:
          - {ApiParameterName: title, Location: BODY, ParameterType: String, Required: REQUIRED, MaxLength: 10}
          - {ApiParameterName: count, Location: BODY, ParameterType: Int, Required: OPTIONAL, DefaultValue: "1"}
          - {ApiParameterName: file, Location: BODY, ParameterType: String, Required: OPTIONAL}
          - {ApiParameterName: lang, Location: QUERY, ParameterType: String, Required: OPTIONAL}
        ServiceParameters:
          - {ServiceParameterName: t, Location: BODY, ParameterType: STRING}
          - {ServiceParameterName: X-Count, Location: HEAD, ParameterType: INT}
          - {ServiceParameterName: file, Location: BODY, ParameterType: STRING}
          - {ServiceParameterName: lang, Location: BODY, ParameterType: STRING}
        ServiceParametersMap:
          - {RequestParameterName: title, ServiceParameterName: t}
          - {RequestParameterName: count, ServiceParameterName: X-Count}
          - {RequestParameterName: file, ServiceParameterName: file}
          - {RequestParameterName: lang, ServiceParameterName: lang}
        DeployTo: [RELEASE]
      - ApiName: stream
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: POST, RequestPath: /stream, RequestMode: MAPPING, BodyFormat: STREAM}
        ServiceConfig: {ServiceAddress: "http://BACKEND", ServicePath: /s, ServiceTimeout: 3000}
        RequestParameters:
          - {ApiParameterName: payload, Location: BODY, ParameterType: String, Required: REQUIRED}
        ServiceParameters:
          - {ServiceParameterName: payload, Location: BODY, ParameterType: STRING}
        ServiceParametersMap:
          - {RequestParameterName: payload, ServiceParameterName: payload}
        DeployTo: [RELEASE]
      - ApiName: json_doc
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: POST, RequestPath: /json, RequestMode: MAPPING, BodyFormat: STREAM}
        ServiceConfig: {ServiceAddress: "http://BACKEND", ServicePath: /j, ServiceTimeout: 3000}
        RequestParameters:
          - {ApiParameterName: doc, Location: BODY, ParameterType: String, Required: REQUIRED, JsonScheme: '{"type":"object","required":["id"],"properties":{"id":{"type":"integer","minimum":1}}}'}
        ServiceParameters:
          - {ServiceParameterName: doc, Location: BODY, ParameterType: STRING}
        ServiceParametersMap:
          - {RequestParameterName: doc, ServiceParameterName: doc}
        DeployTo: [RELEASE]
Apps:
  - AppName: param_app
    AppCodes: [paramcode0000001]
    Extend: "tier=gold"
    Authorizations: [{GroupName: params, ApiName: passthrough, Stages: [RELEASE]}]
"#;

fn config(backend: SocketAddr) -> String {
    CONFIG.replace("BACKEND", &backend.to_string())
}

async fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Resp {
    send(gw.http, "GET", "localhost", path, headers, b"").await
}

fn echoed(r: &Resp) -> Value {
    assert_eq!(
        r.status,
        200,
        "{:?} {:?} {}",
        r.code(),
        r.message(),
        r.text()
    );
    r.json()
}

fn query_pairs(echo: &Value) -> Vec<(String, String)> {
    form_urlencoded::parse(echo["query"].as_str().unwrap().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A request (path, headers) and the error code and message it must get.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a str);

fn assert_invalid(r: &Resp, code: &str, message: &str) {
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.code(), Some(code));
    assert_eq!(r.message(), Some(message));
}

#[tokio::test]
async fn declared_parameters_are_validated_and_mapped() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));

    let r = get(
        &gw,
        "/typed/42?q=%E5%BC%A0%E4%B8%89&n=9007199254740993&d=-3.25&color=red&tags=1&tags=2&junk=1&doc=%7B%22a%22%3A1%7D",
        &[("X-Code", "ABC-12"), ("X-Junk", "dropped"), ("Accept", "application/json")],
    )
    .await;
    let e = echoed(&r);
    assert_eq!(e["path"], "/svc/42", "path [id] → backend path [uid]");
    let h = &e["headers"];
    assert_eq!(h["x-q"], "张三", "query q → header X-Q, UTF-8 intact");
    assert_eq!(h["x-d"], "-3.25");
    assert_eq!(h["x-doc"], r#"{"a":1}"#);
    assert_eq!(h["accept"], "application/json", "standard headers pass");
    assert!(
        h.get("x-junk").is_none(),
        "MAPPING drops undeclared headers"
    );
    assert!(
        h.get("x-code").is_none(),
        "a declared header travels under its mapped name"
    );
    let q = query_pairs(&e);
    let want: Vec<(&str, &str)> = vec![
        ("num", "9007199254740993"),
        ("ff", "1.5"),
        ("flag", "false"),
        ("color", "red"),
        ("code", "ABC-12"),
        ("tag", "1"),
        ("tag", "2"),
    ];
    let got: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        got, want,
        "defaults filled, names mapped, undeclared `junk` dropped"
    );

    // Each constraint, valid and invalid.
    let cases: &[Case] = &[
        ("/typed/42", &[], "I400MP", "Parameter `n` is required"),
        ("/typed/abc?n=1", &[], "I400IP", "Invalid parameter `id` must be an Int (32-bit integer)"),
        ("/typed/0?n=1", &[], "I400IP", "Invalid parameter `id` must be at least 1"),
        ("/typed/1001?n=1", &[], "I400IP", "Invalid parameter `id` must be at most 1000"),
        ("/typed/1?n=1.5", &[], "I400IP", "Invalid parameter `n` must be a Long (64-bit integer)"),
        ("/typed/1?n=99999999999999999999", &[], "I400IP", "Invalid parameter `n` must be a Long (64-bit integer)"),
        ("/typed/1?n=1&f=3", &[], "I400IP", "Invalid parameter `f` must be at most 2.5"),
        ("/typed/1?n=1&f=abc", &[], "I400IP", "Invalid parameter `f` must be a Float"),
        ("/typed/1?n=1&d=NaN", &[], "I400IP", "Invalid parameter `d` must be a Double"),
        ("/typed/1?n=1&b=yes", &[], "I400IP", "Invalid parameter `b` must be true or false"),
        ("/typed/1?n=1&q=a", &[], "I400IP", "Invalid parameter `q` must be at least 2 characters long"),
        ("/typed/1?n=1&q=%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80", &[], "I400IP", "Invalid parameter `q` must be at most 5 characters long"),
        ("/typed/1?n=1&color=blue", &[], "I400IP", "Invalid parameter `color` must be one of red,green"),
        ("/typed/1?n=1", &[("X-Code", "abc-12")], "I400IP", "Invalid parameter `X-Code` does not match the regular expression"),
        ("/typed/1?n=1&tags=1&tags=x", &[], "I400IP", "Invalid parameter `tags` must be an Int (32-bit integer)"),
        ("/typed/1?n=1&doc=%7B%7D", &[], "I400IP", "Invalid parameter `doc` does not match the JSON Schema: \"a\" is a required property"),
        ("/typed/1?n=1&doc=nope", &[], "I400IP", "Invalid parameter `doc` is not JSON"),
        ("/typed/1?n=1&q=a%0Db", &[], "I400IP", "Invalid parameter `q` cannot be sent in a header (line break or control character)"),
    ];
    for (path, headers, code, message) in cases {
        let r = get(&gw, path, headers).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert_eq!(
            (r.code(), r.message()),
            (Some(*code), Some(*message)),
            "{path}"
        );
    }
    // Boundary values pass; emoji count as one character each.
    for path in [
        "/typed/1?n=-9223372036854775808&f=0.5&b=TRUE",
        "/typed/1000?n=9223372036854775807&f=2.5&q=%F0%9F%98%80%F0%9F%98%80",
    ] {
        echoed(&get(&gw, path, &[]).await);
    }
    let e = echoed(&get(&gw, "/typed/1?n=1&q=%F0%9F%98%80ab", &[]).await);
    assert_eq!(e["headers"]["x-q"], "😀ab");
}

#[tokio::test]
async fn mapping_passthrough_keeps_undeclared_parameters() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));
    let r = get(
        &gw,
        "/mixed/%E5%BC%A0%20x?id=7&extra=a%2Bb&other=%E4%BD%A0",
        &[("X-Token", "t0k"), ("X-Custom", "kept")],
    )
    .await;
    let e = echoed(&r);
    assert_eq!(
        e["path"], "/m/%E5%BC%A0%20x",
        "a path value reaches the backend path still encoded"
    );
    assert_eq!(e["headers"]["x-id"], "7", "query id → header X-Id");
    assert_eq!(e["headers"]["x-custom"], "kept");
    assert!(e["headers"].get("x-token").is_none());
    let q = query_pairs(&e);
    assert!(q.contains(&("extra".into(), "a+b".into())), "{q:?}");
    assert!(q.contains(&("other".into(), "你".into())), "{q:?}");
    assert!(
        q.contains(&("token".into(), "t0k".into())),
        "header X-Token → query token"
    );
    assert!(
        !q.iter().any(|(k, _)| k == "id"),
        "a declared parameter moves"
    );
    let r = get(&gw, "/mixed/x", &[]).await;
    assert_invalid(&r, "I400MP", "Parameter `id` is required");
}

#[tokio::test]
async fn passthrough_with_constant_and_system_parameters() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));
    let auth = [
        ("Authorization", "APPCODE paramcode0000001"),
        ("User-Agent", "params-test/1.0"),
        ("X-Anything", "kept"),
    ];
    let r = get(&gw, "/pass/abc?x=1&y=%E4%BD%A0", &auth).await;
    let e = echoed(&r);
    // PASSTHROUGH: no validation (`abc` is not an Int), the path parameter is mapped by name.
    assert_eq!(e["path"], "/p/abc");
    let h = &e["headers"];
    assert_eq!(h["x-anything"], "kept");
    assert_eq!(h["x-env"], "prod");
    assert_eq!(h["x-real-ip"], "127.0.0.1");
    assert_eq!(
        h["x-rid"],
        r.header("x-ca-request-id").unwrap(),
        "CaRequestId"
    );
    assert_eq!(h["x-api"], "passthrough");
    assert_eq!(h["x-stage"], "RELEASE");
    assert_eq!(h["x-domain"], "localhost");
    assert_eq!(h["x-schema"], "http");
    assert_eq!(h["x-proxy"], "AliCloudApiGateway");
    assert_eq!(h["x-ua"], "params-test/1.0");
    assert_eq!(h["x-extend"], "tier=gold");
    let t = h["x-time"].as_str().unwrap();
    assert!(
        t.len() == 20 && t.as_bytes()[10] == b'T' && t.ends_with('Z'),
        "CaRequestHandleTime {t}"
    );
    let q = query_pairs(&e);
    assert_eq!(
        &q[..2],
        &[("x".into(), "1".into()), ("y".into(), "你".into())]
    );
    assert!(q.contains(&("source".into(), "网关 gw".into())), "{q:?}");
    let app_id = q
        .iter()
        .find(|(k, _)| k == "appId")
        .expect("CaAppId")
        .1
        .clone();
    assert!(app_id.parse::<i64>().unwrap() > 0);
}

#[tokio::test]
async fn form_bodies_are_read_validated_and_rebuilt() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));
    let form = [("content-type", "application/x-www-form-urlencoded")];
    // A file sent as base64 text in a form field arrives intact (`+`, `/`, `=` included).
    let file = STANDARD.encode([0u8, 255, 254, 62, 63, 1, 2, 3]);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("title", "标题 one")
        .append_pair("file", &file)
        .append_pair("junk", "x")
        .finish();
    let r = send(
        gw.http,
        "POST",
        "localhost",
        "/form?lang=zh",
        &form,
        body.as_bytes(),
    )
    .await;
    let e = echoed(&r);
    assert_eq!(e["path"], "/f");
    assert_eq!(e["headers"]["x-count"], "1", "default → header");
    assert_eq!(
        e["headers"]["content-type"],
        "application/x-www-form-urlencoded; charset=UTF-8"
    );
    let fields: Vec<(String, String)> =
        form_urlencoded::parse(e["body"].as_str().unwrap().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    assert_eq!(
        fields,
        vec![
            ("t".to_string(), "标题 one".to_string()),
            ("file".into(), file.clone()),
            ("lang".into(), "zh".into()),
        ],
        "renamed, query → body, undeclared `junk` dropped"
    );

    let r = send(gw.http, "POST", "localhost", "/form", &form, b"count=2").await;
    assert_invalid(&r, "I400MP", "Parameter `title` is required");
    let r = send(
        gw.http,
        "POST",
        "localhost",
        "/form",
        &form,
        b"title=12345678901",
    )
    .await;
    assert_invalid(
        &r,
        "I400IP",
        "Invalid parameter `title` must be at most 10 characters long",
    );
    let multipart = [("content-type", "multipart/form-data; boundary=XyZ")];
    let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhi\r\n--XyZ--\r\n";
    let r = send(gw.http, "POST", "localhost", "/form", &multipart, body).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, Some("I400CT")));
}

#[tokio::test]
async fn stream_bodies_pass_byte_exact() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let hs = [("content-type", "application/octet-stream")];
    let r = send(gw.http, "POST", "localhost", "/stream", &hs, &binary).await;
    let e = echoed(&r);
    let got = STANDARD.decode(e["body_b64"].as_str().unwrap()).unwrap();
    assert!(
        got == binary,
        "body differs: {} bytes, sent {}",
        got.len(),
        binary.len()
    );
    assert_eq!(e["headers"]["content-type"], "application/octet-stream");
    let r = send(gw.http, "POST", "localhost", "/stream", &hs, b"").await;
    assert_invalid(&r, "I400MP", "Parameter `payload` is required");

    let json = [("content-type", "application/json")];
    let doc = r#"{"id": 5, "name": "😀 张三"}"#;
    let e = echoed(&send(gw.http, "POST", "localhost", "/json", &json, doc.as_bytes()).await);
    assert_eq!(e["body"], doc);
    let r = send(
        gw.http,
        "POST",
        "localhost",
        "/json",
        &json,
        br#"{"id": 0}"#,
    )
    .await;
    assert_eq!(r.code(), Some("I400IP"));
    assert!(
        r.message()
            .unwrap()
            .starts_with("Invalid parameter `doc` does not match the JSON Schema"),
        "{:?}",
        r.message()
    );
}

/// The backend side of the backend signature, written from the spec (§1.4), not from our
/// signer: pick the secret by key, sign what the request shows, compare.
fn verify_backend_signature(echo: &Value, secrets: &HashMap<&str, &str>) -> Result<(), String> {
    let h = echo["headers"].as_object().unwrap();
    let header = |n: &str| h.get(&n.to_ascii_lowercase()).and_then(Value::as_str);
    let key = header("X-Ca-Proxy-Signature-Secret-Key").ok_or("no key header")?;
    let secret = secrets.get(key).ok_or(format!("unknown key {key}"))?;
    let mut names: Vec<&str> = header("X-Ca-Proxy-Signature-Headers")
        .ok_or("no headers list")?
        .split(',')
        .collect();
    names.sort();
    let mut sts = String::new();
    let method = echo["method"].as_str().unwrap();
    sts.push_str(method);
    sts.push('\n');
    let body = STANDARD.decode(echo["body_b64"].as_str().unwrap()).unwrap();
    let form =
        header("content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if (method == "POST" || method == "PUT") && !form && !body.is_empty() {
        use md5::Digest;
        sts.push_str(&STANDARD.encode(md5::Md5::digest(&body)));
    }
    sts.push('\n');
    for n in names {
        if let Some(v) = header(n) {
            sts.push_str(&format!("{}:{}\n", n.to_lowercase(), v));
        }
    }
    sts.push_str(echo["path"].as_str().unwrap());
    let mut params: Vec<(String, String)> = Vec::new();
    let mut add = |raw: &[u8]| {
        for (k, v) in form_urlencoded::parse(raw) {
            if !params.iter().any(|(pk, _)| *pk == k) {
                params.push((k.into_owned(), v.into_owned()));
            }
        }
    };
    add(echo["query"].as_str().unwrap().as_bytes());
    if form {
        add(&body);
    }
    params.sort();
    for (i, (k, v)) in params.iter().enumerate() {
        sts.push(if i == 0 { '?' } else { '&' });
        sts.push_str(&format!("{k}={v}"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(sts.as_bytes());
    let want = STANDARD.encode(mac.finalize().into_bytes());
    match header("X-Ca-Proxy-Signature") {
        Some(got) if got == want => Ok(()),
        got => Err(format!("signature {got:?}, expected {want} for {sts:?}")),
    }
}

fn signed_config(backend: SocketAddr, key: &str, secret: &str) -> String {
    let apis = ["typed", "form", "json_doc", "passthrough"]
        .iter()
        .map(|a| format!("{{GroupName: params, ApiName: {a}, Stages: [RELEASE]}}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{}Plugins:\n  - PluginName: backend_key\n    PluginType: backendSignature\n    PluginData: \"type: APIGW_BACKEND\\nkey: {key}\\nsecret: {secret}\\n\"\n    AttachTo: [{apis}]\n",
        config(backend)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_requests_are_signed_and_keys_rotate_without_failures() {
    let backend = support::backend().await;
    let gw = Gateway::start(&signed_config(backend, "key-one", "secret-one"));
    let secrets: HashMap<&str, &str> =
        [("key-one", "secret-one"), ("key-two", "secret-two")].into();

    // GET with mapped query and headers, a JSON body (Content-MD5 line), a form body, constants.
    let e = echoed(
        &get(
            &gw,
            "/typed/7?n=1&q=%E5%BC%A0%E4%B8%89&tags=3&tags=1",
            &[("X-Code", "ABC-1")],
        )
        .await,
    );
    assert_eq!(e["headers"]["x-ca-proxy-signature-method"], "HmacSHA256");
    let list = e["headers"]["x-ca-proxy-signature-headers"]
        .as_str()
        .unwrap();
    assert!(
        list.contains("X-Ca-Proxy-Signature-Secret-Key") && list.contains("x-q"),
        "{list}"
    );
    verify_backend_signature(&e, &secrets).unwrap();
    let json = [("content-type", "application/json")];
    let e = echoed(
        &send(
            gw.http,
            "POST",
            "localhost",
            "/json",
            &json,
            br#"{"id": 3}"#,
        )
        .await,
    );
    verify_backend_signature(&e, &secrets).unwrap();
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let e = echoed(
        &send(
            gw.http,
            "POST",
            "localhost",
            "/form?lang=",
            &form,
            "title=%E6%A0%87&file=".as_bytes(),
        )
        .await,
    );
    verify_backend_signature(&e, &secrets).unwrap();
    let code = [("Authorization", "APPCODE paramcode0000001")];
    let e = echoed(&get(&gw, "/pass/9?z=1&a=", &code).await);
    verify_backend_signature(&e, &secrets).unwrap();
    // A tampered request fails the same verifier.
    let mut bad = e.clone();
    bad["path"] = "/p/10".into();
    assert!(verify_backend_signature(&bad, &secrets).is_err());
    // An API without the plugin is not signed.
    let e = echoed(&get(&gw, "/mixed/x?id=1", &[]).await);
    assert!(e["headers"].get("x-ca-proxy-signature").is_none());

    // Rotation: the backend accepts both keys; requests keep flowing while the key changes.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let addr = gw.http;
    let flag = stop.clone();
    let traffic = tokio::spawn(async move {
        let secrets: HashMap<&str, &str> =
            [("key-one", "secret-one"), ("key-two", "secret-two")].into();
        let (mut ok, mut keys) = (0, std::collections::BTreeSet::new());
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let r = send(addr, "GET", "localhost", "/typed/5?n=2", &[], b"").await;
            let e = echoed(&r);
            verify_backend_signature(&e, &secrets).unwrap();
            keys.insert(
                e["headers"]["x-ca-proxy-signature-secret-key"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
            ok += 1;
        }
        (ok, keys)
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    gw.apply(&signed_config(backend, "key-two", "secret-two"));
    support::eventually(|| async {
        let e = echoed(&get(&gw, "/typed/5?n=3", &[]).await);
        e["headers"]["x-ca-proxy-signature-secret-key"] == "key-two"
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, keys) = traffic.await.unwrap();
    assert!(ok > 10, "{ok} requests");
    assert_eq!(
        keys.into_iter().collect::<Vec<_>>(),
        vec!["key-one", "key-two"]
    );
    // After the rotation a backend that dropped the old key still verifies every request.
    let only_new: HashMap<&str, &str> = [("key-two", "secret-two")].into();
    let e = echoed(&get(&gw, "/typed/5?n=4", &[]).await);
    verify_backend_signature(&e, &only_new).unwrap();
}

#[tokio::test]
async fn incomplete_mappings_are_refused_on_apply() {
    let broken = CONFIG.replace(
        "          - {RequestParameterName: doc, ServiceParameterName: X-Doc}\n",
        "",
    );
    let dir = tempfile::tempdir().unwrap();
    let err = support::apply(dir.path(), &broken.replace("BACKEND", "127.0.0.1:9")).unwrap_err();
    assert!(err.contains("InvalidParamMapping"), "{err}");
    assert!(
        err.contains("request parameter `doc` has no ServiceParametersMap entry"),
        "{err}"
    );
}
