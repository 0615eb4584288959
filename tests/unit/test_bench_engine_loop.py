"""The engine limit's time split and its phase in the benchmark's report."""

from __future__ import annotations

from ticket_slo.schemas.validation import parse_event
from ticket_slo.streams.bench.command import PHASES, _phase_list
from ticket_slo.streams.bench.engine_loop import LoopTimes
from ticket_slo.streams.bench.lifecycle import lifecycle_batch, renamed_repeats
from ticket_slo.streams.bench.report import render

NOW = 1_800_000_000.0


def test_the_time_split_is_reported_per_event_and_as_shares() -> None:
    times = LoopTimes(consume=1.0, process=2.0, state=1.0)
    figures = times.as_dict(1000)
    assert figures["us_per_event"]["process"] == 2000.0
    assert figures["share"] == {"consume": 0.25, "process": 0.5, "state": 0.25, "produce": 0.0, "commit": 0.0}


def test_repeats_of_the_batch_are_new_tickets_not_duplicates() -> None:
    batch = lifecycle_batch(50, prefix="T-", start=NOW, concurrent=5)
    repeated = list(renamed_repeats(batch, 150, prefix="T-"))
    assert len(repeated) == 150 and repeated[:50] == batch
    for key, value in repeated[50:]:
        event = parse_event(value, key)  # the key still matches the renamed ticket id
        assert event.ticket_id.startswith(("T-r1-", "T-r2-")) and event.event_id.startswith(event.ticket_id)
    assert len({key for key, _ in repeated}) == 3 * len({key for key, _ in batch})


def test_the_phase_is_one_of_the_runs_phases() -> None:
    assert PHASES.index("engine_limit") == PHASES.index("python_limit") + 1
    assert _phase_list("python_limit,engine_limit") == {"python_limit", "engine_limit"}


def test_the_report_has_a_row_a_time_split_and_a_cpu_column() -> None:
    cpu = {"wall_s": 10.0, "cores": 2, "cpu_s": {"engine loop": 9.0}, "pct_of_machine": {"engine loop": 45.0},
           "pct_of_machine_total": 45.0}
    figures = {
        "mode": "quick", "bootstrap": "b:9092", "partitions": 8, "event_bytes_mean": 300.0, "cores": 2,
        "duration_s": 12.0, "goals": [],
        "engine_limit": {"events": 500_000, "events_per_s": 38_000.0, "events_per_s_to_last_write": 39_000.0,
                         "drain_s": 13.2, "ratio_to_python_limit": 0.62, "cpu": cpu,
                         "loop": {"events": 500_000, "changelog_records": 230_000, "tuning": {"max_records": 1000}},
                         "times": LoopTimes(consume=2.0, process=6.0).as_dict(500_000)},
    }
    text = render(figures)
    row = next(line for line in text.splitlines() if line.startswith("  python: batch loop around the engine"))
    assert row.split()[6:10] == ["38,000", "500,000", "events", "in"]
    assert "0.620 x passthrough" in text
    assert "engine loop time per event: consume 4.0, process 12.0, state 0.0" in text
    assert "0.46 changelog writes per event" in text
    assert "engine limit (batch loop)" in text and "    engine loop" in text
