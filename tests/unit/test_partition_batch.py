"""A partition's batch, without a broker: one changelog write per touched ticket per batch, the
position record after them, outputs and dead letters grouped by topic partition, and record
batches handed to the producer."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest

from ticket_slo.schemas.policy import load_policy
from ticket_slo.streams.bench.lifecycle import probe_events
from ticket_slo.streams.bench.plan import LONG_POLICY
from ticket_slo.streams.core.changelog_codec import POSITION_KEY, changelog_writes
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.core.partition_batch import DeadLetterWrite, PartitionBatcher, TouchedStore
from ticket_slo.streams.core.ticket_state import INDEX_HEADER, STORED_FORM
from ticket_slo.streams.kafka.record_batches import outputs_by_partition, send_records

NOW = 1_800_000_000.0
SINKS = {"breach": "breaches", "warning": "warnings", "outcome": "outcomes", "dead_letter": "dlq"}
COUNTS = dict.fromkeys(SINKS.values(), 8)


@dataclass(frozen=True)
class FakeRecord:
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = -1


def records(pairs: list[tuple[bytes | None, bytes | None]], first_offset: int = 0) -> list[FakeRecord]:
    return [FakeRecord(first_offset + n, key, value) for n, (key, value) in enumerate(pairs)]


def at(now: float) -> Any:
    return lambda _record: now


@pytest.fixture
def loop(tmp_path: Any) -> PartitionBatcher:
    path = tmp_path / "policy.yaml"
    path.write_text(LONG_POLICY)
    policy = load_policy(path)
    return PartitionBatcher("ticket-events", 3, lambda store: SloEngine(policy, store, closed_retention=60.0))


def test_the_store_reports_each_touched_ticket_once_then_forgets() -> None:
    store = TouchedStore()
    store.put("A", {"v": 1})
    store.put("B", {"v": 1})
    store.put("A", {"v": 2})
    store.delete("B")
    assert sorted(store.take_touched(), key=lambda item: item[0]) == [("A", {"v": 2}), ("B", None)]
    assert store.take_touched() == []
    assert dict(store.items()) == {"A": {"v": 2}} and len(store) == 1


def test_a_batch_writes_each_touched_ticket_once_then_its_position(loop: PartitionBatcher) -> None:
    batch = records([*probe_events("A", NOW - 10), *probe_events("B", NOW - 10), *probe_events("A", NOW - 5)[1:]],
                    first_offset=40)
    writes = loop.take(batch, at(NOW), NOW)
    assert writes.partition == 3 and writes.events == 5
    keys = [key for key, _ in writes.changelog]
    assert sorted(keys[:-1]) == [b"A", b"B"], "one write per ticket, however many of its events the batch held"
    assert writes.changelog[-1] == (POSITION_KEY, b"44"), "the position is the last applied offset, written last"
    for key, value in writes.changelog[:-1]:
        assert value is not None
        header, body = value[:INDEX_HEADER.size], value[INDEX_HEADER.size:]
        assert header[0] == STORED_FORM
        assert json.loads(body) == loop.store.get(key.decode()), "the record as the engine left it, compact JSON"
        assert b" " not in body
    assert [(e.kind, e.key, type(e.model).__name__) for e in writes.emissions] == [
        ("outcome", "A", "SloCompleted"), ("outcome", "B", "SloCompleted")]
    assert loop.position == 44


def test_an_invalid_record_is_a_dead_letter_and_still_moves_the_position(loop: PartitionBatcher) -> None:
    writes = loop.take(records([(b"X", b"{not json"), (b"Y", None)], first_offset=7), at(NOW), NOW)
    assert writes.events == 0 and writes.emissions == []
    assert writes.changelog == [(POSITION_KEY, b"8")]
    reasons = [(letter.key, json.loads(letter.value)["reason"], json.loads(letter.value)["offset"])
               for letter in writes.dead_letters]
    assert reasons == [(b"X", "bad_json", 7), (b"Y", "not_an_object", 8)]


def test_a_ticket_the_clock_deletes_is_a_tombstone(loop: PartitionBatcher) -> None:
    opened, acknowledged = probe_events("C", NOW - 100)
    closed = (b"C", acknowledged[1].replace(b"ticket.acknowledged", b"ticket.closed").replace(b"C-e1", b"C-e2"))
    loop.take(records([opened, acknowledged, closed]), at(NOW - 90), NOW)
    writes = loop.advance(NOW)  # closed_retention (60 s) has passed on the engine clock
    assert writes.changelog == [(b"C", None)], "a tombstone; no input, so no new position"
    assert loop.position == 2


def test_an_empty_loop_writes_no_position() -> None:
    assert changelog_writes([], None) == []
    no_clock = b"\x01" + b"\x00" + bytes(16) + b"\xff"  # form 1, no flags, no due, no deadline, no priority
    assert changelog_writes([("A", {"v": 1})], 9) == [(b"A", no_clock + b'{"v":1}'), (POSITION_KEY, b"9")]


def test_outputs_go_to_their_kind_topic_in_the_partition_of_their_input(loop: PartitionBatcher) -> None:
    writes = loop.take(records([*probe_events("A", NOW - 10), *probe_events("B", NOW - 10)]), at(NOW), NOW)
    writes.dead_letters.append(DeadLetterWrite(b"Z", b"{}", "bad_json"))
    grouped = outputs_by_partition([writes], SINKS, COUNTS)  # type: ignore[arg-type]
    assert set(grouped) == {("outcomes", 3), ("dlq", 3)}, "input partition 3 of 8: partition 3 of each output topic"
    assert [key for key, _ in grouped[("outcomes", 3)]] == [b"A", b"B"], "in the order the engine returned them"
    assert json.loads(grouped[("dlq", 3)][0][1]) == {}
    fewer = outputs_by_partition([writes], SINKS, dict.fromkeys(SINKS.values(), 2))  # type: ignore[arg-type]
    assert set(fewer) == {("outcomes", 1), ("dlq", 1)}, "modulo a smaller partition count"


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

    async def send_batch(self, batch: FakeBuilder, topic: str, *, partition: int) -> asyncio.Future[None]:
        self.sent.append((topic, partition, batch.records))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def test_records_are_handed_over_as_record_batches_a_new_one_when_full() -> None:
    producer = FakeProducer(room=2)
    items = [(b"k%d" % n, b"v%d" % n) for n in range(5)]
    futures = asyncio.run(send_records(producer, "changelog", 3, items))
    assert len(futures) == 3, "one delivery future per record batch"
    assert [(topic, partition, len(batch)) for topic, partition, batch in producer.sent] == [
        ("changelog", 3, 2), ("changelog", 3, 2), ("changelog", 3, 1)]
    assert [item for _, _, batch in producer.sent for item in batch] == items
    empty = FakeProducer(room=2)
    asyncio.run(send_records(empty, "changelog", 3, []))
    assert empty.sent == []
