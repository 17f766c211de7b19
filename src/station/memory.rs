//! Memory at a station: what requests hold, the OOM kill at the container's limit, the
//! CrashLoopBackOff restart, and GC pressure as the heap fills.
//!
//! **The failure it shows.** An unbounded queue turns overload into memory: "A queue grew until
//! memory ran out. […] Memory grows. The OOM killer arrives. The service restarts. The queue is
//! empty again, briefly. The cycle repeats." (seed 003). Seed 000 lists it as failure mode F5,
//! "Unbounded buffering → OOM or disk growth; fix: set bounds and shed", and seed 001 names the
//! signs: "Growing memory … GC increasingly frequent".
//!
//! **Memory.** A process holds `base` MB idle, `per_queued` MB per request waiting in its queue
//! and `per_in_service` MB per request being served (or holding a worker):
//! `used = base + per_queued · queued + per_in_service · in_service`. The engine calls
//! [`Memory::observe`] whenever those gauges change while the node runs; peak usage is tracked.
//!
//! **OOM kill.** With a `limit`, the process is killed the moment `used > limit` (strictly: at
//! exactly the limit it survives, as the kernel's OOM killer acts on an allocation that does not
//! fit). Nothing it held survives: on a [`Kill`] the engine should drop the queued and in-service
//! requests (their callers see the connection reset), refuse arrivals while the node is down, and
//! call [`Memory::restarted`] at [`Kill::restart_at`]. That is what empties the queue "briefly".
//!
//! **CrashLoopBackOff** (Kubernetes pod lifecycle docs, "Container restarts"; capacity-and-
//! experiments §2): a container that keeps exiting is restarted after an exponential back-off of
//! 10 s, 20 s, 40 s … capped at 5 min, and the back-off is reset once the container has run for
//! 10 min without a problem. Here the n-th kill in a row waits `restart_delay · 2ⁿ⁻¹`, at most
//! `max_restart_delay`. Running time counts from the last (re)start, and the reset is applied
//! when the next kill happens (lazily, as the kubelet's client-go `Backoff.Next` checks for
//! expiry, though it measures from the last back-off rather than the restart): a kill is the only
//! thing the back-off is used for, so this gives the same restarts as checking at every
//! observation, without depending on how often the engine observes. A run of exactly
//! `reset_after` counts ("has run for 10 minutes").
//!
//! **GC pressure.** With `gc_slowdown = g` and a limit, a service time started at fill
//! `f = used / limit` is multiplied by `1 + g · f²`. A tracing collector runs once per
//! `limit − live` MB allocated, so its share of the CPU grows with the fill and sharply near the
//! limit (the JVM gives up at 98 % of time in GC: "GC overhead limit exceeded"). The true cost,
//! about `f / (1 − f)`, diverges at the limit and would stop a node short of its kill; `f²` keeps
//! that shape (flat with headroom, steepest near the limit) while staying finite, and `g` reads
//! directly: the factor at the limit is `1 + g`, at 90 % full `1 + 0.81 g`.
//!
//! **Clock-free.** [`Memory`] holds no clock and no RNG and never allocates: every method takes
//! `now`, so a run is reproducible and the engine decides when things happen.
//!
//! **Live changes.** The spec is read at each call. A kill fixes its restart instant: raising the
//! limit (or disabling the model) while the node is down does not bring it back sooner, and it
//! restarts at the instant given; the new limit applies from the first observation after that.
//! A limit lowered below the current usage kills at the next observation. A change of the delays
//! applies from the next kill, with the count of kills in a row kept. A spec the validation would
//! reject (base ≥ limit) kills the node at each restart, the back-off growing to its cap: a real
//! crash loop. Nothing panics, whatever the numbers.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::engine::time::{Nanos, nanos_to_secs, secs_to_nanos};
use crate::params::{Field, Params, Visitor};

/// The largest amount of memory the registry accepts for any field, in MB (10¹² MB, an exabyte).
pub const MAX_MB: f64 = 1e12;

/// The largest `gc_slowdown` the registry accepts: service 1001 times slower at the limit.
pub const MAX_GC_SLOWDOWN: f64 = 1e3;

