"""One engine, two clocks, three calendars: live and replay agree across daylight-saving changes.

A policy with a 24/7 plan (``premium``), a Berlin business-hours plan with German public
holidays (``standard``) and a New York one with US holidays (``us-standard``), and two
contracts that overrule the event's ``plan``. Tickets are opened around the switches of
both zones, which fall on different dates (Europe: 2026-03-29 and 2026-10-25; the United
States: 2026-03-08 and 2026-11-01): on Friday afternoons and answered on Monday, in the
lunch break, on a weekend, the day before Easter, the day before Veterans Day, in the hour
the clocks repeat; some change priority, some are answered late, some on time but
published after their deadline, some never.

The events are historical (2026-03 to 2026-11) and published to a running worker, whose
clock is wall time, long after all of them: every deadline has passed when an opening is
applied, so the worker breaches at once and retracts when a stop proves the answer came
in time. ``ticket-slo replay`` of the same file runs on event time and mostly never
breaches those. Compared, as the other live-versus-replay tests do (``replay_oracle``):
net outcomes and breaches minus retractions, every output on the topics exactly once.

Eighteen tickets are checked against deadlines and working times worked out by hand in
the comments below (not by the code under test): a switch, a weekend or a holiday falls
inside their counting, so an engine that counted wall-clock time, real time or the wrong
zone misses.

One difference is expected and pinned (H16-H18): a priority change that happened before
the deadline but reaches the worker after its breach, when the new deadline has passed as
well, leaves the published breach standing with the priority and deadline it was published
under; replay, on event time, publishes that breach (the same ``breach_id``) under the new
terms. So breaches are compared by id for every ticket, by content for tickets without a
priority change.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration.kafka_io import consume, produce
from tests.integration.replay_oracle import net_differences, net_outputs, output_key, replay_outputs
from tests.integration.worker_process import WorkerProcess, running_worker

pytestmark = pytest.mark.integration

BERLIN_CALENDAR = "office-berlin"
NEW_YORK_CALENDAR = "office-new-york"

POLICY = f"""
calendars:
  {BERLIN_CALENDAR}:
    timezone: Europe/Berlin
    hours:
      mon-fri: ["08:00-12:00", "13:00-17:30"]
    holidays:
      country: DE
  {NEW_YORK_CALENDAR}:
    timezone: America/New_York
    hours:
      mon-fri: ["09:00-17:00"]
    holidays:
      country: US
plans:
  default:
    objectives:
      first_response: {{P1: 30m, P2: 1h, P3: 4h, P4: 8h}}
  premium:
    calendar: 24/7
    warn_at: [0.5, 0.9]
    objectives:
      first_response: {{P1: 30m, P2: 1h, P3: 4h, P4: 8h}}
  standard:
    calendar: {BERLIN_CALENDAR}
    warn_at: [0.75]
    objectives:
      first_response: {{P1: 1h, P2: 2h, P3: 4h, P4: 8h}}
  us-standard:
    calendar: {NEW_YORK_CALENDAR}
    objectives:
      first_response: {{P1: 1h, P2: 2h, P3: 4h, P4: 8h}}
contracts:
  acme-247:
    customers: [acme]
    plan: premium
    account_manager: dana
  globex-office:
    customers: [globex]
    plan: standard
"""


@dataclass
class Ticket:
    """A ticket's events as (occurred_at with its local offset, type, extra fields, published late)."""

    ticket_id: str
    plan: str
    priority: str
    opened: str
    customer: str = "c-any"
    later: list[tuple[str, str, dict[str, Any], bool]] = field(default_factory=list)

    def then(self, kind: str, at: str, *, late: bool = False, **fields: Any) -> "Ticket":
        self.later.append((at, kind, fields, late))
        return self


@dataclass(frozen=True)
class ByHand:
    """What the rules give, worked out by hand: the deadline of the breach the live worker
    publishes at once (under the ticket's first priority), the outcome if any (met, working
    seconds), and the deadline of the breach that stands at the end, net of retractions,
    in replay and (unless ``live_net_deadline`` says otherwise) live."""

    first_deadline: str
    outcome: tuple[bool, float] | None
    net_deadline: str | None
    calendar: str
    contract: str | None = None
    live_net_deadline: str | None = None

    @property
    def live_net(self) -> str | None:
        return self.live_net_deadline or self.net_deadline


