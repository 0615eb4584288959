"""Every Kafka client of the package, configured from ``Settings``: one place for TLS and SASL.

The worker talks to Kafka through Faust; everything else (publishing, tailing, topic
management, the worker's group-offset look-ups and the benchmark) builds its clients
here, so that no client can be made that ignores the connection's security settings.
kafka-python serves the synchronous tools; aiokafka serves the benchmark's load and raw
reads, where a synchronous producer would measure itself instead of the broker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient

from ticket_slo.streams.kafka.connection import connect_options, connecting
from ticket_slo.streams.kafka.security import aiokafka_security, kafka_python_security
from ticket_slo.streams.kafka.settings import Settings

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

__all__ = ["make_producer", "make_consumer", "admin_client", "aiokafka_producer", "aiokafka_consumer"]


def make_producer(settings: Settings, *, client_id: str | None = None) -> KafkaProducer:
    """A producer that waits for the broker's acknowledgement of every record.

    Raises ``KafkaUnreachable`` (one line) when no broker answers within ``CONNECT_TIMEOUT_MS``.
    """
    with connecting(settings):
        return KafkaProducer(
            bootstrap_servers=settings.bootstrap_list,
            client_id=client_id or f"{settings.app_id}-cli",
            acks="all",
            linger_ms=5,
            retries=5,
            **connect_options(),
            **kafka_python_security(settings),
        )


def make_consumer(settings: Settings, *topics: str, group_id: str | None = None,
                  from_beginning: bool = True, client_id: str | None = None,
                  auto_commit: bool = True) -> KafkaConsumer:
    """A consumer of ``topics`` (or of none, to assign partitions by hand); without a group it
    reads without committing offsets. ``auto_commit=False`` leaves the group's commits to the
    caller, which commits only what it has finished with (the alert bridge).

    It never creates a topic by asking for it: the pipeline's topics are created with
    their partition count by ``ensure_topics``, never with the broker's default.
    Raises ``KafkaUnreachable`` (one line) when no broker answers within ``CONNECT_TIMEOUT_MS``.
    """
    with connecting(settings):
        return KafkaConsumer(
            *topics,
            bootstrap_servers=settings.bootstrap_list,
            client_id=client_id or f"{settings.app_id}-cli",
            group_id=group_id,
            auto_offset_reset="earliest" if from_beginning else "latest",
            enable_auto_commit=group_id is not None and auto_commit,
            allow_auto_create_topics=False,
            **connect_options(),
            **kafka_python_security(settings),
        )


def admin_client(settings: Settings, *, client_id: str | None = None, bounded: bool = False) -> KafkaAdminClient:
    """An admin client that gives up on an unreachable broker after 15 s instead of retrying on.

    ``bounded``, for the command-line tools: give up after ``CONNECT_TIMEOUT_MS`` with one
    ``KafkaUnreachable`` line. Without it kafka-python's own errors are raised, as the
    worker's long-lived look-ups expect.
    """
    if not bounded:
        return KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_list,
            client_id=client_id or f"{settings.app_id}-admin",
            request_timeout_ms=30_000,
            bootstrap_timeout_ms=15_000,
            **kafka_python_security(settings),
        )
    with connecting(settings):
        return KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_list,
            client_id=client_id or f"{settings.app_id}-admin",
            request_timeout_ms=30_000,
            **connect_options(),
            **kafka_python_security(settings),
        )


def aiokafka_producer(settings: Settings, *, client_id: str, **tuning: Any) -> AIOKafkaProducer:
    """An aiokafka producer (not started); ``tuning`` holds aiokafka's own options (acks, linger_ms…).

    aiokafka binds its clients to the running event loop: call this inside a coroutine.
    """
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(bootstrap_servers=settings.bootstrap_list, client_id=client_id,
                            **tuning, **aiokafka_security(settings))


def aiokafka_consumer(settings: Settings, *topics: str, client_id: str, **tuning: Any) -> AIOKafkaConsumer:
    """An aiokafka consumer (not started) of ``topics``, or of none to assign partitions by hand."""
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(*topics, bootstrap_servers=settings.bootstrap_list, client_id=client_id,
                            **tuning, **aiokafka_security(settings))
