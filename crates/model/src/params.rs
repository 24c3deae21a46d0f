//! Parameters of an API: what the caller may send (`RequestParameters`), what the backend
//! receives (`ServiceParameters`, linked by `ServiceParametersMap`), fixed values
//! (`ConstantParameters`) and gateway-computed values (`SystemParameters`).
//!
//! [`Parameters::of`] reads them from a definition (plain arrays, the responses' wrapped form
//! `{"RequestParameter": [...]}`, or JSON text) and checks them as CreateApi does: a refused
//! definition gets a management error naming the item (`InvalidParamMapping` when the mapping
//! is incomplete). [`ValueCheck`] is the compiled per-value validation the data plane runs.

use crate::api::ApiDefinition;
use crate::error::ModelError;
use crate::path::{PathPattern, Segment};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    Path,
    Head,
    Query,
    /// A form field (`FORM` bodies) or the whole body (`STREAM` bodies).
    Body,
}

impl Location {
    pub fn parse(s: &str) -> Option<Location> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "PATH" => Location::Path,
            "HEAD" | "HEADER" => Location::Head,
            "QUERY" => Location::Query,
            "BODY" | "FORM" => Location::Body,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Location::Path => "PATH",
            Location::Head => "HEAD",
            Location::Query => "QUERY",
            Location::Body => "BODY",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParamType {
    #[default]
    String,
    Int,
    Long,
    Float,
    Double,
    Boolean,
    Array,
    File,
}

impl ParamType {
    /// Case-insensitive; the older `NUMBER` reads as `Double`.
    pub fn parse(s: &str) -> Option<ParamType> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "STRING" => ParamType::String,
            "INT" | "INTEGER" => ParamType::Int,
            "LONG" => ParamType::Long,
            "FLOAT" => ParamType::Float,
            "DOUBLE" | "NUMBER" => ParamType::Double,
            "BOOLEAN" | "BOOL" => ParamType::Boolean,
            "ARRAY" => ParamType::Array,
            "FILE" => ParamType::File,
            _ => return None,
        })
    }
}

/// `RequestConfig.RequestMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestMode {
    /// Declared parameters validated and mapped; undeclared ones dropped.
    Mapping,
    /// As `Mapping`, but undeclared parameters are forwarded unchanged.
    MappingPassthrough,
    /// Only path parameters are read; everything else is forwarded unchanged.
    Passthrough,
}

impl RequestMode {
    pub fn parse(s: &str) -> Option<RequestMode> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "MAPPING" => RequestMode::Mapping,
            "MAPPING_PASSTHROUGH" => RequestMode::MappingPassthrough,
            "PASSTHROUGH" => RequestMode::Passthrough,
            _ => return None,
        })
    }
}

/// `RequestConfig.BodyFormat`: how a POST/PUT body is read in the mapping modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded` fields are the BODY parameters.
    Form,
    /// The body is one opaque value, forwarded byte for byte.
    Stream,
}

/// Values the gateway computes (`SystemParameters[].ParameterName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemParam {
    CaClientIp,
    CaDomain,
    CaRequestHandleTime,
    CaAppId,
    CaRequestId,
    CaHttpSchema,
    CaProxy,
    CaApiName,
    CaClientUa,
    CaCloudMarketInstanceId,
    CaAppKey,
    CaAppExtendInfo,
    CaStage,
    CaInstanceId,
    CaSourceVpcId,
}

