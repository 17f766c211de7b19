//! Warm-up removal by MSER-5 (capacity-and-experiments §3). A run starts empty and idle, so its
//! early output is biased; averaging it in pulls every replication's mean the same way, which
//! more replications do not fix. MSER (White 1997, "An effective truncation heuristic for bias
//! reduction in simulation output", Simulation 69(6); White, Cobb & Spratt 2000, "A comparison
//! of five steady-state truncation heuristics", Simulation 75(1)) truncates where the mean of
//! what is left is most precise: dropping a biased start removes spread faster than losing data
//! adds it.
//!
//! **The statistic.** Batch the series in means of 5 consecutive values, Ȳ₁ … Ȳₖ (an incomplete
//! last batch is dropped; batches of 5 smooth the noise that makes MSER-1 erratic). For d batches
//! dropped, with Ȳ(d) the mean of Ȳ_{d+1} … Ȳₖ,
//!
//! MSER(d) = Σ_{j=d+1}^{k} (Ȳⱼ − Ȳ(d))² / (k − d)²,
//!
//! the squared standard error of Ȳ(d) up to a constant.
//!
//! **Where to look, and when to distrust it.** Minimised over every d ≤ k − 2, MSER often lands
//! near the end, where a few batches agree by chance: on stationary noise of 200 values the
//! minimum is in the second half in about 25 % of series (measured with this module's tests'
//! generator, 1000 series), and the truncation then throws away most of a good run. Two
//! published remedies are combined:
//! - the truncation is the minimiser over the first half, d ≤ ⌊k/2⌋ (§3's statement of the rule;
//!   White & Robinson 2010, "The problem of the initial transient (again)", JoS 4), the smallest
//!   d on a tie, so a stationary or constant series keeps everything;
//! - `reliable` is Hoad, Robinson & Davies's check (2010, "Automating warm-up length estimation",
//!   JORS 61: the truncation point must lie in the first half, else the run is too short): false
//!   when the minimum over all candidates is lower beyond the half. That wider search leaves out
//!   the last 5 batches' values of the statistic (it stops at d = k − 6, or at ⌊k/2⌋ if that is
//!   later, and never past k − 2), as kim-convergence's `mser_m` does by default
//!   (`ignore_end_batch` = batch size) against the same end artefact: the false alarms on
//!   stationary noise fall to about 4 % at 200 values, 0.6 % at 500 and none at 2000.
//!
//! A flagged result still carries the first-half truncation; the caller decides whether to extend
//! the run or report the flag.
//!
//! **Cost.** One pass backwards over the batch means keeps the suffix's count, mean and sum of
//! squared deviations by Welford's update (the stable form of suffix sums: Σx² − m·x̄² would
//! cancel on a metric with a large mean), so the rule is O(n) with one Vec of k means.
//!
//! **Weights.** Only equal-weight values are handled: the sweep samples each metric over windows
//! of equal span, so every value already weighs the same. (A span-weighted MSER is not in the
//! references.)
//!
//! **Refusals.** A NaN or infinite value anywhere in the input gives `None`, as does a series
//! shorter than two batches: no truncation point is defensible, and skipping the value would
//! shift every batch after it. Batch means beyond 1e150 are divided by a power of two for the
//! pass (exact, and the minimiser does not depend on scale), so the choice stands; only the
//! reported statistic may overflow to +∞. Nothing panics.

use serde::Serialize;

/// The batch size of MSER-5.
pub const BATCH: usize = 5;

/// Batches at the end whose MSER values the reliability check ignores.
const END_BATCHES: usize = 5;

/// Where MSER-5 truncates a series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Truncation {
    /// Batches of [`BATCH`] values to drop from the start (at most half the batches).
    pub batches: usize,
    /// Raw values to drop: `BATCH · batches`.
    pub points: usize,
    /// MSER at that truncation (in the series' units squared).
    pub statistic: f64,
    /// False when MSER is lower somewhere in the second half (short of the last 5 batches) than
    /// anywhere in the first: the run is too short for its warm-up to be judged (Hoad, Robinson &
    /// Davies 2010).
    pub reliable: bool,
}

