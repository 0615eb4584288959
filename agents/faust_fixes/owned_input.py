"""A Faust consumer that never fetches the input the tracker reads itself.

The group consumer must still be assigned ``ticket-events``: the assignment gives each
worker the changelog partitions that go with its input partitions, and the group's
committed offsets (which lag dashboards and ``kafka-consumer-groups`` read) can only be
committed by a member that owns the partition. But the records are read by the tracker's
own consumer, from the position stored with the state, so Faust must never fetch them
(its conductor would acknowledge records no agent consumes, and its commits would then
move the group's offsets past input nobody applied). Faust resumes every non-changelog
partition after each recovery (``Recovery._resume_streams``) and makes every assigned
partition active on assignment; this consumer leaves the app's ``owned_input_topics`` out
of both.
"""

from __future__ import annotations

from typing import Any, Iterable, Set

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

__all__ = ["OwnedInputConsumer", "TicketSloTransport"]


class OwnedInputConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, with the tracker's input partitions kept paused."""

    def _owned_topics(self) -> frozenset[str]:
        topics: frozenset[str] = getattr(self.app, "owned_input_topics", frozenset())
        return topics

    def _without_owned(self, tps: Iterable[TP]) -> set[TP]:
        owned = self._owned_topics()
        return {tp for tp in tps if tp.topic not in owned}

    def _set_active_tps(self, tps: Set[TP]) -> Set[TP]:
        active: Set[TP] = super()._set_active_tps(self._without_owned(tps))
        return active

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        super().resume_partitions(self._without_owned(tps))

    def on_buffer_drop(self, tp: TP) -> None:
        if tp.topic not in self._owned_topics():
            super().on_buffer_drop(tp)


class TicketSloTransport(faust_aiokafka.Transport):
    """The aiokafka transport with the consumer above."""

    Consumer: Any = OwnedInputConsumer
