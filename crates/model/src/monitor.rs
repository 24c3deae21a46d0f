//! What the monitoring actions (`DescribeApiQpsData`, `DescribeApiLatencyData`,
//! `DescribeApiTrafficData`, `DescribeApiErrorData`, and apigw's own `DescribeApiCodeData` and
//! `DescribeApiLatencyPercentiles`) read: the totals of one API in one minute and their detail
//! (answers by status and by gateway error code, a latency histogram), as the data plane keeps
//! them per node and the store keeps them per node for a cluster.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Seconds in a minute; a minute is named by its start in seconds since the Unix epoch.
pub const MINUTE_SECS: i64 = 60;
/// Minutes kept: 24 hours.
pub const MINUTES_KEPT: i64 = 24 * 60;

/// The totals of one API (one stage, or several added) in one minute.
///
/// A request is a success when its status is below 400, a client error at 4xx, a server error
/// at 5xx and above; every request counted is timed, so the average latency is
/// `latency_us / requests()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteTotals {
    pub successes: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    /// Sum of the requests' time in the gateway, in microseconds.
    pub latency_us: u64,
    /// Request body bytes (as declared by `Content-Length`).
    pub request_bytes: u64,
    /// Response body bytes whose length was known before sending.
    pub response_bytes: u64,
}

impl MinuteTotals {
    pub fn failures(&self) -> u64 {
        self.client_errors + self.server_errors
    }

    pub fn requests(&self) -> u64 {
        self.successes + self.failures()
    }

    /// The average time in the gateway in whole milliseconds (rounded to the nearest), 0
    /// without requests.
    pub fn average_latency_ms(&self) -> u64 {
        match self.requests() {
            0 => 0,
            n => (self.latency_us + n * 500) / (n * 1000),
        }
    }

    pub fn add(&mut self, other: &MinuteTotals) {
        self.successes += other.successes;
        self.client_errors += other.client_errors;
        self.server_errors += other.server_errors;
        self.latency_us += other.latency_us;
        self.request_bytes += other.request_bytes;
        self.response_bytes += other.response_bytes;
    }

    pub fn is_zero(&self) -> bool {
        *self == MinuteTotals::default()
    }
}

/// The statuses counted one by one; any other status is counted under [`OTHER_STATUS`].
pub const STATUS_CODES: [u16; 19] = [
    101, 200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 413, 429, 500, 502, 503, 504,
];
/// The key of [`MinuteDetail::statuses`] counting the statuses outside [`STATUS_CODES`].
pub const OTHER_STATUS: u16 = 0;
/// The key of [`MinuteDetail::errors`] counting the gateway error codes that found no slot
/// (a node counts a few distinct codes per API and minute; see `apigw_gateway::minutes`).
pub const OTHER_ERROR: &str = "";
/// Upper bounds (inclusive, microseconds) of the latency histogram's buckets: 0.1 ms to 10 s
/// in 1-2-5 steps; a last bucket takes the rest (+Inf).
pub const LATENCY_BOUNDS_US: [u64; 16] = [
    100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000,
    1_000_000, 2_000_000, 5_000_000, 10_000_000,
];
/// Buckets of the latency histogram: one per bound and +Inf.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;

/// The index of the latency histogram's bucket holding `us` microseconds.
pub fn latency_bucket(us: u64) -> usize {
    LATENCY_BOUNDS_US.partition_point(|&b| b < us)
}

/// What the charts of one API need of one minute beyond [`MinuteTotals`] (one stage, or several
/// added): answers by status and by gateway error code, and the time in the gateway as a
/// histogram, so percentiles can be taken over a minute or any window (add the minutes, then
/// [`MinuteDetail::latency_percentile_ms`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteDetail {
    /// Answers by status: those of [`STATUS_CODES`] under their own, the rest under
    /// [`OTHER_STATUS`]. Only non-zero counts.
    #[serde(default)]
    pub statuses: BTreeMap<u16, u64>,
    /// Answers the gateway made with an error code (`X-Ca-Error-Code`), by code; codes past a
    /// node's slots under [`OTHER_ERROR`]. Only non-zero counts.
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Requests per latency bucket ([`LATENCY_BOUNDS_US`], then +Inf; not cumulative); empty
    /// without requests.
    #[serde(default)]
    pub latency: Vec<u64>,
}

impl MinuteDetail {
    pub fn add(&mut self, other: &MinuteDetail) {
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
        if self.latency.len() < other.latency.len() {
            self.latency.resize(other.latency.len(), 0);
        }
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            *mine += theirs;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.statuses.is_empty() && self.errors.is_empty() && self.latency.iter().all(|n| *n == 0)
    }

    /// Requests in the latency histogram.
    pub fn timed(&self) -> u64 {
        self.latency.iter().sum()
    }

