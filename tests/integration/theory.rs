//! Queueing theory versus simulation.
//!
//! Method: each check runs `REPS` independent replications (seeds 1..=REPS) of a scenario with a
//! warm-up, takes one estimate per replication, and requires the theoretical value to lie in the
//! 99 % Student-t confidence interval of those estimates. Replications are independent, so the
//! interval is honest even though observations within one run are correlated.

use crate::util::{assert_in_ci, sim};

const REPS: u64 = 12;

/// Runs `text` once per seed and collects `f(report)`.
fn replicate(text: &str, f: impl Fn(&sluice::Report) -> Vec<f64>) -> Vec<Vec<f64>> {
    let per_rep: Vec<Vec<f64>> = (1..=REPS)
        .map(|seed| {
            let mut s = sim(text, seed);
            s.run_to_end();
            f(&s.report())
        })
        .collect();
    // Transpose: one vector per quantity.
    (0..per_rep[0].len()).map(|i| per_rep.iter().map(|r| r[i]).collect()).collect()
}

fn station(lambda: f64, c: u32, capacity: &str, service: &str, duration: f64) -> String {
    format!(
        r#"Scenario(title: "theory", duration: {duration}, warmup: {warm}, sample_every: {step},
        nodes: {{
            "clients": Source(rate: {lambda}, to: "server"),
            "server": Service(workers: {c}, queue: Queue(capacity: {capacity}), service: {service}),
        }})"#,
        warm = duration / 10.0,
        step = duration / 100.0,
    )
}

/// Erlang C: probability that an arrival waits in M/M/c with offered load a = λ/μ.
fn erlang_c(c: u32, a: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..c {
        term *= a / f64::from(k);
        sum += term;
    }
    let last = term * a / f64::from(c) * f64::from(c) / (f64::from(c) - a);
    last / (sum + last)
}

/// Erlang B: blocking probability of M/M/c/c, by the stable recursion B(k) = aB/(k + aB).
fn erlang_b(c: u32, a: f64) -> f64 {
    (1..=c).fold(1.0, |b, k| a * b / (f64::from(k) + a * b))
}

/// Blocking probability of M/M/c/K (K = c + waiting places): p_K from the birth–death chain.
fn mmck_blocking(c: u32, k: u32, lambda: f64, mu: f64) -> f64 {
    let mut p = vec![1.0f64];
    for n in 1..=k {
        let rate = lambda / (mu * f64::from(n.min(c)));
        p.push(p[n as usize - 1] * rate);
    }
    let total: f64 = p.iter().sum();
    p[k as usize] / total
}

/// M/M/1: Wq = ρ/(μ − λ), W = 1/(μ − λ); Little's law L = λW and Lq = λWq.
#[test]
fn mm1_wait_and_littles_law() {
    let (lambda, mu) = (0.7, 1.0);
    let text = station(lambda, 1, "None", "Exponential(mean: 1.0)", 60_000.0);
    let q = replicate(&text, |r| {
        let s = &r.nodes["server"];
        let rate = s.arrivals as f64 / (r.sim_time_s - r.warmup_s);
        vec![
            s.wait_s.mean,
            s.latency_s.mean,
            s.in_system_mean - rate * s.latency_s.mean,
            s.queue_len_mean - rate * s.wait_s.mean,
        ]
    });
    assert_in_ci("M/M/1 Wq", &q[0], lambda / (mu * (mu - lambda)));
    assert_in_ci("M/M/1 W", &q[1], 1.0 / (mu - lambda));
    assert_in_ci("Little L − λW", &q[2], 0.0);
    assert_in_ci("Little Lq − λWq", &q[3], 0.0);
}

/// M/M/c: Wq = C(c, a) / (cμ − λ) (Erlang C).
#[test]
fn mmc_wait_matches_erlang_c() {
    let (lambda, mu, c) = (2.4, 1.0, 3);
    let text = station(lambda, c, "None", "Exponential(mean: 1.0)", 30_000.0);
    let q = replicate(&text, |r| vec![r.nodes["server"].wait_s.mean, r.nodes["server"].utilization]);
    let a = lambda / mu;
    assert_in_ci("M/M/3 Wq", &q[0], erlang_c(c, a) / (f64::from(c) * mu - lambda));
    assert_in_ci("M/M/3 utilization", &q[1], a / f64::from(c));
}

