"""What the status API says of one ticket, read from the engine's record of it.

The record is the engine's own (``ticket_state``), so the API can never disagree with the
worker that owns the ticket. A record still in its stored form (bytes read back from the
changelog, not yet touched by the engine) is decoded here without replacing it: a read
must not grow the worker's memory.

Times in a view are instants in ISO 8601 UTC and durations in seconds. ``elapsed_seconds``
is working time in the clock's calendar (as in the outputs); ``remaining_seconds`` is the
wall-clock time left until the deadline instant, which is what a countdown shows (on a
business-hours plan the deadline already skips the nights).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Final

from ticket_slo.streams.core.changelog_codec import decode_record
from ticket_slo.streams.core.clock_state import ClockState, ClockStatus
from ticket_slo.streams.core.objective_clock import Terms
from ticket_slo.streams.core.state_store import Record
from ticket_slo.streams.core.ticket_state import Phase, TicketState
from ticket_slo.streams.core.timebase import MICROS_PER_SECOND
from ticket_slo.streams.status.queries import NO_DEADLINE, SortKey

__all__ = ["read_record", "ticket_view", "clock_row", "open_clock_rows", "clock_state_name", "iso_instant", "PHASE_NAMES"]

PHASE_NAMES: Final = {Phase.PENDING: "pending", Phase.RUNNING: "running", Phase.DONE: "done",
                      Phase.CLOSED: "closed"}


def read_record(value: Record | bytes | None) -> Record | None:
    """The record, decoding a stored value without keeping the result."""
    if value is None or value.__class__ is not bytes:
        return value  # type: ignore[return-value]
    return decode_record(value)  # type: ignore[arg-type]


def iso_instant(micros: int) -> str:
    """``2026-11-30T21:50:00.000000Z``: fixed width, so instants sort as text too."""
    return datetime.fromtimestamp(micros // MICROS_PER_SECOND, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + \
        f".{micros % MICROS_PER_SECOND:06d}Z"


def _seconds(micros: int) -> float:
    return round(micros / MICROS_PER_SECOND, 3)


def clock_state_name(clock: ClockState) -> str:
    """running, paused or breached (a standing breach, paused or not) while open; once done,
    met, retracted (met after a breach was published) or breached; completed for a clock
    done before its outcome was kept in the state."""
    if clock.status is ClockStatus.DONE:
        if clock.met is None:
            return "completed"
        if clock.met:
            return "retracted" if clock.retracted else "met"
        return "breached"
    if clock.breached:
        return "breached"
    return "paused" if clock.status is ClockStatus.PAUSED else "running"


def clock_row(state: TicketState, clock: ClockState, terms: Terms, now: int) -> dict[str, Any]:
    """One clock as the API shows it (``now``: the engine's clock, microseconds)."""
    name = clock_state_name(clock)
    row: dict[str, Any] = {"objective": clock.objective, "state": name,
                           "priority": clock.priority or state.priority,
                           "calendar": clock.calendar or "24x7"}
    if clock.start is None or clock.target is None:
        row.update(started_at=None, deadline=None, remaining_seconds=None, overdue_seconds=None,
                   elapsed_seconds=None, warnings_sent=clock.warned, target_seconds=None)
        return row
    deadline = clock.deadline
    if clock.status is ClockStatus.PAUSED:
        worked = clock.worked
    else:
        stretch = clock.stretch_start
        calendar = terms.calendar_of(clock, state.plan)
        worked = clock.worked + (0 if now <= stretch else calendar.elapsed(stretch, now))
    row.update(
        started_at=iso_instant(clock.start),
        # A paused clock's deadline moves when it resumes: it has none until then.
        deadline=None if name == "paused" else iso_instant(deadline),
        remaining_seconds=_seconds(deadline - now) if name == "running" and now < deadline else None,
        overdue_seconds=_seconds(now - deadline) if name != "paused" and now >= deadline else None,
        elapsed_seconds=_seconds(worked),
        warnings_sent=clock.warned,
        target_seconds=_seconds(clock.target),
    )
    return row


def ticket_view(ticket_id: str, record: Record, terms: Terms, now: int) -> dict[str, Any]:
    """The answer of ``GET /api/tickets/{id}`` without its envelope (``as_of``, ``partition``)."""
    state = TicketState.from_record(record)
    return {
        "ticket_id": ticket_id,
        "phase": PHASE_NAMES[state.phase],
        "priority": state.priority,
        "plan": state.plan,
        "customer_id": state.customer_id,
        "account_manager": state.account_manager,
        "contract": state.contract,
        "objectives": [clock_row(state, clock, terms, now) for clock in state.clocks],
    }


def open_clock_rows(ticket_id: str, record: Record, terms: Terms, now: int) -> list[tuple[SortKey, dict[str, Any]]]:
    """The ticket's open clocks as rows of ``GET /api/open``, each with its sort key (none
    unless the ticket is tracked). A paused clock sorts after every deadline."""
    if record.get("ph") != Phase.RUNNING.value:
        return []
    state = TicketState.from_record(record)
    rows = []
    for clock in state.clocks:
        if clock.status is ClockStatus.DONE or clock.start is None:
            continue
        row = {"ticket_id": ticket_id, **clock_row(state, clock, terms, now), "plan": state.plan,
               "customer_id": state.customer_id, "account_manager": state.account_manager}
        due = NO_DEADLINE if clock.status is ClockStatus.PAUSED else clock.deadline
        rows.append(((due, ticket_id, clock.objective), row))
    return rows
