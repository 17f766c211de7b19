//! Call policies on an edge, composed as tower composes layers: Retry(Breaker(Timeout(call))).
//!
//! This file holds the policy state machines as plain, clock-free logic so that they can be
//! tested on scripted outcome sequences: the circuit breaker ([`Breaker`], Resilience4j's
//! count-based `CircuitBreakerStateMachine`) and the retry backoff ([`backoff`], the AWS
//! "Exponential Backoff and Jitter" formulas). The timeout itself is a calendar event handled by
//! the kernel. [`Link`] is the edge entity's component that carries all three.

use std::collections::VecDeque;

use bevy::ecs::component::Component;
use bevy::ecs::entity::Entity;

use crate::engine::rng::{SimRng, unit};
use crate::engine::time::{Nanos, secs_to_nanos};
use crate::scenario::schema::{BreakerSpec, CallPolicy, Jitter, Outcome, RetrySpec};

/// The three states of a circuit breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// How bad the state is, as plotted in the time series: 0 closed, 1 half-open, 2 open.
    pub fn level(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

const FAILED: u8 = 1;
const SLOW: u8 = 2;

/// Resilience4j's count-based circuit breaker.
///
/// * CLOSED: every call is permitted. After each recorded outcome, once the window holds at least
///   `min(min_calls, window)` calls, trip to OPEN if failure rate ≥ `failure_rate` or slow-call
///   rate ≥ `slow_call_rate` (both in percent).
/// * OPEN: calls are rejected at zero latency. After `open_wait` the breaker moves to HALF_OPEN,
///   lazily on the next call (default) or on a timer (`automatic_half_open`).
/// * HALF_OPEN: `half_open_calls` probes are admitted; others are rejected. After
///   `min(min_calls, half_open_calls)` outcomes the same thresholds decide OPEN or CLOSED
///   (with a fresh window).
#[derive(Clone, Debug)]
pub struct Breaker {
    pub state: BreakerState,
    ring: VecDeque<u8>,
    failures: u32,
    slows: u32,
    /// Probes still allowed in HALF_OPEN.
    permits: u32,
    pub opened_at: Nanos,
    /// Bumped on every transition; the automatic HALF_OPEN timer carries it.
    pub generation: u32,
    /// Number of CLOSED/HALF_OPEN → OPEN transitions.
    pub times_opened: u32,
}

/// A state change, reported so the engine can log it and arm timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            state: BreakerState::Closed,
            ring: VecDeque::new(),
            failures: 0,
            slows: 0,
            permits: 0,
            opened_at: 0,
            generation: 0,
            times_opened: 0,
        }
    }
}

impl Breaker {
    fn go(&mut self, to: BreakerState, spec: &BreakerSpec, now: Nanos) -> Transition {
        let from = self.state;
        self.state = to;
        self.generation = self.generation.wrapping_add(1);
        self.ring.clear();
        self.failures = 0;
        self.slows = 0;
        match to {
            BreakerState::Open => {
                self.opened_at = now;
                self.times_opened += 1;
            }
            BreakerState::HalfOpen => self.permits = spec.half_open_calls,
            BreakerState::Closed => {}
        }
        Transition { from, to }
    }

    /// Whether `now` is past the OPEN wait (Resilience4j: strictly after).
    pub fn wait_over(&self, spec: &BreakerSpec, now: Nanos) -> bool {
        now > self.opened_at.saturating_add(secs_to_nanos(spec.open_wait))
    }

    /// Asks to send a call. Returns whether it is permitted and any transition made on the way
    /// (the lazy OPEN → HALF_OPEN move).
    pub fn try_acquire(&mut self, spec: &BreakerSpec, now: Nanos) -> (bool, Option<Transition>) {
        if !spec.enabled {
            return (true, None);
        }
        let mut transition = None;
        if self.state == BreakerState::Open && !spec.automatic_half_open && self.wait_over(spec, now) {
            transition = Some(self.go(BreakerState::HalfOpen, spec, now));
        }
        let permitted = match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => {
                if self.permits > 0 {
                    self.permits -= 1;
                    true
                } else {
                    false
                }
            }
        };
        (permitted, transition)
    }

    /// The automatic OPEN → HALF_OPEN timer fired.
    pub fn on_wait_timer(&mut self, spec: &BreakerSpec, now: Nanos) -> Option<Transition> {
        (self.state == BreakerState::Open).then(|| self.go(BreakerState::HalfOpen, spec, now))
    }

    /// Records the outcome of a permitted call that took `duration`.
    pub fn record(&mut self, spec: &BreakerSpec, now: Nanos, failed: bool, duration: Nanos) -> Option<Transition> {
        if !spec.enabled || self.state == BreakerState::Open {
            // Outcomes of calls admitted before the breaker opened do not count (Resilience4j
            // records them against a window that was reset on the transition).
            return None;
        }
        let size = match self.state {
            BreakerState::HalfOpen => spec.half_open_calls,
            _ => spec.window,
        }
        .max(1) as usize;
        let slow = duration > secs_to_nanos(spec.slow_call_duration);
        let bits = (u8::from(failed) * FAILED) | (u8::from(slow) * SLOW);
        if self.ring.len() == size
            && let Some(old) = self.ring.pop_front()
        {
            self.failures -= u32::from(old & FAILED != 0);
            self.slows -= u32::from(old & SLOW != 0);
        }
        while self.ring.len() > size.saturating_sub(1) {
            // The window shrank at run time: drop the oldest outcomes.
            if let Some(old) = self.ring.pop_front() {
                self.failures -= u32::from(old & FAILED != 0);
                self.slows -= u32::from(old & SLOW != 0);
            }
        }
        self.ring.push_back(bits);
        self.failures += u32::from(failed);
        self.slows += u32::from(slow);
        let min_calls = spec.min_calls.min(size as u32).max(1) as usize;
        if self.ring.len() < min_calls {
            return None;
        }
        let total = self.ring.len() as f64;
        let failure_rate = f64::from(self.failures) * 100.0 / total;
        let slow_rate = f64::from(self.slows) * 100.0 / total;
        let tripped = failure_rate >= spec.failure_rate || slow_rate >= spec.slow_call_rate;
        match (self.state, tripped) {
            (_, true) => Some(self.go(BreakerState::Open, spec, now)),
            (BreakerState::HalfOpen, false) => Some(self.go(BreakerState::Closed, spec, now)),
            _ => None,
        }
    }

    /// Current failure rate in percent over the window (for display), if any calls are recorded.
    pub fn failure_rate(&self) -> Option<f64> {
        (!self.ring.is_empty()).then(|| f64::from(self.failures) * 100.0 / self.ring.len() as f64)
    }
}

