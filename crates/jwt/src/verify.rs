//! Token verification (plugins.md §3, steps 2–6 and 8).

use crate::config::{JwtConfig, TokenLocation};
use crate::key::{parse_alg, Key, B64URL};
use apigw_model::codes::{self, ErrorCode};
use base64::Engine;
use serde_json::{Map, Value};
use std::fmt;

/// Seconds a token's `nbf` may lie in the future (issuer clock ahead of ours).
///
/// `exp` gets no leeway: the gateway remembers a `jti` until `exp`, so accepting a token past
/// its `exp` could accept a replay whose `jti` was already forgotten.
pub const NBF_LEEWAY_SECS: u64 = 5;

/// Longest token or `kid` echoed back in an error message.
const ECHO_MAX: usize = 1024;

/// A token that passed verification.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// The token's claims (payload), as sent.
    pub claims: Map<String, Value>,
    /// The `jti` claim: a non-empty string, or a number as decimal text.
    pub jti: Option<String>,
    /// Until when (Unix seconds, exclusive) the token is accepted: the `exp` claim rounded up.
    /// `None` when the token has no `exp` or the plugin sets `ignoreExpirationCheck`, i.e. the
    /// token never expires here (a jti memory should then use its own default retention).
    pub exp: Option<u64>,
}

impl Verified {
    /// The `claimParameters` to forward, in document order: (location, backend parameter name,
    /// value as text). Claims absent from the token, or `null`, are skipped.
    pub fn forwarded(&self, cfg: &JwtConfig) -> Vec<(TokenLocation, String, String)> {
        cfg.claim_parameters
            .iter()
            .filter_map(|p| {
                let value = self.claim_text(&p.claim_name)?;
                Some((p.location, p.parameter_name.clone(), value))
            })
            .collect()
    }

    /// A claim as text (for `Token:<claim>` in later plugins): strings as-is, numbers in
    /// decimal, booleans `true`/`false`, arrays and objects as compact JSON; `None` when the
    /// claim is absent or `null`.
    pub fn claim_text(&self, name: &str) -> Option<String> {
        match self.claims.get(name)? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => Some(other.to_string()),
        }
    }
}

/// Why a token was refused: the error-table row and its filled-in message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static ErrorCode,
    pub message: String,
}

impl Rejection {
    fn new(code: &'static ErrorCode, values: &[&str]) -> Rejection {
        Rejection {
            code,
            message: code.message(values),
        }
    }

    fn invalid(reason: &str) -> Rejection {
        Rejection::new(&codes::A403JT, &[reason])
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.code, self.message)
    }
}

impl std::error::Error for Rejection {}

/// Strips a leading `Bearer` scheme word (case-insensitive) and surrounding whitespace from a
/// token parameter value. `"Bearer"` alone gives `""`.
pub fn strip_bearer(raw: &str) -> &str {
    let raw = raw.trim();
    match raw.as_bytes().get(..6) {
        Some(word) if word.eq_ignore_ascii_case(b"bearer") => {
            let rest = &raw[6..];
            if rest.is_empty() {
                ""
            } else if rest.starts_with(|c: char| c.is_ascii_whitespace()) {
                rest.trim_start()
            } else {
                raw
            }
        }
        _ => raw,
    }
}

/// The decoded parts of a compact JWS.
struct Parsed<'a> {
    /// `header.payload`, the signed bytes.
    message: &'a str,
    signature: &'a str,
    alg: String,
    kid: Option<String>,
    crit: bool,
    claims: Map<String, Value>,
}

fn parse(token: &str) -> Option<Parsed<'_>> {
    let mut parts = token.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || h.is_empty() || p.is_empty() {
        return None;
    }
    let message = &token[..h.len() + 1 + p.len()];
    let header = object(h)?;
    let alg = match header.get("alg")? {
        Value::String(a) => a.clone(),
        _ => return None,
    };
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return None,
    };
    Some(Parsed {
        message,
        signature: s,
        alg,
        kid,
        crit: header.contains_key("crit"),
        claims: object(p)?,
    })
}

fn object(part: &str) -> Option<Map<String, Value>> {
    let bytes = B64URL.decode(part).ok()?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A NumericDate claim (RFC 7519 §2): `Ok(None)` when absent, `Err` when not a number.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Rejection> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(Rejection::invalid(&format!(
            "claim `{name}` is not a NumericDate"
        ))),
    }
}

