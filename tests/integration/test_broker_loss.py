"""Broker loss: the broker stops and comes back during processing; the worker carries on by itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import BROKER_SCRIPT
from tests.integration.kafka_io import consume, produce
from tests.integration.worker_process import WorkerProcess, free_port

pytestmark = [pytest.mark.integration, pytest.mark.faults]

POLICY = """
plans:
  default:
    warn_at: [0.1]
    objectives:
      first_response: {P1: 30s, P2: 1h, P3: 1h, P4: 1h}
"""


def _broker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BROKER_SCRIPT), *args], capture_output=True, text=True, timeout=300)


def _event(ticket: str, n: int, kind: str, **fields: object) -> tuple[bytes, bytes]:
    body = {"event_id": f"{ticket}-{n}", "type": kind, "ticket_id": ticket,
            "occurred_at": datetime.now(timezone.utc).isoformat(), **fields}
    return ticket.encode(), json.dumps(body).encode()


@pytest.mark.skipif("KAFKA_BOOTSTRAP_SERVERS" in os.environ,
                    reason="stops and restarts a broker of its own, which needs the local broker script")
def test_worker_survives_a_broker_restart(tmp_path: Path) -> None:
    name = f"pytest-loss-{os.getpid()}"
    port, controller = str(free_port()), str(free_port())
    start = ["start", "--name", name, "--port", port, "--controller-port", controller,
             "--data-dir", str(tmp_path / "kafka")]
    started = _broker(*start)
    assert started.returncode == 0, started.stderr
    bootstrap = started.stdout.strip()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    worker = WorkerProcess(bootstrap, tmp_path, extra_env={"TICKET_SLO_POLICY": str(policy),
                                                           "TICKET_SLO_BREACH_GRACE": "0.5"})
    try:
        worker.start()
        tickets = [f"B{i}" for i in range(6)]
        produce(bootstrap, worker.topic("ticket-events"),
                [_event(t, 1, "ticket.opened", priority="P1", customer_id="c") for t in tickets])
        assert len(consume(bootstrap, worker.topic("ticket-slo-warnings"), expect=6, timeout=30)) == 6

        assert _broker("stop", "--name", name).returncode == 0
        time.sleep(4)
        restarted = _broker(*start)
        assert restarted.returncode == 0, restarted.stderr
        assert restarted.stdout.strip() == bootstrap

        answered = tickets[:3]
        produce(bootstrap, worker.topic("ticket-events"), [_event(t, 2, "ticket.acknowledged") for t in answered])
        outcomes = consume(bootstrap, worker.topic("ticket-slo-outcomes"), expect=3, timeout=60, settle=1)
        breaches = consume(bootstrap, worker.topic("ticket-slo-breaches"), expect=3, timeout=60, settle=2)
        assert worker.process is not None and worker.process.poll() is None, "the worker died"
        assert sorted(json.loads(r.value)["ticket_id"] for r in outcomes) == answered
        assert {json.loads(r.value)["ticket_id"] for r in breaches} == set(tickets[3:])
    finally:
        worker.cleanup()
        _broker("stop", "--name", name)
