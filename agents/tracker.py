"""The SLO tracker: the single writer of per-ticket state, fed by events and clock ticks.

``Tracker`` has one method per thing that happens to the live worker: an input event, a
clock tick, a partition assignment (which revokes every other partition), and the
once-a-second refresh of the ownership gauges. It knows nothing of Faust: the table, the
output sender, the wall clock and the offset lookups are handed to it, so tests drive it
without a broker. ``ticket_slo.agents.topology`` wires it to Faust's agent and timers.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Awaitable, Callable, Protocol

from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.agents.partition_engines import CommittedOffset, PartitionEngines, TableStore, TicketTable
from ticket_slo.agents.progress import ProgressLog
from ticket_slo.agents.table_values import Source
from ticket_slo.schemas.objectives import FIRST_RESPONSE
from ticket_slo.schemas.outputs import DeadLetter
from ticket_slo.schemas.policy import Policy
from ticket_slo.schemas.validation import InvalidEvent, parse_event
from ticket_slo.streams.core.clocks import PartitionCatchUp
from ticket_slo.streams.core.effects import Effect
from ticket_slo.streams.core.emission import Emission, EmissionKind, EventSource
from ticket_slo.streams.core.engine import SloEngine

__all__ = ["Tracker", "InputMessage", "SendOutput", "BacklogLookup", "TABLE_NAME"]

log = logging.getLogger(__name__)

TABLE_NAME = "tickets"

#: Publish one record: ``(kind, key, value)``; the kind names the output topic.
SendOutput = Callable[[EmissionKind, "bytes | None", bytes], Awaitable[None]]
#: Partition of ``ticket-events`` → (the group's committed offset, the partition's end offset).
BacklogLookup = Callable[[int], Awaitable["tuple[int | None, int | None]"]]


class InputMessage(Protocol):
    """What the tracker reads of a ``ticket-events`` record (Faust's ``Message`` has these)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def timestamp(self) -> float | None: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


class Tracker:
    """The live path: every input message of an owned partition goes through here, in order.

    Each message is handled in these steps, and a crash between any two of them loses
    nothing (the worker is at-least-once; outputs carry stable ids and deterministic JSON,
    so consumers drop the duplicates a crash can cause):

    0. *Rebuild*, only before the first message of a partition after a restart or an
       assignment: the partition's engine is built from the table, and every output in an
       outbox entry at or past the committed offset of its input is sent again (step 5 may
       not have reached the broker for it). Crash: the next owner does the same.
    1. *Validate* (events). An invalid message is dead-lettered: its dead letter is sent as
       in step 5 and nothing is stored. Crash before step 6: read again, dead-lettered again.
    2. *Apply* the event, or advance the partition's clock for a tick: the engine returns
       what the event did and the outputs. Crash: nothing was written; read again.
    3. *Stage state*: the engine's writes go to the partition's ``TableStore``, in memory.
       Crash: as in step 2.
    4. *Write each touched ticket with its outbox*: one table write per ticket, holding its
       record and, appended to its outbox, the outputs this message produced for it (under
       the message's source and offset); entries of committed offsets are dropped. Faust
       queues the write for the changelog. Crash once some writes reached the changelog: on
       restart the state has seen the event (or fired the timer), so reading the message
       again publishes nothing, but step 0 sends the outputs from the outbox.
    5. *Send the outputs* to their topics through the producer, in the order the engine
       returned them. Crash: some may be lost; they are still in the outboxes (step 0).
    6. *Faust flushes the producer, then commits the input offsets* (at-least-once, every
       commit interval). After the commit the outputs and changelog writes of every message
       below it are on the broker, and the outbox entries below it are never sent again
       (dropped at the ticket's next write). Crash between flush and commit: the messages
       are read again; the engine absorbs them (seen event ids, timers already fired) and
       step 0 sends their outputs again.
    """

    def __init__(
        self,
        policy: Policy,
        table: TicketTable,
        send: SendOutput,
        committed: CommittedOffset,
        backlog: BacklogLookup,
        metrics: SloMetrics,
        progress: ProgressLog,
        *,
        orphan_timeout: float,
        breach_grace: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._policy = policy
        self._send = send
        self._backlog = backlog
        self._metrics = metrics
        self._progress = progress
        self._orphan_timeout = orphan_timeout
        self._grace = breach_grace
        self._wall = wall_clock
        self._engines = PartitionEngines(table, self._new_engine, committed)
        self._catch_up = PartitionCatchUp(breach_grace)

    # -- what happens --------------------------------------------------------------------

    async def on_event(self, message: InputMessage) -> None:
        """A record of ``ticket-events``: validate, apply, store, publish (steps 1-5)."""
        partition = message.partition
        engine = await self._prepare(partition)
        self._catch_up.on_event(partition, message.offset, message.timestamp)
        try:
            event = parse_event(message.value, message.key)
        except InvalidEvent as invalid:
            await self._dead_letter(message, invalid)
            return
        now = self._catch_up.clock(partition, self._wall())
        if now is None:  # a backlog event without a timestamp: nothing better than wall time
            now = self._wall() - self._grace
        origin = EventSource(topic=message.topic, partition=partition, offset=message.offset)
        applied = engine.apply(event, now, origin)
        self._metrics.record_applied(event, applied, self._wall())
        self._progress.add("duplicates" if applied.effect is Effect.DUPLICATE else "events")
        await self._store_and_publish(partition, Source.EVENTS, message.offset,
                                      applied.emissions + engine.advance(now))

    async def on_tick(self, partition: int, offset: int) -> None:
        """A record of the clock topic: fire what is due on the partition's clock, if it has one yet."""
        engine = await self._prepare(partition)
        now = self._catch_up.clock(partition, self._wall())
        if now is not None:
            await self._store_and_publish(partition, Source.CLOCK, offset, engine.advance(now))

    def on_assigned(self, partitions: set[int]) -> None:
        """The worker now owns ``partitions`` of ``ticket-events`` (and no other).

        The engines and table keys of every other partition are dropped (revoked); each
        owned partition's backlog is measured again before its timers fire.
        """
        self._engines.on_assignment(partitions)
        self._catch_up.reset()

    def refresh_gauges(self) -> None:
        """Open clocks and the soonest deadline of the partitions owned now."""
        counts: dict[str, int] = {}
        soonest: dict[str, float] = {}
        for engine in self._engines.engines().values():
            for priority, count in engine.open_clocks_by_priority().items():
                counts[priority] = counts.get(priority, 0) + count
            for priority, deadline in engine.soonest_deadlines().items():
                soonest[priority] = min(deadline, soonest.get(priority, deadline))
        self._metrics.set_ownership(self._engines.owned_count(), {FIRST_RESPONSE: counts},
                                    {FIRST_RESPONSE: soonest})

    # -- steps ---------------------------------------------------------------------------

    def _new_engine(self, store: TableStore) -> SloEngine:
        return SloEngine(self._policy, store, orphan_timeout=self._orphan_timeout)

    async def _prepare(self, partition: int) -> SloEngine:
        """Step 0: the partition's engine; after an assignment, redeliver and measure its backlog."""
        engine = self._engines.engine(partition)
        for kind, key, payload in self._engines.take_redeliveries():
            await self._send(kind, key.encode(), payload.encode())
            self._metrics.redelivered.inc()
        if not self._catch_up.knows(partition):
            start, end = await self._backlog(partition)
            self._catch_up.set_backlog(partition, start, end, self._wall())
            if self._catch_up.knows(partition):
                log.info("partition %d: input from offset %s to %s: %s", partition, start, end,
                         "live" if self._catch_up.caught_up(partition) else "catching up on the backlog first")
            else:
                log.debug("partition %d: no committed offset, input up to %s: timers wait for its "
                          "first event", partition, end)
        return engine

    async def _dead_letter(self, message: InputMessage, invalid: InvalidEvent) -> None:
        """Step 1's failure: the record goes to the dead-letter topic with the reason."""
        letter = DeadLetter.of(
            invalid.reason, invalid.detail, message.value, message.key,
            datetime.fromtimestamp(self._wall(), timezone.utc),
            topic=message.topic, partition=message.partition, offset=message.offset,
        )
        await self._send("dead_letter", message.key, letter.model_dump_json().encode())
        self._metrics.invalid.labels(invalid.reason).inc()
        self._progress.add(f"invalid ({invalid.reason})")

    async def _store_and_publish(self, partition: int, source: Source, offset: int,
                                 emissions: list[Emission]) -> None:
        """Steps 4 and 5: the staged state lands with its outbox, then the outputs are sent."""
        encoded = [(emission, emission.model.model_dump_json()) for emission in emissions]
        self._engines.store(partition).commit(source, offset, encoded)
        for emission, payload in encoded:
            await self._send(emission.kind, emission.key.encode(), payload.encode())
            self._metrics.record_emission(emission, self._wall())
            self._progress.add(emission.kind.replace("_", "-"))
