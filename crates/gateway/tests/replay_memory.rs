//! The in-memory replay guard's memory per remembered value is what the docs say
//! (docs/authentication.md): measured with a counting allocator, full to capacity.

use apigw_gateway::replay::MemoryReplayGuard;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The most bytes one remembered value may cost at the default capacity, and at any
/// capacity, as docs/authentication.md says.
const DOCUMENTED_AT_DEFAULT: usize = 52;
const DOCUMENTED_AT_MOST: usize = 56;

#[test]
fn memory_per_entry_is_what_the_docs_say() {
    assert!(bytes_per_entry(1_000_000) <= DOCUMENTED_AT_DEFAULT);
    // A capacity just past a power of two (per shard) is the hash table's worst case.
    assert!(bytes_per_entry(16 * 57_400) <= DOCUMENTED_AT_MOST);
    assert!(bytes_per_entry(100_000) <= DOCUMENTED_AT_MOST);
}

/// Fills a guard of `CAPACITY` twice over and measures the bytes it holds per entry.
#[allow(non_snake_case)]
fn bytes_per_entry(CAPACITY: usize) -> usize {
    let before = LIVE.load(Ordering::Relaxed);
    let guard = MemoryReplayGuard::new(CAPACITY);
    let t0 = Instant::now();
    let ttl = Duration::from_secs(900);
    // Four times the capacity: the guard is full and evicting, as under a flood (long enough
    // for removed entries to fill each shard's table with tombstones).
    let mut value = String::new();
    for i in 0..4 * CAPACITY {
        value.clear();
        use std::fmt::Write;
        write!(value, "nonce-{i:016x}").unwrap();
        guard.check_at("app-key", &value, ttl, t0);
    }
    let used = LIVE.load(Ordering::Relaxed) - before;
    let entries = guard.len();
    assert!(entries <= CAPACITY, "{entries} entries");
    let per_entry = used.div_ceil(CAPACITY);
    eprintln!("{used} bytes for {entries} entries (capacity {CAPACITY}): {per_entry} B/entry");
    drop(guard);
    per_entry
}
