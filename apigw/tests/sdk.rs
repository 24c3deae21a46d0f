//! Requests signed and sent by the official client SDKs, unchanged, through the real gateway:
//! PyPI `aliyun-api-gateway-sign` 1.0.4 and npm `aliyun-api-gateway` 1.1.6 (installed by
//! `sdk/setup.sh`, which `.ci/run` and the first test here run).

mod support;

use serde_json::{json, Value};
use std::net::SocketAddr;
use support::{sdk_call, Gateway};

const KEY: &str = "sdk-app-key";
const SECRET: &str = "sdk-app-secret-0001";

fn config(backend: SocketAddr) -> String {
    format!(
        r#"
Groups:
  - GroupName: sdk_checks
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: anything
        AuthType: APP
        RequestConfig: {{RequestHttpMethod: ANY, RequestPath: "/v1/*"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE, PRE]
      - ApiName: not_for_this_app
        AuthType: APP
        RequestConfig: {{RequestHttpMethod: ANY, RequestPath: "/other"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
Apps:
  - AppName: sdk_app
    Keys: [{{AppKey: "{KEY}", AppSecret: "{SECRET}"}}]
    Authorizations:
      - {{GroupName: sdk_checks, ApiName: anything, Stages: [RELEASE, PRE]}}
"#
    )
}

fn request(gw: &Gateway, method: &str, path: &str) -> Value {
    json!({"url": format!("http://127.0.0.1:{}{path}", gw.http.port()), "method": method,
           "app_key": KEY, "app_secret": SECRET})
}

fn assert_passed(out: &Value, what: &str) -> Value {
    assert_eq!(out["status"], 200, "{what}: {out}");
    assert!(
        out["headers"]["x-ca-request-id"].is_string(),
        "{what}: {out}"
    );
    serde_json::from_str(out["body"].as_str().unwrap()).unwrap()
}

/// The SDKs send `Host: 127.0.0.1:PORT` (the URL's), so the group is bound to that name too.
fn start(backend: SocketAddr) -> Gateway {
    Gateway::start(&config(backend).replace(
        "Domains: [{DomainName: localhost}]",
        "Domains: [{DomainName: localhost}, {DomainName: 127.0.0.1}]",
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_requests_verify() {
    let backend = support::backend().await;
    let gw = start(backend);

    let r = request(&gw, "GET", "/v1/users/42?page=2&size=10&flag=");
    let echo = assert_passed(&sdk_call("py", r), "GET with query");
    assert_eq!(echo["path"], "/v1/users/42");

    // This SDK signs query values as typed in the URL (percent-encoded, `+`): accepted.
    let r = request(&gw, "GET", "/v1/search?name=%E5%BC%A0%E4%B8%89&q=a+b");
    let echo = assert_passed(&sdk_call("py", r), "GET with encoded query values");
    assert_eq!(echo["query"], "name=%E5%BC%A0%E4%B8%89&q=a+b");

    let mut r = request(&gw, "POST", "/v1/forms?z=9");
    r["form"] = json!({"k": "frombody", "a": "", "b": "two words", "c": "中文"});
    assert_passed(&sdk_call("py", r), "POST form");

    let mut r = request(&gw, "POST", "/v1/upload?mode=fast");
    r["body_base64"] = json!("AAFiaW5hcnktcGF5bG9hZP8=");
    r["content_type"] = json!("application/octet-stream");
    let echo = assert_passed(&sdk_call("py", r), "octet-stream with Content-MD5");
    assert!(echo["headers"]["content-md5"].is_string());

    let mut r = request(&gw, "PUT", "/v1/things/7");
    r["json"] = json!({"name": "x"});
    assert_passed(&sdk_call("py", r), "PUT JSON");

    let r = request(&gw, "GET", "/other");
    let out = sdk_call("py", r);
    assert_eq!(out["status"], 403, "{out}");
    assert_eq!(out["headers"]["x-ca-error-code"], "A403UA");

    let mut r = request(&gw, "GET", "/v1/x");
    r["app_secret"] = json!("wrong-secret-0000");
    let out = sdk_call("py", r);
    assert_eq!(out["headers"]["x-ca-error-code"], "A403IS", "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_sdk_requests_verify() {
    let backend = support::backend().await;
    let gw = start(backend);

    let r = request(
        &gw,
        "GET",
        "/v1/search?q=a+b&name=%E5%BC%A0%E4%B8%89&empty=",
    );
    let echo = assert_passed(&sdk_call("node", r), "GET with UTF-8 query");
    assert_eq!(echo["query"], "q=a+b&name=%E5%BC%A0%E4%B8%89&empty=");

    let r = request(&gw, "GET", "/v1/tags?tag=b&tag=a");
    assert_passed(&sdk_call("node", r), "repeated query key (signed as b,a)");

    let mut r = request(&gw, "POST", "/v1/items?city=%E6%9D%AD%E5%B7%9E");
    r["json"] = json!({"id": 7, "name": "x"});
    r["sign_headers"] = json!({"X-Custom": "hello"});
    r["stage"] = json!("PRE");
    let echo = assert_passed(
        &sdk_call("node", r),
        "POST JSON, Content-MD5, signed custom header, PRE",
    );
    assert_eq!(echo["headers"]["x-custom"], "hello");

    let mut r = request(&gw, "POST", "/v1/forms?z=9");
    r["form"] = json!({"b": "two words", "a": ""});
    assert_passed(&sdk_call("node", r), "POST form");

    let r = request(&gw, "DELETE", "/v1/things/7");
    assert_passed(&sdk_call("node", r), "DELETE");

    let r = request(&gw, "GET", "/other");
    let out = sdk_call("node", r);
    assert_eq!(out["status"], 403, "{out}");
    assert_eq!(out["headers"]["x-ca-error-code"], "A403UA");
}
