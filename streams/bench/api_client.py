"""Timed requests to a worker's status API over one keep-alive connection, and their latency figures.

``http.client``, not aiohttp: the benchmark's observer is synchronous, and one request
at a time on one connection is what "the p99 of a request" means: nothing of ours
queues in front of the worker. The time of a request is from sending it to having read
its whole body.
"""

from __future__ import annotations

import http.client
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import quote, urlencode, urlsplit

from ticket_slo.streams.bench.processes import BenchError

__all__ = ["Answer", "ApiConnection", "latency_figures", "percentile", "ticket_path", "open_path"]


@dataclass(frozen=True, slots=True)
class Answer:
    """One response: its status, body, ``Retry-After`` header and how long it took."""

    status: int
    body: bytes
    seconds: float
    retry_after: str | None = None

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise BenchError(f"the status API answered {self.status} with a body that is not JSON: "
                             f"{self.body[:300]!r}") from None


def ticket_path(ticket_id: str) -> str:
    return f"/api/tickets/{quote(ticket_id, safe='')}"


def open_path(**params: str | int) -> str:
    return "/api/open" + (f"?{urlencode(params)}" if params else "")


class ApiConnection:
    """One keep-alive HTTP/1.1 connection to ``base_url`` (``http://host:port``)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, token: str | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise BenchError(f"the status API's URL {base_url!r} is not http://HOST:PORT")
        self.base_url = base_url
        self._host, self._port, self._timeout = parts.hostname, parts.port, timeout
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None
        self._opened = False
        #: How often the connection had to be opened again (the server closed it).
        self.reconnects = 0

    def __enter__(self) -> "ApiConnection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def get(self, path: str) -> Answer:
        """GET ``path``; a connection the server closed while idle is opened again once (and counted)."""
        for attempt in (1, 2):
            if self._conn is None:
                if self._opened:
                    self.reconnects += 1
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
                self._opened = True
            started = time.perf_counter()
            try:
                self._conn.request("GET", path, headers=self._headers)
                response = self._conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise
                continue
            except OSError:
                self.close()
                raise
            seconds = time.perf_counter() - started
            if response.will_close:
                self.close()
            return Answer(response.status, body, seconds, response.getheader("Retry-After"))
        raise AssertionError("unreachable")

    def wait_until_served(self, path: str, timeout: float, *, on_tick: Callable[[], None] | None = None) -> Answer:
        """GET ``path`` until it is not a 503 (a rebalance, a recovery, an index still building)
        nor refused; the first other answer."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                answer = self.get(path)
            except OSError as exc:
                last = f"{exc.__class__.__name__}: {exc}"
            else:
                if answer.status != 503:
                    return answer
                last = f"503 (Retry-After {answer.retry_after}): {answer.body[:200]!r}"
            if on_tick is not None:
                on_tick()
            time.sleep(0.2)
        raise BenchError(f"the status API at {self.base_url} did not serve {path} within {timeout:.0f}s: {last}")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.99 for p99): a value that was measured."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), math.ceil(round(fraction * len(ordered), 6))))
    return ordered[rank - 1]


def latency_figures(seconds: Sequence[float], statuses: Mapping[int, int] | None = None) -> dict[str, object]:
    """Count, p50, p90, p99, max and mean in milliseconds, and the answers by status."""
    figures: dict[str, object] = {"requests": len(seconds)}
    for name, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        figures[f"{name}_ms"] = round(percentile(seconds, fraction) * 1000, 3)
    figures["max_ms"] = round(max(seconds, default=0.0) * 1000, 3)
    figures["mean_ms"] = round(sum(seconds) / len(seconds) * 1000, 3) if seconds else 0.0
    if statuses is not None:
        figures["statuses"] = {str(status): count for status, count in sorted(statuses.items())}
    return figures
