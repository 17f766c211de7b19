//! CoDel ("Controlled Delay") as a service's queue discipline: the state machine of RFC 8289 §5
//! (the `dodequeue`, `dequeue` and `control_law` routines), with its defaults TARGET = 5 ms and
//! INTERVAL = 100 ms.
//!
//! CoDel looks only at how long the request it is about to serve has waited (its *sojourn
//! time*), and only when a worker takes it. A burst that drains within one INTERVAL passes
//! untouched. A standing queue, one whose sojourn time stays at or above TARGET for a whole
//! INTERVAL, is drained: CoDel drops one request, then one more at each instant of
//! `control_law(t, count) = t + INTERVAL / √count`, so the drop rate grows as √count until the
//! sojourn time falls below TARGET. A request dropped here is answered as refused with reason
//! `codel` by the engine; this file only decides.
//!
//! Translation from packets to requests:
//! - The RFC never drops while the queue holds at most one MTU (`bytes() <= maxpacket_`, counted
//!   after the dequeue). Here that is "at most one request left after this pop": a request is
//!   never dropped when at most one other is waiting, so CoDel never empties a queue and a
//!   dequeue that drops always ends by serving one.
//! - Times are integer nanoseconds. The RFC's `first_above_time == 0` ("not above") is an
//!   `Option`, so no instant, 0 included, is special.
//! - The RFC's `now - drop_next_` is signed (Linux compares with `codel_time_before`); an
//!   unsigned saturating difference gives the same answer to `< 16 * INTERVAL`, since a
//!   `drop_next` in the future reads as 0.
//!
//! There is no clock here: the engine passes `now` to every call, which keeps the discipline a
//! pure function of the sequence of calls (the determinism contract).

use serde::{Deserialize, Serialize};

use crate::engine::time::{MAX_SECONDS, Nanos, secs_to_nanos};
use crate::params::{Field, Params, Visitor};

/// The shortest INTERVAL the registry accepts, in seconds (1 µs).
///
/// An INTERVAL of 0 would leave no time for a burst to drain and make `control_law` a no-op;
/// below a microsecond `INTERVAL/√count` is a handful of nanoseconds, too coarse for the
/// √count law to mean anything.
pub const MIN_INTERVAL: f64 = 1e-6;

/// CoDel's two parameters (set as RFC 8289 §4.2–4.3 advise, defaults from §5.3), in seconds as
/// in the scenario file.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename = "Codel")]
pub struct CodelSpec {
    /// Acceptable standing queue delay (TARGET, 5 ms). A request that waited less never
    /// counts towards dropping.
    pub target: f64,
    /// How long the delay must stay at or above `target` before the first drop, and the base
    /// spacing of later drops (INTERVAL, 100 ms): on the order of a worst-case round trip.
    pub interval: f64,
}

impl Default for CodelSpec {
    /// RFC 8289 §5.3: TARGET = 5 ms, INTERVAL = 100 ms.
    fn default() -> Self {
        Self { target: 0.005, interval: 0.1 }
    }
}

impl Params for CodelSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field(
            "target",
            Field::Seconds(&mut self.target),
            "acceptable standing queue delay in seconds (RFC 8289 TARGET, 0.005)",
        );
        v.field(
            "interval",
            Field::Real(&mut self.interval, MIN_INTERVAL, MAX_SECONDS),
            "seconds above target before dropping, and the base drop spacing (RFC 8289 INTERVAL, 0.1)",
        );
    }
}

/// Counters for reports and plots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CodelStats {
    /// Requests dropped at dequeue (each answered as refused, reason `codel`).
    pub dropped: u64,
    /// Times CoDel entered its dropping state.
    pub drop_episodes: u64,
}

/// A snapshot of CoDel's state, for plots and node cards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CodelStatus {
    /// In the dropping state (RFC `dropping_`).
    pub dropping: bool,
    /// Drops of the current (or last) dropping state, the first one aside (RFC `count_`): the
    /// drop rate is √count per INTERVAL.
    pub count: u32,
    /// When the next drop is due, while dropping (RFC `drop_next_`).
    pub next_drop_at: Option<Nanos>,
    /// How long the last request taken from the queue (served or dropped) had waited.
    pub last_sojourn: Nanos,
}

/// CoDel's per-queue state (RFC 8289 §5.2). One per service queue; starts as `default()`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Codel {
    /// When the sojourn time, above TARGET since then, will have been so for a whole INTERVAL;
    /// `None` while it is below (the RFC's `first_above_time_ == 0`).
    first_above_time: Option<Nanos>,
    /// When the next drop is due while dropping; after a dropping state, when the one after
    /// its last drop would have been (used by the count-reuse rule).
    drop_next: Nanos,
    /// Drops since entering the dropping state, the first aside, plus the count it started from.
    count: u32,
    /// `count` as it was set on entering the last dropping state.
    lastcount: u32,
    dropping: bool,
    last_sojourn: Nanos,
    stats: CodelStats,
}

