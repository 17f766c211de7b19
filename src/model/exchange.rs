//! The caller's side of an edge: attempts, timeouts, retries and the circuit breaker.
//!
//! An [`Exchange`](crate::model::request::Exchange) is one logical request from a caller (a
//! source, or a worker making a downstream call) over one [`Link`](crate::edge::Link).
//! Each attempt passes the layers in tower's order, Retry(Breaker(Timeout(call))): the breaker
//! may refuse it at zero latency; otherwise a call is created at the callee and the timeout
//! armed; the attempt's outcome is recorded in the breaker and the retry policy decides whether
//! to wait and try again.

use crate::edge::network::{self, Crossing};
use crate::edge::rate_limit::RateLimitSpec;
use crate::edge::retry::backoff;
use crate::edge::retry_budget::AttemptKind;
use crate::edge::{Admit, deadline, fallback, timeout};
use crate::engine::calendar::{CallId, Event, ExchangeId, TimerOwner, TimerTag};
use crate::engine::kernel::Net;
use crate::engine::time::Nanos;
use crate::metrics::stats::Label;
use crate::model::request::{Call, CallState, NONE, Origin};
use crate::scenario::schema::Outcome;
use crate::station::Request;

impl Net<'_, '_> {
    /// Whether the caller of `exchange` has a timeout (and so can notice a silent drop).
    pub(crate) fn caller_has_timeout(&self, exchange: ExchangeId) -> bool {
        if exchange == NONE {
            return false; // direct calls have no policy, hence no timeout
        }
        let link = self.k.exchanges.get(exchange).link;
        self.link(link).is_some_and(|l| l.policy.timeout.is_some())
    }

    pub(crate) fn free_call(&mut self, call: CallId) {
        let c = self.k.calls.get_mut(call);
        c.state = CallState::Free;
        c.generation = c.generation.wrapping_add(1);
        self.k.calls.remove(call);
    }

    /// The callee is done with `call` (its label is already given): tell a waiting caller.
    pub(crate) fn respond(&mut self, call: CallId, outcome: Outcome, retry_after: Option<Nanos>) {
        let c = self.k.calls.get(call);
        let (direct, class, caller_waiting, exchange) = (c.direct, c.class, c.caller_waiting, c.exchange);
        self.free_call(call);
        if let Some(d) = direct {
            self.source_request_done(d.source, d.counted, class, d.created, outcome, true);
        } else if caller_waiting {
            // Hedged: the first answer wins, the other copy is abandoned (or cancelled).
            let e = self.k.exchanges.get_mut(exchange);
            if e.hedge_call != NONE {
                let other = if e.call == call { e.hedge_call } else { e.call };
                (e.call, e.hedge_call) = (NONE, NONE);
                let link = e.link;
                if other != NONE {
                    self.drop_copy(link, other);
                }
            }
            // Across a network the answer takes its time to come back (a timeout may beat it).
            let link = self.k.exchanges.get(exchange).link;
            let delay = match self.link_mut(link) {
                Some(l) if l.policy.network.enabled => network::answer_delay(&l.policy.network, &mut l.rng_network),
                _ => 0,
            };
            if delay == 0 {
                self.attempt_finished(exchange, outcome, retry_after);
            } else {
                let e = self.k.exchanges.get_mut(exchange);
                e.answer = Some((outcome, retry_after));
                e.call = NONE;
                let (owner, tag, generation) = (TimerOwner::exchange(exchange), TimerTag::AnswerDue, e.generation);
                let at = self.k.now.saturating_add(delay);
                self.k.calendar.schedule(at, Event::Timer { tag, owner, generation });
            }
        }
    }

    /// The attempt of `ex` is still unanswered after the hedge delay: send its copy.
    pub(crate) fn on_hedge_due(&mut self, ex: ExchangeId, generation: u32) {
        let now = self.k.now;
        let e = *self.k.exchanges.get(ex);
        // Not if the attempt ended, an answer is already on its way back, or it was hedged.
        if e.generation != generation || !e.live || e.call == NONE || e.hedge_call != NONE {
            return;
        }
        let Some(link) = self.link_mut(e.link) else { return };
        link.stats.hedges += 1;
        link.stats.record_sent(e.attempt);
        let crossing = if link.policy.network.enabled {
            network::cross(&link.policy.network, &mut link.rng_network)
        } else {
            Crossing::Arrives(0)
        };
        let (to, callee_deadline) = (link.to, deadline::callee_deadline(link.policy.propagate_deadline, e.deadline));
        if link.cut || crossing == Crossing::Lost {
            // The copy is lost; the original may still answer (its in-flight count goes back).
            link.stats.in_flight = link.stats.in_flight.saturating_sub(1);
            return;
        }
        let copy = Call {
            deadline: callee_deadline,
            origin_deadline: e.origin_deadline,
            origin_source: e.origin_source,
            request_id: e.request_id,
            ..Call::attempt(to, ex, e.class, now, e.attempt > 1)
        };
        let call = self.new_call(copy);
        self.k.exchanges.get_mut(ex).hedge_call = call;
        self.deliver(call, crossing);
    }

