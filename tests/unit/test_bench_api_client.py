"""The benchmark's status API client: one keep-alive connection, 503s waited out, percentiles
that are measured values (against a real HTTP server on loopback)."""

from __future__ import annotations

from typing import Iterator

import pytest

from ticket_slo.streams.bench.api_client import (ApiConnection, latency_figures, open_path, percentile,
                                                 ticket_path)
from ticket_slo.streams.bench.processes import BenchError
from tests.unit.status_api_double import StatusApiDouble, serve


@pytest.fixture
def double() -> StatusApiDouble:
    return StatusApiDouble(tickets={"T-1": "C1", "T 2/x": "C1", "T-3": "C2"})


@pytest.fixture
def url(double: StatusApiDouble) -> Iterator[str]:
    yield from serve(double)


def test_requests_share_one_connection_and_read_whole_answers(double: StatusApiDouble, url: str) -> None:
    with ApiConnection(url) as api:
        answers = [api.get(ticket_path("T-1")) for _ in range(30)]
        missing = api.get(ticket_path("T-404"))
    assert [a.status for a in answers] == [200] * 30
    assert answers[0].json()["customer_id"] == "C1"
    assert all(a.seconds > 0 for a in answers)
    assert missing.status == 404 and missing.json() == {"error": "no ticket T-404"}
    assert double.connections == 1 and api.reconnects == 0


def test_ticket_ids_are_quoted_into_one_path_segment(double: StatusApiDouble, url: str) -> None:
    with ApiConnection(url) as api:
        answer = api.get(ticket_path("T 2/x"))
    assert double.requests == ["/api/tickets/T%202%2Fx"]
    assert answer.status == 200 and answer.json()["ticket_id"] == "T 2/x"


def test_a_connection_the_server_closes_is_opened_again_and_counted(double: StatusApiDouble, url: str) -> None:
    double.close_every = 5
    with ApiConnection(url) as api:
        statuses = [api.get(open_path(customer="C1")).status for _ in range(12)]
    assert statuses == [200] * 12
    assert double.connections == 3 and api.reconnects == 2


def test_wait_until_served_waits_out_503s(double: StatusApiDouble, url: str) -> None:
    double.unavailable_first = 3
    with ApiConnection(url) as api:
        first = api.get(open_path(customer="C1"))
        served = api.wait_until_served(open_path(customer="C1"), timeout=10)
    assert first.status == 503 and first.retry_after == "1"
    assert served.status == 200 and len(served.json()["clocks"]) == 2
    assert len(double.requests) == 4


def test_wait_until_served_gives_up_naming_the_last_answer(double: StatusApiDouble, url: str) -> None:
    double.unavailable_first = 10_000
    with ApiConnection(url) as api, pytest.raises(BenchError, match=r"did not serve /api/open\?customer=C1 .*503"):
        api.wait_until_served(open_path(customer="C1"), timeout=0.5)


def test_a_url_that_is_not_http_host_port_is_refused() -> None:
    with pytest.raises(BenchError, match="not http://HOST:PORT"):
        ApiConnection("https://127.0.0.1")


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unordered
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([0.003] * 1999 + [0.5], 0.99) == 0.003, "one slow request of 2,000 is not the p99"
    assert percentile([0.003] * 1979 + [0.5] * 21, 0.99) == 0.5, "21 of 2,000 are"
    assert percentile([], 0.99) == 0.0


def test_latency_figures_are_in_milliseconds_with_statuses() -> None:
    figures = latency_figures([0.001, 0.002, 0.004, 0.010], {404: 1, 200: 3})
    assert figures == {"requests": 4, "p50_ms": 2.0, "p90_ms": 10.0, "p99_ms": 10.0, "max_ms": 10.0,
                       "mean_ms": 4.25, "statuses": {"200": 3, "404": 1}}
