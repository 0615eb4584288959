"""The Faust application factory.

One function builds the app from ``Settings`` so that the worker, the tests and the
benchmark all run the same topology, each against its own broker and topic prefix.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Sequence

import faust
from faust.web.base import BlueprintManager

from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.agents.progress import ProgressLog
from ticket_slo.agents.topology import register_tracker
from ticket_slo.agents.web import StatusWeb, access_book, own_url
from ticket_slo.schemas.policy import Policy
from ticket_slo.agents.credentials import faust_credentials
from ticket_slo.agents.faust_fixes.internals import warn_if_not_pinned
from ticket_slo.agents.faust_fixes.owned_input import TicketSloTransport
from ticket_slo.agents.faust_fixes.table_manager import PromptTableManager
from ticket_slo.streams.kafka.settings import Settings
from ticket_slo.streams.status.access import AccessBook

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

    def _new_web(self) -> Any:
        # Only the status routes: Faust's built-in views (/router, /table/… which would show
        # the tickets table to anyone, statistics) are not served.
        web = super()._new_web()
        web.blueprints = BlueprintManager([])
        return web

    def _new_transport(self) -> TicketSloTransport:
        # See ticket_slo.agents.faust_fixes.owned_input: the input is read by the tracker, never by Faust.
        return TicketSloTransport(self.conf.broker_consumer, self)


def create_app(settings: Settings, policy: Policy, metrics: SloMetrics, access: AccessBook | None = None) -> faust.App:
    """Build the Faust app and register the tracker (and, if enabled, the status API) on it.

    ``access``: the status API's viewers (read from the tokens file when not given)."""
    warn_if_not_pinned()
    status_web = None
    if settings.web_enabled:
        status_web = StatusWeb(access if access is not None else access_book(settings), metrics)
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
        # The status API (ticket_slo.agents.web) on Faust's web server; metrics are served
        # by prometheus-client on their own port.
        web_enabled=settings.web_enabled,
        web_bind=settings.web_addr,
        web_port=settings.web_port,
        canonical_url=own_url(settings),
        web_in_thread=False,
        web_router_enabled=False,
        web_tables_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_metrics_enabled=False,
        web_application_options={"middlewares": [status_web.middleware]} if status_web is not None else {},
        datadir=str(settings.data_dir),
        # Tables are declared before the worker starts: no second of waiting for late ones.
        TableManager=PromptTableManager,
    )
    progress = ProgressLog()
    app.timer(PROGRESS_INTERVAL, name="progress-log")(progress.log_changes)
    register_tracker(app, settings, policy, progress, metrics, status_web)  # sets app.stop_first
    return app
