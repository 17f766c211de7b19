//! Sources: open-loop arrival processes and closed-loop client populations.
//!
//! Open loop: Poisson, constant, on/off (Poisson during exponential ON periods) and a piecewise
//! rate schedule, sampled exactly as a non-homogeneous Poisson process by inverting the
//! cumulative rate. Closed loop: N clients, each sending one request, waiting for its final
//! outcome (after retries), then thinking. A rate change resamples the pending arrival from the
//! change instant, which is exact for Poisson processes (they are memoryless).

use bevy::ecs::component::Component;
use bevy::ecs::entity::Entity;
use rand_distr::{Distribution as _, Exp1};

use crate::edge::Link;
use crate::engine::calendar::Event;
use crate::engine::kernel::Net;
use crate::engine::rng::{SimRng, unit};
use crate::engine::time::{Nanos, nanos_to_secs, secs_to_nanos};
use crate::metrics::stats::{Label, RejectReason};
use crate::model::request::{Call, Direct, Exchange, NO_DEADLINE, NONE, Origin};
use crate::scenario::schema::{Arrivals, Outcome, Shape, SourceSpec};

/// A source of requests (component of a node entity). Its one outgoing edge is the [`Link`]
/// component of the same entity.
#[derive(Component, Debug)]
pub struct Source {
    pub name: String,
    pub spec: SourceSpec,
    /// This source's index among the sources, in name order (a call's `origin_source`).
    pub index: u8,
    /// Bumped to void a pending arrival (rate change, OFF phase).
    pub generation: u32,
    /// On/off sources: currently ON.
    pub on: bool,
    /// On/off sources: the ON/OFF switching process is scheduled (false after a live switch to
    /// another kind, whose pending switch then goes stale).
    pub phases_running: bool,
    pub phase_generation: u32,
    /// Closed loop: clients in the population, and how many must retire when they next finish.
    pub clients: u32,
    pub retiring: u32,
    /// Class weights (cumulative, normalised) or a pinned class.
    pub class_cumulative: Vec<f64>,
    pub pinned_class: Option<u8>,
    pub rng_arrivals: SimRng,
    pub rng_class: SimRng,
    pub rng_think: SimRng,
    pub rng_phase: SimRng,
}

/// Rate multiplier of a schedule at `t` seconds.
pub fn schedule_multiplier(points: &[(f64, f64)], shape: Shape, t: f64) -> f64 {
    let i = points.partition_point(|(pt, _)| *pt <= t);
    match (i, shape) {
        (0, _) => points.first().map_or(1.0, |p| p.1),
        (i, Shape::Step) => points[i - 1].1,
        (i, Shape::Linear) if i == points.len() => points[i - 1].1,
        (i, Shape::Linear) => {
            let (t0, m0) = points[i - 1];
            let (t1, m1) = points[i];
            m0 + (m1 - m0) * (t - t0) / (t1 - t0)
        }
    }
}

/// First instant after `t` where the integral of `rate · multiplier(s)` from `t` reaches `e`
/// (inversion of the cumulative rate of a non-homogeneous Poisson process), or None if the
/// rate stays zero forever.
pub fn schedule_next(points: &[(f64, f64)], shape: Shape, rate: f64, t: f64, mut e: f64) -> Option<f64> {
    let mut start = t;
    let i = points.partition_point(|(pt, _)| *pt <= t);
    // Segment boundaries after t, then an open-ended last segment.
    for k in i..=points.len() {
        let end = points.get(k).map_or(f64::INFINITY, |p| p.0);
        let m0 = rate * schedule_multiplier(points, shape, start);
        let slope = match (shape, points.get(k)) {
            (Shape::Linear, Some(_)) if k > 0 => {
                let (t0, a) = points[k - 1];
                let (t1, b) = points[k];
                rate * (b - a) / (t1 - t0)
            }
            _ => 0.0,
        };
        let len = end - start;
        let area = m0 * len + 0.5 * slope * len * len;
        if area >= e || end.is_infinite() {
            if slope.abs() < 1e-300 {
                return (m0 > 0.0).then(|| start + e / m0);
            }
            // Solve m0·x + slope/2·x² = e for the smallest x ≥ 0.
            let disc = m0 * m0 + 2.0 * slope * e;
            if disc < 0.0 {
                return None;
            }
            let x = 2.0 * e / (m0 + disc.sqrt());
            return Some(start + x);
        }
        e -= area;
        start = end;
    }
    None
}

