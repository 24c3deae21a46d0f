//! Parameters and conditional expressions (plugins.md §0.1), shared by `routing`,
//! `errorMapping`, `accessControl` and `transformer`.
//!
//! # Variables
//!
//! A document declares its variables in a `parameters:` mapping, name → `Location` or
//! `Location:Name` ([`Variable::parse`]):
//!
//! ```yaml
//! parameters:
//!   method: "Method"
//!   appId:  "System:CaAppId"
//!   action: "Query:action"
//!   userId: "Token:UserId"
//! ```
//!
//! Locations (case-insensitive): `Method`, `Path`, `StatusCode`, `ErrorCode`, `Header:{name}`,
//! `Query:{name}`, `Form:{name}`, `Host:{capture}`, `Parameter:{front-end name}`,
//! `BodyJsonField:{JSONPath}`, `System:{CaXxx}`, `Token:{claim}`, `XFF:{index}`. `Path:{name}`
//! (the spelling of one cloud example) means `Parameter:{name}`. A request-phase plugin may use
//! Method, Path, Header, Query, Form, Host, Parameter, System, Token and XFF; a response-phase
//! one StatusCode, ErrorCode, Header, BodyJsonField, System and Token ([`Variable::available_in`]).
//!
//! An expression may also name a variable that is not declared: `$CaAppId` is `System:CaAppId`
//! when the name is a system parameter, otherwise (request phase only) `$ClientVersion` is
//! `Parameter:ClientVersion` — how the cloud's routing examples are written.
//!
//! # Expressions ([`Condition::parse`])
//!
//! ```text
//! expr    := and (('or' | '||') and)*
//! and     := unary (('and' | '&&') unary)*
//! unary   := ('not' | '!') unary | '(' expr ')' | operand op operand
//! op      := '=' | '==' | '<>' | '!=' | '<' | '<=' | '>' | '>=' | 'like' | 'not like'
//! operand := $name | integer | decimal | 'single-quoted' | null | Random()
//! ```
//!
//! Keywords are case-insensitive. Strings are single-quoted; `\'` and `\\` escape. At most
//! [`MAX_EXPRESSION_CHARS`] characters and [`MAX_DEPTH`] nested parentheses / `not`s.
//!
//! Evaluation: a comparison is numeric when both sides read as decimal numbers, otherwise an
//! ordinal (byte-wise) string comparison. A variable without a value is null; any comparison
//! with null is false, except `= null` (true when null) and `<> null` (true when not).
//! `like` matches `%` as any run of characters, case-sensitively. `Random()` is uniform in
//! [0, 1), drawn through [`Vars::random`] at each evaluation.

use apigw_model::params::SystemParam;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// Longest expression, in characters.
pub const MAX_EXPRESSION_CHARS: usize = 512;
/// Deepest nesting of parentheses and `not`.
pub const MAX_DEPTH: usize = 32;

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Variable {
    /// The upper-case HTTP method.
    Method,
    /// The full request path.
    Path,
    /// The backend's HTTP status (response phase).
    StatusCode,
    /// The gateway error code, e.g. `D504TO` (response phase).
    ErrorCode,
    /// The first value of a header: the client's in the request phase, the backend's in the
    /// response phase.
    Header(String),
    Query(String),
    Form(String),
    /// A named capture of a wildcard-domain template.
    Host(String),
    /// An API-declared request parameter, by its front-end name.
    Parameter(String),
    /// A JSONPath into a JSON response body, e.g. `$.result_code` (see [`json_path`]).
    BodyJsonField(String),
    /// A system parameter (`CaAppId`, `CaStage` ...), by its canonical name.
    System(String),
    /// A claim of the JWT the jwtAuth plugin validated.
    Token(String),
    /// An `X-Forwarded-For` entry: 0 = first, -1 = last.
    Xff(i32),
}

/// When a plugin runs: before the backend call, or on its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Request,
    Response,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Request => "request",
            Phase::Response => "response",
        })
    }
}

