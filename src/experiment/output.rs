//! A sweep's files, and merging the shards of one.
//!
//! In the folder the user names (and nowhere else):
//!
//! * `runs.csv` — tidy, one row per run: `cell, replication, seed`, the cell's parameter
//!   values, `warmup_s`, then one column per metric;
//! * `summary.csv` — one row per cell: its parameter values, `replications`, (with a precision
//!   target) `precision_reached`, then per metric `METRIC:mean`, `METRIC:sd`,
//!   `METRIC:half_width` (of the confidence interval at the sweep's level) and `METRIC:n` (the
//!   runs where it had a value);
//! * `summary.json` — the same with the sweep's title, parameters and level;
//! * one SVG and one PNG per chart.
//!
//! A shard (`--shard I/N`) writes only its `runs.csv` and a `shard.json` manifest; `sluice
//! merge` reads the shards' folders and writes exactly the files one machine would have written,
//! because both go through [`Writer`] with the same rows in the same order: numbers are written
//! in their shortest form that reads back to the same bits, so a merged row is the row.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::chart;
use super::run::{RunRow, Setting};
use super::spec::{ChartSpec, SweepSpec, number};
use super::stats::{Summary, summarize};
use super::sweep::{Shard, Sweep, cells};

/// One cell's summary.
#[derive(Clone, Debug, Serialize)]
pub struct CellSummary {
    pub cell: usize,
    pub parameters: BTreeMap<String, String>,
    pub replications: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision_reached: Option<bool>,
    pub metrics: BTreeMap<String, Summary>,
}

/// A cell's summary from its runs: each metric over the runs where it had a value, and
/// whether the precision target (if any) was reached.
pub fn summarize_cell(spec: &SweepSpec, cell: usize, setting: &Setting, rows: &[RunRow]) -> CellSummary {
    let metrics: BTreeMap<String, Summary> = spec
        .metrics
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let values: Vec<f64> = rows.iter().map(|r| r.metrics[i]).filter(|x| x.is_finite()).collect();
            (m.clone(), summarize(&values, spec.level))
        })
        .collect();
    let reached = spec.precision.as_ref().map(|p| {
        metrics
            .iter()
            .filter(|(m, _)| p.metrics.is_empty() || p.metrics.contains(m))
            .all(|(_, s)| s.n < 2 || s.relative_half_width() <= p.relative)
    });
    CellSummary {
        cell,
        parameters: setting.iter().cloned().collect(),
        replications: rows.len(),
        precision_reached: reached,
        metrics,
    }
}

/// `summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct SummaryFile<'a> {
    pub title: &'a str,
    pub scenario: &'a str,
    pub base_seed: u64,
    pub level: f64,
    pub parameters: Vec<&'a str>,
    pub metrics: &'a [String],
    pub cells: &'a [CellSummary],
}

/// A shard's `shard.json`: what `sluice merge` checks the shards against each other with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The sweep file as it was run (RON).
    pub sweep: String,
    /// The base scenario's title and a hash of its text: shards of one sweep agree on both.
    pub scenario_title: String,
    pub scenario_hash: String,
    pub base_seed: u64,
    pub shard: usize,
    pub of: usize,
    pub cells: usize,
}

/// Writes a sweep's files as its cells arrive, in cell order.
pub struct Writer {
    dir: PathBuf,
    spec: SweepSpec,
    scenario_title: String,
    base_seed: u64,
    runs: csv::Writer<File>,
    summary: Option<csv::Writer<File>>,
    cells: Vec<CellSummary>,
}

impl Writer {
    /// Creates `dir` and the files a run of `sweep` by `shard` writes.
    pub fn create(dir: &Path, sweep: &Sweep, shard: Shard) -> anyhow::Result<Self> {
        let whole = shard.count == 1;
        let w = Self::open(dir, &sweep.spec, &sweep.scenario.title, sweep.base_seed, whole)?;
        if !whole {
            let manifest = Manifest {
                sweep: ron_text(&sweep.spec),
                scenario_title: sweep.scenario.title.clone(),
                scenario_hash: fingerprint(&sweep.scenario_text),
                base_seed: sweep.base_seed,
                shard: shard.index,
                of: shard.count,
                cells: sweep.cells.len(),
            };
            std::fs::write(dir.join("shard.json"), serde_json::to_string_pretty(&manifest)? + "\n")?;
        }
        Ok(w)
    }

