//! Call policies against their reference semantics: the retry policy's attempt distribution
//! and backoff delays (AWS "Exponential Backoff and Jitter"), and the circuit breaker's state
//! machine on scripted outcome sequences (Resilience4j `CircuitBreakerStateMachine`).

use sluice::edge::breaker::{Breaker, BreakerState};
use sluice::edge::retry::backoff;
use sluice::engine::rng::stream;
use sluice::scenario::schema::{BreakerSpec, Jitter, RetrySpec};

use crate::util::sim;

const S: u64 = 1_000_000_000;

/// With independent failures of probability p and `max_attempts = 4`, attempt k+1 is sent iff
/// the first k failed: E[attempts #k+1] = N·p^k. Each count is binomial; we require every count
/// within 4 standard deviations, and the final outcomes to match too.
#[test]
fn attempt_distribution_matches_the_policy() {
    let p: f64 = 0.4;
    let text = format!(
        r#"Scenario(title: "retries", duration: 20000.0, nodes: {{
            "clients": Source(rate: 5.0, to: "server", retry: Retry(max_attempts: 4, backoff: 0.01, retry_on: [Error])),
            "server": Service(workers: 100, service: Deterministic(mean: 0.001), error_rate: {p}),
        }})"#
    );
    let mut s = sim(&text, 5);
    s.run_to_end();
    let r = s.report();
    let link = &r.links["clients->server"];
    let n = link.stats.by_attempt[0] as f64;
    assert!(n > 90_000.0);
    let sent = sluice::edge::attempts_sent(&link.stats.by_attempt);
    assert_eq!(sent.len(), 4, "never more than max_attempts: {sent:?}");
    for k in 1..4 {
        let q = p.powi(k as i32);
        let expected = n * q;
        let sd = (n * q * (1.0 - q)).sqrt();
        let got = link.stats.by_attempt[k] as f64;
        assert!((got - expected).abs() < 4.0 * sd, "attempt {}: {got} vs {expected:.0} ± {sd:.0}", k + 1);
    }
    let clients = &r.nodes["clients"];
    let fail = n * p.powi(4);
    let sd = (n * p.powi(4) * (1.0 - p.powi(4))).sqrt();
    assert!((clients.errors as f64 - fail).abs() < 4.0 * sd + 1.0, "final errors {} vs {fail:.0}", clients.errors);
    assert_eq!(clients.retries, link.stats.retries);
    assert_eq!(r.nodes["server"].arrivals, link.stats.attempts);
    assert_eq!(r.nodes["server"].retries, link.stats.retries, "retry attempts are counted at the callee");
}

/// Without jitter, the gaps between attempts are exactly `min(cap, backoff·multiplier^(n−1))`.
#[test]
fn backoff_without_jitter_spaces_attempts_exactly() {
    let text = r#"Scenario(title: "backoff", duration: 15.0, nodes: {
        "clients": Source(rate: 0.1, arrivals: Constant, to: "server",
            retry: Retry(max_attempts: 5, backoff: 0.1, multiplier: 3.0, max_backoff: 1.0, jitter: None, retry_on: [Error])),
        "server": Service(service: Deterministic(mean: 0.0), error_rate: 1.0),
    })"#;
    let mut s = sim(text, 1);
    // The single request is sent at t = 10 s; record when each attempt reaches the server.
    let mut times = Vec::new();
    let mut seen = 0;
    while s.now() < 14.0 && s.step() {
        let arrivals = s.node("server").unwrap().counters.arrivals;
        if arrivals > seen {
            seen = arrivals;
            times.push(s.now_nanos());
        }
    }
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(times[0], 10 * S);
    assert_eq!(gaps, [S / 10, 3 * S / 10, 9 * S / 10, S], "attempts at {times:?}");
    assert_eq!(s.report().nodes["clients"].errors, 1);
}

