//! The parameter phase: read the declared request parameters from the path, query, headers
//! and form body, validate them (`I400MP`, `I400IP`), and place each under its backend name
//! and location, with the constant and system parameters (spec backend-signature.md §2).
//!
//! A [`ParamPlan`] is compiled once per deployed API (regular expressions and JSON Schemas
//! included); [`ParamPlan::apply`] is a pure function of the request and returns a
//! [`Mapped`] description of what the backend request carries.

use crate::reject::Reject;
use crate::router::percent_decode;
use apigw_model::codes;
use apigw_model::params::{
    BodyFormat, Location, ParamType, Parameters, RequestMode, SystemParam, Target, ValueCheck,
};
use apigw_model::PathPattern;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use smallvec::{smallvec, SmallVec};
use std::borrow::Cow;
use std::sync::Arc;

/// Where a value goes in the backend request.
#[derive(Debug, Clone)]
pub enum Out {
    Path(Arc<str>),
    Query(Arc<str>),
    Header(HeaderName),
    Form(Arc<str>),
}

impl Out {
    fn compile(t: &Target) -> Result<Out, String> {
        Ok(match t.location {
            Location::Path => Out::Path(t.name.as_str().into()),
            Location::Query => Out::Query(t.name.as_str().into()),
            Location::Body => Out::Form(t.name.as_str().into()),
            Location::Head => Out::Header(
                HeaderName::from_bytes(t.name.as_bytes())
                    .map_err(|_| format!("`{}` is not a header name", t.name))?,
            ),
        })
    }
}

#[derive(Debug)]
struct Input {
    name: Box<str>,
    location: Location,
    /// For HEAD parameters: the header to read.
    header: Option<HeaderName>,
    required: bool,
    default: Option<Box<str>>,
    array: bool,
    check: ValueCheck,
    target: Option<Out>,
}

/// An API's parameter handling, compiled.
#[derive(Debug)]
pub struct ParamPlan {
    pub mode: RequestMode,
    pub body_format: Option<BodyFormat>,
    inputs: Box<[Input]>,
    constants: Box<[(Out, Box<str>)]>,
    system: Box<[(SystemParam, Out)]>,
    /// The request path's `[name]`s, in capture order.
    path_names: Box<[Box<str>]>,
}

/// Values the system parameters take for one request.
pub struct SystemValues<'a> {
    pub client_ip: &'a str,
    pub domain: &'a str,
    pub handle_time: &'a str,
    pub app_id: Option<i64>,
    pub app_key: Option<&'a str>,
    pub app_extend: Option<&'a str>,
    pub request_id: &'a str,
    pub https: bool,
    pub api_name: &'a str,
    pub user_agent: &'a str,
    pub stage: &'a str,
    pub instance_id: &'a str,
}

impl SystemValues<'_> {
    fn value(&self, p: SystemParam) -> Cow<'_, str> {
        match p {
            SystemParam::CaClientIp => Cow::Borrowed(self.client_ip),
            SystemParam::CaDomain => Cow::Borrowed(self.domain),
            SystemParam::CaRequestHandleTime => Cow::Borrowed(self.handle_time),
            SystemParam::CaAppId => self
                .app_id
                .map_or(Cow::Borrowed(""), |id| Cow::Owned(id.to_string())),
            SystemParam::CaAppKey => Cow::Borrowed(self.app_key.unwrap_or("")),
            SystemParam::CaAppExtendInfo => Cow::Borrowed(self.app_extend.unwrap_or("")),
            SystemParam::CaRequestId => Cow::Borrowed(self.request_id),
            SystemParam::CaHttpSchema => Cow::Borrowed(if self.https { "https" } else { "http" }),
            SystemParam::CaProxy => Cow::Borrowed("AliCloudApiGateway"),
            SystemParam::CaApiName => Cow::Borrowed(self.api_name),
            SystemParam::CaClientUa => Cow::Borrowed(self.user_agent),
            SystemParam::CaStage => Cow::Borrowed(self.stage),
            SystemParam::CaInstanceId => Cow::Borrowed(self.instance_id),
            SystemParam::CaCloudMarketInstanceId | SystemParam::CaSourceVpcId => Cow::Borrowed(""),
        }
    }
}