# Berlin: CEST (UTC+2) until Sun 2026-10-25 01:00Z, CET (UTC+1) after; CEST again from
# Sun 2026-03-29 01:00Z. New York: EDT (UTC-4) until Sun 2026-11-01 06:00Z, EST (UTC-5)
# after; EDT from Sun 2026-03-08 07:00Z. Berlin works 08:00-12:00 and 13:00-17:30 local
# (8 h 30 min a day), New York 09:00-17:00 local.
HAND_CHECKED: dict[str, tuple[Ticket, ByHand]] = {
    # Fri 16:00 CEST, P3 4 h: Fri 16:00-17:30 = 1 h 30; Mon (CET) 08:00 + 2 h 30 = 10:30 CET = 09:30Z.
    # Answered Mon 10:00 CET: 1 h 30 + 2 h = 3 h 30 = 12,600 s, in time. The answer is published
    # after Monday afternoon's events, so replay too breaches first and retracts.
    "fri-answered-monday-in-time": (
        Ticket("H01", "standard", "P3", "2026-10-23T16:00:00+02:00")
        .then("ticket.acknowledged", "2026-10-26T10:00:00+01:00", late=True),
        ByHand("2026-10-26T09:30:00Z", (True, 12600), None, BERLIN_CALENDAR)),
    # Same start, answered Mon 11:00 CET: 1 h 30 + 3 h = 16,200 s, after 10:30: late.
    "fri-answered-monday-late": (
        Ticket("H02", "standard", "P3", "2026-10-23T16:00:00+02:00")
        .then("ticket.acknowledged", "2026-10-26T11:00:00+01:00"),
        ByHand("2026-10-26T09:30:00Z", (False, 16200), "2026-10-26T09:30:00Z", BERLIN_CALENDAR)),
    # Opened Tue 12:15 CET in the lunch break, P2 2 h: counts from 13:00, due 15:00 CET = 14:00Z.
    "lunch-break-never-answered": (
        Ticket("H03", "standard", "P2", "2026-10-27T12:15:00+01:00"),
        ByHand("2026-10-27T14:00:00Z", None, "2026-10-27T14:00:00Z", BERLIN_CALENDAR)),
    # Opened Sat 10:00 CEST, P1 1 h: counts from Mon 08:00 CET, due 09:00 CET = 08:00Z;
    # answered Mon 08:45 CET: 45 min = 2,700 s.
    "weekend-across-the-switch": (
        Ticket("H04", "standard", "P1", "2026-10-24T10:00:00+02:00")
        .then("ticket.acknowledged", "2026-10-26T08:45:00+01:00"),
        ByHand("2026-10-26T08:00:00Z", (True, 2700), None, BERLIN_CALENDAR)),
    # Opened at the second 02:30 of Sun 2026-10-25 (CET, 01:30Z), P4 8 h: Mon 08:00-12:00 = 4 h,
    # 13:00-17:00 = 4 h, due 17:00 CET = 16:00Z.
    "repeated-hour-never-answered": (
        Ticket("H05", "standard", "P4", "2026-10-25T02:30:00+01:00"),
        ByHand("2026-10-26T16:00:00Z", None, "2026-10-26T16:00:00Z", BERLIN_CALENDAR)),
    # Thu 2026-04-02 17:00 CEST, the day before Good Friday, P3 4 h: Thu 17:00-17:30 = 30 min;
    # Good Friday, the weekend and Easter Monday do not count; Tue 08:00 + 3 h 30 = 11:30 CEST
    # = 09:30Z. Answered Tue 09:00 CEST: 30 min + 1 h = 5,400 s.
    "before-easter": (
        Ticket("H06", "standard", "P3", "2026-04-02T17:00:00+02:00")
        .then("ticket.acknowledged", "2026-04-07T09:00:00+02:00"),
        ByHand("2026-04-07T09:30:00Z", (True, 5400), None, BERLIN_CALENDAR)),
    # Fri 2026-03-27 15:00 CET, P3 4 h: Fri 15:00-17:30 = 2 h 30; Mon (CEST) 08:00 + 1 h 30 =
    # 09:30 CEST = 07:30Z.
    "spring-forward-berlin-never-answered": (
        Ticket("H07", "standard", "P3", "2026-03-27T15:00:00+01:00"),
        ByHand("2026-03-30T07:30:00Z", None, "2026-03-30T07:30:00Z", BERLIN_CALENDAR)),
    # New York Fri 2026-10-30 16:00 EDT, P3 4 h: Fri 16:00-17:00 = 1 h; Mon (EST) 09:00 + 3 h =
    # 12:00 EST = 17:00Z. Answered Mon 11:30 EST: 1 h + 2 h 30 = 12,600 s.
    "new-york-fall-back-in-time": (
        Ticket("H08", "us-standard", "P3", "2026-10-30T16:00:00-04:00")
        .then("ticket.acknowledged", "2026-11-02T11:30:00-05:00"),
        ByHand("2026-11-02T17:00:00Z", (True, 12600), None, NEW_YORK_CALENDAR)),
    "new-york-fall-back-never-answered": (
        Ticket("H09", "us-standard", "P3", "2026-10-30T16:00:00-04:00"),
        ByHand("2026-11-02T17:00:00Z", None, "2026-11-02T17:00:00Z", NEW_YORK_CALENDAR)),
    # New York Fri 2026-03-06 15:30 EST, P2 2 h: Fri 15:30-17:00 = 1 h 30; Mon (EDT) 09:00 +
    # 30 min = 09:30 EDT = 13:30Z. Answered Mon 10:00 EDT: 1 h 30 + 1 h = 9,000 s, late.
    "new-york-spring-forward-late": (
        Ticket("H10", "us-standard", "P2", "2026-03-06T15:30:00-05:00")
        .then("ticket.acknowledged", "2026-03-09T10:00:00-04:00"),
        ByHand("2026-03-09T13:30:00Z", (False, 9000), "2026-03-09T13:30:00Z", NEW_YORK_CALENDAR)),
    # New York Tue 2026-11-10 16:00 EST, P4 8 h: Tue 16:00-17:00 = 1 h; Wed is Veterans Day;
    # Thu 09:00 + 7 h = 16:00 EST = 21:00Z. Answered Thu 15:00 EST: 1 h + 6 h = 25,200 s.
    "before-veterans-day": (
        Ticket("H11", "us-standard", "P4", "2026-11-10T16:00:00-05:00")
        .then("ticket.acknowledged", "2026-11-12T15:00:00-05:00"),
        ByHand("2026-11-12T21:00:00Z", (True, 25200), None, NEW_YORK_CALENDAR)),
    # 24/7 through the repeated hour: opened at the first 02:30 of 2026-10-25 (CEST, 00:30Z),
    # P3 4 h of real time: due 04:30Z (05:30 CET on the wall, 3 h later than 02:30).
    "around-the-clock-fall-back": (
        Ticket("H12", "premium", "P3", "2026-10-25T02:30:00+02:00"),
        ByHand("2026-10-25T04:30:00Z", None, "2026-10-25T04:30:00Z", "24/7")),
    # 24/7 through the skipped hour: opened 01:45 CET (00:45Z), answered 03:10 CEST (01:10Z):
    # 25 min = 1,500 s although the wall clock moved 1 h 25; P1 30 min, due 01:15Z.
    "around-the-clock-spring-forward": (
        Ticket("H13", "premium", "P1", "2026-03-29T01:45:00+01:00")
        .then("ticket.acknowledged", "2026-03-29T03:10:00+02:00"),
        ByHand("2026-03-29T01:15:00Z", (True, 1500), None, "24/7")),
    # Customer acme is under contract acme-247 (premium, 24/7) although the event says standard:
    # Fri 16:00 CEST = 14:00Z + 4 h = 18:00Z; answered Mon 10:00 CET = 09:00Z: 67 h = 241,200 s.
    "contract-wins-24-7": (
        Ticket("H14", "standard", "P3", "2026-10-23T16:00:00+02:00", customer="acme")
        .then("ticket.acknowledged", "2026-10-26T10:00:00+01:00"),
        ByHand("2026-10-23T18:00:00Z", (False, 241200), "2026-10-23T18:00:00Z", "24/7", "acme-247")),
    # Customer globex is under globex-office (standard, Berlin) although the event says premium:
    # as H01, due Mon 09:30Z, answered Mon 10:00 CET: 12,600 s, in time.
    "contract-wins-business-hours": (
        Ticket("H15", "premium", "P3", "2026-10-23T16:00:00+02:00", customer="globex")
        .then("ticket.acknowledged", "2026-10-26T10:00:00+01:00"),
        ByHand("2026-10-26T09:30:00Z", (True, 12600), None, BERLIN_CALENDAR, "globex-office")),
    # Raised from P4 to P2 at Fri 17:00 CEST, before any deadline: P2 2 h from the start =
    # Fri 16:00-17:30 (1 h 30) + Mon 08:00-08:30 CET = 07:30Z. Answered Mon 09:00 CET: late,
    # 1 h 30 + 1 h = 9,000 s. Live first breaches the P4 deadline: Fri 1 h 30, Mon 08:00-12:00
    # (5 h 30), 13:00-15:30 (8 h) = 15:30 CET = 14:30Z. The change reaches live after that
    # breach, when the P2 deadline has passed as well: the engine keeps the breach it published
    # (same breach_id as replay's) with the terms it was published under, P4 and 14:30Z.
    "raised-then-answered-late": (
        Ticket("H16", "standard", "P4", "2026-10-23T16:00:00+02:00")
        .then("ticket.priority_changed", "2026-10-23T17:00:00+02:00", priority="P2")
        .then("ticket.acknowledged", "2026-10-26T09:00:00+01:00"),
        ByHand("2026-10-26T14:30:00Z", (False, 9000), "2026-10-26T07:30:00Z", BERLIN_CALENDAR,
               live_net_deadline="2026-10-26T14:30:00Z")),
    # The same on 24/7, through the repeated hour: opened 01:30 CEST = 23:30Z, P4 8 h due 07:30Z;
    # raised to P2 at 02:10 CET = 01:10Z, when P2's deadline (00:30Z) had passed: replay breaches
    # at once with P2's. Answered 03:00 CET = 02:00Z: 2 h 30 = 9,000 s, late.
    "raised-past-its-new-deadline-24-7": (
        Ticket("H17", "premium", "P4", "2026-10-25T01:30:00+02:00")
        .then("ticket.priority_changed", "2026-10-25T02:10:00+01:00", priority="P2")
        .then("ticket.acknowledged", "2026-10-25T03:00:00+01:00"),
        ByHand("2026-10-25T07:30:00Z", (False, 9000), "2026-10-25T00:30:00Z", "24/7",
               live_net_deadline="2026-10-25T07:30:00Z")),
    # Lowered the other way: P1 opened 2026-10-25T00:00Z (02:00 CEST), due 00:30Z; lowered to P4
    # at 00:10Z, before that deadline, and never answered: replay breaches at P4's 08:00Z. Live
    # breached P1 at the opening, and the P4 deadline has passed too when the change arrives:
    # the P1 breach stands.
    "lowered-never-answered-24-7": (
        Ticket("H18", "premium", "P1", "2026-10-25T02:00:00+02:00")
        .then("ticket.priority_changed", "2026-10-25T00:10:00Z", priority="P4"),
        ByHand("2026-10-25T00:30:00Z", None, "2026-10-25T08:00:00Z", "24/7",
               live_net_deadline="2026-10-25T00:30:00Z")),
}