/// The jittered delays have the AWS distributions: full = U(0, e), equal = e/2 + U(0, e/2),
/// decorrelated = min(cap, U(base, 3·prev)).
#[test]
fn jitter_distributions_match_the_formulas() {
    let spec = |jitter| RetrySpec { backoff: 0.1, multiplier: 2.0, max_backoff: 2.0, jitter, ..RetrySpec::default() };
    let n = 100_000;
    for retry in 1..=6u32 {
        let expo = (0.1 * 2f64.powi(retry as i32 - 1)).min(2.0);
        for (jitter, lo, hi) in [(Jitter::Full, 0.0, expo), (Jitter::Equal, expo / 2.0, expo)] {
            let mut rng = stream(9, "jitter", "test");
            let xs: Vec<f64> = (0..n).map(|_| backoff(&spec(jitter), retry, 0, &mut rng) as f64 / 1e9).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let (min, max) = xs.iter().fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
            let sd_mean = (hi - lo) / (12f64.sqrt() * (n as f64).sqrt());
            assert!(min >= lo - 1e-9 && max <= hi + 1e-9, "{jitter:?} retry {retry}: range [{min}, {max}]");
            assert!((mean - (lo + hi) / 2.0).abs() < 5.0 * sd_mean, "{jitter:?} retry {retry}: mean {mean}");
        }
    }
    let mut rng = stream(9, "jitter", "decorrelated");
    let mut prev = 0;
    for _ in 0..10_000 {
        let d = backoff(&spec(Jitter::Decorrelated), 1, prev, &mut rng);
        let upper = if prev == 0 { 0.3 } else { (3.0 * prev as f64 / 1e9).min(2.0) };
        let secs = d as f64 / 1e9;
        assert!(secs >= 0.1 - 1e-9 && secs <= upper.max(0.1) + 1e-9, "{secs} not in [0.1, {upper}]");
        prev = d;
    }
}

fn spec() -> BreakerSpec {
    BreakerSpec {
        enabled: true,
        window: 10,
        min_calls: 5,
        failure_rate: 50.0,
        slow_call_rate: 100.0,
        slow_call_duration: 1.0,
        open_wait: 60.0,
        half_open_calls: 3,
        automatic_half_open: false,
    }
}

/// Feeds outcomes ('s' success, 'f' failure, 'w' slow success) at time `t`.
fn feed(b: &mut Breaker, s: &BreakerSpec, t: u64, outcomes: &str) -> Vec<BreakerState> {
    outcomes
        .chars()
        .map(|o| {
            let (failed, dur) = match o {
                'f' => (true, 0),
                'w' => (false, 2 * S),
                _ => (false, 0),
            };
            b.record(s, t, failed, dur);
            b.state
        })
        .collect()
}

#[test]
fn breaker_closed_to_open_needs_min_calls_and_threshold() {
    use BreakerState::*;
    let s = spec();
    let mut b = Breaker::default();
    // 4 failures: below min_calls = 5, no decision even at 100 %.
    assert_eq!(feed(&mut b, &s, 0, "ffff"), [Closed; 4]);
    // 5th call (a success): 4/5 = 80 % ≥ 50 % → OPEN.
    assert_eq!(feed(&mut b, &s, 0, "s"), [Open]);
    assert_eq!(b.times_opened, 1);
    // A window of successes then exactly 50 % failures trips (≥, not >).
    let mut b = Breaker::default();
    assert_eq!(*feed(&mut b, &s, 0, "sssssssss").last().unwrap(), Closed);
    assert_eq!(*feed(&mut b, &s, 0, "ffff").last().unwrap(), Closed, "4/10 < 50 %");
    assert_eq!(*feed(&mut b, &s, 0, "f").last().unwrap(), Open, "5/10 = 50 % trips");
}

#[test]
fn breaker_open_rejects_then_half_opens_lazily_after_the_wait() {
    use BreakerState::*;
    let s = spec();
    let mut b = Breaker::default();
    feed(&mut b, &s, 0, "fffff");
    assert_eq!(b.state, Open);
    // Calls during the wait are rejected; at exactly opened_at + wait still OPEN (strictly after).
    assert_eq!(b.try_acquire(&s, 30 * S), (false, None));
    assert_eq!(b.try_acquire(&s, 60 * S), (false, None));
    // The first call after the wait moves to HALF_OPEN and is admitted as a probe.
    let (ok, t) = b.try_acquire(&s, 60 * S + 1);
    assert!(ok);
    assert_eq!(t.map(|t| (t.from, t.to)), Some((Open, HalfOpen)));
    // Three probes in total; the fourth is rejected.
    assert!(b.try_acquire(&s, 61 * S).0);
    assert!(b.try_acquire(&s, 61 * S).0);
    assert!(!b.try_acquire(&s, 61 * S).0);
    // min(min_calls, half_open_calls) = 3 outcomes decide: 1/3 failed < 50 % → CLOSED.
    assert_eq!(feed(&mut b, &s, 62 * S, "sfs"), [HalfOpen, HalfOpen, Closed]);
    // A fresh window: 4 more failures are below min_calls again.
    assert_eq!(*feed(&mut b, &s, 63 * S, "ffff").last().unwrap(), Closed);
}

