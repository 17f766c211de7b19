//! The shipped stories about admission control hold what their *what to watch* notes say, on
//! the seeds the notes quote (1–3): per-tenant rate limits contain a noisy neighbour
//! (`noisy-neighbour.ron`), priority shedding carries critical traffic through a 3× overload
//! (`priority-shedding.ron`), a bulkhead keeps a slow dependency's batch work from starving
//! critical traffic (`bulkheads.ron`), and CoDel keeps a standing overload from turning into
//! a queue of answers nobody waits for (`standing-queue.ron`).
//!
//! Each test runs the story as shipped and with the change its notes invite (`--set …`), and
//! asserts both sides of the contrast. The margins leave room around the measured values, which
//! each assertion quotes for seeds 1–3.

use sluice::Sim;
use sluice::metrics::report::Report;
use sluice::metrics::series::Point;

use super::util::{SEEDS, run_story as run};

/// Time-weighted mean of `f` over the series points of `node` whose interval ends in (from, to]:
/// a per-second rate for counters, a mean for gauges.
fn mean(sim: &Sim, node: &str, from: f64, to: f64, f: impl Fn(&Point) -> f64) -> f64 {
    let pts: Vec<&Point> = sim.series(node).iter().filter(|p| p.t > from && p.t <= to).collect();
    let span: f64 = pts.iter().map(|p| p.span).sum();
    assert!(span > 0.0, "{node} has no samples in ({from}, {to}]");
    pts.iter().map(|p| f(p) * p.span).sum::<f64>() / span
}

/// Largest queue length `node` reached in (from, to].
fn queue_max(sim: &Sim, node: &str, from: f64, to: f64) -> f64 {
    sim.series(node).iter().filter(|p| p.t > from && p.t <= to).map(|p| p.queue_len_max).fold(0.0, f64::max)
}

/// Share of a node's (or class's) arrivals that completed.
fn success(completed: u64, arrivals: u64) -> f64 {
    assert!(arrivals > 0);
    completed as f64 / arrivals as f64
}

/// A source's requests that ended in anything but success.
fn failures(r: &Report, source: &str) -> u64 {
    let n = &r.nodes[source];
    n.errors + n.rejected + n.dropped + n.timed_out
}

#[test]
fn noisy_neighbour_per_tenant_buckets_contain_the_flood() {
    const FILE: &str = "noisy-neighbour.ron";
    for seed in SEEDS {
        let limited = run(FILE, seed, &[]);
        let calm = run(FILE, seed, &[("initech-app.arrivals.kind", "poisson")]);
        let open = run(FILE, seed, &[("api.rate_limit.enabled", "false")]);
        let shared = run(FILE, seed, &[("api.rate_limit.key", "global"), ("api.rate_limit.rate", "180")]);
        let (r, base, o) = (limited.report(), calm.report(), open.report());
        let api = &r.nodes["api"];

        // "initech gets exactly 60 req/s through and the rest is refused as rate_limited
        // (about 36 000 in the run)": 59.99–60.01 req/s, 35 981–36 169 refusals.
        let through = mean(&limited, "initech-app", 110.0, 250.0, |p| p.completed as f64);
        assert!((59.0..61.0).contains(&through), "seed {seed}: initech gets {through} req/s through");
        let initech = &api.classes["initech"];
        assert!(initech.rejected_by.rate_limited > 30_000, "seed {seed}: {:?}", initech.rejected_by);
        assert_eq!(initech.rejected, initech.rejected_by.rate_limited, "seed {seed}: every refusal is a 429");
        assert_eq!(api.rejected_by.rate_limited, initech.rejected_by.rate_limited, "seed {seed}");
        // "During the flood the API is 60 % busy instead of 45 %."
        let busy = mean(&limited, "api", 110.0, 250.0, |p| p.utilization);
        let busy_calm = mean(&calm, "api", 110.0, 250.0, |p| p.utilization);
        assert!((0.55..0.65).contains(&busy) && (0.4..0.5).contains(&busy_calm), "seed {seed}: {busy} vs {busy_calm}");

        for tenant in ["acme", "globex"] {
            let app = format!("{tenant}-app");
            // "acme and globex are never refused"; "every request succeeds".
            assert_eq!(api.classes[tenant].rejected, 0, "seed {seed}: {tenant} refused");
            assert_eq!(failures(&r, &app), 0, "seed {seed}: {tenant} failed requests");
            // "their p99 stays within 10 ms of a run without the flood": 0.093–0.100 s against
            // 0.092–0.096 s (at most +7 ms, ×1.07).
            let (p99, p99_calm) = (r.nodes[&app].latency_s.p99, base.nodes[&app].latency_s.p99);
            assert!(p99 <= p99_calm + 0.015 && p99 <= 1.2 * p99_calm, "seed {seed}: {tenant} p99 {p99} vs {p99_calm}");

            // Without the limit: "from t ≈ 105 s to t ≈ 252 s no tenant gets a single answer in
            // time, and about half of acme's and globex's requests in the run fail" (50–52 %
            // succeed).
            let flood = mean(&open, &app, 110.0, 250.0, |p| p.completed as f64);
            assert!(flood < 0.5, "seed {seed}: {tenant} gets {flood} req/s through the open flood");
            let ok = success(o.nodes[&app].completed, o.nodes[&app].arrivals);
            assert!((0.4..0.6).contains(&ok), "seed {seed}: {tenant} success {ok} without the limit");

            // One global bucket sized to the API: "acme and globex get half their requests
            // refused while it lasts (about 15 of their 30 req/s get through)": 14.6–15.6.
            let shared_ok = mean(&shared, &app, 110.0, 250.0, |p| p.completed as f64);
            assert!((12.0..18.0).contains(&shared_ok), "seed {seed}: {tenant} {shared_ok} req/s with one bucket");
        }
        // "api stays busy on work whose caller has already left (abandoned, about 29 500)":
        // 29 442–29 747.
        assert!(o.nodes["api"].abandoned > 25_000, "seed {seed}: abandoned {}", o.nodes["api"].abandoned);
        assert_eq!(o.nodes["api"].rejected_by.rate_limited, 0);
    }
}

