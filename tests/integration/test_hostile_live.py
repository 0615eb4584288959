"""A fuzz run against the live worker: thousands of hostile records, mixed with real tickets.

Every record is made by a seeded generator, and its expected fate comes from the
contract's own validator (``parse_event``) and engine: each invalid record must come
back from the dead-letter topic, found by its partition and offset, with that reason;
the real tickets' outcomes must arrive; and the worker must be alive afterwards, with
a bounded RSS, and still answer a fresh ticket promptly.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from kafka import KafkaProducer

from ticket_slo.schemas.policy import load_policy
from ticket_slo.schemas.validation import InvalidEvent, parse_event
from ticket_slo.streams.core.engine import SloEngine
from ticket_slo.streams.core.state_store import DictStateStore
from tests.integration.kafka_io import consume
from tests.integration.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SEED = 20261125
RECORDS = 3000
VALID_TICKETS = 20
FLOOD = 600  # events for one ticket that is never opened: the engine buffers 256, dead-letters the rest
RSS_LIMIT_KB = 400 * 1024  # generous: the worker peaks at about 90 MiB in this run
MARK = "HOSTILE-MARK"  # in hostile payloads; must not turn up in metrics

Record = tuple[bytes | None, bytes]


@dataclass(frozen=True)
class Sent:
    key: bytes | None
    value: bytes
    partition: int
    offset: int


class HostileRecords:
    """The generator: one method per kind of hostile input, all drawing from one seeded RNG."""

    def __init__(self, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.serial = 0

    def stamp(self, seconds: float = 0.0) -> str:
        return (self.now + timedelta(seconds=seconds)).isoformat()

    def event(self, ticket: str, kind: str = "ticket.assigned", **fields: Any) -> dict[str, Any]:
        self.serial += 1
        extra = {"ticket.opened": {"priority": "P3", "customer_id": "c"}, "ticket.assigned": {"assignee": "a"}}
        return {"event_id": f"h-{self.serial}", "type": kind, "ticket_id": ticket, "occurred_at": self.stamp(),
                **extra.get(kind, {}), **fields}

    def valid(self) -> bytes:
        return json.dumps(self.event(f"X-{self.rng.randrange(10**6)}-{MARK}")).encode()

    def random_bytes(self) -> Record:
        return self.key(), self.rng.randbytes(self.rng.randrange(0, 300))

    def invalid_utf8(self) -> Record:
        value = self.valid()
        where = self.rng.randrange(len(value))
        bad = self.rng.choice([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"])
        return None, value[:where] + bad + value[where:]

    def deep_nesting(self) -> Record:
        depth = self.rng.choice([300, 5_000, 100_000])
        opener, closer = self.rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
        inner = opener * depth + b"1" + closer * depth if opener != b"[" else opener * depth + closer * depth
        if self.rng.random() < 0.5:  # inside an otherwise valid event
            return None, self.valid()[:-1] + b', "deep": ' + inner + b"}"
        return None, inner

    def huge_string(self) -> Record:
        field = self.rng.choice(["ticket_id", "event_id", "assignee", "title"])
        size = self.rng.choice([257, 4097, 60_000])
        fields = {field: MARK * (size // len(MARK) + 1)}
        kind = "ticket.opened" if field == "title" else "ticket.assigned"
        return None, json.dumps({**self.event("H-1", kind), **fields}).encode()

    def number_for_string(self) -> Record:
        field = self.rng.choice(["event_id", "ticket_id", "assignee", "occurred_at"])
        value = self.rng.choice([0, -1, 2**63, 1.5, True, None, [1], {"n": 1}])
        return None, json.dumps({**self.event("N-1"), field: value}).encode()

    def bad_timestamp(self) -> Record:
        stamp = self.rng.choice(["2026-05-01T09:30:00", "0000-01-01T00:00:00Z", "99999-01-01T00:00:00Z",
                                 "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "2026-02-30T00:00:00Z",
                                 "1969-12-31T23:59:59Z", "yesterday", ""])
        # Acknowledgements of an open ticket: a time the engine cannot convert would stop its clock.
        return b"T-OPEN", json.dumps(self.event("T-OPEN", "ticket.acknowledged", occurred_at=stamp)).encode()

    def unknown_type(self) -> Record:
        kind = self.rng.choice(["ticket.exploded", "TICKET.OPENED", "", f"{MARK}.type", 7, None])
        return None, json.dumps(self.event("U-1", kind)).encode()  # type: ignore[arg-type]

    def not_an_object(self) -> Record:
        return self.key(), self.rng.choice([b"[]", b"null", b"true", b"42", b"1e999", b'"' + MARK.encode() + b'"',
                                            b"[" + self.valid() + b"]", b"NaN"])

    def key_mismatch(self) -> Record:
        return self.rng.choice([b"other", b"\xff\xfe", MARK.encode()]), self.valid()

    def key(self) -> bytes | None:
        return self.rng.choice([None, b"K-1", self.rng.randbytes(8)])

    def hostile(self) -> Record:
        kinds: list[Callable[[], Record]] = [
            self.random_bytes, self.invalid_utf8, self.deep_nesting, self.huge_string, self.number_for_string,
            self.bad_timestamp, self.unknown_type, self.not_an_object, self.key_mismatch]
        return self.rng.choice(kinds)()


def build_records(now: datetime) -> tuple[list[Record], set[str]]:
    """Hostile records interleaved with real tickets (opened, then duplicates with other content, then
    acknowledged), a flood for one never-opened ticket, and two values over the size limit."""
    gen = HostileRecords(SEED, now)
    records: list[Record] = [gen.hostile() for _ in range(RECORDS - VALID_TICKETS * 3 - FLOOD - 3)]
    records.insert(0, (b"T-OPEN", json.dumps(gen.event("T-OPEN", "ticket.opened")).encode()))
    tickets = {f"V-{n}" for n in range(VALID_TICKETS)}
    for ticket in sorted(tickets):
        opened = gen.event(ticket, "ticket.opened", occurred_at=gen.stamp(-60))
        impostor = {**gen.event(ticket, "ticket.closed"), "event_id": opened["event_id"]}  # same id, other content
        ack = gen.event(ticket, "ticket.acknowledged", occurred_at=gen.stamp())
        for position, event in zip(sorted(gen.rng.sample(range(len(records) + 1), 3)), (opened, impostor, ack)):
            records.insert(position, (ticket.encode(), json.dumps(event).encode()))
    for _ in range(FLOOD):
        flood = gen.event("F-1", "ticket.status_changed", status=MARK * 20)
        records.insert(gen.rng.randrange(len(records) + 1), (b"F-1", json.dumps(flood).encode()))
    for _ in range(2):
        records.insert(gen.rng.randrange(len(records) + 1), (None, b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'))
    return records, tickets


def expected_fate(sent: list[Sent], now: float) -> tuple[dict[tuple[int, int], str], int]:
    """Reason of each record the worker must dead-letter, by (partition, offset), from the
    contract's validator and engine; and how many valid events are duplicates."""
    reasons: dict[tuple[int, int], str] = {}
    engine = SloEngine(load_policy(), DictStateStore())
    for record in sent:
        try:
            event = parse_event(record.value, record.key)
        except InvalidEvent as invalid:
            reasons[(record.partition, record.offset)] = invalid.reason
            continue
        for emission in engine.apply(event, now).emissions:
            if emission.kind == "dead_letter":  # a buffer overflow: dead-lettered at once as an orphan
                reasons[(record.partition, record.offset)] = emission.model.reason
    return reasons, engine.stats.duplicates


