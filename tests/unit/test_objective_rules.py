"""Objectives as configuration: an ETA objective that starts at the first response, a
resolution objective that pauses while the ticket waits on the customer and restarts on a
reopen, each with its own clock beside first_response's.

Times are minutes after T0 (``tests/unit/script.py``); every expected value is worked out
by hand from the targets below. 24/7 throughout: business hours are
``test_business_hours_rules.py``'s subject.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ticket_slo.schemas.outputs import breach_id
from ticket_slo.schemas.policy import Policy, load_policy
from ticket_slo.streams.core.effects import Effect
from ticket_slo.streams.core.engine import SloEngine
from tests.unit.script import (
    ETA_AND_RESOLUTION,
    Run,
    acknowledged,
    clock,
    closed,
    eta_reported,
    opened,
    priority_changed,
    reopened,
    resolved,
    status_changed,
)

POLICY = ETA_AND_RESOLUTION + """plans:
  default:
    warn_at: [0.5]
    objectives:
      first_response: {P1: 30m, P2: 60m, P3: 4h, P4: 8h}
      eta: {P1: 20m, P2: 1h, P3: 4h, P4: 8h}
      resolution: {P1: 2h, P2: 8h, P3: 2d, P4: 5d}
  eta-only:
    objectives:
      eta: {P1: 20m, P2: 1h, P3: 4h, P4: 8h}
