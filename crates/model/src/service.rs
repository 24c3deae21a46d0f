//! Where an API's requests go when its backend is not written in its own `ServiceConfig`:
//! VPC accesses (a named host and port, `SetVpcAccess`), backend services with one address per
//! stage (`CreateBackend`, `CreateBackendModel`) and stage variables (`#Name#` in a backend
//! address or path, `CreateApiStageVariable`).
//!
//! [`resolve`] turns a definition, the stage it is deployed in and these objects into the
//! address and path the data plane calls. The control plane runs it at deploy (a stage
//! variable that is missing refuses the deploy) and the data plane when it compiles an API, so
//! a VPC access re-pointed, a backend model changed or a variable changed is live at the next
//! compile, without a redeploy.

use crate::api::{ApiDefinition, VpcConfig};
use crate::error::ModelError;
use crate::stage::Stage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A named backend target: `InstanceId` (an IP address or host name) and `Port`, in `VpcId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcAccess {
    pub vpc_access_id: String,
    pub name: String,
    pub vpc_id: String,
    /// The target host: an IP address or a host name.
    pub instance_id: String,
    pub port: u16,
    /// The `Host` header sent to the target (default: the target's host and port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_target_host_name: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default = "crate::account::root_account")]
    pub owner_id: i64,
    #[serde(default)]
    pub created_time: String,
}

impl VpcAccess {
    /// `scheme://host:port` of the target.
    pub fn address(&self, scheme: &str) -> String {
        let host = &self.instance_id;
        if host.contains(':') {
            format!("{scheme}://[{host}]:{}", self.port)
        } else {
            format!("{scheme}://{host}:{}", self.port)
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        check_text("Name", &self.name, 64)?;
        check_text("VpcId", &self.vpc_id, 128)?;
        if self.port == 0 {
            return Err(ModelError::invalid("Port", "1 to 65535"));
        }
        let host = &self.instance_id;
        let ok_host = host.parse::<std::net::IpAddr>().is_ok()
            || (!host.is_empty()
                && host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)));
        if !ok_host {
            return Err(ModelError::invalid(
                "InstanceId",
                format!("`{host}` is not an IP address or host name"),
            ));
        }
        crate::validate::validate_service_address(&self.address("http"))
            .map_err(|e| ModelError::invalid("InstanceId", e.message))?;
        if let Some(h) = &self.vpc_target_host_name {
            check_host_header("VpcTargetHostName", h)?;
        }
        Ok(())
    }
}

fn check_text(field: &str, v: &str, max: usize) -> Result<(), ModelError> {
    if v.is_empty() {
        return Err(ModelError::missing(field));
    }
    if v.chars().count() > max || v.chars().any(|c| c.is_control()) {
        return Err(ModelError::invalid(
            field,
            format!("at most {max} characters, no control characters"),
        ));
    }
    Ok(())
}

fn check_host_header(field: &str, v: &str) -> Result<(), ModelError> {
    if v.is_empty()
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b))
    {
        return Err(ModelError::invalid(field, format!("`{v}` is not a host")));
    }
    Ok(())
}

/// Backend types a backend service or model may have here.
pub const BACKEND_TYPES: [&str; 2] = ["HTTP", "HTTP-VPC"];

/// Refuses a backend type this gateway cannot call (`InvalidBackendType`).
pub fn check_backend_type(t: &str) -> Result<String, ModelError> {
    let up = t.trim().to_ascii_uppercase();
    if BACKEND_TYPES.contains(&up.as_str()) {
        Ok(up)
    } else {
        Err(ModelError::new(
            "InvalidBackendType",
            format!(
                "backend type `{t}` is not supported; this gateway calls {} backends",
                BACKEND_TYPES.join(" and ")
            ),
        ))
    }
}

/// A shared backend service: one address per stage ([`BackendModel`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackendService {
    pub backend_id: String,
    pub backend_name: String,
    pub backend_type: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "crate::account::root_account")]
    pub owner_id: i64,
    #[serde(default)]
    pub created_time: String,
    #[serde(default)]
    pub modified_time: String,
    /// At most one per stage.
    #[serde(default)]
    pub models: Vec<BackendModel>,
}

