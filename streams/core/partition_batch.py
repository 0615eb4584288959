"""One input partition's engine, fed a batch of records at a time.

The live worker and the benchmark's engine loop both process ``ticket-events`` this way:
every record of the batch is validated and applied in order, each followed by the timers
that fell due by its clock, and what the batch has to write comes back as one
``BatchWrites``: each ticket it touched once (its record as it stands after the batch),
the last input offset it applied, its outputs in the order the engine returned them, and
a dead letter per invalid record. Nothing here does I/O; the caller writes and publishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Protocol, Sequence

from ticket_slo.schemas.events import TicketEvent
from ticket_slo.schemas.outputs import DeadLetter
from ticket_slo.schemas.validation import InvalidEvent, parse_event
from ticket_slo.streams.core.changelog_codec import ChangelogWrite, changelog_writes, decode_record
from ticket_slo.streams.core.effects import Applied, Effect
from ticket_slo.streams.core.emission import Emission, EventSource
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.core.state_store import DictStateStore, Record

__all__ = ["TouchedStore", "InputRecord", "DeadLetterWrite", "BatchWrites", "PartitionBatcher", "AppliedHook"]


class TouchedStore(DictStateStore):
    """A dict ``StateStore`` that remembers which tickets were written since the last
    ``take_touched``, over records read back from the changelog: their values may still be
    in the stored form (bytes) until first used."""

    __slots__ = ("_touched",)

    def __init__(self, data: dict[str, Record] | None = None) -> None:
        super().__init__(data)
        self._touched: set[str] = set()

    def get(self, key: str) -> Record | None:
        """The record; a value still in its stored form (read back from the changelog, never
        touched since) is decoded now, once."""
        value = self._data.get(key)
        if value.__class__ is bytes:
            try:
                value = self._data[key] = decode_record(value)  # type: ignore[arg-type]
            except ValueError as exc:
                raise ValueError(f"the stored record of ticket {key!r} cannot be decoded ({exc})") from None
        return value

    def put(self, key: str, value: Record) -> None:
        self._data[key] = value
        self._touched.add(key)

    def delete(self, key: str) -> None:
        self._data.pop(key, None)
        self._touched.add(key)

    def data_is(self, data: dict[str, Record]) -> bool:
        """Whether this store works on ``data`` itself (not a copy)."""
        return self._data is data

    def take_touched(self) -> list[tuple[str, Record | None]]:
        """Each ticket written since the last call, once, with its record now (None: deleted)."""
        touched, self._touched = self._touched, set()
        data = self._data
        return [(key, data.get(key)) for key in touched]


class InputRecord(Protocol):
    """What is read of a ``ticket-events`` record (aiokafka's ``ConsumerRecord`` has these)."""

    @property
    def offset(self) -> int: ...

    @property
    def timestamp(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class DeadLetterWrite:
    """An invalid record's dead letter: its key, the ``DeadLetter`` JSON and the reason code."""

    key: bytes | None
    value: bytes
    reason: str


@dataclass(slots=True)
class BatchWrites:
    """What one batch of one partition has to write, in the order it is written."""

    partition: int
    #: Each touched ticket once (value None: a tombstone), then the position record.
    changelog: list[ChangelogWrite] = field(default_factory=list)
    emissions: list[Emission] = field(default_factory=list)
    dead_letters: list[DeadLetterWrite] = field(default_factory=list)
    #: Valid events applied (duplicates included), and how many of them were duplicates.
    events: int = 0
    duplicates: int = 0
    #: The last input offset the batch applied (None for a batch without records).
    position: int | None = None


#: Called for every valid event with what the engine did (the worker counts it in its metrics).
AppliedHook = Callable[[TicketEvent, Applied], None]
#: Told of each batch's touched tickets and their new records (None: deleted).
TouchedHook = Callable[[list[tuple[str, Record | None]]], None]
#: The engine clock for a record (the live worker's catch-up clock; the bench's wall time).
RecordClock = Callable[[InputRecord], float]


class PartitionBatcher:
    """One input partition: its engine over a ``TouchedStore`` and the last offset it applied."""

    __slots__ = ("topic", "partition", "store", "engine", "position", "watch")

    def __init__(self, topic: str, partition: int, engine_factory: Callable[[TouchedStore], SloEngine],
                 data: dict[str, Record] | None = None, position: int | None = None) -> None:
        self.topic = topic
        self.partition = partition
        self.store = TouchedStore(data)
        self.engine = engine_factory(self.store)
        self.position = position
        #: Called with each batch's touched tickets (record None: deleted), before they are
        #: encoded: the status API's index follows the state this way.
        self.watch: TouchedHook | None = None

    def take(self, records: Sequence[InputRecord], clock: RecordClock, wall_now: float,
             on_applied: AppliedHook | None = None) -> BatchWrites:
        """Apply ``records`` in order, each at ``clock(record)`` and followed by what fell due by
        then; return the writes. ``wall_now`` dates the dead letters."""
        out = BatchWrites(self.partition)
        emissions = out.emissions
        engine, topic, partition = self.engine, self.topic, self.partition
        for record in records:
            now = clock(record)
            try:
                event = parse_event(record.value, record.key)
            except InvalidEvent as invalid:
                letter = DeadLetter.of(invalid.reason, invalid.detail, record.value, record.key,
                                       datetime.fromtimestamp(wall_now, timezone.utc),
                                       topic=topic, partition=partition, offset=record.offset)
                out.dead_letters.append(DeadLetterWrite(record.key, letter.model_dump_json().encode(),
                                                        invalid.reason))
                continue
            applied = engine.apply(event, now, EventSource(topic, partition, record.offset))
            emissions.extend(applied.emissions)
            if on_applied is not None:
                on_applied(event, applied)
            out.events += 1
            if applied.effect is Effect.DUPLICATE:
                out.duplicates += 1
            # What fell due by this event's clock fires before the next event is applied, as
            # in replay: a later change in the same batch must not pre-empt a due breach.
            emissions.extend(engine.advance(now))
        if records:
            self.position = out.position = records[-1].offset
        out.changelog = changelog_writes(self._touched(), out.position)
        return out

    def advance(self, now: float) -> BatchWrites:
        """Fire what is due at ``now`` without input (timers between batches)."""
        out = BatchWrites(self.partition, emissions=self.engine.advance(now))
        out.changelog = changelog_writes(self._touched(), None)
        return out

    def _touched(self) -> list[tuple[str, Record | None]]:
        touched = self.store.take_touched()
        if self.watch is not None and touched:
            self.watch(touched)
        return touched