    fn open(dir: &Path, spec: &SweepSpec, title: &str, base_seed: u64, summary: bool) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        // A folder reused for another run must not keep this kind of run's old files (a shard
        // written where a whole sweep was would otherwise sit beside its stale summary). Only
        // the names a sweep writes are removed.
        let mut ours = vec!["runs.csv".to_string(), "summary.csv".into(), "summary.json".into(), "shard.json".into()];
        for (i, c) in spec.charts.iter().enumerate() {
            ours.extend(["svg", "png"].map(|ext| format!("{}.{ext}", c.file_stem(i))));
        }
        for name in ours {
            match std::fs::remove_file(dir.join(&name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    anyhow::bail!("cannot replace {}: {e}", dir.join(&name).display())
                }
                _ => {}
            }
        }
        let params: Vec<String> = spec.parameters.iter().map(|p| p.path.clone()).collect();
        let mut runs = csv::Writer::from_path(dir.join("runs.csv"))?;
        let mut header = vec!["cell".to_string(), "replication".into(), "seed".into()];
        header.extend(params.iter().cloned());
        header.push("warmup_s".into());
        header.extend(spec.metrics.iter().cloned());
        runs.write_record(&header)?;
        let summary = if summary {
            let mut s = csv::Writer::from_path(dir.join("summary.csv"))?;
            let mut header = vec!["cell".to_string()];
            header.extend(params);
            header.push("replications".into());
            if spec.precision.is_some() {
                header.push("precision_reached".into());
            }
            for m in &spec.metrics {
                for part in ["mean", "sd", "half_width", "n"] {
                    header.push(format!("{m}:{part}"));
                }
            }
            s.write_record(&header)?;
            Some(s)
        } else {
            None
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            spec: spec.clone(),
            scenario_title: title.to_string(),
            base_seed,
            runs,
            summary,
            cells: Vec::new(),
        })
    }

    /// One cell's runs (in replication order).
    pub fn cell(&mut self, cell: usize, setting: &Setting, rows: &[RunRow]) -> anyhow::Result<()> {
        for r in rows {
            let mut record = vec![r.cell.to_string(), r.rep.to_string(), r.seed.to_string()];
            record.extend(setting.iter().map(|(_, v)| v.clone()));
            record.push(number(r.warmup_s));
            record.extend(r.metrics.iter().map(|x| number(*x)));
            self.runs.write_record(&record)?;
        }
        let Some(summary) = self.summary.as_mut() else { return Ok(()) };
        let c = summarize_cell(&self.spec, cell, setting, rows);
        let mut record = vec![cell.to_string()];
        record.extend(setting.iter().map(|(_, v)| v.clone()));
        record.push(rows.len().to_string());
        if let Some(r) = c.precision_reached {
            record.push(r.to_string());
        }
        for m in &self.spec.metrics {
            let s = &c.metrics[m];
            record.extend([number(s.mean), number(s.sd), number(s.half_width), s.n.to_string()]);
        }
        summary.write_record(&record)?;
        self.cells.push(c);
        Ok(())
    }

    /// Writes what needs every cell (`summary.json`, the charts) and flushes. Returns the
    /// cells' summaries (empty for a shard).
    pub fn finish(mut self) -> anyhow::Result<Vec<CellSummary>> {
        self.runs.flush()?;
        let Some(mut summary) = self.summary.take() else { return Ok(Vec::new()) };
        summary.flush()?;
        let file = SummaryFile {
            title: &self.spec.title,
            scenario: &self.scenario_title,
            base_seed: self.base_seed,
            level: self.spec.level,
            parameters: self.spec.parameters.iter().map(|p| p.path.as_str()).collect(),
            metrics: &self.spec.metrics,
            cells: &self.cells,
        };
        std::fs::write(self.dir.join("summary.json"), serde_json::to_string_pretty(&file)? + "\n")?;
        for (i, c) in self.spec.charts.iter().enumerate() {
            draw(&self.dir.join(c.file_stem(i)), c, &self.spec, &self.cells)?;
        }
        Ok(self.cells)
    }
}

