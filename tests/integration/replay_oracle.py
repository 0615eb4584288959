"""The oracle of the crash tests: what ``ticket-slo replay`` derives from the same input.

Live outputs and replayed ones are matched by a stable identity (``output_key``):
``slo.completed`` by (ticket, met, elapsed seconds), breaches and retractions by their
type and ``breach_id``. Warnings are left out: when one is noticed depends on the clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["replay_outputs", "output_key", "output_content"]


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
        return ("slo.completed", record["ticket_id"], record["met"], record["elapsed_seconds"])
    return (record["type"], record["breach_id"])


def output_content(record: dict[str, Any]) -> dict[str, Any]:
    """What must agree between duplicates: everything but the moment of detection."""
    return {k: v for k, v in record.items() if k != "detected_at"}
