//! The jwtAuth plugin over real sockets: tokens made by the `jsonwebtoken` crate (not by our
//! code), verified by the gateway against the plugin's JWKs; claims reach the backend.

mod support;

use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;
use std::net::SocketAddr;
use support::{send, Gateway, Resp};

const HS_SECRET: &[u8] = b"a-shared-secret-of-32-bytes-long!";

fn config(backend: SocketAddr) -> String {
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(HS_SECRET);
    format!(
        r#"
Groups:
  - GroupName: tokens
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: with_jwt
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/me"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE, TEST]
Plugins:
  - PluginName: jwt_users
    PluginType: jwtAuth
    PluginData: |
      ---
      parameter: Authorization
      parameterLocation: header
      preventJtiReplay: true
      claimParameters:
        - {{claimName: sub, parameterName: X-User, location: header}}
        - {{claimName: tenant, parameterName: tenant, location: query}}
      jwks:
        - {{kty: oct, kid: k1, alg: HS256, k: "{k}"}}
    AttachTo:
      - {{GroupName: tokens, ApiName: with_jwt, Stages: [RELEASE]}}
"#
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(kid: &str, claims: serde_json::Value, secret: &[u8]) -> String {
    let mut h = Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some(kid.to_string());
    encode(&h, &claims, &EncodingKey::from_secret(secret)).unwrap()
}

async fn call(gw: &Gateway, stage: &str, auth: Option<String>) -> Resp {
    let mut headers = vec![("X-Ca-Stage", stage.to_string())];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    send(gw.http, "GET", "localhost", "/me?x=1", &hs, b"").await
}

fn code(r: &Resp) -> (u16, Option<&str>) {
    (r.status.as_u16(), r.code())
}

#[tokio::test]
async fn tokens_are_verified_and_claims_forwarded() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));
    let good = |jti: &str| {
        token(
            "k1",
            json!({"sub": "alice", "tenant": 42, "jti": jti, "exp": now() + 600}),
            HS_SECRET,
        )
    };

    let r = call(&gw, "RELEASE", Some(format!("Bearer {}", good("j1")))).await;
    assert_eq!(r.status, 200, "{:?}", r.message());
    let echo = r.json();
    assert_eq!(echo["headers"]["x-user"], "alice");
    assert_eq!(echo["query"], "x=1&tenant=42");

    // The same jti again is a replay.
    let r = call(&gw, "RELEASE", Some(format!("Bearer {}", good("j1")))).await;
    assert_eq!(code(&r), (403, Some("A403SV")));

    let r = call(&gw, "RELEASE", None).await;
    assert_eq!(code(&r), (400, Some("I400JR")));
    let r = call(&gw, "RELEASE", Some("Bearer not.a.jwt".into())).await;
    assert_eq!(code(&r), (400, Some("I400JD")));
    let expired = token(
        "k1",
        json!({"sub": "a", "jti": "j2", "exp": now() - 60}),
        HS_SECRET,
    );
    let r = call(&gw, "RELEASE", Some(format!("Bearer {expired}"))).await;
    assert_eq!(code(&r), (403, Some("A403JE")));
    let forged = token(
        "k1",
        json!({"sub": "a", "jti": "j3", "exp": now() + 60}),
        b"another-secret-another-secret-xx",
    );
    let r = call(&gw, "RELEASE", Some(format!("Bearer {forged}"))).await;
    assert_eq!(code(&r), (403, Some("A403JT")));
    let unknown_kid = token(
        "k9",
        json!({"sub": "a", "jti": "j4", "exp": now() + 60}),
        HS_SECRET,
    );
    let r = call(&gw, "RELEASE", Some(format!("Bearer {unknown_kid}"))).await;
    assert_eq!(code(&r), (403, Some("A403JK")));
    let no_jti = token("k1", json!({"sub": "a", "exp": now() + 60}), HS_SECRET);
    let r = call(&gw, "RELEASE", Some(format!("Bearer {no_jti}"))).await;
    assert_eq!(code(&r), (403, Some("S403JI")));

    // The plugin is bound in RELEASE only: TEST is open.
    let r = call(&gw, "TEST", None).await;
    assert_eq!(r.status, 200);
}
