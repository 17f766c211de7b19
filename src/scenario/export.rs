//! A run's story as a scenario file: the scenario as loaded, with every scripted and user change
//! on its timeline at the sim time it was (or will be) applied.
//!
//! Writing the live values into the node specs instead would lose the story: an exported
//! cascade would start already slowed, and its incident would never happen. With the changes on
//! the timeline, `sluice run` on the export replays the session: a change applies at T after
//! every event at T, whoever made it, so the reports agree (tested in
//! `tests/integration/gui.rs`). Only each entry's origin differs: in the export, every change
//! is scripted.

use crate::engine::Sim;
use crate::engine::kernel::{EntryOrigin, TimelineEntry};
use crate::engine::time::nanos_to_secs;

use super::schema::Scenario;

/// The loaded scenario with the run's seed and all its non-automatic timeline entries (scripted
/// and user changes, in application order; the undos of timed changes follow from their `for`).
pub fn with_history(sim: &Sim) -> Scenario {
    let mut scn = sim.scenario().clone();
    scn.seed = sim.seed();
    scn.timeline = sim.timeline().iter().filter(|e| e.origin != EntryOrigin::Revert).map(timeline_line).collect();
    scn
}

/// One timeline entry in the scenario's `at T [for D] set PATH = VALUE` syntax. Times are
/// written with the shortest decimal that converts back to the same nanosecond.
pub fn timeline_line(e: &TimelineEntry) -> String {
    let duration = e.duration.map(|d| format!("for {} ", nanos_to_secs(d))).unwrap_or_default();
    format!("at {} {duration}set {} = {}", nanos_to_secs(e.at), e.path, e.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_timeline_entry;

    #[test]
    fn lines_parse_back_to_the_same_entry_to_the_nanosecond() {
        for at in [0, 1, 999_999_999, 60_000_000_000, 123_456_789_012, 9_007_199_254_740_000] {
            let e = TimelineEntry {
                at,
                path: "db.slowdown".into(),
                value: crate::params::parse_value("6"),
                duration: Some(at / 3 + 1),
                origin: EntryOrigin::User,
            };
            let back = parse_timeline_entry(&timeline_line(&e)).unwrap();
            assert_eq!((back.at, back.duration, &back.path, &back.value), (e.at, e.duration, &e.path, &e.value));
        }
    }
}
