//! The management API signatures (`apigw_signature::mgmt`): scheme detection, V1/V3
//! parsing and verification, timestamps, and the client signers `apigw admin` uses.
//!
//! Input: a request written as HTTP/1.1 text (the pseudo-header `x-fuzz-secret` sets the
//! secret; when it parses, its action, version, nonce, time and parameters are signed again
//! with the client signer of its scheme), or any other bytes, decoded with `arbitrary`.
//!
//! Invariants checked:
//! - `parse` and `verify` never panic; every error is a 400 with a code;
//! - a `SignatureDoesNotMatch` message has exactly one `:` (the legacy SDK splits on it);
//! - a call made by `sign_v1` / `sign_v3_form` parses and verifies with the same secret and
//!   carries the action, version, nonce, AccessKey and parameters it was signed with;
//! - `parse_timestamp(format_timestamp(t))` is `t` in milliseconds (in the years 0–9999).
#![no_main]

use apigw_fuzz::HttpText;
use apigw_signature::mgmt::{
    format_timestamp, parse, parse_timestamp, sign_v1, sign_v3_form, MgmtRequest, Scheme,
    SignedCall,
};
use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    raw: Raw,
    call: Call,
    timestamp_text: String,
}

/// A request as received.
#[derive(Arbitrary, Debug)]
struct Raw {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(Name, String)>,
    body: Vec<u8>,
    secret: String,
}

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Other(String),
}

const KNOWN: &[&str] = &[
    "authorization",
    "host",
    "content-type",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
    "x-acs-security-token",
    "x-acs-bearer-token",
];

/// A call made with the client signers.
#[derive(Arbitrary, Debug)]
struct Call {
    v3: bool,
    /// AccessKey ids are `[A-Za-z0-9]` (the `Authorization` header cannot carry `,` or `=`
    /// in a Credential).
    access_key_id: Vec<u8>,
    secret: String,
    host: String,
    action: String,
    version: String,
    query: Vec<(String, String)>,
    form: Vec<(String, String)>,
    unix_secs: i64,
    nonce: String,
}

fn request_headers(raw: &Raw) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in &raw.headers {
        let name = match name {
            Name::Known(i) => KNOWN[*i as usize % KNOWN.len()].to_string(),
            Name::Other(s) => s.clone(),
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            map.append(n, v);
        }
    }
    map
}

fn check_raw(raw: &Raw) -> Option<apigw_signature::mgmt::Parsed> {
    let headers = request_headers(raw);
    let req = MgmtRequest {
        method: &raw.method,
        path: &raw.path,
        query: raw.query.as_deref(),
        headers: &headers,
        body: &raw.body,
    };
    match parse(&req) {
        Err(e) => {
            assert_eq!(e.status, 400);
            assert!(!e.code.is_empty());
        }
        Ok(parsed) => {
            assert!(!parsed.access_key_id.is_empty());
            assert!(!parsed.action.is_empty());
            assert!(!parsed.version.is_empty());
            assert!(!parsed.nonce.is_empty());
            assert_eq!(
                parsed.canonical_request().is_some(),
                parsed.scheme == Scheme::V3
            );
            if let Err(e) = parsed.verify(&raw.secret) {
                assert_eq!(e.code, "SignatureDoesNotMatch");
                assert_eq!(e.message.matches(':').count(), 1, "{}", e.message);
            }
            return Some(parsed);
        }
    }
    None
}

/// What a client sends: the signed call as an HTTP request.
fn check_call(call: &Call) {
    let id: String = call
        .access_key_id
        .iter()
        .map(|b| {
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            ALPHABET[*b as usize % ALPHABET.len()] as char
        })
        .collect();
    sign_and_check(call, &id);
}