/// Memory use, an OOM-killing limit and CrashLoopBackOff restarts at a station.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Memory")]
pub struct MemorySpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Resident memory of the idle process, MB (default 0).
    #[serde(default)]
    pub base: f64,
    /// MB held per request waiting in the queue (default 0).
    #[serde(default)]
    pub per_queued: f64,
    /// MB held per request being served or holding a worker (default 0).
    #[serde(default)]
    pub per_in_service: f64,
    /// The container's memory limit, MB: killed above it. None: never killed, still measured.
    #[serde(default)]
    pub limit: Option<f64>,
    /// Back-off before the first restart after a kill, seconds (Kubernetes: 10 s).
    #[serde(default = "restart_delay")]
    pub restart_delay: f64,
    /// Cap on the doubling back-off, seconds (Kubernetes: 5 min).
    #[serde(default = "max_restart_delay")]
    pub max_restart_delay: f64,
    /// Running this long since the last (re)start resets the back-off, seconds (Kubernetes:
    /// 10 min).
    #[serde(default = "reset_after")]
    pub reset_after: f64,
    /// g ≥ 0: a service time started at fill f = used / limit is multiplied by 1 + g·f².
    /// Default 0 (no GC slowdown); needs a limit.
    #[serde(default)]
    pub gc_slowdown: f64,
}

fn yes() -> bool {
    true
}

fn restart_delay() -> f64 {
    10.0
}

fn max_restart_delay() -> f64 {
    300.0
}

fn reset_after() -> f64 {
    600.0
}

impl Default for MemorySpec {
    /// Disabled (no `memory:` in the file), with Kubernetes' restart timings ready for when it
    /// is switched on.
    fn default() -> Self {
        Self {
            enabled: false,
            base: 0.0,
            per_queued: 0.0,
            per_in_service: 0.0,
            limit: None,
            restart_delay: restart_delay(),
            max_restart_delay: max_restart_delay(),
            reset_after: reset_after(),
            gc_slowdown: 0.0,
        }
    }
}

impl MemorySpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }

    /// MB held by a running process with these gauges.
    pub fn used(&self, queued: u32, in_service: u32) -> f64 {
        self.base + self.per_queued * f64::from(queued) + self.per_in_service * f64::from(in_service)
    }

    /// The back-off before restarting after the `(streak + 1)`-th kill in a row:
    /// `restart_delay · 2^streak`, at most `max_restart_delay`.
    pub fn backoff(&self, streak: u32) -> Nanos {
        // 2⁶⁴ times the smallest positive delay (1 ns) is already past any cap in range.
        let exponent = i32::try_from(streak.min(64)).unwrap_or(64);
        let secs = self.restart_delay * 2f64.powi(exponent);
        // NaN compares false and is then read as 0 by `secs_to_nanos`, as are negatives.
        secs_to_nanos(if secs > self.max_restart_delay { self.max_restart_delay } else { secs })
    }

    /// Cross-field rules the registry's bounds cannot express; the message says what to write.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.restart_delay.partial_cmp(&self.max_restart_delay), Some(Ordering::Less | Ordering::Equal)) {
            return Err(format!(
                "restart_delay ({} s) must be at most max_restart_delay ({} s): lower restart_delay or raise \
                 max_restart_delay",
                self.restart_delay, self.max_restart_delay
            ));
        }
        match self.limit {
            Some(limit) if self.base.partial_cmp(&limit) != Some(Ordering::Less) => Err(format!(
                "base ({} MB) must be below limit ({limit} MB), else the node is killed as soon as it starts: raise \
                 limit, lower base, or write `limit: None` to measure memory without killing",
                self.base
            )),
            None if self.gc_slowdown > 0.0 => Err(format!(
                "gc_slowdown ({}) needs a limit, since the slowdown grows with used / limit: set `limit: Some(MB)` \
                 or write `gc_slowdown: 0.0`",
                self.gc_slowdown
            )),
            _ => Ok(()),
        }
    }
}

