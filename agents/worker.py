"""Running the Faust worker in this process."""

from __future__ import annotations

import gc
import logging
import socket
from dataclasses import replace

import faust

from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.schemas.policy import Policy
from ticket_slo.agents.app import create_app
from ticket_slo.agents.web import access_book, own_url
from ticket_slo.streams.status.access import AccessBook
from ticket_slo.streams.kafka.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["run_worker", "prepare_data_dir", "MetricsPortError", "DataDirError", "YOUNG_GENERATION_THRESHOLD"]

#: Allocations between two collections of the youngest generation (Python's default: 700).
YOUNG_GENERATION_THRESHOLD = 50_000


class MetricsPortError(TicketSloError):
    """The metrics endpoint cannot bind; the message names the address."""


class DataDirError(TicketSloError):
    """The worker's data directory cannot be created or is not a directory."""


def prepare_data_dir(settings: Settings) -> None:
    """Create the data directory, before anything else starts, so that a bad one fails at once."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataDirError(f"TICKET_SLO_DATA_DIR={str(settings.data_dir)!r} is a file, not a directory") from None
    except OSError as exc:
        raise DataDirError(f"cannot create TICKET_SLO_DATA_DIR={str(settings.data_dir)!r}: "
                           f"{exc.strerror or exc}") from None


def settle_web_port(settings: Settings) -> Settings:
    """The settings with the status API's port settled before the app (and its URL, which the
    other workers are told) is made: a port of 0 becomes a free one; the default port taken
    (a second worker on this machine) becomes a free one with a warning; a port given in
    TICKET_SLO_WEB_PORT and taken stops the worker with one line, not Faust's traceback later."""
    family = socket.AF_INET6 if ":" in settings.web_addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.web_addr, settings.web_port))
            if settings.web_port != 0:
                return settings
        except OSError as exc:
            if settings.web_port_chosen or settings.web_url:
                raise MetricsPortError(
                    f"cannot serve the status API on {settings.web_addr}:{settings.web_port} "
                    f"(TICKET_SLO_WEB_ADDR/PORT): {exc.strerror or exc}") from exc
            probe.bind((settings.web_addr, 0))
            log.warning("status API: port %d is taken (another worker on this machine?): serving on port %d "
                        "instead; set TICKET_SLO_WEB_PORT to choose one", settings.web_port,
                        probe.getsockname()[1])
        return replace(settings, web_port=int(probe.getsockname()[1]))


def run_worker(settings: Settings, policy: Policy, access: AccessBook | None = None) -> int:
    """Serve metrics, start the worker and block until it is stopped (SIGINT or SIGTERM)."""
    prepare_data_dir(settings)
    # A bad tokens file, or an exposed address without one, stops the worker before it starts.
    if access is None and settings.web_enabled:
        access = access_book(settings)
    # Each event allocates a few dozen short-lived objects (models, records, outputs); at the
    # default threshold of 700 the youngest generation is collected every few events.
    # Measured on the engine's batch loop: 50,700 -> 53,100 events/s.
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])
    metrics = SloMetrics(policy.all_targets(), warn_thresholds=policy.all_warn_thresholds(), plans=policy.plans,
                         objectives=policy.objective_names())
    try:
        metrics.serve(settings.metrics_addr, settings.metrics_port)
    except OSError as exc:
        raise MetricsPortError(
            f"cannot serve metrics on {settings.metrics_addr}:{settings.metrics_port} "
            f"(TICKET_SLO_METRICS_ADDR/PORT): {exc.strerror or exc}") from exc
    if settings.web_enabled:
        settings = settle_web_port(settings)
    app = create_app(settings, policy, metrics, access)
    if settings.web_enabled:
        log.info("status API on %s:%d (reached by the other workers at %s)%s", settings.web_addr, settings.web_port,
                 own_url(settings), "" if access is None or not access.open_access else ", without tokens (loopback only)")
    worker = faust.Worker(app, loglevel=settings.log_level)
    worker.execute_from_commandline()
    return 0
