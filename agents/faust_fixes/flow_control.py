"""Stream buffers that are cleared only when flow really resumes after a suspension.

Faust (faust-streaming 0.15) feeds each agent through a queue that the app's flow
control empties on every ``resume()``. After a rebalance its recovery resumes flow
once to read the changelogs, then resumes the input partitions, seeks them to the
committed offsets and calls ``resume()`` a second time. The fetcher is running by
then, so input records fetched between the two calls sit in the agent's queue and
are thrown away by the second call. Faust has already recorded them as read, so it
never fetches them again: the events are lost, and as they are never acknowledged
the partition's committed offset can stop moving (reported upstream as
faust-streaming issue #596).

In this product a lost acknowledgement means a false breach, and a lost last event of
a backlog keeps the partition catching up forever, so no timer of it fires. The fix
is to clear the queues only when flow goes from suspended to active, which is what
clearing is for: on a rebalance Faust suspends flow (and clears) before anything of
the new assignment is fetched, so everything queued while flow is active belongs to
the current assignment. A record fetched before the seek may then be processed twice,
which the engine absorbs (event ids are de-duplicated, outputs have stable ids).
"""

from __future__ import annotations

from mode.utils.queues import FlowControlEvent

__all__ = ["ResumeOnceFlowControl"]


class ResumeOnceFlowControl(FlowControlEvent):
    """A ``FlowControlEvent`` whose ``resume()`` while already active changes nothing."""

    def resume(self) -> None:
        if self.is_active():
            return  # already flowing: the queues hold records of the current assignment
        super().resume()
