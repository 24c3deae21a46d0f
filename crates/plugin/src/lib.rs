//! apigw's plugin documents (spec `plugins.md`): one typed parser per plugin type this gateway
//! runs, and [`parse`], the one entry point the control plane (to accept or refuse a document)
//! and the data plane (to compile it) both call, so that what is accepted is exactly what runs.
//!
//! Pure code: no I/O, no clock, no runtime state. Counters, breaker state, the response cache
//! and request handling are the data plane's (`apigw-gateway`); this crate holds what a
//! document says and the decisions that follow from it.
//!
//! | `PluginType` | module | document type |
//! |---|---|---|
//! | `jwtAuth` | `apigw_jwt` | [`apigw_jwt::JwtConfig`] |
//! | `trafficControl` | [`traffic`] | [`traffic::TrafficDoc`] |
//! | `ipControl` | [`ip_control`] | [`ip_control::IpControl`] |
//! | `cors` | [`cors`] | [`cors::Cors`] |
//! | `caching` | [`caching`] | [`caching::CachePolicy`] |
//! | `circuitBreaker` | [`circuit_breaker`] | [`circuit_breaker::BreakerConfig`] |
//! | `backendSignature` | [`backend_signature`] | [`backend_signature::BackendSignatureDoc`] |
//! | `routing` | [`routing`] | [`routing::Routing`] |
//! | `errorMapping` | [`error_mapping`] | [`error_mapping::ErrorMapping`] |
//! | `accessControl` | [`access_control`] | [`access_control::AccessControl`] |
//! | `transformer` | [`transformer`] | [`transformer::Transformer`] |
//!
//! The last four read variables and conditions written in the expression language of
//! [`expr`] (plugins.md §0.1); the data plane supplies the values through [`expr::Vars`].
//!
//! Every other type (`basicAuth`, `remoteAuth`, `logMask`, unknown ones) is refused with
//! [`PluginError::UnsupportedType`]: a document this gateway would store but never execute is
//! not accepted. Documents are JSON or YAML (a YAML document may start with `---`), at most
//! [`MAX_DOCUMENT_BYTES`].
#![forbid(unsafe_code)]

pub mod access_control;
pub mod backend_signature;
pub mod caching;
pub mod circuit_breaker;
pub mod cors;
mod doc;
pub mod error_mapping;
pub mod expr;
pub mod ip_control;
pub mod routing;
pub mod traffic;
pub mod transformer;

pub use apigw_jwt::JwtConfig;
pub use doc::ParamLocation;
pub use expr::{Condition, Parameters, Phase, Template, Variable, Vars};

use std::fmt;

/// Largest plugin document, in bytes (50 KB).
pub const MAX_DOCUMENT_BYTES: usize = apigw_model::plugin::MAX_PLUGIN_DATA_BYTES;

/// The plugin types this gateway runs, as `PluginType` spells them.
pub const SUPPORTED_TYPES: [&str; 11] = [
    "jwtAuth",
    "trafficControl",
    "ipControl",
    "cors",
    "caching",
    "circuitBreaker",
    "backendSignature",
    "routing",
    "errorMapping",
    "accessControl",
    "transformer",
];

/// A parsed plugin document, one variant per supported type.
#[derive(Debug)]
pub enum PluginDoc {
    JwtAuth(JwtConfig),
    TrafficControl(traffic::TrafficDoc),
    IpControl(ip_control::IpControl),
    Cors(cors::Cors),
    Caching(caching::CachePolicy),
    CircuitBreaker(circuit_breaker::BreakerConfig),
    BackendSignature(backend_signature::BackendSignatureDoc),
    Routing(routing::Routing),
    ErrorMapping(error_mapping::ErrorMapping),
    AccessControl(access_control::AccessControl),
    Transformer(transformer::Transformer),
}

impl PluginDoc {
    /// The backend addresses this document sends requests to: a routing plugin's HTTP routes
    /// and a circuit breaker's HTTP downgrade (each is checked like a `ServiceAddress`).
    pub fn backend_addresses(&self) -> Vec<&str> {
        match self {
            PluginDoc::Routing(r) => r
                .routes
                .iter()
                .filter_map(|route| match &route.backend {
                    routing::RouteBackend::Http { address, .. } => Some(address.as_str()),
                    _ => None,
                })
                .collect(),
            PluginDoc::CircuitBreaker(b) => b
                .downgrade()
                .and_then(|d| d.http.as_ref())
                .map(|(address, _)| vec![address.as_str()])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The `PluginType` of this document.
    pub fn plugin_type(&self) -> &'static str {
        match self {
            PluginDoc::JwtAuth(_) => "jwtAuth",
            PluginDoc::TrafficControl(_) => "trafficControl",
            PluginDoc::IpControl(_) => "ipControl",
            PluginDoc::Cors(_) => "cors",
            PluginDoc::Caching(_) => "caching",
            PluginDoc::CircuitBreaker(_) => "circuitBreaker",
            PluginDoc::BackendSignature(_) => "backendSignature",
            PluginDoc::Routing(_) => "routing",
            PluginDoc::ErrorMapping(_) => "errorMapping",
            PluginDoc::AccessControl(_) => "accessControl",
            PluginDoc::Transformer(_) => "transformer",
        }
    }
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// A plugin type this gateway does not run (`basicAuth`, `remoteAuth`, `logMask`, unknown).
    UnsupportedType(String),
    /// The document is larger than [`MAX_DOCUMENT_BYTES`].
    TooLarge(usize),
    /// The document is not valid for its type; the text says what is wrong.
    Invalid(String),
    /// A `trafficControl` limit breaks an ordering rule (reported under its own parameter).
    Limit(traffic::LimitError),
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginError::UnsupportedType(t) => write!(
                f,
                "plugin type `{t}` is not supported by this gateway (supported: {})",
                SUPPORTED_TYPES.join(", ")
            ),
            PluginError::TooLarge(n) => {
                write!(f, "larger than {MAX_DOCUMENT_BYTES} bytes ({n} bytes)")
            }
            PluginError::Invalid(why) => f.write_str(why),
            PluginError::Limit(l) => write!(f, "`{}`: {}", l.parameter, l.message),
        }
    }
}

