"""The per-ticket values of the Faust table: their stored form, built and read here only.

A value is stored as the JSON list ``[partition, record, outbox]`` and an outbox entry as
``[source, offset, [[kind, json], ...]]``; changelogs already written hold exactly that, so
the stored form does not change. Code reads and writes it through ``StoredTicket`` and
``OutboxEntry`` instead of indexing lists:

* ``partition``: the input partition the ticket belongs to, so the engines can be rebuilt
  per partition after a rebalance without knowing the producer's partitioner, and the keys
  of a partition this worker no longer owns can be dropped from memory;
* ``record``: the engine's ``TicketState`` record;
* ``outbox``: the outputs this ticket produced for input messages whose offsets may not be
  committed yet, one entry per message (see ``ticket_slo.agents.tracker`` for why).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Callable, NamedTuple

from ticket_slo.streams.core.emission import EmissionKind
from ticket_slo.streams.core.state_store import Record

__all__ = ["Source", "OutboxOutput", "OutboxEntry", "StoredTicket", "partition_of", "record_of", "outbox_of"]


class Source(str, Enum):
    """The input topic a message came from; the values are the stored codes."""

    EVENTS = "e"  # ticket-events
    CLOCK = "c"  # the internal clock topic


class OutboxOutput(NamedTuple):
    """One output record waiting in an outbox: its kind (topic) and its JSON value."""

    kind: EmissionKind
    payload: str


class OutboxEntry(NamedTuple):
    """The outputs one input message produced for one ticket."""

    source: Source
    offset: int
    outputs: list[OutboxOutput]

    @classmethod
    def read(cls, stored: list[Any]) -> OutboxEntry:
        source, offset, outputs = stored
        return cls(_SOURCE_BY_CODE[source], offset, [OutboxOutput(kind, payload) for kind, payload in outputs])

    def to_stored(self) -> list[Any]:
        return [self.source.value, self.offset, [[output.kind, output.payload] for output in self.outputs]]


class StoredTicket(NamedTuple):
    """A table value, read."""

    partition: int
    record: Record
    outbox: list[OutboxEntry]

    @classmethod
    def read(cls, stored: list[Any]) -> StoredTicket:
        return cls(stored[0], stored[1], outbox_of(stored))

    def to_stored(self) -> list[Any]:
        return [self.partition, self.record, [entry.to_stored() for entry in self.outbox]]


def partition_of(stored: list[Any] | None) -> int | None:
    """The partition of a stored value without reading the rest (scans of the whole table)."""
    return stored[0] if stored else None


def record_of(stored: list[Any]) -> Record:
    """The engine record of a stored value without reading its outbox (every engine read)."""
    record: Record = stored[1]
    return record


def outbox_of(stored: list[Any], keep: Callable[[Source, int], bool] | None = None) -> list[OutboxEntry]:
    """The outbox of a stored value (values written before outboxes existed have none).

    With ``keep``, only the entries whose (source, offset) it accepts are read: most entries
    are of committed input, and a rebuild looks at every ticket's outbox.
    """
    if len(stored) < 3:
        return []
    if keep is None:
        return list(map(OutboxEntry.read, stored[2]))
    return [OutboxEntry.read(entry) for entry in stored[2] if keep(_SOURCE_BY_CODE[entry[0]], entry[1])]


#: ``Source(code)`` goes through Enum's lookup machinery; this runs for every outbox entry read.
_SOURCE_BY_CODE: dict[str, Source] = {source.value: source for source in Source}
