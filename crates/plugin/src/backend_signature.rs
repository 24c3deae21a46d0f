//! The `backendSignature` plugin document (plugins.md §11, backend-signature.md): the key name
//! and secret the gateway signs backend requests with. Signing is the data plane's.

/// A `backendSignature` document: `type: APIGW_BACKEND` (optional), `key`, `secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSignatureDoc {
    /// The key *name* sent to the backend (`X-Ca-Proxy-Signature-Secret-Key`).
    pub key: String,
    pub secret: String,
}

impl BackendSignatureDoc {
    /// Reads the document (JSON or YAML); the error says what is wrong.
    pub fn parse(doc: &str) -> Result<BackendSignatureDoc, String> {
        let v: serde_json::Value =
            serde_norway::from_str(doc).map_err(|e| format!("not JSON or YAML: {e}"))?;
        if let Some(t) = v.get("type") {
            if t.as_str() != Some("APIGW_BACKEND") {
                return Err("`type` must be APIGW_BACKEND".into());
            }
        }
        let text = |name: &str| {
            v.get(name)
                .and_then(|x| x.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| format!("`{name}` is required"))
        };
        let (key, secret) = (text("key")?, text("secret")?);
        if !key.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
            return Err(
                "`key` must be printable ASCII without spaces (it travels in a header)".into(),
            );
        }
        Ok(BackendSignatureDoc { key, secret })
    }

    /// The document as stored for a signature made with the legacy actions.
    pub fn to_yaml(&self) -> String {
        let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
        format!(
            "type: APIGW_BACKEND\nkey: {}\nsecret: {}\n",
            quote(&self.key),
            quote(&self.secret)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::BackendSignatureDoc;

    #[test]
    fn documents_round_trip() {
        let d = BackendSignatureDoc {
            key: "shopKey1".into(),
            secret: "s3cr#t!*".into(),
        };
        assert_eq!(BackendSignatureDoc::parse(&d.to_yaml()).unwrap(), d);
        assert!(BackendSignatureDoc::parse(r#"{"key":"k","secret":"s"}"#).is_ok());
        assert!(BackendSignatureDoc::parse("type: OTHER\nkey: k\nsecret: s").is_err());
        assert!(BackendSignatureDoc::parse("key: k").is_err());
        assert!(BackendSignatureDoc::parse("key: \"a b\"\nsecret: s").is_err());
    }
}
