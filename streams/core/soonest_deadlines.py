"""The soonest upcoming deadline per priority, for the 'time to the next breach' gauge.

One heap of (deadline, ticket id) per priority with lazy deletion, like the timer
index: an entry is pushed when a ticket's (priority, deadline) changes and is skipped
when it no longer matches the ticket's state. Reading is amortised O(log n), so a
scrape never scans the open tickets.
"""

from __future__ import annotations

import heapq
from typing import Callable

__all__ = ["DeadlineKey", "SoonestDeadlines"]

#: (priority, deadline in engine microseconds) of a clock that runs and has not breached.
DeadlineKey = tuple[str, int]
#: Answers whether ``ticket_id`` still has exactly this key.
IsCurrent = Callable[[str, DeadlineKey], bool]


class SoonestDeadlines:
    """Per-priority heaps of upcoming deadlines."""

    __slots__ = ("_heaps", "_is_current")

    def __init__(self, is_current: IsCurrent) -> None:
        self._heaps: dict[str, list[tuple[int, str]]] = {}
        self._is_current = is_current

    def note(self, ticket_id: str, old: DeadlineKey | None, new: DeadlineKey | None) -> None:
        """Record a ticket's new key; the old entry, if any, goes stale by itself."""
        if new is not None and new != old:
            priority, deadline = new
            heapq.heappush(self._heaps.setdefault(priority, []), (deadline, ticket_id))

    def replace(self, heaps: dict[str, list[tuple[int, str]]]) -> None:
        """Start again from priority → (deadline, ticket id) entries (after an index rebuild)."""
        for heap in heaps.values():
            heapq.heapify(heap)
        self._heaps = heaps

    def heaps(self) -> dict[str, list[tuple[int, str]]]:
        """Priority → its heap (shared), for a snapshot taken between changes."""
        return self._heaps

    def adopt(self, heaps: dict[str, list[tuple[int, str]]]) -> None:
        """Take heaps from ``heaps()`` of an index over the same records."""
        self._heaps = heaps

    def soonest(self) -> dict[str, int]:
        """Priority → the earliest deadline still current (priorities with none are left out)."""
        result: dict[str, int] = {}
        for priority, heap in self._heaps.items():
            while heap and not self._is_current(heap[0][1], (priority, heap[0][0])):
                heapq.heappop(heap)
            if heap:
                result[priority] = heap[0][0]
        return result
