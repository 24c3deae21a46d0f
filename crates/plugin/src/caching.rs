//! The `caching` plugin document (plugins.md §5) and what it decides: the entry key of a
//! request, how long a backend response may be kept, which of its headers are stored, and
//! whether a caller may steer the cache with `Cache-Control`. The response store itself is
//! the data plane's (`apigw_gateway::cache`).

use http::header::{self, HeaderMap, HeaderName};
use http::StatusCode;
use std::time::Duration;

/// The longest time anything is cached.
pub const MAX_TTL: Duration = Duration::from_secs(172_800);

/// Who may steer the cache with `Cache-Control` (`clientCacheControl.mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientControl {
    Off,
    All,
    Apps(Vec<i64>),
}

/// A compiled `caching` plugin document.
#[derive(Debug)]
pub struct CachePolicy {
    duration: Duration,
    vary_by_app: bool,
    vary_by_parameters: Vec<String>,
    vary_by_headers: Vec<HeaderName>,
    client: ClientControl,
    /// Response headers stored besides Content-Type, Content-Encoding and Content-Language.
    cacheable_headers: Vec<HeaderName>,
}

impl CachePolicy {
    /// Reads a plugin document (JSON or YAML).
    pub fn parse(doc: &str) -> Result<CachePolicy, String> {
        let v: serde_json::Value =
            serde_norway::from_str(doc).map_err(|e| format!("not JSON or YAML: {e}"))?;
        if !(v.is_object() || v.is_null()) {
            return Err("the caching document must be a mapping".into());
        }
        let duration = match &v["duration"] {
            serde_json::Value::Null => 300,
            d => d
                .as_u64()
                .or_else(|| d.as_str().and_then(|s| s.trim().parse().ok()))
                .filter(|d| *d > 0)
                .ok_or("`duration` must be a positive whole number of seconds")?,
        };
        let vary_by_app = match &v["varyByApp"] {
            serde_json::Value::Null => false,
            serde_json::Value::Bool(b) => *b,
            serde_json::Value::String(s) if s.eq_ignore_ascii_case("true") => true,
            serde_json::Value::String(s) if s.eq_ignore_ascii_case("false") => false,
            _ => return Err("`varyByApp` must be true or false".into()),
        };
        let client = match v["clientCacheControl"]["mode"].as_str().unwrap_or("off") {
            m if m.eq_ignore_ascii_case("off") => ClientControl::Off,
            m if m.eq_ignore_ascii_case("all") => ClientControl::All,
            m if m.eq_ignore_ascii_case("app") => {
                let apps = v["clientCacheControl"]["apps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        a.as_i64()
                            .or_else(|| a.as_str().and_then(|s| s.trim().parse().ok()))
                            .ok_or("`clientCacheControl.apps` holds AppIds (numbers)")
                    })
                    .collect::<Result<Vec<i64>, _>>()?;
                ClientControl::Apps(apps)
            }
            other => {
                return Err(format!(
                    "`clientCacheControl.mode` `{other}` is not off, all or app"
                ))
            }
        };
        Ok(CachePolicy {
            duration: Duration::from_secs(duration).min(MAX_TTL),
            vary_by_app,
            vary_by_parameters: strings(&v["varyByParameters"], "varyByParameters")?,
            vary_by_headers: header_names(&v["varyByHeaders"], "varyByHeaders")?,
            client,
            cacheable_headers: header_names(&v["cacheableHeaders"], "cacheableHeaders")?,
        })
    }

    /// True when this caller's `Cache-Control` is honoured.
    pub fn client_may_steer(&self, app_id: Option<i64>) -> bool {
        match &self.client {
            ClientControl::Off => false,
            ClientControl::All => true,
            ClientControl::Apps(apps) => app_id.is_some_and(|id| apps.contains(&id)),
        }
    }

    /// The entry key: the API and stage (`scope`), the request path, and what the policy
    /// varies by (the app, parameter values from the backend query, request header values).
    pub fn key(
        &self,
        scope: &str,
        path: &str,
        backend_query: Option<&str>,
        headers: &HeaderMap,
        app_id: Option<i64>,
    ) -> String {
        let mut key = format!("{scope}\n{path}");
        if self.vary_by_app {
            key.push_str(&format!("\napp={}", app_id.unwrap_or(0)));
        }
        if !self.vary_by_parameters.is_empty() {
            let pairs: Vec<(String, String)> =
                form_urlencoded::parse(backend_query.unwrap_or("").as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            for name in &self.vary_by_parameters {
                let value = pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str());
                key.push_str(&format!("\np:{name}={}", value.unwrap_or("\u{0}")));
            }
        }
        for name in &self.vary_by_headers {
            let value = headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()));
            key.push_str(&format!(
                "\nh:{name}={}",
                value.as_deref().unwrap_or("\u{0}")
            ));
        }
        key
    }

    /// How long a backend response may be kept: `None` when it must not be stored (not 200,
    /// `Cache-Control: no-store`/`private`/`no-cache`, `max-age=0`).
    pub fn ttl_for(&self, status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
        if status != StatusCode::OK {
            return None;
        }
        let Some(cc) = headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
        else {
            return Some(self.duration);
        };
        let mut ttl = self.duration;
        for directive in cc.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "private" || lower == "no-cache" {
                return None;
            }
            if let Some(age) = lower.strip_prefix("max-age=") {
                ttl = Duration::from_secs(age.trim().parse().ok()?);
            }
        }
        (!ttl.is_zero()).then_some(ttl.min(MAX_TTL))
    }

    /// The response headers kept with an entry.
    pub fn stored_headers(&self, headers: &HeaderMap) -> HeaderMap {
        let mut kept = HeaderMap::new();
        let defaults = [
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::CONTENT_LANGUAGE,
        ];
        for name in defaults.iter().chain(&self.cacheable_headers) {
            for v in headers.get_all(name) {
                kept.append(name.clone(), v.clone());
            }
        }
        kept
    }
}

