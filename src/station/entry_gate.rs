//! Admission control at a station's entry, on queue depth or response time.
//!
//! Seed 003 (backpressure-refusal-essay, "Token buckets and admission control"): "Modern
//! admission control measures the queue depth or response time at the entry and rejects new
//! work when those metrics exceed thresholds, on the principle that accepting work the system
//! cannot finish is worse than rejecting it." The gate refuses an arriving request while the
//! queue holds more than `max_queue` requests, or while the mean response time over the window
//! is above `max_latency`; it admits again as soon as the measured signal falls back. "Exceed"
//! is strict: at exactly the threshold the gate admits.
//!
//! The depth is the queue's length when the request arrives, exact and instant; the response
//! time is a windowed mean ([`ResponseTime`]), so it lags by up to a window. A gate that refuses
//! everything records no new responses: the window then empties and the gate admits again,
//! which is how it probes a recovered station.

use serde::{Deserialize, Serialize};

use crate::engine::time::{MAX_SECONDS, Nanos, secs_to_nanos};
use crate::params::{Field, Params, Visitor};
use crate::station::load::{DEFAULT_WINDOW, MIN_WINDOW, ResponseTime};

/// Admission control at a station's entry (seed 003).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "EntryGate")]
pub struct EntryGateSpec {
    /// Present in the file = enabled; can be switched at run time.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Refuse while more than this many requests wait in the queue (seed 003's "queue depth";
    /// default none: depth is not checked).
    #[serde(default)]
    pub max_queue: Option<u32>,
    /// Refuse while the mean response time over `window` is above this, in seconds (seed 003's
    /// "response time"; default none: not checked).
    #[serde(default)]
    pub max_latency: Option<f64>,
    /// The window of the response-time mean, in seconds (default 1 s, as a load's window).
    #[serde(default = "one_second")]
    pub window: f64,
}

fn yes() -> bool {
    true
}
fn one_second() -> f64 {
    DEFAULT_WINDOW
}

impl Default for EntryGateSpec {
    /// No thresholds, disabled (no `entry_gate:` in the file).
    fn default() -> Self {
        Self { enabled: false, max_queue: None, max_latency: None, window: DEFAULT_WINDOW }
    }
}

impl EntryGateSpec {
    /// The window on the engine's clock.
    pub fn window_nanos(&self) -> Nanos {
        secs_to_nanos(self.window)
    }
}

impl EntryGateSpec {
    /// Absent or disabled: written out of exported scenarios.
    pub fn is_off(&self) -> bool {
        !self.enabled
    }
}

impl Params for EntryGateSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field("enabled", Field::Flag(&mut self.enabled), "admission control at this station's entry");
        v.field(
            "max_queue",
            Field::OptionalCount(&mut self.max_queue),
            "refuse while more than this many wait in the queue; unbounded = not checked",
        );
        v.field(
            "max_latency",
            Field::OptionalSeconds(&mut self.max_latency),
            "refuse while the windowed mean response time is above this; none = not checked",
        );
        v.field(
            "window",
            Field::Real(&mut self.window, MIN_WINDOW, MAX_SECONDS),
            "window of the response-time mean, in seconds (at least 1 µs)",
        );
    }
}

/// Why the gate refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The queue held more than `max_queue`.
    QueueDepth,
    /// The windowed mean response time was above `max_latency`.
    ResponseTime,
}

/// The gate's rule on the measured signals: the reason to refuse a request arriving at `now`
/// to a queue of `queue_len`, or `None` to admit (whatever `spec.enabled` says;
/// [`EntryGate::admit`] checks that). Depth is checked first: it is the instant signal, and a
/// request refused on both counts is counted once.
pub fn refusal(spec: &EntryGateSpec, queue_len: u32, response: &ResponseTime, now: Nanos) -> Option<Refusal> {
    if spec.max_queue.is_some_and(|max| queue_len > max) {
        Some(Refusal::QueueDepth)
    } else if spec.max_latency.is_some_and(|max| response.exceeds(now, secs_to_nanos(max))) {
        Some(Refusal::ResponseTime)
    } else {
        None
    }
}

/// Requests refused at the entry, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EntryGateStats {
    pub refused_queue: u64,
    pub refused_latency: u64,
}

impl EntryGateStats {
    /// All requests refused so far.
    pub fn total(&self) -> u64 {
        self.refused_queue.saturating_add(self.refused_latency)
    }
}

/// A station's entry gate: the response-time window and the counters.
#[derive(Clone, Debug)]
pub struct EntryGate {
    response: ResponseTime,
    pub stats: EntryGateStats,
}

impl EntryGate {
    pub fn new(spec: &EntryGateSpec) -> Self {
        Self { response: ResponseTime::new(spec.window_nanos()), stats: EntryGateStats::default() }
    }

    /// A response left the station at `now`, `latency` after the request arrived at it. Call
    /// on every response (success or error), enabled or not; never on a refusal.
    pub fn record_latency(&mut self, spec: &EntryGateSpec, now: Nanos, latency: Nanos) {
        self.response.set_window(spec.window_nanos());
        self.response.record_latency(now, latency);
    }

    /// The windowed mean response time at `now`, in seconds, for plots and the inspector.
    pub fn mean_latency(&self, now: Nanos) -> Option<f64> {
        self.response.mean(now)
    }

