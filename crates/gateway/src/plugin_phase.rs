//! The plugins that decide by conditional expression (plugins.md §0.1): `accessControl`,
//! `routing`, `transformer` and `errorMapping`, and the variables their expressions read on
//! the request ([`RequestVars`]) and on the response ([`ResponseVars`]).

use crate::reject::Reject;
use apigw_model::codes;
use apigw_plugin::access_control::Decision;
use apigw_plugin::expr::{json_path, Parameters, Variable, Vars};
use apigw_plugin::transformer::{RequestOp, ResponseOp};
use apigw_plugin::ParamLocation;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::net::IpAddr;

pub use apigw_plugin::access_control::AccessControl;
pub use apigw_plugin::error_mapping::ErrorMapping;
pub use apigw_plugin::routing::{RouteBackend, Routing};
pub use apigw_plugin::transformer::Transformer;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The system parameters (`System:Name`, `$CaAppId`) of a request.
pub struct SystemVars<'a> {
    pub app_id: Option<i64>,
    pub app_key: Option<&'a str>,
    pub client_ip: IpAddr,
    pub domain: &'a str,
    pub stage: &'a str,
    pub api_name: &'a str,
    pub request_id: &'a str,
    pub https: bool,
    pub user_agent: &'a str,
    pub node_id: &'a str,
}

impl SystemVars<'_> {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        Some(match name {
            "CaAppId" => Cow::Owned(self.app_id?.to_string()),
            "CaAppKey" => Cow::Borrowed(self.app_key?),
            "CaClientIp" => Cow::Owned(self.client_ip.to_string()),
            "CaDomain" => Cow::Borrowed(self.domain),
            "CaStage" => Cow::Borrowed(self.stage),
            "CaApiName" => Cow::Borrowed(self.api_name),
            "CaRequestId" => Cow::Borrowed(self.request_id),
            "CaHttpSchema" => Cow::Borrowed(if self.https { "https" } else { "http" }),
            "CaClientUa" => Cow::Borrowed(self.user_agent),
            "CaInstanceId" => Cow::Borrowed(self.node_id),
            "CaRequestHandleTime" => Cow::Owned(apigw_signature::mgmt::format_timestamp(
                crate::handler::now_ms() / 1000,
            )),
            _ => return None,
        })
    }
}

/// What request-phase expressions read.
pub struct RequestVars<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The body, when it is a form that was read.
    pub form: Option<&'a [u8]>,
    /// Path parameters by their front-end name.
    pub path_params: &'a [(&'a str, &'a str)],
    pub system: SystemVars<'a>,
    /// The claims of the JWT the jwtAuth plugin verified.
    pub claims: Option<&'a Map<String, Value>>,
}

fn first_pair<'a>(pairs: Option<&'a [u8]>, name: &str) -> Option<Cow<'a, str>> {
    form_urlencoded::parse(pairs?)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cow<'a, str>> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(Cow::Borrowed)
}

fn claim<'a>(claims: Option<&'a Map<String, Value>>, name: &str) -> Option<Cow<'a, str>> {
    match claims?.get(name)? {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Null => None,
        other => Some(Cow::Owned(other.to_string())),
    }
}

