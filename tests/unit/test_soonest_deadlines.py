"""The soonest upcoming deadline per priority follows openings, changes, stops, breaches and restarts."""

from __future__ import annotations

from ticket_slo.streams.core.engine import SloEngine
from tests.unit.script import Run, acknowledged, clock, opened, priority_changed


def test_soonest_deadline_per_priority_follows_the_clocks() -> None:
    run = Run()
    assert run.engine.soonest_deadlines() == {}
    run.apply(opened("a", at=0, priority="P1"))   # deadline 30m
    run.apply(opened("b", at=5, priority="P1"))   # deadline 35m
    run.apply(opened("c", at=0, priority="P2"))   # deadline 60m
    assert run.engine.soonest_deadlines() == {"P1": clock(30), "P2": clock(60)}

    run.apply(acknowledged("a", at=10))           # a stops: b is now the soonest P1
    assert run.engine.soonest_deadlines() == {"P1": clock(35), "P2": clock(60)}

    run.apply(priority_changed("c", at=12, priority="P1"))  # c becomes P1, deadline 30m
    assert run.engine.soonest_deadlines() == {"P1": clock(30)}

    run.advance(31)                               # c breaches: a breached clock has no upcoming deadline
    assert run.engine.soonest_deadlines() == {"P1": clock(35)}
    run.advance(36)
    assert run.engine.soonest_deadlines() == {}


def test_rebuilt_engine_knows_the_soonest_deadlines() -> None:
    run = Run()
    run.apply(opened("a", at=0, priority="P3"))
    run.apply(opened("b", at=0, priority="P4"))
    restarted = SloEngine(run.policy, run.store)
    assert restarted.soonest_deadlines() == {"P3": clock(240), "P4": clock(480)}
