//! Priority load shedding: seed 001's `should_shed` on the SRE book's criticalities.
//!
//! Seed 001 (backpressure-strategies, "Load Shedding", "drop low priority requests first"):
//! ```text
//! if current_load > 90:  return request.priority != 'critical'   # only critical requests
//! elif current_load > 70: return request.priority == 'low'       # drop low priority
//! return False
//! ```
//! Here the load is a fraction (0.9, 0.7) measured by a [`LoadGauge`] over a sliding window,
//! and the priorities are the SRE book's criticalities (resilience-semantics §3) cut to three:
//! `Critical` (the seed's 'critical'), `Standard` (its unnamed middle, the default) and
//! `Sheddable` (its 'low'). The comparisons are strict, as the seed writes them.
//!
//! The SRE book's rule holds for every value the registry allows: "a criticality is rejected
//! only if every lower one is already rejected", with "higher utilization thresholds for higher
//! criticality". Sheddable goes above `shed_sheddable_above`, Standard above
//! `critical_only_above`, Critical never (capacity "must be provisioned for all CRITICAL
//! traffic"). If the thresholds are set the wrong way round, the seed's first branch sheds
//! Sheddable with Standard, so the order still holds and no cross-field check is needed.

use serde::{Deserialize, Serialize};

use crate::engine::time::Nanos;
use crate::params::{Field, Params, Visitor};
use crate::station::load::{LoadGauge, LoadSpec};

/// How much a request matters when the station must drop some (SRE book, §3), highest first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Criticality {
    /// Never shed: failing it has serious user-visible impact.
    Critical,
    /// Shed only under heavy load (above `critical_only_above`).
    #[default]
    Standard,
    /// Shed first (above `shed_sheddable_above`): batch work, prefetches.
    Sheddable,
}
crate::choice_enum!(Criticality {
    "critical" => Criticality::Critical,
    "standard" => Criticality::Standard,
    "sheddable" => Criticality::Sheddable,
});

impl Criticality {
    /// Every criticality, highest first.
    pub const ALL: [Criticality; 3] = [Criticality::Critical, Criticality::Standard, Criticality::Sheddable];

    pub fn name(self) -> &'static str {
        match self {
            Criticality::Critical => "critical",
            Criticality::Standard => "standard",
            Criticality::Sheddable => "sheddable",
        }
    }
}

/// Priority load shedding at a station's entry, with seed 001's thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Shed")]
pub struct ShedSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The load measured and its window (default: utilization over 1 s).
    #[serde(default)]
    pub load: LoadSpec,
    /// Shed `Sheddable` requests while the load is above this fraction (seed 001's
    /// `current_load > 70`, default 0.7).
    #[serde(default = "seventy_percent")]
    pub shed_sheddable_above: f64,
    /// Admit only `Critical` requests while the load is above this fraction (seed 001's
    /// `current_load > 90`, default 0.9).
    #[serde(default = "ninety_percent")]
    pub critical_only_above: f64,
}

fn yes() -> bool {
    true
}
fn seventy_percent() -> f64 {
    0.7
}
fn ninety_percent() -> f64 {
    0.9
}

impl Default for ShedSpec {
    /// Seed 001's thresholds, disabled (no `shed:` in the file).
    fn default() -> Self {
        Self { enabled: false, load: LoadSpec::default(), shed_sheddable_above: 0.7, critical_only_above: 0.9 }
    }
}

impl ShedSpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }
}

impl Params for ShedSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "priority load shedding at this station");
        v.group("load", &mut self.load);
        v.field(
            "shed_sheddable_above",
            Field::Real(&mut self.shed_sheddable_above, 0.0, 1.0),
            "shed sheddable requests while the load is above this fraction",
        );
        v.field(
            "critical_only_above",
            Field::Real(&mut self.critical_only_above, 0.0, 1.0),
            "admit only critical requests while the load is above this fraction",
        );
    }
}

/// Seed 001's `should_shed`, with `load` as a fraction: whether a request of this criticality is
/// shed at this load (whatever `spec.enabled` says; [`Shedder::admit`] checks that).
pub fn should_shed(spec: &ShedSpec, criticality: Criticality, load: f64) -> bool {
    if load > spec.critical_only_above {
        criticality != Criticality::Critical
    } else if load > spec.shed_sheddable_above {
        criticality == Criticality::Sheddable
    } else {
        false
    }
}

