"""The Grafana dashboard and its provisioning in deploy/grafana.

Every panel query is checked with Prometheus' own parser: Grafana's variables are replaced
by concrete values and each query becomes a recording rule of a generated file that
``promtool check rules`` must accept. Queries may only select metrics the worker exports or
the rules record, and the provisioning must reach the dashboard through docker-compose's
mounts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import yaml

from tests.unit.test_compose import compose, environment, host_path_for, published_ports, service
from tests.unit.test_prometheus_rules import (
    PROMETHEUS_CONFIG,
    all_rules,
    promql_metric_names,
    promtool_report,
    run_promtool,
    unknown_metric_names,
)

REPO = Path(__file__).resolve().parents[2]
GRAFANA_DIR = REPO / "deploy" / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources"
DASHBOARD_PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards"

#: Values for Grafana's variables, as Grafana would substitute them into a query.
VARIABLE_VALUES = {
    "__rate_interval": "1m",
    "__interval": "30s",
    "__range": "6h",
    "priority": "P1|P2",   # a multi-value selection, rendered as a regex alternation
    "objective": "first_response",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
OPERATIONS = REPO / "docs" / "operations.md"
#: A metric name in a query and the label matchers right after it, if any.
_SELECTOR = re.compile(r"(?<![\w:])([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?")


# ---------------------------------------------------------------------------- helpers

def dashboards() -> list[tuple[Path, dict[str, Any]]]:
    files = sorted(DASHBOARDS_DIR.glob("*.json"))
    assert files, f"no dashboard in {DASHBOARDS_DIR}"
    return [(path, json.loads(path.read_text(encoding="utf-8"))) for path in files]


def panels(container: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in container.get("panels", []):
        yield panel
        yield from panels(panel)


def queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target."""
    found = []
    for path, dashboard in dashboards():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                found.append((f"{path.name} panel {panel['id']} {panel['title']!r} target {target['refId']}",
                              target["expr"]))
    return found


def substitute(expr: str) -> str:
    """The query with Grafana's variables replaced as Grafana would; unknown ones fail."""
    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        assert name in VARIABLE_VALUES, f"unknown Grafana variable ${name} in {expr!r}"
        return VARIABLE_VALUES[name]
    return _VARIABLE.sub(value, expr)


def promql_problems(named_queries: list[tuple[str, str]], directory: Path) -> str | None:
    """promtool's complaint about any of the queries, or None when all parse."""
    rules = [{"record": f"grafana_check:query_{index}", "expr": expr}
             for index, (_where, expr) in enumerate(named_queries)]
    rule_file = directory / "grafana-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "grafana-queries", "rules": rules}]}),
                         encoding="utf-8")
    result = run_promtool("check", "rules", rule_file)
    if result.returncode == 0:
        return None
    legend = "\n".join(f"grafana_check:query_{index} = {where}: {expr}"
                       for index, (where, expr) in enumerate(named_queries))
    return f"{promtool_report(result)}\n--- queries\n{legend}"


