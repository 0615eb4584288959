"""Hostile input: the validator only ever says "valid" or names one reason; the engine stays bounded.

``parse_event`` is the gate every ``ticket-events`` record passes. For any bytes and
any key it returns a ``TicketEvent`` or raises ``InvalidEvent`` with one of the
contract's reasons, never another exception (which would crash the worker's agent),
and its detail stays short whatever the input. Behind the gate, what hostile but
valid events can do to the engine is bounded: a flood for one ticket does not grow
its state record or the engine's memory, and a repeated id is ignored whatever it says.
"""

from __future__ import annotations

import json
import tracemalloc
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from ticket_slo.schemas.events import EARLIEST_TIMESTAMP, EVENT_TYPES, LATEST_TIMESTAMP
from ticket_slo.schemas.policy import load_policy
from ticket_slo.schemas.validation import MAX_EVENT_BYTES, REASONS, InvalidEvent, parse_event
from ticket_slo.streams.core.effects import Applied, Effect
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.core.state_store import DictStateStore

POLICY = load_policy()
# What a record can be refused for at the gate (orphan is decided later, by the engine).
GATE_REASONS = frozenset(REASONS) - {"orphan"}
MAX_DETAIL = 2048  # characters of an error detail, whatever the input

BASE: dict[str, Any] = {"event_id": "e-1", "ticket_id": "T-1", "occurred_at": "2026-05-01T09:30:00+02:00"}
VALID: dict[str, dict[str, Any]] = {
    "ticket.opened": {"priority": "P2", "customer_id": "c-1", "plan": "default", "account_manager": "am",
                      "title": "VPN down"},
    "ticket.priority_changed": {"priority": "P1"},
    "ticket.acknowledged": {"by": "alice"},
    "ticket.assigned": {"assignee": "alice"},
    "ticket.status_changed": {"status": "waiting"},
    "ticket.eta_reported": {"eta": "2026-05-02T00:00:00Z"},
    "ticket.resolved": {},
    "ticket.reopened": {},
    "ticket.closed": {},
}
#: String fields of each type (the discriminator ``type`` aside) and whether null is allowed.
STRING_FIELDS: dict[str, dict[str, bool]] = {
    kind: {"event_id": False, "ticket_id": False, "occurred_at": False,
           **{name: name in ("account_manager", "by") for name in extra}}
    for kind, extra in VALID.items()
}


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, **BASE, **VALID[kind], **fields}


def encode(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8", "surrogatepass")


def outcome(value: bytes, key: bytes | None = None) -> str:
    """``"valid"`` or the reason; any other exception fails the test where it happens."""
    try:
        parse_event(value, key)
    except InvalidEvent as invalid:
        assert invalid.reason in GATE_REASONS, invalid.reason
        assert len(invalid.detail) <= MAX_DETAIL, (len(invalid.detail), invalid.detail[:200])
        return invalid.reason
    return "valid"


# -- any input at all ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(value=st.binary(max_size=512), key=st.none() | st.binary(max_size=40))
def test_any_bytes_are_an_event_or_one_named_reason(value: bytes, key: bytes | None) -> None:
    reason = outcome(value, key)
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        assert reason == "not_utf8"  # invalid UTF-8 anywhere decides the reason
    else:
        assert reason != "not_utf8"


@settings(max_examples=300, deadline=None)
@given(fields=st.dictionaries(st.sampled_from(["type", "event_id", "ticket_id", "occurred_at", "priority",
                                               "customer_id", "eta", "by", "x"]) | st.text(max_size=8),
                              json_values, max_size=8),
       kind=st.sampled_from(EVENT_TYPES), key=st.none() | st.text(max_size=8).map(str.encode))
def test_any_json_object_is_an_event_or_one_named_reason(fields: dict[str, Any], kind: str,
                                                         key: bytes | None) -> None:
    outcome(encode(fields), key)
    outcome(encode({**event(kind), **fields}), key)


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_json_that_is_not_an_object_says_so(value: Any) -> None:
    assume(not isinstance(value, dict))
    assert outcome(encode(value)) == "not_an_object"


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(EVENT_TYPES), data=st.data())
def test_a_valid_event_with_bad_bytes_inserted_is_not_utf8(kind: str, data: st.DataObject) -> None:
    value = encode(event(kind))
    where = data.draw(st.integers(0, len(value)))
    bad = data.draw(st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80",
                                     b"\x80", b"\xf4\x90\x80\x80"]))
    assert outcome(value[:where] + bad + value[where:]) == "not_utf8"


# -- each hostile kind, with the reason it gets -------------------------------------------------


@pytest.mark.parametrize("value", [
    b"[" * 100_000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    encode(event("ticket.closed"))[:-1] + b', "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
])
def test_deep_nesting_is_bad_json_not_a_recursion_error(value: bytes) -> None:
    assert outcome(value) == "bad_json"


def test_nesting_within_the_parser_limit_is_an_ignored_extra_field() -> None:
    value = encode(event("ticket.closed"))[:-1] + b', "x": ' + b"[" * 100 + b"]" * 100 + b"}"
    assert outcome(value) == "valid"


