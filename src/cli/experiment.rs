//! `sluice sweep`, `sluice compare` and `sluice merge`: the experiment commands
//! ([`crate::experiment`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::exit::{self, code, print, say};
use crate::experiment::{self, CellSummary, Experiment, Shard, Variant, output, spec::Precision};

/// `sluice sweep`.
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Sweep file (RON): a scenario, parameters with values, replications, metrics, charts.
    pub sweep: PathBuf,
    /// Folder for the results (created; nothing is written outside it).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Run only shard I of N (cells whose number is I mod N), e.g. `--shard 2/8`. Without it,
    /// a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX` (with `--shards N`) or a Slurm job
    /// array's `SLURM_ARRAY_TASK_ID` (with its MIN, STEP and COUNT) choose the shard.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// The number of shards, with `JOB_COMPLETION_INDEX` (a Kubernetes Job's `completions`).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Keep adding replications until every metric's CI half-width is within this share of its
    /// mean, e.g. `2%` or `0.02` (overrides the file's `precision`).
    #[arg(long, value_name = "FRACTION")]
    pub precision: Option<String>,
    /// No progress bar and no summary table.
    #[arg(long)]
    pub quiet: bool,
}

/// `sluice compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Variant A's scenario.
    pub a: PathBuf,
    /// Variant B's scenario (default: A's, changed by `--set-b`).
    pub b: Option<PathBuf>,
    /// A change to variant A at t = 0 (repeatable).
    #[arg(long = "set-a", value_name = "PATH=VALUE")]
    pub set_a: Vec<String>,
    /// A change to variant B at t = 0 (repeatable).
    #[arg(long = "set-b", value_name = "PATH=VALUE")]
    pub set_b: Vec<String>,
    /// A metric to compare: a report path (`nodes.api.latency_s.p99`) or `series.NODE.COLUMN`
    /// (repeatable).
    #[arg(long = "metric", value_name = "PATH", required = true)]
    pub metrics: Vec<String>,
    /// Seeds: each variant runs on the same ones.
    #[arg(long, default_value_t = 30)]
    pub replications: u32,
    /// Base seed the runs' seeds are derived from (default: A's scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Confidence level of the intervals.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// A metric for which more is better, when its name does not say (repeatable).
    #[arg(long, value_name = "PATH")]
    pub higher: Vec<String>,
    /// A metric for which less is better, when its name says otherwise (repeatable).
    #[arg(long, value_name = "PATH")]
    pub lower: Vec<String>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// `sluice merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Folder for the merged results.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The shards' result folders (each with its `shard.json`).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
}

pub fn sweep(a: SweepArgs) -> ExitCode {
    let shard = match choose_shard(a.shard.as_deref(), a.shards, &|k| std::env::var(k).ok()) {
        Ok(s) => s,
        Err(e) => {
            say(&format!("sluice sweep: {e}"));
            return code(exit::USAGE);
        }
    };
    let precision = match a.precision.as_deref().map(parse_fraction).transpose() {
        Ok(p) => p,
        Err(e) => {
            say(&format!("sluice sweep: --precision {e}"));
            return code(exit::USAGE);
        }
    };
    let mut exp = match Experiment::from_file(&a.sweep) {
        Ok(e) => e,
        Err(e) => {
            say(&e);
            return code(exit::INVALID);
        }
    };
    if let Some(relative) = precision {
        let spec = &mut exp.sweep.spec;
        let max = spec.precision.as_ref().map_or(200, |p| p.max_replications).max(spec.replications.max(2));
        let metrics = spec.precision.take().map(|p| p.metrics).unwrap_or_default();
        spec.precision = Some(Precision { relative, max_replications: max, metrics });
    }
    exp.options.threads = a.threads;
    exp.options.shard = shard.unwrap_or(Shard::ALL);
    exp.options.progress = !a.quiet;
    if let Some(s) = shard {
        say(&format!(
            "sluice sweep: shard {}/{} ({} of {} cells)",
            s.index,
            s.count,
            cells_of(&exp, s),
            exp.sweep.cells.len()
        ));
    }
    let cells = match exp.write(&a.out) {
        Ok(c) => c,
        Err(e) => {
            say(&format!("sluice sweep: {e}"));
            return code(if e.contains("cell ") { exit::INVALID } else { exit::OUTPUT });
        }
    };
    if a.quiet || cells.is_empty() {
        return ExitCode::SUCCESS;
    }
    print(&table(&exp.sweep.spec.metrics, &cells)).map_or_else(|c| c, |()| ExitCode::SUCCESS)
}

