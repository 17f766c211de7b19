//! Queueing theory versus simulation: M/M/1 and Little's law, M/M/c (Erlang C), M/M/c/K
//! blocking, Erlang B (a loss station, a concurrency limit and a bulkhead pool, with exponential and
//! log-normal work), a token bucket's long-run rate, M/D/1 and M/E₄/1 (Pollaczek–Khinchine), and a
//! two-station Jackson tandem.
//!
//! Method: each check runs `REPS` independent replications (seeds 1..=`REPS`) of a scenario with
//! a warm-up (the first tenth of the run, excluded from the statistics), takes one estimate per
//! replication, and asserts that the theoretical value lies in the 99 % Student-t confidence
//! interval of those estimates. Observations within one run are correlated, but replications
//! are independent and identically distributed, so the interval is honest. A check also
//! asserts that its interval is narrow (half-width at most `MAX_REL_HALF_WIDTH` of the theory):
//! an interval wide enough to contain anything would prove nothing. Little's law, an identity
//! on every sample path, is held to its own rule (see `check_little`).
//!
//! Run with `--nocapture` to see every estimate next to its theoretical value.

use sluice::Report;

use crate::util::{assert_in_ci, ci99, sim};

/// Independent replications per scenario; replication `i` uses seed `i`.
const REPS: u64 = 16;

/// Expected arrivals per replication.
const CUSTOMERS: f64 = 60_000.0;

/// Fraction of each run spent warming up (excluded from the statistics).
const WARMUP_FRACTION: f64 = 0.1;

/// Widest 99 % CI half-width accepted, relative to the theoretical value: every check must be
/// able to tell a 5 % error from noise.
const MAX_REL_HALF_WIDTH: f64 = 0.05;

/// Runs `text` once per seed 1..=`REPS` and returns, for each of the `N` quantities that `f`
/// extracts from a report, its values over the replications.
fn replicate<const N: usize>(text: &str, f: impl Fn(&Report) -> [f64; N]) -> [Vec<f64>; N] {
    let mut out: [Vec<f64>; N] = std::array::from_fn(|_| Vec::new());
    for seed in 1..=REPS {
        let mut s = sim(text, seed);
        s.run_to_end();
        for (column, x) in out.iter_mut().zip(f(&s.report())) {
            column.push(x);
        }
    }
    out
}

/// Asserts that `theory` lies in the 99 % CI of the replications `xs`, and that the interval
/// is narrow enough for the check to mean something.
fn check(what: &str, xs: &[f64], theory: f64) {
    let (mean, half) = ci99(xs);
    println!("{what:<40} theory {theory:>9.5}   sim {mean:>9.5} ± {half:.5}");
    assert_in_ci(what, xs, theory);
    assert!(
        half <= MAX_REL_HALF_WIDTH * theory.abs(),
        "{what}: CI half-width {half:.5} exceeds {:.0} % of the theory {theory:.5}; the check has no power",
        MAX_REL_HALF_WIDTH * 100.0
    );
}

/// Checks Little's law on `ratios`, one L/(λW) per replication, whose theoretical value is 1.
///
/// The law holds on every sample path up to end effects: requests already inside at the end of
/// the warm-up, or still inside at the end of the run, add area under the gauge without a
/// counted sojourn. Those terms are of relative order W/T (sojourn over measured span); unlike
/// noise they do not average out over replications, so the interval is widened by `3 W/T`.
fn check_little(what: &str, ratios: &[f64], w: f64, span: f64) {
    let (mean, half) = ci99(ratios);
    let end_effects = 3.0 * w / span;
    println!("{what:<40} theory   1.00000   sim {mean:>9.5} ± {half:.5} (+ end effects {end_effects:.5})");
    assert!(
        (mean - 1.0).abs() <= half + end_effects,
        "{what}: 1 outside the 99% CI {mean:.6} ± {half:.6} widened by end effects {end_effects:.6}: {ratios:?}"
    );
}

/// Seconds over which a report's statistics were measured (warm-up to end).
fn span(r: &Report) -> f64 {
    r.sim_time_s - r.warmup_s
}

