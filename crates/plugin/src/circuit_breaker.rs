//! The `circuitBreaker` plugin document (plugins.md §6): thresholds, window, open time, the
//! `errorCondition` that makes an outcome a failure, and the downgrade backend. The breaker's
//! state machine is the data plane's (`apigw_gateway::breaker`).

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};
use std::time::Duration;

/// A parsed `circuitBreaker` plugin document.
#[derive(Debug, Clone)]
pub struct BreakerConfig {
    /// Failures in one window that open the breaker.
    threshold: usize,
    window: Duration,
    open_timeout: Duration,
    /// `None`: timeout mode (only timeouts count). `Some`: error-condition mode.
    condition: Option<Condition>,
    downgrade: Option<Downgrade>,
}

/// The fallback served while the breaker is open: a fixed response (`type: mock`), or
/// another backend (`type: http`) called with the same request.
#[derive(Debug, Clone)]
pub struct Downgrade {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `type: http`: `address` (`http(s)://host[:port]`) and `timeout` (ms, default 10000).
    pub http: Option<(String, u32)>,
}

/// How an admitted call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub timed_out: bool,
    /// The backend's status code, if a response came.
    pub status: Option<u16>,
    pub latency: Duration,
}

impl BreakerConfig {
    /// Parses a plugin document (JSON or YAML).
    pub fn parse(doc: &str) -> Result<BreakerConfig, String> {
        let value: Value = serde_norway::from_str(doc)
            .map_err(|e| format!("circuitBreaker: not valid JSON or YAML: {e}"))?;
        let obj = value
            .as_object()
            .ok_or("circuitBreaker: the document must be a mapping")?;
        let timeout = number(obj, "timeoutThreshold", 1, 5000)?;
        let error = number(obj, "errorThreshold", 1, 5000)?;
        let (threshold, condition) = match (timeout, error) {
            (Some(_), Some(_)) => {
                return Err(
                    "circuitBreaker: give only one of `timeoutThreshold` and `errorThreshold`"
                        .into(),
                )
            }
            (None, None) => {
                return Err(
                    "circuitBreaker: one of `timeoutThreshold` or `errorThreshold` is required"
                        .into(),
                )
            }
            (Some(t), None) => (t, None),
            (None, Some(t)) => (t, Some(condition(obj)?)),
        };
        let window = required(obj, "windowInSeconds", 10, 90)?;
        let open_timeout = required(obj, "openTimeoutSeconds", 15, 300)?;
        let downgrade = match obj.get("downgradeBackend") {
            None | Some(Value::Null) => None,
            Some(v) => Some(Downgrade::parse(v)?),
        };
        Ok(BreakerConfig {
            threshold: threshold as usize,
            window: Duration::from_secs(window),
            open_timeout: Duration::from_secs(open_timeout),
            condition,
            downgrade,
        })
    }

    /// 1000 timeouts in 30 s → open 90 s, no downgrade.
    pub fn default_config() -> BreakerConfig {
        BreakerConfig {
            threshold: 1000,
            window: Duration::from_secs(30),
            open_timeout: Duration::from_secs(90),
            condition: None,
            downgrade: None,
        }
    }

    /// Failures in one window that open the breaker.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The sliding window failures are counted in.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// How long the breaker stays open before a probe.
    pub fn open_timeout(&self) -> Duration {
        self.open_timeout
    }

    /// The fallback response served while open, if configured.
    pub fn downgrade(&self) -> Option<&Downgrade> {
        self.downgrade.as_ref()
    }

    /// Whether an outcome counts as a failure. A timeout always does.
    pub fn is_failure(&self, outcome: &Outcome) -> bool {
        if outcome.timed_out {
            return true;
        }
        match &self.condition {
            None => false,
            Some(c) => c.eval(outcome),
        }
    }
}

/// Reads the required `errorCondition` member.
fn condition(obj: &Map<String, Value>) -> Result<Condition, String> {
    match obj.get("errorCondition") {
        Some(Value::String(s)) => Condition::parse(s),
        Some(_) => Err("circuitBreaker: `errorCondition` must be a string".into()),
        None => Err("circuitBreaker: `errorCondition` is required with `errorThreshold`".into()),
    }
}

/// Reads a required integer member in `min..=max`.
fn required(obj: &Map<String, Value>, name: &str, min: u64, max: u64) -> Result<u64, String> {
    number(obj, name, min, max)?.ok_or_else(|| format!("circuitBreaker: `{name}` is required"))
}