#[test]
fn breaker_half_open_failures_reopen_and_slow_calls_trip() {
    use BreakerState::*;
    let s = spec();
    let mut b = Breaker::default();
    feed(&mut b, &s, 0, "fffff");
    assert!(b.try_acquire(&s, 61 * S).0);
    assert_eq!(feed(&mut b, &s, 61 * S, "sff"), [HalfOpen, HalfOpen, Open]);
    assert_eq!(b.times_opened, 2);
    assert_eq!(b.opened_at, 61 * S, "the wait restarts from the re-opening");
    // Slow calls: threshold 100 % slow; five slow successes trip it.
    let mut b = Breaker::default();
    assert_eq!(*feed(&mut b, &s, 0, "wwwws").last().unwrap(), Closed, "4/5 slow < 100 %");
    let mut b = Breaker::default();
    assert_eq!(*feed(&mut b, &s, 0, "wwwww").last().unwrap(), Open);
    // Disabled: always permits, never records.
    let off = BreakerSpec { enabled: false, ..spec() };
    let mut b = Breaker::default();
    feed(&mut b, &off, 0, "ffffffffff");
    assert_eq!((b.state, b.try_acquire(&off, 0).0), (Closed, true));
}

/// In the engine: a dead dependency trips the breaker, which then sheds the load entirely
/// (zero-latency rejections) and probes every `open_wait`.
#[test]
fn breaker_in_the_engine_removes_load_from_a_failing_dependency() {
    let text = r#"Scenario(title: "breaker", duration: 100.0, nodes: {
        "clients": Source(rate: 50.0, to: "api"),
        "api": Service(workers: 50, service: Deterministic(mean: 0.001),
            calls: [Call(to: "db", breaker: Breaker(window: 20, min_calls: 10, open_wait: 10.0, half_open_calls: 2))]),
        "db": Service(workers: 10, service: Deterministic(mean: 0.001), error_rate: 1.0),
    })"#;
    let mut s = sim(text, 2);
    s.run_to_end();
    let r = s.report();
    let db_link = &r.links["api->db"];
    // 10 calls to open, then 2 probes every ~10 s (lazy: at the first call after the wait).
    assert_eq!(db_link.breaker_opened, 10, "opened at t≈0.2 s and after each of 9 probe rounds");
    assert_eq!(r.nodes["db"].arrivals, 10 + 9 * 2);
    assert_eq!(db_link.stats.breaker_rejected + r.nodes["db"].arrivals, r.nodes["api"].arrivals);
    assert_eq!(r.nodes["api"].errors, r.nodes["api"].arrivals);
    assert_eq!(r.nodes["clients"].rejected_by.downstream, 0, "a breaker rejection at api is an error for clients");
}

/// Automatic mode moves to HALF_OPEN on a timer even without traffic.
#[test]
fn automatic_half_open_uses_a_timer() {
    let text = r#"Scenario(title: "auto", duration: 30.0, nodes: {
        "clients": Source(rate: 100.0, arrivals: Schedule(points: [(0.0, 1.0), (1.0, 0.0)]), to: "db",
            breaker: Breaker(window: 5, min_calls: 5, open_wait: 5.0, automatic_half_open: true)),
        "db": Service(service: Deterministic(mean: 0.0), error_rate: 1.0),
    })"#;
    let mut s = sim(text, 1);
    s.run_until(4.0);
    assert_eq!(s.node("clients").unwrap().edges[0].breaker, Some(BreakerState::Open));
    s.run_until(10.0);
    assert_eq!(s.node("clients").unwrap().edges[0].breaker, Some(BreakerState::HalfOpen));
    assert!(
        s.log().iter().any(|e| e.event
            == sluice::engine::log::LogEvent::Breaker { from: BreakerState::Open, to: BreakerState::HalfOpen })
    );
}

