"""What ``SloEngine.apply`` says an event did, one case each (times in minutes after T0)."""

from __future__ import annotations

from pathlib import Path

from ticket_slo.schemas.events import TicketEvent
from ticket_slo.schemas.policy import load_policy
from ticket_slo.streams.core.effects import Applied, Effect, Ignored
from tests.unit.script import Run, acknowledged, assigned, clock, closed, opened, priority_changed


def apply(run: Run, event: TicketEvent, at: float | None = None) -> tuple[Effect, list[str], tuple[Ignored, ...]]:
    """(effect, output types, ignored reasons) of one event applied at ``at`` minutes (default: its own time)."""
    minutes = at if at is not None else (event.occurred_at.timestamp() - clock(0)) / 60
    applied = run.engine.apply(event, clock(minutes))
    assert isinstance(applied, Applied)
    types = [getattr(emission.model, "type", "dead_letter") for emission in applied.emissions]
    return applied.effect, types, applied.ignored


def test_an_opening_on_an_eligible_plan_starts_a_clock() -> None:
    assert apply(Run(), opened("t1", at=0)) == (Effect.CLOCK_STARTED, [], ())


def test_an_opening_on_a_plan_without_the_objective_is_not_eligible(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("plans:\n  default:\n    objectives:\n      first_response: {P1: 30m, P2: 1h, P3: 4h, P4: 8h}\n"
                    "  community: {}\n")
    assert apply(Run(policy=load_policy(path)), opened("t1", at=0, plan="community")) == (Effect.NOT_ELIGIBLE, [], ())


def test_a_seen_event_id_is_a_duplicate_and_changes_nothing() -> None:
    run = Run()
    apply(run, opened("t1", at=0, event_id="same"))
    assert apply(run, acknowledged("t1", at=5, event_id="same")) == (Effect.DUPLICATE, [], ())
    assert run.engine.open_clocks() == 1


def test_an_event_before_the_opening_is_buffered() -> None:
    assert apply(Run(), assigned("t1", at=0)) == (Effect.BUFFERED, [], ())


def test_an_acknowledgement_is_applied_with_its_outcome() -> None:
    run = Run()
    apply(run, opened("t1", at=0))
    assert apply(run, acknowledged("t1", at=5)) == (Effect.APPLIED, ["slo.completed"], ())


def test_a_late_priority_change_is_applied_with_the_breach_it_reveals() -> None:
    run = Run()
    apply(run, opened("t1", at=0, priority="P3"))
    assert apply(run, priority_changed("t1", at=40, priority="P1")) == (Effect.APPLIED, ["slo.breached"], ())


def test_events_for_a_closed_ticket_are_ignored_as_closed() -> None:
    run = Run()
    apply(run, opened("t1", at=0))
    apply(run, closed("t1", at=1))
    assert apply(run, acknowledged("t1", at=2)) == (Effect.IGNORED, [], (Ignored.TICKET_CLOSED,))


def test_a_second_opening_is_ignored_as_already_opened() -> None:
    run = Run()
    apply(run, opened("t1", at=0))
    assert apply(run, opened("t1", at=1)) == (Effect.IGNORED, [], (Ignored.ALREADY_OPENED,))


def test_an_opening_names_each_buffered_event_it_found_already_closed() -> None:
    run = Run()
    apply(run, closed("t1", at=2))
    apply(run, assigned("t1", at=3))
    apply(run, acknowledged("t1", at=4))
    effect, types, ignored = apply(run, opened("t1", at=0), at=5)
    assert (effect, ignored) == (Effect.CLOCK_STARTED, (Ignored.TICKET_CLOSED, Ignored.TICKET_CLOSED))
    assert types == ["slo.completed"]  # the buffered close, 2 minutes in: met
    assert run.engine.stats.ignored_closed == 2


def test_the_ignored_reasons_are_the_metric_labels() -> None:
    assert [reason.value for reason in Ignored] == ["ticket_closed", "already_opened"]
