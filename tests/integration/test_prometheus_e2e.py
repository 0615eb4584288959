"""A real Prometheus scrapes a real worker and evaluates the shipped rules on what it sees.

Tickets go through the real broker until one breaches; the breach counter and an
attainment series recorded by ``deploy/prometheus/rules`` are then read back through
Prometheus's HTTP API.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.kafka_io import consume, produce
from tests.integration.monitoring_servers import prometheus_query, prometheus_server, prometheus_wait_for
from tests.integration.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
POLICY = """
plans:
  default:
    warn_at: [0.5]
    objectives:
      first_response: {P1: 2s, P2: 1h, P3: 1h, P4: 1h}
"""


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Prometheus server with the shipped rules; the test writes its scrape target."""
    with prometheus_server(tmp_path, RULES) as server:
        yield server


_query = prometheus_query
_wait_for = prometheus_wait_for


def test_prometheus_reads_breaches_and_attainment(kafka_bootstrap: str, tmp_path: Path,
                                                  prometheus: tuple[str, Path]) -> None:
    url, targets = prometheus
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    worker = WorkerProcess(kafka_bootstrap, tmp_path, extra_env={
        "TICKET_SLO_POLICY": str(policy), "TICKET_SLO_BREACH_GRACE": "0.2",
    }).start()
    try:
        targets.write_text(json.dumps([{"targets": [f"127.0.0.1:{worker.metrics_port}"]}]))
        _wait_for(url, 'up{job="ticket-slo"} == 1')
        time.sleep(2)  # a few scrapes of the zero-valued series before anything happens

        now = datetime.now(timezone.utc)

        def event(ticket: str, n: int, kind: str, at: datetime, **fields: object) -> tuple[bytes, bytes]:
            body = {"event_id": f"{ticket}-{n}", "type": kind, "ticket_id": ticket,
                    "occurred_at": at.isoformat(), **fields}
            return ticket.encode(), json.dumps(body).encode()

        produce(kafka_bootstrap, worker.topic("ticket-events"), [
            event("E1", 1, "ticket.opened", now, priority="P1", customer_id="c"),   # breaches after 2 s
            event("E2", 1, "ticket.opened", now, priority="P2", customer_id="c"),
            event("E2", 2, "ticket.acknowledged", now + timedelta(seconds=1)),      # met
            event("E3", 1, "ticket.opened", now, priority="P2", customer_id="c"),
            event("E3", 2, "ticket.acknowledged", now + timedelta(seconds=2)),      # met
            # Answered 61 minutes after opening (both times in the past): breached and completed.
            event("E4", 1, "ticket.opened", now - timedelta(minutes=62), priority="P2", customer_id="c"),
            event("E4", 2, "ticket.acknowledged", now - timedelta(minutes=1)),
        ])
        assert consume(kafka_bootstrap, worker.topic("ticket-slo-breaches"), expect=2, timeout=30)

        _wait_for(url, 'count(sum by (priority) (ticket_slo_breaches_total{job="ticket-slo"}) > 0) == 2')
        breaches = _query(url, 'sum by (priority) (ticket_slo_breaches_total{job="ticket-slo"}) > 0')
        assert sorted((b["metric"]["priority"], float(b["value"][1])) for b in breaches) == [("P1", 1.0), ("P2", 1.0)]
        # Two of the three P2 outcomes met their target: attainment is met ÷ completed.
        attainment = _wait_for(url, 'ticket_slo:attainment:ratio_rate1h{priority="P2"} < 1')
        assert float(attainment[0]["value"][1]) == pytest.approx(2 / 3)
        clocks = _wait_for(url, 'sum(ticket_slo_open_clocks{priority="P1"})')
        assert float(clocks[0]["value"][1]) == 1.0  # E1 breached and still unanswered
        # The gauges are refreshed once a second, so they may trail the breach counter by a scrape.
        _wait_for(url, 'sum(ticket_slo_open_clocks{priority="P1",state="breached"}) == 1', timeout=10)
        by_state = _query(url, 'sum by (state) (ticket_slo_open_clocks{priority="P1"})')
        # Every state is exported, at zero too: paused (not counting, not breached) as well.
        assert sorted((s["metric"]["state"], float(s["value"][1])) for s in by_state) == [
            ("breached", 1.0), ("paused", 0.0), ("running", 0.0)]
        # No event for a while now; the tracker's heartbeat keeps moving all the same.
        age = _query(url, 'time() - ticket_slo_tracker_heartbeat_timestamp_seconds{job="ticket-slo"}')
        assert len(age) == 1 and float(age[0]["value"][1]) < 5
    finally:
        worker.cleanup()
