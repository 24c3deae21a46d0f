//! The `caching` plugin (plugins.md §5): GET responses kept in memory per API and stage,
//! optionally per app, per parameter values and per header values, for the plugin's
//! `duration` (or the backend's `Cache-Control: max-age`), at most 48 hours; memory bounded by
//! a byte budget shared by all APIs. When the budget is full, the least valuable entries are
//! evicted (moka's TinyLFU admission and LRU eviction) rather than new responses refused.
//! The document and its decisions live in `apigw_plugin::caching`.

pub use apigw_plugin::caching::{CachePolicy, ClientControl, MAX_TTL};
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use std::sync::Arc;
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

/// Each entry lives until its own `expires`.
struct UntilExpiry;

impl moka::Expiry<String, Arc<Entry>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        entry: &Arc<Entry>,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.expires.saturating_duration_since(created_at))
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Arc<Entry>,
        updated_at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.expires.saturating_duration_since(updated_at))
    }
}

/// The response store shared by every worker, bounded by a byte budget.
pub struct ResponseCache {
    entries: moka::sync::Cache<String, Arc<Entry>>,
}

impl ResponseCache {
    /// `capacity`: bytes of keys, headers and bodies kept in all.
    pub fn new(capacity: usize) -> ResponseCache {
        let entries = moka::sync::Cache::builder()
            .max_capacity(capacity as u64)
            .weigher(|k: &String, e: &Arc<Entry>| u32::try_from(e.size(k)).unwrap_or(u32::MAX))
            .expire_after(UntilExpiry)
            .build();
        ResponseCache { entries }
    }

    /// A live entry, if any.
    pub fn get(&self, key: &str, now: Instant) -> Option<Arc<Entry>> {
        self.entries.get(key).filter(|e| e.expires > now)
    }

    /// Stores a response for `ttl` (it may evict others, or not be admitted when colder than
    /// what it would evict).
    pub fn put(
        &self,
        key: String,
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        ttl: Duration,
        now: Instant,
    ) {
        let entry = Entry {
            status,
            headers,
            body,
            expires: now + ttl,
        };
        self.entries.insert(key, Arc::new(entry));
    }

    /// Bytes held (after pending evictions are applied).
    pub fn used(&self) -> usize {
        self.entries.run_pending_tasks();
        self.entries.weighted_size() as usize
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
    fn the_store_is_bounded_evicts_and_expires() {
        let c = ResponseCache::new(16 * 1024);
        let now = Instant::now();
        let body = Bytes::from(vec![b'a'; 1000]);
        let ttl = Duration::from_secs(10);
        let put = |k: &str| {
            c.put(
                k.to_string(),
                StatusCode::OK,
                HeaderMap::new(),
                body.clone(),
                ttl,
                now,
            )
        };
        // A hot key, read often, stays while a stream of new keys goes through the budget.
        put("hot");
        for i in 0..200 {
            assert!(c.get("hot", now).is_some(), "hot evicted after {i} puts");
            put(&format!("k{i}"));
        }
        assert!(c.used() <= 16 * 1024, "{} bytes held", c.used());
        // The newest keys are admitted once they are as hot as what they evict.
        for _ in 0..5 {
            put("late");
            let _ = c.get("late", now);
        }
        c.used();
        assert!(
            c.get("late", now).is_some(),
            "a hot newcomer is never admitted"
        );
        assert!(c.get("hot", now + ttl).is_none(), "expired");
    }
}
