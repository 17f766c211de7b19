//! Hedged requests (Dean and Barroso, "The Tail at Scale"; gRPC's hedging policy, gRFC A6): if
//! an attempt has not been answered after a delay, send a second copy of it to the same callee;
//! the first answer wins and the other copy is abandoned — or cancelled, with the edge's
//! `cancel_on_timeout` — and counted as abandoned work where it runs.
//!
//! The delay is fixed (`delay`), or, with `quantile` above 0, that quantile of the edge's own
//! recent answer times (the paper's "defer the second request until the first has been
//! outstanding for more than the 95th-percentile expected latency"), once 20 answers are known.
//! A hedge is an attempt like any other (counted in `attempts`, and as `hedges`) and shares the
//! attempt's timeout and the request's deadline. At most one hedge per attempt.

use serde::{Deserialize, Serialize};

use crate::engine::time::{Nanos, secs_to_nanos};
use crate::metrics::histogram::WindowHistogram;
use crate::params::{Field, Params, Visitor};

/// Answers needed before the running quantile replaces the fixed delay.
pub const MIN_ANSWERS: u64 = 20;

/// When to send a second copy of an attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Hedge")]
pub struct HedgeSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Seconds without an answer before the hedge is sent (default 50 ms).
    #[serde(default = "fifty_ms")]
    pub delay: f64,
    /// Use this quantile of recent answer times instead of `delay` (0 = the fixed delay;
    /// 0.95 is the paper's choice).
    #[serde(default)]
    pub quantile: f64,
}

fn yes() -> bool {
    true
}
fn fifty_ms() -> f64 {
    0.05
}

impl Default for HedgeSpec {
    /// No hedging (no `hedge:` in the file).
    fn default() -> Self {
        Self { enabled: false, delay: fifty_ms(), quantile: 0.0 }
    }
}

impl HedgeSpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }
}

impl Params for HedgeSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "send a second copy of a slow attempt");
        v.field("delay", Field::Seconds(&mut self.delay), "wait this long for an answer before hedging");
        v.field(
            "quantile",
            Field::Real(&mut self.quantile, 0.0, 0.999),
            "hedge after this quantile of recent answer times (0: the fixed delay)",
        );
    }
}

/// True when the edge does not hedge.
#[inline]
pub fn transparent(spec: &HedgeSpec) -> bool {
    !spec.enabled
}

/// The edge's recent answer times, for a quantile delay.
#[derive(Debug, Default)]
pub struct Hedging {
    answers: WindowHistogram,
    count: u64,
}

impl Hedging {
    /// An answer came back `duration` after its attempt was sent.
    pub fn answered(&mut self, duration: Nanos) {
        self.answers.record(duration);
        self.count += 1;
    }

    /// How long to wait before hedging an attempt sent now.
    pub fn delay(&self, spec: &HedgeSpec) -> Nanos {
        if spec.quantile > 0.0 && self.count >= MIN_ANSWERS && !self.answers.is_empty() {
            return self.answers.quantiles([spec.quantile])[0].max(1);
        }
        secs_to_nanos(spec.delay).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Nanos = 1_000_000;

    #[test]
    fn a_fixed_delay_until_enough_answers_then_their_quantile() {
        let spec = HedgeSpec { enabled: true, delay: 0.05, quantile: 0.95 };
        let mut h = Hedging::default();
        assert_eq!(h.delay(&spec), 50 * MS);
        for i in 1..=100 {
            h.answered(i * MS);
        }
        let d = h.delay(&spec);
        // The series histogram is log-linear (≤ 6.25 % relative error): p95 of 1..100 ms ≈ 95 ms.
        assert!((89 * MS..=101 * MS).contains(&d), "{d}");
        let fixed = HedgeSpec { quantile: 0.0, ..spec };
        assert_eq!(h.delay(&fixed), 50 * MS);
        assert!(transparent(&HedgeSpec::default()) && !transparent(&fixed));
    }
}
