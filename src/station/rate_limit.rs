//! Token-bucket rate limits at a station: refuse the excess (a limiter) or delay it (a shaper).
//!
//! **Limiter**, after Envoy's `envoy.filters.http.local_ratelimit`, whose bucket is
//! `api/envoy/type/v3/token_bucket.proto`: a bucket holds at most `burst` tokens (`max_tokens`,
//! which is also the initial fill) and refills continuously at `rate` tokens per second,
//! `tok = min(b, tok + r·Δt)`. A request is admitted iff `tok ≥ 1`, and then takes one token;
//! otherwise it is refused (Envoy answers 429) with a Retry-After equal to the time until the
//! next token. What one observes: a burst of `b` passes at once, then exactly `r` per second.
//! Envoy adds `tokens_per_fill` every `fill_interval`; the continuous form is that with the
//! interval shrunk to the clock's grain, which is what the reference (§5) prescribes.
//!
//! **Shaper**, after Guava's `SmoothRateLimiter` (`SmoothBursty`): the excess is delayed, not
//! refused. A request takes its token even when none is there, driving the bucket into debt, and
//! waits until that token would have arrived: `max(0, next_free − now)`, where `next_free` is
//! when the bucket is back to one token. The debt it leaves is what the next caller waits for,
//! so "the next caller pays for this one". Bursts are smoothed into a steady `r` per second at
//! the price of added latency. With `max_delay` it is Guava's `tryAcquire(timeout)`: a request
//! whose wait would exceed the limit is refused and reserves nothing.
//!
//! Guava in these terms: `storedPermits` are the tokens above one and `nextFreeTicket` is the
//! instant the bucket climbs back to one token, so a shaper with burst `b` is `SmoothBursty`
//! with `maxPermits = b − 1`; both let `b` requests through undelayed after a long idle. Two
//! deliberate differences: the bucket starts full, as Envoy's does (Guava starts with no stored
//! permits), and `burst: None` is one second's worth of `rate` like Guava's `maxPermits = 1 s × r`
//! (so Guava itself passes `r + 1` after idling, this bucket `r`).
//!
//! **Exact arithmetic.** Tokens are held as integers of 10⁻¹⁸ token and the rate as units per
//! nanosecond (`rate × 10⁹`, an integer for any rate written with at most nine decimals), and the
//! clock is integer nanoseconds, so refill, admission and waits are integer operations: nothing
//! drifts over a run, `b + ⌊r·t⌋` requests are admitted by time t under sustained overload, and
//! a request retried exactly after its Retry-After finds its token (unless another took it first).
//! Waits round up to the next whole nanosecond, so nothing is ever admitted before its token.
//!
//! **Keys.** A limit counts globally, or per request class, tenant (API key) or endpoint. The
//! engine interns each of those as a small dense `u32`; [`RateLimiter`] keeps one bucket per id in
//! a `Vec` (no hashing, so nothing depends on iteration order), created full on the key's first
//! request, as a fresh Envoy descriptor bucket is.
//!
//! **Live changes.** The spec is edited in place while the run goes on. Each bucket remembers the
//! rate and capacity it last refilled with: at its next use it refills up to that instant at the
//! old rate, then adopts the new one and clamps its tokens to the new capacity. The engine can
//! call [`RateLimiter::retune`] when it applies a change so the switch happens at that exact
//! instant rather than at each key's next request.

use serde::{Deserialize, Serialize};

use crate::choice_enum;
use crate::engine::time::{MAX_RATE, NANOS_PER_SEC, Nanos, nanos_to_secs, secs_to_nanos};
use crate::params::{Field, Params, Visitor};

/// The lowest rate the registry accepts: one token per 10⁶ s (about 11.6 days). Lower rates mean
/// nothing within a run, and `rate × 10⁹` stays a whole number of units per nanosecond (1000).
pub const MIN_RATE: f64 = 1e-6;

/// The largest bucket the registry accepts: 10¹² tokens, a thousand seconds at [`MAX_RATE`]. In
/// units that is 10³⁰, far inside `i128`, so refill and debt can never overflow in a run.
pub const MAX_BURST: f64 = 1e12;

/// The longest wait or Retry-After reported: 2⁶³ − 1 ns (about 292 years). Every in-range
/// instant is below 2⁶³ ns, so `now + wait` cannot wrap a `u64` in the engine.
pub const LONGEST_WAIT: Nanos = i64::MAX as Nanos;

/// Fixed-point grain of the token count: 10¹⁸ units make one token.
const UNITS_PER_TOKEN: i128 = 1_000_000_000_000_000_000;

/// A rate of one token per second in units per nanosecond (10¹⁸ / 10⁹).
const UNITS_PER_NS_AT_ONE_PER_SEC: f64 = UNITS_PER_TOKEN as f64 / NANOS_PER_SEC;

