"""The whole path through the real broker: publish, validate in the worker, read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.kafka_io import consume, produce
from tests.integration.worker_process import WorkerProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(kafka_bootstrap, tmp_path).start()
    try:
        yield process
    finally:
        process.cleanup()


def test_valid_event_is_forwarded_and_invalid_one_is_dead_lettered(kafka_bootstrap: str,
                                                                   worker: WorkerProcess) -> None:
    opened = {
        "event_id": "e-1", "type": "ticket.opened", "ticket_id": "T-1",
        "occurred_at": "2026-11-25T10:00:00+01:00", "priority": "P2",
        "customer_id": "C-9", "title": "VPN down",
    }
    produce(kafka_bootstrap, worker.topic("ticket-events"), [
        (b"T-1", json.dumps(opened).encode()),
        (b"T-1", b"{not json"),  # same key: same partition, next offset
    ])

    forwarded = consume(kafka_bootstrap, worker.topic("ticket-events-validated"), expect=1)
    dead = consume(kafka_bootstrap, worker.topic("ticket-events-dlq"), expect=1)

    assert [r.key for r in forwarded] == [b"T-1"]
    event = json.loads(forwarded[0].value)
    assert (event["type"], event["ticket_id"], event["priority"]) == ("ticket.opened", "T-1", "P2")
    assert len(dead) == 1
    letter = json.loads(dead[0].value)
    assert letter["reason"] == "bad_json"
    assert letter["value"] == "{not json"
    assert letter["topic"] == worker.topic("ticket-events")
    assert letter["offset"] == 1
