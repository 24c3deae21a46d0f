//! Throttling policies (`trafficControl` plugins and the legacy `CreateTrafficControl`): the
//! limits and their ordering rules, checked when a policy is created or changed.

use apigw_model::ModelError;
use serde_json::Value;

/// Largest `apiDefault` CloudAPI accepts.
pub const MAX_API_DEFAULT: i64 = 100_000_000;
pub const UNITS: [&str; 4] = ["SECOND", "MINUTE", "HOUR", "DAY"];

/// `appDefault ≤ userDefault ≤ apiDefault ≤ 100,000,000`, all positive; specials ≤ apiDefault.
pub fn check_limits(
    unit: &str,
    api_default: i64,
    user_default: Option<i64>,
    app_default: Option<i64>,
    specials: &[i64],
) -> Result<(), ModelError> {
    if !UNITS.contains(&unit.to_ascii_uppercase().as_str()) {
        return Err(ModelError::invalid(
            "TrafficControlUnit",
            format!("`{unit}` is not SECOND, MINUTE, HOUR or DAY"),
        ));
    }
    if !(1..=MAX_API_DEFAULT).contains(&api_default) {
        return Err(ModelError::invalid(
            "ApiDefault",
            format!("must be 1..{MAX_API_DEFAULT}, got {api_default}"),
        ));
    }
    if let Some(u) = user_default {
        if u < 1 || u > api_default {
            return Err(ModelError::invalid(
                "UserDefault",
                format!("must be 1..ApiDefault ({api_default}), got {u}"),
            ));
        }
    }
    if let Some(a) = app_default {
        let ceiling = user_default.unwrap_or(api_default);
        let which = if user_default.is_some() {
            "UserDefault"
        } else {
            "ApiDefault"
        };
        if a < 1 || a > ceiling {
            return Err(ModelError::invalid(
                "AppDefault",
                format!("must be 1..{which} ({ceiling}), got {a}"),
            ));
        }
    }
    if let Some(s) = specials.iter().find(|&&s| s < 1 || s > api_default) {
        return Err(ModelError::invalid(
            "SpecialValue",
            format!("a special limit must be 1..ApiDefault ({api_default}), got {s}"),
        ));
    }
    Ok(())
}

/// Checks a `trafficControl` plugin document (JSON or YAML, plugins.md §1.1).
pub fn check_document(doc: &str) -> Result<(), ModelError> {
    let v: Value = serde_norway::from_str(doc)
        .map_err(|e| ModelError::invalid("PluginData", format!("not JSON or YAML: {e}")))?;
    let int = |name: &str| -> Result<Option<i64>, ModelError> {
        match &v[name] {
            Value::Null => Ok(None),
            Value::Number(n) => n.as_i64().map(Some).ok_or_else(|| {
                ModelError::invalid("PluginData", format!("`{name}` is not a whole number"))
            }),
            Value::String(s) => s.trim().parse().map(Some).map_err(|_| {
                ModelError::invalid("PluginData", format!("`{name}` is not a number"))
            }),
            _ => Err(ModelError::invalid(
                "PluginData",
                format!("`{name}` is not a number"),
            )),
        }
    };
    let unit = v["unit"].as_str().ok_or_else(|| {
        ModelError::invalid(
            "PluginData",
            "`unit` (SECOND, MINUTE, HOUR or DAY) is required",
        )
    })?;
    let api = int("apiDefault")?
        .ok_or_else(|| ModelError::invalid("PluginData", "`apiDefault` is required"))?;
    let specials: Vec<i64> = v["specials"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["policies"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["value"].as_i64())
        .collect();
    check_limits(
        unit,
        api,
        int("userDefault")?,
        int("appDefault")?,
        &specials,
    )
}

/// Checks an `ipControl` plugin document with the data plane's parser (plugins.md §2):
/// `type` ALLOW or REFUSE, `items` with `blocks` of IPs or CIDR blocks (IPv4/IPv6), `appId`
/// only in ALLOW mode, `resource: XFF:<i>`.
pub fn check_ip_document(doc: &str) -> Result<(), ModelError> {
    apigw_gateway::ipcontrol::IpControl::parse(doc)
        .map(|_| ())
        .map_err(|why| ModelError::invalid("PluginData", why))
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
