//! A service station: c workers, a bounded queue with a discipline and an overflow policy,
//! then the worker's synchronous downstream calls and onward routing.
//!
//! Life of a request at a service: arrive → (start | queue | overflow) → local work →
//! error roll → downstream calls one after another (the worker stays busy while it waits) →
//! forward along a route or leave. A forwarded request that finds the next queue full under the
//! `Block` policy keeps holding this node's worker until a place frees (blocking-after-service),
//! which is how backpressure travels upstream in a tandem line.

use std::collections::VecDeque;

use bevy::ecs::component::Component;
use bevy::ecs::entity::Entity;

use crate::edge::deadline;
use crate::engine::calendar::{Calendar, CallId, Event, TimerOwner, TimerTag};
use crate::engine::kernel::{Kernel, LogEvent, Net};
use crate::engine::rng::{SimRng, unit};
use crate::engine::time::Nanos;
use crate::metrics::stats::{Label, NodeStats, RejectReason};
use crate::model::control;
use crate::model::request::{Call, CallState, Exchange, NONE, Origin};
use crate::scenario::schema::{Discipline, Outcome, ServiceSpec};
use crate::station::adaptive_lifo::End;
use crate::station::idempotency::Start;
use crate::station::overflow::{self, Action};
use crate::station::queue::WaitQueue;
use crate::station::{Entry, Request, Station};

/// A service station (component of a node entity).
#[derive(Component, Debug)]
pub struct Service {
    pub name: String,
    pub spec: ServiceSpec,
    pub queue: WaitQueue,
    /// Senders waiting for a queue place (`Block`), oldest first.
    pub blocked: VecDeque<CallId>,
    /// Workers occupied: in service, waiting downstream, or held by a blocked forward.
    pub busy: u32,
    /// Of those, held by a forward blocked at the next node (`Block` there).
    pub held: u32,
    /// Requests physically inside (queued, blocked here, or with a worker).
    pub inside: u32,
    /// Outgoing synchronous-call edges, in `calls` order.
    pub links: Vec<Entity>,
    /// Routing: (cumulative probability, target).
    pub routes: Vec<(f64, Entity)>,
    /// Whether the node is currently running: `spec.up` and not OOM-killed
    /// ([`control::running`]), kept to detect crashes and restarts.
    pub alive: bool,
    /// The queue was full at the last check (to log "queue full" once per episode).
    pub full: bool,
    pub rng_service: SimRng,
    pub rng_error: SimRng,
    pub rng_route: SimRng,
    /// The admission controllers' state (`crate::station`).
    pub station: Station,
    /// Some controller is on, the discipline needs the general path, or callers propagate
    /// deadlines here: cached (see [`Service::refresh_gate`]) so the fast paths test one flag.
    pub gated: bool,
    /// Some caller propagates its requests' deadlines here: work is checked against them.
    pub deadline_aware: bool,
    /// Some caller retries: the node remembers which requests it started (duplicates).
    pub tracks_executions: bool,
    /// The node's own entity (the owner of its control timer).
    pub node: Entity,
    /// When the control timer is armed ([`control::NEVER`] if not), and its generation
    /// (a timer armed earlier voids the one before).
    pub control_due: Nanos,
    pub control_generation: u32,
}

impl Service {
    /// Decides again whether the node needs the general path (after a change).
    pub fn refresh_gate(&mut self) {
        self.gated = !Station::transparent(&self.spec) || self.deadline_aware || self.tracks_executions;
    }

    /// A request of `class` leaves the node (answered, forwarded, dropped, cancelled, lost).
    #[inline]
    fn exit(&mut self, class: u8) {
        self.inside -= 1;
        if self.gated {
            self.station.left(class);
        }
    }

    /// The gauges the controllers read.
    pub fn gauges(&self) -> crate::station::Gauges {
        crate::station::Gauges { busy: self.busy, queued: self.queue.len() as u32, inside: self.inside }
    }

    /// Whether one more request may wait in the queue.
    #[inline]
    pub fn has_room(&self) -> bool {
        self.spec.queue.capacity.is_none_or(|c| self.queue.len() < c as usize)
    }
}

/// Brings the node's time-integrated gauges up to date with its state. The hot paths call it
/// for transparent nodes only; elsewhere [`gauges_and_load`] also feeds the controllers.
#[inline]
fn gauges(svc: &Service, stats: &mut NodeStats, now: Nanos, warmup: Nanos) {
    stats.queue_len.set(now, warmup, svc.queue.len() as u64);
    stats.busy.set(now, warmup, u64::from(svc.busy));
    stats.inside.set(now, warmup, u64::from(svc.inside));
}

