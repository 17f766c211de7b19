//! A service's waiting room: its capacity, which waiting request a free worker takes next (the
//! discipline), and the queue itself, one FIFO lane per priority level.
//!
//! FIFO, LIFO and priority are decided here; CoDel ([`super::codel`]) and adaptive LIFO
//! ([`super::adaptive_lifo`]) judge by waiting time and may drop at dequeue, so the engine asks
//! them through [`WaitQueue::pop_entry`]. What happens when the room is full is
//! [`super::overflow`]'s.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::adaptive_lifo::{AdaptiveLifoSpec, End};
use super::codel::CodelSpec;
use super::overflow::Overflow;
use crate::choice_enum;
use crate::engine::calendar::CallId;
use crate::engine::time::Nanos;
use crate::params::{Field, Params, Visitor};

/// The waiting room of a service.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Queue")]
pub struct QueueSpec {
    /// Waiting places, not counting requests in service (Kendall's K − c). None = unbounded.
    #[serde(default)]
    pub capacity: Option<u32>,
    #[serde(default)]
    pub discipline: Discipline,
    #[serde(default)]
    pub overflow: Overflow,
    /// Retry-After hint sent with rejections (seconds).
    #[serde(default)]
    pub retry_after: Option<f64>,
    /// How long a blocked sender waits for a place before giving up (`Block` only).
    #[serde(default)]
    pub block_timeout: Option<f64>,
    /// CoDel's target and interval (`discipline: Codel` only; RFC 8289's 5 ms and 100 ms).
    #[serde(default, skip_serializing_if = "is_default_codel")]
    pub codel: CodelSpec,
    /// Adaptive LIFO's timeouts (`discipline: AdaptiveLifo` only; Facebook's 100 ms and 5 ms).
    #[serde(default, skip_serializing_if = "is_default_lifo")]
    pub adaptive_lifo: AdaptiveLifoSpec,
}

fn is_default_lifo(c: &AdaptiveLifoSpec) -> bool {
    *c == AdaptiveLifoSpec::default()
}

fn is_default_codel(c: &CodelSpec) -> bool {
    *c == CodelSpec::default()
}

impl Default for QueueSpec {
    fn default() -> Self {
        Self {
            capacity: None,
            discipline: Discipline::Fifo,
            overflow: Overflow::Reject,
            retry_after: None,
            block_timeout: None,
            codel: CodelSpec::default(),
            adaptive_lifo: AdaptiveLifoSpec::default(),
        }
    }
}

/// Which waiting request a free worker takes next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Discipline {
    #[default]
    Fifo,
    Lifo,
    /// Lowest class priority number first, FIFO within a class.
    Priority,
    /// FIFO with CoDel's drops at dequeue (RFC 8289; parameters under `queue.codel`).
    Codel,
    /// Facebook's adaptive LIFO: FIFO normally, newest first once the queue has stayed
    /// non-empty for a while, with CoDel-style queue timeouts (under `queue.adaptive_lifo`).
    AdaptiveLifo,
}
choice_enum!(Discipline {
    "fifo" => Discipline::Fifo,
    "lifo" => Discipline::Lifo,
    "priority" => Discipline::Priority,
    "codel" => Discipline::Codel,
    "adaptive_lifo" => Discipline::AdaptiveLifo,
});

impl Params for QueueSpec {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.field(
            "capacity",
            Field::OptionalCount(&mut self.capacity),
            "waiting places (not counting requests in service); unbounded if none",
        );
        v.field("discipline", Field::Choice(&mut self.discipline), "which waiting request is served next");
        v.field("overflow", Field::Choice(&mut self.overflow), "what happens when the queue is full");
        v.field(
            "retry_after",
            Field::OptionalSecondsOrZero(&mut self.retry_after),
            "Retry-After hint sent with rejections",
        );
        v.field(
            "block_timeout",
            Field::OptionalSeconds(&mut self.block_timeout),
            "how long a blocked sender waits for a place",
        );
        match self.discipline {
            Discipline::Codel => v.group("codel", &mut self.codel),
            Discipline::AdaptiveLifo => v.group("adaptive_lifo", &mut self.adaptive_lifo),
            _ => {}
        }
    }
}

/// Waiting requests, one FIFO lane per priority level (a single lane without priorities).
#[derive(Debug, Default)]
pub struct WaitQueue {
    lanes: Vec<VecDeque<(Nanos, CallId)>>,
    len: usize,
}

impl WaitQueue {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn push(&mut self, priority: u8, arrived: Nanos, call: CallId) {
        let lane = priority as usize;
        if self.lanes.len() <= lane {
            self.lanes.resize_with(lane + 1, VecDeque::new);
        }
        self.lanes[lane].push_back((arrived, call));
        self.len += 1;
    }

