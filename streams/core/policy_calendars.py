"""The calendar of each plan, built once per policy from its ``calendars:`` section.

A ``BusinessCalendar`` lays out years of working intervals; building one per ticket, or
per event, would cost what the arrays are there to save. This holder builds each named
calendar once, the first time a plan asks for it, and hands the same object to every plan
and ticket that names it.
"""

from __future__ import annotations

from ticket_slo.schemas.policy import ALWAYS_ON_CALENDAR, Policy
from ticket_slo.streams.core.calendars import ALWAYS_ON, BusinessCalendar, Calendar

__all__ = ["PolicyCalendars"]


class PolicyCalendars:
    """``calendar_for(plan)``: the plan's calendar (``default``'s for an unknown plan), shared."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._built: dict[str, Calendar] = {ALWAYS_ON_CALENDAR: ALWAYS_ON}

    def calendar_for(self, plan: str) -> Calendar:
        return self.calendar(self._policy.plan(plan).calendar)

    def calendar(self, name: str) -> Calendar:
        """The calendar called ``name`` (``24/7`` or one of the policy's ``calendars:``)."""
        found = self._built.get(name)
        if found is None:
            spec = self._policy.calendars[name]
            found = BusinessCalendar(name, spec.timezone, spec.week(), spec.holidays.dates_of)
            self._built[name] = found
        return found
