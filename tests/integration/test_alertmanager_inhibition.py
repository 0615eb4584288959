"""A real Alertmanager with deploy/alertmanager/alertmanager.yml: one incident, one page.

Alerts are posted through Alertmanager's v2 API, as Prometheus and the alert bridge post
them; Alertmanager's own answer says which are inhibited and by what. No broker needed.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration.monitoring_servers import alertmanager_server
from tests.unit.test_prometheus_rules import ALERTMANAGER_CONFIG


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """Alertmanager on a free loopback port, clustering off, with the shipped configuration."""
    with alertmanager_server(tmp_path, ALERTMANAGER_CONFIG) as url:
        yield url


def _post(url: str, alerts: list[dict[str, str]]) -> None:
    now = datetime.now(timezone.utc)
    body = [{"labels": labels, "annotations": {"summary": labels["alertname"]},
             "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat()}
            for labels in alerts]
    request = urllib.request.Request(f"{url}/api/v2/alerts", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _states(url: str, expected: int) -> dict[tuple[str, str], dict[str, Any]]:
    """(alertname, priority) -> status, once Alertmanager holds the expected number of alerts."""
    deadline = time.monotonic() + 15
    while True:
        with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
            alerts = json.load(response)
        if len(alerts) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(alerts) == expected, alerts
    return {(alert["labels"]["alertname"], alert["labels"].get("priority", "")): alert["status"]
            for alert in alerts}


def _settled_states(url: str, expected: int, want: dict[tuple[str, str], str]) -> dict[tuple[str, str], dict[str, Any]]:
    """``_states`` once the alerts named in ``want`` have those states, or after 15 s (then the
    caller's assertions say what differs). Alertmanager's inhibitor learns of a source alert
    from its own subscription, a moment after the alert was posted: a target posted in the
    same request can read as active until then."""
    deadline = time.monotonic() + 15
    while True:
        states = _states(url, expected)
        if all(states.get(key, {}).get("state") == state for key, state in want.items()) or time.monotonic() > deadline:
            return states
        time.sleep(0.2)


def _slo(alertname: str, priority: str, severity: str, **extra: str) -> dict[str, str]:
    return {"alertname": alertname, "objective": "first_response", "priority": priority,
            "severity": severity, **extra}


def test_the_page_tier_inhibits_the_ticket_tier_of_the_same_slo_only(alertmanager: str) -> None:
    _post(alertmanager, [
        _slo("TicketSloBurnRatePage", "P1", "page", team="support", long="1h", short="5m"),
        _slo("TicketSloBurnRateTicket", "P1", "ticket", team="support", long="1d", short="2h"),
        _slo("TicketSloBurnRateTicket", "P2", "ticket", team="support", long="1d", short="2h"),
    ])
    states = _settled_states(alertmanager, 3, {("TicketSloBurnRateTicket", "P1"): "suppressed"})
    assert states[("TicketSloBurnRateTicket", "P1")]["state"] == "suppressed"
    assert states[("TicketSloBurnRateTicket", "P1")]["inhibitedBy"]
    assert states[("TicketSloBurnRateTicket", "P2")]["state"] == "active"
    assert states[("TicketSloBurnRatePage", "P1")]["state"] == "active"


def test_the_bridges_ticket_page_inhibits_the_unanswered_count_of_its_priority(alertmanager: str) -> None:
    _post(alertmanager, [
        _slo("TicketSloTicketBreached", "P1", "page", plan="default", ticket_id="T-1"),
        _slo("TicketSloBreachedUnanswered", "P1", "page", team="support"),
        _slo("TicketSloBreachedUnanswered", "P2", "page", team="support"),
    ])
    states = _settled_states(alertmanager, 3, {("TicketSloBreachedUnanswered", "P1"): "suppressed"})
    assert states[("TicketSloBreachedUnanswered", "P1")]["state"] == "suppressed"
    assert states[("TicketSloBreachedUnanswered", "P2")]["state"] == "active"
    assert states[("TicketSloTicketBreached", "P1")]["state"] == "active"


def test_a_blind_pipeline_is_the_one_page(alertmanager: str) -> None:
    _post(alertmanager, [
        {"alertname": "TicketSloEngineBlind", "severity": "page", "team": "platform",
         "job": "ticket-slo", "instance": "w1"},
        _slo("TicketSloBurnRatePage", "P1", "page", team="support", long="1h", short="5m"),
        _slo("TicketSloBreachedUnanswered", "P2", "page", team="support"),
        _slo("TicketSloTicketBreached", "P3", "page", plan="default", ticket_id="T-9"),
        {"alertname": "TicketSloDeadLetterRateHigh", "severity": "ticket", "team": "platform",
         "reason": "bad_json"},
    ])
    states = _settled_states(alertmanager, 5, {("TicketSloBurnRatePage", "P1"): "suppressed",
                                               ("TicketSloBreachedUnanswered", "P2"): "suppressed",
                                               ("TicketSloTicketBreached", "P3"): "suppressed"})
    assert states[("TicketSloEngineBlind", "")]["state"] == "active"
    assert states[("TicketSloDeadLetterRateHigh", "")]["state"] == "active"   # bad input is its own matter
    for key in (("TicketSloBurnRatePage", "P1"), ("TicketSloBreachedUnanswered", "P2"),
                ("TicketSloTicketBreached", "P3")):
        assert states[key]["state"] == "suppressed", key


def test_no_worker_running_silences_the_other_pipeline_alerts(alertmanager: str) -> None:
    _post(alertmanager, [
        {"alertname": "TicketSloNoWorkerRunning", "severity": "page", "team": "platform", "job": "ticket-slo"},
        {"alertname": "TicketSloWorkerDown", "severity": "ticket", "team": "platform", "job": "ticket-slo",
         "instance": "w1"},
        {"alertname": "TicketSloEngineBlind", "severity": "page", "team": "platform", "job": "ticket-slo",
         "instance": "w2"},
    ])
    states = _settled_states(alertmanager, 3, {("TicketSloWorkerDown", ""): "suppressed",
                                               ("TicketSloEngineBlind", ""): "suppressed"})
    assert states[("TicketSloNoWorkerRunning", "")]["state"] == "active"
    assert states[("TicketSloWorkerDown", "")]["state"] == "suppressed"
    assert states[("TicketSloEngineBlind", "")]["state"] == "suppressed"
