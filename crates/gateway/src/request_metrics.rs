//! The per-request series of `/metrics`: requests by status class and error code, the time in
//! the gateway and at the backend (histograms), body bytes — per API and stage.
//!
//! Hot-path cost: each compiled API holds its [`ApiMetrics`] (carried over when the API is
//! recompiled), so a request bumps atomics it reaches through the `Arc<CompiledApi>` it already
//! holds — no label set is hashed, no string formatted, no lock taken. An API's atomics are
//! allocated at its first request ([`ApiMetrics::series`]), so a deployed API that serves
//! nothing costs a pointer. Everything is read and labelled only when `/metrics` is scraped
//! ([`LiveCollector`], which also reads the breakers, the response cache, the replay guard and
//! the generation of the live snapshot).

use crate::minutes::{current_minute, MinuteRing, MinuteSample};
use crate::snapshot::CompiledApi;
use crate::Shared;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// Upper bounds (seconds) of the duration histograms' buckets; a last `+Inf` bucket takes the
/// rest.
pub const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// [`BUCKETS`] in nanoseconds.
const BOUNDS_NS: [u64; 13] = [
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// The `status_class` label by index (status / 100 - 1).
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Error-code slots an API's series holds without a lock (a code with its status class
/// takes one); more distinct pairs than this on one API go to a locked overflow list.
const API_CODE_SLOTS: usize = 8;
/// The same for the series of requests that matched no API (many codes end there).
const UNMATCHED_CODE_SLOTS: usize = 32;

/// A histogram of durations with the fixed [`BUCKETS`]: one atomic per bucket and one for
/// the sum, so an observation is two relaxed additions (prometheus-client's own histogram
/// takes a lock).
#[derive(Debug, Default)]
pub struct DurationHistogram {
    /// Per bucket (not cumulative), the last one `+Inf`.
    buckets: [AtomicU64; 14],
    sum_ns: AtomicU64,
}

impl DurationHistogram {
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = BOUNDS_NS.partition_point(|&b| b < ns);
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    fn encode(&self, mut encoder: prometheus_client::encoding::MetricEncoder) -> Fmt {
        let mut buckets = [(0.0, 0); 14];
        for (i, slot) in buckets.iter_mut().enumerate() {
            let bound = BUCKETS.get(i).copied().unwrap_or(f64::INFINITY);
            *slot = (bound, self.buckets[i].load(Relaxed));
        }
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.sum_ns.load(Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
}

/// What one answered request adds to a series.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    pub status: u16,
    /// The gateway's error code (`X-Ca-Error-Code`); `None` when the backend (or a mock, the
    /// cache, a preflight) answered.
    pub code: Option<&'static str>,
    /// The whole request in the gateway, up to its response head.
    pub total: Duration,
    /// The backend call, when one was made.
    pub backend: Option<Duration>,
    /// The request body's declared length (`Content-Length`).
    pub request_bytes: Option<u64>,
    /// The response body's length when known before it is sent.
    pub response_bytes: Option<u64>,
}

/// One code-and-class counter: `key` 0 while free, claimed once and never released.
#[derive(Debug, Default)]
struct CodeSlot {
    key: AtomicU64,
    count: AtomicU64,
}

/// The atomics of one API in one stage (or of the requests that matched no API).
#[derive(Debug)]
pub struct RequestSeries {
    /// Answers without a gateway error code, by status class.
    by_class: [AtomicU64; 5],
    /// Answers with a gateway error code, by (code, class) key.
    codes: Box<[CodeSlot]>,
    /// (key, count) pairs that found no free slot; locked only then.
    overflow: Mutex<Vec<(u64, u64)>>,
    pub duration: DurationHistogram,
    pub backend: DurationHistogram,
    request_bytes: AtomicU64,
    response_bytes: AtomicU64,
    /// The last 24 hours a minute at a time (an API's series; not the unmatched one).
    minutes: Option<MinuteRing>,
}

impl RequestSeries {
    fn new(code_slots: usize, minutes: bool) -> RequestSeries {
        RequestSeries {
            by_class: Default::default(),
            codes: (0..code_slots).map(|_| CodeSlot::default()).collect(),
            overflow: Mutex::new(Vec::new()),
            duration: DurationHistogram::default(),
            backend: DurationHistogram::default(),
            request_bytes: AtomicU64::new(0),
            response_bytes: AtomicU64::new(0),
            minutes: minutes.then(MinuteRing::default),
        }
    }

    /// The series of requests that matched no API.
    pub fn unmatched() -> RequestSeries {
        RequestSeries::new(UNMATCHED_CODE_SLOTS, false)
    }

    /// Counts one answered request.
    pub fn record(&self, o: &Observed) {
        self.count(o.status, o.code);
        self.duration.observe(o.total);
        if let Some(d) = o.backend {
            self.backend.observe(d);
        }
        if let Some(n) = o.request_bytes.filter(|n| *n > 0) {
            self.request_bytes.fetch_add(n, Relaxed);
        }
        if let Some(n) = o.response_bytes.filter(|n| *n > 0) {
            self.response_bytes.fetch_add(n, Relaxed);
        }
        if let Some(ring) = &self.minutes {
            let sample = MinuteSample {
                status: o.status,
                code: o.code,
                latency_us: u64::try_from(o.total.as_micros()).unwrap_or(u64::MAX),
                request_bytes: o.request_bytes.unwrap_or(0),
                response_bytes: o.response_bytes.unwrap_or(0),
            };
            ring.record(current_minute(), &sample);
        }
    }

    /// The per-minute series of the monitoring actions (an API's series only).
    pub fn minutes(&self) -> Option<&MinuteRing> {
        self.minutes.as_ref()
    }

    /// Counts an answer in `apigw_requests_total` only (hyper's own parse-error answers,
    /// which the gateway rewrites but never times).
    pub fn count(&self, status: u16, code: Option<&'static str>) {
        let class = class_index(status);
        match code {
            None => {
                self.by_class[class].fetch_add(1, Relaxed);
            }
            Some(code) => self.count_code(code_key(code, class)),
        }
    }

    fn count_code(&self, key: u64) {
        for slot in self.codes.iter() {
            let mut k = slot.key.load(Relaxed);
            if k == 0 {
                k = match slot.key.compare_exchange(0, key, Relaxed, Relaxed) {
                    Ok(_) => key,
                    Err(actual) => actual,
                };
            }
            if k == key {
                slot.count.fetch_add(1, Relaxed);
                return;
            }
        }
        let mut overflow = self.overflow.lock().unwrap_or_else(|e| e.into_inner());
        match overflow.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => overflow.push((key, 1)),
        }
    }

    /// Every (status class, code, count) with a count, `code` "" for answers without one.
    pub fn requests(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut out: Vec<(&'static str, &'static str, u64)> = Vec::new();
        for (i, n) in self.by_class.iter().enumerate() {
            let n = n.load(Relaxed);
            if n > 0 {
                out.push((CLASSES[i], "", n));
            }
        }
        let mut keyed: Vec<(u64, u64)> = self
            .codes
            .iter()
            .map(|s| (s.key.load(Relaxed), s.count.load(Relaxed)))
            .filter(|(k, n)| *k != 0 && *n > 0)
            .collect();
        keyed.extend(
            self.overflow
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .copied(),
        );
        for (key, n) in keyed {
            let (class, code) = split_key(key);
            out.push((class, code, n));
        }
        // By class, the answers without a code first. (A key is in one slot or in the overflow
        // list, never both: slots are claimed in order and never freed; merged all the same.)
        out.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        out.dedup_by(|later, kept| {
            let same = later.0 == kept.0 && later.1 == kept.1;
            if same {
                kept.2 += later.2;
            }
            same
        });
        out
    }

    pub fn request_bytes(&self) -> u64 {
        self.request_bytes.load(Relaxed)
    }

    pub fn response_bytes(&self) -> u64 {
        self.response_bytes.load(Relaxed)
    }
}

/// `status_class` index of a status (100-599; anything above counts as 5xx).
fn class_index(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 5) - 1
}

