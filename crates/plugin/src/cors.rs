//! The `cors` plugin: which origins may call an API from a browser, and the
//! `Access-Control-*` headers answering preflights and decorating actual responses.
//!
//! The plugin document (JSON or YAML, every member optional):
//!
//! ```yaml
//! allowOrigins: api.foo.com,https://api2.foo.com,*.foo.com   # or a list; default "*"
//! allowMethods: GET,POST,PUT,DELETE,HEAD,OPTIONS,PATCH
//! allowHeaders: Authorization,Accept,...                      # "*" echoes the request's
//! exposeHeaders: Content-MD5,Server,Date,...
//! maxAge: 172800                                              # seconds
//! allowCredentials: false                                     # bool or "true"/"false"
//! ```
//!
//! Every header value is built once, when the policy is parsed.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Map, Value};

/// Default `allowMethods`.
pub const DEFAULT_METHODS: &str = "GET,POST,PUT,DELETE,HEAD,OPTIONS,PATCH";
/// Default `allowHeaders`.
pub const DEFAULT_HEADERS: &str = "Authorization,Accept,Accept-Ranges,Cache-Control,Range,Date,\
Content-Type,Content-Length,Content-MD5,User-Agent,X-Ca-Signature,X-Ca-Signature-Headers,\
X-Ca-Signature-Method,X-Ca-Key,X-Ca-Timestamp,X-Ca-Nonce,X-Ca-Stage,X-Ca-Request-Mode,\
x-ca-deviceid";
/// Default `exposeHeaders`.
pub const DEFAULT_EXPOSE: &str =
    "Content-MD5,Server,Date,Latency,X-Ca-Request-Id,X-Ca-Error-Code,X-Ca-Error-Message";
/// Default `maxAge`, in seconds.
pub const DEFAULT_MAX_AGE: u64 = 172_800;

/// A parsed origin: `scheme://host[:port]`, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    /// The explicit port, or the scheme's default one.
    port: Option<u16>,
}

impl Origin {
    /// Parses `scheme://host[:port]` (no path, query or user info); `None` when it is not one.
    fn parse(s: &str) -> Option<Origin> {
        let (scheme, rest) = s.trim().split_once("://")?;
        if !valid_scheme(scheme) {
            return None;
        }
        let scheme = scheme.to_ascii_lowercase();
        let (host, port) = split_host_port(rest)?;
        if !valid_host(host) {
            return None;
        }
        let port = match port {
            Some(p) => Some(parse_port(p)?),
            None => default_port(&scheme),
        };
        Some(Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// One `allowOrigins` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OriginRule {
    /// `*`: any origin, even `null`.
    Any,
    /// `https://a.example.com[:port]`: that scheme, host and port.
    Full(Origin),
    /// `a.example.com`: that host, any scheme and port.
    Host(String),
    /// `*.foo.com`, stored as `.foo.com`: any sub-domain, at any depth.
    Wildcard(String),
}

impl OriginRule {
    fn parse(entry: &str) -> Result<OriginRule, String> {
        let bad = || {
            format!("`allowOrigins`: `{entry}` is not `*`, an origin, a host name or `*.domain`")
        };
        if entry == "*" {
            return Ok(OriginRule::Any);
        }
        if entry.contains("://") {
            let origin = Origin::parse(entry.strip_suffix('/').unwrap_or(entry)).ok_or_else(bad)?;
            return Ok(OriginRule::Full(origin));
        }
        if let Some(domain) = entry.strip_prefix("*.") {
            if !valid_host(domain) || domain.starts_with('[') {
                return Err(bad());
            }
            return Ok(OriginRule::Wildcard(format!(
                ".{}",
                domain.to_ascii_lowercase()
            )));
        }
        if !valid_host(entry) {
            return Err(bad());
        }
        Ok(OriginRule::Host(entry.to_ascii_lowercase()))
    }

    /// Whether this entry admits `origin` (`None`: `null` or unparsable).
    fn matches(&self, origin: Option<&Origin>) -> bool {
        match (self, origin) {
            (OriginRule::Any, _) => true,
            (_, None) => false,
            (OriginRule::Full(want), Some(o)) => want == o,
            (OriginRule::Host(host), Some(o)) => *host == o.host,
            (OriginRule::Wildcard(suffix), Some(o)) => {
                o.host.len() > suffix.len() && o.host.ends_with(suffix.as_str())
            }
        }
    }
}

/// What `Access-Control-Allow-Headers` answers.
#[derive(Debug, Clone)]
enum AllowHeaders {
    /// Nothing (an empty `allowHeaders`).
    Omit,
    /// `*`: echo the preflight's `Access-Control-Request-Headers`.
    Echo,
    /// A fixed list.
    List(HeaderValue),
}

/// A compiled `cors` policy.
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Vec<OriginRule>,
    /// Answer `Access-Control-Allow-Origin: *` instead of echoing the origin.
    star: bool,
    /// Allowed methods, upper-cased.
    methods: Vec<String>,
    allow_methods: Option<HeaderValue>,
    allow_headers: AllowHeaders,
    expose_headers: Option<HeaderValue>,
    max_age: HeaderValue,
    credentials: bool,
}

impl Cors {
    /// Parses a plugin document (JSON or YAML); an empty document gives the defaults.
    /// The error text says what is wrong (e.g. "`maxAge` must be a whole number of seconds").
    pub fn parse(doc: &str) -> Result<Cors, String> {
        let value: Value = serde_norway::from_str(doc)
            .map_err(|e| format!("the cors document is not JSON or YAML: {e}"))?;
        let empty = Map::new();
        let map = match &value {
            Value::Object(map) => map,
            Value::Null => &empty,
            _ => return Err("the cors document must be a mapping".to_string()),
        };
        Cors::from_map(map)
    }

