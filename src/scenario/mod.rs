//! Scenario files: parsing RON, validating it, and locating every error as `file:line:col`.
//!
//! Loading happens in two stages, as ripgrep separates raw from validated flags: [`parse`]
//! turns text into [`schema::Scenario`] (syntax, unknown fields with did-you-mean), then
//! [`validate`] checks what serde cannot (references between nodes, ranges, probability sums,
//! call cycles, timeline syntax), pointing into the text through [`spans::SpanIndex`].
//! [`build`] spawns a validated scenario into a Bevy world.

pub mod build;
pub mod export;
pub mod schema;
pub mod session;
pub mod spans;

use std::fmt;
use std::path::Path;

use crate::engine::kernel::{EntryOrigin, TimelineEntry};
use crate::engine::time::secs_to_nanos;
use crate::params::{self, suggest};
use schema::{BreakerSpec, NodeSpec, RetrySpec, Scenario};
use spans::SpanIndex;

/// One located problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// What is wrong; what to write instead.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
    }
}

/// Every problem found in a scenario.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// A scenario's text together with its name for messages.
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    /// Reads a file; an I/O failure is reported as a diagnostic at 1:1.
    pub fn read(path: &Path) -> Result<Self, ScenarioError> {
        let name = path.display().to_string();
        std::fs::read_to_string(path).map(|text| Self { name: name.clone(), text }).map_err(|e| ScenarioError {
            diagnostics: vec![Diagnostic {
                file: name,
                line: 1,
                col: 1,
                message: format!("cannot read the scenario: {e}; check the path"),
            }],
        })
    }
}

/// Collects diagnostics with positions from a span index.
pub struct Reporter<'a> {
    file: &'a str,
    spans: &'a SpanIndex,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a str, spans: &'a SpanIndex) -> Self {
        Self { file, spans, diagnostics: Vec::new() }
    }

    /// Reports `message` at the position of `path`.
    pub fn at(&mut self, path: &str, message: impl Into<String>) {
        let (line, col) = self.spans.find(path);
        self.diagnostics.push(Diagnostic { file: self.file.to_string(), line, col, message: message.into() });
    }

    pub fn finish(self) -> Result<(), ScenarioError> {
        if self.diagnostics.is_empty() { Ok(()) } else { Err(ScenarioError { diagnostics: self.diagnostics }) }
    }
}

/// The RON dialect of scenario files: `Some` may be omitted (`timeout: 1.0`) and enum variants
/// wrapping a struct are written flat (`Source(rate: 1.0, …)`).
fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(
        ron::extensions::Extensions::IMPLICIT_SOME | ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES,
    )
}

/// Writes a scenario in the same dialect it is read in.
pub fn to_ron(scn: &Scenario) -> String {
    ron_options().to_string_pretty(scn, ron::ser::PrettyConfig::default().struct_names(true)).unwrap_or_default()
}

/// Parses RON text into a scenario (syntax and field names only).
pub fn parse(src: &Source) -> Result<Scenario, ScenarioError> {
    ron_options().from_str::<Scenario>(&src.text).map_err(|e| ScenarioError {
        diagnostics: vec![Diagnostic {
            file: src.name.clone(),
            line: e.span.start.line.max(1),
            col: e.span.start.col.max(1),
            message: explain(&e.code),
        }],
    })
}

/// Turns a RON error into a message that says what to write.
fn explain(code: &ron::Error) -> String {
    use ron::Error as E;
    let list = |xs: &[&str]| xs.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(", ");
    let within = |outer: &Option<String>| outer.as_ref().map(|o| format!(" in `{o}`")).unwrap_or_default();
    match code {
        E::NoSuchStructField { expected, found, outer } => {
            let hint =
                suggest(found, expected.iter().copied()).map(|s| format!("did you mean `{s}`? ")).unwrap_or_default();
            format!("unknown field `{found}`{}; {hint}expected one of {}", within(outer), list(expected))
        }
        E::NoSuchEnumVariant { expected, found, outer } => {
            let hint =
                suggest(found, expected.iter().copied()).map(|s| format!("did you mean `{s}`? ")).unwrap_or_default();
            format!("unknown variant `{found}`{}; {hint}expected one of {}", within(outer), list(expected))
        }
        E::MissingStructField { field, outer } => {
            format!("missing field `{field}`{}; add `{field}: …`", within(outer))
        }
        E::DuplicateStructField { field, outer } => {
            format!("field `{field}` given twice{}; keep one", within(outer))
        }
        other => format!("{other}; see the scenario format in the README"),
    }
}

