"""kafka-python clients configured from ``Settings``, for the command-line tools.

The worker talks to Kafka through Faust; everything else (publishing, tailing,
topic management) uses these synchronous clients.
"""

from __future__ import annotations

from kafka import KafkaConsumer, KafkaProducer

from ticket_slo.streams.kafka.security import kafka_python_security
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["make_producer", "make_consumer"]


def make_producer(settings: Settings) -> KafkaProducer:
    """A producer that waits for the broker's acknowledgement of every record."""
    return KafkaProducer(
        bootstrap_servers=settings.bootstrap_list,
        client_id=f"{settings.app_id}-cli",
        acks="all",
        linger_ms=5,
        retries=5,
        **kafka_python_security(settings),
    )


def make_consumer(settings: Settings, *topics: str, group_id: str | None = None,
                  from_beginning: bool = True) -> KafkaConsumer:
    """A consumer of ``topics``; without a group it reads without committing offsets."""
    return KafkaConsumer(
        *topics,
        bootstrap_servers=settings.bootstrap_list,
        client_id=f"{settings.app_id}-cli",
        group_id=group_id,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=group_id is not None,
        **kafka_python_security(settings),
    )