    /// The policy applied when no cors plugin is bound: all the defaults (origin `*`,
    /// credentials false).
    pub fn permissive() -> Cors {
        Cors {
            origins: vec![OriginRule::Any],
            star: true,
            methods: split_list(DEFAULT_METHODS),
            allow_methods: Some(HeaderValue::from_static(DEFAULT_METHODS)),
            allow_headers: AllowHeaders::List(HeaderValue::from_static(DEFAULT_HEADERS)),
            expose_headers: Some(HeaderValue::from_static(DEFAULT_EXPOSE)),
            max_age: HeaderValue::from(DEFAULT_MAX_AGE),
            credentials: false,
        }
    }

    fn from_map(map: &Map<String, Value>) -> Result<Cors, String> {
        let origins = list_member(map, "allowOrigins", "*")?
            .iter()
            .map(|e| OriginRule::parse(e))
            .collect::<Result<Vec<_>, _>>()?;
        if origins.is_empty() {
            return Err("`allowOrigins` lists no origin".to_string());
        }
        let credentials = credentials_member(map)?;
        let methods = methods_member(map)?;
        Ok(Cors {
            star: !credentials && origins.contains(&OriginRule::Any),
            origins,
            allow_methods: joined(&methods),
            methods,
            allow_headers: allow_headers_member(map)?,
            expose_headers: joined(&header_names_member(map, "exposeHeaders", DEFAULT_EXPOSE)?),
            max_age: HeaderValue::from(max_age_member(map)?),
            credentials,
        })
    }

    /// Whether `origin` (an `Origin` header value) may call; `null` or an unparsable
    /// origin is admitted only by `*`.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let parsed = Origin::parse(origin);
        self.origins
            .iter()
            .any(|rule| rule.matches(parsed.as_ref()))
    }

    /// True when `method` (e.g. "PUT") is in `allowMethods` (case-insensitive).
    pub fn method_allowed(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
    }

