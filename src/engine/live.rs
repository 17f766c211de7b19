//! A generic description of each node's live state, for renderers: [`Sim::live`] lists a node's
//! gauges, counts, rates and states as [`LiveField`]s, and [`Sim::faults`] the faults and
//! scripted changes in force at it.
//!
//! The canvas draws whatever fields come (gauges as bars, states as badges, counts and rates as
//! text), so a policy added to the engine (a rate limiter's tokens, an adaptive limit, an
//! autoscaler's replicas) shows on the cards by adding a field here, with no drawing code.

use crate::edge::Link;
use crate::edge::breaker::BreakerState;
use crate::engine::Sim;
use crate::engine::kernel::{EntryOrigin, Kernel, NodeIndex};
use crate::engine::time::nanos_to_secs;
use crate::metrics::stats::NodeStats;
use crate::model::service::Service;
use crate::model::source::Source;
use crate::scenario::schema::{Arrivals, NodeSpec};
use crate::station::Reading;

/// One piece of a node's live state.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveField {
    /// Stable identifier of the kind of field (`queue`, `workers`, `breaker`…), for code that
    /// wants one in particular (health, tests); drawing never needs it.
    pub key: &'static str,
    /// What a person reads next to the value (`queue`, `->db breaker`).
    pub label: String,
    /// The callee, for fields that belong to an outgoing edge.
    pub edge: Option<String>,
    pub value: LiveValue,
}

/// The shape of a live value, which decides how it is drawn.
#[derive(Clone, Debug, PartialEq)]
pub enum LiveValue {
    /// A level with an optional ceiling (a bar when bounded).
    Gauge { value: f64, max: Option<f64> },
    /// A running total.
    Count(u64),
    /// Per second, over the last sample interval.
    Rate(f64),
    /// A named state with a severity: 0 normal, 1 warning, 2 bad.
    State { name: &'static str, level: u8 },
}

/// What kind of fault or scripted change is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Service times multiplied by `factor`.
    Slowdown,
    /// The node is crashed.
    Down,
    /// A source's rate is `factor` × its scenario rate.
    Rate,
    /// The edge to `edge` is cut.
    Cut,
}

/// A fault or scripted change in force at a node now.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub kind: FaultKind,
    /// Slowdown or rate factor (1 for the others).
    pub factor: f64,
    /// The callee of a cut edge.
    pub edge: Option<String>,
    /// Seconds until the timeline undoes it, if it was set for a while.
    pub remaining: Option<f64>,
    /// Who made it: the scenario's script or the user (None: it was in the scenario's file).
    pub origin: Option<EntryOrigin>,
}

impl Fault {
    /// Short text for a card: "×6 slower for 80 s more", "DOWN for 12 s more", "spike ×2".
    pub fn text(&self) -> String {
        let what = match self.kind {
            FaultKind::Slowdown => format!("×{} slower", short(self.factor)),
            FaultKind::Down => "DOWN".to_string(),
            FaultKind::Rate if self.factor > 1.0 => format!("spike ×{}", short(self.factor)),
            FaultKind::Rate => format!("rate ×{}", short(self.factor)),
            FaultKind::Cut => format!("cut ->{}", self.edge.as_deref().unwrap_or("?")),
        };
        match self.remaining {
            Some(r) => format!("{what} for {} s more", r.ceil().max(0.0)),
            None => what,
        }
    }
}

/// A node's policy readings in the order its series points keep them: its admission
/// controllers' (a service's), then each outgoing edge's, labelled with the callee.
pub(crate) fn node_readings(service: Option<&Service>, links: &[&Link], index: &NodeIndex, now: u64) -> Vec<Reading> {
    let mut out = match service {
        Some(s) if s.gated => s.station.readings(&s.spec, now, s.gauges()),
        _ => Vec::new(),
    };
    for link in links {
        let readings = link.readings(now);
        if readings.is_empty() {
            continue;
        }
        let to = index.name_of(link.to);
        out.extend(readings.into_iter().map(|r| match r {
            Reading::Gauge { key, label, value, max } => {
                Reading::Gauge { key, label: format!("->{to} {label}"), value, max }
            }
            Reading::State { key, label, name, level } => {
                Reading::State { key, label: format!("->{to} {label}"), name, level }
            }
        }));
    }
    out
}

