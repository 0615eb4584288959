"""Building output models from a ticket's state (mechanical: no rule decides anything here)."""

from __future__ import annotations

from ticket_slo.schemas.objectives import FIRST_RESPONSE
from ticket_slo.schemas.outputs import SloAtRisk, SloBreached, SloBreachRetracted, SloCompleted, breach_id
from ticket_slo.streams.core.ticket_state import TicketState
from ticket_slo.streams.core.timebase import micros_to_datetime, micros_to_seconds

__all__ = ["breached", "retracted", "at_risk", "completed"]


def _who(ticket_id: str, state: TicketState) -> dict[str, object]:
    clock = state.running()
    return {
        "ticket_id": ticket_id,
        "objective": FIRST_RESPONSE,
        "priority": clock.priority,
        "plan": clock.plan,
        "customer_id": state.customer_id,
        "contract": state.contract,
        "calendar": clock.calendar,
        "policy_version": state.policy_version,
    }


def breached(ticket_id: str, state: TicketState, detected_at: int) -> SloBreached:
    clock = state.running()
    return SloBreached(
        breach_id=breach_id(ticket_id, FIRST_RESPONSE, state.breach_cycle),
        **_who(ticket_id, state),
        account_manager=state.account_manager,
        started_at=micros_to_datetime(clock.start),
        deadline=micros_to_datetime(state.deadline),
        target_seconds=micros_to_seconds(clock.target),
        detected_at=micros_to_datetime(detected_at),
    )


def retracted(ticket_id: str, state: TicketState, stopped_at: int | None, detected_at: int) -> SloBreachRetracted:
    """The standing breach taken back, under the priority and deadline it was published with."""
    priority, deadline = state.breach_terms()
    return SloBreachRetracted(
        breach_id=breach_id(ticket_id, FIRST_RESPONSE, state.breach_cycle),
        **(_who(ticket_id, state) | {"priority": priority}),
        deadline=micros_to_datetime(deadline),
        stopped_at=None if stopped_at is None else micros_to_datetime(stopped_at),
        detected_at=micros_to_datetime(detected_at),
    )


def at_risk(ticket_id: str, state: TicketState, threshold: float, detected_at: int, remaining: int) -> SloAtRisk:
    """``remaining``: working time from ``detected_at`` to the deadline, in the clock's calendar."""
    return SloAtRisk(
        **_who(ticket_id, state),
        threshold=threshold,
        deadline=micros_to_datetime(state.deadline),
        remaining_seconds=micros_to_seconds(max(0, remaining)),
        detected_at=micros_to_datetime(detected_at),
    )


def completed(ticket_id: str, state: TicketState, stopped_at: int, met: bool, elapsed: int) -> SloCompleted:
    """``elapsed``: working time from the start to ``stopped_at``, in the clock's calendar."""
    clock = state.running()
    return SloCompleted(
        **_who(ticket_id, state),
        started_at=micros_to_datetime(clock.start),
        stopped_at=micros_to_datetime(stopped_at),
        elapsed_seconds=micros_to_seconds(max(0, elapsed)),
        target_seconds=micros_to_seconds(clock.target),
        met=met,
    )