/// [`gauges`], and the load signals of the node's admission controllers, if it has any;
/// logs a change of what shedding refuses.
#[inline]
fn gauges_and_load(svc: &mut Service, stats: &mut NodeStats, k: &mut Kernel) {
    gauges(svc, stats, k.now, k.warmup);
    if !svc.gated {
        return;
    }
    if let Some((from, to)) = svc.station.observe(&svc.spec, k.now, svc.busy, svc.queue.len(), svc.inside) {
        k.note(&svc.name, LogEvent::Shedding { from, to });
    }
    // Memory may have passed its limit, or an autoscaler begun to watch: the clock is wanted.
    control::arm(svc, k);
}

/// A worker takes `call` (all borrows split so the hot paths can call it while holding the node).
#[inline]
fn start_on(
    svc: &mut Service,
    stats: &mut NodeStats,
    c: &mut Call,
    call: CallId,
    now: Nanos,
    calendar: &mut Calendar,
    work: Work,
) {
    c.state = CallState::InService;
    c.started = now;
    svc.busy += 1;
    if c.counted {
        stats.record_wait(c.class, now - c.arrived);
    }
    let dist = match work {
        Work::Full => &svc.spec.service,
        Work::Degraded => {
            stats.counters.degraded += u64::from(c.counted);
            &svc.spec.degrade.service
        }
        Work::Replay => {
            c.replay = true;
            stats.counters.replayed += u64::from(c.counted);
            &svc.spec.idempotency.replay
        }
    };
    // Contention and GC pressure only at gated nodes (a node with either on is one): the fast
    // paths pay nothing.
    let factor = if svc.gated {
        svc.spec.slowdown * svc.spec.contention.slowdown(svc.busy) * control::slowdown(svc)
    } else {
        svc.spec.slowdown
    };
    let d = dist.sample_nanos(&mut svc.rng_service, factor);
    calendar.schedule(now.saturating_add(d), Event::ServiceDone { call, generation: c.generation });
}

/// The work a request gets when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    /// Its service, local work and downstream calls.
    Full,
    /// The cheaper degraded response (graceful degradation).
    Degraded,
    /// Its stored result, by its idempotency key.
    Replay,
}

/// `call` leaves `svc` with `label`: labelled, counted out, and its worker handed to the next
/// queued request. Returns false when that hand-over needs the general path ([`Net::pull_next`]:
/// blocked senders waiting, over capacity after a resize, node down). The caller then answers.
#[inline]
fn leave(svc: &mut Service, stats: &mut NodeStats, k: &mut Kernel, call: CallId, label: Label) -> bool {
    let (now, warmup) = (k.now, k.warmup);
    let c = k.calls.get_mut(call);
    c.state = CallState::Answering;
    if c.counted && !c.labeled {
        stats.label(c.class, label, now - c.arrived);
        if label == Label::Completed && deadline::expired(c.origin_deadline, now) {
            stats.counters.late += 1;
        }
    }
    c.labeled |= c.counted;
    if !c.caller_waiting && c.counted {
        stats.counters.abandoned += 1;
    }
    let (class, arrived, request_id) = (c.class, c.arrived, c.request_id);
    svc.exit(class);
    svc.busy = svc.busy.saturating_sub(1);
    if svc.gated {
        svc.station.finished(&svc.spec, now, now - arrived, svc.inside);
        svc.station.executions.finished(&svc.spec.idempotency, now, request_id, label == Label::Completed);
        // Controllers and disciplines that drop at dequeue take the general path.
        return false;
    }
    if !(svc.blocked.is_empty() && svc.alive && svc.busy < svc.spec.workers) {
        return false;
    }
    if let Some(next) = svc.queue.pop(svc.spec.queue.discipline) {
        start_on(svc, stats, k.calls.get_mut(next), next, now, &mut k.calendar, Work::Full);
    }
    if svc.full && svc.has_room() {
        svc.full = false;
        k.note(&svc.name, LogEvent::QueueRoom);
    }
    gauges(svc, stats, now, warmup);
    true
}

/// What became of an arriving request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Started,
    Queued,
    Blocked,
    /// Rejected or dropped: the call record may already be freed.
    Refused,
}

impl Net<'_, '_> {
    fn svc_gauges(&mut self, node: Entity) {
        let mut waiters = false;
        if let Ok((mut svc, mut stats)) = self.services.get_mut(node) {
            gauges_and_load(&mut svc, &mut stats, self.k);
            waiters = !svc.station.waiting.is_empty();
        }
        if waiters {
            self.admit_waiters(node);
        }
    }

