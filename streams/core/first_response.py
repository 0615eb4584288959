"""The first-response clock of one ticket: rules 1-6, on a ``running`` TicketState.

Pure functions of (state, policy, times); they mutate the state and return the
output models to publish, in order. The engine decides *when* they run.

Every decision about *whether* the objective is met is taken in event time
(``occurred_at``); the engine clock (``now``) only decides *when* a breach or a
warning is noticed. That is what makes the net result (outcomes, and breaches minus
retractions) independent of how independent tickets' events interleave, and equal
between the live worker and a replay.

* Start (rule 1): at ``opened.occurred_at``; target from the ticket's plan (unknown
  plans fall back to ``default``) and current priority; deadline = start + target.
* Priority change (rule 3) at ``occurred_at`` X:
  - X after the current deadline: in event time the objective was already breached,
    so the change comes too late and is ignored (the terms are frozen); the breach
    is published at once if it was not yet.
  - otherwise the target is recomputed from the original start. If a breach stands
    (it was noticed before this late change arrived) and the new deadline has not
    passed (``now <= deadline``), the breach is retracted (rule 6, ``stopped_at``
    null) and the clock runs on. Thresholds and deadline the clock is already past
    fire at once. Should the new deadline pass too, that is a new breach: the next
    cycle, with a ``breach_id`` of its own, so consumers can de-duplicate on the id.
* Due (rules 4, 5): a threshold or deadline fires once the clock is *strictly*
  past it; every passed ``warn_at`` threshold fires (ascending) before the breach.
* Stop (rules 2, 4, 6): the first stop processed decides the one outcome:
  met ⇔ stop <= deadline (⇔ elapsed <= target). A standing breach is retracted
  first when met; a breach not yet published is published first when not met.
* A retraction carries the priority and deadline its breach was published with, not
  the clock's terms at the time: a breach that stood through a priority change keeps
  its terms in the state (``TicketState.keep_breach_terms``) for that.
"""

from __future__ import annotations

from pydantic import BaseModel

from ticket_slo.schemas.events import Priority, TicketOpened
from ticket_slo.schemas.objectives import FIRST_RESPONSE
from ticket_slo.schemas.policy import Policy
from ticket_slo.streams.core import slo_outputs
from ticket_slo.streams.core.ticket_state import Phase, RunningClock, TicketState
from ticket_slo.streams.core.timebase import MICROS_PER_SECOND, datetime_to_micros

__all__ = ["target_micros", "start", "change_priority", "fire_due", "stop", "next_due"]


def target_micros(policy: Policy, plan: str, priority: Priority) -> int | None:
    """The plan's first-response target for ``priority``, or ``None`` if not eligible."""
    seconds = policy.target_seconds(plan, FIRST_RESPONSE, priority)
    return None if seconds is None else round(seconds * MICROS_PER_SECOND)


def start(state: TicketState, opened: TicketOpened, target: int) -> None:
    """Rule 1: the clock starts at the opening's ``occurred_at``."""
    state.phase = Phase.RUNNING
    state.priority = opened.priority
    state.plan = opened.plan
    state.customer_id = opened.customer_id
    state.account_manager = opened.account_manager
    state.start = datetime_to_micros(opened.occurred_at)
    state.target = target
    state.warned = 0
    state.breached = False
    state.breach_cycle = 1


def change_priority(
    ticket_id: str,
    state: TicketState,
    policy: Policy,
    priority: Priority,
    occurred: int,
    now: int,
    *,
    fire_at_once: bool,
) -> list[BaseModel]:
    """Rule 3 (and rule 6 for a late change); see the module docstring."""
    out: list[BaseModel] = []
    if occurred > state.deadline:
        if not state.breached and fire_at_once:
            out.append(slo_outputs.breached(ticket_id, state, max(now, occurred)))
            state.breached = True
        return out
    clock = state.running()
    target = target_micros(policy, clock.plan, priority)
    if target is None:  # the plan lost the objective in a policy reload: keep the old terms
        return out
    if state.breached and now <= clock.start + target:
        # Built before the terms change: the retraction names the breach it takes back.
        out.append(slo_outputs.retracted(ticket_id, state, None, now))
        state.breached = False
        state.breach_cycle += 1
        state.forget_breach_terms()
    elif state.breached and (priority, target) != (clock.priority, clock.target):
        state.keep_breach_terms()
    state.priority = priority
    state.target = target
    if fire_at_once:
        out.extend(fire_due(ticket_id, state, policy, now))
    return out


def _threshold_time(clock: RunningClock, fraction: float) -> int:
    return clock.start + round(fraction * clock.target)


def fire_due(ticket_id: str, state: TicketState, policy: Policy, now: int) -> list[BaseModel]:
    """Rules 4 and 5: publish every threshold and the deadline the clock is strictly past.

    A warning is published only while its deadline is still ahead: when the clock
    jumps past the deadline (a gap in replayed input, a worker that was down) the
    passed thresholds are marked as done and the breach alone says what happened.
    """
    out: list[BaseModel] = []
    if state.breached:
        return out
    clock = state.running()
    past_deadline = now > clock.deadline
    thresholds = policy.warn_at(clock.plan)
    while state.warned < len(thresholds) and now > _threshold_time(clock, thresholds[state.warned]):
        if not past_deadline:
            out.append(slo_outputs.at_risk(ticket_id, state, thresholds[state.warned], now))
        state.warned += 1
    if past_deadline:
        out.append(slo_outputs.breached(ticket_id, state, now))
        state.breached = True
    return out


def stop(ticket_id: str, state: TicketState, stopped_at: int, now: int) -> list[BaseModel]:
    """Rules 2, 4, 6: the outcome, preceded by a retraction or a breach when due.

    No warnings are published here: a warning after the response is noise.
    """
    out: list[BaseModel] = []
    met = stopped_at <= state.deadline
    if state.breached and met:
        out.append(slo_outputs.retracted(ticket_id, state, stopped_at, max(now, stopped_at)))
        state.breached = False
        state.forget_breach_terms()
    elif not state.breached and not met:
        out.append(slo_outputs.breached(ticket_id, state, max(now, stopped_at)))
        state.breached = True
    out.append(slo_outputs.completed(ticket_id, state, stopped_at, met))
    return out


def next_due(state: TicketState, policy: Policy) -> int | None:
    """When this running clock next needs attention: next threshold, else the deadline."""
    if state.breached:
        return None
    clock = state.running()
    thresholds = policy.warn_at(clock.plan)
    if state.warned < len(thresholds):
        return _threshold_time(clock, thresholds[state.warned])
    return clock.deadline
