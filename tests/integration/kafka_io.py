"""Publishing to and reading from the real broker with kafka-python, for assertions."""

from __future__ import annotations

import json
import time
from typing import Any, Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import OffsetSpec
from kafka.consumer.fetcher import ConsumerRecord


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Send (key, value) pairs and wait until the broker has every one."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    count = 0
    for key, value in records:
        producer.send(topic, key=key, value=value)
        count += 1
    producer.flush()
    producer.close()
    return count


def produce_json(bootstrap: str, topic: str, events: Iterable[dict[str, Any]]) -> int:
    return produce(bootstrap, topic, ((str(e["ticket_id"]).encode(), json.dumps(e).encode()) for e in events))


def consume(bootstrap: str, topic: str, *, expect: int, timeout: float = 60.0,
            settle: float = 0.0) -> list[ConsumerRecord]:
    """Read ``topic`` from the start until ``expect`` records arrived (or the timeout).

    ``settle`` keeps reading that long after the count is reached, to catch surplus
    records (duplicates) that a test must see to fail on them.
    """
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=500)
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    settled_at: float | None = None
    try:
        while time.monotonic() < deadline:
            for partition_records in consumer.poll(timeout_ms=500).values():
                records.extend(partition_records)
            if len(records) >= expect:
                settled_at = settled_at or time.monotonic() + settle
                if time.monotonic() >= settled_at:
                    break
    finally:
        consumer.close()
    return records


def group_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, tuple[int | None, int]]:
    """Partition → (the group's committed offset, or None if it never committed; the end offset)."""
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps})
        committed = admin.list_group_offsets({group: tps}).get(group, {})
    finally:
        admin.close()
    return {tp.partition: (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else None,
                           ends[tp].offset) for tp in tps}


def offsets_at_end(offsets: dict[int, tuple[int | None, int]]) -> bool:
    """Whether every partition's committed offset reached its end offset (``group_offsets``)."""
    return all(committed is not None and committed >= end for committed, end in offsets.values())
