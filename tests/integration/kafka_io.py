"""Publishing to and reading from the real broker with kafka-python, for assertions."""

from __future__ import annotations

import json
import time
from typing import Any, Iterable

from kafka import KafkaConsumer, KafkaProducer
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
