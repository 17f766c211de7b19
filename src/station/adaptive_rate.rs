//! An adaptive rate limit: a token bucket whose rate follows a latency quantile against an SLO.
//!
//! **The rule** is seed 001's "Adaptive" strategy (backpressure-strategies, §5):
//! `if latency_p99 > SLO: decrease_rate_limit() elif latency_p99 < SLO * 0.5:
//! increase_rate_limit()`. Every control `interval` the station measures the `quantile`
//! (default p99) of the response times that left it during the last `window`, and cuts the
//! limit multiplicatively (`rate × decrease`) above the SLO, raises it additively
//! (`rate + increase`) below `SLO × low_water`, and holds in between: AIMD, as TCP and Netflix's
//! `concurrency-limits` `AIMDLimit` (backoff 0.9) adjust their windows. The limit is clamped to
//! `[min_rate, max_rate]` and enforced by the exact-integer bucket of [`super::rate_limit`],
//! retuned at the instant of each decision. It sits in the admission chain after the static
//! rate limit; a refusal is a 429 `rate_limited`.
//!
//! **Why damping.** Seed 000 (backpressure-sre-guide), failure mode F2: "Oscillation —
//! throughput swings, flapping — high latency in feedback loop — add hysteresis and smoothing".
//! A cut shows in the measured quantile only after the queue it relieves has drained and the
//! slow responses have left the window; the raw rule cuts again at every interval meanwhile,
//! undershoots, then climbs past the capacity while the low latencies of the undershoot are
//! still being reported. Two remedies, both off with `smoothing: 1, hysteresis: 0` (the raw
//! rule):
//! * **Smoothing**: an exponential average of the measured quantile, `s ← α·m + (1 − α)·s`,
//!   `α = smoothing`, so that a spike seen by one evaluation (a burst entering or leaving the
//!   window) moves the compared value by only `α` of its height.
//! * **Hysteresis** (seconds): the seed's rule already has a band in *level* (it holds between
//!   `SLO × low_water` and the SLO); what flaps under feedback delay is *time*: the controller
//!   acts again before its last action could show. So after a cut, no further cut for
//!   `hysteresis` (one decrease per feedback delay, as TCP reduces its window once per round
//!   trip, RFC 5681 / RFC 6582, however many losses that round trip reports), and an increase
//!   needs the smoothed quantile to have stayed below the low-water mark at every evaluation for
//!   `hysteresis` (the SRE guide's "conservative ramp-up"). Set it to at least the loop's delay:
//!   the window plus the time a cut takes to drain the queue.
//!
//! Hysteresis is what damps a delayed loop; smoothing alone adds lag and makes the swing larger
//! (the closed-loop test below measures both). Smoothing filters jitter between evaluations; with
//! hysteresis, a spike held in the window costs one cut, not one per interval.
//!
//! **Unused limits do not grow.** A limit above the offered load sees low latency and, under the
//! raw rule, climbs forever; when a surge comes it is far above the capacity and takes many cuts
//! to come down (RFC 7661's cwnd validation for TCP). As Netflix's `AIMDLimit` grows only when
//! `inflight × 2 ≥ limit`, an increase needs at least half the limit's worth of requests admitted
//! since the last evaluation. A limit with no responses in the window holds: there is no
//! evidence either way.
//!
//! **Exactness.** The quantile is exact (nearest rank over the stored samples, integer
//! nanoseconds, integer rank arithmetic); the EMA and the steps use only `+ ×` and comparisons,
//! so runs are bit-identical across platforms. Samples are a ring of the newest
//! [`MAX_SAMPLES`] responses: above `MAX_SAMPLES / window` responses a second the quantile is
//! over the newest 4096 (still 41 above a p99), and the memory stays fixed: 96 KiB with the
//! sorting buffer, allocated once at creation.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::engine::time::{MAX_RATE, MAX_SECONDS, Nanos, nanos_to_secs, secs_to_nanos};
use crate::params::{Field, Params, Visitor};
use crate::station::rate_limit::{MAX_BURST, MIN_RATE, RateLimitSpec, RateLimiter};

/// Responses kept for the quantile: the newest this many in the window.
pub const MAX_SAMPLES: usize = 4096;

/// The shortest control interval the registry accepts: 1 ms. A limit moved more often than that
/// would move between tokens, and each evaluation is an engine event.
pub const MIN_INTERVAL: f64 = 1e-3;

/// The smallest EMA weight accepted: below it one evaluation would move the average by < 1 %.
pub const MIN_SMOOTHING: f64 = 0.01;

/// Defaults, with the reasons in [`AdaptiveRateSpec`]'s field docs.
pub const DEFAULT_QUANTILE: f64 = 0.99;
pub const DEFAULT_WINDOW: f64 = 5.0;
pub const DEFAULT_INTERVAL: f64 = 1.0;
pub const DEFAULT_DECREASE: f64 = 0.9;
pub const DEFAULT_LOW_WATER: f64 = 0.5;
pub const DEFAULT_SMOOTHING: f64 = 0.5;
pub const DEFAULT_HYSTERESIS: f64 = 10.0;
pub const DEFAULT_MIN_RATE: f64 = 1.0;
/// `increase: None` is this fraction of `initial_rate` per interval.
pub const DEFAULT_INCREASE_FRACTION: f64 = 0.01;

