"""The business-hours scenario of the open-tickets phase: its tickets really run on the
business calendars, from starts weeks apart, and none of their clocks falls due in a run
(else the phase would measure breaches instead of open tickets sitting in state)."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from ticket_slo.schemas.outputs import SloAtRisk, SloBreached, SloCompleted
from ticket_slo.schemas.policy import load_policy
from ticket_slo.schemas.validation import parse_event
from ticket_slo.streams.bench.lifecycle import ALWAYS_ON_MIX, lifecycle_batch, open_tickets
from ticket_slo.streams.bench.scenarios import ALWAYS_ON, BUSINESS_HOURS, BUSINESS_PLANS
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.core.state_store import DictStateStore

#: A run's first instant, and how long a full run lasts at most (with room to spare).
RUN_START = time.time()
RUN_LENGTH = 2 * 3600.0
#: The calendars BUSINESS_HOURS_POLICY gives its plans (read off the YAML, not from code).
CALENDARS = {"business-de": "office-de", "extended-de": "office-de-by", "business-us": "office-us"}


def _engine(tmp_path: Path, policy: str) -> SloEngine:
    path = tmp_path / "policy.yaml"
    path.write_text(policy)
    return SloEngine(load_policy(path), DictStateStore())


def _opened_at(records: list[tuple[bytes, bytes]]) -> list[float]:
    return [datetime.fromisoformat(json.loads(value)["occurred_at"]).timestamp()
            for _, value in records if b'"ticket.opened"' in value]


def test_business_tickets_are_spread_over_the_plans_and_over_weeks() -> None:
    opened = list(open_tickets(3000, prefix="O-", at=RUN_START, mix=BUSINESS_HOURS.mix))
    plans = Counter(json.loads(value)["plan"] for _, value in opened)
    assert set(plans) == set(BUSINESS_PLANS) and min(plans.values()) > 800, plans
    starts = _opened_at(opened)
    assert max(starts) <= RUN_START + 1 and min(starts) < RUN_START - 7 * 7 * 86400, "spread over 8 weeks"
    batch_starts = _opened_at(lifecycle_batch(3000, prefix="T-", start=RUN_START - 3, concurrent=100,
                                              mix=BUSINESS_HOURS.mix))
    assert max(batch_starts) - min(batch_starts) > 6 * 7 * 86400


def test_a_ticket_keeps_its_events_in_order_when_moved_back() -> None:
    batch = lifecycle_batch(2000, prefix="T-", start=RUN_START, concurrent=50, mix=BUSINESS_HOURS.mix)
    by_ticket: dict[str, list[float]] = {}
    for key, value in batch:
        by_ticket.setdefault(key.decode(), []).append(parse_event(value, key).occurred_at.timestamp())
    assert all(times == sorted(times) and times[-1] - times[0] < 10.0 for times in by_ticket.values())


def test_the_24_7_scenario_keeps_the_shipped_offer() -> None:
    assert ALWAYS_ON.mix == ALWAYS_ON_MIX and ALWAYS_ON.key("large") == "open_large"
    assert BUSINESS_HOURS.key("large") == "open_large_business"
    plans = {json.loads(value)["plan"] for _, value in open_tickets(500, prefix="O-", at=RUN_START)}
    assert plans == {"default"}


def test_business_clocks_run_on_the_calendars_and_none_falls_due_during_a_run(tmp_path: Path) -> None:
    engine = _engine(tmp_path, BUSINESS_HOURS.policy)
    records = [*open_tickets(3000, prefix="O-", at=RUN_START, mix=BUSINESS_HOURS.mix),
               *lifecycle_batch(6000, prefix="T-", start=RUN_START - 6, concurrent=300, mix=BUSINESS_HOURS.mix)]
    outputs = []
    for key, value in records:
        outputs += [emission.model for emission in engine.apply(parse_event(value, key), RUN_START).emissions]
    outputs += [emission.model for emission in engine.advance(RUN_START + RUN_LENGTH)]
    assert not [model for model in outputs if isinstance(model, (SloAtRisk, SloBreached))]
    assert engine.open_clocks() > 3000
    completed = [model for model in outputs if isinstance(model, SloCompleted)]
    assert completed and all(model.met for model in completed)
    assert {model.calendar for model in completed} == set(CALENDARS.values())
    assert all(model.calendar == CALENDARS[model.plan] for model in completed)
    # working time, not wall time: a ticket answered over a night or a weekend counted less
    assert any(model.elapsed_seconds < (model.stopped_at - model.started_at).total_seconds()
               for model in completed)
