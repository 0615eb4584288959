"""Every example in deploy/examples/ works: each policy loads, and each event file replays under it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ticket_slo.schemas.policy import load_policy
from ticket_slo.streams.tools.replay import replay

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
POLICIES = sorted(EXAMPLES.glob("*.yaml"))
EVENT_FILES = sorted(EXAMPLES.glob("*.jsonl"))


def test_the_examples_are_there() -> None:
    assert {path.name for path in POLICIES} >= {"policy-24x7.yaml", "policy-business-hours.yaml"}
    assert {path.name for path in EVENT_FILES} >= {"events.jsonl", "whatif-events.jsonl"}


@pytest.mark.parametrize("policy_path", POLICIES, ids=lambda path: path.name)
@pytest.mark.parametrize("events_path", EVENT_FILES, ids=lambda path: path.name)
def test_each_example_policy_replays_each_example_file(policy_path: Path, events_path: Path) -> None:
    policy = load_policy(policy_path)
    out, dead = io.StringIO(), io.StringIO()
    with events_path.open(encoding="utf-8") as lines:
        summary = replay(lines, events_path.name, policy, out, dead)
    outputs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert summary.valid > 0 and summary.outcomes > 0
    # Every line the engine could not use is reported, none is lost (ours have one invalid line on purpose).
    assert len(dead.getvalue().splitlines()) == summary.invalid + summary.orphans
    assert summary.lines == summary.valid + summary.invalid
    assert {output["policy_version"] for output in outputs} == {policy.version}


def test_the_business_hours_example_puts_standard_tickets_on_the_berlin_calendar() -> None:
    policy = load_policy(EXAMPLES / "policy-business-hours.yaml")
    out = io.StringIO()
    with (EXAMPLES / "whatif-events.jsonl").open(encoding="utf-8") as lines:
        replay(lines, "whatif-events.jsonl", policy, out, io.StringIO())
    calendars = {(output["plan"], output["calendar"]) for output in map(json.loads, out.getvalue().splitlines())}
    assert calendars == {("standard", "berlin-office"), ("default", "24/7"), ("gold", "24/7")}
