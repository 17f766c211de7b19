//! The behaviours a user comes to see, asserted the way they would look for them: a cascade
//! through synchronous calls, a retry storm that outlives its trigger, blocking backpressure
//! travelling upstream, crashes, and abandoned versus cancelled work.

use sluice::Sim;
use sluice::edge::breaker::BreakerState;
use sluice::engine::log::LogEvent;
use sluice::metrics::series::Point;

use crate::util::sim;

fn scenario(name: &str, seed: u64) -> Sim {
    let path = format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    Sim::from_file(path, Some(seed)).unwrap_or_else(|e| panic!("{e}"))
}

/// Mean of `f` over the series points whose interval ends within [from, to].
fn mean_over(points: &[Point], from: f64, to: f64, f: impl Fn(&Point) -> f64) -> f64 {
    let xs: Vec<f64> = points.iter().filter(|p| p.t > from && p.t <= to).map(f).collect();
    assert!(!xs.is_empty(), "no points in [{from}, {to}]");
    xs.iter().sum::<f64>() / xs.len() as f64
}

#[test]
fn slow_database_cascades_into_the_api_unless_the_breaker_fails_fast() {
    let run = |breaker: &str| {
        let mut s = scenario("three-tier.ron", 1);
        s.set("api.calls.db.breaker.enabled", breaker).unwrap();
        s.run_to_end();
        s
    };
    let (guarded, exposed) = (run("true"), run("false"));
    // Without a breaker the API's workers are all held waiting on db, although the API itself
    // did not get slower; its queue fills and it rejects.
    let api = exposed.series("api");
    let before = mean_over(api, 30.0, 110.0, |p| p.busy);
    let during = mean_over(api, 125.0, 235.0, |p| p.busy);
    assert!(before < 11.0 && during > 0.85 * 16.0, "api busy workers {before} → {during}");
    assert!(mean_over(api, 125.0, 235.0, |p| p.rejected as f64) > 5.0);
    // With the breaker, calls fail fast and the API keeps free workers.
    let guarded_busy = mean_over(guarded.series("api"), 125.0, 235.0, |p| p.busy);
    assert!(guarded_busy < 0.6 * during, "breaker keeps api workers free: {guarded_busy} vs {during}");
    for s in [&guarded, &exposed] {
        let clients = s.series("clients");
        let good_before = mean_over(clients, 30.0, 110.0, Point::goodput);
        let good_during = mean_over(clients, 125.0, 235.0, Point::goodput);
        let good_after = mean_over(clients, 300.0, 400.0, Point::goodput);
        assert!(good_during < 0.6 * good_before, "goodput {good_before} → {good_during}");
        assert!(good_after > 0.95 * good_before, "recovery: {good_after} vs {good_before}");
        let retries_during = mean_over(clients, 125.0, 235.0, |p| p.retries as f64);
        let retries_before = mean_over(clients, 30.0, 110.0, |p| p.retries as f64);
        assert!(retries_during > 10.0 * retries_before.max(0.1), "retries {retries_before} → {retries_during}");
    }
    let r = guarded.report();
    assert!(r.links["api->db"].breaker_opened >= 1);
    assert_eq!(r.links["api->db"].breaker_state, "closed", "the breaker closes after db recovers");
    assert!(guarded.log().iter().any(|e| e.subject == "api->db"
        && e.event == LogEvent::Breaker { from: BreakerState::Closed, to: BreakerState::Open }));
}

