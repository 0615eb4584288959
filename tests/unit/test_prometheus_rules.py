"""The Prometheus rules, configuration and alert routing in deploy/.

promtool (Debian package ``prometheus``) checks and unit-tests the rules: it is Prometheus'
own parser and evaluator, so what passes here loads and behaves the same in Prometheus.
A missing promtool fails these tests, it never skips them.

The helpers without a ``test_`` prefix (PromQL metric names, promtool runner, allowed names)
are shared with tests/unit/test_grafana_dashboard.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from ticket_slo.agents.metrics import METRIC_NAMES
from ticket_slo.schemas.events import PRIORITIES
from ticket_slo.schemas.policy import Policy, load_policy

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RUNBOOK = PROMETHEUS_DIR / "README.md"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
DEFAULT_POLICY = REPO / "schemas" / "default_policy.yaml"
EXAMPLES_DIR = REPO / "deploy" / "examples"

SEVERITIES = {"page", "ticket"}
#: Series a histogram family exports besides its own name.
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
#: Metrics that come from Prometheus itself, not from the worker.
PROMETHEUS_METRICS = {"up"}


# ---------------------------------------------------------------------------- promtool

def require_promtool() -> str:
    """The promtool executable, or a failed test that says how to install it."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool is not on the PATH. It checks and unit-tests the Prometheus rules; install it "
            "with the Debian package 'prometheus' (apt-get install --no-install-recommends prometheus).",
            pytrace=False,
        )
    return found


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_promtool(), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def promtool_report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit code {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


# ---------------------------------------------------------------------------- PromQL names

_TOKEN = re.compile(r"""
      (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    | (?P<comment>\#[^\n]*)
    | (?P<number>(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?:[a-zA-Z]+\d*)*)
    | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<space>\s+)
    | (?P<punct>.)
""", re.VERBOSE | re.DOTALL)

_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                 "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
#: Keywords followed by a parenthesised list of label names.
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = _LABEL_LISTS | {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names selected by a PromQL expression.

    A small lexer, not a parser (promtool validates the syntax): strings and comments are
    dropped, label matchers ``{…}`` and ranges ``[…]`` skipped, and of the remaining
    identifiers those are metric names that are neither keywords, nor aggregations, nor
    followed by ``(`` (functions), nor inside a ``by (…)``/``on (…)`` label list.
    """
    tokens = [(kind, text) for kind, text in
              ((m.lastgroup, m.group()) for m in _TOKEN.finditer(expr))
              if kind not in ("space", "comment", "string")]
    names: set[str] = set()
    closers = {"{": "}", "[": "]"}
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if text in closers:  # label matchers or a range: nothing inside is a metric name
            i = _skip_past(tokens, i, text, closers[text])
            continue
        if kind == "ident":
            lowered = text.lower()
            if lowered in _LABEL_LISTS and following == "(":
                i = _skip_past(tokens, i + 1, "(", ")")
                continue
            if lowered not in _KEYWORDS and lowered not in _AGGREGATIONS and following != "(":
                names.add(text)
        i += 1
    return names


def _skip_past(tokens: list[tuple[str | None, str]], start: int, opener: str, closer: str) -> int:
    """Index after the bracket that closes the one at ``start``."""
    depth = 0
    for index in range(start, len(tokens)):
        if tokens[index][1] == opener:
            depth += 1
        elif tokens[index][1] == closer:
            depth -= 1
            if depth == 0:
                return index + 1
    raise AssertionError(f"unbalanced {opener}{closer} in PromQL tokens: {tokens}")


# ---------------------------------------------------------------------------- rule files

def rule_files() -> list[Path]:
    files = sorted(RULES_DIR.glob("*.yml"))
    assert files, f"no rule files in {RULES_DIR}"
    return files


def rule_test_files() -> list[Path]:
    files = sorted(RULE_TESTS_DIR.glob("*.yml"))
    assert files, f"no promtool test files in {RULE_TESTS_DIR}"
    return files


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def all_rules() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in rule_files():
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                yield path, rule


def alert_rules() -> list[dict[str, Any]]:
    return [rule for _path, rule in all_rules() if "alert" in rule]


def rule_group_names() -> list[str]:
    return [group["name"] for path in rule_files() for group in load_yaml(path)["groups"]]


def recorded_names() -> set[str]:
    return {rule["record"] for _path, rule in all_rules() if "record" in rule}


def unknown_metric_names(names: set[str]) -> set[str]:
    """Names that neither the worker exports, nor Prometheus, nor a recording rule records."""
    exported = set(METRIC_NAMES)
    allowed = exported | PROMETHEUS_METRICS | recorded_names()
    allowed |= {name + suffix for name in exported for suffix in HISTOGRAM_SUFFIXES}
    return names - allowed


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# ---------------------------------------------------------------------------- tests

@pytest.mark.parametrize(("expr", "expected"), [
    ('sum by (objective, priority) (increase(ticket_slo_breaches_total{priority=~"P1|P2", x="}"}[5m]))',
     {"ticket_slo_breaches_total"}),
    ("a:b:c / on (x, y) group_left (z) other_metric offset 1h30m > bool 0", {"a:b:c", "other_metric"}),
    ("histogram_quantile(0.99, sum(rate(m_bucket[10m])) by (le))", {"m_bucket"}),
    ("# a comment naming fake_metric\nfoo", {"foo"}),
    ('absent(up{job="x"} == 1) or vector(0) and on () bar', {"up", "bar"}),
    ('count_values("value", baz) + 1e3 * inf - nan + 0x1F', {"baz"}),
    ("max_over_time(ticket_slo:x:y[1h:5m]) unless ignoring (instance) qux", {"ticket_slo:x:y", "qux"}),
])
def test_promql_metric_names_finds_selected_metrics_only(expr: str, expected: set[str]) -> None:
    assert promql_metric_names(expr) == expected


def test_missing_promtool_fails_naming_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="Debian package 'prometheus'"):
        require_promtool()


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The checks below rely on promtool failing on bad PromQL: make sure it does."""
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: g\n    rules:\n      - record: x:y:z\n"
                      "        expr: sum(rate(ticket_slo_events_total[5m])\n", encoding="utf-8")
    assert run_promtool("check", "rules", broken).returncode != 0


def test_rule_files_pass_promtool_check_rules() -> None:
    result = run_promtool("check", "rules", *rule_files())
    assert result.returncode == 0, promtool_report(result)


def test_prometheus_config_and_its_rule_files_pass_promtool_check_config() -> None:
    result = run_promtool("check", "config", PROMETHEUS_CONFIG)
    assert result.returncode == 0, promtool_report(result)
    # rule_files globs are resolved against the config's directory: they must find our files.
    config = load_yaml(PROMETHEUS_CONFIG)
    loaded = {path.resolve() for pattern in config["rule_files"] for path in PROMETHEUS_DIR.glob(pattern)}
    assert loaded == {path.resolve() for path in rule_files()}


def test_rule_unit_tests_pass_promtool_test_rules() -> None:
    result = run_promtool("test", "rules", *rule_test_files())
    assert result.returncode == 0, promtool_report(result)


def test_every_alert_is_shown_firing_and_not_firing_by_a_unit_test() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in rule_test_files():
        suite = load_yaml(path)
        assert [RULES_DIR.resolve()] == sorted({(path.parent / pattern).parent.resolve()
                                                for pattern in suite["rule_files"]}), \
            f"{path.name} must load the rule files of {RULES_DIR}"
        # Without a complete order promtool evaluates groups in an arbitrary order, and values
        # read across groups would change from run to run.
        assert sorted(suite.get("group_eval_order", [])) == sorted(rule_group_names()), \
            f"{path.name}: group_eval_order must list every rule group"
        for case in suite["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = {rule["alert"] for rule in alert_rules()}
    assert alerts - fired == set(), "alerts no promtool test makes fire"
    assert alerts - quiet == set(), "alerts no promtool test shows quiet"
    assert fired | quiet <= alerts, "promtool tests name alerts that do not exist"


def test_rules_use_only_metrics_the_worker_exports_or_rules_record() -> None:
    problems = {}
    for path, rule in all_rules():
        unknown = unknown_metric_names(promql_metric_names(rule["expr"]))
        if unknown:
            problems[f"{path.name}: {rule.get('record') or rule.get('alert')}"] = sorted(unknown)
    assert problems == {}, "names not in ticket_slo.agents.metrics.METRIC_NAMES nor recorded by a rule"


def test_unknown_metric_names_are_reported() -> None:
    assert unknown_metric_names({"ticket_slo_tickets_total", "ticket_slo_elapsed_seconds_bucket",
                                 "ticket_slo:burn_rate:ratio_rate1h", "up"}) == {"ticket_slo_tickets_total"}


def test_promtool_test_inputs_use_exported_metric_names() -> None:
    """Unit tests that feed invented series would prove nothing about the real ones."""
    series_name = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)")
    used = {series_name.match(series["series"]).group(1)  # type: ignore[union-attr]
            for path in rule_test_files() for case in load_yaml(path)["tests"]
            for series in case.get("input_series", [])}
    assert used, "the promtool tests feed no series"
    assert unknown_metric_names(used) == set()


def test_the_window_in_a_record_name_is_the_window_it_computes() -> None:
    """ticket_slo:sli_bad:increase5m must read 5m ranges and 5m records, never a copy-pasted 1h."""
    window_of = re.compile(r"(?:increase|ratio_rate)(\d+[smhdwy])$")
    checked = 0
    for _path, rule in all_rules():
        match = window_of.search(rule.get("record", ""))
        if not match:
            continue
        window = match.group(1)
        ranges = set(re.findall(r"\[(\w+)\]", rule["expr"]))
        referenced = {found.group(1) for name in promql_metric_names(rule["expr"])
                      if (found := window_of.search(name)) and name.startswith("ticket_slo:")}
        assert ranges | referenced, f"{rule['record']} uses no window at all"
        assert ranges | referenced == {window}, f"{rule['record']}: {rule['expr']}"
        checked += 1
    assert checked >= 30


def test_the_sli_covers_every_burn_rate_window() -> None:
    recorded = recorded_names()
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert f"ticket_slo:sli_error:ratio_rate{window}" in recorded
        assert f"ticket_slo:burn_rate:ratio_rate{window}" in recorded
    for window in ("1h", "1d", "28d"):
        assert f"ticket_slo:attainment:ratio_rate{window}" in recorded
    assert "ticket_slo:error_budget_remaining:ratio_rate28d" in recorded


def shipped_policies() -> list[Policy]:
    """The default policy and every example policy in deploy/examples."""
    examples = sorted(EXAMPLES_DIR.glob("*.yaml"))
    assert examples, f"no example policy in {EXAMPLES_DIR}"
    return [load_policy(DEFAULT_POLICY), *map(load_policy, examples)]


def test_the_objective_is_set_once_for_every_objective_and_priority_of_the_shipped_policies() -> None:
    definitions = [(path, rule) for path, rule in all_rules() if rule.get("record") == "ticket_slo:objective:ratio"]
    assert {path.name for path, _rule in definitions} == {"objectives.yml"}
    configured = {}
    for _path, rule in definitions:
        key = (rule["labels"]["objective"], rule["labels"]["priority"])
        assert key not in configured, f"objective {key} set twice"
        value = re.fullmatch(r"vector\(([0-9.]+)\)", rule["expr"].strip())
        assert value, f"objective {key} must be a plain vector(<ratio>): {rule['expr']!r}"
        configured[key] = float(value.group(1))
    # Every objective of the shipped policy and of the example policies, for every priority,
    # and nothing else: a ratio for a name no shipped policy uses would be a guess.
    expected = {(objective, priority) for policy in shipped_policies()
                for objective in policy.objective_names() for priority in PRIORITIES}
    assert set(configured) == expected
    assert all(0 < ratio < 1 for ratio in configured.values()), configured
    # Beside each objective, in the same file: the minimum of verdicts of the burn-rate tiers
    # and whether a breached ticket pages; a whole number and a 0/1 switch, once each.
    for record in ("ticket_slo:burn_rate_min_verdicts:count", "ticket_slo:breach_page:enabled"):
        settings = [(path, rule) for path, rule in all_rules() if rule.get("record") == record]
        assert {path.name for path, _rule in settings} == {"objectives.yml"}, record
        keys = [(rule["labels"]["objective"], rule["labels"]["priority"]) for _path, rule in settings]
        assert sorted(keys) == sorted(expected), f"{record} must be set once for every objective and priority"
        for _path, rule in settings:
            value = re.fullmatch(r"vector\((\d+)\)", rule["expr"].strip())
            assert value, f"{record} must be a plain vector(<whole number>): {rule['expr']!r}"
            if record.endswith(":enabled"):
                assert value.group(1) in ("0", "1"), rule
    # The SLI and burn-rate rules must not repeat the objective or its budget as a number:
    # they go through ticket_slo:error_budget:ratio, or a change in objectives.yml is not seen.
    forbidden = {round(ratio, 9) for ratio in configured.values()} | \
                {round(1 - ratio, 9) for ratio in configured.values()}
    for path, rule in all_rules():
        if path.name in ("sli.yml", "slo-alerts.yml"):
            numbers = {round(float(m.group()), 9) for m in _TOKEN.finditer(rule["expr"])
                       if m.lastgroup == "number" and re.fullmatch(r"[\d.]+", m.group())}
            assert not numbers & forbidden, f"{rule.get('record') or rule.get('alert')} repeats the objective"


def test_alerts_carry_severity_summary_description_and_a_runbook_that_exists() -> None:
    headings = {github_anchor(line.lstrip("#")) for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
                if line.startswith("#")}
    alerts = alert_rules()
    assert len(alerts) >= 13
    for rule in alerts:
        name = rule["alert"]
        assert rule.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = rule.get("annotations", {})
        assert annotations.get("summary", "").strip() and annotations.get("description", "").strip(), name
        page, _, anchor = annotations.get("runbook", "").partition("#")
        assert (REPO / page) == RUNBOOK, f"{name}: runbook {annotations.get('runbook')!r}"
        assert anchor == name.lower() and anchor in headings, f"{name}: no heading '{name}' in {RUNBOOK.name}"


def test_the_operations_alert_table_names_every_alert_with_its_severity() -> None:
    operations = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| `(TicketSlo\w+)` \| (\w+) \|", operations, flags=re.MULTILINE))
    assert table == {rule["alert"]: rule["labels"]["severity"] for rule in alert_rules()}


def test_burn_rate_tiers_name_their_windows_wait_and_need_the_minimum_of_verdicts() -> None:
    """One page and one ticket alert per SLO; each tier's labels say which windows it reads."""
    tiers = {}
    for rule in alert_rules():
        if not rule["alert"].startswith("TicketSloBurnRate"):
            continue
        labels = rule["labels"]
        long, short = labels["long"], labels["short"]
        names = promql_metric_names(rule["expr"])
        assert names == {f"ticket_slo:burn_rate:ratio_rate{long}", f"ticket_slo:burn_rate:ratio_rate{short}",
                         f"ticket_slo:sli_verdicts:increase{long}", "ticket_slo:burn_rate_min_verdicts:count"}, \
            f"{rule['alert']} {long}/{short} reads {sorted(names)}"
        assert rule.get("for"), f"{rule['alert']} {long}/{short} has no for:"
        tiers[(long, short)] = (rule["alert"], labels["severity"])
    assert tiers == {
        ("1h", "5m"): ("TicketSloBurnRatePage", "page"),
        ("6h", "30m"): ("TicketSloBurnRatePage", "page"),
        ("1d", "2h"): ("TicketSloBurnRateTicket", "ticket"),
        ("3d", "6h"): ("TicketSloBurnRateTicket", "ticket"),
    }


def test_every_alert_names_the_team_it_wakes() -> None:
    """Alertmanager routes on team: the SLO alerts to support, the pipeline's to platform."""
    for path, rule in all_rules():
        if "alert" in rule:
            expected = {"slo-alerts.yml": "support", "pipeline-alerts.yml": "platform"}[path.name]
            assert rule["labels"].get("team") == expected, rule["alert"]