/// Run length giving `CUSTOMERS` expected arrivals at rate `lambda`.
fn duration(lambda: f64) -> f64 {
    CUSTOMERS / lambda
}

/// The `duration`, `warmup` and `sample_every` settings (RON) of a run at rate `lambda`.
fn settings(lambda: f64) -> String {
    let d = duration(lambda);
    format!("duration: {d:.1}, warmup: {:.1}, sample_every: {:.1},", d * WARMUP_FRACTION, d / 100.0)
}

/// Measured seconds of a run at rate `lambda`.
fn measured(lambda: f64) -> f64 {
    duration(lambda) * (1.0 - WARMUP_FRACTION)
}

/// A Poisson source at rate `lambda` feeding one station `"server"` with `workers` workers,
/// `capacity` waiting places (`None`: unbounded) and the service distribution `service` (RON),
/// run for `CUSTOMERS` expected arrivals.
fn station(lambda: f64, workers: u32, capacity: Option<u32>, service: &str) -> String {
    let queue = capacity.map_or(String::new(), |k| format!("queue: Queue(capacity: {k}, overflow: Reject), "));
    format!(
        r#"Scenario(
            title: "theory",
            {settings}
            nodes: {{
                "clients": Source(rate: {lambda}, arrivals: Poisson, to: "server"),
                "server": Service(workers: {workers}, {queue}service: {service}),
            }},
        )"#,
        settings = settings(lambda),
    )
}

/// Erlang C: the probability that an arrival waits in M/M/c with offered load `a` = λ/μ < c.
fn erlang_c(c: u32, a: f64) -> f64 {
    let c_f = f64::from(c);
    // Σ_{k<c} a^k/k!, and the last term a^c/c! · c/(c − a).
    let (mut term, mut sum) = (1.0, 1.0);
    for k in 1..c {
        term *= a / f64::from(k);
        sum += term;
    }
    let last = term * a / c_f * c_f / (c_f - a);
    last / (sum + last)
}

/// Erlang B: the blocking probability of M/M/c/c with offered load `a`, by the numerically
/// stable recursion B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1)).
fn erlang_b(c: u32, a: f64) -> f64 {
    (1..=c).fold(1.0, |b, k| a * b / (f64::from(k) + a * b))
}

/// Stationary distribution p_0..=p_K of the number in an M/M/c/K system with offered load `a`
/// = λ/μ: the birth–death chain p_n = p_{n−1} · a / min(n, c), normalised.
fn mmck_distribution(c: u32, k: u32, a: f64) -> Vec<f64> {
    let mut p = vec![1.0];
    for n in 1..=k {
        p.push(p[n as usize - 1] * a / f64::from(n.min(c)));
    }
    let total: f64 = p.iter().sum();
    p.iter().map(|x| x / total).collect()
}

/// M/M/1 with λ = 0.7, μ = 1 (ρ = 0.7):
/// Wq = ρ/(μ − λ), W = 1/(μ − λ), L = ρ/(1 − ρ), Lq = ρ²/(1 − ρ), utilization ρ, and
/// Little's law L = λW, Lq = λWq on each replication's own estimates (ratios to 1).
#[test]
fn mm1_wait_and_littles_law() {
    let (lambda, mu) = (0.7, 1.0);
    let rho = lambda / mu;
    let text = station(lambda, 1, None, "Exponential(mean: 1.0)");
    let [wq, w, l, lq, util, thr, little_l, little_lq] = replicate(&text, |r| {
        let s = &r.nodes["server"];
        let lambda_eff = s.arrivals as f64 / span(r);
        [
            s.wait_s.mean,
            s.latency_s.mean,
            s.in_system_mean,
            s.queue_len_mean,
            s.utilization,
            s.throughput_per_s,
            s.in_system_mean / (lambda_eff * s.latency_s.mean),
            s.queue_len_mean / (lambda_eff * s.wait_s.mean),
        ]
    });
    check("M/M/1 Wq", &wq, rho / (mu - lambda));
    check("M/M/1 W", &w, 1.0 / (mu - lambda));
    check("M/M/1 L", &l, rho / (1.0 - rho));
    check("M/M/1 Lq", &lq, rho * rho / (1.0 - rho));
    check("M/M/1 utilization", &util, rho);
    check("M/M/1 throughput", &thr, lambda);
    check_little("M/M/1 Little L / (λW)", &little_l, 1.0 / (mu - lambda), measured(lambda));
    check_little("M/M/1 Little Lq / (λWq)", &little_lq, 1.0 / (mu - lambda), measured(lambda));
}

