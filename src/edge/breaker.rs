//! The circuit-breaker layer: Resilience4j's count-based `CircuitBreakerStateMachine`
//! (resilience-semantics §1a), as a clock-free state machine tested on scripted outcomes.
//!
//! Place in the edge's stack: inside retry, outside the rate limit and the timeout, so every
//! attempt asks the breaker first and every attempt's outcome is recorded in it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::engine::time::{Nanos, secs_to_nanos};
use crate::params::{Field, Params, Visitor};

/// A count-based circuit breaker with Resilience4j's semantics and defaults.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Breaker")]
pub struct BreakerSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Sliding window size in calls (`slidingWindowSize`, default 100).
    #[serde(default = "hundred")]
    pub window: u32,
    /// No decision below this many calls (`minimumNumberOfCalls`, default 100).
    #[serde(default = "hundred")]
    pub min_calls: u32,
    /// Trip at ≥ this failure percentage (`failureRateThreshold`, default 50).
    #[serde(default = "fifty")]
    pub failure_rate: f64,
    /// Trip at ≥ this slow-call percentage (`slowCallRateThreshold`, default 100).
    #[serde(default = "hundred_f")]
    pub slow_call_rate: f64,
    /// A call is slow if it takes longer than this (`slowCallDurationThreshold`, 60 s).
    #[serde(default = "sixty")]
    pub slow_call_duration: f64,
    /// Time spent OPEN before probing (`waitDurationInOpenState`, 60 s).
    #[serde(default = "sixty")]
    pub open_wait: f64,
    /// Probe calls let through in HALF_OPEN (`permittedNumberOfCallsInHalfOpenState`, 10).
    #[serde(default = "ten")]
    pub half_open_calls: u32,
    /// Move to HALF_OPEN on a timer instead of on the first call after the wait.
    #[serde(default)]
    pub automatic_half_open: bool,
}

fn yes() -> bool {
    true
}
fn hundred() -> u32 {
    100
}
fn hundred_f() -> f64 {
    100.0
}
fn fifty() -> f64 {
    50.0
}
fn sixty() -> f64 {
    60.0
}
fn ten() -> u32 {
    10
}

impl Default for BreakerSpec {
    /// Resilience4j's defaults, disabled (no `breaker:` in the file).
    fn default() -> Self {
        Self {
            enabled: false,
            window: 100,
            min_calls: 100,
            failure_rate: 50.0,
            slow_call_rate: 100.0,
            slow_call_duration: 60.0,
            open_wait: 60.0,
            half_open_calls: 10,
            automatic_half_open: false,
        }
    }
}

impl Params for BreakerSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "circuit breaker on this edge");
        v.field(
            "window",
            Field::CountUpTo(&mut self.window, 1, crate::scenario::rules::MAX_WINDOW),
            "sliding window, in calls (at most 1 000 000)",
        );
        v.field("min_calls", Field::Count(&mut self.min_calls, 1), "no decision below this many calls");
        v.field("failure_rate", Field::Real(&mut self.failure_rate, 0.0, 100.0), "trip at ≥ this failure percentage");
        v.field(
            "slow_call_rate",
            Field::Real(&mut self.slow_call_rate, 0.0, 100.0),
            "trip at ≥ this slow-call percentage",
        );
        v.field("slow_call_duration", Field::Seconds(&mut self.slow_call_duration), "calls longer than this are slow");
        v.field("open_wait", Field::Seconds(&mut self.open_wait), "time OPEN before probing");
        v.field("half_open_calls", Field::Count(&mut self.half_open_calls, 1), "probe calls let through in HALF_OPEN");
        v.field(
            "automatic_half_open",
            Field::Flag(&mut self.automatic_half_open),
            "go HALF_OPEN on a timer rather than on the next call",
        );
    }
}

/// True when the breaker is off: it permits every attempt and records nothing.
#[inline]
pub fn transparent(spec: &BreakerSpec) -> bool {
    !spec.enabled
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
