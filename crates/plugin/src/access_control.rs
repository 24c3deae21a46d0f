//! The `accessControl` plugin (plugins.md §9): rules on request parameters that allow or deny
//! a call.
//!
//! ```yaml
//! ---
//! parameters:
//!   userId: "Token:userId"
//!   userType: "Token:userType"
//!   pathUserId: "Parameter:userId"
//! rules:
//!   - name: admin
//!     condition: "$userType = 'admin'"
//!     ifTrue: "ALLOW"
//!   - name: user
//!     condition: "$userId = $pathUserId"
//!     ifFalse: "DENY"
//!     statusCode: 403                  # optional, default 403
//!     errorMessage: "Path not match ${userId} vs /${pathUserId}"   # optional
//!     responseHeaders:                 # optional
//!       Content-Type: application/xml
//!     responseBody: "<Reason>Path not match ${userId} vs /${pathUserId}</Reason>"
//! ```
//!
//! Rules (at least one) are evaluated in order; each needs a `name`, a `condition` and at
//! least one of `ifTrue` / `ifFalse` (`ALLOW` or `DENY`). `ALLOW` stops and lets the request
//! through, `DENY` stops and rejects it, no verdict goes on to the next rule; past the last
//! rule the request is allowed. Rules with `assertInDataset` are refused: datasets are not
//! implemented.

use crate::doc;
use crate::expr::{Condition, Parameters, Phase, Template, Vars};
use http::HeaderName;
use serde_json::{Map, Value};

/// A parsed `accessControl` document.
#[derive(Debug, Clone)]
pub struct AccessControl {
    pub parameters: Parameters,
    pub rules: Vec<Rule>,
}

/// `ALLOW` or `DENY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub condition: Condition,
    pub if_true: Option<Verdict>,
    pub if_false: Option<Verdict>,
    /// The status of a denial (default 403).
    pub status: u16,
    pub error_message: Option<Template>,
    pub response_headers: Vec<(HeaderName, Template)>,
    pub response_body: Option<Template>,
}

/// What [`AccessControl::decide`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(Denial),
}

/// A rejection: the data plane answers `status` with `X-Ca-Error-Code: A403AC` and
/// `X-Ca-Error-Message` = `message`, or when `None` the A403AC template
/// "Access Control Forbidden by ${RuleName}" with `rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The rule's name.
    pub rule: String,
    pub status: u16,
    /// The rule's `errorMessage`, substituted (control characters become spaces).
    pub message: Option<String>,
    /// `responseHeaders`, substituted (control characters become spaces).
    pub headers: Vec<(HeaderName, String)>,
    /// `responseBody`, substituted.
    pub body: Option<String>,
}

const KIND: &str = "accessControl";

impl AccessControl {
    /// Parses an `accessControl` document (JSON or YAML).
    pub fn parse(data: &str) -> Result<AccessControl, String> {
        let map = doc::mapping(data, KIND)?;
        Self::from_map(&map).map_err(|e| format!("{KIND}: {e}"))
    }

    fn from_map(map: &Map<String, Value>) -> Result<AccessControl, String> {
        let parameters = Parameters::parse(map.get("parameters"))?;
        let items = doc::list(map, "rules", "")?;
        if items.is_empty() {
            return Err("`rules` must list at least one rule".into());
        }
        let mut rules: Vec<Rule> = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            let rule = Rule::parse(v, &format!("rules[{i}]"), &parameters)?;
            if rules.iter().any(|r| r.name == rule.name) {
                return Err(format!(
                    "`rules[{i}].name` `{}` is used by another rule",
                    rule.name
                ));
            }
            rules.push(rule);
        }
        Ok(AccessControl { parameters, rules })
    }

    /// The verdict for a request (request-phase `vars`).
    pub fn decide(&self, vars: &dyn Vars) -> Decision {
        for rule in &self.rules {
            let verdict = if rule.condition.eval(vars) {
                rule.if_true
            } else {
                rule.if_false
            };
            match verdict {
                None => continue,
                Some(Verdict::Allow) => return Decision::Allow,
                Some(Verdict::Deny) => return Decision::Deny(rule.denial(vars)),
            }
        }
        Decision::Allow
    }
}