/// A code (at most 7 ASCII bytes: every row of the table has 6) and a class as one non-zero
/// key: the code's bytes, the class index + 1 in the top byte.
fn code_key(code: &str, class: usize) -> u64 {
    let mut bytes = [0u8; 8];
    let n = code.len().min(7);
    bytes[..n].copy_from_slice(&code.as_bytes()[..n]);
    bytes[7] = class as u8 + 1;
    u64::from_le_bytes(bytes)
}

/// The class label and the row of the error table a key names.
fn split_key(key: u64) -> (&'static str, &'static str) {
    let bytes = key.to_le_bytes();
    let class = CLASSES[usize::from(bytes[7]).clamp(1, 5) - 1];
    let len = bytes[..7].iter().position(|b| *b == 0).unwrap_or(7);
    let code = apigw_model::codes::ALL
        .iter()
        .find(|c| c.code.as_bytes() == &bytes[..len])
        .map_or("", |c| c.code);
    (class, code)
}

/// The series of one API in one stage, allocated at its first request. Held by the compiled
/// API and handed to its next compiled form, so a redeploy keeps the counts.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    series: OnceLock<Box<RequestSeries>>,
}

impl ApiMetrics {
    /// The series to count a request in (allocated by the first request).
    pub fn series(&self) -> &RequestSeries {
        self.series
            .get_or_init(|| Box::new(RequestSeries::new(API_CODE_SLOTS, true)))
    }

