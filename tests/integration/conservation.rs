//! Conservation as a property: over many random scenarios (random topologies, policies,
//! overflow rules, faults) and random stopping times, every node satisfies
//! `arrivals = completed + errors + rejected + dropped + timed_out + in_system` exactly, and
//! `in_system` equals the number of counted, unlabelled requests physically present (counted
//! independently from the request slabs).

use std::fmt::Write as _;

use crate::util::sim;

/// A tiny deterministic generator for scenario shapes (SplitMix64).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

fn policy(g: &mut Gen) -> String {
    let mut s = String::new();
    if g.chance(0.6) {
        let _ = write!(s, "timeout: {:.3}, ", 0.02 + g.unit() * 0.5);
    }
    if g.chance(0.3) {
        s.push_str("cancel_on_timeout: true, ");
    }
    if g.chance(0.6) {
        let _ = write!(
            s,
            "retry: Retry(max_attempts: {}, backoff: {:.3}, jitter: {}, honour_retry_after: {}, retry_on: [Error, Rejected, Dropped, Timeout, BreakerOpen]), ",
            1 + g.below(4),
            g.unit() * 0.1,
            g.pick(&["None", "Full", "Equal", "Decorrelated"]),
            g.chance(0.5)
        );
    }
    if g.chance(0.4) {
        let _ = write!(
            s,
            "breaker: Breaker(window: {}, min_calls: {}, open_wait: {:.2}, half_open_calls: {}, automatic_half_open: {}, slow_call_duration: {:.2}), ",
            5 + g.below(20),
            1 + g.below(10),
            g.unit() * 3.0,
            1 + g.below(4),
            g.chance(0.5),
            g.unit()
        );
    }
    if g.chance(0.25) {
        let _ = write!(
            s,
            "rate_limit: RateLimit(rate: {:.2}, burst: Some({:.1}), key: {}, excess: {}), ",
            2.0 + g.unit() * 40.0,
            1.0 + g.unit() * 5.0,
            g.pick(&["Global", "Class", "Tenant", "Endpoint"]),
            g.pick(&["Reject", "Delay"])
        );
    }
    if g.chance(0.15) {
        s.push_str("fallback: Fallback(), ");
    }
    if g.chance(0.3) {
        let budget = match g.below(4) {
            0 => "Grpc(max_tokens: 4.0, token_ratio: 0.5)",
            1 => "Finagle(ttl: 2.0, min_retries_per_sec: 1.0, percent_can_retry: 0.1)",
            2 => "Envoy(budget_percent: 20.0, min_retry_concurrency: 1)",
            _ => "AwsQuota(capacity: 20.0)",
        };
        let _ = write!(s, "retry_budget: {budget}, ");
    }
    if g.chance(0.2) {
        let _ = write!(s, "throttle: Throttle(k: {:.2}, window: {:.2}), ", 1.0 + g.unit() * 2.0, 0.5 + g.unit() * 5.0);
    }
    if g.chance(0.3) {
        s.push_str("propagate_deadline: true, ");
    }
    if g.chance(0.3) {
        let _ = write!(
            s,
            "hedge: Hedge(delay: {:.3}, quantile: {:.2}), ",
            0.005 + g.unit() * 0.1,
            if g.chance(0.5) { 0.9 } else { 0.0 }
        );
    }
    if g.chance(0.2) {
        let _ = write!(s, "adaptive_limit: {}, ", adaptive_limit(g));
    }
    if g.chance(0.3) {
        let _ = write!(
            s,
            "network: Network(request: Exponential(mean: {:.3}), response: Uniform(mean: {:.3}, half_width: 0.001), loss: {:.2}), ",
            g.unit() * 0.05,
            0.002 + g.unit() * 0.02,
            g.unit() * 0.1
        );
    }
    s
}