/// Requests shed, by criticality. `critical` stays 0 under seed 001's rule; the column is kept
/// so that a report shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShedStats {
    pub critical: u64,
    pub standard: u64,
    pub sheddable: u64,
}

impl ShedStats {
    /// The requests of this criticality shed so far.
    pub fn of(&self, criticality: Criticality) -> u64 {
        match criticality {
            Criticality::Critical => self.critical,
            Criticality::Standard => self.standard,
            Criticality::Sheddable => self.sheddable,
        }
    }

    /// All requests shed so far.
    pub fn total(&self) -> u64 {
        self.critical.saturating_add(self.standard).saturating_add(self.sheddable)
    }

    fn count(&mut self, criticality: Criticality) {
        let counter = match criticality {
            Criticality::Critical => &mut self.critical,
            Criticality::Standard => &mut self.standard,
            Criticality::Sheddable => &mut self.sheddable,
        };
        *counter = counter.saturating_add(1);
    }
}

/// What a shedder does at a given load: the episodes the engine logs and the app draws.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShedState {
    /// Every request is admitted.
    #[default]
    AdmittingAll,
    /// Sheddable requests are refused.
    SheddingSheddable,
    /// Only critical requests pass.
    CriticalOnly,
}

impl ShedState {
    /// The state of seed 001's rule at `load` (the same comparisons as [`should_shed`]).
    pub fn at(spec: &ShedSpec, load: f64) -> Self {
        if should_shed(spec, Criticality::Standard, load) {
            ShedState::CriticalOnly
        } else if should_shed(spec, Criticality::Sheddable, load) {
            ShedState::SheddingSheddable
        } else {
            ShedState::AdmittingAll
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ShedState::AdmittingAll => "admitting all",
            ShedState::SheddingSheddable => "shedding sheddable",
            ShedState::CriticalOnly => "critical only",
        }
    }
}

/// A station's shedder: its load signal and its counters.
#[derive(Clone, Debug)]
pub struct Shedder {
    load: LoadGauge,
    pub stats: ShedStats,
}

impl Shedder {
    /// A shedder measuring from `now`, with the load at 0.
    pub fn new(spec: &ShedSpec, now: Nanos) -> Self {
        Self { load: LoadGauge::new(spec.load.window_nanos(), now), stats: ShedStats::default() }
    }

    /// The gauge named by `spec.load.signal` changed to `value` (a fraction). Call on every
    /// change, enabled or not, so that switching shedding on acts on a measured load.
    pub fn set_load(&mut self, spec: &ShedSpec, now: Nanos, value: f64) {
        self.load.set_window(spec.load.window_nanos(), now);
        self.load.set(now, value);
    }

    /// The windowed load at `now`, for plots and the inspector.
    pub fn load(&self, now: Nanos) -> f64 {
        self.load.value(now)
    }

