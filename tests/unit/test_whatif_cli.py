"""``ticket-slo whatif`` as a user runs it: the shipped example, --json, and the one-line errors of replay."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"
EVENTS = EXAMPLES / "whatif-events.jsonl"
ROUND_THE_CLOCK = EXAMPLES / "policy-24x7.yaml"
BUSINESS_HOURS = EXAMPLES / "policy-business-hours.yaml"
#: The console script the package installs next to this interpreter.
TICKET_SLO = Path(sys.executable).parent / "ticket-slo"

#: Worked out by hand from the example files. Standard tickets get default's 24/7 terms under
#: policy-24x7.yaml and the berlin-office calendar (Mon-Fri 08:00-12:00, 13:00-17:30 Berlin time,
#: CET = UTC+1) under policy-business-hours.yaml; every time below is Berlin time:
#: - T-320 P2, Fri 27 Nov 16:30, answered Mon 30 Nov 08:45: 64h15m > 60m; working time 1h + 45m <= 2h.
#: - T-321 P3, Wed 23 Dec 15:00, answered Mon 28 Dec 09:30: 114h30m > 4h; working time 2h30m on the 23rd,
#:   none on the 24th (the contract's day off), 25th-26th (public holidays), 27th (Sunday), 1h30m on
#:   the 28th: 4h <= 8h.
#: - T-323 P1, Mon 30 Nov 12:30 (lunch), answered 13:45: 1h15m > 30m; working time from 13:00: 45m <= 1h.
#: - T-324 P2, Thu 31 Dec 17:00, never answered; the file ends Sat 2 Jan: breached 24/7 (due 18:00);
#:   on business hours the 31st (contract), 1 Jan (holiday) and the weekend have no working time.
EXPECTED_DIFFERENCES = [
    ["T-320", "first_response", "missed 2d16h15m", "met 1h45m"],
    ["T-321", "first_response", "missed 4d18h30m", "met 4h00m"],
    ["T-323", "first_response", "missed 1h15m", "met 45m"],
    ["T-324", "first_response", "breached", "open"],
]


def _run(*args: str, command: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    program = [str(command)] if command else [sys.executable, "-m", "ticket_slo.agents.cli"]
    return subprocess.run([*program, *args], capture_output=True, text=True, timeout=60, input=stdin)


def _differences(text: str) -> list[list[str]]:
    _, found, rest = text.partition("Tickets whose result differs")
    assert found, text
    return [re.split(r"\s{2,}", line) for line in rest.splitlines()[2:]]


def test_the_shipped_command_shows_what_business_hours_change_on_the_examples() -> None:
    result = _run("whatif", str(EVENTS), "--policy", str(ROUND_THE_CLOCK), "--policy", str(BUSINESS_HOURS),
                  command=TICKET_SLO)
    assert result.returncode == 0, result.stderr
    assert _differences(result.stdout) == EXPECTED_DIFFERENCES
    # The invalid line (a P5) is reported with its place, and counted.
    assert f"{EVENTS}:12: invalid_fields: priority" in result.stderr
    assert "lines 19, valid 18, invalid 1" in result.stderr


def test_the_calendar_alone_makes_those_differences(tmp_path: Path) -> None:
    """The same business-hours policy with its standard plan on 24/7: every standard ticket but T-322 is late."""
    around_the_clock = tmp_path / "standard-24x7.yaml"
    text = BUSINESS_HOURS.read_text()
    assert "    calendar: berlin-office\n" in text
    around_the_clock.write_text(text.replace("    calendar: berlin-office\n", ""))
    result = _run("whatif", str(EVENTS), "--policy", str(around_the_clock), "--policy", str(BUSINESS_HOURS))
    assert result.returncode == 0, result.stderr
    # 24/7 with standard's own targets (1h, 2h, 8h): 64h15m > 2h, 114h30m > 8h, 1h15m > 1h; T-324 due 19:00.
    assert [row[:3] for row in _differences(result.stdout)] == [
        ["T-320", "first_response", "missed 2d16h15m"], ["T-321", "first_response", "missed 4d18h30m"],
        ["T-323", "first_response", "missed 1h15m"], ["T-324", "first_response", "breached"]]


def test_json_is_one_document_with_the_same_differences() -> None:
    result = _run("whatif", str(EVENTS), "--policy", str(ROUND_THE_CLOCK), "--policy", str(BUSINESS_HOURS), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [p["path"] for p in document["policies"]] == [str(ROUND_THE_CLOCK), str(BUSINESS_HOURS)]
    assert [p["label"] for p in document["policies"]] == ["policy-24x7.yaml", "policy-business-hours.yaml"]
    assert (document["events"]["lines"], document["events"]["invalid"]) == (19, 1)
    assert document["events"]["dead_letters"][0]["source"] == f"{EVENTS}:12"
    assert [(d["ticket_id"], [r["verdict"] for r in d["results"]]) for d in document["differences"]] == [
        ("T-320", ["missed", "met"]), ("T-321", ["missed", "met"]), ("T-323", ["missed", "met"]),
        ("T-324", ["breached", "open"])]
    assert document["differences"][0]["results"][1]["elapsed_seconds"] == 105 * 60  # 1h45m of working time
    [standard_p2] = [g for g in document["groups"] if (g["plan"], g["priority"]) == ("standard", "P2")]
    # 24/7: T-320 late (breached) and T-324 breached, open; business hours: T-320 met, T-324 open.
    assert [(r["completed"], r["met"], r["breaches"], r["attainment_percent"]) for r in standard_p2["results"]] == [
        (1, 0, 2, 0.0), (1, 1, 0, 100.0)]


def test_events_from_stdin() -> None:
    result = _run("whatif", "-", "--policy", str(ROUND_THE_CLOCK), "--policy", str(BUSINESS_HOURS),
                  stdin=EVENTS.read_text())
    assert result.returncode == 0, result.stderr
    assert _differences(result.stdout) == EXPECTED_DIFFERENCES
    assert "stdin:12: invalid_fields" in result.stderr


def test_until_moves_every_clock_at_the_end() -> None:
    # By Monday 4 Jan 10:01 Berlin, T-324 has had its 2 working hours (08:00-10:00): breached under both.
    result = _run("whatif", str(EVENTS), "--policy", str(ROUND_THE_CLOCK), "--policy", str(BUSINESS_HOURS),
                  "--until", "2027-01-04T09:01:00Z")
    assert result.returncode == 0, result.stderr
    assert [row[0] for row in _differences(result.stdout)] == ["T-320", "T-321", "T-323"]


def test_a_single_policy_is_refused_with_one_line() -> None:
    result = _run("whatif", str(EVENTS), "--policy", str(ROUND_THE_CLOCK))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "ticket-slo: whatif: give at least two --policy files to compare (got 1)\n"
    result = _run("whatif", str(EVENTS))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and "--policy" in result.stderr


def test_a_bad_policy_gives_replays_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("plans:\n  default:\n    objectives:\n      first_response: {P1: 30m, P2: 1h, P3: 4h, P4: 9x}\n")
    whatif = _run("whatif", str(EVENTS), "--policy", str(ROUND_THE_CLOCK), "--policy", str(bad))
    replay = _run("replay", str(EVENTS), "--policy", str(bad))
    assert whatif.returncode == replay.returncode == 2
    assert whatif.stderr == replay.stderr
    assert whatif.stderr.startswith(f"ticket-slo: bad policy: {bad}: line 4: plans.default.objectives.first_response.P4")
    assert whatif.stdout == ""


def test_a_missing_events_file_or_policy_file_gives_replays_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.jsonl"
    whatif = _run("whatif", str(missing), "--policy", str(ROUND_THE_CLOCK), "--policy", str(BUSINESS_HOURS))
    replay = _run("replay", str(missing))
    assert whatif.returncode == replay.returncode == 2
    assert whatif.stderr == replay.stderr and str(missing) in whatif.stderr and len(whatif.stderr.splitlines()) == 1
    whatif = _run("whatif", str(EVENTS), "--policy", str(ROUND_THE_CLOCK), "--policy", str(missing))
    replay = _run("replay", str(EVENTS), "--policy", str(missing))
    assert whatif.returncode == 2 and whatif.stderr == replay.stderr and len(whatif.stderr.splitlines()) == 1


def test_until_without_offset_is_refused() -> None:
    result = _run("whatif", str(EVENTS), "--policy", str(ROUND_THE_CLOCK), "--policy", str(BUSINESS_HOURS),
                  "--until", "2027-01-04T09:00:00")
    assert result.returncode == 2 and "no UTC offset" in result.stderr


def test_the_help_documents_the_json_shape() -> None:
    result = _run("whatif", "--help")
    assert result.returncode == 0
    assert '"differences": [{"ticket_id", "objective",' in result.stdout
