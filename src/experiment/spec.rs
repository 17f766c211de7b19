//! The sweep file: which scenario, which parameters over which values, how many replications,
//! which metrics, and what to draw.
//!
//! ```ron
//! Sweep(
//!     title: "Latency against load",
//!     scenario: "../scenarios/mmck.ron",      // relative to this file
//!     parameters: [
//!         Param(path: "clients.rate", range: (10.0, 10.0, 90.0), label: Some("offered load (req/s)")),
//!         Param(path: "server.queue.capacity", choices: ["none", "50"]),
//!     ],
//!     replications: 10,
//!     metrics: ["nodes.server.latency_s.p99", "series.server.queue_len"],
//!     charts: [Lines(x: "clients.rate", metrics: ["nodes.server.latency_s.p99"], log_y: true)],
//! )
//! ```
//!
//! Parameters are the registry's paths (`node.field.sub`, what `--set` takes, with its bounds),
//! applied at t = 0 as `sluice run --set` applies them, plus three forms for a timeline entry
//! (`timeline.N.at`, `timeline.N.for`, `timeline.N.value`: when the N-th entry happens, how long
//! it lasts, what it sets) and `duration`. Cells are the Cartesian product of the parameters'
//! values, the first parameter varying slowest; cell numbers follow that order from 0.
//!
//! Metrics are paths into a run's JSON report (`nodes.api.latency_s.p99`, `links.api->db.retries`),
//! a series mean after the warm-up (`series.api.queue_len`, `series.clients.goodput`), or the
//! recovery verdict (`recovered`, `stuck`, `recovery_s`, when `recovery` is set). Every run also
//! records the warm-up it used (`warmup_s`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::recovery::RecoverySpec;
use crate::scenario::spans::SpanIndex;
use crate::scenario::{Reporter, ScenarioError, Source};

/// A sweep file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Sweep")]
pub struct SweepSpec {
    /// What the sweep asks, for the charts' titles and the summary.
    #[serde(default)]
    pub title: String,
    /// The base scenario, a path relative to the sweep file.
    pub scenario: String,
    /// The base seed every run's seed is derived from (default: the scenario's).
    #[serde(default)]
    pub seed: Option<u64>,
    /// The swept parameters; none = one cell, the scenario as written.
    #[serde(default)]
    pub parameters: Vec<ParamSpec>,
    /// Replications per cell (with `precision`: the first round).
    #[serde(default = "ten")]
    pub replications: u32,
    /// What to record of each run.
    pub metrics: Vec<String>,
    /// Confidence level of the summary's intervals (default 0.95).
    #[serde(default = "ninety_five")]
    pub level: f64,
    /// Add replications until every metric's CI is this tight (JMT's stopping rule).
    #[serde(default)]
    pub precision: Option<Precision>,
    /// Where each run's steady state starts, for the series metrics.
    #[serde(default)]
    pub warmup: Warmup,
    /// Judge each run's recovery from its trigger (metrics `recovered`, `stuck`, `recovery_s`).
    #[serde(default)]
    pub recovery: Option<RecoverySetup>,
    /// Use the same seeds in every cell (common random numbers across cells: smoother maps and
    /// sharper differences between neighbouring cells; default: a seed per cell and replication).
    #[serde(default)]
    pub common_seeds: bool,
    /// Charts written beside the results.
    #[serde(default)]
    pub charts: Vec<ChartSpec>,
    /// Labels with units for metrics in charts and tables (`"nodes.api.latency_s.p99": "p99 (s)"`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn ten() -> u32 {
    10
}
fn ninety_five() -> f64 {
    0.95
}

/// One swept parameter and its values: a list of numbers, a list of choices, or a range.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Param")]
pub struct ParamSpec {
    /// A registry path (`clients.rate`), `timeline.N.at|for|value`, or `duration`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<f64>,
    /// Values written as text (`"fifo"`, `"none"`, `"true"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// (first, step, last), last included when the steps land on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(f64, f64, f64)>,
    /// The axis label, with its unit (default: the path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// The most values one parameter may take, and the most cells a sweep may have.
pub const MAX_VALUES: usize = 10_000;
pub const MAX_CELLS: usize = 1_000_000;

impl ParamSpec {
    /// The values as the registry reads them (numbers in their shortest exact form).
    pub fn value_texts(&self) -> Vec<String> {
        if !self.choices.is_empty() {
            return self.choices.clone();
        }
        if let Some((first, step, last)) = self.range {
            let n = ((last - first) / step + 1e-9).floor();
            if !(n.is_finite() && n >= 0.0 && (n as usize) < MAX_VALUES) {
                return Vec::new();
            }
            // Computed as first + i·step and rounded to 12 significant digits, so 0.1 steps read
            // 0.3 and not 0.30000000000000004.
            return (0..=n as usize).map(|i| number(round12(first + i as f64 * step))).collect();
        }
        self.values.iter().map(|v| number(*v)).collect()
    }