impl Variable {
    /// Reads `Location` or `Location:Name`.
    pub fn parse(spec: &str) -> Result<Variable, String> {
        let spec = spec.trim();
        let (location, name) = match spec.split_once(':') {
            Some((l, n)) => (l.trim(), Some(n.trim())),
            None => (spec, None),
        };
        let named = |make: fn(String) -> Variable| match name {
            Some(n) if !n.is_empty() => Ok(make(n.to_string())),
            _ => Err(format!(
                "`{spec}`: `{location}` needs a name (`{location}:<name>`)"
            )),
        };
        let bare = |v: Variable| match name {
            None => Ok(v),
            Some(_) => Err(format!("`{spec}`: `{location}` takes no name")),
        };
        let v = match location.to_ascii_lowercase().as_str() {
            "method" => bare(Variable::Method)?,
            "path" if name.is_some() => named(Variable::Parameter)?,
            "path" => Variable::Path,
            "statuscode" => bare(Variable::StatusCode)?,
            "errorcode" => bare(Variable::ErrorCode)?,
            "header" => named(Variable::Header)?,
            "query" => named(Variable::Query)?,
            "form" => named(Variable::Form)?,
            "host" => named(Variable::Host)?,
            "parameter" => named(Variable::Parameter)?,
            "bodyjsonfield" => named(Variable::BodyJsonField)?,
            "system" => named(Variable::System)?,
            "token" => named(Variable::Token)?,
            "xff" => {
                let n = name.unwrap_or("");
                Variable::Xff(n.parse().map_err(|_| {
                    format!("`{spec}`: `XFF` needs an entry index (`XFF:0`, `XFF:-1`)")
                })?)
            }
            _ => {
                return Err(format!(
                    "`{spec}`: unknown location `{location}` (Method, Path, StatusCode, \
                     ErrorCode, Header, Query, Form, Host, Parameter, BodyJsonField, System, \
                     Token, XFF)"
                ))
            }
        };
        match &v {
            Variable::Header(h) if http::HeaderName::from_bytes(h.as_bytes()).is_err() => {
                return Err(format!("`{spec}`: `{h}` is not a header name"));
            }
            Variable::BodyJsonField(p) => {
                json_path_steps(p).map_err(|e| format!("`{spec}`: {e}"))?;
            }
            Variable::System(s) => {
                let Some(known) = SystemParam::parse(s) else {
                    return Err(format!("`{spec}`: `{s}` is not a system parameter"));
                };
                return Ok(Variable::System(known.name().to_string()));
            }
            _ => {}
        }
        Ok(v)
    }

    /// Whether a plugin running in `phase` can read this variable.
    pub fn available_in(&self, phase: Phase) -> bool {
        match self {
            Variable::Header(_) | Variable::System(_) | Variable::Token(_) => true,
            Variable::StatusCode | Variable::ErrorCode | Variable::BodyJsonField(_) => {
                phase == Phase::Response
            }
            Variable::Method
            | Variable::Path
            | Variable::Query(_)
            | Variable::Form(_)
            | Variable::Host(_)
            | Variable::Parameter(_)
            | Variable::Xff(_) => phase == Phase::Request,
        }
    }
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variable::Method => f.write_str("Method"),
            Variable::Path => f.write_str("Path"),
            Variable::StatusCode => f.write_str("StatusCode"),
            Variable::ErrorCode => f.write_str("ErrorCode"),
            Variable::Header(n) => write!(f, "Header:{n}"),
            Variable::Query(n) => write!(f, "Query:{n}"),
            Variable::Form(n) => write!(f, "Form:{n}"),
            Variable::Host(n) => write!(f, "Host:{n}"),
            Variable::Parameter(n) => write!(f, "Parameter:{n}"),
            Variable::BodyJsonField(n) => write!(f, "BodyJsonField:{n}"),
            Variable::System(n) => write!(f, "System:{n}"),
            Variable::Token(n) => write!(f, "Token:{n}"),
            Variable::Xff(i) => write!(f, "XFF:{i}"),
        }
    }
}

/// What the data plane supplies to evaluate conditions and fill templates: the value of a
/// variable for the request (or response) at hand, and random numbers.
pub trait Vars {
    /// The variable's value, `None` when it has none (null).
    fn value(&self, var: &Variable) -> Option<Cow<'_, str>>;
    /// A uniform random number in [0, 1) (`Random()`, weighted routes).
    fn random(&self) -> f64;
}

/// A document's `parameters:` block: variable name → where its value comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parameters {
    vars: Vec<(String, Variable)>,
}

impl Parameters {
    /// Reads the `parameters` member (absent or null: none).
    pub fn parse(v: Option<&Value>) -> Result<Parameters, String> {
        let map = match v {
            None | Some(Value::Null) => return Ok(Parameters::default()),
            Some(Value::Object(map)) => map,
            Some(_) => return Err("`parameters` must be a mapping of names to locations".into()),
        };
        let mut vars = Vec::with_capacity(map.len());
        for (name, spec) in map {
            if !valid_name(name) {
                return Err(format!(
                    "`parameters`: `{name}` is not a variable name (a letter or `_`, then \
                     letters, digits or `_`)"
                ));
            }
            let spec = spec
                .as_str()
                .ok_or_else(|| format!("`parameters.{name}` must be a string like `Query:id`"))?;
            let var = Variable::parse(spec).map_err(|e| format!("`parameters.{name}`: {e}"))?;
            vars.push((name.clone(), var));
        }
        Ok(Parameters { vars })
    }

    /// The declared variable of that name.
    pub fn get(&self, name: &str) -> Option<&Variable> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The declarations, in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Variable)> {
        self.vars.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// The variable `$name` (or `${name}`) stands for in a plugin running in `phase`: the
    /// declared one, else the system parameter of that name, else (request phase) the API
    /// parameter of that name. Refused when the phase cannot read it.
    pub fn resolve(&self, name: &str, phase: Phase) -> Result<Variable, String> {
        let var = match self.get(name) {
            Some(v) => v.clone(),
            None => match SystemParam::parse(name) {
                Some(p) => Variable::System(p.name().to_string()),
                None if phase == Phase::Request => Variable::Parameter(name.to_string()),
                None => {
                    return Err(format!(
                        "`{name}` is not declared in `parameters` (nor a system parameter)"
                    ))
                }
            },
        };
        if !var.available_in(phase) {
            return Err(format!(
                "`{name}` ({var}) cannot be read by a {phase}-phase plugin"
            ));
        }
        Ok(var)
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn valid_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

// ---------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------

/// A refused expression: what is wrong and where (1-based character position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub position: usize,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.position, self.message)
    }
}

