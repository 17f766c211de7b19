//! Adaptive LIFO with CoDel-style queue timeouts, the queue discipline of Facebook's services as
//! described in "Fail at Scale" (Ben Maurer, ACM Queue, 2015,
//! queue.acm.org/detail.cfm?id=2839461, sections "Controlled Delay" and "Adaptive LIFO").
//!
//! Both rules hang on one fact: how long the queue has held requests without a break.
//! - **Timeout.** The article's `onNewRequest` gives each arriving request a queue timeout:
//!   `timeout = (queue.lastEmptyTime() < now − N) ? M : N`. A request that joins a queue that
//!   has not been empty for N (a standing queue) may wait only M (5 ms); otherwise it may wait
//!   N (100 ms). A request that has waited past its timeout is dropped when the discipline meets
//!   it (the engine answers it as refused, reason `codel`); a burst still gets the long N.
//! - **Order.** FIFO normally; LIFO once the queue is congested, that is not empty for more than
//!   N. The newest requests are the ones whose callers are still waiting and the likeliest to
//!   meet their timeout, so under overload the latency of served requests stays near M instead
//!   of growing with the queue.
//!
//! Each request's timeout is fixed when it arrives, as in the article, yet nothing is stored per
//! request: every request in the queue arrived during the current non-empty stretch, which began
//! at `lastEmptyTime`, so its timeout is M exactly when it arrived more than N after that
//! instant. A request that was already waiting when the queue became congested keeps its N.
//!
//! folly's `Codel` (folly/executors/Codel.cpp, used by Thrift servers) is a sibling of this
//! rule: it declares overload when the minimum queueing delay over the last 100 ms interval
//! exceeded 5 ms, and then drops requests that waited more than 2 × 5 ms. Sluice models the
//! article's rule, which needs no sampling of minimum delays; RFC 8289 CoDel is in `codel.rs`.
//!
//! There is no clock here: the engine passes `now` to every call.

use serde::{Deserialize, Serialize};

use crate::engine::time::{MAX_SECONDS, Nanos, secs_to_nanos};
use crate::params::{Field, Params, Visitor};

/// The shortest `timeout` (N) the registry accepts, in seconds (1 µs). With N = 0 every queue
/// would be congested the instant it formed and every request that waited at all would expire.
pub const MIN_TIMEOUT: f64 = 1e-6;

/// The two durations of the article's rule, in seconds as in the scenario file.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename = "AdaptiveLifo")]
pub struct AdaptiveLifoSpec {
    /// N (100 ms): the queue timeout of a request that arrives while the queue is not congested,
    /// and how long the queue must stay non-empty to count as congested.
    pub timeout: f64,
    /// M (5 ms): the queue timeout of a request that arrives while the queue is congested.
    pub congested_timeout: f64,
}

impl Default for AdaptiveLifoSpec {
    /// The article's values: N = 100 ms, M = 5 ms.
    fn default() -> Self {
        Self { timeout: 0.1, congested_timeout: 0.005 }
    }
}

impl Params for AdaptiveLifoSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field(
            "timeout",
            Field::Real(&mut self.timeout, MIN_TIMEOUT, MAX_SECONDS),
            "queue timeout in seconds, and how long a non-empty queue takes to count as congested (N, 0.1)",
        );
        v.field(
            "congested_timeout",
            Field::Seconds(&mut self.congested_timeout),
            "queue timeout of requests that arrive while the queue is congested (M, 0.005)",
        );
    }
}

/// Which end of the waiting queue to take a request from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The request that has waited longest (FIFO: the engine's `pop_front`).
    Oldest,
    /// The request that arrived last (LIFO: the engine's `pop_back`).
    Newest,
}

/// Counters for reports and plots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AdaptiveLifoStats {
    /// Requests dropped because they waited past their queue timeout (refused, reason `codel`).
    pub dropped: u64,
    /// Requests served newest first, while the queue was congested.
    pub served_lifo: u64,
    /// Requests served oldest first.
    pub served_fifo: u64,
}

/// A snapshot for plots and node cards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AdaptiveLifoStatus {
    /// Congested: serving newest first, and new requests get the short timeout M.
    pub congested: bool,
    /// The queue timeout a request arriving now gets (N or M).
    pub timeout: Nanos,
    /// How long the queue has held requests without a break; 0 while it is empty.
    pub nonempty_for: Nanos,
}

