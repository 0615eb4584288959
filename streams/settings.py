"""Worker settings, read from the environment.

Every setting has one environment variable (listed in ``ENVIRONMENT``) so that the
same image runs on a laptop, in docker-compose and in a cluster without code changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

__all__ = ["Settings", "SettingsError", "ENVIRONMENT", "TopicNames"]

#: Environment variable → what it sets. The README and the compose checks read this.
ENVIRONMENT: dict[str, str] = {
    "KAFKA_BOOTSTRAP_SERVERS": "comma-separated broker addresses (host:port)",
    "TICKET_SLO_APP_ID": "Faust application id: the consumer group and the prefix of changelog topics",
    "TICKET_SLO_TOPIC_PREFIX": "prefix put before every topic name (isolates environments and tests)",
    "TICKET_SLO_PARTITIONS": "partition count of the topics the worker creates",
    "TICKET_SLO_REPLICATION_FACTOR": "replication factor of the topics the worker creates",
    "TICKET_SLO_DATA_DIR": "directory for the worker's local data (table stores)",
    "TICKET_SLO_LOG_LEVEL": "log level of the worker (debug, info, warning, error)",
    "TICKET_SLO_POLICY": "path of the SLO policy file (YAML); the shipped default when unset",
    "TICKET_SLO_BREACH_GRACE": "seconds the live clock waits after a deadline before a breach fires",
    "TICKET_SLO_TICK_INTERVAL": "seconds between clock ticks to each owned partition",
    "TICKET_SLO_SESSION_TIMEOUT": "seconds before the group gives a silent worker's partitions to another",
    "TICKET_SLO_METRICS_ADDR": "address the /metrics endpoint binds to",
    "TICKET_SLO_METRICS_PORT": "port of the /metrics endpoint (0: any free port, logged at start)",
    "TICKET_SLO_ORPHAN_TIMEOUT": "seconds an event of a never-opened ticket waits before going to the dead-letter topic",
}


class SettingsError(ValueError):
    """A setting has a value the worker cannot use; the message names the variable."""


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The topics of the pipeline, with the configured prefix applied."""

    events: str
    dead_letters: str
    breaches: str
    warnings: str
    outcomes: str
    clock: str

    @classmethod
    def with_prefix(cls, prefix: str) -> "TopicNames":
        return cls(
            events=f"{prefix}ticket-events",
            dead_letters=f"{prefix}ticket-events-dlq",
            breaches=f"{prefix}ticket-slo-breaches",
            warnings=f"{prefix}ticket-slo-warnings",
            outcomes=f"{prefix}ticket-slo-outcomes",
            clock=f"{prefix}ticket-slo-clock",
        )

    def all(self) -> list[str]:
        return [self.events, self.dead_letters, self.breaches, self.warnings, self.outcomes, self.clock]

    def by_short_name(self) -> dict[str, str]:
        """Names users type on the command line (``ticket-slo tail breaches``) → topic names."""
        return {
            "breaches": self.breaches,
            "warnings": self.warnings,
            "outcomes": self.outcomes,
            "dlq": self.dead_letters,
            "events": self.events,
        }


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the worker and the command-line tools need to reach Kafka."""

    bootstrap_servers: str = "127.0.0.1:9092"
    app_id: str = "ticket-slo"
    topic_prefix: str = ""
    partitions: int = 8
    replication_factor: int = 1
    data_dir: Path = field(default_factory=lambda: Path(".data"))
    log_level: str = "info"
    policy_path: Path | None = None
    breach_grace: float = 1.0
    tick_interval: float = 0.25
    orphan_timeout: float = 86400.0
    session_timeout: float = 30.0
    metrics_addr: str = "127.0.0.1"
    metrics_port: int = 9464

    @property
    def topics(self) -> TopicNames:
        return TopicNames.with_prefix(self.topic_prefix)

    @property
    def bootstrap_list(self) -> list[str]:
        return [server.strip() for server in self.bootstrap_servers.split(",") if server.strip()]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from environment variables; unset ones keep their defaults."""
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", defaults.bootstrap_servers),
            app_id=env.get("TICKET_SLO_APP_ID", defaults.app_id),
            topic_prefix=env.get("TICKET_SLO_TOPIC_PREFIX", defaults.topic_prefix),
            partitions=_positive_int(env, "TICKET_SLO_PARTITIONS", defaults.partitions),
            replication_factor=_positive_int(env, "TICKET_SLO_REPLICATION_FACTOR", defaults.replication_factor),
            data_dir=Path(env.get("TICKET_SLO_DATA_DIR", str(defaults.data_dir))),
            log_level=_log_level(env, defaults.log_level),
            policy_path=Path(env["TICKET_SLO_POLICY"]) if env.get("TICKET_SLO_POLICY") else None,
            breach_grace=_seconds(env, "TICKET_SLO_BREACH_GRACE", defaults.breach_grace, allow_zero=True),
            tick_interval=_seconds(env, "TICKET_SLO_TICK_INTERVAL", defaults.tick_interval),
            orphan_timeout=_seconds(env, "TICKET_SLO_ORPHAN_TIMEOUT", defaults.orphan_timeout),
            session_timeout=_seconds(env, "TICKET_SLO_SESSION_TIMEOUT", defaults.session_timeout),
            metrics_addr=env.get("TICKET_SLO_METRICS_ADDR", defaults.metrics_addr),
            metrics_port=_port(env, "TICKET_SLO_METRICS_PORT", defaults.metrics_port),
        )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value < 1:
        raise SettingsError(f"{name}={raw!r} must be at least 1")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) > 65535:
        raise SettingsError(f"{name}={raw!r} is not a port number (0-65535)")
    return int(raw)


def _seconds(env: Mapping[str, str], name: str, default: float, *, allow_zero: bool = False) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if value < 0 or (value == 0 and not allow_zero) or value != value or value == float("inf"):
        raise SettingsError(f"{name}={raw!r} must be a {'non-negative' if allow_zero else 'positive'} "
                            f"finite number of seconds")
    return value


def _log_level(env: Mapping[str, str], default: str) -> str:
    raw = env.get("TICKET_SLO_LOG_LEVEL", default).lower()
    if raw not in {"debug", "info", "warning", "error"}:
        raise SettingsError(f"TICKET_SLO_LOG_LEVEL={raw!r} is not one of debug, info, warning, error")
    return raw
