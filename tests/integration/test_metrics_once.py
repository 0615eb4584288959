"""Metrics count what happened once: two workers on a backlog, a rebalance, counters = distinct outputs.

A backlog of about 1,100 ticket events (330 tickets on 4 partitions: openings, priority
changes, assignments, acknowledgements in time and late, answers published after their
deadline, resolutions, closes, a few upstream duplicates) is published to a fresh topic
set (created by ``ticket-slo topics``) while no worker runs, each record's Kafka timestamp
equal to its ``occurred_at``, all of it in the last 150 s. Under the test policy (P1 10 s,
P2 30 s, P3 and P4 1 h) every P1 and P2 deadline has passed before a worker starts, so the
backlog holds breaches, retractions and outcomes both met and breached. Worker A is
launched, and worker B ``METRICS_ONCE_STAGGER`` seconds later (1.5 s), so that the group
rebalances as B joins, while A works through the backlog: partitions A has started on
move to B. The test waits until the group's committed offsets of ``ticket-events`` reach
the end of every partition and the output topics are quiet, then scrapes both workers'
``/metrics``.

On an idle machine one worker applies this backlog in well under a second (in the default
batches of 2,000 it is one batch), before its first heartbeat (2 s after it joined, with
the 6 s session timeout) can learn that B joined: the partitions would only move once the
backlog is done. So the workers run with batches of 2 records (``MAX_BATCH``) and worker A
is slowed as a loaded machine would slow it, from its first
applied event until worker B owns partitions: its process group is stopped and continued
in turns (SIGSTOP/SIGCONT, running 10 % of the time, never stopped for long), see
``_Throttle``. That the rebalance came during the backlog is checked, not assumed: when
worker B first owns partitions, worker A's ``ticket_slo_events_total`` (scraped at that
moment) must be above 0 and below the backlog's distinct events, else the run fails as one
that checked nothing.

What is compared, and why (``agents/metrics.py``):

- ``ticket_slo_outcomes_total`` (labels objective, priority, result, plan) counts each
  ``slo.completed`` published for the first time; summed over all labels and both workers
  it must equal the distinct ``slo.completed`` records on the outcomes topic (identity:
  ticket, objective, start, met, elapsed seconds, as in ``replay_oracle.output_key``; an outcome carries no
  id of its own). Per (priority, result) too.
- ``ticket_slo_breaches_total`` counts ``slo.breached`` events published, not net of
  retractions (those have their own counter, ``ticket_slo_breach_retractions_total``). So
  the breach counter is compared with the distinct ``breach_id`` of ``slo.breached``
  records on the breaches topic, and the retraction counter with the distinct
  ``breach_id`` of ``slo.breach_retracted`` records (both kinds share that topic).
- A rebalance hands partitions over only after their state writes are flushed, so no
  output is published twice and every record on the breaches, outcomes, warnings and
  dead-letter topics must be counted exactly once: records = breaches + retractions +
  outcomes + at-risk + dead letters (``ticket_slo_events_invalid_total``, orphans included).

- What the outputs come from is counted once as well: ``ticket_slo_events_total`` ("valid
  events applied, duplicates excluded") summed over both workers must equal the distinct
  events of the backlog (an event applied twice as new is what makes an output counted
  twice, and shows here even when it caused no output), and
  ``ticket_slo_clocks_started_total`` the tickets opened.

And, so that the counted outputs are the right ones: the distinct breaches, retractions
and outcomes on the topics equal what ``ticket-slo replay`` derives from the same input
(``replay_oracle``).

Only external behaviour is used: the CLI (``ticket-slo topics``, ``worker``, ``replay``),
its environment, the topics, the group's committed offsets and ``/metrics`` (the workers'
logs only fill the failure message).

Environment: ``METRICS_ONCE_SEED`` repeats a backlog (default: a new seed each run, printed
with the results and in a failure message); ``METRICS_ONCE_STAGGER``: the seconds between
the launches of worker A and worker B; ``METRICS_ONCE_THROTTLE=0`` runs worker A at full
speed (on an idle machine the run then fails as one without a rebalance during the
backlog); ``METRICS_ONCE_THROTTLE_AT_LEAST``: keep A slowed at least this many seconds
(default 0: until B owns partitions), so that A's recovery after the rebalance is slow too.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.kafka_io import group_offsets, offsets_at_end
from tests.integration.replay_oracle import output_key, replay_outputs
from tests.integration.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.faults]

PARTITIONS = 4
GRACE = 0.5
#: The workers' TICKET_SLO_SESSION_TIMEOUT: the broker's minimum (group.min.session.timeout.ms, 6 s by
#: default; a shorter one fails the join), which makes the heartbeat 2 s (agents/app.py).
DEFAULT_SESSION_TIMEOUT = "6"
#: The workers' TICKET_SLO_MAX_BATCH: the whole backlog fits one batch of the default 2,000,
#: which a worker applies before any rebalance can reach it; in batches of 2 the throttled
#: worker A is still working through it when worker B joins.
MAX_BATCH = "2"
POLICY = """
plans:
  default:
    warn_at: [0.5]
    objectives:
      first_response: {P1: 10s, P2: 30s, P3: 1h, P4: 1h}
