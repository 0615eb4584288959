"""One partition's open clocks for the status API, listed soonest deadline first without
scanning the partition's tickets.

Running clocks come in deadline order from the engine's own deadline heaps (one per
objective and priority, kept for the "time to the next breach" gauge), walked in order
without popping: reading a page of 50 costs about 50 log n steps, however many tickets
are open. What the heaps do not hold has an index here, updated from each batch's touched
tickets: per customer, the tickets it has open (``GET /api/open?customer=`` reads only
those), and the tickets with a paused clock or a standing breach.

Both index parts are cleaned lazily: a ticket that stopped being tracked is dropped from
its customer's set when that set is read or has doubled since it was last cleaned (a
retired record no longer names its customer, so it cannot be found by it). After an
assignment the index is built from the partition's records in steps (``build``); until it
is ``ready`` the listing is refused (the API answers 503), never partial.
"""

from __future__ import annotations

import heapq
from typing import Any, Callable, Final, Iterator, Mapping

from ticket_slo.streams.core.objective_clock import Terms
from ticket_slo.streams.core.state_store import Record
from ticket_slo.streams.core.ticket_state import (INDEX_HEADER, STORED_BREACHED, STORED_OTHER, STORED_RETIRED,
                                                  Group, Phase, TicketState)
from ticket_slo.streams.core.timebase import seconds_to_micros
from ticket_slo.streams.status.queries import NO_DEADLINE, OpenQuery, SortKey
from ticket_slo.streams.status.ticket_view import open_clock_rows, read_record

__all__ = ["PartitionClocks", "Row", "BUILD_STEP"]

#: A listed clock: its sort key and its row.
Row = tuple[SortKey, dict[str, Any]]
#: Records indexed per step of ``build`` (a millisecond or two): the worker's loop runs between steps.
BUILD_STEP: Final = 2_000
#: A customer's set is cleaned once it has doubled since its last cleaning, and not below this.
_CLEAN_FLOOR: Final = 64
_TRACKED: Final = Phase.RUNNING.value
_PAUSED: Final = "z"
_DONE: Final = "d"


