"""What-if comparisons on small event sets, every expected figure worked out by hand from the rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ticket_slo.schemas.policy import Policy, load_policy
from ticket_slo.streams.tools.whatif import (GroupKey, GroupTally, TicketKey, TicketResult, Verdict, compare,
                                             policy_labels)
from ticket_slo.streams.tools.whatif_report import as_document, human_duration, render_text

DAY = "2024-05-01"  # a Wednesday
UNTIL_0150 = 1714528200.0  # 2024-05-01T01:50:00Z, by hand: 1714521600 + 110 * 60


def event(kind: str, ticket: str, hhmm: str, event_id: str, **fields: str) -> str:
    return json.dumps({"type": f"ticket.{kind}", "event_id": event_id, "ticket_id": ticket,
                       "occurred_at": f"{DAY}T{hhmm}:00Z", **fields})


def opened(ticket: str, hhmm: str, priority: str, customer: str = "c1", **fields: str) -> str:
    return event("opened", ticket, hhmm, f"o-{ticket}", priority=priority, customer_id=customer, **fields)


def acked(ticket: str, hhmm: str) -> str:
    return event("acknowledged", ticket, hhmm, f"a-{ticket}")


def policy(tmp_path: Path, name: str, text: str) -> Policy:
    path = tmp_path / name
    path.write_text(text)
    return load_policy(path)


TARGETS_30M = "plans:\n  default:\n    objectives:\n      first_response: {P1: 30m, P2: 1h, P3: 4h, P4: 8h}\n"
TARGETS_1H = ("plans:\n  default:\n    objectives:\n      first_response: {P1: 1h, P2: 2h, P3: 4h, P4: 8h}\n"
              "  basic:\n    objectives: {}\n")

LINES = [
    opened("t1", "00:00", "P1"),
    opened("t2", "00:00", "P1"),
    opened("t4", "00:00", "P1"),
    opened("t6", "00:05", "P2", plan="basic"),
    acked("t2", "00:10"),
    acked("t6", "00:20"),
    acked("t1", "00:45"),  # the clock is at 00:45: t4's 30-minute deadline has passed, unanswered
    acked("t4", "00:20"),  # ...until this late line: it answered in time, so A's breach of t4 is retracted
    "{not json",
    opened("t5", "01:00", "P1"),
]


@pytest.fixture
def comparison(tmp_path: Path):
    policies = [("A", policy(tmp_path, "a.yaml", TARGETS_30M)), ("B", policy(tmp_path, "b.yaml", TARGETS_1H))]
    return compare(LINES, "events.jsonl", policies, until=UNTIL_0150)


def test_groups_count_completed_met_net_breaches_and_the_median_under_each_policy(comparison) -> None:
    groups = dict(comparison.groups())
    a_p1, b_p1 = groups[GroupKey("default", "first_response", "P1")]
    # A (30m): t1 late (45m), t2 on time (10m), t4 on time (20m) after its breach was retracted;
    # t5 (01:00) breached at 01:30 and still open at 01:50: counted as a breach, not completed.
    assert (a_p1.completed, a_p1.met, a_p1.breaches) == (3, 2, 2)
    assert a_p1.attainment == pytest.approx(200 / 3)
    assert a_p1.median_elapsed == 20 * 60
    # B (1h): all three on time, t5 still within its hour at 01:50.
    assert (b_p1.completed, b_p1.met, b_p1.breaches, b_p1.attainment) == (3, 3, 0, 100.0)
    assert b_p1.median_elapsed == 20 * 60
    # t6 on plan basic: A has no such plan (default's terms, P2 1h: met in 15m); B promises basic nothing.
    a_basic, b_basic = groups[GroupKey("basic", "first_response", "P2")]
    assert (a_basic.completed, a_basic.met, a_basic.elapsed) == (1, 1, [15 * 60])
    assert b_basic == GroupTally()
    assert set(groups) == {GroupKey("default", "first_response", "P1"), GroupKey("basic", "first_response", "P2")}


def test_differences_are_the_tickets_whose_verdict_changes(comparison) -> None:
    assert comparison.differences() == [
        (TicketKey("t1", "first_response"), [TicketResult(Verdict.MISSED, 45 * 60, "default", "P1"),
                                    TicketResult(Verdict.MET, 45 * 60, "default", "P1")]),
        (TicketKey("t5", "first_response"), [TicketResult(Verdict.BREACHED, None, "default", "P1"),
                                    TicketResult(Verdict.OPEN, None, "default", "P1")]),
        (TicketKey("t6", "first_response"), [TicketResult(Verdict.MET, 15 * 60, "basic", "P2"),
                                    TicketResult(Verdict.NO_CLOCK)]),
    ]


def test_invalid_lines_are_counted_and_kept_with_their_location(comparison) -> None:
    assert (comparison.input.lines, comparison.input.valid, comparison.input.invalid) == (10, 9, 1)
    [letter] = comparison.dead_letters
    assert (letter.source, letter.reason) == ("events.jsonl:9", "bad_json")


def test_a_contract_moves_its_customers_tickets_to_its_plan(tmp_path: Path) -> None:
    with_contract = policy(tmp_path, "c.yaml", TARGETS_30M + "  gold:\n    objectives:\n"
                           "      first_response: {P1: 10m, P2: 30m, P3: 2h, P4: 4h}\n"
                           "contracts:\n  big-deal:\n    customers: [vip]\n    plan: gold\n")
    lines = [opened("t1", "00:00", "P1", customer="vip"), acked("t1", "00:20")]
    result = compare(lines, "e", [("plain", policy(tmp_path, "a.yaml", TARGETS_30M)), ("contract", with_contract)])
    assert [key for key, _ in result.groups()] == [GroupKey("default", "first_response", "P1"),
                                                    GroupKey("gold", "first_response", "P1")]
    [(key, results)] = result.differences()
    assert [(r.verdict, r.plan) for r in results] == [(Verdict.MET, "default"), (Verdict.MISSED, "gold")]


def test_a_retraction_nets_out_the_breach_it_retracts(tmp_path: Path) -> None:
    # P1 at 00:00 breached at 00:31 (the clock moved by t9), then lowered to P3 by a change made at 00:10:
    # the P1 breach is retracted (counted under P1), the clock runs on as P3 and is answered at 00:40.
    lines = [opened("t1", "00:00", "P1"), opened("t9", "00:31", "P4"),
             event("priority_changed", "t1", "00:10", "p-t1", priority="P3"), acked("t1", "00:40")]
    run = compare(lines, "e", [("a", policy(tmp_path, "a.yaml", TARGETS_30M)),
                               ("b", policy(tmp_path, "b.yaml", TARGETS_30M))]).runs[0]
    assert run.groups == {GroupKey("default", "first_response", "P3"): GroupTally(1, 1, 0, [40 * 60])}


RESOLUTION = """\
objectives:
  resolution:
    stops_on: [ticket.resolved]
    pauses_on: [{type: ticket.status_changed, status: waiting_on_customer}]
    resumes_on: [{type: ticket.status_changed, status: open}]
    restarts_on_reopen: %s
