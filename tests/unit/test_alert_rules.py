"""The alert bridge's rules, one test per rule, on the pure ``AlertBook``: which alerts fire
and which resolve after each output, whatever order three topics are read in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ticket_slo.schemas.outputs import SloAtRisk, SloBreached, SloBreachRetracted, SloCompleted, breach_id
from ticket_slo.streams.alerting.alert_book import AlertBook
from ticket_slo.streams.alerting.ticket_alerts import AlertRules, TicketAlerts, describe_span

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
DEFAULT = AlertRules(priorities=frozenset({"P1", "P2"}), thresholds="last", last_threshold=lambda plan: 0.9)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def breached(ticket: str = "T-1", priority: str = "P1", deadline: float = 30, cycle: int = 1) -> SloBreached:
    return SloBreached(breach_id=breach_id(ticket, "first_response", cycle), ticket_id=ticket,
                       objective="first_response", priority=priority, plan="gold", customer_id="acme",
                       account_manager="ann", started_at=at(0), deadline=at(deadline),
                       target_seconds=deadline * 60, detected_at=at(deadline) + timedelta(seconds=1))


def retracted(ticket: str = "T-1", stopped: float | None = None, deadline: float = 30,
              cycle: int = 1) -> SloBreachRetracted:
    return SloBreachRetracted(breach_id=breach_id(ticket, "first_response", cycle), ticket_id=ticket,
                              objective="first_response", priority="P1", plan="gold", customer_id="acme",
                              deadline=at(deadline), stopped_at=None if stopped is None else at(stopped),
                              detected_at=at(40))


def at_risk(ticket: str = "T-1", priority: str = "P1", threshold: float = 0.9, deadline: float = 30) -> SloAtRisk:
    return SloAtRisk(ticket_id=ticket, objective="first_response", priority=priority, plan="gold",
                     customer_id="acme", threshold=threshold, deadline=at(deadline),
                     remaining_seconds=deadline * 60 * (1 - threshold), detected_at=at(deadline * threshold))


def completed(ticket: str = "T-1", stopped: float = 45, priority: str = "P1") -> SloCompleted:
    return SloCompleted(ticket_id=ticket, objective="first_response", priority=priority, plan="gold",
                        customer_id="acme", started_at=at(0), stopped_at=at(stopped), elapsed_seconds=stopped * 60,
                        target_seconds=1800, met=stopped <= 30)


def names(alerts: list) -> list[tuple[str, str]]:
    return sorted((alert.name, alert.ticket_id) for alert in alerts)


def test_a_breach_of_a_paging_priority_opens_one_alert_with_its_labels() -> None:
    book = AlertBook(DEFAULT)
    changes = book.apply([breached()])
    assert names(changes.firing) == [("TicketSloTicketBreached", "T-1")]
    assert changes.firing[0].labels() == {"alertname": "TicketSloTicketBreached", "severity": "page",
                                          "ticket_id": "T-1", "objective": "first_response", "priority": "P1",
                                          "plan": "gold"}
    notes = changes.firing[0].annotations(at(42))
    assert (notes["ticket"], notes["customer"], notes["account_manager"], notes["deadline"], notes["late_by"]) == (
        "T-1", "acme", "ann", "2026-11-30T09:30:00Z", "12m 00s")
    assert changes.resolved == [] and list(changes.states) == [("T-1", "first_response")]


def test_the_same_breach_again_changes_nothing_and_the_alert_stays_open() -> None:
    book = AlertBook(DEFAULT)
    book.apply([breached()])
    again = book.apply([breached()])
    assert not again
    assert names(book.open_alerts()) == [("TicketSloTicketBreached", "T-1")]


def test_the_outcome_resolves_the_breach_alert() -> None:
    book = AlertBook(DEFAULT)
    book.apply([breached()])
    changes = book.apply([completed(stopped=45)])
    assert changes.firing == [] and names(changes.resolved) == [("TicketSloTicketBreached", "T-1")]
    assert book.open_alerts() == []


def test_the_outcome_resolves_even_when_the_priority_changed_since_the_breach() -> None:
    book = AlertBook(DEFAULT)
    book.apply([breached(priority="P1")])
    assert names(book.apply([completed(priority="P4")]).resolved) == [("TicketSloTicketBreached", "T-1")]


def test_a_retraction_by_a_late_priority_change_resolves_and_the_clock_runs_on() -> None:
    book = AlertBook(DEFAULT)
    book.apply([breached(deadline=30)])
    changes = book.apply([retracted(stopped=None)])
    assert names(changes.resolved) == [("TicketSloTicketBreached", "T-1")]
    # the new deadline passes too: the second cycle's breach pages again
    assert names(book.apply([breached(deadline=60, cycle=2)]).firing) == [("TicketSloTicketBreached", "T-1")]


def test_a_retraction_by_a_late_stop_resolves_and_nothing_opens_after_it() -> None:
    book = AlertBook(DEFAULT)
    book.apply([breached()])
    assert names(book.apply([retracted(stopped=29)]).resolved) == [("TicketSloTicketBreached", "T-1")]
    assert not book.apply([at_risk(deadline=30)]).firing


def test_a_retraction_of_another_cycle_leaves_the_open_breach_alone() -> None:
    book = AlertBook(DEFAULT)
    book.apply([breached(deadline=60, cycle=2)])
    assert book.apply([retracted(cycle=1)]).resolved == []


def test_the_last_warning_notifies_with_a_lower_severity_then_the_breach_supersedes_it() -> None:
    book = AlertBook(DEFAULT)
    assert book.apply([at_risk(threshold=0.5), at_risk(threshold=0.75)]).firing == []
    changes = book.apply([at_risk(threshold=0.9)])
    assert names(changes.firing) == [("TicketSloTicketAtRisk", "T-1")]
    assert changes.firing[0].labels()["severity"] == "warning"
    assert changes.firing[0].annotations(at(28))["time_left"] == "2m 00s"
    changes = book.apply([breached()])
    assert names(changes.firing) == [("TicketSloTicketBreached", "T-1")]
    assert names(changes.resolved) == [("TicketSloTicketAtRisk", "T-1")]


@pytest.mark.parametrize("closing", [completed(stopped=28), retracted(stopped=28)], ids=["outcome", "retraction"])
def test_the_outcome_or_a_retraction_resolves_the_warning(closing: object) -> None:
    book = AlertBook(DEFAULT)
    book.apply([at_risk()])
    assert names(book.apply([closing]).resolved) == [("TicketSloTicketAtRisk", "T-1")]  # type: ignore[list-item]


def test_priorities_that_do_not_page_open_nothing() -> None:
    book = AlertBook(DEFAULT)
    changes = book.apply([at_risk(priority="P3"), breached(priority="P3"), breached("T-4", priority="P4")])
    assert changes.firing == [] and book.open_alerts() == []


def test_the_configuration_chooses_priorities_and_thresholds() -> None:
    rules = AlertRules(priorities=frozenset({"P3"}), thresholds=frozenset({0.5}))
    book = AlertBook(rules)
    assert names(book.apply([at_risk(priority="P3", threshold=0.5)]).firing) == [("TicketSloTicketAtRisk", "T-1")]
    assert names(book.apply([breached("T-2", priority="P3")]).firing) == [("TicketSloTicketBreached", "T-2")]
    assert book.apply([breached("T-3", priority="P1")]).firing == []
    assert AlertBook(AlertRules(frozenset({"P1"}), "none")).apply([at_risk()]).firing == []
    assert AlertBook(AlertRules(frozenset({"P1"}), "all")).apply([at_risk(threshold=0.5)]).firing


def test_a_breach_read_after_its_outcome_from_another_topic_opens_nothing() -> None:
    book = AlertBook(DEFAULT)
    book.apply([completed(stopped=45)])
    assert not book.apply([breached()]).firing
    assert not book.apply([at_risk()]).firing


def test_a_warning_read_after_its_breach_from_another_topic_opens_nothing() -> None:
    book = AlertBook(DEFAULT)
    book.apply([breached()])
    assert book.apply([at_risk(threshold=0.9)]).firing == []
    assert names(book.open_alerts()) == [("TicketSloTicketBreached", "T-1")]


def test_an_alert_opened_and_closed_within_one_batch_is_never_posted() -> None:
    book = AlertBook(DEFAULT)
    changes = book.apply([breached(), completed(stopped=45)])
    assert changes.firing == [] and changes.resolved == []
    assert changes.states[("T-1", "first_response")] is not None  # the closed marker is kept


def test_a_warning_for_a_later_deadline_that_does_not_notify_resolves_the_stale_one() -> None:
    book = AlertBook(DEFAULT)
    book.apply([at_risk(priority="P1", deadline=30)])
    changes = book.apply([at_risk(priority="P3", threshold=0.5, deadline=240)])
    assert names(changes.resolved) == [("TicketSloTicketAtRisk", "T-1")]


def test_the_state_survives_its_stored_form_and_closed_tickets_are_forgotten_later() -> None:
    book = AlertBook(DEFAULT)
    book.apply([breached("T-1"), at_risk("T-2"), completed("T-3", stopped=10)])
    stored = [TicketAlerts.from_bytes(book.get(t, "first_response").to_bytes())  # type: ignore[union-attr]
              for t in ("T-1", "T-2", "T-3")]
    restored = AlertBook(DEFAULT, stored)
    assert names(restored.open_alerts()) == names(book.open_alerts())
    assert not restored.apply([breached("T-1"), at_risk("T-2"), breached("T-3")])
    assert restored.forget_closed(at(5)) == []
    assert restored.forget_closed(at(11)) == [("T-3", "first_response")]


def test_a_state_left_empty_is_a_tombstone_and_one_never_stored_is_not_written() -> None:
    book = AlertBook(DEFAULT)
    book.apply([at_risk()])
    changes = book.apply([at_risk(priority="P3", threshold=0.5, deadline=240)])
    assert changes.states == {("T-1", "first_response"): None} and len(book) == 0
    assert AlertBook(DEFAULT).apply([at_risk(priority="P4")]).states == {}
    retraction = AlertBook(DEFAULT)
    retraction.apply([breached()])
    # after a retraction the breach's deadline is still remembered, to recognise stale warnings
    assert retraction.apply([retracted(stopped=None)]).states[("T-1", "first_response")] is not None


@pytest.mark.parametrize("seconds, text", [(-5, "0s"), (45, "45s"), (750, "12m 30s"), (3900, "1h 05m"),
                                           (90000, "1d 1h")])
def test_spans_read_at_a_glance(seconds: int, text: str) -> None:
    assert describe_span(timedelta(seconds=seconds)) == text


def test_a_backlog_absorbed_over_several_batches_posts_only_its_net_result() -> None:
    book = AlertBook(DEFAULT, [TicketAlerts("OLD", "first_response")])
    book.apply([breached("OPEN")])
    book.absorb([breached("T-1"), at_risk("T-2")])
    assert names(book.settled_alerts()) == [("TicketSloTicketBreached", "OPEN")]  # refreshed meanwhile
    book.absorb([completed("T-1"), completed("OPEN")])
    changes = book.take_changes()
    assert names(changes.firing) == [("TicketSloTicketAtRisk", "T-2")]
    assert names(changes.resolved) == [("TicketSloTicketBreached", "OPEN")]
    assert not book.take_changes()
