"""Local snapshots of changelog partitions: a worker restarted on the same machine takes its
state from disk and reads only what the changelog gained after it.

Kafka Streams keeps each task's state in a local directory beside a checkpoint of the
changelog offset it covers; this is the same idea for the ``tickets`` table. When a worker
stops cleanly (every state write on the broker), it writes one file per owned partition:
the tickets, the engine's derived index and the input position, with the *anchor*: the
offset, key and value of the last changelog record that state covers. A worker that is
assigned the partition later, on this machine, trusts the file only if the changelog still
holds exactly that record at that offset (same key, same value): then the state is the
changelog's up to the anchor, whoever wrote the file and whatever happened since, and only
the records after it are read. Anything else (no file, a file of another format, an anchor
compacted away or past the end, a topic created again) means reading the whole partition,
as without snapshots. A snapshot is never deleted on use: after a crash it still saves the
read up to its anchor, for as long as the changelog keeps that record.

Layout: ``<directory>/<changelog topic>-<partition>.snapshot``: a format line, one JSON
header line, then the body in Python's ``marshal`` format (the fastest load of plain dicts,
lists and tuples measured here: 0.16 s for 140,000 tickets against 0.17 s with orjson, and
the heaps keep their tuples). ``marshal`` trusts its input, like any local state store: the
directory must be writable only by the worker's user. Files are written to a temporary
name and renamed, so a reader sees a whole file or the previous one.
"""

from __future__ import annotations

import base64
import json
import logging
import marshal
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ticket_slo.streams.core.engine import EngineIndex
from ticket_slo.streams.core.state_store import Record

__all__ = ["SNAPSHOT_DIR", "ChangelogAnchor", "SnapshotHeader", "SnapshotError", "snapshot_path", "write_snapshot",
           "read_header", "read_body", "FORMAT_LINE"]

log = logging.getLogger(__name__)

#: Where, under ``TICKET_SLO_DATA_DIR``, the worker keeps the snapshots of its partitions.
SNAPSHOT_DIR: Final = "snapshots"

#: First line of every snapshot file; another line means another format (not read).
#: Format 2 added the breached-clock counts to the engine index; format 3 keys the index by
#: (objective, priority) and adds the paused-clock counts.
FORMAT_LINE: Final = b"ticket-slo partition snapshot 3\n"


class SnapshotError(RuntimeError):
    """A snapshot file cannot be used; the message names the file and why."""


@dataclass(frozen=True, slots=True)
class ChangelogAnchor:
    """The last changelog record a partition's state covers."""

    offset: int
    key: bytes
    value: bytes | None

    def matches(self, offset: int, key: bytes | None, value: bytes | None) -> bool:
        return offset == self.offset and key == self.key and value == self.value


@dataclass(frozen=True, slots=True)
class SnapshotHeader:
    """What a snapshot file says of itself, read without loading its body."""

    path: Path
    topic: str
    partition: int
    anchor: ChangelogAnchor
    #: The last input offset the state covers (None: no batch was ever written).
    position: int | None
    tickets: int
    written_at: float


def snapshot_path(directory: Path, topic: str, partition: int) -> Path:
    return directory / f"{topic}-{partition}.snapshot"


def write_snapshot(directory: Path, topic: str, partition: int, anchor: ChangelogAnchor, position: int | None,
                   records: dict[str, Record], index: EngineIndex) -> Path:
    """Write one partition's snapshot atomically; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = snapshot_path(directory, topic, partition)
    header = {
        "topic": topic,
        "partition": partition,
        "anchor": {"offset": anchor.offset, "key": _b64(anchor.key), "value": _b64(anchor.value)},
        "position": position,
        "tickets": len(records),
        "written_at": time.time(),
        "python": list(sys.version_info[:2]),
        "marshal": marshal.version,
    }
    body = marshal.dumps((records, index.timers, index.timers_live, index.deadlines, index.open_clocks,
                          index.paused, index.breached))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as out:
            out.write(FORMAT_LINE)
            out.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
            out.write(body)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def read_header(directory: Path, topic: str, partition: int) -> SnapshotHeader | None:
    """The snapshot header of ``partition``, or None when there is no usable file (said in the log)."""
    path = snapshot_path(directory, topic, partition)
    try:
        with open(path, "rb") as source:
            return _parse_header(path, source.readline(), source.readline(), topic, partition)
    except FileNotFoundError:
        return None
    except (OSError, SnapshotError) as exc:
        log.warning("%s: not used (%s); the partition is read from the changelog", path, exc)
        return None


def read_body(header: SnapshotHeader) -> tuple[dict[str, Record], EngineIndex]:
    """The tickets and the engine index of a snapshot whose anchor was found in the changelog."""
    try:
        with open(header.path, "rb") as source:
            source.readline()
            source.readline()
            records, timers, live, deadlines, counts, paused, breached = marshal.loads(source.read())
    except (OSError, EOFError, ValueError, TypeError) as exc:
        raise SnapshotError(f"{header.path}: the body cannot be read ({exc})") from None
    if not isinstance(records, dict) or len(records) != header.tickets:
        raise SnapshotError(f"{header.path}: the body does not hold the {header.tickets} tickets its header names")
    return records, EngineIndex(timers, live, deadlines, counts, paused, breached)


def _parse_header(path: Path, first: bytes, second: bytes, topic: str, partition: int) -> SnapshotHeader:
    if first != FORMAT_LINE:
        raise SnapshotError(f"not a snapshot of this format (first line {first[:60]!r})")
    try:
        fields: dict[str, Any] = json.loads(second)
        anchor = fields["anchor"]
        header = SnapshotHeader(path, fields["topic"], int(fields["partition"]),
                                ChangelogAnchor(int(anchor["offset"]), _unb64(anchor["key"]) or b"",
                                                _unb64(anchor["value"])),
                                fields["position"], int(fields["tickets"]), float(fields["written_at"]))
        written_by = (tuple(fields["python"]), fields["marshal"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"the header cannot be read ({exc!r})") from None
    if (header.topic, header.partition) != (topic, partition):
        raise SnapshotError(f"it holds {header.topic} partition {header.partition}")
    if written_by != (tuple(sys.version_info[:2]), marshal.version):
        raise SnapshotError(f"written by Python {written_by[0]} (marshal {written_by[1]})")
    return header


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def _unb64(value: str | None) -> bytes | None:
    return None if value is None else base64.b64decode(value)