impl Vars for RequestVars<'_> {
    fn value(&self, var: &Variable) -> Option<Cow<'_, str>> {
        match var {
            Variable::Method => Some(Cow::Borrowed(self.method.as_str())),
            Variable::Path => Some(Cow::Borrowed(self.path)),
            Variable::Header(n) => header(self.headers, n),
            Variable::Query(n) => first_pair(self.query.map(str::as_bytes), n),
            Variable::Form(n) => first_pair(self.form, n),
            // A declared parameter by its front-end name: path, then query, header, form.
            Variable::Parameter(n) => self
                .path_params
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| Cow::Borrowed(*v))
                .or_else(|| first_pair(self.query.map(str::as_bytes), n))
                .or_else(|| header(self.headers, n))
                .or_else(|| first_pair(self.form, n)),
            Variable::System(n) => self.system.get(n),
            Variable::Token(n) => claim(self.claims, n),
            Variable::Xff(i) => {
                let list = self.headers.get(&X_FORWARDED_FOR)?.to_str().ok()?;
                let items: Vec<&str> = list.split(',').map(str::trim).collect();
                let at = if *i < 0 {
                    items.len().checked_sub(i.unsigned_abs() as usize)?
                } else {
                    *i as usize
                };
                items.get(at).map(|s| Cow::Borrowed(*s))
            }
            // Wildcard-domain templates have no named captures here; response variables
            // are not readable on the request (refused when the document was written).
            Variable::Host(_)
            | Variable::StatusCode
            | Variable::ErrorCode
            | Variable::BodyJsonField(_) => None,
        }
    }

    fn random(&self) -> f64 {
        fastrand::f64()
    }
}

/// What response-phase expressions read.
pub struct ResponseVars<'a> {
    pub status: StatusCode,
    /// The gateway's error code, when the gateway made the answer.
    pub error_code: Option<&'static str>,
    pub headers: &'a HeaderMap,
    /// The body as JSON, when a document reads body fields and the body was small enough.
    pub body: Option<&'a Value>,
    pub system: &'a SystemVars<'a>,
    pub claims: Option<&'a Map<String, Value>>,
}

impl Vars for ResponseVars<'_> {
    fn value(&self, var: &Variable) -> Option<Cow<'_, str>> {
        match var {
            Variable::StatusCode => Some(Cow::Owned(self.status.as_u16().to_string())),
            Variable::ErrorCode => self.error_code.map(Cow::Borrowed),
            Variable::Header(n) => header(self.headers, n),
            Variable::BodyJsonField(p) => json_path(self.body?, p).map(Cow::Owned),
            Variable::System(n) => self.system.get(n),
            Variable::Token(n) => claim(self.claims, n),
            _ => None,
        }
    }

    fn random(&self) -> f64 {
        fastrand::f64()
    }
}

/// True when a document's variables read the response body.
pub fn reads_body(parameters: &Parameters) -> bool {
    parameters
        .iter()
        .any(|(_, v)| matches!(v, Variable::BodyJsonField(_)))
}

/// The `accessControl` phase: `A403AC` (or the rule's own status, message, headers and body)
/// for a request a rule denies.
pub fn access_control(
    policy: &AccessControl,
    vars: &RequestVars<'_>,
) -> Result<(), Box<AccessDenied>> {
    match policy.decide(vars) {
        Decision::Allow => Ok(()),
        Decision::Deny(d) => {
            let reject = match d.message {
                Some(m) => Reject::with_message(&codes::A403AC, m),
                None => Reject::new(&codes::A403AC, &[&d.rule]),
            };
            Err(Box::new(AccessDenied {
                reject,
                status: StatusCode::from_u16(d.status).unwrap_or(StatusCode::FORBIDDEN),
                headers: d.headers,
                body: d.body,
            }))
        }
    }
}

/// A request an `accessControl` rule denied, with the rule's own answer.
pub struct AccessDenied {
    pub reject: Reject,
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Option<String>,
}

impl AccessDenied {
    pub fn into_response(self) -> http::Response<crate::body::GwBody> {
        let mut resp = self.reject.into_response();
        *resp.status_mut() = self.status;
        for (name, value) in self.headers {
            resp.headers_mut()
                .insert(name, crate::reject::header_text(&value));
        }
        if let Some(body) = self.body {
            resp.headers_mut().insert(
                http::header::CONTENT_LENGTH,
                HeaderValue::from(body.len() as u64),
            );
            *resp.body_mut() = crate::body::GwBody::full(bytes::Bytes::from(body));
        }
        resp
    }
}

/// The backend request as the request transformer sees it.
pub struct Outbound<'a> {
    pub headers: &'a mut HeaderMap,
    /// Backend path and query.
    pub target: &'a mut String,
    /// Backend form fields, when the gateway builds the body.
    pub form: Option<&'a mut Vec<(String, String)>>,
}

