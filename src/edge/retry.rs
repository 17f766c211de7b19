//! The retry layer, outermost on an edge: how many attempts, which outcomes are retried, and
//! the backoff between them with the AWS "Exponential Backoff and Jitter" formulas
//! (resilience-semantics §2a; attempt counting as gRPC's A6 `maxAttempts`).
//!
//! Retry decides after an attempt's outcome: wait and send again, or give up with that outcome.
//! The server's Retry-After hint replaces the backoff when `honour_retry_after` is on (gRPC's
//! `grpc-retry-pushback-ms`).

use serde::{Deserialize, Serialize};

use super::Outcome;
use crate::choice_enum;
use crate::engine::rng::{SimRng, unit};
use crate::engine::time::{Nanos, secs_to_nanos};
use crate::params::{Field, Params, Visitor};

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

fn yes() -> bool {
    true
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
            ("rate_limited", Outcome::RateLimited),
            ("throttled", Outcome::Throttled),
            ("limit_exceeded", Outcome::LimitExceeded),
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

/// True when the edge makes a single attempt: nothing to retry.
#[inline]
pub fn transparent(spec: &RetrySpec) -> bool {
    spec.max_attempts <= 1
}

/// The delay before retry number `retry` (1 = before the second attempt).
///
/// `expo(n) = min(cap, backoff · multiplier^(n−1))`; jitter as in the AWS article:
/// none = `expo`, full = `U(0, expo)`, equal = `expo/2 + U(0, expo/2)`,
/// decorrelated = `min(cap, U(base, 3·previous))` starting from `previous = base`.
pub fn backoff(spec: &RetrySpec, retry: u32, previous: Nanos, rng: &mut SimRng) -> Nanos {
    let base = spec.backoff.max(0.0);
    let cap = spec.max_backoff.max(0.0);
    let expo = (base * spec.multiplier.powi(retry.saturating_sub(1).min(1024) as i32)).min(cap);
    let secs = match spec.jitter {
        Jitter::None => expo,
        Jitter::Full => unit(rng) * expo,
        Jitter::Equal => expo / 2.0 + unit(rng) * expo / 2.0,
        Jitter::Decorrelated => {
            let prev = if previous == 0 { base } else { previous as f64 / 1e9 };
            let hi = (3.0 * prev).max(base);
            (base + unit(rng) * (hi - base)).min(cap)
        }
    };
    secs_to_nanos(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;

    #[test]
    fn backoff_without_jitter_is_capped_exponential() {
        let s = RetrySpec { backoff: 0.1, multiplier: 2.0, max_backoff: 0.5, ..RetrySpec::default() };
        let mut rng = stream(1, "x", "y");
        let d: Vec<_> = (1..=5).map(|n| backoff(&s, n, 0, &mut rng)).collect();
        assert_eq!(d, [100_000_000, 200_000_000, 400_000_000, 500_000_000, 500_000_000]);
    }
}
