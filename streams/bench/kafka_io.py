"""Talking to the broker for the benchmark: preload, lag of a group, raw reads, record lookup."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Callable, Iterable

from kafka import TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import CoordinatorNotAvailableError
from kafka.partitioner.default import murmur2

from ticket_slo.streams.bench.lifecycle import Record
from ticket_slo.streams.bench.processes import BenchError
from ticket_slo.streams.kafka.clients import admin_client, aiokafka_consumer, aiokafka_producer, make_consumer
from ticket_slo.streams.kafka.settings import Settings
from ticket_slo.streams.kafka.topics import TopicSpec, ensure_topics

__all__ = ["produce", "LagWatcher", "Stalled", "partition_of", "create_topic", "read_changelog", "consume_all",
           "first_record", "find_keys", "first_times", "last_record_times", "delete_prefixed", "progress"]

_STARTED = time.monotonic()
#: The client id of every connection the benchmark itself opens (not its workers').
CLIENT_ID = "ticket-slo-bench"


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries only the results)."""
    print(f"bench [{time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java, kafka-python, aiokafka) gives ``key``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Stalled(BenchError):
    """A consumer group's committed offsets stopped moving before its lag reached zero."""


def create_topic(settings: Settings, name: str, partitions: int) -> None:
    """A topic of the run (its name carries the run's prefix, so it is new)."""
    ensure_topics(settings, [TopicSpec(name, partitions, settings.replication_factor)])


def produce(settings: Settings, topic: str, records: Iterable[Record], *, what: str,
            total: int | None = None) -> tuple[int, float]:
    """Send keyed records as fast as aiokafka goes, wait for every ack; (count, seconds)."""
    return asyncio.run(_produce(settings, topic, records, what, total))


async def _produce(settings: Settings, topic: str, records: Iterable[Record], what: str,
                   total: int | None) -> tuple[int, float]:
    producer = aiokafka_producer(settings, client_id=CLIENT_ID, acks="all", linger_ms=20,
                                 max_batch_size=256 * 1024, max_request_size=4 * 1024 * 1024)
    await producer.start()
    started = time.monotonic()
    next_report = started + 5.0
    count = 0
    try:
        for key, value in records:
            await producer.send(topic, key=key, value=value)
            count += 1
            if count % 5000 == 0 and time.monotonic() >= next_report:
                progress(f"  {what}: {count}{f'/{total}' if total else ''} sent")
                next_report += 5.0
        await producer.flush()
    finally:
        await producer.stop()
    return count, time.monotonic() - started


class LagWatcher:
    """The committed offsets of a consumer group against the end of a topic."""

    def __init__(self, settings: Settings, group: str, topic: str, partitions: int) -> None:
        self._admin = admin_client(settings, client_id=CLIENT_ID)
        self.group = group
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]

    def close(self) -> None:
        self._admin.close()

    def ends(self) -> dict[TopicPartition, int]:
        found = self._admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in self.partitions})
        return {tp: int(found[tp].offset) for tp in self.partitions}

    def committed(self) -> dict[TopicPartition, int]:
        """The group's committed offsets, 0 where none is committed yet.

        On a broker where no group ever committed, the offsets topic and with it the
        group coordinator appear only once the first group joins: until then, nothing
        is committed.
        """
        try:
            groups = self._admin.list_group_offsets({self.group: self.partitions})
        except CoordinatorNotAvailableError:
            return {tp: 0 for tp in self.partitions}
        found = groups.get(self.group, {})
        return {tp: max(0, int(found[tp].offset)) if tp in found and found[tp] is not None else 0
                for tp in self.partitions}

    def lag(self) -> int:
        ends, done = self.ends(), self.committed()
        return sum(max(0, ends[tp] - done[tp]) for tp in self.partitions)

    def wait_zero(self, timeout: float, *, what: str, on_tick: Callable[[], None] | None = None,
                  interval: float = 0.1, stall_after: float = 60.0) -> float:
        """Poll until the group's lag is zero; the wall time that was first seen.

        Raises ``BenchError`` after ``timeout``, or ``Stalled`` as soon as the committed
        offsets have not moved for ``stall_after`` seconds (naming the partitions behind).
        """
        started = time.monotonic()
        next_report = started + 5.0
        ends = self.ends()  # the input is preloaded or fully sent: its end does not move
        total = sum(ends.values())
        last_done: dict[TopicPartition, int] | None = None
        moved_at = started
        while True:
            done = self.committed()
            lag = sum(max(0, ends[tp] - done[tp]) for tp in self.partitions)
            if lag == 0:
                return time.time()
            now = time.monotonic()
            if done != last_done:
                last_done, moved_at = done, now
            behind = ", ".join(f"{tp.partition}: {done[tp]}/{ends[tp]}" for tp in self.partitions
                               if done[tp] < ends[tp])
            if now - moved_at > stall_after:
                raise Stalled(f"{what}: stalled, committed offsets of {self.group} unchanged for "
                                 f"{stall_after:.0f}s with lag {lag} of {total} (partition: committed/end "
                                 f"{behind})")
            if now - started > timeout:
                raise BenchError(f"{what}: lag still {lag} of {total} after {timeout:.0f}s ({behind})")
            if now >= next_report:
                progress(f"  {what}: lag {lag} of {total}")
                next_report += 5.0
            if on_tick is not None:
                on_tick()
            time.sleep(interval)