impl std::error::Error for ExprError {}

/// A parsed conditional expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    text: String,
    expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, Op, Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Var(Variable),
    Str(String),
    /// The number and its text as written.
    Num(f64, String),
    Null,
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    NotLike,
}

impl Condition {
    /// Parses `text`; `$name`s are resolved through `params` for a plugin running in `phase`.
    pub fn parse(text: &str, params: &Parameters, phase: Phase) -> Result<Condition, ExprError> {
        let chars = text.chars().count();
        if chars > MAX_EXPRESSION_CHARS {
            return Err(ExprError {
                position: MAX_EXPRESSION_CHARS + 1,
                message: format!(
                    "the expression is longer than {MAX_EXPRESSION_CHARS} characters ({chars})"
                ),
            });
        }
        let tokens = tokenize(text)?;
        let mut p = Parser {
            tokens: &tokens,
            i: 0,
            end: chars + 1,
            params,
            phase,
        };
        if tokens.is_empty() {
            return Err(ExprError {
                position: 1,
                message: "empty expression".into(),
            });
        }
        let expr = p.or(0)?;
        if let Some(t) = p.peek() {
            return Err(p.error_at(t.pos, format!("unexpected {}", t.tok.describe())));
        }
        Ok(Condition {
            text: text.to_string(),
            expr,
        })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the condition holds for these values.
    pub fn eval(&self, vars: &dyn Vars) -> bool {
        self.expr.eval(vars)
    }

    /// The variables the expression reads.
    pub fn variables(&self) -> Vec<&Variable> {
        let mut out = Vec::new();
        self.expr.collect(&mut out);
        out
    }
}

impl Expr {
    fn eval(&self, vars: &dyn Vars) -> bool {
        match self {
            Expr::Or(items) => items.iter().any(|e| e.eval(vars)),
            Expr::And(items) => items.iter().all(|e| e.eval(vars)),
            Expr::Not(e) => !e.eval(vars),
            Expr::Cmp(a, op, b) => compare(a, *op, b, vars),
        }
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Variable>) {
        match self {
            Expr::Or(items) | Expr::And(items) => items.iter().for_each(|e| e.collect(out)),
            Expr::Not(e) => e.collect(out),
            Expr::Cmp(a, _, b) => {
                for o in [a, b] {
                    if let Operand::Var(v) = o {
                        if !out.contains(&v) {
                            out.push(v);
                        }
                    }
                }
            }
        }
    }
}

/// An operand's value at evaluation time.
enum Val<'a> {
    Null,
    Text(Cow<'a, str>),
    Num(f64),
}

fn value<'a>(o: &'a Operand, vars: &'a dyn Vars) -> Val<'a> {
    match o {
        Operand::Var(v) => vars.value(v).map_or(Val::Null, Val::Text),
        Operand::Str(s) => Val::Text(Cow::Borrowed(s)),
        Operand::Num(_, text) => Val::Text(Cow::Borrowed(text)),
        Operand::Null => Val::Null,
        Operand::Random => Val::Num(vars.random()),
    }
}

fn compare(a: &Operand, op: Op, b: &Operand, vars: &dyn Vars) -> bool {
    let (x, y) = (value(a, vars), value(b, vars));
    let null_literal = *a == Operand::Null || *b == Operand::Null;
    let (x_null, y_null) = (matches!(x, Val::Null), matches!(y, Val::Null));
    if null_literal {
        return match op {
            Op::Eq => x_null && y_null,
            Op::Ne => !(x_null && y_null),
            _ => false,
        };
    }
    if x_null || y_null {
        return false;
    }
    if let Op::Like | Op::NotLike = op {
        let matched = like(&text(&x), &text(&y));
        return matched == (op == Op::Like);
    }
    let ordering = match (number(&x), number(&y)) {
        (Some(m), Some(n)) => match m.partial_cmp(&n) {
            Some(o) => o,
            None => return false,
        },
        _ => text(&x).as_ref().cmp(text(&y).as_ref()),
    };
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => ordering == Equal,
        Op::Ne => ordering != Equal,
        Op::Lt => ordering == Less,
        Op::Le => ordering != Greater,
        Op::Gt => ordering == Greater,
        Op::Ge => ordering != Less,
        // Answered above.
        Op::Like | Op::NotLike => false,
    }
}

fn text<'a>(v: &'a Val<'a>) -> Cow<'a, str> {
    match v {
        Val::Null => Cow::Borrowed(""),
        Val::Text(t) => Cow::Borrowed(t.as_ref()),
        Val::Num(n) => Cow::Owned(n.to_string()),
    }
}

