//! Concurrency limits and bulkheads at a service's entry: a cap on the requests inside the
//! node (queued or in service), node-wide and per pool of classes.
//!
//! * Node-wide: seed 001's `BackpressureMiddleware` (a semaphore of `max_concurrent`, default
//!   100, taken without blocking when a request arrives and released when its response leaves;
//!   when none is free the answer is 503 at once), refused as `concurrency_limit`.
//! * Per pool: seed 001's bulkhead ("isolate resources by tenant/functionality": critical 50,
//!   standard 30, batch 20, each answering 503 when exhausted) as Resilience4j's
//!   `SemaphoreBulkhead` with its default `maxWaitDuration` of 0 (resilience-semantics §7): a
//!   request of a pool's classes that finds the pool's permits all taken is refused at once as
//!   `bulkhead_full`. A slow dependency then holds only its own pool's permits, so the other
//!   classes keep theirs.
//!
//! The permits count requests inside the node, so a limit without a queue in front of
//! exponential service is M/M/c/c, whose refusal probability is Erlang B (tested in
//! `tests/integration/theory.rs`).

use serde::{Deserialize, Serialize};

use crate::params::{Field, Params, Visitor};

/// A node-wide concurrency limit and per-class bulkheads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Concurrency")]
pub struct ConcurrencySpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Requests allowed inside the node at once (seed 001's `max_concurrent`, default 100);
    /// none = no node-wide limit (pools only).
    #[serde(default = "hundred")]
    pub max_concurrent: Option<u32>,
    /// How long a request waits for a permit before it is refused, in seconds (Resilience4j's
    /// `maxWaitDuration`, default 0: refused at once). Waiters are served first come, first
    /// served (a fair semaphore).
    #[serde(default)]
    pub max_wait: f64,
    /// Bulkheads: each caps the requests of its classes inside the node.
    #[serde(default)]
    pub pools: Vec<PoolSpec>,
}

/// One bulkhead: the classes or tenants it serves and its permits (Resilience4j
/// `maxConcurrentCalls`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Pool")]
pub struct PoolSpec {
    /// Class names served by this pool (each class in at most one pool).
    #[serde(default)]
    pub classes: Vec<String>,
    /// Tenants served by this pool: every class of theirs (a class's `tenant`, or its name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<String>,
    /// Permits (default 25, Resilience4j's `maxConcurrentCalls`).
    #[serde(default = "twenty_five")]
    pub max_concurrent: u32,
    /// How long a request of these classes waits for one of the pool's permits before it is
    /// refused, in seconds (default 0: at once; seed 001's pools wait up to 5 s).
    #[serde(default)]
    pub max_wait: f64,
}

fn yes() -> bool {
    true
}
fn hundred() -> Option<u32> {
    Some(100)
}
fn twenty_five() -> u32 {
    25
}

impl Default for ConcurrencySpec {
    /// Seed 001's 100, disabled (no `concurrency:` in the file).
    fn default() -> Self {
        Self { enabled: false, max_concurrent: hundred(), max_wait: 0.0, pools: Vec::new() }
    }
}

impl ConcurrencySpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }
}

impl Params for ConcurrencySpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "cap on requests inside the node");
        v.field(
            "max_concurrent",
            Field::OptionalCount(&mut self.max_concurrent),
            "requests inside at once (503 when all are taken); unbounded if none",
        );
        v.field(
            "max_wait",
            Field::Seconds(&mut self.max_wait),
            "how long a request waits for a permit (0: refused at once)",
        );
        for pool in &mut self.pools {
            let name = pool.name();
            v.group("pools", &mut Named(name, pool));
        }
    }
}

impl PoolSpec {
    /// The pool's name in parameter paths and on cards: its classes and tenants, `+`-joined.
    pub fn name(&self) -> String {
        self.classes.iter().chain(&self.tenants).cloned().collect::<Vec<_>>().join("+")
    }

    /// Whether a request of class `class` of tenant `tenant` is this pool's.
    pub fn serves(&self, class: &str, tenant: &str) -> bool {
        self.classes.iter().any(|c| c == class) || self.tenants.iter().any(|t| t == tenant)
    }
}

/// A pool under its classes' names (`api.concurrency.pools.batch.max_concurrent`).
struct Named<'a>(String, &'a mut PoolSpec);

impl Params for Named<'_> {
    fn visit(&mut self, v: &mut dyn Visitor) {
        let pool = &mut *self.1;
        v.group(&self.0, &mut PoolParams(pool));
    }
}

