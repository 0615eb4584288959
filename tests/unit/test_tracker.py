"""The live path without a broker: a Tracker driven batch by batch over in-memory Kafka stand-ins.

The input topic is a list of records per partition, the producer files what it is handed
under topic → partition, the group's offsets are a list of commits, and the wall clock is
set by the test. Times are minutes after T0 (``clock(m)``); default policy: P1 30m, P2 60m,
P3 4h, P4 8h, warnings at 50/75/90 %. Expected values are written by hand from the rules.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, NamedTuple

import pytest
from aiokafka.structs import TopicPartition

from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.agents.progress import ProgressLog
from ticket_slo.agents.tracker import Tracker, TrackerIO, TrackerTopics
from ticket_slo.schemas.policy import load_policy
from ticket_slo.streams.core.changelog_codec import POSITION_KEY, decode_position, decode_record
from ticket_slo.streams.core.state_store import Record
from ticket_slo.streams.kafka.changelog_reader import LoadedPartition
from ticket_slo.streams.kafka.local_snapshots import ChangelogAnchor
from tests.unit.script import clock, when

EVENTS = "ticket-events"
CHANGELOG = "tickets-changelog"
BREACHES, WARNINGS, OUTCOMES, DEAD_LETTERS = "slo-breaches", "slo-warnings", "slo-outcomes", "dead-letters"
TOPICS = TrackerTopics(EVENTS, CHANGELOG,
                       {"breach": BREACHES, "warning": WARNINGS, "outcome": OUTCOMES, "dead_letter": DEAD_LETTERS},
                       {BREACHES: 1, WARNINGS: 1, OUTCOMES: 1, DEAD_LETTERS: 1})
GRACE = 1.0

KeyValue = tuple["bytes | None", "bytes | None"]


# -- the stand-ins -------------------------------------------------------------------------


class Rec(NamedTuple):
    """A ``ticket-events`` record as aiokafka's ``ConsumerRecord`` shows it (timestamp in ms)."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


class DeliveryFailed(Exception):
    """The broker did not take a record batch."""


class FakeConsumer:
    """aiokafka's consumer, partitions assigned by hand, over the world's input log."""

    def __init__(self, log: dict[int, list[Rec]], beginning: dict[int, int]) -> None:
        self._log = log
        self._beginning = beginning
        self.assigned: list[TopicPartition] = []
        self.positions: dict[TopicPartition, int] = {}
        self.seeks: list[tuple[int, int]] = []
        self.fetched: list[tuple[int, int]] = []  # (partition, offset) of every record handed out

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = list(partitions)
        self.positions = {tp: o for tp, o in self.positions.items() if tp in self.assigned}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        assert partition in self.assigned, f"seek on unassigned {partition}"
        self.positions[partition] = offset
        self.seeks.append((partition.partition, offset))

    async def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self._beginning.get(tp.partition, 0) for tp in partitions}

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self._end(tp.partition) for tp in partitions}

    def _end(self, partition: int) -> int:
        records = self._log.get(partition, [])
        return records[-1].offset + 1 if records else self._beginning.get(partition, 0)

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = 0,
                      max_records: int | None = None) -> dict[TopicPartition, list[Rec]]:
        left = max_records if max_records is not None else 1 << 62
        out: dict[TopicPartition, list[Rec]] = {}
        for tp in partitions:
            assert tp in self.assigned, f"getmany on unassigned {tp}"
            taken = [r for r in self._log.get(tp.partition, []) if r.offset >= self.positions[tp]][:left]
            if taken:
                out[tp] = taken
                left -= len(taken)
                self.positions[tp] = taken[-1].offset + 1
                self.fetched.extend((tp.partition, r.offset) for r in taken)
        return out


class FakeBatch:
    def __init__(self) -> None:
        self.records: list[KeyValue] = []

    def append(self, *, timestamp: int | None, key: bytes | None, value: bytes | None) -> object:
        assert timestamp is None
        self.records.append((key, value))
        return object()  # record metadata: never None, the batch is never full

    def record_count(self) -> int:
        return len(self.records)


