"""The development broker script: start, a second start, status and stop, for real; and
`make run` interrupted while it starts the broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import BROKER_SCRIPT, REPO

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


@pytest.mark.skipif("KAFKA_BOOTSTRAP_SERVERS" in os.environ,
                    reason="an external broker is in use: this checks the local one")
def test_ctrl_c_while_make_run_starts_the_broker_stops_everything() -> None:
    """It used to leave the java broker running and print a KeyboardInterrupt traceback."""
    if _broker("status", "--name", "dev").returncode == 0:
        pytest.skip("the dev broker is running: make run would reuse it, not start it")
    run = subprocess.Popen([sys.executable, str(REPO / "deploy" / "run_local.py")], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert run.stderr is not None
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(run.stderr or ()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while not any(line.startswith("starting Kafka") for line in seen) and time.monotonic() < deadline:
        assert run.poll() is None, "".join(seen)
        time.sleep(0.1)
    assert _java_processes_using("/run/dev/"), "".join(seen)
    os.killpg(run.pid, signal.SIGINT)  # as the terminal does: to the whole foreground group
    assert run.wait(timeout=60) == 0
    reader.join(timeout=10)
    output = "".join(seen)
    assert "Traceback" not in output, output
    assert output.strip().splitlines()[-1] == "run: stopped", output
    assert _broker("status", "--name", "dev").returncode == 3
    assert _java_processes_using("/run/dev/") == []
