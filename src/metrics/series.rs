//! Time series on a fixed sim-time step, with bounded memory.
//!
//! Each node keeps at most [`MAX_POINTS`] completed points, and the one still being merged. When
//! the buffer fills, neighbouring points are merged pairwise and the step doubles (counts add, averages average, maxima take the max,
//! quantiles take the count-weighted mean): an arbitrarily long run costs the same memory as a
//! short one, and the series still covers the whole run.
//!
//! A merged point is computed from integer sums that it carries (span, gauge areas, quantile
//! × count), so merging is exactly associative: `k` alike samples can be appended at once
//! ([`Series::push_repeat`]) with the same result, bit for bit, as `k` single pushes, in time
//! that does not grow with `k`. That is what keeps quiet stretches of a run cheap.

use serde::Serialize;

use crate::engine::time::{Nanos, nanos_to_secs};

/// Points kept per series before pairwise merging.
pub const MAX_POINTS: usize = 2048;

/// One sample interval of one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Point {
    /// End of the interval, seconds.
    pub t: f64,
    /// Interval length, seconds.
    pub span: f64,
    pub arrivals: u64,
    pub completed: u64,
    pub errors: u64,
    pub rejected: u64,
    pub dropped: u64,
    pub timed_out: u64,
    pub retries: u64,
    /// Latency quantiles of requests completed in the interval, seconds (0 if none).
    pub latency_p50: f64,
    pub latency_p95: f64,
    pub latency_p99: f64,
    /// Time-averaged queue length over the interval.
    pub queue_len: f64,
    pub queue_len_max: f64,
    /// Time-averaged busy workers and their share of the pool.
    pub busy: f64,
    pub utilization: f64,
    /// Requests inside the node at the end of the interval.
    pub in_system: f64,
    /// Breaker state of the node's outgoing edges: 0 closed, 1 half-open, 2 open (the worst
    /// of them, and for a merged point the worst sample it covers, so compaction never hides
    /// an open breaker).
    pub breaker: f64,
    /// The node's policy readings at the end of the interval (tokens, permits, loads, states as
    /// levels), in the order [`crate::station::Station::readings`] lists them (not in the CSV,
    /// whose columns are fixed).
    #[serde(skip)]
    pub readings: Readings,
    /// The exact sums merged points are computed from (not part of the CSV).
    #[serde(skip)]
    pub sums: Sums,
}

/// Most policy readings a point keeps per node.
pub const MAX_READINGS: usize = 8;

/// A node's policy readings at one instant (a fixed array, so points stay `Copy`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Readings {
    values: [f32; MAX_READINGS],
    len: u8,
}

impl Readings {
    /// Keeps up to [`MAX_READINGS`] values, in order.
    pub fn from_values(values: impl IntoIterator<Item = f64>) -> Self {
        let mut r = Readings::default();
        for v in values.into_iter().take(MAX_READINGS) {
            r.values[r.len as usize] = v as f32;
            r.len += 1;
        }
        r
    }

    /// The `i`-th reading, if the node had that many.
    pub fn get(&self, i: usize) -> Option<f64> {
        (i < self.len as usize).then(|| f64::from(self.values[i]))
    }
}

/// Integer sums behind a point: merging adds them, so merging is exactly associative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sums {
    /// End of the interval and its length, nanoseconds.
    pub t_ns: Nanos,
    pub span_ns: Nanos,
    /// ∫ value dt over the interval (value·ns) of queue length, busy and total workers.
    pub queue_area: u128,
    pub busy_area: u128,
    pub workers_area: u128,
    /// Σ quantile (ns) × completions, for p50, p95, p99.
    pub latency: [u128; 3],
}

impl Point {
    /// Requests per second completed OK.
    pub fn goodput(&self) -> f64 {
        if self.span > 0.0 { self.completed as f64 / self.span } else { 0.0 }
    }

    /// The point covering `a` then `b`: counts and sums; the averages are filled in by
    /// [`Point::derived`] when the point is stored (a point still being merged needs none).
    fn merge(a: &Point, b: &Point) -> Point {
        let add3 = |x: [u128; 3], y: [u128; 3]| [x[0] + y[0], x[1] + y[1], x[2] + y[2]];
        let sums = Sums {
            t_ns: b.sums.t_ns,
            span_ns: a.sums.span_ns + b.sums.span_ns,
            queue_area: a.sums.queue_area + b.sums.queue_area,
            busy_area: a.sums.busy_area + b.sums.busy_area,
            workers_area: a.sums.workers_area + b.sums.workers_area,
            latency: add3(a.sums.latency, b.sums.latency),
        };
        Point {
            arrivals: a.arrivals + b.arrivals,
            completed: a.completed + b.completed,
            errors: a.errors + b.errors,
            rejected: a.rejected + b.rejected,
            dropped: a.dropped + b.dropped,
            timed_out: a.timed_out + b.timed_out,
            retries: a.retries + b.retries,
            queue_len_max: a.queue_len_max.max(b.queue_len_max),
            in_system: b.in_system,
            breaker: a.breaker.max(b.breaker),
            readings: b.readings,
            t: b.t,
            sums,
            ..Point::default()
        }
    }