/// A factor without trailing zeros (6, 2.5, 0.33).
fn short(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Sim {
    /// The node's live state as generic fields, in drawing order: gauges, states, then counts
    /// and rates. Empty for an unknown node.
    pub fn live(&self, node: &str) -> Vec<LiveField> {
        let world = self.world();
        let index = world.resource::<NodeIndex>();
        let Some(&e) = index.nodes.get(node) else { return Vec::new() };
        let field = |key, label: &str, value| LiveField { key, label: label.to_string(), edge: None, value };
        let mut out = Vec::new();
        let mut links: Vec<&Link> = Vec::new();
        if let Some(s) = world.get::<Service>(e) {
            let cap = s.spec.queue.capacity.map(f64::from);
            out.push(field("queue", "queue", LiveValue::Gauge { value: s.queue.len() as f64, max: cap }));
            let workers = f64::from(s.spec.workers);
            out.push(field("workers", "busy", LiveValue::Gauge { value: f64::from(s.busy), max: Some(workers) }));
            if !s.alive {
                out.push(field("up", "node", LiveValue::State { name: "DOWN", level: 2 }));
            }
            let now = world.resource::<Kernel>().now;
            for reading in s.station.readings(&s.spec, now, s.gauges()) {
                out.push(match reading {
                    Reading::Gauge { key, label, value, max } => field(key, &label, LiveValue::Gauge { value, max }),
                    Reading::State { key, label, name, level } => field(key, &label, LiveValue::State { name, level }),
                });
            }
            links.extend(s.links.iter().filter_map(|l| world.get::<Link>(*l)));
        } else if let Some(src) = world.get::<Source>(e) {
            if matches!(src.spec.arrivals, Arrivals::OnOff { .. }) {
                let (name, level) = if src.on { ("on", 0) } else { ("off", 0) };
                out.push(field("phase", "phase", LiveValue::State { name, level }));
            }
            links.extend(world.get::<Link>(e));
        }
        for link in &links {
            if link.policy.breaker.enabled {
                let state = link.breaker.state;
                let level = state.level() as u8;
                let name = match state {
                    BreakerState::Closed => "closed",
                    BreakerState::HalfOpen => "half-open",
                    BreakerState::Open => "open",
                };
                let to = index.name_of(link.to).to_string();
                out.push(LiveField {
                    key: "breaker",
                    label: format!("->{to}"),
                    edge: Some(to),
                    value: LiveValue::State { name, level },
                });
            }
            let now = world.resource::<Kernel>().now;
            let to = index.name_of(link.to).to_string();
            for reading in link.readings(now) {
                let (key, label) = reading.names();
                let value = match reading {
                    Reading::Gauge { value, max, .. } => LiveValue::Gauge { value, max },
                    Reading::State { name, level, .. } => LiveValue::State { name, level },
                };
                out.push(LiveField { key, label: format!("->{to} {label}"), edge: Some(to.clone()), value });
            }
        }
        if let Some(s) = world.get::<Service>(e) {
            out.push(field("inside", "inside", LiveValue::Count(u64::from(s.inside))));
        }
        for link in &links {
            let to = index.name_of(link.to).to_string();
            out.push(LiveField {
                key: "in_flight",
                label: format!("->{to} in flight"),
                edge: Some(to.clone()),
                value: LiveValue::Count(link.stats.in_flight),
            });
            // What the edge's layers did, once they have done something.
            let st = &link.stats;
            for (key, what, n) in [
                ("hedges", "hedges", st.hedges),
                ("lost", "lost", st.lost),
                ("retry_budget_exhausted", "retries refused", st.retry_budget_exhausted),
                ("throttled", "throttled", st.throttled),
                ("deadline_exceeded", "past deadline", st.deadline_exceeded),
            ] {
                if n > 0 {
                    let (label, edge) = (format!("->{to} {what}"), Some(to.clone()));
                    out.push(LiveField { key, label, edge, value: LiveValue::Count(n) });
                }
            }
        }
        // Rates over the last sample interval, as the plots show them.
        let last = self.series(node).last().copied().unwrap_or_default();
        let per_s = |n: u64| if last.span > 0.0 { n as f64 / last.span } else { 0.0 };
        out.push(field("ok_rate", "ok/s", LiveValue::Rate(per_s(last.completed))));
        out.push(field("refused_rate", "refused/s", LiveValue::Rate(per_s(last.rejected + last.dropped))));
        out.push(field("timeout_rate", "timeouts/s", LiveValue::Rate(per_s(last.timed_out))));
        out.push(field("error_rate", "errors/s", LiveValue::Rate(per_s(last.errors))));
        if last.retries > 0 {
            out.push(field("retry_rate", "retries/s", LiveValue::Rate(per_s(last.retries))));
        }
        if let Some(stats) = world.get::<NodeStats>(e) {
            // Work finished after its caller gave up: busy workers producing nothing of use.
            out.push(field("abandoned", "abandoned", LiveValue::Count(stats.counters.abandoned)));
            let c = &stats.counters;
            for (key, label, n) in [
                ("duplicates", "duplicates", c.duplicates),
                ("replayed", "replayed", c.replayed),
                ("deadline_dropped", "expired dropped", c.deadline_dropped),
                ("late", "late", c.late),
            ] {
                if n > 0 {
                    out.push(field(key, label, LiveValue::Count(n)));
                }
            }
        }
        out
    }

    /// The names of `node`'s policy readings, `(key, label)`, in the order its series points keep
    /// them ([`crate::metrics::series::Point::readings`]): what the policies plot draws. Empty
    /// for a node without admission controllers.
    pub fn reading_names(&self, node: &str) -> Vec<(&'static str, String)> {
        let world = self.world();
        let index = world.resource::<NodeIndex>();
        let Some(&e) = index.nodes.get(node) else { return Vec::new() };
        let now = world.resource::<Kernel>().now;
        let service = world.get::<Service>(e);
        let links: Vec<&Link> = match service {
            Some(s) => s.links.iter().filter_map(|l| world.get::<Link>(*l)).collect(),
            None => world.get::<Link>(e).into_iter().collect(),
        };
        node_readings(service, &links, index, now).iter().map(Reading::names).collect()
    }

    /// The policy reading of `node` labelled `label` (as [`Sim::reading_names`] lists it, e.g.
    /// `limit`, `memory MB`, `->db limit`) over the run: `(t, value)` for each series point that
    /// has it. Empty if the node has no such reading.
    pub fn reading_series(&self, node: &str, label: &str) -> Vec<(f64, f64)> {
        let Some(i) = self.reading_names(node).iter().position(|(_, l)| l == label) else { return Vec::new() };
        self.series(node).iter().filter_map(|p| p.readings.get(i).map(|v| (p.t, v))).collect()
    }

    /// Faults and scripted changes in force at `node` now: a slowdown, a crash, a source's rate
    /// away from its scenario value, cut edges; each with the time left until the timeline
    /// undoes it.
    pub fn faults(&self, node: &str) -> Vec<Fault> {
        let world = self.world();
        let index = world.resource::<NodeIndex>();
        let Some(&e) = index.nodes.get(node) else { return Vec::new() };
        let kernel = world.resource::<Kernel>();
        // The applied entry that made `path` what it is now, and when it ends.
        let applied = &kernel.timeline.entries()[..kernel.timeline.applied()];
        let cause = |path: &str| -> (Option<f64>, Option<EntryOrigin>) {
            match applied.iter().rev().find(|t| t.path == path) {
                Some(t) if t.origin != EntryOrigin::Revert => {
                    let remaining = t.duration.map(|d| nanos_to_secs((t.at + d).saturating_sub(kernel.now)));
                    (remaining, Some(t.origin))
                }
                _ => (None, None),
            }
        };
        let fault = |kind, factor, edge, path: &str| {
            let (remaining, origin) = cause(path);
            Fault { kind, factor, edge, remaining, origin }
        };
        let mut out = Vec::new();
        if let Some(s) = world.get::<Service>(e) {
            if !s.spec.up {
                out.push(fault(FaultKind::Down, 1.0, None, &format!("{node}.up")));
            }
            if s.spec.slowdown != 1.0 {
                out.push(fault(FaultKind::Slowdown, s.spec.slowdown, None, &format!("{node}.slowdown")));
            }
            for l in s.links.iter().filter_map(|l| world.get::<Link>(*l)).filter(|l| l.cut) {
                let to = index.name_of(l.to).to_string();
                let path = format!("{node}.calls.{to}.cut");
                out.push(fault(FaultKind::Cut, 1.0, Some(to), &path));
            }
        } else if let Some(src) = world.get::<Source>(e) {
            let base = match self.scenario().nodes.get(node) {
                Some(NodeSpec::Source(s)) => s.rate,
                _ => src.spec.rate,
            };
            if base > 0.0 && src.spec.rate != base {
                out.push(fault(FaultKind::Rate, src.spec.rate / base, None, &format!("{node}.rate")));
            }
            if let Some(l) = world.get::<Link>(e).filter(|l| l.cut) {
                out.push(fault(FaultKind::Cut, 1.0, Some(index.name_of(l.to).to_string()), &format!("{node}.cut")));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_tier() -> Sim {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/three-tier.ron");
        Sim::from_file(path, None).unwrap()
    }

    fn find<'a>(fields: &'a [LiveField], key: &str) -> &'a LiveField {
        fields.iter().find(|f| f.key == key).unwrap_or_else(|| panic!("no {key} in {fields:?}"))
    }

    #[test]
    fn a_service_lists_its_queue_workers_breakers_and_rates() {
        let mut sim = three_tier();
        sim.run_until(60.0);
        let api = sim.live("api");
        let view = sim.node("api").unwrap();
        assert_eq!(find(&api, "queue").value, LiveValue::Gauge { value: view.queue_len as f64, max: Some(64.0) });
        assert_eq!(find(&api, "workers").value, LiveValue::Gauge { value: f64::from(view.busy), max: Some(16.0) });
        let breaker = find(&api, "breaker");
        assert_eq!(
            (breaker.edge.as_deref(), &breaker.value),
            (Some("db"), &LiveValue::State { name: "closed", level: 0 })
        );
        let LiveValue::Rate(ok) = find(&api, "ok_rate").value else { panic!() };
        assert!((60.0..100.0).contains(&ok), "about 80 ok/s at api: {ok}");
        assert!(api.iter().all(|f| f.key != "up"), "a running node has no DOWN badge");
        // A source has no queue but shows its calls in flight.
        let clients = sim.live("clients");
        assert!(clients.iter().all(|f| f.key != "queue"));
        assert_eq!(find(&clients, "in_flight").edge.as_deref(), Some("api"));
        assert!(sim.live("nobody").is_empty());
    }

    #[test]
    fn an_open_breaker_and_a_crash_show_as_bad_states() {
        let mut sim = three_tier();
        sim.run_until(130.0);
        let breaker = find(&sim.live("api"), "breaker").value.clone();
        assert!(matches!(breaker, LiveValue::State { level: 1 | 2, .. }), "{breaker:?}");
        sim.set_for("db.up", "false", 10.0).unwrap();
        assert_eq!(find(&sim.live("db"), "up").value, LiveValue::State { name: "DOWN", level: 2 });
    }

    #[test]
    fn a_scripted_slowdown_is_in_force_with_the_time_it_has_left() {
        let mut sim = three_tier();
        sim.run_until(100.0);
        assert!(sim.faults("db").is_empty(), "nothing before the incident");
        sim.run_until(160.0);
        let faults = sim.faults("db");
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!(faults[0].kind, FaultKind::Slowdown);
        assert_eq!(faults[0].origin, Some(EntryOrigin::Scenario));
        assert_eq!(faults[0].text(), "×6 slower for 80 s more");
        sim.run_until(241.0);
        assert!(sim.faults("db").is_empty(), "undone at t = 240 s");
    }

    #[test]
    fn spikes_crashes_and_cuts_from_the_user_are_listed() {
        let mut sim = three_tier();
        sim.run_until(10.0);
        sim.set_for("clients.rate", "160", 20.0).unwrap();
        sim.set_for("db.up", "false", 12.0).unwrap();
        sim.set("api.calls.db.cut", "true").unwrap();
        sim.run_until(15.0);
        assert_eq!(sim.faults("clients")[0].text(), "spike ×2 for 15 s more");
        assert_eq!(sim.faults("db")[0].text(), "DOWN for 7 s more");
        let cut = &sim.faults("api")[0];
        assert_eq!((cut.text(), cut.origin), ("cut ->db".to_string(), Some(EntryOrigin::User)));
        sim.run_until(40.0);
        assert!(sim.faults("clients").is_empty() && sim.faults("db").is_empty());
    }
}
