//! The scenario file format: serde types exactly as written in RON.
//!
//! These structs are also the live configuration of the running model: components hold them,
//! [`crate::params`] edits them in place, and the GUI writes them back out as a tweaked scenario.
//! Durations are seconds (`f64`) here and converted to integer nanoseconds where the engine uses
//! them. Defaults follow the real components they model (Resilience4j for breakers, gRPC for
//! timeouts: none unless configured).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::choice_enum;
pub use crate::edge::Outcome;
pub use crate::edge::breaker::BreakerSpec;
pub use crate::edge::retry::{Jitter, RetrySpec};
use crate::edge_policy;
use crate::model::dist::Dist;
use crate::params::{Choice, Field, Params, Visitor};
use crate::station::adaptive_limit::AdaptiveLimitSpec;
use crate::station::adaptive_rate::AdaptiveRateSpec;
use crate::station::autoscale::AutoscaleSpec;
use crate::station::concurrency::ConcurrencySpec;
use crate::station::contention::ContentionSpec;
use crate::station::degrade::DegradeSpec;
use crate::station::entry_gate::EntryGateSpec;
use crate::station::idempotency::IdempotencySpec;
use crate::station::memory::MemorySpec;
pub use crate::station::overflow::Overflow;
pub use crate::station::queue::{Discipline, QueueSpec};
use crate::station::rate_limit::RateLimitSpec;
pub use crate::station::shed::Criticality;
use crate::station::shed::ShedSpec;

/// A whole scenario: metadata, run settings, nodes by name, and the timeline of scripted changes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// One line shown in the scenario picker.
    pub title: String,
    /// What the scenario demonstrates, shown in the teaching panel.
    #[serde(default)]
    pub description: String,
    /// "What to watch" notes for the teaching panel.
    #[serde(default)]
    pub watch: Vec<String>,
    /// Master seed of all random streams (overridden by `--seed`).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated seconds to run.
    pub duration: f64,
    /// Simulated seconds excluded from the statistics (jobs arriving earlier are not counted).
    #[serde(default)]
    pub warmup: f64,
    /// Step of the time series, in simulated seconds.
    #[serde(default = "default_sample_every")]
    pub sample_every: f64,
    /// Request classes; empty means one class named `default`.
    #[serde(default)]
    pub classes: Vec<ClassSpec>,
    /// The nodes, by name.
    pub nodes: BTreeMap<String, NodeSpec>,
    /// Scripted changes: `"at 60 set db.slowdown = 5"`, `"at 60 for 30 set api.up = false"`.
    #[serde(default)]
    pub timeline: Vec<String>,
    /// Population cap: the run stops (with its report so far) when more requests are alive at
    /// once; default 2 000 000 (`--max-population` overrides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_population: Option<u64>,
    /// Node positions on the GUI canvas (written back when nodes are dragged).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub layout: BTreeMap<String, (f32, f32)>,
}

fn default_seed() -> u64 {
    1
}
fn default_sample_every() -> f64 {
    1.0
}

/// A request class: traffic share among a source's requests and queue priority.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Class")]
pub struct ClassSpec {
    pub name: String,
    /// Relative share of generated requests (sources without a pinned `class`).
    #[serde(default = "one")]
    pub weight: f64,
    /// 0 is served first by `Priority` queues (Ciw's convention).
    #[serde(default)]
    pub priority: u8,
    /// How much its requests matter when a service sheds (default standard; SRE book).
    #[serde(default)]
    pub criticality: Criticality,
    /// The tenant (API key) its requests belong to, for per-tenant rate limits (default: the
    /// class's own name, so each class is its own tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The endpoint (route) its requests call, for per-endpoint rate limits (default: the
    /// class's own name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

fn one() -> f64 {
    1.0
}

/// A node: something that emits requests or serves them.
// A service's spec is larger than a source's (it carries every station controller); a scenario
// holds a handful, read once and never moved on a hot path, so boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum NodeSpec {
    Source(SourceSpec),
    Service(ServiceSpec),
}

edge_policy! {
/// Emits requests to one target, through its edge's policy layers (`crate::edge`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Source")]
pub struct SourceSpec {
    /// Mean requests per second for open-loop arrivals (scales a `Schedule`).
    #[serde(default = "one")]
    pub rate: f64,
    /// The arrival process.
    #[serde(default)]
    pub arrivals: Arrivals,
    /// Name of the node receiving the requests.
    pub to: String,
    /// Pin every request to this class (default: draw by class weight).
    #[serde(default)]
    pub class: Option<String>,
    /// Each request's deadline, seconds after it is created (gRPC: none by default): no attempt
    /// outlives it, and edges that propagate it tell the callee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<f64>,
}
}

