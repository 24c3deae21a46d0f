//! The `backendSignature` plugin: signs each backend request so that the backend can check
//! it came through the gateway (spec backend-signature.md §1; the string and HMAC are in
//! `apigw_signature::backend`).

use apigw_signature::backend::{self as sig, BackendRequest};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use std::borrow::Cow;

static SIGNATURE: HeaderName = HeaderName::from_static(sig::SIGNATURE);
static SECRET_KEY: HeaderName = HeaderName::from_static(sig::SECRET_KEY);
static HEADERS: HeaderName = HeaderName::from_static(sig::HEADERS);
static METHOD: HeaderName = HeaderName::from_static(sig::METHOD);

/// The backend request being signed.
#[derive(Clone, Copy)]
pub struct Outbound<'a> {
    pub method: &'a str,
    /// Backend path, without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// Headers the gateway set from the API definition; they are signed with the key header.
    pub signed: &'a [HeaderName],
    /// The backend body when it is a form.
    pub form: Option<&'a [u8]>,
    pub body: &'a [u8],
}

/// A bound backend signature key.
#[derive(Debug)]
pub struct BackendSigner {
    key: HeaderValue,
    secret: Box<[u8]>,
}

impl BackendSigner {
    /// Reads a plugin document: `type: APIGW_BACKEND`, `key`, `secret` (JSON or YAML).
    pub fn parse(doc: &str) -> Result<BackendSigner, String> {
        let doc = apigw_plugin::backend_signature::BackendSignatureDoc::parse(doc)?;
        let secret = doc.secret;
        let key = HeaderValue::from_str(&doc.key)
            .map_err(|_| "`key` must be printable ASCII (it travels in a header)".to_string())?;
        Ok(BackendSigner {
            key,
            secret: secret.as_bytes().into(),
        })
    }

    /// Adds the `X-Ca-Proxy-Signature*` headers to `headers` for the request `req`.
    pub fn sign(&self, req: &Outbound, headers: &mut HeaderMap) {
        let Outbound {
            method,
            path,
            query,
            signed,
            form,
            body,
        } = *req;
        headers.insert(&SECRET_KEY, self.key.clone());
        let mut names: Vec<&str> = vec!["X-Ca-Proxy-Signature-Secret-Key"];
        let mut pairs: Vec<(&str, Cow<str>)> = Vec::with_capacity(signed.len() + 1);
        pairs.push((names[0], Cow::Borrowed(self.key.to_str().unwrap_or(""))));
        for name in signed {
            if let Some(v) = headers.get(name) {
                names.push(name.as_str());
                pairs.push((name.as_str(), String::from_utf8_lossy(v.as_bytes())));
            }
        }
        let header_pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, &**v)).collect();
        let mut params: Vec<(Cow<str>, Cow<str>)> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).collect())
            .unwrap_or_default();
        if let Some(f) = form {
            params.extend(form_urlencoded::parse(f));
        }
        let param_pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (&**k, &**v)).collect();
        let md5 = sig::content_md5_for(method, form.is_some(), body);
        let sts = sig::string_to_sign(&BackendRequest {
            method,
            content_md5: &md5,
            headers: &header_pairs,
            path,
            params: &param_pairs,
        });
        let signature = sig::sign(&self.secret, &sts);
        if let Ok(v) = HeaderValue::from_str(&names.join(",")) {
            headers.insert(&HEADERS, v);
        }
        if let Ok(v) = HeaderValue::from_str(&signature) {
            headers.insert(&SIGNATURE, v);
        }
        headers.insert(&METHOD, HeaderValue::from_static("HmacSHA256"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        assert!(BackendSigner::parse("type: APIGW_BACKEND\nkey: k1\nsecret: s1\n").is_ok());
        assert!(BackendSigner::parse(r#"{"key":"k1","secret":"s1"}"#).is_ok());
        assert!(BackendSigner::parse("type: OTHER\nkey: k\nsecret: s").is_err());
        assert!(BackendSigner::parse("key: k").is_err());
        assert!(BackendSigner::parse("key: \"k\\n\"\nsecret: s").is_err());
    }

    /// The demo's B1 sample through the plugin: the key header is signed as well.
    #[test]
    fn signs_like_the_demo() {
        let s = BackendSigner::parse("key: DemoKey2\nsecret: DemoSecret2").unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", HeaderValue::from_static("203.0.113.7"));
        h.insert("x-env", HeaderValue::from_static("prod"));
        let signed = [
            HeaderName::from_static("x-real-ip"),
            HeaderName::from_static("x-env"),
        ];
        let req = Outbound {
            method: "GET",
            path: "/internal/ping",
            query: Some("q=1"),
            signed: &signed,
            form: None,
            body: b"",
        };
        s.sign(&req, &mut h);
        assert_eq!(
            h[&SIGNATURE].to_str().unwrap(),
            "AfN1KUyXBqhcz6L7dYL1EZzT2IbjB8E4Ar8e9BEj6/w="
        );
        assert_eq!(
            h[&HEADERS].to_str().unwrap(),
            "X-Ca-Proxy-Signature-Secret-Key,x-real-ip,x-env"
        );
    }
}
