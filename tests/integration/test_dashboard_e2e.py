"""Every dashboard panel's PromQL, run by a real Prometheus on what a real worker exported.

Five tickets go through the real broker under a policy with two objectives, first_response
and eta (an ETA reported within a target after the first response, as in
deploy/examples/policy-objectives.yaml); Prometheus scrapes the worker every second and
evaluates the shipped recording rules; each panel's queries are then run through its HTTP API
with Grafana's variables substituted, once per objective, and the panels that show SLO figures
must show the figures of that objective's clocks only, worked out below from the tickets.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration.kafka_io import consume, produce
from tests.integration.monitoring_servers import prometheus_query, prometheus_server, prometheus_wait_for
from tests.integration.worker_process import WorkerProcess
from tests.unit.test_grafana_dashboard import dashboards, queries

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
POLICY = """
objectives:
  eta:
    starts_on: [ticket.acknowledged]
    stops_on: [ticket.eta_reported, ticket.resolved]
plans:
  default:
    warn_at: [0.5]
    objectives:
      first_response: {P1: 2s, P2: 1h, P3: 1h, P4: 1h}
      eta: {P1: 1h, P2: 2s, P3: 1h, P4: 1h}
  gold:
    objectives:
      first_response: {P1: 2s, P2: 1h, P3: 1h, P4: 1h}
      eta: {P1: 1h, P2: 2s, P3: 1h, P4: 1h}
"""
#: Grafana's variables as Grafana would fill them for this test: the time range is the
#: last hour, "All" priorities, Prometheus scraping every second; the objective is chosen
#: per run.
VARIABLES = {"__range": "1h", "__rate_interval": "4s", "__interval": "5s", "priority": "P1|P2|P3|P4"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr: str, objective: str) -> str:
    values = {**VARIABLES, "objective": objective}
    return _VARIABLE.sub(lambda m: values[next(g for g in m.groups() if g)], expr)


def panel_results(url: str, objective: str) -> dict[str, list[list[dict[str, Any]]]]:
    """Each panel title's query results, with the dashboard's objective variable set to ``objective``."""
    by_title: dict[str, list[list[dict[str, Any]]]] = {}
    for where, expr in queries():
        title = re.search(r"panel \d+ '(.+)' target", where).group(1)  # type: ignore[union-attr]
        by_title.setdefault(title, []).append(_query(url, substitute(expr, objective)))
    return by_title


def variable_values(url: str, name: str) -> set[str]:
    """What Grafana lists for the dashboard's query variable ``name``: its
    label_values(METRIC, LABEL) is Prometheus's label-values API matched on METRIC."""
    (_path, dashboard), = dashboards()
    variable = next(v for v in dashboard["templating"]["list"] if v["name"] == name)
    found = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
    assert found, variable["query"]
    query = urllib.parse.urlencode({"match[]": found.group(1)})
    with urllib.request.urlopen(f"{url}/api/v1/label/{found.group(2)}/values?{query}", timeout=10) as response:
        return set(json.load(response)["data"])


def single(by_title: dict[str, list[list[dict[str, Any]]]], title: str) -> list[dict[str, Any]]:
    """The result of the panel with that title, which has one query."""
    assert len(by_title[title]) == 1, title
    return by_title[title][0]


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Prometheus server with the shipped rules; the day-scale group every second, not every
    2 minutes, so its series exist within the test's time (the expressions are unchanged)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in RULES.glob("*.yml"):
        (rules / path.name).write_text(path.read_text().replace("interval: 2m", "interval: 1s"))
    with prometheus_server(tmp_path, rules) as server:
        yield server


_query = prometheus_query


def _wait_for(url: str, expr: str, timeout: float = 60) -> None:
    prometheus_wait_for(url, expr, timeout)


def _by_priority(result: list[dict[str, Any]]) -> dict[str, float]:
    """Value per priority; a priority twice (two objectives shown at once) fails."""
    priorities = [series["metric"].get("priority", "") for series in result]
    assert len(priorities) == len(set(priorities)), f"a priority shown twice: {result}"
    return {series["metric"].get("priority", ""): float(series["value"][1]) for series in result}