/// Admission controllers for a service (each present or not); a queue fill is only measured
/// on a bounded queue.
fn admission(g: &mut Gen, bounded: bool) -> String {
    let signals: &[&str] =
        if bounded { &["Utilization", "QueueFill", "InFlight"] } else { &["Utilization", "InFlight"] };
    let mut s = String::new();
    if g.chance(0.2) {
        let _ = write!(
            s,
            "rate_limit: RateLimit(rate: {:.2}, burst: Some({:.1}), key: {}), ",
            2.0 + g.unit() * 40.0,
            1.0 + g.unit() * 5.0,
            g.pick(&["Global", "Class", "Tenant", "Endpoint"])
        );
    }
    if g.chance(0.2) {
        let _ = write!(
            s,
            "entry_gate: EntryGate(max_queue: Some({}), max_latency: Some({:.3})), ",
            g.below(6),
            0.01 + g.unit() * 0.3
        );
    }
    if g.chance(0.25) {
        let _ = write!(
            s,
            "shed: Shed(shed_sheddable_above: {:.2}, critical_only_above: {:.2}, load: Load(signal: {}, window: {:.2})), ",
            g.unit() * 0.8,
            0.5 + g.unit() * 0.5,
            g.pick(signals),
            0.05 + g.unit()
        );
    }
    if g.chance(0.25) {
        let _ = write!(
            s,
            "concurrency: Concurrency(max_concurrent: Some({}), max_wait: {:.2}, pools: [Pool(classes: [\"c\"], max_concurrent: {}, max_wait: {:.2})]), ",
            1 + g.below(8),
            if g.chance(0.5) { g.unit() } else { 0.0 },
            g.below(4),
            if g.chance(0.5) { g.unit() } else { 0.0 }
        );
    }
    if g.chance(0.15) {
        let _ = write!(s, "degrade: Degrade(above: {:.2}), ", g.unit());
    }
    if g.chance(0.3) {
        let _ = write!(s, "idempotency: Idempotency(retention: {:.2}), ", 0.5 + g.unit() * 10.0);
    }
    if g.chance(0.2) {
        let _ = write!(s, "contention: Contention(sigma: {:.2}, kappa: {:.3}), ", g.unit() * 0.2, g.unit() * 0.05);
    }
    if g.chance(0.25) {
        let _ = write!(s, "adaptive_limit: {}, ", adaptive_limit(g));
    }
    if g.chance(0.2) {
        let _ = write!(
            s,
            "adaptive_rate: AdaptiveRate(slo: {:.3}, initial_rate: {:.1}, window: {:.2}, interval: {:.2}, hysteresis: {:.2}), ",
            0.02 + g.unit() * 0.3,
            5.0 + g.unit() * 50.0,
            0.5 + g.unit() * 3.0,
            0.1 + g.unit(),
            g.unit() * 3.0
        );
    }
    if g.chance(0.2) {
        let _ = write!(
            s,
            "autoscale: Autoscale(metric: {}, target: {:.2}, interval: {:.2}, provisioning_delay: {:.2}, stabilization: {:.2}, min_workers: 1, max_workers: {}), ",
            g.pick(&["Utilization", "QueuePerWorker", "InFlightPerWorker"]),
            0.3 + g.unit() * 0.6,
            0.2 + g.unit() * 2.0,
            g.unit() * 3.0,
            g.unit() * 5.0,
            1 + g.below(6)
        );
    }
    if g.chance(0.25) {
        let _ = write!(
            s,
            "memory: Memory(base: 10.0, per_queued: {:.1}, per_in_service: {:.1}, limit: Some({:.1}), restart_delay: {:.2}, max_restart_delay: 4.0, reset_after: {:.1}, gc_slowdown: {:.1}), ",
            0.5 + g.unit() * 3.0,
            g.unit() * 2.0,
            12.0 + g.unit() * 30.0,
            g.unit() * 2.0,
            1.0 + g.unit() * 10.0,
            g.unit() * 3.0
        );
    }
    s
}

/// An adaptive concurrency limit with any of its algorithms, small enough to act in a short run.
fn adaptive_limit(g: &mut Gen) -> String {
    match g.below(4) {
        0 => format!(
            "AdaptiveLimit(algorithm: Aimd, initial: Some({}), min_limit: Some(1), max_limit: Some(20), timeout: {:.2})",
            1 + g.below(10),
            0.05 + g.unit()
        ),
        1 => format!("AdaptiveLimit(algorithm: Vegas, initial: Some({}), max_limit: Some(30))", 1 + g.below(10)),
        2 => format!(
            "AdaptiveLimit(algorithm: Gradient2, initial: Some({}), min_limit: Some(1), max_limit: Some(30))",
            1 + g.below(10)
        ),
        _ => format!(
            "AdaptiveLimit(algorithm: Envoy, max_limit: Some(30), update_interval: {:.2}, min_rtt_interval: {:.2}, min_rtt_requests: {})",
            0.1 + g.unit(),
            1.0 + g.unit() * 5.0,
            5 + g.below(20)
        ),
    }
}

