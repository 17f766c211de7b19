//! Horizontal autoscaling of a service's workers, after the Kubernetes Horizontal Pod Autoscaler
//! (kubernetes.io, "Horizontal Pod Autoscaling", autoscaling/v2; capacity-and-experiments §2).
//!
//! **The rule.** Every `interval` (the controller's sync period, 15 s) the autoscaler reads a
//! metric averaged over the interval just ended and recommends
//! `desired = ⌈current × currentMetric / target⌉` workers. When the ratio `metric / target` is
//! within `tolerance` of 1 (0.1) it recommends no change. The metric is an average per ready
//! worker (`utilization` = busy / ready, `queue_per_worker`, `in_flight_per_worker`), so with all
//! workers ready `⌈ready × (total / ready) / target⌉ = ⌈total / target⌉`: the workers needed to
//! carry the measured load at the target. HPA computes exactly that from its ready pods
//! (`replica_calculator.go`: `ceil(usageRatio × readyPodCount)`).
//!
//! **Workers not ready yet.** HPA's `currentReplicas` is the scale subresource's replica count,
//! which includes pods still starting, and "no change" means that count. Not-ready pods are left
//! out of the average; if the ratio says scale up, HPA re-averages counting them as using 0 %
//! ("further dampening the magnitude of a scale up") and keeps the count if the new ratio is
//! within the tolerance or reverses the direction. That is what stops a controller that ticks every 15 s from ordering the
//! same workers again and again while they take 30 s to start. [`recommend`] follows it exactly,
//! with `current` = ready + pending.
//!
//! **Stabilization.** Every recommendation is remembered for the windows: a scale-down goes only
//! as low as the highest recommendation of the last `stabilization` seconds (300 s), so a brief
//! lull does not shed workers that the next burst needs; a scale-up goes only as high as the
//! lowest of the last `scale_up_stabilization` seconds (0 by default: scale up at once, as in
//! HPA's default behaviour). The result is then bounded by `min_workers` and `max_workers`.
//!
//! **Provisioning.** Workers added serve only `provisioning_delay` after the decision (a pod is
//! scheduled, pulls its image, starts and passes its readiness probe). Together with the
//! interval and the averaging, that is why autoscaling is "slow to react for spikes" (seed 000):
//! a step in demand is seen at the next evaluation, diluted by the part of the interval before
//! it, and served a provisioning delay later. A scale-down is immediate: workers still starting
//! are cancelled first (newest first), then ready ones are retired (the engine lets a busy one
//! finish its request, as a terminating pod drains).
//!
//! **Not modelled.** HPA's optional scaling policies (by default at most +100 % or +4 pods per
//! 15 s up, whichever is more, and −100 % per 15 s down), missing metrics, and the CPU
//! initialization period. A worker that becomes ready at an evaluation instant counts as ready
//! in it (with no usage over the interval just ended, which changes the ratio but not
//! `⌈total / target⌉`).
//!
//! **Exactness.** Gauges are piecewise constant and the clock is integer nanoseconds, so each
//! gauge's time integral is kept exactly as `count × ns` in a `u128` (a `u32` gauge for 2⁶⁴ ns
//! is below 2⁹⁶: no overflow in any run) and an interval's mean is one integer division, its
//! remainder converted once. Nothing drifts, and the engine may call [`Autoscaler::observe`] as
//! often as it likes: the mean does not depend on how a constant stretch is cut up.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::choice_enum;
use crate::engine::time::{Nanos, secs_to_nanos};
use crate::params::{Field, Params, Visitor};

/// The most workers an autoscaler may ask for: each is held in memory by the engine. A
/// recommendation above it (a tiny target against a big load) is cut to it.
pub const MAX_WORKERS: u32 = 1_000_000;

/// The lowest target the registry accepts (and the highest, for queue and in-flight targets).
pub const MIN_TARGET: f64 = 1e-6;
/// The highest target the registry accepts.
pub const MAX_TARGET: f64 = 1e9;

/// Slack on ratio and ceiling comparisons: decimal inputs carry binary noise (1.8 / 0.6 is
/// 3.0000000000000004 in `f64`), which must not add a worker or leave the tolerance band.
const EPSILON: f64 = 1e-9;

/// The gauges the engine reports: busy workers, queued requests, requests inside.
const GAUGES: usize = 3;

/// The metric an autoscaler holds at its target, averaged per ready worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScaleMetric {
    /// Busy / ready workers: HPA's resource utilization target (a fraction here, not a percent).
    #[default]
    Utilization,
    /// Queued requests per ready worker: an HPA `AverageValue` target on a queue-length metric.
    QueuePerWorker,
    /// Requests inside the service (queued or in service) per ready worker.
    InFlightPerWorker,
}
choice_enum!(ScaleMetric {
    "utilization" => ScaleMetric::Utilization,
    "queue_per_worker" => ScaleMetric::QueuePerWorker,
    "in_flight_per_worker" => ScaleMetric::InFlightPerWorker,
});

impl ScaleMetric {
    fn gauge(self) -> usize {
        match self {
            ScaleMetric::Utilization => 0,
            ScaleMetric::QueuePerWorker => 1,
            ScaleMetric::InFlightPerWorker => 2,
        }
    }
}

