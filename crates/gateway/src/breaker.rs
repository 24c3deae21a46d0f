//! The `circuitBreaker` plugin: a per-API, per-stage circuit breaker.
//!
//! The breaker counts failures (backend timeouts, or outcomes for which the configured
//! `errorCondition` holds) in a sliding window of `windowInSeconds`. When the count reaches
//! the threshold it opens for `openTimeoutSeconds`: every call is refused (or served by the
//! downgrade backend, which the caller handles). After that it is half-open: exactly one
//! probe call at a time is admitted; a probe that succeeds closes the breaker, a probe that
//! fails opens it again.
//!
//! Time is always passed in explicitly (`now`), so the state machine is deterministic.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

/// What the breaker says about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Closed: the call goes through.
    Pass,
    /// Half-open: this call is the single probe.
    Probe,
    /// Open: the call is refused.
    Open,
    /// Half-open with a probe already in flight: the call is refused.
    Busy,
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

// ---------------------------------------------------------------------------------------
// The breaker
// ---------------------------------------------------------------------------------------

/// One API's breaker on one stage.
#[derive(Debug)]
pub struct Breaker {
    config: Arc<BreakerConfig>,
    state: Mutex<State>,
    /// Mirrors `state` being `Closed`, so that the common case (closed, call succeeded) takes
    /// no lock. Written only under the lock.
    closed: AtomicBool,
}

#[derive(Debug)]
enum State {
    /// Failure times within the window, oldest first, at most `threshold` of them.
    Closed(VecDeque<Instant>),
    /// Refusing every call until the instant.
    Open(Instant),
    /// Admitting one probe; holds the start of the probe in flight, if any.
    HalfOpen(Option<Instant>),
}

impl Breaker {
    pub fn new(config: Arc<BreakerConfig>) -> Breaker {
        Breaker {
            config,
            state: Mutex::new(State::Closed(VecDeque::new())),
            closed: AtomicBool::new(true),
        }
    }

    fn set(&self, state: &mut State, new: State) {
        self.closed
            .store(matches!(new, State::Closed(_)), Ordering::Release);
        *state = new;
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decide for a call starting at `now`.
    pub fn admit(&self, now: Instant) -> Admit {
        if self.closed.load(Ordering::Acquire) {
            return Admit::Pass;
        }
        let open_timeout = self.config.open_timeout;
        let mut state = self.lock();
        match &*state {
            State::Closed(_) => Admit::Pass,
            State::Open(until) if now < *until => Admit::Open,
            // A probe whose end was never recorded does not block probing forever.
            State::HalfOpen(Some(started))
                if now.saturating_duration_since(*started) < open_timeout =>
            {
                Admit::Busy
            }
            State::Open(_) | State::HalfOpen(_) => {
                self.set(&mut state, State::HalfOpen(Some(now)));
                Admit::Probe
            }
        }
    }

    /// Record the end of a call that was admitted as Pass or Probe.
    pub fn record(&self, admitted: Admit, outcome: &Outcome, now: Instant) {
        let failed = self.config.is_failure(outcome);
        if admitted == Admit::Pass && !failed {
            return;
        }
        let mut state = self.lock();
        match (admitted, &mut *state) {
            (Admit::Probe, State::HalfOpen(_)) => {
                let new = if failed {
                    State::Open(now + self.config.open_timeout)
                } else {
                    State::Closed(VecDeque::new())
                };
                self.set(&mut state, new);
            }
            (Admit::Pass, State::Closed(failures)) if failed => {
                let reached = self.count_failure(failures, now);
                if reached {
                    self.set(&mut state, State::Open(now + self.config.open_timeout));
                }
            }
            // Successes while closed, and late ends of calls admitted under another state.
            _ => {}
        }
    }

    /// Adds a failure at `now`; says whether the threshold is reached.
    fn count_failure(&self, failures: &mut VecDeque<Instant>, now: Instant) -> bool {
        let window = self.config.window;
        while failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            failures.pop_front();
        }
        failures.push_back(now);
        while failures.len() > self.config.threshold {
            failures.pop_front();
        }
        failures.len() >= self.config.threshold
    }

    /// Seconds until a half-open probe is allowed (for the D503CB message), 0 when not open.
    pub fn open_for(&self, now: Instant) -> u64 {
        let until = match &*self.lock() {
            State::Open(until) => *until,
            _ => return 0,
        };
        let left = until.saturating_duration_since(now);
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
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

    fn ok() -> Outcome {
        Outcome {
            timed_out: false,
            status: Some(200),
            latency: Duration::from_millis(10),
        }
    }

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

    fn breaker(doc: &str) -> Breaker {
        Breaker::new(Arc::new(BreakerConfig::parse(doc).unwrap()))
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn err(doc: &str) -> String {
        BreakerConfig::parse(doc).unwrap_err()
    }

    /// Fails `n` Pass calls at `at`.
    fn fail(b: &Breaker, n: usize, at: Instant) {
        for _ in 0..n {
            assert_eq!(b.admit(at), Admit::Pass);
            b.record(Admit::Pass, &timeout(), at);
        }
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

    #[test]
    fn opens_at_threshold_not_before() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 2, t);
        assert_eq!(b.admit(t), Admit::Pass);
        assert_eq!(b.open_for(t), 0);
        b.record(Admit::Pass, &timeout(), t);
        assert_eq!(b.admit(t), Admit::Open);
        assert_eq!(b.open_for(t), 15);
        assert_eq!(b.open_for(t + Duration::from_millis(14_500)), 1);
    }

    #[test]
    fn successes_do_not_count() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        for _ in 0..10 {
            b.record(Admit::Pass, &ok(), t);
        }
        fail(&b, 2, t);
        assert_eq!(b.admit(t), Admit::Pass);
    }

