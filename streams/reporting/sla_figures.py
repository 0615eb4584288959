"""The period's figures for one customer (or several): pure aggregation, no I/O, no Kafka.

Membership in the period: an outcome by its ``stopped_at`` (when the objective was
answered), a breach by its ``deadline`` (when the promise was broken). A breach counts
net of retractions: one whose ``breach_id`` has a retraction among the records read does
not stand. Lateness is wall-clock time from the deadline to the stop; a breach whose clock
has no outcome yet is still open, and its lateness is counted to the end of the period.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from ticket_slo.schemas.outputs import SloBreached, SloCompleted
from ticket_slo.streams.reporting.period import ReportPeriod
from ticket_slo.streams.reporting.records import ReportRecords

__all__ = ["RESPONSE_BUCKETS", "AttainmentRow", "BreachLine", "ResponseBucket", "SlaFigures", "Selection",
           "compute_figures"]

#: Upper edges (seconds) of the response-time distribution's buckets; the last is open.
RESPONSE_BUCKETS: Final[tuple[float, ...]] = (
    5 * 60, 15 * 60, 30 * 60, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600,
)


@dataclass(frozen=True, slots=True)
class Selection:
    """Whose records the report covers: one customer, a manager's customers, or everyone (both None)."""

    customer: str | None = None
    customers: frozenset[str] | None = None  # the account manager's customers

    def wants(self, customer_id: str) -> bool:
        if self.customer is not None and customer_id != self.customer:
            return False
        return self.customers is None or customer_id in self.customers


@dataclass(slots=True)
class AttainmentRow:
    """One objective and priority: outcomes answered in the period, and breaches due in it."""

    objective: str
    priority: str
    completed: int = 0
    met: int = 0
    targets: set[float] = field(default_factory=set)
    breached: int = 0  # breach records due in the period
    retracted: int = 0  # of which retracted

    @property
    def standing(self) -> int:
        return self.breached - self.retracted

    @property
    def attainment(self) -> float | None:
        """met / completed, or None when nothing was completed."""
        return self.met / self.completed if self.completed else None


@dataclass(frozen=True, slots=True)
class BreachLine:
    """One standing breach: its ticket, how late it was answered, or that it is still open."""

    ticket_id: str
    customer_id: str
    objective: str
    priority: str
    deadline: datetime
    stopped_at: datetime | None
    late_seconds: float

    @property
    def still_open(self) -> bool:
        return self.stopped_at is None


@dataclass(frozen=True, slots=True)
class ResponseBucket:
    """Outcomes of one objective whose elapsed working time is in (low, high]."""

    low: float
    high: float | None  # None: no upper edge
    met: int
    missed: int


@dataclass(slots=True)
class SlaFigures:
    period: ReportPeriod
    customers: list[str]
    policy_versions: list[str]
    rows: list[AttainmentRow]
    breaches: list[BreachLine]
    distributions: dict[str, list[ResponseBucket]]


def compute_figures(records: ReportRecords, period: ReportPeriod, selection: Selection) -> SlaFigures:
    """The figures of ``period`` for the selected customers."""
    rows: dict[tuple[str, str], AttainmentRow] = {}

    def row(objective: str, priority: str) -> AttainmentRow:
        return rows.setdefault((objective, priority), AttainmentRow(objective, priority))

    customers: set[str] = set()
    versions: set[str] = set()
    elapsed: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    outcomes = [o for o in records.outcomes if selection.wants(o.customer_id)]
    for outcome in outcomes:
        if not period.holds(outcome.stopped_at):
            continue
        customers.add(outcome.customer_id)
        if outcome.policy_version:
            versions.add(outcome.policy_version)
        target = row(outcome.objective, outcome.priority)
        target.completed += 1
        target.met += outcome.met
        target.targets.add(outcome.target_seconds)
        elapsed[outcome.objective].append((outcome.elapsed_seconds, outcome.met))

    retracted = {r.breach_id for r in records.retractions}
    stops = _stops_by_clock(outcomes)
    lines: list[BreachLine] = []
    for breach in records.breaches:
        if not selection.wants(breach.customer_id) or not period.holds(breach.deadline):
            continue
        customers.add(breach.customer_id)
        if breach.policy_version:
            versions.add(breach.policy_version)
        target = row(breach.objective, breach.priority)
        target.breached += 1
        if breach.breach_id in retracted:
            target.retracted += 1
            continue
        lines.append(_breach_line(breach, stops.get(_clock_of(breach)), period))

    ordered_rows = sorted(rows.values(), key=lambda r: (r.objective, r.priority))
    lines.sort(key=lambda line: (line.deadline, line.ticket_id, line.objective))
    distributions = {objective: response_buckets(values) for objective, values in sorted(elapsed.items())}
    return SlaFigures(period, sorted(customers), sorted(versions), ordered_rows, lines, distributions)


def response_buckets(values: list[tuple[float, bool]]) -> list[ResponseBucket]:
    """Counts per bucket of ``RESPONSE_BUCKETS`` (met and missed apart), up to the last bucket used."""
    edges = list(RESPONSE_BUCKETS)
    met = [0] * (len(edges) + 1)
    missed = [0] * (len(edges) + 1)
    for seconds, was_met in values:
        index = next((i for i, edge in enumerate(edges) if seconds <= edge), len(edges))
        (met if was_met else missed)[index] += 1
    used = max((i for i in range(len(met)) if met[i] or missed[i]), default=-1)
    lows = [0.0, *edges]
    highs: list[float | None] = [*edges, None]
    return [ResponseBucket(lows[i], highs[i], met[i], missed[i]) for i in range(used + 1)]


def _clock_of(record: SloBreached | SloCompleted) -> tuple[str, str, datetime]:
    """One cycle of one objective's clock: a reopen that restarts it starts a new ``started_at``."""
    return record.ticket_id, record.objective, record.started_at


def _stops_by_clock(outcomes: list[SloCompleted]) -> dict[tuple[str, str, datetime], datetime]:
    return {_clock_of(outcome): outcome.stopped_at for outcome in outcomes}


def _breach_line(breach: SloBreached, stopped_at: datetime | None, period: ReportPeriod) -> BreachLine:
    until = stopped_at if stopped_at is not None else period.end
    return BreachLine(breach.ticket_id, breach.customer_id, breach.objective, breach.priority, breach.deadline,
                      stopped_at, max(0.0, (until - breach.deadline).total_seconds()))
