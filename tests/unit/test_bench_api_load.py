"""The API-cost phase's load generator: its timetable, and a real run against a server on loopback."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from typing import Iterator

import pytest

from ticket_slo.streams.bench.api_load import OPEN, TICKET, timetable
from tests.unit.status_api_double import StatusApiDouble, serve


def test_the_timetable_keeps_each_rate_in_time_order() -> None:
    slots = list(itertools.takewhile(lambda slot: slot[0] <= 110.0 + 1e-9,
                                     timetable({TICKET: 50.0, OPEN: 2.0}, start=100.0)))
    times = [at for at, _ in slots]
    assert times == sorted(times)
    assert sum(1 for _, route in slots if route == TICKET) == 500
    assert sum(1 for _, route in slots if route == OPEN) == 20
    assert slots[0] == (100.02, TICKET)
    assert (100.5, OPEN) in slots


def test_a_route_at_rate_zero_never_comes() -> None:
    slots = list(itertools.islice(timetable({TICKET: 10.0, OPEN: 0.0}, start=0.0), 30))
    assert {route for _, route in slots} == {TICKET}


@pytest.fixture
def double() -> StatusApiDouble:
    return StatusApiDouble(tickets={f"OPEN-l-{n:08d}": ("C99999" if n < 4 else "C00001") for n in range(50)})


@pytest.fixture
def url(double: StatusApiDouble) -> Iterator[str]:
    yield from serve(double)


def test_a_run_sends_the_asked_rates_and_reports_every_answer(double: StatusApiDouble, url: str) -> None:
    double.unavailable_first = 3
    done = subprocess.run([sys.executable, "-m", "ticket_slo.streams.bench.api_load", url, "--ticket-prefix", "OPEN-l-",
                           "--tickets", "60", "--customer", "C99999", "--tickets-per-s", "40", "--open-per-s", "4",
                           "--seconds", "2"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    tickets, listings = result["routes"][TICKET], result["routes"][OPEN]
    assert 76 <= tickets["requests"] <= 80 and 7 <= listings["requests"] <= 8  # 2 s at 40/s and 4/s
    assert tickets["requests"] + listings["requests"] == len(double.requests)
    statuses = {status: tickets["statuses"].get(status, 0) + listings["statuses"].get(status, 0)
                for status in ("200", "404", "503")}
    assert statuses["503"] == 3
    assert statuses["404"] > 0, "ids 50-59 do not exist"
    assert sum(statuses.values()) == len(double.requests)
    assert all(path == "/api/open?customer=C99999" for path in double.requests if path.startswith("/api/open"))
    assert result["connection_errors"] == {} and double.connections == 1
