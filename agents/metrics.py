"""The worker's Prometheus metrics, in a registry of their own.

Counters and histograms are updated as the tracker processes events and publishes
outputs; gauges describe the partitions this worker owns right now and are rebuilt
from the engines once a second, so a partition lost in a rebalance drops out of them.
A ``sum()`` over workers is the truth for every metric.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Final, Iterable, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client import gc_collector, platform_collector, process_collector

from ticket_slo.agents.batch_histogram import BatchHistogram
from ticket_slo.schemas.events import EVENT_TYPES, PRIORITIES, TicketEvent
from ticket_slo.schemas.objectives import OBJECTIVES
from ticket_slo.schemas.outputs import DeadLetter, SloAtRisk, SloBreached, SloBreachRetracted, SloCompleted
from ticket_slo.schemas.policy import DEFAULT_PLAN
from ticket_slo.schemas.validation import REASONS
from ticket_slo.streams.core.effects import Applied, Effect, Ignored
from ticket_slo.streams.core.emission import Emission, output_type

__all__ = ["SloMetrics", "AppliedTally", "METRIC_NAMES", "IGNORED_REASONS", "CLOCK_STATES", "RUNNING", "PAUSED", "BREACHED", "OTHER_PLAN",
           "elapsed_buckets", "threshold_label"]

log = logging.getLogger(__name__)

#: Bounds of the response-time histogram besides the policy's own targets.
BASE_ELAPSED_BUCKETS: tuple[float, ...] = (
    60, 300, 600, 900, 1800, 2700, 3600, 5400, 7200, 10800, 14400, 21600, 28800, 43200, 86400, 172800,
)
LAG_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
BREACH_DELAY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300)

#: Why a valid, new event changed nothing (the ``reason`` label of the ignored counter).
IGNORED_REASONS: Final[tuple[str, ...]] = tuple(reason.value for reason in Ignored)

#: The ``state`` label of ``ticket_slo_open_clocks``: a clock counting and not breached, one
#: paused (e.g. waiting on the customer) and not breached, or one whose breach stands
#: (published, not retracted) while its outcome is still to come.
RUNNING: Final = "running"
PAUSED: Final = "paused"
BREACHED: Final = "breached"
CLOCK_STATES: Final[tuple[str, ...]] = (RUNNING, PAUSED, BREACHED)
#: The ``plan`` label of outcomes on a plan the policy does not name.
OTHER_PLAN: Final = "(other)"

#: Every metric family the worker exports (the dashboard and rule checks read this).
METRIC_NAMES: tuple[str, ...] = (
    "ticket_slo_events_total",
    "ticket_slo_events_invalid_total",
    "ticket_slo_events_duplicate_total",
    "ticket_slo_events_ignored_total",
    "ticket_slo_clocks_started_total",
    "ticket_slo_tickets_not_eligible_total",
    "ticket_slo_elapsed_seconds",
    "ticket_slo_outcomes_total",
    "ticket_slo_breaches_total",
    "ticket_slo_breach_retractions_total",
    "ticket_slo_at_risk_total",
    "ticket_slo_open_clocks",
    "ticket_slo_next_deadline_timestamp_seconds",
    "ticket_slo_owned_partitions",
    "ticket_slo_event_lag_seconds",
    "ticket_slo_breach_delay_seconds",
    "ticket_slo_tracker_heartbeat_timestamp_seconds",
    "ticket_slo_api_requests_total",
    "ticket_slo_api_request_seconds",
)
#: Bounds of the status API's latency histogram (a lookup is a fraction of a millisecond;
#: a gathered listing asks the other workers).
API_LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def threshold_label(fraction: float) -> str:
    """The ``threshold`` label of an at-risk warning: 0.5, 0.75, 0.9."""
    return f"{fraction:g}"


def elapsed_buckets(targets: Iterable[float]) -> list[float]:
    """Histogram bounds that contain every policy target exactly, so 'met' is a bucket."""
    return sorted(set(BASE_ELAPSED_BUCKETS) | {float(t) for t in targets})


class AppliedTally:
    """What a batch's events did, counted in plain dicts and added to the metric families
    once per batch: counting each event on the families directly cost 2.2 µs per event
    (measured 2026-11-30), about 7 % of the worker's time per event."""

    __slots__ = ("_metrics", "_wall", "_types", "_ignored", "_clocks", "_not_eligible", "_duplicates", "_lags")

    def __init__(self, metrics: "SloMetrics", wall_now: float) -> None:
        self._metrics = metrics
        #: When the batch was read: each event's lag is measured against it.
        self._wall = wall_now
        self._types: dict[str, int] = {}
        self._ignored: dict[str, int] = {}
        self._clocks: dict[tuple[str, str], int] = {}
        self._not_eligible = 0
        self._duplicates = 0
        self._lags: list[float] = []

    def add(self, event: TicketEvent, applied: Applied) -> None:
        """One valid event and what the engine did with it."""
        effect = applied.effect
        if effect is Effect.DUPLICATE:
            self._duplicates += 1
            return
        types = self._types
        types[event.type] = types.get(event.type, 0) + 1
        for reason in applied.ignored:
            self._ignored[reason.value] = self._ignored.get(reason.value, 0) + 1
        occurred = applied.occurred  # the engine's microseconds: 40 ns, where timestamp() takes 370
        lag = self._wall - (event.occurred_at.timestamp() if occurred is None else occurred / 1_000_000)
        self._lags.append(lag if lag > 0.0 else 0.0)
        for group in applied.started:
            self._clocks[group] = self._clocks.get(group, 0) + 1
        if effect is Effect.NOT_ELIGIBLE:
            self._not_eligible += 1

    def flush(self) -> None:
        """Add what was counted to the metric families, and start again from zero."""
        metrics = self._metrics
        child = metrics.child
        for name, count in self._types.items():
            child(metrics.events, name).inc(count)
        for reason, count in self._ignored.items():
            child(metrics.ignored, reason).inc(count)
        for (objective, priority), count in self._clocks.items():
            child(metrics.clocks_started, objective, priority).inc(count)
        if self._not_eligible:
            metrics.not_eligible.inc(self._not_eligible)
        if self._duplicates:
            metrics.duplicates.inc(self._duplicates)
        if self._lags:
            metrics.event_lag.observe_many(self._lags)
        self._types, self._ignored, self._clocks, self._lags = {}, {}, {}, []
        self._not_eligible = self._duplicates = 0