fn sign_and_check(call: &Call, id: &str) {
    let now = format_timestamp(call.unix_secs);
    let signed: SignedCall = if call.v3 {
        sign_v3_form(
            id,
            &call.secret,
            &call.host,
            &call.action,
            &call.version,
            &call.query,
            &call.form,
            &now,
            &call.nonce,
        )
    } else {
        sign_v1(
            id,
            &call.secret,
            &call.host,
            &call.action,
            &call.version,
            &call.query,
            &now,
            &call.nonce,
        )
    };
    let mut headers = HeaderMap::new();
    for (n, v) in &signed.headers {
        let name = HeaderName::from_bytes(n.as_bytes()).expect("signer header names are valid");
        let value = HeaderValue::from_str(v).expect("signer header values are valid");
        headers.append(name, value);
    }
    let (path, query) = match signed.path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (signed.path_and_query.as_str(), None),
    };
    let req = MgmtRequest {
        method: signed.method,
        path,
        query,
        headers: &headers,
        body: &signed.body,
    };
    let header_text = |s: &str| -> String {
        s.chars()
            .filter(|&c| c == '\t' || !c.is_control())
            .collect::<String>()
            .trim()
            .to_string()
    };
    // What the server requires to be non-empty, as the client sends it.
    let (action, version, nonce) = if call.v3 {
        (
            header_text(&call.action),
            header_text(&call.version),
            header_text(&call.nonce),
        )
    } else {
        (
            call.action.clone(),
            call.version.clone(),
            call.nonce.clone(),
        )
    };
    if id.is_empty() || action.is_empty() || version.is_empty() || nonce.is_empty() {
        let _ = parse(&req);
        return;
    }
    let parsed = parse(&req).unwrap_or_else(|e| panic!("a signed call parses: {e}"));
    assert_eq!(parsed.scheme, if call.v3 { Scheme::V3 } else { Scheme::V1 });
    assert_eq!(parsed.access_key_id, id);
    assert_eq!(parsed.action, action);
    assert_eq!(parsed.version, version);
    assert_eq!(parsed.nonce, nonce);
    assert_eq!(parsed.string_to_sign(), signed.string_to_sign);
    let mut sent: Vec<(String, String)> = call
        .query
        .iter()
        .chain(if call.v3 { &call.form[..] } else { &[] })
        // The server skips empty names (so the signers leave them out).
        .filter(|(k, _)| !k.is_empty())
        .filter(|(k, _)| !apigw_signature::mgmt::PROTOCOL_KEYS.contains(&k.as_str()) || call.v3)
        .cloned()
        .collect();
    let mut got = parsed.params.clone();
    // One value per key, the later one winning.
    let mut merged: Vec<(String, String)> = Vec::new();
    for (k, v) in sent.drain(..) {
        match merged.iter_mut().find(|(mk, _)| *mk == k) {
            Some(e) => e.1 = v,
            None => merged.push((k, v)),
        }
    }
    merged.retain(|(k, _)| !apigw_signature::mgmt::PROTOCOL_KEYS.contains(&k.as_str()));
    merged.sort();
    got.sort();
    assert_eq!(got, merged, "parameters");
    parsed
        .verify(&call.secret)
        .unwrap_or_else(|e| panic!("a signed call verifies: {e}"));
    assert_eq!(
        Some(parsed.timestamp_ms),
        parse_timestamp(&now),
        "timestamp {now}"
    );
}

fn check_timestamps(input: &Input) {
    const MIN: i64 = -62_167_219_200;
    const MAX: i64 = 253_402_300_799;
    let t = input.call.unix_secs.clamp(MIN, MAX);
    let text = format_timestamp(input.call.unix_secs);
    assert_eq!(parse_timestamp(&text), Some(t * 1000), "{text}");
    if let Some(ms) = parse_timestamp(&input.timestamp_text) {
        // Whatever parses formats back to the same second.
        let secs = ms.div_euclid(1000);
        assert_eq!(
            parse_timestamp(&format_timestamp(secs)),
            Some(secs * 1000),
            "{}",
            input.timestamp_text
        );
    }
}

/// A request written as text: checked as received, then its content signed again.
fn from_text(data: &[u8]) -> bool {
    let Some(mut t) = HttpText::parse(data) else {
        return false;
    };
    let secret = t
        .take("x-fuzz-secret")
        .map_or("testsecret".to_string(), |s| {
            String::from_utf8_lossy(s).into_owned()
        });
    let raw = Raw {
        method: t.method.to_string(),
        path: t.path.to_string(),
        query: t.query.map(str::to_string),
        headers: t
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    Name::Other(n.to_string()),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect(),
        body: t.body.to_vec(),
        secret: secret.clone(),
    };
    let Some(parsed) = check_raw(&raw) else {
        return true;
    };
    let id = &parsed.access_key_id;
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return true;
    }
    let call = Call {
        v3: parsed.scheme == Scheme::V3,
        access_key_id: Vec::new(),
        secret,
        host: "apigw.example.com".into(),
        action: parsed.action.clone(),
        version: parsed.version.clone(),
        query: parsed.params.clone(),
        form: Vec::new(),
        unix_secs: parsed.timestamp_ms.div_euclid(1000),
        nonce: parsed.nonce.clone(),
    };
    sign_and_check(&call, id);
    true
}

fuzz_target!(|data: &[u8]| {
    if from_text(data) {
        return;
    }
    let Ok(input) = Input::arbitrary_take_rest(arbitrary::Unstructured::new(data)) else {
        return;
    };
    if apigw_fuzz::debug() {
        eprintln!("{input:#?}");
    }
    check_raw(&input.raw);
    check_call(&input.call);
    check_timestamps(&input);
});