/// The discipline's state for one service queue; starts as `default()` (queue empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdaptiveLifo {
    /// When the queue last went from empty to non-empty: the article's `lastEmptyTime` while
    /// the queue holds requests. `None` while it is empty.
    nonempty_since: Option<Nanos>,
    stats: AdaptiveLifoStats,
}

impl AdaptiveLifo {
    /// Call when a request joins the waiting queue; `was_empty` says whether the queue held no
    /// request just before. This is how the discipline knows `lastEmptyTime`.
    pub fn on_enqueue(&mut self, now: Nanos, was_empty: bool) {
        if was_empty || self.nonempty_since.is_none() {
            self.nonempty_since = Some(now);
        }
    }

    /// Call when the engine empties the queue other than through [`AdaptiveLifo::dequeue`] (a
    /// crash, a sweep of expired requests), so that an empty queue never reads as congested.
    pub fn on_empty(&mut self) {
        self.nonempty_since = None;
    }

    /// Whether the queue has been non-empty for more than N (`lastEmptyTime < now − N`): then it
    /// is served newest first and new requests get the short timeout M.
    pub fn congested(&self, spec: &AdaptiveLifoSpec, now: Nanos) -> bool {
        self.nonempty_since.is_some_and(|since| now.saturating_sub(since) > secs_to_nanos(spec.timeout))
    }

    /// The queue timeout a request arriving at `now` gets: M if the queue is congested, else N.
    pub fn timeout(&self, spec: &AdaptiveLifoSpec, now: Nanos) -> Nanos {
        if self.congested(spec, now) { secs_to_nanos(spec.congested_timeout) } else { secs_to_nanos(spec.timeout) }
    }

    /// Whether a request still waiting in the queue, enqueued at `enqueued_at`, has waited past
    /// its timeout by `now`. [`AdaptiveLifo::dequeue`] drops such requests when it meets them;
    /// the engine may use this to drop the ones it finds elsewhere (say, at the old end of a
    /// full queue served newest first).
    pub fn expired(&self, spec: &AdaptiveLifoSpec, now: Nanos, enqueued_at: Nanos) -> bool {
        // The timeout it was given on arrival: the queue has been non-empty since
        // `nonempty_since`, so it arrived congested exactly when it arrived more than N later.
        now.saturating_sub(enqueued_at) > self.timeout(spec, enqueued_at)
    }

    /// Takes the next request to serve: the oldest, or the newest while congested, dropping on
    /// the way every request met that has waited past its timeout.
    ///
    /// Call it whenever a worker is free and the queue may hold requests.
    ///
    /// - `pop` removes the request at the given end and returns it with the instant it was
    ///   enqueued and how many requests are left after the pop; `None` when the queue is empty.
    /// - `on_drop` receives each dropped request (the engine answers it as refused, `codel`).
    ///
    /// Returns `None` when the queue is, or has been emptied by drops, empty.
    #[must_use = "the returned request has left the queue and must be served"]
    pub fn dequeue<T>(
        &mut self,
        spec: &AdaptiveLifoSpec,
        now: Nanos,
        mut pop: impl FnMut(End) -> Option<(T, Nanos, usize)>,
        mut on_drop: impl FnMut(T),
    ) -> Option<T> {
        // The queue stays non-empty until the loop below empties it, so the order holds for the
        // whole call.
        let end = if self.congested(spec, now) { End::Newest } else { End::Oldest };
        while let Some((request, enqueued_at, left)) = pop(end) {
            // Judged before `left == 0` forgets when the queue became non-empty.
            let expired = self.expired(spec, now, enqueued_at);
            if left == 0 {
                self.nonempty_since = None;
            }
            if expired {
                self.stats.dropped = self.stats.dropped.saturating_add(1);
                on_drop(request);
                continue;
            }
            let served = match end {
                End::Newest => &mut self.stats.served_lifo,
                End::Oldest => &mut self.stats.served_fifo,
            };
            *served = served.saturating_add(1);
            return Some(request);
        }
        self.nonempty_since = None;
        None
    }

    /// The state, for plots and cards.
    pub fn status(&self, spec: &AdaptiveLifoSpec, now: Nanos) -> AdaptiveLifoStatus {
        AdaptiveLifoStatus {
            congested: self.congested(spec, now),
            timeout: self.timeout(spec, now),
            nonempty_for: self.nonempty_since.map_or(0, |since| now.saturating_sub(since)),
        }
    }

