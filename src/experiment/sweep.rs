//! Running a sweep: the cells (the Cartesian product of the parameters' values), their
//! replications in parallel, the stopping rule on precision, and the shard this machine takes.
//!
//! Results never depend on how the work is split. Every run's seed comes from (base seed,
//! cell, replication); how many replications a cell gets depends on that cell's own values
//! only; and cells are handed to the writer in their order, whatever order the threads finish
//! them in. One thread, sixteen, or three machines each taking every third cell (`--shard`)
//! then `sluice merge` give the same files, byte for byte.

use std::io::IsTerminal as _;
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use super::run::{Recording, RunRow, Setting, cell_scenario, run_once, run_seed};
use super::spec::{LoadedSweep, SweepSpec};
use super::stats::summarize;
use crate::Sim;
use crate::scenario::schema::Scenario;

/// Where a sweep hands each finished cell: its number, settings and runs (in replication order).
pub type CellSink<'a> = dyn FnMut(usize, &Setting, &[RunRow]) -> Result<(), String> + 'a;

/// Which part of a sweep this machine runs: cells whose number is `index` modulo `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether cell `cell` is this shard's.
    pub fn takes(&self, cell: usize) -> bool {
        cell % self.count == self.index
    }
}

/// How to run a sweep.
#[derive(Clone, Debug)]
pub struct Options {
    /// Worker threads (0: one per core).
    pub threads: usize,
    pub shard: Shard,
    /// Draw a progress bar (only ever on a terminal).
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { threads: 0, shard: Shard::ALL, progress: false }
    }
}

/// A sweep ready to run: its spec, its base scenario and its cells.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub spec: SweepSpec,
    pub scenario: Scenario,
    /// The scenario file's text, fingerprinted into shard manifests.
    pub scenario_text: String,
    pub base_seed: u64,
    pub cells: Vec<Setting>,
    /// The metrics as read from the spec, with its warm-up and recovery settings.
    pub recording: Recording,
}

impl Sweep {
    /// Loads a sweep file and its scenario, and checks every parameter value against the
    /// model before anything runs.
    pub fn load(path: &Path) -> Result<Self, String> {
        let loaded = LoadedSweep::read(path).map_err(|e| e.to_string())?;
        let src = crate::scenario::Source::read(&loaded.scenario_path).map_err(|e| e.to_string())?;
        let scenario = crate::scenario::load(&src).map_err(|e| e.to_string())?;
        let mut sweep = Self::unchecked(loaded.spec, scenario, src.text);
        // Located in the sweep file, at the parameter or metric that does not fit the model.
        sweep.check().map_err(|(at, message)| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let (line, col) = crate::scenario::spans::SpanIndex::scan(&text).find(&at);
            format!("{}:{line}:{col}: {message}", loaded.file)
        })?;
        Ok(sweep)
    }

    /// A sweep of `scenario` (already checked) by `spec`.
    pub fn new(spec: SweepSpec, scenario: Scenario, scenario_text: String) -> Result<Self, String> {
        let mut sweep = Self::unchecked(spec, scenario, scenario_text);
        sweep.check().map_err(|(at, message)| format!("{at}: {message}"))?;
        Ok(sweep)
    }

    fn unchecked(spec: SweepSpec, scenario: Scenario, scenario_text: String) -> Self {
        let base_seed = spec.seed.unwrap_or(scenario.seed);
        let cells = cells(&spec);
        Self { spec, scenario, scenario_text, base_seed, cells, recording: Recording::default() }
    }

    /// Tries every parameter value on the model (without running it) and every metric's
    /// node, so a mistake is reported before hours of runs, not after. An error names the
    /// sweep file's path it is at (`parameters.2`, `metrics.0`).
    fn check(&mut self) -> Result<(), (String, String)> {
        for (i, p) in self.spec.parameters.iter().enumerate() {
            let at = format!("parameters.{i}");
            for value in p.value_texts() {
                let setting = vec![(p.path.clone(), value.clone())];
                let (scn, sets) = cell_scenario(&self.scenario, &self.spec, &setting)
                    .map_err(|e| (at.clone(), format!("`{}` = {value}: {e}", p.path)))?;
                let mut sim = Sim::from_scenario(scn, Some(self.base_seed))
                    .map_err(|e| (at.clone(), format!("`{}` = {value}: {e}", p.path)))?;
                for (path, v) in &sets {
                    sim.set(path, v).map_err(|e| (at.clone(), format!("`{path}` = {v}: {e}")))?;
                }
            }
        }
        let sim = Sim::from_scenario(self.scenario.clone(), Some(self.base_seed))
            .map_err(|e| ("scenario".to_string(), e.to_string()))?;
        let nodes = sim.node_names();
        self.recording = Recording::of(&self.spec).map_err(|(i, e)| (format!("metrics.{i}"), e))?;
        for (i, m) in self.recording.metrics.iter().enumerate() {
            if let Some(node) = m.node()
                && !nodes.iter().any(|n| n == node)
            {
                let text = &self.spec.metrics[i];
                let known = nodes.join(", ");
                return Err((
                    format!("metrics.{i}"),
                    format!("metric `{text}`: no node named `{node}`; nodes are {known}"),
                ));
            }
        }
        if let Some(r) = &self.spec.recovery
            && !nodes.contains(&r.node)
        {
            return Err((
                "recovery".into(),
                format!("recovery: no node named `{}`; nodes are {}", r.node, nodes.join(", ")),
            ));
        }
        Ok(())
    }

    /// Runs this machine's part of the sweep, handing each cell's runs to `done` in cell
    /// order. Returns the number of runs made.
    pub fn run(&self, options: &Options, done: &mut CellSink<'_>) -> Result<u64, String> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(options.threads).build().map_err(|e| e.to_string())?;
        let mine: Vec<usize> = (0..self.cells.len()).filter(|c| options.shard.takes(*c)).collect();
        let bar = progress(options.progress, mine.len() as u64 * u64::from(self.spec.replications));
        // Cells in chunks: each chunk runs in parallel and is written before the next starts,
        // so memory holds one chunk's rows however large the sweep.
        let chunk = pool.current_num_threads().max(1) * 4;
        let mut runs = 0;
        for cells in mine.chunks(chunk) {
            let finished: Vec<Result<Vec<RunRow>, String>> =
                pool.install(|| cells.par_iter().map(|&cell| self.run_cell(cell, &pool, &bar)).collect());
            for (&cell, rows) in cells.iter().zip(finished) {
                let rows = rows?;
                runs += rows.len() as u64;
                done(cell, &self.cells[cell], &rows)?;
            }
        }
        bar.finish_and_clear();
        Ok(runs)
    }

    /// All the replications of one cell: the first round, then (with `precision`) more rounds
    /// until every chosen metric's CI is tight enough or the cap is reached.
    fn run_cell(&self, cell: usize, pool: &rayon::ThreadPool, bar: &ProgressBar) -> Result<Vec<RunRow>, String> {
        let (scn, sets) = cell_scenario(&self.scenario, &self.spec, &self.cells[cell])?;
        let run = |rep: u32| -> Result<RunRow, String> {
            let seed = run_seed(self.base_seed, cell, rep, self.spec.common_seeds);
            let (warmup_s, metrics) =
                run_once(&scn, &sets, &self.recording, seed).map_err(|e| format!("cell {cell}: {e}"))?;
            bar.inc(1);
            Ok(RunRow { cell, rep, seed, warmup_s, metrics })
        };
        let mut rows: Vec<RunRow> = Vec::new();
        let mut target = self.spec.replications;
        loop {
            let from = rows.len() as u32;
            let more: Result<Vec<RunRow>, String> = pool.install(|| (from..target).into_par_iter().map(run).collect());
            rows.extend(more?);
            match next_round(&self.spec, &rows) {
                Some(n) if n > target => {
                    bar.inc_length(u64::from(n - target));
                    target = n;
                }
                _ => return Ok(rows),
            }
        }
    }
}