"""


@pytest.fixture()
def policy(tmp_path: Path) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return load_policy(path)


def by_objective(run: Run, kind: str) -> list[tuple[str, ...]]:
    """(objective, ...) of each output of ``kind``: what a rule about several clocks is about."""
    found: list[tuple[str, ...]] = []
    for model in run.models(kind):
        data = model.model_dump(mode="json")
        if kind == "slo.completed":
            found.append((data["objective"], data["elapsed_seconds"], data["met"]))
        elif kind == "slo.breached":
            found.append((data["objective"], data["priority"], data["deadline"]))
        else:
            found.append((data["objective"], data["breach_id"]))
    return found


# -- the ETA objective ------------------------------------------------------------------------


def test_the_eta_clock_starts_at_the_first_response_and_stops_at_the_eta(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.engine.open_clocks_by_priority("eta") == {"P1": 0, "P2": 0, "P3": 0, "P4": 0}
    run.apply(acknowledged("t1", at=10))
    assert run.engine.open_clocks_by_priority("eta")["P1"] == 1
    run.apply(eta_reported("t1", at=25, eta=90))
    assert by_objective(run, "slo.completed") == [("first_response", 600.0, True), ("eta", 900.0, True)]


def test_an_eta_not_reported_in_time_breaches_its_own_clock_only(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, priority="P1"))
    run.apply(acknowledged("t1", at=10))  # eta due at 30
    assert run.advance(30) == [("slo.at_risk", "t1", "P1", 0.5)]  # eta's 50% at 20; resolution's is at 60
    assert run.advance(30.5) == [("slo.breached", "t1", "P1", "2024-05-01T00:30:00Z")]
    assert by_objective(run, "slo.breached") == [("eta", "P1", "2024-05-01T00:30:00Z")]
    [breach] = run.models("slo.breached")
    assert breach.breach_id == breach_id("t1", "eta", 1)  # type: ignore[attr-defined]
    run.apply(eta_reported("t1", at=40, eta=90))
    assert by_objective(run, "slo.completed") == [("first_response", 600.0, True), ("eta", 1800.0, False)]


def test_a_plan_with_only_a_later_objective_tracks_the_ticket_until_it_starts(policy: Policy) -> None:
    run = Run(policy=policy)
    applied = run.engine.apply(opened("t1", at=0, plan="eta-only"), clock(0))
    assert applied.effect is Effect.APPLIED and applied.started == ()
    assert run.advance(600) == [], "no clock before the first response"
    applied = run.engine.apply(acknowledged("t1", at=601), clock(601))
    assert applied.started == (("eta", "P1"),)
    assert [e.model.objective for e in run.engine.advance(clock(621.5))] == ["eta"]  # type: ignore[attr-defined]


# -- pause and resume ---------------------------------------------------------------------------


def test_time_while_paused_does_not_count(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, priority="P1"))
    run.apply(acknowledged("t1", at=5))
    run.apply(eta_reported("t1", at=6, eta=500))
    run.apply(status_changed("t1", at=30, status="waiting_on_customer"))  # 30 min counted
    run.apply(status_changed("t1", at=100, status="open"))  # 70 min paused
    run.apply(resolved("t1", at=150))
    assert by_objective(run, "slo.completed")[-1] == ("resolution", 80 * 60.0, True)


def test_a_breach_cannot_fire_while_paused_and_the_deadline_moves_by_the_pause(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, priority="P1"))  # resolution: 2 h
    run.apply(acknowledged("t1", at=5))
    run.apply(eta_reported("t1", at=6, eta=500))
    run.apply(status_changed("t1", at=60, status="waiting_on_customer"))  # its 50% (60 min) not passed
    assert run.advance(60 * 24) == [], "nothing fires while paused, however long"
    assert run.engine.clock_counts()[("resolution", "P1")] == (1, 1, 0)
    run.apply(status_changed("t1", at=60 * 24, status="open"), now=60 * 24)  # 60 min left: due at 1500
    assert run.advance(60 * 24 + 59) == [("slo.at_risk", "t1", "P1", 0.5)]
    assert run.advance(60 * 25) == []
    assert run.advance(60 * 25 + 0.5) == [("slo.breached", "t1", "P1", "2024-05-02T01:00:00Z")]


def test_a_stop_while_paused_completes_with_the_time_counted_so_far(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, priority="P1"))
    run.apply(acknowledged("t1", at=5))
    run.apply(eta_reported("t1", at=6, eta=500))
    run.apply(status_changed("t1", at=45, status="waiting_on_customer"))
    run.apply(resolved("t1", at=500))
    assert by_objective(run, "slo.completed")[-1] == ("resolution", 45 * 60.0, True)


def test_a_status_change_that_is_not_a_pause_does_not_pause(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, priority="P1"))
    run.apply(status_changed("t1", at=10, status="in_progress"))
    assert run.engine.clock_counts()[("resolution", "P1")] == (1, 0, 0)
    run.apply(status_changed("t1", at=20, status="waiting_on_customer"))
    run.apply(status_changed("t1", at=30, status="waiting_on_customer"))  # still paused: not a resume
    assert run.engine.clock_counts()[("resolution", "P1")] == (1, 1, 0)


def test_a_pause_after_the_deadline_comes_too_late(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, priority="P1"))
    run.apply(acknowledged("t1", at=5))
    run.apply(eta_reported("t1", at=6, eta=500))
    run.advance(121)
    assert by_objective(run, "slo.breached") == [("resolution", "P1", "2024-05-01T02:00:00Z")]
    run.apply(status_changed("t1", at=125, status="waiting_on_customer"))
    assert run.engine.clock_counts()[("resolution", "P1")] == (1, 0, 1), "breached, and still counting"


def test_a_pause_before_the_deadline_retracts_a_breach_noticed_first(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, priority="P1"))
    run.apply(acknowledged("t1", at=5))
    run.apply(eta_reported("t1", at=6, eta=500))
    run.advance(121)
    # Published late: the ticket waited on the customer from 100, before its deadline at 120.
    run.apply(status_changed("t1", at=100, status="waiting_on_customer"), now=122)
    assert by_objective(run, "slo.breach_retracted") == [("resolution", breach_id("t1", "resolution", 1))]
    run.apply(status_changed("t1", at=200, status="open"))  # 20 min left: due at 220
    run.advance(220.5)
    assert by_objective(run, "slo.breached")[-1] == ("resolution", "P1", "2024-05-01T03:40:00Z")
    [_, second] = run.models("slo.breached")
    assert second.breach_id == breach_id("t1", "resolution", 2), "a new breach: the next cycle"  # type: ignore[attr-defined]


def test_a_priority_change_while_paused_that_makes_the_clock_late_breaches_at_once(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, priority="P3"))  # resolution: 2 days
    run.apply(acknowledged("t1", at=5))
    run.apply(eta_reported("t1", at=6, eta=500))
    run.apply(status_changed("t1", at=180, status="waiting_on_customer"))  # 3 h counted
    run.apply(priority_changed("t1", at=200, priority="P1"))  # 2 h target: late before the pause
    assert by_objective(run, "slo.breached") == [("resolution", "P1", "2024-05-01T02:00:00Z")]
    run.apply(resolved("t1", at=300))
    assert by_objective(run, "slo.completed")[-1] == ("resolution", 180 * 60.0, False)


# -- restart on reopen, and close -------------------------------------------------------------------


def test_a_reopen_restarts_a_restartable_objective_as_a_new_cycle_and_first_response_not(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, priority="P1"))
    run.apply(acknowledged("t1", at=5))
    run.apply(eta_reported("t1", at=6, eta=500))
    run.advance(121)
    run.apply(resolved("t1", at=130))  # resolution late: breach cycle 1 stands
    run.apply(reopened("t1", at=200))
    assert run.engine.clock_counts() == {("resolution", "P1"): (1, 0, 0)}, "only resolution runs again"
    run.advance(320.5)
    breaches = run.models("slo.breached")
    assert [b.breach_id for b in breaches] == [  # type: ignore[attr-defined]
        breach_id("t1", "resolution", 1), breach_id("t1", "resolution", 2)]
    assert breaches[1].deadline.isoformat() == "2024-05-01T05:20:00+00:00"  # type: ignore[attr-defined]


def test_close_stops_every_open_clock_and_the_closed_ticket_keeps_their_outcomes(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, priority="P1"))
    run.apply(acknowledged("t1", at=5))
    run.apply(closed("t1", at=15))
    # In the order the clocks started: resolution at the opening, eta at the acknowledgement.
    assert by_objective(run, "slo.completed") == [("first_response", 300.0, True), ("resolution", 900.0, True),
                                                  ("eta", 600.0, True)]
    assert run.engine.clock_counts() == {}
    record = run.store.data["t1"]
    assert record["ph"] == "c" and "br" not in record and "w" not in record and "st" not in record
    # Every clock is done, whether it met kept for the status API; no terms, no timers.
    kept = [record, *record["x"]]
    assert [(clock.get("o", "first_response"), clock["cs"], clock["m"]) for clock in kept] == [
        ("first_response", "d", 1), ("resolution", "d", 1), ("eta", "d", 1)]


def test_a_ticket_whose_objectives_are_all_done_and_not_restartable_is_retired(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.replace("    restarts_on_reopen: true\n", ""))
    run = Run(policy=load_policy(path))
    run.apply(opened("t1", at=0, priority="P1"))
    for event in (acknowledged("t1", at=5), eta_reported("t1", at=6, eta=9)):
        run.apply(event)
        assert run.store.data["t1"]["ph"] == "r", "resolution still runs"
    run.apply(resolved("t1", at=8))
    record = run.store.data["t1"]
    assert record["ph"] == "d" and "d" not in record, "retired: no timer left"
    assert [(clock.get("o", "first_response"), clock["cs"], clock["m"]) for clock in (record, *record["x"])] == [
        ("first_response", "d", 1), ("resolution", "d", 1), ("eta", "d", 1)]


def test_a_restarted_engine_rebuilds_every_clocks_gauges(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, priority="P1"))
    run.apply(acknowledged("t1", at=5))
    run.apply(opened("t2", at=0, priority="P2"))
    run.apply(status_changed("t2", at=3, status="waiting_on_customer"))
    run.advance(40)
    restarted = SloEngine(policy, run.store)
    assert restarted.clock_counts() == run.engine.clock_counts() == {
        ("eta", "P1"): (1, 0, 1), ("resolution", "P1"): (1, 0, 0),
        ("first_response", "P2"): (1, 0, 0), ("resolution", "P2"): (1, 1, 0)}
    assert restarted.soonest_deadlines_by_group() == run.engine.soonest_deadlines_by_group() == {
        ("resolution", "P1"): clock(120), ("first_response", "P2"): clock(60)}


def test_a_priority_change_too_late_for_one_clock_moves_the_others(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, priority="P1"))  # first response due at 30, resolution at 120
    run.apply(priority_changed("t1", at=40, priority="P3"), now=40)
    # In event time first_response was breached at 30: it keeps P1; resolution now runs as P3 (2 days).
    assert by_objective(run, "slo.breached") == [("first_response", "P1", "2024-05-01T00:30:00Z")]
    assert run.engine.clock_counts() == {("first_response", "P1"): (1, 0, 1), ("resolution", "P3"): (1, 0, 0)}
    run.apply(acknowledged("t1", at=50))
    [outcome] = run.models("slo.completed")
    assert (outcome.objective, outcome.priority, outcome.met) == ("first_response", "P1", False)  # type: ignore[attr-defined]
    assert SloEngine(policy, run.store).clock_counts() == {("resolution", "P3"): (1, 0, 0), ("eta", "P3"): (1, 0, 0)}