def read_changelog(settings: Settings, topic: str) -> tuple[int, float, int]:
    """Read a whole topic with a raw aiokafka consumer: (records, seconds, bytes)."""
    return asyncio.run(_read_all(settings, topic))


async def _read_all(settings: Settings, topic: str) -> tuple[int, float, int]:
    from aiokafka.structs import TopicPartition as ATP

    started = time.monotonic()
    consumer = aiokafka_consumer(settings, client_id=CLIENT_ID, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest")
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            raise BenchError(f"topic {topic!r} not found for the raw read")
        # A changelog has the partition count of the pipeline's topics.
        tps = [ATP(topic, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        count = size = 0
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=10_000)
            for tp, records in batches.items():
                count += len(records)
                size += sum(len(r.value or b"") + len(r.key or b"") for r in records)
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return count, time.monotonic() - started, size
    finally:
        await consumer.stop()


def consume_all(settings: Settings, topic: str, *, idle: float = 2.0, timeout: float = 120.0) -> list:
    """Every record of ``topic`` from the start, until nothing new arrives for ``idle`` seconds."""
    consumer = make_consumer(settings, topic, client_id=CLIENT_ID)
    records: list = []
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            got = consumer.poll(timeout_ms=300)
            if got:
                for batch in got.values():
                    records.extend(batch)
                quiet_since = time.monotonic()
            elif consumer.assignment() and time.monotonic() - quiet_since >= idle:
                break
    finally:
        consumer.close()
    return records


def first_record(settings: Settings, topic: str, partition: int, offset: int, key: bytes,
                 timeout: float = 60.0):
    """The first record with ``key`` at or after ``offset`` in one partition (or None)."""
    return find_keys(settings, topic, {partition: offset}, {key}, timeout).get(key)


def find_keys(settings: Settings, topic: str, starts: dict[int, int], keys: set[bytes],
              timeout: float = 15.0) -> dict[bytes, Any]:
    """The first record of each of ``keys``, reading the partitions of ``starts`` from their offsets."""
    consumer = make_consumer(settings, client_id=CLIENT_ID)
    tps = {partition: TopicPartition(topic, partition) for partition in starts}
    consumer.assign(list(tps.values()))
    for partition, tp in tps.items():
        consumer.seek(tp, starts[partition])
    found: dict[bytes, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(found) < len(keys) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=300, max_records=2000).values():
                for record in records:
                    if record.key in keys and record.key not in found:
                        found[record.key] = record
    finally:
        consumer.close()
    return found


def first_times(settings: Settings, topic: str, starts: dict[int, int], *, since: float,
                timeout: float = 15.0) -> dict[int, float]:
    """Per partition of ``starts``, the timestamp (epoch seconds) of its first record at or after
    ``starts[partition]`` stamped at ``since`` or later: when a process launched at ``since``
    first wrote there. A partition without such a record is left out."""
    consumer = make_consumer(settings, client_id=CLIENT_ID)
    tps = {partition: TopicPartition(topic, partition) for partition in starts}
    consumer.assign(list(tps.values()))
    ends = consumer.end_offsets(list(tps.values()))
    for partition, tp in tps.items():
        consumer.seek(tp, starts[partition])
    pending = {tp for partition, tp in tps.items() if ends[tp] > starts[partition]}
    found: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    try:
        while pending and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=300, max_records=2000).items():
                stamp = next((r.timestamp / 1000 for r in records if r.timestamp / 1000 >= since), None)
                if tp in pending and stamp is not None:
                    found[tp.partition] = stamp
                    pending.discard(tp)
                    consumer.pause(tp)
            pending = {tp for tp in pending if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close()
    return found


def last_record_times(settings: Settings, topic: str) -> float | None:
    """The newest record timestamp (epoch seconds) over all partitions of ``topic``."""
    consumer = make_consumer(settings, client_id=CLIENT_ID)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = consumer.end_offsets(tps)
        newest: float | None = None
        for tp in tps:
            if ends[tp] == 0:
                continue
            consumer.assign([tp])
            consumer.seek(tp, ends[tp] - 1)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                got = consumer.poll(timeout_ms=300).get(tp, [])
                if got:
                    stamp = max(r.timestamp for r in got) / 1000
                    newest = stamp if newest is None else max(newest, stamp)
                    break
        return newest
    finally:
        consumer.close()


def delete_prefixed(settings: Settings, prefix: str) -> int:
    """Delete the topics and consumer groups a run created (all share its prefix)."""
    admin = admin_client(settings, client_id=CLIENT_ID)
    try:
        topics = [t for t in admin.list_topics() if t.startswith(prefix)]
        if topics:
            admin.delete_topics(topics, raise_errors=False)
        try:
            groups = [_group_id(g) for g in admin.list_groups()]
            mine = [g for g in groups if isinstance(g, str) and g.startswith(prefix)]
            if mine:
                admin.delete_groups(mine)
        except Exception:  # noqa: BLE001 - best effort: a group may still be alive
            pass
        return len(topics)
    finally:
        admin.close()


def _group_id(group: object) -> str | None:
    if isinstance(group, dict):
        return group.get("group_id") or group.get("group")
    if isinstance(group, tuple):
        return group[0]
    return getattr(group, "group_id", None)
