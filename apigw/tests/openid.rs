//! `APPOPENID` APIs over real sockets: an IDTOKEN API declares the public key (a JWK), a
//! BUSINESS API of the same group and stage demands an app signature *and* an id token signed
//! by the `jsonwebtoken` crate (not by our code) with the matching private key; invalid
//! `OpenIdConnectConfig`s are refused by `apigw apply` and by CreateApi.

mod support;

use apigw_signature::{Algorithm as HmacAlg, ClientSigner};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::net::SocketAddr;
use support::{admin_call, eventually, send, Gateway, Resp};

const KEY: &str = "oidc-app-key";
const SECRET: &str = "oidc-app-secret-0001";
const AK: (&str, &str) = ("oidcroot", "oidcroot-secret-0001");

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../crates/jwt/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

fn der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// The RSA fixture's public JWK, as CloudAPI's console shows it (JSON text).
fn rsa_public_jwk() -> String {
    let all: Value = serde_json::from_str(&fixture("public_jwks.json")).unwrap();
    let mut k = all["rsa"].clone();
    k["alg"] = json!("RS256");
    k["use"] = json!("sig");
    k.to_string()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An id token as the IDTOKEN API's backend would issue it.
fn id_token(kid: &str, exp: u64) -> String {
    let key = EncodingKey::from_rsa_der(&der(&fixture("rsa_private.pem")));
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.to_string());
    let claims = json!({"sub": "user-42", "iss": "apigw-test", "iat": now(), "exp": exp});
    encode(&h, &claims, &key).unwrap()
}

fn config(backend: SocketAddr, kid: &str) -> String {
    let jwk = rsa_public_jwk();
    format!(
        r#"
Groups:
  - GroupName: oidc
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: issue_token
        AuthType: APPOPENID
        OpenIdConnectConfig:
          OpenIdApiType: IDTOKEN
          PublicKeyId: {kid}
          PublicKey: '{jwk}'
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/token"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
      - ApiName: get_profile
        AuthType: APPOPENID
        OpenIdConnectConfig: {{OpenIdApiType: BUSINESS, IdTokenParamName: X-Id-Token, PublicKeyId: null, PublicKey: null}}
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: "/profile"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE, TEST]
Apps:
  - AppName: oidc_client
    Keys: [{{AppKey: "{KEY}", AppSecret: "{SECRET}"}}]
    Authorizations:
      - {{GroupName: oidc, ApiName: issue_token, Stages: [RELEASE]}}
      - {{GroupName: oidc, ApiName: get_profile, Stages: [RELEASE, TEST]}}
"#
    )
}

/// A GET signed by app `KEY` (apigw's client signer, as the SDKs sign), with `extra` headers.
async fn call(gw: &Gateway, path_and_query: &str, extra: &[(&str, &str)], signed: bool) -> Resp {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut headers = HeaderMap::new();
    for (k, v) in extra {
        headers.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    headers.insert("x-ca-timestamp", support::now_ms().parse().unwrap());
    headers.insert("x-ca-nonce", support::nonce().parse().unwrap());
    if signed {
        let signer = ClientSigner {
            app_key: KEY,
            app_secret: SECRET,
            algorithm: HmacAlg::HmacSha256,
        };
        signer.sign("GET", path, query, &mut headers, None, &[]);
    }
    let list: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
        .collect();
    send(gw.http, "GET", "localhost", path_and_query, &list, b"").await
}

#[track_caller]
fn assert_code(r: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (status, Some(code)),
        "{what}: {:?}",
        r.message()
    );
}

#[track_caller]
fn assert_backend(r: &Resp, path: &str, what: &str) {
    assert_eq!(r.status, 200, "{what}: {:?} {:?}", r.code(), r.message());
    assert_eq!(r.json()["path"], path, "{what}");
}

