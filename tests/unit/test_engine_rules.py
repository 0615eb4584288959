"""One test per engine rule, as readable event scripts (times in minutes after T0).

Default policy: P1 30m, P2 60m, P3 4h, P4 8h; warnings at 50%, 75%, 90%.
"""

from __future__ import annotations

import uuid

from ticket_slo.schemas.outputs import SloBreached, SloBreachRetracted, SloCompleted
from ticket_slo.schemas.outputs import breach_id as breach_id_of
from tests.unit.script import (
    Run,
    acknowledged,
    assigned,
    clock,
    closed,
    eta_reported,
    opened,
    priority_changed,
    reopened,
    resolved,
    status_changed,
)

ONE_SECOND = 1 / 60  # in minutes


# -- rule 1: start, target, deadline ---------------------------------------------------------


def test_rule1_clock_starts_at_opening_and_deadline_is_start_plus_target_of_priority() -> None:
    run = Run()
    assert run.apply(opened("t1", at=0, priority="P2")) == []
    assert run.engine.next_due() == clock(30)  # first warning: 50% of 60 minutes
    assert run.advance(60) == [
        ("slo.at_risk", "t1", "P2", 0.5),
        ("slo.at_risk", "t1", "P2", 0.75),
        ("slo.at_risk", "t1", "P2", 0.9),
    ]
    assert run.advance(60 + ONE_SECOND) == [("slo.breached", "t1", "P2", "2024-05-01T01:00:00Z")]
    [breach] = run.models("slo.breached")
    assert isinstance(breach, SloBreached)
    dumped = breach.model_dump(mode="json")
    assert dumped["started_at"] == "2024-05-01T00:00:00Z"
    assert dumped["target_seconds"] == 3600.0
    assert dumped["detected_at"] == "2024-05-01T01:00:01Z"
    assert dumped["objective"] == "first_response"
    assert uuid.UUID(dumped["breach_id"]).version == 5


# -- rule 2: the first stop decides the one outcome ---------------------------------------------


def test_rule2_acknowledgement_stops_the_clock_and_completes_once() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.apply(acknowledged("t1", at=10)) == [("slo.completed", "t1", "P1", 600.0, True)]
    # A stop processed later with an even earlier time does not publish a second outcome.
    assert run.apply(resolved("t1", at=5)) == []
    assert run.apply(closed("t1", at=50)) == []
    assert run.advance(600) == []
    assert len(run.models("slo.completed")) == 1


def test_rule2_resolution_without_acknowledgement_stops_the_clock() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P2"))
    assert run.apply(resolved("t1", at=40)) == [("slo.completed", "t1", "P2", 2400.0, True)]


def test_rule2_close_without_response_stops_the_clock() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P3"))
    assert run.apply(closed("t1", at=90)) == [("slo.completed", "t1", "P3", 5400.0, True)]


def test_rule2_stop_exactly_at_the_deadline_is_met() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.apply(acknowledged("t1", at=30)) == [("slo.completed", "t1", "P1", 1800.0, True)]


def test_rule2_stop_before_the_start_counts_as_zero_elapsed() -> None:
    run = Run()
    run.apply(opened("t1", at=10, priority="P1"))
    assert run.apply(acknowledged("t1", at=4), now=11) == [("slo.completed", "t1", "P1", 0.0, True)]


def test_rule2_outcome_fields() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P4", plan="default", customer="acme"))
    run.apply(acknowledged("t1", at=61))
    [outcome] = run.models("slo.completed")
    assert isinstance(outcome, SloCompleted)
    assert outcome.model_dump(mode="json") == {
        "type": "slo.completed",
        "ticket_id": "t1",
        "objective": "first_response",
        "priority": "P4",
        "plan": "default",
        "customer_id": "acme",
        "contract": None,
        "calendar": "24/7",
        "policy_version": run.engine.policy.version,
        "started_at": "2024-05-01T00:00:00Z",
        "stopped_at": "2024-05-01T01:01:00Z",
        "elapsed_seconds": 3660.0,
        "target_seconds": 28800.0,
        "met": True,
    }


# -- rule 3: priority changes ---------------------------------------------------------------------


