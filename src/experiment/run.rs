//! One run of a sweep: the scenario with a cell's values, on a seed derived from (base seed,
//! cell, replication), reduced to the metrics the sweep records.
//!
//! A run is exactly what `sluice run SCENARIO --seed S --set PATH=VALUE…` does (timeline
//! parameters aside, which rewrite the entry before the run), so any row of a sweep's results
//! can be replayed and watched on its own.

use serde_json::Value as Json;

use super::mser;
use super::recovery::{self, Sample, Trigger};
use super::spec::{RecoverySetup, SweepSpec, Warmup};
use crate::Sim;
use crate::engine::rng::stream_seed;
use crate::engine::time::nanos_to_secs;
use crate::metrics::series::Point;
use crate::scenario::parse_timeline_entry;
use crate::scenario::schema::Scenario;

/// The seed of replication `rep` of cell `cell`: a stable hash of the base seed and the two
/// numbers (the engine's stream hash), never of a thread or a shard. With `common` every cell
/// shares replication `rep`'s seed (common random numbers across cells).
pub fn run_seed(base: u64, cell: usize, rep: u32, common: bool) -> u64 {
    let cell = if common { "*".to_string() } else { cell.to_string() };
    stream_seed(base, "sweep", &format!("{cell}/{rep}"))
}

/// What one run recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    pub cell: usize,
    pub rep: u32,
    pub seed: u64,
    /// Where the series metrics started (the scenario's warm-up, a fixed one, or MSER-5's).
    pub warmup_s: f64,
    /// The sweep's metrics, in its order; NaN where the run has no such value.
    pub metrics: Vec<f64>,
}

/// A cell's parameter settings: (path, value as text), in the sweep's parameter order.
pub type Setting = Vec<(String, String)>;

/// Builds the scenario of one cell: timeline parameters and `duration` rewrite the scenario,
/// registry parameters are returned to be set at t = 0.
pub fn cell_scenario(base: &Scenario, spec: &SweepSpec, setting: &Setting) -> Result<(Scenario, Setting), String> {
    let mut scn = base.clone();
    if let Warmup::Fixed(s) = spec.warmup {
        scn.warmup = s;
    }
    let mut sets = Vec::new();
    for (path, value) in setting {
        if path == "duration" {
            scn.duration = value.parse().map_err(|_| format!("`duration` takes seconds, got `{value}`"))?;
        } else if let Some(rest) = path.strip_prefix("timeline.") {
            rewrite_timeline(&mut scn, rest, value)?;
        } else {
            sets.push((path.clone(), value.clone()));
        }
    }
    Ok((scn, sets))
}

/// Sets `N.at`, `N.for` or `N.value` of the scenario's N-th timeline entry.
fn rewrite_timeline(scn: &mut Scenario, rest: &str, value: &str) -> Result<(), String> {
    let (index, field) = rest.split_once('.').ok_or("write `timeline.N.at`, `timeline.N.for` or `timeline.N.value`")?;
    let n = scn.timeline.len();
    let entry = index
        .parse::<usize>()
        .ok()
        .and_then(|i| scn.timeline.get_mut(i))
        .ok_or_else(|| format!("the scenario has {n} timeline entries; `timeline.{index}` is not one"))?;
    let e = parse_timeline_entry(entry)?;
    let secs = |what: &str| -> Result<f64, String> {
        value
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or(format!("`{what}` takes seconds, got `{value}`"))
    };
    let (mut at, mut duration, mut set) = (nanos_to_secs(e.at), e.duration.map(nanos_to_secs), e.value.to_string());
    match field {
        "at" => at = secs("at")?,
        "for" => duration = Some(secs("for")?).filter(|d| *d > 0.0),
        "value" => set = value.to_string(),
        other => return Err(format!("`timeline.{index}.{other}`: a timeline entry has `at`, `for` and `value`")),
    }
    let lasting = duration.map(|d| format!("for {d} ")).unwrap_or_default();
    *entry = format!("at {at} {lasting}set {} = {set}", e.path);
    Ok(())
}

