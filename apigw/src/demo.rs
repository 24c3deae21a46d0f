//! `apigw serve --demo`: a demo group on `localhost` and a small backend that ships with the
//! binary, so a newcomer can call the gateway at once, offline.

use apigw_control::apply::{apply, GatewayFile};
use apigw_control::Control;
use apigw_model::DomainCertificate;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;

const DEMO: &str = r#"
Groups:
  - GroupName: demo
    Description: Demo group created by `apigw serve --demo`
    Domains:
      - DomainName: localhost
    Apis:
      - ApiName: hello
        Description: A mock API; no backend is called.
        AuthType: ANONYMOUS
        RequestConfig: {RequestProtocol: "HTTP,HTTPS", RequestHttpMethod: GET, RequestPath: /hello}
        ServiceConfig:
          Mock: "TRUE"
          MockStatusCode: 200
          MockResult: '{"message":"Hello from apigw"}'
          MockHeaders: [{HeaderName: Content-Type, HeaderValue: application/json}]
        DeployTo: [RELEASE, TEST]
      - ApiName: echo
        Description: Proxies to the demo backend, which echoes the request it got.
        AuthType: ANONYMOUS
        RequestConfig: {RequestProtocol: "HTTP,HTTPS", RequestHttpMethod: ANY, RequestPath: "/echo/[name]"}
        ServiceConfig:
          ServiceProtocol: HTTP
          ServiceAddress: "http://BACKEND"
          ServicePath: "/backend/echo/[name]"
          ServiceTimeout: 3000
        DeployTo: [RELEASE]
      - ApiName: signed
        Description: Like echo, for callers of the demo app only (APP signature or AppCode).
        AuthType: APP
        RequestConfig: {RequestProtocol: "HTTP,HTTPS", RequestHttpMethod: ANY, RequestPath: "/signed/[name]"}
        ServiceConfig:
          ServiceProtocol: HTTP
          ServiceAddress: "http://BACKEND"
          ServicePath: "/backend/echo/[name]"
          ServiceTimeout: 3000
        DeployTo: [RELEASE]
      - ApiName: user
        Description: Declared parameters, validated and mapped to other names and places.
        AuthType: ANONYMOUS
        RequestConfig: {RequestProtocol: "HTTP,HTTPS", RequestHttpMethod: GET, RequestPath: "/users/[userId]", RequestMode: MAPPING}
        ServiceConfig:
          ServiceProtocol: HTTP
          ServiceAddress: "http://BACKEND"
          ServicePath: "/backend/echo/[uid]"
          ServiceTimeout: 3000
        RequestParameters:
          - {ApiParameterName: userId, Location: PATH, ParameterType: Int, Required: REQUIRED, MinValue: 1}
          - {ApiParameterName: fields, Location: QUERY, ParameterType: String, Required: OPTIONAL, EnumValue: "basic,full", DefaultValue: basic}
        ServiceParameters:
          - {ServiceParameterName: uid, Location: PATH, ParameterType: INT}
          - {ServiceParameterName: X-Fields, Location: HEAD, ParameterType: STRING}
        ServiceParametersMap:
          - {RequestParameterName: userId, ServiceParameterName: uid}
          - {RequestParameterName: fields, ServiceParameterName: X-Fields}
        ConstantParameters:
          - {ServiceParameterName: X-Env, ConstantValue: demo, Location: HEAD}
        SystemParameters:
          - {ParameterName: CaClientIp, ServiceParameterName: X-Real-IP, Location: HEAD}
        DeployTo: [RELEASE]
Apps:
  - AppName: demo_app
    Description: The demo's caller; its secret is public, so never use it elsewhere.
    Keys: [{AppKey: demo-key, AppSecret: demo-secret-change-me}]
    AppCodes: [demo-appcode-0001]
    Authorizations:
      - {GroupName: demo, ApiName: signed, Stages: [RELEASE]}
"#;

/// Applies the demo configuration (idempotent) and gives `localhost` a self-signed
/// certificate the first time.
pub async fn seed(control: &Control, backend: &str) -> Result<(), String> {
    let file = GatewayFile::parse(&DEMO.replace("BACKEND", backend)).map_err(|e| e.to_string())?;
    apply(control, &file)
        .await
        .map_err(|e| format!("seeding the demo: {e}"))?;
    let group = control
        .group_by_name("demo")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("demo group missing")?;
    for mut domain in control
        .domains(&group.group_id)
        .await
        .map_err(|e| e.to_string())?
    {
        if domain.domain_name == "localhost" && domain.certificate.is_none() {
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
                .map_err(|e| e.to_string())?;
            domain.certificate = Some(DomainCertificate {
                certificate_name: "demo self-signed".into(),
                certificate_body: cert.cert.pem(),
                certificate_private_key: cert.signing_key.serialize_pem(),
            });
            control
                .set_domain(domain)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

pub fn curl_lines(listen: &str, tls: Option<&str>) -> String {
    let port = listen.rsplit(':').next().unwrap_or("8080");
    let mut s = format!(
        "demo ready; try:\n  curl -i http://localhost:{port}/hello\n  curl -i 'http://localhost:{port}/echo/world?greeting=hi'\n  curl -i -H 'X-Ca-Stage: TEST' http://localhost:{port}/hello\n  curl -i -H 'X-Ca-Request-Mode: debug' http://localhost:{port}/echo/debug\n  curl -i 'http://localhost:{port}/users/42?fields=full'   # parameters mapped (see X-Fields)\n  curl -i http://localhost:{port}/users/abc      # I400IP: userId must be an Int\n  curl -i http://localhost:{port}/nowhere        # I404NF\n  curl -i http://localhost:{port}/signed/me      # A400MA: needs the demo app's credentials\n  APIGW_APP_KEY=demo-key APIGW_APP_SECRET=demo-secret-change-me apigw call --url http://localhost:{port} /signed/me -q greeting=hi\n  curl -i -H 'Authorization: APPCODE demo-appcode-0001' http://localhost:{port}/signed/me"
    );
    if let Some(tls) = tls {
        let tport = tls.rsplit(':').next().unwrap_or("8443");
        s.push_str(&format!(
            "\n  curl -ik https://localhost:{tport}/hello         # self-signed certificate"
        ));
    }
    s
}

/// Starts the demo backend: it answers every request with a JSON echo of what it received.
pub fn start_backend(listener: std::net::TcpListener) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service_fn(echo))
                    .await;
            });
        }
    });
    Ok(())
}

async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
        .collect();
    let json = serde_json::json!({
        "service": "apigw demo backend",
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    let mut resp = Response::new(Full::new(Bytes::from(json.to_string())));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