    /// Headers answering a preflight from `origin` (the caller already checked
    /// [`Cors::origin_allowed`]); `requested_headers` is the preflight's
    /// `Access-Control-Request-Headers`, echoed when `allowHeaders` is `*`.
    pub fn preflight_headers(&self, origin: &str, requested_headers: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        self.set_origin(origin, &mut headers);
        if let Some(methods) = &self.allow_methods {
            headers.insert(ACCESS_CONTROL_ALLOW_METHODS, methods.clone());
        }
        if let Some(allowed) = self.allow_headers_for(requested_headers) {
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        }
        headers.insert(ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        self.set_credentials(&mut headers);
        headers
    }

    /// Sets the CORS headers of an actual (non-preflight) response to an allowed origin,
    /// replacing any `Access-Control-*` headers the backend sent.
    pub fn decorate(&self, origin: &str, headers: &mut HeaderMap) {
        remove_access_control(headers);
        if !self.set_origin(origin, headers) {
            return;
        }
        if let Some(expose) = &self.expose_headers {
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
        self.set_credentials(headers);
    }

    /// Sets `Access-Control-Allow-Origin` (and `Vary: Origin` when echoed); false when the
    /// origin cannot be echoed (not a valid header value).
    fn set_origin(&self, origin: &str, headers: &mut HeaderMap) -> bool {
        if self.star {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            return true;
        }
        let Ok(value) = HeaderValue::from_str(origin.trim()) else {
            return false;
        };
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
        if !varies_by_origin(headers) {
            headers.append(VARY, HeaderValue::from_static("Origin"));
        }
        true
    }

    fn set_credentials(&self, headers: &mut HeaderMap) {
        if self.credentials {
            headers.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    fn allow_headers_for(&self, requested: Option<&str>) -> Option<HeaderValue> {
        match &self.allow_headers {
            AllowHeaders::Omit => None,
            AllowHeaders::List(value) => Some(value.clone()),
            AllowHeaders::Echo => requested
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .and_then(|r| HeaderValue::from_str(r).ok()),
        }
    }
}

/// Removes every `Access-Control-*` header.
fn remove_access_control(headers: &mut HeaderMap) {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for name in names {
        headers.remove(&name);
    }
}

/// Whether a `Vary` header already lists `Origin` (or `*`).
fn varies_by_origin(headers: &HeaderMap) -> bool {
    headers.get_all(VARY).iter().any(|value| {
        value.to_str().is_ok_and(|s| {
            s.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.eq_ignore_ascii_case("origin"))
        })
    })
}

/// A list joined with `,` as one header value; `None` when empty. Items were validated
/// as tokens, so the value is always valid.
fn joined(items: &[String]) -> Option<HeaderValue> {
    if items.is_empty() {
        return None;
    }
    HeaderValue::from_str(&items.join(",")).ok()
}

/// Splits a comma list, trimming items and dropping empty ones.
fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

/// A member that is a comma list or a list of strings; `default` when absent or null.
fn list_member(map: &Map<String, Value>, key: &str, default: &str) -> Result<Vec<String>, String> {
    let bad = || format!("`{key}` must be a comma-separated string or a list of strings");
    match map.get(key) {
        None | Some(Value::Null) => Ok(split_list(default)),
        Some(Value::String(s)) => Ok(split_list(s)),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(split_list(item.as_str().ok_or_else(bad)?));
            }
            Ok(out)
        }
        Some(_) => Err(bad()),
    }
}

fn methods_member(map: &Map<String, Value>) -> Result<Vec<String>, String> {
    let methods = list_member(map, "allowMethods", DEFAULT_METHODS)?;
    methods
        .into_iter()
        .map(|m| match Method::from_bytes(m.as_bytes()) {
            Ok(_) => Ok(m.to_ascii_uppercase()),
            Err(_) => Err(format!("`allowMethods`: `{m}` is not a method")),
        })
        .collect()
}

/// A list of header names (validated).
fn header_names_member(
    map: &Map<String, Value>,
    key: &str,
    default: &str,
) -> Result<Vec<String>, String> {
    let names = list_member(map, key, default)?;
    for name in &names {
        if name != "*" && HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("`{key}`: `{name}` is not a header name"));
        }
    }
    Ok(names)
}

fn allow_headers_member(map: &Map<String, Value>) -> Result<AllowHeaders, String> {
    let names = header_names_member(map, "allowHeaders", DEFAULT_HEADERS)?;
    if names.iter().any(|n| n == "*") {
        return Ok(AllowHeaders::Echo);
    }
    Ok(joined(&names).map_or(AllowHeaders::Omit, AllowHeaders::List))
}

