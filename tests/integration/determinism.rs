//! Same inputs ⇒ identical reports: across repeated runs, across ways of stepping the clock
//! (one call, many small `advance_by`s, event-at-a-time with budgets as the GUI does), and
//! between live `set` calls and the same changes scripted on the timeline.

use sluice::{Report, Sim};

use crate::util::sim;

/// A scenario exercising every random stream and policy: classes, on/off and closed sources,
/// timeouts, retries with jitter, a breaker, routing, errors and a block policy.
const BUSY: &str = r#"Scenario(
    title: "determinism workout",
    duration: 120.0,
    warmup: 5.0,
    sample_every: 0.5,
    classes: [Class(name: "gold", weight: 1.0, priority: 0), Class(name: "bronze", weight: 3.0, priority: 1)],
    nodes: {
        "web": Source(rate: 40.0, arrivals: OnOff(on: 5.0, off: 2.0), to: "api", timeout: 0.8,
            retry: Retry(max_attempts: 3, backoff: 0.05, jitter: Decorrelated)),
        "batch": Source(arrivals: Closed(clients: 10, think: Exponential(mean: 0.5)), to: "api", class: "bronze"),
        "api": Service(workers: 6, queue: Queue(capacity: 20, discipline: Priority, overflow: DropOldest),
            service: LogNormal(mean: 0.03, cv: 1.5), error_rate: 0.02,
            calls: [Call(to: "db", timeout: 0.3, retry: Retry(max_attempts: 2, backoff: 0.01, jitter: Full),
                breaker: Breaker(window: 20, min_calls: 10, open_wait: 2.0, half_open_calls: 3))],
            routes: [Route(to: "audit", p: 0.3)]),
        "db": Service(workers: 4, queue: Queue(capacity: 10, overflow: Block, block_timeout: 0.2),
            service: Gamma(mean: 0.04, shape: 2.0)),
        "audit": Service(workers: 1, service: Pareto(mean: 0.02, alpha: 2.5)),
    },
)"#;

fn without_wall(r: &Report) -> String {
    r.to_json_without_wall()
}

/// The parts of a report that do not record *how* changes were made (the `timeline` section
/// says whether a change was scripted or live).
fn outcome(r: &Report) -> String {
    let mut r = r.clone();
    r.wall_s = 0.0;
    r.timeline.clear();
    r.to_json()
}

#[test]
fn same_seed_same_report_other_seed_other_report() {
    let run = |seed| {
        let mut s = sim(BUSY, seed);
        s.run_to_end();
        s.report()
    };
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(without_wall(&a), without_wall(&b));
    assert_ne!(without_wall(&a), without_wall(&c));
    assert!(a.events > 10_000, "the workout should be busy: {} events", a.events);
}

/// The changes made during the run, at chosen sim times.
const CHANGES: [(f64, &str, &str); 4] = [
    (20.0, "db.slowdown", "4"),
    (35.5, "api.workers", "10"),
    (60.0, "web.rate", "80"),
    (61.25, "api.calls.db.breaker.enabled", "false"),
];

fn scripted() -> String {
    let lines: Vec<String> = CHANGES.iter().map(|(t, p, v)| format!("\"at {t} set {p} = {v}\"")).collect();
    BUSY.replacen("    nodes: {", &format!("    timeline: [{}],\n    nodes: {{", lines.join(", ")), 1)
}

fn live_in_one_call_per_change() -> Sim {
    let mut s = sim(BUSY, 3);
    for (t, p, v) in CHANGES {
        s.run_until(t);
        s.set(p, v).unwrap();
    }
    s.run_to_end();
    s
}

#[test]
fn live_changes_equal_scripted_changes() {
    let mut scripted = sim(&scripted(), 3);
    scripted.run_to_end();
    let live = live_in_one_call_per_change();
    assert_eq!(outcome(&scripted.report()), outcome(&live.report()));
    assert_eq!(live.report().timeline.len(), CHANGES.len());
}

#[test]
fn chunked_advance_equals_straight_run() {
    let straight = live_in_one_call_per_change();
    let mut chunked = sim(BUSY, 3);
    let mut pending = CHANGES.iter().peekable();
    // Small uneven steps, landing exactly on each change time.
    while chunked.now() < chunked.duration() {
        let next_change = pending.peek().map_or(f64::INFINITY, |c| c.0);
        let step = 0.37f64.min(next_change - chunked.now()).min(chunked.duration() - chunked.now());
        chunked.advance_by(step);
        if let Some((t, p, v)) = pending.peek()
            && (chunked.now() - t).abs() < 1e-12
        {
            chunked.set(p, v).unwrap();
            pending.next();
        }
    }
    assert_eq!(without_wall(&straight.report()), without_wall(&chunked.report()));
}

