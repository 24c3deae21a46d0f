//! Request signatures of the **management API** (CloudAPI `2016-07-14`, RPC style), as specified
//! in `spec/management-signature.md`; error codes from `spec/management-errors.md` §4. Pure code:
//! no I/O, no clock, no nonce store, no key store.
//!
//! # Schemes (spec §1)
//!
//! * **V3** `ACS3-HMAC-SHA256` (Tea SDK default): an `Authorization` header starting with
//!   `ACS3-`. `signature = hex(HMAC-SHA256(secret, "ACS3-HMAC-SHA256\n" + hex(SHA256(CR))))`
//!   over a canonical request `CR` of method, path, the *query* parameters, the headers named in
//!   `SignedHeaders` and the SHA-256 of the body (§4.2).
//! * **V1** classic RPC `HMAC-SHA1` (Tea SDK with `signature_algorithm='v2'`, legacy
//!   `aliyun-python-sdk-core`): a `Signature` parameter.
//!   `signature = base64(HMAC-SHA1(secret + "&", METHOD + "&%2F&" + pct(canonical)))` over every
//!   query and form parameter except `Signature` (§3.2).
//!
//! # Use on the server
//!
//! ```text
//! let parsed = mgmt::parse(&req)?;                  // Missing*, InvalidTimeStamp.Format, ...
//! let secret = lookup(&parsed.access_key_id)?;      // InvalidAccessKeyId.NotFound (caller)
//! parsed.verify(secret)?;                           // SignatureDoesNotMatch
//! check window(parsed.timestamp_ms), nonce(parsed.nonce)   // caller: InvalidTimeStamp.Expired,
//!                                                          //         SignatureNonceUsed
//! dispatch(parsed.action, parsed.version, parsed.params)
//! ```
//!
//! [`parse`] does all the work that needs no secret (the string-to-sign is built there), so
//! [`Parsed::verify`] is one HMAC and a constant-time compare.
//!
//! # Choices where the spec leaves room
//!
//! * **Parameters** are the query parameters followed by the form-body parameters (only when
//!   `Content-Type` is `application/x-www-form-urlencoded`, see
//!   [`is_form_content_type`]), form-decoded (`+` = space, `%XX` =
//!   byte, invalid UTF-8 replaced by U+FFFD; an ISO-8859-1 `charset` is honoured), pieces with an
//!   empty key skipped, a piece without `=` is a key with an empty value. **One value per key:**
//!   a later occurrence replaces an earlier one (so the body wins over the query, spec §3.2), the
//!   key keeping the position of its first occurrence. V1 signs exactly this merged set (minus
//!   `Signature`), so what is signed is what [`Parsed::params`] shows. V3 signs the query as
//!   received (every pair, repeated keys included, §4.2) and the body through its hash.
//! * [`Parsed::params`] leaves out the protocol keys [`PROTOCOL_KEYS`] (`Action`, `Version`,
//!   `Format`, `AccessKeyId`, `Signature`, `SignatureMethod`, `SignatureVersion`,
//!   `SignatureNonce`, `SignatureType`, `Timestamp`) in **both** schemes; `RegionId` and
//!   `SecurityToken` stay visible (spec §5 pseudo-code). The STS token is also in
//!   [`Parsed::security_token`] (V1 `SecurityToken`, V3 `x-acs-security-token`).
//! * **Scheme detection** (§1.4): `Authorization: ACS3-…` → V3; else a `Signature` parameter →
//!   V1; else a bearer token (`x-acs-bearer-token`, `BearerToken`, `SignatureType=BEARERTOKEN`)
//!   → 400 `InvalidAuthorization`; else another `Authorization` header (ROA `acs …`, `Basic …`)
//!   → 400 `UnsupportedSignatureMethod`; else V1 (→ `MissingAccessKeyId`, `MissingSignature`, …).
//! * **V1**: required, in this order (§3.3): `AccessKeyId`, `Signature`, `SignatureNonce`,
//!   `Timestamp`, `SignatureMethod`, `SignatureVersion`, then `Action`, `Version` (an empty value
//!   counts as missing) → `Missing<Name>`. `Format` is not required. `SignatureMethod` must be
//!   `HMAC-SHA1` (`UnsupportedSignatureMethod` otherwise, `HMAC-SHA256` included, as §3.3.2 says),
//!   `SignatureVersion` `1.0` (`InvalidSignatureVersion`).
//! * **V3**: `Authorization` = algorithm, one space, then exactly the three comma-separated
//!   members `Credential`, `SignedHeaders`, `Signature` (any order, spaces around members
//!   allowed, none empty, no others) else `IncompleteSignature`; an algorithm other than
//!   `ACS3-HMAC-SHA256` → `UnsupportedSignatureMethod`. Headers `x-acs-action`,
//!   `x-acs-version`, `x-acs-date`, `x-acs-signature-nonce` absent or empty → `MissingAction`,
//!   `MissingVersion`, `MissingTimestamp`, `MissingSignatureNonce` (the V1 names of the same
//!   fields); `x-acs-content-sha256` absent → `IncompleteSignature`. `SignedHeaders` must name
//!   `host`, the five `x-acs-*` headers above, `x-acs-security-token` when present and
//!   `content-type` when the body is not empty (else the action, the date or the meaning of the
//!   body could be changed without breaking the signature) → `IncompleteSignature`.
//!   `SignedHeaders` is used as sent (order and spelling; values looked up ignoring case); an
//!   absent signed header is signed as `name:`. The canonical URI is the raw path (`/` when
//!   empty). `x-acs-content-sha256` differing from the body's hash is reported by
//!   [`Parsed::verify`] as `SignatureDoesNotMatch`.
//! * **Timestamps** (`Timestamp`, `x-acs-date`): `YYYY-MM-DDThh:mm:ssZ`, optionally with 1–9
//!   fraction digits before the `Z` (truncated to milliseconds); anything else (other offsets,
//!   lower-case `t`/`z`, out-of-range fields, second 60) → `InvalidTimeStamp.Format`.
//! * **`SignatureDoesNotMatch` message**: `Specified signature does not match our calculation.
//!   Server string to sign is:<string-to-sign>` — exactly one `:`, then exactly the server's
//!   string-to-sign, nothing after it (the legacy SDK compares `Message.split(':')[1]` with its
//!   own string). For V3 that is `ACS3-HMAC-SHA256` + a real `\n` + the hex digest (the JSON
//!   encoder writes the newline as `\n`); the canonical request (which holds colons) is
//!   available from [`Parsed::canonical_request`] for logs. A `:` can only reach a V1 string
//!   through a malformed method; it is written `%3A` in the message.
//! * The method is upper-cased in both schemes.
//!
//! Nothing here panics on hostile input.

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::HeaderMap;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use crate::{charset_is_latin1, form_decode, is_form_content_type};

