"""The SLO tracker: the single writer of per-ticket state, fed by events and clock ticks.

One agent (concurrency 1) consumes ``ticket-events`` and the internal clock topic,
which have the same partition count, so each partition's events, ticks and table
changelog are handled by one worker, in one place, in order. Events are validated
here (failures go to the dead-letter topic with the reason) and applied to the
partition's engine; ticks advance its clock (see ``ticket_slo.streams.core.clocks``). Every state
write carries the outputs it caused (see ``ticket_slo.agents.partition_engines``), so a crash
between the two cannot lose an output.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any

import faust
from faust.types import TP

from ticket_slo.agents.faust_fixes import internals
from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.agents.partition_engines import CLOCK, EVENTS, PartitionEngines, TableStore
from ticket_slo.agents.progress import ProgressLog
from ticket_slo.schemas.objectives import FIRST_RESPONSE
from ticket_slo.schemas.outputs import DeadLetter
from ticket_slo.schemas.policy import Policy
from ticket_slo.schemas.validation import InvalidEvent, parse_event
from ticket_slo.streams.core.clocks import PartitionCatchUp
from ticket_slo.streams.core.emission import Emission, EventSource
from ticket_slo.streams.core.effects import Effect
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.kafka.group_offsets import GroupOffsets
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["register_tracker", "TABLE_NAME", "committed_offset"]

log = logging.getLogger(__name__)

TABLE_NAME = "tickets"


def register_tracker(app: faust.App, settings: Settings, policy: Policy, progress: ProgressLog,
                     metrics: SloMetrics) -> None:
    names = settings.topics
    raw = {"key_type": bytes, "value_type": bytes}
    source = app.topic(names.events, names.clock, **raw)
    clock = app.topic(names.clock, **raw)
    outputs = {
        "breach": app.topic(names.breaches, **raw),
        "warning": app.topic(names.warnings, **raw),
        "outcome": app.topic(names.outcomes, **raw),
        "dead_letter": app.topic(names.dead_letters, **raw),
    }
    table = app.Table(
        TABLE_NAME,
        default=None,
        key_type=str,
        partitions=settings.partitions,
        help="Per-ticket SLO state: [partition, engine record, outbox].",
    )
    input_topics = {EVENTS: names.events, CLOCK: names.clock}

    def committed(source_code: str, partition: int) -> int | None:
        return committed_offset(app, TP(input_topics[source_code], partition))

    def new_engine(store: TableStore) -> SloEngine:
        return SloEngine(policy, store, orphan_timeout=settings.orphan_timeout)

    engines = PartitionEngines(table, new_engine, committed)
    catch_up = PartitionCatchUp(settings.breach_grace)
    group_offsets = GroupOffsets(settings)

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: set[Any], **_: Any) -> None:
        engines.on_assignment({tp.partition for tp in assigned if tp.topic == names.events})
        catch_up.reset()

    async def prepare(partition: int) -> SloEngine:
        """The partition's engine; after a rebalance, also measure its backlog and redeliver."""
        engine = engines.engine(partition)
        for kind, key, payload in engines.take_redeliveries():
            await outputs[kind].send(key=key.encode(), value=payload.encode())
            metrics.redelivered.inc()
        if not catch_up.knows(partition):
            tp = TP(names.events, partition)
            ends = await app.consumer.highwaters(tp)
            start = await asyncio.to_thread(group_offsets.committed, names.events, partition)
            end = ends.get(tp)
            catch_up.set_backlog(partition, start, end, time.time())
            if catch_up.knows(partition):
                log.info("partition %d: input from offset %s to %s: %s", partition, start, end,
                         "live" if catch_up.caught_up(partition) else "catching up on the backlog first")
            else:
                log.debug("partition %d: no committed offset, input up to %s: timers wait for its "
                          "first event", partition, end)
        return engine

    async def commit_and_publish(partition: int, source_code: str, offset: int,
                                 emissions: list[Emission]) -> None:
        """Land the state with its outbox, then send the outputs."""
        encoded = [(emission, emission.model.model_dump_json()) for emission in emissions]
        engines.store(partition).commit(source_code, offset, encoded)
        for emission, payload in encoded:
            await outputs[emission.kind].send(key=emission.key.encode(), value=payload.encode())
            metrics.record_emission(emission, time.time())
            progress.add(emission.kind.replace("_", "-"))

    async def dead_letter(message: Any, invalid: InvalidEvent) -> None:
        letter = DeadLetter.of(
            invalid.reason, invalid.detail, message.value, message.key, datetime.now(timezone.utc),
            topic=message.topic, partition=message.partition, offset=message.offset,
        )
        await outputs["dead_letter"].send(key=message.key, value=letter.model_dump_json().encode())
        metrics.invalid.labels(invalid.reason).inc()
        progress.add(f"invalid ({invalid.reason})")

    @app.agent(source, name="tracker", concurrency=1)
    async def track(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            partition = message.partition
            engine = await prepare(partition)
            if message.topic == names.clock:
                now = catch_up.clock(partition, time.time())
                if now is not None:
                    await commit_and_publish(partition, CLOCK, message.offset, engine.advance(now))
                continue
            catch_up.on_event(partition, message.offset, message.timestamp)
            try:
                ticket_event = parse_event(message.value, message.key)
            except InvalidEvent as invalid:
                await dead_letter(message, invalid)
                continue
            now = catch_up.clock(partition, time.time())
            if now is None:  # a backlog event without a timestamp: nothing better than wall time
                now = time.time() - settings.breach_grace
            origin = EventSource(topic=message.topic, partition=partition, offset=message.offset)
            applied = engine.apply(ticket_event, now, origin)
            metrics.record_applied(ticket_event, applied, time.time())
            progress.add("duplicates" if applied.effect is Effect.DUPLICATE else "events")
            await commit_and_publish(partition, EVENTS, message.offset, applied.emissions + engine.advance(now))

    @app.timer(1.0, name="ownership-gauges")
    async def update_gauges() -> None:
        """Open clocks and time to the soonest deadline of the partitions owned now."""
        counts: dict[str, int] = {}
        soonest: dict[str, float] = {}
        for engine in engines.engines().values():
            for priority, count in engine.open_clocks_by_priority().items():
                counts[priority] = counts.get(priority, 0) + count
            for priority, deadline in engine.soonest_deadlines().items():
                soonest[priority] = min(deadline, soonest.get(priority, deadline))
        metrics.set_ownership(engines.owned_count(), {FIRST_RESPONSE: counts}, {FIRST_RESPONSE: soonest})

    @app.timer(settings.tick_interval, name="clock-ticks")
    async def tick() -> None:
        """Send a tick to every clock partition this worker owns, so idle partitions fire too."""
        for tp in app.assignor.assigned_actives():
            if tp.topic == names.clock:
                await clock.send(value=b"", partition=tp.partition)


def committed_offset(app: faust.App, tp: TP) -> int | None:
    """The group's committed offset of ``tp`` as this worker last knew it."""
    return internals.committed_offset(app.consumer, tp)
