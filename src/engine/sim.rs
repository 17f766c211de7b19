//! [`Sim`]: the handle that tests, the CLI and the GUI use to build, drive and read a run.
//!
//! A `Sim` owns a headless Bevy [`App`] whose world holds the model. Driving it is explicit:
//! `run_until`, `advance_by`, `step`, `set`. Because every call lands on the same event loop with
//! the same boundary rules, any sequence of calls that reaches the same sim times with the same
//! `set`s produces the same report, whatever the chunking (proved in
//! `tests/integration/determinism.rs`).

use std::path::Path;
use std::time::{Duration, Instant};

use bevy::app::App;
use bevy::ecs::entity::Entity;
use bevy::ecs::system::SystemState;
use bevy::ecs::world::World;

use super::kernel::{EntryOrigin, Kernel, LogEntry, Net, NetParam, NodeIndex, RunRequest, TimelineEntry};
use super::limits::Stop;
use super::time::{Nanos, nanos_to_secs, secs_to_nanos};
use super::{SimPlugin, SimSchedule};
use crate::edge::Link;
use crate::edge::breaker::BreakerState;
use crate::metrics::report::{AppliedChange, Incident, LinkReport, NodeReport, Report};
use crate::metrics::series::Point;
use crate::metrics::stats::NodeStats;
use crate::model::service::Service;
use crate::model::source::Source;
use crate::params::{ParamInfo, Value, parse_value};
use crate::scenario::build::{spawn_scenario, timeline_errors};
use crate::scenario::schema::Scenario;
use crate::scenario::{self, ScenarioError};

/// A running simulation.
pub struct Sim {
    app: App,
    scenario: Scenario,
    seed: u64,
    wall: Duration,
}

/// Live state of one node, for rendering.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub kind: NodeKind,
    pub queue_len: usize,
    /// Waiting places; None = unbounded.
    pub capacity: Option<u32>,
    pub busy: u32,
    pub workers: u32,
    /// Requests inside (queued, blocked, with a worker).
    pub inside: u32,
    pub up: bool,
    /// Outgoing edges: (edge name, target, breaker state if enabled, attempts in flight).
    pub edges: Vec<EdgeView>,
    pub counters: crate::metrics::stats::Counters,
}

/// Live state of one edge.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeView {
    pub name: String,
    pub to: String,
    pub breaker: Option<BreakerState>,
    pub in_flight: u64,
    pub attempts: u64,
    pub retries: u64,
    pub cut: bool,
}

/// Source or service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Source,
    Service,
}

impl Sim {
    /// Loads, validates and builds a scenario file. `seed` overrides the file's seed.
    pub fn from_file(path: impl AsRef<Path>, seed: Option<u64>) -> Result<Self, ScenarioError> {
        let src = scenario::Source::read(path.as_ref())?;
        Self::from_source(&src, seed)
    }

    /// Same as [`Sim::from_file`] for text already in memory; `name` is used in messages.
    pub fn from_text(name: &str, text: &str, seed: Option<u64>) -> Result<Self, ScenarioError> {
        Self::from_source(&scenario::Source { name: name.to_string(), text: text.to_string() }, seed)
    }

    fn from_source(src: &scenario::Source, seed: Option<u64>) -> Result<Self, ScenarioError> {
        let scn = scenario::load(src)?;
        Self::build(scn, seed).map_err(|errors| timeline_errors(&src.name, &src.text, errors))
    }

    /// Checks a scenario file as [`Sim::from_file`] does (syntax, rules, timeline against the
    /// model) without starting it: nothing is scheduled, no client or request exists.
    /// Returns the scenario's title.
    pub fn check_file(path: impl AsRef<Path>) -> Result<String, ScenarioError> {
        let src = scenario::Source::read(path.as_ref())?;
        let scn = scenario::load(&src)?;
        let mut app = App::empty();
        app.add_plugins(SimPlugin);
        let title = scn.title.clone();
        spawn_scenario(app.world_mut(), &scn, scn.seed, false)
            .map_err(|errors| timeline_errors(&src.name, &src.text, errors))?;
        Ok(title)
    }

    /// Builds from an in-memory scenario (validated here; errors are located at 1:1 paths).
    pub fn from_scenario(scn: Scenario, seed: Option<u64>) -> Result<Self, ScenarioError> {
        let spans = scenario::spans::SpanIndex::default();
        scenario::validate(&scn, "<scenario>", &spans)?;
        Self::build(scn, seed).map_err(|errors| timeline_errors("<scenario>", "", errors))
    }

    fn build(scn: Scenario, seed: Option<u64>) -> Result<Self, Vec<(usize, String)>> {
        let seed = seed.unwrap_or(scn.seed);
        let mut app = App::empty();
        app.add_plugins(SimPlugin);
        spawn_scenario(app.world_mut(), &scn, seed, true)?;
        Ok(Self { app, scenario: scn, seed, wall: Duration::ZERO })
    }

