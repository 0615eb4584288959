"""Explicit creation and checking of the pipeline's topics.

Faust joins an input topic with its table changelogs partition by partition, so every
topic the tracker reads must have the same partition count. Creating them up front,
and refusing to start when an existing one differs, turns a silent mis-join into a
one-line error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError

from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.streams.kafka.clients import admin_client
from ticket_slo.streams.kafka.security import LoginRefusals, login_refused_message
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["TopicSpec", "TopicsError", "TopicMismatch", "pipeline_topics", "ensure_topics"]

log = logging.getLogger(__name__)

#: Clock ticks only matter for a moment: keep an hour, never compact.
CLOCK_TOPIC_CONFIG: dict[str, str] = {"retention.ms": str(3600 * 1000), "cleanup.policy": "delete"}

#: The contract refuses values over 1 MiB with a dead letter; the input topic takes up to
#: 2 MiB so that such values reach the worker (and its dead-letter topic) instead of
#: failing in the producer, and the dead-letter topic has room for them once encoded.
EVENTS_TOPIC_CONFIG: dict[str, str] = {"max.message.bytes": str(2 * 1024 * 1024)}
DEAD_LETTER_TOPIC_CONFIG: dict[str, str] = {"max.message.bytes": str(4 * 1024 * 1024)}
#: What the worker's producer must be allowed to send to the dead-letter topic.
MAX_PRODUCER_REQUEST_BYTES = 4 * 1024 * 1024 + 64 * 1024


class TopicsError(TicketSloError, RuntimeError):
    """The pipeline's topics cannot be created or used; the message says which and why."""


class TopicMismatch(TopicsError):
    """An existing topic has a partition count other than the one the pipeline needs."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


def pipeline_topics(settings: Settings) -> list[TopicSpec]:
    """The topics the worker reads and writes, all with the configured partition count."""
    names = settings.topics
    configs = {names.clock: CLOCK_TOPIC_CONFIG, names.events: EVENTS_TOPIC_CONFIG,
               names.dead_letters: DEAD_LETTER_TOPIC_CONFIG}
    return [
        TopicSpec(name, settings.partitions, settings.replication_factor, dict(configs.get(name, {})))
        for name in names.all()
    ]


def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create the missing topics and check the partition count of existing ones.

    Returns the names of the topics it created. Raises ``TopicMismatch`` naming the
    topic and both counts when an existing topic cannot be joined with the others.
    """
    specs = pipeline_topics(settings) if specs is None else specs
    try:
        with LoginRefusals.watching() as refusals:
            admin = admin_client(settings)
    except KafkaError as exc:
        if refusals.refusal is not None:
            raise TopicsError(login_refused_message(settings, refusals.refusal)) from exc
        raise TopicsError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    try:
        created: list[str] = []
        for spec in specs:
            count = _partition_count(admin, spec.name)
            if count is None:
                try:
                    admin.create_topics(
                        {
                            spec.name: {
                                "num_partitions": spec.partitions,
                                "replication_factor": spec.replication_factor,
                                "configs": spec.config,
                            }
                        },
                        wait_for_metadata=True,
                    )
                    created.append(spec.name)
                    log.info("created topic %s with %d partitions", spec.name, spec.partitions)
                    continue
                except TopicAlreadyExistsError:
                    # Another worker created it between our look and our create.
                    count = _partition_count(admin, spec.name)
            if count != spec.partitions:
                raise TopicMismatch(
                    f"topic {spec.name!r} has {count} partitions but the pipeline needs "
                    f"{spec.partitions} (TICKET_SLO_PARTITIONS); use another TICKET_SLO_TOPIC_PREFIX "
                    f"or recreate the topic"
                )
        return created
    except KafkaError as exc:
        raise TopicsError(f"cannot manage topics on {settings.bootstrap_servers}: {exc}") from exc
    finally:
        admin.close()


def _partition_count(admin: KafkaAdminClient, topic: str) -> int | None:
    """The topic's partition count, or None when it does not exist."""
    names = set(admin.list_topics())
    if topic not in names:
        return None
    (meta,) = admin.describe_topics([topic])
    return len(meta["partitions"])