/// The request as the parameter phase sees it.
pub struct RequestView<'a> {
    /// Request path parameters: (name, raw segment, still percent-encoded).
    pub path: &'a [(&'a str, &'a str)],
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The body when it is a form (`application/x-www-form-urlencoded`) the plan reads.
    pub form: Option<&'a [u8]>,
    /// The body when the plan has a STREAM BODY parameter.
    pub stream: Option<&'a [u8]>,
}

/// What the backend request carries besides what is forwarded unchanged.
#[derive(Debug, Default)]
pub struct Mapped {
    /// Backend PATH parameters (name, value ready for the path).
    pub path: Vec<(Arc<str>, PathValue)>,
    /// Backend query parameters (decoded; encoded when the URL is built).
    pub query: Vec<(Arc<str>, String)>,
    /// The undeclared part of the request query, as received (passthrough modes).
    pub raw_query: String,
    /// Headers to set on the backend request.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Backend form fields; `Some` when the backend body is a form the gateway builds.
    pub form: Option<Vec<(Arc<str>, String)>>,
}

/// A backend PATH parameter's value, ready for the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathValue {
    /// A segment of the request path as received (still percent-encoded); checked like any
    /// text copied from the request path (`path_guard::unsafe_text`).
    Raw(String),
    /// A decoded value (query, header, body, constant, system) percent-encoded by the gateway
    /// as one segment: a `/` in it is `%2F`, so only a whole `.` or `..` is refused.
    Encoded(String),
}

impl Mapped {
    /// The backend query: undeclared pairs as received, then the mapped ones, encoded.
    pub fn query_string(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(self.raw_query.clone());
        for (k, v) in &self.query {
            q.append_pair(k, v);
        }
        q.finish()
    }
}