impl Source {
    /// Absolute time of the next open-loop arrival after `now`, if any.
    fn next_arrival(&mut self, now: Nanos) -> Option<Nanos> {
        let rate = self.spec.rate;
        let gap = |secs: f64| Some(now.saturating_add(secs_to_nanos(secs).max(1)));
        match &self.spec.arrivals {
            _ if rate <= 0.0 => None,
            Arrivals::Poisson => {
                let e: f64 = Exp1.sample(&mut self.rng_arrivals);
                gap(e / rate)
            }
            Arrivals::Constant => gap(1.0 / rate),
            Arrivals::OnOff { .. } if !self.on => None,
            Arrivals::OnOff { .. } => {
                let e: f64 = Exp1.sample(&mut self.rng_arrivals);
                gap(e / rate)
            }
            Arrivals::Schedule { points, shape } => {
                let e: f64 = Exp1.sample(&mut self.rng_arrivals);
                let t = nanos_to_secs(now);
                schedule_next(points, *shape, rate, t, e).map(|at| secs_to_nanos(at).max(now + 1))
            }
            Arrivals::Closed { .. } => None,
        }
    }

    fn pick_class(&mut self) -> u8 {
        if let Some(c) = self.pinned_class {
            return c;
        }
        if self.class_cumulative.len() <= 1 {
            return 0;
        }
        let u = unit(&mut self.rng_class);
        self.class_cumulative.iter().position(|c| u < *c).unwrap_or(self.class_cumulative.len() - 1) as u8
    }
}

/// Where a new logical request comes from: its source, the source's index, and its deadline.
struct NewRequest {
    source: Entity,
    index: u8,
    deadline: Nanos,
}

/// The callee of a new request when every layer of the source's edge is transparent (and the
/// edge is not cut), counting the attempt as sent: such a request goes straight to the callee,
/// the same history as an exchange with one attempt, without the exchange record.
fn direct_target(link: &mut Link) -> Option<Entity> {
    link.transparent().then(|| {
        link.stats.record_sent(1);
        link.to
    })
}

impl Net<'_, '_> {
    /// Schedules the first events of a source (called once when the run starts).
    pub fn start_source(&mut self, source: Entity) {
        let now = self.k.now;
        let Ok((mut src, _, _)) = self.sources.get_mut(source) else { return };
        match src.spec.arrivals.clone() {
            Arrivals::Closed { clients, think } => {
                // Each client is one pending think timer, nothing more (`clients` is bounded by
                // the registry, and `sluice check` never gets here).
                src.clients = clients;
                for _ in 0..clients {
                    let at = now.saturating_add(think.sample_nanos(&mut src.rng_think, 1.0));
                    self.k.calendar.schedule(at, Event::ThinkDone { source: source.into() });
                }
            }
            Arrivals::OnOff { .. } => {
                drop(src);
                self.start_phases(source);
                self.schedule_arrival(source);
            }
            _ => {
                drop(src);
                self.schedule_arrival(source);
            }
        }
    }

    /// Starts an on/off source's switching: ON now, the first switch after an ON period.
    fn start_phases(&mut self, source: Entity) {
        let now = self.k.now;
        let Ok((mut src, _, _)) = self.sources.get_mut(source) else { return };
        let Arrivals::OnOff { on, .. } = src.spec.arrivals else { return };
        src.on = true;
        src.phases_running = true;
        // A new generation voids a switch left pending by an earlier on/off period.
        src.phase_generation = src.phase_generation.wrapping_add(1);
        let generation = src.phase_generation;
        let e: f64 = Exp1.sample(&mut src.rng_phase);
        drop(src);
        self.k.calendar.schedule(
            now.saturating_add(secs_to_nanos(e * on)),
            Event::PhaseSwitch { source: source.into(), generation },
        );
    }

    fn schedule_arrival(&mut self, source: Entity) {
        let now = self.k.now;
        let Ok((mut src, _, _)) = self.sources.get_mut(source) else { return };
        src.generation = src.generation.wrapping_add(1);
        let generation = src.generation;
        if let Some(at) = src.next_arrival(now) {
            self.k.calendar.schedule(at, Event::Arrival { source: source.into(), generation });
        }
    }

