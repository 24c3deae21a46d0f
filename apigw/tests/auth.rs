//! Authentication over real sockets: requests signed by an independent reference
//! implementation (`sdk/reference_sign.py`) and by the official SDKs, AppCodes, anti-replay,
//! per-stage authorization, secret rotation, and every documented failure code.

mod support;

use std::net::SocketAddr;
use support::{nonce, now_ms, reference_sign, send, Gateway, Resp};

const KEY: &str = "203753385";
const SECRET: &str = "Sec-8f2b1c7e4a";
const CODE: &str = "code0123456789abcdef";

fn config(backend: SocketAddr) -> String {
    let api = |name: &str, method: &str, path: &str, extra: &str| {
        format!(
            r#"
      - ApiName: {name}
        AuthType: APP{extra}
        RequestConfig: {{RequestHttpMethod: {method}, RequestPath: "{path}"}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServiceTimeout: 3000}}
        DeployTo: [RELEASE, TEST]"#
        )
    };
    let apis = [
        api(
            "signed_any",
            "ANY",
            "/v1/*",
            "\n        AllowSignatureMethod: HmacSHA1,HmacSHA256",
        ),
        api("strict", "GET", "/strict", ""),
        api(
            "nonce_forced",
            "GET",
            "/nonce",
            "\n        ForceNonceCheck: true",
        ),
        api(
            "code_query",
            "GET",
            "/codeq",
            "\n        AppCodeAuthType: HEADER_QUERY",
        ),
        api(
            "code_off",
            "GET",
            "/nocode",
            "\n        AppCodeAuthType: DISABLE",
        ),
        api("not_granted", "GET", "/private", ""),
        api("expired_grant", "GET", "/expired", ""),
        api("test_only", "GET", "/stage-test", ""),
    ]
    .concat();
    format!(
        r#"
Groups:
  - GroupName: secure
    Domains: [{{DomainName: localhost}}]
    Apis:{apis}
Apps:
  - AppName: caller_app
    Keys: [{{AppKey: "{KEY}", AppSecret: "{SECRET}"}}]
    AppCodes: ["{CODE}"]
    Authorizations:
      - {{GroupName: secure, ApiName: signed_any, Stages: [RELEASE, TEST]}}
      - {{GroupName: secure, ApiName: strict, Stages: [RELEASE]}}
      - {{GroupName: secure, ApiName: nonce_forced, Stages: [RELEASE]}}
      - {{GroupName: secure, ApiName: code_query, Stages: [RELEASE]}}
      - {{GroupName: secure, ApiName: code_off, Stages: [RELEASE]}}
      - {{GroupName: secure, ApiName: expired_grant, Stages: [RELEASE], AuthValidTime: "2020-01-01T00:00:00Z"}}
      - {{GroupName: secure, ApiName: test_only, Stages: [TEST]}}
  - AppName: disabled_app
    Disabled: true
    Keys: [{{AppKey: "disabled-key", AppSecret: "disabled-secret"}}]
    AppCodes: ["disabledcode0001"]
    Authorizations:
      - {{GroupName: secure, ApiName: signed_any, Stages: [RELEASE]}}
"#
    )
}

/// A request to sign with the reference implementation and send.
struct Call<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    form: bool,
    secret: &'a str,
    variants: Vec<&'a str>,
}