impl ParamPlan {
    /// Compiles the parameters of a deployed API; `None` when there is nothing to do.
    pub fn compile(p: &Parameters, path: &PathPattern) -> Result<Option<ParamPlan>, String> {
        if p.is_empty() {
            return Ok(None);
        }
        let mut inputs = Vec::with_capacity(p.request.len());
        for (r, t) in &p.request {
            let header = match r.location {
                Location::Head => Some(
                    HeaderName::from_bytes(r.name.as_bytes())
                        .map_err(|_| format!("`{}` is not a header name", r.name))?,
                ),
                _ => None,
            };
            inputs.push(Input {
                name: r.name.as_str().into(),
                location: r.location,
                header,
                required: r.required,
                default: r.default_value.as_deref().map(Into::into),
                array: r.param_type == ParamType::Array,
                check: r.check.clone(),
                target: t.as_ref().map(Out::compile).transpose()?,
            });
        }
        let constants = p
            .constants
            .iter()
            .map(|c| Ok((Out::compile(&c.target)?, c.value.as_str().into())))
            .collect::<Result<Vec<_>, String>>()?;
        let system = p
            .system
            .iter()
            .map(|s| Ok((s.param, Out::compile(&s.target)?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Some(ParamPlan {
            mode: p.mode,
            body_format: p.body_format,
            inputs: inputs.into(),
            constants: constants.into(),
            system: system.into(),
            path_names: path.param_names().map(Into::into).collect(),
        }))
    }

    /// True when a system parameter of this kind is sent to the backend.
    pub fn uses(&self, p: SystemParam) -> bool {
        self.system.iter().any(|(s, _)| *s == p)
    }

    pub fn path_names(&self) -> &[Box<str>] {
        &self.path_names
    }

    /// True when a BODY parameter reads a form body.
    pub fn reads_form(&self) -> bool {
        self.mode != RequestMode::Passthrough && self.body_format == Some(BodyFormat::Form)
    }

    /// True when a BODY parameter is the whole (STREAM) body.
    pub fn reads_stream(&self) -> bool {
        self.mode != RequestMode::Passthrough
            && self.body_format == Some(BodyFormat::Stream)
            && self.inputs.iter().any(|i| i.location == Location::Body)
    }

    /// Lower-case names of the declared HEAD parameters (not forwarded under their own name).
    pub fn declared_headers(&self) -> impl Iterator<Item = &HeaderName> {
        self.inputs.iter().filter_map(|i| i.header.as_ref())
    }

    /// Reads, validates and maps the parameters of one request.
    pub fn apply(&self, req: &RequestView, sys: &SystemValues) -> Result<Mapped, Reject> {
        let mut out = Mapped::default();
        let passthrough = self.mode == RequestMode::Passthrough;
        let query = parse_pairs(req.query.unwrap_or("").as_bytes());
        let form = req.form.map(parse_pairs);
        for input in self.inputs.iter() {
            if passthrough {
                // Only path parameters are read, to build the backend path.
                if let (Location::Path, Some(Out::Path(to))) = (input.location, &input.target) {
                    if let Some((_, raw)) = req.path.iter().find(|(n, _)| *n == &*input.name) {
                        out.path
                            .push((to.clone(), PathValue::Raw((*raw).to_string())));
                    }
                }
                continue;
            }
            let values = read(input, req, &query, form.as_deref());
            let values = match values {
                Some(v) => v,
                None => match &input.default {
                    Some(d) => smallvec![Value::Decoded(Cow::Borrowed(d))],
                    None if input.required => {
                        return Err(Reject::new(&codes::I400MP, &[&input.name]))
                    }
                    None => continue,
                },
            };
            validate(input, &values)?;
            let stream_stays_body = input.location == Location::Body
                && self.body_format == Some(BodyFormat::Stream)
                && matches!(input.target, Some(Out::Form(_)));
            if stream_stays_body {
                // A STREAM body mapped to the backend body is forwarded byte for byte.
                continue;
            }
            if let Some(target) = &input.target {
                place(&mut out, target, &input.name, values)?;
            }
        }
        if !passthrough {
            self.keep_undeclared(&mut out, req, form.as_deref());
        } else if let Some(q) = req.query {
            out.raw_query = q.to_string();
        }
        for (target, value) in self.constants.iter() {
            place_one(
                &mut out,
                target,
                "a constant parameter",
                Cow::Borrowed(value),
            )?;
        }
        for (p, target) in self.system.iter() {
            place_one(&mut out, target, p.name(), sys.value(*p))?;
        }
        Ok(out)
    }

    /// MAPPING_PASSTHROUGH keeps undeclared query and form parameters.
    fn keep_undeclared(
        &self,
        out: &mut Mapped,
        req: &RequestView,
        form: Option<&[(Cow<str>, Cow<str>)]>,
    ) {
        if self.mode != RequestMode::MappingPassthrough {
            return;
        }
        let declared = |loc: Location, key: &str| {
            self.inputs
                .iter()
                .any(|i| i.location == loc && &*i.name == key)
        };
        if let Some(q) = req.query {
            let kept: Vec<&str> = q
                .split('&')
                .filter(|pair| {
                    let key = pair.split('=').next().unwrap_or("");
                    !key.is_empty() && !declared(Location::Query, &decode_component(key))
                })
                .collect();
            out.raw_query = kept.join("&");
        }
        if let Some(form) = form {
            let f = out.form.get_or_insert_with(Vec::new);
            for (k, v) in form {
                if !declared(Location::Body, k) {
                    f.push((Arc::from(&**k), v.to_string()));
                }
            }
        }
    }
}

/// The value(s) of one parameter: one, or several for an array.
type Values<'a> = SmallVec<[Value<'a>; 1]>;

/// A value read from the request: raw path segments stay encoded for a backend path.
enum Value<'a> {
    Decoded(Cow<'a, str>),
    RawPath(&'a str, Cow<'a, str>),
}

impl Value<'_> {
    fn text(&self) -> &str {
        match self {
            Value::Decoded(s) | Value::RawPath(_, s) => s,
        }
    }
}

fn read<'a>(
    input: &Input,
    req: &RequestView<'a>,
    query: &'a [(Cow<'a, str>, Cow<'a, str>)],
    form: Option<&'a [(Cow<'a, str>, Cow<'a, str>)]>,
) -> Option<Values<'a>> {
    let pairs_of = |pairs: &'a [(Cow<'a, str>, Cow<'a, str>)]| {
        let v: Values<'a> = pairs
            .iter()
            .filter(|(k, _)| k == &*input.name)
            .map(|(_, v)| Value::Decoded(Cow::Borrowed(&**v)))
            .collect();
        (!v.is_empty()).then_some(v)
    };
    match input.location {
        Location::Path => req
            .path
            .iter()
            .find(|(n, _)| *n == &*input.name)
            .map(|(_, raw)| smallvec![Value::RawPath(raw, decode_path(raw))]),
        Location::Query => pairs_of(query),
        Location::Body => match (req.stream, form) {
            // An empty STREAM body is a missing parameter.
            (Some([]), _) => None,
            (Some(body), _) => Some(smallvec![Value::Decoded(String::from_utf8_lossy(body))]),
            (None, Some(f)) => pairs_of(f),
            (None, None) => None,
        },
        Location::Head => {
            let name = input.header.as_ref()?;
            let v = req.headers.get(name)?;
            let text = String::from_utf8_lossy(v.as_bytes());
            if input.array {
                Some(
                    text.split(',')
                        .map(|s| Value::Decoded(Cow::Owned(s.trim().to_string())))
                        .collect(),
                )
            } else {
                Some(smallvec![Value::Decoded(text)])
            }
        }
    }
}

