"""``ticket-slo publish`` puts a file on ticket-events as it is, keyed by ticket id."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.kafka_io import consume

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "events.jsonl"


def test_publish_sends_every_line_keyed_by_ticket(kafka_bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    result = subprocess.run(
        [sys.executable, "-m", "ticket_slo.agents.cli", "publish", str(EXAMPLE)],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TICKET_SLO_TOPIC_PREFIX": prefix,
             "TICKET_SLO_PARTITIONS": "3"},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in EXAMPLE.read_text().splitlines() if line.strip()]
    assert f"published {len(lines)} of {len(lines)} events" in result.stderr

    records = consume(kafka_bootstrap, f"{prefix}ticket-events", expect=len(lines), timeout=30, settle=1)
    assert sorted(r.value.decode() for r in records) == sorted(lines)
    assert {r.key for r in records} == {b"T-100", b"T-101", b"T-102", b"T-103"}
    assert len({r.partition for r in records if r.key == b"T-101"}) == 1  # one ticket, one partition
