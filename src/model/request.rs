//! Requests as plain data: calls (one attempt at one node) and exchanges (a caller's logical
//! request across retries), stored in slabs owned by the kernel.
//!
//! Requests are not entities: there are millions of them, they live microseconds of wall time,
//! and spawning entities would allocate and reorder archetype tables in the hot loop. A slab
//! reuses freed slots, so a long run settles at a fixed memory footprint.

use bevy::ecs::entity::Entity;

use crate::edge::Outcome;
use crate::engine::calendar::{CallId, ExchangeId};
use crate::engine::time::Nanos;

/// Marker for "no call" / "no exchange".
pub const NONE: u32 = u32::MAX;

/// The deadline of a request that has none.
pub const NO_DEADLINE: Nanos = Nanos::MAX;

/// Where a call currently is inside its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallState {
    /// Slot is unused.
    Free,
    /// In the node's queue.
    Queued,
    /// Waiting for a queue place (overflow policy `Block`).
    Blocked,
    /// Waiting for a concurrency permit at the node's entry (not inside the node yet).
    AwaitingPermit,
    /// On the network, on its way to the node (not arrived yet).
    InFlight,
    /// A worker is doing the local work.
    InService,
    /// A worker is waiting on a downstream call.
    Downstream,
    /// Done at its node (served, refused or dropped); its answer is being sent. A hedged
    /// attempt's other copy winning meanwhile must not cancel it, only stop waiting for it.
    Answering,
}

/// One attempt of a request at one node (it moves along `routes` as a Jackson job does).
#[derive(Clone, Copy, Debug)]
pub struct Call {
    /// The node the call is at.
    pub node: Entity,
    /// The caller-side exchange this call answers.
    pub exchange: ExchangeId,
    /// Class index and its queue priority (0 first).
    pub class: u8,
    pub priority: u8,
    /// Arrival at the current node.
    pub arrived: Nanos,
    /// Start of service at the current node.
    pub started: Nanos,
    /// Bumped on free and on cancellation, so pending events for the old incarnation go stale.
    pub generation: u32,
    pub state: CallState,
    /// A terminal label (timed out) was already counted at the current node.
    pub labeled: bool,
    /// Arrived at the current node after warm-up, so it is counted in statistics.
    pub counted: bool,
    /// False once the caller stopped waiting (timeout): finishing later is abandoned work.
    pub caller_waiting: bool,
    /// This attempt is a retry (attempt number > 1).
    pub is_retry: bool,
    /// Index of the next downstream call the worker makes.
    pub next_call: u16,
    /// The downstream exchange the worker waits on (`Downstream` state).
    pub downstream: ExchangeId,
    /// When `Blocked` after a route: the node whose worker is held.
    pub held_worker_at: Option<Entity>,
    /// Set for a source's request over an edge with no policy (no timeout, retry or breaker):
    /// the call answers the source directly, without an exchange record.
    pub direct: Option<Direct>,
    /// The absolute deadline propagated with the request ([`NO_DEADLINE`] if none): what the
    /// node knows and acts on.
    pub deadline: Nanos,
    /// The deadline its origin set, propagated or not: what goodput is measured against (the
    /// simulator knows it even where the node does not).
    pub origin_deadline: Nanos,
    /// The index (in name order) of the source whose logical request this call serves, however
    /// deep in the call chain: the report's amplification per source.
    pub origin_source: u8,
    /// Answered from a stored result (idempotency key), not executed.
    pub replay: bool,
    /// The logical request it is an attempt of: its retries carry the same id (duplicates and
    /// idempotency keys are per id).
    pub request_id: u64,
}

impl Call {
    /// A new attempt arriving at `node` now (its arrival is recorded by the service; the
    /// kernel fills in the class's queue priority).
    pub fn attempt(node: Entity, exchange: ExchangeId, class: u8, now: Nanos, is_retry: bool) -> Self {
        Self {
            node,
            exchange,
            class,
            priority: 0,
            arrived: now,
            started: now,
            generation: 0,
            state: CallState::Queued,
            labeled: false,
            counted: false,
            caller_waiting: true,
            is_retry,
            next_call: 0,
            downstream: NONE,
            held_worker_at: None,
            direct: None,
            deadline: NO_DEADLINE,
            origin_deadline: NO_DEADLINE,
            origin_source: 0,
            replay: false,
            request_id: 0,
        }
    }
}

