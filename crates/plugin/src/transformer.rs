//! The `transformer` plugin (plugins.md §10): add, replace or remove request parameters before
//! the backend call, and change the response status or headers afterwards. The cloud's key
//! layout is not documented; apigw reads:
//!
//! ```yaml
//! ---
//! parameters:                          # optional (§0.1)
//!   userId: "Token:userId"
//!   status: "StatusCode"
//! requestTransformer:                  # run after parameter mapping, on the backend request
//!   - action: putRequestParameter      # addRequestParameterIfAbsent | putRequestParameter | removeRequestParameter
//!     location: header                 # header | query | form
//!     name: X-User-Id
//!     value: "${userId}"               # not for remove; `${var}` substituted
//!     condition: "$userId <> null"     # optional; the rule applies only when it holds
//! responseTransformer:                 # run after errorMapping, on the response
//!   - action: putResponseHeader        # addResponseHeaderIfAbsent | putResponseHeader | removeResponseHeader
//!     name: X-Backend-Status
//!     value: "${status}"
//!   - action: setResponseStatusCode
//!     statusCode: 200                  # (or `value`), 100..=599
//!     condition: "$status = 204"
//! ```
//!
//! Request rules may read request-phase variables, response rules response-phase ones. Header
//! names and literal header values are checked when the document is parsed (no line breaks);
//! a substituted value's control characters become spaces. A document without any rule is
//! refused.

use crate::doc::{self, ParamLocation};
use crate::expr::{Condition, Parameters, Phase, Template, Vars};
use http::HeaderName;
use serde_json::{Map, Value};

/// A parsed `transformer` document.
#[derive(Debug, Clone)]
pub struct Transformer {
    pub parameters: Parameters,
    pub request: Vec<RequestRule>,
    pub response: Vec<ResponseRule>,
}

/// One `requestTransformer` entry.
#[derive(Debug, Clone)]
pub struct RequestRule {
    pub condition: Option<Condition>,
    pub action: RequestAction,
    pub location: ParamLocation,
    pub name: String,
}

#[derive(Debug, Clone)]
pub enum RequestAction {
    AddIfAbsent(Template),
    Put(Template),
    Remove,
}

/// One `responseTransformer` entry.
#[derive(Debug, Clone)]
pub struct ResponseRule {
    pub condition: Option<Condition>,
    pub action: ResponseAction,
}

#[derive(Debug, Clone)]
pub enum ResponseAction {
    SetStatus(u16),
    AddHeaderIfAbsent(HeaderName, Template),
    PutHeader(HeaderName, Template),
    RemoveHeader(HeaderName),
}

/// A change to the backend request, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOp {
    /// Set the parameter only when the request does not carry it.
    AddIfAbsent {
        location: ParamLocation,
        name: String,
        value: String,
    },
    /// Set the parameter, replacing any value.
    Put {
        location: ParamLocation,
        name: String,
        value: String,
    },
    Remove {
        location: ParamLocation,
        name: String,
    },
}

/// A change to the response, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseOp {
    SetStatus(u16),
    AddHeaderIfAbsent(HeaderName, String),
    PutHeader(HeaderName, String),
    RemoveHeader(HeaderName),
}

const KIND: &str = "transformer";

impl Transformer {
    /// Parses a `transformer` document (JSON or YAML).
    pub fn parse(data: &str) -> Result<Transformer, String> {
        let map = doc::mapping(data, KIND)?;
        Self::from_map(&map).map_err(|e| format!("{KIND}: {e}"))
    }

    fn from_map(map: &Map<String, Value>) -> Result<Transformer, String> {
        let parameters = Parameters::parse(map.get("parameters"))?;
        let request = doc::list(map, "requestTransformer", "")?
            .iter()
            .enumerate()
            .map(|(i, v)| request_rule(v, &format!("requestTransformer[{i}]"), &parameters))
            .collect::<Result<Vec<_>, _>>()?;
        let response = doc::list(map, "responseTransformer", "")?
            .iter()
            .enumerate()
            .map(|(i, v)| response_rule(v, &format!("responseTransformer[{i}]"), &parameters))
            .collect::<Result<Vec<_>, _>>()?;
        if request.is_empty() && response.is_empty() {
            return Err("neither `requestTransformer` nor `responseTransformer` has a rule".into());
        }
        Ok(Transformer {
            parameters,
            request,
            response,
        })
    }

    /// The changes to make to the backend request (request-phase `vars`), in order; rules
    /// whose condition does not hold are left out.
    pub fn request_ops(&self, vars: &dyn Vars) -> Vec<RequestOp> {
        self.request
            .iter()
            .filter(|r| r.condition.as_ref().is_none_or(|c| c.eval(vars)))
            .map(|r| {
                let render = |t: &Template| {
                    let v = t.render(vars);
                    match r.location {
                        ParamLocation::Header => doc::header_safe(v),
                        _ => v,
                    }
                };
                let (location, name) = (r.location, r.name.clone());
                match &r.action {
                    RequestAction::AddIfAbsent(t) => RequestOp::AddIfAbsent {
                        location,
                        name,
                        value: render(t),
                    },
                    RequestAction::Put(t) => RequestOp::Put {
                        location,
                        name,
                        value: render(t),
                    },
                    RequestAction::Remove => RequestOp::Remove { location, name },
                }
            })
            .collect()
    }

