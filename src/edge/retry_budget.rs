//! The retry budget: one allowance shared by every request on an edge, asked before each retry.
//! When it refuses, the request fails with the outcome of its last attempt (the engine counts
//! `retry_budget_exhausted`). Where per-request `max_attempts` caps the amplification of one
//! request, a budget caps the amplification of the whole edge: the retries that turn a brief
//! overload into a retry storm that outlives its trigger (resilience-semantics §3).
//!
//! Four algorithms, as the real components define them (resilience-semantics §2c, §2d, §1b;
//! capacity-and-experiments §1):
//!
//! * **gRPC retry throttling** (gRFC A6 §Throttling; grpc-java `RetriableStream.Throttle`).
//!   `tokens` starts at `max_tokens` and stays in [0, `max_tokens`]. A failure takes 1 token, a
//!   success adds `token_ratio`; a retry is allowed while `tokens > max_tokens / 2`. Retries stop
//!   once more than `r/(1+r)` of attempts fail (9.1 % at r = 0.1), and resume after about
//!   `(max_tokens/2)/r` net successes. Kept in thousandths of a token, as grpc-java does (A6 allows
//!   three decimals): sums of `token_ratio` never drift.
//! * **Finagle `RetryBudget`** (`RetryBudget.scala`, util's `TokenBucket.newLeakyBucket`). Each
//!   request deposits 1000 into a windowed sum spanning `ttl` in 10 slices; a retry withdraws
//!   `w = ⌊1000 / percent_can_retry⌋` and is allowed iff `sum + reserve ≥ w`, with
//!   `reserve = ⌊min_retries_per_sec · ttl⌋ · w`. Withdrawals expire with the deposits, so over
//!   any `ttl` the retries are about `percent_can_retry` × the requests plus
//!   `min_retries_per_sec × ttl`, however badly the callee fails; the reserve is a per-`ttl`
//!   allowance (100 retries at the defaults), which a burst may spend at once. (Finagle's `ttl.inSeconds` is
//!   whole seconds and `minRetriesPerSec` an integer; here both may be fractional and the reserve
//!   is the whole part of their product, the same for the values Finagle accepts.)
//! * **Envoy `retry_budget`** (`circuit_breaker.proto`, `ResourceManagerImpl::RetryBudgetImpl`):
//!   a cap on *concurrent* retries, `max(min_retry_concurrency, budget_percent % × active)`, where
//!   `active` is the cluster's requests in flight plus pending (here: the edge's attempts in
//!   flight, first or retry). A retry holds its place from the moment it is granted, through its
//!   backoff, until its own outcome is known (Envoy's `resetRetry` at the next `shouldRetry`, or
//!   when the request goes away). No memory and no cooldown: the cap moves with the load.
//! * **AWS SDK "standard" retry quota** (botocore `retries/standard.py` `RetryQuotaChecker` and
//!   `retries/quota.py`; the same constants in the JS and Swift SDKs). A quota of `capacity`
//!   tokens, full at the start; a retry costs `retry_cost`, or `timeout_cost` after a timeout,
//!   and is refused (the error returned as it is) when the quota cannot pay. A success gives back
//!   `success_refund` (`NO_RETRY_INCREMENT`) if the request was never retried, and otherwise the
//!   cost of its last retry (botocore releases `retry_quota_capacity`, the last amount acquired);
//!   never above `capacity`. Failures give nothing back: a failing callee drains the quota, and
//!   only successes refill it. Kept in thousandths, so fractional costs are exact.
//!
//! **Wiring.** The budget is clock-free and holds no per-request state: the engine tells it what
//! happens on the edge. When an attempt ends, the last four calls come in the table's order: the
//! releases first, then the outcome (gRPC takes a failure's token before it decides), then the
//! decision.
//!
//! | on the edge | call |
//! |---|---|
//! | a request's first attempt enters the edge | [`RetryBudget::on_request`] |
//! | an attempt leaves for the callee (or a shaper holds it) | [`RetryBudget::on_attempt_sent`] |
//! | a sent attempt ends: answer, timeout, loss, or cancelled | [`RetryBudget::on_attempt_end`] |
//! | a granted retry's own outcome is known (sent or refused on the caller's side), or its request ends or is cancelled first | [`RetryBudget::on_retry_end`] |
//! | the answer is a success, or a failure the retry policy retries | [`RetryBudget::on_outcome`] |
//! | the retry layer wants to send another attempt | [`RetryBudget::try_retry`] |
//!
//! The counts Envoy needs (attempts in flight, retries outstanding) are kept under every
//! algorithm, so a switch to Envoy at run time starts from the true counts. A switch to another
//! algorithm starts it as the real component starts: gRPC and AWS full, Finagle with an empty
//! window (its reserve is there at once). A change of parameters within one algorithm keeps the
//! state: tokens are clamped to a new maximum, Finagle's sums move to the new `ttl`.

use serde::{Deserialize, Serialize};

use super::throttle::SlidingWindow;
use crate::engine::time::{Nanos, secs_to_nanos};
use crate::params::{Choice, Field, Params, Visitor};

