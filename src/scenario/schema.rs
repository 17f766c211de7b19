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
use crate::model::dist::Dist;
use crate::params::{Choice, Field, Params, Visitor};

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
}

fn one() -> f64 {
    1.0
}

/// A node: something that emits requests or serves them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum NodeSpec {
    Source(SourceSpec),
    Service(ServiceSpec),
}

/// Emits requests to one target, through a call policy (timeout, retry, breaker).
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
    /// Per-attempt timeout in seconds (default: none, as in gRPC).
    #[serde(default)]
    pub timeout: Option<f64>,
    #[serde(default)]
    pub retry: RetrySpec,
    #[serde(default)]
    pub breaker: BreakerSpec,
    /// Cancel the callee's work when the timeout fires (default: it keeps working).
    #[serde(default)]
    pub cancel_on_timeout: bool,
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
}

fn one_u32() -> u32 {
    1
}
fn yes() -> bool {
    true
}

/// The waiting room of a service.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Queue")]
pub struct QueueSpec {
    /// Waiting places, not counting requests in service (Kendall's K − c). None = unbounded.
    #[serde(default)]
    pub capacity: Option<u32>,
    #[serde(default)]
    pub discipline: Discipline,
    #[serde(default)]
    pub overflow: Overflow,
    /// Retry-After hint sent with rejections (seconds).
    #[serde(default)]
    pub retry_after: Option<f64>,
    /// How long a blocked sender waits for a place before giving up (`Block` only).
    #[serde(default)]
    pub block_timeout: Option<f64>,
}

impl Default for QueueSpec {
    fn default() -> Self {
        Self {
            capacity: None,
            discipline: Discipline::Fifo,
            overflow: Overflow::Reject,
            retry_after: None,
            block_timeout: None,
        }
    }
}

/// Which waiting request a free worker takes next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Discipline {
    #[default]
    Fifo,
    Lifo,
    /// Lowest class priority number first, FIFO within a class.
    Priority,
}
choice_enum!(Discipline { "fifo" => Discipline::Fifo, "lifo" => Discipline::Lifo, "priority" => Discipline::Priority });

/// What happens to a request that finds the queue full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Overflow {
    /// Refuse it with a signal (429/503 + Retry-After).
    #[default]
    Reject,
    /// Discard the arriving request silently.
    DropNewest,
    /// Discard the request that has waited longest, admit the new one.
    DropOldest,
    /// Hold the sender until a place frees up, or until `block_timeout`.
    Block,
}
choice_enum!(Overflow {
    "reject" => Overflow::Reject,
    "drop_newest" => Overflow::DropNewest,
    "drop_oldest" => Overflow::DropOldest,
    "block" => Overflow::Block,
});

/// A synchronous call from a service's worker to another node.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Call")]
pub struct CallSpec {
    pub to: String,
    #[serde(default)]
    pub timeout: Option<f64>,
    #[serde(default)]
    pub retry: RetrySpec,
    #[serde(default)]
    pub breaker: BreakerSpec,
    #[serde(default)]
    pub cancel_on_timeout: bool,
}

/// Forward a completed request to `to` with probability `p`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Route")]
pub struct RouteSpec {
    pub to: String,
    pub p: f64,
}

/// The policy on one edge, in the order it wraps the call: Retry(Breaker(Timeout(call))).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CallPolicy {
    pub timeout: Option<f64>,
    pub retry: RetrySpec,
    pub breaker: BreakerSpec,
    pub cancel_on_timeout: bool,
}

/// An attempt's outcome class, as named in `retry_on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Outcome {
    Ok,
    Error,
    Rejected,
    Dropped,
    Timeout,
    BreakerOpen,
}

/// Retries with exponential backoff (AWS "Exponential Backoff and Jitter"; gRPC A6).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Retry")]
pub struct RetrySpec {
    /// Total attempts including the first (1 = no retries).
    #[serde(default = "three")]
    pub max_attempts: u32,
    /// Backoff before the first retry, seconds.
    #[serde(default = "default_backoff")]
    pub backoff: f64,
    #[serde(default = "two")]
    pub multiplier: f64,
    /// Cap on any single backoff, seconds.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: f64,
    #[serde(default)]
    pub jitter: Jitter,
    /// Outcomes that are retried.
    #[serde(default = "default_retry_on")]
    pub retry_on: Vec<Outcome>,
    /// Wait the server's Retry-After hint instead of the backoff when one is given.
    #[serde(default = "yes")]
    pub honour_retry_after: bool,
}

