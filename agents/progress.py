"""A periodic one-line summary of what the worker did, so a person can see it working."""

from __future__ import annotations

import logging
from collections import Counter

__all__ = ["ProgressLog"]

log = logging.getLogger("ticket_slo.progress")


class ProgressLog:
    """Counts what the tracker reports; ``log_changes`` (run on a timer) logs the totals when they changed."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._last_logged: Counter[str] = Counter()

    def add(self, what: str, amount: int = 1) -> None:
        self.counts[what] += amount

    async def log_changes(self) -> None:
        if self.counts == self._last_logged:
            return
        since = self.counts - self._last_logged
        totals = ", ".join(f"{name} {count}" for name, count in sorted(self.counts.items()))
        recent = ", ".join(f"+{count} {name}" for name, count in sorted(since.items()))
        log.info("processed: %s (%s)", totals, recent)
        self._last_logged = self.counts.copy()