/// A retry budget shared by all requests on an edge (default: none).
///
/// In a scenario: `retry_budget: Grpc(max_tokens: 10.0, token_ratio: 0.1)`, `Finagle()`,
/// `Envoy(budget_percent: 20.0)`, `AwsQuota(capacity: 500.0)` or `Off`. Every field has its
/// component's default, but the parentheses are required (`Finagle()`, not `Finagle`). The
/// variant name is the only tag: `RetryBudget` (the name in error messages) is never written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "RetryBudget")]
pub enum RetryBudgetSpec {
    /// No budget: every retry the retry policy wants is sent.
    #[default]
    Off,
    /// gRPC retry throttling (gRFC A6): a token bucket drained by failures, refilled by successes.
    Grpc {
        /// `maxTokens`, in (0, 1000]. A6 has no default; 10 is its example.
        #[serde(default = "grpc_max_tokens")]
        max_tokens: f64,
        /// `tokenRatio`, tokens a success adds (> 0, three decimals). A6's example: 0.1.
        #[serde(default = "grpc_token_ratio")]
        token_ratio: f64,
    },
    /// Finagle's `RetryBudget`: a share of recent requests plus a reserve per second.
    Finagle {
        /// Deposits expire after this many seconds (`ttl`, default 10, in [1, 60]).
        #[serde(default = "finagle_ttl")]
        ttl: f64,
        /// Retries allowed per second with no requests at all (`minRetriesPerSec`, default 10).
        #[serde(default = "finagle_min_retries_per_sec")]
        min_retries_per_sec: f64,
        /// Retries allowed per request, as a fraction (`percentCanRetry`, default 0.2, in [0, 1000]).
        #[serde(default = "finagle_percent_can_retry")]
        percent_can_retry: f64,
    },
    /// Envoy's cluster `retry_budget`: concurrent retries capped at a share of active requests.
    Envoy {
        /// Percentage of active requests that may be retries (`budget_percent`, default 20.0).
        #[serde(default = "envoy_budget_percent")]
        budget_percent: f64,
        /// Concurrent retries allowed whatever the load (`min_retry_concurrency`, default 3).
        #[serde(default = "envoy_min_retry_concurrency")]
        min_retry_concurrency: u32,
    },
    /// The AWS SDKs' "standard" retry quota: retries cost tokens, successes refund them.
    AwsQuota {
        /// Tokens in the quota, and its initial fill (`INITIAL_RETRY_TOKENS`, 500).
        #[serde(default = "aws_capacity")]
        capacity: f64,
        /// Cost of a retry (`RETRY_COST`, 5).
        #[serde(default = "aws_retry_cost")]
        retry_cost: f64,
        /// Cost of a retry after a timeout (`TIMEOUT_RETRY_COST`, 10).
        #[serde(default = "aws_timeout_cost")]
        timeout_cost: f64,
        /// Refund of a success that needed no retry (`NO_RETRY_INCREMENT`, 1).
        #[serde(default = "aws_success_refund")]
        success_refund: f64,
    },
}

fn grpc_max_tokens() -> f64 {
    10.0
}
fn grpc_token_ratio() -> f64 {
    0.1
}
fn finagle_ttl() -> f64 {
    10.0
}
fn finagle_min_retries_per_sec() -> f64 {
    10.0
}
fn finagle_percent_can_retry() -> f64 {
    0.2
}
fn envoy_budget_percent() -> f64 {
    20.0
}
fn envoy_min_retry_concurrency() -> u32 {
    3
}
fn aws_capacity() -> f64 {
    500.0
}
fn aws_retry_cost() -> f64 {
    5.0
}
fn aws_timeout_cost() -> f64 {
    10.0
}
fn aws_success_refund() -> f64 {
    1.0
}

/// The `kind` names, in the order the registry lists them.
const KINDS: &[&str] = &["off", "grpc", "finagle", "envoy", "aws_quota"];

impl RetryBudgetSpec {
    /// Absent or off: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        matches!(self, RetryBudgetSpec::Off)
    }

    /// The algorithm named `kind` (`off`, `grpc`, `finagle`, `envoy`, `aws_quota`) with its
    /// component's defaults; `None` for another name.
    pub fn with_defaults(kind: &str) -> Option<Self> {
        Some(match kind {
            "off" => RetryBudgetSpec::Off,
            "grpc" => RetryBudgetSpec::Grpc { max_tokens: grpc_max_tokens(), token_ratio: grpc_token_ratio() },
            "finagle" => RetryBudgetSpec::Finagle {
                ttl: finagle_ttl(),
                min_retries_per_sec: finagle_min_retries_per_sec(),
                percent_can_retry: finagle_percent_can_retry(),
            },
            "envoy" => RetryBudgetSpec::Envoy {
                budget_percent: envoy_budget_percent(),
                min_retry_concurrency: envoy_min_retry_concurrency(),
            },
            "aws_quota" => RetryBudgetSpec::AwsQuota {
                capacity: aws_capacity(),
                retry_cost: aws_retry_cost(),
                timeout_cost: aws_timeout_cost(),
                success_refund: aws_success_refund(),
            },
            _ => return None,
        })
    }

    /// The `kind` name of this algorithm.
    pub fn kind(&self) -> &'static str {
        match self {
            RetryBudgetSpec::Off => "off",
            RetryBudgetSpec::Grpc { .. } => "grpc",
            RetryBudgetSpec::Finagle { .. } => "finagle",
            RetryBudgetSpec::Envoy { .. } => "envoy",
            RetryBudgetSpec::AwsQuota { .. } => "aws_quota",
        }
    }
}

/// The algorithm as a choice (`retry_budget.kind = envoy`): a new kind starts from its
/// component's defaults; naming the current kind changes nothing.
struct RetryBudgetKind<'a>(&'a mut RetryBudgetSpec);

impl Choice for RetryBudgetKind<'_> {
    fn names(&self) -> &'static [&'static str] {
        KINDS
    }
    fn current(&self) -> &'static str {
        self.0.kind()
    }
    fn select(&mut self, name: &str) -> bool {
        if name == self.current() {
            return true;
        }
        match RetryBudgetSpec::with_defaults(name) {
            Some(spec) => {
                *self.0 = spec;
                true
            }
            None => false,
        }
    }
}

