"""Restarts from local snapshots, on the real broker with real workers: a clean stop writes
them, a restart on the same data dir reads only the changelog after them, and a snapshot
that another worker's writes have overtaken is completed from the changelog. Every output
is what ``ticket-slo replay`` derives from the same input, exactly once."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.integration.kafka_io import consume, produce_json
from tests.integration.replay_oracle import output_content, output_key, replay_outputs
from tests.integration.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.faults]

POLICY = """
plans:
  default:
    objectives:
      first_response: {P1: 20s, P2: 1h, P3: 4h, P4: 8h}
"""
FROM_SNAPSHOT = "state read from the local snapshot"
INDEX_TAKEN = "engine taken from the snapshot"
WRITTEN = "local snapshots of partitions"


def _event(kind: str, ticket: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"{ticket}-{kind}-{at.timestamp()}", "type": kind, "ticket_id": ticket,
            "occurred_at": at.isoformat(), **fields}


def _opened(ticket: str, at: datetime, priority: str) -> dict[str, Any]:
    return _event("ticket.opened", ticket, at, priority=priority, customer_id="c1")


def _outputs(bootstrap: str, worker: WorkerProcess, *, breaches: int, outcomes: int,
             settle: float = 0.0) -> list[dict[str, Any]]:
    """Every breach, retraction and outcome published so far, once at least this many are there."""
    found: list[dict[str, Any]] = []
    for topic, expect in (("ticket-slo-breaches", breaches), ("ticket-slo-outcomes", outcomes)):
        records = consume(bootstrap, worker.topic(topic), expect=expect, timeout=60, settle=settle)
        found.extend(json.loads(r.value) for r in records)
    return found


def _count(found: list[dict[str, Any]], kind: str) -> int:
    return sum(record["type"] == kind for record in found)


def test_restarts_from_local_snapshots_lose_and_repeat_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {"TICKET_SLO_POLICY": str(policy), "TICKET_SLO_BREACH_GRACE": "0"}
    here, elsewhere = tmp_path / "data-here", tmp_path / "data-elsewhere"
    first = WorkerProcess(kafka_bootstrap, tmp_path, extra_env={**env, "TICKET_SLO_DATA_DIR": str(here)})
    prefix = first.prefix

    def worker(data: Path) -> WorkerProcess:
        return WorkerProcess(kafka_bootstrap, tmp_path, prefix=prefix,
                             extra_env={**env, "TICKET_SLO_DATA_DIR": str(data)})

    events: list[dict[str, Any]] = []

    def publish(batch: list[dict[str, Any]]) -> None:
        events.extend(batch)
        produce_json(kafka_bootstrap, first.topic("ticket-events"), batch)

    workers = [first]
    try:
        now = datetime.now(timezone.utc)
        tickets = [f"S-{n:03d}" for n in range(300)]
        # 1. The first worker, on this machine: 300 tickets open, 100 of them answered.
        first.start()
        publish([_opened(t, now - timedelta(minutes=1), "P2") for t in tickets]
                + [_event("ticket.acknowledged", t, now) for t in tickets[:100]])
        assert _count(_outputs(kafka_bootstrap, first, breaches=0, outcomes=100), "slo.completed") >= 100
        assert first.stop() == 0
        assert WRITTEN in first.log(), first.log()[-3000:]
        assert sorted(p.name for p in (here / "snapshots").iterdir()) == [
            f"{prefix}ticket-slo-tickets-changelog-{p}.snapshot" for p in range(3)]

        # 2. While nothing runs, 100 more answers and 50 closings arrive; a worker on
        #    another machine (no snapshot there) takes them, then stops.
        now = datetime.now(timezone.utc)
        publish([_event("ticket.acknowledged", t, now) for t in tickets[100:200]]
                + [_event("ticket.closed", t, now) for t in tickets[:50]])
        second = worker(elsewhere)
        workers.append(second)
        second.start()
        assert _count(_outputs(kafka_bootstrap, second, breaches=0, outcomes=200), "slo.completed") >= 200
        assert second.stop() == 0
        assert FROM_SNAPSHOT not in second.log(), "the other machine has no snapshot"

        # 3. Back on this machine, with the first worker's snapshot, now overtaken by the
        #    second worker's writes: long-overdue P1 tickets and more answers arrive.
        now = datetime.now(timezone.utc)
        overdue = [f"P-{n}" for n in range(12)]
        publish([_opened(t, now - timedelta(hours=1), "P1") for t in overdue]
                + [_event("ticket.acknowledged", t, now) for t in tickets[200:250]])
        third = worker(here)
        workers.append(third)
        third.start()
        assert third.log().count(FROM_SNAPSHOT) == 3, third.log()[-3000:]
        assert INDEX_TAKEN not in third.log(), "records after the snapshot changed tickets: the index is rebuilt"
        found = _outputs(kafka_bootstrap, third, breaches=len(overdue), outcomes=250)
        assert (_count(found, "slo.completed"), _count(found, "slo.breached")) >= (250, len(overdue))
        # P1 tickets opened now, due in 20 s: they breach after the next restart.
        now = datetime.now(timezone.utc)
        due_later = [f"D-{n}" for n in range(6)]
        publish([_opened(t, now, "P1") for t in due_later])
        time.sleep(3.0)  # opened in the third worker's state
        assert third.stop() == 0

        # 4. A restart with nothing written since the snapshot: the engine's index comes from
        #    it, and the timers in it fire on time.
        fourth = worker(here)
        workers.append(fourth)
        fourth.start()
        assert fourth.log().count(INDEX_TAKEN) == 3, fourth.log()[-3000:]
        publish([_event("ticket.acknowledged", t, datetime.now(timezone.utc)) for t in tickets[250:260]])
        until = now + timedelta(seconds=20)
        while datetime.now(timezone.utc) < until + timedelta(seconds=2):
            time.sleep(0.5)

        events_file = tmp_path / "events.jsonl"
        events_file.write_text("".join(json.dumps(e) + "\n" for e in events))
        expected = replay_outputs(events_file, policy, until.timestamp() + 5)
        assert sum(r["type"] == "slo.breached" for r in expected) == len(overdue) + len(due_later)
        published = _outputs(kafka_bootstrap, fourth, breaches=_count(expected, "slo.breached"),
                             outcomes=_count(expected, "slo.completed"), settle=3.0)
        by_key: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for record in published:
            by_key.setdefault(output_key(record), []).append(record)
        assert sorted(by_key) == sorted(output_key(r) for r in expected), "missing or invented outputs"
        repeated = {key: len(found) for key, found in by_key.items() if len(found) > 1}
        assert repeated == {}, "a clean stop and restart publishes nothing twice"
        for record in expected:
            assert output_content(by_key[output_key(record)][0]) == output_content(record)
    finally:
        for process in workers:
            process.cleanup()
