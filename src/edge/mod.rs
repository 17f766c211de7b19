//! The caller's side of an edge: its policy layers, composed as tower composes layers.
//!
//! ```text
//!   request ──▶ Fallback ──▶ Retry (+ budget) ──▶ Throttle ──▶ Breaker ──▶ AdaptiveLimit ──▶ RateLimit ──▶ Timeout ──▶ callee
//!   answer  ◀── Fallback ◀── Retry (+ budget) ◀── Throttle ◀── Breaker ◀── AdaptiveLimit ◀─────────────── Timeout ◀──
//! ```
//!
//! Each layer is one file: its spec (as written in the scenario, with defaults and docs), its
//! parameters in the registry, its clock-free state machine and its tests. This module holds
//! what they share: the list of layers ([`edge_policy!`], the one place their fields are
//! declared), the [`Link`] component that carries their state, the edge's counters, and the
//! composition in one documented order ([`Link::admit`], [`Link::record`],
//! [`Link::transparent`]). The attempt loop that walks them is `model::exchange`.
//!
//! Adding a layer: write its file, add its field to [`edge_policy!`], and give it its place in
//! the three composition functions below.

pub mod adaptive_limit;
pub mod breaker;
pub mod deadline;
pub mod fallback;
pub mod hedge;
pub mod network;
pub mod rate_limit;
pub mod retry;
pub mod retry_budget;
pub mod throttle;
pub mod timeout;

use bevy::ecs::component::Component;
use bevy::ecs::entity::Entity;
use serde::{Deserialize, Serialize};

use crate::engine::rng::{SimRng, unit};
use crate::engine::time::Nanos;
use crate::params::{Field, Params, Visitor};
use breaker::{Breaker, Transition};
use rate_limit::{RateLimitSpec, RateLimiter, Verdict};
use retry_budget::{AttemptKind, RetryBudget};
use throttle::Throttle;

/// An attempt's outcome class, as named in `retry_on`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Outcome {
    Ok,
    Error,
    Rejected,
    Dropped,
    Timeout,
    BreakerOpen,
    /// Refused by the edge's own rate limit: never sent.
    RateLimited,
    /// Rejected locally by client-side adaptive throttling: never sent.
    Throttled,
    /// Refused by the edge's adaptive concurrency limit (Netflix's `LimitExceededException`):
    /// never sent.
    LimitExceeded,
}

