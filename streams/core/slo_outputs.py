"""Building output models from a ticket and one of its clocks (mechanical: no rule decides anything here)."""

from __future__ import annotations

from ticket_slo.schemas.calendar_spec import ALWAYS_ON_CALENDAR
from ticket_slo.schemas.events import Priority
from ticket_slo.schemas.outputs import SloAtRisk, SloBreached, SloBreachRetracted, SloCompleted, breach_id
from ticket_slo.streams.core.clock_state import ClockState
from ticket_slo.streams.core.ticket_state import TicketState
from ticket_slo.streams.core.timebase import micros_to_datetime, micros_to_seconds

__all__ = ["breached", "retracted", "at_risk", "completed"]


def _who(ticket_id: str, state: TicketState, clock: ClockState) -> dict[str, object]:
    return {
        "ticket_id": ticket_id,
        "objective": clock.objective,
        "priority": clock.priority or state.priority,
        "plan": state.plan,
        "customer_id": state.customer_id,
        "contract": state.contract,
        "calendar": clock.calendar or ALWAYS_ON_CALENDAR,
        "policy_version": clock.policy_version,
    }


def _start_and_target(clock: ClockState) -> tuple[int, int]:
    start, target = clock.start, clock.target
    if start is None or target is None:
        raise ValueError(f"the {clock.objective} clock has not started")
    return start, target


def breached(ticket_id: str, state: TicketState, clock: ClockState, detected_at: int) -> SloBreached:
    start, target = _start_and_target(clock)
    return SloBreached(
        breach_id=breach_id(ticket_id, clock.objective, clock.breach_cycle),
        **_who(ticket_id, state, clock),
        account_manager=state.account_manager,
        started_at=micros_to_datetime(start),
        deadline=micros_to_datetime(clock.deadline),
        target_seconds=micros_to_seconds(target),
        detected_at=micros_to_datetime(detected_at),
    )


def retracted(ticket_id: str, state: TicketState, clock: ClockState, stopped_at: int | None, detected_at: int,
              priority: Priority) -> SloBreachRetracted:
    """The standing breach taken back, under the priority and deadline it was published with
    (``priority``: the clock's before any change that is being applied)."""
    breach_priority, deadline = clock.breach_terms(priority)
    return SloBreachRetracted(
        breach_id=breach_id(ticket_id, clock.objective, clock.breach_cycle),
        **(_who(ticket_id, state, clock) | {"priority": breach_priority}),
        deadline=micros_to_datetime(deadline),
        stopped_at=None if stopped_at is None else micros_to_datetime(stopped_at),
        detected_at=micros_to_datetime(detected_at),
    )


def at_risk(ticket_id: str, state: TicketState, clock: ClockState, threshold: float, detected_at: int,
            remaining: int) -> SloAtRisk:
    """``remaining``: working time from ``detected_at`` to the deadline, in the clock's calendar."""
    return SloAtRisk(
        **_who(ticket_id, state, clock),
        threshold=threshold,
        deadline=micros_to_datetime(clock.deadline),
        remaining_seconds=micros_to_seconds(max(0, remaining)),
        detected_at=micros_to_datetime(detected_at),
    )


def completed(ticket_id: str, state: TicketState, clock: ClockState, stopped_at: int, met: bool,
              elapsed: int) -> SloCompleted:
    """``elapsed``: working time counted from the start to ``stopped_at``, pauses left out."""
    start, target = _start_and_target(clock)
    return SloCompleted(
        **_who(ticket_id, state, clock),
        started_at=micros_to_datetime(start),
        stopped_at=micros_to_datetime(stopped_at),
        elapsed_seconds=micros_to_seconds(max(0, elapsed)),
        target_seconds=micros_to_seconds(target),
        met=met,
    )
