"""The derived timer index: a min-heap of ``(due, ticket_id)`` with lazy deletion.

The store is the state of record and each ticket's record names its one current
due time. Rescheduling pushes a new entry and leaves the old one in place; an entry
is acted on only if it still equals the record's due time (``is_current``), so
every change costs one O(log n) push and no search. The index is never persisted:
after a restart or a partition assignment it is rebuilt from the store.
"""

from __future__ import annotations

import heapq
from typing import Callable, Iterable, Iterator

__all__ = ["IsCurrent", "TimerIndex"]

#: ``is_current(due, ticket_id)``: does the store still hold this due time for the ticket?
IsCurrent = Callable[[int, str], bool]


class TimerIndex:
    """Due times in engine microseconds; a timer fires once the clock is strictly past it."""

    __slots__ = ("_heap", "_is_current", "_live")

    def __init__(self, is_current: IsCurrent) -> None:
        self._heap: list[tuple[int, str]] = []
        self._is_current = is_current
        self._live = 0  # tickets that currently have a due time (maintained by the engine)

    def __len__(self) -> int:
        """Entries in the heap, stale ones included."""
        return len(self._heap)

    @property
    def live(self) -> int:
        return self._live

    def schedule(self, due: int, ticket_id: str) -> None:
        """Add an entry; the caller has already written ``due`` into the ticket's record."""
        heapq.heappush(self._heap, (due, ticket_id))
        if len(self._heap) > 2 * self._live + 1024:
            self._compact()

    def track(self, delta: int) -> None:
        """Count tickets gaining (+1) or losing (-1) a due time, for compaction."""
        self._live = max(0, self._live + delta)

    def replace(self, entries: Iterable[tuple[int, str]]) -> None:
        """Rebuild from ``(due, ticket_id)`` pairs read from the store: O(n) heapify."""
        self._heap = list(entries)
        heapq.heapify(self._heap)
        self._live = len(self._heap)

    def entries(self) -> list[tuple[int, str]]:
        """The heap itself (stale entries included), for a snapshot taken between changes."""
        return self._heap

    def adopt(self, heap: list[tuple[int, str]], live: int) -> None:
        """Take a heap from ``entries()`` of an index over the same records."""
        self._heap = heap
        self._live = live

    def peek(self) -> int | None:
        """Earliest current due time, discarding stale entries on the way."""
        heap = self._heap
        while heap:
            due, ticket_id = heap[0]
            if self._is_current(due, ticket_id):
                return due
            heapq.heappop(heap)
        return None

    def pop_due(self, now: int) -> Iterator[tuple[int, str]]:
        """Yield current entries with ``due < now``, earliest first (ties by ticket id).

        Entries pushed while iterating are seen too, if they are already due.
        """
        heap = self._heap
        while heap and heap[0][0] < now:
            due, ticket_id = heapq.heappop(heap)
            if self._is_current(due, ticket_id):
                yield due, ticket_id

    def _compact(self) -> None:
        """Drop stale entries when they outnumber live ones (amortised O(1) per push)."""
        self._heap = [entry for entry in self._heap if self._is_current(*entry)]
        heapq.heapify(self._heap)
        self._live = len(self._heap)