/// Declares a struct that carries an edge's policy: the struct's own fields, then one field per
/// layer. [`EdgePolicy`] is the struct with no fields of its own; a source (`SourceSpec`) and a
/// service's call (`CallSpec`) add theirs, so the file format keeps the policy inline
/// (`Source(to: "api", timeout: Some(1.0), retry: Retry(…))`) while its fields are written once,
/// here. Generates `policy()` (the edge's [`EdgePolicy`]) and `set_policy` (write one back, as
/// the export does after live changes).
#[macro_export]
macro_rules! edge_policy {
    ($(#[$meta:meta])* pub struct $name:ident { $($own:tt)* }) => {
        $crate::edge_policy!(@emit [$(#[$meta])*] $name [$($own)*]
            /// Per-attempt timeout in seconds (default: none, as in gRPC: wait forever).
            timeout: Option<f64>,
            /// Retries with exponential backoff (default: a single attempt).
            retry: $crate::edge::retry::RetrySpec,
            /// A count-based circuit breaker (default: none).
            breaker: $crate::edge::breaker::BreakerSpec,
            /// Cancel the callee's work when the timeout fires (default: it keeps working).
            cancel_on_timeout: bool,
            /// Tell the callee the request's deadline, as gRPC does (default: it never learns it).
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            propagate_deadline: bool,
            /// A retry budget shared by the edge's requests (gRPC, Finagle, Envoy, AWS; default: none).
            #[serde(skip_serializing_if = "crate::edge::retry_budget::RetryBudgetSpec::is_off")]
            retry_budget: $crate::edge::retry_budget::RetryBudgetSpec,
            /// Client-side adaptive throttling, the SRE book's formula (default: none).
            #[serde(skip_serializing_if = "crate::edge::throttle::ThrottleSpec::is_off")]
            throttle: $crate::edge::throttle::ThrottleSpec,
            /// Send a second copy of an attempt not answered after a delay (default: none).
            #[serde(skip_serializing_if = "crate::edge::hedge::HedgeSpec::is_off")]
            hedge: $crate::edge::hedge::HedgeSpec,
            /// Delay per direction and loss of attempts on the wire (default: none).
            #[serde(skip_serializing_if = "crate::edge::network::NetworkSpec::is_off")]
            network: $crate::edge::network::NetworkSpec,
            /// Answer a call that failed for good from a default or cache (default: none).
            #[serde(skip_serializing_if = "crate::edge::fallback::FallbackSpec::is_off")]
            fallback: $crate::edge::fallback::FallbackSpec,
            /// A client-side token bucket: refuse or delay attempts over the rate (default: none).
            #[serde(skip_serializing_if = "crate::station::rate_limit::RateLimitSpec::is_off")]
            rate_limit: $crate::edge::rate_limit::RateLimitSpec,
            /// A client-side adaptive concurrency limit on attempts in flight (default: none).
            #[serde(skip_serializing_if = "crate::station::adaptive_limit::AdaptiveLimitSpec::is_off")]
            adaptive_limit: $crate::edge::adaptive_limit::AdaptiveLimitSpec,
        );
    };
    (@emit [$($meta:tt)*] $name:ident [$($own:tt)*] $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?) => {
        $($meta)*
        pub struct $name {
            $($own)*
            $( $(#[$fmeta])* #[serde(default)] pub $field: $ty, )*
        }

        impl $name {
            /// The policy on this edge.
            pub fn policy(&self) -> $crate::edge::EdgePolicy {
                $crate::edge::EdgePolicy { $( $field: self.$field.clone(), )* }
            }

            /// Writes `policy` back into these fields.
            pub fn set_policy(&mut self, policy: $crate::edge::EdgePolicy) {
                $( self.$field = policy.$field; )*
            }
        }
    };
}

edge_policy! {
    /// The policy on one edge, in the order it wraps the call: Retry(Breaker(Timeout(call))).
    #[derive(Clone, Debug, Default, Serialize, Deserialize)]
    pub struct EdgePolicy {}
}

impl Params for EdgePolicy {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("timeout", Field::OptionalSeconds(&mut self.timeout), "per-attempt timeout; none waits forever");
        v.field(
            "cancel_on_timeout",
            Field::Flag(&mut self.cancel_on_timeout),
            "stop the callee's work when the caller gives up",
        );
        v.field(
            "propagate_deadline",
            Field::Flag(&mut self.propagate_deadline),
            "tell the callee the request's deadline (it drops expired work)",
        );
        v.group("retry", &mut self.retry);
        v.group("retry_budget", &mut self.retry_budget);
        v.group("throttle", &mut self.throttle);
        v.group("breaker", &mut self.breaker);
        v.group("adaptive_limit", &mut self.adaptive_limit);
        v.group("rate_limit", &mut self.rate_limit);
        v.group("hedge", &mut self.hedge);
        v.group("network", &mut self.network);
        v.group("fallback", &mut self.fallback);
    }
}

/// Whether an attempt may be sent now, as the layers decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    Send,
    /// Send after this many nanoseconds (a shaper holds it).
    Delay(Nanos),
    /// Refused on the caller's side without reaching the callee, with the outcome to report.
    Refuse(Outcome),
}

/// Counters of one edge.
///
/// Serialized as they are into the report's `links` (no copy): `by_attempt` with its trailing
/// zeros trimmed.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct LinkStats {
    /// Attempts sent (first attempts and retries).
    pub attempts: u64,
    /// Of which retries.
    pub retries: u64,
    pub ok: u64,
    pub errors: u64,
    pub rejected: u64,
    pub dropped: u64,
    pub timeouts: u64,
    /// Calls refused by the open breaker (never sent).
    pub breaker_rejected: u64,
    /// Attempts refused by the edge's adaptive concurrency limit (never sent).
    pub limited: u64,
    /// Attempts refused by the edge's rate limit (never sent), and attempts it held back, with
    /// the total time they were held.
    pub rate_limited: u64,
    pub delayed: u64,
    pub delay_s: f64,
    /// Exchanges that ended without success (after every attempt they were allowed).
    pub gave_up: u64,
    /// Of those, the ones the fallback answered.
    pub fallbacks: u64,
    /// Attempts not sent because the request's deadline had passed (a retry after its backoff).
    pub deadline_exceeded: u64,
    /// Retries the retry budget refused (the request failed with its last outcome).
    pub retry_budget_exhausted: u64,
    /// Attempts rejected locally by client-side adaptive throttling.
    pub throttled: u64,
    /// Attempts lost on the network (noticed by the caller's timeout).
    pub lost: u64,
    /// Second copies sent by hedging (also counted in `attempts`).
    pub hedges: u64,
    /// Attempts currently in flight.
    pub in_flight: u64,
    /// Attempts sent, by attempt number (index 0 = first attempts; the last slot collects
    /// attempt 16 and later): the retry amplification, layer by layer.
    #[serde(serialize_with = "trimmed")]
    pub by_attempt: [u64; 16],
}

impl LinkStats {
    /// Counts an attempt sent (`attempt` is 1 for the first).
    pub fn record_sent(&mut self, attempt: u32) {
        self.attempts += 1;
        self.in_flight += 1;
        self.by_attempt[(attempt.max(1) as usize - 1).min(15)] += 1;
    }

    /// Counts the outcome of one attempt that was sent (not one refused by the breaker).
    pub fn record_outcome(&mut self, outcome: Outcome) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Rejected => self.rejected += 1,
            Outcome::Dropped => self.dropped += 1,
            Outcome::Timeout => self.timeouts += 1,
            Outcome::BreakerOpen | Outcome::RateLimited | Outcome::Throttled | Outcome::LimitExceeded => {}
        }
    }
}

