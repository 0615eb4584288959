"""One objective's clock on one ticket: rules 1-6 and pauses, on a ``ClockState``.

Pure functions of (ticket, clock, policy terms, times); they mutate the clock and return
the output models to publish, in order. The engine decides *when* they run and which
events start, stop, pause or resume which clock (the policy's ``objectives:``).

Every decision about *whether* the objective is met is taken in event time
(``occurred_at``); the engine clock (``now``) only decides *when* a breach or a
warning is noticed. That is what makes the net result (outcomes, and breaches minus
retractions) independent of how independent tickets' events interleave, and equal
between the live worker and a replay.

* Start (rule 1): at the ``occurred_at`` of a ``starts_on`` event (the opening, for
  ``first_response``). Target from the ticket's plan (the customer's contract's plan when
  the policy has one, else the event's; unknown plans fall back to ``default``), the
  objective and the current priority. The target is working time in the plan's calendar:
  the deadline is the instant the working time since the start reaches it (``start +
  target`` on the built-in 24/7), and a warning threshold the instant a fraction of it is.
* Terms are fixed when they are computed: at the start, and again at a priority change,
  under the policy the engine has at that moment (its ``version`` is kept with them and
  named by every output). A worker restarted with another policy leaves the deadlines of
  open clocks as they were; see docs/policy.md, "When the policy changes".
* Priority change (rule 3) at ``occurred_at`` X:
  - X after the running clock's deadline: in event time the objective was already
    breached, so the change comes too late for this clock, which keeps its terms (and
    its priority); the breach is published at once if it was not yet.
  - otherwise the target is recomputed from the original start. If a breach stands
    (it was noticed before this late change arrived) and the new deadline has not
    passed (``now <= deadline``), the breach is retracted (rule 6, ``stopped_at``
    null) and the clock runs on. Thresholds and deadline the clock is already past
    fire at once. Should the new deadline pass too, that is a new breach: the next
    cycle, with a ``breach_id`` of its own, so consumers can de-duplicate on the id.
* Pause at X (``pauses_on``): the working time up to X is banked and the clock stops
  counting; no warning or breach fires while paused. A pause after the deadline comes
  too late (the objective was breached first) and changes nothing; a pause before a
  breach that was already noticed retracts it. Resume at Y (``resumes_on``): counting
  goes on from Y, with the deadline moved by the paused time.
* Due (rules 4, 5): a threshold or deadline fires once the clock is *strictly*
  past it; every passed ``warn_at`` threshold fires (ascending) before the breach.
* Stop (rules 2, 4, 6): the first stop processed decides the one outcome:
  met ⇔ stop <= deadline (a paused clock: ⇔ the working time counted <= target).
  ``elapsed_seconds`` is working time; on a business calendar a stop after the deadline
  but before the next working hour has elapsed == target and is still not met: the
  deadline was an instant, and it passed. A standing breach is retracted first when met;
  a breach not yet published is published first when not met.
* Restart (``restarts_on_reopen``): a reopened ticket's finished clock starts again at
  the reopening, as a new cycle (so its breach, if any, has a ``breach_id`` of its own).
* A retraction carries the priority and deadline its breach was published with, not
  the clock's terms at the time: a breach that stood through a priority change keeps
  its terms in the clock (``ClockState.keep_breach_terms``) for that.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from pydantic import BaseModel

from ticket_slo.schemas.events import Priority, TicketOpened
from ticket_slo.schemas.objective_spec import EventMatch, ObjectiveSpec
from ticket_slo.schemas.policy import DEFAULT_PLAN, ContractPolicy, Policy
from ticket_slo.streams.core import slo_outputs
from ticket_slo.streams.core.calendars import ALWAYS_ON, ALWAYS_ON_NAME, Calendar
from ticket_slo.streams.core.clock_state import ClockState, ClockStatus
from ticket_slo.streams.core.policy_calendars import PolicyCalendars
from ticket_slo.streams.core.ticket_state import TicketState
from ticket_slo.streams.core.timebase import MICROS_PER_SECOND

__all__ = ["Terms", "Objective", "EventSet", "terms_for", "target_micros", "terms_of", "start", "restart", "change_priority",
           "pause", "resume", "fire_due", "stop", "next_due"]


class EventSet:
    """The events an objective lists for one purpose (``starts_on``...), as sets: the engine
    asks every clock about every event."""

    __slots__ = ("types", "pairs")

    def __init__(self, matches: Iterable[EventMatch]) -> None:
        #: Types matched whatever their status, and (type, status) pairs.
        self.types = frozenset(match.type for match in matches if match.status is None)
        self.pairs = frozenset((match.type, match.status) for match in matches if match.status is not None)

    def has(self, event_type: str, status: str | None) -> bool:
        return event_type in self.types or (status is not None and (event_type, status) in self.pairs)


class Objective:
    """One objective as the engine applies it: its name and its event sets."""

    __slots__ = ("name", "starts", "stops", "pauses", "resumes", "restarts_on_reopen")

    def __init__(self, name: str, spec: ObjectiveSpec) -> None:
        self.name = name
        self.starts = EventSet(spec.starts_on)
        self.stops = EventSet(spec.stops_on)
        self.pauses = EventSet(spec.pauses_on)
        self.resumes = EventSet(spec.resumes_on)
        self.restarts_on_reopen = spec.restarts_on_reopen

    def event_types(self) -> set[str]:
        """Every event type that can move this objective's clock."""
        found: set[str] = {"ticket.reopened"} if self.restarts_on_reopen else set()
        for events in (self.starts, self.stops, self.pauses, self.resumes):
            found |= events.types | {event_type for event_type, _ in events.pairs}
        return found


