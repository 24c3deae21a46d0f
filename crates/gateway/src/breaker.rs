//! The `circuitBreaker` plugin: a per-API, per-stage circuit breaker.
//!
//! The breaker counts failures (backend timeouts, or outcomes for which the configured
//! `errorCondition` holds) in a sliding window of `windowInSeconds`. When the count reaches
//! the threshold it opens for `openTimeoutSeconds`: every call is refused (or served by the
//! downgrade backend, which the caller handles). After that it is half-open: exactly one
//! probe call at a time is admitted; a probe that succeeds closes the breaker, a probe that
//! fails opens it again. The document is parsed by `apigw_plugin::circuit_breaker`.
//!
//! Time is always passed in explicitly (`now`), so the state machine is deterministic.

pub use apigw_plugin::circuit_breaker::{BreakerConfig, Downgrade, Outcome};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// What the breaker says about one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Closed: the call goes through.
    Pass,
    /// Half-open: this call is the single probe.
    Probe,
    /// Open: the call is refused.
    Open,
    /// Half-open with a probe already in flight: the call is refused.
    Busy,
}

/// Where a breaker stands, as `/metrics` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    /// Probing, or open past its timeout (the next call is a probe).
    HalfOpen,
}

impl BreakerState {
    /// `apigw_circuit_breaker_state`: 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

/// Tells the other nodes of a cluster that a breaker opened, so that theirs open too (the
/// Redis implementation publishes it; one node alone has nothing to tell).
pub trait BreakerBus: Send + Sync + 'static {
    /// The breaker of `scope` (`<ApiId>/<Stage>`) opened here for `open_for`.
    fn opened(&self, scope: &str, open_for: std::time::Duration);
}

/// No other node to tell.
pub struct NoBus;

impl BreakerBus for NoBus {
    fn opened(&self, _: &str, _: std::time::Duration) {}
}

// ---------------------------------------------------------------------------------------
// The breaker
// ---------------------------------------------------------------------------------------

/// One API's breaker on one stage.
#[derive(Debug)]
pub struct Breaker {
    config: Arc<BreakerConfig>,
    state: Mutex<State>,
    /// Mirrors `state` being `Closed`, so that the common case (closed, call succeeded) takes
    /// no lock. Written only under the lock.
    closed: AtomicBool,
}

#[derive(Debug)]
enum State {
    /// Failure times within the window, oldest first, at most `threshold` of them.
    Closed(VecDeque<Instant>),
    /// Refusing every call until the instant.
    Open(Instant),
    /// Admitting one probe; holds the start of the probe in flight, if any.
    HalfOpen(Option<Instant>),
}

impl Breaker {
    pub fn new(config: Arc<BreakerConfig>) -> Breaker {
        Breaker {
            config,
            state: Mutex::new(State::Closed(VecDeque::new())),
            closed: AtomicBool::new(true),
        }
    }

    fn set(&self, state: &mut State, new: State) {
        self.closed
            .store(matches!(new, State::Closed(_)), Ordering::Release);
        *state = new;
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decide for a call starting at `now`.
    pub fn admit(&self, now: Instant) -> Admit {
        if self.closed.load(Ordering::Acquire) {
            return Admit::Pass;
        }
        let open_timeout = self.config.open_timeout();
        let mut state = self.lock();
        match &*state {
            State::Closed(_) => Admit::Pass,
            State::Open(until) if now < *until => Admit::Open,
            // A probe whose end was never recorded does not block probing forever.
            State::HalfOpen(Some(started))
                if now.saturating_duration_since(*started) < open_timeout =>
            {
                Admit::Busy
            }
            State::Open(_) | State::HalfOpen(_) => {
                self.set(&mut state, State::HalfOpen(Some(now)));
                Admit::Probe
            }
        }
    }

    /// Record the end of a call that was admitted as Pass or Probe. True when this call
    /// opened the breaker (its failures reached the threshold while closed).
    pub fn record(&self, admitted: Admit, outcome: &Outcome, now: Instant) -> bool {
        let failed = self.config.is_failure(outcome);
        if admitted == Admit::Pass && !failed {
            return false;
        }
        let mut state = self.lock();
        match (admitted, &mut *state) {
            (Admit::Probe, State::HalfOpen(_)) => {
                let new = if failed {
                    State::Open(now + self.config.open_timeout())
                } else {
                    State::Closed(VecDeque::new())
                };
                self.set(&mut state, new);
            }
            (Admit::Pass, State::Closed(failures)) if failed => {
                let reached = self.count_failure(failures, now);
                if reached {
                    self.set(&mut state, State::Open(now + self.config.open_timeout()));
                    return true;
                }
            }
            // Successes while closed, and late ends of calls admitted under another state.
            _ => {}
        }
        false
    }

    /// Opens the breaker until `until` because another node's breaker of the same API
    /// opened (cluster mode); a breaker already open longer, or probing, is left alone.
    pub fn open_until(&self, until: Instant) {
        let mut state = self.lock();
        match &*state {
            State::Closed(_) => self.set(&mut state, State::Open(until)),
            State::Open(current) if *current < until => self.set(&mut state, State::Open(until)),
            _ => {}
        }
    }

    /// Adds a failure at `now`; says whether the threshold is reached.
    fn count_failure(&self, failures: &mut VecDeque<Instant>, now: Instant) -> bool {
        let window = self.config.window();
        while failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            failures.pop_front();
        }
        failures.push_back(now);
        while failures.len() > self.config.threshold() {
            failures.pop_front();
        }
        failures.len() >= self.config.threshold()
    }

