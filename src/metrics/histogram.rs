//! Histograms of nanosecond durations, recorded on the engine's hot path.
//!
//! * [`LatencyHistogram`]: run totals (latency and wait quantiles in the report), in exactly the
//!   bucket layout of an `hdrhistogram::Histogram` at 2 significant digits; the report turns it
//!   into that histogram ([`LatencyHistogram::to_hdr`]) and reads quantiles there.
//! * [`WindowHistogram`]: coarse per-interval quantiles for the time series, cleared every sample.
//!
//! Why record outside `hdrhistogram`: its `record` serves every count type, auto-resizing,
//! saturation and min/max tracking, about 60 instructions a value, and a customer of a plain run
//! records three durations (a tenth of `sluice bench`'s time). Here a record is a leading-zero
//! count, a shift and an add. Statistics still come from `hdrhistogram`, bucket for bucket the
//! same as if every value had been recorded there (tested below).

use hdrhistogram::Histogram;

/// Highest duration the histograms are asked to resolve (one hour).
pub const MAX_TRACKED: u64 = 3_600_000_000_000;

/// The first value past `hdrhistogram`'s last bucket for [`MAX_TRACKED`] (the buckets end at a
/// power of two); `Histogram::saturating_record` clamps values from here on to `MAX_TRACKED`.
const PAST_LAST_BUCKET: u64 = 1 << 42;

/// `hdrhistogram`'s layout for 2 significant digits and a lowest value of 1: 256 sub-buckets, of
/// which each power of two above the first uses the upper half (128).
const SUB_HALF_MAGNITUDE: u32 = 7;
const SUB_HALF: usize = 1 << SUB_HALF_MAGNITUDE;
const SUB_MASK: u64 = (1 << (SUB_HALF_MAGNITUDE + 1)) - 1;
const LEADING_ZERO_BASE: u32 = 64 - (SUB_HALF_MAGNITUDE + 1);

/// An empty `hdrhistogram` over 1..=[`MAX_TRACKED`] ns at 2 significant digits.
pub fn hdr() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED, 2).expect("static histogram bounds are valid")
}

/// Run-total durations: counts in `hdrhistogram`'s bucket layout (see the module doc).
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    counts: Box<[u64]>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self { counts: vec![0; Self::index(PAST_LAST_BUCKET - 1) + 1].into_boxed_slice(), total: 0 }
    }
}

impl LatencyHistogram {
    /// The bucket of `v` (< [`PAST_LAST_BUCKET`]), as `hdrhistogram` computes it.
    #[inline]
    fn index(v: u64) -> usize {
        let bucket = LEADING_ZERO_BASE - (v | SUB_MASK).leading_zeros();
        let sub = (v >> bucket) as usize;
        ((bucket as usize + 1) << SUB_HALF_MAGNITUDE) + sub - SUB_HALF
    }

    /// The lowest value of bucket `i`.
    fn lowest(i: usize) -> u64 {
        let bucket = (i >> SUB_HALF_MAGNITUDE) as u32;
        let sub = (i & (SUB_HALF - 1)) as u64;
        if bucket == 0 { sub } else { (sub + SUB_HALF as u64) << (bucket - 1) }
    }

    /// Records one duration in ns (0 counts as 1; saturating like `hdrhistogram`).
    #[inline]
    pub fn record(&mut self, v: u64) {
        let v = if v < PAST_LAST_BUCKET { v.max(1) } else { MAX_TRACKED };
        if let Some(c) = self.counts.get_mut(Self::index(v)) {
            *c += 1;
        }
        self.total += 1;
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Adds `other`'s values to these (a tenant's histogram from its classes').
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    /// The same counts as an `hdrhistogram::Histogram`, for its quantiles and other statistics.
    pub fn to_hdr(&self) -> Histogram<u64> {
        let mut h = hdr();
        for (i, &c) in self.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            h.saturating_record_n(Self::lowest(i), c);
        }
        h
    }
}

/// A small log-linear histogram for the per-interval quantiles of the time series: 8 linear
/// sub-buckets per power of two (relative error ≤ 6.25 %), 2 KiB, recorded with a few integer
/// operations. Totals use [`LatencyHistogram`] (2 significant digits); plots do not need that, and
/// the series histogram is reset at every sample, so it must be cheap to clear.
#[derive(Clone, Debug)]
pub struct WindowHistogram {
    counts: Box<[u32; 512]>,
    total: u64,
    /// The lowest and highest bucket holding a value: a sample reads and clears only those
    /// (two compares per value recorded; most windows hold a few values in a few buckets).
    lo: u16,
    hi: u16,
}

impl Default for WindowHistogram {
    fn default() -> Self {
        Self { counts: Box::new([0; 512]), total: 0, lo: 512, hi: 0 }
    }
}

impl WindowHistogram {
    #[inline]
    fn index(v: u64) -> usize {
        if v < 8 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros() as usize; // ≥ 3
        let m = ((v >> (e - 3)) & 7) as usize;
        8 + (e - 3) * 8 + m
    }