impl SystemParam {
    pub const ALL: [SystemParam; 15] = [
        SystemParam::CaClientIp,
        SystemParam::CaDomain,
        SystemParam::CaRequestHandleTime,
        SystemParam::CaAppId,
        SystemParam::CaRequestId,
        SystemParam::CaHttpSchema,
        SystemParam::CaProxy,
        SystemParam::CaApiName,
        SystemParam::CaClientUa,
        SystemParam::CaCloudMarketInstanceId,
        SystemParam::CaAppKey,
        SystemParam::CaAppExtendInfo,
        SystemParam::CaStage,
        SystemParam::CaInstanceId,
        SystemParam::CaSourceVpcId,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SystemParam::CaClientIp => "CaClientIp",
            SystemParam::CaDomain => "CaDomain",
            SystemParam::CaRequestHandleTime => "CaRequestHandleTime",
            SystemParam::CaAppId => "CaAppId",
            SystemParam::CaRequestId => "CaRequestId",
            SystemParam::CaHttpSchema => "CaHttpSchema",
            SystemParam::CaProxy => "CaProxy",
            SystemParam::CaApiName => "CaApiName",
            SystemParam::CaClientUa => "CaClientUa",
            SystemParam::CaCloudMarketInstanceId => "CaCloudMarketInstanceId",
            SystemParam::CaAppKey => "CaAppKey",
            SystemParam::CaAppExtendInfo => "CaAppExtendInfo",
            SystemParam::CaStage => "CaStage",
            SystemParam::CaInstanceId => "CaInstanceId",
            SystemParam::CaSourceVpcId => "CaSourceVpcId",
        }
    }

    pub fn parse(s: &str) -> Option<SystemParam> {
        SystemParam::ALL.into_iter().find(|p| p.name() == s.trim())
    }

    /// What `DescribeSystemParameters` says about it: (demo value, description).
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            SystemParam::CaClientIp => ("192.168.1.1", "IP address of the client"),
            SystemParam::CaDomain => ("api.example.com", "host name the request used"),
            SystemParam::CaRequestHandleTime => (
                "2024-05-01T12:00:00Z",
                "time the gateway received the request (UTC)",
            ),
            SystemParam::CaAppId => ("1234567890", "AppId of the calling app"),
            SystemParam::CaRequestId => ("CCE4DEE6-26EF-46CB-B5EB-327A9FE20ED1", "request id"),
            SystemParam::CaHttpSchema => ("http", "protocol the client used"),
            SystemParam::CaProxy => ("AliCloudApiGateway", "proxy name"),
            SystemParam::CaApiName => ("get_user", "API name"),
            SystemParam::CaClientUa => ("curl/8.0", "User-Agent of the client"),
            SystemParam::CaCloudMarketInstanceId => ("", "marketplace instance id (empty)"),
            SystemParam::CaAppKey => ("203752305", "AppKey of the calling app"),
            SystemParam::CaAppExtendInfo => ("", "ExtendInfo of the calling app"),
            SystemParam::CaStage => ("RELEASE", "stage"),
            SystemParam::CaInstanceId => ("apigw-node", "gateway node id"),
            SystemParam::CaSourceVpcId => ("", "VPC id of the caller (empty)"),
        }
    }
}

/// One declared request parameter.
#[derive(Debug, Clone)]
pub struct RequestParameter {
    pub name: String,
    pub location: Location,
    pub param_type: ParamType,
    pub required: bool,
    pub default_value: Option<String>,
    pub check: ValueCheck,
}

/// Where a value goes in the backend request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub location: Location,
}

#[derive(Debug, Clone)]
pub struct ConstantParameter {
    pub target: Target,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct SystemParameter {
    pub param: SystemParam,
    pub target: Target,
}

/// Everything an API says about parameters, read and checked.
#[derive(Debug, Clone)]
pub struct Parameters {
    pub mode: RequestMode,
    /// `None` when the API reads no body (no BODY parameter and no `BodyFormat`).
    pub body_format: Option<BodyFormat>,
    /// Declared request parameters, each with the backend target it is mapped to (`None`
    /// only in PASSTHROUGH, where unmapped parameters keep their place).
    pub request: Vec<(RequestParameter, Option<Target>)>,
    pub constants: Vec<ConstantParameter>,
    pub system: Vec<SystemParameter>,
}

impl Parameters {
    /// Reads and checks the parameters of `api`, whose request path is `path`.
    pub fn of(api: &ApiDefinition, path: &PathPattern) -> Result<Parameters, ModelError> {
        let rc = &api.request_config;
        let declared = items(api, "RequestParameters")?;
        let mode = effective_mode(&rc.request_mode, !declared.is_empty())?;
        let mut request = Vec::new();
        for (i, item) in declared.iter().enumerate() {
            request.push(request_parameter(i, item)?);
        }
        check_request_names(&request, path)?;
        let service = service_parameters(&items(api, "ServiceParameters")?)?;
        let map = mappings(&items(api, "ServiceParametersMap")?)?;
        let mut mapped = Vec::new();
        for p in request {
            let target = target_of(&p, &service, &map, mode)?;
            mapped.push((p, target));
        }
        for (req, _) in &map {
            if !mapped.iter().any(|(p, _)| &p.name == req) {
                return Err(mapping_error(format!(
                    "ServiceParametersMap names request parameter `{req}`, which is not declared"
                )));
            }
        }
        let body_format = body_format(rc.body_format.as_deref(), &mapped)?;
        let constants = constants(&items(api, "ConstantParameters")?)?;
        let system = system_parameters(&items(api, "SystemParameters")?)?;
        let params = Parameters {
            mode,
            body_format,
            request: mapped,
            constants,
            system,
        };
        params.check_targets()?;
        Ok(params)
    }

    /// True when the API needs the parameter phase at all.
    pub fn is_empty(&self) -> bool {
        self.mode == RequestMode::Passthrough
            && self.constants.is_empty()
            && self.system.is_empty()
            && self.request.iter().all(|(_, t)| t.is_none())
    }

