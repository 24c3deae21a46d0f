//! Accounts and the AccessKeys of the management API.
//!
//! An account owns groups (with their APIs), apps and plugins; its AccessKeys sign management
//! calls, which see and change only what the account owns. An account is identified by its
//! number; the root account (1) owns what the declarative file and the CLI create.

use serde::{Deserialize, Serialize};

/// The root account: owner of what the declarative file and the local CLI create.
pub const ROOT_ACCOUNT_ID: i64 = 1;

/// Serde default of `OwnerId`: documents stored before accounts existed belong to the root.
pub fn root_account() -> i64 {
    ROOT_ACCOUNT_ID
}

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
