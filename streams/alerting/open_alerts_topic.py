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

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from ticket_slo.streams.alerting.ticket_alerts import TicketAlerts
from ticket_slo.streams.kafka.settings import Settings
from ticket_slo.streams.kafka.topic_reader import read_to_end
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
    states: dict[bytes, TicketAlerts | None] = {}
    for record in read_to_end(settings, topic, client_id=f"{settings.app_id}-alert-bridge-restore",
                              what="alert-bridge", timeout=timeout, required=False):
        states[record.key] = _decode(record) if record.value is not None else None
    return [state for state in states.values() if state is not None]


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
