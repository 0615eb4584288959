"""The worker and the tools over an authenticated connection, against a real SASL listener.

A broker of this module's own is started with ``broker.py start --sasl USER:PASSWORD``
(a SASL_PLAINTEXT listener that accepts the user over PLAIN and SCRAM). The worker
(Faust/aiokafka) and the command-line tools (kafka-python) reach it only through the
``KAFKA_SECURITY_PROTOCOL``/``KAFKA_SASL_*`` settings; a wrong password stops a
command with one line, and the password shows up in no output or log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from ticket_slo.streams.bench.processes import READY_MARKER
from ticket_slo.streams.kafka.clients import make_consumer
from ticket_slo.streams.kafka.settings import Settings
from tests.conftest import BROKER_SCRIPT
from tests.integration.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

USER, PASSWORD = "svc-slo", "Pa55-word.for+sasl@test"


@pytest.fixture(scope="module")
def sasl_bootstrap() -> Iterator[str]:
    """The SASL listener of a broker started for this module and stopped after it."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("needs a local broker with a SASL listener; KAFKA_BOOTSTRAP_SERVERS names another broker")
    name = f"pytest-sasl-{os.getpid()}"
    broker = [sys.executable, str(BROKER_SCRIPT)]
    started = subprocess.run([*broker, "start", "--name", name, "--sasl", f"{USER}:{PASSWORD}"],
                             capture_output=True, text=True, timeout=900)
    try:
        if started.returncode != 0:
            pytest.fail(f"could not start a Kafka broker with a SASL listener:\n{started.stderr}", pytrace=False)
        address = subprocess.run([*broker, "bootstrap", "--name", name, "--listener", "sasl"],
                                 capture_output=True, text=True, timeout=30)
        assert address.returncode == 0, address.stderr
        yield address.stdout.strip()
    finally:
        subprocess.run([*broker, "stop", "--name", name], capture_output=True, text=True, timeout=120)


def sasl_env(bootstrap: str, mechanism: str, prefix: str, **extra: str) -> dict[str, str]:
    return {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "TICKET_SLO_TOPIC_PREFIX": prefix, "TICKET_SLO_PARTITIONS": "3",
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": mechanism,
            "KAFKA_SASL_USERNAME": USER, "KAFKA_SASL_PASSWORD": PASSWORD, **extra}


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ticket_slo.agents.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout)


def read(settings: Settings, topic: str, expect: int, timeout: float = 60) -> list[dict[str, object]]:
    """Records of ``topic`` read over the same authenticated connection, as JSON."""
    consumer = make_consumer(settings, topic)
    found: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < expect and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                found.extend(json.loads(record.value) for record in records)
    finally:
        consumer.close()
    return found


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_worker_and_tools_run_over_sasl(sasl_bootstrap: str, tmp_path: Path, mechanism: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    secret = tmp_path / "kafka-password"
    secret.write_text(PASSWORD + "\n")
    # One run reads the password from a file, as from a mounted secret.
    env = sasl_env(sasl_bootstrap, mechanism, prefix)
    if mechanism != "PLAIN":
        env = {**env, "KAFKA_SASL_PASSWORD": "", "KAFKA_SASL_PASSWORD_FILE": str(secret)}

    topics = cli(env, "topics")
    assert topics.returncode == 0, topics.stderr
    assert f"{prefix}ticket-events\t3 partitions\tcreated" in topics.stdout

    worker = WorkerProcess(sasl_bootstrap, tmp_path, prefix=prefix, extra_env={
        **env, "TICKET_SLO_BREACH_GRACE": "0", "TICKET_SLO_LOG_LEVEL": "debug"}).start()
    try:
        now = datetime.now(timezone.utc)
        events = [
            {"event_id": "o-1", "type": "ticket.opened", "ticket_id": "S-1", "priority": "P1", "customer_id": "c",
             "occurred_at": (now - timedelta(hours=1)).isoformat()},  # P1 is 30 min: breached already
            {"event_id": "o-2", "type": "ticket.opened", "ticket_id": "S-2", "priority": "P2", "customer_id": "c",
             "occurred_at": now.isoformat()},
            {"event_id": "a-2", "type": "ticket.acknowledged", "ticket_id": "S-2",
             "occurred_at": (now + timedelta(seconds=5)).isoformat()},
        ]
        source = tmp_path / "events.jsonl"
        source.write_text("".join(json.dumps(event) + "\n" for event in events))
        published = cli(env, "publish", str(source))
        assert published.returncode == 0, published.stderr

        settings = Settings.from_env(env)
        [outcome] = read(settings, settings.topics.outcomes, expect=1)
        assert (outcome["ticket_id"], outcome["met"]) == ("S-2", True)
        breaches = read(settings, settings.topics.breaches, expect=1)
        assert [b["ticket_id"] for b in breaches] == ["S-1"]
    finally:
        worker.stop()
    for text in (topics.stdout, topics.stderr, published.stdout, published.stderr, worker.log()):
        assert PASSWORD not in text
    assert READY_MARKER in worker.log()


def test_a_wrong_password_stops_the_worker_with_one_line(sasl_bootstrap: str) -> None:
    env = sasl_env(sasl_bootstrap, "PLAIN", f"t{uuid.uuid4().hex[:8]}-", KAFKA_SASL_PASSWORD="not-the-password")
    result = cli(env, "worker")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ticket-slo: authentication failed at {sasl_bootstrap} as '{USER}' (SASL_PLAINTEXT PLAIN): ")
    # The broker's own words when kafka-python reads its refusal before the connection
    # closes; when it sees the close first, all it can tell is where the connection ended.
    assert ("Invalid username or password" in last
            or "the broker closed the connection during the SASL login" in last), last
    assert "Traceback" not in result.stderr
    assert "not-the-password" not in result.stderr + result.stdout