    /// The axis label.
    pub fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.path.clone())
    }
}

/// A number in its shortest form that reads back exactly (`4`, `0.3`, `1e-7`).
pub fn number(x: f64) -> String {
    format!("{x}")
}

fn round12(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// The stopping rule on precision.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Precision")]
pub struct Precision {
    /// Target relative half-width of every metric's CI (0.02 = ±2 % of the mean).
    pub relative: f64,
    /// Replications per cell at most (default 200).
    #[serde(default = "two_hundred")]
    pub max_replications: u32,
    /// The metrics it applies to (default: all).
    #[serde(default)]
    pub metrics: Vec<String>,
}

fn two_hundred() -> u32 {
    200
}

/// Where a run's steady state starts, for its series metrics. Report metrics always count
/// after the scenario's `warmup`, which `Fixed` sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Warmup {
    /// The scenario's own `warmup`.
    #[default]
    Scenario,
    /// This many seconds (written into the scenario's `warmup`, so report metrics follow it).
    Fixed(f64),
    /// MSER-5 on this series metric (`series.api.queue_len`), run by run.
    Mser5(String),
}

/// Recovery from a trigger, judged per run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Recovery")]
pub struct RecoverySetup {
    /// The node whose goodput and latency must come back (usually the source).
    pub node: String,
    /// The timeline entry that is the trigger (default: the first with a duration).
    #[serde(default)]
    pub trigger: Option<usize>,
    /// How close to the pre-trigger level counts as back (default 0.1: within 10 %).
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// The window the level is judged over, seconds (default 10).
    #[serde(default)]
    pub window: Option<f64>,
    /// How long it must stay back to count, seconds (default: the window).
    #[serde(default)]
    pub hold: Option<f64>,
}

impl RecoverySetup {
    /// The judge's settings: these, or its defaults.
    pub fn judge(&self) -> RecoverySpec {
        let d = RecoverySpec::default();
        RecoverySpec {
            tolerance: self.tolerance.unwrap_or(d.tolerance),
            window: self.window.unwrap_or(d.window),
            hold: self.hold,
            ..d
        }
    }
}

/// A chart of the summary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ChartSpec {
    /// A heatmap over two parameters of one metric's mean: the metastability map with
    /// `metric: "stuck"` (the fraction of seeds that stayed down).
    Map {
        x: String,
        y: String,
        metric: String,
        #[serde(default)]
        title: Option<String>,
        #[serde(default)]
        name: Option<String>,
    },
    /// Metrics against one parameter, a line per value of the other parameters, with CI bands.
    Lines {
        x: String,
        metrics: Vec<String>,
        #[serde(default)]
        log_y: bool,
        #[serde(default)]
        title: Option<String>,
        #[serde(default)]
        y_label: Option<String>,
        #[serde(default)]
        name: Option<String>,
    },
}

impl ChartSpec {
    /// The file stem the chart is written to (`map-stuck`, `lines-…`, or its `name`).
    pub fn file_stem(&self, index: usize) -> String {
        let (name, kind) = match self {
            ChartSpec::Map { name, .. } => (name, "map"),
            ChartSpec::Lines { name, .. } => (name, "lines"),
        };
        let raw = name.clone().unwrap_or_else(|| format!("{kind}-{index}"));
        crate::scenario::rules::safe_name(&raw)
    }
}

/// A sweep file read and checked, with its scenario's path resolved.
#[derive(Clone, Debug)]
pub struct LoadedSweep {
    pub spec: SweepSpec,
    /// The sweep file's name, for messages.
    pub file: String,
    pub scenario_path: PathBuf,
}

impl LoadedSweep {
    /// Reads and checks a sweep file: syntax, then every rule that needs no run, each error
    /// located in the file.
    pub fn read(path: &Path) -> Result<Self, ScenarioError> {
        let src = Source::read(path)?;
        let spec = parse(&src)?;
        check(&spec, &src)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Ok(Self { scenario_path: base.join(&spec.scenario), spec, file: src.name })
    }
}

/// Parses a sweep file's text (syntax and field names only).
pub fn parse(src: &Source) -> Result<SweepSpec, ScenarioError> {
    crate::scenario::parse_as(src)
}

