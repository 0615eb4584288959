"""Reading changelog partitions back into memory, in large fetches.

A restarted or newly assigned worker needs the state of each of its partitions before it
processes input: every ticket's latest record and the partition's position. aiokafka's
``getmany`` hands over thousands of records per call; the values are kept as bytes while
reading (a compacted changelog can still hold several versions of a ticket) and only the
latest value of each ticket is decoded.
"""

from __future__ import annotations

import gc
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from ticket_slo.streams.core.changelog_codec import POSITION_KEY, decode_position, decode_record
from ticket_slo.streams.core.state_store import Record
from ticket_slo.streams.kafka.clients import aiokafka_consumer
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["LoadedPartition", "read_changelog_partitions", "ChangelogReadError", "collector_paused"]

log = logging.getLogger(__name__)

_FETCH_BYTES = 64 * 2**20


class ChangelogReadError(RuntimeError):
    """A changelog record cannot be read back; the message names the topic, partition and offset."""


@dataclass(slots=True)
class LoadedPartition:
    """One changelog partition, read to its end."""

    partition: int
    #: Ticket id → its latest record.
    records: dict[str, Record]
    #: The last input offset the state covers (None: no batch was ever written).
    position: int | None
    #: The changelog's end offset when it was read.
    end_offset: int
    #: Changelog records read (all versions, tombstones and positions).
    read: int
    seconds: float


async def read_changelog_partitions(settings: Settings, topic: str, partitions: Iterable[int], *,
                                    client_id: str) -> dict[int, LoadedPartition]:
    """Read ``partitions`` of ``topic`` from their first to their end offset, all at once."""
    started = time.monotonic()
    wanted = sorted(set(partitions))
    if not wanted:
        return {}
    with collector_paused():
        return await _read(settings, topic, wanted, client_id, started)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the block builds state read back (millions of new
    containers would set the collector off over and over, each pass walking everything
    built so far; none of them is part of a cycle), then what survives is frozen out of
    later collections: it lives as long as the partition is owned."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
        gc.freeze()


async def _read(settings: Settings, topic: str, wanted: list[int], client_id: str,
                started: float) -> dict[int, LoadedPartition]:
    from aiokafka.structs import TopicPartition

    consumer = aiokafka_consumer(settings, client_id=client_id, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest", fetch_max_bytes=_FETCH_BYTES,
                                 max_partition_fetch_bytes=_FETCH_BYTES)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in wanted]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends: dict[Any, int] = await consumer.end_offsets(tps)
        raw: dict[int, dict[bytes, bytes | None]] = {p: {} for p in wanted}
        positions: dict[int, bytes] = {}
        counts = dict.fromkeys(wanted, 0)
        remaining = {tp for tp in tps if ends[tp] > 0}
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=50_000)
            for tp, records in batches.items():
                latest = raw[tp.partition]
                counts[tp.partition] += len(records)
                for record in records:
                    if record.key == POSITION_KEY:
                        positions[tp.partition] = record.value
                    elif record.key is not None:
                        latest[record.key] = record.value
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    loaded: dict[int, LoadedPartition] = {}
    for tp in tps:
        partition = tp.partition
        records = _decode(topic, partition, raw.pop(partition))
        position = decode_position(positions[partition]) if partition in positions else None
        loaded[partition] = LoadedPartition(partition, records, position, ends[tp], counts[partition],
                                            time.monotonic() - started)
    return loaded


def _decode(topic: str, partition: int, latest: dict[bytes, bytes | None]) -> dict[str, Record]:
    records: dict[str, Record] = {}
    for key, value in latest.items():
        if value is None:
            continue
        try:
            records[key.decode()] = decode_record(value)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ChangelogReadError(f"{topic} partition {partition}: the value of key {key!r} is not a "
                                     f"ticket record ({exc})") from None
    return records
