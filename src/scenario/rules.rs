//! Rules across fields, which one field's bounds in the parameter registry cannot say.
//!
//! The same functions judge a scenario file (`validate`), a live change (`Sim::set`, `--set`,
//! the inspector) and a timeline entry when it comes due, so a file and a live change can never
//! disagree. Each returns the field to blame, relative to the node, and what to write.

use super::schema::{Arrivals, ServiceSpec, SourceSpec};
use crate::edge::EdgePolicy;
use crate::engine::time::MAX_RATE;
use crate::station::load::LoadSignal;
use crate::station::rate_limit::Excess;

/// The most clients a closed loop may have, and the largest breaker window: both are held in
/// memory one by one.
pub const MAX_CLIENTS: u32 = 1_000_000;
pub const MAX_WINDOW: u32 = 1_000_000;

/// Node and class names: 1 to 64 ASCII letters, digits, `_` and `-`. They become parameter
/// paths (`api.workers`), report keys, table columns and file names (`--csv DIR/api.csv`).
pub fn name_ok(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `name` with everything outside the safe set replaced by `_` (a suggestion for messages).
pub fn safe_name(name: &str) -> String {
    let s: String =
        name.chars().take(64).map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if s.is_empty() { "node".into() } else { s }
}

/// An edge policy's broken rule, if any (the layers' rules across their own fields).
pub fn edge(p: &EdgePolicy) -> Option<(&'static str, String)> {
    let limit = &p.adaptive_limit;
    if limit.enabled { limit.validate().err().map(|e| ("adaptive_limit", e)) } else { None }
}

/// A source's broken rule, if any.
pub fn source(s: &SourceSpec) -> Option<(&'static str, String)> {
    if let Some(broken) = edge(&s.policy()) {
        return Some(broken);
    }
    match &s.arrivals {
        Arrivals::Closed { think, .. } => think.validate().err().map(|e| ("arrivals.think", e)),
        arrivals => {
            let peak = match arrivals {
                Arrivals::Schedule { points, .. } => points.iter().map(|p| p.1).fold(0.0, f64::max),
                _ => 1.0,
            };
            let top = s.rate * peak;
            (top > MAX_RATE).then(|| {
                (
                    "rate",
                    format!(
                        "`rate` × the schedule's peak multiplier is {top:e} requests/s, above one per nanosecond \
                         (1e9/s), the finest step the clock has; write a rate of at most 1e9 (and lower the \
                         multipliers)"
                    ),
                )
            })
        }
    }
}

/// A service's broken rule, if any.
pub fn service(s: &ServiceSpec) -> Option<(&'static str, String)> {
    if s.rate_limit.enabled && s.rate_limit.excess == Excess::Delay {
        // A station answers at once or takes the request in; holding it outside the node is the
        // caller's business (a shaper on the edge), as Envoy's local rate limit only refuses.
        return Some((
            "rate_limit.excess",
            "a service's rate limit refuses (429) and cannot delay; write `excess: Reject` here, or put \
             `rate_limit: RateLimit(…, excess: Delay)` on the callers' edge to shape their traffic"
                .into(),
        ));
    }
    // A queue fill is measured against the queue's capacity; an unbounded queue has none, so
    // the signal would read 0 for ever and the controller never act.
    let unbounded = s.queue.capacity.is_none();
    for (on, signal, path) in [
        (s.shed.enabled, s.shed.load.signal, "shed.load.signal"),
        (s.degrade.enabled, s.degrade.load.signal, "degrade.load.signal"),
    ] {
        if on && unbounded && signal == LoadSignal::QueueFill {
            return Some((
                path,
                "`QueueFill` measures the queue against its capacity, and this queue is unbounded (it would read 0 \
                 for ever); give `queue: Queue(capacity: Some(…))`, or measure `Utilization` or `InFlight`"
                    .into(),
            ));
        }
    }
    if let Err(e) = s.service.validate() {
        return Some(("service", e));
    }
    // Each controller's own rules across its fields, in its file.
    let checks: [(bool, &'static str, Result<(), String>); 4] = [
        (s.adaptive_limit.enabled, "adaptive_limit", s.adaptive_limit.validate()),
        (s.adaptive_rate.enabled, "adaptive_rate", s.adaptive_rate.validate()),
        (s.autoscale.enabled, "autoscale", s.autoscale.validate()),
        (s.memory.enabled, "memory", s.memory.validate()),
    ];
    checks.into_iter().find_map(|(on, path, result)| if on { result.err().map(|e| (path, e)) } else { None })
}
