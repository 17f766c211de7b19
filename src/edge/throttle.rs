//! Client-side adaptive throttling, after the Google SRE book, ch. 21 "Handling Overload"
//! (resilience-semantics §3; numbers in capacity-and-experiments §1).
//!
//! Each client keeps, over a trailing window (two minutes in the book), the number of `requests`
//! its application attempted (including the ones this layer throttled locally) and the number of
//! `accepts` the backend accepted, and rejects a new request locally with probability
//!
//! ```text
//!   P = max(0, (requests − K · accepts) / (requests + 1))
//! ```
//!
//! While the backend accepts at least one request in K, P stays 0 and nothing changes. Once it
//! rejects more, the client sheds the excess itself, without the round trip: in deep overload the
//! backend receives about K × what it accepts ("one rejection for each request it processes" at
//! K = 2), so the rejections still reach it and it still sees how much demand there is. K = 2 is
//! the book's preferred value; a lower K (1.1: about one backend rejection per ten accepts)
//! throttles harder. Recovery is noticed only as the window forgets the bad period: up to the
//! window's length. The book keeps one history per criticality; here it is one per edge.
//!
//! What counts as an *accept* is the engine's call, documented at [`Throttle::record_accept`]:
//! any answer from the backend that is not a rejection or overload signal.
//!
//! **The window.** Counts are kept in [`WINDOW_BUCKETS`] buckets of `window / 100` each, aligned
//! to multiples of that width since time 0 (1.2 s for the default 120 s). The history at any
//! instant is the current bucket plus the 99 before it: between 99 % and 100 % of `window`, so a
//! request is forgotten exactly when the bucket it fell in leaves the window. The arithmetic is
//! on integers and allocation-free; [`SlidingWindow`] is the ring, shared with Finagle's retry
//! budget ([`super::retry_budget`]), whose `WindowedAdder` is the same structure with 10 slices.
//!
//! **Randomness.** The layer draws nothing: [`Throttle::decide`] takes a uniform draw `u` from
//! the engine, which owns the random streams, so a run stays reproducible from its seed.

use serde::{Deserialize, Serialize};

use crate::engine::time::{Nanos, secs_to_nanos};
use crate::params::{Field, Params, Visitor};

/// Client-side adaptive throttling (SRE book ch. 21): reject locally with probability
/// `max(0, (requests − k·accepts) / (requests + 1))` over the trailing `window`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Throttle")]
pub struct ThrottleSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The book's K, the multiplier on accepts (default 2: the backend sees about twice what it
    /// accepts; 1.1 is the book's aggressive example).
    #[serde(default = "default_k")]
    pub k: f64,
    /// Length of the history in seconds (the book's "two minutes": default 120).
    #[serde(default = "default_window")]
    pub window: f64,
}

fn yes() -> bool {
    true
}
fn default_k() -> f64 {
    2.0
}
fn default_window() -> f64 {
    120.0
}

impl Default for ThrottleSpec {
    /// The book's K and window, disabled (no `throttle:` in the file).
    fn default() -> Self {
        Self { enabled: false, k: default_k(), window: default_window() }
    }
}

impl ThrottleSpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }
}

impl Params for ThrottleSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "client-side adaptive throttling on this edge");
        v.field(
            "k",
            Field::Real(&mut self.k, 1.0, 100.0),
            "multiplier on accepts: the backend sees about k × what it accepts (lower sheds more)",
        );
        v.field("window", Field::PositiveSeconds(&mut self.window), "history of requests and accepts");
    }
}

/// True when the edge does not throttle: nothing is rejected and nothing need be recorded.
#[inline]
pub fn transparent(spec: &ThrottleSpec) -> bool {
    !spec.enabled
}

/// Counters of one edge's throttle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ThrottleStats {
    /// Requests rejected locally, never sent.
    pub throttled: u64,
}

/// Buckets in the throttle's window: its history is known to `window / 100`.
pub const WINDOW_BUCKETS: usize = 100;

const REQUESTS: usize = 0;
const ACCEPTS: usize = 1;

/// The state of one edge's adaptive throttle: its trailing counts and its counters.
///
/// Clock-free: every method takes the current time; nothing is scheduled. The spec is passed in
/// on every call, so a change of `window` or `k` at run time applies from the next call (see
/// [`SlidingWindow::add`] for what a new window does to the history).
#[derive(Clone, Debug, Default)]
pub struct Throttle {
    counts: SlidingWindow<WINDOW_BUCKETS, 2>,
    pub stats: ThrottleStats,
}