    /// Counters since the start of the run.
    pub fn stats(&self) -> &AdaptiveLifoStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    const MS: Nanos = 1_000_000;
    const N: Nanos = 100 * MS;
    const M: Nanos = 5 * MS;

    /// A scripted waiting queue: (request id, enqueued at), oldest first, and what was dropped.
    #[derive(Default)]
    struct Script {
        lifo: AdaptiveLifo,
        spec: AdaptiveLifoSpec,
        queue: VecDeque<(&'static str, Nanos)>,
        dropped: Vec<&'static str>,
    }

    impl Script {
        /// What the engine does when requests arrive at `now` and must wait.
        fn arrive(&mut self, now: Nanos, ids: &[&'static str]) {
            for &id in ids {
                self.lifo.on_enqueue(now, self.queue.is_empty());
                self.queue.push_back((id, now));
            }
        }

        /// What the engine does when a worker frees up at `now`.
        fn take(&mut self, now: Nanos) -> Option<&'static str> {
            let queue = &mut self.queue;
            let dropped = &mut self.dropped;
            self.lifo.dequeue(
                &self.spec,
                now,
                |end| {
                    let popped = match end {
                        End::Oldest => queue.pop_front(),
                        End::Newest => queue.pop_back(),
                    };
                    popped.map(|(id, at)| (id, at, queue.len()))
                },
                |id| dropped.push(id),
            )
        }
    }

    #[test]
    fn an_uncongested_queue_is_fifo_with_timeout_n() {
        let mut s = Script::default();
        s.arrive(0, &["a", "b", "c"]);
        s.arrive(60 * MS, &["d"]);
        assert_eq!(
            s.lifo.status(&s.spec, 50 * MS),
            AdaptiveLifoStatus { congested: false, timeout: N, nonempty_for: 50 * MS }
        );
        assert_eq!(s.take(50 * MS), Some("a"));
        assert_eq!(s.take(100 * MS), Some("b"), "non-empty for exactly N: not yet congested");
        assert_eq!(s.lifo.timeout(&s.spec, 100 * MS), N);
        assert_eq!(s.lifo.stats(), &AdaptiveLifoStats { dropped: 0, served_lifo: 0, served_fifo: 2 });
    }

    #[test]
    fn a_queue_non_empty_for_longer_than_n_is_lifo_with_timeout_m() {
        let mut s = Script::default();
        s.arrive(0, &["a", "b"]);
        assert!(!s.lifo.congested(&s.spec, N));
        assert!(s.lifo.congested(&s.spec, N + 1));
        assert_eq!(s.lifo.timeout(&s.spec, N + 1), M);
        s.arrive(N + 1, &["c", "d"]);
        assert_eq!(s.take(N + 2), Some("d"));
        assert_eq!(s.take(N + 3), Some("c"));
        assert_eq!(s.lifo.stats(), &AdaptiveLifoStats { dropped: 0, served_lifo: 2, served_fifo: 0 });
        assert_eq!(
            s.lifo.status(&s.spec, N + 3),
            AdaptiveLifoStatus { congested: true, timeout: M, nonempty_for: N + 3 }
        );
    }

    #[test]
    fn requests_past_their_timeout_are_dropped_when_met() {
        let mut s = Script::default();
        s.arrive(0, &["a0", "a1", "a2", "a3"]); // timeout N
        s.arrive(90 * MS, &["b0", "b1"]); // non-empty for 90 ms ≤ N: timeout N
        s.arrive(150 * MS, &["c0", "c1", "c2"]); // congested: timeout M
        assert_eq!(s.take(152 * MS), Some("c2"));
        // c1 and c0 waited 10 ms > M; b1 waited 70 ms but was given N on arrival.
        assert_eq!(s.take(160 * MS), Some("b1"));
        assert_eq!(s.dropped, ["c1", "c0"]);
        assert_eq!(s.take(161 * MS), Some("b0"));
        // The a's waited 162 ms > N: all four dropped, and the queue is empty.
        assert_eq!(s.take(162 * MS), None);
        assert_eq!(s.dropped, ["c1", "c0", "a3", "a2", "a1", "a0"]);
        assert_eq!(s.lifo.stats(), &AdaptiveLifoStats { dropped: 6, served_lifo: 3, served_fifo: 0 });
        assert_eq!(
            s.lifo.status(&s.spec, 162 * MS),
            AdaptiveLifoStatus { congested: false, timeout: N, nonempty_for: 0 }
        );
    }

