//! Structure-aware fuzzing (issue 12, "Proof"): random scenario files built from the format's
//! own structure, with hostile values mixed in (huge, zero, negative, non-finite, wrong type,
//! unsafe names), some of them then damaged as text, plus random live changes.
//!
//! Every case must end without a panic, within a wall budget, and either
//! * be refused with located diagnostics (`file:line:col`, inside the text, one line each), or
//! * run (with the population cap and the events-per-instant bound lowered so each case is
//!   small) with exact conservation at every node, and give a byte-identical report when built
//!   and run again.
//!
//! `cargo test` runs [`CASES`] cases from a fixed seed. The campaign:
//! `SLUICE_FUZZ_CASES=10000 cargo test --no-default-features fuzz_campaign -- --ignored --nocapture`
//! (`SLUICE_FUZZ_SEED` picks another seed) prints the counts by outcome.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt as _, SeedableRng};
use sluice::{Sim, Stop};

/// Cases in a plain `cargo test`.
const CASES: u64 = 400;
/// Wall budget per case (debug builds on a loaded 2-core machine included).
const BUDGET: Duration = Duration::from_secs(20);
/// Events handled per run at most: keeps every case small; the run limits are what is tested.
const MAX_EVENTS: u64 = 200_000;
/// Chance that a number is a hostile one (with ~20 numbers a file, about half the files hold one).
const HOSTILE: f64 = 0.03;

