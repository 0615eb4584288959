"""State survives a worker restart: the changelog brings the clocks back and breaches still fire once."""

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
      first_response: {P1: 6s, P2: 1h, P3: 1h, P4: 1h}
"""


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_clock_running_across_a_restart_still_breaches_once(kafka_bootstrap: str, tmp_path: Path,
                                                            how: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    # A short session timeout lets the killed worker's membership expire quickly.
    env = {"TICKET_SLO_POLICY": str(policy), "TICKET_SLO_BREACH_GRACE": "0", "TICKET_SLO_SESSION_TIMEOUT": "6"}
    first = WorkerProcess(kafka_bootstrap, tmp_path, extra_env=env).start()
    second = WorkerProcess(kafka_bootstrap, tmp_path, prefix=first.prefix, extra_env=env)
    try:
        opened_at = time.time()
        opened = {"event_id": "o-1", "type": "ticket.opened", "ticket_id": "R-1", "priority": "P1",
                  "customer_id": "c", "occurred_at": datetime.fromtimestamp(opened_at, timezone.utc).isoformat()}
        produce(kafka_bootstrap, first.topic("ticket-events"), [(b"R-1", json.dumps(opened).encode())])
        # The 25% warning (1.5 s) proves the ticket is in the first worker's state.
        assert consume(kafka_bootstrap, first.topic("ticket-slo-warnings"), expect=1, timeout=20)
        time.sleep(1.0)  # let the changelog write and the offset commit go out
        if how == "stop":
            first.stop()
        else:
            first.kill()
        assert not consume(kafka_bootstrap, first.topic("ticket-slo-breaches"), expect=1, timeout=1)

        second.start()
        breaches = consume(kafka_bootstrap, first.topic("ticket-slo-breaches"), expect=1, timeout=30, settle=3)
        assert [json.loads(r.value)["ticket_id"] for r in breaches] == ["R-1"]
        assert time.time() > opened_at + 6
    finally:
        first.cleanup()
        second.cleanup()
