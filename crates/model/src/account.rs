//! AccessKeys of the management API.

use serde::{Deserialize, Serialize};

/// The account every resource belongs to until multi-account support lands.
pub const ROOT_ACCOUNT_ID: i64 = 1;

/// A management AccessKey: signs management API calls (V1 or V3 signature).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKey {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub account_id: i64,
    /// A disabled key is refused (`InvalidAccessKeyId.Inactive`).
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub created_time: String,
}
