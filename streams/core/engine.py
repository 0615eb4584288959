"""The pure SLO engine: apply an event or advance the clock, get output events back.

No I/O and no wall clock: the caller passes ``now`` (float epoch seconds) — wall
time in the live worker, the largest ``occurred_at`` seen in replay — so the same
engine gives the same answers in both. Per-ticket state lives in a ``StateStore``;
the due times live in a derived ``TimerIndex`` that ``rebuild_index`` recreates
from the store. Work per ``apply`` is one store read and write plus at most one heap
push; ``advance`` pops only due entries: nothing ever scans all tickets (except
``rebuild_index``, once per restart or partition assignment).

Rules beyond the first-response clock itself (see ``ticket_slo.streams.core.first_response``):

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
* Not eligible: a plan without ``first_response`` gets no clock and no output, but
  the ticket's state is kept (phase ``done``) so its later events are not orphans.
* Reopen (rule 8) has no effect on the clock; neither do assignment, status or ETA.
* ``ticket.closed`` stops a running clock and leaves a closed marker (only the seen
  ids) that ignores every event until ``closed_retention`` has passed on the engine
  clock, when the state is deleted (a tombstone in the changelog). A ticket that is
  resolved but never closed keeps its small ``done`` state indefinitely.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel

from ticket_slo.schemas.events import (
    FIRST_RESPONSE_STOPS,
    PRIORITIES,
    TicketEvent,
    TicketOpened,
    TicketPriorityChanged,
)
from ticket_slo.schemas.outputs import DeadLetter
from ticket_slo.schemas.policy import Policy
from ticket_slo.schemas.validation import ORPHAN, event_adapter
from ticket_slo.streams.core import first_response
from ticket_slo.streams.core.effects import Applied, Effect, Ignored
from ticket_slo.streams.core.emission import Emission, EventSource, output_type
from ticket_slo.streams.core.engine_stats import EngineStats
from ticket_slo.streams.core.state_store import StateStore
from ticket_slo.streams.core.ticket_state import SEEN_LIMIT, BufferedEvent, Phase, TicketState, event_id_hash
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
    how many tickets have a timer, the per-priority deadline heaps, the running clocks
    per priority and, among them, those whose breach stands. Only valid together with the
    records it was derived from."""

    timers: list[tuple[int, str]]
    timers_live: int
    deadlines: dict[str, list[tuple[int, str]]]
    open_by_priority: dict[str, int]
    breached_by_priority: dict[str, int]