    /// The changes to make to the response (response-phase `vars`), in order; rules whose
    /// condition does not hold are left out.
    pub fn response_ops(&self, vars: &dyn Vars) -> Vec<ResponseOp> {
        self.response
            .iter()
            .filter(|r| r.condition.as_ref().is_none_or(|c| c.eval(vars)))
            .map(|r| match &r.action {
                ResponseAction::SetStatus(s) => ResponseOp::SetStatus(*s),
                ResponseAction::AddHeaderIfAbsent(n, t) => {
                    ResponseOp::AddHeaderIfAbsent(n.clone(), doc::header_safe(t.render(vars)))
                }
                ResponseAction::PutHeader(n, t) => {
                    ResponseOp::PutHeader(n.clone(), doc::header_safe(t.render(vars)))
                }
                ResponseAction::RemoveHeader(n) => ResponseOp::RemoveHeader(n.clone()),
            })
            .collect()
    }
}

/// The optional `condition` of a rule.
fn rule_condition(
    map: &Map<String, Value>,
    at: &str,
    params: &Parameters,
    phase: Phase,
) -> Result<Option<Condition>, String> {
    match doc::member(map, "condition") {
        None => Ok(None),
        Some(_) => doc::condition(map, "condition", &format!("{at}."), params, phase).map(Some),
    }
}

fn request_rule(v: &Value, at: &str, params: &Parameters) -> Result<RequestRule, String> {
    let map = doc::item(v, at)?;
    let p = format!("{at}.");
    let condition = rule_condition(map, at, params, Phase::Request)?;
    let location = ParamLocation::parse(
        &doc::required_text(map, "location", &p)?,
        &format!("{at}.location"),
        true,
    )?;
    let name = doc::required_text(map, "name", &p)?.trim().to_string();
    if name.is_empty() {
        return Err(format!("`{at}.name` is empty"));
    }
    if location == ParamLocation::Header {
        doc::header_name(&name, &format!("{at}.name"))?;
    }
    let value = |params: &Parameters| -> Result<Template, String> {
        let text = doc::required_text(map, "value", &p)?;
        let where_ = format!("{at}.value");
        match location {
            ParamLocation::Header => doc::header_template(&text, &where_, params, Phase::Request),
            _ => Template::parse(&text, params, Phase::Request)
                .map_err(|e| format!("`{where_}`: {e}")),
        }
    };
    let action_name = doc::required_text(map, "action", &p)?;
    let action = match action_name.trim() {
        "addRequestParameterIfAbsent" => RequestAction::AddIfAbsent(value(params)?),
        "putRequestParameter" => RequestAction::Put(value(params)?),
        "removeRequestParameter" => RequestAction::Remove,
        other => {
            return Err(format!(
                "`{at}.action` `{other}` is not addRequestParameterIfAbsent, \
                 putRequestParameter or removeRequestParameter"
            ))
        }
    };
    Ok(RequestRule {
        condition,
        action,
        location,
        name,
    })
}

