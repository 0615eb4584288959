"""The Alertmanager routing example of docs/operations.md, checked by Alertmanager's own amtool:
the configuration loads, and each alert the bridge sends reaches the receiver the text says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    block = text.split("### Routing the per-ticket alerts", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path_factory.mktemp("routing") / "alertmanager.yml"
    path.write_text(block, encoding="utf-8")
    return path


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("amtool")
    assert binary, "amtool is missing: apt-get install prometheus-alertmanager (make tools does)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=30)


def test_the_example_configuration_loads(example: Path) -> None:
    result = amtool("check-config", str(example))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("labels, receiver", [
    (("alertname=TicketSloTicketBreached", "severity=page", "priority=P1"), "support-duty-pager"),
    (("alertname=TicketSloTicketBreached", "severity=page", "priority=P2"), "support-duty-slack"),
    (("alertname=TicketSloTicketAtRisk", "severity=warning", "priority=P1"), "support-queue-slack"),
])
def test_each_alert_reaches_its_receiver(example: Path, labels: tuple[str, ...], receiver: str) -> None:
    result = amtool("config", "routes", "test", f"--config.file={example}", f"--verify.receivers={receiver}",
                    "ticket_id=T-1", "objective=first_response", "plan=default", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
