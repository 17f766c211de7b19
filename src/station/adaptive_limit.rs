//! Adaptive concurrency limits: a station learns how many requests it may hold at once from the
//! latency (and losses) of the ones it completes, instead of being told (resilience-semantics §4).
//!
//! A request is admitted iff the requests in flight are fewer than the current limit, and refused
//! at once otherwise (Netflix `SimpleLimiter`, Envoy `forwardingDecision`: 503). The caller owns
//! the in-flight count; this module owns the limit. Four ways of moving it:
//!
//! * **AIMD** (Netflix `limit/AIMDLimit.java`): a drop, or an RTT above `timeout`, cuts the limit
//!   to ⌊backoff·L⌋; a sample taken while at least half the limit was in use adds 1.
//! * **Vegas** (`limit/VegasLimit.java`, Netflix's default): the queue in front of the service is
//!   estimated as `q = ⌈L·(1 − rtt_noload/rtt)⌉`, and the limit moves by steps of
//!   `lg(L) = max(1, ⌊log10 L⌋)` (`functions/Log10RootFunction.java`) to keep q between 3·lg and
//!   6·lg. `rtt_noload` is the lowest RTT seen, re-probed every `U[0.5, 1)·30·L` samples so that a
//!   service that got slower for good is not punished forever.
//! * **Gradient2** (`limit/Gradient2Limit.java`): compares each RTT with a long exponential average
//!   of them (`measurement/ExpAvgMeasurement.java`: α = 2/(long_window + 1), the first 10 samples
//!   a plain mean) and shrinks the limit by that gradient, allowing `queue_size` of queueing. It
//!   ignores drops.
//! * **Envoy** (`adaptive_concurrency/v3/adaptive_concurrency.proto`,
//!   `controller/gradient_controller.cc`): time-driven. It measures minRTT in windows during which
//!   the limit is pinned to `min_limit` (Envoy's `min_concurrency`), and every `update_interval`
//!   sets `L = ⌊L' + √L'⌋`, `L' = L·clamp(minRTT·(1 + buffer)/sampleRTT, 0.5, 2)`.
//!
//! What one observes: when latency rises the limit falls (by up to half per update) and the excess
//! is refused at once; growth is additive; nothing grows while the service is app-limited.
//!
//! **Clock-free and deterministic.** Every method that may move time-driven state takes `now`;
//! randomness (Vegas's probe jitter, Envoy's window jitter) comes in as a uniform draw `u ∈ [0, 1)`
//! with each sample, so the caller's seeded generator decides and replays. Envoy's timers are
//! lazy: the update boundaries and window starts that `now` has passed are applied, in time order,
//! at the next call (`try_acquire`, `on_sample` or `tick`), exactly as the timers would have
//! fired, since between two calls nothing else happens to the limiter. [`AdaptiveLimit::next_due`]
//! says when the next one is due, for an engine that wants the plot to move on time.
//!
//! **Where the sources are loose**, this module chooses: floats are kept as Netflix keeps them (a
//! `double` estimate, floored on read); Envoy's approximate histogram quantile is an exact
//! nearest-rank percentile over a bounded, evenly thinned sample ([`MAX_SAMPLES`]); Envoy ignores
//! a sample whose request was dropped (its `cancelLatencySample`); a zero RTT counts as 1 ns.

use serde::{Deserialize, Serialize};

use crate::choice_enum;
use crate::engine::time::{Nanos, nanos_to_secs, secs_to_nanos};
use crate::params::{Field, Params, Visitor};

/// Samples kept per Envoy update interval or minRTT window: 2048 RTTs (16 KiB). Past that the
/// buffer keeps every other sample and then takes every 2nd (4th, …) one, an even thinning over
/// the interval, so the percentile stays representative with bounded memory and no allocation
/// once the buffer has grown.
pub const MAX_SAMPLES: usize = 2048;

/// Vegas probes for a new `rtt_noload` every `U[0.5, 1)·30·L` samples (`probeMultiplier`).
const PROBE_MULTIPLIER: f64 = 30.0;
/// Gradient2's long RTT is a plain mean over this many first samples (`ExpAvgMeasurement` warmup).
const WARMUP: u32 = 10;
/// Envoy remeasures minRTT at once when the limit stayed at its minimum for this many updates.
const MIN_STREAK: u32 = 5;

/// Registry bounds, with the reasons: smoothing 0 would freeze the limit; Netflix requires an
/// AIMD backoff in [0.5, 1); Gradient2 requires a tolerance ≥ 1.
pub const MIN_SMOOTHING: f64 = 0.01;
pub const MAX_BACKOFF: f64 = 0.99;
pub const MAX_TOLERANCE: f64 = 10.0;

/// How the limit is moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitAlgorithm {
    /// Loss-based: −(1 − backoff)·L on a drop or timeout, +1 otherwise.
    Aimd,
    /// Delay-based, after TCP Vegas; Netflix `SimpleLimiter`'s default.
    #[default]
    Vegas,
    /// Short RTT against a long average; ignores drops.
    Gradient2,
    /// Envoy's gradient controller: minRTT windows and per-interval updates.
    Envoy,
}
choice_enum!(LimitAlgorithm {
    "aimd" => LimitAlgorithm::Aimd,
    "vegas" => LimitAlgorithm::Vegas,
    "gradient2" => LimitAlgorithm::Gradient2,
    "envoy" => LimitAlgorithm::Envoy,
});

impl LimitAlgorithm {
    /// (initial, min, max) of the reference builders; Envoy starts at its minimum, as its
    /// controller's constructor does.
    fn defaults(self) -> (u32, u32, u32) {
        match self {
            LimitAlgorithm::Aimd | LimitAlgorithm::Gradient2 => (20, 20, 200),
            LimitAlgorithm::Vegas => (20, 1, 1000),
            LimitAlgorithm::Envoy => (3, 3, 1000),
        }
    }

    fn name(self) -> &'static str {
        crate::params::Choice::current(&self)
    }
}