class FakeProducer:
    """aiokafka's producer: delivered records land in ``topics[topic][partition]``.

    Deliveries to a topic in ``fail`` fail; to a topic in ``late``, they complete only when
    the event loop next runs (a write handed over but not yet on the broker); a topic in
    ``refuse`` is refused at hand-over (as aiokafka does when its buffer stays full)."""

    def __init__(self) -> None:
        self.topics: dict[str, dict[int, list[KeyValue]]] = {}
        self.calls: list[tuple[str, int]] = []  # every send_batch, in order
        self.futures: dict[str, list[asyncio.Future[None]]] = {}
        self.fail: set[str] = set()
        self.late: set[str] = set()
        self.refuse: set[str] = set()

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, partition: int) -> asyncio.Future[None]:
        self.calls.append((topic, partition))
        if topic in self.refuse:
            raise DeliveryFailed(f"{topic}[{partition}] refused")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.futures.setdefault(topic, []).append(future)

        def deliver() -> None:
            self.topics.setdefault(topic, {}).setdefault(partition, []).extend(batch.records)
            future.set_result(None)

        if topic in self.fail:
            future.set_exception(DeliveryFailed(f"{topic}[{partition}]"))
        elif topic in self.late:
            asyncio.get_running_loop().call_soon(deliver)
        else:
            deliver()
        return future

    def undelivered(self, topic: str) -> int:
        return sum(not future.done() for future in self.futures.get(topic, []))


@dataclass
class World:
    """Everything outside the tracker: the input log, the producer, the group, the wall clock."""

    wall: float = clock(0)
    log: dict[int, list[Rec]] = field(default_factory=dict)
    beginning: dict[int, int] = field(default_factory=dict)
    producer: FakeProducer = field(default_factory=FakeProducer)
    consumers: list[FakeConsumer] = field(default_factory=list)
    commits: list[dict[int, int]] = field(default_factory=list)
    #: Changelog writes not yet delivered when each commit was made.
    undelivered_at_commit: list[int] = field(default_factory=list)
    group_offsets: dict[int, int] = field(default_factory=dict)  # what committed() answers
    closed: int = 0
    metrics: SloMetrics = field(init=False)  # the latest tracker's
    progress: ProgressLog = field(init=False)

    @property
    def consumer(self) -> FakeConsumer:
        return self.consumers[-1]

    def tracker(self, *, commit_interval: float = 3600.0, max_batch: int = 100) -> Tracker:
        """A new tracker over this world, as a worker (re)started on it would be."""
        self.metrics = SloMetrics([1800.0, 3600.0, 14400.0, 28800.0], warn_thresholds=[0.5, 0.75, 0.9])
        self.progress = ProgressLog()
        return Tracker(load_policy(), TOPICS, self.metrics, self.progress, self._open_io,
                       orphan_timeout=3600.0, breach_grace=GRACE, poll_interval=0.01,
                       commit_interval=commit_interval, max_batch=max_batch, wall_clock=lambda: self.wall)

    async def _open_io(self) -> TrackerIO:
        consumer = FakeConsumer(self.log, self.beginning)
        self.consumers.append(consumer)

        async def commit(offsets: dict[int, int]) -> bool:
            self.undelivered_at_commit.append(self.producer.undelivered(CHANGELOG))
            self.commits.append(dict(offsets))
            return True

        async def committed(partition: int) -> int | None:
            return self.group_offsets.get(partition)

        async def close() -> None:
            self.closed += 1

        return TrackerIO(consumer, self.producer, lambda p: TopicPartition(EVENTS, p), commit, committed, close)

    # -- input

    def publish(self, partition: int, key: bytes | None, value: bytes | None, published: float) -> int:
        """Append a record published at ``published`` minutes; return its offset."""
        records = self.log.setdefault(partition, [])
        offset = records[-1].offset + 1 if records else self.beginning.get(partition, 0)
        records.append(Rec(offset, int(clock(published) * 1000), key, value))
        return offset

    def event(self, partition: int, kind: str, ticket: str, at: float, published: float | None = None,
              **fields: Any) -> int:
        """The event occurred at ``at`` minutes and was published at ``published`` (default: then)."""
        body = {"event_id": f"{ticket}-{kind}-{at}", "type": kind, "ticket_id": ticket,
                "occurred_at": when(at).isoformat(), **fields}
        return self.publish(partition, ticket.encode(), json.dumps(body).encode(), at if published is None else published)

    def opened(self, partition: int, ticket: str, at: float, priority: str = "P1",
               published: float | None = None) -> int:
        return self.event(partition, "ticket.opened", ticket, at, published, priority=priority, customer_id="c1")

    # -- output

    def sent(self, topic: str) -> list[tuple[bytes | None, dict[str, Any]]]:
        """(key, JSON value) of every record on an output topic (one partition each)."""
        return [(key, json.loads(value or b"null")) for key, value in self.producer.topics.get(topic, {}).get(0, [])]

    def changelog(self, partition: int) -> list[KeyValue]:
        return self.producer.topics.get(CHANGELOG, {}).get(partition, [])

    def read_back(self, partition: int) -> LoadedPartition:
        """The changelog partition as a restarted worker reads it: latest record per ticket, position."""
        latest: dict[bytes, bytes | None] = {}
        position: int | None = None
        for key, value in self.changelog(partition):
            assert key is not None
            if key == POSITION_KEY:
                assert value is not None
                position = decode_position(value)
            else:
                latest[key] = value
        records: dict[str, Record] = {k.decode(): decode_record(v) for k, v in latest.items() if v is not None}
        return LoadedPartition(partition, records, position, len(self.changelog(partition)), 0, 0.0)

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)


