//! Flow control: the `trafficControl` plugin (API, user and app defaults, special limits per
//! app and per user; plugins.md §1), the group and instance QPS caps and the daily quota of a
//! group's default sub-domain.
//!
//! Counting is a fixed window aligned to the UTC second, minute, hour or day, behind the
//! [`Counter`] trait so that a cluster can count in Redis (`INCR` + `PEXPIREAT` on a key
//! named after the window). The in-memory [`MemoryCounter`] is exact within one node: each
//! count is one short critical section, so N concurrent requests against a limit of L admit
//! exactly min(N, L) per window.

use ahash::AHashMap;
use ahash::RandomState;
use async_trait::async_trait;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

pub use apigw_plugin::traffic::{TrafficDoc, Unit};

/// What is counted: a scope (an API in a stage, a group, the instance), a dimension and an id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CounterKey {
    pub scope: Arc<str>,
    pub dimension: Dimension,
    pub id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Api,
    User,
    App,
    Group,
    Instance,
    DefaultDomain,
}

#[async_trait]
pub trait Counter: Send + Sync + 'static {
    /// Counts one request under `key` in the current `unit` window; true when it is within
    /// `limit` (the request may pass), false when the window's quota is used up (not counted).
    async fn acquire(&self, key: &CounterKey, limit: u64, unit: Unit, now_ms: i64) -> bool;
}

const SHARDS: usize = 16;

/// Exact fixed-window counters in memory, sharded; stale windows are dropped as new ones
/// arrive, so memory follows the number of keys active in the current windows.
pub struct MemoryCounter {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
    /// A shard holding more entries than this is swept of stale windows.
    sweep_at: usize,
}

type Shard = HashMap<(CounterKey, Unit), Window, RandomState>;

/// Drops the counters of windows that have ended.
fn sweep(shard: &mut Shard, now_ms: i64) {
    shard.retain(|(_, u), w| w.index >= now_ms.div_euclid(u.millis()));
}

#[derive(Debug, Clone, Copy)]
struct Window {
    index: i64,
    count: u64,
}

impl MemoryCounter {
    pub fn new() -> MemoryCounter {
        MemoryCounter {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::with_hasher(RandomState::new())))
                .collect(),
            hasher: RandomState::new(),
            sweep_at: 4096,
        }
    }

    fn count_now(&self, key: &CounterKey, limit: u64, unit: Unit, now_ms: i64) -> bool {
        let index = now_ms.div_euclid(unit.millis());
        let shard = (self.hasher.hash_one(key) as usize) % SHARDS;
        let mut map = self.shards[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() > self.sweep_at {
            sweep(&mut map, now_ms);
        }
        let w = map
            .entry((key.clone(), unit))
            .or_insert(Window { index, count: 0 });
        if w.index != index {
            *w = Window { index, count: 0 };
        }
        if w.count >= limit {
            return false;
        }
        w.count += 1;
        true
    }
}

impl Default for MemoryCounter {
    fn default() -> Self {
        MemoryCounter::new()
    }
}

#[async_trait]
impl Counter for MemoryCounter {
    async fn acquire(&self, key: &CounterKey, limit: u64, unit: Unit, now_ms: i64) -> bool {
        self.count_now(key, limit, unit, now_ms)
    }
}

/// A compiled `trafficControl` plugin bound to one API in one stage.
#[derive(Debug)]
pub struct TrafficPolicy {
    /// Names the API and stage the counters belong to.
    scope: Arc<str>,
    unit: Unit,
    api: u64,
    user: Option<u64>,
    app: Option<u64>,
    special_apps: AHashMap<i64, u64>,
    special_users: AHashMap<i64, u64>,
}

/// Why a request was throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// The API default (`T429PA`).
    Api,
    /// The app default or the app's special limit (`T429PR`).
    App,
    /// The user (the app's owner account) default or special limit (`T429PR`).
    User,
}

impl TrafficPolicy {
    /// The policy for one API in one stage (`scope` names them).
    pub fn bind(doc: &TrafficDoc, scope: Arc<str>) -> TrafficPolicy {
        TrafficPolicy {
            scope,
            unit: doc.unit,
            api: doc.api,
            user: doc.user,
            app: doc.app,
            special_apps: doc.special_apps.iter().copied().collect(),
            special_users: doc.special_users.iter().copied().collect(),
        }
    }

    /// Counts a request of `app` (with its owner account) or an anonymous one. The app's own
    /// limit is counted first, then its account's, then the API's, so a request refused for
    /// the app does not use up the API's quota.
    pub async fn admit(
        &self,
        counter: &dyn Counter,
        app: Option<(i64, i64)>,
        now_ms: i64,
    ) -> Result<(), Throttled> {
        if let Some((app_id, owner)) = app {
            let app_limit = self.special_apps.get(&app_id).copied().or(self.app);
            if let Some(limit) = app_limit {
                if !self
                    .count(counter, Dimension::App, app_id, limit, now_ms)
                    .await
                {
                    return Err(Throttled::App);
                }
            }
            let user_limit = self.special_users.get(&owner).copied().or(self.user);
            if let Some(limit) = user_limit {
                if !self
                    .count(counter, Dimension::User, owner, limit, now_ms)
                    .await
                {
                    return Err(Throttled::User);
                }
            }
        }
        if !self
            .count(counter, Dimension::Api, 0, self.api, now_ms)
            .await
        {
            return Err(Throttled::Api);
        }
        Ok(())
    }