/// A horizontal autoscaler on a service's workers (Kubernetes HPA).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Autoscale")]
pub struct AutoscaleSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What is held at the target (default utilization, HPA's most common target).
    #[serde(default)]
    pub metric: ScaleMetric,
    /// The metric's target per ready worker. Default 0.8: autoscaling/v1's default
    /// `targetCPUUtilizationPercentage` (80 %) and `kubectl autoscale`'s.
    #[serde(default = "default_target")]
    pub target: f64,
    /// No change while |metric / target − 1| is at most this (HPA's global default 0.1).
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Seconds between evaluations, and the span the metric is averaged over (HPA's
    /// `--horizontal-pod-autoscaler-sync-period`, 15 s).
    #[serde(default = "default_interval")]
    pub interval: f64,
    /// Seconds from a scale-up decision until the new workers serve. Default 30 s: Kubernetes
    /// itself assumes a started pod may take that long to turn ready
    /// (`--horizontal-pod-autoscaler-initial-readiness-delay`, 30 s), and scheduling, an image
    /// pull, start-up and a readiness probe commonly take tens of seconds.
    #[serde(default = "default_provisioning")]
    pub provisioning_delay: f64,
    /// Scale-down stabilization window, seconds: the highest recommendation within it wins
    /// (HPA's `scaleDown.stabilizationWindowSeconds`, 300).
    #[serde(default = "default_stabilization")]
    pub stabilization: f64,
    /// Scale-up stabilization window, seconds: the lowest recommendation within it wins (HPA's
    /// `scaleUp.stabilizationWindowSeconds`, 0: scale up at once).
    #[serde(default)]
    pub scale_up_stabilization: f64,
    /// Fewest workers (HPA `minReplicas`, default 1; scaling to zero is an alpha feature there).
    #[serde(default = "one")]
    pub min_workers: u32,
    /// Most workers (HPA `maxReplicas`, which is required there too).
    pub max_workers: u32,
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn default_target() -> f64 {
    0.8
}
fn default_tolerance() -> f64 {
    0.1
}
fn default_interval() -> f64 {
    15.0
}
fn default_provisioning() -> f64 {
    30.0
}
fn default_stabilization() -> f64 {
    300.0
}

impl Default for AutoscaleSpec {
    /// Disabled (no `autoscale:` in the file); HPA's defaults and 1 to 10 workers for one
    /// switched on from the inspector.
    fn default() -> Self {
        Self {
            enabled: false,
            metric: ScaleMetric::Utilization,
            target: default_target(),
            tolerance: default_tolerance(),
            interval: default_interval(),
            provisioning_delay: default_provisioning(),
            stabilization: default_stabilization(),
            scale_up_stabilization: 0.0,
            min_workers: 1,
            max_workers: 10,
        }
    }
}

impl AutoscaleSpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }

    /// Checks what the registry's per-field bounds cannot; the message says what to write.
    pub fn validate(&self) -> Result<(), String> {
        let (min, max) = (self.min_workers, self.max_workers);
        if min > max {
            return Err(format!(
                "min_workers ({min}) is above max_workers ({max}): raise max_workers or lower min_workers"
            ));
        }
        if !(self.target.is_finite() && self.target > 0.0) {
            return Err(format!("target must be a number above 0 (0.7 is 70 % utilization), got {}", self.target));
        }
        if self.metric == ScaleMetric::Utilization && self.target > 1.0 {
            return Err(format!(
                "a utilization target is the fraction of ready workers busy, at most 1 (write 0.7 for 70 %), got {}",
                self.target
            ));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(format!("tolerance must be a number ≥ 0 (HPA uses 0.1), got {}", self.tolerance));
        }
        if !(self.interval.is_finite() && self.interval > 0.0) {
            return Err(format!("interval must be a number of seconds above 0 (HPA uses 15), got {}", self.interval));
        }
        for (name, value) in [
            ("provisioning_delay", self.provisioning_delay),
            ("stabilization", self.stabilization),
            ("scale_up_stabilization", self.scale_up_stabilization),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(format!("{name} must be a number of seconds ≥ 0, got {value}"));
            }
        }
        Ok(())
    }

    /// The interval on the engine's clock: at least 1 ns, so evaluations always move on.
    pub fn interval_nanos(&self) -> Nanos {
        secs_to_nanos(self.interval).max(1)
    }

    /// The provisioning delay on the engine's clock.
    pub fn provisioning_nanos(&self) -> Nanos {
        secs_to_nanos(self.provisioning_delay)
    }
}

/// HPA's recommendation (`replica_calculator.go`) from the mean `total` of the gauge over the
/// interval (busy workers, queued or inside requests), `ready` workers and `pending` ones still
/// starting: `current` = ready + pending when within the tolerance, else `⌈total / target⌉`.
/// If the ratio says scale up while workers are pending, they are counted in with no usage
/// (HPA's dampening) and nothing changes unless that ratio still says scale up. Without ready
/// workers there is no metric, and HPA does not act: `current`. Never panics; at most
/// [`MAX_WORKERS`] unless `current` is more.
pub fn recommend(total: f64, ready: u32, pending: u32, target: f64, tolerance: f64) -> u32 {
    let current = ready.saturating_add(pending);
    // NaN fails both comparisons.
    let usable = target > 0.0 && total >= 0.0;
    if ready == 0 || !usable {
        return current;
    }
    let tolerance = if tolerance >= 0.0 { tolerance } else { 0.0 };
    let within = |ratio: f64| (ratio - 1.0).abs() <= tolerance + EPSILON;
    let ratio = total / (f64::from(ready) * target);
    if pending > 0 && ratio > 1.0 {
        let dampened = total / (f64::from(current) * target);
        if within(dampened) || dampened < 1.0 {
            return current;
        }
        return workers_for(total / target).max(current);
    }
    if within(ratio) { current } else { workers_for(total / target) }
}