struct PoolParams<'a>(&'a mut PoolSpec);

impl Params for PoolParams<'_> {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("max_concurrent", Field::Count(&mut self.0.max_concurrent, 0), "permits of this bulkhead");
        v.field("max_wait", Field::Seconds(&mut self.0.max_wait), "how long a request waits for a permit (0: at once)");
    }
}

/// Why a request was refused by the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The node-wide limit is reached (`concurrency_limit`).
    Limit,
    /// Its class's pool is exhausted (`bulkhead_full`).
    PoolFull,
}

/// Permits in use per pool. Clock-free. The node-wide count is the node's own count of
/// requests inside, which the engine passes in, so it is exact however often the limit is
/// switched on and off.
#[derive(Clone, Debug, Default)]
pub struct Concurrency {
    /// Pool index of each class (`None`: in no pool).
    pool_of: Vec<Option<usize>>,
    pool_in_use: Vec<u32>,
}

impl Concurrency {
    /// Maps classes, given as (name, tenant) by index as the engine numbers them, to the spec's
    /// pools (the first that serves each).
    pub fn new(spec: &ConcurrencySpec, classes: &[(String, String)]) -> Self {
        let pool_of = classes.iter().map(|(c, t)| spec.pools.iter().position(|p| p.serves(c, t))).collect();
        Self { pool_of, pool_in_use: vec![0; spec.pools.len()] }
    }

    /// Takes a permit for a request of `class` arriving at a node that holds `inside` requests
    /// (not counting this one), or says why none is free. Pool permits are counted whether the
    /// limit is enabled or not, so switching it on acts on the real occupancy.
    pub fn try_acquire(&mut self, spec: &ConcurrencySpec, class: u8, inside: u32) -> Result<(), Refusal> {
        let pool = self.pool_of.get(class as usize).copied().flatten();
        if spec.enabled {
            if spec.max_concurrent.is_some_and(|max| inside >= max) {
                return Err(Refusal::Limit);
            }
            if let Some(p) = pool
                && self.pool_in_use[p] >= spec.pools.get(p).map_or(u32::MAX, |p| p.max_concurrent)
            {
                return Err(Refusal::PoolFull);
            }
        }
        if let Some(p) = pool {
            self.pool_in_use[p] += 1;
        }
        Ok(())
    }

    /// How long a request of `class` refused for `why` may wait for a permit, in seconds: the
    /// pool's `max_wait` when its pool is full, the node-wide one otherwise.
    pub fn max_wait(&self, spec: &ConcurrencySpec, class: u8, why: Refusal) -> f64 {
        let pool = self.pool_of.get(class as usize).copied().flatten().and_then(|p| spec.pools.get(p));
        match (why, pool) {
            (Refusal::PoolFull, Some(pool)) => pool.max_wait,
            _ => spec.max_wait,
        }
    }

    /// Why a request of `class` would be refused now (`None`: a permit is free), without
    /// taking anything.
    pub fn refusal(&self, spec: &ConcurrencySpec, class: u8, inside: u32) -> Option<Refusal> {
        if !spec.enabled {
            return None;
        }
        if spec.max_concurrent.is_some_and(|max| inside >= max) {
            return Some(Refusal::Limit);
        }
        let pool = self.pool_of.get(class as usize).copied().flatten()?;
        (self.pool_in_use[pool] >= spec.pools.get(pool).map_or(u32::MAX, |p| p.max_concurrent))
            .then_some(Refusal::PoolFull)
    }

    /// Gives back the pool permit of a request of `class` leaving the node (answered,
    /// forwarded, dropped, cancelled or lost in a crash).
    pub fn release(&mut self, class: u8) {
        if let Some(p) = self.pool_of.get(class as usize).copied().flatten() {
            self.pool_in_use[p] = self.pool_in_use[p].saturating_sub(1);
        }
    }