    /// `k` ≥ 2 copies of this raw point merged, the last one ending at `t_ns`: the same as
    /// merging them one by one (sums are integers); averages as in [`Point::merge`].
    fn repeated(&self, k: u64, t_ns: Nanos) -> Point {
        let (k64, k128) = (k, u128::from(k));
        let s = &self.sums;
        let sums = Sums {
            t_ns,
            span_ns: s.span_ns * k64,
            queue_area: s.queue_area * k128,
            busy_area: s.busy_area * k128,
            workers_area: s.workers_area * k128,
            latency: s.latency.map(|x| x * k128),
        };
        Point {
            arrivals: self.arrivals * k64,
            completed: self.completed * k64,
            errors: self.errors * k64,
            rejected: self.rejected * k64,
            dropped: self.dropped * k64,
            timed_out: self.timed_out * k64,
            retries: self.retries * k64,
            queue_len_max: self.queue_len_max,
            in_system: self.in_system,
            breaker: self.breaker,
            readings: self.readings,
            t: t_ns as f64 / 1e9,
            sums,
            ..Point::default()
        }
    }

    /// Fills the averaged fields of a merged point from its sums.
    fn derived(mut self) -> Point {
        let sums = self.sums;
        let n = self.completed as f64;
        let per_completion = |x: u128| if self.completed > 0 { to_f64(x) / n / 1e9 } else { 0.0 };
        let span = sums.span_ns as f64;
        let per_time = |x: u128| if sums.span_ns > 0 { to_f64(x) / span } else { 0.0 };
        self.t = sums.t_ns as f64 / 1e9;
        self.span = span / 1e9;
        [self.latency_p50, self.latency_p95, self.latency_p99] = sums.latency.map(per_completion);
        self.queue_len = per_time(sums.queue_area);
        self.busy = per_time(sums.busy_area);
        self.utilization = if sums.workers_area > 0 { to_f64(sums.busy_area) / to_f64(sums.workers_area) } else { 0.0 };
        self
    }
}

/// `x as f64`, through the one-instruction `u64` conversion when `x` fits (the same value:
/// both round the exact integer to the nearest double).
#[inline]
pub fn to_f64(x: u128) -> f64 {
    match u64::try_from(x) {
        Ok(x) => x as f64,
        Err(_) => x as f64,
    }
}

/// A bounded series of [`Point`]s.
#[derive(Clone, Debug)]
pub struct Series {
    /// Completed points, then (when `open`) the one still being merged, so the series always
    /// reaches the last sample.
    points: Vec<Point>,
    open: bool,
    /// Raw samples merged into one point (doubles at each compaction).
    factor: u32,
    pending: Option<Point>,
    pending_n: u32,
    base_step: Nanos,
}

impl Series {
    pub fn new(base_step: Nanos) -> Self {
        Self { points: Vec::new(), open: false, factor: 1, pending: None, pending_n: 0, base_step }
    }

    /// Appends one raw sample (covering one base step).
    pub fn push(&mut self, p: Point) {
        self.close_tail();
        let merged = match self.pending.take() {
            Some(prev) => Point::merge(&prev, &p),
            None => p,
        };
        self.pending_n += 1;
        if self.pending_n < self.factor {
            self.pending = Some(merged);
        } else {
            self.pending_n = 0;
            self.emit(merged);
        }
        self.open_tail();
    }

    /// Takes the open tail off before samples are added to it.
    fn close_tail(&mut self) {
        if std::mem::take(&mut self.open) {
            self.points.pop();
        }
    }

    /// Shows the point still being merged as the series' last, so the series covers every
    /// sample taken (its span says how much of a step it covers).
    fn open_tail(&mut self) {
        if let Some(p) = self.pending {
            self.points.push(p.derived());
            self.open = true;
        }
    }

    /// Appends `n` copies of the raw sample `p`, the i-th (from 0) ending at
    /// `first_t + i·step` ns: exactly what `n` calls of [`Series::push`] give, in time that
    /// grows with the points kept, not with `n`.
    pub fn push_repeat(&mut self, p: &Point, n: u64, first_t: Nanos, step: Nanos) {
        self.close_tail();
        let at = |i: u64| first_t + i * step;
        let mut done = 0;
        while done < n {
            let room = u64::from(self.factor - self.pending_n);
            let take = room.min(n - done);
            let last = at(done + take - 1);
            let block = if take == 1 {
                let mut one = *p;
                one.sums.t_ns = last;
                one.t = last as f64 / 1e9;
                one
            } else {
                p.repeated(take, last)
            };
            let merged = match self.pending.take() {
                Some(prev) => Point::merge(&prev, &block),
                None => block,
            };
            done += take;
            // `take ≤ room < 2^32`: the factor is a u32.
            self.pending_n += take as u32;
            if self.pending_n < self.factor {
                self.pending = Some(merged);
            } else {
                self.pending_n = 0;
                self.emit(merged);
            }
        }
        self.open_tail();
    }

