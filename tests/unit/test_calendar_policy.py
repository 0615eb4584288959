"""The policy's ``calendars:`` section: what it accepts, and one line naming file, line and key for each mistake."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ticket_slo.schemas.policy import PolicyError, load_policy

TARGETS = "{P1: 30m, P2: 60m, P3: 4h, P4: 8h}"
PLANS = f"""plans:
  default:
    objectives:
      first_response: {TARGETS}
  business:
    calendar: office
"""


def policy_with(calendar: str) -> str:
    """A policy whose calendar ``office`` has ``calendar`` (indented under it) as its body."""
    body = "\n".join("    " + line for line in calendar.strip("\n").splitlines())
    return f"calendars:\n  office:\n{body}\n{PLANS}"


def error_of(tmp_path: Path, text: str) -> PolicyError:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}: line ")
    assert "\n" not in str(caught.value)
    return caught.value


GOOD = """
timezone: Europe/Berlin
hours:
  mon-fri: ["08:00-12:00", "13:00-17:30"]
  sat: []
holidays: {country: DE, subdivision: BY, add: [2026-12-24], remove: [2026-01-06]}
"""


def test_a_good_calendar_is_read(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(policy_with(GOOD))
    policy = load_policy(path)
    spec = policy.calendar_spec("business")
    assert spec is not None and spec.timezone == "Europe/Berlin"
    assert spec.week() == (((480, 720), (780, 1050)),) * 5 + ((), ())
    assert policy.calendar_spec("default") is None  # 24/7
    assert policy.calendar_spec("unknown-plan") is None  # default's calendar
    dates = spec.holidays.dates_of(2026)
    assert date(2026, 12, 24) in dates and date(2026, 12, 25) in dates
    assert date(2026, 1, 6) not in dates and date(2026, 12, 24) not in spec.holidays.dates_of(2027)


def test_existing_policies_are_24_7(tmp_path: Path) -> None:
    policy = load_policy()
    assert policy.plan("default").calendar == "24/7" and policy.calendars == {}


@pytest.mark.parametrize(
    ("calendar", "line", "key_path", "problem"),
    [
        ("timezone: Europe/Berlln\nhours: {mon: ['09:00-17:00']}", 3, "calendars.office.timezone",
         "'Europe/Berlln' is not a known IANA time zone (e.g. Europe/Berlin, America/New_York)"),
        ("timezone: Europe/Berlin\nhours:\n  mon: ['09:00-25:00']", 5, "calendars.office.hours.mon.0",
         "'09:00-25:00' has an impossible time of day (write HH:MM-HH:MM, e.g. 08:00-12:00; 24:00 may end a day)"),
        ("timezone: Europe/Berlin\nhours:\n  mon: ['24:00-24:00']", 5, "calendars.office.hours.mon.0",
         "'24:00-24:00' has an impossible time of day (write HH:MM-HH:MM, e.g. 08:00-12:00; 24:00 may end a day)"),
        ("timezone: Europe/Berlin\nhours:\n  mon: ['09:60-17:00']", 5, "calendars.office.hours.mon.0",
         "'09:60-17:00' has an impossible time of day (write HH:MM-HH:MM, e.g. 08:00-12:00; 24:00 may end a day)"),
        ("timezone: Europe/Berlin\nhours:\n  mon: ['17:00-09:00']", 5, "calendars.office.hours.mon.0",
         "'17:00-09:00' ends before it starts"),
        ("timezone: Europe/Berlin\nhours:\n  mon: ['9-17']", 5, "calendars.office.hours.mon.0",
         "'9-17' is not a working interval (write HH:MM-HH:MM, e.g. 08:00-12:00; 24:00 may end a day)"),
        ("timezone: Europe/Berlin\nhours:\n  mon: ['08:00-12:00', '11:00-17:00']", 5, "calendars.office.hours.mon",
         "'11:00-17:00' overlaps or comes before the interval listed before it (list them in order, apart)"),
        ("timezone: Europe/Berlin\nhours:\n  mon: ['13:00-17:00', '08:00-12:00']", 5, "calendars.office.hours.mon",
         "'08:00-12:00' overlaps or comes before the interval listed before it (list them in order, apart)"),
        ("timezone: Europe/Berlin\nhours:\n  mon-fri: ['09:00-17:00']\n  fri: []", 4, "calendars.office.hours",
         "fri is in both 'mon-fri' and 'fri'"),
        ("timezone: Europe/Berlin\nhours:\n  monday: ['09:00-17:00']", 5, "calendars.office.hours.monday",
         "'monday' is not a weekday or a range of weekdays (use mon, tue, wed, thu, fri, sat, sun, "
         "or a range such as mon-fri)"),
        ("timezone: Europe/Berlin\nhours:\n  fri-mon: ['09:00-17:00']", 5, "calendars.office.hours.fri-mon",
         "'fri-mon' is not a weekday or a range of weekdays (use mon, tue, wed, thu, fri, sat, sun, "
         "or a range such as mon-fri)"),
        ("timezone: Europe/Berlin\nhours: {sat: [], sun: []}", 4, "calendars.office.hours",
         "the calendar has no working hours on any day"),
        ("timezone: Europe/Berlin\nhours: {mon: ['09:00-17:00']}\nholidays: {country: XX}", 5,
         "calendars.office.holidays.country",
         "'XX' is not a country code the holidays package knows (ISO 3166-1 alpha-2, e.g. DE, US, FR)"),
        ("timezone: Europe/Berlin\nhours: {mon: ['09:00-17:00']}\nholidays:\n  country: DE\n  subdivision: ZZ", 7,
         "calendars.office.holidays.subdivision", None),
        ("timezone: Europe/Berlin\nhours: {mon: ['09:00-17:00']}\nholidays: {add: [2026-02-30]}", 5,
         "calendars.office.holidays.add.0", "'2026-02-30' is not a date (write YYYY-MM-DD)"),
        ("timezone: Europe/Berlin\nhours: {mon: ['09:00-17:00']}\nholydays: {country: DE}", 5,
         "calendars.office.holydays", "unknown key 'holydays' (known: timezone, hours, holidays)"),
        ("timezone: Europe/Berlin\nhours: {mon: '09:00-17:00'}", 4, "calendars.office.hours.mon",
         "expected a list of working intervals, got '09:00-17:00'"),
    ],
)
def test_bad_calendars_name_file_line_and_key(tmp_path: Path, calendar: str, line: int, key_path: str,
                                              problem: str | None) -> None:
    error = error_of(tmp_path, policy_with(calendar))
    assert (error.line, error.key_path) == (line, key_path)
    if problem is not None:
        assert error.problem == problem
    else:
        assert error.problem.startswith("'ZZ' is not a subdivision of DE (known: ") and "BY" in error.problem


def test_a_plan_naming_an_unknown_calendar(tmp_path: Path) -> None:
    error = error_of(tmp_path, policy_with(GOOD).replace("calendar: office", "calendar: ofice"))
    assert (error.line, error.key_path, error.problem) == (
        13, "plans.business.calendar", "unknown calendar 'ofice' (known: 24/7, office)",
    )


def test_24_7_cannot_be_redefined(tmp_path: Path) -> None:
    error = error_of(tmp_path, policy_with(GOOD).replace("  office:", '  "24/7":', 1).replace("calendar: office", "warn_at: [0.5]"))
    assert (error.line, error.key_path, error.problem) == (2, "calendars.24/7", "'24/7' is built in and cannot be redefined")
