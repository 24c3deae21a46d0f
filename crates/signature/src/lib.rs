//! The CloudAPI **APP digest signature** ("摘要签名"), client → gateway, as specified in
//! `spec/signature.md`. Pure code: no I/O, no clock, no nonce store.
//!
//! # The scheme (spec §2, §3)
//!
//! The caller computes
//! `X-Ca-Signature = Base64(HMAC-SHA256|HMAC-SHA1(AppSecret, StringToSign))` where
//!
//! ```text
//! StringToSign = METHOD "\n" Accept "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
//!                { name ":" value "\n" }        -- the headers listed in X-Ca-Signature-Headers
//!                Path [ "?" key[=value] { "&" key[=value] } ]
//! ```
//!
//! * The four fixed headers are taken verbatim (first occurrence, empty when absent) (§3.1).
//! * Signed header names are emitted **as spelled in `X-Ca-Signature-Headers`**, sorted in Java
//!   `String.compareTo` order, de-duplicated; values are looked up case-insensitively, an absent
//!   header yields `name:`. `X-Ca-Signature*` and the four fixed names are dropped (§3.2).
//! * The path is the raw path as received; parameters are the query parameters plus — for a
//!   form-urlencoded body — the form parameters, form-decoded (`+` → space, `%XX`), sorted by
//!   key, first value of a repeated key, form value winning over a query value of the same key,
//!   an empty value signed as a bare key (§3.3).
//!
//! # Verification (spec §4)
//!
//! [`verify`] builds the primary StringToSign once and compares one HMAC per secret (several
//! secrets during a rotation grace period) in constant time. Only when that fails it tries, in
//! order, the fallback candidates that apply to the request:
//!
//! | Id | Applies when | Candidate |
//! |----|--------------|-----------|
//! | F1 | a key is in both query and form with different first values | query value wins |
//! | F2 | a key repeats (within its winning source) | all values joined with `,` (Node SDK) |
//! | F3 | the raw path contains a decodable `%XX` | path percent-decoded as UTF-8, `%2F`/`%5C` kept (Java SDK core) |
//! | F4 | `X-Ca-Signature-Headers` lists `Accept`/`Content-MD5`/`Content-Type`/`Date` | those names kept in the header block (Node `signHeaders`) |
//! | F5 | a query value holds `%` or `+` | query values as typed in the URL, undecoded (Python SDK `aliyun-api-gateway-sign` 1.0.4; not in the spec, found by running that SDK) |
//!
//! On failure the [`Mismatch`] always carries the **primary** string; its
//! [`Mismatch::server_string_to_sign`] is what goes between the back-ticks of the `A403IS`
//! message (`\n` replaced by `#`, spec §6).
//!
//! [`content_md5`] / [`check_content_md5`] implement §5.3, [`ClientSigner`] signs a request the
//! way the official SDKs do (for `apigw call` and tests).
//!
//! Nothing here panics on hostile input: header values may hold arbitrary bytes (they are signed
//! byte for byte), bad percent escapes are kept literally and invalid UTF-8 produced by decoding
//! is replaced by U+FFFD, like `form_urlencoded` does.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::header::{ACCEPT, CONTENT_TYPE, DATE};
use http::{HeaderMap, HeaderName, HeaderValue};
use md5::{Digest as _, Md5};
use subtle::ConstantTimeEq;
pub mod backend;
pub mod mgmt;

/// `X-Ca-Key` (lower-case, as stored in a [`HeaderMap`]).
pub const X_CA_KEY: &str = "x-ca-key";
/// `X-Ca-Signature`.
pub const X_CA_SIGNATURE: &str = "x-ca-signature";
/// `X-Ca-Signature-Method`.
pub const X_CA_SIGNATURE_METHOD: &str = "x-ca-signature-method";
/// `X-Ca-Signature-Headers`.
pub const X_CA_SIGNATURE_HEADERS: &str = "x-ca-signature-headers";
/// `X-Ca-Timestamp`.
pub const X_CA_TIMESTAMP: &str = "x-ca-timestamp";
/// `X-Ca-Nonce`.
pub const X_CA_NONCE: &str = "x-ca-nonce";
/// `Content-MD5`.
pub const CONTENT_MD5: &str = "content-md5";

/// The literal prefix of the signature-mismatch message (spec §6); the Node SDK strips exactly it.
pub const MISMATCH_PREFIX: &str = "Invalid Signature, Server StringToSign:";

/// HMAC algorithm named by `X-Ca-Signature-Method` (spec §1, §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// `HmacSHA256`, the default when `X-Ca-Signature-Method` is absent.
    #[default]
    HmacSha256,
    /// `HmacSHA1`.
    HmacSha1,
}