/// The V3 algorithm name.
pub const ACS3_HMAC_SHA256: &str = "ACS3-HMAC-SHA256";
/// The only V1 `SignatureMethod` accepted.
pub const HMAC_SHA1: &str = "HMAC-SHA1";
/// The only V1 `SignatureVersion` accepted.
pub const SIGNATURE_VERSION_1_0: &str = "1.0";
/// Lower-case hex SHA-256 of an empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Parameters that belong to the signature protocol, left out of [`Parsed::params`].
pub const PROTOCOL_KEYS: &[&str] = &[
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
];

const X_ACS_ACTION: &str = "x-acs-action";
const X_ACS_VERSION: &str = "x-acs-version";
const X_ACS_DATE: &str = "x-acs-date";
const X_ACS_SIGNATURE_NONCE: &str = "x-acs-signature-nonce";
const X_ACS_CONTENT_SHA256: &str = "x-acs-content-sha256";
const X_ACS_SECURITY_TOKEN: &str = "x-acs-security-token";
const X_ACS_BEARER_TOKEN: &str = "x-acs-bearer-token";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

const MISMATCH_MESSAGE: &str =
    "Specified signature does not match our calculation. Server string to sign is:";
const CONTENT_HASH_MESSAGE: &str = "The x-acs-content-sha256 header does not match the SHA-256 of the request body. Server string to sign is:";

/// `pct` of spec §2: everything but `A-Z a-z 0-9 - _ . ~` as `%XX` (upper-case hex).
const PCT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Which signature a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Classic RPC signature: `Signature` parameter, HMAC-SHA1 (spec §3).
    V1,
    /// `ACS3-HMAC-SHA256` in the `Authorization` header (spec §4).
    V3,
}

impl Scheme {
    /// `V1` / `V3`, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::V1 => "V1",
            Scheme::V3 => "V3",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a received management request carries, as received.
#[derive(Debug, Clone, Copy)]
pub struct MgmtRequest<'a> {
    /// HTTP method as received (upper-cased for signing).
    pub method: &'a str,
    /// Raw path as on the wire (V3 canonical URI; `/` when empty). V1 always signs `/`.
    pub path: &'a str,
    /// Raw query string without `?`.
    pub query: Option<&'a str>,
    /// All request headers. Over HTTP/2 the caller must put the authority into `host` (V3 signs
    /// `host`).
    pub headers: &'a HeaderMap,
    /// The whole body, de-chunked. Parameters are read from it only when `Content-Type` is
    /// `application/x-www-form-urlencoded`; V3 hashes it in any case.
    pub body: &'a [u8],
}

/// A signature failure: error code, HTTP status and message for the JSON error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MgmtError {
    /// e.g. `SignatureDoesNotMatch`, `MissingAccessKeyId`, `InvalidTimeStamp.Format`.
    pub code: &'static str,
    /// Always 400 for the errors of this module.
    pub status: u16,
    /// Human text; for `SignatureDoesNotMatch` `…is:<server string-to-sign>`.
    pub message: String,
}

impl MgmtError {
    fn new(code: &'static str, message: impl Into<String>) -> MgmtError {
        MgmtError {
            code,
            status: 400,
            message: message.into(),
        }
    }

    fn missing(code: &'static str, name: &str) -> MgmtError {
        MgmtError::new(code, format!("{name} must be provided."))
    }

