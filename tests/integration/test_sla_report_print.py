"""The SLA report printed by a real browser: headless Chromium renders it to PDF (A4) and PNG.

The report comes from ``ticket-slo replay``'s output of tests/unit/data/report-events.jsonl.
Its print layout puts the attainment table, the breaches and the response-time charts on a
page each, so the PDF has three pages; the screenshot must show the page, not a blank.
Chromium and pdfinfo come from Debian (``make tools`` installs them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.png_pixels import png_rows

EVENTS = Path(__file__).parent.parent / "unit" / "data" / "report-events.jsonl"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("report")
    replayed = _run(sys.executable, "-m", "ticket_slo.agents.cli", "replay", str(EVENTS))
    assert replayed.returncode == 0, replayed.stderr
    (directory / "outputs.jsonl").write_text(replayed.stdout)
    made = _run(sys.executable, "-m", "ticket_slo.agents.cli", "report", "--from", "2026-11-01", "--to",
                "2026-12-01", "--customer", "acme", "--outcomes", str(directory / "outputs.jsonl"),
                "--out", str(directory / "report.html"))
    assert made.returncode == 0, made.stderr
    return directory / "report.html"


def _chromium(page: Path, *args: str) -> None:
    browser = shutil.which("chromium")
    assert browser, "chromium is missing: run 'make tools' (Debian's chromium package)"
    profile = page.parent / "chromium-profile"
    result = _run(browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                  "--no-pdf-header-footer", *args, page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_report_prints_to_three_a4_pages(report: Path) -> None:
    pdf = report.with_suffix(".pdf")
    _chromium(report, f"--print-to-pdf={pdf}")
    assert shutil.which("pdfinfo"), "pdfinfo is missing: run 'make tools' (Debian's poppler-utils package)"
    info = _run("pdfinfo", str(pdf))
    assert info.returncode == 0, info.stderr
    pages = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))  # type: ignore[union-attr]
    assert pages == 3, info.stdout
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info.stdout).groups())  # type: ignore[union-attr]
    assert (round(width), round(height)) == (595, 842), info.stdout  # A4 in points


def test_the_screenshot_shows_the_report(report: Path) -> None:
    png = report.with_suffix(".png")
    _chromium(report, f"--screenshot={png}", "--window-size=900,1200", "--hide-scrollbars")
    width, height, rows, bpp = png_rows(png.read_bytes())
    assert (width, height) == (900, 1200)
    colours: Counter[bytes] = Counter()
    for row in rows[::4]:
        for x in range(0, width * bpp, bpp * 4):
            colours[row[x:x + 3]] += 1
    total = sum(colours.values())
    background, most = colours.most_common(1)[0]
    assert background == b"\xff\xff\xff"  # a white page
    assert total - most > total * 0.03, "the screenshot is (nearly) blank"
    # The charts' colours are on the page: the met bars' green and the missed bars' red.
    assert colours[bytes.fromhex("2f7d4f")] > 50 and colours[bytes.fromhex("c0392b")] > 50
