//! The per-minute series of each API and stage for the monitoring actions
//! (`DescribeApiQpsData` and its siblings, `DescribeApiCodeData`,
//! `DescribeApiLatencyPercentiles`): the last 24 hours of this node at one-minute resolution,
//! in memory.
//!
//! Hot-path cost: a [`MinuteRing`] lives in the API's [`crate::request_metrics::RequestSeries`]
//! (carried across recompiles), as 24 hour blocks of 60 slots, each block allocated when a
//! request first lands in it. Counting a request is one slot lookup by minute, one atomic load
//! of the slot's minute tag and a few relaxed additions — the totals, the status's counter
//! (one of [`STATUS_CODES`] or "other": a binary search in 19), the latency bucket's (a binary
//! search in 16 bounds) and, for an answer with a gateway error code, that code's: no lock, no
//! allocation (but the block's first use). A slot still tagged with a minute 24 hours old is
//! reset, every counter of it, by the first request of its new minute (a compare-and-swap
//! claims it); a reader treats a slot with another minute's tag as zero.
//!
//! Error codes: a slot has [`ERROR_SLOTS`] code counters, each claimed (compare-and-swap of the
//! code's bytes into its key) by the first request of the minute with a code not yet there;
//! codes beyond that in one minute are counted as "other" ([`OTHER_ERROR`]). Memory: 240 bytes
//! a slot, 14.4 KB an hour, about 346 KB for an API and stage that serves around the clock.

use apigw_model::monitor::{
    latency_bucket, ApiMinute, MinuteDetail, MinuteTotals, LATENCY_BUCKETS, MINUTES_KEPT,
    MINUTE_SECS, OTHER_ERROR, OTHER_STATUS, STATUS_CODES,
};
use apigw_model::Stage;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

const SLOTS: usize = MINUTES_KEPT as usize;
const BLOCK: usize = 60;
/// The tag of a slot being reset.
const RESETTING: u32 = u32::MAX;
/// Status counters of a slot: one per [`STATUS_CODES`], then "other".
const STATUS_SLOTS: usize = STATUS_CODES.len() + 1;
/// Distinct gateway error codes a slot counts one by one (the rest: "other").
pub const ERROR_SLOTS: usize = 4;

/// The counter of `status` among a slot's [`STATUS_SLOTS`].
fn status_slot(status: u16) -> usize {
    STATUS_CODES
        .binary_search(&status)
        .unwrap_or(STATUS_CODES.len())
}

/// An error code as a non-zero key: its first 8 bytes (every code of the table has 6).
fn error_key(code: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let n = code.len().min(8);
    bytes[..n].copy_from_slice(&code.as_bytes()[..n]);
    u64::from_le_bytes(bytes)
}

/// The code an [`error_key`] holds.
fn error_code(key: u64) -> String {
    let bytes = key.to_le_bytes();
    let len = bytes.iter().position(|b| *b == 0).unwrap_or(8);
    String::from_utf8_lossy(&bytes[..len]).into_owned()
}

/// A minute as the ring names it: minutes since the Unix epoch (0 never occurs in practice,
/// so a fresh slot's tag 0 reads as "no data").
fn index_of(minute_start: i64) -> Option<u32> {
    u32::try_from(minute_start.div_euclid(MINUTE_SECS))
        .ok()
        .filter(|m| *m != 0 && *m != RESETTING)
}

/// The minute now (its start, in seconds since the epoch).
pub fn current_minute() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    apigw_model::monitor::minute_of(secs)
}

/// One minute of one API in one stage.
#[derive(Debug, Default)]
struct Slot {
    /// The minute counted here ([`index_of`]); 0: never used; [`RESETTING`]: being reset.
    minute: AtomicU32,
    successes: AtomicU32,
    client_errors: AtomicU32,
    server_errors: AtomicU32,
    latency_us: AtomicU64,
    request_bytes: AtomicU64,
    response_bytes: AtomicU64,
    /// Answers by status: [`STATUS_CODES`], then the others.
    statuses: [AtomicU32; STATUS_SLOTS],
    /// Requests by latency bucket (`LATENCY_BOUNDS_US`, then +Inf).
    latency: [AtomicU32; LATENCY_BUCKETS],
    /// The error codes counted one by one ([`error_key`]; 0: free) and their counts.
    error_keys: [AtomicU64; ERROR_SLOTS],
    error_counts: [AtomicU32; ERROR_SLOTS],
    /// Answers with an error code that found no free counter.
    other_errors: AtomicU32,
}

