"""``ticket-slo report`` reading the outcomes and breaches topics of the real broker.

The topics are filled with ``ticket-slo replay``'s output of tests/unit/data/report-events.jsonl,
each record on the topic the worker writes it to, plus a record that is not JSON; the figures
expected are those worked out by hand in tests/unit/test_sla_report_from_replay.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ticket_slo.streams.kafka.settings import Settings
from tests.integration.kafka_io import produce
from tests.unit.report_html import ReportReader

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).parent.parent / "unit" / "data" / "report-events.jsonl"


def test_the_report_reads_both_topics_to_their_end(kafka_bootstrap: str, tmp_path: Path) -> None:
    prefix = f"r{uuid.uuid4().hex[:8]}-"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TICKET_SLO_TOPIC_PREFIX": prefix,
           "TICKET_SLO_PARTITIONS": "3"}
    cli = [sys.executable, "-m", "ticket_slo.agents.cli"]
    subprocess.run([*cli, "topics"], env=env, check=True, capture_output=True, timeout=60)
    replayed = subprocess.run([*cli, "replay", str(EVENTS)], capture_output=True, text=True, timeout=60, check=True)
    topics = Settings.from_env(env).topics
    outcomes, breaches = [], []
    for line in replayed.stdout.splitlines():
        record = json.loads(line)
        target = outcomes if record["type"] == "slo.completed" else breaches
        if record["type"] != "slo.at_risk":
            target.append((record["ticket_id"].encode(), line.encode()))
    breaches.append((b"junk", b"{not json"))
    produce(kafka_bootstrap, topics.outcomes, outcomes)
    produce(kafka_bootstrap, topics.breaches, breaches)

    out = tmp_path / "report.html"
    result = subprocess.run([*cli, "report", "--from", "2026-11-01", "--to", "2026-12-01", "--customer", "acme",
                             "--out", str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"report: {topics.outcomes}: {len(outcomes)} of {len(outcomes)} records read" in result.stderr
    assert f"report: {topics.breaches}: {len(breaches)} of {len(breaches)} records read" in result.stderr
    assert f"report: bad record: {topics.breaches}/" in result.stderr and "not JSON" in result.stderr
    page = ReportReader(out.read_text(encoding="utf-8"))
    assert page.rows["attainment"] == [
        ["first_response", "P1", "30m", "3", "2", "66.7 %", "3", "1", "2"],
        ["first_response", "P2", "1h", "1", "1", "100.0 %", "0", "0", "0"],
        ["first_response", "P3", "4h", "1", "0", "0.0 %", "1", "0", "1"],
        ["first_response", "P4", "8h", "1", "1", "100.0 %", "0", "0", "0"],
    ]
    assert [row[0] for row in page.rows["breaches"]] == ["t6", "t2", "t4"]


def test_a_missing_topic_is_a_one_line_error(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "TICKET_SLO_TOPIC_PREFIX": f"r{uuid.uuid4().hex[:8]}-none-"}
    result = subprocess.run([sys.executable, "-m", "ticket_slo.agents.cli", "report", "--from", "2026-11-01",
                             "--to", "2026-12-01", "--out", str(tmp_path / "r.html")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "does not exist" in result.stderr and len(result.stderr.strip().splitlines()) == 1
