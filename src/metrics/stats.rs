//! Per-node statistics: counters, time-weighted gauges and latency histograms.
//!
//! Counting rules (they make conservation exact, see `tests/integration/conservation.rs`):
//! * a request is *counted* at a node if it arrived there after the warm-up;
//! * every counted request gets exactly one terminal label at that node, the first that
//!   applies: completed, errors, rejected, dropped, timed_out (its caller gave up first);
//! * so at any instant `arrivals = completed + errors + rejected + dropped + timed_out +
//!   in_system`, where `in_system` counts the counted, unlabelled requests still inside.
//!
//! Work that finishes after its caller gave up is also counted as `abandoned`; work removed by
//! cancellation as `cancelled`. Gauges (queue length, busy workers, requests inside) are
//! integrated over time from the warm-up on; means divide by the measured span.

use super::histogram::{LatencyHistogram, WindowHistogram};
use super::series::{Point, Readings, Series, Sums};
use crate::engine::time::Nanos;
use bevy::ecs::component::Component;

/// A value integrated over simulated time (queue length, busy workers…).
#[derive(Clone, Debug, Default)]
pub struct Gauge {
    pub value: u64,
    last: Nanos,
    /// ∫ value dt from the warm-up, in value·ns.
    pub area: u128,
    /// Maximum since the warm-up.
    pub max: u64,
    /// `area` at the start of the current series window, and max within it.
    window_area: u128,
    pub window_max: u64,
}

impl Gauge {
    /// Sets the value at `now`, accumulating the area under the old value.
    #[inline]
    pub fn set(&mut self, now: Nanos, warmup: Nanos, value: u64) {
        // Integration is lazy: an unchanged value accumulates on the next change or sample.
        if value == self.value {
            return;
        }
        if self.last >= warmup {
            // The hot path: after the warm-up the held value is already in both maxima (it was
            // set or sampled after the warm-up), so only the new value can raise them.
            self.area += u128::from(self.value) * u128::from(now.saturating_sub(self.last));
            self.last = self.last.max(now);
            self.value = value;
            self.max = self.max.max(value);
            self.window_max = self.window_max.max(value);
            return;
        }
        self.advance(now, warmup);
        self.value = value;
        if now >= warmup {
            self.max = self.max.max(value);
            self.window_max = self.window_max.max(value);
        }
    }

    /// Accumulates area up to `now` without changing the value.
    #[inline]
    pub fn advance(&mut self, now: Nanos, warmup: Nanos) {
        let from = self.last.max(warmup);
        if now > from {
            self.area += u128::from(self.value) * u128::from(now - from);
        }
        if now >= warmup {
            // The value held once measuring starts counts for the maximum even if it was set
            // before the warm-up ended (and `set` relies on it from then on).
            self.max = self.max.max(self.value);
        }
        self.last = self.last.max(now);
    }

    /// Mean over [warmup, now], without changing the gauge.
    pub fn mean_until(&self, now: Nanos, warmup: Nanos) -> f64 {
        let from = self.last.max(warmup);
        let tail = if now > from { u128::from(self.value) * u128::from(now - from) } else { 0 };
        let span = now.saturating_sub(warmup);
        if span == 0 { self.value as f64 } else { (self.area + tail) as f64 / span as f64 }
    }

    /// Mean over the current window, its area and its maximum, and starts a new window.
    fn take_window(&mut self, span: Nanos) -> (f64, u128, u64) {
        let area = self.area - self.window_area;
        self.window_area = self.area;
        let max = self.window_max.max(self.value);
        self.window_max = self.value;
        let mean = if span == 0 { self.value as f64 } else { super::series::to_f64(area) / span as f64 };
        (mean, area, max)
    }
}

/// The seven totals every node, class, tenant and series point has: declared once here, and
/// embedded (flattened, so the JSON keys stay where they were) in [`Counters`] and the reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub arrivals: u64,
    pub completed: u64,
    pub errors: u64,
    pub rejected: u64,
    pub dropped: u64,
    pub timed_out: u64,
    /// Arrivals that were retry attempts (at a source: retries it issued).
    pub retries: u64,
}

impl Totals {
    /// Sum of terminal labels.
    pub fn labelled(&self) -> u64 {
        self.completed + self.errors + self.rejected + self.dropped + self.timed_out
    }
}

