//! A station's load, measured over a sliding window without a clock: the signal that priority
//! shedding, graceful degradation and the entry gate decide on.
//!
//! Two signals, both fed by the engine as things happen:
//! * [`LoadGauge`]: the time-weighted mean of a gauge over the window. The engine reports every
//!   change of the gauge it measures ([`LoadSignal`]: busy workers / workers, queue length /
//!   capacity, in flight / limit), as the SRE book's overloaded task watches its utilization
//!   (resilience-semantics §3) and seed 001 watches `current_load` in `should_shed`.
//! * [`ResponseTime`]: the mean response time of the requests completed in the window, the
//!   other signal the refusal essay (seed 003) names for admission control: "measures the queue
//!   depth or response time at the entry".
//!
//! # Why a bucketed sliding window, not an exponential average
//! A gauge is piecewise constant, so its mean over any span is exact from sums of
//! `value × duration`. An exact window over `[now − window, now]` would have to remember every
//! change inside it: unbounded memory at a million events a second. An exponentially weighted
//! average is O(1), but it never forgets (a spike decays yet never leaves), needs `exp` (libm,
//! whose last bits differ between platforms) and reads a different quantity: 1.0 for 0.5 s then
//! 0 for 0.5 s gives 0.24 at τ = 1 s, not the 0.5 a reader of "mean over the last second"
//! expects. So the window is cut into [`BUCKETS`] buckets of `window / 16` on a grid fixed at
//! t = 0, each holding its exact integral, in a fixed array (no allocation). The value read at
//! `now` is the exact time-weighted mean over the 16 complete buckets before `now` plus the part
//! of the bucket `now` is in: a span of `window + (now mod window/16)`, between 1 and 17/16
//! windows, and exactly one window when `now` falls on the grid. Old values leave completely
//! 17/16 windows later at most. Writes touch at most 17 buckets, reads add 17 numbers, and only
//! `+ × /` are used, so results are bit-identical on every platform.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::engine::time::{MAX_SECONDS, NANOS_PER_SEC, Nanos, secs_to_nanos};
use crate::params::{Field, Params, Visitor};

/// Which gauge the engine reports into a station's load signal. Each is a fraction, 1.0 = full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadSignal {
    /// Busy workers / workers: the SRE book's utilization signal (§3).
    #[default]
    Utilization,
    /// Queue length / queue capacity: seed 001's `queue_size / queue_capacity`.
    QueueFill,
    /// Requests in flight / the concurrency limit.
    InFlight,
}
crate::choice_enum!(LoadSignal {
    "utilization" => LoadSignal::Utilization,
    "queue_fill" => LoadSignal::QueueFill,
    "in_flight" => LoadSignal::InFlight,
});

/// What a station measures as its load, and over how long.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Load")]
pub struct LoadSpec {
    /// The gauge measured (default `Utilization`, the SRE book's signal, resilience-semantics §3).
    #[serde(default)]
    pub signal: LoadSignal,
    /// Length of the sliding window in seconds (default 1 s: many service times long, yet short
    /// enough to follow a spike; Envoy's overload manager samples every 250 ms, §9).
    #[serde(default = "one_second")]
    pub window: f64,
}

/// The default window, in seconds.
pub const DEFAULT_WINDOW: f64 = 1.0;

/// The shortest window the registry accepts, in seconds: 1 µs, so that each of the 16 buckets
/// still spans 62 ns of the 1 ns clock.
pub const MIN_WINDOW: f64 = 1e-6;

fn one_second() -> f64 {
    DEFAULT_WINDOW
}

impl Default for LoadSpec {
    fn default() -> Self {
        Self { signal: LoadSignal::Utilization, window: DEFAULT_WINDOW }
    }
}

impl LoadSpec {
    /// The window on the engine's clock.
    pub fn window_nanos(&self) -> Nanos {
        secs_to_nanos(self.window)
    }
}

