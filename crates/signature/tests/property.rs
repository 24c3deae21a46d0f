//! Property tests: whatever a client signs with [`ClientSigner`] verifies, and changing any one
//! signed item (method, path byte, decoded query value, signed header value, form value, secret)
//! makes verification fail. Plus: no input makes the crate panic.

use std::collections::BTreeMap;

use apigw_signature::{
    sign, string_to_sign, verify, verify_detailed, Algorithm, Candidate, ClientSigner,
    SignedRequest,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use proptest::prelude::*;
use proptest::sample::Index;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// A decoded parameter plus how it is written on the wire when its value is empty.
#[derive(Debug, Clone)]
struct Param {
    key: String,
    value: String,
    bare: bool, // `k` instead of `k=` when the value is empty
}

fn encode_params(params: &[Param]) -> String {
    params
        .iter()
        .map(|p| {
            let k: String = form_urlencoded::byte_serialize(p.key.as_bytes()).collect();
            if p.value.is_empty() && p.bare {
                k
            } else {
                let v: String = form_urlencoded::byte_serialize(p.value.as_bytes()).collect();
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Path segment: (is ASCII, text). ASCII segments are written literally, others percent-encoded.
fn segment() -> impl Strategy<Value = (bool, String)> {
    prop_oneof![
        "[A-Za-z0-9._~-]{0,8}".prop_map(|s| (true, s)),
        "\\PC{1,4}".prop_map(|s| (false, s)),
    ]
}

fn param() -> impl Strategy<Value = Param> {
    (
        prop_oneof![3 => "[a-d]{1,2}", 1 => "\\PC{1,3}"],
        prop_oneof![
            1 => Just(String::new()),
            2 => "[a-z0-9 ,&=+%]{0,6}",
            1 => "\\PC{0,4}",
        ],
        any::<bool>(),
    )
        .prop_map(|(key, value, bare)| Param { key, value, bare })
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![4 => 0x20u8..0x7f, 1 => 0x80u8..=0xff], 0..12)
}

#[derive(Debug, Clone)]
struct Case {
    method: usize,
    secret: String,
    first_segment: String,
    segments: Vec<(bool, String)>,
    query: Vec<Param>,
    extra: BTreeMap<String, Vec<u8>>,
    absent_extra: bool,
    nonce: Option<String>,
    stage: Option<&'static str>,
    accept: Option<&'static str>,
    date: bool,
    form: Option<Vec<Param>>,
    sha1: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            0..METHODS.len(),
            "[A-Za-z0-9]{1,40}",
            "[A-Za-z0-9]{1,8}",
            prop::collection::vec(segment(), 0..4),
            prop::collection::vec(param(), 0..7),
        ),
        (
            prop::collection::btree_map("x-[a-z]{1,6}", header_value(), 0..4),
            any::<bool>(),
            prop::option::of("[a-f0-9-]{8,36}"),
            prop::option::of(prop::sample::select(vec!["TEST", "PRE", "RELEASE"])),
            prop::option::of(prop::sample::select(vec![
                "application/json",
                "*/*",
                "application/json; charset=utf-8",
            ])),
            any::<bool>(),
            prop::option::of(prop::collection::vec(param(), 0..5)),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (method, secret, first_segment, segments, query),
                (extra, absent_extra, nonce, stage, accept, date, form, sha1),
            )| Case {
                method,
                secret,
                first_segment,
                segments,
                query,
                extra,
                absent_extra,
                nonce,
                stage,
                accept,
                date,
                form,
                sha1,
            },
        )
}

/// The request as it goes on the wire.
#[derive(Debug, Clone)]
struct Wire {
    method: String,
    path: String,
    /// Byte positions of path characters that may be replaced (inside ASCII segments).
    mutable_path: Vec<usize>,
    query: Option<String>,
    form: Option<String>,
    headers: HeaderMap,
    secret: String,
}

impl Wire {
    fn request(&self) -> SignedRequest<'_> {
        SignedRequest {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            form: self.form.as_deref().map(str::as_bytes),
        }
    }
}

fn build(c: &Case) -> (Wire, Vec<String>) {
    let mut path = String::from("/");
    let mut mutable_path = Vec::new();
    for (i, (ascii, text)) in std::iter::once((true, c.first_segment.clone()))
        .chain(c.segments.iter().cloned())
        .enumerate()
    {
        if i > 0 {
            path.push('/');
        }
        if ascii {
            mutable_path.extend(path.len()..path.len() + text.len());
            path.push_str(&text);
        } else {
            path.extend(utf8_percent_encode(&text, NON_ALPHANUMERIC));
        }
    }
    let mut headers = HeaderMap::new();
    let mut extra_signed = Vec::new();
    for (name, value) in &c.extra {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
        extra_signed.push(name.clone());
    }
    if c.absent_extra {
        extra_signed.push("X-Absent-Header".to_owned());
    }
    if let Some(n) = &c.nonce {
        headers.insert("x-ca-nonce", HeaderValue::from_str(n).unwrap());
    }
    headers.insert("x-ca-timestamp", HeaderValue::from_static("1700000000123"));
    if let Some(s) = c.stage {
        headers.insert("x-ca-stage", HeaderValue::from_static(s));
    }
    if let Some(a) = c.accept {
        headers.insert("accept", HeaderValue::from_static(a));
    }
    if c.date {
        headers.insert(
            "date",
            HeaderValue::from_static("Tue, 14 Nov 2023 22:13:20 GMT"),
        );
    }
    let form = c.form.as_ref().map(|f| {
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
        );
        encode_params(f)
    });
    if form.is_none() && c.sha1 {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    let query = (!c.query.is_empty()).then(|| encode_params(&c.query));
    (
        Wire {
            method: METHODS[c.method].to_owned(),
            path,
            mutable_path,
            query,
            form,
            headers,
            secret: c.secret.clone(),
        },
        extra_signed,
    )
}

/// Replaces one character of `s` (chosen by `at`) with a different one; empty → "x".
fn mutate_text(s: &str, at: &Index) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return "x".to_owned();
    }
    let i = at.index(chars.len());
    let mut out = chars.clone();
    out[i] = if chars[i] == 'x' { 'y' } else { 'x' };
    out.into_iter().collect()
}

