"""The status page in a real browser: headless Chromium against a real worker on the real broker.

A customer signs in through the form with their token, sees the P1 ticket published a
moment before, watches its countdown go down, and sees it turn into a breach (in its row
and in the recent list) after its 20 s deadline, without reloading the page: the page's
own refresh brings it. Another customer's tickets, published alongside and breaching at
the same moment, never show. Staff then see both customers, filter by priority, and the
filter holds through the refreshes. The script's rows are checked against the server's
for the same answer, and the screenshots must show the warning colours.

Chromium comes from Debian (``make tools`` installs it); a missing browser fails the test.
With ``TICKET_SLO_SAVE_SCREENSHOTS=1`` the screenshots are also written to docs/ (the
README shows them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from ticket_slo.streams.status.page import render_page
from tests.integration.headless_chromium import Chromium
from tests.integration.kafka_io import produce_json
from tests.integration.png_pixels import png_rows
from tests.integration.worker_process import WorkerProcess, running_worker

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Targets of seconds and minutes: the P1 tickets breach 20 s after they open.
POLICY = """
plans:
  default:
    warn_at: [0.25, 0.5]
    objectives:
      first_response: {P1: 20s, P2: 10m, P3: 1h, P4: 4h}
contracts:
  acme-2026: {customers: [acme], plan: default, account_manager: dana}
  globex-2026: {customers: [globex], plan: default, account_manager: lee}
"""
STAFF_TOKEN = "staff-desk-token-5f0c9a1e"
ACME_TOKEN = "acme-portal-token-2b7d4e90"
TOKENS = f"""
tokens:
  - name: support-desk
    token: "{STAFF_TOKEN}"
    staff: true
  - name: acme-portal
    token: "{ACME_TOKEN}"
    customer: acme
