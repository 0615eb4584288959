"""Ticket timelines of the realistic-volume promtool tests, and what the alerts must do on them.

The promtool tests (low-volume.test.yml, busy-queue.test.yml) feed counters and gauges that
a worker would export for a list of tickets. This script turns each ticket list into those
series (one sample a minute, counters from 0), and, independently of Prometheus, works out
from the same tickets the figures the tests expect: verdicts and burn rate per window, and
the minutes in which each burn-rate tier's condition holds and its alert fires (`for:`
included). It reads nothing from deploy/prometheus/rules: its windows, factors, minimum
and `for:` are written here again from the rules' documentation, so a rule that drifts from
them fails the promtool test.

    python3 deploy/prometheus/tests/volumes.py            # the figures, for the README
    python3 deploy/prometheus/tests/volumes.py --series   # input_series blocks to paste
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

MINUTE = 1
HOUR = 60 * MINUTE
DAY = 24 * HOUR
BUDGET = 0.01           # 99 % objective
MIN_VERDICTS = 20
#: Priorities whose breached, unanswered tickets page (TicketSloBreachedUnanswered).
BREACH_PAGES = {"P1", "P2"}
#: (name, long window, short window, factor, for) of each burn-rate tier, in minutes.
TIERS = (
    ("page 1h/5m", 1 * HOUR, 5, 14.4, 2),
    ("page 6h/30m", 6 * HOUR, 30, 6.0, 15),
    ("ticket 1d/2h", 1 * DAY, 2 * HOUR, 3.0, 1 * HOUR),
    ("ticket 3d/6h", 3 * DAY, 6 * HOUR, 1.0, 3 * HOUR),
)


@dataclass(frozen=True)
class Ticket:
    """One first-response clock; times in minutes from the start of the fixture."""
    priority: str
    opened: int
    target: int
    answered: int | None = None
    #: (minute applied, new priority, new target) of a late priority change that retracts
    #: the breach: the retraction counts under the breach's priority.
    lowered: tuple[int, str, int] | None = None

    @property
    def deadline(self) -> int:
        return self.opened + self.target


@dataclass
class Series:
    met: dict[str, list[int]]
    breached_outcomes: dict[str, list[int]]
    breaches: dict[str, list[int]]
    retractions: dict[str, list[int]]
    running: dict[str, list[int]]
    breached_open: dict[str, list[int]]


def series(tickets: list[Ticket], span: int) -> Series:
    """The worker's counters and gauges, one sample a minute from 0 to ``span``."""
    def zeros() -> dict[str, list[int]]:
        return {}
    out = Series(zeros(), zeros(), zeros(), zeros(), zeros(), zeros())

    def bump(family: dict[str, list[int]], priority: str, at: int) -> None:
        values = family.setdefault(priority, [0] * (span + 1))
        for minute in range(at, span + 1):
            values[minute] += 1

    def hold(family: dict[str, list[int]], priority: str, start: int, end: int | None) -> None:
        values = family.setdefault(priority, [0] * (span + 1))
        for minute in range(max(0, start), min(span + 1, end if end is not None else span + 1)):
            values[minute] += 1

    for t in tickets:
        if t.lowered is not None:
            applied, new_priority, new_target = t.lowered
            new_deadline = t.opened + new_target
            bump(out.breaches, t.priority, t.deadline)
            bump(out.retractions, t.priority, applied)
            hold(out.running, t.priority, t.opened, t.deadline)
            hold(out.breached_open, t.priority, t.deadline, applied)
            hold(out.running, new_priority, applied, t.answered)
            assert t.answered is not None and t.answered <= new_deadline
            bump(out.met, new_priority, t.answered)
            continue
        late = t.answered is None or t.answered > t.deadline
        if late:
            bump(out.breaches, t.priority, t.deadline)
            hold(out.running, t.priority, t.opened, t.deadline)
            hold(out.breached_open, t.priority, t.deadline, t.answered)
            if t.answered is not None:
                bump(out.breached_outcomes, t.priority, t.answered)
        else:
            assert t.answered is not None
            hold(out.running, t.priority, t.opened, t.answered)
            bump(out.met, t.priority, t.answered)
    return out


def increase(values: list[int] | None, at: int, window: int) -> int:
    """Counter increase over (at - window, at]: exact for counters sampled every minute from 0."""
    if values is None:
        return 0
    return values[at] - values[max(0, at - window)]


def window_figures(s: Series, priority: str, at: int, window: int) -> tuple[int, float | None]:
    """(verdicts, burn rate) over a window; burn rate None when there is no verdict."""
    good = increase(s.met.get(priority), at, window)
    bad = max(0, increase(s.breaches.get(priority), at, window) - increase(s.retractions.get(priority), at, window))
    verdicts = good + bad
    return verdicts, (bad / verdicts / BUDGET if verdicts else None)


def tier_condition(s: Series, priority: str, at: int, long: int, short: int, factor: float) -> bool:
    verdicts, long_burn = window_figures(s, priority, at, long)
    _short_verdicts, short_burn = window_figures(s, priority, at, short)
    return (long_burn is not None and long_burn > factor and short_burn is not None
            and short_burn > factor and verdicts >= MIN_VERDICTS)


def firing_minutes(condition: list[bool], hold_for: int) -> list[int]:
    """Minutes at which an alert with this `for:` is firing (evaluated every minute)."""
    firing, active_since = [], None
    for minute, holds in enumerate(condition):
        if not holds:
            active_since = None
            continue
        if active_since is None:
            active_since = minute
        if minute - active_since >= hold_for:
            firing.append(minute)
    return firing


