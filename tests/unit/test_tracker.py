"""The live path without a broker: a Tracker driven with messages, ticks and assignments.

The table is a dict, outputs land in a list, the wall clock and the offsets are set by
the test. Times are minutes after T0 (``clock(m)``); default policy: P1 30m, P2 60m,
warnings at 50/75/90 %. Expected values are written by hand from the rules.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.agents.progress import ProgressLog
from ticket_slo.agents.table_values import Source, StoredTicket
from ticket_slo.agents.tracker import Tracker
from ticket_slo.schemas.policy import load_policy
from ticket_slo.streams.core.emission import EmissionKind
from tests.unit.script import clock, when

EVENTS_TOPIC = "ticket-events"
GRACE = 1.0


class Message(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp: float | None
    key: bytes | None
    value: bytes | None


class Table(dict[str, Any]):
    """What the tracker uses of a Faust table: a mapping whose ``data`` is itself."""

    @property
    def data(self) -> Table:
        return self


class Sent(NamedTuple):
    kind: EmissionKind
    key: bytes | None
    value: dict[str, Any]


@dataclass
class World:
    """Everything outside the tracker: table, output topics, wall clock, offsets."""

    table: Table = field(default_factory=Table)
    sent: list[Sent] = field(default_factory=list)
    wall: float = clock(0)
    committed: dict[tuple[Source, int], int] = field(default_factory=dict)  # Faust's view of the group
    backlog: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)  # (committed, end)
    offsets: dict[int, int] = field(default_factory=dict)  # next offset per partition of ticket-events
    metrics: SloMetrics = field(init=False)  # the latest tracker's
    progress: ProgressLog = field(init=False)

    def tracker(self) -> Tracker:
        """A new tracker over this world, as a worker (re)started on it would be."""
        self.metrics = SloMetrics([1800.0, 3600.0], warn_thresholds=[0.5, 0.75, 0.9])
        self.progress = ProgressLog()

        async def send(kind: EmissionKind, key: bytes | None, value: bytes) -> None:
            self.sent.append(Sent(kind, key, json.loads(value)))

        async def backlog(partition: int) -> tuple[int | None, int | None]:
            return self.backlog.get(partition, (None, None))

        return Tracker(load_policy(), self.table, send, lambda source, p: self.committed.get((source, p)),
                       backlog, self.metrics, self.progress, orphan_timeout=3600.0, breach_grace=GRACE,
                       wall_clock=lambda: self.wall)

    def message(self, partition: int, key: bytes | None, value: bytes | None, published: float | None) -> Message:
        offset = self.offsets.get(partition, 0)
        self.offsets[partition] = offset + 1
        return Message(EVENTS_TOPIC, partition, offset, published, key, value)

    def event(self, partition: int, kind: str, ticket: str, at: float, published: float | None = None,
              **fields: Any) -> Message:
        """A ticket-events record: the event occurred at ``at`` minutes, was published at ``published`` (default: then)."""
        body = {"event_id": f"{ticket}-{kind}-{at}", "type": kind, "ticket_id": ticket,
                "occurred_at": when(at).isoformat(), **fields}
        return self.message(partition, ticket.encode(), json.dumps(body).encode(),
                            clock(at if published is None else published))

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)

    def kinds(self) -> list[tuple[str, str]]:
        """(kind, ticket) of what was sent, in order."""
        return [(sent.kind, sent.value.get("ticket_id") or sent.value.get("reason")) for sent in self.sent]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def live(world: World, *partitions: int) -> Tracker:
    """A tracker that owns ``partitions``, each with nothing left to catch up on."""
    tracker = world.tracker()
    tracker.on_assigned(set(partitions))
    for partition in partitions:
        world.backlog[partition] = (0, 0)
    return tracker


def opened(world: World, partition: int, ticket: str, at: float, priority: str = "P1") -> Message:
    return world.event(partition, "ticket.opened", ticket, at, priority=priority, customer_id="c1")


# -- events --------------------------------------------------------------------------------


def test_an_acknowledged_ticket_publishes_its_outcome_and_counts_the_events() -> None:
    world = World()
    tracker = live(world, 0)
    world.wall = clock(0)
    run(tracker.on_event(opened(world, 0, "T-1", at=0)))
    world.wall = clock(10)
    run(tracker.on_event(world.event(0, "ticket.acknowledged", "T-1", at=10)))
    [outcome] = world.sent
    assert (outcome.kind, outcome.key) == ("outcome", b"T-1")
    assert (outcome.value["met"], outcome.value["elapsed_seconds"]) == (True, 600.0)
    assert world.metric("ticket_slo_events_total", type="ticket.opened") == 1
    assert world.metric("ticket_slo_events_total", type="ticket.acknowledged") == 1
    assert world.metric("ticket_slo_clocks_started_total", objective="first_response", priority="P1") == 1
    assert world.metric("ticket_slo_outcomes_total", objective="first_response", priority="P1", result="met") == 1
    assert world.progress.counts == {"events": 2, "outcome": 1}


def test_an_invalid_record_is_dead_lettered_with_where_it_came_from_and_nothing_is_stored() -> None:
    world = World()
    tracker = live(world, 0)
    run(tracker.on_event(world.message(0, b"T-9", b"{not json", published=clock(0))))
    [letter] = world.sent
    assert (letter.kind, letter.key) == ("dead_letter", b"T-9")
    assert (letter.value["reason"], letter.value["topic"], letter.value["partition"], letter.value["offset"]) == (
        "bad_json", EVENTS_TOPIC, 0, 0)
    assert letter.value["detected_at"] == "2024-05-01T00:00:00Z"  # the injected wall clock
    assert world.table == {}
    assert world.metric("ticket_slo_events_invalid_total", reason="bad_json") == 1


def test_a_duplicate_is_counted_once_and_publishes_nothing_again() -> None:
    world = World()
    tracker = live(world, 0)
    run(tracker.on_event(opened(world, 0, "T-1", at=0)))
    run(tracker.on_event(world.event(0, "ticket.acknowledged", "T-1", at=5)))
    run(tracker.on_event(world.event(0, "ticket.acknowledged", "T-1", at=5)))  # same event id
    assert world.kinds() == [("outcome", "T-1")]
    assert world.metric("ticket_slo_events_duplicate_total") == 1
    assert world.metric("ticket_slo_events_total", type="ticket.acknowledged") == 1


def test_events_that_change_nothing_are_counted_by_reason() -> None:
    world = World()
    tracker = live(world, 0)
    run(tracker.on_event(opened(world, 0, "T-1", at=0)))
    run(tracker.on_event(opened(world, 0, "T-1", at=1)))  # another event id
    run(tracker.on_event(world.event(0, "ticket.closed", "T-1", at=2)))
    run(tracker.on_event(world.event(0, "ticket.acknowledged", "T-1", at=3)))
    assert world.metric("ticket_slo_events_ignored_total", reason="already_opened") == 1
    assert world.metric("ticket_slo_events_ignored_total", reason="ticket_closed") == 1


class WatchedTable(Table):
    """Notes how many outputs had been sent at each table write."""

    def __init__(self, sent: list[Sent]) -> None:
        super().__init__()
        self.sent = sent
        self.sent_at_write: list[int] = []

    def __setitem__(self, key: str, value: Any) -> None:
        self.sent_at_write.append(len(self.sent))
        super().__setitem__(key, value)


def test_each_output_is_stored_in_its_tickets_outbox_before_it_is_sent() -> None:
    sent: list[Sent] = []
    table = WatchedTable(sent)
    world = World(table=table, sent=sent)
    tracker = live(world, 0)
    run(tracker.on_event(opened(world, 0, "T-1", at=0)))
    run(tracker.on_event(world.event(0, "ticket.acknowledged", "T-1", at=5)))
    assert table.sent_at_write == [0, 0]  # the ticket was written before its outcome went out
    assert world.kinds() == [("outcome", "T-1")]
    [entry] = StoredTicket.read(world.table["T-1"]).outbox
    assert (entry.source, entry.offset, [output.kind for output in entry.outputs]) == (Source.EVENTS, 1, ["outcome"])


# -- ticks ---------------------------------------------------------------------------------


def test_ticks_fire_warnings_and_the_breach_on_the_wall_clock_less_the_grace() -> None:
    world = World()
    tracker = live(world, 0)
    run(tracker.on_event(opened(world, 0, "T-1", at=0)))
    world.wall = clock(15) + GRACE + 1  # 50% of 30 minutes is at 15
    run(tracker.on_tick(0, offset=0))
    assert world.kinds() == [("warning", "T-1")]
    world.wall = clock(30) + GRACE  # not strictly past the deadline yet
    run(tracker.on_tick(0, offset=1))
    world.wall = clock(30) + GRACE + 0.5
    run(tracker.on_tick(0, offset=2))
    assert world.kinds() == [("warning", "T-1"), ("warning", "T-1"), ("warning", "T-1"), ("breach", "T-1")]
    assert world.metric("ticket_slo_breaches_total", objective="first_response", priority="P1") == 1
    [entry] = StoredTicket.read(world.table["T-1"]).outbox[-1:]
    assert (entry.source, entry.offset) == (Source.CLOCK, 2)


def test_while_a_backlog_drains_the_clock_follows_publication_time_not_the_wall() -> None:
    """After downtime: the acknowledgement waiting in the backlog arrives before any breach fires."""
    world = World()
    world.backlog[0] = (0, 2)  # committed offset 0, end 2: two records to catch up on
    tracker = world.tracker()
    tracker.on_assigned({0})
    world.wall = clock(120)  # the worker comes back two hours later
    run(tracker.on_event(opened(world, 0, "T-1", at=0)))
    run(tracker.on_tick(0, offset=0))
    assert world.sent == []  # clock = publication time of the opening (less the grace), not the wall
    run(tracker.on_event(world.event(0, "ticket.acknowledged", "T-1", at=20)))
    assert world.kinds() == [("outcome", "T-1")]  # met: no breach before it
    run(tracker.on_event(opened(world, 0, "T-2", at=60)))  # past the backlog: the wall clock again
    assert world.kinds() == [("outcome", "T-1"), ("breach", "T-2")]  # T-2's deadline, 90, is long past


def test_a_partition_never_committed_has_no_clock_until_its_first_event() -> None:
    world = World()
    world.backlog[0] = (None, 3)  # no committed offset, records up to offset 3
    tracker = world.tracker()
    tracker.on_assigned({0})
    world.wall = clock(100)
    run(tracker.on_tick(0, offset=0))
    assert world.sent == []
    world.offsets[0] = 3  # processing starts past the records the previous owner handled
    run(tracker.on_event(opened(world, 0, "T-1", at=0)))
    run(tracker.on_tick(0, offset=1))
    assert world.kinds() == [("breach", "T-1")]  # caught up at once: wall clock


# -- restarts and rebalances ---------------------------------------------------------------


def test_outputs_in_outboxes_past_the_committed_offset_are_sent_again_after_a_restart() -> None:
    world = World()
    tracker = live(world, 0)
    run(tracker.on_event(opened(world, 0, "A", at=0)))             # offset 0
    run(tracker.on_event(opened(world, 0, "B", at=0)))             # offset 1
    run(tracker.on_event(world.event(0, "ticket.acknowledged", "A", at=5)))   # offset 2
    run(tracker.on_event(world.event(0, "ticket.acknowledged", "B", at=6)))   # offset 3
    assert world.kinds() == [("outcome", "A"), ("outcome", "B")]
    # The worker dies: offsets up to 2 are committed, so B's outcome may not have gone out.
    world.committed[(Source.EVENTS, 0)] = 3
    world.sent.clear()
    restarted = live(world, 0)
    run(restarted.on_tick(0, offset=10))
    assert world.kinds() == [("outcome", "B")]
    assert world.sent[0].value["met"] is True
    assert world.metric("ticket_slo_outputs_redelivered_total") == 1
    run(restarted.on_tick(0, offset=11))
    assert len(world.sent) == 1  # sent again once, not at every message


def test_a_restart_with_everything_committed_sends_nothing_again() -> None:
    world = World()
    tracker = live(world, 0)
    run(tracker.on_event(opened(world, 0, "A", at=0)))
    run(tracker.on_event(world.event(0, "ticket.acknowledged", "A", at=5)))
    world.committed[(Source.EVENTS, 0)] = 2
    world.sent.clear()
    run(live(world, 0).on_tick(0, offset=3))
    assert world.sent == []


def test_an_assignment_drops_the_keys_and_clocks_of_revoked_partitions() -> None:
    world = World()
    tracker = live(world, 0, 1)
    run(tracker.on_event(opened(world, 0, "A", at=0, priority="P1")))
    run(tracker.on_event(opened(world, 1, "B", at=0, priority="P2")))
    tracker.refresh_gauges()
    assert world.metric("ticket_slo_owned_partitions") == 2
    assert world.metric("ticket_slo_open_clocks", objective="first_response", priority="P2") == 1
    tracker.on_assigned({0})
    assert set(world.table) == {"A"}
    tracker.refresh_gauges()
    assert world.metric("ticket_slo_owned_partitions") == 1
    assert world.metric("ticket_slo_open_clocks", objective="first_response", priority="P1") == 1
    assert world.metric("ticket_slo_open_clocks", objective="first_response", priority="P2") == 0
    assert world.metric("ticket_slo_next_deadline_timestamp_seconds", objective="first_response",
                        priority="P1") == clock(30)


def test_a_partition_kept_through_a_rebalance_keeps_its_state_and_fires_after_measuring_again() -> None:
    world = World()
    tracker = live(world, 0, 1)
    run(tracker.on_event(opened(world, 0, "A", at=0)))
    tracker.on_assigned({0})
    world.wall = clock(31) + GRACE
    run(tracker.on_tick(0, offset=0))
    assert world.kinds() == [("breach", "A")]


def test_after_an_assignment_a_partition_waits_for_its_new_backlog_before_the_wall_clock() -> None:
    world = World()
    tracker = live(world, 0)
    run(tracker.on_event(opened(world, 0, "A", at=0)))  # offset 0
    world.backlog[0] = (1, 2)  # then the worker stalls; the acknowledgement waits at offset 1
    world.wall = clock(120)
    tracker.on_assigned({0})
    run(tracker.on_tick(0, offset=0))
    assert world.sent == []  # no breach before the backlog says what happened
    run(tracker.on_event(world.event(0, "ticket.acknowledged", "A", at=10)))
    assert world.kinds() == [("outcome", "A")]
