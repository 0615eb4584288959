"""The ``objectives:`` section of the policy file: which events start, stop, pause and resume a clock.

An objective is a clock per ticket with a target per priority (set by each plan). Its
definition says which events move it: ``starts_on`` (when it starts; ``ticket.opened`` by
default), ``stops_on`` (its one outcome), optionally ``pauses_on`` and ``resumes_on`` (time
while paused does not count), and whether a ``ticket.reopened`` starts it again. An event
is named by its type, or for ``ticket.status_changed`` by its type and the new status.
``ticket.closed`` ends every clock of the ticket, whether or not it is listed.

``first_response`` is built in, the promise the product started with: it starts when the
ticket is opened and stops at the first ``ticket.acknowledged`` or ``ticket.resolved``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ticket_slo.schemas.events import EVENT_TYPES

__all__ = ["EventMatch", "ObjectiveSpec", "BUILT_IN_OBJECTIVES", "OBJECTIVE_NAME_PATTERN"]

#: An objective's name: it becomes a metric label value and part of breach ids.
OBJECTIVE_NAME_PATTERN: Final = r"^[a-z][a-z0-9_]{0,62}$"
_STATUS_EVENT: Final = "ticket.status_changed"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _event_match(value: Any) -> Any:
    """``ticket.acknowledged`` is short for ``{type: ticket.acknowledged}``."""
    return {"type": value} if isinstance(value, str) else value


class EventMatch(_Strict):
    """Events of ``type`` (and, for ``ticket.status_changed``, to ``status`` only, when named)."""

    type: str
    status: Annotated[str, Field(min_length=1, max_length=256)] | None = None

    @model_validator(mode="after")
    def _known(self) -> EventMatch:
        if self.type not in EVENT_TYPES:
            raise PydanticCustomError(
                "objective_event", "unknown event type {value} (known: {known})",
                {"value": repr(self.type), "known": ", ".join(EVENT_TYPES)},
            )
        if self.status is not None and self.type != _STATUS_EVENT:
            raise PydanticCustomError(
                "objective_event", "status applies to {status_event} only, not {value}",
                {"status_event": _STATUS_EVENT, "value": self.type},
            )
        return self

    def matches(self, event_type: str, status: str | None) -> bool:
        return event_type == self.type and (self.status is None or self.status == status)


Matches = tuple[Annotated[EventMatch, BeforeValidator(_event_match)], ...]


class ObjectiveSpec(_Strict):
    """One objective's clock: the events that start, stop, pause and resume it."""

    starts_on: Matches = (EventMatch(type="ticket.opened"),)
    stops_on: Annotated[Matches, Field(min_length=1)]
    pauses_on: Matches = ()
    resumes_on: Matches = ()
    restarts_on_reopen: bool = False

    @model_validator(mode="after")
    def _coherent(self) -> ObjectiveSpec:
        if bool(self.pauses_on) != bool(self.resumes_on):
            raise PydanticCustomError(
                "objective_pause", "pauses_on and resumes_on go together: a clock paused for ever, or resumed "
                "without ever pausing, is a typo", {},
            )
        for key in ("stops_on", "pauses_on", "resumes_on"):
            if any(match.type == "ticket.opened" for match in getattr(self, key)):
                raise PydanticCustomError(
                    "objective_event", "ticket.opened can only start a clock (in {key})", {"key": key})
        if not self.starts_on:
            raise PydanticCustomError("objective_event", "starts_on needs at least one event", {})
        return self

    def starts(self, event_type: str, status: str | None) -> bool:
        return any(match.matches(event_type, status) for match in self.starts_on)

    def stops(self, event_type: str, status: str | None) -> bool:
        return any(match.matches(event_type, status) for match in self.stops_on)

    def pauses(self, event_type: str, status: str | None) -> bool:
        return any(match.matches(event_type, status) for match in self.pauses_on)

    def resumes(self, event_type: str, status: str | None) -> bool:
        return any(match.matches(event_type, status) for match in self.resumes_on)


BUILT_IN_OBJECTIVES: Final[dict[str, ObjectiveSpec]] = {
    "first_response": ObjectiveSpec(
        starts_on=(EventMatch(type="ticket.opened"),),
        stops_on=(EventMatch(type="ticket.acknowledged"), EventMatch(type="ticket.resolved")),
    ),
}
