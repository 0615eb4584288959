"""Faust agents: the glue between the pipeline's topics and the pure engine."""

from __future__ import annotations

import faust

from streams.settings import Settings

__all__ = ["register_agents"]


def register_agents(app: faust.App, settings: Settings) -> None:
    """Attach every agent of the pipeline to ``app``."""
    from agents.progress import ProgressLog
    from agents.validate import register_validator

    progress = ProgressLog(app)
    register_validator(app, settings, progress)
