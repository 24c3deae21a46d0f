//! The `routing` plugin (plugins.md §7): conditions that send a request to another backend.
//!
//! ```yaml
//! ---
//! parameters:                       # optional (§0.1); $CaAppId, $ClientVersion work without
//!   action: "Query:action"
//! routes:
//!   - name: MockForOldClient        # unique; the backend receives X-Ca-Routing-Name: <name>
//!     condition: "$ClientVersion < '2.0.5'"
//!     backend:
//!       type: MOCK                  # HTTP | MOCK
//!       statusCode: 400             # default 200
//!       mockBody: "This version is not supported!!!"   # or `body`
//!   - name: BlueGreenPercent05
//!     condition: "Random() < 0.05"
//!     weight: 5                     # optional, see Routing::select
//!     backend:
//!       type: HTTP
//!       address: "https://beta-version.api.foo.com"   # http(s)://host[:port]
//!       path: "/v2/users/[userId]"  # optional override
//!       timeout: 7000               # optional override, ms, 1..=30000
//!       method: GET                 # optional override
//!     constant-parameters:          # optional (also `constantParameters`)
//!       - {name: x-route-blue-green, location: header, value: "route-blue-green"}
//! ```
//!
//! `HTTP-VPC` / `HTTP_VPC` backends are refused: VPC accesses are not implemented, and a route
//! that could never be served is not accepted. Other backend types (FC, OSS ...) are refused too.

use crate::doc::{self, ParamLocation};
use crate::expr::{Condition, Parameters, Phase, Vars};
use serde_json::{Map, Value};

/// Largest route `weight`.
pub const MAX_WEIGHT: u32 = 1_000_000;

/// A parsed `routing` document.
#[derive(Debug, Clone)]
pub struct Routing {
    pub parameters: Parameters,
    pub routes: Vec<Route>,
}

/// One route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Unique in the document; a valid header value (sent as `X-Ca-Routing-Name`).
    pub name: String,
    pub condition: Condition,
    pub backend: RouteBackend,
    /// Share among the matching weighted routes ([`Routing::select`]).
    pub weight: Option<u32>,
    pub constant_parameters: Vec<ConstantParameter>,
}

/// The backend a route sends to; HTTP fields left `None` keep the API's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteBackend {
    Http {
        /// `http(s)://host[:port]`, checked like a `ServiceAddress`.
        address: String,
        /// Backend path override (may hold `[param]` placeholders).
        path: Option<String>,
        /// Backend timeout override, milliseconds.
        timeout_ms: Option<u32>,
        /// Backend method override.
        method: Option<http::Method>,
    },
    Mock {
        status: u16,
        body: String,
    },
}

/// A parameter added to the backend request by a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstantParameter {
    pub name: String,
    /// [`ParamLocation::Header`] or [`ParamLocation::Query`].
    pub location: ParamLocation,
    pub value: String,
}

const KIND: &str = "routing";

impl Routing {
    /// Parses a `routing` document (JSON or YAML).
    pub fn parse(data: &str) -> Result<Routing, String> {
        let map = doc::mapping(data, KIND)?;
        let parameters = doc::parameters(&map, KIND)?;
        let items = doc::list(&map, "routes", "")?;
        if items.is_empty() {
            return Err(format!("{KIND}: `routes` must list at least one route"));
        }
        let mut routes: Vec<Route> = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            let at = format!("routes[{i}]");
            let route = Route::parse(v, &at, &parameters).map_err(|e| format!("{KIND}: {e}"))?;
            if routes.iter().any(|r| r.name == route.name) {
                return Err(format!(
                    "{KIND}: `{at}.name` `{}` is used by another route",
                    route.name
                ));
            }
            routes.push(route);
        }
        Ok(Routing { parameters, routes })
    }

    /// The route for a request, `None` for the API's own backend.
    ///
    /// Routes are tried in order and the first whose condition holds wins. When that route
    /// has a `weight`, the choice is made among **all** the routes whose condition holds and
    /// that have a weight, in proportion to their weights, with one [`Vars::random`] draw.
    /// (So `weight` splits traffic between routes with overlapping conditions; a route without
    /// a weight that comes first is simply chosen.)
    pub fn select(&self, vars: &dyn Vars) -> Option<&Route> {
        let first = self.routes.iter().position(|r| r.condition.eval(vars))?;
        let winner = &self.routes[first];
        if winner.weight.is_none() {
            return Some(winner);
        }
        let weighted: Vec<(&Route, u64)> = std::iter::once((winner, winner.weight))
            .chain(
                self.routes[first + 1..]
                    .iter()
                    .filter(|r| r.weight.is_some() && r.condition.eval(vars))
                    .map(|r| (r, r.weight)),
            )
            .map(|(r, w)| (r, u64::from(w.unwrap_or(0))))
            .collect();
        let total: u64 = weighted.iter().map(|(_, w)| w).sum();
        let r = vars.random();
        let r = if r.is_finite() {
            r.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Truncation keeps the point in 0..total (total ≥ 1, weights are positive).
        let point = ((r * total as f64) as u64).min(total.saturating_sub(1));
        let mut seen = 0;
        for (route, w) in &weighted {
            seen += w;
            if point < seen {
                return Some(route);
            }
        }
        Some(winner)
    }
}