    /// Puts `call` across the edge: it arrives now, or travels the network's delay first.
    fn deliver(&mut self, call: CallId, crossing: Crossing) {
        match crossing {
            Crossing::Arrives(0) => {
                self.arrive(call);
            }
            Crossing::Arrives(delay) => {
                let c = self.k.calls.get_mut(call);
                c.state = CallState::InFlight;
                let (owner, tag, generation) = (TimerOwner::call(call), TimerTag::Deliver, c.generation);
                self.k.calendar.schedule(self.k.now.saturating_add(delay), Event::Timer { tag, owner, generation });
            }
            Crossing::Lost => {}
        }
    }

    /// Whether the request of `ex` is past its deadline, in which case nothing more is sent:
    /// the attempt ends as a timeout and the edge counts it (`deadline_exceeded`).
    fn past_deadline(&mut self, ex: ExchangeId) -> bool {
        let e = self.k.exchanges.get(ex);
        if !deadline::expired(e.deadline, self.k.now) {
            return false;
        }
        let link_id = e.link;
        if let Some(link) = self.link_mut(link_id) {
            link.stats.deadline_exceeded += 1;
        }
        self.attempt_outcome(ex, Outcome::Timeout, None);
        true
    }

    /// The losing copy of a hedged attempt: abandoned where it is (cancelled with the edge's
    /// `cancel_on_timeout`), and no longer in flight on the edge.
    fn drop_copy(&mut self, link: bevy::ecs::entity::Entity, call: CallId) {
        let cancel = match self.link_mut(link) {
            Some(l) => {
                l.stats.in_flight = l.stats.in_flight.saturating_sub(1);
                l.policy.cancel_on_timeout
            }
            None => false,
        };
        match self.k.calls.get(call).state {
            CallState::Free => {}
            // Its answer is on its way out: the caller just stops waiting for it.
            CallState::Answering => self.abandon(call, false),
            _ => self.abandon(call, cancel),
        }
    }

    /// An answer crossed the network back to its caller (stale if the attempt ended meanwhile).
    pub(crate) fn on_answer_due(&mut self, ex: ExchangeId, generation: u32) {
        let e = self.k.exchanges.get_mut(ex);
        if e.generation != generation {
            return;
        }
        if let Some((outcome, hint)) = e.answer.take() {
            self.attempt_finished(ex, outcome, hint);
        }
    }

    /// An attempt crossed the network to its callee, which takes it in: even if its caller gave
    /// up meanwhile (the request was on the wire; the work is then abandoned work).
    pub(crate) fn on_delivered(&mut self, call: CallId, generation: u32) {
        let c = self.k.calls.get(call);
        if c.generation != generation || c.state != CallState::InFlight {
            return;
        }
        self.arrive(call);
    }

    /// Stores a new call, with the queue priority of its class.
    pub(crate) fn new_call(&mut self, mut call: Call) -> CallId {
        call.priority = self.k.classes.get(call.class as usize).map_or(0, |c| c.priority);
        self.k.calls.insert(call)
    }

    /// Passes the next attempt of `ex` through the edge's layers, then sends it (now, or when
    /// a shaper lets it go).
    pub(crate) fn start_attempt(&mut self, ex: ExchangeId) {
        let now = self.k.now;
        // Past the request's deadline nothing is sent, a retry after its backoff included.
        if self.past_deadline(ex) {
            return;
        }
        let e = self.k.exchanges.get_mut(ex);
        e.attempt += 1;
        let (link_id, attempt, class, origin, counted) = (e.link, e.attempt, e.class, e.origin, e.counted);
        let request = Request::of(class, &self.k.classes);
        let Some(link) = self.link_mut(link_id) else { return };
        let key = |limit: &RateLimitSpec| limit.key.pick(u32::from(class), request.tenant, request.endpoint);
        let (admit, transition) = link.admit(attempt, now, key);
        if attempt > 1
            && counted
            && let Origin::Source(s) = origin
            && let Ok((_, mut stats, _)) = self.sources.get_mut(s)
        {
            stats.counters.retries += 1;
            if let Some(c) = stats.classes.get_mut(class as usize) {
                c.counters.retries += 1;
            }
        }
        if let Some(t) = transition {
            self.breaker_moved(link_id, t);
        }
        match admit {
            Admit::Send => self.send_attempt(ex),
            Admit::Delay(d) => {
                let em = self.k.exchanges.get_mut(ex);
                em.generation = em.generation.wrapping_add(1);
                let (owner, tag, generation) = (TimerOwner::exchange(ex), TimerTag::SendDue, em.generation);
                self.k.calendar.schedule(now.saturating_add(d), Event::Timer { owner, tag, generation });
            }
            Admit::Refuse(outcome) => self.attempt_outcome(ex, outcome, None),
        }
    }