    #[test]
    fn window_slides() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 2, t);
        // 30 s later the first two have expired.
        fail(&b, 1, t + secs(30));
        fail(&b, 1, t + secs(31));
        assert_eq!(b.admit(t + secs(31)), Admit::Pass);
        fail(&b, 1, t + secs(59));
        assert_eq!(b.admit(t + secs(59)), Admit::Open);
    }

    #[test]
    fn error_mode_counts_condition_and_timeouts() {
        let b = breaker(ERROR_YAML);
        let t = Instant::now();
        b.record(Admit::Pass, &outcome(200, 100), t);
        b.record(Admit::Pass, &outcome(200, 600), t);
        assert_eq!(b.admit(t), Admit::Pass);
        b.record(Admit::Pass, &timeout(), t);
        assert_eq!(b.admit(t), Admit::Open);
    }

    #[test]
    fn half_open_admits_one_probe() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 3, t);
        assert_eq!(b.admit(t + secs(14)), Admit::Open);
        let later = t + secs(15);
        assert_eq!(b.open_for(later), 0);
        assert_eq!(b.admit(later), Admit::Probe);
        assert_eq!(b.admit(later), Admit::Busy);
        assert_eq!(b.admit(later + secs(1)), Admit::Busy);
        assert_eq!(b.open_for(later), 0);
    }

    #[test]
    fn probe_success_closes() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 3, t);
        let later = t + secs(15);
        assert_eq!(b.admit(later), Admit::Probe);
        b.record(Admit::Probe, &ok(), later);
        assert_eq!(b.admit(later), Admit::Pass);
        // Failures were cleared: it takes the full threshold again.
        fail(&b, 2, later);
        assert_eq!(b.admit(later), Admit::Pass);
        fail(&b, 1, later);
        assert_eq!(b.admit(later), Admit::Open);
    }

    #[test]
    fn probe_failure_reopens() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 3, t);
        let later = t + secs(15);
        assert_eq!(b.admit(later), Admit::Probe);
        let end = later + secs(2);
        b.record(Admit::Probe, &timeout(), end);
        assert_eq!(b.admit(end), Admit::Open);
        assert_eq!(b.open_for(end), 15);
        assert_eq!(b.admit(end + secs(15)), Admit::Probe);
    }

    #[test]
    fn lost_probe_does_not_block_forever() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 3, t);
        assert_eq!(b.admit(t + secs(15)), Admit::Probe);
        assert_eq!(b.admit(t + secs(29)), Admit::Busy);
        assert_eq!(b.admit(t + secs(30)), Admit::Probe);
    }

    #[test]
    fn late_pass_results_are_ignored_while_open() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 3, t);
        b.record(Admit::Pass, &ok(), t);
        b.record(Admit::Pass, &timeout(), t);
        assert_eq!(b.open_for(t), 15);
        let later = t + secs(15);
        assert_eq!(b.admit(later), Admit::Probe);
        b.record(Admit::Pass, &ok(), later);
        assert_eq!(b.admit(later), Admit::Busy);
    }

    #[test]
    fn default_breaker_opens_after_1000_timeouts() {
        let b = Breaker::new(Arc::new(BreakerConfig::default_config()));
        let t = Instant::now();
        fail(&b, 999, t);
        assert_eq!(b.admit(t), Admit::Pass);
        fail(&b, 1, t);
        assert_eq!(b.admit(t), Admit::Open);
        assert_eq!(b.open_for(t), 90);
        assert!(b.config().downgrade().is_none());
    }

    #[test]
    fn poisoned_lock_is_recovered() {
        let b = Arc::new(breaker(TIMEOUT_YAML));
        let b2 = Arc::clone(&b);
        let _ = std::thread::spawn(move || {
            let _guard = b2.state.lock().unwrap();
            panic!("poison");
        })
        .join();
        assert_eq!(b.admit(Instant::now()), Admit::Pass);
    }
}

/// Breakers outlive snapshots: a recompiled configuration gets the same breaker (and state)
/// for an API and stage as long as its plugin document is unchanged.
#[derive(Default)]
pub struct BreakerRegistry {
    map: Mutex<std::collections::HashMap<BreakerKey, Arc<Breaker>>>,
}

/// API id, stage, and the plugin document (`None`: the default breaker).
pub type BreakerKey = (String, apigw_model::Stage, Option<String>);

impl BreakerRegistry {
    /// Runs `f` with a lookup that reuses the breakers of the previous compile; the ones not
    /// asked for are dropped afterwards.
    pub fn renew<T>(
        &self,
        f: impl FnOnce(&mut dyn FnMut(BreakerKey, &Arc<BreakerConfig>) -> Arc<Breaker>) -> T,
    ) -> T {
        let mut old = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut new = std::collections::HashMap::new();
        let mut get = |key: BreakerKey, config: &Arc<BreakerConfig>| {
            let b = old
                .get(&key)
                .cloned()
                .unwrap_or_else(|| Arc::new(Breaker::new(config.clone())));
            new.insert(key, b.clone());
            b
        };
        let out = f(&mut get);
        *old = new;
        out
    }
}
