"""A worker restarted with a changed policy: open clocks keep their terms, new ones get the new policy's.

docs/policy.md, "When the policy changes", promises: an open clock keeps the target,
calendar and deadline it was given under the policy in force when it started; only a
priority change computes them again, under the policy in force then; tickets opened after
the restart get the new policy; every output names the ``policy_version`` its clock's
terms came from. Checked here with real worker processes on the shared broker:

1. A worker runs policy A (first response P1 30 min). Tickets are opened with
   ``occurred_at`` almost 30 minutes in the past, so A's deadlines are a few tens of
   seconds ahead, while policy B's (P1 10 min) would have passed long ago.
2. The worker is stopped cleanly (SIGTERM) and started again on the same data directory
   and consumer group with policy B.
3. The tickets opened under A breach at A's deadlines, named with A's version, and only
   then (not at the restart under B's terms); one answered after the restart, later than
   B's target but within A's, is met under A's terms. A ticket raised to P1 after the
   restart and one opened after it get B's 10-minute deadline and B's version.

The versions are those ``load_policy(path).version`` gives for the two files.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ticket_slo.schemas.policy import load_policy
from tests.integration.kafka_io import consume, produce_json
from tests.integration.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

POLICY_A = """
plans:
  default:
    objectives:
      first_response: {P1: 30m, P2: 1h, P3: 4h, P4: 8h}
"""
POLICY_B = """
plans:
  default:
    objectives:
      first_response: {P1: 10m, P2: 20m, P3: 4h, P4: 8h}
