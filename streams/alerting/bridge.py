"""``ticket-slo alert-bridge``: the worker's outputs kept as Alertmanager alerts.

Each turn of the loop, in this order, so that no resolve is ever lost:

1. read a batch from the breach, warning and outcome topics (its own consumer group);
2. apply it to the ``AlertBook`` (pure rules in ``ticket_alerts``); while catching up on
   the backlog present at start, keep reading and apply it all as one batch, so that a
   breach answered in the backlog is not paged and resolved again;
3. post what changed to Alertmanager, retrying with backoff until it is accepted (once the
   backlog is read, every open alert is posted again, as the bridge may have been away);
4. write the changed states to the bridge's compacted topic and wait for the broker;
5. only then commit the batch's input offsets.

A crash between any two steps reads the batch again and posts it again: Alertmanager
de-duplicates by label set, so that is harmless. Every ``refresh`` seconds all open alerts
are posted again with a later ``endsAt``, since Alertmanager resolves an alert whose
``endsAt`` has passed. Run one bridge per pipeline: it reads every partition itself.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata
from pydantic import TypeAdapter, ValidationError

from ticket_slo.schemas.errors import TicketSloError
from ticket_slo.schemas.outputs import SloAtRisk, SloBreached, SloBreachRetracted, SloCompleted
from ticket_slo.streams.alerting.alert_book import AlertBook, AlertChanges
from ticket_slo.streams.alerting.alertmanager import AlertmanagerClient, AlertmanagerError, alert_payload, firing_until
from ticket_slo.streams.alerting.bridge_settings import BridgeSettings
from ticket_slo.streams.alerting.open_alerts_topic import read_open_alerts, state_topic_spec, write_states
from ticket_slo.streams.alerting.ticket_alerts import AlertRules, SloOutput, TicketAlert
from ticket_slo.streams.kafka.clients import make_consumer, make_producer
from ticket_slo.streams.kafka.settings import Settings
from ticket_slo.streams.kafka.topics import ensure_topics, pipeline_topics

__all__ = ["AlertBridge", "decode_output", "READY_MARKER"]

log = logging.getLogger("ticket_slo.alert_bridge")

READY_MARKER = "alert-bridge: ready"
#: A closed ticket is remembered this long after its clock stopped, in case one of its
#: breaches or warnings is read after its outcome (three topics, read in no set order).
CLOSED_MEMORY = timedelta(days=1)
MAX_BACKOFF_SECONDS = 30.0

_OUTPUT_MODELS: dict[str, type[SloOutput]] = {
    "slo.breached": SloBreached, "slo.breach_retracted": SloBreachRetracted,
    "slo.at_risk": SloAtRisk, "slo.completed": SloCompleted,
}
_ADAPTERS = {name: TypeAdapter(model) for name, model in _OUTPUT_MODELS.items()}


def decode_output(topic: str, partition: int, offset: int, value: bytes | None) -> SloOutput | None:
    """The output in a record, or None (logged with where it was) when it is not one.

    These topics are written by our own worker, so a bad record means a foreign producer or
    a newer contract: it is skipped, never retried, and the log says where to find it.
    """
    where = f"{topic}/{partition} offset {offset}"
    if value is None:
        log.warning("alert-bridge: skipped a record without a value at %s", where)
        return None
    try:
        data = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        log.warning("alert-bridge: skipped a record that is not JSON at %s", where)
        return None
    kind = data.get("type") if isinstance(data, dict) else None
    adapter = _ADAPTERS.get(kind) if isinstance(kind, str) else None
    if adapter is None:
        log.warning("alert-bridge: skipped a record of unknown type %r at %s", kind, where)
        return None
    try:
        return adapter.validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        log.warning("alert-bridge: skipped an invalid %s at %s: %s", kind, where,
                    "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3]))
        return None


class AlertBridge:
    """The loop of the module docstring; ``stop`` (set from a signal handler) ends it."""

    def __init__(self, settings: Settings, bridge: BridgeSettings, rules: AlertRules, *,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.settings = settings
        self.bridge = bridge
        self.rules = rules
        self.client = AlertmanagerClient(bridge.alertmanager_url)
        self.now = now
        self.stop = threading.Event()
        self.state_topic = state_topic_spec(settings).name
        self.group_id = f"{settings.app_id}-alert-bridge"
        self.book = AlertBook(rules)
        self.counts = {"records": 0, "opened": 0, "resolved": 0, "skipped": 0}

    def run(self) -> None:
        ensure_topics(self.settings, [*pipeline_topics(self.settings), state_topic_spec(self.settings)])
        self.book = AlertBook(self.rules, read_open_alerts(self.settings, self.state_topic))
        open_now = self.book.open_alerts()
        log.info("alert-bridge: %d tickets remembered, %d alerts open, read back from %s; they are posted "
                 "again once the backlog is read", len(self.book), len(open_now), self.state_topic)
        topics = self.settings.topics
        consumer = make_consumer(self.settings, group_id=self.group_id, auto_commit=False,
                                 client_id=self.group_id)
        producer = make_producer(self.settings, client_id=self.group_id)
        try:
            inputs = []
            for topic in (topics.breaches, topics.warnings, topics.outcomes):
                partitions = consumer.partitions_for_topic(topic)
                if not partitions:
                    raise TicketSloError(f"alert-bridge: topic {topic!r} has no partitions at "
                                         f"{self.settings.bootstrap_servers} (check TICKET_SLO_TOPIC_PREFIX)")
                inputs += [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(inputs)
            log.info("%s: reading %s, %s, %s as group %s; posting to %s every %gs",
                     READY_MARKER, topics.breaches, topics.warnings, topics.outcomes, self.group_id,
                     self.client.alerts_url, self.bridge.refresh_seconds)
            self._loop(consumer, producer, inputs)
        finally:
            consumer.close(autocommit=False)
            producer.close()
            log.info("alert-bridge: stopped after %d records: %d alerts opened, %d resolved, %d records skipped",
                     self.counts["records"], self.counts["opened"], self.counts["resolved"], self.counts["skipped"])

    def _loop(self, consumer: Any, producer: Any, inputs: list[TopicPartition]) -> None:
        backlog_end = consumer.end_offsets(inputs) if inputs else {}
        catching_up = True
        read_to: dict[TopicPartition, int] = {}  # next offset per partition, committed once settled
        next_refresh = time.monotonic() + self.bridge.refresh_seconds
        next_report = time.monotonic() + 60.0
        while not self.stop.is_set():
            batch = consumer.poll(timeout_ms=500, max_records=500)
            records = [record for part in batch.values() for record in part]
            if records:
                self._absorb(records)
                read_to.update({TopicPartition(tp.topic, tp.partition): part[-1].offset + 1
                                for tp, part in batch.items() if part})
            if catching_up:
                catching_up = any(consumer.position(tp) < end for tp, end in backlog_end.items())
                if not catching_up:
                    log.info("alert-bridge: caught up with the backlog (%d records since start)",
                             self.counts["records"])
                    next_refresh = 0.0  # post every open alert now, after the backlog's own changes
            if not catching_up and read_to:
                if not self._settle(producer):
                    return  # stopped while Alertmanager was unreachable: nothing committed, read again next start
                consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in read_to.items()})
                read_to = {}
            if time.monotonic() >= next_refresh:
                if not self._refresh(producer):
                    return
                next_refresh = time.monotonic() + self.bridge.refresh_seconds
            if time.monotonic() >= next_report:
                log.info("alert-bridge: %d records read, %d alerts open (%d opened, %d resolved, %d skipped so far)",
                         self.counts["records"], len(self.book.open_alerts()), self.counts["opened"],
                         self.counts["resolved"], self.counts["skipped"])
                next_report = time.monotonic() + 60.0

    def _absorb(self, records: list[Any]) -> None:
        outputs = []
        for record in records:
            output = decode_output(record.topic, record.partition, record.offset, record.value)
            if output is None:
                self.counts["skipped"] += 1
            else:
                outputs.append(output)
        self.counts["records"] += len(records)
        self.book.absorb(outputs)

    def _settle(self, producer: Any) -> bool:
        """Post what the absorbed records changed, then store the states; False if stopped first."""
        changes = self.book.take_changes()
        if not changes:
            return True
        if not self._post(changes.firing, changes.resolved, "changes"):
            return False
        self._log_changes(changes)
        write_states(producer, self.state_topic, changes.states)
        return True

    def _refresh(self, producer: Any) -> bool:
        open_alerts = self.book.settled_alerts()
        if not self._post(open_alerts, [], "the periodic refresh"):
            return False
        log.debug("alert-bridge: refreshed %d open alerts", len(open_alerts))
        forgotten = self.book.forget_closed(self.now() - CLOSED_MEMORY)
        if forgotten:
            write_states(producer, self.state_topic, {key: None for key in forgotten})
        return True

    def _post(self, firing: Iterable[TicketAlert], resolved: Iterable[TicketAlert], what: str) -> bool:
        """Post until Alertmanager accepts, backing off up to 30 s; False only when stopped meanwhile."""
        firing, resolved = list(firing), list(resolved)
        if not firing and not resolved:
            return True
        backoff = 1.0
        while True:
            now = self.now()
            payloads = [alert_payload(alert, now, firing_until(now, self.bridge.refresh_seconds)) for alert in firing]
            payloads += [alert_payload(alert, now, now) for alert in resolved]
            try:
                self.client.post(payloads)
                return True
            except AlertmanagerError as exc:
                log.warning("alert-bridge: %s; %d alerts (%s) wait, retrying in %.0f s (nothing is committed "
                            "until Alertmanager accepts them)", exc, len(payloads), what, backoff)
            if self.stop.wait(backoff):
                return False
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _log_changes(self, changes: AlertChanges) -> None:
        for alert in changes.firing:
            self.counts["opened"] += 1
            log.info("alert-bridge: firing %s ticket=%s priority=%s plan=%s deadline=%s",
                     alert.name, alert.ticket_id, alert.priority, alert.plan, alert.deadline.isoformat())
        for alert in changes.resolved:
            self.counts["resolved"] += 1
            state = self.book.get(alert.ticket_id, alert.objective)
            why = "the clock stopped" if state is not None and state.closed_at is not None else "superseded or retracted"
            log.info("alert-bridge: resolved %s ticket=%s priority=%s (%s)", alert.name, alert.ticket_id,
                     alert.priority, why)

