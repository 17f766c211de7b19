//! The callee's side: what stands in front of a service's queue and workers.
//!
//! A request arriving at a service meets the admission controllers in this order, each in its
//! own file, and the first that refuses answers it (the refusal reason goes to `rejected_by`):
//!
//! ```text
//!   arrive ─▶ rate_limit ─▶ adaptive_rate ─▶ entry_gate ─▶ shed ─▶ concurrency ─▶ adaptive_limit ─▶ queue ─▶ worker
//!              429           429              503           503     503 / 503       503              codel drops at dequeue
//!             rate_limited  rate_limited     admission     shed    concurrency_limit / bulkhead_full / adaptive_limit
//! ```
//!
//! * may it enter: [`Station::may_enter`] walks the controllers in the order above;
//! * which request is next: the queue's discipline (FIFO, LIFO, priority in [`queue`]; CoDel in
//!   [`codel`] and adaptive LIFO in [`adaptive_lifo`], which may drop requests at dequeue,
//!   refused as `codel`), and what a request that finds it full meets ([`overflow`]);
//! * how it is served: [`degrade`] picks a cheaper response above a load threshold;
//! * a request finished: [`Station::finished`] feeds the response-time window of the entry gate;
//! * it left the node: [`Station::left`] gives back its bulkhead permit;
//! * the node's gauges changed: [`Station::observe`] feeds the load signals of shedding, the
//!   autoscaler's averages and the memory model (which may call for an OOM kill);
//! * the feedback loops that act on their own clock — the adaptive rate's control interval
//!   ([`adaptive_rate`]), the autoscaler's evaluations and provisioning ([`autoscale`]), an OOM
//!   kill and the CrashLoopBackOff restart ([`memory`]) — say when they next want it
//!   ([`Station::next_due`]) and what they decided ([`Station::on_due`]); the engine keeps one
//!   timer per node for them (`model::control`). The adaptive concurrency limit
//!   ([`adaptive_limit`]) learns from every response ([`Station::finished`], [`Station::dropped`]).
//!
//! A service with every controller off and a plain discipline is *transparent*
//! ([`Station::transparent`]): the engine then takes its fast path and nothing here runs, so a
//! scenario without these policies costs what it cost before they existed.

pub mod adaptive_lifo;
pub mod adaptive_limit;
pub mod adaptive_rate;
pub mod autoscale;
pub mod codel;
pub mod concurrency;
pub mod contention;
pub mod degrade;
pub mod entry_gate;
pub mod idempotency;
pub mod load;
pub mod memory;
pub mod overflow;
pub mod queue;
pub mod rate_limit;
pub mod shed;

use crate::engine::calendar::CallId;
use crate::engine::kernel::ClassInfo;
use crate::engine::rng::{SimRng, unit};
use crate::engine::time::{Nanos, secs_to_nanos};
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
    /// No concurrency permit is free: wait for one up to this long (then refused).
    Wait { max_wait: Nanos },
}

/// The state of a service's admission controllers.
#[derive(Debug)]
pub struct Station {
    pub rate_limit: rate_limit::RateLimiter,
    pub entry_gate: entry_gate::EntryGate,
    pub shed: shed::Shedder,
    pub concurrency: concurrency::Concurrency,
    pub codel: codel::Codel,
    pub lifo: adaptive_lifo::AdaptiveLifo,
    pub degrade: degrade::Degrader,
    /// What shedding did at the last observation, to log its episodes.
    pub shed_state: shed::ShedState,
    /// Requests waiting for a concurrency permit, first come first served.
    pub waiting: std::collections::VecDeque<CallId>,
    /// The logical requests started here (duplicates) and completed (idempotency keys).
    pub executions: idempotency::Executions,
    /// The feedback loops: an adaptive concurrency limit, an adaptive rate, an autoscaler.
    pub adaptive_limit: adaptive_limit::AdaptiveLimit,
    pub adaptive_rate: adaptive_rate::AdaptiveRate,
    pub autoscaler: autoscale::Autoscaler,
    /// Memory, OOM kills and restarts; a kill noticed by [`Station::observe`] waits here for
    /// the engine's control timer, which carries it out at the same instant.
    pub memory: memory::Memory,
    pending_kill: Option<memory::Kill>,
    /// The controllers' own random stream (an adaptive limit's probe jitter).
    rng: SimRng,
}

