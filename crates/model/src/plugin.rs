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