/// How a source spaces its requests.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub enum Arrivals {
    /// Exponential inter-arrival times at `rate`.
    #[default]
    Poisson,
    /// Exactly one request every 1/`rate` seconds.
    Constant,
    /// Poisson at `rate` during exponential ON periods (mean `on` s), silent during OFF (mean `off` s).
    OnOff { on: f64, off: f64 },
    /// Poisson whose rate is `rate` × a piecewise multiplier: `points` are (time s, multiplier).
    Schedule {
        points: Vec<(f64, f64)>,
        #[serde(default)]
        shape: Shape,
    },
    /// `clients` users, each sending one request, waiting for the outcome, then thinking.
    Closed { clients: u32, think: Dist },
}

/// Interpolation between schedule points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    /// Hold each value until the next point (steps and spikes).
    #[default]
    Step,
    /// Straight lines between points (ramps).
    Linear,
}

choice_enum!(Shape { "step" => Shape::Step, "linear" => Shape::Linear });

/// A station: c workers in front of a bounded (or unbounded) queue, then optional downstream
/// calls and onward routing.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Service")]
pub struct ServiceSpec {
    #[serde(default = "one_u32")]
    pub workers: u32,
    #[serde(default)]
    pub queue: QueueSpec,
    /// Local work per request.
    pub service: Dist,
    /// Probability that the local work ends in an error.
    #[serde(default)]
    pub error_rate: f64,
    /// Multiplies every service time started from now on (a fault knob: `slowdown = 5`).
    #[serde(default = "one")]
    pub slowdown: f64,
    /// False = crashed: everything inside is lost and new arrivals are refused.
    #[serde(default = "yes")]
    pub up: bool,
    /// Synchronous downstream calls, made one after another by the worker after its local work.
    #[serde(default)]
    pub calls: Vec<CallSpec>,
    /// Probabilistic forwarding after completion (Jackson networks); the rest leaves.
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    // The admission controllers, in the order a request meets them (`crate::station`). Each is
    // off unless written in the file, and left out of exported files while off.
    /// A token-bucket rate limit (Envoy local rate limit): 429 with Retry-After over the rate.
    #[serde(default, skip_serializing_if = "RateLimitSpec::is_off")]
    pub rate_limit: RateLimitSpec,
    /// Admission on queue depth or response time at the entry (seed 003).
    #[serde(default, skip_serializing_if = "EntryGateSpec::is_off")]
    pub entry_gate: EntryGateSpec,
    /// Priority load shedding by class criticality (seed 001's `should_shed`).
    #[serde(default, skip_serializing_if = "ShedSpec::is_off")]
    pub shed: ShedSpec,
    /// A concurrency limit and per-class bulkheads (seed 001's middleware and pools).
    #[serde(default, skip_serializing_if = "ConcurrencySpec::is_off")]
    pub concurrency: ConcurrencySpec,
    /// Graceful degradation: a cheaper response above a load threshold (seed 002).
    #[serde(default, skip_serializing_if = "DegradeSpec::is_off")]
    pub degrade: DegradeSpec,
    /// Idempotency keys: a repeated request is answered from its stored result.
    #[serde(default, skip_serializing_if = "IdempotencySpec::is_off")]
    pub idempotency: IdempotencySpec,
    /// Contention past a knee (the Universal Scalability Law's σ and κ).
    #[serde(default, skip_serializing_if = "ContentionSpec::is_off")]
    pub contention: ContentionSpec,
    /// An adaptive concurrency limit (Netflix AIMD, Vegas, Gradient2; Envoy's gradient).
    #[serde(default, skip_serializing_if = "AdaptiveLimitSpec::is_off")]
    pub adaptive_limit: AdaptiveLimitSpec,
    /// Seed 001's adaptive rate rule: a rate limit steered by a latency quantile against an SLO.
    #[serde(default, skip_serializing_if = "AdaptiveRateSpec::is_off")]
    pub adaptive_rate: AdaptiveRateSpec,
    /// An autoscaler of the workers (the Kubernetes HPA rule, with a provisioning delay).
    #[serde(default, skip_serializing_if = "AutoscaleSpec::is_off")]
    pub autoscale: AutoscaleSpec,
    /// Memory held by the requests inside, a limit, OOM kills and CrashLoopBackOff restarts.
    #[serde(default, skip_serializing_if = "MemorySpec::is_off")]
    pub memory: MemorySpec,
}

