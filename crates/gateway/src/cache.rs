//! The `caching` plugin (plugins.md §5): GET responses kept in memory per API and stage,
//! optionally per app, per parameter values and per header values, for the plugin's
//! `duration` (or the backend's `Cache-Control: max-age`), at most 48 hours; memory bounded by
//! a byte budget shared by all APIs (when full, expired entries go and new responses are not
//! stored). The document and its decisions live in `apigw_plugin::caching`.

pub use apigw_plugin::caching::{CachePolicy, ClientControl, MAX_TTL};
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A stored response.
#[derive(Debug, Clone)]
pub struct Entry {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    expires: Instant,
}

impl Entry {
    fn size(&self, key: &str) -> usize {
        key.len()
            + self.body.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len() + 32)
                .sum::<usize>()
            + 64
    }
}

const SHARDS: usize = 16;

/// The response store shared by every worker: sharded maps, one byte budget.
pub struct ResponseCache {
    shards: Vec<Mutex<HashMap<String, Arc<Entry>>>>,
    hasher: ahash::RandomState,
    capacity: usize,
    used: AtomicUsize,
}

impl ResponseCache {
    /// `capacity`: bytes of keys, headers and bodies kept in all.
    pub fn new(capacity: usize) -> ResponseCache {
        ResponseCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: ahash::RandomState::new(),
            capacity,
            used: AtomicUsize::new(0),
        }
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Entry>>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A live entry, if any (an expired one is dropped).
    pub fn get(&self, key: &str, now: Instant) -> Option<Arc<Entry>> {
        let mut shard = self.shard(key);
        match shard.get(key) {
            Some(e) if e.expires > now => Some(e.clone()),
            Some(_) => {
                if let Some(old) = shard.remove(key) {
                    self.used.fetch_sub(old.size(key), Ordering::Relaxed);
                }
                None
            }
            None => None,
        }
    }

    /// Stores a response for `ttl`; false when it does not fit in the budget.
    pub fn put(
        &self,
        key: String,
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        ttl: Duration,
        now: Instant,
    ) -> bool {
        let entry = Entry {
            status,
            headers,
            body,
            expires: now + ttl,
        };
        let size = entry.size(&key);
        if self.used.load(Ordering::Relaxed) + size > self.capacity {
            self.sweep(now);
            if self.used.load(Ordering::Relaxed) + size > self.capacity {
                return false;
            }
        }
        let mut shard = self.shard(&key);
        self.used.fetch_add(size, Ordering::Relaxed);
        if let Some(old) = shard.insert(key.clone(), Arc::new(entry)) {
            self.used.fetch_sub(old.size(&key), Ordering::Relaxed);
        }
        true
    }

    /// Drops every expired entry.
    pub fn sweep(&self, now: Instant) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            let mut freed = 0;
            shard.retain(|k, e| {
                let keep = e.expires > now;
                if !keep {
                    freed += e.size(k);
                }
                keep
            });
            self.used.fetch_sub(freed, Ordering::Relaxed);
        }
    }

    /// Bytes held.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// The largest single response considered for caching.
pub fn max_entry(capacity: usize) -> usize {
    (capacity / 8).max(1024)
}

/// The header marking a response served from the cache.
pub static X_CA_CACHING: HeaderName = HeaderName::from_static("x-ca-caching");

/// `true`, for [`X_CA_CACHING`].
pub fn hit_marker() -> HeaderValue {
    HeaderValue::from_static("true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_bounded_and_expires() {
        let c = ResponseCache::new(4096);
        let now = Instant::now();
        let body = Bytes::from(vec![b'a'; 1000]);
        let ttl = Duration::from_secs(10);
        let mut stored = 0;
        for i in 0..10 {
            if c.put(
                format!("k{i}"),
                StatusCode::OK,
                HeaderMap::new(),
                body.clone(),
                ttl,
                now,
            ) {
                stored += 1;
            }
        }
        assert!((1..10).contains(&stored), "{stored} stored");
        assert!(c.used() <= 4096);
        assert!(c.get("k0", now).is_some());
        assert!(c.get("k0", now + ttl).is_none(), "expired");
        // Once entries expire there is room again.
        assert!(c.put(
            "new".into(),
            StatusCode::OK,
            HeaderMap::new(),
            body,
            ttl,
            now + ttl
        ));
    }
}
