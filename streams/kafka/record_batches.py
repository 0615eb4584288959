"""Handing records to an aiokafka producer as record batches, one per topic partition.

One ``send_batch`` per topic partition instead of one ``send`` per record: measured 10-15 %
faster on 2 cores in the benchmark's engine loop. The futures returned resolve when the
broker has the records, which is how the live path orders outputs before state.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterable, Mapping, Sequence

from ticket_slo.streams.core.emission import EmissionKind
from ticket_slo.streams.core.partition_batch import BatchWrites

__all__ = ["send_records", "outputs_by_partition"]

Placed = dict[tuple[str, int], list[tuple["bytes | None", bytes]]]


async def send_records(producer: Any, topic: str, partition: int,
                       records: Sequence[tuple[bytes | None, bytes | None]]) -> list[asyncio.Future[Any]]:
    """Hand ``records`` to the producer as record batches of one topic partition (a new one when
    full); return the delivery futures, in order."""
    futures: list[asyncio.Future[Any]] = []
    builder = producer.create_batch()
    for key, value in records:
        if builder.append(timestamp=None, key=key, value=value) is None:
            futures.append(await producer.send_batch(builder, topic, partition=partition))
            builder = producer.create_batch()
            if builder.append(timestamp=None, key=key, value=value) is None:
                raise ValueError(f"a record of {len(value or b'')} bytes does not fit a batch of {topic}")
    if builder.record_count():
        futures.append(await producer.send_batch(builder, topic, partition=partition))
    return futures


def outputs_by_partition(batches: Iterable[BatchWrites], sinks: Mapping[EmissionKind, str],
                         partitions: Mapping[str, int]) -> Placed:
    """The batches' outputs and dead letters, encoded, grouped by topic and partition, each
    group in the order it was produced.

    A batch's outputs go to the partition number of its input partition (modulo the output
    topic's partition count): every output of a ticket lands in one partition, in order, as
    the ticket's input did, and with equal partition counts (the pipeline's topics have them)
    that is the partition Kafka's default partitioner gives the ticket id when the helpdesks
    key their events by it. Hashing each key again here would cost 4-5 µs per output (aiokafka's
    murmur2 is pure Python; measured on a 36-byte ticket id).
    """
    grouped: Placed = {}
    dead_letters = sinks["dead_letter"]
    for writes in batches:
        for emission in writes.emissions:
            topic = sinks[emission.kind]
            place = (topic, writes.partition % partitions[topic])
            grouped.setdefault(place, []).append((emission.key.encode(), emission.model.model_dump_json().encode()))
        for letter in writes.dead_letters:
            place = (dead_letters, writes.partition % partitions[dead_letters])
            grouped.setdefault(place, []).append((letter.key, letter.value))
    return grouped
