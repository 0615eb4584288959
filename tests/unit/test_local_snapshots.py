"""A partition's state and its engine index survive a trip through a local snapshot file, and
a file that does not fit is never used; a stored value is indexed from its header and decoded
when the engine first touches its ticket."""

from __future__ import annotations

import json
import marshal
from pathlib import Path

import pytest

from ticket_slo.schemas.policy import Policy, load_policy
from ticket_slo.streams.core.changelog_codec import decode_record, encode_record, is_indexable
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.core.partition_batch import TouchedStore
from ticket_slo.streams.core.state_store import DictStateStore
from ticket_slo.streams.core.ticket_state import STORED_FORM, Phase, TicketState
from ticket_slo.streams.kafka.local_snapshots import (
    FORMAT_LINE,
    ChangelogAnchor,
    SnapshotError,
    read_body,
    read_header,
    snapshot_path,
    write_snapshot,
)
from tests.unit.script import ETA_AND_RESOLUTION, Run, acknowledged, clock, closed, opened, priority_changed, status_changed, summary

TOPIC = "app-tickets-changelog"
ANCHOR = ChangelogAnchor(1041, b"\x00position", b"977")


MORE_OBJECTIVES = ETA_AND_RESOLUTION + """plans:
  default:
    objectives:
      first_response: {P1: 30m, P2: 60m, P3: 4h, P4: 8h}
      eta: {P1: 5m, P2: 2h, P3: 1d, P4: 2d}
      resolution: {P1: 4h, P2: 8h, P3: 2d, P4: 5d}
"""


def _busy_run(policy: Policy | None = None) -> Run:
    """Tickets in every phase: running (some breached), done, closed, pending, reprioritised;
    under ``policy``, some with several clocks, paused or finished."""
    run = Run() if policy is None else Run(policy=policy)
    for number in range(40):
        run.apply(opened(f"T-{number}", at=number % 7, priority=f"P{1 + number % 4}"))
    for number in range(0, 40, 3):
        run.apply(acknowledged(f"T-{number}", at=10))
    for number in range(1, 40, 5):
        run.apply(priority_changed(f"T-{number}", at=12, priority="P4"))
    run.apply(closed("T-3", at=20))
    run.apply(acknowledged("LATE", at=21))  # before its opening: pending
    for number in range(1, 40, 4):
        run.apply(status_changed(f"T-{number}", at=13, status="waiting_on_customer"))
    run.advance(45)  # P1 tickets breach (30 minutes)
    return run


@pytest.fixture(params=["first response only", "three objectives"])
def busy_run(request: pytest.FixtureRequest, tmp_path: Path) -> Run:
    if request.param == "first response only":
        return _busy_run()
    (tmp_path / "policy.yaml").write_text(MORE_OBJECTIVES)
    return _busy_run(load_policy(tmp_path / "policy.yaml"))


def test_index_records_finds_what_each_states_census_finds(busy_run: Run) -> None:
    records = busy_run.store.data
    scan = TicketState.index_records(records.items())
    assert sorted(scan.timers) == sorted((record["d"], ticket) for ticket, record in records.items()
                                         if TicketState.due_of(record) is not None)
    expected_counts: dict[tuple[str, str], int] = {}
    expected_breached: dict[tuple[str, str], int] = {}
    expected_deadlines: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for ticket, record in records.items():
        state = TicketState.from_record(record)
        for clock in state.clocks:
            if clock.open:
                group = (clock.objective, clock.priority or state.priority)
                expected_counts[group] = expected_counts.get(group, 0) + 1
                if clock.breached:
                    expected_breached[group] = expected_breached.get(group, 0) + 1
                elif clock.running:
                    expected_deadlines.setdefault(group, []).append((clock.deadline, ticket))
    assert scan.open_clocks == expected_counts and sum(expected_counts.values()) > 10
    assert scan.breached == expected_breached and sum(expected_breached.values()) > 2
    assert {p: sorted(entries) for p, entries in scan.deadlines.items()} == {
        p: sorted(entries) for p, entries in expected_deadlines.items()}
    assert any(record.get("ph") == Phase.PENDING.value for record in records.values())
    assert any(record.get("br") for record in records.values()), "some breached clocks are in the mix"


