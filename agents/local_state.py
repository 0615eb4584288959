"""Writing the owned partitions' local snapshots when the worker stops cleanly.

A worker restarted on the same machine then reads its state from these files and only the
changelog written after them (``ticket_slo.streams.kafka.local_snapshots``), instead of
every changelog record. Written only after the tracker's clean stop, when every state
write is on the broker; a failed write is logged and leaves the previous file, which the
next reader checks against the changelog anyway.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Awaitable, Callable, Iterable, Mapping

from ticket_slo.agents.tracker import PartitionState
from ticket_slo.streams.kafka.local_snapshots import ChangelogAnchor, write_snapshot

__all__ = ["save_snapshots", "EndOffsets"]

log = logging.getLogger(__name__)

#: The changelog's end offsets of these partitions, asked of the broker.
EndOffsets = Callable[[Iterable[int]], Awaitable[Mapping[int, int]]]


async def save_snapshots(states: list[PartitionState], changelog: str, directory: Path,
                         end_offsets: EndOffsets) -> list[Path]:
    """One snapshot per partition of ``states``; return the files written."""
    if not states:
        return []
    started = time.monotonic()
    unknown = [state.partition for state in states if not isinstance(state.last, ChangelogAnchor)]
    ends = await end_offsets(unknown) if unknown else {}
    written: list[Path] = []
    for state in states:
        if isinstance(state.last, ChangelogAnchor):
            anchor = state.last
        else:
            # Every write is on the broker and this worker was the partition's only writer:
            # its last write is the changelog's last record.
            key, value = state.last
            anchor = ChangelogAnchor(ends[state.partition] - 1, key, value)
        try:
            written.append(write_snapshot(directory, changelog, state.partition, anchor, state.position,
                                          state.records, state.index))
        except OSError as exc:
            log.warning("partition %d: no local snapshot written (%s); the next start reads the changelog",
                        state.partition, exc)
    tickets = sum(len(state.records) for state in states)
    log.info("local snapshots of partitions %s written to %s: %d tickets in %.2f s",
             [state.partition for state in states], directory, tickets, time.monotonic() - started)
    return written