impl std::error::Error for PluginError {}

/// Parses a plugin document of `plugin_type` (JSON or YAML).
pub fn parse(plugin_type: &str, data: &str) -> Result<PluginDoc, PluginError> {
    if !SUPPORTED_TYPES.contains(&plugin_type) {
        return Err(PluginError::UnsupportedType(plugin_type.to_string()));
    }
    if data.len() > MAX_DOCUMENT_BYTES {
        return Err(PluginError::TooLarge(data.len()));
    }
    let doc = match plugin_type {
        "jwtAuth" => JwtConfig::parse(data).map(PluginDoc::JwtAuth),
        "trafficControl" => {
            let doc = traffic::TrafficDoc::parse(data).map_err(PluginError::Invalid)?;
            doc.check_limits().map_err(PluginError::Limit)?;
            Ok(PluginDoc::TrafficControl(doc))
        }
        "ipControl" => ip_control::IpControl::parse(data).map(PluginDoc::IpControl),
        "cors" => cors::Cors::parse(data).map(PluginDoc::Cors),
        "caching" => caching::CachePolicy::parse(data).map(PluginDoc::Caching),
        "circuitBreaker" => {
            circuit_breaker::BreakerConfig::parse(data).map(PluginDoc::CircuitBreaker)
        }
        "backendSignature" => {
            backend_signature::BackendSignatureDoc::parse(data).map(PluginDoc::BackendSignature)
        }
        "routing" => routing::Routing::parse(data).map(PluginDoc::Routing),
        "errorMapping" => error_mapping::ErrorMapping::parse(data).map(PluginDoc::ErrorMapping),
        "accessControl" => access_control::AccessControl::parse(data).map(PluginDoc::AccessControl),
        "transformer" => transformer::Transformer::parse(data).map(PluginDoc::Transformer),
        other => return Err(PluginError::UnsupportedType(other.to_string())),
    };
    doc.map_err(PluginError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_type_parses_a_document() {
        let docs = [
            (
                "jwtAuth",
                r#"{"jwk": {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "alg": "HS256"}}"#,
            ),
            ("trafficControl", "---\nunit: MINUTE\napiDefault: 10\n"),
            ("ipControl", "type: REFUSE\nitems: [{blocks: [10.0.0.0/8]}]"),
            ("cors", "allowOrigins: '*'"),
            ("caching", "duration: 60"),
            (
                "circuitBreaker",
                "timeoutThreshold: 3\nwindowInSeconds: 30\nopenTimeoutSeconds: 15",
            ),
            ("backendSignature", "type: APIGW_BACKEND\nkey: k\nsecret: s"),
            ("routing", "routes: [{name: m, condition: '1 = 1', backend: {type: MOCK}}]"),
            ("errorMapping", "errorCondition: '$CaStage = null'\nmappings: []\ndefaultMapping: {statusCode: 500}"),
            ("accessControl", "rules: [{name: r, condition: '1 = 1', ifTrue: ALLOW}]"),
            ("transformer", "responseTransformer: [{action: removeResponseHeader, name: Server}]"),
        ];
        for (t, data) in docs {
            let doc = parse(t, data).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(doc.plugin_type(), t);
        }
        assert_eq!(docs.len(), SUPPORTED_TYPES.len());
    }

    #[test]
    fn other_types_are_refused() {
        for t in ["basicAuth", "remoteAuth", "logMask", "unknown", "", "Cors"] {
            let e = parse(t, "{}").unwrap_err();
            assert_eq!(e, PluginError::UnsupportedType(t.to_string()));
            assert!(
                e.to_string().contains("not supported by this gateway"),
                "{e}"
            );
        }
    }

    #[test]
    fn size_limit() {
        let big = format!("allowOrigins: '*'\n#{}\n", "x".repeat(MAX_DOCUMENT_BYTES));
        assert!(matches!(parse("cors", &big), Err(PluginError::TooLarge(_))));
    }

    #[test]
    fn traffic_limits_are_ordered() {
        let e = parse(
            "trafficControl",
            "unit: MINUTE\napiDefault: 10\nappDefault: 20",
        )
        .unwrap_err();
        match e {
            PluginError::Limit(l) => assert_eq!(l.parameter, "AppDefault"),
            other => panic!("{other:?}"),
        }
        let e = parse("trafficControl", "unit: WEEK\napiDefault: 10").unwrap_err();
        assert!(matches!(e, PluginError::Invalid(_)), "{e:?}");
    }
}
