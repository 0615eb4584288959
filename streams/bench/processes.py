"""Child processes of the benchmark and what /proc says about them (CPU time, resident memory).

``Child`` reaps its process with ``wait4`` so that the CPU time of a short-lived
child (a Java perf tool, the passthrough) is exact even after it exited.
``WorkerChild`` runs a real ``ticket-slo worker`` with its own settings.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from ticket_slo.schemas.errors import TicketSloError

__all__ = ["Child", "WorkerChild", "SelfProcess", "ExternalProcess", "MachineCpu", "cpu_seconds", "rss_bytes",
           "READY_MARKER", "BenchError", "BenchSetupError"]

#: What Faust logs once the worker has joined its group and started its agents: the one
#: sign of a ready worker that the benchmark and the integration tests wait for.
READY_MARKER = "[^Worker]: Ready"
_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(TicketSloError, RuntimeError):
    """The benchmark cannot go on; the message says which step failed and why."""

    exit_code = 1  # a measurement that failed, not a refused input


class BenchSetupError(BenchError):
    """The run cannot start as asked: an option or setting to change, found before anything starts."""

    exit_code = 2


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process (all its threads), or None when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15)


def rss_bytes(pid: int, field: str = "VmRSS") -> int | None:
    """Resident memory (``VmRSS``, or ``VmHWM`` for the peak) of a live process, in bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class SelfProcess:
    """The benchmark process itself: the load generator and the observer."""

    label = "bench"

    def cpu(self) -> float:
        times = os.times()
        return times.user + times.system

    @property
    def pid(self) -> int:
        return os.getpid()


class MachineCpu:
    """Every CPU second the machine spent (``/proc/stat``), so that others' load shows as "other"."""

    label = "machine"

    def cpu(self) -> float:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except (OSError, IndexError):
            return 0.0
        busy = [int(v) for v in fields[:8]]
        del busy[3:5]  # idle and iowait are not work
        return sum(busy) / _TICKS


class ExternalProcess:
    """A process we did not start (the broker): only read, never signalled."""

    def __init__(self, pid: int, label: str) -> None:
        self.pid = pid
        self.label = label
        self._last = 0.0

    def cpu(self) -> float:
        value = cpu_seconds(self.pid)
        if value is not None:
            self._last = value
        return self._last


class Child:
    """A child process in its own session; ``cpu()`` stays exact after it exits."""

    def __init__(self, argv: Sequence[str], *, label: str, env: dict[str, str] | None = None,
                 log_path: Path | None = None, capture: bool = False) -> None:
        self.label = label
        self.argv = list(argv)
        self.log_path = log_path
        self.started = time.time()
        out: int | object
        if capture:
            out = subprocess.PIPE
        elif log_path is not None:
            out = log_path.open("ab")
        else:
            out = subprocess.DEVNULL
        self.proc = subprocess.Popen(self.argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._final_cpu: float | None = None
        self._last_cpu = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        self.poll()
        return self.proc.returncode

    def poll(self) -> int | None:
        if self.proc.returncode is not None:
            return self.proc.returncode
        self.cpu()  # a last reading while it may still be there
        try:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        except ChildProcessError:
            self.proc.returncode = self.proc.returncode if self.proc.returncode is not None else -1
            return self.proc.returncode
        if pid == 0:
            return None
        self._final_cpu = usage.ru_utime + usage.ru_stime
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return self.proc.returncode

    def wait(self, timeout: float, *, on_tick: Callable[[], None] | None = None) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                self.terminate()
                raise BenchError(f"{self.label} did not finish within {timeout:.0f}s")
            if on_tick is not None:
                on_tick()
            time.sleep(0.05)
        return int(self.proc.returncode or 0)

    def communicate(self, timeout: float) -> str:
        """Wait for a ``capture=True`` child; return its whole output."""
        chunks: list[bytes] = []
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        deadline = time.monotonic() + timeout
        while True:
            data = self.proc.stdout.read()
            if data:
                chunks.append(data)
            if self.poll() is not None:
                rest = self.proc.stdout.read()
                if rest:
                    chunks.append(rest)
                break
            if time.monotonic() > deadline:
                self.terminate()
                raise BenchError(f"{self.label} did not finish within {timeout:.0f}s")
            time.sleep(0.05)
        return b"".join(chunks).decode(errors="replace")

    def cpu(self) -> float:
        """CPU seconds so far (exact once reaped)."""
        if self._final_cpu is not None:
            return self._final_cpu
        value = cpu_seconds(self.proc.pid)
        if value is not None:
            self._last_cpu = value
        return self._last_cpu

    def interrupt(self, timeout: float = 30.0) -> int | None:
        """SIGINT (a tool that writes its results on Ctrl-C), then as ``terminate``."""
        return self.terminate(timeout, first=signal.SIGINT)

    def terminate(self, timeout: float = 30.0, *, first: int = signal.SIGTERM) -> int | None:
        """SIGTERM to its process group, then SIGKILL if it does not exit in time."""
        if self.poll() is not None:
            return self.proc.returncode
        try:
            os.killpg(self.proc.pid, first)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + 10
            time.sleep(0.05)
        return self.proc.returncode


class WorkerChild(Child):
    """A real ``ticket-slo worker`` process; its log goes to ``log_path``."""

    def __init__(self, env: dict[str, str], log_path: Path, *, label: str = "worker") -> None:
        super().__init__([sys.executable, "-m", "ticket_slo.agents.cli", "worker"], label=label, env=env,
                         log_path=log_path)
        self._log_offset = log_path.stat().st_size if log_path.exists() else 0
        self._seen = ""

    def log_text(self) -> str:
        """What this process wrote to the log (not earlier processes sharing the file)."""
        assert self.log_path is not None
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            self._seen = log.read().decode(errors="replace")
        return self._seen

    def wait_for_log(self, text: str, timeout: float, *, on_tick: Callable[[], None] | None = None) -> float:
        """Block until the log holds ``text``; return the wall time it was first seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return time.time()
            if self.poll() is not None:
                raise BenchError(f"worker exited with {self.proc.returncode}:\n{self._seen[-3000:]}")
            if on_tick is not None:
                on_tick()
            time.sleep(0.05)
        raise BenchError(f"worker did not log {text!r} within {timeout:.0f}s:\n{self._seen[-3000:]}")

    def rss(self) -> int | None:
        return rss_bytes(self.proc.pid)

    def rss_peak(self) -> int | None:
        return rss_bytes(self.proc.pid, "VmHWM")
