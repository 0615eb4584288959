"""`ticket-slo bench --quick` produces every figure of the issue (a benchmark: no speed is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _command() -> list[str]:
    script = Path(sys.executable).with_name("ticket-slo")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ticket_slo.agents.cli"]


def _positive(figures: dict[str, Any], *path: str) -> float:
    value: Any = figures
    for key in path:
        assert key in value, f"missing figure {'.'.join(path)}"
        value = value[key]
    assert isinstance(value, (int, float)) and value > 0, f"{'.'.join(path)} = {value!r}"
    return float(value)


@pytest.fixture(scope="module")
def figures(kafka_bootstrap: str) -> dict[str, Any]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    done = subprocess.run([*_command(), "bench", "--quick", "--json"], env=env, capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0, f"bench failed ({done.returncode}):\n{done.stderr[-4000:]}"
    assert "bench [" in done.stderr, "progress lines go to stderr"
    return json.loads(done.stdout)


def test_throughput_figures_side_by_side(figures: dict[str, Any]) -> None:
    assert figures["mode"] == "quick"
    _positive(figures, "event_bytes_mean")
    for path in (("broker_limit", "producer_records_per_s"), ("broker_limit", "consumer_records_per_s"),
                 ("python_limit", "events_per_s"), ("engine_limit", "events_per_s"),
                 ("engine_limit", "ratio_to_python_limit"), ("pipeline", "events_per_s"),
                 ("pipeline", "events_per_s_to_last_write"), ("pipeline", "ready_s"),
                 ("open_small", "drain", "events_per_s"), ("open_large", "drain", "events_per_s"),
                 ("open_small_business", "drain", "events_per_s"), ("open_large_business", "drain", "events_per_s")):
        _positive(figures, *path)
    assert figures["open_large"]["open_tickets"] > figures["open_small"]["open_tickets"] > 0
    for size in ("small", "large"):
        assert figures[f"open_{size}_business"]["open_tickets"] == figures[f"open_{size}"]["open_tickets"]
    drains = [figures["pipeline"], *(figures[key]["drain"] for key in ("open_small", "open_large",
                                                                        "open_small_business", "open_large_business"))]
    for drain in drains:
        # A drain whose lag never returns to zero is flagged, and timed to the last write instead.
        assert isinstance(drain["lag_zero"], bool) and "stalled" in drain and "probe_outputs_missing" in drain


def test_engine_limit_writes_state_once_per_batch_with_its_position(figures: dict[str, Any]) -> None:
    engine = figures["engine_limit"]
    loop = engine["loop"]
    assert engine["events"] == figures["python_limit"]["events"], "the same number of events as the passthrough"
    assert loop["events"] + loop["invalid"] == engine["events"]
    assert 0 < loop["changelog_records"] <= loop["events"], "each touched ticket at most once per batch"
    assert loop["position_records"] == loop["partition_batches"] > 0
    assert loop["outputs"] > 0
    split = engine["times"]["us_per_event"]
    assert set(split) == {"consume", "process", "state", "produce", "commit"}
    assert split["process"] > 0 and split["state"] > 0


def test_breach_timeliness_and_exactly_once(figures: dict[str, Any]) -> None:
    breaches = figures["breaches"]
    assert breaches["expected"] > 0
    assert 0.0 <= breaches["exactly_once_ratio"] <= 1.0
    assert breaches["emitted"] >= 0 and breaches["duplicates"] >= 0 and breaches["unexpected"] >= 0
    delay = breaches["delay_s"]
    assert delay["min"] <= delay["p50"] <= delay["p99"] <= delay["max"]
    assert breaches["grace_s"] >= 0 and "p99_after_deadline_plus_grace_s" in breaches
    _positive(figures, "breaches", "target_events_per_s")


def test_business_hours_phases_ran_on_the_business_plans(figures: dict[str, Any]) -> None:
    for key in ("open_small_business", "open_large_business"):
        state = figures[key]
        assert state["scenario"] == "business hours" and len(state["plans"]) == 3 and state["spread_s"] > 0
        _positive(figures, key, "bytes_per_open_ticket")
        assert state["drain"]["probe_outputs_missing"] == [], "the probes' plan is a business one"
        assert state["restart_without_snapshots"] is None, "a restart figure, measured on 24/7 only"
    assert {w["phase"] for w in figures["workers"]} >= {f"open{figures['open_large']['open_tickets']}-business"}


def test_memory_and_restart_figures(figures: dict[str, Any]) -> None:
    for key in ("open_small", "open_large"):
        state = figures[key]
        _positive(figures, key, "rss_mib_after")
        _positive(figures, key, "bytes_per_open_ticket")
        _positive(figures, key, "restart_ready_s")
        _positive(figures, key, "raw_changelog_read_s")
        assert state["changelog_records"] >= state["open_tickets"]
        cold = state["restart_without_snapshots"]
        assert cold["ready_s"] > 0 and cold["raw_changelog_read_s"] > 0, cold
        assert cold["changelog_records"] > state["changelog_records"], "the drain after the restart wrote more"
        assert cold["probe_outputs_missing"] == []


def test_catch_up_after_a_crash_beside_its_expectation(figures: dict[str, Any]) -> None:
    catchup = figures["catchup"]
    first = catchup["first_worker"]
    assert 0 < first["committed_at_kill"] <= catchup["events"], "killed once the group had committed a part"
    assert catchup["remaining_at_restart"] == catchup["events"] - first["committed_at_kill"]
    for key in ("catch_up_s", "restart_s", "restart_ready_log_s", "drain_rate", "expected_s", "ratio_to_expected"):
        _positive(figures, "catchup", key)
    assert catchup["restart_s"] <= catchup["catch_up_s"]
    assert catchup["drain_rate_source"] == "pipeline", "the pipeline phase ran in the same run"
    assert catchup["drain_rate"] == figures["pipeline"]["events_per_s"]
    assert catchup["session_timeout_s"] == 6.0


def test_status_api_answers_right_at_both_sizes(figures: dict[str, Any]) -> None:
    for key in ("open_small", "open_large"):
        api = figures[key]["api"]
        assert api["open_tickets"] == figures[key]["open_tickets"] and api["customer_tickets"] == 40
        for route, status in (("ticket", "200"), ("open_customer", "200"), ("unknown_ticket", "404")):
            answers = api[route]
            assert answers["statuses"] == {status: answers["requests"]} and answers["wrong_answers"] == 0, answers
            assert 0 < answers["p50_ms"] <= answers["p99_ms"] <= answers["max_ms"]
        assert api["ticket"]["requests"] == 200 and api["open_customer"]["requests"] == 50
    for key in ("open_small_business", "open_large_business"):
        assert figures[key]["api"] is None, "measured on 24/7 only"


def test_status_api_cost_runs_interleaved_with_the_load_on(figures: dict[str, Any]) -> None:
    cost = figures["api_cost"]
    assert [run["web"] for run in cost["runs"]] == cost["order"] == ["off", "on", "on", "off"]
    for run in cost["runs"]:
        assert run["events_per_s"] > 0 and run["worker_us_per_event"] > 0
        assert run["drain"]["events"] == cost["events"] > 0
        if run["web"] == "on":
            sent = run["load"]["routes"]["ticket"]
            assert sent["requests"] > 0 and set(sent["statuses"]) == {"200"}, sent
            assert "api load" in run["drain"]["cpu"]["cpu_s"], "the load generator's CPU is counted apart"
        else:
            assert run["load"] is None
    assert cost["ratio_on_to_off"] > 0 and cost["cpu_cost"] is not None


def test_every_goal_has_a_ratio(figures: dict[str, Any]) -> None:
    goals = {goal["goal"]: goal for goal in figures["goals"]}
    assert len(goals) == 13, list(goals)
    business = goals[f"throughput {figures['open_large_business']['open_tickets']:,} / "
                     f"{figures['open_small_business']['open_tickets']:,} open tickets, business hours"]
    assert business["target"] == ">= 0.9"
    for goal in goals.values():
        assert isinstance(goal["ratio"], (int, float)) and goal["ratio"] >= 0, goal
        assert isinstance(goal["met"], bool)


def test_cpu_is_attributed_per_process(figures: dict[str, Any]) -> None:
    phases = [figures["broker_limit"]["cpu"], figures["python_limit"]["cpu"], figures["engine_limit"]["cpu"],
              figures["pipeline"]["cpu"],
              figures["breaches"]["cpu"], figures["catchup"]["first_worker"]["cpu"], figures["catchup"]["cpu"],
              figures["open_large"]["load_cpu"], figures["open_large"]["drain"]["cpu"]]
    for cpu in phases:
        assert cpu["cores"] >= 1 and cpu["wall_s"] > 0
        assert "bench" in cpu["cpu_s"]
    assert figures["pipeline"]["cpu"]["cpu_s"]["worker"] > 0
    assert figures["python_limit"]["cpu"]["cpu_s"]["passthrough"] > 0
    assert figures["engine_limit"]["cpu"]["cpu_s"]["engine loop"] > 0
    assert figures["broker_limit"]["cpu"]["cpu_s"]["kafka perf tool"] > 0
    if figures["broker_pid"] is not None:  # a broker started by deploy/kafka/broker.py is found by address
        assert figures["pipeline"]["cpu"]["cpu_s"]["broker"] > 0
    assert figures["catchup"]["cpu"]["cpu_s"]["worker"] > 0
    assert {w["phase"] for w in figures["workers"]} >= {"pipeline", "breaches", "catchup"}
