"""The SLA report's figures: period membership, attainment, breaches net of retractions, lateness.

Records are written here as JSON by hand, the way the topics and ``replay`` carry them;
every expected figure is counted by hand from the records above it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.schemas.policy import load_policy
from ticket_slo.streams.reporting.period import ReportPeriod
from ticket_slo.streams.reporting.records import ReportRecords
from ticket_slo.streams.reporting.sla_figures import Selection, compute_figures, response_buckets
from ticket_slo.streams.tools.sla_report import customers_of_manager

NOV = ReportPeriod.parse("2026-11-01", "2026-12-01")


def outcome(ticket: str, *, stopped: str, elapsed: float, target: float = 1800.0, priority: str = "P1",
            customer: str = "acme", objective: str = "first_response", started: str = "2026-11-10T08:00:00Z",
            version: str = "v1") -> str:
    return json.dumps({"type": "slo.completed", "ticket_id": ticket, "objective": objective, "priority": priority,
                       "plan": "default", "customer_id": customer, "policy_version": version,
                       "started_at": started, "stopped_at": stopped, "elapsed_seconds": elapsed,
                       "target_seconds": target, "met": elapsed <= target})


def breach(ticket: str, *, deadline: str, breach_id: str, priority: str = "P1", customer: str = "acme",
           started: str = "2026-11-10T08:00:00Z", manager: str | None = None, version: str = "v1") -> str:
    return json.dumps({"type": "slo.breached", "breach_id": breach_id, "ticket_id": ticket,
                       "objective": "first_response", "priority": priority, "plan": "default",
                       "customer_id": customer, "account_manager": manager, "policy_version": version,
                       "started_at": started, "deadline": deadline, "target_seconds": 1800.0,
                       "detected_at": deadline})


def retraction(ticket: str, *, deadline: str, breach_id: str, stopped: str | None) -> str:
    return json.dumps({"type": "slo.breach_retracted", "breach_id": breach_id, "ticket_id": ticket,
                       "objective": "first_response", "priority": "P1", "plan": "default", "customer_id": "acme",
                       "deadline": deadline, "stopped_at": stopped, "detected_at": "2026-11-20T00:00:00Z"})


def records_of(*lines: str) -> ReportRecords:
    records = ReportRecords()
    records.add_lines(list(lines), "test.jsonl")
    return records


def test_outcomes_count_by_stopped_at_and_breaches_by_deadline() -> None:
    records = records_of(
        outcome("a", stopped="2026-11-10T08:20:00Z", elapsed=1200),            # in: met
        outcome("b", stopped="2026-11-30T23:59:59Z", elapsed=2400),            # in: missed (last second)
        outcome("c", stopped="2026-12-01T00:00:00Z", elapsed=600),             # out: the end is excluded
        outcome("d", stopped="2026-10-31T23:00:00Z", elapsed=600),             # out: before
        # started in October, answered in November: in by its stop
        outcome("e", stopped="2026-11-01T00:10:00Z", elapsed=60, started="2026-10-31T23:59:00Z"),
        breach("b", deadline="2026-11-30T08:30:00Z", breach_id="B-b"),         # in
        breach("f", deadline="2026-10-31T23:50:00Z", breach_id="B-f"),         # out: due in October
    )
    figures = compute_figures(records, NOV, Selection())
    [row] = figures.rows
    assert (row.completed, row.met, row.breached, row.retracted, row.standing) == (3, 2, 1, 0, 1)
    assert row.attainment == pytest.approx(2 / 3)
    assert [line.ticket_id for line in figures.breaches] == ["b"]


def test_retracted_breaches_do_not_stand_and_lateness_is_deadline_to_stop() -> None:
    records = records_of(
        breach("x", deadline="2026-11-05T10:00:00Z", breach_id="B-x", started="2026-11-05T09:30:00Z"),
        retraction("x", deadline="2026-11-05T10:00:00Z", breach_id="B-x", stopped="2026-11-05T09:55:00Z"),
        outcome("x", stopped="2026-11-05T09:55:00Z", elapsed=1500, started="2026-11-05T09:30:00Z"),
        breach("y", deadline="2026-11-06T10:00:00Z", breach_id="B-y", started="2026-11-06T09:30:00Z"),
        outcome("y", stopped="2026-11-06T11:15:00Z", elapsed=6300, started="2026-11-06T09:30:00Z"),
        breach("z", deadline="2026-11-29T00:00:00Z", breach_id="B-z", started="2026-11-28T23:30:00Z"),
    )
    figures = compute_figures(records, NOV, Selection())
    [row] = figures.rows
    assert (row.completed, row.met, row.breached, row.retracted, row.standing) == (2, 1, 3, 1, 2)
    y, z = figures.breaches
    assert (y.ticket_id, y.late_seconds, y.still_open) == ("y", 75 * 60, False)  # 10:00 -> 11:15
    # z has no outcome: still open, late by the end of the period (29 Nov 00:00 -> 1 Dec 00:00).
    assert (z.ticket_id, z.late_seconds, z.still_open) == ("z", 2 * 86400, True)


def test_a_breach_answered_after_the_period_shows_its_real_stop() -> None:
    records = records_of(
        breach("w", deadline="2026-11-30T22:00:00Z", breach_id="B-w", started="2026-11-30T21:30:00Z"),
        outcome("w", stopped="2026-12-01T01:00:00Z", elapsed=12600, started="2026-11-30T21:30:00Z"),
    )
    figures = compute_figures(records, NOV, Selection())
    [row] = figures.rows
    assert (row.completed, row.breached, row.standing) == (0, 1, 1)  # the outcome belongs to December
    assert row.attainment is None
    [line] = figures.breaches
    assert line.stopped_at == datetime(2026, 12, 1, 1, tzinfo=timezone.utc)
    assert line.late_seconds == 3 * 3600


def test_rows_per_objective_and_priority_with_their_targets_and_versions() -> None:
    records = records_of(
        outcome("p1", stopped="2026-11-02T00:00:00Z", elapsed=100, version="v1"),
        outcome("p2", stopped="2026-11-02T00:00:00Z", elapsed=100, priority="P2", target=3600, version="v2"),
        outcome("p2b", stopped="2026-11-03T00:00:00Z", elapsed=100, priority="P2", target=7200, version="v2"),
        outcome("r1", stopped="2026-11-03T00:00:00Z", elapsed=90000, objective="resolution", target=86400),
    )
    figures = compute_figures(records, NOV, Selection())
    assert [(r.objective, r.priority, r.completed, r.met, sorted(r.targets)) for r in figures.rows] == [
        ("first_response", "P1", 1, 1, [1800.0]),
        ("first_response", "P2", 2, 2, [3600.0, 7200.0]),
        ("resolution", "P1", 1, 0, [86400.0]),
    ]
    assert figures.policy_versions == ["v1", "v2"]
    assert list(figures.distributions) == ["first_response", "resolution"]


def test_customer_and_account_manager_selection() -> None:
    records = records_of(
        outcome("a", stopped="2026-11-02T00:00:00Z", elapsed=100, customer="acme"),
        outcome("g", stopped="2026-11-02T00:00:00Z", elapsed=100, customer="globex"),
        breach("g2", deadline="2026-11-03T00:00:00Z", breach_id="B-g2", customer="globex"),
    )
    only_acme = compute_figures(records, NOV, Selection(customer="acme"))
    assert only_acme.customers == ["acme"]
    assert (only_acme.rows[0].completed, only_acme.breaches) == (1, [])
    managed = compute_figures(records, NOV, Selection(customers=frozenset({"globex"})))
    assert managed.customers == ["globex"]
    assert [line.ticket_id for line in managed.breaches] == ["g2"]


def test_response_buckets_split_met_and_missed_up_to_the_last_bucket_used() -> None:
    # 4m -> (0, 5m]; 5m exactly -> (0, 5m]; 20m -> (15m, 30m]; 50m missed -> (30m, 1h]
    buckets = response_buckets([(240, True), (300, True), (1200, True), (3000, False)])
    assert [(b.low, b.high, b.met, b.missed) for b in buckets] == [
        (0.0, 300, 2, 0), (300, 900, 0, 0), (900, 1800, 1, 0), (1800, 3600, 0, 1)]
    [beyond] = response_buckets([(30 * 86400, False)])[-1:]
    assert (beyond.high, beyond.missed) == (None, 1)


def test_bad_records_are_kept_with_their_place_and_duplicates_count_once() -> None:
    good = outcome("a", stopped="2026-11-02T00:00:00Z", elapsed=100)
    records = ReportRecords()
    records.add_lines([good, "", "{not json", good, '{"type": "slo.completed", "ticket_id": "a"}',
                       '{"type": "ticket.opened"}', '["a"]'], "out.jsonl")
    assert len(records.outcomes) == 1 and records.duplicates == 1
    assert [bad.where for bad in records.bad] == ["out.jsonl:3", "out.jsonl:5", "out.jsonl:6", "out.jsonl:7"]
    assert records.bad[0].reason.startswith("not JSON")
    assert records.bad[1].reason.startswith("invalid slo.completed: ")


@pytest.mark.parametrize(("start", "end", "message"), [
    ("2026-13-01", "2026-12-01", "--from '2026-13-01' is not a date"),
    ("2026-11-01", "yesterday", "--to 'yesterday' is not a date"),
    ("2026-12-01", "2026-11-01", "--to '2026-11-01' is not after --from '2026-12-01'"),
    ("2026-11-01", "2026-11-01", "is not after"),
    ("2026-11-01T00:00:00", "2026-12-01", "has no UTC offset"),
])
def test_bad_periods_are_one_line_errors(start: str, end: str, message: str) -> None:
    with pytest.raises(TicketSloError, match=message.replace("(", r"\(")) as caught:
        ReportPeriod.parse(start, end)
    assert "\n" not in str(caught.value)


def test_a_period_may_be_given_as_rfc3339_times_in_any_offset() -> None:
    period = ReportPeriod.parse("2026-11-01T01:00:00+01:00", "2026-12-01T00:00:00Z")
    assert period.start == datetime(2026, 11, 1, tzinfo=timezone.utc)


def test_bytes_that_are_not_utf8_and_tombstones_are_bad_records() -> None:
    records = ReportRecords()
    records.add_lines(['{"type": "slo.completed", "ticket_id": "\udcff"}'], "f.jsonl")  # read with surrogateescape
    records.add_bytes(b'{"ticket_id": "\xff"}', "topic/0@7")
    records.add_bytes(None, "topic/1@3")
    assert [(bad.where, bad.reason) for bad in records.bad] == [
        ("f.jsonl:1", "not UTF-8"), ("topic/0@7", "not UTF-8"), ("topic/1@3", "no value")]


def test_an_account_managers_customers_come_from_contracts_and_breaches(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(
        "plans:\n  default:\n    objectives:\n      first_response: {P1: 30m, P2: 1h, P3: 4h, P4: 8h}\n"
        "contracts:\n  big:\n    customers: [acme, initech]\n    plan: default\n    account_manager: dana\n"
        "  other:\n    customers: [globex]\n    plan: default\n    account_manager: lee\n")
    records = records_of(
        breach("h1", deadline="2026-11-03T00:00:00Z", breach_id="B-h1", customer="hooli", manager="dana"),
        breach("g1", deadline="2026-11-03T00:00:00Z", breach_id="B-g1", customer="globex", manager="lee"),
    )
    assert customers_of_manager(load_policy(policy_file), records, "dana") == {"acme", "initech", "hooli"}
