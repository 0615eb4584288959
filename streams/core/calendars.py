"""Business-time arithmetic: working time between two instants, and the instant a target is reached.

A business calendar's working time is a step function of UTC time. We lay its working
intervals out in UTC once, for a span of years (the local wall times turned into instants
through ``zoneinfo``, so daylight-saving gaps and overlaps come out right), and keep the
working time accumulated before each interval. Both questions are then one ``bisect`` on
those arrays, so a deadline ten years away costs what one an hour away costs. The span
grows on demand when an instant falls outside it. Build one calendar per policy calendar,
never one per ticket: the arrays are shared by every ticket on it.

Times are engine times, integer microseconds since the Unix epoch (``timebase``).
Pure: no I/O, no wall clock; holiday dates come from a function the caller passes in.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from ticket_slo.streams.core.timebase import MICROS_PER_SECOND, datetime_to_micros

__all__ = [
    "ALWAYS_ON",
    "ALWAYS_ON_NAME",
    "AlwaysOnCalendar",
    "BusinessCalendar",
    "Calendar",
    "CalendarError",
    "HolidaysOfYear",
    "WorkingInterval",
]

#: The built-in calendar's name: every instant is working time.
ALWAYS_ON_NAME: Final = "24/7"

#: Years laid out ahead of the first instant asked about (a year of margin on either side
#: of every instant is always added), and the least a span grows by when a target outruns it.
_SPAN_AFTER: Final = 10
#: The engine's instants lie between 1970 and 9000; a calendar with too little working
#: time to reach a target after this year says so instead of searching forever. Both
#: bounds keep local wall times inside what ``datetime`` can hold in any time zone.
_FIRST_YEAR: Final = 1900
_LAST_YEAR: Final = 9998

#: Working minutes of one day, as ``(start, end)`` minutes after local midnight; end <= 1440.
WorkingInterval = tuple[int, int]
#: The holiday dates of one year (a function, so that the span can grow lazily).
HolidaysOfYear = Callable[[int], Collection[date]]

_UTC: Final = timezone.utc
_ONE_SECOND: Final = timedelta(seconds=1)


class CalendarError(ValueError):
    """A calendar that cannot answer: no working time at all, or a target not reached by the end of 9998."""


class Calendar(Protocol):
    """What the engine needs from any calendar, 24/7 or business hours."""

    name: str

    def elapsed(self, start: int, end: int) -> int:
        """Working microseconds from ``start`` to ``end`` (negative when ``end`` is earlier)."""
        ...

    def deadline(self, start: int, target: int) -> int:
        """The first instant at which working time since ``start`` reaches ``target`` microseconds."""
        ...


class AlwaysOnCalendar:
    """The built-in ``24/7`` calendar: plain differences, no tables, nothing to build."""

    name = ALWAYS_ON_NAME

    def elapsed(self, start: int, end: int) -> int:
        return end - start

    def deadline(self, start: int, target: int) -> int:
        return start + target

    def __repr__(self) -> str:
        return "AlwaysOnCalendar()"


ALWAYS_ON: Final = AlwaysOnCalendar()


class BusinessCalendar:
    """Working hours per weekday in one time zone, minus holidays.

    ``week`` holds seven lists of working intervals, Monday first, each sorted and not
    overlapping (the policy file validates that). ``holidays_of_year(year)`` gives the
    dates of ``year`` on which nobody works.
    """

    def __init__(
        self,
        name: str,
        time_zone: str,
        week: Sequence[Sequence[WorkingInterval]],
        holidays_of_year: HolidaysOfYear = lambda year: (),
    ) -> None:
        if len(week) != 7:
            raise CalendarError(f"calendar {name!r}: expected 7 weekdays of working hours, got {len(week)}")
        self.name = name
        self.zone = ZoneInfo(time_zone)
        self.week: tuple[tuple[WorkingInterval, ...], ...] = tuple(tuple(day) for day in week)
        if not any(end > start for day in self.week for start, end in day):
            raise CalendarError(f"calendar {name!r} has no working hours on any day")
        self._holidays_of_year = holidays_of_year
        # The span laid out, [first year, last year] inclusive; empty until first used.
        self._first_year = 0
        self._last_year = -1
        self._starts: list[int] = []
        self._ends: list[int] = []
        # _worked_before[i]: working micros from the span's start to _starts[i];
        # _worked_after[i]: the same to _ends[i] (what deadline() bisects).
        self._worked_before: list[int] = []
        self._worked_after: list[int] = []
        # Instants from local Jan 1 of first year + 1 up to local Jan 1 of the last year
        # need no layout: _cover's fast path (empty until the first layout).
        self._margin_low = 1
        self._margin_high = 0
        #: How many times the span was laid out (tests check that queries inside it do not).
        self.layouts = 0

    # --- the two operations ---------------------------------------------------------

    def elapsed(self, start: int, end: int) -> int:
        """Working microseconds from ``start`` to ``end``; additive, negative when reversed."""
        self._cover(min(start, end), max(start, end))
        return self._worked_until(end) - self._worked_until(start)

    def deadline(self, start: int, target: int) -> int:
        """First instant at which working time since ``start`` reaches ``target`` µs (>= 0).

        A start in a break, a weekend or a holiday begins counting at the next working
        instant; a target of zero is reached at ``start`` itself.
        """
        if target < 0:
            raise ValueError(f"target must not be negative, got {target}")
        if target == 0:
            return start
        self._cover(start, start)
        goal = self._worked_until(start) + target
        while goal > self._worked_after[-1]:
            self._grow_forward()
            goal = self._worked_until(start) + target  # the span may have grown backwards too
        index = bisect_left(self._worked_after, goal)
        return self._starts[index] + (goal - self._worked_before[index])

    # --- the laid-out span ------------------------------------------------------------

    @property
    def span_years(self) -> tuple[int, int]:
        """The years laid out so far, first and last inclusive; (0, -1) before the first use."""
        return self._first_year, self._last_year

    @property
    def interval_count(self) -> int:
        return len(self._starts)

    def _worked_until(self, instant: int) -> int:
        """Working micros from the span's start to ``instant`` (inside the span)."""
        index = bisect_right(self._starts, instant) - 1
        if index < 0:
            return 0
        return self._worked_before[index] + min(instant, self._ends[index]) - self._starts[index]

    def _cover(self, earliest: int, latest: int) -> None:
        """Make sure the span holds both instants' local years, with a year of margin."""
        if self._margin_low <= earliest and latest < self._margin_high:
            return  # the common case: two comparisons, no time-zone arithmetic
        first = _year_of(earliest, self.zone) - 1
        last = _year_of(latest, self.zone) + 1
        if self._last_year < self._first_year:
            self._lay_out(first, last + _SPAN_AFTER)
        elif first < self._first_year or last > self._last_year:
            self._lay_out(min(first, self._first_year), max(last, self._last_year))

    def _grow_forward(self) -> None:
        if self._last_year >= _LAST_YEAR:
            raise CalendarError(f"calendar {self.name!r}: target not reached before year {_LAST_YEAR + 1}")
        # doubling the span keeps a far target's layouts few (each one redoes the whole span)
        grow_by = max(_SPAN_AFTER, self._last_year - self._first_year)
        self._lay_out(self._first_year, min(_LAST_YEAR, self._last_year + grow_by))

    def _lay_out(self, first_year: int, last_year: int) -> None:
        """Lay out every working interval of ``first_year``..``last_year`` in UTC, with the sums."""
        first_year = max(first_year, _FIRST_YEAR)
        last_year = min(last_year, _LAST_YEAR)
        starts: list[int] = []
        ends: list[int] = []
        for year in range(first_year, last_year + 1):
            days_off = set(self._holidays_of_year(year))
            day = date(year, 1, 1)
            while day.year == year:
                if day not in days_off:
                    for start_minute, end_minute in self.week[day.weekday()]:
                        start = self._instant(day, start_minute)
                        end = self._instant(day, end_minute)
                        if end <= start:
                            continue  # wholly inside a spring-forward gap
                        if ends and start <= ends[-1]:  # touches the previous one (24:00 then 00:00)
                            ends[-1] = max(ends[-1], end)
                        else:
                            starts.append(start)
                            ends.append(end)
                day += timedelta(days=1)
        worked_before: list[int] = []
        worked_after: list[int] = []
        total = 0
        for start, end in zip(starts, ends):
            worked_before.append(total)
            total += end - start
            worked_after.append(total)
        if not starts:
            raise CalendarError(f"calendar {self.name!r} has no working time in {first_year}..{last_year}")
        self._starts, self._ends = starts, ends
        self._worked_before, self._worked_after = worked_before, worked_after
        self._first_year, self._last_year = first_year, last_year
        self._margin_low = self._instant(date(first_year + 1, 1, 1), 0)
        self._margin_high = self._instant(date(last_year, 1, 1), 0)
        self.layouts += 1

    def _instant(self, day: date, minute: int) -> int:
        """The first instant at which the local clock reads at least ``day`` + ``minute``.

        An ambiguous wall time (the hour repeated when clocks go back) is its first
        occurrence; a wall time that does not exist (skipped when clocks go forward) is the
        instant of the switch, when the clock jumps past it.
        """
        wall = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
        instant = wall.replace(tzinfo=self.zone).astimezone(_UTC)  # fold=0: the earlier offset
        shown = instant.astimezone(self.zone).replace(tzinfo=None)
        if shown != wall:  # in a gap: fold=0 put it past the switch by (shown - wall)
            instant = self._switch_before(instant, instant - (shown - wall))
        return datetime_to_micros(instant)

    def _switch_before(self, after: datetime, before: datetime) -> datetime:
        """The instant of the offset change between ``before`` and ``after`` (whole seconds)."""
        offset_after = after.astimezone(self.zone).utcoffset()
        low, high = before, after  # invariant: offset at high is the new one, at low the old one
        while high - low > _ONE_SECOND:
            middle = low + (high - low) // 2
            middle = middle.replace(microsecond=0)
            if middle <= low:
                break
            if middle.astimezone(self.zone).utcoffset() == offset_after:
                high = middle
            else:
                low = middle
        return high

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.name!r}, {self.zone.key!r})"


def _year_of(instant: int, zone: ZoneInfo) -> int:
    """The local calendar year of an engine instant (clamped to the years ``date`` knows)."""
    seconds = instant // MICROS_PER_SECOND
    if seconds < -62_135_596_800 + 2 * 86_400:  # before 0001-01-03 UTC
        return 1
    if seconds > 253_402_300_799 - 2 * 86_400:  # after 9999-12-29 UTC
        return _LAST_YEAR
    return (datetime(1970, 1, 1, tzinfo=_UTC) + timedelta(seconds=seconds)).astimezone(zone).year
