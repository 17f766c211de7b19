//! The pinned baseline of an A/B comparison: a second run of the same scenario on the same
//! seed (common random numbers), carrying the changes made up to the moment it was pinned and
//! none after, advanced in lockstep with the live run.
//!
//! Because every random stream is named by (seed, entity, purpose), the two runs draw the same
//! arrivals and service times until a change makes them differ, so what the ghost lines and the
//! card notes show is the effect of the change, not sampling noise.

use crate::engine::Sim;
use crate::metrics::series::Point;
use crate::scenario::session::Session;

/// Sim seconds of recent samples that a card's comparison summarises.
pub const COMPARE_WINDOW: f64 = 10.0;

/// A baseline run beside the live one.
pub struct Baseline {
    pub sim: Sim,
    /// Sim time at which it was pinned, seconds.
    pub pinned_at: f64,
}

impl Baseline {
    /// Replays the live run (scenario, seed and the user's changes so far) into a second run
    /// at the same sim time.
    pub fn pin(scenario_name: &str, scenario_text: &str, live: &Sim) -> Result<Self, String> {
        let session = Session::record(scenario_name, scenario_text, live);
        let sim = session.replay().map_err(|e| e.to_string())?;
        Ok(Self { sim, pinned_at: live.now() })
    }

    /// Advances the baseline to the live run's clock (never backwards).
    pub fn follow(&mut self, live: &Sim) {
        if self.sim.now_nanos() < live.now_nanos() {
            self.sim.run(live.now_nanos(), None);
        }
    }

    /// What a node's card says about the live run against the baseline over the last
    /// [`COMPARE_WINDOW`] seconds, e.g. "p99 −420 ms · ok/s +12 vs baseline"; `None` until the
    /// runs differ noticeably (a few per cent) or when the node has no completions.
    pub fn card_note(&self, live: &Sim, node: &str) -> Option<String> {
        let now = live.now();
        let recent = |pts: &[Point]| Summary::of(pts.iter().filter(|p| p.t > now - COMPARE_WINDOW && p.t <= now));
        let (a, b) = (recent(live.series(node)), recent(self.sim.series(node)));
        compare(&a, &b)
    }
}

/// Completions and their weighted p99 over some samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub ok_per_s: f64,
    pub p99: f64,
    pub completed: u64,
}

/// Completions below which a p99 says too little to compare (a run that completes almost
/// nothing has a p99 of its few lucky requests).
const MIN_FOR_P99: u64 = 20;

impl Summary {
    pub fn of<'a>(points: impl Iterator<Item = &'a Point>) -> Self {
        let (mut span, mut done, mut p99) = (0.0, 0u64, 0.0);
        for p in points {
            span += p.span;
            done += p.completed;
            p99 += p.latency_p99 * p.completed as f64;
        }
        Self {
            ok_per_s: if span > 0.0 { done as f64 / span } else { 0.0 },
            p99: if done > 0 { p99 / done as f64 } else { 0.0 },
            completed: done,
        }
    }
}

/// The card note for `live` against `base`, or `None` when they agree within 5 %.
pub fn compare(live: &Summary, base: &Summary) -> Option<String> {
    let differs = |a: f64, b: f64| (a - b).abs() > 0.05 * a.abs().max(b.abs()) && (a - b).abs() > 1e-9;
    let mut parts = Vec::new();
    let comparable = live.completed >= MIN_FOR_P99 && base.completed >= MIN_FOR_P99;
    if comparable && differs(live.p99, base.p99) {
        parts.push(format!("p99 {}", signed_duration(live.p99 - base.p99)));
    }
    if differs(live.ok_per_s, base.ok_per_s) {
        parts.push(format!("ok/s {}", signed(live.ok_per_s - base.ok_per_s)));
    }
    (!parts.is_empty()).then(|| format!("{} vs baseline", parts.join(" · ")))
}

/// "+1.2 s", "−420 ms", "+35 µs" (a true minus sign, so columns of numbers read well).
fn signed_duration(secs: f64) -> String {
    let sign = if secs < 0.0 { "−" } else { "+" };
    let a = secs.abs();
    match a {
        a if a >= 1.0 => format!("{sign}{a:.1} s"),
        a if a >= 1e-3 => format!("{sign}{:.0} ms", a * 1e3),
        a => format!("{sign}{:.0} µs", a * 1e6),
    }
}

fn signed(x: f64) -> String {
    let sign = if x < 0.0 { "−" } else { "+" };
    if x.abs() >= 10.0 { format!("{sign}{:.0}", x.abs()) } else { format!("{sign}{:.1}", x.abs()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_say_how_the_live_run_differs() {
        let base = Summary { ok_per_s: 80.0, p99: 0.9, completed: 800 };
        let live = Summary { ok_per_s: 80.5, p99: 0.48, completed: 805 };
        assert_eq!(compare(&live, &base).as_deref(), Some("p99 −420 ms vs baseline"));
        let live = Summary { ok_per_s: 20.0, p99: 2.4, completed: 200 };
        assert_eq!(compare(&live, &base).as_deref(), Some("p99 +1.5 s · ok/s −60 vs baseline"));
        assert_eq!(compare(&base, &base), None, "identical runs say nothing");
        let starved = Summary { ok_per_s: 0.5, p99: 0.1, completed: 5 };
        assert_eq!(compare(&starved, &base).as_deref(), Some("ok/s −80 vs baseline"), "no p99 from 5 requests");
    }

    #[test]
    fn summaries_weight_quantiles_by_completions() {
        let pts = [
            Point { t: 1.0, span: 1.0, completed: 30, latency_p99: 1.0, ..Point::default() },
            Point { t: 2.0, span: 1.0, completed: 10, latency_p99: 3.0, ..Point::default() },
        ];
        let s = Summary::of(pts.iter());
        assert_eq!((s.ok_per_s, s.p99, s.completed), (20.0, 1.5, 40));
    }
}