/// With `precision`: how many replications the cell needs in all, from its values so far
/// (None: precise enough, or at the cap). A metric with fewer than two values in the cell (a
/// recovery time where no seed recovered) has no interval and is not chased. The estimate scales the count by the square of how
/// far each half-width is from its target (the half-width shrinks as 1/√n), and never adds
/// fewer than one nor goes past the cap.
pub fn next_round(spec: &SweepSpec, rows: &[RunRow]) -> Option<u32> {
    let p = spec.precision.as_ref()?;
    let n = rows.len() as u32;
    if n >= p.max_replications {
        return None;
    }
    let mut needed = n;
    for (i, m) in spec.metrics.iter().enumerate() {
        if !p.metrics.is_empty() && !p.metrics.contains(m) {
            continue;
        }
        let values: Vec<f64> = rows.iter().map(|r| r.metrics[i]).filter(|x| x.is_finite()).collect();
        if values.len() < 2 {
            // No interval to tighten (`recovery_s` where every seed stayed down): more runs
            // of the same cell would not give it one.
            continue;
        }
        let s = summarize(&values, spec.level);
        let rel = s.relative_half_width();
        if rel <= p.relative {
            continue;
        }
        let scale = if rel.is_finite() { (rel / p.relative).powi(2) } else { 2.0 };
        let want = (f64::from(n) * scale).ceil().min(f64::from(p.max_replications));
        needed = needed.max((want as u32).max(n + 1));
    }
    (needed > n).then_some(needed.min(p.max_replications))
}

/// Every cell's settings, the first parameter varying slowest.
pub fn cells(spec: &SweepSpec) -> Vec<Setting> {
    let mut cells: Vec<Setting> = vec![Vec::new()];
    for p in &spec.parameters {
        let values = p.value_texts();
        cells = cells
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((p.path.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    cells
}

/// A progress bar with an ETA on a terminal; nothing elsewhere (a CI log, a pipe).
fn progress(wanted: bool, total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    if wanted && std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {per_sec}  eta {eta}") {
            bar.set_style(style);
        }
    }
    bar
}