#[test]
fn retry_storm_outlives_its_trigger_and_no_retries_recovers() {
    let run = |sets: &[(&str, &str)]| {
        let mut s = scenario("retry-storm.ron", 1);
        for (p, v) in sets {
            s.set(p, v).unwrap();
        }
        s.run_to_end();
        s
    };
    let storm = run(&[]);
    let c = storm.series("clients");
    let before = mean_over(c, 10.0, 60.0, Point::goodput);
    let long_after = mean_over(c, 150.0, 240.0, Point::goodput);
    assert!(before > 75.0, "healthy before the spike: {before}/s");
    assert!(long_after < 0.3 * before, "still down 80 s after the spike ended: {long_after}/s vs {before}/s");
    let server = &storm.report().nodes["server"];
    assert!(server.abandoned > server.completed / 2, "the server mostly serves abandoned work: {server:?}");
    // Same spike without retries: recovers.
    let calm = run(&[("clients.retry.max_attempts", "1")]);
    let after = mean_over(calm.series("clients"), 100.0, 240.0, Point::goodput);
    assert!(after > 0.95 * before, "without retries goodput returns: {after}/s");
}

#[test]
fn blocking_pushes_backpressure_upstream() {
    // a is fast, b is slow; a forwards to b, which blocks senders when its queue is full:
    // a's workers end up held by blocked forwards, a's queue fills and a starts rejecting.
    let text = r#"Scenario(title: "block", duration: 300.0, warmup: 20.0, nodes: {
        "clients": Source(rate: 8.0, to: "a"),
        "a": Service(workers: 4, queue: Queue(capacity: 10), service: Exponential(mean: 0.01), routes: [Route(to: "b", p: 1.0)]),
        "b": Service(workers: 1, queue: Queue(capacity: 2, overflow: Block), service: Exponential(mean: 0.2)),
    })"#;
    let mut s = sim(text, 4);
    s.run_to_end();
    let r = s.report();
    let (a, b) = (&r.nodes["a"], &r.nodes["b"]);
    assert!(a.utilization > 0.8, "a's workers are held by blocked forwards: {}", a.utilization);
    assert!(a.rejected > 0, "a rejects once its own queue is full");
    assert_eq!(b.rejected + b.dropped, 0, "b never refuses: it blocks");
    assert!(b.utilization > 0.95);
}

#[test]
fn a_crash_loses_work_refuses_arrivals_and_restarts() {
    let text = r#"Scenario(title: "crash", duration: 60.0, nodes: {
        "clients": Source(rate: 20.0, to: "server"),
        "server": Service(workers: 2, service: Exponential(mean: 0.08)),
    }, timeline: ["at 20 for 10 set server.up = false"])"#;
    let mut s = sim(text, 1);
    s.run_until(25.0);
    assert!(!s.node("server").unwrap().up);
    s.run_to_end();
    let r = s.report();
    let server = &r.nodes["server"];
    assert!(server.rejected_by.down > 150, "arrivals refused while down: {server:?}");
    assert!(server.dropped > 0, "work inside at the crash is lost");
    assert!(s.node("server").unwrap().up);
    let after = mean_over(s.series("server"), 35.0, 60.0, Point::goodput);
    assert!(after > 15.0, "serves again after the restart: {after}/s");
    assert!(
        s.log().iter().any(|e| e.event == LogEvent::Crashed) && s.log().iter().any(|e| e.event == LogEvent::Restarted)
    );
}

#[test]
fn timeouts_leave_abandoned_work_unless_cancelled() {
    let text = |cancel: bool| {
        format!(
            r#"Scenario(title: "abandon", duration: 200.0, nodes: {{
            "clients": Source(rate: 9.0, to: "server", timeout: 0.5, cancel_on_timeout: {cancel}),
            "server": Service(workers: 1, service: Exponential(mean: 0.1)),
        }})"#
        )
    };
    let mut keep = sim(&text(false), 2);
    keep.run_to_end();
    let k = keep.report().nodes["server"].clone();
    assert!(k.timed_out > 100 && k.abandoned > 100 && k.cancelled == 0, "{k:?}");
    let mut cancel = sim(&text(true), 2);
    cancel.run_to_end();
    let c = cancel.report().nodes["server"].clone();
    assert!(c.cancelled > 100 && c.abandoned == 0, "{c:?}");
    assert!(c.completed > k.completed, "cancelling frees capacity for live requests");
}