    /// The value source of a backend PATH parameter `name`: declared request parameter index.
    pub fn path_source(&self, name: &str) -> bool {
        self.request.iter().any(|(_, t)| {
            t.as_ref()
                .is_some_and(|t| t.location == Location::Path && t.name == name)
        }) || self
            .constants
            .iter()
            .any(|c| c.target.location == Location::Path && c.target.name == name)
            || self
                .system
                .iter()
                .any(|s| s.target.location == Location::Path && s.target.name == name)
    }

    /// Backend header names must be valid; two values may not land on the same backend name
    /// and location.
    fn check_targets(&self) -> Result<(), ModelError> {
        let mut seen = HashSet::new();
        let targets = self
            .request
            .iter()
            .filter_map(|(_, t)| t.as_ref())
            .chain(self.constants.iter().map(|c| &c.target))
            .chain(self.system.iter().map(|s| &s.target));
        for t in targets {
            if t.location == Location::Head && !is_header_name(&t.name) {
                return Err(mapping_error(format!(
                    "`{}` is not a valid header name",
                    t.name
                )));
            }
            let key = match t.location {
                Location::Head => (t.location, t.name.to_ascii_lowercase()),
                _ => (t.location, t.name.clone()),
            };
            if !seen.insert(key) {
                return Err(mapping_error(format!(
                    "two parameters are sent to the backend as {} `{}`",
                    t.location.as_str(),
                    t.name
                )));
            }
        }
        for c in &self.constants {
            if c.target.location == Location::Head && c.value.contains(['\r', '\n']) {
                return Err(ModelError::invalid(
                    "ConstantParameters",
                    format!("the value of `{}` holds a line break", c.target.name),
                ));
            }
        }
        Ok(())
    }
}

/// An omitted `RequestMode` is MAPPING when parameters are declared and PASSTHROUGH when none
/// are (the FAQ: without definitions the gateway passes parameters through).
fn effective_mode(mode: &str, declares: bool) -> Result<RequestMode, ModelError> {
    if mode.trim().is_empty() {
        return Ok(if declares {
            RequestMode::Mapping
        } else {
            RequestMode::Passthrough
        });
    }
    RequestMode::parse(mode).ok_or_else(|| {
        ModelError::invalid("RequestMode", "MAPPING, MAPPING_PASSTHROUGH or PASSTHROUGH")
    })
}

fn mapping_error(why: String) -> ModelError {
    ModelError::new(
        "InvalidParamMapping",
        format!("Parameters must be fully mapped: {why}"),
    )
}

/// The items of a list member: a JSON array, `{"Singular": [...]}`, JSON text, or absent.
fn items(api: &ApiDefinition, member: &str) -> Result<Vec<Map<String, Value>>, ModelError> {
    let bad = |why: &str| ModelError::invalid(member, why);
    let value = match api.extra.get(member) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => {
            serde_json::from_str(s).map_err(|_| bad("not a JSON array of objects"))?
        }
        Some(v) => v.clone(),
    };
    let list = match value {
        Value::Array(a) => a,
        Value::Object(o) if o.len() == 1 => match o.into_iter().next() {
            Some((_, Value::Array(a))) => a,
            _ => return Err(bad("not a JSON array of objects")),
        },
        _ => return Err(bad("not a JSON array of objects")),
    };
    list.into_iter()
        .map(|v| match v {
            Value::Object(o) => Ok(o),
            _ => Err(bad("every item must be an object")),
        })
        .collect()
}

