"""A real ``ticket-slo worker`` process for integration tests, isolated by topic prefix."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ticket_slo.streams.bench.processes import READY_MARKER

__all__ = ["WorkerProcess", "free_port", "running_worker"]


def free_port() -> int:
    """A TCP port free on this machine now (the kernel's pick), for a worker's or a broker's listener."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WorkerProcess:
    """Starts the worker in its own process group with its own app id, topics and data dir."""

    def __init__(self, bootstrap: str, workdir: Path, *, prefix: str | None = None,
                 extra_env: dict[str, str] | None = None, partitions: int = 3,
                 log_name: str | None = None) -> None:
        self.prefix = prefix or f"t{uuid.uuid4().hex[:10]}-"
        self.workdir = workdir
        self.log_path = workdir / (log_name or f"worker-{self.prefix}{uuid.uuid4().hex[:6]}.log")
        self.metrics_port = free_port()
        self.web_port = free_port()
        while self.web_port == self.metrics_port:
            self.web_port = free_port()
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "TICKET_SLO_APP_ID": f"{self.prefix}ticket-slo",
            "TICKET_SLO_TOPIC_PREFIX": self.prefix,
            "TICKET_SLO_PARTITIONS": str(partitions),
            "TICKET_SLO_DATA_DIR": str(workdir / f"data-{self.prefix}"),
            "TICKET_SLO_METRICS_PORT": str(self.metrics_port),
            "TICKET_SLO_WEB_PORT": str(self.web_port),
            **(extra_env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def start(self, timeout: float = 120.0) -> "WorkerProcess":
        """Launch the worker and wait until it logs that it is ready."""
        self.launch()
        self.wait_for_log(READY_MARKER, timeout)
        return self

    def launch(self) -> "WorkerProcess":
        """Start the worker process and return at once (a test may act during its start-up)."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ticket_slo.agents.cli", "worker"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"worker did not log {text!r} within {timeout}s:\n{self.log()[-4000:]}")

    def first_of(self, texts: tuple[str, ...], timeout: float, poll: float = 0.05) -> str | None:
        """The first of ``texts`` the log shows within ``timeout`` (polled often), or None.

        Raises if the worker exits meanwhile.
        """
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            found = [(log.index(text), text) for text in texts if text in log]
            if found:
                return min(found)[1]
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{log[-4000:]}")
            if time.monotonic() >= deadline:
                return None
            time.sleep(poll)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop the worker the way an operator would (SIGTERM), then make sure it is gone."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(10)

    def kill(self) -> None:
        """Crash the worker: SIGKILL, no chance to commit or flush."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.env["TICKET_SLO_DATA_DIR"], ignore_errors=True)


@contextmanager
def running_worker(bootstrap: str, workdir: Path, policy: str, **env: str) -> Iterator[WorkerProcess]:
    """A started worker with ``policy`` (YAML text) and extra settings; cleaned up afterwards."""
    policy_file = workdir / "policy.yaml"
    policy_file.write_text(policy)
    process = WorkerProcess(bootstrap, workdir, extra_env={"TICKET_SLO_POLICY": str(policy_file), **env})
    try:
        yield process.start()
    finally:
        process.cleanup()
