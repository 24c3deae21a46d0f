//! The parameters and condition language of the plugins (`apigw_plugin::expr`, plugins.md
//! §0.1): variable declarations, conditions, templates, JSONPath, decimals.
//!
//! Input (UTF-8, lossy): byte 0's low bit picks the phase (even = request, odd = response);
//! then lines: the condition, a template, then `name=Location:Name` declarations until a line
//! `--`, then one value per line for the variables (`~` alone is null), the last line being a
//! JSON body for `BodyJsonField`.
//!
//! Invariants checked:
//! - nothing panics; an error position lies within the text (1 ..= length + 1);
//! - an accepted condition parses again from its own text to the same condition, reads only
//!   variables its phase may read, and `not (<condition>)` evaluates to the opposite;
//! - `Variable::parse` of a variable's display form gives the same variable;
//! - a template without placeholders renders as its literal; `parse_decimal` agrees with
//!   Rust's float parser.
#![no_main]

use apigw_plugin::expr::{json_path, parse_decimal, ExprError, MAX_EXPRESSION_CHARS};
use apigw_plugin::{Condition, Parameters, Phase, Template, Variable, Vars};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use std::borrow::Cow;

struct Values {
    values: Vec<Option<String>>,
    body: Option<Value>,
}

impl Vars for Values {
    fn value(&self, var: &Variable) -> Option<Cow<'_, str>> {
        if let (Variable::BodyJsonField(p), Some(body)) = (var, &self.body) {
            return json_path(body, p).map(Cow::Owned);
        }
        if self.values.is_empty() {
            return None;
        }
        let h = var
            .to_string()
            .bytes()
            .fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        self.values[h % self.values.len()]
            .as_deref()
            .map(Cow::Borrowed)
    }

    fn random(&self) -> f64 {
        0.25
    }
}

fn check_position(e: &ExprError, text: &str) {
    let chars = text.chars().count();
    let limit = chars.max(MAX_EXPRESSION_CHARS) + 1;
    assert!(
        e.position >= 1 && e.position <= limit,
        "position {} for {text:?}",
        e.position
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let phase = if selector & 1 == 0 {
        Phase::Request
    } else {
        Phase::Response
    };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let condition = lines.next().unwrap_or_default();
    let template = lines.next().unwrap_or_default();
    let mut decls = Map::new();
    for line in lines.by_ref() {
        if line == "--" {
            break;
        }
        if let Some((name, spec)) = line.split_once('=') {
            decls.insert(name.to_string(), Value::String(spec.to_string()));
            if let Ok(v) = Variable::parse(spec) {
                let again = Variable::parse(&v.to_string())
                    .unwrap_or_else(|e| panic!("{v} does not parse again: {e}"));
                assert_eq!(again, v, "{spec:?}");
            }
        }
    }
    let rest: Vec<&str> = lines.collect();
    let body = rest
        .last()
        .and_then(|b| serde_json::from_str::<Value>(b).ok());
    let vars = Values {
        values: rest
            .iter()
            .map(|v| (*v != "~").then(|| v.to_string()))
            .collect(),
        body,
    };

    let params = Parameters::parse(Some(&Value::Object(decls))).unwrap_or_default();

    match Condition::parse(condition, &params, phase) {
        Err(e) => check_position(&e, condition),
        Ok(c) => {
            assert_eq!(c.text(), condition);
            let again = Condition::parse(c.text(), &params, phase).expect("parses again");
            assert_eq!(again, c);
            for v in c.variables() {
                assert!(v.available_in(phase), "{v} in the {phase} phase");
            }
            let value = c.eval(&vars);
            assert_eq!(value, c.eval(&vars), "evaluation is deterministic");
            let negated = format!("not ({condition})");
            if let Ok(n) = Condition::parse(&negated, &params, phase) {
                assert_eq!(n.eval(&vars), !value, "{negated}");
            }
        }
    }

    match Template::parse(template, &params, phase) {
        Ok(t) => {
            let rendered = t.render(&vars);
            if let Some(literal) = t.literal() {
                assert_eq!(literal, template);
                assert_eq!(rendered, template);
            }
        }
        Err(e) => assert!(!e.is_empty()),
    }

    for piece in condition.split_whitespace() {
        if let Some(n) = parse_decimal(piece) {
            assert!(n.is_finite());
            assert_eq!(Some(n), piece.trim().parse::<f64>().ok(), "{piece}");
        }
    }
});