/// M/M/c (Erlang C): Wq = C(c, a) / (cμ − λ) with a = λ/μ; Lq = λWq; utilization a/c.
#[test]
fn mmc_wait_matches_erlang_c() {
    for (lambda, c) in [(2.4, 3u32), (1.5, 2)] {
        let mu = 1.0;
        let a = lambda / mu;
        let wq_theory = erlang_c(c, a) / (f64::from(c) * mu - lambda);
        let text = station(lambda, c, None, "Exponential(mean: 1.0)");
        let [wq, lq, util] = replicate(&text, |r| {
            let s = &r.nodes["server"];
            [s.wait_s.mean, s.queue_len_mean, s.utilization]
        });
        check(&format!("M/M/{c} Wq (λ = {lambda})"), &wq, wq_theory);
        check(&format!("M/M/{c} Lq (λ = {lambda})"), &lq, lambda * wq_theory);
        check(&format!("M/M/{c} utilization (λ = {lambda})"), &util, a / f64::from(c));
    }
}

/// M/M/1/K and M/M/c/K with K = c + waiting places: the fraction of arrivals rejected is p_K
/// (PASTA), the mean number inside is Σ n·p_n, and Little's law holds with the admitted rate
/// λ(1 − p_K).
#[test]
fn mm1k_and_mmck_blocking() {
    for (lambda, c, waiting) in [(0.9, 1u32, 4u32), (1.8, 2, 5), (3.5, 3, 2)] {
        let k = c + waiting;
        let p = mmck_distribution(c, k, lambda); // μ = 1, so a = λ
        let blocking_theory = p[k as usize];
        let l_theory: f64 = p.iter().enumerate().map(|(n, pn)| n as f64 * pn).sum();
        let text = station(lambda, c, Some(waiting), "Exponential(mean: 1.0)");
        let [blocking, l, little] = replicate(&text, |r| {
            let s = &r.nodes["server"];
            let admitted = (s.arrivals - s.rejected) as f64 / span(r);
            [s.rejected as f64 / s.arrivals as f64, s.in_system_mean, s.in_system_mean / (admitted * s.latency_s.mean)]
        });
        let name = format!("M/M/{c}/{k} (λ = {lambda})");
        check(&format!("{name} blocking"), &blocking, blocking_theory);
        check(&format!("{name} L"), &l, l_theory);
        let w_theory = l_theory / (lambda * (1.0 - blocking_theory));
        check_little(&format!("{name} Little L / (λ_eff W)"), &little, w_theory, measured(lambda));
    }
}

/// Erlang B: M/M/c/c (no waiting room) loses B(c, a) of its arrivals, carries a(1 − B) busy
/// workers on average, and nobody waits.
#[test]
fn erlang_b_loss() {
    for (lambda, c) in [(4.0, 5u32), (8.0, 10)] {
        let b_theory = erlang_b(c, lambda);
        let text = station(lambda, c, Some(0), "Exponential(mean: 1.0)");
        let [blocking, busy, wait] = replicate(&text, |r| {
            let s = &r.nodes["server"];
            [s.rejected as f64 / s.arrivals as f64, s.busy_mean, s.wait_s.mean]
        });
        check(&format!("Erlang B({c}, {lambda})"), &blocking, b_theory);
        check(&format!("M/M/{c}/{c} busy workers"), &busy, lambda * (1.0 - b_theory));
        assert!(wait.iter().all(|w| *w == 0.0), "nobody waits in a loss system: {wait:?}");
    }
}