class Terms:
    """What the rules read from the policy: targets, warning fractions, objectives, contracts
    and calendars, laid out once per policy in plain structures (the engine reads them for
    every event), and the policy's version."""

    __slots__ = ("policy", "calendars", "version", "objectives", "moving_types", "_plan_objectives",
                 "_default_objectives", "_contract_of")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.calendars = PolicyCalendars(policy)
        self.version = policy.version
        self.objectives = {name: Objective(name, policy.objective_spec(name)) for name in policy.objective_names()}
        #: Event types some objective's clock moves on: any other event is offered to no clock.
        self.moving_types = frozenset().union(*(objective.event_types() for objective in self.objectives.values()))
        self._plan_objectives = {plan: tuple(self.objectives[name] for name in policy.plan_objectives(plan))
                                 for plan in policy.plans}
        self._default_objectives = self._plan_objectives[DEFAULT_PLAN]
        self._contract_of = {customer: name for name, contract in policy.contracts.items()
                             for customer in contract.customers}

    def objectives_of(self, plan: str) -> tuple[Objective, ...]:
        """The objectives of ``plan`` (``default``'s for an unknown plan), in definition order."""
        found = self._plan_objectives.get(plan)
        return found if found is not None else self._default_objectives

    def contract_for(self, customer_id: str) -> tuple[str, ContractPolicy] | None:
        """``Policy.contract_for``, from a map built once."""
        name = self._contract_of.get(customer_id)
        return None if name is None else (name, self.policy.contracts[name])

    def calendar_of(self, clock: ClockState, plan: str | None) -> Calendar:
        """The clock's own calendar (the one its deadline was computed in); the plan's
        current one should a changed policy no longer define it."""
        name = clock.calendar
        if name is None:
            return ALWAYS_ON
        if name in self.policy.calendars:
            return self.calendars.calendar(name)
        return self.calendars.calendar_for(plan or "")

    def plan_calendar(self, plan: str) -> str | None:
        """The name of the plan's calendar as a clock keeps it (``None`` for the built-in 24/7)."""
        name = self.policy.plan(plan).calendar
        return None if name == ALWAYS_ON_NAME else name

    def objective(self, name: str) -> Objective | None:
        """How objective ``name``'s clock moves, or None when a changed policy no longer defines
        it (such a clock is only ended by ``ticket.closed``)."""
        return self.objectives.get(name)


