"""Output JSON is deterministic and UTC; breach ids are stable; schemas export for every model."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from ticket_slo.schemas.export import json_schemas
from ticket_slo.schemas.outputs import DeadLetter, SloBreached, breach_id

PARIS = timezone(timedelta(hours=2))


def breach(**overrides: object) -> SloBreached:
    fields: dict[str, object] = dict(
        breach_id=breach_id("t1", "first_response"),
        ticket_id="t1", objective="first_response", priority="P1", plan="gold", customer_id="c1",
        started_at=datetime(2024, 5, 1, 2, 0, tzinfo=PARIS),
        deadline=datetime(2024, 5, 1, 0, 30, tzinfo=timezone.utc),
        target_seconds=1800.0,
        detected_at=datetime(2024, 5, 1, 0, 31, 0, 250000, tzinfo=timezone.utc),
    )
    fields.update(overrides)
    return SloBreached(**fields)


def test_output_json_is_utc_with_z_and_in_field_order() -> None:
    assert breach().model_dump_json() == (
        '{"type":"slo.breached","breach_id":"%s","ticket_id":"t1","objective":"first_response",'
        '"priority":"P1","plan":"gold","customer_id":"c1","account_manager":null,'
        '"contract":null,"calendar":"24/7","policy_version":null,"started_at":"2024-05-01T00:00:00Z","deadline":"2024-05-01T00:30:00Z","target_seconds":1800.0,'
        '"detected_at":"2024-05-01T00:31:00.250000Z"}' % breach_id("t1", "first_response")
    )


def test_same_input_same_bytes() -> None:
    assert breach().model_dump_json() == breach().model_dump_json()


def test_breach_id_is_deterministic_and_distinct() -> None:
    first = breach_id("t1", "first_response")
    assert first == breach_id("t1", "first_response", 1)
    assert uuid.UUID(first).version == 5
    assert len({first, breach_id("t2", "first_response"), breach_id("t1", "first_response", 2)}) == 3


def test_dead_letter_keeps_non_utf8_bytes_as_base64() -> None:
    letter = DeadLetter.of("not_utf8", "invalid UTF-8 byte at offset 0", b"\xff\x00", b"t1",
                           datetime(2024, 5, 1, tzinfo=timezone.utc), topic="ticket-events", partition=2, offset=9)
    assert json.loads(letter.model_dump_json()) == {
        "reason": "not_utf8", "error": "invalid UTF-8 byte at offset 0",
        "value": "/wA=", "value_encoding": "base64", "key": "t1", "key_encoding": "utf-8",
        "topic": "ticket-events", "partition": 2, "offset": 9, "source": None,
        "detected_at": "2024-05-01T00:00:00Z",
    }


def test_dead_letter_from_replay_has_source_and_no_key() -> None:
    letter = DeadLetter.of("bad_json", "x", "{", None, datetime(2024, 5, 1, tzinfo=timezone.utc), source="f.jsonl:3")
    data = json.loads(letter.model_dump_json())
    assert (data["value"], data["value_encoding"], data["key"], data["key_encoding"], data["source"]) == (
        "{", "utf-8", None, None, "f.jsonl:3",
    )


def test_json_schemas_cover_every_model_and_are_deterministic() -> None:
    schemas = json_schemas()
    assert list(schemas) == [
        "dead-letter", "policy", "slo.at_risk", "slo.breach_retracted", "slo.breached", "slo.completed", "ticket-event",
    ]
    assert json.dumps(schemas, sort_keys=True) == json.dumps(json_schemas(), sort_keys=True)
    mapping = schemas["ticket-event"]["discriminator"]["mapping"]
    assert sorted(mapping) == sorted([
        "ticket.opened", "ticket.priority_changed", "ticket.acknowledged", "ticket.assigned",
        "ticket.status_changed", "ticket.eta_reported", "ticket.resolved", "ticket.reopened", "ticket.closed",
    ])
    opened = schemas["ticket-event"]["$defs"]["TicketOpened"]
    assert set(opened["required"]) == {"type", "event_id", "ticket_id", "occurred_at", "priority", "customer_id"}
    assert opened["properties"]["occurred_at"]["format"] == "date-time"
    breached = schemas["slo.breached"]
    assert "detected_at" in breached["required"] and "type" in breached["required"]
    assert breached["properties"]["deadline"] == {"format": "date-time", "title": "Deadline", "type": "string"}
    assert "P1" in json.dumps(schemas["policy"]) and "warn_at" in json.dumps(schemas["policy"])


def test_the_output_table_covers_every_output_model_once_with_a_real_counter() -> None:
    from ticket_slo.schemas.outputs import OUTPUT_MODELS
    from ticket_slo.streams.core.emission import EMISSION_KINDS, OUTPUT_TYPES, kind_of
    from ticket_slo.streams.core.engine_stats import COUNTER_NAMES

    assert sorted(entry.model.__name__ for entry in OUTPUT_TYPES) == sorted(model.__name__ for model in OUTPUT_MODELS)
    assert {entry.kind for entry in OUTPUT_TYPES} == set(EMISSION_KINDS)
    assert all(entry.counter in COUNTER_NAMES for entry in OUTPUT_TYPES)
    assert len({entry.counter for entry in OUTPUT_TYPES}) == len(OUTPUT_TYPES)  # no two share a counter
    assert kind_of(breach()) == "breach"


def test_a_model_that_is_not_an_output_is_refused_by_name() -> None:
    import pytest
    from pydantic import BaseModel

    from ticket_slo.streams.core.emission import kind_of

    class SloPolicy(BaseModel):
        pass

    with pytest.raises(TypeError, match="^SloPolicy is not an engine output model$"):
        kind_of(SloPolicy())
