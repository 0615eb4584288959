"""The status API's rows of the benchmark's report: the goals and the lines behind them."""

from __future__ import annotations

import copy
from typing import Any

from ticket_slo.streams.bench.report import goals, render
from tests.unit.test_bench_report import CPU, _state


def _route(p50: float, p99: float, requests: int, status: str = "200", wrong: int = 0) -> dict[str, Any]:
    return {"requests": requests, "p50_ms": p50, "p90_ms": p50 * 1.5, "p99_ms": p99, "max_ms": p99 * 2,
            "mean_ms": p50 * 1.1, "statuses": {status: requests}, "wrong_answers": wrong,
            "wrong_examples": ["T-1: status 500: b'x'"] if wrong else []}


def _api(open_tickets: int, ticket_p99: float, customer_p50: float, customer_p99: float) -> dict[str, Any]:
    return {"url": "http://127.0.0.1:1", "open_tickets": open_tickets, "customer": "C99999", "customer_tickets": 40,
            "first_customer_answer": 200, "warm_up_requests": 20, "reconnects": 0, "rss_mib": 900.0, "cpu": CPU,
            "ticket": _route(0.6, ticket_p99, 2000), "open_customer": _route(customer_p50, customer_p99, 300),
            "unknown_ticket": _route(0.4, 0.9, 20, "404")}


def _cost(on: float, off: float) -> dict[str, Any]:
    drain = {"cpu": CPU}
    load = {"sent_per_s": {"ticket": 49.9, "open_customer": 2.0}, "connection_errors": {},
            "routes": {"ticket": _route(0.8, 40.0, 750), "open_customer": _route(2.0, 30.0, 30)}}
    runs = [{"web": "off", "events_per_s": off + 500, "worker_us_per_event": 28.0, "drain": drain, "load": None},
            {"web": "on", "events_per_s": on, "worker_us_per_event": 28.6, "drain": drain, "load": load},
            {"web": "on", "events_per_s": on + 1000, "worker_us_per_event": 28.8, "drain": drain, "load": load},
            {"web": "off", "events_per_s": off - 500, "worker_us_per_event": 28.2, "drain": drain, "load": None}]
    return {"events": 501_016, "open_tickets": 1000, "order": ["off", "on", "on", "off"],
            "load_asked_per_s": {"ticket": 50.0, "open_customer": 2.0}, "runs": runs,
            "median_events_per_s": {"off": off, "on": on + 500},
            "median_worker_us_per_event": {"off": 28.1, "on": 28.7},
            "ratio_on_to_off": round((on + 500) / off, 4), "cost": round(1 - (on + 500) / off, 4),
            "cpu_cost": round(28.7 / 28.1 - 1, 4)}


def _figures(small_api: dict[str, Any] | None, large_api: dict[str, Any] | None,
             cost: dict[str, Any] | None) -> dict[str, Any]:
    small, large = _state(10_000, 33_000.0, business=False), _state(1_000_000, 32_000.0, business=False)
    small["api"], large["api"] = small_api, large_api
    figures = {"mode": "full", "bootstrap": "b:9092", "partitions": 8, "event_bytes_mean": 305.0, "cores": 2,
               "duration_s": 300.0, "open_small": small, "open_large": large}
    if cost is not None:
        figures["api_cost"] = cost
    figures["goals"] = goals(figures)
    return figures


def _rows(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["goal"]: row for row in figures["goals"] if "/api/" in row["goal"] or "status API" in row["goal"]}


def test_the_api_goals_met() -> None:
    figures = _figures(_api(10_000, 1.1, 1.5, 2.4), _api(1_000_000, 1.9, 1.8, 3.0), _cost(30_000, 31_000))
    rows = _rows(figures)
    assert list(rows) == ["GET /api/tickets/{id} p99 at 1,000,000 open", "GET /api/open?customer= p99 at 1,000,000 open",
                          "GET /api/open?customer= p50, 1,000,000 / 10,000 open",
                          "events/s with the status API under load / without"]
    assert [row["met"] for row in rows.values()] == [True, True, True, True]
    assert rows["GET /api/tickets/{id} p99 at 1,000,000 open"]["ratio"] == 0.19
    assert rows["GET /api/open?customer= p50, 1,000,000 / 10,000 open"]["ratio"] == 1.2
    cost = rows["events/s with the status API under load / without"]
    assert cost["ratio"] == round(30_500 / 31_000, 4) and cost["target"] == ">= 0.95 (cost < 5 %)"
    assert cost["figure"] == "30,500 / 31,000 events/s (medians of 2+2)"
    cpu = next(row for row in figures["goals"] if row["goal"] == "  worker CPU per event, the same runs")
    assert (cpu["figure"], cpu["ratio"], cpu["met"]) == ("28.7 / 28.1 µs (medians)", 1.0214, True)