impl std::ops::Sub for Totals {
    type Output = Totals;

    /// What happened between two readings of the same totals (a series window).
    fn sub(self, o: Totals) -> Totals {
        Totals {
            arrivals: self.arrivals - o.arrivals,
            completed: self.completed - o.completed,
            errors: self.errors - o.errors,
            rejected: self.rejected - o.rejected,
            dropped: self.dropped - o.dropped,
            timed_out: self.timed_out - o.timed_out,
            retries: self.retries - o.retries,
        }
    }
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, o: Totals) {
        self.arrivals += o.arrivals;
        self.completed += o.completed;
        self.errors += o.errors;
        self.rejected += o.rejected;
        self.dropped += o.dropped;
        self.timed_out += o.timed_out;
        self.retries += o.retries;
    }
}

/// Terminal labels and other totals of one node (or one class at a node). The seven
/// [`Totals`] are reached as fields through `Deref` (`counters.completed`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    #[serde(flatten)]
    pub totals: Totals,
    /// Work finished after the caller had given up.
    pub abandoned: u64,
    /// Work removed because the caller cancelled it.
    pub cancelled: u64,
    /// Requests served the cheaper degraded response (counted when their service starts; a
    /// degraded success is also `completed`).
    pub degraded: u64,
    /// Completions past the deadline the request's origin set, whether the node knew it or not
    /// (successes that were no use: goodput is `completed − late`).
    pub late: u64,
    /// Requests dropped because their propagated deadline had passed, before work started or
    /// before a downstream call (whether or not the caller had already given up, in which case
    /// the request is labelled `timed_out` rather than refused).
    pub deadline_dropped: u64,
    /// Executions of a logical request this node had already started (a retry after a timeout
    /// whose original also ran: a duplicate charge).
    pub duplicates: u64,
    /// Repeated requests answered from their stored result by an idempotency key.
    pub replayed: u64,
    /// Rejections by reason (they add up to `rejected`).
    pub rejected_by: Rejections,
}

impl std::ops::Deref for Counters {
    type Target = Totals;
    fn deref(&self) -> &Totals {
        &self.totals
    }
}

impl std::ops::DerefMut for Counters {
    fn deref_mut(&mut self) -> &mut Totals {
        &mut self.totals
    }
}

impl std::ops::AddAssign for Counters {
    /// Sums two sets of counters (a tenant's from its classes').
    fn add_assign(&mut self, o: Counters) {
        let Counters {
            totals,
            abandoned,
            cancelled,
            degraded,
            late,
            deadline_dropped,
            duplicates,
            replayed,
            rejected_by,
        } = o;
        self.totals += totals;
        self.abandoned += abandoned;
        self.cancelled += cancelled;
        self.degraded += degraded;
        self.late += late;
        self.deadline_dropped += deadline_dropped;
        self.duplicates += duplicates;
        self.replayed += replayed;
        self.rejected_by += rejected_by;
    }
}

/// Rejections by reason: the counters themselves, reported as they are (`rejected_by`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rejections {
    pub queue_full: u64,
    pub down: u64,
    pub block_timeout: u64,
    pub breaker_open: u64,
    /// A source's request refused by the node it calls.
    pub downstream: u64,
    pub rate_limited: u64,
    pub admission: u64,
    pub shed: u64,
    pub concurrency_limit: u64,
    pub bulkhead_full: u64,
    pub codel: u64,
    pub deadline_expired: u64,
    pub throttled: u64,
    pub idempotency_conflict: u64,
    /// Over an adaptive concurrency limit (at a service, or on the caller's side of an edge).
    pub adaptive_limit: u64,
}

impl std::ops::AddAssign for Rejections {
    fn add_assign(&mut self, mut o: Rejections) {
        for reason in RejectReason::ALL {
            *self.counter(reason) += *o.counter(reason);
        }
    }
}

impl Rejections {
    /// Refusals for `reason`.
    pub fn of(&self, reason: RejectReason) -> u64 {
        *self.clone().counter(reason)
    }

    /// Refusals for every reason together (equal to the `rejected` they break down).
    pub fn total(&self) -> u64 {
        RejectReason::ALL.iter().map(|r| self.of(*r)).sum()
    }

    /// Counts one refusal for `reason`.
    pub fn count(&mut self, reason: RejectReason) {
        *self.counter(reason) += 1;
    }