impl Algorithm {
    /// Parses the exact (case-sensitive) spelling `HmacSHA256` / `HmacSHA1`.
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name {
            "HmacSHA256" => Some(Algorithm::HmacSha256),
            "HmacSHA1" => Some(Algorithm::HmacSha1),
            _ => None,
        }
    }

    /// Resolves the raw `X-Ca-Signature-Method` header value: absent → `HmacSHA256`, otherwise
    /// [`Algorithm::parse`] (non-UTF-8 → `None`).
    pub fn from_header(value: Option<&[u8]>) -> Option<Algorithm> {
        match value {
            None => Some(Algorithm::HmacSha256),
            Some(v) => std::str::from_utf8(v).ok().and_then(Algorithm::parse),
        }
    }

    /// The wire name: `HmacSHA256` or `HmacSHA1`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "HmacSHA256",
            Algorithm::HmacSha1 => "HmacSHA1",
        }
    }

    /// Length of the Base64 signature text: 44 for SHA-256, 28 for SHA-1.
    pub fn signature_len(self) -> usize {
        match self {
            Algorithm::HmacSha256 => 44,
            Algorithm::HmacSha1 => 28,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The parts of a received request that take part in the signature.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// As received (upper-cased when building the string).
    pub method: &'a str,
    /// Raw path as on the wire, not decoded.
    pub path: &'a str,
    /// Raw query string without '?'.
    pub query: Option<&'a str>,
    /// All request headers.
    pub headers: &'a HeaderMap,
    /// The body when Content-Type is application/x-www-form-urlencoded (caller decides; pass None
    /// otherwise). See [`is_form_content_type`]. A `charset=` of ISO-8859-1 in Content-Type is
    /// honoured; every other charset is decoded as UTF-8.
    pub form: Option<&'a [u8]>,
}

/// Whether `Content-Type` starts with `application/x-www-form-urlencoded` (case-insensitive),
/// i.e. whether the body contributes parameters (spec §3.3).
pub fn is_form_content_type(headers: &HeaderMap) -> bool {
    const FORM: &[u8] = b"application/x-www-form-urlencoded";
    headers
        .get(CONTENT_TYPE)
        .map(|v| v.as_bytes())
        .is_some_and(|v| v.len() >= FORM.len() && v[..FORM.len()].eq_ignore_ascii_case(FORM))
}

/// Builds the primary StringToSign (bytes: header values may be non-UTF-8; keep exact bytes).
pub fn string_to_sign(req: &SignedRequest) -> Vec<u8> {
    let parsed = Parsed::new(req);
    let mut out = Vec::with_capacity(parsed.capacity_hint(req.path.len()));
    parsed.build(Candidate::Primary, req.path.as_bytes(), &mut out);
    out
}

/// Base64(HMAC(secret, data)).
pub fn sign(alg: Algorithm, secret: &[u8], data: &[u8]) -> String {
    let sig = SigBuf::compute(alg, secret, data);
    String::from_utf8_lossy(sig.as_bytes()).into_owned()
}

/// Which StringToSign candidate matched (spec §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Candidate {
    /// The primary string (§3).
    Primary,
    /// F1: query value wins over a form value of the same key.
    QueryWins,
    /// F2: values of a repeated key joined with `,`.
    CommaJoin,
    /// F3: percent-decoded path (`%2F`/`%5C` kept).
    DecodedPath,
    /// F4: `Accept`/`Content-MD5`/`Content-Type`/`Date` kept in the signed-header block.
    KeepFixedNames,
    /// F5: query values as typed in the URL, not percent-decoded (Python SDK 1.0.4 signs the
    /// URL text it was given).
    RawQuery,
}

/// A successful verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Index into the `secrets` slice of the secret that matched.
    pub secret_index: usize,
    /// The candidate string that matched.
    pub candidate: Candidate,
}

/// Verifies `signature` (the X-Ca-Signature value) against each of `secrets` (more than one during a
/// secret-rotation grace period), primary candidate first, then F1..F5 when applicable. Constant-time compare.
/// Returns Ok(index of the secret that matched) or Err(Mismatch).
pub fn verify(
    req: &SignedRequest,
    alg: Algorithm,
    secrets: &[&[u8]],
    signature: &str,
) -> Result<usize, Mismatch> {
    verify_detailed(req, alg, secrets, signature).map(|v| v.secret_index)
}

