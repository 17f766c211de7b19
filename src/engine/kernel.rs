//! The kernel: the clock, the calendar, the request slabs, the timeline, and the event loop.
//!
//! The loop is one ordinary Bevy system ([`advance`]) in [`super::SimSchedule`]. It takes the
//! [`Kernel`] resource and queries over the node and edge components through [`Net`], and runs
//! events until the horizon in [`RunRequest`]. Component logic lives with the components
//! (`model::service`, `model::source`, `model::exchange`) as `impl Net` blocks.
//!
//! Ordering at a boundary instant T is fixed: first every event at time ≤ T, then the series
//! sample at T, then timeline entries at T in the order they were added. So running straight to
//! the end, or stopping at T and calling `Sim::set` there, give the same history.

use std::collections::BTreeMap;

use bevy::ecs::entity::Entity;
use bevy::ecs::prelude::*;
use bevy::ecs::system::SystemParam;

use super::calendar::{Calendar, Event, TimerOwner, TimerTag};
use super::limits::{CHECK_EVERY, Limits, Stop};
use super::live::node_readings;
use super::time::{Nanos, nanos_to_secs};
use crate::edge::Link;
use crate::edge::breaker::{BreakerState, Transition};
use crate::metrics::series::Readings;
use crate::metrics::stats::NodeStats;
use crate::model::request::{Call, Exchange, Slab};
use crate::model::service::Service;
use crate::model::source::Source;
use crate::params::{self, Value, Visitor};
use crate::station::Reading;

pub use super::timeline::{EntryOrigin, Timeline, TimelineEntry};

pub use super::log::{LogEntry, LogEvent};

/// Most recent log entries kept.
const LOG_CAP: usize = 10_000;

/// A request class as the engine uses it.
#[derive(Clone, Debug)]
pub struct ClassInfo {
    pub name: String,
    pub weight: f64,
    pub priority: u8,
    pub criticality: crate::station::shed::Criticality,
    /// The tenant's name: the class's `tenant`, or its own name when it names none.
    pub tenant_name: String,
    /// Whether the class names its tenant (then the report also sums per tenant).
    pub named_tenant: bool,
    /// Interned tenant and endpoint ids (dense from 0, in class order), for keyed rate limits.
    pub tenant: u32,
    pub endpoint: u32,
}

/// How far the next run of [`super::SimSchedule`] goes.
#[derive(Resource, Clone, Copy, Debug)]
pub struct RunRequest {
    /// Advance the clock to this instant (processing everything at or before it).
    pub until: Nanos,
    /// Stop after this many events (then the clock stays at the last event).
    pub max_events: Option<u64>,
}

/// Node names to entities, in name order.
#[derive(Resource, Debug, Default, Clone)]
pub struct NodeIndex {
    pub nodes: BTreeMap<String, Entity>,
    pub links: BTreeMap<String, Entity>,
}

impl NodeIndex {
    /// The name of node `entity` (a linear search: for reports and renderers, not the event
    /// loop); empty if it is not a node.
    pub fn name_of(&self, entity: Entity) -> &str {
        self.nodes.iter().find(|(_, e)| **e == entity).map_or("", |(n, _)| n.as_str())
    }
}

/// Global state of the simulation.
#[derive(Resource, Debug)]
pub struct Kernel {
    pub now: Nanos,
    pub calendar: Calendar,
    pub calls: Slab<Call>,
    pub exchanges: Slab<Exchange>,
    /// Events handled so far.
    pub events: u64,
    pub seed: u64,
    pub warmup: Nanos,
    /// The scenario's duration (default horizon).
    pub end: Nanos,
    pub sample_every: Nanos,
    pub next_sample: Nanos,
    pub timeline: Timeline,
    pub classes: Vec<ClassInfo>,
    pub log: Vec<LogEntry>,
    /// Errors from timeline entries that could not be applied (reported, never panicking).
    pub errors: Vec<String>,
    /// The population cap and the bound on events at one instant; `limits.stopped` once hit.
    pub limits: Limits,
    /// The next logical request's id.
    pub next_request_id: u64,
}

impl Kernel {
    pub fn new(seed: u64, warmup: Nanos, end: Nanos, sample_every: Nanos, classes: Vec<ClassInfo>) -> Self {
        Self {
            now: 0,
            calendar: Calendar::default(),
            calls: Slab::default(),
            exchanges: Slab::default(),
            events: 0,
            seed,
            warmup,
            end,
            sample_every,
            next_sample: sample_every,
            timeline: Timeline::default(),
            classes,
            log: Vec::new(),
            errors: Vec::new(),
            limits: Limits::default(),
            next_request_id: 0,
        }
    }