class SloEngine:
    """Tracks first-response objectives for the tickets in ``store``."""

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
        self._terms = first_response.Terms(policy)
        self.stats = EngineStats()
        self._store = store
        self._orphan_timeout = seconds_to_micros(orphan_timeout)
        self._closed_retention = seconds_to_micros(closed_retention)
        self._seen_limit = seen_limit
        self._buffer_limit = buffer_limit
        self._open_by_priority: dict[str, int] = dict.fromkeys(PRIORITIES, 0)
        #: Of those, the clocks whose breach stands (published, not retracted): still unanswered.
        self._breached_by_priority: dict[str, int] = dict.fromkeys(PRIORITIES, 0)
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
        old_due, old_priority, old_deadline = state.due, _running_priority(state), _deadline_key(state)
        state.remember_hash(digest, self._seen_limit)
        self.stats.events += 1
        out: list[BaseModel] = []
        ignored: tuple[Ignored, ...] = ()
        if state.phase is Phase.PENDING:
            if isinstance(event, TicketOpened):
                effect, ignored = self._open(ticket_id, state, event, now_us, out)
            else:
                effect = self._buffer(ticket_id, state, event, source, now_us, out)
        else:
            why = self._on_known_ticket(ticket_id, state, event, now_us, out, fire_at_once=True)
            effect, ignored = (Effect.APPLIED, ()) if why is None else (Effect.IGNORED, (why,))
        self._commit(ticket_id, state, old_due, old_priority, old_deadline)
        return Applied(effect, self._emit(ticket_id, out), ignored)

    def advance(self, now: float) -> list[Emission]:
        """Fire every timer the clock is strictly past: warnings, breaches, orphans, expiries."""
        now_us = seconds_to_micros(now)
        emissions: list[Emission] = []
        for _, ticket_id in self._index.pop_due(now_us):
            record = self._store.get(ticket_id)
            if record is None:  # pragma: no cover - is_current() saw it a moment ago
                continue
            state = TicketState.from_record(record)
            old_due, old_priority, old_deadline = state.due, _running_priority(state), _deadline_key(state)
            out: list[BaseModel] = []
            delete = False
            if state.phase is Phase.RUNNING:
                out = first_response.fire_due(ticket_id, state, self._terms, now_us)
            elif state.phase is Phase.PENDING:
                out = self._orphan_all(ticket_id, state, now_us)
                delete = True
            elif state.phase is Phase.CLOSED:
                self.stats.expired_closed += 1
                delete = True
            self._commit(ticket_id, state, old_due, old_priority, old_deadline, delete=delete, popped=True)
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
        self._open_by_priority = dict.fromkeys(PRIORITIES, 0) | scan.running_by_priority
        self._breached_by_priority = dict.fromkeys(PRIORITIES, 0) | scan.breached_by_priority

    def index(self) -> EngineIndex:
        """What the engine derived from its store, as plain data (shared, not copied: use it
        before the next ``apply`` or ``advance``). A local snapshot keeps it beside the
        records, so that a restart adopts it instead of scanning every ticket again."""
        return EngineIndex(self._index.entries(), self._index.live, self._deadlines.heaps(),
                           dict(self._open_by_priority), dict(self._breached_by_priority))

    def adopt_index(self, index: EngineIndex) -> None:
        """Take ``index`` (from ``index()`` over these very records) instead of rebuilding."""
        self._index.adopt(index.timers, index.timers_live)
        self._deadlines.adopt(index.deadlines)
        self._open_by_priority = dict.fromkeys(PRIORITIES, 0) | index.open_by_priority
        self._breached_by_priority = dict.fromkeys(PRIORITIES, 0) | index.breached_by_priority

    def open_clocks(self) -> int:
        """Running first-response clocks (opened, eligible, not stopped), kept incrementally."""
        return sum(self._open_by_priority.values())

    def open_clocks_by_priority(self) -> dict[str, int]:
        """Running clocks per priority, breached or not."""
        return dict(self._open_by_priority)

    def breached_clocks_by_priority(self) -> dict[str, int]:
        """Of the running clocks, those whose breach stands (published, not retracted), per
        priority: a customer still waiting for an answer that is already late."""
        return dict(self._breached_by_priority)

    def soonest_deadlines(self) -> dict[str, float]:
        """Priority → epoch seconds of the soonest deadline of a running, unbreached clock."""
        return {priority: micros_to_seconds(due) for priority, due in self._deadlines.soonest().items()}

    # -- event handling -----------------------------------------------------------------

    def _open(
        self, ticket_id: str, state: TicketState, opened: TicketOpened, now: int, out: list[BaseModel]
    ) -> tuple[Effect, tuple[Ignored, ...]]:
        """Start the clock (or mark not eligible), then apply what was buffered, in time order.

        Returns the opening's effect and why each buffered event that changed nothing did not.
        """
        buffered = [event_adapter().validate_json(entry.text) for entry in state.buffer]
        state.buffer = []
        state.buffered_at = None
        plan, contract, account_manager = first_response.terms_of(self._terms, opened)
        if not self.policy.knows_plan(plan):
            self.stats.unknown_plan += 1
        target = first_response.target_micros(self.policy, plan, opened.priority)
        if target is None:
            self.stats.not_eligible += 1
            state.retire(Phase.DONE)
            effect = Effect.NOT_ELIGIBLE
        else:
            self.stats.clocks_started += 1
            first_response.start(state, opened, self._terms, plan, contract, account_manager, target)
            effect = Effect.CLOCK_STARTED
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
    ) -> Ignored | None:
        """An event for a ticket that has been opened (running, done or closed).

        Returns why the event changed nothing, or ``None`` when it was applied.
        """
        if state.phase is Phase.CLOSED:
            self.stats.ignored_closed += 1
            return Ignored.TICKET_CLOSED
        if isinstance(event, TicketOpened):
            self.stats.ignored_extra_open += 1
            return Ignored.ALREADY_OPENED
        occurred = datetime_to_micros(event.occurred_at)
        if event.type == "ticket.closed":
            if state.phase is Phase.RUNNING:
                out.extend(first_response.stop(ticket_id, state, self._terms, occurred, now))
            state.retire(Phase.CLOSED)
            state.closed_at = now
            return None
        if state.phase is not Phase.RUNNING:
            return None
        if event.type in FIRST_RESPONSE_STOPS:
            out.extend(first_response.stop(ticket_id, state, self._terms, occurred, now))
            state.retire(Phase.DONE)
        elif isinstance(event, TicketPriorityChanged):
            out.extend(
                first_response.change_priority(
                    ticket_id, state, self._terms, event.priority, occurred, now, fire_at_once=fire_at_once
                )
            )
        # assigned, status_changed, eta_reported, reopened: no effect on the clock
        return None

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
            return first_response.next_due(state, self._terms)
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
        old_priority: str | None,
        old_deadline: DeadlineKey | None,
        *,
        delete: bool = False,
        popped: bool = False,
    ) -> None:
        """Write the state back (or delete it) and keep the index and gauges in step.

        ``popped``: the old due's heap entry was just consumed, so an unchanged due
        must be pushed again.
        """
        new_priority = None if delete else _running_priority(state)
        new_deadline = None if delete else _deadline_key(state)
        if delete or (state.phase is Phase.PENDING and not state.buffer):
            self._store.delete(ticket_id)
            new_due = None
        else:
            state.due = new_due = self._due_of(state)
            self._store.put(ticket_id, state.to_record())
        # A running clock without an unbreached deadline is one whose breach stands.
        if old_priority is not None:
            self._open_by_priority[old_priority] -= 1
            if old_deadline is None:
                self._breached_by_priority[old_priority] -= 1
        if new_priority is not None:
            self._open_by_priority[new_priority] += 1
            if new_deadline is None:
                self._breached_by_priority[new_priority] += 1
        if (old_due is None) != (new_due is None):
            self._index.track(1 if new_due is not None else -1)
        if new_due is not None and (new_due != old_due or popped):
            self._index.schedule(new_due, ticket_id)
        self._deadlines.note(ticket_id, old_deadline, new_deadline)

    def _has_deadline(self, ticket_id: str, key: DeadlineKey) -> bool:
        record = self._store.get(ticket_id)
        return record is not None and _deadline_key(TicketState.from_record(record)) == key

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


def _running_priority(state: TicketState) -> str | None:
    return state.priority if state.phase is Phase.RUNNING else None


def _deadline_key(state: TicketState) -> DeadlineKey | None:
    """(priority, deadline) of a running clock that has not breached, else ``None``."""
    if state.phase is not Phase.RUNNING or state.breached or state.priority is None:
        return None
    return state.priority, state.deadline