/// Like [`verify`], but also reports which candidate matched (for logging / metrics).
pub fn verify_detailed(
    req: &SignedRequest,
    alg: Algorithm,
    secrets: &[&[u8]],
    signature: &str,
) -> Result<Verified, Mismatch> {
    let parsed = Parsed::new(req);
    let mut primary = Vec::with_capacity(parsed.capacity_hint(req.path.len()));
    parsed.build(Candidate::Primary, req.path.as_bytes(), &mut primary);
    if let Some(secret_index) = match_secrets(alg, secrets, &primary, signature) {
        return Ok(Verified {
            secret_index,
            candidate: Candidate::Primary,
        });
    }
    // Fallbacks: only on failure, only when applicable (each would otherwise equal the primary).
    let mut buf = Vec::with_capacity(primary.len() + 32);
    let mut try_candidate = |candidate: Candidate, path: &[u8]| {
        parsed.build(candidate, path, &mut buf);
        match_secrets(alg, secrets, &buf, signature).map(|secret_index| Verified {
            secret_index,
            candidate,
        })
    };
    if parsed.applies(Candidate::QueryWins) {
        if let Some(v) = try_candidate(Candidate::QueryWins, req.path.as_bytes()) {
            return Ok(v);
        }
    }
    if parsed.applies(Candidate::CommaJoin) {
        if let Some(v) = try_candidate(Candidate::CommaJoin, req.path.as_bytes()) {
            return Ok(v);
        }
    }
    if let Some(path) = decode_path(req.path.as_bytes()) {
        if let Some(v) = try_candidate(Candidate::DecodedPath, &path) {
            return Ok(v);
        }
    }
    if parsed.applies(Candidate::KeepFixedNames) {
        if let Some(v) = try_candidate(Candidate::KeepFixedNames, req.path.as_bytes()) {
            return Ok(v);
        }
    }
    if parsed.applies(Candidate::RawQuery) {
        if let Some(v) = try_candidate(Candidate::RawQuery, req.path.as_bytes()) {
            return Ok(v);
        }
    }
    Err(Mismatch {
        string_to_sign: primary,
    })
}

/// Signature mismatch; carries the primary server StringToSign (spec §4, §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    string_to_sign: Vec<u8>,
}

impl Mismatch {
    /// The server StringToSign with every '\n' replaced by '#', lossily decoded as UTF-8 — what goes between
    /// the back-ticks of the A403IS message.
    pub fn server_string_to_sign(&self) -> String {
        let replaced: Vec<u8> = self
            .string_to_sign
            .iter()
            .map(|&b| if b == b'\n' { b'#' } else { b })
            .collect();
        match String::from_utf8(replaced) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// The primary server StringToSign, exact bytes (with `\n`).
    pub fn string_to_sign(&self) -> &[u8] {
        &self.string_to_sign
    }

    /// The whole `X-Ca-Error-Message` text:
    /// ``Invalid Signature, Server StringToSign:`…` `` (also what `Display` prints).
    pub fn message(&self) -> String {
        format!("{MISMATCH_PREFIX}`{}`", self.server_string_to_sign())
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Mismatch {}

/// Base64(MD5(body)) — the Content-MD5 value.
pub fn content_md5(body: &[u8]) -> String {
    STANDARD.encode(Md5::digest(body))
}

/// Why a `Content-MD5` check failed (spec §5.3, `I400I5 Invalid Content-MD5 ${Reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentMd5Error {
    /// The header is present but the body is empty.
    EmptyBody,
    /// Base64(MD5(body)) differs from the header value.
    Mismatch,
}

impl ContentMd5Error {
    /// Short reason text for the error message.
    pub fn reason(self) -> &'static str {
        match self {
            ContentMd5Error::EmptyBody => "body is empty",
            ContentMd5Error::Mismatch => "does not match the body",
        }
    }
}

impl fmt::Display for ContentMd5Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Invalid Content-MD5 {}", self.reason())
    }
}

impl std::error::Error for ContentMd5Error {}

/// Checks a received `Content-MD5` header value against the exact received body bytes
/// (plain string compare of the Base64 text; an empty body always fails, spec §5.3).
pub fn check_content_md5(header: &[u8], body: &[u8]) -> Result<(), ContentMd5Error> {
    if body.is_empty() {
        return Err(ContentMd5Error::EmptyBody);
    }
    let mut buf = [0u8; 24];
    let n = STANDARD
        .encode_slice(Md5::digest(body), &mut buf)
        .unwrap_or(0);
    if n == 24 && header == &buf[..] {
        Ok(())
    } else {
        Err(ContentMd5Error::Mismatch)
    }
}

