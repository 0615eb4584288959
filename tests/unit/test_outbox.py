"""State writes carry the outputs of uncommitted input, and a rebuild publishes those again."""

from __future__ import annotations

from typing import Any

from ticket_slo.agents.partition_engines import PartitionEngines
from ticket_slo.agents.table_values import Source
from ticket_slo.schemas.policy import load_policy
from ticket_slo.streams.core.emission import Emission
from ticket_slo.streams.core.engine import SloEngine
from tests.unit.script import T0_EPOCH, acknowledged, opened


class Table(dict[str, Any]):
    """What the store uses of a Faust table: a mapping whose ``data`` is itself."""

    @property
    def data(self) -> "Table":
        return self


def _engines(table: Table, committed: dict[tuple[Source, int], int]) -> PartitionEngines:
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
    store.commit(Source.EVENTS, 10, opened_out)
    assert table["t1"][0] == 0 and table["t1"][2] == []  # no output for an opening

    outputs = _emit(engine, acknowledged("t1", at=5), T0_EPOCH + 300)
    store.commit(Source.EVENTS, 11, outputs)
    [[source, offset, produced]] = table["t1"][2]
    assert (source, offset) == (Source.EVENTS, 11)
    assert [kind for kind, _ in produced] == ["outcome"]
    assert '"met":true' in produced[0][1]


def test_committed_entries_are_pruned_at_the_next_write() -> None:
    table, committed = Table(), {}
    engines = _engines(table, committed)
    engine, store = engines.engine(0), engines.store(0)
    store.commit(Source.EVENTS, 1, _emit(engine, opened("t1", at=0), T0_EPOCH))
    store.commit(Source.CLOCK, 7, [(e, e.model.model_dump_json()) for e in engine.advance(T0_EPOCH + 16 * 60)])
    assert [entry[:2] for entry in table["t1"][2]] == [[Source.CLOCK, 7]]  # the 50% warning
    committed[(Source.CLOCK, 0)] = 8  # the tick at offset 7 is committed: its output went out
    store.commit(Source.EVENTS, 2, _emit(engine, acknowledged("t1", at=20), T0_EPOCH + 20 * 60))
    assert [entry[:2] for entry in table["t1"][2]] == [[Source.EVENTS, 2]]


def test_rebuild_publishes_uncommitted_outputs_again_and_only_those() -> None:
    table, committed = Table(), {}
    engines = _engines(table, committed)
    engine, store = engines.engine(0), engines.store(0)
    store.commit(Source.EVENTS, 1, _emit(engine, opened("a", at=0), T0_EPOCH))
    store.commit(Source.EVENTS, 2, _emit(engine, opened("b", at=0), T0_EPOCH))
    store.commit(Source.EVENTS, 3, _emit(engine, acknowledged("a", at=5), T0_EPOCH + 300))
    store.commit(Source.EVENTS, 4, _emit(engine, acknowledged("b", at=6), T0_EPOCH + 360))

    committed[(Source.EVENTS, 0)] = 4  # offsets 0-3 committed: a's outcome is safe, b's may be lost
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
    store.commit(Source.EVENTS, 1, [])
    store.delete("x")
    assert store.get("x") is None and "x" in table
    store.commit(Source.EVENTS, 2, [])
    assert "x" not in table


def test_the_stored_value_keeps_the_changelog_form_of_before() -> None:
    """``[partition, record, [[source code, offset, [[kind, json], ...]], ...]]``, as changelogs hold it."""
    import json

    table: Table = Table()
    engines = _engines(table, {})
    engine, store = engines.engine(0), engines.store(0)
    store.commit(Source.EVENTS, 1, _emit(engine, opened("t1", at=0), T0_EPOCH))
    store.commit(Source.EVENTS, 2, _emit(engine, acknowledged("t1", at=5), T0_EPOCH + 300))
    text = json.dumps(table["t1"])
    assert text.startswith('[0, {"v": 1, "ph": "d", "s": ')
    assert text.endswith('}, [["e", 2, [["outcome", "{\\"type\\":\\"slo.completed\\",\\"ticket_id\\":\\"t1\\",'
                         '\\"objective\\":\\"first_response\\",\\"priority\\":\\"P1\\",\\"plan\\":\\"default\\",'
                         '\\"customer_id\\":\\"c1\\",\\"started_at\\":\\"2024-05-01T00:00:00Z\\",'
                         '\\"stopped_at\\":\\"2024-05-01T00:05:00Z\\",\\"elapsed_seconds\\":300.0,'
                         '\\"target_seconds\\":1800.0,\\"met\\":true}"]]]]]')


def test_values_written_before_load_with_their_outboxes() -> None:
    """Hand-written values: one with a clock-tick outbox entry, one from before outboxes existed."""
    import json

    table: Table = Table()
    table["a"] = json.loads('[0, {"v": 1, "ph": "r", "s": ",00,", "d": 1714522500000000, "p": "P1", "pl": "default", '
                            '"c": "c1", "st": 1714521600000000, "t": 1800000000, "w": 1}, '
                            '[["c", 7, [["warning", "{\\"type\\":\\"slo.at_risk\\"}"]]]]]')
    table["b"] = json.loads('[0, {"v": 1, "ph": "d", "s": ",01,"}]')
    table["x"] = json.loads('[1, {"v": 1, "ph": "d", "s": ",02,"}, []]')
    engines = _engines(table, {(Source.CLOCK, 0): 7})
    assert engines.engine(0).open_clocks() == 1
    assert engines.take_redeliveries() == [("warning", "a", '{"type":"slo.at_risk"}')]
    assert engines.store(0).get("b") == {"v": 1, "ph": "d", "s": ",01,"}
    assert "x" not in table  # partition 1 is not owned
