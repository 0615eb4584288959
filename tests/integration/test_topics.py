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
    assert result.stderr.strip() == (
        f"ticket-slo: cannot reach Kafka at 127.0.0.1:{closed_port} (KAFKA_BOOTSTRAP_SERVERS): no broker answered "
        "within 8 s (KafkaConnectionError: 111 ECONNREFUSED)")


def test_a_replication_factor_the_cluster_cannot_meet_is_one_short_line(kafka_bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    result = subprocess.run(
        [sys.executable, "-m", "ticket_slo.agents.cli", "topics"],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TICKET_SLO_TOPIC_PREFIX": prefix,
             "TICKET_SLO_REPLICATION_FACTOR": "3"},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (f"ticket-slo: cannot create topic '{prefix}ticket-events' with replication "
                                     "factor 3: the cluster has 1 broker (TICKET_SLO_REPLICATION_FACTOR)")


def test_tail_of_a_topic_that_does_not_exist_says_so(kafka_bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    result = subprocess.run(
        [sys.executable, "-m", "ticket_slo.agents.cli", "tail", "breaches"],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TICKET_SLO_TOPIC_PREFIX": prefix},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"ticket-slo: tail: topic '{prefix}ticket-slo-breaches' does not exist at {kafka_bootstrap}; create the "
        "pipeline's topics with 'ticket-slo topics' (or check TICKET_SLO_TOPIC_PREFIX)")
    # Asking did not create it with the broker's default partition count.
    assert f"{prefix}ticket-slo-breaches" in ensure_topics(_settings(kafka_bootstrap, prefix, 2))
