//! The run report: the JSON that outside tools read, and the human table.
//!
//! Key names are a stable interface (see DESIGN.md, "Interfaces that outside tools rely on").
//! Maps are `BTreeMap`s so the key order is fixed; `wall_s` is the only field that depends on
//! the machine, and determinism tests compare reports without it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::histogram::LatencyHistogram;
use super::stats::{ClassStats, Counters, NodeStats, Rejections, Totals};
use crate::edge::{Link, LinkStats};
use crate::engine::time::{Nanos, nanos_to_secs};

/// Latency summary, seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
}

/// Queueing delay summary, seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Wait {
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
}

/// Workers held by blocked forwards (`Block` overflow at the next node).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Blocked {
    /// Forwards that held a worker here while blocked.
    pub count: u64,
    pub mean_s: f64,
    pub p99_s: f64,
    /// Share of this node's worker time spent held (time-averaged held workers / workers).
    pub fraction: f64,
}

/// Totals of one class at one node.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassReport {
    #[serde(flatten)]
    pub totals: Totals,
    pub latency_s: Latency,
    /// Queueing delay of this class's requests that entered service.
    pub wait_s: Wait,
    /// Refusals of this class by reason (a noisy tenant's 429s, a sheddable class's sheds).
    pub rejected_by: Rejections,
}

/// Everything measured at one node.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeReport {
    /// `source` or `service`.
    pub kind: &'static str,
    #[serde(flatten)]
    pub totals: Totals,
    /// Counted requests still inside at the end (closes the conservation equation).
    pub in_system: u64,
    pub abandoned: u64,
    pub cancelled: u64,
    /// Requests served the degraded response (also counted in `completed` when they succeed).
    pub degraded: u64,
    pub rejected_by: Rejections,
    /// Completions per second over the measured span.
    pub throughput_per_s: f64,
    /// Successes within their deadline per second: completions minus those past the deadline
    /// their origin set, propagated to this node or not (a completion after the caller gave up
    /// is already `timed_out`, never `completed`).
    pub goodput_per_s: f64,
    /// Of `completed`, those past the deadline the request's origin set.
    pub late: u64,
    /// Work dropped because its propagated deadline had passed (before it started or before a
    /// downstream call); those whose caller still waited are also `rejected_by.deadline_expired`.
    pub deadline_dropped: u64,
    /// Executions of a logical request this node had already started, and repeated requests an
    /// idempotency key answered from the stored result instead.
    pub duplicates: u64,
    pub replayed: u64,
    pub utilization: f64,
    pub busy_mean: f64,
    pub queue_len_mean: f64,
    pub queue_len_max: u64,
    pub in_system_mean: f64,
    pub latency_s: Latency,
    pub wait_s: Wait,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub classes: BTreeMap<String, ClassReport>,
    /// The same per tenant, summed over its classes (when some class names a `tenant`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tenants: BTreeMap<String, ClassReport>,
    /// Time this node's workers spent held by forwards blocked at the next node (absent when
    /// that never happened). That time is booked here and nowhere else: the blocked request's
    /// latency and wait at the next node start when it gets a place there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Blocked>,
    /// What the node's admission controllers did (absent when it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policies: Option<crate::station::StationReport>,
}

/// Totals of one edge: its counters as the engine keeps them, and its breaker.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinkReport {
    #[serde(flatten)]
    pub stats: LinkStats,
    /// Attempts per logical request on this edge (1 without retries).
    pub attempts_per_request: f64,
    pub breaker_state: &'static str,
    pub breaker_opened: u32,
}

/// One applied timeline entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AppliedChange {
    pub at_s: f64,
    pub set: String,
    pub origin: crate::engine::kernel::EntryOrigin,
}

