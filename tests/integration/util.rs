//! Shared helpers: building sims from inline RON, running the binary, and replication
//! statistics.

use std::process::{Command, Output};

use sluice::Sim;

/// Runs the `sluice` binary from the repository root.
pub fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the sluice binary runs")
}

/// A process's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The seeds the shipped stories' notes quote.
pub const SEEDS: [u64; 3] = [1, 2, 3];

/// Runs a shipped scenario (`scenarios/NAME`) to its end with `seed`, after the changes `sets`
/// (at t = 0), as `sluice run --seed S --set …` does.
pub fn run_story(name: &str, seed: u64, sets: &[(&str, &str)]) -> Sim {
    let path = format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut sim = Sim::from_file(&path, Some(seed)).unwrap_or_else(|e| panic!("{e}"));
    for (p, v) in sets {
        sim.set(p, v).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
    sim.run_to_end();
    assert!(sim.report().errors.is_empty(), "{name}: {:?}", sim.report().errors);
    sim
}

/// Builds a sim from inline scenario text, panicking with the located error if it is invalid.
pub fn sim(text: &str, seed: u64) -> Sim {
    match Sim::from_text("<test>", text, Some(seed)) {
        Ok(s) => s,
        Err(e) => panic!("test scenario is invalid:\n{e}\n{text}"),
    }
}

/// Mean and half-width of a 99 % confidence interval (Student t) over replications.
pub fn ci99(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    assert!(xs.len() >= 2, "need at least two replications");
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, t99(xs.len() - 1) * (var / n).sqrt())
}

/// Two-sided 99 % Student t quantile for `df` degrees of freedom.
pub fn t99(df: usize) -> f64 {
    const T: [f64; 30] = [
        63.657, 9.925, 5.841, 4.604, 4.032, 3.707, 3.499, 3.355, 3.250, 3.169, 3.106, 3.055, 3.012, 2.977, 2.947,
        2.921, 2.898, 2.878, 2.861, 2.845, 2.831, 2.819, 2.807, 2.797, 2.787, 2.779, 2.771, 2.763, 2.756, 2.750,
    ];
    if df == 0 {
        f64::INFINITY
    } else if df <= 30 {
        T[df - 1]
    } else {
        2.576
    }
}

/// Asserts that `theory` lies in the 99 % CI of the replications `xs`.
pub fn assert_in_ci(what: &str, xs: &[f64], theory: f64) {
    let (mean, half) = ci99(xs);
    assert!(
        (mean - theory).abs() <= half,
        "{what}: theory {theory:.5} outside the 99% CI {mean:.5} ± {half:.5} ({} replications: {xs:?})",
        xs.len()
    );
}
