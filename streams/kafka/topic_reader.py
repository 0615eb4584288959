"""Reads a topic from its start to the end it had when the reading began.

One reader for every tool that needs a topic's whole content once: the alert bridge's
state restore and the SLA report. Records published while it reads are left for the
next run, so a busy topic cannot keep it reading for ever.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.streams.kafka.clients import make_consumer
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["Progress", "read_to_end"]

#: Called now and then with (records read, records to read in all).
Progress = Callable[[int, int], None]


def read_to_end(settings: Settings, topic: str, *, client_id: str, what: str, timeout: float = 120.0,
                progress: Progress | None = None, progress_every: float = 2.0,
                required: bool = True) -> Iterator[ConsumerRecord]:
    """Every record of ``topic`` up to its end offsets at the start; ``what`` names the caller in errors.

    A topic that does not exist is an error when ``required``, else it reads as empty.
    """
    consumer = make_consumer(settings, client_id=client_id)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            if not required:
                return
            raise TicketSloError(f"{what}: topic {topic!r} does not exist at {settings.bootstrap_servers}")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        starts = consumer.beginning_offsets(partitions)
        ends = consumer.end_offsets(partitions)
        total = sum(ends[tp] - starts[tp] for tp in partitions)
        read = 0
        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + progress_every
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TicketSloError(f"{what}: could not read {topic} to its end within {timeout:.0f} s")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    if record.offset >= ends[TopicPartition(record.topic, record.partition)]:
                        continue
                    read += 1
                    yield record
            if progress is not None and time.monotonic() >= next_report:
                progress(read, total)
                next_report = time.monotonic() + progress_every
        if progress is not None:
            progress(read, total)
    finally:
        consumer.close()
