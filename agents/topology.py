"""The tracker's Faust wiring: topics, table, agent, timers and signals, each forwarding to a ``Tracker``.

One agent (concurrency 1) consumes ``ticket-events`` and the internal clock topic, which
have the same partition count, so each partition's events, ticks and table changelog are
handled by one worker, in one place, in order. What happens to each message, and in which
order state, outputs and offsets are written: ``ticket_slo.agents.tracker.Tracker``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.types import TP

from ticket_slo.agents.faust_fixes.internals import committed_offset
from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.agents.progress import ProgressLog
from ticket_slo.agents.table_values import Source
from ticket_slo.agents.tracker import TABLE_NAME, Tracker
from ticket_slo.schemas.policy import Policy
from ticket_slo.streams.core.emission import EmissionKind
from ticket_slo.streams.kafka.group_offsets import GroupOffsets
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["register_tracker"]


def register_tracker(app: faust.App, settings: Settings, policy: Policy, progress: ProgressLog,
                     metrics: SloMetrics) -> Tracker:
    """Declare the tracker's topics, table, agent and timers on ``app``; return the tracker."""
    names = settings.topics
    raw = {"key_type": bytes, "value_type": bytes}
    source = app.topic(names.events, names.clock, **raw)
    clock = app.topic(names.clock, **raw)
    outputs: dict[EmissionKind, faust.types.TopicT] = {
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
    input_topics = {Source.EVENTS: names.events, Source.CLOCK: names.clock}
    group_offsets = GroupOffsets(settings)

    async def send(kind: EmissionKind, key: bytes | None, value: bytes) -> None:
        await outputs[kind].send(key=key, value=value)

    def committed(source_code: Source, partition: int) -> int | None:
        return committed_offset(app.consumer, TP(input_topics[source_code], partition))

    async def backlog(partition: int) -> tuple[int | None, int | None]:
        tp = TP(names.events, partition)
        ends = await app.consumer.highwaters(tp)
        start = await asyncio.to_thread(group_offsets.committed, names.events, partition)
        return start, ends.get(tp)

    tracker = Tracker(policy, table, send, committed, backlog, metrics, progress,
                      orphan_timeout=settings.orphan_timeout, breach_grace=settings.breach_grace)

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: set[TP], **_: Any) -> None:
        tracker.on_assigned({tp.partition for tp in assigned if tp.topic == names.events})

    @app.agent(source, name="tracker", concurrency=1)
    async def track(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            if message.topic == names.clock:
                await tracker.on_tick(message.partition, message.offset)
            else:
                await tracker.on_event(message)

    @app.timer(1.0, name="ownership-gauges")
    async def update_gauges() -> None:
        tracker.refresh_gauges()

    @app.timer(settings.tick_interval, name="clock-ticks")
    async def tick() -> None:
        """Send a tick to every clock partition this worker owns, so idle partitions fire too."""
        for tp in app.assignor.assigned_actives():
            if tp.topic == names.clock:
                await clock.send(value=b"", partition=tp.partition)

    return tracker
