//! The **backend signature** ("后端签名"), gateway → backend, as specified in
//! `spec/backend-signature.md` §1 and verified by Alibaba's backend demo (`Sign.java`).
//!
//! ```text
//! StringToSign = METHOD "\n" ContentMD5 "\n"
//!                { lower(name) ":" value "\n" }   -- names from X-Ca-Proxy-Signature-Headers,
//!                                                    sorted by original spelling, absent ones skipped
//!                Path [ "?" key "=" firstValue { "&" key "=" firstValue } ]   -- sorted by key
//! X-Ca-Proxy-Signature = Base64(HMAC-SHA256(secret, StringToSign))
//! ```
//!
//! Differences from the client scheme: no fixed header block, header names lower-cased, an
//! empty parameter value is written `key=` (never a bare key), and `ContentMD5` is computed over
//! the forwarded body for POST/PUT non-form bodies.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `X-Ca-Proxy-Signature`.
pub const SIGNATURE: &str = "x-ca-proxy-signature";
/// `X-Ca-Proxy-Signature-Secret-Key`: the key *name* the backend picks its secret by.
pub const SECRET_KEY: &str = "x-ca-proxy-signature-secret-key";
/// `X-Ca-Proxy-Signature-Headers`: comma-separated names of the signed headers.
pub const HEADERS: &str = "x-ca-proxy-signature-headers";
/// `X-Ca-Proxy-Signature-Method` (always `HmacSHA256`; informative).
pub const METHOD: &str = "x-ca-proxy-signature-method";

/// What is signed about one backend request.
pub struct BackendRequest<'a> {
    /// Backend method, upper case.
    pub method: &'a str,
    /// `Base64(MD5(body))` or empty (see [`content_md5_for`]).
    pub content_md5: &'a str,
    /// The signed headers: (name as listed, value); order does not matter.
    pub headers: &'a [(&'a str, &'a str)],
    /// Backend path as sent, without the query.
    pub path: &'a str,
    /// Query and form parameters as the backend decodes them: (key, value), repeats allowed
    /// (the first value of a key is signed).
    pub params: &'a [(&'a str, &'a str)],
}

/// The string to sign (spec §1.3).
pub fn string_to_sign(req: &BackendRequest) -> String {
    let mut out = String::with_capacity(128 + req.path.len());
    out.push_str(req.method);
    out.push('\n');
    out.push_str(req.content_md5);
    out.push('\n');
    let mut headers: Vec<&(&str, &str)> = req.headers.iter().collect();
    headers.sort_by(|a, b| a.0.cmp(b.0));
    headers.dedup_by(|a, b| a.0 == b.0);
    for (name, value) in headers {
        out.push_str(&name.to_lowercase());
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push_str(req.path);
    let mut params: Vec<(usize, &(&str, &str))> = req.params.iter().enumerate().collect();
    // Stable by key, then by position: the first value of a repeated key comes first.
    params.sort_by(|a, b| a.1 .0.cmp(b.1 .0).then(a.0.cmp(&b.0)));
    params.dedup_by(|a, b| a.1 .0 == b.1 .0);
    for (i, (_, (k, v))) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// `Base64(HMAC-SHA256(secret, string_to_sign))`.
pub fn sign(secret: &[u8], string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The `ContentMD5` line: `Base64(MD5(body))` for POST/PUT with a non-empty, non-form body;
/// empty otherwise.
pub fn content_md5_for(method: &str, is_form: bool, body: &[u8]) -> String {
    if (method == "POST" || method == "PUT") && !is_form && !body.is_empty() {
        crate::content_md5(body)
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// B1: the demo's own sample.
    #[test]
    fn vector_b1() {
        let req = BackendRequest {
            method: "POST",
            content_md5: "",
            headers: &[
                ("HeaderKey2", "HeaderValue2"),
                ("HeaderKey1", "HeaderValue1"),
            ],
            path: "/demo/uri",
            params: &[
                ("QueryKey1", "QueryValue1"),
                ("QueryKey2", "QueryValue2"),
                ("FormKey1", "FormValue1"),
                ("FormKey2", "FormValue2"),
            ],
        };
        let sts = string_to_sign(&req);
        assert_eq!(sts, "POST\n\nheaderkey1:HeaderValue1\nheaderkey2:HeaderValue2\n/demo/uri?FormKey1=FormValue1&FormKey2=FormValue2&QueryKey1=QueryValue1&QueryKey2=QueryValue2");
        assert_eq!(
            sign(b"DemoSecret1", &sts),
            "C7Lqfn8Spz0DxQTfUJq0NrkEbwNUuTNtC9p3SzRWgv0="
        );
    }

    /// B2: JSON body, empty value, repeated key, UTF-8 value.
    #[test]
    fn vector_b2() {
        let md5 = content_md5_for("POST", false, br#"{"id":7}"#);
        assert_eq!(md5, "+QlobErfZPeoxGiynm5mqg==");
        let req = BackendRequest {
            method: "POST",
            content_md5: &md5,
            headers: &[
                ("X-Ca-Proxy-Signature-Secret-Key", "DemoKey2"),
                ("X-Real-IP", "203.0.113.7"),
                ("X-Env", "prod"),
            ],
            path: "/internal/user/42",
            params: &[
                ("uid", "42"),
                ("empty", ""),
                ("tags", "b"),
                ("tags", "a"),
                ("name", "张三"),
            ],
        };
        let sts = string_to_sign(&req);
        assert_eq!(sts, "POST\n+QlobErfZPeoxGiynm5mqg==\nx-ca-proxy-signature-secret-key:DemoKey2\nx-env:prod\nx-real-ip:203.0.113.7\n/internal/user/42?empty=&name=张三&tags=b&uid=42");
        assert_eq!(
            sign(b"DemoSecret2", &sts),
            "BKyrxUYwm5hWHGpQsOvjG657TjNGdcg7wBq4opiRqeo="
        );
    }

    /// B3: GET, no body.
    #[test]
    fn vector_b3() {
        let req = BackendRequest {
            method: "GET",
            content_md5: &content_md5_for("GET", false, b"ignored"),
            headers: &[
                ("X-Ca-Proxy-Signature-Secret-Key", "DemoKey2"),
                ("X-Real-IP", "203.0.113.7"),
                ("X-Env", "prod"),
            ],
            path: "/internal/ping",
            params: &[("q", "1")],
        };
        let sts = string_to_sign(&req);
        assert_eq!(sts, "GET\n\nx-ca-proxy-signature-secret-key:DemoKey2\nx-env:prod\nx-real-ip:203.0.113.7\n/internal/ping?q=1");
        assert_eq!(
            sign(b"DemoSecret2", &sts),
            "AfN1KUyXBqhcz6L7dYL1EZzT2IbjB8E4Ar8e9BEj6/w="
        );
    }

    #[test]
    fn form_bodies_have_no_md5() {
        assert_eq!(content_md5_for("POST", true, b"a=1"), "");
        assert_eq!(content_md5_for("PUT", false, b""), "");
        assert_ne!(content_md5_for("PUT", false, b"x"), "");
    }
}