/// Reads an optional integer member (a number or a numeric string) in `min..=max`.
fn number(obj: &Map<String, Value>, name: &str, min: u64, max: u64) -> Result<Option<u64>, String> {
    let n = match obj.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "circuitBreaker: `{name}` must be an integer in {min}..={max}"
        )),
    }
}

impl Downgrade {
    /// Parses the `downgradeBackend` member.
    fn parse(v: &Value) -> Result<Downgrade, String> {
        let obj = v
            .as_object()
            .ok_or("circuitBreaker: `downgradeBackend` must be a mapping")?;
        match obj.get("type") {
            Some(Value::String(t)) if t.eq_ignore_ascii_case("mock") => {}
            Some(Value::String(t)) if t.eq_ignore_ascii_case("http") => {
                return Downgrade::parse_http(obj);
            }
            Some(Value::String(t)) => {
                return Err(format!(
                    "circuitBreaker: `downgradeBackend.type` `{t}` is not supported (mock or http)"
                ))
            }
            Some(_) => {
                return Err("circuitBreaker: `downgradeBackend.type` must be a string".into())
            }
            None => return Err("circuitBreaker: `downgradeBackend.type` is required".into()),
        }
        let status = match number(obj, "statusCode", 100, 599)
            .map_err(|_| "circuitBreaker: `downgradeBackend.statusCode` must be 100..=599")?
        {
            Some(code) => StatusCode::from_u16(code as u16)
                .map_err(|_| "circuitBreaker: `downgradeBackend.statusCode` is invalid")?,
            None => StatusCode::OK,
        };
        let body = match obj.get("body") {
            None | Some(Value::Null) => Bytes::new(),
            Some(Value::String(s)) => Bytes::from(s.clone()),
            Some(_) => {
                return Err("circuitBreaker: `downgradeBackend.body` must be a string".into())
            }
        };
        let headers = match obj.get("headers") {
            None | Some(Value::Null) => HeaderMap::new(),
            Some(Value::Object(map)) => headers(map)?,
            Some(_) => {
                return Err("circuitBreaker: `downgradeBackend.headers` must be a mapping".into())
            }
        };
        Ok(Downgrade {
            status,
            headers,
            body,
            http: None,
        })
    }

    /// `type: http`: another backend, same request.
    fn parse_http(obj: &Map<String, Value>) -> Result<Downgrade, String> {
        let address = obj.get("address").and_then(Value::as_str).ok_or(
            "circuitBreaker: `downgradeBackend.address` (http(s)://host[:port]) is required",
        )?;
        apigw_model::validate::validate_service_address(address)
            .map_err(|e| format!("circuitBreaker: `downgradeBackend.address`: {}", e.message))?;
        let timeout = number(obj, "timeout", 1, 30_000)
            .map_err(|_| "circuitBreaker: `downgradeBackend.timeout` must be 1..=30000 ms")?
            .unwrap_or(10_000) as u32;
        Ok(Downgrade {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            http: Some((address.to_string(), timeout)),
        })
    }
}

/// Builds the downgrade headers from a mapping of names to strings or numbers.
fn headers(map: &Map<String, Value>) -> Result<HeaderMap, String> {
    let mut out = HeaderMap::new();
    for (name, value) in map {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(format!(
                    "circuitBreaker: `downgradeBackend.headers.{name}` must be a string"
                ))
            }
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            format!("circuitBreaker: `downgradeBackend.headers`: `{name}` is not a header name")
        })?;
        let value = HeaderValue::from_str(&text).map_err(|_| {
            format!("circuitBreaker: `downgradeBackend.headers.{name}` is not a valid value")
        })?;
        out.append(name, value);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// errorCondition expressions
// ---------------------------------------------------------------------------------------

/// A parsed `errorCondition`: an OR of ANDs of comparisons.
#[derive(Debug, Clone, PartialEq)]
struct Condition {
    any: Vec<Vec<Compare>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Compare {
    var: Var,
    op: Op,
    value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    LatencyMilliSeconds,
    LatencySeconds,
    StatusCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Var(Var),
    Num(f64),
    Op(Op),
    And,
    Or,
}

impl Condition {
    fn parse(text: &str) -> Result<Condition, String> {
        let tokens =
            tokenize(text).map_err(|e| format!("circuitBreaker: `errorCondition`: {e}"))?;
        parse_tokens(&tokens).map_err(|e| format!("circuitBreaker: `errorCondition`: {e}"))
    }

