"""The report rendered from ``ticket-slo replay``'s output of a small events file.

Every expected figure below was worked out by hand from tests/unit/data/report-events.jsonl
and the shipped policy's first-response targets (P1 30m, P2 1h, P3 4h, P4 8h), not from
the code under test:

- t6 P3 opened 31 Oct 20:00, answered 1 Nov 01:00: deadline 1 Nov 00:00 (in the period, its
  first instant), missed, 1h late.
- t1 P1 answered after 20m: met. t2 P1 answered after 1h: missed, deadline 3 Nov 10:30, 30m late.
- t3 P2 answered after 45m: met. t8 P4 after 30m: met.
- t7 P1 opened 6 Nov 10:00; t8's opening at 11:00 moves the clock past its deadline (a
  breach), then its acknowledgement of 10:10 arrives: the breach is retracted, met after 10m.
- t4 P1 opened 30 Nov 23:00, deadline 23:30 (in November), answered 1 Dec 00:10: its breach
  is November's, 40m late; its outcome is December's.
- g1..g4 are globex's, left out by --customer acme.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.unit.report_html import ReportReader

EVENTS = Path(__file__).parent / "data" / "report-events.jsonl"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ticket_slo.agents.cli", *args], capture_output=True, text=True,
                          timeout=120)


def _report(tmp_path: Path, *extra: str) -> tuple[ReportReader, subprocess.CompletedProcess[str]]:
    replayed = _cli("replay", str(EVENTS))
    assert replayed.returncode == 0, replayed.stderr
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text(replayed.stdout)
    page = tmp_path / "report.html"
    result = _cli("report", "--from", "2026-11-01", "--to", "2026-12-01", "--outcomes", str(outputs),
                  "--breaches", str(outputs), "--out", str(page), *extra)
    assert result.returncode == 0, result.stderr
    return ReportReader(page.read_text(encoding="utf-8")), result


def test_figures_in_the_report_match_those_worked_out_from_the_events(tmp_path: Path) -> None:
    page, _ = _report(tmp_path, "--customer", "acme")
    assert page.header["Customer"] == "acme"
    assert page.rows["attainment"] == [
        # objective, priority, target, completed, met, attainment, breaches, retracted, standing
        ["first_response", "P1", "30m", "3", "2", "66.7 %", "3", "1", "2"],
        ["first_response", "P2", "1h", "1", "1", "100.0 %", "0", "0", "0"],
        ["first_response", "P3", "4h", "1", "0", "0.0 %", "1", "0", "1"],
        ["first_response", "P4", "8h", "1", "1", "100.0 %", "0", "0", "0"],
    ]
    assert page.rows["breaches"] == [
        ["t6", "acme", "first_response", "P3", "2026-11-01 00:00 UTC", "2026-11-01 01:00 UTC", "1h"],
        ["t2", "acme", "first_response", "P1", "2026-11-03 10:30 UTC", "2026-11-03 11:00 UTC", "30m"],
        ["t4", "acme", "first_response", "P1", "2026-11-30 23:30 UTC", "2026-12-01 00:10 UTC", "40m"],
    ]
    # Response times: t7 10m (5-15m), t1 20m and t8 30m (15-30m), t3 45m met and t2 1h missed
    # (30m-1h), t6 5h missed (4-8h).
    assert page.titles == ["1 met", "2 met", "1 met", "1 missed", "1 missed"]


def test_every_customer_without_a_filter(tmp_path: Path) -> None:
    page, result = _report(tmp_path)
    assert page.header["Customer"] == "acme, globex"
    # globex adds g1 (P4, 40m), g2 (P4, 25m), g3 (P1, 5m) in November; g4 is answered in December.
    p1 = page.rows["attainment"][0]
    assert p1[:6] == ["first_response", "P1", "30m", "4", "3", "75.0 %"]
    p4 = page.rows["attainment"][3]
    assert p4[:6] == ["first_response", "P4", "8h", "3", "3", "100.0 %"]
    # The same file named twice is read once: no duplicates reported.
    assert "duplicates 0, bad 0" in result.stderr
