"""Replay: event time as the clock, invalid lines as dead letters, identical bytes every time."""

from __future__ import annotations

import io
import json
from pathlib import Path

from ticket_slo.schemas.policy import load_policy
from ticket_slo.streams.tools.replay import ReplaySummary, replay

LINES = [
    '{"type":"ticket.opened","event_id":"o1","ticket_id":"t1","occurred_at":"2024-05-01T00:00:00Z","priority":"P1","customer_id":"c1"}',
    '{"type":"ticket.acknowledged","event_id":"a2","ticket_id":"t2","occurred_at":"2024-05-01T00:05:00Z"}',
    '{"type":"ticket.opened","event_id":"o2","ticket_id":"t2","occurred_at":"2024-05-01T00:01:00Z","priority":"P1","customer_id":"c2"}',
    "",
    "not json",
    '{"type":"ticket.assigned","event_id":"x1","ticket_id":"t1","occurred_at":"2024-05-01T01:00:00Z","assignee":"a"}',
    '{"type":"ticket.acknowledged","event_id":"a1","ticket_id":"t1","occurred_at":"2024-05-01T00:20:00Z"}',
    '{"type":"ticket.acknowledged","event_id":"a1","ticket_id":"t1","occurred_at":"2024-05-01T00:20:00Z"}',
    '{"type":"ticket.opened","event_id":"o3","ticket_id":"t3","occurred_at":"2024-05-01T03:00:00+02:00","priority":"P2","customer_id":"c3"}',
]


def run(lines: list[str], until: float | None = None) -> tuple[str, str, ReplaySummary]:
    out, dead = io.StringIO(), io.StringIO()
    summary = replay(lines, "events.jsonl", load_policy(), out, dead, until=until)
    return out.getvalue(), dead.getvalue(), summary


def types(text: str) -> list[tuple[str, str]]:
    return [(record["type"], record["ticket_id"]) for record in map(json.loads, text.splitlines())]


def test_replay_uses_event_time_and_writes_one_json_line_per_emission() -> None:
    out, dead, summary = run(LINES)
    assert types(out) == [
        ("slo.completed", "t2"),  # buffered ack applied when t2 opened
        # The clock jumped to 01:00 with the assignment, past t1's thresholds and its
        # deadline at once: the breach alone is published, no stale warnings.
        ("slo.breached", "t1"),
        ("slo.breach_retracted", "t1"),  # the acknowledgement at 00:20 arrives late
        ("slo.completed", "t1"),
    ]
    assert summary == ReplaySummary(lines=8, valid=7, invalid=1, duplicates=1, breaches=1, retractions=1,
                                    warnings=0, outcomes=2, orphans=0)
    [letter] = map(json.loads, dead.splitlines())
    assert (letter["reason"], letter["source"], letter["value"]) == ("bad_json", "events.jsonl:5", "not json")
    assert letter["detected_at"] == "2024-05-01T00:05:00Z"  # the replay clock, never wall time


def test_until_fires_what_is_still_open_at_the_end() -> None:
    # t3 opened 2024-05-01T01:00Z (P2, 60m): breached once the clock passes 02:00Z.
    out, _, summary = run(LINES, until=1714527600.0)  # 2024-05-01T01:40:00Z
    assert types(out)[-2:] == [("slo.completed", "t1"), ("slo.at_risk", "t3")]  # 50% (01:30), not 75% (01:45)
    assert summary.breaches == 1
    out, _, summary = run(LINES, until=1714532400.0)  # 2024-05-01T03:00:00Z
    assert types(out)[-1] == ("slo.breached", "t3")
    assert summary.breaches == 2


def test_replay_twice_gives_identical_bytes() -> None:
    first = run(LINES, until=1714600000.0)
    second = run(LINES, until=1714600000.0)
    assert first[0] == second[0] and first[1] == second[1]
    assert first[0].encode() == second[0].encode()


def test_undecodable_line_read_with_surrogateescape_is_reported_as_not_utf8() -> None:
    line = b'{"type":"ticket.closed","event_id":"\xff"}'.decode("utf-8", "surrogateescape")
    _, dead, summary = run([line])
    [letter] = map(json.loads, dead.splitlines())
    assert (letter["reason"], letter["value_encoding"], letter["source"]) == ("not_utf8", "base64", "events.jsonl:1")
    assert letter["detected_at"] == "1970-01-01T00:00:00Z"  # no valid event yet: the clock has not started
    assert summary.invalid == 1


