//! Management API signatures (`apigw_signature::mgmt`) against `spec/management-signature.md`:
//! the V1 vectors of §3.4, the V3 vectors of §4.4 and the raw SDK captures of Appendix A, plus
//! one test per parse error code (`spec/management-errors.md` §4). Every expected
//! string-to-sign, canonical request and signature below is copied from the spec (computed by
//! the official SDKs), never produced by this crate. For the captures, whose string-to-sign the
//! spec does not give, the server string echoed on a mismatch is checked against the string
//! that the SDK's own signature verified.

use apigw_signature::mgmt::{
    self, format_timestamp, parse, MgmtError, MgmtRequest, Parsed, Scheme, SignedCall,
};
use http::{HeaderMap, HeaderName, HeaderValue};

const SECRET: &str = "testsecret";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// ---------------------------------------------------------------------------------------------
// Spec text (copied verbatim)
// ---------------------------------------------------------------------------------------------

const V1_A_STS: &str = "POST&%2F&AccessKeyId%3Dtestid%26Action%3DCreateApiGroup%26Description%3Dmy%2520group%26Format%3Djson%26GroupName%3Ddemo_group%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3f7c1d2e9a8b4c5d6e7f8091a2b3c4d5%26SignatureVersion%3D1.0%26Timestamp%3D2024-05-01T12%253A00%253A00Z%26Version%3D2016-07-14";

const V1_B_STS: &str = "GET&%2F&AccessKeyId%3Dtestid%26Action%3DCreateApi%26ApiName%3Dget_user%26Description%3Da%2520b%2526c%253Dd%252F%25C3%25A9~%252A%26Format%3DJSON%26GroupId%3Dabcdef0123456789abcdef0123456789%26RegionId%3Dcn-hangzhou%26RequestConfig%3D%257B%2522RequestProtocol%2522%253A%2522HTTP%2522%252C%2522RequestHttpMethod%2522%253A%2522GET%2522%252C%2522RequestPath%2522%253A%2522%252Fusers%252F%255BuserId%255D%2522%252C%2522RequestMode%2522%253A%2522MAPPING%2522%257D%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3Db6a1c7e0-1f2d-4c3b-9a8e-7d6c5b4a3f21%26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2024-05-01T12%253A00%253A00Z%26Version%3D2016-07-14%26Visibility%3DPRIVATE";

const V3_A_CANONICAL: &str = r#"POST
/
Description=my%20group&GroupName=demo_group
host:apigateway.cn-hangzhou.aliyuncs.com
x-acs-action:CreateApiGroup
x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
x-acs-date:2024-05-01T12:00:00Z
x-acs-signature-nonce:3f7c1d2e9a8b4c5d6e7f8091a2b3c4d5
x-acs-version:2016-07-14

host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"#;

const V3_B_CANONICAL: &str = r#"POST
/
ApiName=get_user&AuthType=APP&Description=a%20b%26c%3Dd%2F%C3%A9~%2A&GroupId=abcdef0123456789abcdef0123456789&RequestConfig=%7B%22RequestProtocol%22%3A%22HTTP%22%2C%22RequestHttpMethod%22%3A%22GET%22%2C%22RequestPath%22%3A%22%2Fusers%2F%5BuserId%5D%22%2C%22RequestMode%22%3A%22MAPPING%22%7D&ServiceConfig=%7B%22ServiceProtocol%22%3A%22HTTP%22%2C%22ServiceAddress%22%3A%22http%3A%2F%2F127.0.0.1%3A9000%22%2C%22ServicePath%22%3A%22%2Fu%2F%5BuserId%5D%22%2C%22ServiceHttpMethod%22%3A%22GET%22%2C%22ServiceTimeout%22%3A10000%7D&Visibility=PRIVATE
content-type:application/x-www-form-urlencoded
host:apigateway.cn-hangzhou.aliyuncs.com
x-acs-action:CreateApi
x-acs-content-sha256:67aab4d3f0c0a8b748bc36e525d74c6664764ada944c167a707f04228ada93c8
x-acs-date:2024-05-01T12:00:00Z
x-acs-signature-nonce:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b
x-acs-version:2016-07-14

content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version
67aab4d3f0c0a8b748bc36e525d74c6664764ada944c167a707f04228ada93c8"#;

const V3_B_BODY: &str = "RequestParameters=%5B%7B%22ApiParameterName%22%3A%22userId%22%2C%22Location%22%3A%22PATH%22%2C%22ParameterType%22%3A%22String%22%2C%22Required%22%3A%22REQUIRED%22%7D%5D&ResultSample=%7B%22id%22%3A1%7D";
const CAPTURE_TEA_V3_CREATE_API_GROUP: &str = r#"POST /?Description=my+group&GroupName=demo_group&Tag.1.Key=env&Tag.1.Value=dev HTTP/1.1
Accept-Encoding: identity
host: 127.0.0.1:18080
x-acs-version: 2016-07-14
x-acs-action: CreateApiGroup
user-agent: AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2
x-acs-date: 2026-11-23T06:43:17Z
x-acs-signature-nonce: afc372711682c4f878efd79f2fd3720b
accept: application/json
x-acs-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
x-acs-credentials-provider: static_ak
Authorization: ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=2d30fddb34631fe34d2ec198e17b9b8ab17646704e14d4b5a917f1a597daead1
Content-Length: 0"#;

const CAPTURE_TEA_V3_CREATE_API: &str = r#"POST /?ApiName=get_user&AuthType=APP&Description=a+b%26c%3Dd%2F%C3%A9~%2A&GroupId=abcdef0123456789abcdef0123456789&RequestConfig=%7B%22RequestProtocol%22%3A+%22HTTP%2CHTTPS%22%2C+%22RequestHttpMethod%22%3A+%22GET%22%2C+%22RequestPath%22%3A+%22%2Fusers%2F%5BuserId%5D%22%2C+%22RequestMode%22%3A+%22MAPPING%22%2C+%22BodyFormat%22%3A+%22FORM%22%2C+%22PostBodyDescription%22%3A+%22%22%7D&ResultType=JSON&ServiceConfig=%7B%22ServiceProtocol%22%3A+%22HTTP%22%2C+%22ServiceAddress%22%3A+%22http%3A%2F%2F127.0.0.1%3A9000%22%2C+%22ServicePath%22%3A+%22%2Fu%2F%5BuserId%5D%22%2C+%22ServiceHttpMethod%22%3A+%22GET%22%2C+%22ServiceTimeout%22%3A+10000%2C+%22ContentTypeCatagory%22%3A+%22CLIENT%22%2C+%22Mock%22%3A+%22FALSE%22%7D&Visibility=PRIVATE HTTP/1.1
Accept-Encoding: identity
host: 127.0.0.1:18080
x-acs-version: 2016-07-14
x-acs-action: CreateApi
user-agent: AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2
x-acs-date: 2026-11-23T06:43:17Z
x-acs-signature-nonce: a6128c992859a94c275f31b394f07d9a
accept: application/json
content-type: application/x-www-form-urlencoded
x-acs-content-sha256: 150335a7519209c2e58855185dc1d0c3040af97d387c340e6dce677e5bbd20da
x-acs-credentials-provider: static_ak
Authorization: ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=38e6117e6efb9d5b2cde056a277277d54101814a81bdfba23801271439f8eaa2
Content-Length: 507