/// A token-bucket rate limit on the requests a station accepts: Envoy's local rate limit
/// (refuse with 429) or a Guava-style shaper (delay).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "RateLimit")]
pub struct RateLimitSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Tokens added per second: Envoy's `tokens_per_fill / fill_interval` (the interval is
    /// required, `tokens_per_fill` defaults to 1), Guava's `permitsPerSecond`. Required.
    pub rate: f64,
    /// Bucket capacity and initial fill: the requests let through at once after idling (Envoy
    /// `max_tokens`, required there). None: one second's worth of `rate`, at least 1 (Guava
    /// `SmoothBursty`: `maxBurstSeconds` = 1.0, so `maxPermits = 1 s × rate`).
    #[serde(default)]
    pub burst: Option<f64>,
    /// What the limit counts per: one bucket for all (Envoy local_ratelimit without
    /// descriptors, the default), or one per request class, tenant (API key) or endpoint
    /// (Envoy's per-descriptor buckets).
    #[serde(default)]
    pub key: LimitKey,
    /// What happens over the limit: refuse with 429 (Envoy, the default) or delay until the
    /// request's token is due (Guava `acquire`).
    #[serde(default)]
    pub excess: Excess,
    /// Shaper only: refuse a request whose wait would exceed this many seconds instead of
    /// delaying it (Guava `tryAcquire(timeout)`). None: wait as long as needed (Guava `acquire`).
    #[serde(default)]
    pub max_delay: Option<f64>,
    /// Send the time until the next token as Retry-After with a refusal. Envoy's local rate
    /// limit adds rate-limit headers only when configured to; default true here so that clients
    /// that honour Retry-After can back off exactly.
    #[serde(default = "yes")]
    pub retry_after: bool,
}

fn yes() -> bool {
    true
}

/// Which requests share a bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitKey {
    /// One bucket for every request.
    #[default]
    Global,
    /// One bucket per request class.
    Class,
    /// One bucket per tenant (API key): stops a noisy neighbour without starving the others.
    Tenant,
    /// One bucket per endpoint (route).
    Endpoint,
}
choice_enum!(LimitKey {
    "global" => LimitKey::Global,
    "class" => LimitKey::Class,
    "tenant" => LimitKey::Tenant,
    "endpoint" => LimitKey::Endpoint,
});

impl LimitKey {
    /// The key id a request counts under, from its interned class, tenant and endpoint ids.
    /// Every request counts under 0 for a global limit.
    pub fn pick(self, class: u32, tenant: u32, endpoint: u32) -> u32 {
        match self {
            LimitKey::Global => 0,
            LimitKey::Class => class,
            LimitKey::Tenant => tenant,
            LimitKey::Endpoint => endpoint,
        }
    }
}

/// What a rate limit does with a request that finds no token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Excess {
    /// Refuse it at once (429, with Retry-After if enabled): a limiter.
    #[default]
    Reject,
    /// Hold it until its token is due, up to `max_delay`: a shaper.
    Delay,
}
choice_enum!(Excess {
    "reject" => Excess::Reject,
    "delay" => Excess::Delay,
});

impl Default for RateLimitSpec {
    /// Disabled (no `rate_limit:` in the file). Envoy and Guava have no default rate; 100 per
    /// second, global, refusing, burst one second's worth is what a limit switched on from the
    /// inspector starts with.
    fn default() -> Self {
        Self {
            enabled: false,
            rate: 100.0,
            burst: None,
            key: LimitKey::Global,
            excess: Excess::Reject,
            max_delay: None,
            retry_after: true,
        }
    }
}

impl RateLimitSpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }

    /// Bucket capacity in tokens: `burst`, or one second's worth of `rate`; at least 1, since a
    /// bucket that can never hold a whole token would refuse everything forever.
    pub fn capacity(&self) -> f64 {
        self.burst.unwrap_or_else(|| burst_for_rate(self.rate)).max(1.0)
    }

    /// The shaper's longest wait in nanoseconds, if any.
    pub fn max_delay_nanos(&self) -> Option<Nanos> {
        self.max_delay.map(secs_to_nanos)
    }

    fn rate_units(&self) -> i128 {
        // Rounded so that a decimal rate (0.3/s) becomes exactly the intended integer.
        let units = (self.rate * UNITS_PER_NS_AT_ONE_PER_SEC).round();
        // NaN, zero and negative rates never refill; `as` saturates the rest.
        if units >= 1.0 { units as i128 } else { 0 }
    }

    fn capacity_units(&self) -> i128 {
        (self.capacity() * UNITS_PER_TOKEN as f64).round() as i128
    }
}

/// `burst: None`: one second's worth of `rate`, within the registry's bounds for a burst.
fn burst_for_rate(rate: f64) -> f64 {
    // Constant bounds: `clamp` cannot panic; a NaN rate stays NaN, which `capacity` and the
    // registry's bounds both deal with.
    rate.clamp(1.0, MAX_BURST)
}

/// Nanoseconds until `deficit` units have refilled at `rate` units per ns, rounded up.
fn nanos_to_refill(deficit: i128, rate: i128) -> Nanos {
    if deficit <= 0 {
        return 0;
    }
    if rate <= 0 {
        return LONGEST_WAIT;
    }
    let wait = deficit.unsigned_abs().div_ceil(rate.unsigned_abs());
    Nanos::try_from(wait).map_or(LONGEST_WAIT, |w| w.min(LONGEST_WAIT))
}

/// One token bucket: the state behind one key of a limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    /// Tokens at `updated`, in units of 10⁻¹⁸ token; negative while a shaper owes delayed
    /// requests their tokens.
    units: i128,
    /// When `units` was last brought up to date.
    updated: Nanos,
    /// The refill rate in force since `updated`, in units per nanosecond.
    rate: i128,
    /// The capacity in force since `updated`, in units.
    capacity: i128,
}

impl TokenBucket {
    /// A full bucket, as a limit starts and as a key's bucket is created on its first request.
    pub fn full(spec: &RateLimitSpec, now: Nanos) -> Self {
        let capacity = spec.capacity_units();
        Self { units: capacity, updated: now, rate: spec.rate_units(), capacity }
    }

