//! The per-minute series of each API and stage for the monitoring actions
//! (`DescribeApiQpsData` and its siblings): the last 24 hours of this node at one-minute
//! resolution, in memory.
//!
//! Hot-path cost: a [`MinuteRing`] lives in the API's [`crate::request_metrics::RequestSeries`]
//! (carried across recompiles), as 24 hour blocks of 60 slots, each block allocated when a
//! request first lands in it. Counting a request is one slot lookup by minute, one atomic load
//! of the slot's minute tag and a few relaxed additions: no lock, no allocation (but the
//! block's first use). A slot still tagged with a minute 24 hours old is reset by the first
//! request of its new minute (a compare-and-swap claims it); a reader treats a slot with
//! another minute's tag as zero.

use apigw_model::monitor::{ApiMinute, MinuteTotals, MINUTES_KEPT, MINUTE_SECS};
use apigw_model::Stage;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

const SLOTS: usize = MINUTES_KEPT as usize;
const BLOCK: usize = 60;
/// The tag of a slot being reset.
const RESETTING: u32 = u32::MAX;

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
                for c in [&self.successes, &self.client_errors, &self.server_errors] {
                    c.store(0, Ordering::Relaxed);
                }
                for c in [&self.latency_us, &self.request_bytes, &self.response_bytes] {
                    c.store(0, Ordering::Relaxed);
                }
                self.minute.store(minute, Ordering::Release);
                return true;
            }
        }
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
        let snapshot = self.snapshot.load();
        let rings: Vec<&MinuteRing> = snapshot
            .compiled_apis()
            .filter(|a| &*a.api_id == api_id && stage.is_none_or(|s| a.stage == s))
            .filter_map(|a| a.metrics.served()?.minutes())
            .collect();
        (from..to)
            .step_by(MINUTE_SECS as usize)
            .map(|m| {
                let mut t = MinuteTotals::default();
                for r in &rings {
                    t.add(&r.read(m));
                }
                t
            })
            .collect()
    }

    /// Every API and stage's non-zero totals in the minutes from `from` up to (not
    /// including) `to`.
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

    #[test]
    fn a_slot_a_day_old_reads_as_zero_and_is_reset_by_its_new_minute() {
        let ring = MinuteRing::default();
        ring.record(T0, &sample(200));
        let day = MINUTES_KEPT * MINUTE_SECS;
        // Same slot, the next day: the old minute is gone, the new one starts from zero.
        assert!(ring.read(T0 + day).is_zero());
        ring.record(T0 + day, &sample(500));
        assert!(ring.read(T0).is_zero());
        let t = ring.read(T0 + day);
        assert_eq!((t.successes, t.server_errors), (0, 1));
        // A request of the older minute now (the clock went back a day) is not counted.
        ring.record(T0, &sample(200));
        assert_eq!(ring.read(T0 + day).requests(), 1);
        assert!(ring.read(T0).is_zero());
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
