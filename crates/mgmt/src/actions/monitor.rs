//! The monitoring actions: per-minute series of one API over a time window
//! (`DescribeApiQpsData`, `DescribeApiLatencyData`, `DescribeApiTrafficData`, and the legacy
//! SDK's `DescribeApiErrorData`; and apigw's own, which CloudAPI has no action for:
//! `DescribeApiCodeData`, answers by status and by gateway error code, and
//! `DescribeApiLatencyPercentiles`, p50/p90/p99 of the time in the gateway), read from the
//! [`MonitorSource`] the serving binary gives. All take the same parameters and answer the same
//! errors.
//!
//! The window: every minute from the one holding `StartTime` to the last one starting before
//! `EndTime`, clipped to the 24 hours kept (the oldest minute kept up to the current one); a
//! minute without traffic is a point with `"0"`.

use super::{obj, wrap, Out};
use crate::error::ApiError;
use crate::monitor::MonitorSource;
use crate::params::Params;
use apigw_control::Control;
use apigw_model::monitor::{
    minute_of, MinuteDetail, MinuteTotals, LATENCY_BOUNDS_US, MINUTES_KEPT, MINUTE_SECS,
    OTHER_ERROR, OTHER_STATUS,
};
use apigw_model::Stage;
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

/// The percentiles `DescribeApiLatencyPercentiles` answers: member name and quantile.
const PERCENTILES: [(&str, f64); 3] = [("P50", 0.5), ("P90", 0.9), ("P99", 0.99)];

/// What a monitoring action asks for: one API (in one stage, or all) over the minutes from
/// `from` up to `to` (empty when `from == to`).
struct Query<'a> {
    api_id: &'a str,
    stage: Option<Stage>,
    from: i64,
    to: i64,
}

impl Query<'_> {
    /// The minutes' starts, in order.
    fn minutes(&self) -> impl Iterator<Item = i64> {
        (self.from..self.to).step_by(MINUTE_SECS as usize)
    }
}

/// Reads and checks the parameters every monitoring action takes.
async fn query<'a>(c: &Control, p: &'a Params) -> Result<Query<'a>, ApiError> {
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
    Ok(Query {
        api_id,
        stage,
        from,
        to,
    })
}

/// `{MonitorItem: [{ItemTime, ItemValue}]}`: a point a minute of `q`.
fn items(q: &Query, values: impl Iterator<Item = String>) -> Value {
    let items = q
        .minutes()
        .zip(values)
        .map(|(minute, v)| json!({"ItemTime": format_time(minute), "ItemValue": v}))
        .collect();
    wrap("MonitorItem", items)
}

/// Answers one monitoring action with `series`.
pub async fn describe(
    c: &Control,
    source: Option<&dyn MonitorSource>,
    p: &Params,
    series: &[Series],
) -> Out {
    let q = query(c, p).await?;
    let minutes = match source {
        Some(s) if q.from < q.to => s.api_minutes(q.api_id, q.stage, q.from, q.to).await,
        _ => Vec::new(),
    };
    let mut out = Map::new();
    for (name, value) in series {
        let values = minutes.iter().map(|t| value(t).to_string());
        out.insert((*name).into(), items(&q, values));
    }
    Ok(obj(Value::Object(out)))
}

/// The detail of each minute of `q` (none without a source or minutes).
async fn details(source: Option<&dyn MonitorSource>, q: &Query<'_>) -> Vec<MinuteDetail> {
    match source {
        Some(s) if q.from < q.to => s.api_minute_details(q.api_id, q.stage, q.from, q.to).await,
        _ => Vec::new(),
    }
}

/// `DescribeApiCodeData` (apigw's own): a series per status and per gateway error code
/// answered in the window — `StatusCodes` and `ErrorCodes`, each
/// `{CodeSeries: [{Code, Total, Items: {MonitorItem: [...]}}]}`, codes in order, `other` last.
pub async fn describe_codes(c: &Control, source: Option<&dyn MonitorSource>, p: &Params) -> Out {
    let q = query(c, p).await?;
    let minutes = details(source, &q).await;
    let statuses = code_series(&q, &minutes, |d| {
        d.statuses
            .iter()
            .map(|(s, n)| (status_name(*s), *n))
            .collect()
    });
    let errors = code_series(&q, &minutes, |d| {
        d.errors.iter().map(|(e, n)| (error_name(e), *n)).collect()
    });
    Ok(obj(json!({
        "StatusCodes": wrap("CodeSeries", statuses),
        "ErrorCodes": wrap("CodeSeries", errors),
    })))
}