/// A rate limit adjusted from a latency quantile against an SLO (seed 001, damped per seed 000).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "AdaptiveRate")]
pub struct AdaptiveRateSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The latency objective in seconds (seed 001's `SLO`). Required: there is no universal one.
    pub slo: f64,
    /// The quantile compared with the SLO (default 0.99, seed 001's `latency_p99`).
    #[serde(default = "d_quantile")]
    pub quantile: f64,
    /// Seconds of responses the quantile is taken over (default 5 s: 100 responses, enough for a
    /// p99 to be more than the maximum, at 20 requests a second; short enough that a cut shows
    /// within seconds).
    #[serde(default = "d_window")]
    pub window: f64,
    /// Seconds between evaluations (default 1 s, as the seed's loop; much less than the window,
    /// so consecutive measurements overlap and change gradually).
    #[serde(default = "d_interval")]
    pub interval: f64,
    /// The limit at the start, requests per second. Required. Edited live, it replaces the
    /// current limit at the next evaluation.
    pub initial_rate: f64,
    /// The lowest limit (default 1 req/s: a limit near 0 would see no responses, hence no
    /// evidence to rise on).
    #[serde(default = "d_min_rate")]
    pub min_rate: f64,
    /// The highest limit (default 10⁹, in effect none: the static rate limit before this one,
    /// or the unused-limit rule, caps it).
    #[serde(default = "d_max_rate")]
    pub max_rate: f64,
    /// Factor applied above the SLO (default 0.9, Netflix `AIMDLimit`'s backoff ratio: a gentle
    /// cut, since hysteresis allows only one per delay).
    #[serde(default = "d_decrease")]
    pub decrease: f64,
    /// Requests per second added below the low-water mark. None: 1 % of `initial_rate`, so the
    /// step scales with the service and a delay of a few intervals overshoots by a few percent.
    #[serde(default)]
    pub increase: Option<f64>,
    /// Increase below `slo × low_water` (default 0.5, seed 001's `SLO * 0.5`).
    #[serde(default = "d_low_water")]
    pub low_water: f64,
    /// EMA weight of the newest measurement (default 0.5: a spike moves the average half way;
    /// 1 is the seed's raw rule).
    #[serde(default = "d_smoothing")]
    pub smoothing: f64,
    /// Seconds: no cut within this of the last one, and no increase before the smoothed quantile
    /// has stayed below the low-water mark this long (default 10 s: two default windows, one for
    /// the window to hold only responses after a cut, one for the drained queue and the EMA).
    #[serde(default = "d_hysteresis")]
    pub hysteresis: f64,
    /// Bucket capacity and initial fill. None: one second's worth of the current limit.
    #[serde(default)]
    pub burst: Option<f64>,
}

fn yes() -> bool {
    true
}
fn d_quantile() -> f64 {
    DEFAULT_QUANTILE
}
fn d_window() -> f64 {
    DEFAULT_WINDOW
}
fn d_interval() -> f64 {
    DEFAULT_INTERVAL
}
fn d_min_rate() -> f64 {
    DEFAULT_MIN_RATE
}
fn d_max_rate() -> f64 {
    MAX_RATE
}
fn d_decrease() -> f64 {
    DEFAULT_DECREASE
}
fn d_low_water() -> f64 {
    DEFAULT_LOW_WATER
}
fn d_smoothing() -> f64 {
    DEFAULT_SMOOTHING
}
fn d_hysteresis() -> f64 {
    DEFAULT_HYSTERESIS
}

impl Default for AdaptiveRateSpec {
    /// Disabled (no `adaptive_rate:` in the file). Switched on from the inspector it starts at
    /// 100 req/s (as a rate limit does) against a 0.5 s SLO.
    fn default() -> Self {
        Self {
            enabled: false,
            slo: 0.5,
            quantile: DEFAULT_QUANTILE,
            window: DEFAULT_WINDOW,
            interval: DEFAULT_INTERVAL,
            initial_rate: 100.0,
            min_rate: DEFAULT_MIN_RATE,
            max_rate: MAX_RATE,
            decrease: DEFAULT_DECREASE,
            increase: None,
            low_water: DEFAULT_LOW_WATER,
            smoothing: DEFAULT_SMOOTHING,
            hysteresis: DEFAULT_HYSTERESIS,
            burst: None,
        }
    }
}

impl AdaptiveRateSpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }

    /// The additive step in requests per second (`increase`, or 1 % of `initial_rate`); 0 for
    /// values the registry would refuse.
    pub fn increase_step(&self) -> f64 {
        let step = self.increase.unwrap_or(self.initial_rate * DEFAULT_INCREASE_FRACTION);
        if step >= 0.0 { step.min(MAX_RATE) } else { 0.0 }
    }

    /// The control interval on the engine's clock, at least 1 ns.
    pub fn interval_nanos(&self) -> Nanos {
        secs_to_nanos(self.interval).max(1)
    }

    /// Checks the rules across fields (each field's bounds are the registry's): the message says
    /// what to change.
    pub fn validate(&self) -> Result<(), String> {
        let (min, initial, max) = (self.min_rate, self.initial_rate, self.max_rate);
        // Written so that NaN fails too.
        let ordered = min <= max;
        if !ordered {
            return Err(format!("min_rate ({min}) must be at most max_rate ({max}): lower min_rate or raise max_rate"));
        }
        let inside = min <= initial && initial <= max;
        if !inside {
            return Err(format!(
                "initial_rate ({initial}) must lie between min_rate ({min}, default {DEFAULT_MIN_RATE}) and \
                 max_rate ({max}): change initial_rate, or set min_rate / max_rate around it"
            ));
        }
        Ok(())
    }

    /// `[min_rate, max_rate]` made usable whatever the spec holds (NaN, reversed, out of range).
    fn bounds(&self) -> (f64, f64) {
        let lo = if (MIN_RATE..=MAX_RATE).contains(&self.min_rate) { self.min_rate } else { MIN_RATE };
        let hi = if self.max_rate <= MAX_RATE { self.max_rate } else { MAX_RATE };
        // `max` returns `lo` for a NaN `hi`.
        (lo, hi.max(lo))
    }

    /// `rate` within the bounds; NaN becomes the lower bound. Never panics (no `f64::clamp`).
    fn clamp(&self, rate: f64) -> f64 {
        let (lo, hi) = self.bounds();
        rate.max(lo).min(hi)
    }
}