def test_rule3_priority_up_after_the_new_deadline_breaches_at_once() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P4"))
    assert run.advance(39) == []  # P4: first warning at 4h
    assert run.apply(priority_changed("t1", at=40, priority="P1")) == [
        # No warnings: their thresholds and the new deadline are all behind the clock.
        ("slo.breached", "t1", "P1", "2024-05-01T00:30:00Z"),  # from the original start
    ]
    assert run.apply(acknowledged("t1", at=45)) == [("slo.completed", "t1", "P1", 2700.0, False)]


def test_rule3_priority_up_fires_only_passed_thresholds_and_reschedules() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P2"))
    assert run.apply(priority_changed("t1", at=20, priority="P1")) == [("slo.at_risk", "t1", "P1", 0.5)]
    assert run.engine.next_due() == clock(22.5)
    assert run.advance(26) == [("slo.at_risk", "t1", "P1", 0.75)]
    assert run.advance(31) == [
        # 90% (27m) passed in the same step as the deadline: the breach alone is published.
        ("slo.breached", "t1", "P1", "2024-05-01T00:30:00Z"),
    ]


def test_rule3_priority_down_extends_the_deadline_from_the_original_start() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.apply(priority_changed("t1", at=10, priority="P3")) == []
    assert run.advance(31) == []
    assert run.engine.next_due() == clock(120)  # 50% of 4h
    assert run.apply(acknowledged("t1", at=100)) == [("slo.completed", "t1", "P3", 6000.0, True)]


def test_rule3_warning_already_sent_is_not_sent_again_after_a_priority_change() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.advance(16) == [("slo.at_risk", "t1", "P1", 0.5)]
    assert run.apply(priority_changed("t1", at=17, priority="P2")) == []  # 50% of P2 is 30m: not yet
    assert run.advance(46) == [("slo.at_risk", "t1", "P2", 0.75)]  # 45m; 0.5 is never repeated


def test_rule3_breach_stands_when_priority_is_lowered_after_the_deadline() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.advance(31)[-1] == ("slo.breached", "t1", "P1", "2024-05-01T00:30:00Z")
    assert run.apply(priority_changed("t1", at=32, priority="P4")) == []
    assert run.apply(acknowledged("t1", at=40)) == [("slo.completed", "t1", "P1", 2400.0, False)]
    assert run.models("slo.breach_retracted") == []


def test_rule3_priority_lowered_after_the_deadline_but_before_it_was_noticed_breaches_at_once() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P2"))
    # No clock tick since the opening; the change happened after the P2 deadline (60m).
    assert run.apply(priority_changed("t1", at=70, priority="P4"), now=0) == [
        ("slo.breached", "t1", "P2", "2024-05-01T01:00:00Z")
    ]
    assert run.models("slo.breached")[0].model_dump(mode="json")["detected_at"] == "2024-05-01T01:10:00Z"
    assert run.apply(acknowledged("t1", at=80)) == [("slo.completed", "t1", "P2", 4800.0, False)]


def test_rule3_priority_change_after_the_stop_does_not_change_the_outcome() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.apply(acknowledged("t1", at=10)) == [("slo.completed", "t1", "P1", 600.0, True)]
    assert run.apply(priority_changed("t1", at=12, priority="P4")) == []
    assert run.advance(600) == []


# -- rule 4: breach ------------------------------------------------------------------------------


def test_rule4_breach_fires_once_strictly_after_the_deadline() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert [item[0] for item in run.advance(30)] == ["slo.at_risk"] * 3  # at the deadline: not yet
    assert run.advance(30 + ONE_SECOND) == [("slo.breached", "t1", "P1", "2024-05-01T00:30:00Z")]
    assert run.advance(600) == []
    assert run.engine.stats.breaches == 1


def test_rule4_stop_after_the_deadline_before_any_tick_breaches_first() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.apply(acknowledged("t1", at=45), now=10) == [
        ("slo.breached", "t1", "P1", "2024-05-01T00:30:00Z"),
        ("slo.completed", "t1", "P1", 2700.0, False),
    ]
    # detected_at = max(now, stop time)
    assert run.models("slo.breached")[0].model_dump(mode="json")["detected_at"] == "2024-05-01T00:45:00Z"