class RssWatch:
    """Samples the worker's resident set size (VmRSS) until stopped; keeps the largest."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kb, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except OSError:
                return
            self._stop.wait(0.1)

    def __enter__(self) -> "RssWatch":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(kafka_bootstrap, tmp_path, extra_env={"TICKET_SLO_BREACH_GRACE": "0"}).start()
    try:
        yield process
    finally:
        process.cleanup()


def send(bootstrap: str, topic: str, records: list[Record]) -> list[Sent]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                             max_request_size=3 * 1024 * 1024)
    futures = [(key, value, producer.send(topic, key=key, value=value)) for key, value in records]
    producer.flush()
    producer.close()
    sent = []
    for key, value, future in futures:
        meta = future.get(timeout=30)
        sent.append(Sent(key, value, meta.partition, meta.offset))
    return sent


def test_hostile_flood_is_dead_lettered_and_the_worker_carries_on(kafka_bootstrap: str,
                                                                   worker: WorkerProcess) -> None:
    assert worker.process is not None
    now = datetime.now(timezone.utc)
    records, tickets = build_records(now)
    assert len(records) == RECORDS
    with RssWatch(worker.process.pid) as rss:
        sent = send(kafka_bootstrap, worker.topic("ticket-events"), records)
        expected, duplicates = expected_fate(sent, now.timestamp())
        assert duplicates == VALID_TICKETS  # the impostors
        letters = consume(kafka_bootstrap, worker.topic("ticket-events-dlq"), expect=len(expected),
                          timeout=90, settle=2)
        outcomes = consume(kafka_bootstrap, worker.topic("ticket-slo-outcomes"), expect=len(tickets), timeout=30)
        alive = worker.process.poll() is None

    got = {(letter["partition"], letter["offset"]): letter["reason"] for letter in map(json.loads,
                                                                                     (r.value for r in letters))}
    assert len(letters) == len(got), "a record was dead-lettered twice"
    missing = {where: reason for where, reason in expected.items() if where not in got}
    wrong = {where: (reason, got[where]) for where, reason in expected.items() if got.get(where, reason) != reason}
    assert not missing and not wrong and len(got) == len(expected), (
        f"missing {len(missing)} (e.g. {list(missing.items())[:5]}), wrong {list(wrong.items())[:5]}, "
        f"surplus {len(set(got) - set(expected))}")
    reasons = Counter(expected.values())
    assert set(reasons) >= {"not_utf8", "bad_json", "not_an_object", "unknown_type", "invalid_fields",
                            "key_mismatch", "too_large", "orphan"}, reasons

    assert sorted(json.loads(r.value)["ticket_id"] for r in outcomes) == sorted(tickets)
    assert alive, worker.log()[-4000:]
    assert rss.peak_kb < RSS_LIMIT_KB, f"worker RSS peaked at {rss.peak_kb} kB"
    assert "Traceback" not in worker.log() and "MessageSizeTooLarge" not in worker.log(), worker.log()[-4000:]

    metrics = urllib.request.urlopen(worker.metrics_url, timeout=5).read().decode()
    for reason, count in reasons.items():
        assert f'ticket_slo_events_invalid_total{{reason="{reason}"}} {float(count)}' in metrics, reason
    assert MARK not in metrics

    # Still prompt: a fresh ticket's outcome comes back within seconds.
    started = time.monotonic()
    fresh = HostileRecords(SEED + 1, datetime.now(timezone.utc))
    send(kafka_bootstrap, worker.topic("ticket-events"), [
        (b"FRESH", json.dumps(fresh.event("FRESH", "ticket.opened")).encode()),
        (b"FRESH", json.dumps(fresh.event("FRESH", "ticket.acknowledged")).encode()),
    ])
    after = consume(kafka_bootstrap, worker.topic("ticket-slo-outcomes"), expect=len(tickets) + 1, timeout=15)
    assert "FRESH" in {json.loads(r.value)["ticket_id"] for r in after}
    assert time.monotonic() - started < 15
    assert worker.process.poll() is None


def outcome_of(bootstrap: str, worker: WorkerProcess, ticket: str, timeout: float) -> bool:
    """True once ``ticket``'s outcome is published; False on timeout or as soon as the worker dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.process is not None and worker.process.poll() is None:
        records = consume(bootstrap, worker.topic("ticket-slo-outcomes"), expect=10**9, timeout=2)
        if ticket in {json.loads(record.value)["ticket_id"] for record in records}:
            return True
    return False


