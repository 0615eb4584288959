"""Reading changelog partitions back into memory, in large fetches.

A restarted or newly assigned worker needs the state of each of its partitions before it
processes input: every ticket's latest record and the partition's position. aiokafka's
``getmany`` hands over thousands of records per call; the values are kept as bytes while
reading (a compacted changelog can still hold several versions of a ticket), and the latest
value of each ticket is kept as it is: the engine indexes it from its header and decodes it
when it first touches the ticket (``ticket_slo.streams.core.changelog_codec``). With a local snapshot whose anchor the changelog
still holds (``ticket_slo.streams.kafka.local_snapshots``), only the records after the
anchor are read, and the snapshot's engine index comes along when none of them changed a
ticket.
"""

from __future__ import annotations

import gc
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from ticket_slo.streams.core.changelog_codec import POSITION_KEY, decode_position, decode_record, is_indexable
from ticket_slo.streams.core.engine import EngineIndex
from ticket_slo.streams.core.state_store import Record
from ticket_slo.streams.kafka.clients import aiokafka_consumer
from ticket_slo.streams.kafka.local_snapshots import ChangelogAnchor, SnapshotError, SnapshotHeader, read_body, read_header
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
    #: The last changelog record the state covers (None: the partition was empty).
    last: ChangelogAnchor | None = None
    #: The engine's index, when a local snapshot gave it and no record after it changed a ticket.
    index: EngineIndex | None = None
    #: Tickets taken from a local snapshot (None: the whole changelog was read).
    from_snapshot: int | None = None


async def read_changelog_partitions(settings: Settings, topic: str, partitions: Iterable[int], *,
                                    client_id: str, snapshots: Path | None = None) -> dict[int, LoadedPartition]:
    """Read ``partitions`` of ``topic`` to their end offset, all at once: from a local snapshot
    in ``snapshots`` when its anchor is still in the changelog, else from the first offset."""
    started = time.monotonic()
    wanted = sorted(set(partitions))
    if not wanted:
        return {}
    with collector_paused():
        return await _read(settings, topic, wanted, client_id, started, snapshots)


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


@dataclass(slots=True)
class _Progress:
    """One partition while it is read."""

    #: Key → latest value read (None: a tombstone), in the order first seen.
    latest: dict[bytes, bytes | None] = field(default_factory=dict)
    position: bytes | None = None
    last: ChangelogAnchor | None = None
    read: int = 0
    #: A snapshot whose anchor must be the first record read; then its body.
    pending: SnapshotHeader | None = None
    base: tuple[SnapshotHeader, dict[str, Record], EngineIndex] | None = None


async def _read(settings: Settings, topic: str, wanted: list[int], client_id: str,
                started: float, snapshots: Path | None) -> dict[int, LoadedPartition]:
    from aiokafka.structs import TopicPartition

    consumer = aiokafka_consumer(settings, client_id=client_id, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest", fetch_max_bytes=_FETCH_BYTES,
                                 max_partition_fetch_bytes=_FETCH_BYTES)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in wanted]
        consumer.assign(tps)
        firsts: dict[Any, int] = await consumer.beginning_offsets(tps)
        ends: dict[Any, int] = await consumer.end_offsets(tps)
        progress = {tp: _Progress() for tp in tps}
        for tp in tps:
            header = None if snapshots is None else read_header(snapshots, topic, tp.partition)
            if header is not None and firsts[tp] <= header.anchor.offset < ends[tp]:
                progress[tp].pending = header
                consumer.seek(tp, header.anchor.offset)
            else:
                if header is not None:
                    log.info("%s: its anchor (offset %d) is outside partition %d's offsets %d-%d; reading "
                             "the changelog", header.path, header.anchor.offset, tp.partition, firsts[tp], ends[tp])
                consumer.seek(tp, firsts[tp])
        remaining = {tp for tp in tps if ends[tp] > firsts[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=50_000)
            for tp, records in batches.items():
                state = progress[tp]
                if state.pending is not None and records:
                    records = _take_snapshot(consumer, tp, state, records, firsts[tp])
                _take(state, records)
            for tp in list(remaining):
                if progress[tp].pending is None and await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return {tp.partition: _loaded(topic, tp.partition, progress[tp], ends[tp], started) for tp in tps}


def _take_snapshot(consumer: Any, tp: Any, state: _Progress, records: list[Any], first: int) -> list[Any]:
    """The first records read after seeking to a snapshot's anchor: if the anchor is there,
    load the snapshot and return the records after it; else read the partition from ``first``."""
    header, state.pending = state.pending, None
    assert header is not None
    head = records[0]
    if header.anchor.matches(head.offset, head.key, head.value):
        try:
            records_, index = read_body(header)
        except SnapshotError as exc:
            log.warning("%s; reading partition %d from the changelog", exc, tp.partition)
        else:
            state.base = (header, records_, index)
            state.last = header.anchor
            return records[1:]
    else:
        log.info("%s: the changelog no longer holds its anchor at offset %d (found offset %d); reading "
                 "partition %d from the changelog", header.path, header.anchor.offset, head.offset, tp.partition)
    consumer.seek(tp, first)
    return []


def _take(state: _Progress, records: list[Any]) -> None:
    latest = state.latest
    state.read += len(records)
    for record in records:
        if record.key == POSITION_KEY:
            state.position = record.value
        elif record.key is not None:
            latest[record.key] = record.value
    if records:
        last = records[-1]
        state.last = ChangelogAnchor(last.offset, last.key or b"", last.value)


def _loaded(topic: str, partition: int, state: _Progress, end: int, started: float) -> LoadedPartition:
    """The partition's state: the snapshot's (if any) with every later record applied."""
    tail = _decode(topic, partition, state.latest)
    position = decode_position(state.position) if state.position is not None else None
    if state.base is None:
        records = {key: record for key, record in tail.items() if record is not None}
        return LoadedPartition(partition, records, position, end, state.read, time.monotonic() - started,
                               state.last)
    header, records, index = state.base
    for key, record in tail.items():
        if record is None:
            records.pop(key, None)
        else:
            records[key] = record
    return LoadedPartition(partition, records, header.position if position is None else position, end, state.read,
                           time.monotonic() - started, state.last, None if tail else index, len(records))


def _decode(topic: str, partition: int, latest: dict[bytes, bytes | None]) -> dict[str, Record | bytes | None]:
    """Each key's latest value (None: a tombstone). Values with the index header stay bytes,
    decoded by the engine when it first touches the ticket; older forms are decoded now."""
    records: dict[str, Record | bytes | None] = {}
    key = b""
    try:
        for key, value in latest.items():
            if value is None or is_indexable(value):
                records[key.decode()] = value
            else:
                records[key.decode()] = decode_record(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ChangelogReadError(f"{topic} partition {partition}: the value of key {key!r} is not a "
                                 f"ticket record ({exc})") from None
    return records
