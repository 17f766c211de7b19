//! Duplicate executions and idempotency keys at a service.
//!
//! A logical request can be executed more than once at a node: a caller times out, retries,
//! and the original was still being worked on (seed 000's payments scenario: duplicate
//! charges). Every node that can receive retries remembers which logical requests it started
//! over the last [`TRACKING`] of simulated time and counts a second start as a `duplicate`.
//!
//! With idempotency keys (`idempotency: Idempotency(retention, replay)`), a request whose key
//! completed successfully within `retention` is not executed again: it is answered from the
//! stored result, in the `replay` service time (a lookup), counted as `replayed` — a duplicate
//! avoided. One whose original is still being executed is refused at once (Stripe answers 409
//! Conflict, "a request with this key is in progress"; refused as `idempotency_conflict`), so
//! its caller retries later and gets the stored result: no key is ever executed twice at once.

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::engine::time::{Nanos, secs_to_nanos};
use crate::model::dist::Dist;
use crate::params::{Field, Params, Visitor};

/// How long a node remembers the requests it started, to count duplicates: ten minutes.
pub const TRACKING: Nanos = 600_000_000_000;

/// Idempotency keys at a service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Idempotency")]
pub struct IdempotencySpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How long a completed request's result is kept, in seconds (default 24 h, as Stripe's
    /// idempotency keys).
    #[serde(default = "a_day")]
    pub retention: f64,
    /// The service time of answering from the stored result (default 1 ms).
    #[serde(default = "lookup")]
    pub replay: Dist,
}

fn yes() -> bool {
    true
}
fn a_day() -> f64 {
    86_400.0
}
fn lookup() -> Dist {
    Dist::Deterministic { mean: 0.001 }
}

impl Default for IdempotencySpec {
    /// No keys (no `idempotency:` in the file).
    fn default() -> Self {
        Self { enabled: false, retention: a_day(), replay: lookup() }
    }
}

impl IdempotencySpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }
}

impl Params for IdempotencySpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "answer a repeated request from its stored result");
        v.field("retention", Field::PositiveSeconds(&mut self.retention), "how long a result is kept");
        v.group("replay", &mut self.replay);
    }
}

/// What a node remembers of the logical requests it executed. Membership only: no iteration
/// over the sets, so hashing order never reaches results.
#[derive(Debug, Default)]
pub struct Executions {
    started: Memory,
    completed: Memory,
    /// Started and not finished yet (keys on only).
    in_progress: HashSet<u64>,
}

/// Ids seen within a window, oldest first.
#[derive(Debug, Default)]
struct Memory {
    order: VecDeque<(Nanos, u64)>,
    ids: HashSet<u64>,
}

impl Memory {
    fn forget_before(&mut self, t: Nanos) {
        while let Some(&(at, id)) = self.order.front() {
            if at >= t {
                break;
            }
            self.order.pop_front();
            self.ids.remove(&id);
        }
    }

    fn insert(&mut self, now: Nanos, id: u64) {
        if self.ids.insert(id) {
            self.order.push_back((now, id));
        }
    }
}

/// How a request about to start is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Executed for the first time.
    First,
    /// Executed again: a duplicate execution.
    Duplicate,
    /// Answered from the stored result of an earlier completion.
    Replay,
    /// Refused: the same key is being executed right now (keys on).
    InProgress,
}

impl Executions {
    /// Request `id` would start at `now`: is it a first execution, a duplicate, or (with `keys`)
    /// a replay? Remembers the start.
    pub fn start(&mut self, keys: &IdempotencySpec, now: Nanos, id: u64) -> Start {
        self.started.forget_before(now.saturating_sub(TRACKING));
        if keys.enabled {
            self.completed.forget_before(now.saturating_sub(secs_to_nanos(keys.retention)));
            if self.completed.ids.contains(&id) {
                return Start::Replay;
            }
            if self.in_progress.contains(&id) {
                return Start::InProgress;
            }
            self.in_progress.insert(id);
        }
        if self.started.ids.contains(&id) {
            return Start::Duplicate;
        }
        self.started.insert(now, id);
        Start::First
    }

    /// The execution of request `id` ended at `now` (however it ended); `success` stores its
    /// result (with keys on).
    pub fn finished(&mut self, keys: &IdempotencySpec, now: Nanos, id: u64, success: bool) {
        self.in_progress.remove(&id);
        if keys.enabled && success {
            self.completed.insert(now, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;

    #[test]
    fn a_second_start_is_a_duplicate_unless_a_key_replays_it() {
        let off = IdempotencySpec::default();
        let mut e = Executions::default();
        assert_eq!(e.start(&off, 0, 7), Start::First);
        assert_eq!(e.start(&off, S / 2, 7), Start::Duplicate, "a retry while the original still runs");
        e.finished(&off, S, 7, true);
        assert_eq!(e.start(&off, 2 * S, 7), Start::Duplicate, "the retry runs the payment again");
        let keys = IdempotencySpec { enabled: true, retention: 60.0, ..IdempotencySpec::default() };
        let mut e = Executions::default();
        assert_eq!(e.start(&keys, 0, 7), Start::First);
        assert_eq!(e.start(&keys, S / 2, 7), Start::InProgress, "409: the original still runs");
        e.finished(&keys, S, 7, true);
        assert_eq!(e.start(&keys, 2 * S, 7), Start::Replay);
        assert_eq!(e.start(&keys, 62 * S, 7), Start::Duplicate, "past the retention the key is gone");
        e.finished(&keys, 63 * S, 7, false);
        assert_eq!(e.start(&keys, 64 * S, 7), Start::Duplicate, "a failed execution stores nothing");
    }

    #[test]
    fn memory_is_bounded_by_the_tracking_window() {
        let off = IdempotencySpec::default();
        let mut e = Executions::default();
        for i in 0..1000 {
            e.start(&off, i * S, i);
        }
        assert!(e.started.order.len() <= 601, "{}", e.started.order.len());
        assert_eq!(e.start(&off, 1000 * S, 999), Start::Duplicate);
        assert_eq!(e.start(&off, 1000 * S, 1), Start::First, "forgotten after ten minutes");
    }
}
