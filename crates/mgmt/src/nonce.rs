//! Nonces seen by the management API (per AccessKey), bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct NonceCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    until: HashMap<(String, String), Instant>,
    order: VecDeque<(Instant, (String, String))>,
}

impl NonceCache {
    pub fn new(capacity: usize) -> NonceCache {
        NonceCache {
            inner: Mutex::new(Inner::default()),
            capacity,
        }
    }

    /// Records the nonce; false when it was seen within `ttl`.
    pub fn first_use(&self, key: &str, nonce: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let id = (key.to_string(), nonce.to_string());
        if g.until.get(&id).is_some_and(|&u| u > now) {
            return false;
        }
        while let Some((until, _)) = g.order.front() {
            if *until > now && g.until.len() < self.capacity {
                break;
            }
            let (until, old) = g.order.pop_front().expect("front exists");
            if g.until.get(&old) == Some(&until) {
                g.until.remove(&old);
            }
        }
        g.until.insert(id.clone(), now + ttl);
        g.order.push_back((now + ttl, id));
        true
    }
}
