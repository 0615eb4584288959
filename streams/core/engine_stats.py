"""Counters the engine keeps so the worker can export them as metrics without scanning state."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Final

__all__ = ["EngineStats", "COUNTER_NAMES"]


@dataclass(slots=True)
class EngineStats:
    """Monotonic counters since the engine was created (not persisted)."""

    events: int = 0  # applied, duplicates excluded
    duplicates: int = 0  # event_id already seen for the ticket: ignored
    buffered: int = 0  # arrived before ticket.opened
    clocks_started: int = 0  # clocks of any objective started (or restarted by a reopen)
    not_eligible: int = 0  # opened on a plan without objectives
    unknown_plan: int = 0  # opened on a plan the policy does not know (uses default)
    ignored_closed: int = 0  # arrived for a closed ticket within retention
    ignored_extra_open: int = 0  # a second ticket.opened (new event_id) for a known ticket
    breaches: int = 0
    retractions: int = 0
    warnings: int = 0
    outcomes: int = 0
    orphans: int = 0  # buffered events dead-lettered because the ticket never opened
    expired_closed: int = 0  # closed markers deleted after retention

    def count(self, counter: str) -> None:
        """Add one to the counter named ``counter`` (a name from ``OUTPUT_TYPES``)."""
        setattr(self, counter, getattr(self, counter) + 1)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


#: The counters' names, in declaration order.
COUNTER_NAMES: Final[tuple[str, ...]] = tuple(field.name for field in fields(EngineStats))
