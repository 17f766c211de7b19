//! Every shipped scenario's *what to watch* notes hold in a headless run: the breakers they say
//! open do (and roughly when), the queues they say fill do, and the nodes they say stay
//! untouched do. A facilitator reads these notes to a room while the app plays; a claim the
//! model does not bear out contradicts them live.

use sluice::Sim;
use sluice::engine::log::LogEvent;
use sluice::metrics::series::Point;

fn load(name: &str, sets: &[(&str, &str)]) -> Sim {
    let path = format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut sim = Sim::from_file(&path, None).unwrap_or_else(|e| panic!("{e}"));
    for (p, v) in sets {
        sim.set(p, v).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
    sim
}

/// The points of `node` whose interval ends in (from, to].
fn window(sim: &Sim, node: &str, from: f64, to: f64) -> Vec<Point> {
    sim.series(node).iter().copied().filter(|p| p.t > from && p.t <= to).collect()
}

/// Time-weighted mean of `f` over (from, to].
fn mean(sim: &Sim, node: &str, from: f64, to: f64, f: impl Fn(&Point) -> f64) -> f64 {
    let pts = window(sim, node, from, to);
    let span: f64 = pts.iter().map(|p| p.span).sum();
    assert!(span > 0.0, "{node} has no samples in ({from}, {to}]");
    pts.iter().map(|p| f(p) * p.span).sum::<f64>() / span
}

/// Per-second rate of a counter over (from, to].
fn rate(sim: &Sim, node: &str, from: f64, to: f64, f: impl Fn(&Point) -> u64) -> f64 {
    let pts = window(sim, node, from, to);
    let span: f64 = pts.iter().map(|p| p.span).sum();
    pts.iter().map(|p| f(p) as f64).sum::<f64>() / span
}

/// Largest queue length seen in (from, to].
fn queue_max(sim: &Sim, node: &str, from: f64, to: f64) -> f64 {
    window(sim, node, from, to).iter().map(|p| p.queue_len_max).fold(0.0, f64::max)
}

/// Sim times at which the breaker on `edge` moved to `state` (`open`, `half_open`, `closed`).
fn breaker_moves(sim: &Sim, edge: &str, state: &str) -> Vec<f64> {
    sim.log()
        .iter()
        .filter(|e| e.subject == edge && matches!(e.event, LogEvent::Breaker { to, .. } if to.name() == state))
        .map(|e| e.at as f64 / 1e9)
        .collect()
}

#[test]
fn three_tier_the_breaker_opens_fails_fast_and_closes_after_recovery() {
    let mut sim = load("three-tier.ron", &[]);
    sim.run_to_end();
    // "opens within a second of the slowdown": it takes 1.2 s with seed 1 (the note rounds).
    let opened = breaker_moves(&sim, "api->db", "open");
    assert!(opened.first().is_some_and(|t| (120.0..122.0).contains(t)), "{opened:?}");
    // "half-opens every 5 s to probe"
    let half = breaker_moves(&sim, "api->db", "half_open");
    let probes = half.iter().filter(|t| (120.0..240.0).contains(*t)).count();
    assert!(probes >= 10, "{probes} probes during the incident: {half:?}");
    // "closes after db recovers at t = 240 s" (and stays closed)
    let closed = breaker_moves(&sim, "api->db", "closed");
    let last_open = opened.last().copied().unwrap_or_default();
    assert!(closed.iter().any(|t| (240.0..260.0).contains(t)), "{closed:?}");
    assert!(last_open < 260.0, "no opening after recovery: {opened:?}");
    // "its workers stay available": api is far from its pool size through the incident.
    let busy = mean(&sim, "api", 125.0, 240.0, |p| p.utilization);
    assert!(busy < 0.5, "api utilization {busy} with the breaker");
    // "clients: timeouts, errors and retries climb together"
    let before = rate(&sim, "clients", 20.0, 110.0, |p| p.retries + p.errors + p.timed_out);
    let during = rate(&sim, "clients", 125.0, 235.0, |p| p.retries);
    let errors = rate(&sim, "clients", 125.0, 235.0, |p| p.errors + p.timed_out);
    assert!(during > 10.0 * before.max(0.5) && errors > 5.0, "before {before}, retries {during}, errors {errors}");
}

#[test]
fn three_tier_without_the_breaker_api_saturates_queues_and_rejects() {
    let mut sim = load("three-tier.ron", &[("api.calls.db.breaker.enabled", "false")]);
    sim.run_until(240.0);
    let full = window(&sim, "api", 120.0, 240.0).iter().filter(|p| p.utilization >= 0.99).count();
    assert!(full >= 30, "api's busy workers hit the pool size: {full} whole seconds at 16/16");
    assert!(queue_max(&sim, "api", 120.0, 240.0) >= 64.0, "api's queue fills");
    assert!(rate(&sim, "api", 130.0, 240.0, |p| p.rejected) > 1.0, "and it rejects");
    // Before the incident api is comfortable: the saturation is db's doing.
    assert!(mean(&sim, "api", 20.0, 110.0, |p| p.utilization) < 0.8);
}

#[test]
fn retry_storm_outlives_its_trigger() {
    let mut sim = load("retry-storm.ron", &[]);
    sim.run_to_end();
    // Healthy before the spike: 80 % busy, little waiting.
    let before = mean(&sim, "server", 10.0, 60.0, |p| p.utilization);
    assert!((0.7..0.9).contains(&before), "{before}");
    // "utilization stays at 100 % through the storm, yet its ok/s drops to zero"
    assert!(mean(&sim, "server", 90.0, 240.0, |p| p.utilization) > 0.97);
    let ok = rate(&sim, "server", 120.0, 240.0, |p| p.completed);
    let goodput = rate(&sim, "clients", 120.0, 240.0, |p| p.completed);
    assert!(ok < 2.0 && goodput < 2.0, "ok/s {ok}, goodput {goodput}");
    assert!(sim.node("server").unwrap().counters.abandoned > 5000, "the work it finishes was abandoned");
    // The queue it fills.
    assert!(queue_max(&sim, "server", 60.0, 240.0) >= 300.0);
    // "retries per second jump at t = 60 s and do not come back down when the spike ends"
    let quiet = rate(&sim, "clients", 10.0, 60.0, |p| p.retries);
    let storm = rate(&sim, "clients", 120.0, 240.0, |p| p.retries);
    assert!(storm > 20.0 * quiet.max(1.0), "retries {quiet}/s before, {storm}/s after the spike");
}

#[test]
fn retry_storm_recovers_without_retries_or_with_cancellation() {
    for fix in [("clients.retry.max_attempts", "1"), ("clients.cancel_on_timeout", "true")] {
        let mut sim = load("retry-storm.ron", &[fix]);
        sim.run_until(120.0);
        let ok = rate(&sim, "server", 90.0, 120.0, |p| p.completed);
        let goodput = rate(&sim, "clients", 90.0, 120.0, |p| p.completed);
        assert!(ok > 70.0 && goodput > 70.0, "{fix:?}: ok/s {ok}, goodput {goodput}");
        let queue = mean(&sim, "server", 90.0, 120.0, |p| p.queue_len);
        assert!(queue < 30.0, "{fix:?}: the queue drains ({queue})");
    }
}

#[test]
fn mmck_overload_turns_into_rejections_and_a_bigger_buffer_into_waiting() {
    // "Push ρ above 1: the queue saturates and the rejection rate absorbs the excess."
    let mut sim = load("mmck.ron", &[("clients.rate", "3")]);
    sim.run_until(5000.0);
    let r = sim.report();
    let server = &r.nodes["server"];
    let rejected = server.rejected as f64 / server.arrivals as f64;
    assert!(server.queue_len_mean > 3.0, "the 5 places are mostly full: {}", server.queue_len_mean);
    assert!((0.3..0.45).contains(&rejected), "about 1 − 2/3 refused: {rejected}");
    // "Raise queue.capacity: p99 grows while rejections fall."
    let run = |capacity: &str| {
        let mut sim = load("mmck.ron", &[("server.queue.capacity", capacity)]);
        sim.run_until(8000.0);
        let r = sim.report();
        let s = &r.nodes["server"];
        (s.latency_s.p99, s.rejected as f64 / s.arrivals as f64)
    };
    let (p99_small, rej_small) = run("5");
    let (p99_big, rej_big) = run("30");
    assert!(p99_big > p99_small && rej_big < rej_small, "{p99_small}/{rej_small} vs {p99_big}/{rej_big}");
}

#[test]
fn mesh_slow_shard2_trips_the_breakers_above_it_which_contain_it() {
    let mut sim = load("mesh-30.ron", &[]);
    sim.run_to_end();
    // "the calls back2 and back8 make to it take several times longer, and some time out"
    for node in ["back2", "back8"] {
        let before = mean(&sim, node, 20.0, 58.0, |p| p.latency_p50);
        let slowest = window(&sim, node, 60.0, 120.0).iter().map(|p| p.latency_p50).fold(0.0, f64::max);
        assert!(slowest > 4.0 * before, "{node}: p50 {before} s before, up to {slowest} s during");
        assert!(rate(&sim, node, 60.0, 120.0, |p| p.errors) > 0.1, "{node}: some calls time out");
    }
    // "both open within seconds ... half-open every 5 s to probe ... close once shard2 recovers"
    for edge in ["front2->back2", "front8->back8"] {
        let opened = breaker_moves(&sim, edge, "open");
        assert!(opened.first().is_some_and(|t| (60.0..66.0).contains(t)), "{edge}: {opened:?}");
        assert!(opened.len() >= 3, "{edge} reopens after probing: {opened:?}");
        assert!(opened.iter().all(|t| *t < 125.0), "{edge} opens only during the incident: {opened:?}");
        let half = breaker_moves(&sim, edge, "half_open");
        assert!(half.len() >= 3, "{edge}: {half:?}");
        let closed = breaker_moves(&sim, edge, "closed");
        assert!(closed.iter().any(|t| (118.0..140.0).contains(t)), "{edge} closes after recovery: {closed:?}");
    }
    // "front2 and front8 fail fast with errors instead of holding workers: no queue fills and
    // shard2 is never overloaded."
    for node in ["front2", "front8"] {
        assert!(rate(&sim, node, 62.0, 118.0, |p| p.errors) > 20.0, "{node} fails fast");
        assert!(mean(&sim, node, 62.0, 118.0, |p| p.utilization) < 0.6, "{node} keeps its workers");
    }
    for (node, capacity) in [("front2", 50.0), ("front8", 50.0), ("back2", 40.0), ("back8", 40.0), ("shard2", 64.0)] {
        let full = queue_max(&sim, node, 60.0, 120.0);
        assert!(full < 0.8 * capacity, "{node}'s queue reached {full} of {capacity}");
        assert_eq!(rate(&sim, node, 60.0, 120.0, |p| p.rejected), 0.0, "{node} rejects nothing");
    }
}

#[test]
fn mesh_without_the_breakers_front2_and_front8_fill_and_reject() {
    let off = [("front2.calls.back2.breaker.enabled", "false"), ("front8.calls.back8.breaker.enabled", "false")];
    let mut sim = load("mesh-30.ron", &off);
    sim.run_to_end();
    for node in ["front2", "front8"] {
        assert!(queue_max(&sim, node, 60.0, 120.0) >= 50.0, "{node}'s queue fills");
        assert!(rate(&sim, node, 60.0, 120.0, |p| p.rejected) > 5.0, "{node} rejects");
    }
}

#[test]
fn mesh_the_rest_is_untouched() {
    let mut sim = load("mesh-30.ron", &[]);
    sim.run_to_end();
    // No other breaker opens.
    for i in [1, 3, 4, 5, 6, 7] {
        let edge = format!("front{i}->back{i}");
        assert!(breaker_moves(&sim, &edge, "open").is_empty(), "{edge} opened");
    }
    // The other back ends and shards keep their queues short and their requests answered.
    let others =
        ["shard1", "shard3", "shard4", "shard5", "shard6", "back1", "back3", "back4", "back5", "back6", "back7"];
    for node in others.iter().chain(&["gateway", "auth", "front1", "front3", "front4", "front5", "front6", "front7"]) {
        let full = queue_max(&sim, node, 60.0, 120.0);
        let bad = rate(&sim, node, 60.0, 120.0, |p| p.rejected + p.dropped + p.timed_out + p.errors);
        let arrivals = rate(&sim, node, 60.0, 120.0, |p| p.arrivals);
        assert!(bad < 0.02 * arrivals, "{node}: {bad}/s failing of {arrivals}/s");
        assert!(full < 40.0, "{node}'s queue reached {full}");
    }
}

#[test]
fn mesh_partner_traffic_is_bursty() {
    let mut sim = load("mesh-30.ron", &[]);
    sim.run_to_end();
    // "its arrivals alternate between silent stretches and twice its mean rate"
    let pts = window(&sim, "partners", 0.0, 240.0);
    let silent = pts.iter().filter(|p| p.arrivals == 0).count();
    let busy = pts.iter().filter(|p| p.arrivals as f64 > 45.0 * p.span).count();
    assert!(silent > 30 && busy > 30, "{silent} silent seconds, {busy} busy ones");
}