/// Every tenant gets the statistics of a node, summed over its classes: two classes of one
/// tenant add up, refusals by reason included.
#[test]
fn tenants_sum_their_classes() {
    let text = r#"Scenario(title: "tenants", duration: 200.0,
        classes: [
            Class(name: "acme-web", weight: 1.0, tenant: Some("acme")),
            Class(name: "acme-batch", weight: 1.0, tenant: Some("acme")),
            Class(name: "globex", weight: 1.0),
        ],
        nodes: {
            "clients": Source(rate: 30.0, to: "api"),
            "api": Service(workers: 2, service: Exponential(mean: 0.05),
                rate_limit: RateLimit(rate: 8.0, burst: Some(4.0), key: Tenant)),
        })"#;
    let mut s = sim(text, 3);
    s.run_to_end();
    let api = &s.report().nodes["api"];
    let (web, batch, globex) = (&api.classes["acme-web"], &api.classes["acme-batch"], &api.classes["globex"]);
    let acme = &api.tenants["acme"];
    assert_eq!(acme.arrivals, web.arrivals + batch.arrivals);
    assert_eq!(acme.completed, web.completed + batch.completed);
    assert_eq!(acme.rejected_by.rate_limited, web.rejected_by.rate_limited + batch.rejected_by.rate_limited);
    assert_eq!(api.tenants["globex"].arrivals, globex.arrivals, "a class naming no tenant is its own");
    // One bucket per tenant: acme's two classes (20 req/s offered) share 8 req/s; globex (10
    // req/s) has 8 of its own. Neither gets more than 8 × 200 s + the burst of 4.
    let admitted = |c: &sluice::metrics::report::ClassReport| c.arrivals - c.rejected_by.rate_limited;
    assert!((1_560..=1_604).contains(&admitted(acme)), "acme admitted {}", admitted(acme));
    assert!((1_400..=1_604).contains(&admitted(globex)), "globex admitted {}", admitted(globex));
    assert!(admitted(acme) > admitted(globex), "the busier tenant uses its bucket more fully");
}

/// A forward blocked at a full next queue holds its worker where it comes from: that time is
/// booked there (`blocked`), and the next node's wait starts when it gets a place.
#[test]
fn blocked_time_is_booked_where_the_worker_is_held() {
    let text = r#"Scenario(title: "tandem", duration: 2000.0, warmup: 100.0,
        nodes: {
            "clients": Source(rate: 0.9, to: "a"),
            "a": Service(workers: 1, queue: Queue(capacity: Some(20), overflow: Reject), service: Exponential(mean: 0.5),
                routes: [Route(to: "b", p: 1.0)]),
            "b": Service(workers: 1, queue: Queue(capacity: Some(0), overflow: Block), service: Exponential(mean: 1.0)),
        })"#;
    let mut s = sim(text, 5);
    s.run_to_end();
    let r = s.report();
    let (a, b) = (&r.nodes["a"], &r.nodes["b"]);
    let blocked = a.blocked.as_ref().expect("a's worker was held by forwards blocked at b");
    assert!(blocked.count > 100 && blocked.mean_s > 0.1, "{blocked:?}");
    assert!(blocked.fraction > 0.05 && blocked.fraction < 1.0, "{blocked:?}");
    assert!(b.blocked.is_none(), "b holds no one's worker");
    // b has no waiting room: a forward enters service the moment it gets a place, so nothing
    // waits at b — the blocked time is a's, not b's.
    assert_eq!(b.wait_s.mean, 0.0, "b's wait excludes the time spent blocked: {:?}", b.wait_s);
    assert!(b.wait_s.p99 <= 1e-9, "(a histogram records 0 as its smallest value, 1 ns): {:?}", b.wait_s);
    assert!(b.latency_s.mean < 1.2, "b's latency is its service, not the blocking: {:?}", b.latency_s);
}

