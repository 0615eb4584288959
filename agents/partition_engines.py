"""One pure engine per owned partition, with its state (and an outbox) in the shared Faust table.

Faust keeps every owned partition's keys in one table; a ticket's changelog partition is
that of the message being processed. Values are ``StoredTicket``s (see
``ticket_slo.agents.table_values``). The engine's writes are staged in a ``TableStore`` and
land in the table once per input message, each touched ticket together with the outputs
that message produced for it (``TableStore.commit``); when an engine is rebuilt, the
outputs of outbox entries at or past the committed offset are handed back for publishing
again. Why, and in which order everything is written: ``ticket_slo.agents.tracker``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Callable, Final, Iterable, MutableMapping, NamedTuple, Protocol

from ticket_slo.agents.table_values import (
    OutboxEntry,
    OutboxOutput,
    Source,
    StoredTicket,
    outbox_of,
    partition_of,
    record_of,
)
from ticket_slo.streams.core.emission import Emission, EmissionKind
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.core.state_store import Record

__all__ = ["TicketTable", "TableStore", "PartitionEngines", "Redelivery", "CommittedOffset", "OUTBOX_LIMIT"]

log = logging.getLogger(__name__)

#: Outbox entries kept per ticket (each is one input message's outputs for that ticket).
OUTBOX_LIMIT: Final = 16

_DELETED: Final = object()

EngineFactory = Callable[["TableStore"], SloEngine]
#: (source, partition) → the committed offset of that input partition, if known.
CommittedOffset = Callable[[Source, int], "int | None"]


class Redelivery(NamedTuple):
    """An output found in an outbox that must be published again."""

    kind: EmissionKind
    key: str
    payload: str


class TicketTable(Protocol):
    """What is used of a Faust table (a dict with a ``data`` attribute stands in for it in tests)."""

    @property
    def data(self) -> MutableMapping[str, Any]: ...

    def get(self, key: str) -> Any: ...

    def __setitem__(self, key: str, value: Any) -> None: ...

    def __delitem__(self, key: str) -> None: ...

    def __contains__(self, key: object) -> bool: ...


class TableStore:
    """The ``StateStore`` view of one partition of the Faust table, with staged writes."""

    __slots__ = ("_table", "_partition", "_snapshot", "_staged", "_committed")

    def __init__(self, table: TicketTable, partition: int, snapshot: list[tuple[str, Record]],
                 committed: CommittedOffset) -> None:
        self._table = table
        self._partition = partition
        # Only read by the engine's index rebuild, right after construction.
        self._snapshot: list[tuple[str, Record]] | None = snapshot
        self._staged: dict[str, Any] = {}
        self._committed = committed

    def get(self, key: str) -> Record | None:
        staged = self._staged.get(key)
        if staged is not None:
            return None if staged is _DELETED else staged
        stored = self._table.get(key)
        return None if stored is None else record_of(stored)

    def put(self, key: str, value: Record) -> None:
        self._staged[key] = value

    def delete(self, key: str) -> None:
        self._staged[key] = _DELETED

    def items(self) -> Iterable[tuple[str, Record]]:
        snapshot, self._snapshot = self._snapshot, None
        if snapshot is not None:
            return snapshot
        return [(key, record_of(stored)) for key, stored in list(self._table.data.items())
                if partition_of(stored) == self._partition]

    def commit(self, source: Source, offset: int, emissions: list[tuple[Emission, str]]) -> None:
        """Write the staged state, each ticket's outbox carrying the outputs of this message."""
        produced: dict[str, list[OutboxOutput]] = defaultdict(list)
        for emission, payload in emissions:
            produced[emission.key].append(OutboxOutput(emission.kind, payload))
        staged, self._staged = self._staged, {}
        for key, record in staged.items():
            if record is _DELETED:
                if key in self._table:
                    del self._table[key]
                continue
            outbox = self._pending_outbox(key)
            if key in produced:
                outbox.append(OutboxEntry(source, offset, produced[key]))
                # Bounded, so a ticket's value always fits a changelog message: only a crash
                # within one commit interval of more emitting messages could lose the oldest.
                del outbox[:-OUTBOX_LIMIT]
            self._table[key] = StoredTicket(self._partition, record, outbox).to_stored()

    def _pending_outbox(self, key: str) -> list[OutboxEntry]:
        """The ticket's outbox entries whose input offsets are not committed yet."""
        stored = self._table.get(key)
        if not stored:
            return []
        return outbox_of(stored, self._uncommitted)

    def _uncommitted(self, source: Source, offset: int) -> bool:
        return uncommitted(self._committed, source, self._partition, offset)


class PartitionEngines:
    """Builds the engine of each owned partition when its first message arrives, and forgets
    the partitions a rebalance takes away.

    A partition's first message cannot arrive before Faust has recovered that partition's
    table state from the changelog (its stream stays paused until then), so an engine built
    at that moment sees the whole state. Partitions kept through a rebalance keep their engines.
    """

    def __init__(self, table: TicketTable, factory: EngineFactory, committed: CommittedOffset) -> None:
        self._table = table
        self._factory = factory
        self._committed = committed
        self._engines: dict[int, SloEngine] = {}
        self._stores: dict[int, TableStore] = {}
        self._owned: set[int] | None = None
        self._redeliveries: list[Redelivery] = []

    def on_assignment(self, owned: set[int]) -> None:
        """The worker now owns ``owned``: drop the engines and keys of every other partition."""
        self._owned = set(owned)
        for partition in [p for p in self._engines if p not in owned]:
            del self._engines[partition]
            del self._stores[partition]
        data = self._table.data
        for key in [k for k, stored in list(data.items()) if stored and partition_of(stored) not in owned]:
            data.pop(key, None)  # left behind by a revoked partition: not ours to act on

    def engine(self, partition: int) -> SloEngine:
        engine = self._engines.get(partition)
        if engine is None:
            engine = self._build(partition)
        return engine

    def store(self, partition: int) -> TableStore:
        self.engine(partition)
        return self._stores[partition]

    def take_redeliveries(self) -> list[Redelivery]:
        """Outputs found in outboxes when engines were built that must be published again."""
        taken, self._redeliveries = self._redeliveries, []
        return taken

    def engines(self) -> dict[int, SloEngine]:
        return dict(self._engines)

    def owned_count(self) -> int:
        """Partitions assigned to this worker (engines are built for them lazily)."""
        return len(self._owned) if self._owned is not None else len(self._engines)

    def _build(self, partition: int) -> SloEngine:
        """One pass over the table for this partition's records and uncommitted outboxes."""
        snapshot: list[tuple[str, Record]] = []

        def keep(source: Source, offset: int) -> bool:
            return uncommitted(self._committed, source, partition, offset)

        for key, stored in list(self._table.data.items()):
            if partition_of(stored) != partition:
                continue
            snapshot.append((key, record_of(stored)))
            for entry in outbox_of(stored, keep):
                self._redeliveries.extend(Redelivery(kind, key, payload) for kind, payload in entry.outputs)
        store = TableStore(self._table, partition, snapshot, self._committed)
        engine = self._factory(store)
        self._stores[partition] = store
        self._engines[partition] = engine
        log.info("partition %d: engine built from %d tickets (%d clocks running), %d outputs to redeliver",
                 partition, len(snapshot), engine.open_clocks(), len(self._redeliveries))
        return engine


def uncommitted(committed: CommittedOffset, source: Source, partition: int, offset: int) -> bool:
    """True unless ``offset`` of the input is below its partition's committed offset."""
    mark = committed(source, partition)
    return mark is None or offset >= mark