/// Client side (used by our `apigw call` command and tests): signs a request the way the official SDKs do.
///
/// Choices made here:
/// * `X-Ca-Key` is set (overwritten) to `app_key`; bytes a header value cannot hold (control
///   characters) are dropped.
/// * `X-Ca-Signature-Method` is sent for `HmacSHA1` only (the gateway's default is `HmacSHA256`,
///   as in the Node/Python SDKs); when the caller already put one in `headers` for `HmacSHA256`
///   it is overwritten with `HmacSHA256` so it cannot contradict the algorithm.
/// * `X-Ca-Signature-Headers` = every `x-ca-*` header present (except the signature headers
///   themselves) plus the `extra_signed` names, lower-cased (like the Java SDK core / Node SDK),
///   sorted and de-duplicated. Extra names that are not valid header names, and the four
///   fixed-position names (`Accept`, `Content-MD5`, `Content-Type`, `Date`, already signed) are
///   skipped, so the request verifies with the primary candidate.
/// * Any previous `X-Ca-Signature` / `X-Ca-Signature-Headers` is replaced.
#[derive(Debug, Clone, Copy)]
pub struct ClientSigner<'a> {
    /// The AppKey (`X-Ca-Key`).
    pub app_key: &'a str,
    /// The AppSecret (HMAC key, raw UTF-8 bytes).
    pub app_secret: &'a str,
    /// HMAC algorithm.
    pub algorithm: Algorithm,
}

impl ClientSigner<'_> {
    /// Adds X-Ca-Key, X-Ca-Signature-Method (only for HmacSHA1, see the type docs), X-Ca-Signature-Headers
    /// (every x-ca-* header present plus `extra_signed` names, sorted), and X-Ca-Signature to `headers`,
    /// computed over method/path/query/headers/form. Returns the StringToSign it used (bytes) so a CLI can
    /// print it beside the server's. X-Ca-Timestamp / X-Ca-Nonce are the caller's business (add them to
    /// headers before signing).
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &mut HeaderMap,
        form: Option<&[u8]>,
        extra_signed: &[&str],
    ) -> Vec<u8> {
        headers.insert(
            HeaderName::from_static(X_CA_KEY),
            sanitized_header_value(self.app_key),
        );
        let method_name = HeaderName::from_static(X_CA_SIGNATURE_METHOD);
        if self.algorithm == Algorithm::HmacSha1 || headers.contains_key(&method_name) {
            headers.insert(method_name, HeaderValue::from_static(self.algorithm.name()));
        }
        headers.remove(X_CA_SIGNATURE);
        headers.remove(X_CA_SIGNATURE_HEADERS);

        let mut names: Vec<&str> = headers
            .keys()
            .map(HeaderName::as_str)
            .filter(|n| n.starts_with("x-ca-"))
            .collect();
        let extra: Vec<HeaderName> = extra_signed
            .iter()
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            .filter(|n| {
                !is_fixed_name(n.as_str().as_bytes()) && !is_signature_name(n.as_str().as_bytes())
            })
            .collect();
        names.extend(extra.iter().map(HeaderName::as_str));
        // Header names are lower-case ASCII tokens: byte order is Java order.
        names.sort_unstable();
        names.dedup();
        let joined = names.join(",");
        if let Ok(v) = HeaderValue::from_str(&joined) {
            headers.insert(HeaderName::from_static(X_CA_SIGNATURE_HEADERS), v);
        }

        let sts = string_to_sign(&SignedRequest {
            method,
            path,
            query,
            headers,
            form,
        });
        let sig = SigBuf::compute(self.algorithm, self.app_secret.as_bytes(), &sts);
        if let Ok(v) = HeaderValue::from_bytes(sig.as_bytes()) {
            headers.insert(HeaderName::from_static(X_CA_SIGNATURE), v);
        }
        sts
    }
}

fn sanitized_header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| {
        let bytes: Vec<u8> = s
            .bytes()
            .filter(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
            .collect();
        HeaderValue::from_bytes(&bytes).unwrap_or_else(|_| HeaderValue::from_static(""))
    })
}

// ---------------------------------------------------------------------------------------------
// Signature computation
// ---------------------------------------------------------------------------------------------

/// A Base64 signature on the stack (no allocation on the verify path).
struct SigBuf {
    buf: [u8; 44],
    len: usize,
}

