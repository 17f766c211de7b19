//! Run limits: the simulator's own memory and progress stay bounded whatever the model does.
//!
//! A model may be unbounded (an overloaded queue without capacity, a blocking overflow without
//! a timeout); the machine running it is not. Two limits end a run early, cleanly, with the
//! report up to that point and a message naming the limit and how to change it:
//! * the **population cap**: requests (and exchanges) alive at once, the simulator's memory;
//! * **events at one instant**: a loop that never lets simulated time advance (a zero-time
//!   route cycle, a closed loop that thinks and is served in zero time) would otherwise run
//!   forever at one instant.
//!
//! Both are checked every [`CHECK_EVERY`] events, counted from the start of the run, so where a
//! run stops depends only on the model, never on how it is chunked (`run_until` in steps, GUI
//! frames): determinism holds for stopped runs too. The check costs one mask and branch per
//! event.

use std::fmt;

use super::time::{Nanos, nanos_to_secs};

/// Default population cap: about 200 MB of simulator state at ~100 bytes a request.
pub const DEFAULT_MAX_POPULATION: u64 = 2_000_000;

/// Default bound on events handled at one simulated instant. A model without a zero-time loop
/// handles a bounded number of events per request at one instant, far below this even with a
/// population at the cap.
pub const DEFAULT_MAX_EVENTS_AT_INSTANT: u64 = 50_000_000;

/// Limits are checked when the event count is a multiple of this (a power of two).
pub const CHECK_EVERY: u64 = 4096;

/// Why a run stopped before its horizon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// More requests were alive at once than the cap allows.
    PopulationCap { at: Nanos, population: u64, cap: u64 },
    /// Too many events at one instant: time stopped advancing. `nodes` are the nodes with
    /// events pending at that instant (the loop's members).
    TimeStopped { at: Nanos, events: u64, nodes: Vec<String> },
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::PopulationCap { at, population, cap } => write!(
                f,
                "stopped at {}s: {population} requests alive at once, over the population cap of {cap}; \
                 the model grows without bound (an unbounded queue under overload, a `Block` overflow \
                 without `block_timeout`): bound it (a queue `capacity`, a `block_timeout`), or raise the \
                 cap with `max_population: N` in the scenario or `--max-population N`",
                nanos_to_secs(*at)
            ),
            Stop::TimeStopped { at, events, nodes } => write!(
                f,
                "stopped at {}s: over {events} events at this one instant, so simulated time stopped \
                 advancing; a loop runs without time passing through `{}`: give a service on it a \
                 positive service time, route onwards with p < 1, or give a closed loop a think time",
                nanos_to_secs(*at),
                nodes.join("`, `")
            ),
        }
    }
}

/// The limits of one run and the progress counter they watch.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_population: u64,
    pub max_events_at_instant: u64,
    /// The instant of the last check, and how many events have been seen at it (in steps of
    /// [`CHECK_EVERY`]).
    instant: Nanos,
    at_instant: u64,
    pub stopped: Option<Stop>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_population: DEFAULT_MAX_POPULATION,
            max_events_at_instant: DEFAULT_MAX_EVENTS_AT_INSTANT,
            instant: 0,
            at_instant: 0,
            stopped: None,
        }
    }
}

impl Limits {
    /// Called every [`CHECK_EVERY`] events: true when `events_at_instant` passes the bound.
    pub fn time_stopped(&mut self, now: Nanos) -> bool {
        if now == self.instant {
            self.at_instant += CHECK_EVERY;
        } else {
            self.instant = now;
            self.at_instant = 0;
        }
        self.at_instant >= self.max_events_at_instant
    }

    /// Events seen at the current instant so far (a multiple of [`CHECK_EVERY`]).
    pub fn events_at_instant(&self) -> u64 {
        self.at_instant
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_at_one_instant_are_counted_per_instant() {
        let mut l = Limits { max_events_at_instant: 3 * CHECK_EVERY, ..Limits::default() };
        assert!(!l.time_stopped(5));
        assert!(!l.time_stopped(5));
        assert!(!l.time_stopped(6), "a new instant starts the count again");
        assert!(!l.time_stopped(6));
        assert!(!l.time_stopped(6));
        assert!(l.time_stopped(6));
        assert_eq!(l.events_at_instant(), 3 * CHECK_EVERY);
    }
}
