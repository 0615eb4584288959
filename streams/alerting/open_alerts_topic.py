"""The bridge's own compacted topic: each (ticket, objective) it remembers, keyed by both.

Why a topic of its own rather than re-reading the output topics at start: the output
topics are kept by time, not compacted, so the breach of a ticket still unanswered may be
gone from them while its alert must stay open; and re-reading them all at every start
grows with their retention. This topic holds one record per ticket with something open or
remembered, and a tombstone once there is nothing left, so compaction keeps it as small as
what is open. It is written only after Alertmanager accepted the posts, and the input
offsets are committed only after it is written: a crash anywhere reads again, and posts
again, what it had not finished (posting an alert twice is harmless).
"""

from __future__ import annotations

import json
import logging
import time

from kafka import KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.streams.alerting.ticket_alerts import TicketAlerts
from ticket_slo.streams.kafka.clients import make_consumer
from ticket_slo.streams.kafka.settings import Settings
from ticket_slo.streams.kafka.topics import TopicSpec

__all__ = ["state_topic_spec", "read_open_alerts", "state_key", "write_states"]

log = logging.getLogger(__name__)

#: Compacted: only the newest record of each key matters; tombstones go after a day.
STATE_TOPIC_CONFIG: dict[str, str] = {"cleanup.policy": "compact", "delete.retention.ms": str(24 * 3600 * 1000)}


def state_topic_spec(settings: Settings) -> TopicSpec:
    return TopicSpec(f"{settings.topic_prefix}ticket-slo-alert-bridge", settings.partitions,
                     settings.replication_factor, dict(STATE_TOPIC_CONFIG))


def state_key(ticket_id: str, objective: str) -> bytes:
    return json.dumps([ticket_id, objective], separators=(",", ":")).encode()


def read_open_alerts(settings: Settings, topic: str, timeout: float = 120.0) -> list[TicketAlerts]:
    """Every state in ``topic``, read from its start to the end it had when we began."""
    consumer = make_consumer(settings, client_id=f"{settings.app_id}-alert-bridge-restore")
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        states: dict[bytes, TicketAlerts | None] = {}
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TicketSloError(f"alert-bridge: could not read {topic} to its end within {timeout:.0f} s")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    if record.offset >= ends[TopicPartition(record.topic, record.partition)]:
                        continue
                    states[record.key] = _decode(record) if record.value is not None else None
        return [state for state in states.values() if state is not None]
    finally:
        consumer.close()


def _decode(record: ConsumerRecord) -> TicketAlerts | None:
    try:
        return TicketAlerts.from_bytes(record.value)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("alert-bridge: skipped an unreadable state record at %s/%d offset %d: %s",
                    record.topic, record.partition, record.offset, exc)
        return None


def write_states(producer: KafkaProducer, topic: str, states: dict[tuple[str, str], TicketAlerts | None]) -> None:
    """Write each state (None: a tombstone) and wait until the broker has every one."""
    futures = [producer.send(topic, key=state_key(*key), value=state.to_bytes() if state is not None else None)
               for key, state in states.items()]
    producer.flush()
    for future in futures:
        future.get(timeout=30)
