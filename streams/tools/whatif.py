"""What-if: the same events replayed under several policies, and what each made of them.

A policy change is judged on the tickets it would have met: the file is replayed once per
policy through ``replay_into`` (the clock, the rules and the engine of ``ticket-slo
replay``, nothing of its own), and the records each replay produced are tallied per plan,
objective and priority, and per ticket. Rendering is in ``whatif_report``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from enum import Enum
from pathlib import PurePath
from typing import NamedTuple, Sequence

from pydantic import BaseModel

from ticket_slo.schemas.outputs import DeadLetter, SloBreached, SloBreachRetracted, SloCompleted
from ticket_slo.schemas.policy import Policy
from ticket_slo.streams.core.emission import EmissionKind
from ticket_slo.streams.core.clock_state import ClockStatus
from ticket_slo.streams.core.state_store import DictStateStore
from ticket_slo.streams.core.ticket_state import Phase, TicketState
from ticket_slo.streams.tools.replay import ReplaySummary, replay_into

__all__ = ["GroupKey", "GroupTally", "Verdict", "TicketKey", "TicketResult", "PolicyRun", "Comparison", "compare",
           "run_policy", "policy_labels"]


class GroupKey(NamedTuple):
    """A row of the comparison: outcomes and breaches are counted under the terms they carry."""

    plan: str
    objective: str
    priority: str


@dataclass(slots=True)
class GroupTally:
    """One policy's figures for one group."""

    completed: int = 0
    met: int = 0
    breaches: int = 0  # net: breaches still standing after their retractions
    elapsed: list[float] = field(default_factory=list)  # each outcome's elapsed_seconds

    @property
    def attainment(self) -> float | None:
        """Met over completed, in percent; ``None`` when nothing completed."""
        return None if self.completed == 0 else 100.0 * self.met / self.completed

    @property
    def median_elapsed(self) -> float | None:
        return statistics.median(self.elapsed) if self.elapsed else None


class Verdict(str, Enum):
    """Where one clock of a ticket stood at the end of a replay."""

    MET = "met"
    MISSED = "missed"  # completed late
    BREACHED = "breached"  # still open (running or paused), its breach standing
    OPEN = "open"  # still running, within its deadline
    PAUSED = "paused"  # paused, within its deadline
    NO_CLOCK = "no clock"  # no such clock: its plan lacks the objective, it never started (or restarted)


@dataclass(frozen=True, slots=True)
class TicketResult:
    """One run of a ticket's clock under one policy; ``elapsed_seconds`` only once completed."""

    verdict: Verdict
    elapsed_seconds: float | None = None
    plan: str | None = None
    priority: str | None = None


class TicketKey(NamedTuple):
    """One clock's run on one ticket: ``cycle`` is 1, or n for the n-th run of a clock a reopen restarted."""

    ticket_id: str
    objective: str
    cycle: int = 1


@dataclass(slots=True)
class PolicyRun:
    """What one replay produced, tallied."""

    label: str
    policy: Policy
    summary: ReplaySummary
    groups: dict[GroupKey, GroupTally]
    tickets: dict[TicketKey, TicketResult]
    dead_letters: list[DeadLetter]


@dataclass(slots=True)
class Comparison:
    """Every policy's run over the same file, in the order the policies were given."""

    source_name: str
    runs: list[PolicyRun]

    @property
    def input(self) -> ReplaySummary:
        """Lines read, valid and invalid: the same under every policy (validation reads no policy)."""
        return self.runs[0].summary

    @property
    def dead_letters(self) -> list[DeadLetter]:
        """Invalid lines and orphans, which no policy changes: those of the first run."""
        return self.runs[0].dead_letters

    def groups(self) -> list[tuple[GroupKey, list[GroupTally]]]:
        """Every group any policy counted something in, sorted, with one tally per policy."""
        keys = sorted({key for run in self.runs for key in run.groups})
        return [(key, [run.groups.get(key, GroupTally()) for run in self.runs]) for key in keys]

    def differences(self) -> list[tuple[TicketKey, list[TicketResult]]]:
        """The tickets' clocks whose verdict is not the same under every policy, sorted by ticket id."""
        keys = sorted({key for run in self.runs for key in run.tickets})
        found = []
        for key in keys:
            results = [run.tickets.get(key, TicketResult(Verdict.NO_CLOCK)) for run in self.runs]
            if len({result.verdict for result in results}) > 1:
                found.append((key, results))
        return found


