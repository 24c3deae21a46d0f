//! API definitions, in CloudAPI's JSON shape (`RequestConfig`, `ServiceConfig`, ...).
//!
//! Members this version does not interpret yet (request parameters, constant and system
//! parameters, documentation fields) are kept verbatim in `extra`, so nothing a user wrote is
//! lost on a round trip through the store.

use crate::stage::Stage;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// HTTP methods an API may declare (`ANY` matches all of them).
pub const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "TRACE", "CONNECT", "ANY",
];

/// Longest backend timeout CloudAPI allows, in milliseconds.
pub const MAX_SERVICE_TIMEOUT_MS: u32 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthType {
    /// Digest signature (AppKey/AppSecret) or AppCode.
    #[default]
    App,
    Anonymous,
    #[serde(rename = "APPOPENID")]
    AppOpenId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiDefinition {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group_id: String,
    #[serde(default)]
    pub api_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "private")]
    pub visibility: String,
    #[serde(default)]
    pub auth_type: AuthType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_signature_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_code_auth_type: Option<String>,
    #[serde(default, deserialize_with = "flex_bool")]
    pub force_nonce_check: bool,
    #[serde(default, deserialize_with = "flex_bool")]
    pub disable_internet: bool,
    pub request_config: RequestConfig,
    pub service_config: ServiceConfig,
    #[serde(default = "json")]
    pub result_type: String,
    /// The backend is a shared backend service (`BackendId`), one address per stage.
    #[serde(
        default,
        deserialize_with = "flex_bool",
        skip_serializing_if = "is_false"
    )]
    pub backend_enable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_id: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_time: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub modified_time: String,
    /// Everything else the caller sent (RequestParameters, ConstantParameters, ...), verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn private() -> String {
    "PRIVATE".into()
}
fn json() -> String {
    "JSON".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestConfig {
    /// Comma list: `HTTP`, `HTTPS`, `HTTP,HTTPS`.
    #[serde(default = "http")]
    pub request_protocol: String,
    pub request_http_method: String,
    pub request_path: String,
    /// `MAPPING`, `MAPPING_PASSTHROUGH` or `PASSTHROUGH`; empty = chosen by
    /// [`crate::params::Parameters::of`] (MAPPING when parameters are declared).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_format: Option<String>,
    #[serde(default, deserialize_with = "flex_bool")]
    pub escape_path_param: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn http() -> String {
    "HTTP".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceConfig {
    #[serde(default = "http")]
    pub service_protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_http_method: Option<String>,
    /// Milliseconds, at most 30000.
    #[serde(default = "default_timeout", deserialize_with = "flex_u32")]
    pub service_timeout: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type_catagory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type_value: Option<String>,
    #[serde(default, deserialize_with = "flex_bool", serialize_with = "upper_bool")]
    pub mock: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock_result: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "flex_opt_u16"
    )]
    pub mock_status_code: Option<u16>,
    #[serde(default, deserialize_with = "mock_headers")]
    pub mock_headers: Vec<MockHeader>,
    /// The backend is the VPC access `VpcConfig` names.
    #[serde(
        default,
        alias = "serviceVpcEnable",
        deserialize_with = "flex_bool",
        serialize_with = "upper_bool",
        skip_serializing_if = "is_false"
    )]
    pub service_vpc_enable: bool,
    #[serde(
        default,
        alias = "vpcConfig",
        deserialize_with = "vpc_config",
        skip_serializing_if = "Option::is_none"
    )]
    pub vpc_config: Option<VpcConfig>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `VpcConfig`: the VPC access by `Name` (Terraform sends only `name`), or by `VpcId`,
