"""Faust's ``broker_credentials`` from the same settings the tools use (see ``streams.kafka.security``)."""

from __future__ import annotations

from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from ticket_slo.streams.kafka.security import password_for_client, ssl_context
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["faust_credentials"]


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """None for PLAINTEXT, else SSL or SASL credentials.

    Faust derives the protocol from the object: ``SSLCredentials`` is SSL, and
    ``SASLCredentials`` is SASL_SSL when it carries a TLS context, SASL_PLAINTEXT when not.
    """
    if settings.security_protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings) if settings.uses_tls else None
    if not settings.uses_sasl:
        return SSLCredentials(context)
    return SASLCredentials(
        username=settings.sasl_username,
        password=password_for_client(settings),
        ssl_context=context,
        mechanism=settings.sasl_mechanism,
    )