def empty(partition: int) -> LoadedPartition:
    return LoadedPartition(partition, {}, None, 0, 0, 0.0)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def fields(sent: list[tuple[bytes | None, dict[str, Any]]], *names: str) -> list[tuple[Any, ...]]:
    """The key and the named fields of each record sent."""
    return [(key, *(value[name] for name in names)) for key, value in sent]


# -- events --------------------------------------------------------------------------------


def test_an_acknowledged_ticket_publishes_its_outcome_keyed_by_ticket_and_counts_once() -> None:
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        await tracker.on_assigned({0: empty(0)})
        world.opened(0, "T-1", at=0)
        world.event(0, "ticket.acknowledged", "T-1", at=10)
        world.wall = clock(10)
        assert await tracker.run_once() == 2
        assert fields(world.sent(OUTCOMES), "type", "ticket_id", "met", "elapsed_seconds") == [
            (b"T-1", "slo.completed", "T-1", True, 600.0)]
        assert world.sent(BREACHES) == [] and world.sent(WARNINGS) == []
        assert world.metric("ticket_slo_events_total", type="ticket.opened") == 1
        assert world.metric("ticket_slo_events_total", type="ticket.acknowledged") == 1
        assert world.metric("ticket_slo_clocks_started_total", objective="first_response", priority="P1") == 1
        assert world.metric("ticket_slo_outcomes_total", objective="first_response", priority="P1",
                            result="met", plan="default") == 1
        assert world.progress.counts == {"events": 2, "outcome": 1}

    run(scenario)


def test_an_invalid_record_is_dead_lettered_with_where_it_came_from_and_nothing_is_stored() -> None:
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        await tracker.on_assigned({0: empty(0)})
        world.publish(0, b"T-9", b"{not json", published=0)
        await tracker.run_once()
        [(key, letter)] = world.sent(DEAD_LETTERS)
        assert key == b"T-9"
        assert (letter["reason"], letter["topic"], letter["partition"], letter["offset"]) == (
            "bad_json", EVENTS, 0, 0)
        assert letter["detected_at"] == "2024-05-01T00:00:00Z"  # the injected wall clock
        assert world.changelog(0) == [(b"\x00position", b"0")]  # no ticket, only the position
        assert world.metric("ticket_slo_events_invalid_total", reason="bad_json") == 1
        assert world.metric("ticket_slo_events_invalid_total", reason="invalid_fields") == 0
        assert world.progress.counts == {"invalid (bad_json)": 1}

    run(scenario)


def test_a_duplicate_is_counted_once_and_publishes_nothing_again() -> None:
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        await tracker.on_assigned({0: empty(0)})
        world.opened(0, "T-1", at=0)
        world.event(0, "ticket.acknowledged", "T-1", at=5)
        await tracker.run_once()
        world.event(0, "ticket.acknowledged", "T-1", at=5)  # the same event id again
        await tracker.run_once()
        assert fields(world.sent(OUTCOMES), "ticket_id") == [(b"T-1", "T-1")]
        assert world.metric("ticket_slo_events_duplicate_total") == 1
        assert world.metric("ticket_slo_events_total", type="ticket.acknowledged") == 1
        assert world.progress.counts == {"events": 2, "duplicates": 1, "outcome": 1}

    run(scenario)