    /// The state at `now`, without changing it (a closed breaker takes no lock).
    pub fn state_at(&self, now: Instant) -> BreakerState {
        if self.closed.load(Ordering::Acquire) {
            return BreakerState::Closed;
        }
        match &*self.lock() {
            State::Closed(_) => BreakerState::Closed,
            State::Open(until) if now < *until => BreakerState::Open,
            State::Open(_) | State::HalfOpen(_) => BreakerState::HalfOpen,
        }
    }

    /// Seconds until a half-open probe is allowed (for the D503CB message), 0 when not open.
    pub fn open_for(&self, now: Instant) -> u64 {
        let until = match &*self.lock() {
            State::Open(until) => *until,
            _ => return 0,
        };
        let left = until.saturating_duration_since(now);
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const TIMEOUT_YAML: &str = "
timeoutThreshold: 3
windowInSeconds: 30
openTimeoutSeconds: 15
downgradeBackend:
  type: mock
  statusCode: 418
  body: fallback
  headers: {X-Fallback: \"1\"}
";

    const ERROR_YAML: &str = "
errorThreshold: 2
windowInSeconds: 60
openTimeoutSeconds: 120
errorCondition: \"$LatencyMilliSeconds > 500\"
";

    fn ok() -> Outcome {
        Outcome {
            timed_out: false,
            status: Some(200),
            latency: Duration::from_millis(10),
        }
    }

    fn timeout() -> Outcome {
        Outcome {
            timed_out: true,
            status: None,
            latency: Duration::from_secs(10),
        }
    }

    fn outcome(status: u16, millis: u64) -> Outcome {
        Outcome {
            timed_out: false,
            status: Some(status),
            latency: Duration::from_millis(millis),
        }
    }

    fn breaker(doc: &str) -> Breaker {
        Breaker::new(Arc::new(BreakerConfig::parse(doc).unwrap()))
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Fails `n` Pass calls at `at`.
    fn fail(b: &Breaker, n: usize, at: Instant) {
        for _ in 0..n {
            assert_eq!(b.admit(at), Admit::Pass);
            b.record(Admit::Pass, &timeout(), at);
        }
    }

    #[test]
    fn opens_at_threshold_not_before() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 2, t);
        assert_eq!(b.admit(t), Admit::Pass);
        assert_eq!(b.open_for(t), 0);
        b.record(Admit::Pass, &timeout(), t);
        assert_eq!(b.admit(t), Admit::Open);
        assert_eq!(b.open_for(t), 15);
        assert_eq!(b.open_for(t + Duration::from_millis(14_500)), 1);
    }

    #[test]
    fn successes_do_not_count() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        for _ in 0..10 {
            b.record(Admit::Pass, &ok(), t);
        }
        fail(&b, 2, t);
        assert_eq!(b.admit(t), Admit::Pass);
    }