def test_an_engine_given_a_saved_index_behaves_as_one_that_rebuilt_it(tmp_path: Path, busy_run: Run) -> None:
    run = busy_run
    write_snapshot(tmp_path, TOPIC, 3, ANCHOR, 977, run.store.data, run.engine.index())
    header = read_header(tmp_path, TOPIC, 3)
    assert header is not None
    records, index = read_body(header)
    assert records == run.store.data
    rebuilt_records = json.loads(json.dumps(run.store.data))
    adopted = SloEngine(run.policy, DictStateStore(records), index=index)
    rebuilt = SloEngine(run.policy, DictStateStore(rebuilt_records))
    assert adopted.next_due() == rebuilt.next_due() is not None
    assert adopted.open_clocks_by_priority() == rebuilt.open_clocks_by_priority()
    assert adopted.clock_counts() == rebuilt.clock_counts()
    assert adopted.soonest_deadlines_by_group() == rebuilt.soonest_deadlines_by_group()
    assert adopted.breached_clocks_by_priority() == rebuilt.breached_clocks_by_priority()
    assert sum(adopted.breached_clocks_by_priority().values()) > 2, "breached clocks are in the snapshot"
    assert adopted.soonest_deadlines() == rebuilt.soonest_deadlines()
    fired = []
    for minutes in (100, 300, 600, 24 * 60 + 30):
        step = [summary(e) for e in adopted.advance(clock(minutes))]
        assert step == [summary(e) for e in rebuilt.advance(clock(minutes))]
        fired.extend(step)
        assert adopted.clock_counts() == rebuilt.clock_counts()
    assert {kind for kind, *_ in fired} >= {"slo.breached", "dead_letter"}, "breaches and an orphan fired"
    assert adopted.open_clocks() == rebuilt.open_clocks()
    for engine, data in ((adopted, records), (rebuilt, rebuilt_records)):  # close every open ticket
        for ticket, record in list(data.items()):
            if TicketState.census_of(record):
                engine.apply(closed(ticket, at=24 * 60 + 31), clock(24 * 60 + 31))
        assert engine.clock_counts() == {} and engine.open_clocks() == 0


def test_the_header_says_what_the_file_holds_without_its_body(tmp_path: Path) -> None:
    run = _busy_run()
    path = write_snapshot(tmp_path, TOPIC, 3, ANCHOR, 977, run.store.data, run.engine.index())
    assert path == snapshot_path(tmp_path, TOPIC, 3) and path.read_bytes().startswith(FORMAT_LINE)
    header = read_header(tmp_path, TOPIC, 3)
    assert header is not None
    assert (header.anchor, header.position, header.tickets) == (ANCHOR, 977, len(run.store.data))
    assert header.anchor.matches(1041, b"\x00position", b"977")
    assert not header.anchor.matches(1041, b"\x00position", b"978")
    assert not header.anchor.matches(1040, b"\x00position", b"977")
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "no temporary file left behind"


