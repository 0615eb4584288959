"""The engine's two clocks, side by side: replay's event time, and a live partition's.

One rule for both: an event is applied at a clock that already includes the event's
own time, then due timers fire. Replay's clock is the largest ``occurred_at`` seen;
a live partition's is wall time once caught up. The engine itself reads no clock:
its callers pass ``now``, taken from one of these.

Replay (``ReplayClock``): each valid event first moves the clock to its
``occurred_at`` (never backwards), so a late priority change cannot warn about a
deadline that had already passed in event time when the change happened.

Live (``PartitionCatchUp``): after a restart or a rebalance a partition may hold
events published while nobody was processing it, among them acknowledgements that
arrived before their deadlines. Firing timers on wall time before those are applied
would page people for breaches that never happened. So until a partition has consumed
the backlog it had when it was assigned, its clock follows the publication time of the
events it has applied (as replay follows ``occurred_at``); from then on it is wall
time. Both minus the grace. Pure bookkeeping: the agent tells it where the backlog
ends and what it processed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ticket_slo.streams.core.partition_batch import InputRecord

__all__ = ["ReplayClock", "PartitionCatchUp"]


class ReplayClock:
    """Event time for replay: the largest ``occurred_at`` seen, in engine microseconds."""

    __slots__ = ("_now",)

    def __init__(self) -> None:
        self._now: int | None = None

    @property
    def now(self) -> int | None:
        """The clock, or ``None`` before the first event."""
        return self._now

    def observe(self, occurred: int) -> int:
        """An event that occurred at ``occurred``: move the clock to it (never back) and return it."""
        if self._now is None or occurred > self._now:
            self._now = occurred
        return self._now


@dataclass(slots=True)
class _Partition:
    end: int  # the first offset past the backlog seen at assignment
    next_offset: int  # the next offset this worker will process
    last_timestamp: float | None = None  # publication time of the last event processed
    tentative: bool = False  # the start was not known yet: measure again at the next chance
    tentative_since: float | None = None  # when the first tentative measurement was made

    @property
    def caught_up(self) -> bool:
        return self.next_offset >= self.end


class PartitionCatchUp:
    """Per-partition catch-up state and the clock that follows from it."""

    def __init__(self, grace: float, patience: float = 5.0) -> None:
        self._grace = grace
        self._patience = patience
        self._partitions: dict[int, _Partition] = {}

    def reset(self) -> None:
        """Forget every partition (a rebalance): each must be measured again."""
        self._partitions.clear()

    def knows(self, partition: int) -> bool:
        """Whether the partition's backlog is measured for good (not tentatively)."""
        state = self._partitions.get(partition)
        return state is not None and not state.tentative

    def set_backlog(self, partition: int, committed: int | None, end: int | None, now: float) -> None:
        """The partition starts at ``committed`` and its backlog ends before ``end``.

        An unknown ``committed`` (the group never committed this partition) counts from
        offset 0 but stays tentative, so the first event processed can say where
        processing really starts. If no event comes within ``patience`` seconds there is
        nothing left to wait for (the previous owner's effects are in the restored state):
        the partition is then taken as caught up, so its timers cannot stall.
        """
        known = committed is not None and committed >= 0
        start = committed if known else 0
        end = end if end is not None else start
        previous = self._partitions.get(partition)
        # With no commit and nothing in the partition there is nothing to wait for.
        state = _Partition(end=end, next_offset=start, tentative=not known and end > start)
        if previous is not None:  # keep what events already proved
            state.next_offset = max(state.next_offset, previous.next_offset)
            state.last_timestamp = previous.last_timestamp
            state.tentative_since = previous.tentative_since
        if state.tentative:
            state.tentative_since = state.tentative_since if state.tentative_since is not None else now
            if now - state.tentative_since >= self._patience:
                state.tentative = False
                state.next_offset = max(state.next_offset, end)
        self._partitions[partition] = state

    def on_event(self, partition: int, offset: int, timestamp: float | None) -> None:
        """An input event at ``offset`` published at ``timestamp`` is being applied."""
        state = self._partitions.get(partition)
        if state is None:  # an event before the backlog was measured: measure from here
            state = self._partitions[partition] = _Partition(end=offset + 1, next_offset=offset)
        if state.tentative:  # the first event after an assignment is where processing starts
            state.next_offset = offset
            state.tentative = False
        state.next_offset = max(state.next_offset, offset + 1)
        if timestamp is not None:
            state.last_timestamp = max(state.last_timestamp or timestamp, timestamp)

    def caught_up(self, partition: int) -> bool:
        state = self._partitions.get(partition)
        return state is not None and state.caught_up

    def record_clock(self, partition: int, wall: float) -> Callable[[InputRecord], float]:
        """For one batch of ``partition`` read at ``wall``: a function of each input record (its
        offset and Kafka timestamp, ms; None or negative: unknown) that notes it (``on_event``)
        and returns the engine clock then (``clock``, or ``wall - grace`` while that is unknown).

        The same answers as the two calls, from the partition's state looked up once the first
        record has made it: for one batch applied without a pause (nothing may reset or measure
        the partition in between), which is how the worker applies a partition's share."""
        grace, on_event, partitions = self._grace, self.on_event, self._partitions
        live = wall - grace
        state: _Partition | None = None

        def clock(record: InputRecord) -> float:
            nonlocal state
            offset, stamp = record.offset, record.timestamp
            seconds = stamp / 1000 if stamp is not None and stamp >= 0 else None
            if state is None or state.tentative:  # the first record: on_event makes or settles the state
                on_event(partition, offset, seconds)
                state = partitions[partition]
            else:
                if offset >= state.next_offset:
                    state.next_offset = offset + 1
                if seconds is not None and (state.last_timestamp is None or seconds > state.last_timestamp):
                    state.last_timestamp = seconds
            last = state.last_timestamp
            if last is None or state.next_offset >= state.end:
                return live
            return (wall if wall < last else last) - grace

        return clock

    def clock(self, partition: int, wall: float) -> float | None:
        """The engine clock of ``partition`` now, or ``None`` while nothing says what time it is."""
        state = self._partitions.get(partition)
        if state is None:
            return None
        if state.caught_up:
            return wall - self._grace
        if state.last_timestamp is None:
            return None
        return min(wall, state.last_timestamp) - self._grace