fn validate(input: &Input, values: &[Value]) -> Result<(), Reject> {
    let result = if input.array {
        input.check.check_items(values.iter().map(Value::text))
    } else {
        input.check.check(values.first().map_or("", Value::text))
    };
    result.map_err(|why| Reject::new(&codes::I400IP, &[&input.name, &why]))
}

fn place(out: &mut Mapped, target: &Out, name: &str, values: Values) -> Result<(), Reject> {
    if let (Out::Path(to), Some(Value::RawPath(raw, _))) = (target, values.first()) {
        out.path
            .push((to.clone(), PathValue::Raw((*raw).to_string())));
        return Ok(());
    }
    match target {
        Out::Query(to) => {
            for v in &values {
                out.query.push((to.clone(), v.text().to_string()));
            }
            Ok(())
        }
        Out::Form(to) => {
            let f = out.form.get_or_insert_with(Vec::new);
            for v in &values {
                f.push((to.clone(), v.text().to_string()));
            }
            Ok(())
        }
        Out::Header(_) if values.len() > 1 => {
            let joined = values.iter().map(Value::text).collect::<Vec<_>>().join(",");
            place_one(out, target, name, Cow::Owned(joined))
        }
        _ => match values.into_iter().next() {
            Some(v) => place_one(out, target, name, Cow::Owned(v.text().to_string())),
            None => Ok(()),
        },
    }
}

fn place_one(out: &mut Mapped, target: &Out, name: &str, value: Cow<str>) -> Result<(), Reject> {
    match target {
        Out::Path(to) => out
            .path
            .push((to.clone(), PathValue::Encoded(encode_path_value(&value)))),
        Out::Query(to) => out.query.push((to.clone(), value.into_owned())),
        Out::Form(to) => out
            .form
            .get_or_insert_with(Vec::new)
            .push((to.clone(), value.into_owned())),
        Out::Header(h) => {
            let v = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
                Reject::new(
                    &codes::I400IP,
                    &[
                        name,
                        "cannot be sent in a header (line break or control character)",
                    ],
                )
            })?;
            out.headers.push((h.clone(), v));
        }
    }
    Ok(())
}

/// `key=value` pairs, form-decoded (`+` is a space), UTF-8; an empty key is ignored.
fn parse_pairs(raw: &[u8]) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    form_urlencoded::parse(raw)
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn decode_component(s: &str) -> Cow<'_, str> {
    form_urlencoded::parse(s.as_bytes())
        .next()
        .map_or(Cow::Borrowed(""), |(k, _)| k)
}

fn decode_path(raw: &str) -> Cow<'_, str> {
    match percent_decode(raw) {
        Cow::Borrowed(_) => Cow::Borrowed(raw),
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// Percent-encodes a value for one path segment (unreserved characters stay).
pub fn encode_path_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Headers forwarded in MAPPING mode without a declaration: content negotiation, the body's
/// own headers, caching validators, and the forwarding chain.
pub fn mapping_keeps_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "accept"
            | "accept-charset"
            | "accept-encoding"
            | "accept-language"
            | "user-agent"
            | "content-type"
            | "content-length"
            | "content-encoding"
            | "content-md5"
            | "cache-control"
            | "pragma"
            | "if-match"
            | "if-none-match"
            | "if-modified-since"
            | "if-unmodified-since"
            | "range"
            | "host"
            | "x-forwarded-for"
            | "x-forwarded-proto"
            | "x-ca-via"
            | "traceparent"
            | "tracestate"
    )
}

