"""Business-time arithmetic: examples with known answers, properties, an oracle, and the cost's shape.

Expected instants are written out by hand (local wall time and its UTC instant), and
``elapsed`` is also checked against a slow oracle that walks the time line in 15-minute
steps and asks ``zoneinfo`` the local wall time of each step: a different way to the
same answer, sharing no code with the calendar.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticket_slo.schemas.policy import load_policy
from ticket_slo.streams.core import calendars as calendars_module
from ticket_slo.streams.core.calendars import ALWAYS_ON, BusinessCalendar, CalendarError
from ticket_slo.streams.core.policy_calendars import PolicyCalendars
from ticket_slo.streams.core.timebase import datetime_to_micros

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc
HOUR = 3600 * 1_000_000
MINUTE = 60 * 1_000_000

POLICY_TEXT = """
calendars:
  office-de:
    timezone: Europe/Berlin
    hours: {mon-fri: ["09:00-17:00"], sat: [], sun: []}
    holidays: {country: DE}
  split-de:
    timezone: Europe/Berlin
    hours:
      mon-thu: ["08:00-12:00", "13:00-17:30"]
      fri: ["08:00-12:00"]
    holidays: {country: DE, subdivision: BY, add: [2026-12-24, 2026-12-31], remove: [2026-10-03]}
  office-ny:
    timezone: America/New_York
    hours: {mon-fri: ["09:00-17:00"]}
    holidays: {country: US}
  nights-de:
    timezone: Europe/Berlin
    hours: {mon-sun: ["00:00-06:00", "22:00-24:00"]}
plans:
  default:
    objectives:
      first_response: {P1: 30m, P2: 60m, P3: 4h, P4: 8h}
  business:
    calendar: office-de
    objectives:
      first_response: {P1: 2h, P2: 4h, P3: 8h, P4: 16h}
  split:
    calendar: split-de
  us:
    calendar: office-ny
  nights:
    calendar: nights-de