    /// Labels `call` at its node (first label wins; uncounted calls are not labelled).
    pub(crate) fn label_call(&mut self, call: CallId, label: Label) {
        let now = self.k.now;
        let c = self.k.calls.get_mut(call);
        if !c.counted || c.labeled {
            return;
        }
        c.labeled = true;
        let (node, class, latency, late) =
            (c.node, c.class, now - c.arrived, label == Label::Completed && deadline::expired(c.origin_deadline, now));
        if let Ok((_, stats)) = self.services.get_mut(node) {
            let stats = stats.into_inner();
            stats.label(class, label, latency);
            stats.counters.late += u64::from(late);
        }
    }

    /// A request arrives at a service.
    pub(crate) fn arrive(&mut self, call: CallId) -> Admission {
        let (now, warmup) = (self.k.now, self.k.warmup);
        let counted = self.k.counting();
        let k = &mut *self.k;
        let c = k.calls.get_mut(call);
        c.arrived = now;
        c.counted = counted;
        c.labeled = false;
        let (node, class, priority, is_retry, origin) = (c.node, c.class, c.priority, c.is_retry, c.origin_source);
        let Ok((svc, stats)) = self.services.get_mut(node) else {
            return Admission::Refused;
        };
        // Plain references from here: `Mut` would write a change tick on every field access,
        // and nothing in the engine reads change detection.
        let (svc, stats) = (svc.into_inner(), stats.into_inner());
        if counted {
            stats.arrive(class, is_retry);
            stats.arrived_from(origin);
        }
        if svc.gated {
            return self.arrive_gated(call);
        }
        svc.inside += 1;
        // Fast paths (one borrow of the node): start at once, or wait in the queue.
        if svc.alive && svc.busy < svc.spec.workers && svc.queue.is_empty() {
            start_on(svc, stats, c, call, now, &mut k.calendar, Work::Full);
            gauges(svc, stats, now, warmup);
            return Admission::Started;
        }
        if svc.alive && svc.has_room() {
            svc.queue.push(priority, now, call);
            c.state = CallState::Queued;
            gauges(svc, stats, now, warmup);
            return Admission::Queued;
        }
        self.overflow(call)
    }

    /// [`Net::arrive`] at a node with admission controllers or a discipline that needs the
    /// general path: the controllers first, then a worker, the queue or the overflow rule.
    #[inline(never)]
    fn arrive_gated(&mut self, call: CallId) -> Admission {
        let now = self.k.now;
        let (node, class) = {
            let c = self.k.calls.get(call);
            (c.node, c.class)
        };
        let Ok((svc, _)) = self.services.get_mut(node) else { return Admission::Refused };
        let svc = svc.into_inner();
        if svc.alive {
            let request = Request::of(class, &self.k.classes);
            match svc.station.may_enter(&svc.spec, request, now, svc.queue.len() as u32, svc.inside) {
                Entry::Admit => {}
                Entry::Refuse { reason, retry_after } => {
                    self.refuse_at_entry(call, reason, retry_after);
                    return Admission::Refused;
                }
                Entry::Wait { max_wait } => {
                    // At the door, not inside: it holds no permit and no place. A forwarded
                    // request keeps holding its upstream worker meanwhile, as a blocked one does.
                    svc.station.waiting.push_back(call);
                    let c = self.k.calls.get_mut(call);
                    c.state = CallState::AwaitingPermit;
                    let (owner, tag, generation) = (TimerOwner::call(call), TimerTag::PermitWait, c.generation);
                    self.k.calendar.schedule(now.saturating_add(max_wait), Event::Timer { tag, owner, generation });
                    return Admission::Blocked;
                }
            }
        }
        self.enter(call)
    }

    /// A request admitted by the node's controllers (holding its permit) goes in: to a free
    /// worker, into the queue, or to the overflow rule.
    fn enter(&mut self, call: CallId) -> Admission {
        let now = self.k.now;
        let (node, priority) = {
            let c = self.k.calls.get(call);
            (c.node, c.priority)
        };
        let Ok((svc, _)) = self.services.get_mut(node) else { return Admission::Refused };
        let svc = svc.into_inner();
        svc.inside += 1;
        if svc.alive && svc.busy < svc.spec.workers && svc.queue.is_empty() {
            return if self.start_service(call) { Admission::Started } else { Admission::Refused };
        }
        if svc.alive && svc.has_room() {
            let was_empty = svc.queue.is_empty();
            svc.station.enqueued(now, was_empty);
            svc.queue.push(priority, now, call);
            self.k.calls.get_mut(call).state = CallState::Queued;
            self.svc_gauges(node);
            return Admission::Queued;
        }
        self.overflow(call)
    }