impl Route {
    fn parse(v: &Value, at: &str, params: &Parameters) -> Result<Route, String> {
        let map = doc::item(v, at)?;
        let p = format!("{at}.");
        let name = doc::required_text(map, "name", &p)?;
        if name.trim().is_empty()
            || !name.bytes().all(|b| (b' '..=b'~').contains(&b))
            || name.len() > 128
        {
            return Err(format!(
                "`{at}.name` must be 1-128 printable ASCII characters (it travels in a header)"
            ));
        }
        let condition = doc::condition(map, "condition", &p, params, Phase::Request)?;
        let backend = match doc::member(map, "backend") {
            Some(b) => backend(
                doc::item(b, &format!("{at}.backend"))?,
                &format!("{at}.backend."),
            )?,
            None => return Err(format!("`{at}.backend` is required")),
        };
        let weight = match doc::member(map, "weight") {
            None => None,
            Some(w) => Some(
                w.as_u64()
                    .or_else(|| w.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|w| (1..=u64::from(MAX_WEIGHT)).contains(w))
                    .ok_or_else(|| {
                        format!("`{at}.weight` must be a whole number in 1..={MAX_WEIGHT}")
                    })? as u32,
            ),
        };
        let key = if map.contains_key("constant-parameters") {
            "constant-parameters"
        } else {
            "constantParameters"
        };
        let constant_parameters = doc::list(map, key, &p)?
            .iter()
            .enumerate()
            .map(|(i, c)| constant(c, &format!("{at}.{key}[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Route {
            name,
            condition,
            backend,
            weight,
            constant_parameters,
        })
    }
}

fn backend(map: &Map<String, Value>, at: &str) -> Result<RouteBackend, String> {
    let kind = doc::required_text(map, "type", at)?;
    match kind.trim().to_ascii_uppercase().as_str() {
        "HTTP" => {
            let address = doc::required_text(map, "address", at)?;
            apigw_model::validate::validate_service_address(address.trim())
                .map_err(|e| format!("`{at}address`: {}", e.message))?;
            let path = doc::text(map, "path", at)?;
            if let Some(p) = &path {
                if !p.starts_with('/') || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(format!(
                        "`{at}path` `{p}` must start with `/` and hold no spaces"
                    ));
                }
            }
            let max = apigw_model::api::MAX_SERVICE_TIMEOUT_MS;
            let timeout_ms = match doc::member(map, "timeout") {
                None => None,
                Some(t) => Some(
                    t.as_u64()
                        .or_else(|| t.as_str().and_then(|s| s.trim().parse().ok()))
                        .filter(|t| (1..=u64::from(max)).contains(t))
                        .ok_or_else(|| format!("`{at}timeout` must be 1..={max} milliseconds"))?
                        as u32,
                ),
            };
            let method = match doc::text(map, "method", at)? {
                None => None,
                Some(m) => {
                    let up = apigw_model::api::normalize_method(&m);
                    if up == "ANY" || !apigw_model::api::METHODS.contains(&up.as_str()) {
                        return Err(format!("`{at}method` `{m}` is not an HTTP method"));
                    }
                    Some(
                        http::Method::from_bytes(up.as_bytes())
                            .map_err(|_| format!("`{at}method` `{m}` is not an HTTP method"))?,
                    )
                }
            };
            Ok(RouteBackend::Http {
                address: address.trim().trim_end_matches('/').to_string(),
                path,
                timeout_ms,
                method,
            })
        }
        "MOCK" => {
            let status = doc::status(map, "statusCode", at, Some(200))?;
            let body = match doc::text(map, "mockBody", at)? {
                Some(b) => b,
                None => doc::text(map, "body", at)?.unwrap_or_default(),
            };
            Ok(RouteBackend::Mock { status, body })
        }
        "HTTP-VPC" | "HTTP_VPC" => Err(format!(
            "`{at}type`: backend type HTTP-VPC needs VPC accesses, not supported yet"
        )),
        _ => Err(format!(
            "`{at}type` `{kind}` is not supported (HTTP or MOCK)"
        )),
    }
}

