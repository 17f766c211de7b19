//! Honest health colours: a node's green/amber/red from smoothed signals with hysteresis.
//!
//! A card coloured by the instantaneous busy count is red whenever a healthy pool happens to be
//! full for an instant and green during an incident whose queue just drained. So each node's
//! colour comes from its time series instead: utilization, queue fill, and the shares of
//! arrivals refused, timed out and failed, each smoothed over a few sim seconds, plus the worst
//! breaker on its outgoing calls. Going up a level needs the signal above the entry threshold
//! for [`RISE_HOLD`] seconds; coming down needs it below a lower exit threshold for
//! [`FALL_HOLD`] seconds, so cards do not flicker.
//!
//! Everything is driven by the series points (sim time), consumed once each, so the colour at
//! a given sim time is the same whatever the frame rate or the stepping, and tests can check it.

use std::collections::BTreeMap;

use crate::engine::Sim;
use crate::engine::sim::NodeKind;
use crate::metrics::series::Point;

/// Health level, worst last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    #[default]
    Green,
    Amber,
    Red,
}

/// Seconds a worse level must hold before the colour changes.
pub const RISE_HOLD: f64 = 2.0;
/// Seconds a better level must hold before the colour changes.
pub const FALL_HOLD: f64 = 5.0;
/// Smoothing time constant of the signals, sim seconds.
pub const TAU: f64 = 3.0;

/// Score thresholds: a score of 1 enters amber and 2 enters red; a level is left only below
/// its exit score.
const AMBER_EXIT: f64 = 0.75;
const RED_EXIT: f64 = 1.6;

/// A level with hysteresis: thresholds that differ on the way up and down, and hold times.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hysteresis {
    level: Level,
    /// The level the score has pointed at since this sim time (when it differs from `level`).
    pending: Option<(Level, f64)>,
}

impl Hysteresis {
    pub fn level(&self) -> Level {
        self.level
    }

    /// Feeds the score at sim time `t` (seconds, non-decreasing) and returns the level.
    pub fn update(&mut self, score: f64, t: f64) -> Level {
        let entered = if score >= 2.0 {
            Level::Red
        } else if score >= 1.0 {
            Level::Amber
        } else {
            Level::Green
        };
        // Stay at the current level (or the one below it) while above its exit score.
        let held = match self.level {
            Level::Red if score >= RED_EXIT => Level::Red,
            Level::Red | Level::Amber if score >= AMBER_EXIT => Level::Amber,
            _ => Level::Green,
        };
        let target = entered.max(held);
        if target == self.level {
            self.pending = None;
            return self.level;
        }
        // The hold restarts when the direction changes, not when the target moves further.
        let rising = target > self.level;
        let since = match self.pending {
            Some((p, since)) if (p > self.level) == rising => since,
            _ => t,
        };
        self.pending = Some((target, since));
        let hold = if rising { RISE_HOLD } else { FALL_HOLD };
        if t - since >= hold {
            self.level = target;
            self.pending = None;
        }
        self.level
    }
}

/// Exponentially smoothed signals of one node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Signals {
    pub utilization: f64,
    /// Mean queue length over the queue's capacity.
    pub queue_fill: f64,
    /// Requests per second: arrivals and, of them, refused (rejected or dropped), timed out,
    /// failed with an error.
    pub arrivals: f64,
    pub refused: f64,
    pub timed_out: f64,
    pub errors: f64,
    /// Worst outgoing breaker: 0 closed, 1 half-open, 2 open.
    pub breaker: f64,
}

impl Signals {
    /// Folds in one sample interval (`capacity`: the node's waiting places, None = unbounded).
    pub fn add(&mut self, p: &Point, capacity: Option<u32>, workers: u32) {
        if p.span <= 0.0 {
            return;
        }
        let a = 1.0 - (-p.span / TAU).exp();
        let mix = |old: &mut f64, new: f64| *old += a * (new - *old);
        // An unbounded queue has no fill; ten waiting per worker is as full as it gets.
        let room = match capacity {
            Some(c) => f64::from(c),
            None => 10.0 * f64::from(workers.max(1)),
        };
        let fill = if room > 0.0 { (p.queue_len / room).min(1.0) } else { 0.0 };
        mix(&mut self.utilization, p.utilization);
        mix(&mut self.queue_fill, fill);
        mix(&mut self.arrivals, p.arrivals as f64 / p.span);
        mix(&mut self.refused, (p.rejected + p.dropped) as f64 / p.span);
        mix(&mut self.timed_out, p.timed_out as f64 / p.span);
        mix(&mut self.errors, p.errors as f64 / p.span);
        // A breaker is a state, not a rate: it counts as soon as it is seen.
        self.breaker = p.breaker;
    }

    /// Share of arrivals that `rate` is (0 with no traffic).
    fn share(&self, rate: f64) -> f64 {
        if self.arrivals > 1e-9 { (rate / self.arrivals).min(1.0) } else { 0.0 }
    }