impl Params for LoadSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("signal", Field::Choice(&mut self.signal), "gauge measured: utilization, queue_fill or in_flight");
        v.field(
            "window",
            Field::Real(&mut self.window, MIN_WINDOW, MAX_SECONDS),
            "sliding window of the load, in seconds (at least 1 µs)",
        );
    }
}

/// Complete buckets per window. The value read at `now` covers these and the bucket `now` is in.
pub const BUCKETS: u64 = 16;

/// Buckets held: the complete ones and the one filling.
const SLOTS: usize = BUCKETS as usize + 1;

/// The tag of a slot that holds no bucket yet. Its sums are zero, so it adds nothing even if
/// the tag ever fell inside the live range.
const EMPTY: u64 = u64::MAX;

/// The largest gauge value kept: far above any fraction, and small enough that a bucket's
/// `value × nanoseconds` stays finite for every duration the clock can name.
const MAX_LEVEL: f64 = 1e9;

/// The fixed grid of buckets, anchored at t = 0 so that every run cuts time the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Grid {
    window: Nanos,
    /// `window / BUCKETS`, at least 1 ns.
    width: Nanos,
}

impl Grid {
    fn new(window: Nanos) -> Self {
        Self { window, width: (window / BUCKETS).max(1) }
    }

    fn bucket(&self, t: Nanos) -> u64 {
        t / self.width
    }

    fn start_of(&self, bucket: u64) -> Nanos {
        bucket.saturating_mul(self.width)
    }

    /// The first bucket read at `now`: `BUCKETS` before the one `now` falls in.
    fn oldest_live(&self, now: Nanos) -> u64 {
        self.bucket(now).saturating_sub(BUCKETS)
    }

    /// The buckets read at `now`.
    fn live(&self, now: Nanos) -> RangeInclusive<u64> {
        self.oldest_live(now)..=self.bucket(now)
    }

    fn slot(bucket: u64) -> usize {
        (bucket % SLOTS as u64) as usize
    }
}

/// The time-weighted mean of a gauge over a sliding window (see the module docs for its exact
/// span). The gauge reads 0 until the first [`set`](Self::set).
#[derive(Clone, Debug)]
pub struct LoadGauge {
    grid: Grid,
    /// The gauge's value since `since`.
    level: f64,
    /// The time up to which `level` has been added to the buckets.
    since: Nanos,
    /// When measuring began (creation or a change of window): the mean never reaches before it,
    /// so a young station reads its mean since the start rather than a mean diluted by zeros.
    origin: Nanos,
    /// Per bucket, tagged with its index: the integral of the gauge, `value × ns`.
    integrals: [(u64, f64); SLOTS],
}

impl LoadGauge {
    /// A gauge at 0, measured from `now` over `window`.
    pub fn new(window: Nanos, now: Nanos) -> Self {
        Self { grid: Grid::new(window), level: 0.0, since: now, origin: now, integrals: [(EMPTY, 0.0); SLOTS] }
    }

    /// The gauge changed to `value` at `now`. Call on every change of the measured gauge.
    ///
    /// A load is a non-negative fraction: NaN (0 / 0 on a station without workers) reads as 0,
    /// negatives as 0, and values above 10⁹ as 10⁹. A `now` earlier than the last change is
    /// taken as the last change (time does not run backwards in the engine; nothing panics).
    pub fn set(&mut self, now: Nanos, value: f64) {
        let now = now.max(self.since);
        self.credit_until(now);
        self.level = if value.is_nan() { 0.0 } else { value.clamp(0.0, MAX_LEVEL) };
    }

    /// The time-weighted mean of the gauge over the window ending at `now`.
    pub fn value(&self, now: Nanos) -> f64 {
        let now = now.max(self.since);
        let start = self.grid.start_of(self.grid.oldest_live(now)).max(self.origin);
        let span = now.saturating_sub(start);
        if span == 0 {
            return self.level;
        }
        let live = self.grid.live(now);
        let credited: f64 =
            self.integrals.iter().filter(|(bucket, _)| live.contains(bucket)).map(|(_, integral)| integral).sum();
        // The current level since the last change, not yet in the buckets.
        let pending = self.level * now.saturating_sub(self.since.max(start)) as f64;
        (credited + pending) / span as f64
    }