fn number(v: &Val) -> Option<f64> {
    match v {
        Val::Null => None,
        Val::Num(n) => Some(*n),
        Val::Text(t) => parse_decimal(t),
    }
}

/// A decimal number: optional sign, digits with an optional fraction (or `.5`); no exponent,
/// no `inf`/`NaN`. Surrounding spaces are ignored.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let s = s.trim();
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let ok = all_digits(int)
        && frac.is_none_or(|f| !f.is_empty() && all_digits(f))
        && (!int.is_empty() || frac.is_some());
    if !ok {
        return None;
    }
    s.parse().ok().filter(|n: &f64| n.is_finite())
}

/// `%` matches any run of characters (also none); everything else literally.
fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            ti += 1;
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

// ---------------------------------------------------------------------------------------
// Tokens and parser
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Var(String),
    Str(String),
    Num(f64, String),
    Op(Op),
    And,
    Or,
    Not,
    Null,
    Random,
    Open,
    Close,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Var(n) => format!("`${n}`"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Num(_, t) => format!("number `{t}`"),
            Tok::Op(_) => "an operator".into(),
            Tok::And => "`and`".into(),
            Tok::Or => "`or`".into(),
            Tok::Not => "`not`".into(),
            Tok::Null => "`null`".into(),
            Tok::Random => "`Random()`".into(),
            Tok::Open => "`(`".into(),
            Tok::Close => "`)`".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 1-based character position.
    pos: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let err = |pos: usize, message: String| ExprError {
        position: pos + 1,
        message,
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let next = chars.get(i + 1).copied();
        let tok = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c == '$' {
            i += 1;
            if !chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_')
            {
                return Err(err(start, "`$` must be followed by a variable name".into()));
            }
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            Tok::Var(chars[start + 1..i].iter().collect())
        } else if c.is_ascii_digit()
            || (c == '.' && next.is_some_and(|n| n.is_ascii_digit()))
            || (c == '-' && next.is_some_and(|n| n.is_ascii_digit() || n == '.'))
        {
            i += 1;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_digit() || *c == '.')
            {
                i += 1;
            }
            let t: String = chars[start..i].iter().collect();
            let n =
                parse_decimal(&t).ok_or_else(|| err(start, format!("`{t}` is not a number")))?;
            Tok::Num(n, t)
        } else if c == '\'' {
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(err(start, "unterminated string (missing `'`)".into())),
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some('\\') if matches!(chars.get(i + 1), Some('\'' | '\\')) => {
                        s.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(c) => {
                        s.push(*c);
                        i += 1;
                    }
                }
            }
            Tok::Str(s)
        } else if c == '(' {
            i += 1;
            Tok::Open
        } else if c == ')' {
            i += 1;
            Tok::Close
        } else if "=<>!".contains(c) {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let (op, len) = match two.as_str() {
                "==" => (Tok::Op(Op::Eq), 2),
                "<>" => (Tok::Op(Op::Ne), 2),
                "!=" => (Tok::Op(Op::Ne), 2),
                "<=" => (Tok::Op(Op::Le), 2),
                ">=" => (Tok::Op(Op::Ge), 2),
                _ => match c {
                    '=' => (Tok::Op(Op::Eq), 1),
                    '<' => (Tok::Op(Op::Lt), 1),
                    '>' => (Tok::Op(Op::Gt), 1),
                    _ => (Tok::Not, 1),
                },
            };
            i += len;
            op
        } else if c == '&' || c == '|' {
            if next != Some(c) {
                return Err(err(start, format!("unknown operator `{c}` (use `{c}{c}`)")));
            }
            i += 2;
            if c == '&' {
                Tok::And
            } else {
                Tok::Or
            }
        } else if c.is_ascii_alphabetic() {
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            match word.to_ascii_lowercase().as_str() {
                "and" => Tok::And,
                "or" => Tok::Or,
                "not" => Tok::Not,
                "like" => Tok::Op(Op::Like),
                "null" => Tok::Null,
                "random" => {
                    let mut j = i;
                    while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                        j += 1;
                    }
                    if chars.get(j) != Some(&'(') {
                        return Err(err(start, "`Random` must be called: `Random()`".into()));
                    }
                    j += 1;
                    while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                        j += 1;
                    }
                    if chars.get(j) != Some(&')') {
                        return Err(err(j, "`Random()` takes no arguments".into()));
                    }
                    i = j + 1;
                    Tok::Random
                }
                _ => {
                    return Err(err(
                        start,
                        format!(
                            "unexpected word `{word}` (variables start with `$`, strings are \
                             single-quoted)"
                        ),
                    ))
                }
            }
        } else {
            return Err(err(start, format!("unexpected character `{c}`")));
        };
        out.push(Token {
            tok,
            pos: start + 1,
        });
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: &'a [Token],
    i: usize,
    /// The position just past the text (for "expected ... at the end").
    end: usize,
    params: &'a Parameters,
    phase: Phase,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.i)
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.end, |t| t.pos)
    }

    fn error_at(&self, position: usize, message: String) -> ExprError {
        ExprError { position, message }
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek().is_some_and(|t| t.tok == *tok) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut items = vec![self.and(depth)?];
        while self.eat(&Tok::Or) {
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::Or(Vec::new()))
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut items = vec![self.unary(depth)?];
        while self.eat(&Tok::And) {
            items.push(self.unary(depth)?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::And(Vec::new()))
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ExprError> {
        if depth >= MAX_DEPTH {
            return Err(self.error_at(
                self.here(),
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        let open_at = self.here();
        if self.eat(&Tok::Not) {
            return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.eat(&Tok::Open) {
            let inner = self.or(depth + 1)?;
            if !self.eat(&Tok::Close) {
                return Err(self.error_at(
                    self.here(),
                    format!("expected `)` to close the `(` at character {open_at}"),
                ));
            }
            return Ok(inner);
        }
        let left = self.operand("a comparison")?;
        let op = match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Op(op)) => {
                self.i += 1;
                op
            }
            Some(Tok::Not)
                if self
                    .tokens
                    .get(self.i + 1)
                    .is_some_and(|t| t.tok == Tok::Op(Op::Like)) =>
            {
                self.i += 2;
                Op::NotLike
            }
            Some(t) => {
                let t = t.describe();
                return Err(self.error_at(
                    self.here(),
                    format!(
                        "expected a comparison operator (=, <>, <, <=, >, >=, like), found {t}"
                    ),
                ));
            }
            None => {
                return Err(self.error_at(
                    self.end,
                    "expected a comparison operator at the end of the expression".into(),
                ))
            }
        };
        let right = self.operand("a value after the operator")?;
        Ok(Expr::Cmp(left, op, right))
    }

    fn operand(&mut self, what: &str) -> Result<Operand, ExprError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.error_at(self.end, format!("expected {what}, found the end")));
        };
        let o = match t.tok {
            Tok::Var(name) => Operand::Var(
                self.params
                    .resolve(&name, self.phase)
                    .map_err(|e| self.error_at(t.pos, e))?,
            ),
            Tok::Str(s) => Operand::Str(s),
            Tok::Num(n, text) => Operand::Num(n, text),
            Tok::Null => Operand::Null,
            Tok::Random => Operand::Random,
            other => {
                return Err(self.error_at(
                    t.pos,
                    format!("expected {what}, found {}", other.describe()),
                ))
            }
        };
        self.i += 1;
        Ok(o)
    }
}

