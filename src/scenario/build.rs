//! Spawns a validated scenario into a Bevy world: one entity per node, one per edge.
//!
//! Nodes are spawned in name order (the scenario's `BTreeMap`), so entity ids, calendar
//! sequence numbers and therefore results do not depend on anything but the scenario text.
//! Each component gets its own random streams, named (seed, node or edge name, purpose).

use bevy::ecs::entity::Entity;
use bevy::ecs::system::SystemState;
use bevy::ecs::world::World;

use super::schema::{NodeSpec, Scenario};
use super::{Diagnostic, ScenarioError, parse_timeline_entry};
use crate::edge::{EdgePolicy, Link};
use crate::engine::kernel::{ClassInfo, Kernel, NetParam, NodeIndex, RunRequest};
use crate::engine::rng::stream;
use crate::engine::time::secs_to_nanos;
use crate::metrics::stats::NodeStats;
use crate::model::service::Service;
use crate::model::source::Source;
use crate::station::Station;
use crate::station::queue::WaitQueue;

/// The engine's classes: the scenario's (or one named `default`), with tenants and endpoints
/// interned in class order (a class without one is its own).
fn class_infos(scn: &Scenario) -> Vec<ClassInfo> {
    if scn.classes.is_empty() {
        let criticality = Default::default();
        return vec![ClassInfo {
            name: "default".into(),
            weight: 1.0,
            priority: 0,
            criticality,
            tenant_name: "default".into(),
            named_tenant: false,
            tenant: 0,
            endpoint: 0,
        }];
    }
    let intern = |names: &mut Vec<String>, name: &str| -> u32 {
        let id = names.iter().position(|n| n == name).unwrap_or_else(|| {
            names.push(name.to_string());
            names.len() - 1
        });
        id as u32
    };
    let (mut tenants, mut endpoints) = (Vec::new(), Vec::new());
    scn.classes
        .iter()
        .map(|c| ClassInfo {
            name: c.name.clone(),
            weight: c.weight,
            priority: c.priority,
            criticality: c.criticality,
            tenant_name: c.tenant.clone().unwrap_or_else(|| c.name.clone()),
            named_tenant: c.tenant.is_some(),
            tenant: intern(&mut tenants, c.tenant.as_deref().unwrap_or(&c.name)),
            endpoint: intern(&mut endpoints, c.endpoint.as_deref().unwrap_or(&c.name)),
        })
        .collect()
}

/// Marks a node entity and keeps its name.
#[derive(bevy::ecs::component::Component, Debug, Clone)]
pub struct NodeName(pub String);