    fn incomplete(detail: &str) -> MgmtError {
        MgmtError::new(
            "IncompleteSignature",
            format!("The Authorization header is malformed or incomplete: {detail}."),
        )
    }

    fn bad_timestamp(name: &str) -> MgmtError {
        MgmtError::new(
            "InvalidTimeStamp.Format",
            format!("Specified {name} is not in ISO-8601 UTC format (YYYY-MM-DDThh:mm:ssZ)."),
        )
    }
}

impl fmt::Display for MgmtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for MgmtError {}

/// A parsed management request, ready for [`Parsed::verify`].
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The signature scheme.
    pub scheme: Scheme,
    /// `AccessKeyId` (V1) / `Credential` of the `Authorization` header (V3).
    pub access_key_id: String,
    /// Milliseconds since the epoch, from `Timestamp` (V1) or `x-acs-date` (V3).
    pub timestamp_ms: i64,
    /// `SignatureNonce` (V1) / `x-acs-signature-nonce` (V3).
    pub nonce: String,
    /// `Action` (V1) / `x-acs-action` (V3).
    pub action: String,
    /// `Version` (V1) / `x-acs-version` (V3).
    pub version: String,
    /// `SecurityToken` (V1) / `x-acs-security-token` (V3), when present (STS credentials).
    pub security_token: Option<String>,
    /// Every business parameter: query then form body, decoded, one value per key (a later
    /// occurrence wins, at the first one's position), without [`PROTOCOL_KEYS`].
    pub params: Vec<(String, String)>,
    string_to_sign: String,
    /// V3 only.
    canonical_request: Option<Vec<u8>>,
    signature: String,
    /// V3: `x-acs-content-sha256` equals the body's hash (always true for V1).
    content_hash_ok: bool,
}

impl Parsed {
    /// Verifies the request with the AccessKey secret (constant-time compare).
    /// Err = 400 `SignatureDoesNotMatch`, message `…is:<server string-to-sign>`.
    pub fn verify(&self, secret: &str) -> Result<(), MgmtError> {
        if !self.content_hash_ok {
            return Err(self.mismatch(CONTENT_HASH_MESSAGE));
        }
        let ok = match self.scheme {
            Scheme::V1 => {
                let mut key = Vec::with_capacity(secret.len() + 1);
                key.extend_from_slice(secret.as_bytes());
                key.push(b'&');
                let expected = STANDARD.encode(hmac_sha1(&key, self.string_to_sign.as_bytes()));
                bool::from(expected.as_bytes().ct_eq(self.signature.as_bytes()))
            }
            Scheme::V3 => {
                let expected = hex_lower(&hmac_sha256(
                    secret.as_bytes(),
                    self.string_to_sign.as_bytes(),
                ));
                bool::from(expected.as_bytes().ct_eq(self.signature.as_bytes()))
            }
        };
        if ok {
            Ok(())
        } else {
            Err(self.mismatch(MISMATCH_MESSAGE))
        }
    }

    fn mismatch(&self, prefix: &str) -> MgmtError {
        MgmtError::new(
            "SignatureDoesNotMatch",
            format!("{prefix}{}", self.string_to_sign.replace(':', "%3A")),
        )
    }

    /// The server's string-to-sign (V1: `METHOD&%2F&…`; V3: `ACS3-HMAC-SHA256\n<hex>`).
    pub fn string_to_sign(&self) -> &str {
        &self.string_to_sign
    }

    /// V3: the canonical request (exact bytes; header values may be non-UTF-8). `None` for V1.
    pub fn canonical_request(&self) -> Option<&[u8]> {
        self.canonical_request.as_deref()
    }

    /// The signature as received (Base64 for V1, hex for V3).
    pub fn signature(&self) -> &str {
        &self.signature
    }
}

/// Detects the scheme and parses the request; builds the string-to-sign. Errors (all 400):
/// `Missing<Name>`, `IncompleteSignature`, `UnsupportedSignatureMethod`,
/// `InvalidSignatureVersion`, `InvalidTimeStamp.Format`, `InvalidAuthorization` (see the module
/// documentation).
pub fn parse(req: &MgmtRequest) -> Result<Parsed, MgmtError> {
    let headers = req.headers;
    let query_pairs = decode_pairs(req.query.unwrap_or_default().as_bytes(), false);
    let form_pairs = if is_form_content_type(headers) {
        let latin1 = headers
            .get(CONTENT_TYPE)
            .is_some_and(|v| charset_is_latin1(v.as_bytes()));
        decode_pairs(req.body, latin1)
    } else {
        Vec::new()
    };
    let mut all = query_pairs.clone();
    all.extend(form_pairs);
    let merged = merge(all);

    let auth = headers.get(AUTHORIZATION).map(|v| v.as_bytes());
    if let Some(auth) = auth.filter(|a| a.starts_with(b"ACS3-")) {
        return parse_v3(req, auth, &query_pairs, merged);
    }
    if get(&merged, "Signature").is_none() {
        let bearer = headers.contains_key(X_ACS_BEARER_TOKEN)
            || get(&merged, "BearerToken").is_some()
            || get(&merged, "SignatureType").is_some_and(|t| t.eq_ignore_ascii_case("BEARERTOKEN"));
        if bearer {
            return Err(MgmtError::new(
                "InvalidAuthorization",
                "Bearer-token authentication is not supported; sign the request with an AccessKey.",
            ));
        }
        if auth.is_some() {
            return Err(MgmtError::new(
                "UnsupportedSignatureMethod",
                "The Authorization header is not supported; use ACS3-HMAC-SHA256 or the HMAC-SHA1 Signature parameter.",
            ));
        }
    }
    parse_v1(req, merged)
}

