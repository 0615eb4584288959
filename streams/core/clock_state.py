"""One objective's clock on one ticket, and its compact record form.

A clock is created when one of its objective's ``starts_on`` events arrives (the opening,
for ``first_response``), and then moves between three statuses::

    running --pause--> paused --resume--> running --stop / ticket.closed--> done
                                              ^                               |
                                              +---- ticket.reopened ----------+  (restarts_on_reopen only)

Times are engine microseconds. ``target`` is working time in ``calendar``; ``worked`` is
the working time counted before the current running stretch, which began at ``since``
(``start`` when the clock never paused). ``deadline_at`` is the instant the target will be
reached if the clock keeps running, kept only when it is not ``start + target`` (a 24/7
clock that never paused needs none): the records of the shipped policy stay as small as
before objectives could be configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from sys import intern
from enum import Enum
from typing import Any, Final

from ticket_slo.schemas.events import Priority
from ticket_slo.schemas.objectives import FIRST_RESPONSE
from ticket_slo.streams.core.state_store import Record

__all__ = ["ClockStatus", "ClockState", "CLOCK_KEYS"]


class ClockStatus(Enum):
    """Where a clock is; the values are the record's short codes (``running`` is left out)."""

    RUNNING = "r"
    PAUSED = "z"
    DONE = "d"  # its outcome is published; only a reopen of a restartable objective moves it


@dataclass(slots=True)
class ClockState:
    """Mutable working copy of one clock."""

    objective: str = FIRST_RESPONSE
    status: ClockStatus = ClockStatus.RUNNING
    #: The clock's own priority when it is not the ticket's: a priority change that came
    #: after the clock's deadline (in event time) leaves the clock on its old terms.
    priority: Priority | None = None
    calendar: str | None = None  # None: the built-in 24/7
    policy_version: str | None = None  # of the policy the terms were last computed under
    start: int | None = None
    target: int | None = None
    deadline_at: int | None = None
    worked: int = 0  # working time counted before ``since``
    since: int | None = None  # when the current running stretch began; None: at ``start``
    paused_at: int | None = None
    warned: int = 0  # how many warn_at thresholds (a prefix of the sorted list) were published
    breached: bool = False  # an slo.breached stands (published, not retracted)
    breach_cycle: int = 1  # which breach of this clock the next slo.breached is (its breach_id)
    # The standing breach's priority and deadline, kept only once a priority change has moved
    # the clock's terms away from them while it stood (until then they are the clock's own):
    # its retraction must name the breach it takes back, not the terms the clock has now.
    breach_priority: Priority | None = None
    breach_deadline: int | None = None
    # A done clock's outcome, kept for the status API (its slo.completed has the rest):
    met: bool | None = None
    retracted: bool = False  # a breach was published, then taken back by a stop in time

    @property
    def running(self) -> bool:
        return self.status is ClockStatus.RUNNING

    @property
    def open(self) -> bool:
        """Running or paused: the outcome is still to come."""
        return self.status is not ClockStatus.DONE

    @property
    def deadline(self) -> int:
        """When the target is reached, if the clock keeps running."""
        if self.deadline_at is not None:
            return self.deadline_at
        if self.start is None or self.target is None:
            raise ValueError(f"the {self.objective} clock has not started")
        return self.start + self.target

    @property
    def stretch_start(self) -> int:
        """When the current running stretch began."""
        if self.since is not None:
            return self.since
        if self.start is None:
            raise ValueError(f"the {self.objective} clock has not started")
        return self.start

    def breach_terms(self, priority: Priority) -> tuple[Priority, int]:
        """Priority and deadline of the standing breach, as it was published (``priority``:
        the ticket's, which are the breach's unless a change moved them since)."""
        if self.breach_priority is not None and self.breach_deadline is not None:
            return self.breach_priority, self.breach_deadline
        return priority, self.deadline

    def keep_breach_terms(self, priority: Priority) -> None:
        """The clock's terms are about to change while its breach stands: remember the breach's."""
        if self.breach_priority is None:
            self.breach_priority, self.breach_deadline = self.breach_terms(priority)

    def forget_breach_terms(self) -> None:
        """The breach was retracted: no terms of it are left to name."""
        self.breach_priority = self.breach_deadline = None

    # -- record form --------------------------------------------------------------------

    def write_into(self, record: Record) -> None:
        """Add this clock's keys to ``record`` (a ticket's, for its first clock; an empty one
        otherwise), leaving out every field at its empty value. A done clock writes only its
        objective, status and cycle, and whether it met (and whether a breach of it was
        retracted): what the status API shows of an answered ticket. The rest of the outcome
        is in its ``slo.completed``; a retired record is written for every ticket answered,
        and each byte of it costs the changelog and the broker (measured: start, stop,
        working time and terms kept made the pipeline 9 % slower)."""
        if self.objective != FIRST_RESPONSE:
            record["o"] = self.objective
        if self.status is not ClockStatus.RUNNING:
            record["cs"] = self.status.value
            if self.status is ClockStatus.DONE:
                if self.breach_cycle != 1:
                    record["bc"] = self.breach_cycle
                if self.met is not None:
                    record["m"] = int(self.met)
                if self.retracted:
                    record["rt"] = 1
                return
        for name, key in _OPTIONAL_KEYS:
            value = getattr(self, name)
            if value is not None:
                record[key] = value
        if self.worked:
            record["wk"] = self.worked
        if self.warned:
            record["w"] = self.warned
        if self.breached:
            record["br"] = 1
        if self.breach_cycle != 1:
            record["bc"] = self.breach_cycle
        if self.breach_priority is not None:
            record["bp"] = self.breach_priority
        if self.breach_deadline is not None:
            record["bd"] = self.breach_deadline

    @classmethod
    def read_from(cls, record: Record) -> ClockState:
        """The clock whose keys are in ``record`` (other keys are ignored)."""
        clock = cls()
        for key, value in record.items():
            name = _NAME_OF_KEY.get(key)
            if name is None:
                continue
            if name == "status":
                value = _STATUS_BY_CODE[value]
            elif name == "policy_version" or name == "calendar":
                value = intern(value)  # one string per policy, not one per ticket
            elif name == "breached" or name == "retracted" or name == "met":
                value = bool(value)
            setattr(clock, name, value)
        return clock

    @staticmethod
    def in_record(record: Record) -> bool:
        """Whether ``record`` holds a clock's keys (a ticket record's first clock)."""
        return "st" in record or "cs" in record


_OPTIONAL_KEYS: Final = (
    ("priority", "cp"),
    ("calendar", "cal"),
    ("policy_version", "pv"),
    ("start", "st"),
    ("target", "t"),
    ("deadline_at", "dl"),
    ("since", "sn"),
    ("paused_at", "pz"),
)
#: Every key a clock writes, and the field it holds.
CLOCK_KEYS: Final[dict[str, str]] = {
    "o": "objective", "cs": "status", **{key: name for name, key in _OPTIONAL_KEYS}, "wk": "worked",
    "w": "warned", "br": "breached", "bc": "breach_cycle", "bp": "breach_priority", "bd": "breach_deadline",
    "m": "met", "rt": "retracted",
}
_NAME_OF_KEY: Final[dict[str, str]] = CLOCK_KEYS
_STATUS_BY_CODE: Final[dict[Any, ClockStatus]] = {status.value: status for status in ClockStatus}
