"""The status API's answers: from this worker's partitions, and gathered from the others.

Every worker answers for any ticket and lists the open clocks of the whole cluster. It
reads its own partitions (the tracker's engines, between batches) and asks the other
workers for theirs with ``scope=local``, forwarding the caller's credentials so that each
worker applies the same access rules.

Who owns which partition comes from Faust's assignment (``app.router.table_metadata``),
not from hashing the ticket id: producers outside this project may partition
``ticket-events`` with another hash (librdkafka's default is CRC32, not Kafka's murmur2),
and the tickets' state lives wherever their events arrived. So a lookup tries this
worker's partitions, then the worker owning the murmur2 partition of the id (right for
every producer using Kafka's default partitioner), then all the others. An answer is
only given when every partition was covered by a live owner: a ticket is "not found"
only when every partition said so, and a listing is only complete when every partition
answered. Otherwise the answer is 503 with ``Retry-After``: during a rebalance, while a
partition's state is read or its backlog caught up, or while a peer cannot be reached.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Final, Mapping
from urllib.parse import quote

import aiohttp
import orjson
from kafka.partitioner.default import murmur2

from ticket_slo.agents.tracker import Tracker
from ticket_slo.schemas.policy import Policy
from ticket_slo.streams.core.objective_clock import terms_for
from ticket_slo.streams.core.timebase import seconds_to_micros
from ticket_slo.streams.status.access import Viewer
from ticket_slo.streams.status.open_clocks import Row
from ticket_slo.streams.status.queries import OpenQuery, encode_cursor
from ticket_slo.streams.kafka.recent_breaches import RecentBreaches
from ticket_slo.streams.status.ticket_view import iso_instant, read_record, ticket_view

__all__ = ["StatusService", "Answer", "RETRY_AFTER_SECONDS", "expected_partition", "peers_of"]

log = logging.getLogger(__name__)

#: What a 503 tells clients to wait: about one rebalance step.
RETRY_AFTER_SECONDS: Final = 2
#: A peer that does not answer in this long is treated as gone (503: the caller retries).
PEER_TIMEOUT_SECONDS: Final = 3.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def expected_partition(ticket_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives the key ``ticket_id``."""
    return (murmur2(ticket_id.encode("utf-8")) & 0x7FFFFFFF) % partitions


def _busy(why: str) -> Answer:
    return Answer(503, {"error": f"not available right now: {why}; retry in {RETRY_AFTER_SECONDS} s",
                        "retry_after": RETRY_AFTER_SECONDS})


