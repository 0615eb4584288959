"""Running the Faust worker in this process."""

from __future__ import annotations

import faust

from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.schemas.policy import Policy
from ticket_slo.agents.app import create_app
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["run_worker", "prepare_data_dir", "MetricsPortError", "DataDirError"]


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


def run_worker(settings: Settings, policy: Policy) -> int:
    """Serve metrics, start the worker and block until it is stopped (SIGINT or SIGTERM)."""
    prepare_data_dir(settings)
    metrics = SloMetrics(policy.all_targets(), warn_thresholds=policy.all_warn_thresholds())
    try:
        metrics.serve(settings.metrics_addr, settings.metrics_port)
    except OSError as exc:
        raise MetricsPortError(
            f"cannot serve metrics on {settings.metrics_addr}:{settings.metrics_port} "
            f"(TICKET_SLO_METRICS_ADDR/PORT): {exc.strerror or exc}") from exc
    app = create_app(settings, policy, metrics)
    worker = faust.Worker(app, loglevel=settings.log_level)
    worker.execute_from_commandline()
    return 0