"""
A_P1, B_P1 = 30 * 60, 10 * 60

# Seconds after the first openings at which A's deadlines fall: room for a stop and a start.
KEPT_DEADLINE_IN = 30.0      # K1: opened under A, never answered
ANSWERED_DEADLINE_IN = 45.0  # K2: opened under A, answered after the restart
RAISED_DEADLINE_IN = 33.0    # K3: opened as P3 under A, raised to P1 after the restart (B's 10 min)
NEW_DEADLINE_IN = 12.0       # K4: opened after the restart, seconds after the restart is ready


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _opened(ticket: str, priority: str, at: float) -> dict[str, Any]:
    return {"event_id": f"{ticket}-open", "type": "ticket.opened", "ticket_id": ticket, "occurred_at": _iso(at),
            "priority": priority, "customer_id": "c-policy-change"}


def _breaches(bootstrap: str, worker: WorkerProcess, tickets: set[str], timeout: float) -> list[dict[str, Any]]:
    """The breaches topic from the start, once every ticket in ``tickets`` has one (or the timeout)."""
    give_up = time.monotonic() + timeout
    while True:
        found = [json.loads(r.value) for r in consume(bootstrap, worker.topic("ticket-slo-breaches"),
                                                      expect=10**9, timeout=1.5)]
        if tickets <= {r["ticket_id"] for r in found} or time.monotonic() > give_up:
            return found


def test_open_clocks_keep_their_terms_through_a_restart_with_a_new_policy(kafka_bootstrap: str,
                                                                          tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(POLICY_A)
    (tmp_path / "b.yaml").write_text(POLICY_B)
    version_a, version_b = load_policy(tmp_path / "a.yaml").version, load_policy(tmp_path / "b.yaml").version
    assert version_a != version_b

    first = WorkerProcess(kafka_bootstrap, tmp_path, log_name="worker-a.log",
                          extra_env={"TICKET_SLO_POLICY": str(tmp_path / "a.yaml"), "TICKET_SLO_BREACH_GRACE": "0.2"})
    second = WorkerProcess(kafka_bootstrap, tmp_path, prefix=first.prefix, log_name="worker-b.log",
                           extra_env={"TICKET_SLO_POLICY": str(tmp_path / "b.yaml"), "TICKET_SLO_BREACH_GRACE": "0.2"})
    assert second.env["TICKET_SLO_DATA_DIR"] == first.env["TICKET_SLO_DATA_DIR"]
    assert second.env["TICKET_SLO_APP_ID"] == first.env["TICKET_SLO_APP_ID"]
    try:
        first.start()
        t0 = time.time()
        k1_opened = t0 + KEPT_DEADLINE_IN - A_P1
        k2_opened = t0 + ANSWERED_DEADLINE_IN - A_P1
        k3_opened = t0 + RAISED_DEADLINE_IN - B_P1
        produce_json(kafka_bootstrap, first.topic("ticket-events"), [
            _opened("K1", "P1", k1_opened), _opened("K2", "P1", k2_opened), _opened("K3", "P3", k3_opened)])
        # Applied under A: K1's and K2's warnings (every threshold is behind them, the deadline ahead).
        warned = consume(kafka_bootstrap, first.topic("ticket-slo-warnings"), expect=6, timeout=30)
        warnings = [json.loads(r.value) for r in warned]
        assert {(w["ticket_id"], w["policy_version"], round(_epoch(w["deadline"]), 3)) for w in warnings} == {
            ("K1", version_a, round(k1_opened + A_P1, 3)), ("K2", version_a, round(k2_opened + A_P1, 3))}
        assert first.stop() == 0, first.log()[-3000:]
        assert first.process is not None and first.process.returncode == 0

        restarted_at = time.time()
        second.start()
        ready_at = time.time()
        assert ready_at < t0 + KEPT_DEADLINE_IN - 2, (
            f"the restart took until {ready_at - t0:.1f} s after the openings: too late to see K1's deadline kept")
        k4_opened = ready_at + NEW_DEADLINE_IN - B_P1
        produce_json(kafka_bootstrap, second.topic("ticket-events"), [
            {"event_id": "K2-ack", "type": "ticket.acknowledged", "ticket_id": "K2", "occurred_at": _iso(time.time())},
            {"event_id": "K3-raise", "type": "ticket.priority_changed", "ticket_id": "K3",
             "occurred_at": _iso(time.time()), "priority": "P1"},
            _opened("K4", "P1", k4_opened)])

        breaches = _breaches(kafka_bootstrap, second, {"K1", "K3", "K4"},
                             timeout=max(k1_opened + A_P1, k3_opened + B_P1, k4_opened + B_P1) - time.time() + 15)
        time.sleep(1.5)  # a surplus breach (K2's, a second K1) would be in by now
        breaches = _breaches(kafka_bootstrap, second, set(), timeout=0)
        outcomes = [json.loads(r.value) for r in consume(kafka_bootstrap, second.topic("ticket-slo-outcomes"),
                                                         expect=1, timeout=10)]
    finally:
        first.stop()
        second.cleanup()

    by_ticket: dict[str, list[dict[str, Any]]] = {}
    for breach in breaches:
        by_ticket.setdefault(breach["ticket_id"], []).append(breach)
    assert sorted(by_ticket) == ["K1", "K3", "K4"], breaches
    assert all(len(found) == 1 and found[0]["type"] == "slo.breached" for found in by_ticket.values()), breaches
    [k1], [k3], [k4] = by_ticket["K1"], by_ticket["K3"], by_ticket["K4"]

    # K1 kept A's terms through the restart: A's deadline and version, fired at that deadline
    # by the restarted worker, not at its start (B's deadline was 20 minutes gone by then).
    assert (k1["priority"], k1["target_seconds"], k1["policy_version"]) == ("P1", A_P1, version_a)
    assert _epoch(k1["deadline"]) == pytest.approx(k1_opened + A_P1, abs=1e-3)
    assert restarted_at < _epoch(k1["deadline"]) <= _epoch(k1["detected_at"]) <= _epoch(k1["deadline"]) + 3, k1

    # K2, answered after the restart 29 minutes after its opening: late under B, met under A's kept terms.
    [k2_outcome] = [o for o in outcomes if o["ticket_id"] == "K2"]
    assert (k2_outcome["met"], k2_outcome["target_seconds"], k2_outcome["policy_version"]) == (True, A_P1, version_a)
    assert B_P1 < k2_outcome["elapsed_seconds"] < A_P1

    # K3, raised to P1 after the restart: B's P1 target from its original start, B's version.
    assert (k3["priority"], k3["target_seconds"], k3["policy_version"]) == ("P1", B_P1, version_b)
    assert _epoch(k3["deadline"]) == pytest.approx(k3_opened + B_P1, abs=1e-3)

    # K4, opened after the restart: B's terms throughout (A's deadline is 20 minutes later).
    assert (k4["target_seconds"], k4["policy_version"]) == (B_P1, version_b)
    assert _epoch(k4["deadline"]) == pytest.approx(k4_opened + B_P1, abs=1e-3)
    assert _epoch(k4["deadline"]) <= _epoch(k4["detected_at"]) <= _epoch(k4["deadline"]) + 3, k4
    print(f"\npolicy change live: restart ready {ready_at - restarted_at:.1f} s after the stop; K1 breached "
          f"{_epoch(k1['detected_at']) - _epoch(k1['deadline']):.2f} s after A's deadline under {version_a}, "
          f"K3 and K4 under {version_b}")