/// The RFC's `dodequeue_result`: the request popped, and whether its sojourn time has been at or
/// above TARGET for at least INTERVAL (and it is not the last but one).
struct Popped<T> {
    request: Option<T>,
    ok_to_drop: bool,
}

impl Codel {
    /// Takes the next request to serve, dropping those CoDel rejects on the way (RFC 8289 §5.5).
    ///
    /// Call it whenever a worker is free and the queue may hold requests; calling it on an empty
    /// queue is allowed and resets the "above target" clock, as in the RFC.
    ///
    /// - `pop` removes the oldest waiting request and returns it with the instant it was enqueued
    ///   and how many requests are left after the pop; `None` when the queue is empty.
    /// - `on_drop` receives each dropped request (the engine answers it as refused, `codel`).
    ///
    /// Returns the request to serve, `None` only if the queue was empty: a drop always leaves at
    /// least one request, which is served. Several requests can be dropped in one call when a
    /// long time has passed since the last dequeue (the RFC's `while` loop).
    #[must_use = "the returned request has left the queue and must be served"]
    pub fn dequeue<T>(
        &mut self,
        spec: &CodelSpec,
        now: Nanos,
        mut pop: impl FnMut() -> Option<(T, Nanos, usize)>,
        mut on_drop: impl FnMut(T),
    ) -> Option<T> {
        let target = secs_to_nanos(spec.target);
        // The registry keeps the interval ≥ 1 µs; `max(1)` only guards a spec built in code.
        let interval = secs_to_nanos(spec.interval).max(1);
        let mut head = self.do_dequeue(target, interval, now, &mut pop);

        if self.dropping {
            if !head.ok_to_drop {
                // Sojourn time below TARGET (or the queue is short): leave the dropping state.
                self.dropping = false;
            }
            // A long gap since the last dequeue can make several drops due at once.
            while self.dropping && now >= self.drop_next {
                self.discard(&mut head, &mut on_drop);
                self.count = self.count.saturating_add(1);
                head = self.do_dequeue(target, interval, now, &mut pop);
                if head.ok_to_drop {
                    self.drop_next = control_law(self.drop_next, self.count, interval);
                } else {
                    self.dropping = false;
                }
            }
        } else if head.ok_to_drop {
            // Above TARGET for a whole INTERVAL: drop one, serve the next, enter dropping.
            self.discard(&mut head, &mut on_drop);
            head = self.do_dequeue(target, interval, now, &mut pop);
            self.dropping = true;
            self.stats.drop_episodes = self.stats.drop_episodes.saturating_add(1);
            // If the queue went back above TARGET soon after the last dropping state, the drop
            // rate that controlled it then is a good start now (the Linux variant the RFC
            // adopts). `drop_next` is at most an INTERVAL past that state's last drop, so
            // `now - drop_next` approximates the time since it.
            let delta = self.count.saturating_sub(self.lastcount);
            let recent = now.saturating_sub(self.drop_next) < interval.saturating_mul(16);
            self.count = if delta > 1 && recent { delta } else { 1 };
            self.drop_next = control_law(now, self.count, interval);
            self.lastcount = self.count;
        }
        head.request
    }

    /// Tells CoDel the queue was emptied other than through [`Codel::dequeue`] (a crash, a
    /// sweep of expired requests): the same as a dequeue from an empty queue, which leaves the
    /// dropping state and resets the "above target" clock.
    pub fn on_empty(&mut self) {
        self.first_above_time = None;
        self.dropping = false;
    }

    /// The state, for plots and cards.
    pub fn status(&self) -> CodelStatus {
        CodelStatus {
            dropping: self.dropping,
            count: self.count,
            next_drop_at: self.dropping.then_some(self.drop_next),
            last_sojourn: self.last_sojourn,
        }
    }

    /// Counters since the start of the run.
    pub fn stats(&self) -> &CodelStats {
        &self.stats
    }