impl BackendService {
    pub fn model(&self, stage: Stage) -> Option<&BackendModel> {
        self.models.iter().find(|m| m.stage_name == stage)
    }
}

/// A backend service's configuration in one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackendModel {
    pub backend_model_id: String,
    pub stage_name: Stage,
    pub backend_config: BackendConfig,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub gmt_create: String,
    #[serde(default)]
    pub gmt_modified: String,
}

/// `BackendModelData`: `{"Type": "HTTP", "ServiceAddress": "http://host:port"}` or
/// `{"Type": "HTTP-VPC", "VpcConfig": {"Name": "...", "VpcScheme": "http"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackendConfig {
    #[serde(default, alias = "type")]
    pub r#type: String,
    #[serde(
        default,
        alias = "serviceAddress",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_address: Option<String>,
    #[serde(default, alias = "vpcConfig", skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<VpcConfig>,
    #[serde(
        default,
        alias = "httpTargetHostName",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_target_host_name: Option<String>,
}

impl BackendConfig {
    /// Checks a model of type `backend_type` (already checked by [`check_backend_type`]).
    pub fn validate(&mut self, backend_type: &str) -> Result<(), ModelError> {
        if self.r#type.is_empty() {
            self.r#type = backend_type.to_string();
        }
        let t = check_backend_type(&self.r#type)?;
        if t != backend_type {
            return Err(ModelError::invalid(
                "BackendModelData",
                format!("Type `{t}` differs from BackendType `{backend_type}`"),
            ));
        }
        self.r#type = t;
        if self.r#type == "HTTP" {
            let a = self
                .service_address
                .as_deref()
                .ok_or_else(|| ModelError::missing("ServiceAddress"))?;
            check_template_address(a)?;
        } else {
            let name = self.vpc_config.as_ref().map_or("", |v| v.name.as_str());
            if name.is_empty() {
                return Err(ModelError::missing("VpcConfig.Name"));
            }
            check_scheme(self.vpc_config.as_ref())?;
        }
        if let Some(h) = &self.http_target_host_name {
            check_host_header("HttpTargetHostName", h)?;
        }
        Ok(())
    }
}

/// A stage variable of a group: `#Name#` in a backend address or path becomes `Value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StageVariable {
    pub group_id: String,
    pub stage_name: Stage,
    pub variable_name: String,
    pub variable_value: String,
    #[serde(default)]
    pub support_route: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_route_model: Option<serde_json::Value>,
}

impl StageVariable {
    pub fn validate(&self) -> Result<(), ModelError> {
        let n = &self.variable_name;
        let ok = n.len() <= 64
            && n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(ModelError::invalid(
                "VariableName",
                format!("`{n}`: 1 to 64 letters, digits or `_`, starting with a letter"),
            ));
        }
        if self.variable_value.is_empty()
            || self.variable_value.len() > 2048
            || self.variable_value.contains(['#', '\r', '\n', ' '])
        {
            return Err(ModelError::invalid(
                "VariableValue",
                "1 to 2048 characters, without `#`, spaces or line breaks",
            ));
        }
        Ok(())
    }
}

/// The names of the `#Name#` placeholders in `s`, in order (repeats included).
pub fn variables(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find('#') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('#') else { break };
        let name = &after[..end];
        if is_variable_name(name) {
            out.push(name);
            rest = &after[end + 1..];
        } else {
            rest = after;
        }
    }
    out
}

fn is_variable_name(n: &str) -> bool {
    n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `s` with every `#Name#` replaced by its value; `Err(name)` for the first one `vars` lacks.
pub fn fill<'a>(s: &'a str, vars: &BTreeMap<String, String>) -> Result<String, &'a str> {
    let mut out = s.to_string();
    for name in variables(s) {
        let value = vars.get(name).ok_or(name)?;
        out = out.replacen(&format!("#{name}#"), value, 1);
    }
    Ok(out)
}

