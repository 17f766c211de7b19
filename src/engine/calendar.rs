//! The event calendar: a binary min-heap ordered by (time, sequence number).
//!
//! The sequence number is assigned when an event is scheduled, so two events at the same
//! nanosecond are handled in the order they were scheduled: ties never depend on heap layout.
//! Cancellation is lazy: handlers carry generation counters and ignore events that went stale
//! (a timeout whose call already answered, an arrival planned before a rate change), which keeps
//! scheduling O(log n) with no search.

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
///
/// `repr(u8)`: a plain tag byte first, so the timer's tag enum is not used as a niche for the
/// variant tag (which made every dispatch decode it), and 16 bytes in all (fields in C order,
/// which is why a timer's tag comes before its owner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Event {
    /// An open-loop source emits its next request (stale if `generation` changed).
    Arrival { source: EntityBits, generation: u32 },
    /// One closed-loop client finished thinking and sends a request.
    ThinkDone { source: EntityBits },
    /// An on/off source switches phase (stale if `generation` changed).
    PhaseSwitch { source: EntityBits, generation: u32 },
    /// A worker finishes the local part of a call (stale if the call's generation changed).
    ServiceDone { call: CallId, generation: u32 },
    /// A policy's timer (a retry's backoff, a breaker's OPEN wait, …): `tag` says which, `owner`
    /// whose (an exchange, an edge or a node, as the tag defines), and it is stale if the owner's
    /// generation for that timer changed. One variant for every policy, so a new policy adds a
    /// tag, not an event and a dispatch arm.
    Timer { tag: TimerTag, owner: TimerOwner, generation: u32 },
}

/// Whose timer it is: an exchange id, or an entity (an edge or a node), as its [`TimerTag`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerOwner(EntityBits);

impl TimerOwner {
    #[inline]
    pub fn exchange(ex: ExchangeId) -> Self {
        Self(EntityBits([ex, 0]))
    }

    #[inline]
    pub fn call(call: CallId) -> Self {
        Self(EntityBits([call, 0]))
    }

    /// The call, for tags owned by a call.
    #[inline]
    pub fn as_call(self) -> CallId {
        self.0.0[0]
    }

    #[inline]
    pub fn entity(e: Entity) -> Self {
        Self(e.into())
    }

    /// The exchange, for tags owned by an exchange.
    #[inline]
    pub fn as_exchange(self) -> ExchangeId {
        self.0.0[0]
    }

    /// The entity, for tags owned by an edge or a node.
    #[inline]
    pub fn as_entity(self) -> Entity {
        self.0.entity()
    }
}

/// Which policy timer fired. The owner of each is given with the variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerTag {
    /// Timeout layer (owner: the exchange): the attempt in flight took too long.
    AttemptTimeout,
    /// `Block` overflow (owner: the call): a blocked sender gives up waiting for a place.
    BlockTimeout,
    /// Concurrency limit with `max_wait` (owner: the call): a waiter gives up on its permit.
    PermitWait,
    /// Network layer (owner: the call): an attempt reaches its callee.
    Deliver,
    /// Network layer (owner: the exchange): an answer reaches its caller.
    AnswerDue,
    /// Hedge layer (owner: the exchange): the attempt is still unanswered; send its copy.
    HedgeDue,
    /// Retry layer (owner: the exchange): the backoff has elapsed, send the next attempt.
    RetryDue,
    /// Breaker layer (owner: the edge): the automatic OPEN → HALF_OPEN move.
    BreakerHalfOpen,
    /// Rate-limit layer with `excess: Delay` (owner: the exchange): the shaper lets the attempt go.
    SendDue,
    /// A service's controllers (owner: the node): an adaptive rate's control interval, an
    /// autoscaler's evaluation or a worker becoming ready, an OOM kill or a restart.
    Control,
}

#[derive(Clone, Copy, Debug)]
struct Scheduled {
    time: Nanos,
    seq: u64,
    event: Event,
}

impl Scheduled {
    /// Whether `self` is handled before `other`: earlier time, then earlier scheduling.
    #[inline(always)]
    fn before(&self, other: &Self) -> bool {
        (self.time, self.seq) < (other.time, other.seq)
    }
}

/// Pending events, earliest first; ties broken by scheduling order.
///
/// A binary min-heap written out rather than `std::collections::BinaryHeap`: std's `pop` swaps
/// the last entry into the root through memory and reads it straight back, a store-forwarding
/// stall that was a quarter of the event loop's own time in profiles. Here the moving entry
/// stays in registers while a hole sinks to its place. (time, seq) keys are unique, so the pop
/// order is the same total order as any other correct heap's.
#[derive(Debug, Default)]
pub struct Calendar {
    heap: Vec<Scheduled>,
    next_seq: u64,
}

impl Calendar {
    /// Schedules `event` at absolute time `time`.
    #[inline(always)]
    pub fn schedule(&mut self, time: Nanos, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let item = Scheduled { time, seq, event };
        let heap = &mut self.heap;
        let mut hole = heap.len();
        heap.push(item);
        while hole > 0 {
            let parent = (hole - 1) / 2;
            if !item.before(&heap[parent]) {
                break;
            }
            heap[hole] = heap[parent];
            hole = parent;
        }
        heap[hole] = item;
    }

    /// Time of the earliest pending event.
    #[inline]
    pub fn peek_time(&self) -> Option<Nanos> {
        self.heap.first().map(|s| s.time)
    }

    /// Removes and returns the earliest pending event.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<(Nanos, Event)> {
        let heap = &mut self.heap;
        let last = heap.pop()?;
        let Some(&root) = heap.first() else { return Some((last.time, last.event)) };
        // Sink a hole from the root along the smaller children, then drop `last` into it.
        let n = heap.len();
        let mut hole = 0;
        loop {
            let mut child = 2 * hole + 1;
            if child >= n {
                break;
            }
            if child + 1 < n && heap[child + 1].before(&heap[child]) {
                child += 1;
            }
            if !heap[child].before(&last) {
                break;
            }
            heap[hole] = heap[child];
            hole = child;
        }
        heap[hole] = last;
        Some((root.time, root.event))
    }

    /// Number of pending events (including stale ones not yet popped).
    /// Events scheduled at `t`, in no particular order (for diagnostics, off the hot path).
    pub fn events_at(&self, t: Nanos) -> impl Iterator<Item = Event> + '_ {
        self.heap.iter().filter(move |s| s.time == t).map(|s| s.event)
    }

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

    #[test]
    fn matches_a_sorted_order_on_random_interleavings() {
        use rand::{RngExt as _, SeedableRng};
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
        let mut cal = Calendar::default();
        let mut expected: Vec<(Nanos, u64)> = Vec::new();
        let mut got: Vec<(Nanos, u64)> = Vec::new();
        let mut seq = 0u64;
        for _ in 0..20_000 {
            if rng.random::<f64>() < 0.55 {
                let t = rng.random_range(0..500u64);
                cal.schedule(t, Event::ServiceDone { call: seq as u32, generation: 0 });
                expected.push((t, seq));
                seq += 1;
            } else if let Some((t, Event::ServiceDone { call, .. })) = cal.pop() {
                got.push((t, u64::from(call)));
                // What was popped must be the minimum of what was pending.
                expected.sort();
                assert_eq!(expected.remove(0), (t, u64::from(call)));
            }
        }
        assert_eq!(cal.len(), expected.len());
        assert!(!got.is_empty());
    }
}