/// What one evaluation decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Above the SLO: `rate × decrease`.
    Decrease,
    /// Below the low-water mark long enough, and the limit in use: `rate + increase`.
    Increase,
    /// `initial_rate` was edited: the limit restarts from it, without cooldown or dwell
    /// (reported even when the limit already stood there).
    Reset,
    /// The limit stays, for this reason.
    Hold(Hold),
}

/// Why an evaluation left the limit as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    /// No response in the window: no evidence either way.
    NoSamples,
    /// Between `slo × low_water` and the SLO (either end included).
    InBand,
    /// Above the SLO, but within `hysteresis` of the last cut, whose effect cannot show yet.
    Cooldown,
    /// Below the low-water mark for less than `hysteresis`.
    Dwell,
    /// Below the low-water mark, but fewer than half the limit's requests were admitted.
    Unused,
    /// The move would cross `min_rate` or `max_rate`, and the limit is there already.
    AtBound,
}

/// A change of the limit, for the engine's log.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Change {
    pub decision: Decision,
    pub old_rate: f64,
    pub new_rate: f64,
    /// The quantile over the window, seconds (None: no responses in it).
    pub measured: Option<f64>,
    /// The smoothed quantile the rule compared, seconds.
    pub smoothed: Option<f64>,
}

/// Counters since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct AdaptiveRateStats {
    pub evaluations: u64,
    pub decreases: u64,
    pub increases: u64,
    /// Evaluations that left the limit as it was, including `unmeasured`.
    pub holds: u64,
    /// Holds for want of responses in the window.
    pub unmeasured: u64,
    /// Restarts from an edited `initial_rate`.
    pub resets: u64,
    pub admitted: u64,
    pub refused: u64,
    pub min_rate_seen: f64,
    pub max_rate_seen: f64,
}

/// The controller and its bucket. Clock-free: the engine passes `now` to every call.
#[derive(Clone, Debug)]
pub struct AdaptiveRate {
    /// The limit in force, requests per second.
    rate: f64,
    /// The bucket's spec: a global refusing limit at `rate`, with the spec's `burst`.
    bucket: RateLimitSpec,
    limiter: RateLimiter,
    /// (left at, latency) of the newest responses, oldest first.
    samples: VecDeque<(Nanos, Nanos)>,
    /// Latencies of the window, sorted for the quantile; reused.
    scratch: Vec<Nanos>,
    smoothed: Option<f64>,
    last_control: Nanos,
    last_cut: Option<Nanos>,
    /// The first evaluation of the current run of evaluations below the low-water mark.
    below_since: Option<Nanos>,
    admitted_since: u64,
    /// `initial_rate`'s bits when last applied: an edit is a reset.
    initial_bits: u64,
    last: Option<Decision>,
    pub stats: AdaptiveRateStats,
}

impl AdaptiveRate {
    /// Starts at `initial_rate` (clamped) with a full bucket; the first evaluation is due one
    /// interval after `now`.
    pub fn new(spec: &AdaptiveRateSpec, now: Nanos) -> Self {
        let rate = spec.clamp(spec.initial_rate);
        let bucket = RateLimitSpec { enabled: true, rate, burst: spec.burst, ..RateLimitSpec::default() };
        let mut this = Self {
            rate,
            bucket,
            limiter: RateLimiter::new(),
            samples: VecDeque::with_capacity(MAX_SAMPLES),
            scratch: Vec::with_capacity(MAX_SAMPLES),
            smoothed: None,
            last_control: now,
            last_cut: None,
            below_since: None,
            admitted_since: 0,
            initial_bits: spec.initial_rate.to_bits(),
            last: None,
            stats: AdaptiveRateStats::default(),
        };
        this.stats.min_rate_seen = rate;
        this.stats.max_rate_seen = rate;
        this
    }

    /// A request at `now`: true admits it and takes a token, false refuses it (429
    /// `rate_limited`). A disabled spec admits everything and counts nothing.
    pub fn admit(&mut self, spec: &AdaptiveRateSpec, now: Nanos) -> bool {
        if !spec.enabled {
            return true;
        }
        self.retune(spec, now);
        let admitted = self.limiter.admit(&self.bucket, 0, now).admitted();
        if admitted {
            self.stats.admitted = self.stats.admitted.saturating_add(1);
            self.admitted_since = self.admitted_since.saturating_add(1);
        } else {
            self.stats.refused = self.stats.refused.saturating_add(1);
        }
        admitted
    }

    /// A response left the station at `now`, `latency` after its request arrived. Call for
    /// every response, enabled or not (so a limit switched on live has a window at once).
    pub fn record_latency(&mut self, spec: &AdaptiveRateSpec, now: Nanos, latency: Nanos) {
        self.forget_before(spec, now);
        if self.samples.len() >= MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((now, latency));
    }

    /// When the next evaluation is due: one interval after the last (an edited interval counts
    /// from the last evaluation).
    pub fn next_due(&self, spec: &AdaptiveRateSpec) -> Nanos {
        self.last_control.saturating_add(spec.interval_nanos())
    }

