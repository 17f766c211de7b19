//! The client-side rate-limit layer: a token bucket on the caller's side of an edge (Envoy's
//! local rate limit, Guava's `RateLimiter` in front of a client; resilience-semantics §5), inside
//! the breaker and outside the timeout.
//!
//! The bucket is the station's ([`crate::station::rate_limit`]): the same spec, parameters and
//! state machine, keyed globally or by the request's class, tenant or endpoint. On an edge an
//! attempt over the rate is either refused locally (outcome `RateLimited`, never sent, counted
//! as `rate_limited` on the edge) or, with `excess: Delay`, held until its token is due and then
//! sent (a shaper: it smooths bursts and adds latency, counted as `delayed` with the wait).

pub use crate::station::rate_limit::{RateLimitSpec, RateLimiter, Verdict};

/// True when the edge has no rate limit.
#[inline]
pub fn transparent(spec: &RateLimitSpec) -> bool {
    !spec.enabled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::rate_limit::Excess;

    const MS: u64 = 1_000_000;

    #[test]
    fn an_edge_limit_refuses_or_delays_past_its_burst() {
        let mut spec = RateLimitSpec { enabled: true, rate: 10.0, burst: Some(2.0), ..RateLimitSpec::default() };
        assert!(!transparent(&spec));
        let mut limiter = RateLimiter::new();
        assert_eq!(limiter.admit(&spec, 0, 0), Verdict::Pass);
        assert_eq!(limiter.admit(&spec, 0, 0), Verdict::Pass);
        assert_eq!(limiter.admit(&spec, 0, 0), Verdict::Refuse { retry_after: Some(100 * MS) });
        spec.excess = Excess::Delay;
        let mut shaper = RateLimiter::new();
        let delays: Vec<_> = (0..4).map(|_| shaper.admit(&spec, 0, 0)).collect();
        assert_eq!(delays, [Verdict::Pass, Verdict::Pass, Verdict::Delay(100 * MS), Verdict::Delay(200 * MS)]);
        assert!(transparent(&RateLimitSpec::default()));
    }
}
