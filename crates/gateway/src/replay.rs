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
}

#[async_trait]
pub trait ReplayGuard: Send + Sync + 'static {
    /// Records `value` in `scope` for `ttl` and says whether it was already there.
    async fn check(&self, scope: &str, value: &str, ttl: Duration) -> Seen;
}

const SHARDS: usize = 16;

/// A bounded in-memory guard. Values are kept as 128-bit keyed hashes (so a long nonce costs
/// no more than a short one), in shards each with its own short-lived lock. When full, expired
/// entries go first, then the oldest ones: memory stays bounded under a flood of unique values,
/// at the price of forgetting the oldest values early (logged).
pub struct MemoryReplayGuard {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    hashers: (RandomState, RandomState),
    evicted_early: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Shard {
    until: HashMap<u128, Instant>,
    /// Insertion order, for expiry and eviction.
    order: VecDeque<(Instant, u128)>,
}

impl MemoryReplayGuard {
    /// `capacity`: most values remembered in all (at least 16).
    pub fn new(capacity: usize) -> MemoryReplayGuard {
        MemoryReplayGuard {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: capacity.max(SHARDS) / SHARDS,
            hashers: (RandomState::new(), RandomState::new()),
            evicted_early: Default::default(),
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

    fn key(&self, scope: &str, value: &str) -> u128 {
        let a = self.hashers.0.hash_one((scope, value));
        let b = self.hashers.1.hash_one((scope, value));
        (u128::from(a) << 64) | u128::from(b)
    }

    /// Synchronous form of [`ReplayGuard::check`], at a given instant.
    pub fn check_at(&self, scope: &str, value: &str, ttl: Duration, now: Instant) -> Seen {
        let key = self.key(scope, value);
        let mut shard = self.shards[(key as usize) % SHARDS]
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
        let until = now + ttl;
        shard.until.insert(key, until);
        shard.order.push_back((until, key));
        Seen::First
    }
}

#[async_trait]
impl ReplayGuard for MemoryReplayGuard {
    async fn check(&self, scope: &str, value: &str, ttl: Duration) -> Seen {
        self.check_at(scope, value, ttl, Instant::now())
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
