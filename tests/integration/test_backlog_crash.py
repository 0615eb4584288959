"""Crash during a backlog: kill -9 the worker while it works through what piled up in an outage.

Before the outage the pipeline runs with no input yet (its topics exist, its group has
joined, no offset of ``ticket-events`` is committed); then it stops. While no
worker runs, 3,600 tickets' events are published: more than 10,000 records on 4
partitions (openings, priority changes, assignments, acknowledgements, resolutions and
closes; duplicates redelivered, openings and answers published out of order, a few
invalid records), each record's Kafka timestamp equal to its ``occurred_at``, all of it
in the last few minutes, so that under the seconds-scale policy most timers have expired
by the time a worker starts. Then a worker is started and killed with SIGKILL at seeded
random moments, each time restarted at once: the first kill while it works through the
backlog before the group's first commit of ``ticket-events`` (0.5-3 s after its first
``engine built`` line), one while a restarted worker reads its state back (0-0.2 s after
its ``reading the state of partitions`` line), the others at random 0.5-6 s after ``Ready``.
The last worker is left to finish.

What must hold, as after any crash: every breach, retraction and outcome that
``ticket-slo replay`` derives from the same input arrives on the output topics, and
nothing else does; every invalid record is a dead letter; the group's committed offsets
of ``ticket-events`` reach the end of every partition.

Written for a loss seen on the earlier live path (a successor worker that skipped the
backlog its predecessor had not committed; restarts that stalled); on the current one the
input position is stored with the state, so the group's offsets no longer decide where a
restarted worker reads. It runs in ``make test`` and ``make test-faults`` like the other
fault tests.

Environment:

- ``BACKLOG_CRASH_SEED``: the seed of the backlog and of the kill moments (default: a new
  one each run, printed with the results and in every failure message);
- ``BACKLOG_CRASH_KILLS``: how many kills (default 4; ``0`` runs the same backlog without a
  crash, which must pass);
- ``BACKLOG_CRASH_SESSION_TIMEOUT``: the workers' ``TICKET_SLO_SESSION_TIMEOUT`` (default
  6 s; the product's default, 30 s, makes each restart wait that long for the killed member);
- ``BACKLOG_CRASH_EVIDENCE``: a directory where a failing run leaves its worker logs, its
  input and a summary (default: only the test's temporary directory, named in the message).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tests.integration.kafka_io import group_offsets, offsets_at_end
from tests.integration.replay_oracle import output_content, output_key, replay_outputs
from tests.integration.worker_process import WorkerProcess
from ticket_slo.streams.bench.processes import READY_MARKER

pytestmark = [pytest.mark.integration, pytest.mark.faults]

POLICY = """
plans:
  default:
    warn_at: [0.5]
    objectives:
      first_response: {P1: 5s, P2: 10s, P3: 20s, P4: 40s}
