//! The event calendar: a binary heap ordered by (time, sequence number).
//!
//! The sequence number is assigned when an event is scheduled, so two events at the same
//! nanosecond are handled in the order they were scheduled: ties never depend on heap layout.
//! Cancellation is lazy: handlers carry generation counters and ignore events that went stale
//! (a timeout whose call already answered, an arrival planned before a rate change), which keeps
//! scheduling O(log n) with no search.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use bevy::ecs::entity::Entity;

use super::time::Nanos;

/// Index of a call (one attempt at one node) in the kernel's call slab.
pub type CallId = u32;
/// Index of an exchange (a caller's logical request across retries) in the exchange slab.
pub type ExchangeId = u32;

/// An entity stored as two `u32`s: `Entity` is 8-byte aligned, which would pad every calendar
/// entry from 32 to 40 bytes; the heap moves entries on every push and pop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityBits([u32; 2]);

impl From<Entity> for EntityBits {
    #[inline]
    fn from(e: Entity) -> Self {
        let b = e.to_bits();
        Self([b as u32, (b >> 32) as u32])
    }
}

impl EntityBits {
    /// The entity (a placeholder if the bits were somehow invalid; lookups then fail softly).
    #[inline]
    pub fn entity(self) -> Entity {
        Entity::try_from_bits(u64::from(self.0[0]) | (u64::from(self.0[1]) << 32)).unwrap_or(Entity::PLACEHOLDER)
    }
}

/// Something that happens at a simulated instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// An open-loop source emits its next request (stale if `generation` changed).
    Arrival { source: EntityBits, generation: u32 },
    /// One closed-loop client finished thinking and sends a request.
    ThinkDone { source: EntityBits },
    /// An on/off source switches phase (stale if `generation` changed).
    PhaseSwitch { source: EntityBits, generation: u32 },
    /// A worker finishes the local part of a call (stale if the call's generation changed).
    ServiceDone { call: CallId, generation: u32 },
    /// The caller's per-attempt timeout fires (stale if the exchange's generation changed).
    CallTimeout { exchange: ExchangeId, generation: u32 },
    /// A blocked sender gives up waiting for a queue place.
    BlockTimeout { call: CallId, generation: u32 },
    /// The backoff of a retry has elapsed: send the next attempt.
    RetryDue { exchange: ExchangeId, generation: u32 },
    /// Automatic OPEN → HALF_OPEN transition of a circuit breaker.
    BreakerWaitOver { link: EntityBits, generation: u32 },
}

#[derive(Clone, Copy, Debug)]
struct Scheduled {
    time: Nanos,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed so that `BinaryHeap` (a max-heap) pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.time.cmp(&self.time).then(other.seq.cmp(&self.seq))
    }
}

/// Pending events, earliest first; ties broken by scheduling order.
#[derive(Debug, Default)]
pub struct Calendar {
    heap: BinaryHeap<Scheduled>,
    next_seq: u64,
}

impl Calendar {
    /// Schedules `event` at absolute time `time`.
    #[inline]
    pub fn schedule(&mut self, time: Nanos, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Scheduled { time, seq, event });
    }

    /// Time of the earliest pending event.
    #[inline]
    pub fn peek_time(&self) -> Option<Nanos> {
        self.heap.peek().map(|s| s.time)
    }

    /// Removes and returns the earliest pending event.
    #[inline]
    pub fn pop(&mut self) -> Option<(Nanos, Event)> {
        self.heap.pop().map(|s| (s.time, s.event))
    }

    /// Number of pending events (including stale ones not yet popped).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_small_and_entities_round_trip() {
        assert!(std::mem::size_of::<Scheduled>() <= 32);
        let e = Entity::from_bits(0x0000_0002_0000_0007);
        assert_eq!(EntityBits::from(e).entity(), e);
    }

    #[test]
    fn pops_by_time_then_by_scheduling_order() {
        let mut cal = Calendar::default();
        let e = |call| Event::ServiceDone { call, generation: 0 };
        cal.schedule(5, e(0));
        cal.schedule(3, e(1));
        cal.schedule(5, e(2));
        cal.schedule(3, e(3));
        let order: Vec<_> = std::iter::from_fn(|| cal.pop()).collect();
        assert_eq!(order, vec![(3, e(1)), (3, e(3)), (5, e(0)), (5, e(2))]);
    }
}