#: The ``Terms`` of the policies in use, by ``id``, each with its policy (which keeps the id
#: from being reused). A worker's engines, one per partition, share one: a business calendar
#: lays out years of working hours when first used (about 0.1 s each), once per process.
_SHARED_TERMS: dict[int, tuple[Policy, Terms]] = {}
_SHARED_LIMIT: Final = 8


def terms_for(policy: Policy) -> Terms:
    """The ``Terms`` of ``policy``, built once per process and shared."""
    found = _SHARED_TERMS.get(id(policy))
    if found is not None and found[0] is policy:
        return found[1]
    if len(_SHARED_TERMS) >= _SHARED_LIMIT:
        _SHARED_TERMS.pop(next(iter(_SHARED_TERMS)))
    terms = Terms(policy)
    _SHARED_TERMS[id(policy)] = (policy, terms)
    return terms


def target_micros(policy: Policy, plan: str, objective: str, priority: Priority) -> int | None:
    """The plan's target for ``objective`` at ``priority``, or ``None`` if it has none."""
    seconds = policy.target_seconds(plan, objective, priority)
    return None if seconds is None else round(seconds * MICROS_PER_SECOND)


def terms_of(terms: Terms, opened: TicketOpened) -> tuple[str, str | None, str | None]:
    """Plan, contract name and account manager of a new ticket: a contract for its customer
    wins over the event's ``plan`` (and names the account manager when it has one)."""
    found = terms.contract_for(opened.customer_id)
    if found is None:
        return opened.plan, None, opened.account_manager
    name, contract = found
    return contract.plan, name, contract.account_manager or opened.account_manager


def _priority(state: TicketState, clock: ClockState) -> Priority:
    priority = clock.priority or state.priority
    if priority is None:
        raise ValueError("a ticket with a clock has a priority")
    return priority


def start(state: TicketState, objective: str, terms: Terms, at: int) -> ClockState | None:
    """Rule 1: a new clock of ``objective`` from ``at``, or None when the plan has no target for it."""
    plan, priority = state.plan or "", state.priority
    assert priority is not None
    target = target_micros(terms.policy, plan, objective, priority)
    if target is None:
        return None
    clock = ClockState(objective=objective, calendar=terms.plan_calendar(plan), start=at)
    _set_target(clock, terms, plan, target)
    return clock


def restart(state: TicketState, clock: ClockState, terms: Terms, at: int) -> bool:
    """A finished clock starts again at ``at``, as a new cycle; False when the plan no longer
    has a target for it."""
    plan, priority = state.plan or "", state.priority
    assert priority is not None
    target = target_micros(terms.policy, plan, clock.objective, priority)
    if target is None:
        return False
    cycle = clock.breach_cycle + 1
    fresh = ClockState(objective=clock.objective, calendar=terms.plan_calendar(plan), start=at, breach_cycle=cycle)
    for name in ClockState.__slots__:
        setattr(clock, name, getattr(fresh, name))
    _set_target(clock, terms, plan, target)
    return True


def _set_target(clock: ClockState, terms: Terms, plan: str, target: int) -> None:
    """New terms: the target, the deadline it gives in the clock's calendar, the version."""
    clock.target = target
    clock.policy_version = terms.version
    _reschedule(clock, terms, plan)


def _reschedule(clock: ClockState, terms: Terms, plan: str) -> None:
    """The deadline of a running clock from its current stretch and the working time banked."""
    begun, target = clock.start, clock.target
    assert begun is not None and target is not None
    if clock.calendar is None and clock.since is None:  # 24/7, never paused: start + target, not stored
        clock.deadline_at = None
        return
    deadline = terms.calendar_of(clock, plan).deadline(clock.stretch_start, max(0, target - clock.worked))
    clock.deadline_at = None if deadline == begun + target else deadline


