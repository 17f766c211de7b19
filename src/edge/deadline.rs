//! Deadlines (gRPC, resilience-semantics §8): a request carries an absolute deadline from its
//! origin (a source's `deadline`), and every attempt on its behalf is capped by the time that
//! remains: an attempt's timeout is min(the edge's own timeout, the deadline), and no attempt —
//! a retry after its backoff included — is sent once the deadline has passed ("retries and
//! hedges share one deadline").
//!
//! With `propagate_deadline` the callee learns the deadline too (as gRPC's `grpc-timeout`
//! header, recomputed at each hop): a service then drops a request whose deadline has passed
//! when it would start work or make its next downstream call, refused as `deadline_expired`,
//! and passes the same deadline on to its own calls. Without it (the default, and C++ gRPC's),
//! servers keep working on requests whose callers gave up long ago: throughput looks fine while
//! goodput collapses.

use crate::engine::time::Nanos;
use crate::model::request::NO_DEADLINE;

/// True when the edge neither propagates a deadline nor caps by one: nothing to do.
#[inline]
pub fn transparent(propagate: bool) -> bool {
    !propagate
}

/// When the attempt sent at `now` must end: its own timeout's deadline, capped by the
/// request's; `None` when neither exists.
#[inline]
pub fn attempt_deadline(timeout: Option<Nanos>, request: Nanos) -> Option<Nanos> {
    match (timeout, request) {
        (None, NO_DEADLINE) => None,
        (None, d) => Some(d),
        (Some(t), d) => Some(t.min(d)),
    }
}

/// The deadline the callee sees: the request's when the edge propagates it.
#[inline]
pub fn callee_deadline(propagate: bool, request: Nanos) -> Nanos {
    if propagate { request } else { NO_DEADLINE }
}

/// Whether `deadline` has passed at `now` (a request due exactly now still has its instant).
#[inline]
pub fn expired(deadline: Nanos, now: Nanos) -> bool {
    now > deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_ends_at_its_timeout_or_the_requests_deadline_whichever_is_first() {
        assert_eq!(attempt_deadline(None, NO_DEADLINE), None);
        assert_eq!(attempt_deadline(Some(500), NO_DEADLINE), Some(500));
        assert_eq!(attempt_deadline(None, 300), Some(300));
        // gRPC's example: a 30 s budget with 7 s spent leaves 23 s, shorter than a 25 s timeout.
        assert_eq!(attempt_deadline(Some(7 + 25), 30), Some(30));
        assert_eq!(attempt_deadline(Some(7 + 10), 30), Some(17));
    }

    #[test]
    fn only_a_propagating_edge_tells_the_callee() {
        assert_eq!(callee_deadline(true, 42), 42);
        assert_eq!(callee_deadline(false, 42), NO_DEADLINE);
        assert!(!expired(42, 42) && expired(42, 43) && !expired(NO_DEADLINE, u64::MAX - 1));
    }
}