/// An adaptive concurrency limit at a station (resilience-semantics §4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "AdaptiveLimit")]
pub struct AdaptiveLimitSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How the limit moves (default `Vegas`, Netflix's default).
    #[serde(default)]
    pub algorithm: LimitAlgorithm,
    /// The starting limit. None: the algorithm's (20; Envoy: `min_limit`).
    #[serde(default)]
    pub initial: Option<u32>,
    /// The floor. None: the algorithm's (AIMD and Gradient2 20, Vegas 1, Envoy 3, its
    /// `min_concurrency`, which is also the limit held while minRTT is measured).
    #[serde(default)]
    pub min_limit: Option<u32>,
    /// The ceiling. None: the algorithm's (AIMD and Gradient2 200, Vegas and Envoy 1000).
    #[serde(default)]
    pub max_limit: Option<u32>,
    /// Vegas and Gradient2: the share of each new estimate taken, `L ← (1 − s)·L + s·new`. None:
    /// the algorithm's (Vegas 1.0, Gradient2 0.2). AIMD and Envoy have no smoothing and ignore it.
    #[serde(default)]
    pub smoothing: Option<f64>,
    /// AIMD: the factor on the limit after a drop (Netflix `backoffRatio`, default 0.9).
    #[serde(default = "default_backoff")]
    pub backoff: f64,
    /// AIMD: an RTT above this many seconds counts as a drop (default 5 s).
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// Gradient2: how far the RTT may exceed its long average before the limit shrinks
    /// (`rttTolerance`, default 1.5). Plain, not optional: no other algorithm has one.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Gradient2: samples in the long RTT average (`longWindow`, default 600).
    #[serde(default = "default_long_window")]
    pub long_window: u32,
    /// Gradient2: the queueing allowed on top of the gradient (`queueSize`, default 4).
    #[serde(default = "default_queue_size")]
    pub queue_size: u32,
    /// Envoy: seconds between limit updates (`concurrency_update_interval`, required there;
    /// default 1 s here, the interval of Netflix's `WindowedLimit`).
    #[serde(default = "default_update_interval")]
    pub update_interval: f64,
    /// Envoy: seconds between minRTT measurements (`min_rtt_calc_params.interval`, required
    /// there; default 30 s here, short enough to follow a service that changed for good).
    #[serde(default = "default_min_rtt_interval")]
    pub min_rtt_interval: f64,
    /// Envoy: samples that make a minRTT measurement (`request_count`, default 50).
    #[serde(default = "default_min_rtt_requests")]
    pub min_rtt_requests: u32,
    /// Envoy: a random share of `min_rtt_interval` added to each gap between windows, so that
    /// proxies do not measure in step (`jitter`, default 0.15).
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// Envoy: the headroom on minRTT before latency counts as queueing (`buffer`, default 0.25).
    #[serde(default = "default_buffer")]
    pub buffer: f64,
    /// Envoy: the percentile of an interval's RTTs taken as its sample RTT and of a window's as
    /// minRTT (`sample_aggregate_percentile`, default 0.5).
    #[serde(default = "default_percentile")]
    pub percentile: f64,
}

fn yes() -> bool {
    true
}
fn default_backoff() -> f64 {
    0.9
}
fn default_timeout() -> f64 {
    5.0
}
fn default_tolerance() -> f64 {
    1.5
}
fn default_long_window() -> u32 {
    600
}
fn default_queue_size() -> u32 {
    4
}
fn default_update_interval() -> f64 {
    1.0
}
fn default_min_rtt_interval() -> f64 {
    30.0
}
fn default_min_rtt_requests() -> u32 {
    50
}
fn default_jitter() -> f64 {
    0.15
}
fn default_buffer() -> f64 {
    0.25
}
fn default_percentile() -> f64 {
    0.5
}

impl Default for AdaptiveLimitSpec {
    /// Disabled (no `adaptive_limit:` in the file), with every parameter at its default.
    fn default() -> Self {
        Self {
            enabled: false,
            algorithm: LimitAlgorithm::Vegas,
            initial: None,
            min_limit: None,
            max_limit: None,
            smoothing: None,
            backoff: default_backoff(),
            timeout: default_timeout(),
            tolerance: default_tolerance(),
            long_window: default_long_window(),
            queue_size: default_queue_size(),
            update_interval: default_update_interval(),
            min_rtt_interval: default_min_rtt_interval(),
            min_rtt_requests: default_min_rtt_requests(),
            jitter: default_jitter(),
            buffer: default_buffer(),
            percentile: default_percentile(),
        }
    }
}

impl AdaptiveLimitSpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }

    /// The floor in force: `min_limit` or the algorithm's.
    pub fn min_limit(&self) -> u32 {
        self.min_limit.unwrap_or(self.algorithm.defaults().1)
    }

    /// The ceiling in force: `max_limit` or the algorithm's.
    pub fn max_limit(&self) -> u32 {
        self.max_limit.unwrap_or(self.algorithm.defaults().2)
    }

    /// The starting limit: `initial`, or the algorithm's (Envoy: the floor in force).
    pub fn initial_limit(&self) -> u32 {
        match (self.initial, self.algorithm) {
            (Some(n), _) => n,
            (None, LimitAlgorithm::Envoy) => self.min_limit(),
            (None, algorithm) => algorithm.defaults().0,
        }
    }

    /// The smoothing in force: `smoothing` or the algorithm's (1.0 where it has none).
    pub fn smoothing(&self) -> f64 {
        let default = if self.algorithm == LimitAlgorithm::Gradient2 { 0.2 } else { 1.0 };
        self.smoothing.unwrap_or(default)
    }

    /// Cross-field rules the registry's per-field bounds cannot see: `min_limit ≤ initial ≤
    /// max_limit`, counting the algorithm's defaults for the ones left out.
    pub fn validate(&self) -> Result<(), String> {
        let (lo, init, hi) = (self.min_limit(), self.initial_limit(), self.max_limit());
        let origin = |set: Option<u32>| {
            if set.is_some() { String::new() } else { format!(" ({}'s default)", self.algorithm.name()) }
        };
        if lo > hi {
            return Err(format!(
                "adaptive limit: `min_limit` {lo}{} is above `max_limit` {hi}{}; lower min_limit or raise max_limit",
                origin(self.min_limit),
                origin(self.max_limit)
            ));
        }
        if !(lo..=hi).contains(&init) {
            return Err(format!(
                "adaptive limit: `initial` {init}{} is outside [min_limit {lo}, max_limit {hi}]; set initial between them",
                origin(self.initial)
            ));
        }
        Ok(())
    }

    fn timeout_nanos(&self) -> Nanos {
        secs_to_nanos(self.timeout)
    }

    /// At least 1 ns, so that the boundaries always move on.
    fn update_interval_nanos(&self) -> Nanos {
        secs_to_nanos(self.update_interval).max(1)
    }

    fn min_rtt_interval_nanos(&self) -> Nanos {
        secs_to_nanos(self.min_rtt_interval).max(1)
    }
}

/// `max(lo, min(hi, x))`, as the references clamp: never panics (`f64::clamp` does when lo > hi;
/// here the ceiling wins) and maps NaN to `lo`.
fn bound(x: f64, lo: u32, hi: u32) -> f64 {
    x.max(f64::from(lo)).min(f64::from(hi))
}

/// A uniform draw from the caller, with anything outside [0, 1) (NaN included) read as 0.
fn unit(u: f64) -> f64 {
    if (0.0..1.0).contains(&u) { u } else { 0.0 }
}

/// Vegas's step: `max(1, ⌊log10 L⌋)`, in integers so that 1000 gives exactly 3.
fn lg(limit: u32) -> u32 {
    limit.checked_ilog10().unwrap_or(0).max(1)
}

/// Counters of an adaptive limit since the start of the run, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct AdaptiveLimitStats {
    /// Completions reported.
    pub samples: u64,
    /// Of those, the ones reported as dropped (timed out).
    pub drops: u64,
    /// Updates that raised or lowered the integer limit (Envoy's minRTT pin and restore are
    /// counted as windows, not here).
    pub increases: u64,
    pub decreases: u64,
    /// Lowest and highest limit in force during the run.
    pub min_limit: u32,
    pub max_limit: u32,
    /// Vegas: probes for a new no-load RTT.
    pub probes: u64,
    /// Envoy: minRTT windows opened.
    pub min_rtt_windows: u64,
    /// The latest base RTT in seconds (0 before any): Vegas `rtt_noload`, Gradient2's long RTT
    /// (which Netflix reports under the same `min_rtt` metric), Envoy's minRTT.
    pub min_rtt_s: f64,
    /// Requests refused by the limit.
    pub refused: u64,
}