impl SigBuf {
    fn compute(alg: Algorithm, secret: &[u8], data: &[u8]) -> SigBuf {
        let mut buf = [0u8; 44];
        let len = match alg {
            Algorithm::HmacSha256 => match Hmac::<sha2::Sha256>::new_from_slice(secret) {
                Ok(mut mac) => {
                    mac.update(data);
                    STANDARD
                        .encode_slice(mac.finalize().into_bytes(), &mut buf)
                        .unwrap_or(0)
                }
                Err(_) => 0,
            },
            Algorithm::HmacSha1 => match Hmac::<sha1::Sha1>::new_from_slice(secret) {
                Ok(mut mac) => {
                    mac.update(data);
                    STANDARD
                        .encode_slice(mac.finalize().into_bytes(), &mut buf)
                        .unwrap_or(0)
                }
                Err(_) => 0,
            },
        };
        SigBuf { buf, len }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Constant-time (in the signature contents) comparison with the received value.
    fn matches(&self, signature: &[u8]) -> bool {
        self.len > 0 && bool::from(self.as_bytes().ct_eq(signature))
    }
}

fn match_secrets(alg: Algorithm, secrets: &[&[u8]], data: &[u8], signature: &str) -> Option<usize> {
    secrets
        .iter()
        .position(|secret| SigBuf::compute(alg, secret, data).matches(signature.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// StringToSign construction
// ---------------------------------------------------------------------------------------------

/// One signed header name as spelled in `X-Ca-Signature-Headers` plus its (first) value.
struct SignedName<'a> {
    name: &'a [u8],
    /// `None` = absent (also while looking it up).
    value: Option<&'a [u8]>,
    /// One of Accept/Content-MD5/Content-Type/Date: only emitted by F4.
    fixed: bool,
    /// Has upper-case ASCII letters (else an exact compare with a `HeaderName` suffices).
    mixed_case: bool,
}

/// One query or form parameter: decoded key, raw (still encoded) value, decoded straight into
/// the output when emitted (see [`decode_into`]).
struct Param<'a> {
    key: Cow<'a, str>,
    value: &'a [u8],
    /// From the form body (else from the query string).
    form: bool,
    /// Decode the value as ISO-8859-1 instead of UTF-8.
    latin1: bool,
}

/// Everything derived from the request once; each candidate is then a cheap [`Parsed::build`].
struct Parsed<'a> {
    method: &'a [u8],
    accept: &'a [u8],
    content_md5: &'a [u8],
    content_type: &'a [u8],
    date: &'a [u8],
    names: Vec<SignedName<'a>>,
    /// Sorted by key (stable: query entries before form entries, arrival order inside each).
    params: Vec<Param<'a>>,
    params_len_hint: usize,
}

fn is_fixed_name(name: &[u8]) -> bool {
    [&b"accept"[..], b"content-md5", b"content-type", b"date"]
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
}

fn is_signature_name(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(X_CA_SIGNATURE.as_bytes())
        || name.eq_ignore_ascii_case(X_CA_SIGNATURE_HEADERS.as_bytes())
}

impl<'a> Parsed<'a> {
    fn new(req: &SignedRequest<'a>) -> Parsed<'a> {
        let headers = req.headers;

        // §3.2 signed header names.
        let mut names = Vec::new();
        if let Some(list) = headers.get(X_CA_SIGNATURE_HEADERS) {
            let list = list.as_bytes();
            names.reserve(list.iter().filter(|&&b| b == b',').count() + 1);
            for raw in list.split(|&b| b == b',') {
                let name = raw.trim_ascii();
                if name.is_empty() || is_signature_name(name) {
                    continue;
                }
                names.push(SignedName {
                    name,
                    value: None,
                    fixed: is_fixed_name(name),
                    mixed_case: name.iter().any(u8::is_ascii_uppercase),
                });
            }
            names.sort_by(|a, b| java_cmp(a.name, b.name));
            names.dedup_by(|a, b| a.name == b.name);
        }

        // One pass over the headers for the fixed lines and the signed names (cheaper than a
        // hashed lookup per name). Iteration yields the values of a name in order, so the first
        // value wins; names match ignoring ASCII case, exactly like `HeaderMap::get`.
        let (mut accept, mut content_md5, mut content_type, mut date) = (None, None, None, None);
        let mut unresolved = names.iter().filter(|n| !n.fixed).count();
        for (k, v) in headers {
            let slot = if k == ACCEPT {
                &mut accept
            } else if k == CONTENT_TYPE {
                &mut content_type
            } else if k == DATE {
                &mut date
            } else if k.as_str() == CONTENT_MD5 {
                &mut content_md5
            } else {
                if unresolved > 0 {
                    let k = k.as_str().as_bytes(); // always lower case
                    for n in names.iter_mut() {
                        if n.value.is_none()
                            && n.name.len() == k.len()
                            && (n.name == k || (n.mixed_case && n.name.eq_ignore_ascii_case(k)))
                        {
                            n.value = Some(v.as_bytes());
                            unresolved -= 1;
                        }
                    }
                }
                continue;
            };
            if slot.is_none() {
                *slot = Some(v.as_bytes());
            }
        }
        // F4 names (Accept, …) are skipped by the loop above; they are rare.
        for n in names.iter_mut().filter(|n| n.fixed) {
            n.value = std::str::from_utf8(n.name)
                .ok()
                .and_then(|name| headers.get(name))
                .map(HeaderValue::as_bytes);
        }
        let content_type = content_type.unwrap_or_default();

        // §3.3 parameters: query first, then form (stable sort keeps that order inside a key).
        let count = |b: &[u8]| b.iter().filter(|&&c| c == b'&').count() + 1;
        let query = req.query.map(str::as_bytes);
        let mut params = Vec::with_capacity(query.map_or(0, count) + req.form.map_or(0, count));
        let mut params_len_hint = 0;
        if let Some(q) = query {
            params_len_hint += q.len();
            parse_params(q, false, false, &mut params);
        }
        if let Some(f) = req.form {
            params_len_hint += f.len();
            parse_params(f, true, charset_is_latin1(content_type), &mut params);
        }
        params.sort_by(|a, b| java_cmp(a.key.as_bytes(), b.key.as_bytes()));

        Parsed {
            method: req.method.as_bytes(),
            accept: accept.unwrap_or_default(),
            content_md5: content_md5.unwrap_or_default(),
            content_type,
            date: date.unwrap_or_default(),
            names,
            params,
            params_len_hint,
        }
    }

    fn capacity_hint(&self, path_len: usize) -> usize {
        let headers: usize = self
            .names
            .iter()
            .map(|n| n.name.len() + n.value.map_or(0, <[u8]>::len) + 2)
            .sum();
        self.method.len()
            + self.accept.len()
            + self.content_md5.len()
            + self.content_type.len()
            + self.date.len()
            + 5
            + headers
            + path_len
            + 16 // separators, slack for decoded Latin-1 / U+FFFD growth
            + self.params_len_hint
    }

    /// Iterates over the parameter groups (all entries of one key).
    fn groups(&self) -> impl Iterator<Item = &[Param<'a>]> + '_ {
        let mut rest = &self.params[..];
        std::iter::from_fn(move || {
            let first = rest.first()?;
            let n = rest
                .iter()
                .position(|p| p.key != first.key)
                .unwrap_or(rest.len());
            let (group, tail) = rest.split_at(n);
            rest = tail;
            Some(group)
        })
    }

    /// Whether fallback `candidate` can differ from the primary string for this request.
    fn applies(&self, candidate: Candidate) -> bool {
        match candidate {
            Candidate::Primary => true,
            Candidate::QueryWins => self.groups().any(|g| {
                let q = g.iter().find(|p| !p.form);
                let f = g.iter().find(|p| p.form);
                // Raw comparison: equal encodings decode equally; differently encoded equal
                // values only cost one useless HMAC.
                matches!((q, f), (Some(q), Some(f)) if q.value != f.value || q.latin1 != f.latin1)
            }),
            Candidate::CommaJoin => self.groups().any(|g| {
                let use_form = g.iter().any(|p| p.form);
                g.iter().filter(|p| p.form == use_form).count() > 1
            }),
            Candidate::DecodedPath => true, // decided by `decode_path`
            Candidate::KeepFixedNames => self.names.iter().any(|n| n.fixed),
            Candidate::RawQuery => self
                .params
                .iter()
                .any(|p| !p.form && p.value.iter().any(|&b| b == b'%' || b == b'+')),
        }
    }

    fn build(&self, candidate: Candidate, path: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend(self.method.iter().map(u8::to_ascii_uppercase));
        for line in [self.accept, self.content_md5, self.content_type, self.date] {
            out.push(b'\n');
            out.extend_from_slice(line);
        }
        out.push(b'\n');
        for n in &self.names {
            if n.fixed && candidate != Candidate::KeepFixedNames {
                continue;
            }
            out.extend_from_slice(n.name);
            out.push(b':');
            out.extend_from_slice(n.value.unwrap_or_default());
            out.push(b'\n');
        }
        out.extend_from_slice(path);

        let mut sep = b'?';
        for group in self.groups() {
            out.push(sep);
            sep = b'&';
            out.extend_from_slice(group[0].key.as_bytes());
            let use_form = if candidate == Candidate::QueryWins {
                !group.iter().any(|p| !p.form)
            } else {
                group.iter().any(|p| p.form)
            };
            let mut values = group.iter().filter(|p| p.form == use_form);
            if candidate == Candidate::CommaJoin {
                let eq_at = out.len();
                out.push(b'=');
                for (i, p) in values.enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    decode_into(p.value, p.latin1, out);
                }
                if out.len() == eq_at + 1 {
                    out.pop(); // a single empty value: bare key
                }
            } else if let Some(p) = values.next() {
                if !p.value.is_empty() {
                    out.push(b'=');
                    if candidate == Candidate::RawQuery && !p.form {
                        out.extend_from_slice(p.value);
                    } else {
                        decode_into(p.value, p.latin1, out);
                    }
                }
            }
        }
    }
}

/// Splits `input` on `&`, each piece at its first `=`, form-decodes key and value; skips empty
/// pieces and empty keys (§3.3).
fn parse_params<'a>(input: &'a [u8], form: bool, latin1: bool, out: &mut Vec<Param<'a>>) {
    for piece in input.split(|&b| b == b'&') {
        if piece.is_empty() {
            continue;
        }
        let (k, v) = match piece.iter().position(|&b| b == b'=') {
            Some(i) => (&piece[..i], &piece[i + 1..]),
            None => (piece, &[][..]),
        };
        if k.is_empty() {
            continue;
        }
        out.push(Param {
            key: form_decode(k, latin1),
            value: v,
            form,
            latin1,
        });
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `%XX` at `input[i..]`, if well formed.
fn escape_at(input: &[u8], i: usize) -> Option<u8> {
    let hi = hex_val(*input.get(i + 1)?)?;
    let lo = hex_val(*input.get(i + 2)?)?;
    Some(hi << 4 | lo)
}

fn bytes_to_string(bytes: Cow<'_, [u8]>, latin1: bool) -> Cow<'_, str> {
    if latin1 && !bytes.is_ascii() {
        return Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect());
    }
    match bytes {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => match String::from_utf8(v) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// Appends the form-decoding of `input` (same rules as [`form_decode`]) to `out` without an
/// intermediate allocation in the common case. A non-empty input never decodes to an empty
/// string, so "empty value" is decided on the raw bytes.
fn decode_into(input: &[u8], latin1: bool, out: &mut Vec<u8>) {
    let start = out.len();
    let mut ascii = true;
    let mut i = 0;
    while i < input.len() {
        let b = match input[i] {
            b'+' => b' ',
            b'%' => match escape_at(input, i) {
                Some(b) => {
                    i += 2;
                    b
                }
                None => b'%',
            },
            b => b,
        };
        i += 1;
        if b < 0x80 {
            out.push(b);
        } else if latin1 {
            let mut utf8 = [0u8; 2];
            out.extend_from_slice(char::from(b).encode_utf8(&mut utf8).as_bytes());
        } else {
            ascii = false;
            out.push(b);
        }
    }
    if !ascii && std::str::from_utf8(&out[start..]).is_err() {
        let fixed = String::from_utf8_lossy(&out[start..]).into_owned();
        out.truncate(start);
        out.extend_from_slice(fixed.as_bytes());
    }
}

/// application/x-www-form-urlencoded decoding: `+` → space, `%XX` → byte (malformed escapes kept
/// literally), then UTF-8 (lossy) or ISO-8859-1.
fn form_decode(input: &[u8], latin1: bool) -> Cow<'_, str> {
    if !input.iter().any(|&b| b == b'+' || b == b'%') {
        return bytes_to_string(Cow::Borrowed(input), latin1);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                if let Some(b) = escape_at(input, i) {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    bytes_to_string(Cow::Owned(out), latin1)
}

/// F3 path: percent-decode, keep `%2F` / `%5C` (any hex case) encoded, leave `+` alone; `None`
/// when nothing would change or the result is not valid UTF-8.
fn decode_path(raw: &[u8]) -> Option<Vec<u8>> {
    if !raw.contains(&b'%') {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut changed = false;
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            if let Some(b) = escape_at(raw, i) {
                if b == b'/' || b == b'\\' {
                    out.extend_from_slice(&raw[i..i + 3]);
                } else {
                    out.push(b);
                    changed = true;
                }
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    (changed && std::str::from_utf8(&out).is_ok()).then_some(out)
}

/// Whether Content-Type carries an ISO-8859-1 charset (the only non-UTF-8 charset decoded).
fn charset_is_latin1(content_type: &[u8]) -> bool {
    content_type.split(|&b| b == b';').skip(1).any(|param| {
        let param = param.trim_ascii();
        let Some(eq) = param.iter().position(|&b| b == b'=') else {
            return false;
        };
        if !param[..eq].trim_ascii().eq_ignore_ascii_case(b"charset") {
            return false;
        }
        let mut value = param[eq + 1..].trim_ascii();
        if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
            value = &value[1..value.len() - 1];
        }
        [
            &b"iso-8859-1"[..],
            b"iso8859-1",
            b"iso_8859-1",
            b"iso8859_1",
            b"latin1",
            b"latin-1",
            b"l1",
        ]
        .iter()
        .any(|c| value.eq_ignore_ascii_case(c))
    })
}

/// Java `String.compareTo` order (UTF-16 code units) on UTF-8 text; byte order otherwise.
/// Byte order and UTF-16 order agree except for supplementary characters vs U+E000..U+FFFF, so
/// the slow path only runs when the first difference lies inside two non-ASCII characters.
fn java_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    match (a.get(n), b.get(n)) {
        (Some(&x), Some(&y)) if x >= 0x80 && y >= 0x80 => {
            match (std::str::from_utf8(a), std::str::from_utf8(b)) {
                (Ok(s), Ok(t)) => s.encode_utf16().cmp(t.encode_utf16()),
                _ => x.cmp(&y),
            }
        }
        (x, y) => x.cmp(&y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_order() {
        assert_eq!(java_cmp(b"X-Ca-Key", b"X-Ca-Nonce"), Ordering::Less);
        assert_eq!(java_cmp(b"X-Ca-Nonce", b"a-header1"), Ordering::Less);
        assert_eq!(java_cmp(b"a", b"ab"), Ordering::Less);
        assert_eq!(java_cmp(b"ab", b"ab"), Ordering::Equal);
        // U+1F600 (surrogates D83D DE00) sorts before U+FF61 in UTF-16, after it in UTF-8.
        let emoji = "\u{1F600}".as_bytes();
        let halfwidth = "\u{FF61}".as_bytes();
        assert!(emoji > halfwidth);
        assert_eq!(java_cmp(emoji, halfwidth), Ordering::Less);
        assert_eq!(
            java_cmp("a\u{E9}".as_bytes(), "a\u{1F600}".as_bytes()),
            Ordering::Less
        );
        assert_eq!(java_cmp(b"\xff", b"\xfe"), Ordering::Greater);
    }

    #[test]
    fn decoding() {
        assert_eq!(form_decode(b"a+b%20c", false), "a b c");
        assert_eq!(form_decode(b"%zz%4", false), "%zz%4");
        assert_eq!(form_decode(b"%E4%B8", false), "\u{FFFD}");
        assert_eq!(form_decode(b"caf%E9", true), "caf\u{E9}");
        assert_eq!(form_decode(b"plain", false), "plain");
        assert!(matches!(form_decode(b"plain", false), Cow::Borrowed(_)));
        assert_eq!(decode_path(b"/a/b"), None);
        assert_eq!(decode_path(b"/a%2fb%5C"), None);
        assert_eq!(
            decode_path(b"/%E6%96%87/a%2Fb+c").unwrap(),
            "/文/a%2Fb+c".as_bytes()
        );
        assert_eq!(decode_path(b"/%FF"), None);
        assert_eq!(decode_path(b"/%"), None);
    }

    proptest::proptest! {
        #[test]
        fn decode_into_matches_form_decode(input in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(b"%+=&aF09".to_vec()),
                proptest::num::u8::ANY,
            ],
            0..24,
        ), latin1: bool) {
            let mut out = b"prefix".to_vec();
            decode_into(&input, latin1, &mut out);
            let expected = form_decode(&input, latin1);
            proptest::prop_assert_eq!(&out[6..], expected.as_bytes());
            proptest::prop_assert_eq!(input.is_empty(), out.len() == 6);
        }
    }

    #[test]
    fn charset() {
        assert!(charset_is_latin1(
            b"application/x-www-form-urlencoded; charset=ISO-8859-1"
        ));
        assert!(charset_is_latin1(
            b"application/x-www-form-urlencoded;charset=\"latin1\""
        ));
        assert!(!charset_is_latin1(
            b"application/x-www-form-urlencoded; charset=utf-8"
        ));
        assert!(!charset_is_latin1(b"application/x-www-form-urlencoded"));
    }

    #[test]
    fn algorithm() {
        assert_eq!(Algorithm::parse("HmacSHA256"), Some(Algorithm::HmacSha256));
        assert_eq!(Algorithm::parse("HmacSHA1"), Some(Algorithm::HmacSha1));
        assert_eq!(Algorithm::parse("hmacsha256"), None);
        assert_eq!(Algorithm::from_header(None), Some(Algorithm::HmacSha256));
        assert_eq!(
            Algorithm::from_header(Some(b"HmacSHA1")),
            Some(Algorithm::HmacSha1)
        );
        assert_eq!(Algorithm::from_header(Some(b"MD5")), None);
        for a in [Algorithm::HmacSha256, Algorithm::HmacSha1] {
            assert_eq!(Algorithm::parse(a.name()), Some(a));
            assert_eq!(sign(a, b"k", b"d").len(), a.signature_len());
        }
    }

    #[test]
    fn header_lookup_is_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert("x-custom", HeaderValue::from_static("v"));
        assert!(h.get("X-CuStOm").is_some());
        assert!(h.get("bad name").is_none());
    }
}