struct Gen(Xoshiro256PlusPlus);

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.0.random::<f64>() < p
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    /// A number for a field whose sensible values lie in `lo..hi`; sometimes hostile.
    fn num(&mut self, lo: f64, hi: f64) -> String {
        if !self.chance(HOSTILE) {
            return format!("{:.4}", lo + self.0.random::<f64>() * (hi - lo));
        }
        self.pick(&[
            "0.0",
            "-1.0",
            "1e308",
            "9.3e9",
            "9.2e9",
            "1e-12",
            "1e9",
            "2e9",
            "NaN",
            "inf",
            "4294967296",
            "1",
            "\"x\"",
        ])
        .to_string()
    }
    /// A whole number in `lo..hi`; sometimes hostile.
    fn int(&mut self, lo: u64, hi: u64) -> String {
        if !self.chance(HOSTILE) {
            return self.0.random_range(lo..hi).to_string();
        }
        self.pick(&["0", "4294967295", "4294967296", "1e9", "-1", "1000001", "2.5", "99999999999999999999"]).to_string()
    }
    fn dist(&mut self, lo: f64, hi: f64) -> String {
        // Work and thinking that take no time, now and then: zero-time loops must be caught.
        let mean = if self.chance(0.08) { "0.0".to_string() } else { self.num(lo, hi) };
        match self.below(8) {
            0 => format!("Deterministic(mean: {mean})"),
            1 => format!("Uniform(mean: {mean}, half_width: {})", self.num(0.0, lo.max(0.001))),
            2 => format!("LogNormal(mean: {mean}, cv: {})", self.num(0.1, 3.0)),
            3 => format!("Gamma(mean: {mean}, shape: {})", self.num(0.5, 4.0)),
            4 => format!("Erlang(mean: {mean}, k: {})", self.int(1, 5)),
            5 => format!("Pareto(mean: {mean}, alpha: {})", self.num(1.5, 4.0)),
            _ => format!("Exponential(mean: {mean})"),
        }
    }
    fn policy(&mut self) -> String {
        let mut s = String::new();
        if self.chance(0.4) {
            let _ = write!(s, "timeout: {}, ", self.num(0.05, 3.0));
        }
        if self.chance(0.2) {
            s.push_str("cancel_on_timeout: true, ");
        }
        if self.chance(0.4) {
            let _ = write!(
                s,
                "retry: Retry(max_attempts: {}, backoff: {}, multiplier: {}, jitter: {}, honour_retry_after: {}), ",
                self.int(1, 5),
                self.num(0.0, 0.5),
                self.num(1.0, 3.0),
                self.pick(&["None", "Full", "Equal", "Decorrelated"]),
                self.chance(0.5)
            );
        }
        if self.chance(0.3) {
            let _ = write!(
                s,
                "breaker: Breaker(window: {}, min_calls: {}, failure_rate: {}, open_wait: {}, automatic_half_open: {}), ",
                self.int(1, 30),
                self.int(1, 20),
                self.num(10.0, 90.0),
                self.num(0.0, 5.0),
                self.chance(0.5)
            );
        }
        if self.chance(0.15) {
            let _ = write!(
                s,
                "rate_limit: RateLimit(rate: {}, burst: Some({}), key: {}, excess: {}, max_delay: Some({})), ",
                self.num(0.5, 50.0),
                self.num(1.0, 20.0),
                self.pick(&["Global", "Class", "Tenant", "Endpoint"]),
                self.pick(&["Reject", "Delay"]),
                self.num(0.01, 2.0)
            );
        }
        if self.chance(0.1) {
            s.push_str("fallback: Fallback(), ");
        }
        if self.chance(0.15) {
            let budget = match self.below(4) {
                0 => format!("Grpc(max_tokens: {}, token_ratio: {})", self.num(1.0, 20.0), self.num(0.01, 2.0)),
                1 => format!("Finagle(ttl: {}, percent_can_retry: {})", self.num(1.0, 60.0), self.num(0.0, 1.0)),
                2 => format!(
                    "Envoy(budget_percent: {}, min_retry_concurrency: {})",
                    self.num(0.0, 100.0),
                    self.int(0, 5)
                ),
                _ => format!("AwsQuota(capacity: {}, retry_cost: {})", self.num(0.0, 100.0), self.num(0.0, 10.0)),
            };
            let _ = write!(s, "retry_budget: {budget}, ");
        }
        if self.chance(0.1) {
            let _ = write!(s, "throttle: Throttle(k: {}, window: {}), ", self.num(1.0, 3.0), self.num(0.5, 10.0));
        }
        if self.chance(0.15) {
            s.push_str("propagate_deadline: true, ");
        }
        if self.chance(0.15) {
            let _ = write!(s, "hedge: Hedge(delay: {}, quantile: {}), ", self.num(0.001, 0.2), self.num(0.0, 0.99));
        }
        if self.chance(0.1) {
            let _ = write!(s, "network: Network(request: {}, loss: {}), ", self.dist(0.0, 0.05), self.num(0.0, 0.3));
        }
        if self.chance(0.04) {
            let limit = self.adaptive_limit();
            let _ = write!(s, "adaptive_limit: {limit}, ");
        }
        s
    }

    /// A service's admission controllers, with values that are sometimes out of bounds.
    fn admission(&mut self) -> String {
        let mut s = String::new();
        if self.chance(0.1) {
            let _ = write!(
                s,
                "rate_limit: RateLimit(rate: {}, burst: Some({}), key: {}), ",
                self.num(0.5, 50.0),
                self.num(1.0, 20.0),
                self.pick(&["Global", "Class", "Tenant", "Endpoint"])
            );
        }
        if self.chance(0.1) {
            let _ = write!(
                s,
                "entry_gate: EntryGate(max_queue: Some({}), max_latency: Some({})), ",
                self.int(0, 10),
                self.num(0.01, 1.0)
            );
        }
        if self.chance(0.1) {
            let _ = write!(
                s,
                "shed: Shed(shed_sheddable_above: {}, critical_only_above: {}, load: Load(signal: {}, window: {})), ",
                self.num(0.0, 1.0),
                self.num(0.0, 1.0),
                self.pick(&["Utilization", "Utilization", "InFlight", "QueueFill"]),
                self.num(0.05, 2.0)
            );
        }
        if self.chance(0.1) {
            let _ = write!(
                s,
                "concurrency: Concurrency(max_concurrent: Some({}), max_wait: {}, pools: [Pool(classes: [\"{}\"], max_concurrent: {}, max_wait: {})]), ",
                self.int(0, 10),
                self.num(0.0, 1.0),
                self.pick(&["a", "b", "a", "b", "nope"]),
                self.int(0, 5),
                self.num(0.0, 2.0)
            );
        }
        if self.chance(0.1) {
            let _ = write!(s, "degrade: Degrade(above: {}, service: {}), ", self.num(0.0, 1.0), self.dist(0.0, 0.1));
        }
        if self.chance(0.04) {
            let _ =
                write!(s, "contention: Contention(sigma: {}, kappa: {}), ", self.num(0.0, 0.3), self.num(0.0, 0.05));
        }
        if self.chance(0.04) {
            let limit = self.adaptive_limit();
            let _ = write!(s, "adaptive_limit: {limit}, ");
        }
        if self.chance(0.04) {
            let _ = write!(
                s,
                "adaptive_rate: AdaptiveRate(slo: {}, initial_rate: {}, min_rate: {}, window: {}, interval: {}, decrease: {}, increase: Some({}), smoothing: {}, hysteresis: {}), ",
                self.num(0.01, 1.0),
                self.num(1.0, 100.0),
                self.num(0.1, 5.0),
                self.num(0.1, 5.0),
                self.num(0.01, 2.0),
                self.num(0.3, 0.99),
                self.num(0.1, 10.0),
                self.num(0.05, 1.0),
                self.num(0.0, 5.0)
            );
        }
        if self.chance(0.04) {
            let _ = write!(
                s,
                "autoscale: Autoscale(metric: {}, target: {}, tolerance: {}, interval: {}, provisioning_delay: {}, stabilization: {}, min_workers: {}, max_workers: {}), ",
                self.pick(&["Utilization", "QueuePerWorker", "InFlightPerWorker"]),
                self.num(0.1, 2.0),
                self.num(0.0, 0.3),
                self.num(0.01, 3.0),
                self.num(0.0, 3.0),
                self.num(0.0, 10.0),
                self.int(0, 3),
                self.int(1, 12)
            );
        }
        if self.chance(0.04) {
            let _ = write!(
                s,
                "memory: Memory(base: {}, per_queued: {}, per_in_service: {}, limit: Some({}), restart_delay: {}, max_restart_delay: {}, reset_after: {}, gc_slowdown: {}), ",
                self.num(0.0, 50.0),
                self.num(0.0, 10.0),
                self.num(0.0, 10.0),
                self.num(20.0, 200.0),
                self.num(0.0, 1.0),
                self.num(1.0, 5.0),
                self.num(0.0, 10.0),
                self.num(0.0, 5.0)
            );
        }
        s
    }

    /// An adaptive concurrency limit with any algorithm and values that are sometimes hostile.
    fn adaptive_limit(&mut self) -> String {
        let algorithm = self.pick(&["Aimd", "Vegas", "Gradient2", "Envoy"]);
        format!(
            "AdaptiveLimit(algorithm: {algorithm}, initial: Some({}), min_limit: Some({}), max_limit: Some({}), timeout: {}, update_interval: {}, min_rtt_interval: {}, min_rtt_requests: {})",
            self.int(1, 20),
            self.int(1, 5),
            self.int(5, 60),
            self.num(0.01, 2.0),
            self.num(0.01, 1.0),
            self.num(0.5, 10.0),
            self.int(1, 30)
        )
    }
}

