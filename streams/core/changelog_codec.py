"""How per-ticket state and the input position are written in the tickets changelog.

A changelog partition holds the state of one ``ticket-events`` partition: one record per
ticket (key: ticket id, value: the engine's record as compact JSON, a tombstone once the
ticket is forgotten) and one position record (key ``POSITION_KEY``, value: the last input
offset applied, in ASCII digits). The position is written after the tickets of the same
batch, in the same partition, so whoever reads the changelog sees the position only
together with every state write it covers.

Changelogs written by earlier versions hold values as ``[partition, record, outbox]``
lists; they are read as their record (the outbox is no longer needed: outputs are on the
broker before the state that produced them is written).
"""

from __future__ import annotations

from typing import Final, Iterable

import orjson

from ticket_slo.streams.core.state_store import Record

__all__ = ["POSITION_KEY", "ChangelogWrite", "encode_record", "decode_record", "encode_position",
           "decode_position", "changelog_writes"]

#: The changelog key of a partition's position record (no ticket id starts with NUL).
POSITION_KEY: Final = b"\x00position"

#: One changelog record: (key, value); a value of None is a tombstone.
ChangelogWrite = tuple[bytes, "bytes | None"]


def encode_record(record: Record) -> bytes:
    """Compact JSON (orjson: about 7 times faster than the standard library here, and a
    restarted worker decodes every record)."""
    return orjson.dumps(record)


def decode_record(value: bytes) -> Record:
    """A stored record, from the current form or the earlier ``[partition, record, outbox]`` one."""
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ValueError(str(exc)) from None
    if isinstance(decoded, list):
        record: Record = decoded[1]
        return record
    if not isinstance(decoded, dict):
        raise ValueError(f"a changelog value must be a JSON object or list, got {type(decoded).__name__}")
    return decoded


def encode_position(offset: int) -> bytes:
    return str(offset).encode()


def decode_position(value: bytes) -> int:
    return int(value)


def changelog_writes(touched: Iterable[tuple[str, Record | None]], position: int | None) -> list[ChangelogWrite]:
    """Touched tickets (a record of None: a tombstone), then the position record, if any."""
    dumps = orjson.dumps
    writes: list[ChangelogWrite] = [(key.encode(), None if record is None else dumps(record))
                                    for key, record in touched]
    if position is not None:
        writes.append((POSITION_KEY, encode_position(position)))
    return writes
