"""Topic creation against the real broker, and the one-line errors users see."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest

from ticket_slo.streams.kafka.settings import Settings
from ticket_slo.streams.kafka.topics import TopicMismatch, ensure_topics, pipeline_topics

pytestmark = pytest.mark.integration


def _settings(bootstrap: str, prefix: str, partitions: int) -> Settings:
    return Settings.from_env({
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "TICKET_SLO_TOPIC_PREFIX": prefix,
        "TICKET_SLO_PARTITIONS": str(partitions),
    })


def test_creates_missing_topics_once(kafka_bootstrap: str) -> None:
    settings = _settings(kafka_bootstrap, f"t{uuid.uuid4().hex[:8]}-", 3)
    expected = [spec.name for spec in pipeline_topics(settings)]
    assert ensure_topics(settings) == expected
    assert ensure_topics(settings) == []


def test_partition_mismatch_is_refused_with_both_counts(kafka_bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    ensure_topics(_settings(kafka_bootstrap, prefix, 3))
    with pytest.raises(TopicMismatch, match=rf"'{prefix}ticket-events' has 3 partitions but the pipeline needs 5"):
        ensure_topics(_settings(kafka_bootstrap, prefix, 5))


def test_unreachable_broker_is_one_line_and_nonzero() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "ticket_slo.agents.cli", "topics"],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port}"},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"ticket-slo: cannot reach Kafka at 127.0.0.1:{closed_port}")
    assert "Traceback" not in result.stderr