def test_the_changelog_gets_each_touched_ticket_once_per_batch_then_the_position_in_the_input_partition() -> None:
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        await tracker.on_assigned({1: empty(1)})
        world.opened(1, "T-1", at=0)                                          # offset 0
        world.opened(1, "T-2", at=1)                                          # offset 1
        world.event(1, "ticket.assigned", "T-1", at=2, assignee="agent-7")   # offset 2
        world.event(1, "ticket.acknowledged", "T-1", at=3)                    # offset 3
        await tracker.run_once()
        writes = world.changelog(1)
        assert sorted(key for key, _ in writes[:-1]) == [b"T-1", b"T-2"]  # T-1 once, not three times
        assert writes[-1] == (b"\x00position", b"3")
        assert set(world.producer.topics[CHANGELOG]) == {1}  # the input's partition, no other

    run(scenario)


# -- outputs before state ------------------------------------------------------------------


def test_outputs_are_handed_over_before_any_changelog_write_of_their_batch() -> None:
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        await tracker.on_assigned({0: empty(0)})
        world.opened(0, "T-1", at=0)
        world.event(0, "ticket.acknowledged", "T-1", at=5)
        world.publish(0, b"T-9", b"{not json", published=5)
        await tracker.run_once()
        calls = world.producer.calls
        assert sorted(calls[:-1]) == [(DEAD_LETTERS, 0), (OUTCOMES, 0)]
        assert calls[-1] == (CHANGELOG, 0)

    run(scenario)


def test_a_failed_output_delivery_fails_the_batch_and_writes_no_state_for_it() -> None:
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        await tracker.on_assigned({0: empty(0)})
        world.opened(0, "T-1", at=0)
        world.event(0, "ticket.acknowledged", "T-1", at=5)
        world.producer.fail = {OUTCOMES}
        with pytest.raises(DeliveryFailed):
            await tracker.run_once()
        assert world.producer.calls == [(OUTCOMES, 0)]  # the changelog was never handed anything
        assert world.changelog(0) == []
        assert world.commits == []

    run(scenario)


def test_a_failed_state_write_stops_the_worker_and_commits_nothing() -> None:
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        await tracker.on_assigned({0: empty(0)})
        world.opened(0, "T-1", at=0)
        world.producer.fail = {CHANGELOG}
        with pytest.raises(DeliveryFailed):
            await tracker.run_once()
        assert world.commits == []

    run(scenario)


# -- where reading resumes -----------------------------------------------------------------


def test_a_restarted_tracker_resumes_right_after_the_stored_position() -> None:
    async def scenario() -> None:
        world = World()
        first = world.tracker()
        await first.on_assigned({0: empty(0)})
        world.opened(0, "A", at=0)  # offset 0
        world.opened(0, "B", at=0)  # offset 1
        await first.run_once()
        world.event(0, "ticket.acknowledged", "A", at=5)  # offset 2, published while nobody ran
        world.wall = clock(6)
        restarted = world.tracker()
        await restarted.on_assigned({0: world.read_back(0)})
        assert world.consumer.seeks == [(0, 2)]
        await restarted.run_once()
        assert world.consumer.fetched == [(0, 2)]  # offsets 0 and 1 not read again
        assert fields(world.sent(OUTCOMES), "ticket_id", "met") == [(b"A", "A", True)]
        assert world.metric("ticket_slo_events_total", type="ticket.opened") == 0
        assert world.metric("ticket_slo_events_total", type="ticket.acknowledged") == 1

    run(scenario)


def test_state_without_a_position_resumes_from_the_groups_committed_offset() -> None:
    async def scenario() -> None:
        world = World()
        first = world.tracker()
        await first.on_assigned({0: empty(0)})
        world.opened(0, "A", at=0)  # offset 0
        world.opened(0, "B", at=0)  # offset 1
        await first.run_once()
        state = world.read_back(0)
        state.position = None  # written by an earlier version: tickets, no position
        world.group_offsets[0] = 1
        restarted = world.tracker()
        await restarted.on_assigned({0: state})
        assert world.consumer.seeks == [(0, 1)]
        await restarted.run_once()
        assert world.consumer.fetched == [(0, 1)]
        assert world.metric("ticket_slo_events_duplicate_total") == 1  # B's opening, seen before

    run(scenario)


def test_no_state_at_all_reads_from_the_beginning_offset_not_the_committed_one() -> None:
    async def scenario() -> None:
        world = World()
        world.beginning[0] = 3  # offsets 0-2 are gone (retention)
        world.opened(0, "A", at=0)  # offset 3
        world.opened(0, "B", at=0)  # offset 4
        world.group_offsets[0] = 4
        tracker = world.tracker()
        await tracker.on_assigned({0: empty(0)})
        assert world.consumer.seeks == [(0, 3)]
        await tracker.run_once()
        assert world.consumer.fetched == [(0, 3), (0, 4)]

    run(scenario)


