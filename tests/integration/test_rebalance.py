"""Rebalance: a survivor takes over a killed worker's clocks; a returning worker takes its share back."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.kafka_io import consume, produce
from tests.integration.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.faults]

PARTITIONS = 4
SESSION_TIMEOUT = 6.0
GRACE = 0.5
POLICY = """
plans:
  default:
    warn_at: [0.25]
    objectives:
      first_response: {P1: 10s, P2: 1h, P3: 1h, P4: 1h}
"""


def _gauges(worker: WorkerProcess) -> dict[str, float]:
    """This worker's owned partitions and open clocks (all priorities)."""
    with urllib.request.urlopen(worker.metrics_url, timeout=5) as response:
        text = response.read().decode()
    values = {"partitions": 0.0, "open": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ticket_slo_owned_partitions":
                values["partitions"] = sample.value
            elif sample.name == "ticket_slo_open_clocks":
                values["open"] += sample.value
    return values


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _opened(ticket: str, priority: str, at: float) -> tuple[bytes, bytes]:
    body = {"event_id": f"{ticket}-o", "type": "ticket.opened", "ticket_id": ticket, "priority": priority,
            "customer_id": "c", "occurred_at": datetime.fromtimestamp(at, timezone.utc).isoformat()}
    return ticket.encode(), json.dumps(body).encode()


def _acknowledged(ticket: str, at: float) -> tuple[bytes, bytes]:
    body = {"event_id": f"{ticket}-a", "type": "ticket.acknowledged", "ticket_id": ticket,
            "occurred_at": datetime.fromtimestamp(at, timezone.utc).isoformat()}
    return ticket.encode(), json.dumps(body).encode()


def test_survivor_fires_the_killed_workers_breaches_and_shares_back(kafka_bootstrap: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {"TICKET_SLO_POLICY": str(policy), "TICKET_SLO_BREACH_GRACE": str(GRACE),
           "TICKET_SLO_SESSION_TIMEOUT": str(SESSION_TIMEOUT)}
    first = WorkerProcess(kafka_bootstrap, tmp_path, extra_env=env, partitions=PARTITIONS).start()
    survivor = WorkerProcess(kafka_bootstrap, tmp_path, prefix=first.prefix, extra_env=env,
                             partitions=PARTITIONS).start()
    returning = WorkerProcess(kafka_bootstrap, tmp_path, prefix=first.prefix, extra_env=env, partitions=PARTITIONS)
    topic = first.topic("ticket-events")
    try:
        _wait(lambda: _gauges(first)["partitions"] == 2 and _gauges(survivor)["partitions"] == 2, 40,
              "the two workers to share the partitions")
        opened_at = time.time()
        urgent = [f"U{i:02d}" for i in range(24)]
        produce(kafka_bootstrap, topic, [_opened(t, "P1", opened_at) for t in urgent])
        _wait(lambda: _gauges(first)["open"] + _gauges(survivor)["open"] == len(urgent), 20,
              "every clock to run")
        assert _gauges(first)["open"] > 0, "the killed worker must own some of the clocks"
        first.kill()

        breaches = consume(kafka_bootstrap, first.topic("ticket-slo-breaches"), expect=len(urgent),
                           timeout=60, settle=2)
        assert sorted(json.loads(r.value)["ticket_id"] for r in breaches) == urgent  # each exactly once
        deadline = opened_at + 10
        latest = max(r.timestamp / 1000 for r in breaches) - deadline
        assert latest <= SESSION_TIMEOUT + GRACE + 5, f"last breach {latest:.1f} s after its deadline"
        _wait(lambda: _gauges(survivor)["partitions"] == PARTITIONS, 20, "the survivor to own everything")

        returning.start()
        _wait(lambda: _gauges(returning)["partitions"] == 2 and _gauges(survivor)["partitions"] == 2, 60,
              "the partitions to move back")
        calm = [f"C{i:02d}" for i in range(24)]
        produce(kafka_bootstrap, topic, [_opened(t, "P3", time.time()) for t in calm])
        _wait(lambda: _gauges(returning)["open"] + _gauges(survivor)["open"] == len(urgent) + len(calm), 20,
              "the new clocks to be counted once")
        assert _gauges(returning)["open"] > 0 and _gauges(survivor)["open"] > 0
        produce(kafka_bootstrap, topic, [_acknowledged(t, time.time()) for t in calm])
        outcomes = consume(kafka_bootstrap, first.topic("ticket-slo-outcomes"), expect=len(calm),
                           timeout=30, settle=2)
        assert sorted(json.loads(r.value)["ticket_id"] for r in outcomes) == calm  # no ticket twice
        assert all(json.loads(r.value)["met"] for r in outcomes)
    finally:
        for worker in (first, survivor, returning):
            worker.cleanup()