RequestParameters=%5B%7B%22ApiParameterName%22%3A+%22userId%22%2C+%22Location%22%3A+%22PATH%22%2C+%22ParameterType%22%3A+%22String%22%2C+%22Required%22%3A+%22REQUIRED%22%7D%5D&ResultSample=%7B%22id%22%3A1%7D&ServiceParameters=%5B%7B%22ServiceParameterName%22%3A+%22userId%22%2C+%22Location%22%3A+%22PATH%22%2C+%22Type%22%3A+%22String%22%2C+%22ParameterCatalog%22%3A+%22REQUEST%22%7D%5D&ServiceParametersMap=%5B%7B%22ServiceParameterName%22%3A+%22userId%22%2C+%22RequestParameterName%22%3A+%22userId%22%7D%5D"#;

const CAPTURE_TEA_V1_CREATE_API_GROUP: &str = r#"POST /?Action=CreateApiGroup&Format=json&Version=2016-07-14&Timestamp=2026-11-23T06%3A35%3A07Z&SignatureNonce=1b7e677c2d3d7a3448298d5b121cc8da&Description=my+group&GroupName=demo_group&Tag.1.Key=env&Tag.1.Value=dev&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=testid&Signature=SBNNQsptK4G6Q8WdNSyCC4uwrq0%3D HTTP/1.1
Accept-Encoding: identity
host: 127.0.0.1:18080
x-acs-version: 2016-07-14
x-acs-action: CreateApiGroup
user-agent: AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2
x-acs-credentials-provider: static_ak
Content-Length: 0"#;