"""
P1_TARGET = 20.0

#: One snapshot of what the page shows: rows of cells and classes, and every visible text.
SNAPSHOT = """(() => {
  const rows = id => [...document.querySelectorAll('#' + id + ' tr')].map(
      tr => ({cls: tr.className, cells: [...tr.querySelectorAll('td')].map(td => td.textContent.trim())}));
  return {clocks: rows('clock-rows'), events: rows('event-rows'), text: document.body.innerText,
          asOf: (document.getElementById('as-of') || {}).textContent || null};
})()"""


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _opened(ticket_id: str, priority: str, customer: str, at: datetime) -> dict[str, Any]:
    return {"event_id": f"e-{ticket_id}", "type": "ticket.opened", "ticket_id": ticket_id, "occurred_at": _iso(at),
            "priority": priority, "customer_id": customer, "title": "status page test"}


def _api(base: str, path: str, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None
    except OSError:
        return 0, None


def _seconds_left(text: str) -> int:
    """``1m 05s`` → 65, ``overdue 3s`` → -3: the countdown as a number."""
    found = re.fullmatch(r"(overdue )?(?:(\d+)d )?(?:(\d+)h )?(?:(\d+)m ?)?(?:(\d+)s)?", text)
    assert found and text, f"not a countdown: {text!r}"
    days, hours, minutes, seconds = (int(part or 0) for part in found.groups()[1:])
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    return -total if found.group(1) else total


def _row(snapshot: dict[str, Any], ticket_id: str) -> dict[str, Any] | None:
    return next((row for row in snapshot["clocks"] if row["cells"] and row["cells"][0] == ticket_id), None)


def _tbody(page: str, tbody_id: str) -> str:
    found = re.search(rf'<tbody id="{tbody_id}">(.*?)</tbody>', page, flags=re.DOTALL)
    assert found
    return found.group(1)


def _colours(png: bytes) -> tuple[int, Counter[bytes]]:
    width, _, rows, bpp = png_rows(png)
    colours: Counter[bytes] = Counter()
    for row in rows[::3]:
        for x in range(0, width * bpp, bpp * 3):
            colours[row[x:x + 3]] += 1
    return width, colours


@pytest.fixture
def worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[WorkerProcess, str]]:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(TOKENS)
    with running_worker(kafka_bootstrap, tmp_path, POLICY, TICKET_SLO_BREACH_GRACE="0.2",
                        TICKET_SLO_WEB_ENABLED="true", TICKET_SLO_WEB_ADDR="127.0.0.1",
                        TICKET_SLO_WEB_TOKENS_FILE=str(tokens)) as process:
        base = process.web_url + "/"
        deadline = time.monotonic() + 60
        while _api(base, "api/open", STAFF_TOKEN)[0] != 200:
            assert time.monotonic() < deadline, f"the status API did not answer 200 in 60 s:\n{process.log()[-3000:]}"
            time.sleep(0.5)
        yield process, base


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    chromium = Chromium(tmp_path / "browser")
    try:
        yield chromium
    finally:
        chromium.close()


def _sign_in(browser: Chromium, base: str, token: str) -> None:
    """Through the login form, as a person would: type the token, press Enter."""
    browser.open(base, ready="!!document.querySelector('input[name=token]')")
    assert browser.evaluate("document.querySelectorAll('#clock-rows tr').length") == 0
    browser.evaluate("document.querySelector('input[name=token]').focus()")
    browser.type_text(token)
    browser.press_enter()
    browser.wait_for("!!document.getElementById('clock-rows')", timeout=15)


def _save(png: Path, name: str) -> None:
    if os.environ.get("TICKET_SLO_SAVE_SCREENSHOTS") == "1":
        shutil.copyfile(png, DOCS / name)


def test_a_customer_follows_a_ticket_to_its_breach(worker: tuple[WorkerProcess, str], browser: Chromium,
                                                   kafka_bootstrap: str, tmp_path: Path) -> None:
    process, base = worker
    now = datetime.now(timezone.utc)
    produce_json(kafka_bootstrap, process.topic("ticket-events"), [
        _opened("ACME-101", "P1", "acme", now),                          # breaches 20 s from now
        _opened("ACME-102", "P2", "acme", now - timedelta(minutes=7)),   # both warnings sent, 3 min left
        _opened("ACME-103", "P3", "acme", now - timedelta(minutes=20)),  # first warning sent
        _opened("ACME-104", "P4", "acme", now),
        _opened("GLOBEX-201", "P1", "globex", now),                      # breaches with ACME-101
        _opened("GLOBEX-202", "P3", "globex", now),
    ])
    deadline = now + timedelta(seconds=P1_TARGET)

    _sign_in(browser, base, ACME_TOKEN)
    assert "customer acme" in browser.evaluate("document.querySelector('header').innerText")
    assert browser.evaluate("document.querySelector('input[name=customer]')") is None  # no customer filter
    browser.evaluate("window.stillTheSamePage = true")  # gone if anything reloads the page
    # Only the page's own script runs: one injected into the document is refused by its policy.
    browser.evaluate("const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
                     "document.body.appendChild(s)")
    assert browser.evaluate("typeof window.injected") == "undefined"

    snapshots: list[dict[str, Any]] = []

    def look() -> dict[str, Any]:
        snapshot = browser.evaluate(SNAPSHOT)
        snapshots.append(snapshot)
        assert "GLOBEX" not in snapshot["text"] and "globex" not in snapshot["text"], snapshot["text"]
        return snapshot

    # The ticket published a moment before: shown (by the first render or a refresh), running.
    browser.wait_for("[...document.querySelectorAll('#clock-rows td.ticket')].some(td => td.textContent === 'ACME-101')",
                     timeout=12)
    first = _row(look(), "ACME-101")
    assert first is not None and first["cells"][5] == "running", first
    assert first["cells"][2:5] == ["P1", "acme", "dana"]
    time.sleep(2.2)
    second = _row(look(), "ACME-101")
    assert second is not None
    left_first, left_second = _seconds_left(first["cells"][7]), _seconds_left(second["cells"][7])
    assert 0 < left_first <= P1_TARGET, first
    assert 1 <= left_first - left_second <= 4, (first, second)

    # After the deadline the row turns into a breach and the breach heads the recent list.
    while True:
        snapshot = look()
        row = _row(snapshot, "ACME-101")
        events = [event["cells"] for event in snapshot["events"] if len(event["cells"]) == 8]
        if row and row["cells"][5] == "breached" and any(e[2] == "ACME-101" and e[1] == "breached" for e in events):
            break
        assert datetime.now(timezone.utc) < deadline + timedelta(seconds=30), snapshot
        time.sleep(0.5)
    assert datetime.now(timezone.utc) >= deadline
    assert row["cls"] == "clock lvl-late" and row["cells"][7].startswith("overdue "), row
    assert browser.evaluate("window.stillTheSamePage === true"), "the page was reloaded, not refreshed in place"
    # Every read showed acme's tickets only, soonest deadline first.
    tickets = [row["cells"][0] for row in snapshot["clocks"]]
    assert tickets == ["ACME-101", "ACME-102", "ACME-103", "ACME-104"], tickets
    classes = {row["cells"][0]: row["cls"] for row in snapshot["clocks"]}
    assert classes["ACME-102"] == "clock lvl-warn2" and classes["ACME-103"] == "clock lvl-warn1", classes
    assert classes["ACME-104"] == "clock lvl-none"
    assert browser.evaluate("document.getElementById('count').textContent") == "(4 open)"
    # Loaded afresh, the server's own rendering says the same, and still nothing of globex's.
    browser.open(base, ready="!!document.getElementById('clock-rows')")
    reloaded = look()
    assert [row["cells"][0] for row in reloaded["clocks"]] == tickets
    assert _row(reloaded, "ACME-101")["cells"][5] == "breached"  # type: ignore[index]
    assert [event["cells"][2] for event in reloaded["events"]] == ["ACME-101"]
    assert len(snapshots) >= 3

    # The script writes the rows the server writes, for the same answer (hostile-free here,
    # but every cell goes through the same escaping on both sides).
    status, open_answer = _api(base, "api/open", ACME_TOKEN)
    recent_status, recent_answer = _api(base, "api/recent", ACME_TOKEN)
    assert (status, recent_status) == (200, 200)
    server = render_page(open_answer, recent_answer, viewer="customer acme", filters={})
    script = browser.evaluate(
        f"(() => {{ const open = {json.dumps(open_answer)}, recent = {json.dumps(recent_answer)};"
        "return [TicketSloPage.clockRows(open, TicketSloPage.msOf(open.as_of), false), TicketSloPage.eventRows(recent)];"
        "})()")
    assert script == [_tbody(server, "clock-rows"), _tbody(server, "event-rows")]

    phone = browser.screenshot(tmp_path / "status-page-phone.png", width=390, mobile=True)
    width, colours = _colours(phone.read_bytes())
    assert width == 390
    assert colours[bytes.fromhex("fbe0de")] > 100, "no red (breached) card on the phone screenshot"
    _save(phone, "status-page-phone.png")

    # Log out: the login form again. Staff see both customers, and can narrow to P1.
    browser.evaluate("document.querySelector('a[href=logout]').click()")
    browser.wait_for("!!document.querySelector('input[name=token]')", timeout=10)
    _sign_in(browser, base, STAFF_TOKEN)
    browser.wait_for("[...document.querySelectorAll('#event-rows td.ticket')].some(td => td.textContent === 'GLOBEX-201')",
                     timeout=12)
    everything = browser.evaluate(SNAPSHOT)
    assert {row["cells"][0] for row in everything["clocks"]} == {"ACME-101", "ACME-102", "ACME-103", "ACME-104",
                                                                 "GLOBEX-201", "GLOBEX-202"}
    wide = browser.screenshot(tmp_path / "status-page.png", width=1200)
    _, colours = _colours(wide.read_bytes())
    for name, colour in (("red", "fbe0de"), ("orange", "ffe6d1"), ("amber", "fff6d9")):
        assert colours[bytes.fromhex(colour)] > 100, f"no {name} row on the screenshot"
    _save(wide, "status-page.png")

    browser.evaluate("document.querySelector('select[name=priority]').value = 'P1';"
                     "document.querySelector('form.filters').requestSubmit()")
    browser.wait_for("location.search === '?customer=&account_manager=&priority=P1'", timeout=10)
    filtered = browser.evaluate(SNAPSHOT)
    as_of = filtered["asOf"]
    browser.wait_for(f"document.getElementById('as-of').textContent !== {json.dumps(as_of)}", timeout=15)
    refreshed = browser.evaluate(SNAPSHOT)
    for snapshot in (filtered, refreshed):
        assert sorted(row["cells"][0] for row in snapshot["clocks"]) == ["ACME-101", "GLOBEX-201"], snapshot["clocks"]

    # Out again, and a wrong token: the form says so and shows nothing else.
    browser.evaluate("document.querySelector('a[href=logout]').click()")
    browser.wait_for("!!document.querySelector('input[name=token]')", timeout=10)
    browser.evaluate("document.querySelector('input[name=token]').focus()")
    browser.type_text("not-a-token-of-this-worker")
    browser.press_enter()
    assert browser.wait_for("(document.querySelector('[role=alert]') || {}).textContent", timeout=10) == \
        "That token is not valid."
    assert "ACME" not in browser.evaluate("document.body.innerText")


def test_hostile_ids_stay_text_in_the_browser_in_both_renderings(browser: Chromium, tmp_path: Path) -> None:
    """Ids that would run script if pasted as markup: Chromium must show them as text, both
    as the server wrote them and as the script writes them again, and run none of them."""
    as_of = _iso(datetime.now(timezone.utc))
    hostile = '<img src=x onerror="window.pwned=1">'
    clock = {"ticket_id": hostile, "objective": "<script>window.pwned=2</script>", "state": "running",
             "priority": '"><svg onload=window.pwned=3>', "plan": "default", "customer_id": "a'b\"c&amp;",
             "account_manager": "</td></tr><tr><td>", "calendar": "24x7", "started_at": as_of,
             "deadline": _iso(datetime.now(timezone.utc) + timedelta(minutes=5)), "remaining_seconds": 300.0,
             "overdue_seconds": None, "warnings_sent": 0, "target_seconds": 300.0}
    event = {"type": "slo.breached", "ticket_id": hostile, "objective": "x", "priority": "P1",
             "customer_id": "<b>c</b>", "account_manager": None, "deadline": as_of, "at": as_of}
    open_answer = {"clocks": [clock], "next": None, "as_of": as_of}
    recent_answer = {"events": [event], "as_of": as_of}
    page = tmp_path / "hostile.html"
    page.write_text(render_page(open_answer, recent_answer, viewer="customer <i>x</i>",
                                filters={"account_manager": hostile}), encoding="utf-8")
    browser.open(page.as_uri())
    served = browser.evaluate(SNAPSHOT)
    browser.evaluate(f"document.getElementById('clock-rows').innerHTML = TicketSloPage.clockRows("
                     f"{json.dumps(open_answer)}, Date.now(), false);"
                     f"document.getElementById('event-rows').innerHTML = TicketSloPage.eventRows({json.dumps(recent_answer)})")
    redrawn = browser.evaluate(SNAPSHOT)
    for snapshot in (served, redrawn):
        assert [row["cells"][:5] for row in snapshot["clocks"]] == [
            [hostile, "<script>window.pwned=2</script>", '"><svg onload=window.pwned=3>', "a'b\"c&amp;",
             "</td></tr><tr><td>"]]
        assert [row["cells"][2] for row in snapshot["events"]] == [hostile]
        assert snapshot["events"][0]["cells"][5] == "<b>c</b>"
    assert browser.evaluate("document.querySelector('input[name=account_manager]').value") == hostile
    assert "customer <i>x</i>" in browser.evaluate("document.querySelector('header').innerText")
    time.sleep(0.5)  # an injected onerror or onload would have run by now
    assert browser.evaluate("typeof window.pwned") == "undefined"
    assert browser.evaluate("document.querySelectorAll('img, svg, #clock-rows script').length") == 0