/// A member's text: strings as they are, numbers and booleans written out.
fn text(item: &Map<String, Value>, key: &str) -> Option<String> {
    match item.get(key)? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(
    member: &str,
    name: &str,
    item: &Map<String, Value>,
    key: &str,
) -> Result<Option<f64>, ModelError> {
    match text(item, key) {
        None => Ok(None),
        Some(t) => {
            t.trim().parse::<f64>().map(Some).map_err(|_| {
                ModelError::invalid(member, format!("{key} of `{name}` is not a number"))
            })
        }
    }
}

fn count(
    member: &str,
    name: &str,
    item: &Map<String, Value>,
    key: &str,
) -> Result<Option<usize>, ModelError> {
    match text(item, key) {
        None => Ok(None),
        Some(t) => t.trim().parse::<usize>().map(Some).map_err(|_| {
            ModelError::invalid(member, format!("{key} of `{name}` is not a whole number"))
        }),
    }
}

fn location(member: &str, name: &str, item: &Map<String, Value>) -> Result<Location, ModelError> {
    let raw = text(item, "Location").unwrap_or_default();
    Location::parse(&raw).ok_or_else(|| {
        ModelError::invalid(
            member,
            format!("Location of `{name}` must be BODY, HEAD, QUERY or PATH"),
        )
    })
}

fn request_parameter(i: usize, item: &Map<String, Value>) -> Result<RequestParameter, ModelError> {
    const M: &str = "RequestParameters";
    let name = text(item, "ApiParameterName")
        .ok_or_else(|| ModelError::invalid(M, format!("item {} has no ApiParameterName", i + 1)))?;
    let location = location(M, &name, item)?;
    let type_text = text(item, "ParameterType").unwrap_or_else(|| "String".into());
    let param_type = ParamType::parse(&type_text).ok_or_else(|| {
        ModelError::invalid(
            M,
            format!("ParameterType `{type_text}` of `{name}` is not String, Int, Long, Float, Double, Boolean, Array or File"),
        )
    })?;
    let items_type = match text(item, "ArrayItemsType") {
        None => ParamType::String,
        Some(t) => match ParamType::parse(&t) {
            Some(ParamType::Array) | None => {
                return Err(ModelError::invalid(
                    M,
                    format!("ArrayItemsType `{t}` of `{name}` is not a scalar type"),
                ))
            }
            Some(p) => p,
        },
    };
    let required = match text(item, "Required")
        .as_deref()
        .map(str::to_ascii_uppercase)
    {
        None => false,
        Some(r) if r == "REQUIRED" || r == "TRUE" => true,
        Some(r) if r == "OPTIONAL" || r == "FALSE" => false,
        Some(r) => {
            return Err(ModelError::invalid(
                M,
                format!("Required of `{name}` is `{r}`, not REQUIRED or OPTIONAL"),
            ))
        }
    };
    let check = ValueCheck::new(CheckSpec {
        param_type,
        items_type,
        min_value: number(M, &name, item, "MinValue")?,
        max_value: number(M, &name, item, "MaxValue")?,
        min_length: count(M, &name, item, "MinLength")?,
        max_length: count(M, &name, item, "MaxLength")?,
        enum_values: text(item, "EnumValue"),
        regular_expression: text(item, "RegularExpression"),
        json_scheme: text(item, "JsonScheme"),
    })
    .map_err(|why| ModelError::invalid(M, format!("`{name}`: {why}")))?;
    let default_value = text(item, "DefaultValue");
    if let Some(d) = &default_value {
        check.check(d).map_err(|why| {
            ModelError::invalid(M, format!("DefaultValue of `{name}` is invalid: {why}"))
        })?;
    }
    Ok(RequestParameter {
        name,
        location,
        param_type,
        required,
        default_value,
        check,
    })
}

/// Names are unique across locations; PATH parameters are exactly the path's `[name]`s.
fn check_request_names(request: &[RequestParameter], path: &PathPattern) -> Result<(), ModelError> {
    let mut seen = HashSet::new();
    for p in request {
        if !seen.insert(p.name.as_str()) {
            return Err(ModelError::invalid(
                "RequestParameters",
                format!("parameter `{}` is declared twice", p.name),
            ));
        }
        if p.location == Location::Path && !path.param_names().any(|n| n == p.name) {
            return Err(ModelError::invalid(
                "RequestParameters",
                format!(
                    "PATH parameter `{}` does not appear as `[{}]` in RequestPath",
                    p.name, p.name
                ),
            ));
        }
        if p.location == Location::Head && !is_header_name(&p.name) {
            return Err(ModelError::invalid(
                "RequestParameters",
                format!("`{}` is not a valid header name", p.name),
            ));
        }
    }
    Ok(())
}

struct ServiceParameter {
    target: Target,
    /// `CONSTANT` and `SYSTEM` items (the legacy modelling) need no request parameter.
    fed_by_request: bool,
}

fn service_parameters(items: &[Map<String, Value>]) -> Result<Vec<ServiceParameter>, ModelError> {
    const M: &str = "ServiceParameters";
    let mut out: Vec<ServiceParameter> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let name = text(item, "ServiceParameterName").ok_or_else(|| {
            ModelError::invalid(M, format!("item {} has no ServiceParameterName", i + 1))
        })?;
        let location = location(M, &name, item)?;
        if let Some(t) = text(item, "ParameterType") {
            if ParamType::parse(&t).is_none() {
                return Err(ModelError::invalid(
                    M,
                    format!("ParameterType `{t}` of `{name}` is not a known type"),
                ));
            }
        }
        let catalog = text(item, "ParameterCatalog").unwrap_or_default();
        let fed_by_request =
            !matches!(catalog.to_ascii_uppercase().as_str(), "CONSTANT" | "SYSTEM");
        if out.iter().any(|s| s.target.name == name) {
            return Err(ModelError::invalid(
                M,
                format!("backend parameter `{name}` is declared twice"),
            ));
        }
        out.push(ServiceParameter {
            target: Target { name, location },
            fed_by_request,
        });
    }
    Ok(out)
}

fn mappings(items: &[Map<String, Value>]) -> Result<Vec<(String, String)>, ModelError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let (Some(req), Some(svc)) = (
            text(item, "RequestParameterName"),
            text(item, "ServiceParameterName"),
        ) else {
            return Err(mapping_error(format!(
                "ServiceParametersMap item {} needs RequestParameterName and ServiceParameterName",
                i + 1
            )));
        };
        if out.iter().any(|(r, _)| *r == req) {
            return Err(mapping_error(format!(
                "request parameter `{req}` is mapped twice"
            )));
        }
        out.push((req, svc));
    }
    Ok(out)
}