"""
TARGETS = {"P1": 10.0, "P2": 30.0, "P3": 3600.0, "P4": 3600.0}
PRIORITY_WEIGHTS = {"P1": 0.35, "P2": 0.25, "P3": 0.25, "P4": 0.15}
TICKETS = 330
MIN_RECORDS, MAX_RECORDS = 950, 1300
#: Event time: tickets open in [0, OPENING_SPAN]; every event lies in [0, EVENT_SPAN], whose end
#: is 3 s before publication. Every P1 and P2 deadline (at most OPENING_SPAN + 30) lies before it.
OPENING_SPAN = 110.0
EVENT_SPAN = 150.0
#: An answer published late arrives this long after its deadline at least (beyond the grace), just
#: after a record of its own ticket, so that the live worker and replay both breach, then retract.
LATE_BY = GRACE + 2.5
DEFAULT_STAGGER = 1.5
START_LIMIT = 90.0
#: After worker B's launch: give up after this long; the topics count as quiet after QUIET s.
FINISH_LIMIT = 75.0
QUIET = 4.0
#: Once both workers are ready: nothing at all changed for this long (outputs, offsets) ends the wait.
STALLED = 15.0
READY = "[^Worker]: Ready"
OUTPUT_TOPICS = ("ticket-slo-breaches", "ticket-slo-outcomes", "ticket-slo-warnings", "ticket-events-dlq")
#: Counter families read from /metrics (sample names).
OUTCOMES = "ticket_slo_outcomes_total"
BREACHES = "ticket_slo_breaches_total"
RETRACTIONS = "ticket_slo_breach_retractions_total"
AT_RISK = "ticket_slo_at_risk_total"
INVALID = "ticket_slo_events_invalid_total"
EVENTS = "ticket_slo_events_total"
DUPLICATES = "ticket_slo_events_duplicate_total"
CLOCKS = "ticket_slo_clocks_started_total"
OWNED = "ticket_slo_owned_partitions"
SCRAPED = (OUTCOMES, BREACHES, RETRACTIONS, AT_RISK, INVALID, EVENTS, DUPLICATES, CLOCKS, OWNED)


@dataclass
class Record:
    timestamp: float  # Kafka timestamp = occurred_at (epoch seconds)
    ticket: str
    value: bytes


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _backlog(seed: int, now: float) -> tuple[list[Record], Counter[str]]:
    """Ticket lifecycles in publication order; the last event 3 s before ``now``."""
    rng = random.Random(seed)
    drafts: list[tuple[float, float, str, dict[str, Any]]] = []  # (publish at, occurred at, ticket, fields)
    counts: Counter[str] = Counter()
    for index in range(TICKETS):
        ticket = f"M{index:04d}"
        events: list[tuple[float, float, dict[str, Any]]] = []
        serial = iter(range(1, 100))

        def add(kind: str, occurred: float, publish_at: float | None = None, **fields: Any) -> None:
            events.append((occurred if publish_at is None else publish_at, occurred,
                           {"event_id": f"{ticket}-{next(serial)}", "type": kind, "ticket_id": ticket, **fields}))

        opened = rng.uniform(0.0, OPENING_SPAN)
        priority = rng.choices(list(PRIORITY_WEIGHTS), weights=list(PRIORITY_WEIGHTS.values()))[0]
        add("ticket.opened", opened, priority=priority, customer_id=f"C{rng.randrange(60):02d}",
            title=f"metrics ticket {index}")
        first_after = opened + 0.1  # the first response comes after this
        changed = False
        if rng.random() < 0.08:  # a priority change before the deadline it changes
            latest = min(opened + TARGETS[priority], EVENT_SPAN) - 0.3
            if latest > opened + 0.2:
                at = rng.uniform(opened + 0.2, latest)
                priority = rng.choice([p for p in TARGETS if p != priority])
                add("ticket.priority_changed", at, priority=priority)
                first_after, changed = at + 0.1, True
                counts["priority changes"] += 1
        deadline = opened + TARGETS[priority]
        if rng.random() < 0.3:
            add("ticket.assigned", rng.uniform(opened + 0.05, EVENT_SPAN), assignee=f"agent-{rng.randrange(20)}")
        in_time_until = min(deadline - 0.2, EVENT_SPAN)
        in_time = in_time_until > first_after
        late_possible = deadline + 1.0 < EVENT_SPAN and max(first_after, deadline + 1.0) < EVENT_SPAN
        fate = rng.random()
        answered: float | None
        if fate < 0.45 and in_time:  # acknowledged in time
            answered = rng.uniform(first_after, in_time_until)
            add("ticket.acknowledged", answered, by=f"agent-{rng.randrange(20)}")
            counts["acknowledged in time"] += 1
        elif fate < 0.57 and in_time and not changed and deadline + LATE_BY + 4 < EVENT_SPAN:
            # acknowledged in time, but published after the deadline: a breach, then its retraction
            answered = rng.uniform(first_after, deadline - 0.2)
            arrives = deadline + rng.uniform(LATE_BY, LATE_BY + 4)
            # The ticket's own record just before it, well past the deadline: its partition's clock
            # passes the deadline before the answer comes, however sparse the partition is (replay's
            # clock, one for the whole file, would pass it anyway).
            add("ticket.assigned", arrives - rng.uniform(0.3, 1.0), assignee=f"agent-{rng.randrange(20)}")
            add("ticket.acknowledged", answered, publish_at=arrives, by=f"agent-{rng.randrange(20)}")
            answered = arrives
            counts["answers published late"] += 1
        elif fate < 0.75 and late_possible:  # acknowledged late
            answered = rng.uniform(max(first_after, deadline + 1.0), min(deadline + TARGETS[priority], EVENT_SPAN))
            add("ticket.acknowledged", answered, by=f"agent-{rng.randrange(20)}")
            counts["acknowledged late"] += 1
        elif fate < 0.84:  # resolved without an acknowledgement
            answered = rng.uniform(first_after, min(deadline + TARGETS[priority], EVENT_SPAN))
            add("ticket.resolved", answered)
            if rng.random() < 0.8 and answered + 1.0 < EVENT_SPAN:
                add("ticket.closed", rng.uniform(answered + 0.5, EVENT_SPAN))
            answered = None
            counts["resolved unanswered"] += 1
        elif fate < 0.91:  # closed without an answer
            add("ticket.closed", rng.uniform(first_after, min(deadline + TARGETS[priority], EVENT_SPAN)))
            answered = None
            counts["closed unanswered"] += 1
        else:
            answered = None
            counts["never answered"] += 1
        if answered is not None and rng.random() < 0.7 and answered + 1.5 < EVENT_SPAN:
            resolved = rng.uniform(answered + 0.5, EVENT_SPAN - 0.5)
            add("ticket.resolved", resolved)
            if rng.random() < 0.8:
                add("ticket.closed", rng.uniform(resolved + 0.2, EVENT_SPAN))
        events.sort(key=lambda event: event[0])
        for publish_at, occurred, body in events:
            drafts.append((publish_at, occurred, ticket, body))
            if rng.random() < 0.03:  # redelivered by the upstream helpdesk, a little later
                drafts.append((min(publish_at + rng.uniform(0.2, 20.0), EVENT_SPAN), occurred, ticket, body))
                counts["upstream duplicates"] += 1

    drafts.sort(key=lambda draft: draft[0])
    shift = now - 3.0 - EVENT_SPAN
    records = [Record(occurred + shift, ticket, json.dumps({**body, "occurred_at": _rfc3339(occurred + shift)}).encode())
               for _publish_at, occurred, ticket, body in drafts]
    counts["tickets"] = TICKETS
    return records, counts


def _create_topics(worker: WorkerProcess) -> None:
    """The pipeline's topics, created by ``ticket-slo topics`` with the workers' settings."""
    created = subprocess.run([sys.executable, "-m", "ticket_slo.agents.cli", "topics"], env=worker.env,
                             capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, f"ticket-slo topics failed ({created.returncode}): {created.stderr}"


def _publish(bootstrap: str, topic: str, records: list[Record]) -> None:
    """In order, each with its Kafka timestamp; wait until the broker has every one."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                             max_in_flight_requests_per_connection=1)
    try:
        futures = [producer.send(topic, key=r.ticket.encode(), value=r.value, timestamp_ms=round(r.timestamp * 1000))
                   for r in records]
        producer.flush()
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close()


