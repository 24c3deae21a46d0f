//! Control-plane operations. Every write to the configuration goes through [`Control`], which
//! validates it with the model's rules, checks conflicts, and records it in the store; the
//! declarative file (`apigw apply`) and the management API are two front ends on it.
#![forbid(unsafe_code)]

pub mod apply;
mod apply_apps;
mod apply_targets;
mod apps;
mod batch;
mod certs;
mod ops;
mod paths;
mod plugins;
mod prune;
mod targets;
pub mod traffic;

pub use apps::{AppSpec, DEFAULT_SECRET_GRACE};
pub use batch::{BatchItem, BatchResult, BatchTask, TaskKind, MAX_BATCH, MAX_TASKS};
pub use certs::{certificate_info, check_certificate, check_certificate_at, CertificateInfo};

pub use ops::{Control, ControlError, WriteGuard, DEFAULT_MAX_GROUPS, LIVE_WAIT};
pub use targets::VpcAccessSpec;

/// A fresh 32-character lower-case hex identifier (the shape CloudAPI uses for ids).
pub fn new_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// `n` characters drawn uniformly from `alphabet` with the operating system's secure random
/// generator (through UUID v4, whose generator is `getrandom`). For secrets and codes.
pub fn random_token(n: usize, alphabet: &[u8]) -> String {
    let mut out = String::with_capacity(n);
    let limit = 256 - 256 % alphabet.len();
    while out.len() < n {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        // Bytes 6 and 8 carry the UUID's version and variant bits.
        for (_, b) in bytes.iter().enumerate().filter(|(i, _)| *i != 6 && *i != 8) {
            if (*b as usize) < limit && out.len() < n {
                out.push(alphabet[*b as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

/// Now, as CloudAPI writes times: `2016-07-28T09:50:43Z`.
pub fn now_utc() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    now.format(&fmt).unwrap_or_default()
}

/// A history version for a deployment made now: `yyyyMMddHHmmssSSS`.
pub fn version_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year][month][day][hour][minute][second][subsecond digits:3]"
    );
    now.format(&fmt).unwrap_or_default()
}