def test_more_worker_cpu_per_event_than_five_percent_misses_its_goal() -> None:
    cost = _cost(30_000, 31_000)
    cost["median_worker_us_per_event"] = {"off": 28.0, "on": 29.5}
    cost["cpu_cost"] = round(29.5 / 28.0 - 1, 4)
    figures = _figures(None, None, cost)
    cpu = next(row for row in figures["goals"] if row["goal"] == "  worker CPU per event, the same runs")
    assert (cpu["ratio"], cpu["met"]) == (1.0536, False)
    assert _rows(figures)["events/s with the status API under load / without"]["met"] is True


def test_slow_growing_or_wrong_answers_miss_their_goals() -> None:
    large = _api(1_000_000, 12.0, 150.0, 400.0)  # as a scan of every open ticket would
    figures = _figures(_api(10_000, 1.1, 1.5, 2.4), large, _cost(28_000, 31_000))
    rows = _rows(figures)
    assert [row["met"] for row in rows.values()] == [False, False, False, False]
    assert rows["GET /api/open?customer= p50, 1,000,000 / 10,000 open"]["ratio"] == 100.0
    fast_but_wrong = copy.deepcopy(large)
    fast_but_wrong["ticket"] = _route(0.5, 0.9, 2000, wrong=3)
    fast_but_wrong["unknown_ticket"] = _route(0.4, 0.9, 20, "200")
    row = _rows(_figures(None, fast_but_wrong, None))["GET /api/tickets/{id} p99 at 1,000,000 open"]
    assert row["ratio"] == 0.09 and row["met"] is False


def test_no_api_rows_without_their_figures() -> None:
    assert _rows(_figures(None, None, None)) == {}
    only_large = _rows(_figures(None, _api(1_000_000, 1.9, 1.8, 3.0), None))
    assert len(only_large) == 2, "the index row needs both sizes"


def test_the_table_shows_every_run_and_both_sizes() -> None:
    text = render(_figures(_api(10_000, 1.1, 1.5, 2.4), _api(1_000_000, 1.9, 1.8, 3.0), _cost(30_000, 31_000)))
    lines = text.splitlines()
    assert "status API with 1,000,000 open tickets, one request at a time on one connection" in text
    assert ("  GET /api/tickets/{id} of random open tickets: p50 0.60 ms, p90 0.90, p99 1.90, max 3.8; "
            "2,000 x 200, all right") in lines
    assert "  GET /api/open?customer= at 1,000,000 / 10,000 open: p50 1.80 / 1.50 ms (1.2), p99 3.00 / 2.40 ms (1.25)" in lines
    runs = [line for line in lines if line.startswith("  run ")]
    assert len(runs) == 4 and runs[0].startswith("  run 1, web API off:   31,500 events/s, worker CPU 28.0 µs/event")
    assert "load 49.9 + 2 req/s" in runs[1]
    assert "  medians: on 30,500 / off 31,000 events/s: cost 1.6 %; worker CPU per event 28.7 / 28.1 µs (+2.1 %)" in lines
    assert not any("idle" in line for line in lines)
    header = next(line for line in lines if line.startswith("phase "))
    assert "api load" in header and header.index("api load") < header.index("other load")
    assert any(line.startswith("api cost 2: web on") for line in lines)
    assert any(line.startswith("status API, 1,000,000 open") for line in lines)


def test_idle_runs_are_shown_apart_from_the_cost() -> None:
    cost = _cost(30_000, 31_000)
    cost["runs"].append({"web": "idle", "events_per_s": 30_800.0, "worker_us_per_event": 28.3,
                         "drain": {"cpu": CPU}, "load": None})
    cost["median_events_per_s"]["idle"] = 30_800.0
    cost["median_worker_us_per_event"]["idle"] = 28.3
    lines = render(_figures(None, None, cost)).splitlines()
    assert "  web API on without requests (idle): median 30,800 events/s, worker CPU 28.3 µs/event" in lines
    assert any(line.startswith("  run 5, web API idle:  30,800 events/s") for line in lines)