"""
TARGETS = {"P1": 5.0, "P2": 10.0, "P3": 20.0, "P4": 40.0}
PRIORITY_WEIGHTS = {"P1": 0.15, "P2": 0.35, "P3": 0.30, "P4": 0.20}
PARTITIONS = 4
TICKETS = 3600
MIN_RECORDS = 10_000
#: Tickets open over this much event time; the last event lies a few seconds before publication.
OPENING_SPAN = 150.0
GRACE = 0.5
#: An answer published late comes this long after its deadline at least: beyond the grace and
#: any gap between two records of a partition, so that live and replay both see the breach first.
LATE_BY = GRACE + 2.5
DEFAULT_KILLS = 4
#: How long the pipeline runs, with no input yet, before the outage: past the first commit interval.
PIPELINE_BEFORE_OUTAGE = 4.0
#: Log lines of the moments to kill at.
ENGINE_BUILT = "engine built"
RESTORING = "reading the state of partitions"
RECOVERY_COMPLETE = "Recovery complete"
START_LIMIT = 90.0
#: After the last restart: give up after this long, or after this long without any progress.
FINISH_LIMIT = 150.0
QUIET_LIMIT = 40.0
#: Worker log lines worth showing in a failure message.
TELLING = ("input from offset", "engine built", "reading the state", "state read from", "Recovery complete",
           READY_MARKER, "processed:", "Traceback", "Error")


@dataclass
class Record:
    """One input record: where it goes in the publication order, and what it is."""

    publish_at: float  # its place in the publication order (epoch seconds)
    timestamp: float  # the Kafka timestamp: occurred_at (for an invalid record, when it was produced)
    ticket: str
    value: bytes
    invalid: bool = False
    partition: int = -1  # known once published
    offset: int = -1


@dataclass
class Backlog:
    records: list[Record]
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def last_due(self) -> float:
        """When the last deadline anywhere is due (generous: the largest target after the last event)."""
        return max(r.timestamp for r in self.records) + max(TARGETS.values())


def _backlog(seed: int, now: float) -> Backlog:
    """Realistic lifecycles; published in ``publish_at`` order; the last record 3 s before ``now``."""
    rng = random.Random(seed)
    # (publish at, occurred at, ticket, event fields, or the shape of an invalid record), in event-time
    # seconds from the first opening; moved to end 3 s before ``now`` once the last is known.
    drafts: list[tuple[float, float, str, dict[str, Any] | int]] = []
    counts: Counter[str] = Counter()

    for index in range(TICKETS):
        ticket = f"B{index:05d}"
        events: list[tuple[float, float, dict[str, Any]]] = []  # (publish at, occurred at, fields)
        serial = iter(range(1, 100))

        def add(kind: str, occurred: float, publish_at: float | None = None, **fields: Any) -> None:
            events.append((occurred if publish_at is None else publish_at, occurred,
                           {"event_id": f"{ticket}-{next(serial)}", "type": kind, "ticket_id": ticket, **fields}))

        opened = rng.uniform(0.0, OPENING_SPAN)
        priority = rng.choices(list(PRIORITY_WEIGHTS), weights=list(PRIORITY_WEIGHTS.values()))[0]
        add("ticket.opened", opened, priority=priority, customer_id=f"C{rng.randrange(300):03d}",
            title=f"backlog ticket {index}")
        first_after = opened + 0.1  # a first response comes after this
        if rng.random() < 0.08:  # a priority change, in order, before the deadline it changes
            changed = opened + rng.uniform(0.2, TARGETS[priority] - 0.3)
            priority = rng.choice([p for p in TARGETS if p != priority])
            add("ticket.priority_changed", changed, priority=priority)
            first_after = changed + 0.1
            counts["priority changes"] += 1
        target = TARGETS[priority]
        deadline = opened + target
        if rng.random() < 0.3:
            add("ticket.assigned", opened + rng.uniform(0.05, target * 1.5), assignee=f"agent-{rng.randrange(40)}")
        in_time = deadline - 0.2 > first_after
        fate = rng.random()
        if fate < 0.45 and in_time:  # acknowledged in time
            answered = rng.uniform(first_after, deadline - 0.2)
            add("ticket.acknowledged", answered, by=f"agent-{rng.randrange(40)}")
        elif fate < 0.55 and in_time and not _priority_changed(events) and deadline + LATE_BY + 4 < OPENING_SPAN:
            # acknowledged in time, but the event arrives after the deadline (a breach, then its retraction)
            answered = rng.uniform(first_after, deadline - 0.2)
            arrives = deadline + rng.uniform(LATE_BY, LATE_BY + 4)
            add("ticket.acknowledged", answered, publish_at=arrives, by=f"agent-{rng.randrange(40)}")
            answered = arrives  # what follows it happens after it arrived
            counts["answers published late"] += 1
        elif fate < 0.72:  # acknowledged late
            answered = max(first_after, deadline + rng.uniform(0.5, target))
            add("ticket.acknowledged", answered, by=f"agent-{rng.randrange(40)}")
        elif fate < 0.82:  # resolved without an acknowledgement, in time or not
            answered = rng.uniform(first_after, deadline + target)
            add("ticket.resolved", answered)
            if rng.random() < 0.8:
                add("ticket.closed", answered + rng.uniform(1.0, 15.0))
            answered = None
        elif fate < 0.90:  # closed without an answer (a stop too)
            add("ticket.closed", rng.uniform(first_after, deadline + target))
            answered = None
        else:  # never answered
            answered = None
        if answered is not None and rng.random() < 0.7:
            resolved = answered + rng.uniform(1.0, 30.0)
            add("ticket.resolved", resolved)
            if rng.random() < 0.8:
                add("ticket.closed", resolved + rng.uniform(1.0, 15.0))
        events.sort(key=lambda event: event[0])
        if len(events) > 1 and rng.random() < 0.03:  # the opening arrives after the ticket's next event
            publish_at, occurred, body = events[0]
            events[0] = (events[1][0] + rng.uniform(0.05, 1.5), occurred, body)
            counts["openings published late"] += 1
        for publish_at, occurred, body in events:
            drafts.append((publish_at, occurred, ticket, body))
            if rng.random() < 0.03:  # redelivered by the upstream helpdesk, later
                drafts.append((publish_at + rng.uniform(0.2, 20.0), occurred, ticket, body))
                counts["duplicates"] += 1
        if index % 90 == 45:  # a few invalid records, of every kind the validator knows
            at = opened + rng.uniform(0.0, 5.0)
            drafts.append((at, at, ticket, index // 90))
            counts["invalid"] += 1

    drafts.sort(key=lambda draft: draft[0])
    shift = now - 3.0 - drafts[-1][0]
    records = []
    for publish_at, occurred, ticket, body in drafts:
        at = occurred + shift
        if isinstance(body, int):
            records.append(Record(publish_at + shift, at, ticket, _invalid(body, ticket, at), invalid=True))
        else:
            value = json.dumps({**body, "occurred_at": _rfc3339(at)}).encode()
            records.append(Record(publish_at + shift, at, ticket, value))
    counts["tickets"] = TICKETS
    counts["records"] = len(records)
    return Backlog(records, counts)


def _priority_changed(events: list[tuple[float, float, dict[str, Any]]]) -> bool:
    """Whether the ticket's priority changed (a late answer then would be judged on a moved deadline)."""
    return any(body["type"] == "ticket.priority_changed" for _, _, body in events)


