"""Faust's consumer keeps the tracker's input assigned but never hands it to a stream, and the
tickets table reads its partitions back itself."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from faust.types import TP

from ticket_slo.agents.app import create_app
from ticket_slo.agents.faust_fixes.owned_input import OwnedInputConsumer
from ticket_slo.agents.faust_fixes.table_manager import OwnChangelogRecovery
from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.agents.ticket_store import TicketStore
from ticket_slo.schemas.policy import load_policy
from ticket_slo.streams.core.changelog_codec import encode_record
from ticket_slo.streams.kafka.changelog_reader import ChangelogReadError, LoadedPartition, _decode
from ticket_slo.streams.kafka.settings import Settings

EVENTS = [TP("ticket-events", 0), TP("ticket-events", 1)]
CHANGELOG = [TP("ticket-slo-tickets-changelog", 0), TP("ticket-slo-tickets-changelog", 1)]


def _app(tmp_path: Path) -> Any:
    settings = Settings.from_env({"TICKET_SLO_DATA_DIR": str(tmp_path)})
    policy = load_policy()
    return create_app(settings, policy, SloMetrics(policy.all_targets()))


def test_the_input_never_becomes_active_in_fausts_consumer(tmp_path: Path) -> None:
    consumer = _app(tmp_path).consumer
    assert isinstance(consumer, OwnedInputConsumer)
    assert consumer._set_active_tps(set(EVENTS + CHANGELOG)) == set(CHANGELOG), "assignment: input left out"
    consumer.pause_partitions(CHANGELOG)
    consumer.resume_partitions(EVENTS + CHANGELOG)  # what Faust's recovery does after each rebalance
    assert consumer._get_active_partitions() == set(CHANGELOG)


def test_the_store_reports_what_it_read_as_persisted(tmp_path: Path) -> None:
    app = _app(tmp_path)
    store = app.tables["tickets"].data
    assert isinstance(store, TicketStore)
    assert store.persisted_offset(CHANGELOG[0]) is None, "nothing read yet: Faust reads from the start"
    store.partitions[0] = LoadedPartition(0, {"T1": {"v": 1}}, position=41, end_offset=7, read=7, seconds=0.0)
    store.partitions[1] = LoadedPartition(1, {}, position=None, end_offset=0, read=0, seconds=0.0)
    assert store.persisted_offset(CHANGELOG[0]) == 6, "the last offset read: Faust's recovery reads nothing more"
    assert store.persisted_offset(CHANGELOG[1]) is None, "an empty changelog partition"
    assert len(store) == 1


def test_a_changelog_value_that_is_not_a_record_names_its_place() -> None:
    with pytest.raises(ChangelogReadError, match=r"t-changelog partition 3: the value of key b'T9' is not a ticket record"):
        _decode("t-changelog", 3, {b"T9": b"[1, 2"})
    assert _decode("t", 0, {b"A": b'{"v":1}', b"B": None, b"C": b'[0, {"v":2}, []]'}) == {
        "A": {"v": 1}, "B": None, "C": {"v": 2}}, "a tombstone stays one: it deletes a snapshot's ticket"
    stored = encode_record({"v": 1, "ph": "d", "s": ","})
    assert _decode("t", 0, {b"D": stored}) == {"D": stored}, "the current form stays as read, for later"


def test_a_partition_kept_through_a_rebalance_is_not_read_again(tmp_path: Path) -> None:
    app = _app(tmp_path)
    store = app.tables["tickets"].data
    reads: list[list[int]] = []

    async def read(topic: str, partitions: Any) -> dict[int, LoadedPartition]:
        reads.append(sorted(partitions))
        return {p: LoadedPartition(p, {}, None, 3, 3, 0.0) for p in partitions}

    store.read_partitions = read
    live = {"T1": {"v": 1}}
    store.partitions[0] = LoadedPartition(0, live, position=41, end_offset=7, read=7, seconds=0.0)
    asyncio.run(store.on_rebalance(set(CHANGELOG), set(), {CHANGELOG[1]}))
    assert reads == [[1]], "only the newly owned partition is read"
    assert store.partitions[0].records is live, "the kept partition's state is the live one"


def test_fausts_recovery_leaves_the_tickets_table_out(tmp_path: Path) -> None:
    """Else it reads the tracker's own new writes through Faust's per-record path (found in
    the bench: 7 s of reading during a drain after a restart) and could apply them over
    the live state."""
    app = _app(tmp_path)
    recovery = app.tables.recovery
    assert isinstance(recovery, OwnChangelogRecovery)
    tickets = app.tables["tickets"]
    other = app.Table("other", partitions=2)
    for tp in CHANGELOG:
        recovery.add_active(tickets, tp)
        recovery.add_standby(tickets, tp)
    recovery.add_active(other, TP("ticket-slo-other-changelog", 0))
    assert recovery.active_tps == {TP("ticket-slo-other-changelog", 0)}, "the other table is still recovered"
    assert not recovery.standby_tps