impl Params for MemorySpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "memory use, OOM kill at the limit and restarts");
        v.field("base", Field::Real(&mut self.base, 0.0, MAX_MB), "MB held by the idle process");
        v.field("per_queued", Field::Real(&mut self.per_queued, 0.0, MAX_MB), "MB held per request in the queue");
        v.field(
            "per_in_service",
            Field::Real(&mut self.per_in_service, 0.0, MAX_MB),
            "MB held per request being served",
        );
        // There is no optional-real field kind (`OptionalSeconds` would list MB as a duration),
        // so `limit` is a plain number with 0 for none: no process fits in 0 MB, so 0 cannot be
        // meant as a limit. The field is written back only when it was set, so listing or
        // checking leaves a file's `Some(0.0)` (which `validate` rejects) as it was.
        let shown = self.limit.unwrap_or(0.0);
        let mut limit = shown;
        v.field(
            "limit",
            Field::Real(&mut limit, 0.0, MAX_MB),
            "memory limit in MB: killed (OOM) above it; 0 for none (measured, never killed)",
        );
        if limit.to_bits() != shown.to_bits() {
            self.limit = (limit > 0.0).then_some(limit);
        }
        v.field("restart_delay", Field::Seconds(&mut self.restart_delay), "back-off before the first restart");
        v.field(
            "max_restart_delay",
            Field::Seconds(&mut self.max_restart_delay),
            "cap on the back-off, which doubles with each kill in a row",
        );
        v.field(
            "reset_after",
            Field::Seconds(&mut self.reset_after),
            "running this long without a kill resets the back-off",
        );
        v.field(
            "gc_slowdown",
            Field::Real(&mut self.gc_slowdown, 0.0, MAX_GC_SLOWDOWN),
            "g: service time × (1 + g·fill²), fill = used / limit",
        );
    }
}

/// An OOM kill, from [`Memory::observe`]: the engine drops what the node held and schedules its
/// restart at `restart_at`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Kill {
    /// When it was killed.
    pub at: Nanos,
    /// MB in use at the kill (above the limit).
    pub used: f64,
    /// When it comes back: `at + backoff`, saturating.
    pub restart_at: Nanos,
    /// The back-off this kill waits.
    pub backoff: Nanos,
}

/// What a station's memory did since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct MemoryStats {
    /// OOM kills.
    pub oom_kills: u64,
    /// Restarts after a kill.
    pub restarts: u64,
    /// Highest usage observed while running, MB.
    pub peak_mb: f64,
    /// Time spent killed, up to the last restart, seconds.
    pub time_down_s: f64,
    /// The back-off of the latest kill, seconds (0 before any).
    pub backoff_s: f64,
}

/// Whether the process is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Up since this instant (the start or the last restart).
    Running { since: Nanos },
    /// Killed at `at`, due back at `restart_at`.
    Killed { at: Nanos, restart_at: Nanos },
}

/// The memory state of one station.
#[derive(Clone, Debug, PartialEq)]
pub struct Memory {
    phase: Phase,
    /// Kills since the back-off was last reset: the next kill waits `backoff(streak)`.
    streak: u32,
    /// Time spent killed, up to the last restart (exact; `stats.time_down_s` is its seconds).
    down: Nanos,
    /// Counters for the report.
    pub stats: MemoryStats,
}

impl Default for Memory {
    /// Running since the start of the run.
    fn default() -> Self {
        Self::new(0)
    }
}

impl Memory {
    /// A process started at `now`.
    pub fn new(now: Nanos) -> Self {
        Self { phase: Phase::Running { since: now }, streak: 0, down: 0, stats: MemoryStats::default() }
    }

    /// MB in use: the spec's sum while running, 0 while killed (the process is gone) or with the
    /// model disabled.
    pub fn used(&self, spec: &MemorySpec, queued: u32, in_service: u32) -> f64 {
        if spec.enabled && self.running() { spec.used(queued, in_service) } else { 0.0 }
    }

