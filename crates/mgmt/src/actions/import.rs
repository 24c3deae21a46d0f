//! `ImportSwagger`: APIs of a group from a Swagger 2.0 or OpenAPI 3 document (JSON or YAML),
//! with `DryRun` (validate and report, create nothing) and `Overwrite` (replace the API with
//! the same method and path).
//!
//! Each operation becomes one API: `ApiName` from `operationId` (made to fit the naming rule,
//! else derived from method and path), path `{id}` → `[id]` with the document's `basePath`
//! (Swagger) or first server's path (OpenAPI 3) in front, path/query/header/form parameters as
//! `RequestParameters` (PASSTHROUGH request mode, so undeclared input still reaches the
//! backend). The backend comes from the operation's `x-aliyun-apigateway-backend`
//! (`{type: HTTP, address, path, method, timeout}`; `type: HTTP-VPC` with `vpcAccessName`; or
//! `backendId`, a shared backend service), else from `GlobalCondition`'s; without
//! one the API answers a mock (`{}`) until a backend is set. Auth type from
//! `x-aliyun-apigateway-auth-type` (operation, else `GlobalCondition`), default `APP`.

use super::{obj, wrap, Out};
use crate::error::ApiError;
use crate::params::Params;
use apigw_control::Control;
use apigw_model::validate::validate_api;
use apigw_model::ApiDefinition;
use serde_json::{json, Map, Value};

const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];

struct Operation {
    method: String,
    path: String,
    result: Result<ApiDefinition, String>,
}

pub async fn import(c: &Control, p: &Params) -> Out {
    let group = c.group(p.required("GroupId")?).await?;
    let data = p.required("Data")?;
    let format = p.opt("DataFormat").unwrap_or("json");
    let dry_run = p.bool("DryRun")?.unwrap_or(false);
    let overwrite = p.bool("Overwrite")?.unwrap_or(false);
    let global: Map<String, Value> = match p.opt("GlobalCondition") {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| ApiError::invalid_format("GlobalCondition", e))?,
        None => Map::new(),
    };
    let doc = parse_document(data, format)?;
    let existing = c.apis(&group.group_id).await?;
    let mut success = Vec::new();
    let mut failed = Vec::new();
    for op in operations(&doc, &group.group_id, &global)? {
        let def = match op.result {
            Ok(d) => d,
            Err(e) => {
                failed.push(json!({"HttpMethod": op.method, "Path": op.path, "ErrorMsg": e}));
                continue;
            }
        };
        let same = existing.iter().find(|a| {
            a.method() == def.method()
                && a.request_config.request_path == def.request_config.request_path
        });
        let outcome = match (same, overwrite, dry_run) {
            (Some(_), false, _) => {
                Err("an API with this method and path exists (Overwrite=false)".into())
            }
            (Some(old), true, true) => Ok(("MODIFY", old.api_id.clone())),
            (None, _, true) => Ok(("CREATE", String::new())),
            (Some(old), true, false) => {
                let mut d = def.clone();
                d.api_id = old.api_id.clone();
                c.modify_api(d)
                    .await
                    .map(|a| ("MODIFY", a.api_id))
                    .map_err(|e| e.to_string())
            }
            (None, _, false) => c
                .create_api(def.clone())
                .await
                .map(|a| ("CREATE", a.api_id))
                .map_err(|e| e.to_string()),
        };
        match outcome {
            Ok((operation, id)) => success.push(json!({
                "HttpMethod": op.method, "Path": op.path, "ApiOperation": operation, "ApiUid": id,
            })),
            Err(e) => failed.push(json!({"HttpMethod": op.method, "Path": op.path, "ErrorMsg": e})),
        }
    }
    Ok(obj(json!({
        "Success": wrap("ApiImportSwaggerSuccess", success),
        "Failed": wrap("ApiImportSwaggerFailed", failed),
        "ModelSuccess": wrap("ApiImportModelSuccess", vec![]),
        "ModelFailed": wrap("ApiImportModelFailed", vec![]),
    })))
}

fn parse_document(data: &str, format: &str) -> Result<Value, ApiError> {
    let parsed: Result<Value, String> = if format.eq_ignore_ascii_case("yaml") {
        serde_norway::from_str(data).map_err(|e| e.to_string())
    } else {
        serde_json::from_str(data).map_err(|e| e.to_string())
    };
    let doc = parsed.map_err(|e| ApiError::invalid_format("Data", e))?;
    let swagger2 = doc["swagger"].as_str() == Some("2.0");
    let oas3 = doc["openapi"].as_str().is_some_and(|v| v.starts_with('3'));
    if !swagger2 && !oas3 {
        return Err(ApiError::invalid(
            "Data",
            "not a Swagger 2.0 (`swagger: \"2.0\"`) or OpenAPI 3 (`openapi: 3.x`) document",
        ));
    }
    if !doc["paths"].is_object() {
        return Err(ApiError::invalid("Data", "the document has no `paths`"));
    }
    Ok(doc)
}