def spans(minutes: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of minutes, as (first, last)."""
    runs: list[tuple[int, int]] = []
    for minute in minutes:
        if runs and runs[-1][1] == minute - 1:
            runs[-1] = (runs[-1][0], minute)
        else:
            runs.append((minute, minute))
    return runs


def clock(minute: int) -> str:
    return f"{minute // 60}h{minute % 60:02d}m"


def rle(values: list[int]) -> str:
    """promtool's expanding notation: `vxN` is N + 1 samples of v."""
    parts, i = [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        parts.append(f"{values[i]}x{j - i}" if j > i else f"{values[i]}")
        i = j + 1
    return " ".join(parts)


# ---------------------------------------------------------------------------- the fixtures

def few_p1_a_day() -> tuple[list[Ticket], int]:
    """A P1 every 6 hours, answered in 10 minutes; one more opened at 9h30 waits until 11h30."""
    tickets = [Ticket("P1", opened, 30, opened + 10) for opened in (50, 410, 770, 1130, 1490)]
    tickets.append(Ticket("P1", 570, 30, 690))
    return tickets, 26 * HOUR


def three_p1_an_hour() -> tuple[list[Ticket], int]:
    """A P1 every 20 minutes for 36 hours, answered in 10; the one opened at 33h45 waits 75."""
    tickets = []
    for k in range(108):
        opened = 5 + 20 * k
        tickets.append(Ticket("P1", opened, 30, opened + (75 if opened == 2025 else 10)))
    return tickets, 36 * HOUR


def lowered_p1() -> tuple[list[Ticket], int]:
    """The P1 fixture above, but the 9h30 ticket is lowered to P3 (the change applied a minute
    after its P1 breach, so the breach is retracted) and answered at 10h50, within P3's 4 h."""
    tickets = [Ticket("P1", opened, 30, opened + 10) for opened in (50, 410, 770, 1130, 1490)]
    tickets.append(Ticket("P1", 570, 30, 650, lowered=(601, "P3", 240)))
    return tickets, 26 * HOUR


def busy_p4_queue() -> tuple[list[Ticket], int]:
    """30 P4 tickets an hour (720 a day), each answered within its 8 h; from 10h to 16h one in
    ten (every 20 minutes) waits 8 h 40 min: its breach comes at 610, 630, … 950 minutes."""
    tickets = []
    breach_at = set(range(610, 951, 20))
    for minute in range(2, 24 * HOUR + 1, 2):   # a verdict every 2 minutes
        if minute in breach_at:
            tickets.append(Ticket("P4", minute - 480, 480, minute + 40))
        else:
            tickets.append(Ticket("P4", minute - 240, 480, minute))
    return tickets, 24 * HOUR


FIXTURES = {
    "a few P1 a day": (few_p1_a_day, "P1"),
    "three P1 an hour": (three_p1_an_hour, "P1"),
    "a P1 lowered to P3": (lowered_p1, "P1"),
    "a busy P4 queue": (busy_p4_queue, "P4"),
}


def report() -> None:
    for name, (build, priority) in FIXTURES.items():
        tickets, span = build()
        s = series(tickets, span)
        print(f"== {name}: {len(tickets)} tickets over {clock(span)}")
        for tier, long, short, factor, hold_for in TIERS:
            condition = [tier_condition(s, priority, m, long, short, factor) for m in range(span + 1)]
            raw = [(window_figures(s, priority, m, long)[1] or 0) > factor and
                   (window_figures(s, priority, m, short)[1] or 0) > factor for m in range(span + 1)]
            fired = spans(firing_minutes(condition, hold_for))
            fired_raw = spans(firing_minutes(raw, hold_for))
            print(f"  {tier:13} fires {[(clock(a), clock(b + 1)) for a, b in fired] or 'never'}"
                  f"; without the minimum {[(clock(a), clock(b + 1)) for a, b in fired_raw] or 'never'}")
        breached = s.breached_open.get(priority, [0] * (span + 1))
        unanswered = spans(firing_minutes([v > 0 for v in breached], 1))
        pages = priority in BREACH_PAGES
        print(f"  unanswered    {'fires' if pages else 'would fire (does not page for ' + priority + ')'}"
              f" {[(clock(a), clock(b + 1)) for a, b in unanswered] or 'never'}")


def figures(name: str, at: int) -> None:
    build, priority = FIXTURES[name]
    tickets, span = build()
    s = series(tickets, span)
    for window in (5, 30, HOUR, 2 * HOUR, 6 * HOUR, DAY, 3 * DAY):
        verdicts, burn = window_figures(s, priority, at, window)
        print(f"  {name} at {clock(at)} over {window} min: {verdicts} verdicts, burn {burn}")


def print_series() -> None:
    for name, (build, _priority) in FIXTURES.items():
        tickets, span = build()
        s = series(tickets, span)
        print(f"# ---- {name}")
        for family, metric, extra in (
            (s.met, "ticket_slo_outcomes_total", ',result="met"'),
            (s.breached_outcomes, "ticket_slo_outcomes_total", ',result="breached"'),
            (s.breaches, "ticket_slo_breaches_total", ""),
            (s.retractions, "ticket_slo_breach_retractions_total", ""),
            (s.running, "ticket_slo_open_clocks", ',state="running"'),
            (s.breached_open, "ticket_slo_open_clocks", ',state="breached"'),
        ):
            for priority, values in sorted(family.items()):
                labels = f'job="ticket-slo",instance="w1",objective="first_response",priority="{priority}"{extra}'
                print(f"      - series: '{metric}{{{labels}}}'\n        values: '{rle(values)}'")


if __name__ == "__main__":
    if "--series" in sys.argv:
        print_series()
    elif "--at" in sys.argv:
        figures(sys.argv[sys.argv.index("--at") + 1], int(sys.argv[sys.argv.index("--at") + 2]))
    else:
        report()