/// Node names: mostly safe, sometimes not.
fn names(g: &mut Gen) -> Vec<String> {
    let n = 2 + g.below(5);
    (0..n)
        .map(|i| {
            if g.chance(0.01) {
                g.pick(&["s\\nv", "/tmp/x", "..", "a b", "", "a.b", "é"]).to_string()
            } else {
                format!("n{i}")
            }
        })
        .collect()
}

/// One random scenario text.
fn scenario(g: &mut Gen) -> String {
    let names = names(g);
    // The first node is a source, the second one sometimes; the rest are services.
    let sources = if names.len() > 2 && g.chance(0.3) { 2 } else { 1 };
    let services: Vec<String> = names.iter().skip(sources).cloned().collect();
    let target = |g: &mut Gen, from: &str| -> String {
        let others: Vec<&String> = services.iter().filter(|s| *s != from).collect();
        if others.is_empty() || g.chance(0.01) {
            g.pick(&["nowhere", "n0"]).to_string()
        } else {
            others[g.below(others.len())].clone()
        }
    };
    let mut nodes = String::new();
    for (i, name) in names.iter().enumerate() {
        if i < sources {
            let arrivals = match g.below(6) {
                0 => "Constant".to_string(),
                1 => format!("OnOff(on: {}, off: {})", g.num(0.1, 5.0), g.num(0.1, 5.0)),
                2 => format!(
                    "Schedule(points: [(0.0, {}), ({}, {})], shape: {})",
                    g.num(0.0, 3.0),
                    g.num(1.0, 20.0),
                    g.num(0.0, 3.0),
                    g.pick(&["Step", "Linear"])
                ),
                3 if g.chance(0.3) => format!("Closed(clients: {}, think: Deterministic(mean: 0.0))", g.int(1, 50)),
                3 => format!("Closed(clients: {}, think: {})", g.int(0, 50), g.dist(0.0, 2.0)),
                _ => "Poisson".to_string(),
            };
            let _ = writeln!(
                nodes,
                "\"{name}\": Source(rate: {}, arrivals: {arrivals}, to: \"{}\", {}),",
                g.num(0.0, 50.0),
                target(g, name),
                g.policy()
            );
        } else {
            let service = if g.chance(0.1) { "Deterministic(mean: 0.0)".to_string() } else { g.dist(0.0, 0.3) };
            let mut fields = format!("workers: {}, service: {service}, ", g.int(0, 6));
            if g.chance(0.6) {
                let _ = write!(
                    fields,
                    "queue: Queue(capacity: {}, discipline: {}, overflow: {}, {}), ",
                    g.int(0, 20),
                    g.pick(&["Fifo", "Lifo", "Priority", "Codel", "AdaptiveLifo"]),
                    g.pick(&["Reject", "DropNewest", "DropOldest", "Block"]),
                    if g.chance(0.5) { format!("block_timeout: {}", g.num(0.05, 2.0)) } else { String::new() }
                );
            }
            if g.chance(0.3) {
                let _ = write!(fields, "error_rate: {}, ", g.num(0.0, 0.3));
            }
            fields.push_str(&g.admission());
            if g.chance(0.2) {
                let _ = write!(fields, "slowdown: {}, ", g.num(0.0, 3.0));
            }
            if g.chance(0.3) {
                let _ = write!(fields, "calls: [Call(to: \"{}\", {})], ", target(g, name), g.policy());
            }
            if g.chance(0.3) {
                let _ = write!(fields, "routes: [Route(to: \"{}\", p: {})], ", target(g, ""), g.num(0.0, 1.0));
            }
            let _ = writeln!(nodes, "\"{name}\": Service({fields}),");
        }
    }
    let mut timeline = Vec::new();
    for _ in 0..g.below(4) {
        let i = g.below(names.len());
        let node = names[i].clone();
        let (field, value) = match (i < sources, g.below(3)) {
            (true, 0) => ("rate", g.num(0.0, 50.0)),
            (true, 1) => ("retry.jitter", g.pick(&["none", "full", "NONE", "bogus"]).to_string()),
            (true, _) => ("timeout", g.pick(&["none", "0.5", "2"]).to_string()),
            (false, 0) => ("workers", g.int(0, 6)),
            (false, 1) => ("up", g.pick(&["true", "false"]).to_string()),
            (false, _) => {
                (g.pick(&["queue.capacity", "slowdown"]), g.pick(&["unbounded", "3", "none", "1.5"]).to_string())
            }
        };
        let d = if g.chance(0.5) { format!("for {} ", g.num(0.5, 5.0)) } else { String::new() };
        timeline.push(format!("\"at {} {d}set {node}.{field} = {value}\"", g.num(0.0, 20.0)));
    }
    let mut text = format!(
        "Scenario(\n  title: \"fuzz\",\n  duration: {},\n  warmup: {},\n  sample_every: {},\n  classes: [Class(name: \"a\", weight: {}, criticality: Critical), Class(name: \"b\", priority: 1, criticality: Sheddable, tenant: Some(\"t\"))],\n  nodes: {{\n{nodes}  }},\n  timeline: [{}],\n)\n",
        g.num(5.0, 40.0),
        if g.chance(0.7) { "0.0".to_string() } else { g.num(0.0, 5.0) },
        g.num(0.1, 2.0),
        g.num(0.5, 2.0),
        timeline.join(", ")
    );
    // Sometimes damage the text: cut it, delete or duplicate a span, insert junk.
    if g.chance(0.1) {
        let chars: Vec<char> = text.chars().collect();
        let at = g.below(chars.len());
        let len = 1 + g.below(12).min(chars.len() - at - 1);
        let junk = g.pick(&["", "(", ")", ",", "\"", ":", "{", "]", "\u{0}", "//", "1e999", "é"]);
        let (a, b) = chars.split_at(at);
        text = match g.below(3) {
            0 => a.iter().collect(),
            1 => a.iter().chain(junk.chars().collect::<Vec<_>>().iter()).chain(b.iter().skip(len)).collect(),
            _ => a.iter().chain(b.iter().take(len)).chain(b.iter()).collect(),
        };
    }
    text
}