    /// A shaper's hold on the attempt of `ex` is over: send it.
    pub(crate) fn on_send_due(&mut self, ex: ExchangeId, generation: u32) {
        if self.k.exchanges.get(ex).generation == generation {
            self.send_attempt(ex);
        }
    }

    /// Sends the admitted attempt of `ex` to the callee, arming its timeout (capped by the
    /// request's deadline; past it, nothing is sent).
    fn send_attempt(&mut self, ex: ExchangeId) {
        let now = self.k.now;
        // A shaper may have held it past the deadline: then it is not sent after all.
        if self.past_deadline(ex) {
            return;
        }
        let e = self.k.exchanges.get_mut(ex);
        e.attempt_started = now;
        e.generation = e.generation.wrapping_add(1);
        e.call = NONE;
        e.live = true;
        let (link_id, attempt, class, generation) = (e.link, e.attempt, e.class, e.generation);
        let (request_deadline, origin_deadline, origin_source, request_id) =
            (e.deadline, e.origin_deadline, e.origin_source, e.request_id);
        let Some(link) = self.link(link_id) else { return };
        let own = timeout::deadline(link.policy.timeout, now);
        let callee_deadline = deadline::callee_deadline(link.policy.propagate_deadline, request_deadline);
        let (to, cut, deadline) = (link.to, link.cut, deadline::attempt_deadline(own, request_deadline));
        if let Some(at) = deadline {
            let (owner, tag) = (TimerOwner::exchange(ex), TimerTag::AttemptTimeout);
            self.k.calendar.schedule(at, Event::Timer { tag, owner, generation });
        }
        let crossing = match self.link_mut(link_id) {
            Some(l) if l.policy.network.enabled => network::cross(&l.policy.network, &mut l.rng_network),
            _ => Crossing::Arrives(0),
        };
        if cut || crossing == Crossing::Lost {
            // Lost on the wire: like a silent drop, noticed by the timeout if there is one.
            if !cut && let Some(l) = self.link_mut(link_id) {
                l.stats.lost += 1;
            }
            if deadline.is_none() {
                self.attempt_finished(ex, Outcome::Dropped, None);
            }
            return;
        }
        let attempt_call = Call::attempt(to, ex, class, now, attempt > 1);
        let call = self.new_call(Call {
            deadline: callee_deadline,
            origin_deadline,
            origin_source,
            request_id,
            ..attempt_call
        });
        let e = self.k.exchanges.get_mut(ex);
        e.call = call;
        e.answer = None;
        e.hedge_call = NONE;
        if let Some(l) = self.link(link_id)
            && l.policy.hedge.enabled
        {
            let at = now.saturating_add(l.hedging.delay(&l.policy.hedge));
            let (owner, tag) = (TimerOwner::exchange(ex), TimerTag::HedgeDue);
            self.k.calendar.schedule(at, Event::Timer { tag, owner, generation });
        }
        self.deliver(call, crossing);
    }

    /// The attempt in flight of `ex` ended with `outcome`.
    pub(crate) fn attempt_finished(&mut self, ex: ExchangeId, outcome: Outcome, hint: Option<Nanos>) {
        let now = self.k.now;
        let e = self.k.exchanges.get_mut(ex);
        e.generation = e.generation.wrapping_add(1);
        e.call = NONE;
        e.hedge_call = NONE;
        e.live = false;
        let (link_id, started) = (e.link, e.attempt_started);
        let kind = if e.attempt > 1 {
            AttemptKind::Retry { after_timeout: e.retry_after_timeout }
        } else {
            AttemptKind::First
        };
        if let Some(link) = self.link_mut(link_id)
            && let Some(t) = link.record(outcome, now - started, now, kind)
        {
            self.breaker_moved(link_id, t);
        }
        self.attempt_outcome(ex, outcome, hint);
    }

