"""A stand-in for a worker's status API in the benchmark's unit tests: a real HTTP/1.1 server
on loopback answering ``GET /api/tickets/{id}`` and ``GET /api/open?customer=`` in the
contract's shapes from a dict of tickets, with knobs for the faults the benchmark must see
(503 while not ready, wrong answers, connections closed by the server)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["StatusApiDouble", "serve"]


@dataclass
class StatusApiDouble:
    """Tickets by id (each a customer id) and the knobs; what the server saw."""

    tickets: dict[str, str]
    #: Answer 503 (Retry-After: 1) to this many requests first.
    unavailable_first: int = 0
    #: List one clock of another customer in every /api/open answer.
    leak_other_customer: bool = False
    #: Answer every ticket request with this ticket's view instead.
    always_ticket: str | None = None
    #: Close the connection after every this many responses (0: keep it open).
    close_every: int = 0
    connections: int = 0
    requests: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests.append(path)
            if len(self.requests) <= self.unavailable_first:
                return 503, {"error": "recovering"}, {"Retry-After": "1"}
        parts = urlsplit(path)
        if parts.path.startswith("/api/tickets/"):
            ticket_id = unquote(parts.path.removeprefix("/api/tickets/"))
            ticket_id = self.always_ticket or ticket_id
            if ticket_id not in self.tickets:
                return 404, {"error": f"no ticket {ticket_id}"}, {}
            return 200, self._view(ticket_id), {}
        if parts.path == "/api/open":
            customer = parse_qs(parts.query).get("customer", [""])[0]
            mine = sorted(t for t, c in self.tickets.items() if c == customer)
            clocks = [self._clock(t, n) for n, t in enumerate(mine)]
            if self.leak_other_customer:
                other = next(t for t, c in self.tickets.items() if c != customer)
                clocks.append(self._clock(other, len(clocks)))
            return 200, {"clocks": clocks, "next": None, "as_of": "2026-11-30T22:00:00.000000Z",
                         "partitions": 8}, {}
        return 404, {"error": "no such route"}, {}

    def _view(self, ticket_id: str) -> dict[str, Any]:
        return {"ticket_id": ticket_id, "phase": "running", "priority": "P3", "plan": "default",
                "customer_id": self.tickets[ticket_id], "account_manager": "am-001", "contract": None,
                "objectives": [{"objective": "first_response", "state": "running"}],
                "as_of": "2026-11-30T22:00:00.000000Z", "partition": 3, "served_by": "http://127.0.0.1"}

    def _clock(self, ticket_id: str, n: int) -> dict[str, Any]:
        return {"ticket_id": ticket_id, "customer_id": self.tickets[ticket_id], "objective": "first_response",
                "state": "running", "deadline": f"2026-12-01T{n // 60:02d}:{n % 60:02d}:00.000000Z"}


def _handler(double: StatusApiDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK wait

        def setup(self) -> None:
            super().setup()
            with double._lock:
                double.connections += 1
            self.served = 0

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            status, body, headers = double.answer(self.path)
            data = json.dumps(body).encode()
            self.served += 1
            closing = bool(double.close_every) and self.served % double.close_every == 0
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            if closing:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def serve(double: StatusApiDouble) -> Iterator[str]:
    """Run the server in a thread; yields its ``http://127.0.0.1:PORT`` (a fixture's body)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(double))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
