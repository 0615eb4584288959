"""The oracle of the crash tests: what ``ticket-slo replay`` derives from the same input.

Live outputs and replayed ones are matched by a stable identity (``output_key``):
``slo.completed`` by (ticket, objective, start, met, elapsed seconds), breaches and
retractions by their type and ``breach_id``. Warnings are left out: when one is noticed
depends on the clock. ``net_outputs`` reduces either side to what must agree when the two
clocks noticed deadlines at different moments: outcomes, and breaches no retraction took back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["replay_outputs", "output_key", "output_content", "net_outputs", "net_differences"]


def replay_outputs(events_file: Path, policy: Path, until: float) -> list[dict[str, Any]]:
    """Breaches, retractions and outcomes of ``ticket-slo replay`` on ``events_file``, clock run to ``until``."""
    replayed = subprocess.run(
        [sys.executable, "-m", "ticket_slo.agents.cli", "replay", str(events_file), "--policy", str(policy),
         "--until", datetime.fromtimestamp(until, timezone.utc).isoformat(),
         "--dead-letters", str(events_file.with_suffix(".dlq.jsonl"))],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return [r for r in map(json.loads, replayed.stdout.splitlines()) if r["type"] != "slo.at_risk"]


def output_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """The identity of an output, the same for its redelivered duplicates."""
    if record["type"] == "slo.completed":
        # Objective and start: a ticket has an outcome per objective, and per run of a clock a
        # reopen restarted; two of them may well agree on met and elapsed.
        return ("slo.completed", record["ticket_id"], record["objective"], record["started_at"],
                record["met"], record["elapsed_seconds"])
    return (record["type"], record["breach_id"])


def output_content(record: dict[str, Any]) -> dict[str, Any]:
    """What must agree between duplicates: everything but the moment of detection."""
    return {k: v for k, v in record.items() if k != "detected_at"}


def net_outputs(records: list[dict[str, Any]]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """Per ticket: its outcomes, and its breaches that no retraction took back (contents
    without the moment of detection), in the order they were published."""
    retracted = {r["breach_id"] for r in records if r["type"] == "slo.breach_retracted"}
    outcomes: dict[str, list[dict[str, Any]]] = {}
    standing: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record["type"] == "slo.completed":
            outcomes.setdefault(record["ticket_id"], []).append(output_content(record))
        elif record["type"] == "slo.breached" and record["breach_id"] not in retracted:
            standing.setdefault(record["ticket_id"], []).append(output_content(record))
    return outcomes, standing


def net_differences(live: dict[str, list[dict[str, Any]]], offline: dict[str, list[dict[str, Any]]]) -> str:
    """Ticket by ticket, the fields in which live and replay differ (for a failure message)."""
    lines = []
    for ticket in sorted(live.keys() | offline.keys()):
        mine, theirs = live.get(ticket, []), offline.get(ticket, [])
        if mine == theirs:
            continue
        if len(mine) != 1 or len(theirs) != 1:
            lines.append(f"{ticket}: live {mine} / replay {theirs}")
            continue
        fields = {k: (mine[0].get(k), theirs[0].get(k)) for k in mine[0].keys() | theirs[0].keys()
                  if mine[0].get(k) != theirs[0].get(k)}
        lines.append(f"{ticket}: (live, replay) {fields}")
    return "live and replay differ:\n" + "\n".join(lines)
