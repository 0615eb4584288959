"""The benchmark finds deploy/kafka/broker.py from an option, a variable or the checkout, or says how to."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ticket_slo.streams.bench.kafka_tools import BrokerScriptMissing, find_broker_script, require_broker_script
from ticket_slo.streams.bench.processes import BenchSetupError
from ticket_slo.streams.bench.runner import BenchOptions, _preflight
from ticket_slo.streams.kafka.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def checkout(root: Path) -> Path:
    """A folder shaped like a checkout: deploy/kafka/broker.py and a package folder deep below."""
    script = root / "deploy" / "kafka" / "broker.py"
    script.parent.mkdir(parents=True)
    script.write_text("# a broker script\n")
    (root / "streams" / "bench").mkdir(parents=True)
    return script


def test_the_option_wins_over_the_variable_and_the_checkout(tmp_path: Path) -> None:
    in_checkout = checkout(tmp_path / "repo")
    chosen = tmp_path / "elsewhere" / "broker.py"
    chosen.parent.mkdir()
    chosen.write_text("")
    found = find_broker_script(chosen, {"TICKET_SLO_BROKER_SCRIPT": str(in_checkout)},
                               start=tmp_path / "repo" / "streams" / "bench")
    assert found == chosen.resolve()


def test_the_variable_wins_over_the_checkout(tmp_path: Path) -> None:
    checkout(tmp_path / "repo")
    named = tmp_path / "other" / "broker.py"
    named.parent.mkdir()
    named.write_text("")
    assert find_broker_script(None, {"TICKET_SLO_BROKER_SCRIPT": str(named)},
                              start=tmp_path / "repo" / "streams" / "bench") == named.resolve()


def test_without_option_or_variable_the_checkout_above_the_package_is_used(tmp_path: Path) -> None:
    script = checkout(tmp_path / "repo")
    assert find_broker_script(None, {"TICKET_SLO_BROKER_SCRIPT": ""},
                              start=tmp_path / "repo" / "streams" / "bench" / "kafka_tools.py") == script


def test_this_checkout_is_found_from_the_package_itself() -> None:
    assert find_broker_script(None, {}) == REPO / "deploy" / "kafka" / "broker.py"


def test_no_checkout_means_no_script_and_a_one_line_error_naming_both_ways(tmp_path: Path) -> None:
    installed = tmp_path / "site-packages" / "ticket_slo" / "streams" / "bench"
    installed.mkdir(parents=True)
    assert find_broker_script(None, {}, start=installed) is None
    with pytest.raises(BrokerScriptMissing) as caught:
        require_broker_script(None, "start a local broker", "or set KAFKA_BOOTSTRAP_SERVERS")
    message = str(caught.value)
    assert message == ("no broker script to start a local broker: pass --broker-script PATH or set "
                       "TICKET_SLO_BROKER_SCRIPT to deploy/kafka/broker.py of a ticket-slo checkout "
                       "(or set KAFKA_BOOTSTRAP_SERVERS)")
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("how", ["option", "variable"])
@pytest.mark.parametrize("wrong", ["missing.py", "."])
def test_a_named_script_that_is_not_a_file_is_refused_at_once(tmp_path: Path, how: str, wrong: str) -> None:
    checkout(tmp_path)  # a checkout is there: a wrong explicit path must not fall back to it
    path = tmp_path / wrong
    option, env = (path, {}) if how == "option" else (None, {"TICKET_SLO_BROKER_SCRIPT": str(path)})
    name = "--broker-script" if how == "option" else "TICKET_SLO_BROKER_SCRIPT"
    with pytest.raises(BrokerScriptMissing, match=rf"^{name}='{path}' is not a file"):
        find_broker_script(option, env, start=tmp_path / "streams" / "bench")


# -- what a run needs, checked before it starts anything ----------------------------------------


@pytest.mark.parametrize("env, only, needed", [
    ({}, None, "start a local broker"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}, None, "find the jars of Kafka's perf tools"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092", "KAFKA_CLASSPATH": "/opt/kafka/libs/*"}, None, None),
    ({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}, frozenset({"pipeline"}), None),
])
def test_the_script_is_required_only_when_the_run_needs_it(monkeypatch: pytest.MonkeyPatch,
                                                             env: dict[str, str], only: frozenset[str] | None,
                                                             needed: str | None) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_CLASSPATH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    options = BenchOptions(quick=True, only=only, broker_script=None)
    if needed is None:
        _preflight(options, Settings.from_env({}))
    else:
        with pytest.raises(BrokerScriptMissing, match=f"^no broker script to {needed}"):
            _preflight(options, Settings.from_env({}))
    _preflight(BenchOptions(quick=True, only=only, broker_script=REPO / "deploy" / "kafka" / "broker.py"),
               Settings.from_env({}))  # with the script, every case may run


def test_the_perf_tools_phase_is_refused_over_tls_or_sasl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    monkeypatch.setenv("KAFKA_CLASSPATH", "/opt/kafka/libs/*")
    secured = Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL"})
    refusal = "^the broker_limit phase cannot run with KAFKA_SECURITY_PROTOCOL=SSL: Kafka's perf tools get no TLS"
    with pytest.raises(BenchSetupError, match=refusal) as caught:
        _preflight(BenchOptions(quick=True), secured)
    assert caught.value.exit_code == 2
    _preflight(BenchOptions(quick=True, only=frozenset({"pipeline"})), secured)


# -- the command, as a user runs it -------------------------------------------------------------


def bench(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``ticket-slo bench`` from a directory that is no checkout, with a clean Kafka environment."""
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith(("KAFKA_", "TICKET_SLO_"))}
    return subprocess.run([sys.executable, "-m", "ticket_slo.agents.cli", "bench", *args], cwd=tmp_path,
                          env={**clean, **env}, capture_output=True, text=True, timeout=60)


def test_a_variable_pointing_nowhere_stops_the_command_with_one_line(tmp_path: Path) -> None:
    started = time.monotonic()
    done = bench(tmp_path, "--quick", TICKET_SLO_BROKER_SCRIPT=str(tmp_path / "nowhere" / "broker.py"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"ticket-slo bench: TICKET_SLO_BROKER_SCRIPT='{tmp_path}/nowhere/broker.py' "
                                        f"is not a file (deploy/kafka/broker.py of a ticket-slo checkout)"]
    assert done.stdout == ""
    assert time.monotonic() - started < 30  # refused before any broker or worker was started


def test_a_wrong_option_stops_the_command_with_one_line(tmp_path: Path) -> None:
    done = bench(tmp_path, "--quick", "--broker-script", str(tmp_path),
                 KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"ticket-slo bench: --broker-script='{tmp_path}' is not a file "
                                        f"(deploy/kafka/broker.py of a ticket-slo checkout)"]
