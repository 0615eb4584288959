"""The status API's open-clock listing against a brute-force oracle over the same engine's records.

The engine runs real scripts (opens, acknowledgements, pauses, priority changes, breaches,
closes) on a policy with three objectives; the listing must equal "every open clock of every
record, filtered and sorted", read a page at a time, whichever way the index was made
(noted batch by batch, or built from the records afterwards, as after an assignment)."""

from __future__ import annotations

import random

import pytest

from ticket_slo.schemas.policy import Policy
from ticket_slo.streams.core.changelog_codec import encode_record
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.core.objective_clock import terms_for
from ticket_slo.streams.core.partition_batch import TouchedStore
from ticket_slo.streams.core.timebase import seconds_to_micros
from ticket_slo.streams.status.open_clocks import PartitionClocks, Row
from ticket_slo.streams.status.queries import NO_DEADLINE, OpenQuery
from ticket_slo.streams.status.ticket_view import open_clock_rows, read_record
from tests.unit.script import (ETA_AND_RESOLUTION, acknowledged, clock, closed, eta_reported, opened,
                               priority_changed, status_changed)
import yaml

POLICY = Policy.model_validate(yaml.safe_load(ETA_AND_RESOLUTION + """plans:
  default:
    warn_at: [0.5]
    objectives:
      first_response: {P1: 30m, P2: 1h, P3: 4h, P4: 8h}
      eta: {P1: 1h, P2: 2h, P3: 8h, P4: 1d}
      resolution: {P1: 4h, P2: 8h, P3: 2d, P4: 5d}
"""))
CUSTOMERS = ("acme", "globex", "initech", "umbrella", "hooli")


def _run(seed: int, tickets: int = 150) -> tuple[TouchedStore, SloEngine, PartitionClocks, int]:
    """A shuffled life for ``tickets`` tickets; the index noted from every touched batch."""
    rng = random.Random(seed)
    store = TouchedStore()
    engine = SloEngine(POLICY, store)
    clocks = PartitionClocks(store.data, engine.deadline_heaps, terms_for(POLICY))
    clocks.ready = True
    events = []
    for index in range(tickets):
        ticket = f"T-{index:04d}"
        start = rng.uniform(0, 600)
        events.append(opened(ticket, start, rng.choice(["P1", "P2", "P3", "P4"]),
                             customer=rng.choice(CUSTOMERS), account_manager=rng.choice(["dana", "lee", None])))
        later = start
        for _ in range(rng.randint(0, 4)):
            later += rng.uniform(1, 200)
            kind = rng.random()
            if kind < 0.25:
                events.append(acknowledged(ticket, later))
            elif kind < 0.45:
                events.append(priority_changed(ticket, later, rng.choice(["P1", "P2", "P3", "P4"])))
            elif kind < 0.6:
                events.append(status_changed(ticket, later, "waiting_on_customer"))
            elif kind < 0.7:
                events.append(status_changed(ticket, later, "in_progress"))
            elif kind < 0.8:
                events.append(eta_reported(ticket, later, later + 60))
            elif kind < 0.85:
                events.append(closed(ticket, later))
    events.sort(key=lambda event: event.occurred_at)
    now = 0.0
    for position, event in enumerate(events):
        now = clock(event.occurred_at.timestamp() / 60 - clock(0) / 60)
        engine.apply(event, now)
        engine.advance(now)
        if position % 7 == 0 or position == len(events) - 1:
            clocks.note_all(store.take_touched())
    return store, engine, clocks, seconds_to_micros(now)