/// One entry of the report's `incidents`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Incident {
    pub at_s: f64,
    /// The node or edge (`from->to`) it happened at.
    pub node: String,
    pub what: crate::engine::log::LogEvent,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub sim_time_s: f64,
    pub warmup_s: f64,
    pub events: u64,
    pub wall_s: f64,
    pub nodes: BTreeMap<String, NodeReport>,
    pub links: BTreeMap<String, LinkReport>,
    /// Retry amplification along the whole call chain: for each source, the attempts that
    /// arrived at each service on behalf of its logical requests, per logical request ("3 layers
    /// × 3 attempts = 27× at the database" in one number). Services its requests never reached
    /// are left out.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub amplification: BTreeMap<String, BTreeMap<String, f64>>,
    pub timeline: Vec<AppliedChange>,
    /// What happened to the nodes over the run, in time order: crashes and restarts, OOM kills,
    /// the autoscaler's decisions and workers becoming ready, breaker transitions (the engine's
    /// log without parameter changes and queue-full or shedding episodes; the most recent
    /// entries if the log outgrew its cap).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<Incident>,
    /// For each source, whether it came back from the scenario's trigger (its first timeline
    /// entry with a duration) and the regimes over time (stable, overloaded, recovering,
    /// stuck); absent without such an entry (`crate::experiment::recovery`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub recovery: BTreeMap<String, crate::experiment::recovery::Verdict>,
    /// Timeline entries that could not be applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Why the run stopped before its horizon (a run limit), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

fn q(h: &Histogram<u64>, p: f64) -> f64 {
    if h.is_empty() { 0.0 } else { nanos_to_secs(h.value_at_quantile(p)) }
}

fn mean(sum: u128, n: u64) -> f64 {
    if n == 0 { 0.0 } else { sum as f64 / n as f64 / 1e9 }
}

fn latency(h: &LatencyHistogram, sum: u128, n: u64) -> Latency {
    // Quantiles come from `hdrhistogram` (see `metrics::histogram`).
    let h = &h.to_hdr();
    Latency { mean: mean(sum, n), p50: q(h, 0.5), p95: q(h, 0.95), p99: q(h, 0.99), p999: q(h, 0.999) }
}

/// The seven totals are reached as fields (`report.nodes["api"].completed`).
impl std::ops::Deref for NodeReport {
    type Target = Totals;
    fn deref(&self) -> &Totals {
        &self.totals
    }
}

impl std::ops::Deref for ClassReport {
    type Target = Totals;
    fn deref(&self) -> &Totals {
        &self.totals
    }
}

impl ClassReport {
    /// The report of one class's (or one tenant's) statistics at a node.
    pub fn new(k: &ClassStats) -> Self {
        let kc = k.counters;
        ClassReport {
            totals: kc.totals,
            latency_s: latency(&k.latency, k.latency_sum, kc.completed),
            wait_s: wait(&k.wait, k.wait_sum),
            rejected_by: kc.rejected_by,
        }
    }
}

/// Queueing delay summary of `hist` (whose values add up to `sum`).
fn wait(hist: &LatencyHistogram, sum: u128) -> Wait {
    let h = hist.to_hdr();
    Wait { mean: mean(sum, hist.len()), p50: q(&h, 0.5), p99: q(&h, 0.99) }
}

impl NodeReport {
    /// Summarises `stats` at time `now` (measured span: warm-up to `now`).
    /// `tenants` groups class indices by tenant; empty when every class is its own tenant.
    pub fn new(
        kind: &'static str,
        stats: &NodeStats,
        now: Nanos,
        warmup: Nanos,
        class_names: &[String],
        tenants: &[(String, Vec<usize>)],
    ) -> Self {
        let c: Counters = stats.counters;
        let span = nanos_to_secs(now.saturating_sub(warmup));
        let workers = stats.workers.mean_until(now, warmup);
        let busy = stats.busy.mean_until(now, warmup);
        let classes = if class_names.len() > 1 {
            class_names.iter().zip(&stats.classes).map(|(name, k)| (name.clone(), ClassReport::new(k))).collect()
        } else {
            BTreeMap::new()
        };
        let tenants = tenants
            .iter()
            .map(|(tenant, members)| {
                let mut merged = ClassStats::default();
                for k in members.iter().filter_map(|&i| stats.classes.get(i)) {
                    merged.merge(k);
                }
                (tenant.clone(), ClassReport::new(&merged))
            })
            .collect();
        Self {
            kind,
            totals: c.totals,
            in_system: stats.in_system,
            abandoned: c.abandoned,
            cancelled: c.cancelled,
            degraded: c.degraded,
            rejected_by: c.rejected_by,
            throughput_per_s: if span > 0.0 { c.completed as f64 / span } else { 0.0 },
            goodput_per_s: if span > 0.0 { (c.completed - c.late) as f64 / span } else { 0.0 },
            late: c.late,
            deadline_dropped: c.deadline_dropped,
            duplicates: c.duplicates,
            replayed: c.replayed,
            utilization: if workers > 0.0 { busy / workers } else { 0.0 },
            busy_mean: busy,
            queue_len_mean: stats.queue_len.mean_until(now, warmup),
            queue_len_max: stats.queue_len.max,
            in_system_mean: stats.inside.mean_until(now, warmup),
            latency_s: latency(&stats.latency, stats.latency_sum, c.completed),
            wait_s: wait(&stats.wait, stats.wait_sum),
            classes,
            tenants,
            blocked: (!stats.blocked.is_empty()).then(|| {
                let held = stats.blocked.to_hdr();
                Blocked {
                    count: stats.blocked.len(),
                    mean_s: mean(stats.blocked_sum, stats.blocked.len()),
                    p99_s: q(&held, 0.99),
                    fraction: if workers > 0.0 { stats.held.mean_until(now, warmup) / workers } else { 0.0 },
                }
            }),
            policies: None,
        }
    }
}