impl Rule {
    fn parse(v: &Value, at: &str, params: &Parameters) -> Result<Rule, String> {
        let map = doc::item(v, at)?;
        let p = format!("{at}.");
        if map.contains_key("assertInDataset") || map.contains_key("assertParameterName") {
            return Err(format!(
                "`{at}`: `assertInDataset` rules need datasets, not supported yet"
            ));
        }
        let name = doc::required_text(map, "name", &p)?;
        if name.trim().is_empty() || name.chars().any(|c| c.is_control()) {
            return Err(format!(
                "`{at}.name` must be non-empty, without control characters"
            ));
        }
        let condition = doc::condition(map, "condition", &p, params, Phase::Request)?;
        let verdict = |key: &str| -> Result<Option<Verdict>, String> {
            match doc::text(map, key, &p)? {
                None => Ok(None),
                Some(v) if v.trim().eq_ignore_ascii_case("allow") => Ok(Some(Verdict::Allow)),
                Some(v) if v.trim().eq_ignore_ascii_case("deny") => Ok(Some(Verdict::Deny)),
                Some(v) => Err(format!("`{at}.{key}` `{v}` is not ALLOW or DENY")),
            }
        };
        let (if_true, if_false) = (verdict("ifTrue")?, verdict("ifFalse")?);
        if if_true.is_none() && if_false.is_none() {
            return Err(format!(
                "`{at}` needs `ifTrue` or `ifFalse` (ALLOW or DENY)"
            ));
        }
        let status = doc::status(map, "statusCode", &p, Some(403))?;
        let error_message = doc::text(map, "errorMessage", &p)?
            .map(|t| {
                doc::header_template(&t, &format!("{at}.errorMessage"), params, Phase::Request)
            })
            .transpose()?;
        let mut response_headers = Vec::new();
        match doc::member(map, "responseHeaders") {
            None => {}
            Some(Value::Object(headers)) => {
                for (name, value) in headers {
                    let where_ = format!("{at}.responseHeaders.{name}");
                    let header = doc::header_name(name, &where_)?;
                    let text = match value {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return Err(format!("`{where_}` must be a string")),
                    };
                    let t = doc::header_template(&text, &where_, params, Phase::Request)?;
                    response_headers.push((header, t));
                }
            }
            Some(_) => return Err(format!("`{at}.responseHeaders` must be a mapping")),
        }
        let response_body = doc::text(map, "responseBody", &p)?
            .map(|t| {
                Template::parse(&t, params, Phase::Request)
                    .map_err(|e| format!("`{at}.responseBody`: {e}"))
            })
            .transpose()?;
        Ok(Rule {
            name: name.trim().to_string(),
            condition,
            if_true,
            if_false,
            status,
            error_message,
            response_headers,
            response_body,
        })
    }