/// RTTs of the current Envoy interval or window, thinned evenly past [`MAX_SAMPLES`].
#[derive(Clone, Debug)]
struct Samples {
    kept: Vec<Nanos>,
    /// Samples offered since the last clear, kept or not.
    seen: u64,
    /// One sample in `stride` is kept.
    stride: u64,
}

impl Samples {
    fn new() -> Self {
        Self { kept: Vec::new(), seen: 0, stride: 1 }
    }

    fn push(&mut self, rtt: Nanos) {
        let index = self.seen;
        self.seen += 1;
        if !index.is_multiple_of(self.stride) {
            return;
        }
        if self.kept.len() >= MAX_SAMPLES {
            let mut keep = false;
            self.kept.retain(|_| {
                keep = !keep;
                keep
            });
            self.stride = self.stride.saturating_mul(2);
            if !index.is_multiple_of(self.stride) {
                return;
            }
        }
        self.kept.push(rtt);
    }

    /// The nearest-rank `p` percentile: the ⌈p·n⌉-th smallest (at least the first).
    fn percentile(&mut self, p: f64) -> Option<Nanos> {
        let n = self.kept.len();
        if n == 0 {
            return None;
        }
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        Some(*self.kept.select_nth_unstable(rank - 1).1)
    }

    fn clear(&mut self) {
        self.kept.clear();
        self.seen = 0;
        self.stride = 1;
    }
}

/// Envoy's controller state besides the limit.
#[derive(Clone, Copy, Debug)]
struct EnvoyState {
    /// A minRTT window is open: the limit is pinned to the floor and no updates happen.
    window_open: bool,
    /// The limit to restore when the window closes.
    deferred: f64,
    /// When the current window opened: samples of requests sent before it are ignored.
    epoch: Nanos,
    /// The latest minRTT (ns).
    min_rtt: Nanos,
    /// The next update boundary and window start (meaningless while a window is open).
    next_update: Nanos,
    next_window: Nanos,
    /// Consecutive updates that found and left the limit at the floor.
    at_min: u32,
}

/// The state of one adaptive limit. Clock-free: see the module docs.
#[derive(Clone, Debug)]
pub struct AdaptiveLimit {
    /// The algorithm this state belongs to; a spec naming another resets it.
    algorithm: LimitAlgorithm,
    /// The limit as the references keep it: a float, floored on read.
    estimate: f64,
    /// Vegas: the no-load RTT (0 = none yet), samples since the last probe, and the jitter of
    /// the next probe (drawn from the first sample's `u`, as no draw comes with `new`).
    rtt_noload: Nanos,
    probe_count: u64,
    probe_jitter: Option<f64>,
    /// Gradient2's long RTT average: value, warmup sum and count.
    long_rtt: f64,
    long_sum: f64,
    long_count: u32,
    envoy: EnvoyState,
    samples: Samples,
    pub stats: AdaptiveLimitStats,
}

impl AdaptiveLimit {
    /// A limit at its initial value (Envoy: at its floor, with the first minRTT window open, as
    /// the controller's constructor leaves it; the window's samples are the first ones reported).
    pub fn new(spec: &AdaptiveLimitSpec) -> Self {
        let (lo, hi) = (spec.min_limit(), spec.max_limit());
        let initial = bound(f64::from(spec.initial_limit()), lo, hi);
        let envoy = spec.algorithm == LimitAlgorithm::Envoy;
        let mut state = Self {
            algorithm: spec.algorithm,
            estimate: if envoy { bound(f64::from(lo), lo, hi) } else { initial },
            rtt_noload: 0,
            probe_count: 0,
            probe_jitter: None,
            long_rtt: 0.0,
            long_sum: 0.0,
            long_count: 0,
            envoy: EnvoyState {
                window_open: envoy,
                deferred: initial,
                epoch: 0,
                min_rtt: 0,
                next_update: Nanos::MAX,
                next_window: Nanos::MAX,
                at_min: 0,
            },
            samples: Samples::new(),
            stats: AdaptiveLimitStats::default(),
        };
        state.stats.min_limit = state.limit();
        state.stats.max_limit = state.limit();
        if envoy {
            state.stats.min_rtt_windows = 1;
        }
        state
    }

    /// Starts the algorithm over from its initial state, keeping the counters and the sample
    /// buffer's memory: for a station that restarts, or a change of algorithm (which `tick` and
    /// the other entry points detect themselves). Envoy's first window then counts every sample.
    pub fn reset(&mut self, spec: &AdaptiveLimitSpec) {
        let mut fresh = Self::new(spec);
        std::mem::swap(&mut fresh.samples, &mut self.samples);
        fresh.samples.clear();
        fresh.stats = AdaptiveLimitStats {
            min_limit: self.stats.min_limit.min(fresh.limit()),
            max_limit: self.stats.max_limit.max(fresh.limit()),
            min_rtt_windows: self.stats.min_rtt_windows + fresh.stats.min_rtt_windows,
            ..self.stats
        };
        *self = fresh;
    }

    /// The limit in force: requests in flight may number up to this.
    pub fn limit(&self) -> u32 {
        // Saturating cast: floors, and the estimate is always finite and within u32.
        self.estimate as u32
    }

    /// Whether a request arriving at `now` with `inflight` requests already in flight is
    /// admitted (`inflight < limit`). Applies Envoy's updates due by `now` first. A disabled
    /// limit admits everything and counts nothing.
    pub fn try_acquire(&mut self, spec: &AdaptiveLimitSpec, now: Nanos, inflight: u32) -> bool {
        if !spec.enabled {
            return true;
        }
        self.tick(spec, now);
        let admitted = inflight < self.limit();
        if !admitted {
            self.stats.refused += 1;
        }
        admitted
    }

    /// A completion at `now` after `rtt`: `inflight` is the in-flight count when the request was
    /// admitted, itself included; `did_drop` that it timed out or was dropped; `u` a uniform draw
    /// in [0, 1) for the algorithm's jitter (used only when a probe or window needs one).
    pub fn on_sample(
        &mut self,
        spec: &AdaptiveLimitSpec,
        now: Nanos,
        rtt: Nanos,
        inflight: u32,
        did_drop: bool,
        u: f64,
    ) {
        if !spec.enabled {
            return;
        }
        self.tick(spec, now);
        let rtt = rtt.max(1);
        self.stats.samples += 1;
        self.stats.drops += u64::from(did_drop);
        match self.algorithm {
            LimitAlgorithm::Aimd => self.aimd(spec, rtt, inflight, did_drop),
            LimitAlgorithm::Vegas => self.vegas(spec, rtt, inflight, did_drop, u),
            LimitAlgorithm::Gradient2 => self.gradient2(spec, rtt, inflight),
            LimitAlgorithm::Envoy => self.envoy_sample(spec, now, rtt, did_drop, u),
        }
    }