    /// One evaluation at `now` (the engine's timer, at [`next_due`](Self::next_due)): measure,
    /// smooth, decide, clamp and retune the bucket at `now`. Returns the change, if the limit
    /// moved; [`last_decision`](Self::last_decision) says why it did not.
    pub fn control(&mut self, spec: &AdaptiveRateSpec, now: Nanos) -> Option<Change> {
        let elapsed = now.saturating_sub(self.last_control);
        self.last_control = now;
        let admitted = std::mem::take(&mut self.admitted_since);
        if !spec.enabled {
            self.last = None;
            return None;
        }
        self.retune(spec, now);
        self.stats.evaluations = self.stats.evaluations.saturating_add(1);
        let measured = self.quantile(spec, now).map(nanos_to_secs);
        if let Some(m) = measured {
            let alpha = if spec.smoothing > 0.0 && spec.smoothing <= 1.0 { spec.smoothing } else { 1.0 };
            self.smoothed = Some(self.smoothed.map_or(m, |s| alpha * m + (1.0 - alpha) * s));
        }
        let (decision, target) = if spec.initial_rate.to_bits() != self.initial_bits {
            self.initial_bits = spec.initial_rate.to_bits();
            self.last_cut = None;
            self.below_since = None;
            self.stats.resets += 1;
            (Decision::Reset, spec.initial_rate)
        } else {
            self.rule(spec, now, measured.is_some(), admitted, elapsed)
        };
        let target = spec.clamp(target);
        let old = self.rate;
        let decision = match decision {
            Decision::Decrease | Decision::Increase if target.to_bits() == old.to_bits() => {
                Decision::Hold(Hold::AtBound)
            }
            moved => moved,
        };
        self.last = Some(decision);
        match decision {
            Decision::Hold(reason) => {
                self.stats.holds += 1;
                self.stats.unmeasured += u64::from(reason == Hold::NoSamples);
                return None;
            }
            Decision::Decrease => {
                self.stats.decreases += 1;
                self.last_cut = Some(now);
            }
            Decision::Increase => self.stats.increases += 1,
            Decision::Reset => {}
        }
        self.set_rate(target, now);
        Some(Change { decision, old_rate: old, new_rate: target, measured, smoothed: self.smoothed })
    }

    /// Seed 001's rule with the hysteresis of the module docs: the decision and the rate it asks
    /// for (the current one for a hold).
    fn rule(
        &mut self,
        spec: &AdaptiveRateSpec,
        now: Nanos,
        measured: bool,
        admitted: u64,
        elapsed: Nanos,
    ) -> (Decision, f64) {
        let rate = self.rate;
        let hold = move |reason| (Decision::Hold(reason), rate);
        let Some(latency) = self.smoothed.filter(|_| measured) else {
            // No evidence is not evidence of low latency: the dwell starts over.
            self.below_since = None;
            return hold(Hold::NoSamples);
        };
        let hysteresis = secs_to_nanos(spec.hysteresis);
        if latency > spec.slo {
            self.below_since = None;
            if self.last_cut.is_some_and(|cut| now.saturating_sub(cut) < hysteresis) {
                return hold(Hold::Cooldown);
            }
            let factor = if (0.0..=1.0).contains(&spec.decrease) { spec.decrease } else { DEFAULT_DECREASE };
            return (Decision::Decrease, rate * factor);
        }
        // A NaN SLO or low-water mark holds.
        let below = latency < spec.slo * spec.low_water;
        if !below {
            self.below_since = None;
            return hold(Hold::InBand);
        }
        let since = *self.below_since.get_or_insert(now);
        if now.saturating_sub(since) < hysteresis {
            return hold(Hold::Dwell);
        }
        // Netflix `AIMDLimit`'s `inflight * 2 >= limit`, as a count over the interval.
        if (admitted as f64) * 2.0 < rate * nanos_to_secs(elapsed) {
            return hold(Hold::Unused);
        }
        (Decision::Increase, rate + spec.increase_step())
    }

    /// The nearest-rank `quantile` of the latencies in the window ending at `now` (those that
    /// left less than `window` before), or None if there are none.
    fn quantile(&mut self, spec: &AdaptiveRateSpec, now: Nanos) -> Option<Nanos> {
        self.forget_before(spec, now);
        let window = secs_to_nanos(spec.window).max(1);
        self.scratch.clear();
        let live = self.samples.iter().filter(|(at, _)| now.saturating_sub(*at) < window);
        self.scratch.extend(live.map(|&(_, latency)| latency));
        self.scratch.sort_unstable();
        let n = self.scratch.len() as u64;
        // The quantile in parts per million, so that the rank ⌈q·n⌉ is integer arithmetic (a
        // float 0.99 × 100 need not be 99 exactly). NaN counts as the maximum.
        let q = if spec.quantile >= 0.0 { (spec.quantile.min(1.0) * 1e6).round() as u64 } else { 1_000_000 };
        let q = if spec.quantile.is_nan() { 1_000_000 } else { q };
        let rank = (q * n).div_ceil(1_000_000).clamp(1, n.max(1));
        self.scratch.get(rank as usize - 1).copied()
    }

    /// Drops samples older than the window (a shortened window forgets them for good).
    fn forget_before(&mut self, spec: &AdaptiveRateSpec, now: Nanos) {
        let window = secs_to_nanos(spec.window).max(1);
        while self.samples.front().is_some_and(|(at, _)| now.saturating_sub(*at) >= window) {
            self.samples.pop_front();
        }
    }

    /// Applies live edits at `now`: a `min_rate` / `max_rate` that excludes the limit clamps it,
    /// and a new `burst` resizes the bucket, both at this instant. Called by every `admit` and
    /// `control`; the engine calls it too when it applies an edit, so the switch happens at that
    /// exact instant. (An edited `initial_rate` waits for the next evaluation.)
    pub fn retune(&mut self, spec: &AdaptiveRateSpec, now: Nanos) {
        let clamped = spec.clamp(self.rate);
        if clamped.to_bits() != self.rate.to_bits()
            || spec.burst.map(f64::to_bits) != self.bucket.burst.map(f64::to_bits)
        {
            self.bucket.burst = spec.burst;
            self.set_rate(clamped, now);
        }
    }

    fn set_rate(&mut self, rate: f64, now: Nanos) {
        self.rate = rate;
        self.bucket.rate = rate;
        self.limiter.retune(&self.bucket, now);
        self.stats.min_rate_seen = self.stats.min_rate_seen.min(rate);
        self.stats.max_rate_seen = self.stats.max_rate_seen.max(rate);
    }