def test_rule4_stop_after_a_timer_breach_does_not_breach_again() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    run.advance(31)
    assert run.apply(acknowledged("t1", at=35)) == [("slo.completed", "t1", "P1", 2100.0, False)]
    assert len(run.models("slo.breached")) == 1


def test_rule4_breach_names_the_account_manager() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1", account_manager="am-42"))
    run.advance(31)
    assert run.models("slo.breached")[0].model_dump()["account_manager"] == "am-42"


# -- rule 5: at-risk warnings -----------------------------------------------------------------------


def test_rule5_each_threshold_warns_once() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.advance(15) == []  # exactly 50%: not yet passed
    assert run.advance(16) == [("slo.at_risk", "t1", "P1", 0.5)]
    assert run.advance(16.5) == []
    assert run.advance(23) == [("slo.at_risk", "t1", "P1", 0.75)]
    [first, _] = run.models("slo.at_risk")
    assert first.model_dump(mode="json") == {
        "type": "slo.at_risk",
        "ticket_id": "t1",
        "objective": "first_response",
        "priority": "P1",
        "plan": "default",
        "customer_id": "c1",
        "contract": None,
        "calendar": "24/7",
        "policy_version": run.engine.policy.version,
        "threshold": 0.5,
        "deadline": "2024-05-01T00:30:00Z",
        "remaining_seconds": 840.0,
        "detected_at": "2024-05-01T00:16:00Z",
    }


def test_rule5_no_warning_is_sent_when_the_stop_is_applied() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.advance(16) == [("slo.at_risk", "t1", "P1", 0.5)]
    # 75% and 90% have passed by 29m, but the response came first: no warning noise.
    assert run.apply(acknowledged("t1", at=29)) == [("slo.completed", "t1", "P1", 1740.0, True)]
    assert run.advance(60) == []


# -- rule 6: late events retract ---------------------------------------------------------------------


def test_rule6_late_acknowledgement_retracts_the_breach() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.advance(31)[-1] == ("slo.breached", "t1", "P1", "2024-05-01T00:30:00Z")
    assert run.apply(acknowledged("t1", at=25), now=31) == [
        ("slo.breach_retracted", "t1", "P1", "2024-05-01T00:30:00Z", "2024-05-01T00:25:00Z"),
        ("slo.completed", "t1", "P1", 1500.0, True),
    ]
    [breach] = run.models("slo.breached")
    [retraction] = run.models("slo.breach_retracted")
    assert isinstance(breach, SloBreached) and isinstance(retraction, SloBreachRetracted)
    assert retraction.breach_id == breach.breach_id


def test_rule6_late_acknowledgement_after_the_deadline_does_not_retract() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    run.advance(40)
    assert run.apply(acknowledged("t1", at=35), now=40) == [("slo.completed", "t1", "P1", 2100.0, False)]


def test_rule6_late_priority_change_from_before_the_deadline_retracts_and_the_clock_runs_on() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    run.advance(31)
    # Lowered to P4 at 20m (before the P1 deadline) but processed only at 31m. The retraction
    # names the breach it takes back: P1, due at 30m; the clock runs on as P4, due at 8h.
    assert run.apply(priority_changed("t1", at=20, priority="P4"), now=31) == [
        ("slo.breach_retracted", "t1", "P1", "2024-05-01T00:30:00Z", None)
    ]
    assert run.engine.soonest_deadlines() == {"P4": clock(480)}
    assert run.apply(acknowledged("t1", at=40)) == [("slo.completed", "t1", "P4", 2400.0, True)]


def test_rule6_a_retraction_carries_the_priority_and_deadline_of_the_breach_it_retracts() -> None:
    """P1 lowered to P3 at 20m, the change processed at 35m, after the P1 breach fired: the
    retraction is P1's, as the breach was, so breaches minus retractions per priority is 0."""
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.advance(31) == [("slo.breached", "t1", "P1", "2024-05-01T00:30:00Z")]
    assert run.apply(priority_changed("t1", at=20, priority="P3"), now=35) == [
        ("slo.breach_retracted", "t1", "P1", "2024-05-01T00:30:00Z", None)
    ]
    [breach] = run.models("slo.breached")
    [retraction] = run.models("slo.breach_retracted")
    assert (retraction.breach_id, retraction.priority, retraction.deadline) == (
        breach.breach_id, breach.priority, breach.deadline)
    assert run.apply(acknowledged("t1", at=50)) == [("slo.completed", "t1", "P3", 3000.0, True)]