fn one_u32() -> u32 {
    1
}
fn yes() -> bool {
    true
}

edge_policy! {
/// A synchronous call from a service's worker to another node, through its edge's policy
/// layers (`crate::edge`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Call")]
pub struct CallSpec {
    pub to: String,
}
}

/// Forward a completed request to `to` with probability `p`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Route")]
pub struct RouteSpec {
    pub to: String,
    pub p: f64,
}

// ---- parameter listings (paths mirror the file) ----

impl Params for ServiceSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("workers", Field::Count(&mut self.workers, 0), "parallel workers (c)");
        v.group("queue", &mut self.queue);
        v.group("service", &mut self.service);
        v.field("error_rate", Field::Real(&mut self.error_rate, 0.0, 1.0), "probability that the local work fails");
        v.field("slowdown", Field::Real(&mut self.slowdown, 0.0, 1e6), "multiplies service times started from now on");
        v.field("up", Field::Flag(&mut self.up), "false = crashed: work inside is lost, arrivals refused");
        v.group("rate_limit", &mut self.rate_limit);
        v.group("entry_gate", &mut self.entry_gate);
        v.group("shed", &mut self.shed);
        v.group("concurrency", &mut self.concurrency);
        v.group("degrade", &mut self.degrade);
        v.group("idempotency", &mut self.idempotency);
        v.group("contention", &mut self.contention);
        v.group("adaptive_limit", &mut self.adaptive_limit);
        v.group("adaptive_rate", &mut self.adaptive_rate);
        v.group("autoscale", &mut self.autoscale);
        v.group("memory", &mut self.memory);
    }
}

impl Params for SourceSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field(
            "rate",
            Field::Real(&mut self.rate, 0.0, crate::engine::time::MAX_RATE),
            "requests per second (open loop; at most one per nanosecond)",
        );
        v.group("arrivals", &mut self.arrivals);
        v.field("deadline", Field::OptionalSeconds(&mut self.deadline), "each request's deadline after its creation");
    }
}

/// The open-loop arrival process as a choice (`clients.arrivals.kind = onoff`). A new kind
/// starts from neutral settings: a schedule of one point at ×1 (the same load as Poisson), on/off
/// periods of 10 s. A closed loop has no such field: its population is a different model.
struct OpenLoopKind<'a>(&'a mut Arrivals);

const OPEN_LOOP_KINDS: &[&str] = &["poisson", "constant", "onoff", "schedule"];

impl Choice for OpenLoopKind<'_> {
    fn names(&self) -> &'static [&'static str] {
        OPEN_LOOP_KINDS
    }
    fn current(&self) -> &'static str {
        match self.0 {
            Arrivals::Poisson => "poisson",
            Arrivals::Constant => "constant",
            Arrivals::OnOff { .. } => "onoff",
            Arrivals::Schedule { .. } => "schedule",
            Arrivals::Closed { .. } => "closed",
        }
    }
    fn select(&mut self, name: &str) -> bool {
        if name == self.current() {
            return true;
        }
        *self.0 = match name {
            "poisson" => Arrivals::Poisson,
            "constant" => Arrivals::Constant,
            "onoff" => Arrivals::OnOff { on: 10.0, off: 10.0 },
            "schedule" => Arrivals::Schedule { points: vec![(0.0, 1.0)], shape: Shape::Step },
            _ => return false,
        };
        true
    }
}

impl Params for Arrivals {
    fn visit(&mut self, v: &mut dyn Visitor) {
        if !matches!(self, Arrivals::Closed { .. }) {
            v.field("kind", Field::Choice(&mut OpenLoopKind(self)), "open-loop arrival process");
        }
        match self {
            Arrivals::Poisson | Arrivals::Constant => {}
            Arrivals::Schedule { points, shape } => {
                v.field("points", Field::Points(points), "(time s, rate multiplier) points");
                v.field("shape", Field::Choice(shape), "step holds each point; linear ramps between them");
            }
            Arrivals::OnOff { on, off } => {
                v.field("on", Field::PositiveSeconds(on), "mean ON period");
                v.field("off", Field::PositiveSeconds(off), "mean OFF period");
            }
            Arrivals::Closed { clients, think } => {
                v.field(
                    "clients",
                    Field::CountUpTo(clients, 0, super::rules::MAX_CLIENTS),
                    "closed-loop users (at most 1 000 000)",
                );
                v.group("think", think);
            }
        }
    }
}