/// `⌈x⌉` workers, ignoring binary noise just above a whole number; saturating, NaN-safe.
fn workers_for(x: f64) -> u32 {
    let nearest = x.round();
    let up = if (x - nearest).abs() <= EPSILON * nearest.max(1.0) { nearest } else { x.ceil() };
    if up >= f64::from(MAX_WORKERS) {
        MAX_WORKERS
    } else if up > 0.0 {
        up as u32
    } else {
        0
    }
}

/// One evaluation that changed the worker count, for the engine's timeline marks.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// Workers before: ready + pending (HPA's current replicas).
    pub from: u32,
    /// Workers ordered: after stabilization and the min/max bounds.
    pub to: u32,
    /// The raw recommendation, before stabilization and bounds.
    pub desired: u32,
    /// The metric per ready worker averaged over the interval; None without ready workers.
    pub metric: Option<f64>,
}

/// What the engine does after [`Autoscaler::on_due`]. At most one of the counts is non-zero.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Step {
    /// Workers that start serving now (provisioned, or ordered with no delay).
    pub add_now: u32,
    /// Workers to retire now: idle ones at once, busy ones when their request ends.
    pub remove_now: u32,
    /// Set when an evaluation changed the worker count.
    pub decision: Option<Decision>,
}

/// Counters of an autoscaler since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct AutoscaleStats {
    /// Evaluations run (one per interval while enabled).
    pub evaluations: u64,
    /// Evaluations that raised, and that lowered, the worker count ordered.
    pub scale_ups: u64,
    pub scale_downs: u64,
    /// Workers that came up after their provisioning delay.
    pub provisioned: u64,
    /// Pending workers cancelled by a scale-down before they served.
    pub cancelled: u64,
    /// Fewest and most serving workers seen after a step (from the initial count).
    pub workers_min: u32,
    pub workers_max: u32,
    /// The metric at the last evaluation (None before one, or without ready workers).
    pub last_metric: Option<f64>,
}

/// An autoscaler's state: gauge integrals, pending workers and recent recommendations. No
/// clock: every method takes `now`. The deques grow to their working size and are reused.
#[derive(Clone, Debug)]
pub struct Autoscaler {
    /// The gauges (busy, queued, inside) since `since`, and their integrals up to it.
    level: [u32; GAUGES],
    integral: [u128; GAUGES],
    since: Nanos,
    /// Start of the interval being averaged, and the integrals at that instant.
    window_start: Nanos,
    window_base: [u128; GAUGES],
    next_eval: Nanos,
    /// Workers ordered and not serving yet: (ready at, count), in order of decision.
    pending: VecDeque<(Nanos, u32)>,
    /// Recent recommendations, (at, workers): strictly decreasing counts, so the front is the
    /// highest in the scale-down window (a monotone queue: O(1) per evaluation, however long).
    highs: VecDeque<(Nanos, u32)>,
    /// The same, strictly increasing: the front is the lowest in the scale-up window.
    lows: VecDeque<(Nanos, u32)>,
    desired: u32,
    pub stats: AutoscaleStats,
}

impl Autoscaler {
    /// Created at `now` for a service with `workers` serving: gauges at 0, first evaluation one
    /// interval later (there is nothing to average before).
    pub fn new(spec: &AutoscaleSpec, now: Nanos, workers: u32) -> Self {
        Self {
            level: [0; GAUGES],
            integral: [0; GAUGES],
            since: now,
            window_start: now,
            window_base: [0; GAUGES],
            next_eval: now.saturating_add(spec.interval_nanos()),
            pending: VecDeque::new(),
            highs: VecDeque::new(),
            lows: VecDeque::new(),
            desired: workers,
            stats: AutoscaleStats { workers_min: workers, workers_max: workers, ..AutoscaleStats::default() },
        }
    }

    /// The gauges changed at `now`: busy workers, queued requests, requests inside. Call on
    /// every change (extra calls are harmless). A `now` before the last call counts as it.
    pub fn observe(&mut self, now: Nanos, busy: u32, queued: u32, inside: u32) {
        let now = now.max(self.since);
        self.integral = self.integral_at(now);
        self.since = now;
        self.level = [busy, queued, inside];
    }

    /// When the engine must call [`on_due`](Self::on_due) next: the next evaluation (while
    /// enabled) or the next pending worker becoming ready; `Nanos::MAX` for neither. After a
    /// re-enable it may be in the past: call at once (that evaluation averages the whole gap).
    pub fn next_due(&self, spec: &AutoscaleSpec) -> Nanos {
        let ready = self.pending.iter().map(|&(at, _)| at).min().unwrap_or(Nanos::MAX);
        if spec.enabled { ready.min(self.next_eval) } else { ready }
    }

    /// The engine's timer at `now`, with `ready_workers` serving. Brings up the pending workers
    /// whose delay has elapsed (even while disabled: a pod being created still starts), then
    /// evaluates if one is due. A changed interval applies from the evaluation after the one
    /// already scheduled; changed bounds apply at the next evaluation.
    pub fn on_due(&mut self, spec: &AutoscaleSpec, now: Nanos, ready_workers: u32) -> Step {
        let mut matured = 0u32;
        self.pending.retain(|&(at, count)| {
            let due = at <= now;
            if due {
                matured = matured.saturating_add(count);
            }
            !due
        });
        self.stats.provisioned = self.stats.provisioned.saturating_add(u64::from(matured));
        let ready = ready_workers.saturating_add(matured);
        let (mut add, mut remove, mut decision) = (matured, 0, None);
        if spec.enabled && now >= self.next_eval {
            let (now_add, now_remove, made) = self.evaluate(spec, now, ready);
            add = add.saturating_add(now_add);
            remove = now_remove;
            decision = made;
        }
        let step = Step { add_now: add.saturating_sub(remove), remove_now: remove.saturating_sub(add), decision };
        let serving = ready_workers.saturating_add(step.add_now).saturating_sub(step.remove_now);
        self.stats.workers_min = self.stats.workers_min.min(serving);
        self.stats.workers_max = self.stats.workers_max.max(serving);
        step
    }