/// What the controllers due at an instant decided ([`Station::on_due`]), for the engine to
/// carry out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Control {
    /// The OOM killer ends the node now.
    pub kill: Option<memory::Kill>,
    /// The node's restart back-off is over: it runs again.
    pub restarted: bool,
    /// Workers to add now (provisioned) or remove now (scaled down).
    pub add_workers: u32,
    pub remove_workers: u32,
    /// The autoscaler's decision (from, to) when it changed the count.
    pub decision: Option<(u32, u32)>,
}

impl Station {
    pub fn new(spec: &ServiceSpec, classes: &[ClassInfo], rng: SimRng) -> Self {
        let names: Vec<(String, String)> = classes.iter().map(|c| (c.name.clone(), c.tenant_name.clone())).collect();
        Self {
            rate_limit: rate_limit::RateLimiter::new(),
            entry_gate: entry_gate::EntryGate::new(&spec.entry_gate),
            shed: shed::Shedder::new(&spec.shed, 0),
            concurrency: concurrency::Concurrency::new(&spec.concurrency, &names),
            codel: codel::Codel::default(),
            lifo: adaptive_lifo::AdaptiveLifo::default(),
            degrade: degrade::Degrader::new(&spec.degrade, 0),
            shed_state: shed::ShedState::AdmittingAll,
            waiting: Default::default(),
            executions: Default::default(),
            adaptive_limit: adaptive_limit::AdaptiveLimit::new(&spec.adaptive_limit),
            adaptive_rate: adaptive_rate::AdaptiveRate::new(&spec.adaptive_rate, 0),
            autoscaler: autoscale::Autoscaler::new(&spec.autoscale, 0, spec.workers),
            memory: memory::Memory::new(0),
            pending_kill: None,
            rng,
        }
    }

