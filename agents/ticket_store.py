"""The ``tickets`` table's store: each owned partition read back from its changelog in large
batches, with the input position written beside the tickets.

Faust's own recovery reads a changelog through its per-record consumer path (about 11,000
records/s measured here, 88 s for 1,000,000 open tickets). This store reads each newly
assigned changelog partition itself when the assignment arrives
(``ticket_slo.streams.kafka.changelog_reader``: from a local snapshot and the records after
it when there is a usable one, else from the start), and Faust's recovery leaves the table
out (``ticket_slo.agents.faust_fixes.table_manager``). The partitions are handed to the
``Tracker`` as they are; the tracker's engines work on the same dicts.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Iterable, Optional, Set

import faust
from faust.stores import memory
from faust.types import TP, EventT

from ticket_slo.streams.kafka.changelog_reader import LoadedPartition

__all__ = ["TicketStore", "TicketsTable", "PartitionReader"]

log = logging.getLogger(__name__)

#: Reads changelog partitions to their end: (topic, partitions) → loaded partitions.
PartitionReader = Callable[[str, Iterable[int]], Awaitable[dict[int, LoadedPartition]]]


class TicketStore(memory.Store):
    """Per-partition ticket records, loaded by ``reader`` on assignment."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.partitions: dict[int, LoadedPartition] = {}
        options = self.options or {}
        self.read_partitions: PartitionReader = options["reader"]

    @property
    def changelog_name(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())

    async def on_rebalance(self, assigned: Set[TP], revoked: Set[TP], newly_assigned: Set[TP],
                           generation_id: int = 0) -> None:
        """Forget partitions no longer owned; read the newly owned ones before Faust's recovery looks."""
        topic = self.changelog_name
        owned = {tp.partition for tp in assigned if tp.topic == topic}
        for partition in [p for p in self.partitions if p not in owned]:
            del self.partitions[partition]
        missing = owned - set(self.partitions)
        if not missing:
            return
        log.info("reading the state of partitions %s from %s", sorted(missing), topic)
        loaded = await self.read_partitions(topic, missing)
        for partition, state in sorted(loaded.items()):
            source = ("the changelog" if state.from_snapshot is None
                      else f"the local snapshot and {topic}'s records after it")
            log.info("partition %d: state read from %s: %d tickets, position %s, %d records in %.2f s",
                     partition, source, len(state.records), state.position, state.read, state.seconds)
        self.partitions.update(loaded)

    def persisted_offset(self, tp: TP) -> Optional[int]:
        """The changelog's last offset when it was read. Faust's recovery leaves this table out
        (``ticket_slo.agents.faust_fixes.table_manager``); should it ever ask, it finds
        everything read up to there."""
        state = self.partitions.get(tp.partition)
        if state is None or state.end_offset <= 0:
            return None
        return state.end_offset - 1

    def apply_changelog_batch(self, batch: Iterable[EventT], to_key: Callable[[Any], Any],
                              to_value: Callable[[Any], Any]) -> None:
        """Records Faust's recovery read past what this store read: ignored, never applied.

        The tracker starts on a partition as soon as this store has read it, before Faust's
        recovery looks at the changelog's end, so what Faust finds past the persisted offset
        is this worker's own newer writes (the live state already has them, and applying
        them again would put older versions of the tickets over it) or, at worst, late
        writes of a previous owner that had lost the partition, which are stale too.
        """
        skipped = sum(1 for _ in batch)
        if skipped:
            log.debug("ignored %d changelog records read by Faust's recovery", skipped)

    async def on_recovery_completed(self, active_tps: Set[TP], standby_tps: Set[TP]) -> None:
        """Nothing to drop: ``on_rebalance`` keeps exactly the owned partitions."""

    def __len__(self) -> int:
        return sum(len(state.records) for state in self.partitions.values())


class TicketsTable(faust.Table):
    """A Faust table whose store is a ``TicketStore`` (pass ``options={"reader": ...}``)."""

    #: Faust's recovery leaves this table out: its store reads the changelog itself.
    reads_own_changelog = True

    def _new_store(self) -> TicketStore:
        return TicketStore(self.app.conf.store, self.app, self, table_name=self.name,
                           key_type=self.key_type, key_serializer=self.key_serializer,
                           value_serializer=self.value_serializer, value_type=self.value_type,
                           loop=self.loop, options=self.options)
