"""Bad configuration stops the worker with one line that says what and where, and exit code 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _worker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ticket_slo.agents.cli", "worker", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TICKET_SLO_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}-",
                                            **env})


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_taken_metrics_port(kafka_bootstrap: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _worker({"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TICKET_SLO_METRICS_PORT": str(port)})
    assert result.returncode == 2
    assert _last_line(result) == (f"ticket-slo: cannot serve metrics on 127.0.0.1:{port} "
                                  "(TICKET_SLO_METRICS_ADDR/PORT): Address already in use")


def test_taken_status_api_port(kafka_bootstrap: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _worker({"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TICKET_SLO_METRICS_PORT": "0",
                          "TICKET_SLO_WEB_PORT": str(port), "TICKET_SLO_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 2
    assert _last_line(result) == (f"ticket-slo: cannot serve the status API on 127.0.0.1:{port} "
                                  "(TICKET_SLO_WEB_ADDR/PORT): Address already in use")


def test_missing_policy_file(kafka_bootstrap: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = _worker({"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}, "--policy", str(missing))
    assert result.returncode == 2
    assert _last_line(result).startswith(f"ticket-slo: bad policy: {missing}: (file): cannot read:")


def test_malformed_policy_file(kafka_bootstrap: str, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("plans:\n  default:\n    objectives: [1, 2\n")
    result = _worker({"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TICKET_SLO_POLICY": str(policy)})
    assert result.returncode == 2
    assert _last_line(result).startswith(f"ticket-slo: bad policy: {policy}: line ")
