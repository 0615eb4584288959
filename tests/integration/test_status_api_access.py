"""Who sees what through the status API of two real workers: no token, a wrong one, a staff
token, and a customer token that must never see another customer's ticket by any route."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.integration.kafka_io import produce
from tests.integration.status_http import get, wait_for
from tests.integration.worker_process import WorkerProcess

pytestmark = [pytest.mark.integration]

PARTITIONS = 4
STAFF = "staff-secret-4f1c9a52b7"
ACME = "acme-secret-9d3e7b1c04"
GLOBEX = "globex-secret-2a8f6c5d1e"
WRONG = "wrong-secret-7c2b9e4a13"
POLICY = """
plans:
  default:
    warn_at: [0.5]
    objectives:
      first_response: {P1: 4s, P2: 2h, P3: 4h, P4: 8h}
"""


def _opened(ticket: str, customer: str, priority: str) -> tuple[bytes, bytes]:
    at = datetime.now(timezone.utc) - timedelta(seconds=1)
    body = {"event_id": f"{ticket}-o", "type": "ticket.opened", "ticket_id": ticket, "priority": priority,
            "customer_id": customer, "plan": "default", "occurred_at": at.isoformat()}
    return ticket.encode(), json.dumps(body).encode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _login(base_url: str, token: str, headers: dict[str, str]) -> tuple[int, str | None]:
    """(status, Set-Cookie) of the login form's POST, its redirect not followed."""
    request = urllib.request.Request(f"{base_url}/login", data=urllib.parse.urlencode({"token": token}).encode(),
                                     headers=headers, method="POST")
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=10) as response:
            return response.status, response.headers.get("Set-Cookie")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Set-Cookie")


