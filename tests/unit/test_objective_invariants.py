"""Invariants of several clocks per ticket under shuffled, duplicated and late events.

Random ticket lifecycles (seeded, so a failure names its seed) on a policy with three
objectives, one of them pausing and restarting, and a business-hours plan, applied in a
shuffled order with duplicates and with the engine clock running ahead of event time.
Whatever the order:

* every (ticket, objective, cycle) has at most one outcome, and a retraction only ever takes
  back a breach that was published and still stands;
* an engine rebuilt from the store counts the same clocks and deadlines as the one that
  wrote it (the gauges are kept incrementally; a restart derives them);
* closing every ticket leaves no open clock, and every clock that started has its outcome.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ticket_slo.schemas.events import TicketEvent
from ticket_slo.schemas.policy import Policy, load_policy
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.core.state_store import DictStateStore
from tests.unit.script import (
    ETA_AND_RESOLUTION,
    acknowledged,
    clock,
    closed,
    eta_reported,
    opened,
    priority_changed,
    reopened,
    resolved,
    status_changed,
)

POLICY = ETA_AND_RESOLUTION + """calendars:
  office:
    timezone: Europe/Berlin
    hours: {mon-fri: ["08:00-12:00", "13:00-17:30"]}
plans:
  default:
    warn_at: [0.5, 0.9]
    objectives:
      first_response: {P1: 30m, P2: 60m, P3: 4h, P4: 8h}
      eta: {P1: 20m, P2: 1h, P3: 4h, P4: 8h}
      resolution: {P1: 2h, P2: 8h, P3: 1d, P4: 2d}
  business:
    calendar: office
    objectives:
      first_response: {P1: 1h, P2: 2h, P3: 1d, P4: 2d}
      resolution: {P1: 4h, P2: 1d, P3: 2d, P4: 5d}
"""


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path: Path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(POLICY)
    return load_policy(path)


def lifecycle(rng: random.Random, ticket: str) -> list[TicketEvent]:
    """One ticket's events, in the order they happened (minutes after T0)."""
    at = rng.uniform(0, 3000)
    plan = rng.choice(["default", "business", "unknown-plan"])
    events: list[TicketEvent] = [opened(ticket, at=at, priority=rng.choice(["P1", "P2", "P3", "P4"]), plan=plan)]
    for _ in range(rng.randint(0, 9)):
        at += rng.expovariate(1 / 40)
        kind = rng.choice(["ack", "eta", "wait", "resume", "prio", "resolve", "reopen"])
        if kind == "ack":
            events.append(acknowledged(ticket, at=at))
        elif kind == "eta":
            events.append(eta_reported(ticket, at=at, eta=at + 60))
        elif kind == "wait":
            events.append(status_changed(ticket, at=at, status="waiting_on_customer"))
        elif kind == "resume":
            events.append(status_changed(ticket, at=at, status="in_progress"))
        elif kind == "prio":
            events.append(priority_changed(ticket, at=at, priority=rng.choice(["P1", "P2", "P3", "P4"])))
        elif kind == "resolve":
            events.append(resolved(ticket, at=at))
        else:
            events.append(reopened(ticket, at=at))
    return events


@pytest.mark.parametrize("seed", range(12))
def test_shuffled_lifecycles_keep_the_invariants(policy: Policy, seed: int) -> None:
    rng = random.Random(seed)
    store = DictStateStore()
    engine = SloEngine(policy, store)
    events = [event for number in range(60) for event in lifecycle(rng, f"T{number}")]
    # Mostly in order, some far out of order, some twice.
    events.sort(key=lambda event: event.occurred_at.timestamp() + rng.choice([0, 0, 0, rng.uniform(-3600, 7200)]))
    events += rng.sample(events, 15)
    outputs = []
    now = 0.0
    for event in events:
        now = max(now, (event.occurred_at.timestamp() - clock(0)) / 60) + rng.choice([0, 0, 5, 90])
        outputs += engine.apply(event, clock(now)).emissions
        outputs += engine.advance(clock(now))
    rebuilt = SloEngine(policy, DictStateStore(dict(store.data)))
    assert rebuilt.clock_counts() == engine.clock_counts(), f"seed {seed}"
    assert rebuilt.soonest_deadlines_by_group() == engine.soonest_deadlines_by_group(), f"seed {seed}"
    assert rebuilt.next_due() == engine.next_due(), f"seed {seed}"
    for number in range(60):
        outputs += engine.apply(closed(f"T{number}", at=10_000), clock(10_000)).emissions
    assert engine.clock_counts() == {} and engine.open_clocks() == 0, f"seed {seed}"

    standing: set[str] = set()
    outcomes: dict[tuple[str, str], int] = {}
    started = engine.stats.clocks_started
    for emission in outputs:
        data = emission.model.model_dump(mode="json")
        kind = data.get("type")
        if kind == "slo.breached":
            assert data["breach_id"] not in standing, f"seed {seed}: breach {data} published twice while standing"
            standing.add(data["breach_id"])
        elif kind == "slo.breach_retracted":
            assert data["breach_id"] in standing, f"seed {seed}: retraction of a breach not standing: {data}"
            standing.discard(data["breach_id"])
        elif kind == "slo.completed":
            key = (data["ticket_id"], data["objective"])
            outcomes[key] = outcomes.get(key, 0) + 1
            assert data["elapsed_seconds"] >= 0
    assert sum(outcomes.values()) == started, f"seed {seed}: every clock started has exactly one outcome"
    assert engine.stats.outcomes == started