/// Applies the request rules of a `transformer` plugin to the backend request. A header value
/// that cannot be sent is refused (`I400IP`), never forwarded broken.
pub fn transform_request(ops: Vec<RequestOp>, out: Outbound<'_>) -> Result<(), Reject> {
    let Outbound {
        headers,
        target,
        mut form,
    } = out;
    for op in ops {
        let (location, name, value, only_if_absent) = match op {
            RequestOp::AddIfAbsent {
                location,
                name,
                value,
            } => (location, name, Some(value), true),
            RequestOp::Put {
                location,
                name,
                value,
            } => (location, name, Some(value), false),
            RequestOp::Remove { location, name } => (location, name, None, false),
        };
        match location {
            ParamLocation::Header => {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| Reject::new(&codes::I400IP, &[&name, "is not a header name"]))?;
                match value {
                    None => {
                        headers.remove(&name);
                    }
                    Some(_) if only_if_absent && headers.contains_key(&name) => {}
                    Some(v) => {
                        let v = HeaderValue::from_str(&v).map_err(|_| {
                            Reject::new(
                                &codes::I400IP,
                                &[name.as_str(), "cannot be sent as a header"],
                            )
                        })?;
                        headers.insert(name, v);
                    }
                }
            }
            ParamLocation::Query => set_pair_in_query(target, &name, value, only_if_absent),
            ParamLocation::Form => {
                if let Some(fields) = form.as_deref_mut() {
                    let present = fields.iter().any(|(k, _)| *k == name);
                    match value {
                        None => fields.retain(|(k, _)| *k != name),
                        Some(_) if only_if_absent && present => {}
                        Some(v) => {
                            fields.retain(|(k, _)| *k != name);
                            fields.push((name, v));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Sets (or removes, for `None`) a query parameter of a path-and-query string.
fn set_pair_in_query(target: &mut String, name: &str, value: Option<String>, only_if_absent: bool) {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.clone(), String::new()),
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let present = pairs.iter().any(|(k, _)| k == name);
    if value.is_some() && only_if_absent && present {
        return;
    }
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != name) {
        q.append_pair(k, v);
    }
    if let Some(v) = &value {
        q.append_pair(name, v);
    }
    let q = q.finish();
    *target = if q.is_empty() {
        path
    } else {
        format!("{path}?{q}")
    };
}

/// Applies the response rules of a `transformer` plugin.
pub fn transform_response(ops: Vec<ResponseOp>, status: &mut StatusCode, headers: &mut HeaderMap) {
    for op in ops {
        match op {
            ResponseOp::SetStatus(s) => {
                if let Ok(s) = StatusCode::from_u16(s) {
                    *status = s;
                }
            }
            ResponseOp::AddHeaderIfAbsent(name, value) => {
                if !headers.contains_key(&name) {
                    headers.insert(name, crate::reject::header_text(&value));
                }
            }
            ResponseOp::PutHeader(name, value) => {
                headers.insert(name, crate::reject::header_text(&value));
            }
            ResponseOp::RemoveHeader(name) => {
                headers.remove(&name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_set_added_and_removed() {
        let mut t = "/a?x=1&y=2".to_string();
        set_pair_in_query(&mut t, "x", Some("9".into()), false);
        assert_eq!(t, "/a?y=2&x=9");
        set_pair_in_query(&mut t, "y", Some("5".into()), true);
        assert_eq!(t, "/a?y=2&x=9");
        set_pair_in_query(&mut t, "z", Some("a b".into()), true);
        assert_eq!(t, "/a?y=2&x=9&z=a+b");
        set_pair_in_query(&mut t, "y", None, false);
        set_pair_in_query(&mut t, "x", None, false);
        set_pair_in_query(&mut t, "z", None, false);
        assert_eq!(t, "/a");
    }
}
