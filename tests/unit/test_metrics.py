"""The worker's metric families, read back through prometheus-client's own exposition."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ticket_slo.agents.metrics import SloMetrics, elapsed_buckets
from ticket_slo.schemas.policy import load_policy


def samples(metrics: SloMetrics) -> list[tuple[str, dict[str, str], float]]:
    text = generate_latest(metrics.registry).decode()
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


def test_every_policy_target_is_a_bucket_bound_of_the_response_time_histogram() -> None:
    policy = load_policy()
    metrics = SloMetrics(policy.all_targets())
    bounds = {float(labels["le"]) for name, labels, _ in samples(metrics)
              if name == "ticket_slo_elapsed_seconds_bucket" and labels["priority"] == "P1"}
    assert {1800.0, 3600.0, 14400.0, 28800.0} <= bounds
    assert 90.0 in elapsed_buckets([90, 3600]) and 5.5 in elapsed_buckets([5.5])


def test_at_risk_series_of_every_threshold_start_at_zero() -> None:
    metrics = SloMetrics([30.0], warn_thresholds=[0.5, 0.75, 0.9])
    at_risk = {(labels["priority"], labels["threshold"]): value for name, labels, value in samples(metrics)
               if name == "ticket_slo_at_risk_total"}
    assert set(at_risk) == {(p, t) for p in ("P1", "P2", "P3", "P4") for t in ("0.5", "0.75", "0.9")}
    assert set(at_risk.values()) == {0.0}


def test_ownership_gauges_drop_lost_series_and_keep_the_rest() -> None:
    metrics = SloMetrics([30.0])
    metrics.set_ownership(2, {("first_response", "P1", "running"): 3, ("first_response", "P1", "breached"): 4,
                              ("first_response", "P2", "running"): 1}, {("first_response", "P1"): 12.5})
    metrics.set_ownership(1, {("first_response", "P1", "breached"): 2}, {})
    open_clocks = {(labels["priority"], labels["state"]): value for name, labels, value in samples(metrics)
                   if name == "ticket_slo_open_clocks"}
    deadlines = [labels for name, labels, _ in samples(metrics) if name == "ticket_slo_next_deadline_timestamp_seconds"]
    assert open_clocks == {("P1", "breached"): 2.0}
    assert deadlines == []


def test_the_heartbeat_is_one_unlabelled_timestamp() -> None:
    metrics = SloMetrics([30.0])
    metrics.beat(1714521600.25)
    assert [(labels, value) for name, labels, value in samples(metrics)
            if name == "ticket_slo_tracker_heartbeat_timestamp_seconds"] == [({}, 1714521600.25)]


def test_a_scrape_during_a_refresh_never_misses_a_running_clock() -> None:
    metrics = SloMetrics([30.0])
    clocks = {("first_response", "P1", "running"): 3, ("first_response", "P2", "running"): 1}
    deadlines = {("first_response", "P1"): 12.5, ("first_response", "P2"): 40.0}
    metrics.set_ownership(1, clocks, deadlines)
    stop = threading.Event()

    def refresh() -> None:
        while not stop.is_set():
            metrics.set_ownership(1, clocks, deadlines)

    refresher = threading.Thread(target=refresh)
    refresher.start()
    incomplete = 0
    try:
        for _ in range(20000):
            # What a scrape of /metrics reads of this family.
            seen = {sample.labels["priority"] for family in metrics.open_clocks.collect() for sample in family.samples}
            incomplete += seen != {"P1", "P2"}
    finally:
        stop.set()
        refresher.join()
    assert incomplete == 0, f"{incomplete} of 20000 scrapes missed a series"


def test_ignored_events_are_exported_at_zero_by_reason() -> None:
    metrics = SloMetrics([30.0])
    ignored = {labels["reason"]: value for name, labels, value in samples(metrics)
               if name == "ticket_slo_events_ignored_total"}
    assert ignored == {"ticket_closed": 0.0, "already_opened": 0.0}


def test_each_engine_output_is_counted_in_its_own_family() -> None:
    from tests.unit.script import Run, acknowledged, assigned, clock, opened, priority_changed

    run = Run(orphan_timeout=60.0)
    run.apply(opened("t1", at=0, priority="P1"))      # P1: 30 minutes
    run.advance(16)                                    # 50% warning
    run.advance(31)                                    # breach
    run.apply(priority_changed("t1", at=10, priority="P2"), now=32)  # late lower priority: P1's breach retracted
    run.apply(acknowledged("t1", at=33))               # met under P2
    run.apply(assigned("never-opened", at=0))
    run.advance(200)                                   # its orphan dead letter
    metrics = SloMetrics([1800.0, 3600.0], warn_thresholds=[0.5, 0.75, 0.9])
    for emission in run.emitted:
        metrics.record_emission(emission, clock(40))
    counted = {(name, labels.get("priority", ""), labels.get("threshold", labels.get("result", labels.get("reason", ""))))
               for name, labels, value in samples(metrics)
               if value > 0 and name.startswith("ticket_slo_") and name.endswith("_total")}
    assert counted == {
        ("ticket_slo_at_risk_total", "P1", "0.5"),
        ("ticket_slo_breaches_total", "P1", ""),
        ("ticket_slo_breach_retractions_total", "P1", ""),  # under the breach's priority
        ("ticket_slo_outcomes_total", "P2", "met"),
        ("ticket_slo_events_invalid_total", "", "orphan"),
    }


def test_outcomes_are_counted_by_the_policys_plans_and_any_other_plan_is_folded_into_one() -> None:
    from datetime import datetime, timezone

    from ticket_slo.schemas.outputs import SloCompleted
    from ticket_slo.streams.core.emission import Emission

    metrics = SloMetrics([30.0], plans=["default", "gold"])
    at = datetime(2026, 11, 30, tzinfo=timezone.utc)
    for plan in ("gold", "gold", "platinum-2031", "x" * 200):
        model = SloCompleted(type="slo.completed", ticket_id=f"T-{plan[:5]}", objective="first_response",
                             priority="P2", plan=plan, customer_id="c1", met=True, elapsed_seconds=10.0,
                             started_at=at, stopped_at=at, target_seconds=30.0)
        metrics.record_emission(Emission("outcome", model.ticket_id, model), 0.0)
    plans = {labels["plan"]: value for name, labels, value in samples(metrics)
             if name == "ticket_slo_outcomes_total" and labels["priority"] == "P2" and labels["result"] == "met"}
    assert plans == {"default": 0.0, "gold": 2.0, "(other)": 2.0}


def test_the_batch_histogram_exposes_what_prometheus_clients_histogram_would() -> None:
    from prometheus_client import CollectorRegistry, Histogram

    from ticket_slo.agents.batch_histogram import BatchHistogram

    values = [0.0, 0.05, 0.0500001, 0.3, 1.0, 2.5, 7.0, 29.9, 4000.0, 0.1, 0.1]
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("lag_seconds", "help", buckets=(0.05, 0.1, 0.25, 1, 2.5, 10, 3600), registry=theirs)
    for value in values:
        reference.observe(value)
    batch = BatchHistogram("lag_seconds", "help", (0.05, 0.1, 0.25, 1, 2.5, 10, 3600), registry=ours)
    batch.observe_many(values[:4])
    batch.observe_many(values[4:])

    def exposed(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
        text = generate_latest(registry).decode()
        return sorted((s.name, sorted(s.labels.items()), s.value) for f in text_string_to_metric_families(text) for s in f.samples
                      if not s.name.endswith("_created"))

    assert exposed(ours) == exposed(theirs)
    assert ("lag_seconds_bucket", [("le", "0.05")], 2.0) in exposed(ours), "upper bounds are inclusive"


def test_a_batch_tally_counts_what_one_call_per_event_counts() -> None:
    from ticket_slo.schemas.validation import parse_event
    from ticket_slo.streams.core.effects import Applied, Effect, Ignored

    def event(n: int, kind: str, **fields: str) -> Any:
        body = {"event_id": f"e{n}", "type": kind, "ticket_id": f"T-{n % 3}", "occurred_at": "2026-11-30T10:00:00Z",
                **fields}
        return parse_event(json.dumps(body).encode())

    applied = [
        (event(1, "ticket.opened", priority="P1", customer_id="c"), Applied(Effect.CLOCK_STARTED, [])),
        (event(2, "ticket.opened", priority="P3", customer_id="c"), Applied(Effect.NOT_ELIGIBLE, [])),
        (event(3, "ticket.acknowledged"), Applied(Effect.APPLIED, [])),
        (event(4, "ticket.acknowledged"), Applied(Effect.DUPLICATE, [])),
        (event(5, "ticket.closed"), Applied(Effect.IGNORED, [], (Ignored.TICKET_CLOSED,))),
    ]
    one_by_one, batched = SloMetrics([30.0]), SloMetrics([30.0])
    wall = 1_764_500_000.0
    for ev, what in applied:
        one_by_one.record_applied(ev, what, wall)
    tally = batched.tally(wall)
    for ev, what in applied:
        tally.add(ev, what)
    assert {value for name, _, value in samples(batched)
            if name.startswith("ticket_slo_events") and name.endswith("_total")} == {0.0}, "nothing before the flush"
    tally.flush()
    counted = [s for s in samples(batched) if s[0].startswith("ticket_slo_") and not s[0].endswith("_created")]
    assert counted == [s for s in samples(one_by_one) if s[0].startswith("ticket_slo_") and not s[0].endswith("_created")]
    assert ("ticket_slo_events_duplicate_total", {}, 1.0) in counted
    assert ("ticket_slo_event_lag_seconds_count", {}, 4.0) in counted


def test_the_lag_comes_from_the_engines_microseconds_when_it_has_them() -> None:
    from ticket_slo.schemas.validation import parse_event
    from ticket_slo.streams.core.effects import Applied, Effect
    from ticket_slo.streams.core.timebase import datetime_to_micros

    body = {"event_id": "e1", "type": "ticket.acknowledged", "ticket_id": "T-1",
            "occurred_at": "2026-11-30T10:00:00.250000+01:00"}
    ev = parse_event(json.dumps(body).encode())
    wall = ev.occurred_at.timestamp() + 12.5
    metrics = SloMetrics([30.0])
    tally = metrics.tally(wall)
    tally.add(ev, Applied(Effect.APPLIED, [], occurred=datetime_to_micros(ev.occurred_at)))  # as the engine gives it
    tally.add(ev, Applied(Effect.APPLIED, [], occurred=datetime_to_micros(ev.occurred_at) - 3_000_000))
    tally.add(ev, Applied(Effect.APPLIED, []))  # none given: from the event's own timestamp
    tally.flush()
    lag_sum = [value for name, _, value in samples(metrics) if name == "ticket_slo_event_lag_seconds_sum"]
    assert lag_sum == [pytest.approx(12.5 + 15.5 + 12.5, abs=1e-6)]
