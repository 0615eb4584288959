"""Alertmanager's v2 HTTP API, as the bridge uses it: post alerts, one attempt at a time.

Alertmanager de-duplicates alerts by their label set, so posting the same alert again only
moves its ``endsAt``; an alert whose ``endsAt`` has passed is resolved. The standard
library's ``urllib`` is enough for one JSON POST; no HTTP dependency is added for it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any, Sequence

from ticket_slo.schemas.outputs import format_utc
from ticket_slo.streams.alerting.ticket_alerts import TicketAlert

__all__ = ["AlertmanagerError", "AlertmanagerClient", "alert_payload", "firing_until"]


class AlertmanagerError(Exception):
    """A post that Alertmanager did not accept: unreachable, or refused (the message says which)."""


def alert_payload(alert: TicketAlert, now: datetime, ends_at: datetime) -> dict[str, Any]:
    """The v2 form of ``alert``: firing until ``ends_at``, or resolved when ``ends_at`` is ``now``."""
    ends_at = max(ends_at, alert.starts_at)  # Alertmanager refuses an alert that ends before it starts
    return {
        "labels": alert.labels(),
        "annotations": alert.annotations(now),
        "startsAt": format_utc(alert.starts_at),
        "endsAt": format_utc(ends_at),
    }


class AlertmanagerClient:
    """Posts to ``{url}/api/v2/alerts``; ``url`` is Alertmanager's base URL."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    @property
    def alerts_url(self) -> str:
        return f"{self.url}/api/v2/alerts"

    def post(self, payloads: Sequence[dict[str, Any]]) -> None:
        """One POST of every payload; raises ``AlertmanagerError`` unless Alertmanager answers 200."""
        if not payloads:
            return
        request = urllib.request.Request(self.alerts_url, data=json.dumps(list(payloads)).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace").strip()[:300]
            raise AlertmanagerError(f"{self.alerts_url} answered {exc.code} {exc.reason}: {body}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AlertmanagerError(f"{self.alerts_url} is unreachable: {reason}") from None


def firing_until(now: datetime, refresh_seconds: float) -> datetime:
    """The ``endsAt`` of an open alert: three refreshes ahead, so two missed ones do not
    resolve it, while a bridge that is gone for good lets it lapse instead of paging forever."""
    return now + timedelta(seconds=3 * refresh_seconds)

