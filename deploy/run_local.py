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


def start_broker() -> tuple[str, bool]:
    """The bootstrap address, and whether this script started the broker (and must stop it)."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        say(f"using the broker at {configured} (KAFKA_BOOTSTRAP_SERVERS)")
        return configured, False
    already = subprocess.run([*BROKER, "status", "--name", BROKER_NAME], capture_output=True, text=True)
    started = subprocess.run([*BROKER, "start", "--name", BROKER_NAME], stdout=subprocess.PIPE, text=True)
    if started.returncode != 0:
        raise SystemExit("run: the local Kafka broker did not start (see the messages above)")
    return started.stdout.strip(), already.returncode != 0


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


def main() -> int:
    bootstrap, own_broker = start_broker()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    env.setdefault("TICKET_SLO_DATA_DIR", str(REPO / ".data" / "worker"))
    # Seconds-scale targets, so the simulated tickets warn and breach while you watch.
    env.setdefault("TICKET_SLO_POLICY", str(REPO / "deploy" / "demo-policy.yaml"))
    children: list[subprocess.Popen[bytes]] = []
    interrupted: list[int] = []
    # The children get Ctrl-C from the terminal too; we wait for them, then tidy up.
    signal.signal(signal.SIGINT, lambda signum, _frame: interrupted.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, _frame: interrupted.append(signum))
    try:
        subprocess.run([*TICKET_SLO, "topics"], env=env, check=True, cwd=REPO)
        children.append(subprocess.Popen([*TICKET_SLO, "worker"], env=env, cwd=REPO))
        children.append(subprocess.Popen([*TICKET_SLO, "simulate"], env=env, cwd=REPO))
        say(f"broker at {bootstrap}; worker and simulator running")
        say(f"policy: {env['TICKET_SLO_POLICY']}")
        say(f"watch it: KAFKA_BOOTSTRAP_SERVERS={bootstrap} .venv/bin/ticket-slo tail breaches"
            "   (or warnings, outcomes, dlq)")
        say("press Ctrl-C to stop everything")
        while not interrupted:
            exited = [c for c in children if c.poll() is not None]
            if exited:
                say(f"{' '.join(map(str, exited[0].args[2:]))} exited with code {exited[0].returncode}")
                break
            time.sleep(0.5)
    except subprocess.CalledProcessError as exc:
        say(f"{' '.join(map(str, exc.cmd))} failed with exit code {exc.returncode}")
    finally:
        say("stopping…")
        stop(children)
        if own_broker:
            subprocess.run([*BROKER, "stop", "--name", BROKER_NAME])
        say("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