    /// True when no controller is on and the discipline is a plain one: the engine's fast path.
    pub fn transparent(spec: &ServiceSpec) -> bool {
        !spec.rate_limit.enabled
            && !spec.entry_gate.enabled
            && !spec.shed.enabled
            && !spec.concurrency.enabled
            && spec.concurrency.pools.is_empty()
            && !spec.degrade.enabled
            && !spec.idempotency.enabled
            && !spec.contention.enabled
            && !spec.adaptive_limit.enabled
            && !spec.adaptive_rate.enabled
            && !spec.autoscale.enabled
            && !spec.memory.enabled
            && !matches!(spec.queue.discipline, Discipline::Codel | Discipline::AdaptiveLifo)
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
            // A station refuses (the checker holds `excess` to `Reject` here; shaping belongs to
            // the callers' edges, `crate::edge::rate_limit`).
            if let rate_limit::Verdict::Refuse { retry_after } = self.rate_limit.admit(&spec.rate_limit, key, now) {
                return Entry::Refuse { reason: RejectReason::RateLimited, retry_after };
            }
        }
        if spec.adaptive_rate.enabled && !self.adaptive_rate.admit(&spec.adaptive_rate, now) {
            return Entry::Refuse { reason: RejectReason::RateLimited, retry_after: None };
        }
        if self.entry_gate.admit(&spec.entry_gate, now, queue_len).is_err() {
            return Entry::Refuse { reason: RejectReason::Admission, retry_after: None };
        }
        if !self.shed.admit(&spec.shed, now, request.criticality) {
            return Entry::Refuse { reason: RejectReason::Shed, retry_after: None };
        }
        // No newcomer takes a waiter's turn: waiters are given every permit that fits them the
        // moment it is released (`next_waiter`), so a permit free now fits none of them.
        match self.concurrency.try_acquire(&spec.concurrency, request.class, inside).err() {
            None if spec.adaptive_limit.enabled
                && !self.adaptive_limit.try_acquire(&spec.adaptive_limit, now, inside) =>
            {
                // Netflix's `SimpleLimiter` refuses at once; give back the bulkhead's permit.
                self.concurrency.release(request.class);
                Entry::Refuse { reason: RejectReason::AdaptiveLimit, retry_after: None }
            }
            None => Entry::Admit,
            Some(why) => {
                let wait = self.concurrency.max_wait(&spec.concurrency, request.class, why);
                if wait > 0.0 {
                    Entry::Wait { max_wait: secs_to_nanos(wait) }
                } else {
                    Entry::Refuse { reason: refusal_reason(why), retry_after: None }
                }
            }
        }
    }

    /// The first waiter (in arrival order) that can take a permit now, which it takes; `class`
    /// gives each waiter's class. Call after a request left the node.
    pub fn next_waiter(&mut self, spec: &ServiceSpec, inside: u32, class: impl Fn(CallId) -> u8) -> Option<CallId> {
        let position = self
            .waiting
            .iter()
            .position(|&w| self.concurrency.refusal(&spec.concurrency, class(w), inside).is_none())?;
        let call = self.waiting.remove(position)?;
        // Cannot fail: the permit was free a line ago and nothing took it.
        let _ = self.concurrency.try_acquire(&spec.concurrency, class(call), inside);
        Some(call)
    }

    /// Why a waiter of `class` that gave up was refused.
    pub fn wait_refusal(&self, spec: &ServiceSpec, class: u8, inside: u32) -> RejectReason {
        match self.concurrency.refusal(&spec.concurrency, class, inside) {
            Some(why) => refusal_reason(why),
            None => RejectReason::ConcurrencyLimit, // a permit freed but earlier waiters took it
        }
    }

    /// A request admitted by [`Station::may_enter`] (and so holding its bulkhead permit) left
    /// the node, however it left.
    pub fn left(&mut self, class: u8) {
        self.concurrency.release(class);
    }

    /// A response left the node `latency` after the request arrived, with `inside` requests
    /// still inside: the response-time signals and the adaptive limit's sample.
    pub fn finished(&mut self, spec: &ServiceSpec, now: Nanos, latency: Nanos, inside: u32) {
        self.entry_gate.record_latency(&spec.entry_gate, now, latency);
        if spec.adaptive_rate.enabled {
            self.adaptive_rate.record_latency(&spec.adaptive_rate, now, latency);
        }
        self.sample_limit(spec, now, latency, inside, false);
    }

    /// A request that had entered was dropped before it was answered (CoDel, a passed
    /// deadline, its caller's cancellation): the adaptive limit's `onDropped`.
    pub fn dropped(&mut self, spec: &ServiceSpec, now: Nanos, latency: Nanos, inside: u32) {
        self.sample_limit(spec, now, latency, inside, true);
    }

    fn sample_limit(&mut self, spec: &ServiceSpec, now: Nanos, rtt: Nanos, inside: u32, dropped: bool) {
        if spec.adaptive_limit.enabled {
            // In flight when it was admitted is not kept per request; the count now plus this
            // one stands for it (Netflix passes the count at acquire time).
            let u = unit(&mut self.rng);
            self.adaptive_limit.on_sample(&spec.adaptive_limit, now, rtt, inside + 1, dropped, u);
        }
    }

    /// The node's gauges changed: feed the load signals of shedding and degradation. Returns
    /// shedding's new state when it changed (an episode began or ended), for the engine's log.
    pub fn observe(
        &mut self,
        spec: &ServiceSpec,
        now: Nanos,
        busy: u32,
        queue_len: usize,
        inside: u32,
    ) -> Option<(shed::ShedState, shed::ShedState)> {
        let shed = load_of(spec, spec.shed.load.signal, busy, queue_len, inside);
        self.shed.set_load(&spec.shed, now, shed);
        let degrade = load_of(spec, spec.degrade.load.signal, busy, queue_len, inside);
        self.degrade.set_load(&spec.degrade, now, degrade);
        if spec.autoscale.enabled {
            self.autoscaler.observe(now, busy, queue_len as u32, inside);
        }
        if spec.memory.enabled
            && let Some(kill) = self.memory.observe(&spec.memory, now, queue_len as u32, busy)
        {
            self.pending_kill = Some(kill);
        }
        let state =
            if spec.shed.enabled { shed::ShedState::at(&spec.shed, self.shed.load(now)) } else { Default::default() };
        let from = std::mem::replace(&mut self.shed_state, state);
        (from != state).then_some((from, state))
    }

    /// A request joins the queue (adaptive LIFO watches how long the queue stays non-empty).
    pub fn enqueued(&mut self, now: Nanos, was_empty: bool) {
        self.lifo.on_enqueue(now, was_empty);
    }

    /// Whether a request starting service now gets the degraded response (counted).
    pub fn degraded(&mut self, spec: &ServiceSpec, now: Nanos) -> bool {
        self.degrade.degrade(&spec.degrade, now)
    }
}