def _worked_until(clock: ClockState, terms: Terms, plan: str, at: int) -> int:
    """Working time counted by ``at``: what was banked, plus the current stretch up to ``at``."""
    if clock.status is ClockStatus.PAUSED:
        return clock.worked
    stretch = clock.stretch_start
    if at <= stretch:
        return clock.worked
    if clock.calendar is None:
        return clock.worked + at - stretch
    return clock.worked + terms.calendar_of(clock, plan).elapsed(stretch, at)


def change_priority(
    ticket_id: str,
    state: TicketState,
    clock: ClockState,
    terms: Terms,
    old_priority: Priority,
    occurred: int,
    now: int,
    *,
    fire_at_once: bool,
) -> list[BaseModel]:
    """Rule 3 (and rule 6 for a late change); see the module docstring. ``state.priority``
    is the new priority already; ``old_priority`` the ticket's before the change."""
    out: list[BaseModel] = []
    current = clock.priority or old_priority
    new = state.priority
    assert new is not None
    if clock.running and occurred > clock.deadline:
        _keep_priority(clock, current, new)  # frozen: this clock stays on its old terms
        if not clock.breached and fire_at_once:
            out.append(slo_outputs.breached(ticket_id, state, clock, max(now, occurred)))
            clock.breached = True
        return out
    plan = state.plan or ""
    target = target_micros(terms.policy, plan, clock.objective, new)
    if target is None:  # the plan lost the objective in a policy reload: keep the old terms
        _keep_priority(clock, current, new)
        return out
    calendar = terms.plan_calendar(plan)
    if clock.running:
        new_deadline = terms.calendars.calendar(calendar or ALWAYS_ON_NAME).deadline(
            clock.stretch_start, max(0, target - clock.worked))
        in_time = now <= new_deadline
    else:
        new_deadline, in_time = clock.deadline, clock.worked <= target
    if clock.breached and in_time:
        # Built before the terms change: the retraction names the breach it takes back.
        out.append(slo_outputs.retracted(ticket_id, state, clock, None, now, current))
        clock.breached = False
        clock.breach_cycle += 1
        clock.forget_breach_terms()
    elif clock.breached and (new, new_deadline) != (current, clock.deadline):
        clock.keep_breach_terms(current)
    clock.priority = None
    clock.calendar = calendar
    _set_target(clock, terms, plan, target)
    if fire_at_once:
        out.extend(fire_due(ticket_id, state, clock, terms, now))
    return out


def _keep_priority(clock: ClockState, current: Priority, new: Priority) -> None:
    """The clock keeps ``current`` while the ticket moves to ``new`` (nothing to keep when equal)."""
    clock.priority = current if current != new else None


def pause(ticket_id: str, state: TicketState, clock: ClockState, terms: Terms, at: int, now: int) -> list[BaseModel]:
    """Stop counting at ``at`` (see the module docstring); a pause after the deadline changes nothing."""
    out: list[BaseModel] = []
    if not clock.running or at > clock.deadline:
        return out
    if clock.breached:  # noticed late: in event time the pause came first
        out.append(slo_outputs.retracted(ticket_id, state, clock, None, max(now, at), _priority(state, clock)))
        clock.breached = False
        clock.breach_cycle += 1
        clock.forget_breach_terms()
    clock.worked = _worked_until(clock, terms, state.plan or "", at)
    clock.status = ClockStatus.PAUSED
    clock.paused_at = at
    return out


def resume(state: TicketState, clock: ClockState, terms: Terms, at: int) -> None:
    """Count again from ``at`` (never from before the pause)."""
    if clock.status is not ClockStatus.PAUSED:
        return
    paused_at = clock.paused_at if clock.paused_at is not None else at
    clock.status = ClockStatus.RUNNING
    clock.since = max(at, paused_at)
    clock.paused_at = None
    _reschedule(clock, terms, state.plan or "")


