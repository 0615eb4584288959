"""The alert bridge's own settings, read from the environment like the worker's.

They live apart from ``Settings`` so that a bad Alertmanager URL stops the bridge, not the
worker or the other tools, which never use it. Each bad value stops the bridge with one
line naming the variable.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from typing import Literal, Mapping, get_args

from ticket_slo.schemas.events import Priority
from ticket_slo.streams.kafka.settings import SettingsError, seconds_setting

__all__ = ["ALERT_BRIDGE_ENVIRONMENT", "BridgeSettings", "PRIORITIES"]

#: Environment variable → what it sets. The README's settings table lists these too.
ALERT_BRIDGE_ENVIRONMENT: dict[str, str] = {
    "TICKET_SLO_ALERTMANAGER_URL": "Alertmanager's base URL, http:// or https:// (the bridge posts to /api/v2/alerts)",
    "TICKET_SLO_ALERT_PRIORITIES": "comma-separated priorities whose breaches page and whose warnings notify",
    "TICKET_SLO_ALERT_WARNINGS": "which warnings notify: last (each plan's last warn_at), all, none, or fractions such as 0.75,0.9",
    "TICKET_SLO_ALERT_REFRESH": "how often open alerts are posted again (seconds, or a duration such as 90s, 30m)",
}

PRIORITIES: tuple[str, ...] = get_args(Priority)
MAX_REFRESH_SECONDS = 86400
_FRACTION = re.compile(r"(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)")


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    alertmanager_url: str = "http://127.0.0.1:9093"
    priorities: frozenset[str] = frozenset({"P1", "P2"})
    warnings: Literal["last", "all", "none"] | frozenset[float] = "last"
    refresh_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "BridgeSettings":
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            alertmanager_url=_url(env, "TICKET_SLO_ALERTMANAGER_URL", defaults.alertmanager_url),
            priorities=_priorities(env, "TICKET_SLO_ALERT_PRIORITIES", defaults.priorities),
            warnings=_warnings(env, "TICKET_SLO_ALERT_WARNINGS", defaults.warnings),
            refresh_seconds=_refresh(env, "TICKET_SLO_ALERT_REFRESH", defaults.refresh_seconds),
        )


def _refresh(env: Mapping[str, str], name: str, default: float) -> float:
    """At most a day: an alert stays open three refreshes past the last post, and longer than
    that would keep paging for days after the bridge is gone."""
    value = seconds_setting(env, name, default)
    if value > MAX_REFRESH_SECONDS:
        raise SettingsError(f"{name}={env[name]!r} must be at most 1 day ({MAX_REFRESH_SECONDS} s)")
    return value


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    parsed = urllib.parse.urlsplit(raw.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query or parsed.fragment:
        raise SettingsError(f"{name}={raw!r} is not an http:// or https:// base URL such as http://alertmanager:9093")
    try:
        parsed.port
    except ValueError:
        raise SettingsError(f"{name}={raw!r} has a bad port number") from None
    return raw.strip().rstrip("/")


def _priorities(env: Mapping[str, str], name: str, default: frozenset[str]) -> frozenset[str]:
    raw = env.get(name)
    if raw is None:
        return default
    chosen = [part.strip().upper() for part in raw.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in PRIORITIES]
    if unknown:
        raise SettingsError(f"{name}={raw!r}: {unknown[0]!r} is not a priority ({', '.join(PRIORITIES)}); "
                            f"set it empty for none")
    return frozenset(chosen)


def _warnings(env: Mapping[str, str], name: str,
              default: Literal["last", "all", "none"] | frozenset[float]) -> Literal["last", "all", "none"] | frozenset[float]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in ("last", "all", "none"):
        return word  # type: ignore[return-value]
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    bad = [part for part in parts if not _FRACTION.fullmatch(part) or not 0 < float(part) < 1]
    if bad or not parts:
        raise SettingsError(f"{name}={raw!r} is not last, all, none or comma-separated warn_at fractions "
                            f"between 0 and 1 (e.g. 0.75,0.9)")
    return frozenset(float(part) for part in parts)
