//! The service's feedback loops on the engine's clock: one timer per node
//! ([`TimerTag::Control`]) drives every controller that acts at its own instants rather than
//! on a request — an adaptive rate's control interval, an autoscaler's evaluations and its
//! workers becoming ready, an OOM kill and the restart after its back-off.
//!
//! The controllers are clock-free state machines in `crate::station`; each says when it next
//! wants the clock ([`crate::station::Station::next_due`]) and what to do when it gets it ([`crate::station::Station::on_due`]).
//! This file only keeps one timer armed at the earliest of those instants and applies what
//! they decide to the node: workers added or removed, the node killed or brought back.

use bevy::ecs::entity::Entity;

use crate::engine::calendar::{Event, TimerOwner, TimerTag};
use crate::engine::kernel::{Kernel, LogEvent, Net};
use crate::engine::time::nanos_to_secs;
use crate::model::service::Service;

/// No control timer is armed.
pub const NEVER: u64 = u64::MAX;

/// Arms the node's control timer if a controller wants the clock before the one armed (a
/// later instant needs nothing: the armed timer fires early, finds nothing due and re-arms).
#[inline]
pub fn arm(svc: &mut Service, k: &mut Kernel) {
    let Some(due) = svc.station.next_due(&svc.spec, k.now) else { return };
    if due >= svc.control_due {
        return;
    }
    svc.control_due = due;
    svc.control_generation = svc.control_generation.wrapping_add(1);
    let (owner, tag, generation) = (TimerOwner::entity(svc.node), TimerTag::Control, svc.control_generation);
    k.calendar.schedule(due.max(k.now), Event::Timer { tag, owner, generation });
}

impl Net<'_, '_> {
    /// Arms `node`'s control timer (at the start of a run and after a change of its spec).
    pub(crate) fn arm_control(&mut self, node: Entity) {
        if let Ok((svc, _)) = self.services.get_mut(node) {
            arm(svc.into_inner(), self.k);
        }
    }

    /// The node's control timer fired: every controller due now acts, then the timer is armed
    /// for the next instant one of them wants.
    pub(crate) fn on_control(&mut self, node: Entity, generation: u32) {
        let now = self.k.now;
        let Ok((svc, _)) = self.services.get_mut(node) else { return };
        let svc = svc.into_inner();
        if svc.control_generation != generation {
            return; // superseded by an earlier instant
        }
        svc.control_due = NEVER;
        let control = svc.station.on_due(&svc.spec, now, svc.spec.workers);
        let name = svc.name.clone();
        if let Some(kill) = control.kill {
            let restart_in_s = nanos_to_secs(kill.restart_at.saturating_sub(now));
            self.k.note(&name, LogEvent::OomKilled { used_mb: kill.used, restart_in_s });
            self.service_changed(node);
        }
        if control.restarted {
            self.service_changed(node);
        }
        if let Some((from, to)) = control.decision {
            self.k.note(&name, LogEvent::Scaled { from, to });
        }
        if control.add_workers > 0 || control.remove_workers > 0 {
            let workers = if let Ok((mut svc, _)) = self.services.get_mut(node) {
                let w = svc.spec.workers.saturating_add(control.add_workers).saturating_sub(control.remove_workers);
                svc.spec.workers = w;
                w
            } else {
                0
            };
            if control.add_workers > 0 {
                self.k.note(&name, LogEvent::WorkersReady { count: control.add_workers, workers });
            }
            self.service_changed(node);
        }
        self.arm_control(node);
    }
}

/// Whether the node runs: switched on (`up`) and not killed by the OOM killer.
pub fn running(svc: &Service) -> bool {
    svc.spec.up && svc.station.running()
}

/// The factor the node's controllers put on a service time starting now (GC pressure).
#[inline]
pub fn slowdown(svc: &Service) -> f64 {
    svc.station.slowdown(&svc.spec, svc.queue.len() as u32, svc.busy)
}