/// A metric a run records, read once from its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Metric {
    /// A number in the run's JSON report at a dotted path (`nodes.api.latency_s.p99`).
    Report(String),
    /// A series column's mean after the warm-up (`series.api.queue_len`).
    Series {
        node: String,
        column: String,
    },
    /// The recovery verdict: came back, did not, and how long it took.
    Recovered,
    Stuck,
    RecoveryS,
}

impl Metric {
    /// Reads a metric's text; the error says what may be written.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.split('.').collect::<Vec<_>>().as_slice() {
            ["recovered"] => Ok(Metric::Recovered),
            ["stuck"] => Ok(Metric::Stuck),
            ["recovery_s"] => Ok(Metric::RecoveryS),
            ["series", node, column] => {
                if column_reader(column).is_none() {
                    let columns: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
                    return Err(format!("metric `{text}`: a series metric names a column: {}", columns.join(", ")));
                }
                Ok(Metric::Series { node: node.to_string(), column: column.to_string() })
            }
            ["nodes", _, _, ..] => Ok(Metric::Report(text.to_string())),
            [top, ..] if ["links", "amplification", "sim_time_s", "events"].contains(top) => {
                Ok(Metric::Report(text.to_string()))
            }
            _ => Err(format!(
                "metric `{text}`: write a report path (`nodes.NODE.…`, `links.FROM->TO.…`), \
                 `series.NODE.COLUMN`, or `recovered`, `stuck`, `recovery_s`"
            )),
        }
    }

    /// The node it reads, when it names one (to check it exists before anything runs).
    pub fn node(&self) -> Option<&str> {
        match self {
            Metric::Series { node, .. } => Some(node),
            Metric::Report(path) => path.strip_prefix("nodes.").and_then(|rest| rest.split('.').next()),
            _ => None,
        }
    }
}

/// What every run of a sweep or a comparison records, and how.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    pub metrics: Vec<Metric>,
    pub warmup: Warmup,
    pub recovery: Option<RecoverySetup>,
}

impl Recording {
    /// A sweep's recording; the error gives the index of the metric that cannot be read.
    pub fn of(spec: &SweepSpec) -> Result<Self, (usize, String)> {
        let metrics = spec
            .metrics
            .iter()
            .enumerate()
            .map(|(i, m)| Metric::parse(m).map_err(|e| (i, e)))
            .collect::<Result<_, _>>()?;
        Ok(Self { metrics, warmup: spec.warmup.clone(), recovery: spec.recovery.clone() })
    }
}

/// Runs one cell's scenario on `seed` and records the metrics; returns the run's warm-up too.
pub fn run_once(scn: &Scenario, sets: &Setting, how: &Recording, seed: u64) -> Result<(f64, Vec<f64>), String> {
    let mut sim = Sim::from_scenario(scn.clone(), Some(seed)).map_err(|e| e.to_string())?;
    for (path, value) in sets {
        sim.set(path, value).map_err(|e| format!("{path} = {value}: {e}"))?;
    }
    sim.run_to_end();
    let report = serde_json::to_value(sim.report()).map_err(|e| e.to_string())?;
    let warmup = warmup_of(&sim, &how.warmup);
    let verdict = how.recovery.as_ref().and_then(|r| judge(&sim, r));
    let flag = |b: bool| f64::from(u8::from(b));
    let metrics = how
        .metrics
        .iter()
        .map(|m| match m {
            Metric::Recovered => verdict.as_ref().map_or(f64::NAN, |v| flag(v.recovered)),
            // Did not recover from the trigger within the run (a relapse after a recovery is
            // the run's business, not the trigger's: `recovered` already said it came back).
            Metric::Stuck => verdict.as_ref().map_or(f64::NAN, |v| flag(!v.recovered)),
            Metric::RecoveryS => verdict.as_ref().and_then(|v| v.recovery_s).unwrap_or(f64::NAN),
            Metric::Series { node, column } => series_metric(&sim, node, column, warmup).unwrap_or(f64::NAN),
            Metric::Report(path) => report_metric(&report, path).unwrap_or(f64::NAN),
        })
        .collect();
    Ok((warmup, metrics))
}

