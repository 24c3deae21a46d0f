//! The `errorMapping` plugin (plugins.md §8): in the response phase, turn a backend answer
//! into another HTTP status and `X-Ca-Error-Message`.
//!
//! ```yaml
//! ---
//! parameters:
//!   statusCode: "StatusCode"
//!   resultCode: "BodyJsonField:$.result_code"
//!   resultId:   "BodyJsonField:$.req_msg_id"
//! errorCondition: "$statusCode = 200 and $resultCode <> 'OK'"   # required
//! errorCode: "resultCode"        # the variable whose value selects a mapping ($ optional)
//! mappings:                      # required (may be empty when defaultMapping is given)
//!   - code: "ROLE_NOT_EXISTS"
//!     statusCode: 404
//!     errorMessage: "Role Not Exists, RequestId=${resultId}"
//! defaultMapping:                # optional
//!   statusCode: 500
//!   errorMessage: "Unknown Error, ${resultCode}, RequestId=${resultId}"
//! ```
//!
//! Only response-phase variables may be used (StatusCode, ErrorCode, Header, BodyJsonField,
//! System, Token). `mappings` without `errorCode` are refused (they could never be chosen), and
//! so is a document that maps nothing.

use crate::doc;
use crate::expr::{Condition, Parameters, Phase, Template, Variable, Vars};
use serde_json::{Map, Value};

/// A parsed `errorMapping` document.
#[derive(Debug, Clone)]
pub struct ErrorMapping {
    pub parameters: Parameters,
    pub error_condition: Condition,
    /// The variable whose value is matched against the mappings' `code`s.
    pub error_code: Option<Variable>,
    pub mappings: Vec<Mapping>,
    pub default_mapping: Option<Target>,
}

/// One `mappings` entry.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub code: String,
    pub target: Target,
}

/// What a mapped response becomes.
#[derive(Debug, Clone)]
pub struct Target {
    pub status: u16,
    /// `errorMessage` (empty when absent), `${var}` substituted at [`ErrorMapping::apply`].
    pub message: Template,
}

const KIND: &str = "errorMapping";

impl ErrorMapping {
    /// Parses an `errorMapping` document (JSON or YAML).
    pub fn parse(data: &str) -> Result<ErrorMapping, String> {
        let map = doc::mapping(data, KIND)?;
        Self::from_map(&map).map_err(|e| format!("{KIND}: {e}"))
    }

    fn from_map(map: &Map<String, Value>) -> Result<ErrorMapping, String> {
        let parameters = Parameters::parse(map.get("parameters"))?;
        let error_condition =
            doc::condition(map, "errorCondition", "", &parameters, Phase::Response)?;
        let error_code = match doc::text(map, "errorCode", "")? {
            None => None,
            Some(name) => {
                let name = name.trim();
                let name = name.strip_prefix('$').unwrap_or(name);
                Some(
                    parameters
                        .resolve(name, Phase::Response)
                        .map_err(|e| format!("`errorCode`: {e}"))?,
                )
            }
        };
        if doc::member(map, "mappings").is_none() {
            return Err("`mappings` is required".into());
        }
        let mut mappings: Vec<Mapping> = Vec::new();
        for (i, v) in doc::list(map, "mappings", "")?.iter().enumerate() {
            let at = format!("mappings[{i}]");
            let m = doc::item(v, &at)?;
            let code = doc::required_text(m, "code", &format!("{at}."))?;
            if mappings.iter().any(|x| x.code == code) {
                return Err(format!("`{at}.code` `{code}` is mapped twice"));
            }
            let target = target(m, &at, &parameters)?;
            mappings.push(Mapping { code, target });
        }
        let default_mapping = match doc::member(map, "defaultMapping") {
            None => None,
            Some(v) => Some(target(
                doc::item(v, "defaultMapping")?,
                "defaultMapping",
                &parameters,
            )?),
        };
        if !mappings.is_empty() && error_code.is_none() {
            return Err(
                "`mappings` need `errorCode` (the variable whose value selects a mapping)".into(),
            );
        }
        if mappings.is_empty() && default_mapping.is_none() {
            return Err("neither `mappings` nor `defaultMapping` maps anything".into());
        }
        Ok(ErrorMapping {
            parameters,
            error_condition,
            error_code,
            mappings,
            default_mapping,
        })
    }

    /// For a backend response (response-phase `vars`): `None` to leave it unchanged, else the
    /// new HTTP status and the `X-Ca-Error-Message` text (variables substituted; control
    /// characters become spaces, so it is always a valid header value).
    ///
    /// When `errorCondition` holds, the mapping whose `code` equals the `errorCode` variable's
    /// value is applied, else `defaultMapping`, else nothing.
    pub fn apply(&self, vars: &dyn Vars) -> Option<(u16, String)> {
        if !self.error_condition.eval(vars) {
            return None;
        }
        let code = self.error_code.as_ref().and_then(|v| vars.value(v));
        let target = code
            .and_then(|c| self.mappings.iter().find(|m| m.code == c.as_ref()))
            .map(|m| &m.target)
            .or(self.default_mapping.as_ref())?;
        Some((target.status, doc::header_safe(target.message.render(vars))))
    }
}

