"""Worker settings, read from the environment.

Every setting has one environment variable (listed in ``ENVIRONMENT``) so that the
same image runs on a laptop, in docker-compose and in a cluster without code changes.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pydantic_core import PydanticCustomError

from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.schemas.policy import parse_duration

__all__ = ["Settings", "SettingsError", "Secret", "ENVIRONMENT", "TopicNames", "SECURITY_PROTOCOLS", "SASL_MECHANISMS",
           "seconds_setting"]

#: Environment variable → what it sets. The README and the compose checks read this.
ENVIRONMENT: dict[str, str] = {
    "KAFKA_BOOTSTRAP_SERVERS": "comma-separated broker addresses (host:port; [v6 address]:port)",
    "TICKET_SLO_APP_ID": "Faust application id: the consumer group and the prefix of changelog topics (letters, digits, . _ -)",
    "TICKET_SLO_TOPIC_PREFIX": "prefix put before every topic name (isolates environments and tests; letters, digits, . _ -)",
    "TICKET_SLO_PARTITIONS": "partition count of the topics the worker creates",
    "TICKET_SLO_REPLICATION_FACTOR": "replication factor of the topics the worker creates",
    "TICKET_SLO_DATA_DIR": "directory for the worker's local data (table stores)",
    "TICKET_SLO_LOG_LEVEL": "log level of the worker (debug, info, warning, error)",
    "TICKET_SLO_POLICY": "path of the SLO policy file (YAML); the shipped default when unset",
    "TICKET_SLO_BREACH_GRACE": "time the live clock waits after a deadline before a breach fires (seconds, or a duration such as 90s, 30m, 1d)",
    "TICKET_SLO_TICK_INTERVAL": "longest wait for input before due timers fire anyway (seconds, or a duration such as 90s, 30m, 1d)",
    "TICKET_SLO_MAX_BATCH": "most input records the worker applies in one batch before it writes their state and outputs",
    "TICKET_SLO_SESSION_TIMEOUT": "time before the group gives a silent worker's partitions to another (seconds, or a duration such as 90s, 30m, 1d)",
    "TICKET_SLO_METRICS_ADDR": "address the /metrics endpoint binds to",
    "TICKET_SLO_METRICS_PORT": "port of the /metrics endpoint (0: any free port, logged at start)",
    "TICKET_SLO_WEB_ENABLED": "true (default) or false: serve the status API and page",
    "TICKET_SLO_WEB_ADDR": "address the status API and page bind to (anything but loopback needs TICKET_SLO_WEB_TOKENS_FILE)",
    "TICKET_SLO_WEB_PORT": "port of the status API and page (0: any free port, logged at start; unset and 6066 taken: a free one, with a warning)",
    "TICKET_SLO_WEB_URL": "URL at which the other workers reach this one's status API (default: http://ADDR:PORT, the host name for a wildcard ADDR)",
    "TICKET_SLO_WEB_TOKENS_FILE": "YAML file of the status API's access tokens (staff, or one customer each)",
    "TICKET_SLO_ORPHAN_TIMEOUT": "time an event of a never-opened ticket waits before going to the dead-letter topic (seconds, or a duration such as 90s, 30m, 1d)",
    "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL",
    "KAFKA_SASL_MECHANISM": "PLAIN (default), SCRAM-SHA-256 or SCRAM-SHA-512 (SASL protocols only)",
    "KAFKA_SASL_USERNAME": "SASL user name (required by the SASL protocols)",
    "KAFKA_SASL_PASSWORD": "SASL password (or KAFKA_SASL_PASSWORD_FILE); never logged",
    "KAFKA_SASL_PASSWORD_FILE": "file holding the SASL password, e.g. a mounted secret (one trailing newline is ignored)",
    "KAFKA_SSL_CAFILE": "PEM file of the CA certificates that sign the brokers' (default: the system's CAs)",
    "KAFKA_SSL_CERTFILE": "PEM client certificate, for brokers that require TLS client authentication",
    "KAFKA_SSL_KEYFILE": "PEM private key of KAFKA_SSL_CERTFILE, when not inside that file",
    "KAFKA_SSL_CHECK_HOSTNAME": "true (default) or false: check that the broker's certificate names its host",
}

SECURITY_PROTOCOLS: tuple[str, ...] = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
_SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
#: Characters Kafka allows in topic names; the prefix and the app id become parts of them.
_TOPIC_NAME_PART = re.compile(r"[A-Za-z0-9._-]*")
_MAX_NAME_PART = 200  # Kafka's limit is 249 characters for a whole topic name
_DIGITS = re.compile(r"[0-9]+")
_DURATION_SYNTAX = "a number of seconds or a duration such as 90s, 30m, 4h, 1h30m, 1d"


class SettingsError(TicketSloError, ValueError):
    """A setting has a value the worker cannot use; the message names the variable."""

    label = "bad setting"


class Secret:
    """A value that never shows itself: ``repr`` and ``str`` print a mask.

    Settings end up in tracebacks, debug logs and test failure output; the password
    must not. Code that really needs the value asks for it with ``reveal()``.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The topics of the pipeline, with the configured prefix applied."""

    events: str
    dead_letters: str
    breaches: str
    warnings: str
    outcomes: str

    @classmethod
    def with_prefix(cls, prefix: str) -> "TopicNames":
        return cls(
            events=f"{prefix}ticket-events",
            dead_letters=f"{prefix}ticket-events-dlq",
            breaches=f"{prefix}ticket-slo-breaches",
            warnings=f"{prefix}ticket-slo-warnings",
            outcomes=f"{prefix}ticket-slo-outcomes",
        )

    def all(self) -> list[str]:
        return [self.events, self.dead_letters, self.breaches, self.warnings, self.outcomes]

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
    max_batch: int = 2000
    orphan_timeout: float = 86400.0
    session_timeout: float = 30.0
    metrics_addr: str = "127.0.0.1"
    metrics_port: int = 9464
    web_enabled: bool = True
    web_addr: str = "127.0.0.1"
    web_port: int = 6066
    #: TICKET_SLO_WEB_PORT was given: a taken port then stops the worker instead of moving it.
    web_port_chosen: bool = False
    web_url: str | None = None
    web_tokens_file: Path | None = None
    # Connection security: one description, translated for Faust and kafka-python by
    # ticket_slo.streams.kafka.security, so that the worker and the tools cannot disagree.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: Secret | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in _TLS_PROTOCOLS

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in _SASL_PROTOCOLS

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
            bootstrap_servers=_bootstrap(env, defaults.bootstrap_servers),
            app_id=_name_part(env, "TICKET_SLO_APP_ID", defaults.app_id),
            topic_prefix=_name_part(env, "TICKET_SLO_TOPIC_PREFIX", defaults.topic_prefix),
            partitions=_positive_int(env, "TICKET_SLO_PARTITIONS", defaults.partitions),
            replication_factor=_positive_int(env, "TICKET_SLO_REPLICATION_FACTOR", defaults.replication_factor),
            data_dir=Path(env.get("TICKET_SLO_DATA_DIR", str(defaults.data_dir))),
            log_level=_log_level(env, defaults.log_level),
            policy_path=Path(env["TICKET_SLO_POLICY"]) if env.get("TICKET_SLO_POLICY") else None,
            breach_grace=_seconds(env, "TICKET_SLO_BREACH_GRACE", defaults.breach_grace, allow_zero=True),
            tick_interval=_seconds(env, "TICKET_SLO_TICK_INTERVAL", defaults.tick_interval),
            max_batch=_positive_int(env, "TICKET_SLO_MAX_BATCH", defaults.max_batch),
            orphan_timeout=_seconds(env, "TICKET_SLO_ORPHAN_TIMEOUT", defaults.orphan_timeout),
            session_timeout=_seconds(env, "TICKET_SLO_SESSION_TIMEOUT", defaults.session_timeout),
            metrics_addr=env.get("TICKET_SLO_METRICS_ADDR", defaults.metrics_addr),
            metrics_port=_port(env, "TICKET_SLO_METRICS_PORT", defaults.metrics_port),
            web_enabled=_boolean(env, "TICKET_SLO_WEB_ENABLED", defaults.web_enabled),
            web_addr=env.get("TICKET_SLO_WEB_ADDR") or defaults.web_addr,
            web_port=_web_port(env, defaults.web_port),
            web_port_chosen=bool(env.get("TICKET_SLO_WEB_PORT")),
            web_url=_web_url(env),
            web_tokens_file=Path(env["TICKET_SLO_WEB_TOKENS_FILE"]) if env.get("TICKET_SLO_WEB_TOKENS_FILE") else None,
            **_security(env),
        )


def _bootstrap(env: Mapping[str, str], default: str) -> str:
    """``host:port[,host:port…]``; set but empty is refused, as it is what a failed
    ``export KAFKA_BOOTSTRAP_SERVERS=$(…)`` leaves behind."""
    name = "KAFKA_BOOTSTRAP_SERVERS"
    raw = env.get(name)
    if raw is None:
        return default
    servers = [server.strip() for server in raw.split(",")]
    if not any(servers):
        raise SettingsError(f"{name}={raw!r} names no broker: give host:port[,host:port], "
                            f"or unset it for {default}")
    for server in servers:
        if server:
            _check_address(name, raw, server)
    return raw.strip()


def _check_address(name: str, raw: str, server: str) -> None:
    host, colon, port = server.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # an IPv6 address, [::1]:9092
    if not colon or not host or any(char.isspace() or char in "[]/,@" for char in host):
        raise SettingsError(f"{name}={raw!r}: {server!r} is not host:port (e.g. 127.0.0.1:9092)")
    if not _DIGITS.fullmatch(port) or not 1 <= int(port) <= 65535:
        raise SettingsError(f"{name}={raw!r}: {server!r} does not end in a port number (1-65535)")


def _name_part(env: Mapping[str, str], name: str, default: str) -> str:
    """A value that becomes part of topic names: Kafka's characters only; empty means the default."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not _TOPIC_NAME_PART.fullmatch(raw) or len(raw) > _MAX_NAME_PART:
        raise SettingsError(f"{name}={raw!r} may hold only letters, digits, '.', '_' and '-' "
                            f"(at most {_MAX_NAME_PART}), as it becomes part of Kafka topic names")
    return raw


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not _DIGITS.fullmatch(raw.strip().removeprefix("-")):
        raise SettingsError(f"{name}={raw!r} is not a whole number")
    value = int(raw.strip())
    if value < 1:
        raise SettingsError(f"{name}={raw!r} must be at least 1")
    return value


