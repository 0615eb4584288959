"""A real Prometheus scrapes a real worker and evaluates the shipped rules on what it sees.

Tickets go through the real broker until one breaches; the breach counter and an
attainment series recorded by ``deploy/prometheus/rules`` are then read back through
Prometheus's HTTP API.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration.kafka_io import consume, produce
from tests.integration.worker_process import WorkerProcess, free_port

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
    """A Prometheus server on a free loopback port; the test writes its scrape target."""
    binary = shutil.which("prometheus")
    assert binary, "the Prometheus server is missing: apt-get install prometheus"
    port = free_port()
    config = tmp_path / "prometheus.yml"
    targets = tmp_path / "targets.json"
    targets.write_text("[]")
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{RULES}/*.yml"]
scrape_configs:
  - job_name: ticket-slo
    file_sd_configs: [{{files: ["{targets}"], refresh_interval: 1s}}]
""")
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1)
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "Prometheus did not become ready"
                time.sleep(0.2)
        yield url, targets
    finally:
        process.terminate()
        process.wait(20)


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}", timeout=5) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


def _wait_for(url: str, expr: str, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = _query(url, expr)
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"Prometheus never answered {expr!r}")


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
        assert sorted((s["metric"]["state"], float(s["value"][1])) for s in by_state) == [
            ("breached", 1.0), ("running", 0.0)]
        # No event for a while now; the tracker's heartbeat keeps moving all the same.
        age = _query(url, 'time() - ticket_slo_tracker_heartbeat_timestamp_seconds{job="ticket-slo"}')
        assert len(age) == 1 and float(age[0]["value"][1]) < 5
    finally:
        worker.cleanup()
