//! The client-side adaptive concurrency limit: a cap on a caller's attempts in flight on one
//! edge, moved by what the answers say (Netflix concurrency-limits used as a client limiter,
//! `ConcurrencyLimitClientInterceptor`; resilience-semantics §4a), inside the breaker and
//! outside the rate limit and the timeout.
//!
//! The limiter is the station's ([`crate::station::adaptive_limit`]): the same spec,
//! parameters and algorithms (AIMD, Vegas, Gradient2, Envoy's gradient). On an edge an attempt
//! finding every permit taken is refused at once, never sent (outcome `LimitExceeded`, counted
//! as `limited` on the edge; a source labels the request `rejected_by.adaptive_limit`). Each
//! attempt that was sent is one sample when it ends, with its round trip:
//!
//! * an answer (`Ok`) is a sample;
//! * a refusal (`Rejected`, a 503), silence (`Timeout`) or a loss (`Dropped`) is a drop, the
//!   signal Netflix's gRPC interceptor sends as `onDropped` for an overloaded server;
//! * an application error (`Error`) says nothing about load and is ignored (`onIgnore`).

pub use crate::station::adaptive_limit::{AdaptiveLimit, AdaptiveLimitSpec};

use super::Outcome;

/// True when the edge has no adaptive limit.
#[inline]
pub fn transparent(spec: &AdaptiveLimitSpec) -> bool {
    !spec.enabled
}

/// How an attempt's outcome feeds the limiter: `Some(dropped)` for a sample, `None` to ignore.
pub fn sample_of(outcome: Outcome) -> Option<bool> {
    match outcome {
        Outcome::Ok => Some(false),
        Outcome::Rejected | Outcome::Timeout | Outcome::Dropped => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_samples_overload_is_a_drop_and_errors_are_ignored() {
        assert_eq!(sample_of(Outcome::Ok), Some(false));
        for o in [Outcome::Rejected, Outcome::Timeout, Outcome::Dropped] {
            assert_eq!(sample_of(o), Some(true), "{o:?}");
        }
        for o in [Outcome::Error, Outcome::BreakerOpen, Outcome::RateLimited, Outcome::Throttled] {
            assert_eq!(sample_of(o), None, "{o:?}");
        }
        assert!(transparent(&AdaptiveLimitSpec::default()));
    }
}