    pub(crate) fn on_arrival(&mut self, source: Entity, generation: u32) {
        let now = self.k.now;
        let Ok((src, stats, link)) = self.sources.get_mut(source) else { return };
        if src.generation != generation {
            return;
        }
        // Plain references: a `Mut` writes a change tick on every access; nothing reads them.
        let (src, stats, link) = (src.into_inner(), stats.into_inner(), link.into_inner());
        // Next arrival first, then this request (one borrow: this is the hot path).
        src.generation = src.generation.wrapping_add(1);
        let generation = src.generation;
        let next = src.next_arrival(now);
        let class = src.pick_class();
        let counted = self.k.counting();
        if counted {
            stats.arrive(class, false);
        }
        if let Some(at) = next {
            self.k.calendar.schedule(at, Event::Arrival { source: source.into(), generation });
        }
        let direct = if src.spec.deadline.is_none() { direct_target(link) } else { None };
        let deadline = src.spec.deadline.map_or(NO_DEADLINE, |d| now.saturating_add(secs_to_nanos(d)));
        let origin = NewRequest { source, index: src.index, deadline };
        self.send_new(origin, class, counted, direct);
    }

    pub(crate) fn on_think_done(&mut self, source: Entity) {
        let Ok((mut src, _, _)) = self.sources.get_mut(source) else { return };
        if src.retiring > 0 {
            src.retiring -= 1;
            src.clients -= 1;
            return;
        }
        drop(src);
        self.emit(source);
    }

    pub(crate) fn on_phase_switch(&mut self, source: Entity, generation: u32) {
        let now = self.k.now;
        let Ok((mut src, _, _)) = self.sources.get_mut(source) else { return };
        let Arrivals::OnOff { on, off } = src.spec.arrivals else { return };
        if src.phase_generation != generation {
            return;
        }
        src.on = !src.on;
        let mean = if src.on { on } else { off };
        let e: f64 = Exp1.sample(&mut src.rng_phase);
        drop(src);
        self.k.calendar.schedule(
            now.saturating_add(secs_to_nanos(e * mean).max(1)),
            Event::PhaseSwitch { source: source.into(), generation },
        );
        // Entering OFF voids the pending arrival; entering ON draws a fresh one.
        self.schedule_arrival(source);
    }

    /// Creates one logical request and sends its first attempt.
    fn emit(&mut self, source: Entity) {
        let counted = self.k.counting();
        let Ok((mut src, mut stats, mut link)) = self.sources.get_mut(source) else { return };
        let class = src.pick_class();
        if counted {
            stats.arrive(class, false);
        }
        let now = self.k.now;
        let direct = if src.spec.deadline.is_none() { direct_target(&mut link) } else { None };
        let deadline = src.spec.deadline.map_or(NO_DEADLINE, |d| now.saturating_add(secs_to_nanos(d)));
        let origin = NewRequest { source, index: src.index, deadline };
        self.send_new(origin, class, counted, direct);
    }

    /// Sends a new logical request: straight to the callee `direct` (see [`direct_target`]),
    /// else through an exchange and its first attempt.
    fn send_new(&mut self, origin: NewRequest, class: u8, counted: bool, direct: Option<Entity>) {
        let now = self.k.now;
        let NewRequest { source, index: origin_source, deadline } = origin;
        if let Some(to) = direct {
            let direct = Direct { source, created: now, counted };
            let request_id = self.k.request_id();
            let call =
                Call { direct: Some(direct), origin_source, request_id, ..Call::attempt(to, NONE, class, now, false) };
            let call = self.new_call(call);
            self.arrive(call);
            return;
        }
        let request_id = self.k.request_id();
        let ex = self.k.exchanges.insert(Exchange {
            link: source,
            origin: Origin::Source(source),
            class,
            created: now,
            attempt: 0,
            attempt_started: now,
            prev_backoff: 0,
            call: NONE,
            generation: 0,
            counted,
            live: false,
            deadline,
            origin_deadline: deadline,
            origin_source,
            holds_retry: false,
            retry_after_timeout: false,
            answer: None,
            request_id,
            hedge_call: NONE,
        });
        self.start_attempt(ex);
    }