    /// Decides on a request arriving at `now` to a queue of `queue_len` waiting requests (not
    /// counting it, nor those in service): `Ok` admits it, `Err` refuses it (counted by reason).
    /// Call once per arrival, before it joins the queue.
    pub fn admit(&mut self, spec: &EntryGateSpec, now: Nanos, queue_len: u32) -> Result<(), Refusal> {
        self.response.set_window(spec.window_nanos());
        if !spec.enabled {
            return Ok(());
        }
        match refusal(spec, queue_len, &self.response, now) {
            None => Ok(()),
            Some(reason) => {
                let counter = match reason {
                    Refusal::QueueDepth => &mut self.stats.refused_queue,
                    Refusal::ResponseTime => &mut self.stats.refused_latency,
                };
                *counter = counter.saturating_add(1);
                Err(reason)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::out_of_bounds;

    const SECOND: Nanos = 1_000_000_000;
    const MS: Nanos = 1_000_000;

    #[test]
    fn refuses_only_above_the_queue_depth_and_admits_when_it_falls() {
        let spec = EntryGateSpec { enabled: true, max_queue: Some(3), ..EntryGateSpec::default() };
        let mut gate = EntryGate::new(&spec);
        assert_eq!(gate.admit(&spec, 0, 0), Ok(()));
        assert_eq!(gate.admit(&spec, 0, 3), Ok(()));
        assert_eq!(gate.admit(&spec, 0, 4), Err(Refusal::QueueDepth));
        assert_eq!(gate.admit(&spec, 0, u32::MAX), Err(Refusal::QueueDepth));
        assert_eq!(gate.admit(&spec, 1, 3), Ok(()));
        assert_eq!(gate.stats, EntryGateStats { refused_queue: 2, refused_latency: 0 });
        // A limit of 0 refuses whenever anything waits.
        let spec = EntryGateSpec { max_queue: Some(0), ..spec };
        assert_eq!(gate.admit(&spec, 2, 0), Ok(()));
        assert_eq!(gate.admit(&spec, 2, 1), Err(Refusal::QueueDepth));
    }

    #[test]
    fn refuses_only_above_the_response_time_and_admits_when_it_falls() {
        let spec = EntryGateSpec { enabled: true, max_latency: Some(0.2), ..EntryGateSpec::default() };
        let mut gate = EntryGate::new(&spec);
        // No responses yet: no evidence, admit.
        assert_eq!(gate.admit(&spec, 0, 1000), Ok(()));
        gate.record_latency(&spec, 100 * MS, 200 * MS);
        gate.record_latency(&spec, 200 * MS, 200 * MS);
        assert_eq!(gate.mean_latency(300 * MS), Some(0.2));
        assert_eq!(gate.admit(&spec, 300 * MS, 0), Ok(()), "at the threshold: admitted");
        // Mean (0.2 + 0.2 + 0.2 s + 3 ns) / 3 = 0.2 s + 1 ns: just above.
        gate.record_latency(&spec, 300 * MS, 200 * MS + 3);
        assert_eq!(gate.admit(&spec, 300 * MS, 0), Err(Refusal::ResponseTime));
        // Fast responses pull the mean back down.
        gate.record_latency(&spec, 400 * MS, 0);
        assert_eq!(gate.admit(&spec, 400 * MS, 0), Ok(()));
        // Slow ones push it up; once they leave the window (17 buckets of 62.5 ms), it admits.
        gate.record_latency(&spec, 500 * MS, 10 * SECOND);
        assert_eq!(gate.admit(&spec, SECOND, 0), Err(Refusal::ResponseTime));
        assert_eq!(gate.admit(&spec, 1_562_500_000, 0), Ok(()));
        assert_eq!(gate.stats, EntryGateStats { refused_queue: 0, refused_latency: 2 });
    }

    #[test]
    fn depth_is_checked_first_and_counted_once() {
        let spec = EntryGateSpec { enabled: true, max_queue: Some(0), max_latency: Some(0.1), ..Default::default() };
        let mut gate = EntryGate::new(&spec);
        gate.record_latency(&spec, 0, SECOND);
        assert_eq!(gate.admit(&spec, 0, 1), Err(Refusal::QueueDepth));
        assert_eq!(gate.admit(&spec, 0, 0), Err(Refusal::ResponseTime));
        assert_eq!(gate.stats.total(), 2);
    }

    #[test]
    fn without_thresholds_or_disabled_it_admits_everything() {
        let open = EntryGateSpec { enabled: true, ..EntryGateSpec::default() };
        let off = EntryGateSpec { max_queue: Some(0), max_latency: Some(1e-9), ..EntryGateSpec::default() };
        for spec in [open, off] {
            let mut gate = EntryGate::new(&spec);
            gate.record_latency(&spec, 0, SECOND);
            assert_eq!(gate.admit(&spec, 0, u32::MAX), Ok(()));
            assert_eq!(gate.stats.total(), 0);
        }
    }

    #[test]
    fn a_new_window_at_run_time_is_followed() {
        let mut spec = EntryGateSpec { enabled: true, max_latency: Some(0.1), ..EntryGateSpec::default() };
        let mut gate = EntryGate::new(&spec);
        gate.record_latency(&spec, 0, SECOND);
        spec.window = 10.0;
        // The old responses are forgotten with the old grid.
        assert_eq!(gate.admit(&spec, 0, 0), Ok(()));
        gate.record_latency(&spec, 2 * SECOND, SECOND);
        assert_eq!(gate.admit(&spec, 10 * SECOND, 0), Err(Refusal::ResponseTime));
    }

    #[test]
    fn spec_defaults_bounds_and_file_names() {
        let mut spec = EntryGateSpec::default();
        assert!(out_of_bounds(&mut spec).is_empty());
        spec.max_latency = Some(0.0);
        spec.window = 0.0;
        assert_eq!(out_of_bounds(&mut spec).len(), 2);
        let parsed: EntryGateSpec = ron::from_str("EntryGate(max_queue: Some(10))").unwrap();
        assert_eq!(parsed, EntryGateSpec { enabled: true, max_queue: Some(10), ..EntryGateSpec::default() });
        assert!(ron::from_str::<EntryGateSpec>("(max_depth: 3)").is_err());
    }
}