    /// The `q` quantile (0 < q ≤ 1: 0.5 for the median) of the latencies counted, in
    /// milliseconds; `None` without requests. An estimate within the bucket's bounds: the bucket
    /// holding the request of rank `q × requests` is found, and the value interpolated linearly
    /// between its lower bound (the previous bucket's bound, 0 for the first) and its upper
    /// bound by the rank's place among the bucket's requests (as Prometheus's
    /// `histogram_quantile`). In the +Inf bucket: the last bound, 10 000 ms.
    pub fn latency_percentile_ms(&self, q: f64) -> Option<f64> {
        let total = self.timed();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, n) in self.latency.iter().enumerate() {
            let upto = below + n;
            if *n > 0 && upto as f64 >= rank {
                let Some(&upper) = LATENCY_BOUNDS_US.get(i) else {
                    break;
                };
                let lower = i.checked_sub(1).map_or(0, |j| LATENCY_BOUNDS_US[j]);
                let place = ((rank - below as f64) / *n as f64).clamp(0.0, 1.0);
                let us = lower as f64 + (upper - lower) as f64 * place;
                return Some(us / 1000.0);
            }
            below = upto;
        }
        Some(LATENCY_BOUNDS_US[LATENCY_BOUNDS_US.len() - 1] as f64 / 1000.0)
    }
}

/// The totals of one API in one stage in one minute, and their detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiMinute {
    pub api_id: String,
    pub stage: crate::Stage,
    /// The minute's start, seconds since the epoch.
    pub minute: i64,
    pub totals: MinuteTotals,
    pub detail: MinuteDetail,
}

/// The start (seconds since the epoch) of the minute holding `secs`.
pub fn minute_of(secs: i64) -> i64 {
    secs.div_euclid(MINUTE_SECS) * MINUTE_SECS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_round_to_the_nearest_millisecond() {
        let t = MinuteTotals {
            successes: 2,
            client_errors: 1,
            latency_us: 4_500,
            ..Default::default()
        };
        assert_eq!(t.requests(), 3);
        assert_eq!(t.average_latency_ms(), 2); // 1.5 ms
        assert_eq!(MinuteTotals::default().average_latency_ms(), 0);
        assert_eq!(minute_of(125), 120);
        assert_eq!(minute_of(-1), -60);
    }

    fn histogram(counts: &[(usize, u64)]) -> MinuteDetail {
        let mut latency = vec![0; LATENCY_BUCKETS];
        for (i, n) in counts {
            latency[*i] = *n;
        }
        MinuteDetail {
            latency,
            ..Default::default()
        }
    }

    #[test]
    fn latencies_land_in_the_first_bucket_they_fit() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(100), 0); // bounds are inclusive
        assert_eq!(latency_bucket(101), 1);
        assert_eq!(latency_bucket(1_500), 4); // (1, 2] ms
        assert_eq!(latency_bucket(10_000_000), 15);
        assert_eq!(latency_bucket(10_000_001), 16); // +Inf
        assert_eq!(latency_bucket(u64::MAX), LATENCY_BUCKETS - 1);
    }

    #[test]
    fn percentiles_are_interpolated_inside_their_bucket() {
        // 5 requests of at most 0.1 ms, 4 of (1, 2] ms, 1 over 10 s.
        let d = histogram(&[(0, 5), (4, 4), (16, 1)]);
        assert_eq!(d.timed(), 10);
        assert_eq!(d.latency_percentile_ms(0.2), Some(0.04)); // rank 2 of the 5 in [0, 0.1]
        assert_eq!(d.latency_percentile_ms(0.5), Some(0.1)); // rank 5: the bucket's top
        assert_eq!(d.latency_percentile_ms(0.7), Some(1.5)); // rank 7: 2 of 4 in (1, 2]
        assert_eq!(d.latency_percentile_ms(0.9), Some(2.0));
        assert_eq!(d.latency_percentile_ms(0.99), Some(10_000.0)); // +Inf: the last bound
        assert_eq!(MinuteDetail::default().latency_percentile_ms(0.5), None);
    }

    #[test]
    fn details_add_up_over_minutes_and_nodes() {
        let mut a = histogram(&[(0, 1)]);
        a.statuses.insert(200, 1);
        let mut b = histogram(&[(0, 2), (3, 1)]);
        b.statuses.extend([(200, 2), (OTHER_STATUS, 1)]);
        b.errors.insert("A403IP".into(), 1);
        a.add(&b);
        assert_eq!(a.statuses, BTreeMap::from([(OTHER_STATUS, 1), (200, 3)]));
        assert_eq!(a.errors, BTreeMap::from([("A403IP".to_string(), 1)]));
        assert_eq!(&a.latency[..4], &[3, 0, 0, 1]);
        let mut empty = MinuteDetail::default();
        assert!(empty.is_empty());
        empty.add(&a);
        assert_eq!(empty, a);
        // Kept as JSON by the store: status keys round-trip.
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<MinuteDetail>(&json).unwrap(), a);
    }
}
