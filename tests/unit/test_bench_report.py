"""The open-tickets rows of the benchmark's report: 24/7 and business hours side by side."""

from __future__ import annotations

from typing import Any

from ticket_slo.streams.bench.command import PHASES
from ticket_slo.streams.bench.report import goals, render

CPU = {"wall_s": 10.0, "cores": 2, "cpu_s": {"worker": 9.0}, "pct_of_machine": {"worker": 45.0},
       "pct_of_machine_total": 45.0}


def _state(open_tickets: int, events_per_s: float, *, business: bool) -> dict[str, Any]:
    drain = {"events": 500_016, "events_per_s": events_per_s, "events_per_s_to_last_write": events_per_s + 100,
             "drain_s": 15.0, "ready_s": 0.8, "ready_log_s": 0.7, "first_output_s": 0.7, "lag_zero": True,
             "stalled": None, "probe_outputs_missing": [], "cpu": CPU, "cpu_start": CPU}
    return {"open_tickets": open_tickets, "scenario": "business hours" if business else "24/7",
            "plans": ["business-de", "business-us"] if business else ["default"], "rss_mib_before": 72.0,
            "rss_mib_after": 900.0, "bytes_per_open_ticket": 870.0, "load_events_per_s": 30_000.0,
            "restart_ready_s": 2.5, "restart_ready_log_s": 2.3, "restart_first_output_s": 2.3,
            "changelog_records": open_tickets + 10, "changelog_mib": 190.0, "raw_changelog_read_s": 1.9,
            "restart_without_snapshots": None, "load_cpu": CPU, "drain": drain}


def _figures(**states: dict[str, Any]) -> dict[str, Any]:
    figures = {"mode": "full", "bootstrap": "b:9092", "partitions": 8, "event_bytes_mean": 305.0, "cores": 2,
               "duration_s": 300.0, **states}
    figures["goals"] = goals(figures)
    return figures


def test_business_hours_get_their_own_goal_row_beside_the_24_7_one() -> None:
    figures = _figures(open_small=_state(10_000, 33_000.0, business=False),
                       open_large=_state(1_000_000, 32_000.0, business=False),
                       open_small_business=_state(10_000, 30_000.0, business=True),
                       open_large_business=_state(1_000_000, 26_400.0, business=True))
    rows = {row["goal"]: row for row in figures["goals"]}
    always_on = rows["throughput 1,000,000 / 10,000 open tickets"]
    business = rows["throughput 1,000,000 / 10,000 open tickets, business hours"]
    assert (always_on["ratio"], always_on["met"]) == (0.97, True)
    assert (business["ratio"], business["met"]) == (0.88, False)
    assert business["figure"] == "26,400 / 30,000 events/s" and business["target"] == ">= 0.9"
    text = render(figures)
    lines = text.splitlines()
    business_row = next(line for line in lines if line.startswith("  business hours: worker + 1,000,000 open "))
    assert business_row.split()[6:8] == ["26,400", "500,016"]
    assert business_row.endswith("(26,500/s to last write; worker CPU 18.0 µs/event)")  # 9 s / 500,016 events
    always_on_row = next(line for line in lines if line.startswith("  pipeline: worker + 1,000,000 open tickets "))
    assert always_on_row.split()[6] == "32,000"
    assert "state with 1,000,000 open tickets on business-hours plans (business-de, business-us): RSS" in text
    assert "drain with 1,000,000 open (bh)" in text and "(bh) = on business-hours plans" in text
    goal_line = next(line for line in lines
                     if line.startswith("throughput 1,000,000 / 10,000 open tickets, business hours "))
    assert goal_line.split()[-2:] == ["0.880", "NO"]


def test_no_business_row_without_both_sizes() -> None:
    figures = _figures(open_small=_state(1_000, 30_000.0, business=False),
                       open_large=_state(10_000, 29_000.0, business=False),
                       open_large_business=_state(10_000, 20_000.0, business=True))
    assert [row["goal"] for row in figures["goals"]] == ["throughput 10,000 / 1,000 open tickets",
                                                         "resident memory per open ticket at 10,000",
                                                         "ready after restart / raw changelog read (10,000 open)"]


def test_the_business_phases_can_be_run_alone() -> None:
    assert PHASES[-2:] == ("open_small_business", "open_large_business")