@pytest.mark.parametrize("field, size", [("ticket_id", 257), ("event_id", 100_000), ("customer_id", 300_000),
                                         ("title", 4097), ("title", 900_000)])
def test_huge_strings_are_invalid_fields_with_a_short_detail(field: str, size: int) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(encode(event("ticket.opened", **{field: "x" * size})))
    assert caught.value.reason == "invalid_fields"
    assert caught.value.detail.startswith(f"{field}: String should have at most")
    assert len(caught.value.detail) < 200


def test_a_value_over_the_limit_is_too_large_before_parsing() -> None:
    assert outcome(b"[" * (MAX_EVENT_BYTES + 1)) == "too_large"
    assert outcome(encode(event("ticket.opened", title="x" * MAX_EVENT_BYTES))) == "too_large"


def test_huge_numbers_are_bad_json_or_invalid_fields() -> None:
    assert outcome(b"1" * 5000) == "bad_json"  # past the parser's digit limit
    assert outcome(encode(event("ticket.closed", event_id=10 ** 4000))) == "invalid_fields"
    assert outcome(encode(event("ticket.closed"))[:-1] + b', "x": 1e999}') == "valid"  # extra field, ignored


not_a_string = (st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none()
                | st.lists(st.integers(), max_size=3) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(EVENT_TYPES), data=st.data())
def test_a_number_or_other_non_string_where_a_string_belongs_is_invalid_fields(kind: str,
                                                                                data: st.DataObject) -> None:
    field = data.draw(st.sampled_from(sorted(STRING_FIELDS[kind])))
    value = data.draw(not_a_string)
    assume(not (value is None and STRING_FIELDS[kind][field]))  # null is allowed where the field is optional
    with pytest.raises(InvalidEvent) as caught:
        parse_event(encode(event(kind, **{field: value})))
    assert caught.value.reason == "invalid_fields"
    assert caught.value.detail.startswith(f"{field}: ")


@settings(max_examples=100, deadline=None)
@given(tag=st.text(max_size=40) | st.integers() | st.none() | st.lists(st.text(max_size=3), max_size=2))
def test_unknown_types_are_unknown_type(tag: Any) -> None:
    assume(tag not in EVENT_TYPES)
    assert outcome(encode({**BASE, "type": tag})) == "unknown_type"


@pytest.mark.parametrize("stamp, utc", [
    ("1969-12-31T23:30:00-01:00", "1970-01-01T00:30:00Z"), ("9000-01-01T00:30:00+01:00", "8999-12-31T23:30:00Z"),
    ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"), ("8999-12-31T23:59:59.999999Z", "8999-12-31T23:59:59.999999Z"),
    ("1971-01-01T00:00:00+23:59", "1970-12-31T00:01:00Z"), ("8998-12-31T23:59:59-23:59", "8999-01-01T23:58:59Z"),
])
def test_timestamps_in_range_once_in_utc_are_accepted_whatever_their_local_year(stamp: str, utc: str) -> None:
    parsed = parse_event(encode(event("ticket.acknowledged", occurred_at=stamp)))
    assert parsed.occurred_at == datetime.fromisoformat(utc.replace("Z", "+00:00"))


@pytest.mark.parametrize("stamp", [
    "2026-05-01T09:30:00", "2026-05-01 09:30:00", "2026-05-01T09:30:00.123456",  # no offset
    "0000-01-01T00:00:00Z", "99999-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
    "2026-05-01T24:00:00Z", "2026-05-01T09:30:00+24:00", "1969-12-31T23:59:59Z", "9000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",  # in datetime's range, not once in UTC
    "1970-01-01T00:30:00+01:00", "8999-12-31T23:00:00-02:00",  # in range by their local year only
    "", "now", 1777777777, 1.5e300, True, None, ["2026-05-01T09:30:00Z"],
])
@pytest.mark.parametrize("field, kind", [("occurred_at", "ticket.acknowledged"), ("eta", "ticket.eta_reported")])
def test_timestamps_without_offset_or_out_of_range_are_invalid_fields(stamp: Any, field: str, kind: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(encode(event(kind, **{field: stamp})))
    assert caught.value.reason == "invalid_fields"
    assert caught.value.detail.startswith(f"{field}: ")


offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(moment=st.datetimes(), zone=offsets, priority=st.sampled_from(["P1", "P2", "P3", "P4"]))
@example(moment=datetime(1, 1, 1), zone=timezone(timedelta(hours=23, minutes=59)), priority="P1")
@example(moment=datetime(9999, 12, 31, 23, 59, 59), zone=timezone(-timedelta(hours=23, minutes=59)), priority="P4")
@example(moment=datetime(8999, 12, 31, 23, 59, 59), zone=timezone.utc, priority="P4")
def test_any_accepted_timestamp_can_be_tracked_to_its_outcome(moment: datetime, zone: timezone,
                                                              priority: str) -> None:
    """Found a crash: a time that parses but leaves datetime's range in UTC broke the engine."""
    stamp = moment.replace(tzinfo=zone).isoformat()
    opened = encode(event("ticket.opened", occurred_at=stamp, priority=priority))
    try:
        opening = parse_event(opened, b"T-1")
    except InvalidEvent as invalid:
        assert invalid.reason == "invalid_fields"
        instant = moment.replace(tzinfo=zone)
        assert not EARLIEST_TIMESTAMP <= instant < LATEST_TIMESTAMP
        return
    engine = SloEngine(POLICY, DictStateStore())
    now = opening.occurred_at.timestamp()
    engine.apply(opening, now)
    engine.advance(now + 3600 * 24)  # warnings and the breach fire, with their timestamps
    late_ack = encode(event("ticket.acknowledged", event_id="e-2", occurred_at=stamp))
    for emission in engine.apply(parse_event(late_ack, b"T-1"), now + 3600 * 24).emissions + engine.advance(now + 86400 * 3):
        emission.model.model_dump_json()


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(EVENT_TYPES), key=st.binary(min_size=1, max_size=40))
def test_a_key_other_than_the_ticket_id_is_key_mismatch(kind: str, key: bytes) -> None:
    assume(key != b"T-1")
    assert outcome(encode(event(kind)), key) == "key_mismatch"
    assert outcome(encode(event(kind)), b"T-1") == "valid"


