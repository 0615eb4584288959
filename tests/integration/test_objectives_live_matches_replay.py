"""Configured objectives, live and replayed: the worker on wall time agrees with ``ticket-slo replay``.

The policy tracks three objectives per ticket: ``first_response`` (built in), ``eta``
(from the first response to the ETA report) and ``resolution`` (stopped by the
resolution, paused while the ticket waits on the customer, resumed by any other status,
restarted by a reopen). Two plans carry targets for all three: ``default`` around the
clock in seconds, and ``business`` in hours on a Berlin office calendar (Monday to Friday
09:00-17:00, Friday 2026-11-13 off by contract), which customer ``initech``'s contract
chooses whatever the event's ``plan`` says.

Two kinds of tickets share one run:

* **Real-time tickets** (``default``): published at the wall time their events occur
  (a "late" event afterwards), so the worker's clock reaches their deadlines while it
  runs: ETAs on time and late, an ETA on time but published after its deadline, pauses
  and resumes, a stop while paused, a pause after the deadline, a pause published after
  the breach it retracts, reopens after a resolution, closes. Each pattern runs twice,
  2.5 s apart. A heartbeat ticket on a plan without objectives publishes an event every
  half second, so that replay's clock (the largest ``occurred_at`` so far) follows wall
  time as the worker's does and notices each deadline before a later event of the ticket.
* **Historical tickets** (``business``, November 2026): published during the run, long
  after they happened. Both clocks are then past every deadline, so both breach at once
  and retract or move on as each later event proves; their working times (nights, a
  weekend, the contract's holiday, a pause of two days) are worked out by hand below.

Compared as the other live-versus-replay tests do (``replay_oracle``): every output on the
topics exactly once, net outcomes and breaches minus retractions equal, breaches by id and
content (so per objective and per breach cycle). Then the hand-computed values: each
ticket's outcomes per objective (met, working seconds, e.g. a resolution's elapsed time
leaves out the paused time), its standing breaches (objective and deadline), and the
retractions a late event must cause.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from kafka import KafkaProducer

from tests.integration.kafka_io import consume
from tests.integration.replay_oracle import net_differences, net_outputs, output_key, replay_outputs
from tests.integration.worker_process import WorkerProcess, running_worker
from tests.unit.script import ETA_AND_RESOLUTION

pytestmark = pytest.mark.integration

OFFICE = "office-berlin"
CONTRACT = "initech-office"

POLICY = ETA_AND_RESOLUTION + f"""calendars:
  {OFFICE}:
    timezone: Europe/Berlin
    hours:
      mon-fri: ["09:00-17:00"]
    holidays:
      add: [2026-11-13]
plans:
  default:
    warn_at: [0.5]
    objectives:
      first_response: {{P1: 4s, P2: 8s, P3: 1h, P4: 1h}}
      eta: {{P1: 4s, P2: 8s, P3: 1h, P4: 1h}}
      resolution: {{P1: 10s, P2: 16s, P3: 1h, P4: 1h}}
  business:
    calendar: {OFFICE}
    objectives:
      first_response: {{P1: 1h, P2: 2h, P3: 4h, P4: 8h}}
      eta: {{P1: 2h, P2: 4h, P3: 8h, P4: 16h}}
      resolution: {{P1: 8h, P2: 16h, P3: 24h, P4: 40h}}
  heartbeat:
    objectives: {{}}
contracts:
  {CONTRACT}:
    customers: [initech]
    plan: business
    account_manager: lee
"""

FR, ETA, RES = "first_response", "eta", "resolution"
WAITING = {"status": "waiting_on_customer"}
WORKING = {"status": "in_progress"}


@dataclass(frozen=True)
class ByHand:
    """What the rules give: outcomes per objective as (met, working seconds) in cycle order;
    the breaches standing at the end and the retractions a late event must cause, each as
    (objective, deadline). Real-time deadlines are seconds after the ticket's opening."""

    outcomes: dict[str, list[tuple[bool, float]]]
    standing: list[tuple[str, Any]] = field(default_factory=list)
    retracted: list[tuple[str, Any]] = field(default_factory=list)