    #[test]
    fn window_slides() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 2, t);
        // 30 s later the first two have expired.
        fail(&b, 1, t + secs(30));
        fail(&b, 1, t + secs(31));
        assert_eq!(b.admit(t + secs(31)), Admit::Pass);
        fail(&b, 1, t + secs(59));
        assert_eq!(b.admit(t + secs(59)), Admit::Open);
    }

    #[test]
    fn error_mode_counts_condition_and_timeouts() {
        let b = breaker(ERROR_YAML);
        let t = Instant::now();
        b.record(Admit::Pass, &outcome(200, 100), t);
        b.record(Admit::Pass, &outcome(200, 600), t);
        assert_eq!(b.admit(t), Admit::Pass);
        b.record(Admit::Pass, &timeout(), t);
        assert_eq!(b.admit(t), Admit::Open);
    }

    #[test]
    fn half_open_admits_one_probe() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 3, t);
        assert_eq!(b.admit(t + secs(14)), Admit::Open);
        let later = t + secs(15);
        assert_eq!(b.open_for(later), 0);
        assert_eq!(b.admit(later), Admit::Probe);
        assert_eq!(b.admit(later), Admit::Busy);
        assert_eq!(b.admit(later + secs(1)), Admit::Busy);
        assert_eq!(b.open_for(later), 0);
    }

    #[test]
    fn probe_success_closes() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 3, t);
        let later = t + secs(15);
        assert_eq!(b.admit(later), Admit::Probe);
        b.record(Admit::Probe, &ok(), later);
        assert_eq!(b.admit(later), Admit::Pass);
        // Failures were cleared: it takes the full threshold again.
        fail(&b, 2, later);
        assert_eq!(b.admit(later), Admit::Pass);
        fail(&b, 1, later);
        assert_eq!(b.admit(later), Admit::Open);
    }

    #[test]
    fn probe_failure_reopens() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 3, t);
        let later = t + secs(15);
        assert_eq!(b.admit(later), Admit::Probe);
        let end = later + secs(2);
        b.record(Admit::Probe, &timeout(), end);
        assert_eq!(b.admit(end), Admit::Open);
        assert_eq!(b.open_for(end), 15);
        assert_eq!(b.admit(end + secs(15)), Admit::Probe);
    }

    #[test]
    fn lost_probe_does_not_block_forever() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 3, t);
        assert_eq!(b.admit(t + secs(15)), Admit::Probe);
        assert_eq!(b.admit(t + secs(29)), Admit::Busy);
        assert_eq!(b.admit(t + secs(30)), Admit::Probe);
    }

    #[test]
    fn late_pass_results_are_ignored_while_open() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        fail(&b, 3, t);
        b.record(Admit::Pass, &ok(), t);
        b.record(Admit::Pass, &timeout(), t);
        assert_eq!(b.open_for(t), 15);
        let later = t + secs(15);
        assert_eq!(b.admit(later), Admit::Probe);
        b.record(Admit::Pass, &ok(), later);
        assert_eq!(b.admit(later), Admit::Busy);
    }

    #[test]
    fn default_breaker_opens_after_1000_timeouts() {
        let b = Breaker::new(Arc::new(BreakerConfig::default_config()));
        let t = Instant::now();
        fail(&b, 999, t);
        assert_eq!(b.admit(t), Admit::Pass);
        fail(&b, 1, t);
        assert_eq!(b.admit(t), Admit::Open);
        assert_eq!(b.open_for(t), 90);
        assert!(b.config().downgrade().is_none());
    }

    #[test]
    fn the_state_is_read_without_moving_it() {
        let b = breaker(TIMEOUT_YAML);
        let t = Instant::now();
        assert_eq!(b.state_at(t), BreakerState::Closed);
        fail(&b, 3, t);
        assert_eq!(b.state_at(t), BreakerState::Open);
        // Past the open timeout the next call would probe; reading it admits nothing.
        let later = t + secs(16);
        assert_eq!(b.state_at(later), BreakerState::HalfOpen);
        assert_eq!(b.state_at(later).gauge(), 2);
        assert_eq!(b.admit(later), Admit::Probe);
        assert_eq!(b.state_at(later), BreakerState::HalfOpen);
        b.record(Admit::Probe, &ok(), later);
        assert_eq!(b.state_at(later).gauge(), 0);
    }

    #[test]
    fn poisoned_lock_is_recovered() {
        let b = Arc::new(breaker(TIMEOUT_YAML));
        let b2 = Arc::clone(&b);
        let _ = std::thread::spawn(move || {
            let _guard = b2.state.lock().unwrap();
            panic!("poison");
        })
        .join();
        assert_eq!(b.admit(Instant::now()), Admit::Pass);
    }
}