/// MSER-5 on `values`, equally weighted and in time order; `None` for fewer than `2·BATCH` values
/// or any non-finite value.
pub fn mser5(values: &[f64]) -> Option<Truncation> {
    if values.len() < 2 * BATCH || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let batch_mean = |c: &[f64]| {
        let m = c.iter().sum::<f64>() / BATCH as f64;
        // Near f64::MAX the sum can overflow where the mean cannot: scale by ⅛ (exact) first.
        if m.is_finite() { m } else { c.iter().map(|v| v * 0.125).sum::<f64>() / BATCH as f64 * 8.0 }
    };
    let mut means: Vec<f64> = values.chunks_exact(BATCH).map(batch_mean).collect();
    // Differences of means beyond 1e150 could overflow when squared: run the pass on means
    // divided by a power of two (exact, and the minimiser does not depend on scale).
    let largest = means.iter().fold(0.0_f64, |m, y| m.max(y.abs()));
    let scale = if largest > 1e150 { 2f64.powi((largest.log2().ceil() as i32).min(1023)) } else { 1.0 };
    if scale != 1.0 {
        means.iter_mut().for_each(|y| *y /= scale);
    }
    let k = means.len();
    let half = (k / 2).min(k - 2);
    let last = k.saturating_sub(END_BATCHES + 1).max(half).min(k - 2);

    // Backwards: after pushing means[d] the suffix is what remains when d batches are dropped.
    // Going backwards, `<=` hands a tie to the smaller d.
    let (mut count, mut mean, mut m2) = (0.0_f64, 0.0_f64, 0.0_f64);
    let mut first_half = (f64::INFINITY, 0);
    let mut second_half = f64::INFINITY;
    for d in (0..k).rev() {
        let y = means[d];
        count += 1.0;
        let delta = y - mean;
        mean += delta / count;
        m2 += delta * (y - mean);
        let stat = m2 / (count * count);
        if d <= half {
            if stat <= first_half.0 {
                first_half = (stat, d);
            }
        } else if d <= last && stat < second_half {
            second_half = stat;
        }
    }
    let (statistic, batches) = first_half;
    // A tie with the second half keeps the earlier d: still reliable.
    let reliable = second_half >= statistic;
    Some(Truncation { batches, points: BATCH * batches, statistic: statistic * scale * scale, reliable })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64 → uniform in [−1, 1): deterministic noise for the series below.
    fn noise(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
    }

    /// MSER(d) for every d by its definition, two-pass, O(k²).
    fn naive(values: &[f64]) -> Vec<f64> {
        let means: Vec<f64> = values.chunks_exact(BATCH).map(|c| c.iter().sum::<f64>() / BATCH as f64).collect();
        let k = means.len();
        (0..k - 1)
            .map(|d| {
                let rest = &means[d..];
                let m = rest.len() as f64;
                let mean = rest.iter().sum::<f64>() / m;
                rest.iter().map(|y| (y - mean) * (y - mean)).sum::<f64>() / (m * m)
            })
            .collect()
    }

    /// 40 values decaying from 10 to 1 (10^(1 − i/40)), then around 1; noise ±0.05.
    fn transient(seed: u64, len: usize) -> Vec<f64> {
        let mut e = noise(seed);
        (0..len).map(|i| if i < 40 { 10f64.powf(1.0 - i as f64 / 40.0) } else { 1.0 } + 0.05 * e()).collect()
    }

    #[test]
    fn finds_the_end_of_a_transient() {
        let series = transient(1, 200);
        let t = mser5(&series).unwrap();
        // The transient ends at value 40, batch 8.
        assert!((6..=10).contains(&t.batches) && t.points == 5 * t.batches, "{t:?}");
        let kept = &series[t.points..];
        assert!((kept.iter().sum::<f64>() / kept.len() as f64 - 1.0).abs() < 0.01, "{t:?}");
        // (This run of 40 batches ends in a streak of eight low ones by chance: MSER is lower
        // there, and the check flags it. Over many seeds and longer runs:)
        let (mut near, mut reliable) = (0, 0);
        for seed in 0..200 {
            let t = mser5(&transient(seed, 500)).unwrap();
            near += usize::from((6..=10).contains(&t.batches));
            reliable += usize::from(t.reliable);
        }
        assert!(near >= 160 && reliable >= 195, "near {near}, reliable {reliable} of 200");
    }

    #[test]
    fn keeps_a_stationary_series() {
        let (mut short, mut reliable) = (0, 0);
        for seed in 0..200 {
            let mut e = noise(seed);
            let series: Vec<f64> = (0..500).map(|_| 3.0 + e()).collect();
            let t = mser5(&series).unwrap();
            short += usize::from(t.batches <= 5);
            reliable += usize::from(t.reliable);
        }
        assert!(short >= 180 && reliable >= 195, "≤ 5 batches {short}, reliable {reliable} of 200");
        let flat = mser5(&[4.2; 63]).unwrap();
        assert_eq!(flat, Truncation { batches: 0, points: 0, statistic: 0.0, reliable: true });
    }

    #[test]
    fn flags_a_run_too_short_for_its_warm_up() {
        // Still climbing at the end: MSER falls all the way, the first half's best is its edge.
        let ramp: Vec<f64> = (0..100).map(f64::from).collect();
        let t = mser5(&ramp).unwrap();
        assert_eq!((t.batches, t.reliable), (10, false));
        // Noisy for 70 % of the run, flat after it: MSER is 0 from batch 28 on.
        let mut e = noise(3);
        let settling: Vec<f64> = (0..200).map(|i| if i < 140 { 5.0 * e() } else { 0.0 }).collect();
        let t = mser5(&settling).unwrap();
        assert!(t.batches <= 20 && t.statistic > 0.0 && !t.reliable, "{t:?}");
        // The end artefact alone does not raise the flag: two equal final batches give MSER 0
        // at d = k − 2, a candidate the check leaves out.
        let mut e = noise(4);
        let mut tail_tie: Vec<f64> = (0..100).map(|_| e()).collect();
        tail_tie[90..].fill(0.5);
        let t = mser5(&tail_tie).unwrap();
        assert!(t.reliable, "{t:?}");
    }

    #[test]
    fn refuses_what_it_cannot_judge() {
        assert_eq!(mser5(&[]), None);
        assert_eq!(mser5(&[1.0; 9]), None);
        let two = mser5(&[1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 7.0]).unwrap();
        assert_eq!((two.batches, two.statistic, two.reliable), (0, 0.5 / 4.0, true));
        let mut series = vec![1.0; 50];
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            series[17] = bad;
            assert_eq!(mser5(&series), None);
        }
        // Huge but finite: the same choice as at a sane scale; only the statistic overflows.
        let mut e = noise(5);
        let sane: Vec<f64> = (0..300).map(|i| (-(i as f64) / 30.0).exp() + 0.1 * e()).collect();
        let huge: Vec<f64> = sane.iter().map(|v| v * 1e306).collect();
        let (t, h) = (mser5(&sane).unwrap(), mser5(&huge).unwrap());
        assert_eq!((h.batches, h.reliable, h.statistic), (t.batches, t.reliable, f64::INFINITY));
        let extreme: Vec<f64> = (0..50).map(|i| if i % 10 < 5 { f64::MAX } else { -f64::MAX }).collect();
        let x = mser5(&extreme).unwrap();
        assert!(x.batches <= 5 && !x.statistic.is_nan(), "{x:?}");
        assert_eq!(mser5(&[f64::MAX; 20]).unwrap().statistic, 0.0);
    }

    #[test]
    fn linear_pass_equals_the_definition() {
        for seed in 0..300u64 {
            let mut e = noise(seed);
            let len = 10 + (seed as usize * 37) % 600;
            // A random decaying bias of random length on random noise.
            let (bias, span) = (5.0 * e(), 1.0 + 100.0 * e().abs());
            let series: Vec<f64> = (0..len).map(|i| 50.0 + bias * (-(i as f64) / span).exp() + e()).collect();
            let t = mser5(&series).unwrap();
            let all = naive(&series);
            let k = series.len() / BATCH;
            let (half, last) = ((k / 2).min(k - 2), k.saturating_sub(6).max(k / 2).min(k - 2));
            let min = all[..=half].iter().copied().fold(f64::INFINITY, f64::min);
            let first = all.iter().position(|&s| s == min).unwrap();
            assert!((t.statistic - min).abs() <= 1e-12 * min.max(1e-300), "seed {seed}");
            // The same d, or one whose definition-value ties the minimum to rounding.
            assert!(t.batches == first || (all[t.batches] - min).abs() <= 1e-12 * min, "seed {seed}");
            let beyond = all[half + 1..=last.max(half)].iter().copied().fold(f64::INFINITY, f64::min);
            if (beyond - min).abs() > 1e-12 * min {
                assert_eq!(t.reliable, beyond > min, "seed {seed}");
            }
        }
    }
}