fn base_path(doc: &Value) -> String {
    let raw = match doc["basePath"].as_str() {
        Some(b) => b.to_string(),
        None => doc["servers"][0]["url"]
            .as_str()
            .map(|u| match u.split_once("://") {
                Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]).to_string(),
                None => u.to_string(),
            })
            .unwrap_or_default(),
    };
    raw.trim_end_matches('/').to_string()
}

fn operations(
    doc: &Value,
    group_id: &str,
    global: &Map<String, Value>,
) -> Result<Vec<Operation>, ApiError> {
    let base = base_path(doc);
    let mut out = Vec::new();
    let mut names = std::collections::HashSet::new();
    let paths = doc["paths"].as_object().expect("checked");
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        let shared = item.get("parameters").cloned().unwrap_or(Value::Null);
        for (method, op) in item {
            if method == "parameters"
                || method.starts_with("x-")
                || method == "summary"
                || method == "description"
                || method == "servers"
            {
                continue;
            }
            let full = format!("{base}{path}");
            let result = if METHODS.contains(&method.as_str()) {
                definition(
                    doc, method, &full, op, &shared, group_id, global, &mut names,
                )
            } else {
                Err(format!("method `{method}` is not supported"))
            };
            out.push(Operation {
                method: method.to_ascii_uppercase(),
                path: full,
                result,
            });
        }
    }
    Ok(out)
}