class _Outputs:
    """Every record of the output and dead-letter topics so far, read incrementally from the start."""

    def __init__(self, bootstrap: str, worker: WorkerProcess) -> None:
        self.topics = {worker.topic(name): name for name in OUTPUT_TOPICS}
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                       auto_offset_reset="earliest")
        self._consumer.assign([TopicPartition(t, p) for t in self.topics for p in range(PARTITIONS)])
        self.records: dict[str, list[dict[str, Any]]] = {name: [] for name in OUTPUT_TOPICS}

    def read(self, seconds: float) -> int:
        """Read for ``seconds``; return how many records came."""
        came = 0
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            for tp, batch in self._consumer.poll(timeout_ms=300).items():
                self.records[self.topics[tp.topic]].extend(json.loads(r.value) for r in batch)
                came += len(batch)
        return came

    def close(self) -> None:
        self._consumer.close()


def _scrape(worker: WorkerProcess, timeout: float = 10.0) -> dict[str, Counter[tuple[tuple[str, str], ...]]]:
    """The worker's counters of ``SCRAPED``: sample name → label set → value."""
    with urllib.request.urlopen(worker.metrics_url, timeout=timeout) as response:
        text = response.read().decode()
    values: dict[str, Counter[tuple[tuple[str, str], ...]]] = {name: Counter() for name in SCRAPED}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in values:
                values[sample.name][tuple(sorted(sample.labels.items()))] += sample.value
    return values


