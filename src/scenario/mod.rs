//! Scenario files: parsing RON, validating it, and locating every error as `file:line:col`.
//!
//! Loading happens in two stages, as ripgrep separates raw from validated flags: [`parse`]
//! turns text into [`schema::Scenario`] (syntax, unknown fields with did-you-mean), then
//! [`validate`] checks what serde cannot (references between nodes, ranges, probability sums,
//! call cycles, timeline syntax), pointing into the text through [`spans::SpanIndex`].
//! [`build`] spawns a validated scenario into a Bevy world.

pub mod build;
pub mod cycles;
pub mod errors;
pub mod export;
pub mod rules;
pub mod schema;
pub mod session;
pub mod spans;

use std::fmt;
use std::path::Path;

use crate::engine::kernel::{EntryOrigin, TimelineEntry};
use crate::engine::time::secs_to_nanos;
use crate::params::{self, suggest};
use schema::{NodeSpec, Scenario};
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
    /// One line, whatever the file name or the message quotes from the file: control
    /// characters are written escaped (`\n`), so one problem is always one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one_line = |s: &str| -> String {
            s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
        };
        write!(f, "{}:{}:{}: {}", one_line(&self.file), self.line, self.col, one_line(&self.message))
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
    /// Reads a file; an I/O failure or text that is not UTF-8 is reported as a diagnostic
    /// (at 1:1, or where the first bad byte is).
    pub fn read(path: &Path) -> Result<Self, ScenarioError> {
        let name = path.display().to_string();
        let fail = |line, col, message| ScenarioError {
            diagnostics: vec![Diagnostic { file: name.clone(), line, col, message }],
        };
        let bytes = std::fs::read(path).map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::NotFound => "check the path",
                std::io::ErrorKind::PermissionDenied => "make the file readable",
                _ if path.is_dir() => "name a scenario file, not a folder",
                _ => "name a readable scenario file",
            };
            fail(1, 1, format!("cannot read the scenario: {e}; {hint}"))
        })?;
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Self { name: name.clone(), text }),
            Err(e) => {
                let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let good = std::str::from_utf8(good).unwrap_or_default();
                let line = good.matches('\n').count() + 1;
                let col = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                Err(fail(
                    line,
                    col,
                    "the scenario is not UTF-8 text (a byte here is not valid UTF-8); save the file as UTF-8".into(),
                ))
            }
        }
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
pub(crate) fn ron_options() -> ron::Options {
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
    parse_as(src)
}

/// Parses RON text in the scenario dialect into any file type of ours (a scenario, a sweep),
/// with the syntax error located and explained.
pub fn parse_as<T: serde::de::DeserializeOwned>(src: &Source) -> Result<T, ScenarioError> {
    ron_options().from_str::<T>(&src.text).map_err(|e| ScenarioError {
        diagnostics: vec![Diagnostic {
            file: src.name.clone(),
            line: e.span.start.line.max(1),
            col: e.span.start.col.max(1),
            message: errors::explain(&e.code, &src.text, e.span.start.line, e.span.start.col),
        }],
    })
}