# -- clocks --------------------------------------------------------------------------------


def test_timers_fire_without_input_on_the_wall_clock_less_the_grace() -> None:
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        await tracker.on_assigned({0: empty(0)})
        world.opened(0, "T-1", at=0)
        await tracker.run_once()
        world.wall = clock(15) + GRACE + 1  # 50 % of 30 minutes is at 15
        assert await tracker.run_once() == 0
        assert fields(world.sent(WARNINGS), "threshold") == [(b"T-1", 0.5)]
        world.wall = clock(30) + GRACE  # 75 % and 90 % passed; the deadline not strictly yet
        await tracker.run_once()
        assert fields(world.sent(WARNINGS), "threshold") == [(b"T-1", 0.5), (b"T-1", 0.75), (b"T-1", 0.9)]
        assert world.sent(BREACHES) == []
        world.wall = clock(30) + GRACE + 0.5
        await tracker.run_once()
        assert fields(world.sent(BREACHES), "type", "priority", "deadline", "detected_at") == [
            (b"T-1", "slo.breached", "P1", "2024-05-01T00:30:00Z", "2024-05-01T00:30:00.500000Z")]
        assert world.metric("ticket_slo_breaches_total", objective="first_response", priority="P1") == 1
        assert world.metric("ticket_slo_at_risk_total", objective="first_response", priority="P1",
                            threshold="0.75") == 1

    run(scenario)


def test_while_a_backlog_drains_the_clock_follows_publication_time_not_the_wall() -> None:
    """After downtime: the acknowledgement waiting in the backlog arrives before any breach fires."""
    async def scenario() -> None:
        world = World()
        world.opened(0, "T-1", at=0)                        # offset 0
        world.event(0, "ticket.acknowledged", "T-1", at=20)  # offset 1: the backlog ends at 2
        world.wall = clock(120)  # the worker comes back two hours later
        tracker = world.tracker(max_batch=1)
        await tracker.on_assigned({0: empty(0)})
        await tracker.run_once()  # the opening only: clock = its publication less the grace
        assert world.sent(BREACHES) == [] and world.sent(WARNINGS) == []
        await tracker.run_once()  # the acknowledgement: met, no breach before it
        assert world.sent(BREACHES) == []
        assert fields(world.sent(OUTCOMES), "met", "elapsed_seconds") == [(b"T-1", True, 1200.0)]
        world.opened(0, "T-2", at=60)  # past the backlog: the wall clock again
        await tracker.run_once()
        assert fields(world.sent(BREACHES), "ticket_id", "deadline") == [(b"T-2", "T-2", "2024-05-01T01:30:00Z")]

    run(scenario)


def test_a_breach_due_within_a_batch_fires_before_the_later_priority_change_then_is_retracted() -> None:
    """Live: the P1 deadline (30) is past when the batch arrives (wall 40); the change to P3
    occurred at 20, before the deadline, so it moves the deadline to 4h and retracts the P1
    breach: the retraction, and its count, carry the breach's priority and deadline."""
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        await tracker.on_assigned({0: empty(0)})
        world.opened(0, "T-1", at=0)
        world.event(0, "ticket.priority_changed", "T-1", at=20, published=40, priority="P3")
        world.wall = clock(40)
        await tracker.run_once()
        breach, retraction = world.sent(BREACHES)
        assert fields([breach], "type", "priority", "deadline", "detected_at") == [
            (b"T-1", "slo.breached", "P1", "2024-05-01T00:30:00Z", "2024-05-01T00:39:59Z")]
        assert fields([retraction], "type", "priority", "deadline", "stopped_at", "detected_at") == [
            (b"T-1", "slo.breach_retracted", "P1", "2024-05-01T00:30:00Z", None, "2024-05-01T00:39:59Z")]
        assert retraction[1]["breach_id"] == breach[1]["breach_id"]
        assert world.sent(WARNINGS) == []  # thresholds passed with the deadline say nothing
        for priority, count in (("P1", 1), ("P3", 0)):
            assert world.metric("ticket_slo_breaches_total", objective="first_response", priority=priority) == count
            assert world.metric("ticket_slo_breach_retractions_total", objective="first_response",
                                priority=priority) == count

    run(scenario)


