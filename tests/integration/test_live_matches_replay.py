"""One engine, two clocks: the live worker on wall time gives the answers of ``ticket-slo replay``.

A scripted set of tickets (seconds-scale policy) is published to the real broker at
the wall times the events occur — a late acknowledgement is published after its
ticket's deadline — while the same lines are written to a file in publication order.
The breaches, retractions and outcomes read back from Kafka must equal those of
``ticket-slo replay`` on that file, and both must equal what the rules say, written
out by hand below.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from kafka import KafkaProducer

from tests.integration.kafka_io import consume
from tests.integration.worker_process import WorkerProcess, running_worker

pytestmark = pytest.mark.integration

POLICY = """
plans:
  default:
    warn_at: [0.5]
    objectives:
      first_response: {P1: 3s, P2: 6s, P3: 1h, P4: 1h}
  basic:
    objectives: {}
  late:
    warn_at: [0.9]
    objectives:
      first_response: {P1: 3s, P2: 6s, P3: 1h, P4: 1h}
"""

# (publish at, occurred at, event) in seconds after the scenario's start; publication order.
SCRIPT: list[tuple[float, float, dict[str, Any]]] = [
    (0.0, 0.0, {"type": "ticket.opened", "ticket_id": "A", "priority": "P1", "customer_id": "c1"}),
    (0.0, 0.0, {"type": "ticket.opened", "ticket_id": "B", "priority": "P1", "customer_id": "c1"}),
    (0.0, 0.0, {"type": "ticket.opened", "ticket_id": "D", "priority": "P2", "customer_id": "c2"}),
    (0.0, 0.0, {"type": "ticket.opened", "ticket_id": "F", "priority": "P1", "customer_id": "c2"}),
    (0.0, 0.0, {"type": "ticket.opened", "ticket_id": "G", "priority": "P1", "customer_id": "c3",
                "plan": "basic"}),
    (0.0, 0.0, {"type": "ticket.opened", "ticket_id": "H", "priority": "P3", "customer_id": "c3"}),
    (0.5, 0.5, {"type": "ticket.opened", "ticket_id": "C", "priority": "P2", "customer_id": "c1"}),
    (0.5, 0.5, "{this line is not JSON"),
    (1.0, 1.0, {"type": "ticket.acknowledged", "ticket_id": "A", "by": "ana"}),
    (1.0, 1.0, {"type": "ticket.priority_changed", "ticket_id": "C", "priority": "P1"}),
    (1.0, 1.0, {"type": "ticket.opened", "ticket_id": "E", "priority": "P1", "customer_id": "c4"}),
    (1.5, 1.5, {"type": "ticket.acknowledged", "ticket_id": "I"}),  # before its opening
    (2.0, 1.0, {"type": "ticket.opened", "ticket_id": "I", "priority": "P1", "customer_id": "c4"}),
    (2.0, 2.0, {"type": "ticket.resolved", "ticket_id": "F"}),
    (2.0, 2.0, {"type": "ticket.acknowledged", "ticket_id": "H"}),
    (2.5, 2.5, {"type": "ticket.acknowledged", "ticket_id": "C"}),
    (4.0, 4.0, {"type": "ticket.priority_changed", "ticket_id": "D", "priority": "P1"}),
    (5.0, 5.0, {"type": "ticket.acknowledged", "ticket_id": "D"}),
    (7.0, 2.0, {"type": "ticket.acknowledged", "ticket_id": "E"}),  # on time, but arrives late
    (8.0, 8.0, {"type": "ticket.closed", "ticket_id": "B"}),
]
DUPLICATED = 0  # index in SCRIPT of an event published twice with the same event_id

# What the rules say, by hand: ticket -> (met, elapsed seconds).
EXPECTED_OUTCOMES = {"A": (True, 1), "B": (False, 8), "C": (True, 2), "D": (False, 5),
                     "E": (True, 1), "F": (True, 2), "H": (True, 2), "I": (True, 0.5)}
EXPECTED_BREACHED = {"B", "D", "E"}
EXPECTED_RETRACTED = {"E"}


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def _lines(start: float) -> list[tuple[float, str, str | None]]:
    """(publish wall time, JSON line, key) for every record, the duplicate included."""
    records: list[tuple[float, str, str | None]] = []
    for index, (publish_at, occurred_at, event) in enumerate(SCRIPT):
        if isinstance(event, str):
            records.append((start + publish_at, event, None))
            continue
        full = {"event_id": f"ev-{index}", "occurred_at": _rfc3339(start + occurred_at), **event}
        line = json.dumps(full)
        records.append((start + publish_at, line, full["ticket_id"]))
        if index == DUPLICATED:
            records.append((start + publish_at, line, full["ticket_id"]))
    return records


@pytest.fixture
def worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    with running_worker(kafka_bootstrap, tmp_path, POLICY, TICKET_SLO_BREACH_GRACE="0.2") as process:
        yield process


def _summary(records: list[dict[str, Any]]) -> tuple[set[str], set[str], dict[str, tuple[bool, float]]]:
    breached = {r["ticket_id"] for r in records if r["type"] == "slo.breached"}
    retracted = {r["ticket_id"] for r in records if r["type"] == "slo.breach_retracted"}
    outcomes = {r["ticket_id"]: (r["met"], r["elapsed_seconds"]) for r in records if r["type"] == "slo.completed"}
    return breached, retracted, outcomes


def test_live_worker_agrees_with_replay_and_the_rules(kafka_bootstrap: str, worker: WorkerProcess,
                                                      tmp_path: Path) -> None:
    start = time.time() + 1.0
    records = _lines(start)
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("".join(line + "\n" for _, line, _ in records))

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=0)
    for publish_at, line, key in records:
        time.sleep(max(0.0, publish_at - time.time()))
        producer.send(worker.topic("ticket-events"), key=key.encode() if key else None, value=line.encode())
        producer.flush()
    producer.close()

    breach_topic = consume(kafka_bootstrap, worker.topic("ticket-slo-breaches"),
                           expect=len(EXPECTED_BREACHED) + len(EXPECTED_RETRACTED), timeout=30, settle=2)
    outcome_topic = consume(kafka_bootstrap, worker.topic("ticket-slo-outcomes"),
                            expect=len(EXPECTED_OUTCOMES), timeout=30, settle=1)
    dead = consume(kafka_bootstrap, worker.topic("ticket-events-dlq"), expect=1, timeout=10)
    live = [json.loads(r.value) for r in breach_topic + outcome_topic]

    replayed = subprocess.run(
        [sys.executable, "-m", "ticket_slo.agents.cli", "replay", str(events_file),
         "--policy", str(tmp_path / "policy.yaml"), "--until", _rfc3339(start + 60),
         "--dead-letters", str(tmp_path / "replay-dlq.jsonl")],
        capture_output=True, text=True, timeout=60, check=True,
    )
    offline = [json.loads(line) for line in replayed.stdout.splitlines()]

    assert _summary(live) == _summary(offline)
    assert _summary(live) == (EXPECTED_BREACHED, EXPECTED_RETRACTED, EXPECTED_OUTCOMES)
    live_ids = sorted((r["type"], r["breach_id"]) for r in live if "breach_id" in r)
    offline_ids = sorted((r["type"], r["breach_id"]) for r in offline if "breach_id" in r)
    assert live_ids == offline_ids
    assert [json.loads(r.value)["reason"] for r in dead] == ["bad_json"]
    replay_dead = (tmp_path / "replay-dlq.jsonl").read_text().splitlines()
    assert [json.loads(line)["reason"] for line in replay_dead] == ["bad_json"]
    assert json.loads(replay_dead[0])["source"] == f"{events_file}:9"


# A P2 ticket raised to P1 one second after P1's deadline, while replay's clock stood (at
# another ticket's opening) past P1's 90 % threshold but before its deadline. Live and replay
# both apply the change at a clock that includes its time: the breach alone, no P1 warning.
LATE_CHANGE: list[tuple[float, dict[str, Any]]] = [
    (0.0, {"type": "ticket.opened", "ticket_id": "J", "priority": "P2", "customer_id": "c5", "plan": "late"}),
    (2.8, {"type": "ticket.opened", "ticket_id": "K", "priority": "P3", "customer_id": "c5", "plan": "late"}),
    (4.0, {"type": "ticket.priority_changed", "ticket_id": "J", "priority": "P1"}),
]


def test_live_and_replay_apply_a_late_priority_change_alike(kafka_bootstrap: str, worker: WorkerProcess,
                                                            tmp_path: Path) -> None:
    start = time.time() + 1.0
    lines = [json.dumps({"event_id": f"late-{index}", "occurred_at": _rfc3339(start + at), **event})
             for index, (at, event) in enumerate(LATE_CHANGE)]
    events_file = tmp_path / "late.jsonl"
    events_file.write_text("".join(line + "\n" for line in lines))
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=0)
    for (at, event), line in zip(LATE_CHANGE, lines):
        time.sleep(max(0.0, start + at - time.time()))
        producer.send(worker.topic("ticket-events"), key=event["ticket_id"].encode(), value=line.encode())
        producer.flush()
    producer.close()

    breaches = consume(kafka_bootstrap, worker.topic("ticket-slo-breaches"), expect=1, timeout=30, settle=2)
    time.sleep(max(0.0, start + 8.0 - time.time()))  # J's P2 threshold (5.4 s) would have warned by now
    warnings = consume(kafka_bootstrap, worker.topic("ticket-slo-warnings"), expect=0, timeout=5, settle=1)
    live = [json.loads(r.value) for r in breaches + warnings]

    replayed = subprocess.run(
        [sys.executable, "-m", "ticket_slo.agents.cli", "replay", str(events_file),
         "--policy", str(tmp_path / "policy.yaml")],
        capture_output=True, text=True, timeout=60, check=True,
    )
    offline = [json.loads(line) for line in replayed.stdout.splitlines()]

    def told(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return sorted((r["type"], r["ticket_id"], r["priority"]) for r in records)

    assert told(live) == told(offline) == [("slo.breached", "J", "P1")]