/// A parsed `timeline` line: `at T [for D] set PATH = VALUE`.
pub fn parse_timeline_entry(text: &str) -> Result<TimelineEntry, String> {
    const FORM: &str = "write `at SECONDS set NODE.FIELD = VALUE` (optionally `at 60 for 30 set …`)";
    let words: Vec<&str> = text.split_whitespace().collect();
    let max = crate::engine::time::MAX_SECONDS;
    let number = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite() && (0.0..=max).contains(x));
    let (at, rest) = match words.as_slice() {
        ["at", t, rest @ ..] => {
            (number(t).ok_or_else(|| format!("`{t}` is not a time in seconds from 0 to {max:e}; {FORM}"))?, rest)
        }
        _ => return Err(format!("a timeline entry starts with `at`; {FORM}")),
    };
    let (duration, rest) = match rest {
        ["for", d, rest @ ..] => {
            let d = number(d)
                .filter(|d| *d > 0.0)
                .ok_or_else(|| format!("`{d}` is not a duration in seconds above 0 and at most {max:e}; {FORM}"))?;
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
///
/// Every tunable field is held to its bounds in the parameter registry (the same bounds as
/// `--set`, the timeline and the inspector), and rules across fields come from [`rules`], which
/// live changes obey too.
pub fn validate(scn: &Scenario, file: &str, spans: &SpanIndex) -> Result<(), ScenarioError> {
    let mut r = Reporter::new(file, spans);
    let max_s = crate::engine::time::MAX_SECONDS;
    let seconds = |x: f64| x.is_finite() && x > 0.0 && x <= max_s;
    let duration_ok = seconds(scn.duration);
    if !duration_ok {
        r.at(
            "duration",
            format!("`duration` must be a number of seconds above 0 and at most {max_s:e}, got {}", scn.duration),
        );
    }
    // Against a broken duration the warm-up cannot be judged; one message is enough.
    if duration_ok && !(scn.warmup.is_finite() && scn.warmup >= 0.0 && scn.warmup < scn.duration) {
        r.at(
            "warmup",
            format!(
                "`warmup` must be ≥ 0 and shorter than the duration ({}), got {}; write e.g. `warmup: 0.0`",
                scn.duration, scn.warmup
            ),
        );
    }
    if !seconds(scn.sample_every) {
        r.at(
            "sample_every",
            format!(
                "`sample_every` must be a number of seconds above 0 and at most {max_s:e}, got {}",
                scn.sample_every
            ),
        );
    } else if duration_ok && scn.duration / scn.sample_every > 1e8 {
        r.at("sample_every", "sample_every is too small for this duration (over 10⁸ samples); use a larger step");
    }
    if scn.max_population == Some(0) {
        r.at("max_population", "`max_population` must be at least 1; write e.g. `max_population: 5000000`");
    }
    if scn.title.chars().any(char::is_control) {
        r.at("title", "`title` must be one line without control characters; put details in `description`");
    }
    if scn.nodes.is_empty() {
        r.at("nodes", "a scenario needs nodes; add a Source and a Service");
    }
    let mut class_names = Vec::new();
    for (i, c) in scn.classes.iter().enumerate() {
        let p = format!("classes.{i}");
        if !rules::name_ok(&c.name) {
            r.at(
                &format!("{p}.name"),
                format!(
                    "class name `{}` is not allowed: use 1 to 64 letters, digits, `_` or `-`, e.g. `{}`",
                    c.name.escape_debug(),
                    rules::safe_name(&c.name)
                ),
            );
        }
        if class_names.contains(&c.name.as_str()) {
            r.at(&p, format!("class `{}` is defined twice; rename one", c.name.escape_debug()));
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
            let known = if services.is_empty() {
                "there is no service yet: add a `Service` node and send to it".to_string()
            } else {
                format!("services are: {}", services.join(", "))
            };
            r.at(path, format!("target `{}` {what}; {hint}{known}", to.escape_debug()));
        }
    };
    // The registry's bounds on every tunable field under `base` (paths as in the file).
    let bounds = |r: &mut Reporter, base: &str, p: &mut dyn params::Params| -> bool {
        let found = params::out_of_bounds(p);
        for (path, message) in &found {
            r.at(&format!("{base}.{path}"), message.clone());
        }
        found.is_empty()
    };
    for (name, node) in &scn.nodes {
        let base = format!("nodes.{name}");
        if !rules::name_ok(name) {
            r.at(
                &base,
                format!(
                    "node name `{}` is not allowed: use 1 to 64 letters, digits, `_` or `-` (names become \
                     parameter paths and file names), e.g. `{}`",
                    name.escape_debug(),
                    rules::safe_name(name)
                ),
            );
        }
        match node {
            NodeSpec::Source(s) => {
                target(&mut r, &format!("{base}.to"), &s.to, name);
                if let Some(c) = &s.class
                    && !class_names.contains(&c.as_str())
                    && !(scn.classes.is_empty() && c == "default")
                {
                    let hint = suggest(c, class_names.iter().copied())
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                    r.at(
                        &format!("{base}.class"),
                        format!("unknown class `{}`; {hint}define it under `classes`", c.escape_debug()),
                    );
                }
                let ok = bounds(&mut r, &base, &mut s.clone()) & bounds(&mut r, &base, &mut s.policy());
                if ok && let Some((path, e)) = rules::source(s) {
                    r.at(&format!("{base}.{path}"), e);
                }
            }
            NodeSpec::Service(s) => {
                let mut ok = bounds(&mut r, &base, &mut s.clone());
                let known: Vec<&str> = if scn.classes.is_empty() { vec!["default"] } else { class_names.clone() };
                let mut tenants: Vec<&str> = if scn.classes.is_empty() {
                    vec!["default"]
                } else {
                    scn.classes.iter().map(|c| c.tenant.as_deref().unwrap_or(&c.name)).collect()
                };
                tenants.sort_unstable();
                tenants.dedup();
                let mut pooled: Vec<&str> = Vec::new();
                for (i, pool) in s.concurrency.pools.iter().enumerate() {
                    if pool.classes.is_empty() && pool.tenants.is_empty() {
                        r.at(
                            &format!("{base}.concurrency.pools.{i}"),
                            "a pool serves nobody; name its `classes: [\"…\"]` or `tenants: [\"…\"]`",
                        );
                    }
                    for t in &pool.tenants {
                        if !tenants.contains(&t.as_str()) {
                            let hint = suggest(t, tenants.iter().copied())
                                .map(|s| format!("did you mean `{s}`? "))
                                .unwrap_or_default();
                            r.at(
                                &format!("{base}.concurrency.pools.{i}.tenants"),
                                format!(
                                    "`{}` is not a tenant; {hint}tenants are: {}",
                                    t.escape_debug(),
                                    tenants.join(", ")
                                ),
                            );
                        }
                    }
                    let p = format!("{base}.concurrency.pools.{i}.classes");
                    for c in &pool.classes {
                        if !known.contains(&c.as_str()) {
                            let hint = suggest(c, known.iter().copied())
                                .map(|s| format!("did you mean `{s}`? "))
                                .unwrap_or_default();
                            r.at(
                                &p,
                                format!(
                                    "`{}` is not a class; {hint}classes are: {}",
                                    c.escape_debug(),
                                    known.join(", ")
                                ),
                            );
                        } else if pooled.contains(&c.as_str()) {
                            r.at(&p, format!("class `{c}` is in two pools; give each class one bulkhead"));
                        }
                        pooled.push(c.as_str());
                    }
                }
                for (i, c) in s.calls.iter().enumerate() {
                    let p = format!("{base}.calls.{i}");
                    target(&mut r, &format!("{p}.to"), &c.to, name);
                    if s.calls[..i].iter().any(|o| o.to == c.to) {
                        r.at(&format!("{p}.to"), format!("`{}` is called twice; one call per target", c.to));
                    }
                    ok &= bounds(&mut r, &p, &mut c.policy());
                    if ok && let Some((path, e)) = rules::edge(&c.policy()) {
                        r.at(&format!("{p}.{path}"), e);
                        ok = false;
                    }
                }
                if ok && let Some((path, e)) = rules::service(s) {
                    r.at(&format!("{base}.{path}"), e);
                }
                let mut total = 0.0;
                for (i, route) in s.routes.iter().enumerate() {
                    let p = format!("{base}.routes.{i}");
                    target(&mut r, &format!("{p}.to"), &route.to, "");
                    if !(0.0..=1.0).contains(&route.p) {
                        r.at(&format!("{p}.p"), format!("`p` is a probability from 0 to 1, got {}", route.p));
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
    if let Some(cycle) = cycles::zero_time_route_cycle(scn) {
        r.at(
            &format!("nodes.{}.routes", cycle[0]),
            format!(
                "routes form a loop {} that takes no simulated time (service mean 0 or slowdown 0, no calls, no \
                 errors, p = 1): a request would circle forever at one instant; give a service on the loop a \
                 positive service time, or route onwards with p < 1",
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
                        format!("no node named `{}`; {hint}nodes are: {}", node.escape_debug(), names.join(", ")),
                    );
                }
            }
            Err(e) => r.at(&format!("timeline.{i}"), e),
        }
    }
    r.finish()
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