    /// Permits in use in pool `p`.
    pub fn pool_in_use(&self, p: usize) -> u32 {
        self.pool_in_use.get(p).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(max: Option<u32>, pools: &[(&str, u32)]) -> ConcurrencySpec {
        ConcurrencySpec {
            enabled: true,
            max_concurrent: max,
            max_wait: 0.0,
            pools: pools
                .iter()
                .map(|(c, n)| PoolSpec {
                    classes: vec![c.to_string()],
                    tenants: Vec::new(),
                    max_concurrent: *n,
                    max_wait: 0.0,
                })
                .collect(),
        }
    }

    /// Classes that are their own tenants.
    fn named(classes: &[&str]) -> Vec<(String, String)> {
        classes.iter().map(|c| (c.to_string(), c.to_string())).collect()
    }

    #[test]
    fn a_tenant_pool_holds_every_class_of_its_tenant() {
        let s = ConcurrencySpec {
            enabled: true,
            max_concurrent: None,
            max_wait: 0.0,
            pools: vec![PoolSpec { classes: vec![], tenants: vec!["acme".into()], max_concurrent: 2, max_wait: 0.0 }],
        };
        let classes = [
            ("web".to_string(), "acme".to_string()),
            ("batch".into(), "acme".into()),
            ("other".into(), "globex".into()),
        ];
        let mut c = Concurrency::new(&s, &classes);
        assert_eq!(c.try_acquire(&s, 0, 0), Ok(()));
        assert_eq!(c.try_acquire(&s, 1, 1), Ok(()));
        assert_eq!(c.try_acquire(&s, 0, 2), Err(Refusal::PoolFull), "acme's two classes share its two permits");
        assert_eq!(c.try_acquire(&s, 2, 2), Ok(()), "globex is in no pool");
        assert_eq!(s.pools[0].name(), "acme");
    }

    #[test]
    fn the_middleware_refuses_at_once_when_every_permit_is_taken() {
        let s = spec(Some(2), &[]);
        let mut c = Concurrency::new(&s, &named(&["default"]));
        assert_eq!(c.try_acquire(&s, 0, 0), Ok(()));
        assert_eq!(c.try_acquire(&s, 0, 1), Ok(()));
        assert_eq!(c.try_acquire(&s, 0, 2), Err(Refusal::Limit));
    }

    #[test]
    fn a_full_pool_refuses_only_its_own_classes() {
        // Seed 001's pools, scaled down: critical 5, batch 2.
        let s = spec(None, &[("critical", 5), ("batch", 2)]);
        let mut c = Concurrency::new(&s, &named(&["critical", "batch", "other"]));
        assert_eq!(c.try_acquire(&s, 1, 0), Ok(()));
        assert_eq!(c.try_acquire(&s, 1, 1), Ok(()));
        assert_eq!(c.try_acquire(&s, 1, 2), Err(Refusal::PoolFull));
        for i in 0..5 {
            assert_eq!(c.try_acquire(&s, 0, 2 + i), Ok(()), "batch's exhaustion leaves critical its permits");
        }
        assert_eq!(c.try_acquire(&s, 0, 7), Err(Refusal::PoolFull));
        assert_eq!(c.try_acquire(&s, 2, 7), Ok(()), "a class in no pool is limited only node-wide");
        c.release(1);
        assert_eq!(c.pool_in_use(1), 1);
        assert_eq!(c.try_acquire(&s, 1, 7), Ok(()));
    }

    #[test]
    fn a_refused_request_may_wait_as_long_as_its_pool_or_the_node_says() {
        let mut s = spec(Some(3), &[("batch", 1)]);
        s.max_wait = 0.5;
        s.pools[0].max_wait = 5.0;
        let mut c = Concurrency::new(&s, &named(&["batch", "web"]));
        assert_eq!(c.refusal(&s, 0, 0), None);
        assert_eq!(c.try_acquire(&s, 0, 0), Ok(()));
        assert_eq!(c.refusal(&s, 0, 1), Some(Refusal::PoolFull));
        assert_eq!(c.max_wait(&s, 0, Refusal::PoolFull), 5.0, "seed 001: pool.submit(…, timeout=5)");
        assert_eq!(c.refusal(&s, 1, 3), Some(Refusal::Limit));
        assert_eq!(c.max_wait(&s, 1, Refusal::Limit), 0.5);
        c.release(0);
        assert_eq!(c.refusal(&s, 0, 0), None, "a released permit is free again");
    }

    #[test]
    fn disabled_admits_everything_but_keeps_counting_pools() {
        let mut s = spec(Some(1), &[("batch", 1)]);
        s.enabled = false;
        let mut c = Concurrency::new(&s, &named(&["batch"]));
        for i in 0..10 {
            assert_eq!(c.try_acquire(&s, 0, i), Ok(()));
        }
        assert_eq!(c.pool_in_use(0), 10);
        s.enabled = true;
        assert_eq!(c.try_acquire(&s, 0, 10), Err(Refusal::Limit));
        for _ in 0..10 {
            c.release(0);
        }
        assert_eq!(c.pool_in_use(0), 0);
    }
}