    fn eval(&self, outcome: &Outcome) -> bool {
        self.any
            .iter()
            .any(|all| all.iter().all(|c| c.eval(outcome)))
    }
}

impl Compare {
    fn eval(&self, outcome: &Outcome) -> bool {
        let left = match self.var {
            Var::LatencyMilliSeconds => outcome.latency.as_secs_f64() * 1000.0,
            Var::LatencySeconds => outcome.latency.as_secs_f64(),
            Var::StatusCode => match outcome.status {
                Some(s) => f64::from(s),
                None => return false,
            },
        };
        match self.op {
            Op::Eq => left == self.value,
            Op::Ne => left != self.value,
            Op::Lt => left < self.value,
            Op::Le => left <= self.value,
            Op::Gt => left > self.value,
            Op::Ge => left >= self.value,
        }
    }
}

/// Splits an expression into tokens.
fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
        } else if c == '$' {
            i = scan(&chars, i + 1, |c| c.is_ascii_alphanumeric() || c == '_');
            let name: String = chars[start + 1..i].iter().collect();
            tokens.push(Token::Var(variable(&name)?));
        } else if c.is_ascii_digit() || c == '.' || c == '-' {
            i = scan(&chars, i + 1, |c| c.is_ascii_digit() || c == '.');
            let text: String = chars[start..i].iter().collect();
            let n = text
                .parse::<f64>()
                .map_err(|_| format!("`{text}` is not a number"))?;
            tokens.push(Token::Num(n));
        } else if matches!(c, '=' | '!' | '<' | '>') {
            i = scan(&chars, i + 1, |c| matches!(c, '=' | '>'));
            let text: String = chars[start..i].iter().collect();
            tokens.push(Token::Op(operator(&text)?));
        } else if c == '&' || c == '|' {
            i = scan(&chars, i + 1, |x| x == c);
            let text: String = chars[start..i].iter().collect();
            tokens.push(match text.as_str() {
                "&&" => Token::And,
                "||" => Token::Or,
                _ => return Err(format!("unknown operator `{text}`")),
            });
        } else if c.is_ascii_alphabetic() {
            i = scan(&chars, i + 1, |c| c.is_ascii_alphanumeric() || c == '_');
            let word: String = chars[start..i].iter().collect();
            tokens.push(match word.to_ascii_lowercase().as_str() {
                "and" => Token::And,
                "or" => Token::Or,
                _ => return Err(format!("unexpected word `{word}`")),
            });
        } else {
            return Err(format!("unexpected character `{c}`"));
        }
    }
    Ok(tokens)
}

/// The index of the first char at or after `i` that does not satisfy `keep`.
fn scan(chars: &[char], mut i: usize, keep: impl Fn(char) -> bool) -> usize {
    while i < chars.len() && keep(chars[i]) {
        i += 1;
    }
    i
}

fn variable(name: &str) -> Result<Var, String> {
    match name.to_ascii_lowercase().as_str() {
        "latencymilliseconds" => Ok(Var::LatencyMilliSeconds),
        "latencyseconds" => Ok(Var::LatencySeconds),
        "statuscode" => Ok(Var::StatusCode),
        _ => Err(format!("unknown variable `${name}`")),
    }
}

fn operator(text: &str) -> Result<Op, String> {
    match text {
        "=" | "==" => Ok(Op::Eq),
        "<>" | "!=" => Ok(Op::Ne),
        "<" => Ok(Op::Lt),
        "<=" => Ok(Op::Le),
        ">" => Ok(Op::Gt),
        ">=" => Ok(Op::Ge),
        _ => Err(format!("unknown operator `{text}`")),
    }
}

/// Parses `cmp (and cmp)* (or cmp (and cmp)*)*`.
fn parse_tokens(tokens: &[Token]) -> Result<Condition, String> {
    if tokens.is_empty() {
        return Err("empty expression".into());
    }
    let mut any = vec![Vec::new()];
    let mut rest = tokens;
    loop {
        let (cmp, after) = parse_compare(rest)?;
        any.last_mut().expect("never empty").push(cmp);
        match after.split_first() {
            None => return Ok(Condition { any }),
            Some((Token::And, after)) => rest = after,
            Some((Token::Or, after)) => {
                any.push(Vec::new());
                rest = after;
            }
            Some(_) => return Err("expected `and` or `or` between comparisons".into()),
        }
    }
}

