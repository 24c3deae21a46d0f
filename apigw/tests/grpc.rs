//! gRPC through the gateway, with gRPC's official implementation on both ends (`grpcio`,
//! `sdk/grpc_echo.py`): a real server behind an `h2c://` backend address and a real client
//! calling the gateway. Unary and bidirectional streaming calls pass through unchanged,
//! trailers and the backend's own gRPC errors included; the gateway's refusals reach the client
//! as gRPC statuses with their `X-Ca-*` headers.

mod support;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use support::{repo_root, Gateway};

const APP_CODE: &str = "grpcappcode00001";

/// Installs grpcio (`sdk/grpc-setup.sh`, idempotent) once per process; the venv's python.
fn python() -> PathBuf {
    static READY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = repo_root().join("target/sdk");
            let status = Command::new("bash")
                .arg(repo_root().join("sdk/grpc-setup.sh"))
                .env("APIGW_SDK_DIR", &dir)
                .status()
                .expect("run sdk/grpc-setup.sh");
            assert!(status.success(), "sdk/grpc-setup.sh failed");
            dir.join("grpc/bin/python")
        })
        .clone()
}

/// The gRPC server, killed when dropped.
struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn grpc_server() -> Server {
    let mut child = Command::new(python())
        .arg(repo_root().join("sdk/grpc_echo.py"))
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the gRPC server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the server's port");
    Server(child, port)
}

/// Runs the calls through the gateway with the real gRPC client; one result per call.
fn calls(gw: &Gateway, calls: Value) -> Vec<Value> {
    let spec = json!({"authority": "localhost", "calls": calls});
    let out = Command::new(python())
        .arg(repo_root().join("sdk/grpc_echo.py"))
        .arg("call")
        .arg(gw.http.to_string())
        .arg(spec.to_string())
        .output()
        .expect("run the gRPC client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .expect("JSON results")
        .as_array()
        .unwrap()
        .clone()
}

fn config(port: u16) -> String {
    format!(
        r#"
Groups:
  - GroupName: rpc_services
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: echo_service
        AuthType: APP
        RequestConfig: {{RequestHttpMethod: POST, RequestPath: "/test.Echo/*"}}
        ServiceConfig: {{ServiceAddress: "h2c://127.0.0.1:{port}", ServiceTimeout: 5000}}
        DeployTo: [RELEASE]
Apps:
  - AppName: rpc_client
    AppCodes: [{APP_CODE}]
    Authorizations: [{{GroupName: rpc_services, ApiName: echo_service, Stages: [RELEASE]}}]
"#
    )
}

#[test]
fn grpc_calls_pass_through_and_refusals_are_grpc_statuses() {
    let server = grpc_server();
    let gw = Gateway::start(&config(server.1));
    let auth = json!([["authorization", format!("APPCODE {APP_CODE}")]]);
    let results = calls(
        &gw,
        json!([
            {"kind": "unary", "method": "/test.Echo/Unary", "message": "hi", "metadata": auth},
            {"kind": "stream", "method": "/test.Echo/Chat", "messages": ["a", "b", "c"], "metadata": auth},
            {"kind": "unary", "method": "/test.Echo/Unary", "message": "fail", "metadata": auth},
            {"kind": "unary", "method": "/test.Echo/Unary", "message": "hi"},
            {"kind": "unary", "method": "/other.Service/Call", "message": "hi", "metadata": auth},
        ]),
    );

    // Unary: the reply, the gateway's request id in the headers and, from the backend's
    // trailers, the id the backend got.
    let unary = &results[0];
    assert_eq!(unary["code"], "OK", "{unary}");
    assert_eq!(unary["replies"], json!(["echo:hi"]));
    let request_id = unary["metadata"]["x-ca-request-id"].as_str().unwrap();
    assert_eq!(unary["metadata"]["x-seen-request-id"], request_id);

    // Bidirectional streaming: every message, in order.
    assert_eq!(results[1]["code"], "OK", "{}", results[1]);
    assert_eq!(results[1]["replies"], json!(["echo:a", "echo:b", "echo:c"]));

    // The backend's own gRPC error passes through as it is.
    assert_eq!(results[2]["code"], "NOT_FOUND", "{}", results[2]);
    assert_eq!(results[2]["details"], "no such thing");

    // The gateway's refusals: a gRPC status with its message, and the X-Ca-* headers.
    let unauthenticated = &results[3];
    assert_eq!(
        unauthenticated["code"], "INVALID_ARGUMENT",
        "{unauthenticated}"
    );
    assert_eq!(unauthenticated["metadata"]["x-ca-error-code"], "A400MA");
    assert!(unauthenticated["details"]
        .as_str()
        .unwrap()
        .starts_with("Need authorization"));
    let unknown = &results[4];
    assert_eq!(unknown["code"], "UNIMPLEMENTED", "{unknown}");
    assert_eq!(unknown["metadata"]["x-ca-error-code"], "I404NF");
}