/// Random live changes, as `(path, value)`, drawn from the model's own parameter list.
fn changes(g: &mut Gen, sim: &mut Sim) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let nodes = sim.node_names();
    for _ in 0..g.below(4) {
        let node = &nodes[g.below(nodes.len())];
        let params = sim.params(node);
        if params.is_empty() {
            continue;
        }
        let p = &params[g.below(params.len())];
        let value = match g.below(4) {
            0 => p.value.to_string(),
            1 => g.pick(&["none", "unbounded", "true", "0", "-1", "1e308", "2e9", "4294967296", "bogus"]).to_string(),
            2 => g.num(0.0, 10.0),
            _ => g.int(0, 10),
        };
        out.push((p.path.clone(), value));
    }
    out
}

/// How one case ended.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Outcome {
    Refused(&'static str),
    Ran,
    PopulationCap,
    TimeStopped,
}

/// The kind of a refusal, from its first message.
fn kind(message: &str) -> &'static str {
    let has = |s: &str| message.contains(s);
    if has("not UTF-8") {
        "encoding"
    } else if has("is not allowed") {
        "name"
    } else if has("unknown field") || has("unknown variant") || has("missing field") || has("given twice") {
        "field"
    } else if has("takes ") || has("expected") || has("ends too early") || has("unexpected") || has("escape") {
        "syntax"
    } else if has("must be") || has("needs") || has("is a probability") || has("add up to") {
        "bounds"
    } else if has("target") || has("no node named") || has("unknown class") || has("cannot send") {
        "reference"
    } else if has("loop") || has("cycle") {
        "loop"
    } else if has("at SECONDS") || has("parameter") || has("expects") || has("must be one of") {
        "timeline"
    } else {
        "other"
    }
}