    /// A request that found no worker and no place: the overflow rule decides (or the node is
    /// down and refuses it).
    fn overflow(&mut self, call: CallId) -> Admission {
        let now = self.k.now;
        let (node, priority) = {
            let c = self.k.calls.get(call);
            (c.node, c.priority)
        };
        let Ok((svc, _)) = self.services.get_mut(node) else { return Admission::Refused };
        let svc = svc.into_inner();
        if !svc.alive {
            self.refuse(call, RejectReason::Down, None);
            return Admission::Refused;
        }
        let (action, discipline) = (overflow::action(&svc.spec.queue), svc.spec.queue.discipline);
        if !svc.full {
            svc.full = true;
            let name = svc.name.clone();
            self.k.note(&name, LogEvent::QueueFull);
        }
        match action {
            Action::Refuse { retry_after } => {
                self.refuse(call, RejectReason::QueueFull, retry_after);
                Admission::Refused
            }
            Action::DropNewest => {
                self.drop_call(call);
                Admission::Refused
            }
            Action::DropOldest => {
                let victim = self.services.get_mut(node).ok().and_then(|(mut s, _)| s.queue.pop_oldest(discipline));
                let Some(victim) = victim else {
                    self.drop_call(call);
                    return Admission::Refused;
                };
                let generation = self.k.calls.get(call).generation;
                self.drop_call(victim);
                // The victim's answer can end this request first (it was the other copy of the
                // same hedged attempt, which the caller then stops waiting for and cancels).
                let c = self.k.calls.get(call);
                if c.state == CallState::Free || c.generation != generation {
                    return Admission::Refused;
                }
                if let Ok((mut s, _)) = self.services.get_mut(node) {
                    if s.gated {
                        let was_empty = s.queue.is_empty();
                        s.station.enqueued(now, was_empty);
                    }
                    s.queue.push(priority, now, call);
                }
                self.k.calls.get_mut(call).state = CallState::Queued;
                self.svc_gauges(node);
                Admission::Queued
            }
            Action::Block { timeout } => {
                let c = self.k.calls.get_mut(call);
                c.state = CallState::Blocked;
                let generation = c.generation;
                if let Ok((mut s, _)) = self.services.get_mut(node) {
                    s.blocked.push_back(call);
                }
                if let Some(t) = timeout {
                    let (owner, tag) = (TimerOwner::call(call), TimerTag::BlockTimeout);
                    self.k.calendar.schedule(now.saturating_add(t), Event::Timer { tag, owner, generation });
                }
                self.svc_gauges(node);
                Admission::Blocked
            }
        }
    }

    /// A worker takes `call`.
    /// Returns false when the request's propagated deadline had already passed: it was refused
    /// as `deadline_expired` instead, and the worker is still free.
    fn start_service(&mut self, call: CallId) -> bool {
        let now = self.k.now;
        if deadline::expired(self.k.calls.get(call).deadline, now) {
            self.count_deadline_drop(call);
            self.refuse(call, RejectReason::DeadlineExpired, None);
            return false;
        }
        let k = &mut *self.k;
        let c = k.calls.get_mut(call);
        let Ok((svc, stats)) = self.services.get_mut(c.node) else { return false };
        let (svc, stats) = (svc.into_inner(), stats.into_inner());
        let mut work = if svc.gated && svc.station.degraded(&svc.spec, now) { Work::Degraded } else { Work::Full };
        if svc.tracks_executions || svc.spec.idempotency.enabled {
            match svc.station.executions.start(&svc.spec.idempotency, now, c.request_id) {
                Start::First => {}
                Start::Duplicate => stats.counters.duplicates += u64::from(c.counted),
                Start::Replay => work = Work::Replay,
                Start::InProgress => {
                    self.refuse(call, RejectReason::IdempotencyConflict, None);
                    return false;
                }
            }
        }
        start_on(svc, stats, c, call, now, &mut k.calendar, work);
        gauges_and_load(svc, stats, k);
        true
    }

    pub(crate) fn on_service_done(&mut self, call: CallId, generation: u32) {
        let c = self.k.calls.get(call);
        if c.generation != generation || c.state != CallState::InService {
            return;
        }
        let node = c.node;
        let replay = c.replay;
        let Ok((svc, stats)) = self.services.get_mut(node) else { return };
        let (svc, stats) = (svc.into_inner(), stats.into_inner());
        let p = svc.spec.error_rate;
        // A replay is the stored answer: no error roll, no downstream calls, no routing.
        let failed = !replay && p > 0.0 && unit(&mut svc.rng_error) < p;
        let leaves = replay || (svc.links.is_empty() && svc.routes.is_empty());
        if failed || leaves {
            // Leave while the node is still borrowed: the common case costs one node lookup.
            let (label, outcome) =
                if failed { (Label::Error, Outcome::Error) } else { (Label::Completed, Outcome::Ok) };
            if !leave(svc, stats, self.k, call, label) {
                self.pull_next(node);
            }
            self.respond(call, outcome, None);
        } else {
            self.k.calls.get_mut(call).next_call = 0;
            self.continue_job(call);
        }
    }