    /// Stores a completed point, halving the buffer (and doubling the step) when it is full.
    fn emit(&mut self, merged: Point) {
        // A point that merged samples gets its averages now (decided before a compaction
        // doubles the factor).
        let merged = if self.factor > 1 { merged.derived() } else { merged };
        if self.points.len() == MAX_POINTS {
            // Compact, and let the point that found the buffer full open the first point of the
            // doubled step: it holds half of one, so the points stay on the doubled grid
            // (ending at whole multiples of the new step), not one old step off it.
            let half = self.factor;
            self.points = self
                .points
                .chunks(2)
                .map(|c| match c {
                    [a, b] => Point::merge(a, b).derived(),
                    [a] => *a,
                    _ => unreachable!("chunks(2) yields one or two items"),
                })
                .collect();
            self.factor = self.factor.saturating_mul(2);
            self.pending = Some(merged);
            self.pending_n = half;
            return;
        }
        self.points.push(merged);
    }

    /// Points, oldest first; the last may still be open (a shorter `span` than the step).
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Current step between points, seconds.
    pub fn step_secs(&self) -> f64 {
        nanos_to_secs(self.base_step) * f64::from(self.factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_bounded_and_totals_are_kept() {
        let mut s = Series::new(1_000_000_000);
        let n = MAX_POINTS * 5 + 3;
        for i in 0..n {
            let sums = Sums { t_ns: (i as u64 + 1) * 1_000_000_000, span_ns: 1_000_000_000, ..Sums::default() };
            s.push(Point { t: (i + 1) as f64, span: 1.0, arrivals: 2, sums, ..Point::default() });
        }
        assert!(s.points().len() <= MAX_POINTS + 1, "the completed points and the open one");
        let total: u64 = s.points().iter().map(|p| p.arrivals).sum();
        let covered: f64 = s.points().iter().map(|p| p.span).sum();
        // Every sample, the open tail included: the series reaches the last one.
        assert_eq!(total, 2 * n as u64);
        assert_eq!(covered, n as f64);
        assert_eq!(s.points().last().map(|p| p.t), Some(n as f64));
        assert!(s.step_secs() >= 4.0 && s.step_secs().log2().fract() == 0.0);
        // Completed points end on the grid of the current step.
        let step = s.step_secs();
        let (tail, done) = s.points().split_last().unwrap();
        assert!(done.iter().all(|p| p.t % step == 0.0 && p.span == step), "points off the {step} s grid");
        assert!(tail.span <= step);
    }

    #[test]
    fn a_compaction_keeps_the_grid_and_the_last_sample() {
        // The case found in review: 2 050 one-second samples used to end at 2 049 s, with points
        // ending at odd seconds after the first compaction.
        let mut s = Series::new(1_000_000_000);
        for i in 1..=2050u64 {
            let sums = Sums { t_ns: i * 1_000_000_000, span_ns: 1_000_000_000, ..Sums::default() };
            s.push(Point { t: i as f64, span: 1.0, arrivals: 1, sums, ..Point::default() });
        }
        let ends: Vec<f64> = s.points().iter().rev().take(3).map(|p| p.t).collect();
        assert_eq!(ends, [2050.0, 2048.0, 2046.0]);
        assert_eq!(s.points().iter().map(|p| p.arrivals).sum::<u64>(), 2050);
    }

    fn raw(t_ns: Nanos, arrivals: u64, completed: u64, queue: u64) -> Point {
        let step = 1_000_000_000;
        let sums = Sums {
            t_ns,
            span_ns: step,
            queue_area: u128::from(queue) * u128::from(step),
            busy_area: u128::from(step) / 3,
            workers_area: u128::from(step),
            latency: [u128::from(completed) * 7_000_000; 3],
        };
        Point {
            t: t_ns as f64 / 1e9,
            span: 1.0,
            arrivals,
            completed,
            queue_len: queue as f64,
            queue_len_max: queue as f64,
            in_system: queue as f64,
            sums,
            ..Point::default()
        }
    }

    #[test]
    fn repeated_pushes_in_bulk_equal_single_pushes_bit_for_bit() {
        let step = 1_000_000_000;
        for (before, quiet) in [(0, 5), (3, 1), (7, 2), (1, 4100), (5000, 123_457), (2047, 9000)] {
            let mut one = Series::new(step);
            let mut bulk = Series::new(step);
            for i in 0..before {
                let p = raw((i + 1) * step, i % 5, i % 3, i % 4);
                one.push(p);
                bulk.push(p);
            }
            let q = raw((before + 1) * step, 0, 0, 2);
            for i in 0..quiet {
                let mut p = q;
                p.sums.t_ns = (before + 1 + i) * step;
                p.t = p.sums.t_ns as f64 / 1e9;
                one.push(p);
            }
            bulk.push_repeat(&q, quiet, (before + 1) * step, step);
            // And something after, to flush the pending point the same way.
            for s in [&mut one, &mut bulk] {
                s.push(raw((before + quiet + 1) * step, 9, 9, 9));
            }
            assert_eq!(one.points(), bulk.points(), "{before} then {quiet} quiet");
            assert_eq!((one.factor, one.pending_n, one.pending), (bulk.factor, bulk.pending_n, bulk.pending));
        }
    }
}
