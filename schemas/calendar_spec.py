"""The ``calendars:`` section of the policy file: time zone, working hours per weekday, holidays.

Only the syntax and its validation live here; the arithmetic is in
``streams/core/calendars.py``. Every check that a calendar can fail is made when the
policy is loaded (an unknown time zone, ``25:00``, overlapping intervals, an unknown
country), so that a bad calendar stops the program at start, naming the key.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "ALWAYS_ON_CALENDAR",
    "CalendarSpec",
    "HolidaySpec",
    "WEEKDAYS",
    "parse_interval",
]

#: The built-in calendar: every instant counts. A plan without ``calendar:`` uses it.
ALWAYS_ON_CALENDAR: Final = "24/7"
#: Weekday keys, Monday first (``date.weekday()`` order).
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_CLOCK = r"(\d\d):(\d\d)"
_INTERVAL = re.compile(rf"{_CLOCK}-{_CLOCK}", re.ASCII)
_INTERVAL_HINT = "write HH:MM-HH:MM, e.g. 08:00-12:00; 24:00 may end a day"
_MINUTES_PER_DAY: Final = 24 * 60


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _minute_of(hours: str, minutes: str, text: str, *, may_be_midnight: bool) -> int:
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > _MINUTES_PER_DAY or (value == _MINUTES_PER_DAY and not may_be_midnight):
        raise PydanticCustomError(
            "calendar_interval", "{value} has an impossible time of day ({hint})", {"value": repr(text), "hint": _INTERVAL_HINT}
        )
    return value


def parse_interval(value: Any) -> tuple[int, int]:
    """``"08:00-12:00"`` → (480, 720): minutes after local midnight; the end may be ``24:00``."""
    text = value.strip() if isinstance(value, str) else None
    match = _INTERVAL.fullmatch(text) if text is not None else None
    if match is None:
        raise PydanticCustomError(
            "calendar_interval", "{value} is not a working interval ({hint})", {"value": repr(value), "hint": _INTERVAL_HINT}
        )
    start = _minute_of(match[1], match[2], text, may_be_midnight=False)
    end = _minute_of(match[3], match[4], text, may_be_midnight=True)
    if end <= start:
        raise PydanticCustomError(
            "calendar_interval", "{value} ends before it starts", {"value": repr(value)}
        )
    return start, end


def _ordered(intervals: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    for (_, previous_end), (start, end) in zip(intervals, intervals[1:]):
        if start < previous_end:
            raise PydanticCustomError(
                "calendar_overlap",
                "{interval} overlaps or comes before the interval listed before it (list them in order, apart)",
                {"interval": f"'{_clock(start)}-{_clock(end)}'"},
            )
    return intervals


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


Interval = Annotated[
    tuple[int, int],
    BeforeValidator(parse_interval),
    WithJsonSchema({"type": "string", "pattern": r"^\d\d:\d\d-\d\d:\d\d$", "description": "HH:MM-HH:MM local time"}),
]
DayHours = Annotated[tuple[Interval, ...], AfterValidator(_ordered)]


def days_of(key: str) -> tuple[int, ...]:
    """``"mon-fri"`` → (0, 1, 2, 3, 4); ``"sat"`` → (5,). Raises on anything else."""
    first, _, last = key.strip().lower().partition("-")
    if first in WEEKDAYS and (not last or last in WEEKDAYS):
        begin = WEEKDAYS.index(first)
        end = WEEKDAYS.index(last) if last else begin
        if end >= begin:
            return tuple(range(begin, end + 1))
    raise PydanticCustomError(
        "calendar_day", "{key} is not a weekday or a range of weekdays (use {days}, or a range such as mon-fri)",
        {"key": repr(key), "days": ", ".join(WEEKDAYS)},
    )


def _day_key(key: Any) -> str:
    if not isinstance(key, str):
        raise PydanticCustomError("calendar_day", "{key} is not a weekday", {"key": repr(key)})
    days_of(key)
    return key


DayKey = Annotated[str, BeforeValidator(_day_key)]


@lru_cache(maxsize=1)
def _supported_countries() -> dict[str, tuple[str, ...]]:
    return {code: tuple(subdivisions) for code, subdivisions in holidays.list_supported_countries().items()}


class HolidaySpec(_Strict):
    """A country's public holidays (``holidays`` package), plus the contract's own dates."""

    country: str | None = None
    subdivision: str | None = None
    add: tuple[date, ...] = ()
    remove: tuple[date, ...] = ()

    @field_validator("country", mode="after")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is not None and value not in _supported_countries():
            raise PydanticCustomError(
                "calendar_country",
                "{value} is not a country code the holidays package knows (ISO 3166-1 alpha-2, e.g. DE, US, FR)",
                {"value": repr(value)},
            )
        return value

    @model_validator(mode="after")
    def _known_subdivision(self) -> HolidaySpec:
        if self.subdivision is None:
            return self
        if self.country is None:
            raise PydanticCustomError("calendar_subdivision", "a subdivision needs a country", {})
        known = _supported_countries()[self.country]
        if self.subdivision not in known:
            raise PydanticCustomError(
                "calendar_subdivision", "{value} is not a subdivision of {country} (known: {known})",
                {"value": repr(self.subdivision), "country": self.country, "known": ", ".join(known) or "none"},
            )
        return self

    def dates_of(self, year: int) -> frozenset[date]:
        """The holiday dates of ``year``: the country's, plus ``add``, minus ``remove``."""
        found: set[date] = set()
        if self.country is not None:
            found.update(holidays.country_holidays(self.country, subdiv=self.subdivision, years=year).keys())
        found.update(day for day in self.add if day.year == year)
        found.difference_update(self.remove)
        return frozenset(found)


class CalendarSpec(_Strict):
    """One named business calendar: where its clock hangs, when people work, which days they do not."""

    timezone: str
    hours: dict[DayKey, DayHours]
    holidays: HolidaySpec = HolidaySpec()

    @field_validator("timezone", mode="after")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "calendar_timezone", "{value} is not a known IANA time zone (e.g. Europe/Berlin, America/New_York)",
                {"value": repr(value)},
            ) from None
        return value

    @model_validator(mode="after")
    def _each_day_once(self) -> CalendarSpec:
        seen: dict[int, str] = {}
        for key in self.hours:
            for day in days_of(key):
                if day in seen:
                    raise PydanticCustomError(
                        "calendar_day_twice", "{day} is in both {first} and {second}",
                        {"day": WEEKDAYS[day], "first": repr(seen[day]), "second": repr(key)},
                    )
                seen[day] = key
        if not any(self.hours.values()):
            raise PydanticCustomError("calendar_no_hours", "the calendar has no working hours on any day", {})
        return self

    def week(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Working intervals per weekday, Monday first; a day not listed has none."""
        days: list[tuple[tuple[int, int], ...]] = [()] * 7
        for key, intervals in self.hours.items():
            for day in days_of(key):
                days[day] = intervals
        return tuple(days)