# A real-time pattern: priority, then (occurred s after the opening, type, fields, published
# s after the opening when late, else None). Targets of ``default``: P1 4 s to the first
# response, 4 s from it to the ETA, 10 s to the resolution; P2 8 s, 8 s, 16 s. Every event
# of a ticket is at least 1.5 s away from its own deadlines, so that when a deadline is
# noticed never decides the result.
Step = tuple[float, str, dict[str, Any], float | None]
REAL_TIME: dict[str, tuple[str, list[Step], ByHand]] = {
    # Everything in time: ETA 1 → 3, resolution 0 → 6.
    "R01": ("P1", [(1, "ticket.acknowledged", {}, None), (3, "ticket.eta_reported", {}, None),
                   (6, "ticket.resolved", {}, None), (7, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 1)], ETA: [(True, 2)], RES: [(True, 6)]})),
    # The ETA due at 5 comes at 7, the resolution due at 10 at 12: both breached, both missed.
    "R02": ("P1", [(1, "ticket.acknowledged", {}, None), (7, "ticket.eta_reported", {}, None),
                   (12, "ticket.resolved", {}, None), (13, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 1)], ETA: [(False, 6)], RES: [(False, 12)]}, [(ETA, 5), (RES, 10)])),
    # The ETA reported at 4, before its deadline at 5, reaches the worker at 7: breach, retraction.
    "R03": ("P1", [(1, "ticket.acknowledged", {}, None), (4, "ticket.eta_reported", {}, 7),
                   (8, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 1)], ETA: [(True, 3)], RES: [(True, 8)]}, retracted=[(ETA, 5)])),
    # Waiting on the customer from 3 to 9: 3 s + (14 - 9) s = 8 s of resolution, not 14.
    "R04": ("P1", [(0.5, "ticket.acknowledged", {}, None), (1, "ticket.eta_reported", {}, None),
                   (3, "ticket.status_changed", WAITING, None), (9, "ticket.status_changed", WORKING, None),
                   (14, "ticket.resolved", {}, None), (15, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 0.5)], ETA: [(True, 0.5)], RES: [(True, 8)]})),
    # Paused at 5 and resolved at 20 while still paused, past the unpaused deadline (16): met, 5 s.
    "R05": ("P2", [(2, "ticket.acknowledged", {}, None), (3, "ticket.eta_reported", {}, None),
                   (5, "ticket.status_changed", WAITING, None), (20, "ticket.resolved", {}, None),
                   (21, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 2)], ETA: [(True, 1)], RES: [(True, 5)]})),
    # A pause at 8 published at 13, after the breach at 10: retracted; resumed at 15 with 2 s
    # left, due at 17, resolved at 20: a new breach (next cycle), missed with 8 + 5 = 13 s.
    "R06": ("P1", [(1, "ticket.acknowledged", {}, None), (2, "ticket.eta_reported", {}, None),
                   (8, "ticket.status_changed", WAITING, 13), (15, "ticket.status_changed", WORKING, None),
                   (20, "ticket.resolved", {}, None), (21, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 1)], ETA: [(True, 1)], RES: [(False, 13)]}, [(RES, 17)], [(RES, 10)])),
    # The same late pause, then resolved at 15.5, before 17: met with 8.5 s, nothing standing.
    "R07": ("P1", [(1, "ticket.acknowledged", {}, None), (2, "ticket.eta_reported", {}, None),
                   (8, "ticket.status_changed", WAITING, 13), (15, "ticket.status_changed", WORKING, None),
                   (15.5, "ticket.resolved", {}, None), (17, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 1)], ETA: [(True, 1)], RES: [(True, 8.5)]}, retracted=[(RES, 10)])),
    # Resolved at 4, reopened at 6: resolution runs again (due 16), resolved at 18: missed, 12 s.
    "R08": ("P1", [(1, "ticket.acknowledged", {}, None), (2, "ticket.eta_reported", {}, None),
                   (4, "ticket.resolved", {}, None), (6, "ticket.reopened", {}, None),
                   (18, "ticket.resolved", {}, None), (19, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 1)], ETA: [(True, 1)], RES: [(True, 4), (False, 12)]}, [(RES, 16)])),
    # Reopened and resolved in time again: two resolution outcomes, 7 s and 4 s.
    "R09": ("P2", [(3, "ticket.acknowledged", {}, None), (5, "ticket.eta_reported", {}, None),
                   (7, "ticket.resolved", {}, None), (9, "ticket.reopened", {}, None),
                   (13, "ticket.resolved", {}, None), (14, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 3)], ETA: [(True, 2)], RES: [(True, 7), (True, 4)]})),
    # Closed at 2: it stops the ETA clock (1 s) and the resolution clock (2 s).
    "R10": ("P1", [(1, "ticket.acknowledged", {}, None), (2, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 1)], ETA: [(True, 1)], RES: [(True, 2)]})),
    # Never answered, closed at 22: no ETA clock ever started.
    "R11": ("P1", [(22, "ticket.closed", {}, None)],
            ByHand({FR: [(False, 22)], RES: [(False, 22)]}, [(FR, 4), (RES, 10)])),
    # Nothing after the opening: two breaches, no outcome.
    "R12": ("P2", [], ByHand({}, [(FR, 8), (RES, 16)])),
    # Answered at 1, published at 6: the first response breach (4) is retracted; the ETA clock
    # started at 1 was due at 5, so it breaches at once; reported at 9: missed, 8 s.
    "R13": ("P1", [(1, "ticket.acknowledged", {}, 6), (8, "ticket.resolved", {}, None),
                   (9, "ticket.eta_reported", {}, None), (10, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 1)], ETA: [(False, 8)], RES: [(True, 8)]}, [(ETA, 5)], [(FR, 4)])),
    # Raised from P3 to P1 at 1: every clock on P1's targets from its start.
    "R14": ("P3", [(1, "ticket.priority_changed", {"priority": "P1"}, None), (2, "ticket.acknowledged", {}, None),
                   (3, "ticket.eta_reported", {}, None), (12, "ticket.resolved", {}, None),
                   (13, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 2)], ETA: [(True, 1)], RES: [(False, 12)]}, [(RES, 10)])),
    # No ETA before the close at 8: the ETA clock (due 5) is missed with 7 s.
    "R15": ("P1", [(1, "ticket.acknowledged", {}, None), (8, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 1)], ETA: [(False, 7)], RES: [(True, 8)]}, [(ETA, 5)])),
    # A pause holds the resolution only: the first response (P2, due 8) still breaches; the
    # resolution counts 1 s before the pause and 2 s after the resume at 12.
    "R16": ("P2", [(1, "ticket.status_changed", WAITING, None), (10, "ticket.acknowledged", {}, None),
                   (12, "ticket.status_changed", WORKING, None), (13, "ticket.eta_reported", {}, None),
                   (14, "ticket.closed", {}, None)],
            ByHand({FR: [(False, 10)], ETA: [(True, 3)], RES: [(True, 3)]}, [(FR, 8)])),
    # Closed while paused, long after the unpaused deadline: met with the 2 s counted.
    "R17": ("P1", [(0.5, "ticket.acknowledged", {}, None), (1, "ticket.eta_reported", {}, None),
                   (2, "ticket.status_changed", WAITING, None), (20, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 0.5)], ETA: [(True, 0.5)], RES: [(True, 2)]})),
    # A pause at 12, after the deadline at 10, comes too late: the resolution counts on, 14 s.
    "R18": ("P1", [(1, "ticket.acknowledged", {}, None), (2, "ticket.eta_reported", {}, None),
                   (12, "ticket.status_changed", WAITING, None), (14, "ticket.resolved", {}, None),
                   (15, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 1)], ETA: [(True, 1)], RES: [(False, 14)]}, [(RES, 10)])),
    # Two pauses (3-5, 8-11): 3 + 3 + 4 = 10 s of resolution over 15 s.
    "R19": ("P2", [(1, "ticket.acknowledged", {}, None), (2, "ticket.eta_reported", {}, None),
                   (3, "ticket.status_changed", WAITING, None), (5, "ticket.status_changed", WORKING, None),
                   (8, "ticket.status_changed", WAITING, None), (11, "ticket.status_changed", WORKING, None),
                   (15, "ticket.resolved", {}, None), (16, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 1)], ETA: [(True, 1)], RES: [(True, 10)]})),
    # Resolved without an acknowledgement: that is the first response too; no ETA clock.
    "R20": ("P2", [(3, "ticket.resolved", {}, None), (5, "ticket.reopened", {}, None),
                   (9, "ticket.closed", {}, None)],
            ByHand({FR: [(True, 3)], RES: [(True, 3), (True, 4)]})),
}
REAL_TIME_STARTS = {"a": 0.0, "b": 2.5}  # each pattern runs twice, opened this long after the run's start


