"""The latest breaches and retractions, read from the end of the breaches topic.

The status page shows them. Reading them from the topic (rather than remembering what
this worker published) makes every worker show the same list, across restarts and
rebalances. Each read takes the last ``PER_PARTITION`` records of every partition and is
kept for ``CACHE_SECONDS``: the page refreshes every few seconds, from many browsers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Final

import orjson

from ticket_slo.streams.kafka.clients import aiokafka_consumer
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["RecentBreaches", "PER_PARTITION", "CACHE_SECONDS"]

log = logging.getLogger(__name__)

PER_PARTITION: Final = 100
CACHE_SECONDS: Final = 2.0
_FIELDS: Final = ("type", "breach_id", "ticket_id", "objective", "priority", "customer_id", "account_manager", "deadline")


class RecentBreaches:
    """The tail of the breaches topic, newest first, each event cut to what the page shows."""

    def __init__(self, settings: Settings, *, client_id: str) -> None:
        self._settings = settings
        self._client_id = client_id
        self._topic = settings.topics.breaches
        self._consumer: Any = None
        self._lock = asyncio.Lock()
        self._events: list[dict[str, Any]] = []
        self.read_at = 0.0

    async def latest(self) -> list[dict[str, Any]]:
        async with self._lock:
            if time.time() - self.read_at >= CACHE_SECONDS:
                self._events = await self._read()
                self.read_at = time.time()
            return self._events

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _read(self) -> list[dict[str, Any]]:
        from aiokafka.structs import TopicPartition

        if self._consumer is None:
            consumer = aiokafka_consumer(self._settings, client_id=self._client_id, group_id=None,
                                         enable_auto_commit=False)
            await consumer.start()
            self._consumer = consumer
        consumer = self._consumer
        # The worker created the topic with this many partitions, or checked that it has them.
        tps = [TopicPartition(self._topic, p) for p in range(self._settings.partitions)]
        consumer.assign(tps)
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        left = {tp for tp in tps if ends[tp] > begins[tp]}
        for tp in left:
            consumer.seek(tp, max(begins[tp], ends[tp] - PER_PARTITION))
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + 5.0
        while left and time.monotonic() < deadline:
            batches = await consumer.getmany(*left, timeout_ms=200)
            for tp, records in batches.items():
                for record in records:
                    event = _event(record.value)
                    if event is not None:
                        events.append(event)
            for tp in list(left):
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
        events.sort(key=lambda event: event["at"], reverse=True)
        return events


def _event(value: bytes | None) -> dict[str, Any] | None:
    try:
        data = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("type") not in ("slo.breached", "slo.breach_retracted"):
        return None
    event = {name: data.get(name) for name in _FIELDS}
    event["at"] = data.get("detected_at")
    return event