    /// The RFC's `dodequeue`: pops one request and decides whether it may be dropped.
    fn do_dequeue<T>(
        &mut self,
        target: Nanos,
        interval: Nanos,
        now: Nanos,
        pop: &mut impl FnMut() -> Option<(T, Nanos, usize)>,
    ) -> Popped<T> {
        let Some((request, enqueued_at, left)) = pop() else {
            // An empty queue cannot be above TARGET.
            self.first_above_time = None;
            return Popped { request: None, ok_to_drop: false };
        };
        let sojourn = now.saturating_sub(enqueued_at);
        self.last_sojourn = sojourn;
        let mut ok_to_drop = false;
        if sojourn < target || left <= 1 {
            // Went below (or too few to drop): stay below for at least an INTERVAL.
            self.first_above_time = None;
        } else {
            match self.first_above_time {
                // Just went above: if still above an INTERVAL from now, dropping is allowed.
                None => self.first_above_time = Some(now.saturating_add(interval)),
                Some(deadline) => ok_to_drop = now >= deadline,
            }
        }
        Popped { request: Some(request), ok_to_drop }
    }

    fn discard<T>(&mut self, head: &mut Popped<T>, on_drop: &mut impl FnMut(T)) {
        // `ok_to_drop` is only ever set together with a request, so this always finds one.
        if let Some(request) = head.request.take() {
            self.stats.dropped = self.stats.dropped.saturating_add(1);
            on_drop(request);
        }
    }
}