def _invalid(kind: int, ticket: str, at: float) -> bytes:
    naive = datetime.fromtimestamp(at, timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds")
    shapes = [
        b"{not json",
        b"[1, 2, 3]",
        json.dumps({"event_id": f"{ticket}-x", "type": "ticket.teleported", "ticket_id": ticket,
                    "occurred_at": _rfc3339(at)}).encode(),
        json.dumps({"event_id": f"{ticket}-x", "type": "ticket.opened", "ticket_id": ticket,
                    "priority": "P9", "customer_id": "C000", "occurred_at": _rfc3339(at)}).encode(),
        json.dumps({"event_id": f"{ticket}-x", "type": "ticket.acknowledged", "ticket_id": ticket,
                    "occurred_at": naive}).encode(),
    ]
    return shapes[kind % len(shapes)]


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _publish(bootstrap: str, topic: str, records: list[Record]) -> None:
    """All at once, in order, each with its Kafka timestamp; learn every record's partition and offset."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_in_flight_requests_per_connection=1)
    try:
        futures = [producer.send(topic, key=r.ticket.encode(), value=r.value, timestamp_ms=round(r.timestamp * 1000))
                   for r in records]
        producer.flush()
        for record, future in zip(records, futures):
            metadata = future.get(timeout=30)
            record.partition, record.offset = metadata.partition, metadata.offset
    finally:
        producer.close()


class _Outputs:
    """Every record of the output and dead-letter topics so far, read incrementally from the start."""

    def __init__(self, bootstrap: str, worker: WorkerProcess) -> None:
        self.topics = {worker.topic(name): name for name in
                       ("ticket-slo-breaches", "ticket-slo-outcomes", "ticket-events-dlq")}
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                       auto_offset_reset="earliest")
        self._consumer.assign([TopicPartition(t, p) for t in self.topics for p in range(PARTITIONS)])
        self.live: list[dict[str, Any]] = []
        self.dead: list[dict[str, Any]] = []

    def read(self, seconds: float) -> int:
        """Read for ``seconds``; return how many records came."""
        came = 0
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            for tp, batch in self._consumer.poll(timeout_ms=300).items():
                target = self.dead if self.topics[tp.topic] == "ticket-events-dlq" else self.live
                target.extend(json.loads(r.value) for r in batch)
                came += len(batch)
        return came

    def close(self) -> None:
        self._consumer.close()


@dataclass
class Kill:
    number: int
    log: str  # the log file of the worker killed
    kind: str
    at: float  # seconds after the launch of the worker killed
    saw: str  # the log line it was killed at, or what was waited for
    recovered: bool  # whether that worker had logged "Recovery complete"
    committed: dict[int, tuple[int | None, int]]  # the group's offsets of ticket-events right after

    def describe(self) -> str:
        offsets = ", ".join(f"p{p}: {c}/{e}" for p, (c, e) in sorted(self.committed.items()))
        return (f"kill {self.number} ({self.kind}, {self.log}) {self.at:.1f} s after launch, at {self.saw!r}, "
                f"recovery {'complete' if self.recovered else 'not complete'}; committed/end: {offsets}")


def _kill_plan(rng: random.Random, kills: int) -> list[str]:
    """The first kill before the first commit; one during recovery; the others at random."""
    if kills <= 0:
        return []
    rest = ["during_recovery"] + ["random"] * max(0, kills - 2)
    rng.shuffle(rest)
    return (["before_first_commit"] + rest)[:kills]


def _crash(worker: WorkerProcess, number: int, kind: str, rng: random.Random, bootstrap: str) -> Kill:
    """Launch ``worker`` and kill it with SIGKILL at the moment ``kind`` says."""
    launched = time.monotonic()
    worker.launch()
    if kind == "before_first_commit":  # while it works through the backlog, before the group commits
        saw = worker.first_of((ENGINE_BUILT,), START_LIMIT) or f"no {ENGINE_BUILT!r} within {START_LIMIT:.0f} s"
        pause = _until_first_commit(worker, rng.uniform(0.5, 3.0), bootstrap)
        saw += f" + {pause:.1f} s"
    elif kind == "during_recovery":  # right after recovery starts (before Ready, if it comes first: then)
        saw = worker.first_of((RESTORING, READY_MARKER), START_LIMIT) or f"nothing within {START_LIMIT:.0f} s"
        time.sleep(rng.uniform(0.0, 0.2))
    else:
        saw = worker.first_of((READY_MARKER,), START_LIMIT) or f"no {READY_MARKER!r} within {START_LIMIT:.0f} s"
        pause = rng.uniform(0.5, 6.0)
        time.sleep(pause)
        saw += f" + {pause:.1f} s"
    at = time.monotonic() - launched
    worker.kill()
    committed = group_offsets(bootstrap, worker.env["TICKET_SLO_APP_ID"], worker.topic("ticket-events"), PARTITIONS)
    return Kill(number, worker.log_path.name, kind, at, saw, RECOVERY_COMPLETE in worker.log(), committed)


def _until_first_commit(worker: WorkerProcess, longest: float, bootstrap: str) -> float:
    """Wait up to ``longest`` seconds, less if the group commits an offset of ``ticket-events``."""
    began = time.monotonic()
    while time.monotonic() - began < longest:
        offsets = group_offsets(bootstrap, worker.env["TICKET_SLO_APP_ID"], worker.topic("ticket-events"), PARTITIONS)
        if any(committed is not None for committed, _ in offsets.values()):
            break
        time.sleep(0.1)
    return time.monotonic() - began


def _worker_logs(workdir: Path) -> list[Path]:
    """The worker logs of a run, in the order the workers started."""
    return sorted(workdir.glob("worker-*.log"), key=lambda path: int(path.stem.split("-")[1]))


def _keep_evidence(workdir: Path, seed: int, summary: str) -> Path:
    """Copy a failing run's worker logs, input and summary to ``BACKLOG_CRASH_EVIDENCE``; return where they are."""
    keep = os.environ.get("BACKLOG_CRASH_EVIDENCE")
    if not keep:
        return workdir
    evidence = Path(keep) / f"seed-{seed}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    evidence.mkdir(parents=True, exist_ok=True)
    for path in [*_worker_logs(workdir), *workdir.glob("events*.jsonl"), *workdir.glob("policy.yaml")]:
        shutil.copy(path, evidence / path.name)
    (evidence / "summary.txt").write_text(summary + "\n")
    return evidence


def _digest(log_path: Path) -> str:
    """What one worker's log says about its partitions: engines built, where each partition's input started."""
    text = log_path.read_text(errors="replace")
    starts = Counter("live" if line.endswith(": live") else "catching up"
                     for line in (l.rstrip() for l in text.splitlines()) if "input from offset" in line)
    from_none = sum(1 for line in text.splitlines() if "input from offset None" in line)
    return (f"{log_path.name}: {text.count(ENGINE_BUILT)} engines built; partitions started "
            + (", ".join(f"{n} {how}" for how, n in sorted(starts.items())) or "none")
            + f" ({from_none} from offset None); {text.count('No event received')} 'No event received'; "
            + ("ready" if READY_MARKER in text else "never ready"))


def _telling_lines(log_path: Path, limit: int = 14) -> str:
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if any(t in line for t in TELLING)]
    return "\n".join("    " + line[:220] for line in lines[-limit:])