def test_a_breach_that_stands_through_a_priority_change_is_retracted_under_its_own_terms() -> None:
    """P1 breached at 30m; lowered to P2 (as of 20m) at 70m, past the new 60m deadline too, so
    the breach stands. A late acknowledgement (45m: within P2's hour) then retracts it: the
    retraction is the P1 breach's (P1, 30m), the outcome the P2 clock's."""
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    run.advance(31)
    assert run.apply(priority_changed("t1", at=20, priority="P2"), now=70) == []
    assert run.apply(acknowledged("t1", at=45), now=75) == [
        ("slo.breach_retracted", "t1", "P1", "2024-05-01T00:30:00Z", "2024-05-01T00:45:00Z"),
        ("slo.completed", "t1", "P2", 2700.0, True),
    ]


def test_a_breach_after_a_retracted_one_has_an_id_of_its_own_and_its_retraction_names_it() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    run.advance(31)
    run.apply(priority_changed("t1", at=20, priority="P2"), now=31)  # retracts: the deadline is now 60m
    run.advance(61)
    run.apply(acknowledged("t1", at=50), now=62)  # late again: the response was in time after all
    breaches = [(e.model.type, e.model.breach_id) for e in run.emitted if e.kind == "breach"]
    assert [kind for kind, _ in breaches] == [
        "slo.breached", "slo.breach_retracted", "slo.breached", "slo.breach_retracted"]
    first, second = breaches[0][1], breaches[2][1]
    assert first != second
    assert [breach_id for _, breach_id in breaches] == [first, first, second, second]
    assert first == breach_id_of("t1", "first_response", 1) and second == breach_id_of("t1", "first_response", 2)


# -- rule 7: out of order and orphans ------------------------------------------------------------------


def test_rule7_events_before_the_opening_are_buffered_and_applied_in_time_order() -> None:
    run = Run()
    assert run.apply(acknowledged("t1", at=50), now=1) == []
    assert run.apply(priority_changed("t1", at=5, priority="P2"), now=2) == []
    assert run.advance(3) == []
    assert run.apply(opened("t1", at=0, priority="P1"), now=60) == [("slo.completed", "t1", "P2", 3000.0, True)]

    in_order = Run()
    in_order.apply(opened("t1", at=0, priority="P1"))
    in_order.apply(priority_changed("t1", at=5, priority="P2"))
    in_order.apply(acknowledged("t1", at=50))
    assert [e.model for e in run.emitted] == [e.model for e in in_order.emitted]


def test_rule7_buffered_stop_after_the_deadline_breaches_then_completes() -> None:
    run = Run()
    run.apply(acknowledged("t1", at=40), now=0)
    assert run.apply(opened("t1", at=0, priority="P1"), now=45) == [
        ("slo.breached", "t1", "P1", "2024-05-01T00:30:00Z"),
        ("slo.completed", "t1", "P1", 2400.0, False),
    ]


def test_rule7_never_opened_ticket_dead_letters_each_buffered_event_as_orphan() -> None:
    from ticket_slo.streams.core.emission import EventSource

    run = Run(orphan_timeout=3600.0)
    run.apply(assigned("t9", at=0), now=0, source=EventSource(topic="ticket-events", partition=3, offset=41))
    run.apply(acknowledged("t9", at=5, event_id="ack-9"), now=5,
              source=EventSource(topic="ticket-events", partition=3, offset=42))
    assert run.advance(60) == []  # one hour after the first buffered event: not yet past
    assert run.advance(60 + ONE_SECOND) == [
        ("dead_letter", "orphan", None),
        ("dead_letter", "orphan", None),
    ]
    letters = [e.model.model_dump(mode="json") for e in run.emitted if e.kind == "dead_letter"]
    assert [(d["topic"], d["partition"], d["offset"]) for d in letters] == [
        ("ticket-events", 3, 41),
        ("ticket-events", 3, 42),
    ]
    assert '"event_id":"ack-9"' in letters[1]["value"]
    assert letters[1]["key"] == "t9"
    assert letters[1]["error"] == "ticket 't9' was not opened within 3600s of its first buffered event"
    assert "t9" not in run.store
    assert run.engine.stats.orphans == 2


