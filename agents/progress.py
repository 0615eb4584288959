"""A periodic one-line summary of what the worker did, so a person can see it working."""

from __future__ import annotations

import logging
from collections import Counter

import faust

__all__ = ["ProgressLog"]

log = logging.getLogger("ticket_slo.progress")


class ProgressLog:
    """Counts what agents report and logs the totals every ``interval`` seconds when they change."""

    def __init__(self, app: faust.App, interval: float = 10.0) -> None:
        self.counts: Counter[str] = Counter()
        self._last_logged: Counter[str] = Counter()
        app.timer(interval, name="progress-log")(self._log)

    def add(self, what: str, amount: int = 1) -> None:
        self.counts[what] += amount

    async def _log(self) -> None:
        if self.counts == self._last_logged:
            return
        since = self.counts - self._last_logged
        totals = ", ".join(f"{name} {count}" for name, count in sorted(self.counts.items()))
        recent = ", ".join(f"+{count} {name}" for name, count in sorted(since.items()))
        log.info("processed: %s (%s)", totals, recent)
        self._last_logged = self.counts.copy()
