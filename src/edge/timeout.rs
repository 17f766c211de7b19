//! The timeout layer, innermost on an edge: a per-attempt deadline armed when the attempt is
//! sent (gRPC: no deadline by default, resilience-semantics §8). When it fires the caller stops
//! waiting and the attempt's outcome is `Timeout`; the callee keeps working on it (its work is
//! later counted as `abandoned`) unless `cancel_on_timeout` asks for it to be cancelled, as
//! Resilience4j's TimeLimiter does with `cancelRunningFuture`.
//!
//! The timer itself is a policy timer on the calendar (`TimerTag::AttemptTimeout`, owned by the
//! exchange), voided by the exchange's generation when the answer comes first.

use crate::engine::time::{Nanos, secs_to_nanos};

/// True when the edge has no timeout: nothing is armed.
#[inline]
pub fn transparent(timeout: Option<f64>) -> bool {
    timeout.is_none()
}

/// The deadline of an attempt sent at `now`, if the edge has a timeout.
#[inline]
pub fn deadline(timeout: Option<f64>, now: Nanos) -> Option<Nanos> {
    timeout.map(|t| now.saturating_add(secs_to_nanos(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_timeout_is_transparent_and_arms_nothing() {
        assert!(transparent(None));
        assert_eq!(deadline(None, 5), None);
        assert!(!transparent(Some(0.5)));
        assert_eq!(deadline(Some(0.5), 1_000), Some(500_001_000));
    }
}