    /// The score (1 = amber, 2 = red) and what drives it.
    pub fn score(&self) -> (f64, Cause) {
        // Maps `x` so that `amber` scores 1 and `red` scores 2, linearly in between.
        let ramp = |x: f64, amber: f64, red: f64| {
            if x < amber { x / amber } else { 1.0 + (x - amber) / (red - amber) }
        };
        let candidates = [
            // A pool near 100 % is at capacity, not failing: amber at most.
            (ramp(self.utilization, 0.97, f64::INFINITY).min(1.5), Cause::Saturated(self.utilization)),
            (ramp(self.queue_fill, 0.3, 0.7), Cause::Queue(self.queue_fill)),
            (ramp(self.share(self.refused), 0.02, 0.10), Cause::Refusing(self.share(self.refused))),
            (ramp(self.share(self.timed_out), 0.02, 0.10), Cause::TimingOut(self.share(self.timed_out))),
            (ramp(self.share(self.errors), 0.02, 0.10), Cause::Failing(self.share(self.errors))),
            // An open breaker means a dependency is failing: amber, never red by itself.
            (self.breaker * 0.75, Cause::Breaker),
        ];
        candidates.into_iter().fold((0.0, Cause::Fine), |best, c| if c.0 > best.0 { c } else { best })
    }
}

/// What makes a node look as it does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cause {
    Fine,
    Saturated(f64),
    Queue(f64),
    Refusing(f64),
    TimingOut(f64),
    Failing(f64),
    Breaker,
    Down,
}

/// A node's health as the canvas shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeHealth {
    pub signals: Signals,
    pub hysteresis: Hysteresis,
    pub cause: Option<Cause>,
    /// The dependency this node's trouble comes from, if a callee is in trouble too.
    pub via: Option<String>,
    /// End time of the last series point folded in.
    last_t: f64,
}

impl NodeHealth {
    pub fn level(&self) -> Level {
        match self.cause {
            Some(Cause::Down) => Level::Red,
            _ => self.hysteresis.level(),
        }
    }

    /// One line for the card: "queue 85 % full", "degraded via db", "crashed".
    pub fn reason(&self) -> String {
        if self.level() == Level::Green {
            return "healthy".to_string();
        }
        if let Some(via) = &self.via {
            return format!("degraded via {via}");
        }
        let pct = |x: f64| format!("{:.0} %", 100.0 * x);
        match self.cause {
            Some(Cause::Saturated(u)) => format!("at capacity ({} busy)", pct(u)),
            Some(Cause::Queue(f)) => format!("queue {} full", pct(f)),
            Some(Cause::Refusing(s)) => format!("refusing {}", pct(s)),
            Some(Cause::TimingOut(s)) => format!("{} timing out", pct(s)),
            Some(Cause::Failing(s)) => format!("{} failing", pct(s)),
            Some(Cause::Breaker) => "breaker open".to_string(),
            Some(Cause::Down) => "crashed".to_string(),
            Some(Cause::Fine) | None => "recovering".to_string(),
        }
    }
}

/// Health of every node, advanced from the run's series.
#[derive(Clone, Debug, Default)]
pub struct Health {
    nodes: BTreeMap<String, NodeHealth>,
}

impl Health {
    pub fn get(&self, node: &str) -> Option<&NodeHealth> {
        self.nodes.get(node)
    }

    pub fn level(&self, node: &str) -> Level {
        self.nodes.get(node).map_or(Level::Green, NodeHealth::level)
    }