def test_a_flood_of_the_largest_valid_events_for_one_ticket_leaves_the_worker_running(
        kafka_bootstrap: str, worker: WorkerProcess) -> None:
    char, now = "\U0001F600", datetime.now(timezone.utc)
    ticket = char * 256  # every string field at the contract's 256-character limit
    flood = [(ticket.encode(), json.dumps({"event_id": f"{n:08d}{char * 248}", "type": "ticket.status_changed",
                                           "ticket_id": ticket, "occurred_at": now.isoformat(),
                                           "status": char * 256}, ensure_ascii=False).encode())
             for n in range(400)]
    fresh = HostileRecords(SEED + 2, now)
    send(kafka_bootstrap, worker.topic("ticket-events"), flood + [
        (b"AFTER", json.dumps(fresh.event("AFTER", "ticket.opened")).encode()),
        (b"AFTER", json.dumps(fresh.event("AFTER", "ticket.acknowledged")).encode()),
    ])
    outcome = outcome_of(kafka_bootstrap, worker, "AFTER", timeout=45)
    time.sleep(5)  # the changelog writes of the flood's last messages are flushed by now
    log = worker.log()
    assert outcome, log[-3000:]
    assert "MessageSizeTooLarge" not in log  # a lost changelog write is lost state, crash or not
    assert worker.process is not None and worker.process.poll() is None