#[test]
fn priority_shedding_keeps_critical_traffic_through_a_3x_overload() {
    const FILE: &str = "priority-shedding.ron";
    for seed in SEEDS {
        let shedding = run(FILE, seed, &[]);
        let open = run(FILE, seed, &[("api.shed.enabled", "false")]);
        let quick = run(FILE, seed, &[("api.shed.load.window", "0.25")]);
        let (r, o, q) = (shedding.report(), open.report(), quick.report());
        let ok = |r: &Report, class: &str| {
            let c = &r.nodes["clients"].classes[class];
            success(c.completed, c.arrivals)
        };
        let shed = |class: &str| r.nodes["api"].classes[class].rejected_by.shed;

        // "about 18 000 sheddable and 6 400–7 000 standard requests are shed and not one
        // critical request": 17 779–17 981 and 6 392–6 983.
        assert_eq!(shed("critical"), 0, "seed {seed}");
        assert!(
            shed("standard") > 5_000 && shed("sheddable") > 15_000,
            "seed {seed}: {:?}",
            r.nodes["api"].rejected_by
        );
        assert!(shed("sheddable") > 2 * shed("standard"), "seed {seed}: sheddable goes first");
        // Nearly every refusal is a shed. Seed 2 also has 11 queue_full (of 24 429 refusals): the
        // queue's 100 places filled in a burst the 1 s load signal was slow to see.
        let refused = r.nodes["api"].rejected;
        assert!(
            r.nodes["api"].rejected_by.shed as f64 >= 0.99 * refused as f64,
            "seed {seed}: {:?}",
            r.nodes["api"].rejected_by
        );
        // "The API stays 94 % busy and answers 92–95 req/s in time."
        let goodput = mean(&shedding, "clients", 70.0, 180.0, |p| p.completed as f64);
        let busy = mean(&shedding, "api", 70.0, 180.0, |p| p.utilization);
        assert!(goodput > 88.0 && busy > 0.9, "seed {seed}: goodput {goodput}, utilization {busy}");
        // "99.1–99.9 % of critical requests succeed, against 45–49 % of standard and 14–15 % of
        // sheddable ones."
        let (critical, standard, sheddable) = (ok(&r, "critical"), ok(&r, "standard"), ok(&r, "sheddable"));
        assert!(critical >= 0.98, "seed {seed}: critical success {critical}");
        assert!((0.35..0.6).contains(&standard), "seed {seed}: standard success {standard}");
        assert!(sheddable < 0.2, "seed {seed}: sheddable success {sheddable}");

        // Without shedding: "the queue fills and stays full, the API is 100 % busy, yet only
        // 21–32 req/s come back in time. Every class fares the same: 21–24 % of requests
        // succeed, critical included, and about 8 300–9 200 answers go to callers who have
        // already given up."
        assert_eq!(o.nodes["api"].queue_len_max, 100, "seed {seed}");
        assert!(mean(&open, "api", 70.0, 180.0, |p| p.queue_len) > 95.0, "seed {seed}: the queue stays full");
        assert!(mean(&open, "api", 70.0, 180.0, |p| p.utilization) > 0.99, "seed {seed}");
        let open_goodput = mean(&open, "clients", 70.0, 180.0, |p| p.completed as f64);
        assert!(open_goodput < 40.0, "seed {seed}: {open_goodput} req/s in time without shedding");
        let open_ok = ["critical", "standard", "sheddable"].map(|c| ok(&o, c));
        assert!(open_ok.iter().all(|s| (0.15..0.3).contains(s)), "seed {seed}: success without shedding {open_ok:?}");
        assert!(open_ok[0] < critical - 0.6, "seed {seed}: critical {critical} with shedding, {} without", open_ok[0]);
        assert!(o.nodes["api"].abandoned > 7_000, "seed {seed}: abandoned {}", o.nodes["api"].abandoned);
        assert_eq!(o.nodes["api"].rejected_by.shed, 0);

        // "the queue stands at about 17 and critical p99 is 0.78–0.87 s. With a 0.25 s window
        // the queue averages about 5, critical p99 is 0.52–0.55 s" (and 0–2 of ~8 400 critical
        // requests fail).
        let (slow_q, quick_q) =
            (mean(&shedding, "api", 70.0, 180.0, |p| p.queue_len), mean(&quick, "api", 70.0, 180.0, |p| p.queue_len));
        assert!(slow_q > 12.0 && quick_q < 8.0, "seed {seed}: queue {slow_q} with a 1 s window, {quick_q} with 0.25 s");
        let slow_p99 = r.nodes["clients"].classes["critical"].latency_s.p99;
        let quick_p99 = q.nodes["clients"].classes["critical"].latency_s.p99;
        assert!(slow_p99 > 0.7 && quick_p99 < 0.6, "seed {seed}: critical p99 {slow_p99} → {quick_p99}");
        let c = &q.nodes["clients"].classes["critical"];
        assert!(c.arrivals - c.completed <= 10, "seed {seed}: {c:?}");
    }
}

