//! Graceful degradation: above a load threshold, a service serves a cheaper response.
//!
//! The SRE guide (seed 002) lists "application code for graceful degradation" among the layers
//! of backpressure, defines it as "reduced functionality under pressure — keeps core alive", and
//! answers a slow consumer with "scale or degrade features". Here a service whose windowed load
//! ([`LoadGauge`]) is strictly above `above` serves the degraded response: this file only
//! decides, and the engine draws that request's service time from the degraded distribution.
//! The windowed mean is what keeps the switch from flapping on every arrival and departure.

use serde::{Deserialize, Serialize};

use crate::engine::time::Nanos;
use crate::model::dist::Dist;
use crate::params::{Field, Params, Visitor};
use crate::station::load::{LoadGauge, LoadSpec};

/// Graceful degradation at a service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Degrade")]
pub struct DegradeSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Serve the degraded response while the load is above this fraction (default 0.8, the level
    /// seed 001 alerts on: `queue_size / queue_capacity > 0.8`).
    #[serde(default = "eighty_percent")]
    pub above: f64,
    /// The load measured and its window (default: utilization over 1 s).
    #[serde(default)]
    pub load: LoadSpec,
    /// The degraded response's own service time (partial results, a cached page; default
    /// exponential with a mean of 1 ms).
    #[serde(default = "cheap")]
    pub service: Dist,
}

fn yes() -> bool {
    true
}
fn cheap() -> Dist {
    Dist::Exponential { mean: 0.001 }
}
fn eighty_percent() -> f64 {
    0.8
}

impl Default for DegradeSpec {
    /// Degrade above 80 % utilization, disabled (no `degrade:` in the file).
    fn default() -> Self {
        Self { enabled: false, above: 0.8, load: LoadSpec::default(), service: cheap() }
    }
}

impl DegradeSpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }
}

impl Params for DegradeSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "serve a cheaper response under load");
        v.field(
            "above",
            Field::Real(&mut self.above, 0.0, 1.0),
            "serve the degraded response while the load is above this fraction",
        );
        v.group("load", &mut self.load);
        v.group("service", &mut self.service);
    }
}

/// Whether a request starting service at this load gets the degraded response (whatever
/// `spec.enabled` says; [`Degrader::degrade`] checks that). Strictly above, as seed 001's
/// thresholds.
pub fn should_degrade(spec: &DegradeSpec, load: f64) -> bool {
    load > spec.above
}

/// Responses served degraded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DegradeStats {
    pub degraded: u64,
}

/// A service's degradation switch: its load signal and its counter.
#[derive(Clone, Debug)]
pub struct Degrader {
    load: LoadGauge,
    pub stats: DegradeStats,
}

impl Degrader {
    /// A degrader measuring from `now`, with the load at 0.
    pub fn new(spec: &DegradeSpec, now: Nanos) -> Self {
        Self { load: LoadGauge::new(spec.load.window_nanos(), now), stats: DegradeStats::default() }
    }

    /// The gauge named by `spec.load.signal` changed to `value` (a fraction). Call on every
    /// change, enabled or not, so that switching degradation on acts on a measured load.
    pub fn set_load(&mut self, spec: &DegradeSpec, now: Nanos, value: f64) {
        self.load.set_window(spec.load.window_nanos(), now);
        self.load.set(now, value);
    }

    /// The windowed load at `now`, for plots and the inspector.
    pub fn load(&self, now: Nanos) -> f64 {
        self.load.value(now)
    }

    /// Decides for a request starting service at `now`: true serves the degraded response
    /// (counted; the engine draws its service time from the degraded distribution). Call once
    /// per service start.
    pub fn degrade(&mut self, spec: &DegradeSpec, now: Nanos) -> bool {
        self.load.set_window(spec.load.window_nanos(), now);
        let degraded = spec.enabled && should_degrade(spec, self.load.value(now));
        if degraded {
            self.stats.degraded = self.stats.degraded.saturating_add(1);
        }
        degraded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::out_of_bounds;

    const SECOND: Nanos = 1_000_000_000;

    #[test]
    fn switches_strictly_above_the_threshold() {
        let spec = DegradeSpec { enabled: true, ..DegradeSpec::default() };
        assert!(!should_degrade(&spec, 0.8));
        assert!(should_degrade(&spec, 0.8f64.next_up()));
        assert!(!should_degrade(&spec, 0.0));
        assert!(should_degrade(&spec, 1.0));
    }

    #[test]
    fn degrader_follows_the_windowed_load_and_counts() {
        // 0.75 and its products with the 62.5 ms buckets are exact in binary.
        let spec = DegradeSpec { enabled: true, above: 0.75, ..DegradeSpec::default() };
        let mut degrader = Degrader::new(&spec, 0);
        degrader.set_load(&spec, 0, 0.75);
        assert_eq!(degrader.load(SECOND), 0.75);
        assert!(!degrader.degrade(&spec, SECOND), "at the threshold: full response");
        // Full from 1 s: one bucket later the window [62.5 ms, 1.0625 s] reads 0.765625.
        degrader.set_load(&spec, SECOND, 1.0);
        assert_eq!(degrader.load(1_062_500_000), 0.765_625);
        assert!(degrader.degrade(&spec, 1_062_500_000));
        assert!(degrader.degrade(&spec, 2 * SECOND));
        // Idle from 2 s: at 2.25 s the window [1.25 s, 2.25 s] reads 0.75 again.
        degrader.set_load(&spec, 2 * SECOND, 0.0);
        assert_eq!(degrader.load(2 * SECOND + SECOND / 4), 0.75);
        assert!(!degrader.degrade(&spec, 2 * SECOND + SECOND / 4));
        assert_eq!(degrader.stats, DegradeStats { degraded: 2 });
    }

    #[test]
    fn disabled_degrader_serves_full_responses() {
        let spec = DegradeSpec::default();
        let mut degrader = Degrader::new(&spec, 0);
        degrader.set_load(&spec, 0, 1.0);
        assert!(!degrader.degrade(&spec, SECOND));
        assert_eq!(degrader.stats.degraded, 0);
    }

    #[test]
    fn spec_defaults_bounds_and_file_names() {
        let mut spec = DegradeSpec::default();
        assert!(out_of_bounds(&mut spec).is_empty());
        spec.above = -0.1;
        assert_eq!(out_of_bounds(&mut spec).len(), 1);
        let parsed: DegradeSpec = ron::from_str("Degrade(load: (signal: InFlight, window: 0.5))").unwrap();
        assert_eq!(parsed.load, LoadSpec { signal: crate::station::load::LoadSignal::InFlight, window: 0.5 });
        assert!(parsed.enabled);
        assert_eq!(parsed.above, 0.8);
        assert!(ron::from_str::<DegradeSpec>("(threshold: 0.5)").is_err());
    }
}