def _total(scrape: dict[str, Counter[Any]], name: str) -> int:
    return round(sum(scrape[name].values()))


def _by_labels(scrape: dict[str, Counter[Any]], name: str, keep: tuple[str, ...]) -> Counter[tuple[str, ...]]:
    """``name``'s values summed over every label but ``keep``."""
    out: Counter[tuple[str, ...]] = Counter()
    for labels, value in scrape[name].items():
        as_dict = dict(labels)
        out[tuple(as_dict.get(label, "") for label in keep)] += round(value)
    return +out


class _Throttle:
    """Slows worker A as a loaded machine would, from its first event until worker B owns partitions.

    On an idle machine a worker applies this backlog in about a second, before its first
    heartbeat (2 s) can even learn of worker B's join, so the partitions would only move
    once the backlog is done. Here A's process group is stopped (SIGSTOP) and continued
    (SIGCONT) in turns, running ``RUNNING`` of every ``RUNNING + STOPPED`` seconds (far
    below the session timeout), so that the rebalance comes while A is still working.
    Both moments are read from ``/metrics``: the start when A has applied an event, the end
    when B owns a partition (the group has rebalanced; A had revoked before). Then A runs
    freely again, unless ``at_least`` seconds of throttling are asked for.
    """

    RUNNING, STOPPED, LIMIT = 0.02, 0.18, 40.0

    def __init__(self, worker: WorkerProcess, joiner: WorkerProcess, enabled: bool = True,
                 at_least: float = 0.0) -> None:
        self.worker, self.joiner = worker, joiner
        self.enabled = enabled
        self.at_least = at_least
        self.started_at: float | None = None  # wall time when A had applied its first event
        self.released_at: float | None = None  # wall time when A runs freely again
        self.applied_when_joined: int | None = None  # A's ticket_slo_events_total when B first owned partitions
        self.why = "not started"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="throttle-worker-a", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._signal(signal.SIGCONT)

    def _signal(self, number: int) -> None:
        process = self.worker.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, number)
            except ProcessLookupError:
                pass

    def _run(self) -> None:
        deadline = time.monotonic() + START_LIMIT
        if not self.enabled:
            self.why = "throttle off"
            while not self._stop.is_set() and time.monotonic() < deadline and not self._joiner_owns():
                time.sleep(0.05)
            self.started_at = self.released_at = time.time()
            self._note_applied()
            return
        while not self._applied_any():
            if self._stop.is_set() or time.monotonic() > deadline:
                self.why = f"worker A applied no event within {START_LIMIT:.0f} s"
                self.released_at = time.time()
                return
            time.sleep(0.01)
        self.started_at = time.time()
        self.why = f"worker B owned no partition after {self.LIMIT:.0f} s"
        until = time.monotonic() + self.LIMIT
        try:
            while not self._stop.is_set() and time.monotonic() < until:
                self._signal(signal.SIGSTOP)
                stopped = time.monotonic()
                if self.applied_when_joined is None and self._joiner_owns():
                    self._signal(signal.SIGCONT)
                    self._note_applied()  # A has run for a few milliseconds at most since it was stopped
                    self._signal(signal.SIGSTOP)
                if self.applied_when_joined is not None and time.time() - self.started_at >= self.at_least:
                    self.why = "worker B owns partitions"
                    break
                time.sleep(max(0.0, self.STOPPED - (time.monotonic() - stopped)))
                self._signal(signal.SIGCONT)
                time.sleep(self.RUNNING)
        finally:
            self._signal(signal.SIGCONT)
            self.released_at = time.time()

    def _note_applied(self) -> None:
        try:
            self.applied_when_joined = _total(_scrape(self.worker, timeout=5.0), EVENTS)
        except OSError:
            pass

    def _applied_any(self) -> bool:
        try:
            scrape = _scrape(self.worker, timeout=1.0)
        except OSError:  # not serving /metrics yet
            return False
        return _total(scrape, EVENTS) + _total(scrape, DUPLICATES) > 0

    def _joiner_owns(self) -> bool:
        try:
            return _total(_scrape(self.joiner, timeout=0.5), OWNED) > 0
        except OSError:
            return False