def _threshold_time(clock: ClockState, terms: Terms, plan: str, fraction: float) -> int:
    """The instant the clock has used ``fraction`` of its target, in its calendar's working time."""
    target = clock.target
    assert target is not None
    goal = round(fraction * target) - clock.worked
    stretch = clock.stretch_start
    if goal <= 0:
        return stretch
    if clock.calendar is None:  # 24/7, the common case: no calendar to ask
        return stretch + goal
    return terms.calendar_of(clock, plan).deadline(stretch, goal)


def fire_due(ticket_id: str, state: TicketState, clock: ClockState, terms: Terms, now: int) -> list[BaseModel]:
    """Rules 4 and 5: publish every threshold and the deadline the clock is strictly past.

    A warning is published only while its deadline is still ahead: when the clock
    jumps past the deadline (a gap in replayed input, a worker that was down) the
    passed thresholds are marked as done and the breach alone says what happened.
    A paused clock fires nothing, unless a priority change made its counted time exceed
    the new target: then it was late before it paused, and the breach is published.
    """
    out: list[BaseModel] = []
    if clock.breached or clock.status is ClockStatus.DONE:
        return out
    target = clock.target
    assert target is not None
    if clock.status is ClockStatus.PAUSED:
        if clock.worked > target:
            out.append(slo_outputs.breached(ticket_id, state, clock, now))
            clock.breached = True
        return out
    plan = state.plan or ""
    deadline = clock.deadline
    past_deadline = now > deadline
    thresholds = terms.policy.warn_at(plan)
    while clock.warned < len(thresholds) and now > _threshold_time(clock, terms, plan, thresholds[clock.warned]):
        if not past_deadline:
            remaining = deadline - now if clock.calendar is None else terms.calendar_of(clock, plan).elapsed(now, deadline)
            out.append(slo_outputs.at_risk(ticket_id, state, clock, thresholds[clock.warned], now, remaining))
        clock.warned += 1
    if past_deadline:
        out.append(slo_outputs.breached(ticket_id, state, clock, now))
        clock.breached = True
    return out


def stop(ticket_id: str, state: TicketState, clock: ClockState, terms: Terms, stopped_at: int,
         now: int) -> list[BaseModel]:
    """Rules 2, 4, 6: the outcome, preceded by a retraction or a breach when due; the clock
    is then done (only what a restart needs is kept).

    No warnings are published here: a warning after the response is noise.
    """
    out: list[BaseModel] = []
    target = clock.target
    assert target is not None
    plan = state.plan or ""
    if clock.running:
        met = stopped_at <= clock.deadline
    else:
        met = clock.worked <= target
    if clock.breached and met:
        out.append(slo_outputs.retracted(ticket_id, state, clock, stopped_at, max(now, stopped_at),
                                         _priority(state, clock)))
        clock.breached = False
        clock.forget_breach_terms()
        clock.retracted = True
    elif not clock.breached and not met:
        out.append(slo_outputs.breached(ticket_id, state, clock, max(now, stopped_at)))
        clock.breached = True
    elapsed = _worked_until(clock, terms, plan, stopped_at)
    out.append(slo_outputs.completed(ticket_id, state, clock, stopped_at, met, elapsed))
    clock.status = ClockStatus.DONE  # its record keeps whether it met, not its terms or timers
    clock.met = met
    return out


def next_due(state: TicketState, clock: ClockState, terms: Terms) -> int | None:
    """When this clock next needs attention: next threshold, else the deadline."""
    if clock.breached or clock.status is ClockStatus.DONE:
        return None
    target = clock.target
    assert target is not None
    if clock.status is ClockStatus.PAUSED:
        return clock.paused_at if clock.worked > target else None
    plan = state.plan or ""
    thresholds = terms.policy.warn_at(plan)
    if clock.warned < len(thresholds):
        return _threshold_time(clock, terms, plan, thresholds[clock.warned])
    return clock.deadline