/// The delay before retry number `retry` (1 = before the second attempt).
///
/// `expo(n) = min(cap, backoff · multiplier^(n−1))`; jitter as in the AWS article:
/// none = `expo`, full = `U(0, expo)`, equal = `expo/2 + U(0, expo/2)`,
/// decorrelated = `min(cap, U(base, 3·previous))` starting from `previous = base`.
pub fn backoff(spec: &RetrySpec, retry: u32, previous: Nanos, rng: &mut SimRng) -> Nanos {
    let base = spec.backoff.max(0.0);
    let cap = spec.max_backoff.max(0.0);
    let expo = (base * spec.multiplier.powi(retry.saturating_sub(1).min(1024) as i32)).min(cap);
    let secs = match spec.jitter {
        Jitter::None => expo,
        Jitter::Full => unit(rng) * expo,
        Jitter::Equal => expo / 2.0 + unit(rng) * expo / 2.0,
        Jitter::Decorrelated => {
            let prev = if previous == 0 { base } else { previous as f64 / 1e9 };
            let hi = (3.0 * prev).max(base);
            (base + unit(rng) * (hi - base)).min(cap)
        }
    };
    secs_to_nanos(secs)
}

/// Counters of one edge.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LinkStats {
    /// Attempts sent (first attempts and retries).
    pub attempts: u64,
    /// Of which retries.
    pub retries: u64,
    pub ok: u64,
    pub errors: u64,
    pub rejected: u64,
    pub dropped: u64,
    pub timeouts: u64,
    /// Calls refused by the open breaker (never sent).
    pub breaker_rejected: u64,
    /// Exchanges that ended without success (after every attempt they were allowed).
    pub gave_up: u64,
    /// Attempts currently in flight.
    pub in_flight: u64,
    /// Attempts sent, by attempt number (index 0 = first attempts; the last slot collects
    /// attempt 16 and later): the retry amplification, layer by layer.
    pub by_attempt: [u64; 16],
}

impl LinkStats {
    /// Counts an attempt sent (`attempt` is 1 for the first).
    pub fn record_sent(&mut self, attempt: u32) {
        self.attempts += 1;
        self.in_flight += 1;
        self.by_attempt[(attempt.max(1) as usize - 1).min(15)] += 1;
    }

    /// Counts the outcome of one attempt that was sent (not one refused by the breaker).
    pub fn record_outcome(&mut self, outcome: Outcome) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Rejected => self.rejected += 1,
            Outcome::Dropped => self.dropped += 1,
            Outcome::Timeout => self.timeouts += 1,
            Outcome::BreakerOpen => {}
        }
    }
}

/// An edge between a caller (source or service worker) and a callee, with its policy.
#[derive(Component, Debug)]
pub struct Link {
    /// `from->to`.
    pub name: String,
    pub from: Entity,
    pub to: Entity,
    pub policy: CallPolicy,
    pub breaker: Breaker,
    /// Jitter stream of this edge.
    pub rng: SimRng,
    pub stats: LinkStats,
    /// Cut by a fault: attempts are lost on the wire (the caller sees them as dropped).
    pub cut: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;

    fn spec() -> BreakerSpec {
        BreakerSpec {
            enabled: true,
            window: 4,
            min_calls: 4,
            failure_rate: 50.0,
            slow_call_rate: 100.0,
            slow_call_duration: 1.0,
            open_wait: 10.0,
            half_open_calls: 2,
            automatic_half_open: false,
        }
    }

    #[test]
    fn backoff_without_jitter_is_capped_exponential() {
        let s = RetrySpec { backoff: 0.1, multiplier: 2.0, max_backoff: 0.5, ..RetrySpec::default() };
        let mut rng = stream(1, "x", "y");
        let d: Vec<_> = (1..=5).map(|n| backoff(&s, n, 0, &mut rng)).collect();
        assert_eq!(d, [100_000_000, 200_000_000, 400_000_000, 500_000_000, 500_000_000]);
    }

    #[test]
    fn breaker_needs_min_calls_and_trips_at_threshold() {
        let s = spec();
        let mut b = Breaker::default();
        // 1 failure in 3 calls: below min_calls, no decision.
        for failed in [true, false, false] {
            assert_eq!(b.record(&s, 0, failed, 0), None);
        }
        // 4th call makes 2/4 = 50 % ≥ 50 %: trips.
        let t = b.record(&s, 5, true, 0);
        assert_eq!(t, Some(Transition { from: BreakerState::Closed, to: BreakerState::Open }));
        assert_eq!(b.try_acquire(&s, 5 + 10_000_000_000), (false, None));
    }
}
