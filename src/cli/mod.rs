//! The command line: `sluice run | check | bench | params`.
//!
//! Exit codes (stable, documented in the README):
//! * 0 — success;
//! * 1 — the scenario is invalid, or a `--set`/timeline change could not be applied;
//! * 2 — bad command-line usage (unknown flag, malformed `--set`);
//! * 3 — an output file or directory could not be written.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::engine::Sim;
use crate::scenario::ScenarioError;

mod gui_args;

pub use gui_args::GuiArgs;

/// The app's window size: bevy's default width, and small enough that a software renderer
/// (llvmpipe) keeps 30 frames per second on the 30-node mesh (see the README).
pub const DEFAULT_WINDOW: (u32, u32) = (1280, 800);

/// The scenario `sluice` runs with no arguments, compiled in so the binary works anywhere.
pub const DEFAULT_SCENARIO: (&str, &str) = ("scenarios/three-tier.ron", include_str!("../../scenarios/three-tier.ron"));

#[derive(Parser, Debug)]
#[command(
    name = "sluice",
    version,
    about = "Deterministic discrete-event simulator of backpressure in queueing networks"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario headless and print its report.
    Run {
        /// Scenario file (RON).
        scenario: PathBuf,
        /// Master seed (overrides the file's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Stop at this sim time in seconds (default: the scenario's duration).
        #[arg(long, value_name = "SECONDS")]
        until: Option<f64>,
        /// Change a parameter at time 0, e.g. `--set server.workers=4` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// Write each node's time series as DIR/<node>.csv.
        #[arg(long, value_name = "DIR")]
        csv: Option<PathBuf>,
    },
    /// Validate scenarios; print `file:line:col: message` for every problem.
    Check {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// List every parameter path of a scenario (what `--set` and the timeline accept).
    Params {
        scenario: PathBuf,
        /// Only this node.
        node: Option<String>,
    },
    /// Open the desktop app (built with the `gui` feature).
    Gui(GuiArgs),
    /// Speed benchmark: an M/M/1 at ρ = 0.9 with full metrics; prints customers/s and events/s.
    Bench {
        /// Customers to simulate (approximately: arrivals in the run).
        #[arg(long, default_value_t = 2_000_000)]
        customers: u64,
        /// Utilisation λ/μ (μ = 1).
        #[arg(long, default_value_t = 0.9)]
        rho: f64,
        /// Repetitions; the best run is reported.
        #[arg(long, default_value_t = 3)]
        repeat: u32,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match cli.command {
        None => default_run(),
        Some(Command::Run { scenario, seed, until, sets, json, csv }) => {
            run(&scenario, seed, until, &sets, json, csv.as_deref())
        }
        Some(Command::Check { scenarios }) => check(&scenarios),
        Some(Command::Params { scenario, node }) => params(&scenario, node.as_deref()),
        Some(Command::Bench { customers, rho, repeat }) => bench(customers, rho, repeat),
        Some(Command::Gui(args)) => gui(args),
    }
}

fn scenario_error(e: &ScenarioError) -> ExitCode {
    eprintln!("{e}");
    ExitCode::from(1)
}

#[cfg(feature = "gui")]
fn gui(a: GuiArgs) -> ExitCode {
    crate::gui::run(a)
}

#[cfg(not(feature = "gui"))]
fn gui(_: GuiArgs) -> ExitCode {
    eprintln!("sluice: this build has no desktop app (built without the `gui` feature); use `sluice run SCENARIO`");
    ExitCode::from(1)
}

/// `sluice` with no arguments: the desktop app when built with it; otherwise the default
/// scenario headless.
#[cfg(feature = "gui")]
fn default_run() -> ExitCode {
    gui(GuiArgs::default())
}

#[cfg(not(feature = "gui"))]
fn default_run() -> ExitCode {
    let (name, text) = DEFAULT_SCENARIO;
    let mut sim = match Sim::from_text(name, text, None) {
        Ok(sim) => sim,
        Err(e) => return scenario_error(&e),
    };
    eprintln!("sluice: running the default scenario `{name}` headless (see `sluice --help`)");
    sim.run_to_end();
    print!("{}", sim.report().table());
    ExitCode::SUCCESS
}

fn run(
    path: &Path,
    seed: Option<u64>,
    until: Option<f64>,
    sets: &[String],
    json: bool,
    csv: Option<&Path>,
) -> ExitCode {
    let mut sim = match Sim::from_file(path, seed) {
        Ok(sim) => sim,
        Err(e) => return scenario_error(&e),
    };
    for s in sets {
        let Some((p, v)) = s.split_once('=') else {
            eprintln!("sluice: --set {s}: expected PATH=VALUE, e.g. --set server.workers=4");
            return ExitCode::from(2);
        };
        if let Err(e) = sim.set(p.trim(), v.trim()) {
            eprintln!("sluice: --set {s}: {e}");
            return ExitCode::from(1);
        }
    }
    match until {
        Some(t) if !(t.is_finite() && t >= 0.0) => {
            eprintln!("sluice: --until {t}: expected a number of seconds ≥ 0");
            return ExitCode::from(2);
        }
        Some(t) => sim.run_until(t),
        None => sim.run_to_end(),
    }
    let report = sim.report();
    if let Some(dir) = csv
        && let Err(e) = write_csv(&sim, dir)
    {
        eprintln!("sluice: cannot write CSV files to {}: {e}", dir.display());
        return ExitCode::from(3);
    }
    let out = if json { report.to_json() + "\n" } else { report.table() };
    if std::io::stdout().write_all(out.as_bytes()).is_err() {
        return ExitCode::from(3);
    }
    if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// Writes one CSV per node with its time series.
pub fn write_csv(sim: &Sim, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for name in sim.node_names() {
        let mut w = csv::Writer::from_path(dir.join(format!("{name}.csv")))?;
        for p in sim.series(&name) {
            w.serialize(p)?;
        }
        w.flush()?;
    }
    Ok(())
}

fn check(paths: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for path in paths {
        match Sim::from_file(path, None) {
            Ok(sim) => println!("{}: ok ({})", path.display(), sim.scenario().title),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

fn params(path: &Path, node: Option<&str>) -> ExitCode {
    let mut sim = match Sim::from_file(path, None) {
        Ok(sim) => sim,
        Err(e) => return scenario_error(&e),
    };
    let names = sim.node_names();
    if let Some(n) = node
        && !names.iter().any(|x| x == n)
    {
        eprintln!("sluice: no node named `{n}`; nodes are: {}", names.join(", "));
        return ExitCode::from(1);
    }
    for name in names.iter().filter(|x| node.is_none_or(|n| n == x.as_str())) {
        for p in sim.params(name) {
            println!("{:<40} {:<12} {}  ({})", p.path, p.value.to_string(), p.help, crate::params::describe(&p.kind));
        }
    }
    ExitCode::SUCCESS
}

/// The benchmark model: M/M/1 with λ = `rho`, μ = 1, sized to about `customers` arrivals,
/// with the default metrics (histograms, gauges, 1000-point series).
pub fn bench_scenario(customers: u64, rho: f64) -> String {
    let duration = customers as f64 / rho;
    format!(
        r#"Scenario(
    title: "bench: M/M/1 at rho = {rho}",
    duration: {duration:.1},
    sample_every: {step:.3},
    nodes: {{
        "clients": Source(rate: {rho}, to: "server"),
        "server": Service(workers: 1, service: Exponential(mean: 1.0)),
    }},
)"#,
        step = duration / 1000.0
    )
}

fn bench(customers: u64, rho: f64, repeat: u32) -> ExitCode {
    if !(rho > 0.0 && rho.is_finite()) || customers == 0 {
        eprintln!("sluice bench: --rho must be > 0 and --customers > 0");
        return ExitCode::from(2);
    }
    let text = bench_scenario(customers, rho);
    let mut best: Option<(f64, u64, u64, f64)> = None;
    for _ in 0..repeat.max(1) {
        let mut sim = match Sim::from_text("<bench>", &text, Some(1)) {
            Ok(sim) => sim,
            Err(e) => return scenario_error(&e),
        };
        let start = std::time::Instant::now();
        sim.run_to_end();
        let wall = start.elapsed().as_secs_f64();
        let r = sim.report();
        let served = r.nodes["server"].completed;
        if best.is_none_or(|b| wall < b.0) {
            best = Some((wall, served, r.events, r.nodes["server"].wait_s.mean));
        }
    }
    let Some((wall, served, events, wait)) = best else { return ExitCode::from(1) };
    println!(
        "sluice customers={served} mean_wait={wait:.4} events={events} wall={wall:.3}s rate={:.0}/s ev_rate={:.0}/s",
        served as f64 / wall,
        events as f64 / wall
    );
    ExitCode::SUCCESS
}