fn parse_v1(req: &MgmtRequest, merged: Vec<(String, String)>) -> Result<Parsed, MgmtError> {
    let required = |name: &str, code: &'static str| -> Result<String, MgmtError> {
        get(&merged, name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| MgmtError::missing(code, name))
    };
    let access_key_id = required("AccessKeyId", "MissingAccessKeyId")?;
    let signature = required("Signature", "MissingSignature")?;
    let nonce = required("SignatureNonce", "MissingSignatureNonce")?;
    let timestamp = required("Timestamp", "MissingTimestamp")?;
    let method = required("SignatureMethod", "MissingSignatureMethod")?;
    let sig_version = required("SignatureVersion", "MissingSignatureVersion")?;
    if method != HMAC_SHA1 {
        return Err(MgmtError::new(
            "UnsupportedSignatureMethod",
            format!("Specified SignatureMethod `{method}` is not supported; use {HMAC_SHA1}."),
        ));
    }
    if sig_version != SIGNATURE_VERSION_1_0 {
        return Err(MgmtError::new(
            "InvalidSignatureVersion",
            format!(
                "Specified SignatureVersion `{sig_version}` is not supported; use {SIGNATURE_VERSION_1_0}."
            ),
        ));
    }
    let timestamp_ms =
        parse_timestamp(&timestamp).ok_or_else(|| MgmtError::bad_timestamp("Timestamp"))?;
    let action = required("Action", "MissingAction")?;
    let version = required("Version", "MissingVersion")?;
    let security_token = get(&merged, "SecurityToken").map(str::to_owned);

    let string_to_sign = v1_string_to_sign(req.method, &merged);
    Ok(Parsed {
        scheme: Scheme::V1,
        access_key_id,
        timestamp_ms,
        nonce,
        action,
        version,
        security_token,
        params: business(merged),
        string_to_sign,
        canonical_request: None,
        signature,
        content_hash_ok: true,
    })
}

/// `METHOD&%2F&pct(canonical)` over `params` (one value per key) minus `Signature` (§3.2).
fn v1_string_to_sign(method: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> =
        params.iter().filter(|(k, _)| k != "Signature").collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut canonical = String::new();
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            canonical.push('&');
        }
        pct_into(k, &mut canonical);
        canonical.push('=');
        pct_into(v, &mut canonical);
    }
    let mut sts = method.to_ascii_uppercase();
    sts.push_str("&%2F&");
    pct_into(&canonical, &mut sts);
    sts
}

/// The members of an `ACS3-…` Authorization header.
struct Authorization<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(auth: &[u8]) -> Result<Authorization<'_>, MgmtError> {
    let auth = std::str::from_utf8(auth)
        .map_err(|_| MgmtError::incomplete("not valid UTF-8"))?
        .trim();
    let (algorithm, rest) = match auth.split_once(' ') {
        Some((a, r)) => (a, r),
        None => (auth, ""),
    };
    if algorithm != ACS3_HMAC_SHA256 {
        return Err(MgmtError::new(
            "UnsupportedSignatureMethod",
            format!("Specified signature algorithm `{algorithm}` is not supported; use {ACS3_HMAC_SHA256}."),
        ));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for member in rest.split(',') {
        let (name, value) = member.trim().split_once('=').ok_or_else(|| {
            MgmtError::incomplete("expected Credential=…,SignedHeaders=…,Signature=…")
        })?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(MgmtError::incomplete("unknown member")),
        };
        if slot.is_some() {
            return Err(MgmtError::incomplete("repeated member"));
        }
        if value.is_empty() {
            return Err(MgmtError::incomplete("empty member"));
        }
        *slot = Some(value);
    }
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) => Ok(Authorization {
            credential,
            signed_headers,
            signature,
        }),
        (None, _, _) => Err(MgmtError::incomplete("Credential is missing")),
        (_, None, _) => Err(MgmtError::incomplete("SignedHeaders is missing")),
        (_, _, None) => Err(MgmtError::incomplete("Signature is missing")),
    }
}

/// First value of a header, trimmed, lossily decoded; `None` when absent or empty.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let v = headers.get(name)?.as_bytes().trim_ascii();
    (!v.is_empty()).then(|| String::from_utf8_lossy(v).into_owned())
}