def test_rule7_orphan_dead_letter_names_the_replay_source() -> None:
    from ticket_slo.streams.core.emission import EventSource

    run = Run(orphan_timeout=60.0)
    run.apply(closed("t9", at=0), now=0, source=EventSource(location="events.jsonl:7"))
    assert run.advance(2) == [("dead_letter", "orphan", "events.jsonl:7")]


# -- rule 8: reopen --------------------------------------------------------------------------------


def test_rule8_reopen_before_the_response_does_not_restart_the_clock() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.apply(reopened("t1", at=20)) == []
    assert run.advance(31)[-1] == ("slo.breached", "t1", "P1", "2024-05-01T00:30:00Z")


def test_rule8_reopen_after_the_response_does_not_start_a_new_objective() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    run.apply(acknowledged("t1", at=10))
    assert run.apply(reopened("t1", at=60)) == []
    assert run.advance(600) == []
    assert run.apply(acknowledged("t1", at=601)) == []
    assert len(run.models("slo.completed")) == 1


def test_informational_events_do_not_touch_the_clock() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    assert run.apply(assigned("t1", at=1)) == []
    assert run.apply(status_changed("t1", at=2, status="waiting_on_customer")) == []
    assert run.apply(eta_reported("t1", at=3, eta=120)) == []
    assert run.advance(31)[-1] == ("slo.breached", "t1", "P1", "2024-05-01T00:30:00Z")


# -- duplicates ------------------------------------------------------------------------------------


def test_duplicate_event_ids_are_ignored_and_counted() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1", event_id="open-1"))
    assert run.apply(opened("t1", at=0, priority="P1", event_id="open-1")) == []
    assert run.apply(acknowledged("t1", at=10, event_id="ack-1")) == [("slo.completed", "t1", "P1", 600.0, True)]
    assert run.apply(acknowledged("t1", at=10, event_id="ack-1")) == []
    assert run.engine.stats.duplicates == 2
    assert run.engine.stats.events == 2


def test_duplicates_of_buffered_events_are_ignored() -> None:
    run = Run()
    run.apply(acknowledged("t1", at=10, event_id="ack-1"), now=0)
    run.apply(acknowledged("t1", at=10, event_id="ack-1"), now=0)
    assert run.engine.stats.duplicates == 1
    assert run.apply(opened("t1", at=0, priority="P1")) == [("slo.completed", "t1", "P1", 600.0, True)]


def test_same_event_id_on_another_ticket_is_not_a_duplicate() -> None:
    run = Run()
    run.apply(opened("t1", at=0, event_id="shared"))
    assert run.apply(acknowledged("t2", at=1, event_id="shared"), now=1) == []
    assert run.engine.stats.duplicates == 0
    assert run.engine.stats.buffered == 1


# -- closed marker -----------------------------------------------------------------------------------


def test_closed_ticket_becomes_a_marker_that_ignores_events_until_it_expires() -> None:
    run = Run(closed_retention=3600.0)
    run.apply(opened("t1", at=0, priority="P1", event_id="open-1"))
    assert run.apply(closed("t1", at=10)) == [("slo.completed", "t1", "P1", 600.0, True)]
    # Its seen ids, its retention timer, and what the status API shows of it: the customer,
    # the priority and whether the clock met; no terms, no clock timers.
    record = run.store.get("t1") or {}
    assert set(record) == {"ph", "s", "d", "ca", "p", "c", "cs", "m"}
    assert (record["ph"], record["cs"], record["m"]) == ("c", "d", 1)

    assert run.apply(opened("t1", at=20, priority="P1", event_id="open-1")) == []  # duplicate
    assert run.apply(opened("t1", at=20, priority="P1", event_id="open-2")) == []  # new id, still closed
    assert run.apply(acknowledged("t1", at=21)) == []
    assert run.engine.stats.duplicates == 1
    assert run.engine.stats.ignored_closed == 2
    assert run.advance(500) == []  # no new clock was started

    assert run.advance(70) == []  # closed at 10m (engine clock) + 60m retention: already past
    assert "t1" not in run.store
    assert run.engine.stats.expired_closed == 1