def _by(keys: set[tuple[Any, ...]], partition_of: dict[str, int], tickets: dict[str, str]) -> str:
    kinds = Counter(key[0] for key in keys)
    partitions = Counter(partition_of.get(tickets.get(key[1], key[1]), -1) for key in keys)
    return (", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) + "; by partition: "
            + ", ".join(f"p{p}: {n}" for p, n in sorted(partitions.items())))


def test_backlog_published_while_down_then_crashes_lose_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("BACKLOG_CRASH_SEED") or random.SystemRandom().randrange(10**9))
    kills_wanted = int(os.environ.get("BACKLOG_CRASH_KILLS", DEFAULT_KILLS))
    began = time.monotonic()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {"TICKET_SLO_POLICY": str(policy), "TICKET_SLO_BREACH_GRACE": str(GRACE),
           "TICKET_SLO_SESSION_TIMEOUT": os.environ.get("BACKLOG_CRASH_SESSION_TIMEOUT", "6")}
    incarnation = iter(range(1, 100))

    def new_worker(prefix: str | None) -> WorkerProcess:
        return WorkerProcess(kafka_bootstrap, tmp_path, prefix=prefix, extra_env=env, partitions=PARTITIONS,
                             log_name=f"worker-{next(incarnation)}.log")

    worker = new_worker(None)
    prefix, group, events_topic = worker.prefix, worker.env["TICKET_SLO_APP_ID"], worker.topic("ticket-events")
    # Before the outage the pipeline ran with no input yet: its topics exist, the group has joined
    # and committed clock offsets, none of ticket-events. Then it stops, and the backlog piles up.
    worker.start(START_LIMIT)
    time.sleep(PIPELINE_BEFORE_OUTAGE)
    worker.stop()
    outage = time.monotonic()
    worker = new_worker(prefix)
    backlog = _backlog(seed, time.time())
    records = backlog.records
    _publish(kafka_bootstrap, events_topic, records)
    published = time.monotonic()
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"".join(r.value + b"\n" for r in records))
    expected = replay_outputs(events_file, policy, backlog.last_due + 60)
    expected_keys = {output_key(r) for r in expected}
    partition_of = {r.ticket: r.partition for r in records}
    invalid = {(r.partition, r.offset) for r in records if r.invalid}

    rng = random.Random(seed)
    plan = _kill_plan(rng, kills_wanted)
    kills: list[Kill] = []
    outputs: _Outputs | None = None
    settled_offsets: dict[int, tuple[int | None, int]] = {}
    finish_started = time.monotonic()
    try:
        for number, kind in enumerate(plan, start=1):
            kills.append(_crash(worker, number, kind, rng, kafka_bootstrap))
            worker = new_worker(prefix)  # and restart, at once
        worker.start(START_LIMIT)
        finish_started = time.monotonic()
        outputs = _Outputs(kafka_bootstrap, worker)
        # Left to finish: until everything expected is there, or nothing moves any more.
        last_change, last_state = time.monotonic(), None
        while True:
            outputs.read(2.0)
            settled_offsets = group_offsets(kafka_bootstrap, group, events_topic, PARTITIONS)
            live_keys = {output_key(r) for r in outputs.live}
            letters = {(d["partition"], d["offset"]) for d in outputs.dead}
            if expected_keys <= live_keys and invalid <= letters and offsets_at_end(settled_offsets):
                break
            state = (len(outputs.live), len(outputs.dead), tuple(settled_offsets.items()))
            if state != last_state:
                last_change, last_state = time.monotonic(), state
            waited = time.monotonic() - finish_started
            quiet = time.monotonic() - last_change
            if waited > FINISH_LIMIT or (quiet > QUIET_LIMIT and time.time() > backlog.last_due + GRACE + 5):
                break
        outputs.read(3.0)  # anything surplus still in flight
        settled_offsets = group_offsets(kafka_bootstrap, group, events_topic, PARTITIONS)
    except BaseException:
        worker.cleanup()
        _keep_evidence(tmp_path, seed, f"the run stopped with an exception (seed {seed}); see the test's traceback")
        raise
    finally:
        if outputs is not None:
            outputs.close()
        worker.cleanup()
    finished = time.monotonic()

    live = outputs.live
    live_keys = {output_key(r) for r in live}
    breach_tickets = {r["breach_id"]: r["ticket_id"] for r in [*expected, *live] if "breach_id" in r}
    missing = expected_keys - live_keys
    invented = live_keys - expected_keys
    letters = {(d["partition"], d["offset"]) for d in outputs.dead if d.get("topic", events_topic) == events_topic}
    undelivered_letters = invalid - letters
    differing = set()
    first_of_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in live:
        first = first_of_key.setdefault(output_key(record), record)
        if output_content(first) != output_content(record):
            differing.add(output_key(record))

    logs = _worker_logs(tmp_path)
    offsets_line = ", ".join(f"p{p}: {c}/{e}" for p, (c, e) in sorted(settled_offsets.items()))
    expected_kinds = Counter(key[0] for key in expected_keys)
    summary = "\n".join([
        f"backlog crash test, seed {seed} (BACKLOG_CRASH_SEED={seed} repeats the backlog and the kill plan)",
        f"input: {len(records)} records on {PARTITIONS} partitions: "
        + ", ".join(f"{n} {what}" for what, n in sorted(backlog.counts.items()) if what != "records"),
        *(kill.describe() for kill in kills),
        f"expected (replay): {len(expected_keys)}: " + ", ".join(f"{n} {k}" for k, n in sorted(expected_kinds.items())),
        f"delivered: {len(live)} records, {len(live_keys)} distinct, {len(live) - len(live_keys)} duplicates",
        f"missing: {len(missing)}" + (f" ({_by(missing, partition_of, breach_tickets)})" if missing else ""),
        f"invented: {len(invented)}" + (f" ({_by(invented, partition_of, breach_tickets)})" if invented else ""),
        f"dead letters of invalid records: {len(invalid) - len(undelivered_letters)} of {len(invalid)}",
        f"group {group} committed/end offsets of ticket-events: {offsets_line}",
        "workers (worker-1 ran before the outage):", *("  " + _digest(log) for log in logs),
        f"durations: worker before the outage {outage - began:.0f} s, publish {published - outage:.0f} s, "
        f"kills and restarts up to the last Ready {finish_started - published:.0f} s, "
        f"finish {finished - finish_started:.0f} s, total {finished - began:.0f} s",
    ])

    problems = []
    if len(records) < MIN_RECORDS:
        problems.append(f"the backlog has {len(records)} records, fewer than {MIN_RECORDS}")
    if len(kills) != kills_wanted:
        problems.append(f"{len(kills)} kills of {kills_wanted}")
    if missing:
        problems.append(f"{len(missing)} of {len(expected_keys)} expected outputs never arrived "
                        f"({_by(missing, partition_of, breach_tickets)}), e.g. {sorted(missing)[:5]}")
    if invented:
        problems.append(f"{len(invented)} outputs that replay does not derive "
                        f"({_by(invented, partition_of, breach_tickets)}), e.g. {sorted(invented)[:5]}")
    if differing:
        problems.append(f"{len(differing)} outputs whose duplicates differ, e.g. {sorted(differing)[:3]}")
    if undelivered_letters:
        problems.append(f"{len(undelivered_letters)} of {len(invalid)} invalid records not in the dead-letter "
                        f"topic, e.g. (partition, offset) {sorted(undelivered_letters)[:5]}")
    if not offsets_at_end(settled_offsets):
        problems.append(f"the group's committed offsets of ticket-events did not reach the end: {offsets_line}")
    if problems:
        evidence = _keep_evidence(tmp_path, seed, "\n".join(problems) + "\n\n" + summary)
        last = logs[-1] if logs else None
        pytest.fail("\n".join([
            *problems, "", summary,
            f"worker logs ({len(logs)}, one per worker started, in order): {evidence}/worker-N.log",
            *([f"the last worker's telling lines ({last.name}):", _telling_lines(last)] if last else []),
        ]), pytrace=False)
    print("\n" + summary)