/// The sweep spec as RON text (what a shard records it was run with).
fn ron_text(spec: &SweepSpec) -> String {
    crate::scenario::ron_options()
        .to_string_pretty(spec, ron::ser::PrettyConfig::default().struct_names(true))
        .unwrap_or_default()
}

/// A stable hash of a text (the engine's FNV-1a through its stream hash), as hex.
fn fingerprint(text: &str) -> String {
    format!("{:016x}", crate::engine::rng::stream_seed(0, text, "fingerprint"))
}

/// Combines the folders of every shard of one sweep into `out`, as one machine would have
/// written it. Checks that the shards are of the same sweep and scenario, all present, once.
pub fn merge(out: &Path, shards: &[PathBuf]) -> anyhow::Result<Vec<CellSummary>> {
    anyhow::ensure!(!shards.is_empty(), "name the shards' folders to merge");
    let mut manifests = Vec::new();
    for dir in shards {
        let path = dir.join("shard.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!("{}: {e}; a shard's folder holds the shard.json its run wrote", path.display())
        })?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        manifests.push(m);
    }
    let first = &manifests[0];
    for (dir, m) in shards.iter().zip(&manifests) {
        let same = m.sweep == first.sweep
            && m.scenario_hash == first.scenario_hash
            && m.base_seed == first.base_seed
            && m.of == first.of
            && m.cells == first.cells;
        anyhow::ensure!(same, "{}: not a shard of the same sweep as {}", dir.display(), shards[0].display());
    }
    let n = first.of;
    let mut seen = vec![None; n];
    for (dir, m) in shards.iter().zip(&manifests) {
        anyhow::ensure!(m.shard < n, "{}: shard {} of {n}?", dir.display(), m.shard);
        if let Some(other) = seen[m.shard].replace(dir) {
            anyhow::bail!("shard {}/{n} is given twice: {} and {}", m.shard, other.display(), dir.display());
        }
    }
    if let Some(missing) = seen.iter().position(Option::is_none) {
        anyhow::bail!("shard {missing}/{n} is missing: merge needs all {n} shards' folders");
    }
    let spec: SweepSpec = crate::scenario::ron_options().from_str(&first.sweep)?;
    let settings = cells(&spec);
    anyhow::ensure!(settings.len() == first.cells, "the sweep's cells do not match the manifest");
    // One reader per shard, by shard number; each holds its cells in order, so cell c is the
    // next one in shard c mod n.
    let mut readers: Vec<csv::Reader<File>> = Vec::with_capacity(n);
    for dir in seen.iter().flatten() {
        readers.push(csv::Reader::from_path(dir.join("runs.csv"))?);
    }
    let mut pending: Vec<Option<csv::StringRecord>> = vec![None; n];
    let mut writer = Writer::open(out, &spec, &first.scenario_title, first.base_seed, true)?;
    let params = spec.parameters.len();
    for (cell, setting) in settings.iter().enumerate() {
        let shard = cell % n;
        let mut rows = Vec::new();
        loop {
            let record = match pending[shard].take() {
                Some(r) => r,
                None => match readers[shard].records().next() {
                    Some(r) => r?,
                    None => break,
                },
            };
            let row = parse_row(&record, params, spec.metrics.len())?;
            if row.cell != cell {
                pending[shard] = Some(record);
                break;
            }
            rows.push(row);
        }
        anyhow::ensure!(!rows.is_empty(), "cell {cell} has no runs in shard {shard}'s runs.csv");
        writer.cell(cell, setting, &rows)?;
    }
    writer.finish()
}

/// A `runs.csv` row back into a run.
fn parse_row(r: &csv::StringRecord, params: usize, metrics: usize) -> anyhow::Result<RunRow> {
    let field = |i: usize| r.get(i).ok_or_else(|| anyhow::anyhow!("a runs.csv row is short: {r:?}"));
    let float = |i: usize| -> anyhow::Result<f64> { Ok(field(i)?.parse()?) };
    let metrics = (0..metrics).map(|j| float(4 + params + j)).collect::<anyhow::Result<Vec<f64>>>()?;
    Ok(RunRow {
        cell: field(0)?.parse()?,
        rep: field(1)?.parse()?,
        seed: field(2)?.parse()?,
        warmup_s: float(3 + params)?,
        metrics,
    })
}