# The windows the generated tickets are opened in (UTC), each around one zone's switch.
WINDOWS = [
    datetime(2026, 3, 6, 7, 10, tzinfo=timezone.utc),    # Fri before New York springs forward
    datetime(2026, 3, 27, 5, 20, tzinfo=timezone.utc),   # Fri before Berlin springs forward
    datetime(2026, 10, 23, 4, 40, tzinfo=timezone.utc),  # Fri before Berlin falls back
    datetime(2026, 10, 30, 9, 50, tzinfo=timezone.utc),  # Fri before New York falls back
]
PER_WINDOW = 18
OPENING_STEP = timedelta(hours=5, minutes=17)  # 18 steps: Friday morning to Tuesday afternoon
PLANS = ("premium", "standard", "us-standard")
PRIORITIES = ("P1", "P2", "P3", "P4")


def _generated() -> list[Ticket]:
    """Tickets with a spread of fates, opened every 5 h 17 min through each window."""
    tickets: list[Ticket] = []
    for w, window in enumerate(WINDOWS):
        for i in range(PER_WINDOW):
            n = w * PER_WINDOW + i
            opened = window + i * OPENING_STEP
            ticket = Ticket(f"G{n:03d}", PLANS[n % 3], PRIORITIES[(n // 3) % 4], opened.isoformat(),
                            customer=f"c{n % 7}")

            def at(delta: timedelta) -> str:
                return (opened + delta).isoformat()

            fate = n % 8
            if fate == 0:
                ticket.then("ticket.acknowledged", at(timedelta(minutes=25)))
            elif fate == 1:
                ticket.then("ticket.acknowledged", at(timedelta(hours=3, minutes=5)))
            elif fate == 2:
                ticket.then("ticket.acknowledged", at(timedelta(days=2, hours=1)))
            elif fate == 3:
                pass  # never answered
            elif fate == 4:
                ticket.then("ticket.priority_changed", at(timedelta(minutes=20)), priority="P1")
                ticket.then("ticket.acknowledged", at(timedelta(hours=2)))
            elif fate == 5:
                ticket.then("ticket.priority_changed", at(timedelta(minutes=10)), priority="P4")
                ticket.then("ticket.resolved", at(timedelta(hours=9)))
            elif fate == 6:
                ticket.then("ticket.acknowledged", at(timedelta(hours=1, minutes=40)), late=True)
                ticket.then("ticket.closed", at(timedelta(hours=40)))
            else:
                ticket.then("ticket.resolved", at(timedelta(hours=26)), late=True)
            tickets.append(ticket)
    return tickets


LATE_BY = timedelta(hours=30)  # how far behind its occurrence a "late" event is published


def _records(tickets: list[Ticket]) -> list[tuple[bytes, bytes]]:
    """(key, value) in publication order: by occurrence, late events 30 h after theirs."""
    timed: list[tuple[datetime, int, dict[str, Any]]] = []
    for ticket in tickets:
        opened = {"type": "ticket.opened", "ticket_id": ticket.ticket_id, "priority": ticket.priority,
                  "customer_id": ticket.customer, "plan": ticket.plan, "account_manager": "am-event"}
        events = [(ticket.opened, opened, False)] + [
            (at, {"type": kind, "ticket_id": ticket.ticket_id, **fields}, late)
            for at, kind, fields, late in ticket.later]
        for n, (at, event, late) in enumerate(events):
            occurred = datetime.fromisoformat(at)
            body = {"event_id": f"{ticket.ticket_id}-{n}", "occurred_at": at, **event}
            timed.append((occurred + (LATE_BY if late else timedelta()), len(timed), body))
    timed.sort(key=lambda item: (item[0], item[1]))
    return [(body["ticket_id"].encode(), json.dumps(body).encode()) for _, _, body in timed]


@pytest.fixture
def worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    with running_worker(kafka_bootstrap, tmp_path, POLICY) as process:
        yield process


def test_live_and_replay_agree_across_daylight_saving_changes(kafka_bootstrap: str, worker: WorkerProcess,
                                                              tmp_path: Path) -> None:
    tickets = [ticket for ticket, _ in HAND_CHECKED.values()] + _generated()
    records = _records(tickets)
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"".join(value + b"\n" for _, value in records))
    produce(kafka_bootstrap, worker.topic("ticket-events"), records)

    # Every deadline above is weeks behind wall time, so replay run to now fires them all.
    offline = replay_outputs(events_file, tmp_path / "policy.yaml", time.time())
    expected = {output_key(r) for r in offline}
    deadline = time.monotonic() + 40
    live: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        live = [json.loads(r.value) for topic in ("ticket-slo-breaches", "ticket-slo-outcomes")
                for r in consume(kafka_bootstrap, worker.topic(topic), expect=10**9, timeout=2)]
        if {output_key(r) for r in live if r["type"] == "slo.completed"} >= \
                {k for k in expected if k[0] == "slo.completed"}:
            break
    time.sleep(2)  # anything surplus still in flight
    live = [json.loads(r.value) for topic in ("ticket-slo-breaches", "ticket-slo-outcomes")
            for r in consume(kafka_bootstrap, worker.topic(topic), expect=10**9, timeout=3)]

    # Exactly once: one worker, no crash, so no output is published twice.
    live_keys = [output_key(r) for r in live]
    assert len(live_keys) == len(set(live_keys)), "an output was published twice"

    live_outcomes, live_standing = net_outputs(live)
    offline_outcomes, offline_standing = net_outputs(offline)
    assert len(offline_outcomes) > 50 and len(offline_standing) > 20  # the scenario has substance
    assert live_outcomes == offline_outcomes, net_differences(live_outcomes, offline_outcomes)

    # Breaches minus retractions: the same breach ids; and the same contents, except where a
    # priority change reached live after its breach (see H16): that breach keeps the terms it
    # was published under, while replay, on event time, published it under the new ones.
    def ids(standing: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
        return {ticket: sorted(b["breach_id"] for b in breaches) for ticket, breaches in standing.items()}

    assert ids(live_standing) == ids(offline_standing), net_differences(live_standing, offline_standing)
    changed = {t.ticket_id for t in tickets if any(kind == "ticket.priority_changed" for _, kind, _, _ in t.later)}
    assert {t: b for t, b in live_standing.items() if t not in changed} == \
        {t: b for t, b in offline_standing.items() if t not in changed}, net_differences(live_standing, offline_standing)

    # The numbers worked out by hand.
    first_breach = {r["ticket_id"]: r for r in reversed(live) if r["type"] == "slo.breached"}
    wrong = {}
    for name, (ticket, by_hand) in HAND_CHECKED.items():
        tid = ticket.ticket_id
        told = {"first live deadline": first_breach[tid]["deadline"] if tid in first_breach else None,
                "outcome": [(o["met"], o["elapsed_seconds"]) for o in offline_outcomes.get(tid, [])],
                "net deadline": [b["deadline"] for b in offline_standing.get(tid, [])],
                "live net deadline": [b["deadline"] for b in live_standing.get(tid, [])],
                "calendar and contract": {(r["calendar"], r["contract"]) for r in live if r["ticket_id"] == tid}}
        worked_out = {"first live deadline": by_hand.first_deadline,
                      "outcome": [by_hand.outcome] if by_hand.outcome else [],
                      "net deadline": [by_hand.net_deadline] if by_hand.net_deadline else [],
                      "live net deadline": [by_hand.live_net] if by_hand.live_net else [],
                      "calendar and contract": {(by_hand.calendar, by_hand.contract)}}
        if told != worked_out:
            wrong[f"{name} ({tid})"] = {k: f"got {told[k]}, by hand {worked_out[k]}"
                                        for k in told if told[k] != worked_out[k]}
    assert not wrong, "\n".join(f"{name}: {fields}" for name, fields in wrong.items())
    # The answer published after Monday's events: replay breached H01 too, then took it back.
    assert [r["type"] for r in offline if r["ticket_id"] == "H01"] == \
        ["slo.breached", "slo.breach_retracted", "slo.completed"]
    retractions = sum(1 for r in live if r["type"] == "slo.breach_retracted")
    print(f"\ncalendars live vs replay: {len(tickets)} tickets, {len(records)} events, "
          f"{len(live_outcomes)} outcomes and {len(live_standing)} standing breaches alike; "
          f"live published {len(live) - len(live_outcomes)} breaches and retractions ({retractions} retractions), "
          f"replay {len(offline) - len(offline_outcomes)}; {len(HAND_CHECKED)} tickets as worked out by hand")
