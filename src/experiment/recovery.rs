//! Recovery after a trigger: did the system come back once the trigger was over, and how long
//! did it take?
//!
//! **The failure it names.** A metastable failure (Bronson et al., "Metastable Failures in
//! Distributed Systems", HotOS 2021) starts when a *trigger* — a load spike, a fault — pushes a
//! system in a vulnerable state into a bad one, and a *sustaining effect* keeps it there after the
//! trigger is gone: retries of timed-out requests, work done for callers that already gave up.
//! Huang et al. ("Metastable Failures in the Wild", OSDI 2022) find such incidents across many
//! production systems and stress that whether the system comes back depends on the trigger's
//! size. `scenarios/retry-storm.ron` is one: a 10-second spike, and goodput stays at zero for the
//! 170 s that follow. This module reads a run's series against the trigger's window and answers
//! "recovered, how fast, or stuck?", so a sweep over trigger sizes can draw the boundary.
//!
//! **Baseline.** The level to come back to is measured before the trigger: by default over every
//! sample that lies between the end of the first `window` (warm-up: the queues start empty) and
//! the trigger's start. Baseline goodput is the span-weighted mean; baseline p99 is the mean of
//! the per-sample p99s weighted by completions (goodput · span). That is how the series itself
//! merges quantiles, and it is the statistic the window test below uses: the same estimator on
//! both sides, so a steady system compares at 1. A median would be robust to one slow sample, but
//! per-sample p99s are right-skewed, so mean against median would make a steady system look slow.
//!
//! **Healthy.** A window (the samples that end within `window` seconds up to and including one)
//! is healthy when its mean goodput ≥ (1 − tolerance) · baseline goodput, something completed, and
//! its mean p99 ≤ (1 + tolerance + [`P99_QUANTUM`]) · baseline p99 + [`P99_FLOOR_S`]. The quantum
//! is HDR's resolution at 2 significant digits (a recorded latency is off by up to 1 % of itself);
//! the floor keeps a sub-millisecond baseline from turning microseconds into failures. A *sample*
//! is healthy when some healthy window covers it. A mean over a window smears a step by a window;
//! coverage puts the smear where it belongs: a drop is seen at most tolerance · window late and a
//! return at most tolerance · window early (1 s, one sample, with the defaults), where a trailing
//! mean alone would date a return (1 − tolerance) · window late. Dips shorter than about
//! 2 · tolerance · window are noise at this resolution and vanish.
//!
//! **Hold.** A healthy stretch counts (is [`Regime::Stable`]) only if it lasts `hold` seconds
//! (default: one window); shorter ones keep the label of what surrounds them, so a blip inside a
//! stuck stretch is no recovery. Since a healthy window covers a whole window, the default hold
//! amounts to "one healthy window"; raise it to demand more. A stretch cut short by the end of the
//! run must still have lasted `hold`: run longer to decide.
//!
//! **Regimes**, per sample, then merged into spans that tile the run without gaps:
//! - `Stable`: healthy (before, during or after the trigger: a trigger can be absorbed);
//! - `Overloaded`: not healthy and not after the trigger (a sample that overlaps the trigger, or
//!   any unhealthy sample before it, warm-up included);
//! - `Recovering`: after the trigger (the sample starts at or after its end), not healthy, and
//!   ending within the grace period: `3 · max(trigger length, window)`. A queue that absorbed a
//!   trigger of length L at load ρ, offered ρ′ > 1 during it, drains in L·(ρ′ − 1)/(1 − ρ): 3·L
//!   for a doubling at 80 % load, retry-storm's case without retries. Three windows is the least
//!   the window test can resolve;
//! - `Stuck`: after the trigger, not healthy, past the grace period: the metastable state. The
//!   grace is a clock, not hindsight: a late recovery shows as Stuck, then Stable.
//!
//! **Verdict.** `recovery_s` runs from the trigger's end to the start of the first Stable stretch
//! that is still healthy `hold` seconds after the trigger ended (0 when the trigger was absorbed);
//! `recovered` is whether there is one. `stuck` is whether the run *ends* Stuck: a run can recover
//! and relapse (both true), or end within the grace period (both false: too short to tell).
//!
//! **The end of the run.** The last samples are covered by fewer windows than the rest; an
//! unhealthy tail shorter than a window after a healthy stretch is undecided and keeps the
//! label before it, so one noisy last sample does not turn a recovered run into a stuck one.
//!
//! **Live.** Labels use no future beyond a window and `hold`: [`regimes_live`] is [`verdict`] on
//! the samples up to `now`. A sample's live label can still change while it ends within
//! `window + hold` of `now` (a later window may cover it, its stretch may yet reach `hold`),
//! and not after, as long as the baseline window lies before `now`.
//!
//! **Input.** NaN, infinite, negative and unsorted input is accepted: samples without a finite
//! end and a positive span are dropped, values are clamped to [0, 10¹²], samples are sorted by
//! end, and a non-finite or negative spec value falls back to its default. Nothing panics. Time
//! is O(n) after the sort (which is linear on sorted input): prefix sums and a sliding window.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Relative slack on the p99 bound: HDR quantiles at 2 significant digits are within 1 %.
pub const P99_QUANTUM: f64 = 0.01;
/// Absolute slack on the p99 bound, seconds: a latency shift below a millisecond is no failure.
pub const P99_FLOOR_S: f64 = 0.001;
/// The grace period after a trigger, in trigger lengths or windows, whichever is longer.
pub const GRACE_FACTOR: f64 = 3.0;