    /// Units held at `now` at the rate and capacity in force, without changing anything.
    fn units_at(&self, now: Nanos) -> i128 {
        // A clock that went backwards refills nothing rather than draining the bucket.
        let elapsed = now.saturating_sub(self.updated);
        if elapsed == 0 {
            return self.units;
        }
        let refill = self.rate.saturating_mul(i128::from(elapsed));
        self.units.saturating_add(refill).min(self.capacity)
    }

    /// Refills up to `now` at the rate in force until now, then adopts the spec's rate and
    /// capacity (clamping the tokens to a smaller bucket). Every operation starts with this; the
    /// engine calls it (through [`RateLimiter::retune`]) when the user changes the limit live.
    pub fn sync(&mut self, spec: &RateLimitSpec, now: Nanos) {
        if now > self.updated {
            self.units = self.units_at(now);
            self.updated = now;
        }
        self.rate = spec.rate_units();
        self.capacity = spec.capacity_units();
        self.units = self.units.min(self.capacity);
    }

    /// Tokens in the bucket at `now`, for plots and cards: negative while a shaper owes delayed
    /// requests their tokens.
    pub fn tokens(&self, spec: &RateLimitSpec, now: Nanos) -> f64 {
        let units = self.units_at(now).min(spec.capacity_units());
        // Whole and fractional parts apart, so that whole token counts display exactly.
        units.div_euclid(UNITS_PER_TOKEN) as f64 + units.rem_euclid(UNITS_PER_TOKEN) as f64 / UNITS_PER_TOKEN as f64
    }

    /// How long a request arriving at `now` would wait for its token: 0 if one is there.
    pub fn time_to_token(&self, spec: &RateLimitSpec, now: Nanos) -> Nanos {
        let units = self.units_at(now).min(spec.capacity_units());
        nanos_to_refill(UNITS_PER_TOKEN.saturating_sub(units), spec.rate_units())
    }

    /// The limiter (Envoy): takes a token if one is there; otherwise takes nothing and returns
    /// the nanoseconds until one will be (≥ 1), the Retry-After.
    pub fn try_take(&mut self, spec: &RateLimitSpec, now: Nanos) -> Result<(), Nanos> {
        self.sync(spec, now);
        match nanos_to_refill(UNITS_PER_TOKEN.saturating_sub(self.units), self.rate) {
            0 => {
                self.units -= UNITS_PER_TOKEN;
                Ok(())
            }
            wait => Err(wait),
        }
    }

    /// The shaper (Guava): takes this request's token now, into debt if need be, and returns
    /// how long the request must wait for it (0 if it was there). If that wait would exceed
    /// `max_delay`, takes nothing and returns the nanoseconds until the wait would fit (≥ 1).
    pub fn reserve(&mut self, spec: &RateLimitSpec, now: Nanos) -> Result<Nanos, Nanos> {
        self.sync(spec, now);
        let wait = nanos_to_refill(UNITS_PER_TOKEN.saturating_sub(self.units), self.rate);
        if let Some(limit) = spec.max_delay_nanos()
            && wait > limit
        {
            return Err(wait - limit);
        }
        // Saturating: a debt of 10²⁰ requests is out of reach, but costs nothing to rule out.
        self.units = self.units.saturating_sub(UNITS_PER_TOKEN);
        Ok(wait)
    }
}

/// What the engine does with a request, from [`RateLimiter::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through now.
    Pass,
    /// Hold it this many nanoseconds, then let it through (shaper). Its token is spent already:
    /// a request abandoned while it waits does not give it back, as in Guava.
    Delay(Nanos),
    /// Refuse it (429), with the time until a token (or until the shaper's wait would fit) if
    /// `retry_after` is on.
    Refuse { retry_after: Option<Nanos> },
}

impl Verdict {
    /// Whether the request goes on, now or after its delay.
    pub fn admitted(self) -> bool {
        !matches!(self, Verdict::Refuse { .. })
    }
}

/// Counters of a rate limit's decisions since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RateLimitStats {
    /// Requests let through, at once or after a delay.
    pub admitted: u64,
    /// Of those, the ones the shaper held back.
    pub delayed: u64,
    /// Requests refused.
    pub refused: u64,
    /// Sum of the shaper's delays, nanoseconds (saturating).
    pub total_delay_ns: u64,
    /// Longest single delay, nanoseconds.
    pub max_delay_ns: u64,
}

impl RateLimitStats {
    /// Counts one decision.
    pub fn record(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Pass => self.admitted += 1,
            Verdict::Delay(delay) => {
                self.admitted += 1;
                self.delayed += 1;
                self.total_delay_ns = self.total_delay_ns.saturating_add(delay);
                self.max_delay_ns = self.max_delay_ns.max(delay);
            }
            Verdict::Refuse { .. } => self.refused += 1,
        }
    }

    /// Latency the shaper added per admitted request, seconds (0 before any).
    pub fn mean_delay_s(&self) -> f64 {
        if self.admitted == 0 { 0.0 } else { nanos_to_secs(self.total_delay_ns) / self.admitted as f64 }
    }
}