/// A parsed `timeline` line: `at T [for D] set PATH = VALUE`.
pub fn parse_timeline_entry(text: &str) -> Result<TimelineEntry, String> {
    const FORM: &str = "write `at SECONDS set NODE.FIELD = VALUE` (optionally `at 60 for 30 set …`)";
    let words: Vec<&str> = text.split_whitespace().collect();
    let number = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0);
    let (at, rest) = match words.as_slice() {
        ["at", t, rest @ ..] => (number(t).ok_or_else(|| format!("`{t}` is not a time in seconds; {FORM}"))?, rest),
        _ => return Err(format!("a timeline entry starts with `at`; {FORM}")),
    };
    let (duration, rest) = match rest {
        ["for", d, rest @ ..] => {
            let d = number(d).filter(|d| *d > 0.0).ok_or_else(|| format!("`{d}` is not a duration; {FORM}"))?;
            (Some(d), rest)
        }
        _ => (None, rest),
    };
    let assignment = match rest {
        ["set", rest @ ..] => rest.join(" "),
        _ => return Err(format!("expected `set` after the time; {FORM}")),
    };
    let (path, value) = assignment.split_once('=').ok_or_else(|| format!("missing `=`; {FORM}"))?;
    let path = path.trim();
    if path.split('.').count() < 2 || path.split('.').any(str::is_empty) {
        return Err(format!("`{path}` is not a parameter path; {FORM}"));
    }
    if value.trim().is_empty() {
        return Err(format!("missing value after `=`; {FORM}"));
    }
    Ok(TimelineEntry {
        at: secs_to_nanos(at),
        path: path.to_string(),
        value: params::parse_value(value),
        duration: duration.map(secs_to_nanos),
        origin: EntryOrigin::Scenario,
    })
}

