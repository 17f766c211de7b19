//! The deterministic core: simulated time, the calendar, random streams, the event loop and
//! the [`Sim`] handle that the CLI, the tests and the GUI all drive.
//!
//! ```text
//!   SimSchedule (single-threaded, ambiguity = error)
//!   ┌──────────────────────┐   ┌───────────────────────────────┐
//!   │ SimSystems::Advance  │ → │ SimSystems::Publish           │
//!   │  kernel::advance:    │   │  (GUI-side readers hook here) │
//!   │  events ≤ horizon,   │   └───────────────────────────────┘
//!   │  samples, timeline   │
//!   └──────────────────────┘
//! ```
//! Nothing here reads the wall clock or iterates a hash map; every random draw comes from a
//! stream named in [`rng`].

pub mod calendar;
pub mod kernel;
pub mod limits;
pub mod live;
pub mod log;
pub mod rng;
pub mod sim;
pub mod time;
pub mod timeline;

use bevy::app::{App, Plugin};
use bevy::ecs::schedule::{
    IntoScheduleConfigs as _, LogLevel, Schedule, ScheduleBuildSettings, ScheduleLabel, SingleThreadedExecutor,
    SystemSet,
};

pub use limits::Stop;
pub use sim::Sim;

/// The schedule that advances the simulation. Run it with a [`kernel::RunRequest`] in place.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SimSchedule;

/// What [`SimSchedule`]'s systems are ordered by.
#[derive(SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SimSystems {
    /// Process events and boundaries up to the requested horizon.
    Advance,
    /// Read-only consumers of the state after advancing (GUI mirrors, live probes).
    Publish,
}

/// Registers the simulation schedule. The scenario itself is spawned by
/// [`crate::scenario::build::spawn_scenario`].
pub struct SimPlugin;

impl Plugin for SimPlugin {
    fn build(&self, app: &mut App) {
        let mut schedule = Schedule::new(SimSchedule);
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule
            .set_build_settings(ScheduleBuildSettings { ambiguity_detection: LogLevel::Error, ..Default::default() });
        schedule.configure_sets((SimSystems::Advance, SimSystems::Publish).chain());
        schedule.add_systems(kernel::advance.in_set(SimSystems::Advance));
        app.add_schedule(schedule);
    }
}
