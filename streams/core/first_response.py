"""The first-response clock of one ticket: rules 1-6, on a ``running`` TicketState.

Pure functions of (state, policy, times); they mutate the state and return the
output models to publish, in order. The engine decides *when* they run.

Every decision about *whether* the objective is met is taken in event time
(``occurred_at``); the engine clock (``now``) only decides *when* a breach or a
warning is noticed. That is what makes the net result (outcomes, and breaches minus
retractions) independent of how independent tickets' events interleave, and equal
between the live worker and a replay.

* Start (rule 1): at ``opened.occurred_at``; target from the ticket's plan (the
  customer's contract's plan when the policy has one, else the event's; unknown plans
  fall back to ``default``) and current priority. The target is working time in the
  plan's calendar: the deadline is the instant the working time since the start reaches
  it (``start + target`` on the built-in 24/7), and a warning threshold is the instant a
  fraction of it is reached.
* Terms are fixed when they are computed: at the start, and again at a priority change,
  under the policy the engine has at that moment (its ``version`` is kept with them and
  named by every output). A worker restarted with another policy leaves the deadlines of
  open clocks as they were; see docs/policy.md, "When the policy changes".
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
  met ⇔ stop <= deadline. ``elapsed_seconds`` is working time; on a business calendar a
  stop after the deadline but before the next working hour has elapsed == target and
  is still not met: the deadline was an instant, and it passed. A standing breach is retracted
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
from ticket_slo.streams.core.calendars import ALWAYS_ON, ALWAYS_ON_NAME, Calendar
from ticket_slo.streams.core.policy_calendars import PolicyCalendars
from ticket_slo.streams.core.ticket_state import Phase, TicketState
from ticket_slo.streams.core.timebase import MICROS_PER_SECOND, datetime_to_micros

__all__ = ["Terms", "target_micros", "terms_of", "start", "change_priority", "fire_due", "stop", "next_due"]


class Terms:
    """What the rules read from the policy: targets, warning fractions and calendars (built
    once per policy and shared by every ticket), and the policy's version."""

    __slots__ = ("policy", "calendars", "version")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.calendars = PolicyCalendars(policy)
        self.version = policy.version

    def calendar_of(self, state: TicketState) -> Calendar:
        """The clock's own calendar (the one its deadline was computed in); the plan's
        current one should a changed policy no longer define it."""
        name = state.calendar
        if name is None:
            return ALWAYS_ON
        if name in self.policy.calendars:
            return self.calendars.calendar(name)
        return self.calendars.calendar_for(state.plan or "")


def target_micros(policy: Policy, plan: str, priority: Priority) -> int | None:
    """The plan's first-response target for ``priority``, or ``None`` if not eligible."""
    seconds = policy.target_seconds(plan, FIRST_RESPONSE, priority)
    return None if seconds is None else round(seconds * MICROS_PER_SECOND)


def terms_of(terms: Terms, opened: TicketOpened) -> tuple[str, str | None, str | None]:
    """Plan, contract name and account manager of a new ticket: a contract for its customer
    wins over the event's ``plan`` (and names the account manager when it has one)."""
    found = terms.policy.contract_for(opened.customer_id)
    if found is None:
        return opened.plan, None, opened.account_manager
    name, contract = found
    return contract.plan, name, contract.account_manager or opened.account_manager


def start(state: TicketState, opened: TicketOpened, terms: Terms, plan: str, contract: str | None,
          account_manager: str | None, target: int) -> None:
    """Rule 1: the clock starts at the opening's ``occurred_at``, in the plan's calendar."""
    state.phase = Phase.RUNNING
    state.priority = opened.priority
    state.plan = plan
    state.contract = contract
    state.customer_id = opened.customer_id
    state.account_manager = account_manager
    state.calendar = _plan_calendar(terms, plan)
    state.start = datetime_to_micros(opened.occurred_at)
    _set_target(state, terms, target)
    state.warned = 0
    state.breached = False
    state.breach_cycle = 1