#[test]
fn bulkheads_keep_a_slow_dependency_from_starving_critical_traffic() {
    const FILE: &str = "bulkheads.ron";
    for seed in SEEDS {
        let pooled = run(FILE, seed, &[]);
        let shared = run(FILE, seed, &[("api.concurrency.enabled", "false")]);
        let alone = run(FILE, seed, &[("batch-jobs.rate", "0")]);
        let (r, s, a) = (pooled.report(), shared.report(), alone.report());

        // "batch holds its 8 permits and its other requests are refused at once as
        // bulkhead_full (1 217–1 278 in the run)... The API keeps about 16 of its 32 workers
        // busy, 8 of them on batch, and its queue stays nearly empty" (16.2–16.7; 7–9 at most).
        let classes = &r.nodes["api"].classes;
        assert!(classes["batch"].rejected_by.bulkhead_full > 1_000, "seed {seed}: {:?}", classes["batch"].rejected_by);
        assert_eq!(classes["critical"].rejected, 0, "seed {seed}: critical is in no pool");
        let busy = mean(&pooled, "api", 70.0, 180.0, |p| p.busy);
        assert!((12.0..20.0).contains(&busy), "seed {seed}: {busy} busy workers");
        let queued = queue_max(&pooled, "api", 60.0, 180.0);
        assert!(queued < 30.0, "seed {seed}: api's queue reached {queued}");

        // "every critical request succeeds, before, during and after the slowdown. Its p99 is
        // 0.74–0.77 s... with no batch traffic at all it is 0.69–0.71 s."
        assert_eq!(failures(&r, "web"), 0, "seed {seed}: {:?}", r.nodes["web"]);
        let during = mean(&pooled, "web", 70.0, 180.0, |p| p.completed as f64);
        assert!(during > 37.0, "seed {seed}: web gets {during} of 40 req/s during the slowdown");
        let (p99, p99_alone) = (r.nodes["web"].latency_s.p99, a.nodes["web"].latency_s.p99);
        assert!(p99 < 0.85 && p99 < p99_alone + 0.12, "seed {seed}: web p99 {p99} vs {p99_alone} without batch");

        // Without the bulkhead: "all 32 workers wait on the warehouse and the queue is full
        // (100)... only 13–14 of the web's 40 req/s come back in time, and 29–31 % of all
        // critical requests in the run fail (timeouts, and queue_full at api). Batch gets more
        // through (16–17 req/s instead of 9)."
        assert!(mean(&shared, "api", 70.0, 180.0, |p| p.busy) > 31.5, "seed {seed}: api's workers all held");
        assert_eq!(s.nodes["api"].queue_len_max, 100, "seed {seed}");
        let starved = mean(&shared, "web", 70.0, 180.0, |p| p.completed as f64);
        assert!(starved < 20.0, "seed {seed}: web gets {starved} req/s without the bulkhead");
        let ok = success(s.nodes["web"].completed, s.nodes["web"].arrivals);
        assert!((0.6..0.8).contains(&ok), "seed {seed}: critical success {ok} without the bulkhead");
        assert!(s.nodes["web"].timed_out > 1_000, "seed {seed}: {:?}", s.nodes["web"]);
        assert!(s.nodes["api"].classes["critical"].rejected_by.queue_full > 0, "seed {seed}");
        assert_eq!(s.nodes["api"].rejected_by.bulkhead_full, 0);
        let batch = mean(&pooled, "batch-jobs", 70.0, 180.0, |p| p.completed as f64);
        let batch_shared = mean(&shared, "batch-jobs", 70.0, 180.0, |p| p.completed as f64);
        assert!(batch_shared > batch + 4.0, "seed {seed}: batch {batch} req/s pooled, {batch_shared} shared");
    }
}

#[test]
fn codel_bounds_a_standing_queue_that_fifo_lets_grow_past_every_timeout() {
    const FILE: &str = "standing-queue.ron";
    for seed in SEEDS {
        let codel = run(FILE, seed, &[]);
        let fifo = run(FILE, seed, &[("api.queue.discipline", "fifo")]);
        let (c, f) = (codel.report(), fifo.report());

        // "its queue stays short (about 8 on average, never above 50) and 99 % of requests wait
        // under a quarter of a second (0.19–0.22 s). CoDel drops the excess, about 20 req/s
        // (4 397–4 753 in the run), and the API stays 97–98 % busy."
        let queue = mean(&codel, "api", 60.0, 240.0, |p| p.queue_len);
        let peak = queue_max(&codel, "api", 30.0, 240.0);
        assert!(queue < 12.0 && peak < 80.0, "seed {seed}: queue {queue} on average, {peak} at most");
        assert!(c.nodes["api"].wait_s.p99 < 0.3, "seed {seed}: wait p99 {}", c.nodes["api"].wait_s.p99);
        let drops = c.nodes["api"].rejected_by.codel;
        assert!((3_500..6_000).contains(&drops), "seed {seed}: {drops} CoDel drops");
        assert_eq!(c.nodes["api"].rejected, drops, "seed {seed}: CoDel is the only refusal");
        assert!(mean(&codel, "api", 60.0, 240.0, |p| p.utilization) > 0.95, "seed {seed}");
        // "97–99 req/s come back in time during the overload... hardly any request times out
        // (2–5 in the run)."
        let goodput = mean(&codel, "clients", 60.0, 240.0, |p| p.completed as f64);
        assert!(goodput > 93.0, "seed {seed}: goodput {goodput} with CoDel");
        assert!(c.nodes["clients"].timed_out < 20, "seed {seed}: {:?}", c.nodes["clients"]);

        // FIFO: "the queue fills to 1 000 and stays there, so every request waits about 10 s
        // (wait_s.p99 10.5–10.7 s)... From t ≈ 35 s to t ≈ 262 s not one answer reaches a
        // client in time, although the API is 100 % busy: it finishes 22 400–23 200 requests
        // whose caller had already given up."
        assert_eq!(f.nodes["api"].queue_len_max, 1000, "seed {seed}");
        assert!(mean(&fifo, "api", 60.0, 240.0, |p| p.queue_len) > 950.0, "seed {seed}");
        assert!(f.nodes["api"].wait_s.p99 > 9.0, "seed {seed}: wait p99 {}", f.nodes["api"].wait_s.p99);
        let answered: u64 =
            fifo.series("clients").iter().filter(|p| p.t > 40.0 && p.t <= 255.0).map(|p| p.completed).sum();
        assert_eq!(answered, 0, "seed {seed}: answers in time between 40 s and 255 s with FIFO");
        assert!(mean(&fifo, "api", 60.0, 240.0, |p| p.utilization) > 0.99, "seed {seed}");
        assert!(f.nodes["api"].abandoned > 20_000, "seed {seed}: abandoned {}", f.nodes["api"].abandoned);
        assert_eq!(f.nodes["api"].rejected_by.codel, 0);
        // "FIFO's latency at api looks fine (p99 under 1 s): it counts only the requests someone
        // still waited for."
        assert!(f.nodes["api"].latency_s.p99 < 1.0, "seed {seed}: {}", f.nodes["api"].latency_s.p99);
    }
}

