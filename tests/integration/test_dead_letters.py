"""Every kind of invalid value lands in ticket-events-dlq with its reason; valid ones still flow."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from kafka import KafkaProducer

from tests.integration.kafka_io import consume
from tests.integration.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc).isoformat()


def _event(ticket: str, event_id: str, **fields: object) -> dict[str, object]:
    return {"event_id": event_id, "ticket_id": ticket, "occurred_at": NOW, **fields}


def _opened(ticket: str, event_id: str) -> bytes:
    return json.dumps(_event(ticket, event_id, type="ticket.opened", priority="P3", customer_id="c")).encode()


def _ack(ticket: str, event_id: str) -> bytes:
    return json.dumps(_event(ticket, event_id, type="ticket.acknowledged")).encode()


# (key, value, expected reason) — one of each kind the contract names.
INVALID: list[tuple[bytes, bytes | None, str]] = [
    (b"X1", b"{broken", "bad_json"),
    (b"X2", b"\xff\xfe not utf-8", "not_utf8"),
    (b"X3", b"[1, 2, 3]", "not_an_object"),
    (b"X4", json.dumps(_event("X4", "i4", type="ticket.exploded")).encode(), "unknown_type"),
    (b"X5", json.dumps(_event("X5", "i5", type="ticket.opened", priority="P9", customer_id="c")).encode(),
     "invalid_fields"),
    (b"X6", json.dumps({"event_id": "i6", "type": "ticket.acknowledged", "ticket_id": "X6",
                        "occurred_at": "2026-11-25T10:00:00"}).encode(), "invalid_fields"),
    (b"X7", json.dumps({"event_id": "i7", "type": "ticket.resolved", "ticket_id": "X7"}).encode(),
     "invalid_fields"),
    (b"not-X8", _ack("X8", "i8"), "key_mismatch"),
    (b"X9", b'{"pad": "' + b"a" * (1024 * 1024) + b'"}', "too_large"),
    (b"X10", _ack("X10", "i10"), "orphan"),  # never opened: dead-lettered after the orphan timeout
    (b"X11", None, "not_an_object"),  # a tombstone: a record without a value
]


@pytest.fixture
def worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(kafka_bootstrap, tmp_path, extra_env={
        "TICKET_SLO_ORPHAN_TIMEOUT": "2", "TICKET_SLO_BREACH_GRACE": "0",
    }).start()
    try:
        yield process
    finally:
        process.cleanup()


def test_each_invalid_kind_is_dead_lettered_with_its_reason(kafka_bootstrap: str, worker: WorkerProcess) -> None:
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=3 * 1024 * 1024)
    topic = worker.topic("ticket-events")
    producer.send(topic, key=b"V1", value=_opened("V1", "v1"))
    for key, value, _ in INVALID:
        producer.send(topic, key=key, value=value)
    producer.send(topic, key=b"V1", value=_ack("V1", "v2"))
    producer.flush()
    producer.close()

    dead = consume(kafka_bootstrap, worker.topic("ticket-events-dlq"), expect=len(INVALID), timeout=60, settle=2)
    outcomes = consume(kafka_bootstrap, worker.topic("ticket-slo-outcomes"), expect=1, timeout=30)

    letters = {record.key: json.loads(record.value) for record in dead}
    assert len(dead) == len(INVALID)
    assert {key: letter["reason"] for key, letter in letters.items()} == {key: r for key, _, r in INVALID}
    for key, value, _ in INVALID:
        letter = letters[key]
        assert letter["topic"] == topic
        assert isinstance(letter["offset"], int) and letter["error"]
        if value is None:
            assert letter["value"] is None and "no value" in letter["error"]
        elif letter["value_encoding"] == "base64":
            assert letter["reason"] == "not_utf8"
            assert base64.b64decode(letter["value"]) == value
        elif letter["reason"] != "orphan":  # an orphan carries the event as the model re-serialised it
            assert letter["value"].encode() == value
    assert "occurred_at" in letters[b"X6"]["error"]
    assert [json.loads(r.value)["ticket_id"] for r in outcomes] == ["V1"]
