//! Plugins (policy documents such as `jwtAuth`) and their bindings to APIs per stage.
//!
//! The document (`PluginData`, JSON or YAML) is stored verbatim. At most one plugin of each
//! type is bound to an API in a stage: binding a second one of the same type replaces the first.

use crate::error::ModelError;
use crate::group::validate_name;
use crate::stage::Stage;
use serde::{Deserialize, Serialize};

/// Plugin types CloudAPI defines (plugins.md §0). Unknown types are refused.
pub const PLUGIN_TYPES: [&str; 14] = [
    "ipControl",
    "trafficControl",
    "backendSignature",
    "jwtAuth",
    "basicAuth",
    "cors",
    "caching",
    "routing",
    "accessControl",
    "errorMapping",
    "circuitBreaker",
    "remoteAuth",
    "logMask",
    "transformer",
];

/// Largest plugin document.
pub const MAX_PLUGIN_DATA_BYTES: usize = 50 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Plugin {
    pub plugin_id: String,
    pub plugin_name: String,
    /// The account that owns the plugin.
    #[serde(default = "crate::account::root_account")]
    pub owner_id: i64,
    pub plugin_type: String,
    pub plugin_data: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub created_time: String,
    #[serde(default)]
    pub modified_time: String,
}

impl Plugin {
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_name("PluginName", &self.plugin_name)?;
        if self.plugin_type.is_empty() {
            return Err(ModelError::missing("PluginType"));
        }
        if !PLUGIN_TYPES.contains(&self.plugin_type.as_str()) {
            return Err(ModelError::invalid(
                "PluginType",
                format!(
                    "`{}` is not one of {}",
                    self.plugin_type,
                    PLUGIN_TYPES.join(", ")
                ),
            ));
        }
        if self.plugin_data.trim().is_empty() {
            return Err(ModelError::missing("PluginData"));
        }
        if self.plugin_data.len() > MAX_PLUGIN_DATA_BYTES {
            return Err(ModelError::invalid(
                "PluginData",
                format!("larger than {MAX_PLUGIN_DATA_BYTES} bytes"),
            ));
        }
        Ok(())
    }
}

/// A plugin attached to one API in one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PluginBinding {
    pub plugin_id: String,
    pub api_id: String,
    pub group_id: String,
    pub stage_name: Stage,
    #[serde(default)]
    pub created_time: String,
}

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
mod backend_signature_tests {
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