/// `InstanceId` and `Port`; `VpcScheme` `http` (default) or `https`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct VpcConfig {
    #[serde(default, alias = "name")]
    pub name: String,
    #[serde(default, alias = "vpcId", skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, alias = "instanceId", skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(
        default,
        alias = "port",
        deserialize_with = "flex_opt_u16",
        skip_serializing_if = "Option::is_none"
    )]
    pub port: Option<u16>,
    #[serde(default, alias = "vpcScheme", skip_serializing_if = "Option::is_none")]
    pub vpc_scheme: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An empty object (Terraform sends `"vpcConfig": {}` with every ServiceConfig) is no config.
fn vpc_config<'de, D: Deserializer<'de>>(d: D) -> Result<Option<VpcConfig>, D::Error> {
    let v: Option<VpcConfig> = Option::deserialize(d)?;
    Ok(v.filter(|c| *c != VpcConfig::default()))
}

fn default_timeout() -> u32 {
    10_000
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MockHeader {
    pub header_name: String,
    pub header_value: String,
}

impl ApiDefinition {
    /// Protocols the API accepts: (http, https).
    pub fn protocols(&self) -> (bool, bool) {
        let mut http = false;
        let mut https = false;
        for p in self.request_config.request_protocol.split(',') {
            match p.trim().to_ascii_uppercase().as_str() {
                "HTTP" => http = true,
                "HTTPS" => https = true,
                _ => {}
            }
        }
        (http, https)
    }

    /// Transports a WebSocket upgrade is taken on: (plain, TLS). `WS` and `WSS` name one each;
    /// `WebSocket` (the SDK's spelling) follows the API's `HTTP`/`HTTPS`, or both when it lists
    /// neither.
    pub fn web_socket(&self) -> (bool, bool) {
        let (http, https) = self.protocols();
        let (mut plain, mut tls) = (false, false);
        for p in self.request_config.request_protocol.split(',') {
            match p.trim().to_ascii_uppercase().as_str() {
                "WS" => plain = true,
                "WSS" => tls = true,
                "WEBSOCKET" => {
                    let either = !http && !https;
                    plain |= http || either;
                    tls |= https || either;
                }
                _ => {}
            }
        }
        (plain, tls)
    }

    /// The request method, upper-cased, with the reference's `HEADER` spelling read as `HEAD`.
    pub fn method(&self) -> String {
        normalize_method(&self.request_config.request_http_method)
    }
}

pub fn normalize_method(m: &str) -> String {
    let up = m.trim().to_ascii_uppercase();
    if up == "HEADER" {
        "HEAD".into()
    } else {
        up
    }
}

/// One deployment of an API to a stage: the frozen definition and its history version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Deployment {
    pub api_id: String,
    pub group_id: String,
    pub stage_name: Stage,
    /// `yyyyMMddHHmmssSSS`, unique per API and stage.
    pub history_version: String,
    #[serde(default)]
    pub description: String,
    pub deployed_time: String,
    /// Exactly one deployment per API and stage is online while the API is deployed there.
    pub online: bool,
    pub definition: ApiDefinition,
}

fn flex_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::Null => Ok(false),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") || s.is_empty() => Ok(false),
        other => Err(de::Error::custom(format!(
            "expected TRUE or FALSE, got {other}"
        ))),
    }
}

fn upper_bool<S: Serializer>(b: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if *b { "TRUE" } else { "FALSE" })
}

fn flex_number<E: de::Error>(v: Value) -> Result<Option<u64>, E> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| E::custom(format!("{n} is not a whole number"))),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| E::custom(format!("`{s}` is not a number"))),
        other => Err(E::custom(format!("expected a number, got {other}"))),
    }
}

fn flex_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match flex_number::<D::Error>(Value::deserialize(d)?)? {
        None => Ok(default_timeout()),
        Some(n) => u32::try_from(n).map_err(|_| de::Error::custom(format!("{n} is too large"))),
    }
}

fn flex_opt_u16<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    flex_number::<D::Error>(Value::deserialize(d)?)?
        .map(|n| u16::try_from(n).map_err(|_| de::Error::custom(format!("{n} is too large"))))
        .transpose()
}