impl<'a> Call<'a> {
    /// The headers the Python/PHP demos send: X-Ca-* spelled as written, signed.
    fn new(method: &'a str, path: &'a str, query: Option<&'a str>) -> Call<'a> {
        Call {
            method,
            path,
            query,
            headers: vec![
                ("Accept".into(), "application/json".into()),
                ("X-Ca-Key".into(), KEY.into()),
                ("X-Ca-Timestamp".into(), now_ms()),
                ("X-Ca-Nonce".into(), nonce()),
                (
                    "X-Ca-Signature-Headers".into(),
                    "X-Ca-Key,X-Ca-Nonce,X-Ca-Timestamp".into(),
                ),
            ],
            body: Vec::new(),
            form: false,
            secret: SECRET,
            variants: Vec::new(),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    fn form(mut self, body: &str) -> Self {
        self.body = body.as_bytes().to_vec();
        self.form = true;
        self.header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
    }

    /// Signs; returns the headers to send (with `X-Ca-Signature`) and the StringToSign.
    fn sign(&self) -> (Vec<(String, String)>, String) {
        let hs: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let form = self.form.then(|| std::str::from_utf8(&self.body).unwrap());
        let (sts, sig) = reference_sign(
            self.method,
            self.path,
            self.query,
            &hs,
            form,
            self.secret,
            &self.variants,
        );
        let mut out = self.headers.clone();
        out.push(("X-Ca-Signature".into(), sig));
        (out, sts)
    }

    async fn send(&self, gw: &Gateway) -> (Resp, String) {
        let (headers, sts) = self.sign();
        let resp = send_headers(gw, self.method, self.path, self.query, &headers, &self.body).await;
        (resp, sts)
    }
}

async fn send_headers(
    gw: &Gateway,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(String, String)],
    body: &[u8],
) -> Resp {
    let target = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let hs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    send(gw.http, method, "localhost", &target, &hs, body).await
}

fn assert_ok(resp: &Resp, what: &str) {
    assert_eq!(
        resp.status,
        200,
        "{what}: {:?} {:?} {}",
        resp.code(),
        resp.message(),
        resp.text()
    );
    assert!(resp.header("x-ca-request-id").is_some());
}

fn assert_code(resp: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!(
        (resp.status.as_u16(), resp.code()),
        (status, Some(code)),
        "{what}: {:?}",
        resp.message()
    );
    assert!(resp.header("x-ca-request-id").is_some());
}

#[tokio::test]
async fn every_signature_variant_of_the_spec_verifies() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));

    // Repeated keys (first value signed), bare keys, `+` as space, UTF-8 percent-encoded values.
    let q = "tag=b&tag=a&flag&empty=&q=a+b&name=%E5%BC%A0%E4%B8%89&emoji=%F0%9F%98%80";
    let (r, _) = Call::new("GET", "/v1/query", Some(q)).send(&gw).await;
    assert_ok(&r, "query variants");
    assert_eq!(r.json()["query"], q, "the backend gets the query as sent");

    // HmacSHA1, where the API allows it.
    let (r, _) = Call::new("GET", "/v1/sha1", None)
        .header("X-Ca-Signature-Method", "HmacSHA1")
        .header(
            "X-Ca-Signature-Headers",
            "X-Ca-Key,X-Ca-Nonce,X-Ca-Signature-Method,X-Ca-Timestamp",
        )
        .send(&gw)
        .await;
    assert_ok(&r, "HmacSHA1");

    // X-Ca-Signature-Headers in any letter case and order (Java SDK core: HashMap order).
    let (r, _) = Call::new("GET", "/v1/case", None)
        .header(
            "X-Ca-Signature-Headers",
            "x-ca-TIMESTAMP,X-CA-KEY,x-ca-nonce",
        )
        .send(&gw)
        .await;
    assert_ok(&r, "mixed-case signed header names");

    // A signed header present with an empty value, and one listed but absent (`name:` line).
    let (r, _) = Call::new("GET", "/v1/empty-header", None)
        .header("X-Empty", "")
        .header(
            "X-Ca-Signature-Headers",
            "X-Ca-Key,X-Ca-Nonce,X-Ca-Timestamp,X-Empty,X-Absent",
        )
        .send(&gw)
        .await;
    assert_ok(&r, "empty and absent signed headers");

    // Fixed lines: Date and Content-Type verbatim, lower-case X-Ca names (Node/Java core).
    let (r, _) = Call::new("GET", "/v1/date", Some("page=2"))
        .header("Date", "Tue, 14 Nov 2023 22:13:20 GMT")
        .header("x-ca-stage", "RELEASE")
        .header(
            "X-Ca-Signature-Headers",
            "x-ca-key,x-ca-nonce,x-ca-stage,x-ca-timestamp",
        )
        .send(&gw)
        .await;
    assert_ok(&r, "date line and lower-case names");

    // Form body: its fields are signed; same key in query and form → the form value wins.
    let (r, _) = Call::new("POST", "/v1/form", Some("k=fromquery&z=9"))
        .form("k=frombody&a=&b=two+words&c=%E4%BD%A0%E5%A5%BD")
        .send(&gw)
        .await;
    assert_ok(&r, "form body");
    assert_eq!(
        r.json()["body"],
        "k=frombody&a=&b=two+words&c=%E4%BD%A0%E5%A5%BD"
    );

    // A non-form body with Content-MD5 (the body is covered through the MD5 line).
    let body = br#"{"id":7,"name":"x"}"#;
    let mut call = Call::new("POST", "/v1/json", None)
        .header("Content-Type", "application/json")
        .header("Content-MD5", "jK9dHWC9219hAdcyp+dSVQ==");
    call.body = body.to_vec();
    let (r, _) = call.send(&gw).await;
    assert_ok(&r, "JSON body with Content-MD5");
    assert_eq!(r.json()["body"], r#"{"id":7,"name":"x"}"#);

    // Percent-encoded UTF-8 in the path: signed as received.
    let (r, _) = Call::new("GET", "/v1/files/%E6%96%87%E4%BB%B6", None)
        .send(&gw)
        .await;
    assert_ok(&r, "encoded path");

    // Node SDK: repeated query key signed as `v1,v2` (fallback F2).
    let mut call = Call::new("GET", "/v1/node", Some("tag=b&tag=a"));
    call.variants = vec!["F2"];
    let (r, _) = call.send(&gw).await;
    assert_ok(&r, "comma-joined repeated key");

    // A signed request works in another stage too.
    let (r, _) = Call::new("GET", "/v1/stage", None)
        .header("X-Ca-Stage", "test")
        .send(&gw)
        .await;
    assert_ok(&r, "TEST stage");
}