def test_closed_marker_expiry_is_strictly_after_the_retention() -> None:
    run = Run(closed_retention=3600.0)
    run.apply(opened("t1", at=0))
    run.apply(closed("t1", at=10))
    run.advance(70)
    assert "t1" in run.store
    run.advance(70 + ONE_SECOND)
    assert "t1" not in run.store


# -- plans --------------------------------------------------------------------------------------------


def test_plan_without_first_response_is_not_eligible_but_keeps_its_events_from_being_orphans(tmp_path) -> None:
    from ticket_slo.schemas.policy import load_policy

    path = tmp_path / "policy.yaml"
    path.write_text(
        "plans:\n"
        "  default:\n"
        "    objectives:\n"
        "      first_response: {P1: 30m, P2: 60m, P3: 4h, P4: 8h}\n"
        "  community: {}\n"
    )
    run = Run(policy=load_policy(path), orphan_timeout=3600.0)
    assert run.apply(opened("t1", at=0, priority="P1", plan="community")) == []
    assert run.engine.open_clocks() == 0
    assert run.advance(600) == []
    assert run.apply(acknowledged("t1", at=601)) == []
    assert run.advance(2000) == []  # no orphan dead letters: the ticket is known
    assert run.engine.stats.not_eligible == 1
    assert "t1" in run.store


def test_unknown_plan_falls_back_to_default_and_keeps_its_name_in_outputs() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1", plan="platinum"))
    assert run.advance(31)[-1] == ("slo.breached", "t1", "P1", "2024-05-01T00:30:00Z")
    assert run.models("slo.breached")[0].model_dump()["plan"] == "platinum"
    assert run.engine.stats.unknown_plan == 1


# -- gauges, restart ------------------------------------------------------------------------------------


def test_open_clock_counts_follow_opening_priority_change_and_stop() -> None:
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    run.apply(opened("t2", at=0, priority="P1"))
    run.apply(opened("t3", at=0, priority="P3"))
    assert run.engine.open_clocks_by_priority() == {"P1": 2, "P2": 0, "P3": 1, "P4": 0}
    run.apply(priority_changed("t2", at=1, priority="P4"))
    run.apply(acknowledged("t1", at=2))
    run.advance(31)  # breached t3? no: P3 is 4h. Nothing changes the counts here.
    assert run.engine.open_clocks_by_priority() == {"P1": 0, "P2": 0, "P3": 1, "P4": 1}
    run.apply(closed("t3", at=40))
    assert run.engine.open_clocks() == 1


def test_breached_clock_counts_follow_breach_retraction_and_answer() -> None:
    """A clock counts as breached from its breach until it is answered or the breach is
    retracted, under the clock's current priority; a restarted engine counts the same."""
    from ticket_slo.streams.core.engine import SloEngine

    none = {"P1": 0, "P2": 0, "P3": 0, "P4": 0}
    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    run.apply(opened("t2", at=0, priority="P1"))
    run.apply(opened("t3", at=0, priority="P2"))
    run.apply(opened("t4", at=0, priority="P1"))
    assert run.engine.breached_clocks_by_priority() == none
    run.advance(31)  # t1, t2, t4 breach (P1: 30m)
    assert run.engine.breached_clocks_by_priority() == none | {"P1": 3}
    assert run.engine.open_clocks_by_priority() == none | {"P1": 3, "P2": 1}
    run.apply(priority_changed("t2", at=20, priority="P3"), now=32)  # late: retracted, runs on as P3
    run.apply(priority_changed("t4", at=20, priority="P2"), now=62)  # late, but P2's hour is past too: stands
    assert run.engine.breached_clocks_by_priority() == none | {"P1": 1, "P2": 1}
    run.advance(62)  # t3 breaches (P2: 60m)
    assert run.engine.breached_clocks_by_priority() == none | {"P1": 1, "P2": 2}
    run.apply(acknowledged("t1", at=63))  # answered late: no longer open
    assert run.engine.breached_clocks_by_priority() == none | {"P2": 2}
    assert run.engine.open_clocks_by_priority() == none | {"P2": 2, "P3": 1}
    restarted = SloEngine(run.policy, run.store)
    assert restarted.breached_clocks_by_priority() == run.engine.breached_clocks_by_priority()
    run.apply(closed("t4", at=64))
    run.apply(acknowledged("t3", at=64))
    assert run.engine.breached_clocks_by_priority() == none