/// Shedding's episodes are typed log events the app draws as bands: in priority-shedding the
/// overload's episode reaches critical-only and ends soon after the load falls at 180 s; after
/// that, bursts at half load shed only now and then.
#[test]
fn shedding_episodes_are_logged_as_typed_events() {
    use sluice::engine::log::LogEvent;
    use sluice::station::shed::ShedState;
    let sim = run("priority-shedding.ron", 1, &[]);
    let sheds: Vec<(f64, ShedState)> = sim
        .log()
        .iter()
        .filter(|e| e.subject == "api")
        .filter_map(|e| match e.event {
            LogEvent::Shedding { to, .. } => Some((e.at as f64 / 1e9, to)),
            _ => None,
        })
        .collect();
    assert!(sheds.iter().any(|(t, s)| *s == ShedState::CriticalOnly && (60.0..180.0).contains(t)), "{sheds:?}");
    assert!(
        sheds.iter().any(|(t, s)| *s == ShedState::AdmittingAll && (180.0..190.0).contains(t)),
        "the overload's episode ends within 10 s of it: {sheds:?}"
    );
    // Time spent shedding from 190 s to the end (240 s): short bursts only.
    let mut shedding_time = 0.0;
    let mut since: Option<f64> = None;
    for &(t, s) in sheds.iter().filter(|(t, _)| *t >= 190.0) {
        match (since, s) {
            (None, ShedState::SheddingSheddable | ShedState::CriticalOnly) => since = Some(t),
            (Some(from), ShedState::AdmittingAll) => {
                shedding_time += t - from;
                since = None;
            }
            _ => {}
        }
    }
    assert!(shedding_time < 5.0, "after the overload shedding is rare: {shedding_time:.1} s of 50");
}

// ---------------------------------------------------------------------------------------------
// Retries, budgets, amplification, deadlines and ignored signals: `retry-storm.ron`,
// `retry-budget.ron`, `amplification.ron`, `deadlines.ron` and `ignored-signals.ron`. The
// numbers each assertion quotes were measured with the seeds its note names.
// ---------------------------------------------------------------------------------------------

/// Sum of counter `f` over the series points of `node` whose interval ends in (from, to].
fn total(sim: &Sim, node: &str, from: f64, to: f64, f: impl Fn(&Point) -> u64) -> u64 {
    sim.series(node).iter().filter(|p| p.t > from && p.t <= to).map(f).sum()
}

/// The first whole second `T` after `after` from which `node`'s completions stay at `floor`
/// per second or more in every 5-second window (a, a + 5] with T − 1 ≤ a ≤ end − 5: when
/// goodput came back for good. `None` if it never did before the last window.
fn recovered_at(sim: &Sim, node: &str, after: f64, floor: f64) -> Option<f64> {
    let end = sim.now().floor() as i64;
    let ok = |a: i64| mean(sim, node, a as f64, (a + 5) as f64, |p| p.completed as f64) >= floor;
    ((after as i64 + 1)..=(end - 4)).find(|&t| ((t - 1)..=(end - 5)).all(ok)).map(|t| t as f64)
}

/// retry-storm.ron or retry-budget.ron with the 10-second spike at t = 60 s made `secs` long.
fn with_spike(name: &str, secs: u32, seed: u64) -> Sim {
    let path = format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    const SPIKE: &str = "\"at 60 for 10 set clients.rate = 160\"";
    assert!(text.contains(SPIKE), "{name} has no 10-second spike at t = 60 s");
    let text = text.replace(SPIKE, &format!("\"at 60 for {secs} set clients.rate = 160\""));
    Sim::from_text(name, &text, Some(seed)).unwrap_or_else(|e| panic!("{e}"))
}