    /// The counter of `reason`.
    fn counter(&mut self, reason: RejectReason) -> &mut u64 {
        match reason {
            RejectReason::QueueFull => &mut self.queue_full,
            RejectReason::Down => &mut self.down,
            RejectReason::BlockTimeout => &mut self.block_timeout,
            RejectReason::BreakerOpen => &mut self.breaker_open,
            RejectReason::Downstream => &mut self.downstream,
            RejectReason::RateLimited => &mut self.rate_limited,
            RejectReason::Admission => &mut self.admission,
            RejectReason::Shed => &mut self.shed,
            RejectReason::ConcurrencyLimit => &mut self.concurrency_limit,
            RejectReason::BulkheadFull => &mut self.bulkhead_full,
            RejectReason::Codel => &mut self.codel,
            RejectReason::DeadlineExpired => &mut self.deadline_expired,
            RejectReason::Throttled => &mut self.throttled,
            RejectReason::IdempotencyConflict => &mut self.idempotency_conflict,
            RejectReason::AdaptiveLimit => &mut self.adaptive_limit,
        }
    }
}

/// Per-class statistics at a node.
#[derive(Clone, Debug, Default)]
pub struct ClassStats {
    pub counters: Counters,
    pub latency: LatencyHistogram,
    pub latency_sum: u128,
    pub wait: LatencyHistogram,
    pub wait_sum: u128,
}

impl ClassStats {
    /// Adds `other`'s statistics to these (a tenant's from its classes').
    pub fn merge(&mut self, other: &ClassStats) {
        self.counters += other.counters;
        self.latency.merge(&other.latency);
        self.latency_sum += other.latency_sum;
        self.wait.merge(&other.wait);
        self.wait_sum += other.wait_sum;
    }
}

/// The terminal label given to a request at a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    Completed,
    Error,
    Rejected(RejectReason),
    Dropped,
    TimedOut,
}

/// Why a request was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    QueueFull,
    Down,
    BlockTimeout,
    BreakerOpen,
    Downstream,
    /// Over a token-bucket rate limit (429).
    RateLimited,
    /// Refused by the entry gate (queue depth or response time above its threshold).
    Admission,
    /// Shed by priority load shedding.
    Shed,
    /// The node-wide concurrency limit was reached.
    ConcurrencyLimit,
    /// The class's bulkhead pool was exhausted.
    BulkheadFull,
    /// Dropped at dequeue by CoDel.
    Codel,
    /// Its propagated deadline had passed before work started (or before a downstream call).
    DeadlineExpired,
    /// Rejected locally by the caller's adaptive throttling (at a source: never sent).
    Throttled,
    /// Its idempotency key is being executed right now (409 Conflict).
    IdempotencyConflict,
    /// Over an adaptive concurrency limit (AIMD, Vegas, Gradient2, Envoy's gradient): at a
    /// service (503), or on the caller's side of an edge (never sent).
    AdaptiveLimit,
}

impl RejectReason {
    /// Every reason, in the report's order.
    pub const ALL: [RejectReason; 15] = [
        RejectReason::QueueFull,
        RejectReason::Down,
        RejectReason::BlockTimeout,
        RejectReason::BreakerOpen,
        RejectReason::Downstream,
        RejectReason::RateLimited,
        RejectReason::Admission,
        RejectReason::Shed,
        RejectReason::ConcurrencyLimit,
        RejectReason::BulkheadFull,
        RejectReason::Codel,
        RejectReason::DeadlineExpired,
        RejectReason::Throttled,
        RejectReason::IdempotencyConflict,
        RejectReason::AdaptiveLimit,
    ];
}

/// Statistics of one node (component).
#[derive(Component, Debug)]
pub struct NodeStats {
    pub counters: Counters,
    /// Counted requests inside the node without a label yet.
    pub in_system: u64,
    pub latency: LatencyHistogram,
    pub latency_sum: u128,
    pub wait: LatencyHistogram,
    pub wait_sum: u128,
    pub queue_len: Gauge,
    pub busy: Gauge,
    /// Worker pool size over time (utilization = busy area / workers area).
    pub workers: Gauge,
    pub inside: Gauge,
    /// Workers held by forwards blocked at the next node, and how long each was held.
    pub held: Gauge,
    pub blocked: LatencyHistogram,
    pub blocked_sum: u128,
    pub classes: Vec<ClassStats>,
    /// Counted arrivals by origin source (index in name order); empty at a source.
    pub by_origin: Vec<u64>,
    window_counters: Counters,
    window_latency: WindowHistogram,
    /// Worst breaker state (0 closed, 1 half-open, 2 open) entered since the last sample, so a
    /// breaker that opens and recovers between two samples still shows in the series.
    window_breaker: f64,
    pub series: Series,
    /// The last sample appended (what a quiet step repeats, see [`NodeStats::sample_quiet`]).
    last_point: Point,
}

