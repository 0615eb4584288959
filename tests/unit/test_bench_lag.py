"""The benchmark's lag watcher reads a group's committed offsets, also before the group exists."""

from __future__ import annotations

from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import CoordinatorNotAvailableError
from kafka.structs import OffsetAndMetadata

from ticket_slo.streams.bench import kafka_io
from ticket_slo.streams.kafka.settings import Settings


class FakeAdmin:
    """Answers ``list_group_offsets`` from a table, or refuses as a broker without a coordinator yet."""

    def __init__(self, offsets: dict[TopicPartition, OffsetAndMetadata] | None) -> None:
        self.offsets = offsets

    def list_group_offsets(self, wanted: dict[str, list[TopicPartition]]) -> dict[str, Any]:
        if self.offsets is None:
            raise CoordinatorNotAvailableError("FindCoordinatorResponse error for GROUP/g")
        return {group: self.offsets for group in wanted}


def watcher(monkeypatch: pytest.MonkeyPatch, admin: FakeAdmin) -> kafka_io.LagWatcher:
    monkeypatch.setattr(kafka_io, "admin_client", lambda settings, client_id: admin)
    return kafka_io.LagWatcher(Settings.from_env({}), "g", "t", 3)


def test_a_group_with_no_coordinator_yet_has_committed_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert watcher(monkeypatch, FakeAdmin(None)).committed() == {TopicPartition("t", p): 0 for p in range(3)}


def test_committed_offsets_are_read_per_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    offsets = {TopicPartition("t", 0): OffsetAndMetadata(7, "", -1),
               TopicPartition("t", 2): OffsetAndMetadata(-1, "", -1)}
    assert watcher(monkeypatch, FakeAdmin(offsets)).committed() == {
        TopicPartition("t", 0): 7, TopicPartition("t", 1): 0, TopicPartition("t", 2): 0}
