"""The engine limit: a lean batch loop around the real engine, without Faust, in its own process.

What a live path that owns its position and works in batches could reach at best on this
machine. A consumer group reads ``ticket-events`` with ``getmany`` batches; each input
partition has one ``PartitionBatcher`` (the worker's: ``ticket_slo.streams.core.partition_batch``,
with the worker's policy, orphan timeout and grace from the environment), and for each
batch and partition:

1. every record is validated; an invalid one becomes a dead letter;
2. every valid event is applied at the live clock (wall time - grace, as a caught-up
   worker), each followed by the timers due by then;
3. each ticket the batch touched is written ONCE to a compacted changelog, in the
   changelog partition of the input partition, followed by the position record
   (``ticket_slo.streams.core.changelog_codec``): the position lives with the state;
4. the outputs are produced (each emission's model as JSON, keyed by ticket id, to its
   kind's topic).

Unlike the worker it does not wait for the outputs to be delivered before it hands over
the state, reads no state back, and keeps no catch-up clock: a limit, not a product.

The writes of a batch reach the producer as one record batch per topic partition
(``send_batch``), not one ``send`` per record: measured 10-15 % faster on 2 cores.

Every ``commit_interval`` seconds (or ``commit_every`` records) the producer is flushed and
the group's offsets committed: the passthrough's rhythm. It stops once ``expect`` records
were consumed and prints one JSON line: when the first record arrived, when the last
was handled, what was written, and how the loop's time split (``LoopTimes``).

    python -m ticket_slo.streams.bench.engine_loop CHANGELOG GROUP EXPECT

The topics, the policy, the grace and the connection come from the ``TICKET_SLO_*`` and
``KAFKA_*`` environment the benchmark gives the phase (``Settings.from_env``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, fields
from typing import Any

from ticket_slo.schemas.policy import DEFAULT_POLICY_PATH, Policy, load_policy
from ticket_slo.streams.core.emission import EmissionKind
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.core.partition_batch import PartitionBatcher, TouchedStore
from ticket_slo.streams.kafka.clients import aiokafka_consumer, aiokafka_producer
from ticket_slo.streams.kafka.record_batches import outputs_by_partition, send_records
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["LoopTimes", "LoopTuning", "engine_loop", "main"]

_CLIENT_ID = "ticket-slo-bench-engine-loop"


@dataclass(slots=True)
class LoopTimes:
    """Seconds the loop spent in each step (``time.perf_counter`` accumulators).

    ``consume`` is the wait in ``getmany`` (it includes the producer's background sends
    that run meanwhile), ``process`` the validation and the engine (``PartitionBatcher.take``:
    parse, apply, timers, encoding the touched tickets), ``state`` handing the changelog
    writes to the producer, ``produce`` encoding and handing over the outputs and dead
    letters, ``commit`` the producer flush and the offset commit.
    """

    consume: float = 0.0
    process: float = 0.0
    state: float = 0.0
    produce: float = 0.0
    commit: float = 0.0

    def as_dict(self, events: int) -> dict[str, dict[str, float]]:
        seconds = {f.name: getattr(self, f.name) for f in fields(self)}
        total = sum(seconds.values()) or 1e-9
        return {
            "seconds": {name: round(value, 3) for name, value in seconds.items()},
            "us_per_event": {name: round(1e6 * value / max(events, 1), 2) for name, value in seconds.items()},
            "share": {name: round(value / total, 3) for name, value in seconds.items()},
        }


@dataclass(frozen=True, slots=True)
class LoopTuning:
    """The knobs measured: batch size of ``getmany`` and the producer's batching."""

    max_records: int = 1000
    linger_ms: int = 0
    max_batch_bytes: int = 16384
    commit_interval: float = 2.8
    commit_every: int = 10_000
    #: Hand the producer one record batch per topic partition (``send_batch``) rather
    #: than one ``send`` per record.
    send_batches: bool = True


