"""Faust agents: the glue between the pipeline's topics and the pure engine."""

from __future__ import annotations

import faust

from agents.metrics import SloMetrics
from schemas.policy import Policy
from streams.settings import Settings

__all__ = ["register_agents"]


def register_agents(app: faust.App, settings: Settings, policy: Policy, metrics: SloMetrics) -> None:
    """Attach every agent and timer of the pipeline to ``app``."""
    from agents.progress import ProgressLog
    from agents.tracker import register_tracker

    progress = ProgressLog(app)
    register_tracker(app, settings, policy, progress, metrics)