/// A concurrency limit of `c` with immediate refusal and no queue in front of it (seed 001's
/// middleware on a node with more workers than permits) is M/M/c/c: it refuses B(c, a) of its
/// arrivals as `concurrency_limit`. Erlang B is insensitive to the service distribution, so
/// log-normal work with a coefficient of variation of 2 refuses the same share.
#[test]
fn concurrency_limit_is_erlang_b() {
    for (lambda, c, service) in [(4.0, 5u32, "Exponential(mean: 1.0)"), (8.0, 10, "LogNormal(mean: 1.0, cv: 2.0)")] {
        let b_theory = erlang_b(c, lambda);
        let text = format!(
            r#"Scenario(
                title: "concurrency limit",
                {settings}
                nodes: {{
                    "clients": Source(rate: {lambda}, to: "server"),
                    "server": Service(workers: 100, service: {service}, concurrency: Concurrency(max_concurrent: Some({c}))),
                }},
            )"#,
            settings = settings(lambda),
        );
        let [refused, other] = replicate(&text, |r| {
            let s = &r.nodes["server"];
            [
                s.rejected_by.concurrency_limit as f64 / s.arrivals as f64,
                (s.rejected - s.rejected_by.concurrency_limit) as f64,
            ]
        });
        check(&format!("limit {c} at load {lambda} ({service})"), &refused, b_theory);
        assert!(other.iter().all(|x| *x == 0.0), "every refusal is the limit's: {other:?}");
    }
}

/// A concurrency limit of `c` whose requests wait for a permit as long as it takes (a fair
/// semaphore with a long `max_wait`) in front of plenty of workers is M/M/c: the wait for a
/// permit is Erlang C's, Wq = C(c, a) / (cμ − λ), and nobody is refused.
#[test]
fn waiting_for_a_permit_is_erlang_c() {
    let (lambda, c) = (2.4, 3u32);
    let text = format!(
        r#"Scenario(
            title: "permit wait",
            {settings}
            nodes: {{
                "clients": Source(rate: {lambda}, to: "server"),
                "server": Service(workers: 100, service: Exponential(mean: 1.0),
                    concurrency: Concurrency(max_concurrent: Some({c}), max_wait: 1000000.0)),
            }},
        )"#,
        settings = settings(lambda),
    );
    let [wait, refused] = replicate(&text, |r| {
        let s = &r.nodes["server"];
        [s.wait_s.mean, s.rejected as f64]
    });
    check("permit wait, limit 3 at load 2.4", &wait, erlang_c(c, lambda) / (f64::from(c) - lambda));
    assert!(refused.iter().all(|x| *x == 0.0), "nobody gives up: {refused:?}");
}

/// A bulkhead pool of `c` permits for one class is that class's own M/M/c/c: the class loses
/// B(c, a_class) as `bulkhead_full`, while a class outside the pool loses nothing.
#[test]
fn bulkhead_pool_is_erlang_b_for_its_class() {
    let (lambda, c, batch_share) = (6.0, 4u32, 0.5);
    let text = format!(
        r#"Scenario(
            title: "bulkhead",
            {settings}
            classes: [Class(name: "batch", weight: {batch_share}), Class(name: "web", weight: {web})],
            nodes: {{
                "clients": Source(rate: {lambda}, to: "server"),
                "server": Service(workers: 100, service: Exponential(mean: 1.0),
                    concurrency: Concurrency(max_concurrent: None, pools: [Pool(classes: ["batch"], max_concurrent: {c})])),
            }},
        )"#,
        settings = settings(lambda),
        web = 1.0 - batch_share,
    );
    let [batch, web] = replicate(&text, |r| {
        let s = &r.nodes["server"];
        let (b, w) = (&s.classes["batch"], &s.classes["web"]);
        [b.rejected_by.bulkhead_full as f64 / b.arrivals as f64, w.rejected as f64]
    });
    check("batch pool of 4 at load 3", &batch, erlang_b(c, lambda * batch_share));
    assert!(web.iter().all(|x| *x == 0.0), "the class outside the pool is never refused: {web:?}");
}