/// Accepts a plain array or the response form `{"MockHeader": [...]}`.
fn mock_headers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<MockHeader>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Plain(Vec<MockHeader>),
        Wrapped {
            #[serde(rename = "MockHeader")]
            mock_header: Vec<MockHeader>,
        },
        Null(()),
    }
    Ok(match Form::deserialize(d)? {
        Form::Plain(v) | Form::Wrapped { mock_header: v } => v,
        Form::Null(()) => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cloudapi_json_and_keeps_unknown_members() {
        let json = r#"{
            "ApiName": "get_user", "AuthType": "ANONYMOUS",
            "RequestConfig": {"RequestProtocol":"HTTP,HTTPS","RequestHttpMethod":"get",
                              "RequestPath":"/users/[userId]","RequestMode":"MAPPING"},
            "ServiceConfig": {"ServiceProtocol":"HTTP","ServiceAddress":"http://10.0.0.5:8080",
                              "ServicePath":"/internal/user/[userId]","ServiceTimeout":"3000",
                              "Mock":"FALSE","MockHeaders":{"MockHeader":[]}},
            "RequestParameters": [{"ApiParameterName":"userId","Location":"PATH"}]
        }"#;
        let api: ApiDefinition = serde_json::from_str(json).unwrap();
        assert_eq!(api.auth_type, AuthType::Anonymous);
        assert_eq!(api.service_config.service_timeout, 3000);
        assert!(!api.service_config.mock);
        assert_eq!(api.protocols(), (true, true));
        assert_eq!(api.method(), "GET");
        assert!(api.extra.contains_key("RequestParameters"));
        let back = serde_json::to_value(&api).unwrap();
        assert_eq!(back["RequestParameters"][0]["ApiParameterName"], "userId");
        assert_eq!(back["ServiceConfig"]["Mock"], "FALSE");
        let again: ApiDefinition = serde_json::from_value(back).unwrap();
        assert_eq!(again, api);
    }

    #[test]
    fn web_socket_follows_the_protocol_list() {
        let with = |protocols: &str| {
            let json = format!(
                r#"{{"ApiName": "socket", "AuthType": "ANONYMOUS",
                    "RequestConfig": {{"RequestProtocol": "{protocols}", "RequestHttpMethod": "GET",
                                      "RequestPath": "/ws"}},
                    "ServiceConfig": {{"ServiceAddress": "http://10.0.0.5", "ServiceTimeout": 3000}}}}"#
            );
            serde_json::from_str::<ApiDefinition>(&json).unwrap()
        };
        assert_eq!(with("HTTP,HTTPS").web_socket(), (false, false));
        assert_eq!(with("HTTP,WebSocket").web_socket(), (true, false));
        assert_eq!(with("HTTPS,websocket").web_socket(), (false, true));
        assert_eq!(with("WEBSOCKET").web_socket(), (true, true));
        assert_eq!(with("HTTP,WSS").web_socket(), (false, true));
        let only = crate::validate::validate_api(&with("WebSocket"));
        assert!(only.is_ok(), "{only:?}");
        assert!(crate::validate::validate_api(&with("HTTP,GRPC")).is_err());
        let mut device = with("HTTP,WebSocket");
        device
            .extra
            .insert("WebSocketApiType".into(), "REGISTER".into());
        let refused = crate::validate::validate_api(&device).unwrap_err();
        assert_eq!(refused.code, "InvalidWebSocketApiType");
        device
            .extra
            .insert("WebSocketApiType".into(), "COMMON".into());
        assert!(crate::validate::validate_api(&device).is_ok());
    }

    #[test]
    fn refuses_non_numeric_timeout() {
        let json = r#"{"RequestConfig":{"RequestHttpMethod":"GET","RequestPath":"/"},
                       "ServiceConfig":{"ServiceTimeout":"soon"}}"#;
        assert!(serde_json::from_str::<ApiDefinition>(json).is_err());
    }
}