def test_in_a_backlog_batch_a_breach_due_by_an_earlier_records_time_fires_before_a_later_change() -> None:
    """Catching up: T-2's record (published 35) moves the clock past T-1's deadline (30), so
    the breach fires before T-1's change to P3 (occurred 20, published 40) is applied."""
    async def scenario() -> None:
        world = World()
        world.opened(0, "T-1", at=0)                                                       # offset 0
        world.opened(0, "T-2", at=35, priority="P4")                                       # offset 1
        world.event(0, "ticket.priority_changed", "T-1", at=20, published=40, priority="P3")  # offset 2
        world.opened(0, "T-3", at=45, priority="P4")                                       # offset 3
        world.wall = clock(120)
        tracker = world.tracker(max_batch=3)
        await tracker.on_assigned({0: empty(0)})
        await tracker.run_once()  # offsets 0-2, one batch, all in the backlog
        assert fields(world.sent(BREACHES), "type", "deadline", "detected_at") == [
            (b"T-1", "slo.breached", "2024-05-01T00:30:00Z", "2024-05-01T00:34:59Z"),
            (b"T-1", "slo.breach_retracted", "2024-05-01T00:30:00Z", "2024-05-01T00:39:59Z")]

    run(scenario)


# -- rebalances and stopping ---------------------------------------------------------------


def test_on_revoked_waits_for_the_state_writes_then_commits_position_plus_one() -> None:
    async def scenario() -> None:
        world = World()
        world.producer.late = {CHANGELOG}
        tracker = world.tracker(commit_interval=3600.0)
        await tracker.on_assigned({0: empty(0)})
        world.opened(0, "A", at=0)  # offset 0
        world.opened(0, "B", at=0)  # offset 1
        await tracker.run_once()    # the first batch commits at once
        world.opened(0, "C", at=0)  # offset 2
        await tracker.run_once()    # within the commit interval: no commit
        assert world.commits == [{0: 2}]
        await tracker.on_revoked()
        assert world.producer.undelivered(CHANGELOG) == 0
        assert world.commits == [{0: 2}, {0: 3}]
        assert world.undelivered_at_commit == [0, 0]

    run(scenario)


def test_after_on_revoked_run_once_reads_nothing() -> None:
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        await tracker.on_assigned({0: empty(0)})
        world.opened(0, "A", at=0)
        await tracker.run_once()
        await tracker.on_revoked()
        world.opened(0, "B", at=0)
        assert await tracker.run_once() == 0
        assert world.consumer.assigned == []
        assert world.consumer.fetched == [(0, 0)]

    run(scenario)


def test_a_kept_partition_with_the_same_state_dict_keeps_its_engine_and_a_new_dict_builds_a_new_one() -> None:
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        zero, one = empty(0), empty(1)
        await tracker.on_assigned({0: zero, 1: one})
        engines = {p: tracker._batchers[p].engine for p in (0, 1)}
        await tracker.on_revoked()
        await tracker.on_assigned({0: zero, 1: LoadedPartition(1, dict(one.records), None, 0, 0, 0.0)})
        assert tracker._batchers[0].engine is engines[0]
        assert tracker._batchers[1].engine is not engines[1]

    run(scenario)


def test_the_gauges_show_only_the_partitions_owned_now() -> None:
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        zero, one = empty(0), empty(1)
        await tracker.on_assigned({0: zero, 1: one})
        world.opened(0, "A", at=0, priority="P1")
        world.opened(1, "B", at=0, priority="P2")
        await tracker.run_once()
        tracker.refresh_gauges()
        assert world.metric("ticket_slo_owned_partitions") == 2
        assert world.metric("ticket_slo_open_clocks", objective="first_response", priority="P2", state="running") == 1
        await tracker.on_revoked()
        await tracker.on_assigned({0: zero})
        tracker.refresh_gauges()
        assert world.metric("ticket_slo_owned_partitions") == 1
        assert world.metric("ticket_slo_open_clocks", objective="first_response", priority="P1", state="running") == 1
        assert world.metric("ticket_slo_open_clocks", objective="first_response", priority="P2", state="running") == 0
        assert world.metric("ticket_slo_next_deadline_timestamp_seconds", objective="first_response",
                            priority="P1") == clock(30)
        assert world.metric("ticket_slo_next_deadline_timestamp_seconds", objective="first_response",
                            priority="P2") is None
        await tracker.on_revoked()
        await tracker.on_assigned({})
        tracker.refresh_gauges()
        assert open_clock_series(world) == {}

    run(scenario)