fn parse_v3(
    req: &MgmtRequest,
    auth: &[u8],
    query_pairs: &[(String, String)],
    merged: Vec<(String, String)>,
) -> Result<Parsed, MgmtError> {
    let headers = req.headers;
    let auth = parse_authorization(auth)?;
    let names: Vec<&str> = auth.signed_headers.split(';').collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(MgmtError::incomplete("SignedHeaders has an empty name"));
    }

    let required = |name: &'static str, code: &'static str| {
        header_text(headers, name).ok_or_else(|| MgmtError::missing(code, name))
    };
    let action = required(X_ACS_ACTION, "MissingAction")?;
    let version = required(X_ACS_VERSION, "MissingVersion")?;
    let date = required(X_ACS_DATE, "MissingTimestamp")?;
    let nonce = required(X_ACS_SIGNATURE_NONCE, "MissingSignatureNonce")?;
    let claimed_hash = header_text(headers, X_ACS_CONTENT_SHA256)
        .ok_or_else(|| MgmtError::incomplete("the x-acs-content-sha256 header is missing"))?;
    let security_token = header_text(headers, X_ACS_SECURITY_TOKEN);

    let is_signed = |h: &str| names.iter().any(|n| n.eq_ignore_ascii_case(h));
    let mut must_sign = vec![
        "host",
        X_ACS_ACTION,
        X_ACS_VERSION,
        X_ACS_DATE,
        X_ACS_SIGNATURE_NONCE,
        X_ACS_CONTENT_SHA256,
    ];
    if headers.contains_key(X_ACS_SECURITY_TOKEN) {
        must_sign.push(X_ACS_SECURITY_TOKEN);
    }
    if !req.body.is_empty() {
        must_sign.push("content-type");
    }
    if let Some(h) = must_sign.into_iter().find(|h| !is_signed(h)) {
        return Err(MgmtError::incomplete(&format!(
            "SignedHeaders must include {h}"
        )));
    }

    let timestamp_ms =
        parse_timestamp(&date).ok_or_else(|| MgmtError::bad_timestamp(X_ACS_DATE))?;

    let body_hash = hex_lower(&Sha256::digest(req.body));
    let canonical_request = v3_canonical_request(
        req.method,
        req.path,
        query_pairs,
        headers,
        &names,
        auth.signed_headers,
        &body_hash,
    );
    let string_to_sign = v3_string_to_sign(&canonical_request);

    Ok(Parsed {
        scheme: Scheme::V3,
        access_key_id: auth.credential.to_owned(),
        timestamp_ms,
        nonce,
        action,
        version,
        security_token,
        params: business(merged),
        string_to_sign,
        canonical_request: Some(canonical_request),
        signature: auth.signature.to_owned(),
        content_hash_ok: claimed_hash == body_hash,
    })
}

/// §4.2 canonical request.
fn v3_canonical_request(
    method: &str,
    path: &str,
    query_pairs: &[(String, String)],
    headers: &HeaderMap,
    names: &[&str],
    signed_headers: &str,
    body_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + path.len() + query_pairs.len() * 32);
    out.extend(method.bytes().map(|b| b.to_ascii_uppercase()));
    out.push(b'\n');
    out.extend_from_slice(if path.is_empty() { "/" } else { path }.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(query_pairs).as_bytes());
    out.push(b'\n');
    for name in names {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut values: Vec<&[u8]> = headers
            .get_all(*name)
            .iter()
            .map(|v| v.as_bytes().trim_ascii())
            .collect();
        values.sort_unstable();
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(v);
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(body_hash.as_bytes());
    out
}

/// `pct(k)=pct(v)` pairs sorted by encoded key then value, joined by `&`.
fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs.iter().map(|(k, v)| (pct(k), pct(v))).collect();
    encoded.sort_unstable();
    let mut out = String::with_capacity(encoded.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn v3_string_to_sign(canonical_request: &[u8]) -> String {
    format!(
        "{ACS3_HMAC_SHA256}\n{}",
        hex_lower(&Sha256::digest(canonical_request))
    )
}

// ---------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------

/// A signed management call, ready to send (used by `apigw admin` and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCall {
    /// Always `POST` (as the Tea SDK).
    pub method: &'static str,
    /// `/` plus `?query` when there are query parameters.
    pub path_and_query: String,
    /// Headers to send (lower-case names), `host` included: send it exactly (V3 signs it).
    pub headers: Vec<(String, String)>,
    /// The body (a form body or empty).
    pub body: Vec<u8>,
    /// The client's string-to-sign, to show beside the server's on `SignatureDoesNotMatch`.
    pub string_to_sign: String,
}

/// Signs a V3 (`ACS3-HMAC-SHA256`) call the way the Tea SDK does: `POST /`, `params` in the
/// query string (sorted, `pct`-encoded), empty body. `now_iso8601` is `YYYY-MM-DDThh:mm:ssZ`
/// (see [`format_timestamp`]). Signed headers: `host` and the `x-acs-*` headers (as the Node
/// SDK). Control characters are dropped from header values.
#[allow(clippy::too_many_arguments)]
pub fn sign_v3(
    access_key_id: &str,
    secret: &str,
    host: &str,
    action: &str,
    version: &str,
    params: &[(String, String)],
    now_iso8601: &str,
    nonce: &str,
) -> SignedCall {
    sign_v3_form(
        access_key_id,
        secret,
        host,
        action,
        version,
        params,
        &[],
        now_iso8601,
        nonce,
    )
}