    /// The gauge's value right now (the last one set).
    pub fn level(&self) -> f64 {
        self.level
    }

    /// The window, in nanoseconds.
    pub fn window(&self) -> Nanos {
        self.grid.window
    }

    /// Follows a change of window made at run time: the buckets of the old grid cannot be
    /// re-cut, so measuring restarts at `now` from the current level. No-op if unchanged.
    pub fn set_window(&mut self, window: Nanos, now: Nanos) {
        if window != self.grid.window {
            let level = self.level;
            *self = Self::new(window, now.max(self.since));
            self.level = level;
        }
    }

    /// Adds `level × duration` over `[since, now]` to the buckets it crosses, skipping those
    /// already out of the window at `now` (so at most 17, however long the gauge held).
    fn credit_until(&mut self, now: Nanos) {
        if self.level > 0.0 {
            let first = self.grid.bucket(self.since).max(self.grid.oldest_live(now));
            for bucket in first..=self.grid.bucket(now) {
                let from = self.since.max(self.grid.start_of(bucket));
                let to = now.min(self.grid.start_of(bucket.saturating_add(1)));
                let duration = to.saturating_sub(from);
                if duration == 0 {
                    continue;
                }
                let slot = &mut self.integrals[Grid::slot(bucket)];
                if slot.0 != bucket {
                    // The slot last held a bucket 17 or more back: out of every future window.
                    *slot = (bucket, 0.0);
                }
                slot.1 += self.level * duration as f64;
            }
        }
        self.since = now;
    }
}

/// The mean response time of the requests completed within a sliding window, on the same grid as
/// [`LoadGauge`]. Each response counts at the time it completed.
#[derive(Clone, Debug)]
pub struct ResponseTime {
    grid: Grid,
    /// The latest time seen, so that a stale `now` cannot reuse a newer bucket's slot.
    latest: Nanos,
    buckets: [LatencyBucket; SLOTS],
}

/// The responses completed in one bucket: their count and total latency (u128: no overflow for
/// 2⁶⁴ responses of the longest latency the clock can name).
#[derive(Clone, Copy, Debug)]
struct LatencyBucket {
    index: u64,
    total: u128,
    count: u64,
}

const NO_RESPONSES: LatencyBucket = LatencyBucket { index: EMPTY, total: 0, count: 0 };

impl ResponseTime {
    /// No responses yet, measured over `window`.
    pub fn new(window: Nanos) -> Self {
        Self { grid: Grid::new(window), latest: 0, buckets: [NO_RESPONSES; SLOTS] }
    }

    /// A response completed at `now` after `latency`. Call on every response the station sends
    /// (success or error); not on refusals, whose zero latency would hide the overload.
    pub fn record_latency(&mut self, now: Nanos, latency: Nanos) {
        let now = now.max(self.latest);
        self.latest = now;
        let index = self.grid.bucket(now);
        let bucket = &mut self.buckets[Grid::slot(index)];
        if bucket.index != index {
            *bucket = LatencyBucket { index, total: 0, count: 0 };
        }
        bucket.total = bucket.total.saturating_add(u128::from(latency));
        bucket.count = bucket.count.saturating_add(1);
    }

    /// The mean response time over the window ending at `now`, in seconds; `None` without
    /// responses in it.
    pub fn mean(&self, now: Nanos) -> Option<f64> {
        let (total, count) = self.totals(now);
        (count > 0).then(|| total as f64 / count as f64 / NANOS_PER_SEC)
    }

    /// Whether the mean over the window ending at `now` is strictly above `limit`, compared
    /// exactly (`total > limit × count`, in integers). False without responses: no evidence.
    pub fn exceeds(&self, now: Nanos, limit: Nanos) -> bool {
        let (total, count) = self.totals(now);
        count > 0 && total > u128::from(limit) * u128::from(count)
    }

    /// How many responses the window ending at `now` holds.
    pub fn samples(&self, now: Nanos) -> u64 {
        self.totals(now).1
    }