/// Comparisons of times within this many seconds are equal (sample ends are sums of steps).
const EPS: f64 = 1e-9;
/// Values are clamped to this, so that sums of products stay finite.
const MAX_VALUE: f64 = 1e12;

/// One sample interval of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// End of the interval, seconds.
    pub t: f64,
    /// Length of the interval, seconds.
    pub span: f64,
    /// Requests per second answered in time.
    pub goodput: f64,
    /// 99th percentile latency of what completed, seconds (0 when nothing completed).
    pub p99: f64,
    /// Requests per second arriving (attempts, retries included: the sustaining load shows here).
    pub offered: f64,
}

/// The window of the timeline change that may tip the system over: a spike or a fault.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub start: f64,
    pub end: f64,
}

/// How recovery is judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Recovery")]
pub struct RecoverySpec {
    /// Relative distance from the baseline still counted as healthy (default 0.1).
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Seconds over which the level is averaged, smoothing sampling noise (default 10).
    #[serde(default = "default_window")]
    pub window: f64,
    /// Seconds a healthy stretch must last to count (default `None`: one window). An option, not
    /// a number, so that the default follows a changed window.
    #[serde(default)]
    pub hold: Option<f64>,
    /// The baseline window `(from, to)`, seconds (default: after the first window, up to the
    /// trigger's start).
    #[serde(default)]
    pub baseline: Option<(f64, f64)>,
}

fn default_tolerance() -> f64 {
    0.1
}

fn default_window() -> f64 {
    10.0
}

impl Default for RecoverySpec {
    fn default() -> Self {
        Self { tolerance: default_tolerance(), window: default_window(), hold: None, baseline: None }
    }
}

/// `x` if it is finite and not negative, else `fallback`.
fn or_default(x: f64, fallback: f64) -> f64 {
    if x.is_finite() && x >= 0.0 { x } else { fallback }
}

impl RecoverySpec {
    /// The tolerance used: the field, or the default if it is not a non-negative number.
    pub fn tolerance(&self) -> f64 {
        or_default(self.tolerance, default_tolerance())
    }

    /// The window used, seconds.
    pub fn window(&self) -> f64 {
        or_default(self.window, default_window())
    }

    /// The hold used, seconds: the field, else one window.
    pub fn hold(&self) -> f64 {
        or_default(self.hold.unwrap_or(f64::NAN), self.window())
    }
}

/// What the system is doing over a span of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    Stable,
    Overloaded,
    Recovering,
    Stuck,
}

/// Consecutive samples with the same regime.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Span {
    /// Start and end, seconds: the next span starts where this one ends.
    pub from: f64,
    pub to: f64,
    pub regime: Regime,
    /// Mean goodput and offered load over the span, req/s: offered far above the baseline's
    /// while goodput is low is the sustaining effect at work.
    pub goodput: f64,
    pub offered: f64,
}