/// Like [`sign_v3`], with `form` sent as an `application/x-www-form-urlencoded` body (as the Tea
/// SDK sends large fields such as `RequestParameters` or `Data`); `content-type` is then signed
/// too. An empty `form` gives an empty body and no `content-type`. Parameters with an empty
/// name are left out of the query and the body: [`parse`] skips them, so a signed one would
/// never verify. Of a name repeated in `query` (or in `form`) the last value is sent, as
/// [`sign_v1`] does: the server keeps one value per name, and the query is sent sorted, so
/// sending them all would let the sort order, not the caller, pick the value.
#[allow(clippy::too_many_arguments)]
pub fn sign_v3_form(
    access_key_id: &str,
    secret: &str,
    host: &str,
    action: &str,
    version: &str,
    query: &[(String, String)],
    form: &[(String, String)],
    now_iso8601: &str,
    nonce: &str,
) -> SignedCall {
    let named = |pairs: &[(String, String)]| -> Vec<(String, String)> {
        merge(
            pairs
                .iter()
                .filter(|(k, _)| !k.is_empty())
                .cloned()
                .collect(),
        )
    };
    let (query, form) = (named(query), named(form));
    let canonical_query = canonical_query(&query);
    let body = if form.is_empty() {
        Vec::new()
    } else {
        let mut b = String::new();
        for (i, (k, v)) in form.iter().enumerate() {
            if i > 0 {
                b.push('&');
            }
            pct_into(k, &mut b);
            b.push('=');
            pct_into(v, &mut b);
        }
        b.into_bytes()
    };
    let body_hash = hex_lower(&Sha256::digest(&body));

    let mut signed: Vec<(&str, String)> = Vec::with_capacity(7);
    if !body.is_empty() {
        signed.push(("content-type", FORM_CONTENT_TYPE.to_owned()));
    }
    signed.push(("host", header_safe(host)));
    signed.push((X_ACS_ACTION, header_safe(action)));
    signed.push((X_ACS_CONTENT_SHA256, body_hash.clone()));
    signed.push((X_ACS_DATE, header_safe(now_iso8601)));
    signed.push((X_ACS_SIGNATURE_NONCE, header_safe(nonce)));
    signed.push((X_ACS_VERSION, header_safe(version)));
    let signed_headers = signed.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(";");

    let mut cr = String::new();
    cr.push_str("POST\n/\n");
    cr.push_str(&canonical_query);
    cr.push('\n');
    for (n, v) in &signed {
        cr.push_str(n);
        cr.push(':');
        cr.push_str(v);
        cr.push('\n');
    }
    cr.push('\n');
    cr.push_str(&signed_headers);
    cr.push('\n');
    cr.push_str(&body_hash);
    let string_to_sign = v3_string_to_sign(cr.as_bytes());
    let signature = hex_lower(&hmac_sha256(secret.as_bytes(), string_to_sign.as_bytes()));

    let mut headers: Vec<(String, String)> =
        signed.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
    headers.push(("accept".to_owned(), "application/json".to_owned()));
    headers.push((
        "authorization".to_owned(),
        format!(
            "{ACS3_HMAC_SHA256} Credential={},SignedHeaders={signed_headers},Signature={signature}",
            header_safe(access_key_id)
        ),
    ));
    SignedCall {
        method: "POST",
        path_and_query: with_query(&canonical_query),
        headers,
        body,
        string_to_sign,
    }
}

/// Signs a V1 (`HMAC-SHA1`) call the way the Tea SDK does with `signature_algorithm='v2'`:
/// `POST /`, every parameter in the query string (`Action`, `Format=json`, `Version`,
/// `Timestamp`, `SignatureNonce`, `SignatureMethod`, `SignatureVersion`, `AccessKeyId`, the
/// business `params`, `Signature` last), empty body; `host`, `x-acs-action`, `x-acs-version`
/// and `accept` headers (not signed in V1). Entries of `params` named like a protocol key
/// ([`PROTOCOL_KEYS`]) or with an empty name (which [`parse`] skips) are dropped; of a repeated
/// key the last value is sent.
#[allow(clippy::too_many_arguments)]
pub fn sign_v1(
    access_key_id: &str,
    secret: &str,
    host: &str,
    action: &str,
    version: &str,
    params: &[(String, String)],
    now_iso8601: &str,
    nonce: &str,
) -> SignedCall {
    let mut all: Vec<(String, String)> = [
        ("Action", action),
        ("Format", "json"),
        ("Version", version),
        ("Timestamp", now_iso8601),
        ("SignatureNonce", nonce),
        ("SignatureMethod", HMAC_SHA1),
        ("SignatureVersion", SIGNATURE_VERSION_1_0),
        ("AccessKeyId", access_key_id),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    all.extend(
        params
            .iter()
            .filter(|(k, _)| !k.is_empty() && !PROTOCOL_KEYS.contains(&k.as_str()))
            .cloned(),
    );
    let all = merge(all);
    let string_to_sign = v1_string_to_sign("POST", &all);
    let mut key = secret.as_bytes().to_vec();
    key.push(b'&');
    let signature = STANDARD.encode(hmac_sha1(&key, string_to_sign.as_bytes()));

    let mut query = String::new();
    for (k, v) in all.iter().chain([&("Signature".to_owned(), signature)]) {
        if !query.is_empty() {
            query.push('&');
        }
        pct_into(k, &mut query);
        query.push('=');
        pct_into(v, &mut query);
    }
    SignedCall {
        method: "POST",
        path_and_query: with_query(&query),
        headers: vec![
            ("host".to_owned(), header_safe(host)),
            (X_ACS_ACTION.to_owned(), header_safe(action)),
            (X_ACS_VERSION.to_owned(), header_safe(version)),
            ("accept".to_owned(), "application/json".to_owned()),
        ],
        body: Vec::new(),
        string_to_sign,
    }
}

fn with_query(query: &str) -> String {
    if query.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{query}")
    }
}