def _boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = _BOOLEANS.get(raw.strip().lower())
    if value is None:
        raise SettingsError(f"{name}={raw!r} is not true or false")
    return value


def _web_url(env: Mapping[str, str]) -> str | None:
    raw = (env.get("TICKET_SLO_WEB_URL") or "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"https?://[^/\s?#]+/?", raw):
        raise SettingsError(f"TICKET_SLO_WEB_URL={raw!r} is not of the form http://HOST:PORT")
    return raw.rstrip("/")


def _web_port(env: Mapping[str, str], default: int) -> int:
    """The status API's port; 0 (the kernel's pick, made before the worker joins its group, so
    the others are told it) cannot go with a TICKET_SLO_WEB_URL, which must name the port."""
    port = _port(env, "TICKET_SLO_WEB_PORT", default)
    if port == 0 and (env.get("TICKET_SLO_WEB_URL") or "").strip():
        raise SettingsError("TICKET_SLO_WEB_PORT=0 picks a free port, which TICKET_SLO_WEB_URL cannot name: "
                            "give the port (1-65535)")
    return port


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not _DIGITS.fullmatch(raw) or int(raw) > 65535:
        raise SettingsError(f"{name}={raw!r} is not a port number (0-65535)")
    return int(raw)


def _seconds(env: Mapping[str, str], name: str, default: float, *, allow_zero: bool = False) -> float:
    """Seconds as a plain number (``0.25``) or in the policy file's duration syntax (``1d``)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii():  # float() would also read the digits of other scripts
        raise SettingsError(f"{name}={raw!r} is not {_DURATION_SYNTAX}")
    try:
        value = float(raw)
    except ValueError:
        value = _duration(name, raw, allow_zero)
    if value < 0 or (value == 0 and not allow_zero) or not math.isfinite(value):
        raise SettingsError(f"{name}={raw!r} must be a {'non-negative' if allow_zero else 'positive'} "
                            f"finite number of seconds")
    return value


def seconds_setting(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive time setting of another command (the alert bridge's), read like the worker's."""
    return _seconds(env, name, default)


def _duration(name: str, raw: str, allow_zero: bool) -> float:
    try:
        return float(parse_duration(raw))
    except PydanticCustomError as exc:
        if exc.type == "duration_positive":
            if allow_zero:
                return 0.0
            raise SettingsError(f"{name}={raw!r} must be a positive duration") from None
        raise SettingsError(f"{name}={raw!r} is not {_DURATION_SYNTAX}") from None
    except (ValueError, OverflowError):  # more digits than int() or float() will take
        raise SettingsError(f"{name}={raw!r} is not {_DURATION_SYNTAX}") from None


def _log_level(env: Mapping[str, str], default: str) -> str:
    raw = env.get("TICKET_SLO_LOG_LEVEL") or default
    level = raw.strip().lower()
    if level not in {"debug", "info", "warning", "error"}:
        raise SettingsError(f"TICKET_SLO_LOG_LEVEL={raw!r} is not one of debug, info, warning, error")
    return level


def _security(env: Mapping[str, str]) -> dict[str, Any]:
    """The connection-security fields, checked together: a setting the chosen protocol
    would silently ignore (a password with PLAINTEXT, a CA file without TLS) is refused,
    because it almost always means the protocol was forgotten."""
    raw_protocol = env.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT"
    protocol = raw_protocol.strip().upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise SettingsError(f"KAFKA_SECURITY_PROTOCOL={raw_protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}")
    sasl_names = ("KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SASL_PASSWORD_FILE")
    ssl_names = ("KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE", "KAFKA_SSL_CHECK_HOSTNAME")
    if protocol not in _SASL_PROTOCOLS:
        _refuse_unused(env, sasl_names, f"KAFKA_SECURITY_PROTOCOL={protocol!r} does not use SASL "
                                        "(choose SASL_PLAINTEXT or SASL_SSL)")
    if protocol not in _TLS_PROTOCOLS:
        _refuse_unused(env, ssl_names, f"KAFKA_SECURITY_PROTOCOL={protocol!r} does not use TLS "
                                       "(choose SSL or SASL_SSL)")
    fields: dict[str, Any] = {"security_protocol": protocol}
    if protocol in _SASL_PROTOCOLS:
        fields.update(_sasl(env, protocol))
    if protocol in _TLS_PROTOCOLS:
        fields.update(_tls(env))
    return fields


def _refuse_unused(env: Mapping[str, str], names: tuple[str, ...], why: str) -> None:
    for name in names:
        if env.get(name):
            raise SettingsError(f"{name} is set but {why}")


def _sasl(env: Mapping[str, str], protocol: str) -> dict[str, Any]:
    raw_mechanism = env.get("KAFKA_SASL_MECHANISM") or "PLAIN"
    mechanism = raw_mechanism.strip().upper()
    if mechanism not in SASL_MECHANISMS:
        raise SettingsError(f"KAFKA_SASL_MECHANISM={raw_mechanism!r} is not one of {', '.join(SASL_MECHANISMS)}")
    username = env.get("KAFKA_SASL_USERNAME", "")
    if not username:
        raise SettingsError(f"KAFKA_SASL_USERNAME is required with KAFKA_SECURITY_PROTOCOL={protocol!r}")
    return {"sasl_mechanism": mechanism, "sasl_username": username, "sasl_password": _password(env, protocol)}


def _password(env: Mapping[str, str], protocol: str) -> Secret:
    """The SASL password from the variable or the file; no message ever quotes it."""
    inline, path = env.get("KAFKA_SASL_PASSWORD", ""), env.get("KAFKA_SASL_PASSWORD_FILE", "")
    if inline and path:
        raise SettingsError("KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set: set one")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable UTF-8 text"
            raise SettingsError(f"KAFKA_SASL_PASSWORD_FILE={path!r} cannot be read: {reason}") from None
        inline = text.removesuffix("\n").removesuffix("\r")
        if not inline:
            raise SettingsError(f"KAFKA_SASL_PASSWORD_FILE={path!r} is empty")
    if not inline:
        raise SettingsError(f"KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE) is required with "
                            f"KAFKA_SECURITY_PROTOCOL={protocol!r}")
    return Secret(inline)


def _tls(env: Mapping[str, str]) -> dict[str, Any]:
    cafile, certfile, keyfile = (_pem_file(env, name) for name in
                                 ("KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE"))
    if keyfile is not None and certfile is None:
        raise SettingsError(f"KAFKA_SSL_KEYFILE={str(keyfile)!r} is set without KAFKA_SSL_CERTFILE")
    raw_check = env.get("KAFKA_SSL_CHECK_HOSTNAME") or "true"
    check = _BOOLEANS.get(raw_check.strip().lower())
    if check is None:
        raise SettingsError(f"KAFKA_SSL_CHECK_HOSTNAME={raw_check!r} is not true or false")
    return {"ssl_cafile": cafile, "ssl_certfile": certfile, "ssl_keyfile": keyfile, "ssl_check_hostname": check}


def _pem_file(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    if not raw:
        return None
    path = Path(raw)
    if not path.is_file():
        raise SettingsError(f"{name}={raw!r} is not a file")
    return path