fn max_age_member(map: &Map<String, Value>) -> Result<u64, String> {
    let seconds = match map.get("maxAge") {
        None | Some(Value::Null) => Some(DEFAULT_MAX_AGE),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => parse_digits(s.trim()),
        Some(_) => None,
    };
    seconds.ok_or_else(|| "`maxAge` must be a whole number of seconds".to_string())
}

fn credentials_member(map: &Map<String, Value>) -> Result<bool, String> {
    let value = match map.get("allowCredentials") {
        None | Some(Value::Null) => Some(false),
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        Some(_) => None,
    };
    value.ok_or_else(|| "`allowCredentials` must be true or false".to_string())
}

/// A non-empty run of ASCII digits as a number (no sign, no spaces).
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_port(s: &str) -> Option<u16> {
    parse_digits(s).and_then(|p| u16::try_from(p).ok())
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// A URI scheme: a letter, then letters, digits, `+`, `-` or `.`.
fn valid_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// Splits `host[:port]`, where host may be a bracketed IPv6 literal.
fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if s.starts_with('[') {
        let end = s.find(']')? + 1;
        let (host, rest) = s.split_at(end);
        return match rest {
            "" => Some((host, None)),
            _ => Some((host, Some(rest.strip_prefix(':')?))),
        };
    }
    match s.split_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((s, None)),
    }
}

