//! Control-plane operations. Every write to the configuration goes through [`Control`], which
//! validates it with the model's rules, checks conflicts, and records it in the store; the
//! declarative file (`apigw apply`) and the management API are two front ends on it.
#![forbid(unsafe_code)]

pub mod apply;
mod apply_apps;
mod apps;
mod ops;
mod plugins;

pub use apps::{AppSpec, DEFAULT_SECRET_GRACE};

pub use ops::{Control, ControlError, DEFAULT_MAX_GROUPS};

/// A fresh 32-character lower-case hex identifier (the shape CloudAPI uses for ids).
pub fn new_id() -> String {
    format!("{:032x}", fastrand::u128(..))
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