def test_a_customer_token_sees_its_customer_only_and_tokens_stay_out_of_logs(kafka_bootstrap: str,
                                                                              tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(f"""tokens:
  - name: support-desk
    token: {STAFF}
    staff: true
  - name: acme-portal
    token: {ACME}
    customer: acme
  - name: globex-portal
    token: {GLOBEX}
    customer: globex
""")
    env = {"TICKET_SLO_POLICY": str(policy), "TICKET_SLO_WEB_TOKENS_FILE": str(tokens)}
    first = WorkerProcess(kafka_bootstrap, tmp_path, extra_env=env, partitions=PARTITIONS)
    second = WorkerProcess(kafka_bootstrap, tmp_path, prefix=first.prefix, extra_env=env, partitions=PARTITIONS)
    workers = (first, second)
    try:
        for worker in workers:
            worker.launch()
        for worker in workers:
            worker.wait_for_log("Ready", 120)
        acme = [f"A-{i}" for i in range(12)]
        globex = [f"G-{i}" for i in range(12)]
        produce(kafka_bootstrap, first.topic("ticket-events"),
                [_opened(t, "acme", "P1" if i < 2 else "P3") for i, t in enumerate(acme)]
                + [_opened(t, "globex", "P1" if i < 2 else "P3") for i, t in enumerate(globex)])

        def breached_and_settled() -> bool:
            answers = [get(f"{w.web_url}/api/open?limit=500", STAFF) for w in workers]
            if not all(status == 200 and len(body["clocks"]) == 24 for status, _, body in answers):
                return False
            status, _, body = get(f"{first.web_url}/api/recent", STAFF)
            return status == 200 and len(body["events"]) == 4
        wait_for(breached_and_settled, 90, "both workers to list the 24 tickets and the 4 P1 breaches")

        for worker in workers:
            for path in ("/api/tickets/A-1", "/api/open", "/api/recent", "/api/open?scope=local", "/anything"):
                for token in (None, WRONG, ACME[:-1], ACME + "x", f"{ACME} {ACME}"):
                    status, headers, body = get(worker.web_url + path, token)
                    assert status == 401 and "valid token" in body["error"], (path, token, status, body)
                    assert headers.get("WWW-Authenticate", "").startswith("Bearer")

        # The customer's own tickets, through either worker (one of them routes).
        unknown = get(f"{first.web_url}/api/tickets/NOPE-1", ACME)
        assert unknown[0] == 404
        for worker in workers:
            for ticket in acme:
                status, _, body = get(f"{worker.web_url}/api/tickets/{ticket}", ACME)
                assert status == 200 and body["customer_id"] == "acme"
            for ticket in globex:
                status, _, body = get(f"{worker.web_url}/api/tickets/{ticket}", ACME)
                assert (status, body) == (404, {"error": f"no ticket {ticket}"}), "a 404 exactly like an unknown one"
                status, _, body = get(f"{worker.web_url}/api/tickets/{ticket}", STAFF)
                assert status == 200 and body["customer_id"] == "globex"

        # Listings cut to the token's customer whatever the query asks.
        for worker in workers:
            for query in ("", "?customer=globex", "?customer=globex&scope=local", "?limit=500&priority=P1,P3",
                          "?account_manager=", "?scope=local"):
                status, _, body = get(f"{worker.web_url}/api/open{query}", ACME)
                assert status == 200, (query, body)
                assert {c["customer_id"] for c in body["clocks"]} <= {"acme"}, query
                if "scope" not in query:
                    assert len(body["clocks"]) == 12, query
            status, _, body = get(f"{worker.web_url}/api/recent?limit=50", ACME)
            assert status == 200 and sorted(e["ticket_id"] for e in body["events"]) == ["A-0", "A-1"]
            status, _, body = get(f"{worker.web_url}/api/recent?limit=50", STAFF)
            assert sorted(e["ticket_id"] for e in body["events"]) == ["A-0", "A-1", "G-0", "G-1"]

        # Path tricks: nothing of globex's reaches the acme token, and Faust's own views are gone.
        tricks = ["/api/tickets/G-1/", "/api/tickets/G-1%2F", "/api/tickets/..%2FG-1", "/api/tickets/%2e%2e/G-1",
                  "/api/tickets/../tickets/G-1", "//api/tickets/G-1", "/API/tickets/G-1", "/api/tickets/G-1?scope=local",
                  "/api/tickets/G%2D1", "/api/open/../tickets/G-1", "/table/tickets/", "/table/", "/router/",
                  "/api/tickets/%47-1", "/api/tickets/G-1%00", "/api/open?customer=globex%00"]
        for worker in workers:
            for trick in tricks:
                status, _, body = get(worker.web_url + trick, ACME)
                text = json.dumps(body)
                assert "globex" not in text and '"objectives"' not in text, (trick, status, body)
                if "tickets/G" in urllib.parse.unquote(trick) or trick.startswith(("/table", "/router")):
                    assert status in (400, 404), (trick, status, body)
            status, _, body = get(worker.web_url + "/table/tickets/", STAFF)
            assert status == 404, "Faust's table view must not be served, not even to staff"

        # The login form's session cookie: HttpOnly and SameSite=Strict always, Secure when the
        # TLS proxy in front says the browser came over HTTPS; none for a wrong token.
        for forwarded, secure in (({}, False), ({"X-Forwarded-Proto": "https"}, True),
                                  ({"Forwarded": "for=192.0.2.1;proto=https"}, True)):
            status, cookie = _login(first.web_url, ACME, forwarded)
            assert status == 303 and cookie is not None, (forwarded, status)
            assert cookie.startswith("ticket_slo_token=") and ACME not in cookie
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
            assert ("Secure" in cookie) is secure, (forwarded, cookie)
        assert _login(first.web_url, WRONG, {"X-Forwarded-Proto": "https"}) == (401, None)

        for worker in workers:
            log = worker.log()
            for token in (STAFF, ACME, GLOBEX, WRONG):
                assert token not in log, "a token appeared in the worker's log"
    finally:
        for worker in workers:
            worker.cleanup()