#[tokio::test]
async fn business_apis_need_an_app_and_an_id_token_of_the_group() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend, "rsa-1"));
    let exp = now() + 600;
    let good = id_token("rsa-1", exp);

    // The IDTOKEN API itself: APP authentication only.
    let r = call(&gw, "/token", &[], true).await;
    assert_backend(&r, "/token", "IDTOKEN API, signed");
    let r = call(&gw, "/token", &[], false).await;
    assert_code(&r, 400, "A400MA", "IDTOKEN API, unsigned");

    // BUSINESS: a signed call with a valid token, in the header or the query.
    let r = call(&gw, "/profile", &[("X-Id-Token", &good)], true).await;
    assert_backend(&r, "/profile", "token in the header");
    let bearer = format!("Bearer {good}");
    let r = call(&gw, "/profile", &[("X-Id-Token", &bearer)], true).await;
    assert_backend(&r, "/profile", "Bearer token in the header");
    let r = call(&gw, &format!("/profile?X-Id-Token={good}"), &[], true).await;
    assert_backend(&r, "/profile", "token in the query");

    // The app is still required: a valid token alone is not enough.
    let r = call(&gw, "/profile", &[("X-Id-Token", &good)], false).await;
    assert_code(&r, 400, "A400MA", "token without an app");

    // Token failures, each with its code.
    let r = call(&gw, "/profile", &[], true).await;
    assert_code(&r, 400, "I400JR", "no token");
    let r = call(&gw, "/profile", &[("X-Id-Token", "not-a-jwt")], true).await;
    assert_code(&r, 400, "I400JD", "undecodable token");
    let r = call(
        &gw,
        "/profile",
        &[("X-Id-Token", &id_token("rsa-9", exp))],
        true,
    )
    .await;
    assert_code(&r, 403, "A403JK", "unknown kid");
    assert_eq!(r.message(), Some("No matching JWK, `rsa-9` not found"));
    let (head, sig) = good.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{head}.{flipped}{}", &sig[1..]);
    let r = call(&gw, "/profile", &[("X-Id-Token", &tampered)], true).await;
    assert_code(&r, 403, "A403JT", "tampered signature");
    let expired = id_token("rsa-1", now() - 60);
    let r = call(&gw, "/profile", &[("X-Id-Token", &expired)], true).await;
    assert_code(&r, 403, "A403JE", "expired token");

    // No IDTOKEN API is deployed in TEST: BUSINESS fails closed there.
    let r = call(
        &gw,
        "/profile",
        &[("X-Id-Token", &good), ("X-Ca-Stage", "TEST")],
        true,
    )
    .await;
    assert_code(&r, 403, "A403JK", "no key in TEST");

    // Redeploying the IDTOKEN API with another key id recompiles the BUSINESS API.
    gw.apply(&config(backend, "rsa-2"));
    let next = id_token("rsa-2", exp);
    eventually(|| async {
        call(&gw, "/profile", &[("X-Id-Token", &next)], true)
            .await
            .status
            == 200
    })
    .await;
    let r = call(&gw, "/profile", &[("X-Id-Token", &good)], true).await;
    assert_code(&r, 403, "A403JK", "the old kid after the redeploy");
}

