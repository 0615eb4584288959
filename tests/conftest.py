"""Session-wide fixtures: the real Kafka broker every integration test talks to.

When KAFKA_BOOTSTRAP_SERVERS is set the tests use that broker and start none;
otherwise one local broker is started for the session and stopped at its end.
A broker that cannot be had is a failure, never a skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
BROKER_SCRIPT = REPO / "deploy" / "kafka" / "broker.py"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    name = f"pytest-{os.getpid()}"
    started = subprocess.run(
        [sys.executable, str(BROKER_SCRIPT), "start", "--name", name],
        capture_output=True, text=True, timeout=900,
    )
    if started.returncode != 0:
        pytest.fail(f"could not start the local Kafka broker:\n{started.stderr}", pytrace=False)
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([sys.executable, str(BROKER_SCRIPT), "stop", "--name", name],
                       capture_output=True, text=True, timeout=120)