fn response_rule(v: &Value, at: &str, params: &Parameters) -> Result<ResponseRule, String> {
    let map = doc::item(v, at)?;
    let p = format!("{at}.");
    let condition = rule_condition(map, at, params, Phase::Response)?;
    let action_name = doc::required_text(map, "action", &p)?;
    let header = || -> Result<HeaderName, String> {
        doc::header_name(&doc::required_text(map, "name", &p)?, &format!("{at}.name"))
    };
    let value = || -> Result<Template, String> {
        doc::header_template(
            &doc::required_text(map, "value", &p)?,
            &format!("{at}.value"),
            params,
            Phase::Response,
        )
    };
    let action = match action_name.trim() {
        "setResponseStatusCode" => {
            let key = if doc::member(map, "statusCode").is_some() {
                "statusCode"
            } else {
                "value"
            };
            ResponseAction::SetStatus(doc::status(map, key, &p, None)?)
        }
        "addResponseHeaderIfAbsent" => ResponseAction::AddHeaderIfAbsent(header()?, value()?),
        "putResponseHeader" => ResponseAction::PutHeader(header()?, value()?),
        "removeResponseHeader" => ResponseAction::RemoveHeader(header()?),
        other => {
            return Err(format!(
                "`{at}.action` `{other}` is not setResponseStatusCode, \
                 addResponseHeaderIfAbsent, putResponseHeader or removeResponseHeader"
            ))
        }
    };
    Ok(ResponseRule { condition, action })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::tests::Map as Vals;

    const DOC: &str = r#"---
parameters:
  userId: "Token:userId"
  status: "StatusCode"
  method: "Method"
requestTransformer:
  - action: putRequestParameter
    location: header
    name: X-User-Id
    value: "${userId}"
    condition: "$userId <> null"
  - action: addRequestParameterIfAbsent
    location: query
    name: lang
    value: en
  - action: removeRequestParameter
    location: form
    name: debug
    condition: "$method = 'POST'"
responseTransformer:
  - action: putResponseHeader
    name: X-Backend-Status
    value: "${status}"
  - action: addResponseHeaderIfAbsent
    name: Cache-Control
    value: no-store
  - action: removeResponseHeader
    name: Server
  - action: setResponseStatusCode
    statusCode: 200
    condition: "$status = 204"
"#;

    #[test]
    fn request_operations() {
        let t = Transformer::parse(DOC).unwrap();
        let ops = t.request_ops(&Vals::of(&[("Token:userId", "u\r\n1"), ("Method", "POST")]));
        assert_eq!(
            ops,
            vec![
                RequestOp::Put {
                    location: ParamLocation::Header,
                    name: "X-User-Id".into(),
                    value: "u  1".into()
                },
                RequestOp::AddIfAbsent {
                    location: ParamLocation::Query,
                    name: "lang".into(),
                    value: "en".into()
                },
                RequestOp::Remove {
                    location: ParamLocation::Form,
                    name: "debug".into()
                },
            ]
        );
        let ops = t.request_ops(&Vals::of(&[("Method", "GET")]));
        assert_eq!(ops.len(), 1, "{ops:?}");
    }

    #[test]
    fn response_operations() {
        let t = Transformer::parse(DOC).unwrap();
        let ops = t.response_ops(&Vals::of(&[("StatusCode", "204")]));
        assert_eq!(
            ops,
            vec![
                ResponseOp::PutHeader(HeaderName::from_static("x-backend-status"), "204".into()),
                ResponseOp::AddHeaderIfAbsent(
                    HeaderName::from_static("cache-control"),
                    "no-store".into()
                ),
                ResponseOp::RemoveHeader(HeaderName::from_static("server")),
                ResponseOp::SetStatus(200),
            ]
        );
        assert_eq!(t.response_ops(&Vals::of(&[("StatusCode", "200")])).len(), 3);
    }

    #[test]
    fn json_and_one_sided_documents() {
        let t = Transformer::parse(
            r#"{"responseTransformer": [{"action": "setResponseStatusCode", "value": "202"}]}"#,
        )
        .unwrap();
        assert!(t.request.is_empty());
        assert_eq!(
            t.response_ops(&Vals::of(&[])),
            vec![ResponseOp::SetStatus(202)]
        );
    }

    #[test]
    fn bad_documents() {
        let req = |r: &str| format!("requestTransformer: [{r}]");
        let resp = |r: &str| format!("responseTransformer: [{r}]");
        let cases = [
            ("[]".to_string(), "must be a mapping"),
            ("{}".to_string(), "has a rule"),
            ("requestTransformer: {}".to_string(), "must be a list"),
            (req("{action: putRequestParameter, location: header, name: X-A}"), "`requestTransformer[0].value` is required"),
            (req("{action: putRequestParameter, location: cookie, name: a, value: b}"), "not header, query or form"),
            (req("{action: putRequestParameter, location: header, name: 'a b', value: b}"), "not a header name"),
            (req("{action: putRequestParameter, location: header, name: a, value: \"x\\ny\"}"), "line breaks"),
            (req("{action: renameRequestParameter, location: query, name: a}"), "is not addRequestParameterIfAbsent"),
            (req("{location: query, name: a}"), "`requestTransformer[0].action` is required"),
            (req("{action: removeRequestParameter, location: query, name: a, condition: '$s = 1'}") + "\nparameters: {s: StatusCode}", "request-phase"),
            (resp("{action: putResponseHeader, name: X-A}"), "`responseTransformer[0].value` is required"),
            (resp("{action: removeResponseHeader}"), "`responseTransformer[0].name` is required"),
            (resp("{action: setResponseStatusCode}"), "`responseTransformer[0].value` is required"),
            (resp("{action: setResponseStatusCode, statusCode: 700}"), "100..=599"),
            (resp("{action: putResponseHeader, name: X-A, value: '${q}'}") + "\nparameters: {q: 'Query:q'}", "response-phase"),
            (resp("{action: putResponseHeader, name: X-A, value: x, condition: '$a ='}"), "at character"),
            (resp("{action: putRequestParameter, name: X-A, value: x}"), "is not setResponseStatusCode"),
        ];
        for (doc, needle) in cases {
            let e = Transformer::parse(&doc)
                .err()
                .unwrap_or_else(|| panic!("{doc} parsed"));
            assert!(e.contains(needle), "{doc}: {e}");
            assert!(e.starts_with("transformer: "), "{e}");
        }
    }
}