    /// Decides on a request arriving at `now`: true admits it, false sheds it (counted). Call
    /// once per arrival, before it joins the queue.
    pub fn admit(&mut self, spec: &ShedSpec, now: Nanos, criticality: Criticality) -> bool {
        self.load.set_window(spec.load.window_nanos(), now);
        if spec.enabled && should_shed(spec, criticality, self.load.value(now)) {
            self.stats.count(criticality);
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Choice, out_of_bounds};

    use Criticality::{Critical, Sheddable, Standard};

    const SECOND: Nanos = 1_000_000_000;

    fn enabled() -> ShedSpec {
        ShedSpec { enabled: true, ..ShedSpec::default() }
    }

    /// Which of (critical, standard, sheddable) pass at `load`.
    fn passing(spec: &ShedSpec, load: f64) -> [bool; 3] {
        Criticality::ALL.map(|c| !should_shed(spec, c, load))
    }

    #[test]
    fn seed_table() {
        let spec = enabled();
        assert_eq!(passing(&spec, 0.95), [true, false, false], "over 90 %: only critical passes");
        assert_eq!(passing(&spec, 0.8), [true, true, false], "over 70 %: sheddable is shed");
        assert_eq!(passing(&spec, 0.5), [true, true, true], "all pass");
        assert_eq!(passing(&spec, 1.0), [true, false, false]);
        assert_eq!(passing(&spec, 0.0), [true, true, true]);
    }

    #[test]
    fn thresholds_are_strict() {
        let spec = enabled();
        assert_eq!(passing(&spec, 0.7), [true, true, true]);
        assert_eq!(passing(&spec, 0.7f64.next_up()), [true, true, false]);
        assert_eq!(passing(&spec, 0.9), [true, true, false]);
        assert_eq!(passing(&spec, 0.9f64.next_up()), [true, false, false]);
        // Thresholds at the ends of their range: 0 sheds on any load, 1 never on a fraction.
        let spec = ShedSpec { shed_sheddable_above: 0.0, critical_only_above: 1.0, ..enabled() };
        assert_eq!(passing(&spec, 0.0), [true, true, true]);
        assert_eq!(passing(&spec, 1e-9), [true, true, false]);
        assert_eq!(passing(&spec, 1.0), [true, true, false]);
    }

    #[test]
    fn a_criticality_is_shed_only_if_every_lower_one_is() {
        let levels = [0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0];
        for sheddable in levels {
            for critical_only in levels {
                let spec =
                    ShedSpec { shed_sheddable_above: sheddable, critical_only_above: critical_only, ..enabled() };
                for load in levels.iter().flat_map(|&l| [l, l.next_up(), l.next_down()]) {
                    let shed = Criticality::ALL.map(|c| should_shed(&spec, c, load));
                    for higher in 0..3 {
                        for lower in higher + 1..3 {
                            assert!(!shed[higher] || shed[lower], "{spec:?} at {load}: {shed:?}");
                        }
                    }
                    assert!(!shed[0], "critical is never shed");
                    // And monotone in load: what is shed stays shed as the load grows.
                    for c in Criticality::ALL {
                        assert!(!should_shed(&spec, c, load) || should_shed(&spec, c, load.next_up()));
                    }
                }
            }
        }
    }

    #[test]
    fn shedder_decides_on_the_windowed_load_and_counts() {
        let spec = enabled();
        let mut shedder = Shedder::new(&spec, 0);
        shedder.set_load(&spec, 0, 1.0);
        assert!(shedder.admit(&spec, SECOND, Critical));
        assert!(!shedder.admit(&spec, SECOND, Standard));
        assert!(!shedder.admit(&spec, SECOND, Sheddable));
        // Idle from 1 s: at 1.25 s the window [0.25 s, 1.25 s] reads 0.75.
        shedder.set_load(&spec, SECOND, 0.0);
        assert_eq!(shedder.load(SECOND + SECOND / 4), 0.75);
        assert!(shedder.admit(&spec, SECOND + SECOND / 4, Standard));
        assert!(!shedder.admit(&spec, SECOND + SECOND / 4, Sheddable));
        assert!(shedder.admit(&spec, 2 * SECOND, Sheddable));
        assert_eq!(shedder.stats, ShedStats { critical: 0, standard: 1, sheddable: 2 });
        assert_eq!(shedder.stats.total(), 3);
        assert_eq!(shedder.stats.of(Sheddable), 2);
    }

    #[test]
    fn disabled_shedder_admits_all_but_keeps_measuring() {
        let mut spec = ShedSpec::default();
        let mut shedder = Shedder::new(&spec, 0);
        shedder.set_load(&spec, 0, 1.0);
        assert!(shedder.admit(&spec, SECOND, Sheddable));
        spec.enabled = true;
        assert!(!shedder.admit(&spec, SECOND, Sheddable));
        assert_eq!(shedder.stats.total(), 1);
    }

    #[test]
    fn spec_defaults_bounds_and_names() {
        let mut spec = ShedSpec::default();
        assert!(out_of_bounds(&mut spec).is_empty());
        spec.critical_only_above = 1.5;
        spec.load.window = 0.0;
        assert_eq!(out_of_bounds(&mut spec).len(), 2);
        let parsed: ShedSpec = ron::from_str("Shed(critical_only_above: 0.95)").unwrap();
        assert_eq!(parsed, ShedSpec { critical_only_above: 0.95, ..enabled() });
        assert!(ron::from_str::<ShedSpec>("(threshold: 0.5)").is_err());
        let names: Vec<Criticality> = ron::from_str("[Critical, Standard, Sheddable]").unwrap();
        assert_eq!(names, Criticality::ALL);
        let mut c = Criticality::default();
        assert_eq!(c, Standard);
        assert!(c.select("sheddable"));
        assert_eq!(c.current(), Sheddable.name());
    }
}