/// Index of the first occurrence of a key of `params` that is absent from `other`, chosen by `at`.
fn signed_param(params: &[Param], other: &[Param], at: &Index) -> Option<usize> {
    let eligible: Vec<usize> = params
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            !other.iter().any(|o| o.key == p.key) && !params[..*i].iter().any(|q| q.key == p.key)
        })
        .map(|(i, _)| i)
        .collect();
    (!eligible.is_empty()).then(|| eligible[at.index(eligible.len())])
}

#[derive(Debug, Clone, Copy)]
enum Mutation {
    Method,
    Path,
    QueryValue,
    HeaderValue,
    FormValue,
    Secret,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop::sample::select(vec![
        Mutation::Method,
        Mutation::Path,
        Mutation::QueryValue,
        Mutation::HeaderValue,
        Mutation::FormValue,
        Mutation::Secret,
    ])
}

/// Applies `m` to a copy of the signed wire request; falls back to a secret change when the
/// request has nothing of that kind that is signed.
fn apply(c: &Case, w: &Wire, m: Mutation, at: &Index, extra_signed: &[String]) -> Wire {
    let mut w = w.clone();
    let no_form: Vec<Param> = Vec::new();
    let form = c.form.as_ref().unwrap_or(&no_form);
    match m {
        Mutation::Method => {
            w.method = METHODS[(c.method + 1 + at.index(METHODS.len() - 1)) % METHODS.len()].into();
            return w;
        }
        Mutation::Path => {
            let pos = w.mutable_path[at.index(w.mutable_path.len())];
            let mut bytes = w.path.into_bytes();
            bytes[pos] = if bytes[pos] == b'a' { b'b' } else { b'a' };
            w.path = String::from_utf8(bytes).unwrap();
            return w;
        }
        Mutation::QueryValue => {
            if let Some(i) = signed_param(&c.query, form, at) {
                let mut q = c.query.clone();
                q[i].value = mutate_text(&q[i].value, at);
                w.query = Some(encode_params(&q));
                return w;
            }
        }
        Mutation::FormValue => {
            if let Some(i) = c.form.as_ref().and_then(|f| signed_param(f, &c.query, at)) {
                let mut f = form.clone();
                f[i].value = mutate_text(&f[i].value, at);
                w.form = Some(encode_params(&f));
                return w;
            }
        }
        Mutation::HeaderValue => {
            let mut present: Vec<String> = extra_signed
                .iter()
                .filter(|n| w.headers.contains_key(n.as_str()))
                .cloned()
                .collect();
            present.extend(
                ["x-ca-key", "x-ca-timestamp", "x-ca-nonce", "x-ca-stage"]
                    .iter()
                    .filter(|n| w.headers.contains_key(**n))
                    .map(|n| n.to_string()),
            );
            let name = &present[at.index(present.len())];
            let mut value = w.headers[name.as_str()].as_bytes().to_vec();
            if value.is_empty() {
                value.push(b'x');
            } else {
                let i = at.index(value.len());
                value[i] = if value[i] == b'x' { b'y' } else { b'x' };
            }
            w.headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(&value).unwrap(),
            );
            return w;
        }
        Mutation::Secret => {}
    }
    w.secret = mutate_text(&w.secret, at);
    w
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn signed_requests_verify_and_mutations_fail(c in case(), m in mutation(), at in any::<Index>()) {
        let (mut w, extra_signed) = build(&c);
        let alg = if c.sha1 { Algorithm::HmacSha1 } else { Algorithm::HmacSha256 };
        let signer = ClientSigner { app_key: "203753385", app_secret: &c.secret, algorithm: alg };
        let extra: Vec<&str> = extra_signed.iter().map(String::as_str).collect();
        let sts = signer.sign(
            &w.method, &w.path, w.query.as_deref(), &mut w.headers,
            w.form.as_deref().map(str::as_bytes), &extra,
        );
        let sig = w.headers["x-ca-signature"].to_str().unwrap().to_owned();
        prop_assert_eq!(sig.len(), alg.signature_len());
        prop_assert_eq!(&sts, &string_to_sign(&w.request()));
        let ok = verify_detailed(&w.request(), alg, &[w.secret.as_bytes()], &sig);
        prop_assert_eq!(ok.map(|v| v.candidate), Ok(Candidate::Primary));

        let bad = apply(&c, &w, m, &at, &extra_signed);
        let res = verify(&bad.request(), alg, &[bad.secret.as_bytes()], &sig);
        prop_assert!(res.is_err(), "mutation {:?} still verified: {:?}", m, bad);
        let err = res.unwrap_err();
        prop_assert_eq!(err.string_to_sign(), &string_to_sign(&bad.request())[..]);
        if !matches!(m, Mutation::Secret) && bad.secret == w.secret {
            prop_assert_ne!(err.string_to_sign(), &sts[..]);
        }
    }

    /// Arbitrary bytes everywhere: no panic, and the crate accepts its own signature.
    #[test]
    fn never_panics(
        method in "\\PC{0,8}",
        path in "\\PC{0,24}",
        query in prop::option::of("[a-z%=&+0-9A-F\u{e9}\u{1F600}]{0,30}"),
        form in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        names in prop::collection::vec(any::<u8>(), 0..40),
        values in prop::collection::vec((
            prop::sample::select(vec!["accept", "content-type", "date", "content-md5", "x-a", "x-ca-key"]),
            prop::collection::vec(any::<u8>(), 0..16),
        ), 0..6),
        signature in "\\PC{0,50}",
    ) {
        let mut h = HeaderMap::new();
        for (n, v) in &values {
            if let Ok(v) = HeaderValue::from_bytes(v) {
                h.append(*n, v);
            }
        }
        if let Ok(v) = HeaderValue::from_bytes(&names) {
            h.insert("x-ca-signature-headers", v);
        }
        let req = SignedRequest {
            method: &method,
            path: &path,
            query: query.as_deref(),
            headers: &h,
            form: form.as_deref(),
        };
        let sts = string_to_sign(&req);
        let _ = verify(&req, Algorithm::HmacSha1, &[b"k"], &signature);
        let good = sign(Algorithm::HmacSha256, b"k", &sts);
        prop_assert_eq!(verify(&req, Algorithm::HmacSha256, &[b"x", b"k"], &good), Ok(1));
        if let Err(e) = verify(&req, Algorithm::HmacSha256, &[b"k"], &signature) {
            prop_assert!(!e.server_string_to_sign().contains('\n'));
        }
    }
}