def objective_labelled_metrics() -> set[str]:
    """Series that carry the label ``objective``: the worker's families whose row in
    docs/operations.md's metric table lists it (histograms by their bucket series), and
    every recording rule (each keeps objective and priority)."""
    rows = re.findall(r"^\| `(ticket_slo_\w+)\{([\w,]+)\}` \| (\w+) \|",
                      OPERATIONS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    families = {name + ("_bucket" if kind == "histogram" else "")
                for name, labels, kind in rows if "objective" in labels.split(",")}
    assert "ticket_slo_open_clocks" in families and "ticket_slo_elapsed_seconds_bucket" in families, rows
    return families | {rule["record"] for _path, rule in all_rules() if "record" in rule}


def selectors_without_objective(expr: str, labelled: set[str]) -> list[str]:
    """The selectors of objective-labelled series in ``expr`` that do not filter on $objective."""
    return [match.group(0).strip() for match in _SELECTOR.finditer(expr)
            if match.group(1) in labelled and 'objective=~"$objective"' not in (match.group(2) or "")]


def load_yaml_files(directory: Path) -> list[dict[str, Any]]:
    files = sorted(directory.glob("*.y*ml"))
    assert files, f"no provisioning file in {directory}"
    return [yaml.safe_load(path.read_text(encoding="utf-8")) for path in files]


def provisioned_datasources() -> list[dict[str, Any]]:
    return [source for config in load_yaml_files(DATASOURCES) for source in config["datasources"]]


# ---------------------------------------------------------------------------- tests

def test_every_panel_has_queries() -> None:
    for path, dashboard in dashboards():
        for panel in panels(dashboard):
            if panel["type"] != "row":
                targets = panel.get("targets", [])
                assert targets and all(target.get("expr", "").strip() for target in targets), \
                    f"{path.name}: panel {panel['title']!r} has no query"


def test_every_query_is_valid_promql_for_prometheus(tmp_path: Path) -> None:
    named = [(where, substitute(expr)) for where, expr in queries()]
    assert len(named) >= 20
    problems = promql_problems(named, tmp_path)
    assert problems is None, problems


def test_the_promql_check_rejects_broken_queries(tmp_path: Path) -> None:
    """The check above must be able to fail: an unclosed call and an unknown function."""
    assert promql_problems([("broken", "sum(rate(ticket_slo_events_total[1m])")], tmp_path)
    assert promql_problems([("typo", "rat(ticket_slo_events_total[1m])")], tmp_path)


def test_unknown_variables_are_refused() -> None:
    try:
        substitute("rate(x[$__rate_interval]) * $no_such_variable")
    except AssertionError as error:
        assert "$no_such_variable" in str(error)
    else:
        raise AssertionError("an unknown variable was accepted")
    assert substitute('x{p=~"${priority}"}[$__range]') == 'x{p=~"P1|P2"}[6h]'


def test_queries_select_only_exported_or_recorded_metrics() -> None:
    unknown = {where: sorted(bad) for where, expr in queries()
               if (bad := unknown_metric_names(promql_metric_names(substitute(expr))))}
    assert unknown == {}, "not in ticket_slo.agents.metrics.METRIC_NAMES nor recorded by deploy/prometheus/rules"


def test_template_variables_query_known_metrics() -> None:
    for path, dashboard in dashboards():
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable["type"] != "query":
                continue
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            found = re.fullmatch(r"label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)", query)
            assert found, f"{path.name}: ${variable['name']} query {query!r} is not label_values(…, label)"
            assert not unknown_metric_names(promql_metric_names(found.group(1))), query


def test_every_slo_query_shows_the_selected_objective_only() -> None:
    """Breaches, outcomes, clocks and elapsed times of two objectives must never be added up."""
    labelled = objective_labelled_metrics()
    unfiltered = {where: found for where, expr in queries() if (found := selectors_without_objective(expr, labelled))}
    assert unfiltered == {}
    for _path, dashboard in dashboards():
        variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
        objective = variables["objective"]
        query = objective["query"]["query"] if isinstance(objective["query"], dict) else objective["query"]
        # The worker exports every objective of its policy at zero from its start, so the list
        # has them all, with or without a ratio in objectives.yml.
        assert query == "label_values(ticket_slo_clocks_started_total, objective)"
        assert objective["multi"] is False and objective["includeAll"] is False, \
            "one objective at a time: the histogram and per-plan panels cannot tell objectives apart"
        assert objective["current"]["value"] == "first_response"


def test_the_objective_filter_check_finds_a_missing_filter() -> None:
    labelled = {"ticket_slo_breaches_total", "ticket_slo:burn_rate:ratio_rate1h"}
    assert selectors_without_objective(
        'sum(rate(ticket_slo_breaches_total{priority=~"$priority"}[5m])) + ticket_slo:burn_rate:ratio_rate1h'
        ' + ticket_slo_events_total', labelled) == ['ticket_slo_breaches_total{priority=~"$priority"}',
                                                    "ticket_slo:burn_rate:ratio_rate1h"]
    assert selectors_without_objective('ticket_slo_breaches_total{objective=~"$objective"}', labelled) == []


def test_panels_use_the_provisioned_datasource_and_fit_the_grid() -> None:
    uids = {source["uid"] for source in provisioned_datasources()}
    for path, dashboard in dashboards():
        ids = [panel["id"] for panel in panels(dashboard)]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        cells: dict[tuple[int, int], str] = {}
        for panel in panels(dashboard):
            for holder in [panel, *panel.get("targets", [])]:
                if "datasource" in holder:
                    assert holder["datasource"]["uid"] in uids, f"{panel['title']!r}: unknown data source"
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, f"{panel['title']!r} is wider than the grid"
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                    cells[(x, y)] = panel["title"]
    assert len({dashboard["uid"] for _path, dashboard in dashboards()}) == len(dashboards())


def test_datasource_points_at_the_compose_prometheus_with_its_scrape_interval() -> None:
    sources = provisioned_datasources()
    assert [source["type"] for source in sources] == ["prometheus"]
    url = urlparse(sources[0]["url"])
    assert url.hostname in compose()["services"], f"{url.hostname} is not a compose service"
    assert url.hostname == "prometheus"
    listen = next((arg.split("=", 1)[1] for arg in service("prometheus").get("command", [])
                   if arg.startswith("--web.listen-address=")), ":9090")  # Prometheus' default
    assert url.port == int(listen.rsplit(":", 1)[1])
    assert (url.port, url.port) in published_ports(service("prometheus")), "Prometheus' UI is published as is"
    # $__rate_interval is only right when Grafana knows the scrape interval.
    scrape_interval = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))["global"]["scrape_interval"]
    assert sources[0]["jsonData"]["timeInterval"] == scrape_interval


def test_provisioning_reaches_the_dashboards_through_the_compose_mounts() -> None:
    provisioning = host_path_for("grafana", "/etc/grafana/provisioning")
    assert provisioning == (GRAFANA_DIR / "provisioning").resolve()
    providers = [provider for config in load_yaml_files(DASHBOARD_PROVIDERS) for provider in config["providers"]]
    assert providers
    for provider in providers:
        assert provider["type"] == "file"
        mounted = host_path_for("grafana", provider["options"]["path"])
        assert mounted == DASHBOARDS_DIR.resolve(), f"provider {provider['name']} reads {mounted}"
    home = environment(service("grafana"))["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    home_file = host_path_for("grafana", home)
    assert home_file is not None and home_file.is_file(), f"home dashboard {home} is not mounted"
    anonymous = environment(service("grafana"))
    assert anonymous.get("GF_AUTH_ANONYMOUS_ENABLED") == "true"
    assert anonymous.get("GF_AUTH_ANONYMOUS_ORG_ROLE") == "Viewer", "anonymous visitors must not edit"
