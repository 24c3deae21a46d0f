//! The test vectors V1–V8 of spec/signature.md §8. Every expected string and signature below is
//! copied from the spec (produced by the official SDKs / the reference implementation), not from
//! this crate.

use apigw_signature::{
    check_content_md5, content_md5, string_to_sign, verify, verify_detailed, Algorithm, Candidate,
    ContentMd5Error, SignedRequest,
};
use http::{HeaderMap, HeaderName, HeaderValue};

const SECRET: &[u8] = b"Sec-8f2b1c7e4a";

fn headers(list: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in list {
        h.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    h
}

fn alg_of(h: &HeaderMap) -> Algorithm {
    Algorithm::from_header(h.get("x-ca-signature-method").map(|v| v.as_bytes())).unwrap()
}

/// Replaces the first character of a Base64 signature by a different one.
fn flip(sig: &str) -> String {
    let mut b = sig.as_bytes().to_vec();
    b[0] = if b[0] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

fn hash(s: &str) -> String {
    s.replace('\n', "#")
}

/// Common assertions: exact primary string, acceptance (via `candidate`), rotation index,
/// rejection of a flipped signature with the exact `#` message.
fn check(req: &SignedRequest, expected_primary: &str, sig: &str, candidate: Candidate) {
    let alg = alg_of(req.headers);
    assert_eq!(
        String::from_utf8(string_to_sign(req)).unwrap(),
        expected_primary
    );
    let v = verify_detailed(req, alg, &[SECRET], sig).expect("spec signature must verify");
    assert_eq!(v.candidate, candidate);
    assert_eq!(v.secret_index, 0);
    assert_eq!(verify(req, alg, &[b"old-secret", SECRET], sig), Ok(1));
    assert!(verify(req, alg, &[b"old-secret"], sig).is_err());

    let err = verify(req, alg, &[SECRET], &flip(sig)).unwrap_err();
    assert_eq!(err.server_string_to_sign(), hash(expected_primary));
    assert_eq!(
        err.to_string(),
        format!(
            "Invalid Signature, Server StringToSign:`{}`",
            hash(expected_primary)
        )
    );
    assert_eq!(err.string_to_sign(), expected_primary.as_bytes());
}

/// A request whose signed content was changed must fail, echoing the changed primary string.
fn check_mutated(req: &SignedRequest, sig: &str, expected_primary: &str) {
    let err = verify(req, alg_of(req.headers), &[SECRET], sig).unwrap_err();
    assert_eq!(err.server_string_to_sign(), hash(expected_primary));
}

// ---------------------------------------------------------------------------------------------

const V1_HEADERS: &[(&str, &str)] = &[
    ("accept", "application/json; charset=utf-8"),
    (
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    ),
    ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
    ("x-ca-key", "203753385"),
    ("x-ca-nonce", "c9f15cbf-f4ac-4a6c-b54d-f51abf4b5b44"),
    ("x-ca-signature-method", "HmacSHA256"),
    ("x-ca-stage", "RELEASE"),
    ("x-ca-timestamp", "1700000000123"),
    (
        "x-ca-signature-headers",
        "x-ca-nonce,x-ca-timestamp,x-ca-key,x-ca-signature-method,x-ca-stage",
    ),
];
const V1_STS: &str = "GET\napplication/json; charset=utf-8\n\napplication/x-www-form-urlencoded; charset=utf-8\nTue, 14 Nov 2023 22:13:20 GMT\nx-ca-key:203753385\nx-ca-nonce:c9f15cbf-f4ac-4a6c-b54d-f51abf4b5b44\nx-ca-signature-method:HmacSHA256\nx-ca-stage:RELEASE\nx-ca-timestamp:1700000000123\n/v1/users/42?empty&name=张三&q=a b";
const V1_SIG: &str = "s9nW04P04/UTPNOht0bRT8LkIesKCqLg+hZA+Q5nVr8=";

#[test]
fn v1_java_get_query() {
    let h = headers(V1_HEADERS);
    let req = SignedRequest {
        method: "GET",
        path: "/v1/users/42",
        query: Some("q=a+b&name=%E5%BC%A0%E4%B8%89&empty="),
        headers: &h,
        form: None,
    };
    check(&req, V1_STS, V1_SIG, Candidate::Primary);

    // Mutate a decoded query value: "a b" -> "a c".
    let req2 = SignedRequest {
        query: Some("q=a+c&name=%E5%BC%A0%E4%B8%89&empty="),
        ..req
    };
    check_mutated(&req2, V1_SIG, &V1_STS.replace("q=a b", "q=a c"));
    // Mutate the path.
    let req3 = SignedRequest {
        path: "/v1/users/43",
        ..req
    };
    check_mutated(&req3, V1_SIG, &V1_STS.replace("/42?", "/43?"));
}

const V2_STS: &str = "POST\napplication/json; charset=utf-8\n\napplication/x-www-form-urlencoded; charset=utf-8\nTue, 14 Nov 2023 22:13:20 GMT\nx-ca-key:203753385\nx-ca-nonce:0b0e4f5a-2d7e-4f0e-9b3a-6a1f2c3d4e5f\nx-ca-signature-method:HmacSHA1\nx-ca-stage:TEST\nx-ca-timestamp:1700000000123\n/v1/orders?a=1&b=2&c=x=y&z";
const V2_SIG: &str = "ZQCv8orHSavWY2iU+aIlvpknZx0=";

fn v2_headers() -> HeaderMap {
    headers(&[
        ("accept", "application/json; charset=utf-8"),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ("x-ca-key", "203753385"),
        ("x-ca-nonce", "0b0e4f5a-2d7e-4f0e-9b3a-6a1f2c3d4e5f"),
        ("x-ca-signature-method", "HmacSHA1"),
        ("x-ca-stage", "TEST"),
        ("x-ca-timestamp", "1700000000123"),
        (
            "x-ca-signature-headers",
            "x-ca-nonce,x-ca-timestamp,x-ca-key,x-ca-signature-method,x-ca-stage",
        ),
    ])
}

#[test]
fn v2_java_form_sha1() {
    let h = v2_headers();
    assert!(apigw_signature::is_form_content_type(&h));
    let req = SignedRequest {
        method: "POST",
        path: "/v1/orders",
        query: Some("b=2"),
        headers: &h,
        form: Some(b"a=1&c=x%3Dy%26z"),
    };
    assert_eq!(alg_of(&h), Algorithm::HmacSha1);
    check(&req, V2_STS, V2_SIG, Candidate::Primary);
    // SHA-256 verification of a SHA-1 signature fails.
    assert!(verify(&req, Algorithm::HmacSha256, &[SECRET], V2_SIG).is_err());

    // Mutate a form value.
    let req2 = SignedRequest {
        form: Some(b"a=2&c=x%3Dy%26z"),
        ..req
    };
    check_mutated(&req2, V2_SIG, &V2_STS.replace("?a=1", "?a=2"));
    // Mutate the method.
    let req3 = SignedRequest {
        method: "PUT",
        ..req
    };
    check_mutated(&req3, V2_SIG, &V2_STS.replacen("POST", "PUT", 1));
}

const V3_STS: &str = "POST\napplication/json\njK9dHWC9219hAdcyp+dSVQ==\napplication/json\n\nx-ca-key:203753385\nx-ca-nonce:5b7d1f0e-3c2a-4d9b-8e6f-0a1b2c3d4e5f\nx-ca-stage:PRE\nx-ca-timestamp:1700000000123\nx-custom:hello\n/v1/items?city=杭州&tag=b";
const V3_SIG_NODE: &str = "pAhtI3xzIXPTQL8yH0sm9CqHrm9OJQ30CurU1Bl267A=";
const V3_SIG_DOC: &str = "z/5aKqpFM41lQnzWyj1RoiLSv5yA6WVxvb2Nv8jqLck=";

#[test]
fn v3_node_repeated_query_key_needs_f2() {
    let h = headers(&[
        ("accept", "application/json"),
        ("content-type", "application/json"),
        ("content-md5", "jK9dHWC9219hAdcyp+dSVQ=="),
        ("x-ca-key", "203753385"),
        ("x-ca-nonce", "5b7d1f0e-3c2a-4d9b-8e6f-0a1b2c3d4e5f"),
        ("x-ca-stage", "PRE"),
        ("x-ca-timestamp", "1700000000123"),
        ("x-custom", "hello"),
        (
            "x-ca-signature-headers",
            "x-ca-key,x-ca-nonce,x-ca-stage,x-ca-timestamp,x-custom",
        ),
    ]);
    let body = br#"{"id":7,"name":"x"}"#;
    assert_eq!(content_md5(body), "jK9dHWC9219hAdcyp+dSVQ==");
    assert_eq!(check_content_md5(b"jK9dHWC9219hAdcyp+dSVQ==", body), Ok(()));
    let req = SignedRequest {
        method: "POST",
        path: "/v1/items",
        query: Some("tag=b&tag=a&city=%E6%9D%AD%E5%B7%9E"),
        headers: &h,
        form: None, // JSON body contributes nothing
    };
    // What Node really sent: only F2 (comma join) matches.
    check(&req, V3_STS, V3_SIG_NODE, Candidate::CommaJoin);
    // The documented first-value rule matches the primary candidate.
    let v = verify_detailed(&req, Algorithm::HmacSha256, &[SECRET], V3_SIG_DOC).unwrap();
    assert_eq!(v.candidate, Candidate::Primary);

    // Mutate the custom signed header.
    let mut h2 = h.clone();
    h2.insert("x-custom", HeaderValue::from_static("hellp"));
    let req2 = SignedRequest {
        headers: &h2,
        ..req
    };
    check_mutated(
        &req2,
        V3_SIG_NODE,
        &V3_STS.replace("x-custom:hello", "x-custom:hellp"),
    );
    // Mutate a non-first value of the repeated key: primary unchanged, F2 no longer matches.
    let req3 = SignedRequest {
        query: Some("tag=b&tag=c&city=%E6%9D%AD%E5%B7%9E"),
        ..req
    };
    check_mutated(&req3, V3_SIG_NODE, V3_STS);
}

const V4_STS: &str = "POST\napplication/json\n\napplication/x-www-form-urlencoded; charset=UTF-8\n\nx-ca-key:203753385\nx-ca-nonce:7e8f9a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5b\nx-ca-stage:PRE\nx-ca-timestamp:1700000000123\n/v1/forms?a&b=two words&z=9";
const V4_SIG: &str = "6xy04Z1D5ii5f/2PdqoBEWjqvZjZ2Y5ew1HuTj0ZgKY=";

#[test]
fn v4_node_form_empty_value_and_space() {
    let h = headers(&[
        ("accept", "application/json"),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        ),
        ("x-ca-key", "203753385"),
        ("x-ca-nonce", "7e8f9a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5b"),
        ("x-ca-stage", "PRE"),
        ("x-ca-timestamp", "1700000000123"),
        (
            "x-ca-signature-headers",
            "x-ca-key,x-ca-nonce,x-ca-stage,x-ca-timestamp",
        ),
    ]);
    let req = SignedRequest {
        method: "POST",
        path: "/v1/forms",
        query: Some("z=9"),
        headers: &h,
        form: Some(b"b=two%20words&a="),
    };
    check(&req, V4_STS, V4_SIG, Candidate::Primary);

    // Mutate the nonce.
    let mut h2 = h.clone();
    h2.insert(
        "x-ca-nonce",
        HeaderValue::from_static("7e8f9a0b-1c2d-4e3f-8a9b-0c1d2e3f4a5c"),
    );
    let req2 = SignedRequest {
        headers: &h2,
        ..req
    };
    check_mutated(&req2, V4_SIG, &V4_STS.replace("4a5b", "4a5c"));
}

const V5_STS: &str = "POST\napplication/json\nwOqvVjPnhpLBKDFYouJoUA==\napplication/octet-stream\n\nX-Ca-Key:203753385\nX-Ca-Nonce:1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b\nX-Ca-Timestamp:1700000000123\n/v1/upload?mode=fast&v=1";
const V5_SIG: &str = "iIJMEQq8fOCbwWAksiCYWKcM6zNfsykBpLaWN2S7U8Q=";

#[test]
fn v5_python_stream_capitalised_names() {
    let h = headers(&[
        ("Accept", "application/json"),
        ("Content-MD5", "wOqvVjPnhpLBKDFYouJoUA=="),
        ("Content-Type", "application/octet-stream"),
        ("X-Ca-Key", "203753385"),
        ("X-Ca-Nonce", "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b"),
        ("X-Ca-Timestamp", "1700000000123"),
        (
            "X-Ca-Signature-Headers",
            "X-Ca-Key,X-Ca-Nonce,X-Ca-Timestamp",
        ),
    ]);
    let mut body = vec![0u8, 1];
    body.extend_from_slice(b"binary-payload");
    body.push(0xff);
    assert_eq!(content_md5(&body), "wOqvVjPnhpLBKDFYouJoUA==");
    assert_eq!(
        check_content_md5(b"wOqvVjPnhpLBKDFYouJoUA==", &body),
        Ok(())
    );
    assert_eq!(
        check_content_md5(b"wOqvVjPnhpLBKDFYouJoUA==", &body[1..]),
        Err(ContentMd5Error::Mismatch)
    );
    assert_eq!(
        check_content_md5(b"1B2M2Y8AsgTpgAmY7PhCfg==", b""),
        Err(ContentMd5Error::EmptyBody)
    );
    assert!(!apigw_signature::is_form_content_type(&h));
    let req = SignedRequest {
        method: "POST",
        path: "/v1/upload",
        query: Some("mode=fast&v=1"),
        headers: &h,
        form: None,
    };
    assert_eq!(alg_of(&h), Algorithm::HmacSha256);
    check(&req, V5_STS, V5_SIG, Candidate::Primary);

    // Mutate the Content-MD5 header (a fixed line).
    let mut h2 = h.clone();
    h2.insert(
        "content-md5",
        HeaderValue::from_static("wOqvVjPnhpLBKDFYouJoUB=="),
    );
    let req2 = SignedRequest {
        headers: &h2,
        ..req
    };
    check_mutated(&req2, V5_SIG, &V5_STS.replace("JoUA==", "JoUB=="));
}

const V6_STS: &str = "POST\napplication/json\n\napplication/x-www-form-urlencoded\n\nX-Ca-Key:203753385\nX-Ca-Nonce:1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b\nX-Ca-Timestamp:1700000000123\n/v1/forms?a&b=two words&k=frombody&z=9";
const V6_SIG: &str = "l53QopZ43sn3SiTCtT87VxQWx/gSJDZwKVom3npjOH8=";

#[test]
fn v6_python_form_wins_over_query() {
    let h = headers(&[
        ("Accept", "application/json"),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Ca-Key", "203753385"),
        ("X-Ca-Nonce", "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b"),
        ("X-Ca-Timestamp", "1700000000123"),
        (
            "X-Ca-Signature-Headers",
            "X-Ca-Key,X-Ca-Nonce,X-Ca-Timestamp",
        ),
    ]);
    let req = SignedRequest {
        method: "POST",
        path: "/v1/forms",
        query: Some("k=fromquery&z=9"),
        headers: &h,
        form: Some(b"k=frombody&a=&b=two+words"),
    };
    check(&req, V6_STS, V6_SIG, Candidate::Primary);

    // Mutate the winning (form) value.
    let req2 = SignedRequest {
        form: Some(b"k=frombodz&a=&b=two+words"),
        ..req
    };
    check_mutated(&req2, V6_SIG, &V6_STS.replace("frombody", "frombodz"));
    // Mutating the losing query value changes nothing signed by the primary candidate.
    let req3 = SignedRequest {
        query: Some("k=fromquerz&z=9"),
        ..req
    };
    assert_eq!(
        verify_detailed(&req3, Algorithm::HmacSha256, &[SECRET], V6_SIG)
            .unwrap()
            .candidate,
        Candidate::Primary
    );
}

const V7_STS: &str = "GET\napplication/json\n\napplication/json\nTue, 14 Nov 2023 22:13:20 GMT\nx-ca-key:203753385\nx-ca-nonce:9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d\nx-ca-signature-method:HmacSHA256\nx-ca-stage:RELEASE\nx-ca-timestamp:1700000000123\n/v1/list?page=2&size=10";
const V7_SIG: &str = "pxQX4DNxCP9OCAPEaf6DuelLB7wJnWHvNYOdMcY0wf4=";

#[test]
fn v7_tea_util_lower_case() {
    let h = headers(&[
        ("accept", "application/json"),
        ("content-type", "application/json"),
        ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ("x-ca-key", "203753385"),
        ("x-ca-nonce", "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"),
        ("x-ca-signature-method", "HmacSHA256"),
        ("x-ca-stage", "RELEASE"),
        ("x-ca-timestamp", "1700000000123"),
        (
            "x-ca-signature-headers",
            "x-ca-key,x-ca-nonce,x-ca-signature-method,x-ca-stage,x-ca-timestamp",
        ),
    ]);
    let req = SignedRequest {
        method: "GET",
        path: "/v1/list",
        query: Some("page=2&size=10"),
        headers: &h,
        form: None,
    };
    check(&req, V7_STS, V7_SIG, Candidate::Primary);

    // Mutate the Date line.
    let mut h2 = h.clone();
    h2.insert(
        "date",
        HeaderValue::from_static("Tue, 14 Nov 2023 22:13:21 GMT"),
    );
    let req2 = SignedRequest {
        headers: &h2,
        ..req
    };
    check_mutated(&req2, V7_SIG, &V7_STS.replace("22:13:20", "22:13:21"));
}

const V8_STS: &str = "GET\napplication/json\n\n\n\nX-Ca-Key:203753385\nX-Ca-Timestamp:1700000000123\n/files/%E6%96%87%E4%BB%B6/a%2Fb";
const V8_SIG_PRIMARY: &str = "5MLF9dTXc1UF/EmpVMPMlMpPhuOSy7YJPe2NORUae2A=";
const V8_SIG_F3: &str = "AXnYlmk6z7AgWozggaOBgibeluyeCqYv/YJXyDXRCL4=";

#[test]
fn v8_decoded_path_candidate() {
    let h = headers(&[
        ("Accept", "application/json"),
        ("X-Ca-Key", "203753385"),
        ("X-Ca-Timestamp", "1700000000123"),
        ("X-Ca-Signature-Headers", "X-Ca-Key,X-Ca-Timestamp"),
    ]);
    let req = SignedRequest {
        method: "GET",
        path: "/files/%E6%96%87%E4%BB%B6/a%2Fb",
        query: None,
        headers: &h,
        form: None,
    };
    check(&req, V8_STS, V8_SIG_PRIMARY, Candidate::Primary);
    check(&req, V8_STS, V8_SIG_F3, Candidate::DecodedPath);

    // Mutate the timestamp.
    let mut h2 = h.clone();
    h2.insert("x-ca-timestamp", HeaderValue::from_static("1700000000124"));
    let req2 = SignedRequest {
        headers: &h2,
        ..req
    };
    for sig in [V8_SIG_PRIMARY, V8_SIG_F3] {
        check_mutated(&req2, sig, &V8_STS.replace("0123", "0124"));
    }
    // Lower-case hex in the raw path is a different primary string; F3 still decodes it to
    // the same text, so the F3 signature keeps verifying and the primary one does not.
    let req3 = SignedRequest {
        path: "/files/%e6%96%87%e4%bb%b6/a%2Fb",
        ..req
    };
    assert_eq!(
        verify_detailed(&req3, Algorithm::HmacSha256, &[SECRET], V8_SIG_F3)
            .unwrap()
            .candidate,
        Candidate::DecodedPath
    );
    check_mutated(
        &req3,
        V8_SIG_PRIMARY,
        &V8_STS.replace("%E6%96%87%E4%BB%B6", "%e6%96%87%e4%bb%b6"),
    );
}
