//! The fallback layer, outermost on an edge: when the call has failed for good (after every
//! retry the policy allowed), answer the caller from a default or a cache instead of failing
//! (seed 002: "degrade responses, e.g. partial results, when saturated"; Resilience4j's and
//! Hystrix's `fallback`). The caller sees a success of lower value: counted as `fallbacks` on the
//! edge and as `degraded` at the caller, so goodput can tell the two apart.

use serde::{Deserialize, Serialize};

use super::Outcome;
use crate::params::{Field, Params, Visitor};

/// Answer failed calls from a fallback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Fallback")]
pub struct FallbackSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl Default for FallbackSpec {
    /// No fallback (no `fallback:` in the file).
    fn default() -> Self {
        Self { enabled: false }
    }
}

impl FallbackSpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }
}

impl Params for FallbackSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "answer failed calls from a default or cache");
    }
}

/// True when the edge has no fallback.
#[inline]
pub fn transparent(spec: &FallbackSpec) -> bool {
    !spec.enabled
}

/// The outcome the caller sees for an exchange that ended with `outcome`: a failure becomes a
/// (fallback) success when the layer is on. Returns it and whether the fallback answered.
#[inline]
pub fn answer(spec: &FallbackSpec, outcome: Outcome) -> (Outcome, bool) {
    if spec.enabled && outcome != Outcome::Ok { (Outcome::Ok, true) } else { (outcome, false) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fallback_answers_every_failure_and_leaves_successes_alone() {
        let on = FallbackSpec { enabled: true };
        for failure in [Outcome::Error, Outcome::Timeout, Outcome::Rejected, Outcome::BreakerOpen, Outcome::RateLimited]
        {
            assert_eq!(answer(&on, failure), (Outcome::Ok, true));
        }
        assert_eq!(answer(&on, Outcome::Ok), (Outcome::Ok, false));
        assert_eq!(answer(&FallbackSpec::default(), Outcome::Error), (Outcome::Error, false));
        assert!(transparent(&FallbackSpec::default()) && !transparent(&on));
    }
}