/// The answer for one run and trigger.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub baseline_goodput: f64,
    pub baseline_p99: f64,
    pub baseline_offered: f64,
    /// The grace period after the trigger's end, seconds.
    pub grace: f64,
    /// Some Stable stretch is still healthy `hold` seconds after the trigger ended.
    pub recovered: bool,
    /// Seconds from the trigger's end to the start of that stretch (0: absorbed).
    pub recovery_s: Option<f64>,
    /// The run ends Stuck.
    pub stuck: bool,
    pub regimes: Vec<Span>,
}

/// Why there is no verdict: nothing to compare with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum NoBaseline {
    /// No sample with a finite end and a positive span.
    NoSamples,
    /// The trigger's start or end is not finite, or it ends before it starts.
    BadTrigger,
    /// No sample lies within the baseline window (a trigger within the first window, or a
    /// baseline window that is empty or not finite).
    Empty,
    /// Nothing completed in the baseline window.
    Idle,
}

impl fmt::Display for NoBaseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoBaseline::NoSamples => "no usable samples",
            NoBaseline::BadTrigger => "the trigger's window is not a finite interval",
            NoBaseline::Empty => "no sample lies in the baseline window (is the trigger within the first window?)",
            NoBaseline::Idle => "nothing completed in the baseline window",
        })
    }
}

impl std::error::Error for NoBaseline {}

/// A sanitised sample.
#[derive(Clone, Copy, Debug)]
struct Row {
    start: f64,
    t: f64,
    span: f64,
    goodput: f64,
    offered: f64,
}

fn clamp(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, MAX_VALUE) }
}

/// Usable samples sorted by end, and prefix sums of [span, completions, p99 · completions,
/// offered · span] (`sums[k]` over the first k rows).
fn prepare(samples: &[Sample]) -> (Vec<Row>, Vec<[f64; 4]>) {
    let mut raw: Vec<&Sample> =
        samples.iter().filter(|s| s.t.is_finite() && s.t.abs() <= MAX_VALUE && s.span > 0.0).collect();
    raw.sort_by(|a, b| a.t.total_cmp(&b.t));
    let mut sums = vec![[0.0; 4]];
    let mut rows = Vec::with_capacity(raw.len());
    for s in raw {
        let span = s.span.min(MAX_VALUE);
        let (goodput, offered) = (clamp(s.goodput), clamp(s.offered));
        let done = goodput * span;
        let last = sums[sums.len() - 1];
        sums.push([last[0] + span, last[1] + done, last[2] + clamp(s.p99) * done, last[3] + offered * span]);
        rows.push(Row { start: s.t - span, t: s.t, span, goodput, offered });
    }
    (rows, sums)
}

/// Sums over rows `lo..=hi`.
fn between(sums: &[[f64; 4]], lo: usize, hi: usize) -> [f64; 4] {
    let (a, b) = (sums[lo], sums[hi + 1]);
    [b[0] - a[0], b[1] - a[1], b[2] - a[2], b[3] - a[3]]
}