def _plan_calendar(terms: Terms, plan: str) -> str | None:
    """The name of the plan's calendar as the state keeps it (``None`` for the built-in 24/7)."""
    name = terms.policy.plan(plan).calendar
    return None if name == ALWAYS_ON_NAME else name


def _set_target(state: TicketState, terms: Terms, target: int) -> None:
    """New terms: the target, the deadline it gives in the clock's calendar, the version."""
    begun = state.start
    assert begun is not None
    state.target = target
    state.policy_version = terms.version
    if state.calendar is None:  # 24/7: the deadline is start + target, left out of the record
        state.deadline_at = None
        return
    deadline = terms.calendar_of(state).deadline(begun, target)
    state.deadline_at = None if deadline == begun + target else deadline


def change_priority(
    ticket_id: str,
    state: TicketState,
    terms: Terms,
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
    target = target_micros(terms.policy, clock.plan, priority)
    if target is None:  # the plan lost the objective in a policy reload: keep the old terms
        return out
    calendar = _plan_calendar(terms, clock.plan)
    new_deadline = terms.calendars.calendar(calendar or ALWAYS_ON_NAME).deadline(clock.start, target)
    if state.breached and now <= new_deadline:
        # Built before the terms change: the retraction names the breach it takes back.
        out.append(slo_outputs.retracted(ticket_id, state, None, now))
        state.breached = False
        state.breach_cycle += 1
        state.forget_breach_terms()
    elif state.breached and (priority, new_deadline) != (clock.priority, state.deadline):
        state.keep_breach_terms()
    state.priority = priority
    state.calendar = calendar
    _set_target(state, terms, target)
    if fire_at_once:
        out.extend(fire_due(ticket_id, state, terms, now))
    return out


def _threshold_time(state: TicketState, terms: Terms, fraction: float) -> int:
    """The instant the clock has used ``fraction`` of its target, in its calendar's working time."""
    begun, target = state.start, state.target
    assert begun is not None and target is not None
    if state.calendar is None:  # 24/7, the common case: no calendar to ask
        return begun + round(fraction * target)
    return terms.calendar_of(state).deadline(begun, round(fraction * target))


def fire_due(ticket_id: str, state: TicketState, terms: Terms, now: int) -> list[BaseModel]:
    """Rules 4 and 5: publish every threshold and the deadline the clock is strictly past.

    A warning is published only while its deadline is still ahead: when the clock
    jumps past the deadline (a gap in replayed input, a worker that was down) the
    passed thresholds are marked as done and the breach alone says what happened.
    """
    out: list[BaseModel] = []
    if state.breached:
        return out
    deadline = state.deadline
    past_deadline = now > deadline
    thresholds = terms.policy.warn_at(state.running().plan)
    while state.warned < len(thresholds) and now > _threshold_time(state, terms, thresholds[state.warned]):
        if not past_deadline:
            remaining = terms.calendar_of(state).elapsed(now, deadline)
            out.append(slo_outputs.at_risk(ticket_id, state, thresholds[state.warned], now, remaining))
        state.warned += 1
    if past_deadline:
        out.append(slo_outputs.breached(ticket_id, state, now))
        state.breached = True
    return out


def stop(ticket_id: str, state: TicketState, terms: Terms, stopped_at: int, now: int) -> list[BaseModel]:
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
    begun = state.start
    assert begun is not None
    elapsed = terms.calendar_of(state).elapsed(begun, stopped_at) if stopped_at > begun else 0
    out.append(slo_outputs.completed(ticket_id, state, stopped_at, met, elapsed))
    return out


def next_due(state: TicketState, terms: Terms) -> int | None:
    """When this running clock next needs attention: next threshold, else the deadline."""
    if state.breached:
        return None
    thresholds = terms.policy.warn_at(state.running().plan)
    if state.warned < len(thresholds):
        return _threshold_time(state, terms, thresholds[state.warned])
    return state.deadline
