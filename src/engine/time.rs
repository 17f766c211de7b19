//! Simulated time: integer nanoseconds.
//!
//! Every timestamp inside the engine is a [`Nanos`] (`u64` nanoseconds since the start of the run).
//! Floating point seconds exist only at the edges (scenario files, reports, plots), converted
//! here in one place, so no rounding error can accumulate in the clock itself.

/// A point in simulated time or a span of it, in nanoseconds.
pub type Nanos = u64;

/// Nanoseconds per second.
pub const NANOS_PER_SEC: f64 = 1e9;

/// The longest time a scenario, `--until` or any duration may name: 9.2e9 s (about 292
/// years), just under 2^63 ns, so that sums of two in-range times cannot wrap and "never"
/// (`Nanos::MAX`) stays distinct from every real instant.
pub const MAX_SECONDS: f64 = 9.2e9;

/// The highest arrival rate the 1 ns clock can represent: one request per nanosecond.
pub const MAX_RATE: f64 = 1e9;

/// Converts seconds to nanoseconds, rounding to the nearest nanosecond.
///
/// Negative and NaN inputs become 0; values past the representable range saturate.
#[inline]
pub fn secs_to_nanos(secs: f64) -> Nanos {
    if secs.is_nan() || secs <= 0.0 {
        return 0;
    }
    // `x + 0.5` truncated is round-half-up for positive x, without a libm call in the hot loop.
    let ns = secs * NANOS_PER_SEC + 0.5;
    // Below 2^63 (292 years) the conversion through i64 is exact and compiles to one
    // instruction; a direct `as u64` needs a branchy fix-up for the top bit on x86-64.
    const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if ns >= I64_LIMIT { u64::MAX } else { ns as i64 as u64 }
}

/// Converts nanoseconds to seconds (for reports and plots only).
#[inline]
pub fn nanos_to_secs(ns: Nanos) -> f64 {
    ns as f64 / NANOS_PER_SEC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_and_saturate() {
        assert_eq!(secs_to_nanos(1.5), 1_500_000_000);
        assert_eq!(secs_to_nanos(-3.0), 0);
        assert_eq!(secs_to_nanos(f64::NAN), 0);
        assert_eq!(secs_to_nanos(1e30), u64::MAX);
        assert_eq!(secs_to_nanos(f64::INFINITY), u64::MAX);
        // Just below and above 2^63 ns (about 292 years).
        assert_eq!(secs_to_nanos(9.2e9), 9_200_000_000_000_000_000);
        assert_eq!(secs_to_nanos(9.3e9), u64::MAX);
        assert_eq!(secs_to_nanos(0.000_000_000_6), 1);
        assert_eq!(nanos_to_secs(2_500_000_000), 2.5);
    }
}
