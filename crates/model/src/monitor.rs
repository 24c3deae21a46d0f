//! What the monitoring actions (`DescribeApiQpsData`, `DescribeApiLatencyData`,
//! `DescribeApiTrafficData`, `DescribeApiErrorData`) read: the totals of one API in one
//! minute, as the data plane keeps them per node and the store keeps them per node for a
//! cluster.

use serde::{Deserialize, Serialize};

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

/// The totals of one API in one stage in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiMinute {
    pub api_id: String,
    pub stage: crate::Stage,
    /// The minute's start, seconds since the epoch.
    pub minute: i64,
    pub totals: MinuteTotals,
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
}