fn target(map: &Map<String, Value>, at: &str, params: &Parameters) -> Result<Target, String> {
    let p = format!("{at}.");
    let status = doc::status(map, "statusCode", &p, None)?;
    let text = doc::text(map, "errorMessage", &p)?.unwrap_or_default();
    let message = doc::header_template(
        &text,
        &format!("{at}.errorMessage"),
        params,
        Phase::Response,
    )?;
    Ok(Target { status, message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::tests::Map as Vals;

    const SPEC: &str = r#"---
parameters:
  statusCode: "StatusCode"
  resultCode: "BodyJsonField:$.result_code"
  resultId:   "BodyJsonField:$.req_msg_id"
errorCondition: "$statusCode = 200 and $resultCode <> 'OK'"
errorCode: "resultCode"
mappings:
  - code: "ROLE_NOT_EXISTS"
    statusCode: 404
    errorMessage: "Role Not Exists, RequestId=${resultId}"
  - code: "INVALID_PARAMETER"
    statusCode: 400
    errorMessage: "Invalid Parameter, RequestId=${resultId}"
defaultMapping:
  statusCode: 500
  errorMessage: "Unknown Error, ${resultCode}, RequestId=${resultId}"
"#;

    fn response(status: &str, code: Option<&str>, id: &str) -> Vals {
        let mut pairs = vec![("StatusCode", status), ("BodyJsonField:$.req_msg_id", id)];
        if let Some(c) = code {
            pairs.push(("BodyJsonField:$.result_code", c));
        }
        Vals::of(&pairs)
    }

    #[test]
    fn the_spec_example() {
        let m = ErrorMapping::parse(SPEC).unwrap();
        assert_eq!(
            m.apply(&response("200", Some("ROLE_NOT_EXISTS"), "r1")),
            Some((404, "Role Not Exists, RequestId=r1".to_string()))
        );
        assert_eq!(
            m.apply(&response("200", Some("INVALID_PARAMETER"), "r2")),
            Some((400, "Invalid Parameter, RequestId=r2".to_string()))
        );
        assert_eq!(
            m.apply(&response("200", Some("QUOTA"), "r3")),
            Some((500, "Unknown Error, QUOTA, RequestId=r3".to_string()))
        );
        assert_eq!(m.apply(&response("200", Some("OK"), "r4")), None);
        assert_eq!(m.apply(&response("502", Some("QUOTA"), "r5")), None);
        // No result code at all: `<> 'OK'` with null is false, the response is left alone.
        assert_eq!(m.apply(&response("200", None, "r6")), None);
    }

    #[test]
    fn without_default_an_unknown_code_is_left_alone() {
        let m = ErrorMapping::parse(
            r#"{"parameters": {"code": "Header:X-Result"},
                "errorCondition": "$code <> null", "errorCode": "$code",
                "mappings": [{"code": "E1", "statusCode": "409", "errorMessage": "conflict"}]}"#,
        )
        .unwrap();
        assert_eq!(
            m.apply(&Vals::of(&[("Header:X-Result", "E1")])),
            Some((409, "conflict".to_string()))
        );
        assert_eq!(m.apply(&Vals::of(&[("Header:X-Result", "E2")])), None);
        assert_eq!(m.apply(&Vals::of(&[])), None);
    }

    #[test]
    fn substituted_line_breaks_do_not_break_the_header() {
        let m = ErrorMapping::parse(
            "parameters: {c: ErrorCode}\nerrorCondition: \"$c like 'D5%'\"\nmappings: []\n\
             defaultMapping: {statusCode: 503, errorMessage: 'backend: ${c}'}\n",
        )
        .unwrap();
        assert_eq!(
            m.apply(&Vals::of(&[("ErrorCode", "D504TO\r\nX: y")])),
            Some((503, "backend: D504TO  X: y".to_string()))
        );
    }

    #[test]
    fn bad_documents() {
        let ok_tail = "mappings: []\ndefaultMapping: {statusCode: 500}\n";
        let cases = [
            ("[]".to_string(), "must be a mapping"),
            (ok_tail.to_string(), "`errorCondition` is required"),
            (format!("errorCondition: '$q = 1'\nparameters: {{q: 'Query:q'}}\n{ok_tail}"), "response-phase"),
            (format!("errorCondition: '$Unknown = 1'\n{ok_tail}"), "not declared"),
            ("errorCondition: '1 = 1'\n".to_string(), "`mappings` is required"),
            ("errorCondition: '1 = 1'\nmappings: []\n".to_string(), "maps anything"),
            ("errorCondition: '1 = 1'\nmappings: [{code: A, statusCode: 400}]\n".to_string(), "need `errorCode`"),
            ("errorCondition: '1 = 1'\nerrorCode: nope\nmappings: []\n".to_string(), "`errorCode`"),
            ("parameters: {c: StatusCode}\nerrorCondition: '1 = 1'\nerrorCode: c\nmappings: [{code: A}]\n".to_string(), "`mappings[0].statusCode` is required"),
            ("parameters: {c: StatusCode}\nerrorCondition: '1 = 1'\nerrorCode: c\nmappings: [{code: A, statusCode: 1000}]\n".to_string(), "100..=599"),
            ("parameters: {c: StatusCode}\nerrorCondition: '1 = 1'\nerrorCode: c\nmappings: [{code: A, statusCode: 400}, {code: A, statusCode: 401}]\n".to_string(), "mapped twice"),
            ("parameters: {c: StatusCode}\nerrorCondition: '1 = 1'\nerrorCode: c\nmappings: [{statusCode: 400}]\n".to_string(), "`mappings[0].code` is required"),
            ("errorCondition: '1 = 1'\nmappings: []\ndefaultMapping: {statusCode: 500, errorMessage: \"a\\nb\"}\n".to_string(), "line breaks"),
            ("errorCondition: '1 = 1'\nmappings: []\ndefaultMapping: {statusCode: 500, errorMessage: '${x'}\n".to_string(), "closing"),
        ];
        for (doc, needle) in cases {
            let e = ErrorMapping::parse(&doc)
                .err()
                .unwrap_or_else(|| panic!("{doc} parsed"));
            assert!(e.contains(needle), "{doc}: {e}");
            assert!(e.starts_with("errorMapping: "), "{e}");
        }
    }
}