impl Throttle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts an application attempt: every one, first or retry, sent or throttled here (the
    /// book's `requests`, counted "at the client, on top of" the throttle). [`Throttle::decide`]
    /// calls it; call it directly only for an attempt that went out without asking `decide`.
    /// Nothing is recorded while the throttle is disabled.
    pub fn record_request(&mut self, spec: &ThrottleSpec, now: Nanos) {
        if spec.enabled {
            self.counts.add(secs_to_nanos(spec.window), now, REQUESTS, 1);
        }
    }

    /// Counts an attempt the backend accepted, when its answer arrives. An accept is any answer
    /// that is not a rejection or an overload signal: a success, and also an application error
    /// (the backend did the work). A rejection (429/503, "overloaded"), a loss and a timeout are
    /// not accepts: the backend did not take the request, or the client cannot tell that it did.
    pub fn record_accept(&mut self, spec: &ThrottleSpec, now: Nanos) {
        if spec.enabled {
            self.counts.add(secs_to_nanos(spec.window), now, ACCEPTS, 1);
        }
    }

    /// Requests and accepts in the window at `now` (for cards and plots).
    pub fn window_counts(&self, now: Nanos) -> (u64, u64) {
        let [requests, accepts] = self.counts.totals(now);
        (non_negative(requests), non_negative(accepts))
    }

    /// The probability that a request made at `now` is rejected locally:
    /// `max(0, (requests − k·accepts) / (requests + 1))`, always in [0, 1); 0 while disabled.
    pub fn reject_probability(&self, spec: &ThrottleSpec, now: Nanos) -> f64 {
        if !spec.enabled {
            return 0.0;
        }
        let (requests, accepts) = self.window_counts(now);
        let requests = requests as f64;
        let p = (requests - spec.k * accepts as f64) / (requests + 1.0);
        // Written so that a NaN (no such k passes the registry) is 0; the cap at 1 only guards a
        // k below 0, which the registry refuses too.
        if p > 0.0 { p.min(1.0) } else { 0.0 }
    }

    /// Decides a new request at `now` with the uniform draw `u` ∈ [0, 1): returns true to reject
    /// it locally. The probability is that of the history *before* this request, which is then
    /// counted either way (the book counts throttled requests too; counting it first would give
    /// the very first request a 50 % chance of rejection). Never rejects while disabled.
    pub fn decide(&mut self, spec: &ThrottleSpec, now: Nanos, u: f64) -> bool {
        if !spec.enabled {
            return false;
        }
        let p = self.reject_probability(spec, now);
        self.record_request(spec, now);
        let reject = u < p;
        self.stats.throttled += u64::from(reject);
        reject
    }
}

fn non_negative(x: i64) -> u64 {
    u64::try_from(x).unwrap_or(0)
}

/// Sums of `COUNTERS` counters over a trailing window of time, kept in `SLOTS` buckets of
/// `window / SLOTS` (at least 1 ns) aligned to multiples of that width since time 0.
///
/// At `now` the window holds the current bucket and the `SLOTS − 1` before it: an amount added
/// at `t` counts until the bucket `SLOTS` widths after its own begins, i.e. for between
/// `(SLOTS − 1)/SLOTS` and all of `window`. Buckets are expired lazily as time moves on (at most
/// `SLOTS` per call, amortised O(1) per bucket of time), and running totals make a read O(1) when
/// nothing has expired. Integer arithmetic, wrapping rather than panicking, so the sums are exact
/// and the same on every machine.
#[derive(Clone, Debug)]
pub struct SlidingWindow<const SLOTS: usize, const COUNTERS: usize> {
    /// Width of a bucket in nanoseconds; 0 until the first amount is added.
    grain: Nanos,
    /// Number (`time / grain`) of the newest bucket the ring has advanced to.
    head: u64,
    buckets: [[i64; COUNTERS]; SLOTS],
    totals: [i64; COUNTERS],
}

impl<const SLOTS: usize, const COUNTERS: usize> Default for SlidingWindow<SLOTS, COUNTERS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SLOTS: usize, const COUNTERS: usize> SlidingWindow<SLOTS, COUNTERS> {
    pub const fn new() -> Self {
        Self { grain: 0, head: 0, buckets: [[0; COUNTERS]; SLOTS], totals: [0; COUNTERS] }
    }