/// A keyed rate limit: one [`TokenBucket`] per key id, created full on first use.
#[derive(Clone, Debug, Default)]
pub struct RateLimiter {
    /// Indexed by key id (slot 0 for a global limit); `None` for ids not seen yet.
    buckets: Vec<Option<TokenBucket>>,
    /// Buckets created (the `Some`s above).
    keys: usize,
    /// The kind of key the buckets were made for: ids mean nothing once that changes.
    keyed_by: LimitKey,
    /// Decisions so far.
    pub stats: RateLimitStats,
}

impl RateLimiter {
    /// A limit with no buckets yet: each key's is created full on its first request.
    pub fn new() -> Self {
        Self::default()
    }

    /// The one entry point for a request arriving at the limit at `now`. `key` is its interned
    /// id of the kind `spec.key` names (see [`LimitKey::pick`]); ignored for a global limit.
    /// Ids are dense (0, 1, 2, …): the buckets are a `Vec` indexed by them. A disabled limit
    /// passes everything and counts nothing.
    pub fn admit(&mut self, spec: &RateLimitSpec, key: u32, now: Nanos) -> Verdict {
        if !spec.enabled {
            return Verdict::Pass;
        }
        let bucket = self.bucket(spec, key, now);
        let verdict = match spec.excess {
            Excess::Reject => match bucket.try_take(spec, now) {
                Ok(()) => Verdict::Pass,
                Err(wait) => Verdict::Refuse { retry_after: spec.retry_after.then_some(wait) },
            },
            Excess::Delay => match bucket.reserve(spec, now) {
                Ok(0) => Verdict::Pass,
                Ok(delay) => Verdict::Delay(delay),
                Err(wait) => Verdict::Refuse { retry_after: spec.retry_after.then_some(wait) },
            },
        };
        self.stats.record(verdict);
        verdict
    }

    /// Applies a live change of the spec at `now`: every bucket refills up to now at the old
    /// rate, then takes the new rate and capacity. Optional (each bucket catches up at its next
    /// request anyway, counting the whole gap at the old rate); call it when a change is applied
    /// for the switch to happen at that exact instant. A change of `key` forgets every bucket.
    pub fn retune(&mut self, spec: &RateLimitSpec, now: Nanos) {
        self.follow_key(spec);
        for bucket in self.buckets.iter_mut().flatten() {
            bucket.sync(spec, now);
        }
    }

    /// Forgets every bucket (each key starts full again) but keeps the counters: for a station
    /// that crashes and restarts, since a local limiter keeps its state in memory.
    pub fn restart(&mut self) {
        self.buckets.clear();
        self.keys = 0;
    }

    /// The bucket for `key`, created full at `now` if it is the key's first use.
    pub fn bucket(&mut self, spec: &RateLimitSpec, key: u32, now: Nanos) -> &mut TokenBucket {
        self.follow_key(spec);
        let slot = Self::slot(spec, key);
        if slot >= self.buckets.len() {
            self.buckets.resize(slot + 1, None);
        }
        let entry = &mut self.buckets[slot];
        if entry.is_none() {
            self.keys += 1;
        }
        entry.get_or_insert_with(|| TokenBucket::full(spec, now))
    }

    /// Tokens at `now` for plots and cards: the global bucket's, or the emptiest key's for a
    /// keyed limit; a full bucket's before any request.
    pub fn tokens(&self, spec: &RateLimitSpec, now: Nanos) -> f64 {
        let emptiest = self.live_buckets(spec).iter().flatten().map(|bucket| bucket.tokens(spec, now)).reduce(f64::min);
        emptiest.unwrap_or_else(|| spec.capacity())
    }

    /// Tokens at `now` in `key`'s bucket (a full bucket's if the key has not been seen).
    pub fn key_tokens(&self, spec: &RateLimitSpec, key: u32, now: Nanos) -> f64 {
        match self.live_buckets(spec).get(Self::slot(spec, key)) {
            Some(Some(bucket)) => bucket.tokens(spec, now),
            _ => spec.capacity(),
        }
    }

    /// Number of keys with a bucket (1 for a global limit once used).
    pub fn keys(&self) -> usize {
        self.keys
    }

    fn slot(spec: &RateLimitSpec, key: u32) -> usize {
        match spec.key {
            LimitKey::Global => 0,
            _ => key as usize,
        }
    }

    /// The buckets, or none if the spec's key kind has changed since they were made (the next
    /// request will forget them).
    fn live_buckets(&self, spec: &RateLimitSpec) -> &[Option<TokenBucket>] {
        if spec.key == self.keyed_by { &self.buckets } else { &[] }
    }

    /// Switching what the limit is keyed by starts every key full, as Envoy does when a
    /// filter's descriptors are replaced: a class id's bucket says nothing about a tenant.
    fn follow_key(&mut self, spec: &RateLimitSpec) {
        if spec.key != self.keyed_by {
            self.restart();
            self.keyed_by = spec.key;
        }
    }
}

