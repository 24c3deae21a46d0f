//! The plugin documents: `apigw_plugin::parse(type, data)`, the one parser the control plane
//! and the data plane share, for every type (and a few refused ones), then the decisions a
//! parsed document makes on a request.
//!
//! Input: byte 0 picks the type; the document runs up to the first NUL byte; what follows
//! feeds the variables, addresses and headers the decisions are made on.
//!
//! Invariants checked:
//! - `parse` never panics; an unsupported type is refused as such;
//! - what the data plane builds from an accepted document is valid: routing route names and
//!   header constants are valid header values/names, HTTP route addresses are URIs with a
//!   scheme and a host; error messages, denial headers and transformed header values are
//!   valid header values;
//! - the decisions (`select`, `decide`, `apply`, `request_ops`, `response_ops`, CORS,
//!   ipControl, caching, circuit breaker) never panic; a selected route is one of the
//!   document's routes.
#![no_main]

use apigw_plugin::circuit_breaker::Outcome;
use apigw_plugin::ip_control::client_ip;
use apigw_plugin::routing::RouteBackend;
use apigw_plugin::transformer::{RequestOp, ResponseOp};
use apigw_plugin::{parse, PluginDoc, PluginError, Variable, Vars, SUPPORTED_TYPES};
use arbitrary::{Arbitrary, Unstructured};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Duration;

const REFUSED: &[&str] = &["basicAuth", "remoteAuth", "logMask", "Cors"];

/// What the decisions run on.
#[derive(Arbitrary, Debug)]
struct Env {
    values: Vec<Option<String>>,
    random: f64,
    origin: String,
    method: String,
    requested_headers: Option<String>,
    peer: [u8; 16],
    v4: bool,
    xff: Option<String>,
    app: i64,
    headers: Vec<(String, Vec<u8>)>,
    query: Option<String>,
    status: u16,
    timed_out: bool,
    latency_ms: u32,
}

struct Fixed<'a> {
    values: &'a [Option<String>],
    random: f64,
}

impl Vars for Fixed<'_> {
    fn value(&self, var: &Variable) -> Option<Cow<'_, str>> {
        if self.values.is_empty() {
            return None;
        }
        // The same variable always gets the same value.
        let h = var
            .to_string()
            .bytes()
            .fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        self.values[h % self.values.len()]
            .as_deref()
            .map(Cow::Borrowed)
    }

    fn random(&self) -> f64 {
        self.random
    }
}

fn header_value_ok(s: &str) -> bool {
    HeaderValue::from_str(s).is_ok()
}