/// Parses one `$Var op number` at the start of `tokens`.
fn parse_compare(tokens: &[Token]) -> Result<(Compare, &[Token]), String> {
    match tokens {
        [Token::Var(var), Token::Op(op), Token::Num(value), rest @ ..] => Ok((
            Compare {
                var: *var,
                op: *op,
                value: *value,
            },
            rest,
        )),
        _ => Err("expected a comparison `$Variable operator number`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT_YAML: &str = "
timeoutThreshold: 3
windowInSeconds: 30
openTimeoutSeconds: 15
downgradeBackend:
  type: mock
  statusCode: 418
  body: fallback
  headers: {X-Fallback: \"1\"}
";

    const ERROR_YAML: &str = "
errorThreshold: 2
windowInSeconds: 60
openTimeoutSeconds: 120
errorCondition: \"$LatencyMilliSeconds > 500\"
";

    fn timeout() -> Outcome {
        Outcome {
            timed_out: true,
            status: None,
            latency: Duration::from_secs(10),
        }
    }

    fn outcome(status: u16, millis: u64) -> Outcome {
        Outcome {
            timed_out: false,
            status: Some(status),
            latency: Duration::from_millis(millis),
        }
    }

    fn cond(text: &str) -> Condition {
        Condition::parse(text).unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn err(doc: &str) -> String {
        BreakerConfig::parse(doc).unwrap_err()
    }

    #[test]
    fn parses_timeout_mode_yaml() {
        let c = BreakerConfig::parse(TIMEOUT_YAML).unwrap();
        assert_eq!(c.threshold, 3);
        assert_eq!(c.window, secs(30));
        assert_eq!(c.open_timeout, secs(15));
        assert!(c.condition.is_none());
        let d = c.downgrade().unwrap();
        assert_eq!(d.status, StatusCode::IM_A_TEAPOT);
        assert_eq!(d.body, Bytes::from_static(b"fallback"));
        assert_eq!(d.headers["x-fallback"], "1");
    }

    #[test]
    fn parses_timeout_mode_json() {
        let c = BreakerConfig::parse(
            r#"{"timeoutThreshold": 15, "windowInSeconds": 10, "openTimeoutSeconds": 300}"#,
        )
        .unwrap();
        assert_eq!(c.threshold, 15);
        assert_eq!(c.window, secs(10));
        assert_eq!(c.open_timeout, secs(300));
        assert!(c.downgrade().is_none());
    }

    #[test]
    fn parses_error_mode_yaml_and_json() {
        let c = BreakerConfig::parse(ERROR_YAML).unwrap();
        assert_eq!(c.threshold, 2);
        assert_eq!(c.window, secs(60));
        assert_eq!(c.open_timeout, secs(120));
        assert!(c.is_failure(&outcome(200, 501)));
        assert!(!c.is_failure(&outcome(200, 500)));
        assert!(
            c.is_failure(&timeout()),
            "a timeout counts in error mode too"
        );

        let c = BreakerConfig::parse(
            r#"{"errorThreshold": 5000, "windowInSeconds": 90, "openTimeoutSeconds": 15,
                "errorCondition": "$StatusCode >= 500"}"#,
        )
        .unwrap();
        assert_eq!(c.threshold, 5000);
        assert!(c.is_failure(&outcome(503, 1)));
        assert!(!c.is_failure(&outcome(404, 1)));
    }

    #[test]
    fn timeout_mode_ignores_slow_responses() {
        let c = BreakerConfig::parse(TIMEOUT_YAML).unwrap();
        assert!(!c.is_failure(&outcome(500, 100_000)));
        assert!(c.is_failure(&timeout()));
    }

    #[test]
    fn numeric_strings_are_accepted() {
        let c = BreakerConfig::parse(
            "timeoutThreshold: '7'\nwindowInSeconds: '20'\nopenTimeoutSeconds: 20\n",
        )
        .unwrap();
        assert_eq!(c.threshold, 7);
        assert_eq!(c.window, secs(20));
    }

    #[test]
    fn default_config_values() {
        let c = BreakerConfig::default_config();
        assert_eq!(c.threshold, 1000);
        assert_eq!(c.window, secs(30));
        assert_eq!(c.open_timeout, secs(90));
        assert!(c.condition.is_none());
        assert!(c.downgrade().is_none());
    }

    #[test]
    fn rejects_bad_documents() {
        assert!(err("[1, 2").contains("not valid"));
        assert!(err("- 1\n- 2\n").contains("mapping"));
        assert!(err("windowInSeconds: 30\nopenTimeoutSeconds: 15\n").contains("one of"));
        let both = "timeoutThreshold: 1\nerrorThreshold: 1\nwindowInSeconds: 30\n\
                    openTimeoutSeconds: 15\nerrorCondition: '$StatusCode = 500'\n";
        assert!(err(both).contains("only one"));
    }

    #[test]
    fn rejects_out_of_range_and_missing_numbers() {
        let cases = [
            ("timeoutThreshold: 0\nwindowInSeconds: 30\nopenTimeoutSeconds: 15", "timeoutThreshold"),
            ("timeoutThreshold: 5001\nwindowInSeconds: 30\nopenTimeoutSeconds: 15", "timeoutThreshold"),
            ("timeoutThreshold: -1\nwindowInSeconds: 30\nopenTimeoutSeconds: 15", "timeoutThreshold"),
            ("timeoutThreshold: 1.5\nwindowInSeconds: 30\nopenTimeoutSeconds: 15", "timeoutThreshold"),
            ("timeoutThreshold: x\nwindowInSeconds: 30\nopenTimeoutSeconds: 15", "timeoutThreshold"),
            ("timeoutThreshold: 1\nwindowInSeconds: 9\nopenTimeoutSeconds: 15", "windowInSeconds"),
            ("timeoutThreshold: 1\nwindowInSeconds: 91\nopenTimeoutSeconds: 15", "windowInSeconds"),
            ("timeoutThreshold: 1\nopenTimeoutSeconds: 15", "windowInSeconds"),
            ("timeoutThreshold: 1\nwindowInSeconds: 30\nopenTimeoutSeconds: 14", "openTimeoutSeconds"),
            ("timeoutThreshold: 1\nwindowInSeconds: 30\nopenTimeoutSeconds: 301", "openTimeoutSeconds"),
            ("timeoutThreshold: 1\nwindowInSeconds: 30", "openTimeoutSeconds"),
            ("errorThreshold: 0\nwindowInSeconds: 30\nopenTimeoutSeconds: 15\nerrorCondition: '$StatusCode = 1'", "errorThreshold"),
            ("errorThreshold: 5001\nwindowInSeconds: 30\nopenTimeoutSeconds: 15\nerrorCondition: '$StatusCode = 1'", "errorThreshold"),
            ("errorThreshold: 1\nwindowInSeconds: 30\nopenTimeoutSeconds: 15", "errorCondition"),
            ("errorThreshold: 1\nwindowInSeconds: 30\nopenTimeoutSeconds: 15\nerrorCondition: 5", "errorCondition"),
        ];
        for (doc, member) in cases {
            let e = err(doc);
            assert!(e.contains(member), "{doc:?} gave {e:?}");
        }
    }

    #[test]
    fn rejects_bad_conditions() {
        let base =
            "errorThreshold: 1\nwindowInSeconds: 30\nopenTimeoutSeconds: 15\nerrorCondition: ";
        for expr in [
            "''",
            "'$Foo > 1'",
            "'$StatusCode >> 1'",
            "'$StatusCode > '",
            "'$StatusCode 500'",
            "'500 > $StatusCode'",
            "'$StatusCode > 500 and'",
            "'$StatusCode > 500 $LatencySeconds > 1'",
            "'$StatusCode > 500 xor $LatencySeconds > 1'",
            "'$StatusCode > 500 & $LatencySeconds > 1'",
            "'($StatusCode > 500)'",
            "'$StatusCode > 1.2.3'",
        ] {
            let e = err(&format!("{base}{expr}"));
            assert!(e.contains("errorCondition"), "{expr} gave {e:?}");
        }
    }

    #[test]
    fn rejects_bad_downgrades() {
        let base = "timeoutThreshold: 1\nwindowInSeconds: 30\nopenTimeoutSeconds: 15\n";
        let cases = [
            ("downgradeBackend: 5", "downgradeBackend"),
            (
                "downgradeBackend: {statusCode: 200}",
                "downgradeBackend.type",
            ),
            ("downgradeBackend: {type: grpc}", "`grpc`"),
            ("downgradeBackend: {type: http}", "downgradeBackend.address"),
            (
                "downgradeBackend: {type: http, address: 'ftp://x'}",
                "downgradeBackend.address",
            ),
            (
                "downgradeBackend: {type: http, address: 'http://x:1', timeout: 0}",
                "downgradeBackend.timeout",
            ),
            ("downgradeBackend: {type: 1}", "downgradeBackend.type"),
            (
                "downgradeBackend: {type: mock, statusCode: 99}",
                "downgradeBackend.statusCode",
            ),
            (
                "downgradeBackend: {type: mock, statusCode: 600}",
                "downgradeBackend.statusCode",
            ),
            (
                "downgradeBackend: {type: mock, body: [1]}",
                "downgradeBackend.body",
            ),
            (
                "downgradeBackend: {type: mock, headers: [1]}",
                "downgradeBackend.headers",
            ),
            (
                "downgradeBackend: {type: mock, headers: {'a b': x}}",
                "downgradeBackend.headers",
            ),
            (
                "downgradeBackend: {type: mock, headers: {X-A: [1]}}",
                "downgradeBackend.headers",
            ),
            (
                "downgradeBackend: {type: mock, headers: {X-A: \"a\\nb\"}}",
                "downgradeBackend.headers",
            ),
        ];
        for (doc, needle) in cases {
            let e = err(&format!("{base}{doc}"));
            assert!(e.contains(needle), "{doc:?} gave {e:?}");
        }
    }

    #[test]
    fn downgrade_defaults() {
        let c = BreakerConfig::parse(
            r#"{"timeoutThreshold": 1, "windowInSeconds": 30, "openTimeoutSeconds": 15,
                "downgradeBackend": {"type": "mock", "headers": {"X-N": 5}}}"#,
        )
        .unwrap();
        let d = c.downgrade().unwrap();
        assert_eq!(d.status, StatusCode::OK);
        assert!(d.body.is_empty());
        assert_eq!(d.headers["x-n"], "5");
    }

    #[test]
    fn every_operator() {
        let o = outcome(500, 0);
        for (expr, want) in [
            ("$StatusCode = 500", true),
            ("$StatusCode == 500", true),
            ("$StatusCode = 501", false),
            ("$StatusCode <> 500", false),
            ("$StatusCode != 501", true),
            ("$StatusCode < 500", false),
            ("$StatusCode < 501", true),
            ("$StatusCode <= 500", true),
            ("$StatusCode <= 499", false),
            ("$StatusCode > 499", true),
            ("$StatusCode > 500", false),
            ("$StatusCode >= 500", true),
            ("$StatusCode >= 501", false),
            ("$StatusCode>=500", true),
        ] {
            assert_eq!(cond(expr).eval(&o), want, "{expr}");
        }
    }

    #[test]
    fn latency_variables() {
        let o = outcome(200, 1500);
        assert!(cond("$LatencyMilliSeconds > 1499").eval(&o));
        assert!(!cond("$LatencyMilliSeconds > 1500").eval(&o));
        assert!(cond("$LatencySeconds > 1").eval(&o));
        assert!(cond("$LatencySeconds >= 1.5").eval(&o));
        assert!(!cond("$LatencySeconds > 2").eval(&o));
    }

    #[test]
    fn status_code_without_response_is_false() {
        let o = Outcome {
            timed_out: false,
            status: None,
            latency: Duration::ZERO,
        };
        assert!(!cond("$StatusCode != 200").eval(&o));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // a or b and c  ==  a or (b and c)
        let c = cond("$StatusCode = 500 or $StatusCode = 404 and $LatencySeconds > 1");
        assert!(c.eval(&outcome(500, 0)));
        assert!(!c.eval(&outcome(404, 0)));
        assert!(c.eval(&outcome(404, 2000)));
        // a and b or c  ==  (a and b) or c
        let c = cond("$StatusCode = 500 && $LatencySeconds > 1 || $StatusCode = 404");
        assert!(!c.eval(&outcome(500, 0)));
        assert!(c.eval(&outcome(500, 2000)));
        assert!(c.eval(&outcome(404, 0)));
        let c = cond("$StatusCode >= 500 AND $StatusCode < 600 OR $LatencyMilliSeconds > 100");
        assert!(c.eval(&outcome(502, 0)));
        assert!(!c.eval(&outcome(200, 0)));
        assert!(c.eval(&outcome(200, 101)));
    }
}
