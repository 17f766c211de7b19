//! The shipped stories about feedback loops and capacity hold what their *what to watch* notes
//! say, on the seeds the notes quote (1–3):
//!
//! * an unbounded queue behind a slowed dependency turns into an OOM crash loop whose period is
//!   the fill time plus the CrashLoopBackOff delay in force, and a bounded queue stays up and
//!   refuses (`oom-loop.ron`);
//! * a bounded queue holds the line during a spike until the autoscaler's new workers serve,
//!   while an unbounded one lets the queue and latency explode first (`autoscale-spike.ron`);
//! * seed 001's adaptive rate limit, raw, behind a 10-second feedback delay flaps with a period
//!   of about 33 s (`oscillation.ron`), and the same load with hysteresis, smoothing and small
//!   steps settles (`oscillation-damped.ron`);
//! * a service with USL contention delivers less goodput the more it is offered past the knee,
//!   and an adaptive concurrency limit (Gradient2) holds it at the peak
//!   (`congestion-collapse.ron`).
//!
//! Each test runs the story as shipped and with the change its notes invite (`--set …`), and
//! asserts both sides of the contrast. Times come from the run's log (exact, in ns), counts from
//! the report and the series, a limit's series from its policy reading (`Sim::reading_series`).
//! The margins leave room around the measured values, which each assertion quotes for seeds 1–3.

use sluice::Sim;
use sluice::engine::log::{LogEntry, LogEvent};

use super::util::{SEEDS, run_story as run};

/// Seconds of a log entry.
fn secs(e: &LogEntry) -> f64 {
    e.at as f64 / 1e9
}

/// The log entries of `node` that `pick` keeps, in order.
fn events<'a>(sim: &'a Sim, node: &str, pick: impl Fn(&LogEvent) -> bool) -> Vec<&'a LogEntry> {
    sim.log().iter().filter(|e| e.subject == node && pick(&e.event)).collect()
}

/// Requests `node` refused in the series points whose interval ends in (from, to].
fn rejected_in(sim: &Sim, node: &str, from: f64, to: f64) -> u64 {
    sim.series(node).iter().filter(|p| p.t > from && p.t <= to).map(|p| p.rejected).sum()
}

/// Largest queue length `node` reached in (from, to].
fn queue_max(sim: &Sim, node: &str, from: f64, to: f64) -> f64 {
    sim.series(node).iter().filter(|p| p.t > from && p.t <= to).map(|p| p.queue_len_max).fold(0.0, f64::max)
}

// ---------------------------------------------------------------------------------------------
// oom-loop.ron
// ---------------------------------------------------------------------------------------------

const OOM: &str = "oom-loop.ron";

/// The fill time the notes derive from the file: after a restart the 10 workers are busy at
/// once (200 + 10 × 10 = 300 MB), the queue grows by 50 − 20 = 30 req/s (clients' rate minus the
/// 4-times-slowed database's 4 / 0.2 s), at 1 MB each, up to the 900-MB limit:
/// (900 − 200 − 10 × 10) / (1 × 30) = 20 s.
const FILL_S: f64 = (900.0 - 200.0 - 10.0 * 10.0) / (1.0 * (50.0 - 20.0));

/// How far a measured fill may be from `FILL_S`. The fill ends when about 600 more requests have
/// arrived than the database finished: arrivals are Poisson (50/s) and the database's
/// departures nearly so (20/s), so over 20 s the net count has a standard deviation of about
/// √((50 + 20) × 20) ≈ 37 requests, 1.25 s of growth at 30/s. 4 s is about 3σ. Measured
/// deviations in seeds 1–3: −1.6 s to +2.6 s (fills 18.4–22.6 s).
const FILL_TOLERANCE_S: f64 = 4.0;