fn strings(v: &serde_json::Value, member: &str) -> Result<Vec<String>, String> {
    match v {
        serde_json::Value::Null => Ok(Vec::new()),
        serde_json::Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(String::from)
                    .ok_or_else(|| format!("`{member}` must list names"))
            })
            .collect(),
        _ => Err(format!("`{member}` must list names")),
    }
}

fn header_names(v: &serde_json::Value, member: &str) -> Result<Vec<HeaderName>, String> {
    strings(v, member)?
        .iter()
        .map(|n| {
            HeaderName::from_bytes(n.as_bytes())
                .map_err(|_| format!("`{member}`: `{n}` is not a header name"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn documents() {
        let p = CachePolicy::parse(
            "duration: 999999\nvaryByApp: true\nvaryByParameters: [userId]\nvaryByHeaders: [Accept]\nclientCacheControl: {mode: app, apps: [1992323]}\ncacheableHeaders: [X-Customer-Token]\n",
        )
        .unwrap();
        assert_eq!(p.duration, MAX_TTL, "clamped to 48 h");
        assert!(p.client_may_steer(Some(1992323)) && !p.client_may_steer(Some(1)));
        assert!(CachePolicy::parse("{}").is_ok());
        assert!(CachePolicy::parse("duration: soon").is_err());
        assert!(CachePolicy::parse("duration: 0").is_err());
        assert!(CachePolicy::parse("clientCacheControl: {mode: sometimes}").is_err());
        assert!(CachePolicy::parse("varyByHeaders: ['bad header']").is_err());
        assert!(CachePolicy::parse("- a list").is_err());
    }

    #[test]
    fn keys_vary_as_configured() {
        let p = CachePolicy::parse("varyByParameters: [id]\nvaryByHeaders: [Accept]").unwrap();
        let mut h = HeaderMap::new();
        h.insert("accept", HeaderValue::from_static("text/plain"));
        let a = p.key("api/RELEASE", "/x", Some("id=1&other=2"), &h, Some(5));
        let b = p.key("api/RELEASE", "/x", Some("other=3&id=1"), &h, Some(6));
        assert_eq!(a, b, "other parameters and the app do not vary the key");
        assert_ne!(a, p.key("api/RELEASE", "/x", Some("id=2"), &h, None));
        h.insert("accept", HeaderValue::from_static("application/json"));
        assert_ne!(a, p.key("api/RELEASE", "/x", Some("id=1"), &h, None));
    }

    #[test]
    fn backend_cache_control_is_obeyed() {
        let p = CachePolicy::parse("duration: 60").unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(p.ttl_for(StatusCode::OK, &h), Some(Duration::from_secs(60)));
        assert_eq!(p.ttl_for(StatusCode::NOT_FOUND, &h), None);
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=5"),
        );
        assert_eq!(p.ttl_for(StatusCode::OK, &h), Some(Duration::from_secs(5)));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        assert_eq!(p.ttl_for(StatusCode::OK, &h), None);
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=0"));
        assert_eq!(p.ttl_for(StatusCode::OK, &h), None);
    }
}