def test_orphans_go_to_the_dead_letters_with_their_line() -> None:
    lines = [
        '{"type":"ticket.closed","event_id":"c9","ticket_id":"t9","occurred_at":"2024-05-01T00:00:00Z"}',
        '{"type":"ticket.opened","event_id":"o1","ticket_id":"t1","occurred_at":"2024-05-03T00:00:00Z","priority":"P1","customer_id":"c1"}',
    ]
    out, dead, summary = run(lines)
    assert out == ""
    [letter] = map(json.loads, dead.splitlines())
    assert (letter["reason"], letter["source"], letter["key"]) == ("orphan", "events.jsonl:1", "t9")
    assert summary.orphans == 1


def test_an_invalid_line_does_not_move_the_clock() -> None:
    lines = [
        '{"type":"ticket.opened","event_id":"o1","ticket_id":"t1","occurred_at":"2024-05-01T00:00:00Z","priority":"P1","customer_id":"c1"}',
        # Two hours later but invalid (unknown priority): were it the clock, t1 would breach.
        '{"type":"ticket.opened","event_id":"o2","ticket_id":"t2","occurred_at":"2024-05-01T02:00:00Z","priority":"P9","customer_id":"c2"}',
        '{"type":"ticket.acknowledged","event_id":"a1","ticket_id":"t1","occurred_at":"2024-05-01T00:10:00Z"}',
    ]
    out, dead, summary = run(lines)
    assert [(r["type"], r["met"]) for r in map(json.loads, out.splitlines())] == [("slo.completed", True)]
    assert summary.invalid == 1 and '"reason":"invalid_fields"' in dead


def test_the_summary_counts_events_that_changed_nothing(tmp_path: Path) -> None:
    lines = [
        '{"type":"ticket.opened","event_id":"o1","ticket_id":"t1","occurred_at":"2024-05-01T00:00:00Z","priority":"P1","customer_id":"c1"}',
        '{"type":"ticket.opened","event_id":"o1b","ticket_id":"t1","occurred_at":"2024-05-01T00:01:00Z","priority":"P2","customer_id":"c1"}',
        '{"type":"ticket.closed","event_id":"c1","ticket_id":"t1","occurred_at":"2024-05-01T00:02:00Z"}',
        '{"type":"ticket.assigned","event_id":"x1","ticket_id":"t1","occurred_at":"2024-05-01T00:03:00Z","assignee":"a"}',
        '{"type":"ticket.opened","event_id":"o2","ticket_id":"t2","occurred_at":"2024-05-01T00:04:00Z","priority":"P1","customer_id":"c2","plan":"none"}',
    ]
    policy = tmp_path / "policy.yaml"
    policy.write_text("plans:\n  default:\n    objectives:\n      first_response: {P1: 30m, P2: 1h, P3: 4h, P4: 8h}\n"
                      "  none:\n    objectives: {}\n")
    summary = replay(lines, "events.jsonl", load_policy(policy), io.StringIO(), io.StringIO())
    assert (summary.ignored_extra_open, summary.ignored_closed, summary.not_eligible) == (1, 1, 1)


def test_an_event_is_applied_at_a_clock_that_includes_its_own_time() -> None:
    """A P2 ticket raised to P1 after P1's deadline had passed: only the breach, no P1 warnings.

    The clock stood at 00:28:14 (another ticket's opening) when the change, which occurred at
    00:33, arrived. Applied at 00:28:14 the change would publish P1 warnings with 106 s left,
    although in event time the P1 deadline (00:30) had already passed when the change happened.
    """
    lines = [
        '{"type":"ticket.opened","event_id":"o1","ticket_id":"t1","occurred_at":"2024-05-01T00:00:00Z","priority":"P2","customer_id":"c1"}',
        '{"type":"ticket.opened","event_id":"o2","ticket_id":"t2","occurred_at":"2024-05-01T00:28:14Z","priority":"P4","customer_id":"c2"}',
        '{"type":"ticket.priority_changed","event_id":"p1","ticket_id":"t1","occurred_at":"2024-05-01T00:33:00Z","priority":"P1"}',
    ]
    out, _, summary = run(lines)
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["type"], r["ticket_id"], r["priority"]) for r in records] == [("slo.breached", "t1", "P1")]
    assert records[0]["detected_at"] == "2024-05-01T00:33:00Z"
    assert records[0]["deadline"] == "2024-05-01T00:30:00Z"
    assert summary.warnings == 0