    /// After local work (or a downstream success): make the next downstream call, or route on,
    /// or leave.
    pub(crate) fn continue_job(&mut self, call: CallId) {
        let c = *self.k.calls.get(call);
        let Ok((mut svc, _)) = self.services.get_mut(c.node) else { return };
        if let Some(&link) = svc.links.get(c.next_call as usize) {
            drop(svc);
            let now = self.k.now;
            if deadline::expired(c.deadline, now) {
                // Its caller's deadline has passed: no point asking anyone else.
                self.count_deadline_drop(call);
                self.finish_job(call, Label::Rejected(RejectReason::DeadlineExpired), Outcome::Rejected);
                return;
            }
            let request_id = self.k.request_id();
            let ex = self.k.exchanges.insert(Exchange {
                link,
                origin: Origin::Worker(call),
                class: c.class,
                created: now,
                attempt: 0,
                attempt_started: now,
                prev_backoff: 0,
                call: NONE,
                generation: 0,
                counted: false,
                live: false,
                deadline: c.deadline,
                origin_deadline: c.origin_deadline,
                origin_source: c.origin_source,
                holds_retry: false,
                retry_after_timeout: false,
                answer: None,
                request_id,
                hedge_call: NONE,
            });
            let c = self.k.calls.get_mut(call);
            c.state = CallState::Downstream;
            c.downstream = ex;
            self.start_attempt(ex);
            return;
        }
        let route = if svc.routes.is_empty() {
            None
        } else {
            let u = unit(&mut svc.rng_route);
            svc.routes.iter().find(|(cum, _)| u < *cum).map(|(_, to)| *to)
        };
        drop(svc);
        match route {
            Some(to) => self.forward(call, to),
            None => self.finish_job(call, Label::Completed, Outcome::Ok),
        }
    }

    /// A downstream exchange made by the worker holding `call` has ended.
    pub(crate) fn downstream_done(&mut self, call: CallId, outcome: Outcome) {
        let c = self.k.calls.get_mut(call);
        if c.state != CallState::Downstream {
            return;
        }
        c.downstream = NONE;
        if outcome == Outcome::Ok {
            c.next_call += 1;
            self.continue_job(call);
        } else {
            self.finish_job(call, Label::Error, Outcome::Error);
        }
    }

    /// The request leaves its node with a result; the worker is freed and the caller told.
    fn finish_job(&mut self, call: CallId, label: Label, outcome: Outcome) {
        let node = self.k.calls.get(call).node;
        let handed_on = match self.services.get_mut(node) {
            Ok((svc, stats)) => leave(svc.into_inner(), stats.into_inner(), self.k, call, label),
            Err(_) => false,
        };
        if !handed_on {
            self.pull_next(node);
        }
        self.respond(call, outcome, None);
    }

    /// Forwards a finished request to `to` (Jackson routing), holding this worker if blocked.
    fn forward(&mut self, call: CallId, to: Entity) {
        self.label_call(call, Label::Completed);
        let from = self.k.calls.get(call).node;
        let (class, request_id, now) = (self.k.calls.get(call).class, self.k.calls.get(call).request_id, self.k.now);
        if let Ok((mut svc, _)) = self.services.get_mut(from) {
            svc.exit(class);
            if svc.gated {
                let svc = svc.into_inner();
                svc.station.executions.finished(&svc.spec.idempotency, now, request_id, true);
            }
        }
        let c = self.k.calls.get_mut(call);
        c.node = to;
        c.held_worker_at = Some(from);
        match self.arrive(call) {
            Admission::Blocked => {
                let (now, warmup) = (self.k.now, self.k.warmup);
                if let Ok((mut svc, mut stats)) = self.services.get_mut(from) {
                    svc.held += 1;
                    stats.held.set(now, warmup, u64::from(svc.held));
                }
                self.svc_gauges(from);
            }
            Admission::Refused => self.release_worker(from), // the call record is gone
            Admission::Started | Admission::Queued => {
                self.k.calls.get_mut(call).held_worker_at = None;
                self.release_worker(from);
            }
        }
    }

    /// Frees one worker at `node` and hands it the next request.
    pub(crate) fn release_worker(&mut self, node: Entity) {
        if let Ok((mut svc, _)) = self.services.get_mut(node) {
            svc.busy = svc.busy.saturating_sub(1);
        }
        self.pull_next(node);
    }