fn constant(v: &Value, at: &str) -> Result<ConstantParameter, String> {
    let map = doc::item(v, at)?;
    let p = format!("{at}.");
    let name = doc::required_text(map, "name", &p)?;
    let location = ParamLocation::parse(
        &doc::required_text(map, "location", &p)?,
        &format!("{at}.location"),
        false,
    )?;
    let value = doc::text(map, "value", &p)?.unwrap_or_default();
    if name.trim().is_empty() {
        return Err(format!("`{at}.name` is empty"));
    }
    if location == ParamLocation::Header {
        doc::header_name(&name, &format!("{at}.name"))?;
        if http::HeaderValue::from_str(&value).is_err() {
            return Err(format!(
                "`{at}.value` is not a valid header value (no line breaks or control characters)"
            ));
        }
    }
    Ok(ConstantParameter {
        name: name.trim().to_string(),
        location,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::tests::Map as Vals;

    /// The spec's example (§7) with the VPC route made an HTTP one.
    const SPEC: &str = r#"---
routes:
  - name: Vip
    condition: "$CaAppId = 123456"
    backend:
      type: "HTTP"
      address: "http://vip.internal:8080"
  - name: MockForOldClient
    condition: "$ClientVersion < '2.0.5'"
    backend:
      type: "MOCK"
      statusCode: 400
      mockBody: "This version is not supported!!!"
  - name: BlueGreenPercent05
    condition: "Random() < 0.05"
    backend:
      type: "HTTP"
      address: "https://beta-version.api.foo.com"
      path: "/v2/users/[userId]"
      timeout: 7000
      method: GET
    constant-parameters:
      - name: x-route-blue-green
        location: header
        value: "route-blue-green"
"#;

    fn names(r: &Routing, vars: &Vals) -> Option<String> {
        r.select(vars).map(|r| r.name.clone())
    }

    #[test]
    fn the_spec_example() {
        let r = Routing::parse(SPEC).unwrap();
        assert_eq!(r.routes.len(), 3);
        let vip = Vals::of(&[("System:CaAppId", "123456")]);
        assert_eq!(names(&r, &vip).as_deref(), Some("Vip"));
        let old = Vals::of(&[("Parameter:ClientVersion", "1.0.0")]);
        assert_eq!(names(&r, &old).as_deref(), Some("MockForOldClient"));
        match &r.select(&old).unwrap().backend {
            RouteBackend::Mock { status, body } => {
                assert_eq!(
                    (*status, body.as_str()),
                    (400, "This version is not supported!!!")
                )
            }
            other => panic!("{other:?}"),
        }
        let lucky = Vals::of(&[("Parameter:ClientVersion", "3.0.0")]);
        lucky.random.set(0.01);
        let route = r.select(&lucky).unwrap();
        assert_eq!(route.name, "BlueGreenPercent05");
        assert_eq!(
            route.backend,
            RouteBackend::Http {
                address: "https://beta-version.api.foo.com".into(),
                path: Some("/v2/users/[userId]".into()),
                timeout_ms: Some(7000),
                method: Some(http::Method::GET),
            }
        );
        assert_eq!(
            route.constant_parameters,
            vec![ConstantParameter {
                name: "x-route-blue-green".into(),
                location: ParamLocation::Header,
                value: "route-blue-green".into()
            }]
        );
        let unlucky = Vals::of(&[("Parameter:ClientVersion", "3.0.0")]);
        unlucky.random.set(0.5);
        assert!(r.select(&unlucky).is_none(), "the API's own backend");
    }

    #[test]
    fn vpc_backends_are_refused() {
        for t in ["HTTP-VPC", "HTTP_VPC", "http-vpc"] {
            let doc = format!(
                "routes:\n  - name: Vip\n    condition: '1 = 1'\n    backend:\n      type: {t}\n      vpcAccessName: slbAccessForVip\n"
            );
            let e = Routing::parse(&doc).unwrap_err();
            assert!(
                e.contains("backend type HTTP-VPC needs VPC accesses, not supported yet"),
                "{e}"
            );
        }
    }

    #[test]
    fn json_documents_and_body_spelling() {
        let r = Routing::parse(
            r#"{"routes": [{"name": "m", "condition": "$CaStage = 'TEST'",
                "backend": {"type": "mock", "body": "hi"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            r.routes[0].backend,
            RouteBackend::Mock {
                status: 200,
                body: "hi".into()
            }
        );
        let test = Vals::of(&[("System:CaStage", "TEST")]);
        assert!(r.select(&test).is_some());
    }

    #[test]
    fn weights_split_among_matching_weighted_routes() {
        let r = Routing::parse(
            "parameters: {v: 'Query:v'}\nroutes:\n\
             - {name: a, condition: '1 = 1', weight: 1, backend: {type: MOCK, body: a}}\n\
             - {name: skip, condition: '$v = 9', weight: 100, backend: {type: MOCK}}\n\
             - {name: b, condition: '1 = 1', weight: 3, backend: {type: MOCK, body: b}}\n\
             - {name: plain, condition: '1 = 1', backend: {type: MOCK}}\n",
        )
        .unwrap();
        let pick = |x: f64| {
            let v = Vals::of(&[]);
            v.random.set(x);
            names(&r, &v).unwrap()
        };
        // a: [0, 0.25), b: [0.25, 1).
        assert_eq!(pick(0.0), "a");
        assert_eq!(pick(0.24), "a");
        assert_eq!(pick(0.25), "b");
        assert_eq!(pick(0.99), "b");
        assert_eq!(pick(1.0), "b", "clamped");
        assert_eq!(pick(f64::NAN), "a");
        // With `$v = 9` the skipped route joins: a 1, skip 100, b 3.
        let v = Vals::of(&[("Query:v", "9")]);
        v.random.set(0.5);
        assert_eq!(names(&r, &v).as_deref(), Some("skip"));
        // An unweighted first match is chosen outright.
        let r = Routing::parse(
            "routes:\n- {name: first, condition: '1 = 1', backend: {type: MOCK}}\n\
             - {name: w, condition: '1 = 1', weight: 5, backend: {type: MOCK}}\n",
        )
        .unwrap();
        let v = Vals::of(&[]);
        v.random.set(0.9);
        assert_eq!(names(&r, &v).as_deref(), Some("first"));
    }

    #[test]
    fn bad_documents() {
        let route = |body: &str| format!("routes:\n  - {body}\n");
        let cases = [
            ("- 1".to_string(), "must be a mapping"),
            ("{}".to_string(), "at least one route"),
            ("routes: []".to_string(), "at least one route"),
            (route("{condition: '1 = 1', backend: {type: MOCK}}"), "`routes[0].name` is required"),
            (route("{name: a, backend: {type: MOCK}}"), "`routes[0].condition` is required"),
            (route("{name: a, condition: '1 =', backend: {type: MOCK}}"), "at character"),
            (route("{name: a, condition: '1 = 1'}"), "`routes[0].backend` is required"),
            (route("{name: a, condition: '1 = 1', backend: {type: FC}}"), "`FC` is not supported"),
            (route("{name: a, condition: '1 = 1', backend: {type: HTTP}}"), "`routes[0].backend.address` is required"),
            (route("{name: a, condition: '1 = 1', backend: {type: HTTP, address: 'ftp://x'}}"), "http://, https:// or h2c://"),
            (route("{name: a, condition: '1 = 1', backend: {type: HTTP, address: 'http://'}}"), "no host"),
            (route("{name: a, condition: '1 = 1', backend: {type: HTTP, address: 'http://a', path: 'x'}}"), "must start with `/`"),
            (route("{name: a, condition: '1 = 1', backend: {type: HTTP, address: 'http://a', timeout: 0}}"), "1..=30000"),
            (route("{name: a, condition: '1 = 1', backend: {type: HTTP, address: 'http://a', method: FETCH}}"), "not an HTTP method"),
            (route("{name: a, condition: '1 = 1', backend: {type: MOCK, statusCode: 999}}"), "100..=599"),
            (route("{name: a, condition: '1 = 1', weight: 0, backend: {type: MOCK}}"), "weight"),
            (route("{name: \"a\\nb\", condition: '1 = 1', backend: {type: MOCK}}"), "printable ASCII"),
            (route("{name: a, condition: '1 = 1', backend: {type: MOCK}, constant-parameters: [{name: 'a b', location: header, value: x}]}"), "not a header name"),
            (route("{name: a, condition: '1 = 1', backend: {type: MOCK}, constant-parameters: [{name: a, location: header, value: \"x\\ny\"}]}"), "not a valid header value"),
            (route("{name: a, condition: '1 = 1', backend: {type: MOCK}, constant-parameters: [{name: a, location: form}]}"), "not header or query"),
            (route("{name: a, condition: '$code = 1', backend: {type: MOCK}}") + "parameters: {code: StatusCode}\n", "request-phase"),
            ("routes:\n- {name: a, condition: '1 = 1', backend: {type: MOCK}}\n- {name: a, condition: '1 = 1', backend: {type: MOCK}}".to_string(), "used by another route"),
        ];
        for (doc, needle) in cases {
            let e = Routing::parse(&doc)
                .err()
                .unwrap_or_else(|| panic!("{doc} parsed"));
            assert!(e.contains(needle), "{doc}: {e}");
            assert!(e.starts_with("routing: "), "{e}");
        }
    }
}