/// A token bucket fed by Poisson arrivals above its rate admits its rate in the long run: over a
/// measured span it gains rate × span tokens and holds between 0 and `burst` at either end, so
/// the admitted count is within `burst` of rate × span on every run (a bound, not a confidence
/// interval). Fed below its rate with a large burst, it admits the offered load and refuses
/// almost nothing.
#[test]
fn token_bucket_admits_its_rate() {
    let rate = 2.0;
    for (lambda, burst) in [(5.0, 5.0), (1.0, 50.0)] {
        let text = format!(
            r#"Scenario(
                title: "token bucket",
                {settings}
                nodes: {{
                    "clients": Source(rate: {lambda}, to: "server"),
                    "server": Service(workers: 100, service: Exponential(mean: 0.01),
                        rate_limit: RateLimit(rate: {rate}, burst: Some({burst}))),
                }},
            )"#,
            settings = settings(lambda),
        );
        let [admitted, refused, surplus] = replicate(&text, |r| {
            let s = &r.nodes["server"];
            let limited = s.rejected_by.rate_limited as f64;
            let admitted = s.arrivals as f64 - limited;
            [admitted / span(r), limited / s.arrivals as f64, admitted - rate * span(r)]
        });
        if lambda > rate {
            println!("bucket rate {rate} under λ = {lambda}: admitted − rate × span = {surplus:?}");
            assert!(
                surplus.iter().all(|x| x.abs() <= burst + 1.0),
                "admitted count strays more than the burst ({burst}) from rate × span: {surplus:?}"
            );
        } else {
            check(&format!("bucket rate {rate} under λ = {lambda}"), &admitted, lambda);
            let worst = refused.iter().copied().fold(0.0, f64::max);
            assert!(worst < 1e-4, "a bucket above its load with a burst of {burst} refused {worst:.2e}");
        }
    }
}

/// The Universal Scalability Law: a saturated station whose service times grow as
/// 1 + σ(N − 1) + κN(N − 1) with N busy workers delivers C(N)/S: throughput rises to the knee
/// N* = √((1 − σ)/κ) ≈ 9.7 and falls beyond it (congestion collapse).
#[test]
fn contention_follows_the_universal_scalability_law() {
    let (sigma, kappa, mean) = (0.05, 0.01, 0.1);
    let mut by_workers = Vec::new();
    for workers in [4u32, 10, 30] {
        let text = format!(
            r#"Scenario(title: "usl", duration: 2000.0, warmup: 200.0, nodes: {{
                "clients": Source(rate: 200.0, to: "server"),
                "server": Service(workers: {workers}, queue: Queue(capacity: Some(100)), service: Exponential(mean: {mean}),
                    contention: Contention(sigma: {sigma}, kappa: {kappa})),
            }})"#
        );
        let [throughput] = replicate(&text, |r| [r.nodes["server"].throughput_per_s]);
        let n = f64::from(workers);
        let capacity = n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0));
        // The station is saturated from the start: the full queue and busy workers at the end
        // of the warm-up arrived uncounted, so their completions are missing from the measured
        // span's count (a known end effect of 100 + N requests over 1800 s).
        let backlog = (100.0 + n) / 1800.0;
        check(&format!("USL throughput with {workers} workers"), &throughput, capacity / mean - backlog);
        by_workers.push(throughput.iter().sum::<f64>() / throughput.len() as f64);
    }
    assert!(by_workers[1] > by_workers[0] && by_workers[1] > by_workers[2], "a knee: {by_workers:?}");
}

/// M/G/1 (Pollaczek–Khinchine): Wq = ρ(1 + c_s²) / (2μ(1 − ρ)), where c_s² is the squared
/// coefficient of variation of the service time; W = Wq + 1/μ. M/D/1 (c_s² = 0) waits half as
/// long as M/M/1; M/E₄/1 (four exponential phases, c_s² = 1/4) is in between.
#[test]
fn md1_wait_matches_pollaczek_khinchine() {
    let (lambda, mu) = (0.8, 1.0);
    let rho = lambda / mu;
    for (name, service, scv) in
        [("M/D/1", "Deterministic(mean: 1.0)", 0.0), ("M/E4/1", "Erlang(mean: 1.0, k: 4)", 0.25)]
    {
        let text = station(lambda, 1, None, service);
        let [wq, w] = replicate(&text, |r| [r.nodes["server"].wait_s.mean, r.nodes["server"].latency_s.mean]);
        let wq_theory = rho * (1.0 + scv) / (2.0 * mu * (1.0 - rho));
        check(&format!("{name} Wq"), &wq, wq_theory);
        check(&format!("{name} W"), &w, wq_theory + 1.0 / mu);
    }
}

