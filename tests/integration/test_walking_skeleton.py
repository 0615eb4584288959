"""The whole path through the real broker: publish, track in the worker, read back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.kafka_io import consume, produce
from tests.integration.worker_process import WorkerProcess, running_worker

pytestmark = pytest.mark.integration

POLICY = """
plans:
  default:
    warn_at: [0.5]
    objectives:
      first_response: {P1: 2s, P2: 4s, P3: 1h, P4: 1h}
"""


@pytest.fixture
def worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    with running_worker(kafka_bootstrap, tmp_path, POLICY, TICKET_SLO_BREACH_GRACE="0.2") as process:
        yield process


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def test_ticket_breaches_and_bad_value_is_dead_lettered(kafka_bootstrap: str, worker: WorkerProcess) -> None:
    now = datetime.now(timezone.utc)
    opened = {
        "event_id": "e-1", "type": "ticket.opened", "ticket_id": "T-1", "occurred_at": _iso(now),
        "priority": "P1", "customer_id": "C-9", "title": "VPN down",
    }
    answered = {
        "event_id": "e-2", "type": "ticket.opened", "ticket_id": "T-2",
        "occurred_at": _iso(now.astimezone(timezone(timedelta(hours=1)))),
        "priority": "P2", "customer_id": "C-9",
    }
    acknowledged = {"event_id": "e-3", "type": "ticket.acknowledged", "ticket_id": "T-2",
                    "occurred_at": _iso(now + timedelta(seconds=1))}
    produce(kafka_bootstrap, worker.topic("ticket-events"), [
        (b"T-1", json.dumps(opened).encode()),
        (b"T-1", b"{not json"),  # same key: same partition, next offset
        (b"T-2", json.dumps(answered).encode()),
        (b"T-2", json.dumps(acknowledged).encode()),
    ])

    breaches = consume(kafka_bootstrap, worker.topic("ticket-slo-breaches"), expect=1, timeout=30, settle=2)
    outcomes = consume(kafka_bootstrap, worker.topic("ticket-slo-outcomes"), expect=1, timeout=30)
    dead = consume(kafka_bootstrap, worker.topic("ticket-events-dlq"), expect=1, timeout=30)

    assert [(r.key, json.loads(r.value)["type"]) for r in breaches] == [(b"T-1", "slo.breached")]
    breach = json.loads(breaches[0].value)
    assert (breach["priority"], breach["target_seconds"]) == ("P1", 2)
    assert [r.key for r in outcomes] == [b"T-2"]
    outcome = json.loads(outcomes[0].value)
    assert (outcome["met"], outcome["elapsed_seconds"]) == (True, 1)
    letter = json.loads(dead[0].value)
    assert (letter["reason"], letter["value"], letter["offset"]) == ("bad_json", "{not json", 1)
    assert letter["topic"] == worker.topic("ticket-events")
