"""Benchmark events: realistic ticket lifecycles of about 300 bytes, pre-encoded for Kafka.

The throughput batch interleaves many tickets in flight, each going through
opened → (priority changed, 30 %) → acknowledged → resolved → closed, with the
extra metadata real helpdesks attach (ignored by the contract, but parsed and
carried over the wire). Open tickets are ``ticket.opened`` events only.
A ``TicketMix`` spreads tickets over plans and moves each ticket's events back in time
by its own offset (its events keep their order and spacing), so that business-hours
calendars are asked about many different weeks; the default mix (plan ``default``, no
offset) gives the bytes the 24/7 phases always had.
Everything is seeded: the same plan gives the same bytes in every phase.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Iterator

from ticket_slo.streams.tools.simulator import PRIORITY_WEIGHTS, rfc3339

__all__ = ["Record", "BATCH_PREFIX", "API_CUSTOMER", "TicketMix", "ALWAYS_ON_MIX", "lifecycle_batch", "renamed_repeats",
           "customer_share", "open_tickets", "probe_events", "encode", "event_value", "mean_size"]

Record = tuple[bytes, bytes]

#: The ticket-id prefix of the throughput batch.
BATCH_PREFIX = "T-"
#: A customer no drawn ticket has (theirs are C00001-C04999): the open-tickets phases give it the
#: same few tickets at any size, so that ``GET /api/open?customer=`` asks for as many clocks
#: at 10,000 open tickets as at 1,000,000.
API_CUSTOMER = "C99999"

_PRIORITIES = list(PRIORITY_WEIGHTS)
_WEIGHTS = list(PRIORITY_WEIGHTS.values())
_HELPDESKS = ("zendesk-eu", "zendesk-us", "servicenow", "jira-sm", "freshdesk")
_CHANNELS = ("email", "portal", "phone", "chat", "api")
_SUMMARIES = (
    "Checkout API returns 502 for a subset of EU customers since the last deploy",
    "Nightly export job stalls at 80% and never writes the final manifest",
    "SSO login loops back to the sign-in page for users of one tenant",
    "Dashboard latency above 5 s on the reporting cluster during business hours",
    "Webhook deliveries delayed by several minutes for the payments integration",
    "Question about rate limits on the bulk import endpoint for the next quarter",
)


@dataclass(frozen=True, slots=True)
class TicketMix:
    """Which plans the tickets are on, and how far back their events may lie.

    Each ticket draws its plan and an offset in ``[0, spread_s)`` seconds from a generator
    of its own (seeded), so the rest of an event's bytes are those of the default mix.
    """

    plans: tuple[str, ...] = ("default",)
    spread_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.plans or self.spread_s < 0:
            raise ValueError(f"a ticket mix needs a plan and a spread >= 0, got {self.plans!r}, {self.spread_s}")

    def drawer(self, seed: int) -> _MixDrawer:
        return _MixDrawer(self, random.Random(seed * 7919 + 1))


@dataclass(slots=True)
class _MixDrawer:
    mix: TicketMix
    rng: random.Random

    def draw(self) -> tuple[str, float]:
        """(plan, seconds to move the ticket's events back) of the next ticket."""
        plans, spread = self.mix.plans, self.mix.spread_s
        plan = plans[0] if len(plans) == 1 else self.rng.choice(plans)
        return plan, (self.rng.uniform(0.0, spread) if spread else 0.0)


#: The 24/7 phases' tickets: all on ``default``, at the batch's own times.
ALWAYS_ON_MIX = TicketMix()


def encode(event: dict[str, object]) -> Record:
    return str(event["ticket_id"]).encode(), json.dumps(event, separators=(",", ":")).encode()


def event_value(rng: random.Random, ticket_id: str, seq: int, kind: str, at: float,
                **fields: object) -> dict[str, object]:
    """One event with the metadata a helpdesk adds (about 300 bytes once encoded)."""
    event: dict[str, object] = {
        "event_id": f"{ticket_id}-e{seq}",
        "type": kind,
        "ticket_id": ticket_id,
        "occurred_at": rfc3339(at),
        **fields,
        "source": {"helpdesk": rng.choice(_HELPDESKS), "channel": rng.choice(_CHANNELS),
                   "queue": f"tier-{rng.randint(1, 3)}", "region": rng.choice(("eu-west", "us-east"))},
    }
    if kind == "ticket.opened":
        event["title"] = rng.choice(_SUMMARIES)[: rng.randint(30, 75)]
    else:
        event["comment"] = rng.choice(_SUMMARIES)[: rng.randint(40, 75)]
    return event


def _opened_fields(rng: random.Random, plan: str = "default") -> dict[str, object]:
    return {"priority": rng.choices(_PRIORITIES, weights=_WEIGHTS)[0], "customer_id": f"C{rng.randrange(1, 5000):05d}",
            "plan": plan, "account_manager": f"am-{rng.randrange(1, 60):03d}"}


def _ticket_plan(rng: random.Random, plan: str) -> list[tuple[str, dict[str, object]]]:
    steps: list[tuple[str, dict[str, object]]] = [("ticket.opened", _opened_fields(rng, plan))]
    if rng.random() < 0.3:
        steps.append(("ticket.priority_changed", {"priority": rng.choice(_PRIORITIES)}))
    steps.append(("ticket.acknowledged", {"by": f"agent-{rng.randrange(1, 200):03d}"}))
    steps.append(("ticket.resolved", {}))
    steps.append(("ticket.closed", {}))
    return steps


def lifecycle_batch(count: int, *, prefix: str, start: float, seed: int = 11,
                    concurrent: int = 2000, step: float = 0.001, mix: TicketMix = ALWAYS_ON_MIX) -> list[Record]:
    """``count`` events of interleaved lifecycles, ``occurred_at`` from ``start`` by ``step``
    (each ticket's moved back by its ``mix`` offset).

    ``concurrent`` tickets are in flight at once; a finished ticket is replaced by a
    new one. The batch stops at ``count`` even when the last tickets are unfinished.
    """
    rng = random.Random(seed)
    drawer = mix.drawer(seed)
    active: list[tuple[str, float, list[tuple[str, dict[str, object]]]]] = []
    next_ticket = 0
    out: list[Record] = []
    while len(out) < count:
        if len(active) < concurrent:
            next_ticket += 1
            plan, back = drawer.draw()
            active.append((f"{prefix}{next_ticket:08d}", back, list(reversed(_ticket_plan(rng, plan)))))
            continue
        index = rng.randrange(len(active))
        ticket_id, back, steps = active[index]
        kind, fields = steps.pop()
        seq = len(out)
        out.append(encode(event_value(rng, ticket_id, seq, kind, start + seq * step - back, **fields)))
        if not steps:
            active[index] = active[-1]
            active.pop()
    return out


def renamed_repeats(batch: list[Record], count: int, *, prefix: str) -> Iterator[Record]:
    """``count`` events: the batch, then copies of it whose tickets are renamed.

    In copy ``n`` (from 1) every ticket id ``{prefix}X`` (key, ``ticket_id``, and the
    ``event_id`` built from it) becomes ``{prefix}r{n}-X``: to an engine each copy is new
    tickets, not duplicates of seen events, so it does the batch's work again.
    """
    old = prefix.encode()
    for n in range(count):
        copy, index = divmod(n, len(batch))
        key, value = batch[index]
        if copy:
            new = f"{prefix}r{copy}-".encode()
            key, value = new + key[len(old):], value.replace(b'"' + old, b'"' + new)
        yield key, value


def customer_share(count: int, tickets: int) -> range:
    """The numbers of the open tickets given to ``API_CUSTOMER``: ``tickets`` of ``count``
    (all of them when fewer), evenly spaced, so over every partition."""
    if tickets <= 0:
        return range(0)
    stride = max(1, count // tickets)
    return range(0, min(count, stride * tickets), stride)


def open_tickets(count: int, *, prefix: str, at: float, seed: int = 23,
                 mix: TicketMix = ALWAYS_ON_MIX, customer_tickets: int = 0) -> Iterator[Record]:
    """``count`` distinct ``ticket.opened`` events (their clocks keep running), opened at ``at``
    (each moved back by its ``mix`` offset).

    ``customer_tickets`` of them (``customer_share``) are ``API_CUSTOMER``'s instead of
    their drawn customer's; every other byte stays as drawn.
    """
    rng = random.Random(seed)
    drawer = mix.drawer(seed)
    shared = customer_share(count, customer_tickets)
    for n in range(count):
        ticket_id = f"{prefix}{n:08d}"
        plan, back = drawer.draw()
        fields = _opened_fields(rng, plan)
        if n in shared:
            fields["customer_id"] = API_CUSTOMER
        yield encode(event_value(rng, ticket_id, 0, "ticket.opened", at + n * 1e-6 - back, **fields))


def probe_events(ticket_id: str, at: float, plan: str = "default") -> list[Record]:
    """Opened then acknowledged: its ``slo.completed`` shows the worker is processing."""
    rng = random.Random(ticket_id)
    fields = {**_opened_fields(rng, plan), "priority": "P4"}
    return [encode(event_value(rng, ticket_id, 0, "ticket.opened", at, **fields)),
            encode(event_value(rng, ticket_id, 1, "ticket.acknowledged", at + 0.001, by="bench"))]


def mean_size(records: list[Record]) -> float:
    return sum(len(value) for _, value in records) / max(1, len(records))
