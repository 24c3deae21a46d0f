//! Management API errors: `{status, Code, Message}` rendered as CloudAPI's JSON error body.

use apigw_control::ControlError;
use apigw_model::ModelError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// `Missing<Name>`: a required parameter is absent.
    pub fn missing(name: &str) -> ApiError {
        ApiError::new(
            400,
            format!("Missing{name}"),
            format!("`{name}` must be provided"),
        )
    }

    /// `Invalid<Name>`: a parameter's value is not acceptable.
    pub fn invalid(name: &str, why: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            400,
            format!("Invalid{name}"),
            format!("value of `{name}` is not acceptable: {why}"),
        )
    }

    /// `InvalidFormat<Name>`: a JSON-in-string parameter does not parse.
    pub fn invalid_format(name: &str, why: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            400,
            format!("InvalidFormat{name}"),
            format!("`{name}` is not valid JSON: {why}"),
        )
    }

    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(
            400,
            format!("NotFound{what}"),
            format!("no {what} matches `{id}`"),
        )
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> ApiError {
        let status = if e.code.starts_with("Forbidden") || e.code == "NoPermission" {
            403
        } else {
            400
        };
        ApiError::new(status, e.code, e.message)
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> ApiError {
        match e {
            ControlError::Refused(m) => m.into(),
            ControlError::Store(s) => {
                tracing::error!(target: "apigw::mgmt", "store failure: {s}");
                ApiError::new(
                    503,
                    "ServiceUnavailable",
                    "the configuration store is temporarily unavailable; retry",
                )
            }
        }
    }
}
