"""The Python limit: a raw aiokafka passthrough (consume, parse the JSON, produce), in its own process.

It does what the worker does around its logic and nothing else: a consumer group
on the input, ``json.loads`` of every value, one record per event to the output
topic, and every ``commit_interval`` seconds (or ``commit_every`` records) a producer flush followed by an offset
commit (Faust's at-least-once rhythm, with Faust's producer settings: acks=all,
no linger, 16 KiB batches). It stops once ``expect`` records were consumed, and
prints one JSON line: when the first record arrived and when the last was handled.

    python -m ticket_slo.streams.bench.passthrough BOOTSTRAP INPUT OUTPUT GROUP EXPECT

It connects as every client of the package does (``ticket_slo.streams.kafka.clients``),
with the TLS and SASL settings of the environment it inherits from the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import time

from ticket_slo.streams.kafka.clients import aiokafka_consumer, aiokafka_producer
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["main"]

_CLIENT_ID = "ticket-slo-bench-passthrough"


async def passthrough(settings: Settings, source: str, sink: str, group: str, expect: int,
                      commit_interval: float, commit_every: int = 10_000) -> dict[str, float | int]:
    consumer = aiokafka_consumer(settings, source, client_id=_CLIENT_ID, group_id=group, enable_auto_commit=False,
                                 auto_offset_reset="earliest")
    producer = aiokafka_producer(settings, client_id=_CLIENT_ID, acks="all", linger_ms=0, max_batch_size=16384)
    await producer.start()
    await consumer.start()
    started = time.time()
    first: float | None = None
    seen = 0
    next_commit = time.monotonic() + commit_interval
    uncommitted = 0
    try:
        while seen < expect:
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            for records in batches.values():
                for record in records:
                    event = json.loads(record.value)
                    await producer.send(sink, key=record.key, value=json.dumps(event).encode())
                seen += len(records)
                uncommitted += len(records)
            if first is None and seen:
                first = time.time()
            if time.monotonic() >= next_commit or uncommitted >= commit_every:
                await producer.flush()
                await consumer.commit()
                next_commit = time.monotonic() + commit_interval
                uncommitted = 0
        await producer.flush()
        last = time.time()
        # The last commit comes on the timer, as the worker's does: lag zero is seen as late.
        await asyncio.sleep(max(0.0, next_commit - time.monotonic()))
        await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
    return {"started_at": started, "first_record_at": first or started, "last_handled_at": last,
            "records": seen}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ticket_slo.streams.bench.passthrough")
    parser.add_argument("bootstrap")
    parser.add_argument("source")
    parser.add_argument("sink")
    parser.add_argument("group")
    parser.add_argument("expect", type=int)
    parser.add_argument("--commit-interval", type=float, default=2.8)
    args = parser.parse_args(argv)
    settings = dataclasses.replace(Settings.from_env(), bootstrap_servers=args.bootstrap)
    result = asyncio.run(passthrough(settings, args.source, args.sink, args.group, args.expect,
                                     args.commit_interval))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
