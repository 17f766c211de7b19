//! Time series on a fixed sim-time step, with bounded memory.
//!
//! Each node keeps at most [`MAX_POINTS`] points. When the buffer fills, neighbouring points are
//! merged pairwise and the step doubles (counts add, averages average, maxima take the max,
//! quantiles take the count-weighted mean): an arbitrarily long run costs the same memory as a
//! short one, and the series still covers the whole run.

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
}

impl Point {
    /// Requests per second completed OK.
    pub fn goodput(&self) -> f64 {
        if self.span > 0.0 { self.completed as f64 / self.span } else { 0.0 }
    }

    fn merge(a: &Point, b: &Point) -> Point {
        let n = (a.completed + b.completed) as f64;
        let wq = |x: f64, y: f64| {
            if n > 0.0 { (x * a.completed as f64 + y * b.completed as f64) / n } else { 0.0 }
        };
        let span = a.span + b.span;
        let wt = |x: f64, y: f64| if span > 0.0 { (x * a.span + y * b.span) / span } else { 0.0 };
        Point {
            t: b.t,
            span,
            arrivals: a.arrivals + b.arrivals,
            completed: a.completed + b.completed,
            errors: a.errors + b.errors,
            rejected: a.rejected + b.rejected,
            dropped: a.dropped + b.dropped,
            timed_out: a.timed_out + b.timed_out,
            retries: a.retries + b.retries,
            latency_p50: wq(a.latency_p50, b.latency_p50),
            latency_p95: wq(a.latency_p95, b.latency_p95),
            latency_p99: wq(a.latency_p99, b.latency_p99),
            queue_len: wt(a.queue_len, b.queue_len),
            queue_len_max: a.queue_len_max.max(b.queue_len_max),
            busy: wt(a.busy, b.busy),
            utilization: wt(a.utilization, b.utilization),
            in_system: b.in_system,
            breaker: a.breaker.max(b.breaker),
        }
    }
}

/// A bounded series of [`Point`]s.
#[derive(Clone, Debug)]
pub struct Series {
    points: Vec<Point>,
    /// Raw samples merged into one point (doubles at each compaction).
    factor: u32,
    pending: Option<Point>,
    pending_n: u32,
    base_step: Nanos,
}

impl Series {
    pub fn new(base_step: Nanos) -> Self {
        Self { points: Vec::new(), factor: 1, pending: None, pending_n: 0, base_step }
    }

    /// Appends one raw sample (covering one base step).
    pub fn push(&mut self, p: Point) {
        let merged = match self.pending.take() {
            Some(prev) => Point::merge(&prev, &p),
            None => p,
        };
        self.pending_n += 1;
        if self.pending_n < self.factor {
            self.pending = Some(merged);
            return;
        }
        self.pending_n = 0;
        if self.points.len() == MAX_POINTS {
            self.points = self
                .points
                .chunks(2)
                .map(|c| match c {
                    [a, b] => Point::merge(a, b),
                    [a] => *a,
                    _ => unreachable!("chunks(2) yields one or two items"),
                })
                .collect();
            self.factor *= 2;
        }
        self.points.push(merged);
    }

    /// Completed points, oldest first.
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
            s.push(Point { t: (i + 1) as f64, span: 1.0, arrivals: 2, ..Point::default() });
        }
        assert!(s.points().len() <= MAX_POINTS);
        let total: u64 = s.points().iter().map(|p| p.arrivals).sum();
        let covered: f64 = s.points().iter().map(|p| p.span).sum();
        // Everything except the samples still pending in the last partial point.
        assert_eq!(total as f64, covered * 2.0);
        assert!(covered > n as f64 - s.step_secs());
        assert!(s.step_secs() >= 4.0 && s.step_secs().log2().fract() == 0.0);
    }
}
