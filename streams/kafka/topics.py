"""Explicit creation and checking of the pipeline's topics.

Faust joins an input topic with its table changelogs partition by partition, so every
topic the tracker reads must have the same partition count. Creating them up front,
and refusing to start when an existing one differs, turns a silent mis-join into a
one-line error.
"""

from __future__ import annotations

import logging
import time
import re
from dataclasses import dataclass, field

from kafka.admin import KafkaAdminClient
from kafka.errors import InvalidReplicationFactorError, KafkaError, TopicAlreadyExistsError, for_code

from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.streams.kafka.clients import admin_client
from ticket_slo.streams.kafka.connection import brief
from ticket_slo.streams.kafka.settings import Settings

__all__ = ["TopicSpec", "TopicsError", "TopicMismatch", "pipeline_topics", "ensure_topics"]

log = logging.getLogger(__name__)

#: The contract refuses values over 1 MiB with a dead letter; the input topic takes up to
#: 2 MiB so that such values reach the worker (and its dead-letter topic) instead of
#: failing in the producer, and the dead-letter topic has room for them once encoded.
EVENTS_TOPIC_CONFIG: dict[str, str] = {"max.message.bytes": str(2 * 1024 * 1024)}
DEAD_LETTER_TOPIC_CONFIG: dict[str, str] = {"max.message.bytes": str(4 * 1024 * 1024)}
#: What the worker's producer must be allowed to send to the dead-letter topic.
MAX_PRODUCER_REQUEST_BYTES = 4 * 1024 * 1024 + 64 * 1024

#: How Kafka 3 and 4 say why a replication factor cannot be met.
_REGISTERED_BROKERS = re.compile(r"only (\d+) broker\(s\) are registered")


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
    configs = {names.events: EVENTS_TOPIC_CONFIG,
               names.dead_letters: DEAD_LETTER_TOPIC_CONFIG}
    return [
        TopicSpec(name, settings.partitions, settings.replication_factor, dict(configs.get(name, {})))
        for name in names.all()
    ]


def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create the missing topics and check the partition count of existing ones.

    Returns the names of the topics it created. Raises ``KafkaUnreachable`` when no broker
    answers, ``TopicMismatch`` naming the topic and both counts when an existing topic
    cannot be joined with the others, and ``TopicsError`` when the broker refuses a topic.
    """
    specs = pipeline_topics(settings) if specs is None else specs
    admin = admin_client(settings, bounded=True)
    try:
        created: list[str] = []
        for spec in specs:
            count = _partition_count(admin, spec.name)
            if count == 0:  # being created by another worker: no partition described yet
                count = _partition_count_when_listed(admin, spec.name)
            if count is None:
                if _create(admin, spec):
                    created.append(spec.name)
                    log.info("created topic %s with %d partitions", spec.name, spec.partitions)
                    continue
                # Another worker created it between our look and our create: the broker may
                # not list it yet (workers of one deployment start together).
                count = _partition_count_when_listed(admin, spec.name)
            if count != spec.partitions:
                raise TopicMismatch(
                    f"topic {spec.name!r} has {count} partitions but the pipeline needs "
                    f"{spec.partitions} (TICKET_SLO_PARTITIONS); use another TICKET_SLO_TOPIC_PREFIX "
                    f"or recreate the topic"
                )
        return created
    except KafkaError as exc:
        raise TopicsError(f"cannot manage topics on {settings.bootstrap_servers}: {brief(exc)}") from exc
    finally:
        admin.close()


def _create(admin: KafkaAdminClient, spec: TopicSpec) -> bool:
    """Create one topic; False when it already exists. The broker's refusal becomes one short line."""
    options = {"num_partitions": spec.partitions, "replication_factor": spec.replication_factor,
               "configs": spec.config}
    response = admin.create_topics({spec.name: options}, raise_errors=False)
    for result in response.get("topics", []):
        error = for_code(result.get("error_code", 0))
        if error is TopicAlreadyExistsError:
            return False
        if result.get("error_code", 0) != 0:
            raise TopicsError(_refusal(spec, error, result.get("error_message")))
    admin.wait_for_topics([spec.name])
    return True


def _refusal(spec: TopicSpec, error: type[Exception], broker_says: str | None) -> str:
    """What the broker refused, in the pipeline's terms, without the whole request."""
    if error is InvalidReplicationFactorError:
        brokers = _REGISTERED_BROKERS.search(broker_says or "")
        why = (f"the cluster has {brokers.group(1)} broker{'' if brokers.group(1) == '1' else 's'}" if brokers
               else broker_says or "the cluster has too few brokers")
        return (f"cannot create topic {spec.name!r} with replication factor {spec.replication_factor}: "
                f"{why} (TICKET_SLO_REPLICATION_FACTOR)")
    return f"cannot create topic {spec.name!r}: {error.__name__}: {broker_says or 'refused by the broker'}"


def _partition_count_when_listed(admin: KafkaAdminClient, topic: str, wait: float = 10.0) -> int | None:
    """The partition count of a topic that exists, waiting up to ``wait`` s for the broker to list it."""
    deadline = time.monotonic() + wait
    while True:
        count = _partition_count(admin, topic)
        if count or time.monotonic() >= deadline:
            return count
        time.sleep(0.2)


def _partition_count(admin: KafkaAdminClient, topic: str) -> int | None:
    """The topic's partition count, or None when it does not exist."""
    names = set(admin.list_topics())
    if topic not in names:
        return None
    (meta,) = admin.describe_topics([topic])
    return len(meta["partitions"])
