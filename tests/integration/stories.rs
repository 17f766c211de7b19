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

const SEEDS: [u64; 3] = [1, 2, 3];

/// Runs a shipped scenario to its end with `seed`, after the changes `sets` (at t = 0).
fn run(name: &str, seed: u64, sets: &[(&str, &str)]) -> Sim {
    let path = format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut sim = Sim::from_file(&path, Some(seed)).unwrap_or_else(|e| panic!("{e}"));
    for (p, v) in sets {
        sim.set(p, v).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
    sim.run_to_end();
    assert!(sim.report().errors.is_empty(), "{name}: {:?}", sim.report().errors);
    sim
}

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
