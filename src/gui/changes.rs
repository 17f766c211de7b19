//! What a facilitator did during a session: the changes made from the app (with what each
//! replaced, so the last can be undone) and bookmarks dropped on the timeline with a note.

/// One change made from the app.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeRecord {
    /// Sim time it was made, seconds.
    pub at: f64,
    pub path: String,
    pub value: String,
    /// The value it replaced, which an undo restores.
    pub previous: String,
    /// For a timed change (a fault), how long it lasts.
    pub secs: Option<f64>,
    /// Sim time it was undone, if it was.
    pub undone_at: Option<f64>,
}

impl ChangeRecord {
    /// Whether the change still has an effect at `now` (not undone, not a timed change that
    /// has run out).
    pub fn in_force(&self, now: f64) -> bool {
        self.undone_at.is_none() && self.secs.is_none_or(|s| now < self.at + s)
    }

    /// One line for the changes list: "t = 62.0 s  db.slowdown = 6 for 20 s (was 1)".
    pub fn describe(&self) -> String {
        let timed = self.secs.map(|s| format!(" for {s} s")).unwrap_or_default();
        let undone = self.undone_at.map(|t| format!(", undone at {t:.1} s")).unwrap_or_default();
        format!("t = {:.1} s  {} = {}{timed} (was {}){undone}", self.at, self.path, self.value, self.previous)
    }
}

/// Adds a change to the list. Repeated edits of one field with nothing in between (dragging a
/// value, clicking + several times) are one change: its value is the latest, its `previous`
/// the value before the first, so one undo returns to where the user started.
pub fn record(list: &mut Vec<ChangeRecord>, change: ChangeRecord) {
    if let Some(last) = list.last_mut()
        && last.path == change.path
        && last.secs.is_none()
        && change.secs.is_none()
        && last.undone_at.is_none()
    {
        last.value = change.value;
        return;
    }
    list.push(change);
}

/// The most recent change that an undo would revert now.
pub fn last_undoable(list: &[ChangeRecord], now: f64) -> Option<usize> {
    list.iter().rposition(|c| c.in_force(now))
}

/// A facilitator's mark on the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Bookmark {
    /// Sim time, seconds.
    pub t: f64,
    pub note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(at: f64, path: &str, value: &str, previous: &str, secs: Option<f64>) -> ChangeRecord {
        ChangeRecord { at, path: path.into(), value: value.into(), previous: previous.into(), secs, undone_at: None }
    }

    #[test]
    fn repeated_edits_of_one_field_are_one_change() {
        let mut list = Vec::new();
        record(&mut list, change(5.0, "s.workers", "5", "4", None));
        record(&mut list, change(5.0, "s.workers", "6", "5", None));
        record(&mut list, change(7.0, "s.workers", "7", "6", None));
        assert_eq!(list, vec![change(5.0, "s.workers", "7", "4", None)]);
        record(&mut list, change(8.0, "db.slowdown", "6", "1", Some(20.0)));
        record(&mut list, change(9.0, "db.slowdown", "6", "6", Some(20.0)));
        assert_eq!(list.len(), 3, "timed changes (faults) are each their own");
    }

    #[test]
    fn a_timed_change_that_ran_out_is_not_undone() {
        let list = vec![change(5.0, "s.workers", "5", "4", None), change(10.0, "db.up", "false", "true", Some(20.0))];
        assert_eq!(last_undoable(&list, 15.0), Some(1));
        assert_eq!(last_undoable(&list, 31.0), Some(0));
        assert!(list[1].describe().contains("db.up = false for 20 s (was true)"));
    }
}
