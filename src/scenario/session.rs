//! Recorded sessions: a scenario, a seed and the live changes made to it, replayable exactly.
//!
//! The desktop app saves one of these; loading it rebuilds the run and applies each change at
//! the sim time it was made, which reproduces the live session bit for bit (the engine applies a
//! change at T after every event at T, however the live clock was stepped).

use serde::{Deserialize, Serialize};

use crate::engine::Sim;
use crate::engine::kernel::{EntryOrigin, TimelineEntry};
use crate::engine::time::nanos_to_secs;
use crate::scenario::ScenarioError;

/// One live change: at `at` nanoseconds, `path = value`, undone after `duration` if given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tweak {
    pub at: u64,
    pub path: String,
    pub value: String,
    #[serde(default)]
    pub duration: Option<u64>,
}

/// A saved session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Where the scenario came from (for display).
    pub scenario_name: String,
    /// The scenario's full text, so a session file stands alone.
    pub scenario_text: String,
    pub seed: u64,
    pub tweaks: Vec<Tweak>,
    /// Sim time reached when the session was saved, nanoseconds.
    pub until: u64,
}

impl Session {
    /// Captures a live run: its scenario text, seed and user changes so far.
    pub fn record(name: &str, text: &str, sim: &Sim) -> Self {
        let tweaks = sim
            .timeline()
            .iter()
            .filter(|e| e.origin == EntryOrigin::User && e.at <= sim.now_nanos())
            .map(|e: &TimelineEntry| Tweak {
                at: e.at,
                path: e.path.clone(),
                value: e.value.to_string(),
                duration: e.duration,
            })
            .collect();
        Self {
            scenario_name: name.to_string(),
            scenario_text: text.to_string(),
            seed: sim.seed(),
            tweaks,
            until: sim.now_nanos(),
        }
    }

    /// Builds the run and applies every change at its time; stops at `until`.
    pub fn replay(&self) -> Result<Sim, ScenarioError> {
        let mut sim = Sim::from_text(&self.scenario_name, &self.scenario_text, Some(self.seed))?;
        for t in &self.tweaks {
            sim.run(t.at, None);
            let applied = match t.duration {
                Some(d) => sim.set_for(&t.path, &t.value, nanos_to_secs(d)),
                None => sim.set(&t.path, &t.value),
            };
            if let Err(e) = applied {
                return Err(ScenarioError {
                    diagnostics: vec![crate::scenario::Diagnostic {
                        file: self.scenario_name.clone(),
                        line: 1,
                        col: 1,
                        message: format!("recorded change `{} = {}` no longer applies: {e}", t.path, t.value),
                    }],
                });
            }
        }
        sim.run(self.until.max(sim.now_nanos()), None);
        Ok(sim)
    }

    /// The session as RON text.
    pub fn to_ron(&self) -> String {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default()).unwrap_or_default()
    }

    /// Parses a session file.
    pub fn from_ron(name: &str, text: &str) -> Result<Self, ScenarioError> {
        ron::from_str(text).map_err(|e| ScenarioError {
            diagnostics: vec![crate::scenario::Diagnostic {
                file: name.to_string(),
                line: e.span.start.line.max(1),
                col: e.span.start.col.max(1),
                message: format!("{}; a session file is written by the app's Save session", e.code),
            }],
        })
    }
}