/// Spawns `scn` (already validated) with master `seed`, and with `start` schedules the first
/// events (without, the model is only checked: `sluice check` allocates no client or request).
///
/// Timeline entries whose path or value does not fit the model are returned as errors located
/// at `timeline.N` by the caller.
pub fn spawn_scenario(world: &mut World, scn: &Scenario, seed: u64, start: bool) -> Result<(), Vec<(usize, String)>> {
    let classes = class_infos(scn);
    let sample_every = secs_to_nanos(scn.sample_every).max(1);
    let warmup = secs_to_nanos(scn.warmup);
    let mut index = NodeIndex::default();
    for name in scn.nodes.keys() {
        let e = world.spawn(NodeName(name.clone())).id();
        index.nodes.insert(name.clone(), e);
    }
    let nodes = index.nodes.clone();
    let node = |name: &str| nodes[name];
    let new_link = |from: &str, to: &str, policy: EdgePolicy| -> Link {
        let name = format!("{from}->{to}");
        let streams = ["jitter", "throttle", "network", "limit"].map(|purpose| stream(seed, &name, purpose));
        Link::new(name, nodes[from], nodes[to], policy, streams)
    };
    // Where any edge propagates deadlines, every service checks them (a routed request carries
    // its deadline on to the next node).
    let deadlines = scn.nodes.values().any(|n| match n {
        NodeSpec::Source(s) => s.propagate_deadline,
        NodeSpec::Service(s) => s.calls.iter().any(|c| c.propagate_deadline),
    });
    // Sources by index in name order, for the calls' `origin_source` (at most 255 are told
    // apart; the rest share the last index).
    let source_names: Vec<&String> =
        scn.nodes.iter().filter(|(_, n)| matches!(n, NodeSpec::Source(_))).map(|(k, _)| k).collect();
    let source_index = |name: &str| source_names.iter().position(|n| *n == name).unwrap_or(0).min(254) as u8;
    // Where any edge retries, every service remembers what it started (duplicate executions).
    let retries = scn.nodes.values().any(|n| match n {
        NodeSpec::Source(s) => s.retry.max_attempts > 1,
        NodeSpec::Service(s) => s.calls.iter().any(|c| c.retry.max_attempts > 1),
    });
    let total_weight: f64 = classes.iter().map(|c| c.weight).sum();
    let mut acc = 0.0;
    let class_cumulative: Vec<f64> = classes
        .iter()
        .map(|c| {
            acc += c.weight / total_weight;
            acc
        })
        .collect();
    for (name, spec) in &scn.nodes {
        let entity = node(name);
        let mut stats = NodeStats::new(classes.len(), sample_every);
        match spec {
            NodeSpec::Source(s) => {
                // A source's one edge lives on the source's entity (see `SourceQuery`).
                let link = new_link(name, &s.to, s.policy());
                index.links.insert(link.name.clone(), entity);
                let pinned_class =
                    s.class.as_ref().and_then(|c| classes.iter().position(|k| &k.name == c)).map(|i| i as u8);
                world.entity_mut(entity).insert((
                    Source {
                        name: name.clone(),
                        spec: s.clone(),
                        index: source_index(name),
                        generation: 0,
                        on: false,
                        phases_running: false,
                        phase_generation: 0,
                        clients: 0,
                        retiring: 0,
                        class_cumulative: class_cumulative.clone(),
                        pinned_class,
                        rng_arrivals: stream(seed, name, "arrivals"),
                        rng_class: stream(seed, name, "class"),
                        rng_think: stream(seed, name, "think"),
                        rng_phase: stream(seed, name, "phase"),
                    },
                    stats,
                    link,
                ));
            }
            NodeSpec::Service(s) => {
                let links = s
                    .calls
                    .iter()
                    .map(|c| {
                        let link = new_link(name, &c.to, c.policy());
                        let (name, e) = (link.name.clone(), world.spawn(link).id());
                        index.links.insert(name, e);
                        e
                    })
                    .collect();
                let mut cum = 0.0;
                let routes = s
                    .routes
                    .iter()
                    .map(|r| {
                        cum += r.p;
                        (cum, node(&r.to))
                    })
                    .collect();
                stats.workers.set(0, warmup, u64::from(s.workers));
                stats.by_origin = vec![0; source_names.len().min(255)];
                world.entity_mut(entity).insert((
                    Service {
                        name: name.clone(),
                        spec: s.clone(),
                        queue: WaitQueue::default(),
                        blocked: Default::default(),
                        busy: 0,
                        held: 0,
                        inside: 0,
                        links,
                        routes,
                        alive: s.up,
                        full: false,
                        rng_service: stream(seed, name, "service"),
                        rng_error: stream(seed, name, "error"),
                        rng_route: stream(seed, name, "route"),
                        station: Station::new(s, &classes, stream(seed, name, "control")),
                        gated: !Station::transparent(s) || deadlines || retries,
                        deadline_aware: deadlines,
                        tracks_executions: retries,
                        node: entity,
                        control_due: crate::model::control::NEVER,
                        control_generation: 0,
                    },
                    stats,
                ));
            }
        }
    }
    let mut kernel = Kernel::new(seed, warmup, secs_to_nanos(scn.duration), sample_every, classes);
    if let Some(n) = scn.max_population {
        kernel.limits.max_population = n.max(1);
    }
    world.insert_resource(kernel);
    world.insert_resource(index.clone());
    world.insert_resource(RunRequest { until: 0, max_events: None });
    // Check every timeline entry against the live parameter tree before anything runs, in file
    // order (so each error keeps its line), and schedule the good ones.
    let mut state = SystemState::<NetParam>::new(world);
    let Ok(mut param) = state.get_mut(world) else {
        return Err(vec![(0, "internal error: the simulation resources are missing".into())]);
    };
    let mut net = param.net();
    let mut errors = Vec::new();
    for (i, line) in scn.timeline.iter().enumerate() {
        match parse_timeline_entry(line) {
            Ok(entry) => match net.check_param(&entry.path, &entry.value) {
                Ok(()) => net.k.timeline.insert(entry),
                Err(e) => errors.push((i, e)),
            },
            Err(e) => errors.push((i, e)),
        }
    }
    if start {
        let sources: Vec<Entity> = index.nodes.values().copied().filter(|e| net.sources.contains(*e)).collect();
        for s in sources {
            net.start_source(s);
        }
        // Controllers with their own clock (adaptive rate, autoscaler) start ticking.
        let services: Vec<Entity> = index.nodes.values().copied().filter(|e| net.services.contains(*e)).collect();
        for s in services {
            net.arm_control(s);
        }
    }
    state.apply(world);
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// Converts timeline errors from [`spawn_scenario`] into located diagnostics.
pub fn timeline_errors(file: &str, text: &str, errors: Vec<(usize, String)>) -> ScenarioError {
    let spans = super::spans::SpanIndex::scan(text);
    ScenarioError {
        diagnostics: errors
            .into_iter()
            .map(|(i, message)| {
                let (line, col) = spans.find(&format!("timeline.{i}"));
                Diagnostic { file: file.to_string(), line, col, message }
            })
            .collect(),
    }
}