/// `by_attempt` without its trailing zeros.
fn trimmed<S: serde::Serializer>(by_attempt: &[u64; 16], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(attempts_sent(by_attempt))
}

/// Attempts sent by attempt number (1st, 2nd, …), without the trailing zeros.
pub fn attempts_sent(by_attempt: &[u64; 16]) -> &[u64] {
    let n = by_attempt.iter().rposition(|x| *x > 0).map_or(0, |i| i + 1);
    &by_attempt[..n]
}

/// An edge between a caller (source or service worker) and a callee: its policy, the state of
/// its layers and its counters.
#[derive(Component, Debug)]
pub struct Link {
    /// `from->to`.
    pub name: String,
    pub from: Entity,
    pub to: Entity,
    pub policy: EdgePolicy,
    pub breaker: Breaker,
    /// Jitter stream of this edge.
    pub rng: SimRng,
    pub stats: LinkStats,
    /// The client-side rate limit's buckets.
    pub limiter: RateLimiter,
    /// The retry budget's state and the adaptive throttle's window, with the throttle's own
    /// random stream (drawn only while throttling is on).
    pub budget: RetryBudget,
    pub throttle: Throttle,
    pub rng_throttle: SimRng,
    /// The network's stream: loss and delays (drawn only while a network is on).
    pub rng_network: SimRng,
    /// The adaptive concurrency limit and its stream (probe jitter, drawn only while it is on).
    pub limit: adaptive_limit::AdaptiveLimit,
    pub rng_limit: SimRng,
    /// Recent answer times, for a hedge delay at a quantile.
    pub hedging: hedge::Hedging,
    /// Cut by a fault: attempts are lost on the wire (the caller sees them as dropped).
    pub cut: bool,
    /// Every layer is transparent and the edge whole, as [`Link::refresh`] last found.
    transparent: bool,
}