#[test]
fn oom_loop_period_is_fill_time_plus_the_back_off() {
    for seed in SEEDS {
        let sim = run(OOM, seed, &[]);
        let kills = events(&sim, "api", |e| matches!(e, LogEvent::OomKilled { .. }));
        let restarts = events(&sim, "api", |e| matches!(e, LogEvent::Restarted));

        // "OOM-killed 5 times in every seed 1–3": the fifth back-off (160 s) runs past the end,
        // so 4 restarts.
        assert_eq!(kills.len(), 5, "seed {seed}: kills at {:?}", kills.iter().map(|e| secs(e)).collect::<Vec<_>>());
        assert_eq!(restarts.len(), 4, "seed {seed}");
        let api = &sim.report().nodes["api"];
        let mem = api.policies.as_ref().and_then(|p| p.memory).expect("api reports its memory");
        // peak_mb 901.0 = 300 for the busy workers + 601 waiting: killed strictly above 900.
        assert_eq!((mem.oom_kills, mem.restarts, mem.peak_mb), (5, 4, 901.0), "seed {seed}");
        // "memory.time_down_s reads 267–273 s of the 400", the outage under way at the end
        // included: 10 + 20 + 40 + 80 s of back-off plus the time from the fifth kill to 400 s.
        let last_outage = 400.0 - secs(kills[4]);
        assert!((mem.time_down_s - (150.0 + last_outage)).abs() < 1e-6, "seed {seed}: {}", mem.time_down_s);

        // "first at t = 50.4–51.6 s, 20.4–21.6 s after the slowdown" (at t = 30 s).
        let first = secs(kills[0]);
        assert!(
            (30.0 + FILL_S - FILL_TOLERANCE_S..30.0 + FILL_S + FILL_TOLERANCE_S).contains(&first),
            "seed {seed}: {first}"
        );

        for i in 0..4 {
            // The back-off of the (i+1)-th kill in a row: 10 s · 2^i (10, 20, 40, 80 s), and the
            // restart comes exactly then.
            let delay = 10.0 * f64::from(1u32 << i);
            let LogEvent::OomKilled { used_mb, restart_in_s } = kills[i].event else { unreachable!() };
            assert_eq!(restart_in_s, delay, "seed {seed}: back-off of kill {}", i + 1);
            assert_eq!(used_mb, 901.0, "seed {seed}: kill {} at {used_mb} MB", i + 1);
            assert_eq!(restarts[i].at, kills[i].at + (delay as u64) * 1_000_000_000, "seed {seed}: restart {}", i + 1);

            // "kills are 29.2–30.2 s, 39.6–40.2 s, 59.6–61.0 s and 98.4–102.6 s apart, fill
            // time + 10, 20, 40, 80 s" (fills 18.4–22.6 s).
            let period = secs(kills[i + 1]) - secs(kills[i]);
            let fill = secs(kills[i + 1]) - secs(restarts[i]);
            assert!(
                (period - (FILL_S + delay)).abs() <= FILL_TOLERANCE_S,
                "seed {seed}: kill {} to {}: {period:.2} s, expected {FILL_S} + {delay} s",
                i + 1,
                i + 2
            );
            assert!((fill - FILL_S).abs() <= FILL_TOLERANCE_S, "seed {seed}: fill {} took {fill:.2} s", i + 1);
        }

        // The saw-tooth in the `memory MB` reading: never above the kill level, and 0 while down.
        let memory = sim.reading_series("api", "memory MB");
        assert!(!memory.is_empty(), "seed {seed}: no memory MB reading");
        assert!(memory.iter().all(|&(_, mb)| mb <= 901.0), "seed {seed}");
        let down =
            memory.iter().filter(|&&(t, _)| t > secs(kills[0]) + 1.0 && t < secs(restarts[0])).collect::<Vec<_>>();
        assert!(!down.is_empty() && down.iter().all(|&&(_, mb)| mb == 0.0), "seed {seed}: {down:?}");
    }
}

