//! Reading members of the newer documents (routing, errorMapping, accessControl,
//! transformer): JSON or YAML, a mapping at the top, messages that name the member.

use crate::expr::{Condition, Parameters, Phase, Template};
use serde_json::{Map, Value};

/// The document as a mapping (JSON or YAML; YAML may start with `---`).
pub(crate) fn mapping(data: &str, kind: &str) -> Result<Map<String, Value>, String> {
    let v: Value =
        serde_norway::from_str(data).map_err(|e| format!("{kind}: not JSON or YAML: {e}"))?;
    match v {
        Value::Object(map) => Ok(map),
        _ => Err(format!("{kind}: the document must be a mapping")),
    }
}

/// `parameters`, prefixed with the plugin type on error.
pub(crate) fn parameters(map: &Map<String, Value>, kind: &str) -> Result<Parameters, String> {
    Parameters::parse(map.get("parameters")).map_err(|e| format!("{kind}: {e}"))
}

/// A member's value unless absent or null.
pub(crate) fn member<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

/// An optional string member (numbers and booleans are read as their text).
pub(crate) fn text(
    map: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<String>, String> {
    match member(map, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(format!("`{at}{key}` must be a string")),
    }
}

/// A required string member.
pub(crate) fn required_text(
    map: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<String, String> {
    text(map, key, at)?.ok_or_else(|| format!("`{at}{key}` is required"))
}

/// An optional list member.
pub(crate) fn list<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<&'a [Value], String> {
    match member(map, key) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("`{at}{key}` must be a list")),
    }
}

/// A list item that must be a mapping.
pub(crate) fn item<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("`{at}` must be a mapping"))
}

/// An HTTP status code member (a number or numeric string, 100..=599), `default` when absent.
pub(crate) fn status(
    map: &Map<String, Value>,
    key: &str,
    at: &str,
    default: Option<u16>,
) -> Result<u16, String> {
    let n = match member(map, key) {
        None => return default.ok_or_else(|| format!("`{at}{key}` is required")),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    n.filter(|n| (100..=599).contains(n))
        .map(|n| n as u16)
        .ok_or_else(|| format!("`{at}{key}` must be an HTTP status code (100..=599)"))
}

/// A required condition member, parsed for `phase`.
pub(crate) fn condition(
    map: &Map<String, Value>,
    key: &str,
    at: &str,
    params: &Parameters,
    phase: Phase,
) -> Result<Condition, String> {
    let text = match member(map, key) {
        Some(Value::String(s)) => s,
        Some(_) => return Err(format!("`{at}{key}` must be a string")),
        None => return Err(format!("`{at}{key}` is required")),
    };
    Condition::parse(text, params, phase).map_err(|e| format!("`{at}{key}` `{text}`: {e}"))
}

/// A template member whose text will travel in a header: no control characters.
pub(crate) fn header_template(
    text: &str,
    at: &str,
    params: &Parameters,
    phase: Phase,
) -> Result<Template, String> {
    if text.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "`{at}` must not contain line breaks or control characters"
        ));
    }
    Template::parse(text, params, phase).map_err(|e| format!("`{at}`: {e}"))
}

/// `s` made fit for a header value: control characters (a CR or LF from a substituted value)
/// become spaces.
pub(crate) fn header_safe(s: String) -> String {
    if s.chars().any(|c| c.is_control() && c != '\t') {
        s.chars()
            .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
            .collect()
    } else {
        s
    }
}

/// A header name, validated.
pub(crate) fn header_name(name: &str, at: &str) -> Result<http::HeaderName, String> {
    http::HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("`{at}`: `{name}` is not a header name"))
}

/// Where a request parameter is put or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamLocation {
    Header,
    Query,
    Form,
}

impl ParamLocation {
    /// `header` | `query` (| `form` when `form` is allowed), case-insensitive.
    pub(crate) fn parse(s: &str, at: &str, form: bool) -> Result<ParamLocation, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "header" | "head" => Ok(ParamLocation::Header),
            "query" => Ok(ParamLocation::Query),
            "form" | "body" if form => Ok(ParamLocation::Form),
            _ if form => Err(format!("`{at}` `{s}` is not header, query or form")),
            _ => Err(format!("`{at}` `{s}` is not header or query")),
        }
    }
}