#[tokio::test]
async fn each_failure_gets_its_documented_code_and_message() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));

    // No credentials at all.
    let r = send_headers(&gw, "GET", "/v1/x", None, &[], b"").await;
    assert_code(&r, 400, "A400MA", "no credentials");

    // Unknown AppKey; a disabled app's key is unknown too.
    let (r, _) = Call::new("GET", "/v1/x", None)
        .header("X-Ca-Key", "no-such-key")
        .send(&gw)
        .await;
    assert_code(&r, 400, "A400IK", "unknown key");
    let mut call = Call::new("GET", "/v1/x", None).header("X-Ca-Key", "disabled-key");
    call.secret = "disabled-secret";
    assert_code(&call.send(&gw).await.0, 400, "A400IK", "disabled app");

    // Signature mismatch: the message echoes the server's StringToSign with `\n` → `#`, which
    // must equal the reference implementation's string for the same request.
    let mut call = Call::new("GET", "/v1/mismatch", Some("b=2&a=%E4%B8%AD"));
    call.secret = "not-the-secret";
    let (r, sts) = call.send(&gw).await;
    assert_code(&r, 403, "A403IS", "wrong secret");
    let expected = format!(
        "Invalid Signature, Server StringToSign:`{}`",
        sts.replace('\n', "#")
    );
    assert_eq!(
        r.headers
            .get("x-ca-error-message")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        Some(expected)
    );

    // A signed value changed after signing.
    let (mut headers, _) = Call::new("GET", "/v1/tamper", Some("amount=1")).sign();
    let r = send_headers(&gw, "GET", "/v1/tamper", Some("amount=100"), &headers, b"").await;
    assert_code(&r, 403, "A403IS", "tampered query");

    // Empty signature.
    headers.retain(|(n, _)| n != "X-Ca-Signature");
    headers.push(("X-Ca-Signature".into(), String::new()));
    let r = send_headers(&gw, "GET", "/v1/tamper", Some("amount=1"), &headers, b"").await;
    assert_code(&r, 403, "A403IS", "empty signature");
    assert_eq!(r.message(), Some("Empty Signature"));

    // Content-MD5 that does not match the body, and one sent with an empty body.
    let mut call = Call::new("POST", "/v1/md5", None)
        .header("Content-Type", "application/json")
        .header("Content-MD5", "jK9dHWC9219hAdcyp+dSVQ==");
    call.body = br#"{"id":8,"name":"x"}"#.to_vec();
    assert_code(&call.send(&gw).await.0, 400, "I400I5", "wrong MD5");
    call.body.clear();
    assert_code(&call.send(&gw).await.0, 400, "I400I5", "MD5 of nothing");

    // Timestamps: outside 15 minutes either way, or not a number.
    let old = (now_ms().parse::<u64>().unwrap() - 16 * 60 * 1000).to_string();
    let future = (now_ms().parse::<u64>().unwrap() + 16 * 60 * 1000).to_string();
    for ts in [&old, &future] {
        let (r, _) = Call::new("GET", "/v1/ts", None)
            .header("X-Ca-Timestamp", ts)
            .send(&gw)
            .await;
        assert_code(&r, 403, "S403TE", "timestamp out of window");
        assert_eq!(r.message(), Some("X-Ca-Timestamp is expired"));
    }
    let (r, _) = Call::new("GET", "/v1/ts", None)
        .header("X-Ca-Timestamp", "yesterday")
        .send(&gw)
        .await;
    assert_code(&r, 400, "I400HD", "malformed timestamp");
    assert!(r.message().unwrap().contains("X-Ca-Timestamp"));

    // HmacSHA1 where the API allows only HmacSHA256; an unknown method.
    for (method, why) in [("HmacSHA1", "not allowed"), ("HmacMD5", "unsupported")] {
        let (r, _) = Call::new("GET", "/strict", None)
            .header("X-Ca-Signature-Method", method)
            .send(&gw)
            .await;
        assert_code(&r, 400, "I400HD", method);
        assert!(r.message().unwrap().contains(why), "{:?}", r.message());
    }

    // Authenticated, but no grant for this API; a grant for another stage only; an expired grant.
    let (r, _) = Call::new("GET", "/private", None).send(&gw).await;
    assert_code(&r, 403, "A403UA", "no grant");
    assert!(r.message().unwrap().starts_with("Unauthorized"));
    let (r, _) = Call::new("GET", "/stage-test", None).send(&gw).await;
    assert_code(&r, 403, "A403UA", "granted in TEST only, called in RELEASE");
    let (r, _) = Call::new("GET", "/stage-test", None)
        .header("X-Ca-Stage", "TEST")
        .send(&gw)
        .await;
    assert_ok(&r, "granted in TEST, called in TEST");
    let (r, _) = Call::new("GET", "/expired", None).send(&gw).await;
    assert_code(&r, 403, "A403EP", "expired grant");
    assert_eq!(r.message(), Some("App authorization expired"));
}