// ---------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------

/// A text with `${name}` placeholders (error messages, transformer values). `$` not followed
/// by `{` is literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Variable),
}

impl Template {
    /// Parses `text`; the names are resolved like an expression's `$name`.
    pub fn parse(text: &str, params: &Parameters, phase: Phase) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            if i > 0 {
                parts.push(Part::Text(rest[..i].to_string()));
            }
            let after = &rest[i + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("`{text}`: `${{` without a closing `}}`"))?;
            let name = after[..end].trim();
            if !valid_name(name) {
                return Err(format!("`{text}`: `${{{name}}}` is not a variable name"));
            }
            parts.push(Part::Var(
                params
                    .resolve(name, phase)
                    .map_err(|e| format!("`{text}`: {e}"))?,
            ));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The text, when it has no placeholder.
    pub fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// The text with each placeholder replaced by its variable's value (empty when null).
    pub fn render(&self, vars: &dyn Vars) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => {
                    if let Some(value) = vars.value(v) {
                        out.push_str(&value);
                    }
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// JSONPath (BodyJsonField)
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The supported JSONPath subset: `$`, then `.name`, `['name']` or `[index]` steps.
fn json_path_steps(path: &str) -> Result<Vec<Step>, String> {
    let bad = |why: &str| format!("JSONPath `{path}`: {why}");
    let mut rest = path
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| bad("must start with `$`"))?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err(bad("empty name after `.`"));
            }
            steps.push(Step::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("['") {
            let end = r.find("']").ok_or_else(|| bad("unclosed `['`"))?;
            steps.push(Step::Key(r[..end].to_string()));
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| bad("unclosed `[`"))?;
            let i = r[..end]
                .trim()
                .parse()
                .map_err(|_| bad("an index must be a whole number"))?;
            steps.push(Step::Index(i));
            rest = &r[end + 1..];
        } else {
            return Err(bad("expected `.name`, `['name']` or `[index]`"));
        }
    }
    Ok(steps)
}