impl Link {
    /// The streams draw the backoff jitter, the adaptive throttle's coin, the network and the
    /// adaptive limit's probes.
    pub fn new(name: String, from: Entity, to: Entity, policy: EdgePolicy, streams: [SimRng; 4]) -> Self {
        let [rng, rng_throttle, rng_network, rng_limit] = streams;
        let limit = adaptive_limit::AdaptiveLimit::new(&policy.adaptive_limit);
        let (breaker, stats, limiter) = (Breaker::default(), LinkStats::default(), RateLimiter::new());
        let (budget, throttle) = (RetryBudget::new(), Throttle::new());
        let mut link = Self {
            name,
            from,
            to,
            policy,
            breaker,
            rng,
            stats,
            limiter,
            budget,
            throttle,
            rng_throttle,
            rng_network,
            limit,
            rng_limit,
            hedging: hedge::Hedging::default(),
            cut: false,
            transparent: false,
        };
        link.refresh();
        link
    }

    /// True when no layer changes what a call does and the edge is whole: a request can go
    /// straight to the callee (the sources' fast path asks this, never a list of its own).
    /// Cached: the engine calls [`Link::refresh`] after every change of the edge's parameters.
    #[inline]
    pub fn transparent(&self) -> bool {
        self.transparent
    }

    /// Asks every layer again whether it is transparent (after a parameter change). An
    /// adaptive limit that has taken no sample yet starts from the new settings.
    pub fn refresh(&mut self) {
        if self.limit.stats.samples == 0 {
            self.limit = adaptive_limit::AdaptiveLimit::new(&self.policy.adaptive_limit);
        }
        let p = &self.policy;
        self.transparent = fallback::transparent(&p.fallback)
            && retry::transparent(&p.retry)
            && retry_budget::transparent(&p.retry_budget)
            && throttle::transparent(&p.throttle)
            && breaker::transparent(&p.breaker)
            && adaptive_limit::transparent(&p.adaptive_limit)
            && rate_limit::transparent(&p.rate_limit)
            && timeout::transparent(p.timeout)
            && network::transparent(&p.network)
            && hedge::transparent(&p.hedge)
            && deadline::transparent(p.propagate_deadline)
            && !self.cut;
    }

    /// Asks the layers, outermost first, whether the attempt numbered `attempt` may be sent at
    /// `now`, and counts it; `key` is the request's id for a keyed rate limit (see
    /// [`crate::station::rate_limit::LimitKey::pick`]). Returns any breaker transition made on
    /// the way (the lazy OPEN → HALF_OPEN move), for the engine to log.
    #[inline]
    pub fn admit(
        &mut self,
        attempt: u32,
        now: Nanos,
        key: impl Fn(&RateLimitSpec) -> u32,
    ) -> (Admit, Option<Transition>) {
        if attempt > 1 {
            self.stats.retries += 1;
        }
        let budget = !self.policy.retry_budget.is_off();
        if budget && attempt == 1 {
            self.budget.on_request(&self.policy.retry_budget, now);
        }
        if self.policy.throttle.enabled {
            let u = unit(&mut self.rng_throttle);
            if self.throttle.decide(&self.policy.throttle, now, u) {
                self.stats.throttled += 1;
                return (Admit::Refuse(Outcome::Throttled), None);
            }
        }
        let (permitted, transition) = self.breaker.try_acquire(&self.policy.breaker, now);
        if !permitted {
            self.stats.breaker_rejected += 1;
            return (Admit::Refuse(Outcome::BreakerOpen), transition);
        }
        let adaptive = &self.policy.adaptive_limit;
        if adaptive.enabled
            && !self.limit.try_acquire(adaptive, now, u32::try_from(self.stats.in_flight).unwrap_or(u32::MAX))
        {
            self.stats.limited += 1;
            return (Admit::Refuse(Outcome::LimitExceeded), transition);
        }
        let limit = &self.policy.rate_limit;
        let admit = if limit.enabled {
            match self.limiter.admit(limit, key(limit), now) {
                Verdict::Pass => Admit::Send,
                Verdict::Delay(d) => {
                    self.stats.delayed += 1;
                    self.stats.delay_s += d as f64 / 1e9;
                    Admit::Delay(d)
                }
                Verdict::Refuse { .. } => {
                    self.stats.rate_limited += 1;
                    return (Admit::Refuse(Outcome::RateLimited), transition);
                }
            }
        } else {
            Admit::Send
        };
        self.stats.record_sent(attempt);
        if budget {
            self.budget.on_attempt_sent(&self.policy.retry_budget, now);
        }
        (admit, transition)
    }

