"""Running the Faust worker in this process."""

from __future__ import annotations

import faust

from schemas.policy import Policy
from streams.app import create_app
from streams.settings import Settings

__all__ = ["run_worker"]


def run_worker(settings: Settings, policy: Policy) -> int:
    """Start the worker and block until it is stopped (SIGINT or SIGTERM)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, policy)
    worker = faust.Worker(app, loglevel=settings.log_level)
    worker.execute_from_commandline()
    return 0