class StatusService:
    """Answers of the status API, for one worker."""

    def __init__(self, tracker: Tracker, policy: Policy, partitions: int, own_url: str,
                 peers: Callable[[], Mapping[str, list[int]]], recent: RecentBreaches,
                 wall: Callable[[], float] = time.time) -> None:
        self._tracker = tracker
        self._terms = terms_for(policy)
        self._partitions = partitions
        self.own_url = own_url
        self._peers = peers
        self._recent = recent
        self._wall = wall
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- GET /api/tickets/{ticket_id} --------------------------------------------------------

    async def ticket(self, ticket_id: str, viewer: Viewer, *, gather: bool, credentials: Mapping[str, str]) -> Answer:
        local = self._local_ticket(ticket_id, viewer)
        if local.status != 404 or not gather:
            return local
        covered = set(local.body["partitions"])
        others = {url: parts for url, parts in self._peers().items() if url != self.own_url}
        expected = expected_partition(ticket_id, self._partitions)
        first = [url for url, parts in others.items() if expected in parts]
        rest = [url for url in others if url not in first]
        busy: list[str] = []
        for group in (first, rest):
            answers = await asyncio.gather(*(self._ask(url, f"/api/tickets/{_quote(ticket_id)}", {"scope": "local"},
                                                       credentials) for url in group))
            for url, answer in zip(group, answers):
                if answer.status == 200:
                    return answer
                if answer.status == 404:
                    covered.update(answer.body.get("partitions", ()))
                else:
                    busy.append(f"{url} answered {answer.status}")
        missing = set(range(self._partitions)) - covered
        if busy or missing:
            return _busy("; ".join(busy) or f"partitions {sorted(missing)} have no live owner")
        return Answer(404, {"error": f"no ticket {ticket_id}"})

    def _local_ticket(self, ticket_id: str, viewer: Viewer) -> Answer:
        owned = self._tracker.owned_for_status()
        for part in owned:
            value = part.records.get(ticket_id)
            if value is None:
                continue
            if not part.live:
                return _busy(f"partition {part.partition} is catching up with its backlog")
            record = read_record(value)
            assert record is not None
            view = ticket_view(ticket_id, record, self._terms, seconds_to_micros(self._wall()))
            if not viewer.may_see(view["customer_id"]):
                break  # the same answer as for an unknown ticket
            view.update(as_of=self._as_of(), partition=part.partition, served_by=self.own_url)
            return Answer(200, view)
        if any(not part.live for part in owned):
            return _busy("a partition of this worker is catching up with its backlog")
        return Answer(404, {"error": f"no ticket {ticket_id}", "partitions": [part.partition for part in owned]})

    # -- GET /api/open -----------------------------------------------------------------------

    async def open_clocks(self, query: OpenQuery, viewer: Viewer, *, gather: bool,
                          credentials: Mapping[str, str]) -> Answer:
        if viewer.customer is not None:
            query = query.for_customer(viewer.customer)
        owned = self._tracker.owned_for_status()
        not_ready = [part.partition for part in owned if not part.live or not part.clocks.ready]
        if not_ready:
            return _busy(f"partitions {not_ready} are catching up or being indexed")
        now = seconds_to_micros(self._wall())
        rows: list[Row] = []
        for part in owned:
            rows.extend(part.clocks.listing(query, now))
        rows.sort(key=lambda row: row[0])
        rows = rows[:query.limit]
        covered = {part.partition for part in owned}
        if not gather:
            return Answer(200, {"clocks": [dict(fields, key=list(key)) for key, fields in rows],
                                "partitions": sorted(covered), "as_of": self._as_of()})
        as_of = self._as_of()
        params = dict(query.to_params(), scope="local")
        others = [url for url in self._peers() if url != self.own_url]
        answers = await asyncio.gather(*(self._ask(url, "/api/open", params, credentials) for url in others))
        busy = []
        for url, answer in zip(others, answers):
            if answer.status != 200:
                busy.append(f"{url} answered {answer.status}")
                continue
            claimed = set(answer.body.get("partitions", ()))
            if claimed & covered:  # two owners of one partition: an old one has not let go yet
                busy.append(f"partitions {sorted(claimed & covered)} are claimed by two workers")
            covered |= claimed
            if isinstance(answer.body.get("as_of"), str):
                as_of = min(as_of, answer.body["as_of"])  # fixed-width instants: the stalest part
            for fields in answer.body.get("clocks", ()):
                key = fields.pop("key")
                rows.append(((key[0], key[1], key[2]), fields))
        missing = set(range(self._partitions)) - covered
        if busy or missing:
            return _busy("; ".join(busy) or f"partitions {sorted(missing)} have no live owner")
        rows.sort(key=lambda row: row[0])
        page = rows[:query.limit]
        following = encode_cursor(page[-1][0]) if len(page) == query.limit else None
        return Answer(200, {"clocks": [fields for _, fields in page], "next": following, "as_of": as_of,
                            "partitions": self._partitions})

    # -- GET /api/recent ---------------------------------------------------------------------

    async def recent(self, limit: int, viewer: Viewer) -> Answer:
        events = await self._recent.latest()
        shown = [event for event in events if viewer.may_see(event.get("customer_id"))][:limit]
        return Answer(200, {"events": shown, "as_of": iso_instant(seconds_to_micros(self._recent.read_at))})

    # -- helpers -----------------------------------------------------------------------------

    def _as_of(self) -> str:
        """When this worker's state was last brought up to date with its input."""
        return iso_instant(seconds_to_micros(self._tracker.last_pass or self._wall()))

    async def _ask(self, url: str, path: str, params: Mapping[str, str], credentials: Mapping[str, str]) -> Answer:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT_SECONDS))
        try:
            async with self._session.get(url + path, params=params, headers=dict(credentials),
                                         allow_redirects=False) as response:
                body = orjson.loads(await response.read())
                return Answer(response.status, body if isinstance(body, dict) else {})
        except (aiohttp.ClientError, asyncio.TimeoutError, orjson.JSONDecodeError) as exc:
            log.warning("status API: the worker at %s did not answer: %r", url, exc)
            return Answer(503, {"error": f"{url} did not answer"})


def _quote(ticket_id: str) -> str:
    return quote(ticket_id, safe="")


def peers_of(metadata: Mapping[str, Mapping[str, list[int]]], changelog: str) -> dict[str, list[int]]:
    """URL → partitions of ``changelog`` from Faust's assignment metadata."""
    return {url.rstrip("/"): sorted(topics.get(changelog, ())) for url, topics in metadata.items()}

