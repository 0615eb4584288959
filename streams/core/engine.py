"""The pure SLO engine: apply an event or advance the clock, get output events back.

No I/O and no wall clock: the caller passes ``now`` (float epoch seconds) — wall
time in the live worker, the largest ``occurred_at`` seen in replay — so the same
engine gives the same answers in both. Per-ticket state lives in a ``StateStore``;
the due times live in a derived ``TimerIndex`` that ``rebuild_index`` recreates
from the store. Work per ``apply`` is one store read and write plus at most one heap
push; ``advance`` pops only due entries: nothing ever scans all tickets (except
``rebuild_index``, once per restart or partition assignment).

Rules beyond each clock itself (see ``ticket_slo.streams.core.objective_clock``):

* What an event did comes back with its outputs (``Applied``: clock started,
  buffered, duplicate, ignored and why, ...); ``stats`` counts the same things in total.
* Duplicates: an ``event_id`` already among the ticket's last ``seen_limit`` (64)
  ids is ignored and counted in ``stats.duplicates``. An id older than that window
  would be applied again; for the clock that is harmless except a repeated
  ``ticket.opened``, which is ignored anyway once the ticket is known.
* Out of order (rule 7): events before ``ticket.opened`` are buffered in the
  ticket's state (at most ``buffer_limit`` events and ``BUFFER_BYTES_LIMIT`` bytes; more
  are dead-lettered as ``orphan`` at
  once) and applied at the opening, sorted by ``occurred_at`` (stable), with no
  timer firing between them; overdue timers then fire on the next ``advance``. A
  ticket not opened within ``orphan_timeout`` (engine clock, from the first buffered
  event) has each buffered event dead-lettered as ``orphan`` and its state deleted.
  An orphan's dead letter carries the event as re-serialised by the model (extra
  fields the contract ignores are gone), plus its ``EventSource``.
* Objectives: each objective of the ticket's plan has its own clock, started, stopped,
  paused and resumed by the events its definition names (``schemas/objective_spec.py``;
  ``first_response`` is built in), in the order the policy defines the objectives. An event
  is offered to every clock: a clock not started yet may start, a running one may stop
  or pause, a paused one may stop or resume, a finished one may restart on a reopen.
* Not eligible: a plan without objectives gets no clock and no output, but the ticket's
  state is kept (phase ``done``) so its later events are not orphans.
* Once every objective of the plan has its outcome and none restarts on a reopen, the
  ticket keeps only its seen ids (phase ``done``); otherwise it stays tracked.
* Reopen (rule 8) restarts only the clocks of objectives with ``restarts_on_reopen``
  (not ``first_response``).
* ``ticket.closed`` stops every running or paused clock and leaves a closed marker (only
  the seen ids) that ignores every event until ``closed_retention`` has passed on the
  engine clock, when the state is deleted (a tombstone in the changelog). A ticket that
  is resolved but never closed keeps its small ``done`` state indefinitely.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel

from ticket_slo.schemas.events import PRIORITIES, TicketEvent, TicketOpened, TicketPriorityChanged, TicketStatusChanged
from ticket_slo.schemas.objectives import FIRST_RESPONSE
from ticket_slo.schemas.outputs import DeadLetter
from ticket_slo.schemas.policy import Policy
from ticket_slo.schemas.validation import ORPHAN, event_adapter
from ticket_slo.streams.core import objective_clock
from ticket_slo.streams.core.clock_state import ClockStatus
from ticket_slo.streams.core.effects import Applied, Effect, Ignored
from ticket_slo.streams.core.emission import Emission, EventSource, output_type
from ticket_slo.streams.core.engine_stats import EngineStats
from ticket_slo.streams.core.state_store import StateStore
from ticket_slo.streams.core.ticket_state import (
    BREACHED_KIND,
    PAUSED_KIND,
    SEEN_LIMIT,
    BufferedEvent,
    ClockCensus,
    Group,
    Phase,
    TicketState,
    event_id_hash,
)
from ticket_slo.streams.core.timebase import datetime_to_micros, micros_to_datetime, micros_to_seconds, seconds_to_micros
from ticket_slo.streams.core.soonest_deadlines import DeadlineKey, SoonestDeadlines
from ticket_slo.streams.core.timer_index import TimerIndex

__all__ = ["SloEngine", "EngineIndex", "DEFAULT_BUFFER_LIMIT"]

DEFAULT_BUFFER_LIMIT: Final = 256
#: Bytes the waiting events of one ticket may take in its record (as the changelog's JSON
#: writes them), so that one record always fits a Kafka message with room to spare.
BUFFER_BYTES_LIMIT: Final = 128 * 1024


@dataclass(slots=True)
class EngineIndex:
    """An engine's derived index as plain data: the timer heap (stale entries included),
    how many tickets have a timer, the deadline heaps per (objective, priority) group, the
    open clocks per group and, among them, those paused and those whose breach stands.
    Only valid together with the records it was derived from."""

    timers: list[tuple[int, str]]
    timers_live: int
    deadlines: dict[Group, list[tuple[int, str]]]
    open_clocks: dict[Group, int]
    paused: dict[Group, int]
    breached: dict[Group, int]


class SloEngine:
    """Tracks the policy's objectives for the tickets in ``store``."""

    def __init__(
        self,
        policy: Policy,
        store: StateStore,
        *,
        orphan_timeout: float = 86400.0,
        closed_retention: float = 86400.0,
        seen_limit: int = SEEN_LIMIT,
        buffer_limit: int = DEFAULT_BUFFER_LIMIT,
        index: EngineIndex | None = None,
    ) -> None:
        for name, value in (("orphan_timeout", orphan_timeout), ("closed_retention", closed_retention)):
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        for name, count in (("seen_limit", seen_limit), ("buffer_limit", buffer_limit)):
            if count < 1:
                raise ValueError(f"{name} must be at least 1, got {count!r}")
        self.policy = policy
        self._terms = objective_clock.terms_for(policy)
        self.stats = EngineStats()
        self._store = store
        self._orphan_timeout = seconds_to_micros(orphan_timeout)
        self._closed_retention = seconds_to_micros(closed_retention)
        self._seen_limit = seen_limit
        self._buffer_limit = buffer_limit
        #: Open (running or paused) clocks per (objective, priority), and of them the paused
        #: ones and those whose breach stands (published, not retracted): still unanswered.
        self._open_clocks: dict[Group, int] = {}
        self._paused: dict[Group, int] = {}
        self._breached: dict[Group, int] = {}
        #: (objective, priority) of each clock the event being applied started.
        self._started: list[Group] = []
        self._index = TimerIndex(self._is_current)
        self._deadlines = SoonestDeadlines(self._has_deadline)
        if index is None:
            self.rebuild_index()
        else:
            self.adopt_index(index)

    # -- public API -----------------------------------------------------------------------

    def apply(self, event: TicketEvent, now: float, source: EventSource | None = None) -> Applied:
        """Apply one valid event at engine time ``now``; return what it did and what to publish, in order."""
        now_us = seconds_to_micros(now)
        ticket_id = event.ticket_id
        record = self._store.get(ticket_id)
        state = TicketState() if record is None else TicketState.from_record(record)
        digest = event_id_hash(event.event_id)
        if state.has_seen_hash(digest):
            self.stats.duplicates += 1
            return Applied(Effect.DUPLICATE, [])
        old_due, old_census = state.due, state.census()
        state.remember_hash(digest, self._seen_limit)
        self.stats.events += 1
        out: list[BaseModel] = []
        ignored: tuple[Ignored, ...] = ()
        self._started = started = []
        occurred: int | None = None
        if state.phase is Phase.PENDING:
            if isinstance(event, TicketOpened):
                occurred = datetime_to_micros(event.occurred_at)
                effect, ignored = self._open(ticket_id, state, event, occurred, now_us, out)
            else:
                effect = self._buffer(ticket_id, state, event, source, now_us, out)
        else:
            occurred = datetime_to_micros(event.occurred_at)
            why = self._on_known_ticket(ticket_id, state, event, now_us, out, fire_at_once=True, occurred=occurred)
            effect, ignored = (Effect.APPLIED, ()) if why is None else (Effect.IGNORED, (why,))
        self._commit(ticket_id, state, old_due, old_census)
        return Applied(effect, self._emit(ticket_id, out), ignored, tuple(started), occurred)

    def advance(self, now: float) -> list[Emission]:
        """Fire every timer the clock is strictly past: warnings, breaches, orphans, expiries."""
        now_us = seconds_to_micros(now)
        emissions: list[Emission] = []
        for _, ticket_id in self._index.pop_due(now_us):
            record = self._store.get(ticket_id)
            if record is None:  # pragma: no cover - is_current() saw it a moment ago
                continue
            state = TicketState.from_record(record)
            old_due, old_census = state.due, state.census()
            out: list[BaseModel] = []
            delete = False
            if state.phase is Phase.RUNNING:
                for clock in state.clocks:
                    out.extend(objective_clock.fire_due(ticket_id, state, clock, self._terms, now_us))
            elif state.phase is Phase.PENDING:
                out = self._orphan_all(ticket_id, state, now_us)
                delete = True
            elif state.phase is Phase.CLOSED:
                self.stats.expired_closed += 1
                delete = True
            self._commit(ticket_id, state, old_due, old_census, delete=delete, popped=True)
            emissions.extend(self._emit(ticket_id, out))
        return emissions

    def next_due(self) -> float | None:
        """Earliest due time (epoch seconds); it fires once ``now`` is strictly past it."""
        due = self._index.peek()
        return None if due is None else micros_to_seconds(due)

    def rebuild_index(self) -> None:
        """Recreate the timer index and the open- and breached-clock counts from the store (O(n), once)."""
        scan = TicketState.index_records(self._store.items())
        self._index.replace(scan.timers)
        self._deadlines.replace(scan.deadlines)
        self._open_clocks, self._paused, self._breached = scan.open_clocks, scan.paused, scan.breached

    def index(self) -> EngineIndex:
        """What the engine derived from its store, as plain data (shared, not copied: use it
        before the next ``apply`` or ``advance``). A local snapshot keeps it beside the
        records, so that a restart adopts it instead of scanning every ticket again."""
        return EngineIndex(self._index.entries(), self._index.live, self._deadlines.heaps(),
                           dict(self._open_clocks), dict(self._paused), dict(self._breached))

    def adopt_index(self, index: EngineIndex) -> None:
        """Take ``index`` (from ``index()`` over these very records) instead of rebuilding."""
        self._index.adopt(index.timers, index.timers_live)
        self._deadlines.adopt(index.deadlines)
        self._open_clocks, self._paused, self._breached = dict(index.open_clocks), dict(index.paused), dict(index.breached)

    def open_clocks(self) -> int:
        """Open clocks (started, not stopped: running or paused) of every objective, kept incrementally."""
        return sum(self._open_clocks.values())

    def clock_counts(self) -> dict[Group, tuple[int, int, int]]:
        """(objective, priority) → (open, paused, breached) clocks: the paused and the breached
        are among the open ones (a paused clock whose breach stands counts as breached)."""
        return {group: (count, self._paused.get(group, 0), self._breached.get(group, 0))
                for group, count in self._open_clocks.items() if count}

    def open_clocks_by_priority(self, objective: str = FIRST_RESPONSE) -> dict[str, int]:
        """Open clocks of ``objective`` per priority, breached or not."""
        return _by_priority(self._open_clocks, objective)

    def breached_clocks_by_priority(self, objective: str = FIRST_RESPONSE) -> dict[str, int]:
        """Of the open clocks of ``objective``, those whose breach stands (published, not
        retracted), per priority: a customer still waiting for an answer that is already late."""
        return _by_priority(self._breached, objective)

    def soonest_deadlines(self, objective: str = FIRST_RESPONSE) -> dict[str, float]:
        """Priority → epoch seconds of the soonest deadline of a running, unbreached clock of ``objective``."""
        return {priority: seconds for (name, priority), seconds in self.soonest_deadlines_by_group().items()
                if name == objective}

    def deadline_heaps(self) -> dict[Group, list[tuple[int, str]]]:
        """(objective, priority) → heap of (deadline, ticket id) of running, unbreached clocks,
        with stale entries (shared, for reading between changes: the status API walks them)."""
        return self._deadlines.heaps()

    def soonest_deadlines_by_group(self) -> dict[Group, float]:
        """(objective, priority) → epoch seconds of the soonest deadline of a running, unbreached clock."""
        return {group: micros_to_seconds(due) for group, due in self._deadlines.soonest().items()}

    # -- event handling -----------------------------------------------------------------

    def _open(
        self, ticket_id: str, state: TicketState, opened: TicketOpened, occurred: int, now: int,
        out: list[BaseModel],
    ) -> tuple[Effect, tuple[Ignored, ...]]:
        """Take the ticket's terms and start the clocks that start on the opening (or mark it
        not eligible), then apply what was buffered, in time order.

        Returns the opening's effect and why each buffered event that changed nothing did not.
        """
        buffered = [event_adapter().validate_json(entry.text) for entry in state.buffer]
        state.buffer = []
        state.buffered_at = None
        plan, contract, account_manager = objective_clock.terms_of(self._terms, opened)
        if not self.policy.knows_plan(plan):
            self.stats.unknown_plan += 1
        objectives = self._terms.objectives_of(plan)
        if not objectives:
            self.stats.not_eligible += 1
            state.retire(Phase.DONE)
            effect = Effect.NOT_ELIGIBLE
        else:
            state.phase = Phase.RUNNING
            state.priority = opened.priority
            state.plan = plan
            state.contract = contract
            state.customer_id = opened.customer_id
            state.account_manager = account_manager
            # Like the buffered events below: nothing fires before they are all applied.
            self._offer(ticket_id, state, opened, occurred, now, out, fire_at_once=False)
            effect = Effect.CLOCK_STARTED if self._started else Effect.APPLIED
        buffered.sort(key=lambda event: datetime_to_micros(event.occurred_at))
        ignored: list[Ignored] = []
        for event in buffered:
            # Outcomes are judged by occurred_at; nothing fires between these.
            why = self._on_known_ticket(ticket_id, state, event, now, out, fire_at_once=False)
            if why is not None:
                ignored.append(why)
        return effect, tuple(ignored)

    def _on_known_ticket(
        self,
        ticket_id: str,
        state: TicketState,
        event: TicketEvent,
        now: int,
        out: list[BaseModel],
        *,
        fire_at_once: bool,
        occurred: int | None = None,
    ) -> Ignored | None:
        """An event for a ticket that has been opened (running, done or closed); ``occurred``:
        its ``occurred_at`` in microseconds when the caller has it already.

        Returns why the event changed nothing, or ``None`` when it was applied.
        """
        if state.phase is Phase.CLOSED:
            self.stats.ignored_closed += 1
            return Ignored.TICKET_CLOSED
        if isinstance(event, TicketOpened):
            self.stats.ignored_extra_open += 1
            return Ignored.ALREADY_OPENED
        if occurred is None:
            occurred = datetime_to_micros(event.occurred_at)
        if event.type == "ticket.closed":
            for clock in state.clocks:
                if clock.open:
                    out.extend(objective_clock.stop(ticket_id, state, clock, self._terms, occurred, now))
            state.retire(Phase.CLOSED)
            state.closed_at = now
            return None
        if state.phase is not Phase.RUNNING:
            return None
        if isinstance(event, TicketPriorityChanged):
            old, state.priority = state.priority, event.priority
            assert old is not None
            for clock in state.clocks:
                if clock.open:
                    out.extend(objective_clock.change_priority(
                        ticket_id, state, clock, self._terms, old, occurred, now, fire_at_once=fire_at_once))
        self._offer(ticket_id, state, event, occurred, now, out, fire_at_once=fire_at_once)
        return None

    def _offer(
        self,
        ticket_id: str,
        state: TicketState,
        event: TicketEvent,
        occurred: int,
        now: int,
        out: list[BaseModel],
        *,
        fire_at_once: bool,
    ) -> None:
        """Offer the event to every clock the ticket has, then to the plan's objectives that
        have none yet; retire the ticket once nothing can move any more."""
        terms = self._terms
        event_type = event.type
        if event_type not in terms.moving_types:
            return
        # Not getattr(event, "status", None): a pydantic model's missing attribute costs microseconds.
        status = event.status if isinstance(event, TicketStatusChanged) else None
        stopped = False
        for clock in state.clocks:
            spec = terms.objective(clock.objective)
            if spec is None:
                continue
            if clock.status is ClockStatus.DONE:
                if event_type == "ticket.reopened" and spec.restarts_on_reopen:
                    if objective_clock.restart(state, clock, terms, occurred):
                        self._clock_started(state, clock.objective)
                        if fire_at_once:
                            out.extend(objective_clock.fire_due(ticket_id, state, clock, terms, now))
            elif spec.stops.has(event_type, status):
                out.extend(objective_clock.stop(ticket_id, state, clock, terms, occurred, now))
                stopped = True
            elif clock.status is ClockStatus.RUNNING:
                if spec.pauses.has(event_type, status):
                    out.extend(objective_clock.pause(ticket_id, state, clock, terms, occurred, now))
            elif spec.resumes.has(event_type, status) and not spec.pauses.has(event_type, status):
                objective_clock.resume(state, clock, terms, occurred)
                if fire_at_once:
                    out.extend(objective_clock.fire_due(ticket_id, state, clock, terms, now))
        objectives = terms.objectives_of(state.plan or "")
        if len(state.clocks) < len(objectives):
            for objective in objectives:
                if not objective.starts.has(event_type, status) or state.clock(objective.name) is not None:
                    continue
                clock = objective_clock.start(state, objective.name, terms, occurred)
                if clock is not None:
                    state.clocks.append(clock)
                    self._clock_started(state, objective.name)
                    if fire_at_once:
                        out.extend(objective_clock.fire_due(ticket_id, state, clock, terms, now))
        if stopped and self._finished(state, objectives):
            state.retire(Phase.DONE)

    def _clock_started(self, state: TicketState, objective: str) -> None:
        self.stats.clocks_started += 1
        priority = state.priority
        assert priority is not None
        self._started.append((objective, priority))

    def _finished(self, state: TicketState, objectives: tuple[objective_clock.Objective, ...]) -> bool:
        """Whether no clock of the ticket can move again: every objective of its plan has its
        outcome, none restarts on a reopen, and no other clock is open."""
        clocks = state.clocks
        if len(clocks) < len(objectives):
            return False
        for clock in clocks:
            if clock.status is not ClockStatus.DONE:
                return False
            spec = self._terms.objective(clock.objective)
            if spec is not None and spec.restarts_on_reopen:
                return False
        return all(state.clock(objective.name) is not None for objective in objectives)

    def _buffer(
        self,
        ticket_id: str,
        state: TicketState,
        event: TicketEvent,
        source: EventSource | None,
        now: int,
        out: list[BaseModel],
    ) -> Effect:
        """Rule 7: keep the event (and where it came from) until the ticket is opened."""
        text = event.model_dump_json()
        size = _stored_size(text)
        if len(state.buffer) >= self._buffer_limit:
            reason = f"ticket {ticket_id!r} already has {self._buffer_limit} events waiting for ticket.opened"
            out.append(self._orphan_letter(ticket_id, text, source, now, reason))
            return Effect.ORPHANED
        if sum(_stored_size(entry.text) for entry in state.buffer) + size > BUFFER_BYTES_LIMIT:
            reason = (f"ticket {ticket_id!r} already has {BUFFER_BYTES_LIMIT // 1024} KiB of events "
                      f"waiting for ticket.opened")
            out.append(self._orphan_letter(ticket_id, text, source, now, reason))
            return Effect.ORPHANED
        if state.buffered_at is None:
            state.buffered_at = now
        state.buffer.append(BufferedEvent(text, source))
        self.stats.buffered += 1
        return Effect.BUFFERED

    def _orphan_all(self, ticket_id: str, state: TicketState, now: int) -> list[BaseModel]:
        timeout = micros_to_seconds(self._orphan_timeout)
        reason = f"ticket {ticket_id!r} was not opened within {timeout:g}s of its first buffered event"
        return [self._orphan_letter(ticket_id, entry.text, entry.source, now, reason) for entry in state.buffer]

    def _orphan_letter(
        self, ticket_id: str, text: str, source: EventSource | None, now: int, reason: str
    ) -> DeadLetter:
        where = source or EventSource()
        return DeadLetter.of(
            ORPHAN.value,
            reason,
            text,
            ticket_id,
            micros_to_datetime(now),
            topic=where.topic,
            partition=where.partition,
            offset=where.offset,
            source=where.location,
        )

    # -- bookkeeping --------------------------------------------------------------------

    def _due_of(self, state: TicketState) -> int | None:
        if state.phase is Phase.RUNNING:
            soonest: int | None = None
            for clock in state.clocks:
                due = objective_clock.next_due(state, clock, self._terms)
                if due is not None and (soonest is None or due < soonest):
                    soonest = due
            return soonest
        if state.phase is Phase.PENDING and state.buffered_at is not None:
            return state.buffered_at + self._orphan_timeout
        if state.phase is Phase.CLOSED and state.closed_at is not None:
            return state.closed_at + self._closed_retention
        return None

    def _commit(
        self,
        ticket_id: str,
        state: TicketState,
        old_due: int | None,
        old_census: list[ClockCensus],
        *,
        delete: bool = False,
        popped: bool = False,
    ) -> None:
        """Write the state back (or delete it) and keep the index and gauges in step.

        ``popped``: the old due's heap entry was just consumed, so an unchanged due
        must be pushed again.
        """
        new_census = [] if delete else state.census()
        if delete or (state.phase is Phase.PENDING and not state.buffer):
            self._store.delete(ticket_id)
            new_due = None
        else:
            state.due = new_due = self._due_of(state)
            self._store.put(ticket_id, state.to_record())
        if old_census != new_census:
            for entry in old_census:
                self._count(entry, -1)
            for entry in new_census:
                self._count(entry, 1)
            old_deadlines = {(entry.group, entry.deadline) for entry in old_census if entry.deadline is not None}
            for entry in new_census:
                if entry.deadline is not None and (entry.group, entry.deadline) not in old_deadlines:
                    self._deadlines.note(ticket_id, (entry.group, entry.deadline))
        if (old_due is None) != (new_due is None):
            self._index.track(1 if new_due is not None else -1)
        if new_due is not None and (new_due != old_due or popped):
            self._index.schedule(new_due, ticket_id)

    def _count(self, entry: ClockCensus, step: int) -> None:
        group = entry.group
        self._open_clocks[group] = self._open_clocks.get(group, 0) + step
        if entry.kind == BREACHED_KIND:
            self._breached[group] = self._breached.get(group, 0) + step
        elif entry.kind == PAUSED_KIND:
            self._paused[group] = self._paused.get(group, 0) + step

    def _has_deadline(self, ticket_id: str, key: DeadlineKey) -> bool:
        record = self._store.get(ticket_id)
        if record is None:
            return False
        group, deadline = key
        return any(entry.group == group and entry.deadline == deadline for entry in TicketState.census_of(record))

    def _is_current(self, due: int, ticket_id: str) -> bool:
        record = self._store.get(ticket_id)
        return record is not None and TicketState.due_of(record) == due

    def _emit(self, ticket_id: str, models: list[BaseModel]) -> list[Emission]:
        """Count each output under its counter and give it its kind (see ``OUTPUT_TYPES``)."""
        emissions: list[Emission] = []
        for model in models:
            entry = output_type(model)
            self.stats.count(entry.counter)
            emissions.append(Emission(entry.kind, ticket_id, model))
        return emissions


def _stored_size(text: str) -> int:
    """Bytes of ``text`` once written inside the record's JSON (escaped, ASCII only)."""
    return len(json.dumps(text))


def _by_priority(counts: dict[Group, int], objective: str) -> dict[str, int]:
    """One objective's counts per priority, every priority present (at zero when none)."""
    found = dict.fromkeys(PRIORITIES, 0)
    for (name, priority), count in counts.items():
        if name == objective:
            found[priority] = found.get(priority, 0) + count
    return found
