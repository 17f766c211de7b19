//! The engine's log of notable happenings (breaker transitions, crashes, queue-full and
//! shedding episodes, parameter changes) as typed events, so the app's timeline and the tests match on variants
//! rather than on text.

use std::fmt;

use crate::edge::breaker::BreakerState;
use crate::station::shed::ShedState;

use super::time::Nanos;

/// Something noteworthy that happened, for the app's timeline strip and the tests.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LogEntry {
    pub at: Nanos,
    /// The node or edge (`from->to`) it happened at.
    pub subject: String,
    pub event: LogEvent,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub enum LogEvent {
    /// A request found the queue full; the episode lasts until [`LogEvent::QueueRoom`].
    QueueFull,
    /// The queue has room again after a queue-full episode.
    QueueRoom,
    /// The node went down (a crash or `up = false`).
    Crashed,
    /// The node came back up.
    Restarted,
    /// A breaker changed state.
    Breaker { from: BreakerState, to: BreakerState },
    /// A parameter was changed (scripted, by a user, or by the undo of a timed change).
    Changed { path: String, value: String },
    /// The run hit one of its limits (the population cap, time that stopped advancing).
    RunStopped { reason: String },
    /// Priority shedding changed what it refuses (an episode begins, deepens or ends).
    Shedding { from: ShedState, to: ShedState },
    /// The node's memory passed its limit: the OOM killer ended it (everything inside is lost);
    /// it restarts after `restart_in_s` (CrashLoopBackOff).
    OomKilled { used_mb: f64, restart_in_s: f64 },
    /// The autoscaler decided on a new worker count (new workers serve after the provisioning
    /// delay; removed ones go at once).
    Scaled { from: u32, to: u32 },
    /// Workers the autoscaler asked for finished provisioning and serve from now.
    WorkersReady { count: u32, workers: u32 },
}

impl LogEvent {
    /// Whether it belongs in the report's `incidents`: what happened to a node or an edge, not
    /// a parameter change (the report's `timeline`) nor a queue-full or shedding episode (many,
    /// and summed in the counters).
    pub fn is_incident(&self) -> bool {
        !matches!(
            self,
            LogEvent::Changed { .. } | LogEvent::QueueFull | LogEvent::QueueRoom | LogEvent::Shedding { .. }
        )
    }

    /// How much a room should notice it: 0 routine, 1 a warning (queue full), 2 a failure
    /// (a breaker opening, a crash).
    pub fn severity(&self) -> u8 {
        match self {
            LogEvent::Crashed
            | LogEvent::OomKilled { .. }
            | LogEvent::RunStopped { .. }
            | LogEvent::Breaker { to: BreakerState::Open, .. } => 2,
            LogEvent::QueueFull | LogEvent::Shedding { to: ShedState::CriticalOnly, .. } => 1,
            _ => 0,
        }
    }
}

impl fmt::Display for LogEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogEvent::QueueFull => f.write_str("queue full"),
            LogEvent::QueueRoom => f.write_str("queue has room again"),
            LogEvent::Crashed => f.write_str("crashed"),
            LogEvent::Restarted => f.write_str("restarted"),
            LogEvent::Breaker { from, to } => write!(f, "breaker {} -> {}", from.name(), to.name()),
            LogEvent::Changed { path, value } => write!(f, "set {path} = {value}"),
            LogEvent::RunStopped { reason } => f.write_str(reason),
            LogEvent::Shedding { from, to } => write!(f, "shedding: {} -> {}", from.name(), to.name()),
            LogEvent::OomKilled { used_mb, restart_in_s } => {
                write!(f, "OOM-killed at {used_mb:.0} MB; restarts in {restart_in_s:.0} s")
            }
            LogEvent::Scaled { from, to } => write!(f, "autoscaler: {from} -> {to} workers"),
            LogEvent::WorkersReady { count, workers } => write!(f, "{count} new worker(s) ready: {workers} serving"),
        }
    }
}
