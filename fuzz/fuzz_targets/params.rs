//! The parameter reader and validator: an API definition's parameters read and checked as
//! CreateApi does (`apigw_model::validate::validate_api`, `Parameters::of`, `ValueCheck`),
//! compiled for the data plane (`apigw_gateway::params::ParamPlan`) and applied to a request.
//!
//! Input: an API definition as JSON (the management API's field names), a line `--`, then
//! request lines `P <raw path value>` (in the order of the path's `[name]`s), `Q <query>`,
//! `H <name>: <value>`, `U <user agent>`, `B <body to the end>`; or any other bytes, decoded
//! with `arbitrary` into a definition built from likely names, types and constraints.
//!
//! Invariants checked:
//! - nothing panics, whatever the declarations (regular expressions, JSON Schemas, bounds,
//!   defaults) and whatever the request;
//! - a definition `validate_api` accepts compiles into a `ParamPlan` (nothing accepted at
//!   CreateApi/apply fails in the data plane);
//! - applying a plan is deterministic; a value mapped into a backend PATH parameter from a
//!   decoded source is percent-encoded (only unreserved characters and `%XX`); PASSTHROUGH
//!   keeps the query as received.
#![no_main]

use apigw_gateway::params::{ParamPlan, PathValue, RequestView, SystemValues};
use apigw_model::params::{Parameters, RequestMode};
use apigw_model::validate::validate_api;
use apigw_model::ApiDefinition;
use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};

#[derive(Arbitrary, Debug)]
struct Input {
    def: Def,
    req: Req,
}

#[derive(Arbitrary, Debug)]
struct Def {
    method: u8,
    path: Vec<Seg>,
    mode: Pick,
    body_format: Pick,
    escape: bool,
    params: Vec<Param>,
    service_path: Option<Vec<Seg>>,
    /// Backend parameters declared without a request parameter (CONSTANT/SYSTEM catalog).
    service_only: Vec<(Pick, Pick, bool)>,
    constants: Vec<(Pick, Pick, Text)>,
    system: Vec<(u8, Option<Pick>, Pick)>,
}

#[derive(Arbitrary, Debug)]
enum Seg {
    Word(u8),
    Param(u8),
    Text(String),
}

