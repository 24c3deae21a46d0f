//! Throttling policies (`trafficControl` plugins and the legacy `CreateTrafficControl`): the
//! limits and their ordering rules, checked when a policy is created or changed.

use apigw_model::ModelError;

pub use apigw_plugin::traffic::{MAX_API_DEFAULT, UNITS};

/// `appDefault ≤ userDefault ≤ apiDefault ≤ 100,000,000`, all positive; specials ≤ apiDefault
/// (`apigw_plugin::traffic::check_limits`, answered as `Invalid<Parameter>`).
pub fn check_limits(
    unit: &str,
    api_default: i64,
    user_default: Option<i64>,
    app_default: Option<i64>,
    specials: &[i64],
) -> Result<(), ModelError> {
    apigw_plugin::traffic::check_limits(unit, api_default, user_default, app_default, specials)
        .map_err(|l| ModelError::invalid(l.parameter, l.message))
}

/// Checks a `trafficControl` plugin document (JSON or YAML, plugins.md §1.1) with the data
/// plane's parser, then its limits' order.
pub fn check_document(doc: &str) -> Result<(), ModelError> {
    apigw_plugin::parse("trafficControl", doc)
        .map(|_| ())
        .map_err(crate::plugins::plugin_error)
}

/// Checks an `ipControl` plugin document with the data plane's parser (plugins.md §2):
/// `type` ALLOW or REFUSE, `items` with `blocks` of IPs or CIDR blocks (IPv4/IPv6), `appId`
/// only in ALLOW mode, `resource: XFF:<i>`.
pub fn check_ip_document(doc: &str) -> Result<(), ModelError> {
    apigw_plugin::parse("ipControl", doc)
        .map(|_| ())
        .map_err(crate::plugins::plugin_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_rules() {
        assert!(check_limits("MINUTE", 100, Some(50), Some(10), &[]).is_ok());
        assert_eq!(
            check_limits("MINUTE", 100, Some(500), None, &[])
                .unwrap_err()
                .code,
            "InvalidUserDefault"
        );
        assert_eq!(
            check_limits("MINUTE", 100, Some(50), Some(60), &[])
                .unwrap_err()
                .code,
            "InvalidAppDefault"
        );
        assert_eq!(
            check_limits("MINUTE", 100, None, Some(101), &[])
                .unwrap_err()
                .code,
            "InvalidAppDefault"
        );
        assert_eq!(
            check_limits("MINUTE", 0, None, None, &[]).unwrap_err().code,
            "InvalidApiDefault"
        );
        assert_eq!(
            check_limits("MINUTE", MAX_API_DEFAULT + 1, None, None, &[])
                .unwrap_err()
                .code,
            "InvalidApiDefault"
        );
        assert_eq!(
            check_limits("WEEK", 10, None, None, &[]).unwrap_err().code,
            "InvalidTrafficControlUnit"
        );
        assert_eq!(
            check_limits("SECOND", 10, None, None, &[11])
                .unwrap_err()
                .code,
            "InvalidSpecialValue"
        );
    }

    #[test]
    fn plugin_documents() {
        let ok = "---\nunit: SECOND\napiDefault: 1000\nuserDefault: 30\nappDefault: 30\nspecials:\n  - type: APP\n    policies:\n      - {key: 10123123, value: 10}\n";
        assert!(check_document(ok).is_ok());
        assert!(check_document(r#"{"unit":"MINUTE","apiDefault":10,"appDefault":20}"#).is_err());
        assert!(check_document("unit: MINUTE").is_err());
        assert!(
            check_ip_document("type: ALLOW\nitems: [{blocks: [10.0.0.0/8, '::1'], appId: 3}]")
                .is_ok()
        );
        assert!(check_ip_document("type: REFUSE\nitems: [{blocks: [10.0.0.0/33]}]").is_err());
        assert!(check_ip_document("type: REFUSE\nitems: [{blocks: [1.2.3.4], appId: 3}]").is_err());
    }
}