/// A request that finds no permit waits up to `max_wait` (Resilience4j's `maxWaitDuration`),
/// then is refused as the limit or its bulkhead; waiters are taken first come first served,
/// and crashes, cancelling callers and forwarded requests leave the books exact.
#[test]
fn waiting_for_a_permit_ends_in_a_permit_or_a_refusal() {
    let text = r#"Scenario(title: "permits", duration: 120.0,
        classes: [Class(name: "web", weight: 3.0), Class(name: "batch", weight: 1.0)],
        nodes: {
            "clients": Source(rate: 40.0, to: "front", timeout: 0.8, cancel_on_timeout: true),
            "front": Service(workers: 50, service: Exponential(mean: 0.01), routes: [Route(to: "api", p: 1.0)]),
            "api": Service(workers: 20, service: Exponential(mean: 0.2),
                concurrency: Concurrency(max_concurrent: Some(6), max_wait: 0.3,
                    pools: [Pool(classes: ["batch"], max_concurrent: 1, max_wait: 2.0)])),
        },
        timeline: ["at 50 for 5 set api.up = false"])"#;
    let mut s = sim(text, 9);
    for stop in [20.0, 52.0, 80.0, 120.0] {
        s.run_until(stop);
        let r = s.report();
        let audit = s.audit_in_system();
        for (name, n) in &r.nodes {
            assert_eq!(n.arrivals, n.labelled() + n.in_system, "{name} at {stop}: {n:?}");
            assert_eq!(n.in_system, audit[name], "{name} at {stop}");
        }
    }
    let api = &s.report().nodes["api"];
    let (web, batch) = (&api.classes["web"], &api.classes["batch"]);
    assert!(web.rejected_by.concurrency_limit > 0, "web gives up after 0.3 s: {:?}", web.rejected_by);
    assert!(batch.rejected_by.bulkhead_full > 0, "batch gives up on its pool after 2 s: {:?}", batch.rejected_by);
    // These requests were forwarded: front's workers were held while they waited at api's door,
    // and that time is booked at front, as for a blocked forward.
    let held = s.report().nodes["front"].blocked.clone().expect("front's workers waited on api's permits");
    assert!(held.count > 100 && held.p99_s > 0.25, "{held:?}");
    assert!(held.p99_s < 2.05, "no one waits past the longest max_wait: {held:?}");
}

/// A deadline caps every attempt and, propagated, lets servers drop expired work before they
/// start it or call on: counted as `deadline_expired`, and abandoned work at the bottom falls.
#[test]
fn propagated_deadlines_drop_expired_work_early() {
    let text = |propagate: bool| {
        format!(
            r#"Scenario(title: "deadlines", duration: 200.0, nodes: {{
                "clients": Source(rate: 30.0, to: "api", deadline: Some(0.5), propagate_deadline: {propagate},
                    retry: Retry(max_attempts: 3, backoff: 0.05, retry_on: [Timeout, Rejected])),
                "api": Service(workers: 8, queue: Queue(capacity: Some(200)), service: Exponential(mean: 0.01),
                    calls: [Call(to: "db", propagate_deadline: {propagate})]),
                "db": Service(workers: 4, queue: Queue(capacity: Some(200)), service: Exponential(mean: 0.15)),
            }})"#
        )
    };
    let run = |propagate| {
        let mut s = sim(&text(propagate), 4);
        s.run_to_end();
        s.report()
    };
    let (off, on) = (run(false), run(true));
    // db can serve ~27/s of the 30/s offered: a standing overload.
    let dropped = |r: &sluice::Report, n: &str| r.nodes[n].deadline_dropped;
    assert_eq!(dropped(&off, "api") + dropped(&off, "db"), 0, "nobody knows the deadline without propagation");
    assert!(dropped(&on, "db") > 100, "db drops work whose deadline passed in its queue: {}", dropped(&on, "db"));
    // Without propagation db's throughput looks fine, but much of it is past the clients'
    // deadline (goodput below throughput); with it, db's work is in time.
    let (db_off, db_on) = (&off.nodes["db"], &on.nodes["db"]);
    assert!(db_off.late > 1000 && db_off.goodput_per_s < 0.8 * db_off.throughput_per_s, "{db_off:?}");
    assert!(db_on.late * 10 < db_off.late, "late work at db: {} with propagation, {} without", db_on.late, db_off.late);
    assert!(on.nodes["clients"].goodput_per_s > off.nodes["clients"].goodput_per_s, "and more answers in time");
    // The deadline caps the client's attempts: none outlives it, with or without propagation.
    for r in [&off, &on] {
        assert!(r.nodes["clients"].latency_s.p999 <= 0.51, "{:?}", r.nodes["clients"].latency_s);
    }
}