    /// Starts queued work on free workers and admits blocked senders into free places.
    fn pull_next(&mut self, node: Entity) {
        let now = self.k.now;
        loop {
            let Ok((mut svc, mut stats)) = self.services.get_mut(node) else { return };
            if svc.alive && svc.busy < svc.spec.workers {
                let d = svc.spec.queue.discipline;
                if matches!(d, Discipline::Codel | Discipline::AdaptiveLifo) && !svc.queue.is_empty() {
                    drop(stats);
                    self.dequeue_dropping(node, d);
                    continue;
                }
                if let Some(next) = svc.queue.pop(d) {
                    drop((svc, stats));
                    self.start_service(next);
                    continue;
                }
                if let Some(b) = svc.blocked.pop_front() {
                    drop((svc, stats));
                    self.unblock(b);
                    self.start_service(b);
                    continue;
                }
            }
            if svc.alive
                && svc.has_room()
                && let Some(b) = svc.blocked.pop_front()
            {
                let c = *self.k.calls.get(b);
                if svc.gated {
                    let was_empty = svc.queue.is_empty();
                    svc.station.enqueued(now, was_empty);
                }
                svc.queue.push(c.priority, c.arrived, b);
                drop((svc, stats));
                self.k.calls.get_mut(b).state = CallState::Queued;
                self.unblock(b);
                continue;
            }
            if svc.full && svc.has_room() {
                svc.full = false;
                self.k.note(&svc.name, LogEvent::QueueRoom);
            }
            gauges_and_load(&mut svc, &mut stats, self.k);
            let waiters = !svc.station.waiting.is_empty();
            drop((svc, stats));
            if waiters {
                self.admit_waiters(node);
            }
            return;
        }
    }

    /// Counts `call` as dropped for its passed deadline at its node.
    fn count_deadline_drop(&mut self, call: CallId) {
        let c = self.k.calls.get(call);
        if c.counted
            && let Ok((_, mut stats)) = self.services.get_mut(c.node)
        {
            stats.counters.deadline_dropped += 1;
        }
    }

    /// Takes the next request by a discipline that drops at dequeue (CoDel, adaptive LIFO),
    /// refusing those it drops (`codel`), and puts a worker on it.
    fn dequeue_dropping(&mut self, node: Entity, discipline: Discipline) {
        let now = self.k.now;
        let Ok((svc, _)) = self.services.get_mut(node) else { return };
        let svc = svc.into_inner();
        let mut dropped = Vec::new();
        let (queue, station, spec) = (&mut svc.queue, &mut svc.station, &svc.spec.queue);
        let next = if discipline == Discipline::Codel {
            station.codel.dequeue(&spec.codel, now, || queue.pop_entry(End::Oldest), |victim| dropped.push(victim))
        } else {
            station.lifo.dequeue(&spec.adaptive_lifo, now, |end| queue.pop_entry(end), |victim| dropped.push(victim))
        };
        let dropped: Vec<(CallId, u32)> = dropped.into_iter().map(|v| (v, self.k.calls.get(v).generation)).collect();
        if let Some(next) = next {
            // Claim the worker before answering the dropped: their callers may send again at once.
            self.start_service(next);
        }
        for (victim, generation) in dropped {
            // Answering one victim can end another first (the two copies of a hedged attempt),
            // and its slot may already serve a new request: skip what is no longer the victim.
            let c = self.k.calls.get(victim);
            if c.state == CallState::Free || c.generation != generation {
                continue;
            }
            self.refuse(victim, RejectReason::Codel, None);
        }
    }

    /// Permits freed at `node`: the waiters they fit go in, first come first served.
    fn admit_waiters(&mut self, node: Entity) {
        loop {
            let Ok((svc, _)) = self.services.get_mut(node) else { return };
            let svc = svc.into_inner();
            if svc.station.waiting.is_empty() || !svc.alive {
                return;
            }
            let calls = &self.k.calls;
            let Some(call) = svc.station.next_waiter(&svc.spec, svc.inside, |w| calls.get(w).class) else { return };
            // Its wait is over: the timer is void, a held upstream worker is let go.
            self.unblock(call);
            self.enter(call);
        }
    }

    /// A waiter's `max_wait` is over without a permit: refused as the limit or its bulkhead.
    pub(crate) fn on_permit_wait_over(&mut self, call: CallId, generation: u32) {
        let c = *self.k.calls.get(call);
        if c.generation != generation || c.state != CallState::AwaitingPermit {
            return;
        }
        let Ok((svc, _)) = self.services.get_mut(c.node) else { return };
        let svc = svc.into_inner();
        svc.station.waiting.retain(|w| *w != call);
        let reason = svc.station.wait_refusal(&svc.spec, c.class, svc.inside);
        if let Some(up) = c.held_worker_at {
            self.k.calls.get_mut(call).held_worker_at = None;
            self.release_held(up, c.arrived);
        }
        self.refuse_at_entry(call, reason, None);
    }