#[test]
fn oom_loop_bounded_queue_stays_up_and_refuses() {
    for seed in SEEDS {
        let looping = run(OOM, seed, &[]);
        let bounded = run(OOM, seed, &[("api.queue.capacity", "50")]);
        let (l, b) = (&looping.report().nodes["api"], &bounded.report().nodes["api"]);
        let mem = b.policies.as_ref().and_then(|p| p.memory).expect("api reports its memory");

        // "Memory stops at 350 MB and the API stays up all run (0 kills)".
        assert_eq!((mem.oom_kills, mem.restarts, mem.peak_mb), (0, 0, 350.0), "seed {seed}");
        assert!(events(&bounded, "api", |e| matches!(e, LogEvent::OomKilled { .. } | LogEvent::Restarted)).is_empty());
        // "it refuses the excess at once (10 756–11 227 rejected_by.queue_full)"; never as down.
        assert!(b.rejected_by.queue_full > 9_000, "seed {seed}: {:?}", b.rejected_by);
        assert_eq!(b.rejected_by.down, 0, "seed {seed}");
        // The loop refuses as down instead (13 021–13 556) and never as queue_full.
        assert!(l.rejected_by.down > 10_000 && l.rejected_by.queue_full == 0, "seed {seed}: {:?}", l.rejected_by);
        // "goodput 21.8–22.2 req/s over the run against 5.6–6.2".
        assert!(
            b.goodput_per_s > 20.0 && l.goodput_per_s < 8.0,
            "seed {seed}: {} vs {}",
            b.goodput_per_s,
            l.goodput_per_s
        );
        assert!(b.goodput_per_s > 3.0 * l.goodput_per_s, "seed {seed}");

        // "peak exactly 900 MB: the kill is strictly above the limit, and 601 loops exactly as
        // unbounded does". 600 stays up but serves nobody in time from t = 60 s (4.1–4.3 req/s
        // over the run, all before the slowdown bites).
        let at_limit = run(OOM, seed, &[("api.queue.capacity", "600")]);
        let a = &at_limit.report().nodes["api"];
        let a_mem = a.policies.as_ref().and_then(|p| p.memory).unwrap();
        assert_eq!((a_mem.oom_kills, a_mem.peak_mb), (0, 900.0), "seed {seed}");
        assert!(a.goodput_per_s < l.goodput_per_s, "seed {seed}: {} vs {}", a.goodput_per_s, l.goodput_per_s);
        let over = run(OOM, seed, &[("api.queue.capacity", "601")]);
        let kills_and_restarts = |sim: &Sim| -> Vec<LogEntry> {
            events(sim, "api", |e| matches!(e, LogEvent::OomKilled { .. } | LogEvent::Restarted))
                .into_iter()
                .cloned()
                .collect()
        };
        assert_eq!(
            kills_and_restarts(&over),
            kills_and_restarts(&looping),
            "seed {seed}: 601 places loop exactly as unbounded"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// autoscale-spike.ron
// ---------------------------------------------------------------------------------------------

const SPIKE: &str = "autoscale-spike.ron";

/// The spike: `at 60 for 240 set clients.rate = 150`.
const SPIKE_FROM: f64 = 60.0;
const SPIKE_TO: f64 = 300.0;

/// When the first new workers serve: the `WorkersReady` entry of `api`.
fn first_ready(sim: &Sim) -> f64 {
    let ready = events(sim, "api", |e| matches!(e, LogEvent::WorkersReady { .. }));
    secs(ready.first().expect("the autoscaler's workers become ready"))
}

#[test]
fn autoscale_spike_backpressure_holds_until_capacity_arrives() {
    for seed in SEEDS {
        let sim = run(SPIKE, seed, &[]);

        // "the autoscaler decides at t = 75 s (10 → 20 workers) and the first new workers serve
        // at t = 135 s; a second decision at t = 150 s brings 30 workers at t = 210 s."
        let scaled: Vec<(f64, LogEvent)> = events(&sim, "api", |e| matches!(e, LogEvent::Scaled { .. }))
            .iter()
            .map(|e| (secs(e), e.event.clone()))
            .collect();
        assert_eq!(scaled[0], (75.0, LogEvent::Scaled { from: 10, to: 20 }), "seed {seed}: {scaled:?}");
        assert_eq!(scaled[1], (150.0, LogEvent::Scaled { from: 20, to: 30 }), "seed {seed}: {scaled:?}");
        let ready = first_ready(&sim);
        assert_eq!(ready, 135.0, "seed {seed}: decision at 75 s + 60 s provisioning");
        let ready_all: Vec<(f64, LogEvent)> = events(&sim, "api", |e| matches!(e, LogEvent::WorkersReady { .. }))
            .iter()
            .map(|e| (secs(e), e.event.clone()))
            .collect();
        assert_eq!(
            ready_all[1],
            (210.0, LogEvent::WorkersReady { count: 10, workers: 30 }),
            "seed {seed}: {ready_all:?}"
        );

        let r = sim.report();
        let api = &r.nodes["api"];
        // The queue never holds more than its 100 places.
        assert!(api.queue_len_max <= 100, "seed {seed}: {}", api.queue_len_max);
        // "the API refuses 3 334–3 688 requests (rejected_by.queue_full)" before the new workers
        // serve, and "from the moment the new workers serve, not one more" (0 in every seed;
        // a margin of 10 for a second's worth of noise at the boundary).
        let before = rejected_in(&sim, "api", SPIKE_FROM, ready);
        let after = rejected_in(&sim, "api", ready, r.sim_time_s);
        assert!(before > 2_500, "seed {seed}: {before} refused before t = {ready}");
        assert!(after <= 10, "seed {seed}: {after} refused after t = {ready}");
        assert_eq!(api.rejected_by.queue_full, before + after, "seed {seed}: every refusal is queue_full");
        // "The queue is back under 10 within 3–4 s" and stays far from full for the rest of the
        // spike (at most 19–24 waiting from t = 145 s to 300 s, with 20 then 30 workers).
        assert!(queue_max(&sim, "api", ready + 10.0, SPIKE_TO) <= 60.0, "seed {seed}");
        // "latency_s.p99 over the run 1.27–1.32 s, wait_s.p99 1.11–1.15 s … no request times out".
        assert!(api.latency_s.p99 < 2.0 && api.wait_s.p99 < 1.5, "seed {seed}: {:?} {:?}", api.latency_s, api.wait_s);
        assert_eq!(r.nodes["clients"].timed_out, 0, "seed {seed}");
    }
}

#[test]
fn autoscale_spike_without_backpressure_the_queue_explodes_first() {
    for seed in SEEDS {
        let bounded = run(SPIKE, seed, &[]);
        let open = run(SPIKE, seed, &[("api.queue.capacity", "unbounded")]);
        let (rb, ro) = (bounded.report(), open.report());
        let (b, o) = (&rb.nodes["api"], &ro.nodes["api"]);

        // The autoscaler does the same in both: its metric (utilization) is 100 % either way.
        let scaled = |sim: &Sim| -> Vec<(u64, LogEvent)> {
            events(sim, "api", |e| matches!(e, LogEvent::Scaled { .. } | LogEvent::WorkersReady { .. }))
                .iter()
                .filter(|e| secs(e) <= SPIKE_TO)
                .map(|e| (e.at, e.event.clone()))
                .collect()
        };
        assert_eq!(scaled(&bounded), scaled(&open), "seed {seed}");
        let ready = first_ready(&open);
        assert_eq!(ready, 135.0, "seed {seed}");

        // Nothing is refused: "the same 50 req/s of excess pile up: 726–763 waiting at t = 75 s,
        // 3 434–3 788 when the new workers arrive at t = 135 s" (the run's maximum).
        assert_eq!(o.rejected, 0, "seed {seed}");
        let before = queue_max(&open, "api", SPIKE_FROM, ready);
        assert!(before > 3_000.0, "seed {seed}: queue max before capacity {before}");
        assert!(
            o.queue_len_max as f64 >= 30.0 * b.queue_len_max as f64,
            "seed {seed}: {} vs {}",
            o.queue_len_max,
            b.queue_len_max
        );
        // "wait_s.p99 23.1–24.8 s against 1.1 s"; "latency_s.p99 9.5–9.7 s over the run"
        // (bounded 1.27–1.32 s): answers take up to the clients' 10-s timeout.
        assert!(
            o.wait_s.p99 > 15.0 && o.wait_s.p99 > 10.0 * b.wait_s.p99,
            "seed {seed}: {} vs {}",
            o.wait_s.p99,
            b.wait_s.p99
        );
        assert!(o.latency_s.p99 > 5.0 * b.latency_s.p99, "seed {seed}: {} vs {}", o.latency_s.p99, b.latency_s.p99);

        // "the queue is back under 10 only at t = 203–212 s, 68–77 s after the new workers
        // serve" (bounded: within 3–4 s).
        let drained = |sim: &Sim| {
            sim.series("api")
                .iter()
                .find(|p| p.t > ready && p.queue_len_max <= 10.0)
                .map(|p| p.t)
                .expect("the queue drains")
        };
        let (db, dopen) = (drained(&bounded), drained(&open));
        assert!(db - ready <= 10.0, "seed {seed}: bounded drained at {db}");
        assert!(dopen - ready >= 50.0 && dopen < SPIKE_TO, "seed {seed}: unbounded drained at {dopen}");

        // "11 956–13 732 time out … against 3 334–3 688 fast refusals with the bound".
        let timed_out = ro.nodes["clients"].timed_out;
        assert!(timed_out > 10_000 && timed_out > 2 * b.rejected, "seed {seed}: {timed_out} vs {}", b.rejected);
    }
}

// ---------------------------------------------------------------------------------------------
// oscillation.ron, oscillation-damped.ron
// ---------------------------------------------------------------------------------------------

const RAW: &str = "oscillation.ron";
const DAMPED: &str = "oscillation-damped.ron";

/// The second half of the 600-s runs.
const FROM: f64 = 300.0;
const TO: f64 = 600.0;

/// api's `rate limit` reading at the samples in (FROM, TO].
fn limit_tail(sim: &Sim) -> Vec<(f64, f64)> {
    let series = sim.reading_series("api", "rate limit");
    assert!(!series.is_empty(), "api has no `rate limit` reading");
    series.into_iter().filter(|&(t, _)| t > FROM && t <= TO).collect()
}

/// Max − min of the values.
fn amplitude(v: &[(f64, f64)]) -> f64 {
    let max = v.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    let min = v.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    max - min
}

fn mean_of(v: &[(f64, f64)]) -> f64 {
    v.iter().map(|p| p.1).sum::<f64>() / v.len() as f64
}

/// Population standard deviation of the values.
fn std_dev(v: &[(f64, f64)]) -> f64 {
    let m = mean_of(v);
    (v.iter().map(|p| (p.1 - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

/// Times at which the values pass from at or above their mean to below it (one per cycle).
fn down_crossings(v: &[(f64, f64)]) -> Vec<f64> {
    let m = mean_of(v);
    v.windows(2).filter(|w| w[0].1 >= m && w[1].1 < m).map(|w| w[1].0).collect()
}

/// Sign changes of value − mean (two per cycle).
fn crossings(v: &[(f64, f64)]) -> usize {
    let m = mean_of(v);
    v.windows(2).filter(|w| (w[0].1 - m) * (w[1].1 - m) < 0.0).count()
}

/// api's completions per second, averaged over consecutive 5-s bins of the 1-s samples in
/// (FROM, TO].
fn throughput_bins(sim: &Sim) -> Vec<f64> {
    let per_s: Vec<f64> =
        sim.series("api").iter().filter(|p| p.t > FROM && p.t <= TO).map(|p| p.completed as f64 / p.span).collect();
    per_s.chunks_exact(5).map(|c| c.iter().sum::<f64>() / 5.0).collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn oscillation_damped_limit_swings_several_times_less() {
    for seed in SEEDS {
        let raw = run(RAW, seed, &[]);
        let damped = run(DAMPED, seed, &[]);
        let (r, d) = (limit_tail(&raw), limit_tail(&damped));
        assert!(r.len() >= 290 && d.len() >= 290, "seed {seed}: {} and {} samples", r.len(), d.len());

        // "a sawtooth between 20 and 120–125 req/s, max − min 100 over the second half (standard
        // deviation 31.9–32.6)": 100.0 in seeds 1–3.
        let (ra, rs) = (amplitude(&r), std_dev(&r));
        assert!(ra >= 80.0, "seed {seed}: raw limit swings only {ra}");
        assert!(rs > 25.0, "seed {seed}: raw limit's standard deviation {rs}");
        // "stays between 93.1 and 102.6 req/s, max − min 3.0–9.0 (standard deviation 0.9–2.4)".
        let (da, ds) = (amplitude(&d), std_dev(&d));
        assert!(da <= 15.0, "seed {seed}: damped limit swings {da}");
        assert!(ds < 5.0, "seed {seed}: damped limit's standard deviation {ds}");
        let low = d.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        assert!(low > 85.0, "seed {seed}: damped limit fell to {low}");
        // Several times smaller: 11–33× in amplitude, 13–36× in standard deviation.
        assert!(da * 4.0 < ra, "seed {seed}: damped {da} vs raw {ra}");
        assert!(ds * 6.0 < rs, "seed {seed}: damped sd {ds} vs raw sd {rs}");
    }
}

#[test]
fn oscillation_raw_limit_has_a_period_of_about_33_s() {
    for seed in SEEDS {
        let raw = run(RAW, seed, &[]);
        let r = limit_tail(&raw);
        // "One cycle every 31–36 s: 9 in the second half, 18 crossings of its mean" (18 in seeds
        // 1–3, 17–18 in seeds 1–10): a period of 27–43 s.
        let n = crossings(&r);
        assert!((14..=22).contains(&n), "seed {seed}: {n} crossings of the mean");
        // Every cycle, not just the count: gaps between cuts of 31–36 s.
        let down = down_crossings(&r);
        assert!(down.len() >= 7, "seed {seed}: {} cycles", down.len());
        for w in down.windows(2) {
            let gap = w[1] - w[0];
            assert!((25.0..45.0).contains(&gap), "seed {seed}: a cycle of {gap} s at t = {}", w[0]);
        }
        // The damped limit crosses its mean 2–5 times, with no period: far fewer.
        let d = limit_tail(&run(DAMPED, seed, &[]));
        let nd = crossings(&d);
        assert!(nd * 2 < n, "seed {seed}: damped crosses its mean {nd} times, raw {n}");
    }
}

#[test]
fn oscillation_throughput_swings_with_the_raw_limit_and_not_with_the_damped_one() {
    for seed in SEEDS {
        // "api's completions, averaged over 5 s, go from 19.8 to 100.6–105.0 req/s and back every
        // cycle. Over the second half it serves 56.0–57.1 req/s."
        let raw = throughput_bins(&run(RAW, seed, &[]));
        let (lo, hi) = (raw.iter().copied().fold(f64::MAX, f64::min), raw.iter().copied().fold(0.0, f64::max));
        assert!(lo < 30.0 && hi > 90.0, "seed {seed}: raw throughput {lo}–{hi}");
        let m = mean(&raw);
        assert!((50.0..65.0).contains(&m), "seed {seed}: raw throughput {m}");
        // "api serves 96.8–98.2 req/s over the second half, its 5-second averages between 91.6
        // and 106.2."
        let damped = throughput_bins(&run(DAMPED, seed, &[]));
        let lo = damped.iter().copied().fold(f64::MAX, f64::min);
        assert!(lo > 85.0, "seed {seed}: damped throughput fell to {lo}");
        let md = mean(&damped);
        assert!(md > 93.0 && md > m * 1.5, "seed {seed}: damped {md} vs raw {m}");
    }
}

#[test]
fn oscillation_hysteresis_is_what_damps() {
    for seed in SEEDS {
        // Smoothing alone changes nothing: 100–110 (raw 100).
        let smoothed = limit_tail(&run(RAW, seed, &[("api.adaptive_rate.smoothing", "0.3")]));
        assert!(amplitude(&smoothed) >= 80.0, "seed {seed}: smoothing alone {}", amplitude(&smoothed));
        // The damped file without hysteresis swings again: 41.7–43.9 (damped 3.0–9.0).
        let sharp = limit_tail(&run(DAMPED, seed, &[("api.adaptive_rate.hysteresis", "0")]));
        let damped = limit_tail(&run(DAMPED, seed, &[]));
        assert!(amplitude(&sharp) > 30.0, "seed {seed}: without hysteresis {}", amplitude(&sharp));
        assert!(amplitude(&sharp) > 2.5 * amplitude(&damped), "seed {seed}");
    }
}

// ---------------------------------------------------------------------------------------------
// congestion-collapse.ron
// ---------------------------------------------------------------------------------------------

const COLLAPSE: &str = "congestion-collapse.ron";

/// The USL peak of the file: N* = √((1 − σ)/κ) = 13.8 busy workers; C(14) = 14 / (1 + 0.05 × 13 +
/// 0.005 × 14 × 13) = 5.47, over 50 ms: 109.4 req/s.
const USL_PEAK: f64 = 14.0 / (1.0 + 0.05 * 13.0 + 0.005 * 14.0 * 13.0) / 0.05;

/// The clients' goodput (answers within the 1-s deadline, per second after the 20-s warm-up) at
/// offered load `rate`, with the adaptive limit on or off.
fn goodput(seed: u64, rate: &str, limit: bool) -> f64 {
    let on = if limit { "true" } else { "false" };
    let sim = run(COLLAPSE, seed, &[("clients.rate", rate), ("api.adaptive_limit.enabled", on)]);
    sim.report().nodes["clients"].goodput_per_s
}

#[test]
fn congestion_collapse_goodput_rises_then_falls_past_the_knee() {
    for seed in SEEDS {
        // "40 → 39.6–40.7, 80 → 79.7–80.0, 85 → 84.6–84.9": below the knee every request is
        // answered in time.
        let rising: Vec<f64> = ["40", "80", "85"].iter().map(|r| goodput(seed, r, false)).collect();
        for (g, offered) in rising.iter().zip([40.0, 80.0, 85.0]) {
            assert!(*g > 0.95 * offered, "seed {seed}: {g} of {offered} req/s");
        }
        assert!(rising[0] < rising[1] && rising[1] < rising[2], "seed {seed}: {rising:?}");
        let peak = rising[2];
        // "100 → 15.2–17.2, 150 → 14.6–16.2, 300 → 14.2–15.8": a fifth of the peak.
        for rate in ["100", "150", "300"] {
            let g = goodput(seed, rate, false);
            assert!(g < 0.3 * peak, "seed {seed}: {g} req/s at {rate} against a peak of {peak}");
        }
    }
}

#[test]
fn congestion_collapse_as_shipped_all_workers_busy_and_most_work_abandoned() {
    for seed in SEEDS {
        let sim = run(COLLAPSE, seed, &[]);
        let r = sim.report();
        let (api, clients) = (&r.nodes["api"], &r.nodes["clients"]);
        // "all 50 workers are busy (busy_mean 50.0) ... goodput is 14.5–16.3 req/s".
        assert!(api.busy_mean > 48.0, "seed {seed}: busy {}", api.busy_mean);
        assert!((10.0..25.0).contains(&clients.goodput_per_s), "seed {seed}: goodput {}", clients.goodput_per_s);
        // "the clients gave up on three of every four it finishes (4 717–4 723 `abandoned`)".
        assert!(
            api.abandoned > 2 * api.completed,
            "seed {seed}: {} abandoned, {} completed",
            api.abandoned,
            api.completed
        );
        assert!(api.rejected_by.queue_full > 5_000, "seed {seed}: {:?}", api.rejected_by);
    }
}

#[test]
fn congestion_collapse_adaptive_limit_holds_goodput_near_the_peak() {
    for seed in SEEDS {
        let unprotected_peak = goodput(seed, "85", false); // 84.6–84.9
        for rate in ["150", "300"] {
            let sim = run(COLLAPSE, seed, &[("clients.rate", rate), ("api.adaptive_limit.enabled", "true")]);
            let r = sim.report();
            let (api, clients) = (&r.nodes["api"], &r.nodes["clients"]);
            let g = clients.goodput_per_s;
            // "102.8–105.1 req/s at 150 req/s, 104.0–106.9 at 300 (95–98 % of the USL's 109, and
            // 1.2–1.3 times the best the API managed without the limit)" (102.8–105.2 at 150 when
            // the rate is set).
            assert!(g >= 0.85 * USL_PEAK, "seed {seed}: {g} req/s at {rate}, USL peak {USL_PEAK}");
            assert!(g >= 1.1 * unprotected_peak, "seed {seed}: {g} vs {unprotected_peak} without the limit");
            // "keeps 12–14 workers busy, the knee": 12.0–12.3 at 150, 13.8–14.0 at 300.
            assert!((9.0..18.0).contains(&api.busy_mean), "seed {seed}: busy {} at {rate}", api.busy_mean);
            // "the excess is refused at once ... hardly a request times out (4–7)" (6–9 at 300).
            assert!(api.rejected_by.adaptive_limit > 3_000, "seed {seed}: {:?}", api.rejected_by);
            assert!(clients.timed_out < 50, "seed {seed}: {} timed out at {rate}", clients.timed_out);
            // "The limit moves between 9 and 29".
            let stats = api.policies.as_ref().and_then(|p| p.adaptive_limit).expect("api reports its limit");
            assert!(stats.min_limit >= 5 && stats.max_limit <= 40, "seed {seed}: {stats:?}");
        }
        // Below the knee it costs little: 78.5–78.7 at 80 req/s (79.7–80.0 without).
        let g80 = goodput(seed, "80", true);
        assert!(g80 > 75.0, "seed {seed}: {g80} at 80 req/s with the limit");
    }
}
