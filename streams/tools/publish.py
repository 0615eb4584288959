"""``ticket-slo publish``: a JSON-lines file of events onto ``ticket-events``.

Lines are sent as they are, so that bad input reaches the worker and its
dead-letter topic exactly as a helpdesk would have sent it; each line is keyed by
its ``ticket_id`` when one can be read, which puts a ticket's events on one partition.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ticket_slo.streams.kafka.clients import make_producer
from ticket_slo.streams.kafka.settings import Settings
from ticket_slo.streams.tools.files import read_bytes

__all__ = ["read_event_lines", "publish_lines", "ticket_key"]

PROGRESS_EVERY_SECONDS = 0.5


def ticket_key(line: bytes) -> bytes | None:
    """The UTF-8 ticket id of a JSON event line, or None when it has none."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    ticket_id = event.get("ticket_id") if isinstance(event, dict) else None
    return ticket_id.encode() if isinstance(ticket_id, str) and ticket_id else None


def read_event_lines(path: Path) -> list[bytes]:
    """The non-blank lines of ``path``, read before any connection so that a bad path fails at once."""
    lines = [line.rstrip(b"\r\n") for line in read_bytes(path, "events file").splitlines()]
    return [line for line in lines if line.strip()]


def publish_lines(lines: list[bytes], source: Path, settings: Settings) -> int:
    """Publish ``lines`` (read from ``source``); print progress and a summary on stderr."""
    topic = settings.topics.events
    producer = make_producer(settings)
    failures: list[str] = []
    unkeyed = 0
    started = last_report = time.monotonic()
    try:
        for number, line in enumerate(lines, start=1):
            key = ticket_key(line)
            unkeyed += key is None
            future = producer.send(topic, key=key, value=line)
            future.add_errback(lambda exc, n=number: failures.append(f"line {n}: {exc}"))
            if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
                last_report = time.monotonic()
                _progress(number, len(lines), topic)
        producer.flush()
    finally:
        producer.close()
    _progress(len(lines), len(lines), topic)
    elapsed = time.monotonic() - started
    print(f"\npublished {len(lines) - len(failures)} of {len(lines)} events from {source} to {topic} "
          f"in {elapsed:.1f} s ({unkeyed} without a readable ticket_id, sent without key)", file=sys.stderr)
    for failure in failures[:10]:
        print(f"  failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _progress(done: int, total: int, topic: str) -> None:
    width = 30
    filled = width * done // total if total else width
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} → {topic}", end="", file=sys.stderr,
          flush=True)
