"""Turning raw Kafka bytes into a ``TicketEvent``, or saying precisely why not.

The happy path is one ``validate_json`` call on the raw bytes (decode and validate
in Rust, no intermediate ``dict``). Only when that fails do we spend time finding
out *which* of the closed set of reasons applies, so that dead letters can be
counted and routed by reason.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from ticket_slo.schemas.events import EVENT_TYPES, TicketEvent

__all__ = [
    "MAX_EVENT_BYTES",
    "Reason",
    "TOO_LARGE",
    "NOT_UTF8",
    "BAD_JSON",
    "NOT_AN_OBJECT",
    "UNKNOWN_TYPE",
    "INVALID_FIELDS",
    "KEY_MISMATCH",
    "ORPHAN",
    "REASONS",
    "InvalidEvent",
    "event_adapter",
    "parse_event",
]

MAX_EVENT_BYTES: Final[int] = 1024 * 1024


class Reason(StrEnum):
    """Why an event went to the dead-letter topic (a closed set: metrics label on it)."""

    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    BAD_JSON = "bad_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_FIELDS = "invalid_fields"
    KEY_MISMATCH = "key_mismatch"
    ORPHAN = "orphan"  # valid event whose ticket was never opened (raised by the engine)


TOO_LARGE: Final = Reason.TOO_LARGE
NOT_UTF8: Final = Reason.NOT_UTF8
BAD_JSON: Final = Reason.BAD_JSON
NOT_AN_OBJECT: Final = Reason.NOT_AN_OBJECT
UNKNOWN_TYPE: Final = Reason.UNKNOWN_TYPE
INVALID_FIELDS: Final = Reason.INVALID_FIELDS
KEY_MISMATCH: Final = Reason.KEY_MISMATCH
ORPHAN: Final = Reason.ORPHAN
REASONS: Final[tuple[str, ...]] = tuple(reason.value for reason in Reason)

_MAX_SHOWN = 64  # characters of a bad value quoted back in a detail


class InvalidEvent(ValueError):
    """An event that cannot be processed; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, detail: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown invalid-event reason {reason!r} (known: {', '.join(REASONS)})")
        self.reason: str = str(reason)
        self.detail: str = detail
        super().__init__(f"{self.reason}: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.detail))


@lru_cache(maxsize=1)
def event_adapter() -> TypeAdapter[TicketEvent]:
    """The one cached validator for the input union (building it costs milliseconds)."""
    return TypeAdapter(TicketEvent)


def parse_event(value: bytes | None, key: bytes | None = None) -> TicketEvent:
    """Validate one ``ticket-events`` record; raise ``InvalidEvent`` naming the problem.

    A record without a value (a tombstone, as a compacting producer sends) is not an
    object either, and must reach the dead-letter topic rather than crash the agent.
    The size check comes first so that a hostile multi-megabyte value is never parsed.
    A present ``key`` must equal the ticket id: the key decides the partition, and a
    ticket spread over two partitions would have two clocks.
    """
    if value is None:
        raise InvalidEvent(NOT_AN_OBJECT, "the record has no value (a tombstone); expected a JSON object")
    if len(value) > MAX_EVENT_BYTES:
        raise InvalidEvent(TOO_LARGE, f"value is {len(value)} bytes, limit is {MAX_EVENT_BYTES}")
    try:
        event = event_adapter().validate_json(value)
    except ValidationError as error:
        raise _explain(value, error) from None
    if key is not None:
        _check_key(key, event.ticket_id)
    return event


def _check_key(key: bytes, ticket_id: str) -> None:
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEvent(KEY_MISMATCH, f"key {_show_bytes(key)} is not UTF-8; ticket_id is {_show(ticket_id)}") from None
    if text != ticket_id:
        raise InvalidEvent(KEY_MISMATCH, f"key {_show(text)} != ticket_id {_show(ticket_id)}")


def _explain(value: bytes, error: ValidationError) -> InvalidEvent:
    """Map a pydantic failure to exactly one reason (slow path, errors only)."""
    errors = error.errors(include_url=False)
    first = errors[0]
    kind = first["type"]
    if kind == "json_invalid":
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as bad:
            return InvalidEvent(NOT_UTF8, f"invalid UTF-8 byte at offset {bad.start}")
        return InvalidEvent(BAD_JSON, first["msg"].removeprefix("Invalid JSON: "))
    if kind in ("dict_type", "model_type", "model_attributes_type") and not first["loc"]:
        return InvalidEvent(NOT_AN_OBJECT, f"expected a JSON object, got {_json_kind(value)}")
    if kind == "union_tag_invalid":
        tag = first.get("ctx", {}).get("tag", "")
        return InvalidEvent(UNKNOWN_TYPE, f"type: {_show(tag)} is not one of {', '.join(EVENT_TYPES)}")
    if kind == "union_tag_not_found":
        return InvalidEvent(INVALID_FIELDS, "type: field required")
    return InvalidEvent(INVALID_FIELDS, "; ".join(_describe(item) for item in errors))


def _describe(item: Any) -> str:
    """One field error as ``field.path: problem`` (the union tag is dropped from the path)."""
    loc = list(item["loc"])
    if loc and isinstance(loc[0], str) and loc[0] in EVENT_TYPES:
        loc = loc[1:]
    field = ".".join(str(part) for part in loc) or "(event)"
    kind = item["type"]
    if kind == "missing":
        return f"{field}: field required"
    if kind == "timezone_aware":
        return f"{field}: timestamp has no UTC offset"
    if kind == "string_too_short":
        return f"{field}: must not be empty"
    if kind in ("timestamp_naive", "rfc3339_type", "rfc3339_format", "timestamp_range"):
        return f"{field}: {item['msg']}"
    return f"{field}: {item['msg']} (got {_show(item.get('input'))})"


def _json_kind(value: bytes) -> str:
    parsed = json.loads(value)
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if parsed is None else names.get(type(parsed), type(parsed).__name__)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _show_bytes(value: bytes) -> str:
    return _show(value[:_MAX_SHOWN])