fn cells_of(exp: &Experiment, s: Shard) -> usize {
    (0..exp.sweep.cells.len()).filter(|c| s.takes(*c)).count()
}

pub fn merge(a: MergeArgs) -> ExitCode {
    // The output folder first: a folder that cannot be written is an output failure (exit 3),
    // not a problem with the shards.
    if let Err(e) = std::fs::create_dir_all(&a.out) {
        say(&format!("sluice merge: cannot create {}: {e}", a.out.display()));
        return code(exit::OUTPUT);
    }
    match output::merge(&a.out, &a.shards) {
        Ok(cells) => {
            let line = format!("merged {} shards: {} cells into {}\n", a.shards.len(), cells.len(), a.out.display());
            print(&line).map_or_else(|c| c, |()| ExitCode::SUCCESS)
        }
        Err(e) => {
            say(&format!("sluice merge: {e}"));
            code(exit::INVALID)
        }
    }
}

pub fn compare(a: CompareArgs) -> ExitCode {
    if !(a.level > 0.0 && a.level < 1.0) {
        say("sluice compare: --level is a confidence level between 0 and 1, e.g. 0.95");
        return code(exit::USAGE);
    }
    let variant = |name: &str, path: &Path, sets: &[String]| -> Result<Variant, (u8, String)> {
        let src = crate::scenario::Source::read(path).map_err(|e| (exit::INVALID, e.to_string()))?;
        let scenario = crate::scenario::load(&src).map_err(|e| (exit::INVALID, e.to_string()))?;
        let sets = sets
            .iter()
            .map(|s| {
                s.split_once('=')
                    .map(|(p, v)| (p.trim().to_string(), v.trim().to_string()))
                    .ok_or((exit::USAGE, format!("--set {s}: expected PATH=VALUE, e.g. server.workers=4")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Variant { name: name.to_string(), scenario, sets })
    };
    let built =
        variant("A", &a.a, &a.set_a).and_then(|va| Ok((variant("B", a.b.as_deref().unwrap_or(&a.a), &a.set_b)?, va)));
    let (vb, va) = match built {
        Ok(v) => v,
        Err((c, e)) => {
            say(&format!("sluice compare: {e}"));
            return code(c);
        }
    };
    let seed = a.seed.unwrap_or(va.scenario.seed);
    let options = experiment::CompareOptions {
        metrics: a.metrics.clone(),
        replications: a.replications,
        base_seed: seed,
        level: a.level,
        higher: a.higher.clone(),
        lower: a.lower.clone(),
        threads: a.threads,
    };
    let result = experiment::compare(&va, &vb, &options);
    let c = match result {
        Ok(c) => c,
        Err(e) => {
            say(&format!("sluice compare: {e}"));
            return code(exit::INVALID);
        }
    };
    let out = if a.json {
        serde_json::to_string_pretty(&c).unwrap_or_default() + "\n"
    } else {
        let mut s = format!(
            "A/B on {} common seeds, {:.0} % intervals; difference = B − A\n{:<36} {:>14} {:>14} {:>24}  better\n",
            c.seeds.len(),
            c.level * 100.0,
            "metric",
            "A",
            "B",
            "B − A"
        );
        for m in &c.metrics {
            s.push_str(&format!(
                "{:<36} {:>14} {:>14} {:>24}  {:?}\n",
                m.metric,
                short(m.a.mean),
                short(m.b.mean),
                format!("{} ± {}", short(m.difference.mean), short(m.difference.half_width)),
                m.better
            ));
        }
        s
    };
    print(&out).map_or_else(|c| c, |()| ExitCode::SUCCESS)
}

/// The shard this machine runs: `--shard I/N`, else a Kubernetes Indexed Job's or a Slurm
/// array's environment (read through `env`), else none (the whole sweep).
pub fn choose_shard(
    flag: Option<&str>,
    shards: Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Shard>, String> {
    let shard = |index: usize, count: usize| -> Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!("shard {index} of {count}: the index runs from 0 to the count − 1"));
        }
        Ok(Shard { index, count })
    };
    let int = |name: &str, text: &str| {
        text.trim().parse::<usize>().map_err(|_| format!("{name}={text}: expected a whole number"))
    };
    if let Some(f) = flag {
        let (i, n) = f.split_once('/').ok_or_else(|| format!("--shard {f}: expected I/N, e.g. --shard 0/4"))?;
        return shard(int("--shard", i)?, int("--shard", n)?).map(Some);
    }
    if let Some(i) = env("JOB_COMPLETION_INDEX") {
        let n = shards.ok_or(
            "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job): give the Job's `completions` as --shards N",
        )?;
        return shard(int("JOB_COMPLETION_INDEX", &i)?, n).map(Some);
    }
    if let Some(id) = env("SLURM_ARRAY_TASK_ID") {
        let id = int("SLURM_ARRAY_TASK_ID", &id)?;
        let min = env("SLURM_ARRAY_TASK_MIN").map(|v| int("SLURM_ARRAY_TASK_MIN", &v)).transpose()?.unwrap_or(0);
        let step =
            env("SLURM_ARRAY_TASK_STEP").map(|v| int("SLURM_ARRAY_TASK_STEP", &v)).transpose()?.unwrap_or(1).max(1);
        let count = match (shards, env("SLURM_ARRAY_TASK_COUNT")) {
            (Some(n), _) => n,
            (None, Some(c)) => int("SLURM_ARRAY_TASK_COUNT", &c)?,
            (None, None) => {
                return Err("SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT: give --shards N".into());
            }
        };
        let index =
            id.checked_sub(min).ok_or(format!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}"))?;
        if index % step != 0 {
            return Err(format!("SLURM_ARRAY_TASK_ID {id} is not on the array's grid ({min} + k × {step})"));
        }
        return shard(index / step, count).map(Some);
    }
    if let Some(n) = shards {
        return Err(format!(
            "--shards {n} needs a scheduler's index (JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID); \
             to run one part by hand write --shard I/{n}"
        ));
    }
    Ok(None)
}

/// `2%` or `0.02` as a fraction.
fn parse_fraction(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let x = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("{text}: expected a share of the mean, e.g. 2% or 0.02"))?;
    if x > 0.0 && x < 10.0 { Ok(x) } else { Err(format!("{text}: expected a share above 0, e.g. 2%")) }
}