fn dist(g: &mut Gen, mean: f64) -> String {
    match g.below(6) {
        0 => format!("Exponential(mean: {mean:.4})"),
        1 => format!("Deterministic(mean: {mean:.4})"),
        2 => format!("Uniform(mean: {mean:.4}, half_width: {:.4})", mean * 0.5),
        3 => format!("LogNormal(mean: {mean:.4}, cv: 1.5)"),
        4 => format!("Erlang(mean: {mean:.4}, k: 3)"),
        _ => format!("Pareto(mean: {mean:.4}, alpha: 2.2)"),
    }
}

/// A random acyclic network: services s0..sn, calls only to higher indices, routes anywhere
/// forward; 1–3 sources; random faults on the timeline.
fn random_scenario(g: &mut Gen) -> String {
    let n = 1 + g.below(4) as usize;
    let mut nodes = String::new();
    for i in 0..n {
        let mut calls = Vec::new();
        let mut routes = Vec::new();
        for j in i + 1..n {
            if g.chance(0.4) {
                calls.push(format!("Call(to: \"s{j}\", {})", policy(g)));
            } else if g.chance(0.3) {
                routes.push(format!("Route(to: \"s{j}\", p: {:.2})", g.unit() * 0.5));
            }
        }
        let mean = 0.01 + g.unit() * 0.2;
        let service = dist(g, mean);
        let capacity = if g.chance(0.2) { "None".to_string() } else { g.below(12).to_string() };
        let _ = writeln!(
            nodes,
            "\"s{i}\": Service(workers: {}, queue: Queue(capacity: {capacity}, discipline: {}, overflow: {}, retry_after: {:.2}, block_timeout: {:.2}, codel: Codel(target: 0.002, interval: 0.02), adaptive_lifo: AdaptiveLifo(timeout: 0.05, congested_timeout: 0.005)), service: {}, error_rate: {:.2}, calls: [{}], routes: [{}], {}),",
            1 + g.below(4),
            g.pick(&["Fifo", "Lifo", "Priority", "Codel", "AdaptiveLifo"]),
            g.pick(&["Reject", "DropNewest", "DropOldest", "Block"]),
            g.unit(),
            0.05 + g.unit(),
            service,
            if g.chance(0.5) { g.unit() * 0.3 } else { 0.0 },
            calls.join(", "),
            routes.join(", "),
            admission(g, capacity != "None"),
        );
    }
    for k in 0..1 + g.below(3) {
        let arrivals = match g.below(4) {
            0 => "Poisson".to_string(),
            1 => format!("OnOff(on: {:.2}, off: {:.2})", 0.5 + g.unit() * 3.0, 0.5 + g.unit() * 3.0),
            2 => "Schedule(points: [(0.0, 1.0), (5.0, 4.0), (10.0, 0.5)], shape: Linear)".to_string(),
            _ => format!("Closed(clients: {}, think: {})", 1 + g.below(30), dist(g, 0.1)),
        };
        let deadline = if g.chance(0.3) { format!("deadline: Some({:.2}), ", 0.05 + g.unit()) } else { String::new() };
        let _ = writeln!(
            nodes,
            "\"src{k}\": Source(rate: {:.2}, arrivals: {arrivals}, to: \"s{}\", class: \"{}\", {deadline}{}),",
            5.0 + g.unit() * 60.0,
            g.below(n as u64),
            g.pick(&["a", "b", "c"]),
            policy(g)
        );
    }
    let mut timeline = Vec::new();
    for _ in 0..g.below(4) {
        let s = g.below(n as u64);
        let at = g.unit() * 15.0;
        let change = match g.below(4) {
            0 => format!("at {at:.3} for {:.2} set s{s}.up = false", g.unit() * 3.0),
            1 => format!("at {at:.3} set s{s}.workers = {}", g.below(5)),
            2 => format!("at {at:.3} for 2 set s{s}.slowdown = 5"),
            _ => format!("at {at:.3} set s{s}.queue.capacity = {}", g.below(5)),
        };
        timeline.push(format!("\"{change}\""));
    }
    format!(
        "Scenario(title: \"random\", duration: 20.0, warmup: {:.2}, sample_every: 0.25, classes: [Class(name: \"a\", priority: 0, criticality: Critical, tenant: Some(\"t1\")), Class(name: \"b\", priority: 1, tenant: Some(\"t1\"), endpoint: Some(\"e\")), Class(name: \"c\", priority: 2, criticality: Sheddable, endpoint: Some(\"e\"))], nodes: {{\n{nodes}}}, timeline: [{}])",
        if g.chance(0.5) { g.unit() * 5.0 } else { 0.0 },
        timeline.join(", ")
    )
}