    /// One HPA evaluation; returns (workers to add now, to remove now, the decision if any).
    fn evaluate(&mut self, spec: &AutoscaleSpec, now: Nanos, ready: u32) -> (u32, u32, Option<Decision>) {
        let total = self.mean(spec.metric, now);
        let now = now.max(self.since);
        self.window_base = self.integral_at(now);
        self.window_start = now;
        self.next_eval = now.saturating_add(spec.interval_nanos());
        self.stats.evaluations = self.stats.evaluations.saturating_add(1);
        let metric = (ready > 0).then(|| total / f64::from(ready));
        self.stats.last_metric = metric;

        let pending = self.pending();
        let current = ready.saturating_add(pending);
        let desired = recommend(total, ready, pending, spec.target, spec.tolerance);
        let stabilized = self.stabilize(spec, now, current, desired);
        // Not `clamp`, which panics when min > max (`validate` rejects that): max wins.
        let to = stabilized.max(spec.min_workers).min(spec.max_workers);
        self.desired = to;
        let (mut add, mut remove) = (0, 0);
        if to > current {
            self.stats.scale_ups = self.stats.scale_ups.saturating_add(1);
            let delay = spec.provisioning_nanos();
            if delay == 0 {
                add = to - current;
            } else {
                self.pending.push_back((now.saturating_add(delay), to - current));
            }
        } else if to < current {
            self.stats.scale_downs = self.stats.scale_downs.saturating_add(1);
            let mut cut = current - to;
            // The newest orders are the furthest from serving: cancel them first.
            while cut > 0
                && let Some(last) = self.pending.back_mut()
            {
                let taken = last.1.min(cut);
                last.1 -= taken;
                cut -= taken;
                self.stats.cancelled = self.stats.cancelled.saturating_add(u64::from(taken));
                if last.1 == 0 {
                    self.pending.pop_back();
                }
            }
            remove = cut;
        }
        let decision = (to != current).then_some(Decision { from: current, to, desired, metric });
        (add, remove, decision)
    }

    /// HPA's stabilization: the current count raised to the lowest recommendation of the
    /// scale-up window and lowered to the highest of the scale-down window, the new one
    /// included. A recommendation exactly a window old is out, as in HPA (`After(cutoff)`).
    fn stabilize(&mut self, spec: &AutoscaleSpec, now: Nanos, current: u32, rec: u32) -> u32 {
        let down = secs_to_nanos(spec.stabilization);
        let up = secs_to_nanos(spec.scale_up_stabilization);
        while self.highs.front().is_some_and(|&(at, _)| now.saturating_sub(at) >= down) {
            self.highs.pop_front();
        }
        while self.lows.front().is_some_and(|&(at, _)| now.saturating_sub(at) >= up) {
            self.lows.pop_front();
        }
        let high = self.highs.front().map_or(rec, |&(_, r)| r.max(rec));
        let low = self.lows.front().map_or(rec, |&(_, r)| r.min(rec));
        while self.highs.back().is_some_and(|&(_, r)| r <= rec) {
            self.highs.pop_back();
        }
        self.highs.push_back((now, rec));
        while self.lows.back().is_some_and(|&(_, r)| r >= rec) {
            self.lows.pop_back();
        }
        self.lows.push_back((now, rec));
        current.max(low).min(high)
    }

    /// The gauges' integrals up to `now` (≥ `since`).
    fn integral_at(&self, now: Nanos) -> [u128; GAUGES] {
        let elapsed = u128::from(now.saturating_sub(self.since));
        std::array::from_fn(|k| self.integral[k].saturating_add(u128::from(self.level[k]) * elapsed))
    }

    /// The time-average of `metric`'s gauge (a total, not yet per worker) from the start of the
    /// current interval to `now`; the gauge itself over an empty span.
    fn mean(&self, metric: ScaleMetric, now: Nanos) -> f64 {
        let k = metric.gauge();
        let now = now.max(self.since);
        let span = u128::from(now.saturating_sub(self.window_start));
        if span == 0 {
            return f64::from(self.level[k]);
        }
        let area = self.integral_at(now)[k].saturating_sub(self.window_base[k]);
        // Whole part and remainder apart: exact whenever the mean is representable.
        (area / span) as f64 + (area % span) as f64 / span as f64
    }

    /// The metric per ready worker averaged since the last evaluation, for cards and plots.
    pub fn current_metric(&self, spec: &AutoscaleSpec, now: Nanos, ready: u32) -> Option<f64> {
        (ready > 0).then(|| self.mean(spec.metric, now) / f64::from(ready))
    }

    /// The worker count ordered at the last evaluation (the initial count before one).
    pub fn desired(&self) -> u32 {
        self.desired
    }

    /// Workers ordered and not serving yet.
    pub fn pending(&self) -> u32 {
        self.pending.iter().fold(0u32, |sum, &(_, count)| sum.saturating_add(count))
    }

    /// The metric per ready worker at the last evaluation.
    pub fn last_metric(&self) -> Option<f64> {
        self.stats.last_metric
    }
}