impl NodeStats {
    pub fn new(classes: usize, sample_step: Nanos) -> Self {
        Self {
            counters: Counters::default(),
            in_system: 0,
            latency: LatencyHistogram::default(),
            latency_sum: 0,
            wait: LatencyHistogram::default(),
            wait_sum: 0,
            queue_len: Gauge::default(),
            busy: Gauge::default(),
            workers: Gauge::default(),
            inside: Gauge::default(),
            held: Gauge::default(),
            blocked: LatencyHistogram::default(),
            blocked_sum: 0,
            classes: (0..classes)
                .map(|_| ClassStats {
                    counters: Counters::default(),
                    latency: LatencyHistogram::default(),
                    latency_sum: 0,
                    wait: LatencyHistogram::default(),
                    wait_sum: 0,
                })
                .collect(),
            by_origin: Vec::new(),
            window_counters: Counters::default(),
            window_latency: WindowHistogram::default(),
            window_breaker: 0.0,
            series: Series::new(sample_step),
            last_point: Point::default(),
        }
    }

    /// A counted request arrived.
    #[inline]
    pub fn arrive(&mut self, class: u8, is_retry: bool) {
        self.counters.arrivals += 1;
        self.counters.retries += u64::from(is_retry);
        self.in_system += 1;
        // With a single class the class totals equal the node totals; skip the duplicate work.
        if self.classes.len() < 2 {
            return;
        }
        if let Some(c) = self.classes.get_mut(class as usize) {
            c.counters.arrivals += 1;
            c.counters.retries += u64::from(is_retry);
        }
    }

    /// A counted request serving source number `origin`'s logical request arrived (attempts
    /// per source along the call chain: the report's amplification).
    #[inline]
    pub fn arrived_from(&mut self, origin: u8) {
        if let Some(n) = self.by_origin.get_mut(origin as usize) {
            *n += 1;
        }
    }

    /// Gives a counted request its terminal label; `latency` is recorded for completions.
    #[inline(always)]
    pub fn label(&mut self, class: u8, label: Label, latency: Nanos) {
        self.in_system -= 1;
        // Completions are the hot path (two per customer in a plain run): kept inline, with
        // the per-class copy only when there is more than one class.
        if label == Label::Completed {
            self.counters.completed += 1;
            self.latency.record(latency);
            self.window_latency.record(latency);
            self.latency_sum += u128::from(latency);
            if self.classes.len() > 1
                && let Some(c) = self.classes.get_mut(class as usize)
            {
                c.counters.completed += 1;
                c.latency.record(latency);
                c.latency_sum += u128::from(latency);
            }
        } else {
            self.label_failure(class, label);
        }
    }

    /// The counters of a request that did not complete.
    #[inline(never)]
    fn label_failure(&mut self, class: u8, label: Label) {
        fn bump(c: &mut Counters, label: Label) {
            match label {
                Label::Completed => c.completed += 1,
                Label::Error => c.errors += 1,
                Label::Dropped => c.dropped += 1,
                Label::TimedOut => c.timed_out += 1,
                Label::Rejected(reason) => {
                    c.rejected += 1;
                    c.rejected_by.count(reason);
                }
            }
        }
        bump(&mut self.counters, label);
        if self.classes.len() > 1
            && let Some(c) = self.classes.get_mut(class as usize)
        {
            bump(&mut c.counters, label);
        }
    }

    /// Records the queueing delay of a counted request of `class` entering service.
    #[inline]
    pub fn record_wait(&mut self, class: u8, wait: Nanos) {
        self.wait.record(wait);
        self.wait_sum += u128::from(wait);
        if self.classes.len() > 1
            && let Some(c) = self.classes.get_mut(class as usize)
        {
            c.wait.record(wait);
            c.wait_sum += u128::from(wait);
        }
    }