/// The largest quota or cost the registry accepts: 10⁹ tokens (10¹² thousandths, far inside
/// `i64`, so no sum of them can overflow in a run).
pub const MAX_TOKENS: f64 = 1e9;

impl Params for RetryBudgetSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field(
            "kind",
            Field::Choice(&mut RetryBudgetKind(self)),
            "retry budget: off, grpc (A6 throttling), finagle, envoy (concurrent share), aws_quota",
        );
        match self {
            RetryBudgetSpec::Off => {}
            RetryBudgetSpec::Grpc { max_tokens, token_ratio } => {
                v.field(
                    "max_tokens",
                    Field::Real(max_tokens, 0.001, 1000.0),
                    "token bucket size; retries only while tokens > half of it",
                );
                v.field(
                    "token_ratio",
                    Field::Real(token_ratio, 0.001, 1000.0),
                    "tokens a success adds (a failure takes 1)",
                );
            }
            RetryBudgetSpec::Finagle { ttl, min_retries_per_sec, percent_can_retry } => {
                v.field("ttl", Field::Real(ttl, 1.0, 60.0), "seconds before deposits and withdrawals expire");
                v.field(
                    "min_retries_per_sec",
                    Field::Real(min_retries_per_sec, 0.0, 1e6),
                    "retries allowed per second on top of the share of requests",
                );
                v.field(
                    "percent_can_retry",
                    Field::Real(percent_can_retry, 0.0, 1000.0),
                    "retries allowed per request, as a fraction (0.2 = 20 %)",
                );
            }
            RetryBudgetSpec::Envoy { budget_percent, min_retry_concurrency } => {
                v.field(
                    "budget_percent",
                    Field::Real(budget_percent, 0.0, 100.0),
                    "concurrent retries as a percentage of attempts in flight",
                );
                v.field(
                    "min_retry_concurrency",
                    Field::Count(min_retry_concurrency, 0),
                    "concurrent retries allowed whatever the load",
                );
            }
            RetryBudgetSpec::AwsQuota { capacity, retry_cost, timeout_cost, success_refund } => {
                v.field("capacity", Field::Real(capacity, 0.0, MAX_TOKENS), "tokens in the quota, full at the start");
                v.field("retry_cost", Field::Real(retry_cost, 0.0, MAX_TOKENS), "tokens a retry costs");
                v.field(
                    "timeout_cost",
                    Field::Real(timeout_cost, 0.0, MAX_TOKENS),
                    "tokens a retry after a timeout costs",
                );
                v.field(
                    "success_refund",
                    Field::Real(success_refund, 0.0, MAX_TOKENS),
                    "tokens a success without retries gives back (a retried success returns its retry's cost)",
                );
            }
        }
    }
}

/// True when the edge has no retry budget: every retry is allowed and nothing need be counted.
#[inline]
pub fn transparent(spec: &RetryBudgetSpec) -> bool {
    spec.is_off()
}

/// What an attempt was, for the AWS quota's refund: the first of its request, or a retry granted
/// after a timeout or after another failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttemptKind {
    #[default]
    First,
    Retry {
        after_timeout: bool,
    },
}

/// Counters of one edge's retry budget (not counted while it is off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RetryBudgetStats {
    /// Retries the budget allowed.
    pub allowed: u64,
    /// Retries it refused: their requests failed with their last outcome.
    pub refused: u64,
}

/// Slices in Finagle's windowed sum (`WindowedAdder(ttl, 10, …)`).
const FINAGLE_SLICES: usize = 10;

/// Tokens are kept in thousandths: grpc-java's fixed point, and exact for the AWS quota's costs.
const MILLI: f64 = 1000.0;

/// Finagle's deposit per request, in its own units (`ScaleFactor`).
const FINAGLE_DEPOSIT: i64 = 1000;

/// Which algorithm the state was set up for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Algorithm {
    #[default]
    Off,
    Grpc,
    Finagle,
    Envoy,
    AwsQuota,
}

impl Algorithm {
    fn of(spec: &RetryBudgetSpec) -> Self {
        match spec {
            RetryBudgetSpec::Off => Algorithm::Off,
            RetryBudgetSpec::Grpc { .. } => Algorithm::Grpc,
            RetryBudgetSpec::Finagle { .. } => Algorithm::Finagle,
            RetryBudgetSpec::Envoy { .. } => Algorithm::Envoy,
            RetryBudgetSpec::AwsQuota { .. } => Algorithm::AwsQuota,
        }
    }
}

/// The state of one edge's retry budget and its counters.
///
/// Clock-free (every method takes the time, nothing is scheduled), without randomness, and
/// without allocation: a few integers and Finagle's ring of ten slices. The spec is passed on
/// every call; see the module docs for what a change of it does.
#[derive(Clone, Debug, Default)]
pub struct RetryBudget {
    /// The algorithm the state below was set up for: a spec of another kind resets it.
    algorithm: Algorithm,
    /// gRPC's `token_count`, or the AWS quota's available capacity, in thousandths.
    milli_tokens: i64,
    /// Finagle's deposits (+1000) and withdrawals (−w), over `ttl` in ten slices.
    finagle: SlidingWindow<FINAGLE_SLICES, 1>,
    /// Attempts in flight on the edge: Envoy's `requests` + `pending_requests`.
    in_flight: u64,
    /// Retries granted whose own outcome is not yet known: Envoy's `retries` resource.
    retries_outstanding: u64,
    pub stats: RetryBudgetStats,
}

