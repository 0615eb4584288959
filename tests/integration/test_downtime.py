"""No false page after downtime: timers of a partition fire only as its backlog is applied."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.integration.kafka_io import consume, produce
from tests.integration.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.faults]

POLICY = """
plans:
  default:
    warn_at: [0.25]
    objectives:
      first_response: {P1: 8s, P2: 1h, P3: 1h, P4: 1h}
"""


def _event(ticket: str, n: int, kind: str, at: float, **fields: object) -> tuple[bytes, bytes]:
    body = {"event_id": f"{ticket}-{n}", "type": kind, "ticket_id": ticket,
            "occurred_at": datetime.fromtimestamp(at, timezone.utc).isoformat(), **fields}
    return ticket.encode(), json.dumps(body).encode()


def test_acknowledged_in_time_while_down_is_not_breached(kafka_bootstrap: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {"TICKET_SLO_POLICY": str(policy), "TICKET_SLO_BREACH_GRACE": "0.5"}
    first = WorkerProcess(kafka_bootstrap, tmp_path, extra_env=env, partitions=2).start()
    second = WorkerProcess(kafka_bootstrap, tmp_path, prefix=first.prefix, extra_env=env, partitions=2)
    topic = first.topic("ticket-events")
    try:
        start = time.time()
        tickets = [f"D{i}" for i in range(8)]
        produce(kafka_bootstrap, topic, [_event(t, 1, "ticket.opened", start, priority="P1", customer_id="c")
                                         for t in tickets])
        assert len(consume(kafka_bootstrap, first.topic("ticket-slo-warnings"), expect=len(tickets),
                           timeout=20)) == len(tickets)  # every clock is running in the first worker
        time.sleep(1.0)  # the offsets get committed
        first.stop()
        assert time.time() < start + 8, "the first worker must stop before the deadlines"

        # While nobody processes: the even tickets are answered in time, the odd ones never.
        answered = tickets[::2]
        for ticket in answered:
            produce(kafka_bootstrap, topic, [_event(ticket, 2, "ticket.acknowledged", time.time())])
        time.sleep(max(0.0, start + 10 - time.time()))  # every deadline (start + 8 s) has passed

        second.start()
        breaches = consume(kafka_bootstrap, first.topic("ticket-slo-breaches"), expect=4, timeout=30, settle=3)
        outcomes = consume(kafka_bootstrap, first.topic("ticket-slo-outcomes"), expect=4, timeout=30)
    finally:
        first.cleanup()
        second.cleanup()

    breached = sorted(json.loads(r.value)["ticket_id"] for r in breaches)
    assert breached == sorted(set(tickets) - set(answered))
    assert all(json.loads(r.value)["type"] == "slo.breached" for r in breaches)  # no retraction needed either
    assert sorted((json.loads(r.value)["ticket_id"], json.loads(r.value)["met"]) for r in outcomes) == [
        (t, True) for t in sorted(answered)
    ]
