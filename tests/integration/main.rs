//! Sluice's integration tests: one binary (faster to link than one per file), one module per
//! behaviour.
//!
//! * `theory` — queueing formulas vs simulation, with confidence intervals from replications.
//! * `determinism` — same inputs ⇒ identical reports, whatever the stepping.
//! * `experiments` — sweeps, shards and merge (byte-identical), CI coverage, MSER-5, A/B on
//!   common seeds, the shipped sweeps' claims, and the experiment commands with hostile input.
//! * `feedback` — the feedback-loop stories: an OOM crash loop, an autoscaler behind a spike,
//!   an oscillating adaptive rate and its damped twin, congestion collapse and an adaptive limit.
//! * `policies` — retry attempt distribution and backoff delays; breaker transitions.
//! * `phenomena` — the behaviours users look for (cascades, blocking backpressure, crashes).
//! * `conservation` — the counting identity as a property over random scenarios.
//! * `bad_input` — broken scenarios give located errors and never panic.
//! * `hardening` — hostile input (issue 12): one regression test per item.
//! * `fuzz` — random structured scenarios: no panic, no hang, located errors, conservation,
//!   determinism (a longer campaign with `SLUICE_FUZZ_CASES`).
//! * `cli` — the binary's commands, output formats and exit codes.
//! * `scenarios` — every shipped scenario validates and runs.
//! * `watch_claims` — each shipped scenario's *what to watch* notes hold in a headless run.
//! * `gui` (feature `gui`) — panels via egui_kittest, UI session replay, Xvfb screenshot.
//! * `gui_room` (feature `gui`) — what a room sees: plots that follow the clock, colours,
//!   the A/B baseline, keyboard and presenter mode, exports, a real window played on.

mod bad_input;
mod cli;
mod conservation;
mod determinism;
mod experiments;
mod feedback;
mod fuzz;
#[cfg(feature = "gui")]
mod gui;
#[cfg(feature = "gui")]
mod gui_room;
mod hardening;
mod phenomena;
mod policies;
mod scenarios;
mod stories;
mod theory;
mod util;
mod watch_claims;