/// Checks everything serde cannot. `spans` locates the problems in the original text.
pub fn validate(scn: &Scenario, file: &str, spans: &SpanIndex) -> Result<(), ScenarioError> {
    let mut r = Reporter::new(file, spans);
    let finite_pos = |x: f64| x.is_finite() && x > 0.0;
    if !finite_pos(scn.duration) {
        r.at("duration", format!("duration must be a positive number of seconds, got {}", scn.duration));
    }
    if !(scn.warmup.is_finite() && scn.warmup >= 0.0 && scn.warmup < scn.duration) {
        r.at("warmup", format!("warmup must be ≥ 0 and shorter than the duration, got {}", scn.warmup));
    }
    if !finite_pos(scn.sample_every) {
        r.at("sample_every", "sample_every must be a positive number of seconds");
    } else if scn.duration / scn.sample_every > 1e8 {
        r.at("sample_every", "sample_every is too small for this duration (over 10⁸ samples); use a larger step");
    }
    if scn.nodes.is_empty() {
        r.at("nodes", "a scenario needs nodes; add a Source and a Service");
    }
    let mut class_names = Vec::new();
    for (i, c) in scn.classes.iter().enumerate() {
        let p = format!("classes.{i}");
        if class_names.contains(&c.name.as_str()) {
            r.at(&p, format!("class `{}` is defined twice; rename one", c.name));
        }
        class_names.push(c.name.as_str());
        if !(c.weight.is_finite() && c.weight >= 0.0) {
            r.at(&format!("{p}.weight"), "weight must be a number ≥ 0");
        }
    }
    if !scn.classes.is_empty() && scn.classes.iter().all(|c| c.weight <= 0.0) {
        r.at("classes", "at least one class needs a weight > 0");
    }
    let services: Vec<&str> =
        scn.nodes.iter().filter(|(_, n)| matches!(n, NodeSpec::Service(_))).map(|(k, _)| k.as_str()).collect();
    let names: Vec<&str> = scn.nodes.keys().map(String::as_str).collect();
    let target = |r: &mut Reporter, path: &str, to: &str, from: &str| {
        if to == from {
            r.at(path, format!("`{from}` cannot send to itself; name another service"));
        } else if !services.contains(&to) {
            let what = if names.contains(&to) { "is a source, not a service" } else { "does not exist" };
            let hint =
                suggest(to, services.iter().copied()).map(|s| format!("did you mean `{s}`? ")).unwrap_or_default();
            r.at(path, format!("target `{to}` {what}; {hint}services are: {}", services.join(", ")));
        }
    };
    for (name, node) in &scn.nodes {
        let base = format!("nodes.{name}");
        if name.is_empty() || name.contains(['.', ' ', '>']) {
            r.at(&base, format!("node name `{name}` may not be empty or contain `.`, `>` or spaces"));
        }
        match node {
            NodeSpec::Source(s) => {
                target(&mut r, &format!("{base}.to"), &s.to, name);
                if !(s.rate.is_finite() && s.rate >= 0.0) {
                    r.at(&format!("{base}.rate"), "rate must be a number of requests per second ≥ 0");
                }
                if let Some(c) = &s.class
                    && !class_names.contains(&c.as_str())
                    && !(scn.classes.is_empty() && c == "default")
                {
                    let hint = suggest(c, class_names.iter().copied())
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                    r.at(&format!("{base}.class"), format!("unknown class `{c}`; {hint}define it under `classes`"));
                }
                match &s.arrivals {
                    schema::Arrivals::OnOff { on, off } if !(finite_pos(*on) && finite_pos(*off)) => {
                        r.at(&format!("{base}.arrivals"), "OnOff needs positive `on` and `off` mean durations");
                    }
                    schema::Arrivals::Schedule { points, .. } => {
                        if let Err(e) = params::check_points(points) {
                            r.at(&format!("{base}.arrivals.points"), e);
                        }
                    }
                    schema::Arrivals::Closed { think, .. } => {
                        if let Err(e) = think.validate() {
                            r.at(&format!("{base}.arrivals.think"), e);
                        }
                    }
                    _ => {}
                }
                check_policy(&mut r, &base, s.timeout, &s.retry, &s.breaker);
            }
            NodeSpec::Service(s) => {
                if let Err(e) = s.service.validate() {
                    r.at(&format!("{base}.service"), e);
                }
                if !(0.0..=1.0).contains(&s.error_rate) {
                    r.at(&format!("{base}.error_rate"), "error_rate is a probability in [0, 1]");
                }
                if !(s.slowdown.is_finite() && s.slowdown >= 0.0) {
                    r.at(&format!("{base}.slowdown"), "slowdown is a factor ≥ 0");
                }
                let q = &s.queue;
                if q.retry_after.is_some_and(|x| !(x.is_finite() && x >= 0.0)) {
                    r.at(&format!("{base}.queue.retry_after"), "retry_after is a duration ≥ 0 in seconds");
                }
                if q.block_timeout.is_some_and(|x| !finite_pos(x)) {
                    r.at(&format!("{base}.queue.block_timeout"), "block_timeout is a positive duration in seconds");
                }
                for (i, c) in s.calls.iter().enumerate() {
                    let p = format!("{base}.calls.{i}");
                    target(&mut r, &format!("{p}.to"), &c.to, name);
                    if s.calls[..i].iter().any(|o| o.to == c.to) {
                        r.at(&format!("{p}.to"), format!("`{}` is called twice; one call per target", c.to));
                    }
                    check_policy(&mut r, &p, c.timeout, &c.retry, &c.breaker);
                }
                let mut total = 0.0;
                for (i, route) in s.routes.iter().enumerate() {
                    let p = format!("{base}.routes.{i}");
                    target(&mut r, &format!("{p}.to"), &route.to, "");
                    if !(0.0..=1.0).contains(&route.p) {
                        r.at(&format!("{p}.p"), "p is a probability in [0, 1]");
                    }
                    total += route.p;
                }
                if total > 1.0 + 1e-9 {
                    r.at(
                        &format!("{base}.routes"),
                        format!(
                            "route probabilities add up to {total:.3}; they must total at most 1 (the rest leaves)"
                        ),
                    );
                }
            }
        }
    }
    if let Some(cycle) = call_cycle(scn) {
        let first = cycle[0].clone();
        r.at(
            &format!("nodes.{first}.calls"),
            format!(
                "synchronous calls form a cycle {}; a worker would wait on itself — break the cycle",
                cycle.join(" → ")
            ),
        );
    }
    for (i, line) in scn.timeline.iter().enumerate() {
        match parse_timeline_entry(line) {
            Ok(e) => {
                let node = e.path.split('.').next().unwrap_or_default();
                if !scn.nodes.contains_key(node) {
                    let hint = suggest(node, names.iter().copied())
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                    r.at(
                        &format!("timeline.{i}"),
                        format!("no node named `{node}`; {hint}nodes are: {}", names.join(", ")),
                    );
                }
            }
            Err(e) => r.at(&format!("timeline.{i}"), e),
        }
    }
    r.finish()
}