    /// A blocked sender got a place: its block timeout is void and a held upstream worker is
    /// freed. A forwarded request starts counting its wait here from now: the time it spent
    /// blocked is booked at the node whose worker it held ([`Net::release_held`]).
    fn unblock(&mut self, call: CallId) {
        let now = self.k.now;
        let c = self.k.calls.get_mut(call);
        c.generation = c.generation.wrapping_add(1);
        if let Some(up) = c.held_worker_at.take() {
            let since = std::mem::replace(&mut c.arrived, now);
            self.release_held(up, since);
        }
    }

    /// A worker of `up` held since `since` by a forward blocked at the next node is let go:
    /// the blocked time is booked at `up` (`blocked_s`, and `blocked_fraction` of its worker
    /// time), never at the node that kept it waiting.
    fn release_held(&mut self, up: Entity, since: Nanos) {
        let (now, warmup) = (self.k.now, self.k.warmup);
        if let Ok((mut svc, mut stats)) = self.services.get_mut(up) {
            svc.held = svc.held.saturating_sub(1);
            stats.held.set(now, warmup, u64::from(svc.held));
            if since >= warmup {
                stats.record_blocked(now - since);
            }
        }
        self.release_worker(up);
    }

    pub(crate) fn on_block_timeout(&mut self, call: CallId, generation: u32) {
        let c = *self.k.calls.get(call);
        if c.generation != generation || c.state != CallState::Blocked {
            return;
        }
        if let Ok((mut svc, _)) = self.services.get_mut(c.node) {
            svc.blocked.retain(|b| *b != call);
        }
        if let Some(up) = c.held_worker_at {
            self.k.calls.get_mut(call).held_worker_at = None;
            self.release_held(up, c.arrived);
        }
        self.refuse(call, RejectReason::BlockTimeout, None);
    }

    /// Rejects a request with a signal: the caller learns at once.
    fn refuse(&mut self, call: CallId, reason: RejectReason, retry_after: Option<Nanos>) {
        let (node, class, arrived) =
            (self.k.calls.get(call).node, self.k.calls.get(call).class, self.k.calls.get(call).arrived);
        let now = self.k.now;
        if let Ok((svc, _)) = self.services.get_mut(node) {
            let svc = svc.into_inner();
            svc.exit(class);
            if svc.gated && matches!(reason, RejectReason::Codel | RejectReason::DeadlineExpired) {
                // Dropped after it entered: an adaptive limit hears of it as a drop.
                svc.station.dropped(&svc.spec, now, now - arrived, svc.inside);
            }
        }
        self.refuse_at_entry(call, reason, retry_after);
    }

    /// Refuses a request that never entered the node (an admission controller said no).
    fn refuse_at_entry(&mut self, call: CallId, reason: RejectReason, retry_after: Option<Nanos>) {
        self.label_call(call, Label::Rejected(reason));
        self.k.calls.get_mut(call).state = CallState::Answering;
        let node = self.k.calls.get(call).node;
        self.svc_gauges(node);
        self.respond(call, Outcome::Rejected, retry_after);
    }

    /// Drops a request silently. A caller with a timeout finds out when it fires; one without a
    /// timeout would wait forever, so it is told at once (and the run cannot leak memory).
    fn drop_call(&mut self, call: CallId) {
        self.label_call(call, Label::Dropped);
        let c = *self.k.calls.get(call);
        if let Ok((mut svc, _)) = self.services.get_mut(c.node) {
            svc.exit(c.class);
        }
        self.k.calls.get_mut(call).state = CallState::Answering;
        self.svc_gauges(c.node);
        if c.caller_waiting && self.caller_has_timeout(c.exchange) {
            // The caller learns nothing; it forgets this copy (a hedge's, or the attempt's own).
            let e = self.k.exchanges.get_mut(c.exchange);
            if e.hedge_call == call {
                e.hedge_call = NONE;
                let link = e.link;
                if let Some(l) = self.link_mut(link) {
                    l.stats.in_flight = l.stats.in_flight.saturating_sub(1);
                }
            } else {
                e.call = NONE;
            }
            self.free_call(call);
        } else {
            self.respond(call, Outcome::Dropped, None);
        }
    }