/// One of a few realistic spellings, or arbitrary text.
#[derive(Arbitrary, Debug)]
enum Pick {
    Known(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Text {
    Known(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Param {
    name: Pick,
    location: Pick,
    ty: Pick,
    items_ty: Option<Pick>,
    required: Option<Pick>,
    default: Option<Text>,
    min_value: Option<Text>,
    max_value: Option<Text>,
    min_length: Option<u16>,
    max_length: Option<u16>,
    enum_values: Option<Text>,
    regex: Option<Text>,
    schema: Option<Text>,
    /// Backend name and location (a `ServiceParameters` item and a map entry).
    mapped: Option<(Pick, Pick)>,
}

#[derive(Arbitrary, Debug)]
struct Req {
    path_values: Vec<String>,
    query: Option<String>,
    headers: Vec<(Pick, Vec<u8>)>,
    body: Vec<u8>,
    user_agent: String,
}

const NAMES: &[&str] = &[
    "id",
    "q",
    "n",
    "X-H",
    "f",
    "x-h",
    "a b",
    "sid",
    "CaClientUa",
];
const LOCATIONS: &[&str] = &["PATH", "QUERY", "HEAD", "BODY", "HEADER", "FORM", "query"];
const TYPES: &[&str] = &[
    "String", "Int", "Long", "Float", "Double", "Boolean", "Array", "File", "NUMBER",
];
const MODES: &[&str] = &["MAPPING", "MAPPING_PASSTHROUGH", "PASSTHROUGH", ""];
const FORMATS: &[&str] = &["FORM", "STREAM", ""];
const REQUIRED: &[&str] = &["REQUIRED", "OPTIONAL", "true"];
const TEXTS: &[&str] = &[
    "1",
    "-1",
    "1.5",
    "abc",
    "[a-z]*",
    "\\d+",
    "a,b,c",
    "{\"type\":\"object\"}",
    "{\"type\":\"integer\",\"minimum\":3}",
    "{\"pattern\":\"^a+$\"}",
    "true",
    "",
];
const WORDS: &[&str] = &["", "p", "items", "%41", "商品", "v1", "*"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "ANY", "HEADER", "patch"];

fn pick(p: &Pick, table: &[&str]) -> String {
    match p {
        Pick::Known(i) => table[*i as usize % table.len()].to_string(),
        Pick::Other(s) => s.clone(),
    }
}

fn text(t: &Text) -> String {
    match t {
        Text::Known(i) => TEXTS[*i as usize % TEXTS.len()].to_string(),
        Text::Other(s) => s.clone(),
    }
}

fn path(segs: &[Seg]) -> String {
    let mut out = String::new();
    for s in segs.iter().take(16) {
        out.push('/');
        match s {
            Seg::Word(i) => out.push_str(WORDS[*i as usize % WORDS.len()]),
            Seg::Param(i) => {
                out.push('[');
                out.push_str(NAMES[*i as usize % NAMES.len()]);
                out.push(']');
            }
            Seg::Text(t) => out.push_str(t),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn definition(d: &Def) -> Value {
    let mut request = Vec::new();
    let mut service = Vec::new();
    let mut map = Vec::new();
    for p in d.params.iter().take(12) {
        let name = pick(&p.name, NAMES);
        let mut item = Map::new();
        item.insert("ApiParameterName".into(), json!(name));
        item.insert("Location".into(), json!(pick(&p.location, LOCATIONS)));
        item.insert("ParameterType".into(), json!(pick(&p.ty, TYPES)));
        let mut put = |key: &str, v: Option<String>| {
            if let Some(v) = v {
                item.insert(key.into(), json!(v));
            }
        };
        put(
            "ArrayItemsType",
            p.items_ty.as_ref().map(|t| pick(t, TYPES)),
        );
        put("Required", p.required.as_ref().map(|r| pick(r, REQUIRED)));
        put("DefaultValue", p.default.as_ref().map(text));
        put("MinValue", p.min_value.as_ref().map(text));
        put("MaxValue", p.max_value.as_ref().map(text));
        put("EnumValue", p.enum_values.as_ref().map(text));
        put("RegularExpression", p.regex.as_ref().map(text));
        put("JsonScheme", p.schema.as_ref().map(text));
        if let Some(n) = p.min_length {
            item.insert("MinLength".into(), json!(n));
        }
        if let Some(n) = p.max_length {
            item.insert("MaxLength".into(), json!(n));
        }
        request.push(Value::Object(item));
        if let Some((to, loc)) = &p.mapped {
            let to = pick(to, NAMES);
            service.push(json!({"ServiceParameterName": to, "Location": pick(loc, LOCATIONS)}));
            map.push(json!({"RequestParameterName": name, "ServiceParameterName": to}));
        }
    }
    for (name, loc, system) in d.service_only.iter().take(4) {
        service.push(json!({
            "ServiceParameterName": pick(name, NAMES),
            "Location": pick(loc, LOCATIONS),
            "ParameterCatalog": if *system { "SYSTEM" } else { "CONSTANT" },
        }));
    }
    let constants: Vec<Value> = d
        .constants
        .iter()
        .take(4)
        .map(|(name, loc, value)| {
            json!({"ServiceParameterName": pick(name, NAMES), "Location": pick(loc, LOCATIONS),
                   "ConstantValue": text(value)})
        })
        .collect();
    let system: Vec<Value> = d
        .system
        .iter()
        .take(4)
        .map(|(p, name, loc)| {
            let all = apigw_model::params::SystemParam::ALL;
            let mut item = Map::new();
            item.insert(
                "ParameterName".into(),
                json!(all[*p as usize % all.len()].name()),
            );
            if let Some(n) = name {
                item.insert("ServiceParameterName".into(), json!(pick(n, NAMES)));
            }
            item.insert("Location".into(), json!(pick(loc, LOCATIONS)));
            Value::Object(item)
        })
        .collect();
    let mut rc = json!({
        "RequestHttpMethod": METHODS[d.method as usize % METHODS.len()],
        "RequestPath": path(&d.path),
        "RequestMode": pick(&d.mode, MODES),
        "BodyFormat": pick(&d.body_format, FORMATS),
        "EscapePathParam": d.escape,
    });
    if let Pick::Known(i) = &d.body_format {
        if FORMATS[*i as usize % FORMATS.len()].is_empty() {
            rc.as_object_mut().map(|o| o.remove("BodyFormat"));
        }
    }
    let mut sc = json!({"ServiceAddress": "http://10.0.0.5:8080"});
    if let Some(sp) = &d.service_path {
        sc["ServicePath"] = json!(path(sp));
    }
    json!({
        "ApiName": "fuzz",
        "AuthType": "ANONYMOUS",
        "RequestConfig": rc,
        "ServiceConfig": sc,
        "RequestParameters": request,
        "ServiceParameters": service,
        "ServiceParametersMap": map,
        "ConstantParameters": constants,
        "SystemParameters": system,
    })
}

fn encoded_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if !(i + 2 < b.len()
                    && b[i + 1].is_ascii_hexdigit()
                    && b[i + 2].is_ascii_hexdigit())
                {
                    return false;
                }
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || b"-._~".contains(&c) => i += 1,
            _ => return false,
        }
    }
    true
}

/// The text form, when the input is one.
fn from_text(data: &[u8]) -> Option<(Value, Req)> {
    let text = std::str::from_utf8(data).ok()?;
    if !text.starts_with('{') {
        return None;
    }
    let (json, request) = text.split_once("\n--\n").unwrap_or((text, ""));
    let doc: Value = serde_json::from_str(json).ok()?;
    let mut req = Req {
        path_values: Vec::new(),
        query: None,
        headers: Vec::new(),
        body: Vec::new(),
        user_agent: String::new(),
    };
    let mut rest = request;
    while !rest.is_empty() {
        if let Some(body) = rest.strip_prefix("B ") {
            req.body = body.as_bytes().to_vec();
            break;
        }
        let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
        rest = after;
        if let Some(v) = line.strip_prefix("P ") {
            req.path_values.push(v.to_string());
        } else if let Some(v) = line.strip_prefix("Q ") {
            req.query = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("U ") {
            req.user_agent = v.to_string();
        } else if let Some((n, v)) = line.strip_prefix("H ").and_then(|h| h.split_once(':')) {
            req.headers.push((
                Pick::Other(n.trim().to_string()),
                v.trim().as_bytes().to_vec(),
            ));
        }
    }
    Some((doc, req))
}

fuzz_target!(|data: &[u8]| {
    let (doc, req) = match from_text(data) {
        Some(t) => t,
        None => match Input::arbitrary_take_rest(arbitrary::Unstructured::new(data)) {
            Ok(input) => (definition(&input.def), input.req),
            Err(_) => return,
        },
    };
    if apigw_fuzz::debug() {
        eprintln!("{doc:#}\n{req:#?}");
    }
    check(doc, &req);
});

fn check(doc: Value, req: &Req) {
    let def: ApiDefinition = match serde_json::from_value(doc) {
        Ok(d) => d,
        Err(_) => return,
    };
    let pattern = match validate_api(&def) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.code.is_empty());
            return;
        }
    };
    let params = Parameters::of(&def, &pattern).expect("validate_api checked the parameters");
    let plan = match ParamPlan::compile(&params, &pattern) {
        Ok(Some(plan)) => plan,
        Ok(None) => return,
        Err(e) => panic!("a definition validate_api accepts compiles: {e}"),
    };

    let names = plan.path_names();
    let path: Vec<(&str, &str)> = names
        .iter()
        .zip(req.path_values.iter())
        .map(|(n, v)| (&**n, v.as_str()))
        .collect();
    let mut headers = HeaderMap::new();
    for (name, value) in req.headers.iter().take(16) {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(pick(name, NAMES).as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(n, v);
        }
    }
    let view = RequestView {
        path: &path,
        query: req.query.as_deref(),
        headers: &headers,
        form: plan.reads_form().then_some(&req.body[..]),
        stream: plan.reads_stream().then_some(&req.body[..]),
    };
    let sys = SystemValues {
        client_ip: "127.0.0.1",
        domain: "api.example.com",
        handle_time: "2026-01-01T00:00:00Z",
        app_id: Some(7),
        app_key: Some("key"),
        app_extend: None,
        request_id: "B1F4A8E0-0000-4000-8000-000000000000",
        https: false,
        api_name: "fuzz",
        user_agent: &req.user_agent,
        stage: "RELEASE",
        instance_id: "node",
    };
    let first = plan.apply(&view, &sys);
    let second = plan.apply(&view, &sys);
    assert_eq!(
        format!("{first:?}"),
        format!("{second:?}"),
        "apply is deterministic"
    );
    match first {
        Ok(mapped) => {
            for (_, v) in &mapped.path {
                if let PathValue::Encoded(e) = v {
                    assert!(encoded_ok(e), "{e:?}");
                }
            }
            if plan.mode == RequestMode::Passthrough {
                assert_eq!(mapped.raw_query, req.query.clone().unwrap_or_default());
            }
            let _ = mapped.query_string();
        }
        Err(reject) => {
            assert!(reject.code.status >= 400);
        }
    }
}