/// The backend target of a request parameter: its map entry's ServiceParameter.
fn target_of(
    p: &RequestParameter,
    service: &[ServiceParameter],
    map: &[(String, String)],
    mode: RequestMode,
) -> Result<Option<Target>, ModelError> {
    let Some((_, svc)) = map.iter().find(|(r, _)| *r == p.name) else {
        if mode == RequestMode::Passthrough {
            return Ok(None);
        }
        return Err(mapping_error(format!(
            "request parameter `{}` has no ServiceParametersMap entry",
            p.name
        )));
    };
    let s = service
        .iter()
        .find(|s| s.target.name == *svc)
        .ok_or_else(|| {
            mapping_error(format!(
                "`{}` is mapped to backend parameter `{svc}`, which is not in ServiceParameters",
                p.name
            ))
        })?;
    if !s.fed_by_request {
        return Err(mapping_error(format!(
            "`{}` is mapped to `{svc}`, a CONSTANT or SYSTEM backend parameter",
            p.name
        )));
    }
    Ok(Some(s.target.clone()))
}

fn body_format(
    declared: Option<&str>,
    request: &[(RequestParameter, Option<Target>)],
) -> Result<Option<BodyFormat>, ModelError> {
    let body_params = request
        .iter()
        .filter(|(p, _)| p.location == Location::Body)
        .count();
    let format = match declared.map(|f| f.trim().to_ascii_uppercase()) {
        None => None,
        Some(f) if f.is_empty() => None,
        Some(f) if f == "FORM" => Some(BodyFormat::Form),
        Some(f) if f == "STREAM" => Some(BodyFormat::Stream),
        Some(_) => return Err(ModelError::invalid("BodyFormat", "FORM or STREAM")),
    };
    match format {
        None if body_params > 0 => Ok(Some(BodyFormat::Form)),
        Some(BodyFormat::Stream) if body_params > 1 => Err(ModelError::invalid(
            "RequestParameters",
            "a STREAM body is one BODY parameter; more than one is declared",
        )),
        f => Ok(f),
    }
}

fn constants(items: &[Map<String, Value>]) -> Result<Vec<ConstantParameter>, ModelError> {
    const M: &str = "ConstantParameters";
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let name = text(item, "ServiceParameterName").ok_or_else(|| {
                ModelError::invalid(M, format!("item {} has no ServiceParameterName", i + 1))
            })?;
            let location = location(M, &name, item)?;
            let value = text(item, "ConstantValue").unwrap_or_default();
            Ok(ConstantParameter {
                target: Target { name, location },
                value,
            })
        })
        .collect()
}

fn system_parameters(items: &[Map<String, Value>]) -> Result<Vec<SystemParameter>, ModelError> {
    const M: &str = "SystemParameters";
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let raw = text(item, "ParameterName").ok_or_else(|| {
                ModelError::invalid(M, format!("item {} has no ParameterName", i + 1))
            })?;
            let param = SystemParam::parse(&raw).ok_or_else(|| {
                ModelError::invalid(M, format!("`{raw}` is not a system parameter"))
            })?;
            let name = text(item, "ServiceParameterName").unwrap_or_else(|| raw.clone());
            let location = location(M, &name, item)?;
            Ok(SystemParameter {
                param,
                target: Target { name, location },
            })
        })
        .collect()
}

/// Checks a `ServicePath`: every `[name]` must be filled, by a backend PATH parameter or, in
/// a path without parameter definitions, by the request path parameter of that name.
pub fn check_service_path(
    service_path: &PathPattern,
    request_path: &PathPattern,
    params: &Parameters,
) -> Result<(), ModelError> {
    for seg in &service_path.segments {
        if let Segment::Param(name) = seg {
            let filled = params.path_source(name)
                || (request_path.param_names().any(|n| n == name)
                    && !params.request.iter().any(|(p, t)| {
                        p.name == *name && t.as_ref().is_some_and(|t| t.location != Location::Path)
                    }));
            if !filled {
                return Err(mapping_error(format!(
                    "backend path parameter `[{name}]` is fed by no request, constant or system parameter"
                )));
            }
        }
    }
    Ok(())
}

fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The constraints of one parameter, compiled once (regular expression, JSON Schema).
#[derive(Debug, Clone)]
pub struct ValueCheck {
    param_type: ParamType,
    items_type: ParamType,
    min_value: Option<f64>,
    max_value: Option<f64>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    enum_values: Option<Box<[Box<str>]>>,
    regex: Option<regex::Regex>,
    schema: Option<Arc<jsonschema::Validator>>,
}