def _log_digest(worker: WorkerProcess, name: str, launched: float, until: float) -> str:
    """When the worker joined which generation, got which partitions, built engines, up to the scrape.

    In seconds after A's launch; what follows the scrape (the workers' shutdown) is left out.
    """
    moments = []
    lines = worker.log().splitlines()
    for number, line in enumerate(lines):
        stamp = _log_time(line)
        if stamp is None:
            continue
        if stamp > until:
            break
        if "Joined group" in line and "generation" in line:
            moments.append(f"{stamp - launched:.1f} s gen {line.split('generation ')[1].split(')')[0]}")
        elif "Setting newly assigned partitions" in line:
            owned = next((row.split("|")[2].strip() for row in lines[number:number + 8]
                          if "ticket-events " in row), "?")
            moments.append(f"{stamp - launched:.1f} s ticket-events {owned}")
        elif "engine built" in line:
            moments.append(f"{stamp - launched:.1f} s engine p{line.split('partition ')[1].split(':')[0]}")
        elif "input from offset" in line:
            moments.append(f"{stamp - launched:.1f} s p{line.split('partition ')[1].strip()}")
    return f"worker {name} ({worker.log_path.name}): " + ("; ".join(moments) or "nothing logged")


def _since(moment: float | None, origin: float) -> str:
    return "never" if moment is None else f"{moment - origin:.1f} s"


