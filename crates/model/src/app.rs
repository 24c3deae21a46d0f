//! Apps (API consumers), their credentials, and their authorizations per API and stage.

use crate::error::ModelError;
use crate::group::validate_name;
use crate::stage::Stage;
use serde::{Deserialize, Serialize};

/// Most AppKey/AppSecret pairs and most AppCodes one app may hold.
pub const MAX_KEYS_PER_APP: usize = 5;
pub const MAX_CODES_PER_APP: usize = 5;

/// A consumer app. `AppId` is a 64-bit number, as in CloudAPI (ids exceed 2^31).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct App {
    pub app_id: i64,
    pub app_name: String,
    /// The account that owns the app. Apps may be authorized on other accounts' APIs.
    #[serde(default = "crate::account::root_account")]
    pub owner_id: i64,
    #[serde(default)]
    pub description: String,
    /// Opaque text, passed to backends as the system parameter `CaAppExtendInfo`.
    #[serde(default)]
    pub extend: String,
    /// A disabled app cannot call any API (`A400IK`/`A400AC`, as if unknown).
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub keys: Vec<AppKeyPair>,
    #[serde(default)]
    pub app_codes: Vec<String>,
    #[serde(default)]
    pub created_time: String,
    #[serde(default)]
    pub modified_time: String,
}

/// One AppKey and its secret. After a reset the previous secret stays valid until
/// `PreviousSecretValidUntil` (milliseconds since the epoch), so callers can roll over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AppKeyPair {
    pub app_key: String,
    pub app_secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_valid_until: Option<i64>,
}

impl AppKeyPair {
    /// The secrets a signature may be made with at `now_ms`: the current one first.
    pub fn secrets_at(&self, now_ms: i64) -> impl Iterator<Item = &str> {
        let previous = match (&self.previous_secret, self.previous_secret_valid_until) {
            (Some(s), Some(until)) if now_ms < until => Some(s.as_str()),
            _ => None,
        };
        std::iter::once(self.app_secret.as_str()).chain(previous)
    }
}

/// A grant: `AppId` may call `ApiId` in `StageName`, until `AuthValidTime` when set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Authorization {
    pub app_id: i64,
    pub api_id: String,
    pub group_id: String,
    pub stage_name: Stage,
    /// UTC `YYYY-MM-DDThh:mm:ssZ`; absent = never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_valid_time: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub authorized_time: String,
}

impl Authorization {
    /// Expiry in milliseconds since the epoch (None = never).
    pub fn expires_at_ms(&self) -> Option<i64> {
        self.auth_valid_time.as_deref().and_then(parse_utc_ms)
    }
}

impl App {
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_name("AppName", &self.app_name)?;
        if self.app_id <= 0 {
            return Err(ModelError::invalid("AppId", "must be a positive number"));
        }
        if self.keys.len() > MAX_KEYS_PER_APP {
            return Err(ModelError::new(
                "AppKeyLimitExceeded",
                format!("an app holds at most {MAX_KEYS_PER_APP} AppKeys"),
            ));
        }
        if self.app_codes.len() > MAX_CODES_PER_APP {
            return Err(ModelError::new(
                "AppCodeLimitExceeded",
                format!("an app holds at most {MAX_CODES_PER_APP} AppCodes"),
            ));
        }
        for k in &self.keys {
            validate_app_key(&k.app_key)?;
            validate_app_secret(&k.app_secret)?;
        }
        for c in &self.app_codes {
            validate_app_code(c)?;
        }
        Ok(())
    }
}

fn plain_token(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// AppKeys travel in `X-Ca-Key`: 1-64 characters of letters, digits, `_`, `-`, `.`.
pub fn validate_app_key(key: &str) -> Result<(), ModelError> {
    if key.is_empty() {
        return Err(ModelError::missing("AppKey"));
    }
    if key.len() > 64 || !plain_token(key) {
        return Err(ModelError::invalid(
            "AppKey",
            "1-64 characters: letters, digits, `_`, `-`, `.`",
        ));
    }
    Ok(())
}

/// Secrets: 8-128 visible ASCII characters (the HMAC key is their UTF-8 bytes).
pub fn validate_app_secret(secret: &str) -> Result<(), ModelError> {
    if secret.is_empty() {
        return Err(ModelError::missing("AppSecret"));
    }
    if !(8..=128).contains(&secret.len()) || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ModelError::invalid(
            "AppSecret",
            "8-128 visible ASCII characters",
        ));
    }
    Ok(())
}

/// AppCodes travel in `Authorization: APPCODE <code>`: 8-64 letters, digits, `_`, `-`, `.`.
pub fn validate_app_code(code: &str) -> Result<(), ModelError> {
    if code.is_empty() {
        return Err(ModelError::missing("AppCode"));
    }
    if !(8..=64).contains(&code.len()) || !plain_token(code) {
        return Err(ModelError::invalid(
            "AppCode",
            "8-64 characters: letters, digits, `_`, `-`, `.`",
        ));
    }
    Ok(())
}

/// Checks an `AuthValidTime` value (`YYYY-MM-DDThh:mm:ssZ`).
pub fn validate_auth_valid_time(value: &str) -> Result<(), ModelError> {
    parse_utc_ms(value)
        .map(|_| ())
        .ok_or_else(|| ModelError::invalid("AuthValidTime", "expected UTC `YYYY-MM-DDThh:mm:ssZ`"))
}

/// Parses UTC `YYYY-MM-DDThh:mm:ssZ` (fractional seconds allowed) to milliseconds since the
/// epoch. Pure arithmetic, no clock.
pub fn parse_utc_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix('z'))?;
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=days_in_month(y, m)).contains(&day) {
        return None;
    }
    let (hms, frac) = match time.split_once('.') {
        Some((a, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (a, f),
        Some(_) => return None,
        None => (time, ""),
    };
    let mut t = hms.split(':');
    let (hh, mm, ss): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if t.next().is_some() || hh > 23 || mm > 59 || ss > 59 || hh < 0 || mm < 0 || ss < 0 {
        return None;
    }
    let millis: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    let days = days_from_civil(y, m, day);
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + millis)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_parse() {
        assert_eq!(parse_utc_ms("1970-01-01T00:00:00Z"), Some(0));
        // 2023-11-14T22:13:20Z is 1_700_000_000 s.
        assert_eq!(
            parse_utc_ms("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_utc_ms("2023-11-14T22:13:20.123Z"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_utc_ms("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        for bad in [
            "",
            "2023-11-14",
            "2023-13-01T00:00:00Z",
            "2023-02-30T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:20",
            "x",
        ] {
            assert_eq!(parse_utc_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn previous_secret_only_within_grace() {
        let k = AppKeyPair {
            app_key: "k".into(),
            app_secret: "new-secret".into(),
            previous_secret: Some("old-secret".into()),
            previous_secret_valid_until: Some(1000),
        };
        assert_eq!(
            k.secrets_at(999).collect::<Vec<_>>(),
            ["new-secret", "old-secret"]
        );
        assert_eq!(k.secrets_at(1000).collect::<Vec<_>>(), ["new-secret"]);
    }

    #[test]
    fn credentials_are_checked() {
        assert!(validate_app_key("203753385").is_ok());
        assert!(validate_app_key("a b").is_err());
        assert!(validate_app_secret("short").is_err());
        assert!(validate_app_secret("Sec-8f2b1c7e4a").is_ok());
        assert!(validate_app_code("0123456789abcdef").is_ok());
        assert!(validate_app_code("has space in it").is_err());
    }
}
