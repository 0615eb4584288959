"""The tracker's Faust wiring: the input topic, the ``tickets`` table, the rebalance signals
and the service that runs the ``Tracker``'s batch loop.

Faust keeps what it does well: the worker's lifecycle, the group membership and the
assignment (``ticket-events`` and the table's changelog are co-partitioned, so a worker
owns the state of exactly the input partitions it reads), the table and its changelog
topic, the timers. The tracker reads the input itself, in batches, from the position
stored with the state (``ticket_slo.agents.tracker``); the table's store reads the state
back in large batches on assignment (``ticket_slo.agents.ticket_store``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Iterable

import faust
from faust.types import TP
from mode import Service

from ticket_slo.agents.faust_fixes.internals import commit_group_offsets, pause_fetching
from ticket_slo.agents.local_state import save_snapshots
from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.agents.progress import ProgressLog
from ticket_slo.agents.ticket_store import TicketStore, TicketsTable
from ticket_slo.agents.status_service import StatusService, peers_of
from ticket_slo.agents.tracker import TABLE_NAME, Tracker, TrackerIO, TrackerTopics
from ticket_slo.agents.web import StatusWeb, own_url
from ticket_slo.streams.kafka.recent_breaches import RecentBreaches
from ticket_slo.schemas.policy import Policy
from ticket_slo.streams.core.emission import EmissionKind
from ticket_slo.streams.kafka.changelog_reader import LoadedPartition, read_changelog_partitions
from ticket_slo.streams.kafka.clients import aiokafka_consumer, aiokafka_producer
from ticket_slo.streams.kafka.group_offsets import GroupOffsets
from ticket_slo.streams.kafka.local_snapshots import SNAPSHOT_DIR
from ticket_slo.streams.kafka.settings import Settings
from ticket_slo.streams.kafka.topics import MAX_PRODUCER_REQUEST_BYTES

__all__ = ["register_tracker"]

log = logging.getLogger(__name__)


def register_tracker(app: faust.App, settings: Settings, policy: Policy, progress: ProgressLog,
                     metrics: SloMetrics, status_web: StatusWeb | None = None) -> Tracker:
    """Declare the tracker's topic, table, signals and service on ``app`` (and the status API's
    routes, with ``status_web``); return the tracker."""
    names = settings.topics
    client_id = f"{settings.app_id}-tracker"
    # Subscribed, so the group assigns it (with the changelog partitions that go with it);
    # never fetched by Faust (ticket_slo.agents.faust_fixes.owned_input).
    app.topics.add(app.topic(names.events, key_type=bytes, value_type=bytes))
    app.owned_input_topics = frozenset({names.events})  # type: ignore[attr-defined]

    snapshots = settings.data_dir / SNAPSHOT_DIR

    async def read_state(topic: str, partitions: Iterable[int]) -> dict[int, LoadedPartition]:
        return await read_changelog_partitions(settings, topic, partitions, client_id=f"{client_id}-state",
                                               snapshots=snapshots)

    table = app.tables.add(TicketsTable(
        app, name=TABLE_NAME, default=None, beacon=app.tables.beacon, partitions=settings.partitions,
        key_type=bytes, value_type=bytes,
        options={"reader": read_state},
        help="Per-ticket SLO state and each partition's input position (written by the tracker).",
    ))
    changelog = str(table.changelog_topic.get_topic_name())
    sinks: dict[EmissionKind, str] = {"breach": names.breaches, "warning": names.warnings,
                                      "outcome": names.outcomes, "dead_letter": names.dead_letters}
    group_offsets = GroupOffsets(settings)

    async def open_io() -> TrackerIO:
        from aiokafka.structs import TopicPartition

        consumer = aiokafka_consumer(settings, client_id=client_id, group_id=None, enable_auto_commit=False,
                                     auto_offset_reset="earliest")
        producer = aiokafka_producer(settings, client_id=client_id, acks="all", linger_ms=0,
                                     max_request_size=MAX_PRODUCER_REQUEST_BYTES)
        await consumer.start()
        await producer.start()

        async def commit(offsets: dict[int, int]) -> bool:
            try:
                await commit_group_offsets(app.consumer, {TP(names.events, p): o for p, o in offsets.items()})
            except Exception as exc:  # lag monitoring only: the position lives with the state
                log.warning("could not commit the group's offsets %s: %r", offsets, exc)
                return False
            return True

        async def committed(partition: int) -> int | None:
            return await asyncio.to_thread(group_offsets.committed, names.events, partition)

        async def close() -> None:
            await consumer.stop()
            await producer.stop()
            await asyncio.to_thread(group_offsets.close)

        return TrackerIO(consumer, producer, lambda p: TopicPartition(names.events, p), commit, committed, close)

    tracker = Tracker(policy, TrackerTopics(names.events, changelog, sinks,
                                            dict.fromkeys(sinks.values(), settings.partitions)),
                      metrics, progress, open_io, orphan_timeout=settings.orphan_timeout,
                      breach_grace=settings.breach_grace, poll_interval=settings.tick_interval,
                      max_batch=settings.max_batch, status_index=status_web is not None)
    stop_status: list[Callable[[], Awaitable[None]]] = []
    if status_web is not None:
        def peers() -> dict[str, list[int]]:
            try:
                return peers_of(app.router.table_metadata(TABLE_NAME), changelog)
            except KeyError:  # no assignment yet
                return {}

        recent = RecentBreaches(settings, client_id=f"{settings.app_id}-status")
        service = StatusService(tracker, policy, settings.partitions, own_url(settings), peers, recent)
        status_web.service = service
        status_web.register(app)
        stop_status = [service.close, recent.close]

    async def changelog_ends(partitions: Iterable[int]) -> dict[int, int]:
        ends = await app.consumer.highwaters(*(TP(changelog, p) for p in partitions))
        return {tp.partition: end for tp, end in ends.items()}

    async def stop_and_save() -> None:
        """The tracker's last writes and commits, then (if they all went out) the local snapshots."""
        await tracker.stop()
        try:
            await save_snapshots(tracker.final_state(), changelog, snapshots, changelog_ends)
        except Exception as exc:  # a restart then reads the changelog: slower, never wrong
            log.warning("no local snapshots written: %r", exc)

    # First when the worker stops, while Faust's consumer still owns the partitions.
    app.stop_first = [stop_and_save, *stop_status]  # type: ignore[attr-defined]

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: set[TP], **_: Any) -> None:
        await tracker.on_revoked()

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: set[TP], **_: Any) -> None:
        store = table.data
        assert isinstance(store, TicketStore)
        owned = {tp.partition for tp in assigned if tp.topic == names.events}
        missing = owned - set(store.partitions)
        if missing:  # co-partitioned topics make this impossible; say so loudly if it happens
            log.error("no state read for input partitions %s: they are not processed", sorted(missing))
        await tracker.on_assigned({p: store.partitions[p] for p in sorted(owned - missing)})
        pausing = asyncio.ensure_future(pause_fetching(app.consumer, {tp for tp in assigned if tp.topic == names.events}))
        pausing.add_done_callback(_log_failure)

    class TrackerService(Service):
        """Runs the tracker's batch loop while the worker runs.

        Started with the app, not after Faust's recovery: the loop idles until the first
        assignment hands it its partitions, whose state the table's store has already read,
        so it need not wait for Faust's own recovery steps (1-3 s at each assignment)."""

        async def on_stop(self) -> None:
            await tracker.stop()

        @Service.task
        async def _process(self) -> None:
            await tracker.run()

    app.add_dependency(TrackerService(loop=app.loop, beacon=app.beacon))

    @app.timer(1.0, name="ownership-gauges")
    async def update_gauges() -> None:
        tracker.refresh_gauges()

    return tracker


def _log_failure(task: "asyncio.Future[None]") -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not stop Faust's consumer from prefetching the input: %r", task.exception())