    /// Records how long a worker of this node was held by a forward blocked downstream.
    pub fn record_blocked(&mut self, held: Nanos) {
        self.blocked.record(held);
        self.blocked_sum += u128::from(held);
    }

    /// One of the node's outgoing breakers entered `state` (0 closed, 1 half-open, 2 open).
    pub fn breaker_entered(&mut self, state: f64) {
        self.window_breaker = self.window_breaker.max(state);
    }

    /// Closes the series window ending at `now` (of length `span`) and appends a point;
    /// `breaker` is the worst state of the node's breakers now, `readings` its policies' state.
    pub fn sample(&mut self, now: Nanos, warmup: Nanos, span: Nanos, breaker: f64, readings: Readings) {
        let breaker = breaker.max(std::mem::take(&mut self.window_breaker));
        for g in [&mut self.queue_len, &mut self.busy, &mut self.workers, &mut self.inside] {
            g.advance(now, warmup);
        }
        let c = self.counters;
        let d = c.totals - self.window_counters.totals;
        self.window_counters = c;
        let (queue_len, queue_area, queue_len_max) = self.queue_len.take_window(span);
        let (busy, busy_area, _) = self.busy.take_window(span);
        let (workers, workers_area, _) = self.workers.take_window(span);
        let _ = self.inside.take_window(span);
        let [p50, p95, p99] =
            if self.window_latency.is_empty() { [0; 3] } else { self.window_latency.take_quantiles([0.5, 0.95, 0.99]) };
        let completed = d.completed;
        let sums = Sums {
            t_ns: now,
            span_ns: span,
            queue_area,
            busy_area,
            workers_area,
            latency: [p50, p95, p99].map(|q| u128::from(q) * u128::from(completed)),
        };
        let point = Point {
            t: now as f64 / 1e9,
            span: span as f64 / 1e9,
            // The point's seven columns are the totals' difference over the window (its own
            // fields, since the CSV writer cannot flatten a nested struct).
            arrivals: d.arrivals,
            completed: d.completed,
            errors: d.errors,
            rejected: d.rejected,
            dropped: d.dropped,
            timed_out: d.timed_out,
            retries: d.retries,
            latency_p50: p50 as f64 / 1e9,
            latency_p95: p95 as f64 / 1e9,
            latency_p99: p99 as f64 / 1e9,
            queue_len,
            queue_len_max: queue_len_max as f64,
            busy,
            utilization: if workers > 0.0 { busy / workers } else { 0.0 },
            in_system: self.inside.value as f64,
            breaker,
            readings,
            sums,
        };
        self.series.push(point);
        self.last_point = point;
    }

    /// Appends `n` samples after the one just taken at `last` (one every `step`), when no event
    /// and no change touched the node since it: each would repeat that sample (the windows are
    /// steady), so the gauges advance once and the series takes the copies in bulk.
    pub fn sample_quiet(&mut self, last: Nanos, n: u64, step: Nanos) {
        let end = last + n * step;
        for g in [&mut self.queue_len, &mut self.busy, &mut self.workers, &mut self.inside] {
            // Steady: the value held is the window's maximum; only the area grows.
            g.advance(end, 0);
            g.window_area = g.area;
        }
        let p = self.last_point;
        self.series.push_repeat(&p, n, last + step, step);
        self.last_point.sums.t_ns = end;
        self.last_point.t = end as f64 / 1e9;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_integrate_lazily_and_respect_the_warmup() {
        let mut g = Gauge::default();
        g.set(0, 10, 4); // before the warm-up: not counted
        g.set(5, 10, 4); // unchanged: nothing to do
        g.set(20, 10, 2); // 4 held over [10, 20]
        assert_eq!(g.mean_until(30, 10), (4.0 * 10.0 + 2.0 * 10.0) / 20.0);
        assert_eq!(g.max, 4, "a value set before the warm-up and held after it counts");
        // Sampled exactly at the warm-up, then lowered: the held value still counts.
        let mut g = Gauge::default();
        g.set(0, 10, 5);
        g.advance(10, 10);
        g.set(15, 10, 3);
        g.set(16, 10, 4);
        assert_eq!(g.max, 5);
        assert_eq!(g.mean_until(20, 10), (5.0 * 5.0 + 3.0 + 4.0 * 4.0) / 10.0);
    }
}