fn check_policy(r: &mut Reporter, base: &str, timeout: Option<f64>, retry: &RetrySpec, breaker: &BreakerSpec) {
    if timeout.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
        r.at(&format!("{base}.timeout"), "timeout is a positive number of seconds (omit it for none)");
    }
    if retry.max_attempts == 0 {
        r.at(&format!("{base}.retry.max_attempts"), "max_attempts counts the first attempt too; use 1 for no retries");
    }
    if !(retry.backoff.is_finite() && retry.backoff >= 0.0 && retry.max_backoff.is_finite() && retry.max_backoff >= 0.0)
    {
        r.at(&format!("{base}.retry"), "backoff and max_backoff are durations ≥ 0 in seconds");
    }
    if !(retry.multiplier.is_finite() && retry.multiplier >= 1.0) {
        r.at(&format!("{base}.retry.multiplier"), "multiplier must be ≥ 1");
    }
    let pct = |x: f64| (0.0..=100.0).contains(&x);
    if !pct(breaker.failure_rate) {
        r.at(&format!("{base}.breaker.failure_rate"), "failure_rate is a percentage in [0, 100]");
    }
    if !pct(breaker.slow_call_rate) {
        r.at(&format!("{base}.breaker.slow_call_rate"), "slow_call_rate is a percentage in [0, 100]");
    }
    if breaker.window == 0 || breaker.min_calls == 0 || breaker.half_open_calls == 0 {
        r.at(&format!("{base}.breaker"), "window, min_calls and half_open_calls must be at least 1");
    }
    if !(breaker.open_wait.is_finite()
        && breaker.open_wait >= 0.0
        && breaker.slow_call_duration.is_finite()
        && breaker.slow_call_duration >= 0.0)
    {
        r.at(&format!("{base}.breaker"), "open_wait and slow_call_duration are durations ≥ 0 in seconds");
    }
}

/// A cycle in the synchronous call graph, if any (as a list of node names).
fn call_cycle(scn: &Scenario) -> Option<Vec<String>> {
    fn dfs<'a>(
        scn: &'a Scenario,
        n: &'a str,
        stack: &mut Vec<&'a str>,
        done: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = stack.iter().position(|s| *s == n) {
            let mut cycle: Vec<String> = stack[pos..].iter().map(|s| s.to_string()).collect();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(&n) {
            return None;
        }
        stack.push(n);
        if let Some(NodeSpec::Service(s)) = scn.nodes.get(n) {
            for c in &s.calls {
                if let Some(cycle) = dfs(scn, &c.to, stack, done) {
                    return Some(cycle);
                }
            }
        }
        stack.pop();
        done.push(n);
        None
    }
    let mut done = Vec::new();
    for name in scn.nodes.keys() {
        if let Some(c) = dfs(scn, name, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

/// Parses and validates a scenario text.
pub fn load(src: &Source) -> Result<Scenario, ScenarioError> {
    let scn = parse(src)?;
    validate(&scn, &src.name, &SpanIndex::scan(&src.text))?;
    Ok(scn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_entries_parse_with_and_without_duration() {
        let e = parse_timeline_entry("at 60 set db.service.mean = 0.5").unwrap();
        assert_eq!((e.at, e.path.as_str(), e.duration), (60_000_000_000, "db.service.mean", None));
        let e = parse_timeline_entry("at 1.5 for 30 set api.up = false").unwrap();
        assert_eq!(e.duration, Some(30_000_000_000));
        assert_eq!(e.value, params::Value::Flag(false));
        assert!(parse_timeline_entry("set x.y = 1").unwrap_err().contains("starts with `at`"));
        assert!(parse_timeline_entry("at 5 set x.y 1").unwrap_err().contains("missing `=`"));
    }
}
