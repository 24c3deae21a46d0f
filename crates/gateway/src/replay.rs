//! Replay protection: remembers values (`X-Ca-Nonce` per AppKey, JWT `jti`) for a while and
//! says whether one was seen before.
//!
//! [`ReplayGuard`] is the seam for a cluster: the in-memory [`MemoryReplayGuard`] serves one
//! node; a Redis one (`SET key 1 NX PX ttl`) can serve many.

use ahash::RandomState;
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First use: recorded now.
    First,
    /// Used before, within its time to live.
    Again,
    /// The shared store did not answer: whether it was used before is unknown, and the
    /// caller refuses the request (fail closed, `X503NS`).
    Unavailable,
}

#[async_trait]
pub trait ReplayGuard: Send + Sync + 'static {
    /// Records `value` in `scope` for `ttl` and says whether it was already there.
    async fn check(&self, scope: &str, value: &str, ttl: Duration) -> Seen;

    /// What `/metrics` reports about the guard; `None` for a guard kept elsewhere (Redis).
    fn stats(&self) -> Option<ReplayStats> {
        None
    }
}

/// The size of an in-memory replay guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayStats {
    /// Values held (an expired one stays until new values sweep it out).
    pub entries: usize,
    /// Values dropped before their time because the guard was full.
    pub evicted_early: u64,
}

const SHARDS: usize = 16;

/// A remembered value: 96 bits of two keyed hashes of (scope, value).
type Key = [u32; 3];

/// A bounded in-memory guard. Values are kept as 96-bit keyed hashes (so a long nonce costs
/// no more than a short one) with a deadline in whole seconds, in shards each with its own
/// short-lived lock. When full, expired entries go first, then the oldest ones: memory stays
/// bounded under a flood of unique values, at the price of forgetting the oldest values early
/// (counted in [`MemoryReplayGuard::evicted_early`]).
///
/// Memory: an entry is 16 bytes in the hash table (plus one control byte, with the table's
/// size a power of two at most 7/8 full) and 16 bytes in the insertion-order ring, which grows
/// to the shard's capacity and no further: about 52 bytes per entry at the default capacity of
/// 1,000,000, at most 56 at any capacity (`tests/replay_memory.rs` measures it).
pub struct MemoryReplayGuard {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    hashers: (RandomState, RandomState),
    evicted_early: std::sync::atomic::AtomicU64,
    /// Deadlines are seconds since this instant.
    epoch: Instant,
}

#[derive(Default)]
struct Shard {
    until: HashMap<Key, u32, RandomState>,
    /// Insertion order (deadline, value), for expiry and eviction.
    order: VecDeque<(u32, Key)>,
}

impl MemoryReplayGuard {
    /// `capacity`: most values remembered in all (at least 16).
    pub fn new(capacity: usize) -> MemoryReplayGuard {
        MemoryReplayGuard {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: capacity.max(SHARDS) / SHARDS,
            hashers: (RandomState::new(), RandomState::new()),
            evicted_early: Default::default(),
            epoch: Instant::now(),
        }
    }

    /// Values dropped before their time because the guard was full.
    pub fn evicted_early(&self) -> u64 {
        self.evicted_early
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).until.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn key(&self, scope: &str, value: &str) -> Key {
        let a = self.hashers.0.hash_one((scope, value));
        let b = self.hashers.1.hash_one((scope, value));
        [a as u32, (a >> 32) as u32, b as u32]
    }

    /// Whole seconds from the guard's epoch to `t` (0 before it).
    fn seconds(&self, t: Instant) -> u32 {
        let s = t.saturating_duration_since(self.epoch).as_secs();
        u32::try_from(s).unwrap_or(u32::MAX)
    }