    /// Called whenever the gauges change while the node runs: tracks the peak and kills the
    /// process if it is over its limit. Does nothing while killed or with the model disabled.
    pub fn observe(&mut self, spec: &MemorySpec, now: Nanos, queued: u32, in_service: u32) -> Option<Kill> {
        let Phase::Running { since } = self.phase else { return None };
        if !spec.enabled {
            return None;
        }
        let used = spec.used(queued, in_service);
        if used > self.stats.peak_mb {
            self.stats.peak_mb = used;
        }
        // NaN is never over the limit.
        if !spec.limit.is_some_and(|limit| used > limit) {
            return None;
        }
        if self.stable_since(spec, since, now) {
            self.streak = 0;
        }
        let backoff = spec.backoff(self.streak);
        self.streak = self.streak.saturating_add(1);
        let restart_at = now.saturating_add(backoff);
        self.phase = Phase::Killed { at: now, restart_at };
        self.stats.oom_kills += 1;
        self.stats.backoff_s = nanos_to_secs(backoff);
        Some(Kill { at: now, used, restart_at, backoff })
    }

    /// Whether a process up since `since` has run long enough by `now` to reset the back-off.
    fn stable_since(&self, spec: &MemorySpec, since: Nanos, now: Nanos) -> bool {
        now.saturating_sub(since) >= secs_to_nanos(spec.reset_after)
    }

    /// When the killed node is due back; None while it runs.
    pub fn restart_due(&self) -> Option<Nanos> {
        match self.phase {
            Phase::Killed { restart_at, .. } => Some(restart_at),
            Phase::Running { .. } => None,
        }
    }

    /// The engine brought the node back at `now` (normally at [`Memory::restart_due`]): counts
    /// the restart and the time down. Does nothing if it is running.
    pub fn restarted(&mut self, now: Nanos) {
        if let Phase::Killed { at, .. } = self.phase {
            self.down = self.down.saturating_add(now.saturating_sub(at));
            self.stats.time_down_s = nanos_to_secs(self.down);
            self.stats.restarts += 1;
            self.phase = Phase::Running { since: now };
        }
    }

    /// Whether the process is up.
    pub fn running(&self) -> bool {
        matches!(self.phase, Phase::Running { .. })
    }

    /// Time spent killed up to `now`, the current outage included.
    pub fn time_down(&self, now: Nanos) -> Nanos {
        match self.phase {
            Phase::Killed { at, .. } => self.down.saturating_add(now.saturating_sub(at)),
            Phase::Running { .. } => self.down,
        }
    }

    /// The back-off a kill at `now` would wait (the reset included); while killed, the one the
    /// next kill after a quick restart would wait.
    pub fn next_backoff(&self, spec: &MemorySpec, now: Nanos) -> Nanos {
        match self.phase {
            Phase::Running { since } if self.stable_since(spec, since, now) => spec.backoff(0),
            _ => spec.backoff(self.streak),
        }
    }

