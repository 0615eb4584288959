"""The engine limit's batch loop, without a broker: one changelog write per touched ticket per
batch, the position record after them, outputs and dead letters, and the phase in the report."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest

from ticket_slo.schemas.policy import load_policy
from ticket_slo.schemas.validation import parse_event
from ticket_slo.streams.bench.command import PHASES, _phase_list
from ticket_slo.streams.bench.engine_loop import (POSITION_KEY, LoopTimes, PartitionLoop, TouchedStore,
                                                  changelog_writes, outputs_by_partition, send_records)
from ticket_slo.streams.bench.kafka_io import partition_of
from ticket_slo.streams.bench.lifecycle import lifecycle_batch, probe_events, renamed_repeats
from ticket_slo.streams.bench.plan import LONG_POLICY
from ticket_slo.streams.bench.report import render
from ticket_slo.streams.core.engine import SloEngine

NOW = 1_800_000_000.0
SINKS = {"breach": "breaches", "warning": "warnings", "outcome": "outcomes", "dead_letter": "dlq"}


@dataclass(frozen=True)
class FakeRecord:
    offset: int
    key: bytes | None
    value: bytes | None


def records(pairs: list[tuple[bytes | None, bytes | None]], first_offset: int = 0) -> list[FakeRecord]:
    return [FakeRecord(first_offset + n, key, value) for n, (key, value) in enumerate(pairs)]


@pytest.fixture
def loop(tmp_path: Any) -> PartitionLoop:
    path = tmp_path / "policy.yaml"
    path.write_text(LONG_POLICY)
    policy = load_policy(path)
    return PartitionLoop("ticket-events", 3, lambda store: SloEngine(policy, store, closed_retention=60.0))


def test_the_store_reports_each_touched_ticket_once_then_forgets() -> None:
    store = TouchedStore()
    store.put("A", {"v": 1})
    store.put("B", {"v": 1})
    store.put("A", {"v": 2})
    store.delete("B")
    assert sorted(store.take_touched(), key=lambda item: item[0]) == [("A", {"v": 2}), ("B", None)]
    assert store.take_touched() == []
    assert dict(store.items()) == {"A": {"v": 2}} and len(store) == 1


def test_a_batch_writes_each_touched_ticket_once_then_its_position(loop: PartitionLoop) -> None:
    batch = records([*probe_events("A", NOW - 10), *probe_events("B", NOW - 10), *probe_events("A", NOW - 5)[1:]],
                    first_offset=40)
    writes = loop.take(batch, NOW, LoopTimes())
    assert writes.partition == 3 and writes.events == 5
    keys = [key for key, _ in writes.changelog]
    assert sorted(keys[:-1]) == [b"A", b"B"], "one write per ticket, however many of its events the batch held"
    assert writes.changelog[-1] == (POSITION_KEY, b"44"), "the position is the last applied offset, written last"
    for key, value in writes.changelog[:-1]:
        assert value is not None
        assert json.loads(value) == loop.store.get(key.decode()), "the record as the engine left it, compact JSON"
        assert b" " not in value
    assert [(e.kind, e.key, type(e.model).__name__) for e in writes.emissions] == [
        ("outcome", "A", "SloCompleted"), ("outcome", "B", "SloCompleted")]
    assert loop.position == 44


def test_an_invalid_record_is_a_dead_letter_and_still_moves_the_position(loop: PartitionLoop) -> None:
    writes = loop.take(records([(b"X", b"{not json"), (b"Y", None)], first_offset=7), NOW, LoopTimes(),
                       wall=lambda: NOW)
    assert writes.events == 0 and writes.emissions == []
    assert writes.changelog == [(POSITION_KEY, b"8")]
    reasons = [(key, json.loads(value)["reason"], json.loads(value)["offset"]) for key, value in writes.dead_letters]
    assert reasons == [(b"X", "bad_json", 7), (b"Y", "not_an_object", 8)]


def test_a_ticket_the_clock_deletes_is_a_tombstone(loop: PartitionLoop) -> None:
    opened, acknowledged = probe_events("C", NOW - 100)
    closed = (b"C", acknowledged[1].replace(b"ticket.acknowledged", b"ticket.closed").replace(b"C-e1", b"C-e2"))
    loop.take(records([opened, acknowledged, closed]), NOW - 90, LoopTimes())
    writes = loop.take([], NOW, LoopTimes())  # closed_retention (60 s) has passed on the engine clock
    assert writes.changelog == [(b"C", None), (POSITION_KEY, b"2")]


def test_an_empty_loop_writes_no_position() -> None:
    assert changelog_writes([], None) == []
    assert changelog_writes([("A", {"v": 1})], 9) == [(b"A", b'{"v":1}'), (POSITION_KEY, b"9")]


def test_the_time_split_is_reported_per_event_and_as_shares() -> None:
    times = LoopTimes(consume=1.0, parse=1.0, apply=2.0)
    figures = times.as_dict(1000)
    assert figures["us_per_event"]["apply"] == 2000.0
    assert figures["share"] == {"consume": 0.25, "parse": 0.25, "apply": 0.5, "advance": 0.0, "state": 0.0,
                                "produce": 0.0, "commit": 0.0}


def test_outputs_go_to_their_kind_topic_and_key_partition(loop: PartitionLoop) -> None:
    writes = loop.take(records([*probe_events("A", NOW - 10), *probe_events("B", NOW - 10)]), NOW, LoopTimes())
    writes.dead_letters.append((b"Z", b"{}"))
    grouped = outputs_by_partition(writes, SINKS, 8)  # type: ignore[arg-type]
    expected = {("outcomes", partition_of(b"A", 8)), ("outcomes", partition_of(b"B", 8)), ("dlq", partition_of(b"Z", 8))}
    assert set(grouped) == expected
    assert sum(len(items) for items in grouped.values()) == 3
    assert json.loads(grouped[("dlq", partition_of(b"Z", 8))][0][1]) == {}


class FakeBuilder:
    def __init__(self, room: int) -> None:
        self.room = room
        self.records: list[tuple[bytes | None, bytes | None]] = []

    def append(self, *, timestamp: float | None, key: bytes | None, value: bytes | None) -> object | None:
        if len(self.records) == self.room:
            return None
        self.records.append((key, value))
        return object()

    def record_count(self) -> int:
        return len(self.records)


class FakeProducer:
    def __init__(self, room: int) -> None:
        self.room = room
        self.sent: list[tuple[str, int, list[tuple[bytes | None, bytes | None]]]] = []

    def create_batch(self) -> FakeBuilder:
        return FakeBuilder(self.room)

    async def send_batch(self, batch: FakeBuilder, topic: str, *, partition: int) -> None:
        self.sent.append((topic, partition, batch.records))


def test_records_are_handed_over_as_record_batches_a_new_one_when_full() -> None:
    producer = FakeProducer(room=2)
    items = [(b"k%d" % n, b"v%d" % n) for n in range(5)]
    asyncio.run(send_records(producer, "changelog", 3, items))
    assert [(topic, partition, len(batch)) for topic, partition, batch in producer.sent] == [
        ("changelog", 3, 2), ("changelog", 3, 2), ("changelog", 3, 1)]
    assert [item for _, _, batch in producer.sent for item in batch] == items
    empty = FakeProducer(room=2)
    asyncio.run(send_records(empty, "changelog", 3, []))
    assert empty.sent == []


def test_repeats_of_the_batch_are_new_tickets_not_duplicates() -> None:
    batch = lifecycle_batch(50, prefix="T-", start=NOW, concurrent=5)
    repeated = list(renamed_repeats(batch, 150, prefix="T-"))
    assert len(repeated) == 150 and repeated[:50] == batch
    for key, value in repeated[50:]:
        event = parse_event(value, key)  # the key still matches the renamed ticket id
        assert event.ticket_id.startswith(("T-r1-", "T-r2-")) and event.event_id.startswith(event.ticket_id)
    assert len({key for key, _ in repeated}) == 3 * len({key for key, _ in batch})


def test_the_phase_is_one_of_the_runs_phases() -> None:
    assert PHASES.index("engine_limit") == PHASES.index("python_limit") + 1
    assert _phase_list("python_limit,engine_limit") == {"python_limit", "engine_limit"}


def test_the_report_has_a_row_a_time_split_and_a_cpu_column() -> None:
    cpu = {"wall_s": 10.0, "cores": 2, "cpu_s": {"engine loop": 9.0}, "pct_of_machine": {"engine loop": 45.0},
           "pct_of_machine_total": 45.0}
    figures = {
        "mode": "quick", "bootstrap": "b:9092", "partitions": 8, "event_bytes_mean": 300.0, "cores": 2,
        "duration_s": 12.0, "goals": [],
        "engine_limit": {"events": 500_000, "events_per_s": 38_000.0, "events_per_s_to_last_write": 39_000.0,
                         "drain_s": 13.2, "ratio_to_python_limit": 0.62, "cpu": cpu,
                         "loop": {"events": 500_000, "changelog_records": 230_000, "tuning": {"max_records": 1000}},
                         "times": LoopTimes(parse=2.0, apply=6.0).as_dict(500_000)},
    }
    text = render(figures)
    row = next(line for line in text.splitlines() if line.startswith("  python: batch loop around the engine"))
    assert row.split()[6:10] == ["38,000", "500,000", "events", "in"]
    assert "0.620 x passthrough" in text
    assert "engine loop time per event: consume 0.0, parse 4.0, apply 12.0" in text
    assert "0.46 changelog writes per event" in text
    assert "engine limit (batch loop)" in text and "    engine loop" in text

