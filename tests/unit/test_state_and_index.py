"""Ticket state records are compact and round-trip; the timer index skips stale entries."""

from __future__ import annotations

import json
from typing import Any, Iterable

from ticket_slo.streams.core.clock_state import ClockState, ClockStatus
from ticket_slo.streams.core.state_store import DictStateStore, Record, StateStore
from ticket_slo.streams.core.ticket_state import SEEN_LIMIT, ClockCensus, Phase, TicketState
from ticket_slo.streams.core.timer_index import TimerIndex
from tests.unit.script import Run, acknowledged, clock, opened, priority_changed


def running(*clocks: ClockState, **fields: Any) -> TicketState:
    return TicketState(phase=Phase.RUNNING, priority="P2", plan="gold", customer_id="c1", clocks=list(clocks), **fields)


def test_running_state_round_trips_through_its_record() -> None:
    state = running(ClockState(start=10, target=3600_000_000, warned=2, breached=True, breach_cycle=2))
    state.remember("e1")
    record = state.to_record()
    assert json.loads(json.dumps(record)) == record  # plain JSON data
    assert record["bc"] == 2
    assert TicketState.from_record(record) == state


def test_several_clocks_round_trip_the_first_beside_the_ticket_the_rest_nested() -> None:
    state = running(ClockState(status=ClockStatus.DONE, breach_cycle=3),
                    ClockState(objective="eta", start=10, target=60, calendar="office", policy_version="abc",
                               deadline_at=99, priority="P1"),
                    ClockState(objective="resolution", status=ClockStatus.PAUSED, start=5, target=500, worked=40,
                               since=7, paused_at=45), contract="acme-2026")
    record = state.to_record()
    assert (record["cs"], record["bc"], "o" not in record) == ("d", 3, True)
    assert [entry["o"] for entry in record["x"]] == ["eta", "resolution"]
    assert TicketState.from_record(json.loads(json.dumps(record))) == state


def test_a_first_breach_cycle_costs_no_record_space() -> None:
    state = running(ClockState(start=10, target=1))
    assert "bc" not in state.to_record() and "w" not in state.to_record()
    assert TicketState.from_record(state.to_record()).clocks[0].breach_cycle == 1


def test_records_leave_out_empty_fields() -> None:
    state = TicketState(phase=Phase.CLOSED, closed_at=5, due=7)
    assert set(state.to_record()) == {"ph", "s", "ca", "d"}


def test_seen_ids_are_bounded_and_oldest_are_forgotten() -> None:
    state = TicketState()
    for number in range(SEEN_LIMIT + 10):
        state.remember(f"event-{number}")
    assert state.seen_count() == SEEN_LIMIT
    assert not state.has_seen("event-0") and not state.has_seen("event-9")
    assert state.has_seen("event-10") and state.has_seen(f"event-{SEEN_LIMIT + 9}")
    assert len(state.seen) == 1 + SEEN_LIMIT * 17  # 16 hex characters and a comma each


def test_retire_keeps_the_seen_ids_the_customer_the_priority_and_the_done_clocks_only() -> None:
    done = ClockState(objective="eta", status=ClockStatus.DONE, met=True)
    state = running(ClockState(start=1, target=2, warned=1), done)
    state.remember("x")
    state.due = 5
    state.retire(Phase.CLOSED)
    assert state == TicketState(phase=Phase.CLOSED, seen=state.seen, priority=state.priority,
                                customer_id=state.customer_id, clocks=[done])
    assert TicketState.from_record(state.to_record()) == state


def test_timer_index_pops_in_due_order_and_skips_stale_entries() -> None:
    current = {"a": 30, "b": 10, "c": 20}
    index = TimerIndex(lambda due, ticket: current.get(ticket) == due)
    for ticket, due in current.items():
        index.schedule(due, ticket)
    current["c"] = 50  # rescheduled: the old entry at 20 is stale
    index.schedule(50, "c")
    assert index.peek() == 10
    assert list(index.pop_due(31)) == [(10, "b"), (30, "a")]
    assert index.peek() == 50
    assert list(index.pop_due(50)) == []  # fires only when the clock is strictly past


class CountingStore(DictStateStore):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.scans = 0

    def get(self, key: str) -> Record | None:
        self.gets += 1
        return super().get(key)

    def items(self) -> Iterable[tuple[str, Record]]:
        self.scans += 1
        return super().items()


def test_apply_and_advance_never_scan_the_store() -> None:
    store = CountingStore()
    assert isinstance(store, StateStore)
    run = Run(store=store)
    for number in range(2000):
        run.apply(opened(f"t{number}", at=0, priority="P4"))
    run.apply(opened("hot", at=0, priority="P1"))
    scans_after_start = store.scans
    store.gets = 0
    run.advance(16)  # only "hot" is due
    run.apply(acknowledged("hot", at=17))
    run.apply(priority_changed("t7", at=18, priority="P3"))
    assert store.scans == scans_after_start
    assert store.gets < 10