    /// The scenario as loaded (not including live changes; see [`Sim::timeline`]).
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The scenario's duration, seconds.
    pub fn duration(&self) -> f64 {
        self.scenario.duration
    }

    fn kernel(&self) -> &Kernel {
        self.app.world().resource::<Kernel>()
    }

    /// Current sim time, seconds.
    pub fn now(&self) -> f64 {
        nanos_to_secs(self.now_nanos())
    }

    /// Current sim time, nanoseconds.
    pub fn now_nanos(&self) -> Nanos {
        self.kernel().now
    }

    /// Events handled so far.
    pub fn events(&self) -> u64 {
        self.kernel().events
    }

    /// Time of the next pending event, if any (may be a stale one).
    pub fn next_event_time(&self) -> Option<Nanos> {
        self.kernel().calendar.peek_time()
    }

    /// Why the run stopped before its horizon (population cap, time stopped), if it did.
    pub fn stopped(&self) -> Option<&Stop> {
        self.kernel().limits.stopped.as_ref()
    }

    /// Sets the population cap: the run stops when more requests are alive at once
    /// (default: the scenario's `max_population`, else [`super::limits::DEFAULT_MAX_POPULATION`]).
    pub fn set_max_population(&mut self, n: u64) {
        self.app.world_mut().resource_mut::<Kernel>().limits.max_population = n.max(1);
    }

    /// Sets the bound on events at one instant (default
    /// [`super::limits::DEFAULT_MAX_EVENTS_AT_INSTANT`]); the fuzz tests lower it.
    pub fn set_max_events_at_instant(&mut self, n: u64) {
        self.app.world_mut().resource_mut::<Kernel>().limits.max_events_at_instant = n.max(1);
    }

    /// Runs the event loop to `until` (ns), handling at most `max_events` events.
    /// Returns the number of events handled.
    pub fn run(&mut self, until: Nanos, max_events: Option<u64>) -> u64 {
        let before = self.events();
        let start = Instant::now();
        let world = self.app.world_mut();
        world.insert_resource(RunRequest { until, max_events });
        world.run_schedule(SimSchedule);
        self.wall += start.elapsed();
        self.events() - before
    }

    /// Runs until sim time `secs` (never backwards).
    pub fn run_until(&mut self, secs: f64) {
        let until = secs_to_nanos(secs).max(self.now_nanos());
        self.run(until, None);
    }

    /// Runs to the scenario's duration.
    pub fn run_to_end(&mut self) {
        let end = self.kernel().end;
        self.run(end.max(self.now_nanos()), None);
    }

    /// Runs for `secs` more simulated seconds.
    pub fn advance_by(&mut self, secs: f64) {
        let until = self.now_nanos().saturating_add(secs_to_nanos(secs));
        self.run(until, None);
    }

    /// Handles exactly one event (and any sample or timeline boundary before it).
    /// Returns false if nothing is scheduled.
    pub fn step(&mut self) -> bool {
        self.run(Nanos::MAX, Some(1)) == 1
    }

    /// Sets `path` (`node.field.sub`) to `value` now, recording it on the timeline.
    pub fn set(&mut self, path: &str, value: &str) -> Result<(), String> {
        self.schedule_change(path, parse_value(value), None)
    }

    /// Like [`Sim::set`], reverting to the previous value after `secs`.
    pub fn set_for(&mut self, path: &str, value: &str, secs: f64) -> Result<(), String> {
        self.schedule_change(path, parse_value(value), Some(secs_to_nanos(secs)))
    }

    fn schedule_change(&mut self, path: &str, value: Value, duration: Option<Nanos>) -> Result<(), String> {
        self.with_net(|net| net.check_param_now(path, &value))?;
        // A change at T comes after every event at T, even if the clock stopped between two
        // events at T (a `step()` or an event budget): replaying it with `run_until(T)` then
        // gives the same history.
        let now = self.now_nanos();
        self.run(now, None);
        let mut kernel = self.app.world_mut().resource_mut::<Kernel>();
        kernel.timeline.insert(TimelineEntry {
            at: now,
            path: path.to_string(),
            value,
            duration,
            origin: EntryOrigin::User,
        });
        self.run(now, None);
        Ok(())
    }

    /// Reads a parameter's current value.
    pub fn get(&mut self, path: &str) -> Result<Value, String> {
        self.with_net(|net| net.get_param(path))
    }

    /// Every parameter of a node (paths, kinds, current values, help).
    pub fn params(&mut self, node: &str) -> Vec<ParamInfo> {
        self.with_net(|net| net.list_params(node))
    }