/// Every seed from 1 to 100: healthy before the spike at t = 60 s with no trigger at all, and
/// down for good after it. (Before the retune, with a 0.5 s timeout, some seeds collapsed before
/// the spike: the service time alone tripped the loop.) About 3 s of release-build run time.
#[test]
fn retry_storm_is_healthy_before_its_spike_and_down_after_it_in_every_seed() {
    for seed in 1..=100 {
        let sim = run("retry-storm.ron", seed, &[]);
        let r = sim.report();

        // "Before the spike the service is healthy in every seed: 77–83 req/s of the 80 offered
        // come back, 75–84 % busy, at most 45 requests queued and at most 3 retries in the first
        // minute (seeds 1–100)." Measured: 76.8–83.1 req/s over (10, 60], 0.75–0.84, 14–45
        // queued, 0–3 retries; the loop needs 100 queued (1 s of work, the timeout).
        let before = mean(&sim, "clients", 10.0, 60.0, |p| p.completed as f64);
        assert!(before > 74.0, "seed {seed}: goodput {before} before the spike");
        let busy = mean(&sim, "server", 10.0, 60.0, |p| p.utilization);
        assert!((0.7..0.9).contains(&busy), "seed {seed}: utilization {busy} before the spike");
        let queued = queue_max(&sim, "server", 0.0, 60.0);
        assert!(queued < 80.0, "seed {seed}: {queued} queued before the spike");
        let retries = total(&sim, "clients", 0.0, 60.0, |p| p.retries);
        assert!(retries <= 10, "seed {seed}: {retries} retries before the spike");

        // "within 3–5 s of the spike its queue is full and it stays full (299.4 on average from
        // t = 90 s to 240 s); utilization stays at 100 %, yet its ok/s drops to zero and so
        // does the clients' goodput, to the end of the run, 170 s after the spike ended, in
        // every seed 1–100" (measured: not one success from t = 80 s to 240 s in any seed).
        let full_at = sim.series("server").iter().find(|p| p.t > 60.0 && p.queue_len_max >= 300.0).map(|p| p.t);
        assert!(full_at.is_some_and(|t| t <= 66.0), "seed {seed}: queue full at {full_at:?}");
        assert!(mean(&sim, "server", 90.0, 240.0, |p| p.queue_len) > 295.0, "seed {seed}");
        assert!(mean(&sim, "server", 90.0, 240.0, |p| p.utilization) > 0.99, "seed {seed}");
        let after = total(&sim, "clients", 80.0, 240.0, |p| p.completed);
        assert!(after <= 16, "seed {seed}: {after} successes from t = 80 s to the end");
        assert_eq!(total(&sim, "server", 120.0, 240.0, |p| p.completed), 0, "seed {seed}: server ok/s");
        // "(`abandoned`, about 17 500 in the run)": 17 456–17 986.
        assert!(r.nodes["server"].abandoned > 15_000, "seed {seed}: abandoned {}", r.nodes["server"].abandoned);

        // "retries per second jump from almost none to about 240 (233–245) at t = 60 s ...
        // every logical request now makes all 4 attempts (amplification.clients.server 3.2 over
        // the run)": 3.20–3.26.
        let storm = mean(&sim, "clients", 120.0, 240.0, |p| p.retries as f64);
        assert!((220.0..260.0).contains(&storm), "seed {seed}: {storm} retries/s in the storm");
        let amp = r.amplification["clients"]["server"];
        assert!((3.1..3.4).contains(&amp), "seed {seed}: amplification {amp}");
    }
}

#[test]
fn retry_storm_passes_its_spike_without_retries_or_with_cancellation() {
    for seed in SEEDS {
        // "Try `--set clients.retry.max_attempts=1`: ... goodput is back for good (above 60
        // req/s in every 5 s) by t = 78–84 s (seeds 1–10)": 80, 84, 78 for seeds 1–3.
        let single = run("retry-storm.ron", seed, &[("clients.retry.max_attempts", "1")]);
        let back = recovered_at(&single, "clients", 70.0, 60.0);
        assert!(back.is_some_and(|t| t <= 88.0), "seed {seed}: back at {back:?} without retries");
        // "Or `--set clients.cancel_on_timeout=true`: ... goodput is back within a second of the
        // spike's end": 71 in seeds 1–10.
        let cancel = run("retry-storm.ron", seed, &[("clients.cancel_on_timeout", "true")]);
        let back = recovered_at(&cancel, "clients", 70.0, 60.0);
        assert!(back.is_some_and(|t| t <= 72.0), "seed {seed}: back at {back:?} with cancellation");
    }
}

#[test]
fn a_retry_budget_ends_the_storm_once_the_backlog_drains() {
    const FILE: &str = "retry-budget.ron";
    for seed in 1..=10 {
        let path = format!("{}/scenarios/{FILE}", env!("CARGO_MANIFEST_DIR"));
        let mut sim = Sim::from_file(&path, Some(seed)).unwrap();
        // "In calm times the bucket stays full and retries pass": the 0–3 retries of the first
        // minute are all sent, none refused.
        sim.run_until(60.0);
        assert_eq!(sim.report().links["clients->server"].stats.retry_budget_exhausted, 0, "seed {seed}");
        sim.run_to_end();
        let r = sim.report();
        let link = &r.links["clients->server"].stats;

        // "Before the spike nothing changes: 78–82 req/s come back."
        let before = mean(&sim, "clients", 10.0, 60.0, |p| p.completed as f64);
        assert!(before > 75.0, "seed {seed}: goodput {before} before the spike");
        // "During the spike the queue still fills and most requests time out (goodput 15–40
        // req/s ...), but the budget lets only 6–30 retries through in the whole run, and
        // refuses about 2 000 (1 889–2 479): ... amplification.clients.server 1.000–1.002."
        assert_eq!(r.nodes["server"].queue_len_max, 300, "seed {seed}");
        let spike = mean(&sim, "clients", 60.0, 70.0, |p| p.completed as f64);
        assert!(spike < 50.0, "seed {seed}: goodput {spike} during the spike");
        assert!(link.retries < 60, "seed {seed}: {} retries sent", link.retries);
        assert!((1_500..3_000).contains(&link.retry_budget_exhausted), "seed {seed}: {link:?}");
        let amp = r.amplification["clients"]["server"];
        assert!(amp < 1.01, "seed {seed}: amplification {amp}");

        // "goodput is back at the offered load by t = 78–84 s ... and stays there (78–82 req/s
        // from t = 90 s to the end) — as fast as with no retries at all
        // (`--set clients.retry.max_attempts=1` recovers at the same second in every one of
        // these seeds)."
        let back = recovered_at(&sim, "clients", 70.0, 60.0);
        assert!(back.is_some_and(|t| t <= 88.0), "seed {seed}: back at {back:?}");
        let after = mean(&sim, "clients", 90.0, 240.0, |p| p.completed as f64);
        assert!(after > 75.0, "seed {seed}: goodput {after} after the spike");
        let single = run(FILE, seed, &[("clients.retry.max_attempts", "1")]);
        assert_eq!(recovered_at(&single, "clients", 70.0, 60.0), back, "seed {seed}");

        // "`--set clients.retry_budget.kind=off` is retry-storm.ron: down for good."
        let off = run(FILE, seed, &[("clients.retry_budget.kind", "off")]);
        assert!(mean(&off, "clients", 150.0, 240.0, |p| p.completed as f64) < 1.0, "seed {seed}");
    }

    // "`--set clients.retry_budget.kind=finagle` ... still lets 104–108 attempts/s reach a
    // server that can do 100: the service stays down in 15 of seeds 1–20."
    let mut down = 0;
    for seed in 1..=20 {
        let finagle = run(FILE, seed, &[("clients.retry_budget.kind", "finagle")]);
        if mean(&finagle, "clients", 150.0, 240.0, |p| p.completed as f64) < 40.0 {
            down += 1;
            let offered = mean(&finagle, "server", 100.0, 240.0, |p| p.arrivals as f64);
            assert!(offered > 100.0, "seed {seed}: {offered} attempts/s with Finagle's budget");
        }
    }
    assert!((10..=18).contains(&down), "Finagle's budget: down in {down} of 20 seeds");

    // "`--set clients.retry_budget.kind=envoy` ... recovers too, but later and not always: at
    // t = 95–216 s in 19 of seeds 1–20": 121, 115, 103 in seeds 1–3.
    for seed in SEEDS {
        let envoy = run(FILE, seed, &[("clients.retry_budget.kind", "envoy")]);
        let back = recovered_at(&envoy, "clients", 70.0, 60.0);
        assert!(back.is_some_and(|t| (90.0..=220.0).contains(&t)), "seed {seed}: back at {back:?} with Envoy's budget");
    }
}