def _z(text: str) -> datetime:
    return datetime.fromisoformat(text)


# Historical tickets of customer initech (contract → business, Berlin office: Mon-Fri
# 09:00-17:00 CET = 08:00-16:00Z in November; Fri 2026-11-13 off). Targets: first response
# P1 1 h, P2 2 h, P3 4 h; ETA P1 2 h, P2 4 h, P3 8 h; resolution P1 8 h, P2 16 h, P3 24 h.
# Events as (occurred, type, fields) in order; all published early in the run.
Historical = tuple[str, str, list[tuple[str, str, dict[str, Any]]], ByHand]
HISTORICAL: dict[str, Historical] = {
    # Thu 12 16:00 CET, P2. First response 2 h: Thu 1 h, holiday, weekend, Mon 09:00 + 1 h = 10:00
    # CET; answered Mon 09:30: 1 h 30 = 5,400 s. ETA from Mon 09:30, 4 h, due 13:30 CET = 12:30Z,
    # reported 14:00: 16,200 s, missed. Resolution 16 h, paused Mon 11:00 (1 h + 2 h = 3 h counted),
    # resumed Wed 10:00 with 13 h left: Wed 7 h, Thu 09:00 + 6 h = 15:00 CET; resolved Thu 19
    # 12:00 CET: 3 + 7 + 3 h = 46,800 s, met.
    "B01": ("P2", "2026-11-12T16:00:00+01:00", [
        ("2026-11-16T09:30:00+01:00", "ticket.acknowledged", {}),
        ("2026-11-16T11:00:00+01:00", "ticket.status_changed", WAITING),
        ("2026-11-16T14:00:00+01:00", "ticket.eta_reported", {}),
        ("2026-11-18T10:00:00+01:00", "ticket.status_changed", WORKING),
        ("2026-11-19T12:00:00+01:00", "ticket.resolved", {}),
        ("2026-11-20T10:00:00+01:00", "ticket.closed", {})],
        ByHand({FR: [(True, 5400)], ETA: [(False, 16200)], RES: [(True, 46800)]},
               [(ETA, _z("2026-11-16T12:30:00Z"))])),
    # Mon 9 10:00 CET, P1. Answered 10:20 (1,200 s); ETA at 11:50 (5,400 s); resolution paused
    # at 15:00 after 5 h and resolved on Wednesday while still paused: 18,000 s, met.
    "B02": ("P1", "2026-11-09T10:00:00+01:00", [
        ("2026-11-09T10:20:00+01:00", "ticket.acknowledged", {}),
        ("2026-11-09T11:50:00+01:00", "ticket.eta_reported", {}),
        ("2026-11-09T15:00:00+01:00", "ticket.status_changed", WAITING),
        ("2026-11-11T10:00:00+01:00", "ticket.resolved", {}),
        ("2026-11-12T09:00:00+01:00", "ticket.closed", {})],
        ByHand({FR: [(True, 1200)], ETA: [(True, 5400)], RES: [(True, 18000)]})),
    # Fri 6 15:00 CET, P3. First response 4 h: Fri 2 h, Mon 09:00 + 2 h; answered Mon 10:00:
    # 10,800 s. ETA 8 h from Mon 10:00, reported 16:00: 21,600 s. Resolution 24 h, resolved Tue 10
    # 12:00: 2 + 8 + 3 h = 46,800 s. Reopened Tue 16:00: 24 h again = Tue 1 h, Wed 8, Thu 8, (Fri
    # off), Mon 16 7 h: due 16:00 CET = 15:00Z. Closed Tue 17 10:00: 1 + 8 + 8 + 8 + 1 = 26 h =
    # 93,600 s, missed.
    "B03": ("P3", "2026-11-06T15:00:00+01:00", [
        ("2026-11-09T10:00:00+01:00", "ticket.acknowledged", {}),
        ("2026-11-09T16:00:00+01:00", "ticket.eta_reported", {}),
        ("2026-11-10T12:00:00+01:00", "ticket.resolved", {}),
        ("2026-11-10T16:00:00+01:00", "ticket.reopened", {}),
        ("2026-11-17T10:00:00+01:00", "ticket.closed", {})],
        ByHand({FR: [(True, 10800)], ETA: [(True, 21600)], RES: [(True, 46800), (False, 93600)]},
               [(RES, _z("2026-11-16T15:00:00Z"))])),
    # Sat 14 11:00 CET, P1, never answered: counting starts Mon 16 09:00 CET; first response due
    # 10:00 CET, resolution (8 h) 17:00 CET.
    "B04": ("P1", "2026-11-14T11:00:00+01:00", [],
            ByHand({}, [(FR, _z("2026-11-16T09:00:00Z")), (RES, _z("2026-11-16T16:00:00Z"))])),
    # Thu 12 18:00 CET, P2, after hours before the holiday: counting starts Mon 16 09:00;
    # answered 09:45 (2,700 s), closed 10:00: ETA 900 s, resolution 3,600 s.
    "B05": ("P2", "2026-11-12T18:00:00+01:00", [
        ("2026-11-16T09:45:00+01:00", "ticket.acknowledged", {}),
        ("2026-11-16T10:00:00+01:00", "ticket.closed", {})],
        ByHand({FR: [(True, 2700)], ETA: [(True, 900)], RES: [(True, 3600)]})),
}