    /// Takes the next request to serve under `discipline`.
    #[inline]
    pub fn pop(&mut self, discipline: Discipline) -> Option<CallId> {
        if self.len == 0 {
            return None;
        }
        if let [only] = self.lanes.as_mut_slice() {
            // One lane (no priorities): the common case, without the search across lanes.
            self.len -= 1;
            let taken = if discipline == Discipline::Lifo { only.pop_back() } else { only.pop_front() };
            return taken.map(|(_, c)| c);
        }
        let lane = match discipline {
            Discipline::Priority => self.lanes.iter().position(|l| !l.is_empty()),
            Discipline::Fifo | Discipline::Codel | Discipline::AdaptiveLifo => self.oldest_lane(),
            Discipline::Lifo => self.newest_lane(),
        }?;
        self.len -= 1;
        match discipline {
            Discipline::Lifo => self.lanes[lane].pop_back(),
            _ => self.lanes[lane].pop_front(),
        }
        .map(|(_, c)| c)
    }

    /// Removes the longest-waiting (or the newest) request across lanes, with its arrival time
    /// and how many stay: the dequeue of the disciplines that judge by waiting time.
    pub fn pop_entry(&mut self, end: End) -> Option<(CallId, Nanos, usize)> {
        let (arrived, call) = match end {
            End::Oldest => {
                let lane = self.oldest_lane()?;
                self.lanes[lane].pop_front()?
            }
            End::Newest => {
                let lane = self.newest_lane()?;
                self.lanes[lane].pop_back()?
            }
        };
        self.len -= 1;
        Some((call, arrived, self.len))
    }

    /// Removes the request to sacrifice for `DropOldest`: the longest-waiting one (of the least
    /// important non-empty lane under `Priority`).
    pub fn pop_oldest(&mut self, discipline: Discipline) -> Option<CallId> {
        let lane = match discipline {
            Discipline::Priority => self.lanes.iter().rposition(|l| !l.is_empty()),
            _ => self.oldest_lane(),
        }?;
        self.len -= 1;
        self.lanes[lane].pop_front().map(|(_, c)| c)
    }

    fn oldest_lane(&self) -> Option<usize> {
        (0..self.lanes.len()).filter_map(|i| self.lanes[i].front().map(|(t, _)| (*t, i))).min().map(|(_, i)| i)
    }

    fn newest_lane(&self) -> Option<usize> {
        (0..self.lanes.len())
            .filter_map(|i| self.lanes[i].back().map(|(t, _)| (*t, std::cmp::Reverse(i))))
            .max()
            .map(|(_, i)| i.0)
    }

    /// Removes a specific request (cancellation); false if it is not queued here.
    pub fn remove(&mut self, call: CallId) -> bool {
        for lane in &mut self.lanes {
            if let Some(pos) = lane.iter().position(|(_, c)| *c == call) {
                lane.remove(pos);
                self.len -= 1;
                return true;
            }
        }
        false
    }

    /// Empties the queue, returning its content (crash).
    pub fn drain(&mut self) -> Vec<CallId> {
        self.len = 0;
        self.lanes.iter_mut().flat_map(|l| l.drain(..).map(|(_, c)| c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls 1, 2, 3 arrive at t = 1, 2, 3 ns; 2 has priority 0, the others 1.
    fn queue() -> WaitQueue {
        let mut q = WaitQueue::default();
        q.push(1, 1, 1);
        q.push(0, 2, 2);
        q.push(1, 3, 3);
        q
    }

    #[test]
    fn each_discipline_takes_its_next_request() {
        let order = |d: Discipline| {
            let mut q = queue();
            std::iter::from_fn(|| q.pop(d)).collect::<Vec<_>>()
        };
        assert_eq!(order(Discipline::Fifo), [1, 2, 3], "oldest first across lanes");
        assert_eq!(order(Discipline::Lifo), [3, 2, 1], "newest first across lanes");
        assert_eq!(order(Discipline::Priority), [2, 1, 3], "priority 0 first, FIFO within a lane");
    }

    #[test]
    fn drop_oldest_sacrifices_the_longest_wait_or_the_least_important() {
        assert_eq!(queue().pop_oldest(Discipline::Fifo), Some(1));
        assert_eq!(queue().pop_oldest(Discipline::Priority), Some(1), "the oldest of the least important lane");
    }

    #[test]
    fn waiting_time_disciplines_pop_either_end_with_the_arrival_instant() {
        let mut q = queue();
        assert_eq!(q.pop_entry(End::Newest), Some((3, 3, 2)));
        assert_eq!(q.pop_entry(End::Oldest), Some((1, 1, 1)));
        assert!(q.remove(2) && q.is_empty());
        assert_eq!(q.pop_entry(End::Oldest), None);
    }
}