    /// The window, in nanoseconds.
    pub fn window(&self) -> Nanos {
        self.grid.window
    }

    /// Follows a change of window made at run time: the old buckets cannot be re-cut, so the
    /// responses recorded so far are forgotten. No-op if unchanged.
    pub fn set_window(&mut self, window: Nanos) {
        if window != self.grid.window {
            *self = Self { latest: self.latest, ..Self::new(window) };
        }
    }

    fn totals(&self, now: Nanos) -> (u128, u64) {
        let live = self.grid.live(now.max(self.latest));
        self.buckets
            .iter()
            .filter(|b| live.contains(&b.index))
            .fold((0, 0), |(total, count), b| (total.saturating_add(b.total), count.saturating_add(b.count)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::out_of_bounds;

    const SECOND: Nanos = 1_000_000_000;
    const MS: Nanos = 1_000_000;

    #[test]
    fn half_a_second_busy_then_idle_reads_one_half_at_one_second() {
        let mut gauge = LoadGauge::new(SECOND, 0);
        gauge.set(0, 1.0);
        gauge.set(SECOND / 2, 0.0);
        assert_eq!(gauge.value(SECOND), 0.5);
        // Before a full window has passed, the mean runs from the start, not over zeros before it.
        assert_eq!(gauge.value(SECOND / 2), 1.0);
        assert_eq!(gauge.value(750 * MS), 2.0 / 3.0);
        // Off the grid the span is one window plus the part of the current bucket: [0, 1.03 s].
        assert_eq!(gauge.value(1030 * MS), 5e8 / 1.03e9);
    }

    #[test]
    fn old_values_leave_the_window() {
        let mut gauge = LoadGauge::new(SECOND, 0);
        gauge.set(0, 1.0);
        gauge.set(SECOND / 2, 0.0);
        // At 1.4375 s the window starts at 0.4375 s: one bucket (62.5 ms) of the busy half is left.
        assert_eq!(gauge.value(1_437_500_000), 0.0625);
        assert_eq!(gauge.value(1_500_000_000), 0.0);
        assert_eq!(gauge.value(100 * SECOND), 0.0);
    }

    #[test]
    fn matches_a_brute_force_mean_over_the_documented_span() {
        // A scripted, irregular gauge (a fixed LCG), checked against the integral of its full
        // history over [⌊now / w⌋·w − window, now], w = window / 16.
        let window = 160 * MS;
        let width = window / BUCKETS;
        let mut gauge = LoadGauge::new(window, 0);
        let mut changes: Vec<(Nanos, f64)> = vec![(0, 0.0)];
        let mut state: u64 = 7;
        let mut now = 0;
        for _ in 0..2000 {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            now += (state >> 33) % (40 * MS);
            let value = ((state >> 11) % 1000) as f64 / 999.0;
            let read_at = now + (state >> 20) % (30 * MS);
            gauge.set(now, value);
            changes.push((now, value));
            let start = (read_at / width).saturating_sub(BUCKETS) * width;
            let mut integral = 0.0;
            for (i, &(from, level)) in changes.iter().enumerate() {
                let to = changes.get(i + 1).map_or(read_at, |c| c.0);
                integral += level * to.min(read_at).saturating_sub(from.max(start)) as f64;
            }
            let exact = integral / (read_at - start) as f64;
            assert!((gauge.value(read_at) - exact).abs() <= 1e-12, "at {read_at}: {} vs {exact}", gauge.value(read_at));
        }
    }

    #[test]
    fn a_level_held_without_changes_counts_up_to_now() {
        let mut gauge = LoadGauge::new(SECOND, 0);
        gauge.set(0, 0.25);
        assert_eq!(gauge.value(2 * SECOND), 0.25);
        // After a long quiet spell, only the last window counts: [99.5 s, 100 s] at 0.25 and
        // [100 s, 100.5 s] at 1.0.
        gauge.set(100 * SECOND, 1.0);
        assert_eq!(gauge.value(100 * SECOND + SECOND / 2), 0.625);
        assert_eq!(gauge.level(), 1.0);
    }

    #[test]
    fn bad_values_and_stale_times_are_absorbed() {
        let mut gauge = LoadGauge::new(SECOND, 0);
        gauge.set(0, f64::NAN);
        assert_eq!(gauge.value(SECOND), 0.0);
        gauge.set(SECOND, -3.0);
        assert_eq!(gauge.level(), 0.0);
        gauge.set(SECOND, f64::INFINITY);
        assert_eq!(gauge.level(), MAX_LEVEL);
        // A time before the last change is taken as the last change (1 s).
        gauge.set(SECOND / 2, 0.5);
        assert_eq!(gauge.level(), 0.5);
        assert_eq!(gauge.value(0), gauge.value(SECOND));
        assert_eq!(gauge.value(2 * SECOND), 0.5);
        assert!(gauge.value(Nanos::MAX).is_finite());
        let mut tiny = LoadGauge::new(1, 0);
        tiny.set(3, 1.0);
        assert_eq!(tiny.value(10), 0.7);
    }

    #[test]
    fn a_new_window_restarts_measuring_from_the_current_level() {
        let mut gauge = LoadGauge::new(SECOND, 0);
        gauge.set(0, 1.0);
        gauge.set(SECOND / 2, 0.0);
        gauge.set_window(2 * SECOND, SECOND);
        assert_eq!(gauge.window(), 2 * SECOND);
        assert_eq!(gauge.value(SECOND), 0.0);
        gauge.set(2 * SECOND, 1.0);
        assert_eq!(gauge.value(3 * SECOND), 0.5);
    }

    #[test]
    fn response_time_is_the_mean_of_responses_in_the_window() {
        let mut response = ResponseTime::new(SECOND);
        assert_eq!(response.mean(0), None);
        assert!(!response.exceeds(0, 0));
        response.record_latency(100 * MS, 100 * MS);
        response.record_latency(200 * MS, 300 * MS);
        assert_eq!(response.mean(SECOND), Some(0.2));
        assert_eq!(response.samples(SECOND), 2);
        assert!(!response.exceeds(SECOND, 200 * MS));
        assert!(response.exceeds(SECOND, 200 * MS - 1));
        // They completed in buckets 1 and 3 ([62.5, 125) ms and [187.5, 250) ms): each is gone
        // 17 buckets later.
        assert_eq!(response.samples(1_187_500_000), 1);
        assert_eq!(response.mean(1_250_000_000), None);
        // Huge latencies do not overflow.
        response.record_latency(Nanos::MAX, Nanos::MAX);
        response.record_latency(Nanos::MAX, Nanos::MAX);
        assert!(response.exceeds(Nanos::MAX, Nanos::MAX - 1));
    }

    #[test]
    fn response_time_forgets_on_a_new_window() {
        let mut response = ResponseTime::new(SECOND);
        response.record_latency(0, SECOND);
        response.set_window(SECOND);
        assert_eq!(response.samples(0), 1);
        response.set_window(2 * SECOND);
        assert_eq!(response.samples(0), 0);
        assert_eq!(response.window(), 2 * SECOND);
    }

    #[test]
    fn spec_defaults_bounds_and_file_names() {
        let mut spec = LoadSpec::default();
        assert!(out_of_bounds(&mut spec).is_empty());
        assert_eq!(spec.window_nanos(), SECOND);
        spec.window = 0.0;
        assert_eq!(out_of_bounds(&mut spec).len(), 1);
        let parsed: LoadSpec = ron::from_str("Load(signal: QueueFill)").unwrap();
        assert_eq!(parsed, LoadSpec { signal: LoadSignal::QueueFill, window: 1.0 });
        assert!(ron::from_str::<LoadSpec>("(windw: 2.0)").is_err());
        let mut signal = LoadSignal::default();
        assert!(crate::params::Choice::select(&mut signal, "in_flight"));
        assert_eq!(signal, LoadSignal::InFlight);
    }
}