    /// Appends to the event log (bounded: the oldest half is dropped when full).
    pub fn note(&mut self, subject: &str, event: LogEvent) {
        if self.log.len() >= LOG_CAP {
            self.log.drain(..LOG_CAP / 2);
        }
        self.log.push(LogEntry { at: self.now, subject: subject.to_string(), event });
    }

    /// A fresh logical request id.
    #[inline]
    pub fn request_id(&mut self) -> u64 {
        self.next_request_id += 1;
        self.next_request_id
    }

    /// True once the warm-up is over (requests arriving now are counted).
    #[inline]
    pub fn counting(&self) -> bool {
        self.now >= self.warmup
    }
}

type ServiceQuery<'w, 's> = Query<'w, 's, (&'static mut Service, &'static mut NodeStats)>;
/// A source entity also holds its one outgoing [`Link`], so a source's hot path (arrival and
/// send, answer and label) reaches both with one lookup.
type SourceQuery<'w, 's> =
    Query<'w, 's, (&'static mut Source, &'static mut NodeStats, &'static mut Link), Without<Service>>;
/// The edges of services (each its own entity; a service may call several nodes).
type LinkQuery<'w, 's> = Query<'w, 's, &'static mut Link, Without<Source>>;

/// The world access the event handlers need, as a system parameter; [`NetParam::net`] opens it.
#[derive(SystemParam)]
pub struct NetParam<'w, 's> {
    kernel: ResMut<'w, Kernel>,
    index: Res<'w, NodeIndex>,
    services: ServiceQuery<'w, 's>,
    sources: SourceQuery<'w, 's>,
    links: LinkQuery<'w, 's>,
}

impl<'s> NetParam<'_, 's> {
    /// The handlers' view. The kernel is marked changed once here and then used as a plain
    /// `&mut`: through `ResMut` every field access in the loop would write a change tick, and
    /// nothing reads the kernel's change detection.
    pub fn net(&mut self) -> Net<'_, 's> {
        Net {
            k: &mut self.kernel,
            index: &self.index,
            services: self.services.reborrow(),
            sources: self.sources.reborrow(),
            links: self.links.reborrow(),
        }
    }
}

/// Everything the event handlers touch: the kernel and the model's components.
pub struct Net<'w, 's> {
    pub k: &'w mut Kernel,
    pub index: &'w NodeIndex,
    pub services: ServiceQuery<'w, 's>,
    pub sources: SourceQuery<'w, 's>,
    /// Service edges only: reach any edge through [`Net::link`] and [`Net::link_mut`].
    pub links: LinkQuery<'w, 's>,
}

/// The event loop: runs events and boundaries up to the [`RunRequest`] horizon.
pub fn advance(mut param: NetParam, request: Res<RunRequest>) {
    let mut net = param.net();
    let RunRequest { until, max_events } = *request;
    if net.k.limits.stopped.is_some() {
        return;
    }
    let mut budget = max_events.unwrap_or(u64::MAX);
    loop {
        let boundary = net.k.next_sample.min(net.k.timeline.next_time().unwrap_or(Nanos::MAX));
        match net.k.calendar.peek_time() {
            Some(t) if t <= boundary && t <= until => {
                if budget == 0 {
                    return;
                }
                budget -= 1;
                let Some((t, event)) = net.k.calendar.pop() else { return };
                net.k.now = t;
                net.k.events += 1;
                net.dispatch(event);
                if net.k.events & (CHECK_EVERY - 1) == 0 && net.check_limits() {
                    return;
                }
            }
            // `Nanos::MAX` is "never": no sample or change is due there (times in a scenario
            // stop below 2^63 ns), and stepping onto it would repeat forever.
            _ if boundary <= until && boundary != Nanos::MAX => {
                net.k.now = boundary;
                net.boundary(boundary, until);
            }
            _ => break,
        }
    }
    net.k.now = net.k.now.max(until);
}

impl Net<'_, '_> {
    /// The edge `link`, wherever it lives (its own entity, or its source's).
    pub fn link(&self, link: Entity) -> Option<&Link> {
        match self.links.get(link) {
            Ok(l) => Some(l),
            Err(_) => self.sources.get(link).ok().map(|(_, _, l)| l),
        }
    }

