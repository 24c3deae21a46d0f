//! API groups and the domains bound to them.

use crate::error::ModelError;
use crate::stage::Stage;
use serde::{Deserialize, Serialize};

/// Most custom domains a group may bind (wildcards included).
pub const MAX_DOMAINS_PER_GROUP: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Group {
    pub group_id: String,
    pub group_name: String,
    /// The account that owns the group (and its APIs).
    #[serde(default = "crate::account::root_account")]
    pub owner_id: i64,
    #[serde(default)]
    pub description: String,
    /// Prefix of every API path in the group; `/` when unset.
    #[serde(default = "root_path")]
    pub base_path: String,
    /// Group QPS cap (`T429GR`): requests per second to all its APIs on one node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_limit: Option<u32>,
    #[serde(default)]
    pub created_time: String,
    #[serde(default)]
    pub modified_time: String,
}

fn root_path() -> String {
    "/".to_string()
}

impl Group {
    /// The default sub-domain, `<GroupId>.<base domain>`.
    pub fn sub_domain(&self, base_domain: &str) -> String {
        format!("{}.{}", self.group_id, base_domain)
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        validate_group_name(&self.group_name)?;
        validate_base_path(&self.base_path)
    }
}

pub fn validate_group_name(name: &str) -> Result<(), ModelError> {
    validate_name("GroupName", name)
}

/// The naming rule CloudAPI applies to group, API and app names: 4-50 characters, starting
/// with a letter (non-ASCII letters such as Chinese are accepted), then letters, digits, `_`.
pub fn validate_name(field: &str, name: &str) -> Result<(), ModelError> {
    if name.is_empty() {
        return Err(ModelError::missing(field));
    }
    let count = name.chars().count();
    let first_ok = name.chars().next().is_some_and(|c| c.is_alphabetic());
    let rest_ok = name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !(4..=50).contains(&count) || !first_ok || !rest_ok {
        return Err(ModelError::invalid(
            field,
            "4-50 characters, starting with a letter, then letters, digits or `_`",
        ));
    }
    Ok(())
}

pub fn validate_base_path(path: &str) -> Result<(), ModelError> {
    let ok = path.starts_with('/')
        && !path.contains("//")
        && !path.contains(['[', ']', '?', '#', '*'])
        && path.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ModelError::invalid(
            "BasePath",
            "must start with `/` and hold plain path characters",
        ))
    }
}

/// A custom domain bound to a group, optionally forced to one stage, with its certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Domain {
    /// Lower-case host name; may start with `*.` (wildcard).
    pub domain_name: String,
    pub group_id: String,
    /// When set, requests to this domain always go to this stage and `X-Ca-Stage` is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_stage_name: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<DomainCertificate>,
    /// Whether WebSocket upgrades are taken on this domain (`SetDomainWebSocketStatus`).
    #[serde(default, skip_serializing_if = "WebSocketStatus::is_closed")]
    pub web_socket: WebSocketStatus,
}

/// A custom domain's WebSocket channel (`DomainWebSocketStatus`): closed until
/// `SetDomainWebSocketStatus ActionValue=ON` opens it, as CloudAPI has it. The group's default
/// sub-domain always takes upgrades (the API's `RequestProtocol` still decides).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WebSocketStatus {
    /// Upgrades over plain HTTP (`ws://`).
    #[serde(default)]
    pub enabled: bool,
    /// Upgrades over TLS (`wss://`) too; `WSSEnable=false` turns them off.
    #[serde(default)]
    pub wss: bool,
}

impl WebSocketStatus {
    pub const OPEN: WebSocketStatus = WebSocketStatus {
        enabled: true,
        wss: true,
    };

    pub fn is_closed(&self) -> bool {
        !self.enabled
    }

    /// Whether an upgrade over this transport is taken.
    pub fn allows(&self, tls: bool) -> bool {
        self.enabled && (!tls || self.wss)
    }

    /// `DomainWebSocketStatus` as CloudAPI reports it.
    pub fn describe(&self) -> &'static str {
        if self.enabled {
            "NORMAL"
        } else {
            "CLOSE"
        }
    }
}

/// PEM certificate chain and private key served (by SNI) for a domain.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DomainCertificate {
    #[serde(default)]
    pub certificate_name: String,
    pub certificate_body: String,
    pub certificate_private_key: String,
}

impl std::fmt::Debug for DomainCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("DomainCertificate")
            .field("certificate_name", &self.certificate_name)
            .finish()
    }
}

impl Domain {
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_domain_name(&self.domain_name)
    }
}

/// A DNS host name (letters, digits, `-`, dots), at most 253 characters, optionally `*.`-prefixed.
/// `localhost` is accepted.
pub fn validate_domain_name(name: &str) -> Result<(), ModelError> {
    let host = name.strip_prefix("*.").unwrap_or(name);
    let labels_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if labels_ok && name == name.to_ascii_lowercase() {
        Ok(())
    } else {
        Err(ModelError::invalid(
            "DomainName",
            format!("`{name}` is not a lower-case host name"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names() {
        assert!(validate_group_name("demo").is_ok());
        assert!(validate_group_name("订单服务").is_ok());
        assert!(validate_group_name("my_group_1").is_ok());
        assert_eq!(
            validate_group_name("").unwrap_err().code,
            "MissingGroupName"
        );
        assert_eq!(
            validate_group_name("abc").unwrap_err().code,
            "InvalidGroupName"
        );
        assert_eq!(
            validate_group_name("1abc").unwrap_err().code,
            "InvalidGroupName"
        );
        assert_eq!(
            validate_group_name("ab-cd").unwrap_err().code,
            "InvalidGroupName"
        );
    }

    #[test]
    fn domain_names() {
        for ok in ["localhost", "api.example.com", "*.api.example.com", "a-b.c"] {
            assert!(validate_domain_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "API.example.com",
            "a..b",
            "-a.b",
            "a_b.com",
            "*",
            "a.b/c",
        ] {
            assert!(validate_domain_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base_paths() {
        assert!(validate_base_path("/").is_ok());
        assert!(validate_base_path("/v1").is_ok());
        assert!(validate_base_path("v1").is_err());
        assert!(validate_base_path("/a//b").is_err());
        assert!(validate_base_path("/[x]").is_err());
    }
}