    /// A source's logical request ended (after all retries).
    pub(crate) fn source_request_done(
        &mut self,
        source: Entity,
        counted: bool,
        class: u8,
        created: Nanos,
        outcome: Outcome,
        direct: bool,
    ) {
        let now = self.k.now;
        let Ok((src, stats, link)) = self.sources.get_mut(source) else { return };
        let (src, stats) = (src.into_inner(), stats.into_inner());
        if direct {
            // The edge's outcome, which an exchange would have recorded (one lookup for both).
            let link = link.into_inner();
            link.stats.record_outcome(outcome);
            link.stats.gave_up += u64::from(outcome != Outcome::Ok);
        }
        if counted {
            stats.label(class, source_label(outcome), now - created);
        }
        if let Arrivals::Closed { think, .. } = &src.spec.arrivals {
            if src.retiring > 0 {
                src.retiring -= 1;
                src.clients -= 1;
                return;
            }
            let think = think.clone();
            let at = now.saturating_add(think.sample_nanos(&mut src.rng_think, 1.0));
            self.k.calendar.schedule(at, Event::ThinkDone { source: source.into() });
        }
    }

    /// A source parameter changed: resample the next arrival; grow or shrink a population.
    pub(crate) fn source_changed(&mut self, source: Entity) {
        let now = self.k.now;
        let Ok((mut src, _, _)) = self.sources.get_mut(source) else { return };
        match src.spec.arrivals.clone() {
            Arrivals::Closed { clients, think } => {
                let effective = src.clients - src.retiring;
                if clients > effective {
                    // Cancel pending retirements first, then add thinking clients.
                    let mut extra = clients - effective;
                    let back = extra.min(src.retiring);
                    src.retiring -= back;
                    extra -= back;
                    src.clients += extra;
                    for _ in 0..extra {
                        let at = now.saturating_add(think.sample_nanos(&mut src.rng_think, 1.0));
                        self.k.calendar.schedule(at, Event::ThinkDone { source: source.into() });
                    }
                } else {
                    src.retiring += effective - clients;
                }
            }
            arrivals => {
                // A live switch of the open-loop kind (`arrivals.kind`): entering on/off starts
                // its phases, leaving it lets the pending switch go stale.
                let onoff = matches!(arrivals, Arrivals::OnOff { .. });
                let start = onoff && !src.phases_running;
                src.phases_running &= onoff;
                drop(src);
                if start {
                    self.start_phases(source);
                }
                self.schedule_arrival(source);
            }
        }
    }
}

/// The label a source gives a logical request from its final outcome.
pub fn source_label(outcome: Outcome) -> Label {
    match outcome {
        Outcome::Ok => Label::Completed,
        Outcome::Error => Label::Error,
        Outcome::Rejected => Label::Rejected(RejectReason::Downstream),
        Outcome::BreakerOpen => Label::Rejected(RejectReason::BreakerOpen),
        Outcome::RateLimited => Label::Rejected(RejectReason::RateLimited),
        Outcome::Throttled => Label::Rejected(RejectReason::Throttled),
        Outcome::LimitExceeded => Label::Rejected(RejectReason::AdaptiveLimit),
        Outcome::Dropped => Label::Dropped,
        Outcome::Timeout => Label::TimedOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_inversion_is_exact_on_steps_and_ramps() {
        let steps = [(0.0, 1.0), (10.0, 3.0)];
        // Rate 2: 20 expected arrivals in [0,10), then 6 per second.
        assert_eq!(schedule_next(&steps, Shape::Step, 2.0, 0.0, 10.0), Some(5.0));
        assert_eq!(schedule_next(&steps, Shape::Step, 2.0, 5.0, 16.0), Some(11.0));
        // Ramp 0 → 2 over [0, 2]: ∫ = t² / 2 → reaching 0.5 at t = 1.
        let ramp = [(0.0, 0.0), (2.0, 2.0)];
        let t = schedule_next(&ramp, Shape::Linear, 1.0, 0.0, 0.5).unwrap();
        assert!((t - 1.0).abs() < 1e-12);
        // A schedule that drops to zero forever never fires again.
        assert_eq!(schedule_next(&[(0.0, 1.0), (1.0, 0.0)], Shape::Step, 1.0, 0.5, 5.0), None);
        assert_eq!(schedule_multiplier(&ramp, Shape::Linear, 1.5), 1.5);
    }
}
