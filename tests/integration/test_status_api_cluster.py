"""The status API of a cluster: three real workers on one broker answer the same for every ticket,
list every open clock once, and say 503 (never a wrong answer) while a crashed worker's
partitions move."""

from __future__ import annotations

import json
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.integration.kafka_io import produce
from tests.integration.status_http import get, timeless, wait_for
from tests.integration.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration]

PARTITIONS = 6
SESSION_TIMEOUT = 6.0
STAFF = "staff-token-0123456789"
POLICY = """
plans:
  default:
    warn_at: [0.5]
    objectives:
      first_response: {P1: 2h, P2: 3h, P3: 4h, P4: 8h}
"""
CUSTOMERS = ("acme", "globex", "initech", "umbrella")


def _opened(ticket: str, index: int, at: datetime) -> tuple[bytes, bytes]:
    body = {"event_id": f"{ticket}-o", "type": "ticket.opened", "ticket_id": ticket,
            "priority": f"P{index % 4 + 1}", "customer_id": CUSTOMERS[index % len(CUSTOMERS)],
            "account_manager": f"am-{index % 3}", "plan": "default",
            # Spread over an hour, so that the soonest-first order is not the publishing order.
            "occurred_at": (at - timedelta(seconds=(index * 797) % 3600)).isoformat()}
    return ticket.encode(), json.dumps(body).encode()


def _all_open(url: str, limit: int) -> tuple[list[dict[str, object]], int]:
    """Every open clock through the pages of ``limit``, and how many pages it took."""
    clocks: list[dict[str, object]] = []
    after = None
    pages = 0
    while True:
        query = {"limit": str(limit), **({"after": after} if after else {})}
        status, _, body = get(f"{url}/api/open?{urllib.parse.urlencode(query)}", STAFF)
        assert status == 200, body
        pages += 1
        clocks.extend(body["clocks"])
        after = body["next"]
        if after is None:
            return clocks, pages


def test_every_worker_answers_for_every_ticket_and_lists_each_open_clock_once(kafka_bootstrap: str,
                                                                               tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(f"tokens:\n  - name: staff\n    token: {STAFF}\n    staff: true\n")
    env = {"TICKET_SLO_POLICY": str(policy), "TICKET_SLO_SESSION_TIMEOUT": str(SESSION_TIMEOUT),
           "TICKET_SLO_WEB_TOKENS_FILE": str(tokens)}
    first = WorkerProcess(kafka_bootstrap, tmp_path, extra_env=env, partitions=PARTITIONS)
    workers = [first] + [WorkerProcess(kafka_bootstrap, tmp_path, prefix=first.prefix, extra_env=env,
                                       partitions=PARTITIONS) for _ in range(2)]
    try:
        for worker in workers:
            worker.launch()
        for worker in workers:
            worker.wait_for_log("Ready", 120)
        now = datetime.now(timezone.utc)
        tickets = [f"T-{i:03d}" for i in range(60)]
        produce(kafka_bootstrap, first.topic("ticket-events"), [_opened(t, i, now) for i, t in enumerate(tickets)])

        def settled() -> bool:
            answers = [get(f"{w.web_url}/api/open?limit=500", STAFF) for w in workers]
            return all(status == 200 and len(body["clocks"]) == len(tickets) for status, _, body in answers)
        wait_for(settled, 90, "every worker to list every ticket (the group settled into three members)")

        # The same answer from every worker, for tickets of every partition, owned by each worker.
        owners: set[str] = set()
        partitions: set[int] = set()
        for ticket in tickets:
            answers = [get(f"{w.web_url}/api/tickets/{ticket}", STAFF) for w in workers]
            assert [status for status, _, _ in answers] == [200, 200, 200], (ticket, answers)
            views = [timeless(body) for _, _, body in answers]
            assert views[0] == views[1] == views[2], ticket
            assert views[0]["ticket_id"] == ticket and views[0]["objectives"][0]["state"] == "running"
            owners.add(views[0]["served_by"])
            partitions.add(views[0]["partition"])
        assert partitions == set(range(PARTITIONS))
        assert owners == {w.web_url for w in workers}, "each worker owns some tickets: every route was taken"
        for worker in workers:
            status, _, body = get(f"{worker.web_url}/api/tickets/T-999", STAFF)
            assert status == 404 and body == {"error": "no ticket T-999"}

        # Every open clock once, soonest deadline first, through pages of 7 on every worker.
        for worker in workers:
            clocks, pages = _all_open(worker.web_url, 7)
            assert sorted(c["ticket_id"] for c in clocks) == tickets, worker.web_url
            deadlines = [c["deadline"] for c in clocks]
            assert deadlines == sorted(deadlines)
            assert pages >= len(tickets) // 7
        status, _, body = get(f"{workers[1].web_url}/api/open?customer=globex&priority=P2", STAFF)
        expected = sorted(t for i, t in enumerate(tickets) if CUSTOMERS[i % 4] == "globex" and i % 4 == 1)
        assert status == 200 and sorted(c["ticket_id"] for c in body["clocks"]) == expected and expected

        # A crash: until its partitions have a live owner again, 503 with Retry-After or the
        # whole truth, never a partial list.
        workers[2].kill()
        seen = {200: 0, 503: 0}
        deadline = time.monotonic() + SESSION_TIMEOUT + 40
        recovered_at = None
        while time.monotonic() < deadline:
            status, headers, body = get(f"{workers[0].web_url}/api/open?limit=500", STAFF)
            assert status in (200, 503), (status, body)
            seen[status] += 1
            if status == 503:
                assert headers.get("Retry-After") == "2", headers
            else:
                assert sorted(c["ticket_id"] for c in body["clocks"]) == tickets
                if seen[503] and recovered_at is None:
                    recovered_at = time.monotonic()
            if recovered_at is not None and time.monotonic() - recovered_at > 3:
                break
            time.sleep(0.2)
        assert seen[503] > 0, "the killed worker's partitions were never reported unavailable"
        assert recovered_at is not None, f"no complete answer after the rebalance ({seen})"
        status, _, body = get(f"{workers[1].web_url}/api/tickets/{tickets[0]}", STAFF)
        assert status == 200 and body["served_by"] in {workers[0].web_url, workers[1].web_url}
    finally:
        for worker in workers:
            worker.cleanup()