    /// Folds in the series points that appeared since the last call. Cheap when nothing new.
    pub fn update(&mut self, sim: &Sim) {
        let names = sim.node_names();
        let views: Vec<_> = names.iter().filter_map(|n| sim.node(n)).collect();
        for v in &views {
            let h = self.nodes.entry(v.name.clone()).or_default();
            let points = sim.series(&v.name);
            // The clock went back (the run was reset): start this node's history again.
            if points.last().map_or(0.0, |p| p.t) < h.last_t {
                *h = NodeHealth::default();
            }
            // Points are in time order: only the tail is new.
            let start = points.partition_point(|p| p.t <= h.last_t);
            for p in &points[start..] {
                h.signals.add(p, v.capacity, v.workers);
                let (score, cause) = h.signals.score();
                h.hysteresis.update(score, p.t);
                h.cause = Some(cause);
                h.last_t = p.t;
            }
            if !v.up {
                h.cause = Some(Cause::Down);
            } else if h.cause == Some(Cause::Down) {
                h.cause = Some(h.signals.score().1);
            }
        }
        // A node in trouble whose callee is in trouble too (or whose breaker to it is not
        // closed) is degraded because of it: say so, naming the worst such callee.
        let levels: BTreeMap<&str, Level> = self.nodes.iter().map(|(k, h)| (k.as_str(), h.level())).collect();
        let mut via = BTreeMap::new();
        for v in &views {
            if levels.get(v.name.as_str()).copied().unwrap_or_default() == Level::Green {
                continue;
            }
            let worst = v
                .edges
                .iter()
                .filter(|e| e.to != v.name)
                .map(|e| {
                    let callee = levels.get(e.to.as_str()).copied().unwrap_or_default();
                    let breaker = e.breaker.map_or(0.0, |b| b.level());
                    (callee.max(if breaker > 0.0 { Level::Amber } else { Level::Green }), e.to.clone())
                })
                .filter(|(l, _)| *l > Level::Green)
                .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
            // A source has no capacity of its own: its trouble is always its callee's.
            let own_down = !v.up;
            if let Some((_, to)) = worst.filter(|_| !own_down || v.kind == NodeKind::Source) {
                via.insert(v.name.clone(), to);
            }
        }
        for (name, h) in &mut self.nodes {
            h.via = via.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds one score per second and returns the levels seen.
    fn run(h: &mut Hysteresis, t0: f64, scores: &[f64]) -> Vec<Level> {
        scores.iter().enumerate().map(|(i, s)| h.update(*s, t0 + i as f64)).collect()
    }

    use Level::{Amber, Green, Red};

    #[test]
    fn a_one_second_blip_does_not_change_the_colour() {
        let mut h = Hysteresis::default();
        assert_eq!(run(&mut h, 0.0, &[0.2, 2.5, 0.2, 0.2]), [Green; 4]);
    }

    #[test]
    fn trouble_that_holds_raises_the_level_after_the_rise_hold() {
        let mut h = Hysteresis::default();
        // Entered at t = 1; the level changes once it has held for RISE_HOLD = 2 s (t = 3).
        assert_eq!(run(&mut h, 0.0, &[0.2, 2.5, 2.5, 2.5, 2.5]), [Green, Green, Green, Red, Red]);
        // From amber to red the hold does not restart.
        let mut h = Hysteresis::default();
        assert_eq!(run(&mut h, 0.0, &[1.2, 2.5, 2.5]), [Green, Green, Red]);
    }

    #[test]
    fn a_level_is_left_only_below_its_exit_score_for_the_fall_hold() {
        let mut h = Hysteresis::default();
        run(&mut h, 0.0, &[1.5, 1.5, 1.5]);
        assert_eq!(h.level(), Amber);
        // 0.8 is below amber's entry score but above its exit score: amber stays.
        assert_eq!(run(&mut h, 3.0, &[0.8; 10]), [Amber; 10]);
        // Below the exit score, green after FALL_HOLD = 5 s.
        assert_eq!(run(&mut h, 13.0, &[0.3; 7]), [Amber, Amber, Amber, Amber, Amber, Green, Green]);
    }

    #[test]
    fn flapping_around_a_threshold_holds_one_colour() {
        let mut h = Hysteresis::default();
        run(&mut h, 0.0, &[2.5; 4]);
        assert_eq!(h.level(), Red);
        let flapping: Vec<f64> = (0..30).map(|i| if i % 2 == 0 { 2.2 } else { 1.7 }).collect();
        assert_eq!(run(&mut h, 4.0, &flapping), [Red; 30]);
        // Falling from red to green passes through amber on the way only if it holds there.
        let levels = run(&mut h, 34.0, &[0.1; 8]);
        assert_eq!(levels[..5], [Red; 5]);
        assert_eq!(levels[5..], [Green; 3]);
    }

    #[test]
    fn a_reset_run_starts_its_health_history_again() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/three-tier.ron");
        let mut health = Health::default();
        let mut sim = Sim::from_file(path, None).unwrap();
        sim.run_until(140.0);
        health.update(&sim);
        assert_eq!(health.level("db"), Red);
        let mut again = Sim::from_file(path, None).unwrap();
        again.run_until(30.0);
        health.update(&again);
        assert_eq!(health.level("db"), Green, "the old run's incident is forgotten");
    }

    fn point(t: f64, arrivals: u64, timed_out: u64, utilization: f64, queue_len: f64) -> Point {
        Point { t, span: 1.0, arrivals, timed_out, utilization, queue_len, ..Point::default() }
    }

    #[test]
    fn signals_are_smoothed_and_scored_by_their_worst() {
        let mut s = Signals::default();
        for t in 0..20 {
            s.add(&point(f64::from(t), 100, 0, 0.8, 1.0), Some(50), 10);
        }
        let (score, cause) = s.score();
        assert!(score < 1.0, "80 % busy, an empty queue: healthy ({score}, {cause:?})");
        // One bad second moves the smoothed share only part of the way.
        s.add(&point(20.0, 100, 100, 0.8, 1.0), Some(50), 10);
        let share = s.share(s.timed_out);
        assert!(share > 0.2 && share < 0.4, "{share}");
        for t in 21..30 {
            s.add(&point(f64::from(t), 100, 50, 1.0, 45.0), Some(50), 10);
        }
        let (score, cause) = s.score();
        assert!(score >= 2.0, "{score} {cause:?}");
        assert!(matches!(cause, Cause::Queue(_) | Cause::TimingOut(_)), "{cause:?}");
    }

    #[test]
    fn a_busy_pool_alone_is_amber_at_most() {
        let mut s = Signals::default();
        for t in 0..30 {
            s.add(&point(f64::from(t), 100, 0, 1.0, 0.0), Some(50), 10);
        }
        let (score, cause) = s.score();
        assert!((1.0..2.0).contains(&score), "{score} {cause:?}");
    }
}
