"""A partition's commit catches up at once after a gap overlaps acknowledged offsets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import faust
from faust.types import TP

from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.schemas.policy import load_policy
from ticket_slo.agents.app import create_app
from ticket_slo.agents.faust_fixes.offset_commits import DeduplicatingConsumer
from ticket_slo.streams.kafka.settings import Settings

TP0 = TP("ticket-events", 0)


def _restart_bookkeeping(consumer: Any) -> None:
    """What a restart with a backlog left in Faust's books (seen in a bench run).

    Committed 100. Records 100..131 were fetched, processed and acknowledged before the
    seek; after the seek the next record delivered was 132 with the read offset back at
    100, so Faust recorded 101..132 as a gap; then 132..140 were acknowledged.
    """
    consumer._committed_offset[TP0] = 100
    for offset in range(100, 132):
        consumer._acked[TP0].append(offset)
        consumer._acked_index[TP0].add(offset)
    asyncio.run(consumer._add_gap(TP0, 101, 132))
    for offset in range(132, 141):
        consumer._acked[TP0].append(offset)
        consumer._acked_index[TP0].add(offset)


def _commits_until(consumer: Any, end: int, limit: int = 100) -> list[int]:
    """The offsets committed, one commit interval after another, until ``end`` is reached."""
    commits: list[int] = []
    while len(commits) < limit:
        new = consumer._new_offset(TP0)
        if new is None:
            break
        consumer._committed_offset[TP0] = new
        commits.append(new)
        if new >= end:
            break
    return commits


def _app_consumer(tmp_path: Path) -> Any:
    settings = Settings.from_env({"TICKET_SLO_DATA_DIR": str(tmp_path)})
    policy = load_policy()
    return create_app(settings, policy, SloMetrics(policy.all_targets())).consumer


def test_the_app_commits_everything_acknowledged_in_one_go(tmp_path: Path) -> None:
    consumer = _app_consumer(tmp_path)
    assert isinstance(consumer, DeduplicatingConsumer)
    _restart_bookkeeping(consumer)
    assert _commits_until(consumer, 141) == [141]


def test_the_stock_consumer_crawls_one_offset_per_commit() -> None:
    """The behaviour the subclass exists for: if Faust fixes it, this test says so."""
    consumer: Any = faust.App("stock", broker="kafka://127.0.0.1:1").consumer
    assert not isinstance(consumer, DeduplicatingConsumer)
    _restart_bookkeeping(consumer)
    commits = _commits_until(consumer, 141)
    assert len(commits) > 20
    assert commits[:3] == [102, 103, 104]


def test_a_real_gap_still_holds_the_commit(tmp_path: Path) -> None:
    """Offsets 105 and 106 never acknowledged and not a gap: nothing past them is committed."""
    consumer = _app_consumer(tmp_path)
    consumer._committed_offset[TP0] = 100
    for offset in [100, 101, 102, 103, 104, 104, 107, 108]:
        consumer._acked[TP0].append(offset)
    assert _commits_until(consumer, 109) == [105]
    assert consumer._new_offset(TP0) is None