/// The threshold: without a budget a spike of 1 s passes and one of 2 s or more leaves the
/// service down for good; with the gRPC budget it recovers from every length up to 20 s.
#[test]
fn spike_length_sweep_shows_a_sharp_threshold_that_a_budget_removes() {
    for secs in 1..=20 {
        for seed in 1..=5 {
            // Goodput from t = 150 s to 200 s: 70–129 s after the longest spike ended.
            let goodput = |file: &str| {
                let mut sim = with_spike(file, secs, seed);
                sim.run_until(200.0);
                mean(&sim, "clients", 150.0, 200.0, |p| p.completed as f64)
            };
            // retry-storm.ron: "a 1-second spike passes in 28 of seeds 1–30, ... a 2-second one
            // [brings the service down for good] in 29 of 30, and every spike from 2 s to 20 s
            // does in seeds 1–5." Measured: 77.5–81.1 req/s after 1 s, 0.0 after 2–20 s.
            let storm = goodput("retry-storm.ron");
            if secs == 1 {
                assert!(storm > 70.0, "seed {seed}: a {secs} s spike left goodput at {storm}");
            } else {
                assert!(storm < 5.0, "seed {seed}: the service recovered ({storm}) from a {secs} s spike");
            }
            // retry-budget.ron recovers from every length: 77.5–81.4 req/s.
            let budget = goodput("retry-budget.ron");
            assert!(budget > 70.0, "seed {seed}: goodput {budget} after a {secs} s spike with the budget");
        }
    }
}

#[test]
fn three_layers_of_retries_amplify_27_times_and_budgets_at_every_layer_undo_it() {
    const FILE: &str = "amplification.ron";
    const ALL_GRPC: [(&str, &str); 3] = [
        ("clients.retry_budget.kind", "grpc"),
        ("web.calls.api.retry_budget.kind", "grpc"),
        ("api.calls.db.retry_budget.kind", "grpc"),
    ];
    for seed in 1..=5 {
        let sim = run(FILE, seed, &[]);
        let r = sim.report();
        let amp = &r.amplification["clients"];
        // "amplification.clients: web 2.95–2.97, api 8.78–8.88, db 26.3–26.6 (seeds 1–5)".
        assert!((2.85..=3.0).contains(&amp["web"]), "seed {seed}: {amp:?}");
        assert!((8.5..=9.0).contains(&amp["api"]), "seed {seed}: {amp:?}");
        assert!((25.5..=27.0).contains(&amp["db"]), "seed {seed}: {amp:?}");
        // "db: 243–276 arrivals/s for the users' 9.2–10.3 requests/s ... 12–14 % busy".
        let db = mean(&sim, "db", 20.0, 60.0, |p| p.arrivals as f64);
        let users = mean(&sim, "clients", 20.0, 60.0, |p| p.arrivals as f64);
        assert!(db > 24.0 * users, "seed {seed}: db {db}/s for {users}/s");
        let busy = mean(&sim, "db", 20.0, 60.0, |p| p.utilization);
        assert!(busy > 0.1, "seed {seed}: db {busy} busy");
        // "clients: every request that ends is answered from the app's cache (`degraded` equals
        // `completed`...), and only after all 27 queries have failed: 1.30–1.32 s on average".
        let clients = &r.nodes["clients"];
        assert!(clients.completed > 300 && clients.degraded == clients.completed, "seed {seed}: {clients:?}");
        assert_eq!(clients.completed + clients.in_system, clients.arrivals, "seed {seed}");
        assert!(clients.latency_s.mean > 1.1, "seed {seed}: {} s to the fallback", clients.latency_s.mean);

        // Budgets everywhere: "`amplification.clients.db` is 1.02–1.03, db sees 9.5–10.6
        // queries/s, and each edge counts about 400 retries refused (369–419)", and db is
        // 0.46–0.53 % busy ("27 times" less: 25–27 by seed).
        let guarded = run(FILE, seed, &ALL_GRPC);
        let g = guarded.report();
        assert!(g.amplification["clients"]["db"] < 1.1, "seed {seed}: {:?}", g.amplification);
        for (edge, link) in &g.links {
            assert!(link.stats.retry_budget_exhausted > 250, "seed {seed}: {edge} {:?}", link.stats);
        }
        let guarded_busy = mean(&guarded, "db", 20.0, 60.0, |p| p.utilization);
        assert!(busy > 20.0 * guarded_busy, "seed {seed}: db {busy} busy against {guarded_busy} with budgets");
        // "Users get the cached answer in 21–22 ms on average."
        let fast = g.nodes["clients"].latency_s.mean;
        assert!(fast < 0.05, "seed {seed}: {fast} s to the fallback with budgets");
    }
    for seed in SEEDS {
        let amp = |sets: &[(&str, &str)]| run(FILE, seed, sets).report().amplification["clients"]["db"];
        // "A budget on one edge removes only its own factor of 3: on api->db alone, db still
        // sees 8.9× ...; on the clients alone, 9.0×": 8.88–8.97 and 9.02–9.04.
        let db_only = amp(&ALL_GRPC[2..]);
        let clients_only = amp(&ALL_GRPC[..1]);
        assert!(
            (8.0..9.5).contains(&db_only) && (8.0..9.5).contains(&clients_only),
            "seed {seed}: {db_only}, {clients_only}"
        );
        // "Or retry at one layer only ... db sees 3.0×": 2.99–3.0.
        let one_layer = amp(&[("web.calls.api.retry.max_attempts", "1"), ("api.calls.db.retry.max_attempts", "1")]);
        assert!((2.8..=3.0).contains(&one_layer), "seed {seed}: {one_layer}");
        // "Finagle's defaults on every edge ...: db still sees 5.3–5.7× (seeds 1–3)."
        let finagle = amp(&[
            ("clients.retry_budget.kind", "finagle"),
            ("web.calls.api.retry_budget.kind", "finagle"),
            ("api.calls.db.retry_budget.kind", "finagle"),
        ]);
        assert!((4.5..6.5).contains(&finagle), "seed {seed}: {finagle}");
    }
}

