"""Running the Faust worker in this process."""

from __future__ import annotations

import faust

from ticket_slo.agents.metrics import SloMetrics
from ticket_slo.schemas.policy import Policy
from ticket_slo.agents.app import create_app
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["run_worker"]


class MetricsPortError(OSError):
    """The metrics endpoint cannot bind; the message names the address."""


def run_worker(settings: Settings, policy: Policy) -> int:
    """Serve metrics, start the worker and block until it is stopped (SIGINT or SIGTERM)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
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
