"""``ticket-slo alert-bridge`` end to end: a real worker, a real broker, a real Alertmanager.

What is checked is what Alertmanager itself holds (``GET /api/v2/alerts``): a P1 breach
appears with its labels and annotations, stays while unanswered (past several refresh
periods, which its own ``endsAt`` would not survive), is resolved by the acknowledgement
published while the bridge was stopped, and another breach is resolved by the retraction
a late priority change causes. The bridge is restarted in between: nothing is lost, and
the open alert is the same alert afterwards (same fingerprint, same start), not a new one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.integration.kafka_io import consume, produce
from tests.integration.monitoring_servers import alertmanager_server
from tests.integration.worker_process import WorkerProcess, free_port

pytestmark = pytest.mark.integration

POLICY = """
plans:
  default:
    warn_at: [0.5]
    objectives:
      first_response: {P1: 6s, P2: 1h, P3: 1h, P4: 1h}
"""
REFRESH_SECONDS = 1.0
ALERTMANAGER_CONFIG = """
route:
  receiver: nobody
  group_by: [ticket_id]
receivers:
  - name: nobody
"""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """Debian's Alertmanager on a free loopback port, with its own config and storage, no cluster."""
    config = tmp_path / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG)
    with alertmanager_server(tmp_path, config) as url:
        yield url


class BridgeProcess:
    """``ticket-slo alert-bridge`` in its own process group, with the worker's settings."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> "BridgeProcess":
        offset = len(self.log())
        self.process = subprocess.Popen([sys.executable, "-m", "ticket_slo.agents.cli", "alert-bridge"],
                                        env=self.env, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while "alert-bridge: ready" not in self.log()[offset:]:
            assert self.process.poll() is None, f"the bridge exited:\n{self.log()[-3000:]}"
            assert time.monotonic() < deadline, f"the bridge was not ready within {timeout} s:\n{self.log()[-3000:]}"
            time.sleep(0.2)
        return self

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def alerts(url: str) -> dict[str, dict[str, Any]]:
    """Alertmanager's active alerts of the bridge, by ticket id (asserting there is one per ticket)."""
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        found = [a for a in json.load(response) if a["labels"].get("alertname", "").startswith("TicketSloTicket")]
    by_ticket = {a["labels"]["ticket_id"]: a for a in found}
    assert len(by_ticket) == len(found), f"more than one alert for a ticket: {found}"
    return by_ticket


def wait_until(what: str, check: Callable[[], bool], timeout: float, context: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout} s\n{context()}"
        time.sleep(0.25)


