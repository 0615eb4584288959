"""A steady request load on a worker's status API, in a process of its own (the API-cost phase).

``python -m ticket_slo.streams.bench.api_load URL --ticket-prefix P --tickets N --customer C``
asks ``GET /api/tickets/{id}`` of random tickets ``{P}{n:08d}`` and ``GET /api/open?customer=C``
at fixed rates, one request at a time on one keep-alive connection, until SIGINT or
SIGTERM (or ``--seconds``), then prints one JSON line: per route the requests, their
statuses and latencies, and the rate reached.

The requests follow a timetable, not the answers: a request delayed by a busy worker
does not move the next ones, those that fell due meanwhile are sent at once. So the
load is the asked rate on average, as users' browsers would make it, and the latencies
show how long a request waits for a worker busy with its batches.
"""

from __future__ import annotations

import argparse
import heapq
import http.client
import json
import random
import signal
import sys
import time
from collections import Counter
from typing import Iterator, Sequence

from ticket_slo.streams.bench.api_client import ApiConnection, latency_figures, open_path, ticket_path

__all__ = ["timetable", "main"]

#: The routes of the load, as the figures name them.
TICKET, OPEN = "ticket", "open_customer"


def timetable(rates: dict[str, float], start: float) -> Iterator[tuple[float, str]]:
    """(when, route) of every request, in time order: route ``r`` at ``start + k / rates[r]``
    for k = 1, 2…; a route of rate 0 never comes."""
    due = [(start + 1.0 / rate, route) for route, rate in sorted(rates.items()) if rate > 0]
    heapq.heapify(due)
    counts = {route: 1 for route in rates}
    while due:
        at, route = heapq.heappop(due)
        yield at, route
        counts[route] += 1
        heapq.heappush(due, (start + counts[route] / rates[route], route))


class _Stop:
    def __init__(self) -> None:
        self.asked = False

    def __call__(self, signum: int, frame: object) -> None:
        self.asked = True


def run(url: str, *, prefix: str, tickets: int, customer: str, tickets_per_s: float, open_per_s: float,
        seconds: float | None, stop: _Stop) -> dict[str, object]:
    rng = random.Random(17)
    seconds_by_route: dict[str, list[float]] = {TICKET: [], OPEN: []}
    statuses: dict[str, Counter[int]] = {TICKET: Counter(), OPEN: Counter()}
    errors: Counter[str] = Counter()
    started = time.monotonic()
    until = None if seconds is None else started + seconds
    customer_path = open_path(customer=customer)
    with ApiConnection(url) as api:
        for at, route in timetable({TICKET: tickets_per_s, OPEN: open_per_s}, started):
            while not stop.asked and time.monotonic() < at and (until is None or time.monotonic() < until):
                time.sleep(min(0.01, max(0.0, at - time.monotonic())))
            if stop.asked or (until is not None and time.monotonic() >= until):
                break
            path = ticket_path(f"{prefix}{rng.randrange(tickets):08d}") if route == TICKET else customer_path
            try:
                answer = api.get(path)
            except (OSError, http.client.HTTPException) as exc:  # counted, and the load goes on
                errors[exc.__class__.__name__] += 1
                continue
            seconds_by_route[route].append(answer.seconds)
            statuses[route][answer.status] += 1
        reconnects = api.reconnects
    elapsed = time.monotonic() - started
    return {
        "seconds": round(elapsed, 2),
        "asked_per_s": {TICKET: tickets_per_s, OPEN: open_per_s},
        "sent_per_s": {route: round(len(values) / elapsed, 2) if elapsed > 0 else 0.0
                       for route, values in seconds_by_route.items()},
        "routes": {route: latency_figures(values, statuses[route]) for route, values in seconds_by_route.items()},
        "connection_errors": dict(errors),
        "reconnects": reconnects,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="api_load", description=__doc__.splitlines()[0])
    parser.add_argument("url", help="http://HOST:PORT of the worker's status API")
    parser.add_argument("--ticket-prefix", required=True)
    parser.add_argument("--tickets", type=int, required=True, help="ticket ids {prefix}{n:08d}, n below this")
    parser.add_argument("--customer", required=True)
    parser.add_argument("--tickets-per-s", type=float, default=50.0)
    parser.add_argument("--open-per-s", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, help="stop after this long (else at SIGINT or SIGTERM)")
    args = parser.parse_args(argv)
    stop = _Stop()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    result = run(args.url, prefix=args.ticket_prefix, tickets=args.tickets, customer=args.customer,
                 tickets_per_s=args.tickets_per_s, open_per_s=args.open_per_s, seconds=args.seconds, stop=stop)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
