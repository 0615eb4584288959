"""A running worker's /metrics tells the truth about what it processed, in valid exposition format."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ticket_slo.agents.metrics import METRIC_NAMES
from tests.integration.kafka_io import consume, produce
from tests.integration.worker_process import WorkerProcess, running_worker

pytestmark = pytest.mark.integration

POLICY = """
plans:
  default:
    warn_at: [0.5]
    objectives:
      first_response: {P1: 2s, P2: 1h, P3: 1h, P4: 1h}
  basic:
    objectives: {}
"""


@pytest.fixture
def worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    with running_worker(kafka_bootstrap, tmp_path, POLICY, TICKET_SLO_BREACH_GRACE="0.2") as process:
        yield process


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_what_the_worker_did(kafka_bootstrap: str, worker: WorkerProcess) -> None:
    now = datetime.now(timezone.utc)

    def event(ticket: str, n: int, kind: str, at: datetime, **fields: object) -> tuple[bytes, bytes]:
        body = {"event_id": f"{ticket}-{n}", "type": kind, "ticket_id": ticket, "occurred_at": at.isoformat(), **fields}
        return ticket.encode(), json.dumps(body).encode()

    records = [
        event("M1", 1, "ticket.opened", now, priority="P1", customer_id="c"),           # breaches after 2 s
        event("M2", 1, "ticket.opened", now, priority="P2", customer_id="c"),
        event("M2", 2, "ticket.acknowledged", now + timedelta(seconds=30)),               # met, 30 s
        event("M2", 2, "ticket.acknowledged", now + timedelta(seconds=30)),               # duplicate
        event("M3", 1, "ticket.opened", now, priority="P3", customer_id="c"),            # stays open
        event("M4", 1, "ticket.opened", now, priority="P1", customer_id="c", plan="basic"),  # not eligible
        (b"M5", b"not json"),
    ]
    produce(kafka_bootstrap, worker.topic("ticket-events"), records)
    assert consume(kafka_bootstrap, worker.topic("ticket-slo-breaches"), expect=1, timeout=30)
    time.sleep(2.5)  # the gauges are refreshed once a second

    text = _scrape(worker.metrics_url)
    samples = _samples(text)
    fr = ("objective", "first_response")

    assert samples[("ticket_slo_events_total", (("type", "ticket.opened"),))] == 4
    assert samples[("ticket_slo_events_total", (("type", "ticket.acknowledged"),))] == 1
    assert samples[("ticket_slo_events_duplicate_total", ())] == 1
    assert samples[("ticket_slo_events_invalid_total", (("reason", "bad_json"),))] == 1
    assert samples[("ticket_slo_tickets_not_eligible_total", ())] == 1
    assert samples[("ticket_slo_clocks_started_total", (fr, ("priority", "P1")))] == 1
    assert samples[("ticket_slo_breaches_total", (fr, ("priority", "P1")))] == 1
    assert samples[("ticket_slo_at_risk_total", (fr, ("priority", "P1"), ("threshold", "0.5")))] == 1
    assert samples[("ticket_slo_outcomes_total", (fr, ("plan", "default"), ("priority", "P2"), ("result", "met")))] == 1
    assert samples[("ticket_slo_elapsed_seconds_bucket", (("le", "3600.0"), fr, ("priority", "P2")))] == 1
    assert samples[("ticket_slo_elapsed_seconds_bucket", (("le", "2.0"), fr, ("priority", "P2")))] == 0
    assert samples[("ticket_slo_elapsed_seconds_sum", (fr, ("priority", "P2")))] == 30
    # M1 (breached, unanswered) and M3 run; M2 stopped; M4 has no clock.
    open_clocks = {(dict(labels)["priority"], dict(labels)["state"]): value for (name, labels), value in samples.items()
                   if name == "ticket_slo_open_clocks"}
    assert open_clocks == {(priority, state): 0 for priority in ("P1", "P2", "P3", "P4")
                           for state in ("running", "paused", "breached")} | {("P1", "breached"): 1, ("P3", "running"): 1}
    deadline = samples[("ticket_slo_next_deadline_timestamp_seconds", (fr, ("priority", "P3")))]
    assert deadline == pytest.approx(now.timestamp() + 3600, abs=1e-6)  # M3: opened now, P3 target 1 h
    assert ("ticket_slo_next_deadline_timestamp_seconds", (fr, ("priority", "P1"))) not in samples  # M1 breached
    assert samples[("ticket_slo_owned_partitions", ())] == 3
    assert samples[("ticket_slo_event_lag_seconds_count", ())] == 5
    assert samples[("ticket_slo_breach_delay_seconds_count", ())] == 1
    assert 0 <= samples[("ticket_slo_breach_delay_seconds_sum", ())] < 2
    # The tracker's loop passes with no input (the last event went in seconds ago): its heartbeat
    # is the worker's wall time of a pass less than a second ago, and it moves on.
    heartbeat = samples[("ticket_slo_tracker_heartbeat_timestamp_seconds", ())]
    assert time.time() - 2 < heartbeat <= time.time()
    time.sleep(1.5)
    later = _samples(_scrape(worker.metrics_url))[("ticket_slo_tracker_heartbeat_timestamp_seconds", ())]
    assert heartbeat + 1 < later <= time.time()
    exported = {family.name for family in text_string_to_metric_families(text)}
    for name in METRIC_NAMES:
        assert name.removesuffix("_total") in exported, name

    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: apt-get install prometheus"
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