async def engine_loop(settings: Settings, policy: Policy, changelog: str, group: str, expect: int,
                      tuning: LoopTuning = LoopTuning()) -> dict[str, Any]:
    topics = settings.topics
    source = topics.events
    sinks: dict[EmissionKind, str] = {"breach": topics.breaches, "warning": topics.warnings,
                                      "outcome": topics.outcomes, "dead_letter": topics.dead_letters}
    grace = settings.breach_grace
    partitions = settings.partitions

    def new_engine(store: TouchedStore) -> SloEngine:
        return SloEngine(policy, store, orphan_timeout=settings.orphan_timeout)

    consumer = aiokafka_consumer(settings, source, client_id=_CLIENT_ID, group_id=group, enable_auto_commit=False,
                                 auto_offset_reset="earliest")
    producer = aiokafka_producer(settings, client_id=_CLIENT_ID, acks="all", linger_ms=tuning.linger_ms,
                                 max_batch_size=tuning.max_batch_bytes)
    await producer.start()
    await consumer.start()
    loops: dict[int, PartitionBatcher] = {}
    counts_by_topic = dict.fromkeys(sinks.values(), partitions)
    times = LoopTimes()
    counts = {"events": 0, "invalid": 0, "outputs": 0, "changelog_records": 0, "position_records": 0,
              "batches": 0, "partition_batches": 0}
    pc = time.perf_counter
    started = time.time()
    first: float | None = None
    seen = 0
    next_commit = time.monotonic() + tuning.commit_interval
    uncommitted = 0
    send = producer.send
    try:
        while seen < expect:
            t0 = pc()
            batches = await consumer.getmany(timeout_ms=200, max_records=tuning.max_records)
            times.consume += pc() - t0
            if not batches:
                continue
            if first is None:
                first = time.time()
            now = time.time() - grace
            counts["batches"] += 1
            for tp, records in batches.items():
                loop = loops.get(tp.partition)
                if loop is None:
                    loop = loops[tp.partition] = PartitionBatcher(source, tp.partition, new_engine)
                t0 = pc()
                writes = loop.take(records, lambda _record: now, now + grace)
                t1 = pc()
                times.process += t1 - t0
                if tuning.send_batches:
                    await send_records(producer, changelog, tp.partition, writes.changelog)
                else:
                    for key, value in writes.changelog:
                        await send(changelog, key=key, value=value, partition=tp.partition)
                t2 = pc()
                if tuning.send_batches:
                    for (topic, partition), items in outputs_by_partition([writes], sinks, counts_by_topic).items():
                        await send_records(producer, topic, partition, items)
                else:
                    for emission in writes.emissions:
                        await send(sinks[emission.kind], key=emission.key.encode(),
                                   value=emission.model.model_dump_json().encode())
                    for letter in writes.dead_letters:
                        await send(sinks["dead_letter"], key=letter.key, value=letter.value)
                times.state += t2 - t1
                times.produce += pc() - t2
                counts["events"] += writes.events
                counts["invalid"] += len(writes.dead_letters)
                counts["outputs"] += len(writes.emissions)
                counts["changelog_records"] += len(writes.changelog) - 1
                counts["position_records"] += 1
                counts["partition_batches"] += 1
                seen += len(records)
                uncommitted += len(records)
            if time.monotonic() >= next_commit or uncommitted >= tuning.commit_every:
                t3 = pc()
                await producer.flush()
                await consumer.commit()
                times.commit += pc() - t3
                next_commit = time.monotonic() + tuning.commit_interval
                uncommitted = 0
        t3 = pc()
        await producer.flush()
        times.commit += pc() - t3
        last = time.time()
        # The last commit comes on the timer, as the worker's does: lag zero is seen as late.
        await asyncio.sleep(max(0.0, next_commit - time.monotonic()))
        await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
    return {"started_at": started, "first_record_at": first or started, "last_handled_at": last,
            "records": seen, **counts, "tuning": {f.name: getattr(tuning, f.name) for f in fields(tuning)},
            "open_tickets_in_state": sum(len(loop.store) for loop in loops.values()),
            "times": times.as_dict(seen)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ticket_slo.streams.bench.engine_loop")
    parser.add_argument("changelog")
    parser.add_argument("group")
    parser.add_argument("expect", type=int)
    defaults = LoopTuning()
    parser.add_argument("--max-records", type=int, default=defaults.max_records)
    parser.add_argument("--linger-ms", type=int, default=defaults.linger_ms)
    parser.add_argument("--max-batch-bytes", type=int, default=defaults.max_batch_bytes)
    parser.add_argument("--commit-interval", type=float, default=defaults.commit_interval)
    parser.add_argument("--send-batches", action=argparse.BooleanOptionalAction, default=defaults.send_batches)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    policy = load_policy(settings.policy_path or DEFAULT_POLICY_PATH)
    tuning = LoopTuning(max_records=args.max_records, linger_ms=args.linger_ms,
                        max_batch_bytes=args.max_batch_bytes, commit_interval=args.commit_interval,
                        send_batches=args.send_batches)
    result = asyncio.run(engine_loop(settings, policy, args.changelog, args.group, args.expect, tuning))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
