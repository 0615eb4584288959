"""The report's page: hostile ids escaped, nothing loaded from elsewhere, one-line errors at the command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.unit.report_html import ReportReader

HOSTILE_CUSTOMER = '<script>alert("c")</script>'
HOSTILE_TICKET = '"><img src=x onerror=alert(1)>&amp;'


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ticket_slo.agents.cli", *args], capture_output=True, text=True,
                          timeout=120)


def _records(path: Path) -> Path:
    breach = {"type": "slo.breached", "breach_id": "b-1", "ticket_id": HOSTILE_TICKET, "objective": "first_response",
              "priority": "P1", "plan": "default", "customer_id": HOSTILE_CUSTOMER, "policy_version": "<b>v</b>",
              "started_at": "2026-11-02T10:00:00Z", "deadline": "2026-11-02T10:30:00Z",
              "target_seconds": 1800.0, "detected_at": "2026-11-02T10:31:00Z"}
    outcome = {"type": "slo.completed", "ticket_id": HOSTILE_TICKET, "objective": "first_response", "priority": "P1",
               "plan": "default", "customer_id": HOSTILE_CUSTOMER, "policy_version": "<b>v</b>",
               "started_at": "2026-11-02T10:00:00Z", "stopped_at": "2026-11-02T11:00:00Z",
               "elapsed_seconds": 3600.0, "target_seconds": 1800.0, "met": False}
    path.write_text(json.dumps(breach) + "\n" + json.dumps(outcome) + "\n", encoding="utf-8")
    return path


def test_hostile_ids_are_escaped_and_read_back_as_they_were(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = _cli("report", "--from", "2026-11-01", "--to", "2026-12-01", "--breaches",
                  str(_records(tmp_path / "in.jsonl")), "--out", str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page and "<b>v" not in page
    reader = ReportReader(page)
    assert reader.header["Customer"] == HOSTILE_CUSTOMER
    assert reader.header["Policy versions"] == "<b>v</b>"
    assert reader.rows["breaches"][0][:2] == [HOSTILE_TICKET, HOSTILE_CUSTOMER]


def test_the_page_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    _cli("report", "--from", "2026-11-01", "--to", "2026-12-01", "--outcomes", str(_records(tmp_path / "in.jsonl")),
         "--out", str(out))
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    # The only URL is the SVG namespace, which is a name, not a fetch.
    assert set(re.findall(r"https?://[^\s\"')]+", page)) == {"http://www.w3.org/2000/svg"}
    assert "@media print" in page and "size: A4" in page


def test_bad_lines_are_named_by_file_and_line_counted_and_reported(tmp_path: Path) -> None:
    records = _records(tmp_path / "in.jsonl")
    with records.open("a", encoding="utf-8") as file:
        file.write("{broken\n\n" + json.dumps({"type": "slo.completed", "ticket_id": "x"}) + "\n")
    out = tmp_path / "r.html"
    result = _cli("report", "--from", "2026-11-01", "--to", "2026-12-01", "--outcomes", str(records),
                  "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"report: bad record: {records}:3: not JSON" in result.stderr
    assert f"report: bad record: {records}:5: invalid slo.completed: " in result.stderr
    assert "bad 2;" in result.stderr
    assert "2 record(s) could not be read and are not counted." in out.read_text(encoding="utf-8")


def test_command_line_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    out = str(tmp_path / "r.html")
    cases = {
        ("--from", "2026-12-01", "--to", "2026-11-01"): "--to '2026-11-01' is not after --from '2026-12-01'",
        ("--from", "2026-11-31", "--to", "2026-12-01"): "--from '2026-11-31' is not a date",
        ("--from", "2026-11-01", "--to", "2026-12-01", "--outcomes", str(tmp_path / "none.jsonl")):
            "cannot read records file",
        ("--from", "2026-11-01", "--to", "2026-12-01", "--outcomes", str(tmp_path)): "cannot read records file",
    }
    for args, message in cases.items():
        result = _cli("report", *args, "--out", out)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not Path(out).exists()
