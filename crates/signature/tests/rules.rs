//! Cases beyond the spec vectors. Every expected StringToSign here was derived by hand from the
//! rules of spec/signature.md §3/§4; the expected signatures are computed in this file with
//! `hmac`/`sha2`/`sha1` directly (no crate code), so the tests check the crate's string building
//! against the rules rather than against itself.

use apigw_signature::{
    sign, string_to_sign, verify, verify_detailed, Algorithm, Candidate, ClientSigner,
    SignedRequest,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};

const SECRET: &str = "s3cr3t-XYZ";

fn hmac256(secret: &str, text: &[u8]) -> String {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(text);
    STANDARD.encode(m.finalize().into_bytes())
}

fn hmac1(secret: &str, text: &[u8]) -> String {
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(text);
    STANDARD.encode(m.finalize().into_bytes())
}

fn headers(list: &[(&str, &[u8])]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in list {
        h.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    h
}

fn get(method: &str, path: &str, query: Option<&'static str>, h: &HeaderMap) -> String {
    let req = SignedRequest {
        method,
        path,
        query,
        headers: h,
        form: None,
    };
    String::from_utf8(string_to_sign(&req)).unwrap()
}

/// Asserts the crate builds `expected` and accepts a signature computed independently over it
/// (with the primary candidate), and that the mismatch message echoes it.
fn assert_primary(req: &SignedRequest, expected: &str) {
    assert_eq!(String::from_utf8(string_to_sign(req)).unwrap(), expected);
    let sig = hmac256(SECRET, expected.as_bytes());
    let v = verify_detailed(req, Algorithm::HmacSha256, &[SECRET.as_bytes()], &sig).unwrap();
    assert_eq!(v.candidate, Candidate::Primary);
    let err = verify(req, Algorithm::HmacSha256, &[b"other"], &sig).unwrap_err();
    assert_eq!(err.server_string_to_sign(), expected.replace('\n', "#"));
}

/// Asserts a signature over the hand-built `fallback` string is accepted only through
/// `candidate`, and that a failure still reports `primary`.
fn assert_fallback(req: &SignedRequest, primary: &str, fallback: &str, candidate: Candidate) {
    assert_ne!(primary, fallback);
    let sig = hmac256(SECRET, fallback.as_bytes());
    let v = verify_detailed(req, Algorithm::HmacSha256, &[SECRET.as_bytes()], &sig).unwrap();
    assert_eq!(v.candidate, candidate);
    let err = verify(req, Algorithm::HmacSha256, &[b"other"], &sig).unwrap_err();
    assert_eq!(err.server_string_to_sign(), primary.replace('\n', "#"));
}

const MIXED_EXPECTED: &str = "POST\n*/*\n\napplication/x-www-form-urlencoded; charset=UTF-8\n\n\
X-Absent:\n\
X-CA-KEY:key1\n\
X-Custom-Thing:Hello World\n\
x-Ca-Nonce:n-1\n\
x-ca-timestamp:1700000000123\n\
x-empty:\n\
/api/v2/things?a=form&b=2&bare&e&f=&=&flag&raw=été&sp=a b c&u=✓&zh=你好";

fn mixed_headers() -> HeaderMap {
    headers(&[
        ("accept", b"*/*"),
        (
            "content-type",
            b"application/x-www-form-urlencoded; charset=UTF-8",
        ),
        ("x-ca-key", b"key1"),
        ("x-ca-nonce", b"n-1"),
        ("x-ca-timestamp", b"1700000000123"),
        ("x-empty", b""),
        ("x-custom-thing", b"Hello World"),
        ("x-unsigned", b"not in the list"),
        (
            "x-ca-signature-headers",
            b" X-CA-KEY, x-Ca-Nonce ,X-Custom-Thing,,x-empty,X-Absent,x-ca-timestamp,X-CA-KEY,X-Ca-Signature,x-ca-signature-headers",
        ),
        ("x-ca-signature", b"ignored"),
    ])
}

/// Names in any letter case, emitted as listed, sorted ordinally (upper case first), trimmed,
/// de-duplicated, signature headers dropped; empty header → `x-empty:`, absent → `X-Absent:`;
/// lower-case method upper-cased; query + form, repeated keys, bare keys, `+`, UTF-8, percent
/// escapes of `&`/`=`; form value wins.
#[test]
fn mixed_case_names_empty_absent_form_query() {
    let h = mixed_headers();
    let req = SignedRequest {
        method: "post",
        path: "/api/v2/things",
        query: Some("b=2&a=1&a=9&flag&e=&sp=a+b%20c&zh=%E4%BD%A0%E5%A5%BD&raw=%C3%A9t%C3%A9"),
        headers: &h,
        form: Some(b"f=%26%3D&a=form&u=%E2%9C%93&bare"),
    };
    assert_primary(&req, MIXED_EXPECTED);

    // F1: the query's first value of `a` wins.
    let f1 = MIXED_EXPECTED.replace("?a=form&", "?a=1&");
    assert_fallback(&req, MIXED_EXPECTED, &f1, Candidate::QueryWins);
    // F2 does not apply: the winning source (form) has one `a`; a query-joined "1,9" is refused.
    let f2_wrong = MIXED_EXPECTED.replace("?a=form&", "?a=1,9&");
    let sig = hmac256(SECRET, f2_wrong.as_bytes());
    assert!(verify(&req, Algorithm::HmacSha256, &[SECRET.as_bytes()], &sig).is_err());
}

/// F2: Node joins repeated values with `,` (empty values included).
#[test]
fn f2_comma_join_repeated_keys() {
    let h = headers(&[("x-ca-key", b"k"), ("x-ca-signature-headers", b"x-ca-key")]);
    let req = SignedRequest {
        method: "GET",
        path: "/r",
        query: Some("a=1&t=&x=%E4%B8%80&a=2&t=&a=3"),
        headers: &h,
        form: None,
    };
    let primary = "GET\n\n\n\n\nx-ca-key:k\n/r?a=1&t&x=一";
    assert_primary(&req, primary);
    assert_fallback(
        &req,
        primary,
        "GET\n\n\n\n\nx-ca-key:k\n/r?a=1,2,3&t=,&x=一",
        Candidate::CommaJoin,
    );

    // Repeats inside a form body, key also in the query: form wins, its values are joined.
    let hf = headers(&[
        ("content-type", b"application/x-www-form-urlencoded"),
        ("x-ca-key", b"k"),
        ("x-ca-signature-headers", b"x-ca-key"),
    ]);
    let req = SignedRequest {
        method: "POST",
        path: "/r",
        query: Some("c=q"),
        headers: &hf,
        form: Some(b"c=f1&c=f2"),
    };
    let primary = "POST\n\n\napplication/x-www-form-urlencoded\n\nx-ca-key:k\n/r?c=f1";
    assert_primary(&req, primary);
    assert_fallback(
        &req,
        primary,
        "POST\n\n\napplication/x-www-form-urlencoded\n\nx-ca-key:k\n/r?c=f1,f2",
        Candidate::CommaJoin,
    );
    assert_fallback(
        &req,
        primary,
        "POST\n\n\napplication/x-www-form-urlencoded\n\nx-ca-key:k\n/r?c=q",
        Candidate::QueryWins,
    );
}

/// F4: a fixed header listed in X-Ca-Signature-Headers (Node `signHeaders: {accept}`).
#[test]
fn f4_fixed_header_listed() {
    let h = headers(&[
        ("accept", b"application/json"),
        ("content-type", b"text/plain"),
        ("x-ca-key", b"k"),
        ("x-ca-signature-headers", b"accept,Content-Type,x-ca-key"),
    ]);
    let req = SignedRequest {
        method: "GET",
        path: "/p",
        query: None,
        headers: &h,
        form: None,
    };
    let primary = "GET\napplication/json\n\ntext/plain\n\nx-ca-key:k\n/p";
    assert_primary(&req, primary);
    assert_fallback(
        &req,
        primary,
        "GET\napplication/json\n\ntext/plain\n\nContent-Type:text/plain\naccept:application/json\nx-ca-key:k\n/p",
        Candidate::KeepFixedNames,
    );
}

/// F3: lower-case `%2f` / `%5c` kept, `+` kept, other escapes decoded.
#[test]
fn f3_decoded_path_keeps_slash_escapes() {
    let h = headers(&[("x-ca-key", b"k"), ("x-ca-signature-headers", b"x-ca-key")]);
    let req = SignedRequest {
        method: "GET",
        path: "/d/%e4%bd%a0/x%2fy%5cz+1%20",
        query: Some("q=1"),
        headers: &h,
        form: None,
    };
    let primary = "GET\n\n\n\n\nx-ca-key:k\n/d/%e4%bd%a0/x%2fy%5cz+1%20?q=1";
    assert_primary(&req, primary);
    assert_fallback(
        &req,
        primary,
        "GET\n\n\n\n\nx-ca-key:k\n/d/你/x%2fy%5cz+1 ?q=1",
        Candidate::DecodedPath,
    );
    // A path that decodes to invalid UTF-8 has no F3 candidate.
    let req = SignedRequest {
        path: "/bad/%FF",
        ..req
    };
    let sig = hmac256(
        SECRET,
        "GET\n\n\n\n\nx-ca-key:k\n/bad/\u{FFFD}?q=1".as_bytes(),
    );
    assert!(verify(&req, Algorithm::HmacSha256, &[SECRET.as_bytes()], &sig).is_err());
}

/// Key order is Java's (UTF-16 code units, case-sensitive); empty pieces and empty keys skipped;
/// malformed escapes kept literally; no `?` when no parameter survives.
#[test]
fn parameter_edge_cases() {
    let h = HeaderMap::new();
    // U+1F600 (UTF-16 D83D..) sorts before U+FF61 although its UTF-8 bytes are larger.
    assert_eq!(
        get(
            "GET",
            "/o",
            Some("%EF%BD%A1=1&%F0%9F%98%80=2&b=3&B=4&_=5"),
            &h
        ),
        "GET\n\n\n\n\n/o?B=4&_=5&b=3&😀=2&｡=1"
    );
    assert_eq!(
        get("GET", "/o", Some("=x&&a&b="), &h),
        "GET\n\n\n\n\n/o?a&b"
    );
    assert_eq!(get("GET", "/o", Some(""), &h), "GET\n\n\n\n\n/o");
    assert_eq!(get("GET", "/o", Some("&&=1"), &h), "GET\n\n\n\n\n/o");
    assert_eq!(get("GET", "/o", None, &h), "GET\n\n\n\n\n/o");
    assert_eq!(
        get("GET", "/o", Some("a=%zz&b=%4&c=100%&d=%2B+%2b"), &h),
        "GET\n\n\n\n\n/o?a=%zz&b=%4&c=100%&d=+ +"
    );
    // Keys are decoded too.
    assert_eq!(
        get("GET", "/o", Some("a%20b=1&a+c=2"), &h),
        "GET\n\n\n\n\n/o?a b=1&a c=2"
    );
}

/// Repeated Accept: the first value is signed. A non-UTF-8 signed header value is signed byte
/// for byte; the mismatch message decodes it lossily.
#[test]
fn header_values_exact_bytes() {
    let h = headers(&[
        ("accept", b"text/html"),
        ("accept", b"application/json"),
        ("x-ca-key", b"k"),
        ("x-bin", b"\xe4\xb8 \xff"),
        ("x-ca-signature-headers", b"x-bin,x-ca-key"),
    ]);
    let req = SignedRequest {
        method: "GET",
        path: "/b",
        query: None,
        headers: &h,
        form: None,
    };
    let mut expected = b"GET\ntext/html\n\n\n\nx-bin:".to_vec();
    expected.extend_from_slice(b"\xe4\xb8 \xff");
    expected.extend_from_slice(b"\nx-ca-key:k\n/b");
    assert_eq!(string_to_sign(&req), expected);
    let sig = hmac256(SECRET, &expected);
    assert_eq!(
        verify(&req, Algorithm::HmacSha256, &[SECRET.as_bytes()], &sig),
        Ok(0)
    );
    let err = verify(&req, Algorithm::HmacSha256, &[SECRET.as_bytes()], "x").unwrap_err();
    assert_eq!(
        err.server_string_to_sign(),
        "GET#text/html####x-bin:\u{FFFD} \u{FFFD}#x-ca-key:k#/b"
    );
}

/// `charset=ISO-8859-1` on a form body: escapes decode as Latin-1.
#[test]
fn latin1_form_charset() {
    let h = headers(&[
        (
            "content-type",
            b"application/x-www-form-urlencoded; charset=ISO-8859-1",
        ),
        ("x-ca-key", b"k"),
        ("x-ca-signature-headers", b"x-ca-key"),
    ]);
    let req = SignedRequest {
        method: "POST",
        path: "/l",
        query: Some("q=%C3%A9"),
        headers: &h,
        form: Some(b"n=caf%E9"),
    };
    assert_primary(
        &req,
        "POST\n\n\napplication/x-www-form-urlencoded; charset=ISO-8859-1\n\nx-ca-key:k\n/l?n=café&q=é",
    );
}

#[test]
fn no_signature_headers_no_parameters() {
    let h = headers(&[("x-ca-key", b"k")]);
    let req = SignedRequest {
        method: "DELETE",
        path: "/x",
        query: None,
        headers: &h,
        form: None,
    };
    assert_primary(&req, "DELETE\n\n\n\n\n/x");
}

#[test]
fn secret_rotation_and_bad_signatures() {
    let h = headers(&[("x-ca-key", b"k"), ("x-ca-signature-headers", b"x-ca-key")]);
    let req = SignedRequest {
        method: "GET",
        path: "/s",
        query: None,
        headers: &h,
        form: None,
    };
    let text = b"GET\n\n\n\n\nx-ca-key:k\n/s";
    let sig = hmac256("new", text);
    let secrets: [&[u8]; 3] = [b"old", b"new", b"other"];
    assert_eq!(verify(&req, Algorithm::HmacSha256, &secrets, &sig), Ok(1));
    assert!(verify(&req, Algorithm::HmacSha256, &[], &sig).is_err());
    for bad in ["", "=", "not base64 at all", &sig[..43], &format!("{sig}=")] {
        assert!(verify(&req, Algorithm::HmacSha256, &secrets, bad).is_err());
    }
    // SHA-1 signature, verified as SHA-1 only.
    let sig1 = hmac1("new", text);
    assert_eq!(sig1.len(), 28);
    assert_eq!(verify(&req, Algorithm::HmacSha1, &secrets, &sig1), Ok(1));
    assert!(verify(&req, Algorithm::HmacSha256, &secrets, &sig1).is_err());
    assert_eq!(sign(Algorithm::HmacSha1, b"new", text), sig1);
    assert_eq!(sign(Algorithm::HmacSha256, b"new", text), sig);
    // Empty secret is a valid HMAC key.
    let sig_empty = hmac256("", text);
    assert_eq!(
        verify(&req, Algorithm::HmacSha256, &[b""], &sig_empty),
        Ok(0)
    );
}

#[test]
fn client_signer_sha1_and_sha256() {
    let mut h = headers(&[
        ("accept", b"application/json"),
        ("x-ca-timestamp", b"1700000000123"),
        ("x-ca-nonce", b"n"),
        ("x-foo", b"bar"),
        ("x-ca-signature", b"stale"),
    ]);
    let signer = ClientSigner {
        app_key: "203753385",
        app_secret: SECRET,
        algorithm: Algorithm::HmacSha1,
    };
    let sts = signer.sign(
        "get",
        "/c",
        Some("b=2&a=1"),
        &mut h,
        None,
        &["X-Foo", "Accept", "bad name", "x-ca-nonce", ""],
    );
    let expected = "GET\napplication/json\n\n\n\nx-ca-key:203753385\nx-ca-nonce:n\nx-ca-signature-method:HmacSHA1\nx-ca-timestamp:1700000000123\nx-foo:bar\n/c?a=1&b=2";
    assert_eq!(String::from_utf8(sts).unwrap(), expected);
    assert_eq!(h["x-ca-key"], "203753385");
    assert_eq!(h["x-ca-signature-method"], "HmacSHA1");
    assert_eq!(
        h["x-ca-signature-headers"],
        "x-ca-key,x-ca-nonce,x-ca-signature-method,x-ca-timestamp,x-foo"
    );
    assert_eq!(
        h["x-ca-signature"],
        hmac1(SECRET, expected.as_bytes()).as_str()
    );
    assert_eq!(h.get_all("x-ca-signature").iter().count(), 1);

    // HmacSHA256: no X-Ca-Signature-Method unless one was already there.
    let mut h = headers(&[("x-ca-nonce", b"n")]);
    let signer = ClientSigner {
        algorithm: Algorithm::HmacSha256,
        ..signer
    };
    let sts = signer.sign("POST", "/c", None, &mut h, Some(b"z=1&y"), &[]);
    let expected = "POST\n\n\n\n\nx-ca-key:203753385\nx-ca-nonce:n\n/c?y&z=1";
    assert_eq!(String::from_utf8(sts).unwrap(), expected);
    assert!(h.get("x-ca-signature-method").is_none());
    assert_eq!(h["x-ca-signature-headers"], "x-ca-key,x-ca-nonce");
    assert_eq!(
        h["x-ca-signature"],
        hmac256(SECRET, expected.as_bytes()).as_str()
    );
}

/// F5 (found by running PyPI `aliyun-api-gateway-sign` 1.0.4, which signs the URL text it was
/// given): query values as typed, not decoded.
#[test]
fn f5_raw_query_values() {
    let h = headers(&[("x-ca-key", b"k"), ("x-ca-signature-headers", b"X-Ca-Key")]);
    let req = SignedRequest {
        method: "GET",
        path: "/p",
        query: Some("name=%E5%BC%A0&q=a+b&plain=x"),
        headers: &h,
        form: None,
    };
    let primary = "GET\n\n\n\n\nX-Ca-Key:k\n/p?name=张&plain=x&q=a b";
    let raw = "GET\n\n\n\n\nX-Ca-Key:k\n/p?name=%E5%BC%A0&plain=x&q=a+b";
    assert_primary(&req, primary);
    assert_fallback(&req, primary, raw, Candidate::RawQuery);
}