class SloMetrics:
    """The metric families of one worker process."""

    def __init__(self, targets: Iterable[float], registry: CollectorRegistry | None = None,
                 warn_thresholds: Iterable[float] = (), plans: Iterable[str] = (DEFAULT_PLAN,),
                 objectives: Iterable[str] = OBJECTIVES) -> None:
        #: The ``plan`` label takes the policy's plan names; any other plan is counted as
        #: ``OTHER_PLAN``, so a helpdesk sending arbitrary plan names cannot grow the series.
        self._plans = frozenset(plans)
        #: The policy's objectives: their series are exported at zero from the start.
        self._objectives = tuple(objectives)
        self.registry = registry or CollectorRegistry(auto_describe=True)
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        r = self.registry
        self.events = Counter("ticket_slo_events", "Valid events applied, by type (duplicates excluded).",
                              ["type"], registry=r)
        self.invalid = Counter("ticket_slo_events_invalid", "Events sent to the dead-letter topic, by reason.",
                               ["reason"], registry=r)
        self.duplicates = Counter("ticket_slo_events_duplicate", "Events ignored because their event_id was seen.",
                                  registry=r)
        self.ignored = Counter("ticket_slo_events_ignored",
                               "Valid new events that changed nothing: the ticket was closed, or "
                               "a second ticket.opened (counted in ticket_slo_events_total too).",
                               ["reason"], registry=r)
        self.clocks_started = Counter("ticket_slo_clocks_started", "Clocks started, per objective of the policy.",
                                      ["objective", "priority"], registry=r)
        self.not_eligible = Counter("ticket_slo_tickets_not_eligible",
                                    "Tickets opened on a plan without the objective (no clock).", registry=r)
        self.elapsed = Histogram("ticket_slo_elapsed_seconds", "Elapsed working time of completed clocks (pauses not counted), per objective.",
                                 ["objective", "priority"], buckets=elapsed_buckets(targets), registry=r)
        self.outcomes = Counter("ticket_slo_outcomes",
                                "Completed objectives, by result (met or breached) and customer plan (the "
                                f"policy's plan names; {OTHER_PLAN} for any other).",
                                ["objective", "priority", "result", "plan"], registry=r)
        self.breaches = Counter("ticket_slo_breaches", "slo.breached events published.",
                                ["objective", "priority"], registry=r)
        self.retractions = Counter("ticket_slo_breach_retractions", "slo.breach_retracted events published.",
                                   ["objective", "priority"], registry=r)
        self.at_risk = Counter("ticket_slo_at_risk", "slo.at_risk warnings published.",
                               ["objective", "priority", "threshold"], registry=r)
        self.open_clocks = Gauge("ticket_slo_open_clocks",
                                 "Open clocks in the partitions this worker owns, by state: running (counting, not "
                                 "breached), paused (not counting, not breached) or breached (a breach stands and "
                                 "the outcome is still to come).",
                                 ["objective", "priority", "state"], registry=r)
        # A timestamp, not "seconds until": should the worker's event loop stall, the value
        # stays put while Prometheus's time() moves on, so an overdue deadline still shows.
        self.next_deadline = Gauge("ticket_slo_next_deadline_timestamp_seconds",
                                   "Unix time of the soonest deadline of a running, unbreached clock.",
                                   ["objective", "priority"], registry=r)
        self.owned_partitions = Gauge("ticket_slo_owned_partitions",
                                      "Partitions of ticket-events this worker owns.", registry=r)
        self.event_lag = BatchHistogram("ticket_slo_event_lag_seconds",
                                        "Processing time minus occurred_at of valid events.",
                                        LAG_BUCKETS, registry=r)
        self.breach_delay = Histogram("ticket_slo_breach_delay_seconds",
                                      "Publication time minus deadline of slo.breached events.",
                                      buckets=BREACH_DELAY_BUCKETS, registry=r)
        # Moves with the tracker's loop, not with the input: a quiet helpdesk leaves it moving,
        # a tracker that stopped processing (stuck, deadlocked, its loop dead) does not.
        self.tracker_heartbeat = Gauge("ticket_slo_tracker_heartbeat_timestamp_seconds",
                                       "Unix time at which the tracker last completed a pass of its loop "
                                       "(at least every TICKET_SLO_TICK_INTERVAL, events or not).", registry=r)

        # The status API: ``route`` is the route's pattern (never the requested path: bounded
        # labels), ``status`` the HTTP status code.
        self.api_requests = Counter("ticket_slo_api_requests", "Status API requests answered, by route and status.",
                                    ["route", "status"], registry=r)
        self.api_latency = Histogram("ticket_slo_api_request_seconds", "Time to answer a status API request, by route.",
                                     ["route"], buckets=API_LATENCY_BUCKETS, registry=r)

        self._gauge_series: dict[Gauge, set[tuple[str, ...]]] = {self.open_clocks: set(), self.next_deadline: set()}
        # How each engine counter of ``OUTPUT_TYPES`` is exported (the model's type follows from it).
        self._output_recorders: dict[str, Callable[[Any, float], None]] = {
            "breaches": self._record_breach,
            "retractions": self._record_retraction,
            "warnings": self._record_warning,
            "outcomes": self._record_outcome,
            "orphans": self._record_dead_letter,
        }
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self._initialise_series(sorted(set(warn_thresholds)))

    def _initialise_series(self, warn_thresholds: list[float]) -> None:
        """Export every known label set at zero, so rate() and increase() see the first event.

        A counter that appears with value 1 has no earlier sample: Prometheus would never
        count that first increase.
        """
        for event_type in EVENT_TYPES:
            self.child(self.events, event_type)
        for reason in REASONS:
            self.invalid.labels(reason)
        for reason in IGNORED_REASONS:
            self.ignored.labels(reason)
        for objective in self._objectives:
            for priority in PRIORITIES:
                self.clocks_started.labels(objective, priority)
                self.breaches.labels(objective, priority)
                self.retractions.labels(objective, priority)
                self.elapsed.labels(objective, priority)
                for result in ("met", "breached"):
                    for plan in sorted(self._plans | {OTHER_PLAN}):
                        self.outcomes.labels(objective, priority, result, plan)
                for threshold in warn_thresholds:
                    self.at_risk.labels(objective, priority, threshold_label(threshold))

    def serve(self, address: str, port: int) -> int:
        """Serve ``/metrics`` on a background thread; return the bound port."""
        server, _thread = start_http_server(port, addr=address, registry=self.registry)
        bound = int(server.server_address[1])
        log.info("metrics at http://%s:%d/metrics", address, bound)
        return bound

    def child(self, family: Any, *labels: str) -> Any:
        """``family.labels(*labels)``, looked up once: about a microsecond per call saved on the
        path of every event and output (counters and histograms only; their series are never removed)."""
        key = (family, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*labels)
        return child

    def record_applied(self, event: TicketEvent, applied: Applied, wall_now: float) -> None:
        """Count one valid event by what the engine says it did."""
        tally = self.tally(wall_now)
        tally.add(event, applied)
        tally.flush()

    def tally(self, wall_now: float) -> "AppliedTally":
        """A tally of a batch read at ``wall_now``, added to the metric families by its ``flush``."""
        return AppliedTally(self, wall_now)

    def record_emission(self, emission: Emission, wall_now: float) -> None:
        """Count one published output event, under the family of its engine counter."""
        self._output_recorders[output_type(emission.model).counter](emission.model, wall_now)

    def _record_breach(self, model: SloBreached, wall_now: float) -> None:
        self.child(self.breaches, model.objective, model.priority).inc()
        self.breach_delay.observe(max(0.0, wall_now - model.deadline.timestamp()))

    def _record_retraction(self, model: SloBreachRetracted, wall_now: float) -> None:
        self.child(self.retractions, model.objective, model.priority).inc()

    def _record_warning(self, model: SloAtRisk, wall_now: float) -> None:
        self.child(self.at_risk, model.objective, model.priority, threshold_label(model.threshold)).inc()

    def _record_outcome(self, model: SloCompleted, wall_now: float) -> None:
        plan = model.plan if model.plan in self._plans else OTHER_PLAN
        self.child(self.outcomes, model.objective, model.priority, "met" if model.met else "breached", plan).inc()
        self.child(self.elapsed, model.objective, model.priority).observe(model.elapsed_seconds)

    def _record_dead_letter(self, model: DeadLetter, wall_now: float) -> None:
        self.child(self.invalid, model.reason).inc()

    def set_ownership(self, partitions: int, open_clocks: Mapping[tuple[str, str, str], int],
                      next_deadline: Mapping[tuple[str, str], float]) -> None:
        """Replace the gauges with what the owned partitions hold now: ``open_clocks`` by
        (objective, priority, state), ``next_deadline`` by (objective, priority).

        Series still present are overwritten in place and only the vanished ones removed:
        /metrics is served from another thread, and a scrape between a clear() and the
        refill would see no series at all and reset the ``for:`` of the alerts on them.
        """
        self.owned_partitions.set(partitions)
        self._replace_series(self.open_clocks, open_clocks)
        self._replace_series(self.next_deadline, next_deadline)

    def beat(self, wall_now: float) -> None:
        """The tracker completed a pass of its loop at ``wall_now``."""
        self.tracker_heartbeat.set(wall_now)

    def _replace_series(self, gauge: Gauge, values: Mapping[tuple[str, ...], float]) -> None:
        current = set(values)
        for labels in current:
            gauge.labels(*labels).set(values[labels])
        for labels in self._gauge_series[gauge] - current:
            gauge.remove(*labels)
        self._gauge_series[gauge] = current
