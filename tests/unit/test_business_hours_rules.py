"""The first-response rules on business-hours plans, customers' contracts, and a policy change.

T0 is Wednesday 2024-05-01 00:00 UTC, a public holiday in Germany (Labour Day). Berlin is
on summer time (UTC+2) all month, so 08:00 local is 06:00 UTC. The ``office`` calendar
works Monday to Friday 08:00-12:00 and 13:00-17:30. Every expected instant below was
worked out by hand from those facts; ``minute(day, hh, mm)`` turns a local Berlin wall
time on ``2024-05-<day>`` into the script's minutes after T0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ticket_slo.schemas.policy import Policy, load_policy
from ticket_slo.streams.core.engine import SloEngine
from tests.unit.script import Run, acknowledged, clock, opened, priority_changed

POLICY = """
calendars:
  office:
    timezone: Europe/Berlin
    hours:
      mon-fri: ["08:00-12:00", "13:00-17:30"]
    holidays:
      country: DE
plans:
  default:
    objectives:
      first_response: {P1: 30m, P2: 60m, P3: 4h, P4: 8h}
  business:
    calendar: office
    warn_at: [0.5]
    objectives:
      first_response: {P1: 2h, P2: 4h, P3: 1d, P4: 2d}
  gold:
    objectives:
      first_response: {P1: 15m, P2: 30m, P3: 2h, P4: 4h}
  advice-only:
    objectives: {}
contracts:
  acme-gold:
    customers: [acme, acme-eu]
    plan: gold
    account_manager: dana
  initech-office:
    customers: [initech]
    plan: business
  hooli-none:
    customers: [hooli]
    plan: advice-only