impl Station {
    /// The next instant a controller wants the clock (a control interval, an evaluation, a
    /// worker becoming ready, a kill to carry out, a restart), if any.
    pub fn next_due(&self, spec: &ServiceSpec, now: Nanos) -> Option<Nanos> {
        let kill = self.pending_kill.map(|_| now);
        let restart = self.memory.restart_due();
        let rate = spec.adaptive_rate.enabled.then(|| self.adaptive_rate.next_due(&spec.adaptive_rate));
        // Workers already ordered come up even if the autoscaler was switched off since.
        let scale = Some(self.autoscaler.next_due(&spec.autoscale)).filter(|t| *t != Nanos::MAX);
        [kill, restart, rate, scale].into_iter().flatten().min()
    }

    /// Runs every controller due at `now` (the node has `workers` serving) and says what the
    /// engine must do.
    pub fn on_due(&mut self, spec: &ServiceSpec, now: Nanos, workers: u32) -> Control {
        let mut out = Control { kill: self.pending_kill.take(), ..Control::default() };
        if out.kill.is_none() && self.memory.restart_due().is_some_and(|t| t <= now) {
            self.memory.restarted(now);
            out.restarted = true;
            // A new process: what the adaptive controllers had learnt died with the old one.
            self.adaptive_limit.reset(&spec.adaptive_limit);
            self.adaptive_rate.reset(&spec.adaptive_rate, now);
        }
        if spec.adaptive_rate.enabled && self.adaptive_rate.next_due(&spec.adaptive_rate) <= now {
            self.adaptive_rate.control(&spec.adaptive_rate, now);
        }
        if self.autoscaler.next_due(&spec.autoscale) <= now {
            let step = self.autoscaler.on_due(&spec.autoscale, now, workers);
            out.add_workers = step.add_now;
            out.remove_workers = step.remove_now;
            out.decision = step.decision.map(|d| (d.from, d.to));
        }
        out
    }

    /// The spec was edited at `now`: the adaptive rate's bucket adopts new bounds at once, and
    /// an adaptive limit that has not learnt anything yet starts from the new settings (a
    /// `--set …initial=…` at t = 0 is the limit's start, as if written in the file).
    pub fn retune(&mut self, spec: &ServiceSpec, now: Nanos) {
        if spec.adaptive_rate.enabled {
            self.adaptive_rate.retune(&spec.adaptive_rate, now);
        }
        if self.adaptive_limit.stats.samples == 0 {
            self.adaptive_limit = adaptive_limit::AdaptiveLimit::new(&spec.adaptive_limit);
        }
    }

    /// Whether the node's process runs (not killed by the OOM killer and awaiting restart).
    pub fn running(&self) -> bool {
        self.memory.running() && self.pending_kill.is_none()
    }

    /// The factor GC pressure puts on a service time starting now.
    pub fn slowdown(&self, spec: &ServiceSpec, queued: u32, busy: u32) -> f64 {
        if spec.memory.enabled { self.memory.slowdown(&spec.memory, queued, busy) } else { 1.0 }
    }
}

/// The refusal reason of a concurrency refusal.
fn refusal_reason(why: concurrency::Refusal) -> RejectReason {
    match why {
        concurrency::Refusal::Limit => RejectReason::ConcurrencyLimit,
        concurrency::Refusal::PoolFull => RejectReason::BulkheadFull,
    }
}

