//! What happens to a request that finds a service's waiting room full (resilience-semantics §6,
//! the JDK `ThreadPoolExecutor` handlers): refuse it with a signal, drop it (the newest or the
//! oldest), or hold its sender until a place frees up (which is how backpressure travels
//! upstream in a tandem line).

use serde::{Deserialize, Serialize};

use super::queue::QueueSpec;
use crate::choice_enum;
use crate::engine::time::{Nanos, secs_to_nanos};

/// What happens to a request that finds the queue full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Overflow {
    /// Refuse it with a signal (429/503 + Retry-After).
    #[default]
    Reject,
    /// Discard the arriving request silently.
    DropNewest,
    /// Discard the request that has waited longest, admit the new one.
    DropOldest,
    /// Hold the sender until a place frees up, or until `block_timeout`.
    Block,
}
choice_enum!(Overflow {
    "reject" => Overflow::Reject,
    "drop_newest" => Overflow::DropNewest,
    "drop_oldest" => Overflow::DropOldest,
    "block" => Overflow::Block,
});

/// What the engine does with a request that found no place, as the overflow rule says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Refuse it now (429/503), with the Retry-After hint if the queue sends one.
    Refuse { retry_after: Option<Nanos> },
    /// Discard it silently.
    DropNewest,
    /// Discard the longest-waiting request and take this one in its place.
    DropOldest,
    /// Hold the sender until a place frees up, or until the timeout if there is one.
    Block { timeout: Option<Nanos> },
}

/// The action for a request that found `queue` full.
pub fn action(queue: &QueueSpec) -> Action {
    match queue.overflow {
        Overflow::Reject => Action::Refuse { retry_after: queue.retry_after.map(secs_to_nanos) },
        Overflow::DropNewest => Action::DropNewest,
        Overflow::DropOldest => Action::DropOldest,
        Overflow::Block => Action::Block { timeout: queue.block_timeout.map(secs_to_nanos) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_says_what_to_do_with_its_hints() {
        let mut q = QueueSpec { retry_after: Some(1.5), block_timeout: Some(0.25), ..QueueSpec::default() };
        assert_eq!(action(&q), Action::Refuse { retry_after: Some(1_500_000_000) });
        q.overflow = Overflow::Block;
        assert_eq!(action(&q), Action::Block { timeout: Some(250_000_000) });
        q.overflow = Overflow::DropOldest;
        assert_eq!(action(&q), Action::DropOldest);
        q.overflow = Overflow::DropNewest;
        assert_eq!(action(&q), Action::DropNewest);
    }
}