/// A two-station Jackson tandem, clients → a → b (a forwards everything to b): each station is
/// an independent M/M/1 with arrival rate λ, so Wq_i = ρ_i/(μ_i − λ), W_i = 1/(μ_i − λ), and the
/// end-to-end latency seen by the source is W_a + W_b.
#[test]
fn jackson_tandem() {
    let (lambda, mu_a, mu_b) = (0.5, 1.0, 0.8);
    let text = format!(
        r#"Scenario(
            title: "tandem",
            {settings}
            nodes: {{
                "clients": Source(rate: {lambda}, arrivals: Poisson, to: "a"),
                "a": Service(workers: 1, service: Exponential(mean: {sa}), routes: [Route(to: "b", p: 1.0)]),
                "b": Service(workers: 1, service: Exponential(mean: {sb})),
            }},
        )"#,
        settings = settings(lambda),
        sa = 1.0 / mu_a,
        sb = 1.0 / mu_b,
    );
    let [wq_a, wq_b, w_a, w_b, end_to_end, thr_b] = replicate(&text, |r| {
        let (a, b) = (&r.nodes["a"], &r.nodes["b"]);
        [
            a.wait_s.mean,
            b.wait_s.mean,
            a.latency_s.mean,
            b.latency_s.mean,
            r.nodes["clients"].latency_s.mean,
            b.throughput_per_s,
        ]
    });
    check("tandem Wq at a", &wq_a, lambda / mu_a / (mu_a - lambda));
    check("tandem Wq at b", &wq_b, lambda / mu_b / (mu_b - lambda));
    check("tandem W at a", &w_a, 1.0 / (mu_a - lambda));
    check("tandem W at b", &w_b, 1.0 / (mu_b - lambda));
    check("tandem end to end", &end_to_end, 1.0 / (mu_a - lambda) + 1.0 / (mu_b - lambda));
    check("tandem throughput at b", &thr_b, lambda);
}

/// The formulas themselves, against closed forms and each other.
#[test]
fn formulas_match_closed_forms() {
    let close = |x: f64, y: f64| (x - y).abs() < 1e-12;
    // C(2, 1) = 1/3; B(1, a) = a/(1 + a); B(5, 4) = (4⁵/5!) / Σ_{k≤5} 4^k/k!.
    assert!(close(erlang_c(2, 1.0), 1.0 / 3.0));
    assert!(close(erlang_b(1, 0.5), 0.5 / 1.5));
    let terms: Vec<f64> = (0..=5).scan(1.0, |t, k| Some(std::mem::replace(t, *t * 4.0 / f64::from(k + 1)))).collect();
    assert!(close(erlang_b(5, 4.0), terms[5] / terms.iter().sum::<f64>()));
    // Erlang C from Erlang B: C = B / (1 − ρ(1 − B)) with ρ = a/c.
    for (c, a) in [(1u32, 0.7), (3, 2.4), (10, 9.5)] {
        let (b, rho) = (erlang_b(c, a), a / f64::from(c));
        assert!(close(erlang_c(c, a), b / (1.0 - rho * (1.0 - b))));
    }
    // M/M/1/K: p_K = (1 − ρ)ρ^K / (1 − ρ^{K+1}); M/M/c/c is Erlang B.
    let p = mmck_distribution(1, 5, 0.9);
    assert!(close(p[5], 0.1 * 0.9f64.powi(5) / (1.0 - 0.9f64.powi(6))));
    assert!(close(mmck_distribution(5, 5, 4.0)[5], erlang_b(5, 4.0)));
    // M/M/1 with K → ∞: the M/M/1 mean ρ/(1 − ρ).
    let l: f64 = mmck_distribution(1, 400, 0.7).iter().enumerate().map(|(n, p)| n as f64 * p).sum();
    assert!((l - 0.7 / 0.3).abs() < 1e-9);
}
