"""The status API's latency measurement checks every answer it times: a worker that answers
for the wrong ticket or leaks another customer's clocks is counted, not timed as a success
(against a real HTTP server on loopback standing in for the worker)."""

from __future__ import annotations

from typing import Iterator

import pytest

from ticket_slo.streams.bench.api_client import Answer
from ticket_slo.streams.bench.api_latency import (WARM_UP, ApiAsk, check_customer_page, check_ticket,
                                                  measure_api)
from tests.unit.status_api_double import StatusApiDouble, serve

OPEN = 500
CUSTOMER_TICKETS = range(0, 500, 25)  # 20 of them


def _tickets() -> dict[str, str]:
    return {f"OPEN-x-{n:08d}": ("C99999" if n in CUSTOMER_TICKETS else f"C{n % 7:05d}") for n in range(OPEN)}


ASK = ApiAsk(prefix="OPEN-x-", open_tickets=OPEN, customer="C99999", customer_tickets=len(CUSTOMER_TICKETS),
             ticket_requests=150, open_requests=30)


@pytest.fixture
def double() -> StatusApiDouble:
    return StatusApiDouble(tickets=_tickets())


@pytest.fixture
def url(double: StatusApiDouble) -> Iterator[str]:
    yield from serve(double)


def test_every_request_is_timed_and_checked(double: StatusApiDouble, url: str) -> None:
    double.unavailable_first = 2  # the index still building: waited out, not timed
    figures = measure_api(url, ASK, wait_limit=10)
    ticket, customer, unknown = figures["ticket"], figures["open_customer"], figures["unknown_ticket"]
    assert ticket["requests"] == 150 and ticket["statuses"] == {"200": 150} and ticket["wrong_answers"] == 0
    assert customer["requests"] == 30 and customer["statuses"] == {"200": 30} and customer["wrong_answers"] == 0
    assert unknown["statuses"] == {"404": WARM_UP} and unknown["wrong_answers"] == 0
    assert 0 < ticket["p50_ms"] <= ticket["p99_ms"] <= ticket["max_ms"]
    asked = [path for path in double.requests if path.startswith("/api/tickets/OPEN-x-")]
    assert len(asked) == WARM_UP + 150 and len(set(asked)) > 100, "random open tickets, not one"
    assert figures["reconnects"] == 0 and double.connections == 1
    assert figures["customer_tickets"] == 20 and figures["open_tickets"] == OPEN


def test_answers_for_another_ticket_are_wrong(double: StatusApiDouble, url: str) -> None:
    double.always_ticket = "OPEN-x-00000001"
    ticket = measure_api(url, ASK, wait_limit=10)["ticket"]
    assert ticket["statuses"] == {"200": 150}
    assert 145 <= ticket["wrong_answers"] <= 150  # a random id may be that one
    assert "answered for 'OPEN-x-00000001'" in ticket["wrong_examples"][0]


def test_another_customers_clock_in_the_listing_is_wrong(double: StatusApiDouble, url: str) -> None:
    double.leak_other_customer = True
    customer = measure_api(url, ASK, wait_limit=10)["open_customer"]
    assert customer["wrong_answers"] == 30
    assert customer["wrong_examples"][0].startswith("clocks of other customers")


def _page(clocks: list[dict[str, str]], next_page: str | None = None) -> Answer:
    import json
    return Answer(200, json.dumps({"clocks": clocks, "next": next_page}).encode(), 0.001)


def test_a_customer_page_must_hold_exactly_its_tickets_soonest_first() -> None:
    a = {"ticket_id": "A", "customer_id": "C", "deadline": "2026-12-01T10:00:00.000000Z"}
    b = {"ticket_id": "B", "customer_id": "C", "deadline": "2026-12-01T11:00:00.000000Z"}
    assert check_customer_page(_page([a, b]), "C", 2) is None
    assert check_customer_page(_page([b, a]), "C", 2) == "clocks not soonest deadline first"
    assert check_customer_page(_page([a]), "C", 2) == "1 tickets listed, 2 expected"
    assert check_customer_page(_page([a, b], "cursor"), "C", 2) == "a next page ('cursor') after 2 clocks"
    assert check_customer_page(Answer(503, b"{}", 0.001), "C", 2) == "status 503: b'{}'"


def test_a_ticket_answer_must_name_it_and_hold_its_objectives() -> None:
    assert check_ticket(Answer(200, b'{"ticket_id": "A", "objectives": [{}]}', 0.001), "A") is None
    assert check_ticket(Answer(200, b'{"ticket_id": "A", "objectives": []}', 0.001), "A") is not None
    assert check_ticket(Answer(404, b'{"error": "no ticket A"}', 0.001), "A") is not None
