"""The status API of a worker holding N open tickets: how long it takes to answer, and that it answers right.

Asked by the open-tickets phases (24/7) of the worker restarted on their N tickets, once
its drain is over (lag zero), one request at a time on one keep-alive connection:

- ``GET /api/tickets/{id}`` of random open tickets: each answer must be a 200 naming that
  ticket;
- ``GET /api/open?customer=C`` for the one customer that has the same few open tickets at
  any N (``lifecycle.API_CUSTOMER``): each answer must list exactly those tickets' clocks,
  on one page. Its latency at 10,000 and at 1,000,000 open tickets side by side is the
  evidence of an index: a scan of every open ticket would take a hundred times longer at
  the larger size;
- ``GET /api/tickets/`` of a ticket that does not exist: a 404.

The first answers of a process (imports, a first connection, first allocations) are not
what the goal is about: a few requests of each kind are sent before the timed ones.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from ticket_slo.streams.bench.api_client import Answer, ApiConnection, latency_figures, open_path, ticket_path

__all__ = ["ApiAsk", "measure_api", "check_ticket", "check_customer_page", "WARM_UP", "UNKNOWN_TICKET"]

#: Untimed requests of each kind before the timed ones.
WARM_UP = 20
#: A ticket id no phase publishes.
UNKNOWN_TICKET = "NO-SUCH-TICKET-0"
#: Examples of wrong answers kept in the figures (the count is always complete).
_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class ApiAsk:
    """What to ask: open tickets ``{prefix}{n:08d}`` for n below ``open_tickets``, and the
    customer that has ``customer_tickets`` of them."""

    prefix: str
    open_tickets: int
    customer: str
    customer_tickets: int
    ticket_requests: int
    open_requests: int
    seed: int = 5

    def random_ids(self) -> list[str]:
        rng = random.Random(self.seed)
        return [f"{self.prefix}{rng.randrange(self.open_tickets):08d}" for _ in range(self.ticket_requests)]


def check_ticket(answer: Answer, ticket_id: str) -> str | None:
    """Why ``answer`` is not the view of open ticket ``ticket_id`` (None when it is)."""
    if answer.status != 200:
        return f"{ticket_id}: status {answer.status}: {answer.body[:200]!r}"
    view = answer.json()
    if not isinstance(view, dict) or view.get("ticket_id") != ticket_id:
        return f"{ticket_id}: answered for {view.get('ticket_id') if isinstance(view, dict) else view!r}"
    if not view.get("objectives"):
        return f"{ticket_id}: no objectives in {answer.body[:200]!r}"
    return None


def check_customer_page(answer: Answer, customer: str, tickets: int) -> str | None:
    """Why ``answer`` is not one page holding the running clocks of ``customer``'s ``tickets``
    open tickets, soonest deadline first (None when it is)."""
    if answer.status != 200:
        return f"status {answer.status}: {answer.body[:200]!r}"
    page = answer.json()
    clocks = page.get("clocks") if isinstance(page, dict) else None
    if not isinstance(clocks, list):
        return f"no clocks list in {answer.body[:200]!r}"
    others = {clock.get("customer_id") for clock in clocks} - {customer}
    if others:
        return f"clocks of other customers: {sorted(map(str, others))[:3]}"
    listed = {clock.get("ticket_id") for clock in clocks}
    if len(listed) != tickets:
        return f"{len(listed)} tickets listed, {tickets} expected"
    if page.get("next") is not None:
        return f"a next page ({page['next']!r}) after {len(clocks)} clocks"
    deadlines = [clock.get("deadline") or "" for clock in clocks]
    if deadlines != sorted(deadlines):
        return "clocks not soonest deadline first"
    return None


class _Timed:
    """The latencies, statuses and wrong answers of one kind of request."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.wrong = 0
        self.examples: list[str] = []

    def add(self, answer: Answer, problem: str | None) -> None:
        self.seconds.append(answer.seconds)
        self.statuses[answer.status] += 1
        if problem is not None:
            self.wrong += 1
            if len(self.examples) < _EXAMPLES:
                self.examples.append(problem)

    def figures(self) -> dict[str, object]:
        return {**latency_figures(self.seconds, self.statuses), "wrong_answers": self.wrong,
                "wrong_examples": self.examples}


def measure_api(url: str, ask: ApiAsk, *, wait_limit: float,
                on_tick: Callable[[], None] | None = None) -> dict[str, Any]:
    """Every request of ``ask`` against the worker at ``url``; latencies in ms and the checks' results."""
    customer_path = open_path(customer=ask.customer)
    with ApiConnection(url) as api:
        served = api.wait_until_served(customer_path, wait_limit, on_tick=on_tick)
        ids = ask.random_ids()
        for ticket_id in ids[:WARM_UP]:
            api.get(ticket_path(ticket_id))
        for _ in range(WARM_UP):
            api.get(customer_path)
        tickets, customer, unknown = _Timed(), _Timed(), _Timed()
        for ticket_id in ids:
            answer = api.get(ticket_path(ticket_id))
            tickets.add(answer, check_ticket(answer, ticket_id))
        for n in range(ask.open_requests):
            answer = api.get(customer_path)
            customer.add(answer, check_customer_page(answer, ask.customer, ask.customer_tickets))
            if on_tick is not None and n % 100 == 0:
                on_tick()
        for _ in range(WARM_UP):
            answer = api.get(ticket_path(UNKNOWN_TICKET))
            unknown.add(answer, None if answer.status == 404 and "error" in answer.json()
                        else f"status {answer.status}: {answer.body[:200]!r}")
        reconnects = api.reconnects
    return {
        "url": url,
        "open_tickets": ask.open_tickets,
        "customer": ask.customer,
        "customer_tickets": ask.customer_tickets,
        "first_customer_answer": served.status,
        "warm_up_requests": WARM_UP,
        "reconnects": reconnects,
        "ticket": tickets.figures(),
        "open_customer": customer.figures(),
        "unknown_ticket": unknown.figures(),
    }