def _log_time(line: str) -> float | None:
    """The wall time of a Faust log line (``[2026-11-30 14:07:30,776] ...``) or of ours (no brackets)."""
    text = line.lstrip("[")[:23]
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    except ValueError:
        return None


def test_counters_summed_over_workers_equal_the_distinct_outputs(kafka_bootstrap: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("METRICS_ONCE_SEED") or random.SystemRandom().randrange(10**9))
    stagger = float(os.environ.get("METRICS_ONCE_STAGGER", DEFAULT_STAGGER))
    began = time.monotonic()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {"TICKET_SLO_POLICY": str(policy), "TICKET_SLO_BREACH_GRACE": str(GRACE),
           "TICKET_SLO_SESSION_TIMEOUT": os.environ.get("METRICS_ONCE_SESSION_TIMEOUT", DEFAULT_SESSION_TIMEOUT),
           "TICKET_SLO_MAX_BATCH": MAX_BATCH}
    worker_a = WorkerProcess(kafka_bootstrap, tmp_path, extra_env=env, partitions=PARTITIONS, log_name="worker-a.log")
    worker_b = WorkerProcess(kafka_bootstrap, tmp_path, prefix=worker_a.prefix, extra_env=env, partitions=PARTITIONS,
                             log_name="worker-b.log")
    group, events_topic = worker_a.env["TICKET_SLO_APP_ID"], worker_a.topic("ticket-events")

    _create_topics(worker_a)
    records, counts = _backlog(seed, time.time())
    _publish(kafka_bootstrap, events_topic, records)
    published_at = time.time()
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"".join(r.value + b"\n" for r in records))
    prepared = time.monotonic()

    outputs: _Outputs | None = None
    offsets: dict[int, tuple[int | None, int]] = {}
    scrapes: dict[str, dict[str, Counter[Any]]] = {}
    throttle = _Throttle(worker_a, worker_b, os.environ.get("METRICS_ONCE_THROTTLE", "1") != "0",
                         float(os.environ.get("METRICS_ONCE_THROTTLE_AT_LEAST", "0")))
    a_launched = time.time()
    try:
        worker_a.launch()
        throttle.start()
        time.sleep(stagger)  # where worker B starts; not an assertion
        worker_b.launch()
        launched = time.monotonic()
        outputs = _Outputs(kafka_bootstrap, worker_a)
        last_change, last_state = time.monotonic(), None
        while True:
            outputs.read(1.0)
            for worker in (worker_a, worker_b):
                if worker.process is not None and worker.process.poll() is not None:
                    raise AssertionError(f"worker exited with {worker.process.returncode}:\n{worker.log()[-4000:]}")
            if throttle.released_at is not None:
                throttle.release()
            offsets = group_offsets(kafka_bootstrap, group, events_topic, PARTITIONS)
            state = (tuple(len(v) for v in outputs.records.values()), tuple(sorted(offsets.items())))
            if state != last_state:
                last_change, last_state = time.monotonic(), state
            quiet = time.monotonic() - last_change
            both_ready = all(READY in w.log() for w in (worker_a, worker_b))
            if both_ready and throttle.released_at is not None and offsets_at_end(offsets) and quiet >= QUIET:
                break
            if time.monotonic() - launched > FINISH_LIMIT or (both_ready and quiet >= STALLED):
                break
        throttle.release()
        outputs.read(1.0)  # anything still in flight
        finished = time.monotonic()
        scrapes = {"A": _scrape(worker_a), "B": _scrape(worker_b)}
        scraped_at = time.time()
    finally:
        throttle.release()
        if outputs is not None:
            outputs.close()
        for worker in (worker_a, worker_b):
            worker.stop()
    expected = replay_outputs(events_file, policy, published_at + 60)
    for worker in (worker_a, worker_b):
        worker.cleanup()

    topic = outputs.records
    distinct_outcomes = {output_key(r): r for r in topic["ticket-slo-outcomes"] if r["type"] == "slo.completed"}
    distinct_breaches = {r["breach_id"]: r for r in topic["ticket-slo-breaches"] if r["type"] == "slo.breached"}
    distinct_retractions = {r["breach_id"]: r for r in topic["ticket-slo-breaches"]
                            if r["type"] == "slo.breach_retracted"}
    live_keys = {output_key(r) for r in [*topic["ticket-slo-outcomes"], *topic["ticket-slo-breaches"]]}
    expected_keys = {output_key(r) for r in expected}
    missing, invented = expected_keys - live_keys, live_keys - expected_keys

    def summed(name: str) -> int:
        return sum(_total(scrape, name) for scrape in scrapes.values())

    def per_worker(name: str) -> str:
        return ", ".join(f"worker {w} {_total(scrape, name)}" for w, scrape in scrapes.items())

    distinct_events = len(records) - counts["upstream duplicates"]
    records_on_topics = sum(len(v) for v in topic.values())
    counted = sum(summed(name) for name in (BREACHES, RETRACTIONS, OUTCOMES, AT_RISK, INVALID))
    offsets_line = ", ".join(f"p{p}: {c}/{e}" for p, (c, e) in sorted(offsets.items()))
    expected_kinds = Counter(key[0] for key in expected_keys)
    summary = "\n".join([
        f"metrics-once test, seed {seed} (METRICS_ONCE_SEED={seed} repeats the backlog), "
        f"worker B launched {stagger:.1f} s after worker A",
        f"input: {len(records)} records on {PARTITIONS} partitions: "
        + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())),
        f"expected (replay): {len(expected_keys)}: " + ", ".join(f"{n} {k}" for k, n in sorted(expected_kinds.items())),
        "on the topics: " + ", ".join(f"{name} {len(v)} records" for name, v in topic.items())
        + f"; distinct: {len(distinct_outcomes)} outcomes, {len(distinct_breaches)} breaches, "
        f"{len(distinct_retractions)} retractions",
        *(f"{name}: sum {summed(name)} ({per_worker(name)})" for name in
          (OUTCOMES, BREACHES, RETRACTIONS, AT_RISK, INVALID, EVENTS, DUPLICATES, CLOCKS, OWNED)),
        f"group {group} committed/end offsets of ticket-events: {offsets_line}",
        f"worker A throttled from {_since(throttle.started_at, a_launched)} to {_since(throttle.released_at, a_launched)} "
        f"after its launch ({throttle.why}); when B first owned partitions, A had applied "
        f"{throttle.applied_when_joined} of {distinct_events} events",
        _log_digest(worker_a, "A", a_launched, scraped_at), _log_digest(worker_b, "B", a_launched, scraped_at),
        f"durations: topics and publish {prepared - began:.0f} s, workers to quiet outputs {finished - prepared:.0f} s, "
        f"total {time.monotonic() - began:.0f} s",
    ])

    problems = []
    for name, worker in (("A", worker_a), ("B", worker_b)):
        if READY not in worker.log():
            problems.append(f"worker {name} never logged {READY!r} (see its log)")
    # The scenario itself: A had applied some of the backlog's events, not all, when B took partitions.
    if not (throttle.applied_when_joined and throttle.applied_when_joined < distinct_events):
        problems.append(f"the group did not rebalance while worker A worked through the backlog: A had applied "
                        f"{throttle.applied_when_joined} of its {distinct_events} events when B first owned "
                        f"partitions (throttle: {throttle.why}), so this run checked no rebalance during a backlog")
    if not MIN_RECORDS <= len(records) <= MAX_RECORDS:
        problems.append(f"the backlog has {len(records)} records, not {MIN_RECORDS}-{MAX_RECORDS}")
    if not offsets_at_end(offsets):
        problems.append(f"the group's committed offsets of ticket-events did not reach the end within "
                        f"{FINISH_LIMIT:.0f} s: {offsets_line}")
    owned = {w: _total(scrape, OWNED) for w, scrape in scrapes.items()}
    if sum(owned.values()) != PARTITIONS or min(owned.values()) == 0:
        problems.append(f"the two workers do not share the {PARTITIONS} partitions after the rebalance: "
                        + ", ".join(f"worker {w} owns {n}" for w, n in owned.items()))
    # The counters of first publications against the distinct outputs on the topics.
    for name, distinct in ((OUTCOMES, len(distinct_outcomes)), (BREACHES, len(distinct_breaches)),
                           (RETRACTIONS, len(distinct_retractions))):
        if summed(name) != distinct:
            problems.append(f"{name} summed over both workers: expected {distinct} (distinct on the topic), "
                            f"got {summed(name)} ({per_worker(name)})")
    # What the outputs come from, counted once too: each distinct event applied once, each ticket's clock
    # started once (every ticket opens once, on a plan with the objective).
    for name, distinct, what in ((EVENTS, distinct_events, "distinct events in the backlog"),
                                 (CLOCKS, TICKETS, "tickets opened")):
        if summed(name) != distinct:
            problems.append(f"{name} summed over both workers: expected {distinct} ({what}), "
                            f"got {summed(name)} ({per_worker(name)})")
    by_result = Counter((r["priority"], "met" if r["met"] else "breached") for r in distinct_outcomes.values())
    counted_by_result = sum((_by_labels(scrape, OUTCOMES, ("priority", "result")) for scrape in scrapes.values()),
                            Counter())
    if +counted_by_result != +by_result and summed(OUTCOMES) == len(distinct_outcomes):
        problems.append(f"{OUTCOMES} by (priority, result): expected {dict(sorted(by_result.items()))}, "
                        f"got {dict(sorted(counted_by_result.items()))}")
    # Every record on the output topics counted once: nothing is published twice across a rebalance.
    if counted != records_on_topics:
        problems.append(f"records on the output and dead-letter topics: {records_on_topics}, but "
                        f"breaches + retractions + outcomes + at-risk + dead letters counted "
                        f"{counted} over both workers ("
                        + "; ".join(f"worker {w}: " + ", ".join(f"{n} {_total(s, n)}" for n in
                                    (BREACHES, RETRACTIONS, OUTCOMES, AT_RISK, INVALID))
                                    for w, s in scrapes.items()) + ")")
    # The outputs themselves: what replay derives from the same input, nothing else.
    if missing:
        problems.append(f"{len(missing)} of {len(expected_keys)} outputs that replay derives never arrived, "
                        f"e.g. {sorted(missing)[:5]}")
    if invented:
        problems.append(f"{len(invented)} outputs that replay does not derive, e.g. {sorted(invented)[:5]}")
    if problems:
        pytest.fail("\n".join([*problems, "", summary, f"worker logs: {worker_a.log_path}, {worker_b.log_path}"]),
                    pytrace=False)
    print("\n" + summary)
