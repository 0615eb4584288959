"""One pure engine per owned partition, with its state in the shared Faust table.

Faust keeps every owned partition's keys in one table; a ticket's changelog
partition is that of the event being processed. Each record is stored as
``[partition, engine_record]`` so that the engines can be rebuilt per partition
after a rebalance without knowing the producer's partitioner, and so that keys of
partitions this worker no longer owns can be dropped from memory.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable

from streams.engine import SloEngine
from streams.state_store import Record

__all__ = ["TableStore", "PartitionEngines"]

EngineFactory = Callable[["TableStore"], SloEngine]


class TableStore:
    """The ``StateStore`` view of one partition of a Faust table."""

    __slots__ = ("_table", "_partition", "_snapshot")

    def __init__(self, table: Any, partition: int, snapshot: list[tuple[str, Record]]) -> None:
        self._table = table
        self._partition = partition
        # Only read by the engine's index rebuild, right after construction.
        self._snapshot: list[tuple[str, Record]] | None = snapshot

    def get(self, key: str) -> Record | None:
        stored = self._table.get(key)
        return None if stored is None else stored[1]

    def put(self, key: str, value: Record) -> None:
        self._table[key] = [self._partition, value]

    def delete(self, key: str) -> None:
        if key in self._table:
            del self._table[key]

    def items(self) -> Iterable[tuple[str, Record]]:
        snapshot, self._snapshot = self._snapshot, None
        if snapshot is not None:
            return snapshot
        return [(k, v[1]) for k, v in list(self._table.data.items()) if v and v[0] == self._partition]


class PartitionEngines:
    """Builds the engines of the owned partitions lazily, and forgets them on rebalance."""

    def __init__(self, table: Any, factory: EngineFactory) -> None:
        self._table = table
        self._factory = factory
        self._engines: dict[int, SloEngine] = {}
        self._owned: set[int] | None = None

    def on_assignment(self, owned: set[int]) -> None:
        """The worker now owns ``owned``: drop every engine and the keys of other partitions.

        Engines are rebuilt from the table at the next message, after Faust has
        recovered the table from its changelog.
        """
        self._engines.clear()
        self._owned = set(owned)

    def engine(self, partition: int) -> SloEngine:
        engine = self._engines.get(partition)
        if engine is None:
            self._rebuild()
            engine = self._engines.get(partition)
            if engine is None:  # a message of a partition we were not told about
                engine = self._engines[partition] = self._factory(TableStore(self._table, partition, []))
        return engine

    def engines(self) -> dict[int, SloEngine]:
        return dict(self._engines)

    def owned_count(self) -> int:
        """Partitions assigned to this worker (engines are built for them lazily)."""
        return len(self._owned) if self._owned is not None else len(self._engines)

    def _rebuild(self) -> None:
        """Group the table by partition in one pass and build every missing engine."""
        by_partition: dict[int, list[tuple[str, Record]]] = defaultdict(list)
        foreign: list[str] = []
        data = self._table.data
        for key, stored in list(data.items()):
            if not stored:
                continue
            partition, record = stored
            if self._owned is not None and partition not in self._owned:
                foreign.append(key)
            else:
                by_partition[partition].append((key, record))
        for key in foreign:  # left behind by a revoked partition: not ours to act on
            data.pop(key, None)
        wanted = self._owned if self._owned is not None else set(by_partition)
        for partition in wanted:
            if partition not in self._engines:
                store = TableStore(self._table, partition, by_partition.get(partition, []))
                self._engines[partition] = self._factory(store)