/// A host name (letters, digits, `-`, `_`, `.`) or a bracketed IPv6 literal.
fn valid_host(s: &str) -> bool {
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b":.".contains(&b));
    }
    !s.is_empty()
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
        headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn policy(doc: &str) -> Cors {
        Cors::parse(doc).unwrap()
    }

    #[test]
    fn permissive_has_the_defaults() {
        let cors = Cors::permissive();
        assert!(cors.origin_allowed("https://anything.example"));
        assert!(cors.origin_allowed("null"));
        assert!(cors.method_allowed("put"));
        assert!(cors.method_allowed("PATCH"));
        assert!(!cors.method_allowed("TRACE"));
        let h = cors.preflight_headers("https://a.com", Some("X-Foo"));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_METHODS), Some(DEFAULT_METHODS));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_HEADERS), Some(DEFAULT_HEADERS));
        assert_eq!(get(&h, ACCESS_CONTROL_MAX_AGE), Some("172800"));
        assert!(h.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        assert!(h.get(VARY).is_none());
    }

    #[test]
    fn empty_documents_give_the_defaults() {
        for doc in ["", "{}", "---\n", "maxAge: null"] {
            let cors = policy(doc);
            let want = Cors::permissive().preflight_headers("https://a.com", None);
            assert_eq!(
                cors.preflight_headers("https://a.com", None),
                want,
                "{doc:?}"
            );
        }
    }

    #[test]
    fn yaml_document() {
        let cors = policy(
            "allowOrigins: api.foo.com,https://api2.foo.com,*.bar.com\n\
             allowMethods: get, post\n\
             allowHeaders: X-One,X-Two\n\
             exposeHeaders: X-Out\n\
             maxAge: 600\n\
             allowCredentials: \"true\"\n",
        );
        assert!(cors.origin_allowed("http://api.foo.com"));
        assert!(cors.origin_allowed("https://api2.foo.com"));
        assert!(cors.origin_allowed("https://x.bar.com"));
        assert!(!cors.origin_allowed("https://other.com"));
        assert!(cors.method_allowed("GET"));
        assert!(!cors.method_allowed("PUT"));
        let h = cors.preflight_headers("https://x.bar.com", None);
        assert_eq!(
            get(&h, ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://x.bar.com")
        );
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_METHODS), Some("GET,POST"));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_HEADERS), Some("X-One,X-Two"));
        assert_eq!(get(&h, ACCESS_CONTROL_MAX_AGE), Some("600"));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
        assert_eq!(get(&h, VARY), Some("Origin"));
    }

    #[test]
    fn json_document() {
        let cors = policy(
            r#"{"allowOrigins": "https://a.com", "maxAge": "30", "allowCredentials": false,
                "exposeHeaders": "X-A, X-B"}"#,
        );
        assert!(cors.origin_allowed("https://a.com"));
        assert!(!cors.origin_allowed("https://b.com"));
        let h = cors.preflight_headers("https://a.com", None);
        assert_eq!(get(&h, ACCESS_CONTROL_MAX_AGE), Some("30"));
        assert!(h.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        let mut out = HeaderMap::new();
        cors.decorate("https://a.com", &mut out);
        assert_eq!(get(&out, ACCESS_CONTROL_EXPOSE_HEADERS), Some("X-A,X-B"));
    }

    #[test]
    fn list_form_allow_origins() {
        let yaml = policy("allowOrigins:\n  - https://a.com\n  - '*.b.com'\n");
        let json = policy(r#"{"allowOrigins": ["https://a.com", "*.b.com"]}"#);
        for cors in [yaml, json] {
            assert!(cors.origin_allowed("https://a.com"));
            assert!(cors.origin_allowed("http://x.b.com:81"));
            assert!(!cors.origin_allowed("https://b.com"));
        }
    }

    #[test]
    fn full_origin_without_port_uses_the_default_port() {
        let cors = policy("allowOrigins: https://a.example.com");
        assert!(cors.origin_allowed("https://a.example.com"));
        assert!(cors.origin_allowed("https://a.example.com:443"));
        assert!(cors.origin_allowed("HTTPS://A.Example.COM"));
        assert!(!cors.origin_allowed("http://a.example.com"));
        assert!(!cors.origin_allowed("https://a.example.com:8443"));
        assert!(!cors.origin_allowed("https://b.a.example.com"));
        assert!(!cors.origin_allowed("https://a.example.com/path"));
    }

    #[test]
    fn full_origin_with_port() {
        let cors = policy("allowOrigins: http://a.com:8080,https://b.com:443/");
        assert!(cors.origin_allowed("http://a.com:8080"));
        assert!(!cors.origin_allowed("http://a.com"));
        assert!(!cors.origin_allowed("https://a.com:8080"));
        assert!(cors.origin_allowed("https://b.com"));
    }

    #[test]
    fn bare_host_matches_any_scheme_and_port() {
        let cors = policy("allowOrigins: A.example.com");
        assert!(cors.origin_allowed("http://a.example.com"));
        assert!(cors.origin_allowed("https://a.example.com:8443"));
        assert!(!cors.origin_allowed("https://b.a.example.com"));
        assert!(!cors.origin_allowed("https://example.com"));
    }

    #[test]
    fn wildcard_matches_sub_domains_at_any_depth() {
        let cors = policy("allowOrigins: '*.foo.com'");
        assert!(cors.origin_allowed("https://a.foo.com"));
        assert!(cors.origin_allowed("http://x.y.foo.com:8080"));
        assert!(!cors.origin_allowed("https://foo.com"));
        assert!(!cors.origin_allowed("https://evilfoo.com"));
        assert!(!cors.origin_allowed("https://foo.com.evil.com"));
    }

    #[test]
    fn star_and_null() {
        let star = policy("allowOrigins: '*'");
        assert!(star.origin_allowed("null"));
        assert!(star.origin_allowed("garbage"));
        let hosts = policy("allowOrigins: null.com,a.com");
        assert!(!hosts.origin_allowed("null"));
        assert!(!hosts.origin_allowed("a.com"));
        assert!(!hosts.origin_allowed("https://a.com:99999"));
        assert!(!hosts.origin_allowed("https://user@a.com"));
        assert!(!hosts.origin_allowed("https://[::1]:8080"));
        let ipv6 = policy("allowOrigins: '[::1]'");
        assert!(ipv6.origin_allowed("http://[::1]:8080"));
    }

    #[test]
    fn credentials_with_star_echo_the_origin() {
        let cors = policy("allowCredentials: true");
        assert!(cors.origin_allowed("https://a.com"));
        let h = cors.preflight_headers("https://a.com", None);
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_ORIGIN), Some("https://a.com"));
        assert_eq!(get(&h, ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
        assert_eq!(get(&h, VARY), Some("Origin"));
    }

    #[test]
    fn allow_headers_star_echoes_the_request() {
        let cors = policy("allowHeaders: '*'");
        let h = cors.preflight_headers("https://a.com", Some("X-Foo, Content-Type"));
        assert_eq!(
            get(&h, ACCESS_CONTROL_ALLOW_HEADERS),
            Some("X-Foo, Content-Type")
        );
        let h = cors.preflight_headers("https://a.com", None);
        assert!(h.get(ACCESS_CONTROL_ALLOW_HEADERS).is_none());
        let h = cors.preflight_headers("https://a.com", Some("X-Foo\nBar"));
        assert!(h.get(ACCESS_CONTROL_ALLOW_HEADERS).is_none());
    }

    #[test]
    fn invalid_origin_value_is_not_echoed() {
        let cors = policy("allowCredentials: true");
        let h = cors.preflight_headers("https://a.com\r\nX: y", None);
        assert!(h.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert!(h.get(VARY).is_none());
        let mut out = HeaderMap::new();
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("x"));
        cors.decorate("bad\u{7f}", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn decorate_replaces_backend_headers() {
        let cors = policy("allowOrigins: https://a.com\nallowCredentials: true");
        let mut out = HeaderMap::new();
        out.insert(
            ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("https://evil"),
        );
        out.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("1"));
        out.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("X-Secret"),
        );
        out.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        out.insert("x-other", HeaderValue::from_static("kept"));
        cors.decorate("https://a.com", &mut out);
        assert_eq!(
            get(&out, ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://a.com")
        );
        assert_eq!(
            get(&out, ACCESS_CONTROL_EXPOSE_HEADERS),
            Some(DEFAULT_EXPOSE)
        );
        assert_eq!(get(&out, ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
        assert!(out.get(ACCESS_CONTROL_MAX_AGE).is_none());
        assert_eq!(get(&out, "x-other".parse().unwrap()), Some("kept"));
        let vary: Vec<_> = out.get_all(VARY).iter().collect();
        assert_eq!(vary, ["Accept-Encoding", "Origin"]);
    }

    #[test]
    fn decorate_does_not_repeat_vary_origin() {
        let cors = policy("allowOrigins: a.com");
        let mut out = HeaderMap::new();
        out.insert(VARY, HeaderValue::from_static("Accept, origin"));
        cors.decorate("https://a.com", &mut out);
        assert_eq!(out.get_all(VARY).iter().count(), 1);
    }

    #[test]
    fn decorate_with_star_policy() {
        let mut out = HeaderMap::new();
        Cors::permissive().decorate("https://a.com", &mut out);
        assert_eq!(get(&out, ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
        assert!(out.get(VARY).is_none());
        assert!(out.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
    }

    #[test]
    fn bad_documents() {
        let cases = [
            ("maxAge: soon", "`maxAge` must be a whole number of seconds"),
            ("maxAge: -1", "`maxAge`"),
            ("maxAge: 1.5", "`maxAge`"),
            (
                "allowCredentials: 3",
                "`allowCredentials` must be true or false",
            ),
            ("allowCredentials: maybe", "`allowCredentials`"),
            ("[1, 2]", "must be a mapping"),
            ("42", "must be a mapping"),
            ("{", "not JSON or YAML"),
            ("allowOrigins: 'https://'", "`allowOrigins`"),
            ("allowOrigins: a.com:80", "`allowOrigins`"),
            ("allowOrigins: 'a.*.com'", "`allowOrigins`"),
            ("allowOrigins: ','", "no origin"),
            ("allowOrigins: [1]", "`allowOrigins` must be"),
            ("allowOrigins: {a: 1}", "`allowOrigins` must be"),
            ("allowMethods: 'GE T'", "`allowMethods`"),
            ("allowHeaders: 'bad header'", "`allowHeaders`"),
            ("exposeHeaders: 'x:y'", "`exposeHeaders`"),
        ];
        for (doc, want) in cases {
            let err = Cors::parse(doc)
                .err()
                .unwrap_or_else(|| panic!("{doc} parsed"));
            assert!(err.contains(want), "{doc}: {err}");
        }
    }
}