# -- behind the gate: the engine under hostile but valid events ---------------------------------


def at(seconds: float) -> str:
    return (datetime(2026, 5, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)).isoformat()


def parsed(kind: str, event_id: str, seconds: float, ticket: str = "T-1", **fields: Any) -> Any:
    return parse_event(encode(event(kind, event_id=event_id, ticket_id=ticket, occurred_at=at(seconds), **fields)))


def test_a_repeated_id_is_ignored_whatever_it_now_says() -> None:
    store = DictStateStore()
    engine = SloEngine(POLICY, store)
    engine.apply(parsed("ticket.opened", "e-1", 0, priority="P3"), 1.0)
    before = json.dumps(store.get("T-1"), sort_keys=True)
    impostors = [parsed("ticket.acknowledged", "e-1", 10), parsed("ticket.closed", "e-1", 20),
                 parsed("ticket.priority_changed", "e-1", 30, priority="P1"),
                 parsed("ticket.opened", "e-1", 40, priority="P1", customer_id="someone-else")]
    for impostor in impostors:
        assert engine.apply(impostor, 50.0) == Applied(Effect.DUPLICATE, [])
    assert engine.stats.duplicates == len(impostors)
    assert json.dumps(store.get("T-1"), sort_keys=True) == before


def record_size(store: DictStateStore, ticket: str) -> int:
    """What the table's changelog would carry for the ticket (Faust's json codec: ASCII)."""
    return len(json.dumps(store.get(ticket)))


#: A table record travels as one changelog message, which the broker refuses over 1 MiB.
CHANGELOG_MESSAGE_LIMIT = 1024 * 1024
@pytest.mark.parametrize("char", ["a", "\u0001", "\U0001F600"])
def test_a_flood_before_the_opening_keeps_one_bounded_record(char: str) -> None:
    """10k events for a ticket never opened, each as large as the contract allows."""
    store = DictStateStore()
    engine = SloEngine(POLICY, store)
    ticket = char * 256
    sizes = []
    for n in range(10_000):
        flood = parsed("ticket.status_changed", f"{n:08d}{char * 248}", n, ticket=ticket, status=char * 256)
        engine.apply(flood, 1.0)
        if n + 1 in (1_000, 10_000):
            sizes.append(record_size(store, ticket))
    assert sizes[0] == sizes[1]  # full at the buffer limit: the rest were dead-lettered as orphans
    assert 0 < engine.stats.buffered <= 256
    assert engine.stats.buffered + engine.stats.orphans == 10_000
    assert sizes[1] < CHANGELOG_MESSAGE_LIMIT // 2  # a ticket's record always fits one changelog message


def test_a_flood_for_an_open_ticket_keeps_state_and_memory_flat() -> None:
    store = DictStateStore()
    engine = SloEngine(POLICY, store)
    engine.apply(parsed("ticket.opened", "open", 0, priority="P4"), 1.0)
    kinds = [("ticket.priority_changed", {"priority": "P1"}), ("ticket.priority_changed", {"priority": "P4"}),
             ("ticket.assigned", {"assignee": "x" * 256}), ("ticket.status_changed", {"status": "y" * 256}),
             ("ticket.eta_reported", {"eta": at(9e6)}), ("ticket.reopened", {})]
    events = [parsed(kind, f"f-{n}-{'z' * 240}", 1 + n * 0.001, **fields)
              for n, (kind, fields) in ((n, kinds[n % len(kinds)]) for n in range(10_000))]
    tracemalloc.start()
    try:
        for n, flood in enumerate(events):
            engine.apply(flood, 2.0)
            if n == 4_999:
                halfway = tracemalloc.take_snapshot()
        growth = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(halfway, "filename"))
    finally:
        tracemalloc.stop()
    assert growth < 512 * 1024, growth  # the second 5 000 events left (almost) nothing behind
    assert record_size(store, "T-1") < 2_000  # 64 remembered ids and the clock