fn three() -> u32 {
    3
}
fn two() -> f64 {
    2.0
}
fn default_backoff() -> f64 {
    0.1
}
fn default_max_backoff() -> f64 {
    10.0
}
fn default_retry_on() -> Vec<Outcome> {
    vec![Outcome::Error, Outcome::Rejected, Outcome::Dropped, Outcome::Timeout]
}

impl Default for RetrySpec {
    /// No retries: a single attempt.
    fn default() -> Self {
        Self {
            max_attempts: 1,
            backoff: default_backoff(),
            multiplier: two(),
            max_backoff: default_max_backoff(),
            jitter: Jitter::None,
            retry_on: default_retry_on(),
            honour_retry_after: true,
        }
    }
}

/// Randomisation of backoff delays (AWS formulas).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Jitter {
    /// `expo(n)`: retries that failed together stay synchronised.
    #[default]
    None,
    /// `U(0, expo(n))`.
    Full,
    /// `expo/2 + U(0, expo/2)`.
    Equal,
    /// `min(cap, U(base, 3·previous))`.
    Decorrelated,
}
choice_enum!(Jitter {
    "none" => Jitter::None,
    "full" => Jitter::Full,
    "equal" => Jitter::Equal,
    "decorrelated" => Jitter::Decorrelated,
});

/// A count-based circuit breaker with Resilience4j's semantics and defaults.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Breaker")]
pub struct BreakerSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Sliding window size in calls (`slidingWindowSize`, default 100).
    #[serde(default = "hundred")]
    pub window: u32,
    /// No decision below this many calls (`minimumNumberOfCalls`, default 100).
    #[serde(default = "hundred")]
    pub min_calls: u32,
    /// Trip at ≥ this failure percentage (`failureRateThreshold`, default 50).
    #[serde(default = "fifty")]
    pub failure_rate: f64,
    /// Trip at ≥ this slow-call percentage (`slowCallRateThreshold`, default 100).
    #[serde(default = "hundred_f")]
    pub slow_call_rate: f64,
    /// A call is slow if it takes longer than this (`slowCallDurationThreshold`, 60 s).
    #[serde(default = "sixty")]
    pub slow_call_duration: f64,
    /// Time spent OPEN before probing (`waitDurationInOpenState`, 60 s).
    #[serde(default = "sixty")]
    pub open_wait: f64,
    /// Probe calls let through in HALF_OPEN (`permittedNumberOfCallsInHalfOpenState`, 10).
    #[serde(default = "ten")]
    pub half_open_calls: u32,
    /// Move to HALF_OPEN on a timer instead of on the first call after the wait.
    #[serde(default)]
    pub automatic_half_open: bool,
}

fn hundred() -> u32 {
    100
}
fn hundred_f() -> f64 {
    100.0
}
fn fifty() -> f64 {
    50.0
}
fn sixty() -> f64 {
    60.0
}
fn ten() -> u32 {
    10
}

impl Default for BreakerSpec {
    /// Resilience4j's defaults, disabled (no `breaker:` in the file).
    fn default() -> Self {
        Self {
            enabled: false,
            window: 100,
            min_calls: 100,
            failure_rate: 50.0,
            slow_call_rate: 100.0,
            slow_call_duration: 60.0,
            open_wait: 60.0,
            half_open_calls: 10,
            automatic_half_open: false,
        }
    }
}

impl SourceSpec {
    /// The policy on this source's outgoing edge.
    pub fn policy(&self) -> CallPolicy {
        CallPolicy {
            timeout: self.timeout,
            retry: self.retry.clone(),
            breaker: self.breaker.clone(),
            cancel_on_timeout: self.cancel_on_timeout,
        }
    }
}

impl CallSpec {
    /// The policy on this edge.
    pub fn policy(&self) -> CallPolicy {
        CallPolicy {
            timeout: self.timeout,
            retry: self.retry.clone(),
            breaker: self.breaker.clone(),
            cancel_on_timeout: self.cancel_on_timeout,
        }
    }
}

// ---- parameter listings (paths mirror the file) ----

impl Params for CallPolicy {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("timeout", Field::OptionalSeconds(&mut self.timeout), "per-attempt timeout; none waits forever");
        v.field(
            "cancel_on_timeout",
            Field::Flag(&mut self.cancel_on_timeout),
            "stop the callee's work when the caller gives up",
        );
        v.group("retry", &mut self.retry);
        v.group("breaker", &mut self.breaker);
    }
}

