//! Validation errors in the management API's vocabulary (`Missing<Name>`, `Invalid<Name>`, ...).

use std::fmt;

/// A refused definition: a management-style error code (e.g. `InvalidRequestConfig`,
/// `RepeatedPath`) and a message that names the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    pub code: String,
    pub message: String,
}

impl ModelError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
    pub fn missing(name: &str) -> Self {
        Self::new(
            format!("Missing{name}"),
            format!("`{name}` must be provided"),
        )
    }
    pub fn invalid(name: &str, why: impl fmt::Display) -> Self {
        Self::new(
            format!("Invalid{name}"),
            format!("value of `{name}` is not acceptable: {why}"),
        )
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ModelError {}