/// The raw constraints of a parameter, as declared.
#[derive(Debug, Clone, Default)]
pub struct CheckSpec {
    pub param_type: ParamType,
    pub items_type: ParamType,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub enum_values: Option<String>,
    pub regular_expression: Option<String>,
    pub json_scheme: Option<String>,
}

impl ValueCheck {
    /// Compiles the constraints; the error says what is wrong with them.
    pub fn new(spec: CheckSpec) -> Result<ValueCheck, String> {
        if let (Some(lo), Some(hi)) = (spec.min_value, spec.max_value) {
            if lo > hi {
                return Err(format!("MinValue {lo} is above MaxValue {hi}"));
            }
        }
        if let (Some(lo), Some(hi)) = (spec.min_length, spec.max_length) {
            if lo > hi {
                return Err(format!("MinLength {lo} is above MaxLength {hi}"));
            }
        }
        let regex = match spec.regular_expression {
            None => None,
            Some(r) => Some(
                regex::Regex::new(&format!("^(?:{r})$"))
                    .map_err(|e| format!("RegularExpression does not compile: {e}"))?,
            ),
        };
        let schema = match spec.json_scheme {
            None => None,
            Some(s) => {
                let doc: Value =
                    serde_json::from_str(&s).map_err(|e| format!("JsonScheme is not JSON: {e}"))?;
                Some(Arc::new(jsonschema::validator_for(&doc).map_err(|e| {
                    format!("JsonScheme is not a valid JSON Schema: {e}")
                })?))
            }
        };
        let enum_values = spec.enum_values.map(|e| {
            e.split(',')
                .map(|v| v.trim().into())
                .collect::<Vec<Box<str>>>()
                .into_boxed_slice()
        });
        Ok(ValueCheck {
            param_type: spec.param_type,
            items_type: spec.items_type,
            min_value: spec.min_value,
            max_value: spec.max_value,
            min_length: spec.min_length,
            max_length: spec.max_length,
            enum_values,
            regex,
            schema,
        })
    }

    pub fn param_type(&self) -> ParamType {
        self.param_type
    }

    /// Checks one (decoded) value; the error is the reason after "Invalid parameter `x` ".
    pub fn check(&self, value: &str) -> Result<(), String> {
        self.check_as(self.param_type, value)
    }

    /// Checks the values of an array parameter (each against the item type and constraints).
    pub fn check_items<'a>(&self, values: impl Iterator<Item = &'a str>) -> Result<(), String> {
        for v in values {
            self.check_as(self.items_type, v)?;
        }
        Ok(())
    }

    fn check_as(&self, ty: ParamType, value: &str) -> Result<(), String> {
        let number = match ty {
            ParamType::Int => Some(
                value
                    .parse::<i32>()
                    .map_err(|_| "must be an Int (32-bit integer)".to_string())?
                    as f64,
            ),
            ParamType::Long => Some(
                value
                    .parse::<i64>()
                    .map_err(|_| "must be a Long (64-bit integer)".to_string())?
                    as f64,
            ),
            ParamType::Float | ParamType::Double => {
                let n = value
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| format!("must be a {}", type_name(ty)))?;
                Some(n)
            }
            ParamType::Boolean => {
                if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                    return Err("must be true or false".into());
                }
                None
            }
            _ => None,
        };
        if let Some(n) = number {
            if let Some(lo) = self.min_value.filter(|lo| n < *lo) {
                return Err(format!("must be at least {lo}"));
            }
            if let Some(hi) = self.max_value.filter(|hi| n > *hi) {
                return Err(format!("must be at most {hi}"));
            }
        }
        if self.min_length.is_some() || self.max_length.is_some() {
            let chars = value.chars().count();
            if let Some(lo) = self.min_length.filter(|lo| chars < *lo) {
                return Err(format!("must be at least {lo} characters long"));
            }
            if let Some(hi) = self.max_length.filter(|hi| chars > *hi) {
                return Err(format!("must be at most {hi} characters long"));
            }
        }
        if let Some(allowed) = &self.enum_values {
            if !allowed.iter().any(|a| &**a == value) {
                return Err(format!("must be one of {}", allowed.join(",")));
            }
        }
        if let Some(re) = &self.regex {
            if !re.is_match(value) {
                return Err("does not match the regular expression".into());
            }
        }
        if let Some(schema) = &self.schema {
            let doc: Value = serde_json::from_str(value).map_err(|_| "is not JSON".to_string())?;
            let first = schema.iter_errors(&doc).next().map(|e| e.to_string());
            if let Some(e) = first {
                return Err(format!("does not match the JSON Schema: {e}"));
            }
        }
        Ok(())
    }
}

