"""Connection security for both Kafka client libraries, from one set of settings.

The worker reaches Kafka through Faust (aiokafka), the command-line tools through
kafka-python, the benchmark through both; each spells TLS and SASL its own way.
``Settings`` describes the connection once (``KAFKA_SECURITY_PROTOCOL`` and friends,
validated there); this module translates it for kafka-python and for a bare aiokafka
client, and ``ticket_slo.agents.credentials`` for Faust, from the same TLS context and
masked password, so the worker, the tools and the benchmark cannot disagree.

Both libraries get the same ``ssl.SSLContext``, built by ``ssl_context``: one TLS
policy (TLS 1.2 or newer, certificate and host name checked unless turned off), and
a certificate file that is not valid PEM stops the command with a ``SettingsError``
naming the variable, before any connection is tried. ``LoginRefusals`` lets a command
say "authentication failed" when kafka-python would only say it could not bootstrap.
"""

from __future__ import annotations

import logging
import re
import ssl
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ticket_slo.streams.kafka.log_redaction import redact_from_logs
from ticket_slo.streams.kafka.settings import Settings, SettingsError

__all__ = ["kafka_python_security", "aiokafka_security", "password_for_client", "ssl_context", "LoginRefusals",
           "login_refused_message"]


class _Masked(str):
    """The password as handed to a client library: a real ``str``, but its ``repr`` is a mask.

    kafka-python logs its whole configuration dict at debug level, and a dict prints
    its values with ``repr``; this keeps the password out of such lines.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'********'"


def password_for_client(settings: Settings) -> _Masked:
    """Reveal the password to a client library, and from then on keep it out of the logs."""
    assert settings.sasl_password is not None, "Settings.from_env requires a SASL password"
    password = settings.sasl_password.reveal()
    redact_from_logs(password)
    return _Masked(password)


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """The client TLS context for the SSL and SASL_SSL protocols."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = settings.ssl_check_hostname
    if settings.ssl_cafile is None:
        context.load_default_certs()
    else:
        with _loading("KAFKA_SSL_CAFILE", settings.ssl_cafile):
            context.load_verify_locations(cafile=settings.ssl_cafile)
    if settings.ssl_certfile is not None:
        with _loading("KAFKA_SSL_CERTFILE", settings.ssl_certfile, settings.ssl_keyfile,
                      hint="needs a PEM certificate and its private key"):
            context.load_cert_chain(certfile=settings.ssl_certfile, keyfile=settings.ssl_keyfile)
    return context


@contextmanager
def _loading(name: str, path: Path, keyfile: Path | None = None, *, hint: str = "") -> Iterator[None]:
    """Turn a file the TLS library refuses into a one-line ``SettingsError`` naming it."""
    try:
        yield
    except (ssl.SSLError, OSError) as exc:
        what = f"{name}={str(path)!r}" + (f" with KAFKA_SSL_KEYFILE={str(keyfile)!r}" if keyfile else "")
        reason = re.sub(r"\s*\(_ssl\.c:\d+\)$", "", str(exc.strerror or exc))
        raise SettingsError(f"{what} cannot be used{' (' + hint + ')' if hint else ''}: {reason}") from None


def kafka_python_security(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's producer, consumer and admin client."""
    return _client_options(settings)  # kafka-python then ignores its other ssl_* options


def aiokafka_security(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for a bare aiokafka producer or consumer (the benchmark's), without Faust."""
    return _client_options(settings)


def _client_options(settings: Settings) -> dict[str, Any]:
    """The options both libraries spell alike: the protocol, one ``ssl_context``, the SASL login.

    They are kept behind two names because the libraries could part ways; each name
    has its own test against its library.
    """
    config: dict[str, Any] = {"security_protocol": settings.security_protocol}
    if settings.uses_tls:
        config["ssl_context"] = ssl_context(settings)
    if settings.uses_sasl:
        config["sasl_mechanism"] = settings.sasl_mechanism
        config["sasl_plain_username"] = settings.sasl_username
        config["sasl_plain_password"] = password_for_client(settings)
    return config


class LoginRefusals(logging.Handler):
    """Remembers the broker's last refusal of our login, as kafka-python logs it.

    kafka-python retries a refused SASL login like an unreachable broker, until its
    bootstrap timeout, and then raises only "Unable to bootstrap". Its log lines are
    the one place the refusal shows, so this handler watches them, and the caller's
    one-line error can say "authentication failed" instead of "cannot reach".

    The broker closes the connection right after refusing a login, and kafka-python
    often sees the close before the refusal: then all it logs is a connection lost
    after the broker's version was learnt, i.e. during the login. That is remembered
    too, as the weaker "the broker closed the connection during the SASL login".
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._refused: str | None = None
        self._dropped_during_login = False

    @property
    def refusal(self) -> str | None:
        """What the broker said when it refused the login, or the closing of the connection."""
        if self._refused is not None:
            return self._refused
        return DROPPED_DURING_LOGIN if self._dropped_during_login else None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        match = _REFUSAL.search(message)
        if match is not None:
            self._refused = match.group(1).strip()
        elif _DROPPED.search(message):
            self._dropped_during_login = True

    @classmethod
    @contextmanager
    def watching(cls) -> Iterator["LoginRefusals"]:
        """Install the handler on kafka-python's logger for the duration of the block."""
        handler = cls()
        logger = logging.getLogger("kafka")
        logger.addHandler(handler)
        try:
            yield handler
        finally:
            logger.removeHandler(handler)


_REFUSAL = re.compile(r"SaslAuthenticationFailedError: (?:SaslAuthenticationFailedError: )?([^()\n]+)")
# kafka-python knows the broker's version once ApiVersions answered, before the SASL login.
_DROPPED = re.compile(r"broker_version=\(\d+, \d+\).*Connection lost: KafkaConnectionError")
DROPPED_DURING_LOGIN = "the broker closed the connection during the SASL login"


def login_refused_message(settings: Settings, refusal: str) -> str:
    """One line naming who was refused and how, never the password."""
    return (f"authentication failed at {settings.bootstrap_servers} as {settings.sasl_username!r} "
            f"({settings.security_protocol} {settings.sasl_mechanism}): {refusal} "
            f"(check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SASL_MECHANISM)")