    /// The bucket width for a window of `window` nanoseconds.
    pub fn grain_for(window: Nanos) -> Nanos {
        (window / SLOTS as u64).max(1)
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// Adds `amount` (negative to withdraw) to `counter` at `now`, for a window of `window` ns.
    ///
    /// A window of another length than the history was kept with (a change at run time) keeps
    /// the sums as they are at `now` but moves them into the current bucket of the new width:
    /// what the window holds does not jump at the change, and it is forgotten one new window
    /// later. A `now` before the newest bucket (the clock never goes back; this is only a guard)
    /// counts in the newest bucket.
    pub fn add(&mut self, window: Nanos, now: Nanos, counter: usize, amount: i64) {
        let grain = Self::grain_for(window);
        if grain != self.grain {
            let kept = self.totals(now);
            *self = Self::new();
            self.grain = grain;
            self.head = now / grain;
            self.buckets[Self::slot(self.head)] = kept;
            self.totals = kept;
        }
        self.advance(now / grain);
        let Some(total) = self.totals.get_mut(counter) else { return };
        *total = total.wrapping_add(amount);
        let bucket = &mut self.buckets[Self::slot(self.head)][counter];
        *bucket = bucket.wrapping_add(amount);
    }

    /// The sums over the window at `now`, as last kept (with the width they were recorded at).
    pub fn totals(&self, now: Nanos) -> [i64; COUNTERS] {
        let mut totals = self.totals;
        if self.grain == 0 {
            return totals;
        }
        let bucket = now / self.grain;
        for slot in self.expiring(bucket) {
            for (total, amount) in totals.iter_mut().zip(self.buckets[slot]) {
                *total = total.wrapping_sub(amount);
            }
        }
        totals
    }

    /// Moves the head to `bucket`, emptying the buckets that leave the window on the way.
    fn advance(&mut self, bucket: u64) {
        for slot in self.expiring(bucket) {
            for (total, amount) in self.totals.iter_mut().zip(self.buckets[slot]) {
                *total = total.wrapping_sub(amount);
            }
            self.buckets[slot] = [0; COUNTERS];
        }
        self.head = self.head.max(bucket);
    }

    /// Slots whose buckets leave the window when the head moves to `bucket`: those of the
    /// buckets after the head up to `bucket`, at most the whole ring.
    fn expiring(&self, bucket: u64) -> impl Iterator<Item = usize> + use<SLOTS, COUNTERS> {
        let steps = bucket.saturating_sub(self.head).min(SLOTS as u64);
        let head = self.head;
        (1..=steps).map(move |i| Self::slot(head.wrapping_add(i)))
    }

    fn slot(bucket: u64) -> usize {
        (bucket % SLOTS as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Nanos = 1_000_000_000;

    fn on(k: f64) -> ThrottleSpec {
        ThrottleSpec { enabled: true, k, window: 120.0 }
    }

    /// The additive recurrence of the golden ratio: a low-discrepancy sequence in [0, 1), so a
    /// probability is sampled evenly without a random stream.
    fn golden(n: u64) -> f64 {
        const PHI_FRACTION: f64 = 0.618_033_988_749_894_9;
        (n as f64 * PHI_FRACTION).fract()
    }

    #[test]
    fn probability_follows_the_books_formula() {
        let s = on(2.0);
        let mut t = Throttle::new();
        assert_eq!(t.reject_probability(&s, 0), 0.0);
        for _ in 0..10 {
            t.record_request(&s, 0);
        }
        t.record_accept(&s, 0);
        t.record_accept(&s, 0);
        // (10 − 2·2) / (10 + 1).
        assert_eq!(t.reject_probability(&s, 0), 6.0 / 11.0);
        assert_eq!(t.window_counts(0), (10, 2));
        // Disabled: no rejection, nothing recorded.
        let off = ThrottleSpec { enabled: false, ..s };
        assert_eq!(t.reject_probability(&off, 0), 0.0);
        assert!(!t.decide(&off, 0, 0.0));
        t.record_accept(&off, 0);
        assert_eq!(t.window_counts(0), (10, 2));
        assert!(transparent(&ThrottleSpec::default()) && !transparent(&s));
    }

    #[test]
    fn no_rejection_while_the_backend_accepts_one_in_k() {
        // The backend accepts 3 of every 5 attempts: accepts ≥ requests / 2 at every decision.
        let s = on(2.0);
        let mut t = Throttle::new();
        for n in 0..10_000u64 {
            let now = n * SEC / 100;
            // u = 0 rejects whenever P > 0.
            assert!(!t.decide(&s, now, 0.0), "request {n} rejected");
            if n % 5 < 3 {
                t.record_accept(&s, now);
            }
        }
        assert_eq!(t.stats.throttled, 0);
    }

    /// A client sending `rate` per second to a backend that accepts at most `capacity` per
    /// second (and rejects the rest) for `seconds`; returns the attempts the backend received in
    /// the last window.
    fn overload(k: f64, rate: u64, capacity: u64, seconds: u64) -> u64 {
        let s = on(k);
        let mut t = Throttle::new();
        let (mut accepted, mut received_late) = (0u64, 0u64);
        let step = SEC / rate;
        for n in 0..rate * seconds {
            let now = n * step;
            if t.decide(&s, now, golden(n)) {
                continue;
            }
            if now >= (seconds - 120) * SEC {
                received_late += 1;
            }
            // A fluid capacity: accept while fewer than `capacity · t` have been accepted.
            if accepted * SEC < capacity * (now + step) {
                accepted += 1;
                t.record_accept(&s, now);
            }
        }
        received_late
    }

    #[test]
    fn in_steady_overload_the_backend_receives_k_times_what_it_accepts() {
        // 1000/s against a backend that accepts 100/s: it should receive about K × 100/s.
        for k in [2.0, 1.1] {
            let received = overload(k, 1000, 100, 600) as f64 / 120.0;
            let expected = k * 100.0;
            assert!((received / expected - 1.0).abs() < 0.01, "k {k}: received {received}/s, expected {expected}/s");
        }
    }

    #[test]
    fn the_window_forgets() {
        let s = on(2.0);
        let mut t = Throttle::new();
        // A bad second: 100 requests, none accepted.
        for _ in 0..100 {
            t.decide(&s, 0, 0.999);
        }
        let p = t.reject_probability(&s, 0);
        assert!(p > 0.98, "{p}");
        // Buckets are 1.2 s wide: the requests at t = 0 are held through the last nanosecond of
        // the 100th bucket (the window's last) and forgotten when the 101st begins.
        assert_eq!(t.reject_probability(&s, 120 * SEC - 1), p);
        assert_eq!(t.reject_probability(&s, 120 * SEC), 0.0);
        assert_eq!(t.window_counts(120 * SEC), (0, 0));
        // Advancing the ring across the gap expires them for good.
        t.record_accept(&s, 500 * SEC);
        assert_eq!(t.window_counts(500 * SEC), (0, 1));
        // A request at 600.5 s falls in the bucket [600 s, 601.2 s): it is held until the bucket
        // 120 s after that one begins, 119.5 s later.
        t.record_request(&s, 600 * SEC + SEC / 2);
        assert_eq!(t.window_counts(720 * SEC - 1).0, 1);
        assert_eq!(t.window_counts(720 * SEC).0, 0);
    }

    #[test]
    fn a_new_window_keeps_the_history_and_forgets_it_one_new_window_later() {
        let mut s = on(2.0);
        let mut t = Throttle::new();
        for _ in 0..50 {
            t.record_request(&s, 10 * SEC);
        }
        s.window = 10.0;
        t.record_accept(&s, 20 * SEC);
        assert_eq!(t.window_counts(20 * SEC), (50, 1));
        assert_eq!(t.window_counts(30 * SEC - 1), (50, 1));
        assert_eq!(t.window_counts(30 * SEC), (0, 0));
    }

    #[test]
    fn sliding_window_sums_signed_amounts_and_expires_them() {
        let mut w: SlidingWindow<10, 1> = SlidingWindow::new();
        assert_eq!(w.totals(5 * SEC), [0]);
        w.add(10 * SEC, 0, 0, 1000);
        w.add(10 * SEC, 3 * SEC, 0, -300);
        assert_eq!(w.totals(9 * SEC), [700]);
        assert_eq!(w.totals(10 * SEC), [-300]);
        assert_eq!(w.totals(13 * SEC), [0]);
        // An unknown counter is ignored, not a panic.
        w.add(10 * SEC, 4 * SEC, 7, 1);
        assert_eq!(w.totals(4 * SEC), [700]);
        // A window shorter than the ring has 1 ns buckets.
        let mut tiny: SlidingWindow<10, 1> = SlidingWindow::new();
        tiny.add(3, 100, 0, 1);
        assert_eq!((tiny.totals(109), tiny.totals(110)), ([1], [0]));
    }

    #[test]
    fn spec_reads_from_ron_and_checks_its_bounds() {
        let spec: ThrottleSpec = ron::from_str("Throttle(k: 1.1)").unwrap();
        assert_eq!(spec, ThrottleSpec { enabled: true, k: 1.1, window: 120.0 });
        let spec: ThrottleSpec = ron::from_str("Throttle()").unwrap();
        assert_eq!(spec, on(2.0));
        assert!(ron::from_str::<ThrottleSpec>("Throttle(K: 2.0)").is_err());
        let mut bad = ThrottleSpec { k: 0.5, window: 0.0, ..on(2.0) };
        let out = crate::params::out_of_bounds(&mut bad);
        let paths: Vec<_> = out.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["k", "window"]);
    }
}