#[tokio::test]
async fn nonces_are_required_when_asked_and_accepted_once() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));

    let (r, _) = Call::new("GET", "/nonce", None)
        .without("X-Ca-Nonce")
        .header("X-Ca-Signature-Headers", "X-Ca-Key,X-Ca-Timestamp")
        .send(&gw)
        .await;
    assert_code(&r, 400, "I400NC", "missing nonce");

    let call = Call::new("GET", "/nonce", None);
    let (headers, _) = call.sign();
    // A forged request carrying the same nonce does not burn it (checked after the signature).
    let mut forged = headers.clone();
    forged.retain(|(n, _)| n != "X-Ca-Signature");
    forged.push(("X-Ca-Signature".into(), "AAAA".into()));
    let r = send_headers(&gw, "GET", "/nonce", None, &forged, b"").await;
    assert_code(&r, 403, "A403IS", "forged");
    let r = send_headers(&gw, "GET", "/nonce", None, &headers, b"").await;
    assert_ok(&r, "first use");
    let r = send_headers(&gw, "GET", "/nonce", None, &headers, b"").await;
    assert_code(&r, 403, "S403NU", "replay");
    assert_eq!(r.message(), Some("Nonce Used"));

    // APIs without ForceNonceCheck still refuse a replayed nonce, and accept no nonce at all.
    let (headers, _) = Call::new("GET", "/v1/replay", None).sign();
    assert_ok(
        &send_headers(&gw, "GET", "/v1/replay", None, &headers, b"").await,
        "first",
    );
    let r = send_headers(&gw, "GET", "/v1/replay", None, &headers, b"").await;
    assert_code(
        &r,
        403,
        "S403NU",
        "replay on an API without ForceNonceCheck",
    );
    let (r, _) = Call::new("GET", "/v1/no-nonce", None)
        .without("X-Ca-Nonce")
        .header("X-Ca-Signature-Headers", "X-Ca-Key,X-Ca-Timestamp")
        .send(&gw)
        .await;
    assert_ok(&r, "no nonce, not forced");
}

