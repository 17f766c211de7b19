//! The network under an edge: a delay per direction and a loss probability.
//!
//! Real retry experiments depend on it (AWS's backoff study used a network delay of about
//! 10 ms ± 2 ms). A request's attempt travels `request` seconds before it reaches the callee
//! (a request already on the wire still arrives after its caller gave up, and is worked on:
//! abandoned work), and the answer travels `response` seconds back; the caller's timeout runs
//! from the send, so it includes both. With probability `loss` an attempt is lost on the way
//! and only the caller's timeout notices (without a timeout the caller is told at once, as for a
//! cut edge, so a run cannot leak requests). The default is no network at all, so results
//! without one stay exactly as they were.

use serde::{Deserialize, Serialize};

use crate::engine::rng::{SimRng, unit};
use crate::engine::time::Nanos;
use crate::model::dist::Dist;
use crate::params::{Field, Params, Visitor};

/// Delays and loss on one edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Network")]
pub struct NetworkSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// One-way delay of a request, caller to callee (default none).
    #[serde(default = "no_delay")]
    pub request: Dist,
    /// One-way delay of an answer, callee to caller (default none).
    #[serde(default = "no_delay")]
    pub response: Dist,
    /// Probability that an attempt is lost on its way (default 0).
    #[serde(default)]
    pub loss: f64,
}

fn yes() -> bool {
    true
}
fn no_delay() -> Dist {
    Dist::Deterministic { mean: 0.0 }
}

impl Default for NetworkSpec {
    /// No network: no delay, no loss (no `network:` in the file).
    fn default() -> Self {
        Self { enabled: false, request: no_delay(), response: no_delay(), loss: 0.0 }
    }
}

impl NetworkSpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }
}

impl Params for NetworkSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "delay and lose attempts on this edge");
        v.group("request", &mut self.request);
        v.group("response", &mut self.response);
        v.field("loss", Field::Real(&mut self.loss, 0.0, 1.0), "probability that an attempt is lost on its way");
    }
}

/// True when the edge has no network to cross.
#[inline]
pub fn transparent(spec: &NetworkSpec) -> bool {
    !spec.enabled
}

/// What happens to an attempt put on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crossing {
    /// It reaches the callee after this long.
    Arrives(Nanos),
    /// It is lost.
    Lost,
}

/// Sends one attempt across (draws from the edge's network stream: loss, then delay).
pub fn cross(spec: &NetworkSpec, rng: &mut SimRng) -> Crossing {
    if spec.loss > 0.0 && unit(rng) < spec.loss {
        return Crossing::Lost;
    }
    Crossing::Arrives(spec.request.sample_nanos(rng, 1.0))
}

/// How long an answer takes to come back.
pub fn answer_delay(spec: &NetworkSpec, rng: &mut SimRng) -> Nanos {
    spec.response.sample_nanos(rng, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;

    #[test]
    fn delays_follow_their_distributions_and_loss_its_probability() {
        let spec = NetworkSpec {
            enabled: true,
            request: Dist::Deterministic { mean: 0.01 },
            response: Dist::Deterministic { mean: 0.002 },
            loss: 0.25,
        };
        let mut rng = stream(1, "a->b", "network");
        let n = 40_000;
        let lost = (0..n).filter(|_| cross(&spec, &mut rng) == Crossing::Lost).count();
        let share = lost as f64 / n as f64;
        // Binomial(40 000, 0.25): sd ≈ 0.0022.
        assert!((share - 0.25).abs() < 0.01, "lost share {share}");
        let arrived = (0..100).find_map(|_| match cross(&spec, &mut rng) {
            Crossing::Arrives(d) => Some(d),
            Crossing::Lost => None,
        });
        assert_eq!(arrived, Some(10_000_000));
        assert_eq!(answer_delay(&spec, &mut rng), 2_000_000);
        assert!(transparent(&NetworkSpec::default()) && !transparent(&spec));
    }
}