    /// Retry or finish after an attempt's outcome.
    fn attempt_outcome(&mut self, ex: ExchangeId, outcome: Outcome, hint: Option<Nanos>) {
        if outcome == Outcome::Ok {
            self.finish_exchange(ex, outcome);
            return;
        }
        let e = *self.k.exchanges.get(ex);
        let now = self.k.now;
        let Some(link) = self.link_mut(e.link) else { return };
        if e.holds_retry {
            link.retry_ended(now);
        }
        let spec = &link.policy.retry;
        // Retries share the request's deadline: none is tried once it has passed; and the
        // edge's retry budget has the last word.
        let wants =
            e.attempt < spec.max_attempts && spec.retry_on.contains(&outcome) && !deadline::expired(e.deadline, now);
        let honour = spec.honour_retry_after;
        if wants && link.budget_allows_retry(outcome, now) {
            let holds = !link.policy.retry_budget.is_off();
            let delay = match hint {
                Some(h) if honour => h,
                _ => backoff(&link.policy.retry, e.attempt, e.prev_backoff, &mut link.rng),
            };
            let at = self.k.now.saturating_add(delay);
            let em = self.k.exchanges.get_mut(ex);
            em.holds_retry = holds;
            em.retry_after_timeout = outcome == Outcome::Timeout;
            em.prev_backoff = delay;
            em.generation = em.generation.wrapping_add(1);
            let generation = em.generation;
            let (owner, tag) = (TimerOwner::exchange(ex), TimerTag::RetryDue);
            self.k.calendar.schedule(at, Event::Timer { owner, tag, generation });
        } else {
            link.stats.gave_up += 1;
            self.k.exchanges.get_mut(ex).holds_retry = false;
            self.finish_exchange(ex, outcome);
        }
    }

    pub(crate) fn on_retry_due(&mut self, ex: ExchangeId, generation: u32) {
        if self.k.exchanges.get(ex).generation == generation {
            self.start_attempt(ex);
        }
    }

    /// The caller's timeout for the attempt in flight fired.
    pub(crate) fn on_call_timeout(&mut self, ex: ExchangeId, generation: u32) {
        let e = *self.k.exchanges.get(ex);
        if e.generation != generation {
            return;
        }
        let cancel = self.link(e.link).is_some_and(|l| l.policy.cancel_on_timeout);
        if e.hedge_call != NONE {
            self.k.exchanges.get_mut(ex).hedge_call = NONE;
            self.drop_copy(e.link, e.hedge_call);
        }
        if e.call != NONE {
            self.abandon(e.call, cancel);
        }
        self.attempt_finished(ex, Outcome::Timeout, None);
    }

    /// The caller of `call` stops waiting: label it timed out where it is; cancel it if asked.
    fn abandon(&mut self, call: CallId, cancel: bool) {
        self.k.calls.get_mut(call).caller_waiting = false;
        self.label_call(call, Label::TimedOut);
        if cancel {
            self.cancel_call(call);
        }
    }

    /// Cancels an exchange and its attempt in flight (the worker that made it is going away).
    pub(crate) fn cancel_exchange(&mut self, ex: ExchangeId) {
        let e = *self.k.exchanges.get(ex);
        let now = self.k.now;
        if let Some(link) = self.link_mut(e.link) {
            if e.live {
                link.stats.in_flight = link.stats.in_flight.saturating_sub(1);
                if !link.policy.retry_budget.is_off() {
                    link.budget.on_attempt_end(&link.policy.retry_budget, now);
                }
            }
            if e.holds_retry {
                link.retry_ended(now);
            }
        }
        if e.hedge_call != NONE {
            self.drop_copy(e.link, e.hedge_call);
        }
        if e.call != NONE {
            self.abandon(e.call, true);
        }
        let em = self.k.exchanges.get_mut(ex);
        em.generation = em.generation.wrapping_add(1);
        em.call = NONE;
        self.k.exchanges.remove(ex);
    }

    /// The exchange is over: report to its origin.
    fn finish_exchange(&mut self, ex: ExchangeId, outcome: Outcome) {
        let em = self.k.exchanges.get_mut(ex);
        em.generation = em.generation.wrapping_add(1);
        let e = *em;
        self.k.exchanges.remove(ex);
        let mut answered_by_fallback = false;
        let outcome = match self.link_mut(e.link) {
            Some(link) => {
                let (outcome, fell_back) = fallback::answer(&link.policy.fallback, outcome);
                link.stats.fallbacks += u64::from(fell_back);
                answered_by_fallback = fell_back;
                outcome
            }
            None => outcome,
        };
        if answered_by_fallback
            && e.counted
            && let Origin::Source(s) = e.origin
            && let Ok((_, mut stats, _)) = self.sources.get_mut(s)
        {
            stats.counters.degraded += 1;
        }
        match e.origin {
            Origin::Source(source) => self.source_request_done(source, e.counted, e.class, e.created, outcome, false),
            Origin::Worker(call) => self.downstream_done(call, outcome),
        }
    }
}