#[tokio::test]
async fn app_codes_in_header_and_query_as_the_api_allows() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));
    let auth = format!("APPCODE {CODE}");
    let get = |path: &'static str, headers: Vec<(String, String)>| {
        let gw = &gw;
        async move { send_headers(gw, "GET", path, None, &headers, b"").await }
    };
    let header = vec![("Authorization".to_string(), auth.clone())];

    assert_ok(&get("/v1/code", header.clone()).await, "header form");
    let lower = vec![("Authorization".to_string(), format!("appcode  {CODE} "))];
    assert_ok(&get("/v1/code", lower).await, "scheme in any case");

    let r = send_headers(
        &gw,
        "GET",
        "/codeq",
        Some(&format!("AppCode={CODE}&x=1")),
        &[],
        b"",
    )
    .await;
    assert_ok(&r, "query form where allowed");
    assert_eq!(r.json()["query"], "x=1", "the AppCode is not forwarded");
    let r = send_headers(
        &gw,
        "GET",
        "/strict",
        Some(&format!("AppCode={CODE}")),
        &[],
        b"",
    )
    .await;
    assert_code(&r, 400, "A400AC", "query form where not allowed");

    assert_code(
        &get("/nocode", header.clone()).await,
        400,
        "A400AC",
        "AppCode disabled",
    );
    let bad = vec![(
        "Authorization".to_string(),
        "APPCODE nosuchcode123".to_string(),
    )];
    assert_code(&get("/v1/code", bad).await, 400, "A400AC", "unknown code");
    let disabled = vec![(
        "Authorization".to_string(),
        "APPCODE disabledcode0001".to_string(),
    )];
    assert_code(
        &get("/v1/code", disabled).await,
        400,
        "A400AC",
        "disabled app's code",
    );
    assert_code(
        &get("/private", header.clone()).await,
        403,
        "A403UA",
        "AppCode, no grant",
    );
}

#[tokio::test]
async fn grants_and_secrets_change_without_a_restart() {
    let backend = support::backend().await;
    let gw = Gateway::start(&config(backend));
    let (r, _) = Call::new("GET", "/private", None).send(&gw).await;
    assert_code(&r, 403, "A403UA", "before the grant");

    // Grant, and rotate the secret: the old secret keeps working during the grace period.
    let rotated = config(backend)
        .replace(
            "      - {GroupName: secure, ApiName: strict, Stages: [RELEASE]}",
            "      - {GroupName: secure, ApiName: strict, Stages: [RELEASE]}\n      - {GroupName: secure, ApiName: not_granted, Stages: [RELEASE]}",
        )
        .replace(SECRET, "Rotated-Secret-2");
    gw.apply(&rotated);
    support::eventually(|| async {
        Call::new("GET", "/private", None).send(&gw).await.0.status == 200
    })
    .await;
    let mut call = Call::new("GET", "/v1/new-secret", None);
    call.secret = "Rotated-Secret-2";
    assert_ok(&call.send(&gw).await.0, "new secret");

    // Revoke everything: the app is no longer authorized anywhere.
    let revoked = revoke_all(&rotated);
    gw.apply(&revoked);
    support::eventually(|| async {
        let mut call = Call::new("GET", "/v1/after-revoke", None);
        call.secret = "Rotated-Secret-2";
        call.send(&gw).await.0.code() == Some("A403UA")
    })
    .await;
}

/// The config with `caller_app`'s grant list emptied.
fn revoke_all(yaml: &str) -> String {
    let mut out = Vec::new();
    let mut in_caller = false;
    let mut skipping = false;
    for line in yaml.lines() {
        if line.starts_with("  - AppName:") {
            in_caller = line.contains("caller_app");
        }
        if in_caller && line.trim() == "Authorizations:" {
            out.push("    Authorizations: []".to_string());
            skipping = true;
            continue;
        }
        if skipping && line.starts_with("      - ") {
            continue;
        }
        skipping = false;
        out.push(line.to_string());
    }
    out.join("\n")
}

#[tokio::test]
async fn a_reset_secret_stays_valid_for_the_grace_period_only() {
    let backend = support::backend().await;
    let dir = tempfile::tempdir().unwrap();
    support::apply(dir.path(), &config(backend)).unwrap();
    let gw = Gateway::start_in(dir);
    let (ok, out) = support::cli_env(
        gw.dir.path(),
        &[
            "app",
            "reset-secret",
            KEY,
            "--new-secret",
            "Brand-New-Secret",
        ],
        &[("APIGW_APP_SECRET_GRACE_SECONDS", "2")],
    );
    assert!(ok, "{out}");
    let mut fresh = Call::new("GET", "/v1/fresh", None);
    fresh.secret = "Brand-New-Secret";
    support::eventually(|| async { fresh.send(&gw).await.0.status == 200 }).await;
    let (r, _) = Call::new("GET", "/v1/old-within-grace", None)
        .send(&gw)
        .await;
    assert_ok(&r, "old secret within the grace period");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (r, _) = Call::new("GET", "/v1/old-after-grace", None)
        .send(&gw)
        .await;
    assert_code(&r, 403, "A403IS", "old secret after the grace period");
}