    /// Synchronous form of [`ReplayGuard::check`], at a given instant. A value is remembered
    /// for at least `ttl` (at most a second more: deadlines are whole seconds).
    pub fn check_at(&self, scope: &str, value: &str, ttl: Duration, now: Instant) -> Seen {
        let key = self.key(scope, value);
        let now = self.seconds(now);
        let mut shard = self.shards[(key[0] as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(&until) = shard.until.get(&key) {
            if until > now {
                return Seen::Again;
            }
        }
        // Drop what has expired (oldest first), then make room if still full.
        while let Some(&(until, k)) = shard.order.front() {
            if until > now && shard.until.len() < self.per_shard {
                break;
            }
            shard.order.pop_front();
            if shard.until.get(&k) == Some(&until) {
                shard.until.remove(&k);
                if until > now {
                    self.evicted_early
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        let ttl =
            u32::try_from(ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)).unwrap_or(u32::MAX);
        let until = now.saturating_add(ttl);
        // Removed entries leave tombstones in the table; once they fill it, rebuild it at the
        // shard's capacity rather than let it double (the flood case).
        if shard.until.len() == shard.until.capacity() && shard.until.len() >= self.per_shard / 2 {
            let mut fresh = HashMap::with_capacity_and_hasher(self.per_shard, RandomState::new());
            fresh.extend(shard.until.drain());
            shard.until = fresh;
        }
        shard.until.insert(key, until);
        // The ring doubles up to the shard's capacity, not past it (a value seen again after
        // it expired leaves a stale entry behind, so the ring may hold a few more: it then
        // grows by an eighth).
        let (len, cap) = (shard.order.len(), shard.order.capacity());
        if len == cap {
            let target = if cap < self.per_shard {
                (cap * 2).clamp(16, self.per_shard)
            } else {
                cap + cap / 8 + 1
            };
            shard.order.reserve_exact(target - len);
        }
        shard.order.push_back((until, key));
        Seen::First
    }
}

#[async_trait]
impl ReplayGuard for MemoryReplayGuard {
    async fn check(&self, scope: &str, value: &str, ttl: Duration) -> Seen {
        self.check_at(scope, value, ttl, Instant::now())
    }

    fn stats(&self) -> Option<ReplayStats> {
        Some(ReplayStats {
            entries: self.len(),
            evicted_early: self.evicted_early(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(900);

    #[test]
    fn a_value_is_accepted_once_within_its_ttl() {
        let g = MemoryReplayGuard::new(1000);
        let t0 = Instant::now();
        assert_eq!(g.check_at("k1", "n", TTL, t0), Seen::First);
        assert_eq!(
            g.check_at("k1", "n", TTL, t0 + Duration::from_secs(899)),
            Seen::Again
        );
        // Another scope (AppKey) is independent.
        assert_eq!(g.check_at("k2", "n", TTL, t0), Seen::First);
        // After the TTL it is new again.
        assert_eq!(
            g.check_at("k1", "n", TTL, t0 + Duration::from_secs(901)),
            Seen::First
        );
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_unique_values() {
        let g = MemoryReplayGuard::new(1600);
        let t0 = Instant::now();
        for i in 0..100_000 {
            g.check_at("k", &format!("nonce-{i}"), TTL, t0);
        }
        assert!(g.len() <= 1600, "{} entries", g.len());
        assert!(g.evicted_early() >= 100_000 - 1600);
        // The newest values are still remembered.
        assert_eq!(g.check_at("k", "nonce-99999", TTL, t0), Seen::Again);
    }

    #[test]
    fn expired_entries_make_room_before_live_ones_are_evicted() {
        let g = MemoryReplayGuard::new(1600);
        let t0 = Instant::now();
        for i in 0..1000 {
            g.check_at("k", &format!("old-{i}"), Duration::from_secs(1), t0);
        }
        let later = t0 + Duration::from_secs(2);
        for i in 0..800 {
            assert_eq!(
                g.check_at("k", &format!("new-{i}"), TTL, later),
                Seen::First
            );
        }
        assert_eq!(g.evicted_early(), 0, "only expired values were dropped");
        assert_eq!(g.check_at("k", "new-0", TTL, later), Seen::Again);
        assert_eq!(g.check_at("k", "old-0", TTL, later), Seen::First);
    }
}