/// A point of a line: (the x value's position among the swept values, x, mean, half-width).
type LinePoint = (usize, f64, f64, f64);

/// Draws one chart of the summary.
fn draw(stem: &Path, c: &ChartSpec, spec: &SweepSpec, cells: &[CellSummary]) -> anyhow::Result<()> {
    let label = |m: &str| spec.labels.get(m).cloned().unwrap_or_else(|| m.to_string());
    let param = |path: &str| spec.parameters.iter().find(|p| p.path == path);
    let axis = |path: &str| -> (Vec<String>, Vec<f64>, String) {
        let p = param(path);
        let texts = p.map(|p| p.value_texts()).unwrap_or_default();
        let nums = texts.iter().enumerate().map(|(i, t)| t.parse().unwrap_or(i as f64)).collect();
        (texts, nums, p.map_or(path.to_string(), |p| p.label()))
    };
    // The value other parameters are held at: their first.
    let others_first = |cell: &CellSummary, free: &[&str]| {
        spec.parameters
            .iter()
            .filter(|p| !free.contains(&p.path.as_str()))
            .all(|p| cell.parameters.get(&p.path) == p.value_texts().first())
    };
    match c {
        ChartSpec::Map { x, y, metric, title, .. } => {
            let (xt, xs, x_label) = axis(x);
            let (yt, ys, y_label) = axis(y);
            let mut values = vec![vec![None; xs.len()]; ys.len()];
            for cell in cells.iter().filter(|c| others_first(c, &[x, y])) {
                let (Some(i), Some(j)) = (
                    yt.iter().position(|v| cell.parameters.get(y) == Some(v)),
                    xt.iter().position(|v| cell.parameters.get(x) == Some(v)),
                ) else {
                    continue;
                };
                values[i][j] = cell.metrics.get(metric).map(|s| s.mean).filter(|m| m.is_finite());
            }
            let fraction = matches!(metric.as_str(), "stuck" | "recovered");
            let h = chart::Heatmap {
                title: title.clone().unwrap_or_else(|| format!("{}: {}", spec.title, label(metric))),
                x_label,
                y_label,
                value_label: if metric == "stuck" { "fraction of seeds stuck".into() } else { label(metric) },
                xs,
                ys,
                values,
                range: fraction.then_some((0.0, 1.0)),
                annotate: true,
            };
            chart::heatmap(stem, &h)?;
        }
        ChartSpec::Lines { x, metrics, log_y, title, y_label, .. } => {
            let (xt, xs, x_label) = axis(x);
            let mut series = Vec::new();
            for m in metrics {
                // A line per combination of the other parameters' values, its points in the
                // order of x's values.
                let mut by: BTreeMap<Vec<(&String, &String)>, Vec<LinePoint>> = BTreeMap::new();
                for cell in cells {
                    let (Some(j), Some(s)) =
                        (xt.iter().position(|v| cell.parameters.get(x) == Some(v)), cell.metrics.get(m))
                    else {
                        continue;
                    };
                    // Parameters held at one value name no line.
                    let varied = |p: &String| param(p).is_some_and(|q| q.value_texts().len() > 1);
                    let key = cell.parameters.iter().filter(|(p, _)| *p != x && varied(p)).collect();
                    by.entry(key).or_default().push((j, xs[j], s.mean, s.half_width));
                }
                for (key, mut points) in by {
                    points.sort_by_key(|p| p.0);
                    let mut name = label(m);
                    if !key.is_empty() {
                        let parts: Vec<String> = key.iter().map(|(p, v)| format!("{p} = {v}")).collect();
                        name = format!("{name}, {}", parts.join(", "));
                    }
                    series
                        .push(chart::Line { name, points: points.into_iter().map(|(_, x, y, h)| (x, y, h)).collect() });
                }
            }
            let chart = chart::LineChart {
                title: title.clone().unwrap_or_else(|| spec.title.clone()),
                x_label,
                y_label: y_label
                    .clone()
                    .unwrap_or_else(|| metrics.iter().map(|m| label(m)).collect::<Vec<_>>().join(", ")),
                log_y: *log_y,
                series,
            };
            chart::lines(stem, &chart)?;
        }
    }
    Ok(())
}