    /// The midpoint of bucket `i`.
    fn value(i: usize) -> u64 {
        if i < 8 {
            return i as u64;
        }
        let e = (i - 8) / 8 + 3;
        let m = ((i - 8) % 8) as u64;
        let low = (8 + m) << (e - 3);
        low + (1u64 << (e - 3)) / 2
    }

    #[inline]
    pub fn record(&mut self, v: u64) {
        let i = Self::index(v);
        self.counts[i] += 1;
        self.total += 1;
        self.lo = self.lo.min(i as u16);
        self.hi = self.hi.max(i as u16);
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// [`WindowHistogram::quantiles`], then empties the histogram: the series' sample. Only
    /// the buckets between the lowest and the highest value are read and zeroed, so a window
    /// with few values costs little however wide the range of latencies.
    pub fn take_quantiles<const N: usize>(&mut self, qs: [f64; N]) -> [u64; N] {
        let out = self.quantiles(qs);
        self.clear();
        out
    }

    /// The values at the quantiles `qs` (ascending), in one pass over the used buckets.
    pub fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [u64; N] {
        let ranks = qs.map(|q| ((q * self.total as f64).ceil() as u64).clamp(1, self.total.max(1)));
        let mut out = [0; N];
        if self.total == 0 {
            return out;
        }
        let (lo, hi) = (usize::from(self.lo), usize::from(self.hi));
        let mut k = 0;
        let mut seen = 0u64;
        for (i, c) in self.counts[lo..=hi].iter().enumerate() {
            seen += u64::from(*c);
            while k < N && seen >= ranks[k] {
                out[k] = Self::value(lo + i);
                k += 1;
            }
            if k == N {
                break;
            }
        }
        out
    }

    /// Empties the histogram.
    pub fn clear(&mut self) {
        if self.total > 0 {
            self.counts[usize::from(self.lo)..=usize::from(self.hi)].fill(0);
            self.total = 0;
            (self.lo, self.hi) = (512, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value lands in the bucket `hdrhistogram` would use, so the rebuilt histogram answers
    /// every quantile, the minimum and the maximum exactly as recording there directly would.
    #[test]
    fn matches_hdrhistogram_bucket_for_bucket() {
        use rand::{RngExt as _, SeedableRng};
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(11);
        let mut ours = LatencyHistogram::default();
        let mut theirs = hdr();
        let edges = (0..64).flat_map(|e| {
            let p = 1u64 << e;
            [p - 1, p, p + 1]
        });
        let random = (0..200_000).map(|_| {
            // Log-uniform over the whole range, plus values past the top (saturated).
            let e = rng.random_range(0.0..44.0f64);
            2f64.powf(e) as u64
        });
        for v in edges.chain(random).chain([0, MAX_TRACKED, MAX_TRACKED + 1, u64::MAX]) {
            ours.record(v);
            theirs.saturating_record(v.max(1));
        }
        let rebuilt = ours.to_hdr();
        assert_eq!(ours.len(), theirs.len());
        assert_eq!(rebuilt.len(), theirs.len());
        assert_eq!((rebuilt.min(), rebuilt.max()), (theirs.min(), theirs.max()));
        for q in [0.0, 0.001, 0.1, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0] {
            assert_eq!(rebuilt.value_at_quantile(q), theirs.value_at_quantile(q), "q = {q}");
        }
        let buckets = |h: &Histogram<u64>| {
            h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect::<Vec<_>>()
        };
        assert_eq!(buckets(&rebuilt), buckets(&theirs));
    }

    #[test]
    fn bucket_bounds_round_trip() {
        assert_eq!(LatencyHistogram::default().counts.len(), 4608, "hdrhistogram's counts length");
        for i in 0..LatencyHistogram::default().counts.len() {
            assert_eq!(LatencyHistogram::index(LatencyHistogram::lowest(i)), i, "bucket {i}");
        }
    }

    #[test]
    fn window_histogram_quantiles_are_within_its_resolution() {
        let mut h = WindowHistogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let qs = [0.5, 0.95, 0.99];
        for (q, got) in qs.into_iter().zip(h.quantiles(qs)) {
            let exact = q * 10_000.0 * 1000.0;
            let got = got as f64;
            assert!((got - exact).abs() / exact < 0.07, "q{q}: {got} vs {exact}");
        }
        h.clear();
        assert!(h.is_empty());
        assert!(h.counts.iter().all(|c| *c == 0));
        // Taking the quantiles empties it with the same answer, and leaves every bucket zero.
        let values = [3u64, 900, 1_000_000, 7_000_000_000, 5, 900];
        for v in values {
            h.record(v);
        }
        let expected = h.quantiles(qs);
        assert_eq!(h.take_quantiles(qs), expected);
        assert!(h.is_empty() && h.counts.iter().all(|c| *c == 0));
    }
}