fn run(doc: &PluginDoc, env: &Env) {
    let vars = Fixed {
        values: &env.values,
        random: env.random,
    };
    let mut headers = HeaderMap::new();
    for (n, v) in env.headers.iter().take(8) {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_bytes(v),
        ) {
            headers.append(n, v);
        }
    }
    let ip = if env.v4 {
        IpAddr::from([env.peer[0], env.peer[1], env.peer[2], env.peer[3]])
    } else {
        IpAddr::from(env.peer)
    };
    match doc {
        PluginDoc::Routing(r) => {
            for route in &r.routes {
                assert!(header_value_ok(&route.name), "route name {:?}", route.name);
                for c in &route.constant_parameters {
                    if c.location == apigw_plugin::ParamLocation::Header {
                        assert!(HeaderName::from_bytes(c.name.as_bytes()).is_ok(), "{c:?}");
                        assert!(header_value_ok(&c.value), "{c:?}");
                    }
                }
                if let RouteBackend::Http { address, .. } = &route.backend {
                    let uri: http::Uri = address
                        .trim_end_matches('/')
                        .parse()
                        .unwrap_or_else(|e| panic!("route address {address:?}: {e}"));
                    assert!(
                        uri.scheme().is_some() && uri.authority().is_some(),
                        "{address}"
                    );
                }
                if let RouteBackend::Mock { status, .. } = &route.backend {
                    assert!(StatusCode::from_u16(*status).is_ok());
                }
            }
            if let Some(chosen) = r.select(&vars) {
                assert!(r.routes.iter().any(|x| std::ptr::eq(x, chosen)));
            }
        }
        PluginDoc::AccessControl(a) => {
            if let apigw_plugin::access_control::Decision::Deny(d) = a.decide(&vars) {
                assert!(StatusCode::from_u16(d.status).is_ok());
                if let Some(m) = &d.message {
                    assert!(header_value_ok(m), "{m:?}");
                }
                for (_, v) in &d.headers {
                    assert!(header_value_ok(v), "{v:?}");
                }
            }
        }
        PluginDoc::ErrorMapping(m) => {
            if let Some((status, message)) = m.apply(&vars) {
                assert!(StatusCode::from_u16(status).is_ok());
                assert!(header_value_ok(&message), "{message:?}");
            }
        }
        PluginDoc::Transformer(t) => {
            for op in t.request_ops(&vars) {
                match op {
                    RequestOp::AddIfAbsent {
                        location: apigw_plugin::ParamLocation::Header,
                        value,
                        ..
                    }
                    | RequestOp::Put {
                        location: apigw_plugin::ParamLocation::Header,
                        value,
                        ..
                    } => assert!(header_value_ok(&value), "{value:?}"),
                    _ => {}
                }
            }
            for op in t.response_ops(&vars) {
                match op {
                    ResponseOp::AddHeaderIfAbsent(_, v) | ResponseOp::PutHeader(_, v) => {
                        assert!(header_value_ok(&v), "{v:?}")
                    }
                    ResponseOp::SetStatus(s) => assert!(StatusCode::from_u16(s).is_ok()),
                    ResponseOp::RemoveHeader(_) => {}
                }
            }
        }
        PluginDoc::Cors(c) => {
            let _ = c.origin_allowed(&env.origin);
            let _ = c.method_allowed(&env.method);
            let _ = c.preflight_headers(&env.origin, env.requested_headers.as_deref());
            let mut h = headers.clone();
            c.decorate(&env.origin, &mut h);
        }
        PluginDoc::IpControl(c) => {
            let _ = c.admits(ip);
            let _ = c.admits_app(env.app, ip);
            let xff = env
                .xff
                .as_deref()
                .and_then(|x| HeaderValue::from_str(x).ok());
            let _ = client_ip(c.source, ip, xff.as_ref(), &c.everyone);
        }
        PluginDoc::Caching(c) => {
            let _ = c.client_may_steer(Some(env.app));
            let _ = c.key(
                "api/RELEASE",
                "/p",
                env.query.as_deref(),
                &headers,
                Some(env.app),
            );
            if let Ok(status) = StatusCode::from_u16(env.status) {
                let _ = c.ttl_for(status, &headers);
            }
            let _ = c.stored_headers(&headers);
        }
        PluginDoc::CircuitBreaker(b) => {
            let _ = b.threshold();
            let _ = b.window();
            let _ = b.open_timeout();
            let outcome = Outcome {
                timed_out: env.timed_out,
                status: Some(env.status),
                latency: Duration::from_millis(u64::from(env.latency_ms)),
            };
            let failed = b.is_failure(&outcome);
            assert!(!env.timed_out || failed, "a timeout is always a failure");
        }
        PluginDoc::JwtAuth(j) => {
            let _ = j.token_location();
            let _ = j.key_ids().count();
        }
        PluginDoc::TrafficControl(_) | PluginDoc::BackendSignature(_) => {}
    }
    let _ = doc.backend_addresses();
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let all = SUPPORTED_TYPES.len() + REFUSED.len();
    let i = selector as usize % all;
    let plugin_type = if i < SUPPORTED_TYPES.len() {
        SUPPORTED_TYPES[i]
    } else {
        REFUSED[i - SUPPORTED_TYPES.len()]
    };
    let (doc_bytes, env_bytes) = match rest.iter().position(|&b| b == 0) {
        Some(n) => (&rest[..n], &rest[n + 1..]),
        None => (rest, &[][..]),
    };
    let text = String::from_utf8_lossy(doc_bytes);
    match parse(plugin_type, &text) {
        Err(PluginError::UnsupportedType(t)) => {
            assert!(!SUPPORTED_TYPES.contains(&t.as_str()));
        }
        Err(e) => {
            assert!(SUPPORTED_TYPES.contains(&plugin_type));
            let _ = e.to_string();
        }
        Ok(doc) => {
            assert_eq!(doc.plugin_type(), plugin_type);
            if let PluginDoc::BackendSignature(b) = &doc {
                let again =
                    apigw_plugin::backend_signature::BackendSignatureDoc::parse(&b.to_yaml())
                        .expect("to_yaml parses");
                assert_eq!(&again, b);
            }
            if let Ok(env) = Env::arbitrary(&mut Unstructured::new(env_bytes)) {
                run(&doc, &env);
            }
        }
    }
});