    /// Removes a request whose caller gave up and cancelled it, wherever it is in the node.
    pub(crate) fn cancel_call(&mut self, call: CallId) {
        let c = *self.k.calls.get(call);
        let node = c.node;
        if let Ok((mut svc, mut stats)) = self.services.get_mut(node) {
            if c.counted {
                stats.counters.cancelled += 1;
            }
            match c.state {
                CallState::Queued => {
                    svc.queue.remove(call);
                }
                CallState::Blocked => svc.blocked.retain(|b| *b != call),
                CallState::AwaitingPermit => svc.station.waiting.retain(|w| *w != call),
                _ => {}
            }
            if !matches!(c.state, CallState::AwaitingPermit | CallState::InFlight) {
                svc.exit(c.class); // a waiter or a request still on the wire never went in
            }
            if matches!(c.state, CallState::InService | CallState::Downstream) && svc.gated {
                let (svc, now) = (svc.into_inner(), self.k.now);
                svc.station.executions.finished(&svc.spec.idempotency, now, c.request_id, false);
                // Its caller gave up on it (a timeout): an adaptive limit hears of it as a drop.
                svc.station.dropped(&svc.spec, now, now - c.arrived, svc.inside);
            }
        }
        match c.state {
            CallState::InService => self.release_worker(node),
            CallState::Downstream => {
                if c.downstream != NONE {
                    self.cancel_exchange(c.downstream);
                }
                self.release_worker(node);
            }
            CallState::Blocked | CallState::AwaitingPermit => {
                if let Some(up) = c.held_worker_at {
                    self.release_held(up, c.arrived);
                }
                self.svc_gauges(node);
            }
            _ => self.svc_gauges(node),
        }
        self.free_call(call);
    }

    /// A parameter of the service changed: react to crashes, restarts and new capacity.
    pub(crate) fn service_changed(&mut self, node: Entity) {
        let (now, warmup) = (self.k.now, self.k.warmup);
        let Ok((mut svc, mut stats)) = self.services.get_mut(node) else { return };
        stats.workers.set(now, warmup, u64::from(svc.spec.workers));
        svc.refresh_gate();
        let svc_ref = &mut *svc;
        svc_ref.station.retune(&svc_ref.spec, now);
        let (up, alive, oom) = (control::running(&svc), svc.alive, !svc.station.running());
        svc.alive = up;
        let name = svc.name.clone();
        drop(svc);
        drop(stats);
        if alive && !up {
            if !oom {
                self.k.note(&name, LogEvent::Crashed); // an OOM kill is logged as one
            }
            self.crash(node);
        } else if !alive && up {
            self.k.note(&name, LogEvent::Restarted);
        }
        self.pull_next(node);
        self.arm_control(node);
    }

    /// Everything inside a crashing node is lost; callers still waiting see an error
    /// (a reset connection).
    fn crash(&mut self, node: Entity) {
        let victims: Vec<(CallId, u32)> = self
            .k
            .calls
            .slots()
            // A request still on the wire is not inside: it arrives later, at a node that is down.
            .filter(|(_, c)| !matches!(c.state, CallState::Free | CallState::InFlight) && c.node == node)
            .map(|(id, c)| (id, c.generation))
            .collect();
        if let Ok((mut svc, _)) = self.services.get_mut(node) {
            svc.queue.drain();
            svc.blocked.clear();
            svc.station.waiting.clear();
            svc.station.codel.on_empty();
            svc.station.lifo.on_empty();
        }
        for (call, generation) in victims {
            let c = *self.k.calls.get(call);
            // Handling one victim can end another first: cancelling a victim's downstream
            // call ends that call wherever it went, including back here by a route; an answer
            // can free a slot that a retry then reuses. Skip what is no longer this victim.
            if c.state == CallState::Free || c.generation != generation || c.node != node {
                continue;
            }
            self.label_call(call, Label::Dropped);
            if let Ok((mut svc, _)) = self.services.get_mut(node)
                && c.state != CallState::AwaitingPermit
            {
                svc.exit(c.class);
                if matches!(c.state, CallState::InService | CallState::Downstream) {
                    svc.busy = svc.busy.saturating_sub(1);
                    let (svc, now) = (svc.into_inner(), self.k.now);
                    svc.station.executions.finished(&svc.spec.idempotency, now, c.request_id, false);
                }
            }
            if c.state == CallState::Downstream && c.downstream != NONE {
                self.cancel_exchange(c.downstream);
            }
            if let (CallState::Blocked | CallState::AwaitingPermit, Some(up)) = (c.state, c.held_worker_at) {
                self.release_held(up, c.arrived);
            }
            // Invalidate its pending service completion, then answer the caller.
            let cm = self.k.calls.get_mut(call);
            cm.generation = cm.generation.wrapping_add(1);
            cm.state = CallState::Answering;
            self.respond(call, Outcome::Error, None);
        }
        self.svc_gauges(node);
    }
}