/// Checks an address that may hold `#Name#` placeholders: fully when it holds none; otherwise
/// only its scheme (it is checked whole once filled, at deploy and compile).
pub fn check_template_address(address: &str) -> Result<(), ModelError> {
    if variables(address).is_empty() {
        return crate::validate::validate_service_address(address);
    }
    if !["http://", "https://", "h2c://"]
        .iter()
        .any(|s| address.starts_with(s))
    {
        return Err(ModelError::invalid(
            "ServiceAddress",
            format!("`{address}`: must start with http://, https:// or h2c://"),
        ));
    }
    Ok(())
}

/// `s` with each `#Name#` written `Name` (for the checks of a path before it is filled).
pub fn unmarked(s: &str) -> String {
    let mut out = s.to_string();
    for name in variables(s) {
        out = out.replacen(&format!("#{name}#"), name, 1);
    }
    out
}

pub(crate) fn check_scheme(vpc: Option<&VpcConfig>) -> Result<(), ModelError> {
    match vpc.and_then(|v| v.vpc_scheme.as_deref()) {
        None | Some("") => Ok(()),
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => Ok(()),
        Some(s) => Err(ModelError::invalid(
            "VpcScheme",
            format!("`{s}`: http or https"),
        )),
    }
}

/// What the backend of a definition resolves to in a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `scheme://host:port`, variables filled.
    pub address: String,
    /// `ServicePath`, variables filled.
    pub path: Option<String>,
    /// A `Host` header other than the address's (VPC access `VpcTargetHostName`).
    pub host: Option<String>,
}

/// Why a definition has no backend in a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// `VpcConfig` names no VPC access (`X504VE`).
    VpcUnmapped(String),
    /// The backend service has no model for the stage, or does not exist (`I404SR`).
    NoStageRoute(String),
    /// A `#Name#` has no value in the stage.
    MissingVariable(String),
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unresolved::VpcUnmapped(n) => write!(f, "VPC access `{n}` does not exist"),
            Unresolved::NoStageRoute(why) => f.write_str(why),
            Unresolved::MissingVariable(n) => write!(f, "stage variable `{n}` is not defined"),
        }
    }
}

/// The objects a backend is resolved against: the VPC accesses and backend services of every
/// account, and the variables of one group in one stage.
pub struct Targets<'a> {
    pub vpc_accesses: &'a [VpcAccess],
    pub backends: &'a [BackendService],
    pub variables: &'a BTreeMap<String, String>,
}

/// Whether a definition's backend is anything but its own literal `ServiceAddress` (a VPC
/// access, a backend service or stage variables); such definitions are [`resolve`]d.
pub fn needs_resolving(def: &ApiDefinition) -> bool {
    let sc = &def.service_config;
    !sc.mock
        && (def.backend_enable
            || sc.service_vpc_enable
            || sc
                .service_address
                .as_deref()
                .is_some_and(|a| a.contains('#'))
            || sc.service_path.as_deref().is_some_and(|p| p.contains('#')))
}

/// The address and path a definition of the account `owner` calls in `stage`.
pub fn resolve(
    def: &ApiDefinition,
    owner: i64,
    stage: Stage,
    t: &Targets<'_>,
) -> Result<Resolved, Unresolved> {
    let sc = &def.service_config;
    let (address, host) = if def.backend_enable {
        let id = def.backend_id.as_deref().unwrap_or("");
        let backend = t
            .backends
            .iter()
            .find(|b| b.backend_id == id && b.owner_id == owner)
            .ok_or_else(|| Unresolved::NoStageRoute(format!("backend `{id}` does not exist")))?;
        let model = backend.model(stage).ok_or_else(|| {
            Unresolved::NoStageRoute(format!(
                "backend `{}` has no model for stage {stage}",
                backend.backend_name
            ))
        })?;
        let c = &model.backend_config;
        if c.r#type == "HTTP-VPC" {
            let (a, h) = vpc_target(c.vpc_config.as_ref(), owner, t)?;
            (a, c.http_target_host_name.clone().or(h))
        } else {
            let a = c.service_address.clone().unwrap_or_default();
            (a, c.http_target_host_name.clone())
        }
    } else if sc.service_vpc_enable {
        vpc_target(sc.vpc_config.as_ref(), owner, t)?
    } else {
        (sc.service_address.clone().unwrap_or_default(), None)
    };
    let missing = |n: &str| Unresolved::MissingVariable(n.to_string());
    let address = fill(&address, t.variables).map_err(missing)?;
    let path = match &sc.service_path {
        Some(p) => Some(fill(p, t.variables).map_err(missing)?),
        None => None,
    };
    Ok(Resolved {
        address: address.trim_end_matches('/').to_string(),
        path,
        host,
    })
}