impl Params for RetrySpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("max_attempts", Field::Count(&mut self.max_attempts, 1), "attempts including the first");
        v.field("backoff", Field::Seconds(&mut self.backoff), "backoff before the first retry");
        v.field("multiplier", Field::Real(&mut self.multiplier, 1.0, 100.0), "backoff growth per retry");
        v.field("max_backoff", Field::Seconds(&mut self.max_backoff), "cap on one backoff");
        v.field("jitter", Field::Choice(&mut self.jitter), "randomisation of the backoff");
        v.field(
            "honour_retry_after",
            Field::Flag(&mut self.honour_retry_after),
            "wait the server's Retry-After hint instead of the backoff",
        );
        let mut on = RetryOn(&mut self.retry_on);
        v.group("retry_on", &mut on);
    }
}

/// `retry_on` as one flag per outcome for the inspector and `--set retry.retry_on.timeout=false`.
struct RetryOn<'a>(&'a mut Vec<Outcome>);

impl Params for RetryOn<'_> {
    fn visit(&mut self, v: &mut dyn Visitor) {
        for (name, outcome) in [
            ("error", Outcome::Error),
            ("rejected", Outcome::Rejected),
            ("dropped", Outcome::Dropped),
            ("timeout", Outcome::Timeout),
            ("breaker_open", Outcome::BreakerOpen),
        ] {
            let mut on = self.0.contains(&outcome);
            v.field(name, Field::Flag(&mut on), "retry this outcome");
            let present = self.0.contains(&outcome);
            if on && !present {
                self.0.push(outcome);
                self.0.sort();
            } else if !on && present {
                self.0.retain(|o| *o != outcome);
            }
        }
    }
}

impl Params for BreakerSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "circuit breaker on this edge");
        v.field(
            "window",
            Field::CountUpTo(&mut self.window, 1, super::rules::MAX_WINDOW),
            "sliding window, in calls (at most 1 000 000)",
        );
        v.field("min_calls", Field::Count(&mut self.min_calls, 1), "no decision below this many calls");
        v.field("failure_rate", Field::Real(&mut self.failure_rate, 0.0, 100.0), "trip at ≥ this failure percentage");
        v.field(
            "slow_call_rate",
            Field::Real(&mut self.slow_call_rate, 0.0, 100.0),
            "trip at ≥ this slow-call percentage",
        );
        v.field("slow_call_duration", Field::Seconds(&mut self.slow_call_duration), "calls longer than this are slow");
        v.field("open_wait", Field::Seconds(&mut self.open_wait), "time OPEN before probing");
        v.field("half_open_calls", Field::Count(&mut self.half_open_calls, 1), "probe calls let through in HALF_OPEN");
        v.field(
            "automatic_half_open",
            Field::Flag(&mut self.automatic_half_open),
            "go HALF_OPEN on a timer rather than on the next call",
        );
    }
}

impl Params for QueueSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field(
            "capacity",
            Field::OptionalCount(&mut self.capacity),
            "waiting places (not counting requests in service); unbounded if none",
        );
        v.field("discipline", Field::Choice(&mut self.discipline), "which waiting request is served next");
        v.field("overflow", Field::Choice(&mut self.overflow), "what happens when the queue is full");
        v.field(
            "retry_after",
            Field::OptionalSecondsOrZero(&mut self.retry_after),
            "Retry-After hint sent with rejections",
        );
        v.field(
            "block_timeout",
            Field::OptionalSeconds(&mut self.block_timeout),
            "how long a blocked sender waits for a place",
        );
    }
}

impl Params for ServiceSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("workers", Field::Count(&mut self.workers, 0), "parallel workers (c)");
        v.group("queue", &mut self.queue);
        v.group("service", &mut self.service);
        v.field("error_rate", Field::Real(&mut self.error_rate, 0.0, 1.0), "probability that the local work fails");
        v.field("slowdown", Field::Real(&mut self.slowdown, 0.0, 1e6), "multiplies service times started from now on");
        v.field("up", Field::Flag(&mut self.up), "false = crashed: work inside is lost, arrivals refused");
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
                v.field("on", Field::Seconds(on), "mean ON period");
                v.field("off", Field::Seconds(off), "mean OFF period");
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