    /// Brings the limit up to `now`: applies Envoy's update boundaries and window starts that
    /// have passed, in time order; resets the state if the spec names another algorithm. The
    /// other entry points call it; the engine may too, before plotting the limit.
    pub fn tick(&mut self, spec: &AdaptiveLimitSpec, now: Nanos) {
        if spec.algorithm != self.algorithm {
            self.reset(spec);
            // Switched to Envoy mid-run: its first window counts only requests sent from now.
            self.envoy.epoch = now;
        }
        if self.algorithm != LimitAlgorithm::Envoy {
            return;
        }
        while !self.envoy.window_open {
            let EnvoyState { next_update, next_window, .. } = self.envoy;
            // On a tie the update goes first: it uses the interval's samples before the window
            // throws them away.
            if next_window <= now && next_window < next_update {
                self.open_window(spec, next_window);
            } else if next_update > now {
                return;
            } else if self.envoy_update(spec, next_update) {
                self.envoy.next_update = next_update.saturating_add(spec.update_interval_nanos());
            } else {
                // No samples since the last boundary: Envoy keeps the limit, and so does every
                // boundary up to `now`, since the samples still to come are all later.
                let interval = spec.update_interval_nanos();
                let skip = (now - next_update) / interval + 1;
                self.envoy.next_update = next_update.saturating_add(skip.saturating_mul(interval));
                let next_window = self.envoy.next_window;
                if next_window <= now {
                    self.open_window(spec, next_window);
                }
                return;
            }
        }
    }

    /// Envoy: when the next update or minRTT window is due, if one is waiting on the clock
    /// (none while a window waits for samples, or for the other algorithms).
    pub fn next_due(&self, spec: &AdaptiveLimitSpec) -> Option<Nanos> {
        let envoy = spec.enabled && spec.algorithm == LimitAlgorithm::Envoy && self.algorithm == spec.algorithm;
        (envoy && !self.envoy.window_open).then(|| self.envoy.next_update.min(self.envoy.next_window))
    }

    /// Sets the estimate, counting a change of the integer limit if `counted`. A non-finite
    /// estimate (only from a spec the registry rejects, e.g. a NaN smoothing) is refused.
    fn set_estimate(&mut self, estimate: f64, counted: bool) {
        if !estimate.is_finite() {
            return;
        }
        let before = self.limit();
        self.estimate = estimate;
        let after = self.limit();
        if counted {
            self.stats.increases += u64::from(after > before);
            self.stats.decreases += u64::from(after < before);
        }
        self.stats.min_limit = self.stats.min_limit.min(after);
        self.stats.max_limit = self.stats.max_limit.max(after);
    }

    fn aimd(&mut self, spec: &AdaptiveLimitSpec, rtt: Nanos, inflight: u32, did_drop: bool) {
        let current = self.limit();
        let next = if did_drop || rtt > spec.timeout_nanos() {
            (f64::from(current) * spec.backoff).floor()
        } else if u64::from(inflight) * 2 >= u64::from(current) {
            f64::from(current) + 1.0
        } else {
            f64::from(current)
        };
        self.set_estimate(bound(next, spec.min_limit(), spec.max_limit()), true);
    }

    fn vegas(&mut self, spec: &AdaptiveLimitSpec, rtt: Nanos, inflight: u32, did_drop: bool, u: f64) {
        let jitter = *self.probe_jitter.get_or_insert(0.5 + 0.5 * unit(u));
        self.probe_count += 1;
        if jitter * PROBE_MULTIPLIER * self.estimate <= self.probe_count as f64 {
            self.probe_jitter = Some(0.5 + 0.5 * unit(u));
            self.probe_count = 0;
            self.rtt_noload = rtt;
            self.stats.probes += 1;
            self.stats.min_rtt_s = nanos_to_secs(rtt);
            return;
        }
        if self.rtt_noload == 0 || rtt < self.rtt_noload {
            self.rtt_noload = rtt;
            self.stats.min_rtt_s = nanos_to_secs(rtt);
            return;
        }
        let l = self.estimate;
        let queue = (l * (1.0 - self.rtt_noload as f64 / rtt as f64)).ceil();
        let step = f64::from(lg(self.limit()));
        let new = if did_drop {
            l - step
        } else if 2.0 * f64::from(inflight) < l {
            return; // app-limited: no upward drift
        } else if queue <= step {
            l + 6.0 * step // no queueing: grow fast (beta)
        } else if queue < 3.0 * step {
            l + step // below alpha: grow
        } else if queue > 6.0 * step {
            l - step // above beta: shrink
        } else {
            return; // in the sweet spot
        };
        let new = bound(new, spec.min_limit(), spec.max_limit());
        let s = spec.smoothing();
        self.set_estimate((1.0 - s) * l + s * new, true);
    }

    fn gradient2(&mut self, spec: &AdaptiveLimitSpec, rtt: Nanos, inflight: u32) {
        let short = rtt as f64;
        if self.long_count < WARMUP {
            self.long_count += 1;
            self.long_sum += short;
            self.long_rtt = self.long_sum / f64::from(self.long_count);
        } else {
            let alpha = 2.0 / (f64::from(spec.long_window) + 1.0);
            self.long_rtt = self.long_rtt * (1.0 - alpha) + short * alpha;
        }
        // The gradient below uses the long RTT before this decay, as Netflix's local does.
        let long = self.long_rtt;
        if long / short > 2.0 {
            self.long_rtt *= 0.95;
        }
        self.stats.min_rtt_s = self.long_rtt / 1e9;
        let l = self.estimate;
        if f64::from(inflight) < l / 2.0 {
            return; // app-limited
        }
        let gradient = (spec.tolerance * long / short).clamp(0.5, 1.0);
        let s = spec.smoothing();
        let new = (1.0 - s) * l + s * (l * gradient + f64::from(spec.queue_size));
        self.set_estimate(bound(new, spec.min_limit(), spec.max_limit()), true);
    }

    fn envoy_sample(&mut self, spec: &AdaptiveLimitSpec, now: Nanos, rtt: Nanos, did_drop: bool, u: f64) {
        // A dropped request is cancelled (`cancelLatencySample`); one sent before the current
        // window opened says nothing about the minRTT.
        if did_drop || now.saturating_sub(rtt) < self.envoy.epoch {
            return;
        }
        self.samples.push(rtt);
        if self.envoy.window_open && self.samples.seen >= u64::from(spec.min_rtt_requests.max(1)) {
            self.close_window(spec, now, u);
        }
    }

    /// One update boundary at `at`; false (limit kept) if the interval had no samples.
    fn envoy_update(&mut self, spec: &AdaptiveLimitSpec, at: Nanos) -> bool {
        let Some(sample_rtt) = self.samples.percentile(spec.percentile) else {
            return false;
        };
        self.samples.clear();
        let min_rtt = self.envoy.min_rtt as f64;
        let gradient = ((min_rtt + min_rtt * spec.buffer) / sample_rtt as f64).clamp(0.5, 2.0);
        let scaled = f64::from(self.limit()) * gradient;
        let (lo, before) = (spec.min_limit(), self.limit());
        self.set_estimate(bound((scaled + scaled.sqrt()).floor(), lo, spec.max_limit()), true);
        self.envoy.at_min = if before == lo && self.limit() == lo { self.envoy.at_min + 1 } else { 0 };
        if self.envoy.at_min >= MIN_STREAK {
            self.open_window(spec, at);
        }
        true
    }

    fn open_window(&mut self, spec: &AdaptiveLimitSpec, at: Nanos) {
        self.envoy.window_open = true;
        self.envoy.deferred = self.estimate;
        self.envoy.epoch = at;
        self.envoy.at_min = 0;
        self.samples.clear();
        self.set_estimate(f64::from(spec.min_limit()), false);
        self.stats.min_rtt_windows += 1;
    }