/// The address of the VPC access `vpc` names (by `Name`, or by `VpcId`, `InstanceId` and
/// `Port` when it has no name) and its `Host` header.
fn vpc_target(
    vpc: Option<&VpcConfig>,
    owner: i64,
    t: &Targets<'_>,
) -> Result<(String, Option<String>), Unresolved> {
    let Some(v) = vpc else {
        return Err(Unresolved::VpcUnmapped(String::new()));
    };
    let found = t.vpc_accesses.iter().find(|a| {
        a.owner_id == owner
            && if v.name.is_empty() {
                Some(a.vpc_id.as_str()) == v.vpc_id.as_deref()
                    && Some(a.instance_id.as_str()) == v.instance_id.as_deref()
                    && Some(a.port) == v.port
            } else {
                a.name == v.name
            }
    });
    let access = found.ok_or_else(|| Unresolved::VpcUnmapped(v.name.clone()))?;
    let scheme = v
        .vpc_scheme
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or("http")
        .to_ascii_lowercase();
    Ok((access.address(&scheme), access.vpc_target_host_name.clone()))
}

/// The stage variables of `group_id` in `stage`, by name.
pub fn variables_of(
    all: &[StageVariable],
    group_id: &str,
    stage: Stage,
) -> BTreeMap<String, String> {
    all.iter()
        .filter(|v| v.group_id == group_id && v.stage_name == stage)
        .map(|v| (v.variable_name.clone(), v.variable_value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn placeholders_are_found_and_filled() {
        assert_eq!(variables("http://#host#:#port#/a#b"), vec!["host", "port"]);
        assert_eq!(variables("/a#1x#b"), Vec::<&str>::new());
        let v = vars(&[("host", "10.0.0.1"), ("port", "8080")]);
        assert_eq!(
            fill("http://#host#:#port#", &v).unwrap(),
            "http://10.0.0.1:8080"
        );
        assert_eq!(fill("http://#nope#", &v).unwrap_err(), "nope");
        assert_eq!(unmarked("/v/#ver#/x"), "/v/ver/x");
    }

    #[test]
    fn template_addresses_are_checked_by_scheme_until_filled() {
        assert!(check_template_address("http://#host#:8080").is_ok());
        assert!(check_template_address("ftp://#host#").is_err());
        assert!(check_template_address("http://a b").is_err());
    }

    #[test]
    fn vpc_access_addresses() {
        let mut a = VpcAccess {
            vpc_access_id: "x".into(),
            name: "db".into(),
            vpc_id: "vpc-1".into(),
            instance_id: "10.0.0.7".into(),
            port: 8080,
            vpc_target_host_name: None,
            description: String::new(),
            owner_id: 1,
            created_time: String::new(),
        };
        assert_eq!(a.address("https"), "https://10.0.0.7:8080");
        assert!(a.validate().is_ok());
        a.instance_id = "::1".into();
        assert_eq!(a.address("http"), "http://[::1]:8080");
        assert!(a.validate().is_ok());
        a.instance_id = "i-bad host".into();
        assert!(a.validate().is_err());
        a.instance_id = "i-abc.internal".into();
        a.port = 0;
        assert!(a.validate().is_err());
    }

    #[test]
    fn backend_types() {
        assert_eq!(check_backend_type("http").unwrap(), "HTTP");
        assert_eq!(check_backend_type("HTTP-VPC").unwrap(), "HTTP-VPC");
        let e = check_backend_type("FC_EVENT").unwrap_err();
        assert_eq!(e.code, "InvalidBackendType");
        assert!(e.message.contains("FC_EVENT"), "{}", e.message);
    }
}
