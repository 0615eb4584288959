"""parse_event: every valid type, and every invalid reason with a detail naming the problem."""

from __future__ import annotations

import json
import pickle
from datetime import datetime, timedelta, timezone

import pytest

from ticket_slo.schemas.events import TicketOpened
from ticket_slo.schemas.validation import MAX_EVENT_BYTES, REASONS, InvalidEvent, parse_event

BASE = {"event_id": "e1", "ticket_id": "t1", "occurred_at": "2024-05-01T09:30:00+02:00"}
VALID = {
    "ticket.opened": {"priority": "P2", "customer_id": "c1"},
    "ticket.priority_changed": {"priority": "P1"},
    "ticket.acknowledged": {},
    "ticket.assigned": {"assignee": "alice"},
    "ticket.status_changed": {"status": "waiting"},
    "ticket.eta_reported": {"eta": "2024-05-02T00:00:00Z"},
    "ticket.resolved": {},
    "ticket.reopened": {},
    "ticket.closed": {},
}


def encode(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def event(kind: str, **overrides: object) -> bytes:
    fields: dict[str, object] = {"type": kind, **BASE, **VALID[kind], **overrides}
    return encode(**{k: v for k, v in fields.items() if v is not DROP})


DROP = object()


def reason_and_detail(value: bytes | None, key: bytes | None = None) -> tuple[str, str]:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(value, key)
    return caught.value.reason, caught.value.detail


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_event_type_parses(kind: str) -> None:
    parsed = parse_event(event(kind), b"t1")
    assert parsed.type == kind
    assert parsed.ticket_id == "t1"
    assert parsed.occurred_at == datetime(2024, 5, 1, 7, 30, tzinfo=timezone.utc)
    assert parsed.occurred_at.utcoffset() == timedelta(hours=2)


def test_opened_defaults_and_unknown_fields_are_ignored() -> None:
    parsed = parse_event(event("ticket.opened", helpdesk="zendesk", nested={"a": [1]}))
    assert isinstance(parsed, TicketOpened)
    assert (parsed.plan, parsed.account_manager, parsed.title) == ("default", None, "")
    assert not hasattr(parsed, "helpdesk")


def test_value_of_exactly_the_limit_is_accepted() -> None:
    body = event("ticket.closed")
    padding = MAX_EVENT_BYTES - len(body) - len(', "pad": ""')
    value = body[:-1] + b', "pad": "' + b"x" * padding + b'"}'
    assert len(value) == MAX_EVENT_BYTES
    assert parse_event(value).type == "ticket.closed"


def test_too_large() -> None:
    value = b"x" * (MAX_EVENT_BYTES + 1)
    assert reason_and_detail(value) == ("too_large", "value is 1048577 bytes, limit is 1048576")


def test_not_utf8() -> None:
    assert reason_and_detail(b'{"type": "\xff"}') == ("not_utf8", "invalid UTF-8 byte at offset 10")


@pytest.mark.parametrize("value", [b"{", b"not json", b'{"type": "ticket.closed",}', b""])
def test_bad_json(value: bytes) -> None:
    reason, detail = reason_and_detail(value)
    assert reason == "bad_json"
    assert "line 1 column" in detail


@pytest.mark.parametrize(
    ("value", "kind"), [(b"[1, 2]", "array"), (b'"text"', "string"), (b"null", "null"), (b"42", "number")]
)
def test_not_an_object(value: bytes, kind: str) -> None:
    assert reason_and_detail(value) == ("not_an_object", f"expected a JSON object, got {kind}")


def test_a_record_without_a_value_is_not_an_object() -> None:
    assert reason_and_detail(None) == ("not_an_object", "the record has no value (a tombstone); expected a JSON object")


def test_unknown_type() -> None:
    reason, detail = reason_and_detail(encode(type="ticket.merged", **BASE))
    assert reason == "unknown_type"
    assert detail.startswith("type: 'ticket.merged' is not one of ticket.opened, ")


def test_missing_type_is_a_field_problem() -> None:
    assert reason_and_detail(encode(**BASE)) == ("invalid_fields", "type: field required")


def test_naive_timestamp_names_field_and_problem() -> None:
    value = event("ticket.acknowledged", occurred_at="2024-05-01T09:30:00")
    assert reason_and_detail(value) == ("invalid_fields", "occurred_at: timestamp has no UTC offset")


def test_naive_eta_names_field() -> None:
    value = event("ticket.eta_reported", eta="2024-05-01T09:30:00")
    assert reason_and_detail(value) == ("invalid_fields", "eta: timestamp has no UTC offset")


@pytest.mark.parametrize(
    ("occurred_at", "detail"),
    [
        (1714555800, "occurred_at: timestamp must be an RFC 3339 string, got int"),
        ("2024-05-01", "occurred_at: '2024-05-01' is not an RFC 3339 timestamp (e.g. 2024-05-01T09:30:00Z)"),
        ("1714555800", "occurred_at: '1714555800' is not an RFC 3339 timestamp (e.g. 2024-05-01T09:30:00Z)"),
    ],
)
def test_timestamps_must_be_rfc3339_strings(occurred_at: object, detail: str) -> None:
    assert reason_and_detail(event("ticket.closed", occurred_at=occurred_at)) == ("invalid_fields", detail)


def test_impossible_timestamp_is_invalid() -> None:
    reason, detail = reason_and_detail(event("ticket.closed", occurred_at="2024-13-01T00:00:00Z"))
    assert reason == "invalid_fields"
    assert detail.startswith("occurred_at: ") and "month" in detail


def test_missing_fields_are_all_named() -> None:
    value = event("ticket.opened", event_id=DROP, customer_id=DROP)
    assert reason_and_detail(value) == ("invalid_fields", "event_id: field required; customer_id: field required")


def test_empty_id_and_bad_priority() -> None:
    reason, detail = reason_and_detail(event("ticket.opened", ticket_id="", priority="P9"))
    assert reason == "invalid_fields"
    assert detail == (
        "ticket_id: must not be empty; priority: Input should be 'P1', 'P2', 'P3' or 'P4' (got 'P9')"
    )


def test_overlong_id_is_rejected_and_quoted_briefly() -> None:
    reason, detail = reason_and_detail(event("ticket.closed", event_id="e" * 257))
    assert reason == "invalid_fields"
    assert detail.startswith("event_id: String should have at most 256 characters (got 'eeee")
    assert len(detail) < 160


def test_wrong_field_type() -> None:
    assert reason_and_detail(event("ticket.assigned", assignee=7)) == (
        "invalid_fields",
        "assignee: Input should be a valid string (got 7)",
    )


def test_key_mismatch() -> None:
    assert reason_and_detail(event("ticket.closed"), b"t2") == ("key_mismatch", "key 't2' != ticket_id 't1'")


def test_key_not_utf8_is_a_mismatch() -> None:
    assert reason_and_detail(event("ticket.closed"), b"\xfft1") == (
        "key_mismatch",
        "key b'\\xfft1' is not UTF-8; ticket_id is 't1'",
    )


def test_no_key_is_fine() -> None:
    assert parse_event(event("ticket.closed"), None).ticket_id == "t1"


def test_invalid_event_message_and_reasons() -> None:
    error = InvalidEvent("bad_json", "oops")
    assert str(error) == "bad_json: oops"
    assert isinstance(error, ValueError)
    assert pickle.loads(pickle.dumps(error)).detail == "oops"
    assert REASONS == (
        "too_large", "not_utf8", "bad_json", "not_an_object", "unknown_type", "invalid_fields", "key_mismatch", "orphan",
    )
    with pytest.raises(ValueError, match="unknown invalid-event reason 'nope'"):
        InvalidEvent("nope", "x")