/// The rules a sweep file must follow that serde cannot say.
fn check(spec: &SweepSpec, src: &Source) -> Result<(), ScenarioError> {
    let spans = SpanIndex::scan(&src.text);
    let mut r = Reporter::new(&src.name, &spans);
    if spec.metrics.is_empty() {
        r.at("metrics", "a sweep needs metrics: e.g. `metrics: [\"nodes.api.latency_s.p99\"]`");
    }
    if spec.replications == 0 || spec.replications > 100_000 {
        r.at("replications", "`replications` must be 1 to 100000; write e.g. `replications: 10`");
    }
    if !(spec.level > 0.0 && spec.level < 1.0) {
        r.at("level", format!("`level` is a confidence level between 0 and 1, got {}; write e.g. 0.95", spec.level));
    }
    if let Some(p) = &spec.precision {
        if !(p.relative > 0.0 && p.relative < 10.0) {
            r.at("precision.relative", "`relative` is a fraction of the mean above 0: write 0.02 for ±2 %");
        }
        if p.max_replications < spec.replications.max(2) {
            r.at("precision.max_replications", "`max_replications` must be at least `replications` (and 2)");
        }
        for m in &p.metrics {
            if !spec.metrics.contains(m) {
                r.at("precision.metrics", format!("`{m}` is not one of the sweep's `metrics`"));
            }
        }
    }
    if let Warmup::Fixed(s) = spec.warmup
        && !(s.is_finite() && s >= 0.0)
    {
        r.at("warmup", "a fixed warm-up is a number of seconds ≥ 0: write e.g. `warmup: Fixed(60.0)`");
    }
    if let Warmup::Mser5(m) = &spec.warmup
        && !m.starts_with("series.")
    {
        r.at("warmup", "MSER-5 reads a series metric: write e.g. `warmup: Mser5(\"series.api.queue_len\")`");
    }
    let mut cells: usize = 1;
    for (i, p) in spec.parameters.iter().enumerate() {
        let at = format!("parameters.{i}");
        let forms =
            usize::from(!p.values.is_empty()) + usize::from(!p.choices.is_empty()) + usize::from(p.range.is_some());
        if forms != 1 {
            r.at(
                &at,
                "give each parameter exactly one of `values: [...]`, `choices: [...]` or `range: (first, step, last)`",
            );
            continue;
        }
        if let Some((first, step, last)) = p.range
            && !(first.is_finite() && last.is_finite() && step.is_finite() && step > 0.0 && last >= first)
        {
            r.at(
                &format!("{at}.range"),
                "a range is (first, step, last) with step > 0 and last ≥ first: e.g. (0.1, 0.1, 0.9)",
            );
            continue;
        }
        if p.values.iter().any(|v| !v.is_finite()) {
            r.at(&format!("{at}.values"), "values must be finite numbers");
        }
        let n = p.value_texts().len();
        if n == 0 || n > MAX_VALUES {
            r.at(&at, format!("a parameter takes 1 to {MAX_VALUES} values, this one {n}"));
            continue;
        }
        if spec.parameters[..i].iter().any(|o| o.path == p.path) {
            r.at(&format!("{at}.path"), format!("`{}` is swept twice; list its values once", p.path));
        }
        cells = cells.saturating_mul(n);
    }
    if cells > MAX_CELLS {
        r.at("parameters", format!("the parameters make {cells} cells, more than {MAX_CELLS}; sweep fewer values"));
    }
    for (i, chart) in spec.charts.iter().enumerate() {
        let swept = |p: &str| spec.parameters.iter().any(|q| q.path == p);
        let recorded = |m: &str| spec.metrics.iter().any(|q| q == m);
        let at = format!("charts.{i}");
        match chart {
            ChartSpec::Map { x, y, metric, .. } => {
                for axis in [x, y] {
                    if !swept(axis) {
                        r.at(&at, format!("the map's axis `{axis}` is not a swept parameter"));
                    }
                }
                if !recorded(metric) {
                    r.at(&at, format!("the map's metric `{metric}` is not one of the sweep's `metrics`"));
                }
            }
            ChartSpec::Lines { x, metrics, .. } => {
                if !swept(x) {
                    r.at(&at, format!("the chart's x `{x}` is not a swept parameter"));
                }
                for m in metrics.iter().filter(|m| !recorded(m)) {
                    r.at(&at, format!("the chart's metric `{m}` is not one of the sweep's `metrics`"));
                }
            }
        }
    }
    let needs_recovery = spec.metrics.iter().any(|m| matches!(m.as_str(), "recovered" | "stuck" | "recovery_s"));
    if needs_recovery && spec.recovery.is_none() {
        r.at("metrics", "`recovered`, `stuck` and `recovery_s` need `recovery: Recovery(node: \"clients\")`");
    }
    r.finish()
}
