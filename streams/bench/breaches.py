"""Breach timeliness: live load at a set rate, deadlines falling during the run.

Tickets open at a steady (Poisson) rate with seconds-scale targets. Half are
acknowledged well before their deadline (no breach); a tenth change priority
early; the others get no first response in time and must breach exactly once,
then are acknowledged, resolved and closed late. Each event's ``occurred_at`` is
the moment it is sent, and an event that would arrive too close to the deadline
to be judged unambiguously is not sent (the ticket then counts as breaching):
the expected breaches are known exactly when the load ends.

A ticket acknowledged in time whose acknowledgement the worker processes only after
the breach fired gets the breach and its retraction (rule 6): counted apart, as
``breached_then_retracted``, since it measures the worker's lag, not a wrong breach.

Timeliness is the Kafka timestamp of each ``slo.breached`` record (set by the
worker's producer when it sends it) minus the record's ``deadline``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime

from ticket_slo.streams.bench.context import BenchContext
from ticket_slo.streams.bench.kafka_io import consume_all, first_record, progress
from ticket_slo.streams.bench.lifecycle import Record, encode, event_value, probe_events
from ticket_slo.streams.bench.plan import breach_policy
from ticket_slo.streams.bench.processes import BenchError
from ticket_slo.streams.kafka.clients import aiokafka_producer
from ticket_slo.streams.kafka.settings import Settings
from ticket_slo.streams.kafka.topics import ensure_topics
from ticket_slo.streams.tools.simulator import PRIORITY_WEIGHTS

__all__ = ["breach_timeliness"]

#: An early stop or priority change is only sent this long before the deadline.
MARGIN = 1.0
_PRIORITIES = list(PRIORITY_WEIGHTS)
_WEIGHTS = list(PRIORITY_WEIGHTS.values())


@dataclass(slots=True)
class _Ticket:
    ticket_id: str
    start: float
    priority: str
    deadline: float
    stopped_early: bool = False


@dataclass(slots=True)
class _Load:
    targets: dict[str, int]
    grace: float
    rng: random.Random
    tickets: dict[str, _Ticket] = field(default_factory=dict)
    queue: list[tuple[float, int, str, str]] = field(default_factory=list)
    order: itertools.count = field(default_factory=itertools.count)
    sent: int = 0
    skipped: int = 0
    ended_at: float = 0.0
    seq: int = 0

    def schedule(self, at: float, ticket_id: str, kind: str) -> None:
        heapq.heappush(self.queue, (at, next(self.order), ticket_id, kind))

    def open(self, now: float, number: int) -> Record:
        rng = self.rng
        ticket_id = f"BR-{number:08d}"
        priority = rng.choices(_PRIORITIES, weights=_WEIGHTS)[0]
        start = round(now, 3)
        target = self.targets[priority]
        self.tickets[ticket_id] = _Ticket(ticket_id, start, priority, start + target)
        if rng.random() < 0.1:
            self.schedule(now + rng.uniform(0.05, 0.25) * target, ticket_id, "ticket.priority_changed")
        if rng.random() < 0.5:
            self.schedule(now + rng.uniform(0.1, 0.4) * target, ticket_id, "ticket.acknowledged")
        else:
            self.schedule(start + target + self.grace + rng.uniform(1.0, 3.0), ticket_id, "late")
        return self._event(ticket_id, "ticket.opened", start, priority=priority, plan="default",
                           customer_id=f"C{rng.randrange(1, 5000):05d}")

    def due(self, now: float) -> list[Record]:
        """The scheduled events that are due; some are dropped (see module doc)."""
        out: list[Record] = []
        while self.queue and self.queue[0][0] <= now:
            _, _, ticket_id, kind = heapq.heappop(self.queue)
            ticket = self.tickets[ticket_id]
            at = round(now, 3)
            if kind == "ticket.priority_changed":
                new = self.rng.choice([p for p in _PRIORITIES if p != ticket.priority])
                new_deadline = ticket.start + self.targets[new]
                if at >= min(ticket.deadline, new_deadline) - MARGIN:
                    self.skipped += 1
                    continue
                ticket.priority, ticket.deadline = new, new_deadline
                out.append(self._event(ticket_id, kind, at, priority=new))
            elif kind == "ticket.acknowledged":
                if at >= ticket.deadline - MARGIN:
                    self.skipped += 1  # too close to call: left to breach, acknowledged late
                    self.schedule(ticket.deadline + self.grace + self.rng.uniform(1.0, 3.0), ticket_id, "late")
                    continue
                ticket.stopped_early = True
                out.append(self._event(ticket_id, kind, at, by="agent-bench"))
                self.schedule(now + self.rng.uniform(0.5, 2.0), ticket_id, "ticket.resolved")
            elif kind == "late":
                if at < ticket.deadline + self.grace + 0.5:  # a priority change moved the deadline later
                    self.schedule(ticket.deadline + self.grace + self.rng.uniform(1.0, 3.0), ticket_id, "late")
                    continue
                out.append(self._event(ticket_id, "ticket.acknowledged", at, by="agent-late"))
                self.schedule(now + self.rng.uniform(0.5, 2.0), ticket_id, "ticket.resolved")
            elif kind == "ticket.resolved":
                out.append(self._event(ticket_id, kind, at))
                self.schedule(now + 0.5, ticket_id, "ticket.closed")
            else:
                out.append(self._event(ticket_id, kind, at))
        return out

    def _event(self, ticket_id: str, kind: str, at: float, **fields: object) -> Record:
        self.seq += 1
        return encode(event_value(self.rng, ticket_id, self.seq, kind, at, **fields))

    def expected(self) -> dict[str, float]:
        return {t.ticket_id: t.deadline for t in self.tickets.values() if not t.stopped_early}


async def _run_load(settings: Settings, topic: str, load: _Load, events_per_s: float, seconds: float) -> float:
    """Send at ``events_per_s`` (all event types together) for ``seconds``; return the seconds it took."""
    producer = aiokafka_producer(settings, client_id="ticket-slo-bench-load", acks="all", linger_ms=5)
    await producer.start()
    # Follow-up events (acknowledgements, changes, closes) go out when due; new tickets
    # open whenever the events sent so far fall behind ``events_per_s``, so the total
    # rate holds while the share of openings settles as lifecycles fill the window.
    started = time.time()
    next_report = started + 5.0
    number = itertools.count(1)
    try:
        while True:
            now = time.time()
            if now - started >= seconds:
                break
            records: list[Record] = load.due(now)
            budget = int(events_per_s * (now - started)) - load.sent - len(records)
            for _ in range(max(0, budget)):
                records.append(load.open(now, next(number)))
            for key, value in records:
                await producer.send(topic, key=key, value=value)
            load.sent += len(records)
            if now >= next_report:
                progress(f"  breach load: {load.sent} events sent, {len(load.tickets)} tickets")
                next_report += 5.0
            wake = min(load.queue[0][0] if load.queue else now + 0.005, now + 0.005)
            await asyncio.sleep(max(0.0, wake - time.time()))
        await producer.flush()
    finally:
        await producer.stop()
    load.ended_at = time.time()
    return load.ended_at - started


def _deadline(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def breach_timeliness(ctx: BenchContext, sustained_events_per_s: float, fraction: float = 0.7) -> dict[str, object]:
    plan = ctx.plan
    phase = ctx.phase("breaches", breach_policy(plan.breach_targets))
    settings = phase.settings
    ensure_topics(settings)
    key = b"PROBE-breaches"
    from ticket_slo.streams.bench.kafka_io import produce

    produce(settings, settings.topics.events, probe_events(key.decode(), time.time()), what="probe")
    worker = ctx.start_worker(phase)
    rate = max(1.0, fraction * sustained_events_per_s)
    load = _Load(plan.breach_targets, settings.breach_grace, random.Random(31))
    try:
        ctx.wait_ready(worker)
        if first_record(settings, settings.topics.outcomes, phase.probe_partition(key), 0, key, timeout=60) is None:
            raise BenchError("breach timeliness: the worker never processed its probe")
        progress(f"breach timeliness: {rate:.0f} events/s for {plan.breach_load_seconds:.0f}s, "
                 f"targets {plan.breach_targets}, grace {settings.breach_grace:g}s")
        ctx.ledger.begin(f"breach timeliness ({fraction:.0%} load)")
        took = asyncio.run(_run_load(settings, settings.topics.events, load, rate, plan.breach_load_seconds))
        expected = load.expected()
        last_deadline = max(expected.values(), default=time.time())
        wait = last_deadline + settings.breach_grace + 3.0 - time.time()
        progress(f"breach timeliness: {load.sent} events sent; waiting {max(0.0, wait):.0f}s for the last deadlines")
        while time.time() < last_deadline + settings.breach_grace + 3.0:
            ctx.ledger.sample()
            time.sleep(0.2)
        cpu = ctx.ledger.end()
    finally:
        worker.terminate()
    records = consume_all(settings, settings.topics.breaches, idle=2.0, timeout=120)
    delays: list[float] = []
    per_ticket: dict[str, int] = {}
    breach_ids: set[str] = set()
    retracted: set[str] = set()
    retractions = duplicates = rebreached = 0
    standing: dict[str, bool] = {}  # breach id -> breached and not retracted (records of a key are in order)
    for record in records:
        value = json.loads(record.value)
        if value.get("type") == "slo.breach_retracted":
            retractions += 1
            retracted.add(value["ticket_id"])
            standing[value["breach_id"]] = False
            continue
        if value.get("type") != "slo.breached":
            continue
        breach_id = value["breach_id"]
        if standing.get(breach_id):
            duplicates += 1  # the same breach published twice
        elif breach_id not in standing and value["ticket_id"] in retracted:
            rebreached += 1  # a new breach (cycle) after a retraction: a late priority change moved the deadline
        standing[breach_id] = True
        per_ticket[value["ticket_id"]] = per_ticket.get(value["ticket_id"], 0) + 1
        breach_ids.add(breach_id)
        delays.append(record.timestamp / 1000 - _deadline(value["deadline"]))
    once = sum(1 for ticket in expected if per_ticket.get(ticket) == 1 and ticket not in retracted)
    missing = sum(1 for ticket in expected if ticket not in per_ticket)
    # A stop sent in time but processed after the breach fired: breach then retraction, as
    # the rules say; it means the worker lagged more than MARGIN + grace at that moment.
    late_stops = sum(1 for ticket in per_ticket if ticket not in expected and ticket in retracted)
    unexpected = sum(1 for ticket in per_ticket if ticket not in expected and ticket not in retracted)
    grace = settings.breach_grace
    p99 = _percentile(delays, 0.99)
    ended = load.ended_at

    def examples(tickets: list[str]) -> list[dict[str, object]]:
        """A few tickets to look at: deadline relative to the end of the load (s)."""
        return [{"ticket_id": t, "deadline_after_load_end_s": round(expected[t] - ended, 3) if t in expected else None,
                 "breaches": per_ticket.get(t, 0)} for t in tickets[:5]]
    return {
        "target_events_per_s": round(rate, 1),
        "events_per_s": round(load.sent / took, 1) if took > 0 else 0.0,
        "events_sent": load.sent,
        "events_skipped": load.skipped,
        "tickets": len(load.tickets),
        "load_s": round(took, 1),
        "targets_s": dict(plan.breach_targets),
        "grace_s": grace,
        "tick_interval_s": settings.tick_interval,
        "expected": len(expected),
        "emitted": sum(per_ticket.values()),
        "distinct_breach_ids": len(breach_ids),
        "exactly_once": once,
        "missing": missing,
        "duplicates": duplicates,
        "unexpected": unexpected,
        "breached_then_retracted": late_stops,
        "breached_again_after_retraction": rebreached,
        "retractions": retractions,
        "exactly_once_ratio": round(once / len(expected), 3) if expected else 0.0,
        "missing_examples": examples([t for t in expected if t not in per_ticket]),
        "unexpected_examples": examples([t for t in per_ticket if t not in expected and t not in retracted]),
        "breached_then_retracted_examples": examples([t for t in per_ticket if t not in expected and t in retracted]),
        "delay_s": {
            "min": round(min(delays), 3) if delays else 0.0,
            "p50": round(statistics.median(delays), 3) if delays else 0.0,
            "p99": round(p99, 3),
            "max": round(max(delays), 3) if delays else 0.0,
        },
        "p99_after_deadline_plus_grace_s": round(p99 - grace, 3),
        "cpu": cpu.as_dict(),
    }