    /// Records the outcome of an attempt (of `kind`) that was sent and took `duration`,
    /// innermost layer first. Returns any breaker transition.
    #[inline]
    pub fn record(&mut self, outcome: Outcome, duration: Nanos, now: Nanos, kind: AttemptKind) -> Option<Transition> {
        self.stats.record_outcome(outcome);
        if self.policy.hedge.enabled && outcome == Outcome::Ok {
            self.hedging.answered(duration);
        }
        let transition = self.breaker.record(&self.policy.breaker, now, outcome != Outcome::Ok, duration);
        let adaptive = &self.policy.adaptive_limit;
        if adaptive.enabled
            && let Some(dropped) = adaptive_limit::sample_of(outcome)
        {
            // In flight when it was sent is not kept per attempt: those still out plus this one.
            let inflight = u32::try_from(self.stats.in_flight.saturating_add(1)).unwrap_or(u32::MAX);
            let u = unit(&mut self.rng_limit);
            self.limit.on_sample(adaptive, now, duration, inflight, dropped, u);
        }
        if self.policy.throttle.enabled && matches!(outcome, Outcome::Ok | Outcome::Error) {
            // The backend accepted it (an error is an answer; a refusal or silence is not).
            self.throttle.record_accept(&self.policy.throttle, now);
        }
        let spec = &self.policy.retry_budget;
        if !spec.is_off() {
            self.budget.on_attempt_end(spec, now);
            if outcome == Outcome::Ok {
                self.budget.on_outcome(spec, now, true, kind);
            } else if self.policy.retry.retry_on.contains(&outcome) {
                self.budget.on_outcome(spec, now, false, kind);
            }
        }
        transition
    }

    /// Whether any layer has a reading to show (a budget, a throttle or a rate limit is on).
    pub fn has_readings(&self) -> bool {
        let p = &self.policy;
        !p.retry_budget.is_off() || p.throttle.enabled || p.rate_limit.enabled || p.adaptive_limit.enabled
    }

    /// The live state of the edge's layers that are on, for cards and the policies plot (the
    /// list depends on the policy alone, so series points keep them by position).
    pub fn readings(&self, now: Nanos) -> Vec<crate::station::Reading> {
        use crate::station::Reading;
        let mut out = Vec::new();
        let budget = &self.policy.retry_budget;
        if !budget.is_off() {
            let (value, max) = self.budget.level(budget, now).unwrap_or((0.0, 0.0));
            out.push(Reading::Gauge { key: "retry_budget", label: "budget".into(), value, max: Some(max) });
        }
        if self.policy.throttle.enabled {
            let value = self.throttle.reject_probability(&self.policy.throttle, now);
            out.push(Reading::Gauge { key: "throttle", label: "throttle".into(), value, max: Some(1.0) });
        }
        let adaptive = &self.policy.adaptive_limit;
        if adaptive.enabled {
            let (value, max) = (f64::from(self.limit.limit()), Some(f64::from(adaptive.max_limit())));
            out.push(Reading::Gauge { key: "edge_limit", label: "limit".into(), value, max });
        }
        let limit = &self.policy.rate_limit;
        if limit.enabled {
            let value = self.limiter.tokens(limit, now);
            out.push(Reading::Gauge { key: "edge_tokens", label: "tokens".into(), value, max: Some(limit.capacity()) });
        }
        out
    }

    /// A granted retry is over (it was sent and answered, or refused, or cancelled).
    #[inline]
    pub fn retry_ended(&mut self, now: Nanos) {
        self.budget.on_retry_end(&self.policy.retry_budget, now);
    }

    /// Whether the budget lets the request retry after `outcome` (always, with no budget);
    /// a refusal is counted.
    pub fn budget_allows_retry(&mut self, outcome: Outcome, now: Nanos) -> bool {
        let spec = &self.policy.retry_budget;
        if spec.is_off() || self.budget.try_retry(spec, now, outcome == Outcome::Timeout) {
            return true;
        }
        self.stats.retry_budget_exhausted += 1;
        false
    }
}
