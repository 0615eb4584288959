#!/usr/bin/env python3
"""`make run`: the whole pipeline on this machine, stopped as one by Ctrl-C.

Starts (or reuses) the local Kafka broker, creates the topics, then runs the worker
and the event simulator until interrupted. Whatever this script started it also
stops, so no java or python process is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BROKER = [sys.executable, str(REPO / "deploy" / "kafka" / "broker.py")]
BROKER_NAME = "dev"
TICKET_SLO = [sys.executable, "-m", "ticket_slo.agents.cli"]
STOP_GRACE_SECONDS = 20.0


def say(message: str) -> None:
    print(f"run: {message}", file=sys.stderr, flush=True)


class Interrupts:
    """Ctrl-C and SIGTERM, remembered instead of raised, so that every step can be undone in order.

    The terminal sends Ctrl-C to this script and to the children in its process group
    alike; children started in their own session (the broker's start and stop, which must
    not be cut short) get it from here, once.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        signal.signal(signal.SIGINT, self._record)
        signal.signal(signal.SIGTERM, self._record)

    def _record(self, signum: int, _frame: object) -> None:
        self.received.append(signum)

    def __bool__(self) -> bool:
        return bool(self.received)


class StepFailed(Exception):
    """A step of the start-up or a long-running child ended badly; the message names it."""


def run_detached(command: list[str], interrupts: Interrupts | None) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in its own session, out of the terminal's reach; pass it one SIGINT
    if we are interrupted meanwhile (never, with ``interrupts=None``: a stop runs to its end)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    forwarded = False
    while True:
        if interrupts is not None and interrupts and not forwarded:
            process.send_signal(signal.SIGINT)
            forwarded = True
        try:
            stdout, _ = process.communicate(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
        return subprocess.CompletedProcess(command, process.returncode, stdout, None)


def broker_address(interrupts: Interrupts) -> tuple[str | None, bool]:
    """The bootstrap address (None when interrupted), and whether this script owns the broker."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        say(f"using the broker at {configured} (KAFKA_BOOTSTRAP_SERVERS)")
        return configured, False
    already = run_detached([*BROKER, "status", "--name", BROKER_NAME], interrupts)
    own = already.returncode != 0
    started = run_detached([*BROKER, "start", "--name", BROKER_NAME], interrupts)
    if interrupts:
        return None, own
    if started.returncode != 0:
        raise StepFailed(f"the local Kafka broker did not start (exit code {started.returncode}; "
                         "see the messages above)")
    return started.stdout.strip(), own


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Let each child finish its own shutdown, then insist."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_pipeline(bootstrap: str, children: dict[subprocess.Popen[bytes], str], interrupts: Interrupts) -> None:
    """Topics, then worker and simulator until interrupted; ``StepFailed`` names what ended badly."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    env.setdefault("TICKET_SLO_DATA_DIR", str(REPO / ".data" / "worker"))
    # Seconds-scale targets, so the simulated tickets warn and breach while you watch.
    env.setdefault("TICKET_SLO_POLICY", str(REPO / "deploy" / "demo-policy.yaml"))
    topics = subprocess.run([*TICKET_SLO, "topics"], env=env, cwd=REPO)
    if interrupts:
        return
    if topics.returncode != 0:
        raise StepFailed(f"the topics step (ticket-slo topics) failed with exit code {topics.returncode}")
    children[subprocess.Popen([*TICKET_SLO, "worker"], env=env, cwd=REPO)] = "the worker (ticket-slo worker)"
    children[subprocess.Popen([*TICKET_SLO, "simulate"], env=env, cwd=REPO)] = "the simulator (ticket-slo simulate)"
    say(f"broker at {bootstrap}; worker and simulator running")
    say(f"policy: {env['TICKET_SLO_POLICY']}")
    web = f"http://{env.get('TICKET_SLO_WEB_ADDR') or '127.0.0.1'}:{env.get('TICKET_SLO_WEB_PORT') or 6066}"
    say(f"status page: {web}/   open clocks as JSON: {web}/api/open")
    say(f"watch it: KAFKA_BOOTSTRAP_SERVERS={bootstrap} .venv/bin/ticket-slo tail breaches"
        "   (or warnings, outcomes, dlq)")
    say("press Ctrl-C to stop everything")
    while not interrupts:
        for child, name in children.items():
            if child.poll() is not None:
                raise StepFailed(f"{name} exited with code {child.returncode}")
        time.sleep(0.5)


def main() -> int:
    """Exit 0 after Ctrl-C, 1 when a step failed; everything started here is stopped either way."""
    interrupts = Interrupts()
    children: dict[subprocess.Popen[bytes], str] = {}
    own_broker = False
    failure: str | None = None
    try:
        bootstrap, own_broker = broker_address(interrupts)
        if bootstrap is not None:
            run_pipeline(bootstrap, children, interrupts)
    except StepFailed as failed:
        failure = str(failed)
    finally:
        say("stopping…")
        stop(list(children))
        if own_broker:
            run_detached([*BROKER, "stop", "--name", BROKER_NAME], None)
    if failure is not None:
        say(f"stopped: {failure}")
        return 1
    say("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