def test_restarted_engine_rebuilds_timers_and_counts_from_the_store() -> None:
    from ticket_slo.streams.core.engine import SloEngine

    run = Run()
    run.apply(opened("t1", at=0, priority="P1"))
    run.apply(opened("t2", at=0, priority="P2"))
    run.advance(16)  # t1 warned at 50%
    restarted = SloEngine(run.policy, run.store)
    assert restarted.open_clocks_by_priority() == {"P1": 1, "P2": 1, "P3": 0, "P4": 0}
    assert restarted.next_due() == clock(22.5)
    kinds = [(e.model.type, e.key) for e in restarted.advance(clock(28))]
    assert kinds == [("slo.at_risk", "t1"), ("slo.at_risk", "t1")]  # 75% and 90%, deadline ahead
    kinds = [(e.model.type, e.key) for e in restarted.advance(clock(61))]
    assert kinds == [("slo.breached", "t1"), ("slo.breached", "t2")]  # t2's warnings were overtaken


def test_buffer_is_bounded_and_overflow_is_dead_lettered_at_once() -> None:
    from ticket_slo.schemas.policy import load_policy
    from ticket_slo.streams.core.engine import SloEngine
    from ticket_slo.streams.core.state_store import DictStateStore

    from ticket_slo.streams.core.effects import Applied, Effect

    engine = SloEngine(load_policy(), DictStateStore(), buffer_limit=2)
    assert engine.apply(assigned("t1", at=0), clock(0)) == Applied(Effect.BUFFERED, [])
    assert engine.apply(assigned("t1", at=1), clock(1)) == Applied(Effect.BUFFERED, [])
    effect, [overflow], *_ = engine.apply(acknowledged("t1", at=2), clock(2))
    assert effect is Effect.ORPHANED and overflow.kind == "dead_letter"
    assert overflow.model.model_dump()["error"] == "ticket 't1' already has 2 events waiting for ticket.opened"
    assert engine.stats.buffered == 2 and engine.stats.orphans == 1


def test_engine_rejects_nonsense_settings() -> None:
    import pytest

    from ticket_slo.schemas.policy import load_policy
    from ticket_slo.streams.core.engine import SloEngine
    from ticket_slo.streams.core.state_store import DictStateStore

    with pytest.raises(ValueError, match="orphan_timeout must be a positive number of seconds, got 0"):
        SloEngine(load_policy(), DictStateStore(), orphan_timeout=0)
    with pytest.raises(ValueError, match="seen_limit must be at least 1, got 0"):
        SloEngine(load_policy(), DictStateStore(), seen_limit=0)


def test_apply_gives_the_events_instant_in_microseconds_it_computed_for_the_worker_lag() -> None:
    from ticket_slo.schemas.policy import load_policy
    from ticket_slo.streams.core.engine import SloEngine
    from ticket_slo.streams.core.state_store import DictStateStore

    engine = SloEngine(load_policy(), DictStateStore())
    t0_us = 1_714_521_600 * 1_000_000  # T0, by hand
    assert engine.apply(assigned("t1", at=0), clock(0)).occurred is None  # buffered: not computed
    assert engine.apply(opened("t1", at=1), clock(1)).occurred == t0_us + 60_000_000
    assert engine.apply(acknowledged("t1", at=2.5), clock(3)).occurred == t0_us + 150_000_000
    assert engine.apply(closed("t1", at=4), clock(4)).occurred == t0_us + 240_000_000
    assert engine.apply(acknowledged("t1", at=5), clock(5)).occurred == t0_us + 300_000_000  # ignored: closed
    repeat = acknowledged("t2", at=1, event_id="same")
    engine.apply(opened("t2", at=0), clock(1))
    engine.apply(repeat, clock(1))
    assert engine.apply(repeat, clock(1)).occurred is None  # a duplicate