    #[test]
    fn timeouts_are_exclusive_bounds() {
        let mut s = Script::default();
        s.arrive(0, &["a", "b"]);
        s.arrive(N + 1, &["c", "d"]);
        assert!(!s.lifo.expired(&s.spec, N + 1 + M, N + 1));
        assert!(s.lifo.expired(&s.spec, N + 2 + M, N + 1));
        assert!(!s.lifo.expired(&s.spec, N, 0));
        assert!(s.lifo.expired(&s.spec, N + 1, 0));
        assert_eq!(s.take(N + 1 + M), Some("d"));
        // c waited M + 1; a and b were given N on arrival and are past it too.
        assert_eq!(s.take(N + 2 + M), None);
        assert_eq!(s.dropped, ["c", "b", "a"]);
    }

    #[test]
    fn the_queue_returns_to_fifo_once_it_empties() {
        let mut s = Script::default();
        s.arrive(0, &["a", "b"]);
        s.arrive(101 * MS, &["c"]);
        assert_eq!(s.take(102 * MS), Some("c"));
        assert_eq!(s.take(102 * MS), None, "a and b expired");
        s.arrive(200 * MS, &["d", "e"]);
        s.arrive(250 * MS, &["f"]);
        assert_eq!(s.take(260 * MS), Some("d"));
        assert_eq!(s.lifo.timeout(&s.spec, 260 * MS), N);
        assert_eq!(s.lifo.stats(), &AdaptiveLifoStats { dropped: 2, served_lifo: 1, served_fifo: 1 });

        // Served to empty (not dropped): congestion ends too.
        let mut s = Script::default();
        s.arrive(0, &["a", "b"]);
        assert_eq!(s.take(50 * MS), Some("a"));
        assert_eq!(s.take(60 * MS), Some("b"));
        s.arrive(120 * MS, &["c", "d"]);
        assert!(!s.lifo.congested(&s.spec, 130 * MS));
        assert_eq!(s.take(130 * MS), Some("c"));
    }

    #[test]
    fn emptied_by_the_engine_the_queue_is_not_congested() {
        let mut s = Script::default();
        s.arrive(0, &["a"]);
        s.queue.clear();
        s.lifo.on_empty();
        assert!(!s.lifo.congested(&s.spec, 10 * N));
        assert_eq!(s.lifo.status(&s.spec, 10 * N).nonempty_for, 0);
        // Even without `on_empty`, an arrival to an empty queue restarts the clock.
        s.arrive(0, &["b"]);
        s.queue.clear();
        s.arrive(10 * N, &["c"]);
        assert!(!s.lifo.congested(&s.spec, 10 * N + 1));
        assert_eq!(s.take(10 * N + 1), Some("c"));
        assert_eq!(s.take(10 * N + 2), None);
        assert_eq!(s.lifo.stats().served_fifo, 1);
    }

    #[test]
    fn spec_defaults_bounds_and_file_format() {
        let mut spec = AdaptiveLifoSpec::default();
        assert_eq!((spec.timeout, spec.congested_timeout), (0.1, 0.005));
        assert!(crate::params::out_of_bounds(&mut spec).is_empty());
        for timeout in [0.0, 1e-7, -1.0, f64::NAN, f64::INFINITY, 1e10] {
            let mut spec = AdaptiveLifoSpec { timeout, ..AdaptiveLifoSpec::default() };
            let errors = crate::params::out_of_bounds(&mut spec);
            assert_eq!(errors.len(), 1, "timeout {timeout}");
            assert_eq!(errors[0].0, "timeout");
        }
        for congested_timeout in [-0.001, f64::NAN, 1e10] {
            let mut spec = AdaptiveLifoSpec { congested_timeout, ..AdaptiveLifoSpec::default() };
            assert_eq!(crate::params::out_of_bounds(&mut spec).len(), 1, "congested_timeout {congested_timeout}");
        }
        let mut spec = AdaptiveLifoSpec { timeout: MIN_TIMEOUT, congested_timeout: 0.0 };
        assert!(crate::params::out_of_bounds(&mut spec).is_empty());

        let spec: AdaptiveLifoSpec = ron::from_str("AdaptiveLifo(congested_timeout: 0.01)").unwrap();
        assert_eq!(spec, AdaptiveLifoSpec { timeout: 0.1, congested_timeout: 0.01 });
        assert!(ron::from_str::<AdaptiveLifoSpec>("(m: 0.01)").is_err());
    }
}
