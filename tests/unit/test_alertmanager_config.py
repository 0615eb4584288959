"""deploy/alertmanager/alertmanager.yml, checked and routed by Alertmanager's own amtool.

amtool (Debian package ``prometheus-alertmanager``) parses the file as Alertmanager does and
resolves which receiver an alert reaches, so what passes here is what Alertmanager does.
Inhibition needs a running Alertmanager: tests/integration/test_alertmanager_inhibition.py.
A missing amtool fails these tests, it never skips them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_prometheus_rules import ALERTMANAGER_CONFIG, alert_rules, load_yaml

#: Labels of the alert bridge's per-ticket alerts (ticket-slo alert-bridge), which reach
#: Alertmanager without Prometheus.
BRIDGE_ALERTS = {"TicketSloTicketBreached", "TicketSloTicketAtRisk"}


def amtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    found = shutil.which("amtool")
    if found is None:
        pytest.fail("amtool is not on the PATH. It checks the Alertmanager configuration; install it with "
                    "the Debian package 'prometheus-alertmanager' (make tools does it as root).", pytrace=False)
    return subprocess.run([found, *map(str, args)], capture_output=True, text=True, timeout=60)


def receiver_for(labels: dict[str, str], config: Path = ALERTMANAGER_CONFIG) -> str:
    """The receiver Alertmanager picks for an alert with these labels."""
    result = amtool("config", "routes", "test", f"--config.file={config}",
                    *(f"{name}={value}" for name, value in sorted(labels.items())))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_amtool_accepts_the_configuration() -> None:
    result = amtool("check-config", ALERTMANAGER_CONFIG)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "SUCCESS" in result.stdout


def test_amtool_rejects_a_broken_configuration(tmp_path: Path) -> None:
    """The check above must be able to fail: a route to a receiver that does not exist."""
    broken = tmp_path / "alertmanager.yml"
    broken.write_text("route: {receiver: nobody}\nreceivers: [{name: somebody}]\n", encoding="utf-8")
    assert amtool("check-config", broken).returncode != 0


@pytest.mark.parametrize(("team", "severity", "receiver"), [
    ("support", "page", "support-duty-manager"),
    ("support", "ticket", "support-tickets"),
    ("platform", "page", "platform-oncall"),
    ("platform", "ticket", "platform-tickets"),
])
def test_every_alert_rule_reaches_its_team_and_severity(team: str, severity: str, receiver: str) -> None:
    rules = [rule for rule in alert_rules()
             if rule["labels"]["team"] == team and rule["labels"]["severity"] == severity]
    assert rules, f"no {team} {severity} alert"
    for rule in rules:
        labels = {key: value for key, value in rule["labels"].items()}
        labels.update(alertname=rule["alert"], objective="first_response", priority="P1")
        assert receiver_for(labels) == receiver, rule["alert"]


def test_the_bridges_ticket_pages_reach_the_support_duty_manager_not_the_platform() -> None:
    labels = {"alertname": "TicketSloTicketBreached", "severity": "page", "priority": "P1",
              "plan": "default", "objective": "first_response", "ticket_id": "T-1"}
    assert receiver_for(labels) == "support-duty-manager"


def test_the_bridges_last_warnings_reach_the_support_queue_without_paging() -> None:
    labels = {"alertname": "TicketSloTicketAtRisk", "severity": "warning", "priority": "P1",
              "plan": "default", "objective": "first_response", "ticket_id": "T-1"}
    assert receiver_for(labels) == "support-tickets"


def test_staffing_alerts_are_grouped_per_slo_so_a_storm_is_one_notification() -> None:
    config = load_yaml(ALERTMANAGER_CONFIG)
    route = config["route"]
    staffing = [child for child in route["routes"] if 'team="platform"' not in child.get("matchers", [])]
    for child in staffing:
        assert child.get("group_by", route["group_by"]) == ["objective", "priority"], child
    assert "ticket_id" not in route["group_by"] and "alertname" not in route["group_by"]


def test_inhibitions_name_alerts_that_exist() -> None:
    alerts = {rule["alert"] for rule in alert_rules()} | BRIDGE_ALERTS
    for inhibit in load_yaml(ALERTMANAGER_CONFIG)["inhibit_rules"]:
        for side in ("source_matchers", "target_matchers"):
            for matcher in inhibit[side]:
                found = re.fullmatch(r'alertname(=~?)"([^"]+)"', matcher)
                assert found, f"inhibit matchers should name alerts: {matcher}"
                pattern = found.group(2) if found.group(1) == "=~" else re.escape(found.group(2))
                for alternative in pattern.split("|"):
                    assert any(re.fullmatch(alternative, alert) for alert in alerts), \
                        f"{alternative!r} of {matcher} matches no alert"