/// Builds, changes and runs one scenario; returns the report JSON and how it ended.
fn run_once(text: &str, sets: &[(String, String)]) -> (String, Outcome) {
    let mut sim = Sim::from_text("fuzz.ron", text, Some(7)).expect("validated before");
    sim.set_max_population(2_000);
    sim.set_max_events_at_instant(20_000);
    for (path, value) in sets {
        let _ = sim.set(path, value);
    }
    let end = (sim.duration() * 1e9) as u64;
    // In slices, as the GUI would: the result must not depend on it.
    let mut left = MAX_EVENTS;
    while left > 0 && sim.now_nanos() < end && sim.stopped().is_none() {
        let done = sim.run(end, Some(left.min(50_000)));
        if done == 0 {
            break;
        }
        left -= done;
    }
    let report = sim.report();
    for (name, n) in &report.nodes {
        assert_eq!(
            n.arrivals,
            n.completed + n.errors + n.rejected + n.dropped + n.timed_out + n.in_system,
            "conservation at `{name}`"
        );
    }
    let outcome = match sim.stopped() {
        Some(Stop::PopulationCap { .. }) => Outcome::PopulationCap,
        Some(Stop::TimeStopped { .. }) => Outcome::TimeStopped,
        None => Outcome::Ran,
    };
    (report.to_json_without_wall(), outcome)
}