    fn denial(&self, vars: &dyn Vars) -> Denial {
        Denial {
            rule: self.name.clone(),
            status: self.status,
            message: self
                .error_message
                .as_ref()
                .map(|t| doc::header_safe(t.render(vars))),
            headers: self
                .response_headers
                .iter()
                .map(|(n, t)| (n.clone(), doc::header_safe(t.render(vars))))
                .collect(),
            body: self.response_body.as_ref().map(|t| t.render(vars)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::tests::Map as Vals;

    /// The spec's example (§9) without the dataset rule.
    const SPEC: &str = r#"---
parameters:
  userId: "Token:userId"
  userType: "Token:userType"
  pathUserId: "path:userId"
rules:
  - name: admin
    condition: "$userType = 'admin'"
    ifTrue: "ALLOW"
  - name: user
    condition: "$userId = $pathUserId"
    ifFalse: "DENY"
    statusCode: 403
    errorMessage: "Path not match ${userId} vs /${pathUserId}"
    responseHeaders:
      Content-Type: application/xml
    responseBody: "<Reason>Path not match ${userId} vs /${pathUserId}</Reason>"
"#;

    fn who(kind: &str, user: &str, path: &str) -> Vals {
        Vals::of(&[
            ("Token:userType", kind),
            ("Token:userId", user),
            ("Parameter:userId", path),
        ])
    }

    #[test]
    fn the_spec_example() {
        let ac = AccessControl::parse(SPEC).unwrap();
        assert_eq!(ac.decide(&who("admin", "a", "b")), Decision::Allow);
        assert_eq!(ac.decide(&who("user", "u1", "u1")), Decision::Allow);
        assert_eq!(
            ac.decide(&who("user", "u1", "u2")),
            Decision::Deny(Denial {
                rule: "user".into(),
                status: 403,
                message: Some("Path not match u1 vs /u2".into()),
                headers: vec![(
                    HeaderName::from_static("content-type"),
                    "application/xml".into()
                )],
                body: Some("<Reason>Path not match u1 vs /u2</Reason>".into()),
            })
        );
        // No token at all: `null = null` is false → DENY.
        assert!(matches!(ac.decide(&Vals::of(&[])), Decision::Deny(_)));
    }

    #[test]
    fn the_dataset_variant_is_refused() {
        let doc = format!(
            "{SPEC}  - name: inList\n    assertParameterName: userId\n    assertInDataset: ds-1\n"
        );
        let e = AccessControl::parse(&doc).unwrap_err();
        assert!(
            e.contains("`assertInDataset` rules need datasets, not supported yet"),
            "{e}"
        );
    }

    #[test]
    fn defaults_and_fall_through() {
        let ac = AccessControl::parse(
            r#"{"parameters": {"ip": "XFF:-1", "m": "Method"},
                "rules": [{"name": "no-delete", "condition": "$m = 'DELETE'", "ifTrue": "deny"},
                          {"name": "office", "condition": "$ip like '10.%'", "ifTrue": "Allow", "ifFalse": "DENY", "statusCode": "401"}]}"#,
        )
        .unwrap();
        match ac.decide(&Vals::of(&[("Method", "DELETE")])) {
            Decision::Deny(d) => {
                assert_eq!((d.rule.as_str(), d.status), ("no-delete", 403));
                assert_eq!((d.message, d.body), (None, None));
                assert!(d.headers.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ac.decide(&Vals::of(&[("Method", "GET"), ("XFF:-1", "10.1.2.3")])),
            Decision::Allow
        );
        match ac.decide(&Vals::of(&[("Method", "GET"), ("XFF:-1", "192.0.2.1")])) {
            Decision::Deny(d) => assert_eq!((d.rule.as_str(), d.status), ("office", 401)),
            other => panic!("{other:?}"),
        }
        // No verdict anywhere → allow.
        let ac =
            AccessControl::parse("rules: [{name: r, condition: '1 = 2', ifTrue: DENY}]").unwrap();
        assert_eq!(ac.decide(&Vals::of(&[])), Decision::Allow);
    }

    #[test]
    fn bad_documents() {
        let cases = [
            ("[]", "must be a mapping"),
            ("{}", "at least one rule"),
            ("rules: [{condition: '1 = 1', ifTrue: ALLOW}]", "`rules[0].name` is required"),
            ("rules: [{name: a, ifTrue: ALLOW}]", "`rules[0].condition` is required"),
            ("rules: [{name: a, condition: '1 = 1'}]", "needs `ifTrue` or `ifFalse`"),
            ("rules: [{name: a, condition: '1 = 1', ifTrue: MAYBE}]", "not ALLOW or DENY"),
            ("rules: [{name: a, condition: '1 = 1', ifTrue: DENY, statusCode: 42}]", "100..=599"),
            ("rules: [{name: a, condition: '(1 = 1', ifTrue: DENY}]", "at character"),
            ("rules: [{name: a, condition: '1 = 1', ifTrue: DENY, errorMessage: \"a\\r\\nb\"}]", "line breaks"),
            ("rules: [{name: a, condition: '1 = 1', ifTrue: DENY, responseHeaders: {'a b': x}}]", "not a header name"),
            ("rules: [{name: a, condition: '1 = 1', ifTrue: DENY, responseHeaders: [x]}]", "must be a mapping"),
            ("rules: [{name: a, condition: '1 = 1', ifTrue: DENY, responseHeaders: {X-A: \"1\\n2\"}}]", "line breaks"),
            ("rules: [{name: a, condition: '1 = 1', ifTrue: DENY}, {name: a, condition: '1 = 1', ifTrue: DENY}]", "used by another rule"),
            ("parameters: {s: StatusCode}\nrules: [{name: a, condition: '$s = 1', ifTrue: DENY}]", "request-phase"),
        ];
        for (doc, needle) in cases {
            let e = AccessControl::parse(doc)
                .err()
                .unwrap_or_else(|| panic!("{doc} parsed"));
            assert!(e.contains(needle), "{doc}: {e}");
            assert!(e.starts_with("accessControl: "), "{e}");
        }
    }
}
