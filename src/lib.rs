//! # Sluice
//!
//! A deterministic discrete-event simulator of backpressure in queueing networks: bounded
//! queues, rejection, timeouts, retries and circuit breakers, on Bevy's ECS.
//!
//! ```text
//!  scenario/ (RON → validated Scenario) ──spawn──▶ World: node & edge entities
//!                                                      │ components: Source, Service,
//!                                                      │ Link (policy + breaker), NodeStats
//!  engine/   Sim ──run_until/step/set──▶ SimSchedule ──▶ kernel::advance (event loop)
//!  metrics/  NodeStats → Series (bounded) → Report (JSON / table / CSV)
//!  params/   one registry of `node.field.sub` paths: --set, timeline, GUI inspector
//!  experiment/ sweeps, replications & CIs, MSER-5, A/B on common seeds, recovery, charts, shards
//!  cli/      sluice run | check | params | gui | bench | sweep | compare | merge
//!  gui/      (feature `gui`) Bevy window + egui panels driving the same Sim
//! ```
//!
//! Quick start:
//! ```
//! let mut sim = sluice::Sim::from_file("scenarios/mmck.ron", Some(7)).unwrap();
//! sim.run_until(100.0);
//! sim.set("server.workers", "3").unwrap();
//! sim.run_to_end();
//! let report = sim.report();
//! assert!(report.nodes["server"].completed > 0);
//! ```

// Handlers end a component borrow with `drop(..)` before calling the next handler that needs the
// same query: explicit and flat, where nested scopes would bury the control flow.
#![allow(clippy::drop_non_drop)]

pub mod cli;
pub mod edge;
pub mod engine;
pub mod experiment;
#[cfg(feature = "gui")]
pub mod gui;
pub mod metrics;
pub mod model;
pub mod params;
pub mod scenario;
pub mod station;

pub use engine::sim::{EdgeView, NodeKind, NodeView};
pub use engine::{Sim, Stop};
pub use metrics::report::Report;
pub use scenario::{Diagnostic, ScenarioError};