#[test]
fn counts_balance_at_every_node_in_random_scenarios() {
    let mut g = Gen(2024);
    // Totals over all cases, to show every label and path was exercised.
    let mut seen = [0u64; 8];
    let mut seen_reasons = [0u64; 14];
    let mut loops = [0u64; 5];
    let mut deadline_drops = 0;
    for case in 0..60 {
        let text = random_scenario(&mut g);
        let mut s = sim(&text, case);
        // Stop at a few random instants, checking the identity each time.
        for _ in 0..3 {
            s.advance_by(g.unit() * 8.0);
            let r = s.report();
            let audit = s.audit_in_system();
            for (name, n) in &r.nodes {
                let labelled = n.completed + n.errors + n.rejected + n.dropped + n.timed_out;
                assert_eq!(
                    n.arrivals,
                    labelled + n.in_system,
                    "case {case}, node {name} at t={}: {n:?}\n{text}",
                    s.now()
                );
                assert_eq!(n.in_system, audit[name], "case {case}, node {name} at t={}: audit\n{text}", s.now());
                let b = &n.rejected_by;
                let reasons = [
                    b.queue_full,
                    b.down,
                    b.block_timeout,
                    b.breaker_open,
                    b.downstream,
                    b.rate_limited,
                    b.admission,
                    b.shed,
                    b.concurrency_limit,
                    b.bulkhead_full,
                    b.codel,
                    b.deadline_expired,
                    b.throttled,
                    b.idempotency_conflict,
                    b.adaptive_limit,
                ];
                assert_eq!(
                    n.rejected,
                    reasons.iter().sum::<u64>(),
                    "case {case}, node {name}: every refusal has its reason"
                );
                assert_eq!(n.rejected, b.total(), "case {case}, node {name}: the reasons add up");
                for (class, c) in &n.classes {
                    assert_eq!(c.rejected, c.rejected_by.total(), "case {case}, node {name}, class {class}");
                }
                for (seen, x) in seen_reasons.iter_mut().zip(reasons) {
                    *seen += x;
                }
            }
            assert!(r.errors.is_empty(), "case {case}: {:?}", r.errors);
        }
        deadline_drops += s.report().nodes.values().map(|n| n.deadline_dropped).sum::<u64>();
        for p in s.report().nodes.values().filter_map(|n| n.policies.as_ref()) {
            loops[0] += p.memory.map_or(0, |m| m.oom_kills);
            loops[1] += p.memory.map_or(0, |m| m.restarts);
            loops[2] += p.autoscale.map_or(0, |a| a.scale_ups + a.scale_downs);
            loops[3] += p.adaptive_limit.map_or(0, |l| l.decreases);
            loops[4] += p.adaptive_rate.map_or(0, |r| r.decreases);
        }
        for n in s.report().nodes.values() {
            let row =
                [n.completed, n.errors, n.rejected, n.dropped, n.timed_out, n.in_system, n.abandoned, n.cancelled];
            for (total, x) in seen.iter_mut().zip(row) {
                *total += x;
            }
        }
    }
    assert!(deadline_drops > 0, "the random scenarios should drop work past a propagated deadline");
    // The books balance through the feedback loops too: OOM kills and restarts, scaling, and
    // limits and rates that moved.
    let names = ["OOM kills", "restarts", "scaling decisions", "adaptive limit cuts", "adaptive rate cuts"];
    for (name, total) in names.iter().zip(loops) {
        assert!(total > 0, "the random scenarios should include {name} (seen {total})");
    }
    let names = ["completed", "errors", "rejected", "dropped", "timed_out", "in_system", "abandoned", "cancelled"];
    for (name, total) in names.iter().zip(seen) {
        assert!(total > 20, "the random scenarios should exercise `{name}` (seen {total})");
    }
    let reasons = [
        "queue_full",
        "down",
        "block_timeout",
        "breaker_open",
        "downstream",
        "rate_limited",
        "admission",
        "shed",
        "concurrency_limit",
        "bulkhead_full",
        "codel",
        "deadline_expired",
        "throttled",
        "idempotency_conflict",
        "adaptive_limit",
    ];
    for (name, total) in reasons.iter().zip(seen_reasons) {
        // A caller's attempts end at the request's deadline, so a server that finds it passed
        // almost always finds the caller gone too: such drops are `deadline_dropped` (checked
        // below), labelled `timed_out`, and the refusal reason is rare.
        if *name == "deadline_expired" {
            continue;
        }
        assert!(total > 0, "the random scenarios should refuse for `{name}` at least once");
    }
}