    /// The edge `link`, mutably (see [`Net::link`]).
    pub fn link_mut(&mut self, link: Entity) -> Option<&mut Link> {
        let (links, sources) = (&mut self.links, &mut self.sources);
        match links.get_mut(link) {
            Ok(l) => Some(l.into_inner()),
            Err(_) => sources.get_mut(link).ok().map(|(_, _, l)| l.into_inner()),
        }
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Arrival { source, generation } => self.on_arrival(source.entity(), generation),
            Event::ThinkDone { source } => self.on_think_done(source.entity()),
            Event::PhaseSwitch { source, generation } => self.on_phase_switch(source.entity(), generation),
            Event::ServiceDone { call, generation } => self.on_service_done(call, generation),
            Event::Timer { owner, tag, generation } => self.on_timer(owner, tag, generation),
        }
    }

    /// Routes a policy timer to the layer or controller that armed it.
    fn on_timer(&mut self, owner: TimerOwner, tag: TimerTag, generation: u32) {
        match tag {
            TimerTag::AttemptTimeout => self.on_call_timeout(owner.as_exchange(), generation),
            TimerTag::BlockTimeout => self.on_block_timeout(owner.as_call(), generation),
            TimerTag::PermitWait => self.on_permit_wait_over(owner.as_call(), generation),
            TimerTag::Deliver => self.on_delivered(owner.as_call(), generation),
            TimerTag::AnswerDue => self.on_answer_due(owner.as_exchange(), generation),
            TimerTag::HedgeDue => self.on_hedge_due(owner.as_exchange(), generation),
            TimerTag::RetryDue => self.on_retry_due(owner.as_exchange(), generation),
            TimerTag::BreakerHalfOpen => self.on_breaker_timer(owner.as_entity(), generation),
            TimerTag::SendDue => self.on_send_due(owner.as_exchange(), generation),
            TimerTag::Control => self.on_control(owner.as_entity(), generation),
        }
    }

    /// Samples at `t` if due, then applies the timeline entries at `t`; then, if nothing can
    /// happen for a while, takes the quiet samples up to the next event at once.
    fn boundary(&mut self, t: Nanos, until: Nanos) {
        let sampled = self.k.next_sample == t;
        if sampled {
            self.sample_all(t);
            self.k.next_sample = t.saturating_add(self.k.sample_every);
        }
        let mut changed = false;
        while let Some(entry) = self.k.timeline.pop_due(t) {
            changed = true;
            if let Err(e) = self.apply_entry(&entry) {
                let msg = format!("at {}s: {}: {e}", nanos_to_secs(t), entry.path);
                self.k.errors.push(msg);
            }
        }
        if sampled && !changed {
            self.skip_quiet_samples(t, until);
        }
    }

    /// Sampling cost that does not grow with the steps that pass without events: when the
    /// next event (or change, or the horizon) is several steps away, the samples in between
    /// are all alike, so after one real sample brings every window to its steady state the
    /// rest are appended in bulk ([`NodeStats::sample_quiet`]), with exactly the series and
    /// gauges that one sample per step gives.
    fn skip_quiet_samples(&mut self, t: Nanos, until: Nanos) {
        let step = self.k.sample_every;
        // Only after the warm-up, where every window is a whole step.
        if t < self.k.warmup.saturating_add(step) {
            return;
        }
        // Samples strictly before the next event or change (those at its instant come after
        // it and see it), and not past the horizon.
        let limit = self
            .k
            .calendar
            .peek_time()
            .unwrap_or(Nanos::MAX)
            .min(self.k.timeline.next_time().unwrap_or(Nanos::MAX))
            .min(until.saturating_add(1));
        let first = self.k.next_sample;
        if first >= limit {
            return;
        }
        let quiet = (limit - 1 - first) / step + 1;
        if quiet < 3 {
            return;
        }
        // One real sample: the windows of every node are now as steady as they stay.
        self.k.now = first;
        self.sample_all(first);
        let rest = quiet - 1;
        let last = first + rest * step;
        for (_, mut stats) in &mut self.services {
            stats.sample_quiet(first, rest, step);
        }
        for (_, mut stats, _) in &mut self.sources {
            stats.sample_quiet(first, rest, step);
        }
        self.k.now = last;
        self.k.next_sample = last.saturating_add(step);
    }

    /// Checks the run limits (every [`CHECK_EVERY`] events); true if the run must stop.
    #[inline(never)]
    fn check_limits(&mut self) -> bool {
        let now = self.k.now;
        let population = (self.k.calls.live() + self.k.exchanges.live()) as u64;
        if population > self.k.limits.max_population {
            let cap = self.k.limits.max_population;
            self.k.limits.stopped = Some(Stop::PopulationCap { at: now, population, cap });
        } else if self.k.limits.time_stopped(now) {
            let events = self.k.limits.events_at_instant();
            let nodes = self.nodes_due_at(now);
            self.k.limits.stopped = Some(Stop::TimeStopped { at: now, events, nodes });
        } else {
            return false;
        }
        if let Some(stop) = &self.k.limits.stopped {
            let reason = stop.to_string();
            self.k.note("run", LogEvent::RunStopped { reason });
        }
        true
    }

    /// Names of the nodes with events pending at `t`, sorted (the members of a zero-time loop).
    fn nodes_due_at(&self, t: Nanos) -> Vec<String> {
        let mut entities = std::collections::BTreeSet::new();
        for event in self.k.calendar.events_at(t) {
            let node = match event {
                Event::Arrival { source, .. } | Event::ThinkDone { source } | Event::PhaseSwitch { source, .. } => {
                    Some(source.entity())
                }
                Event::ServiceDone { call, .. } => Some(self.k.calls.get(call).node),
                Event::Timer {
                    tag: TimerTag::BlockTimeout | TimerTag::PermitWait | TimerTag::Deliver, owner, ..
                } => Some(self.k.calls.get(owner.as_call()).node),
                _ => None,
            };
            entities.extend(node);
        }
        let mut names: Vec<String> =
            self.index.nodes.iter().filter(|(_, e)| entities.contains(*e)).map(|(n, _)| n.clone()).collect();
        names.sort();
        names
    }

    fn sample_all(&mut self, t: Nanos) {
        let warmup = self.k.warmup;
        let span = self.k.sample_every.min(t);
        let level = |l: &Link| if l.policy.breaker.enabled { l.breaker.state.level() } else { 0.0 };
        let (links, index) = (&self.links, self.index);
        for (svc, mut stats) in &mut self.services {
            let worst = svc.links.iter().filter_map(|l| links.get(*l).ok()).map(level).fold(0.0, f64::max);
            // Only a node with policy readings builds them: a plain node's sample allocates nothing.
            let has_readings = svc.gated || svc.links.iter().filter_map(|l| links.get(*l).ok()).any(Link::has_readings);
            let readings = if has_readings {
                let edges: Vec<&Link> = svc.links.iter().filter_map(|l| links.get(*l).ok()).collect();
                Readings::from_values(node_readings(Some(&svc), &edges, index, t).iter().map(Reading::level))
            } else {
                Readings::default()
            };
            stats.sample(t, warmup, span, worst, readings);
        }
        for (_, mut stats, link) in &mut self.sources {
            let readings = if link.has_readings() {
                Readings::from_values(node_readings(None, &[&link], index, t).iter().map(Reading::level))
            } else {
                Readings::default()
            };
            stats.sample(t, warmup, span, level(&link), readings);
        }
    }

    /// Finds the field at `path` (`node.field.sub`) and runs `op` on it.
    fn with_field(
        &mut self,
        path: &str,
        mut op: impl FnMut(&mut params::Field<'_>) -> Result<(), String>,
    ) -> Result<Entity, String> {
        let (node_name, rest) = path.split_once('.').ok_or("a path is node.field")?;
        let node = *self.index.nodes.get(node_name).ok_or_else(|| unknown_node(self.index, node_name))?;
        let mut result = Ok(());
        let mut finder = params::Finder::new(rest, |field| result = op(field));
        self.visit_node(node, &mut finder);
        if !finder.found {
            let hint = params::suggest(rest, finder.seen.iter().map(String::as_str))
                .map(|s| format!("; did you mean `{node_name}.{s}`?"))
                .unwrap_or_default();
            return Err(format!("no parameter `{rest}` on `{node_name}`{hint}"));
        }
        drop(finder);
        result.map(|()| node)
    }

    /// Checks that `value` can be assigned at `path` (kind and bounds), changing nothing.
    pub fn check_param(&mut self, path: &str, value: &Value) -> Result<(), String> {
        self.with_field(path, |field| field.check(value)).map(|_| ())
    }

    /// [`Net::check_param`], plus the rules across fields against the current values: for a
    /// change applied now. (Scripted entries are judged when they come due, after the entries
    /// before them.)
    pub fn check_param_now(&mut self, path: &str, value: &Value) -> Result<(), String> {
        let node = self.with_field(path, |field| field.check(value))?;
        // Rules across fields (a uniform's half-width within its mean, a schedule's peak rate)
        // involve numbers and points only: try the value, judge the node, put the old one back
        // (exact for those; choices are not tried, since switching a family resets its
        // sibling fields).
        if !matches!(value, Value::Real(_) | Value::Count(_) | Value::Points(_)) {
            return Ok(());
        }
        let mut previous = None;
        self.with_field(path, |field| {
            previous = Some(field.get());
            field.set(value)
        })?;
        let verdict = self.spec_error(node);
        if let Some(previous) = previous {
            self.with_field(path, |field| field.set(&previous))?;
        }
        verdict.map_or(Ok(()), Err)
    }

    /// The first broken rule across the fields of `node`'s parameters, if any: what a single
    /// field's bounds cannot say (the scenario checker applies the same rules to files).
    fn spec_error(&self, node: Entity) -> Option<String> {
        use crate::scenario::rules;
        // An edge's live policy is its link's (the spec's copy is written back on export).
        let broken = if let Ok((svc, _)) = self.services.get(node) {
            let calls = svc.links.iter().filter_map(|l| self.links.get(*l).ok()).find_map(|l| rules::edge(&l.policy));
            calls.or_else(|| rules::service(&svc.spec))
        } else if let Ok((src, _, link)) = self.sources.get(node) {
            rules::edge(&link.policy).or_else(|| rules::source(&src.spec))
        } else {
            None
        };
        broken.map(|(_, e)| e)
    }

    /// Reads the value at `path`.
    pub fn get_param(&mut self, path: &str) -> Result<Value, String> {
        let mut value = Value::Unset;
        self.with_field(path, |field| {
            value = field.get();
            Ok(())
        })?;
        Ok(value)
    }

    /// Every parameter of the node named `name`, with kinds, values and help.
    pub fn list_params(&mut self, name: &str) -> Vec<params::ParamInfo> {
        let Some(&node) = self.index.nodes.get(name) else { return Vec::new() };
        let mut lister = params::Lister::new(name);
        self.visit_node(node, &mut lister);
        lister.out
    }

    /// Applies one timeline entry: finds the field, sets it, and lets the node react.
    fn apply_entry(&mut self, entry: &TimelineEntry) -> Result<(), String> {
        // Undoing a family switch (`….kind`) must also bring back the old family's shape
        // fields, which the switch replaced with the new family's defaults.
        let mut siblings = Vec::new();
        if entry.duration.is_some()
            && let Some(group) = entry.path.strip_suffix(".kind")
        {
            let node_name = entry.path.split('.').next().unwrap_or_default();
            let prefix = format!("{group}.");
            siblings = self
                .list_params(node_name)
                .into_iter()
                .filter(|p| p.path.starts_with(&prefix) && p.path != entry.path)
                .map(|p| (p.path, p.value))
                .collect();
        }
        let mut previous = None;
        let node = self.with_field(&entry.path, |field| {
            previous = Some(field.get());
            field.set(&entry.value)
        })?;
        // Scripted entries were checked one by one when the run was built; together with
        // earlier changes they can still break a cross-field rule: then nothing changes.
        if let Some(e) = self.spec_error(node) {
            if let Some(previous) = &previous {
                self.with_field(&entry.path, |field| field.set(previous))?;
            }
            return Err(format!("{e}; not applied"));
        }
        self.after_set(node, &entry.path);
        if let (Some(d), Some(prev)) = (entry.duration, previous) {
            let at = self.k.now.saturating_add(d);
            // Same instant, applied in insertion order: the family first, then its fields.
            for (path, value) in std::iter::once((entry.path.clone(), prev)).chain(siblings) {
                self.k.timeline.insert(TimelineEntry { at, path, value, duration: None, origin: EntryOrigin::Revert });
            }
        }
        let subject = entry.path.split('.').next().unwrap_or_default().to_string();
        self.k.note(&subject, LogEvent::Changed { path: entry.path.clone(), value: entry.value.to_string() });
        Ok(())
    }

    /// Walks every parameter of `node` (its own and those of its outgoing edges).
    pub fn visit_node(&mut self, node: Entity, v: &mut dyn Visitor) {
        if let Ok((mut src, _, mut link)) = self.sources.get_mut(node) {
            params::Params::visit(&mut src.spec, v);
            LinkParams(&mut link).visit_flat(v);
        } else if let Ok((mut svc, _)) = self.services.get_mut(node) {
            params::Params::visit(&mut svc.spec, v);
            let links = svc.links.clone();
            for link in links {
                if let Ok(mut l) = self.links.get_mut(link) {
                    let to = l.name.split_once("->").map(|(_, to)| to.to_string()).unwrap_or_default();
                    v.group("calls", &mut Named(&to, &mut LinkParams(&mut l)));
                }
            }
        }
    }

    /// Reacts to a change of `path` on `node` (start newly allowed work, reschedule arrivals…).
    fn after_set(&mut self, node: Entity, path: &str) {
        // The node's edges may have changed: their layers say again whether they are transparent.
        let (mut propagates, mut retries) = (false, false);
        if let Ok((_, _, mut link)) = self.sources.get_mut(node) {
            link.refresh();
            propagates = link.policy.propagate_deadline;
            retries = link.policy.retry.max_attempts > 1;
        } else if let Ok((svc, _)) = self.services.get(node) {
            for l in svc.links.clone() {
                if let Ok(mut link) = self.links.get_mut(l) {
                    link.refresh();
                    propagates |= link.policy.propagate_deadline;
                    retries |= link.policy.retry.max_attempts > 1;
                }
            }
        }
        if propagates || retries {
            // Deadlines now travel, or requests may come twice: every service checks from here on.
            for (mut svc, _) in &mut self.services {
                svc.deadline_aware |= propagates;
                svc.tracks_executions |= retries;
                svc.refresh_gate();
            }
        }
        if self.services.contains(node) {
            self.service_changed(node);
        } else if self.sources.contains(node) && source_shape_changed(path) {
            // Only a change of the arrival process redraws the next arrival: an edge policy
            // changed on a baseline copy (A/B on common random numbers) must leave the
            // arrivals exactly as they were.
            self.source_changed(node);
        }
    }

    /// Logs a breaker transition and arms the automatic half-open timer.
    pub fn breaker_moved(&mut self, link: Entity, t: Transition) {
        let Some(l) = self.link(link) else { return };
        let (name, from) = (l.name.clone(), l.from);
        let wait = (t.to == BreakerState::Open && l.policy.breaker.automatic_half_open)
            .then(|| (super::time::secs_to_nanos(l.policy.breaker.open_wait), l.breaker.generation));
        if let Ok((_, mut stats)) = self.services.get_mut(from) {
            stats.breaker_entered(t.to.level());
        } else if let Ok((_, mut stats, _)) = self.sources.get_mut(from) {
            stats.breaker_entered(t.to.level());
        }
        if let Some((wait, generation)) = wait {
            let at = self.k.now.saturating_add(wait);
            let (owner, tag) = (TimerOwner::entity(link), TimerTag::BreakerHalfOpen);
            self.k.calendar.schedule(at, Event::Timer { owner, tag, generation });
        }
        self.k.note(&name, LogEvent::Breaker { from: t.from, to: t.to });
    }

    fn on_breaker_timer(&mut self, link: Entity, generation: u32) {
        let now = self.k.now;
        let Some(l) = self.link_mut(link) else { return };
        if l.breaker.generation != generation {
            return;
        }
        let spec = l.policy.breaker.clone();
        if let Some(t) = l.breaker.on_wait_timer(&spec, now) {
            self.breaker_moved(link, t);
        }
    }
}