    /// The GC factor on a service time starting now: `1 + g · f²` at fill `f = used / limit`
    /// (clamped to [0, 1]); 1 without a limit, with the model off, or while killed.
    pub fn slowdown(&self, spec: &MemorySpec, queued: u32, in_service: u32) -> f64 {
        let Some(limit) = spec.limit else { return 1.0 };
        let fill = (self.used(spec, queued, in_service) / limit).clamp(0.0, 1.0);
        let factor = 1.0 + spec.gc_slowdown * fill * fill;
        // NaN (a NaN spec, 0/0) gives 1; the upper clamp keeps live values the registry would
        // reject from making a service time infinite.
        if factor >= 1.0 { factor.min(1.0 + MAX_GC_SLOWDOWN) } else { 1.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Finder, Kind, Lister, Value, out_of_bounds};

    const MS: Nanos = 1_000_000;
    const SEC: Nanos = 1_000_000_000;

    fn spec(base: f64, per_queued: f64, limit: Option<f64>) -> MemorySpec {
        MemorySpec { enabled: true, base, per_queued, limit, ..MemorySpec::default() }
    }

    /// Kills the running node at `now` (queue far over the limit) and returns the kill.
    fn kill(mem: &mut Memory, spec: &MemorySpec, now: Nanos) -> Kill {
        mem.observe(spec, now, u32::MAX, 0).expect("over the limit")
    }

    #[test]
    fn memory_is_base_plus_what_requests_hold() {
        let s = MemorySpec { per_in_service: 8.0, ..spec(100.0, 2.0, None) };
        let mem = Memory::new(0);
        assert_eq!(mem.used(&s, 0, 0), 100.0);
        assert_eq!(mem.used(&s, 10, 3), 100.0 + 20.0 + 24.0);
        assert_eq!(mem.used(&MemorySpec { enabled: false, ..s.clone() }, 10, 3), 0.0);
        // No limit: measured, peak tracked, never killed.
        let mut mem = Memory::new(0);
        assert_eq!(mem.observe(&s, SEC, 1_000_000, 50), None);
        assert_eq!(mem.observe(&s, 2 * SEC, 5, 0), None);
        assert_eq!(mem.stats.peak_mb, 100.0 + 2e6 + 400.0);
        assert!(mem.running());
        assert_eq!(mem.slowdown(&s, 1_000_000, 50), 1.0);
    }

    #[test]
    fn killed_only_strictly_above_the_limit() {
        // 100 + 2 · 462 = 1024: at the limit it survives; one more request kills it.
        let s = spec(100.0, 2.0, Some(1024.0));
        let mut mem = Memory::new(0);
        assert_eq!(mem.observe(&s, SEC, 462, 0), None);
        let k = mem.observe(&s, 2 * SEC, 463, 0).unwrap();
        assert_eq!(k, Kill { at: 2 * SEC, used: 1026.0, restart_at: 12 * SEC, backoff: 10 * SEC });
        assert!(!mem.running());
        assert_eq!(mem.restart_due(), Some(12 * SEC));
        assert_eq!((mem.stats.oom_kills, mem.stats.peak_mb, mem.stats.backoff_s), (1, 1026.0, 10.0));
        // A dead process holds nothing and cannot be killed again.
        assert_eq!(mem.used(&s, 463, 0), 0.0);
        assert_eq!(mem.observe(&s, 3 * SEC, 10_000, 0), None);
        assert_eq!(mem.stats.peak_mb, 1026.0);
        mem.restarted(12 * SEC);
        assert!(mem.running());
        assert_eq!(mem.restart_due(), None);
        assert_eq!(mem.stats.restarts, 1);
    }

    #[test]
    fn the_back_off_doubles_to_its_cap() {
        let s = spec(100.0, 2.0, Some(1024.0));
        let mut mem = Memory::new(0);
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..7 {
            now += SEC;
            let k = kill(&mut mem, &s, now);
            waits.push(k.backoff / SEC);
            now = k.restart_at;
            mem.restarted(now);
        }
        assert_eq!(waits, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(mem.stats.oom_kills, 7);
        assert_eq!(mem.stats.backoff_s, 300.0);
        // A huge streak neither overflows nor passes the cap.
        assert_eq!(s.backoff(u32::MAX), 300 * SEC);
    }

    #[test]
    fn six_hundred_seconds_of_running_resets_the_back_off() {
        let s = spec(100.0, 2.0, Some(1024.0));
        let mut mem = Memory::new(0);
        let k = kill(&mut mem, &s, SEC);
        mem.restarted(k.restart_at);
        let k = kill(&mut mem, &s, k.restart_at + SEC);
        assert_eq!(k.backoff, 20 * SEC);
        mem.restarted(k.restart_at);
        // 599 s up: not yet stable, the back-off keeps doubling.
        assert_eq!(mem.next_backoff(&s, k.restart_at + 599 * SEC), 40 * SEC);
        let k = kill(&mut mem, &s, k.restart_at + 599 * SEC);
        assert_eq!(k.backoff, 40 * SEC);
        mem.restarted(k.restart_at);
        // 600 s up: reset, as Kubernetes does after 10 minutes without a problem.
        assert_eq!(mem.next_backoff(&s, k.restart_at + 600 * SEC), 10 * SEC);
        let k = kill(&mut mem, &s, k.restart_at + 600 * SEC);
        assert_eq!(k.backoff, 10 * SEC);
        mem.restarted(k.restart_at);
        assert_eq!(kill(&mut mem, &s, k.restart_at + SEC).backoff, 20 * SEC);
        // Running counts from the start for a node never killed.
        let mut fresh = Memory::new(100 * SEC);
        assert_eq!(kill(&mut fresh, &s, 700 * SEC).backoff, 10 * SEC);
    }

    #[test]
    fn time_down_counts_each_outage() {
        let s = spec(100.0, 2.0, Some(1024.0));
        let mut mem = Memory::new(0);
        let k = kill(&mut mem, &s, 5 * SEC);
        assert_eq!(mem.time_down(9 * SEC), 4 * SEC);
        mem.restarted(k.restart_at);
        assert_eq!(mem.stats.time_down_s, 10.0);
        // Restarted again at once does nothing.
        mem.restarted(100 * SEC);
        assert_eq!((mem.stats.restarts, mem.time_down(100 * SEC)), (1, 10 * SEC));
        let k = kill(&mut mem, &s, 20 * SEC);
        assert_eq!(k.restart_at, 40 * SEC);
        // The engine may bring it back late (or early); the real outage is what counts.
        mem.restarted(42 * SEC + 500 * MS);
        assert_eq!(mem.time_down(50 * SEC), 32 * SEC + 500 * MS);
        assert_eq!(mem.stats.time_down_s, 32.5);
        assert_eq!(mem.stats.restarts, 2);
    }

    #[test]
    fn gc_slowdown_grows_with_the_square_of_the_fill() {
        let s = MemorySpec { gc_slowdown: 3.0, ..spec(0.0, 1.0, Some(100.0)) };
        let mem = Memory::new(0);
        assert_eq!(mem.slowdown(&s, 0, 0), 1.0);
        assert_eq!(mem.slowdown(&s, 50, 0), 1.75);
        assert!((mem.slowdown(&s, 90, 0) - (1.0 + 3.0 * 0.81)).abs() < 1e-12);
        assert_eq!(mem.slowdown(&s, 100, 0), 4.0);
        // Past the limit (the kill comes at the next observation) it stays at 1 + g.
        assert_eq!(mem.slowdown(&s, 500, 0), 4.0);
        assert_eq!(mem.slowdown(&MemorySpec { gc_slowdown: 0.0, ..s.clone() }, 100, 0), 1.0);
        assert_eq!(mem.slowdown(&MemorySpec { limit: None, ..s.clone() }, 100, 0), 1.0);
        assert_eq!(mem.slowdown(&MemorySpec { enabled: false, ..s }, 100, 0), 1.0);
    }

    #[test]
    fn a_growing_queue_is_killed_every_fill_plus_back_off() {
        // The seed's cycle: a queue growing at r = 10 req/s of m = 2 MB each, base b = 100 MB,
        // limit L = 1025 MB. The engine loses the queue at each kill and restarts on time.
        // One arrival every `step`, none leaving; driven step by step through observe().
        fn kill_instants(step: Nanos, until: Nanos) -> Vec<Nanos> {
            let s = spec(100.0, 2.0, Some(1025.0));
            let mut mem = Memory::new(0);
            let mut kills = Vec::new();
            let (mut queued, mut now) = (0u32, 0);
            while now < until {
                now += step;
                if mem.restart_due().is_some_and(|at| now >= at) {
                    mem.restarted(now);
                    queued = 0;
                    continue;
                }
                if mem.running() {
                    queued += 1;
                    if let Some(k) = mem.observe(&s, now, queued, 0) {
                        kills.push(k.at);
                    }
                }
            }
            kills
        }
        // Continuous fill time (L − b)/(r·m) = 46.25 s; the queue is whole requests, so the kill
        // comes at the first arrival over it, q = ⌊(L − b)/m⌋ + 1 = 463, at q / r = 46.3 s.
        let (r, m, b, l) = (10.0, 2.0, 100.0, 1025.0);
        let fill_s: f64 = (l - b) / (r * m);
        let discrete = ((l - b) / m).floor() + 1.0;
        assert!((discrete / r - fill_s).abs() <= 1.0 / r);
        let fill = secs_to_nanos(discrete / r);
        // Kills at fill, fill + d₁ + fill, … with d = 10, 20, 40, … capped at 300 s.
        let mut expected = Vec::new();
        let mut at = fill;
        for delay in [10, 20, 40, 80, 160, 300, 300, 300] {
            expected.push(at);
            at += delay * SEC + fill;
        }
        assert_eq!(kill_instants(100 * MS, 1300 * SEC), expected);
        // A leak slower than the reset: r = 0.5/s fills in 926 s ≥ 600 s, so every restart waits
        // 10 s and the node dies every 936 s, never falling into the capped back-off.
        let slow = kill_instants(2 * SEC, 3000 * SEC).iter().map(|&t| t / SEC).collect::<Vec<_>>();
        assert_eq!(slow, [926, 926 + 10 + 926, 2 * (926 + 10) + 926]);
    }

    #[test]
    fn live_changes_and_odd_values_do_not_panic() {
        let mut s = spec(100.0, 2.0, Some(1024.0));
        let mut mem = Memory::new(0);
        let k = kill(&mut mem, &s, SEC);
        // Raising the limit (or disabling) while down keeps the restart that was scheduled.
        s.limit = Some(1e6);
        s.enabled = false;
        assert_eq!(mem.restart_due(), Some(k.restart_at));
        s.enabled = true;
        mem.restarted(k.restart_at);
        assert_eq!(mem.observe(&s, 20 * SEC, 1000, 0), None);
        // Lowering it below the usage kills at the next observation.
        s.limit = Some(500.0);
        assert!(mem.observe(&s, 21 * SEC, 1000, 0).is_some());
        mem.restarted(100 * SEC);
        // base ≥ limit, set live: killed at each restart, the back-off up to its cap.
        s.limit = Some(50.0);
        let waits: Vec<_> = (0..8)
            .map(|_| {
                let now = mem.restart_due().unwrap_or(200 * SEC);
                mem.restarted(now);
                mem.observe(&s, now, 0, 0).map(|k| k.backoff / SEC)
            })
            .collect();
        assert_eq!(waits, [Some(40), Some(80), Some(160), Some(300), Some(300), Some(300), Some(300), Some(300)]);
        // Values the registry rejects: no panic, and NaN neither kills nor slows.
        for x in [f64::NAN, f64::INFINITY, -1.0, 0.0, 1e308] {
            let odd = MemorySpec {
                enabled: true,
                base: x,
                per_queued: x,
                per_in_service: x,
                limit: Some(x),
                restart_delay: x,
                max_restart_delay: x,
                reset_after: x,
                gc_slowdown: x,
            };
            let mut mem = Memory::new(u64::MAX);
            for now in [u64::MAX, 0, 5] {
                if let Some(k) = mem.observe(&odd, now, u32::MAX, u32::MAX) {
                    assert!(k.restart_at >= k.at);
                }
                let f = mem.slowdown(&odd, u32::MAX, 7);
                assert!((1.0..=1.0 + MAX_GC_SLOWDOWN).contains(&f));
                mem.restarted(now);
                let _ = (mem.next_backoff(&odd, now), mem.time_down(now), odd.validate());
            }
        }
        assert_eq!(spec(f64::NAN, 1.0, Some(10.0)).backoff(3), 80 * SEC);
        assert_eq!(Memory::new(0).observe(&spec(f64::NAN, 1.0, Some(10.0)), 0, 1, 0), None);
    }

    #[test]
    fn validation_says_what_to_write() {
        assert_eq!(spec(100.0, 2.0, Some(1024.0)).validate(), Ok(()));
        assert_eq!(spec(100.0, 2.0, None).validate(), Ok(()));
        let err = spec(1024.0, 2.0, Some(1024.0)).validate().unwrap_err();
        assert!(err.contains("raise limit") && err.contains("limit: None"), "{err}");
        let slow = MemorySpec { restart_delay: 400.0, ..spec(0.0, 1.0, None) };
        assert!(slow.validate().unwrap_err().contains("max_restart_delay"));
        let gc = MemorySpec { gc_slowdown: 1.0, ..spec(0.0, 1.0, None) };
        assert!(gc.validate().unwrap_err().contains("gc_slowdown: 0.0"));
        assert!(MemorySpec { limit: Some(10.0), ..gc }.validate().is_ok());
    }

    #[test]
    fn registry_paths_bounds_and_limit_zero_for_none() {
        let mut s = spec(100.0, 2.0, None);
        let mut lister = Lister::new("api.memory");
        s.visit(&mut lister);
        let listed: Vec<_> = lister.out.iter().map(|p| (p.path.as_str(), p.kind.clone(), p.value.clone())).collect();
        let mb = Kind::Real { min: 0.0, max: MAX_MB };
        assert_eq!(
            listed,
            [
                ("api.memory.enabled", Kind::Flag, Value::Flag(true)),
                ("api.memory.base", mb.clone(), Value::Real(100.0)),
                ("api.memory.per_queued", mb.clone(), Value::Real(2.0)),
                ("api.memory.per_in_service", mb.clone(), Value::Real(0.0)),
                ("api.memory.limit", mb, Value::Real(0.0)),
                ("api.memory.restart_delay", Kind::Seconds, Value::Real(10.0)),
                ("api.memory.max_restart_delay", Kind::Seconds, Value::Real(300.0)),
                ("api.memory.reset_after", Kind::Seconds, Value::Real(600.0)),
                ("api.memory.gc_slowdown", Kind::Real { min: 0.0, max: MAX_GC_SLOWDOWN }, Value::Real(0.0)),
            ]
        );
        assert!(out_of_bounds(&mut s).is_empty());
        assert_eq!(s.limit, None);

        fn set(s: &mut MemorySpec, path: &str, value: Value) -> Result<(), String> {
            let mut result = Err("not found".to_string());
            let mut finder = Finder::new(path, |field| result = field.set(&value));
            s.visit(&mut finder);
            result
        }
        for (path, bad) in [
            ("base", Value::Real(-1.0)),
            ("per_queued", Value::Real(2e12)),
            ("limit", Value::Real(-5.0)),
            ("limit", Value::Unset),
            ("restart_delay", Value::Real(-1.0)),
            ("gc_slowdown", Value::Real(-0.1)),
            ("gc_slowdown", Value::Real(1e4)),
        ] {
            assert!(set(&mut s, path, bad.clone()).is_err(), "{path} = {bad}");
        }
        assert_eq!(s, spec(100.0, 2.0, None));
        set(&mut s, "limit", Value::Count(2048)).unwrap();
        assert_eq!(s.limit, Some(2048.0));
        set(&mut s, "limit", Value::Real(0.0)).unwrap();
        assert_eq!(s.limit, None);
        set(&mut s, "gc_slowdown", Value::Real(2.5)).unwrap();
        assert_eq!(s.gc_slowdown, 2.5);
        // A file's bad values are caught by the same bounds, and `Some(0.0)` is left for
        // `validate` to reject rather than quietly turned into no limit.
        let mut odd = MemorySpec { per_queued: -1.0, limit: Some(0.0), ..spec(0.0, 1.0, None) };
        assert_eq!(out_of_bounds(&mut odd).len(), 1);
        assert_eq!(odd.limit, Some(0.0));
        assert!(odd.validate().is_err());
    }

    #[test]
    fn the_spec_reads_from_ron_with_defaults_and_round_trips() {
        let text = "Memory(base: 100.0, per_queued: 2.0, limit: Some(1024.0))";
        let s: MemorySpec = ron::from_str(text).unwrap();
        assert_eq!(s, spec(100.0, 2.0, Some(1024.0)));
        let back: MemorySpec = ron::from_str(&ron::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(ron::from_str::<MemorySpec>("Memory(limt: Some(1.0))").is_err());
        assert!(MemorySpec::default().is_off());
        assert!(!s.is_off());
        let stats = MemoryStats { oom_kills: 3, peak_mb: 1026.0, ..MemoryStats::default() };
        let json = serde_json::to_string(&stats).unwrap();
        assert!(json.contains("\"oom_kills\":3") && json.contains("\"time_down_s\":0.0"), "{json}");
    }
}
