"""The soonest upcoming deadline per (objective, priority) group, for the 'time to the next breach' gauge.

One heap of (deadline, ticket id) per group with lazy deletion, like the timer index:
an entry is pushed when one of a ticket's clocks gets a new (group, deadline) and is
skipped when it no longer matches the ticket's state. Reading is amortised O(log n), so a
scrape never scans the open tickets.
"""

from __future__ import annotations

import heapq
from typing import Callable

__all__ = ["DeadlineKey", "SoonestDeadlines"]

#: A clock's (objective, priority).
Group = tuple[str, str]
#: (group, deadline in engine microseconds) of a clock that runs and has not breached.
DeadlineKey = tuple[Group, int]
#: Answers whether ``ticket_id`` still has exactly this key.
IsCurrent = Callable[[str, DeadlineKey], bool]


class SoonestDeadlines:
    """Per-group heaps of upcoming deadlines."""

    __slots__ = ("_heaps", "_is_current")

    def __init__(self, is_current: IsCurrent) -> None:
        self._heaps: dict[Group, list[tuple[int, str]]] = {}
        self._is_current = is_current

    def note(self, ticket_id: str, key: DeadlineKey) -> None:
        """Record a new key of the ticket's; an old entry goes stale by itself."""
        group, deadline = key
        heapq.heappush(self._heaps.setdefault(group, []), (deadline, ticket_id))

    def replace(self, heaps: dict[Group, list[tuple[int, str]]]) -> None:
        """Start again from group → (deadline, ticket id) entries (after an index rebuild)."""
        for heap in heaps.values():
            heapq.heapify(heap)
        self._heaps = heaps

    def heaps(self) -> dict[Group, list[tuple[int, str]]]:
        """Group → its heap (shared), for a snapshot taken between changes."""
        return self._heaps

    def adopt(self, heaps: dict[Group, list[tuple[int, str]]]) -> None:
        """Take heaps from ``heaps()`` of an index over the same records."""
        self._heaps = heaps

    def soonest(self) -> dict[Group, int]:
        """Group → the earliest deadline still current (groups with none are left out)."""
        result: dict[Group, int] = {}
        for group, heap in self._heaps.items():
            while heap and not self._is_current(heap[0][1], (group, heap[0][0])):
                heapq.heappop(heap)
            if heap:
                result[group] = heap[0][0]
        return result