/// Retries multiply across layers: three tiers each trying 3 times against a database that
/// always fails make 3 × 3 × 3 = 27 attempts at the database per logical request, visible in one
/// number of the report.
#[test]
fn amplification_multiplies_across_layers() {
    let retry = "retry: Retry(max_attempts: 3, backoff: 0.001, retry_on: [Error])";
    let text = format!(
        r#"Scenario(title: "amplification", duration: 100.0, nodes: {{
            "clients": Source(rate: 2.0, to: "a", {retry}),
            "a": Service(workers: 100, service: Deterministic(mean: 0.001), calls: [Call(to: "b", {retry})]),
            "b": Service(workers: 100, service: Deterministic(mean: 0.001), calls: [Call(to: "db", {retry})]),
            "db": Service(workers: 100, service: Deterministic(mean: 0.001), error_rate: 1.0),
        }})"#
    );
    let mut s = sim(&text, 2);
    s.run_to_end();
    let r = s.report();
    let amp = &r.amplification["clients"];
    // Requests still in flight at the end make the ratios a hair short of exact.
    for (node, expected) in [("a", 3.0), ("b", 9.0), ("db", 27.0)] {
        assert!(
            (amp[node] - expected).abs() < 0.02 * expected,
            "{node}: {} per request, expected {expected}",
            amp[node]
        );
    }
    for edge in ["clients->a", "a->b", "b->db"] {
        assert!((r.links[edge].attempts_per_request - 3.0).abs() < 0.01, "{edge}: {:?}", r.links[edge]);
    }
}

/// Across a network a request's latency at its source is the server's plus both one-way
/// delays; a lost attempt is noticed only by the timeout, and a request still on the wire when
/// its caller gives up is served anyway (abandoned work).
#[test]
fn network_delay_and_loss_on_an_edge() {
    let text = |net: &str| {
        format!(
            r#"Scenario(title: "net", duration: 2000.0, warmup: 100.0, nodes: {{
                "clients": Source(rate: 5.0, to: "server", timeout: 0.5, {net}),
                "server": Service(workers: 4, service: Exponential(mean: 0.05)),
            }})"#
        )
    };
    let run = |net: &str| {
        let mut s = sim(&text(net), 3);
        s.run_to_end();
        s.report()
    };
    let plain = run("");
    let slow = run("network: Network(request: Deterministic(mean: 0.010), response: Deterministic(mean: 0.004))");
    let gap = slow.nodes["clients"].latency_s.mean - plain.nodes["clients"].latency_s.mean;
    // Same seed, same server draws: the sources' mean latencies differ by the 14 ms round trip
    // (up to the few requests that time out differently).
    assert!((gap - 0.014).abs() < 0.0005, "round trip adds {gap} s");
    // The server sees the same arrivals 10 ms later: its own latency stays (up to the few
    // requests the shifted warm-up and end count differently).
    let server = (slow.nodes["server"].latency_s.mean - plain.nodes["server"].latency_s.mean).abs();
    assert!(server < 0.0005, "the server's own latency does not change: {server}");
    let lossy = run("network: Network(loss: 0.1)");
    let link = &lossy.links["clients->server"].stats;
    let share = link.lost as f64 / link.attempts as f64;
    assert!((share - 0.1).abs() < 0.01, "lost share {share}");
    assert!(link.timeouts >= link.lost, "every loss is noticed by the timeout: {link:?}");
    // A long request delay past the timeout: the caller gives up, the server still works.
    let late = run("network: Network(request: Deterministic(mean: 0.6))");
    assert_eq!(late.nodes["clients"].completed, 0);
    assert!(late.nodes["server"].abandoned > 8000, "{:?}", late.nodes["server"]);
}