def _oracle(store: TouchedStore, query: OpenQuery, now: int) -> list[Row]:
    """Every open clock of every record, filtered and sorted: what the listing must equal."""
    rows = []
    terms = terms_for(POLICY)
    for ticket_id, value in store.data.items():
        record = read_record(value)
        for key, fields in open_clock_rows(ticket_id, record, terms, now):  # type: ignore[arg-type]
            if query.customer is not None and fields["customer_id"] != query.customer:
                continue
            if query.account_manager is not None and fields["account_manager"] != query.account_manager:
                continue
            if query.priorities is not None and fields["priority"] not in query.priorities:
                continue
            if query.objective is not None and key[2] != query.objective:
                continue
            if query.due_within is not None and key[0] > now + seconds_to_micros(query.due_within):
                continue
            rows.append((key, fields))
    rows.sort(key=lambda row: row[0])
    return rows


def _pages(clocks: PartitionClocks, query: OpenQuery, now: int) -> list[Row]:
    found: list[Row] = []
    after = None
    for _ in range(1000):
        page = clocks.listing(OpenQuery(query.customer, query.account_manager, query.priorities, query.objective,
                                        query.due_within, query.limit, after), now)
        found.extend(page)
        if len(page) < query.limit:
            return found
        after = page[-1][0]
    raise AssertionError("the pages never ended")


QUERIES = [
    OpenQuery(limit=500),
    OpenQuery(limit=7),
    OpenQuery(customer="acme", limit=5),
    OpenQuery(customer="nobody", limit=5),
    OpenQuery(account_manager="dana", limit=11),
    OpenQuery(priorities=frozenset({"P1", "P2"}), limit=9),
    OpenQuery(objective="resolution", limit=13),
    OpenQuery(objective="eta", priorities=frozenset({"P3"}), limit=3),
    OpenQuery(due_within=3600.0, limit=10),
    OpenQuery(customer="globex", due_within=7200.0, objective="first_response", limit=2),
]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("query", QUERIES, ids=[repr(q)[9:60] for q in QUERIES])
def test_the_listing_pages_through_exactly_the_oracles_rows(seed: int, query: OpenQuery) -> None:
    store, _, clocks, now = _run(seed)
    expected = _oracle(store, query, now)
    got = _pages(clocks, query, now)
    assert [key for key, _ in got] == [key for key, _ in expected]
    assert got == expected


def test_the_scripts_reach_every_state_the_listing_shows() -> None:
    """The oracle comparison means something only if paused, breached and running clocks occur."""
    store, _, _, now = _run(1)
    states = {fields["state"] for _, fields in _oracle(store, OpenQuery(limit=500), now)}
    assert states == {"running", "paused", "breached"}
    keys = [key for key, _ in _oracle(store, OpenQuery(limit=500), now)]
    assert any(key[0] == NO_DEADLINE for key in keys)


@pytest.mark.parametrize("seed", [5, 6])
def test_an_index_built_from_stored_records_lists_the_same(seed: int) -> None:
    """After an assignment the records are stored bytes; the index is built from them in steps."""
    store, engine, noted, now = _run(seed)
    stored = {ticket_id: encode_record(record) for ticket_id, record in store.data.items()}
    rebuilt_store = TouchedStore(stored)
    rebuilt_engine = SloEngine(POLICY, rebuilt_store)
    built = PartitionClocks(rebuilt_store.data, rebuilt_engine.deadline_heaps, terms_for(POLICY))
    steps = list(built.build(step=17))
    assert built.ready and steps[-1] == len(stored) and len(steps) == -(-len(stored) // 17)
    for query in QUERIES:
        assert _pages(built, query, now) == _pages(noted, query, now)
    assert all(value.__class__ is bytes for value in rebuilt_store.data.values()), "reading must not decode in place"


def test_a_customers_set_forgets_tickets_no_longer_tracked() -> None:
    store, engine, clocks, now = _run(7, tickets=400)
    before = clocks.customer_tickets("acme")
    for ticket_id, value in list(store.data.items()):
        record = read_record(value)
        if record and record.get("c") == "acme" and record.get("ph") == "r":
            engine.apply(closed(ticket_id, 2000), clock(2000))
    clocks.note_all(store.take_touched())
    assert clocks.listing(OpenQuery(customer="acme", limit=500), now) == []
    assert clocks.customer_tickets("acme") == 0 < before