"""


def minute(day: int, hour: int, mins: int = 0) -> float:
    """Minutes after T0 of Berlin wall time ``2024-05-<day> hour:mins`` (UTC+2 in May)."""
    return (day - 1) * 1440 + (hour - 2) * 60 + mins


@pytest.fixture()
def policy(tmp_path: Path) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return load_policy(path)


def breach_fields(run: Run) -> list[tuple[str, str, str | None, str]]:
    return [(m.deadline.isoformat(), m.calendar, m.contract, m.plan) for m in run.models("slo.breached")]  # type: ignore[attr-defined]


def test_a_holiday_is_skipped(policy: Policy) -> None:
    run = Run(policy=policy)
    # Opened on the holiday at 09:00: counting starts Thursday 08:00, 2 h -> Thursday 10:00 local.
    run.apply(opened("t1", at=minute(1, 9), plan="business", priority="P1"))
    assert run.advance(minute(2, 9)) == [], "half the target is reached at 09:00 exactly: not yet passed"
    assert run.advance(minute(2, 9, 1)) == [("slo.at_risk", "t1", "P1", 0.5)]
    [warning] = run.models("slo.at_risk")
    assert warning.remaining_seconds == 59 * 60  # type: ignore[attr-defined]
    assert run.advance(minute(2, 10)) == []
    assert run.advance(minute(2, 10, 1)) == [("slo.breached", "t1", "P1", "2024-05-02T08:00:00Z")]
    assert breach_fields(run) == [("2024-05-02T08:00:00+00:00", "office", None, "business")]


def test_a_start_in_the_lunch_break_counts_from_its_end(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=minute(2, 12, 30), plan="business", priority="P1"))
    assert run.advance(minute(2, 15)) == [("slo.at_risk", "t1", "P1", 0.5)]
    assert run.advance(minute(2, 15, 1)) == [("slo.breached", "t1", "P1", "2024-05-02T13:00:00Z")]


def test_a_weekend_answer_to_a_friday_ticket_is_on_time(policy: Policy) -> None:
    run = Run(policy=policy)
    # Friday 16:00 + 2 h: 16:00-17:30 is 1h30, then Monday 08:00-08:30.
    run.apply(opened("t1", at=minute(3, 16), plan="business", priority="P1"))
    assert run.engine.next_due() == clock(minute(3, 17))  # the 50% threshold: Friday 17:00
    run.advance(minute(3, 17, 1))
    assert run.apply(acknowledged("t1", at=minute(4, 10))) == [("slo.completed", "t1", "P1", 5400.0, True)]


def test_a_friday_ticket_unanswered_breaches_on_monday_morning(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=minute(3, 16), plan="business", priority="P1"))
    assert run.advance(minute(6, 8, 30)) == [("slo.at_risk", "t1", "P1", 0.5)]
    assert run.advance(minute(6, 8, 31)) == [("slo.breached", "t1", "P1", "2024-05-06T06:30:00Z")]
    # Answered at 09:00: 2h30 of working time, not met.
    assert run.apply(acknowledged("t1", at=minute(6, 9))) == [("slo.completed", "t1", "P1", 9000.0, False)]


def test_elapsed_time_leaves_out_the_lunch_break(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=minute(2, 11), plan="business", priority="P2"))
    assert run.apply(acknowledged("t1", at=minute(2, 14))) == [("slo.completed", "t1", "P2", 7200.0, True)]


def test_a_priority_change_recomputes_the_deadline_in_working_time(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=minute(3, 16), plan="business", priority="P2"))  # 4 h: Monday 10:30
    run.apply(priority_changed("t1", at=minute(3, 17), priority="P1"))  # 2 h from the start: Monday 08:30
    assert run.advance(minute(6, 8, 31))[-1] == ("slo.breached", "t1", "P1", "2024-05-06T06:30:00Z")


def test_a_stop_after_the_deadline_outside_working_hours_is_late_though_no_work_time_passed(policy: Policy) -> None:
    run = Run(policy=policy)
    # Thursday 15:30 + 2 h = Thursday 17:30, the end of the day; answered at 18:00.
    run.apply(opened("t1", at=minute(2, 15, 30), plan="business", priority="P1"))
    assert run.apply(acknowledged("t1", at=minute(2, 18)), now=minute(2, 18)) == [
        ("slo.breached", "t1", "P1", "2024-05-02T15:30:00Z"),
        ("slo.completed", "t1", "P1", 7200.0, False),
    ]


def test_a_plan_on_24_7_is_untouched_by_the_calendars(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=minute(1, 9), priority="P1", customer="someone"))  # the holiday: no matter
    assert run.advance(minute(1, 9, 31))[-1] == ("slo.breached", "t1", "P1", "2024-05-01T07:30:00Z")
    assert breach_fields(run) == [("2024-05-01T07:30:00+00:00", "24/7", None, "default")]


# -- contracts ---------------------------------------------------------------------------------------


def test_a_contract_wins_over_the_events_plan_and_names_itself(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, plan="default", customer="acme-eu", account_manager="sam"))
    assert run.advance(14) == [("slo.at_risk", "t1", "P1", 0.5), ("slo.at_risk", "t1", "P1", 0.75),
                               ("slo.at_risk", "t1", "P1", 0.9)], "gold's 15 m, not default's 30 m"
    assert run.advance(15.5) == [("slo.breached", "t1", "P1", "2024-05-01T00:15:00Z")]
    [breach] = run.models("slo.breached")
    assert (breach.plan, breach.contract, breach.account_manager) == ("gold", "acme-gold", "dana")  # type: ignore[attr-defined]


def test_a_contract_without_an_account_manager_keeps_the_events(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=minute(2, 9), plan="gold", customer="initech", account_manager="sam"))
    run.apply(acknowledged("t1", at=minute(2, 14)))
    [outcome] = run.models("slo.completed")
    assert (outcome.plan, outcome.contract, outcome.calendar, outcome.elapsed_seconds) == (  # type: ignore[attr-defined]
        "business", "initech-office", "office", 4 * 3600.0)


def test_no_contract_leaves_the_events_plan(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, plan="gold", customer="globex"))
    assert run.apply(acknowledged("t1", at=10)) == [("slo.completed", "t1", "P1", 600.0, True)]
    [outcome] = run.models("slo.completed")
    assert (outcome.plan, outcome.contract) == ("gold", None)  # type: ignore[attr-defined]


def test_a_contract_on_a_plan_without_the_objective_makes_the_ticket_not_eligible(policy: Policy) -> None:
    run = Run(policy=policy)
    run.apply(opened("t1", at=0, plan="gold", customer="hooli"))
    assert run.advance(600) == []
    assert run.engine.stats.not_eligible == 1


# -- a worker restarted with another policy ------------------------------------------------------------

BEFORE = "plans:\n  default:\n    objectives:\n      first_response: {P1: 30m, P2: 60m, P3: 4h, P4: 8h}\n"
AFTER = "plans:\n  default:\n    objectives:\n      first_response: {P1: 10m, P2: 20m, P3: 4h, P4: 8h}\n"


def two_policies(tmp_path: Path) -> tuple[Policy, Policy]:
    (tmp_path / "before.yaml").write_text(BEFORE)
    (tmp_path / "after.yaml").write_text("# reworded\n" + AFTER)
    return load_policy(tmp_path / "before.yaml"), load_policy(tmp_path / "after.yaml")


def test_open_clocks_keep_the_deadline_they_were_given(tmp_path: Path) -> None:
    before, after = two_policies(tmp_path)
    run = Run(policy=before)
    run.apply(opened("t1", at=0, priority="P1"))
    restarted = SloEngine(after, run.store)
    assert restarted.advance(clock(15)) == [], "under the new 10 m target t1 would be late; its 30 m stand"
    [late] = restarted.advance(clock(30.5))
    assert (late.model.deadline.isoformat(), late.model.policy_version) == (  # type: ignore[attr-defined]
        "2024-05-01T00:30:00+00:00", before.version)


def test_a_change_of_terms_after_the_restart_takes_the_new_policy(tmp_path: Path) -> None:
    before, after = two_policies(tmp_path)
    run = Run(policy=before)
    run.apply(opened("t1", at=0, priority="P1"))
    restarted = SloEngine(after, run.store)
    restarted.apply(priority_changed("t1", at=5, priority="P2"), clock(5))  # the new P2: 20 m from the start
    assert restarted.advance(clock(20)) != [], "the new terms' warnings"
    [late] = restarted.advance(clock(20.5))
    assert (late.model.deadline.isoformat(), late.model.policy_version) == (  # type: ignore[attr-defined]
        "2024-05-01T00:20:00+00:00", after.version)


def test_the_version_names_the_meaning_not_the_layout(tmp_path: Path) -> None:
    before, after = two_policies(tmp_path)
    (tmp_path / "same.yaml").write_text("# a comment\nplans:\n  default:\n    objectives:\n"
                                        "      first_response: {P4: 8h, P3: 240m, P2: 1h, P1: 1800}\n")
    assert load_policy(tmp_path / "same.yaml").version == before.version
    assert after.version != before.version
    assert len(before.version) == 12


def test_a_restart_indexes_the_business_deadline_from_records_and_from_stored_values(policy: Policy) -> None:
    from ticket_slo.streams.core.changelog_codec import encode_record
    from ticket_slo.streams.core.ticket_state import TicketState

    run = Run(policy=policy)
    run.apply(opened("t1", at=minute(1, 9), plan="business", priority="P1"))  # due Thursday 10:00 local
    restarted = SloEngine(policy, run.store)
    assert restarted.soonest_deadlines() == {"P1": clock(minute(2, 10))}
    [(ticket, record)] = list(run.store.items())
    scan = TicketState.index_records([(ticket, encode_record(record))])
    assert scan.deadlines == {("first_response", "P1"): [(round(clock(minute(2, 10)) * 1_000_000), "t1")]}