def test_heap_does_not_grow_without_bound_under_rescheduling() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P4"))
    for minute in range(1, 5000):
        run.apply(priority_changed("t1", at=minute / 100, priority="P3" if minute % 2 else "P4"))
    assert len(run.engine._index) < 2000
    assert run.engine.next_due() == clock(120 if 4999 % 2 else 240)


#: Records as the changelog holds them today, written by hand: a pending ticket with one event
#: from a live partition and one from a replayed file, and a running one that has warned once.
OLD_RECORDS: list[str] = [
    '{"v": 1, "ph": "p", "s": ",12c5b394b6ab7235,1f0e3dad99908345,", "d": 1700175482262000, '
    '"b": [["{\\"event_id\\":\\"a\\",\\"ticket_id\\":\\"T\\",\\"occurred_at\\":\\"2023-11-15T22:58:02Z\\",'
    '\\"type\\":\\"ticket.assigned\\",\\"assignee\\":\\"x\\"}", ["ticket-events", 3, 41, null]], '
    '["{\\"event_id\\":\\"b\\"}", [null, null, null, "events.jsonl:7"]], ["{\\"event_id\\":\\"c\\"}", null]], '
    '"ba": 1700089082262000}',
    '{"v": 1, "ph": "r", "s": ",12c5b394b6ab7235,", "d": 1700000900000000, "p": "P2", "pl": "gold", '
    '"c": "C1", "am": "amy", "st": 1700000000000000, "t": 3600000000, "w": 1, "bc": 2}',
    '{"v": 1, "ph": "c", "s": ",12c5b394b6ab7235,", "d": 1700086400000000, "ca": 1700000000000000}',
    '{"v": 1, "ph": "d", "s": ",12c5b394b6ab7235,"}',
]


def test_records_written_before_load_and_write_back_byte_for_byte_but_for_the_implicit_version() -> None:
    for text in OLD_RECORDS:
        assert json.dumps(TicketState.from_record(json.loads(text)).to_record()) == text.replace('"v": 1, ', "")


def test_a_record_without_a_version_is_version_1_and_another_version_is_refused() -> None:
    import pytest

    assert TicketState.from_record({"ph": "d", "s": ","}).phase is Phase.DONE
    with pytest.raises(ValueError, match="^ticket state record version 2 is not 1$"):
        TicketState.from_record({"v": 2, "ph": "d", "s": ","})


def test_a_loaded_record_has_typed_phase_buffer_and_clock() -> None:
    from ticket_slo.streams.core.emission import EventSource
    from ticket_slo.streams.core.ticket_state import BufferedEvent

    pending = TicketState.from_record(json.loads(OLD_RECORDS[0]))
    assert pending.phase is Phase.PENDING
    assert pending.buffer[0].source == EventSource(topic="ticket-events", partition=3, offset=41)
    assert pending.buffer[1:] == [BufferedEvent('{"event_id":"b"}', EventSource(location="events.jsonl:7")),
                                  BufferedEvent('{"event_id":"c"}', None)]
    loaded = TicketState.from_record(json.loads(OLD_RECORDS[1]))
    assert (loaded.priority, loaded.plan) == ("P2", "gold")
    assert loaded.clocks == [ClockState(start=1700000000000000, target=3600000000, warned=1, breach_cycle=2)]
    assert loaded.clocks[0].deadline == 1700003600000000


def test_only_a_started_clock_has_a_deadline() -> None:
    import pytest

    assert TicketState.from_record(json.loads(OLD_RECORDS[2])).clocks == [], "a closed ticket keeps no clock"
    with pytest.raises(ValueError, match="^the eta clock has not started$"):
        ClockState(objective="eta", status=ClockStatus.DONE).deadline


def test_an_unknown_phase_code_is_refused_by_name() -> None:
    import pytest

    with pytest.raises(ValueError, match="^ticket state record has unknown phase 'x'$"):
        TicketState.from_record({"v": 1, "ph": "x", "s": ","})


def test_the_census_is_read_from_the_record_alone_as_from_the_state() -> None:
    fr = ("first_response", "P2")
    cases = [
        (running(ClockState(start=10, target=3600)), [ClockCensus(fr, "running", 3610)]),
        (running(ClockState(start=10, target=5, breached=True)), [ClockCensus(fr, "breached", None)]),
        (running(ClockState(status=ClockStatus.DONE), ClockState(objective="eta", start=1, target=9, priority="P1"),
                 ClockState(objective="resolution", status=ClockStatus.PAUSED, start=1, target=9, worked=2)),
         [ClockCensus(("eta", "P1"), "running", 10), ClockCensus(("resolution", "P2"), "paused", None)]),
        (TicketState(phase=Phase.CLOSED, closed_at=5), []),
        (TicketState(), []),
    ]
    for state, expected in cases:
        assert state.census() == expected
        assert TicketState.census_of(state.to_record()) == expected
