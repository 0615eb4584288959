"""The development broker script: start, a second start, status and stop, for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BROKER_SCRIPT

pytestmark = pytest.mark.integration


def _broker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BROKER_SCRIPT), *args],
                          capture_output=True, text=True, timeout=300)


def _java_processes_using(path_fragment: str) -> list[str]:
    ps = subprocess.run(["ps", "-ww", "-eo", "pid,stat,args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines()
            if "java" in line and path_fragment in line and " Z" not in line]


@pytest.mark.skipif("KAFKA_BOOTSTRAP_SERVERS" in os.environ,
                    reason="an external broker is in use: this checks the local one")
def test_start_twice_then_stop_leaves_nothing_running() -> None:
    name = f"pytest-lifecycle-{os.getpid()}"
    first = _broker("start", "--name", name)
    try:
        assert first.returncode == 0, first.stderr
        bootstrap = first.stdout.strip()
        assert bootstrap.startswith("127.0.0.1:")

        second = _broker("start", "--name", name)
        assert second.returncode == 0
        assert second.stdout.strip() == bootstrap
        assert f"broker '{name}' already running at {bootstrap}" in second.stderr

        status = _broker("status", "--name", name)
        assert status.returncode == 0
        assert _java_processes_using(f"/run/{name}/")
    finally:
        stopped = _broker("stop", "--name", name)
    assert stopped.returncode == 0
    assert _broker("status", "--name", name).returncode == 3
    assert _java_processes_using(f"/run/{name}/") == []
