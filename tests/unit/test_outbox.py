"""State writes carry the outputs of uncommitted input, and a rebuild publishes those again."""

from __future__ import annotations

from typing import Any

from ticket_slo.agents.partition_engines import CLOCK, EVENTS, PartitionEngines, TableStore
from ticket_slo.schemas.policy import load_policy
from ticket_slo.streams.core.emission import Emission
from ticket_slo.streams.core.engine import SloEngine
from tests.unit.script import T0_EPOCH, acknowledged, opened


class Table(dict[str, Any]):
    """What the store uses of a Faust table: a mapping whose ``data`` is itself."""

    @property
    def data(self) -> "Table":
        return self


def _engines(table: Table, committed: dict[tuple[str, int], int]) -> PartitionEngines:
    policy = load_policy()
    engines = PartitionEngines(table, lambda store: SloEngine(policy, store),
                               lambda source, partition: committed.get((source, partition)))
    engines.on_assignment({0})
    return engines


def _emit(engine: SloEngine, event: Any, now: float) -> list[tuple[Emission, str]]:
    return [(e, e.model.model_dump_json()) for e in engine.apply(event, now).emissions]


def test_a_state_write_carries_its_outputs_and_writes_are_staged_until_commit() -> None:
    table, committed = Table(), {}
    engines = _engines(table, committed)
    engine, store = engines.engine(0), engines.store(0)
    opened_out = _emit(engine, opened("t1", at=0), T0_EPOCH)
    assert "t1" not in table and store.get("t1") is not None  # staged, readable by the engine
    store.commit(EVENTS, 10, opened_out)
    assert table["t1"][0] == 0 and table["t1"][2] == []  # no output for an opening

    outputs = _emit(engine, acknowledged("t1", at=5), T0_EPOCH + 300)
    store.commit(EVENTS, 11, outputs)
    [[source, offset, produced]] = table["t1"][2]
    assert (source, offset) == (EVENTS, 11)
    assert [kind for kind, _ in produced] == ["outcome"]
    assert '"met":true' in produced[0][1]


def test_committed_entries_are_pruned_at_the_next_write() -> None:
    table, committed = Table(), {}
    engines = _engines(table, committed)
    engine, store = engines.engine(0), engines.store(0)
    store.commit(EVENTS, 1, _emit(engine, opened("t1", at=0), T0_EPOCH))
    store.commit(CLOCK, 7, [(e, e.model.model_dump_json()) for e in engine.advance(T0_EPOCH + 16 * 60)])
    assert [entry[:2] for entry in table["t1"][2]] == [[CLOCK, 7]]  # the 50% warning
    committed[(CLOCK, 0)] = 8  # the tick at offset 7 is committed: its output went out
    store.commit(EVENTS, 2, _emit(engine, acknowledged("t1", at=20), T0_EPOCH + 20 * 60))
    assert [entry[:2] for entry in table["t1"][2]] == [[EVENTS, 2]]


def test_rebuild_publishes_uncommitted_outputs_again_and_only_those() -> None:
    table, committed = Table(), {}
    engines = _engines(table, committed)
    engine, store = engines.engine(0), engines.store(0)
    store.commit(EVENTS, 1, _emit(engine, opened("a", at=0), T0_EPOCH))
    store.commit(EVENTS, 2, _emit(engine, opened("b", at=0), T0_EPOCH))
    store.commit(EVENTS, 3, _emit(engine, acknowledged("a", at=5), T0_EPOCH + 300))
    store.commit(EVENTS, 4, _emit(engine, acknowledged("b", at=6), T0_EPOCH + 360))

    committed[(EVENTS, 0)] = 4  # offsets 0-3 committed: a's outcome is safe, b's may be lost
    restarted = _engines(table, committed)
    restarted.engine(0)
    redelivered = restarted.take_redeliveries()
    assert [(kind, key) for kind, key, _ in redelivered] == [("outcome", "b")]
    assert '"ticket_id":"b"' in redelivered[0][2]
    assert restarted.take_redeliveries() == []


def test_deletes_are_staged_too() -> None:
    table, committed = Table(), {}
    engines = _engines(table, committed)
    store = engines.store(0)
    store.put("x", {"v": 1})
    store.commit(EVENTS, 1, [])
    store.delete("x")
    assert store.get("x") is None and "x" in table
    store.commit(EVENTS, 2, [])
    assert "x" not in table