/// A number in the report at a dotted path (`nodes.api.latency_s.p99`); booleans read 0 or 1.
pub fn report_metric(report: &Json, path: &str) -> Option<f64> {
    let mut v = report;
    for key in path.split('.') {
        v = v.get(key)?;
    }
    match v {
        Json::Number(n) => n.as_f64(),
        Json::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// The series metric `node`.`column` averaged over the points after `from` seconds: counters
/// as rates per second, gauges and latency quantiles as span-weighted means, `queue_len_max` as
/// the largest.
pub fn series_metric(sim: &Sim, node: &str, column: &str, from: f64) -> Option<f64> {
    let points: Vec<&Point> = sim.series(node).iter().filter(|p| p.t > from && p.span > 0.0).collect();
    let value = column_reader(column)?;
    if points.is_empty() {
        return Some(f64::NAN);
    }
    if column == "queue_len_max" {
        return Some(points.iter().map(|p| p.queue_len_max).fold(0.0, f64::max));
    }
    let span: f64 = points.iter().map(|p| p.span).sum();
    Some(points.iter().map(|p| value(p) * p.span).sum::<f64>() / span)
}

/// The series columns a metric may name, with each point's value (a counter as a rate per
/// second).
pub const COLUMNS: &[(&str, Reader)] = &[
    ("arrivals", |p| p.arrivals as f64 / p.span),
    ("completed", |p| p.completed as f64 / p.span),
    ("goodput", |p| p.completed as f64 / p.span),
    ("errors", |p| p.errors as f64 / p.span),
    ("rejected", |p| p.rejected as f64 / p.span),
    ("dropped", |p| p.dropped as f64 / p.span),
    ("timed_out", |p| p.timed_out as f64 / p.span),
    ("retries", |p| p.retries as f64 / p.span),
    ("latency_p50", |p| p.latency_p50),
    ("latency_p95", |p| p.latency_p95),
    ("latency_p99", |p| p.latency_p99),
    ("queue_len", |p| p.queue_len),
    ("queue_len_max", |p| p.queue_len_max),
    ("busy", |p| p.busy),
    ("utilization", |p| p.utilization),
    ("in_system", |p| p.in_system),
];

/// Reads one series column's value from a point.
pub type Reader = fn(&Point) -> f64;

/// The per-point value of a series column.
pub fn column_reader(column: &str) -> Option<Reader> {
    COLUMNS.iter().find(|(name, _)| *name == column).map(|(_, f)| *f)
}

/// Where this run's steady state starts, seconds.
fn warmup_of(sim: &Sim, warmup: &Warmup) -> f64 {
    let scenario = sim.scenario().warmup;
    let Warmup::Mser5(metric) = warmup else { return scenario };
    let Ok(Metric::Series { node, column }) = Metric::parse(metric) else { return scenario };
    let Some(value) = column_reader(&column) else { return scenario };
    // The completed points after the scenario's own warm-up (before it nothing is counted and
    // the series reads 0; the open tail covers less than a step). MSER-5 truncates further.
    let points: Vec<&Point> = sim.series(&node).iter().filter(|p| p.span > 0.0 && p.t > scenario).collect();
    let full = points.split_last().map_or(&points[..], |(_, rest)| rest);
    let values: Vec<f64> = full.iter().map(|p| value(p)).collect();
    match mser::mser5(&values) {
        Some(t) if t.points > 0 => full.get(t.points - 1).map_or(scenario, |p| p.t),
        _ => scenario,
    }
}

/// Every source's recovery from the scenario's trigger (its first timeline entry with a
/// duration), judged with the default settings: what the report's `recovery` holds and the
/// app draws as regime bands. Empty when the scenario has no such entry.
pub fn source_verdicts(sim: &Sim) -> std::collections::BTreeMap<String, recovery::Verdict> {
    use crate::scenario::schema::NodeSpec;
    let sources = sim.scenario().nodes.iter().filter(|(_, n)| matches!(n, NodeSpec::Source(_)));
    sources
        .filter_map(|(name, _)| {
            let setup = RecoverySetup { node: name.clone(), trigger: None, tolerance: None, window: None, hold: None };
            judge(sim, &setup).map(|v| (name.clone(), v))
        })
        .collect()
}

/// The recovery verdict of the run against its trigger.
fn judge(sim: &Sim, setup: &RecoverySetup) -> Option<recovery::Verdict> {
    let timeline = &sim.scenario().timeline;
    let entry = match setup.trigger {
        Some(i) => parse_timeline_entry(timeline.get(i)?).ok()?,
        None => timeline.iter().filter_map(|t| parse_timeline_entry(t).ok()).find(|e| e.duration.is_some())?,
    };
    let start = nanos_to_secs(entry.at);
    let trigger = Trigger { start, end: start + entry.duration.map_or(0.0, nanos_to_secs) };
    let samples: Vec<Sample> = sim
        .series(&setup.node)
        .iter()
        .filter(|p| p.span > 0.0)
        .map(|p| Sample {
            t: p.t,
            span: p.span,
            goodput: p.completed as f64 / p.span,
            p99: p.latency_p99,
            offered: p.arrivals as f64 / p.span,
        })
        .collect();
    recovery::verdict(&samples, trigger, &setup.judge()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_depend_on_cell_and_replication_only() {
        assert_eq!(run_seed(1, 3, 7, false), run_seed(1, 3, 7, false));
        assert_ne!(run_seed(1, 3, 7, false), run_seed(1, 4, 7, false));
        assert_ne!(run_seed(1, 3, 7, false), run_seed(1, 3, 8, false));
        assert_ne!(run_seed(1, 3, 7, false), run_seed(2, 3, 7, false));
        assert_eq!(run_seed(1, 3, 7, true), run_seed(1, 9, 7, true), "common random numbers across cells");
        // "1/23" and "12/3" must differ: the separator keeps them apart.
        assert_ne!(run_seed(1, 1, 23, false), run_seed(1, 12, 3, false));
    }

    #[test]
    fn metrics_are_read_once_with_their_node() {
        assert_eq!(Metric::parse("stuck"), Ok(Metric::Stuck));
        let series = Metric::parse("series.api.queue_len").unwrap();
        assert_eq!(series.node(), Some("api"));
        assert_eq!(Metric::parse("nodes.db.latency_s.p99").unwrap().node(), Some("db"));
        assert_eq!(Metric::parse("links.api->db.retries").unwrap().node(), None);
        assert!(Metric::parse("series.api.nope").unwrap_err().contains("queue_len"));
        assert!(Metric::parse("latency").unwrap_err().contains("report path"));
        assert!(Metric::parse("nodes.api").is_err(), "a node is not a number");
    }

    #[test]
    fn report_paths_read_numbers_and_booleans() {
        let r: Json = serde_json::json!({"nodes": {"api": {"latency_s": {"p99": 0.25}, "up": true}}, "links": {"api->db": {"retries": 3}}});
        assert_eq!(report_metric(&r, "nodes.api.latency_s.p99"), Some(0.25));
        assert_eq!(report_metric(&r, "links.api->db.retries"), Some(3.0));
        assert_eq!(report_metric(&r, "nodes.api.up"), Some(1.0));
        assert_eq!(report_metric(&r, "nodes.db.latency_s.p99"), None);
    }
}