impl Params for AutoscaleSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "scale the workers to hold a metric at a target (HPA)");
        v.field(
            "metric",
            Field::Choice(&mut self.metric),
            "held at the target: utilization, queue_per_worker or in_flight_per_worker",
        );
        v.field(
            "target",
            Field::Real(&mut self.target, MIN_TARGET, MAX_TARGET),
            "target value of the metric per ready worker (utilization as a fraction: 0.7)",
        );
        v.field("tolerance", Field::Real(&mut self.tolerance, 0.0, 1.0), "no change while |metric/target − 1| ≤ this");
        v.field(
            "interval",
            Field::PositiveSeconds(&mut self.interval),
            "seconds between evaluations; the metric is averaged over it",
        );
        v.field(
            "provisioning_delay",
            Field::Seconds(&mut self.provisioning_delay),
            "seconds from a scale-up decision until the new workers serve",
        );
        v.field(
            "stabilization",
            Field::Seconds(&mut self.stabilization),
            "scale-down window: the highest recommendation in it wins",
        );
        v.field(
            "scale_up_stabilization",
            Field::Seconds(&mut self.scale_up_stabilization),
            "scale-up window: the lowest recommendation in it wins (0: at once)",
        );
        v.field("min_workers", Field::CountUpTo(&mut self.min_workers, 1, MAX_WORKERS), "fewest workers");
        v.field("max_workers", Field::CountUpTo(&mut self.max_workers, 1, MAX_WORKERS), "most workers");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Finder, Kind, Lister, Value, out_of_bounds};

    const SEC: Nanos = 1_000_000_000;

    fn hpa(target: f64, min: u32, max: u32) -> AutoscaleSpec {
        AutoscaleSpec { enabled: true, target, min_workers: min, max_workers: max, ..AutoscaleSpec::default() }
    }

    #[test]
    fn the_hpa_rule_on_scripted_metrics() {
        // 3 ready at 0.9 utilization (2.7 busy on average), target 0.6: ⌈3 × 1.5⌉ = ⌈4.5⌉ = 5.
        assert_eq!(recommend(2.7, 3, 0, 0.6, 0.1), 5);
        // Ratio 1.05 and exactly 1.1: within the tolerance, no change.
        assert_eq!(recommend(1.89, 3, 0, 0.6, 0.1), 3);
        assert_eq!(recommend(1.98, 3, 0, 0.6, 0.1), 3);
        assert_eq!(recommend(2.7, 3, 0, 0.6, 0.0), 5);
        // Ratio 0.5: ⌈1.5⌉ = 2 (stabilization is applied later).
        assert_eq!(recommend(0.9, 3, 0, 0.6, 0.1), 2);
        // 1.8 / 0.6 = 3.0000000000000004 in f64: three workers, not four.
        assert_eq!(recommend(1.8, 2, 0, 0.6, 0.1), 3);
        // Pending workers count with no usage: 2.7 / (5 × 0.6) = 0.9 < 1, so no new order…
        assert_eq!(recommend(2.7, 3, 2, 0.6, 0.1), 5);
        // …unless the load still needs more: 3 / (4 × 0.6) = 1.25 → ⌈3 / 0.6⌉ = 5.
        assert_eq!(recommend(3.0, 3, 1, 0.6, 0.1), 5);
        // Scaling down ignores pending workers: ⌈0.6 / 0.6⌉ = 1.
        assert_eq!(recommend(0.6, 2, 3, 0.6, 0.1), 1);
        // No ready worker, no metric: HPA does not act.
        assert_eq!(recommend(5.0, 0, 2, 0.6, 0.1), 2);
        for (total, target, tol) in [(f64::NAN, 0.6, 0.1), (1.0, f64::NAN, 0.1), (1.0, 0.0, 0.1), (-1.0, 0.6, 0.1)] {
            assert_eq!(recommend(total, 4, 0, target, tol), 4);
        }
        assert_eq!(recommend(1.0, 4, 0, 1e-300, f64::NAN), MAX_WORKERS);
        assert_eq!(recommend(1.0, 4, 0, f64::INFINITY, 0.1), 0);
    }

    #[test]
    fn an_evaluation_is_bounded_by_min_and_max() {
        let spec = AutoscaleSpec { provisioning_delay: 0.0, stabilization: 0.0, ..hpa(0.6, 2, 4) };
        let mut a = Autoscaler::new(&spec, 0, 3);
        a.observe(0, 3, 0, 3);
        assert_eq!(a.next_due(&spec), 15 * SEC);
        // Utilization 1.0: ⌈3 / 0.6⌉ = 5, bounded to 4; no delay, so serving at once.
        let step = a.on_due(&spec, 15 * SEC, 3);
        let up = Decision { from: 3, to: 4, desired: 5, metric: Some(1.0) };
        assert_eq!(step, Step { add_now: 1, remove_now: 0, decision: Some(up) });
        // Idle: ⌈0⌉ = 0, raised to min 2.
        a.observe(15 * SEC, 0, 0, 0);
        let step = a.on_due(&spec, 30 * SEC, 4);
        assert_eq!(step.remove_now, 2);
        assert_eq!(step.decision.map(|d| (d.desired, d.to)), Some((0, 2)));
        assert_eq!((a.desired(), a.last_metric()), (2, Some(0.0)));
        assert_eq!((a.stats.evaluations, a.stats.scale_ups, a.stats.scale_downs), (2, 1, 1));
        assert_eq!((a.stats.workers_min, a.stats.workers_max), (2, 4));
    }

    #[test]
    fn scale_down_waits_for_the_highest_recommendation_in_the_window() {
        let spec = AutoscaleSpec { provisioning_delay: 0.0, ..hpa(0.5, 1, 20) };
        let mut a = Autoscaler::new(&spec, 0, 10);
        // Recommendations: 10 at 15 s (5 busy, within tolerance), 8 at 30 s, 4 from 45 s on.
        let busy = |t: Nanos| match t / SEC {
            0..15 => 5,
            15..30 => 4,
            _ => 2,
        };
        a.observe(0, busy(0), 0, 0);
        let mut ready = 10;
        let mut changes = Vec::new();
        let mut now = a.next_due(&spec);
        while now <= 400 * SEC {
            let step = a.on_due(&spec, now, ready);
            a.observe(now, busy(now), 0, 0);
            ready = ready + step.add_now - step.remove_now;
            if let Some(d) = step.decision {
                changes.push((now / SEC, d.from, d.to, d.desired));
            }
            now = a.next_due(&spec);
        }
        // 10 leaves the window at 315 s (300 s old: out), leaving 8 the highest; 8 at 330 s.
        assert_eq!(changes, [(315, 10, 8, 4), (330, 8, 4, 4)]);
        assert_eq!(a.stats.evaluations, 26);

        // A 30 s scale-up window holds a one-interval spike back, and a lasting one for 30 s.
        let spec = AutoscaleSpec { scale_up_stabilization: 30.0, provisioning_delay: 0.0, ..hpa(0.5, 1, 20) };
        let mut a = Autoscaler::new(&spec, 0, 4);
        a.observe(0, 2, 0, 0);
        assert_eq!(a.on_due(&spec, 15 * SEC, 4), Step::default());
        a.observe(15 * SEC, 4, 0, 0);
        assert_eq!(a.on_due(&spec, 30 * SEC, 4), Step::default());
        a.observe(30 * SEC, 2, 0, 0);
        assert_eq!(a.on_due(&spec, 45 * SEC, 4), Step::default());
        a.observe(45 * SEC, 4, 0, 0);
        assert_eq!(a.on_due(&spec, 60 * SEC, 4), Step::default());
        assert_eq!(a.on_due(&spec, 75 * SEC, 4).add_now, 4);
    }

    #[test]
    fn new_workers_serve_exactly_a_provisioning_delay_after_the_decision() {
        let spec = hpa(0.5, 1, 10);
        let mut a = Autoscaler::new(&spec, 0, 2);
        a.observe(0, 2, 0, 0);
        let step = a.on_due(&spec, 15 * SEC, 2);
        assert_eq!((step.add_now, step.decision.map(|d| d.to)), (0, Some(4)));
        assert_eq!((a.pending(), a.desired()), (2, 4));
        assert_eq!(a.next_due(&spec), 30 * SEC);
        // The evaluation at 30 s keeps 4 (2 busy over 4 workers counted: dampened, ratio 1).
        assert_eq!(a.on_due(&spec, 30 * SEC, 2), Step::default());
        assert_eq!(a.next_due(&spec), 45 * SEC);
        assert_eq!(a.on_due(&spec, 45 * SEC - 1, 2), Step::default());
        assert_eq!(a.on_due(&spec, 45 * SEC, 2).add_now, 2);
        assert_eq!((a.pending(), a.stats.provisioned), (0, 2));
        // Disabled, evaluations stop but ordered workers still come up.
        a.observe(45 * SEC, 4, 0, 0);
        a.on_due(&spec, 60 * SEC, 4);
        assert_eq!(a.pending(), 4);
        let off = AutoscaleSpec { enabled: false, ..spec };
        assert_eq!(a.next_due(&off), 90 * SEC);
        assert_eq!(a.on_due(&off, 90 * SEC, 4).add_now, 4);
        assert_eq!(a.next_due(&off), Nanos::MAX);
    }

    #[test]
    fn a_scale_down_cancels_the_newest_pending_workers_first() {
        let spec = AutoscaleSpec { stabilization: 0.0, provisioning_delay: 60.0, ..hpa(1.0, 1, 20) };
        let mut a = Autoscaler::new(&spec, 0, 4);
        // In flight 6 → 6 workers (2 pending, ready at 75 s); then 9 → 3 more (ready at 90 s).
        a.observe(0, 4, 2, 6);
        let mut spec = AutoscaleSpec { metric: ScaleMetric::InFlightPerWorker, ..spec };
        assert_eq!(a.on_due(&spec, 15 * SEC, 4).decision.map(|d| d.to), Some(6));
        a.observe(15 * SEC, 4, 5, 9);
        assert_eq!(a.on_due(&spec, 30 * SEC, 4).decision.map(|d| d.to), Some(9));
        assert_eq!(a.pending(), 5);
        // 2 in flight → 2: the 5 pending are cancelled, then 2 of the 4 ready retired.
        a.observe(30 * SEC, 2, 0, 2);
        let step = a.on_due(&spec, 45 * SEC, 4);
        assert_eq!((step.add_now, step.remove_now, a.pending()), (0, 2, 0));
        assert_eq!(step.decision.map(|d| (d.from, d.to)), Some((9, 2)));
        assert_eq!(a.stats.cancelled, 5);
        // Partial: 2 ordered at 60 s and 2 at 75 s; the max lowered to 5 cuts the newer batch.
        a.observe(45 * SEC, 2, 2, 4);
        a.on_due(&spec, 60 * SEC, 2);
        a.observe(60 * SEC, 2, 4, 6);
        a.on_due(&spec, 75 * SEC, 2);
        assert_eq!(a.pending(), 4);
        spec.max_workers = 5;
        let step = a.on_due(&spec, 90 * SEC, 2);
        assert_eq!((step.remove_now, a.pending(), a.stats.cancelled), (0, 3, 6));
        assert_eq!(a.next_due(&spec), 105 * SEC);
        assert_eq!(a.on_due(&spec, 120 * SEC, 2).add_now, 2);
        assert_eq!(a.on_due(&spec, 135 * SEC, 4).add_now, 1);
    }

    #[test]
    fn the_metric_is_the_exact_time_average_of_the_gauges() {
        let spec = hpa(0.75, 1, 10);
        let mut a = Autoscaler::new(&spec, 0, 3);
        // Busy 4 for 3.75 s, 1 for 7.5 s, 3 for 3.75 s: 33.75 busy-seconds over 15 s = 2.25.
        a.observe(0, 4, 0, 0);
        a.observe(3_750_000_000, 1, 0, 0);
        a.observe(3_750_000_000, 1, 0, 0);
        a.observe(11_250_000_000, 3, 10, 13);
        // A one-nanosecond pulse of 1000 queued requests: 1000 request-ns, not lost.
        a.observe(12 * SEC, 3, 1000, 1003);
        a.observe(12 * SEC + 1, 3, 10, 13);
        assert_eq!(a.current_metric(&spec, 15 * SEC, 3), Some(0.75));
        let queue = AutoscaleSpec { metric: ScaleMetric::QueuePerWorker, ..spec.clone() };
        // 10 queued for 3.75 s plus 990 request-ns: 2.5 + 6.6e-8 over 15 s, 3.25 + 6.6e-8 inside.
        assert!((a.mean(queue.metric, 15 * SEC) - 2.500_000_066).abs() < 1e-15);
        assert!((a.mean(ScaleMetric::InFlightPerWorker, 15 * SEC) - 3.250_000_066).abs() < 1e-15);
        // Utilization 0.75 = target: no change, and the next interval starts afresh.
        assert_eq!(a.on_due(&spec, 15 * SEC, 3), Step::default());
        assert_eq!(a.last_metric(), Some(0.75));
        assert_eq!(a.current_metric(&spec, 22_500_000_000, 3), Some(1.0));
        assert_eq!(a.current_metric(&spec, 22_500_000_000, 0), None);
        // An instant read (no span yet) is the gauge itself.
        assert_eq!(a.current_metric(&spec, 15 * SEC, 3), Some(1.0));
    }

    /// A fluid toy service: `demand` requests in flight at all times, stepping 2 → 8 at 20 s;
    /// returns the ready count at each whole second.
    fn spike(spec: &AutoscaleSpec) -> Vec<u32> {
        let mut a = Autoscaler::new(spec, 0, 2);
        let mut ready = 2u32;
        let mut out = Vec::new();
        for second in 0..=120u64 {
            let now = second * SEC;
            let demand = if second < 20 { 2 } else { 8 };
            while a.next_due(spec) <= now {
                let due = a.next_due(spec);
                let step = a.on_due(spec, due, ready);
                ready = ready + step.add_now - step.remove_now;
            }
            a.observe(now, demand.min(ready), demand.saturating_sub(ready), demand);
            out.push(ready);
        }
        out
    }

    #[test]
    fn a_demand_spike_is_served_only_after_an_evaluation_and_the_provisioning_delay() {
        let spec = AutoscaleSpec { metric: ScaleMetric::InFlightPerWorker, ..hpa(1.0, 1, 10) };
        let ready = spike(&spec);
        // At 30 s the mean is (5 × 2 + 10 × 8) / 15 = 6: order 4, serving at 60 s. At 45 s the
        // mean is 8 and 4 + 2 pending count with no load: 8 / 6 > 1.1, order 2 more (75 s).
        // At 60 s, 8 over 8 counted: no order. Demand is met 55 s after it stepped.
        assert!(ready[..60].iter().all(|&r| r == 2));
        assert!(ready[60..75].iter().all(|&r| r == 6));
        assert!(ready[75..].iter().all(|&r| r == 8));
        // Instant provisioning: the first evaluation after the step and the next one decide.
        let fast = AutoscaleSpec { provisioning_delay: 0.0, ..spec.clone() };
        let ready = spike(&fast);
        assert_eq!((ready[29], ready[30], ready[44], ready[45]), (2, 6, 6, 8));
    }

    #[test]
    fn live_edits_apply_at_the_next_evaluation() {
        let mut spec = AutoscaleSpec { provisioning_delay: 0.0, ..hpa(0.5, 1, 10) };
        let mut a = Autoscaler::new(&spec, 0, 6);
        a.observe(0, 3, 0, 0);
        spec.interval = 60.0;
        spec.max_workers = 4;
        // The evaluation already scheduled stays at 15 s; it clamps 6 to the new max at once.
        assert_eq!(a.next_due(&spec), 15 * SEC);
        let step = a.on_due(&spec, 15 * SEC, 6);
        a.observe(15 * SEC, 2, 0, 0);
        assert_eq!((step.remove_now, step.decision.map(|d| (d.from, d.to, d.desired))), (2, Some((6, 4, 6))));
        assert_eq!(a.next_due(&spec), 75 * SEC);
        spec.min_workers = 5;
        spec.max_workers = 8;
        assert_eq!(a.on_due(&spec, 75 * SEC, 4).add_now, 1);
    }

    #[test]
    fn odd_inputs_neither_panic_nor_overflow() {
        let odd = [
            AutoscaleSpec { target: f64::NAN, tolerance: f64::NAN, interval: f64::NAN, ..hpa(0.5, 1, 5) },
            AutoscaleSpec { provisioning_delay: f64::INFINITY, stabilization: f64::NAN, ..hpa(1e-300, 0, 0) },
            AutoscaleSpec { interval: 0.0, scale_up_stabilization: -1.0, ..hpa(f64::INFINITY, 9, 3) },
        ];
        for spec in &odd {
            assert!(spec.validate().is_err());
            for workers in [0, 1, u32::MAX] {
                let mut a = Autoscaler::new(spec, u64::MAX - 5, workers);
                for now in [u64::MAX - 5, 0, u64::MAX, 3] {
                    a.observe(now, u32::MAX, u32::MAX, u32::MAX);
                    let due = a.next_due(spec);
                    let _ = a.on_due(spec, due.min(now), workers);
                    let _ = a.on_due(spec, u64::MAX, workers);
                    let _ = (a.pending(), a.current_metric(spec, now, workers), a.desired());
                }
            }
        }
        // No worker at all, min 1: raised to 1 at the first evaluation.
        let spec = hpa(0.5, 1, 5);
        let mut a = Autoscaler::new(&spec, 0, 0);
        let step = a.on_due(&spec, 15 * SEC, 0);
        assert_eq!((step.decision.map(|d| (d.to, d.metric)), a.pending()), (Some((1, None)), 1));
    }

    #[test]
    fn registry_paths_bounds_and_validation() {
        let mut spec = hpa(0.7, 1, 10);
        let mut lister = Lister::new("api.autoscale");
        spec.visit(&mut lister);
        let listed: Vec<_> = lister.out.iter().map(|p| (p.path.as_str(), p.kind.clone(), p.value.clone())).collect();
        let names = &["utilization", "queue_per_worker", "in_flight_per_worker"];
        assert_eq!(
            listed,
            [
                ("api.autoscale.enabled", Kind::Flag, Value::Flag(true)),
                ("api.autoscale.metric", Kind::Choice(names), Value::Choice("utilization".into())),
                ("api.autoscale.target", Kind::Real { min: MIN_TARGET, max: MAX_TARGET }, Value::Real(0.7)),
                ("api.autoscale.tolerance", Kind::Real { min: 0.0, max: 1.0 }, Value::Real(0.1)),
                ("api.autoscale.interval", Kind::Seconds, Value::Real(15.0)),
                ("api.autoscale.provisioning_delay", Kind::Seconds, Value::Real(30.0)),
                ("api.autoscale.stabilization", Kind::Seconds, Value::Real(300.0)),
                ("api.autoscale.scale_up_stabilization", Kind::Seconds, Value::Real(0.0)),
                ("api.autoscale.min_workers", Kind::Count { min: 1 }, Value::Count(1)),
                ("api.autoscale.max_workers", Kind::Count { min: 1 }, Value::Count(10)),
            ]
        );
        assert!(out_of_bounds(&mut spec).is_empty());
        assert_eq!(spec.validate(), Ok(()));

        fn set(spec: &mut AutoscaleSpec, path: &str, value: Value) -> Result<(), String> {
            let mut result = Err("not found".to_string());
            let mut finder = Finder::new(path, |field| result = field.set(&value));
            spec.visit(&mut finder);
            result
        }
        for (path, bad) in [
            ("target", Value::Real(0.0)),
            ("tolerance", Value::Real(-0.1)),
            ("interval", Value::Real(0.0)),
            ("provisioning_delay", Value::Real(-1.0)),
            ("min_workers", Value::Count(0)),
            ("max_workers", Value::Count(u64::from(MAX_WORKERS) + 1)),
            ("metric", Value::Choice("cpu".into())),
        ] {
            assert!(set(&mut spec, path, bad).is_err(), "{path}");
        }
        assert_eq!(spec, hpa(0.7, 1, 10));
        set(&mut spec, "metric", Value::Choice("queue_per_worker".into())).unwrap();
        set(&mut spec, "target", Value::Count(5)).unwrap();
        assert_eq!((spec.metric, spec.target, spec.validate()), (ScaleMetric::QueuePerWorker, 5.0, Ok(())));

        // What bounds per field cannot say, `validate` does, with what to write instead.
        let err = AutoscaleSpec { min_workers: 12, ..hpa(0.7, 1, 10) }.validate().unwrap_err();
        assert!(err.contains("raise max_workers"), "{err}");
        let err = hpa(70.0, 1, 10).validate().unwrap_err();
        assert!(err.contains("0.7 for 70 %"), "{err}");
        assert!(hpa(0.0, 1, 10).validate().unwrap_err().contains("above 0"));
        assert_eq!(out_of_bounds(&mut hpa(0.0, 0, 10)).len(), 2);
    }

    #[test]
    fn the_spec_round_trips_through_ron() {
        let text = "Autoscale(metric: Utilization, target: 0.6, max_workers: 20)";
        let spec: AutoscaleSpec = ron::from_str(text).unwrap();
        assert_eq!(spec, hpa(0.6, 1, 20));
        assert!(!spec.is_off() && AutoscaleSpec::default().is_off());
        let written = ron::to_string(&spec).unwrap();
        assert!(written.contains("metric:Utilization,target:0.6"), "{written}");
        assert_eq!(ron::from_str::<AutoscaleSpec>(&written).unwrap(), spec);
        let queue: AutoscaleSpec =
            ron::from_str("Autoscale(metric: QueuePerWorker, target: 4.0, max_workers: 8)").unwrap();
        assert_eq!(queue.metric, ScaleMetric::QueuePerWorker);
        // max_workers is required, as HPA's maxReplicas; unknown fields are refused.
        assert!(ron::from_str::<AutoscaleSpec>("Autoscale(target: 0.6)").is_err());
        assert!(ron::from_str::<AutoscaleSpec>("Autoscale(max_workers: 4, targte: 0.6)").is_err());
        let stats = AutoscaleStats { scale_ups: 2, last_metric: Some(0.5), ..AutoscaleStats::default() };
        let written = ron::to_string(&stats).unwrap();
        assert!(written.contains("scale_ups:2") && written.contains("last_metric:Some(0.5)"), "{written}");
    }
}