/// The value at a `BodyJsonField` path in a JSON body, as text: strings as they are, numbers
/// and booleans as written, objects and arrays as JSON; `None` when absent, null or when the
/// path is not one [`Variable::parse`] accepts.
pub fn json_path(body: &Value, path: &str) -> Option<String> {
    let mut v = body;
    for step in json_path_steps(path).ok()? {
        v = match step {
            Step::Key(k) => v.get(k.as_str())?,
            Step::Index(i) => v.get(i)?,
        };
    }
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::Cell;
    use std::collections::HashMap;

    /// Values for tests: variables by their display form (`Query:a`), a fixed random number.
    #[derive(Default)]
    pub(crate) struct Map {
        pub values: HashMap<String, String>,
        pub random: Cell<f64>,
    }

    impl Map {
        pub(crate) fn of(pairs: &[(&str, &str)]) -> Map {
            Map {
                values: pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                random: Cell::new(0.5),
            }
        }
    }

    impl Vars for Map {
        fn value(&self, var: &Variable) -> Option<Cow<'_, str>> {
            self.values
                .get(&var.to_string())
                .map(|s| Cow::Borrowed(s.as_str()))
        }
        fn random(&self) -> f64 {
            self.random.get()
        }
    }

    fn params(yaml: &str) -> Parameters {
        let v: Value = serde_norway::from_str(yaml).unwrap();
        Parameters::parse(Some(&v)).unwrap()
    }

    fn cond(text: &str) -> Condition {
        Condition::parse(text, &Parameters::default(), Phase::Request)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn eval(text: &str, vars: &[(&str, &str)]) -> bool {
        cond(text).eval(&Map::of(vars))
    }

    fn err(text: &str) -> ExprError {
        Condition::parse(text, &Parameters::default(), Phase::Request).unwrap_err()
    }

    #[test]
    fn variables_parse() {
        let cases = [
            ("Method", Variable::Method),
            ("path", Variable::Path),
            ("StatusCode", Variable::StatusCode),
            ("ErrorCode", Variable::ErrorCode),
            ("Header:X-Token", Variable::Header("X-Token".into())),
            ("Query:action", Variable::Query("action".into())),
            ("Form:f", Variable::Form("f".into())),
            ("Host:user", Variable::Host("user".into())),
            ("Parameter:userId", Variable::Parameter("userId".into())),
            ("path:userId", Variable::Parameter("userId".into())),
            (
                "BodyJsonField:$.result_code",
                Variable::BodyJsonField("$.result_code".into()),
            ),
            ("System:CaAppId", Variable::System("CaAppId".into())),
            ("Token:UserId", Variable::Token("UserId".into())),
            ("XFF:-1", Variable::Xff(-1)),
            ("XFF:0", Variable::Xff(0)),
        ];
        for (spec, want) in cases {
            assert_eq!(Variable::parse(spec).unwrap(), want, "{spec}");
        }
        for (spec, needle) in [
            ("Method:x", "takes no name"),
            ("Query", "needs a name"),
            ("Query:", "needs a name"),
            ("Cookie:a", "unknown location"),
            ("XFF:first", "entry index"),
            ("System:Nope", "not a system parameter"),
            ("Header:a b", "not a header name"),
            ("BodyJsonField:result", "must start with `$`"),
        ] {
            let e = Variable::parse(spec).unwrap_err();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }

    #[test]
    fn parameters_block() {
        let p = params(
            "method: Method\nappId: 'System:CaAppId'\naction: 'Query:action'\nuserId: 'Token:UserId'",
        );
        assert_eq!(p.get("action"), Some(&Variable::Query("action".into())));
        assert_eq!(p.iter().count(), 4);
        for bad in ["[1]", "{'1a': Method}", "{a: 5}", "{a: 'Nowhere'}"] {
            let v: Value = serde_norway::from_str(bad).unwrap();
            assert!(Parameters::parse(Some(&v)).is_err(), "{bad}");
        }
        assert_eq!(Parameters::parse(None).unwrap(), Parameters::default());
    }

    #[test]
    fn undeclared_names_are_system_then_api_parameters() {
        let p = Parameters::default();
        assert_eq!(
            p.resolve("CaAppId", Phase::Request).unwrap(),
            Variable::System("CaAppId".into())
        );
        assert_eq!(
            p.resolve("ClientVersion", Phase::Request).unwrap(),
            Variable::Parameter("ClientVersion".into())
        );
        assert_eq!(
            p.resolve("CaStage", Phase::Response).unwrap(),
            Variable::System("CaStage".into())
        );
        assert!(p.resolve("resultCode", Phase::Response).is_err());
        let p = params("code: StatusCode\nq: 'Query:q'");
        assert!(p
            .resolve("code", Phase::Request)
            .unwrap_err()
            .contains("request-phase"));
        assert!(p
            .resolve("q", Phase::Response)
            .unwrap_err()
            .contains("response-phase"));
        assert_eq!(
            p.resolve("code", Phase::Response).unwrap(),
            Variable::StatusCode
        );
    }

    #[test]
    fn the_spec_examples() {
        assert!(eval("$CaAppId = 123456", &[("System:CaAppId", "123456")]));
        assert!(!eval("$CaAppId = 123456", &[("System:CaAppId", "1234567")]));
        assert!(!eval("$CaAppId = 123456", &[]));
        assert!(eval(
            "$ClientVersion < '2.0.5'",
            &[("Parameter:ClientVersion", "1.9.9")]
        ));
        assert!(!eval(
            "$ClientVersion < '2.0.5'",
            &[("Parameter:ClientVersion", "2.1.0")]
        ));
        assert!(eval("1 = 1", &[]));
        let m = Map::of(&[]);
        m.random.set(0.01);
        assert!(cond("Random() < 0.05").eval(&m));
        m.random.set(0.5);
        assert!(!cond("Random() < 0.05").eval(&m));
        let p = params("statusCode: StatusCode\nresultCode: 'BodyJsonField:$.result_code'");
        let c = Condition::parse(
            "$statusCode = 200 and $resultCode <> 'OK'",
            &p,
            Phase::Response,
        )
        .unwrap();
        let vars = |status: &str, code: &str| {
            Map::of(&[
                ("StatusCode", status),
                ("BodyJsonField:$.result_code", code),
            ])
        };
        assert!(c.eval(&vars("200", "ROLE_NOT_EXISTS")));
        assert!(!c.eval(&vars("200", "OK")));
        assert!(!c.eval(&vars("500", "ROLE_NOT_EXISTS")));
    }

    #[test]
    fn numeric_when_both_sides_are_numbers() {
        assert!(eval("$a < 10", &[("Parameter:a", "9")]));
        assert!(!eval("$a < 10", &[("Parameter:a", "10")]));
        assert!(eval("$a = 10", &[("Parameter:a", "10.0")]));
        assert!(eval("$a = '10'", &[("Parameter:a", "10.00")]));
        assert!(eval("$a > -1.5", &[("Parameter:a", "-1")]));
        assert!(eval("$a < .5", &[("Parameter:a", "0.25")]));
        // Otherwise string order: "9" > "10" as text.
        assert!(eval("$a > '10x'", &[("Parameter:a", "9")]));
        assert!(eval("$a <> 'b'", &[("Parameter:a", "a")]));
        assert!(eval("$a >= 'a'", &[("Parameter:a", "a")]));
        assert!(eval(
            "$a <= $b",
            &[("Parameter:a", "a"), ("Parameter:b", "b")]
        ));
        assert_eq!(err("$a = 1e3").position, 7, "no exponents");
    }

    #[test]
    fn null_semantics() {
        assert!(eval("$a = null", &[]));
        assert!(!eval("$a = null", &[("Parameter:a", "")]));
        assert!(eval("$a <> null", &[("Parameter:a", "x")]));
        assert!(!eval("$a <> null", &[]));
        assert!(eval("null = $a", &[]));
        assert!(!eval("$a = 'x'", &[]));
        assert!(!eval("$a <> 'x'", &[]), "a null compares false");
        assert!(!eval("$a < 1", &[]));
        assert!(!eval("$a = $b", &[]));
        assert!(!eval("$a like '%'", &[]));
        assert!(!eval("$a > null", &[("Parameter:a", "1")]));
        assert!(eval("not $a = 'x'", &[]));
    }

    #[test]
    fn boolean_operators_and_precedence() {
        let v = [("Parameter:a", "1"), ("Parameter:b", "2")];
        assert!(eval("$a = 1 and $b = 2", &v));
        assert!(eval("$a = 1 && $b = 2", &v));
        assert!(!eval("$a = 1 AND $b = 3", &v));
        assert!(eval("$a = 9 or $b = 2", &v));
        assert!(eval("$a = 9 || $b = 2", &v));
        // and binds tighter than or.
        assert!(eval("$a = 1 or $b = 9 and $b = 8", &v));
        assert!(!eval("($a = 1 or $b = 9) and $b = 8", &v));
        assert!(eval("not ($a = 9)", &v));
        assert!(eval("!($a = 9)", &v));
        assert!(eval("not not $a = 1", &v));
        assert!(eval("$a == 1 and $b != 1", &v));
        assert!(eval("((($a = 1)))", &v));
    }

    #[test]
    fn like_patterns() {
        let v = [("Header:User-Agent", "Mozilla/5.0 (Mobile)")];
        let p = params("ua: 'Header:User-Agent'");
        let c = |t: &str| Condition::parse(t, &p, Phase::Request).unwrap();
        assert!(c("$ua like 'Mozilla%'").eval(&Map::of(&v)));
        assert!(c("$ua like '%Mobile%'").eval(&Map::of(&v)));
        assert!(!c("$ua like '%Desktop%'").eval(&Map::of(&v)));
        assert!(c("$ua not like '%Desktop%'").eval(&Map::of(&v)));
        assert!(
            !c("$ua like 'mozilla%'").eval(&Map::of(&v)),
            "case-sensitive"
        );
        assert!(like("", "%"));
        assert!(like("abc", "abc"));
        assert!(!like("abc", "ab"));
        assert!(like("abcbc", "a%bc"));
        assert!(like("a%b", "a%b"));
        assert!(!like("ab", "a%c%"));
    }

    #[test]
    fn strings_and_escapes() {
        assert!(eval(r"$a = 'it\'s'", &[("Parameter:a", "it's")]));
        assert!(eval(
            r"$a = 'back\\slash'",
            &[("Parameter:a", r"back\slash")]
        ));
        assert!(eval("$a = 'two words'", &[("Parameter:a", "two words")]));
        assert!(eval("$a = ''", &[("Parameter:a", "")]));
    }

    #[test]
    fn errors_name_the_position() {
        let cases = [
            ("", 1, "empty expression"),
            ("$a = ", 6, "expected a value"),
            ("$a 1", 4, "comparison operator"),
            ("$a = 1 and", 11, "expected a comparison"),
            ("($a = 1", 8, "expected `)`"),
            ("$a = 1)", 7, "unexpected `)`"),
            ("$a = 'x", 6, "unterminated string"),
            ("$a = x", 6, "unexpected word `x`"),
            ("$a & 1", 4, "`&&`"),
            ("$ = 1", 1, "variable name"),
            ("$a = 1.2.3", 6, "not a number"),
            ("$a = Random", 6, "Random()"),
            ("$a = Random(1)", 13, "no arguments"),
            ("$a # 1", 4, "unexpected character"),
            ("$a = 1 $b = 2", 8, "unexpected `$b`"),
            ("= 1", 1, "expected a comparison"),
        ];
        for (text, pos, needle) in cases {
            let e = err(text);
            assert_eq!(e.position, pos, "{text}: {e}");
            assert!(e.message.contains(needle), "{text}: {e}");
            assert!(e.to_string().starts_with(&format!("at character {pos}:")));
        }
        let e =
            Condition::parse("$code = 1", &params("code: StatusCode"), Phase::Request).unwrap_err();
        assert_eq!(e.position, 1);
        assert!(e.message.contains("request-phase"), "{e}");
    }

    #[test]
    fn limits_are_bounded() {
        let long = format!("$a = '{}'", "x".repeat(MAX_EXPRESSION_CHARS));
        assert!(err(&long).message.contains("longer than 512"));
        let deep = format!("{}$a = 1{}", "(".repeat(200), ")".repeat(200));
        assert!(deep.chars().count() <= MAX_EXPRESSION_CHARS);
        assert!(err(&deep).message.contains("nested deeper"));
        let nots = format!("{}$a = 1", "not ".repeat(100));
        assert!(err(&nots).message.contains("nested deeper"));
        let ok = format!(
            "{}$a = 1{}",
            "(".repeat(MAX_DEPTH - 1),
            ")".repeat(MAX_DEPTH - 1)
        );
        assert!(Condition::parse(&ok, &Parameters::default(), Phase::Request).is_ok());
        // A long flat chain is fine (no recursion per term).
        let chain = vec!["$a = 1"; 50].join(" or ");
        assert!(eval(&chain, &[("Parameter:a", "1")]));
    }

    #[test]
    fn variables_listed() {
        let c = cond("$a = 1 and ($CaAppId = 2 or $a = 3)");
        assert_eq!(
            c.variables(),
            vec![
                &Variable::Parameter("a".into()),
                &Variable::System("CaAppId".into())
            ]
        );
        assert_eq!(c.text(), "$a = 1 and ($CaAppId = 2 or $a = 3)");
    }

    #[test]
    fn templates() {
        let p = params("userId: 'Token:userId'\npathUserId: 'Parameter:userId'");
        let t = Template::parse(
            "Path not match ${userId} vs /${pathUserId}",
            &p,
            Phase::Request,
        )
        .unwrap();
        let v = Map::of(&[("Token:userId", "u1"), ("Parameter:userId", "u2")]);
        assert_eq!(t.render(&v), "Path not match u1 vs /u2");
        assert_eq!(t.render(&Map::of(&[])), "Path not match  vs /");
        assert_eq!(t.literal(), None);
        let lit = Template::parse("cost $5", &p, Phase::Request).unwrap();
        assert_eq!(lit.literal(), Some("cost $5"));
        assert!(Template::parse("${userId", &p, Phase::Request).is_err());
        assert!(Template::parse("${1x}", &p, Phase::Request).is_err());
        assert!(Template::parse("${nope}", &p, Phase::Response).is_err());
        let sys = Template::parse("${CaStage}", &p, Phase::Response).unwrap();
        assert_eq!(sys.render(&Map::of(&[("System:CaStage", "TEST")])), "TEST");
    }

    #[test]
    fn json_paths() {
        let body: Value =
            serde_json::json!({"result_code": "OK", "n": 5, "list": [{"a": true}], "x.y": 1});
        assert_eq!(json_path(&body, "$.result_code").as_deref(), Some("OK"));
        assert_eq!(json_path(&body, "$.n").as_deref(), Some("5"));
        assert_eq!(json_path(&body, "$.list[0].a").as_deref(), Some("true"));
        assert_eq!(json_path(&body, "$['x.y']").as_deref(), Some("1"));
        assert_eq!(json_path(&body, "$.missing"), None);
        assert_eq!(json_path(&body, "$.list[3]"), None);
        assert!(json_path(&body, "$").is_some());
        assert_eq!(json_path(&body, "result_code"), None);
    }
}
