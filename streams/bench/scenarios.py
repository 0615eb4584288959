"""What the open-tickets throughput phase runs on: a policy and the tickets' mix of plans.

The same phase (``phases.open_state``) runs once per scenario. ``ALWAYS_ON`` is the
offer as shipped: every ticket on ``default``, 24/7. ``BUSINESS_HOURS`` puts every ticket
on a plan with a business calendar (Berlin with German holidays and a lunch break, Bavaria
with a Saturday morning, New York with US holidays), each ticket's events moved back by
up to eight weeks, so that deadlines and at-risk instants are computed from starts all
over the laid-out span instead of from one hour of it.

Targets are long enough that no clock falls due during a run in either scenario: the
open tickets just sit in state, as the goal "throughput at 1,000,000 open tickets
>= 0.9 x at 10,000" means. On the business calendars the earliest warning (half of a
1,200-hour target) of a ticket opened eight weeks ago is still over 100 working hours away
on the longest week here (61.5 hours, ``office-de-by``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ticket_slo.streams.bench.lifecycle import ALWAYS_ON_MIX, TicketMix
from ticket_slo.streams.bench.plan import LONG_POLICY

__all__ = ["Scenario", "ALWAYS_ON", "BUSINESS_HOURS", "BUSINESS_HOURS_POLICY", "BUSINESS_PLANS", "SPREAD_WEEKS"]

#: How far back the business-hours tickets' events are spread.
SPREAD_WEEKS = 8

#: Every business-hours plan; the tickets are spread evenly over them.
BUSINESS_PLANS = ("business-de", "extended-de", "business-us")

BUSINESS_HOURS_POLICY = """\
calendars:
  office-de:
    timezone: Europe/Berlin
    hours:
      mon-fri: ["08:00-12:00", "13:00-17:30"]
    holidays: {country: DE}
  office-de-by:
    timezone: Europe/Berlin
    hours:
      mon-fri: ["07:00-12:00", "12:30-19:00"]
      sat: ["09:00-13:00"]
    holidays: {country: DE, subdivision: BY, add: [2026-12-24, 2026-12-31]}
  office-us:
    timezone: America/New_York
    hours:
      mon-fri: ["09:00-17:00"]
    holidays: {country: US}
plans:
  default:
    warn_at: [0.5, 0.75, 0.9]
    objectives:
      first_response: {P1: 8h, P2: 10h, P3: 12h, P4: 16h}
  business-de:
    calendar: office-de
    warn_at: [0.5, 0.75, 0.9]
    objectives:
      first_response: {P1: 1200h, P2: 1500h, P3: 1800h, P4: 2400h}
  extended-de:
    calendar: office-de-by
    warn_at: [0.5, 0.75, 0.9]
    objectives:
      first_response: {P1: 1200h, P2: 1500h, P3: 1800h, P4: 2400h}
  business-us:
    calendar: office-us
    warn_at: [0.5, 0.75, 0.9]
    objectives:
      first_response: {P1: 1200h, P2: 1500h, P3: 1800h, P4: 2400h}
"""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A policy and the tickets that run on it, for one pair of open-tickets phases."""

    #: Appended to the phase keys (``open_small`` + suffix) and the phases' topic names.
    suffix: str
    #: How the report names it ("" for the shipped 24/7 offer).
    label: str
    policy: str
    mix: TicketMix
    #: Also time a restart without local snapshots (a restart figure, the same on any calendar).
    cold_restart: bool = True

    def key(self, size: str) -> str:
        """The phase (and JSON) key: ``open_small``, ``open_large_business``…"""
        return f"open_{size}{self.suffix}"


ALWAYS_ON = Scenario(suffix="", label="", policy=LONG_POLICY, mix=ALWAYS_ON_MIX)

BUSINESS_HOURS = Scenario(
    suffix="_business", label="business hours", policy=BUSINESS_HOURS_POLICY,
    mix=TicketMix(plans=BUSINESS_PLANS, spread_s=SPREAD_WEEKS * 7 * 86400.0), cold_restart=False,
)