fn status_name(status: u16) -> String {
    match status {
        OTHER_STATUS => "other".into(),
        s => s.to_string(),
    }
}

fn error_name(code: &str) -> String {
    match code {
        OTHER_ERROR => "other".into(),
        c => c.to_string(),
    }
}

/// One `{Code, Total, Items}` per code `counts` gives in some minute: its count in every
/// minute, `"0"` where it has none. Codes in order, `other` last.
fn code_series(
    q: &Query,
    minutes: &[MinuteDetail],
    counts: impl Fn(&MinuteDetail) -> Vec<(String, u64)>,
) -> Vec<Value> {
    let per_minute: Vec<Vec<(String, u64)>> = minutes.iter().map(counts).collect();
    let mut codes: Vec<&String> = per_minute.iter().flatten().map(|(c, _)| c).collect();
    codes.sort_by(|a, b| code_order(a).cmp(&code_order(b)));
    codes.dedup();
    codes
        .into_iter()
        .map(|code| {
            let values: Vec<u64> = per_minute
                .iter()
                .map(|m| m.iter().find(|(c, _)| c == code).map_or(0, |(_, n)| *n))
                .collect();
            let total: u64 = values.iter().sum();
            json!({
                "Code": code,
                "Total": total.to_string(),
                "Items": items(q, values.into_iter().map(|n| n.to_string())),
            })
        })
        .collect()
}

/// Statuses by number, codes by name, `other` last.
fn code_order(code: &str) -> (bool, usize, &str) {
    (code == "other", code.len(), code)
}

/// `DescribeApiLatencyPercentiles` (apigw's own): `P50`, `P90`, `P99` per minute
/// (`{MonitorItem: [...]}`, milliseconds, `"0"` for a minute without requests); `Window`, the
/// same over the whole window (the minutes' histograms added) with its `Requests`; `Buckets`,
/// that histogram (`{LatencyBucket: [{UpperBoundMs, Count}]}`, the last bound `+Inf`).
pub async fn describe_percentiles(
    c: &Control,
    source: Option<&dyn MonitorSource>,
    p: &Params,
) -> Out {
    let q = query(c, p).await?;
    let minutes = details(source, &q).await;
    let mut all = MinuteDetail::default();
    for m in &minutes {
        all.add(m);
    }
    let mut out = Map::new();
    let mut overall = Map::new();
    overall.insert("Requests".into(), all.timed().to_string().into());
    for (name, quantile) in PERCENTILES {
        let values = minutes.iter().map(|m| percentile(m, quantile));
        out.insert(name.into(), items(&q, values));
        overall.insert(name.into(), percentile(&all, quantile).into());
    }
    out.insert("Window".into(), Value::Object(overall));
    let bounds = LATENCY_BOUNDS_US
        .iter()
        .map(|b| format_ms(*b as f64 / 1000.0))
        .chain(["+Inf".to_string()]);
    let buckets = bounds
        .enumerate()
        .map(|(i, bound)| {
            let count = all.latency.get(i).copied().unwrap_or(0);
            json!({"UpperBoundMs": bound, "Count": count.to_string()})
        })
        .collect();
    out.insert("Buckets".into(), wrap("LatencyBucket", buckets));
    Ok(obj(Value::Object(out)))
}

/// A percentile of `d` as the answer writes it: milliseconds, `"0"` without requests.
fn percentile(d: &MinuteDetail, quantile: f64) -> String {
    d.latency_percentile_ms(quantile)
        .map_or_else(|| "0".into(), format_ms)
}

/// Milliseconds with at most three decimals, without trailing zeros: `0.05`, `12`.
fn format_ms(ms: f64) -> String {
    let text = format!("{ms:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
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
    fn milliseconds_are_written_with_at_most_three_decimals() {
        assert_eq!(format_ms(0.1), "0.1");
        assert_eq!(format_ms(0.09375), "0.094");
        assert_eq!(format_ms(12.0), "12");
        assert_eq!(format_ms(10_000.0), "10000");
        assert_eq!(format_ms(0.0), "0");
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