class PartitionClocks:
    """The API's view of one owned partition: the engine's records (shared, never copied)
    and deadline heaps, and the index of this module."""

    def __init__(self, data: Mapping[str, Record | bytes], deadline_heaps: Callable[[], dict[Group, list[tuple[int, str]]]],
                 terms: Terms) -> None:
        self._data = data
        self._heaps = deadline_heaps
        self._terms = terms
        #: Customer → its tracked ticket's id, or the list of them when it has several.
        self._by_customer: dict[str, str | list[str]] = {}
        self._clean_at: dict[str, int] = {}
        #: Tickets with a paused clock or a standing breach (not in the deadline heaps).
        self._attention: set[str] = set()
        self.ready = False

    # -- keeping the index ------------------------------------------------------------------

    def note(self, ticket_id: str, record: Record | None) -> None:
        """A ticket the engine just wrote (None: deleted). Runs for every touched ticket: cheap."""
        if record is None or record.get("ph") != _TRACKED:
            self._attention.discard(ticket_id)
            return
        customer = record.get("c")
        if customer is not None:
            self._add(customer, ticket_id)
        # The usual record (one running clock, beside the ticket's keys) is told at a glance.
        if ("br" in record or "x" in record or record.get("cs") == _PAUSED) and _needs_attention(record):
            self._attention.add(ticket_id)
        else:
            self._attention.discard(ticket_id)

    def _add(self, customer: str, ticket_id: str) -> None:
        """Hold ``ticket_id`` under ``customer``: as itself while it is the customer's only one,
        then in a list (8 bytes an entry; a set of 25 ids costs 2,264), which may repeat an id
        touched again: it is cleaned once it has doubled since its last cleaning."""
        ids = self._by_customer.get(customer)
        if ids is None:
            self._by_customer[customer] = ticket_id
        elif ids.__class__ is str:
            if ids != ticket_id:
                self._by_customer[customer] = [ids, ticket_id]  # type: ignore[list-item]
        elif ids[-1] != ticket_id:  # type: ignore[index]
            ids.append(ticket_id)  # type: ignore[union-attr]
            if len(ids) > self._clean_at.get(customer, _CLEAN_FLOOR):
                self._clean(customer)

    def note_all(self, touched: list[tuple[str, Record | None]]) -> None:
        for ticket_id, record in touched:
            self.note(ticket_id, record)

    def build(self, step: int = BUILD_STEP) -> Iterator[int]:
        """Index every record, ``step`` at a time; yields the records indexed so far. Tickets
        written meanwhile are noted by the batches too: noting twice is harmless.

        A stored value whose header says it has one running ``first_response`` clock (the
        shipped policy's open ticket) is indexed from its header and its customer field, not
        decoded: 1,000,000 of them after a restart."""
        keys = list(self._data)
        data, add, attention = self._data, self._add, self._attention
        kind_of = TicketState.stored_kind
        for begin in range(0, len(keys), step):
            for ticket_id in keys[begin:begin + step]:
                value = data.get(ticket_id)
                if value is None:
                    continue
                if value.__class__ is bytes:
                    kind = kind_of(value)  # type: ignore[arg-type]
                    if kind == STORED_RETIRED:
                        continue
                    if kind != STORED_OTHER:
                        customer = _stored_customer(value)  # type: ignore[arg-type]
                        if customer is not None:
                            if customer:
                                add(customer, ticket_id)
                            if kind == STORED_BREACHED:
                                attention.add(ticket_id)
                            continue
                self.note(ticket_id, read_record(value))
            yield min(len(keys), begin + step)
        self.ready = True

    def _tickets_of(self, customer: str) -> set[str] | tuple[str, ...]:
        ids = self._by_customer.get(customer)
        if ids is None:
            return ()
        return (ids,) if ids.__class__ is str else set(ids)  # type: ignore[return-value,arg-type]

    def _clean(self, customer: str) -> None:
        """Drop the customer's ids no longer tracked, and repeats (no record is decoded)."""
        ids = self._by_customer.get(customer)
        if ids is None:
            return
        data = self._data
        kept = [t for t in dict.fromkeys((ids,) if ids.__class__ is str else ids)  # type: ignore[arg-type]
                if _is_tracked(data.get(t))]
        if not kept:
            del self._by_customer[customer]
            self._clean_at.pop(customer, None)
            return
        self._by_customer[customer] = kept[0] if len(kept) == 1 else kept
        self._clean_at[customer] = max(_CLEAN_FLOOR, 2 * len(kept))

    # -- reading ----------------------------------------------------------------------------

    def listing(self, query: OpenQuery, now: int) -> list[Row]:
        """Up to ``query.limit`` open clocks after ``query.after`` matching the query, in order."""
        if query.customer is not None:
            return self._customer_listing(query, now)
        keep = _filter(query, now)
        found: list[Row] = []
        for row in heapq.merge(self._attention_rows(keep, now), self._running_rows(query, keep, now)):
            found.append(row)
            if len(found) >= query.limit:
                break
        return found

    def customer_tickets(self, customer: str) -> int:
        """How many tickets the index holds for ``customer`` (cleaned lazily: an upper bound)."""
        return len(self._tickets_of(customer))

    def _customer_listing(self, query: OpenQuery, now: int) -> list[Row]:
        assert query.customer is not None
        self._clean(query.customer)
        keep = _filter(query, now)
        rows: list[Row] = []
        data, terms = self._data, self._terms
        for ticket_id in self._tickets_of(query.customer):
            record = read_record(data.get(ticket_id))
            if record is not None:
                rows.extend(row for row in open_clock_rows(ticket_id, record, terms, now) if keep(row))
        rows.sort(key=_sort_key)
        return rows[:query.limit]

    def _attention_rows(self, keep: Callable[[Row], bool], now: int) -> list[Row]:
        """The paused clocks and those whose breach stands, sorted (they are not in the heaps)."""
        rows: list[Row] = []
        data, terms = self._data, self._terms
        for ticket_id in list(self._attention):
            record = read_record(data.get(ticket_id))
            if record is None or not _needs_attention(record):
                self._attention.discard(ticket_id)
                continue
            rows.extend(row for row in open_clock_rows(ticket_id, record, terms, now)
                        if row[1]["state"] != "running" and keep(row))
        rows.sort(key=_sort_key)
        return rows

    def _running_rows(self, query: OpenQuery, keep: Callable[[Row], bool], now: int) -> Iterator[Row]:
        """Running clocks without a standing breach, from the deadline heaps in order (stale
        entries, left by the heaps' lazy deletion, are skipped)."""
        heaps = [(group, heap) for group, heap in self._heaps().items() if heap
                 and (query.priorities is None or group[1] in query.priorities)
                 and (query.objective is None or group[0] == query.objective)]
        bound = None if query.due_within is None else now + seconds_to_micros(query.due_within)
        frontier = [(heap[0][0], heap[0][1], index, 0) for index, (_, heap) in enumerate(heaps)]
        heapq.heapify(frontier)
        data, terms = self._data, self._terms
        shown: set[tuple[str, str]] = set()
        while frontier:
            deadline, ticket_id, index, position = heapq.heappop(frontier)
            if bound is not None and deadline > bound:
                return  # everything left is due later
            group, heap = heaps[index]
            for child in (2 * position + 1, 2 * position + 2):
                if child < len(heap):
                    entry = heap[child]
                    heapq.heappush(frontier, (entry[0], entry[1], index, child))
            if query.after is not None and (deadline, ticket_id) < query.after[:2]:
                continue
            if (ticket_id, group[0]) in shown:
                continue
            record = read_record(data.get(ticket_id))
            if record is None:
                continue
            for row in open_clock_rows(ticket_id, record, terms, now):
                key, fields = row
                if (key[0] == deadline and key[2] == group[0] and fields["state"] == "running"
                        and fields["priority"] == group[1] and keep(row)):
                    shown.add((ticket_id, group[0]))
                    yield row