/// A name that fits the rule (4-50 chars, a letter first, letters/digits/`_`), unique.
fn api_name(
    op: &Value,
    method: &str,
    path: &str,
    taken: &mut std::collections::HashSet<String>,
) -> String {
    let raw = op["operationId"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{method}_{path}"));
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name = name.trim_matches('_').to_string();
    if !name.chars().next().is_some_and(char::is_alphabetic) {
        name = format!("api_{name}");
    }
    while name.chars().count() < 4 {
        name.push('_');
    }
    name = name.chars().take(46).collect();
    let mut unique = name.clone();
    let mut n = 2;
    while !taken.insert(unique.clone()) {
        unique = format!("{name}_{n}");
        n += 1;
    }
    unique
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str().and_then(|r| r.strip_prefix("#/")) {
        Some(pointer) => doc.pointer(&format!("/{pointer}")).unwrap_or(&Value::Null),
        None => v,
    }
}

fn parameter(doc: &Value, p: &Value) -> Option<Value> {
    let p = resolve(doc, p);
    let location = match p["in"].as_str()? {
        "path" => "PATH",
        "query" => "QUERY",
        "header" => "HEAD",
        "formData" => "BODY",
        _ => return None,
    };
    let schema = if p["schema"].is_object() {
        resolve(doc, &p["schema"])
    } else {
        p
    };
    let ty = match schema["type"].as_str().unwrap_or("string") {
        "integer" if schema["format"] == "int64" => "Long",
        "integer" => "Int",
        "number" if schema["format"] == "float" => "Float",
        "number" => "Double",
        "boolean" => "Boolean",
        "array" => "Array",
        _ => "String",
    };
    let mut m = Map::new();
    m.insert("ApiParameterName".into(), json!(p["name"].as_str()?));
    m.insert("Location".into(), json!(location));
    m.insert("ParameterType".into(), json!(ty));
    let required = p["required"].as_bool().unwrap_or(location == "PATH");
    m.insert(
        "Required".into(),
        json!(if required { "REQUIRED" } else { "OPTIONAL" }),
    );
    if let Some(d) = p["description"].as_str() {
        m.insert("Description".into(), json!(d));
    }
    if let Some(d) = schema.get("default").filter(|d| !d.is_null()) {
        m.insert("DefaultValue".into(), json!(text(d)));
    }
    if let Some(e) = schema["enum"].as_array() {
        m.insert(
            "EnumValue".into(),
            json!(e.iter().map(text).collect::<Vec<_>>().join(",")),
        );
    }
    for (from, to) in [
        ("minimum", "MinValue"),
        ("maximum", "MaxValue"),
        ("maxLength", "MaxLength"),
    ] {
        if let Some(v) = schema.get(from).filter(|v| v.is_number()) {
            m.insert(to.into(), v.clone());
        }
    }
    if let Some(r) = schema["pattern"].as_str() {
        m.insert("RegularExpression".into(), json!(r));
    }
    Some(Value::Object(m))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
fn definition(
    doc: &Value,
    method: &str,
    path: &str,
    op: &Value,
    shared: &Value,
    group_id: &str,
    global: &Map<String, Value>,
    names: &mut std::collections::HashSet<String>,
) -> Result<ApiDefinition, String> {
    let request_path = path.replace('{', "[").replace('}', "]");
    let mut params = Vec::new();
    for p in shared
        .as_array()
        .into_iter()
        .flatten()
        .chain(op["parameters"].as_array().into_iter().flatten())
    {
        if let Some(v) = parameter(doc, p) {
            params.push(v);
        }
    }
    // OpenAPI 3 form bodies: their fields are BODY parameters.
    let form = &op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    if let Some(props) = resolve(doc, form)["properties"].as_object() {
        let required: Vec<&str> = resolve(doc, form)["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (name, schema) in props {
            let p = json!({"name": name, "in": "formData", "required": required.contains(&name.as_str()), "schema": schema});
            if let Some(v) = parameter(doc, &p) {
                params.push(v);
            }
        }
    }
    let backend = op
        .get("x-aliyun-apigateway-backend")
        .or_else(|| global.get("x-aliyun-apigateway-backend"));
    let service = match backend {
        Some(b) => backend_service(b, method, &request_path)?,
        None => json!({"Mock": "TRUE", "MockResult": "{}", "MockStatusCode": 200}),
    };
    let auth = op
        .get("x-aliyun-apigateway-auth-type")
        .or_else(|| global.get("x-aliyun-apigateway-auth-type"))
        .and_then(Value::as_str)
        .unwrap_or("APP");
    let description = op["summary"]
        .as_str()
        .or(op["description"].as_str())
        .unwrap_or("");
    let shared_backend = backend
        .and_then(|b| b.get("backendId").or_else(|| b.get("backendID")))
        .and_then(Value::as_str);
    let mut def = json!({
        "GroupId": group_id, "ApiName": api_name(op, method, path, names),
        "Description": description.chars().take(180).collect::<String>(), "AuthType": auth,
        "RequestConfig": {"RequestProtocol": "HTTP,HTTPS", "RequestHttpMethod": method.to_ascii_uppercase(),
                          "RequestPath": request_path, "RequestMode": "PASSTHROUGH"},
        "ServiceConfig": service,
    });
    if !params.is_empty() {
        def["RequestParameters"] = Value::Array(params);
    }
    if let Some(id) = shared_backend {
        def["BackendEnable"] = json!(true);
        def["BackendId"] = json!(id);
    }
    let def: ApiDefinition = serde_json::from_value(def).map_err(|e| e.to_string())?;
    validate_api(&def).map_err(|e| e.to_string())?;
    Ok(def)
}

/// The ServiceConfig of an `x-aliyun-apigateway-backend`: `type: HTTP` with `address`,
/// `type: HTTP-VPC` with `vpcAccessName` (and `vpcScheme`), or a shared backend service
/// (`backendId`, ServiceProtocol `UN_SPECIFIED`). `path` and `address` may hold stage
/// variables (`#Name#`).
fn backend_service(b: &Value, method: &str, request_path: &str) -> Result<Value, String> {
    let kind = b["type"].as_str().unwrap_or("HTTP").to_ascii_uppercase();
    let mut service = json!({
        "ServicePath": b["path"].as_str().map(|p| p.replace('{', "[").replace('}', "]")).unwrap_or_else(|| request_path.to_string()),
        "ServiceHttpMethod": b["method"].as_str().unwrap_or(method).to_ascii_uppercase(),
        "ServiceTimeout": b["timeout"].as_u64().unwrap_or(10_000),
    });
    if b.get("backendId").or_else(|| b.get("backendID")).is_some() {
        service["ServiceProtocol"] = json!("UN_SPECIFIED");
    } else if kind == "HTTP-VPC" {
        let name = b["vpcAccessName"]
            .as_str()
            .ok_or("x-aliyun-apigateway-backend of type HTTP-VPC has no `vpcAccessName`")?;
        service["ServiceProtocol"] = json!("HTTP");
        service["ServiceVpcEnable"] = json!("TRUE");
        service["VpcConfig"] =
            json!({"Name": name, "VpcScheme": b["vpcScheme"].as_str().unwrap_or("http")});
    } else {
        service["ServiceProtocol"] = json!(kind);
        service["ServiceAddress"] = json!(b["address"]
            .as_str()
            .ok_or("x-aliyun-apigateway-backend has no `address`")?);
    }
    Ok(service)
}