    /// Back to the start (a station that crashed and restarted): `initial_rate`, a full bucket,
    /// no samples, no average, no cooldown; the counters stay.
    pub fn reset(&mut self, spec: &AdaptiveRateSpec, now: Nanos) {
        // The sample buffers keep their allocations.
        self.samples.clear();
        self.smoothed = None;
        self.last_control = now;
        self.last_cut = None;
        self.below_since = None;
        self.admitted_since = 0;
        self.initial_bits = spec.initial_rate.to_bits();
        self.last = None;
        self.limiter.restart();
        self.bucket.burst = spec.burst;
        self.set_rate(spec.clamp(spec.initial_rate), now);
    }

    /// The limit in force, requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The smoothed quantile in seconds, once something was measured.
    pub fn measured(&self) -> Option<f64> {
        self.smoothed
    }

    /// What the last evaluation decided (None before any, or while disabled).
    pub fn last_decision(&self) -> Option<Decision> {
        self.last
    }

    /// Tokens in the bucket at `now`, for plots.
    pub fn tokens(&self, now: Nanos) -> f64 {
        self.limiter.tokens(&self.bucket, now)
    }
}

impl Params for AdaptiveRateSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field(
            "enabled",
            Field::Flag(&mut self.enabled),
            "rate limit adjusted from a latency quantile against an SLO",
        );
        v.field(
            "slo",
            Field::PositiveSeconds(&mut self.slo),
            "latency objective: cut the limit while the quantile is above",
        );
        v.field(
            "quantile",
            Field::Real(&mut self.quantile, 0.0, 1.0),
            "latency quantile compared with the SLO (0.99 = p99)",
        );
        v.field("window", Field::PositiveSeconds(&mut self.window), "seconds of responses the quantile is taken over");
        v.field(
            "interval",
            Field::Real(&mut self.interval, MIN_INTERVAL, MAX_SECONDS),
            "seconds between evaluations of the limit (at least 1 ms)",
        );
        v.field(
            "initial_rate",
            Field::Real(&mut self.initial_rate, MIN_RATE, MAX_RATE),
            "starting limit, req/s; an edit restarts the limit from it at the next evaluation",
        );
        v.field("min_rate", Field::Real(&mut self.min_rate, MIN_RATE, MAX_RATE), "lowest limit, req/s");
        v.field("max_rate", Field::Real(&mut self.max_rate, MIN_RATE, MAX_RATE), "highest limit, req/s");
        v.field("decrease", Field::Real(&mut self.decrease, 0.0, 1.0), "factor applied to the limit above the SLO");
        // No optional-real field kind: listed as the step in force, as a rate limit's burst is.
        let shown = self.increase.unwrap_or(self.initial_rate * DEFAULT_INCREASE_FRACTION);
        let mut increase = shown;
        v.field(
            "increase",
            Field::Real(&mut increase, 0.0, MAX_RATE),
            "req/s added below the low-water mark (default 1 % of initial_rate)",
        );
        if increase.to_bits() != shown.to_bits() {
            self.increase = Some(increase);
        }
        v.field("low_water", Field::Real(&mut self.low_water, 0.0, 1.0), "increase below slo × this");
        v.field(
            "smoothing",
            Field::Real(&mut self.smoothing, MIN_SMOOTHING, 1.0),
            "weight of the newest measurement in the average (1 = none)",
        );
        v.field(
            "hysteresis",
            Field::Seconds(&mut self.hysteresis),
            "no cut within this of the last; increase only after this long below the low-water mark",
        );
        let shown = self.burst.unwrap_or_else(|| self.initial_rate.clamp(1.0, MAX_BURST));
        let mut burst = shown;
        v.field(
            "burst",
            Field::Real(&mut burst, 1.0, MAX_BURST),
            "bucket size: requests let through at once after idling (default one second of the limit)",
        );
        if burst.to_bits() != shown.to_bits() {
            self.burst = Some(burst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Kind, Lister, Value, out_of_bounds};

    const MS: Nanos = 1_000_000;
    const SEC: Nanos = 1_000_000_000;

    /// The seed's raw rule: no smoothing, no hysteresis, a 1 s window evaluated every second.
    fn raw(initial: f64) -> AdaptiveRateSpec {
        AdaptiveRateSpec {
            enabled: true,
            slo: 0.5,
            initial_rate: initial,
            max_rate: 1000.0,
            window: 1.0,
            increase: Some(5.0),
            smoothing: 1.0,
            hysteresis: 0.0,
            ..AdaptiveRateSpec::default()
        }
    }

    /// One interval ending at `end`: twice the limit offered (so it is in use), ten responses of
    /// `latency` inside the interval, then the evaluation.
    fn interval(ar: &mut AdaptiveRate, spec: &AdaptiveRateSpec, end: Nanos, latency: Nanos) -> Option<Change> {
        let length = spec.interval_nanos();
        let start = end - length;
        let offered = (ar.rate() * 2.0) as u64 + 2;
        for j in 0..offered {
            ar.admit(spec, start + j * length / offered);
        }
        for j in 1..=10 {
            ar.record_latency(spec, start + j * length / 10, latency);
        }
        ar.control(spec, end)
    }

    #[test]
    fn the_seed_rule_cuts_above_the_slo_raises_below_half_and_holds_between() {
        let spec = raw(100.0);
        let mut ar = AdaptiveRate::new(&spec, 0);
        assert_eq!(ar.next_due(&spec), SEC);
        let change = interval(&mut ar, &spec, SEC, 600 * MS);
        let cut = Change {
            decision: Decision::Decrease,
            old_rate: 100.0,
            new_rate: 90.0,
            measured: Some(0.6),
            smoothed: Some(0.6),
        };
        assert_eq!(change, Some(cut));
        assert_eq!(ar.next_due(&spec), 2 * SEC);
        // Between SLO × 0.5 and the SLO, both ends included: hold.
        for (k, latency) in [(2, 300 * MS), (3, 500 * MS), (4, 250 * MS)] {
            assert_eq!(interval(&mut ar, &spec, k * SEC, latency), None);
            assert_eq!(ar.last_decision(), Some(Decision::Hold(Hold::InBand)));
        }
        let change = interval(&mut ar, &spec, 5 * SEC, 250 * MS - 1).unwrap();
        assert_eq!((change.decision, change.new_rate), (Decision::Increase, 95.0));
        assert_eq!(ar.rate(), 95.0);

        // Clamped at min_rate, then held there.
        let floor = AdaptiveRateSpec { min_rate: 60.0, ..spec.clone() };
        for k in 6..12 {
            interval(&mut ar, &floor, k * SEC, SEC);
        }
        assert_eq!(ar.rate(), 60.0);
        assert_eq!(ar.last_decision(), Some(Decision::Hold(Hold::AtBound)));
        // Clamped at max_rate.
        let ceiling = AdaptiveRateSpec { max_rate: 72.0, ..spec };
        for k in 12..16 {
            interval(&mut ar, &ceiling, k * SEC, MS);
        }
        assert_eq!(ar.rate(), 72.0);
        assert_eq!(ar.last_decision(), Some(Decision::Hold(Hold::AtBound)));
        let stats = ar.stats;
        assert_eq!((stats.evaluations, stats.decreases, stats.increases), (15, 6, 4));
        assert_eq!((stats.holds, stats.min_rate_seen, stats.max_rate_seen), (5, 60.0, 100.0));
    }

    #[test]
    fn the_quantile_is_the_nearest_rank_over_the_window_only() {
        let mut spec = raw(100.0);
        let mut ar = AdaptiveRate::new(&spec, 0);
        // A slow response at 0, then 1..=100 ms between 0.5 and 0.6 s.
        ar.record_latency(&spec, 0, 10 * SEC);
        for ms in 1..=100 {
            ar.record_latency(&spec, 500 * MS + ms * MS, ms * MS);
        }
        for (q, expect) in [(0.99, 100 * MS), (0.5, 51 * MS), (0.0, MS), (1.0, 10 * SEC), (0.9901, 10 * SEC)] {
            spec.quantile = q;
            assert_eq!(ar.quantile(&spec, SEC - 1), Some(expect), "q = {q} with the slow one");
        }
        // At 1 s the slow one is exactly a window old: gone.
        for (q, expect) in [(0.99, 99 * MS), (0.5, 50 * MS), (1.0, 100 * MS)] {
            spec.quantile = q;
            assert_eq!(ar.quantile(&spec, SEC), Some(expect), "q = {q} without it");
        }
        assert_eq!(ar.quantile(&spec, 2 * SEC), None);
        // No responses: hold, and say why.
        assert_eq!(ar.control(&spec, 2 * SEC), None);
        assert_eq!(ar.last_decision(), Some(Decision::Hold(Hold::NoSamples)));
        assert_eq!(ar.stats.unmeasured, 1);

        // Only the newest MAX_SAMPLES are kept.
        let wide = AdaptiveRateSpec { window: 100.0, quantile: 0.0, ..spec };
        for k in 0..5000 {
            ar.record_latency(&wide, 10 * SEC + k * MS, k);
        }
        assert_eq!(ar.samples.len(), MAX_SAMPLES);
        assert_eq!(ar.quantile(&wide, 20 * SEC), Some(5000 - MAX_SAMPLES as Nanos));
    }

    #[test]
    fn smoothing_is_an_exponential_average_the_rule_decides_on() {
        let spec = AdaptiveRateSpec { smoothing: 0.25, ..raw(100.0) };
        let mut ar = AdaptiveRate::new(&spec, 0);
        assert_eq!(ar.measured(), None);
        interval(&mut ar, &spec, SEC, SEC);
        assert_eq!(ar.measured(), Some(1.0));
        // 0.25 × 0.2 + 0.75 × 1.0 = 0.8: still above the SLO, so a cut the raw rule would not make.
        let change = interval(&mut ar, &spec, 2 * SEC, 200 * MS).unwrap();
        assert_eq!(change.measured, Some(0.2));
        assert!((change.smoothed.unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(change.decision, Decision::Decrease);
        interval(&mut ar, &spec, 3 * SEC, 200 * MS);
        assert!((ar.measured().unwrap() - 0.65).abs() < 1e-12);
        // An evaluation without responses leaves the average as it was.
        ar.control(&spec, 10 * SEC);
        assert!((ar.measured().unwrap() - 0.65).abs() < 1e-12);
    }

    #[test]
    fn hysteresis_cuts_once_per_delay_and_dwells_before_raising() {
        let cuts = |hysteresis: f64| {
            let spec = AdaptiveRateSpec { hysteresis, ..raw(100.0) };
            let mut ar = AdaptiveRate::new(&spec, 0);
            let at: Vec<Nanos> = (1..=10).filter(|&k| interval(&mut ar, &spec, k * SEC, SEC).is_some()).collect();
            (at, ar)
        };
        assert_eq!(cuts(0.0).0, (1..=10).collect::<Vec<_>>());
        let (at, mut ar) = cuts(3.0);
        assert_eq!(at, [1, 4, 7, 10]);
        assert_eq!(ar.stats.holds, 6);
        // Below the low-water mark from 11 s: raised at 14 s, 3 s later, then every interval.
        let spec = AdaptiveRateSpec { hysteresis: 3.0, ..raw(100.0) };
        let ups: Vec<Nanos> = (11..=16).filter(|&k| interval(&mut ar, &spec, k * SEC, MS).is_some()).collect();
        assert_eq!(ups, [14, 15, 16]);
        // One evaluation in the band restarts the dwell.
        interval(&mut ar, &spec, 17 * SEC, 300 * MS);
        let ups: Vec<Nanos> = (18..=22).filter(|&k| interval(&mut ar, &spec, k * SEC, MS).is_some()).collect();
        assert_eq!(ups, [21, 22]);
    }

    #[test]
    fn an_unused_limit_does_not_grow() {
        let spec = raw(100.0);
        let mut ar = AdaptiveRate::new(&spec, 0);
        // Fast responses, but only 40 requests in the second against a limit of 100.
        for j in 0..40 {
            assert!(ar.admit(&spec, j * 10 * MS));
            ar.record_latency(&spec, j * 10 * MS, MS);
        }
        assert_eq!(ar.control(&spec, SEC), None);
        assert_eq!(ar.last_decision(), Some(Decision::Hold(Hold::Unused)));
        // Half the limit is enough.
        for j in 0..50 {
            ar.admit(&spec, SEC + j * 10 * MS);
            ar.record_latency(&spec, SEC + j * 10 * MS, MS);
        }
        assert_eq!(ar.control(&spec, 2 * SEC).map(|c| c.new_rate), Some(105.0));
    }

    #[test]
    fn the_bucket_admits_exactly_the_new_rate_after_a_change() {
        // 10/s, burst 5, one arrival every 50 ms: ⌊5 + 10 × 0.95⌋ = 14 by 0.95 s, leaving one token
        // at 1 s; cut to 9/s at 1 s, then ⌊1 + 9 × 100⌋ = 901 in [1 s, 101 s], exactly.
        let spec = AdaptiveRateSpec { burst: Some(5.0), ..raw(10.0) };
        let mut ar = AdaptiveRate::new(&spec, 0);
        let admitted = (0..20).filter(|k| ar.admit(&spec, k * 50 * MS)).count();
        assert_eq!(admitted, 14);
        ar.record_latency(&spec, 900 * MS, SEC);
        assert_eq!(ar.control(&spec, SEC).map(|c| c.new_rate), Some(9.0));
        assert_eq!(ar.tokens(SEC), 1.0);
        let admitted = (20..=2020).filter(|k| ar.admit(&spec, k * 50 * MS)).count();
        assert_eq!(admitted, 901);
        assert_eq!((ar.stats.admitted, ar.stats.refused), (915, 2021 - 915));
    }

    #[test]
    fn live_edits_clamp_at_once_and_a_new_initial_rate_waits_for_the_evaluation() {
        let mut spec = raw(100.0);
        let mut ar = AdaptiveRate::new(&spec, 0);
        spec.min_rate = 150.0;
        spec.max_rate = 200.0;
        assert!(ar.admit(&spec, 0));
        assert_eq!(ar.rate(), 150.0);
        spec.max_rate = 120.0;
        ar.retune(&spec, 0);
        // Reversed bounds: the lower one wins, nothing panics.
        assert_eq!(ar.rate(), 150.0);
        spec = raw(100.0);
        spec.max_rate = 80.0;
        ar.retune(&spec, 0);
        assert_eq!(ar.rate(), 80.0);
        spec.initial_rate = 40.0;
        assert_eq!(ar.rate(), 80.0);
        let change = ar.control(&spec, SEC).unwrap();
        assert_eq!((change.decision, change.old_rate, change.new_rate), (Decision::Reset, 80.0, 40.0));
        assert_eq!(ar.stats.resets, 1);
        // An edited interval counts from the last evaluation.
        spec.interval = 0.25;
        assert_eq!(ar.next_due(&spec), SEC + 250 * MS);
        // Disabled: everything passes, nothing is counted or decided.
        let off = AdaptiveRateSpec { enabled: false, ..spec.clone() };
        let before = ar.stats;
        assert!((0..1000).all(|_| ar.admit(&off, SEC)));
        assert_eq!(ar.control(&off, 2 * SEC), None);
        assert_eq!(ar.stats, before);
        // A restart goes back to initial_rate with a full bucket and no evidence.
        interval(&mut ar, &spec, 3 * SEC, SEC);
        ar.reset(&spec, 3 * SEC);
        assert_eq!((ar.rate(), ar.measured(), ar.tokens(3 * SEC)), (40.0, None, 40.0));
        assert_eq!(ar.next_due(&spec), 3 * SEC + 250 * MS);
        assert!(ar.stats.evaluations > 0);
    }

    #[test]
    fn odd_specs_and_extreme_instants_do_not_panic() {
        let nan = f64::NAN;
        let odd = AdaptiveRateSpec {
            enabled: true,
            slo: nan,
            quantile: nan,
            window: nan,
            interval: nan,
            initial_rate: nan,
            min_rate: nan,
            max_rate: nan,
            decrease: nan,
            increase: Some(nan),
            low_water: nan,
            smoothing: nan,
            hysteresis: nan,
            burst: Some(nan),
        };
        let inf = AdaptiveRateSpec {
            slo: -1.0,
            quantile: 7.0,
            window: f64::INFINITY,
            initial_rate: f64::INFINITY,
            min_rate: 5.0,
            max_rate: 1.0,
            decrease: -3.0,
            increase: Some(f64::INFINITY),
            ..odd.clone()
        };
        for spec in [odd, inf, raw(0.0)] {
            let mut ar = AdaptiveRate::new(&spec, 0);
            for now in [0, 1, u64::MAX, 5] {
                ar.admit(&spec, now);
                ar.record_latency(&spec, now, u64::MAX);
                ar.control(&spec, now);
                let _ = (ar.next_due(&spec), ar.tokens(now), spec.validate());
            }
            assert!(ar.rate() >= MIN_RATE && ar.rate() <= MAX_RATE, "{}", ar.rate());
        }
    }

    /// The rate's peak-to-trough over the second half of a run against a toy plant: capacity
    /// 100/s, latency 0.1 s / (1 − ρ) of the limit `delay` intervals ago, 200 requests offered
    /// a second.
    fn closed_loop_amplitude(spec: &AdaptiveRateSpec, delay: usize) -> f64 {
        let mut ar = AdaptiveRate::new(spec, 0);
        let mut past = VecDeque::from(vec![spec.initial_rate; delay]);
        let mut rates = Vec::new();
        for k in 0..200 {
            past.push_back(ar.rate());
            let rho = (past.pop_front().unwrap_or_default() / 100.0).min(0.98);
            let latency = secs_to_nanos(0.1 / (1.0 - rho));
            for j in 0..200 {
                let t = k * SEC + j * 5 * MS;
                if ar.admit(spec, t) {
                    ar.record_latency(spec, t, latency);
                }
            }
            ar.control(spec, (k + 1) * SEC);
            rates.push(ar.rate());
        }
        let tail = &rates[100..];
        tail.iter().copied().fold(f64::MIN, f64::max) - tail.iter().copied().fold(f64::MAX, f64::min)
    }

    #[test]
    fn a_delayed_loop_oscillates_under_the_raw_rule_and_settles_when_damped() {
        // SLO 0.5 s: the plant is above it past ρ = 0.8 and below the low-water mark under 0.6.
        // The latency reports the limit of five intervals before.
        let base = AdaptiveRateSpec { initial_rate: 50.0, min_rate: 5.0, max_rate: 400.0, ..raw(50.0) };
        let delay = 5;
        let damp = |spec: &AdaptiveRateSpec| AdaptiveRateSpec { smoothing: 0.5, hysteresis: 5.0, ..spec.clone() };
        // The seed's rule with big steps flaps between overload and half the capacity; smaller
        // steps, smoothing and hysteresis settle.
        let big = AdaptiveRateSpec { decrease: 0.5, increase: Some(10.0), ..base.clone() };
        let small = AdaptiveRateSpec { decrease: 0.9, increase: Some(2.0), ..base.clone() };
        let swing = closed_loop_amplitude(&big, delay);
        let settled = closed_loop_amplitude(&damp(&small), delay);
        assert!(swing > 50.0, "the raw rule should flap: {swing}");
        assert!(settled * 10.0 < swing && settled < 2.0, "damped {settled} vs raw {swing}");
        // With the same steps, the damping alone is what settles it: the raw rule cuts again
        // and again while the delayed latency still reports the overload.
        let moderate = AdaptiveRateSpec { decrease: 0.9, increase: Some(5.0), ..base };
        let swing = closed_loop_amplitude(&moderate, delay);
        let settled = closed_loop_amplitude(&damp(&moderate), delay);
        assert!(swing > 20.0, "the raw rule should flap: {swing}");
        assert!(settled * 10.0 < swing && settled < 2.0, "damped {settled} vs raw {swing}");
        // Smoothing without hysteresis only adds lag to the loop: the swing grows.
        let smoothed_only = AdaptiveRateSpec { smoothing: 0.5, ..moderate };
        let lagging = closed_loop_amplitude(&smoothed_only, delay);
        assert!(lagging > swing, "smoothing alone {lagging} vs raw {swing}");
    }

    #[test]
    fn registry_bounds_validation_and_file_format() {
        let mut spec: AdaptiveRateSpec = ron::from_str("AdaptiveRate(slo: 0.2, initial_rate: 50.0)").unwrap();
        assert_eq!(spec, AdaptiveRateSpec { enabled: true, slo: 0.2, initial_rate: 50.0, ..Default::default() });
        assert!(ron::from_str::<AdaptiveRateSpec>("AdaptiveRate(slo: 0.2)").is_err());
        assert!(ron::from_str::<AdaptiveRateSpec>("AdaptiveRate(slo: 0.2, initial_rate: 5.0, rate: 1.0)").is_err());
        assert!(AdaptiveRateSpec::default().is_off() && !spec.is_off());
        assert_eq!(spec.increase_step(), 0.5);
        assert!(out_of_bounds(&mut spec).is_empty());
        assert!(out_of_bounds(&mut AdaptiveRateSpec::default()).is_empty());
        assert_eq!((spec.increase, spec.burst), (None, None), "listing leaves the defaults following the rate");

        let mut lister = Lister::new("api.adaptive_rate");
        spec.visit(&mut lister);
        let names: Vec<_> = lister.out.iter().map(|p| p.path.trim_start_matches("api.adaptive_rate.")).collect();
        assert_eq!(
            names,
            [
                "enabled",
                "slo",
                "quantile",
                "window",
                "interval",
                "initial_rate",
                "min_rate",
                "max_rate",
                "decrease",
                "increase",
                "low_water",
                "smoothing",
                "hysteresis",
                "burst"
            ]
        );
        assert_eq!(lister.out[9].value, Value::Real(0.5));
        assert_eq!(lister.out[12].kind, Kind::Seconds);
        assert_eq!(lister.out[13].value, Value::Real(50.0));

        let bad = AdaptiveRateSpec { smoothing: 0.0, quantile: 1.5, interval: 1e-4, decrease: 2.0, ..spec.clone() };
        assert_eq!(out_of_bounds(&mut bad.clone()).len(), 4);
        assert_eq!(spec.validate(), Ok(()));
        let low = AdaptiveRateSpec { initial_rate: 0.5, ..spec.clone() };
        let message = low.validate().unwrap_err();
        assert!(message.contains("initial_rate (0.5)") && message.contains("min_rate"), "{message}");
        let reversed = AdaptiveRateSpec { min_rate: 10.0, max_rate: 5.0, ..spec };
        assert!(reversed.validate().unwrap_err().contains("lower min_rate or raise max_rate"));
        let stats = AdaptiveRateStats { decreases: 3, ..AdaptiveRateStats::default() };
        assert!(ron::to_string(&stats).unwrap().contains("decreases:3"));
    }
}