/// The verdict on a run: see the module documentation for every definition.
pub fn verdict(samples: &[Sample], trigger: Trigger, spec: &RecoverySpec) -> Result<Verdict, NoBaseline> {
    let (rows, sums) = prepare(samples);
    if rows.is_empty() {
        return Err(NoBaseline::NoSamples);
    }
    let Trigger { start, end } = trigger;
    if !(start.is_finite() && end.is_finite() && end >= start) {
        return Err(NoBaseline::BadTrigger);
    }
    let (tol, window, hold) = (spec.tolerance(), spec.window(), spec.hold());

    // Baseline: the samples that lie wholly within its window.
    let run_start = rows.iter().map(|r| r.start).fold(f64::INFINITY, f64::min);
    let (a, b) = spec.baseline.unwrap_or((run_start + window, start));
    if !(a.is_finite() && b.is_finite() && b > a) {
        return Err(NoBaseline::Empty);
    }
    let mut base = [0.0; 4];
    for (k, r) in rows.iter().enumerate() {
        if r.start >= a - EPS && r.t <= b + EPS {
            let s = between(&sums, k, k);
            base = [base[0] + s[0], base[1] + s[1], base[2] + s[2], base[3] + s[3]];
        }
    }
    if base[0] <= 0.0 {
        return Err(NoBaseline::Empty);
    }
    if base[1] <= 0.0 {
        return Err(NoBaseline::Idle);
    }
    let (base_goodput, base_p99, base_offered) = (base[1] / base[0], base[2] / base[1], base[3] / base[0]);
    // A hair of relative slack, so that a window exactly at a bound is not decided by rounding.
    let min_goodput = (1.0 - tol) * base_goodput * (1.0 - 1e-9);
    let max_p99 = ((1.0 + tol + P99_QUANTUM) * base_p99 + P99_FLOOR_S) * (1.0 + 1e-9);

    // The window ending at row i is rows lo[i]..=i; lo never decreases.
    let n = rows.len();
    let mut lo = vec![0; n];
    let mut passes = vec![false; n];
    let mut l = 0;
    for i in 0..n {
        while l < i && rows[l].t <= rows[i].t - window {
            l += 1;
        }
        lo[i] = l;
        let [span, done, p99_done, _] = between(&sums, l, i);
        passes[i] = span > 0.0 && done > 0.0 && done / span >= min_goodput && p99_done / done <= max_p99;
    }
    // Row j is healthy if a healthy window covers it. The first healthy window ending at or
    // after j starts earliest of those that do (lo is monotone), so one sweep back suffices.
    let mut healthy = vec![false; n];
    let mut next_lo = None;
    for j in (0..n).rev() {
        if passes[j] {
            next_lo = Some(lo[j]);
        }
        healthy[j] = next_lo.is_some_and(|l| l <= j);
    }

    // Tiles: row k covers (end of row k − 1, end of row k]; the first starts at its own start.
    let from = |k: usize| if k == 0 { rows[0].start } else { rows[k - 1].t };
    // Healthy stretches shorter than `hold` do not count; the first that holds after the
    // trigger's end is the recovery.
    let mut recovery_s = None;
    let mut k = 0;
    while k < n {
        if !healthy[k] {
            k += 1;
            continue;
        }
        let first = k;
        while k < n && healthy[k] {
            k += 1;
        }
        let (t0, t1) = (from(first), rows[k - 1].t);
        if t1 - t0 + EPS < hold {
            healthy[first..k].fill(false);
        } else if recovery_s.is_none() && t1 > end + EPS && t1 - t0.max(end) + EPS >= hold {
            recovery_s = Some((t0 - end).max(0.0));
        }
    }

    // An unhealthy tail shorter than a window after a healthy stretch is undecided, not a
    // relapse: the samples at the very end are covered by fewer windows than the rest (only the
    // last one), so one noisy sample would otherwise end a recovered run as stuck. It keeps the
    // label of what precedes it.
    if let Some(h) = healthy.iter().rposition(|x| *x)
        && h + 1 < n
        && rows[n - 1].t - rows[h].t < window - EPS
    {
        healthy[h + 1..].fill(true);
    }

    let grace = GRACE_FACTOR * (end - start).max(window);
    let regime = |k: usize| {
        let r = rows[k];
        if healthy[k] {
            Regime::Stable
        } else if r.start < end - EPS {
            Regime::Overloaded
        } else if r.t - end <= grace + EPS {
            Regime::Recovering
        } else {
            Regime::Stuck
        }
    };
    let mut regimes: Vec<Span> = Vec::new();
    let mut first = 0;
    for k in 0..n {
        if k + 1 == n || regime(k + 1) != regime(k) {
            let part = &rows[first..=k];
            let span: f64 = part.iter().map(|r| r.span).sum();
            let mean = |x: f64| if span > 0.0 { x / span } else { 0.0 };
            regimes.push(Span {
                from: from(first),
                to: rows[k].t,
                regime: regime(k),
                goodput: mean(part.iter().map(|r| r.goodput * r.span).sum()),
                offered: mean(part.iter().map(|r| r.offered * r.span).sum()),
            });
            first = k + 1;
        }
    }
    Ok(Verdict {
        baseline_goodput: base_goodput,
        baseline_p99: base_p99,
        baseline_offered: base_offered,
        grace,
        recovered: recovery_s.is_some(),
        recovery_s,
        stuck: regimes.last().is_some_and(|s| s.regime == Regime::Stuck),
        regimes,
    })
}