/// `t + interval / √count` (RFC 8289 §5.6), in nanoseconds.
///
/// The step is computed in `f64` and rounded to the nearest nanosecond, halves up: IEEE 754
/// division and square root are correctly rounded, so the result is the same on every platform.
/// The step is at least 1 ns, so that the drop schedule always moves forward, and the sum
/// saturates at `Nanos::MAX` ("never").
pub fn control_law(t: Nanos, count: u32, interval: Nanos) -> Nanos {
    let step = interval as f64 / f64::from(count.max(1)).sqrt();
    // `as` saturates (and is exact below 2^53 ns, 104 days).
    let step = (step + 0.5) as Nanos;
    t.saturating_add(step.max(1))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    const MS: Nanos = 1_000_000;
    const INTERVAL: Nanos = 100 * MS;

    /// A scripted waiting queue: (request id, enqueued at), oldest first, and what was dropped.
    #[derive(Default)]
    struct Script {
        codel: Codel,
        spec: CodelSpec,
        queue: VecDeque<(u32, Nanos)>,
        dropped: Vec<u32>,
        next_id: u32,
    }

    impl Script {
        /// Enqueues `n` requests at `at`.
        fn arrive(&mut self, n: u32, at: Nanos) {
            for _ in 0..n {
                self.queue.push_back((self.next_id, at));
                self.next_id += 1;
            }
        }

        /// What the engine does when a worker frees up at `now`.
        fn take(&mut self, now: Nanos) -> Option<u32> {
            let queue = &mut self.queue;
            let dropped = &mut self.dropped;
            self.codel.dequeue(
                &self.spec,
                now,
                || queue.pop_front().map(|(id, at)| (id, at, queue.len())),
                |id| dropped.push(id),
            )
        }

        fn drops_at(&mut self, now: Nanos) -> usize {
            let before = self.dropped.len();
            assert!(self.take(now).is_some(), "served nobody at {now}");
            self.dropped.len() - before
        }
    }

    #[test]
    fn control_law_steps_are_interval_over_root_count_rounded_to_the_nanosecond() {
        let steps: Vec<Nanos> = (1..=8).map(|count| control_law(0, count, INTERVAL)).collect();
        assert_eq!(
            steps,
            [100_000_000, 70_710_678, 57_735_027, 50_000_000, 44_721_360, 40_824_829, 37_796_447, 35_355_339]
        );
        assert_eq!(control_law(Nanos::MAX - 5, 1, INTERVAL), Nanos::MAX);
        // A step that would round to 0 still moves the schedule forward.
        assert_eq!(control_law(7, u32::MAX, 1), 8);
    }

    #[test]
    fn a_burst_that_drains_within_an_interval_is_never_dropped() {
        let mut s = Script::default();
        s.arrive(20, 0);
        // One request every 5 ms: all above TARGET from the first (5 ms ≥ 5 ms), so the first
        // drop could come at 105 ms, but the last is served at 100 ms.
        let served: Vec<u32> = (1..=20).filter_map(|k| s.take(k * 5 * MS)).collect();
        assert_eq!(served, (0..20).collect::<Vec<_>>());
        assert!(s.dropped.is_empty());
        assert!(!s.codel.status().dropping);
        assert_eq!(s.codel.stats(), &CodelStats::default());
    }

    #[test]
    fn a_standing_queue_is_dropped_from_first_above_plus_interval() {
        let mut s = Script::default();
        s.arrive(40, 0);
        // First seen above TARGET at 5 ms, so the first drop is due at 105 ms.
        for k in 1..=20 {
            assert_eq!(s.drops_at(k * 5 * MS), 0, "at {} ms", k * 5);
        }
        assert_eq!(s.take(105 * MS), Some(21), "request 20 dropped, 21 served");
        assert_eq!(s.dropped, [20]);
        let status = s.codel.status();
        assert!(status.dropping);
        assert_eq!(status.count, 1);
        assert_eq!(status.next_drop_at, Some(205 * MS));
        assert_eq!(status.last_sojourn, 105 * MS);
        assert_eq!(s.codel.stats(), &CodelStats { dropped: 1, drop_episodes: 1 });
    }

    #[test]
    fn successive_drops_follow_the_control_law() {
        let mut s = Script::default();
        s.arrive(1_000, 0);
        assert_eq!(s.drops_at(10 * MS), 0);
        assert_eq!(s.drops_at(110 * MS - 1), 0);
        assert_eq!(s.drops_at(110 * MS), 1);
        // Each drop is due exactly at the previous due time plus INTERVAL/√count.
        let mut due = 110 * MS;
        for (count, step) in [(1, 100_000_000), (2, 70_710_678), (3, 57_735_027), (4, 50_000_000), (5, 44_721_360)] {
            due += step;
            assert_eq!(s.codel.status().count, count);
            assert_eq!(s.codel.status().next_drop_at, Some(due));
            assert_eq!(s.drops_at(due - 1), 0, "one nanosecond early, count {count}");
            assert_eq!(s.drops_at(due), 1, "due, count {count}");
        }
        assert_eq!(s.codel.stats(), &CodelStats { dropped: 6, drop_episodes: 1 });
    }

    #[test]
    fn drops_overdue_after_a_long_gap_are_made_in_one_dequeue() {
        let mut s = Script::default();
        s.arrive(1_000, 0);
        let _ = s.take(10 * MS);
        assert_eq!(s.drops_at(110 * MS), 1);
        // Due at 210, 280.71, 338.45 and 388.45 ms; the next would be at 433.17 ms.
        assert_eq!(s.drops_at(400 * MS), 4);
        assert_eq!(s.codel.status().count, 5);
        assert_eq!(s.codel.status().next_drop_at, Some(433_167_065));
    }

    #[test]
    fn a_sojourn_below_target_ends_the_dropping_state() {
        let mut s = Script::default();
        s.arrive(3, 0);
        s.arrive(6, 108 * MS);
        assert_eq!(s.take(10 * MS), Some(0));
        assert_eq!(s.take(110 * MS), Some(2));
        assert_eq!(s.dropped, [1]);
        assert!(s.codel.status().dropping);
        // Request 3 waited 3 ms < TARGET: leave dropping, and the clock starts over.
        assert_eq!(s.take(111 * MS), Some(3));
        assert!(!s.codel.status().dropping);
        assert_eq!(s.codel.status().next_drop_at, None);
        // Above TARGET again at 200 ms, but for less than an INTERVAL: no drop.
        assert_eq!(s.take(200 * MS), Some(4));
        assert_eq!(s.take(299 * MS), Some(5));
        assert_eq!(s.dropped, [1]);
    }

    /// A dropping state that ends with count 5 (lastcount 1) and the next drop due at
    /// 433.167065 ms, then a standing queue whose first drop is due at `reentry`.
    fn reenter_dropping_at(reentry: Nanos) -> Script {
        let mut s = Script::default();
        s.arrive(1_000, 0);
        let _ = s.take(10 * MS);
        assert_eq!(s.drops_at(110 * MS), 1);
        assert_eq!(s.drops_at(400 * MS), 4);
        assert_eq!(s.codel.status().count, 5);
        s.queue.clear();
        s.arrive(1, 449 * MS);
        s.arrive(1_000, reentry - INTERVAL - 10 * MS);
        assert_eq!(s.drops_at(450 * MS), 0);
        assert!(!s.codel.status().dropping);
        assert_eq!(s.drops_at(reentry - INTERVAL), 0);
        assert_eq!(s.drops_at(reentry - 1), 0);
        assert_eq!(s.drops_at(reentry), 1);
        s
    }

    #[test]
    fn count_is_reused_when_dropping_resumes_within_sixteen_intervals() {
        const LAST_DROP_NEXT: Nanos = 433_167_065;
        // now − drop_next just under 16·INTERVAL: count = delta = 5 − 1 = 4, next in INTERVAL/2.
        let s = reenter_dropping_at(LAST_DROP_NEXT + 16 * INTERVAL - 1);
        let status = s.codel.status();
        assert_eq!(status.count, 4);
        assert_eq!(status.next_drop_at, Some(LAST_DROP_NEXT + 16 * INTERVAL - 1 + 50 * MS));
        // Exactly 16·INTERVAL: too long ago, start again from 1.
        let s = reenter_dropping_at(LAST_DROP_NEXT + 16 * INTERVAL);
        let status = s.codel.status();
        assert_eq!(status.count, 1);
        assert_eq!(status.next_drop_at, Some(LAST_DROP_NEXT + 16 * INTERVAL + INTERVAL));
        assert_eq!(s.codel.stats().drop_episodes, 2);
    }

    /// A dropping state that made one drop after its first (delta = 1) gives the next no head start.
    #[test]
    fn a_short_dropping_state_starts_the_next_from_one() {
        let mut s = Script::default();
        s.arrive(1_000, 0);
        let _ = s.take(10 * MS);
        assert_eq!(s.drops_at(110 * MS), 1);
        assert_eq!(s.drops_at(210 * MS), 1);
        assert_eq!(s.codel.status().count, 2);
        s.codel.on_empty();
        let _ = s.take(220 * MS);
        assert_eq!(s.drops_at(320 * MS), 1);
        assert_eq!(s.codel.status().count, 1);
    }

    #[test]
    fn the_last_request_is_never_dropped() {
        let mut s = Script::default();
        s.arrive(2, 0);
        // However old, a request with at most one behind it is served.
        assert_eq!(s.take(10 * INTERVAL), Some(0));
        assert_eq!(s.take(20 * INTERVAL), Some(1));
        assert_eq!(s.take(30 * INTERVAL), None);
        assert!(s.dropped.is_empty());

        // While dropping, an overdue backlog is cut down to the last two, never further.
        let mut s = Script::default();
        s.arrive(1_000, 0);
        let _ = s.take(10 * MS);
        assert_eq!(s.drops_at(110 * MS), 1);
        s.queue.truncate(5);
        // Requests 3 to 7 wait: 3, 4 and 5 are dropped, 6 (with only 7 behind it) is served.
        assert_eq!(s.take(100 * INTERVAL), Some(6));
        assert_eq!(s.dropped, [1, 3, 4, 5]);
        assert!(!s.codel.status().dropping);
        assert_eq!(s.take(101 * INTERVAL), Some(7));
        assert_eq!(s.take(102 * INTERVAL), None);
        assert_eq!(s.dropped.len(), 4);
    }

    #[test]
    fn an_empty_queue_resets_the_clock() {
        let mut s = Script::default();
        s.arrive(1_000, 0);
        let _ = s.take(10 * MS);
        // Emptied by the engine (say, a crash) and refilled: the INTERVAL starts over.
        s.codel.on_empty();
        assert_eq!(s.drops_at(110 * MS), 0);
        assert_eq!(s.drops_at(210 * MS - 1), 0);
        assert_eq!(s.drops_at(210 * MS), 1);
        // A dequeue from an empty queue does the same, and leaves the dropping state.
        let queue = std::mem::take(&mut s.queue);
        assert_eq!(s.take(211 * MS), None);
        assert!(!s.codel.status().dropping);
        s.queue = queue;
        assert_eq!(s.drops_at(212 * MS), 0);
        assert_eq!(s.drops_at(311 * MS), 0);
        assert_eq!(s.drops_at(312 * MS), 1);
    }

    #[test]
    fn spec_defaults_bounds_and_file_format() {
        let mut spec = CodelSpec::default();
        assert_eq!((spec.target, spec.interval), (0.005, 0.1));
        assert!(crate::params::out_of_bounds(&mut spec).is_empty());
        for interval in [0.0, 1e-7, -1.0, f64::NAN, f64::INFINITY, 1e10] {
            let mut spec = CodelSpec { interval, ..CodelSpec::default() };
            let errors = crate::params::out_of_bounds(&mut spec);
            assert_eq!(errors.len(), 1, "interval {interval}");
            assert_eq!(errors[0].0, "interval");
        }
        for target in [-0.001, f64::NAN, 1e10] {
            let mut spec = CodelSpec { target, ..CodelSpec::default() };
            assert_eq!(crate::params::out_of_bounds(&mut spec).len(), 1, "target {target}");
        }
        let mut spec = CodelSpec { target: 0.0, interval: MIN_INTERVAL };
        assert!(crate::params::out_of_bounds(&mut spec).is_empty());

        let spec: CodelSpec = ron::from_str("Codel(target: 0.01)").unwrap();
        assert_eq!(spec, CodelSpec { target: 0.01, interval: 0.1 });
        assert!(ron::from_str::<CodelSpec>("(tagret: 0.01)").is_err());
    }
}