impl Params for RateLimitSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "token-bucket rate limit at this station");
        v.field(
            "rate",
            Field::Real(&mut self.rate, MIN_RATE, MAX_RATE),
            "tokens added per second (the sustained rate)",
        );
        // There is no optional-real field kind, so `burst` is listed as the capacity in force:
        // `none` shows as one second's worth of `rate` and keeps following the rate until a
        // different value is set. Every value shown is one the bucket can use (≥ 1 token).
        let shown = self.burst.unwrap_or_else(|| burst_for_rate(self.rate));
        let mut burst = shown;
        v.field(
            "burst",
            Field::Real(&mut burst, 1.0, MAX_BURST),
            "bucket size and initial fill: requests let through at once after idling (default one second of rate)",
        );
        if burst.to_bits() != shown.to_bits() {
            self.burst = Some(burst);
        }
        v.field("key", Field::Choice(&mut self.key), "one bucket for all, or one per class, tenant or endpoint");
        v.field(
            "excess",
            Field::Choice(&mut self.excess),
            "over the limit: reject (429) or delay until a token (shaper)",
        );
        v.field(
            "max_delay",
            Field::OptionalSeconds(&mut self.max_delay),
            "delay only: refuse when the wait would exceed this; none waits as long as needed",
        );
        v.field(
            "retry_after",
            Field::Flag(&mut self.retry_after),
            "send the time until the next token as Retry-After with a refusal",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Finder, Kind, Lister, Value, out_of_bounds};

    const MS: Nanos = 1_000_000;
    const SEC: Nanos = 1_000_000_000;

    fn limit(rate: f64, burst: Option<f64>) -> RateLimitSpec {
        RateLimitSpec { enabled: true, rate, burst, ..RateLimitSpec::default() }
    }

    fn shaper(rate: f64, burst: Option<f64>, max_delay: Option<f64>) -> RateLimitSpec {
        RateLimitSpec { excess: Excess::Delay, max_delay, ..limit(rate, burst) }
    }

    fn refuse(wait: Nanos) -> Verdict {
        Verdict::Refuse { retry_after: Some(wait) }
    }

    #[test]
    fn a_burst_passes_then_exactly_the_rate() {
        let spec = limit(10.0, Some(5.0));
        let mut rl = RateLimiter::new();
        for _ in 0..5 {
            assert_eq!(rl.admit(&spec, 0, 0), Verdict::Pass);
        }
        assert_eq!(rl.admit(&spec, 0, 0), refuse(100 * MS));
        assert_eq!(rl.admit(&spec, 0, 50 * MS), refuse(50 * MS));
        assert_eq!(rl.admit(&spec, 0, 100 * MS - 1), refuse(1));
        for k in 1..=20 {
            let now = k * 100 * MS;
            assert_eq!(rl.admit(&spec, 0, now), Verdict::Pass, "at {k} × 100 ms");
            assert_eq!(rl.admit(&spec, 0, now), refuse(100 * MS));
        }
        assert_eq!(rl.stats, RateLimitStats { admitted: 25, refused: 23, ..RateLimitStats::default() });
        // A disabled limit passes everything, counts nothing and leaves the buckets alone.
        let off = RateLimitSpec { enabled: false, ..spec.clone() };
        assert_eq!(rl.admit(&off, 0, 2 * SEC), Verdict::Pass);
        assert_eq!(rl.stats.admitted, 25);
        // Retry-After is optional.
        let quiet = RateLimitSpec { retry_after: false, ..spec.clone() };
        assert_eq!(rl.admit(&quiet, 0, 2 * SEC), Verdict::Refuse { retry_after: None });
    }

    #[test]
    fn a_refusal_retried_after_its_retry_after_is_admitted() {
        // 3/s: 333 333 333.3 ns per token, so waits round up to whole nanoseconds. Burst 2, so
        // that the fraction of a token gained by rounding up is kept (a bucket of 1 is full
        // then, and clips it: correct, but it would hide the check on drift).
        let spec = limit(3.0, Some(2.0));
        let mut bucket = TokenBucket::full(&spec, 0);
        assert_eq!(bucket.try_take(&spec, 0), Ok(()));
        assert_eq!(bucket.try_take(&spec, 0), Ok(()));
        let mut now = 0;
        for _ in 0..1000 {
            let wait = bucket.try_take(&spec, now).unwrap_err();
            assert_eq!(bucket.try_take(&spec, now + wait - 1), Err(1));
            now += wait;
            assert_eq!(bucket.try_take(&spec, now), Ok(()));
        }
        // Never early, never drifting: the 1000th extra token is due at 1000/3 s, rounded up.
        assert_eq!(now, 333_333_333_334);
    }

    #[test]
    fn refill_stops_at_the_burst_and_none_is_one_second_of_rate() {
        let spec = limit(10.0, Some(5.0));
        let mut bucket = TokenBucket::full(&spec, 0);
        for _ in 0..5 {
            bucket.try_take(&spec, 0).unwrap();
        }
        assert_eq!(bucket.tokens(&spec, 0), 0.0);
        assert_eq!(bucket.tokens(&spec, 250 * MS), 2.5);
        let later = 3600 * SEC;
        assert_eq!(bucket.tokens(&spec, later), 5.0);
        let admitted = (0..100).filter(|_| bucket.try_take(&spec, later).is_ok()).count();
        assert_eq!(admitted, 5);

        let per_second = limit(10.0, None);
        assert_eq!(per_second.capacity(), 10.0);
        let mut rl = RateLimiter::new();
        let admitted = (0..100).filter(|_| rl.admit(&per_second, 0, 0).admitted()).count();
        assert_eq!(admitted, 10);
        assert_eq!(rl.tokens(&per_second, 0), 0.0);
        // Slow limits still hold a whole token.
        assert_eq!(limit(0.5, None).capacity(), 1.0);
        let mut rl = RateLimiter::new();
        assert_eq!(rl.admit(&limit(0.5, None), 0, 0), Verdict::Pass);
        assert_eq!(rl.admit(&limit(0.5, None), 0, 0), refuse(2 * SEC));
    }

    #[test]
    fn keys_have_independent_buckets_created_full() {
        let spec = RateLimitSpec { key: LimitKey::Tenant, ..limit(1.0, Some(2.0)) };
        let mut rl = RateLimiter::new();
        assert_eq!(rl.keys(), 0);
        assert_eq!(rl.tokens(&spec, 0), 2.0);
        assert!(rl.admit(&spec, 0, 0).admitted());
        assert!(rl.admit(&spec, 0, 0).admitted());
        assert_eq!(rl.admit(&spec, 0, 0), refuse(SEC));
        // The noisy tenant 0 is out of tokens; tenant 1 is not.
        assert_eq!(rl.admit(&spec, 1, 0), Verdict::Pass);
        assert_eq!(rl.key_tokens(&spec, 1, 0), 1.0);
        // A key first seen late starts full, not at what a bucket made at 0 would hold.
        assert_eq!(rl.key_tokens(&spec, 7, 10 * SEC), 2.0);
        assert_eq!(rl.admit(&spec, 7, 10 * SEC), Verdict::Pass);
        assert_eq!(rl.admit(&spec, 7, 10 * SEC), Verdict::Pass);
        assert_eq!(rl.admit(&spec, 7, 10 * SEC), refuse(SEC));
        assert_eq!(rl.keys(), 3);
        assert_eq!(rl.tokens(&spec, 10 * SEC), 0.0);
        assert_eq!(rl.key_tokens(&spec, 1, 10 * SEC), 2.0);
        assert_eq!(LimitKey::Tenant.pick(4, 5, 6), 5);
        assert_eq!(LimitKey::Global.pick(4, 5, 6), 0);

        // A global limit ignores the id it is given.
        let global = limit(1.0, Some(2.0));
        let mut rl = RateLimiter::new();
        assert!(rl.admit(&global, 3, 0).admitted());
        assert!(rl.admit(&global, 9, 0).admitted());
        assert_eq!(rl.admit(&global, 0, 0), refuse(SEC));
        assert_eq!(rl.keys(), 1);

        // Switching the key kind forgets the old buckets.
        assert_eq!(rl.tokens(&spec, 0), 2.0);
        assert_eq!(rl.admit(&spec, 3, 0), Verdict::Pass);
        assert_eq!(rl.keys(), 1);
    }

    #[test]
    fn the_shaper_delays_then_the_next_caller_pays() {
        let spec = shaper(10.0, Some(1.0), None);
        let mut rl = RateLimiter::new();
        let verdicts: Vec<_> = (0..5).map(|_| rl.admit(&spec, 0, 0)).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Pass,
                Verdict::Delay(100 * MS),
                Verdict::Delay(200 * MS),
                Verdict::Delay(300 * MS),
                Verdict::Delay(400 * MS)
            ]
        );
        assert_eq!(rl.tokens(&spec, 0), -4.0);
        assert_eq!(rl.stats.delayed, 4);
        assert_eq!(rl.stats.total_delay_ns, 1000 * MS);
        assert_eq!(rl.stats.max_delay_ns, 400 * MS);
        assert!((rl.stats.mean_delay_s() - 0.2).abs() < 1e-12);
        // After the debt is repaid and the bucket refilled, the next one passes at once.
        assert_eq!(rl.admit(&spec, 0, 600 * MS), Verdict::Pass);

        let capped = shaper(10.0, Some(1.0), Some(0.25));
        let mut rl = RateLimiter::new();
        let verdicts: Vec<_> = (0..5).map(|_| rl.admit(&capped, 0, 0)).collect();
        // The 4th would wait 300 ms: refused, reserving nothing, so the 5th is refused alike.
        // Its Retry-After is when its wait would be down to 250 ms.
        assert_eq!(
            verdicts,
            [Verdict::Pass, Verdict::Delay(100 * MS), Verdict::Delay(200 * MS), refuse(50 * MS), refuse(50 * MS)]
        );
        assert_eq!(rl.admit(&capped, 0, 50 * MS), Verdict::Delay(250 * MS));
    }

    #[test]
    fn the_shaper_releases_exactly_the_rate_in_the_long_run() {
        // Arrivals every 50 ms (twice the rate) for 1000 s; release = arrival + delay.
        let spec = shaper(10.0, Some(5.0), None);
        let mut rl = RateLimiter::new();
        let mut releases = Vec::new();
        for k in 0..=20_000u64 {
            let arrival = k * 50 * MS;
            let delay = match rl.admit(&spec, 0, arrival) {
                Verdict::Pass => 0,
                Verdict::Delay(d) => d,
                Verdict::Refuse { .. } => panic!("an unbounded shaper refused"),
            };
            releases.push(arrival + delay);
        }
        // The i-th request leaves when its token is due: the burst at once, then one per 100 ms.
        for (i, &release) in releases.iter().enumerate() {
            let due = (i as u64 + 1).saturating_sub(5) * 100 * MS;
            assert_eq!(release, due.max(i as u64 * 50 * MS), "request {i}");
        }
        // Long after the arrivals stopped (at 1000 s) the backlog still drains at exactly r.
        let hundred_seconds = releases.iter().filter(|&&r| r > 1800 * SEC && r <= 1900 * SEC).count();
        assert_eq!(hundred_seconds, 1000);
        assert_eq!(releases.last(), Some(&(19_996 * 100 * MS)));

        // With max_delay 1 s the queue of reservations is bounded: b + r·T + r·max_delay pass.
        let spec = shaper(10.0, Some(5.0), Some(1.0));
        let mut rl = RateLimiter::new();
        for k in 0..=20_000u64 {
            rl.admit(&spec, 0, k * 50 * MS);
        }
        assert_eq!(rl.stats.admitted, 5 + 10_000 + 10);
        assert_eq!(rl.stats.refused, 20_001 - 10_015);
        assert_eq!(rl.stats.max_delay_ns, SEC);
    }

    #[test]
    fn a_live_rate_change_refills_at_the_old_rate_until_it_is_applied() {
        let mut spec = limit(10.0, Some(5.0));
        let mut rl = RateLimiter::new();
        for _ in 0..5 {
            rl.admit(&spec, 0, 0);
        }
        // Applied at 100 ms: one token from the old rate, then 20/s.
        spec.rate = 20.0;
        rl.retune(&spec, 100 * MS);
        assert_eq!(rl.tokens(&spec, 100 * MS), 1.0);
        assert_eq!(rl.tokens(&spec, 200 * MS), 3.0);
        for _ in 0..3 {
            assert_eq!(rl.admit(&spec, 0, 200 * MS), Verdict::Pass);
        }
        assert_eq!(rl.admit(&spec, 0, 200 * MS), refuse(50 * MS));

        // Not applied explicitly: the gap up to the next request counts at the old rate.
        spec.rate = 1.0;
        assert_eq!(rl.admit(&spec, 0, 300 * MS), Verdict::Pass);
        assert_eq!(rl.admit(&spec, 0, 300 * MS), Verdict::Pass);
        assert_eq!(rl.admit(&spec, 0, 300 * MS), refuse(SEC));

        // A smaller burst clamps the tokens; a larger one lets them grow, not jump.
        let mut spec = limit(10.0, Some(5.0));
        let mut rl = RateLimiter::new();
        rl.admit(&spec, 0, 0);
        spec.burst = Some(2.0);
        rl.retune(&spec, 0);
        assert_eq!(rl.tokens(&spec, 0), 2.0);
        spec.burst = Some(8.0);
        // Until applied, the bucket refills within the capacity it had.
        assert_eq!(rl.tokens(&spec, 10 * SEC), 2.0);
        rl.retune(&spec, 0);
        assert_eq!(rl.tokens(&spec, 0), 2.0);
        assert_eq!(rl.tokens(&spec, 500 * MS), 7.0);
        assert_eq!(rl.tokens(&spec, SEC), 8.0);
        assert_eq!(rl.tokens(&spec, 10 * SEC), 8.0);
    }

    #[test]
    fn sustained_overload_admits_burst_plus_rate_times_time_exactly() {
        // Rate 10/s, burst 5, one arrival every 50 ms (twice the rate) from 0 to 1000 s
        // inclusive: b + r·T = 10 005 admitted, exactly (integer arithmetic, not ± 1).
        let spec = limit(10.0, Some(5.0));
        let mut rl = RateLimiter::new();
        for k in 0..=20_000u64 {
            rl.admit(&spec, 0, k * 50 * MS);
            if k == 19_999 {
                // Arrivals in [0, 1000 s) only: ⌊5 + 10 × 999.95⌋.
                assert_eq!(rl.stats.admitted, 10_004);
            }
        }
        assert_eq!(rl.stats.admitted, 10 * 1000 + 5);
        assert_eq!(rl.stats.refused, 20_001 - 10_005);
    }

    #[test]
    fn awkward_rates_match_the_closed_form_at_every_arrival() {
        // Under overload with no overflow of the bucket, after an arrival at t the count is
        // min(arrivals, ⌊b + r·t⌋): checked with exact integers, rate = num / den tokens per s.
        let cases: [(u128, u128, u64, u64); 4] =
            [(3, 1, 4, 166_666_667), (3, 10, 2, 1_666_666_667), (77, 10, 3, 64_935_065), (1234, 1, 7, 405_186)];
        for (num, den, burst, gap) in cases {
            let spec = limit(num as f64 / den as f64, Some(burst as f64));
            let mut rl = RateLimiter::new();
            let arrivals = 1000 * SEC / gap;
            for k in 0..=arrivals {
                let t = u128::from(k * gap);
                rl.admit(&spec, 0, k * gap);
                let exact = (u128::from(burst) * den * u128::from(SEC) + num * t) / (den * u128::from(SEC));
                assert_eq!(u128::from(rl.stats.admitted), exact.min(u128::from(k) + 1), "{num}/{den} at arrival {k}");
            }
        }
    }

    #[test]
    fn extreme_inputs_neither_panic_nor_overflow() {
        // The slowest rate the registry allows: a token every 10⁶ s.
        let slow = limit(MIN_RATE, Some(1.0));
        let mut bucket = TokenBucket::full(&slow, 0);
        assert_eq!(bucket.try_take(&slow, 0), Ok(()));
        assert_eq!(bucket.try_take(&slow, 0), Err(1_000_000 * SEC));
        // The biggest burst at the highest rate, and instants at the end of the clock.
        let huge = limit(MAX_RATE, Some(MAX_BURST));
        let mut rl = RateLimiter::new();
        assert_eq!(rl.admit(&huge, 0, u64::MAX), Verdict::Pass);
        assert_eq!(rl.tokens(&huge, u64::MAX), MAX_BURST - 1.0);
        // A clock going backwards refills nothing and does not wrap.
        assert_eq!(rl.admit(&huge, 0, 0), Verdict::Pass);
        assert_eq!(rl.tokens(&huge, 0), MAX_BURST - 2.0);
        // A shaper in deep debt reports waits that cannot wrap `now + wait`.
        let deep = shaper(MIN_RATE, Some(1.0), None);
        let mut bucket = TokenBucket::full(&deep, 0);
        for _ in 0..100_000 {
            bucket.reserve(&deep, 0).unwrap();
        }
        assert_eq!(bucket.reserve(&deep, 0), Ok(LONGEST_WAIT));
        assert_eq!(bucket.time_to_token(&deep, u64::MAX), LONGEST_WAIT);
        // Specs the registry would reject still do no harm.
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            for burst in [None, Some(0.0), Some(-3.0), Some(f64::NAN), Some(f64::INFINITY)] {
                let odd = limit(rate, burst);
                let mut rl = RateLimiter::new();
                for now in [0, 1, u64::MAX, 5] {
                    rl.admit(&odd, 0, now);
                    rl.admit(&RateLimitSpec { excess: Excess::Delay, ..odd.clone() }, 0, now);
                    let _ = rl.tokens(&odd, now);
                }
            }
        }
    }

    #[test]
    fn registry_paths_bounds_and_burst_as_capacity() {
        let mut spec = limit(10.0, None);
        let mut lister = Lister::new("gw.rate_limit");
        spec.visit(&mut lister);
        let listed: Vec<_> = lister.out.iter().map(|p| (p.path.as_str(), p.kind.clone(), p.value.clone())).collect();
        assert_eq!(
            listed,
            [
                ("gw.rate_limit.enabled", Kind::Flag, Value::Flag(true)),
                ("gw.rate_limit.rate", Kind::Real { min: MIN_RATE, max: MAX_RATE }, Value::Real(10.0)),
                ("gw.rate_limit.burst", Kind::Real { min: 1.0, max: MAX_BURST }, Value::Real(10.0)),
                (
                    "gw.rate_limit.key",
                    Kind::Choice(&["global", "class", "tenant", "endpoint"]),
                    Value::Choice("global".into())
                ),
                ("gw.rate_limit.excess", Kind::Choice(&["reject", "delay"]), Value::Choice("reject".into())),
                ("gw.rate_limit.max_delay", Kind::OptionalSeconds, Value::Unset),
                ("gw.rate_limit.retry_after", Kind::Flag, Value::Flag(true)),
            ]
        );
        // Listing and checking leave `burst: None` following the rate.
        assert!(out_of_bounds(&mut spec).is_empty());
        assert_eq!(spec.burst, None);

        fn set(spec: &mut RateLimitSpec, path: &str, value: Value) -> Result<(), String> {
            let mut result = Err("not found".to_string());
            let mut finder = Finder::new(path, |field| result = field.set(&value));
            spec.visit(&mut finder);
            result
        }
        assert!(set(&mut spec, "burst", Value::Real(0.5)).is_err());
        assert!(set(&mut spec, "burst", Value::Real(2e12)).is_err());
        assert!(set(&mut spec, "rate", Value::Real(0.0)).is_err());
        assert!(set(&mut spec, "rate", Value::Real(2e9)).is_err());
        assert!(set(&mut spec, "max_delay", Value::Real(0.0)).is_err());
        assert_eq!(spec, limit(10.0, None));
        set(&mut spec, "rate", Value::Real(0.5)).unwrap();
        assert_eq!(spec.capacity(), 1.0);
        set(&mut spec, "burst", Value::Count(20)).unwrap();
        set(&mut spec, "key", Value::Choice("tenant".into())).unwrap();
        set(&mut spec, "excess", Value::Choice("delay".into())).unwrap();
        set(&mut spec, "max_delay", Value::Real(0.25)).unwrap();
        assert_eq!(
            spec,
            RateLimitSpec {
                enabled: true,
                rate: 0.5,
                burst: Some(20.0),
                key: LimitKey::Tenant,
                excess: Excess::Delay,
                max_delay: Some(0.25),
                retry_after: true
            }
        );
        // A file's burst below one token is caught by the same bounds.
        assert_eq!(out_of_bounds(&mut limit(10.0, Some(0.5))).len(), 1);
    }

    #[test]
    fn the_spec_reads_from_ron_with_defaults() {
        let spec: RateLimitSpec = ron::from_str("RateLimit(rate: 10.0)").unwrap();
        assert_eq!(spec, limit(10.0, None));
        let spec: RateLimitSpec = ron::from_str(concat!(
            "RateLimit(rate: 2.0, burst: Some(4.0), key: Tenant, excess: Delay, ",
            "max_delay: Some(0.5), retry_after: false)"
        ))
        .unwrap();
        assert_eq!(spec.key, LimitKey::Tenant);
        assert_eq!(spec.max_delay_nanos(), Some(500 * MS));
        assert!(!spec.retry_after);
        assert!(ron::from_str::<RateLimitSpec>("RateLimit(rate: 1.0, burts: Some(2.0))").is_err());
        assert!(ron::from_str::<RateLimitSpec>("RateLimit(burst: Some(2.0))").is_err());
        // Absent from the file: off, and written out of exported files.
        assert!(RateLimitSpec::default().is_off());
        assert!(!spec.is_off());
        let stats = RateLimitStats { admitted: 3, ..RateLimitStats::default() };
        assert!(ron::to_string(&stats).unwrap().contains("admitted:3"));
    }
}