    async fn count(
        &self,
        counter: &dyn Counter,
        dimension: Dimension,
        id: i64,
        limit: u64,
        now_ms: i64,
    ) -> bool {
        let key = CounterKey {
            scope: self.scope.clone(),
            dimension,
            id,
        };
        counter.acquire(&key, limit, self.unit, now_ms).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn key(id: i64) -> CounterKey {
        CounterKey {
            scope: "api/RELEASE".into(),
            dimension: Dimension::Api,
            id,
        }
    }

    #[test]
    fn fixed_windows_count_exactly_and_reset() {
        let c = MemoryCounter::new();
        let t0 = 1_700_000_000_000; // a second boundary
        let passed = (0..250)
            .filter(|i| c.count_now(&key(1), 100, Unit::Second, t0 + i))
            .count();
        assert_eq!(passed, 100);
        assert!(
            c.count_now(&key(1), 100, Unit::Second, t0 + 1_000),
            "new window"
        );
        assert!(c.count_now(&key(2), 1, Unit::Second, t0), "other key");
        assert!(!c.count_now(&key(2), 1, Unit::Second, t0 + 999));
        // Minute windows are aligned to the minute.
        let m0 = 1_700_000_040_000;
        assert!(c.count_now(&key(3), 1, Unit::Minute, m0 + 59_999));
        assert!(c.count_now(&key(3), 1, Unit::Minute, m0 + 60_000));
    }

    #[test]
    fn concurrent_counting_is_exact() {
        let c = Arc::new(MemoryCounter::new());
        let t0 = 1_700_000_000_000;
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| c.count_now(&key(9), 100, Unit::Second, t0 + 5))
                        .count()
                })
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 100);
    }

    #[test]
    fn stale_windows_are_swept() {
        let mut c = MemoryCounter::new();
        c.sweep_at = 10;
        let t0 = 1_700_000_000_000;
        for i in 0..500 {
            c.count_now(&key(i), 5, Unit::Second, t0);
        }
        let held =
            |c: &MemoryCounter| -> usize { c.shards.iter().map(|s| s.lock().unwrap().len()).sum() };
        assert_eq!(held(&c), 500, "current windows are kept");
        // A busy shard sweeps itself on the next count in a later window.
        let busy = (500..)
            .find(|i| {
                let s = (c.hasher.hash_one(key(*i)) as usize) % SHARDS;
                c.shards[s].lock().unwrap().len() > 10
            })
            .unwrap();
        let before = held(&c);
        c.count_now(&key(busy), 5, Unit::Second, t0 + 5_000);
        assert!(held(&c) < before - 10, "{} of {before} kept", held(&c));
        for s in &c.shards {
            sweep(&mut s.lock().unwrap(), t0 + 5_000);
        }
        assert_eq!(held(&c), 1);
    }

    #[test]
    fn dimensions_and_specials() {
        let doc = TrafficDoc::parse(
            "unit: MINUTE\napiDefault: 10\nuserDefault: 4\nappDefault: 2\nspecials:\n  - type: APP\n    policies: [{key: 7, value: 5}]\n  - type: USER\n    policies: [{key: 1, value: 6}]\n",
        )
        .unwrap();
        let p = TrafficPolicy::bind(&doc, "api/RELEASE".into());
        let c = MemoryCounter::new();
        let t = 1_700_000_040_000;
        let run = |app: Option<(i64, i64)>, n: usize| {
            block_on(async {
                let mut out = Vec::new();
                for _ in 0..n {
                    out.push(p.admit(&c, app, t).await);
                }
                out
            })
        };
        // App 3 of account 2: app default 2.
        let r = run(Some((3, 2)), 3);
        assert_eq!(r, vec![Ok(()), Ok(()), Err(Throttled::App)]);
        // App 8 of the same account: its own 2, which leaves account 2 at its user default 4.
        let r = run(Some((8, 2)), 3);
        assert_eq!(r, vec![Ok(()), Ok(()), Err(Throttled::App)]);
        assert_eq!(run(Some((9, 2)), 1), vec![Err(Throttled::User)]);
        // App 7 (special 5) of account 1 (special 6): 5 pass.
        let r = run(Some((7, 1)), 6);
        assert_eq!(r.iter().filter(|x| x.is_ok()).count(), 5);
        // Anonymous callers only meet the API default: 10 - 4 - 5 = 1 left.
        let r = run(None, 3);
        assert_eq!(r, vec![Ok(()), Err(Throttled::Api), Err(Throttled::Api)]);
    }
}
