//! Experiments: sweeps over parameters with replications and confidence intervals, stopping
//! on precision, warm-up removal, recovery verdicts, A/B comparisons on common random numbers,
//! charts, and sharding onto the batch schedulers users already have.
//!
//! The questions it answers: *does this design hold its SLO under a 3× spike across 30 seeds?*
//! (a sweep, or [`Experiment`] in a test), *which of two retry policies is better, and by how
//! much?* ([`compare`]: the paired difference on the same seeds), *for which trigger sizes does
//! this system stay down after the trigger ends?* (a two-parameter sweep of `stuck`, drawn as
//! a metastability map).
//!
//! * [`spec`] — the sweep file; [`sweep`] — cells, parallel runs, the precision rule, shards;
//!   [`run`] — one run and its metrics; [`output`] — the files, and merging shards;
//! * [`stats`] — replication statistics (Student-t intervals, paired differences);
//!   [`mser`] — MSER-5 warm-up truncation; [`recovery`] — recovery verdicts and regimes;
//!   [`chart`] — heatmaps and lines with CI bands (SVG and PNG).
//!
//! Determinism: a run's seed comes from (base seed, cell, replication) and nothing else, and
//! results are written in cell order, so thread counts and shards change how fast, never what.

pub mod chart;
pub mod mser;
pub mod output;
pub mod recovery;
pub mod run;
pub mod spec;
pub mod stats;
pub mod sweep;

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use crate::scenario::schema::Scenario;
pub use output::CellSummary;
use run::{RunRow, Setting, run_once, run_seed};
pub use spec::SweepSpec;
use stats::{Better, Summary, better, paired, summarize};
pub use sweep::{Options, Shard, Sweep};

/// A sweep to run from Rust: what `sluice sweep` does, with the results in memory.
///
/// ```no_run
/// # use sluice::experiment::Experiment;
/// let cells = Experiment::from_file("sweeps/latency-vs-load.ron").unwrap().threads(2).run().unwrap();
/// for cell in &cells {
///     let p99 = &cell.metrics["nodes.server.latency_s.p99"];
///     println!("{:?}: p99 {} ± {}", cell.parameters, p99.mean, p99.half_width);
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Experiment {
    pub sweep: Sweep,
    pub options: Options,
}

impl Experiment {
    /// Loads a sweep file (and its scenario).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, String> {
        Ok(Self { sweep: Sweep::load(path.as_ref())?, options: Options::default() })
    }

    /// A sweep of an in-memory scenario by an in-memory spec (its `scenario` path unused).
    pub fn new(scenario: Scenario, spec: SweepSpec) -> Result<Self, String> {
        Ok(Self { sweep: Sweep::new(spec, scenario, String::new())?, options: Options::default() })
    }

    /// Uses `n` threads (0: one per core).
    pub fn threads(mut self, n: usize) -> Self {
        self.options.threads = n;
        self
    }

    /// Runs the whole sweep and returns every cell's summary, in cell order.
    pub fn run(&self) -> Result<Vec<CellSummary>, String> {
        let mut out = Vec::new();
        self.sweep.run(&self.options, &mut |cell, setting, rows| {
            out.push(output::summarize_cell(&self.sweep.spec, cell, setting, rows));
            Ok(())
        })?;
        Ok(out)
    }

    /// Runs this machine's part of the sweep and writes its files into `dir`.
    pub fn write(&self, dir: &Path) -> Result<Vec<CellSummary>, String> {
        let mut writer = output::Writer::create(dir, &self.sweep, self.options.shard).map_err(|e| e.to_string())?;
        self.sweep.run(&self.options, &mut |cell, setting, rows| {
            writer.cell(cell, setting, rows).map_err(|e| e.to_string())
        })?;
        writer.finish().map_err(|e| e.to_string())
    }
}

/// One side of an A/B comparison: a scenario and the changes made to it at t = 0.
#[derive(Clone, Debug)]
pub struct Variant {
    pub name: String,
    pub scenario: Scenario,
    pub sets: Setting,
}

/// How two variants compare on one metric.
#[derive(Clone, Debug, Serialize)]
pub struct MetricComparison {
    pub metric: String,
    pub a: Summary,
    pub b: Summary,
    /// B − A, paired by seed.
    pub difference: Summary,
    pub higher_is_better: bool,
    pub better: Better,
}

/// An A/B comparison on common random numbers.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub seeds: Vec<u64>,
    pub level: f64,
    pub metrics: Vec<MetricComparison>,
}

/// Whether more of `metric` is better, as its name says: goodput, throughput, completions and
/// recoveries are; latency, waits, queues, failures of every kind, `stuck` — and utilization,
/// which can be busy work for callers who left — are not.
pub fn higher_is_better(metric: &str) -> bool {
    ["goodput", "throughput", "completed", "recovered", "ok"]
        .iter()
        .any(|w| metric.rsplit('.').next().is_some_and(|last| last.contains(w)) || metric.ends_with(w))
}

/// What to compare two variants on, and how.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// Report paths or `series.NODE.COLUMN`.
    pub metrics: Vec<String>,
    /// Seeds: both variants run on each.
    pub replications: u32,
    /// The seeds are derived from this.
    pub base_seed: u64,
    /// Confidence level of the intervals.
    pub level: f64,
    /// Metrics for which more is better, or less, whatever their names say
    /// ([`higher_is_better`]).
    pub higher: Vec<String>,
    pub lower: Vec<String>,
    /// Worker threads (0: one per core).
    pub threads: usize,
}

/// Runs `a` and `b` on the same seeds (common random numbers: the same arrivals, service times
/// and coin flips wherever the variants do not differ) and compares every metric by its paired
/// difference B − A, with a confidence interval.
pub fn compare(a: &Variant, b: &Variant, o: &CompareOptions) -> Result<Comparison, String> {
    let CompareOptions { metrics, replications, base_seed, level, ref higher, ref lower, threads } = o.clone();
    let metrics = &metrics[..];
    if replications < 2 {
        return Err("a comparison needs at least 2 replications for an interval".into());
    }
    let metric_list = metrics.iter().map(|m| run::Metric::parse(m)).collect::<Result<Vec<_>, _>>()?;
    let how = run::Recording { metrics: metric_list, ..run::Recording::default() };
    let seeds: Vec<u64> = (0..replications).map(|r| run_seed(base_seed, 0, r, true)).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| e.to_string())?;
    let side = |v: &Variant| -> Result<Vec<RunRow>, String> {
        pool.install(|| {
            seeds
                .par_iter()
                .enumerate()
                .map(|(rep, &seed)| {
                    let (warmup_s, metrics) =
                        run_once(&v.scenario, &v.sets, &how, seed).map_err(|e| format!("{}: {e}", v.name))?;
                    Ok(RunRow { cell: 0, rep: rep as u32, seed, warmup_s, metrics })
                })
                .collect()
        })
    };
    let (ra, rb) = (side(a)?, side(b)?);
    let metrics = metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let xa: Vec<f64> = ra.iter().map(|r| r.metrics[i]).collect();
            let xb: Vec<f64> = rb.iter().map(|r| r.metrics[i]).collect();
            let difference = paired(&xa, &xb, level).unwrap_or_else(|_| summarize(&[], level));
            let up = higher.contains(m) || (higher_is_better(m) && !lower.contains(m));
            MetricComparison {
                metric: m.clone(),
                a: summarize(&xa, level),
                b: summarize(&xb, level),
                better: better(&difference, up),
                higher_is_better: up,
                difference,
            }
        })
        .collect();
    Ok(Comparison { a: a.name.clone(), b: b.name.clone(), seeds, level, metrics })
}
