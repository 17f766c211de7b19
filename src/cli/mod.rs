//! The command line: `sluice run | check | params | gui | bench | sweep | compare | merge`.
//!
//! Exit codes (stable, one meaning each, documented in the README) are the constants in
//! [`exit`]; every line printed goes through [`exit::print`] so a closed or full stdout ends
//! the program with a code instead of a panic.

pub mod exit;
pub mod experiment;
pub mod files;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::engine::{Sim, Stop};
use crate::scenario::ScenarioError;
use exit::{code, print, say};

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
        /// Stop the run when more requests and clients than this are alive at once (default:
        /// the scenario's `max_population`, else 2 000 000).
        #[arg(long, value_name = "N")]
        max_population: Option<u64>,
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
    /// Run a sweep file: parameters × replications in parallel, summary with confidence
    /// intervals, charts; `--shard I/N` runs one part of it.
    Sweep(experiment::SweepArgs),
    /// Compare two variants on the same seeds: the paired difference of each metric, with its CI.
    Compare(experiment::CompareArgs),
    /// Combine the shards of one sweep into the files one machine would have written.
    Merge(experiment::MergeArgs),
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
            if e.use_stderr() {
                let _ = e.print();
                return code(exit::USAGE);
            }
            // `--help` and `--version` go to stdout, which may be a closed pipe.
            return print(&e.render().to_string()).map_or_else(|c| c, |()| ExitCode::SUCCESS);
        }
    };
    match cli.command {
        None => default_run(),
        Some(Command::Run { scenario, seed, until, sets, json, csv, max_population }) => {
            run(&scenario, RunArgs { seed, until, sets: &sets, json, csv: csv.as_deref(), max_population })
        }
        Some(Command::Check { scenarios }) => check(&scenarios),
        Some(Command::Params { scenario, node }) => params(&scenario, node.as_deref()),
        Some(Command::Bench { customers, rho, repeat }) => bench(customers, rho, repeat),
        Some(Command::Gui(args)) => gui(args),
        Some(Command::Sweep(args)) => experiment::sweep(args),
        Some(Command::Compare(args)) => experiment::compare(args),
        Some(Command::Merge(args)) => experiment::merge(args),
    }
}

fn scenario_error(e: &ScenarioError) -> ExitCode {
    say(&e.to_string());
    code(exit::INVALID)
}

#[cfg(feature = "gui")]
fn gui(a: GuiArgs) -> ExitCode {
    crate::gui::run(a)
}

#[cfg(not(feature = "gui"))]
fn gui(_: GuiArgs) -> ExitCode {
    say("sluice: this build has no desktop app (built without the `gui` feature); use `sluice run SCENARIO`");
    code(exit::NO_DISPLAY)
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
    say(&format!("sluice: running the default scenario `{name}` headless (see `sluice --help`)"));
    sim.run_to_end();
    if let Err(c) = print(&sim.report().table()) {
        return c;
    }
    stop_code(&sim).unwrap_or(ExitCode::SUCCESS)
}

/// The exit code of a run a limit stopped early, after saying why on stderr.
fn stop_code(sim: &Sim) -> Option<ExitCode> {
    let stop = sim.stopped()?;
    say(&format!("sluice: {stop}"));
    Some(code(match stop {
        Stop::PopulationCap { .. } => exit::POPULATION_CAP,
        Stop::TimeStopped { .. } => exit::TIME_STOPPED,
    }))
}

/// Options of `sluice run` besides the scenario.
struct RunArgs<'a> {
    seed: Option<u64>,
    until: Option<f64>,
    sets: &'a [String],
    json: bool,
    csv: Option<&'a Path>,
    max_population: Option<u64>,
}

fn run(path: &Path, a: RunArgs<'_>) -> ExitCode {
    // Flags first: a usage error should not wait for a scenario to load.
    let max = crate::engine::time::MAX_SECONDS;
    if let Some(t) = a.until
        && !(t.is_finite() && (0.0..=max).contains(&t))
    {
        let shown = if t.abs() < 1e15 { t.to_string() } else { format!("{t:e}") };
        say(&format!("sluice: --until {shown}: expected a number of seconds from 0 to {max:e} (the clock's range)"));
        return code(exit::USAGE);
    }
    if a.max_population == Some(0) {
        say("sluice: --max-population 0: expected a number of requests ≥ 1, e.g. --max-population 5000000");
        return code(exit::USAGE);
    }
    let mut sim = match Sim::from_file(path, a.seed) {
        Ok(sim) => sim,
        Err(e) => return scenario_error(&e),
    };
    if let Some(n) = a.max_population {
        sim.set_max_population(n);
    }
    for s in a.sets {
        let Some((p, v)) = s.split_once('=') else {
            say(&format!("sluice: --set {s}: expected PATH=VALUE, e.g. --set server.workers=4"));
            return code(exit::USAGE);
        };
        if let Err(e) = sim.set(p.trim(), v.trim()) {
            say(&format!("sluice: --set {s}: {e}"));
            return code(exit::INVALID);
        }
    }
    match a.until {
        Some(t) => sim.run_until(t),
        None => sim.run_to_end(),
    }
    let report = sim.report();
    if let Some(dir) = a.csv
        && let Err(e) = files::write_csv(&sim, dir)
    {
        say(&format!("sluice: cannot write CSV files to {}: {e}", dir.display()));
        return code(exit::OUTPUT);
    }
    let out = if a.json { report.to_json() + "\n" } else { report.table() };
    if let Err(c) = print(&out) {
        return c;
    }
    if let Some(c) = stop_code(&sim) {
        return c;
    }
    if report.errors.is_empty() { ExitCode::SUCCESS } else { code(exit::INVALID) }
}

/// Writes one CSV per node with its time series (see [`files::write_csv`]).
pub fn write_csv(sim: &Sim, dir: &Path) -> anyhow::Result<()> {
    files::write_csv(sim, dir)
}

fn check(paths: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for path in paths {
        match Sim::check_file(path) {
            Ok(title) => {
                if let Err(c) = print(&format!("{}: ok ({title})\n", path.display())) {
                    return c;
                }
            }
            Err(e) => {
                say(&e.to_string());
                failed = true;
            }
        }
    }
    if failed { code(exit::INVALID) } else { ExitCode::SUCCESS }
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
        say(&format!("sluice: no node named `{n}`; nodes are: {}", names.join(", ")));
        return code(exit::INVALID);
    }
    for name in names.iter().filter(|x| node.is_none_or(|n| n == x.as_str())) {
        for p in sim.params(name) {
            let line = format!(
                "{:<40} {:<12} {}  ({})\n",
                p.path,
                p.value.to_string(),
                p.help,
                crate::params::describe(&p.kind)
            );
            if let Err(c) = print(&line) {
                return c;
            }
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
        say("sluice bench: --rho must be > 0 and --customers > 0, e.g. --rho 0.9 --customers 200000");
        return code(exit::USAGE);
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
    let Some((wall, served, events, wait)) = best else { return code(exit::INVALID) };
    let line = format!(
        "sluice customers={served} mean_wait={wait:.4} events={events} wall={wall:.3}s rate={:.0}/s ev_rate={:.0}/s\n",
        served as f64 / wall,
        events as f64 / wall
    );
    print(&line).map_or_else(|c| c, |()| ExitCode::SUCCESS)
}
