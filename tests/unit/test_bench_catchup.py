"""The catch-up phase without a broker: its expectation, where its drain rate comes from, its
sizes, its place among the phases and its lines in the report."""

from __future__ import annotations

from typing import Any

import pytest

from ticket_slo.streams.bench.catchup import drain_rate, expected_catch_up
from ticket_slo.streams.bench.command import PHASES, _phase_list
from ticket_slo.streams.bench.plan import full_plan, quick_plan
from ticket_slo.streams.bench.report import goals, render
from ticket_slo.streams.bench.runner import _pipeline_rate


def cpu(worker_s: float) -> dict[str, Any]:
    return {"wall_s": 10.0, "cores": 2, "cpu_s": {"worker": worker_s}, "pct_of_machine": {"worker": 5 * worker_s},
            "pct_of_machine_total": 5 * worker_s}


def catchup_figures(**changes: Any) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "events": 100_016, "session_timeout_s": 30.0,
        "first_worker": {"ready_log_s": 1.8, "first_output_s": 2.1, "killed_after_s": 11.4,
                         "committed_at_kill": 40_016, "events_per_s": 4_410.5, "cpu": cpu(9.0)},
        "remaining_at_restart": 60_000, "kill_to_launch_s": 0.05, "restart_ready_log_s": 29.6, "restart_s": 30.2,
        "restart_from": "first output", "restart_all_partitions_s": 30.4, "catch_up_s": 46.0,
        "drain_rate": 4_500.0, "drain_rate_source": "pipeline", "expected_s": 43.53, "ratio_to_expected": 1.057,
        "cpu": cpu(15.0),
    }
    figures.update(changes)
    return figures


def report(catchup: dict[str, Any]) -> str:
    return render({"mode": "full", "bootstrap": "b:9092", "partitions": 8, "event_bytes_mean": 300.0, "cores": 2,
                   "duration_s": 60.0, "goals": [], "catchup": catchup})


def test_the_expectation_is_the_restart_then_the_backlog_left_at_the_drain_rate() -> None:
    assert expected_catch_up(30.0, 45_000, 4_500.0) == pytest.approx(40.0)
    assert expected_catch_up(2.5, 0, 4_500.0) == 2.5  # nothing left: the restart alone
    assert expected_catch_up(2.5, 1_000, 0.0) is None  # no rate measured: no expectation


def test_the_drain_rate_is_the_pipelines_when_it_ran_else_the_first_workers() -> None:
    assert drain_rate(4_488.0, 3_900.0) == (4_488.0, "pipeline")
    assert drain_rate(None, 3_900.0) == (3_900.0, "first worker")
    assert _pipeline_rate({"pipeline": {"events_per_s": 4_488.0}}) == 4_488.0
    assert _pipeline_rate({}) is None and _pipeline_rate({"pipeline": {"events_per_s": 0.0}}) is None


def test_the_quick_run_has_a_smaller_backlog_and_a_short_session() -> None:
    full, quick = full_plan(), quick_plan()
    assert full.catchup_events == 100_000 and full.catchup_session_timeout is None  # the worker's own setting
    assert 0 < quick.catchup_events < full.catchup_events
    assert quick.catchup_session_timeout == 6.0  # the broker's smallest by default
    assert 0 < full.catchup_kill_at < 1


def test_the_phase_runs_after_the_pipeline_and_can_be_chosen_alone() -> None:
    assert PHASES.index("catchup") > PHASES.index("pipeline")
    assert _phase_list("catchup") == {"catchup"}


def test_the_report_shows_the_catch_up_beside_its_expectation_without_a_goal() -> None:
    figures = catchup_figures()
    text = report(figures)
    assert ("catch-up after a crash: 100,016 events preloaded; worker killed (SIGKILL) 11.4 s after launch with "
            "40,016 committed") in text
    assert "60,000 left; new worker launched 0.05 s later (session timeout 30 s)" in text
    assert ("  restart to lag 0: 46.00 s; expected 43.53 s = restart 30.20 s (to first output; 'Ready' logged at "
            "29.60 s, every partition's first output by 30.40 s) + 60,000 events at 4,500 events/s (pipeline); "
            "ratio 1.057 (informational)") in text
    assert "catch-up: worker until killed" in text and "catch-up: restart to lag 0" in text
    assert goals({"catchup": figures}) == []


def test_the_report_says_when_there_is_no_expectation() -> None:
    text = report(catchup_figures(expected_s=None, ratio_to_expected=None, drain_rate=0.0,
                                  drain_rate_source="first worker"))
    assert "expected - = restart" in text and "ratio - (informational)" in text
