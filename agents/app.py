"""The Faust application factory.

One function builds the app from ``Settings`` so that the worker, the tests and the
benchmark all run the same topology, each against its own broker and topic prefix.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Sequence

import faust

from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.agents.progress import ProgressLog
from ticket_slo.agents.topology import register_tracker
from ticket_slo.schemas.policy import Policy
from ticket_slo.agents.credentials import faust_credentials
from ticket_slo.agents.faust_fixes.internals import warn_if_not_pinned
from ticket_slo.agents.faust_fixes.owned_input import TicketSloTransport
from ticket_slo.agents.faust_fixes.table_manager import PromptTableManager
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["create_app", "TicketSloApp"]

#: Seconds between two lines of the progress log.
PROGRESS_INTERVAL = 10.0


class TicketSloApp(faust.App):
    """The Faust app, whose consumer leaves the input to the tracker."""

    #: Called first when the worker stops, while Faust's consumer still owns the partitions:
    #: the tracker's last state writes and commits go out before the group hands them over.
    stop_first: Sequence[Callable[[], Awaitable[None]]] = ()

    async def on_stop(self) -> None:
        try:
            for stop in self.stop_first:
                await stop()
        finally:
            await super().on_stop()

    def _new_transport(self) -> TicketSloTransport:
        # See ticket_slo.agents.faust_fixes.owned_input: the input is read by the tracker, never by Faust.
        return TicketSloTransport(self.conf.broker_consumer, self)


def create_app(settings: Settings, policy: Policy, metrics: SloMetrics) -> faust.App:
    """Build the Faust app and register the tracker on it."""
    warn_if_not_pinned()
    app = TicketSloApp(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_list],
        # TLS and SASL from KAFKA_SECURITY_PROTOCOL and friends (None: plaintext).
        broker_credentials=faust_credentials(settings),
        # Keys and values are bytes: the tracker validates input with pydantic, not Faust codecs.
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        # Changelogs and internal topics must be co-partitioned with ticket-events.
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        # With the memory store, standby replicas leak into table iteration.
        table_standby_replicas=0,
        # exactly_once has open duplicate and crash bugs in faust-streaming:
        # at-least-once with deterministic output ids is the safer promise.
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        # A crashed worker's partitions (and their clocks) move after this long.
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
        # Metrics are served by prometheus-client, not by Faust's web server.
        web_enabled=False,
        datadir=str(settings.data_dir),
        # Tables are declared before the worker starts: no second of waiting for late ones.
        TableManager=PromptTableManager,
    )
    progress = ProgressLog()
    app.timer(PROGRESS_INTERVAL, name="progress-log")(progress.log_changes)
    register_tracker(app, settings, policy, progress, metrics)  # sets app.stop_first
    return app