impl RetryBudget {
    pub fn new() -> Self {
        Self::default()
    }

    /// A request's first attempt enters the edge: Finagle deposits.
    pub fn on_request(&mut self, spec: &RetryBudgetSpec, now: Nanos) {
        self.sync(spec);
        if let RetryBudgetSpec::Finagle { .. } = spec {
            let terms = FinagleTerms::of(spec);
            self.finagle.add(terms.window, now, 0, terms.deposit);
        }
    }

    /// An attempt (first or retry) leaves for the callee, or is admitted and held by a shaper:
    /// it counts as active for Envoy until [`RetryBudget::on_attempt_end`].
    pub fn on_attempt_sent(&mut self, _spec: &RetryBudgetSpec, _now: Nanos) {
        self.in_flight = self.in_flight.saturating_add(1);
    }

    /// An attempt that was sent is over: its answer or its timeout came, it was lost, or its
    /// request was cancelled while it was in flight.
    pub fn on_attempt_end(&mut self, _spec: &RetryBudgetSpec, _now: Nanos) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// A granted retry is over: the outcome of its attempt is known, whether it was sent or
    /// refused on the caller's side, or its request ended or was cancelled before that (during
    /// the backoff). Call it before [`RetryBudget::try_retry`] for the next retry, as Envoy
    /// releases a request's retry at its next `shouldRetry`.
    pub fn on_retry_end(&mut self, _spec: &RetryBudgetSpec, _now: Nanos) {
        self.retries_outstanding = self.retries_outstanding.saturating_sub(1);
    }

    /// The answer to a sent attempt, before the retry decision: `success` for a success, false
    /// for a failure the retry policy would retry (A6's qualifying failures are the retryable
    /// codes; other failures must not be reported). `attempt` says what the attempt was, for
    /// the AWS refund. gRPC: a failure takes a token, a success adds `token_ratio`. AWS: a
    /// success refunds; a failure does nothing. Finagle and Envoy ignore outcomes.
    pub fn on_outcome(&mut self, spec: &RetryBudgetSpec, _now: Nanos, success: bool, attempt: AttemptKind) {
        self.sync(spec);
        match *spec {
            RetryBudgetSpec::Grpc { max_tokens, token_ratio } => {
                let change = if success { milli(token_ratio) } else { -milli(1.0) };
                self.milli_tokens = self.milli_tokens.saturating_add(change).min(milli(max_tokens)).max(0);
            }
            RetryBudgetSpec::AwsQuota { capacity, retry_cost, timeout_cost, success_refund } if success => {
                let refund = match attempt {
                    AttemptKind::First => success_refund,
                    AttemptKind::Retry { after_timeout: false } => retry_cost,
                    AttemptKind::Retry { after_timeout: true } => timeout_cost,
                };
                self.milli_tokens = self.milli_tokens.saturating_add(milli(refund)).min(milli(capacity));
            }
            _ => {}
        }
    }

    /// May a retry be sent now? `after_timeout` when the attempt it replaces timed out (the AWS
    /// quota charges more). On yes the retry is paid for (Finagle withdraws, AWS takes its cost)
    /// and holds a place until [`RetryBudget::on_retry_end`]; on no the request fails with its
    /// last outcome. Always yes when off.
    pub fn try_retry(&mut self, spec: &RetryBudgetSpec, now: Nanos, after_timeout: bool) -> bool {
        self.sync(spec);
        let allowed = match *spec {
            RetryBudgetSpec::Off => true,
            // A6: allowed while tokens > maxTokens / 2 (grpc-java halves the thousandths, as here).
            RetryBudgetSpec::Grpc { max_tokens, .. } => self.milli_tokens > milli(max_tokens) / 2,
            RetryBudgetSpec::Finagle { .. } => {
                let terms = FinagleTerms::of(spec);
                let [sum] = self.finagle.totals(now);
                let allowed = sum.saturating_add(terms.reserve) >= terms.withdrawal;
                if allowed {
                    self.finagle.add(terms.window, now, 0, -terms.withdrawal);
                }
                allowed
            }
            RetryBudgetSpec::Envoy { budget_percent, min_retry_concurrency } => {
                self.retries_outstanding < envoy_max_retries(budget_percent, min_retry_concurrency, self.in_flight)
            }
            RetryBudgetSpec::AwsQuota { retry_cost, timeout_cost, .. } => {
                let cost = milli(if after_timeout { timeout_cost } else { retry_cost });
                let allowed = self.milli_tokens >= cost;
                if allowed {
                    self.milli_tokens = self.milli_tokens.saturating_sub(cost);
                }
                allowed
            }
        };
        if allowed {
            self.retries_outstanding = self.retries_outstanding.saturating_add(1);
        }
        if !spec.is_off() {
            let counter = if allowed { &mut self.stats.allowed } else { &mut self.stats.refused };
            *counter += 1;
        }
        allowed
    }