    fn with_net<R>(&mut self, f: impl FnOnce(&mut Net) -> R) -> R {
        let world = self.app.world_mut();
        let mut state = SystemState::<NetParam>::new(world);
        let mut param = state.get_mut(world).expect("a Sim's world always holds the kernel resources");
        let r = f(&mut param.net());
        state.apply(world);
        r
    }

    /// The scenario with every parameter at its live value (changes applied so far included)
    /// and no timeline: what "export the tweaked scenario" writes.
    pub fn current_scenario(&mut self) -> Scenario {
        let mut scn = self.scenario.clone();
        for (name, node) in scn.nodes.iter_mut() {
            let values =
                self.params(name).into_iter().map(|p| (p.path[name.len() + 1..].to_string(), p.value)).collect();
            write_back(node, &values);
        }
        scn.timeline.clear();
        scn
    }

    /// Every timeline entry (scripted, user, reverts), applied or pending.
    pub fn timeline(&self) -> &[TimelineEntry] {
        self.kernel().timeline.entries()
    }

    /// Notable engine events (breaker transitions, crashes, queue-full episodes, changes).
    pub fn log(&self) -> &[LogEntry] {
        &self.kernel().log
    }

    /// Node names in order.
    pub fn node_names(&self) -> Vec<String> {
        self.app.world().resource::<NodeIndex>().nodes.keys().cloned().collect()
    }

    /// The Bevy world (read-only), for renderers that query components directly.
    pub fn world(&self) -> &World {
        self.app.world()
    }

    fn entity(&self, name: &str) -> Option<Entity> {
        self.app.world().resource::<NodeIndex>().nodes.get(name).copied()
    }

    /// Live state of a node.
    pub fn node(&self, name: &str) -> Option<NodeView> {
        let world = self.app.world();
        let e = self.entity(name)?;
        let index = world.resource::<NodeIndex>();
        let edge = |l: Entity| {
            let link = world.get::<Link>(l)?;
            Some(EdgeView {
                name: link.name.clone(),
                to: index.name_of(link.to).to_string(),
                breaker: link.policy.breaker.enabled.then_some(link.breaker.state),
                in_flight: link.stats.in_flight,
                attempts: link.stats.attempts,
                retries: link.stats.retries,
                cut: link.cut,
            })
        };
        let counters = world.get::<NodeStats>(e)?.counters;
        if let Some(s) = world.get::<Service>(e) {
            Some(NodeView {
                name: name.to_string(),
                kind: NodeKind::Service,
                queue_len: s.queue.len(),
                capacity: s.spec.queue.capacity,
                busy: s.busy,
                workers: s.spec.workers,
                inside: s.inside,
                up: s.alive,
                edges: s.links.iter().filter_map(|l| edge(*l)).collect(),
                counters,
            })
        } else {
            world.get::<Source>(e)?;
            Some(NodeView {
                name: name.to_string(),
                kind: NodeKind::Source,
                queue_len: 0,
                capacity: Some(0),
                busy: 0,
                workers: 0,
                inside: 0,
                up: true,
                edges: edge(e).into_iter().collect(),
                counters,
            })
        }
    }

    /// The time series of a node (bounded; see `metrics::series`).
    pub fn series(&self, name: &str) -> &[Point] {
        self.entity(name).and_then(|e| self.app.world().get::<NodeStats>(e)).map_or(&[], |s| s.series.points())
    }

    /// Requests physically present and unlabelled at each node, counted from the slab (used by
    /// the conservation property test to cross-check the counters).
    pub fn audit_in_system(&self) -> std::collections::BTreeMap<String, u64> {
        use crate::model::request::CallState;
        let world = self.app.world();
        let index = world.resource::<NodeIndex>();
        let k = world.resource::<Kernel>();
        let mut out: std::collections::BTreeMap<String, u64> = index.nodes.keys().map(|n| (n.clone(), 0)).collect();
        for (_, c) in k.calls.slots() {
            if c.state != CallState::Free
                && c.counted
                && !c.labeled
                && let Some((name, _)) = index.nodes.iter().find(|(_, e)| **e == c.node)
            {
                *out.entry(name.clone()).or_default() += 1;
            }
            // A direct call is also its source's request in the system.
            if let Some(d) = c.direct.filter(|d| d.counted)
                && let Some((name, _)) = index.nodes.iter().find(|(_, e)| **e == d.source)
            {
                *out.entry(name.clone()).or_default() += 1;
            }
        }
        // A source's requests in the system are its live exchanges (waiting or backing off).
        for (_, e) in k.exchanges.slots() {
            if let (crate::model::request::Origin::Source(s), true) = (e.origin, e.counted)
                && let Some((name, _)) = index.nodes.iter().find(|(_, n)| **n == s)
            {
                *out.entry(name.clone()).or_default() += 1;
            }
        }
        out
    }