    fn close_window(&mut self, spec: &AdaptiveLimitSpec, now: Nanos, u: f64) {
        if let Some(min_rtt) = self.samples.percentile(spec.percentile) {
            self.envoy.min_rtt = min_rtt;
            self.stats.min_rtt_s = nanos_to_secs(min_rtt);
        }
        self.samples.clear();
        self.envoy.window_open = false;
        self.envoy.at_min = 0;
        self.set_estimate(self.envoy.deferred, false);
        let interval = spec.min_rtt_interval_nanos();
        // Envoy's `interval + random % ⌈interval·jitter⌉`; NaN or negative jitter casts to 0.
        let jitter = (unit(u) * (interval as f64 * spec.jitter).ceil()) as Nanos;
        self.envoy.next_update = now.saturating_add(spec.update_interval_nanos());
        self.envoy.next_window = now.saturating_add(interval).saturating_add(jitter);
    }
}

impl Params for AdaptiveLimitSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "adaptive concurrency limit at this station");
        v.field(
            "algorithm",
            Field::Choice(&mut self.algorithm),
            "aimd (loss-based), vegas (queue estimate), gradient2 (RTT vs long average) or envoy (minRTT windows)",
        );
        // No optional kinds fit "the algorithm's default", so these are listed at the value in
        // force and become explicit once set to another, as a rate limit's `burst` is.
        let (initial, lo, hi) = (self.initial_limit(), self.min_limit(), self.max_limit());
        count_in_force(v, "initial", &mut self.initial, initial, "starting limit (default 20; envoy: min_limit)");
        count_in_force(
            v,
            "min_limit",
            &mut self.min_limit,
            lo,
            "floor of the limit (aimd, gradient2 20; vegas 1; envoy 3)",
        );
        count_in_force(
            v,
            "max_limit",
            &mut self.max_limit,
            hi,
            "ceiling of the limit (aimd, gradient2 200; others 1000)",
        );
        let shown = self.smoothing();
        let mut smoothing = shown;
        v.field(
            "smoothing",
            Field::Real(&mut smoothing, MIN_SMOOTHING, 1.0),
            "vegas, gradient2: share of each new estimate taken (vegas 1.0, gradient2 0.2)",
        );
        if smoothing.to_bits() != shown.to_bits() {
            self.smoothing = Some(smoothing);
        }
        v.field("backoff", Field::Real(&mut self.backoff, 0.5, MAX_BACKOFF), "aimd: factor on the limit after a drop");
        v.field("timeout", Field::PositiveSeconds(&mut self.timeout), "aimd: an RTT above this counts as a drop");
        v.field(
            "tolerance",
            Field::Real(&mut self.tolerance, 1.0, MAX_TOLERANCE),
            "gradient2: RTT over its long average tolerated before the limit shrinks",
        );
        v.field("long_window", Field::Count(&mut self.long_window, 1), "gradient2: samples in the long RTT average");
        v.field(
            "queue_size",
            Field::Count(&mut self.queue_size, 0),
            "gradient2: queueing allowed on top of the gradient",
        );
        v.field("update_interval", Field::PositiveSeconds(&mut self.update_interval), "envoy: time between updates");
        v.field(
            "min_rtt_interval",
            Field::PositiveSeconds(&mut self.min_rtt_interval),
            "envoy: time between minRTT measurements (limit held at min_limit while measuring)",
        );
        v.field(
            "min_rtt_requests",
            Field::Count(&mut self.min_rtt_requests, 1),
            "envoy: samples per minRTT measurement",
        );
        v.field("jitter", Field::Real(&mut self.jitter, 0.0, 1.0), "envoy: random share of min_rtt_interval added");
        v.field(
            "buffer",
            Field::Real(&mut self.buffer, 0.0, 1.0),
            "envoy: headroom on minRTT before latency is queueing",
        );
        v.field(
            "percentile",
            Field::Real(&mut self.percentile, 0.0, 1.0),
            "envoy: percentile of the RTTs taken as sample RTT and minRTT",
        );
    }
}