HEARTBEAT = "HB"
HEARTBEAT_EVERY = 0.5
HISTORICAL_AT = 1.0  # seconds after the run's start at which the historical tickets are published
RUN_SECONDS = 26.0  # the last real-time event is at 24.5


@dataclass(frozen=True)
class Record:
    """One input record: when to publish it (epoch seconds), its key and its JSON value."""

    publish_at: float
    key: str
    value: str


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def _event(ticket: str, n: int, occurred: str, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    if kind == "ticket.eta_reported":  # the estimate itself: the contract requires one, no clock reads it
        fields = {"eta": "2027-01-04T12:00:00Z", **fields}
    return {"event_id": f"{ticket}-{n}", "type": kind, "ticket_id": ticket, "occurred_at": occurred, **fields}


def _records(start: float) -> list[Record]:
    """Every input record of the run, in publication order."""
    timed: list[Record] = [Record(start, HEARTBEAT, json.dumps(_event(
        HEARTBEAT, 0, _iso(start), "ticket.opened", {"priority": "P4", "customer_id": "hb", "plan": "heartbeat"})))]
    for n in range(1, int(RUN_SECONDS / HEARTBEAT_EVERY) + 1):
        at = start + n * HEARTBEAT_EVERY
        timed.append(Record(at, HEARTBEAT, json.dumps(_event(HEARTBEAT, n, _iso(at), "ticket.assigned",
                                                             {"assignee": "nobody"}))))
    for ticket, (priority, opened, steps, _) in HISTORICAL.items():
        body = {"priority": priority, "customer_id": "initech", "plan": "default", "account_manager": "am-event"}
        events = [(opened, "ticket.opened", body)] + steps
        for n, (occurred, kind, fields) in enumerate(events):
            timed.append(Record(start + HISTORICAL_AT, ticket, json.dumps(_event(ticket, n, occurred, kind, fields))))
    for name, (priority, steps, _) in REAL_TIME.items():
        for suffix, offset in REAL_TIME_STARTS.items():
            ticket, opened = f"{name}{suffix}", start + offset
            body = {"priority": priority, "customer_id": f"c-{name}", "plan": "default"}
            timed.append(Record(opened, ticket, json.dumps(_event(ticket, 0, _iso(opened), "ticket.opened", body))))
            for n, (occurred, kind, fields, published) in enumerate(steps, start=1):
                event = _event(ticket, n, _iso(opened + occurred), kind, fields)
                timed.append(Record(opened + (occurred if published is None else published), ticket, json.dumps(event)))
    order = {id(record): index for index, record in enumerate(timed)}
    return sorted(timed, key=lambda record: (record.publish_at, order[id(record)]))


def _publish(bootstrap: str, topic: str, records: list[Record]) -> None:
    """Each record at its wall time (those due together in one flush)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    try:
        index = 0
        while index < len(records):
            time.sleep(max(0.0, records[index].publish_at - time.time()))
            due = records[index].publish_at
            while index < len(records) and records[index].publish_at <= due:
                producer.send(topic, key=records[index].key.encode(), value=records[index].value.encode())
                index += 1
            producer.flush()
    finally:
        producer.close()


def _by_hand(start: float) -> dict[str, tuple[ByHand, str, str | None]]:
    """Ticket → (what the rules give, with absolute deadlines; its calendar; its contract)."""
    expected: dict[str, tuple[ByHand, str, str | None]] = {}
    for name, (_, _, by_hand) in REAL_TIME.items():
        for suffix, offset in REAL_TIME_STARTS.items():
            def at(seconds: float) -> datetime:
                return datetime.fromtimestamp(start + offset + seconds, timezone.utc)
            expected[f"{name}{suffix}"] = (ByHand(by_hand.outcomes,
                                                  [(o, at(s)) for o, s in by_hand.standing],
                                                  [(o, at(s)) for o, s in by_hand.retracted]), "24/7", None)
    for ticket, (_, _, _, by_hand) in HISTORICAL.items():
        expected[ticket] = (by_hand, OFFICE, CONTRACT)
    return expected


def _told(ticket: str, records: list[dict[str, Any]], standing: list[dict[str, Any]]) -> dict[str, Any]:
    """What the live outputs say of ``ticket``, in the shape of ``ByHand``."""
    mine = [r for r in records if r["ticket_id"] == ticket]
    outcomes: dict[str, list[tuple[bool, float]]] = {}
    for record in mine:
        if record["type"] == "slo.completed":
            outcomes.setdefault(record["objective"], []).append((record["met"], record["elapsed_seconds"]))
    return {"outcomes": outcomes,
            "standing": sorted((b["objective"], _z(b["deadline"])) for b in standing),
            "retracted": sorted((r["objective"], _z(r["deadline"])) for r in mine if r["type"] == "slo.breach_retracted"),
            "terms": {(r["calendar"], r["contract"]) for r in mine}}


@pytest.fixture
def worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    with running_worker(kafka_bootstrap, tmp_path, POLICY, TICKET_SLO_BREACH_GRACE="0.2") as process:
        yield process


def test_live_and_replay_agree_on_configured_objectives(kafka_bootstrap: str, worker: WorkerProcess,
                                                        tmp_path: Path) -> None:
    start = math.ceil(time.time()) + 2.0
    records = _records(start)
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("".join(record.value + "\n" for record in records))
    _publish(kafka_bootstrap, worker.topic("ticket-events"), records)

    until = start + RUN_SECONDS + 1
    offline = replay_outputs(events_file, tmp_path / "policy.yaml", until)
    assert events_file.with_suffix(".dlq.jsonl").read_text() == "", "every scripted event is valid"
    expected = {output_key(r) for r in offline}
    time.sleep(max(0.0, until - time.time()))

    def read_live() -> list[dict[str, Any]]:
        return [json.loads(r.value) for topic in ("ticket-slo-breaches", "ticket-slo-outcomes")
                for r in consume(kafka_bootstrap, worker.topic(topic), expect=10**9, timeout=2)]

    give_up = time.monotonic() + 20
    live = read_live()
    while not expected <= {output_key(r) for r in live} and time.monotonic() < give_up:
        live = read_live()
    time.sleep(1)  # anything surplus still in flight
    live = read_live()

    # Exactly once: one worker, no crash, so no output is published twice.
    live_keys = [output_key(r) for r in live]
    assert len(live_keys) == len(set(live_keys)), "an output was published twice"

    live_outcomes, live_standing = net_outputs(live)
    offline_outcomes, offline_standing = net_outputs(offline)
    assert sum(map(len, offline_outcomes.values())) > 100 and len(offline_standing) > 15  # substance
    assert live_outcomes == offline_outcomes, net_differences(live_outcomes, offline_outcomes)
    assert live_standing == offline_standing, net_differences(live_standing, offline_standing)

    wrong = {}
    for ticket, (by_hand, calendar, contract) in _by_hand(start).items():
        told = _told(ticket, live, live_standing.get(ticket, []))
        worked_out = {"outcomes": by_hand.outcomes, "standing": sorted(by_hand.standing),
                      "retracted": sorted(by_hand.retracted), "terms": {(calendar, contract)}}
        if not by_hand.retracted or ticket in HISTORICAL:  # retractions checked where a late event causes them
            told.pop("retracted")
            worked_out.pop("retracted")
        if told != worked_out:
            wrong[ticket] = {k: f"got {told[k]}, by hand {worked_out[k]}" for k in told if told[k] != worked_out[k]}
    assert not wrong, "\n".join(f"{ticket}: {fields}" for ticket, fields in sorted(wrong.items()))

    retractions = sum(1 for r in live if r["type"] == "slo.breach_retracted")
    print(f"\nobjectives live vs replay: {len(_by_hand(start))} tickets, {len(records)} events, "
          f"{sum(map(len, live_outcomes.values()))} outcomes and {sum(map(len, live_standing.values()))} standing "
          f"breaches alike; live published {len(live)} outputs ({retractions} retractions), replay {len(offline)}")
