"""``ticket-slo tail`` follows an output topic through the real broker, one line per record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from kafka import KafkaProducer

from ticket_slo.streams.kafka.settings import Settings

pytestmark = pytest.mark.integration


def test_tail_prints_each_record_as_it_arrives_and_stops_cleanly_on_ctrl_c(kafka_bootstrap: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TICKET_SLO_TOPIC_PREFIX": prefix,
           "TICKET_SLO_PARTITIONS": "2"}
    subprocess.run([sys.executable, "-m", "ticket_slo.agents.cli", "topics"], env=env, check=True, capture_output=True,
                   timeout=60)
    topic = Settings.from_env(env).topics.breaches
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    before = {"type": "slo.breached", "ticket_id": "T-1", "breach_id": "b-1"}
    producer.send(topic, key=b"T-1", value=json.dumps(before).encode()).get(timeout=30)

    # A shell without job control starts background jobs with SIGINT ignored, and Python then
    # installs no Ctrl-C handler; a terminal user's tail gets the default, so give it that.
    tail = subprocess.Popen([sys.executable, "-m", "ticket_slo.agents.cli", "tail", "breaches", "--from-beginning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(tail.stdout), daemon=True)
    reader.start()
    try:
        time.sleep(3)  # let it join and read the record already there
        after = {"type": "slo.breach_retracted", "ticket_id": "T-2", "breach_id": "b-2"}
        producer.send(topic, key=b"T-2", value=json.dumps(after).encode()).get(timeout=30)
        producer.close()
        deadline = time.monotonic() + 30
        while len(lines) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        tail.send_signal(signal.SIGINT)
        try:
            code = tail.wait(timeout=30)
        except subprocess.TimeoutExpired:
            tail.kill()
            tail.wait()
            raise
        reader.join(timeout=5)

    assert code == 0, tail.stderr.read() if tail.stderr else ""
    assert len(lines) == 2, lines
    rows = [line.rstrip("\n").split("\t") for line in lines]
    assert [row[1] for row in rows] == ["T-1", "T-2"]
    assert [json.loads(row[2]) for row in rows] == [before, after]
    positions = [tuple(map(int, row[0].split(":"))) for row in rows]
    assert len(set(positions)) == 2 and all(offset in (0, 1) for _, offset in positions)