def open_clock_series(world: World) -> dict[tuple[str, str], float]:
    """(priority, state) → value of every ``ticket_slo_open_clocks`` series exported now."""
    return {(sample.labels["priority"], sample.labels["state"]): sample.value
            for family in world.metrics.open_clocks.collect() for sample in family.samples}


def test_open_clocks_are_counted_by_state_running_or_breached_until_answered() -> None:
    """Two partitions: A (P1) and B (P1) breach at 30; B's late change to P3 (occurred 20)
    retracts its breach, so B runs again as P3; A stays breached until answered."""
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        await tracker.on_assigned({0: empty(0), 1: empty(1)})
        world.opened(0, "A", at=0, priority="P1")
        world.opened(1, "B", at=0, priority="P1")
        world.opened(1, "C", at=0, priority="P4")
        await tracker.run_once()
        tracker.refresh_gauges()
        zero = {(priority, state): 0.0 for priority in ("P1", "P2", "P3", "P4")
                for state in ("running", "paused", "breached")}
        assert open_clock_series(world) == zero | {("P1", "running"): 2.0, ("P4", "running"): 1.0}
        world.wall = clock(31)
        await tracker.run_once()  # no input: the breaches fire on the clock
        tracker.refresh_gauges()
        assert open_clock_series(world) == zero | {("P1", "breached"): 2.0, ("P4", "running"): 1.0}
        world.event(1, "ticket.priority_changed", "B", at=20, published=32, priority="P3")
        world.wall = clock(32)
        await tracker.run_once()
        tracker.refresh_gauges()
        assert open_clock_series(world) == zero | {("P1", "breached"): 1.0, ("P3", "running"): 1.0,
                                                   ("P4", "running"): 1.0}
        world.event(0, "ticket.acknowledged", "A", at=33, by="agent")
        world.wall = clock(33)
        await tracker.run_once()
        tracker.refresh_gauges()
        assert open_clock_series(world) == zero | {("P3", "running"): 1.0, ("P4", "running"): 1.0}

    run(scenario)


def test_the_heartbeat_moves_with_every_pass_of_the_loop_events_or_not() -> None:
    """Set from the tracker's wall clock once per pass: passes that read nothing move it too,
    and so do the waits of a loop that owns no partition; a stopped loop leaves it."""
    heartbeat = "ticket_slo_tracker_heartbeat_timestamp_seconds"

    async def without_partitions() -> None:
        world = World()
        tracker = world.tracker()
        world.wall = clock(1)
        loop = asyncio.create_task(tracker.run())
        await asyncio.sleep(0.05)  # a few 10 ms waits
        assert world.metric(heartbeat) == clock(1)
        world.wall = clock(2)
        await asyncio.sleep(0.05)
        assert world.metric(heartbeat) == clock(2)
        await tracker.stop()
        await loop
        world.wall = clock(3)
        await asyncio.sleep(0.05)
        assert world.metric(heartbeat) == clock(2), "a stopped loop no longer beats"

    async def with_partitions() -> None:
        world = World()
        tracker = world.tracker()
        beats: list[float] = []
        beat = world.metrics.beat
        world.metrics.beat = lambda wall_now: (beats.append(wall_now), beat(wall_now))  # type: ignore[method-assign]
        await tracker.on_assigned({0: empty(0), 1: empty(1)})
        assert world.metric(heartbeat) == 0.0, "no pass yet"
        world.wall = clock(4)
        assert await tracker.run_once() == 0  # a quiet helpdesk: nothing to read
        assert world.metric(heartbeat) == clock(4)
        world.wall = clock(5)
        assert await tracker.run_once() == 0
        assert world.metric(heartbeat) == clock(5)
        for ticket in ("A", "B", "C"):
            world.opened(0, ticket, at=5)
        world.opened(1, "D", at=5)
        world.wall = clock(6)
        assert await tracker.run_once() == 4
        assert world.metric(heartbeat) == clock(6)
        assert beats == [clock(4), clock(5), clock(6)], "one gauge set per pass, not per event"

    run(without_partitions)
    run(with_partitions)


def test_group_offsets_are_committed_after_the_state_writes_arrive_and_not_again_when_unchanged() -> None:
    async def scenario() -> None:
        world = World()
        world.producer.late = {CHANGELOG}
        tracker = world.tracker(commit_interval=0.0)
        await tracker.on_assigned({0: empty(0)})
        world.opened(0, "A", at=0)  # offset 0
        world.opened(0, "B", at=0)  # offset 1
        await tracker.run_once()
        await tracker.run_once()    # nothing new: nothing to commit
        world.opened(0, "C", at=0)  # offset 2
        await tracker.run_once()
        assert world.commits == [{0: 2}, {0: 3}]
        assert world.undelivered_at_commit == [0, 0]

    run(scenario)


