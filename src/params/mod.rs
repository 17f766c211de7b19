//! The parameter registry: one path (`node.field.sub`) per tunable value.
//!
//! Every configurable component implements [`Params`] once, listing its fields with a kind,
//! bounds and a help line. That single listing drives `--set` on the command line, `set` entries
//! on a scenario's timeline, [`crate::Sim::set`] and the desktop inspector, so a field added to
//! a component is reachable everywhere without extra code. Paths mirror the scenario file:
//! `server.queue.capacity` is the `capacity` inside `queue` of the node named `server`.

use std::fmt;

/// A parameter's kind and bounds, as shown in `sluice params` and the inspector.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Non-negative integer with a lower bound.
    Count { min: u64 },
    /// Integer or `unbounded`.
    OptionalCount,
    /// Real number within [min, max].
    Real { min: f64, max: f64 },
    /// Duration in seconds (≥ 0).
    Seconds,
    /// Duration in seconds, or `none`.
    OptionalSeconds,
    /// `true` or `false`.
    Flag,
    /// One of a fixed set of names.
    Choice(&'static [&'static str]),
    /// A piecewise schedule: (time s, value) points with increasing times, values ≥ 0.
    Points,
}

/// A parameter value, parsed from text (`--set`, timeline) or produced by the inspector.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Count(u64),
    Real(f64),
    Flag(bool),
    Choice(String),
    /// `unbounded` / `none`.
    Unset,
    /// `[(0, 1), (60, 3)]`: (time s, value) pairs.
    Points(Vec<(f64, f64)>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Count(n) => write!(f, "{n}"),
            // Very large or small magnitudes in scientific notation (a burst of 1e300 would
            // otherwise print 301 digits); `parse_value` reads both forms back exactly.
            Value::Real(x) if x.is_finite() && *x != 0.0 && !(1e-6..1e15).contains(&x.abs()) => write!(f, "{x:e}"),
            Value::Real(x) => write!(f, "{x}"),
            Value::Flag(b) => write!(f, "{b}"),
            Value::Choice(s) => f.write_str(s),
            Value::Unset => f.write_str("none"),
            Value::Points(points) => {
                // The same text `parse_value` reads back (f64 `Display` round-trips exactly).
                f.write_str("[")?;
                for (i, (t, m)) in points.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}({t}, {m})")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// A mutable view of one field, handed to a [`Visitor`].
pub enum Field<'a> {
    Count(&'a mut u32, u32),
    /// A count with an upper bound too (a closed loop's clients, a breaker's window: things
    /// the simulator holds in memory one by one). Listed as a [`Kind::Count`].
    CountUpTo(&'a mut u32, u32, u32),
    OptionalCount(&'a mut Option<u32>),
    Real(&'a mut f64, f64, f64),
    Seconds(&'a mut f64),
    /// A duration that must be above 0 (a mean period: 0 would switch forever at one instant).
    /// Listed as a [`Kind::Seconds`].
    PositiveSeconds(&'a mut f64),
    OptionalSeconds(&'a mut Option<f64>),
    /// Like `OptionalSeconds`, but 0 is a value too (a Retry-After of 0: retry at once).
    OptionalSecondsOrZero(&'a mut Option<f64>),
    Flag(&'a mut bool),
    Choice(&'a mut dyn Choice),
    Points(&'a mut Vec<(f64, f64)>),
}

/// An enum field whose variants are chosen by name (`fifo`, `reject`, `full`…).
pub trait Choice {
    fn names(&self) -> &'static [&'static str];
    fn current(&self) -> &'static str;
    /// Sets the variant named `name`; returns false if there is no such variant.
    fn select(&mut self, name: &str) -> bool;
}

/// Walks a component's parameters.
pub trait Visitor {
    fn field(&mut self, name: &str, field: Field<'_>, help: &'static str);
    /// Enters a nested group (`queue`, `retry`, `calls.db`…).
    fn group(&mut self, name: &str, params: &mut dyn Params);
}

/// Implemented by every configurable component.
pub trait Params {
    fn visit(&mut self, v: &mut dyn Visitor);
}

impl Field<'_> {
    /// The kind of this field.
    pub fn kind(&self) -> Kind {
        match self {
            Field::Count(_, min) | Field::CountUpTo(_, min, _) => Kind::Count { min: u64::from(*min) },
            Field::OptionalCount(_) => Kind::OptionalCount,
            Field::Real(_, min, max) => Kind::Real { min: *min, max: *max },
            Field::Seconds(_) | Field::PositiveSeconds(_) => Kind::Seconds,
            Field::OptionalSeconds(_) | Field::OptionalSecondsOrZero(_) => Kind::OptionalSeconds,
            Field::Flag(_) => Kind::Flag,
            Field::Choice(c) => Kind::Choice(c.names()),
            Field::Points(_) => Kind::Points,
        }
    }

    /// The current value.
    pub fn get(&self) -> Value {
        match self {
            Field::Count(v, _) | Field::CountUpTo(v, _, _) => Value::Count(u64::from(**v)),
            Field::OptionalCount(v) => v.map_or(Value::Unset, |n| Value::Count(u64::from(n))),
            Field::Real(v, _, _) | Field::Seconds(v) | Field::PositiveSeconds(v) => Value::Real(**v),
            Field::OptionalSeconds(v) | Field::OptionalSecondsOrZero(v) => v.map_or(Value::Unset, Value::Real),
            Field::Flag(v) => Value::Flag(**v),
            Field::Choice(c) => Value::Choice(c.current().to_string()),
            Field::Points(p) => Value::Points(p.to_vec()),
        }
    }

    /// Checks that `value` could be assigned, leaving the field as it is.
    pub fn check(&mut self, value: &Value) -> Result<(), String> {
        match (&*self, value) {
            // Selecting a variant can replace a whole enum (a distribution's family, with its
            // shape fields), which selecting the old name back would not restore.
            (Field::Choice(c), Value::Choice(name)) => {
                if c.names().contains(&name.as_str()) {
                    Ok(())
                } else {
                    Err(choice_error(c.names()))
                }
            }
            (Field::Choice(c), Value::Unset) if c.names().contains(&"none") => Ok(()),
            _ => {
                let old = self.get();
                self.set(value)?;
                // Put the old value back as it was, bounds or not: a value the field already
                // held must never make a legal change look illegal.
                self.restore(&old);
                Ok(())
            }
        }
    }

    /// Assigns a value read from this same field, without checking bounds.
    fn restore(&mut self, old: &Value) {
        match (self, old) {
            (Field::Count(v, _) | Field::CountUpTo(v, _, _), Value::Count(n)) => **v = *n as u32,
            (Field::OptionalCount(v), Value::Count(n)) => **v = Some(*n as u32),
            (Field::OptionalCount(v), Value::Unset) => **v = None,
            (Field::Real(v, _, _) | Field::Seconds(v) | Field::PositiveSeconds(v), Value::Real(x)) => **v = *x,
            (Field::OptionalSeconds(v) | Field::OptionalSecondsOrZero(v), Value::Real(x)) => **v = Some(*x),
            (Field::OptionalSeconds(v) | Field::OptionalSecondsOrZero(v), Value::Unset) => **v = None,
            (Field::Flag(v), Value::Flag(b)) => **v = *b,
            (Field::Choice(c), Value::Choice(name)) => {
                c.select(name);
            }
            (Field::Points(v), Value::Points(p)) => v.clone_from(p),
            _ => {}
        }
    }

    /// Checks the value the field holds against its bounds: how a scenario file is held to
    /// the same bounds as `--set`, the timeline and the inspector.
    pub fn validate(&mut self) -> Result<(), String> {
        let current = self.get();
        self.check(&current)
    }

    /// Assigns `value`, checking kind and bounds.
    pub fn set(&mut self, value: &Value) -> Result<(), String> {
        let real = |v: &Value| match v {
            Value::Real(x) => Some(*x),
            Value::Count(n) => Some(*n as f64),
            _ => None,
        };
        let max_s = crate::engine::time::MAX_SECONDS;
        match (self, value) {
            (Field::Count(v, min), Value::Count(n)) => {
                let n = u32::try_from(*n).map_err(|_| format!("must be at most {}", u32::MAX))?;
                if n < *min {
                    return Err(format!("must be at least {min}"));
                }
                **v = n;
            }
            (Field::CountUpTo(v, min, max), Value::Count(n)) => {
                if *n < u64::from(*min) || *n > u64::from(*max) {
                    return Err(format!("must be between {min} and {max}"));
                }
                **v = *n as u32;
            }
            (Field::OptionalCount(v), Value::Count(n)) => {
                **v = Some(u32::try_from(*n).map_err(|_| format!("must be at most {}, or `unbounded`", u32::MAX))?);
            }
            (Field::OptionalCount(v), Value::Unset) => **v = None,
            (Field::Real(v, min, max), x) if real(x).is_some() => {
                let x = real(x).unwrap_or_default();
                if !(x >= *min && x <= *max) {
                    return Err(format!("must be between {min} and {max}"));
                }
                **v = x;
            }
            (Field::Seconds(v), x) if real(x).is_some() => {
                let x = real(x).unwrap_or_default();
                if !(x >= 0.0 && x <= max_s) {
                    return Err(format!("must be a number of seconds from 0 to {max_s:e}"));
                }
                **v = x;
            }
            (Field::PositiveSeconds(v), x) if real(x).is_some() => {
                let x = real(x).unwrap_or_default();
                if !(x > 0.0 && x <= max_s) {
                    return Err(format!("must be a number of seconds above 0 and at most {max_s:e}"));
                }
                **v = x;
            }
            (Field::OptionalSeconds(v), Value::Unset) => **v = None,
            (Field::OptionalSeconds(v), x) if real(x).is_some() => {
                let x = real(x).unwrap_or_default();
                if !(x > 0.0 && x <= max_s) {
                    return Err(format!("must be a number of seconds above 0 and at most {max_s:e}, or `none`"));
                }
                **v = Some(x);
            }
            (Field::OptionalSecondsOrZero(v), Value::Unset) => **v = None,
            (Field::OptionalSecondsOrZero(v), x) if real(x).is_some() => {
                let x = real(x).unwrap_or_default();
                if !(x >= 0.0 && x <= max_s) {
                    return Err(format!("must be a number of seconds from 0 to {max_s:e}, or `none`"));
                }
                **v = Some(x);
            }
            (Field::Flag(v), Value::Flag(b)) => **v = *b,
            (Field::Choice(c), Value::Choice(name)) => {
                if !c.select(name) {
                    return Err(choice_error(c.names()));
                }
            }
            // `none` is read as "no value", but for a choice that has a variant named `none`
            // (a retry's jitter) it is that variant.
            (Field::Choice(c), Value::Unset) if c.names().contains(&"none") => {
                c.select("none");
            }
            (Field::Points(v), Value::Points(points)) => {
                check_points(points)?;
                v.clone_from(points);
            }
            (field, _) => return Err(format!("expects {}", describe(&field.kind()))),
        }
        Ok(())
    }
}

/// Every field of `p` whose value is outside its bounds, as (relative path, message).
pub fn out_of_bounds(p: &mut dyn Params) -> Vec<(String, String)> {
    struct Bounds {
        prefix: Vec<String>,
        out: Vec<(String, String)>,
    }
    impl Visitor for Bounds {
        fn field(&mut self, name: &str, mut field: Field<'_>, _help: &'static str) {
            if let Err(e) = field.validate() {
                let mut path = self.prefix.clone();
                path.push(name.to_string());
                let value = field.get();
                self.out.push((path.join("."), format!("`{name}` {e}, got {value}")));
            }
        }
        fn group(&mut self, name: &str, params: &mut dyn Params) {
            self.prefix.push(name.to_string());
            params.visit(self);
            self.prefix.pop();
        }
    }
    let mut b = Bounds { prefix: Vec::new(), out: Vec::new() };
    p.visit(&mut b);
    b.out
}

fn choice_error(names: &[&str]) -> String {
    format!("must be one of: {}", names.join(", "))
}

/// Human description of a kind, used in errors and listings.
pub fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Count { min } => format!("an integer ≥ {min}"),
        Kind::OptionalCount => "an integer or `unbounded`".into(),
        Kind::Real { min, max } if max.is_infinite() => format!("a number ≥ {min}"),
        Kind::Real { min, max } => format!("a number in [{min}, {max}]"),
        Kind::Seconds => "a duration in seconds".into(),
        Kind::OptionalSeconds => "a duration in seconds or `none`".into(),
        Kind::Flag => "`true` or `false`".into(),
        Kind::Choice(names) => format!("one of {}", names.join(", ")),
        Kind::Points => "a list of (time s, value) points, e.g. `[(0, 1), (60, 3)]`".into(),
    }
}

/// Checks a schedule's points: at least one, times increasing from 0 to the clock's range,
/// multipliers ≥ 0, all finite.
pub fn check_points(points: &[(f64, f64)]) -> Result<(), String> {
    let max_s = crate::engine::time::MAX_SECONDS;
    let finite = points.iter().all(|(t, m)| t.is_finite() && (0.0..=max_s).contains(t) && m.is_finite() && *m >= 0.0);
    if points.is_empty() || !finite || !points.windows(2).all(|w| w[0].0 < w[1].0) {
        return Err(format!(
            "must be (time, multiplier) pairs with increasing times from 0 to {max_s:e} s and multipliers ≥ 0, \
             e.g. `[(0, 1), (60, 3)]`"
        ));
    }
    Ok(())
}

/// Parses the text of a value (`--set p=TEXT`, timeline `= TEXT`).
pub fn parse_value(text: &str) -> Value {
    let t = text.trim();
    match t {
        "true" => return Value::Flag(true),
        "false" => return Value::Flag(false),
        "unbounded" | "none" | "None" => return Value::Unset,
        _ => {}
    }
    if t.starts_with('[')
        && let Ok(points) = ron::from_str::<Vec<(f64, f64)>>(t)
    {
        return Value::Points(points);
    }
    if let Ok(n) = t.parse::<u64>() {
        return Value::Count(n);
    }
    if let Ok(x) = t.parse::<f64>()
        && x.is_finite()
    {
        return Value::Real(x);
    }
    Value::Choice(t.to_ascii_lowercase())
}

/// One parameter as listed for the inspector and `sluice params`.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamInfo {
    pub path: String,
    pub kind: Kind,
    pub value: Value,
    pub help: &'static str,
}

/// Collects every parameter under a prefix.
pub struct Lister {
    prefix: Vec<String>,
    pub out: Vec<ParamInfo>,
}

impl Lister {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: vec![prefix.to_string()], out: Vec::new() }
    }
}

impl Visitor for Lister {
    fn field(&mut self, name: &str, field: Field<'_>, help: &'static str) {
        let mut path = self.prefix.join(".");
        path.push('.');
        path.push_str(name);
        self.out.push(ParamInfo { path, kind: field.kind(), value: field.get(), help });
    }
    fn group(&mut self, name: &str, params: &mut dyn Params) {
        self.prefix.push(name.to_string());
        params.visit(self);
        self.prefix.pop();
    }
}

/// Finds the field at `path` (relative, dot-separated) and applies `op` to it.
pub struct Finder<'p, F: FnMut(&mut Field<'_>)> {
    path: Vec<&'p str>,
    depth: usize,
    op: F,
    pub found: bool,
    /// Every path seen, for did-you-mean suggestions.
    pub seen: Vec<String>,
    prefix: Vec<String>,
}

impl<'p, F: FnMut(&mut Field<'_>)> Finder<'p, F> {
    pub fn new(path: &'p str, op: F) -> Self {
        Self { path: path.split('.').collect(), depth: 0, op, found: false, seen: Vec::new(), prefix: Vec::new() }
    }
}

impl<F: FnMut(&mut Field<'_>)> Visitor for Finder<'_, F> {
    fn field(&mut self, name: &str, mut field: Field<'_>, _help: &'static str) {
        let mut full = self.prefix.clone();
        full.push(name.to_string());
        self.seen.push(full.join("."));
        if self.depth + 1 == self.path.len() && self.path[self.depth] == name {
            (self.op)(&mut field);
            self.found = true;
        }
    }
    fn group(&mut self, name: &str, params: &mut dyn Params) {
        self.prefix.push(name.to_string());
        let matches = self.path.get(self.depth) == Some(&name);
        // Descend always for the listing of suggestions, but only match inside the right group.
        if matches {
            self.depth += 1;
            params.visit(self);
            self.depth -= 1;
        } else {
            let saved = std::mem::take(&mut self.path);
            params.visit(self);
            self.path = saved;
        }
        self.prefix.pop();
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate to `word`, if it is close enough to be a plausible typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Implements [`Choice`] for a fieldless enum from a list of (name, variant) pairs.
#[macro_export]
macro_rules! choice_enum {
    ($ty:ty { $($name:literal => $variant:expr),+ $(,)? }) => {
        impl $crate::params::Choice for $ty {
            fn names(&self) -> &'static [&'static str] {
                &[$($name),+]
            }
            fn current(&self) -> &'static str {
                $(if *self == $variant { return $name; })+
                ""
            }
            fn select(&mut self, name: &str) -> bool {
                $(if name == $name { *self = $variant; return true; })+
                false
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Inner {
        capacity: Option<u32>,
    }
    impl Params for Inner {
        fn visit(&mut self, v: &mut dyn Visitor) {
            v.field("capacity", Field::OptionalCount(&mut self.capacity), "waiting places");
        }
    }
    struct Outer {
        workers: u32,
        queue: Inner,
    }
    impl Params for Outer {
        fn visit(&mut self, v: &mut dyn Visitor) {
            v.field("workers", Field::Count(&mut self.workers, 0), "servers");
            v.group("queue", &mut self.queue);
        }
    }

    #[test]
    fn finder_sets_nested_fields_and_lists_suggestions() {
        let mut o = Outer { workers: 1, queue: Inner { capacity: None } };
        let mut f = Finder::new("queue.capacity", |field| field.set(&Value::Count(7)).unwrap());
        o.visit(&mut f);
        assert!(f.found);
        assert_eq!(o.queue.capacity, Some(7));
        let mut f = Finder::new("queue.capacty", |_| {});
        o.visit(&mut f);
        assert!(!f.found);
        assert_eq!(suggest("queue.capacty", f.seen.iter().map(String::as_str)), Some("queue.capacity"));
        let mut l = Lister::new("server");
        o.visit(&mut l);
        let paths: Vec<_> = l.out.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["server.workers", "server.queue.capacity"]);
    }

    #[test]
    fn values_parse_and_check_bounds() {
        assert_eq!(parse_value("3"), Value::Count(3));
        assert_eq!(parse_value("2.5"), Value::Real(2.5));
        assert_eq!(parse_value("unbounded"), Value::Unset);
        assert_eq!(parse_value("LIFO"), Value::Choice("lifo".into()));
        let mut p = 0.5;
        assert!(Field::Real(&mut p, 0.0, 1.0).set(&Value::Real(1.5)).is_err());
        assert!(Field::Real(&mut p, 0.0, 1.0).set(&Value::Count(1)).is_ok());
        assert_eq!(p, 1.0);
    }

    #[test]
    fn points_round_trip_through_text_and_are_checked() {
        let text = "[(0, 1), (12.5, 3), (60, 0)]";
        let value = parse_value(text);
        assert_eq!(value, Value::Points(vec![(0.0, 1.0), (12.5, 3.0), (60.0, 0.0)]));
        assert_eq!(value.to_string(), text);
        let mut points = vec![(0.0, 1.0)];
        assert!(Field::Points(&mut points).set(&value).is_ok());
        assert_eq!(points.len(), 3);
        for bad in ["[(5, 1), (2, 1)]", "[]", "[(0, -1)]", "[(1, 1), (1, 2)]"] {
            let err = Field::Points(&mut points).set(&parse_value(bad)).unwrap_err();
            assert!(err.contains("increasing times"), "{bad}: {err}");
        }
        // Not a list at all: the error says what to write.
        let err = Field::Points(&mut points).set(&parse_value("[(0, 1")).unwrap_err();
        assert!(err.contains("[(0, 1), (60, 3)]"), "{err}");
        assert_eq!(points.len(), 3);
    }
}