impl LinkReport {
    pub fn new(link: &Link) -> Self {
        let requests = link.stats.attempts.saturating_sub(link.stats.retries);
        Self {
            attempts_per_request: if requests > 0 { link.stats.attempts as f64 / requests as f64 } else { 0.0 },
            stats: link.stats.clone(),
            breaker_state: if link.policy.breaker.enabled { link.breaker.state.name() } else { "disabled" },
            breaker_opened: link.breaker.times_opened,
        }
    }
}

impl Report {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The report as JSON with the machine-dependent `wall_s` removed (for comparisons).
    pub fn to_json_without_wall(&self) -> String {
        Report { wall_s: 0.0, ..self.clone() }.to_json()
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}  seed {}  sim {:.1} s (warm-up {:.1} s)  {} events  wall {:.3} s",
            self.scenario, self.seed, self.sim_time_s, self.warmup_s, self.events, self.wall_s
        );
        let _ = writeln!(
            out,
            "{:<12} {:>9} {:>9} {:>7} {:>8} {:>7} {:>8} {:>7} {:>9} {:>5} {:>8} {:>9} {:>9} {:>9}",
            "node",
            "arrivals",
            "ok",
            "errors",
            "rejected",
            "dropped",
            "timedout",
            "retries",
            "ok/s",
            "util",
            "queue",
            "p50 s",
            "p99 s",
            "wait s"
        );
        for (name, n) in &self.nodes {
            let _ = writeln!(
                out,
                "{:<12} {:>9} {:>9} {:>7} {:>8} {:>7} {:>8} {:>7} {:>9.2} {:>5.2} {:>8.2} {:>9.4} {:>9.4} {:>9.4}",
                name,
                n.arrivals,
                n.completed,
                n.errors,
                n.rejected,
                n.dropped,
                n.timed_out,
                n.retries,
                n.throughput_per_s,
                n.utilization,
                n.queue_len_mean,
                n.latency_s.p50,
                n.latency_s.p99,
                n.wait_s.mean
            );
        }
        if !self.links.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<20} {:>9} {:>7} {:>9} {:>9} {:>9} {:>10} {:>8}",
                "edge", "attempts", "retries", "timeouts", "refused", "breaker", "state", "opened"
            );
            for (name, l) in &self.links {
                let _ = writeln!(
                    out,
                    "{:<20} {:>9} {:>7} {:>9} {:>9} {:>9} {:>10} {:>8}",
                    name,
                    l.stats.attempts,
                    l.stats.retries,
                    l.stats.timeouts,
                    l.stats.rejected,
                    l.stats.breaker_rejected,
                    l.breaker_state,
                    l.breaker_opened
                );
            }
        }
        for e in &self.errors {
            let _ = writeln!(out, "timeline error: {e}");
        }
        if let Some(s) = &self.stopped {
            let _ = writeln!(out, "{s}");
        }
        out
    }
}