#[test]
fn gui_style_budgeted_stepping_equals_straight_run() {
    let straight = live_in_one_call_per_change();
    let mut gui = sim(BUSY, 3);
    let mut frame_horizon = 0u64;
    let mut pending = CHANGES.iter().peekable();
    let end = sluice::engine::time::secs_to_nanos(gui.duration());
    // Frames of 16.7 ms of sim time with an event budget of 50 per frame, as a GUI at a
    // constrained speed would do; single `step()`s now and then.
    while gui.now_nanos() < end {
        if let Some((t, p, v)) = pending.peek() {
            let at = sluice::engine::time::secs_to_nanos(*t);
            if gui.now_nanos() == at {
                gui.set(p, v).unwrap();
                pending.next();
                continue;
            }
        }
        let change_at = pending.peek().map_or(u64::MAX, |c| sluice::engine::time::secs_to_nanos(c.0));
        frame_horizon = (frame_horizon + 16_700_000).min(end).min(change_at);
        while gui.now_nanos() < frame_horizon {
            let handled = gui.run(frame_horizon, Some(50));
            if handled == 0 {
                break;
            }
        }
        if gui.events().is_multiple_of(7) && gui.next_event_time().is_some_and(|t| t <= frame_horizon) {
            gui.step();
        }
    }
    assert_eq!(without_wall(&straight.report()), without_wall(&gui.report()));
}

#[test]
fn adding_a_node_does_not_change_other_nodes_streams() {
    // Common random numbers: an extra, unconnected pair of nodes leaves `clients`/`server` alone.
    let base = r#"Scenario(title: "crn", duration: 200.0, nodes: {
        "clients": Source(rate: 0.8, to: "server"),
        "server": Service(service: Exponential(mean: 1.0)),
        EXTRA
    })"#;
    let a = base.replace("EXTRA", "");
    let b = base.replace(
        "EXTRA",
        r#""zz_other": Source(rate: 5.0, to: "zz_sink"), "zz_sink": Service(service: Exponential(mean: 0.1)),"#,
    );
    let run = |t: &str| {
        let mut s = sim(t, 11);
        s.run_to_end();
        s.report().nodes["server"].clone()
    };
    assert_eq!(run(&a), run(&b));
}

#[test]
fn a_recorded_session_replays_bit_identically() {
    use sluice::scenario::session::Session;
    let mut live = sim(BUSY, 5);
    // Live tweaks made at odd moments: mid-way through events at one instant, via set_for.
    live.run_until(10.0);
    for _ in 0..37 {
        live.step();
    }
    live.set("api.workers", "3").unwrap();
    live.advance_by(4.2);
    live.set_for("db.up", "false", 3.0).unwrap();
    live.run_until(50.0);
    live.set("web.retry.jitter", "equal").unwrap();
    live.run_until(80.0);
    let saved = Session::record("busy.ron", BUSY, &live).to_ron();
    let replayed = Session::from_ron("session.ron", &saved).unwrap().replay().unwrap();
    assert_eq!(without_wall(&live.report()), without_wall(&replayed.report()));
    assert_eq!(replayed.now(), 80.0);
}

/// Common random numbers for A/B: changing an edge's policy (retries, a budget, a timeout)
/// leaves the source's arrivals exactly as they were; only its rate or arrival process redraws.
#[test]
fn an_edge_policy_change_keeps_the_arrivals() {
    let run = |sets: &[(&str, &str)]| {
        let mut s = crate::util::sim(
            r#"Scenario(title: "crn", duration: 60.0, nodes: {
                "clients": Source(rate: 40.0, to: "server", timeout: 0.5, retry: Retry(max_attempts: 3)),
                "server": Service(workers: 2, queue: Queue(capacity: Some(20)), service: Exponential(mean: 0.06)),
            })"#,
            3,
        );
        s.run_until(10.0);
        for (p, v) in sets {
            s.set(p, v).unwrap();
        }
        s.run_to_end();
        s.report().nodes["clients"].arrivals
    };
    let base = run(&[]);
    assert_eq!(run(&[("clients.retry.max_attempts", "1")]), base);
    assert_eq!(run(&[("clients.retry_budget.kind", "grpc")]), base);
    assert_eq!(run(&[("clients.timeout", "2")]), base);
    assert_ne!(run(&[("clients.rate", "41")]), base, "a rate change redraws the arrivals");
}