/// One case: generate, check, run twice; panics describe the failure with the case's text.
fn case(g: &mut Gen) -> Outcome {
    let text = scenario(g);
    let sim = match Sim::from_text("fuzz.ron", &text, Some(7)) {
        Ok(sim) => sim,
        Err(e) => {
            let lines = text.lines().count().max(1);
            for d in &e.diagnostics {
                assert!(d.line >= 1 && d.col >= 1 && d.line <= lines + 1, "{d} outside the text:\n{text}");
                assert!(d.message.len() > 15, "terse: {d}");
            }
            let shown = e.to_string();
            assert_eq!(shown.lines().count(), e.diagnostics.len(), "one line per problem:\n{shown}");
            let k = kind(&e.diagnostics[0].message);
            if std::env::var_os("SLUICE_FUZZ_SHOW").is_some_and(|v| v == k) {
                println!("other: {}", e.diagnostics[0]);
            }
            return Outcome::Refused(k);
        }
    };
    let mut sim = sim;
    let sets = changes(g, &mut sim);
    drop(sim);
    let (a, outcome) = run_once(&text, &sets);
    let (b, again) = run_once(&text, &sets);
    assert_eq!((&a, outcome), (&b, again), "same scenario and changes, different reports:\n{text}");
    outcome
}

/// Runs `n` cases from `seed`; returns the counts by outcome. Panics name the case and text.
fn campaign(seed: u64, n: u64) -> (BTreeMap<Outcome, u64>, Duration) {
    let mut counts = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for i in 0..n {
        // One generator per case: a failing case replays alone from (seed, i).
        let mut g = Gen(Xoshiro256PlusPlus::seed_from_u64(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        let t = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| case(&mut g)));
        let took = t.elapsed();
        match r {
            Ok(outcome) => *counts.entry(outcome).or_default() += 1,
            Err(_) => {
                // Regenerate the case's scenario for the report.
                let mut again = Gen(Xoshiro256PlusPlus::seed_from_u64(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
                panic!("fuzz case {i} (seed {seed}) failed (message above); its scenario:\n{}", scenario(&mut again))
            }
        }
        assert!(took < BUDGET, "fuzz case {i} (seed {seed}) took {took:?}");
        slowest = slowest.max(took);
    }
    (counts, slowest)
}

fn report(counts: &BTreeMap<Outcome, u64>) -> String {
    counts.iter().map(|(k, v)| format!("{k:?}: {v}")).collect::<Vec<_>>().join(", ")
}

#[test]
fn random_scenarios_never_panic_hang_or_lose_requests() {
    let (counts, _) = campaign(12, CASES);
    let ran: u64 = counts.iter().filter(|(k, _)| !matches!(k, Outcome::Refused(_))).map(|(_, v)| v).sum();
    // The generator must reach both sides: runs and refusals.
    assert!((CASES / 4..CASES).contains(&ran), "{}", report(&counts));
}

/// The long campaign: `SLUICE_FUZZ_CASES=10000 cargo test --no-default-features fuzz_campaign
/// -- --ignored --nocapture`.
#[test]
#[ignore = "long: run with SLUICE_FUZZ_CASES=N (see the README)"]
fn fuzz_campaign() {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (seed, n) = (env("SLUICE_FUZZ_SEED", 2026), env("SLUICE_FUZZ_CASES", 10_000));
    let t = Instant::now();
    let (counts, slowest) = campaign(seed, n);
    println!(
        "fuzz campaign: seed {seed}, {n} cases, panics 0, hangs 0 (slowest case {:.0} ms, budget {} s), {:.0} s; {}",
        slowest.as_secs_f64() * 1e3,
        BUDGET.as_secs(),
        t.elapsed().as_secs_f64(),
        report(&counts)
    );
}
