"""Readable event scripts for engine tests.

Times are minutes after ``T0`` (2024-05-01T00:00:00Z): ``opened("t1", at=0,
priority="P1")`` opens t1 at T0; ``run.advance(31)`` moves the engine clock to
T0 + 31 minutes. Expected values in tests are written by hand from the rules.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel

from ticket_slo.schemas.events import (
    TicketAcknowledged,
    TicketAssigned,
    TicketClosed,
    TicketEtaReported,
    TicketEvent,
    TicketOpened,
    TicketPriorityChanged,
    TicketReopened,
    TicketResolved,
    TicketStatusChanged,
)
from ticket_slo.schemas.policy import Policy, load_policy
from ticket_slo.streams.core.emission import Emission, EventSource
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.core.state_store import DictStateStore

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
T0_EPOCH = 1714521600.0  # T0 as epoch seconds, by hand
_ids = itertools.count(1)


#: The ``objectives:`` section the tests of configured objectives share: an ETA clock from
#: the first response to the ETA report, and a resolution clock that pauses while the ticket
#: waits on the customer and restarts on a reopen. Put a ``plans:`` section after it.
ETA_AND_RESOLUTION = """objectives:
  eta:
    starts_on: [ticket.acknowledged]
    stops_on: [ticket.eta_reported]
  resolution:
    stops_on: [ticket.resolved]
    pauses_on: [{type: ticket.status_changed, status: waiting_on_customer}]
    resumes_on: [ticket.status_changed]
    restarts_on_reopen: true
"""


def when(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def clock(minutes: float) -> float:
    """Engine clock (epoch seconds) at T0 + ``minutes``."""
    return T0_EPOCH + minutes * 60


def _common(ticket: str, at: float, event_id: str | None) -> dict[str, Any]:
    return {"event_id": event_id or f"ev-{next(_ids)}", "ticket_id": ticket, "occurred_at": when(at)}


def opened(ticket: str, at: float, priority: str = "P1", *, plan: str = "default", customer: str = "c1",
           account_manager: str | None = None, event_id: str | None = None) -> TicketOpened:
    return TicketOpened(type="ticket.opened", priority=priority, customer_id=customer, plan=plan,
                        account_manager=account_manager, **_common(ticket, at, event_id))


def priority_changed(ticket: str, at: float, priority: str, *, event_id: str | None = None) -> TicketPriorityChanged:
    return TicketPriorityChanged(type="ticket.priority_changed", priority=priority, **_common(ticket, at, event_id))


def acknowledged(ticket: str, at: float, *, event_id: str | None = None) -> TicketAcknowledged:
    return TicketAcknowledged(type="ticket.acknowledged", by="agent-7", **_common(ticket, at, event_id))


def resolved(ticket: str, at: float, *, event_id: str | None = None) -> TicketResolved:
    return TicketResolved(type="ticket.resolved", **_common(ticket, at, event_id))


def closed(ticket: str, at: float, *, event_id: str | None = None) -> TicketClosed:
    return TicketClosed(type="ticket.closed", **_common(ticket, at, event_id))


def reopened(ticket: str, at: float, *, event_id: str | None = None) -> TicketReopened:
    return TicketReopened(type="ticket.reopened", **_common(ticket, at, event_id))


def assigned(ticket: str, at: float, *, event_id: str | None = None) -> TicketAssigned:
    return TicketAssigned(type="ticket.assigned", assignee="agent-7", **_common(ticket, at, event_id))


def status_changed(ticket: str, at: float, status: str = "pending", *, event_id: str | None = None) -> TicketStatusChanged:
    return TicketStatusChanged(type="ticket.status_changed", status=status, **_common(ticket, at, event_id))


def eta_reported(ticket: str, at: float, eta: float, *, event_id: str | None = None) -> TicketEtaReported:
    return TicketEtaReported(type="ticket.eta_reported", eta=when(eta), **_common(ticket, at, event_id))


def summary(emission: Emission) -> tuple[Any, ...]:
    """The few fields a rule is about, for compact hand-written expectations.

    Every SLO output's summary names its priority right after the ticket: the priority is a
    metric label and a paging label, so every rule test checks it."""
    model = emission.model
    data = model.model_dump(mode="json")
    kind = data.get("type", "dead_letter")
    if kind == "slo.at_risk":
        return (kind, data["ticket_id"], data["priority"], data["threshold"])
    if kind == "slo.breached":
        return (kind, data["ticket_id"], data["priority"], data["deadline"])
    if kind == "slo.breach_retracted":
        return (kind, data["ticket_id"], data["priority"], data["deadline"], data["stopped_at"])
    if kind == "slo.completed":
        return (kind, data["ticket_id"], data["priority"], data["elapsed_seconds"], data["met"])
    return (kind, data["reason"], data["source"])


@dataclass
class Run:
    """An engine plus everything it emitted, driven minute by minute."""

    policy: Policy = field(default_factory=load_policy)
    orphan_timeout: float = 86400.0
    closed_retention: float = 86400.0
    store: DictStateStore = field(default_factory=DictStateStore)
    emitted: list[Emission] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine = SloEngine(self.policy, self.store, orphan_timeout=self.orphan_timeout,
                                closed_retention=self.closed_retention)

    def apply(self, event: TicketEvent, now: float | None = None, source: EventSource | None = None) -> list[tuple[Any, ...]]:
        """Apply at ``now`` minutes (default: the event's own time)."""
        minutes = now if now is not None else (event.occurred_at - T0).total_seconds() / 60
        out = self.engine.apply(event, clock(minutes), source).emissions
        self.emitted.extend(out)
        return [summary(item) for item in out]

    def advance(self, now: float) -> list[tuple[Any, ...]]:
        out = self.engine.advance(clock(now))
        self.emitted.extend(out)
        return [summary(item) for item in out]

    def models(self, type_name: str) -> list[BaseModel]:
        return [item.model for item in self.emitted if getattr(item.model, "type", "dead_letter") == type_name]