/// The summary as a table: a row per cell, a column per metric (mean ± half-width).
fn table(metrics: &[String], cells: &[CellSummary]) -> String {
    let mut s = String::new();
    for c in cells {
        let params: Vec<String> = c.parameters.iter().map(|(p, v)| format!("{p}={v}")).collect();
        s.push_str(&format!("cell {:<4} n={:<4} {}\n", c.cell, c.replications, params.join(" ")));
        for m in metrics {
            let x = &c.metrics[m];
            let value = match x.n {
                0 => "no value in any run".to_string(),
                1 => format!("{} (one run)", short(x.mean)),
                _ => format!("{} ± {}", short(x.mean), short(x.half_width)),
            };
            s.push_str(&format!("    {m:<40} {value}\n"));
        }
    }
    s
}

/// A number with four significant digits.
fn short(x: f64) -> String {
    if x.is_finite() {
        format!("{:.4}", x).trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        x.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn shards_come_from_the_flag_kubernetes_or_slurm() {
        let none = env(&[]);
        assert_eq!(choose_shard(Some("2/8"), None, &none), Ok(Some(Shard { index: 2, count: 8 })));
        assert!(choose_shard(Some("8/8"), None, &none).is_err());
        assert!(choose_shard(Some("x"), None, &none).is_err());
        assert_eq!(choose_shard(None, None, &none), Ok(None));
        assert!(choose_shard(None, Some(4), &none).unwrap_err().contains("--shard I/4"), "--shards alone is an error");
        let k8s = env(&[("JOB_COMPLETION_INDEX", "3")]);
        assert_eq!(choose_shard(None, Some(5), &k8s), Ok(Some(Shard { index: 3, count: 5 })));
        assert!(choose_shard(None, None, &k8s).unwrap_err().contains("--shards"));
        // Slurm: `--array=10-40:10` gives ids 10, 20, 30, 40: shards 0..4.
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "30"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_STEP", "10"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(choose_shard(None, None, &slurm), Ok(Some(Shard { index: 2, count: 4 })));
        let off_grid = env(&[
            ("SLURM_ARRAY_TASK_ID", "15"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_STEP", "10"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert!(choose_shard(None, None, &off_grid).is_err());
        // The flag wins over the environment.
        assert_eq!(choose_shard(Some("0/2"), None, &slurm), Ok(Some(Shard { index: 0, count: 2 })));
    }

    #[test]
    fn precision_reads_percent_or_fraction() {
        assert_eq!(parse_fraction("2%"), Ok(0.02));
        assert_eq!(parse_fraction("0.05"), Ok(0.05));
        assert!(parse_fraction("0").is_err());
        assert!(parse_fraction("abc").is_err());
        assert!(parse_fraction("-1%").is_err());
    }
}
