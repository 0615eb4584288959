"""The command line as a user meets it: outputs on stdout only, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "events.jsonl"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ticket_slo.agents.cli", *args], capture_output=True, text=True, timeout=60,
                          env=None if env is None else {**os.environ, **env})


def test_replay_writes_only_output_events_on_stdout() -> None:
    result = _cli("replay", str(EXAMPLE), "--until", "2026-11-25T12:00:00Z")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    # T-100 (P1, 09:00) acknowledged 09:42: breached, then completed late.
    # T-102 (P2 at 09:05, P1 from 09:10) never answered: breached when the clock passed 09:35.
    # T-101 (P3) acknowledged after 19 minutes: met.
    assert {(e["type"], e["ticket_id"]) for e in events if e["type"] != "slo.at_risk"} == {
        ("slo.completed", "T-101"), ("slo.breached", "T-100"), ("slo.completed", "T-100"), ("slo.breached", "T-102"),
    }
    assert [e["met"] for e in events if e["type"] == "slo.completed"] == [True, False]
    assert "invalid 1" in result.stderr and '"reason":"invalid_fields"' in result.stderr


def test_replay_is_byte_identical_twice() -> None:
    assert _cli("replay", str(EXAMPLE)).stdout == _cli("replay", str(EXAMPLE)).stdout


def test_bad_policy_is_one_line_naming_file_key_and_problem(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("plans:\n  default:\n    objectives:\n      first_response: {P1: 30m, P2: 1h, P3: 4h}\n")
    result = _cli("replay", str(EXAMPLE), "--policy", str(policy))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"ticket-slo: bad policy: {policy}: line 4: plans.default.objectives.first_response.P4: "
        "missing (each objective needs P1, P2, P3, P4)"
    )


def test_until_without_offset_is_refused() -> None:
    result = _cli("replay", str(EXAMPLE), "--until", "2026-11-25T12:00:00")
    assert result.returncode == 2
    assert "has no UTC offset" in result.stderr


def test_schema_lists_every_input_and_output() -> None:
    result = _cli("schema")
    assert result.returncode == 0
    schemas = json.loads(result.stdout)
    assert set(schemas) == {"ticket-event", "slo.breached", "slo.breach_retracted", "slo.at_risk",
                            "slo.completed", "dead-letter", "policy"}
    opened = json.dumps(schemas["ticket-event"])
    assert "ticket.opened" in opened and "occurred_at" in opened


def test_schema_out_writes_one_file_per_schema(tmp_path: Path) -> None:
    assert _cli("schema", "--out", str(tmp_path)).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir())[:2] == ["dead-letter.schema.json", "policy.schema.json"]
    assert len(list(tmp_path.glob("*.schema.json"))) == 7


def test_bad_setting_is_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "ticket_slo.agents.cli", "topics"], capture_output=True, text=True,
                            env={"TICKET_SLO_PARTITIONS": "zero", "PATH": "/usr/bin"}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "ticket-slo: bad setting: TICKET_SLO_PARTITIONS='zero' is not a whole number"


def test_bench_refuses_an_unknown_phase_before_starting_anything() -> None:
    result = _cli("bench", "--only", "pipeline,warp_drive")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "unknown phase warp_drive" in last and "open_large" in last
    assert "Traceback" not in result.stderr


def test_bench_phase_selection() -> None:
    from ticket_slo.streams.bench.runner import BenchOptions

    chosen = BenchOptions(only=frozenset({"python_limit", "pipeline"}))
    assert [p for p in ("broker_limit", "python_limit", "pipeline", "open_large") if chosen.runs(p)] == [
        "python_limit", "pipeline"]
    assert BenchOptions().runs("open_large")


def test_the_policy_comes_from_ticket_slo_policy_and_the_option_wins(tmp_path: Path) -> None:
    seconds = tmp_path / "seconds.yaml"
    seconds.write_text("plans:\n  default:\n    objectives:\n      first_response: {P1: 30s, P2: 1m, P3: 2m, P4: 4m}\n")

    def targets(result: subprocess.CompletedProcess[str]) -> set[float]:
        outcomes = [json.loads(line) for line in result.stdout.splitlines()]
        return {outcome["target_seconds"] for outcome in outcomes if outcome["type"] == "slo.completed"}

    shipped = _cli("replay", str(EXAMPLE))
    from_env = _cli("replay", str(EXAMPLE), env={"TICKET_SLO_POLICY": str(seconds)})
    option = _cli("replay", str(EXAMPLE), "--policy", str(Path(__file__).resolve().parents[2] / "schemas" /
                                                       "default_policy.yaml"), env={"TICKET_SLO_POLICY": str(seconds)})
    assert targets(shipped) == {1800.0, 14400.0}
    assert targets(from_env) == {30.0, 120.0}
    assert targets(option) == targets(shipped)


def test_replay_dead_letters_go_to_the_named_file_not_stderr(tmp_path: Path) -> None:
    letters = tmp_path / "dead.jsonl"
    result = _cli("replay", str(EXAMPLE), "--dead-letters", str(letters))
    assert result.returncode == 0, result.stderr
    [letter] = [json.loads(line) for line in letters.read_text().splitlines()]
    assert letter["reason"] == "invalid_fields" and letter["source"].startswith(str(EXAMPLE))
    assert '"reason"' not in result.stderr and "invalid 1" in result.stderr


def test_the_engine_imports_no_kafka_or_faust() -> None:
    """The pure engine runs the same in replay and in the worker: no broker client in it."""
    probe = ("import sys, ticket_slo.streams.core.engine, ticket_slo.streams.tools.replay; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'faust', 'kafka', 'aiokafka', 'mode'}))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