#[test]
fn without_deadline_propagation_a_busy_database_serves_only_the_departed() {
    const FILE: &str = "deadlines.ron";
    const PROPAGATE: [(&str, &str); 2] =
        [("clients.propagate_deadline", "true"), ("api.calls.db.propagate_deadline", "true")];
    for seed in 1..=10 {
        let blind = run(FILE, seed, &[]);
        let told = run(FILE, seed, &PROPAGATE);
        let (b, t) = (blind.report(), told.report());
        let (db, offered) = (&b.nodes["db"], b.nodes["clients"].arrivals as f64 / 180.0);

        // "db: over the run it answers 39.7–40.6 queries/s, as many as the clients send, at
        // 88–90 % utilization, and its queue never refuses anything ... Its goodput is
        // 19.7–26.0/s: 2 490–3 660 of its answers are `late`."
        assert!(
            (db.throughput_per_s - offered).abs() < 0.05 * offered,
            "seed {seed}: {} of {offered}",
            db.throughput_per_s
        );
        assert!(db.utilization > 0.85 && db.rejected == 0, "seed {seed}: {db:?}");
        assert!(
            db.goodput_per_s < 30.0 && db.late > 2_000,
            "seed {seed}: goodput {}, late {}",
            db.goodput_per_s,
            db.late
        );
        assert_eq!(db.deadline_dropped, 0, "seed {seed}");
        // "clients: 37–42 req/s succeed before the slowdown, 1.2–2.6 req/s during it ... goodput
        // returns only at t = 95–121 s."
        assert!(mean(&blind, "clients", 5.0, 30.0, |p| p.completed as f64) > 35.0, "seed {seed}");
        let during = mean(&blind, "clients", 30.0, 60.0, |p| p.completed as f64);
        assert!(during < 5.0, "seed {seed}: {during} req/s during the slowdown");
        let back = recovered_at(&blind, "clients", 60.0, 30.0);
        assert!(back.is_some_and(|t| (90.0..=130.0).contains(&t)), "seed {seed}: back at {back:?}");

        // Propagated: "db drops each query whose deadline has passed ... (`deadline_dropped`
        // 385–509) and its queue stays under 65, so goodput is back within a second of the end
        // of the slowdown (t = 61 s). Over the run db answers 34.2–35.6/s, every one in time
        // (late 0)."
        let tdb = &t.nodes["db"];
        assert!(tdb.deadline_dropped > 300 && tdb.queue_len_max < 80, "seed {seed}: {tdb:?}");
        let back = recovered_at(&told, "clients", 60.0, 30.0);
        assert!(back.is_some_and(|t| t <= 62.0), "seed {seed}: back at {back:?} with propagation");
        assert_eq!(tdb.late, 0, "seed {seed}");
        assert!((32.0..38.0).contains(&tdb.throughput_per_s), "seed {seed}: {}", tdb.throughput_per_s);
        assert!(tdb.goodput_per_s > db.goodput_per_s + 5.0, "seed {seed}: more of them useful");
        // "During the slowdown ... 7.3–11.7 req/s get through ...: db finishes 450–540 queries
        // after api stopped waiting (`abandoned`)."
        let during = mean(&told, "clients", 30.0, 60.0, |p| p.completed as f64);
        assert!((5.0..15.0).contains(&during), "seed {seed}: {during} req/s during the slowdown");
        assert!(tdb.abandoned > 400, "seed {seed}: abandoned {}", tdb.abandoned);
    }
    // "Propagating one hop is not enough: ... its throughput falls to its goodput (2 490–3 660
    // `abandoned` instead of `late`) and clients recover no sooner (t = 95–121 s, seeds 1–3)."
    for seed in SEEDS {
        let half = run(FILE, seed, &PROPAGATE[..1]);
        let db = &half.report().nodes["db"];
        assert!(db.late == 0 && db.abandoned > 2_000, "seed {seed}: {db:?}");
        assert!((db.throughput_per_s - db.goodput_per_s).abs() < 1e-9, "seed {seed}");
        let back = recovered_at(&half, "clients", 60.0, 30.0);
        assert!(back.is_some_and(|t| t >= 90.0), "seed {seed}: back at {back:?} with one hop");
    }
}