plans:
  default:
    objectives:
      first_response: {P1: 30m, P2: 1h, P3: 4h, P4: 8h}
      resolution: {P1: %s, P2: 8h, P3: 1d, P4: 2d}
"""


def test_each_objective_and_each_restarted_run_of_a_clock_is_compared(tmp_path: Path) -> None:
    lines = [
        opened("t1", "00:00", "P1"),
        acked("t1", "00:05"),
        event("status_changed", "t1", "00:30", "s1", status="waiting_on_customer"),
        event("status_changed", "t1", "01:30", "s2", status="open"),
        event("resolved", "t1", "02:00", "r1"),  # resolution: 00:00-00:30 and 01:30-02:00, 1h of clock
        event("reopened", "t1", "02:10", "x1"),
        event("resolved", "t1", "03:00", "r2"),  # a restarted clock (A only): 02:10-03:00, 50m
        opened("t2", "03:00", "P1"),
        opened("t3", "03:00", "P1"),
        acked("t3", "03:01"),
        event("resolved", "t3", "03:05", "r3"),
        event("reopened", "t3", "03:06", "x3"),  # A restarts t3's resolution clock: open at the end
        event("status_changed", "t2", "03:10", "s3", status="waiting_on_customer"),  # paused at the end
    ]
    a = policy(tmp_path, "a.yaml", RESOLUTION % ("true", "4h"))
    b = policy(tmp_path, "b.yaml", RESOLUTION % ("false", "45m"))
    result = compare(lines, "e", [("a", a), ("b", b)])
    groups = dict(result.groups())
    a_resolution, b_resolution = groups[GroupKey("default", "resolution", "P1")]
    assert (a_resolution.completed, a_resolution.met, a_resolution.breaches) == (3, 3, 0)
    assert a_resolution.median_elapsed == 50 * 60  # of 1h, 50m (t1) and 5m (t3)
    # B: t1's 45 minutes of clock are reached at 01:45 (30m before the pause, 15m after it): missed, breached.
    assert (b_resolution.completed, b_resolution.met, b_resolution.breaches) == (2, 1, 1)
    assert b_resolution.elapsed == [3600, 300]
    # t1's and t3's first responses (5m, 1m) and t2's (still open at 03:10, due 03:30) are the same under both.
    assert groups[GroupKey("default", "first_response", "P1")] == [GroupTally(2, 2, 0, [300, 60])] * 2
    assert result.differences() == [
        (TicketKey("t1", "resolution", 1), [TicketResult(Verdict.MET, 3600, "default", "P1"),
                                            TicketResult(Verdict.MISSED, 3600, "default", "P1")]),
        (TicketKey("t1", "resolution", 2), [TicketResult(Verdict.MET, 50 * 60, "default", "P1"),
                                            TicketResult(Verdict.NO_CLOCK)]),
        (TicketKey("t3", "resolution", 2), [TicketResult(Verdict.OPEN, None, "default", "P1"),
                                            TicketResult(Verdict.NO_CLOCK)]),
    ]
    assert result.runs[0].tickets[TicketKey("t2", "resolution")] == TicketResult(Verdict.PAUSED, None, "default", "P1")
    assert result.runs[0].tickets[TicketKey("t2", "first_response")] == TicketResult(Verdict.OPEN, None, "default", "P1")
    rows = [re.split(r"\s{2,}", line) for line in render_text(result, ["a.yaml", "b.yaml"]).splitlines()]
    assert ["t1", "resolution #2", "met 50m", "no clock"] in rows


def test_a_comparison_needs_two_policies(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        compare(LINES, "e", [("a", policy(tmp_path, "a.yaml", TARGETS_30M))])


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (0, "0s"), (45, "45s"), (300, "5m"), (330, "5m30s"), (3600, "1h00m"), (3900, "1h05m"),
    (3929, "1h05m"), (86400 + 3 * 3600 + 10 * 60, "1d03h10m"), (59.6, "1m"),
])
def test_human_duration(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text


def test_policy_labels_are_file_names_unless_two_share_one() -> None:
    assert policy_labels(["x/a.yaml", "y/b.yaml"]) == ["a.yaml", "b.yaml"]
    assert policy_labels(["x/p.yaml", "y/p.yaml"]) == ["x/p.yaml", "y/p.yaml"]
    assert policy_labels(["p.yaml", "p.yaml"]) == ["p.yaml", "p.yaml#2"]


def test_the_text_and_the_document_carry_the_same_figures(comparison) -> None:
    text = render_text(comparison, ["a.yaml", "b.yaml"], UNTIL_0150)
    rows = {line.split()[0] + " " + line.split()[2]: line.split()[3:] for line in text.splitlines()
            if line.startswith(("default ", "basic "))}
    assert rows["default P1"] == ["3", "66.7", "%", "2", "20m", "3", "100.0", "%", "0", "20m"]
    assert rows["basic P2"] == ["1", "100.0", "%", "0", "15m", "0", "-", "0", "-"]
    differing = [re.split(r"\s{2,}", line) for line in text.split("Tickets whose result differs (3):\n")[1].splitlines()]
    assert differing == [["ticket", "objective", "A", "B"], ["t1", "first_response", "missed 45m", "met 45m"],
                         ["t5", "first_response", "breached", "open"], ["t6", "first_response", "met 15m", "no clock"]]
    document = json.loads(json.dumps(as_document(comparison, ["a.yaml", "b.yaml"], UNTIL_0150)))
    assert document["until"] == "2024-05-01T01:50:00Z"
    assert document["events"]["dead_letters"] == [{"source": "events.jsonl:9", "reason": "bad_json",
                                                   "error": document["events"]["dead_letters"][0]["error"]}]
    [p1] = [g for g in document["groups"] if g["priority"] == "P1"]
    assert [r["breaches"] for r in p1["results"]] == [2, 0]
    assert [d["ticket_id"] for d in document["differences"]] == ["t1", "t5", "t6"]
    assert document["differences"][2]["results"][1] == {"verdict": "no clock", "elapsed_seconds": None,
                                                        "plan": None, "priority": None}


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in _keys(item)}
    return set()


def test_the_documented_shape_names_every_key_of_the_document_and_docs_show_it(comparison) -> None:
    from ticket_slo.streams.tools.whatif_report import DOCUMENT_SHAPE

    structure, _, _ = DOCUMENT_SHAPE.partition("\nEach ")
    named = set(re.findall(r'"(\w+)"', structure))
    assert _keys(as_document(comparison, ["a.yaml", "b.yaml"], UNTIL_0150)) == named
    policy_doc = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text(encoding="utf-8")
    assert f"```\n{structure}\n```" in policy_doc