    /// The series, if the API served a request since the process started.
    pub fn served(&self) -> Option<&RequestSeries> {
        self.series.get().map(|b| &**b)
    }
}

type Fmt = Result<(), std::fmt::Error>;

/// The metrics read when `/metrics` is scraped: the per-API series of the live snapshot (and
/// the unmatched one), the circuit breakers, the response cache's size, the replay guard's,
/// and the snapshot's generation.
#[derive(Debug)]
pub struct LiveCollector {
    pub shared: Weak<Shared>,
}

/// `{group, api, stage}` of a series.
type ApiLabels<'a> = [(&'static str, &'a str); 3];

impl Collector for LiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        let Some(shared) = self.shared.upgrade() else {
            return Ok(());
        };
        let snapshot = shared.snapshot.load();
        let mut apis: Vec<&Arc<CompiledApi>> = snapshot.compiled_apis().collect();
        apis.sort_by(|a, b| {
            (&*a.group_id, &*a.api_id, a.stage.as_str()).cmp(&(
                &*b.group_id,
                &*b.api_id,
                b.stage.as_str(),
            ))
        });
        let mut series: Vec<(ApiLabels, &RequestSeries)> = vec![(
            [("group", ""), ("api", ""), ("stage", "")],
            &shared.metrics.unmatched,
        )];
        for api in &apis {
            if let Some(s) = api.metrics.served() {
                let labels = [
                    ("group", &*api.group_id),
                    ("api", &*api.api_id),
                    ("stage", api.stage.as_str()),
                ];
                series.push((labels, s));
            }
        }

        let mut family = encoder.encode_descriptor(
            "apigw_requests",
            "Requests answered by the data plane, by API, stage, status class and gateway error code (empty when the backend answered).",
            None,
            MetricType::Counter,
        )?;
        for (labels, s) in &series {
            for (class, code, n) in s.requests() {
                let [g, a, st] = *labels;
                let all = [g, a, st, ("status_class", class), ("code", code)];
                family
                    .encode_family(&all)?
                    .encode_counter::<NoLabelSet, u64, u64>(&n, None)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "apigw_request_duration_seconds",
            "Time from a request's arrival to its response head, in the gateway.",
            None,
            MetricType::Histogram,
        )?;
        for (labels, s) in &series {
            if s.duration.count() > 0 {
                s.duration.encode(family.encode_family(labels)?)?;
            }
        }

        let mut family = encoder.encode_descriptor(
            "apigw_backend_duration_seconds",
            "Time the backend took to answer (requests that called one).",
            None,
            MetricType::Histogram,
        )?;
        for (labels, s) in &series {
            if s.backend.count() > 0 {
                s.backend.encode(family.encode_family(labels)?)?;
            }
        }

        for (name, help, read) in [
            (
                "apigw_request_bytes",
                "Request body bytes, as declared by Content-Length.",
                RequestSeries::request_bytes as fn(&RequestSeries) -> u64,
            ),
            (
                "apigw_response_bytes",
                "Response body bytes whose length was known before sending (Content-Length or a body the gateway made; gzipped and chunked bodies are not counted).",
                RequestSeries::response_bytes,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (labels, s) in &series {
                if s.duration.count() > 0 {
                    family
                        .encode_family(labels)?
                        .encode_counter::<NoLabelSet, u64, u64>(&read(s), None)?;
                }
            }
        }

        let mut family = encoder.encode_descriptor(
            "apigw_circuit_breaker_state",
            "Circuit breaker of each deployed API and stage: 0 closed, 1 open, 2 half-open.",
            None,
            MetricType::Gauge,
        )?;
        let now = std::time::Instant::now();
        for api in &apis {
            let labels = [("api", &*api.api_id), ("stage", api.stage.as_str())];
            family
                .encode_family(&labels)?
                .encode_gauge(&api.breaker.state_at(now).gauge())?;
        }

        encoder
            .encode_descriptor(
                "apigw_cache_bytes",
                "Bytes held by the response cache (caching plugin).",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&(shared.cache.used() as u64))?;

        if let Some(replay) = shared.replay.stats() {
            encoder
                .encode_descriptor(
                    "apigw_replay_entries",
                    "Nonces and JWT jti values the in-memory replay guard remembers.",
                    None,
                    MetricType::Gauge,
                )?
                .encode_gauge(&(replay.entries as u64))?;
            encoder
                .encode_descriptor(
                    "apigw_replay_evictions",
                    "Values the in-memory replay guard forgot before their time because it was full.",
                    None,
                    MetricType::Counter,
                )?
                .encode_counter::<NoLabelSet, u64, u64>(&replay.evicted_early, None)?;
        }

        encoder
            .encode_descriptor(
                "apigw_config_generation",
                "Store generation of the configuration being served.",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&snapshot.generation)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_the_table_round_trips_through_its_key() {
        for c in apigw_model::codes::ALL {
            assert!(c.code.len() <= 7 && c.code.is_ascii(), "{}", c.code);
            for (class, label) in CLASSES.iter().enumerate() {
                assert_eq!(split_key(code_key(c.code, class)), (*label, c.code));
            }
        }
    }

    #[test]
    fn requests_are_counted_per_class_and_code_past_the_slots() {
        let s = RequestSeries::new(2, false);
        let o = |status, code| Observed {
            status,
            code,
            total: Duration::from_millis(3),
            backend: None,
            request_bytes: Some(10),
            response_bytes: None,
        };
        for _ in 0..3 {
            s.record(&o(200, None));
        }
        s.record(&o(503, None));
        // Three codes, one of them under two classes, on two slots: the rest overflow.
        for (status, code) in [
            (404, "I404NF"),
            (403, "A403AC"),
            (404, "I404NF"),
            (429, "T429PA"),
            (200, "A403AC"),
            (429, "T429PA"),
        ] {
            s.record(&o(status, Some(code)));
        }
        assert_eq!(
            s.requests(),
            vec![
                ("2xx", "", 3),
                ("2xx", "A403AC", 1),
                ("4xx", "A403AC", 1),
                ("4xx", "I404NF", 2),
                ("4xx", "T429PA", 2),
                ("5xx", "", 1),
            ]
        );
        assert_eq!(s.request_bytes(), 100);
        assert_eq!(s.duration.count(), 10);
    }

    #[test]
    fn durations_land_in_the_first_bucket_they_fit() {
        let h = DurationHistogram::default();
        h.observe(Duration::from_millis(1)); // le 0.001 (inclusive)
        h.observe(Duration::from_micros(1001)); // le 0.0025
        h.observe(Duration::from_millis(300)); // le 0.5
        h.observe(Duration::from_secs(11)); // +Inf
        let counts: Vec<u64> = h.buckets.iter().map(|b| b.load(Relaxed)).collect();
        assert_eq!(counts, [1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
        assert_eq!(h.sum_ns.load(Relaxed), 11_302_001_000);
    }
}