/// M/M/1/K and M/M/c/K: the fraction of arrivals rejected equals p_K (PASTA).
#[test]
fn mm1k_and_mmck_blocking() {
    for (lambda, c, waiting) in [(0.9, 1u32, 4u32), (1.8, 2, 5), (3.5, 3, 2)] {
        let text = station(lambda, c, &waiting.to_string(), "Exponential(mean: 1.0)", 20_000.0);
        let q = replicate(&text, |r| {
            let s = &r.nodes["server"];
            vec![s.rejected as f64 / s.arrivals as f64]
        });
        let theory = mmck_blocking(c, c + waiting, lambda, 1.0);
        assert_in_ci(&format!("M/M/{c}/{} blocking", c + waiting), &q[0], theory);
    }
}

/// Erlang B: M/M/c/c (no waiting room) loses B(c, a) of its arrivals.
#[test]
fn erlang_b_loss() {
    let (lambda, c) = (4.0, 5u32);
    let text = station(lambda, c, "0", "Exponential(mean: 1.0)", 20_000.0);
    let q = replicate(&text, |r| {
        let s = &r.nodes["server"];
        vec![s.rejected as f64 / s.arrivals as f64, s.wait_s.mean]
    });
    assert_in_ci("Erlang B", &q[0], erlang_b(c, lambda));
    assert!(q[1].iter().all(|w| *w == 0.0), "nobody waits in a loss system");
}

/// M/D/1 (Pollaczek–Khinchine): Wq = ρ / (2μ(1 − ρ)) — half the M/M/1 wait.
#[test]
fn md1_wait_matches_pollaczek_khinchine() {
    let (lambda, mu) = (0.8, 1.0);
    let text = station(lambda, 1, "None", "Deterministic(mean: 1.0)", 40_000.0);
    let q = replicate(&text, |r| vec![r.nodes["server"].wait_s.mean]);
    let rho = lambda / mu;
    assert_in_ci("M/D/1 Wq", &q[0], rho / (2.0 * mu * (1.0 - rho)));
}

/// A two-station Jackson tandem: each station is M/M/1 with the same λ, and the end-to-end
/// sojourn is the sum 1/(μ₁ − λ) + 1/(μ₂ − λ).
#[test]
fn jackson_tandem() {
    let (lambda, mu_a, mu_b) = (0.5, 1.0, 0.8);
    let text = format!(
        r#"Scenario(title: "tandem", duration: 50000.0, warmup: 5000.0, sample_every: 500.0, nodes: {{
            "clients": Source(rate: {lambda}, to: "a"),
            "a": Service(service: Exponential(mean: {ma}), routes: [Route(to: "b", p: 1.0)]),
            "b": Service(service: Exponential(mean: {mb})),
        }})"#,
        ma = 1.0 / mu_a,
        mb = 1.0 / mu_b
    );
    let q = replicate(&text, |r| {
        vec![r.nodes["a"].latency_s.mean, r.nodes["b"].latency_s.mean, r.nodes["clients"].latency_s.mean]
    });
    assert_in_ci("tandem W_a", &q[0], 1.0 / (mu_a - lambda));
    assert_in_ci("tandem W_b", &q[1], 1.0 / (mu_b - lambda));
    assert_in_ci("tandem end to end", &q[2], 1.0 / (mu_a - lambda) + 1.0 / (mu_b - lambda));
}

#[test]
fn formulas_match_known_values() {
    // Textbook values: C(2, 1) = 1/3; B(1, 1) = 1/2; M/M/1/1 blocking ρ/(1+ρ).
    assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
    assert!((erlang_b(1, 1.0) - 0.5).abs() < 1e-12);
    assert!((mmck_blocking(1, 1, 0.5, 1.0) - 0.5 / 1.5).abs() < 1e-12);
    assert!((erlang_b(5, 4.0) - mmck_blocking(5, 5, 4.0, 1.0)).abs() < 1e-12);
}