    /// The budget's level for cards and plots, as (what is left now, its scale); `None` when off.
    ///
    /// * gRPC: (tokens, `max_tokens`); retries pass while the first is above half the second.
    /// * Finagle: (retries allowed now, `⌊min_retries_per_sec · ttl⌋` the reserve alone allows);
    ///   the first is Finagle's `balance` and can exceed the second when requests are many.
    /// * Envoy: (concurrent retries still allowed now, the cap on them now).
    /// * AWS: (tokens available, `capacity`).
    pub fn level(&self, spec: &RetryBudgetSpec, now: Nanos) -> Option<(f64, f64)> {
        // A spec of another kind than the state: show the state a reset would give.
        let fresh = Algorithm::of(spec) != self.algorithm;
        let tokens = |full: f64| if fresh { full } else { self.milli_tokens.min(milli(full)).max(0) as f64 / MILLI };
        match *spec {
            RetryBudgetSpec::Off => None,
            RetryBudgetSpec::Grpc { max_tokens, .. } => Some((tokens(max_tokens), max_tokens)),
            RetryBudgetSpec::AwsQuota { capacity, .. } => Some((tokens(capacity), capacity)),
            RetryBudgetSpec::Finagle { .. } => {
                let terms = FinagleTerms::of(spec);
                let [sum] = if fresh { [0] } else { self.finagle.totals(now) };
                let balance = sum.saturating_add(terms.reserve).max(0) / terms.withdrawal;
                Some((balance as f64, (terms.reserve / terms.withdrawal) as f64))
            }
            RetryBudgetSpec::Envoy { budget_percent, min_retry_concurrency } => {
                let cap = envoy_max_retries(budget_percent, min_retry_concurrency, self.in_flight);
                Some((cap.saturating_sub(self.retries_outstanding) as f64, cap as f64))
            }
        }
    }

    /// Sets the state up for `spec`: from scratch when its algorithm changed, clamped to the new
    /// parameters otherwise.
    fn sync(&mut self, spec: &RetryBudgetSpec) {
        let algorithm = Algorithm::of(spec);
        let fresh = algorithm != self.algorithm;
        if fresh {
            self.algorithm = algorithm;
            self.finagle.clear();
        }
        match *spec {
            RetryBudgetSpec::Grpc { max_tokens: full, .. } | RetryBudgetSpec::AwsQuota { capacity: full, .. } => {
                let full = milli(full);
                self.milli_tokens = if fresh { full } else { self.milli_tokens.min(full) }.max(0);
            }
            _ => {}
        }
    }
}

/// `x` tokens in thousandths, rounded: A6's values have at most three decimals, and rounding
/// (where grpc-java truncates) keeps 1.001 (1000.999… after the product) from becoming 1000
/// thousandths. Saturates; a NaN is 0 (neither passes the registry).
fn milli(x: f64) -> i64 {
    (x * MILLI).round() as i64
}

/// Envoy's cap on concurrent retries: `max(min_retry_concurrency, budget_percent/100 · active)`,
/// the share truncated to an integer as Envoy's `uint64_t` conversion does. Computed as
/// `percent · active / 100`, exact whenever the share is a whole number: Envoy's
/// `percent / 100.0 · active` can land one ulp below it and lose a retry (29 % of 100 active
/// gives 28.999…, so 28).
fn envoy_max_retries(budget_percent: f64, min_retry_concurrency: u32, active: u64) -> u64 {
    let share = (budget_percent * active as f64 / 100.0) as u64;
    share.max(u64::from(min_retry_concurrency))
}

/// Finagle's constants for one spec, as `RetryBudget.apply` computes them.
struct FinagleTerms {
    /// `ttl` in nanoseconds: the span of the windowed sum.
    window: Nanos,
    /// Added per request: 1000, or 0 when `percent_can_retry` is 0 (then only the reserve pays).
    deposit: i64,
    /// Taken per retry: `⌊1000 / percent_can_retry⌋` (Scala's `toInt`, so at most `i32::MAX`),
    /// or 1 when the percentage is 0.
    withdrawal: i64,
    /// `⌊min_retries_per_sec · ttl⌋ · withdrawal`: the retries allowed per `ttl` with no deposits.
    reserve: i64,
}