def _sort_key(row: Row) -> SortKey:
    return row[0]


def _filter(query: OpenQuery, now: int) -> Callable[[Row], bool]:
    """The query's conditions on one row (the cursor included)."""
    bound = NO_DEADLINE - 1 if query.due_within is None else now + seconds_to_micros(query.due_within)
    after, priorities, objective = query.after, query.priorities, query.objective
    manager, customer = query.account_manager, query.customer

    def keep(row: Row) -> bool:
        key, fields = row
        return ((after is None or key > after)
                and (query.due_within is None or key[0] <= bound)
                and (priorities is None or fields["priority"] in priorities)
                and (objective is None or key[2] == objective)
                and (manager is None or fields["account_manager"] == manager)
                and (customer is None or fields["customer_id"] == customer))
    return keep


def _needs_attention(record: Record) -> bool:
    """Whether a tracked record has a paused clock or a standing breach."""
    for clock in (record, *record.get("x", ())):
        status = clock.get("cs")
        if status == _DONE:
            continue
        if status == _PAUSED or clock.get("br"):
            return True
    return False


def _is_tracked(value: Record | bytes | None) -> bool:
    """Whether a record (or stored value) is of a tracked ticket; a ticket's customer never
    changes while it is tracked, so the customer need not be compared."""
    if value is None:
        return False
    if value.__class__ is bytes:
        return TicketState.stored_kind(value) != STORED_RETIRED  # type: ignore[arg-type]
    return value.get("ph") == _TRACKED  # type: ignore[union-attr]


_CUSTOMER_KEY: Final = b'"c":"'


def _stored_customer(value: bytes) -> str | None:
    """The customer of a stored record, found in its JSON without decoding it: "" when it has
    none, None when it must be decoded to know (an escaped character in the id). Only the
    ticket's own keys are named ``c`` (clocks use other keys, and event texts in the buffer
    are JSON strings, whose quotes are escaped)."""
    begin = value.find(_CUSTOMER_KEY, INDEX_HEADER.size)
    if begin < 0:
        return ""
    begin += len(_CUSTOMER_KEY)
    end = value.find(b'"', begin)
    if end < 0:
        return None
    raw = value[begin:end]
    if b"\\" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