/// The regimes as they would be labelled at `now`: [`verdict`] on the samples that end by then.
/// See the module documentation for how they can differ from the final ones.
pub fn regimes_live(
    samples: &[Sample],
    trigger: Trigger,
    spec: &RecoverySpec,
    now: f64,
) -> Result<Vec<Span>, NoBaseline> {
    let prefix: Vec<Sample> = samples.iter().filter(|s| s.t <= now).copied().collect();
    verdict(&prefix, trigger, spec).map(|v| v.regimes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Regime::*;

    const TRIGGER: Trigger = Trigger { start: 60.0, end: 80.0 };
    const GOOD: (f64, f64) = (100.0, 0.2);

    /// 1-s samples ending at 1..=n: `level(t)` gives (goodput, p99); offered 100, or 300 while
    /// goodput is below half (retries).
    fn series(n: usize, mut level: impl FnMut(f64) -> (f64, f64)) -> Vec<Sample> {
        (1..=n)
            .map(|k| {
                let t = k as f64;
                let (goodput, p99) = level(t);
                let offered = if goodput < 50.0 { 300.0 } else { 100.0 };
                Sample { t, span: 1.0, goodput, p99, offered }
            })
            .collect()
    }

    /// Runs the verdict and checks that the spans tile the run, regimes alternating.
    fn judge(samples: &[Sample], spec: &RecoverySpec) -> Verdict {
        let v = verdict(samples, TRIGGER, spec).expect("a baseline");
        let r = &v.regimes;
        assert_eq!(r[0].from, 0.0);
        assert_eq!(r[r.len() - 1].to, samples.len() as f64);
        for w in r.windows(2) {
            assert_eq!(w[0].to, w[1].from, "{r:?}");
            assert_ne!(w[0].regime, w[1].regime, "{r:?}");
        }
        assert!(r.iter().all(|s| s.from < s.to));
        v
    }

    fn kinds(v: &Verdict) -> Vec<Regime> {
        v.regimes.iter().map(|s| s.regime).collect()
    }

    fn regime_at(spans: &[Span], t: f64) -> Option<Regime> {
        spans.iter().find(|s| s.from < t && t <= s.to).map(|s| s.regime)
    }

    #[test]
    fn a_bad_last_sample_after_a_recovery_is_no_relapse() {
        // The last sample is covered by one window only; a spike in it must not end a
        // recovered run as stuck (found on retry-budget.ron, whose last second read Stuck).
        let s = series(240, |t| {
            if t > 60.0 && t <= 85.0 {
                (20.0, 1.0)
            } else if t > 239.0 {
                (100.0, 3.0)
            } else {
                GOOD
            }
        });
        let v = judge(&s, &RecoverySpec::default());
        assert!(v.recovered && !v.stuck, "{v:?}");
        assert_eq!(kinds(&v).last(), Some(&Regime::Stable));
        // A relapse longer than a window still shows.
        let s = series(240, |t| if (60.0..=85.0).contains(&t) || t > 220.0 { (20.0, 1.0) } else { GOOD });
        assert_eq!(kinds(&judge(&s, &RecoverySpec::default())).last(), Some(&Regime::Stuck));
    }

    #[test]
    fn a_dip_that_returns_soon_after_the_trigger_is_a_recovery() {
        let s = series(240, |t| if t > 60.0 && t <= 85.0 { (20.0, 1.0) } else { GOOD });
        let v = judge(&s, &RecoverySpec::default());
        assert_eq!((v.baseline_goodput, v.baseline_p99, v.baseline_offered), (100.0, 0.2, 100.0));
        assert!(v.recovered && !v.stuck);
        assert!((v.recovery_s.unwrap() - 5.0).abs() <= 1.0, "{:?}", v.recovery_s);
        assert_eq!(kinds(&v), [Stable, Overloaded, Recovering, Stable]);
        // The drop is dated within a sample of the trigger's start.
        assert!((v.regimes[1].from - 60.0).abs() <= 1.0);
        assert_eq!(v.regimes[2].offered, 300.0);
    }

    #[test]
    fn a_dip_that_never_returns_is_stuck_after_the_grace_period() {
        let s = series(240, |t| if t > 60.0 { (10.0, 3.0) } else { GOOD });
        let v = judge(&s, &RecoverySpec::default());
        assert!(!v.recovered && v.stuck && v.recovery_s.is_none());
        assert_eq!(kinds(&v), [Stable, Overloaded, Recovering, Stuck]);
        assert_eq!(v.grace, 60.0);
        assert_eq!((v.regimes[2].from, v.regimes[2].to), (80.0, 140.0));
        // The same run cut short within the grace period: neither recovered nor stuck.
        let v = judge(&s[..120], &RecoverySpec::default());
        assert!(!v.recovered && !v.stuck);
    }

    #[test]
    fn an_absorbed_trigger_is_stable_throughout() {
        let v = judge(&series(240, |_| GOOD), &RecoverySpec::default());
        assert!(v.recovered && !v.stuck);
        assert_eq!(v.recovery_s, Some(0.0));
        assert_eq!(kinds(&v), [Stable]);
    }

    #[test]
    fn noise_beyond_the_tolerance_per_sample_is_smoothed_by_the_window() {
        let mut x: u64 = 12345;
        let mut noise = move || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.3 // ±15 %
        };
        let s = series(240, |_| (100.0 * (1.0 + noise()), 0.2 * (1.0 + noise())));
        assert!(s.iter().filter(|p| p.goodput < 90.0 || p.p99 > 0.22).count() > 50);
        let v = judge(&s, &RecoverySpec::default());
        assert_eq!(kinds(&v), [Stable]);
        assert_eq!(v.recovery_s, Some(0.0));
    }

    #[test]
    fn a_blip_shorter_than_hold_is_no_recovery() {
        let stuck = |t: f64, blip: std::ops::RangeInclusive<f64>| {
            if t > 60.0 && !blip.contains(&t) { (10.0, 3.0) } else { GOOD }
        };
        // 4 s: not even one healthy window.
        let v = judge(&series(240, |t| stuck(t, 150.0..=153.0)), &RecoverySpec::default());
        assert!(!v.recovered && v.stuck);
        assert_eq!(kinds(&v), [Stable, Overloaded, Recovering, Stuck]);
        // 15 s: healthy windows, but the stretch is shorter than a 30-s hold.
        let spec = RecoverySpec { hold: Some(30.0), ..RecoverySpec::default() };
        let s = series(240, |t| stuck(t, 150.0..=164.0));
        let v = judge(&s, &spec);
        assert!(!v.recovered && v.stuck);
        assert_eq!(kinds(&v), [Stable, Overloaded, Recovering, Stuck]);
        // With the default hold the same blip counts.
        let v = judge(&s, &RecoverySpec::default());
        assert!(v.recovered && v.stuck);
        assert_eq!(kinds(&v), [Stable, Overloaded, Recovering, Stuck, Stable, Stuck]);
    }

    #[test]
    fn a_late_recovery_shows_stuck_then_stable() {
        let s = series(240, |t| if t > 60.0 && t <= 170.0 { (10.0, 3.0) } else { GOOD });
        let v = judge(&s, &RecoverySpec::default());
        assert!(v.recovered && !v.stuck);
        assert!((v.recovery_s.unwrap() - 90.0).abs() <= 1.0, "{:?}", v.recovery_s);
        assert_eq!(kinds(&v), [Stable, Overloaded, Recovering, Stuck, Stable]);
    }

    #[test]
    fn no_baseline_is_an_error() {
        let s = series(240, |_| GOOD);
        let spec = RecoverySpec::default();
        let at = |start: f64, end: f64| verdict(&s, Trigger { start, end }, &spec);
        assert_eq!(at(0.0, 20.0), Err(NoBaseline::Empty));
        assert_eq!(at(5.0, 20.0), Err(NoBaseline::Empty)); // within the warm-up window
        assert_eq!(at(f64::NAN, 20.0), Err(NoBaseline::BadTrigger));
        assert_eq!(at(30.0, 20.0), Err(NoBaseline::BadTrigger));
        assert_eq!(verdict(&[], TRIGGER, &spec), Err(NoBaseline::NoSamples));
        let idle = series(240, |t| if t <= 60.0 { (0.0, 0.0) } else { GOOD });
        assert_eq!(verdict(&idle, TRIGGER, &spec), Err(NoBaseline::Idle));
        let bad = RecoverySpec { baseline: Some((50.0, 40.0)), ..spec.clone() };
        assert_eq!(verdict(&s, TRIGGER, &bad), Err(NoBaseline::Empty));
        // An explicit baseline window may start at the run's start.
        let early = RecoverySpec { baseline: Some((0.0, 5.0)), ..spec };
        assert!(verdict(&s, Trigger { start: 5.0, end: 20.0 }, &early).is_ok());
        assert!(!NoBaseline::Empty.to_string().is_empty());
    }

    #[test]
    fn unsorted_and_broken_samples_give_the_same_verdict() {
        let s = series(240, |t| if t > 60.0 && t <= 85.0 { (20.0, 1.0) } else { GOOD });
        let clean = judge(&s, &RecoverySpec::default());
        let mut messy: Vec<Sample> = s.iter().rev().copied().collect();
        messy.push(Sample { t: f64::NAN, span: 1.0, goodput: 1e300, p99: 1.0, offered: 0.0 });
        messy.push(Sample { t: 50.5, span: -1.0, goodput: 0.0, p99: 0.0, offered: 0.0 });
        messy.push(Sample { t: 50.5, span: f64::NAN, goodput: 0.0, p99: 0.0, offered: 0.0 });
        assert_eq!(verdict(&messy, TRIGGER, &RecoverySpec::default()), Ok(clean));
    }

    #[test]
    fn garbage_never_panics() {
        let odd = [0.0, -1.0, 1e300, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.0];
        let samples: Vec<Sample> = (0..odd.len().pow(3))
            .map(|k| Sample {
                t: odd[k % 7],
                span: odd[(k / 7) % 7],
                goodput: odd[(k / 49) % 7],
                p99: odd[k % 5],
                offered: odd[k % 3],
            })
            .collect();
        for &x in &odd {
            let spec = RecoverySpec { tolerance: x, window: x, hold: Some(x), baseline: Some((x, 1.0)) };
            for &y in &odd {
                let _ = verdict(&samples, Trigger { start: x, end: y }, &spec);
                let _ = regimes_live(&samples, Trigger { start: y, end: x }, &RecoverySpec::default(), y);
            }
        }
    }

    #[test]
    fn live_labels_settle_once_a_window_and_a_hold_have_passed() {
        let spec = RecoverySpec { hold: Some(15.0), ..RecoverySpec::default() };
        let runs = [
            series(240, |t| if t > 60.0 && t <= 85.0 { (20.0, 1.0) } else { GOOD }),
            series(240, |t| if t > 60.0 && t <= 170.0 { (10.0, 3.0) } else { GOOD }),
            series(240, |t| if t > 60.0 && !(150.0..=162.0).contains(&t) { (10.0, 3.0) } else { GOOD }),
        ];
        for s in &runs {
            let last = verdict(s, TRIGGER, &spec).unwrap().regimes;
            for now in (60..=240).step_by(7).map(f64::from) {
                let live = regimes_live(s, TRIGGER, &spec, now).unwrap();
                let settled = now - spec.window() - spec.hold();
                for t in (1..=240).map(f64::from).filter(|&t| t <= settled) {
                    assert_eq!(regime_at(&live, t), regime_at(&last, t), "t = {t}, now = {now}");
                }
            }
        }
    }

    #[test]
    fn the_spec_reads_with_defaults_and_round_trips() {
        let spec: RecoverySpec = serde_json::from_str("{}").unwrap();
        assert_eq!(spec, RecoverySpec::default());
        assert_eq!(spec.hold(), 10.0);
        let spec: RecoverySpec = serde_json::from_str(r#"{"window": 20}"#).unwrap();
        assert_eq!(spec.hold(), 20.0); // the hold follows the window
        let spec = RecoverySpec { tolerance: 0.2, window: 5.0, hold: Some(30.0), baseline: Some((10.0, 50.0)) };
        let back: RecoverySpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
        assert!(serde_json::from_str::<RecoverySpec>(r#"{"tolerence": 0.2}"#).is_err());
        let bad = RecoverySpec { tolerance: f64::NAN, window: -1.0, hold: Some(f64::INFINITY), baseline: None };
        assert_eq!((bad.tolerance(), bad.window(), bad.hold()), (0.1, 10.0, 10.0));
        let v = judge(&series(100, |_| GOOD), &RecoverySpec::default());
        let json = serde_json::to_string(&v).unwrap();
        assert!(json.contains(r#""regime":"stable""#), "{json}");
    }
}