impl FinagleTerms {
    fn of(spec: &RetryBudgetSpec) -> Self {
        let RetryBudgetSpec::Finagle { ttl, min_retries_per_sec, percent_can_retry } = *spec else {
            return Self { window: 1, deposit: 0, withdrawal: 1, reserve: 0 };
        };
        let (deposit, withdrawal) = if percent_can_retry > 0.0 {
            // `as` truncates and saturates like `toInt`; the clamp keeps a NaN from becoming 0.
            (FINAGLE_DEPOSIT, ((FINAGLE_DEPOSIT as f64 / percent_can_retry) as i64).clamp(1, i64::from(i32::MAX)))
        } else {
            (0, 1)
        };
        let reserve_retries = ((min_retries_per_sec * ttl).floor() as i64).max(0);
        Self { window: secs_to_nanos(ttl), deposit, withdrawal, reserve: reserve_retries.saturating_mul(withdrawal) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Finder, Lister, Value, out_of_bounds};

    const SEC: Nanos = 1_000_000_000;

    fn kind(name: &str) -> RetryBudgetSpec {
        RetryBudgetSpec::with_defaults(name).unwrap()
    }

    /// Retries allowed in a row at `now` (stops at 10 000).
    fn drain(b: &mut RetryBudget, spec: &RetryBudgetSpec, now: Nanos, after_timeout: bool) -> u32 {
        (0..10_000).take_while(|_| b.try_retry(spec, now, after_timeout)).count() as u32
    }

    #[test]
    fn grpc_follows_a6s_worked_example() {
        // max_tokens 4, token_ratio 1.6: tokens start at 4; retries pass while tokens > 2.
        let s = RetryBudgetSpec::Grpc { max_tokens: 4.0, token_ratio: 1.6 };
        let mut b = RetryBudget::new();
        assert_eq!(b.level(&s, 0), Some((4.0, 4.0)));
        let mut seen = Vec::new();
        for success in [false, true, false, false] {
            b.on_outcome(&s, 0, success, AttemptKind::First);
            let tokens = b.level(&s, 0).unwrap().0;
            let retry = (!success).then(|| b.try_retry(&s, 0, false));
            seen.push((tokens, retry));
        }
        assert_eq!(seen, [(3.0, Some(true)), (4.0, None), (3.0, Some(true)), (2.0, Some(false))]);
        assert_eq!(b.stats, RetryBudgetStats { allowed: 2, refused: 1 });
        // Never below 0; a success from 0 adds exactly the ratio.
        for _ in 0..10 {
            b.on_outcome(&s, 0, false, AttemptKind::First);
        }
        b.on_outcome(&s, 0, true, AttemptKind::First);
        assert_eq!(b.level(&s, 0), Some((1.6, 4.0)));
        // Thousandths are rounded, not truncated: 1.001 · 1000 is 1000.999… in binary.
        assert_eq!((milli(1.001), milli(0.1), milli(f64::NAN)), (1001, 100, 0));
    }

    #[test]
    fn grpc_defaults_shut_retries_off_after_five_straight_failures() {
        // 10 tokens, threshold 5: four failures leave 6 (retries pass), a fifth leaves 5 (refused),
        // and ten successes at 0.1 bring back one token (retries pass again).
        let s = kind("grpc");
        let mut b = RetryBudget::new();
        for _ in 0..4 {
            b.on_outcome(&s, 0, false, AttemptKind::First);
        }
        assert!(b.try_retry(&s, 0, false));
        b.on_outcome(&s, 0, false, AttemptKind::First);
        assert!(!b.try_retry(&s, 0, false));
        for _ in 0..10 {
            b.on_outcome(&s, 0, true, AttemptKind::First);
        }
        assert_eq!(b.level(&s, 0), Some((6.0, 10.0)));
        assert!(b.try_retry(&s, 0, false));
    }

    #[test]
    fn envoy_caps_concurrent_retries_at_a_share_of_the_active_requests() {
        // 20 %, minimum 3: 25 active allow 5 concurrent retries; 2 active allow 3.
        let s = kind("envoy");
        let mut b = RetryBudget::new();
        for _ in 0..25 {
            b.on_attempt_sent(&s, 0);
        }
        assert_eq!(b.level(&s, 0), Some((5.0, 5.0)));
        assert_eq!(drain(&mut b, &s, 0, false), 5);
        assert_eq!(b.level(&s, 0), Some((0.0, 5.0)));
        // A retry that ends gives its place back; no cooldown.
        b.on_retry_end(&s, 0);
        assert_eq!(drain(&mut b, &s, 0, false), 1);
        for _ in 0..23 {
            b.on_attempt_end(&s, 0);
        }
        for _ in 0..5 {
            b.on_retry_end(&s, 0);
        }
        assert_eq!(b.level(&s, 0), Some((3.0, 3.0)));
        assert_eq!(drain(&mut b, &s, 0, false), 3);
        // Ends never counted as starts saturate at zero rather than wrap.
        for _ in 0..10 {
            b.on_attempt_end(&s, 0);
            b.on_retry_end(&s, 0);
        }
        assert_eq!(b.level(&s, 0), Some((3.0, 3.0)));
        assert_eq!(b.stats, RetryBudgetStats { allowed: 9, refused: 3 });
        // The share is exact where Envoy's `0.29 · 100` would truncate 28.999… to 28.
        assert_eq!(envoy_max_retries(29.0, 3, 100), 29);
        assert_eq!(envoy_max_retries(20.0, 3, 24), 4);
    }

    #[test]
    fn finagle_allows_a_fifth_of_recent_requests_plus_its_reserve() {
        // ttl 10 s, 10 retries/s, 20 %: a retry costs w = ⌊1000/0.2⌋ = 5000 and the reserve is
        // 10 · 10 · 5000 = 500 000. With no requests the reserve pays 500 000 / 5000 = 100
        // retries. 100 requests deposit 100 · 1000 = 100 000 more: (100 000 + 500 000) / 5000 =
        // 120 retries, i.e. 20 % of the requests plus 100, and the 121st is refused.
        let s = kind("finagle");
        let mut b = RetryBudget::new();
        assert_eq!(b.level(&s, 0), Some((100.0, 100.0)));
        for _ in 0..100 {
            b.on_request(&s, 0);
        }
        assert_eq!(b.level(&s, 0), Some((120.0, 100.0)));
        assert_eq!(drain(&mut b, &s, 0, false), 120);
        assert_eq!(b.stats, RetryBudgetStats { allowed: 120, refused: 1 });
        // Withdrawals expire with the deposits: still spent 9.999 s later (the window is ten
        // 1 s slices), all forgotten at 10 s, when the reserve alone allows 100 again.
        assert!(!b.try_retry(&s, 10 * SEC - 1, false));
        assert_eq!(drain(&mut b, &s, 10 * SEC, false), 100);
    }

    #[test]
    fn finagle_in_steady_state_retries_a_share_per_ttl() {
        // 50 requests/s, retrying greedily each second: in every 10 s window after the first, the
        // deposits (500 requests) pay for 100 retries and the reserve for 100 more.
        let s = kind("finagle");
        let mut b = RetryBudget::new();
        let mut per_second = Vec::new();
        for second in 0..40 {
            let now = second * SEC;
            for _ in 0..50 {
                b.on_request(&s, now);
            }
            per_second.push(drain(&mut b, &s, now, false));
        }
        // The first second takes the whole reserve and 10 s of credit for its 50 requests; the
        // windowed sums then repeat with the ttl's period.
        assert_eq!(per_second[0], 110);
        for window in per_second[10..].chunks(10) {
            assert_eq!(window.iter().sum::<u32>(), 200, "{per_second:?}");
        }
        // Without a share, only the reserve pays: ⌊min · ttl⌋ = 100 retries per ttl.
        let only_reserve = RetryBudgetSpec::Finagle { ttl: 10.0, min_retries_per_sec: 10.0, percent_can_retry: 0.0 };
        let mut b = RetryBudget::new();
        for _ in 0..1000 {
            b.on_request(&only_reserve, 0);
        }
        assert_eq!(drain(&mut b, &only_reserve, 0, false), 100);
        // No share and no reserve: Finagle's `Empty`, never a retry.
        let empty = RetryBudgetSpec::Finagle { ttl: 10.0, min_retries_per_sec: 0.0, percent_can_retry: 0.0 };
        assert_eq!(drain(&mut RetryBudget::new(), &empty, 0, false), 0);
    }

    #[test]
    fn aws_quota_pays_for_retries_and_refunds_successes() {
        // 500 tokens, 5 per retry: 100 retries, then refused; 10 per retry after a timeout.
        let s = kind("aws_quota");
        let mut b = RetryBudget::new();
        assert_eq!(drain(&mut b, &s, 0, false), 100);
        assert_eq!(b.level(&s, 0), Some((0.0, 500.0)));
        let mut t = RetryBudget::new();
        assert_eq!(drain(&mut t, &s, 0, true), 50);
        // A failure refunds nothing; a retried success gives back its retry's cost.
        b.on_outcome(&s, 0, false, AttemptKind::Retry { after_timeout: false });
        assert_eq!(b.level(&s, 0), Some((0.0, 500.0)));
        b.on_outcome(&s, 0, true, AttemptKind::Retry { after_timeout: false });
        assert_eq!(b.level(&s, 0), Some((5.0, 500.0)));
        b.on_outcome(&s, 0, true, AttemptKind::Retry { after_timeout: true });
        assert_eq!(b.level(&s, 0), Some((15.0, 500.0)));
        assert_eq!(drain(&mut b, &s, 0, true), 1);
        assert_eq!(drain(&mut b, &s, 0, false), 1);
        // A success without retries gives back 1: five of them pay for one retry.
        for _ in 0..5 {
            b.on_outcome(&s, 0, true, AttemptKind::First);
        }
        assert_eq!(drain(&mut b, &s, 0, false), 1);
        // Never above the capacity.
        let mut full = RetryBudget::new();
        full.on_outcome(&s, 0, true, AttemptKind::Retry { after_timeout: true });
        assert_eq!(full.level(&s, 0), Some((500.0, 500.0)));
    }

    #[test]
    fn a_change_of_algorithm_starts_it_afresh_and_a_change_of_parameters_keeps_the_state() {
        let grpc = kind("grpc");
        let aws = kind("aws_quota");
        let envoy = kind("envoy");
        let mut b = RetryBudget::new();
        for _ in 0..8 {
            b.on_outcome(&grpc, 0, false, AttemptKind::First);
            b.on_attempt_sent(&grpc, 0);
        }
        assert!(!b.try_retry(&grpc, 0, false));
        // Another algorithm starts full; coming back starts gRPC full again.
        assert_eq!(b.level(&aws, 0), Some((500.0, 500.0)));
        assert!(b.try_retry(&aws, 0, false));
        assert_eq!(b.level(&aws, 0), Some((495.0, 500.0)));
        assert!(b.try_retry(&grpc, 0, false));
        // The attempts in flight were counted all along: Envoy sees 8 (share 1, minimum 3) and
        // the 2 retries granted above.
        assert_eq!(b.level(&envoy, 0), Some((1.0, 3.0)));
        // A smaller max_tokens clamps the tokens; a larger one does not refill them.
        let small = RetryBudgetSpec::Grpc { max_tokens: 4.0, token_ratio: 0.1 };
        b.on_outcome(&grpc, 0, false, AttemptKind::First);
        assert_eq!(b.level(&grpc, 0), Some((9.0, 10.0)));
        b.on_outcome(&small, 0, true, AttemptKind::First);
        assert_eq!(b.level(&small, 0), Some((4.0, 4.0)));
        b.on_outcome(&grpc, 0, false, AttemptKind::First);
        assert_eq!(b.level(&grpc, 0), Some((3.0, 10.0)));
        // Off allows everything and counts nothing.
        let stats = b.stats;
        assert!(b.try_retry(&RetryBudgetSpec::Off, 0, false));
        assert_eq!((b.stats, b.level(&RetryBudgetSpec::Off, 0)), (stats, None));
        assert!(transparent(&RetryBudgetSpec::default()) && !transparent(&grpc));
    }

    #[test]
    fn finagle_ttl_change_keeps_the_sums_for_one_new_ttl() {
        let s = kind("finagle");
        let mut b = RetryBudget::new();
        for _ in 0..100 {
            b.on_request(&s, 0);
        }
        let longer = RetryBudgetSpec::Finagle { ttl: 20.0, min_retries_per_sec: 10.0, percent_can_retry: 0.2 };
        // 100 000 deposited, reserve now 10 · 20 · 5000 = 1 000 000: 220 retries.
        assert_eq!(drain(&mut b, &longer, 5 * SEC, false), 220);
        // The sums now sit in the 2 s slice [4 s, 6 s), forgotten when the slice ten later begins.
        assert!(!b.try_retry(&longer, 24 * SEC - 1, false));
        assert_eq!(b.level(&longer, 24 * SEC), Some((200.0, 200.0)));
    }

    #[test]
    fn ron_reads_the_variant_names_with_defaults() {
        let read = |text: &str| ron::from_str::<RetryBudgetSpec>(text);
        assert_eq!(read("Off").unwrap(), RetryBudgetSpec::Off);
        assert_eq!(
            read("Grpc(max_tokens: 10.0, token_ratio: 0.1)").unwrap(),
            RetryBudgetSpec::Grpc { max_tokens: 10.0, token_ratio: 0.1 }
        );
        assert_eq!(read("Grpc(max_tokens: 4)").unwrap(), RetryBudgetSpec::Grpc { max_tokens: 4.0, token_ratio: 0.1 });
        assert_eq!(read("Finagle()").unwrap(), kind("finagle"));
        assert_eq!(
            read("Finagle(ttl: 30.0, percent_can_retry: 0.1)").unwrap(),
            RetryBudgetSpec::Finagle { ttl: 30.0, min_retries_per_sec: 10.0, percent_can_retry: 0.1 }
        );
        assert_eq!(
            read("Envoy(budget_percent: 25.0)").unwrap(),
            RetryBudgetSpec::Envoy { budget_percent: 25.0, min_retry_concurrency: 3 }
        );
        assert_eq!(
            read("AwsQuota(capacity: 100.0)").unwrap(),
            RetryBudgetSpec::AwsQuota { capacity: 100.0, retry_cost: 5.0, timeout_cost: 10.0, success_refund: 1.0 }
        );
        for bad in ["Grpc(max_token: 4.0)", "Gprc()", "grpc()", "Envoy(min_retry_concurrency: -1)"] {
            assert!(read(bad).is_err(), "{bad}");
        }
        // Round trip, as an exported scenario writes it.
        for name in KINDS {
            let spec = kind(name);
            let text = ron::to_string(&spec).unwrap();
            assert_eq!(read(&text).unwrap(), spec, "{text}");
        }
    }

    #[test]
    fn registry_switches_kind_with_defaults_and_checks_bounds() {
        let mut spec = RetryBudgetSpec::Off;
        let paths = |spec: &mut RetryBudgetSpec| {
            let mut l = Lister::new("edge.retry_budget");
            spec.visit(&mut l);
            l.out.into_iter().map(|p| p.path).collect::<Vec<_>>()
        };
        assert_eq!(paths(&mut spec), ["edge.retry_budget.kind"]);
        let set = |spec: &mut RetryBudgetSpec, path: &str, value: Value| {
            let mut result = Err(String::new());
            let mut f = Finder::new(path, |field| result = field.set(&value));
            spec.visit(&mut f);
            result
        };
        set(&mut spec, "kind", Value::Choice("envoy".into())).unwrap();
        assert_eq!(spec, kind("envoy"));
        assert_eq!(
            paths(&mut spec),
            ["edge.retry_budget.kind", "edge.retry_budget.budget_percent", "edge.retry_budget.min_retry_concurrency"]
        );
        assert!(set(&mut spec, "budget_percent", Value::Real(120.0)).is_err());
        set(&mut spec, "min_retry_concurrency", Value::Count(0)).unwrap();
        // Naming the current kind keeps its parameters.
        set(&mut spec, "kind", Value::Choice("envoy".into())).unwrap();
        assert_eq!(spec, RetryBudgetSpec::Envoy { budget_percent: 20.0, min_retry_concurrency: 0 });
        assert!(set(&mut spec, "kind", Value::Choice("hystrix".into())).is_err());
        set(&mut spec, "kind", Value::Choice("aws_quota".into())).unwrap();
        assert_eq!(spec, kind("aws_quota"));
        // The scenario file is held to the same bounds.
        let mut bad = RetryBudgetSpec::Grpc { max_tokens: 0.0, token_ratio: 0.1 };
        assert_eq!(out_of_bounds(&mut bad).len(), 1);
        let mut bad = RetryBudgetSpec::Finagle { ttl: 0.5, min_retries_per_sec: -1.0, percent_can_retry: 2000.0 };
        assert_eq!(out_of_bounds(&mut bad).len(), 3);
        for name in KINDS {
            assert!(out_of_bounds(&mut kind(name)).is_empty(), "{name}");
        }
    }

    #[test]
    fn extreme_values_the_registry_allows_do_not_panic() {
        let specs = [
            RetryBudgetSpec::Grpc { max_tokens: 0.001, token_ratio: 1000.0 },
            RetryBudgetSpec::Finagle { ttl: 60.0, min_retries_per_sec: 1e6, percent_can_retry: 1e-300 },
            RetryBudgetSpec::Finagle { ttl: 1.0, min_retries_per_sec: 0.0, percent_can_retry: 1000.0 },
            RetryBudgetSpec::Envoy { budget_percent: 100.0, min_retry_concurrency: u32::MAX },
            RetryBudgetSpec::AwsQuota {
                capacity: MAX_TOKENS,
                retry_cost: 0.0,
                timeout_cost: MAX_TOKENS,
                success_refund: MAX_TOKENS,
            },
        ];
        for s in &specs {
            let mut b = RetryBudget::new();
            for now in [0, 1, u64::MAX / 2, u64::MAX] {
                b.on_request(s, now);
                b.on_attempt_sent(s, now);
                b.try_retry(s, now, true);
                b.on_outcome(s, now, true, AttemptKind::Retry { after_timeout: true });
                b.on_outcome(s, now, false, AttemptKind::First);
                b.on_attempt_end(s, now);
                b.on_retry_end(s, now);
                let (left, scale) = b.level(s, now).unwrap();
                assert!(left.is_finite() && scale.is_finite() && left >= 0.0, "{s:?}: {left} {scale}");
            }
        }
    }
}
