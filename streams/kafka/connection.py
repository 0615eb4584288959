"""Reaching the brokers from the tools: a bounded wait, and one line when it fails.

kafka-python retries an unreachable bootstrap server until its bootstrap timeout and
logs every attempt; someone who mistyped ``KAFKA_BOOTSTRAP_SERVERS`` needs one line,
soon. Client construction is where kafka-python bootstraps, so ``connecting`` wraps
it: kafka-python's log lines stay off the terminal meanwhile (they still reach
``LoginRefusals``, which tells a refused login from an absent broker), the last
reason a connection failed is remembered, and a failure becomes one ``KafkaUnreachable``.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from typing import Iterator

from kafka.errors import KafkaError, KafkaTimeoutError

from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.streams.kafka.security import LoginRefusals, login_refused_message
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["CONNECT_TIMEOUT_MS", "KafkaUnreachable", "connect_options", "brief", "connecting", "unreachable_message"]

#: How long a tool waits for a first answer from the bootstrap servers. A running broker
#: answers in milliseconds, even over TLS and SASL; waiting longer only delays the error.
CONNECT_TIMEOUT_MS = 8_000
#: Longest pause between two attempts, so that a broker still starting is tried again in time.
_RETRY_BACKOFF_MAX_MS = 1_000

_REQUEST_ECHO = re.compile(r":? Request '.*' failed with response '.*'", re.DOTALL)
_MAX_REASON = 300
_FAILED = re.compile(r"^Bootstrap connection to \S+ failed: (.+?)(?: \(backoff [\d.]+ secs\))?$")


class KafkaUnreachable(TicketSloError):
    """No bootstrap server answered in time, or the brokers refused our login."""


def connect_options() -> dict[str, int]:
    """kafka-python options that bound the wait for the bootstrap servers."""
    return {"bootstrap_timeout_ms": CONNECT_TIMEOUT_MS, "reconnect_backoff_max_ms": _RETRY_BACKOFF_MAX_MS}


class _LastFailure(logging.Handler):
    """Keeps the reason of the last failed bootstrap attempt, which kafka-python only logs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reason: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        match = _FAILED.match(record.getMessage())
        if match is not None:
            self.reason = match.group(1)


@contextmanager
def connecting(settings: Settings) -> Iterator[None]:
    """Around the construction of a kafka-python client: quiet, bounded, one-line failure."""
    logger = logging.getLogger("kafka")
    last_failure = _LastFailure()
    logger.addHandler(last_failure)
    propagate, logger.propagate = logger.propagate, False
    try:
        with LoginRefusals.watching() as refusals:
            try:
                yield
            except KafkaError as exc:
                if refusals.refusal is not None:
                    raise KafkaUnreachable(login_refused_message(settings, refusals.refusal)) from exc
                if isinstance(exc, KafkaTimeoutError):
                    raise KafkaUnreachable(unreachable_message(settings, last_failure.reason or str(exc))) from exc
                raise KafkaUnreachable(f"cannot connect to Kafka at {settings.bootstrap_servers}: {brief(exc)}") from exc
    finally:
        logger.propagate = propagate
        logger.removeHandler(last_failure)


def brief(exc: BaseException) -> str:
    """A kafka-python error without the request and response it echoes (hundreds of characters)."""
    text = _REQUEST_ECHO.sub("", str(exc)).strip()
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def unreachable_message(settings: Settings, reason: str) -> str:
    """The line for bootstrap servers that never answered, naming the variable to check."""
    return (f"cannot reach Kafka at {settings.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS): "
            f"no broker answered within {CONNECT_TIMEOUT_MS / 1000:g} s ({reason})")