impl JwtConfig {
    /// Verifies a token at `now_unix` (seconds since the epoch).
    ///
    /// `token` is the raw parameter value; a leading `Bearer ` scheme word is stripped
    /// (see [`strip_bearer`]). An absent token is the caller's decision (`I400JR` unless
    /// `bypass_empty_token`). The `jti` replay memory is the caller's too: this checks only that
    /// a `jti` is present when `prevent_jti_replay` is set, and exposes it with `exp`.
    pub fn verify(&self, token: &str, now_unix: u64) -> Result<Verified, Rejection> {
        let token = strip_bearer(token);
        // 2. Deserialize.
        let Some(parsed) = parse(token) else {
            return Err(Rejection::new(
                &codes::I400JD,
                &[&crate::printable(token, ECHO_MAX)],
            ));
        };

        // 3. Select the candidate keys.
        let candidates: Vec<&Key> = match &parsed.kid {
            Some(kid) => match self.keys.iter().find(|k| k.kid.as_ref() == Some(kid)) {
                Some(key) => vec![key],
                None => {
                    return Err(Rejection::new(
                        &codes::A403JK,
                        &[&crate::printable(kid, ECHO_MAX)],
                    ))
                }
            },
            None => {
                let keyless = self.keys.iter().filter(|k| k.kid.is_none());
                keyless
                    .chain(self.keys.iter().filter(|k| k.kid.is_some()))
                    .collect()
            }
        };

        // 4. Algorithm and signature.
        let alg = parse_alg(&parsed.alg).map_err(|why| Rejection::invalid(&why))?;
        if parsed.crit {
            return Err(Rejection::invalid("unsupported critical header `crit`"));
        }
        let usable: Vec<&Key> = candidates.into_iter().filter(|k| k.accepts(alg)).collect();
        if usable.is_empty() {
            let why = match &parsed.kid {
                Some(_) => format!("algorithm `{}` does not match the JWK", parsed.alg),
                None => format!("no JWK for algorithm `{}`", parsed.alg),
            };
            return Err(Rejection::invalid(&why));
        }
        if !usable
            .iter()
            .any(|k| k.verify(alg, parsed.message, parsed.signature))
        {
            return Err(Rejection::invalid("signature verification failed"));
        }

        // 5. Time claims.
        let claims = parsed.claims;
        let mut exp_until = None;
        if !self.ignore_expiration_check {
            if let Some(exp) = numeric_date(&claims, "exp")? {
                if now_unix as f64 >= exp {
                    return Err(Rejection::new(&codes::A403JE, &[&rfc3339(exp)]));
                }
                exp_until = Some(exp.ceil() as u64);
            }
        }
        if let Some(nbf) = numeric_date(&claims, "nbf")? {
            if nbf > now_unix.saturating_add(NBF_LEEWAY_SECS) as f64 {
                return Err(Rejection::invalid(&format!(
                    "token is not valid before `{}`",
                    rfc3339(nbf)
                )));
            }
        }

        // 6. jti.
        let jti = match claims.get("jti") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if self.prevent_jti_replay && jti.is_none() {
            return Err(Rejection::new(&codes::S403JI, &[]));
        }

        Ok(Verified {
            claims,
            jti,
            exp: exp_until,
        })
    }
}

/// A NumericDate as RFC 3339 UTC with seconds, e.g. `2024-05-01T12:00:00Z` (fractions are
/// truncated; dates outside years 0–9999 are clamped to them).
pub(crate) fn rfc3339(secs: f64) -> String {
    const MIN: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let secs = (secs.floor() as i64).clamp(MIN, MAX);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000.0), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_199.9), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339(-1.0), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(1e300), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(-1e300), "0000-01-01T00:00:00Z");
    }

    #[test]
    fn strips_bearer() {
        assert_eq!(strip_bearer("Bearer a.b.c"), "a.b.c");
        assert_eq!(strip_bearer("  bEaReR \t a.b.c "), "a.b.c");
        assert_eq!(strip_bearer("a.b.c"), "a.b.c");
        assert_eq!(strip_bearer("Bearer"), "");
        assert_eq!(strip_bearer("Bearerx.y.z"), "Bearerx.y.z");
        assert_eq!(strip_bearer("é"), "é");
    }
}
