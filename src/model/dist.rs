//! Service-time and think-time distributions, all parameterised by their mean.
//!
//! Every distribution has a `mean` field so that one path (`server.service.mean`) rescales any
//! of them while keeping its shape: the coefficient of variation of a log-normal, the shape of a
//! gamma, the tail index of a Pareto. Samples are drawn only from the entity's own stream.

use rand_distr::{Distribution as _, Exp1, Gamma, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::engine::rng::{SimRng, unit};
use crate::engine::time::{Nanos, secs_to_nanos};
use crate::params::{Choice, Field, Params, Visitor};

/// A non-negative random duration, in seconds as written in the scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Dist {
    /// Memoryless, coefficient of variation 1.
    Exponential { mean: f64 },
    /// Always exactly `mean`.
    Deterministic { mean: f64 },
    /// Uniform on [mean − half_width, mean + half_width].
    Uniform { mean: f64, half_width: f64 },
    /// Log-normal with the given coefficient of variation (std/mean).
    LogNormal { mean: f64, cv: f64 },
    /// Gamma with shape k (k = 1 is exponential; larger k is more regular).
    Gamma { mean: f64, shape: f64 },
    /// Erlang-k: the sum of k exponential phases.
    Erlang { mean: f64, k: u32 },
    /// Pareto (heavy tail) with tail index `alpha` > 1; smaller alpha, heavier tail.
    Pareto { mean: f64, alpha: f64 },
}

impl Dist {
    /// The mean, in seconds.
    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Exponential { mean }
            | Dist::Deterministic { mean }
            | Dist::Uniform { mean, .. }
            | Dist::LogNormal { mean, .. }
            | Dist::Gamma { mean, .. }
            | Dist::Erlang { mean, .. }
            | Dist::Pareto { mean, .. } => mean,
        }
    }

    /// Squared coefficient of variation (variance / mean²), used by theory checks.
    pub fn scv(&self) -> f64 {
        match *self {
            Dist::Exponential { .. } => 1.0,
            Dist::Deterministic { .. } => 0.0,
            Dist::Uniform { mean, half_width } => (half_width * half_width / 3.0) / (mean * mean),
            Dist::LogNormal { cv, .. } => cv * cv,
            Dist::Gamma { shape, .. } => 1.0 / shape,
            Dist::Erlang { k, .. } => 1.0 / f64::from(k),
            Dist::Pareto { alpha, .. } if alpha > 2.0 => 1.0 / (alpha * (alpha - 2.0)),
            Dist::Pareto { .. } => f64::INFINITY,
        }
    }

    /// Checks the parameters; the message says what to write instead.
    pub fn validate(&self) -> Result<(), String> {
        let mean = self.mean();
        if !(mean.is_finite() && mean >= 0.0) {
            return Err(format!("mean must be a finite number ≥ 0, got {mean}"));
        }
        match *self {
            Dist::Uniform { mean, half_width } if !(0.0..=mean).contains(&half_width) => {
                Err(format!("half_width must be between 0 and the mean ({mean}), got {half_width}"))
            }
            Dist::LogNormal { cv, .. } if !(cv.is_finite() && cv >= 0.0) => {
                Err(format!("cv must be a finite number ≥ 0, got {cv}"))
            }
            Dist::Gamma { shape, .. } if !(shape.is_finite() && shape > 0.0) => {
                Err(format!("shape must be > 0, got {shape}"))
            }
            Dist::Erlang { k: 0, .. } => Err("k must be at least 1".into()),
            Dist::Pareto { alpha, .. } if !(alpha.is_finite() && alpha > 1.0) => {
                Err(format!("alpha must be > 1 for a finite mean, got {alpha}"))
            }
            _ => Ok(()),
        }
    }

    /// Draws one value in seconds.
    pub fn sample_secs(&self, rng: &mut SimRng) -> f64 {
        match *self {
            Dist::Exponential { mean } => {
                let e: f64 = Exp1.sample(rng);
                mean * e
            }
            Dist::Deterministic { mean } => mean,
            Dist::Uniform { mean, half_width } => mean + half_width * (2.0 * unit(rng) - 1.0),
            Dist::LogNormal { mean, cv } => {
                if mean <= 0.0 {
                    return 0.0;
                }
                let sigma2 = (1.0 + cv * cv).ln();
                let mu = mean.ln() - sigma2 / 2.0;
                let z: f64 = StandardNormal.sample(rng);
                (mu + sigma2.sqrt() * z).exp()
            }
            Dist::Gamma { mean, shape } => gamma(rng, shape, mean),
            Dist::Erlang { mean, k } => gamma(rng, f64::from(k), mean),
            Dist::Pareto { mean, alpha } => {
                let scale = mean * (alpha - 1.0) / alpha;
                // 1 − U is in (0, 1], so the power is finite.
                scale / (1.0 - unit(rng)).powf(1.0 / alpha)
            }
        }
    }

    /// Draws one value in nanoseconds, multiplied by `factor` (a slowdown).
    #[inline]
    pub fn sample_nanos(&self, rng: &mut SimRng, factor: f64) -> Nanos {
        secs_to_nanos(self.sample_secs(rng) * factor)
    }
}

