"""Engine time: integer microseconds since the Unix epoch.

The engine's API takes float epoch seconds, but every comparison that decides an
outcome (``elapsed <= target``, ``now > deadline``) is done on integers, so that a
stop exactly at the deadline is "met" on every machine and in every replay.
Microseconds are what ``datetime`` carries, so nothing is lost either way.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Final

__all__ = ["MICROS_PER_SECOND", "EPOCH", "seconds_to_micros", "micros_to_seconds", "datetime_to_micros", "micros_to_datetime"]

MICROS_PER_SECOND: Final = 1_000_000
EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MICRO: Final = timedelta(microseconds=1)


def seconds_to_micros(seconds: float) -> int:
    """Nearest microsecond; exact for any float produced by ``micros_to_seconds``."""
    return round(seconds * MICROS_PER_SECOND)


def micros_to_seconds(micros: int) -> float:
    return micros / MICROS_PER_SECOND


def datetime_to_micros(value: datetime) -> int:
    """Exact, unlike ``value.timestamp()`` which goes through a float."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no UTC offset")
    return (value - EPOCH) // _ONE_MICRO


def micros_to_datetime(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)
