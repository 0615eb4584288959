"""Every read of a private faust-streaming attribute, in one module, pinned to one version.

faust-streaming has no public accessor for what these read. They were written against
``PINNED_FAUST_VERSION`` (the version pyproject.toml pins); a private attribute can be
renamed or change meaning in any release, so another version gets a warning when the app
is created, and ``tests/unit/test_faust_internals.py`` fails until each read here (and
each override of a private method in ``ticket_slo.agents.faust_fixes``) has been checked
against it.
"""

from __future__ import annotations

import logging
from typing import Any, Final, Iterable, Mapping

import faust
from faust.types import TP

__all__ = ["PINNED_FAUST_VERSION", "version_mismatch", "warn_if_not_pinned", "commit_group_offsets", "pause_fetching",
           "install_recovery", "start_table_recovery"]

log = logging.getLogger(__name__)

PINNED_FAUST_VERSION: Final = "0.15.3"


def version_mismatch(version: str = faust.__version__) -> str | None:
    """A one-line warning when ``version`` is not the pinned one, else ``None``."""
    if version == PINNED_FAUST_VERSION:
        return None
    return (f"faust-streaming {version} is installed, but ticket-slo's workarounds read its private "
            f"attributes as of {PINNED_FAUST_VERSION}: commits, input pausing and state recovery may misbehave")


def warn_if_not_pinned() -> None:
    """Log the mismatch, if any (called once when the app is created)."""
    message = version_mismatch()
    if message is not None:
        log.warning("%s", message)


async def commit_group_offsets(consumer: Any, offsets: Mapping[TP, int]) -> None:
    """Commit ``offsets`` for the group through Faust's own aiokafka consumer.

    Only a member that owns a partition can commit it, and that member is Faust's
    consumer, which runs aiokafka in its own thread and event loop
    (``Consumer._thread``). ``Consumer._commit`` would do it too, but it crashes the
    whole worker on any commit error; a commit here is for lag monitoring only, so its
    errors are the caller's to log. Raises what aiokafka raises.
    """
    from aiokafka.structs import OffsetAndMetadata, TopicPartition

    thread = consumer._thread
    aiokafka_consumer = thread._ensure_consumer()
    wanted = {TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(offset, "") for tp, offset in offsets.items()}

    async def commit() -> None:
        await aiokafka_consumer.commit(wanted)

    await thread.call_thread(commit)


async def pause_fetching(consumer: Any, tps: Iterable[TP]) -> None:
    """Stop aiokafka itself from fetching ``tps`` in Faust's consumer.

    Faust's own ``pause_partitions`` only keeps records from being handed to its streams:
    the aiokafka consumer underneath (``Consumer._thread``, in its own thread and event
    loop) still prefetches every assigned partition, and its long-polling fetches hold up
    the other requests on the same connection (Faust's recovery waited 1-1.5 s behind them
    at each assignment). aiokafka forgets pauses on every assignment: call this after each.
    """
    from aiokafka.structs import TopicPartition

    thread = consumer._thread
    aiokafka_consumer = thread._ensure_consumer()
    wanted = {TopicPartition(tp.topic, tp.partition) for tp in tps}

    async def pause() -> None:
        assigned = aiokafka_consumer.assignment()
        aiokafka_consumer.pause(*(tp for tp in wanted if tp in assigned))

    await thread.call_thread(pause)


def install_recovery(manager: Any, recovery_class: type) -> None:
    """Give a table manager ``recovery_class`` as its recovery service, before anything asks
    for it (``TableManager.recovery`` builds a ``Recovery`` on first use, in ``_recovery``)."""
    if manager._recovery is None:
        manager._recovery = recovery_class(manager.app, manager, beacon=manager.beacon, loop=manager.loop)


async def start_table_recovery(manager: Any) -> None:
    """What ``TableManager.on_start`` does after its one-second sleep: subscribe the
    registered tables' changelogs and start the recovery service."""
    await manager._update_channels()
    await manager.recovery.start()
