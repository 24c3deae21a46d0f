//! The APP digest signature (`apigw-signature`): StringToSign builder, verifier (with its
//! fallback candidates), Content-MD5, and the client signer.
//!
//! Input: a request written as HTTP/1.1 text (pseudo-headers `x-fuzz-secret`,
//! `x-fuzz-sha1`, `x-fuzz-signed` set the secret, the algorithm and extra signed names), or
//! any other bytes, decoded as a structured request with `arbitrary`.
//!
//! Invariants checked:
//! - nothing panics on any request (methods, raw paths, queries, header bytes, form bodies);
//! - a request signed over the primary StringToSign verifies with the primary candidate;
//! - a request signed by `ClientSigner` verifies with the primary candidate, and the string
//!   the signer returns is the one the server builds;
//! - `check_content_md5(content_md5(body), body)` holds for every non-empty body.
#![no_main]

use apigw_fuzz::HttpText;
use apigw_signature::{
    check_content_md5, content_md5, is_form_content_type, sign, string_to_sign, verify_detailed,
    Algorithm, Candidate, ClientSigner, SignedRequest,
};
use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(Name, Vec<u8>)>,
    form: Option<Vec<u8>>,
    /// Sets `Content-Type: application/x-www-form-urlencoded` (with this charset suffix).
    form_content_type: Option<String>,
    secret: Vec<u8>,
    sha1: bool,
    /// A signature as a client might send it.
    signature: String,
    app_key: String,
    app_secret: String,
    extra_signed: Vec<String>,
}

/// Header names: mostly the ones the signature reads, sometimes arbitrary text.
#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Other(String),
}

const KNOWN: &[&str] = &[
    "accept",
    "content-md5",
    "content-type",
    "date",
    "x-ca-key",
    "x-ca-signature",
    "x-ca-signature-method",
    "x-ca-signature-headers",
    "x-ca-timestamp",
    "x-ca-nonce",
    "x-ca-stage",
    "x-custom",
    "X-Custom",
];

fn headers(input: &Input) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in &input.headers {
        let name = match name {
            Name::Known(i) => KNOWN[*i as usize % KNOWN.len()].to_string(),
            Name::Other(s) => s.clone(),
        };
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) else {
            continue;
        };
        map.append(n, v);
    }
    if let Some(charset) = &input.form_content_type {
        if let Ok(v) = HeaderValue::from_str(&format!("application/x-www-form-urlencoded{charset}"))
        {
            map.insert(http::header::CONTENT_TYPE, v);
        }
    }
    map
}

/// A request written as text: the same fields, from headers where the text has none.
fn from_text(data: &[u8]) -> Option<Input> {
    let mut t = HttpText::parse(data)?;
    let secret = t
        .take("x-fuzz-secret")
        .unwrap_or(b"Sec-8f2b1c7e4a")
        .to_vec();
    let sha1 = t.take("x-fuzz-sha1").is_some();
    let extra_signed = t
        .take("x-fuzz-signed")
        .map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let signature = t
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-ca-signature"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    Some(Input {
        method: t.method.to_string(),
        path: t.path.to_string(),
        query: t.query.map(str::to_string),
        headers: t
            .headers
            .iter()
            .map(|(n, v)| (Name::Other(n.to_string()), v.to_vec()))
            .collect(),
        form: Some(t.body.to_vec()),
        form_content_type: None,
        app_key: String::from_utf8_lossy(&secret).into_owned(),
        app_secret: String::from_utf8_lossy(&secret).into_owned(),
        secret,
        sha1,
        signature,
        extra_signed,
    })
}

fuzz_target!(|data: &[u8]| {
    let input = match from_text(data) {
        Some(input) => input,
        None => match Input::arbitrary_take_rest(arbitrary::Unstructured::new(data)) {
            Ok(input) => input,
            Err(_) => return,
        },
    };
    if apigw_fuzz::debug() {
        eprintln!("{input:#?}");
    }
    check(&input);
});

fn check(input: &Input) {
    let alg = if input.sha1 {
        Algorithm::HmacSha1
    } else {
        Algorithm::HmacSha256
    };
    let headers = headers(input);
    let form = if is_form_content_type(&headers) {
        input.form.as_deref()
    } else {
        None
    };
    let req = SignedRequest {
        method: &input.method,
        path: &input.path,
        query: input.query.as_deref(),
        headers: &headers,
        form,
    };

    // Any signature: Ok or a mismatch carrying the primary string.
    let sts = string_to_sign(&req);
    let secrets: [&[u8]; 2] = [b"other-secret", &input.secret];
    match verify_detailed(&req, alg, &secrets, &input.signature) {
        Ok(v) => assert!(v.secret_index < secrets.len()),
        Err(m) => {
            assert_eq!(m.string_to_sign(), &sts[..]);
            let message = m.message();
            assert!(!message.contains('\n'));
            let _ = m.server_string_to_sign();
        }
    }

    // Signed over the primary string: verifies with the primary candidate.
    let signature = sign(alg, &input.secret, &sts);
    let v = verify_detailed(&req, alg, &[&input.secret], &signature)
        .expect("a request signed over the primary StringToSign verifies");
    assert_eq!(v.candidate, Candidate::Primary);
    assert_eq!(v.secret_index, 0);

    // The client signer: what it signs is what the server builds.
    let mut signed_headers = headers.clone();
    let signer = ClientSigner {
        app_key: &input.app_key,
        app_secret: &input.app_secret,
        algorithm: alg,
    };
    let extra: Vec<&str> = input.extra_signed.iter().map(String::as_str).collect();
    let client_sts = signer.sign(
        &input.method,
        &input.path,
        input.query.as_deref(),
        &mut signed_headers,
        form,
        &extra,
    );
    let server_req = SignedRequest {
        headers: &signed_headers,
        ..req
    };
    assert_eq!(string_to_sign(&server_req), client_sts);
    let sent_alg = Algorithm::from_header(
        signed_headers
            .get(apigw_signature::X_CA_SIGNATURE_METHOD)
            .map(HeaderValue::as_bytes),
    )
    .expect("the signer sends a known signature method");
    assert_eq!(sent_alg, alg);
    let sent = signed_headers
        .get(apigw_signature::X_CA_SIGNATURE)
        .and_then(|v| v.to_str().ok())
        .expect("the signer sets X-Ca-Signature")
        .to_string();
    let v = verify_detailed(&server_req, alg, &[input.app_secret.as_bytes()], &sent)
        .expect("a request signed by ClientSigner verifies");
    assert_eq!(v.candidate, Candidate::Primary);

    // Content-MD5.
    let body = input.form.as_deref().unwrap_or_default();
    let md5 = content_md5(body);
    assert_eq!(
        check_content_md5(md5.as_bytes(), body).is_ok(),
        !body.is_empty()
    );
    let _ = check_content_md5(input.signature.as_bytes(), body);
}