/// The load `signal` as a fraction, from the node's gauges.
fn load_of(spec: &ServiceSpec, signal: LoadSignal, busy: u32, queue_len: usize, inside: u32) -> f64 {
    match signal {
        LoadSignal::Utilization => ratio(f64::from(busy), f64::from(spec.workers)),
        LoadSignal::QueueFill => spec.queue.capacity.map_or(0.0, |c| ratio(queue_len as f64, f64::from(c))),
        LoadSignal::InFlight => {
            // Against the concurrency limit when one is on, else against the workers.
            let limit = spec.concurrency.max_concurrent.filter(|_| spec.concurrency.enabled).unwrap_or(spec.workers);
            ratio(f64::from(inside), f64::from(limit))
        }
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

/// One controller's live state for cards and plots: (key, label, value, ceiling or state level).
#[derive(Clone, Debug, PartialEq)]
pub enum Reading {
    /// A level with an optional ceiling (tokens of a bucket, permits in use, a load fraction).
    Gauge { key: &'static str, label: String, value: f64, max: Option<f64> },
    /// A named state and its severity (0 normal, 1 warning, 2 bad).
    State { key: &'static str, label: String, name: &'static str, level: u8 },
}

impl Reading {
    /// The number a plot draws: a gauge's value, a state's severity.
    pub fn level(&self) -> f64 {
        match self {
            Reading::Gauge { value, .. } => *value,
            Reading::State { level, .. } => f64::from(*level),
        }
    }

    /// The stable key and the label a person reads.
    pub fn names(&self) -> (&'static str, String) {
        match self {
            Reading::Gauge { key, label, .. } | Reading::State { key, label, .. } => (key, label.clone()),
        }
    }
}

impl Station {
    /// The live state of every controller that is on, in chain order: what a card shows and
    /// what can be plotted, without drawing code per controller. Which readings there are
    /// depends on the spec alone (series points keep them by position).
    pub fn readings(&self, spec: &ServiceSpec, now: Nanos, gauges: Gauges) -> Vec<Reading> {
        let Gauges { busy, queued, inside } = gauges;
        let mut out = Vec::new();
        if spec.rate_limit.enabled {
            let value = self.rate_limit.tokens(&spec.rate_limit, now);
            let max = Some(spec.rate_limit.capacity());
            out.push(Reading::Gauge { key: "rate_limit_tokens", label: "tokens".into(), value, max });
        }
        if spec.entry_gate.enabled {
            let mean = self.entry_gate.mean_latency(now).unwrap_or(0.0);
            let max = spec.entry_gate.max_latency;
            out.push(Reading::Gauge { key: "entry_gate_latency", label: "resp s".into(), value: mean, max });
        }
        if spec.shed.enabled {
            let value = self.shed.load(now);
            out.push(Reading::Gauge { key: "shed_load", label: "load".into(), value, max: Some(1.0) });
            let (name, level) = if value > spec.shed.critical_only_above {
                ("critical only", 2)
            } else if value > spec.shed.shed_sheddable_above {
                ("shedding", 1)
            } else {
                ("admitting all", 0)
            };
            out.push(Reading::State { key: "shed_state", label: "shed".into(), name, level });
        }
        if spec.concurrency.enabled
            && let Some(max) = spec.concurrency.max_concurrent
        {
            let value = f64::from(inside);
            out.push(Reading::Gauge { key: "concurrency", label: "permits".into(), value, max: Some(f64::from(max)) });
        }
        for (p, pool) in spec.concurrency.pools.iter().enumerate() {
            out.push(Reading::Gauge {
                key: "pool_permits",
                label: format!("pool {}", pool.name()),
                value: f64::from(self.concurrency.pool_in_use(p)),
                max: Some(f64::from(pool.max_concurrent)),
            });
        }
        // The list of readings depends on the spec only, never on the state: series points keep
        // them by position.
        if spec.concurrency.max_wait > 0.0 || spec.concurrency.pools.iter().any(|p| p.max_wait > 0.0) {
            let value = self.waiting.len() as f64;
            out.push(Reading::Gauge { key: "permit_waiters", label: "waiting".into(), value, max: None });
        }
        if spec.degrade.enabled {
            let value = self.degrade.load(now);
            out.push(Reading::Gauge { key: "degrade_load", label: "degrade load".into(), value, max: Some(1.0) });
        }
        match spec.queue.discipline {
            Discipline::Codel => {
                let dropping = self.codel.status().dropping;
                let (name, level) = if dropping { ("dropping", 1) } else { ("ok", 0) };
                out.push(Reading::State { key: "codel", label: "codel".into(), name, level });
            }
            Discipline::AdaptiveLifo => {
                let congested = self.lifo.congested(&spec.queue.adaptive_lifo, now);
                let (name, level) = if congested { ("LIFO", 1) } else { ("FIFO", 0) };
                out.push(Reading::State { key: "adaptive_lifo", label: "order".into(), name, level });
            }
            _ => {}
        }
        if spec.adaptive_limit.enabled {
            let (value, max) =
                (f64::from(self.adaptive_limit.limit()), Some(f64::from(spec.adaptive_limit.max_limit())));
            out.push(Reading::Gauge { key: "adaptive_limit", label: "limit".into(), value, max });
        }
        if spec.adaptive_rate.enabled {
            let rate = &spec.adaptive_rate;
            let value = self.adaptive_rate.rate();
            out.push(Reading::Gauge { key: "adaptive_rate", label: "rate limit".into(), value, max: None });
            let value = self.adaptive_rate.measured().unwrap_or(0.0);
            out.push(Reading::Gauge {
                key: "adaptive_rate_latency",
                label: "measured s".into(),
                value,
                max: Some(rate.slo),
            });
        }
        if spec.autoscale.enabled {
            let max = Some(f64::from(spec.autoscale.max_workers));
            out.push(Reading::Gauge { key: "workers", label: "workers".into(), value: f64::from(spec.workers), max });
            let value = f64::from(self.autoscaler.pending());
            out.push(Reading::Gauge { key: "workers_pending", label: "starting".into(), value, max: None });
        }
        if spec.memory.enabled {
            let value = self.memory.used(&spec.memory, queued, busy);
            out.push(Reading::Gauge { key: "memory", label: "memory MB".into(), value, max: spec.memory.limit });
            let (name, level) = if self.memory.running() { ("running", 0) } else { ("OOM-killed", 2) };
            out.push(Reading::State { key: "oom", label: "process".into(), name, level });
        }
        out
    }
}

/// A node's gauges as the controllers read them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Workers occupied.
    pub busy: u32,
    /// Requests waiting in the queue.
    pub queued: u32,
    /// Requests inside the node (queued, blocked here, or with a worker).
    pub inside: u32,
}

/// What the admission controllers did over the whole run (from t = 0, warm-up included), for
/// the report: only the controllers that are on. The refusals themselves, counted after the
/// warm-up like every label, are in `rejected_by`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct StationReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<rate_limit::RateLimitStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_gate: Option<entry_gate::EntryGateStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shed: Option<shed::ShedStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codel: Option<codel::CodelStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adaptive_lifo: Option<adaptive_lifo::AdaptiveLifoStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degrade: Option<degrade::DegradeStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adaptive_limit: Option<adaptive_limit::AdaptiveLimitStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adaptive_rate: Option<adaptive_rate::AdaptiveRateStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<autoscale::AutoscaleStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<memory::MemoryStats>,
}

impl Station {
    /// The report at `now` of the controllers that are on; `None` for a transparent station.
    pub fn report(&self, spec: &ServiceSpec, now: Nanos) -> Option<StationReport> {
        if Self::transparent(spec) {
            return None;
        }
        Some(StationReport {
            rate_limit: spec.rate_limit.enabled.then_some(self.rate_limit.stats),
            entry_gate: spec.entry_gate.enabled.then(|| self.entry_gate.stats.clone()),
            shed: spec.shed.enabled.then(|| self.shed.stats.clone()),
            codel: (spec.queue.discipline == Discipline::Codel).then(|| *self.codel.stats()),
            adaptive_lifo: (spec.queue.discipline == Discipline::AdaptiveLifo).then(|| *self.lifo.stats()),
            degrade: spec.degrade.enabled.then(|| self.degrade.stats.clone()),
            adaptive_limit: spec.adaptive_limit.enabled.then_some(self.adaptive_limit.stats),
            adaptive_rate: spec.adaptive_rate.enabled.then_some(self.adaptive_rate.stats),
            autoscale: spec.autoscale.enabled.then_some(self.autoscaler.stats),
            // The outage going on at `now` counts too.
            memory: spec.memory.enabled.then_some(memory::MemoryStats {
                time_down_s: crate::engine::time::nanos_to_secs(self.memory.time_down(now)),
                ..self.memory.stats
            }),
        })
    }
}
