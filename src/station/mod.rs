//! The callee's side: what stands in front of a service's queue and workers.
//!
//! A request arriving at a service meets the admission controllers in this order, each in its
//! own file, and the first that refuses answers it (the refusal reason goes to `rejected_by`):
//!
//! ```text
//!   arrive ─▶ rate_limit ─▶ entry_gate ─▶ shed ─▶ concurrency ─▶ queue (discipline, overflow) ─▶ worker
//!              429           503           503     503 / 503        codel drops at dequeue
//!             rate_limited  admission     shed    concurrency_limit / bulkhead_full
//! ```
//!
//! * may it enter: [`Station::may_enter`] walks the controllers in the order above;
//! * which request is next: the queue's discipline (FIFO, LIFO, priority in `model::service`'s
//!   wait queue; CoDel in [`codel`], which may drop requests at dequeue);
//! * a request finished: [`Station::finished`] feeds the response-time window of the entry gate;
//! * it left the node: [`Station::left`] gives back its bulkhead permit;
//! * the node's gauges changed: [`Station::observe`] feeds the load signals of shedding.
//!
//! A service with every controller off and a plain discipline is *transparent*
//! ([`Station::transparent`]): the engine then takes its fast path and nothing here runs, so a
//! scenario without these policies costs what it cost before they existed.

pub mod adaptive_lifo;
pub mod codel;
pub mod concurrency;
pub mod degrade;
pub mod entry_gate;
pub mod load;
pub mod rate_limit;
pub mod shed;

use crate::engine::kernel::ClassInfo;
use crate::engine::time::Nanos;
use crate::metrics::stats::RejectReason;
use crate::scenario::schema::{Discipline, ServiceSpec};
use load::LoadSignal;
use shed::Criticality;

/// What the controllers may key on: the request's class and what its class carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub class: u8,
    pub criticality: Criticality,
    /// Interned tenant (API key) and endpoint ids, dense from 0.
    pub tenant: u32,
    pub endpoint: u32,
}

impl Request {
    pub fn of(class: u8, classes: &[ClassInfo]) -> Self {
        let info = classes.get(class as usize);
        Self {
            class,
            criticality: info.map_or(Criticality::Standard, |c| c.criticality),
            tenant: info.map_or(0, |c| c.tenant),
            endpoint: info.map_or(0, |c| c.endpoint),
        }
    }
}

/// The verdict of the admission chain on an arriving request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// On to the queue and the workers.
    Admit,
    /// Refused at once, with the reason and any Retry-After hint.
    Refuse { reason: RejectReason, retry_after: Option<Nanos> },
}

/// The state of a service's admission controllers.
#[derive(Debug)]
pub struct Station {
    pub rate_limit: rate_limit::RateLimiter,
    pub entry_gate: entry_gate::EntryGate,
    pub shed: shed::Shedder,
    pub concurrency: concurrency::Concurrency,
    pub codel: codel::Codel,
}

impl Station {
    pub fn new(spec: &ServiceSpec, classes: &[ClassInfo]) -> Self {
        let names: Vec<String> = classes.iter().map(|c| c.name.clone()).collect();
        Self {
            rate_limit: rate_limit::RateLimiter::new(),
            entry_gate: entry_gate::EntryGate::new(&spec.entry_gate),
            shed: shed::Shedder::new(&spec.shed, 0),
            concurrency: concurrency::Concurrency::new(&spec.concurrency, &names),
            codel: codel::Codel::default(),
        }
    }

    /// True when no controller is on and the discipline is a plain one: the engine's fast path.
    pub fn transparent(spec: &ServiceSpec) -> bool {
        !spec.rate_limit.enabled
            && !spec.entry_gate.enabled
            && !spec.shed.enabled
            && !spec.concurrency.enabled
            && spec.concurrency.pools.is_empty()
            && !matches!(spec.queue.discipline, Discipline::Codel)
    }

    /// Walks the controllers in order for a request arriving at `now` at a node with
    /// `queue_len` waiting and `inside` requests inside (not counting this one).
    pub fn may_enter(
        &mut self,
        spec: &ServiceSpec,
        request: Request,
        now: Nanos,
        queue_len: u32,
        inside: u32,
    ) -> Entry {
        if spec.rate_limit.enabled {
            let key = spec.rate_limit.key.pick(u32::from(request.class), request.tenant, request.endpoint);
            // The shaper's delay is not modelled at a service: a request over the rate is refused
            // (see the README); an edge's rate limit can delay.
            if let rate_limit::Verdict::Refuse { retry_after } = self.rate_limit.admit(&spec.rate_limit, key, now) {
                return Entry::Refuse { reason: RejectReason::RateLimited, retry_after };
            }
        }
        if self.entry_gate.admit(&spec.entry_gate, now, queue_len).is_err() {
            return Entry::Refuse { reason: RejectReason::Admission, retry_after: None };
        }
        if !self.shed.admit(&spec.shed, now, request.criticality) {
            return Entry::Refuse { reason: RejectReason::Shed, retry_after: None };
        }
        match self.concurrency.try_acquire(&spec.concurrency, request.class, inside) {
            Ok(()) => Entry::Admit,
            Err(concurrency::Refusal::Limit) => {
                Entry::Refuse { reason: RejectReason::ConcurrencyLimit, retry_after: None }
            }
            Err(concurrency::Refusal::PoolFull) => {
                Entry::Refuse { reason: RejectReason::BulkheadFull, retry_after: None }
            }
        }
    }

    /// A request admitted by [`Station::may_enter`] (and so holding its bulkhead permit) left
    /// the node, however it left.
    pub fn left(&mut self, class: u8) {
        self.concurrency.release(class);
    }

    /// A response left the node `latency` after the request arrived.
    pub fn finished(&mut self, spec: &ServiceSpec, now: Nanos, latency: Nanos) {
        self.entry_gate.record_latency(&spec.entry_gate, now, latency);
    }

    /// The node's gauges changed: feed the load signal shedding measures.
    pub fn observe(&mut self, spec: &ServiceSpec, now: Nanos, busy: u32, queue_len: usize, inside: u32) {
        let load = match spec.shed.load.signal {
            LoadSignal::Utilization => ratio(f64::from(busy), f64::from(spec.workers)),
            LoadSignal::QueueFill => spec.queue.capacity.map_or(0.0, |c| ratio(queue_len as f64, f64::from(c))),
            LoadSignal::InFlight => {
                let limit = spec.concurrency.max_concurrent.unwrap_or(spec.workers);
                ratio(f64::from(inside), f64::from(limit))
            }
        };
        self.shed.set_load(&spec.shed, now, load);
    }
}

/// `part / whole`, 1 when the whole is 0 but the part is not (no workers, yet busy: saturated).
fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole
    } else if part > 0.0 {
        1.0
    } else {
        0.0
    }
}
