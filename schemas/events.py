"""The input contract: one pydantic model per ``ticket-events`` event type.

Every event is a JSON object keyed by ticket id. Timestamps must carry an explicit
UTC offset, because a naive timestamp would silently shift every SLO deadline by
the producer's local offset. Unknown fields are ignored so that upstream helpdesks
can add fields without breaking us; string lengths are bounded so that hostile
input cannot make the per-ticket state grow without limit.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

__all__ = [
    "PRIORITIES",
    "EVENT_TYPES",
    "FIRST_RESPONSE_STOPS",
    "Priority",
    "Rfc3339",
    "EARLIEST_TIMESTAMP",
    "LATEST_TIMESTAMP",
    "TicketId",
    "BaseTicketEvent",
    "TicketOpened",
    "TicketPriorityChanged",
    "TicketAcknowledged",
    "TicketAssigned",
    "TicketStatusChanged",
    "TicketEtaReported",
    "TicketResolved",
    "TicketReopened",
    "TicketClosed",
    "TicketEvent",
]

Priority = Literal["P1", "P2", "P3", "P4"]
PRIORITIES: tuple[Priority, ...] = ("P1", "P2", "P3", "P4")

MAX_ID_LENGTH = 256
MAX_TEXT_LENGTH = 4096

#: Identifiers (event, ticket, customer, plan, people): non-empty and bounded.
TicketId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
_Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
_Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH)]

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?P<offset>[Zz]|[+-]\d{2}:\d{2})?"
)


def _require_rfc3339(value: Any) -> Any:
    """Reject what pydantic's lax datetime parsing would otherwise accept.

    Pydantic takes epoch numbers and date-only strings as datetimes; the contract
    is an RFC 3339 string with an explicit offset, and a missing offset gets its
    own message because it is the mistake producers actually make.
    """
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "rfc3339_type",
            "timestamp must be an RFC 3339 string, got {kind}",
            {"kind": type(value).__name__},
        )
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise PydanticCustomError(
            "rfc3339_format",
            "{value} is not an RFC 3339 timestamp (e.g. 2024-05-01T09:30:00Z)",
            {"value": repr(value[:64])},
        )
    if match.group("offset") is None:
        raise PydanticCustomError("timestamp_naive", "timestamp has no UTC offset")
    return value


#: The instants an event may name: none before Unix time (an epoch-zero stamp is a
#: producer bug, not a ticket), and none so late that a deadline or retention computed
#: from it would pass ``datetime``'s year-9999 ceiling. Without the bounds, a stamp
#: such as ``0001-01-01T00:00:00+23:59`` parses but cannot be converted to UTC, and the
#: engine would fail on it instead of dead-lettering it.
EARLIEST_TIMESTAMP = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_TIMESTAMP = datetime(9000, 1, 1, tzinfo=timezone.utc)
_FIRST_YEAR = EARLIEST_TIMESTAMP.year
_LAST_YEAR = LATEST_TIMESTAMP.year - 1


def _require_in_range(value: datetime) -> datetime:
    """Reject instants outside [EARLIEST_TIMESTAMP, LATEST_TIMESTAMP) (compared without converting).

    A local year strictly between the bounds' years is within a day of its UTC instant, so
    inside: told from the year alone (46 ns), not by two aware comparisons (420 ns, each
    asking the offset of both sides), for every event's timestamp."""
    if _FIRST_YEAR < value.year < _LAST_YEAR:
        return value
    if not EARLIEST_TIMESTAMP <= value < LATEST_TIMESTAMP:
        raise PydanticCustomError(
            "timestamp_range",
            "timestamp {value} is not between 1970-01-01T00:00:00Z and 9000-01-01T00:00:00Z",
            {"value": value.isoformat()},
        )
    return value


#: An RFC 3339 timestamp with an explicit offset (``Z`` or ``+hh:mm``), within range.
Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_require_rfc3339), AfterValidator(_require_in_range)]


class BaseTicketEvent(BaseModel):
    """Fields every ticket event carries."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: TicketId
    ticket_id: TicketId
    occurred_at: Rfc3339


class TicketOpened(BaseTicketEvent):
    """Starts the first-response clock. ``title`` is optional: the SLO does not need it."""

    type: Literal["ticket.opened"]
    priority: Priority
    customer_id: _Name
    plan: _Name = "default"
    account_manager: _Name | None = None
    title: _Text = ""


class TicketPriorityChanged(BaseTicketEvent):
    """Recomputes the target from the original start (rule 3)."""

    type: Literal["ticket.priority_changed"]
    priority: Priority


class TicketAcknowledged(BaseTicketEvent):
    """A first response: stops the clock."""

    type: Literal["ticket.acknowledged"]
    by: _Name | None = None


class TicketAssigned(BaseTicketEvent):
    """Informational for the SLO: assignment is not a response."""

    type: Literal["ticket.assigned"]
    assignee: _Name


class TicketStatusChanged(BaseTicketEvent):
    """Informational for the SLO: only the typed stop events stop the clock."""

    type: Literal["ticket.status_changed"]
    status: _Name


class TicketEtaReported(BaseTicketEvent):
    """Informational for the SLO."""

    type: Literal["ticket.eta_reported"]
    eta: Rfc3339


class TicketResolved(BaseTicketEvent):
    """Stops the clock if nobody acknowledged first."""

    type: Literal["ticket.resolved"]


class TicketReopened(BaseTicketEvent):
    """Does not restart the clock (rule 8)."""

    type: Literal["ticket.reopened"]


class TicketClosed(BaseTicketEvent):
    """Stops the clock if still running and retires the ticket's state."""

    type: Literal["ticket.closed"]


TicketEvent = Annotated[
    Union[
        TicketOpened,
        TicketPriorityChanged,
        TicketAcknowledged,
        TicketAssigned,
        TicketStatusChanged,
        TicketEtaReported,
        TicketResolved,
        TicketReopened,
        TicketClosed,
    ],
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[str, ...] = (
    "ticket.opened",
    "ticket.priority_changed",
    "ticket.acknowledged",
    "ticket.assigned",
    "ticket.status_changed",
    "ticket.eta_reported",
    "ticket.resolved",
    "ticket.reopened",
    "ticket.closed",
)

#: Event types that are a first response (rule 2): their ``occurred_at`` stops a running
#: first-response clock and leaves the ticket done. ``ticket.closed`` stops a running clock
#: too but also ends the ticket, so it is not one of them: the engine handles it on its own.
FIRST_RESPONSE_STOPS: frozenset[str] = frozenset({"ticket.acknowledged", "ticket.resolved"})