impl Slot {
    /// Makes the slot count `minute`, resetting it when it holds an older one. False when it
    /// holds a newer minute (the clock went back a day): the request is not counted.
    fn claim(&self, minute: u32) -> bool {
        let mut spins = 0u32;
        loop {
            let tag = self.minute.load(Ordering::Acquire);
            if tag == minute {
                return true;
            }
            if tag == RESETTING {
                // Another request is zeroing the slot: a few stores.
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                continue;
            }
            if tag > minute {
                return false;
            }
            if self
                .minute
                .compare_exchange(tag, RESETTING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                self.reset();
                self.minute.store(minute, Ordering::Release);
                return true;
            }
        }
    }

    /// Zeroes every counter (the slot is tagged [`RESETTING`]).
    fn reset(&self) {
        let small = [&self.successes, &self.client_errors, &self.server_errors];
        let detail = self.statuses.iter().chain(&self.latency);
        let errors = self.error_counts.iter().chain([&self.other_errors]);
        for c in small.into_iter().chain(detail).chain(errors) {
            c.store(0, Ordering::Relaxed);
        }
        let big = [&self.latency_us, &self.request_bytes, &self.response_bytes];
        for c in big.into_iter().chain(&self.error_keys) {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Counts an answer with a gateway error code: in the code's counter, claiming a free one
    /// if the code has none yet, else in "other".
    fn count_error(&self, key: u64) {
        for (k, n) in self.error_keys.iter().zip(&self.error_counts) {
            let mut held = k.load(Ordering::Relaxed);
            if held == 0 {
                held = match k.compare_exchange(0, key, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => key,
                    Err(actual) => actual,
                };
            }
            if held == key {
                n.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.other_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The detail of `minute`, if the slot holds it (read between two loads of the tag).
    fn read_detail(&self, minute: u32) -> Option<MinuteDetail> {
        if self.minute.load(Ordering::Acquire) != minute {
            return None;
        }
        let count = |c: &AtomicU32| u64::from(c.load(Ordering::Relaxed));
        let mut d = MinuteDetail::default();
        let codes = STATUS_CODES.iter().chain([&OTHER_STATUS]);
        for (status, c) in codes.zip(&self.statuses) {
            let n = count(c);
            if n > 0 {
                d.statuses.insert(*status, n);
            }
        }
        for (k, c) in self.error_keys.iter().zip(&self.error_counts) {
            let (key, n) = (k.load(Ordering::Relaxed), count(c));
            if key != 0 && n > 0 {
                *d.errors.entry(error_code(key)).or_default() += n;
            }
        }
        let other = count(&self.other_errors);
        if other > 0 {
            d.errors.insert(OTHER_ERROR.to_string(), other);
        }
        d.latency = self.latency.iter().map(count).collect();
        if d.latency.iter().all(|n| *n == 0) {
            d.latency.clear();
        }
        std::sync::atomic::fence(Ordering::Acquire);
        (self.minute.load(Ordering::Relaxed) == minute).then_some(d)
    }

    /// The totals of `minute`, if the slot holds it (read between two loads of the tag).
    fn read(&self, minute: u32) -> Option<MinuteTotals> {
        if self.minute.load(Ordering::Acquire) != minute {
            return None;
        }
        let totals = MinuteTotals {
            successes: self.successes.load(Ordering::Relaxed).into(),
            client_errors: self.client_errors.load(Ordering::Relaxed).into(),
            server_errors: self.server_errors.load(Ordering::Relaxed).into(),
            latency_us: self.latency_us.load(Ordering::Relaxed),
            request_bytes: self.request_bytes.load(Ordering::Relaxed),
            response_bytes: self.response_bytes.load(Ordering::Relaxed),
        };
        std::sync::atomic::fence(Ordering::Acquire);
        (self.minute.load(Ordering::Relaxed) == minute).then_some(totals)
    }
}

/// What one request adds to its minute.
#[derive(Debug, Clone, Copy)]
pub struct MinuteSample {
    pub status: u16,
    /// The gateway's error code (`X-Ca-Error-Code`), when it answered with one.
    pub code: Option<&'static str>,
    pub latency_us: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
}

/// The last 24 hours of one API in one stage, a slot a minute (see the module's text).
#[derive(Debug, Default)]
pub struct MinuteRing {
    blocks: [OnceLock<Box<[Slot]>>; SLOTS / BLOCK],
}

impl MinuteRing {
    fn slot(&self, minute: u32, allocate: bool) -> Option<&Slot> {
        let i = minute as usize % SLOTS;
        let cell = &self.blocks[i / BLOCK];
        let block = if allocate {
            cell.get_or_init(|| (0..BLOCK).map(|_| Slot::default()).collect())
        } else {
            cell.get()?
        };
        Some(&block[i % BLOCK])
    }

    /// Counts one request in the minute starting at `minute_start`.
    pub fn record(&self, minute_start: i64, s: &MinuteSample) {
        let Some(minute) = index_of(minute_start) else {
            return;
        };
        let Some(slot) = self.slot(minute, true).filter(|s| s.claim(minute)) else {
            return;
        };
        let count = match s.status {
            ..400 => &slot.successes,
            400..500 => &slot.client_errors,
            _ => &slot.server_errors,
        };
        count.fetch_add(1, Ordering::Relaxed);
        slot.latency_us.fetch_add(s.latency_us, Ordering::Relaxed);
        slot.statuses[status_slot(s.status)].fetch_add(1, Ordering::Relaxed);
        slot.latency[latency_bucket(s.latency_us)].fetch_add(1, Ordering::Relaxed);
        if let Some(code) = s.code.filter(|c| !c.is_empty()) {
            slot.count_error(error_key(code));
        }
        if s.request_bytes > 0 {
            slot.request_bytes
                .fetch_add(s.request_bytes, Ordering::Relaxed);
        }
        if s.response_bytes > 0 {
            slot.response_bytes
                .fetch_add(s.response_bytes, Ordering::Relaxed);
        }
    }

    /// The totals of the minute starting at `minute_start` (zero when nothing was counted in
    /// it, or it is older than the ring).
    pub fn read(&self, minute_start: i64) -> MinuteTotals {
        index_of(minute_start)
            .and_then(|m| self.slot(m, false)?.read(m))
            .unwrap_or_default()
    }

    /// The detail of the minute starting at `minute_start` (empty when nothing was counted in
    /// it, or it is older than the ring).
    pub fn read_detail(&self, minute_start: i64) -> MinuteDetail {
        index_of(minute_start)
            .and_then(|m| self.slot(m, false)?.read_detail(m))
            .unwrap_or_default()
    }
}

impl crate::Shared {
    /// The totals of `api_id` (in `stage`, or all stages added) for each minute from
    /// `from` up to (not including) `to`, minute starts in seconds since the epoch; zero for
    /// a minute this node did not count or no longer holds.
    pub fn api_minutes(
        &self,
        api_id: &str,
        stage: Option<Stage>,
        from: i64,
        to: i64,
    ) -> Vec<MinuteTotals> {
        self.api_rings(api_id, stage, from, to, |rings, m| {
            let mut t = MinuteTotals::default();
            for r in rings {
                t.add(&r.read(m));
            }
            t
        })
    }

    /// Like [`Self::api_minutes`], the detail of each minute: answers by status and error
    /// code, the latency histogram.
    pub fn api_minute_details(
        &self,
        api_id: &str,
        stage: Option<Stage>,
        from: i64,
        to: i64,
    ) -> Vec<MinuteDetail> {
        self.api_rings(api_id, stage, from, to, |rings, m| {
            let mut d = MinuteDetail::default();
            for r in rings {
                d.add(&r.read_detail(m));
            }
            d
        })
    }

    /// `read(rings, minute)` for each minute from `from` up to `to`, `rings` those of `api_id`
    /// (in `stage`, or in every stage).
    fn api_rings<T>(
        &self,
        api_id: &str,
        stage: Option<Stage>,
        from: i64,
        to: i64,
        read: impl Fn(&[&MinuteRing], i64) -> T,
    ) -> Vec<T> {
        let snapshot = self.snapshot.load();
        let rings: Vec<&MinuteRing> = snapshot
            .compiled_apis()
            .filter(|a| &*a.api_id == api_id && stage.is_none_or(|s| a.stage == s))
            .filter_map(|a| a.metrics.served()?.minutes())
            .collect();
        (from..to)
            .step_by(MINUTE_SECS as usize)
            .map(|m| read(&rings, m))
            .collect()
    }

    /// Every API and stage's non-zero totals (and their detail) in the minutes from `from` up
    /// to (not including) `to`.
    pub fn served_minutes(&self, from: i64, to: i64) -> Vec<ApiMinute> {
        let snapshot = self.snapshot.load();
        let mut out = Vec::new();
        for api in snapshot.compiled_apis() {
            let Some(ring) = api.metrics.served().and_then(|s| s.minutes()) else {
                continue;
            };
            for minute in (from..to).step_by(MINUTE_SECS as usize) {
                let totals = ring.read(minute);
                if !totals.is_zero() {
                    out.push(ApiMinute {
                        api_id: api.api_id.to_string(),
                        stage: api.stage,
                        minute,
                        totals,
                        detail: ring.read_detail(minute),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_750_000_020; // a minute's start

    fn sample(status: u16) -> MinuteSample {
        MinuteSample {
            status,
            code: None,
            latency_us: 1_500,
            request_bytes: 10,
            response_bytes: 100,
        }
    }

    #[test]
    fn requests_are_counted_in_their_minute_by_status_class() {
        let ring = MinuteRing::default();
        for status in [200, 304, 404, 429, 502] {
            ring.record(T0, &sample(status));
        }
        ring.record(T0 + 60, &sample(200));
        let t = ring.read(T0);
        assert_eq!(
            t,
            MinuteTotals {
                successes: 2,
                client_errors: 2,
                server_errors: 1,
                latency_us: 7_500,
                request_bytes: 50,
                response_bytes: 500,
            }
        );
        assert_eq!(ring.read(T0 + 60).successes, 1);
        assert!(ring.read(T0 - 60).is_zero());
    }

    fn timed(status: u16, code: Option<&'static str>, latency_us: u64) -> MinuteSample {
        MinuteSample {
            status,
            code,
            latency_us,
            request_bytes: 0,
            response_bytes: 0,
        }
    }

    #[test]
    fn answers_are_counted_by_status_and_error_code() {
        let ring = MinuteRing::default();
        for (status, code) in [
            (200, None),
            (200, None),
            (404, Some("I404NF")),
            (403, Some("A403IP")),
            (403, Some("A403IP")),
            (418, None), // not one of STATUS_CODES: "other"
            (599, None),
            // Past the four code counters of the minute: "other".
            (429, Some("T429PA")),
            (403, Some("A403AC")),
            (400, Some("I400HD")),
            (400, Some("I400HD")),
        ] {
            ring.record(T0, &timed(status, code, 50));
        }
        let d = ring.read_detail(T0);
        let statuses: Vec<(u16, u64)> = d.statuses.into_iter().collect();
        assert_eq!(
            statuses,
            [
                (OTHER_STATUS, 2),
                (200, 2),
                (400, 2),
                (403, 3),
                (404, 1),
                (429, 1)
            ]
        );
        let errors: Vec<(&str, u64)> = d.errors.iter().map(|(c, n)| (c.as_str(), *n)).collect();
        assert_eq!(
            errors,
            [
                (OTHER_ERROR, 2),
                ("A403AC", 1),
                ("A403IP", 2),
                ("I404NF", 1),
                ("T429PA", 1)
            ]
        );
        assert_eq!(d.latency[0], 11);
        assert_eq!(ring.read(T0).requests(), 11);
        assert!(ring.read_detail(T0 + 60).is_empty());
    }

    /// Known latencies, in two minutes: each minute's histogram, and percentiles of either
    /// minute and of both (buckets added), at the values the bucket bounds give.
    #[test]
    fn the_latency_histogram_gives_percentiles_per_minute_and_over_a_window() {
        let ring = MinuteRing::default();
        // Minute one: 8 requests of 80 µs (bucket <= 0.1 ms), 2 of 1.5 ms ((1, 2] ms).
        for _ in 0..8 {
            ring.record(T0, &timed(200, None, 80));
        }
        for _ in 0..2 {
            ring.record(T0, &timed(200, None, 1_500));
        }
        // Minute two: 4 requests of 30 ms ((20, 50] ms), 1 of 12 s (+Inf).
        for _ in 0..4 {
            ring.record(T0 + 60, &timed(200, None, 30_000));
        }
        ring.record(T0 + 60, &timed(504, None, 12_000_000));

        let one = ring.read_detail(T0);
        assert_eq!(one.latency.len(), LATENCY_BUCKETS);
        assert_eq!((one.latency[0], one.latency[4], one.timed()), (8, 2, 10));
        assert_eq!(one.latency_percentile_ms(0.5), Some(0.0625)); // rank 5 of 8 in [0, 0.1]
        assert_eq!(one.latency_percentile_ms(0.9), Some(1.5)); // rank 9: 1 of 2 in (1, 2]
        let p99 = one.latency_percentile_ms(0.99).unwrap(); // rank 9.9: 1.9 of 2
        assert!((p99 - 1.95).abs() < 1e-9, "{p99}");

        let two = ring.read_detail(T0 + 60);
        assert_eq!((two.latency[8], two.latency[16]), (4, 1));
        assert_eq!(two.latency_percentile_ms(0.5), Some(38.75)); // rank 2.5 of 4 in (20, 50]
        assert_eq!(two.latency_percentile_ms(0.9), Some(10_000.0)); // +Inf: the last bound

        // The window of both minutes: buckets added, then the percentiles.
        let mut both = one.clone();
        both.add(&two);
        assert_eq!(both.timed(), 15);
        assert_eq!(both.latency_percentile_ms(0.5), Some(0.09375)); // rank 7.5 of 8 in [0, 0.1]
        assert_eq!(both.latency_percentile_ms(0.9), Some(46.25)); // rank 13.5: 3.5 of 4 in (20, 50]
        assert_eq!(both.latency_percentile_ms(0.99), Some(10_000.0));
    }

    #[test]
    fn a_slot_a_day_old_reads_as_zero_and_is_reset_by_its_new_minute() {
        let ring = MinuteRing::default();
        ring.record(T0, &sample(200));
        ring.record(T0, &timed(403, Some("A403IP"), 20_000_000));
        let day = MINUTES_KEPT * MINUTE_SECS;
        // Same slot, the next day: the old minute is gone, the new one starts from zero.
        assert!(ring.read(T0 + day).is_zero());
        assert!(ring.read_detail(T0 + day).is_empty());
        ring.record(T0 + day, &sample(500));
        assert!(ring.read(T0).is_zero());
        let t = ring.read(T0 + day);
        assert_eq!((t.successes, t.server_errors), (0, 1));
        // Every counter of the detail was reset too.
        let d = ring.read_detail(T0 + day);
        assert_eq!(d.statuses.iter().collect::<Vec<_>>(), [(&500, &1)]);
        assert!(d.errors.is_empty());
        assert_eq!((d.timed(), d.latency[4]), (1, 1));
        // A request of the older minute now (the clock went back a day) is not counted.
        ring.record(T0, &sample(200));
        assert_eq!(ring.read(T0 + day).requests(), 1);
        assert!(ring.read(T0).is_zero());
    }

    /// The memory the docs state (docs/operations.md, "Monitoring data").
    #[test]
    fn a_slot_is_240_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 240);
    }

    #[test]
    fn concurrent_requests_across_a_reset_are_all_counted() {
        let ring = std::sync::Arc::new(MinuteRing::default());
        ring.record(T0, &sample(200));
        let later = T0 + MINUTES_KEPT * MINUTE_SECS;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let ring = ring.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        ring.record(later, &sample(200));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(ring.read(later).successes, 40_000);
    }
}