    /// The report at the current sim time.
    pub fn report(&self) -> Report {
        let world = self.app.world();
        let k = world.resource::<Kernel>();
        let index = world.resource::<NodeIndex>();
        let class_names: Vec<String> = k.classes.iter().map(|c| c.name.clone()).collect();
        // Classes grouped by tenant, when some class names one.
        let mut tenants: Vec<(String, Vec<usize>)> = Vec::new();
        if k.classes.iter().any(|c| c.named_tenant) {
            for (i, c) in k.classes.iter().enumerate() {
                match tenants.iter_mut().find(|(t, _)| *t == c.tenant_name) {
                    Some((_, members)) => members.push(i),
                    None => tenants.push((c.tenant_name.clone(), vec![i])),
                }
            }
        }
        let mut nodes = std::collections::BTreeMap::new();
        for (name, &e) in &index.nodes {
            let Some(stats) = world.get::<NodeStats>(e) else { continue };
            let service = world.get::<Service>(e);
            let kind = if service.is_some() { "service" } else { "source" };
            let mut report = NodeReport::new(kind, stats, k.now, k.warmup, &class_names, &tenants);
            report.policies = service.and_then(|s| s.station.report(&s.spec, k.now));
            nodes.insert(name.clone(), report);
        }
        let links = index
            .links
            .iter()
            .filter_map(|(name, &e)| world.get::<Link>(e).map(|l| (name.clone(), LinkReport::new(l))))
            .collect();
        // Sources in name order are the indices of `by_origin`.
        let sources: Vec<&String> =
            index.nodes.iter().filter(|(_, e)| world.get::<Source>(**e).is_some()).map(|(n, _)| n).collect();
        let mut amplification = std::collections::BTreeMap::new();
        for (i, source) in sources.iter().enumerate() {
            let requests = nodes.get(*source).map_or(0, |n: &NodeReport| n.arrivals);
            let mut per_node = std::collections::BTreeMap::new();
            for (name, &e) in &index.nodes {
                let attempts = world.get::<NodeStats>(e).and_then(|s| s.by_origin.get(i).copied()).unwrap_or(0);
                if attempts > 0 && requests > 0 {
                    per_node.insert(name.clone(), attempts as f64 / requests as f64);
                }
            }
            if !per_node.is_empty() {
                amplification.insert((*source).clone(), per_node);
            }
        }
        Report {
            scenario: self.scenario.title.clone(),
            seed: self.seed,
            sim_time_s: nanos_to_secs(k.now),
            warmup_s: nanos_to_secs(k.warmup),
            events: k.events,
            wall_s: self.wall.as_secs_f64(),
            nodes,
            links,
            amplification,
            timeline: k
                .timeline
                .applied_entries()
                .iter()
                .map(|e| AppliedChange {
                    at_s: nanos_to_secs(e.at),
                    set: format!("{} = {}", e.path, e.value),
                    origin: e.origin,
                })
                .collect(),
            incidents: k
                .log
                .iter()
                .filter(|e| e.event.is_incident())
                .map(|e| Incident { at_s: nanos_to_secs(e.at), node: e.subject.clone(), what: e.event.clone() })
                .collect(),
            recovery: crate::experiment::run::source_verdicts(self),
            errors: k.errors.clone(),
            stopped: k.limits.stopped.as_ref().map(ToString::to_string),
        }
    }
}

/// Copies live values (by relative path) into a node's spec through the same registry.
fn write_back(node: &mut crate::scenario::schema::NodeSpec, values: &std::collections::BTreeMap<String, Value>) {
    use crate::params::{Finder, Params};
    use crate::scenario::schema::NodeSpec;
    // A distribution's `kind` replaces its variant (and resets the shape fields), so kinds go
    // first and the live shape values land on the live variant.
    let is_kind = |path: &str| path == "kind" || path.ends_with(".kind");
    let ordered: Vec<_> =
        values.iter().filter(|(p, _)| is_kind(p)).chain(values.iter().filter(|(p, _)| !is_kind(p))).collect();
    let set = |p: &mut dyn Params, prefix: &str| {
        for &(path, value) in &ordered {
            let Some(rest) = path.strip_prefix(prefix) else { continue };
            let mut f = Finder::new(rest, |field| {
                let _ = field.set(value);
            });
            p.visit(&mut f);
        }
    };
    match node {
        NodeSpec::Source(s) => {
            set(s, "");
            let mut policy = s.policy();
            set(&mut policy, "");
            s.set_policy(policy);
        }
        NodeSpec::Service(s) => {
            set(s, "");
            for call in &mut s.calls {
                let mut policy = call.policy();
                set(&mut policy, &format!("calls.{}.", call.to));
                call.set_policy(policy);
            }
        }
    }
}
