"""A generator of realistic ticket lifecycles, for demos, tests and benchmarks.

Pure and seeded: it yields event dictionaries in ``occurred_at`` order and knows
nothing about Kafka, so the same stream can be published, replayed or measured.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

__all__ = ["SimulatorConfig", "TicketSimulator", "rfc3339"]

PRIORITY_WEIGHTS: dict[str, float] = {"P1": 0.05, "P2": 0.15, "P3": 0.40, "P4": 0.40}
PLANS: tuple[str, ...] = ("default", "default", "default", "gold", "basic")


def rfc3339(epoch_seconds: float) -> str:
    """An RFC 3339 UTC timestamp with millisecond precision and an explicit offset."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """How many tickets open and how their lifecycle unfolds.

    ``response_scale`` is the mean time to first response in seconds; about a
    tenth of tickets take several times longer, so some breach under a short policy.
    """

    tickets_per_second: float = 2.0
    response_scale: float = 20.0
    late_fraction: float = 0.1
    seed: int = 7
    ticket_prefix: str = "SIM"


class TicketSimulator:
    """Produces the events of many overlapping tickets in time order."""

    def __init__(self, config: SimulatorConfig, start: float) -> None:
        self._config = config
        self._rng = random.Random(config.seed)
        self._next_open = start
        self._ids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self._pending: list[tuple[float, int, dict[str, object]]] = []
        self._order = itertools.count()

    def events_until(self, until: float) -> Iterator[dict[str, object]]:
        """Yield every event that occurs at or before ``until``, in time order."""
        while True:
            next_pending = self._pending[0][0] if self._pending else float("inf")
            if self._next_open <= until and self._next_open <= next_pending:
                self._open_ticket(self._next_open)
                self._next_open += self._rng.expovariate(self._config.tickets_per_second)
                continue
            if next_pending <= until:
                _, _, event = heapq.heappop(self._pending)
                yield event
                continue
            return

    def _open_ticket(self, at: float) -> None:
        rng = self._rng
        ticket_id = f"{self._config.ticket_prefix}-{next(self._ids):07d}"
        priority = rng.choices(list(PRIORITY_WEIGHTS), weights=list(PRIORITY_WEIGHTS.values()))[0]
        self._schedule(at, ticket_id, "ticket.opened", priority=priority,
                       customer_id=f"C{rng.randrange(1, 500):04d}", plan=rng.choice(PLANS),
                       title=f"simulated {priority} ticket")
        response = rng.expovariate(1.0 / self._config.response_scale)
        if rng.random() < self._config.late_fraction:
            response *= 6
        if rng.random() < 0.1:
            escalated = "P1" if priority != "P1" else "P2"
            self._schedule(at + response * rng.random(), ticket_id, "ticket.priority_changed",
                           priority=escalated)
        acknowledged = at + response
        self._schedule(acknowledged, ticket_id, "ticket.acknowledged", by="agent-sim")
        resolved = acknowledged + rng.expovariate(1.0 / (self._config.response_scale * 3))
        self._schedule(resolved, ticket_id, "ticket.resolved")
        self._schedule(resolved + self._config.response_scale, ticket_id, "ticket.closed")

    def _schedule(self, at: float, ticket_id: str, event_type: str, **fields: object) -> None:
        event: dict[str, object] = {
            "event_id": f"{ticket_id}-e{next(self._event_ids)}",
            "type": event_type,
            "ticket_id": ticket_id,
            "occurred_at": rfc3339(at),
            **fields,
        }
        heapq.heappush(self._pending, (at, next(self._order), event))
