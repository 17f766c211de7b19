//! The timeline: scheduled parameter changes, applied in (time, order added).
//!
//! Pending entries live in a `BTreeMap` keyed by (time, sequence), so adding one is O(log n)
//! wherever it lands; an `at T for D` entry adds its undo at T + D while the run goes, which in
//! a sorted `Vec` cost a shift of every later entry (quadratic over a long script). Applied
//! entries move to a `Vec` in the order they were applied. [`Timeline::entries`], the whole
//! list in order for the GUI's strip and saved sessions, is built on demand and cached until the
//! next change.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::time::Nanos;
use crate::params::Value;

/// Where and why a timeline entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryOrigin {
    /// Written in the scenario's `timeline`.
    Scenario,
    /// Applied live (`Sim::set`, `--set` during a run, the GUI).
    User,
    /// The automatic undo of an entry with a duration (`for 30`).
    Revert,
}

/// One scheduled parameter change.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimelineEntry {
    pub at: Nanos,
    pub path: String,
    pub value: Value,
    /// Undo the change after this long.
    pub duration: Option<Nanos>,
    pub origin: EntryOrigin,
}

/// Scheduled and applied parameter changes.
#[derive(Debug, Default)]
pub struct Timeline {
    applied: Vec<TimelineEntry>,
    pending: BTreeMap<(Nanos, u64), TimelineEntry>,
    /// Insertion counter: entries at the same time apply in the order they were added.
    seq: u64,
    /// `applied` then `pending`, built by [`Timeline::entries`] and dropped on any change.
    all: OnceLock<Vec<TimelineEntry>>,
}

impl Timeline {
    /// Adds an entry, after every existing entry at the same time.
    pub fn insert(&mut self, entry: TimelineEntry) {
        self.pending.insert((entry.at, self.seq), entry);
        self.seq += 1;
        self.all.take();
    }

    /// Time of the next entry not yet applied.
    #[inline]
    pub fn next_time(&self) -> Option<Nanos> {
        self.pending.first_key_value().map(|((t, _), _)| *t)
    }

    /// Takes the next pending entry if it is due at `t`, recording it as applied.
    pub fn pop_due(&mut self, t: Nanos) -> Option<TimelineEntry> {
        if self.next_time() != Some(t) {
            return None;
        }
        let (_, entry) = self.pending.pop_first()?;
        self.applied.push(entry.clone());
        self.all.take();
        Some(entry)
    }

    /// Every entry, applied or pending, in order.
    pub fn entries(&self) -> &[TimelineEntry] {
        self.all.get_or_init(|| self.applied.iter().chain(self.pending.values()).cloned().collect())
    }

    /// The entries applied so far, in the order they were applied.
    pub fn applied_entries(&self) -> &[TimelineEntry] {
        &self.applied
    }

    /// How many entries have been applied.
    pub fn applied(&self) -> usize {
        self.applied.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: Nanos, path: &str) -> TimelineEntry {
        TimelineEntry { at, path: path.into(), value: Value::Count(1), duration: None, origin: EntryOrigin::User }
    }

    #[test]
    fn entries_apply_by_time_then_insertion_order() {
        let mut t = Timeline::default();
        for (at, p) in [(5, "a"), (3, "b"), (5, "c"), (3, "d")] {
            t.insert(entry(at, p));
        }
        let order = |t: &Timeline| t.entries().iter().map(|e| e.path.clone()).collect::<Vec<_>>();
        assert_eq!(order(&t), ["b", "d", "a", "c"]);
        assert!(t.pop_due(5).is_none(), "not due yet");
        assert_eq!(t.pop_due(3).map(|e| e.path), Some("b".into()));
        t.insert(entry(3, "e"));
        assert_eq!(order(&t), ["b", "d", "e", "a", "c"]);
        assert_eq!(t.applied(), 1);
        assert_eq!(t.applied_entries()[0].path, "b");
    }
}