/// Lists an optional count at the value in force; a different value set makes it explicit.
fn count_in_force(v: &mut dyn Visitor, name: &str, slot: &mut Option<u32>, in_force: u32, help: &'static str) {
    let shown = slot.unwrap_or(in_force);
    let mut value = shown;
    v.field(name, Field::Count(&mut value, 1), help);
    if value != shown {
        *slot = Some(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Finder, Kind, Lister, Value, out_of_bounds};
    use LimitAlgorithm::{Aimd, Envoy, Gradient2, Vegas};

    const MS: Nanos = 1_000_000;
    const SEC: Nanos = 1_000_000_000;

    fn spec(algorithm: LimitAlgorithm) -> AdaptiveLimitSpec {
        AdaptiveLimitSpec { enabled: true, algorithm, ..AdaptiveLimitSpec::default() }
    }

    /// Envoy's update by hand: g = clamp(1.25·minRTT/sample, 0.5, 2), L' = g·L, ⌊L' + √L'⌋ in [3, 1000].
    fn envoy_next(limit: u32, min_rtt_ms: f64, sample_ms: f64) -> u32 {
        let scaled = f64::from(limit) * (min_rtt_ms * 1.25 / sample_ms).clamp(0.5, 2.0);
        ((scaled + scaled.sqrt()) as u32).clamp(3, 1000)
    }

    #[test]
    fn aimd_cuts_on_a_drop_or_timeout_and_adds_one_when_busy() {
        let s = AdaptiveLimitSpec { min_limit: Some(1), ..spec(Aimd) };
        let mut a = AdaptiveLimit::new(&s);
        let mut step = |inflight, rtt, drop| {
            a.on_sample(&s, SEC, rtt, inflight, drop, 0.0);
            a.limit()
        };
        assert_eq!(step(20, 10 * MS, true), (20.0f64 * 0.9) as u32); // 18
        assert_eq!(step(9, 10 * MS, false), 19); // 9·2 ≥ 18
        assert_eq!(step(9, 10 * MS, false), 19); // 9·2 < 19: app-limited
        assert_eq!(step(19, 5 * SEC + 1, false), 17); // over the 5 s timeout: a drop
        assert_eq!(step(19, 5 * SEC, false), 18); // at it: not
        assert_eq!(a.stats.increases, 2);
        assert_eq!(a.stats.decreases, 2);
        assert_eq!((a.stats.samples, a.stats.drops, a.stats.min_limit, a.stats.max_limit), (5, 1, 17, 20));
        // The default floor of 20 holds a drop at 20; the ceiling holds growth.
        let d = spec(Aimd);
        let mut a = AdaptiveLimit::new(&d);
        a.on_sample(&d, 0, MS, 20, true, 0.0);
        assert_eq!(a.limit(), 20);
        let top = AdaptiveLimitSpec { initial: Some(200), ..d };
        let mut a = AdaptiveLimit::new(&top);
        a.on_sample(&top, 0, MS, 200, false, 0.0);
        assert_eq!(a.limit(), 200);
    }

    #[test]
    fn vegas_estimates_the_queue_and_steps_by_lg() {
        assert_eq!([0, 1, 9, 10, 99, 100, 999, 1000, u32::MAX].map(lg), [1, 1, 1, 1, 1, 2, 2, 3, 9]);
        let s = spec(Vegas);
        let mut v = AdaptiveLimit::new(&s);
        // u = 0.99: the first probe is ~600 samples away.
        let mut step = |rtt_ms, inflight, drop| {
            v.on_sample(&s, 0, rtt_ms * MS, inflight, drop, 0.99);
            v.limit()
        };
        assert_eq!(step(100, 20, false), 20); // the first RTT is rtt_noload
        assert_eq!(step(100, 10, false), 26); // q = 0 ≤ lg(20) = 1: + 6·lg
        assert_eq!(step(300, 12, false), 26); // 2·12 < 26: app-limited, kept
        assert_eq!((26.0f64 * (1.0 - 100.0 / 105.0)).ceil(), 2.0);
        assert_eq!(step(105, 26, false), 27); // lg < q = 2 < 3·lg: + lg
        assert_eq!((27.0f64 * (1.0 - 100.0 / 200.0)).ceil(), 14.0);
        assert_eq!(step(200, 27, false), 26); // q = 14 > 6·lg: − lg
        assert_eq!((26.0f64 * (1.0 - 100.0 / 110.0)).ceil(), 3.0);
        assert_eq!(step(110, 26, false), 26); // 3·lg ≤ q ≤ 6·lg: kept
        assert_eq!(step(100, 26, true), 25); // a drop: − lg
        assert_eq!(step(90, 25, false), 25); // a lower RTT is the new rtt_noload, nothing else
        assert_eq!(step(90, 25, false), 31); // q = 0 against 90 ms
        assert_eq!(v.stats.min_rtt_s, 0.09);
        // Smoothing 0.5 takes half the step; the ceiling clamps before smoothing.
        let half = AdaptiveLimitSpec { smoothing: Some(0.5), max_limit: Some(24), ..s.clone() };
        let mut v = AdaptiveLimit::new(&half);
        v.on_sample(&half, 0, 100 * MS, 20, false, 0.99);
        v.on_sample(&half, 0, 100 * MS, 20, false, 0.99);
        assert_eq!(v.estimate, 0.5 * 20.0 + 0.5 * 24.0);
    }

    #[test]
    fn a_vegas_probe_resets_rtt_noload() {
        let s = spec(Vegas);
        let mut v = AdaptiveLimit::new(&s);
        // u = 0 on the first sample: jitter 0.5, so the probe is sample 0.5·30·20 = 300.
        for _ in 1..300 {
            v.on_sample(&s, 0, 100 * MS, 0, false, 0.0);
        }
        assert_eq!((v.stats.probes, v.limit()), (0, 20));
        v.on_sample(&s, 0, 150 * MS, 0, false, 0.0);
        assert_eq!((v.stats.probes, v.limit(), v.stats.min_rtt_s), (1, 20, 0.15));
        // Against the probed 150 ms there is no queue (against 100 ms, q = ⌈20/3⌉ = 7 > 6).
        v.on_sample(&s, 0, 150 * MS, 10, false, 0.0);
        assert_eq!(v.limit(), 26);
    }

    #[test]
    fn gradient2_follows_its_long_rtt() {
        let s = AdaptiveLimitSpec { min_limit: Some(1), ..spec(Gradient2) };
        let mut g = AdaptiveLimit::new(&s);
        // The reference by hand: the first 10 samples a plain mean, then α = 2/601.
        let (mut sum, mut long, mut l) = (0.0, 0.0, 20.0f64);
        let rtts = [100, 120, 80, 100, 110, 90, 100, 105, 95, 100, 400, 400];
        for (k, &rtt_ms) in rtts.iter().enumerate() {
            let rtt = (rtt_ms * MS) as f64;
            if k < 10 {
                sum += rtt;
                long = sum / (k + 1) as f64;
            } else {
                long = long * (1.0 - 2.0 / 601.0) + rtt * (2.0 / 601.0);
            }
            let gradient = (1.5 * long / rtt).clamp(0.5, 1.0);
            l = (l * 0.8 + (l * gradient + 4.0) * 0.2).clamp(1.0, 200.0);
            g.on_sample(&s, 0, rtt_ms * MS, 40, false, 0.0);
            assert_eq!((g.long_rtt, g.estimate, g.limit()), (long, l, l as u32), "sample {k}");
        }
        // Latency rose fourfold: the gradient is clamped at 0.5, L ← 0.9·L + 0.8.
        assert!(g.stats.decreases >= 1 && g.limit() < 27, "{}", g.estimate);
        // App-limited (inflight < L/2): the long RTT moves, the limit does not.
        let before = g.estimate;
        g.on_sample(&s, 0, 10 * MS, 5, false, 0.0);
        assert_eq!(g.estimate, before);
        // Gradient2 ignores drops: a fast dropped sample still grows the limit.
        g.on_sample(&s, 0, 10 * MS, 40, true, 0.0);
        assert!(g.estimate > before);

        // Drift: after 10 samples at 1 s, one at 100 ms finds long/rtt > 2 and decays the long
        // RTT by 0.95, but its gradient uses the long RTT before the decay.
        let mut g = AdaptiveLimit::new(&s);
        for _ in 0..10 {
            g.on_sample(&s, 0, SEC, 40, false, 0.0);
        }
        assert_eq!(g.long_rtt, 1e9);
        g.on_sample(&s, 0, 100 * MS, 40, false, 0.0);
        let long = 1e9 * (1.0 - 2.0 / 601.0) + 1e8 * (2.0 / 601.0);
        assert_eq!(g.long_rtt, long * 0.95);
        assert_eq!(g.stats.min_rtt_s, long * 0.95 / 1e9);
    }

    #[test]
    fn envoy_measures_min_rtt_with_the_limit_pinned_then_updates_per_interval() {
        let s = AdaptiveLimitSpec { initial: Some(20), min_rtt_requests: 5, ..spec(Envoy) };
        let mut e = AdaptiveLimit::new(&s);
        assert_eq!((e.limit(), e.stats.min_rtt_windows, e.next_due(&s)), (3, 1, None));
        assert!(e.try_acquire(&s, 0, 2));
        assert!(!e.try_acquire(&s, 0, 3));
        // Five samples: the p50 by nearest rank is the 3rd smallest, 10 ms.
        for (i, rtt) in [12, 8, 11, 10, 9].into_iter().enumerate() {
            assert_eq!(e.limit(), 3);
            e.on_sample(&s, (i as Nanos + 1) * 20 * MS, rtt * MS, 1, false, 0.5);
        }
        let t0 = 100 * MS;
        assert_eq!((e.limit(), e.stats.min_rtt_s), (20, 0.01));
        // Next window: 30 s + ⌊0.5·⌈30 s·0.15⌉⌋ = 32.25 s after; next update 1 s after.
        assert_eq!(e.next_due(&s), Some(t0 + SEC));
        assert_eq!(e.envoy.next_window, t0 + 32_250 * MS);

        let interval = |e: &mut AdaptiveLimit, k: Nanos, rtts: &[(Nanos, bool)]| {
            for &(rtt, drop) in rtts {
                e.on_sample(&s, t0 + k * SEC - SEC / 2, rtt, 1, drop, 0.5);
            }
            assert!(e.try_acquire(&s, t0 + k * SEC - 1, 0));
            let before = e.limit();
            e.try_acquire(&s, t0 + k * SEC, 0);
            (before, e.limit())
        };
        // 25 ms: g = 1.25·10/25 = 0.5, L' = 10, ⌊10 + √10⌋ = 13.
        assert_eq!(interval(&mut e, 1, &[(25 * MS, false); 3]), (20, 13));
        assert_eq!(envoy_next(20, 10.0, 25.0), 13);
        // 5 ms: g = 2.5 clamped to 2, L' = 26, ⌊26 + √26⌋ = 31.
        assert_eq!(interval(&mut e, 2, &[(5 * MS, false)]), (13, 31));
        // 12.5 ms: g = 1, ⌊31 + √31⌋ = 36.
        assert_eq!(interval(&mut e, 3, &[(12_500_000, false)]), (31, 36));
        // Dropped requests are not samples (as RTTs of 1 s they would make the p50 1 s).
        assert_eq!(interval(&mut e, 4, &[(SEC, true), (SEC, true), (12_500_000, false)]), (36, 42));
        // Empty intervals keep the limit; the boundaries they skip stay on the grid.
        e.tick(&s, t0 + 10 * SEC);
        assert_eq!((e.limit(), e.next_due(&s)), (42, Some(t0 + 11 * SEC)));
        assert_eq!(e.stats.increases, 3);
        assert_eq!(e.stats.decreases, 1);

        // The next window pins the limit to 3 and ignores requests sent before it opened.
        let w = t0 + 32_250 * MS;
        e.tick(&s, w - 1);
        assert_eq!(e.limit(), 42);
        assert!(!e.try_acquire(&s, w, 3));
        assert_eq!((e.limit(), e.stats.min_rtt_windows, e.next_due(&s)), (3, 2, None));
        e.on_sample(&s, w + 10 * MS, 20 * MS, 1, false, 0.0);
        assert_eq!(e.samples.seen, 0);
        for _ in 0..5 {
            e.on_sample(&s, w + 30 * MS, 20 * MS, 1, false, 0.0);
        }
        assert_eq!((e.limit(), e.stats.min_rtt_s), (42, 0.02));
        assert_eq!(e.next_due(&s), Some(w + 30 * MS + SEC));
    }

    #[test]
    fn envoy_remeasures_after_five_intervals_at_the_floor() {
        let s = AdaptiveLimitSpec { initial: Some(20), min_rtt_requests: 1, jitter: 0.0, ..spec(Envoy) };
        let mut e = AdaptiveLimit::new(&s);
        e.on_sample(&s, 10 * MS, 10 * MS, 1, false, 0.0);
        assert_eq!(e.limit(), 20);
        let (mut expected, mut streak, mut t) = (20, 0, 10 * MS);
        for k in 1..=20 {
            // 100 ms against a 10 ms minRTT: g = 0.5 every interval.
            e.on_sample(&s, t + SEC / 2, 100 * MS, 1, false, 0.0);
            t += SEC;
            e.tick(&s, t);
            let next = envoy_next(expected, 10.0, 100.0);
            streak = if expected == 3 && next == 3 { streak + 1 } else { 0 };
            expected = next;
            assert_eq!(e.limit(), expected, "interval {k}");
            if streak == 5 {
                // 20 → 13 → 9 → 6 → 4 → 3, then five updates that leave it at 3.
                assert_eq!(k, 10);
                assert_eq!((e.stats.min_rtt_windows, e.next_due(&s), e.envoy.epoch), (2, None, t));
                return;
            }
            assert_eq!(e.stats.min_rtt_windows, 1);
        }
        panic!("no new minRTT window");
    }

    #[test]
    fn the_limit_falls_with_latency_grows_additively_and_not_while_app_limited() {
        for algorithm in [Aimd, Vegas, Gradient2, Envoy] {
            let s = AdaptiveLimitSpec { min_limit: Some(3), min_rtt_requests: 5, ..spec(algorithm) };
            let mut a = AdaptiveLimit::new(&s);
            let mut now = 0;
            let mut run = |a: &mut AdaptiveLimit, n: usize, rtt: Nanos, busy: bool| {
                let mut most = 0;
                for _ in 0..n {
                    now += 10 * MS;
                    let before = a.limit();
                    let inflight = if busy { a.limit() } else { 1 };
                    a.on_sample(&s, now, rtt, inflight, false, 0.5);
                    most = most.max(a.limit().saturating_sub(before));
                }
                most
            };
            // Each step up is additive: +1 (AIMD), +6·lg (Vegas), +0.8 (Gradient2); Envoy's
            // per-interval update is L' + √L', at most 2L + √(2L).
            let grown_by = run(&mut a, 400, 10 * MS, true);
            let grown = a.limit();
            assert!(grown > 20 || (algorithm == Envoy && grown > 3), "{algorithm:?}: {grown}");
            assert!(grown_by <= if algorithm == Envoy { 2 * grown } else { 12 }, "{algorithm:?}: {grown_by}");
            // Latency up tenfold (past AIMD's timeout too): the limit falls.
            let slow = if algorithm == Aimd { 6 * SEC } else { 100 * MS };
            run(&mut a, 400, slow, true);
            assert!(a.limit() < grown, "{algorithm:?}: {} !< {grown}", a.limit());
            // App-limited at low latency: the Netflix limits stay put (Envoy has no such guard).
            if algorithm != Envoy {
                let held = a.limit();
                run(&mut a, 400, 10 * MS, false);
                assert_eq!(a.limit(), held, "{algorithm:?}");
            }
        }
    }

    #[test]
    fn a_disabled_limit_admits_everything_and_a_new_algorithm_starts_over() {
        let off = AdaptiveLimitSpec { enabled: false, ..spec(Vegas) };
        let mut a = AdaptiveLimit::new(&off);
        assert!(a.try_acquire(&off, 0, u32::MAX));
        a.on_sample(&off, 0, MS, 20, false, 0.0);
        assert_eq!(a.stats.samples, 0);
        let vegas = spec(Vegas);
        a.on_sample(&vegas, 0, MS, 20, false, 0.0);
        a.on_sample(&vegas, 0, MS, 20, false, 0.0);
        assert_eq!(a.limit(), 26);
        let envoy = AdaptiveLimitSpec { min_rtt_requests: 1, ..spec(Envoy) };
        assert!(!a.try_acquire(&envoy, 5 * SEC, 3));
        assert_eq!((a.limit(), a.stats.samples, a.stats.min_rtt_windows, a.stats.max_limit), (3, 2, 1, 26));
        // Its first window counts only requests sent since the switch.
        a.on_sample(&envoy, 5 * SEC + MS, 2 * MS, 1, false, 0.0);
        assert_eq!(a.limit(), 3);
        a.on_sample(&envoy, 5 * SEC + MS, MS, 1, false, 0.0);
        assert_eq!((a.limit(), a.stats.min_rtt_s), (3, 0.001));
        assert_eq!(a.next_due(&envoy), Some(6 * SEC + MS));
    }

    #[test]
    fn no_input_panics_or_escapes_the_bounds() {
        let odd_specs = [
            AdaptiveLimitSpec { smoothing: Some(f64::NAN), backoff: f64::NAN, timeout: f64::NAN, ..spec(Vegas) },
            AdaptiveLimitSpec { min_limit: Some(50), max_limit: Some(10), tolerance: f64::NAN, ..spec(Vegas) },
            AdaptiveLimitSpec { percentile: f64::NAN, jitter: f64::NAN, buffer: f64::NAN, ..spec(Envoy) },
            AdaptiveLimitSpec { update_interval: 0.0, min_rtt_interval: -1.0, min_rtt_requests: 0, ..spec(Envoy) },
            AdaptiveLimitSpec { initial: Some(0), long_window: 0, queue_size: u32::MAX, ..spec(Gradient2) },
        ];
        for base in odd_specs {
            for algorithm in [Aimd, Vegas, Gradient2, Envoy] {
                let s = AdaptiveLimitSpec { algorithm, ..base.clone() };
                let mut a = AdaptiveLimit::new(&s);
                let times = [0, 5 * SEC, 1, Nanos::MAX - 1, Nanos::MAX, 3];
                for (i, now) in times.into_iter().enumerate() {
                    for rtt in [0, 1, 10 * MS, Nanos::MAX] {
                        for u in [0.0, 0.999, f64::NAN, -1.0, 7.0] {
                            a.try_acquire(&s, now, u32::MAX);
                            a.on_sample(&s, now, rtt, [0, u32::MAX][i % 2], i % 3 == 0, u);
                            assert!(a.estimate.is_finite());
                            assert!(a.limit() <= s.max_limit().max(s.min_limit()), "{algorithm:?} {}", a.limit());
                        }
                    }
                }
                let _ = a.next_due(&s);
            }
        }
    }

    #[test]
    fn an_envoy_interval_keeps_a_bounded_even_sample() {
        let mut samples = Samples::new();
        for rtt in 0..10_000 {
            samples.push(rtt);
        }
        assert!(samples.kept.len() <= MAX_SAMPLES && samples.kept.len() > MAX_SAMPLES / 2);
        assert_eq!(samples.seen, 10_000);
        assert!(samples.kept.iter().all(|rtt| rtt % samples.stride == 0));
        let median = samples.percentile(0.5).unwrap();
        assert!(median.abs_diff(5000) <= 10, "{median}");
        assert_eq!(samples.percentile(0.0), Some(0));
        samples.clear();
        assert_eq!(samples.percentile(0.5), None);
    }

    #[test]
    fn validate_names_the_bound_to_fix() {
        assert_eq!(spec(Gradient2).validate(), Ok(()));
        let err = AdaptiveLimitSpec { max_limit: Some(10), ..spec(Gradient2) }.validate().unwrap_err();
        assert!(err.contains("`min_limit` 20 (gradient2's default) is above `max_limit` 10"), "{err}");
        let err = AdaptiveLimitSpec { initial: Some(5), ..spec(Aimd) }.validate().unwrap_err();
        assert!(err.contains("`initial` 5 is outside [min_limit 20, max_limit 200]"), "{err}");
        assert_eq!(AdaptiveLimitSpec { min_limit: Some(8), ..spec(Envoy) }.initial_limit(), 8);
        assert_eq!(AdaptiveLimitSpec { initial: Some(5), min_limit: Some(1), ..spec(Aimd) }.validate(), Ok(()));
    }

    #[test]
    fn registry_paths_bounds_and_defaults_in_force() {
        let mut s = spec(Gradient2);
        let mut lister = Lister::new("api.adaptive_limit");
        s.visit(&mut lister);
        let listed: Vec<_> =
            lister.out.iter().map(|p| (p.path.trim_start_matches("api.adaptive_limit."), p.value.clone())).collect();
        let real = Value::Real;
        assert_eq!(
            listed,
            [
                ("enabled", Value::Flag(true)),
                ("algorithm", Value::Choice("gradient2".into())),
                ("initial", Value::Count(20)),
                ("min_limit", Value::Count(20)),
                ("max_limit", Value::Count(200)),
                ("smoothing", real(0.2)),
                ("backoff", real(0.9)),
                ("timeout", real(5.0)),
                ("tolerance", real(1.5)),
                ("long_window", Value::Count(600)),
                ("queue_size", Value::Count(4)),
                ("update_interval", real(1.0)),
                ("min_rtt_interval", real(30.0)),
                ("min_rtt_requests", Value::Count(50)),
                ("jitter", real(0.15)),
                ("buffer", real(0.25)),
                ("percentile", real(0.5)),
            ]
        );
        assert_eq!(lister.out[1].kind, Kind::Choice(&["aimd", "vegas", "gradient2", "envoy"]));
        assert_eq!(lister.out[5].kind, Kind::Real { min: MIN_SMOOTHING, max: 1.0 });
        // Listing and checking leave the defaults following the algorithm.
        assert!(out_of_bounds(&mut s).is_empty());
        assert_eq!((s.initial, s.min_limit, s.max_limit, s.smoothing), (None, None, None, None));

        fn set(s: &mut AdaptiveLimitSpec, path: &str, value: Value) -> Result<(), String> {
            let mut result = Err("not found".to_string());
            let mut finder = Finder::new(path, |field| result = field.set(&value));
            s.visit(&mut finder);
            result
        }
        let bad = [
            ("algorithm", Value::Choice("bbr".into())),
            ("initial", Value::Count(0)),
            ("max_limit", Value::Count(0)),
            ("smoothing", real(0.0)),
            ("backoff", real(1.0)),
            ("backoff", real(0.4)),
            ("timeout", real(0.0)),
            ("tolerance", real(0.9)),
            ("long_window", Value::Count(0)),
            ("update_interval", real(0.0)),
            ("min_rtt_requests", Value::Count(0)),
            ("jitter", real(1.5)),
            ("buffer", real(-0.1)),
            ("percentile", real(1.01)),
        ];
        for (path, value) in bad {
            assert!(set(&mut s, path, value.clone()).is_err(), "{path} = {value}");
        }
        assert_eq!(s, spec(Gradient2));
        set(&mut s, "max_limit", Value::Count(50)).unwrap();
        set(&mut s, "smoothing", real(0.5)).unwrap();
        set(&mut s, "algorithm", Value::Choice("envoy".into())).unwrap();
        assert_eq!((s.max_limit, s.smoothing, s.algorithm, s.min_limit()), (Some(50), Some(0.5), Envoy, 3));
        // A file's zero initial is caught by the same bounds.
        assert_eq!(out_of_bounds(&mut AdaptiveLimitSpec { initial: Some(0), ..spec(Vegas) }).len(), 1);
    }

    #[test]
    fn the_spec_reads_from_ron_and_round_trips() {
        let s: AdaptiveLimitSpec = ron::from_str("AdaptiveLimit(algorithm: Gradient2, max_limit: Some(50))").unwrap();
        assert_eq!(s, AdaptiveLimitSpec { max_limit: Some(50), ..spec(Gradient2) });
        let text = ron::to_string(&s).unwrap();
        assert_eq!(ron::from_str::<AdaptiveLimitSpec>(&text).unwrap(), s);
        assert_eq!(ron::from_str::<AdaptiveLimitSpec>("AdaptiveLimit()").unwrap(), spec(Vegas));
        assert!(ron::from_str::<AdaptiveLimitSpec>("AdaptiveLimit(algorithm: Bbr)").is_err());
        assert!(ron::from_str::<AdaptiveLimitSpec>("AdaptiveLimit(max_limt: Some(5))").is_err());
        assert!(AdaptiveLimitSpec::default().is_off());
        assert!(!s.is_off());
        let stats = AdaptiveLimitStats { refused: 3, ..AdaptiveLimitStats::default() };
        assert!(ron::to_string(&stats).unwrap().contains("refused:3"));
    }
}