/// The SRE book's adaptive throttling in a steady overload: a client sending far more than the
/// backend accepts ends up letting through about K × the accepted rate (ch. 21: "rejects one
/// request for each it processes" at K = 2).
#[test]
fn adaptive_throttling_sends_about_k_times_what_is_accepted() {
    for k in [2.0, 1.5] {
        let text = format!(
            r#"Scenario(title: "throttle", duration: 600.0, warmup: 240.0, nodes: {{
                "clients": Source(rate: 1000.0, to: "server", throttle: Throttle(k: {k}, window: 120.0)),
                "server": Service(workers: 50, service: Exponential(mean: 0.01),
                    rate_limit: RateLimit(rate: 100.0, burst: Some(10.0))),
            }})"#
        );
        let mut s = sim(&text, 6);
        s.run_to_end();
        let r = s.report();
        let server = &r.nodes["server"];
        let span = r.sim_time_s - r.warmup_s;
        let (sent, accepted) = (server.arrivals as f64 / span, (server.arrivals - server.rejected) as f64 / span);
        assert!((accepted - 100.0).abs() < 2.0, "the backend accepts its rate: {accepted}/s");
        assert!((sent / accepted - k).abs() < 0.05 * k, "K = {k}: {sent:.1}/s sent for {accepted:.1}/s accepted");
        assert!(r.links["clients->server"].stats.throttled > 100_000, "most attempts never leave the client");
    }
}

/// Hedging cuts the tail ("The Tail at Scale"): a second copy sent after the 95th percentile of
/// recent answer times turns a slow first copy into a fast second one, for about 5 % more work;
/// the losing copies are abandoned work at the server.
#[test]
fn hedging_at_the_95th_percentile_cuts_the_tail() {
    let text = |hedge: &str| {
        format!(
            r#"Scenario(title: "hedge", duration: 3000.0, warmup: 100.0, nodes: {{
                "clients": Source(rate: 20.0, to: "server", {hedge}),
                "server": Service(workers: 100, service: LogNormal(mean: 0.02, cv: 3.0)),
            }})"#
        )
    };
    let run = |hedge: &str| {
        let mut s = sim(&text(hedge), 8);
        s.run_to_end();
        s.report()
    };
    let (plain, hedged) = (run(""), run("hedge: Hedge(quantile: 0.95)"));
    let (p, h) = (&plain.nodes["clients"].latency_s, &hedged.nodes["clients"].latency_s);
    assert!(h.p99 < 0.6 * p.p99, "p99 {:.4} s hedged against {:.4} s", h.p99, p.p99);
    let link = &hedged.links["clients->server"].stats;
    let extra = link.hedges as f64 / (link.attempts - link.hedges) as f64;
    assert!((0.03..0.08).contains(&extra), "about 5 % of attempts get a copy: {extra:.3}");
    assert!(link.in_flight <= 3, "no copy is left counted in flight (only requests still going at the end): {link:?}");
    assert!(hedged.nodes["server"].abandoned > 0, "the losing copies are abandoned work");
    // Every request is still answered once (up to the few still going at the end).
    let (a, b) = (hedged.nodes["clients"].completed as i64, plain.nodes["clients"].completed as i64);
    assert!((a - b).abs() <= 3, "{a} answered hedged, {b} without");
}

#[test]
fn an_adaptive_limit_set_at_time_zero_starts_from_the_set_value() {
    // The file says 5; `--set …initial=40` at t = 0 is the limit's start, as if written there.
    // Light load never pushes AIMD (no drop, in flight far below half the limit), so the limit
    // stays where it started, on the station and on the edge alike.
    let text = r#"Scenario(title: "t0", duration: 30.0, sample_every: 1.0,
        nodes: {"clients": Source(rate: 5.0, to: "api", adaptive_limit: AdaptiveLimit(algorithm: Aimd, initial: Some(5), min_limit: Some(1))),
                "api": Service(workers: 4, service: Exponential(mean: 0.01),
                    adaptive_limit: AdaptiveLimit(algorithm: Aimd, initial: Some(5), min_limit: Some(1)))})"#;
    let mut sim = crate::util::sim(text, 1);
    sim.set("api.adaptive_limit.initial", "40").unwrap();
    sim.set("clients.adaptive_limit.initial", "40").unwrap();
    sim.run_to_end();
    let limit = sim.reading_series("api", "limit");
    assert!(!limit.is_empty() && limit.iter().all(|&(_, l)| l == 40.0), "{limit:?}");
    let edge = sim.reading_series("clients", "->api limit");
    assert!(!edge.is_empty() && edge.iter().all(|&(_, l)| l == 40.0), "{edge:?}");
    let stats = sim.report().nodes["api"].policies.as_ref().and_then(|p| p.adaptive_limit).unwrap();
    assert_eq!((stats.min_limit, stats.max_limit), (40, 40));
    assert!(stats.samples > 100);
}