/// Every policy of the caller's and the callee's side at once — budgets, throttling, deadlines,
/// hedges, network delay and loss, idempotency keys, rate limits, shedding, bulkheads, CoDel —
/// gives the same report run straight, in small uneven steps, and again with the same seed.
#[test]
fn every_policy_at_once_is_deterministic_however_it_is_stepped() {
    const ALL: &str = r#"Scenario(title: "all", duration: 120.0, warmup: 10.0,
        classes: [Class(name: "gold", criticality: Critical, tenant: Some("acme")), Class(name: "free", criticality: Sheddable)],
        nodes: {
            "clients": Source(rate: 60.0, to: "api", timeout: 0.4, deadline: Some(1.0), propagate_deadline: true,
                retry: Retry(max_attempts: 3, backoff: 0.02, jitter: Full, retry_on: [Timeout, Rejected, Error]),
                retry_budget: Grpc(max_tokens: 10.0, token_ratio: 0.2), throttle: Throttle(k: 2.0, window: 10.0),
                hedge: Hedge(quantile: 0.9), network: Network(request: Exponential(mean: 0.003), response: Exponential(mean: 0.002), loss: 0.01)),
            "api": Service(workers: 6, queue: Queue(capacity: Some(40), discipline: Codel), service: LogNormal(mean: 0.05, cv: 1.5),
                rate_limit: RateLimit(rate: 70.0, key: Tenant), shed: Shed(), concurrency: Concurrency(max_concurrent: Some(40), max_wait: 0.05,
                    pools: [Pool(classes: ["free"], max_concurrent: 10)]), idempotency: Idempotency(retention: 30.0),
                calls: [Call(to: "db", timeout: 0.2, propagate_deadline: true, retry: Retry(max_attempts: 2), retry_budget: Envoy(),
                    fallback: Fallback())]),
            "db": Service(workers: 3, service: Exponential(mean: 0.03), error_rate: 0.05),
        },
        timeline: ["at 40 for 20 set db.slowdown = 4"])"#;
    let straight = {
        let mut s = sim(ALL, 5);
        s.run_to_end();
        without_wall(&s.report())
    };
    let stepped = {
        let mut s = sim(ALL, 5);
        while s.now() < s.duration() {
            s.advance_by(0.137f64.min(s.duration() - s.now()));
        }
        without_wall(&s.report())
    };
    assert_eq!(straight, stepped);
    let mut again = sim(ALL, 5);
    again.run_to_end();
    assert_eq!(straight, without_wall(&again.report()));
    let r = again.report();
    for key in ["hedges", "lost", "retry_budget_exhausted"] {
        assert!(straight.contains(&format!("\"{key}\"")), "{key} is reported");
    }
    assert!(r.nodes["api"].deadline_dropped + r.nodes["api"].duplicates + r.nodes["api"].rejected > 0);
}

#[test]
fn feedback_loops_are_deterministic_however_they_are_stepped() {
    // Every issue-15 controller at once, with OOM kills, restarts and scaling inside the run.
    const LOOPS: &str = r#"Scenario(title: "loops", duration: 240.0, warmup: 5.0,
        nodes: {
            "clients": Source(rate: 80.0, to: "api", timeout: 2.0,
                adaptive_limit: AdaptiveLimit(algorithm: Aimd, initial: Some(30), min_limit: Some(2), max_limit: Some(60), timeout: 1.0)),
            "api": Service(workers: 4, queue: Queue(capacity: None), service: Exponential(mean: 0.04),
                adaptive_rate: AdaptiveRate(slo: 0.5, initial_rate: 90.0, window: 3.0, interval: 1.0),
                autoscale: Autoscale(metric: Utilization, target: 0.6, interval: 5.0, provisioning_delay: 7.0, stabilization: 20.0, min_workers: 2, max_workers: 12),
                calls: [Call(to: "db", adaptive_limit: AdaptiveLimit(algorithm: Envoy, update_interval: 0.5, min_rtt_interval: 10.0, min_rtt_requests: 20))]),
            "db": Service(workers: 6, queue: Queue(capacity: None), service: Exponential(mean: 0.05),
                adaptive_limit: AdaptiveLimit(algorithm: Gradient2, min_limit: Some(4), max_limit: Some(80))),
            "batch": Source(rate: 30.0, to: "worker"),
            "worker": Service(workers: 2, queue: Queue(capacity: None), service: Exponential(mean: 0.05), calls: [Call(to: "db")],
                memory: Memory(base: 100.0, per_queued: 4.0, per_in_service: 2.0, limit: Some(400.0), restart_delay: 2.0, max_restart_delay: 8.0, gc_slowdown: 1.0)),
        },
        timeline: ["at 60 for 60 set db.slowdown = 5", "at 150 for 30 set clients.rate = 200"])"#;
    let straight = {
        let mut s = sim(LOOPS, 9);
        s.run_to_end();
        (without_wall(&s.report()), format!("{:?}", s.log()))
    };
    let stepped = {
        let mut s = sim(LOOPS, 9);
        while s.now() < s.duration() {
            s.advance_by(0.137f64.min(s.duration() - s.now()));
        }
        (without_wall(&s.report()), format!("{:?}", s.log()))
    };
    assert_eq!(straight, stepped);
    let (report, log) = &straight;
    for event in ["OomKilled", "Restarted", "Scaled", "WorkersReady"] {
        assert!(log.contains(event), "the run should include {event}: {log}");
    }
    for key in ["\"oom_kills\"", "\"autoscale\"", "\"adaptive_rate\"", "\"adaptive_limit\""] {
        assert!(report.contains(key), "{key} is reported");
    }
}