/// Gateway authentication headers, never forwarded in the mapping modes.
pub fn is_gateway_auth_header(name: &HeaderName, value: &HeaderValue) -> bool {
    match name.as_str() {
        "x-ca-signature"
        | "x-ca-signature-headers"
        | "x-ca-signature-method"
        | "x-ca-key"
        | "x-ca-nonce"
        | "x-ca-timestamp"
        | "x-ca-stage" => true,
        "authorization" => value
            .as_bytes()
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"APPCODE")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apigw_model::ApiDefinition;
    use proptest::prelude::*;

    fn plan(mode: &str, body: &str) -> ParamPlan {
        let def: ApiDefinition = serde_json::from_value(serde_json::json!({
            "ApiName": "prop", "AuthType": "ANONYMOUS",
            "RequestConfig": {"RequestHttpMethod": "POST", "RequestPath": "/p/[id]",
                              "RequestMode": mode, "BodyFormat": body},
            "ServiceConfig": {"ServiceAddress": "http://127.0.0.1:9", "ServicePath": "/s/[sid]"},
            "RequestParameters": [
                {"ApiParameterName": "id", "Location": "PATH", "ParameterType": "Int", "Required": "REQUIRED"},
                {"ApiParameterName": "q", "Location": "QUERY", "ParameterType": "String", "MaxLength": 3, "RegularExpression": "[a-z]*"},
                {"ApiParameterName": "n", "Location": "QUERY", "ParameterType": "Array", "ArrayItemsType": "Double"},
                {"ApiParameterName": "X-H", "Location": "HEAD", "ParameterType": "Boolean"},
                {"ApiParameterName": "f", "Location": "BODY", "ParameterType": "String", "JsonScheme": "{\"type\":\"object\"}"}],
            "ServiceParameters": [
                {"ServiceParameterName": "sid", "Location": "PATH"},
                {"ServiceParameterName": "X-Q", "Location": "HEAD"},
                {"ServiceParameterName": "n", "Location": "QUERY"},
                {"ServiceParameterName": "h", "Location": "QUERY"},
                {"ServiceParameterName": "f", "Location": "BODY"}],
            "ServiceParametersMap": [
                {"RequestParameterName": "id", "ServiceParameterName": "sid"},
                {"RequestParameterName": "q", "ServiceParameterName": "X-Q"},
                {"RequestParameterName": "n", "ServiceParameterName": "n"},
                {"RequestParameterName": "X-H", "ServiceParameterName": "h"},
                {"RequestParameterName": "f", "ServiceParameterName": "f"}],
            "ConstantParameters": [{"ServiceParameterName": "c", "ConstantValue": "1", "Location": "PATH"}],
            "SystemParameters": [{"ParameterName": "CaClientUa", "ServiceParameterName": "X-Ua", "Location": "HEAD"}]
        }))
        .unwrap();
        let path = PathPattern::parse("/p/[id]", false).unwrap();
        let p = Parameters::of(&def, &path).unwrap();
        ParamPlan::compile(&p, &path).unwrap().unwrap()
    }

    fn sys(ua: &str) -> SystemValues<'_> {
        SystemValues {
            client_ip: "127.0.0.1",
            domain: "localhost",
            handle_time: "2026-11-25T00:00:00Z",
            app_id: None,
            app_key: None,
            app_extend: None,
            request_id: "id",
            https: false,
            api_name: "prop",
            user_agent: ua,
            stage: "RELEASE",
            instance_id: "node",
        }
    }

    proptest! {
        /// Whatever a client sends, the phase answers Ok or a documented rejection; it never
        /// panics, and nothing with a line break reaches a backend header.
        #[test]
        fn never_panics(
            seg in ".{0,12}",
            query in ".{0,40}",
            header in proptest::collection::vec(any::<u8>(), 0..12),
            body in proptest::collection::vec(any::<u8>(), 0..40),
            ua in "[ -~]{0,8}",
        ) {
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_bytes(&header) {
                headers.insert("x-h", v);
            }
            for (mode, format) in [("MAPPING", "FORM"), ("MAPPING_PASSTHROUGH", "STREAM"), ("PASSTHROUGH", "FORM")] {
                let plan = plan(mode, format);
                let path = [("id", seg.as_str())];
                let view = RequestView {
                    path: &path,
                    query: Some(&query),
                    headers: &headers,
                    form: plan.reads_form().then_some(&body[..]),
                    stream: plan.reads_stream().then_some(&body[..]),
                };
                if let Ok(m) = plan.apply(&view, &sys(&ua)) {
                    for (_, v) in &m.headers {
                        prop_assert!(!v.as_bytes().iter().any(|b| *b == b'\r' || *b == b'\n'));
                    }
                    let _ = m.query_string();
                }
            }
        }
    }
}