#[test]
fn retrying_a_429_at_once_never_helps_and_honouring_retry_after_wins_the_tokens() {
    const FILE: &str = "ignored-signals.ron";
    let ok = |r: &Report, source: &str| success(r.nodes[source].completed, r.nodes[source].arrivals);
    let api_rate = |r: &Report| r.nodes["api"].arrivals as f64 / 120.0;
    for seed in 1..=10 {
        let sim = run(FILE, seed, &[]);
        let r = sim.report();
        // "polite: 99.5–99.8 % of its requests succeed, 59–60 req/s (seeds 1–10), at 1.47–1.56
        // attempts per request."
        assert!(ok(&r, "polite") > 0.99, "seed {seed}: polite {}", ok(&r, "polite"));
        assert!(r.nodes["polite"].throughput_per_s > 57.0, "seed {seed}");
        let polite_amp = r.amplification["polite"]["api"];
        assert!((1.3..1.7).contains(&polite_amp), "seed {seed}: {polite_amp}");
        // "rude: only 65–69 % succeed (39.2–40.6 req/s), although it sends 2.24–2.40 attempts
        // per request. Not one of its retries succeeds: ... each retry slot equals the requests
        // that failed (`gave_up`)."
        assert!((0.6..0.75).contains(&ok(&r, "rude")), "seed {seed}: rude {}", ok(&r, "rude"));
        assert!(r.amplification["rude"]["api"] > 2.0, "seed {seed}: {:?}", r.amplification);
        let rude = &r.links["rude->api"].stats;
        assert!(rude.gave_up > 2_000, "seed {seed}: {rude:?}");
        assert!(rude.by_attempt[1..5].iter().all(|&n| n == rude.gave_up), "seed {seed}: {rude:?}");
        assert_eq!(
            rude.by_attempt[0],
            rude.ok + rude.gave_up + rude.in_flight,
            "seed {seed}: only first attempts succeed"
        );
        // "api: 220–239 attempts/s arrive for 100 tokens/s, and 14 400–16 700 are refused as
        // rate_limited; it admits 99.5–99.9 req/s and is 24–25 % busy."
        let api = &r.nodes["api"];
        assert!(api_rate(&r) > 200.0, "seed {seed}: {} attempts/s", api_rate(&r));
        assert!(api.rejected_by.rate_limited > 12_000 && api.rejected == api.rejected_by.rate_limited, "seed {seed}");
        assert!((98.0..101.0).contains(&api.throughput_per_s), "seed {seed}: {}", api.throughput_per_s);
        assert!(api.utilization < 0.3, "seed {seed}: {}", api.utilization);
    }
    for seed in SEEDS {
        // "Make both fleets rude ...: each now gets 82–84 % through ... at 1.64–1.71 attempts
        // per request (seeds 1–3)."
        let rude = run(
            FILE,
            seed,
            &[
                ("polite.retry.honour_retry_after", "false"),
                ("polite.retry.backoff", "0"),
                ("polite.retry.max_backoff", "0"),
                ("polite.retry.jitter", "none"),
            ],
        )
        .report();
        // "Make both honour Retry-After ...: again 82–85 % each, but at 3.46–3.66 attempts per
        // request (413–441 attempts/s at api; seeds 1–3)."
        let polite = run(FILE, seed, &[("rude.retry.honour_retry_after", "true")]).report();
        for source in ["polite", "rude"] {
            for (r, what) in [(&rude, "both rude"), (&polite, "both polite")] {
                assert!((0.78..0.88).contains(&ok(r, source)), "seed {seed}, {what}: {source} {}", ok(r, source));
            }
            assert!(rude.amplification[source]["api"] < 1.9, "seed {seed}: {:?}", rude.amplification);
            assert!(polite.amplification[source]["api"] > 3.2, "seed {seed}: {:?}", polite.amplification);
        }
        assert!(api_rate(&polite) > 380.0, "seed {seed}: {} attempts/s", api_rate(&polite));
    }
}

/// payments.ron: retries after a timeout charge a payment again; idempotency keys bring
/// duplicate executions to zero (409 while the original runs, the stored result after).
#[test]
fn idempotency_keys_stop_duplicate_charges() {
    for seed in 1..=3 {
        let plain = run("payments.ron", seed, &[]).report();
        let keys = run("payments.ron", seed, &[("provider.idempotency.enabled", "true")]).report();
        let (p, k) = (&plain.nodes["provider"], &keys.nodes["provider"]);
        // "about 1 000 in the run (985–1 018 over seeds 1–3) for about 2 850 payments"
        assert!((900..=1100).contains(&p.duplicates), "seed {seed}: {} duplicates", p.duplicates);
        assert!(p.utilization < 0.35, "seed {seed}: nothing is overloaded ({})", p.utilization);
        let ok = |r: &sluice::Report| r.nodes["checkout"].completed as f64 / r.nodes["checkout"].arrivals as f64;
        // "99 % of payments end up succeeding"
        assert!(ok(&plain) > 0.98, "seed {seed}: {}", ok(&plain));
        // "`duplicates` is 0 in every seed", "409 … about 800", "`replayed`, about 670"
        assert_eq!(k.duplicates, 0, "seed {seed}");
        assert!((600..=1000).contains(&k.rejected_by.idempotency_conflict), "seed {seed}: {:?}", k.rejected_by);
        assert!((550..=800).contains(&k.replayed), "seed {seed}: {} replayed", k.replayed);
        // "96–97 % of payments succeed"
        assert!((0.95..0.98).contains(&ok(&keys)), "seed {seed}: {}", ok(&keys));
    }
}