const CAPTURE_LEGACY_V1_CREATE_API_GROUP: &str = r#"GET /?GroupName=demo_group&Description=my%20group&Version=2016-07-14&Action=CreateApiGroup&Format=JSON&RegionId=cn-hangzhou&Timestamp=2026-11-23T06%3A35%3A18Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=13e12f97afda528baa438a6e3477f204&AccessKeyId=testid&Signature=Gf1nuz2y04UoJLPiylPiEcK4cGk%3D HTTP/1.1
Host: 127.0.0.1:18080
User-Agent: AlibabaCloud (Linux 6.18.44-fc-v669;x86_64) Python/3.11.7 Core/2.16.1 python-requests/2.18.3
Accept-Encoding: identity
Accept: */*
Connection: keep-alive
x-acs-action: CreateApiGroup
x-acs-version: 2016-07-14
x-sdk-invoke-type: normal
x-sdk-client: python/2.0.0"#;

const CAPTURE_NODE_V3_CREATE_API_ABRIDGED: &str = r#"POST /?ApiName=get_user&Description=a%20b%26c%3Dd%2F%C3%A9~*&ForceNonceCheck=true&GroupId=g1&RequestConfig=...&ServiceConfig=...&Visibility=PRIVATE HTTP/1.1
host: 127.0.0.1:18080
x-acs-version: 2016-07-14
x-acs-action: CreateApi
user-agent: AlibabaCloud (linux; x64) Node.js/v20.20.2 Core/1.0.1 TeaDSL/2
x-acs-date: 2026-11-23T06:38:22Z
x-acs-signature-nonce: ee8ffe4e1a0b228207206c8bc42cda96f0251ab22420b476bf0a98cfb98cde53
accept: application/json
content-type: application/x-www-form-urlencoded
x-acs-content-sha256: 16348f1cdf4dca150b65096b963b4b2e866daac813aff2f3a2b01ba6a9af1fec
x-acs-credentials-provider: static_ak
Authorization: ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=content-type;host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=edf3e2fa...
Connection: keep-alive
Transfer-Encoding: chunked

RequestParameters=%5B%5D"#;

const V1_A_SIGNATURE: &str = "jLKEEoumrbAPekEGX+4ifGmU2P4=";
const V1_B_SIGNATURE: &str = "5SHFMv+l1cLBgpAs9FWSsytindg=";
const V3_A_STS: &str =
    "ACS3-HMAC-SHA256\n1bb80ef8eec701600396be6cd0951b5a716214b756fcdaac8fbe6fd30944bdb5";
const V3_A_AUTHORIZATION: &str = "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=2b7a823618848c8f124e51c99748d632655b61314d3a8f5d72d7ebfc338b078d";
const V3_B_STS: &str =
    "ACS3-HMAC-SHA256\n889337046b4211892e1667f4a796a84ec913de1c79c61b5042ff7a57f424952d";
const V3_B_SIGNATURE: &str = "bb9fe522a27d86c336a81b31d7a255b3fc227df06de3be1387dddbfc7fe628c0";
const V3_B_CONTENT_SHA256: &str =
    "67aab4d3f0c0a8b748bc36e525d74c6664764ada944c167a707f04228ada93c8";

/// 2024-05-01T12:00:00Z (the vectors' timestamp) in milliseconds.
const VECTOR_MS: i64 = 1_714_564_800_000;

fn v1_a_params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Action", "CreateApiGroup"),
        ("Format", "json"),
        ("Version", "2016-07-14"),
        ("Timestamp", "2024-05-01T12:00:00Z"),
        ("SignatureNonce", "3f7c1d2e9a8b4c5d6e7f8091a2b3c4d5"),
        ("GroupName", "demo_group"),
        ("Description", "my group"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", "testid"),
    ]
}

const REQUEST_CONFIG: &str = r#"{"RequestProtocol":"HTTP","RequestHttpMethod":"GET","RequestPath":"/users/[userId]","RequestMode":"MAPPING"}"#;
const SERVICE_CONFIG: &str = r#"{"ServiceProtocol":"HTTP","ServiceAddress":"http://127.0.0.1:9000","ServicePath":"/u/[userId]","ServiceHttpMethod":"GET","ServiceTimeout":10000}"#;
const SPECIAL: &str = "a b&c=d/é~*";

fn v1_b_params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("Action", "CreateApi"),
        ("Format", "JSON"),
        ("Version", "2016-07-14"),
        ("RegionId", "cn-hangzhou"),
        ("Timestamp", "2024-05-01T12:00:00Z"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureType", ""),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "b6a1c7e0-1f2d-4c3b-9a8e-7d6c5b4a3f21"),
        ("AccessKeyId", "testid"),
        ("GroupId", "abcdef0123456789abcdef0123456789"),
        ("ApiName", "get_user"),
        ("Visibility", "PRIVATE"),
        ("Description", SPECIAL),
        ("RequestConfig", REQUEST_CONFIG),
    ]
}

const V3_A_HEADERS: &[(&str, &str)] = &[
    ("host", "apigateway.cn-hangzhou.aliyuncs.com"),
    ("x-acs-action", "CreateApiGroup"),
    ("x-acs-version", "2016-07-14"),
    ("x-acs-date", "2024-05-01T12:00:00Z"),
    ("x-acs-signature-nonce", "3f7c1d2e9a8b4c5d6e7f8091a2b3c4d5"),
    ("x-acs-content-sha256", EMPTY_SHA256),
    ("authorization", V3_A_AUTHORIZATION),
];

fn v3_b_query() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GroupId", "abcdef0123456789abcdef0123456789"),
        ("ApiName", "get_user"),
        ("Visibility", "PRIVATE"),
        ("AuthType", "APP"),
        ("Description", SPECIAL),
        ("RequestConfig", REQUEST_CONFIG),
        ("ServiceConfig", SERVICE_CONFIG),
    ]
}

fn v3_b_authorization() -> String {
    format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature={V3_B_SIGNATURE}")
}

fn v3_b_headers() -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/x-www-form-urlencoded".into()),
        ("host", "apigateway.cn-hangzhou.aliyuncs.com".into()),
        ("x-acs-action", "CreateApi".into()),
        ("x-acs-version", "2016-07-14".into()),
        ("x-acs-date", "2024-05-01T12:00:00Z".into()),
        (
            "x-acs-signature-nonce",
            "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b".into(),
        ),
        ("x-acs-content-sha256", V3_B_CONTENT_SHA256.into()),
        ("authorization", v3_b_authorization()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A received request, owned.
#[derive(Clone, Debug)]
struct Raw {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn new(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Raw {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        Raw {
            method: method.to_owned(),
            path,
            query,
            headers: map,
            body: body.to_vec(),
        }
    }

    /// Rebuilds a capture of Appendix A exactly: request line, headers, blank line, body.
    fn capture(text: &str) -> Raw {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let mut request_line = lines.next().unwrap().split(' ');
        let method = request_line.next().unwrap();
        let target = request_line.next().unwrap();
        assert_eq!(request_line.next(), Some("HTTP/1.1"));
        let headers: Vec<(&str, &str)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n, v.trim_start())
            })
            .collect();
        let raw = Raw::new(method, target, &headers, body.as_bytes());
        if let Some(len) = raw.headers.get("content-length") {
            assert_eq!(len.to_str().unwrap(), body.len().to_string());
        }
        raw
    }

    fn from_call(call: &SignedCall) -> Raw {
        let headers: Vec<(&str, &str)> = call
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        Raw::new(call.method, &call.path_and_query, &headers, &call.body)
    }

    fn req(&self) -> MgmtRequest<'_> {
        MgmtRequest {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            body: &self.body,
        }
    }

    fn parse(&self) -> Result<Parsed, MgmtError> {
        parse(&self.req())
    }

    fn set_header(&mut self, name: &'static str, value: &str) {
        self.headers
            .insert(name, HeaderValue::from_str(value).unwrap());
    }
}

/// Percent-encodes the way the legacy SDK / Node SDK write the wire (space = `%20`);
/// `keep` lists extra bytes left literal (Node keeps `*`).
fn enc(s: &str, keep: &[u8]) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The three wire spellings of the SDKs (spec §2): Python Tea (`+`, via `form_urlencoded`),
/// legacy (`%20`, `%2A`), Node (`%20`, literal `*`).
type Encoder = fn(&str) -> String;

fn encodings() -> Vec<(&'static str, Encoder)> {
    vec![
        ("python-tea", |s| {
            form_urlencoded::byte_serialize(s.as_bytes()).collect()
        }),
        ("legacy", |s| enc(s, b"")),
        ("node", |s| enc(s, b"*")),
    ]
}

fn query_of(params: &[(&str, &str)], e: fn(&str) -> String) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", e(k), e(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn owned(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Asserts the `SignatureDoesNotMatch` shape: 400, exactly one `:`, then exactly `sts`.
fn assert_mismatch(err: &MgmtError, sts: &str) {
    assert_eq!(err.code, "SignatureDoesNotMatch", "{err}");
    assert_eq!(err.status, 400);
    assert_eq!(err.message.matches(':').count(), 1, "{}", err.message);
    // What the legacy Python SDK does: `Message.split(':')[1]` compared with its own string.
    assert_eq!(err.message.split(':').nth(1), Some(sts), "{}", err.message);
}

fn assert_code(result: Result<Parsed, MgmtError>, code: &str) -> MgmtError {
    let err = result.expect_err(code);
    assert_eq!(err.code, code, "{err}");
    assert_eq!(err.status, 400, "{err}");
    assert!(!err.message.is_empty());
    err
}

/// Changes one byte of the received signature (Base64 or hex).
fn flip_signature(sig: &str) -> String {
    let mut b = sig.as_bytes().to_vec();
    b[3] = if b[3] == b'a' { b'b' } else { b'a' };
    String::from_utf8(b).unwrap()
}

/// Checks a request that carries an SDK-computed signature: accepted with the spec secret;
/// a wrong secret and a one-byte change of the signature are refused with the same server
/// string-to-sign (the one the SDK signature just verified).
fn check_accepted(raw: &Raw) -> Parsed {
    let parsed = raw.parse().expect("parse");
    parsed.verify(SECRET).expect("SDK signature must verify");
    assert_mismatch(
        &parsed.verify("testsecreT").unwrap_err(),
        parsed.string_to_sign(),
    );

    let mut tampered = raw.clone();
    match parsed.scheme {
        Scheme::V3 => {
            let auth = raw.headers["authorization"].to_str().unwrap();
            let sig = parsed.signature();
            let new = auth.replace(sig, &flip_signature(sig));
            tampered.set_header("authorization", &new);
        }
        Scheme::V1 => {
            let q = raw.query.clone().unwrap();
            let (before, sig) = q.split_once("Signature=").unwrap();
            let sig = sig.split('&').next().unwrap();
            let new = q.replacen(
                &format!("{before}Signature={sig}"),
                &format!("{before}Signature={}", flip_signature(sig)),
                1,
            );
            assert_ne!(new, q);
            tampered.query = Some(new);
        }
    }
    let t = tampered.parse().unwrap();
    assert_eq!(t.string_to_sign(), parsed.string_to_sign());
    assert_mismatch(&t.verify(SECRET).unwrap_err(), parsed.string_to_sign());
    parsed
}

/// Replaces the first `from` in the query by `to` (same length: a one-byte change) and expects
/// `SignatureDoesNotMatch` with a different server string.
fn check_query_change(raw: &Raw, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let original = raw.parse().unwrap();
    let mut t = raw.clone();
    let q = raw.query.clone().unwrap();
    assert!(q.contains(from), "{from}");
    t.query = Some(q.replacen(from, to, 1));
    let parsed = t.parse().unwrap();
    assert_ne!(parsed.string_to_sign(), original.string_to_sign());
    assert_mismatch(&parsed.verify(SECRET).unwrap_err(), parsed.string_to_sign());
}

fn param<'a>(p: &'a Parsed, key: &str) -> Option<&'a str> {
    p.params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------------------------
// V1 vectors (§3.4)
// ---------------------------------------------------------------------------------------------

fn v1_a(e: fn(&str) -> String) -> Raw {
    let mut params = v1_a_params();
    params.push(("Signature", V1_A_SIGNATURE));
    Raw::new("POST", &format!("/?{}", query_of(&params, e)), &[], b"")
}

#[test]
fn v1_a_vector_every_wire_encoding() {
    for (name, e) in encodings() {
        let raw = v1_a(e);
        let parsed = raw.parse().unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(parsed.string_to_sign(), V1_A_STS, "{name}");
        assert_eq!(parsed.signature(), V1_A_SIGNATURE);
        parsed
            .verify(SECRET)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(parsed.scheme, Scheme::V1);
        assert_eq!(parsed.access_key_id, "testid");
        assert_eq!(parsed.action, "CreateApiGroup");
        assert_eq!(parsed.version, "2016-07-14");
        assert_eq!(parsed.nonce, "3f7c1d2e9a8b4c5d6e7f8091a2b3c4d5");
        assert_eq!(parsed.timestamp_ms, VECTOR_MS);
        assert_eq!(parsed.security_token, None);
        assert!(parsed.canonical_request().is_none());
        assert_eq!(
            parsed.params,
            owned(&[("GroupName", "demo_group"), ("Description", "my group")])
        );
        assert_mismatch(&parsed.verify("wrong").unwrap_err(), V1_A_STS);
    }
}

#[test]
fn v1_a_one_byte_changes() {
    let raw = v1_a(|s| enc(s, b""));
    // The signature: the server string stays the spec's.
    let q = raw.query.clone().unwrap();
    let mut t = raw.clone();
    t.query = Some(q.replace("jLKEEoumrbAPekEGX", "jLKEEoumrbAPekEGY"));
    let err = t.parse().unwrap().verify(SECRET).unwrap_err();
    assert_mismatch(&err, V1_A_STS);
    assert_eq!(
        err.message,
        format!("Specified signature does not match our calculation. Server string to sign is:{V1_A_STS}")
    );
    // Signed content.
    check_query_change(&raw, "demo_group", "demo_groUp");
    check_query_change(&raw, "my%20group", "my%20groUp");
    // The method takes part.
    let mut get = raw.clone();
    get.method = "GET".into();
    let err = get.parse().unwrap().verify(SECRET).unwrap_err();
    assert_mismatch(&err, &V1_A_STS.replacen("POST", "GET", 1));
}

#[test]
fn v1_a_parameters_in_the_form_body() {
    // Business and protocol parameters split between query and form body: one signature
    // over both (§3.2). A lower-case method is signed upper-cased.
    let params = v1_a_params();
    let (q, f) = params.split_at(5);
    let mut form = f.to_vec();
    form.push(("Signature", V1_A_SIGNATURE));
    let e = |s: &str| enc(s, b"");
    for method in ["POST", "post"] {
        let raw = Raw::new(
            method,
            &format!("/?{}", query_of(q, e)),
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            )],
            query_of(&form, e).as_bytes(),
        );
        let parsed = raw.parse().unwrap();
        assert_eq!(parsed.string_to_sign(), V1_A_STS);
        parsed.verify(SECRET).unwrap();
        assert_eq!(
            parsed.params,
            owned(&[("GroupName", "demo_group"), ("Description", "my group")])
        );
    }
    // Not a form content type: the body is ignored (AccessKeyId, in the body, is missing).
    let raw = Raw::new(
        "POST",
        &format!("/?{}", query_of(q, e)),
        &[("content-type", "application/json")],
        query_of(&form, e).as_bytes(),
    );
    assert_code(raw.parse(), "MissingAccessKeyId");
}

#[test]
fn v1_body_wins_over_query() {
    // GroupName=wrong in the query, demo_group in the body: the body value is signed and used.
    let mut params = v1_a_params();
    params.push(("Signature", V1_A_SIGNATURE));
    let e = |s: &str| enc(s, b"");
    let raw = Raw::new(
        "POST",
        &format!("/?GroupName=wrong&{}", query_of(&params[..5], e)),
        &[("content-type", "application/x-www-form-urlencoded")],
        query_of(&params[5..], e).as_bytes(),
    );
    let parsed = raw.parse().unwrap();
    assert_eq!(parsed.string_to_sign(), V1_A_STS);
    parsed.verify(SECRET).unwrap();
    assert_eq!(param(&parsed, "GroupName"), Some("demo_group"));
    assert_eq!(parsed.params.len(), 2);
}

#[test]
fn v1_b_vector_legacy_get() {
    for (name, e) in encodings() {
        let mut params = v1_b_params();
        params.push(("Signature", V1_B_SIGNATURE));
        let raw = Raw::new("GET", &format!("/?{}", query_of(&params, e)), &[], b"");
        let parsed = raw.parse().unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(parsed.string_to_sign(), V1_B_STS, "{name}");
        parsed
            .verify(SECRET)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(parsed.action, "CreateApi");
        assert_eq!(parsed.nonce, "b6a1c7e0-1f2d-4c3b-9a8e-7d6c5b4a3f21");
        assert_eq!(
            parsed.params,
            owned(&[
                ("RegionId", "cn-hangzhou"),
                ("GroupId", "abcdef0123456789abcdef0123456789"),
                ("ApiName", "get_user"),
                ("Visibility", "PRIVATE"),
                ("Description", SPECIAL),
                ("RequestConfig", REQUEST_CONFIG),
            ])
        );
        assert_mismatch(&parsed.verify("testsecret ").unwrap_err(), V1_B_STS);
    }
    // `SignatureType` without `=` is the same empty value.
    let mut params = v1_b_params();
    params.retain(|(k, _)| *k != "SignatureType");
    params.push(("Signature", V1_B_SIGNATURE));
    let raw = Raw::new(
        "GET",
        &format!("/?SignatureType&{}", query_of(&params, |s| enc(s, b""))),
        &[],
        b"",
    );
    raw.parse().unwrap().verify(SECRET).unwrap();
}

// ---------------------------------------------------------------------------------------------
// V3 vectors (§4.4)
// ---------------------------------------------------------------------------------------------

fn v3_a() -> Raw {
    Raw::new(
        "POST",
        "/?Description=my%20group&GroupName=demo_group",
        V3_A_HEADERS,
        b"",
    )
}

#[test]
fn v3_a_vector() {
    let raw = v3_a();
    let parsed = raw.parse().unwrap();
    assert_eq!(parsed.canonical_request(), Some(V3_A_CANONICAL.as_bytes()));
    assert_eq!(parsed.string_to_sign(), V3_A_STS);
    parsed.verify(SECRET).unwrap();
    assert_eq!(parsed.scheme, Scheme::V3);
    assert_eq!(parsed.access_key_id, "testid");
    assert_eq!(parsed.action, "CreateApiGroup");
    assert_eq!(parsed.version, "2016-07-14");
    assert_eq!(parsed.nonce, "3f7c1d2e9a8b4c5d6e7f8091a2b3c4d5");
    assert_eq!(parsed.timestamp_ms, VECTOR_MS);
    assert_eq!(
        parsed.params,
        owned(&[("Description", "my group"), ("GroupName", "demo_group")])
    );
    let err = parsed.verify("wrong").unwrap_err();
    assert_mismatch(&err, V3_A_STS);
    assert_eq!(
        err.message,
        format!("Specified signature does not match our calculation. Server string to sign is:{V3_A_STS}")
    );

    // The same request with `+` for the space (Python Tea wire form), the query in another
    // order, empty pieces, and an empty path.
    for target in [
        "/?Description=my+group&GroupName=demo_group",
        "/?GroupName=demo_group&&Description=my%20group",
        "?Description=my%20group&GroupName=demo%5fgroup",
    ] {
        let mut r = raw.clone();
        let (p, q) = target.split_once('?').unwrap();
        r.path = p.to_owned();
        r.query = Some(q.to_owned());
        let parsed = r.parse().unwrap();
        assert_eq!(parsed.string_to_sign(), V3_A_STS, "{target}");
        parsed.verify(SECRET).unwrap();
    }
}

#[test]
fn v3_a_one_byte_changes() {
    let raw = v3_a();
    // Signature byte: same server string.
    let mut t = raw.clone();
    t.set_header(
        "authorization",
        &V3_A_AUTHORIZATION.replace("Signature=2b7a", "Signature=2b7b"),
    );
    assert_mismatch(&t.parse().unwrap().verify(SECRET).unwrap_err(), V3_A_STS);
    // Query, signed header, path, method: another server string.
    check_query_change(&raw, "demo_group", "demo_groUp");
    for (name, value) in [
        ("x-acs-action", "CreateApiGrouq"),
        ("host", "apigateway.cn-hangzhou.aliyuncs.con"),
        ("x-acs-signature-nonce", "3f7c1d2e9a8b4c5d6e7f8091a2b3c4d6"),
    ] {
        let mut t = raw.clone();
        t.set_header(name, value);
        let parsed = t.parse().unwrap();
        assert_ne!(parsed.string_to_sign(), V3_A_STS);
        assert_mismatch(&parsed.verify(SECRET).unwrap_err(), parsed.string_to_sign());
    }
    let mut t = raw.clone();
    t.path = "/x".into();
    assert_ne!(t.parse().unwrap().string_to_sign(), V3_A_STS);
    // A header that is not signed may change freely.
    let mut t = raw.clone();
    t.set_header("user-agent", "anything");
    t.parse().unwrap().verify(SECRET).unwrap();
    // A body added to a request that promised an empty one (content-type signed so that the
    // hash check is what fails).
    let mut t = raw.clone();
    t.body = b"x".to_vec();
    t.set_header("content-type", "text/plain");
    t.set_header(
        "authorization",
        &V3_A_AUTHORIZATION.replace("SignedHeaders=host", "SignedHeaders=content-type;host"),
    );
    let err = t.parse().unwrap().verify(SECRET).unwrap_err();
    assert_eq!(err.code, "SignatureDoesNotMatch");
    assert!(
        err.message.contains("x-acs-content-sha256"),
        "{}",
        err.message
    );
    assert_eq!(err.message.matches(':').count(), 1);
}

fn v3_b(e: fn(&str) -> String) -> Raw {
    let headers = v3_b_headers();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    Raw::new(
        "POST",
        &format!("/?{}", query_of(&v3_b_query(), e)),
        &headers,
        V3_B_BODY.as_bytes(),
    )
}

#[test]
fn v3_b_vector_every_wire_encoding() {
    for (name, e) in encodings() {
        let raw = v3_b(e);
        let parsed = raw.parse().unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(
            parsed.canonical_request(),
            Some(V3_B_CANONICAL.as_bytes()),
            "{name}"
        );
        assert_eq!(parsed.string_to_sign(), V3_B_STS);
        parsed
            .verify(SECRET)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(parsed.action, "CreateApi");
        let mut expected = owned(&v3_b_query());
        expected.push((
            "RequestParameters".into(),
            r#"[{"ApiParameterName":"userId","Location":"PATH","ParameterType":"String","Required":"REQUIRED"}]"#.into(),
        ));
        expected.push(("ResultSample".into(), r#"{"id":1}"#.into()));
        assert_eq!(parsed.params, expected);
        assert_mismatch(&parsed.verify("x").unwrap_err(), V3_B_STS);
    }
}

#[test]
fn v3_b_body_byte_change() {
    let mut raw = v3_b(|s| enc(s, b""));
    let at = raw.body.len() - 4;
    raw.body[at] = b'2'; // ResultSample {"id":2}
    let parsed = raw.parse().unwrap();
    assert_eq!(param(&parsed, "ResultSample"), Some(r#"{"id":2}"#));
    let err = parsed.verify(SECRET).unwrap_err();
    assert_eq!(err.code, "SignatureDoesNotMatch");
    assert!(err.message.contains("x-acs-content-sha256"));
    // The string-to-sign echoed is built over the received body's hash.
    assert_mismatch(&err, parsed.string_to_sign());
    assert_ne!(parsed.string_to_sign(), V3_B_STS);
}

// ---------------------------------------------------------------------------------------------
// Appendix A captures
// ---------------------------------------------------------------------------------------------

#[test]
fn capture_python_tea_v3_create_api_group() {
    let raw = Raw::capture(CAPTURE_TEA_V3_CREATE_API_GROUP);
    let parsed = check_accepted(&raw);
    assert_eq!(parsed.scheme, Scheme::V3);
    assert_eq!(parsed.access_key_id, "testid");
    assert_eq!(parsed.action, "CreateApiGroup");
    assert_eq!(parsed.nonce, "afc372711682c4f878efd79f2fd3720b");
    assert_eq!(parsed.timestamp_ms, 1_795_416_197_000);
    assert_eq!(
        format_timestamp(parsed.timestamp_ms / 1000),
        "2026-11-23T06:43:17Z"
    );
    assert_eq!(
        parsed.params,
        owned(&[
            ("Description", "my group"),
            ("GroupName", "demo_group"),
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "dev"),
        ])
    );
    check_query_change(&raw, "Tag.1.Value=dev", "Tag.1.Value=deV");
    // Signed headers of the Python SDK include accept and user-agent.
    let mut t = raw.clone();
    t.set_header(
        "user-agent",
        "AlibabaCloud (Linux; x86_64) Python/3.11.8 Core/0.4.3 TeaDSL/2",
    );
    assert_mismatch(
        &t.parse().unwrap().verify(SECRET).unwrap_err(),
        t.parse().unwrap().string_to_sign(),
    );
}

#[test]
fn capture_python_tea_v3_create_api() {
    let raw = Raw::capture(CAPTURE_TEA_V3_CREATE_API);
    assert_eq!(raw.body.len(), 507);
    let parsed = check_accepted(&raw);
    assert_eq!(parsed.action, "CreateApi");
    assert_eq!(param(&parsed, "Description"), Some(SPECIAL));
    assert_eq!(
        param(&parsed, "ServiceParametersMap"),
        Some(r#"[{"ServiceParameterName": "userId", "RequestParameterName": "userId"}]"#)
    );
    assert_eq!(parsed.params.len(), 12);
    // One byte of the body.
    let mut t = raw.clone();
    let at = t.body.len() - 3;
    t.body[at] = b'X';
    let p = t.parse().unwrap();
    let err = p.verify(SECRET).unwrap_err();
    assert!(err.message.contains("x-acs-content-sha256"));
    assert_mismatch(&err, p.string_to_sign());
    check_query_change(&raw, "ResultType=JSON", "ResultType=JSOM");
}

#[test]
fn capture_python_tea_v1_create_api_group() {
    let raw = Raw::capture(CAPTURE_TEA_V1_CREATE_API_GROUP);
    let parsed = check_accepted(&raw);
    assert_eq!(parsed.scheme, Scheme::V1);
    assert!(parsed
        .string_to_sign()
        .starts_with("POST&%2F&AccessKeyId%3Dtestid%26"));
    assert_eq!(parsed.action, "CreateApiGroup");
    assert_eq!(parsed.nonce, "1b7e677c2d3d7a3448298d5b121cc8da");
    assert_eq!(
        format_timestamp(parsed.timestamp_ms / 1000),
        "2026-11-23T06:35:07Z"
    );
    assert_eq!(
        parsed.params,
        owned(&[
            ("Description", "my group"),
            ("GroupName", "demo_group"),
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "dev"),
        ])
    );
    check_query_change(&raw, "Tag.1.Key=env", "Tag.1.Key=enw");
    // The x-acs-action header is not signed in V1; the Action parameter is what counts.
    let mut t = raw.clone();
    t.set_header("x-acs-action", "DeleteApiGroup");
    assert_eq!(t.parse().unwrap().action, "CreateApiGroup");
}

#[test]
fn capture_legacy_v1_get_create_api_group() {
    let raw = Raw::capture(CAPTURE_LEGACY_V1_CREATE_API_GROUP);
    let parsed = check_accepted(&raw);
    assert_eq!(parsed.scheme, Scheme::V1);
    assert!(parsed.string_to_sign().starts_with("GET&%2F&"));
    assert!(parsed.string_to_sign().contains("%26SignatureType%3D%26"));
    assert_eq!(parsed.nonce, "13e12f97afda528baa438a6e3477f204");
    assert_eq!(
        format_timestamp(parsed.timestamp_ms / 1000),
        "2026-11-23T06:35:18Z"
    );
    assert_eq!(
        parsed.params,
        owned(&[
            ("GroupName", "demo_group"),
            ("Description", "my group"),
            ("RegionId", "cn-hangzhou"),
        ])
    );
    check_query_change(&raw, "RegionId=cn-hangzhou", "RegionId=cn-hangzhoU");
    check_query_change(&raw, "SignatureType=", "SignatureTypE=");
}

#[test]
fn capture_node_tea_v3_abridged_parses() {
    // Abridged in the spec (`RequestConfig=...`, truncated signature): parsing, decoding of the
    // Node wire form and the body hash (computed by the Node SDK) can still be checked.
    let raw = Raw::capture(CAPTURE_NODE_V3_CREATE_API_ABRIDGED);
    let parsed = raw.parse().unwrap();
    assert_eq!(parsed.scheme, Scheme::V3);
    assert_eq!(parsed.action, "CreateApi");
    assert_eq!(
        parsed.nonce,
        "ee8ffe4e1a0b228207206c8bc42cda96f0251ab22420b476bf0a98cfb98cde53"
    );
    assert_eq!(param(&parsed, "Description"), Some(SPECIAL));
    assert_eq!(param(&parsed, "ForceNonceCheck"), Some("true"));
    assert_eq!(param(&parsed, "RequestParameters"), Some("[]"));
    // The body hash matches, so the failure is the plain signature mismatch.
    let err = parsed.verify(SECRET).unwrap_err();
    assert!(
        !err.message.contains("x-acs-content-sha256"),
        "{}",
        err.message
    );
    assert_mismatch(&err, parsed.string_to_sign());
}

// ---------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------

fn header<'a>(call: &'a SignedCall, name: &str) -> Option<&'a str> {
    call.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn sign_v3_reproduces_vector_v3_a() {
    let call = mgmt::sign_v3(
        "testid",
        SECRET,
        "apigateway.cn-hangzhou.aliyuncs.com",
        "CreateApiGroup",
        "2016-07-14",
        &owned(&[("GroupName", "demo_group"), ("Description", "my group")]),
        "2024-05-01T12:00:00Z",
        "3f7c1d2e9a8b4c5d6e7f8091a2b3c4d5",
    );
    assert_eq!(call.method, "POST");
    assert_eq!(
        call.path_and_query,
        "/?Description=my%20group&GroupName=demo_group"
    );
    assert_eq!(header(&call, "authorization"), Some(V3_A_AUTHORIZATION));
    assert_eq!(call.string_to_sign, V3_A_STS);
    assert!(call.body.is_empty());
    for (n, v) in V3_A_HEADERS {
        assert_eq!(header(&call, n), Some(*v), "{n}");
    }
    let parsed = Raw::from_call(&call).parse().unwrap();
    parsed.verify(SECRET).unwrap();
}

#[test]
fn sign_v3_form_reproduces_vector_v3_b() {
    let form = owned(&[
        (
            "RequestParameters",
            r#"[{"ApiParameterName":"userId","Location":"PATH","ParameterType":"String","Required":"REQUIRED"}]"#,
        ),
        ("ResultSample", r#"{"id":1}"#),
    ]);
    let call = mgmt::sign_v3_form(
        "testid",
        SECRET,
        "apigateway.cn-hangzhou.aliyuncs.com",
        "CreateApi",
        "2016-07-14",
        &owned(&v3_b_query()),
        &form,
        "2024-05-01T12:00:00Z",
        "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
    );
    assert_eq!(call.body, V3_B_BODY.as_bytes());
    assert_eq!(call.string_to_sign, V3_B_STS);
    assert_eq!(
        header(&call, "authorization"),
        Some(v3_b_authorization().as_str())
    );
    for (n, v) in v3_b_headers() {
        assert_eq!(header(&call, n), Some(v.as_str()), "{n}");
    }
    let parsed = Raw::from_call(&call).parse().unwrap();
    assert_eq!(parsed.canonical_request(), Some(V3_B_CANONICAL.as_bytes()));
    parsed.verify(SECRET).unwrap();
}

#[test]
fn sign_v1_reproduces_vector_v1_a() {
    let call = mgmt::sign_v1(
        "testid",
        SECRET,
        "apigateway.cn-hangzhou.aliyuncs.com",
        "CreateApiGroup",
        "2016-07-14",
        &owned(&[("GroupName", "demo_group"), ("Description", "my group")]),
        "2024-05-01T12:00:00Z",
        "3f7c1d2e9a8b4c5d6e7f8091a2b3c4d5",
    );
    assert_eq!(call.method, "POST");
    assert_eq!(call.string_to_sign, V1_A_STS);
    assert!(call
        .path_and_query
        .ends_with("&Signature=jLKEEoumrbAPekEGX%2B4ifGmU2P4%3D"));
    assert_eq!(header(&call, "x-acs-action"), Some("CreateApiGroup"));
    let parsed = Raw::from_call(&call).parse().unwrap();
    assert_eq!(parsed.scheme, Scheme::V1);
    assert_eq!(parsed.string_to_sign(), V1_A_STS);
    parsed.verify(SECRET).unwrap();
    assert_eq!(
        parsed.params,
        owned(&[("GroupName", "demo_group"), ("Description", "my group")])
    );
}

#[test]
fn signers_round_trip_and_drop_protocol_keys() {
    let params = owned(&[
        ("Tag.1.Key", "k é*~ +&="),
        ("Action", "Evil"),
        ("RegionId", "cn-hangzhou"),
        ("Empty", ""),
    ]);
    let v1 = mgmt::sign_v1(
        "ak",
        "s",
        "h:1",
        "A",
        "2016-07-14",
        &params,
        "2024-05-01T12:00:00Z",
        "n",
    );
    let p = Raw::from_call(&v1).parse().unwrap();
    p.verify("s").unwrap();
    assert_eq!(p.action, "A");
    assert_eq!(
        p.params,
        owned(&[
            ("Tag.1.Key", "k é*~ +&="),
            ("RegionId", "cn-hangzhou"),
            ("Empty", "")
        ])
    );
    let v3 = mgmt::sign_v3(
        "ak",
        "s",
        "h:1",
        "A",
        "2016-07-14",
        &params,
        "2024-05-01T12:00:00Z",
        "n",
    );
    let p = Raw::from_call(&v3).parse().unwrap();
    p.verify("s").unwrap();
    assert_eq!(p.action, "A");
    // Sorted by key in the query; `Action` in the query is no business parameter.
    assert_eq!(
        p.params,
        owned(&[
            ("Empty", ""),
            ("RegionId", "cn-hangzhou"),
            ("Tag.1.Key", "k é*~ +&=")
        ])
    );
    let none = mgmt::sign_v3("ak", "s", "h", "A", "V", &[], "2024-05-01T12:00:00Z", "n");
    assert_eq!(none.path_and_query, "/");
    Raw::from_call(&none).parse().unwrap().verify("s").unwrap();
}

// ---------------------------------------------------------------------------------------------
// Parse errors (management-errors.md §4)
// ---------------------------------------------------------------------------------------------

fn v1_without(key: &str) -> Raw {
    let mut params = v1_a_params();
    params.push(("Signature", V1_A_SIGNATURE));
    params.retain(|(k, _)| *k != key);
    Raw::new(
        "POST",
        &format!("/?{}", query_of(&params, |s| enc(s, b""))),
        &[],
        b"",
    )
}

fn v1_with(key: &str, value: &str) -> Raw {
    let mut params = v1_a_params();
    params.push(("Signature", V1_A_SIGNATURE));
    for p in params.iter_mut().filter(|(k, _)| *k == key) {
        p.1 = value;
    }
    let q = params
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v, b"")))
        .collect::<Vec<_>>()
        .join("&");
    Raw::new("POST", &format!("/?{q}"), &[], b"")
}

#[test]
fn v1_missing_parameters() {
    for (key, code) in [
        ("AccessKeyId", "MissingAccessKeyId"),
        ("Signature", "MissingSignature"),
        ("SignatureNonce", "MissingSignatureNonce"),
        ("Timestamp", "MissingTimestamp"),
        ("SignatureMethod", "MissingSignatureMethod"),
        ("SignatureVersion", "MissingSignatureVersion"),
        ("Action", "MissingAction"),
        ("Version", "MissingVersion"),
    ] {
        let err = assert_code(v1_without(key).parse(), code);
        assert!(err.message.contains(key), "{}", err.message);
        assert_code(v1_with(key, "").parse(), code);
    }
    // Format is not required.
    v1_without("Format").parse().unwrap();
    // Nothing at all.
    assert_code(Raw::new("GET", "/", &[], b"").parse(), "MissingAccessKeyId");
    assert_code(
        Raw::new("POST", "/?a=b", &[], b"").parse(),
        "MissingAccessKeyId",
    );
}

#[test]
fn v1_unsupported_method_and_version() {
    for m in ["HMAC-SHA256", "hmac-sha1", "HmacSHA1", "MD5"] {
        assert_code(
            v1_with("SignatureMethod", m).parse(),
            "UnsupportedSignatureMethod",
        );
    }
    for v in ["2.0", "1", "1.0 "] {
        assert_code(
            v1_with("SignatureVersion", v).parse(),
            "InvalidSignatureVersion",
        );
    }
}

#[test]
fn v1_timestamp_format() {
    for ts in [
        "2024-05-01 12:00:00",
        "2024-05-01T12:00:00",
        "2024-05-01T12:00:00+08:00",
        "1714564800",
        "2024-02-30T00:00:00Z",
        "yesterday",
    ] {
        let err = assert_code(v1_with("Timestamp", ts).parse(), "InvalidTimeStamp.Format");
        assert!(err.message.contains("Timestamp"));
    }
    // Fractions of a second are accepted.
    let p = v1_with("Timestamp", "2024-05-01T12:00:00.250Z")
        .parse()
        .unwrap();
    assert_eq!(p.timestamp_ms, VECTOR_MS + 250);
}

#[test]
fn bearer_token_and_other_authorizations() {
    let raw = Raw::new(
        "POST",
        "/?SignatureType=BEARERTOKEN&BearerToken=t",
        &[],
        b"",
    );
    assert_code(raw.parse(), "InvalidAuthorization");
    let raw = Raw::new("POST", "/", &[("x-acs-bearer-token", "t")], b"");
    assert_code(raw.parse(), "InvalidAuthorization");
    for auth in ["acs testid:abc=", "Basic dGVzdA==", "Bearer x"] {
        let raw = Raw::new("POST", "/", &[("authorization", auth)], b"");
        assert_code(raw.parse(), "UnsupportedSignatureMethod");
    }
    // A V1 request behind a proxy that adds Basic credentials is still V1.
    let mut raw = v1_a(|s| enc(s, b""));
    raw.set_header("authorization", "Basic dGVzdA==");
    raw.parse().unwrap().verify(SECRET).unwrap();
    // An ACS3 Authorization header takes precedence over a Signature parameter.
    let mut raw = v3_a();
    raw.query = Some(format!("{}&Signature=abc", raw.query.unwrap()));
    assert_eq!(raw.parse().unwrap().scheme, Scheme::V3);
}

fn v3_a_with_auth(auth: &str) -> Raw {
    let mut raw = v3_a();
    raw.set_header("authorization", auth);
    raw
}

#[test]
fn v3_malformed_authorization() {
    let sh =
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version";
    for auth in [
        "ACS3-HMAC-SHA256".to_owned(),
        "ACS3-HMAC-SHA256 ".to_owned(),
        format!("ACS3-HMAC-SHA256 SignedHeaders={sh},Signature=ab"),
        "ACS3-HMAC-SHA256 Credential=testid,Signature=ab".to_owned(),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={sh}"),
        format!("ACS3-HMAC-SHA256 Credential=,SignedHeaders={sh},Signature=ab"),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={sh},Signature="),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={sh},Signature=ab,Extra=1"),
        format!("ACS3-HMAC-SHA256 Credential=testid,Credential=x,SignedHeaders={sh},Signature=ab"),
        format!("ACS3-HMAC-SHA256 Credential=testid;SignedHeaders={sh};Signature=ab"),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders={sh};,Signature=ab"),
        format!("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=;{sh},Signature=ab"),
        format!("ACS3-HMAC-SHA256 Credential=testid,,SignedHeaders={sh},Signature=ab"),
    ] {
        assert_code(v3_a_with_auth(&auth).parse(), "IncompleteSignature");
    }
    // Spaces around members are tolerated.
    let spaced = V3_A_AUTHORIZATION.replace(",", " , ");
    v3_a_with_auth(&spaced)
        .parse()
        .unwrap()
        .verify(SECRET)
        .unwrap();
    // Non-UTF-8.
    let mut raw = v3_a();
    raw.headers.insert(
        "authorization",
        HeaderValue::from_bytes(b"ACS3-HMAC-SHA256 Credential=\xff").unwrap(),
    );
    assert_code(raw.parse(), "IncompleteSignature");
}

#[test]
fn v3_unsupported_algorithm() {
    for alg in [
        "ACS3-HMAC-SM3",
        "ACS3-RSA-SHA256",
        "ACS3-HMAC-SHA1",
        "ACS3-",
    ] {
        let auth = V3_A_AUTHORIZATION.replacen("ACS3-HMAC-SHA256", alg, 1);
        assert_code(v3_a_with_auth(&auth).parse(), "UnsupportedSignatureMethod");
    }
}

#[test]
fn v3_missing_headers() {
    for (name, code) in [
        ("x-acs-action", "MissingAction"),
        ("x-acs-version", "MissingVersion"),
        ("x-acs-date", "MissingTimestamp"),
        ("x-acs-signature-nonce", "MissingSignatureNonce"),
        ("x-acs-content-sha256", "IncompleteSignature"),
    ] {
        let mut raw = v3_a();
        raw.headers.remove(name);
        let err = assert_code(raw.parse(), code);
        assert!(err.message.contains(name), "{}", err.message);
        let mut raw = v3_a();
        raw.set_header(name, " ");
        assert_code(raw.parse(), code);
    }
}

#[test]
fn v3_required_headers_must_be_signed() {
    for name in [
        "host",
        "x-acs-action",
        "x-acs-version",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    ] {
        let auth = V3_A_AUTHORIZATION
            .replace(&format!("={name};"), "=")
            .replace(&format!(";{name};"), ";")
            .replace(&format!(";{name},"), ",");
        assert_ne!(auth, V3_A_AUTHORIZATION);
        let err = assert_code(v3_a_with_auth(&auth).parse(), "IncompleteSignature");
        assert!(err.message.contains(name), "{}", err.message);
    }
    // A security token must be signed when present.
    let mut raw = v3_a();
    raw.set_header("x-acs-security-token", "tok");
    assert_code(raw.parse(), "IncompleteSignature");
    // A body needs a signed content-type.
    let mut raw = v3_b(|s| enc(s, b""));
    let auth = v3_b_authorization().replace("SignedHeaders=content-type;", "SignedHeaders=");
    raw.set_header("authorization", &auth);
    assert_code(raw.parse(), "IncompleteSignature");
    // Signed header names are matched ignoring case.
    let upper = V3_A_AUTHORIZATION.replace("x-acs-date", "X-Acs-Date");
    let p = v3_a_with_auth(&upper).parse().unwrap();
    assert_ne!(p.string_to_sign(), V3_A_STS); // spelled as sent, so another string
    let cr = String::from_utf8(p.canonical_request().unwrap().to_vec()).unwrap();
    assert!(cr.contains("\nX-Acs-Date:2024-05-01T12:00:00Z\n"), "{cr}");
}

#[test]
fn v3_timestamp_format() {
    for date in [
        "2024-05-01T12:00:00",
        "Wed, 01 May 2024 12:00:00 GMT",
        "1714564800000",
    ] {
        let mut raw = v3_a();
        raw.set_header("x-acs-date", date);
        let err = assert_code(raw.parse(), "InvalidTimeStamp.Format");
        assert!(err.message.contains("x-acs-date"));
    }
}

#[test]
fn v3_security_token_is_reported() {
    let mut raw = v3_a();
    raw.set_header("x-acs-security-token", "a/b+c=");
    let auth = V3_A_AUTHORIZATION.replace(
        "x-acs-date;x-acs-signature-nonce;x-acs-version",
        "x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version",
    );
    raw.set_header("authorization", &auth);
    let p = raw.parse().unwrap();
    assert_eq!(p.security_token.as_deref(), Some("a/b+c="));
    assert!(p
        .canonical_request()
        .unwrap()
        .windows(28)
        .any(|w| w == b"x-acs-security-token:a/b+c=\n"));
    // V1: the SecurityToken parameter is signed, reported and stays a business parameter.
    let raw = v1_with("Format", "json");
    let mut raw2 = raw.clone();
    raw2.query = Some(format!("{}&SecurityToken=tok", raw.query.unwrap()));
    let p = raw2.parse().unwrap();
    assert_eq!(p.security_token.as_deref(), Some("tok"));
    assert_eq!(param(&p, "SecurityToken"), Some("tok"));
    assert!(p.verify(SECRET).is_err());
}

#[test]
fn repeated_signed_header_values_are_sorted_and_joined() {
    // §4.2: several headers with the same name → trimmed values, sorted, joined by ",".
    let mut raw = v3_a();
    let auth = V3_A_AUTHORIZATION.replace("SignedHeaders=host;", "SignedHeaders=host;x-acs-foo;");
    raw.set_header("authorization", &auth);
    raw.headers
        .append("x-acs-foo", HeaderValue::from_static(" b "));
    raw.headers
        .append("x-acs-foo", HeaderValue::from_static("a"));
    let p = raw.parse().unwrap();
    let cr = String::from_utf8(p.canonical_request().unwrap().to_vec()).unwrap();
    assert!(cr.contains("\nx-acs-foo:a,b\n"), "{cr}");
}

// ---------------------------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------------------------

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                proptest::sample::select(b"%+=&;,: aA0.-_~\xc3\xa9\xff".to_vec()),
                any::<u8>(),
            ],
            0..48,
        )
    }

    fn header_value() -> impl Strategy<Value = Vec<u8>> {
        bytes().prop_map(|b| b.into_iter().filter(|&c| c >= 0x20 && c != 0x7f).collect())
    }

    proptest! {
        #[test]
        fn parse_and_verify(
            method in "[A-Za-z:]{0,6}",
            path in "[ -~]{0,12}",
            query in proptest::option::of(bytes()),
            body in bytes(),
            form in any::<bool>(),
            auth in proptest::option::of(header_value()),
            acs3 in any::<bool>(),
            signed in "[a-z;A-Z -]{0,40}",
            extra in proptest::collection::vec(("x-acs-[a-z-]{1,20}|host|content-type", header_value()), 0..6),
        ) {
            let query = query.map(|q| String::from_utf8_lossy(&q).into_owned());
            let mut headers = HeaderMap::new();
            if form {
                headers.insert("content-type", HeaderValue::from_static("application/x-www-form-urlencoded; charset=latin1"));
            }
            if let Some(a) = auth {
                let mut v = if acs3 { format!("ACS3-HMAC-SHA256 Credential=k,SignedHeaders={signed},Signature=").into_bytes() } else { Vec::new() };
                v.extend(a);
                if let Ok(v) = HeaderValue::from_bytes(&v) {
                    headers.insert("authorization", v);
                }
            }
            for (n, v) in extra {
                if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n.as_bytes()), HeaderValue::from_bytes(&v)) {
                    headers.append(n, v);
                }
            }
            let req = MgmtRequest { method: &method, path: &path, query: query.as_deref(), headers: &headers, body: &body };
            match parse(&req) {
                Ok(p) => {
                    if let Err(e) = p.verify("secret") {
                        prop_assert_eq!(e.code, "SignatureDoesNotMatch");
                        prop_assert_eq!(e.message.matches(':').count(), 1);
                        let sts = p.string_to_sign().replace(':', "%3A");
                        prop_assert_eq!(e.message.split(':').nth(1), Some(sts.as_str()));
                    }
                }
                Err(e) => prop_assert_eq!(e.status, 400),
            }
        }

        #[test]
        fn mutated_spec_requests(
            which in 0usize..4,
            target in 0usize..3,
            at in any::<prop::sample::Index>(),
            junk in header_value(),
        ) {
            let mut raw = match which {
                0 => v3_a(),
                1 => v3_b(|s| enc(s, b"")),
                2 => v1_a(|s| enc(s, b"")),
                _ => Raw::capture(CAPTURE_TEA_V3_CREATE_API),
            };
            match target {
                0 => {
                    let mut names: Vec<HeaderName> = raw.headers.keys().cloned().collect();
                    names.push(HeaderName::from_static("authorization"));
                    let name = at.get(&names).clone();
                    raw.headers.insert(name, HeaderValue::from_bytes(&junk).unwrap());
                }
                1 => {
                    let mut q = raw.query.clone().unwrap_or_default().into_bytes();
                    let i = at.index(q.len() + 1);
                    q.splice(i..i, junk);
                    raw.query = Some(String::from_utf8_lossy(&q).into_owned());
                }
                _ => {
                    let i = at.index(raw.body.len() + 1);
                    raw.body.splice(i..i, junk);
                }
            }
            if let Ok(p) = raw.parse() {
                let _ = p.verify(SECRET);
            }
        }

        #[test]
        fn signers_round_trip(
            params in proptest::collection::vec(("[A-Za-z0-9.]{1,8}", any::<String>()), 0..6),
            form in proptest::collection::vec(("[A-Za-z0-9.]{1,8}", any::<String>()), 0..3),
            ak in "[A-Za-z0-9.]{1,12}",
            secret in any::<String>(),
            host in any::<String>(),
            action in "[A-Za-z]{1,12}",
            nonce in "[0-9a-f]{1,64}",
            t in 0i64..253_402_300_799,
        ) {
            let now = format_timestamp(t);
            let calls = [
                mgmt::sign_v1(&ak, &secret, &host, &action, "2016-07-14", &params, &now, &nonce),
                mgmt::sign_v3(&ak, &secret, &host, &action, "2016-07-14", &params, &now, &nonce),
                mgmt::sign_v3_form(&ak, &secret, &host, &action, "2016-07-14", &params, &form, &now, &nonce),
            ];
            for call in &calls {
                let raw = Raw::from_call(call);
                let p = raw.parse().unwrap();
                prop_assert_eq!(&p.access_key_id, &ak);
                prop_assert_eq!(&p.action, &action);
                prop_assert_eq!(&p.nonce, &nonce);
                prop_assert_eq!(p.timestamp_ms, t * 1000);
                prop_assert_eq!(p.string_to_sign(), call.string_to_sign.as_str());
                prop_assert!(p.verify(&secret).is_ok());
            }
        }
    }
}