def test_no_file_or_a_file_that_does_not_fit_is_not_used(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = _busy_run()
    assert read_header(tmp_path, TOPIC, 3) is None, "no file"
    path = write_snapshot(tmp_path, TOPIC, 3, ANCHOR, 977, run.store.data, run.engine.index())
    path.rename(snapshot_path(tmp_path, TOPIC, 4))
    assert read_header(tmp_path, TOPIC, 4) is None, "a file holding another partition"
    assert "holds app-tickets-changelog partition 3" in caplog.text
    snapshot_path(tmp_path, TOPIC, 5).write_bytes(b"something else\n{}\n")
    assert read_header(tmp_path, TOPIC, 5) is None
    assert "not a snapshot of this format" in caplog.text
    lines = snapshot_path(tmp_path, TOPIC, 4).read_bytes().split(b"\n", 2)
    fields = json.loads(lines[1])
    fields["partition"], fields["python"] = 6, [2, 7]
    snapshot_path(tmp_path, TOPIC, 6).write_bytes(lines[0] + b"\n" + json.dumps(fields).encode() + b"\n" + lines[2])
    assert read_header(tmp_path, TOPIC, 6) is None
    assert "written by Python (2, 7)" in caplog.text
    # A snapshot of the first format (its index has no breached-clock counts) is not used.
    lines[0] = b"ticket-slo partition snapshot 1"
    snapshot_path(tmp_path, TOPIC, 7).write_bytes(b"\n".join(lines))
    assert read_header(tmp_path, TOPIC, 7) is None
    assert "first line b'ticket-slo partition snapshot 1" in caplog.text


def test_a_body_cut_short_is_an_error_naming_the_file(tmp_path: Path) -> None:
    run = _busy_run()
    path = write_snapshot(tmp_path, TOPIC, 3, ANCHOR, 977, run.store.data, run.engine.index())
    path.write_bytes(path.read_bytes()[:-200])
    header = read_header(tmp_path, TOPIC, 3)
    assert header is not None, "the header is intact"
    with pytest.raises(SnapshotError, match=r"app-tickets-changelog-3\.snapshot: the body cannot be read"):
        read_body(header)
    lines = path.read_bytes().split(b"\n", 2)
    path.write_bytes(lines[0] + b"\n" + lines[1] + b"\n" + marshal.dumps(({"A": {}}, [], 0, {}, {}, {}, {})))
    with pytest.raises(SnapshotError, match=r"does not hold the \d+ tickets its header names"):
        read_body(header)


# -- the stored form: indexed from its header, decoded when first touched -------------------


def test_a_stored_value_is_indexed_from_its_header_as_the_record_itself_is(busy_run: Run) -> None:
    records = busy_run.store.data
    stored = {ticket: encode_record(record) for ticket, record in records.items()}
    assert all(value[0] == STORED_FORM for value in stored.values())
    from_headers = TicketState.index_records(stored.items())
    from_records = TicketState.index_records(records.items())
    assert sorted(from_headers.timers) == sorted(from_records.timers) and from_records.timers
    assert from_headers.open_clocks == from_records.open_clocks
    assert from_headers.paused == from_records.paused
    assert from_headers.breached == from_records.breached
    assert sum(from_records.breached.values()) > 0, "breached clocks are in the mix"
    several = bool(busy_run.policy.objectives)
    assert (sum(from_records.paused.values()) > 0) == several, "paused clocks are in the mix of three objectives"
    assert any(value[1] & 16 for value in stored.values()) == several, "so are headers that say: decode me"
    assert {p: sorted(e) for p, e in from_headers.deadlines.items()} == {
        p: sorted(e) for p, e in from_records.deadlines.items()}
    assert {ticket: decode_record(value) for ticket, value in stored.items()} == records


def test_a_record_whose_priority_has_no_code_is_stored_as_json_alone() -> None:
    record = {"v": 1, "ph": "r", "p": "P9", "st": 5, "t": 10, "d": 15, "s": ","}
    assert encode_record(record) == b'{"v":1,"ph":"r","p":"P9","st":5,"t":10,"d":15,"s":","}'
    assert decode_record(encode_record(record)) == record
    assert not is_indexable(encode_record(record))


def test_an_engine_over_stored_values_decodes_each_ticket_when_it_first_touches_it() -> None:
    run = _busy_run()
    stored = {ticket: encode_record(record) for ticket, record in run.store.data.items()}
    lazy_store = TouchedStore(dict(stored))
    lazy = SloEngine(run.policy, lazy_store)
    eager = SloEngine(run.policy, DictStateStore(json.loads(json.dumps(run.store.data))))
    assert all(isinstance(value, bytes) for value in lazy_store.data.values()), "indexing decoded nothing"
    assert lazy.open_clocks_by_priority() == eager.open_clocks_by_priority()
    late_answer = acknowledged("T-7", at=50)
    assert [summary(e) for e in lazy.apply(late_answer, clock(50)).emissions] == \
        [summary(e) for e in eager.apply(late_answer, clock(50)).emissions]
    assert isinstance(lazy_store.data["T-7"], dict), "decoded once, on first use"
    fired = [summary(e) for e in lazy.advance(clock(600))]
    assert fired == [summary(e) for e in eager.advance(clock(600))] and fired
    assert sum(isinstance(value, bytes) for value in lazy_store.data.values()) > 0, "untouched tickets stay stored"


def test_a_stored_value_that_cannot_be_decoded_names_its_ticket() -> None:
    store = TouchedStore({"T-1": encode_record({"v": 1, "ph": "d", "s": ","})[:-3]})
    with pytest.raises(ValueError, match=r"the stored record of ticket 'T-1' cannot be decoded"):
        store.get("T-1")