fn gamma(rng: &mut SimRng, shape: f64, mean: f64) -> f64 {
    match Gamma::new(shape, mean / shape) {
        Ok(g) => g.sample(rng),
        Err(_) => mean,
    }
}

/// The distribution's family as a choice (`server.service.kind = lognormal`). Switching keeps
/// the mean and starts the new family at a moderate shape, so a live switch changes the
/// variability and nothing else.
struct Family<'a>(&'a mut Dist);

const FAMILIES: &[&str] = &["exponential", "deterministic", "uniform", "lognormal", "gamma", "erlang", "pareto"];

impl Choice for Family<'_> {
    fn names(&self) -> &'static [&'static str] {
        FAMILIES
    }
    fn current(&self) -> &'static str {
        FAMILIES[match self.0 {
            Dist::Exponential { .. } => 0,
            Dist::Deterministic { .. } => 1,
            Dist::Uniform { .. } => 2,
            Dist::LogNormal { .. } => 3,
            Dist::Gamma { .. } => 4,
            Dist::Erlang { .. } => 5,
            Dist::Pareto { .. } => 6,
        }]
    }
    fn select(&mut self, name: &str) -> bool {
        if name == self.current() {
            return true;
        }
        let mean = self.0.mean();
        *self.0 = match name {
            "exponential" => Dist::Exponential { mean },
            "deterministic" => Dist::Deterministic { mean },
            "uniform" => Dist::Uniform { mean, half_width: mean / 2.0 },
            "lognormal" => Dist::LogNormal { mean, cv: 1.0 },
            "gamma" => Dist::Gamma { mean, shape: 2.0 },
            "erlang" => Dist::Erlang { mean, k: 2 },
            // α = 2.5: finite variance, visibly heavier tail than the exponential.
            "pareto" => Dist::Pareto { mean, alpha: 2.5 },
            _ => return false,
        };
        true
    }
}

impl Params for Dist {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("kind", Field::Choice(&mut Family(self)), "distribution family (keeps the mean)");
        match self {
            Dist::Exponential { mean } | Dist::Deterministic { mean } => {
                v.field("mean", Field::Seconds(mean), "mean duration");
            }
            Dist::Uniform { mean, half_width } => {
                v.field("mean", Field::Seconds(mean), "mean duration");
                v.field("half_width", Field::Seconds(half_width), "half the range around the mean");
            }
            Dist::LogNormal { mean, cv } => {
                v.field("mean", Field::Seconds(mean), "mean duration");
                v.field("cv", Field::Real(cv, 0.0, 100.0), "coefficient of variation");
            }
            Dist::Gamma { mean, shape } => {
                v.field("mean", Field::Seconds(mean), "mean duration");
                v.field("shape", Field::Real(shape, 1e-3, 1e6), "gamma shape k");
            }
            Dist::Erlang { mean, k } => {
                v.field("mean", Field::Seconds(mean), "mean duration");
                v.field("k", Field::Count(k, 1), "number of exponential phases");
            }
            Dist::Pareto { mean, alpha } => {
                v.field("mean", Field::Seconds(mean), "mean duration");
                v.field("alpha", Field::Real(alpha, 1.0001, 100.0), "tail index (smaller = heavier)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;

    /// Sample means and variances of every family match their parameters (n = 200 000,
    /// tolerance ≈ 5 standard errors).
    #[test]
    fn moments_match_parameters() {
        let cases = [
            Dist::Exponential { mean: 2.0 },
            Dist::Deterministic { mean: 2.0 },
            Dist::Uniform { mean: 2.0, half_width: 1.0 },
            Dist::LogNormal { mean: 2.0, cv: 0.5 },
            Dist::Gamma { mean: 2.0, shape: 3.0 },
            Dist::Erlang { mean: 2.0, k: 4 },
            Dist::Pareto { mean: 2.0, alpha: 10.0 },
        ];
        for d in cases {
            d.validate().unwrap();
            let mut rng = stream(7, "dist", "test");
            let n = 200_000;
            let xs: Vec<f64> = (0..n).map(|_| d.sample_secs(&mut rng)).collect();
            let m = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
            let se = (d.scv() * 4.0 / n as f64).sqrt();
            assert!((m - 2.0).abs() <= 5.0 * se + 1e-12, "{d:?}: mean {m}");
            let scv = var / (m * m);
            assert!((scv - d.scv()).abs() <= 0.05 * d.scv().max(0.02), "{d:?}: scv {scv}");
        }
    }

    #[test]
    fn bad_parameters_are_explained() {
        assert!(Dist::Pareto { mean: 1.0, alpha: 1.0 }.validate().unwrap_err().contains("alpha"));
        assert!(Dist::Uniform { mean: 1.0, half_width: 2.0 }.validate().is_err());
        assert!(Dist::Exponential { mean: -1.0 }.validate().is_err());
    }
}
