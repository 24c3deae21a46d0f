//! The monitoring actions: per-minute series of one API over a time window
//! (`DescribeApiQpsData`, `DescribeApiLatencyData`, `DescribeApiTrafficData`, and the legacy
//! SDK's `DescribeApiErrorData`), read from the [`MonitorSource`] the serving binary gives.
//!
//! The window: every minute from the one holding `StartTime` to the last one starting before
//! `EndTime`, clipped to the 24 hours kept (the oldest minute kept up to the current one); a
//! minute without traffic is a point with `"0"`.

use super::{obj, wrap, Out};
use crate::error::ApiError;
use crate::monitor::MonitorSource;
use crate::params::Params;
use apigw_control::Control;
use apigw_model::monitor::{minute_of, MinuteTotals, MINUTES_KEPT, MINUTE_SECS};
use serde_json::{json, Map, Value};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const TIME_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// The series an action answers: a member name and what a minute's totals give it.
type Series = (&'static str, fn(&MinuteTotals) -> u64);

pub const QPS: &[Series] = &[
    ("CallSuccesses", |t| t.successes),
    ("CallFails", |t| t.failures()),
];
pub const LATENCY: &[Series] = &[("CallLatencys", |t| t.average_latency_ms())];
pub const TRAFFIC: &[Series] = &[
    ("CallUploads", |t| t.request_bytes),
    ("CallDownloads", |t| t.response_bytes),
];
pub const ERRORS: &[Series] = &[
    ("ClientErrors", |t| t.client_errors),
    ("ServerErrors", |t| t.server_errors),
];

/// Answers one monitoring action with `series`.
pub async fn describe(
    c: &Control,
    source: Option<&dyn MonitorSource>,
    p: &Params,
    series: &[Series],
) -> Out {
    let api_id = p.required("ApiId")?;
    let start = time_param(p, "StartTime")?;
    let end = time_param(p, "EndTime")?;
    if end < start {
        return Err(ApiError::invalid("EndTime", "it is before StartTime"));
    }
    let stage = p.opt_stage("StageName")?;
    let api = c.api(api_id).await?;
    if p.opt("GroupId").is_some_and(|g| g != api.group_id) {
        return Err(ApiError::not_found("Api", api_id));
    }
    let (from, to) = window(start, end, minute_of(now_secs()));
    let minutes = match source {
        Some(s) if from < to => s.api_minutes(api_id, stage, from, to).await,
        _ => Vec::new(),
    };
    let mut out = Map::new();
    for (name, value) in series {
        let items = (from..)
            .step_by(MINUTE_SECS as usize)
            .zip(&minutes)
            .map(|(minute, t)| {
                json!({"ItemTime": format_time(minute), "ItemValue": value(t).to_string()})
            })
            .collect();
        out.insert((*name).into(), wrap("MonitorItem", items));
    }
    Ok(obj(Value::Object(out)))
}

/// A `YYYY-MM-DDThh:mm:ssZ` parameter as seconds since the epoch.
fn time_param(p: &Params, name: &str) -> Result<i64, ApiError> {
    let text = p.required(name)?.trim();
    PrimitiveDateTime::parse(text, TIME_FORMAT)
        .map(|t| t.assume_utc().unix_timestamp())
        .map_err(|_| {
            ApiError::new(
                400,
                format!("InvalidFormat{name}"),
                format!("`{name}` must be a UTC time written YYYY-MM-DDThh:mm:ssZ, not `{text}`"),
            )
        })
}

/// The minutes answered for [`start`, `end`) when the current minute is `now`: from the minute
/// holding `start` to the last one starting before `end` (`end` rounded up to a minute),
/// clipped to the minutes kept. Empty when `from >= to`.
fn window(start: i64, end: i64, now: i64) -> (i64, i64) {
    let oldest = now - (MINUTES_KEPT - 1) * MINUTE_SECS;
    let from = minute_of(start).max(oldest);
    let to = (minute_of(end - 1) + MINUTE_SECS).min(now + MINUTE_SECS);
    (from, to.max(from))
}

fn format_time(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(TIME_FORMAT).ok())
        .unwrap_or_default()
}

fn now_secs() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_020; // a minute's start

    #[test]
    fn the_window_runs_from_the_start_minute_to_the_last_minute_before_the_end() {
        assert_eq!(window(NOW - 600, NOW - 300, NOW), (NOW - 600, NOW - 300));
        // Inside minutes: the minute holding the start, up to the one holding the end.
        assert_eq!(window(NOW - 590, NOW - 250, NOW), (NOW - 600, NOW - 240));
        assert_eq!(window(NOW - 300, NOW - 300, NOW), (NOW - 300, NOW - 300));
        // Clipped to the current minute and to the 24 hours kept.
        assert_eq!(window(NOW - 120, NOW + 3600, NOW), (NOW - 120, NOW + 60));
        let day = MINUTES_KEPT * MINUTE_SECS;
        assert_eq!(window(NOW - 2 * day, NOW, NOW), (NOW - day + 60, NOW));
        // Wholly in the future or older than the ring: nothing.
        let (from, to) = window(NOW + 600, NOW + 900, NOW);
        assert_eq!(from, to);
        let (from, to) = window(NOW - 3 * day, NOW - 2 * day, NOW);
        assert_eq!(from, to);
    }

    #[test]
    fn times_are_read_and_written_as_cloudapi_does() {
        let p = Params::new(vec![("StartTime".into(), "2016-07-28T08:20:00Z".into())]);
        let secs = time_param(&p, "StartTime").unwrap();
        assert_eq!(format_time(secs), "2016-07-28T08:20:00Z");
        for bad in [
            "2016-07-28 08:20:00",
            "2016-07-28T08:20:00+08:00",
            "yesterday",
        ] {
            let p = Params::new(vec![("StartTime".into(), bad.into())]);
            assert_eq!(
                time_param(&p, "StartTime").unwrap_err().code,
                "InvalidFormatStartTime"
            );
        }
        let p = Params::new(vec![]);
        assert_eq!(
            time_param(&p, "EndTime").unwrap_err().code,
            "MissingEndTime"
        );
    }
}