def test_every_panel_shows_the_figures_of_the_tickets(kafka_bootstrap: str, tmp_path: Path,
                                                       prometheus: tuple[str, Path]) -> None:
    url, targets = prometheus
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    worker = WorkerProcess(kafka_bootstrap, tmp_path, extra_env={
        "TICKET_SLO_POLICY": str(policy), "TICKET_SLO_BREACH_GRACE": "0.2",
    }).start()
    try:
        targets.write_text(json.dumps([{"targets": [f"127.0.0.1:{worker.metrics_port}"]}]))
        _wait_for(url, 'up{job="ticket-slo"} == 1')
        time.sleep(3)  # a few scrapes of the zero-valued series before anything happens

        now = datetime.now(timezone.utc)

        def event(ticket: str, n: int, kind: str, at: datetime, **fields: object) -> tuple[bytes, bytes]:
            body = {"event_id": f"{ticket}-{n}", "type": kind, "ticket_id": ticket,
                    "occurred_at": at.isoformat(), **fields}
            return ticket.encode(), json.dumps(body).encode()

        produce(kafka_bootstrap, worker.topic("ticket-events"), [
            # P1, never answered: breached 2 s after opening, still unanswered.
            event("D1", 1, "ticket.opened", now, priority="P1", customer_id="c"),
            # P2, two answered in time, one on the gold plan. The answer starts the ETA clock
            # (2 s for P2): D2 reports none (eta breached), D3 reports it after 1 s (eta met).
            event("D2", 1, "ticket.opened", now, priority="P2", customer_id="c", plan="gold"),
            event("D2", 2, "ticket.acknowledged", now + timedelta(seconds=1)),
            event("D3", 1, "ticket.opened", now, priority="P2", customer_id="c"),
            event("D3", 2, "ticket.acknowledged", now + timedelta(seconds=2)),
            event("D3", 3, "ticket.eta_reported", now + timedelta(seconds=3), eta=(now + timedelta(hours=2)).isoformat()),
            # P2, answered 61 minutes after opening: breached (at once) and completed, on a
            # plan the policy does not name (the default plan's targets apply); no ETA since
            # the answer a minute ago: eta breached at once.
            event("D4", 1, "ticket.opened", now - timedelta(minutes=62), priority="P2", customer_id="c",
                  plan="bronze-2019"),
            event("D4", 2, "ticket.acknowledged", now - timedelta(minutes=1)),
            # P3, opened now and running: its deadline is an hour away.
            event("D5", 1, "ticket.opened", now, priority="P3", customer_id="c"),
        ])
        assert consume(kafka_bootstrap, worker.topic("ticket-slo-breaches"), expect=4, timeout=30)
        # Someone follows the tickets through the status API: its panels have figures too.
        for path in ("/api/tickets/D1", "/api/open", "/api/tickets/D5"):
            with urllib.request.urlopen(worker.web_url + path, timeout=10) as response:
                assert response.status == 200
        _wait_for(url, 'sum(ticket_slo_api_requests_total{job="ticket-slo",status="200"}) == 3')
        _wait_for(url, 'sum(ticket_slo_breaches_total{job="ticket-slo",objective="first_response"}) == 2')
        _wait_for(url, 'sum(ticket_slo_breaches_total{job="ticket-slo",objective="eta"}) == 2')
        _wait_for(url, 'sum(ticket_slo_outcomes_total{job="ticket-slo",objective="first_response"}) == 3')
        _wait_for(url, 'sum(ticket_slo_outcomes_total{job="ticket-slo",objective="eta"}) == 1')
        _wait_for(url, 'ticket_slo:error_budget_remaining:ratio_rate28d{objective="first_response",priority="P2"} < 0')
        _wait_for(url, 'ticket_slo:error_budget_remaining:ratio_rate28d{objective="eta",priority="P2"} < 0')
        time.sleep(2)  # the rules read the last scrape too

        # The tickets' figures. SLI: good = met outcomes, bad = breaches not retracted.
        # P1: 0 good, 1 bad; P2: 2 good (D2, D3), 1 bad (D4). Budget 1 % (objective 99 %).
        budget = 0.01
        expected_attainment = {"P1": 0.0, "P2": 2 / 3}
        expected_budget_left = {"P1": 1 - 1.0 / budget, "P2": 1 - (1 / 3) / budget}   # -99, -32.3

        first = panel_results(url, "first_response")
        assert _by_priority(single(first, "SLO attainment")) == pytest.approx(expected_attainment, rel=1e-6)
        assert _by_priority(single(first, "Breaches")) == {"P1": 1, "P2": 1, "P3": 0, "P4": 0}
        assert _by_priority(single(first, "Error budget left")) == pytest.approx(expected_budget_left, rel=1e-6)
        assert _by_priority(single(first, "Error budget left, 28 days")) == pytest.approx(expected_budget_left, rel=1e-6)
        # Outcomes only: D2 and D3 met, D4 breached; D1 has no outcome yet.
        assert _by_priority(single(first, "Attainment, last 28 days")) == pytest.approx({"P2": 2 / 3}, rel=1e-6)
        per_plan = {series["metric"]["plan"]: float(series["value"][1]) for series in single(first, "Attainment per plan")}
        # D2 on gold, D3 on the default plan, both met; D4's unknown plan is folded into "(other)".
        assert per_plan == pytest.approx({"gold": 1.0, "default": 1.0, "(other)": 0.0}, rel=1e-6)
        # D1 breached and unanswered, D5 running.
        clocks = {(series["metric"]["priority"], series["metric"]["state"]): float(series["value"][1])
                  for series in single(first, "Open clocks by state") if float(series["value"][1]) > 0}
        assert clocks == {("P1", "breached"): 1, ("P3", "running"): 1}
        # Only D5 runs unbreached: an hour after its opening, less the seconds since.
        time_left = _by_priority(single(first, "Time left to the soonest deadline"))
        assert set(time_left) == {"P3"}
        assert 3600 - 120 < time_left["P3"] < 3600
        # Every other panel runs and shows something.
        empty = [title for title, results in first.items() for result in results if not result]
        assert empty == [], f"panels without data: {empty}"

        # The same panels for eta, whose clocks start at the answer. SLI: D3 good (ETA in
        # time); D2 and D4 bad, breached and still open. Budget 5 % (objective 95 %,
        # objectives.yml). Nothing of first_response may show here, nor the other way round.
        # The selector lists both objectives of the worker's policy.
        assert variable_values(url, "objective") == {"first_response", "eta"}
        eta = panel_results(url, "eta")
        eta_budget = 0.05
        assert _by_priority(single(eta, "SLO attainment")) == pytest.approx({"P2": 1 / 3}, rel=1e-6)
        assert _by_priority(single(eta, "Breaches")) == {"P1": 0, "P2": 2, "P3": 0, "P4": 0}
        assert _by_priority(single(eta, "Error budget left")) == pytest.approx(
            {"P2": 1 - (2 / 3) / eta_budget}, rel=1e-6)   # -12.3
        assert _by_priority(single(eta, "Error budget left, 28 days")) == pytest.approx(
            {"P2": 1 - (2 / 3) / eta_budget}, rel=1e-6)
        assert _by_priority(single(eta, "Objective")) == pytest.approx({f"P{n}": 0.95 for n in range(1, 5)})
        assert _by_priority(single(eta, "Attainment, last 28 days")) == pytest.approx({"P2": 1.0}, rel=1e-6)
        eta_clocks = {(series["metric"]["priority"], series["metric"]["state"]): float(series["value"][1])
                      for series in single(eta, "Open clocks by state") if float(series["value"][1]) > 0}
        assert eta_clocks == {("P2", "breached"): 2}
        # No eta clock runs unbreached: no deadline ahead.
        assert single(eta, "Time left to the soonest deadline") == []
    finally:
        worker.cleanup()