def test_stop_flushes_commits_and_closes_the_connections() -> None:
    async def scenario() -> None:
        world = World()
        world.producer.late = {CHANGELOG}
        tracker = world.tracker(commit_interval=3600.0)
        await tracker.on_assigned({0: empty(0)})
        world.opened(0, "A", at=0)
        await tracker.run_once()
        world.opened(0, "B", at=0)
        await tracker.run_once()
        await tracker.stop()
        assert world.commits == [{0: 1}, {0: 2}]
        assert world.undelivered_at_commit == [0, 0]
        assert world.closed == 1

    run(scenario)


# -- what a clean stop leaves for a local snapshot ------------------------------------------


def test_a_clean_stop_gives_each_partitions_state_its_index_and_its_last_changelog_write() -> None:
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        await tracker.on_assigned({0: empty(0), 1: empty(1)})
        world.opened(0, "A", at=0)
        world.opened(0, "B", at=0)
        await tracker.run_once()
        assert tracker.final_state() == [], "nothing before the stop"
        await tracker.stop()
        states = {state.partition: state for state in tracker.final_state()}
        assert set(states) == {0}, "partition 1 never had any state: nothing to keep"
        state = states[0]
        assert sorted(state.records) == ["A", "B"] and state.position == 1
        assert state.last == world.changelog(0)[-1] == (POSITION_KEY, b"1"), "the position record closes the batch"
        assert sorted(ticket for _, ticket in state.index.timers) == ["A", "B"]
        assert state.index.open_clocks[("first_response", "P1")] == 2

    run(scenario)


def test_state_read_back_and_left_unchanged_keeps_the_anchor_it_was_read_with() -> None:
    async def scenario() -> None:
        world = World()
        first = world.tracker()
        await first.on_assigned({0: empty(0)})
        world.opened(0, "A", at=0)
        await first.run_once()
        await first.stop()
        anchor = ChangelogAnchor(41, POSITION_KEY, b"0")
        loaded = world.read_back(0)
        loaded.last = anchor
        restarted = world.tracker()
        await restarted.on_assigned({0: loaded})
        await restarted.run_once()  # nothing new: nothing written
        await restarted.stop()
        assert [state.last for state in restarted.final_state()] == [anchor]

    run(scenario)


def test_a_batch_that_failed_half_way_leaves_no_state_to_keep() -> None:
    """Its events changed the engine but its outputs never went out: memory is ahead of the
    changelog, and a snapshot of it would skip those events for good."""
    async def scenario() -> None:
        world = World()
        tracker = world.tracker()
        await tracker.on_assigned({0: empty(0)})
        world.opened(0, "T-1", at=0)
        await tracker.run_once()  # written: the partition has state worth keeping
        world.event(0, "ticket.acknowledged", "T-1", at=5)
        world.producer.refuse = {OUTCOMES}
        with pytest.raises(DeliveryFailed):
            await tracker.run_once()
        world.producer.refuse = set()
        await tracker.stop()  # nothing in flight: the flush itself succeeds
        assert tracker.final_state() == []

    run(scenario)


def test_each_partition_gets_its_share_of_a_batch_before_any_gets_more() -> None:
    """After a restart with a backlog everywhere, no partition waits for the others' backlogs."""
    async def scenario() -> None:
        world = World()
        tracker = world.tracker(max_batch=100)
        await tracker.on_assigned({0: empty(0), 1: empty(1), 2: empty(2)})
        for number in range(150):
            world.opened(0, f"A-{number}", at=0)
            world.opened(1, f"B-{number}", at=0)
        world.opened(2, "C-0", at=0)
        assert await tracker.run_once() == 100
        taken = [partition for partition, _ in world.consumer.fetched]
        assert (taken.count(0), taken.count(1), taken.count(2)) == (66, 33, 1), "33 each, then the rest of the batch"
        assert await tracker.run_once() == 100
        assert await tracker.run_once() == 100
        assert len(world.consumer.fetched) == 300
        offsets = [offset for partition, offset in world.consumer.fetched if partition == 0]
        assert offsets == list(range(len(offsets))), "each partition's records in order, none twice"

    run(scenario)