fn type_name(t: ParamType) -> &'static str {
    match t {
        ParamType::String => "String",
        ParamType::Int => "Int",
        ParamType::Long => "Long",
        ParamType::Float => "Float",
        ParamType::Double => "Double",
        ParamType::Boolean => "Boolean",
        ParamType::Array => "Array",
        ParamType::File => "File",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api(mode: &str, extra: Value) -> ApiDefinition {
        let mut doc = json!({
            "ApiName": "get_user",
            "RequestConfig": {"RequestHttpMethod": "GET", "RequestPath": "/users/[userId]",
                              "RequestMode": mode},
            "ServiceConfig": {"ServiceAddress": "http://10.0.0.5:8080",
                              "ServicePath": "/internal/[uid]"}
        });
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        serde_json::from_value(doc).unwrap()
    }

    fn complete() -> Value {
        json!({
            "RequestParameters": [
                {"ApiParameterName": "userId", "Location": "PATH", "ParameterType": "String",
                 "Required": "REQUIRED"},
                {"ApiParameterName": "verbose", "Location": "QUERY", "ParameterType": "Boolean",
                 "Required": "OPTIONAL", "DefaultValue": "false"}],
            "ServiceParameters": {"ServiceParameter": [
                {"ServiceParameterName": "uid", "Location": "PATH", "ParameterType": "STRING"},
                {"ServiceParameterName": "v", "Location": "QUERY", "ParameterType": "BOOLEAN"}]},
            "ServiceParametersMap": "[{\"RequestParameterName\":\"userId\",\"ServiceParameterName\":\"uid\"},{\"RequestParameterName\":\"verbose\",\"ServiceParameterName\":\"v\"}]",
            "ConstantParameters": [{"ServiceParameterName": "X-Env", "ConstantValue": "prod",
                                    "Location": "HEAD"}],
            "SystemParameters": [{"ParameterName": "CaClientIp",
                                  "ServiceParameterName": "X-Real-IP", "Location": "HEAD"}]
        })
    }

    fn check(mode: &str, extra: Value) -> Result<Parameters, ModelError> {
        crate::validate::validate_api(&api(mode, extra.clone()))?;
        let a = api(mode, extra);
        let path = PathPattern::parse(&a.request_config.request_path, false).unwrap();
        Parameters::of(&a, &path)
    }

    fn edit(f: impl FnOnce(&mut Value)) -> Value {
        let mut v = complete();
        f(&mut v);
        v
    }

    #[test]
    fn the_spec_example_is_accepted_in_every_list_form() {
        let p = check("MAPPING", complete()).unwrap();
        assert_eq!(p.mode, RequestMode::Mapping);
        assert_eq!(p.request.len(), 2);
        assert_eq!(
            p.request[0].1,
            Some(Target {
                name: "uid".into(),
                location: Location::Path
            })
        );
        assert_eq!(p.constants[0].value, "prod");
        assert_eq!(p.system[0].param, SystemParam::CaClientIp);
        assert!(!p.is_empty());
    }

    #[test]
    fn omitted_mode_depends_on_declarations() {
        let p = check("", complete()).unwrap();
        assert_eq!(p.mode, RequestMode::Mapping);
        let a = api("", json!({}));
        let mut a2 = a.clone();
        a2.service_config.service_path = Some("/internal/[userId]".into());
        let path = PathPattern::parse("/users/[userId]", false).unwrap();
        let p = Parameters::of(&a2, &path).unwrap();
        assert_eq!(p.mode, RequestMode::Passthrough);
        assert!(p.is_empty());
    }

    fn code_of(r: Result<Parameters, ModelError>) -> (String, String) {
        let e = r.expect_err("refused");
        (e.code, e.message)
    }

    #[test]
    fn incomplete_mappings_are_refused() {
        let (code, msg) = code_of(check(
            "MAPPING",
            edit(|v| v["ServiceParametersMap"] = json!([])),
        ));
        assert_eq!(code, "InvalidParamMapping");
        assert!(
            msg.contains("`userId` has no ServiceParametersMap entry"),
            "{msg}"
        );
        let (code, msg) = code_of(check(
            "MAPPING_PASSTHROUGH",
            edit(|v| {
                v["ServiceParameters"] =
                    json!([{"ServiceParameterName": "uid", "Location": "PATH"}])
            }),
        ));
        assert_eq!(code, "InvalidParamMapping");
        assert!(msg.contains("backend parameter `v`"), "{msg}");
        let (code, _) = code_of(check(
            "MAPPING",
            edit(|v| {
                v["ServiceParametersMap"] = json!([
                    {"RequestParameterName": "userId", "ServiceParameterName": "uid"},
                    {"RequestParameterName": "verbose", "ServiceParameterName": "v"},
                    {"RequestParameterName": "ghost", "ServiceParameterName": "v"}])
            }),
        ));
        assert_eq!(code, "InvalidParamMapping");
        // PASSTHROUGH needs no mapping, but the backend path must still be fed.
        let (code, msg) = code_of(check(
            "PASSTHROUGH",
            edit(|v| v["ServiceParametersMap"] = json!([])),
        ));
        assert_eq!(code, "InvalidParamMapping");
        assert!(msg.contains("`[uid]`"), "{msg}");
    }

    #[test]
    fn bad_declarations_name_the_item() {
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"ApiParameterName": "x", "Location": "COOKIE"}),
                "Location of `x`",
            ),
            (
                json!({"ApiParameterName": "x", "Location": "QUERY", "ParameterType": "Date"}),
                "ParameterType `Date`",
            ),
            (
                json!({"ApiParameterName": "x", "Location": "QUERY", "RegularExpression": "(["}),
                "RegularExpression does not compile",
            ),
            (
                json!({"ApiParameterName": "x", "Location": "QUERY", "JsonScheme": "{"}),
                "JsonScheme is not JSON",
            ),
            (
                json!({"ApiParameterName": "x", "Location": "QUERY", "JsonScheme": "{\"type\": 5}"}),
                "not a valid JSON Schema",
            ),
            (
                json!({"ApiParameterName": "x", "Location": "QUERY", "ParameterType": "Int", "MinValue": 5, "MaxValue": 1}),
                "MinValue 5 is above MaxValue 1",
            ),
            (
                json!({"ApiParameterName": "x", "Location": "QUERY", "ParameterType": "Int", "DefaultValue": "ten"}),
                "DefaultValue of `x` is invalid",
            ),
            (
                json!({"ApiParameterName": "x", "Location": "PATH"}),
                "does not appear as `[x]`",
            ),
            (
                json!({"ApiParameterName": "userId", "Location": "QUERY"}),
                "declared twice",
            ),
            (
                json!({"ApiParameterName": "bad header", "Location": "HEAD"}),
                "not a valid header name",
            ),
            (
                json!({"ApiParameterName": "x", "Location": "QUERY", "Required": "MAYBE"}),
                "not REQUIRED or OPTIONAL",
            ),
            (json!({"Location": "QUERY"}), "has no ApiParameterName"),
        ];
        for (item, want) in cases {
            let r = check(
                "MAPPING",
                edit(|v| {
                    v["RequestParameters"]
                        .as_array_mut()
                        .unwrap()
                        .push(item.clone())
                }),
            );
            let (code, msg) = code_of(r);
            assert_eq!(code, "InvalidRequestParameters", "{item}: {msg}");
            assert!(msg.contains(want), "{item}: {msg}");
        }
        let (code, _) = code_of(check(
            "MAPPING",
            edit(|v| {
                v["SystemParameters"] = json!([{"ParameterName": "CaWhatever", "Location": "HEAD"}])
            }),
        ));
        assert_eq!(code, "InvalidSystemParameters");
        let (code, _) = code_of(check(
            "MAPPING",
            edit(
                |v| v["ConstantParameters"] = json!([{"ServiceParameterName": "X-A", "ConstantValue": "a\r\nb", "Location": "HEAD"}]),
            ),
        ));
        assert_eq!(code, "InvalidConstantParameters");
        let (code, _) = code_of(check(
            "MAPPING",
            edit(
                |v| v["ConstantParameters"] = json!([{"ServiceParameterName": "X-Real-IP", "ConstantValue": "1", "Location": "HEAD"}]),
            ),
        ));
        assert_eq!(
            code, "InvalidParamMapping",
            "two values for one backend header"
        );
    }

    #[test]
    fn value_checks() {
        let c = ValueCheck::new(CheckSpec {
            param_type: ParamType::Int,
            min_value: Some(-5.0),
            max_value: Some(5.0),
            ..Default::default()
        })
        .unwrap();
        assert!(c.check("5").is_ok() && c.check("-5").is_ok());
        assert_eq!(c.check("6").unwrap_err(), "must be at most 5");
        assert_eq!(
            c.check("2147483648").unwrap_err(),
            "must be an Int (32-bit integer)"
        );
        let s = ValueCheck::new(CheckSpec {
            max_length: Some(2),
            enum_values: Some("张三, 李四".into()),
            regular_expression: Some(r"\p{Han}+".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(s.check("张三").is_ok() && s.check("李四").is_ok());
        assert!(s.check("王五").unwrap_err().starts_with("must be one of"));
        let r = ValueCheck::new(CheckSpec {
            regular_expression: Some("a|b".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(r.check("a").is_ok());
        assert!(
            r.check("ab").is_err(),
            "the expression must match the whole value"
        );
        let a = ValueCheck::new(CheckSpec {
            param_type: ParamType::Array,
            items_type: ParamType::Boolean,
            ..Default::default()
        })
        .unwrap();
        assert!(a.check_items(["true", "FALSE"].into_iter()).is_ok());
        assert!(a.check_items(["true", "1"].into_iter()).is_err());
    }
}