/// Whether `path` (`node.field…`) is a source's own arrival parameter (its rate or arrival
/// process), rather than its edge's policy or its deadline.
fn source_shape_changed(path: &str) -> bool {
    let field = path.split_once('.').map_or("", |(_, rest)| rest);
    field == "rate" || field.starts_with("arrivals")
}

fn unknown_node(index: &NodeIndex, name: &str) -> String {
    let hint = params::suggest(name, index.nodes.keys().map(String::as_str))
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default();
    format!("no node named `{name}`{hint}")
}

/// An edge's parameters: its policy plus the `cut` fault switch.
struct LinkParams<'a, 'b>(&'a mut Mut<'b, Link>);

impl LinkParams<'_, '_> {
    fn visit_flat(&mut self, v: &mut dyn Visitor) {
        let link = &mut **self.0;
        params::Params::visit(&mut link.policy, v);
        v.field("cut", params::Field::Flag(&mut link.cut), "the edge is cut: attempts are lost");
    }
}

impl params::Params for LinkParams<'_, '_> {
    fn visit(&mut self, v: &mut dyn Visitor) {
        self.visit_flat(v);
    }
}

/// Wraps a group under a name (`calls.db`).
struct Named<'a, P: params::Params>(&'a str, &'a mut P);

impl<P: params::Params> params::Params for Named<'_, P> {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.group(self.0, self.1);
    }
}
