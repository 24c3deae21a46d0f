//! The `trafficControl` plugin document (plugins.md §1.1): the unit, the API, user and app
//! defaults and the special limits per app and per user, with the ordering rules CloudAPI
//! enforces. Counting is the data plane's (`apigw_gateway::traffic`).

/// Largest `apiDefault` CloudAPI accepts.
pub const MAX_API_DEFAULT: i64 = 100_000_000;
/// The units, as the management API spells them.
pub const UNITS: [&str; 4] = ["SECOND", "MINUTE", "HOUR", "DAY"];

/// The length of a counting window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Second,
    Minute,
    Hour,
    Day,
}

impl Unit {
    pub fn parse(s: &str) -> Option<Unit> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "SECOND" => Unit::Second,
            "MINUTE" => Unit::Minute,
            "HOUR" => Unit::Hour,
            "DAY" => Unit::Day,
            _ => return None,
        })
    }

    pub fn millis(self) -> i64 {
        match self {
            Unit::Second => 1_000,
            Unit::Minute => 60_000,
            Unit::Hour => 3_600_000,
            Unit::Day => 86_400_000,
        }
    }
}

/// A `trafficControl` document read into numbers. [`TrafficDoc::parse`] checks its shape;
/// [`TrafficDoc::check_limits`] the ordering rules (the entry point [`crate::parse`] does both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficDoc {
    pub unit: Unit,
    /// `apiDefault`: all callers of the API together.
    pub api: u64,
    /// `userDefault`: per account owning the calling app.
    pub user: Option<u64>,
    /// `appDefault`: per app.
    pub app: Option<u64>,
    /// Special limits per AppId.
    pub special_apps: Vec<(i64, u64)>,
    /// Special limits per account id.
    pub special_users: Vec<(i64, u64)>,
}

impl TrafficDoc {
    /// Reads a plugin document (JSON or YAML, plugins.md §1.1).
    pub fn parse(doc: &str) -> Result<TrafficDoc, String> {
        let v: serde_json::Value =
            serde_norway::from_str(doc).map_err(|e| format!("not JSON or YAML: {e}"))?;
        let unit = v["unit"]
            .as_str()
            .and_then(Unit::parse)
            .ok_or("`unit` must be SECOND, MINUTE, HOUR or DAY")?;
        let api = number(&v["apiDefault"])?.ok_or("`apiDefault` is required")?;
        let mut doc = TrafficDoc {
            unit,
            api,
            user: number(&v["userDefault"])?,
            app: number(&v["appDefault"])?,
            special_apps: Vec::new(),
            special_users: Vec::new(),
        };
        for special in v["specials"].as_array().into_iter().flatten() {
            let kind = special["type"].as_str().unwrap_or("").to_ascii_uppercase();
            for p in special["policies"].as_array().into_iter().flatten() {
                let key = number(&p["key"])?.ok_or("a special policy needs a `key`")?;
                let value = number(&p["value"])?.ok_or("a special policy needs a `value`")?;
                let key = i64::try_from(key).map_err(|_| "special `key` is too large")?;
                match kind.as_str() {
                    "APP" => doc.special_apps.push((key, value)),
                    "USER" => doc.special_users.push((key, value)),
                    other => return Err(format!("special `type` `{other}` is not APP or USER")),
                }
            }
        }
        Ok(doc)
    }
}

/// A whole number from a JSON number or numeric string; `None` when absent.
fn number(v: &serde_json::Value) -> Result<Option<u64>, String> {
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{n} is not a positive whole number")),
        serde_json::Value::String(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("`{s}` is not a number")),
        other => Err(format!("{other} is not a number")),
    }
}

impl TrafficDoc {
    /// The ordering rules of [`check_limits`] applied to this document.
    pub fn check_limits(&self) -> Result<(), LimitError> {
        let big = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let specials: Vec<i64> = self
            .special_apps
            .iter()
            .chain(&self.special_users)
            .map(|(_, v)| big(*v))
            .collect();
        check_limits(
            unit_name(self.unit),
            big(self.api),
            self.user.map(big),
            self.app.map(big),
            &specials,
        )
    }
}

fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Second => "SECOND",
        Unit::Minute => "MINUTE",
        Unit::Hour => "HOUR",
        Unit::Day => "DAY",
    }
}

/// A limit that breaks an ordering rule, named as the management API names it
/// (`TrafficControlUnit`, `ApiDefault`, `UserDefault`, `AppDefault`, `SpecialValue`), so that
/// the control plane answers `Invalid<parameter>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError {
    pub parameter: &'static str,
    pub message: String,
}

/// `appDefault ≤ userDefault ≤ apiDefault ≤ 100,000,000`, all positive; specials ≤ apiDefault.
pub fn check_limits(
    unit: &str,
    api_default: i64,
    user_default: Option<i64>,
    app_default: Option<i64>,
    specials: &[i64],
) -> Result<(), LimitError> {
    let fail = |parameter: &'static str, message: String| Err(LimitError { parameter, message });
    if !UNITS.contains(&unit.to_ascii_uppercase().as_str()) {
        return fail(
            "TrafficControlUnit",
            format!("`{unit}` is not SECOND, MINUTE, HOUR or DAY"),
        );
    }
    if !(1..=MAX_API_DEFAULT).contains(&api_default) {
        return fail(
            "ApiDefault",
            format!("must be 1..{MAX_API_DEFAULT}, got {api_default}"),
        );
    }
    if let Some(u) = user_default {
        if u < 1 || u > api_default {
            return fail(
                "UserDefault",
                format!("must be 1..ApiDefault ({api_default}), got {u}"),
            );
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
            return fail(
                "AppDefault",
                format!("must be 1..{which} ({ceiling}), got {a}"),
            );
        }
    }
    if let Some(s) = specials.iter().find(|&&s| s < 1 || s > api_default) {
        return fail(
            "SpecialValue",
            format!("a special limit must be 1..ApiDefault ({api_default}), got {s}"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        assert!(TrafficDoc::parse(r#"{"unit":"SECOND","apiDefault":100}"#).is_ok());
        assert!(TrafficDoc::parse("unit: WEEK\napiDefault: 1").is_err());
        assert!(TrafficDoc::parse("unit: SECOND").is_err());
        assert!(TrafficDoc::parse("unit: SECOND\napiDefault: -1").is_err());
        assert!(TrafficDoc::parse(
            "unit: SECOND\napiDefault: 5\nspecials: [{type: IP, policies: [{key: 1, value: 1}]}]"
        )
        .is_err());
    }
}