class _Collector:
    """The sink of one replay: keeps the outcomes and the breaches still standing."""

    def __init__(self) -> None:
        self.outcomes: list[SloCompleted] = []  # in the order published
        self.standing: dict[str, SloBreached] = {}  # breach_id -> breach not (yet) retracted
        self.dead_letters: list[DeadLetter] = []

    def __call__(self, kind: EmissionKind, model: BaseModel) -> None:
        if isinstance(model, SloCompleted):
            self.outcomes.append(model)
        elif isinstance(model, SloBreached):
            self.standing[model.breach_id] = model
        elif isinstance(model, SloBreachRetracted):
            self.standing.pop(model.breach_id, None)
        elif isinstance(model, DeadLetter):
            self.dead_letters.append(model)

    def groups(self) -> dict[GroupKey, GroupTally]:
        groups: dict[GroupKey, GroupTally] = {}
        for outcome in self.outcomes:
            tally = groups.setdefault(GroupKey(outcome.plan, outcome.objective, outcome.priority), GroupTally())
            tally.completed += 1
            tally.met += outcome.met
            tally.elapsed.append(outcome.elapsed_seconds)
        for breach in self.standing.values():
            groups.setdefault(GroupKey(breach.plan, breach.objective, breach.priority), GroupTally()).breaches += 1
        return groups

    def tickets(self, store: DictStateStore) -> dict[TicketKey, TicketResult]:
        """Each completed run of a clock from its outcome; the clocks still open from the state the
        replay left (their run is the one after the last completed)."""
        results: dict[TicketKey, TicketResult] = {}
        runs: dict[tuple[str, str], int] = {}
        for outcome in self.outcomes:
            clock_of_ticket = (outcome.ticket_id, outcome.objective)
            runs[clock_of_ticket] = runs.get(clock_of_ticket, 0) + 1
            results[TicketKey(*clock_of_ticket, runs[clock_of_ticket])] = TicketResult(
                Verdict.MET if outcome.met else Verdict.MISSED, outcome.elapsed_seconds, outcome.plan, outcome.priority)
        for ticket_id, record in store.items():
            state = TicketState.from_record(record)
            if state.phase is not Phase.RUNNING:
                continue
            for clock in state.clocks:
                if not clock.open:
                    continue
                if clock.breached:
                    verdict = Verdict.BREACHED
                else:
                    verdict = Verdict.PAUSED if clock.status is ClockStatus.PAUSED else Verdict.OPEN
                cycle = runs.get((ticket_id, clock.objective), 0) + 1
                results[TicketKey(ticket_id, clock.objective, cycle)] = TicketResult(
                    verdict, None, state.plan, clock.priority or state.priority)
        return results


def run_policy(lines: Sequence[str], source_name: str, label: str, policy: Policy, until: float | None = None,
               *, orphan_timeout: float = 86400.0) -> PolicyRun:
    """Replay ``lines`` under ``policy`` and tally what came out."""
    collector = _Collector()
    store = DictStateStore()
    summary = replay_into(lines, source_name, policy, collector, until, orphan_timeout=orphan_timeout, store=store)
    return PolicyRun(label, policy, summary, collector.groups(), collector.tickets(store), collector.dead_letters)


def compare(lines: Sequence[str], source_name: str, policies: Sequence[tuple[str, Policy]],
            until: float | None = None, *, orphan_timeout: float = 86400.0) -> Comparison:
    """Replay the same ``lines`` under each ``(label, policy)``, in order."""
    if len(policies) < 2:
        raise ValueError("a comparison needs at least two policies")
    runs = [run_policy(lines, source_name, label, policy, until, orphan_timeout=orphan_timeout)
            for label, policy in policies]
    return Comparison(source_name, runs)


def policy_labels(paths: Sequence[str]) -> list[str]:
    """Short names for the policy files: their file names when those tell them apart, else the paths
    as given; a file named twice gets ``#2``, ``#3`` after its later mentions."""
    names = [PurePath(path).name for path in paths]
    labels = names if len(set(names)) == len(names) else list(paths)
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return unique
