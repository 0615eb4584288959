"""The consumer group's committed offsets, asked of the broker.

After a rebalance the worker needs to know where its processing of a newly assigned
partition starts (see ``ticket_slo.streams.core.clocks``). The consumer inside Faust learns it
asynchronously and has no public accessor, so the worker asks the group coordinator
itself, through a kafka-python admin client kept for the worker's lifetime.
"""

from __future__ import annotations

import threading

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient

from ticket_slo.streams.kafka.clients import admin_client
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["GroupOffsets"]


class GroupOffsets:
    """Blocking look-ups of the group's committed offsets; run them off the event loop."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._admin: KafkaAdminClient | None = None
        self._lock = threading.Lock()

    def committed(self, topic: str, partition: int) -> int | None:
        """The next offset the group will read in ``topic``/``partition``; None if it never committed."""
        with self._lock:
            if self._admin is None:
                self._admin = admin_client(self._settings)
            group = self._settings.app_id
            tp = TopicPartition(topic, partition)
            offsets = self._admin.list_group_offsets({group: [tp]}).get(group, {})
        found = offsets.get(tp)
        return found.offset if found is not None and found.offset >= 0 else None

    def close(self) -> None:
        with self._lock:
            if self._admin is not None:
                self._admin.close()
                self._admin = None