/// Drops what an HTTP header value cannot hold (control characters), trims.
fn header_safe(s: &str) -> String {
    s.chars()
        .filter(|&c| c == '\t' || !c.is_control())
        .collect::<String>()
        .trim()
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------

/// Parses `YYYY-MM-DDThh:mm:ss[.fraction]Z` (UTC) into milliseconds since the epoch; `None`
/// for anything else. The fraction (1–9 digits) is truncated to milliseconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || *b.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(r)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut millis = 0;
    let frac = b.get(19..b.len() - 1)?;
    if !frac.is_empty() {
        let digits = frac.strip_prefix(b".")?;
        if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for i in 0..3 {
            millis = millis * 10 + digits.get(i).map_or(0, |&d| i64::from(d - b'0'));
        }
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

/// Formats seconds since the epoch as `YYYY-MM-DDThh:mm:ssZ` (the `Timestamp` / `x-acs-date`
/// format). Years outside 0000–9999 are clamped to that range.
pub fn format_timestamp(unix_secs: i64) -> String {
    // 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z
    const MIN: i64 = -62_167_219_200;
    const MAX: i64 = 253_402_300_799;
    let t = unix_secs.clamp(MIN, MAX);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `pct(s)` of spec §2: UTF-8 bytes, `A-Z a-z 0-9 - _ . ~` kept, every other byte `%XX`
/// (upper-case hex); space is `%20`, `*` is `%2A`.
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    pct_into(s, &mut out);
    out
}

fn pct_into(s: &str, out: &mut String) {
    for chunk in utf8_percent_encode(s, PCT) {
        out.push_str(chunk);
    }
}

/// Form-decoded pairs of a query string / form body (empty keys skipped; `k` alone = `k=`).
fn decode_pairs(input: &[u8], latin1: bool) -> Vec<(String, String)> {
    input
        .split(|&b| b == b'&')
        .filter(|piece| !piece.is_empty())
        .filter_map(|piece| {
            let (k, v) = match piece.iter().position(|&b| b == b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, &[][..]),
            };
            (!k.is_empty()).then(|| {
                (
                    form_decode(k, latin1).into_owned(),
                    form_decode(v, latin1).into_owned(),
                )
            })
        })
        .collect()
}

/// One entry per key: a later value replaces an earlier one, at the earlier one's position.
fn merge(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut index: HashMap<String, usize> = HashMap::with_capacity(pairs.len());
    let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        match index.get(&k) {
            Some(&i) => out[i].1 = v,
            None => {
                index.insert(k.clone(), out.len());
                out.push((k, v));
            }
        }
    }
    out
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn business(merged: Vec<(String, String)>) -> Vec<(String, String)> {
    merged
        .into_iter()
        .filter(|(k, _)| !PROTOCOL_KEYS.contains(&k.as_str()))
        .collect()
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    match Hmac::<sha1::Sha1>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses and verifies a call made by a client signer, as the server receives it.
    fn receive(call: &SignedCall, secret: &str) -> Result<Parsed, MgmtError> {
        let mut headers = HeaderMap::new();
        for (n, v) in &call.headers {
            headers.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        let (path, query) = match call.path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (call.path_and_query.as_str(), None),
        };
        let parsed = parse(&MgmtRequest {
            method: call.method,
            path,
            query,
            headers: &headers,
            body: &call.body,
        })?;
        assert_eq!(parsed.string_to_sign(), call.string_to_sign);
        parsed.verify(secret)?;
        Ok(parsed)
    }

    /// Found by the `mgmt_signature` fuzz target (the query of its input): a V3 call with a
    /// repeated query name sent every value, sorted, so the server kept the greatest encoded
    /// value (`\u{5}MMMM`) instead of the caller's last one, unlike a V1 call.
    #[test]
    fn v3_signer_sends_the_last_value_of_a_repeated_name() {
        let five = "\u{5}".repeat(5);
        let query: Vec<(String, String)> = [
            ("MMMMM", "MM\u{5}\u{5}\u{5}"),
            (five.as_str(), "\u{5}MMMM"),
            ("MMMM{", "MMMMM"),
            ("MMMMM", "MMM\u{5}\u{5}"),
            (five.as_str(), five.as_str()),
            (five.as_str(), "\u{5}\u{5}\u{5}\u{5}2"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let now = format_timestamp(8_303_914_669_814_251_534);
        let expected = vec![
            (five.clone(), "\u{5}\u{5}\u{5}\u{5}2".to_string()),
            ("MMMMM".to_string(), "MMM\u{5}\u{5}".to_string()),
            ("MMMM{".to_string(), "MMMMM".to_string()),
        ];
        for v3 in [true, false] {
            let call = if v3 {
                sign_v3_form("rt", "s", "h", "MMM{M", "MMMMM", &query, &[], &now, "&Vers")
            } else {
                sign_v1("rt", "s", "h", "MMM{M", "MMMMM", &query, &now, "&Vers")
            };
            let mut got = receive(&call, "s").unwrap().params;
            got.sort();
            assert_eq!(got, expected, "v3: {v3}");
        }
        let form = [
            ("a".to_string(), "1".to_string()),
            ("a".to_string(), "0".to_string()),
        ];
        let call = sign_v3_form("rt", "s", "h", "A", "V", &[], &form, &now, "n");
        assert_eq!(call.body, b"a=0");
    }

    /// Found by the `mgmt_signature` fuzz target (the values of its input): the client signers
    /// signed a parameter with an empty name, which the server skips, so the call could never
    /// verify (`SignatureDoesNotMatch`).
    #[test]
    fn client_signers_leave_out_parameters_with_an_empty_name() {
        let params = vec![(String::new(), String::new())];
        let (id, action, version, now, nonce) = (
            "0v21lw",
            "ate;x-acs-signature",
            "-nonce;x-acs-vers",
            "9999-12-31T23:59:59Z",
            "e=4b7a8",
        );
        let v1 = sign_v1(id, "s", "h", action, version, &params, now, nonce);
        assert!(!v1.path_and_query.contains("&=&"), "{}", v1.path_and_query);
        let parsed = receive(&v1, "s").unwrap();
        assert!(parsed.params.is_empty());

        let named = vec![
            (String::new(), "x".to_string()),
            ("GroupName".to_string(), "g".to_string()),
        ];
        let v3 = sign_v3_form(id, "s", "h", action, version, &named, &named, now, nonce);
        assert_eq!(v3.path_and_query, "/?GroupName=g");
        assert_eq!(v3.body, b"GroupName=g");
        let parsed = receive(&v3, "s").unwrap();
        assert_eq!(
            parsed.params,
            vec![("GroupName".to_string(), "g".to_string())]
        );
        let only_empty = sign_v3_form(id, "s", "h", action, version, &[], &params, now, nonce);
        assert!(only_empty.body.is_empty());
        assert!(!only_empty.headers.iter().any(|(n, _)| n == "content-type"));
        receive(&only_empty, "s").unwrap();
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("2024-05-01T12:00:00Z"),
            Some(1_714_564_800_000)
        );
        assert_eq!(
            parse_timestamp("2024-05-01T12:00:00.5Z"),
            Some(1_714_564_800_500)
        );
        assert_eq!(
            parse_timestamp("2024-05-01T12:00:00.123456789Z"),
            Some(1_714_564_800_123)
        );
        assert_eq!(
            parse_timestamp("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), Some(-1000));
        for bad in [
            "",
            "2024-05-01T12:00:00",
            "2024-05-01 12:00:00Z",
            "2024-05-01t12:00:00z",
            "2024-05-01T12:00:00+00:00",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-01T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:60:00Z",
            "2024-05-01T12:00:60Z",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00.1234567890Z",
            "+024-05-01T12:00:00Z",
            "2024-05-01T12:00:00ZZ",
            "2024-05-01T12:00:0\u{e9}Z",
            "1714564800000",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamp_format_round_trip() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(1_714_564_800), "2024-05-01T12:00:00Z");
        assert_eq!(format_timestamp(i64::MIN), "0000-01-01T00:00:00Z");
        assert_eq!(format_timestamp(i64::MAX), "9999-12-31T23:59:59Z");
        for t in [
            -86_401,
            -1,
            0,
            59,
            951_782_400,
            1_709_164_799,
            4_102_444_800,
        ] {
            assert_eq!(parse_timestamp(&format_timestamp(t)), Some(t * 1000), "{t}");
        }
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(pct("a b&c=d/é~*"), "a%20b%26c%3Dd%2F%C3%A9~%2A");
        assert_eq!(pct("AZaz09-_.~"), "AZaz09-_.~");
    }

    #[test]
    fn merging() {
        let p = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            merge(vec![p("a", "1"), p("b", "2"), p("a", "3")]),
            vec![p("a", "3"), p("b", "2")]
        );
        assert_eq!(
            decode_pairs(b"a+b=c%20d&&=x&e&f=%zz", false),
            vec![p("a b", "c d"), p("e", ""), p("f", "%zz")]
        );
    }
}