#[tokio::test]
async fn invalid_openid_connect_configs_are_refused() {
    let backend = support::backend().await;
    // apply: an IDTOKEN API whose PublicKey is not a key; nothing is written.
    let bad = config(backend, "rsa-1").replace(&rsa_public_jwk(), r#"{"kty":"RSA"}"#);
    let dir = tempfile::tempdir().unwrap();
    let err = support::apply(dir.path(), &bad).unwrap_err();
    assert!(err.contains("InvalidOpenIdConnectConfig"), "{err}");
    let missing = config(backend, "rsa-1").replace(
        "OpenIdConnectConfig: {OpenIdApiType: BUSINESS, IdTokenParamName: X-Id-Token, PublicKeyId: null, PublicKey: null}",
        "OpenIdConnectConfig: {OpenIdApiType: BUSINESS}",
    );
    assert_ne!(missing, config(backend, "rsa-1"));
    let err = support::apply(dir.path(), &missing).unwrap_err();
    assert!(err.contains("InvalidOpenIdConnectConfig"), "{err}");

    // CreateApi through the management API.
    let gw = Gateway::start_in_with_env(
        tempfile::tempdir().unwrap(),
        &[
            ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
            ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
        ],
    );
    let (status, body) = admin_call(
        gw.admin,
        AK,
        "CreateApiGroup",
        &[("GroupName", "oidc_group")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let gid = body["GroupId"].as_str().unwrap().to_string();
    let rc = r#"{"RequestHttpMethod":"GET","RequestPath":"/p"}"#;
    let sc = format!(r#"{{"ServiceAddress":"http://{backend}","ServiceTimeout":3000}}"#);
    let create = |oidc: Option<String>| {
        let (gid, rc, sc) = (gid.clone(), rc.to_string(), sc.clone());
        async move {
            let mut params = vec![
                ("GroupId", gid),
                ("ApiName", "oidc_api".to_string()),
                ("Visibility", "PRIVATE".to_string()),
                ("AuthType", "APPOPENID".to_string()),
                ("RequestConfig", rc),
                ("ServiceConfig", sc),
            ];
            if let Some(o) = oidc {
                params.push(("OpenIdConnectConfig", o));
            }
            let list: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            admin_call(gw.admin, AK, "CreateApi", &list).await
        }
    };
    for (oidc, code) in [
        (
            Some(r#"{"OpenIdApiType":"BUSINESS"}"#.to_string()),
            "InvalidOpenIdConnectConfig",
        ),
        (
            Some(r#"{"OpenIdApiType":"SOMETIMES"}"#.to_string()),
            "InvalidOpenIdConnectConfig",
        ),
        (
            Some(r#"{"OpenIdApiType":"IDTOKEN","PublicKeyId":"k1"}"#.to_string()),
            "InvalidOpenIdConnectConfig",
        ),
        (None, "MissingOpenIdConnectConfig"),
    ] {
        let (status, body) = create(oidc.clone()).await;
        assert_eq!(
            (status, body["Code"].as_str()),
            (400, Some(code)),
            "{oidc:?}: {body}"
        );
    }
    let good = json!({"OpenIdApiType": "IDTOKEN", "PublicKeyId": "k1",
                      "PublicKey": rsa_public_jwk()})
    .to_string();
    let (status, body) = create(Some(good)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["ApiId"].is_string(), "{body}");
}

#[tokio::test]
async fn a_jwt_auth_plugin_replaces_the_token_check_not_the_app_check() {
    let backend = support::backend().await;
    let secret = b"a-shared-secret-of-32-bytes-long!";
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let yaml = config(backend, "rsa-1").replace(
        "\nApps:",
        &format!(
            r#"
Plugins:
  - PluginName: jwt_profile
    PluginType: jwtAuth
    PluginData: '{{"parameter": "X-Plugin-Token", "jwk": {{"kty": "oct", "kid": "h1", "k": "{k}"}}}}'
    AttachTo:
      - {{GroupName: oidc, ApiName: get_profile, Stages: [RELEASE]}}
Apps:"#
        ),
    );
    assert_ne!(yaml, config(backend, "rsa-1"));
    let gw = Gateway::start(&yaml);
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("h1".into());
    let plugin_token = encode(
        &h,
        &json!({"sub": "u", "exp": now() + 600}),
        &EncodingKey::from_secret(secret),
    )
    .unwrap();

    let r = call(&gw, "/profile", &[("X-Plugin-Token", &plugin_token)], true).await;
    assert_backend(&r, "/profile", "signed, with the plugin's token");
    let r = call(&gw, "/profile", &[("X-Plugin-Token", &plugin_token)], false).await;
    assert_code(&r, 400, "A400MA", "the plugin's token without an app");
    // The OpenID id token is not what the plugin reads.
    let id = id_token("rsa-1", now() + 600);
    let r = call(&gw, "/profile", &[("X-Id-Token", &id)], true).await;
    assert_code(&r, 400, "I400JR", "the id token instead of the plugin's");
}