def test_breaches_page_through_alertmanager_until_answered_or_retracted(
        kafka_bootstrap: str, tmp_path: Path, alertmanager: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    worker = WorkerProcess(kafka_bootstrap, tmp_path, extra_env={
        "TICKET_SLO_POLICY": str(policy), "TICKET_SLO_BREACH_GRACE": "0.2"}).start()
    bridge = BridgeProcess({**worker.env, "TICKET_SLO_ALERTMANAGER_URL": alertmanager,
                            "TICKET_SLO_ALERT_REFRESH": str(REFRESH_SECONDS)}, tmp_path / "bridge.log")

    def context() -> str:
        return f"alertmanager holds: {json.dumps(alerts(alertmanager), indent=1)[-2500:]}\nbridge log:\n" \
               f"{bridge.log()[-2500:]}"

    try:
        bridge.start()
        opened = datetime.now(timezone.utc)

        def event(ticket: str, n: int, kind: str, at: datetime, **fields: object) -> tuple[bytes, bytes]:
            body = {"event_id": f"{ticket}-{n}", "type": kind, "ticket_id": ticket,
                    "occurred_at": at.isoformat(), **fields}
            return ticket.encode(), json.dumps(body).encode()

        produce(kafka_bootstrap, worker.topic("ticket-events"), [
            event("ACK-1", 1, "ticket.opened", opened, priority="P1", customer_id="acme", plan="default",
                  account_manager="ann@example.com"),
            event("LOW-1", 1, "ticket.opened", opened, priority="P1", customer_id="globex"),
            event("P3-1", 1, "ticket.opened", opened - timedelta(hours=2), priority="P3", customer_id="initech"),
        ])  # P3-1 breaches at once but P3 does not page

        # At half the target (the policy's last warn_at) a warning notifies; the breach then supersedes it.
        seen: dict[str, set[str]] = {}

        def breached_both() -> bool:
            for ticket, alert in alerts(alertmanager).items():
                seen.setdefault(ticket, set()).add(f"{alert['labels']['alertname']}/{alert['labels']['severity']}")
            now = alerts(alertmanager)
            return all(now.get(t, {}).get("labels", {}).get("alertname") == "TicketSloTicketBreached"
                       for t in ("ACK-1", "LOW-1"))

        wait_until("both P1 breaches did not appear in Alertmanager", breached_both, 40, context)
        assert "TicketSloTicketAtRisk/warning" in seen["ACK-1"], seen
        first = alerts(alertmanager)["ACK-1"]
        assert first["labels"] == {"alertname": "TicketSloTicketBreached", "severity": "page", "ticket_id": "ACK-1",
                                   "objective": "first_response", "priority": "P1", "plan": "default"}
        notes = first["annotations"]
        assert (notes["ticket"], notes["customer"], notes["account_manager"]) == ("ACK-1", "acme", "ann@example.com")
        deadline = datetime.fromisoformat(notes["deadline"].replace("Z", "+00:00"))
        assert abs((deadline - opened).total_seconds() - 6) < 0.001
        assert notes["late_by"].endswith("s") and "ACK-1" in notes["summary"]
        assert first["status"]["state"] == "active"
        assert "P3-1" not in alerts(alertmanager)

        # Unanswered: still there after several refresh periods; without refreshes endsAt would have passed.
        first_ends = first["endsAt"]
        time.sleep(5 * REFRESH_SECONDS)
        still = alerts(alertmanager)
        assert {"ACK-1", "LOW-1"} <= set(still), context()
        assert still["ACK-1"]["endsAt"] > first_ends and still["ACK-1"]["startsAt"] == first["startsAt"]
        low_before = still["LOW-1"]

        # Stop the bridge; the acknowledgement arrives meanwhile; the restarted bridge must resolve it.
        assert bridge.stop() == 0, bridge.log()[-3000:]
        produce(kafka_bootstrap, worker.topic("ticket-events"), [
            event("ACK-1", 2, "ticket.acknowledged", datetime.now(timezone.utc), by="agent-7")])
        bridge.start()
        wait_until("the acknowledged ticket's alert was not resolved",
                   lambda: "ACK-1" not in alerts(alertmanager), 40, context)
        after = alerts(alertmanager)
        assert set(after) == {"LOW-1"}, context()  # refreshed by the running bridge, so ACK-1 did not lapse
        assert (after["LOW-1"]["fingerprint"], after["LOW-1"]["startsAt"]) == (
            low_before["fingerprint"], low_before["startsAt"])

        # A priority change that happened before LOW-1's deadline, processed after its breach, retracts it.
        produce(kafka_bootstrap, worker.topic("ticket-events"), [
            event("LOW-1", 2, "ticket.priority_changed", opened + timedelta(seconds=1), priority="P4")])
        wait_until("the retracted breach's alert was not resolved",
                   lambda: "LOW-1" not in alerts(alertmanager), 40, context)
        time.sleep(4 * REFRESH_SECONDS)  # refreshes go on: nothing resolved comes back
        assert alerts(alertmanager) == {}, context()
    finally:
        bridge.stop()
        worker.cleanup()


def test_a_resolve_that_alertmanager_could_not_take_survives_a_crash_of_the_bridge(
        kafka_bootstrap: str, tmp_path: Path, alertmanager: str) -> None:
    """The acknowledgement arrives while Alertmanager cannot be reached; the bridge, retrying,
    is killed (SIGKILL). Started again, it must still resolve the alert. With a refresh of
    60 s the alert would lapse only 180 s after its last post, so its going away within 40 s
    is the resolve itself."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    worker = WorkerProcess(kafka_bootstrap, tmp_path, extra_env={
        "TICKET_SLO_POLICY": str(policy), "TICKET_SLO_BREACH_GRACE": "0.2"}).start()
    settings = {**worker.env, "TICKET_SLO_ALERT_REFRESH": "60"}
    bridge = BridgeProcess({**settings, "TICKET_SLO_ALERTMANAGER_URL": alertmanager}, tmp_path / "bridge.log")
    unreachable = f"http://127.0.0.1:{free_port()}"
    cut_off = BridgeProcess({**settings, "TICKET_SLO_ALERTMANAGER_URL": unreachable}, tmp_path / "cut-off.log")

    def context() -> str:
        return f"alertmanager holds: {json.dumps(alerts(alertmanager), indent=1)[-2000:]}\nbridge log:\n" \
               f"{bridge.log()[-2000:]}\ncut-off bridge log:\n{cut_off.log()[-2000:]}"

    try:
        bridge.start()
        opened = datetime.now(timezone.utc)
        produce(kafka_bootstrap, worker.topic("ticket-events"), [(b"CRASH-1", json.dumps({
            "event_id": "CRASH-1-1", "type": "ticket.opened", "ticket_id": "CRASH-1", "occurred_at": opened.isoformat(),
            "priority": "P1", "customer_id": "acme"}).encode())])
        wait_until("the breach did not appear", lambda: alerts(alertmanager).get("CRASH-1", {}).get(
            "labels", {}).get("alertname") == "TicketSloTicketBreached", 40, context)
        assert bridge.stop() == 0

        produce(kafka_bootstrap, worker.topic("ticket-events"), [(b"CRASH-1", json.dumps({
            "event_id": "CRASH-1-2", "type": "ticket.acknowledged", "ticket_id": "CRASH-1",
            "occurred_at": datetime.now(timezone.utc).isoformat()}).encode())])
        consume(kafka_bootstrap, worker.topic("ticket-slo-outcomes"), expect=1, timeout=30)
        cut_off.start()  # reads the outcome, cannot post the resolve, retries
        wait_until("the cut-off bridge did not report that the resolve waits",
                   lambda: "is unreachable" in cut_off.log() and "1 alerts (changes) wait" in cut_off.log(),
                   40, context)
        assert cut_off.process is not None
        os.killpg(cut_off.process.pid, signal.SIGKILL)
        cut_off.process.wait(10)
        assert "CRASH-1" in alerts(alertmanager), context()  # the resolve never reached it

        bridge.start()
        wait_until("the resolve was lost", lambda: "CRASH-1" not in alerts(alertmanager), 40, context)
    finally:
        cut_off.stop()
        bridge.stop()
        worker.cleanup()