/// The origin of a direct call (see [`Call::direct`]).
#[derive(Clone, Copy, Debug)]
pub struct Direct {
    /// The source, which also holds the edge.
    pub source: Entity,
    pub created: Nanos,
    /// Counted in the source's statistics.
    pub counted: bool,
}

/// Who started an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A source (open or closed loop).
    Source(Entity),
    /// A worker at a service, for the call with this id.
    Worker(CallId),
}

/// A caller's logical request over one edge, across all its attempts.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    pub link: Entity,
    pub origin: Origin,
    pub class: u8,
    pub created: Nanos,
    /// 1-based number of the current (or last) attempt.
    pub attempt: u32,
    pub attempt_started: Nanos,
    /// Previous backoff (decorrelated jitter's state).
    pub prev_backoff: Nanos,
    /// The attempt in flight, or `NONE`.
    pub call: CallId,
    /// Bumped whenever an attempt ends or the exchange ends: stale timeouts/retries are ignored.
    pub generation: u32,
    /// Counted in the origin source's statistics (created after warm-up).
    pub counted: bool,
    /// An attempt is in flight (sent and not yet answered or timed out).
    pub live: bool,
    /// The absolute deadline of the whole logical request as the caller knows it
    /// ([`NO_DEADLINE`] if none): every attempt's timeout is capped by it, and no attempt is
    /// sent after it.
    pub deadline: Nanos,
    /// The deadline its origin set, known to the caller or not (goodput is measured by it).
    pub origin_deadline: Nanos,
    /// The source whose logical request this is (see [`Call::origin_source`]).
    pub origin_source: u8,
    /// A retry the edge's budget granted is pending or in flight (the budget counts it until
    /// it ends), and whether that retry followed a timeout (the AWS quota charges more).
    pub holds_retry: bool,
    pub retry_after_timeout: bool,
    /// An answer on its way back over the network: its outcome and Retry-After hint.
    pub answer: Option<(Outcome, Option<Nanos>)>,
    /// The logical request's id (see [`Call::request_id`]).
    pub request_id: u64,
    /// The hedge of the attempt in flight, or `NONE`: the first of the two to answer wins.
    pub hedge_call: CallId,
}

/// A record whose generation counter must keep increasing across slot reuse, so that an event
/// aimed at a freed record never matches the record that later takes its slot.
pub trait Generational {
    fn generation(&self) -> u32;
    fn set_generation(&mut self, generation: u32);
}

impl Generational for Call {
    fn generation(&self) -> u32 {
        self.generation
    }
    fn set_generation(&mut self, generation: u32) {
        self.generation = generation;
    }
}

impl Generational for Exchange {
    fn generation(&self) -> u32 {
        self.generation
    }
    fn set_generation(&mut self, generation: u32) {
        self.generation = generation;
    }
}

/// A free-list slab of plain records.
#[derive(Debug)]
pub struct Slab<T> {
    items: Vec<T>,
    occupied: Vec<bool>,
    free: Vec<u32>,
    live: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self { items: Vec::new(), occupied: Vec::new(), free: Vec::new(), live: 0 }
    }
}

impl<T: Generational> Slab<T> {
    /// Stores `item`, reusing a freed slot when there is one (its generation then continues
    /// from the previous occupant's).
    #[inline]
    pub fn insert(&mut self, mut item: T) -> u32 {
        self.live += 1;
        if let Some(id) = self.free.pop() {
            let previous = self.items[id as usize].generation();
            item.set_generation(previous.wrapping_add(1));
            self.items[id as usize] = item;
            self.occupied[id as usize] = true;
            id
        } else {
            self.items.push(item);
            self.occupied.push(true);
            (self.items.len() - 1) as u32
        }
    }

    /// Marks `id` free (the record stays readable until reused).
    #[inline]
    pub fn remove(&mut self, id: u32) {
        debug_assert!(self.occupied[id as usize], "slot {id} freed twice");
        self.occupied[id as usize] = false;
        self.live -= 1;
        self.free.push(id);
    }

    #[inline]
    pub fn get(&self, id: u32) -> &T {
        &self.items[id as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, id: u32) -> &mut T {
        &mut self.items[id as usize]
    }

    /// Records currently in use.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Records in use, by id.
    pub fn slots(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items.iter().zip(&self.occupied).enumerate().filter(|(_, (_, o))| **o).map(|(i, (t, _))| (i as u32, t))
    }
}