"""


@pytest.fixture(scope="module")
def calendars(tmp_path_factory: pytest.TempPathFactory) -> PolicyCalendars:
    path: Path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(POLICY_TEXT)
    return PolicyCalendars(load_policy(path))


def at(zone: ZoneInfo, *fields: int) -> int:
    return datetime_to_micros(datetime(*fields, tzinfo=zone))


def utc(*fields: int) -> int:
    return at(UTC, *fields)  # type: ignore[arg-type]


# --- the Done-when examples, with their UTC instants written out ---------------------

def test_friday_16_plus_two_hours_is_monday_10_across_spring_forward(calendars: PolicyCalendars) -> None:
    office = calendars.calendar_for("business")
    start = at(BERLIN, 2026, 3, 27, 16, 0)  # Friday 16:00 CET = 15:00 UTC
    assert start == utc(2026, 3, 27, 15, 0)
    # 1 h on Friday, the weekend (clocks go forward on Sunday the 29th), 1 h on Monday
    assert office.deadline(start, 2 * HOUR) == utc(2026, 3, 30, 8, 0)  # Monday 10:00 CEST
    assert office.elapsed(start, utc(2026, 3, 30, 8, 0)) == 2 * HOUR


def test_friday_16_plus_two_hours_is_monday_10_across_fall_back(calendars: PolicyCalendars) -> None:
    office = calendars.calendar_for("business")
    start = utc(2026, 10, 23, 14, 0)  # Friday 16:00 CEST
    assert office.deadline(start, 2 * HOUR) == utc(2026, 10, 26, 9, 0)  # Monday 10:00 CET


def test_new_york_friday_to_monday_across_its_own_switch(calendars: PolicyCalendars) -> None:
    us = calendars.calendar_for("us")
    # New York moves its clocks on 2026-03-08 and 2026-11-01 (Sundays)
    assert us.deadline(utc(2026, 3, 6, 21, 0), 2 * HOUR) == utc(2026, 3, 9, 14, 0)  # Fri 16:00 EST → Mon 10:00 EDT
    assert us.deadline(utc(2026, 10, 30, 20, 0), 2 * HOUR) == utc(2026, 11, 2, 15, 0)  # Fri 16:00 EDT → Mon 10:00 EST


def test_a_holiday_is_skipped(calendars: PolicyCalendars) -> None:
    office = calendars.calendar_for("business")
    # Thursday 2026-12-24 16:00 CET: 1 h that day; Friday the 25th is Christmas Day, then the weekend
    assert office.deadline(utc(2026, 12, 24, 15, 0), 2 * HOUR) == utc(2026, 12, 28, 9, 0)  # Mon 10:00 CET
    assert office.elapsed(utc(2026, 12, 25, 0, 0), utc(2026, 12, 26, 0, 0)) == 0


def test_contract_dates_added_and_removed(calendars: PolicyCalendars) -> None:
    split = calendars.calendar_for("split")
    # 2026-12-24 (a Thursday) is added by the contract; 2026-01-06 (Epiphany, a Tuesday) is
    # a holiday in Bavaria only; 2026-01-07 is an ordinary Wednesday.
    assert split.elapsed(at(BERLIN, 2026, 12, 24, 0, 0), at(BERLIN, 2026, 12, 25, 0, 0)) == 0
    assert split.elapsed(at(BERLIN, 2026, 1, 6, 0, 0), at(BERLIN, 2026, 1, 7, 0, 0)) == 0
    assert split.elapsed(at(BERLIN, 2026, 1, 7, 0, 0), at(BERLIN, 2026, 1, 8, 0, 0)) == 8 * HOUR + 30 * MINUTE


def test_removed_holiday_is_worked(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_TEXT.replace("remove: [2026-10-03]", "remove: [2026-05-01]"))
    split = PolicyCalendars(load_policy(path)).calendar_for("split")
    # 2026-05-01, Labour Day, a Friday: worked 08:00-12:00 under this contract
    assert split.elapsed(at(BERLIN, 2026, 5, 1, 0, 0), at(BERLIN, 2026, 5, 2, 0, 0)) == 4 * HOUR


def test_a_start_in_a_break_or_a_weekend_begins_at_the_next_working_instant(calendars: PolicyCalendars) -> None:
    split = calendars.calendar_for("split")
    lunch = at(BERLIN, 2026, 6, 10, 12, 20)  # Wednesday, in the 12:00-13:00 break
    assert split.deadline(lunch, 30 * MINUTE) == at(BERLIN, 2026, 6, 10, 13, 30)
    assert split.elapsed(lunch, at(BERLIN, 2026, 6, 10, 13, 0)) == 0
    saturday = at(BERLIN, 2026, 6, 13, 9, 0)
    assert split.deadline(saturday, 1 * MINUTE) == at(BERLIN, 2026, 6, 15, 8, 1)  # Monday 08:01
    evening = at(BERLIN, 2026, 6, 12, 12, 0)  # Friday: the day ends at 12:00
    assert split.deadline(evening, 1 * HOUR) == at(BERLIN, 2026, 6, 15, 9, 0)


def test_a_deadline_at_the_end_of_an_interval_is_that_end_not_the_next_start(calendars: PolicyCalendars) -> None:
    split = calendars.calendar_for("split")
    assert split.deadline(at(BERLIN, 2026, 6, 10, 8, 0), 4 * HOUR) == at(BERLIN, 2026, 6, 10, 12, 0)
    assert split.deadline(at(BERLIN, 2026, 6, 10, 8, 0), 0) == at(BERLIN, 2026, 6, 10, 8, 0)


def test_across_the_year_end(calendars: PolicyCalendars) -> None:
    office = calendars.calendar_for("business")
    # Wed 2026-12-30 16:00 CET; Thu 31st worked 8 h; Fri 2027-01-01 a holiday; weekend; Mon 4th
    start = utc(2026, 12, 30, 15, 0)
    assert office.deadline(start, 10 * HOUR) == utc(2027, 1, 4, 9, 0)  # Mon 10:00 CET
    assert office.elapsed(start, utc(2027, 1, 5, 0, 0)) == 1 * HOUR + 8 * HOUR + 8 * HOUR


def test_intervals_that_cross_both_switches(calendars: PolicyCalendars) -> None:
    nights = calendars.calendar_for("nights")
    # 22:00 to 06:00 local: 7 real hours the night clocks go forward, 9 the night they go back
    assert nights.elapsed(utc(2026, 3, 28, 21, 0), utc(2026, 3, 29, 4, 0)) == 7 * HOUR
    assert nights.elapsed(utc(2026, 10, 24, 20, 0), utc(2026, 10, 25, 5, 0)) == 9 * HOUR
    # from Saturday 23:00 CET, 3 working hours end at 03:00 CEST: 02:00-03:00 never happens
    assert nights.deadline(utc(2026, 3, 28, 22, 0), 3 * HOUR) == utc(2026, 3, 29, 1, 0)


def test_a_wall_time_in_the_gap_starts_at_the_switch() -> None:
    gap = BusinessCalendar("gap", "Europe/Berlin", [[(150, 300)]] * 7)  # 02:30-05:00 every day
    # 2026-03-29: 02:30 does not exist; the interval starts when the clock jumps to 03:00 CEST
    assert gap.deadline(utc(2026, 3, 29, 0, 0), 1) == utc(2026, 3, 29, 1, 0) + 1
    assert gap.elapsed(utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 6, 0)) == 2 * HOUR
    # 2026-10-25: 02:30 happens twice; the interval starts at its first occurrence (CEST)
    assert gap.elapsed(utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 6, 0)) == 3 * HOUR + 30 * MINUTE
    assert gap.deadline(utc(2026, 10, 25, 0, 0), 1) == utc(2026, 10, 25, 0, 30) + 1


def test_always_on_costs_nothing(calendars: PolicyCalendars) -> None:
    assert calendars.calendar_for("default") is ALWAYS_ON
    assert calendars.calendar_for("no-such-plan") is ALWAYS_ON
    assert ALWAYS_ON.elapsed(10, 25) == 15 and ALWAYS_ON.deadline(10, 25) == 35


def test_one_calendar_object_per_calendar(calendars: PolicyCalendars) -> None:
    assert calendars.calendar_for("business") is calendars.calendar_for("business")
    assert calendars.calendar_for("business") is calendars.calendar("office-de")


def test_a_calendar_without_working_hours_is_refused() -> None:
    with pytest.raises(CalendarError, match="no working hours"):
        BusinessCalendar("never", "Europe/Berlin", [[]] * 7)


# --- properties ---------------------------------------------------------------------

#: Instants from 2020 to 2040 at one-second resolution, plus microseconds.
INSTANT = st.integers(utc(2020, 1, 1, 0, 0), utc(2040, 1, 1, 0, 0))
TARGET = st.integers(1, 400 * HOUR)
PLAN = st.sampled_from(["business", "split", "us", "nights", "default"])


@settings(max_examples=300, deadline=None)
@given(plan=PLAN, start=INSTANT, target=TARGET)
def test_elapsed_until_the_deadline_is_the_target(calendars: PolicyCalendars, plan: str, start: int, target: int) -> None:
    calendar = calendars.calendar_for(plan)
    deadline = calendar.deadline(start, target)
    assert calendar.elapsed(start, deadline) == target
    assert calendar.elapsed(start, deadline - 1) == target - 1  # the first such instant


@settings(max_examples=300, deadline=None)
@given(plan=PLAN, start=INSTANT, targets=st.tuples(TARGET, TARGET))
def test_deadline_is_monotonic_in_the_target(calendars: PolicyCalendars, plan: str, start: int,
                                             targets: tuple[int, int]) -> None:
    calendar = calendars.calendar_for(plan)
    small, large = sorted(targets)
    assert calendar.deadline(start, small) <= calendar.deadline(start, large)
    assert calendar.deadline(start, small) > start


@settings(max_examples=300, deadline=None)
@given(plan=PLAN, instants=st.lists(INSTANT, min_size=3, max_size=3), target=TARGET)
def test_elapsed_is_monotonic_and_additive(calendars: PolicyCalendars, plan: str, instants: list[int],
                                           target: int) -> None:
    calendar = calendars.calendar_for(plan)
    a, b, c = sorted(instants)
    assert 0 <= calendar.elapsed(a, b) <= calendar.elapsed(a, c)
    assert calendar.elapsed(a, c) == calendar.elapsed(a, b) + calendar.elapsed(b, c)
    assert calendar.elapsed(a, c) <= c - a
    # a later start never has an earlier deadline
    assert calendar.deadline(a, target) <= calendar.deadline(b, target)


def oracle_elapsed(zone: ZoneInfo, week: list[list[tuple[int, int]]], days_off: set[date], start: int,
                   end: int) -> int:
    """Working micros between two 15-minute-aligned instants, one step at a time."""
    step = 15 * MINUTE
    worked = 0
    for instant in range(start, end, step):
        local = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=instant)
        local = local.astimezone(zone)
        minute = local.hour * 60 + local.minute
        if local.date() not in days_off and any(s <= minute < e for s, e in week[local.weekday()]):
            worked += step
    return worked


ALIGNED = st.integers(utc(2025, 1, 1, 0, 0) // (15 * MINUTE), utc(2031, 1, 1, 0, 0) // (15 * MINUTE))


@settings(max_examples=60, deadline=None)
@given(first=ALIGNED, steps=st.integers(0, 4 * 24 * 40), which=st.sampled_from(["de", "ny", "nights"]))
def test_elapsed_agrees_with_a_step_by_step_oracle(calendars: PolicyCalendars, first: int, steps: int,
                                                   which: str) -> None:
    start = first * 15 * MINUTE
    end = start + steps * 15 * MINUTE
    nine_to_five = [[(540, 1020)]] * 5 + [[], []]
    if which == "de":
        zone, week, country, plan = BERLIN, nine_to_five, "DE", "business"
    elif which == "ny":
        zone, week, country, plan = NEW_YORK, nine_to_five, "US", "us"
    else:
        zone, week, country, plan = BERLIN, [[(0, 360), (1320, 1440)]] * 7, None, "nights"
    years = range(2024, 2033)
    days_off = set(holidays.country_holidays(country, years=years).keys()) if country else set()
    assert calendars.calendar_for(plan).elapsed(start, end) == oracle_elapsed(zone, week, days_off, start, end)


# --- the cost does not depend on the interval's length ---------------------------------

def test_a_deadline_ten_years_away_is_one_bisect_on_the_laid_out_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    calendar = BusinessCalendar("office", "Europe/Berlin", [[(540, 1020)]] * 5 + [[], []],
                                lambda year: holidays.country_holidays("DE", years=year).keys())
    start = utc(2026, 11, 30, 10, 0)
    ten_years = calendar.elapsed(start, utc(2036, 11, 30, 10, 0))  # lays out the span once
    assert ten_years > 10 * 200 * 8 * HOUR
    layouts = calendar.layouts
    calls: list[str] = []

    def counting(name: str, function):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(name)
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(calendars_module, "bisect_left", counting("left", calendars_module.bisect_left))
    monkeypatch.setattr(calendars_module, "bisect_right", counting("right", calendars_module.bisect_right))
    monkeypatch.setattr(calendar, "_instant", counting("lay out", calendar._instant))
    costs = []
    for target in (1 * HOUR, ten_years):
        calls.clear()
        deadline = calendar.deadline(start, target)
        assert calendar.elapsed(start, deadline) == target
        costs.append(list(calls))
    assert costs[0] == costs[1] == ["right", "left", "right", "right"]  # no step per interval, no layout
    assert calendar.layouts == layouts


def test_the_span_grows_lazily_for_instants_outside_it() -> None:
    calendar = BusinessCalendar("office", "Europe/Berlin", [[(540, 1020)]] * 5 + [[], []])
    assert calendar.span_years == (0, -1)  # nothing laid out before the first question
    assert calendar.elapsed(utc(2026, 6, 1, 0, 0), utc(2026, 6, 8, 0, 0)) == 5 * 8 * HOUR
    first_span = calendar.span_years
    assert first_span[0] <= 2025 and first_span[1] >= 2027
    # 2090-06-05 is a Monday: the span grows to cover it, and the answer is the same kind
    assert calendar.elapsed(at(BERLIN, 2090, 6, 5, 0, 0), at(BERLIN, 2090, 6, 12, 0, 0)) == 5 * 8 * HOUR
    assert calendar.span_years[1] >= 2091 and calendar.layouts == 2
    # a target beyond the span grows it forward until reached
    calendar = BusinessCalendar("office", "Europe/Berlin", [[(540, 1020)]] * 5 + [[], []])
    far = calendar.deadline(utc(2026, 6, 1, 0, 0), 60 * 5 * 52 * 8 * HOUR)  # 60 years of 5-day weeks
    assert far > utc(2085, 1, 1, 0, 0) and calendar.elapsed(utc(2026, 6, 1, 0, 0), far) == 60 * 5 * 52 * 8 * HOUR


def test_a_target_never_reached_is_a_clear_error() -> None:
    mondays = BusinessCalendar("mondays", "UTC", [[(540, 600)]] + [[]] * 6)  # one hour a week
    with pytest.raises(CalendarError, match="'mondays': target not reached before year 9999"):
        mondays.deadline(utc(8990, 1, 1, 0, 0), 2000 * 52 * HOUR)  # 2000 years of Mondays
