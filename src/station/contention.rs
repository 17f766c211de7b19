//! Contention and coherency: the Universal Scalability Law (Gunther; capacity-and-experiments
//! §2). With N workers busy, a service's relative capacity is
//! C(N) = N / (1 + σ(N − 1) + κ·N(N − 1)): σ is the share of work that serialises (a lock, a
//! single disk), κ the cost of keeping N workers coherent (cache lines, cross-talk). Modelled as
//! each service time started while N workers are busy (itself included) multiplied by
//! N / C(N) = 1 + σ(N − 1) + κ·N(N − 1). Throughput then peaks at N* = √((1 − σ)/κ) busy
//! workers and falls beyond it — congestion collapse, and why a concurrency limit belongs at
//! the knee.

use serde::{Deserialize, Serialize};

use crate::params::{Field, Params, Visitor};

/// USL contention at a service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Contention")]
pub struct ContentionSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// σ: the serialised share of the work (default 0).
    #[serde(default)]
    pub sigma: f64,
    /// κ: the coherency cost per pair of busy workers (default 0).
    #[serde(default)]
    pub kappa: f64,
}

fn yes() -> bool {
    true
}

impl Default for ContentionSpec {
    /// No contention (no `contention:` in the file).
    fn default() -> Self {
        Self { enabled: false, sigma: 0.0, kappa: 0.0 }
    }
}

impl ContentionSpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }

    /// The factor on a service time started while `busy` workers (itself included) are busy:
    /// N / C(N).
    pub fn slowdown(&self, busy: u32) -> f64 {
        if !self.enabled || busy <= 1 {
            return 1.0;
        }
        let n = f64::from(busy);
        1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0)
    }

    /// The USL's relative capacity C(N).
    pub fn capacity(&self, busy: u32) -> f64 {
        f64::from(busy) / self.slowdown(busy)
    }
}

impl Params for ContentionSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "service slows as more workers are busy (USL)");
        v.field("sigma", Field::Real(&mut self.sigma, 0.0, 1.0), "serialised share of the work (σ)");
        v.field("kappa", Field::Real(&mut self.kappa, 0.0, 1.0), "coherency cost per pair of busy workers (κ)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_peaks_at_the_knee_and_falls_beyond() {
        let usl = ContentionSpec { enabled: true, sigma: 0.05, kappa: 0.01 };
        assert_eq!(usl.slowdown(1), 1.0);
        assert!((usl.slowdown(4) - (1.0 + 0.15 + 0.12)).abs() < 1e-12);
        // N* = √((1 − σ)/κ) ≈ 9.75: capacity rises to 9 or 10 and falls after.
        let best = (1..=40).max_by(|a, b| usl.capacity(*a).total_cmp(&usl.capacity(*b))).unwrap();
        assert!(best == 10 || best == 9, "{best}");
        assert!(usl.capacity(30) < usl.capacity(10) * 0.7, "collapse past the knee");
        assert_eq!(ContentionSpec::default().slowdown(50), 1.0);
    }
}
